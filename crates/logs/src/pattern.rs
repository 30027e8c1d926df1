//! Filter patterns over unstructured log events, as `FilterLogEvents`
//! takes them: empty (everything), terms that must all appear, quoted
//! phrases, `?term` alternatives (at least one must appear), `-term`
//! exclusions, and `%regex%`. Matching is case sensitive and by
//! substring. JSON (`{ $.x = ... }`) and space-delimited (`[a, b]`)
//! patterns are refused.

use dockyard_aws::ApiError;

use crate::error::{constraint, invalid};

/// The longest filter pattern AWS takes.
const MAX_LEN: usize = 1024;

#[derive(Debug)]
pub(crate) enum Pattern {
    All,
    Terms {
        all: Vec<String>,
        any: Vec<String>,
        none: Vec<String>,
    },
    Regex(regex::Regex),
}

impl Pattern {
    pub fn parse(field: &str, s: &str) -> Result<Pattern, ApiError> {
        if s.chars().count() > MAX_LEN {
            return Err(constraint(
                field,
                s,
                &format!("Member must have length less than or equal to {MAX_LEN}"),
            ));
        }
        let t = s.trim();
        if t.is_empty() {
            return Ok(Pattern::All);
        }
        if t.starts_with('{') {
            return Err(invalid(
                "Invalid filter pattern: JSON filter patterns ({ $.field = value }) are not supported by Dockyard; use terms, \"quoted phrases\", ?alternatives, -exclusions or %regex%.",
            ));
        }
        if t.starts_with('[') {
            return Err(invalid(
                "Invalid filter pattern: space-delimited filter patterns ([field, ...]) are not supported by Dockyard; use terms, \"quoted phrases\", ?alternatives, -exclusions or %regex%.",
            ));
        }
        if t.len() >= 2 && t.starts_with('%') && t.ends_with('%') {
            let re = regex::RegexBuilder::new(&t[1..t.len() - 1])
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    invalid(format!(
                        "Invalid filter pattern: bad regular expression: {e}"
                    ))
                })?;
            return Ok(Pattern::Regex(re));
        }
        let (mut all, mut any, mut none) = (Vec::new(), Vec::new(), Vec::new());
        for (prefix, term) in terms(t)? {
            if term.is_empty() {
                continue;
            }
            match prefix {
                Some('?') => any.push(term),
                Some(_) => none.push(term),
                None => all.push(term),
            }
        }
        if all.is_empty() && any.is_empty() && none.is_empty() {
            return Ok(Pattern::All);
        }
        Ok(Pattern::Terms { all, any, none })
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Regex(re) => re.is_match(message),
            Pattern::Terms { all, any, none } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
                    && !none.iter().any(|t| message.contains(t.as_str()))
            }
        }
    }
}

/// Splits a pattern into terms with their `?` or `-` prefix; a quoted
/// term keeps its spaces (`\"` and `\\` escape inside quotes).
fn terms(s: &str) -> Result<Vec<(Option<char>, String)>, ApiError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&c) = chars.peek() else { break };
        let mut prefix = None;
        if c == '?' || c == '-' {
            chars.next();
            match chars.peek() {
                Some(n) if !n.is_whitespace() => prefix = Some(c),
                // A lone `?` or `-` is a term of its own.
                _ => {
                    out.push((None, c.to_string()));
                    continue;
                }
            }
        }
        let mut term = String::new();
        if chars.next_if_eq(&'"').is_some() {
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            term.push(n);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => term.push(c),
                }
            }
            if !closed {
                return Err(invalid(
                    "Invalid filter pattern: a quoted phrase is not closed.",
                ));
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                term.push(c);
            }
        }
        out.push((prefix, term));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, msg: &str) -> bool {
        Pattern::parse("filterPattern", p).unwrap().matches(msg)
    }

    #[test]
    fn terms_phrases_alternatives_and_exclusions() {
        assert!(m("", "anything"));
        assert!(m("   ", "anything"));
        assert!(m("ERROR", "[ERROR 400] BAD REQUEST"));
        assert!(!m("ERROR", "error in lower case"));
        assert!(m("ERROR 400", "[ERROR 400] BAD"));
        assert!(!m("ERROR 401", "[ERROR 400] BAD"));
        assert!(m("\"BAD REQUEST\"", "[ERROR 400] BAD REQUEST"));
        assert!(!m("\"BAD REQUEST\"", "BAD  REQUEST"));
        assert!(m("?WARN ?ERROR", "an ERROR here"));
        assert!(m("?WARN ?ERROR", "a WARN here"));
        assert!(!m("?WARN ?ERROR", "all fine"));
        assert!(m("ERROR -timeout", "ERROR disk full"));
        assert!(!m("ERROR -timeout", "ERROR timeout reached"));
        assert!(!m("-\"not found\"", "page not found"));
        assert!(m("a - b", "a - b"));
        assert!(m("\"say \\\"hi\\\"\"", "they say \"hi\" twice"));
        assert!(m("%UNAUTH[A-Z]+%", "[ERROR 401] UNAUTHORIZED"));
        assert!(!m("%^AUTH%", "UNAUTHORIZED"));
    }

    #[test]
    fn structured_and_broken_patterns_are_refused() {
        for p in [
            "{ $.level = \"error\" }",
            "[ip, user, status=404]",
            "\"open",
            "%(%",
        ] {
            let e = Pattern::parse("filterPattern", p).unwrap_err();
            assert_eq!(e.code, "InvalidParameterException", "{p}");
        }
        let e = Pattern::parse("filterPattern", "{ $.x = 1 }").unwrap_err();
        assert!(e.message.contains("JSON filter patterns"), "{}", e.message);
        assert!(Pattern::parse("filterPattern", &"a".repeat(1025)).is_err());
    }
}
