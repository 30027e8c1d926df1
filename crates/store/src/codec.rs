//! The on-disk encoding of key records and event-log entries.
//!
//! A hand-written little-endian format rather than serde: the records are
//! small and fixed in shape, decoding is on every read, and a leading format
//! byte lets a later version change the layout without guessing.

use crate::{Event, EventKind, KeyValue};

/// First byte of every record; bump when the layout changes.
const FORMAT: u8 = 1;

/// Why a stored record could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("unknown record format {0}")]
    Format(u8),
    #[error("record truncated at byte {0}")]
    Truncated(usize),
    #[error("unknown event kind {0}")]
    EventKind(u8),
    #[error("key is not utf-8")]
    Utf8,
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

/// The stored part of a current key: everything but the key itself, which
/// is the table key.
pub(crate) fn encode_record(kv: &KeyValue) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(1 + 24 + 8 + kv.value.len()));
    w.u8(FORMAT);
    w.u64(kv.create_revision);
    w.u64(kv.mod_revision);
    w.u64(kv.version);
    w.bytes(&kv.value);
    w.0
}

pub(crate) fn decode_record(key: &str, buf: &[u8]) -> Result<KeyValue, CodecError> {
    let mut r = Reader { buf, pos: 0 };
    r.format()?;
    let create_revision = r.u64()?;
    let mod_revision = r.u64()?;
    let version = r.u64()?;
    let value = r.bytes()?.to_vec();
    r.end()?;
    Ok(KeyValue {
        key: key.to_owned(),
        value,
        create_revision,
        mod_revision,
        version,
    })
}

/// All events of one revision, in the order the transaction made them.
pub(crate) fn encode_events(events: &[Event]) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.u8(FORMAT);
    w.u64(events.len() as u64);
    for e in events {
        w.u8(match e.kind {
            EventKind::Put => 0,
            EventKind::Delete => 1,
        });
        w.kv(&e.kv);
        match &e.prev {
            None => w.u8(0),
            Some(prev) => {
                w.u8(1);
                w.kv(prev);
            }
        }
    }
    w.0
}

pub(crate) fn decode_events(buf: &[u8]) -> Result<Vec<Event>, CodecError> {
    let mut r = Reader { buf, pos: 0 };
    r.format()?;
    let n = r.u64()?;
    // Every event takes at least a few dozen bytes, so a count larger than
    // the buffer is corruption, not a reason to allocate.
    let mut events = Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(buf.len()));
    for _ in 0..n {
        let kind = match r.u8()? {
            0 => EventKind::Put,
            1 => EventKind::Delete,
            other => return Err(CodecError::EventKind(other)),
        };
        let kv = r.kv()?;
        let prev = match r.u8()? {
            0 => None,
            _ => Some(r.kv()?),
        };
        events.push(Event { kind, kv, prev });
    }
    r.end()?;
    Ok(events)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn kv(&mut self, kv: &KeyValue) {
        self.bytes(kv.key.as_bytes());
        self.bytes(&kv.value);
        self.u64(kv.create_revision);
        self.u64(kv.mod_revision);
        self.u64(kv.version);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(CodecError::Truncated(self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(b))
    }
    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| CodecError::Truncated(self.pos))?;
        self.take(n)
    }
    fn format(&mut self) -> Result<(), CodecError> {
        match self.u8()? {
            FORMAT => Ok(()),
            other => Err(CodecError::Format(other)),
        }
    }
    fn kv(&mut self) -> Result<KeyValue, CodecError> {
        let key = std::str::from_utf8(self.bytes()?)
            .map_err(|_| CodecError::Utf8)?
            .to_owned();
        let value = self.bytes()?.to_vec();
        Ok(KeyValue {
            key,
            value,
            create_revision: self.u64()?,
            mod_revision: self.u64()?,
            version: self.u64()?,
        })
    }
    fn end(&self) -> Result<(), CodecError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(CodecError::Trailing(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &[u8], rev: u64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.to_vec(),
            create_revision: rev - 1,
            mod_revision: rev,
            version: 7,
        }
    }

    #[test]
    fn record_round_trips() {
        let k = kv("a/b", b"\x00\xffvalue", 9);
        let buf = encode_record(&k);
        assert_eq!(decode_record("a/b", &buf).expect("decodes"), k);
    }

    #[test]
    fn events_round_trip() {
        let events = vec![
            Event {
                kind: EventKind::Put,
                kv: kv("x", b"1", 5),
                prev: Some(kv("x", b"0", 4)),
            },
            Event {
                kind: EventKind::Delete,
                kv: kv("é", b"", 5),
                prev: None,
            },
        ];
        let buf = encode_events(&events);
        assert_eq!(decode_events(&buf).expect("decodes"), events);
    }

    #[test]
    fn corrupt_records_are_errors_not_panics() {
        let buf = encode_record(&kv("k", b"value", 3));
        for cut in 0..buf.len() {
            assert!(decode_record("k", &buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = buf.clone();
        longer.push(0);
        assert!(matches!(
            decode_record("k", &longer),
            Err(CodecError::Trailing(1))
        ));
        let mut other_format = buf;
        other_format[0] = 99;
        assert!(matches!(
            decode_record("k", &other_format),
            Err(CodecError::Format(99))
        ));
        // A huge event count must fail on truncation, not allocate.
        let mut huge = vec![FORMAT];
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_events(&huge).is_err());
    }
}
