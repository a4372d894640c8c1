//! The SOQL subset, parsed:
//!
//! ```text
//! SELECT (COUNT() | item, ...) FROM object [alias]
//!   [WHERE condition] [ORDER BY path [ASC|DESC] [NULLS FIRST|LAST], ...]
//!   [LIMIT n] [OFFSET n]
//! item: path | ( SELECT path, ... FROM childRelationship [WHERE ...] [ORDER BY ...] [LIMIT n] )
//! condition: term (OR term)*       term: factor (AND factor)*
//! factor: NOT factor | ( condition ) | path op value | path [NOT] IN ( value, ... )
//! op: = != <> < > <= >= LIKE
//! value: 'text' | number | true | false | null | date | datetime
//!      | TODAY | YESTERDAY | TOMORROW | LAST_N_DAYS:n | NEXT_N_DAYS:n
//! ```

use super::lexer::{Spanned, Token};

/// A field path, `Name` or `Account.Owner.Name`, and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    pub(crate) parts: Vec<String>,
    pub(crate) column: usize,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    /// A date or datetime as written.
    Temporal(String),
    /// A relative date range: `TODAY` is (0, 1), `YESTERDAY` (-1, 0),
    /// `LAST_N_DAYS:n` (-n, 1): days from today's start, end excluded.
    Days(i64, i64),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Like,
}

/// A WHERE condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    Compare(Path, Operator, Literal),
    In(Path, bool, Vec<Literal>),
}

/// One ORDER BY key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Order {
    pub(crate) path: Path,
    pub(crate) descending: bool,
    pub(crate) nulls_last: bool,
}

/// A child subquery in the SELECT list (`(SELECT LastName FROM
/// Contacts)`), whose FROM names a child relationship.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Child {
    pub(crate) query: Query,
    /// How many selected paths come before it.
    pub(crate) position: usize,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// The selected paths; empty for `COUNT()`.
    pub(crate) fields: Vec<Path>,
    /// The child subqueries of the SELECT list.
    pub(crate) children: Vec<Child>,
    pub(crate) count: bool,
    pub(crate) object: String,
    pub(crate) object_column: usize,
    pub(crate) condition: Option<Condition>,
    pub(crate) order: Vec<Order>,
    pub(crate) limit: Option<usize>,
    pub(crate) offset: Option<usize>,
}

/// Where and why a query is malformed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SyntaxError {
    pub(crate) column: usize,
    pub(crate) message: String,
}

struct Parser {
    tokens: Vec<Spanned>,
    at: usize,
    /// The column just past the query, for errors at its end.
    end: usize,
}

/// Parses `tokens` of a query `length` characters long.
pub(super) fn parse(tokens: Vec<Spanned>, length: usize) -> Result<Query, SyntaxError> {
    let mut parser = Parser {
        tokens,
        at: 0,
        end: length + 1,
    };
    let query = parser.query(true)?;
    match parser.peek() {
        None => Ok(query),
        Some(_) => Err(parser.unexpected()),
    }
}

impl Parser {
    fn peek(&self) -> Option<&Spanned> {
        self.tokens.get(self.at)
    }

    fn column(&self) -> usize {
        self.peek().map_or(self.end, |t| t.column)
    }

    fn unexpected(&self) -> SyntaxError {
        let message = match self.peek().map(|t| &t.token) {
            None => "unexpected token: <EOF>".to_owned(),
            Some(Token::Word(word)) => format!("unexpected token: {word}"),
            Some(Token::Text(text)) => format!("unexpected token: '{text}'"),
            Some(Token::Number(n)) => format!("unexpected token: {n}"),
            Some(Token::Temporal(t)) => format!("unexpected token: {t}"),
            Some(Token::Operator(op)) => format!("unexpected token: '{op}'"),
            Some(Token::Comma) => "unexpected token: ','".to_owned(),
            Some(Token::Dot) => "unexpected token: '.'".to_owned(),
            Some(Token::Open) => "unexpected token: '('".to_owned(),
            Some(Token::Close) => "unexpected token: ')'".to_owned(),
            Some(Token::Colon) => "unexpected token: ':'".to_owned(),
        };
        SyntaxError {
            column: self.column(),
            message,
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Spanned { token: Token::Word(w), .. }) if w.eq_ignore_ascii_case(keyword))
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), SyntaxError> {
        if self.is_keyword(keyword) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn token(&mut self, expected: &Token) -> Result<(), SyntaxError> {
        if self.peek().map(|t| &t.token) == Some(expected) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    /// A query; `outer` when it may hold child subqueries.
    fn query(&mut self, outer: bool) -> Result<Query, SyntaxError> {
        self.keyword("SELECT")?;
        let mut fields = Vec::new();
        let mut children = Vec::new();
        let count = if self.is_keyword("COUNT") {
            self.at += 1;
            self.token(&Token::Open)?;
            self.token(&Token::Close)?;
            true
        } else {
            loop {
                if outer && self.peek().map(|t| &t.token) == Some(&Token::Open) {
                    self.at += 1;
                    let query = self.query(false)?;
                    self.token(&Token::Close)?;
                    children.push(Child {
                        query,
                        position: fields.len(),
                    });
                } else {
                    fields.push(self.path()?);
                }
                if self.peek().map(|t| &t.token) != Some(&Token::Comma) {
                    break;
                }
                self.at += 1;
            }
            false
        };
        self.keyword("FROM")?;
        let object_column = self.column();
        let object = self.name()?;
        // `FROM Contact c`: the alias may qualify every path.
        let alias = self.name().ok();
        let mut query = Query {
            fields,
            children,
            count,
            object,
            object_column,
            condition: None,
            order: Vec::new(),
            limit: None,
            offset: None,
        };
        if self.is_keyword("WHERE") {
            self.at += 1;
            query.condition = Some(self.or()?);
        }
        if self.is_keyword("ORDER") {
            self.at += 1;
            self.keyword("BY")?;
            loop {
                query.order.push(self.order()?);
                if self.peek().map(|t| &t.token) != Some(&Token::Comma) {
                    break;
                }
                self.at += 1;
            }
        }
        if self.is_keyword("LIMIT") {
            self.at += 1;
            query.limit = Some(self.count()?);
        }
        if self.is_keyword("OFFSET") {
            self.at += 1;
            query.offset = Some(self.count()?);
        }
        if let Some(alias) = alias {
            query.unalias(&alias);
        }
        Ok(query)
    }

    fn name(&mut self) -> Result<String, SyntaxError> {
        match self.peek() {
            Some(Spanned {
                token: Token::Word(word),
                ..
            }) if !is_reserved(word) => {
                let word = word.clone();
                self.at += 1;
                Ok(word)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn path(&mut self) -> Result<Path, SyntaxError> {
        let column = self.column();
        let mut parts = vec![self.name()?];
        while self.peek().map(|t| &t.token) == Some(&Token::Dot) {
            self.at += 1;
            parts.push(self.name()?);
        }
        Ok(Path { parts, column })
    }

    fn count(&mut self) -> Result<usize, SyntaxError> {
        match self.peek().map(|t| &t.token) {
            Some(Token::Number(n)) if *n >= 0.0 && n.fract() == 0.0 => {
                let n = *n as usize;
                self.at += 1;
                Ok(n)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn order(&mut self) -> Result<Order, SyntaxError> {
        let path = self.path()?;
        let mut descending = false;
        if self.is_keyword("ASC") {
            self.at += 1;
        } else if self.is_keyword("DESC") {
            self.at += 1;
            descending = true;
        }
        let mut nulls_last = descending;
        if self.is_keyword("NULLS") {
            self.at += 1;
            if self.is_keyword("FIRST") {
                nulls_last = false;
            } else if self.is_keyword("LAST") {
                nulls_last = true;
            } else {
                return Err(self.unexpected());
            }
            self.at += 1;
        }
        Ok(Order {
            path,
            descending,
            nulls_last,
        })
    }

    fn or(&mut self) -> Result<Condition, SyntaxError> {
        let mut condition = self.and()?;
        while self.is_keyword("OR") {
            self.at += 1;
            condition = Condition::Or(Box::new(condition), Box::new(self.and()?));
        }
        Ok(condition)
    }

    fn and(&mut self) -> Result<Condition, SyntaxError> {
        let mut condition = self.factor()?;
        while self.is_keyword("AND") {
            self.at += 1;
            condition = Condition::And(Box::new(condition), Box::new(self.factor()?));
        }
        Ok(condition)
    }

    fn factor(&mut self) -> Result<Condition, SyntaxError> {
        if self.is_keyword("NOT") {
            self.at += 1;
            return Ok(Condition::Not(Box::new(self.factor()?)));
        }
        if self.peek().map(|t| &t.token) == Some(&Token::Open) {
            self.at += 1;
            let condition = self.or()?;
            self.token(&Token::Close)?;
            return Ok(condition);
        }
        let path = self.path()?;
        let negated_in = self.is_keyword("NOT");
        if negated_in {
            self.at += 1;
        }
        if self.is_keyword("IN") {
            self.at += 1;
            self.token(&Token::Open)?;
            let mut values = vec![self.literal()?];
            while self.peek().map(|t| &t.token) == Some(&Token::Comma) {
                self.at += 1;
                values.push(self.literal()?);
            }
            self.token(&Token::Close)?;
            return Ok(Condition::In(path, negated_in, values));
        }
        if negated_in {
            return Err(self.unexpected());
        }
        let operator = match self.peek().map(|t| &t.token) {
            Some(Token::Operator(op)) => match *op {
                "=" => Operator::Eq,
                "!=" => Operator::Ne,
                "<" => Operator::Lt,
                ">" => Operator::Gt,
                "<=" => Operator::Le,
                _ => Operator::Ge,
            },
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("LIKE") => Operator::Like,
            _ => return Err(self.unexpected()),
        };
        self.at += 1;
        Ok(Condition::Compare(path, operator, self.literal()?))
    }

    fn literal(&mut self) -> Result<Literal, SyntaxError> {
        let Some(spanned) = self.peek().cloned() else {
            return Err(self.unexpected());
        };
        let literal = match spanned.token {
            Token::Text(text) => Literal::Text(text),
            Token::Number(n) => Literal::Number(n),
            Token::Temporal(t) => Literal::Temporal(t),
            Token::Word(word) => match word.to_ascii_uppercase().as_str() {
                "NULL" => Literal::Null,
                "TRUE" => Literal::Bool(true),
                "FALSE" => Literal::Bool(false),
                "TODAY" => Literal::Days(0, 1),
                "YESTERDAY" => Literal::Days(-1, 0),
                "TOMORROW" => Literal::Days(1, 2),
                "LAST_N_DAYS" | "NEXT_N_DAYS" => {
                    self.at += 1;
                    self.token(&Token::Colon)?;
                    let n = self.count()? as i64;
                    return Ok(if word.eq_ignore_ascii_case("LAST_N_DAYS") {
                        Literal::Days(-n, 1)
                    } else {
                        Literal::Days(1, n + 1)
                    });
                }
                _ => return Err(self.unexpected()),
            },
            _ => return Err(self.unexpected()),
        };
        self.at += 1;
        Ok(literal)
    }
}

impl Query {
    /// Drops `alias.` from the front of every path.
    fn unalias(&mut self, alias: &str) {
        let strip = |path: &mut Path| {
            if path.parts.len() > 1 && path.parts[0].eq_ignore_ascii_case(alias) {
                path.parts.remove(0);
            }
        };
        self.fields.iter_mut().for_each(strip);
        self.order
            .iter_mut()
            .for_each(|order| strip(&mut order.path));
        let mut pending: Vec<&mut Condition> = self.condition.iter_mut().collect();
        while let Some(condition) = pending.pop() {
            match condition {
                Condition::And(left, right) | Condition::Or(left, right) => {
                    pending.push(left);
                    pending.push(right);
                }
                Condition::Not(inner) => pending.push(inner),
                Condition::Compare(path, ..) | Condition::In(path, ..) => strip(path),
            }
        }
    }
}

/// Words that cannot name a field or an object.
fn is_reserved(word: &str) -> bool {
    const RESERVED: &[&str] = &[
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT",
        "OFFSET", "ASC", "DESC", "NULLS", "NULL", "TRUE", "FALSE",
    ];
    RESERVED
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokens;
    use super::*;

    fn query(text: &str) -> Result<Query, SyntaxError> {
        parse(tokens(text).unwrap(), text.chars().count())
    }

    #[test]
    fn child_subqueries_sit_in_the_select_list_one_level_deep() {
        let parsed = query(
            "SELECT Name, (SELECT LastName FROM Contacts WHERE Email != null ORDER BY LastName LIMIT 5), Industry FROM Account",
        )
        .unwrap();
        assert_eq!(parsed.fields.len(), 2);
        assert_eq!(parsed.children.len(), 1);
        let child = &parsed.children[0];
        assert_eq!(
            (child.query.object.as_str(), child.position),
            ("Contacts", 1)
        );
        assert_eq!(child.query.limit, Some(5));
        let nested =
            query("SELECT Name, (SELECT Id, (SELECT Id FROM Cases) FROM Contacts) FROM Account")
                .unwrap_err();
        assert_eq!(nested.message, "unexpected token: '('");
    }

    #[test]
    fn an_alias_after_the_object_may_qualify_every_path() {
        let aliased = query(
            "SELECT c.LastName, c.Account.Name FROM Contact c WHERE c.Email != null AND NOT c.LastName IN ('x') ORDER BY c.LastName",
        )
        .unwrap();
        let plain = query(
            "SELECT LastName, Account.Name FROM Contact WHERE Email != null AND NOT LastName IN ('x') ORDER BY LastName",
        )
        .unwrap();
        let paths = |q: &Query| {
            q.fields
                .iter()
                .map(|p| p.parts.join("."))
                .collect::<Vec<_>>()
        };
        assert_eq!(paths(&aliased), paths(&plain));
        assert_eq!(aliased.order[0].path.parts, ["LastName"]);
        let Some(Condition::And(left, _)) = &aliased.condition else {
            panic!("{:?}", aliased.condition);
        };
        assert!(matches!(left.as_ref(), Condition::Compare(path, ..) if path.parts == ["Email"]));
    }

    #[test]
    fn a_full_query_is_parsed() {
        let parsed = query(
            "select Id, Account.Name from Contact where (LastName like 'Ho%' or Email != null) and not CreatedDate < LAST_N_DAYS:7 and LeadSource not in ('Web', 'Other') order by LastName desc nulls first, Id limit 10 offset 5",
        )
        .unwrap();
        assert_eq!(parsed.fields[1].parts, ["Account", "Name"]);
        assert_eq!(parsed.object, "Contact");
        assert_eq!(
            parsed.order[0],
            Order {
                path: Path {
                    parts: vec!["LastName".into()],
                    column: 167
                },
                descending: true,
                nulls_last: false
            }
        );
        assert!(!parsed.order[1].descending && !parsed.order[1].nulls_last);
        assert_eq!((parsed.limit, parsed.offset), (Some(10), Some(5)));
        let Some(Condition::And(left, right)) = parsed.condition else {
            panic!()
        };
        assert!(matches!(*right, Condition::In(_, true, ref values) if values.len() == 2));
        assert!(matches!(*left, Condition::And(_, ref not) if matches!(**not, Condition::Not(_))));
    }

    #[test]
    fn count_and_literals_are_parsed() {
        let parsed = query("SELECT COUNT() FROM Lead WHERE IsConverted = false AND CreatedDate = TODAY AND Amount > 1.5 AND CloseDate >= 2024-01-01").unwrap();
        assert!(parsed.count && parsed.fields.is_empty());
        let text = format!("{:?}", parsed.condition);
        for part in [
            "Bool(false)",
            "Days(0, 1)",
            "Number(1.5)",
            "Temporal(\"2024-01-01\")",
        ] {
            assert!(text.contains(part), "{text}");
        }
    }

    #[test]
    fn malformed_queries_say_where() {
        let error = query("SELECT FROM Account").unwrap_err();
        assert_eq!(
            (error.column, error.message.as_str()),
            (8, "unexpected token: FROM")
        );
        assert_eq!(
            query("SELECT Id FROM").unwrap_err().message,
            "unexpected token: <EOF>"
        );
        assert_eq!(
            query("SELECT Id FROM Account WHERE Name = ")
                .unwrap_err()
                .column,
            37
        );
        assert_eq!(
            query("SELECT Id FROM Account LIMIT -1")
                .unwrap_err()
                .message,
            "unexpected token: -1"
        );
        assert_eq!(
            query("SELECT Id FROM Account a extra").unwrap_err().message,
            "unexpected token: extra"
        );
    }
}
