use serde_json::json;

use super::*;
use crate::schema::Schema;
use crate::{Config, Emulator};

fn fields(value: serde_json::Value) -> crate::org::Fields {
    value.as_object().unwrap().clone()
}

#[test]
fn topic_names_are_salesforces() {
    let mut schema = Schema::standard();
    schema.add_object(crate::schema::custom_object(
        "Employee__c",
        "Employee",
        "Employees",
        "a01",
        Vec::new(),
    ));
    schema.add_object(crate::schema::platform_event(
        "Order_Placed__e",
        "Order Placed",
        "Orders Placed",
        "e01",
    ));
    let find = |name| Topic::find(&schema, name);
    assert_eq!(find("/data/ChangeEvents"), Some(Topic::AllChanges));
    assert_eq!(
        find("/data/AccountChangeEvent"),
        Some(Topic::Changes("Account".into()))
    );
    assert_eq!(
        find("/data/Employee__ChangeEvent"),
        Some(Topic::Changes("Employee__c".into()))
    );
    assert_eq!(
        find("/event/Order_Placed__e"),
        Some(Topic::Event("Order_Placed__e".into()))
    );
    // Case-sensitive, and no change events of platform events.
    for wrong in [
        "/data/accountChangeEvent",
        "/data/Order_Placed__eChangeEvent",
        "/event/Account",
        "/data/Nope",
        "Data/AccountChangeEvent",
    ] {
        assert_eq!(find(wrong), None, "{wrong}");
    }
}

#[test]
fn a_schema_defines_each_named_type_once_and_gathers_compound_fields() {
    let schema = Schema::standard();
    let account = layout::change_event(schema.object("Account").unwrap()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&account.json).unwrap();
    assert_eq!(json["name"], "AccountChangeEvent");
    assert_eq!(json["namespace"], "com.sforce.eventbus");
    let names: Vec<&str> = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["name"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "ChangeEventHeader");
    assert!(names.contains(&"BillingAddress") && names.contains(&"ShippingAddress"));
    for gone in ["Id", "IsDeleted", "SystemModstamp", "BillingCity"] {
        assert!(!names.contains(&gone), "{gone} is sent");
    }
    // Address is defined at BillingAddress and named at ShippingAddress.
    let shipping = json["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|field| field["name"] == "ShippingAddress")
        .unwrap();
    assert_eq!(shipping["type"], json!(["null", "Address"]));
    assert_eq!(
        account.position("BillingCity"),
        account.position("BillingStreet").map(|(i, _)| (i, Some(1)))
    );

    let contact = layout::change_event(schema.object("Contact").unwrap()).unwrap();
    let (name, part) = contact.position("FirstName").unwrap();
    assert_eq!(contact.columns[name - 1].name(), "Name");
    assert_eq!(part, Some(1));
    assert!(contact.json.contains("Switchable_PersonName"));
    // Same object, same schema, same id; another object, another id.
    let again = layout::change_event(schema.object("Account").unwrap()).unwrap();
    assert_eq!(again.id, account.id);
    assert_eq!(account.id.len(), 22);
    assert_ne!(contact.id, account.id);
}

#[test]
fn bitmaps_name_top_level_fields_and_compound_parts() {
    let schema = Schema::standard();
    let account = layout::change_event(schema.object("Account").unwrap()).unwrap();
    let (phone, _) = account.position("Phone").unwrap();
    let (billing, _) = account.position("BillingCity").unwrap();
    let listed = bitmaps(
        &account,
        &["Phone".into(), "BillingCity".into(), "BillingState".into()],
    );
    assert_eq!(listed, [bitmap(&[phone]), format!("{billing}-0x06")]);
    assert!(bitmaps(&account, &[]).is_empty());
}

#[tokio::test]
async fn a_requests_writes_are_one_transaction_in_commit_order() {
    let emulator = Emulator::new(Config::default());
    let (first, second) = {
        let mut org = emulator.org();
        let a = org
            .create("Account", &fields(json!({"Name": "A"})))
            .unwrap();
        let b = org
            .create("Contact", &fields(json!({"LastName": "B"})))
            .unwrap();
        (a, b)
    };
    emulator
        .org()
        .update("Account", &first, &fields(json!({"Name": "A2"})))
        .unwrap();
    let mut bus = emulator.event_bus();
    let start = bus.start(true, None).unwrap();
    let (events, read_to) = bus.read(&Topic::AllChanges, start, 10);
    assert_eq!(events.len(), 3);
    assert_eq!(read_to, bus.latest());
    assert!(
        events
            .windows(2)
            .all(|pair| pair[0].replay < pair[1].replay)
    );
    let entities: Vec<&str> = events.iter().map(|e| e.entity.as_str()).collect();
    assert_eq!(entities, ["Account", "Contact", "Account"]);
    let (only_contacts, _) = bus.read(&Topic::Changes("Contact".into()), start, 10);
    assert_eq!(only_contacts.len(), 1);
    // Read in pieces: the position stops before the event not taken.
    let (one, to) = bus.read(&Topic::AllChanges, start, 1);
    assert_eq!((one.len(), to), (1, events[1].replay - 1));
    let _ = second;
}

#[test]
fn replay_ids_outside_the_bus_are_refused_and_expire() {
    let mut bus = EventBus::new(DEFAULT_RETENTION, 2);
    let latest = bus.latest();
    assert_eq!(bus.start(false, None), Ok(latest));
    assert_eq!(bus.start(false, Some(latest)), Ok(latest));
    assert!(bus.start(false, Some(latest + 5)).is_err());
    assert!(bus.start(false, Some(latest - 1)).is_err());
    let replay = bus.append_published("Order__e", "u", "s", vec![1]);
    assert_eq!(replay_number(&replay_bytes(replay)), Some(replay));
    assert_eq!(replay_bytes(replay).len(), 10);
    assert_eq!(replay_number(&replay.to_be_bytes()), Some(replay));
    assert_eq!(replay_number(&[1, 2, 3]), None);
    // Past its capacity, the oldest events go as if expired.
    bus.append_published("Order__e", "v", "s", vec![2]);
    bus.append_published("Order__e", "w", "s", vec![3]);
    assert_eq!(bus.start(true, None), Ok(replay));
    assert!(bus.start(false, Some(latest)).is_err());
    bus.expire_all();
    assert!(
        bus.start(false, Some(latest)).is_err(),
        "an expired id is taken"
    );
    assert_eq!(bus.start(true, None), Ok(replay + 2));
}
