//! The Salesforce poll trigger: records created, updated or deleted,
//! read on a cron schedule through the connection (so every read counts
//! against its API budget like a step's), one event per record or per
//! batch.
//!
//! Each page of records is reported in one durable write with the poll's
//! new position (see `cursor`): a crash between reading records and storing
//! their events loses nothing and reports nothing twice. Records are read
//! in keyset order (see `query`). A first activation starts after the last
//! existing record (`"backfill": "none"`), or reports existing records
//! from the oldest (`"all"`) or from a time; a backfill of more than
//! [`BULK_BACKFILL_THRESHOLD`] records reads them through a Bulk API 2.0
//! query job, page by page, its place in the job stored like a cursor.

mod config;
mod cursor;
mod query;
mod runner;
mod validate;

pub use config::{
    Backfill, DEFAULT_POLL_EVERY, DEFAULT_POLL_OVERLAP, InvalidBackfill, KIND, MAX_POLL_BATCH,
    RecordChange, SalesforcePollTrigger,
};
pub use runner::BULK_BACKFILL_THRESHOLD;
pub(crate) use validate::validate;
