//! The bytes of a run file: a 64-byte file header, then records.
//!
//! File header (little endian):
//!
//! ```text
//!  0..8   magic "DYLOGRN1"
//!  8..16  nonce: random per file, the first 8 bytes of every record
//! 16..24  seq floor: the highest sequence number among the events the
//!         file was created with (compaction), 0 for none
//! 24..32  ingestion floor, likewise (i64::MIN for none)
//! 32..36  crc32 of bytes 0..32 (written once, at creation)
//! 40..48  durable length: every record before it was fsynced
//! 48..52  crc32 of bytes 40..48 (rewritten after each fsync)
//! ```
//!
//! Record:
//!
//! ```text
//!  0..8   nonce (the file's), so a reader can find record starts
//!  8..12  message length in bytes
//! 12..16  crc32 of bytes 8..12 and 16..40+len
//! 16..24  timestamp (ms since the epoch)
//! 24..32  sequence number within the stream
//! 32..40  ingestion time (ms)
//! 40..    message (UTF-8)
//! then    u32 total record length (44 + len), so runs read backwards too
//! ```
//!
//! The nonce is random and never leaves the server, so a log line cannot
//! forge a record boundary that a reader resynchronising mid-file would
//! believe.

pub(crate) const MAGIC: &[u8; 8] = b"DYLOGRN1";
pub(crate) const FILE_HEADER_LEN: u64 = 64;
pub(crate) const RECORD_HEADER_LEN: usize = 40;
/// Bytes a record adds to its message.
pub(crate) const RECORD_OVERHEAD: usize = 44;
/// The largest message a record may carry; anything longer is corruption.
pub(crate) const MAX_MESSAGE: usize = 1 << 20;

/// Where an event sits in its stream: by timestamp, then by the order
/// the stream received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub ts: i64,
    pub seq: u64,
}

impl Key {
    pub const MIN: Key = Key { ts: 0, seq: 0 };
    pub const MAX: Key = Key {
        ts: i64::MAX,
        seq: u64::MAX,
    };

    pub fn at(ts: i64) -> Key {
        Key { ts, seq: 0 }
    }

    /// The smallest key after this one.
    pub fn succ(self) -> Key {
        match self.seq.checked_add(1) {
            Some(seq) => Key { ts: self.ts, seq },
            None => Key {
                ts: self.ts.saturating_add(1),
                seq: 0,
            },
        }
    }
}

/// One stored log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    pub key: Key,
    pub ingest: i64,
    pub message: String,
}

/// The parsed file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileHeader {
    pub nonce: u64,
    pub seq_floor: u64,
    pub ingest_floor: i64,
    /// `None` when the mutable half is torn.
    pub durable_len: Option<u64>,
}

pub(crate) fn encode_file_header(
    nonce: u64,
    seq_floor: u64,
    ingest_floor: i64,
    durable_len: u64,
) -> [u8; FILE_HEADER_LEN as usize] {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    h[0..8].copy_from_slice(MAGIC);
    h[8..16].copy_from_slice(&nonce.to_le_bytes());
    h[16..24].copy_from_slice(&seq_floor.to_le_bytes());
    h[24..32].copy_from_slice(&ingest_floor.to_le_bytes());
    let crc = crc32(&[&h[0..32]]);
    h[32..36].copy_from_slice(&crc.to_le_bytes());
    h[40..52].copy_from_slice(&encode_durable_len(durable_len));
    h
}

/// Bytes 40..52 of the header: the durable length and its checksum.
pub(crate) fn encode_durable_len(len: u64) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[0..8].copy_from_slice(&len.to_le_bytes());
    let crc = crc32(&[&b[0..8]]);
    b[8..12].copy_from_slice(&crc.to_le_bytes());
    b
}

pub(crate) const DURABLE_LEN_OFFSET: u64 = 40;

/// `None` when the immutable half is not a valid header.
pub(crate) fn parse_file_header(h: &[u8]) -> Option<FileHeader> {
    if h.len() < FILE_HEADER_LEN as usize || &h[0..8] != MAGIC {
        return None;
    }
    if crc32(&[&h[0..32]]) != u32_at(h, 32) {
        return None;
    }
    let durable_len = (crc32(&[&h[40..48]]) == u32_at(h, 48)).then(|| u64_at(h, 40));
    Some(FileHeader {
        nonce: u64_at(h, 8),
        seq_floor: u64_at(h, 16),
        ingest_floor: i64_at(h, 24),
        durable_len,
    })
}

/// Appends one record to `out`.
pub(crate) fn encode_record(nonce: u64, key: Key, ingest: i64, message: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    let len = message.len() as u32;
    out.extend_from_slice(&nonce.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&key.ts.to_le_bytes());
    out.extend_from_slice(&key.seq.to_le_bytes());
    out.extend_from_slice(&ingest.to_le_bytes());
    out.extend_from_slice(message);
    let crc = crc32(&[&out[start + 8..start + 12], &out[start + 16..]]);
    out[start + 12..start + 16].copy_from_slice(&crc.to_le_bytes());
    let total = (RECORD_OVERHEAD + message.len()) as u32;
    out.extend_from_slice(&total.to_le_bytes());
}

/// The message length a record header announces, if the header belongs
/// to a file with this nonce.
pub(crate) fn header_message_len(nonce: u64, head: &[u8]) -> Option<usize> {
    if head.len() < RECORD_HEADER_LEN || u64_at(head, 0) != nonce {
        return None;
    }
    let len = u32_at(head, 8) as usize;
    (len <= MAX_MESSAGE).then_some(len)
}

/// Decodes a whole record (`RECORD_OVERHEAD + len` bytes), checking the
/// nonce, checksum and trailer.
pub(crate) fn decode_record(nonce: u64, rec: &[u8]) -> Option<Event> {
    let len = header_message_len(nonce, rec)?;
    let total = RECORD_OVERHEAD + len;
    if rec.len() != total || u32_at(rec, total - 4) as usize != total {
        return None;
    }
    let body_end = RECORD_HEADER_LEN + len;
    if crc32(&[&rec[8..12], &rec[16..body_end]]) != u32_at(rec, 12) {
        return None;
    }
    let message = match std::str::from_utf8(&rec[RECORD_HEADER_LEN..body_end]) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(&rec[RECORD_HEADER_LEN..body_end]).into_owned(),
    };
    Some(Event {
        key: Key {
            ts: i64_at(rec, 16),
            seq: u64_at(rec, 24),
        },
        ingest: i64_at(rec, 32),
        message,
    })
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    u64_at(b, at) as i64
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// CRC-32 (IEEE) over the concatenation of `parts`.
pub(crate) fn crc32(parts: &[&[u8]]) -> u32 {
    let mut c = !0u32;
    for part in parts {
        for &b in *part {
            c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
        }
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[b"1234", b"56789"]), 0xCBF4_3926);
    }

    #[test]
    fn records_round_trip_and_reject_damage() {
        let mut buf = Vec::new();
        let key = Key {
            ts: 1_700_000_000_000,
            seq: 7,
        };
        encode_record(42, key, 1_700_000_000_500, "héllo".as_bytes(), &mut buf);
        assert_eq!(buf.len(), RECORD_OVERHEAD + "héllo".len());
        let e = decode_record(42, &buf).unwrap();
        assert_eq!(e.key, key);
        assert_eq!(e.ingest, 1_700_000_000_500);
        assert_eq!(e.message, "héllo");
        assert!(decode_record(43, &buf).is_none(), "another file's nonce");
        for i in 8..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x01;
            assert!(decode_record(42, &bad).is_none(), "flip at byte {i}");
        }
    }

    #[test]
    fn file_headers_detect_torn_halves() {
        let h = encode_file_header(9, 5, 77, 1000);
        let p = parse_file_header(&h).unwrap();
        assert_eq!(
            p,
            FileHeader {
                nonce: 9,
                seq_floor: 5,
                ingest_floor: 77,
                durable_len: Some(1000)
            }
        );
        let mut torn = h;
        torn[44] ^= 1;
        assert_eq!(parse_file_header(&torn).unwrap().durable_len, None);
        let mut bad = h;
        bad[10] ^= 1;
        assert!(parse_file_header(&bad).is_none());
    }

    #[test]
    fn keys_order_by_time_then_sequence() {
        assert!(Key { ts: 1, seq: 9 } < Key { ts: 2, seq: 0 });
        assert_eq!(Key { ts: 1, seq: 9 }.succ(), Key { ts: 1, seq: 10 });
        assert_eq!(
            Key {
                ts: 1,
                seq: u64::MAX
            }
            .succ(),
            Key { ts: 2, seq: 0 }
        );
    }
}
