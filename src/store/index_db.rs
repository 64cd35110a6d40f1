//! The stream state summary nats-server keeps in `msgs/index.db`.
//!
//! Only the header is read: message count, bytes and first/last sequence and time. Message
//! blocks are never scanned, so inspecting a store costs the same whatever its data size.
//! The layout mirrors `_writeFullState` / `recoverFullState` in server/filestore.go: a magic
//! byte, a version byte, uvarints and varints, and a trailing HighwayHash-64 keyed by the
//! stream name over everything before it.

use serde::Serialize;

use super::checksum::highway64;
use super::crypto::AssetKey;

/// `fullStateMagic` in server/filestore.go.
const MAGIC: u8 = 11;
/// `fullStateMinVersion` and the newest `fullStateVersion` known to this tool.
const VERSIONS: std::ops::RangeInclusive<u8> = 1..=4;
/// `recoverFullState` rejects shorter files.
const MIN_LEN: usize = 32;

/// What `index.db` says about a stream's messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamState {
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Nanoseconds since the Unix epoch, 0 when there is no message.
    pub first_ts: i64,
    pub last_ts: i64,
}

/// Why a stream's state is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("no msgs/index.db")]
    Missing,
    #[error("msgs/index.db is too short ({0} bytes)")]
    TooShort(usize),
    #[error("msgs/index.db checksum does not verify")]
    BadChecksum,
    #[error("msgs/index.db is encrypted")]
    Encrypted,
    #[error("msgs/index.db does not open with the stream's key")]
    Undecryptable,
    #[error("msgs/index.db has unknown magic {magic} or version {version}")]
    UnknownVersion { magic: u8, version: u8 },
    #[error("msgs/index.db header is truncated")]
    Truncated,
}

/// Decodes the header of an `index.db` written for stream `stream_name`. The body of an
/// encrypted stream's file is sealed with its asset key (checksum over the sealed bytes).
pub fn decode(
    stream_name: &str,
    buf: &[u8],
    encrypted: bool,
    asset: Option<&AssetKey>,
) -> Result<StreamState, IndexError> {
    if buf.len() < MIN_LEN {
        return Err(IndexError::TooShort(buf.len()));
    }
    let (body, sum) = buf.split_at(buf.len() - 8);
    if highway64(stream_name, body) != sum {
        return Err(IndexError::BadChecksum);
    }
    let opened;
    let body = match (encrypted, asset) {
        (false, _) => body,
        (true, None) => return Err(IndexError::Encrypted),
        (true, Some(asset)) => {
            opened = asset.open(body).ok_or(IndexError::Undecryptable)?;
            &opened[..]
        }
    };
    if body.len() < 2 {
        return Err(IndexError::Truncated);
    }
    let (magic, version) = (body[0], body[1]);
    if magic != MAGIC || !VERSIONS.contains(&version) {
        return Err(IndexError::UnknownVersion { magic, version });
    }
    let mut r = Reader::new(&body[2..]);
    let messages = r.uvarint()?;
    let bytes = r.uvarint()?;
    let first_seq = r.uvarint()?;
    let first_ts = r.varint()?;
    let last_seq = r.uvarint()?;
    let last_ts = r.varint()?;
    Ok(StreamState {
        messages,
        bytes,
        first_seq,
        last_seq,
        first_ts,
        last_ts,
    })
}

/// Go's `binary.Uvarint` / `binary.Varint` over a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn uvarint(&mut self) -> Result<u64, IndexError> {
        let mut value = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(IndexError::Truncated)
    }

    pub(crate) fn varint(&mut self) -> Result<i64, IndexError> {
        let u = self.uvarint()?;
        // Zig-zag decoding, as `binary.Varint`.
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    pub(crate) fn put_varint(out: &mut Vec<u8>, v: i64) {
        put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
    }

    fn encode(name: &str, s: &StreamState) -> Vec<u8> {
        let mut b = vec![MAGIC, 4];
        put_uvarint(&mut b, s.messages);
        put_uvarint(&mut b, s.bytes);
        put_uvarint(&mut b, s.first_seq);
        put_varint(&mut b, s.first_ts);
        put_uvarint(&mut b, s.last_seq);
        put_varint(&mut b, s.last_ts);
        b.resize(40, 0); // subjects and blocks follow in a real file
        let sum = highway64(name, &b);
        b.extend_from_slice(&sum);
        b
    }

    fn state() -> StreamState {
        StreamState {
            messages: 300,
            bytes: 123_456_789,
            first_seq: 17,
            last_seq: 316,
            first_ts: 1_763_722_000_000_000_000,
            last_ts: -5,
        }
    }

    #[test]
    fn round_trips_the_header() {
        assert_eq!(
            decode("S", &encode("S", &state()), false, None),
            Ok(state())
        );
    }

    #[test]
    fn checksum_is_keyed_by_stream_name() {
        assert_eq!(
            decode("T", &encode("S", &state()), false, None),
            Err(IndexError::BadChecksum)
        );
    }

    #[test]
    fn rejects_short_corrupt_and_encrypted() {
        assert_eq!(
            decode("S", &[11, 4, 0], false, None),
            Err(IndexError::TooShort(3))
        );
        let mut buf = encode("S", &state());
        buf[3] ^= 1;
        assert_eq!(decode("S", &buf, false, None), Err(IndexError::BadChecksum));
        assert_eq!(
            decode("S", &encode("S", &state()), true, None),
            Err(IndexError::Encrypted)
        );
    }
}
