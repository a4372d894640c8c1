//! sf-emulator: a local Salesforce org for development and tests.
//!
//! It answers like Salesforce does, with the same URLs, JSON shapes, status
//! codes, errorCodes and headers, so that a client developed against it
//! works unchanged against a real org:
//!
//! - OAuth 2.0 at `/services/oauth2/token` (password, client credentials,
//!   refresh token, authorization code with PKCE, and JWT bearer, whose
//!   claims are checked but not its signature), token answers signed as
//!   Salesforce signs them, `/services/oauth2/authorize` approving at once
//!   (or told to deny), the identity URL `/id/{org}/{user}`, userinfo,
//!   `/services/oauth2/revoke` and `/introspect`, refresh-token policies
//!   (rotation, immediate expiry, revocation), sessions that expire (401
//!   INVALID_SESSION_ID), `Sforce-Limit-Info` on every API response and 403
//!   REQUEST_LIMIT_EXCEEDED past the daily allowance;
//! - several orgs in one process: each [`Emulator`] is one org, with its
//!   own id ([`Config::org_id`], [`org::nth_org_id`]), users, records,
//!   sessions and limits, served on its own URL (its instance and its My
//!   Domain login host);
//! - REST under `/services/data/vNN.N/`: describe, sObject create, read
//!   (`?fields=`), update, upsert by external id, delete, and `/limits`,
//!   with the standard objects and their checks (required fields, types,
//!   lengths, references, unique values);
//! - `query` and `queryAll` with a SOQL subset (parent relationship
//!   fields, `COUNT()`, WHERE with comparisons, LIKE, IN, AND/OR/NOT and
//!   date literals, ORDER BY, LIMIT, OFFSET), paged by `batchSize` behind
//!   `nextRecordsUrl`;
//! - sObject Collections (create, update, upsert, delete; 200 records;
//!   allOrNone) and `/composite` (25 subrequests, `@{ref.id}`
//!   references, allOrNone);
//! - Bulk API 2.0: ingest jobs (insert, update, upsert, delete from CSV,
//!   with successful, failed and unprocessed results) and query jobs (CSV
//!   pages behind `Sforce-Locator`);
//! - Outbound Messages: rules that post SOAP notifications of created or
//!   updated records, up to 100 per message, resent with a doubling delay
//!   until acknowledged, dropped after a day;
//! - the Pub/Sub API over gRPC ([`pubsub`]): change events of the org's
//!   writes and platform events, with Avro schemas, replay and flow control;
//! - faults injected on chosen routes (503, UNABLE_TO_LOCK_ROW, latency)
//!   and a log of every request, for testing clients' retries;
//! - a seed file for custom objects and fields, records, apps, users,
//!   faults and Outbound Message rules; records kept in memory, or saved
//!   in a data directory and restored on the next start (sessions, jobs and
//!   queued notifications are not kept).
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let running = sf_emulator::Emulator::start().await?;
//! println!("a Salesforce org at {}", running.url);
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod bulk;
pub mod error;
pub mod faults;
pub mod ids;
pub mod org;
pub mod outbound;
pub mod pubsub;
mod rest;
pub mod schema;
pub mod seed;
mod server;
pub mod soql;
pub mod values;

pub use server::{
    Config, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME, Emulator,
    OrgGuard, Origin, Running,
};
