//! Live updates over Server-Sent Events: the rows of runs that arrive or
//! change while the runs page is open, and the changes of the run a run
//! page shows. Each follows [`Engine::run_changes`](crate::Engine).

use std::convert::Infallible;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;

use super::filters::Filters;
use super::layout::Context;
use super::runs::row;
use super::{Inspector, problem};
use crate::model::{RunId, RunRecord};
use crate::store::RunQuery;

/// The events each change of a run makes, by `event_for` (none: the change
/// is not for this page); a follower that fell behind gets `missed` with
/// how many changes it missed.
fn follow(
    changes: Receiver<RunRecord>,
    event_for: impl Fn(&RunRecord) -> Option<Event> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (changes, event_for),
        |(mut changes, event_for)| async move {
            loop {
                let event = match changes.recv().await {
                    Ok(run) => match event_for(&run) {
                        Some(event) => event,
                        None => continue,
                    },
                    Err(RecvError::Lagged(missed)) => {
                        Event::default().event("missed").data(missed.to_string())
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (changes, event_for)));
            }
        },
    )
}

/// `GET /runs/live?<filters>`: `run` with the row of each run that arrives
/// or changes and passes the filters; `gone` with the id of one that
/// changed out of the status filtered for.
pub(super) async fn runs(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Query(filters): Query<Filters>,
) -> Response {
    let query = match filters.query(&inspector.engine.workflows()) {
        Ok(query) => query,
        Err(error) => return problem(&context, StatusCode::BAD_REQUEST, &error),
    };
    let any_status = RunQuery {
        status: None,
        ..query.clone()
    };
    let changes = inspector.engine.run_changes();
    let events = follow(changes, move |run| {
        if query.keeps(run) {
            let html = row(&context, run).into_string().replace('\r', "");
            Some(
                Event::default()
                    .event("run")
                    .id(run.id.to_string())
                    .data(html),
            )
        } else if any_status.keeps(run) {
            Some(Event::default().event("gone").data(run.id.to_string()))
        } else {
            None
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `GET /runs/{id}/live`: `run` with the run's status each time it
/// changes.
pub(super) async fn run(
    State(inspector): State<Inspector>,
    Extension(context): Extension<Context>,
    Path(run_id): Path<String>,
) -> Response {
    let id = match run_id.parse::<RunId>() {
        Ok(id) => id,
        Err(error) => return problem(&context, StatusCode::BAD_REQUEST, &error.to_string()),
    };
    let changes = inspector.engine.run_changes();
    let events = follow(changes, move |run| {
        (run.id == id).then(|| Event::default().event("run").data(run.status.as_str()))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}
