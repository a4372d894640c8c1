//! One org's event bus: the change events of its record writes and the
//! platform events published to it, in one stream ordered by replay id,
//! kept for the retention period. Subscribers read after a replay id and
//! wait on [`EventBus::watch`] for more.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::encode::{self, Commit};
use super::layout::{self, Layout};
use super::topic::Topic;
use crate::org::Org;
use crate::org::capture::Captured;
use crate::schema::Object;

/// How long events are kept unless configured otherwise: Salesforce's 72
/// hours.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(72 * 3600);

/// How many events are kept at most unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 100_000;

/// An event on the bus.
#[derive(Debug, Clone)]
pub struct BusEvent {
    /// Its replay id, as a number (see [`replay_bytes`]).
    pub replay: u64,
    /// The object it is about: the changed record's, or the platform event's.
    pub entity: String,
    /// Whether it is a change event (else a platform event).
    pub change: bool,
    /// Its id: a platform event's UUID, a change event's own.
    pub id: String,
    /// The schema its payload is written with.
    pub schema_id: String,
    /// The Avro datum.
    pub payload: Arc<Vec<u8>>,
    /// When it was published.
    pub at: DateTime<Utc>,
}

/// The bytes of replay id `replay`: eight bytes big-endian and two zero
/// bytes, as Salesforce's ten-byte ids are laid out.
pub fn replay_bytes(replay: u64) -> Vec<u8> {
    let mut bytes = replay.to_be_bytes().to_vec();
    bytes.extend([0, 0]);
    bytes
}

/// The number in replay id `bytes` (eight or ten bytes), if it is one.
pub fn replay_number(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        8 | 10 => Some(u64::from_be_bytes(bytes[..8].try_into().ok()?)),
        _ => None,
    }
}

/// Why a subscription cannot start where it asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// The id is not one of this bus's, or its events were purged.
    Unknown,
}

/// An org's stream of events.
pub struct EventBus {
    events: VecDeque<BusEvent>,
    /// The replay id the next event gets.
    next: u64,
    /// The newest replay id handed out, before the first event: the
    /// position a LATEST subscription starts after.
    floor: u64,
    retention: Duration,
    /// The most events kept, whatever their age: the emulator's memory
    /// bound (Salesforce's is its retention alone).
    capacity: usize,
    /// The schemas made, by object name (with the schema version of the org
    /// they were made from), and by id.
    layouts: HashMap<String, (u64, Arc<Layout>)>,
    by_id: HashMap<String, Arc<Layout>>,
    commits: i64,
    latest: watch::Sender<u64>,
}

impl EventBus {
    /// An empty bus keeping events for `retention`. Replay ids start from
    /// the clock, so that ids from before a restart are not mistaken for
    /// new ones.
    pub fn new(retention: Duration, capacity: usize) -> Self {
        let start = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default() * 1_000;
        Self {
            events: VecDeque::new(),
            next: start + 1,
            floor: start,
            retention,
            capacity,
            layouts: HashMap::new(),
            by_id: HashMap::new(),
            commits: 0,
            latest: watch::channel(start).0,
        }
    }

    /// A receiver told the latest replay id whenever events are added.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// The newest replay id on the bus (or before its first event).
    pub fn latest(&self) -> u64 {
        self.next - 1
    }

    /// The schema of `object`'s events, made once per version of the data
    /// model.
    pub fn layout(
        &mut self,
        org: &Org,
        object: &Object,
    ) -> Result<Arc<Layout>, apache_avro::Error> {
        let version = org.schema_version();
        if let Some((made, layout)) = self.layouts.get(&object.name)
            && *made == version
        {
            return Ok(layout.clone());
        }
        let layout = Arc::new(if object.is_platform_event() {
            layout::platform_event(object)?
        } else {
            layout::change_event(object)?
        });
        self.layouts
            .insert(object.name.clone(), (version, layout.clone()));
        self.by_id.insert(layout.id.clone(), layout.clone());
        Ok(layout)
    }

    /// The schema with id `id`, if this bus made it.
    pub fn schema(&self, id: &str) -> Option<Arc<Layout>> {
        self.by_id.get(id).cloned()
    }

    /// Adds the events of one transaction's writes, in order.
    pub fn append(&mut self, org: &Org, captured: Vec<Captured>) {
        self.purge();
        self.commits += 1;
        let commit_number = self.commits;
        let transaction_key = super::random_uuid();
        let mut sequence = 0;
        for write in captured {
            let (object, at) = match &write {
                Captured::Change(change) => (change.object.as_str(), change.at),
                Captured::Event(event) => (event.object.as_str(), event.at),
            };
            let Some(object) = org.schema().object(object).cloned() else {
                continue;
            };
            let layout = match self.layout(org, &object) {
                Ok(layout) => layout,
                Err(error) => {
                    tracing::error!(%error, object = object.name, "No Avro schema for the object.");
                    continue;
                }
            };
            let (payload, id) = match &write {
                Captured::Change(change) => {
                    sequence += 1;
                    let commit = Commit {
                        transaction_key: transaction_key.clone(),
                        sequence_number: sequence,
                        commit_number,
                    };
                    (
                        encode::change_event(&layout, change, &commit),
                        super::random_uuid(),
                    )
                }
                Captured::Event(event) => {
                    (encode::platform_event(&layout, event), event.uuid.clone())
                }
            };
            let payload = match payload {
                Ok(payload) => payload,
                Err(error) => {
                    tracing::error!(%error, object = object.name, "An event could not be encoded.");
                    continue;
                }
            };
            let replay = self.next;
            self.next += 1;
            self.events.push_back(BusEvent {
                replay,
                entity: object.name.clone(),
                change: !object.is_platform_event(),
                id,
                schema_id: layout.id.clone(),
                payload: Arc::new(payload),
                at,
            });
        }
        self.purge();
        self.latest.send_replace(self.latest());
    }

    /// Adds a platform event of `entity` published as Avro `payload`
    /// (through Publish); its replay id.
    pub fn append_published(
        &mut self,
        entity: &str,
        id: &str,
        schema_id: &str,
        payload: Vec<u8>,
    ) -> u64 {
        self.purge();
        let replay = self.next;
        self.next += 1;
        self.events.push_back(BusEvent {
            replay,
            entity: entity.to_owned(),
            change: false,
            id: id.to_owned(),
            schema_id: schema_id.to_owned(),
            payload: Arc::new(payload),
            at: Utc::now(),
        });
        self.latest.send_replace(self.latest());
        replay
    }

    /// Drops the events older than the retention period.
    pub fn purge(&mut self) {
        let oldest = Utc::now() - self.retention;
        while self.events.len() > self.capacity
            || self.events.front().is_some_and(|event| event.at < oldest)
        {
            if let Some(event) = self.events.pop_front() {
                self.floor = event.replay;
            }
        }
    }

    /// Drops every event now, as if the retention period had passed: a
    /// replay id from before is then unknown.
    pub fn expire_all(&mut self) {
        if let Some(last) = self.events.back() {
            self.floor = last.replay;
        }
        self.events.clear();
    }

    /// Where a subscription starting at `preset` (with `replay` for CUSTOM)
    /// reads after.
    pub fn start(&mut self, earliest: bool, custom: Option<u64>) -> Result<u64, ReplayError> {
        self.purge();
        match custom {
            Some(replay) if replay < self.floor || replay > self.latest() => {
                Err(ReplayError::Unknown)
            }
            Some(replay) => Ok(replay),
            None if earliest => Ok(self.floor),
            None => Ok(self.latest()),
        }
    }

    /// Up to `limit` events of `topic` after replay id `after`, and the
    /// replay id read up to (the last event's, or the bus's latest when
    /// fewer than `limit` matched).
    pub fn read(&mut self, topic: &Topic, after: u64, limit: usize) -> (Vec<BusEvent>, u64) {
        self.purge();
        let start = self.events.partition_point(|event| event.replay <= after);
        let mut found = Vec::new();
        for event in self.events.range(start..) {
            if found.len() == limit {
                return (found, event.replay - 1);
            }
            if topic.carries(event) {
                found.push(event.clone());
            }
        }
        (found, self.latest().max(after))
    }
}
