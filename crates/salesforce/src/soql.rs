//! Just enough SOQL reading to check a query against a step's permissions:
//! every object a query reads, by name (`FROM`, semi-joins, `TYPEOF ...
//! WHEN`) or through relationships (`Account.Owner.Name`, child
//! subqueries such as `(SELECT Id FROM Contacts)`), which only a describe
//! can resolve to objects.

/// A query Gust cannot read, and so will not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnreadableQuery(&'static str);

/// What a query reads: its (sub)queries, the outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryShape {
    /// Every `SELECT ... FROM ...`, in the order they start.
    pub scopes: Vec<Scope>,
}

/// One `SELECT ... FROM ...` of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The word after `FROM`: an sObject, or for a child subquery a child
    /// relationship of the parent scope's object.
    pub from: String,
    /// The scope whose `SELECT` list holds this one, for child subqueries.
    pub parent: Option<usize>,
    /// The alias after the object (`FROM Contact c`).
    pub alias: Option<String>,
    /// Dotted names used in this scope (`Account.Name`, `c.Owner.Email`).
    pub paths: Vec<String>,
    /// Objects named in `TYPEOF ... WHEN <object>`.
    pub typeof_objects: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Word(&'a str),
    Open,
    Close,
}

/// Words that can follow `FROM <object>` and so are no alias.
const CLAUSES: &[&str] = &[
    "where", "with", "group", "order", "limit", "offset", "for", "update", "using", "having",
];

impl QueryShape {
    /// Reads `soql`; an error when it has no `SELECT ... FROM <object>`.
    pub fn parse(soql: &str) -> Result<Self, UnreadableQuery> {
        let tokens = tokenize(soql);
        let mut shape = Self { scopes: Vec::new() };
        let mut at = 0;
        if !matches!(tokens.first(), Some(Token::Word(w)) if w.eq_ignore_ascii_case("select")) {
            return Err(UnreadableQuery("the query does not start with SELECT"));
        }
        shape.scope(&tokens, &mut at, None)?;
        Ok(shape)
    }

    /// Reads one scope starting at `SELECT`, up to its closing parenthesis
    /// or the end; returns its index.
    fn scope(
        &mut self,
        tokens: &[Token<'_>],
        at: &mut usize,
        parent: Option<usize>,
    ) -> Result<usize, UnreadableQuery> {
        let index = self.scopes.len();
        self.scopes.push(Scope {
            from: String::new(),
            parent,
            alias: None,
            paths: Vec::new(),
            typeof_objects: Vec::new(),
        });
        *at += 1;
        let mut in_select = true;
        let mut depth = 0usize;
        while let Some(token) = tokens.get(*at) {
            match *token {
                Token::Close if depth == 0 => break,
                Token::Close => depth -= 1,
                Token::Open => {
                    if let Some(Token::Word(word)) = tokens.get(*at + 1)
                        && word.eq_ignore_ascii_case("select")
                    {
                        *at += 1;
                        let parent = in_select.then_some(index);
                        self.scope(tokens, at, parent)?;
                    } else {
                        depth += 1;
                    }
                }
                Token::Word(word)
                    if in_select && depth == 0 && word.eq_ignore_ascii_case("from") =>
                {
                    in_select = false;
                    let Some(Token::Word(object)) = tokens.get(*at + 1) else {
                        return Err(UnreadableQuery("FROM names no object"));
                    };
                    self.scopes[index].from = (*object).to_owned();
                    *at += 1;
                    if let Some(Token::Word(alias)) = tokens.get(*at + 1)
                        && !CLAUSES.iter().any(|c| alias.eq_ignore_ascii_case(c))
                    {
                        self.scopes[index].alias = Some((*alias).to_owned());
                        *at += 1;
                    }
                }
                Token::Word(word) if word.eq_ignore_ascii_case("when") => {
                    if let Some(Token::Word(object)) = tokens.get(*at + 1) {
                        self.scopes[index].typeof_objects.push((*object).to_owned());
                        *at += 1;
                    }
                }
                Token::Word(word)
                    if word.contains('.') && !word.starts_with(|c: char| c.is_ascii_digit()) =>
                {
                    self.scopes[index].paths.push(word.to_owned());
                }
                Token::Word(_) => {}
            }
            *at += 1;
        }
        if self.scopes[index].from.is_empty() {
            return Err(UnreadableQuery("the query has no FROM clause"));
        }
        Ok(index)
    }
}

/// Words (letters, digits, `_`, `.`) and parentheses; string literals and
/// everything else left out.
fn tokenize(soql: &str) -> Vec<Token<'_>> {
    let bytes = soql.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'(' => tokens.push(Token::Open),
            b')' => tokens.push(Token::Close),
            b'\'' => {
                at += 1;
                while at < bytes.len() && bytes[at] != b'\'' {
                    if bytes[at] == b'\\' {
                        at += 1;
                    }
                    at += 1;
                }
            }
            c if is_word_byte(c) => {
                let start = at;
                while at < bytes.len() && is_word_byte(bytes[at]) {
                    at += 1;
                }
                tokens.push(Token::Word(&soql[start..at]));
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    tokens
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_outer_object_past_literals() {
        let shape =
            QueryShape::parse("select Id from Invoice__c where Name = 'x FROM Lead' limit 5")
                .unwrap();
        assert_eq!(shape.scopes.len(), 1);
        assert_eq!(shape.scopes[0].from, "Invoice__c");
        assert_eq!(shape.scopes[0].alias, None);
    }

    #[test]
    fn reads_child_subqueries_semi_joins_paths_and_aliases() {
        let soql = "SELECT Id, Owner.Name, (SELECT LastName, ReportsTo.Email FROM Contacts), \
                    toLabel(Account.Industry) FROM Account a WHERE a.Parent.Name != null \
                    AND Id IN (SELECT AccountId FROM Case WHERE CreatedDate > 2024-01-01T00:00:00.000Z) \
                    AND AnnualRevenue > 1.5";
        let shape = QueryShape::parse(soql).unwrap();
        let scopes: Vec<(&str, Option<usize>)> = shape
            .scopes
            .iter()
            .map(|s| (s.from.as_str(), s.parent))
            .collect();
        assert_eq!(
            scopes,
            [("Account", None), ("Contacts", Some(0)), ("Case", None)]
        );
        assert_eq!(shape.scopes[0].alias.as_deref(), Some("a"));
        assert_eq!(
            shape.scopes[0].paths,
            ["Owner.Name", "Account.Industry", "a.Parent.Name"]
        );
        assert_eq!(shape.scopes[1].paths, ["ReportsTo.Email"]);
        assert!(shape.scopes[2].paths.is_empty());
    }

    #[test]
    fn reads_typeof_objects() {
        let soql = "SELECT TYPEOF What WHEN Account THEN Phone WHEN Opportunity THEN Amount END FROM Event";
        let shape = QueryShape::parse(soql).unwrap();
        assert_eq!(shape.scopes[0].from, "Event");
        assert_eq!(shape.scopes[0].typeof_objects, ["Account", "Opportunity"]);
    }

    #[test]
    fn a_query_without_from_is_refused() {
        assert!(QueryShape::parse("SELECT Id").is_err());
        assert!(QueryShape::parse("SELECT Id FROM").is_err());
        assert!(QueryShape::parse("DELETE FROM Lead").is_err());
    }
}
