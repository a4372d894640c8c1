//! How the permission checker reads a query (every object it names), on
//! any text: an answer whose scopes point only backwards, or an error.

#![no_main]

use gust_salesforce::soql::QueryShape;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(shape) = QueryShape::parse(text) {
        for (index, scope) in shape.scopes.iter().enumerate() {
            assert!(scope.parent.is_none_or(|parent| parent < index));
        }
    }
});
