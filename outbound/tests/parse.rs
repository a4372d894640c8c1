//! The captured Outbound Messages in `fixtures/salesforce/outbound-messages`
//! read into events, and every way a body is refused.

use gust_outbound::{FieldType, MAX_NOTIFICATIONS, NOTIFICATION_XML, ParseError, parse};
use serde_json::{Value, json};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../fixtures/salesforce/outbound-messages/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn untyped(_: &str) -> Option<FieldType> {
    None
}

/// The message's events, each without its element as sent (which
/// `each_notification_keeps_its_element_byte_for_byte` checks).
fn events(body: &[u8]) -> Vec<Value> {
    let mut events = parse(body, &untyped).unwrap().events(None);
    for event in &mut events {
        let xml = event.as_object_mut().unwrap().remove(NOTIFICATION_XML);
        assert!(xml.is_some_and(|xml| xml.is_string()));
    }
    events
}

#[test]
fn a_single_line_message_with_a_nil_session_becomes_one_event() {
    assert_eq!(
        events(&fixture("om-single-opportunity-compact-ap5.xml")),
        vec![json!({
            "notification_id": "04l7F000008aeAyQAI",
            "organization_id": "00D7F00000107XsUAI",
            "action_id": "04k7F0000008V3hQAE",
            "sobject_type": "Opportunity",
            "record": {
                "Id": "0067F000003pmdWQAQ",
                "AccountId": "0017F000007ydJmQAI",
                "Amount": 120000.0,
                "CloseDate": "2017-04-03",
                "LeadSource": "Phone Inquiry",
                "Name": "Express Logistics SLA",
                "StageName": "Perception Analysis"
            },
            "session_id": null,
            "enterprise_url": "https://ap5.salesforce.com/services/Soap/c/47.0/00D7F00000107Xs",
            "partner_url": "https://ap5.salesforce.com/services/Soap/u/47.0/00D7F00000107Xs"
        })]
    );
}

#[test]
fn a_pretty_printed_message_with_fifteen_character_ids() {
    assert_eq!(
        events(&fixture("om-single-opportunity-nil-sessionid.xml")),
        vec![json!({
            "notification_id": "04lV0000001ALshIAG",
            "organization_id": "00DQ0000000EB93",
            "action_id": "04kV0000000CaSPIA0",
            "sobject_type": "Opportunity",
            "record": {
                "Id": "006Q0000009N3gf",
                "AccountId": "001Q000000SvOoG",
                "Billing_Contact_Email__c": "Test email value"
            },
            "session_id": null,
            "enterprise_url": "https://cs12-api.salesforce.com/services/Soap/c/23.0/00DV00000000dS3",
            "partner_url": "https://cs12-api.salesforce.com/services/Soap/u/23.0/00DV00000000dS3"
        })]
    );
}

#[test]
fn two_contacts_without_an_xml_declaration_keep_their_session_and_order() {
    let events = events(&fixture("om-two-contacts-with-sessionid.xml"));
    let session = "00D1I000003qqqE!AQsAQOjGFnFJzGPA12yhUGL9Aii0N6lADjH2bNUBHRer5QjjTq3_RbIzlAqHBkfjp3vlHhlwByFY9MJQJlgz_7YaGJZzRF3t";
    assert_eq!(
        events,
        vec![
            json!({
                "notification_id": "04l1I000000fztEQAQ",
                "organization_id": "012345678901234",
                "action_id": "04k1I000000bmsHQAQ",
                "sobject_type": "Contact",
                "record": {
                    "Id": "0031I0000081tbPQAQ",
                    "CreatedDate": "2017-12-11T21:49:24.000+0000",
                    "FirstName": "Jeraldine",
                    "LastName": "Black",
                    "Title": "White"
                },
                "session_id": session,
                "enterprise_url": "https://na73.salesforce.com/services/Soap/c/41.0/00D1I000003qqqE",
                "partner_url": "https://na73.salesforce.com/services/Soap/u/41.0/00D1I000003qqqE"
            }),
            json!({
                "notification_id": "04l1I000000fzt9QAA",
                "organization_id": "012345678901234",
                "action_id": "04k1I000000bmsHQAQ",
                "sobject_type": "Contact",
                "record": {
                    "Id": "0031I0000081tb0QAA",
                    "CreatedDate": "2017-12-11T21:44:55.000+0000",
                    "Email": "drb24@cornell.edu",
                    "FirstName": "Doug",
                    "LastName": "Bunting",
                    "Title": "Supreme Being"
                },
                "session_id": session,
                "enterprise_url": "https://na73.salesforce.com/services/Soap/c/41.0/00D1I000003qqqE",
                "partner_url": "https://na73.salesforce.com/services/Soap/u/41.0/00D1I000003qqqE"
            }),
        ]
    );
}

#[test]
fn a_message_with_a_byte_order_mark_and_three_types_is_read_whole() {
    let events = events(&fixture("om-three-notifications-multiple-types.xml"));
    let ids: Vec<_> = events
        .iter()
        .map(|e| e["notification_id"].clone())
        .collect();
    assert_eq!(
        ids,
        json!([
            "04l37000000L0E5AAK",
            "14l37000123L0E5AAK",
            "24l37123450L0E5AAK"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let types: Vec<_> = events.iter().map(|e| e["sobject_type"].clone()).collect();
    assert_eq!(Value::Array(types), json!(["Lead1", "Lead2", "Lead3"]));
    let first = &events[0];
    assert_eq!(first["organization_id"], "0123456789ABCDENNN");
    assert_eq!(first["action_id"], "05h370200108OsUAAU");
    assert!(
        first["session_id"]
            .as_str()
            .unwrap()
            .starts_with("0123456789ABCDE!")
    );
    let record = first["record"].as_object().unwrap();
    assert_eq!(record.len(), 28, "every field, none dropped");
    assert_eq!(record.keys().next().unwrap(), "Id");
    assert_eq!(record["FirstName"], "Henrik");
    assert_eq!(record["IsConverted"], false);
    assert_eq!(record["IsUnreadByOwner"], false);
    assert_eq!(record["CreatedDate"], "2015-08-14T18:27:02.000+0000");
    assert_eq!(
        record["PostalCode"], "98052",
        "digits stay text without a type"
    );
    assert_eq!(
        record["PhotoUrl"],
        "/services/images/photo/0123456789ABCDEEAE"
    );
    assert_eq!(events[2]["record"]["FirstName"], "Nora");
}

#[test]
fn an_empty_notifications_element_names_what_is_missing() {
    assert_eq!(
        parse(&fixture("om-empty-notifications.xml"), &untyped),
        Err(ParseError::Missing("OrganizationId"))
    );
}

#[test]
fn the_describe_types_fields_and_an_xsi_type_on_a_field_wins() {
    let body = String::from_utf8(fixture("om-three-notifications-multiple-types.xml")).unwrap();
    let body = body.replace(
        "<sf:PostalCode>98052</sf:PostalCode>",
        "<sf:PostalCode>98052</sf:PostalCode><sf:NumberOfEmployees>500</sf:NumberOfEmployees><sf:Score__c xsi:type=\"xsd:double\">7</sf:Score__c>",
    );
    let describe = |name: &str| match name {
        "PostalCode" | "Score__c" => Some(FieldType::Text),
        "NumberOfEmployees" => Some(FieldType::Integer),
        _ => None,
    };
    let message = parse(body.as_bytes(), &describe).unwrap();
    let record = &message.notifications[0].record;
    assert_eq!(record["PostalCode"], "98052");
    assert_eq!(record["NumberOfEmployees"], 500);
    assert_eq!(record["Score__c"], 7.0);
}

/// The compact fixture with `replace` applied to it.
fn compact_with(replacements: &[(&str, &str)]) -> Vec<u8> {
    let mut body = String::from_utf8(fixture("om-single-opportunity-compact-ap5.xml")).unwrap();
    for (from, to) in replacements {
        assert!(body.contains(from), "{from}");
        body = body.replace(from, to);
    }
    body.into_bytes()
}

#[test]
fn any_namespace_prefixes_read_the_same() {
    let expected = events(&fixture("om-single-opportunity-compact-ap5.xml"));
    let renamed = compact_with(&[
        ("soapenv:", "S:"),
        ("xmlns:soapenv", "xmlns:S"),
        ("xsi:", "i:"),
        ("xmlns:xsi", "xmlns:i"),
        ("sf:", "ns2:"),
        ("xmlns:sf", "xmlns:ns2"),
        (
            "<notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\">",
            "<om:notifications xmlns:om=\"http://soap.sforce.com/2005/09/outbound\">",
        ),
        ("</notifications>", "</om:notifications>"),
    ]);
    assert_eq!(events(&renamed), expected);
    let pretty = String::from_utf8(fixture("om-single-opportunity-compact-ap5.xml"))
        .unwrap()
        .replace("><", ">\r\n  <")
        .replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "");
    assert_eq!(events(pretty.as_bytes()), expected);
}

#[test]
fn nil_fields_are_null_escapes_resolve_and_a_missing_type_takes_the_default() {
    let body = compact_with(&[
        (
            "<sf:LeadSource>Phone Inquiry</sf:LeadSource>",
            "<sf:LeadSource xsi:nil=\"true\"/><sf:Description>R&amp;D &lt;3 caf&#233; <![CDATA[<raw>]]></sf:Description>",
        ),
        (" xsi:type=\"sf:Opportunity\"", ""),
    ]);
    let message = parse(&body, &untyped).unwrap();
    let event = &message.events(Some("Opportunity"))[0];
    assert_eq!(event["sobject_type"], "Opportunity");
    assert_eq!(event["record"]["LeadSource"], Value::Null);
    assert_eq!(event["record"]["Description"], "R&D <3 café <raw>");
    assert_eq!(message.events(None)[0]["sobject_type"], Value::Null);
}

#[test]
fn declarations_and_undefined_entities_are_refused() {
    let billion_laughs = compact_with(&[
        (
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>",
        ),
        ("Phone Inquiry", "&lol2;"),
    ]);
    assert_eq!(parse(&billion_laughs, &untyped), Err(ParseError::Doctype));
    let external = compact_with(&[(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<!DOCTYPE x SYSTEM \"file:///etc/passwd\">",
    )]);
    assert_eq!(parse(&external, &untyped), Err(ParseError::Doctype));
    let undefined = compact_with(&[("Phone Inquiry", "&xxe;")]);
    assert_eq!(
        parse(&undefined, &untyped),
        Err(ParseError::UndefinedEntity("xxe".to_owned()))
    );
}

#[test]
fn a_message_of_more_than_a_hundred_notifications_is_refused() {
    let one = "<Notification><Id>04l000000000001</Id><sObject xsi:type=\"sf:Lead\" xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>00Q000000000001</sf:Id></sObject></Notification>";
    let message = |count: usize| {
        format!(
            "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><notifications xmlns=\"http://soap.sforce.com/2005/09/outbound\"><OrganizationId>00D000000000001</OrganizationId>{}</notifications></soapenv:Body></soapenv:Envelope>",
            one.repeat(count)
        )
    };
    let full = parse(message(MAX_NOTIFICATIONS).as_bytes(), &untyped).unwrap();
    assert_eq!(full.notifications.len(), MAX_NOTIFICATIONS);
    assert_eq!(
        parse(message(MAX_NOTIFICATIONS + 1).as_bytes(), &untyped),
        Err(ParseError::TooManyNotifications)
    );
}

#[test]
fn bodies_that_are_not_outbound_messages_say_why() {
    let refused = |body: &[u8]| parse(body, &untyped).unwrap_err().to_string();
    assert_eq!(refused(&[0x3c, 0xff, 0xfe]), "the body is not UTF-8 text");
    assert_eq!(
        refused(b"<soapenv:Envelope><soapenv:Body>"),
        "the XML ends inside <Body>"
    );
    assert!(
        refused(&compact_with(&[("</sf:Name>", "</sf:Nam>")]))
            .starts_with("the XML is malformed at byte")
    );
    assert_eq!(
        refused(b"{\"json\": true}"),
        "the message has no <notifications> element in a SOAP Body"
    );
    assert_eq!(
        refused(b"<html><body>hi</body></html>"),
        "the root element is <html>, not a SOAP Envelope"
    );
    assert_eq!(
        refused(b"<Envelope><Body><notificationsResponse/></Body></Envelope>"),
        "the SOAP Body holds <notificationsResponse>, not an Outbound Message's <notifications>"
    );
    assert_eq!(
        refused(&compact_with(&[(
            "<sf:Name>Express",
            "<sf:Name><b>x</b>Express"
        )])),
        "`Name` holds elements, where Salesforce sends a value"
    );
    assert_eq!(
        refused(&compact_with(&[("<Id>04l7F000008aeAyQAI</Id>", "")])),
        "the message has no Id in a Notification"
    );
    let deep = format!("<Envelope><Header>{}</Header></Envelope>", "<a>".repeat(40));
    assert_eq!(
        refused(deep.as_bytes()),
        "the XML nests elements more than 32 deep"
    );
}

#[test]
fn each_notification_keeps_its_element_byte_for_byte() {
    for name in [
        "om-single-opportunity-compact-ap5.xml",
        "om-three-notifications-multiple-types.xml",
        "om-two-contacts-with-sessionid.xml",
    ] {
        let body = fixture(name);
        let text = std::str::from_utf8(&body).unwrap();
        let message = parse(&body, &untyped).unwrap();
        // The elements as the message spells them, in order.
        let elements: Vec<&str> = text
            .match_indices("<Notification>")
            .map(|(start, _)| {
                let end = text[start..].find("</Notification>").unwrap() + start;
                &text[start..end + "</Notification>".len()]
            })
            .collect();
        let kept: Vec<&str> = message
            .notifications
            .iter()
            .map(|notification| notification.xml.as_str())
            .collect();
        assert_eq!(kept, elements, "{name}");
        for notification in &message.notifications {
            assert!(notification.xml.contains(&notification.id), "{name}");
        }
    }
}
