//! The run inspector in a real browser: Debian's headless Chromium driven
//! over WebDriver, against `gust serve` as a process, as a customer's
//! engineer uses it.

use std::time::Duration;

use fantoccini::Locator;
use gust_engine::api::EventAccepted;
use gust_engine::model::RunId;
use serde_json::{Value, json};

use crate::support::{Browser, Process, all_runs_ended, eventually, write_workflow};

/// A webhook workflow whose step fails unless the event has `ok`.
fn leads() -> Value {
    json!({
        "id": "leads",
        "trigger": { "webhook": {} },
        "steps": [{ "id": "check", "uses": "builtin:filter",
            "with": { "conditions": [{ "value": "${trigger.body.ok}", "op": "equals", "to": true }] } }],
    })
}

/// Posts `body` to the workflow's webhook; the run's id.
async fn post(client: &reqwest::Client, base: &str, body: Value) -> RunId {
    let accepted: EventAccepted = client
        .post(format!("{base}/hooks/leads"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    accepted.run_id
}

/// The ids of the rows the runs table shows.
async fn rows(browser: &Browser) -> Vec<String> {
    let mut ids = Vec::new();
    for row in browser
        .client
        .find_all(Locator::Css("tr[data-run]"))
        .await
        .unwrap()
    {
        ids.push(row.attr("data-run").await.unwrap().unwrap());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_filtered_pushed_live_drawn_and_replayed_one_and_in_bulk_in_a_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    write_workflow(&workflows, &leads());
    let server = Process::start(&workflows, &dir.path().join("data"));
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let good = post(&http, &base, json!({ "ok": true, "company": "Acme Corp" })).await;
    let bad = post(&http, &base, json!({})).await;
    all_runs_ended(&http, &base).await;
    let page = &browser.client;

    // The overview counts them.
    page.goto(&format!("{base}/")).await.unwrap();
    let caption = page
        .find(Locator::Css("figure.chart figcaption"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(caption.contains("2 accepted, 1 failed"), "{caption}");
    browser.screenshot("inspector-overview.png").await;

    // Seeded runs are listed; a status chip changes the URL and the rows.
    page.goto(&format!("{base}/runs")).await.unwrap();
    let mut listed = rows(&browser).await;
    listed.sort();
    let mut seeded = vec![good.to_string(), bad.to_string()];
    seeded.sort();
    assert_eq!(listed, seeded);
    page.find(Locator::Css("nav.chips a[href$='status=failed']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually(
        "the failed filter's URL",
        Duration::from_secs(10),
        || async {
            let url = page.current_url().await.ok()?;
            url.as_str().ends_with("/runs?status=failed").then_some(())
        },
    )
    .await;
    assert_eq!(rows(&browser).await, [bad.to_string()]);

    // A search in the stored events, typed in the filters' form: the URL
    // holds it, and only the run whose event holds it is listed.
    page.goto(&format!("{base}/runs")).await.unwrap();
    page.find(Locator::Css("input[name='q']"))
        .await
        .unwrap()
        .send_keys("ACME corp")
        .await
        .unwrap();
    page.find(Locator::Css("form.filters button[type='submit']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    eventually("the search's URL", Duration::from_secs(10), || async {
        let url = page.current_url().await.ok()?;
        url.as_str().contains("q=ACME+corp").then_some(())
    })
    .await;
    assert_eq!(rows(&browser).await, [good.to_string()]);

    // A webhook posted while the page is open appears without a reload.
    page.goto(&format!("{base}/runs")).await.unwrap();
    page.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-live-state]"))
        .await
        .unwrap();
    let marker: Value = page
        .execute("window.notReloaded = true; return true;", Vec::new())
        .await
        .unwrap();
    assert_eq!(marker, json!(true));
    // The stream is open once the server has a follower; give it a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let arrived = post(&http, &base, json!({ "ok": true })).await;
    page.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!("tr[data-run='{arrived}']")))
        .await
        .expect("the new run's row is pushed");
    let same_page: Value = page
        .execute("return window.notReloaded === true;", Vec::new())
        .await
        .unwrap();
    assert_eq!(same_page, json!(true), "no reload");

    // A run's waterfall has one bar per attempt.
    page.goto(&format!("{base}/runs/{good}")).await.unwrap();
    let bars = page
        .find_all(Locator::Css(".waterfall .bar"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 1);
    let shot = browser.screenshot("inspector-run-page.png").await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 1_000, "{shot:?}");

    // Replay from the page (after its confirmation) makes a new run.
    page.find(Locator::Css("form[action$='/replay'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.accept_alert().await.unwrap();
    let replay = eventually("the replay's page", Duration::from_secs(10), || async {
        let url = page.current_url().await.ok()?;
        let id = url.path().strip_prefix("/runs/")?.parse::<RunId>().ok()?;
        (id != good).then_some(id)
    })
    .await;
    let stored: Value = http
        .get(format!("{base}/api/runs/{replay}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["replay_of"], good.to_string());

    // Bulk replay: the failed runs selected, replayed after a confirmation.
    let also_bad = post(&http, &base, json!({})).await;
    all_runs_ended(&http, &base).await;
    page.goto(&format!("{base}/runs?status=failed"))
        .await
        .unwrap();
    for id in [bad, also_bad] {
        page.find(Locator::Css(&format!("input[name='run'][value='{id}']")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    page.find(Locator::Css("form#bulk button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.accept_alert().await.unwrap();
    page.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("table.replays"))
        .await
        .unwrap();
    let replays = page
        .find_all(Locator::Css("td[data-replay]"))
        .await
        .unwrap();
    assert_eq!(replays.len(), 2, "both replayed");

    browser.close().await;
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_admin_token_the_browser_signs_in_and_a_form_without_its_csrf_token_is_refused() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join("workflows");
    write_workflow(&workflows, &leads());
    let token = "inspector-token-for-tests";
    let server = Process::start_with_env(
        &workflows,
        &dir.path().join("data"),
        &[("GUST_ADMIN_TOKEN", token)],
    );
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let run = post(&http, &base, json!({})).await;
    let page = &browser.client;

    page.goto(&format!("{base}/runs/{run}")).await.unwrap();
    let url = page.current_url().await.unwrap();
    assert_eq!(url.path(), "/login", "sent to sign in");
    let sign_in = |secret: &'static str| async move {
        let field = page
            .find(Locator::Css("input[name='token']"))
            .await
            .unwrap();
        field.send_keys(secret).await.unwrap();
        page.find(Locator::Css("form.login button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    };
    sign_in("a guess").await;
    let alert = page
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[role='alert']"))
        .await
        .unwrap();
    assert!(
        alert
            .text()
            .await
            .unwrap()
            .contains("not this server's admin token")
    );
    sign_in(token).await;
    eventually(
        "the run's page after signing in",
        Duration::from_secs(10),
        || async {
            let url = page.current_url().await.ok()?;
            (url.path() == format!("/runs/{run}")).then_some(())
        },
    )
    .await;
    let cookie: Value = page
        .execute("return document.cookie;", Vec::new())
        .await
        .unwrap();
    assert_eq!(cookie, json!(""), "the session cookie is HttpOnly");
    assert!(
        !page.source().await.unwrap().contains(token),
        "no secret is rendered"
    );

    // The replay form without its CSRF token is refused, and replays nothing.
    page.execute(
        "const form = document.querySelector(\"form[action$='/replay']\");\
         form.removeAttribute('data-confirm');\
         form.querySelector(\"input[name='csrf']\").remove();\
         form.submit(); return true;",
        Vec::new(),
    )
    .await
    .unwrap();
    let refused = eventually("the refusal", Duration::from_secs(10), || async {
        let text = page.source().await.ok()?;
        text.contains("CSRF").then_some(text)
    })
    .await;
    assert!(refused.contains("reload the page"), "{refused}");
    let listed: Value = http
        .get(format!("{base}/api/runs"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["runs"].as_array().unwrap().len(),
        1,
        "nothing replayed"
    );

    browser.close().await;
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");
}
