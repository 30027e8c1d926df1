//! The `registeredAt` argument formats of the cluster query language,
//! read without a calendar library: 2018-06-18T22:28:28+00:00,
//! 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 (UTC) and 2018-06-18
//! (midnight UTC).

/// Seconds since the Unix epoch, or `None` if `text` is in none of the
/// formats or names no real date and time.
pub(crate) fn parse(text: &str) -> Option<i64> {
    let (date, rest) = match text.split_once('T') {
        Some((date, rest)) => (date, Some(rest)),
        None => (text, None),
    };
    let days = days_from_date(date)?;
    let seconds = match rest {
        None => 0,
        Some(rest) => {
            let (clock, offset) = split_offset(rest)?;
            seconds_of_day(clock)? - offset
        }
    };
    Some(days * 86_400 + seconds)
}

fn number(text: &str, digits: usize) -> Option<i64> {
    if text.len() == digits && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

fn days_from_date(date: &str) -> Option<i64> {
    let mut parts = date.split('-');
    let year = number(parts.next()?, 4)?;
    let month = number(parts.next()?, 2)?;
    let day = number(parts.next()?, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`: days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `22:28:28Z` -> (`22:28:28`, 0); `22:28:28+02:00` -> (`22:28:28`, 7200).
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix('Z') {
        return Some((clock, 0));
    }
    match rest.find(['+', '-']) {
        None => Some((rest, 0)),
        Some(at) => {
            let sign = if rest[at..].starts_with('-') { -1 } else { 1 };
            let (hours, minutes) = rest[at + 1..].split_once(':')?;
            let hours = number(hours, 2)?;
            let minutes = number(minutes, 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            Some((&rest[..at], sign * (hours * 3600 + minutes * 60)))
        }
    }
}

fn seconds_of_day(clock: &str) -> Option<i64> {
    let mut parts = clock.split(':');
    let hours = number(parts.next()?, 2)?;
    let minutes = number(parts.next()?, 2)?;
    let seconds = number(parts.next()?, 2)?;
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    Some(hours * 3600 + minutes * 60 + seconds)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_every_documented_format() {
        // 2018-06-18T22:28:28Z is 1529360908 (date -u -d ... +%s).
        assert_eq!(parse("2018-06-18T22:28:28Z"), Some(1_529_360_908));
        assert_eq!(parse("2018-06-18T22:28:28+00:00"), Some(1_529_360_908));
        assert_eq!(parse("2018-06-18T22:28:28"), Some(1_529_360_908));
        assert_eq!(parse("2018-06-18"), Some(1_529_280_000));
        assert_eq!(parse("1970-01-01"), Some(0));
    }

    #[test]
    fn applies_the_offset() {
        assert_eq!(parse("2018-06-19T00:28:28+02:00"), Some(1_529_360_908));
        assert_eq!(parse("2018-06-18T20:28:28-02:00"), Some(1_529_360_908));
    }

    #[test]
    fn knows_leap_years() {
        assert_eq!(parse("2024-02-29"), Some(1_709_164_800));
        assert_eq!(parse("2023-02-29"), None);
        assert_eq!(parse("1900-02-29"), None);
        assert_eq!(parse("2000-02-29"), Some(951_782_400));
    }

    #[test]
    fn refuses_other_shapes() {
        for text in [
            "",
            "2018-6-18",
            "2018-06-18T",
            "2018-06-18T22:28",
            "2018-06-18T24:00:00",
            "2018-13-01",
            "2018-06-31",
            "2018-06-18T22:28:28+0000",
            "yesterday",
            "2018/06/18",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
