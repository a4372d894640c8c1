//! Moves everything one store holds into another, empty one: an embedded
//! store into PostgreSQL (`gust store copy`).

use std::collections::BTreeSet;

use futures_util::{StreamExt, TryStreamExt, stream};

use super::{JournalWrite, NewRun, RunQuery, Store, StoreError, Transition};

/// How many runs are read per page.
const PAGE: usize = 500;

/// How many runs are copied at once.
const RUNS_AT_ONCE: usize = 16;

/// What a copy moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Runs, with their events and step records.
    pub runs: usize,
    /// Salesforce call journal entries.
    pub journal_entries: usize,
    /// Step and trigger state entries.
    pub state_entries: usize,
    /// Connections.
    pub connections: usize,
    /// Connect sessions, OAuth apps and undelivered connection events.
    pub connection_extras: usize,
    /// Installations, and the workflow versions they are pinned to.
    pub installations: usize,
}

/// Copies everything `from` holds into `to`, which must hold nothing yet.
/// `to`'s unfinished runs are then released for its servers to take.
pub async fn copy(from: &dyn Store, to: &dyn Store) -> Result<Copied, StoreError> {
    let empty = RunQuery {
        limit: 1,
        ..RunQuery::default()
    };
    if !to.list(&empty).await?.runs.is_empty() || !to.connections().await?.is_empty() {
        return Err(StoreError::Unavailable(
            "the target store is not empty: copy into a new database".to_owned(),
        ));
    }
    let mut copied = Copied::default();
    let mut query = RunQuery {
        limit: PAGE,
        ..RunQuery::default()
    };
    loop {
        let page = from.list(&query).await?;
        // Several runs at once: the target's commits overlap (and
        // PostgreSQL's group commit stores their acceptances together).
        let mut runs = stream::iter(page.runs.iter().map(|run| copy_run(from, to, run.id)))
            .buffer_unordered(RUNS_AT_ONCE);
        while let Some(journal_entries) = runs.try_next().await? {
            if let Some(journal_entries) = journal_entries {
                copied.runs += 1;
                copied.journal_entries += journal_entries;
            }
        }
        match page.next_cursor {
            Some(cursor) => query.before = Some(cursor),
            None => break,
        }
    }
    let state = from.state_entries().await?;
    copied.state_entries = state.len();
    to.apply(&state).await?;
    for connection in from.connections().await? {
        to.put_connection(&connection, None).await?;
        copied.connections += 1;
    }
    for session in from.connect_sessions().await? {
        to.swap_connect_session(None, &session).await?;
        copied.connection_extras += 1;
    }
    for app in from.oauth_apps().await? {
        to.put_oauth_app(&app).await?;
        copied.connection_extras += 1;
    }
    for event in from.connection_events().await? {
        to.put_connection_event(&event).await?;
        copied.connection_extras += 1;
    }
    let mut versions = BTreeSet::new();
    for installation in from.installations().await? {
        versions.insert(installation.workflow_version.clone());
        to.put_installation(&installation, None).await?;
        copied.installations += 1;
    }
    for hash in versions {
        if let Some(definition) = from.workflow_version(&hash).await? {
            to.put_workflow_version(&hash, &definition).await?;
        }
    }
    to.release().await?;
    Ok(copied)
}

/// Copies run `id` with its event, steps and journal; how many journal
/// entries it had, or `None` when the run is gone.
async fn copy_run(
    from: &dyn Store,
    to: &dyn Store,
    id: crate::model::RunId,
) -> Result<Option<usize>, StoreError> {
    let Some(detail) = from.detail(id).await? else {
        return Ok(None);
    };
    let run = detail.run;
    to.accept(&NewRun {
        record: run.clone(),
        event: detail.event,
    })
    .await?;
    // The journals first: a step's end drops its own.
    let journal = from.run_journal(id).await?;
    let journal_entries = journal.len();
    for (step, entry) in journal {
        let write = JournalWrite {
            run: id,
            step: &step,
            entry: &entry,
            forget: 0..0,
        };
        to.record(write, true).await?;
    }
    for (position, step) in detail.steps.into_iter().enumerate() {
        let transition = Transition {
            previous: (run.status, run.due_at),
            run: run.clone(),
            step: Some((position, step)),
            state_writes: Vec::new(),
        };
        to.transition(transition, true).await?;
    }
    Ok(Some(journal_entries))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{RunStatus, StateWrite, StepRecord, now};
    use crate::store::tests::{entry, installation, new_run, record};
    use crate::store::{InstallationStore, JournalStore, PostgresStore, SledStore, StateStore};

    #[tokio::test]
    async fn an_embedded_store_copied_into_postgres_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let from = SledStore::open(dir.path()).unwrap();
        // A finished run with a step, a queued one with a journal entry of
        // its unfinished step, a dedupe key, state, an installation.
        let done = new_run("leads", Some("k1"));
        from.accept(&done).await.unwrap();
        let mut ended = done.record.clone();
        ended.status = RunStatus::Succeeded;
        ended.due_at = None;
        ended.finished_at = Some(now());
        let mut step = StepRecord::start("score", json!({ "in": 1 }));
        step.output = Some(json!({ "out": 2 }));
        let transition = Transition {
            previous: (done.record.status, done.record.due_at),
            run: ended.clone(),
            step: Some((0, step)),
            state_writes: vec![StateWrite {
                scope: "leads/score".into(),
                key: "n".into(),
                value: Some("7".into()),
            }],
        };
        from.transition(transition, true).await.unwrap();
        let waiting = new_run("leads", None);
        from.accept(&waiting).await.unwrap();
        record(&from, waiting.record.id, "score", &entry(1, "\"a\"")).await;
        let installed = installation("leads");
        from.put_installation(&installed, None).await.unwrap();
        from.put_workflow_version(&installed.workflow_version, "{\"id\":\"leads\"}")
            .await
            .unwrap();

        let to = PostgresStore::open(&gust_test_postgres::database())
            .await
            .unwrap();
        let copied = copy(&from, &to).await.unwrap();
        assert_eq!(
            (
                copied.runs,
                copied.journal_entries,
                copied.state_entries,
                copied.installations
            ),
            (2, 1, 1, 1)
        );
        let detail = to.detail(done.record.id).await.unwrap().unwrap();
        assert_eq!(detail.run.status, RunStatus::Succeeded);
        assert_eq!(detail.event, done.event);
        assert_eq!(detail.steps[0].output, Some(json!({ "out": 2 })));
        assert_eq!(
            to.journal(waiting.record.id, "score").await.unwrap().len(),
            1
        );
        assert_eq!(
            to.get("leads/score", "n").await.unwrap().as_deref(),
            Some("7")
        );
        assert!(matches!(
            to.accept(&new_run("leads", Some("k1"))).await.unwrap(),
            crate::store::Accepted::Duplicate(_)
        ));
        assert_eq!(to.installations().await.unwrap().len(), 1);
        assert!(
            to.workflow_version(&installed.workflow_version)
                .await
                .unwrap()
                .is_some()
        );
        // The waiting run is free for the servers on the copy to take.
        let taken = to.take_over(10).await.unwrap();
        assert_eq!(
            taken.iter().map(|run| run.id).collect::<Vec<_>>(),
            [waiting.record.id]
        );

        let refused = copy(&from, &to).await.unwrap_err();
        assert!(refused.to_string().contains("not empty"), "{refused}");
    }
}
