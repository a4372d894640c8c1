use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use gust_engine::store::RunQuery;
use gust_engine::{Config, Engine};
use gust_tests::guests;
use serde_json::{Value, json};

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
    let mut config = Config::new(dir.join("data"));
    config.runtime.max_instances = 4;
    let engine = Engine::start(config).await.unwrap();
    let set = engine.load_dir(&workflows).unwrap();
    assert!(set.invalid.is_empty(), "{:?}", set.invalid);
    engine
}

/// The `scheduled_at` of every run of `workflow`, in run order, with its
/// event checked.
fn fires(engine: &Engine, workflow: &str) -> Vec<DateTime<Utc>> {
    let query = RunQuery {
        workflow: Some(workflow.to_owned()),
        limit: 1000,
        ..RunQuery::default()
    };
    let mut fires: Vec<DateTime<Utc>> = engine
        .runs(&query)
        .unwrap()
        .runs
        .iter()
        .map(|run| {
            let event = engine.run(run.id).unwrap().unwrap().event;
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
        })
        .collect();
    fires.reverse();
    fires
}

async fn wait_for_fires(engine: &Engine, workflow: &str, count: usize) -> Vec<DateTime<Utc>> {
    for _ in 0..200 {
        let fires = fires(engine, workflow);
        if fires.len() >= count {
            return fires;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{workflow} did not fire {count} times");
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
        .unwrap()
        .runs[0]
        .id;
    let event = engine.run(first).unwrap().unwrap().event;
    assert!(
        event["scheduled_at"].as_str().unwrap().ends_with("+05:30"),
        "{event}"
    );
    let status = engine.trigger_status("tick").unwrap();
    let next = status.next_fire_at.unwrap();
    assert!(next > *fires.last().unwrap(), "{status:?}");
    assert!(status.last_error.is_none());
    engine.shutdown().await;
}

/// Runs a schedule, stops it for `down`, starts it again, and returns the
/// fires before the stop, the fires after, and when it was down.
async fn restart_across_missed_fires(
    schedule: Value,
    down: Duration,
) -> (
    Vec<DateTime<Utc>>,
    Vec<DateTime<Utc>>,
    (DateTime<Utc>, DateTime<Utc>),
) {
    let dir = tempfile::tempdir().unwrap();
    let workflow = scheduled("tick", schedule);
    let engine = start(dir.path(), &workflow).await;
    let before = wait_for_fires(&engine, "tick", 2).await;
    engine.shutdown().await;
    let stopped = Utc::now();
    let before = fires(&engine, "tick")
        .into_iter()
        .chain(before)
        .collect::<BTreeSet<_>>();
    drop(engine);
    tokio::time::sleep(down).await;
    let restarted = Utc::now();
    let engine = start(dir.path(), &workflow).await;
    let all = wait_for_fires(&engine, "tick", before.len() + 2).await;
    engine.shutdown().await;
    assert_once_each(&all);
    let after: Vec<_> = all
        .into_iter()
        .filter(|fire| !before.contains(fire))
        .collect();
    (before.into_iter().collect(), after, (stopped, restarted))
}

#[tokio::test]
async fn a_catch_up_schedule_runs_the_latest_missed_fires_once_after_a_restart() {
    let (before, after, (stopped, restarted)) = restart_across_missed_fires(
        json!({ "cron": "* * * * * *", "missed": "catch_up", "max_catch_up": 2 }),
        Duration::from_millis(3_500),
    )
    .await;
    let last_before = *before.last().unwrap();
    assert!(
        after.iter().all(|fire| *fire > last_before),
        "nothing fired twice"
    );
    let missed: Vec<_> = after
        .iter()
        .filter(|fire| **fire > stopped && **fire < restarted)
        .collect();
    // Three or more fires were missed; the bound keeps the latest two.
    assert_eq!(missed.len(), 2, "{after:?}");
    assert_eq!((*missed[1] - *missed[0]).num_seconds(), 1);
    assert!(
        (restarted - *missed[1]).num_milliseconds() < 1_000,
        "{missed:?}"
    );
}

#[tokio::test]
async fn a_skip_schedule_skips_fires_missed_while_stopped_and_goes_on() {
    let (before, after, (stopped, restarted)) = restart_across_missed_fires(
        json!({ "cron": "* * * * * *" }),
        Duration::from_millis(2_500),
    )
    .await;
    let last_before = *before.last().unwrap();
    assert!(
        after.iter().all(|fire| *fire > last_before),
        "nothing fired twice"
    );
    assert!(
        after.iter().all(|fire| *fire > restarted),
        "no missed fire ran: stopped {stopped}, restarted {restarted}, fired {after:?}"
    );
    assert!(after.len() >= 2);
}
