//! AWS's rule wildcards: `*` matches any run of characters (also none),
//! `?` exactly one. Matching works on bytes: AWS applies rules to visible
//! ASCII only, so a byte is a character for every value that can match.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(u8),
    One,
    Many,
}

#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    toks: Box<[Tok]>,
    /// Literals are stored lower-cased when this is set.
    case_insensitive: bool,
    /// No wildcard at all: compare directly.
    literal: Option<Box<[u8]>>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Case {
    Sensitive,
    Insensitive,
}

impl Pattern {
    /// `escapes` lets `\*` and `\?` stand for the literal characters, as
    /// query-string conditions allow.
    pub(crate) fn new(pattern: &str, case: Case, escapes: bool) -> Self {
        let ci = matches!(case, Case::Insensitive);
        let norm = |b: u8| if ci { b.to_ascii_lowercase() } else { b };
        let mut toks = Vec::with_capacity(pattern.len());
        let mut bytes = pattern.bytes();
        while let Some(b) = bytes.next() {
            let tok = match b {
                b'*' => {
                    // Consecutive stars are one star; keeping one makes
                    // backtracking linear in the input.
                    if toks.last() == Some(&Tok::Many) {
                        continue;
                    }
                    Tok::Many
                }
                b'?' => Tok::One,
                b'\\' if escapes => match bytes.clone().next() {
                    Some(next @ (b'*' | b'?' | b'\\')) => {
                        bytes.next();
                        Tok::Lit(next)
                    }
                    _ => Tok::Lit(b'\\'),
                },
                other => Tok::Lit(norm(other)),
            };
            toks.push(tok);
        }
        let literal = toks
            .iter()
            .map(|t| match t {
                Tok::Lit(b) => Some(*b),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()
            .map(Vec::into_boxed_slice);
        Self {
            toks: toks.into_boxed_slice(),
            case_insensitive: ci,
            literal,
        }
    }

    pub(crate) fn matches(&self, input: &[u8]) -> bool {
        let eq = |p: u8, s: u8| {
            if self.case_insensitive {
                p == s.to_ascii_lowercase()
            } else {
                p == s
            }
        };
        if let Some(lit) = &self.literal {
            return lit.len() == input.len() && lit.iter().zip(input).all(|(&p, &s)| eq(p, s));
        }
        let toks = &self.toks;
        let (mut pi, mut si) = (0usize, 0usize);
        // Where the last star was and which input position it is retried
        // from; one star's worth of backtracking suffices for globs.
        let mut star: Option<(usize, usize)> = None;
        while si < input.len() {
            match toks.get(pi) {
                Some(Tok::Many) => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                Some(Tok::One) => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                Some(Tok::Lit(p)) if eq(*p, input[si]) => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            }
        }
        toks[pi..].iter().all(|t| *t == Tok::Many)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(p: &str, s: &str) -> bool {
        Pattern::new(p, Case::Sensitive, false).matches(s.as_bytes())
    }

    fn ci(p: &str, s: &str) -> bool {
        Pattern::new(p, Case::Insensitive, false).matches(s.as_bytes())
    }

    #[test]
    fn literals() {
        assert!(cs("/img", "/img"));
        assert!(!cs("/img", "/IMG"));
        assert!(!cs("/img", "/img/"));
        assert!(ci("Example.COM", "example.com"));
        assert!(!ci("example.com", "example.co"));
    }

    #[test]
    fn stars() {
        assert!(cs("/img/*", "/img/a.png"));
        assert!(cs("/img/*", "/img/"));
        assert!(!cs("/img/*", "/img"));
        assert!(cs("*", ""));
        assert!(cs("*", "/anything/at/all"));
        assert!(cs("/a*b*c", "/aXXbYYc"));
        assert!(cs("/a*b*c", "/abcbc"));
        assert!(!cs("/a*b*c", "/abcbd"));
        assert!(cs("*.png", "/x/y.png"));
        assert!(!cs("*.png", "/x/y.PNG"));
        assert!(cs("/a**b", "/ab"));
        assert!(ci("*.example.com", "Test.Example.com"));
        assert!(!ci("*.example.com", "example.com"));
    }

    #[test]
    fn question_marks() {
        assert!(cs("/v?/x", "/v1/x"));
        assert!(!cs("/v?/x", "/v/x"));
        assert!(!cs("/v?/x", "/v12/x"));
        assert!(cs("/v??*", "/v12"));
        assert!(!cs("/v??*", "/v1"));
    }

    #[test]
    fn escapes_only_when_asked() {
        let p = Pattern::new(r"a\*b", Case::Insensitive, true);
        assert!(p.matches(b"a*b"));
        assert!(!p.matches(b"axxb"));
        let q = Pattern::new(r"what\?", Case::Insensitive, true);
        assert!(q.matches(b"WHAT?"));
        assert!(!q.matches(b"whats"));
        let plain = Pattern::new(r"a\*b", Case::Sensitive, false);
        assert!(plain.matches(br"a\xyzb"));
    }
}
