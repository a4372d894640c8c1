//! Glue between the generated export and the author's function.

use crate::bindings::gust::step::types::{Flow, StepError, StepOutput};
use crate::{Error, Output, Value};

/// Parses the input, calls the step and encodes what it returned.
pub fn run<T, E>(
    input: String,
    step: impl FnOnce(Value) -> Result<T, E>,
) -> Result<StepOutput, StepError>
where
    T: Into<Output>,
    E: Into<Error>,
{
    let input: Value = serde_json::from_str(&input).map_err(|e| StepError {
        message: format!("the step's input is not JSON: {e}"),
        retryable: false,
    })?;
    match step(input) {
        Ok(output) => {
            let (value, flow) = match output.into() {
                Output::Continue(value) => (value, Flow::Continue),
                Output::Stop(value) => (value, Flow::Stop),
            };
            Ok(StepOutput {
                output: value.to_string(),
                flow,
            })
        }
        Err(error) => {
            let error = error.into();
            Err(StepError {
                message: error.message().to_owned(),
                retryable: error.is_retryable(),
            })
        }
    }
}
