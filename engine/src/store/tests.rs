//! The store's behaviour, tested on each backend: sled in a temporary
//! directory and PostgreSQL in a fresh database of the tests' own server
//! (`gust-test-postgres`).

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::model::{RunStatus, now};

mod connections;
mod listing;

/// Runs each named test (an `async fn(Arc<dyn Store>)` of the module the
/// macro is used in) once on each backend.
macro_rules! on_each_store {
    ($($test:ident),* $(,)?) => {
        mod sled {
            $(
                #[tokio::test]
                async fn $test() {
                    let (_dir, store) = $crate::store::tests::sled();
                    super::$test(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::store::tests::postgres().await).await;
                }
            )*
        }
    };
}
use on_each_store;

/// A sled store in a temporary directory (kept while it is held).
pub(super) fn sled() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    (dir, Arc::new(store))
}

/// A PostgreSQL store in a new database, its schema applied.
pub(super) async fn postgres() -> Arc<dyn Store> {
    let url = gust_test_postgres::database();
    Arc::new(PostgresStore::open(&url).await.unwrap())
}

/// A run's step records; none for a run not stored.
pub(super) async fn steps(store: &dyn Store, id: RunId) -> Vec<crate::model::StepRecord> {
    store
        .detail(id)
        .await
        .unwrap()
        .map(|detail| detail.steps)
        .unwrap_or_default()
}

pub(super) fn new_run(workflow: &str, dedupe_key: Option<&str>) -> NewRun {
    let mut record = RunRecord::queued(RunId::new(), workflow);
    record.dedupe_key = dedupe_key.map(str::to_owned);
    NewRun {
        record,
        event: json!({ "n": 1 }),
    }
}

/// Ends `record` (accepted) with success.
pub(super) async fn finish(store: &dyn Store, record: &RunRecord) {
    let mut ended = record.clone();
    ended.status = RunStatus::Succeeded;
    ended.due_at = None;
    ended.finished_at = Some(now());
    let transition = Transition {
        previous: (record.status, record.due_at),
        run: ended,
        step: Some((0, crate::model::StepRecord::start("a", json!(null)))),
        state_writes: Vec::new(),
    };
    store.transition(transition, true).await.unwrap();
}

/// Ends `record` (accepted) as `status`.
pub(super) async fn end(store: &dyn Store, record: &RunRecord, status: RunStatus) {
    let mut ended = record.clone();
    ended.status = status;
    ended.due_at = None;
    ended.finished_at = Some(now());
    let transition = Transition {
        previous: (record.status, record.due_at),
        run: ended,
        step: None,
        state_writes: Vec::new(),
    };
    store.transition(transition, true).await.unwrap();
}

/// A journal entry of call `sequence`, answered `answer`.
pub(super) fn entry(sequence: u32, answer: &str) -> crate::model::JournalEntry {
    crate::model::JournalEntry {
        call: crate::model::SalesforceCall {
            sequence,
            operation: crate::model::CallOperation::Create,
            sobject: Some("Lead".to_owned()),
            record_ids: Vec::new(),
            digest: format!("d{sequence}"),
            started_at: now(),
            duration: std::time::Duration::from_millis(2),
            outcome: crate::model::CallOutcome::Succeeded {
                status: 201,
                bytes: answer.len(),
            },
            replayed: false,
        },
        answer: Some(answer.to_owned()),
        bulk_job: None,
    }
}

pub(super) async fn record(
    store: &dyn Store,
    run: RunId,
    step: &str,
    entry: &crate::model::JournalEntry,
) {
    let write = JournalWrite {
        run,
        step,
        entry,
        forget: 0..0,
    };
    store.record(write, true).await.unwrap();
}

pub(super) fn installation(workflow: &str) -> crate::model::InstallationRecord {
    let (_, secret) = crate::model::SecretDigest::generate("whsec_");
    crate::model::InstallationRecord {
        id: crate::model::InstallationId::random(),
        tenant: "acme".to_owned(),
        workflow: workflow.to_owned(),
        workflow_version: "0123456789abcdef".to_owned(),
        config: json!({ "source": "web" }),
        connections: Default::default(),
        status: crate::model::InstallationStatus::Enabled,
        secret,
        url_token: None,
        created_at: now(),
        updated_at: now(),
        version: 0,
    }
}

/// A run of `installation` accepted, and ended when `ended`.
pub(super) async fn installation_run(
    store: &dyn Store,
    installation: &crate::model::InstallationRecord,
    dedupe_key: &str,
    ended: bool,
) -> RunRecord {
    let mut run = new_run(&installation.workflow, Some(dedupe_key));
    run.record.installation = Some(installation.id.clone());
    run.record.tenant = Some(installation.tenant.clone());
    let accepted = store.accept(&run).await.unwrap();
    let mut record = accepted.run().clone();
    if ended {
        let previous = (record.status, record.due_at);
        record.status = RunStatus::Succeeded;
        record.due_at = None;
        record.finished_at = Some(now());
        let transition = Transition {
            previous,
            run: record.clone(),
            step: None,
            state_writes: Vec::new(),
        };
        store.transition(transition, true).await.unwrap();
    }
    record
}

async fn a_dedupe_key_stores_one_run_even_under_concurrency(store: Arc<dyn Store>) {
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.accept(&new_run("leads", Some("k1"))).await.unwrap() })
        })
        .collect();
    let mut new = Vec::new();
    let mut duplicates = Vec::new();
    for attempt in attempts {
        match attempt.await.unwrap() {
            Accepted::New(run) => new.push(run.id),
            Accepted::Duplicate(run) => duplicates.push(run.id),
        }
    }
    assert_eq!(new.len(), 1);
    assert!(duplicates.iter().all(|id| *id == new[0]));
    // Another workflow may use the same key.
    assert!(matches!(
        store.accept(&new_run("other", Some("k1"))).await.unwrap(),
        Accepted::New(_)
    ));
    assert_eq!(store.queued().await.unwrap().len(), 2);
}

async fn concurrent_acceptances_share_commits_and_each_gets_its_own_answer(store: Arc<dyn Store>) {
    let Accepted::New(earlier) = store.accept(&new_run("leads", Some("k0"))).await.unwrap() else {
        panic!("the first run with its key is new");
    };
    let before = store.flushes();
    let acceptances: Vec<_> = (0..200)
        .map(|n| {
            let store = store.clone();
            // Every tenth repeats the key of the run stored earlier.
            let key = format!("k{}", if n % 10 == 0 { 0 } else { n });
            tokio::spawn(async move { store.accept(&new_run("leads", Some(&key))).await })
        })
        .collect();
    let mut new = 0;
    for (n, acceptance) in acceptances.into_iter().enumerate() {
        match acceptance.await.unwrap().unwrap() {
            Accepted::New(run) => {
                assert_ne!(n % 10, 0, "run {n} repeats a stored key");
                assert_eq!(run.dedupe_key.as_deref(), Some(format!("k{n}").as_str()));
                new += 1;
            }
            Accepted::Duplicate(run) => {
                assert_eq!(n % 10, 0, "run {n} has a key of its own");
                assert_eq!(run.id, earlier.id);
            }
        }
    }
    assert_eq!(new, 180);
    assert_eq!(store.queued().await.unwrap().len(), 181);
    let commits = store.flushes() - before;
    assert!(
        (1..100).contains(&commits),
        "{commits} commits for 200 acceptances"
    );
}

async fn a_transition_moves_the_run_between_indexes_and_out_of_the_queue(store: Arc<dyn Store>) {
    let run = new_run("leads", None);
    let mut record = run.record.clone();
    let run_due = record.due_at;
    store.accept(&run).await.unwrap();
    record.status = RunStatus::Failed;
    record.due_at = None;
    record.finished_at = Some(now());
    let step = crate::model::StepRecord::start("score", json!({}));
    let transition = Transition {
        previous: (RunStatus::Queued, run_due),
        run: record.clone(),
        step: Some((0, step)),
        state_writes: vec![StateWrite {
            scope: "leads/score".into(),
            key: "calls".into(),
            value: Some("1".into()),
        }],
    };
    store.transition(transition, true).await.unwrap();
    assert!(store.queued().await.unwrap().is_empty());
    assert_eq!(steps(&*store, record.id).await.len(), 1);
    assert_eq!(
        StateStore::get(&*store, "leads/score", "calls")
            .await
            .unwrap()
            .as_deref(),
        Some("1")
    );
    let failed = RunQuery {
        status: Some(RunStatus::Failed),
        limit: 10,
        ..RunQuery::default()
    };
    assert_eq!(store.list(&failed).await.unwrap().runs.len(), 1);
    let queued = RunQuery {
        status: Some(RunStatus::Queued),
        limit: 10,
        ..RunQuery::default()
    };
    assert!(store.list(&queued).await.unwrap().runs.is_empty());
}

async fn runs_list_newest_first_in_pages_and_by_workflow(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for index in 0..5 {
        let run = new_run(if index % 2 == 0 { "even" } else { "odd" }, None);
        ids.push(run.record.id);
        store.accept(&run).await.unwrap();
    }
    let first = store
        .list(&RunQuery {
            limit: 2,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        first.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[4], ids[3]]
    );
    assert_eq!(first.next_cursor, Some(ids[3]));
    let rest = store
        .list(&RunQuery {
            limit: 10,
            before: first.next_cursor,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rest.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[2], ids[1], ids[0]]
    );
    assert_eq!(rest.next_cursor, None);
    let even = store
        .list(&RunQuery {
            workflow: Some("even".into()),
            status: Some(RunStatus::Queued),
            limit: 10,
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        even.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[4], ids[2], ids[0]]
    );
}

async fn unfinished_runs_list_in_pages_whatever_the_status_asked(store: Arc<dyn Store>) {
    let mut ids = Vec::new();
    for index in 0..6 {
        let run = new_run(if index % 3 == 0 { "other" } else { "leads" }, None);
        ids.push(run.record.id);
        store.accept(&run).await.unwrap();
        if index == 4 {
            finish(store.as_ref(), &run.record).await;
        }
    }
    // leads: 1, 2, 4 (finished), 5; other: 0, 3.
    let query = RunQuery {
        workflow: Some("leads".into()),
        status: Some(RunStatus::Running),
        limit: 2,
        ..RunQuery::default()
    };
    let first = store.unfinished_runs(&query).await.unwrap();
    assert_eq!(
        first.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[5], ids[2]]
    );
    assert_eq!(first.next_cursor, Some(ids[2]));
    let rest = store
        .unfinished_runs(&RunQuery {
            before: first.next_cursor,
            ..query
        })
        .await
        .unwrap();
    assert_eq!(
        rest.runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );
    assert_eq!(rest.next_cursor, None);
}

async fn pruning_removes_old_finished_runs_and_keeps_unfinished_ones(store: Arc<dyn Store>) {
    let finished = new_run("leads", Some("old"));
    let mut record = finished.record.clone();
    store.accept(&finished).await.unwrap();
    let unfinished = new_run("leads", None);
    let unfinished_id = unfinished.record.id;
    store.accept(&unfinished).await.unwrap();
    let previous = (record.status, record.due_at);
    record.status = RunStatus::Succeeded;
    record.due_at = None;
    store
        .transition(
            Transition {
                previous,
                run: record.clone(),
                step: Some((0, crate::model::StepRecord::start("a", json!(null)))),
                state_writes: Vec::new(),
            },
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .prune(record.created_at, record.created_at)
            .await
            .unwrap(),
        0,
        "nothing is older than itself"
    );
    let later = now() + chrono::TimeDelta::seconds(1);
    assert_eq!(
        store.prune(later, record.created_at).await.unwrap(),
        0,
        "a run with a dedupe key outlives the retention within the dedupe window"
    );
    assert!(matches!(
        store.accept(&new_run("leads", Some("old"))).await.unwrap(),
        Accepted::Duplicate(_)
    ));
    assert_eq!(store.prune(later, later).await.unwrap(), 1);
    assert_eq!(store.run(record.id).await.unwrap(), None);
    assert!(steps(&*store, record.id).await.is_empty());
    assert!(store.run(unfinished_id).await.unwrap().is_some());
    // The dedupe key went with the run.
    assert!(matches!(
        store.accept(&new_run("leads", Some("old"))).await.unwrap(),
        Accepted::New(_)
    ));
    let all = RunQuery {
        limit: 10,
        ..RunQuery::default()
    };
    assert_eq!(store.list(&all).await.unwrap().runs.len(), 2);
}

async fn a_replay_that_succeeds_takes_the_runs_it_replays_off_the_failed_list(
    store: Arc<dyn Store>,
) {
    let failed = |workflow: Option<&str>| RunQuery {
        workflow: workflow.map(str::to_owned),
        status: Some(RunStatus::Failed),
        limit: 10,
        ..RunQuery::default()
    };
    let listed = async |query: RunQuery| -> Vec<RunId> {
        store
            .list(&query)
            .await
            .unwrap()
            .runs
            .iter()
            .map(|run| run.id)
            .collect()
    };
    let first = new_run("leads", None);
    let other = new_run("leads", None);
    store.accept(&first).await.unwrap();
    store.accept(&other).await.unwrap();
    end(&*store, &first.record, RunStatus::Failed).await;
    end(&*store, &other.record, RunStatus::Failed).await;
    // A replay that fails again, then a replay of that replay.
    let mut again = new_run("leads", None);
    again.record.replay_of = Some(first.record.id);
    store.accept(&again).await.unwrap();
    end(&*store, &again.record, RunStatus::Failed).await;
    assert_eq!(listed(failed(None)).await.len(), 3);
    let mut fixed = new_run("leads", None);
    fixed.record.replay_of = Some(again.record.id);
    store.accept(&fixed).await.unwrap();
    end(&*store, &fixed.record, RunStatus::Succeeded).await;

    assert_eq!(listed(failed(None)).await, [other.record.id]);
    assert_eq!(listed(failed(Some("leads"))).await, [other.record.id]);
    for id in [first.record.id, again.record.id] {
        let run = store.run(id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Failed, "its history stays");
        assert_eq!(run.replayed_by, Some(fixed.record.id));
    }
    assert_eq!(
        store
            .run(other.record.id)
            .await
            .unwrap()
            .unwrap()
            .replayed_by,
        None
    );
}

async fn a_journal_keeps_each_steps_calls_in_order_and_forgets_a_path_not_taken(
    store: Arc<dyn Store>,
) {
    let accepted = new_run("leads", None);
    store.accept(&accepted).await.unwrap();
    let run = accepted.record.id;
    for sequence in [1, 2, 3, 10] {
        record(
            &*store,
            run,
            "sync",
            &entry(sequence, &format!("\"{sequence}\"")),
        )
        .await;
    }
    record(&*store, run, "sync-more", &entry(1, "\"other step\"")).await;
    let sequences = async |step: &str| -> Vec<u32> {
        let journal = store.journal(run, step).await.unwrap();
        journal.iter().map(|entry| entry.call.sequence).collect()
    };
    assert_eq!(sequences("sync").await, [1, 2, 3, 10]);
    assert_eq!(sequences("sync-more").await, [1]);
    let answer = async |at: usize| store.journal(run, "sync").await.unwrap()[at].answer.clone();
    assert_eq!(answer(1).await.as_deref(), Some("\"2\""));

    // Call 2 took another path: the earlier calls after it go.
    let other = entry(2, "\"again\"");
    let write = JournalWrite {
        run,
        step: "sync",
        entry: &other,
        forget: 3..11,
    };
    store.record(write, false).await.unwrap();
    assert_eq!(sequences("sync").await, [1, 2]);
    assert_eq!(answer(1).await.as_deref(), Some("\"again\""));
    let mut all: Vec<(String, u32)> = store
        .run_journal(run)
        .await
        .unwrap()
        .into_iter()
        .map(|(step, entry)| (step, entry.call.sequence))
        .collect();
    all.sort();
    let expected = [("sync", 1), ("sync", 2), ("sync-more", 1)];
    assert_eq!(all, expected.map(|(step, n)| (step.to_owned(), n)));
}

async fn a_journal_goes_when_its_step_ends_well_and_with_its_run(store: Arc<dyn Store>) {
    let accepted = new_run("leads", None);
    let mut run = accepted.record.clone();
    store.accept(&accepted).await.unwrap();
    for step in ["first", "second"] {
        record(&*store, run.id, step, &entry(1, "\"x\"")).await;
    }
    // The first step succeeds: its journal is done.
    let mut first = crate::model::StepRecord::start("first", json!(null));
    first.status = crate::model::StepStatus::Succeeded;
    first.attempts.push(crate::model::Attempt {
        number: 1,
        started_at: now(),
        duration: std::time::Duration::from_millis(3),
        error: None,
        logs: Vec::new(),
        calls: vec![entry(1, "\"x\"").call],
    });
    let transition = Transition {
        previous: (run.status, run.due_at),
        run: run.clone(),
        step: Some((0, first)),
        state_writes: Vec::new(),
    };
    store.transition(transition, true).await.unwrap();
    assert!(store.journal(run.id, "first").await.unwrap().is_empty());
    // The second fails, and the run with it: its journal stays, to resume.
    let mut second = crate::model::StepRecord::start("second", json!(null));
    second.status = crate::model::StepStatus::Failed;
    let previous = (run.status, run.due_at);
    run.status = RunStatus::Failed;
    run.due_at = None;
    let transition = Transition {
        previous,
        run: run.clone(),
        step: Some((1, second)),
        state_writes: Vec::new(),
    };
    store.transition(transition, true).await.unwrap();
    assert_eq!(store.journal(run.id, "second").await.unwrap().len(), 1);

    let later = now() + chrono::TimeDelta::seconds(1);
    assert_eq!(store.prune(later, later).await.unwrap(), 1);
    assert!(store.journal(run.id, "second").await.unwrap().is_empty());
}

async fn an_installation_is_written_only_over_the_version_it_read(store: Arc<dyn Store>) {
    let record = installation("leads");
    assert!(store.put_installation(&record, None).await.unwrap());
    assert!(
        !store.put_installation(&record, None).await.unwrap(),
        "it exists"
    );
    let stored = store.installation(&record.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    let mut paused = stored.clone();
    paused.status = crate::model::InstallationStatus::Paused;
    assert!(store.put_installation(&paused, Some(1)).await.unwrap());
    assert!(
        !store.put_installation(&stored, Some(1)).await.unwrap(),
        "a stale write is refused"
    );
    let now_stored = store.installation(&record.id).await.unwrap().unwrap();
    assert_eq!(now_stored.status, crate::model::InstallationStatus::Paused);
    assert_eq!(store.installations().await.unwrap().len(), 1);
    store.put_workflow_version("v1", "{}").await.unwrap();
    assert_eq!(
        store.workflow_version("v1").await.unwrap().as_deref(),
        Some("{}")
    );
    assert_eq!(store.workflow_version("v2").await.unwrap(), None);
}

async fn runs_of_installations_dedupe_apart_and_list_by_installation_and_tenant(
    store: Arc<dyn Store>,
) {
    let (a, b) = (installation("leads"), installation("leads"));
    let first = installation_run(&*store, &a, "k", false).await;
    let again = new_run("leads", Some("k"));
    let mut again = again;
    again.record.installation = Some(a.id.clone());
    assert!(
        matches!(store.accept(&again).await.unwrap(), Accepted::Duplicate(run) if run.id == first.id)
    );
    // The same key in another installation, or the workflow's own, is another event.
    installation_run(&*store, &b, "k", false).await;
    assert!(matches!(
        store.accept(&new_run("leads", Some("k"))).await.unwrap(),
        Accepted::New(_)
    ));
    let listed = store
        .list(&RunQuery {
            installation: Some(a.id.clone()),
            ..RunQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.runs.len(), 1);
    assert_eq!(listed.runs[0].tenant.as_deref(), Some("acme"));
    let queued = store.queued().await.unwrap();
    assert_eq!(
        queued
            .iter()
            .filter(|run| run.installation.as_ref() == Some(&a.id))
            .count(),
        1,
        "the queue knows each run's installation"
    );
    // A run stored before installations (no owner part) reads back.
    let plain = store.run(
        queued
            .iter()
            .find(|run| run.installation.is_none())
            .unwrap()
            .id,
    );
    assert_eq!(plain.await.unwrap().unwrap().installation, None);
}

async fn deleting_an_installation_removes_its_state_and_with_purge_its_finished_runs(
    store: Arc<dyn Store>,
) {
    let (gone, kept) = (installation("leads"), installation("leads"));
    for record in [&gone, &kept] {
        store.put_installation(record, None).await.unwrap();
    }
    let scope = |record: &crate::model::InstallationRecord| {
        crate::model::installation_scope(&record.workflow, &record.id)
    };
    let write = |scope: String, key: &str| crate::model::StateWrite {
        scope,
        key: key.to_owned(),
        value: Some("1".to_owned()),
    };
    store
        .apply(&[
            write(scope(&gone), "trigger:schedule"),
            write(format!("{}/step", scope(&gone)), "count"),
            write(format!("{}/step", scope(&kept)), "count"),
            write("leads/step".to_owned(), "count"),
        ])
        .await
        .unwrap();
    let finished = installation_run(&*store, &gone, "a", true).await;
    let running = installation_run(&*store, &gone, "b", false).await;
    let other = installation_run(&*store, &kept, "a", true).await;

    let removed = store
        .delete_installation(&gone.id, &scope(&gone), true)
        .await
        .unwrap();
    assert!(removed.installation);
    assert_eq!(removed.state_entries, 2);
    assert_eq!(removed.runs, 1);
    assert_eq!(removed.unfinished_runs, vec![running.id]);
    assert_eq!(store.installation(&gone.id).await.unwrap(), None);
    assert_eq!(store.run(finished.id).await.unwrap(), None);
    assert!(store.run(running.id).await.unwrap().is_some());
    assert!(store.run(other.id).await.unwrap().is_some());
    assert_eq!(
        store
            .get(&format!("{}/step", scope(&gone)), "count")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .get(&format!("{}/step", scope(&kept)), "count")
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.get("leads/step", "count").await.unwrap().is_some());
    // The finished run's dedupe key went with it.
    let again = installation_run(&*store, &gone, "a", false).await;
    assert_ne!(again.id, finished.id);
}

on_each_store!(
    unfinished_runs_list_in_pages_whatever_the_status_asked,
    concurrent_acceptances_share_commits_and_each_gets_its_own_answer,
    a_dedupe_key_stores_one_run_even_under_concurrency,
    a_transition_moves_the_run_between_indexes_and_out_of_the_queue,
    runs_list_newest_first_in_pages_and_by_workflow,
    pruning_removes_old_finished_runs_and_keeps_unfinished_ones,
    a_replay_that_succeeds_takes_the_runs_it_replays_off_the_failed_list,
    a_journal_keeps_each_steps_calls_in_order_and_forgets_a_path_not_taken,
    a_journal_goes_when_its_step_ends_well_and_with_its_run,
    an_installation_is_written_only_over_the_version_it_read,
    runs_of_installations_dedupe_apart_and_list_by_installation_and_tenant,
    deleting_an_installation_removes_its_state_and_with_purge_its_finished_runs,
);
