//! SOQL's tokens, each with the column it starts at (1-based, as
//! Salesforce's errors count).

/// A token of a query.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    /// A name or keyword (`SELECT`, `Account.Name`'s parts, `TODAY`).
    Word(String),
    /// A quoted string, unescaped.
    Text(String),
    /// A number.
    Number(f64),
    /// A date (`2024-01-31`) or datetime (`2024-01-31T10:00:00Z`) literal.
    Temporal(String),
    /// `=`, `!=`, `<>`, `<`, `>`, `<=`, `>=`.
    Operator(&'static str),
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `(`
    Open,
    /// `)`
    Close,
    /// `:` (in `LAST_N_DAYS:7`)
    Colon,
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Spanned {
    pub(super) token: Token,
    pub(super) column: usize,
}

/// Where and why a query could not be read.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LexError {
    pub(super) column: usize,
    pub(super) message: String,
}

/// The tokens of `query`.
pub(super) fn tokens(query: &str) -> Result<Vec<Spanned>, LexError> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let column = at + 1;
        let push = |tokens: &mut Vec<Spanned>, token| tokens.push(Spanned { token, column });
        match c {
            c if c.is_whitespace() => at += 1,
            ',' => {
                push(&mut tokens, Token::Comma);
                at += 1;
            }
            '.' if !chars.get(at + 1).is_some_and(char::is_ascii_digit) => {
                push(&mut tokens, Token::Dot);
                at += 1;
            }
            '(' => {
                push(&mut tokens, Token::Open);
                at += 1;
            }
            ')' => {
                push(&mut tokens, Token::Close);
                at += 1;
            }
            ':' => {
                push(&mut tokens, Token::Colon);
                at += 1;
            }
            '=' => {
                push(&mut tokens, Token::Operator("="));
                at += 1;
            }
            '!' if chars.get(at + 1) == Some(&'=') => {
                push(&mut tokens, Token::Operator("!="));
                at += 2;
            }
            '<' | '>' => {
                let next = chars.get(at + 1).copied();
                let (operator, width) = match (c, next) {
                    ('<', Some('=')) => ("<=", 2),
                    ('<', Some('>')) => ("!=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    _ => (">", 1),
                };
                push(&mut tokens, Token::Operator(operator));
                at += width;
            }
            '\'' => {
                let mut text = String::new();
                at += 1;
                loop {
                    match chars.get(at) {
                        None => {
                            return Err(LexError {
                                column,
                                message: "unexpected token: <EOF>".to_owned(),
                            });
                        }
                        Some('\\') => {
                            let escaped = chars.get(at + 1).copied().unwrap_or('\\');
                            text.push(match escaped {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                            at += 2;
                        }
                        Some('\'') => {
                            at += 1;
                            break;
                        }
                        Some(other) => {
                            text.push(*other);
                            at += 1;
                        }
                    }
                }
                push(&mut tokens, Token::Text(text));
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && chars.get(at + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = at;
                at += 1;
                while at < chars.len()
                    && (chars[at].is_ascii_alphanumeric()
                        || matches!(chars[at], '.' | ':' | '-' | '+'))
                {
                    // A datetime's zone sign and time separators belong
                    // to it; a number ends at anything but digits and `.`.
                    at += 1;
                }
                let text: String = chars[start..at].iter().collect();
                let token = if looks_temporal(&text) {
                    Token::Temporal(text)
                } else {
                    // Give back what is not a number (`5)` is `5` then `)`).
                    let number_end = text
                        .char_indices()
                        .skip(1)
                        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
                        .map_or(text.len(), |(i, _)| i);
                    at = start + text[..number_end].chars().count();
                    let number = text[..number_end].parse::<f64>().map_err(|_| LexError {
                        column,
                        message: format!("unexpected token: '{text}'"),
                    })?;
                    Token::Number(number)
                };
                push(&mut tokens, token);
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = at;
                while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '_') {
                    at += 1;
                }
                push(&mut tokens, Token::Word(chars[start..at].iter().collect()));
            }
            other => {
                return Err(LexError {
                    column,
                    message: format!("unexpected token: '{other}'"),
                });
            }
        }
    }
    Ok(tokens)
}

/// `2024-01-31` or `2024-01-31T10:00:00Z` (or with an offset).
fn looks_temporal(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[..4].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(query: &str) -> Vec<Token> {
        tokens(query)
            .unwrap()
            .into_iter()
            .map(|t| t.token)
            .collect()
    }

    #[test]
    fn queries_split_into_tokens_with_columns() {
        let spanned = tokens("SELECT Account.Name FROM Contact WHERE Age__c >= 21").unwrap();
        assert_eq!(
            spanned[0],
            Spanned {
                token: Token::Word("SELECT".into()),
                column: 1
            }
        );
        assert_eq!(spanned[2].token, Token::Dot);
        assert_eq!(spanned[4].column, 21);
        assert_eq!(spanned[8].token, Token::Operator(">="));
        assert_eq!(spanned[9].token, Token::Number(21.0));
    }

    #[test]
    fn literals_of_every_kind_are_read() {
        assert_eq!(
            kinds(
                "'it\\'s' 3.5 -2 2024-01-31 2024-01-31T10:00:00Z 2024-01-31T10:00:00+02:00 LAST_N_DAYS:7 (1)"
            ),
            vec![
                Token::Text("it's".into()),
                Token::Number(3.5),
                Token::Number(-2.0),
                Token::Temporal("2024-01-31".into()),
                Token::Temporal("2024-01-31T10:00:00Z".into()),
                Token::Temporal("2024-01-31T10:00:00+02:00".into()),
                Token::Word("LAST_N_DAYS".into()),
                Token::Colon,
                Token::Number(7.0),
                Token::Open,
                Token::Number(1.0),
                Token::Close,
            ]
        );
        assert_eq!(
            kinds("a <> b"),
            vec![
                Token::Word("a".into()),
                Token::Operator("!="),
                Token::Word("b".into())
            ]
        );
    }

    #[test]
    fn an_unclosed_string_or_a_stray_character_is_an_error() {
        assert_eq!(tokens("WHERE Name = 'abc").unwrap_err().column, 14);
        assert_eq!(
            tokens("SELECT Id; FROM").unwrap_err().message,
            "unexpected token: ';'"
        );
    }
}
