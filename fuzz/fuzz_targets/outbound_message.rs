//! The Outbound Message SOAP parser, on any bytes: untyped, and with every
//! field typed as each of the types a describe gives.

#![no_main]

use gust_outbound::{FieldType, parse};
use libfuzzer_sys::fuzz_target;

const TYPES: [FieldType; 6] = [
    FieldType::Boolean,
    FieldType::Integer,
    FieldType::Number,
    FieldType::Date,
    FieldType::DateTime,
    FieldType::Text,
];

fuzz_target!(|body: &[u8]| {
    if let Ok(message) = parse(body, &|_| None) {
        assert!(message.notifications.len() <= gust_outbound::MAX_NOTIFICATIONS);
    }
    let typed = TYPES[body.len() % TYPES.len()];
    let _ = parse(body, &|_| Some(typed));
});
