//! A consumer's delivery state, as nats-server keeps it in `obs/<consumer>/o.dat`.
//!
//! The file is what a consumer group snapshots (`encodeConsumerState`, decoded by
//! [`super::jsops::consumer_ops::decode_snapshot`]); here it is opened (decrypted when it
//! is encrypted) and summarized. Only this small file is read; message blocks never are.

use serde::Serialize;

use super::crypto::AssetKey;
use super::jsops::consumer_ops::ConsumerState as FullState;

/// `magic` in server/filestore.go.
const MAGIC: u8 = 22;
/// `consumerState`: the file name under the consumer's directory.
pub const STATE_FILE: &str = "o.dat";

/// Delivery and acknowledgement progress of one consumer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerState {
    /// Every stream sequence up to this one is acknowledged.
    pub ack_floor_stream_seq: u64,
    pub ack_floor_consumer_seq: u64,
    /// The last stream sequence delivered.
    pub delivered_stream_seq: u64,
    pub delivered_consumer_seq: u64,
    /// Delivered and not yet acknowledged.
    pub ack_pending: u64,
    /// Messages delivered more than once.
    pub redelivered: u64,
}

/// Why a consumer's state is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("o.dat is encrypted")]
    Encrypted,
    #[error("o.dat has unknown magic {magic} or version {version}")]
    UnknownVersion { magic: u8, version: u8 },
    #[error("o.dat is truncated or corrupt")]
    Corrupt,
}

/// Decodes `o.dat`. A missing or empty file is what the server reads as "nothing delivered
/// yet": the default state. An encrypted consumer's file is `nonce || sealed state`, opened
/// with its asset key when one is given.
pub fn decode(
    buf: &[u8],
    encrypted: bool,
    asset: Option<&AssetKey>,
) -> Result<ConsumerState, StateError> {
    decode_full(buf, encrypted, asset).map(|full| ConsumerState::from(&full))
}

/// [`decode`], keeping every pending delivery and redelivery count.
pub fn decode_full(
    buf: &[u8],
    encrypted: bool,
    asset: Option<&AssetKey>,
) -> Result<FullState, StateError> {
    if buf.is_empty() {
        return Ok(FullState::default());
    }
    let opened;
    let buf = match (encrypted, asset) {
        (false, _) => buf,
        (true, None) => return Err(StateError::Encrypted),
        (true, Some(asset)) => {
            opened = asset.open(buf).ok_or(StateError::Corrupt)?;
            &opened[..]
        }
    };
    match super::jsops::consumer_ops::decode_snapshot(buf) {
        Ok(full) => Ok(full),
        Err(_) if buf.len() >= 2 && (buf[0] != MAGIC || !(1..=2).contains(&buf[1])) => {
            Err(StateError::UnknownVersion {
                magic: buf[0],
                version: buf[1],
            })
        }
        Err(_) => Err(StateError::Corrupt),
    }
}

impl From<&FullState> for ConsumerState {
    fn from(s: &FullState) -> Self {
        ConsumerState {
            ack_floor_stream_seq: s.ack_floor_stream,
            ack_floor_consumer_seq: s.ack_floor_consumer,
            delivered_stream_seq: s.delivered_stream,
            delivered_consumer_seq: s.delivered_consumer,
            ack_pending: s.pending.len() as u64,
            redelivered: s.redelivered.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::index_db::tests::{put_uvarint, put_varint};

    /// What `encodeConsumerState` writes, with pending entries `(stream seq, consumer seq)`.
    fn encode(s: &ConsumerState, pending: &[(u64, u64)], redelivered: &[(u64, u64)]) -> Vec<u8> {
        let mut b = vec![MAGIC, 2];
        for v in [
            s.ack_floor_consumer_seq,
            s.ack_floor_stream_seq,
            s.delivered_consumer_seq,
            s.delivered_stream_seq,
            pending.len() as u64,
        ] {
            put_uvarint(&mut b, v);
        }
        if !pending.is_empty() {
            put_varint(&mut b, 1_763_722_000);
            for (sseq, dseq) in pending {
                put_uvarint(&mut b, sseq - s.ack_floor_stream_seq);
                put_uvarint(&mut b, dseq - s.ack_floor_consumer_seq);
                put_varint(&mut b, 3);
            }
        }
        put_uvarint(&mut b, redelivered.len() as u64);
        for (seq, count) in redelivered {
            put_uvarint(&mut b, *seq);
            put_uvarint(&mut b, *count);
        }
        b
    }

    fn state() -> ConsumerState {
        ConsumerState {
            ack_floor_stream_seq: 8,
            ack_floor_consumer_seq: 8,
            delivered_stream_seq: 212,
            delivered_consumer_seq: 12,
            ack_pending: 2,
            redelivered: 1,
        }
    }

    #[test]
    fn reads_floors_delivered_and_counts() {
        let buf = encode(&state(), &[(9, 9), (211, 11)], &[(9, 2)]);
        assert_eq!(decode(&buf, false, None), Ok(state()));
    }

    #[test]
    fn empty_file_is_nothing_delivered_and_bad_files_are_errors() {
        assert_eq!(decode(b"", false, None), Ok(ConsumerState::default()));
        let buf = encode(&state(), &[(9, 9), (211, 11)], &[(9, 2)]);
        assert_eq!(
            decode(&buf[..buf.len() - 6], false, None),
            Err(StateError::Corrupt)
        );
        assert_eq!(
            decode(&[11, 2, 0, 0], false, None),
            Err(StateError::UnknownVersion {
                magic: 11,
                version: 2
            })
        );
        assert_eq!(decode(&buf, true, None), Err(StateError::Encrypted));
    }

    #[test]
    fn version_one_delivered_is_relative_to_the_floor() {
        let mut b = vec![MAGIC, 1];
        for v in [5, 105, 3, 3, 0, 0] {
            put_uvarint(&mut b, v);
        }
        let s = decode(&b, false, None).unwrap();
        assert_eq!((s.delivered_consumer_seq, s.delivered_stream_seq), (7, 107));
    }
}
