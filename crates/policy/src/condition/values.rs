//! Typed condition values: numbers, dates, IP networks, ARNs.

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::pattern::{Piece, glob};
use crate::principal::Arn;

/// A finite number; AWS compares integers and decimals alike.
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    // Rust also parses "inf" and "NaN"; IAM numbers are plain decimals.
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// ISO 8601 (`2024-05-01T12:00:00Z`, with or without offset or seconds,
/// or a bare date meaning midnight UTC) or epoch seconds.
pub(crate) fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return DateTime::from_timestamp(s.parse().ok()?, 0);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.with_timezone(&Utc));
        }
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// An IPv4 or IPv6 network; a bare address is a /32 or /128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
        };
        (prefix <= max).then_some(Self { network, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        // A v4 client seen through a dual-stack socket arrives as
        // ::ffff:a.b.c.d; a v4 network should still match it.
        let ip = match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses an address as found in `aws:SourceIp` (an address, maybe with
/// IPv6 brackets).
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// ArnEquals/ArnLike: the six ARN fields are matched one by one, so a
/// wildcard never spans a field's colon. A pattern with no colon at all
/// (such as a lone `*`) is matched against the whole value; one with some
/// but not all six fields matches nothing.
pub(crate) fn arn_like(pattern: &[Piece], value: &str) -> bool {
    let fields = split_pieces(pattern);
    match fields.len() {
        1 => return glob(pattern, value, false),
        6 => {}
        _ => return false,
    }
    let Some(arn) = Arn::parse(value) else {
        return false;
    };
    let values = [
        "arn",
        arn.partition,
        arn.service,
        arn.region,
        arn.account,
        arn.resource,
    ];
    fields
        .iter()
        .zip(values)
        .all(|(field, value)| glob(field, value, false))
}

/// Splits pattern pieces at the first five colons.
fn split_pieces(pattern: &[Piece]) -> Vec<&[Piece]> {
    let mut fields = Vec::with_capacity(6);
    let mut start = 0;
    for (i, piece) in pattern.iter().enumerate() {
        if fields.len() == 5 {
            break;
        }
        if *piece == Piece::Char(':') {
            fields.push(&pattern[start..i]);
            start = i + 1;
        }
    }
    fields.push(&pattern[start..]);
    fields
}

/// Base64 as IAM's BinaryEquals takes it (standard alphabet, padded).
pub(crate) fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    s.len().is_multiple_of(4)
        && s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::pattern::Pattern;

    #[test]
    fn numbers() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number(" -2.5 "), Some(-2.5));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        for bad in ["", "abc", "inf", "NaN", "1,5", "0x10"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates() {
        let noon = DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap();
        for s in [
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:00.000Z",
            "2024-05-01T14:00:00+02:00",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00Z",
            "2024-05-01T14:00+0200",
            "1714564800",
        ] {
            assert_eq!(parse_date(s), Some(noon.with_timezone(&Utc)), "{s}");
        }
        assert_eq!(
            parse_date("2024-05-01"),
            Some(
                DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
        for bad in ["", "yesterday", "2024-13-01", "2024-05-01T25:00:00Z"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn ipv4_networks() {
        let net = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(net.contains("203.0.113.0".parse().unwrap()));
        assert!(net.contains("203.0.113.255".parse().unwrap()));
        assert!(!net.contains("203.0.114.1".parse().unwrap()));
        assert!(net.contains("::ffff:203.0.113.9".parse().unwrap()));
        assert!(!net.contains("2001:db8::1".parse().unwrap()));
        // Host bits in the network are ignored, as AWS does.
        assert!(
            Cidr::parse("10.1.2.3/8")
                .unwrap()
                .contains("10.200.0.1".parse().unwrap())
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("192.0.2.1".parse().unwrap())
        );
        let host = Cidr::parse("192.0.2.7").unwrap();
        assert!(host.contains("192.0.2.7".parse().unwrap()));
        assert!(!host.contains("192.0.2.8".parse().unwrap()));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "x/8",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ipv6_networks() {
        let net = Cidr::parse("2001:db8:1234::/48").unwrap();
        assert!(net.contains("2001:db8:1234:ffff::1".parse().unwrap()));
        assert!(!net.contains("2001:db8:1235::1".parse().unwrap()));
        assert!(!net.contains("203.0.113.1".parse().unwrap()));
        assert!(
            Cidr::parse("::/0")
                .unwrap()
                .contains("::1".parse().unwrap())
        );
        assert!(
            Cidr::parse("2001:db8::1/128")
                .unwrap()
                .contains("2001:db8::1".parse().unwrap())
        );
        assert_eq!(Cidr::parse("2001:db8::/129"), None);
        assert_eq!(parse_ip("[2001:db8::1]"), "2001:db8::1".parse().ok());
    }

    #[test]
    fn arn_fields_match_separately() {
        let like = |p: &str, v: &str| {
            let pieces = Pattern::parse(p, false).resolve(&BTreeMap::new()).unwrap();
            arn_like(&pieces, v)
        };
        let repo = "arn:aws:ecr:us-east-1:111122223333:repository/team/app";
        assert!(like("arn:aws:ecr:*:111122223333:repository/*", repo));
        assert!(like(
            "arn:aws:ecr:us-east-1:111122223333:repository/team/app",
            repo
        ));
        assert!(like("*", repo));
        // A star cannot swallow the colon between region and account.
        assert!(!like("arn:aws:ecr:*:repository/*", repo));
        assert!(!like("arn:aws:ecr:*:*:repository/other", repo));
        assert!(!like("arn:aws:ecr:*:*:*", "not-an-arn"));
        // The resource keeps its own colons.
        assert!(like(
            "arn:aws:logs:*:*:log-group:g:*",
            "arn:aws:logs:r:1:log-group:g:x"
        ));
    }

    #[test]
    fn base64() {
        assert!(is_base64("QmluYXJ5VmFsdWVJbkJhc2U2NA=="));
        assert!(is_base64("YWJj"));
        assert!(!is_base64("YWJ"));
        assert!(!is_base64("YW=j"));
        assert!(!is_base64("Y==="));
    }
}
