//! Faults a test injects on chosen routes (503, UNABLE_TO_LOCK_ROW,
//! REQUEST_LIMIT_EXCEEDED, added latency), and the log of every request the emulator answered.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;

/// What a fault does to a request it matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// 503 SERVER_UNAVAILABLE.
    Unavailable,
    /// 400 UNABLE_TO_LOCK_ROW, as when another transaction holds the row.
    UnableToLockRow,
    /// 403 REQUEST_LIMIT_EXCEEDED for too many concurrent long-running
    /// requests (the daily allowance has its own setting).
    RequestLimitExceeded,
    /// The request is answered normally, this much later.
    Latency {
        /// The delay, in milliseconds.
        ms: u64,
    },
    /// The request is carried out at once and its answer held back this
    /// long: a client that gives up (or dies) meanwhile never learns that
    /// its write was made, as when an answer is lost on the way back.
    SlowAnswer {
        /// The delay, in milliseconds.
        ms: u64,
    },
}

/// A fault on the API requests whose path contains `path` (and whose
/// method is `method`, when given), for the next `times` of them (all,
/// when not given).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Part of the path, e.g. `/sobjects/Account`.
    pub path: String,
    /// The HTTP method, e.g. `POST`.
    #[serde(default, with = "method_name")]
    pub method: Option<Method>,
    /// What it does.
    pub kind: FaultKind,
    /// How many requests it hits before it stops.
    pub times: Option<u32>,
}

/// What the emulator does with a request, given the faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Injected {
    /// Answer with this error instead.
    Fail(ApiError),
    /// Wait, then answer.
    Delay(Duration),
    /// Answer, and hold the answer back this long.
    HoldAnswer(Duration),
}

/// The faults in force.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    faults: Vec<Fault>,
}

impl Faults {
    pub(crate) fn add(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.faults.clear();
    }

    /// What the first fault matching `method` and `path` does, counting it
    /// used once.
    pub(crate) fn apply(&mut self, method: &Method, path: &str) -> Option<Injected> {
        let index = self.faults.iter().position(|fault| {
            path.contains(&fault.path) && fault.method.as_ref().is_none_or(|m| m == method)
        })?;
        let fault = &mut self.faults[index];
        let injected = match &fault.kind {
            FaultKind::Unavailable => Injected::Fail(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVER_UNAVAILABLE",
                "Server is temporarily unavailable. Please try again later.",
            )),
            FaultKind::UnableToLockRow => Injected::Fail(ApiError::bad_request(
                "UNABLE_TO_LOCK_ROW",
                "unable to obtain exclusive access to this record or 1 records",
            )),
            FaultKind::RequestLimitExceeded => Injected::Fail(ApiError::new(
                StatusCode::FORBIDDEN,
                "REQUEST_LIMIT_EXCEEDED",
                "ConcurrentPerOrgLongTxn Limit exceeded.",
            )),
            FaultKind::Latency { ms } => Injected::Delay(Duration::from_millis(*ms)),
            FaultKind::SlowAnswer { ms } => Injected::HoldAnswer(Duration::from_millis(*ms)),
        };
        if let Some(times) = &mut fault.times {
            *times = times.saturating_sub(1);
            if *times == 0 {
                self.faults.remove(index);
            }
        }
        Some(injected)
    }
}

/// A request the emulator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// Its method.
    pub method: Method,
    /// Its path and query.
    pub uri: String,
    /// The status it was answered with.
    pub status: StatusCode,
}

mod method_name {
    use axum::http::Method;
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Method>, D::Error> {
        let name = Option::<String>::deserialize(deserializer)?;
        name.map(|name| {
            Method::from_bytes(name.to_ascii_uppercase().as_bytes())
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_hits_matching_requests_as_many_times_as_asked() {
        let mut faults = Faults::default();
        faults.add(Fault {
            path: "/sobjects/Account".into(),
            method: Some(Method::POST),
            kind: FaultKind::UnableToLockRow,
            times: Some(2),
        });
        faults.add(Fault {
            path: "/query".into(),
            method: None,
            kind: FaultKind::Latency { ms: 5 },
            times: None,
        });
        assert_eq!(
            faults.apply(&Method::GET, "/services/data/v60.0/sobjects/Account"),
            None
        );
        for _ in 0..2 {
            let Some(Injected::Fail(error)) =
                faults.apply(&Method::POST, "/services/data/v60.0/sobjects/Account")
            else {
                panic!("no fault");
            };
            assert_eq!(error.code, "UNABLE_TO_LOCK_ROW");
        }
        assert_eq!(
            faults.apply(&Method::POST, "/services/data/v60.0/sobjects/Account"),
            None
        );
        assert_eq!(
            faults.apply(&Method::GET, "/services/data/v60.0/query"),
            Some(Injected::Delay(Duration::from_millis(5)))
        );
    }

    #[test]
    fn faults_read_from_a_seed() {
        let fault: Fault = serde_json::from_str(
            r#"{ "path": "/composite", "method": "post", "kind": "unavailable", "times": 1 }"#,
        )
        .unwrap();
        assert_eq!(fault.method, Some(Method::POST));
        assert_eq!(fault.kind, FaultKind::Unavailable);
        let latency: Fault =
            serde_json::from_str(r#"{ "path": "/", "kind": { "latency": { "ms": 250 } } }"#)
                .unwrap();
        assert_eq!(latency.kind, FaultKind::Latency { ms: 250 });
        let slow: Fault = serde_json::from_str(
            r#"{ "path": "/sobjects/Lead", "kind": { "slow_answer": { "ms": 900 } } }"#,
        )
        .unwrap();
        assert_eq!(slow.kind, FaultKind::SlowAnswer { ms: 900 });
    }
}
