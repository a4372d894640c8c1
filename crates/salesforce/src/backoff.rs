//! The one backoff Gust waits by between attempts, of a Salesforce call or
//! of a step: exponential, capped, with "equal jitter" (between half and all
//! of the delay), so that callers that failed together do not retry
//! together and none retries at once.

use std::time::Duration;

/// The delay before retry number `retry` (1 for the first): `first`
/// doubled for each retry before it, capped at `max`, with equal jitter.
pub fn backoff(first: Duration, max: Duration, retry: u32) -> Duration {
    let factor = 1u32 << retry.saturating_sub(1).min(31);
    let capped = first.saturating_mul(factor).min(max);
    capped / 2 + capped.mul_f64(fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        let (first_delay, max) = (Duration::from_millis(100), Duration::from_millis(1_000));
        for _ in 0..100 {
            let first = backoff(first_delay, max, 1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = backoff(first_delay, max, 3);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            let late = backoff(first_delay, max, 30);
            assert!(late >= Duration::from_millis(500) && late <= Duration::from_millis(1_000));
        }
    }
}
