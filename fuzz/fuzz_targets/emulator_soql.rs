//! sf-emulator's SOQL parser and evaluator, on any query text, against an
//! org with the standard objects and a few records.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sf_emulator::org::{Fields, Org};
use sf_emulator::schema::Schema;

fn org() -> &'static Org {
    static ORG: OnceLock<Org> = OnceLock::new();
    ORG.get_or_init(|| {
        let mut org = Org::new(Schema::standard());
        for name in ["Lovelace", "Hopper", "O'Brien"] {
            let fields: Fields = serde_json::from_value(serde_json::json!({
                "LastName": name, "Company": "Acme", "AnnualRevenue": 1200.5,
            }))
            .expect("fields");
            org.create("Lead", &fields).expect("a lead");
        }
        org
    })
}

fuzz_target!(|text: &str| {
    let _ = sf_emulator::soql::run(org(), text, false, "60.0");
    let _ = sf_emulator::soql::run(org(), text, true, "60.0");
});
