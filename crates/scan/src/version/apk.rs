//! Alpine version ordering, as apk-tools implements it (`src/version.c`):
//! `digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}`.
//!
//! A version is read as a sequence of typed tokens; two versions compare
//! token by token while the token types agree. When they stop agreeing,
//! a pre-release suffix (`_alpha`, `_beta`, `_pre`, `_rc`) sorts first,
//! and otherwise the version whose next token kind comes later in the
//! grammar (ending being the latest) is the smaller one: `1.0 < 1.0.1`,
//! `1.0 < 1.0_p1`, `1.0-r1 > 1.0`. Malformed versions are not refused:
//! they compare up to the first malformed token, as apk does.

use std::cmp::Ordering;

/// Token kinds in grammar order; the order is significant (see above).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    CommitHash,
    RevisionNo,
    End,
    Invalid,
}

/// Suffix ranks; those below `NONE` are pre-releases.
const PRE_SUFFIXES: [&str; 4] = ["alpha", "beta", "pre", "rc"];
const POST_SUFFIXES: [&str; 5] = ["cvs", "svn", "git", "hg", "p"];
const SUFFIX_NONE: usize = PRE_SUFFIXES.len();

fn suffix_rank(s: &[u8]) -> Option<usize> {
    if let Some(i) = PRE_SUFFIXES.iter().position(|p| p.as_bytes() == s) {
        return Some(i);
    }
    POST_SUFFIXES
        .iter()
        .position(|p| p.as_bytes() == s)
        .map(|i| SUFFIX_NONE + 1 + i)
}

struct Tokens<'a> {
    rest: &'a [u8],
    kind: Kind,
    value: &'a [u8],
    suffix: usize,
}

impl<'a> Tokens<'a> {
    fn new(v: &'a str) -> Self {
        let mut t = Tokens {
            rest: v.trim().as_bytes(),
            kind: Kind::InitialDigit,
            value: &[],
            suffix: 0,
        };
        t.digits();
        t
    }

    /// Takes a run of digits as the current token's value.
    fn digits(&mut self) {
        let n = self.take_while(|c| c.is_ascii_digit());
        if n == 0 {
            self.kind = Kind::Invalid;
        }
    }

    fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> usize {
        let n = self.rest.iter().take_while(|c| pred(**c)).count();
        self.value = &self.rest[..n];
        self.rest = &self.rest[n..];
        n
    }

    fn advance(&mut self) {
        let Some(&c) = self.rest.first() else {
            self.kind = Kind::End;
            return;
        };
        let prev = self.kind;
        match c {
            b'a'..=b'z' if prev <= Kind::Digit => {
                self.value = &self.rest[..1];
                self.rest = &self.rest[1..];
                self.kind = Kind::Letter;
            }
            b'.' if prev <= Kind::Digit => {
                self.rest = &self.rest[1..];
                self.kind = Kind::Digit;
                self.digits();
            }
            b'0'..=b'9' if prev == Kind::Suffix => {
                self.kind = Kind::SuffixNo;
                self.digits();
            }
            b'_' if prev <= Kind::SuffixNo => {
                self.rest = &self.rest[1..];
                self.take_while(|c| c.is_ascii_lowercase());
                match suffix_rank(self.value) {
                    Some(rank) => {
                        self.suffix = rank;
                        self.kind = Kind::Suffix;
                    }
                    None => self.kind = Kind::Invalid,
                }
            }
            b'~' if prev < Kind::CommitHash => {
                self.rest = &self.rest[1..];
                let n = self.take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
                self.kind = if n == 0 {
                    Kind::Invalid
                } else {
                    Kind::CommitHash
                };
            }
            b'-' if prev < Kind::RevisionNo && self.rest.starts_with(b"-r") => {
                self.rest = &self.rest[2..];
                self.kind = Kind::RevisionNo;
                self.digits();
            }
            _ => self.kind = Kind::Invalid,
        }
    }
}

/// Compares digit strings by value without parsing them.
fn numeric(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &'_ [u8]| -> usize { s.iter().take_while(|c| **c == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn token_cmp(a: &Tokens<'_>, b: &Tokens<'_>) -> Ordering {
    match a.kind {
        // A component with a leading zero compares as a string, so that
        // 1.001 < 1.01 < 1.1 the way Gentoo's rules (apk's origin) say.
        Kind::Digit if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => {
            a.value.cmp(b.value)
        }
        Kind::InitialDigit | Kind::Digit | Kind::SuffixNo | Kind::RevisionNo => {
            numeric(a.value, b.value)
        }
        Kind::Suffix => a.suffix.cmp(&b.suffix),
        _ => a.value.cmp(b.value),
    }
}

/// Compares two Alpine package versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (mut ta, mut tb) = (Tokens::new(a), Tokens::new(b));
    while ta.kind == tb.kind && ta.kind < Kind::End {
        let r = token_cmp(&ta, &tb);
        if r != Ordering::Equal {
            return r;
        }
        ta.advance();
        tb.advance();
    }
    if ta.kind == tb.kind {
        return Ordering::Equal;
    }
    if ta.kind == Kind::Suffix && ta.suffix < SUFFIX_NONE {
        return Ordering::Less;
    }
    if tb.kind == Kind::Suffix && tb.suffix < SUFFIX_NONE {
        return Ordering::Greater;
    }
    // The one that stops sooner in the grammar is the greater.
    tb.kind.cmp(&ta.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &str, expected: Ordering, b: &str) {
        assert_eq!(compare(a, b), expected, "{a} vs {b}");
        assert_eq!(compare(b, a), expected.reverse(), "{b} vs {a}");
    }

    /// Orderings from apk-tools' own test data (`test/unit/version.data`).
    #[test]
    fn apk_tools_orderings() {
        use Ordering::*;
        let table = [
            ("2.34", Greater, "0.1.0_alpha"),
            ("23_foo", Greater, "4_beta"),
            ("1.0", Less, "1.0bc"),
            ("0.1.0_alpha", Equal, "0.1.0_alpha"),
            ("0.1.0_alpha2", Greater, "0.1.0_alpha"),
            ("1.0.4-r3", Less, "1.0.4-r4"),
            ("1.1", Greater, "1.1_alpha1"),
            ("1.2.1", Greater, "1.2"),
            ("0.8_beta4", Less, "4.8-r1"),
            ("3.10.18-r1", Greater, "2.3.0b-r1"),
            ("2.3.0b-r1", Less, "2.3.0b-r2"),
            ("0.12.3", Greater, "0.12"),
            ("1.2.12.1", Less, "1.2.13"),
            ("3.1_p16", Less, "3.1_p17"),
            ("1.06-r6", Less, "006"),
            ("1.2.2-r1", Greater, "1.2.2"),
            ("1.3-r0", Less, "1.3.1-r0"),
            ("1.3_pre1-r1", Less, "1.3.2"),
            ("1.0_p10-r0", Greater, "1.0_p9-r0"),
            ("0.1.0_alpha_pre2", Less, "0.1.0_alpha"),
            (
                "1.0.0_pre20191002222144-r0",
                Less,
                "1.0.0_pre20210530193627-r0",
            ),
            ("6.0_pre1", Less, "6.0"),
            ("6.0_p1", Greater, "6.0"),
            ("8.2.0", Less, "8.2.001"),
            ("8.2.0015", Less, "8.2.002"),
            ("1.0~1234", Less, "1.0~2345"),
            ("1.0~1234-r1", Less, "1.0~2345-r0"),
            ("1.0~1234-r1", Greater, "1.0~1234-r0"),
        ];
        for (a, o, b) in table {
            check(a, o, b);
        }
    }

    #[test]
    fn suffix_order() {
        let chain = [
            "1.0_alpha",
            "1.0_alpha1",
            "1.0_beta",
            "1.0_pre1",
            "1.0_rc1",
            "1.0",
            "1.0-r1",
            "1.0_cvs1",
            "1.0_svn1",
            "1.0_git20240101",
            "1.0_hg1",
            "1.0_p1",
            "1.0a",
            "1.0.1",
        ];
        for w in chain.windows(2) {
            check(w[0], Ordering::Less, w[1]);
        }
    }

    #[test]
    fn typical_alpine_security_fixes() {
        check("3.1.4-r5", Ordering::Less, "3.1.4-r6");
        check("3.1.4-r6", Ordering::Less, "3.1.5-r0");
        check("1.36.1-r15", Ordering::Greater, "1.36.1-r2");
        check("3.0.12-r0", Ordering::Equal, "3.0.12-r0");
    }
}
