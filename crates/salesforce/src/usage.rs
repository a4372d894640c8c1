//! The org's daily API usage as the connection sees it: read from the
//! `Sforce-Limit-Info` header of every answer (`api-usage=18/5000`),
//! exported in `/metrics`, and used to hold calls back before the org's
//! allowance is spent. Also the connection-wide pause after Salesforce
//! answers `REQUEST_LIMIT_EXCEEDED`, so that concurrent calls wait together
//! instead of each hitting the limit again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

use super::SalesforceError;

/// The header Salesforce reports API usage in.
pub(crate) const LIMIT_INFO_HEADER: &str = "sforce-limit-info";

/// How often a call is let through to learn whether usage fell again, once
/// the connection's share is spent.
const PROBE_INTERVAL: Duration = Duration::from_secs(60);

/// Daily API requests used and allowed, as last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUsageSnapshot {
    /// Requests used in the last 24 hours.
    pub used: u64,
    /// Requests allowed in 24 hours.
    pub max: u64,
}

/// `api-usage=used/max` out of a `Sforce-Limit-Info` value; other pairs
/// (`per-app-api-usage`, `api-bursts`) are ignored.
pub fn parse_limit_info(value: &str) -> Option<ApiUsageSnapshot> {
    value.split(';').find_map(|pair| {
        let (key, counts) = pair.trim().split_once('=')?;
        if key.trim() != "api-usage" {
            return None;
        }
        let (used, max) = counts.trim().split_once('/')?;
        Some(ApiUsageSnapshot {
            used: used.trim().parse().ok()?,
            max: max.trim().parse().ok()?,
        })
    })
}

/// One connection's view of the org's API usage.
#[derive(Debug)]
pub(crate) struct ApiUsage {
    share: f64,
    used: AtomicU64,
    max: AtomicU64,
    started: Instant,
    /// When a call was last let through past the share, in ms since `started`.
    last_probe_ms: AtomicU64,
    paused_until: Mutex<Option<Instant>>,
}

impl ApiUsage {
    pub(crate) fn new(share: f64) -> Self {
        Self {
            share,
            used: AtomicU64::new(0),
            max: AtomicU64::new(0),
            started: Instant::now(),
            last_probe_ms: AtomicU64::new(0),
            paused_until: Mutex::new(None),
        }
    }

    /// Records the usage an answer reported.
    pub(crate) fn observe(&self, headers: &HeaderMap) {
        let Some(usage) = headers
            .get(LIMIT_INFO_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_limit_info)
        else {
            return;
        };
        self.used.store(usage.used, Ordering::Relaxed);
        self.max.store(usage.max, Ordering::Relaxed);
    }

    /// The last reported usage, once Salesforce has reported one.
    pub(crate) fn snapshot(&self) -> Option<ApiUsageSnapshot> {
        let max = self.max.load(Ordering::Relaxed);
        (max > 0).then(|| ApiUsageSnapshot {
            used: self.used.load(Ordering::Relaxed),
            max,
        })
    }

    /// Lets a call through, counting it until the next report, or refuses
    /// it with `GUST_API_BUDGET` when the connection's share of the
    /// allowance is spent. One call a minute still goes through then, to
    /// learn whether the rolling 24-hour usage fell.
    pub(crate) fn admit(&self) -> Result<(), SalesforceError> {
        let max = self.max.load(Ordering::Relaxed);
        let used = self.used.fetch_add(1, Ordering::Relaxed);
        if max == 0 {
            return Ok(());
        }
        let allowed = (self.share * max as f64).floor() as u64;
        if used < allowed {
            return Ok(());
        }
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_probe_ms.load(Ordering::Relaxed);
        let probe_due = last == 0 || now.saturating_sub(last) >= PROBE_INTERVAL.as_millis() as u64;
        if probe_due
            && self
                .last_probe_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Ok(());
        }
        self.used.fetch_sub(1, Ordering::Relaxed);
        Err(SalesforceError::new(
            0,
            "GUST_API_BUDGET",
            format!(
                "{used} of the org's {max} daily API requests are used and Gust may spend {:.0}% of them (salesforce.api_limit_share); the call was not sent",
                self.share * 100.0
            ),
        ))
    }

    /// Holds every call of the connection back for `delay`.
    pub(crate) fn pause(&self, delay: Duration) {
        let until = Instant::now() + delay;
        let mut paused = self.paused_until.lock().expect("usage lock poisoned");
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
    }

    /// Waits out a pause, if one is on.
    pub(crate) async fn wait_pause(&self) {
        let until = *self.paused_until.lock().expect("usage lock poisoned");
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(LIMIT_INFO_HEADER, value.parse().unwrap());
        headers
    }

    #[test]
    fn parses_every_documented_form() {
        let usage = |used, max| Some(ApiUsageSnapshot { used, max });
        assert_eq!(parse_limit_info("api-usage=18/5000"), usage(18, 5000));
        assert_eq!(
            parse_limit_info("api-usage=110018/100000; api-bursts=1/750"),
            usage(110018, 100000)
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=17/250(appName=sample-app);api-usage=25/5000"),
            usage(25, 5000)
        );
        assert_eq!(parse_limit_info("api-usage=lots"), None);
        assert_eq!(parse_limit_info(""), None);
    }

    #[test]
    fn holds_calls_back_past_the_share_but_probes() {
        let usage = ApiUsage::new(0.5);
        assert!(usage.admit().is_ok(), "no report yet: nothing to hold back");
        usage.observe(&headers("api-usage=48/100"));
        assert_eq!(
            usage.snapshot(),
            Some(ApiUsageSnapshot { used: 48, max: 100 })
        );
        assert!(usage.admit().is_ok());
        assert!(usage.admit().is_ok());
        // 50 counted: the next call is the probe, the one after is refused.
        assert!(usage.admit().is_ok());
        let refused = usage.admit().unwrap_err();
        assert_eq!(refused.error_code, "GUST_API_BUDGET");
        assert!(refused.is_retryable());
        assert!(
            refused
                .message
                .contains("of the org's 100 daily API requests")
        );
        // A report that usage fell opens the gate again.
        usage.observe(&headers("api-usage=10/100"));
        assert!(usage.admit().is_ok());
    }
}
