//! The standard objects, with their main standard fields.

use serde_json::{Value, json};

use super::{Field, FieldType, Object};

use FieldType::{
    Boolean, Currency, Date, Datetime, Email, Int, Percent, Phone, Picklist, Reference,
    String as Text, Textarea, Url,
};

impl Field {
    /// The field, with a value required on create.
    pub(crate) fn required(mut self) -> Self {
        self.nillable = false;
        self
    }

    /// The field, with at most `length` characters.
    pub(crate) fn length(mut self, length: u32) -> Self {
        self.length = length;
        self
    }

    /// The field, a picklist of `values`.
    pub(crate) fn values(mut self, values: &[&str]) -> Self {
        self.picklist_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    /// The field, a reference to `objects` named `relationship` in SOQL.
    pub(crate) fn refers(mut self, objects: &[&str], relationship: &str) -> Self {
        self.reference_to = objects.iter().map(|o| (*o).to_owned()).collect();
        self.relationship_name = Some(relationship.to_owned());
        self
    }

    /// The field, set by Salesforce alone.
    pub(crate) fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }

    /// The field, given `value` on create when it is not set.
    pub(crate) fn default(mut self, value: Value) -> Self {
        self.defaulted_on_create = true;
        self.nillable = false;
        self.default_value = Some(value);
        self
    }

    /// The field, the record's name.
    pub(crate) fn name_field(mut self) -> Self {
        self.name_field = true;
        self
    }
}

fn f(name: &str, kind: FieldType) -> Field {
    Field::new(name, kind)
}

/// An object with the system fields around `fields`: Id, OwnerId when
/// `owned`, IsDeleted, then `fields`, then the audit fields.
pub(super) fn object(
    name: &str,
    label: &str,
    label_plural: &str,
    key_prefix: &str,
    owned: bool,
    fields: Vec<Field>,
) -> Object {
    let mut all = vec![f("Id", FieldType::Id).read_only().required()];
    all[0].defaulted_on_create = true;
    all[0].label = "Record ID".to_owned();
    if owned {
        let mut owner = f("OwnerId", Reference)
            .refers(&["User"], "Owner")
            .required();
        owner.defaulted_on_create = true;
        owner.label = "Owner ID".to_owned();
        all.push(owner);
    }
    all.push(f("IsDeleted", Boolean).read_only().default(json!(false)));
    all.extend(fields);
    for (audit, kind) in [
        ("CreatedDate", Datetime),
        ("CreatedById", Reference),
        ("LastModifiedDate", Datetime),
        ("LastModifiedById", Reference),
        ("SystemModstamp", Datetime),
    ] {
        let mut field = f(audit, kind).read_only().required();
        field.defaulted_on_create = true;
        if kind == Reference {
            let relationship = audit.trim_end_matches("Id");
            field = field.refers(&["User"], relationship);
        }
        all.push(field);
    }
    Object {
        name: name.to_owned(),
        label: label.to_owned(),
        label_plural: label_plural.to_owned(),
        key_prefix: key_prefix.to_owned(),
        custom: name.ends_with("__c"),
        fields: all,
    }
}

/// A platform event object, with the fields every event has.
pub(super) fn platform_event(
    name: &str,
    label: &str,
    label_plural: &str,
    key_prefix: &str,
) -> Object {
    let mut fields = Vec::new();
    for (field, kind) in [
        ("ReplayId", Text),
        ("CreatedDate", Datetime),
        ("CreatedById", Reference),
        ("EventUuid", Text),
    ] {
        let mut field = f(field, kind).read_only();
        field.defaulted_on_create = true;
        if kind == Reference {
            field = field.refers(&["User"], "CreatedBy");
        }
        fields.push(field);
    }
    Object {
        name: name.to_owned(),
        label: label.to_owned(),
        label_plural: label_plural.to_owned(),
        key_prefix: key_prefix.to_owned(),
        custom: true,
        fields,
    }
}

fn address(prefix: &str) -> Vec<Field> {
    vec![
        f(&format!("{prefix}Street"), Textarea).length(255),
        f(&format!("{prefix}City"), Text).length(40),
        f(&format!("{prefix}State"), Text).length(80),
        f(&format!("{prefix}PostalCode"), Text).length(20),
        f(&format!("{prefix}Country"), Text).length(80),
    ]
}

const LEAD_SOURCES: &[&str] = &[
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
];
const INDUSTRIES: &[&str] = &[
    "Agriculture",
    "Banking",
    "Technology",
    "Education",
    "Energy",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Other",
];
const RATINGS: &[&str] = &["Hot", "Warm", "Cold"];

fn full_name() -> Field {
    f("Name", Text).length(121).read_only().name_field()
}

/// Every standard object.
pub(super) fn objects() -> Vec<Object> {
    let mut account_fields = vec![
        f("Name", Text).required().name_field(),
        f("AccountNumber", Text).length(40),
        f("Type", Picklist).values(&[
            "Prospect",
            "Customer - Direct",
            "Customer - Channel",
            "Partner",
            "Other",
        ]),
        f("ParentId", Reference).refers(&["Account"], "Parent"),
        f("Industry", Picklist).values(INDUSTRIES),
        f("AnnualRevenue", Currency),
        f("NumberOfEmployees", Int),
        f("Phone", Phone),
        f("Fax", Phone),
        f("Website", Url),
        f("Rating", Picklist).values(RATINGS),
        f("AccountSource", Picklist).values(LEAD_SOURCES),
        f("Description", Textarea),
    ];
    account_fields.extend(address("Billing"));
    account_fields.extend(address("Shipping"));

    let mut contact_fields = vec![
        f("AccountId", Reference).refers(&["Account"], "Account"),
        f("LastName", Text).length(80).required(),
        f("FirstName", Text).length(40),
        f("Salutation", Picklist).values(&["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]),
        full_name(),
        f("Email", Email),
        f("Phone", Phone),
        f("MobilePhone", Phone),
        f("Title", Text).length(128),
        f("Department", Text).length(80),
        f("ReportsToId", Reference).refers(&["Contact"], "ReportsTo"),
        f("LeadSource", Picklist).values(LEAD_SOURCES),
        f("Birthdate", Date),
        f("HasOptedOutOfEmail", Boolean).default(json!(false)),
        f("Description", Textarea),
    ];
    contact_fields.extend(address("Mailing"));

    let mut lead_fields = vec![
        f("LastName", Text).length(80).required(),
        f("FirstName", Text).length(40),
        f("Salutation", Picklist).values(&["Mr.", "Ms.", "Mrs.", "Dr.", "Prof."]),
        full_name(),
        f("Title", Text).length(128),
        f("Company", Text).required(),
        f("Email", Email),
        f("Phone", Phone),
        f("MobilePhone", Phone),
        f("Website", Url),
        f("Description", Textarea),
        f("LeadSource", Picklist).values(LEAD_SOURCES),
        f("Status", Picklist)
            .values(&[
                "Open - Not Contacted",
                "Working - Contacted",
                "Closed - Converted",
                "Closed - Not Converted",
            ])
            .default(json!("Open - Not Contacted")),
        f("Industry", Picklist).values(INDUSTRIES),
        f("Rating", Picklist).values(RATINGS),
        f("AnnualRevenue", Currency),
        f("NumberOfEmployees", Int),
        f("HasOptedOutOfEmail", Boolean).default(json!(false)),
        f("IsConverted", Boolean).read_only().default(json!(false)),
        f("ConvertedAccountId", Reference)
            .refers(&["Account"], "ConvertedAccount")
            .read_only(),
        f("ConvertedContactId", Reference)
            .refers(&["Contact"], "ConvertedContact")
            .read_only(),
    ];
    lead_fields.extend(address(""));

    vec![
        object(
            "Account",
            "Account",
            "Accounts",
            "001",
            true,
            account_fields,
        ),
        object(
            "Contact",
            "Contact",
            "Contacts",
            "003",
            true,
            contact_fields,
        ),
        object("Lead", "Lead", "Leads", "00Q", true, lead_fields),
        object(
            "Opportunity",
            "Opportunity",
            "Opportunities",
            "006",
            true,
            vec![
                f("AccountId", Reference).refers(&["Account"], "Account"),
                f("Name", Text).length(120).required().name_field(),
                f("Description", Textarea),
                f("StageName", Picklist)
                    .values(&[
                        "Prospecting",
                        "Qualification",
                        "Needs Analysis",
                        "Proposal/Price Quote",
                        "Negotiation/Review",
                        "Closed Won",
                        "Closed Lost",
                    ])
                    .required(),
                f("Amount", Currency),
                f("Probability", Percent),
                f("CloseDate", Date).required(),
                f("Type", Picklist).values(&["New Business", "Existing Business"]),
                f("NextStep", Text),
                f("LeadSource", Picklist).values(LEAD_SOURCES),
                f("IsClosed", Boolean).read_only().default(json!(false)),
                f("IsWon", Boolean).read_only().default(json!(false)),
                f("CampaignId", Reference).refers(&["Campaign"], "Campaign"),
            ],
        ),
        object(
            "Case",
            "Case",
            "Cases",
            "500",
            true,
            vec![
                f("CaseNumber", Text).length(30).read_only().name_field(),
                f("ContactId", Reference).refers(&["Contact"], "Contact"),
                f("AccountId", Reference).refers(&["Account"], "Account"),
                f("SuppliedName", Text).length(80),
                f("SuppliedEmail", Email),
                f("SuppliedPhone", Text).length(40),
                f("Type", Picklist).values(&[
                    "Mechanical",
                    "Electrical",
                    "Electronic",
                    "Structural",
                    "Other",
                ]),
                f("Status", Picklist)
                    .values(&["New", "Working", "Escalated", "Closed"])
                    .default(json!("New")),
                f("Reason", Picklist).values(&[
                    "Installation",
                    "Equipment Complexity",
                    "Performance",
                    "Breakdown",
                    "Other",
                ]),
                f("Origin", Picklist).values(&["Phone", "Email", "Web"]),
                f("Subject", Text),
                f("Priority", Picklist)
                    .values(&["High", "Medium", "Low"])
                    .default(json!("Medium")),
                f("Description", Textarea),
                f("IsClosed", Boolean).read_only().default(json!(false)),
                f("ClosedDate", Datetime).read_only(),
            ],
        ),
        object(
            "Task",
            "Task",
            "Tasks",
            "00T",
            true,
            vec![
                f("WhoId", Reference).refers(&["Contact", "Lead"], "Who"),
                f("WhatId", Reference)
                    .refers(&["Account", "Opportunity", "Case", "Campaign"], "What"),
                f("Subject", Text).name_field(),
                f("ActivityDate", Date),
                f("Status", Picklist)
                    .values(&[
                        "Not Started",
                        "In Progress",
                        "Completed",
                        "Waiting on someone else",
                        "Deferred",
                    ])
                    .default(json!("Not Started")),
                f("Priority", Picklist)
                    .values(&["High", "Normal", "Low"])
                    .default(json!("Normal")),
                f("Description", Textarea),
                f("IsClosed", Boolean).read_only().default(json!(false)),
                f("CallDurationInSeconds", Int),
                f("TaskSubtype", Picklist).values(&["Task", "Email", "Call"]),
            ],
        ),
        object(
            "Event",
            "Event",
            "Events",
            "00U",
            true,
            vec![
                f("WhoId", Reference).refers(&["Contact", "Lead"], "Who"),
                f("WhatId", Reference)
                    .refers(&["Account", "Opportunity", "Case", "Campaign"], "What"),
                f("Subject", Text).name_field(),
                f("Location", Text),
                f("IsAllDayEvent", Boolean).default(json!(false)),
                f("ActivityDateTime", Datetime),
                f("ActivityDate", Date),
                f("DurationInMinutes", Int),
                f("StartDateTime", Datetime),
                f("EndDateTime", Datetime),
                f("Description", Textarea),
            ],
        ),
        object(
            "Campaign",
            "Campaign",
            "Campaigns",
            "701",
            true,
            vec![
                f("Name", Text).length(80).required().name_field(),
                f("ParentId", Reference).refers(&["Campaign"], "Parent"),
                f("Type", Picklist).values(&[
                    "Conference",
                    "Webinar",
                    "Email",
                    "Advertisement",
                    "Other",
                ]),
                f("Status", Picklist).values(&["Planned", "In Progress", "Completed", "Aborted"]),
                f("StartDate", Date),
                f("EndDate", Date),
                f("ExpectedRevenue", Currency),
                f("BudgetedCost", Currency),
                f("ActualCost", Currency),
                f("IsActive", Boolean).default(json!(false)),
                f("Description", Textarea),
            ],
        ),
        object(
            "Product2",
            "Product",
            "Products",
            "01t",
            false,
            vec![
                f("Name", Text).required().name_field(),
                f("ProductCode", Text),
                f("Description", Textarea).length(4_000),
                f("IsActive", Boolean).default(json!(false)),
                f("Family", Picklist).values(&["None"]),
                f("StockKeepingUnit", Text).length(180),
            ],
        ),
        object(
            "Order",
            "Order",
            "Orders",
            "801",
            true,
            vec![
                f("AccountId", Reference)
                    .refers(&["Account"], "Account")
                    .required(),
                f("Name", Text).length(80),
                f("EffectiveDate", Date).required(),
                f("Status", Picklist)
                    .values(&["Draft", "Activated"])
                    .default(json!("Draft")),
                f("OrderNumber", Text).length(30).read_only().name_field(),
                f("Type", Picklist).values(&["New", "Renewal"]),
                f("TotalAmount", Currency).read_only(),
                f("Description", Textarea),
            ],
        ),
        object(
            "User",
            "User",
            "Users",
            "005",
            false,
            vec![
                f("Username", Text).length(80).required(),
                f("LastName", Text).length(80).required(),
                f("FirstName", Text).length(40),
                full_name(),
                f("Email", Email).length(128).required(),
                f("Alias", Text).length(8).required(),
                f("IsActive", Boolean).default(json!(true)),
                f("Title", Text).length(80),
                f("Department", Text).length(80),
                f("Phone", Phone),
                f("TimeZoneSidKey", Picklist)
                    .values(&[
                        "America/Los_Angeles",
                        "America/New_York",
                        "Europe/London",
                        "Europe/Paris",
                        "Asia/Tokyo",
                    ])
                    .default(json!("America/Los_Angeles")),
            ],
        ),
        object(
            "Note",
            "Note",
            "Notes",
            "002",
            true,
            vec![
                f("ParentId", Reference)
                    .refers(
                        &["Account", "Contact", "Lead", "Opportunity", "Case"],
                        "Parent",
                    )
                    .required(),
                f("Title", Text).length(80).required().name_field(),
                f("IsPrivate", Boolean).default(json!(false)),
                f("Body", Textarea),
            ],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fields_are_those_a_create_must_set() {
        let objects = objects();
        let required = |name: &str| -> Vec<String> {
            let object = objects.iter().find(|o| o.name == name).unwrap();
            object
                .fields
                .iter()
                .filter(|field| field.is_required())
                .map(|field| field.name.clone())
                .collect()
        };
        assert_eq!(required("Lead"), ["LastName", "Company"]);
        assert_eq!(required("Opportunity"), ["Name", "StageName", "CloseDate"]);
        assert_eq!(required("Account"), ["Name"]);
        // Kinds a field may not have without a value list.
        for object in &objects {
            for field in &object.fields {
                assert!(
                    field.kind != FieldType::Multipicklist || !field.picklist_values.is_empty(),
                    "{}.{}",
                    object.name,
                    field.name
                );
                assert!(field.kind != FieldType::Double || field.precision > 0);
            }
        }
    }
}
