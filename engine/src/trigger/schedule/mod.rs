//! The schedule trigger: a run at each fire of a cron expression (see
//! [`Cadence`] for time zones and daylight saving).
//!
//! The trigger keeps one durable value, `through`: every fire at or before
//! it has been handled. A fire's event and the move of `through` to it are
//! one atomic write, so a restart never fires it again, and fires missed
//! while Gust was down are found from it on start: `skip` logs and skips
//! them, `catch_up` runs the latest `max_catch_up` of them.

mod cadence;
mod config;
mod runner;
mod validate;

pub use cadence::{Cadence, CadenceError};
pub use config::{
    DEFAULT_JITTER, DEFAULT_MAX_CATCH_UP, KIND, MAX_JITTER, MissedFires, ScheduleTrigger,
};
pub(crate) use validate::{validate, validate_cron, validate_jitter};
