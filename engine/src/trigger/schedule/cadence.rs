//! When a cron expression fires, in a time zone, with one rule for the
//! daylight-saving changes: every local time the expression matches fires
//! exactly once. A local time the clock skips (spring) fires when the clock
//! jumps; a local time the clock repeats (autumn) fires the first time only.
//!
//! The cron crate alone works on instants: it skips a time in the gap and
//! fires a repeated time twice, so a daily job would miss a day in spring
//! and run twice in autumn. Here the expression is evaluated on the local
//! wall clock, with no gaps or repeats, and each local time is then placed.

use std::str::FromStr;

use chrono::{
    DateTime, LocalResult, NaiveDateTime, SecondsFormat, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde_json::{Value, json};

/// A cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct Cadence {
    schedule: cron::Schedule,
    zone: Tz,
}

/// How far into a gap a local time can be: the longest clock change known
/// (Samoa skipped a whole day in 2011).
const LONGEST_GAP_MINUTES: i64 = 48 * 60;

/// A cron expression or time zone that cannot make a cadence.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CadenceError {
    /// The expression is not cron.
    #[error("{}", not_cron(cron, error))]
    Cron {
        /// The expression.
        cron: String,
        /// Why, as the cron crate says it.
        error: cron::error::Error,
    },
    /// The zone is not an IANA time zone.
    #[error("`{0}` is not an IANA time zone")]
    Zone(String),
}

/// Why `cron` is not a cron expression, and for 5 fields the 6-field
/// expression it most likely means.
fn not_cron(cron: &str, error: &cron::error::Error) -> String {
    const FIELDS: &str = "sec min hour day-of-month month day-of-week [year]";
    if cron.split_whitespace().count() == 5 {
        return format!(
            "`{cron}` has 5 fields, but Gust's cron has seconds first ({FIELDS}): did you mean \
             `0 {}`?",
            cron.trim()
        );
    }
    // The cron crate draws a caret under the input; its last line says why.
    let error = error.to_string();
    let why = error.lines().last().unwrap_or_default();
    format!("`{cron}` is not a cron expression ({FIELDS}): {why}")
}

/// `cron` read as a cron expression.
pub(crate) fn parse_cron(cron: &str) -> Result<cron::Schedule, CadenceError> {
    cron::Schedule::from_str(cron).map_err(|error| CadenceError::Cron {
        cron: cron.to_owned(),
        error,
    })
}

impl Cadence {
    /// `cron` in `zone` (UTC when `None`); an error names what is wrong.
    pub fn new(cron: &str, zone: Option<&str>) -> Result<Self, CadenceError> {
        let schedule = parse_cron(cron)?;
        let zone = match zone {
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| CadenceError::Zone(name.to_owned()))?,
            None => Tz::UTC,
        };
        Ok(Self { schedule, zone })
    }

    /// The time zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The event of the fire scheduled at `scheduled` and made at `fired`:
    /// `{"scheduled_at", "fired_at"}`, in RFC 3339 in the cadence's zone.
    pub fn fire_event(&self, scheduled: DateTime<Utc>, fired: DateTime<Utc>) -> Value {
        json!({
            "scheduled_at": scheduled
                .with_timezone(&self.zone)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            "fired_at": fired
                .with_timezone(&self.zone)
                .to_rfc3339_opts(SecondsFormat::Millis, false),
        })
    }

    /// The first fire strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = wall_clock(self.local(after));
        self.schedule
            .after(&local)
            .map(|fire| self.place(fire.naive_utc()))
            .find(|fire| *fire > after)
    }

    /// The latest `limit` fires after `after` and at or before `until`,
    /// oldest first.
    pub fn latest_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        // The cron crate iterates backwards from strictly before its start.
        let start = wall_clock(self.local(until) + TimeDelta::seconds(1));
        let mut fires: Vec<DateTime<Utc>> = Vec::new();
        for fire in self.schedule.after(&start).rev() {
            let fire = self.place(fire.naive_utc());
            if fire <= after || fires.len() == limit {
                break;
            }
            // Several skipped local times share the instant the clock jumps.
            if fire <= until && fires.last() != Some(&fire) {
                fires.push(fire);
            }
        }
        fires.reverse();
        fires
    }

    /// `instant` on the zone's wall clock.
    fn local(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        instant.with_timezone(&self.zone).naive_local()
    }

    /// The instant local time `local` happens: its first occurrence, or
    /// when the clock jumps over it.
    fn place(&self, local: NaiveDateTime) -> DateTime<Utc> {
        if let Some(instant) = self.zone.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
        let minute = local.with_second(0).unwrap_or(local);
        (1..=LONGEST_GAP_MINUTES)
            .find_map(|step| {
                let probe = minute + TimeDelta::minutes(step);
                match self.zone.from_local_datetime(&probe) {
                    LocalResult::None => None,
                    placed => placed.earliest(),
                }
            })
            .map_or_else(
                || Utc.from_utc_datetime(&local),
                |instant| instant.with_timezone(&Utc),
            )
    }
}

/// A local time as a `DateTime<Utc>`, the cron crate's input: UTC has no
/// gaps or repeats, so the expression runs on the plain wall clock.
fn wall_clock(local: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn fires(cadence: &Cadence, from: &str, count: usize) -> Vec<String> {
        let mut at = utc(from);
        (0..count)
            .map(|_| {
                at = cadence.next_after(at).unwrap();
                at.with_timezone(&cadence.zone()).to_rfc3339()
            })
            .collect()
    }

    #[test]
    fn fires_follow_the_expression_in_utc_by_default() {
        let cadence = Cadence::new("0 */15 * * * *", None).unwrap();
        assert_eq!(
            fires(&cadence, "2026-11-22T10:07:00Z", 3),
            [
                "2026-11-22T10:15:00+00:00",
                "2026-11-22T10:30:00+00:00",
                "2026-11-22T10:45:00+00:00"
            ]
        );
        // Strictly after: a fire time itself is not fired again.
        assert_eq!(
            fires(&cadence, "2026-11-22T10:15:00Z", 1),
            ["2026-11-22T10:30:00+00:00"]
        );
    }

    #[test]
    fn a_daily_time_in_the_spring_gap_fires_once_when_the_clock_jumps() {
        // Paris skips 02:00-03:00 on 2026-03-29.
        let cadence = Cadence::new("0 30 2 * * *", Some("Europe/Paris")).unwrap();
        assert_eq!(
            fires(&cadence, "2026-03-27T12:00:00Z", 3),
            [
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00"
            ]
        );
    }

    #[test]
    fn a_daily_time_in_the_repeated_autumn_hour_fires_once() {
        // Paris runs 02:00-03:00 twice on 2026-10-25.
        let cadence = Cadence::new("0 30 2 * * *", Some("Europe/Paris")).unwrap();
        assert_eq!(
            fires(&cadence, "2026-10-23T12:00:00Z", 3),
            [
                "2026-10-24T02:30:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-26T02:30:00+01:00"
            ]
        );
    }

    #[test]
    fn an_interval_crosses_both_changes_without_repeating_a_local_time() {
        let cadence = Cadence::new("0 */30 * * * *", Some("Europe/Paris")).unwrap();
        assert_eq!(
            fires(&cadence, "2026-03-29T00:15:00Z", 3),
            [
                "2026-03-29T01:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-29T03:30:00+02:00"
            ]
        );
        assert_eq!(
            fires(&cadence, "2026-10-24T23:45:00Z", 4),
            [
                "2026-10-25T02:00:00+02:00",
                "2026-10-25T02:30:00+02:00",
                "2026-10-25T03:00:00+01:00",
                "2026-10-25T03:30:00+01:00"
            ]
        );
        // Resuming from inside the repeated hour (02:20 the second time)
        // fires no local time that already fired.
        assert_eq!(
            fires(&cadence, "2026-10-25T01:20:00Z", 1),
            ["2026-10-25T03:00:00+01:00"]
        );
    }

    #[test]
    fn the_latest_fires_in_a_window_are_listed_oldest_first_and_bounded() {
        let cadence = Cadence::new("0 */30 * * * *", Some("Europe/Paris")).unwrap();
        let window = |after: &str, until: &str, limit: usize| -> Vec<String> {
            cadence
                .latest_between(utc(after), utc(until), limit)
                .iter()
                .map(DateTime::to_rfc3339)
                .collect()
        };
        // Across the spring gap: 01:30 CET, the jump, 03:30 CEST.
        assert_eq!(
            window("2026-03-29T00:00:00Z", "2026-03-29T01:45:00Z", 10),
            [
                "2026-03-29T00:30:00+00:00",
                "2026-03-29T01:00:00+00:00",
                "2026-03-29T01:30:00+00:00"
            ]
        );
        // The bound keeps the latest; `after` is exclusive, `until` inclusive.
        assert_eq!(
            window("2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", 1),
            ["2026-03-29T01:30:00+00:00"]
        );
        assert!(window("2026-03-29T01:30:00Z", "2026-03-29T01:59:59Z", 5).is_empty());
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        assert!(
            Cadence::new("every minute", None)
                .unwrap_err()
                .to_string()
                .contains("`every minute` is not a cron expression")
        );
        assert_eq!(
            Cadence::new("0 * * * * *", Some("Mars/Olympus"))
                .unwrap_err()
                .to_string(),
            "`Mars/Olympus` is not an IANA time zone"
        );
    }
}
