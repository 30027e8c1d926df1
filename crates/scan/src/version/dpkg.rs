//! Debian version ordering, as dpkg implements it (`lib/dpkg/version.c`)
//! and Debian Policy 5.6.12 describes it: `[epoch:]upstream[-revision]`.

use std::cmp::Ordering;

/// Compares two Debian versions. Total on any input: strings dpkg would
/// refuse (a non-numeric epoch, stray characters) still get a stable
/// order instead of an error, because a feed or a database with one odd
/// version must not stop a whole scan.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    compare_numbers(ea, eb)
        .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
        .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes()))
}

/// Splits into epoch digits, upstream version and revision. The epoch is
/// everything before the first colon when that is all digits; the
/// revision is everything after the last hyphen.
fn split(v: &str) -> (&str, &str, &str) {
    let v = v.trim();
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()) => (e, rest),
        _ => ("0", v),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// Compares digit strings by value without parsing them, so an absurdly
/// long number cannot overflow.
fn compare_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The weight of a character in a non-digit run: `~` before the end of
/// the string, the end before letters, letters before everything else.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(a: &str, expected: Ordering, b: &str) {
        assert_eq!(compare(a, b), expected, "{a} vs {b}");
        assert_eq!(compare(b, a), expected.reverse(), "{b} vs {a}");
    }

    #[test]
    fn policy_examples() {
        use Ordering::*;
        // Debian Policy 5.6.12: "~~ < ~~a < ~ < (empty) < a".
        check("1.0~~", Less, "1.0~~a");
        check("1.0~~a", Less, "1.0~");
        check("1.0~", Less, "1.0");
        check("1.0", Less, "1.0a");
        check("1.0~rc1", Less, "1.0");
        check("1.0~rc1-1", Less, "1.0-1");
    }

    #[test]
    fn dpkg_test_suite_orderings() {
        use Ordering::*;
        let table = [
            ("0", Equal, "0"),
            ("0", Equal, "00"),
            ("1", Less, "2"),
            ("2", Greater, "1"),
            ("1.0", Less, "1.1"),
            ("1.2", Less, "1.10"),
            ("0:1.0", Equal, "1.0"),
            ("1:0.1", Greater, "2.0"),
            ("2:1.0", Greater, "1:9.9"),
            ("1.0-1", Less, "1.0-2"),
            ("1.0-1", Equal, "1.0-01"),
            ("1.0", Equal, "1.0-0"),
            ("1.0-1", Less, "1.0.1-1"),
            ("1.0a", Less, "1.0b"),
            ("1.0+dfsg", Greater, "1.0"),
            ("1.0+dfsg", Greater, "1.0a"),
            ("1.0.", Greater, "1.0"),
            ("1.0-1+b1", Greater, "1.0-1"),
            ("2.36-9", Less, "2.36-9+deb12u4"),
            ("2.36-9+deb12u3", Less, "2.36-9+deb12u10"),
            ("3.0.11-1~deb12u2", Less, "3.0.11-1"),
            ("7.88.1-10+deb12u5", Greater, "7.88.1-10"),
            ("1:2.0", Equal, "01:2.0"),
            ("1.2.3-4ubuntu0.1", Greater, "1.2.3-4"),
            ("1.2.3-4ubuntu0.1", Less, "1.2.3-5"),
        ];
        for (a, o, b) in table {
            check(a, o, b);
        }
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        check(
            "99999999999999999999999999:1",
            Ordering::Greater,
            "99999999999999999999999998:9",
        );
        check(
            "1.123456789012345678901234567890",
            Ordering::Less,
            "1.123456789012345678901234567891",
        );
    }
}
