//! The Salesforce client against sf-emulator, without the engine: every
//! action, pages, composite, auth grants and refresh, retries, the API
//! budget, Bulk API 2.0.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gust_salesforce::{
    Auth, Client, Connection, SalesforceError, Secret, WriteOperation, WriteOptions,
};
use serde_json::{Value, json};
use sf_emulator::faults::{Fault, FaultKind};
use sf_emulator::seed::Seed;
use sf_emulator::{Config, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, Emulator};

use support::{Sf, connection, quick_retries};

/// An emulator whose Account has the external id field `Erp_Id__c`.
fn with_erp_id(config: Config) -> Emulator {
    let seed: Seed = serde_json::from_value(json!({
        "fields": { "Account": [{ "name": "Erp_Id__c", "type": "string", "external_id": true, "unique": true }] }
    }))
    .unwrap();
    Emulator::with_seed(config, &seed).unwrap()
}

fn lead(last_name: &str) -> Value {
    json!({ "LastName": last_name, "Company": "Analytical Engines" })
}

#[tokio::test]
async fn every_action_works_against_the_emulator() {
    let sf = Sf::start_with(with_erp_id(Config::default())).await;
    let client = &sf.client;

    let id = client.create("Lead", &lead("Lovelace")).await.unwrap();
    assert_eq!(id.len(), 18);
    assert!(id.starts_with("00Q"));
    client
        .update("Lead", &id, &json!({ "Rating": "Hot" }))
        .await
        .unwrap();
    let read = client
        .get("Lead", &id, &["LastName".to_owned(), "Rating".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        (read["LastName"].clone(), read["Rating"].clone()),
        (json!("Lovelace"), json!("Hot"))
    );

    let first = client
        .upsert("Account", "Erp_Id__c", "E 1/2", &json!({ "Name": "Acme" }))
        .await
        .unwrap();
    assert!(first.created);
    let again = client
        .upsert(
            "Account",
            "Erp_Id__c",
            "E 1/2",
            &json!({ "Name": "Acme Corp" }),
        )
        .await
        .unwrap();
    assert_eq!(
        (again.id.as_str(), again.created),
        (first.id.as_str(), false)
    );

    let records: Value = serde_json::from_str(
        &client
            .query_json(
                "SELECT Id, Name FROM Account WHERE Erp_Id__c = 'E 1/2'",
                false,
                1 << 20,
            )
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(records[0]["Name"], "Acme Corp");
    assert_eq!(records.as_array().unwrap().len(), 1);

    let describe = client.describe("Lead").await.unwrap();
    assert_eq!(describe["name"], "Lead");
    let again = client.describe("lead").await.unwrap();
    assert!(Arc::ptr_eq(&describe, &again), "served from the cache");
    assert_eq!(sf.count("/sobjects/Lead/describe"), 1);

    let limits = client.limits().await.unwrap();
    assert!(limits["DailyApiRequests"]["Max"].as_u64().unwrap() > 0);
    let raw = client
        .request("get", "/services/data/v60.0/sobjects/Lead/describe", None)
        .await
        .unwrap();
    assert_eq!(raw["name"], "Lead");
    let refused = client
        .request("GET", "https://example.com/services/data", None)
        .await
        .unwrap_err();
    assert_eq!(refused.error_code, "GUST_BAD_REQUEST");

    let composite = client
        .composite(
            true,
            vec![
                json!({ "method": "POST", "url": "/services/data/v60.0/sobjects/Account",
                        "referenceId": "acct", "body": { "Name": "Babbage Ltd" } }),
                json!({ "method": "POST", "url": "/services/data/v60.0/sobjects/Contact",
                        "referenceId": "ct", "body": { "LastName": "Babbage", "AccountId": "@{acct.id}" } }),
            ],
        )
        .await
        .unwrap();
    assert_eq!(composite.len(), 2);
    assert_eq!(composite[1]["httpStatusCode"], 201);
    let too_many = client
        .composite(false, vec![json!({}); 26])
        .await
        .unwrap_err();
    assert_eq!(too_many.error_code, "GUST_BAD_REQUEST");

    client.delete("Lead", &id).await.unwrap();
    let gone = client.get("Lead", &id, &[]).await.unwrap_err();
    assert_eq!((gone.status, gone.error_code.as_str()), (404, "NOT_FOUND"));
    let bad_query = client
        .query_json("SELECT FROM Lead", false, 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(
        (bad_query.status, bad_query.error_code.as_str()),
        (400, "MALFORMED_QUERY")
    );
    let bad_field = client
        .create("Lead", &json!({ "Nope__c": 1 }))
        .await
        .unwrap_err();
    assert_eq!(bad_field.error_code, "INVALID_FIELD");
    assert!(!bad_field.is_retryable());

    let stats = client.stats();
    assert_eq!(stats.requests as usize, sf.count("/services/data"));
    let usage = stats.api_usage.unwrap();
    assert_eq!(usage.max, 15_000);
    assert_eq!(usage.used, sf.emulator().api_requests());
}

#[tokio::test]
async fn collections_return_one_result_per_record_in_order() {
    let sf = Sf::start().await;
    let records = vec![lead("A"), json!({ "Company": "No name" }), lead("C")];
    let results = sf
        .client
        .write_many(
            WriteOperation::Insert,
            "Lead",
            records.clone(),
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    let shape: Vec<(bool, bool)> = results
        .iter()
        .map(|r| {
            (
                r["success"].as_bool().unwrap(),
                r["created"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(shape, [(true, true), (false, false), (true, true)]);
    assert_eq!(
        results[1]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );

    let all_or_none = WriteOptions {
        all_or_none: true,
        ..WriteOptions::default()
    };
    let results = sf
        .client
        .write_many(WriteOperation::Insert, "Lead", records, &all_or_none)
        .await
        .unwrap();
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r["errors"][0]["statusCode"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "REQUIRED_FIELD_MISSING",
            "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        ]
    );
    let ids: Vec<Value> = sf
        .client
        .write_many(
            WriteOperation::Insert,
            "Lead",
            (0..450).map(|i| lead(&format!("L{i}"))).collect(),
            &WriteOptions::default(),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids.len(), 450);
    assert_eq!(
        sf.count("POST /services/data/v60.0/composite/sobjects 200"),
        2 + 3
    );
    let deleted = sf
        .client
        .write_many(
            WriteOperation::Delete,
            "Lead",
            ids,
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    assert!(deleted.iter().all(|r| r["success"] == true));
    let left = sf
        .client
        .query_json("SELECT Id FROM Lead", false, 1 << 20)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&left)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let too_many = sf
        .client
        .write_many(
            WriteOperation::Insert,
            "Lead",
            vec![lead("x"); 201],
            &all_or_none,
        )
        .await
        .unwrap_err();
    assert!(
        too_many.message.contains("at most 200 records"),
        "{too_many}"
    );
}

#[tokio::test]
async fn a_query_over_5000_records_follows_every_page() {
    let sf = Sf::start().await;
    {
        let mut org = sf.emulator().org();
        for i in 0..5_200 {
            let mut fields = serde_json::Map::new();
            fields.insert("LastName".into(), json!(format!("L{i:05}")));
            fields.insert("Company".into(), json!("Acme"));
            org.create("Lead", &fields).unwrap();
        }
    }
    let soql = "SELECT Id, LastName FROM Lead ORDER BY LastName";
    let mut pages = sf.client.query_pages(soql, false);
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    while let Some(page) = pages.next_page().await {
        let page = page.unwrap();
        sizes.push(page.len());
        names.extend(
            page.into_iter()
                .map(|r| r["LastName"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(sizes, [2000, 2000, 1200]);
    assert_eq!(pages.total_size(), Some(5_200));
    let expected: Vec<String> = (0..5_200).map(|i| format!("L{i:05}")).collect();
    assert_eq!(names, expected);
    assert_eq!(sf.count("GET /services/data/v60.0/query?q="), 1);
    assert_eq!(sf.count("GET /services/data/v60.0/query/01g"), 2);

    let all: Value =
        serde_json::from_str(&sf.client.query_json(soql, false, 8 << 20).await.unwrap()).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 5_200);
    let too_large = sf
        .client
        .query_json(soql, false, 64 * 1024)
        .await
        .unwrap_err();
    assert_eq!(too_large.error_code, "GUST_RESULT_TOO_LARGE");
    assert!(too_large.message.contains("5200 records"), "{too_large}");
}

#[tokio::test]
async fn a_query_too_long_for_a_url_goes_in_a_composite_body() {
    let sf = Sf::start().await;
    sf.client.create("Lead", &lead("Needle")).await.unwrap();
    let names: Vec<String> = (0..1_500).map(|i| format!("'Name number {i}'")).collect();
    let soql = format!(
        "SELECT Id, LastName FROM Lead WHERE LastName IN ({}, 'Needle')",
        names.join(", ")
    );
    assert!(soql.len() > 16_384);
    let found: Value =
        serde_json::from_str(&sf.client.query_json(&soql, false, 1 << 20).await.unwrap()).unwrap();
    assert_eq!(found[0]["LastName"], "Needle");
    assert_eq!(sf.count("POST /services/data/v60.0/composite 200"), 1);
    assert_eq!(
        sf.count(" 414"),
        0,
        "sent in a body without trying the URL first"
    );

    // A server with a lower limit than Salesforce's answers 414: the query
    // is sent again in a body rather than failing.
    let strict = Sf::start_with(Emulator::new(Config {
        max_uri_bytes: 2_000,
        ..Config::default()
    }))
    .await;
    strict.client.create("Lead", &lead("Needle")).await.unwrap();
    let soql = format!(
        "SELECT Id, LastName FROM Lead WHERE LastName IN ({}, 'Needle')",
        names[..100].join(", ")
    );
    let found: Value = serde_json::from_str(
        &strict
            .client
            .query_json(&soql, false, 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(found[0]["LastName"], "Needle");
    let refused = strict
        .log()
        .iter()
        .filter(|line| line.contains("/query?q=") && line.ends_with(" 414"))
        .count();
    assert_eq!(refused, 1, "{:#?}", strict.log());
    assert_eq!(strict.count("POST /services/data/v60.0/composite 200"), 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_for_20_concurrent_calls() {
    let sf = Sf::start().await;
    let id = sf.client.create("Lead", &lead("Lovelace")).await.unwrap();
    sf.emulator().sessions().expire_all();
    let calls = (0..20).map(|_| {
        let client = sf.client.clone();
        let id = id.clone();
        tokio::spawn(async move { client.get("Lead", &id, &["LastName".to_owned()]).await })
    });
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap()["LastName"], "Lovelace");
    }
    assert_eq!(
        sf.count("POST /services/oauth2/token"),
        2,
        "{:#?}",
        sf.log()
    );
    assert_eq!(sf.client.stats().refreshes, 1);
    assert_eq!(sf.client.instance_url().await.unwrap(), sf.running.url);
}

#[tokio::test]
async fn every_grant_logs_in_and_keeps_the_instance_url() {
    let sf = Sf::start().await;
    let refresh_token = sf
        .emulator()
        .sessions()
        .issue_refresh_token(DEFAULT_CLIENT_ID);
    let access_token = sf.emulator().sessions().issue_access_token();
    let url = &sf.running.url;
    let mut jwt = Connection::new(
        url,
        Auth::JwtBearer {
            client_id: DEFAULT_CLIENT_ID.into(),
            username: sf_emulator::DEFAULT_USERNAME.into(),
            private_key: Secret::new(include_str!("../src/testdata/jwt-test-key.pem")),
        },
    );
    jwt.retry = quick_retries();
    let mut refresh = Connection::new(
        url,
        Auth::RefreshToken {
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: Some(Secret::new(DEFAULT_CLIENT_SECRET)),
            refresh_token: Secret::new(refresh_token),
        },
    );
    refresh.retry = quick_retries();
    let mut fixed = Connection::new(
        "https://login.invalid",
        Auth::AccessToken(Secret::new(access_token)),
    );
    fixed.instance_url = Some(url.clone());
    for connection in [jwt, refresh, fixed] {
        let name = format!("{:?}", connection.auth)
            .split([' ', '('])
            .next()
            .unwrap()
            .to_owned();
        let client = Client::new(connection).unwrap();
        let limits = client
            .limits()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(limits["DailyApiRequests"].is_object(), "{name}");
        assert_eq!(client.instance_url().await.unwrap(), *url, "{name}");
    }
    // A refreshing grant recovers from an expired session; a fixed token cannot.
    sf.emulator().sessions().expire_all();
    let mut fixed = Connection::new(url, Auth::AccessToken(Secret::new("00D!expired")));
    fixed.instance_url = Some(url.clone());
    let error = Client::new(fixed).unwrap().limits().await.unwrap_err();
    assert_eq!(
        (error.status, error.error_code.as_str()),
        (401, "INVALID_SESSION_ID")
    );
    assert!(error.message.contains("cannot refresh"), "{error}");
}

#[tokio::test]
async fn a_refused_login_is_an_error_and_is_not_retried() {
    let sf = Sf::start().await;
    let mut connection = connection(&sf.running.url);
    connection.auth = Auth::ClientCredentials {
        client_id: DEFAULT_CLIENT_ID.into(),
        client_secret: Secret::new("wrong"),
    };
    let error = Client::new(connection).unwrap().limits().await.unwrap_err();
    assert_eq!(error.error_code, "invalid_client");
    assert!(error.message.starts_with("logging in at "), "{error}");
    assert!(!format!("{error:?}").contains("wrong"));
    assert_eq!(sf.count("POST /services/oauth2/token"), 1);
    assert_eq!(sf.count("/services/data"), 0);
}

#[tokio::test]
async fn transient_faults_are_retried_to_success() {
    let sf = Sf::start().await;
    let inject = |method, kind| {
        sf.emulator().inject(Fault {
            path: "/sobjects/Lead".into(),
            method: Some(method),
            kind,
            times: Some(2),
        })
    };
    inject(reqwest::Method::POST, FaultKind::Unavailable);
    inject(reqwest::Method::PATCH, FaultKind::UnableToLockRow);
    let id = sf.client.create("Lead", &lead("Lovelace")).await.unwrap();
    sf.client
        .update("Lead", &id, &json!({ "Rating": "Warm" }))
        .await
        .unwrap();
    let writes: Vec<String> = sf
        .log()
        .into_iter()
        .filter(|line| line.contains("/sobjects/Lead"))
        .map(|line| line.rsplit(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(writes, ["503", "503", "201", "400", "400", "204"]);
    assert_eq!(sf.client.stats().retries, 4);

    // Past the attempts allowed, the last error comes back, marked retryable.
    sf.emulator().inject(Fault {
        path: "/limits".into(),
        method: None,
        kind: FaultKind::Unavailable,
        times: None,
    });
    let error = sf.client.limits().await.unwrap_err();
    assert_eq!(
        (error.status, error.error_code.as_str()),
        (503, "SERVER_UNAVAILABLE")
    );
    assert!(error.is_retryable());
    assert_eq!(sf.count("/limits 503"), 6);
    // Errors that cannot pass by waiting are not retried.
    sf.client
        .get("Lead", "00Q000000000000AAA", &[])
        .await
        .unwrap_err();
    assert_eq!(sf.count("/sobjects/Lead/00Q000000000000AAA"), 1);
}

#[tokio::test]
async fn request_limit_exceeded_pauses_every_call_of_the_connection() {
    let sf = Sf::start().await;
    let mut connection = connection(&sf.running.url);
    connection.retry.initial_backoff = Duration::from_millis(400);
    connection.retry.max_backoff = Duration::from_millis(400);
    let client = Client::new(connection).unwrap();
    client.limits().await.unwrap();
    sf.emulator().inject(Fault {
        path: "/limits".into(),
        method: None,
        kind: FaultKind::RequestLimitExceeded,
        times: Some(1),
    });
    let first_started = Instant::now();
    let first = tokio::spawn({
        let client = client.clone();
        async move { client.limits().await }
    });
    // The retry is counted once the pause (200-400 ms) is on: a call made
    // then is not sent before the pause ends.
    while client.stats().retries == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    client.describe("Lead").await.unwrap();
    let waited = first_started.elapsed();
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
    first.await.unwrap().unwrap();
    assert_eq!(client.stats().retries, 1);
    assert_eq!(sf.count("/limits 403"), 1);
}

#[tokio::test]
async fn the_api_budget_holds_calls_back_before_the_allowance_is_spent() {
    let sf = Sf::start_with(Emulator::new(Config {
        daily_api_requests: 20,
        ..Config::default()
    }))
    .await;
    let mut connection = connection(&sf.running.url);
    connection.api_limit_share = 0.5;
    let client = Client::new(connection).unwrap();
    let mut sent = 0;
    let refused: SalesforceError = loop {
        match client.limits().await {
            Ok(_) => sent += 1,
            Err(error) => break error,
        }
        assert!(sent <= 20, "never held back");
    };
    // Ten calls fill half the allowance; one more goes through to learn
    // whether usage fell; then calls are held back unsent.
    assert_eq!(sent, 11);
    assert_eq!(refused.error_code, "GUST_API_BUDGET");
    assert!(refused.is_retryable());
    assert_eq!(sf.emulator().api_requests(), 11);
    assert_eq!(client.stats().api_usage.unwrap().used, 11);
}

#[tokio::test]
async fn a_10000_record_bulk_upsert_reports_bad_rows_in_input_order() {
    let sf = Sf::start_with(with_erp_id(Config::default())).await;
    let record = |i: usize| {
        if i % 1_000 == 7 {
            json!({ "Erp_Id__c": format!("E-{i}"), "NumberOfEmployees": "lots" })
        } else if i % 1_000 == 500 {
            json!({ "Erp_Id__c": format!("E-{i}") })
        } else {
            json!({ "Erp_Id__c": format!("E-{i}"), "Name": format!("Account {i}"), "NumberOfEmployees": i })
        }
    };
    let options = WriteOptions {
        external_id_field: Some("Erp_Id__c".into()),
        all_or_none: false,
    };
    let results = sf
        .client
        .write_many(
            WriteOperation::Upsert,
            "Account",
            (0..10_000).map(record).collect(),
            &options,
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 10_000);
    let ids: Vec<String> = {
        let org = sf.emulator().org();
        let object = org.object("Account").unwrap().clone();
        let field = object.field("Erp_Id__c").unwrap().clone();
        (0..10_000)
            .map(|i| {
                org.find_by(&object, &field, &json!(format!("E-{i}")))
                    .first()
                    .map(|id| id.to_string())
                    .unwrap_or_default()
            })
            .collect()
    };
    for (i, result) in results.iter().enumerate() {
        match i % 1_000 {
            7 | 500 => {
                assert_eq!(result["success"], false, "{i}: {result}");
                let code = result["errors"][0]["statusCode"].as_str().unwrap();
                if i % 1_000 == 500 {
                    assert_eq!(code, "REQUIRED_FIELD_MISSING", "{i}: {result}");
                } else {
                    assert!(!code.is_empty(), "{i}: {result}");
                }
                assert!(ids[i].is_empty());
            }
            _ => {
                assert_eq!(result["success"], true, "{i}: {result}");
                assert_eq!(result["created"], true, "{i}");
                assert_eq!(
                    result["id"], ids[i],
                    "{i}: the result is the record's, in input order"
                );
            }
        }
    }
    assert_eq!(sf.count("POST /services/data/v60.0/jobs/ingest 200"), 1);
    assert_eq!(sf.count("/composite/sobjects"), 0);

    // The same upsert again updates.
    let again = sf
        .client
        .write_many(
            WriteOperation::Upsert,
            "Account",
            (0..3_000).map(record).collect(),
            &options,
        )
        .await
        .unwrap();
    assert_eq!(again[1]["created"], false);
    assert_eq!(again[1]["id"], ids[1]);
}

#[tokio::test]
async fn a_bulk_query_job_pages_through_sforce_locator() {
    let sf = Sf::start().await;
    {
        let mut org = sf.emulator().org();
        for i in 0..25_000 {
            let mut fields = serde_json::Map::new();
            fields.insert("LastName".into(), json!(format!("L{i:05}")));
            fields.insert("Company".into(), json!("Acme"));
            org.create("Lead", &fields).unwrap();
        }
    }
    let mut pages = sf
        .client
        .bulk_query("SELECT Id, LastName, Email FROM Lead", false);
    let mut rows = 0;
    let mut sizes = Vec::new();
    while let Some(page) = pages.next_page().await {
        let page = page.unwrap();
        if rows == 0 {
            assert_eq!(page[0]["Email"], Value::Null);
            assert_eq!(page[0]["LastName"], "L00000");
        }
        rows += page.len();
        sizes.push(page.len());
    }
    assert_eq!(rows, 25_000);
    assert_eq!(sizes, [10_000, 10_000, 5_000]);
    let mut bad = sf.client.bulk_query("SELECT Nope FROM Lead", false);
    let error = bad.next_page().await.unwrap().unwrap_err();
    assert_eq!(error.status, 400);
    assert!(bad.next_page().await.is_none());
}

#[tokio::test]
async fn a_refresh_answer_without_instance_url_keeps_the_instance() {
    let sf = Sf::start().await;
    // A login server that names the instance on the first token only, as
    // the refresh token flow may answer.
    let emulator = sf.emulator().clone();
    let instance = sf.running.url.clone();
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let login = axum::Router::new().route(
        "/services/oauth2/token",
        axum::routing::post({
            let issued = issued.clone();
            move || async move {
                let token = emulator.sessions().issue_access_token();
                let first = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
                let mut answer = json!({ "access_token": token, "token_type": "Bearer" });
                if first {
                    answer["instance_url"] = json!(instance);
                }
                axum::Json(answer)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let login_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, login).into_future());
    let mut connection = Connection::new(
        &login_url,
        Auth::RefreshToken {
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: None,
            refresh_token: Secret::new("5Aep-refresh"),
        },
    );
    connection.retry = quick_retries();
    let client = Client::new(connection).unwrap();
    client.limits().await.unwrap();
    sf.emulator().sessions().expire_all();
    client.limits().await.unwrap();
    assert_eq!(issued.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(client.instance_url().await.unwrap(), sf.running.url);
    assert_eq!(client.stats().refreshes, 1);
}
