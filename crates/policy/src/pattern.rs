//! Policy strings: `*` and `?` wildcards, and (in Version 2012-10-17)
//! policy variables such as `${aws:username}`, `${aws:PrincipalTag/team,
//! 'none'}` and the escapes `${*}`, `${?}`, `${$}`.

use std::collections::BTreeMap;

use crate::context_values;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Text matched as is (escapes already turned into their character).
    Text(String),
    Star,
    Question,
    Var {
        key: String,
        default: Option<String>,
    },
}

/// A parsed policy string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
}

/// One unit of a pattern after variables were substituted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    Char(char),
    Star,
    Question,
}

impl Pattern {
    /// Parses `raw`; `variables` is false for Version 2008-10-17 and for
    /// elements that take no variables (Action, Principal), where `${...}`
    /// is plain text.
    pub(crate) fn parse(raw: &str, variables: bool) -> Self {
        let mut tokens = Vec::new();
        let mut text = String::new();
        let mut rest = raw;
        while let Some(c) = rest.chars().next() {
            if variables
                && rest.starts_with("${")
                && let Some((token, len)) = parse_variable(rest)
            {
                match token {
                    Token::Text(t) => text.push_str(&t),
                    other => {
                        flush(&mut text, &mut tokens);
                        tokens.push(other);
                    }
                }
                rest = &rest[len..];
                continue;
            }
            match c {
                '*' => {
                    flush(&mut text, &mut tokens);
                    tokens.push(Token::Star);
                }
                '?' => {
                    flush(&mut text, &mut tokens);
                    tokens.push(Token::Question);
                }
                _ => text.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut text, &mut tokens);
        Self { tokens }
    }

    pub(crate) fn has_variables(&self) -> bool {
        self.tokens.iter().any(|t| matches!(t, Token::Var { .. }))
    }

    /// Substitutes variables from the request context. `None` when a
    /// variable's key is absent or multivalued and it has no default: AWS
    /// then treats the string as matching nothing.
    pub(crate) fn resolve(&self, context: &BTreeMap<String, Vec<String>>) -> Option<Vec<Piece>> {
        let mut pieces = Vec::new();
        for token in &self.tokens {
            match token {
                Token::Text(t) => pieces.extend(t.chars().map(Piece::Char)),
                Token::Star => pieces.push(Piece::Star),
                Token::Question => pieces.push(Piece::Question),
                Token::Var { key, default } => {
                    let value = match context_values(context, key) {
                        Some([single]) => single.as_str(),
                        _ => default.as_deref()?,
                    };
                    pieces.extend(value.chars().map(Piece::Char));
                }
            }
        }
        Some(pieces)
    }
}

fn flush(text: &mut String, tokens: &mut Vec<Token>) {
    if !text.is_empty() {
        tokens.push(Token::Text(std::mem::take(text)));
    }
}

/// Parses the `${...}` at the start of `s`; `None` leaves it as text
/// (unterminated, empty, or a malformed default).
fn parse_variable(s: &str) -> Option<(Token, usize)> {
    let body_start = 2;
    // A default value may itself contain `}` inside its quotes, so find
    // the closing brace after any quoted part.
    let body = &s[body_start..];
    let close = match body.find(['\'', '}'])? {
        i if body.as_bytes()[i] == b'}' => i,
        quote => {
            let (_, after) = split_quoted(&body[quote..])?;
            let tail = &body[body.len() - after.len()..];
            body.len() - tail.len() + tail.find('}')?
        }
    };
    let inner = &body[..close];
    let len = body_start + close + 1;
    let token = match inner {
        "*" => Token::Text("*".to_string()),
        "?" => Token::Text("?".to_string()),
        "$" => Token::Text("$".to_string()),
        _ => {
            let (key, default) = match inner.split_once(',') {
                None => (inner.trim(), None),
                Some((key, default)) => {
                    let (value, after) = split_quoted(default.trim_start())?;
                    if !after.trim().is_empty() {
                        return None;
                    }
                    (key.trim(), Some(value))
                }
            };
            if key.is_empty() || key.contains(char::is_whitespace) {
                return None;
            }
            Token::Var {
                key: key.to_string(),
                default,
            }
        }
    };
    Some((token, len))
}

/// Splits `'text'rest` into the unquoted text (with `''` meaning one
/// quote) and the rest.
fn split_quoted(s: &str) -> Option<(String, &str)> {
    let mut rest = s.strip_prefix('\'')?;
    let mut value = String::new();
    loop {
        let quote = rest.find('\'')?;
        value.push_str(&rest[..quote]);
        rest = &rest[quote + 1..];
        match rest.strip_prefix('\'') {
            Some(after) => {
                value.push('\'');
                rest = after;
            }
            None => return Some((value, rest)),
        }
    }
}

pub(crate) fn literal(pieces: &[Piece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Char(c) => *c,
            Piece::Star => '*',
            Piece::Question => '?',
        })
        .collect()
}

/// Wildcard match of a whole string: `*` any run (also empty), `?` one
/// character.
pub(crate) fn glob(pattern: &[Piece], text: &str, ignore_case: bool) -> bool {
    let text: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| a == b || (ignore_case && a.to_lowercase().eq(b.to_lowercase()));
    let (mut p, mut t) = (0, 0);
    // Where the last star was and how much text it has swallowed; on a
    // mismatch the star takes one more character and matching resumes.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Piece::Star) => {
                backtrack = Some((p, t));
                p += 1;
                continue;
            }
            Some(Piece::Question) => {
                p += 1;
                t += 1;
                continue;
            }
            Some(Piece::Char(c)) if same(*c, text[t]) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((star, swallowed)) => {
                p = star + 1;
                t = swallowed + 1;
                backtrack = Some((star, swallowed + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|piece| *piece == Piece::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn matches(pattern: &str, text: &str) -> bool {
        let pieces = Pattern::parse(pattern, false).resolve(&ctx(&[])).unwrap();
        glob(&pieces, text, false)
    }

    #[test]
    fn glob_wildcards() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything"));
        assert!(matches("a*c", "abbbc"));
        assert!(matches("a*c", "ac"));
        assert!(!matches("a*c", "acb"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*b*b*", "abcabc"));
        assert!(!matches("*b*b*", "abc"));
        assert!(matches("team/*", "team/app/x"));
        assert!(!matches("Team/*", "team/app"));
        assert!(matches("aaa*aab", "aaaaaaab"));
    }

    #[test]
    fn glob_ignore_case() {
        let pieces = Pattern::parse("ecr:batch*", false)
            .resolve(&ctx(&[]))
            .unwrap();
        assert!(glob(&pieces, "ECR:BatchGetImage", true));
        assert!(!glob(&pieces, "ECR:BatchGetImage", false));
    }

    #[test]
    fn variables_substitute_from_context() {
        let c = ctx(&[("aws:username", &["alice"]), ("aws:TagKeys", &["a", "b"])]);
        let p = Pattern::parse("home/${aws:UserName}/*", true);
        assert!(p.has_variables());
        assert_eq!(literal(&p.resolve(&c).unwrap()), "home/alice/*");
        // Missing and multivalued keys leave the string unresolved...
        assert_eq!(Pattern::parse("${aws:userid}", true).resolve(&c), None);
        assert_eq!(Pattern::parse("${aws:TagKeys}", true).resolve(&c), None);
        // ...unless there is a default.
        let p = Pattern::parse("${aws:userid, 'it''s {x}'}-${ aws:username }", true);
        assert_eq!(literal(&p.resolve(&c).unwrap()), "it's {x}-alice");
    }

    #[test]
    fn escapes_are_literal_characters() {
        let p = Pattern::parse("a${*}b${?}c${$}", true);
        let pieces = p.resolve(&ctx(&[])).unwrap();
        assert_eq!(literal(&pieces), "a*b?c$");
        assert!(glob(&pieces, "a*b?c$", false));
        assert!(!glob(&pieces, "axb?c$", false));
    }

    #[test]
    fn without_variables_dollar_braces_are_text() {
        let p = Pattern::parse("${aws:username}", false);
        assert!(!p.has_variables());
        assert_eq!(literal(&p.resolve(&ctx(&[])).unwrap()), "${aws:username}");
        // Malformed variables stay text too.
        for raw in ["${", "${}", "${a b}", "${k, nodefault}", "${k, 'x'"] {
            let p = Pattern::parse(raw, true);
            assert!(!p.has_variables(), "{raw}");
            assert_eq!(literal(&p.resolve(&ctx(&[])).unwrap()), raw);
        }
    }
}
