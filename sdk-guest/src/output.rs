use crate::Value;

/// What a step returns on success: its output, and whether the run goes on.
///
/// A plain [`Value`] converts into [`Output::Continue`].
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Pass the value on; the next step runs.
    Continue(Value),
    /// End the run successfully with this value; later steps do not run.
    Stop(Value),
}

impl Output {
    /// Ends the run successfully after this step, like a filter whose
    /// condition did not hold.
    pub fn stop(value: impl Into<Value>) -> Self {
        Self::Stop(value.into())
    }

    /// Passes `value` on to the next step.
    pub fn next(value: impl Into<Value>) -> Self {
        Self::Continue(value.into())
    }
}

impl From<Value> for Output {
    fn from(value: Value) -> Self {
        Self::Continue(value)
    }
}
