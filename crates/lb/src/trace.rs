//! `X-Amzn-Trace-Id`, and the cheap random numbers it and the balancer
//! use.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderValue;

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut buf = [0u8; 8];
    if getrandom::fill(&mut buf).is_err() {
        // Only uniqueness matters here, not secrecy.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return nanos ^ (&buf as *const _ as u64);
    }
    u64::from_le_bytes(buf)
}

/// SplitMix64 on a per-thread state: no locks, no syscalls.
pub(crate) fn random_u64() -> u64 {
    RNG.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `1-{8 hex epoch seconds}-{24 hex random}`.
fn new_id(epoch_secs: u64) -> [u8; 35] {
    let mut id = [0u8; 35];
    id[0] = b'1';
    id[1] = b'-';
    let secs = epoch_secs as u32;
    for (i, slot) in id[2..10].iter_mut().enumerate() {
        *slot = HEX[((secs >> ((7 - i) * 4)) & 0xf) as usize];
    }
    id[10] = b'-';
    let hi = random_u64();
    let lo = random_u64() as u32;
    for (i, slot) in id[11..27].iter_mut().enumerate() {
        *slot = HEX[((hi >> ((15 - i) * 4)) & 0xf) as usize];
    }
    for (i, slot) in id[27..35].iter_mut().enumerate() {
        *slot = HEX[((lo >> ((7 - i) * 4)) & 0xf) as usize];
    }
    id
}

/// AWS rewrites the header with a fresh Root when it is larger than this.
const MAX_KEPT: usize = 7 * 1024;

/// The header the target should see, given the client's (if any): a new
/// `Root` when there is none; otherwise the client's fields with a fresh
/// `Self` in front (replacing any `Self` it had).
pub(crate) fn trace_id(existing: Option<&HeaderValue>, epoch_secs: u64) -> HeaderValue {
    let kept = existing
        .filter(|v| v.len() <= MAX_KEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty());
    let Some(value) = kept else {
        // The common case, without a heap buffer.
        let mut out = [0u8; 40];
        out[..5].copy_from_slice(b"Root=");
        out[5..].copy_from_slice(&new_id(epoch_secs));
        return HeaderValue::from_bytes(&out).unwrap_or_else(|_| {
            HeaderValue::from_static("Root=1-00000000-000000000000000000000000")
        });
    };
    let mut out = Vec::with_capacity(41 + value.len());
    let has_root = value.split(';').any(|f| {
        f.trim()
            .split_once('=')
            .is_some_and(|(k, _)| k.trim() == "Root")
    });
    out.extend_from_slice(if has_root { b"Self=" } else { b"Root=" });
    out.extend_from_slice(&new_id(epoch_secs));
    for field in value.split(';').map(str::trim).filter(|f| !f.is_empty()) {
        if has_root
            && field
                .split_once('=')
                .is_some_and(|(k, _)| k.trim() == "Self")
        {
            continue;
        }
        out.push(b';');
        out.extend_from_slice(field.as_bytes());
    }
    HeaderValue::from_bytes(&out)
        .unwrap_or_else(|_| HeaderValue::from_static("Root=1-00000000-000000000000000000000000"))
}

pub(crate) fn epoch_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_id(s: &str, secs: &str) -> bool {
        let parts: Vec<&str> = s.split('-').collect();
        parts.len() == 3
            && parts[0] == "1"
            && parts[1] == secs
            && parts[2].len() == 24
            && parts[2].bytes().all(|b| b.is_ascii_hexdigit())
    }

    #[test]
    fn generates_root_when_absent() {
        let v = trace_id(None, 0x6789_1233);
        let s = v.to_str().unwrap_or_default();
        let id = s.strip_prefix("Root=").unwrap_or_default();
        assert!(is_id(id, "67891233"), "{s}");
        assert_ne!(trace_id(None, 1), trace_id(None, 1));
    }

    #[test]
    fn inserts_self_before_root_and_keeps_custom_fields() {
        let incoming =
            HeaderValue::from_static("Root=1-67891233-abcdef012345678912345678;CalledFrom=app");
        let v = trace_id(Some(&incoming), 0x1);
        let s = v.to_str().unwrap_or_default();
        let fields: Vec<&str> = s.split(';').collect();
        assert_eq!(fields.len(), 3, "{s}");
        assert!(is_id(
            fields[0].strip_prefix("Self=").unwrap_or_default(),
            "00000001"
        ));
        assert_eq!(fields[1], "Root=1-67891233-abcdef012345678912345678");
        assert_eq!(fields[2], "CalledFrom=app");
    }

    #[test]
    fn replaces_existing_self() {
        let incoming = HeaderValue::from_static(
            "Self=1-00000000-000000000000000000000000;Root=1-67891233-abcdef012345678912345678",
        );
        let s = trace_id(Some(&incoming), 2)
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(s.matches("Self=").count(), 1);
        assert!(!s.contains("Self=1-00000000-000000000000000000000000"));
        assert!(s.ends_with(";Root=1-67891233-abcdef012345678912345678"));
    }

    #[test]
    fn adds_root_when_only_custom_fields() {
        let incoming = HeaderValue::from_static("Foo=bar");
        let s = trace_id(Some(&incoming), 2)
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(s.starts_with("Root=1-00000002-"));
        assert!(s.ends_with(";Foo=bar"));
    }
}
