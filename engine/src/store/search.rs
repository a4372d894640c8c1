//! Search in runs' stored events: a text in any case, or a Salesforce
//! record id in either of its forms.

use aho_corasick::AhoCorasick;

/// What a run's stored event (its JSON text) must contain.
#[derive(Debug, Clone)]
pub struct EventSearch {
    /// The text looked for: lowercased, or a record id's 15-character form.
    needle: String,
    /// Whether the text is a Salesforce record id (matched case kept).
    record_id: bool,
    finder: AhoCorasick,
}

/// The longest text a search takes, in bytes.
pub const MAX_SEARCH_BYTES: usize = 256;

/// A search text that cannot be looked for.
#[derive(Debug, thiserror::Error)]
#[error("a search is at most {MAX_SEARCH_BYTES} bytes of text (this one is {0})")]
pub struct SearchTooLong(usize);

impl EventSearch {
    /// A search for `text`, `None` when it is blank. A Salesforce record id
    /// (15 characters, or 18 whose last three are its case checksum) finds
    /// events holding it in either form, with its case; any other text is
    /// found in any ASCII case.
    pub fn new(text: &str) -> Result<Option<Self>, SearchTooLong> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text.len() > MAX_SEARCH_BYTES {
            return Err(SearchTooLong(text.len()));
        }
        let (needle, record_id) = match record_id_short_form(text) {
            Some(short) => (short.to_owned(), true),
            None => (text.to_lowercase(), false),
        };
        // One pattern this short always builds.
        let finder = AhoCorasick::builder()
            .ascii_case_insensitive(!record_id)
            .build([&needle])
            .map_err(|_| SearchTooLong(text.len()))?;
        Ok(Some(Self {
            needle,
            record_id,
            finder,
        }))
    }

    /// Whether `event`, a stored event's JSON text, holds the text.
    pub fn matches(&self, event: &[u8]) -> bool {
        self.finder.is_match(event)
    }

    /// The text looked for: lowercased, or a record id's 15-character form.
    pub fn needle(&self) -> &str {
        &self.needle
    }

    /// Whether the text is a Salesforce record id, matched case kept.
    pub fn is_record_id(&self) -> bool {
        self.record_id
    }
}

/// The 15-character form of `text` if it is a Salesforce record id: 15
/// letters and digits (at least three digits: ids begin with a key prefix
/// and a pod number), or 18 whose last three spell the case of the first
/// fifteen.
fn record_id_short_form(text: &str) -> Option<&str> {
    if !text.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return None;
    }
    let short = text.get(..15)?;
    match text.len() {
        15 => (short.bytes().filter(u8::is_ascii_digit).count() >= 3).then_some(short),
        18 => (text[15..].eq_ignore_ascii_case(&case_checksum(short))).then_some(short),
        _ => None,
    }
}

/// The three characters Salesforce appends to a 15-character id to make
/// it case-insensitive: for each five characters, which are upper case.
fn case_checksum(short: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    short
        .as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, byte)| byte.is_ascii_uppercase())
                .fold(0, |bits, (place, _)| bits | (1 << place));
            char::from(ALPHABET[bits])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_found_in_any_case() {
        let search = EventSearch::new("  ACME corp ").unwrap().unwrap();
        assert!(!search.is_record_id());
        assert!(search.matches(br#"{"body":{"company":"Acme Corp"}}"#));
        assert!(!search.matches(br#"{"body":{"company":"Acme Inc"}}"#));
        assert!(EventSearch::new("   ").unwrap().is_none());
        let long = "a".repeat(MAX_SEARCH_BYTES + 1);
        let refused = EventSearch::new(&long).unwrap_err().to_string();
        assert!(refused.contains("at most 256 bytes"), "{refused}");
    }

    #[test]
    fn a_record_id_finds_both_of_its_forms_case_kept() {
        // An Opportunity's id in a real Outbound Message (the fixtures).
        let long = "0067F000003pmdWQAQ";
        assert_eq!(case_checksum(&long[..15]), "QAQ");
        for form in [long, &long[..15], "0067F000003pmdWqaq"] {
            let search = EventSearch::new(form).unwrap().unwrap();
            assert!(search.is_record_id(), "{form}");
            assert!(search.matches(br#"{"record":{"Id":"0067F000003pmdWQAQ"}}"#));
            assert!(search.matches(br#"{"record":{"Id":"0067F000003pmdW"}}"#));
            // Another record, whose id differs only in case.
            assert!(!search.matches(br#"{"record":{"Id":"0067F000003PMDW"}}"#));
        }
        // 18 characters whose suffix is not the checksum are text.
        assert!(
            !EventSearch::new("0067F000003pmdWAAA")
                .unwrap()
                .unwrap()
                .is_record_id()
        );
        // A word of 15 letters is text.
        let word = EventSearch::new("Opportunityname").unwrap().unwrap();
        assert!(!word.is_record_id());
    }
}
