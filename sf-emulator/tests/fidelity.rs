//! Every Salesforce fixture the emulator can be asked for, compared with
//! what the emulator answers: the same status, keys and value types (and
//! the same words where Salesforce's are fixed).

mod common;

use common::{Org, fixture, fixture_path, same_shape};
use reqwest::Method;
use serde_json::{Value, json};
use sf_emulator::schema::{Field, FieldType};
use sf_emulator::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD, DEFAULT_USERNAME};

async fn token_request(org: &Org, form: &[(&str, &str)]) -> (u16, Value) {
    Org::send(
        org.client
            .post(format!("{}/services/oauth2/token", org.running.url))
            .form(form),
    )
    .await
}

#[tokio::test]
async fn oauth_answers_have_the_fixture_shapes() {
    let org = Org::start().await;
    let (status, granted) = token_request(
        &org,
        &[
            ("grant_type", "password"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("username", DEFAULT_USERNAME),
            ("password", DEFAULT_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 200);
    // Today's orgs add token_type and scope to the fixture's keys.
    same_shape(
        &fixture("oauth/token-response-password-grant.json"),
        &granted,
        false,
    )
    .unwrap();
    assert_eq!(granted["instance_url"], json!(org.running.url));
    assert_eq!(granted["token_type"], json!("Bearer"));
    assert!(
        granted["issued_at"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );

    let (status, refused) = token_request(
        &org,
        &[
            ("grant_type", "password"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("username", DEFAULT_USERNAME),
            ("password", "wrong"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    same_shape(
        &fixture("oauth/token-error-invalid_grant-password.json"),
        &refused,
        true,
    )
    .unwrap();
    assert_eq!(refused["error"], json!("invalid_grant"));

    let (status, expired) = token_request(
        &org,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("refresh_token", "stale"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        expired,
        fixture("oauth/token-error-invalid_grant-expired.json")
    );
}

#[tokio::test]
async fn a_request_without_a_live_session_gets_invalid_session_id() {
    let org = Org::start().await;
    let (status, body) = Org::send(org.client.get(org.url("/sobjects"))).await;
    assert_eq!(status, 401);
    assert_eq!(body, fixture("rest/error-INVALID_SESSION_ID.json"));
    let (status, body) = Org::send(
        org.client
            .get(org.url("/limits"))
            .bearer_auth("00Dx!forged"),
    )
    .await;
    assert_eq!(
        (status, body),
        (401, fixture("rest/error-INVALID_SESSION_ID.json"))
    );
}

#[tokio::test]
async fn creating_a_record_answers_like_the_docs() {
    let org = Org::start().await;
    let request = fixture("rest/sobject-create-request.json");
    let (status, created) = Org::send(
        org.request(Method::POST, "/sobjects/Account")
            .json(&request),
    )
    .await;
    assert_eq!(status, 201);
    let expected = fixture("rest/sobject-create-response-201.json");
    same_shape(&expected, &created, true).unwrap();
    assert_eq!(
        created.as_object().unwrap().keys().collect::<Vec<_>>(),
        expected.as_object().unwrap().keys().collect::<Vec<_>>(),
        "in the same order"
    );
    assert_eq!(created["id"].as_str().unwrap().len(), 18);
    assert!(created["id"].as_str().unwrap().starts_with("001"));

    let mut with_id = request.clone();
    with_id["Id"] = json!("001D000000IqhSLIAZ");
    let (status, error) = Org::send(
        org.request(Method::POST, "/sobjects/Account")
            .json(&with_id),
    )
    .await;
    assert_eq!(
        (status, error),
        (400, fixture("rest/error-INVALID_FIELD-id-in-body.json"))
    );

    let (status, error) = Org::send(
        org.request(Method::POST, "/sobjects/Account")
            .json(&json!({ "Name": "Acme", "foo": 1 })),
    )
    .await;
    assert_eq!(status, 400);
    same_shape(&fixture("rest/error-INVALID_FIELD.json"), &error, true).unwrap();
    assert_eq!(
        error[0]["message"],
        json!("No such column 'foo' on sobject of type Account")
    );
}

#[tokio::test]
async fn a_path_segment_that_is_no_id_is_read_as_an_external_id_field() {
    let org = Org::start().await;
    let (status, error) = Org::send(org.request(Method::DELETE, "/sobjects/Account/rid")).await;
    assert_eq!(
        (status, error),
        (404, fixture("rest/error-NOT_FOUND-external-id.json"))
    );
}

#[tokio::test]
async fn an_upsert_matching_several_records_answers_300_with_their_urls() {
    let org = Org::start().await;
    {
        let mut emulated = org.running.emulator.org();
        let mut external = Field::new("Legacy_Id__c", FieldType::String);
        external.external_id = true;
        emulated
            .schema_mut()
            .add_field("Account", external)
            .unwrap();
    }
    for name in ["foo", "bar"] {
        let (status, _) = Org::send(
            org.request(Method::POST, "/sobjects/Account")
                .json(&json!({ "Name": name, "Legacy_Id__c": "L-1" })),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, choices) = Org::send(
        org.request(Method::PATCH, "/sobjects/Account/Legacy_Id__c/L-1")
            .json(&json!({ "Name": "baz" })),
    )
    .await;
    assert_eq!(status, 300);
    same_shape(
        &fixture("rest/upsert-300-multiple-choices.json"),
        &choices,
        true,
    )
    .unwrap();
    let urls = choices.as_array().unwrap();
    assert_eq!(urls.len(), 2);
    assert!(
        urls[0]
            .as_str()
            .unwrap()
            .starts_with("/services/data/v60.0/sobjects/Account/001")
    );
}

#[tokio::test]
async fn limits_and_the_limit_header_have_the_fixture_shapes() {
    let org = Org::start().await;
    let response = org.request(Method::GET, "/limits").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let header = response.headers()["sforce-limit-info"]
        .to_str()
        .unwrap()
        .to_owned();
    let limits: Value = response.json().await.unwrap();
    same_shape(&fixture("rest/limits-response.json"), &limits, true).unwrap();
    // The docs' response header: `Sforce-Limit-Info: api-usage=18/5000`.
    let documented =
        std::fs::read_to_string(fixture_path("rest/sforce-limit-info-response.http")).unwrap();
    assert!(documented.contains("Sforce-Limit-Info: api-usage=18/5000"));
    assert_eq!(header, "api-usage=1/15000");
    assert_eq!(
        limits["DailyApiRequests"],
        json!({ "Max": 15000, "Remaining": 14999 })
    );
}

#[tokio::test]
async fn describe_has_the_keys_of_a_real_describe() {
    let org = Org::start().await;
    let expected = fixture("rest/describe-sobject-Whizbang.json");
    let (status, described) =
        Org::send(org.request(Method::GET, "/sobjects/Account/describe")).await;
    assert_eq!(status, 200);
    // Field by field, against the fixture's field of the same type.
    let fixture_fields = expected["fields"].as_array().unwrap();
    for field in described["fields"].as_array().unwrap() {
        let kind = &field["type"];
        let like = fixture_fields
            .iter()
            .find(|f| f["type"] == *kind)
            .unwrap_or(&fixture_fields[0]);
        same_shape(like, field, true)
            .map_err(|e| format!("{}: {e}", field["name"]))
            .unwrap();
    }
    let mut top = expected.clone();
    top["fields"] = json!([]);
    same_shape(&top, &described, true).unwrap();
    assert_eq!(described["keyPrefix"], json!("001"));
    let children = described["childRelationships"].as_array().unwrap();
    assert!(
        children
            .iter()
            .any(|c| c["childSObject"] == json!("Contact") && c["field"] == json!("AccountId"))
    );
}

/// A query-result fixture with its records cut to their `attributes` (the
/// fixtures' records are of another object).
fn envelope(name: &str) -> Value {
    let mut page = fixture(name);
    for record in page["records"].as_array_mut().unwrap() {
        *record = json!({ "attributes": record["attributes"].clone() });
    }
    page
}

#[tokio::test]
async fn query_pages_have_the_fixture_shapes_and_locator_format() {
    let org = Org::start().await;
    let records: Vec<Value> = (0..450)
        .map(|n| json!({ "attributes": { "type": "Lead" }, "LastName": format!("Lead {n:03}"), "Company": "Acme" }))
        .collect();
    {
        let mut emulated = org.running.emulator.org();
        for record in &records {
            emulated
                .create("Lead", record.as_object().unwrap())
                .unwrap();
        }
    }
    let (status, first) = Org::send(
        org.request(Method::GET, "/query")
            .query(&[("q", "SELECT LastName FROM Lead ORDER BY LastName")])
            .header("Sforce-Query-Options", "batchSize=200"),
    )
    .await;
    assert_eq!(status, 200);
    same_shape(
        &envelope("rest/query-page1-done-false-nextRecordsUrl.json"),
        &first,
        false,
    )
    .unwrap();
    assert_eq!(
        first.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["totalSize", "done", "nextRecordsUrl", "records"]
    );
    assert_eq!(
        (first["totalSize"].clone(), first["done"].clone()),
        (json!(450), json!(false))
    );
    assert_eq!(first["records"].as_array().unwrap().len(), 200);
    // Like `/services/data/v68.0/query/01gD0000002HU6KIAW-2000`.
    let next = first["nextRecordsUrl"].as_str().unwrap().to_owned();
    let locator = next.strip_prefix("/services/data/v60.0/query/").unwrap();
    let (id, offset) = locator.split_once('-').unwrap();
    assert!(id.len() == 18 && id.starts_with("01g"), "{locator}");
    assert_eq!(offset, "200");

    let (_, second) = Org::send(
        org.client
            .get(format!("{}{next}", org.running.url))
            .bearer_auth(&org.token),
    )
    .await;
    assert_eq!(second["done"], json!(false));
    let third_url = second["nextRecordsUrl"].as_str().unwrap().to_owned();
    let (_, third) = Org::send(
        org.client
            .get(format!("{}{third_url}", org.running.url))
            .bearer_auth(&org.token),
    )
    .await;
    same_shape(&envelope("rest/query-page2-done-true.json"), &third, false).unwrap();
    assert_eq!(
        third.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["totalSize", "done", "records"]
    );
    assert_eq!(third["records"].as_array().unwrap().len(), 50);
    assert_eq!(third["records"][49]["LastName"], json!("Lead 449"));
    assert_eq!(third["totalSize"], json!(450));
}

#[tokio::test]
async fn a_query_with_a_parent_relationship_nests_the_parent_like_salesforce() {
    let org = Org::start().await;
    let (_, account) = Org::send(
        org.request(Method::POST, "/sobjects/Account")
            .json(&json!({ "Name": "Acme" })),
    )
    .await;
    let (_, _) = Org::send(org.request(Method::POST, "/sobjects/Contact").json(
        &json!({ "LastName": "Hopper", "AccountId": account["id"], "Birthdate": "1906-12-09" }),
    ))
    .await;
    let (status, result) = Org::send(org.request(Method::GET, "/query").query(&[(
        "q",
        "SELECT LastName, Birthdate, CreatedDate, Account.Name FROM Contact",
    )]))
    .await;
    assert_eq!(status, 200);
    let expected = fixture("rest/query-with-relationships.json");
    let row = &result["records"][0];
    same_shape(
        &expected["records"][0]["attributes"],
        &row["attributes"],
        true,
    )
    .unwrap();
    same_shape(
        &expected["records"][0]["ParentWhizbang__r"]["attributes"],
        &row["Account"]["attributes"],
        true,
    )
    .unwrap();
    assert_eq!(row["Account"]["Name"], json!("Acme"));
    // Dates and datetimes written as in the fixture.
    assert_eq!(row["Birthdate"], json!("1906-12-09"));
    let created = row["CreatedDate"].as_str().unwrap();
    let documented = expected["records"][0]["DateTime_Label"].as_str().unwrap();
    assert_eq!(
        (created.len(), &created[19..20], &created[23..]),
        (documented.len(), ".", "+0000")
    );
}

#[tokio::test]
async fn a_child_subquery_nests_the_children_like_salesforce() {
    let org = Org::start().await;
    let create = |object: &str, body: Value| {
        let request = org
            .request(Method::POST, &format!("/sobjects/{object}"))
            .json(&body);
        async move {
            Org::send(request).await.1["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let acme = create("Account", json!({ "Name": "Acme" })).await;
    create("Account", json!({ "Name": "Empty" })).await;
    for name in ["Lovelace", "Hopper", "Babbage"] {
        create("Contact", json!({ "LastName": name, "AccountId": acme })).await;
    }
    let (status, result) = Org::send(org.request(Method::GET, "/query").query(&[(
        "q",
        "SELECT Name, (SELECT LastName FROM Contacts WHERE LastName != 'Babbage' ORDER BY LastName) FROM Account ORDER BY Name",
    )]))
    .await;
    assert_eq!(status, 200, "{result}");
    let expected = fixture("rest/query-with-relationships.json");
    let children = &result["records"][0]["Contacts"];
    // The fixture's child selects Name; these select LastName.
    let mut documented = expected["records"][0]["Whizbangs__r"].clone();
    documented["records"][0]["LastName"] = documented["records"][0]["Name"].take();
    documented["records"][0]
        .as_object_mut()
        .unwrap()
        .remove("Name");
    same_shape(&documented, children, true).unwrap();
    let names: Vec<&str> = children["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["LastName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Hopper", "Lovelace"]);
    assert_eq!(children["totalSize"], json!(2));
    assert_eq!(
        result["records"][1]["Contacts"],
        Value::Null,
        "no children: null"
    );
    let keys: Vec<&String> = result["records"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["attributes", "Name", "Contacts"]);

    let (status, error) = Org::send(
        org.request(Method::GET, "/query")
            .query(&[("q", "SELECT Name, (SELECT Id FROM Nothings) FROM Account")]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error[0]["errorCode"], json!("INVALID_TYPE"));
    assert!(
        error[0]["message"]
            .as_str()
            .unwrap()
            .contains("Didn't understand relationship 'Nothings' in FROM part of query call.")
    );
}

#[tokio::test]
async fn collections_answer_save_results_like_the_docs() {
    let org = Org::start().await;
    let request = fixture("composite/collections-create-request.json");
    let (status, results) = Org::send(
        org.request(Method::POST, "/composite/sobjects")
            .json(&request),
    )
    .await;
    assert_eq!(status, 200);
    same_shape(
        &fixture("composite/collections-create-response-success.json"),
        &results,
        true,
    )
    .unwrap();
    assert!(results[0]["id"].as_str().unwrap().starts_with("001"));
    assert!(results[1]["id"].as_str().unwrap().starts_with("003"));

    // The first record invalid: with allOrNone false the second is saved.
    let mut partial = request.clone();
    partial["records"][0]["Name"] = Value::Null;
    let (status, results) = Org::send(
        org.request(Method::POST, "/composite/sobjects")
            .json(&partial),
    )
    .await;
    assert_eq!(status, 200);
    same_shape(
        &fixture("composite/collections-create-response-partial-allornone-false.json"),
        &results,
        true,
    )
    .unwrap();
    assert_eq!(
        results[0]["errors"][0]["statusCode"],
        json!("REQUIRED_FIELD_MISSING")
    );

    // With allOrNone true nothing is saved.
    partial["allOrNone"] = json!(true);
    let contacts_before = contacts(&org);
    let (_, results) = Org::send(
        org.request(Method::POST, "/composite/sobjects")
            .json(&partial),
    )
    .await;
    let expected = fixture("composite/collections-create-response-allornone-true.json");
    same_shape(&expected, &results, true).unwrap();
    assert_eq!(
        results[1]["errors"][0], expected[1]["errors"][0],
        "the docs' words"
    );
    assert_eq!(contacts(&org), contacts_before);
}

fn contacts(org: &Org) -> usize {
    let emulated = org.running.emulator.org();
    let contact = emulated.schema().object("Contact").unwrap();
    emulated.records(contact, false).count()
}

#[tokio::test]
async fn composite_runs_subrequests_with_references_like_the_docs() {
    let org = Org::start().await;
    let request = json!({
        "allOrNone": true,
        "compositeRequest": [
            { "method": "POST", "url": "/services/data/v60.0/sobjects/Account", "referenceId": "refAccount", "body": { "Name": "Sample Account" } },
            { "method": "POST", "url": "/services/data/v60.0/sobjects/Contact", "referenceId": "refContact", "body": { "LastName": "Sample", "AccountId": "@{refAccount.id}" } },
            { "method": "GET", "url": "/services/data/v60.0/sobjects/Contact/@{refContact.id}?fields=AccountId", "referenceId": "refRead" }
        ]
    });
    let (status, response) =
        Org::send(org.request(Method::POST, "/composite").json(&request)).await;
    assert_eq!(status, 200);
    let results = response["compositeResponse"].as_array().unwrap();
    same_shape(
        &fixture("composite/composite-subrequest-result-201.json"),
        &results[0],
        true,
    )
    .unwrap();
    let account = results[0]["body"]["id"].as_str().unwrap();
    assert_eq!(
        results[0]["httpHeaders"]["Location"],
        json!(format!("/services/data/v60.0/sobjects/Account/{account}"))
    );
    assert_eq!(results[2]["body"]["AccountId"], json!(account));
    assert_eq!(
        org.running.emulator.api_requests(),
        1,
        "one API request for the whole call"
    );

    // A failure undoes the call.
    let failing = json!({
        "allOrNone": true,
        "compositeRequest": [
            { "method": "POST", "url": "/services/data/v60.0/sobjects/Account", "referenceId": "NewPayment1", "body": { "Name": "Rolled back" } },
            { "method": "POST", "url": "/services/data/v60.0/sobjects/Account", "referenceId": "NewPayment2", "body": { "Nope__c": 1 } }
        ]
    });
    let (status, response) =
        Org::send(org.request(Method::POST, "/composite").json(&failing)).await;
    assert_eq!(status, 200);
    let expected = fixture("composite/composite-response-allornone-failure.json");
    same_shape(&expected, &response, true).unwrap();
    assert_eq!(
        response["compositeResponse"][0]["body"],
        expected["compositeResponse"][0]["body"]
    );
    let (_, found) = Org::send(
        org.request(Method::GET, "/query")
            .query(&[("q", "SELECT Id FROM Account WHERE Name = 'Rolled back'")]),
    )
    .await;
    assert_eq!(found["totalSize"], json!(0));
}

#[tokio::test]
async fn a_bulk_ingest_job_runs_its_lifecycle_like_the_docs() {
    let org = Org::start().await;
    let (status, created) = Org::send(
        org.request(Method::POST, "/jobs/ingest")
            .json(&fixture("bulk2/ingest-create-job-request.json")),
    )
    .await;
    assert_eq!(status, 200);
    same_shape(
        &fixture("bulk2/ingest-create-job-response-open.json"),
        &created,
        true,
    )
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("750"));
    assert_eq!(
        created["contentUrl"],
        json!(format!("services/data/v60.0/jobs/ingest/{id}/batches"))
    );

    let csv = std::fs::read(fixture_path("bulk2/ingest-upload-content.csv")).unwrap();
    let rows = String::from_utf8_lossy(&csv).lines().count() - 1;
    let upload = org
        .request(Method::PUT, &format!("/jobs/ingest/{id}/batches"))
        .header("content-type", "text/csv")
        .body(csv);
    let (status, _) = Org::send(upload).await;
    assert_eq!(status, 201);

    let (status, patched) = Org::send(
        org.request(Method::PATCH, &format!("/jobs/ingest/{id}"))
            .json(&fixture("bulk2/ingest-patch-uploadcomplete-request.json")),
    )
    .await;
    assert_eq!(status, 200);
    same_shape(
        &fixture("bulk2/ingest-patch-uploadcomplete-response.json"),
        &patched,
        true,
    )
    .unwrap();

    let (_, info) = Org::send(org.request(Method::GET, &format!("/jobs/ingest/{id}"))).await;
    same_shape(
        &fixture("bulk2/ingest-job-info-jobcomplete.json"),
        &info,
        true,
    )
    .unwrap();
    assert_eq!(
        (
            info["state"].clone(),
            info["numberRecordsProcessed"].clone()
        ),
        (json!("JobComplete"), json!(rows))
    );

    let results = Org::text(org.request(
        Method::GET,
        &format!("/jobs/ingest/{id}/successfulResults/"),
    ))
    .await;
    let documented =
        std::fs::read_to_string(fixture_path("bulk2/ingest-successfulResults.csv")).unwrap();
    assert!(documented.starts_with("\"sf__Id\",\"sf__Created\","));
    assert!(
        results.starts_with("\"sf__Id\",\"sf__Created\",Name,ShippingCity,"),
        "{results}"
    );
    assert_eq!(results.lines().count(), rows + 1);
    assert!(results.contains("\"Bodø\""), "UTF-8 kept");
    let (status, _) =
        Org::send(org.request(Method::GET, &format!("/jobs/ingest/{id}/allResults"))).await;
    assert_eq!(status, 404, "only the three result files exist");
    let (_, found) = Org::send(
        org.request(Method::GET, "/query")
            .query(&[("q", "SELECT COUNT() FROM Account")]),
    )
    .await;
    assert_eq!(found["totalSize"], json!(rows));
}

#[tokio::test]
async fn a_bulk_query_job_pages_its_csv_like_the_docs() {
    let org = Org::start().await;
    {
        let mut emulated = org.running.emulator.org();
        for n in 0..5 {
            emulated
                .create(
                    "Account",
                    json!({ "Name": format!("Account {n}") })
                        .as_object()
                        .unwrap(),
                )
                .unwrap();
        }
    }
    let (status, created) = Org::send(
        org.request(Method::POST, "/jobs/query")
            .json(&fixture("bulk2/query-create-job-request.json")),
    )
    .await;
    assert_eq!(status, 200);
    same_shape(
        &fixture("bulk2/query-create-job-response.json"),
        &created,
        true,
    )
    .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, info) = Org::send(org.request(Method::GET, &format!("/jobs/query/{id}"))).await;
    same_shape(
        &fixture("bulk2/query-job-info-jobcomplete.json"),
        &info,
        true,
    )
    .unwrap();
    assert_eq!(info["state"], json!("JobComplete"));

    let page = |locator: Option<String>| {
        let mut request = org
            .request(Method::GET, &format!("/jobs/query/{id}/results"))
            .query(&[("maxRecords", "3")]);
        if let Some(locator) = locator {
            request = request.query(&[("locator", locator)]);
        }
        request.send()
    };
    let first = page(None).await.unwrap();
    let locator = first.headers()["sforce-locator"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(first.headers()["sforce-numberofrecords"], "3");
    let text = first.text().await.unwrap();
    assert!(
        text.starts_with("\"Id\",\"Name\"\n\"001"),
        "like the docs' page: {text}"
    );
    assert_eq!(text.lines().count(), 4);
    let second = page(Some(locator)).await.unwrap();
    assert_eq!(second.headers()["sforce-locator"], "null");
    assert_eq!(second.headers()["sforce-numberofrecords"], "2");
    assert!(second.text().await.unwrap().contains("\"Account 4\""));

    let (status, error) =
        Org::send(org.request(Method::GET, "/jobs/query/750000000000000AAA")).await;
    assert_eq!(
        (status, error),
        (404, fixture("bulk2/query-job-not-found-error.json"))
    );
}

#[tokio::test]
async fn a_multipart_ingest_job_lands_in_upload_complete_and_runs() {
    let org = Org::start().await;
    let body = std::fs::read(fixture_path("bulk2/ingest-multipart-create-request.txt")).unwrap();
    // The docs' text has bare newlines; multipart wants CRLF.
    let body = String::from_utf8(body)
        .unwrap()
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    let (status, job) = Org::send(
        org.request(Method::POST, "/jobs/ingest")
            .header("content-type", "multipart/form-data; boundary=BOUNDARY")
            .body(body),
    )
    .await;
    assert_eq!(status, 200, "{job}");
    same_shape(
        &fixture("bulk2/ingest-patch-uploadcomplete-response.json"),
        &job,
        true,
    )
    .unwrap();
    assert_eq!(job["state"], json!("UploadComplete"));
    let id = job["id"].as_str().unwrap();
    let results =
        Org::text(org.request(Method::GET, &format!("/jobs/ingest/{id}/successfulResults"))).await;
    let documented =
        std::fs::read_to_string(fixture_path("bulk2/ingest-successfulResults.csv")).unwrap();
    let header = |csv: &str| csv.lines().next().unwrap().to_owned();
    assert_eq!(header(&results), header(&documented));
    assert_eq!(results.lines().count(), documented.lines().count());
}
