//! Gust's end-to-end tests, linked into one binary (wasmtime makes each test
//! binary slow to link).

/// The `gust` command line: validate and run, as a user types them.
mod cli;
/// Several `gust serve` nodes on one PostgreSQL: one killed, one stopped past its lease,
/// schedules and polls on all, PostgreSQL itself restarted.
mod cluster;
/// Customers' connections: the connect flow into several orgs, refusals, tokens, keys.
mod connections;
/// `gust serve` killed with SIGKILL mid-load and restarted: nothing lost, nothing run twice.
mod crash;
/// The Salesforce events trigger against sf-emulator's Pub/Sub API: order, flow control, resumes.
mod events;
/// Host imports: Salesforce through the host and its permission checks, logs, state.
mod imports;
/// The run inspector in a real headless Chromium: lists, filters, live rows, replay, sign-in.
mod inspector;
/// Installations: one workflow per tenant, with its config, connection, URLs, state and runs.
mod installations;
/// The Salesforce call journal: nothing sent twice across retries, kills and resumes.
mod journal;
/// Under load: backpressure past the backlog's bound, bounded memory.
mod load;
/// The Outbound Message trigger: sf-emulator posting to Gust, redeliveries, bad messages.
mod outbound;
/// The Salesforce poll trigger against sf-emulator: backfills, keyset pages, overlaps, deletions.
mod poll;
/// The README's recipe for a new step, followed from an empty directory.
mod recipe;
/// The runner: references, filters, retries, prebuilt steps.
mod runner;
/// The prebuilt `builtin:salesforce` step against sf-emulator (the client: crates/salesforce/tests).
mod salesforce;
/// The sandbox: limits, traps, WASI lockdown, refused modules.
mod sandbox;
/// The schedule trigger: fires, restarts across missed fires.
mod schedule;
/// Steps in JavaScript and Python: limits, grants, every action, errors in the author's terms.
mod scripts;
/// `gust serve` as a process: configuration, reloads, the examples, `gust runs`/`gust workflows`.
mod serve;
/// The server in process: webhooks, the durable executor, the admin API.
mod server;
/// What the tests share: servers, processes, the emulator, waiting.
mod support;
