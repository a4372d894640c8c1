-- Gust's store on PostgreSQL, version 1: everything the embedded store holds.

-- The nodes sharing the store, each alive while its heartbeat is recent.
CREATE TABLE gust_nodes (
    id           uuid PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Runs: the record as JSON, with the columns the queue, the listings and
-- dedupe read. `due_at` is set while the run is unfinished; `owner` is the
-- node that runs it and `epoch` counts its hand-overs (a write names the
-- epoch it holds, so a node that lost the run cannot write it).
CREATE TABLE gust_runs (
    id           uuid PRIMARY KEY,
    workflow     text NOT NULL,
    lane         text NOT NULL,
    tenant       text,
    installation text,
    status       text NOT NULL,
    failed_open  boolean NOT NULL DEFAULT false,
    due_at       timestamptz,
    created_at   timestamptz NOT NULL,
    dedupe_key   text,
    record       json NOT NULL,
    event        json NOT NULL,
    owner        uuid,
    epoch        bigint NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX gust_runs_dedupe ON gust_runs (lane, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX gust_runs_queue ON gust_runs (due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX gust_runs_workflow ON gust_runs (workflow, id);
CREATE INDEX gust_runs_installation ON gust_runs (installation, id) WHERE installation IS NOT NULL;
CREATE INDEX gust_runs_tenant ON gust_runs (tenant, id) WHERE tenant IS NOT NULL;
CREATE INDEX gust_runs_failed ON gust_runs (id) WHERE failed_open;
CREATE INDEX gust_runs_created ON gust_runs (created_at);
CREATE INDEX gust_runs_owner ON gust_runs (owner, due_at) WHERE due_at IS NOT NULL;

-- Each run's step records, by position.
CREATE TABLE gust_steps (
    run_id   uuid NOT NULL REFERENCES gust_runs (id) ON DELETE CASCADE,
    position integer NOT NULL,
    record   json NOT NULL,
    PRIMARY KEY (run_id, position)
);

-- The Salesforce call journal: one entry per call of a run's step.
CREATE TABLE gust_journal (
    run_id   uuid NOT NULL REFERENCES gust_runs (id) ON DELETE CASCADE,
    step     text NOT NULL,
    sequence integer NOT NULL,
    entry    json NOT NULL,
    PRIMARY KEY (run_id, step, sequence)
);

-- Which node runs each trigger that one node at a time may run (a poll),
-- until when; `epoch` counts its hand-overs, and the trigger's state writes
-- name it.
CREATE TABLE gust_leases (
    name       text PRIMARY KEY,
    owner      uuid NOT NULL,
    epoch      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Step and trigger state (a poll's cursor, a schedule's mark).
CREATE TABLE gust_state (
    scope text NOT NULL,
    key   text NOT NULL,
    value text NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Customers' connections (tokens sealed by the key ring), unique by
-- tenant, org, user and app.
CREATE TABLE gust_connections (
    id      text PRIMARY KEY,
    tenant  text NOT NULL,
    org_id  text NOT NULL,
    user_id text NOT NULL,
    app     text NOT NULL,
    version bigint NOT NULL,
    record  json NOT NULL,
    UNIQUE (tenant, org_id, user_id, app)
);

CREATE TABLE gust_connect_sessions (
    id      text PRIMARY KEY,
    session json NOT NULL
);

CREATE TABLE gust_oauth_apps (
    name text PRIMARY KEY,
    app  json NOT NULL
);

CREATE TABLE gust_connection_events (
    id    text PRIMARY KEY,
    event json NOT NULL
);

-- Installations and the workflow versions they are pinned to.
CREATE TABLE gust_installations (
    id      text PRIMARY KEY,
    version bigint NOT NULL,
    record  json NOT NULL
);

CREATE TABLE gust_workflow_versions (
    hash       text PRIMARY KEY,
    definition text NOT NULL
);
