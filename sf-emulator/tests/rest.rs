//! The REST API as a client uses it: records through their whole life,
//! sessions that expire, the daily allowance, and bad requests.

mod common;

use std::time::Duration;

use common::{Org, VERSION, login};
use reqwest::Method;
use serde_json::{Value, json};
use sf_emulator::{Config, DEFAULT_CLIENT_ID, Emulator};

#[tokio::test]
async fn a_record_is_created_read_updated_and_deleted() {
    let org = Org::start().await;
    let (_, account) = Org::send(
        org.request(Method::POST, "/sobjects/Account")
            .json(&json!({ "Name": "Acme" })),
    )
    .await;
    let account = account["id"].as_str().unwrap().to_owned();
    let (status, contact) = Org::send(
        org.request(Method::POST, "/sobjects/Contact")
            .json(&json!({ "LastName": "Hopper", "FirstName": "Grace", "AccountId": account, "Email": "grace@example.com" })),
    )
    .await;
    assert_eq!(status, 201);
    let contact = contact["id"].as_str().unwrap().to_owned();

    let (status, read) =
        Org::send(org.request(Method::GET, &format!("/sobjects/Contact/{contact}"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        read["attributes"],
        json!({ "type": "Contact", "url": format!("/services/data/{VERSION}/sobjects/Contact/{contact}") })
    );
    assert_eq!(read["Name"], json!("Grace Hopper"));
    assert_eq!(read["AccountId"], json!(account));
    assert_eq!(read["Phone"], Value::Null, "unset fields are null");

    // A 15-character Id reads the same record.
    let (status, short) = Org::send(org.request(
        Method::GET,
        &format!("/sobjects/contact/{}?fields=Email,LastName", &contact[..15]),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        short.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["attributes", "LastName", "Email"]
    );

    let (status, body) = Org::send(
        org.request(Method::PATCH, &format!("/sobjects/Contact/{contact}"))
            .json(&json!({ "Title": "Rear Admiral" })),
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    let (_, read) =
        Org::send(org.request(Method::GET, &format!("/sobjects/Contact/{contact}"))).await;
    assert_eq!(read["Title"], json!("Rear Admiral"));
    assert!(read["LastModifiedDate"].as_str().unwrap() >= read["CreatedDate"].as_str().unwrap());

    let (status, _) =
        Org::send(org.request(Method::DELETE, &format!("/sobjects/Contact/{contact}"))).await;
    assert_eq!(status, 204);
    let (status, error) =
        Org::send(org.request(Method::GET, &format!("/sobjects/Contact/{contact}"))).await;
    assert_eq!(status, 404);
    assert_eq!(error[0]["errorCode"], json!("NOT_FOUND"));
    let (status, error) =
        Org::send(org.request(Method::DELETE, &format!("/sobjects/Contact/{contact}"))).await;
    assert_eq!(
        (status, error[0]["errorCode"].clone()),
        (404, json!("ENTITY_IS_DELETED"))
    );
}

#[tokio::test]
async fn an_upsert_creates_then_updates_by_external_id() {
    let org = Org::start().await;
    {
        let mut emulated = org.running.emulator.org();
        let mut external =
            sf_emulator::schema::Field::new("Erp_Id__c", sf_emulator::schema::FieldType::String);
        external.external_id = true;
        emulated
            .schema_mut()
            .add_field("Account", external)
            .unwrap();
    }
    let upsert = |name: &str| {
        org.request(Method::PATCH, "/sobjects/Account/Erp_Id__c/E-42")
            .json(&json!({ "Name": name }))
    };
    let (status, created) = Org::send(upsert("Acme")).await;
    assert_eq!(status, 201);
    assert_eq!(created["created"], json!(true));
    let (status, updated) = Org::send(upsert("Acme Corp")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (updated["created"].clone(), updated["id"].clone()),
        (json!(false), created["id"].clone())
    );
    let (status, read) =
        Org::send(org.request(Method::GET, "/sobjects/Account/Erp_Id__c/E-42")).await;
    assert_eq!((status, read["Name"].clone()), (200, json!("Acme Corp")));
    // Before API 46.0 an update answered 204 and no body.
    let old = org
        .client
        .patch(format!(
            "{}/services/data/v45.0/sobjects/Account/Erp_Id__c/E-42",
            org.running.url
        ))
        .bearer_auth(&org.token)
        .json(&json!({ "Name": "Acme Old" }));
    assert_eq!(Org::send(old).await, (204, Value::Null));
    let (status, _) =
        Org::send(org.request(Method::DELETE, "/sobjects/Account/Erp_Id__c/E-42")).await;
    assert_eq!(status, 204);
    let (status, _) = Org::send(org.request(Method::GET, "/sobjects/Account/Erp_Id__c/E-42")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn userinfo_names_the_org_of_a_live_session_only() {
    let org = Org::start().await;
    let userinfo = format!("{}/services/oauth2/userinfo", org.running.url);
    let (status, info) = Org::send(org.client.get(&userinfo).bearer_auth(&org.token)).await;
    assert_eq!(status, 200);
    assert_eq!(info["organization_id"], sf_emulator::org::ORG_ID);
    assert!(info["user_id"].as_str().unwrap().starts_with("005"));
    let (status, _) = Org::send(org.client.get(&userinfo).bearer_auth("00Dforged!token")).await;
    assert_eq!(status, 403);
    org.running.emulator.sessions().expire_all();
    let (status, _) = Org::send(org.client.get(&userinfo).bearer_auth(&org.token)).await;
    assert_eq!(status, 403, "an expired session is refused");
}

#[tokio::test]
async fn an_expired_session_gets_401_until_the_client_logs_in_again() {
    let org = Org::start().await;
    let (status, _) = Org::send(org.request(Method::GET, "/limits")).await;
    assert_eq!(status, 200);
    org.running.emulator.sessions().expire_all();
    let (status, error) = Org::send(org.request(Method::GET, "/limits")).await;
    assert_eq!(
        (status, error[0]["errorCode"].clone()),
        (401, json!("INVALID_SESSION_ID"))
    );

    // A refresh token (as the authorization-code flow hands out) gets a
    // new session.
    let refresh = org
        .running
        .emulator
        .sessions()
        .issue_refresh_token(DEFAULT_CLIENT_ID);
    let (status, granted) = Org::send(
        org.client
            .post(format!("{}/services/oauth2/token", org.running.url))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("refresh_token", &refresh),
            ]),
    )
    .await;
    assert_eq!(status, 200);
    let token = granted["access_token"].as_str().unwrap();
    let (status, _) = Org::send(org.client.get(org.url("/limits")).bearer_auth(token)).await;
    assert_eq!(status, 200);

    // Tokens that live a moment, to test expiry as it happens.
    org.running
        .emulator
        .sessions()
        .set_lifetime(Duration::from_millis(50));
    let short = login(&org.client, &org.running.url).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _) = Org::send(org.client.get(org.url("/limits")).bearer_auth(short)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn past_the_daily_allowance_requests_are_refused_with_403() {
    let config = Config {
        daily_api_requests: 2,
        ..Config::default()
    };
    let org = Org::start_with(Emulator::new(config)).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let response = org.request(Method::GET, "/limits").send().await.unwrap();
        let header = response.headers()["sforce-limit-info"]
            .to_str()
            .unwrap()
            .to_owned();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        seen.push((status, header, body));
    }
    assert_eq!((seen[0].0, seen[0].1.as_str()), (200, "api-usage=1/2"));
    assert_eq!((seen[1].0, seen[1].1.as_str()), (200, "api-usage=2/2"));
    assert_eq!((seen[2].0, seen[2].1.as_str()), (403, "api-usage=2/2"));
    assert_eq!(
        seen[2].2,
        json!([{ "message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED" }])
    );
    assert_eq!(org.running.emulator.api_requests(), 3);
}

#[tokio::test]
async fn bad_requests_get_salesforce_errors_and_change_nothing() {
    let org = Org::start().await;
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            org.request(Method::POST, "/sobjects/Account")
                .body("{\"Name\": ")
                .header("content-type", "application/json"),
            400,
            "JSON_PARSER_ERROR",
        ),
        (
            org.request(Method::POST, "/sobjects/Account")
                .json(&json!(["Name"])),
            400,
            "JSON_PARSER_ERROR",
        ),
        (
            org.request(Method::POST, "/sobjects/Bogus__c")
                .json(&json!({})),
            404,
            "NOT_FOUND",
        ),
        (
            org.request(Method::POST, "/sobjects/Lead")
                .json(&json!({ "LastName": "L" })),
            400,
            "REQUIRED_FIELD_MISSING",
        ),
        (
            org.request(Method::POST, "/sobjects/Account")
                .json(&json!({ "Name": "x".repeat(256) })),
            400,
            "STRING_TOO_LONG",
        ),
        (
            org.request(Method::POST, "/sobjects/Account")
                .json(&json!({ "Name": "A", "NumberOfEmployees": "many" })),
            400,
            "JSON_PARSER_ERROR",
        ),
        (
            org.request(Method::POST, "/sobjects/Contact")
                .json(&json!({ "LastName": "L", "AccountId": "not-an-id" })),
            400,
            "MALFORMED_ID",
        ),
        (
            org.request(
                Method::GET,
                "/sobjects/Account/001D000000IqhSLIAZ?fields=Nope",
            ),
            404,
            "NOT_FOUND",
        ),
        (
            org.request(Method::GET, "/sobjects/Account/001D000000IqhSLIAZ"),
            404,
            "NOT_FOUND",
        ),
        (
            org.request(Method::PATCH, "/sobjects/Account/001D000000IqhSLIAZ")
                .json(&json!({ "Name": "B" })),
            404,
            "NOT_FOUND",
        ),
    ];
    for (request, status, code) in cases {
        let (got_status, body) = Org::send(request).await;
        assert_eq!(
            (got_status, body[0]["errorCode"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert!(body[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, _) = Org::send(
        org.client
            .get(format!("{}/services/data/sixty/limits", org.running.url))
            .bearer_auth(&org.token),
    )
    .await;
    assert_eq!(status, 404);
    let emulated = org.running.emulator.org();
    let accounts = emulated.schema().object("Account").unwrap().clone();
    assert_eq!(
        emulated.records(&accounts, true).count(),
        0,
        "nothing was stored"
    );
}

#[tokio::test]
async fn the_versions_list_needs_no_session() {
    let org = Org::start().await;
    let (status, versions) =
        Org::send(org.client.get(format!("{}/services/data", org.running.url))).await;
    assert_eq!(status, 200);
    let versions = versions.as_array().unwrap();
    assert!(
        versions
            .iter()
            .any(|v| v["url"] == json!(format!("/services/data/{VERSION}")))
    );
}

#[tokio::test]
async fn query_all_finds_deleted_records_and_bad_queries_are_refused() {
    let org = Org::start().await;
    let (_, created) = Org::send(
        org.request(Method::POST, "/sobjects/Account")
            .json(&json!({ "Name": "Gone" })),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    Org::send(org.request(Method::DELETE, &format!("/sobjects/Account/{id}"))).await;
    let query = [("q", "SELECT Id, IsDeleted FROM Account WHERE Name = 'Gone'")];
    let (_, live) = Org::send(org.request(Method::GET, "/query").query(&query)).await;
    assert_eq!(live["totalSize"], json!(0));
    let (_, all) = Org::send(org.request(Method::GET, "/queryAll").query(&query)).await;
    assert_eq!(
        (
            all["totalSize"].clone(),
            all["records"][0]["IsDeleted"].clone()
        ),
        (json!(1), json!(true))
    );

    for (q, code) in [
        ("SELECT FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Nothing__c", "INVALID_TYPE"),
        ("SELECT Nope FROM Account", "INVALID_FIELD"),
        ("", "MALFORMED_QUERY"),
    ] {
        let (status, error) =
            Org::send(org.request(Method::GET, "/query").query(&[("q", q)])).await;
        assert_eq!(
            (status, error[0]["errorCode"].as_str()),
            (400, Some(code)),
            "{q}"
        );
    }
    let (status, error) =
        Org::send(org.request(Method::GET, "/query/01g5g0000000001AAA-2000")).await;
    assert_eq!(
        (status, error[0]["errorCode"].as_str()),
        (400, Some("INVALID_QUERY_LOCATOR"))
    );
}

#[tokio::test]
async fn injected_faults_hit_the_routes_chosen_and_every_request_is_logged() {
    use sf_emulator::faults::{Fault, FaultKind};
    let org = Org::start().await;
    org.running.emulator.inject(Fault {
        path: "/sobjects/Account".into(),
        method: Some(Method::POST),
        kind: FaultKind::UnableToLockRow,
        times: Some(1),
    });
    org.running.emulator.inject(Fault {
        path: "/limits".into(),
        method: None,
        kind: FaultKind::Unavailable,
        times: Some(1),
    });
    org.running.emulator.inject(Fault {
        path: "/query".into(),
        method: None,
        kind: FaultKind::Latency { ms: 150 },
        times: Some(1),
    });
    org.running.emulator.inject(Fault {
        path: "/sobjects/Lead".into(),
        method: None,
        kind: FaultKind::RequestLimitExceeded,
        times: Some(1),
    });
    let create = || {
        org.request(Method::POST, "/sobjects/Account")
            .json(&json!({ "Name": "Retry me" }))
    };
    let (status, error) = Org::send(create()).await;
    assert_eq!(
        (status, error[0]["errorCode"].as_str()),
        (400, Some("UNABLE_TO_LOCK_ROW"))
    );
    let (status, _) = Org::send(create()).await;
    assert_eq!(status, 201, "the retry goes through");
    let (status, error) = Org::send(org.request(Method::GET, "/limits")).await;
    assert_eq!(
        (status, error[0]["errorCode"].as_str()),
        (503, Some("SERVER_UNAVAILABLE"))
    );
    let (status, error) = Org::send(org.request(Method::GET, "/sobjects/Lead/describe")).await;
    assert_eq!(
        (status, error[0]["errorCode"].as_str()),
        (403, Some("REQUEST_LIMIT_EXCEEDED"))
    );
    let (status, _) = Org::send(org.request(Method::GET, "/sobjects/Lead/describe")).await;
    assert_eq!(status, 200, "the fault was used up");
    let started = std::time::Instant::now();
    let (status, found) = Org::send(
        org.request(Method::GET, "/query")
            .query(&[("q", "SELECT Id FROM Account")]),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(
        (status, found["totalSize"].clone()),
        (200, json!(1)),
        "one record: the refused create stored nothing"
    );

    let log = org.running.emulator.requests();
    let seen: Vec<(String, u16)> = log
        .iter()
        .map(|r| (format!("{} {}", r.method, r.uri), r.status.as_u16()))
        .collect();
    assert_eq!(seen[0], ("POST /services/oauth2/token".to_owned(), 200));
    assert_eq!(
        seen[1],
        (
            format!("POST /services/data/{VERSION}/sobjects/Account"),
            400
        )
    );
    assert_eq!(seen[2].1, 201);
    assert_eq!(
        seen[3],
        (format!("GET /services/data/{VERSION}/limits"), 503)
    );
    assert_eq!(seen[4].1, 403);
    assert_eq!(seen[5].1, 200);
    assert!(
        seen[6]
            .0
            .starts_with(&format!("GET /services/data/{VERSION}/query?q="))
    );
}

#[tokio::test]
async fn a_uri_over_16384_bytes_is_refused_with_414_as_salesforce_does() {
    let org = Org::start().await;
    let long = format!(
        "SELECT Id FROM Account WHERE Name IN ({})",
        vec!["'Acme Corporation'"; 1_000].join(",")
    );
    let response = org
        .request(Method::GET, "/query")
        .query(&[("q", &long)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 414);
    assert!(response.text().await.unwrap().contains("URI Too Long"));
    let short = "SELECT Id FROM Account WHERE Name IN ('Acme Corporation')";
    let (status, _) = Org::send(org.request(Method::GET, "/query").query(&[("q", short)])).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn authorize_redirects_back_with_a_code_that_a_client_exchanges() {
    let org = Org::start().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/services/oauth2/authorize", org.running.url))
        .query(&[
            ("response_type", "code"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("redirect_uri", "http://localhost:1717/cb"),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection());
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let code = location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    assert!(location.ends_with("&state=s1"), "{location}");
    let (status, granted) = Org::send(
        client
            .post(format!("{}/services/oauth2/token", org.running.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", DEFAULT_CLIENT_ID),
                ("client_secret", sf_emulator::DEFAULT_CLIENT_SECRET),
                ("redirect_uri", "http://localhost:1717/cb"),
                ("code", &code),
            ]),
    )
    .await;
    assert_eq!(status, 200);
    assert!(granted["refresh_token"].as_str().is_some());
    let (status, refused) = Org::send(
        client
            .get(format!("{}/services/oauth2/authorize", org.running.url))
            .query(&[
                ("response_type", "code"),
                ("client_id", "nobody"),
                ("redirect_uri", "http://localhost:1717/cb"),
            ]),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_client_id"))
    );
}

#[tokio::test]
async fn the_frameworks_refusals_come_in_salesforce_shape() {
    let config = Config {
        max_body_bytes: 1024,
        ..Config::default()
    };
    let org = Org::start_with(Emulator::new(config)).await;
    let (client, token) = (&org.client, &org.token);
    let url = |path: &str| org.url(path);
    let cases = [
        (
            client
                .post(url("/sobjects/Account"))
                .json(&json!({ "Name": "x".repeat(4096) })),
            413,
            "REQUEST_ENTITY_TOO_LARGE",
        ),
        (client.get(url("/no/such/resource")), 404, "NOT_FOUND"),
        (
            client.put(url("/sobjects/Account")),
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (
            client.get(url("/jobs/query/750/results?maxRecords=many")),
            400,
            "INVALID_INPUT",
        ),
    ];
    for (request, status, code) in cases {
        let (got, body) = Org::send(request.bearer_auth(token)).await;
        assert_eq!(
            (got, body[0]["errorCode"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
}
