//! CVSS v3.0 and v3.1 base scores, computed from a vector string with the
//! formulas of the FIRST specification (section 7.1 of each).

/// A parsed CVSS v3 vector's base metrics, as their numeric weights.
struct Base {
    minor: u8,
    scope_changed: bool,
    av: f64,
    ac: f64,
    pr: f64,
    ui: f64,
    c: f64,
    i: f64,
    a: f64,
}

/// The base score of a `CVSS:3.0/...` or `CVSS:3.1/...` vector, `None`
/// when the string is not a valid v3 vector. Temporal and environmental
/// metrics may follow the base ones; they are ignored, as the score
/// asked for is the base score.
pub fn base_score(vector: &str) -> Option<f64> {
    let m = parse(vector)?;
    let iss = 1.0 - (1.0 - m.c) * (1.0 - m.i) * (1.0 - m.a);
    let impact = if m.scope_changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * m.av * m.ac * m.pr * m.ui;
    if impact <= 0.0 {
        return Some(0.0);
    }
    let raw = if m.scope_changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    Some(if m.minor == 0 {
        roundup_30(raw)
    } else {
        roundup_31(raw)
    })
}

/// v3.0's Roundup: the smallest one-decimal number not below the input.
fn roundup_30(x: f64) -> f64 {
    (x * 10.0).ceil() / 10.0
}

/// v3.1's Roundup (Appendix A), which works on integers so that floating
/// point noise such as 4.000000000000001 does not round up to 4.1.
fn roundup_31(x: f64) -> f64 {
    // The score is at most 10, so the product fits easily.
    let int_input = (x * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

fn parse(vector: &str) -> Option<Base> {
    let mut parts = vector.trim().split('/');
    let minor = match parts.next()? {
        "CVSS:3.0" => 0,
        "CVSS:3.1" => 1,
        _ => return None,
    };
    let mut seen: Vec<&str> = Vec::new();
    let (mut av, mut ac, mut pr, mut ui, mut scope, mut c, mut i, mut a) =
        (None, None, None, None, None, None, None, None);
    for part in parts {
        let (key, value) = part.split_once(':')?;
        if seen.contains(&key) {
            return None;
        }
        seen.push(key);
        let cia = |v: &str| match v {
            "H" => Some(0.56),
            "L" => Some(0.22),
            "N" => Some(0.0),
            _ => None,
        };
        match key {
            "AV" => {
                av = Some(match value {
                    "N" => 0.85,
                    "A" => 0.62,
                    "L" => 0.55,
                    "P" => 0.2,
                    _ => return None,
                })
            }
            "AC" => {
                ac = Some(match value {
                    "L" => 0.77,
                    "H" => 0.44,
                    _ => return None,
                })
            }
            "PR" => {
                pr = Some(match value {
                    "N" | "L" | "H" => value,
                    _ => return None,
                })
            }
            "UI" => {
                ui = Some(match value {
                    "N" => 0.85,
                    "R" => 0.62,
                    _ => return None,
                })
            }
            "S" => {
                scope = Some(match value {
                    "U" => false,
                    "C" => true,
                    _ => return None,
                })
            }
            "C" => c = Some(cia(value)?),
            "I" => i = Some(cia(value)?),
            "A" => a = Some(cia(value)?),
            // Temporal and environmental metrics: not part of the base.
            _ => {}
        }
    }
    let scope_changed = scope?;
    // Privileges weigh more when the scope changes.
    let pr = match (pr?, scope_changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        (_, false) => 0.27,
        (_, true) => 0.5,
    };
    Some(Base {
        minor,
        scope_changed,
        av: av?,
        ac: ac?,
        pr,
        ui: ui?,
        c: c?,
        i: i?,
        a: a?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scores() {
        let table = [
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0),
            ("CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:C/C:H/I:H/A:H", 9.1),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
            ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4),
            ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8),
            ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5),
            ("CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 6.2),
            ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6),
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0),
            // CVE-2018-5407 as NVD scores it.
            ("CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N", 4.7),
            ("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
            ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 8.8),
            // Temporal metrics after the base ones do not change it.
            ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O", 9.8),
        ];
        for (vector, score) in table {
            assert_eq!(base_score(vector), Some(score), "{vector}");
        }
    }

    #[test]
    fn v31_roundup_avoids_float_noise() {
        assert_eq!(roundup_31(4.000_000_000_000_001), 4.0);
        assert_eq!(roundup_30(4.000_000_000_000_001), 4.1);
        assert_eq!(roundup_31(4.02), 4.1);
    }

    #[test]
    fn invalid_vectors() {
        for v in [
            "",
            "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A",
        ] {
            assert_eq!(base_score(v), None, "{v}");
        }
    }
}
