//! The two range syntaxes: `Range: bytes=...` on blob reads (RFC 9110,
//! single ranges only) and `Content-Range: <start>-<end>` on upload
//! chunks (the Distribution Spec's own form).

/// What a blob read should send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadRange {
    Full,
    /// Inclusive byte offsets.
    Partial {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
}

/// Interprets a `Range` header against a blob of `size` bytes. Anything
/// malformed, other units and multiple ranges are ignored (the whole blob
/// is sent), as RFC 9110 allows.
pub(crate) fn read_range(header: Option<&str>, size: u64) -> ReadRange {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return ReadRange::Full;
    };
    if spec.contains(',') {
        return ReadRange::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return ReadRange::Full;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a, b) {
        ("", suffix) => match num(suffix) {
            Some(0) => ReadRange::Unsatisfiable,
            Some(n) if size > 0 => ReadRange::Partial {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            Some(_) => ReadRange::Unsatisfiable,
            None => ReadRange::Full,
        },
        (a, b) => {
            let Some(start) = num(a) else {
                return ReadRange::Full;
            };
            let end = if b.is_empty() {
                u64::MAX
            } else {
                match num(b) {
                    Some(e) if e >= start => e,
                    _ => return ReadRange::Full,
                }
            };
            if start >= size {
                ReadRange::Unsatisfiable
            } else {
                ReadRange::Partial {
                    start,
                    end: end.min(size - 1),
                }
            }
        }
    }
}

/// Parses an upload chunk's `Content-Range` (`^[0-9]+-[0-9]+$`, tolerating
/// a `bytes ` or `bytes=` prefix some clients send) into inclusive
/// offsets; `None` when malformed.
pub(crate) fn chunk_range(header: &str) -> Option<(u64, u64)> {
    let h = header.trim();
    let h = h
        .strip_prefix("bytes=")
        .or_else(|| h.strip_prefix("bytes "))
        .unwrap_or(h);
    let (a, b) = h.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (start, end): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
    (end >= start).then_some((start, end))
}

/// The `Range` header of upload responses: `0-<last byte>`, `0-0` when
/// empty (as distribution answers).
pub(crate) fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_ranges() {
        use ReadRange::*;
        let p = |start, end| Partial { start, end };
        assert_eq!(read_range(None, 10), Full);
        assert_eq!(read_range(Some("bytes=0-4"), 10), p(0, 4));
        assert_eq!(read_range(Some("bytes=5-"), 10), p(5, 9));
        assert_eq!(read_range(Some("bytes=5-100"), 10), p(5, 9));
        assert_eq!(read_range(Some("bytes=-3"), 10), p(7, 9));
        assert_eq!(read_range(Some("bytes=-30"), 10), p(0, 9));
        assert_eq!(read_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(read_range(Some("bytes=-0"), 10), Unsatisfiable);
        assert_eq!(read_range(Some("bytes=0-0"), 0), Unsatisfiable);
        for ignored in [
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=x-1",
            "bytes=4-2",
            "bytes=-",
        ] {
            assert_eq!(read_range(Some(ignored), 10), Full, "{ignored}");
        }
    }

    #[test]
    fn chunk_ranges() {
        assert_eq!(chunk_range("0-99"), Some((0, 99)));
        assert_eq!(chunk_range("bytes=100-199"), Some((100, 199)));
        assert_eq!(chunk_range("bytes 5-5"), Some((5, 5)));
        for bad in ["", "1", "-1", "1-", "a-b", "5-4", "0-1-2", "+1-2"] {
            assert_eq!(chunk_range(bad), None, "{bad}");
        }
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(10), "0-9");
    }
}
