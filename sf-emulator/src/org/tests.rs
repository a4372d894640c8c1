use serde_json::json;

use super::*;

fn org() -> Org {
    Org::new(Schema::standard())
}

fn body(value: Value) -> Fields {
    value.as_object().cloned().unwrap()
}

#[test]
fn a_created_record_gets_an_id_audit_fields_defaults_and_derived_fields() {
    let mut org = org();
    let id = org
        .create("lead", &body(json!({ "LastName": "Lovelace", "FirstName": "Ada", "Company": "Analytical Engines" })))
        .unwrap();
    assert_eq!(id.key_prefix(), "00Q");
    let lead = org.get("Lead", &id).unwrap();
    assert_eq!(lead["Name"], json!("Ada Lovelace"));
    assert_eq!(lead["Status"], json!("Open - Not Contacted"));
    assert_eq!(lead["OwnerId"], json!(org.user().to_string()));
    assert_eq!(lead["IsDeleted"], json!(false));
    let created = lead["CreatedDate"].as_str().unwrap();
    assert!(values::parse_datetime(created).is_some(), "{created}");
    assert!(
        created.ends_with("+0000") && created.len() == 28,
        "{created}"
    );
}

#[test]
fn creates_are_checked_like_salesforce_checks_them() {
    let mut org = org();
    let error =
        |org: &mut Org, object: &str, value: Value| org.create(object, &body(value)).unwrap_err();
    let missing = error(&mut org, "Lead", json!({ "FirstName": "Ada" }));
    assert_eq!(missing.code, "REQUIRED_FIELD_MISSING");
    assert_eq!(
        missing.message,
        "Required fields are missing: [LastName, Company]"
    );
    assert_eq!(missing.fields, ["LastName", "Company"]);
    let unknown = error(&mut org, "Account", json!({ "Name": "A", "foo": 1 }));
    assert_eq!(
        (unknown.code, unknown.message.as_str()),
        (
            "INVALID_FIELD",
            "No such column 'foo' on sobject of type Account"
        )
    );
    let with_id = error(
        &mut org,
        "Account",
        json!({ "Id": "001D000000IqhSLIAZ", "Name": "A" }),
    );
    assert_eq!(
        with_id.message,
        "The Id field should not be specified in the sobject data."
    );
    let read_only = error(
        &mut org,
        "Account",
        json!({ "Name": "A", "CreatedDate": "2020-01-01T00:00:00Z" }),
    );
    assert_eq!(read_only.code, "INVALID_FIELD_FOR_INSERT_UPDATE");
    let dangling = error(
        &mut org,
        "Contact",
        json!({ "LastName": "L", "AccountId": "001D000000IqhSLIAZ" }),
    );
    assert_eq!(dangling.code, "INVALID_CROSS_REFERENCE_KEY");
    let unknown_object = error(&mut org, "Bogus", json!({}));
    assert_eq!(
        (unknown_object.status, unknown_object.code),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
}

#[test]
fn updates_change_fields_and_stamp_the_record_and_deletes_hide_it() {
    let mut org = org();
    let account = org
        .create("Account", &body(json!({ "Name": "Acme" })))
        .unwrap();
    let contact = org
        .create(
            "Contact",
            &body(json!({ "LastName": "Hopper", "AccountId": account.as_str() })),
        )
        .unwrap();
    org.update("Contact", &contact, &body(json!({ "FirstName": "Grace" })))
        .unwrap();
    assert_eq!(
        org.get("Contact", &contact).unwrap()["Name"],
        json!("Grace Hopper")
    );
    let cleared = org
        .update("Contact", &contact, &body(json!({ "LastName": null })))
        .unwrap_err();
    assert_eq!(cleared.code, "REQUIRED_FIELD_MISSING");
    assert_eq!(
        org.get("Account", &contact),
        None,
        "an Id of another object is not found"
    );
    org.delete("Contact", &contact).unwrap();
    assert_eq!(org.get("Contact", &contact), None);
    assert_eq!(
        org.delete("Contact", &contact).unwrap_err().code,
        "ENTITY_IS_DELETED"
    );
    let object = org.schema().object("Contact").unwrap().clone();
    assert_eq!(
        org.records(&object, true).count(),
        1,
        "queryAll still sees it"
    );
    assert_eq!(org.records(&object, false).count(), 0);
}

#[test]
fn upserts_create_update_and_refuse_ambiguous_matches() {
    let mut org = org();
    let mut external = Field::new("Ext_Id__c", FieldType::String).length(40);
    external.external_id = true;
    org.schema_mut().add_field("Account", external).unwrap();
    let upsert = |org: &mut Org, key: &str, value: Value| {
        org.upsert("Account", "Ext_Id__c", key, &body(value), "v60.0")
    };
    let Upserted::Created(id) = upsert(&mut org, "A-1", json!({ "Name": "Acme" })).unwrap() else {
        panic!("not created");
    };
    assert_eq!(
        upsert(&mut org, "a-1", json!({ "Name": "Acme Corp" })).unwrap(),
        Upserted::Updated(id.clone())
    );
    assert_eq!(org.get("Account", &id).unwrap()["Name"], json!("Acme Corp"));
    // An external id that is not unique may be shared; upserting on it
    // then matches several records.
    let second = org
        .create("Account", &body(json!({ "Name": "B", "Ext_Id__c": "A-1" })))
        .unwrap();
    let Err(ExternalIdError::Multiple(urls)) = upsert(&mut org, "A-1", json!({ "Name": "C" }))
    else {
        panic!("not refused");
    };
    assert_eq!(
        urls,
        [
            format!("/services/data/v60.0/sobjects/Account/{id}"),
            format!("/services/data/v60.0/sobjects/Account/{second}")
        ]
    );
    let mut unique = Field::new("Code__c", FieldType::String);
    unique.unique = true;
    org.schema_mut().add_field("Account", unique).unwrap();
    org.update("Account", &id, &body(json!({ "Code__c": "X" })))
        .unwrap();
    let duplicate = org
        .update("Account", &second, &body(json!({ "Code__c": "x" })))
        .unwrap_err();
    assert_eq!(duplicate.code, "DUPLICATE_VALUE");
    assert_eq!(
        duplicate.message,
        format!("duplicate value found: Code__c duplicates value on record with id: {id}")
    );
    // The unique value moves with updates and deletes, and the index
    // follows the records replaced by a restore.
    org.update("Account", &id, &body(json!({ "Code__c": "Y" })))
        .unwrap();
    org.update("Account", &second, &body(json!({ "Code__c": "x" })))
        .unwrap();
    let snapshot = org.snapshot();
    org.delete("Account", &second).unwrap();
    org.update("Account", &id, &body(json!({ "Code__c": "X" })))
        .unwrap();
    org.restore(&snapshot).unwrap();
    let clash = org
        .update("Account", &id, &body(json!({ "Code__c": "X" })))
        .unwrap_err();
    assert_eq!(
        clash.code, "DUPLICATE_VALUE",
        "the restored record holds X again"
    );
    let not_external = org
        .upsert("Account", "Name", "Acme", &body(json!({})), "v60.0")
        .unwrap_err();
    assert!(
        matches!(not_external, ExternalIdError::Api(ref e) if e.message == "Provided external ID field does not exist or is not accessible: Name")
    );
}

#[test]
fn writes_are_kept_for_outbound_messages_only_once_watched() {
    let mut org = org();
    let before = org
        .create("Account", &body(json!({ "Name": "Unwatched" })))
        .unwrap();
    assert!(
        org.take_changes().is_empty(),
        "nothing kept, nothing piles up"
    );
    org.watch_changes();
    let created = org
        .create("Account", &body(json!({ "Name": "Watched" })))
        .unwrap();
    org.update("Account", &before, &body(json!({ "Phone": "1" })))
        .unwrap();
    let changes = org.take_changes();
    assert_eq!(
        changes
            .iter()
            .map(|c| (c.id.clone(), c.created))
            .collect::<Vec<_>>(),
        [(created, true), (before, false)]
    );
    assert!(org.take_changes().is_empty());
}
