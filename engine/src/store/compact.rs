//! The stored form of run and step records: postcard (varints, fields in
//! order, no names) of mirrors of the records, timestamps as milliseconds
//! since the epoch, JSON values as JSON text.
//!
//! The records' own serde form is their API form (RFC 3339 timestamps,
//! field names, optional fields left out), which postcard cannot read back
//! and which is about three times the size. The run's id is not repeated:
//! it is the stored value's key.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::model::{
    Attempt, InstallationId, LogLine, RunId, RunRecord, RunStatus, StepFailure, StepRecord,
    StepStatus,
};

/// A record with a stored form.
pub(super) trait Compact: Sized {
    /// The stored form of the record.
    fn encode(&self) -> Result<Vec<u8>, StoreError>;
    /// The record of run `id` stored as `bytes`.
    fn decode(id: RunId, bytes: &[u8]) -> Result<Self, StoreError>;
}

/// A timestamp: milliseconds since the epoch and the nanoseconds past
/// them (none for the timestamps Gust makes, which are whole milliseconds).
#[derive(Serialize, Deserialize)]
struct Stamp(i64, u32);

impl From<&DateTime<Utc>> for Stamp {
    fn from(at: &DateTime<Utc>) -> Self {
        let millis = at.timestamp_millis();
        let rest = at.timestamp_subsec_nanos() % 1_000_000;
        Self(millis, rest)
    }
}

impl Stamp {
    fn time(&self) -> Result<DateTime<Utc>, StoreError> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .and_then(|at| at.checked_add_signed(chrono::TimeDelta::nanoseconds(self.1.into())))
            .ok_or_else(|| corrupt(format!("a stored timestamp is out of range: {}", self.0)))
    }
}

fn time(stamp: Option<Stamp>) -> Result<Option<DateTime<Utc>>, StoreError> {
    stamp.as_ref().map(Stamp::time).transpose()
}

/// JSON text, as postcard bytes; borrowed from the stored value when read.
struct JsonText<'a>(Cow<'a, [u8]>);

impl Serialize for JsonText<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = JsonText<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("JSON text")
            }
            fn visit_borrowed_bytes<E>(self, bytes: &'de [u8]) -> Result<Self::Value, E> {
                Ok(JsonText(Cow::Borrowed(bytes)))
            }
            fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Self::Value, E> {
                Ok(JsonText(Cow::Owned(bytes.to_vec())))
            }
        }
        deserializer.deserialize_bytes(Bytes)
    }
}

/// JSON text of `value`.
fn json(value: &impl Serialize) -> Result<JsonText<'static>, StoreError> {
    serde_json::to_vec(value)
        .map(|text| JsonText(Cow::Owned(text)))
        .map_err(|error| corrupt(error.to_string()))
}

/// The value of JSON text.
fn value<T: serde::de::DeserializeOwned>(text: &JsonText<'_>) -> Result<T, StoreError> {
    serde_json::from_slice(&text.0).map_err(|error| corrupt(error.to_string()))
}

fn corrupt(message: String) -> StoreError {
    StoreError::Corrupt(format!("a run's stored record cannot be read: {message}"))
}

fn postcard_error(error: postcard::Error) -> StoreError {
    corrupt(error.to_string())
}

#[derive(Serialize, Deserialize)]
struct StoredRun<'a> {
    #[serde(borrow)]
    workflow: Cow<'a, str>,
    status: RunStatus,
    created_at: Stamp,
    updated_at: Stamp,
    due_at: Option<Stamp>,
    finished_at: Option<Stamp>,
    #[serde(borrow)]
    dedupe_key: Option<Cow<'a, str>>,
    replay_of: Option<RunId>,
    replayed_by: Option<RunId>,
    #[serde(borrow)]
    output: Option<JsonText<'a>>,
    #[serde(borrow)]
    stopped_by: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
}

/// Whose run it is, stored after a [`StoredRun`] only for the run of an
/// installation (so runs stored before installations read as they were).
#[derive(Serialize, Deserialize)]
struct StoredOwner<'a> {
    #[serde(borrow)]
    tenant: Cow<'a, str>,
    #[serde(borrow)]
    installation: Cow<'a, str>,
}

impl Compact for RunRecord {
    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let stored = StoredRun {
            workflow: Cow::Borrowed(&self.workflow),
            status: self.status,
            created_at: (&self.created_at).into(),
            updated_at: (&self.updated_at).into(),
            due_at: self.due_at.as_ref().map(Stamp::from),
            finished_at: self.finished_at.as_ref().map(Stamp::from),
            dedupe_key: self.dedupe_key.as_deref().map(Cow::Borrowed),
            replay_of: self.replay_of,
            replayed_by: self.replayed_by,
            output: self.output.as_ref().map(json).transpose()?,
            stopped_by: self.stopped_by.as_deref().map(Cow::Borrowed),
            error: self.error.as_deref().map(Cow::Borrowed),
        };
        let mut bytes = postcard::to_allocvec(&stored).map_err(postcard_error)?;
        if let Some(installation) = &self.installation {
            let owner = StoredOwner {
                tenant: Cow::Borrowed(self.tenant.as_deref().unwrap_or_default()),
                installation: Cow::Borrowed(installation.as_str()),
            };
            bytes = postcard::to_extend(&owner, bytes).map_err(postcard_error)?;
        }
        Ok(bytes)
    }

    fn decode(id: RunId, bytes: &[u8]) -> Result<Self, StoreError> {
        let (stored, rest): (StoredRun<'_>, _) =
            postcard::take_from_bytes(bytes).map_err(postcard_error)?;
        let owner = match rest {
            [] => None,
            rest => {
                let owner: StoredOwner<'_> = postcard::from_bytes(rest).map_err(postcard_error)?;
                let installation = InstallationId::parse(&owner.installation).ok_or_else(|| {
                    corrupt(format!(
                        "`{}` is not an installation id",
                        owner.installation
                    ))
                })?;
                Some((owner.tenant.into_owned(), installation))
            }
        };
        let (tenant, installation) = owner.unzip();
        Ok(Self {
            id,
            workflow: stored.workflow.into_owned(),
            tenant,
            installation,
            status: stored.status,
            created_at: stored.created_at.time()?,
            updated_at: stored.updated_at.time()?,
            due_at: time(stored.due_at)?,
            finished_at: time(stored.finished_at)?,
            dedupe_key: stored.dedupe_key.map(Cow::into_owned),
            replay_of: stored.replay_of,
            replayed_by: stored.replayed_by,
            output: stored.output.as_ref().map(value).transpose()?,
            stopped_by: stored.stopped_by.map(Cow::into_owned),
            error: stored.error.map(Cow::into_owned),
        })
    }
}

#[derive(Serialize, Deserialize)]
struct StoredStep<'a> {
    #[serde(borrow)]
    step: Cow<'a, str>,
    status: StepStatus,
    #[serde(borrow)]
    input: JsonText<'a>,
    #[serde(borrow)]
    output: Option<JsonText<'a>>,
    error: Option<StepFailure>,
    #[serde(borrow)]
    attempts: Vec<StoredAttempt<'a>>,
    started_at: Stamp,
    finished_at: Option<Stamp>,
    duration: Duration,
    resumed_after: u32,
}

#[derive(Serialize, Deserialize)]
struct StoredAttempt<'a> {
    number: u32,
    started_at: Stamp,
    duration: Duration,
    error: Option<StepFailure>,
    logs: Cow<'a, [LogLine]>,
    /// The Salesforce calls as JSON text, when it made any.
    #[serde(borrow)]
    calls: Option<JsonText<'a>>,
}

impl Compact for StepRecord {
    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let attempts = self
            .attempts
            .iter()
            .map(|attempt| {
                let calls = if attempt.calls.is_empty() {
                    None
                } else {
                    Some(json(&attempt.calls)?)
                };
                Ok(StoredAttempt {
                    number: attempt.number,
                    started_at: (&attempt.started_at).into(),
                    duration: attempt.duration,
                    error: attempt.error.clone(),
                    logs: Cow::Borrowed(&attempt.logs),
                    calls,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let stored = StoredStep {
            step: Cow::Borrowed(&self.step),
            status: self.status,
            input: json(&self.input)?,
            output: self.output.as_ref().map(json).transpose()?,
            error: self.error.clone(),
            attempts,
            started_at: (&self.started_at).into(),
            finished_at: self.finished_at.as_ref().map(Stamp::from),
            duration: self.duration,
            resumed_after: self.resumed_after,
        };
        postcard::to_allocvec(&stored).map_err(postcard_error)
    }

    fn decode(_: RunId, bytes: &[u8]) -> Result<Self, StoreError> {
        let stored: StoredStep<'_> = postcard::from_bytes(bytes).map_err(postcard_error)?;
        let attempts = stored
            .attempts
            .into_iter()
            .map(|attempt| {
                Ok(Attempt {
                    number: attempt.number,
                    started_at: attempt.started_at.time()?,
                    duration: attempt.duration,
                    error: attempt.error,
                    logs: attempt.logs.into_owned(),
                    calls: match attempt.calls {
                        Some(text) => value(&text)?,
                        None => Vec::new(),
                    },
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self {
            step: stored.step.into_owned(),
            status: stored.status,
            input: value(&stored.input)?,
            output: stored.output.as_ref().map(value).transpose()?,
            error: stored.error,
            attempts,
            started_at: stored.started_at.time()?,
            finished_at: time(stored.finished_at)?,
            duration: stored.duration,
            resumed_after: stored.resumed_after,
        })
    }
}
