//! The runs page's filters, as GET parameters (so every view is a link),
//! and the store query they ask.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::layout::Context;
use super::overview::urlencoded;
use crate::model::{InstallationId, RunId, RunStatus};
use crate::runtime::WorkflowSet;
use crate::store::{EventSearch, RunQuery};

/// How many runs a page shows.
pub(super) const PAGE: usize = 50;

/// How many runs a page looks at, at most, for filters no index serves (a
/// search in events, a status other than failed, a trigger kind): a page
/// that stops there says so and goes on from there.
pub(super) const EXAMINE: usize = 10_000;

/// The trigger kinds, as workflows name them.
pub(super) const KINDS: [&str; 5] = [
    "webhook",
    "outbound_message",
    "schedule",
    "salesforce_poll",
    "manual",
];

/// The filters, as the page's GET parameters.
#[derive(Debug, Default, Clone, Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    pub(super) workflow: String,
    #[serde(default)]
    pub(super) status: String,
    /// A trigger kind (one of [`KINDS`]).
    #[serde(default)]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) tenant: String,
    #[serde(default)]
    pub(super) installation: String,
    /// Runs accepted at or after this time (UTC).
    #[serde(default)]
    pub(super) from: String,
    /// Runs accepted before this time (UTC).
    #[serde(default)]
    pub(super) to: String,
    /// Text or a Salesforce record id to find in the stored event.
    #[serde(default)]
    pub(super) q: String,
    /// The run to jump to.
    #[serde(default)]
    pub(super) id: String,
    /// Where the page starts (the last run of the page before).
    #[serde(default)]
    pub(super) before: String,
}

/// `text` trimmed, if it is not blank.
pub(super) fn given(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|text| !text.is_empty())
}

/// A time given as a browser's `datetime-local` value (`2026-12-07T10:30`,
/// seconds optional), read as UTC, or as RFC 3339.
pub(super) fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|time| time.and_utc())
        .ok_or_else(|| {
            format!("`{text}` is not a time: give it as 2026-12-07T10:30 (UTC) or in RFC 3339")
        })
}

/// A time as a `datetime-local` value, in UTC.
pub(super) fn time_value(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M").to_string()
}

impl Filters {
    /// The query these filters ask of `workflows`' runs, or what is wrong
    /// with them.
    pub(super) fn query(&self, workflows: &WorkflowSet) -> Result<RunQuery, String> {
        let status = given(&self.status)
            .map(|status| status.parse::<RunStatus>())
            .transpose()
            .map_err(|error| error.to_string())?;
        let installation = given(&self.installation)
            .map(|text| {
                InstallationId::parse(text)
                    .ok_or_else(|| format!("`{text}` is not an installation id"))
            })
            .transpose()?;
        let mut before = given(&self.before)
            .map(|text| text.parse::<RunId>().map_err(|error| error.to_string()))
            .transpose()?;
        if let Some(to) = given(&self.to) {
            let to = RunId::first_at(parse_time(to)?);
            before = Some(before.map_or(to, |before| before.min(to)));
        }
        let after = given(&self.from)
            .map(|from| parse_time(from).map(RunId::first_at))
            .transpose()?;
        let mut workflow = given(&self.workflow).map(str::to_owned);
        let mut workflow_in = None;
        if let Some(kind) = given(&self.kind) {
            if !KINDS.contains(&kind) {
                return Err(format!(
                    "`{kind}` is not a trigger kind: it is one of {}",
                    KINDS.join(", ")
                ));
            }
            let mut of_kind: Vec<String> = workflows
                .ready
                .iter()
                .filter(|(_, ready)| ready.workflow.trigger.kind() == kind)
                .map(|(id, _)| id.clone())
                .filter(|id| workflow.as_ref().is_none_or(|workflow| workflow == id))
                .collect();
            // One workflow is read through its index.
            match of_kind.len() {
                1 => workflow = of_kind.pop(),
                _ => workflow_in = Some(of_kind),
            }
        }
        Ok(RunQuery {
            workflow,
            tenant: given(&self.tenant).map(str::to_owned),
            installation,
            status,
            limit: PAGE,
            before,
            after,
            workflow_in,
            event_contains: EventSearch::new(&self.q).map_err(|error| error.to_string())?,
            examine: Some(EXAMINE),
        })
    }

    /// Whether the page can take live rows: it shows the newest runs, and
    /// no filter needs the stored event.
    pub(super) fn is_live(&self) -> bool {
        given(&self.before).is_none() && given(&self.to).is_none() && given(&self.q).is_none()
    }

    /// The link to the runs page with these filters, `status` in place of
    /// theirs and from the first page.
    pub(super) fn with_status(&self, context: &Context, status: Option<RunStatus>) -> String {
        let mut filters = self.clone();
        filters.status = status.map(|s| s.as_str().to_owned()).unwrap_or_default();
        filters.before = String::new();
        filters.link(context)
    }

    /// The link to the runs page with these filters, accepted from `from`
    /// on, from the first page.
    pub(super) fn since(&self, context: &Context, from: DateTime<Utc>) -> String {
        let mut filters = self.clone();
        filters.from = time_value(from);
        filters.to = String::new();
        filters.before = String::new();
        filters.link(context)
    }

    /// The link to the runs page with these filters.
    pub(super) fn link(&self, context: &Context) -> String {
        self.link_to(context, "/runs")
    }

    /// The link to `path` with these filters as its query.
    pub(super) fn link_to(&self, context: &Context, path: &str) -> String {
        let pairs = [
            ("workflow", &self.workflow),
            ("status", &self.status),
            ("kind", &self.kind),
            ("tenant", &self.tenant),
            ("installation", &self.installation),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
            ("before", &self.before),
        ];
        let query: Vec<String> = pairs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name}={}", urlencoded(value)))
            .collect();
        match query.is_empty() {
            true => context.link(path),
            false => context.link(&format!("{path}?{}", query.join("&"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_a_browser_gives_them_or_in_rfc_3339() {
        let minute = parse_time("2026-12-07T10:30").unwrap();
        assert_eq!(minute.to_rfc3339(), "2026-12-07T10:30:00+00:00");
        let second = parse_time("2026-12-07T10:30:15").unwrap();
        assert_eq!(second.to_rfc3339(), "2026-12-07T10:30:15+00:00");
        let zoned = parse_time("2026-12-07T11:30:00+01:00").unwrap();
        assert_eq!(zoned, minute);
        assert_eq!(time_value(minute), "2026-12-07T10:30");
        let error = parse_time("yesterday").unwrap_err();
        assert!(error.contains("2026-12-07T10:30"), "{error}");
    }

    #[test]
    fn a_time_range_bounds_the_ids_and_the_earlier_end_wins() {
        let page = RunId::new();
        let filters = Filters {
            from: "2026-12-07T10:00".to_owned(),
            to: "2099-01-01T00:00".to_owned(),
            before: page.to_string(),
            ..Filters::default()
        };
        let query = filters.query(&WorkflowSet::default()).unwrap();
        assert_eq!(query.before, Some(page));
        let from = parse_time("2026-12-07T10:00").unwrap();
        assert_eq!(query.after, Some(RunId::first_at(from)));
        assert!(!filters.is_live());
    }

    #[test]
    fn an_unknown_trigger_kind_says_which_there_are() {
        let filters = Filters {
            kind: "cdc".to_owned(),
            ..Filters::default()
        };
        let error = filters.query(&WorkflowSet::default()).unwrap_err();
        assert!(error.contains("salesforce_poll"), "{error}");
    }
}
