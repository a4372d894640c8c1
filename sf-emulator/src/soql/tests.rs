use serde_json::{Value, json};

use super::*;
use crate::org::Fields;
use crate::schema::Schema;

fn body(value: Value) -> Fields {
    value.as_object().cloned().unwrap()
}

/// Acme with two contacts, Globex with one, and a contact with no account.
fn org() -> Org {
    let mut org = Org::new(Schema::standard());
    let acme = org
        .create(
            "Account",
            &body(json!({ "Name": "Acme", "NumberOfEmployees": 50, "Industry": "Technology" })),
        )
        .unwrap();
    let globex = org
        .create(
            "Account",
            &body(json!({ "Name": "Globex", "NumberOfEmployees": 500 })),
        )
        .unwrap();
    for (last, first, account, birthdate) in [
        ("Hopper", Some("Grace"), Some(&acme), Some("1906-12-09")),
        ("Lovelace", Some("Ada"), Some(&acme), Some("1815-12-10")),
        ("Turing", None, Some(&globex), None),
        ("Nobody", None, None, None),
    ] {
        let mut fields = json!({ "LastName": last });
        if let Some(first) = first {
            fields["FirstName"] = json!(first);
        }
        if let Some(account) = account {
            fields["AccountId"] = json!(account.to_string());
        }
        if let Some(birthdate) = birthdate {
            fields["Birthdate"] = json!(birthdate);
        }
        org.create("Contact", &body(fields)).unwrap();
    }
    org
}

fn names(org: &Org, query: &str) -> Vec<String> {
    run(org, query, false, "v60.0")
        .unwrap()
        .records
        .iter()
        .map(|r| {
            r["LastName"]
                .as_str()
                .or(r["Name"].as_str())
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[test]
fn where_clauses_filter_like_salesforce() {
    let org = org();
    let q = |condition: &str| {
        names(
            &org,
            &format!("SELECT LastName FROM Contact WHERE {condition} ORDER BY LastName"),
        )
    };
    assert_eq!(q("LastName = 'hopper'"), ["Hopper"], "= ignores case");
    assert_eq!(q("FirstName != null"), ["Hopper", "Lovelace"]);
    assert_eq!(q("FirstName = null"), ["Nobody", "Turing"]);
    assert_eq!(
        q("FirstName != 'Ada'"),
        ["Hopper", "Nobody", "Turing"],
        "!= keeps nulls"
    );
    assert_eq!(q("LastName LIKE '%o%e%'"), ["Hopper", "Lovelace"]);
    assert_eq!(q("LastName IN ('Turing', 'Nobody')"), ["Nobody", "Turing"]);
    assert_eq!(
        q("LastName NOT IN ('Turing', 'Nobody')"),
        ["Hopper", "Lovelace"]
    );
    assert_eq!(
        q("Account.Name = 'Acme' AND NOT FirstName = 'Ada'"),
        ["Hopper"]
    );
    assert_eq!(
        q("(Account.NumberOfEmployees > 100 OR Birthdate < 1900-01-01) AND LastName != 'x'"),
        ["Lovelace", "Turing"]
    );
    assert_eq!(q("Birthdate >= 1900-01-01"), ["Hopper"]);
    assert_eq!(
        q("CreatedDate = TODAY"),
        ["Hopper", "Lovelace", "Nobody", "Turing"]
    );
    assert_eq!(
        q("CreatedDate = LAST_N_DAYS:3"),
        ["Hopper", "Lovelace", "Nobody", "Turing"]
    );
    assert!(q("CreatedDate = YESTERDAY").is_empty());
    assert!(q("CreatedDate > TODAY").is_empty());
    assert!(q("CreatedDate < 2000-01-01T00:00:00Z").is_empty());
    assert_eq!(q("Account.Industry = 'Technology'"), ["Hopper", "Lovelace"]);
}

#[test]
fn parents_are_nested_and_results_ordered_cut_and_counted() {
    let org = org();
    let result = run(
        &org,
        "SELECT Id, Name, Account.Name, Account.NumberOfEmployees FROM Contact ORDER BY Account.Name DESC NULLS LAST, LastName LIMIT 3 OFFSET 1",
        false,
        "v60.0",
    )
    .unwrap();
    assert_eq!(result.total_size, 3);
    let first = &result.records[0];
    assert_eq!(first["Name"], json!("Grace Hopper"));
    assert_eq!(first["Account"]["Name"], json!("Acme"));
    assert_eq!(first["Account"]["NumberOfEmployees"], json!(50));
    assert_eq!(first["Account"]["attributes"]["type"], json!("Account"));
    assert_eq!(first["attributes"]["type"], json!("Contact"));
    assert_eq!(
        first.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["attributes", "Id", "Name", "Account"]
    );
    assert_eq!(
        result.records[2]["Account"],
        Value::Null,
        "no account, null last"
    );
    let count = run(
        &org,
        "select count() from Contact where AccountId != null",
        false,
        "v60.0",
    )
    .unwrap();
    assert_eq!((count.total_size, count.records.len()), (3, 0));
}

#[test]
fn query_all_sees_deleted_records() {
    let mut org = org();
    let ids: Vec<_> = run(
        &org,
        "SELECT Id FROM Account WHERE Name = 'Globex'",
        false,
        "v60.0",
    )
    .unwrap()
    .records;
    let id = crate::ids::RecordId::parse(ids[0]["Id"].as_str().unwrap()).unwrap();
    org.delete("Account", &id).unwrap();
    assert_eq!(
        run(&org, "SELECT Id FROM Account", false, "v60.0")
            .unwrap()
            .total_size,
        1
    );
    let all = run(
        &org,
        "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true",
        true,
        "v60.0",
    )
    .unwrap();
    assert_eq!(all.total_size, 1);
}

#[test]
fn bad_queries_get_salesforce_codes_and_positions() {
    let org = org();
    let error = |query: &str| run(&org, query, false, "v60.0").unwrap_err();
    let malformed = error("SELECT FROM Account");
    assert_eq!(malformed.code, "MALFORMED_QUERY");
    assert_eq!(
        malformed.message,
        "\nSELECT FROM Account\n       ^\nERROR at Row:1:Column:8\nunexpected token: FROM"
    );
    let unknown_object = error("SELECT Id FROM Acount");
    assert_eq!(unknown_object.code, "INVALID_TYPE");
    assert!(
        unknown_object
            .message
            .contains("ERROR at Row:1:Column:16\nsObject type 'Acount' is not supported.")
    );
    let unknown_field = error("SELECT Id, Nme FROM Account");
    assert_eq!(unknown_field.code, "INVALID_FIELD");
    assert!(
        unknown_field
            .message
            .contains("No such column 'Nme' on entity 'Account'."),
        "{}",
        unknown_field.message
    );
    let relationship = error("SELECT Acount.Name FROM Contact");
    assert!(
        relationship
            .message
            .contains("Didn't understand relationship 'Acount' in field path.")
    );
    let parent_field = error("SELECT Account.Nope FROM Contact");
    assert!(
        parent_field
            .message
            .contains("No such column 'Nope' on entity 'Account'.")
    );
    let wrong_type = error("SELECT Id FROM Account WHERE NumberOfEmployees = 'many'");
    assert_eq!(wrong_type.code, "INVALID_QUERY_FILTER_OPERATOR");
    assert!(wrong_type.message.ends_with("value of filter criterion for field 'NumberOfEmployees' must be of type integer and should not be enclosed in quotes"));
    assert_eq!(
        error("SELECT Id FROM Account OFFSET 2001").code,
        "NUMBER_OUTSIDE_VALID_RANGE"
    );
    assert_eq!(
        error("SELECT Id FROM Account WHERE Name = 'x").code,
        "MALFORMED_QUERY"
    );
    assert_eq!(
        error("SELECT Id FROM Account WHERE NumberOfEmployees LIKE '5%'").code,
        "INVALID_QUERY_FILTER_OPERATOR"
    );
}

#[test]
fn ids_sort_case_sensitively_as_keyset_comparisons_read_them() {
    let mut org = Org::new(Schema::standard());
    // Ids 10 and 36 end in `A` and `a`: equal to a case-blind sort.
    let ids: Vec<String> = (0..40)
        .map(|n| {
            org.create(
                "Lead",
                &body(json!({ "LastName": format!("L{n}"), "Company": "Acme" })),
            )
            .unwrap()
            .to_string()
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    let id_order = |query: &str| -> Vec<String> {
        run(&org, query, false, "v60.0")
            .unwrap()
            .records
            .iter()
            .map(|r| r["Id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        id_order("SELECT Id FROM Lead ORDER BY Id DESC"),
        sorted.iter().rev().cloned().collect::<Vec<_>>()
    );
    // Every page after an Id holds exactly the Ids sorted after it.
    for (at, id) in sorted.iter().enumerate() {
        let after = id_order(&format!(
            "SELECT Id FROM Lead WHERE Id > '{id}' ORDER BY Id"
        ));
        assert_eq!(after, sorted[at + 1..], "after {id}");
    }
}

#[test]
fn a_pinned_clock_stamps_every_write_alike_to_the_millisecond() {
    let mut org = Org::new(Schema::standard());
    let at = chrono::DateTime::parse_from_rfc3339("2026-03-29T01:00:00.123456Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    org.pin_clock(Some(at));
    for n in 0..3 {
        org.create(
            "Lead",
            &body(json!({ "LastName": format!("L{n}"), "Company": "Acme" })),
        )
        .unwrap();
    }
    org.pin_clock(None);
    org.create(
        "Lead",
        &body(json!({ "LastName": "later", "Company": "Acme" })),
    )
    .unwrap();
    let stamped = run(
        &org,
        "SELECT Id FROM Lead WHERE SystemModstamp = 2026-03-29T01:00:00.123Z AND CreatedDate = 2026-03-29T01:00:00.123Z",
        false,
        "v60.0",
    )
    .unwrap();
    assert_eq!(stamped.total_size, 3);
}
