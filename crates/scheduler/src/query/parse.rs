//! Recursive descent over characters. The language is context dependent
//! (a value such as `g2.*` or `2018-06-18T22:28:28+00:00` may hold
//! characters that are operators elsewhere), so there is no separate
//! tokenizer: each position knows whether it expects a subject, an
//! operator or a value.

use super::{Argument, Comparison, Node, Operator, Pattern, QueryError, Subject, Version};
use crate::time;

/// Nesting of parentheses and negations; deeper input is refused rather
/// than risking the stack.
const MAX_DEPTH: usize = 64;
const MAX_ATTRIBUTE_NAME: usize = 128;

pub(super) fn parse(text: &str) -> Result<Node, QueryError> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
    };
    parser.skip_ws();
    if parser.at_end() {
        return Err(parser.error("the expression is empty"));
    }
    let node = parser.or_expr()?;
    parser.skip_ws();
    match parser.peek() {
        None => Ok(node),
        Some(')') => Err(parser.error("unbalanced ')'")),
        Some(_) => Err(parser.error("expected 'and', 'or' or the end of the expression")),
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

/// Characters that end a subject.
fn ends_subject(c: char) -> bool {
    c.is_whitespace() || "=!<>~()[],'\"&|".contains(c)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '.' | '-')
}

fn valid_attribute_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_ATTRIBUTE_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/' | '\\' | '.'))
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error(&self, message: impl Into<String>) -> QueryError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, position: usize, message: impl Into<String>) -> QueryError {
        QueryError {
            position,
            message: message.into(),
        }
    }

    fn starts_with(&self, text: &str) -> bool {
        text.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        if self.starts_with(symbol) {
            self.pos += symbol.chars().count();
            true
        } else {
            false
        }
    }

    /// `word` (case-insensitive) as a whole word.
    fn eat_word(&mut self, word: &str) -> bool {
        let len = word.chars().count();
        let matches = word
            .chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i).is_some_and(|p| p.eq_ignore_ascii_case(&c)));
        if matches && !self.peek_at(len).is_some_and(is_word_char) {
            self.pos += len;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Node, QueryError> {
        let mut left = self.and_expr()?;
        loop {
            self.skip_ws();
            if self.eat_symbol("||") || self.eat_word("or") {
                let right = self.and_expr()?;
                left = Node::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn and_expr(&mut self) -> Result<Node, QueryError> {
        let mut left = self.unary()?;
        loop {
            self.skip_ws();
            if self.eat_symbol("&&") || self.eat_word("and") {
                let right = self.unary()?;
                left = Node::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn unary(&mut self) -> Result<Node, QueryError> {
        self.skip_ws();
        if self.eat_symbol("!") || self.eat_word("not") {
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        if self.peek() == Some('(') {
            let open = self.pos;
            self.pos += 1;
            self.enter()?;
            let inner = self.or_expr()?;
            self.skip_ws();
            if !self.eat_symbol(")") {
                return Err(self.error(format!("expected ')' to close the '(' at position {open}")));
            }
            self.depth -= 1;
            return Ok(inner);
        }
        self.comparison().map(Node::Compare)
    }

    fn comparison(&mut self) -> Result<Comparison, QueryError> {
        let subject = self.subject()?;
        self.skip_ws();
        let operator_at = self.pos;
        let operator = self.operator(&subject)?;
        if !subject.operators().contains(&operator) {
            return Err(self.error_at(
                operator_at,
                format!(
                    "the operator {} is not valid for {subject}",
                    operator.name()
                ),
            ));
        }
        let argument = self.argument(&subject, operator)?;
        Ok(Comparison {
            subject,
            operator,
            argument,
        })
    }

    fn subject(&mut self) -> Result<Subject, QueryError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| !ends_subject(c)) {
            self.pos += 1;
        }
        let token: String = self.chars[start..self.pos].iter().collect();
        if token.is_empty() {
            return Err(match self.peek() {
                None => self.error("expected a subject, found the end of the expression"),
                Some(c) => self.error(format!("expected a subject, found '{c}'")),
            });
        }
        if let Some(name) = token.strip_prefix("attribute:") {
            if !valid_attribute_name(name) {
                return Err(self.error_at(
                    start,
                    format!(
                        "invalid attribute name '{name}': 1 to {MAX_ATTRIBUTE_NAME} letters, \
                         digits, hyphens, underscores, slashes, back slashes or periods"
                    ),
                ));
            }
            return Ok(Subject::Attribute(name.to_string()));
        }
        Ok(match token.as_str() {
            "agentConnected" => Subject::AgentConnected,
            "agentVersion" => Subject::AgentVersion,
            "ec2InstanceId" => Subject::Ec2InstanceId,
            "registeredAt" => Subject::RegisteredAt,
            "runningTasksCount" => Subject::RunningTasksCount,
            "task:group" => Subject::TaskGroup,
            _ => {
                return Err(self.error_at(
                    start,
                    format!(
                        "unknown subject '{token}'; expected attribute:NAME, agentConnected, \
                         agentVersion, ec2InstanceId, registeredAt, runningTasksCount or task:group"
                    ),
                ));
            }
        })
    }

    fn operator(&mut self, subject: &Subject) -> Result<Operator, QueryError> {
        // Longest first, and the negated words before `!` alone can match.
        const SYMBOLS: &[(&str, Operator)] = &[
            ("==", Operator::Equals),
            ("!=", Operator::NotEquals),
            (">=", Operator::GreaterThanEqual),
            ("<=", Operator::LessThanEqual),
            ("=~", Operator::Matches),
            ("!~", Operator::NotMatches),
            (">", Operator::GreaterThan),
            ("<", Operator::LessThan),
        ];
        if self.eat_word("!exists") {
            return Ok(Operator::NotExists);
        }
        if self.eat_word("!in") {
            return Ok(Operator::NotIn);
        }
        for (symbol, operator) in SYMBOLS {
            if self.eat_symbol(symbol) {
                return Ok(*operator);
            }
        }
        const WORDS: &[Operator] = &[
            Operator::Equals,
            Operator::NotEquals,
            Operator::GreaterThanEqual,
            Operator::GreaterThan,
            Operator::LessThanEqual,
            Operator::LessThan,
            Operator::NotExists,
            Operator::Exists,
            Operator::NotIn,
            Operator::In,
            Operator::NotMatches,
            Operator::Matches,
        ];
        for operator in WORDS {
            if self.eat_word(operator.name()) {
                return Ok(*operator);
            }
        }
        Err(match self.peek() {
            None => self.error(format!(
                "expected an operator after {subject}, found the end of the expression"
            )),
            Some(_) => self.error(format!("expected an operator after {subject}")),
        })
    }

    fn argument(&mut self, subject: &Subject, operator: Operator) -> Result<Argument, QueryError> {
        match operator {
            Operator::Exists | Operator::NotExists => return Ok(Argument::None),
            Operator::In | Operator::NotIn => return self.list(subject, operator),
            _ => {}
        }
        self.skip_ws();
        if self.peek() == Some('[') {
            return Err(self.error("a list of values is only valid after in or not_in"));
        }
        let (value, at) = self.value(false)?;
        match (subject, operator) {
            (_, Operator::Matches | Operator::NotMatches) => {
                Pattern::new(&value).map(Argument::Pattern).map_err(|e| {
                    let why = e.to_string();
                    let why = why
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("");
                    self.error_at(at, format!("invalid pattern '{value}': {}", why.trim()))
                })
            }
            (Subject::RunningTasksCount, _) => {
                value.parse::<u64>().map(Argument::Count).map_err(|_| {
                    self.error_at(at, format!("expected a whole number, found '{value}'"))
                })
            }
            (Subject::RegisteredAt, _) => {
                time::parse(&value).map(Argument::Time).ok_or_else(|| {
                    self.error_at(
                        at,
                        format!(
                            "expected a date such as 2018-06-18, 2018-06-18T22:28:28, \
                         2018-06-18T22:28:28Z or 2018-06-18T22:28:28+00:00, found '{value}'"
                        ),
                    )
                })
            }
            (Subject::AgentVersion, _) => {
                strict_version(&value)
                    .map(Argument::Version)
                    .ok_or_else(|| {
                        self.error_at(
                            at,
                            format!("expected a version such as 1.14.5, found '{value}'"),
                        )
                    })
            }
            (Subject::AgentConnected, _) => self.boolean(&value, at).map(Argument::Text),
            (
                Subject::Attribute(_),
                Operator::GreaterThan
                | Operator::GreaterThanEqual
                | Operator::LessThan
                | Operator::LessThanEqual,
            ) => match value.parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(Argument::Number(n)),
                _ => Err(self.error_at(at, format!("expected a number, found '{value}'"))),
            },
            _ => Ok(Argument::Text(value)),
        }
    }

    fn boolean(&self, value: &str, at: usize) -> Result<String, QueryError> {
        let lower = value.to_ascii_lowercase();
        if lower == "true" || lower == "false" {
            Ok(lower)
        } else {
            Err(self.error_at(at, format!("expected true or false, found '{value}'")))
        }
    }

    fn list(&mut self, subject: &Subject, operator: Operator) -> Result<Argument, QueryError> {
        self.skip_ws();
        if !self.eat_symbol("[") {
            return Err(self.error(format!(
                "expected '[' to open the list of values after {}",
                operator.name()
            )));
        }
        let mut values = Vec::new();
        loop {
            self.skip_ws();
            let (value, at) = self.value(true)?;
            let value = if *subject == Subject::AgentConnected {
                self.boolean(&value, at)?
            } else {
                value
            };
            values.push(value);
            self.skip_ws();
            if self.eat_symbol(",") {
                continue;
            }
            if self.eat_symbol("]") {
                return Ok(Argument::List(values));
            }
            return Err(match self.peek() {
                None => self.error("expected ',' or ']', found the end of the expression"),
                Some(c) => self.error(format!("expected ',' or ']', found '{c}'")),
            });
        }
    }

    /// A quoted or bare value and the position it starts at.
    fn value(&mut self, in_list: bool) -> Result<(String, usize), QueryError> {
        let start = self.pos;
        if let Some(quote @ ('\'' | '"')) = self.peek() {
            self.pos += 1;
            let mut value = String::new();
            loop {
                match self.peek() {
                    None => return Err(self.error_at(start, "unterminated quoted value")),
                    Some('\\') if self.peek_at(1).is_some() => {
                        value.extend(self.peek_at(1));
                        self.pos += 2;
                    }
                    Some(c) if c == quote => {
                        self.pos += 1;
                        return Ok((value, start));
                    }
                    Some(c) => {
                        value.push(c);
                        self.pos += 1;
                    }
                }
            }
        }
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            let ends = if in_list {
                c.is_whitespace() || c == ',' || c == ']'
            } else {
                c.is_whitespace()
                    || (depth == 0
                        && (c == ')' || self.starts_with("&&") || self.starts_with("||")))
            };
            if ends {
                break;
            }
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(match self.peek() {
                None => self.error("expected a value, found the end of the expression"),
                Some(c) => self.error(format!("expected a value, found '{c}'")),
            });
        }
        Ok((self.chars[start..self.pos].iter().collect(), start))
    }
}

/// Digits and dots only, unlike the lenient reading of instance versions.
fn strict_version(text: &str) -> Option<Version> {
    let ok = !text.is_empty()
        && text
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if ok { Version::parse(text) } else { None }
}
