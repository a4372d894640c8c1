use serde_json::json;

use super::*;

/// The regression: pasted between quotes, this input returned every Account.
#[test]
fn an_injection_attempt_stays_one_string_literal() {
    let soql = bind(
        "SELECT Id FROM Account WHERE Name = :name",
        &json!({ "name": "nobody' OR Name != 'x" }),
    )
    .unwrap();
    assert_eq!(
        soql,
        r"SELECT Id FROM Account WHERE Name = 'nobody\' OR Name != \'x'"
    );
}

/// The regression: pasted between quotes, this failed with MALFORMED_QUERY.
#[test]
fn an_apostrophe_is_escaped() {
    assert_eq!(quote("O'Reilly"), r"'O\'Reilly'");
}

#[test]
fn every_escape_sequence_of_soql_is_written() {
    assert_eq!(
        quote("a\\b\"c\nd\re\tf\u{8}g\u{c}h%_"),
        r#"'a\\b\"c\nd\re\tf\bg\fh%_'"#
    );
}

#[test]
fn each_json_type_becomes_its_literal() {
    let soql = bind(
        "SELECT Id FROM Opportunity WHERE Amount > :amount AND IsWon = :won AND \
         Description != :none AND StageName IN :stages AND CloseDate = :close AND \
         CreatedDate > :since AND Probability IN :mixed",
        &json!({
            "amount": 1.5e3, "won": false, "none": null, "stages": ["Won", "Lost"],
            "close": { "date": "2026-12-03" },
            "since": { "datetime": "2026-12-03T11:00:00.250+01:00" },
            "mixed": [10, 20.5],
        }),
    )
    .unwrap();
    assert_eq!(
        soql,
        "SELECT Id FROM Opportunity WHERE Amount > 1500.0 AND IsWon = false AND \
         Description != null AND StageName IN ('Won','Lost') AND CloseDate = 2026-12-03 AND \
         CreatedDate > 2026-12-03T10:00:00.250Z AND Probability IN (10,20.5)"
    );
}

#[test]
fn names_inside_string_literals_and_date_literals_are_not_parameters() {
    let soql = bind(
        r"SELECT Id FROM Task WHERE Subject = 'at :noon, it\'s :late' AND CreatedDate = LAST_N_DAYS:30 AND OwnerId = :owner",
        &json!({ "owner": "005A" }),
    )
    .unwrap();
    assert_eq!(
        soql,
        r"SELECT Id FROM Task WHERE Subject = 'at :noon, it\'s :late' AND CreatedDate = LAST_N_DAYS:30 AND OwnerId = '005A'"
    );
}

#[test]
fn a_parameter_used_twice_is_written_twice() {
    assert_eq!(
        bind(
            "SELECT Id FROM Lead WHERE Email = :e OR Secondary_Email__c = :e",
            &json!({ "e": "a@b.c" })
        )
        .unwrap(),
        "SELECT Id FROM Lead WHERE Email = 'a@b.c' OR Secondary_Email__c = 'a@b.c'"
    );
}

#[test]
fn mistakes_are_errors_that_say_what_to_fix() {
    for (soql, params, message) in [
        (
            "SELECT Id FROM Lead WHERE Email = :email",
            json!({ "emial": "x" }),
            "`:email` has no value; the parameters given are: `emial`",
        ),
        (
            "SELECT Id FROM Lead",
            json!({ "email": "x" }),
            "the parameter `email` is not used by the query",
        ),
        (
            "SELECT Id FROM Lead WHERE Id IN :ids",
            json!({ "ids": [] }),
            "`:ids`: an empty list; `IN` needs at least one value",
        ),
        (
            "SELECT Id FROM Lead WHERE Id IN :ids",
            json!({ "ids": [["a"]] }),
            "`:ids`: a list inside a list",
        ),
        (
            "SELECT Id FROM Lead WHERE CreatedDate > :t",
            json!({ "t": { "datetime": "yesterday" } }),
            "`:t`: `yesterday` is not a datetime",
        ),
        (
            "SELECT Id FROM Lead WHERE CloseDate > :d",
            json!({ "d": { "date": "2026-13-01" } }),
            "`:d`: `2026-13-01` is not a date",
        ),
        (
            "SELECT Id FROM Lead WHERE Name = :n",
            json!({ "n": { "name": "x" } }),
            "`:n`: an object; only `{\"date\": \"YYYY-MM-DD\"}`",
        ),
        (
            "SELECT Id FROM Lead WHERE Name = :n",
            json!(["x"]),
            "the parameters must be a JSON object of names and values, not an array",
        ),
        (
            "SELECT Id FROM Lead WHERE Name = 'open",
            json!({}),
            "the query has a string literal that is not closed",
        ),
    ] {
        let error = bind(soql, &params).unwrap_err().to_string();
        assert!(error.contains(message), "{soql}: {error}");
    }
}

#[test]
fn a_query_without_parameters_is_unchanged() {
    let soql = "SELECT Id, (SELECT Id FROM Contacts) FROM Account WHERE Name LIKE 'A%'";
    assert_eq!(bind(soql, &Value::Null).unwrap(), soql);
}
