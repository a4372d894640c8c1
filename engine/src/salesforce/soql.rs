//! Just enough SOQL reading to check a query against a step's permissions:
//! the object of the outermost `FROM`.

/// The sObject a SOQL query reads: the word after the outermost `FROM`,
/// outside string literals and subqueries.
pub fn from_object(soql: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut words = Words { text: soql, at: 0 };
    while let Some(word) = words.next_word(&mut depth) {
        if depth == 0 && word.eq_ignore_ascii_case("from") {
            return words.next_word(&mut depth).filter(|_| depth == 0);
        }
    }
    None
}

/// Identifier-like words of a query, skipping literals and tracking the
/// depth of parentheses.
struct Words<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Words<'a> {
    fn next_word(&mut self, depth: &mut usize) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        while self.at < bytes.len() {
            let c = bytes[self.at];
            match c {
                b'(' => *depth += 1,
                b')' => *depth = depth.saturating_sub(1),
                b'\'' => {
                    self.at += 1;
                    while self.at < bytes.len() && bytes[self.at] != b'\'' {
                        if bytes[self.at] == b'\\' {
                            self.at += 1;
                        }
                        self.at += 1;
                    }
                }
                c if c.is_ascii_alphanumeric() || c == b'_' => {
                    let start = self.at;
                    while self.at < bytes.len()
                        && (bytes[self.at].is_ascii_alphanumeric()
                            || matches!(bytes[self.at], b'_' | b'.'))
                    {
                        self.at += 1;
                    }
                    return Some(&self.text[start..self.at]);
                }
                _ => {}
            }
            self.at += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::from_object;

    #[test]
    fn finds_the_outer_object_past_subqueries_and_literals() {
        let soql = "SELECT Id, (SELECT Id FROM Contacts), Name FROM Account \
                    WHERE Name = 'x FROM Lead' AND Id IN (SELECT AccountId FROM Case)";
        assert_eq!(from_object(soql), Some("Account"));
    }

    #[test]
    fn reads_lowercase_keywords_and_custom_objects() {
        assert_eq!(
            from_object("select Id from Invoice__c limit 5"),
            Some("Invoice__c")
        );
    }

    #[test]
    fn a_query_without_from_has_no_object() {
        assert_eq!(from_object("SELECT Id"), None);
        assert_eq!(from_object("SELECT Id FROM"), None);
    }
}
