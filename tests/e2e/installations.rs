//! Installations over real HTTP: workflows installed for tenants whose
//! own orgs are connected, each installation's webhook, config, secrets,
//! status and runs, and every refusal.

use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use sf_emulator::Running;

use crate::support::{Server, connect, connected, orgs, serve_connect};

/// A workflow installed per tenant: it creates a Lead in the tenant's own
/// org from the posted name, the tenant's config and the installation.
fn lead_intake() -> Value {
    json!({
        "id": "lead-intake",
        "trigger": { "webhook": {} },
        "connections": { "salesforce": { "description": "The org leads go to" } },
        "config": {
            "type": "object",
            "required": ["source"],
            "properties": {
                "source": { "type": "string", "minLength": 1 },
                "rating": { "type": "string", "enum": ["Hot", "Warm", "Cold"], "default": "Warm" }
            },
            "additionalProperties": false
        },
        "steps": [{
            "id": "create",
            "uses": "builtin:salesforce",
            "with": {
                "action": "create",
                "sobject": "Lead",
                "record": {
                    "LastName": "${trigger.body.name}",
                    "Company": "${tenant}",
                    "LeadSource": "${config.source}",
                    "Rating": "${config.rating}",
                    "Description": "${installation.id}"
                }
            },
            "permissions": { "salesforce": { "write": ["Lead"] } }
        }]
    })
}

/// `n` emulated orgs and a server whose connections reach them, with
/// `lead-intake` loaded.
async fn serve_lead_intake(n: u64) -> (Vec<Running>, Server) {
    let orgs = orgs(n).await;
    let server = serve_connect(&orgs, |_| {}).await;
    server
        .engine
        .load_dir(&workflows_dir(&server, &[lead_intake()]))
        .await
        .unwrap();
    (orgs, server)
}

/// The Leads of `org`.
fn leads(org: &Running) -> Vec<Map<String, Value>> {
    let org = org.emulator.org();
    let object = org.object("Lead").unwrap();
    org.records(object, false).cloned().collect()
}

/// Sends `body` to `path` with `secret` as the bearer; status and answer.
async fn post(
    server: &Server,
    path: &str,
    secret: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = server.post(path).json(&body);
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `POST /api/installations/{id}/{action}` (pause, resume, rotate-secret);
/// status and answer.
async fn act(server: &Server, id: &str, action: &str) -> (StatusCode, Value) {
    let path = format!("/api/installations/{id}/{action}");
    post(server, &path, None, json!({})).await
}

/// Creates an installation; status and answer.
async fn install(server: &Server, request: Value) -> (StatusCode, Value) {
    post(server, "/api/installations", None, request).await
}

/// A tenant connected to `org`, with `lead-intake` installed with
/// `source`: the installation's answer (with its secret).
async fn installed(server: &Server, tenant: &str, org: &Running, source: &str) -> Value {
    let connection = connected(&connect(server, tenant, &org.url).await);
    let (status, created) = install(
        server,
        json!({
            "tenant": tenant,
            "workflow": "lead-intake",
            "config": { "source": source },
            "connections": { "salesforce": connection }
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

#[tokio::test]
async fn each_installation_runs_with_its_own_config_in_its_own_tenants_org() {
    let (orgs, server) = serve_lead_intake(2).await;
    let acme = installed(&server, "acme", &orgs[0], "Acme web").await;
    let globex = installed(&server, "globex", &orgs[1], "Globex partners").await;
    let acme_id = acme["installation"]["id"].as_str().unwrap();
    let globex_id = globex["installation"]["id"].as_str().unwrap();
    assert_eq!(
        acme["installation"]["config"],
        json!({ "source": "Acme web", "rating": "Warm" })
    );
    assert_eq!(acme["installation"]["status"], "enabled");
    let acme_path = acme["installation"]["path"].as_str().unwrap().to_owned();
    assert_eq!(acme_path, format!("/hooks/lead-intake/{acme_id}"));
    let acme_secret = acme["webhook_secret"].as_str().unwrap();
    let globex_secret = globex["webhook_secret"].as_str().unwrap();

    let (status, accepted) = post(
        &server,
        &acme_path,
        Some(acme_secret),
        json!({ "name": "Lovelace" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run = server.finished(accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["tenant"], "acme");
    assert_eq!(run["installation"], acme_id);

    // The Lead is in acme's org only, made with acme's config.
    let in_acme = leads(&orgs[0]);
    assert_eq!(in_acme.len(), 1, "{in_acme:?}");
    assert_eq!(in_acme[0]["LastName"], "Lovelace");
    assert_eq!(in_acme[0]["Company"], "acme");
    assert_eq!(in_acme[0]["LeadSource"], "Acme web");
    assert_eq!(in_acme[0]["Description"], acme_id);
    assert!(leads(&orgs[1]).is_empty());

    let globex_path = format!("/hooks/lead-intake/{globex_id}");
    let (status, accepted) = post(
        &server,
        &globex_path,
        Some(globex_secret),
        json!({ "name": "Babbage" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    server.finished(accepted["run_id"].as_str().unwrap()).await;
    let in_globex = leads(&orgs[1]);
    assert_eq!(in_globex.len(), 1);
    assert_eq!(in_globex[0]["LeadSource"], "Globex partners");
    assert_eq!(leads(&orgs[0]).len(), 1);

    // Runs are listed by tenant and by installation.
    let (_, by_tenant) = server.get("/api/runs?tenant=globex").await;
    let runs = by_tenant["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["installation"], globex_id);
    let (_, by_installation) = server
        .get(&format!("/api/runs?installation={acme_id}"))
        .await;
    assert_eq!(by_installation["runs"].as_array().unwrap().len(), 1);
    assert_eq!(by_installation["runs"][0]["tenant"], "acme");
    let (status, _) = server.get("/api/runs?installation=not-one").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Listed by tenant and workflow, the secrets never shown again.
    let (_, listed) = server.get("/api/installations?tenant=acme").await;
    let listed = listed["installations"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], acme_id);
    let (_, shown) = server.get(&format!("/api/installations/{acme_id}")).await;
    assert_eq!(shown["runs"], json!({ "succeeded": 1 }), "{shown}");
    let (_, all) = server.get("/api/installations?workflow=lead-intake").await;
    assert_eq!(all["installations"].as_array().unwrap().len(), 2);
    assert!(!all.to_string().contains(acme_secret));
}

#[tokio::test]
async fn a_webhook_takes_only_its_own_installations_secret_and_a_paused_one_answers_409() {
    let (orgs, server) = serve_lead_intake(2).await;
    let acme = installed(&server, "acme", &orgs[0], "web").await;
    let globex = installed(&server, "globex", &orgs[1], "web").await;
    let acme_id = acme["installation"]["id"].as_str().unwrap();
    let acme_path = format!("/hooks/lead-intake/{acme_id}");
    let acme_secret = acme["webhook_secret"].as_str().unwrap();
    let lead = json!({ "name": "Lovelace" });

    for (secret, why) in [
        (None, "needs `Authorization: Bearer"),
        (
            Some("whsec_wrong"),
            "not this installation's webhook secret",
        ),
        (
            globex["webhook_secret"].as_str(),
            "not this installation's webhook secret",
        ),
    ] {
        let (status, refused) = post(&server, &acme_path, secret, lead.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
        assert!(
            refused["error"].as_str().unwrap().contains(why),
            "{refused}"
        );
    }
    let (status, refused) = post(
        &server,
        "/hooks/lead-intake/ins_unknown",
        Some(acme_secret),
        lead.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    let (status, refused) = post(
        &server,
        "/hooks/lead-intake",
        Some(acme_secret),
        lead.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("/hooks/lead-intake/{installation_id}"),
        "{refused}"
    );
    assert_eq!(server.run_count().await, 0);

    // Paused: 409, nothing stored; resumed: taken again.
    let (status, paused) = act(&server, acme_id, "pause").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["status"], "paused");
    let (status, refused) = post(&server, &acme_path, Some(acme_secret), lead.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        refused["error"].as_str().unwrap().contains("is paused"),
        "{refused}"
    );
    assert_eq!(server.run_count().await, 0);
    let (status, resumed) = act(&server, acme_id, "resume").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resumed["status"], "enabled");
    let (status, _) = post(&server, &acme_path, Some(acme_secret), lead.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // A rotated secret replaces the old one at once.
    let (status, rotated) = act(&server, acme_id, "rotate-secret").await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = rotated["webhook_secret"].as_str().unwrap();
    assert_ne!(new_secret, acme_secret);
    let (status, _) = post(&server, &acme_path, Some(acme_secret), lead.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = post(&server, &acme_path, Some(new_secret), lead.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn an_unguessable_url_needs_no_secret_and_a_wrong_token_is_unknown() {
    let (orgs, server) = serve_lead_intake(1).await;
    let connection = connected(&connect(&server, "acme", &orgs[0].url).await);
    let (status, created) = install(
        &server,
        json!({
            "tenant": "acme", "workflow": "lead-intake", "config": { "source": "form" },
            "connections": { "salesforce": connection }, "unguessable_url": true
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = created["unguessable_path"].as_str().unwrap().to_owned();
    let id = created["installation"]["id"].as_str().unwrap();
    assert!(
        path.starts_with(&format!("/hooks/lead-intake/{id}/url_")),
        "{path}"
    );
    let (status, accepted) = post(&server, &path, None, json!({ "name": "Hopper" })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    server.finished(accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(leads(&orgs[0]).len(), 1);
    let wrong = format!("/hooks/lead-intake/{id}/url_guessed");
    let (status, _) = post(&server, &wrong, None, json!({ "name": "Hopper" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn config_and_bindings_are_checked_and_every_config_error_has_its_path() {
    let (orgs, server) = serve_lead_intake(2).await;
    let acme = connected(&connect(&server, "acme", &orgs[0].url).await);
    let globex = connected(&connect(&server, "globex", &orgs[1].url).await);
    let request = |config: Value, connection: &str| {
        json!({ "tenant": "acme", "workflow": "lead-intake", "config": config,
                "connections": { "salesforce": connection } })
    };

    let (status, refused) = install(
        &server,
        request(json!({ "rating": "Lukewarm", "extra": 1 }), &acme),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let paths: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["path"].as_str().unwrap())
        .collect();
    for expected in ["config", "config.rating"] {
        assert!(paths.contains(&expected), "{expected} in {refused}");
    }
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("\"source\" is a required property"),
        "{refused}"
    );

    let (status, refused) = install(&server, request(json!({ "source": "web" }), &globex)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("is not one of tenant `acme`'s"),
        "{refused}"
    );
    let (status, refused) = install(
        &server,
        json!({ "tenant": "acme", "workflow": "lead-intake", "config": { "source": "web" } }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("needs a connection for its `salesforce` slot"),
        "{refused}"
    );
    let (status, _) = install(&server, request(json!({ "source": "web" }), "con_nothere")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, refused) = install(&server, json!({ "tenant": "acme", "workflow": "nope" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    let (status, _) = install(&server, json!({ "tenant": "", "workflow": "lead-intake" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(
        &server,
        "/api/installations",
        None,
        json!({ "tenant": "acme", "workflow": "lead-intake", "unknown": 1 }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, listed) = server.get("/api/installations").await;
    assert!(listed["installations"].as_array().unwrap().is_empty());

    // A change is checked against the pinned version's schema too.
    let (status, created) = install(&server, request(json!({ "source": "web" }), &acme)).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["installation"]["id"].as_str().unwrap();
    let patch = |body: Value| {
        let url = format!("{}/api/installations/{id}", server.base);
        server.client.patch(url).json(&body).send()
    };
    let refused = patch(json!({ "config": { "source": "" } })).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let changed: Value = patch(json!({ "config": { "source": "events", "rating": "Hot" } }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        changed["config"],
        json!({ "source": "events", "rating": "Hot" })
    );
    let (_, shown) = server.get(&format!("/api/installations/{id}")).await;
    assert_eq!(shown["config"]["rating"], "Hot");
}

/// Writes `workflows` into a fresh folder of `server`'s and returns it.
fn workflows_dir(server: &Server, workflows: &[Value]) -> std::path::PathBuf {
    let dir = server.dir.path().join("installed-workflows");
    std::fs::create_dir_all(&dir).unwrap();
    for workflow in workflows {
        let path = dir.join(format!("{}.json", workflow["id"].as_str().unwrap()));
        std::fs::write(path, workflow.to_string()).unwrap();
    }
    dir
}

/// A workflow installed per tenant, started by `trigger`, whose one step
/// creates a Task named `{kind} {tenant} {what}` in the tenant's org.
fn task_workflow(id: &str, kind: &str, trigger: Value, what: &str) -> Value {
    json!({
        "id": id,
        "trigger": trigger,
        "connections": { "salesforce": {} },
        "config": { "type": "object" },
        "steps": [{
            "id": "task",
            "uses": "builtin:salesforce",
            "with": {
                "action": "create",
                "sobject": "Task",
                "record": { "Subject": format!("{kind} ${{tenant}} {what}"), "Status": "Not Started" }
            },
            "permissions": { "salesforce": { "write": ["Task"] } }
        }]
    })
}

/// An Outbound Message rule posting new Leads' LastName to `endpoint`.
fn outbound_rule(endpoint: &str) -> sf_emulator::outbound::OutboundRule {
    sf_emulator::outbound::OutboundRule {
        object: "Lead".to_owned(),
        fields: vec!["LastName".to_owned()],
        endpoint: endpoint.to_owned(),
        on_create: true,
        on_update: false,
        send_session_id: false,
        organization_id: None,
    }
}

/// The Subjects of `org`'s Tasks.
fn task_subjects(org: &Running) -> Vec<String> {
    let org = org.emulator.org();
    let object = org.object("Task").unwrap();
    org.records(object, false)
        .filter_map(|task| task["Subject"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn every_trigger_kind_reaches_only_its_installation_and_its_tenants_org() {
    let orgs = orgs(3).await;
    // The orgs' Pub/Sub API, which tells them apart by each call's org id.
    let listen = sf_emulator::pubsub::Listen {
        plaintext: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
        tls: None,
    };
    let emulators = orgs.iter().map(|org| org.emulator.clone()).collect();
    let pubsub = sf_emulator::pubsub::serve(emulators, &listen)
        .await
        .unwrap();
    let pubsub_url = pubsub.plaintext_url.clone().unwrap();
    let server = serve_connect(&orgs, move |config| config.pubsub.url = pubsub_url).await;
    let every_second = "* * * * * *";
    let workflows = [
        task_workflow(
            "hook-task",
            "hook",
            json!({ "webhook": {} }),
            "${trigger.body.n}",
        ),
        task_workflow(
            "om-task",
            "om",
            json!({ "outbound_message": { "sobject": "Lead" } }),
            "${trigger.record.LastName}",
        ),
        task_workflow(
            "tick-task",
            "tick",
            json!({ "schedule": { "cron": every_second, "jitter": "0s" } }),
            "${installation.id}",
        ),
        task_workflow(
            "poll-task",
            "poll",
            json!({ "salesforce_poll": {
                "sobject": "Lead", "on": "created", "fields": ["LastName"],
                "every": every_second, "jitter": "0s"
            } }),
            "${trigger.record.LastName}",
        ),
        task_workflow(
            "events-task",
            "events",
            json!({ "salesforce_events": { "topic": "/data/LeadChangeEvent" } }),
            "${trigger.payload.Name.LastName}",
        ),
    ];
    server
        .engine
        .load_dir(&workflows_dir(&server, &workflows))
        .await
        .unwrap();
    let tenants = ["acme", "globex", "initech"];
    let mut hooks = Vec::new();
    let mut outbound_paths = Vec::new();
    for (tenant, org) in tenants.iter().zip(&orgs) {
        let connection = connected(&connect(&server, tenant, &org.url).await);
        for workflow in [
            "hook-task",
            "om-task",
            "tick-task",
            "poll-task",
            "events-task",
        ] {
            let (status, created) = install(
                &server,
                json!({ "tenant": tenant, "workflow": workflow, "connections": { "salesforce": connection } }),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            let id = created["installation"]["id"].as_str().unwrap().to_owned();
            match workflow {
                "hook-task" => {
                    hooks.push((id, created["webhook_secret"].as_str().unwrap().to_owned()))
                }
                "om-task" => {
                    let endpoint = format!("{}/salesforce/outbound/om-task/{id}", server.base);
                    org.emulator.add_outbound_rule(outbound_rule(&endpoint));
                    outbound_paths.push(endpoint);
                }
                _ => {}
            }
        }
    }
    // Globex's org also posts its leads to acme's installation: refused,
    // for only acme's connection's org may post there.
    orgs[1]
        .emulator
        .add_outbound_rule(outbound_rule(&outbound_paths[0]));
    // The polls have read once; then each org gets a Lead of its own.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for ((tenant, org), (id, secret)) in tenants.iter().zip(&orgs).zip(&hooks) {
        let fields = serde_json::from_value(
            json!({ "LastName": format!("lead-of-{tenant}"), "Company": tenant }),
        )
        .unwrap();
        org.emulator.org().create("Lead", &fields).unwrap();
        let path = format!("/hooks/hook-task/{id}");
        let (status, accepted) = post(&server, &path, Some(secret), json!({ "n": 1 })).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    }

    for (tenant, org) in tenants.iter().zip(&orgs) {
        let expected = [
            format!("hook {tenant} 1"),
            format!("om {tenant} lead-of-{tenant}"),
            format!("poll {tenant} lead-of-{tenant}"),
            format!("events {tenant} lead-of-{tenant}"),
        ];
        let subjects = crate::support::eventually(
            &format!("{tenant}'s org gets a Task of every trigger kind"),
            std::time::Duration::from_secs(30),
            || async {
                let subjects = task_subjects(org);
                let all = expected.iter().all(|subject| subjects.contains(subject))
                    && subjects
                        .iter()
                        .any(|subject| subject.starts_with(&format!("tick {tenant} ins_")));
                all.then_some(subjects)
            },
        )
        .await;
        // Nothing of another tenant's reached this org.
        for subject in &subjects {
            assert!(
                subject.split(' ').nth(1) == Some(*tenant),
                "{subject} in {tenant}'s org"
            );
        }
        assert!(
            org.emulator
                .requests()
                .iter()
                .any(|request| request.uri.starts_with("/services/data"))
        );
    }

    assert!(!task_subjects(&orgs[0]).contains(&"om acme lead-of-globex".to_owned()));
    let refused = crate::support::eventually(
        "globex's message to acme's installation refused",
        std::time::Duration::from_secs(10),
        || async {
            let deliveries = orgs[1].emulator.outbound_deliveries();
            deliveries
                .into_iter()
                .find(|delivery| delivery.rule == 1 && delivery.error.is_some())
        },
    )
    .await;
    assert!(!refused.acknowledged, "{refused:?}");

    // Each installation's runs carry it, and its tenant.
    let (_, installations) = server.get("/api/installations").await;
    for installation in installations["installations"].as_array().unwrap() {
        let id = installation["id"].as_str().unwrap();
        let (_, runs) = server
            .get(&format!("/api/runs?installation={id}&limit=1000"))
            .await;
        let runs = runs["runs"].as_array().unwrap();
        assert!(!runs.is_empty(), "{installation}");
        for run in runs {
            assert_eq!(run["installation"], id);
            assert_eq!(run["tenant"], installation["tenant"]);
            assert_eq!(run["workflow"], installation["workflow"]);
        }
    }
}

/// A workflow installed per tenant (settings only, no connection) whose
/// step counts its runs in its state.
fn counter(id: &str, trigger: Value) -> Value {
    json!({
        "id": id,
        "trigger": trigger,
        "config": { "type": "object" },
        "steps": [{ "id": "count", "uses": gust_tests::guests::MISBEHAVE, "with": { "act": "count" } }]
    })
}

/// Installs `workflow` for `tenant` with no connection; its id and secret.
async fn install_plain(server: &Server, tenant: &str, workflow: &str) -> (String, String) {
    let (status, created) =
        install(server, json!({ "tenant": tenant, "workflow": workflow })).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["installation"]["id"].as_str().unwrap().to_owned(),
        created["webhook_secret"].as_str().unwrap().to_owned(),
    )
}

/// Posts to `installation`'s `counter` hook and waits for the count.
async fn count(server: &Server, installation: &(String, String)) -> Value {
    let (id, secret) = installation;
    let (status, accepted) = post(
        server,
        &format!("/hooks/counter/{id}"),
        Some(secret),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run = server.finished(accepted["run_id"].as_str().unwrap()).await;
    run["output"]["count"].clone()
}

async fn runs_of(server: &Server, installation: &str) -> usize {
    let (_, runs) = server
        .get(&format!("/api/runs?installation={installation}&limit=1000"))
        .await;
    runs["runs"].as_array().unwrap().len()
}

#[tokio::test]
async fn state_is_kept_per_installation_and_deleting_one_removes_its_state_and_with_purge_its_runs()
{
    let server = Server::start(&[counter("counter", json!({ "webhook": {} }))]).await;
    let a = install_plain(&server, "acme", "counter").await;
    let b = install_plain(&server, "globex", "counter").await;
    for expected in 1..=3 {
        assert_eq!(count(&server, &a).await, expected);
    }
    assert_eq!(count(&server, &b).await, 1);

    let delete = |id: &str, purge: bool| {
        let url = format!("{}/api/installations/{id}?purge={purge}", server.base);
        server.client.delete(url).send()
    };
    let deleted: Value = delete(&a.0, false).await.unwrap().json().await.unwrap();
    assert_eq!(deleted["state_entries"], 1, "{deleted}");
    assert_eq!(deleted["runs_removed"], 0);
    let (status, _) = post(
        &server,
        &format!("/hooks/counter/{}", a.0),
        Some(&a.1),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(runs_of(&server, &a.0).await, 3, "runs stay until retention");
    let (status, _) = server.get(&format!("/api/installations/{}", a.0)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let deleted: Value = delete(&b.0, true).await.unwrap().json().await.unwrap();
    assert_eq!(deleted["runs_removed"], 1, "{deleted}");
    assert_eq!(runs_of(&server, &b.0).await, 0);
    let response = delete(&b.0, true).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // The tenant installs again: a new installation, with fresh state.
    let again = install_plain(&server, "acme", "counter").await;
    assert_eq!(count(&server, &again).await, 1);
}

#[tokio::test]
async fn a_paused_installations_schedule_stops_and_others_go_on() {
    let schedule = json!({ "schedule": { "cron": "* * * * * *", "jitter": "0s" } });
    let server = Server::start(&[counter("ticker", schedule)]).await;
    let (paused, _) = install_plain(&server, "acme", "ticker").await;
    let (running, _) = install_plain(&server, "globex", "ticker").await;
    crate::support::eventually(
        "both installations tick",
        std::time::Duration::from_secs(10),
        || async {
            (runs_of(&server, &paused).await >= 2 && runs_of(&server, &running).await >= 2)
                .then_some(())
        },
    )
    .await;
    let (status, view) = act(&server, &paused, "pause").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    // A fire in flight when it was paused may still land; then nothing.
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let at_pause = runs_of(&server, &paused).await;
    let others = runs_of(&server, &running).await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(runs_of(&server, &paused).await, at_pause);
    assert!(runs_of(&server, &running).await >= others + 2);
    assert!(
        server
            .engine
            .trigger_status(&format!("ticker/{paused}"))
            .is_none()
    );
    assert!(
        server
            .engine
            .trigger_status(&format!("ticker/{running}"))
            .is_some()
    );

    act(&server, &paused, "resume").await;
    crate::support::eventually(
        "the resumed installation ticks",
        std::time::Duration::from_secs(10),
        || async { (runs_of(&server, &paused).await > at_pause).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn one_installations_flood_does_not_hold_up_another() {
    let mut workflow = json!({
        "id": "busy",
        "trigger": { "webhook": {} },
        "config": { "type": "object" },
        "concurrency": 4,
        "steps": [{ "id": "work", "uses": gust_tests::guests::MISBEHAVE,
                    "with": { "act": "record", "key": "${trigger.n}", "sleep_ms": 1 } }]
    });
    workflow["installation_concurrency"] = json!(2);
    let server = Server::start(&[workflow]).await;
    let (flood, _) = install_plain(&server, "flood", "busy").await;
    let (few, _) = install_plain(&server, "few", "busy").await;
    let installations = server.engine.installations();
    let mut flooded = Vec::new();
    for n in 0..5000 {
        let accepted = installations
            .submit(&flood, json!({ "n": n }), None)
            .await
            .unwrap();
        flooded.push(accepted.run().id);
    }
    let mut small = Vec::new();
    for n in 0..50 {
        let accepted = installations
            .submit(&few, json!({ "n": n }), None)
            .await
            .unwrap();
        small.push(accepted.run().id);
    }
    for id in flooded.iter().chain(&small) {
        let ended = server
            .engine
            .wait(*id, std::time::Duration::from_secs(120))
            .await
            .unwrap();
        assert_eq!(ended.map(|run| run.status.as_str()), Some("succeeded"));
    }
    // The flood's runs start in the order they came; the last quarter's first.
    let last_quarter = server
        .engine
        .run_detail(flooded[3750])
        .await
        .unwrap()
        .unwrap();
    let last_quarter_started = last_quarter.steps[0].started_at;
    let mut small_finished = Vec::new();
    for id in &small {
        let run = server.engine.run_detail(*id).await.unwrap().unwrap().run;
        small_finished.push(run.finished_at.unwrap());
    }
    let last_small = small_finished.iter().max().unwrap();
    assert!(
        *last_small < last_quarter_started,
        "the 50 ended at {last_small}, after the flood's last quarter started at {last_quarter_started}"
    );
}

#[tokio::test]
async fn a_connection_needing_reauth_fails_only_its_installations_runs_until_reconnected() {
    let (orgs, server) = serve_lead_intake(2).await;
    let acme = installed(&server, "acme", &orgs[0], "web").await;
    let globex = installed(&server, "globex", &orgs[1], "web").await;
    let acme_path = acme["installation"]["path"].as_str().unwrap().to_owned();
    let acme_secret = acme["webhook_secret"].as_str().unwrap().to_owned();
    let globex_path = globex["installation"]["path"].as_str().unwrap().to_owned();
    let globex_secret = globex["webhook_secret"].as_str().unwrap().to_owned();
    let connection = acme["installation"]["connections"]["salesforce"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = |path: String, secret: String, name: &'static str| {
        let server = &server;
        async move {
            let (status, accepted) =
                post(server, &path, Some(&secret), json!({ "name": name })).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
            server.finished(accepted["run_id"].as_str().unwrap()).await
        }
    };

    // Acme's user revoked the app: its refresh token is refused.
    orgs[0].emulator.sessions().revoke_refresh_tokens();
    orgs[0].emulator.sessions().expire_all();
    let first = run(acme_path.clone(), acme_secret.clone(), "Lovelace").await;
    assert_eq!(first["status"], "failed", "{first}");
    let (_, view) = server.get(&format!("/api/connections/{connection}")).await;
    assert_eq!(view["status"], "needs_reauth");
    // From then on its runs fail at once, sending nothing to its org...
    let data_requests = |org: &Running| {
        org.emulator
            .requests()
            .iter()
            .filter(|r| r.uri.starts_with("/services/data"))
            .count()
    };
    let sent = data_requests(&orgs[0]);
    let second = run(acme_path.clone(), acme_secret.clone(), "Byron").await;
    assert_eq!(second["status"], "failed");
    let error = &second["steps"][0]["attempts"][0]["error"];
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("GUST_NEEDS_REAUTH"),
        "{second}"
    );
    assert_eq!(
        second["steps"][0]["attempts"].as_array().unwrap().len(),
        1,
        "not retried"
    );
    assert_eq!(data_requests(&orgs[0]), sent);
    // ...while the other tenant's go on.
    let other = run(globex_path, globex_secret, "Babbage").await;
    assert_eq!(other["status"], "succeeded", "{other}");

    // Reconnected, the failed run is replayed into acme's org.
    let (status, created) = crate::support::session(
        &server,
        json!({ "tenant": "acme", "login_host": orgs[0].url, "redirect_after": crate::support::DONE,
                "reconnect": connection }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let back = crate::support::follow(created["url"].as_str().unwrap()).await;
    assert_eq!(connected(&back), connection);
    let second_id = second["id"].as_str().unwrap();
    let (status, replayed) = post(
        &server,
        &format!("/api/runs/{second_id}/replay"),
        None,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    let replay = server.finished(replayed["run_id"].as_str().unwrap()).await;
    assert_eq!(replay["status"], "succeeded", "{replay}");
    assert_eq!(replay["installation"], acme["installation"]["id"]);
    let names: Vec<Value> = leads(&orgs[0])
        .iter()
        .map(|lead| lead["LastName"].clone())
        .collect();
    assert_eq!(names, vec![json!("Byron")]);
}

#[tokio::test]
async fn an_installation_runs_its_pinned_version_until_an_upgrade_whose_config_fits() {
    let orgs = orgs(1).await;
    let server = serve_connect(&orgs, |_| {}).await;
    let dir = workflows_dir(&server, &[lead_intake()]);
    server.engine.load_dir(&dir).await.unwrap();
    let installed = installed(&server, "acme", &orgs[0], "web").await;
    let id = installed["installation"]["id"].as_str().unwrap().to_owned();
    let path = installed["installation"]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = installed["webhook_secret"].as_str().unwrap().to_owned();
    let pinned = installed["installation"]["workflow_version"].clone();

    // Version 2 requires a region, and writes it as the LeadSource.
    let mut v2 = lead_intake();
    v2["config"]["required"] = json!(["source", "region"]);
    v2["config"]["properties"]["region"] = json!({ "type": "string", "enum": ["EMEA", "AMER"] });
    v2["steps"][0]["with"]["record"]["LeadSource"] = json!("${config.region}");
    std::fs::write(dir.join("lead-intake.json"), v2.to_string()).unwrap();
    server.engine.load_dir(&dir).await.unwrap();
    let (_, shown) = server.get(&format!("/api/installations/{id}")).await;
    assert_eq!(shown["workflow_version"], pinned);
    let loaded = shown["upgrade_available"].clone();
    assert!(loaded.is_string() && loaded != pinned, "{shown}");

    // Until upgraded, its runs are version 1's.
    let (status, accepted) = post(&server, &path, Some(&secret), json!({ "name": "Pinned" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run = server.finished(accepted["run_id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(leads(&orgs[0])[0]["LeadSource"], "web");

    // Its config lacks the region: the upgrade is refused, at the path.
    let upgrade_path = format!("/api/installations/{id}/upgrade");
    let upgrade = |body: Value| post(&server, &upgrade_path, None, body);
    let (status, refused) = upgrade(json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["errors"][0]["path"], "config", "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("\"region\" is a required property")
    );
    let (status, refused) =
        upgrade(json!({ "config": { "source": "web", "region": "APAC" } })).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["errors"][0]["path"], "config.region", "{refused}");
    let (_, shown) = server.get(&format!("/api/installations/{id}")).await;
    assert_eq!(shown["workflow_version"], pinned, "nothing changed");

    let (status, upgraded) =
        upgrade(json!({ "config": { "source": "web", "region": "EMEA" } })).await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    assert_eq!(upgraded["workflow_version"], loaded);
    assert!(upgraded.get("upgrade_available").is_none());
    let (status, accepted) =
        post(&server, &path, Some(&secret), json!({ "name": "Upgraded" })).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    server.finished(accepted["run_id"].as_str().unwrap()).await;
    let upgraded_lead = leads(&orgs[0])
        .into_iter()
        .find(|lead| lead["LastName"] == "Upgraded")
        .unwrap();
    assert_eq!(upgraded_lead["LeadSource"], "EMEA");
}

/// The inspector's page at `path`: its status, text and session cookie.
async fn inspector_page(server: &Server, path: &str, cookie: &str) -> (StatusCode, String, String) {
    let response = server
        .client
        .get(format!("{}{path}", server.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let set = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map_or_else(|| cookie.to_owned(), str::to_owned);
    (status, response.text().await.unwrap(), set)
}

#[tokio::test]
async fn the_inspector_lists_installations_and_connections_and_makes_a_working_reconnect_link() {
    let (orgs, server) = serve_lead_intake(1).await;
    let acme = installed(&server, "acme", &orgs[0], "web").await;
    let installation = acme["installation"]["id"].as_str().unwrap();
    let connection = acme["installation"]["connections"]["salesforce"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, page, cookie) = inspector_page(&server, "/installations", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("data-installation=\"{installation}\"")),
        "{page}"
    );
    assert!(page.contains("chip enabled"), "{page}");
    assert!(page.contains(&connection), "its connection: {page}");
    assert!(
        !page.contains(acme["webhook_secret"].as_str().unwrap()),
        "no secret"
    );
    let (_, other, _) = inspector_page(&server, "/installations?tenant=globex", &cookie).await;
    assert!(other.contains("No installation."), "{other}");

    let (_, page, _) = inspector_page(&server, "/connections?tenant=acme", &cookie).await;
    assert!(
        page.contains(&format!("data-connection=\"{connection}\"")),
        "{page}"
    );
    assert!(page.contains("chip active"), "{page}");

    // Acme's user revoked the app: the page says the connection needs
    // its user again, and makes a link that reconnects it.
    orgs[0].emulator.sessions().revoke_refresh_tokens();
    orgs[0].emulator.sessions().expire_all();
    let (_, checked) = server.get(&format!("/api/connections/{connection}")).await;
    let path = format!("/api/connections/{connection}/check");
    server.post(&path).json(&json!({})).send().await.unwrap();
    let (_, page, _) = inspector_page(&server, "/connections?tenant=acme", &cookie).await;
    assert!(page.contains("chip needs_reauth"), "{checked} {page}");
    let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &page[at..at + 64];
    let reconnect = format!("{}/connections/{connection}/reconnect", server.base);
    let forged = server
        .client
        .post(&reconnect)
        .header("cookie", &cookie)
        .form(&[("csrf", "0".repeat(64))])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let made = server
        .client
        .post(&reconnect)
        .header("cookie", &cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::OK);
    let made = made.text().await.unwrap();
    let start = made
        .find("/connect/salesforce/start/")
        .expect("a connect link");
    let url_start = made[..start].rfind("value=\"").unwrap() + 7;
    let url_end = url_start + made[url_start..].find('"').unwrap();
    let url = &made[url_start..url_end];
    // The customer's browser, through Salesforce's login and back to
    // Gust's own end page.
    let done = reqwest::get(url).await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    let query = done.url().query().unwrap_or_default().to_owned();
    assert!(
        done.url().path().ends_with("/connect/done"),
        "{}",
        done.url()
    );
    assert_eq!(query, format!("connection_id={connection}"));
    // A call on it (a check, written at once): Salesforce's usage figures
    // come back with it, and the page draws them as a gauge.
    let (status, checked) = post(&server, &path, None, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    let (_, page, _) = inspector_page(&server, "/connections?tenant=acme", &cookie).await;
    assert!(page.contains("chip active"), "reconnected: {page}");
    assert!(page.contains("<meter"), "the API use: {page}");
    assert!(page.contains("data-api-used="), "{page}");
}
