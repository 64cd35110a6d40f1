//! The one error type of every decoder in this crate.
//!
//! Each error names the payload it came from ([`Payload`]: an entry op byte or one of the
//! three snapshot kinds) and a byte offset. Offsets count from the first byte of the `data`
//! slice handed to the decoder, so for an op the op byte itself is offset 0. For the two
//! compressed ops (`assignCompressedConsumerOp` = 9, `compressedStreamMsgOp` = 14, also when
//! wrapped in a batch) an error found *inside* the decompressed body has `decompressed: true`
//! and its offset counts from the start of the decompressed bytes.

use std::fmt;

/// What was being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payload {
    /// A normal Raft entry with no bytes at all, so no op byte.
    Entry,
    /// A normal Raft entry whose first byte is this `entryOp`.
    Op(u8),
    /// The `_meta_` group's snapshot (`metaSnapshot` / `encodeMetaSnapshot`).
    MetaSnapshot,
    /// A stream group's snapshot (`stateSnapshot` / `EncodedStreamState`).
    StreamSnapshot,
    /// A consumer group's snapshot (`encodeConsumerState`).
    ConsumerSnapshot,
}

impl Payload {
    /// The op byte, when the payload is an op.
    pub fn op(self) -> Option<u8> {
        match self {
            Payload::Op(op) => Some(op),
            _ => None,
        }
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Entry => f.write_str("entry"),
            Payload::Op(op) => write!(f, "op {op} ({})", crate::store::jsops::op_name(*op)),
            Payload::MetaSnapshot => f.write_str("meta snapshot"),
            Payload::StreamSnapshot => f.write_str("stream snapshot"),
            Payload::ConsumerSnapshot => f.write_str("consumer snapshot"),
        }
    }
}

fn inside(decompressed: &bool) -> &'static str {
    if *decompressed {
        " of the decompressed body"
    } else {
        ""
    }
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The payload has no bytes at all (an op needs at least its op byte).
    #[error("{payload}: empty payload")]
    Empty { payload: Payload },

    /// The payload ends before a field does.
    #[error(
        "{payload}: truncated at offset {offset}{}: {field} needs {need} byte(s), {have} left",
        inside(decompressed)
    )]
    Truncated {
        payload: Payload,
        offset: usize,
        decompressed: bool,
        field: &'static str,
        need: u64,
        have: usize,
    },

    /// A Go `binary.Uvarint`/`binary.Varint` that is cut short or overflows 64 bits.
    #[error(
        "{payload}: bad varint for {field} at offset {offset}{}",
        inside(decompressed)
    )]
    Varint {
        payload: Payload,
        offset: usize,
        decompressed: bool,
        field: &'static str,
    },

    /// S2 decompression failed (`format` is "block" or "stream").
    #[error(
        "{payload}: S2 {format} decompression of the bytes at offset {offset} failed: {detail}"
    )]
    Decompress {
        payload: Payload,
        offset: usize,
        format: &'static str,
        detail: String,
    },

    /// The JSON body does not parse.
    #[error(
        "{payload}: bad JSON at offset {offset}{}: {source}",
        inside(decompressed)
    )]
    Json {
        payload: Payload,
        offset: usize,
        decompressed: bool,
        #[source]
        source: serde_json::Error,
    },

    /// The bytes parse but a field has a value the server would not accept (wrong JSON
    /// type, unknown magic or version, a count that cannot fit, ...).
    #[error(
        "{payload}: invalid {field} at offset {offset}{}: {reason}",
        inside(decompressed)
    )]
    Invalid {
        payload: Payload,
        offset: usize,
        decompressed: bool,
        field: &'static str,
        reason: String,
    },
}

impl OpError {
    /// The payload the error is about.
    pub fn payload(&self) -> Payload {
        match self {
            OpError::Empty { payload }
            | OpError::Truncated { payload, .. }
            | OpError::Varint { payload, .. }
            | OpError::Decompress { payload, .. }
            | OpError::Json { payload, .. }
            | OpError::Invalid { payload, .. } => *payload,
        }
    }

    /// The op byte, when the payload is an op.
    pub fn op(&self) -> Option<u8> {
        self.payload().op()
    }

    /// Byte offset of the problem (see the module doc for what it counts from).
    pub fn offset(&self) -> usize {
        match self {
            OpError::Empty { .. } => 0,
            OpError::Truncated { offset, .. }
            | OpError::Varint { offset, .. }
            | OpError::Decompress { offset, .. }
            | OpError::Json { offset, .. }
            | OpError::Invalid { offset, .. } => *offset,
        }
    }
}
