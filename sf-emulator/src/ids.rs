//! Salesforce record Ids: 15 case-sensitive characters (a three-character
//! key prefix naming the object, then the record's number), or the same
//! with a three-character suffix that makes them case-insensitive (18).

use std::fmt;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const SUFFIX: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The two characters after the key prefix: the pod the record was made
/// on. Real orgs have their own; this one is fixed.
const POD: &str = "5g";

/// An 18-character record Id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(String);

impl RecordId {
    /// The `number`th Id with `key_prefix`.
    pub fn new(key_prefix: &str, number: u64) -> Self {
        let mut digits = [b'0'; 10];
        let mut rest = number;
        for digit in digits.iter_mut().rev() {
            *digit = BASE62[(rest % 62) as usize];
            rest /= 62;
        }
        let mut id = String::with_capacity(18);
        id.push_str(key_prefix);
        id.push_str(POD);
        id.push_str(std::str::from_utf8(&digits).unwrap_or_default());
        let suffix = suffix(id.as_bytes());
        id.push_str(&suffix);
        Self(id)
    }

    /// Reads a 15- or 18-character Id; `None` when it is not one (what
    /// Salesforce answers with MALFORMED_ID).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if !bytes.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        match bytes.len() {
            15 => Some(Self(format!("{text}{}", suffix(bytes)))),
            18 => {
                let expected = suffix(&bytes[..15]);
                // The suffix is case-insensitive: Ids compared as 18
                // characters may have been upper-cased by a spreadsheet.
                if !expected.eq_ignore_ascii_case(&text[15..]) {
                    return None;
                }
                Some(Self(format!("{}{expected}", &text[..15])))
            }
            _ => None,
        }
    }

    /// The key prefix: which object the record is.
    pub fn key_prefix(&self) -> &str {
        &self.0[..3]
    }

    /// The Id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The three characters that make a 15-character Id case-insensitive: for
/// each five characters, a letter whose bits mark the upper-case ones.
fn suffix(id15: &[u8]) -> String {
    id15.chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0, |bits, (i, _)| bits | (1 << i));
            SUFFIX[bits] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_salesforce_documents_keep_their_suffix() {
        // From the fixtures: the docs' create response and an Outbound
        // Message (15 characters in API 23.0, 18 in later ones).
        let id = RecordId::parse("001D000000IqhSLIAZ").unwrap();
        assert_eq!(id.as_str(), "001D000000IqhSLIAZ");
        assert_eq!(id.key_prefix(), "001");
        assert_eq!(
            RecordId::parse("001D000000IqhSL").unwrap().as_str(),
            "001D000000IqhSLIAZ"
        );
        assert_eq!(
            RecordId::parse("001D000000IqhSLiaz").unwrap().as_str(),
            "001D000000IqhSLIAZ"
        );
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "001",
            "001D000000IqhSLAAA",
            "001D000000IqhS!",
            "001D000000IqhSLIAZ1",
        ] {
            assert_eq!(RecordId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn new_ids_are_distinct_parse_back_and_sort_by_number() {
        let first = RecordId::new("00Q", 1);
        let second = RecordId::new("00Q", 62);
        assert_ne!(first, second);
        assert_eq!(first.as_str().len(), 18);
        assert_eq!(RecordId::parse(first.as_str()), Some(first.clone()));
        assert_eq!(RecordId::parse(&first.as_str()[..15]), Some(first.clone()));
        assert!(first.as_str()[..15] < second.as_str()[..15]);
    }
}
