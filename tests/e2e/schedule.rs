use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use gust_engine::Engine;
use gust_engine::store::RunQuery;
use gust_tests::guests;
use serde_json::{Value, json};

use crate::support::eventually;

/// A workflow whose one step echoes the trigger event.
fn scheduled(id: &str, schedule: Value) -> Value {
    json!({
        "id": id,
        "trigger": { "schedule": schedule },
        "steps": [
            { "id": "echo", "uses": guests::MISBEHAVE, "with": { "act": "echo", "event": "${trigger}" } }
        ],
    })
}

async fn start(dir: &Path, workflow: &Value) -> Engine {
    let workflows = dir.join("workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    std::fs::write(workflows.join("tick.json"), workflow.to_string()).unwrap();
    let mut config = crate::support::config(dir.join("data"));
    config.sandbox.max_instances = 4;
    let engine = Engine::start(config).await.unwrap();
    let set = engine.load_dir(&workflows).await.unwrap();
    assert!(set.invalid.is_empty(), "{:?}", set.invalid);
    engine
}

/// The `scheduled_at` of every run of `workflow`, in run order, with its
/// event checked.
async fn fires(engine: &Engine, workflow: &str) -> Vec<DateTime<Utc>> {
    let query = RunQuery {
        workflow: Some(workflow.to_owned()),
        limit: 1000,
        ..RunQuery::default()
    };
    let runs = engine.runs(&query).await.unwrap().runs;
    let mut fires = Vec::with_capacity(runs.len());
    for run in &runs {
        let event = engine.run_detail(run.id).await.unwrap().unwrap().event;
        fires.push({
            let time = |field: &str| {
                DateTime::parse_from_rfc3339(event[field].as_str().unwrap())
                    .unwrap()
                    .with_timezone(&Utc)
            };
            let (scheduled, fired) = (time("scheduled_at"), time("fired_at"));
            assert!(fired >= scheduled, "{event}");
            assert_eq!(
                run.dedupe_key.as_deref(),
                Some(
                    scheduled
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        .as_str()
                )
            );
            scheduled
        });
    }
    fires.reverse();
    fires
}

async fn wait_for_fires(engine: &Engine, workflow: &str, count: usize) -> Vec<DateTime<Utc>> {
    let what = format!("{workflow} firing {count} times");
    eventually(&what, Duration::from_secs(10), || async {
        let fires = fires(engine, workflow).await;
        (fires.len() >= count).then_some(fires)
    })
    .await
}

fn assert_once_each(fires: &[DateTime<Utc>]) {
    let distinct: BTreeSet<_> = fires.iter().collect();
    assert_eq!(distinct.len(), fires.len(), "a fire ran twice: {fires:?}");
}

#[tokio::test]
async fn a_schedule_fires_on_its_seconds_with_both_times_in_its_zone() {
    let dir = tempfile::tempdir().unwrap();
    let workflow = scheduled(
        "tick",
        json!({ "cron": "* * * * * *", "timezone": "Asia/Kolkata" }),
    );
    let engine = start(dir.path(), &workflow).await;
    let fires = wait_for_fires(&engine, "tick", 3).await;
    assert_once_each(&fires);
    for pair in fires.windows(2) {
        assert_eq!((pair[1] - pair[0]).num_seconds(), 1, "{fires:?}");
    }
    let first = engine
        .runs(&RunQuery {
            limit: 1,
            ..RunQuery::default()
        })
        .await
        .unwrap()
        .runs[0]
        .id;
    let event = engine.run_detail(first).await.unwrap().unwrap().event;
    assert!(
        event["scheduled_at"].as_str().unwrap().ends_with("+05:30"),
        "{event}"
    );
    let status = engine.trigger_status("tick").unwrap();
    let next = status.next_fire_at.unwrap();
    // The status moves on just after a fire is stored.
    assert!(next >= *fires.last().unwrap(), "{status:?}");
    assert!(status.last_error.is_none());
    engine.shutdown().await;
}

/// What a restart across missed fires showed.
struct Restart {
    /// The fires before the stop.
    before: Vec<DateTime<Utc>>,
    /// The fires after the restart, oldest first.
    after: Vec<DateTime<Utc>>,
    /// When the engine was stopped.
    stopped: DateTime<Utc>,
    /// Bounds of when the restarted schedule started: before the engine
    /// was started, and once it had loaded the workflow.
    restarted: (DateTime<Utc>, DateTime<Utc>),
}

/// Runs a schedule, stops it for `down`, starts it again and waits for two
/// fires of the restarted schedule.
async fn restart_across_missed_fires(schedule: Value, down: Duration) -> Restart {
    let dir = tempfile::tempdir().unwrap();
    let workflow = scheduled("tick", schedule);
    let engine = start(dir.path(), &workflow).await;
    wait_for_fires(&engine, "tick", 2).await;
    engine.shutdown().await;
    let stopped = Utc::now();
    let before = fires(&engine, "tick").await;
    drop(engine);
    tokio::time::sleep(down).await;
    let starting = Utc::now();
    let engine = start(dir.path(), &workflow).await;
    let started = Utc::now();
    let all = wait_for_fires(&engine, "tick", before.len() + 2).await;
    engine.shutdown().await;
    assert_once_each(&all);
    let after: Vec<_> = all
        .into_iter()
        .filter(|fire| !before.contains(fire))
        .collect();
    let last_before = *before.last().unwrap();
    assert!(
        after.iter().all(|fire| *fire > last_before),
        "nothing fired twice"
    );
    Restart {
        before,
        after,
        stopped,
        restarted: (starting, started),
    }
}

/// `time` truncated to its second: the latest fire of `* * * * * *` at or
/// before it.
fn second_of(time: DateTime<Utc>) -> DateTime<Utc> {
    time.with_nanosecond(0).unwrap()
}

#[tokio::test]
async fn a_catch_up_schedule_runs_the_latest_missed_fires_once_after_a_restart() {
    let restart = restart_across_missed_fires(
        json!({ "cron": "* * * * * *", "missed": "catch_up", "max_catch_up": 2 }),
        Duration::from_millis(3_500),
    )
    .await;
    let after = &restart.after;
    let second = TimeDelta::seconds(1);
    // The restarted schedule ran a run of consecutive seconds: the latest
    // two fires missed before it started, then the fires on time.
    for pair in after.windows(2) {
        assert_eq!(pair[1] - pair[0], second, "{after:?}");
    }
    let (starting, started) = restart.restarted;
    let earliest = after[0];
    assert!(
        earliest >= second_of(starting) - second && earliest <= second_of(started) - second,
        "the two caught-up fires end at the restart: {after:?}, restarted {starting}..{started}"
    );
    // Down 3.5 s, three or more fires were missed; the bound dropped the
    // oldest.
    let last_before = *restart.before.last().unwrap();
    assert!(
        earliest > last_before + second,
        "{after:?} after {last_before}"
    );
}

#[tokio::test]
async fn a_skip_schedule_skips_fires_missed_while_stopped_and_goes_on() {
    let restart = restart_across_missed_fires(
        json!({ "cron": "* * * * * *" }),
        Duration::from_millis(2_500),
    )
    .await;
    let (starting, _) = restart.restarted;
    assert!(
        restart.after.iter().all(|fire| *fire > starting),
        "no missed fire ran: stopped {}, restarted {starting}, fired {:?}",
        restart.stopped,
        restart.after
    );
    assert!(restart.after.len() >= 2);
}
