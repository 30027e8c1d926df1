//! Duration-based stickiness cookies: `AWSALB` names a target,
//! `AWSALBTG` a target group of a weighted forward. Each comes with a
//! `...CORS` twin marked `SameSite=None; Secure`, as ALB sends.
//!
//! Values are 16 hex digits of a hash keyed per data plane, so they say
//! nothing about addresses; a cookie from before a restart simply names
//! nothing and the request is balanced afresh.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, header};

pub(crate) const TARGET: (&str, &str) = ("AWSALB", "AWSALBCORS");
pub(crate) const GROUP: (&str, &str) = ("AWSALBTG", "AWSALBTGCORS");

/// The token of the first cookie of that name (or its CORS twin).
pub(crate) fn find(headers: &HeaderMap, names: (&str, &str)) -> Option<u64> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == names.0 || *name == names.1)
        .and_then(|(_, value)| u64::from_str_radix(value.trim(), 16).ok())
}

pub(crate) fn set(headers: &mut HeaderMap, names: (&str, &str), token: u64, duration: Duration) {
    let expires = http_date(SystemTime::now() + duration);
    let plain = format!("{}={token:016x}; Expires={expires}; Path=/", names.0);
    let cors = format!(
        "{}={token:016x}; Expires={expires}; Path=/; SameSite=None; Secure",
        names.1
    );
    for cookie in [plain, cors] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil, for days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(http_date(leap), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn cookies_round_trip() {
        let mut out = HeaderMap::new();
        set(&mut out, TARGET, 0xabc, Duration::from_secs(60));
        let cookies: Vec<_> = out.get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies.len(), 2);
        let first = cookies[0].to_str().unwrap_or_default();
        assert!(first.starts_with("AWSALB=0000000000000abc; Expires="));
        assert!(
            cookies[1]
                .to_str()
                .unwrap_or_default()
                .contains("SameSite=None; Secure")
        );

        let mut req = HeaderMap::new();
        req.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; AWSALBTG=00ff; AWSALB=0000000000000abc"),
        );
        assert_eq!(find(&req, TARGET), Some(0xabc));
        assert_eq!(find(&req, GROUP), Some(0xff));
        req.insert(header::COOKIE, HeaderValue::from_static("AWSALBCORS=12"));
        assert_eq!(find(&req, TARGET), Some(0x12));
        req.insert(header::COOKIE, HeaderValue::from_static("AWSALB=zz"));
        assert_eq!(find(&req, TARGET), None);
    }
}
