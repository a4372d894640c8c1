//! The schedule trigger's definition.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The trigger's type, as workflows name it; it also names its state.
pub const KIND: &str = "schedule";

/// What a schedule does about fires missed while Gust was down.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MissedFires {
    /// Skip them; fire next at the next scheduled time.
    #[default]
    Skip,
    /// Run each missed fire, up to a bound.
    CatchUp,
}

/// The bound of a `catch_up` schedule when the workflow sets none: at most
/// this many fires missed while Gust was down run when it starts again.
pub const DEFAULT_MAX_CATCH_UP: u32 = 10;

/// `{"schedule": {"cron": "0 */15 * * * *", "timezone": "Europe/Paris"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTrigger {
    /// `"cron": "0 */15 * * * *"`: seconds, minutes, hours, day of month,
    /// month, day of week, and an optional year.
    pub cron: String,
    /// `"timezone": "Europe/Paris"`: an IANA time zone; UTC by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `"missed": "skip"` (default) or `"catch_up"`.
    #[serde(default)]
    pub missed: MissedFires,
    /// `"max_catch_up": 10`: with `catch_up`, the most fires missed while
    /// down that run on start (the latest ones); the default is 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_catch_up: Option<u32>,
    /// `"jitter": "30s"`: in an installed workflow, each installation fires
    /// at its own fixed point of this window after each fire time, so that
    /// a thousand installations do not call Salesforce in the same second
    /// (30 seconds when absent).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "humantime_serde"
    )]
    #[schemars(with = "Option<String>")]
    pub jitter: Option<Duration>,
}

/// The jitter window of an installed workflow's schedule or poll that
/// sets none.
pub const DEFAULT_JITTER: Duration = Duration::from_secs(30);

/// The longest jitter window.
pub const MAX_JITTER: Duration = Duration::from_secs(3600);
