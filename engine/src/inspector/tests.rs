//! The inspector's pages and forms in process, through `oneshot`: what they
//! show, where they send a visitor, and what they refuse. (The pages in a
//! real browser are in the end-to-end tests.)

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use serde_json::json;
use tower::ServiceExt as _;

use crate::api::EventAccepted;
use crate::model::RunId;
use crate::workflow::parse;
use crate::{Config, Engine};

/// An engine with a webhook workflow whose one step fails unless the event
/// has `ok` (its input refers to it), and its data; `admin_token` as given.
async fn engine(admin_token: Option<&str>) -> (Engine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.sandbox.max_instances = 4;
    config.admin_token = admin_token.map(str::to_owned);
    let engine = Engine::start(config).await.unwrap();
    let workflow = json!({
        "id": "leads",
        "trigger": { "webhook": {} },
        "steps": [{ "id": "check", "uses": "builtin:filter",
            "with": { "conditions": [{ "value": "${trigger.body.ok}", "op": "equals", "to": true }] } }],
    });
    engine
        .add(parse(&workflow.to_string()).unwrap(), dir.path())
        .await
        .unwrap();
    (engine, dir)
}

async fn send(router: &Router, request: Request<Body>) -> Response {
    router.clone().oneshot(request).await.unwrap()
}

async fn text(response: Response) -> String {
    let body = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

fn header_of(response: &Response, name: header::HeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// The `name=value` of a response's session cookie.
fn session_cookie(response: &Response) -> String {
    let set = header_of(response, header::SET_COOKIE);
    assert!(set.starts_with("gust_session="), "{set}");
    set.split(';').next().unwrap().to_owned()
}

fn get(uri: &str, cookie: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn post_form(uri: &str, cookie: &str, form: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

/// Posts `body` to the workflow's webhook and waits for the run to end.
async fn run(engine: &Engine, body: serde_json::Value) -> RunId {
    let post = Request::post("/hooks/leads")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = send(&engine.router(), post).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let accepted: EventAccepted = serde_json::from_str(&text(response).await).unwrap();
    let ended = engine
        .wait(accepted.run_id, std::time::Duration::from_secs(10))
        .await
        .unwrap()
        .expect("the run ends");
    assert!(ended.status.is_final(), "{ended:?}");
    accepted.run_id
}

/// The CSRF token in a page's forms.
fn csrf_in(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    page[at..at + 64].to_owned()
}

#[tokio::test]
async fn pages_list_workflows_and_runs_and_a_filter_changes_the_rows() {
    let (engine, _dir) = engine(None).await;
    let good = run(&engine, json!({ "ok": true })).await;
    let bad = run(&engine, json!({})).await;
    let router = engine.router();

    let overview = text(send(&router, get("/", "")).await).await;
    assert!(overview.contains("data-workflow=\"leads\""), "{overview}");
    assert!(overview.contains("/hooks/leads"), "{overview}");
    assert!(
        overview.contains("2 accepted, 1 failed"),
        "the day's chart: {overview}"
    );
    for status in ["succeeded", "failed"] {
        let chip = format!("class=\"chip {status}\" title=\"{status}\">1<");
        assert_eq!(
            overview.matches(&chip).count(),
            2,
            "last hour and day: {overview}"
        );
    }

    let all = text(send(&router, get("/runs", "")).await).await;
    assert!(all.contains(&format!("data-run=\"{good}\"")), "{all}");
    assert!(all.contains(&format!("data-run=\"{bad}\"")), "{all}");
    let failed = text(send(&router, get("/runs?status=failed", "")).await).await;
    assert!(
        !failed.contains(&format!("data-run=\"{good}\"")),
        "{failed}"
    );
    assert!(failed.contains(&format!("data-run=\"{bad}\"")), "{failed}");
    let other = text(send(&router, get("/runs?workflow=other", "")).await).await;
    assert!(other.contains("No runs match."), "{other}");

    let refused = send(&router, get("/runs?status=lost", "")).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(text(refused).await.contains("is not a run status"));
    let jump = send(&router, get(&format!("/runs?id={bad}"), "")).await;
    assert_eq!(jump.status(), StatusCode::SEE_OTHER);
    assert_eq!(header_of(&jump, header::LOCATION), format!("/runs/{bad}"));
}

#[tokio::test]
async fn chips_count_and_filters_by_kind_time_and_event_narrow_the_rows() {
    let (engine, _dir) = engine(None).await;
    let acme = run(&engine, json!({ "ok": true, "company": "Acme Corp" })).await;
    let record = run(&engine, json!({ "Id": "0067F000003pmdWQAQ" })).await;
    let globex = run(&engine, json!({ "ok": true, "company": "Globex" })).await;
    let router = engine.router();
    let rows = |page: &str| -> Vec<RunId> {
        [acme, record, globex]
            .into_iter()
            .filter(|id| page.contains(&format!("data-run=\"{id}\"")))
            .collect()
    };

    let all = text(send(&router, get("/runs", "")).await).await;
    assert!(all.contains("data-count=\"3\">all 3<"), "{all}");
    assert!(all.contains("data-count=\"2\">succeeded 2<"), "{all}");
    assert!(all.contains("data-count=\"1\">failed 1<"), "{all}");
    // The counts stay those of every status while one is shown.
    let failed = text(send(&router, get("/runs?status=failed", "")).await).await;
    assert!(failed.contains("data-count=\"2\">succeeded 2<"), "{failed}");
    assert_eq!(rows(&failed), vec![record]);

    let text_search = text(send(&router, get("/runs?q=acme+CORP", "")).await).await;
    assert_eq!(rows(&text_search), vec![acme]);
    assert!(
        text_search.contains("data-count=\"1\">all 1<"),
        "{text_search}"
    );
    assert!(!text_search.contains("data-live="), "a search is not live");
    let by_short_id = text(send(&router, get("/runs?q=0067F000003pmdW", "")).await).await;
    assert_eq!(rows(&by_short_id), vec![record]);

    let webhooks = text(send(&router, get("/runs?kind=webhook", "")).await).await;
    assert_eq!(rows(&webhooks).len(), 3);
    let schedules = text(send(&router, get("/runs?kind=schedule", "")).await).await;
    assert!(rows(&schedules).is_empty());
    assert!(schedules.contains("No runs match."), "{schedules}");

    let past = text(send(&router, get("/runs?to=2020-01-01T00:00", "")).await).await;
    assert!(rows(&past).is_empty());
    let since = text(send(&router, get("/runs?from=2020-01-01T00:00", "")).await).await;
    assert_eq!(rows(&since).len(), 3);
    assert!(
        since.contains("value=\"2020-01-01T00:00\""),
        "the form keeps it"
    );

    let long_search = format!("/runs?q={}", "a".repeat(300));
    for (uri, says) in [
        ("/runs?kind=cdc", "is not a trigger kind"),
        ("/runs?from=yesterday", "is not a time"),
        (long_search.as_str(), "at most 256 bytes"),
    ] {
        let refused = send(&router, get(uri, "")).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(text(refused).await.contains(says), "{uri}");
    }
}

#[tokio::test]
async fn the_schedules_page_shows_each_schedule_with_its_next_fire() {
    let (engine, dir) = engine(None).await;
    let router = engine.router();
    let none = text(send(&router, get("/triggers", "")).await).await;
    assert!(
        none.contains("No workflow or installation has a schedule"),
        "{none}"
    );
    let nightly = json!({
        "id": "nightly",
        "trigger": { "schedule": { "cron": "0 0 3 * * *" } },
        "steps": [{ "id": "pass", "uses": "builtin:filter",
            "with": { "conditions": [{ "value": "a", "op": "equals", "to": "a" }] } }],
    });
    engine
        .add(parse(&nightly.to_string()).unwrap(), dir.path())
        .await
        .unwrap();
    let mut page = String::new();
    for _ in 0..100 {
        page = text(send(&router, get("/triggers", "")).await).await;
        if page.contains("<time") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(page.contains("data-trigger=\"nightly\""), "{page}");
    assert!(page.contains("schedule"), "{page}");
    assert!(page.contains("<time"), "the next fire: {page}");
    assert!(page.contains("not yet"), "never fired: {page}");
}

#[tokio::test]
async fn a_run_page_shows_its_steps_attempts_and_event_escaped() {
    let (engine, _dir) = engine(None).await;
    let id = run(
        &engine,
        json!({ "ok": true, "name": "<script>alert(1)</script>" }),
    )
    .await;
    let router = engine.router();
    let response = send(&router, get(&format!("/runs/{id}"), "")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = text(response).await;
    assert!(page.contains("class=\"chip succeeded\""), "{page}");
    assert!(!page.contains("/resume"), "only a failed run resumes");
    assert_eq!(
        page.matches("class=\"bar").count(),
        1,
        "one attempt, one bar"
    );
    assert!(page.contains("data-step=\"check\""), "{page}");
    assert!(!page.contains("<script>alert(1)"), "event data is escaped");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );

    // A webhook's event as a curl command that sends it again.
    assert!(page.contains("curl -X POST 'http://"), "{page}");
    assert!(page.contains("--data-raw '{"), "{page}");

    let download = send(&router, get(&format!("/runs/{id}/json"), "")).await;
    assert!(header_of(&download, header::CONTENT_DISPOSITION).contains("attachment"));
    let detail: serde_json::Value = serde_json::from_str(&text(download).await).unwrap();
    assert_eq!(detail["id"], id.to_string());

    // A failed run says why, and offers to resume.
    let failed = run(&engine, json!({})).await;
    let page = text(send(&router, get(&format!("/runs/{failed}"), "")).await).await;
    assert!(page.contains("class=\"chip failed\""), "{page}");
    assert!(page.contains(&format!("/runs/{failed}/resume")), "{page}");
    assert!(
        page.contains("trigger.body.ok"),
        "the error names the reference: {page}"
    );

    let unknown = send(&router, get(&format!("/runs/{}", RunId::new()), "")).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let garbled = send(&router, get("/runs/not-an-id", "")).await;
    assert_eq!(garbled.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn replay_from_the_page_needs_the_sessions_csrf_token_and_makes_a_new_run() {
    let (engine, _dir) = engine(None).await;
    let id = run(&engine, json!({})).await;
    let router = engine.router();
    // Without a token, a visitor gets a session with its first page.
    let response = send(&router, get(&format!("/runs/{id}"), "")).await;
    let cookie = session_cookie(&response);
    let csrf = csrf_in(&text(response).await);

    for form in ["", "csrf=", &format!("csrf={}", "0".repeat(64))] {
        let refused = send(
            &router,
            post_form(&format!("/runs/{id}/replay"), &cookie, form),
        )
        .await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{form}");
    }
    // Another session's token is not this one's.
    let other = session_cookie(&send(&router, get("/runs", "")).await);
    let refused = send(
        &router,
        post_form(
            &format!("/runs/{id}/replay"),
            &other,
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        engine.runs(&Default::default()).await.unwrap().runs.len(),
        1,
        "nothing replayed"
    );

    let replayed = send(
        &router,
        post_form(
            &format!("/runs/{id}/replay"),
            &cookie,
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    let location = header_of(&replayed, header::LOCATION).to_owned();
    let new: RunId = location.strip_prefix("/runs/").unwrap().parse().unwrap();
    assert_ne!(new, id);
    let replay = engine.run_detail(new).await.unwrap().unwrap().run;
    assert_eq!(replay.replay_of, Some(id));
}

#[tokio::test]
async fn beyond_loopback_a_visitor_signs_in_with_the_admin_token() {
    let (engine, _dir) = engine(Some("s3cret-token")).await;
    let id = run(&engine, json!({})).await;
    let router = engine.router();

    let sent_away = send(&router, get("/runs?status=failed", "")).await;
    assert_eq!(sent_away.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        header_of(&sent_away, header::LOCATION),
        "/login?next=%2Fruns%3Fstatus%3Dfailed"
    );
    let refused = send(
        &router,
        post_form(&format!("/runs/{id}/replay"), "", "csrf=x"),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let forged = send(&router, get("/runs", "gust_session=9999999999.00.00")).await;
    assert_eq!(forged.status(), StatusCode::SEE_OTHER, "a forged session");

    let form = text(send(&router, get("/login?next=/runs", "")).await).await;
    assert!(form.contains("type=\"password\""), "{form}");
    assert!(!form.contains("s3cret-token"), "no secret is rendered");
    let wrong = send(&router, post_form("/login", "", "token=guess&next=%2Fruns")).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(header_of(&wrong, header::SET_COOKIE).is_empty());

    let signed_in = send(
        &router,
        post_form("/login", "", "token=s3cret-token&next=%2Fruns"),
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(header_of(&signed_in, header::LOCATION), "/runs");
    let set = header_of(&signed_in, header::SET_COOKIE).to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = session_cookie(&signed_in);
    let page = send(&router, get(&format!("/runs/{id}"), &cookie)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = text(page).await;
    assert!(!page.contains("s3cret-token"), "no secret is rendered");
    let csrf = csrf_in(&page);
    let refused = send(
        &router,
        post_form(&format!("/runs/{id}/replay"), &cookie, ""),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let replayed = send(
        &router,
        post_form(
            &format!("/runs/{id}/replay"),
            &cookie,
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);

    // A `next` elsewhere goes to the overview instead.
    for next in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let signed_in = send(
            &router,
            post_form("/login", "", &format!("token=s3cret-token&next={next}")),
        )
        .await;
        assert_eq!(header_of(&signed_in, header::LOCATION), "/", "{next}");
    }
}

#[tokio::test]
async fn nested_under_a_path_its_links_and_cookie_follow_the_path() {
    let (engine, _dir) = engine(None).await;
    let id = run(&engine, json!({ "ok": true })).await;
    let router = Router::new().nest("/ops/gust", engine.inspector());
    let response = send(&router, get("/ops/gust/runs", "")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header_of(&response, header::SET_COOKIE).contains("Path=/ops/gust/"));
    let page = text(response).await;
    assert!(
        page.contains(&format!("href=\"/ops/gust/runs/{id}\"")),
        "{page}"
    );
    assert!(
        page.contains("href=\"/ops/gust/assets/inspector.css\""),
        "{page}"
    );
    let css = send(&router, get("/ops/gust/assets/inspector.css", "")).await;
    assert_eq!(
        header_of(&css, header::CONTENT_TYPE),
        "text/css; charset=utf-8"
    );
    assert_eq!(
        send(&router, get(&format!("/ops/gust/runs/{id}"), ""))
            .await
            .status(),
        StatusCode::OK
    );
}

/// Reads `body` until it holds `wanted` (or ten seconds pass); what it read.
async fn read_until(body: &mut axum::body::BodyDataStream, wanted: &str) -> String {
    use futures_util::StreamExt as _;
    let mut read = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !read.contains(wanted) {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(chunk)) => read.push_str(&String::from_utf8_lossy(&chunk.unwrap())),
            _ => panic!("`{wanted}` never came: {read}"),
        }
    }
    read
}

#[tokio::test]
async fn a_run_that_arrives_while_the_runs_page_is_open_is_pushed_as_its_row() {
    let (engine, _dir) = engine(None).await;
    let router = engine.router();
    let page = text(send(&router, get("/runs?workflow=leads", "")).await).await;
    assert!(
        page.contains("data-live=\"/runs/live?workflow=leads\""),
        "{page}"
    );
    let stream = send(&router, get("/runs/live?workflow=leads&status=failed", "")).await;
    assert_eq!(
        header_of(&stream, header::CONTENT_TYPE),
        "text/event-stream"
    );
    let mut events = stream.into_body().into_data_stream();

    // A run that ends well leaves the failed filter ("gone"); one that
    // fails arrives as its row.
    let good = run(&engine, json!({ "ok": true })).await;
    let read = read_until(&mut events, &format!("event: gone\ndata: {good}")).await;
    assert!(!read.contains("event: run"), "{read}");
    let bad = run(&engine, json!({})).await;
    let read = read_until(&mut events, &format!("data-run=\"{bad}\"")).await;
    assert!(read.contains("event: run"), "{read}");
    assert!(read.contains("chip failed"), "{read}");
}

#[tokio::test]
async fn failed_runs_selected_on_the_runs_page_are_replayed_together() {
    let (engine, _dir) = engine(None).await;
    let first = run(&engine, json!({})).await;
    let second = run(&engine, json!({})).await;
    let router = engine.router();
    let response = send(&router, get("/runs?status=failed", "")).await;
    let cookie = session_cookie(&response);
    let page = text(response).await;
    let csrf = csrf_in(&page);
    for id in [first, second] {
        assert!(
            page.contains(&format!("name=\"run\" value=\"{id}\"")),
            "{page}"
        );
    }

    let refused = send(
        &router,
        post_form("/runs/replay", &cookie, &format!("run={first}")),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let none = send(
        &router,
        post_form("/runs/replay", &cookie, &format!("csrf={csrf}")),
    )
    .await;
    assert_eq!(none.status(), StatusCode::BAD_REQUEST);
    let garbled = send(
        &router,
        post_form("/runs/replay", &cookie, &format!("csrf={csrf}&run=x")),
    )
    .await;
    assert_eq!(garbled.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        engine.runs(&Default::default()).await.unwrap().runs.len(),
        2,
        "nothing replayed"
    );

    let form = format!("csrf={csrf}&run={first}&run={second}");
    let done = send(&router, post_form("/runs/replay", &cookie, &form)).await;
    assert_eq!(done.status(), StatusCode::OK);
    let page = text(done).await;
    assert!(page.contains("Replayed 2 of 2 runs"), "{page}");
    let runs = engine.runs(&Default::default()).await.unwrap().runs;
    let replays: Vec<_> = runs.iter().filter_map(|run| run.replay_of).collect();
    assert_eq!(replays.len(), 2);
    assert!(replays.contains(&first) && replays.contains(&second));
}
