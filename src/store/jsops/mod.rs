//! Decoders for the payloads of the Raft groups a clustered nats-server keeps for
//! JetStream under `$SYS/_js_/`: the meta group (`_meta_`), stream groups (`S-*`) and
//! consumer groups (`C-*`).
//!
//! The storage layer hands over the `data` of each normal (`EntryNormal`) log entry and of
//! each snapshot; these modules turn that into typed values:
//!
//! * [`meta`]: the meta snapshot and the meta ops (stream and consumer assignments), and
//!   [`meta::replay`] to get the cluster's inventory.
//! * [`stream_ops`]: stream messages (plain, compressed, batched), purges, message
//!   deletes, delete ranges, and the stream group snapshot.
//! * [`consumer_ops`]: delivered/ack/skip/reset updates, pending pull requests, the
//!   consumer snapshot, and [`consumer_ops::apply`] to roll a state forward.
//!
//! Every decoder takes any bytes without panicking and without unbounded loops or
//! allocations, and reports failures as [`OpError`] with the op byte and the offset.
//!
//! Format truth is nats-server's `server/jetstream_cluster.go` (the `entryOp` list and the
//! `encode*`/`decode*` functions named in each module), read at tags v2.10.26, v2.11.11,
//! v2.12.8, v2.14.5 and `main` (2.15.0-dev; the source mirror has no v2.14.6 or v2.15.x
//! tag), and tested on payloads written by the 2.10.26, 2.11.11, 2.12.8, 2.14.6 and 2.15.1
//! binaries.

pub mod consumer_ops;
pub mod meta;
pub mod stream_ops;

mod error;
mod json;
mod s2;
mod wire;

pub use error::{OpError, Payload};
pub use s2::MAX_DECODED;

/// The `entryOp` values of server/jetstream_cluster.go. The list only grows at its end
/// ("ONLY ADD TO THE END"); the release that added each op is noted.
pub mod op {
    /// Meta: a new stream assignment (JSON `streamAssignment`).
    pub const ASSIGN_STREAM: u8 = 0;
    /// Meta: a consumer assignment (JSON `consumerAssignment`).
    pub const ASSIGN_CONSUMER: u8 = 1;
    /// Meta: a stream removal (JSON `streamAssignment`).
    pub const REMOVE_STREAM: u8 = 2;
    /// Meta: a consumer removal (JSON `consumerAssignment`).
    pub const REMOVE_CONSUMER: u8 = 3;
    /// Stream: a message (binary, see [`crate::store::jsops::stream_ops`]).
    pub const STREAM_MSG: u8 = 4;
    /// Stream: a purge (JSON `streamPurge`).
    pub const PURGE_STREAM: u8 = 5;
    /// Stream: a message delete (JSON `streamMsgDelete`).
    pub const DELETE_MSG: u8 = 6;
    /// Consumer: a delivery (uvarints).
    pub const UPDATE_DELIVERED: u8 = 7;
    /// Consumer: an ack (uvarints).
    pub const UPDATE_ACKS: u8 = 8;
    /// Meta: a consumer assignment, S2 stream-compressed JSON.
    pub const ASSIGN_COMPRESSED_CONSUMER: u8 = 9;
    /// Consumer: skip to a stream sequence (filtered consumers).
    pub const UPDATE_SKIP: u8 = 10;
    /// Meta: a stream update (JSON `streamAssignment`).
    pub const UPDATE_STREAM: u8 = 11;
    /// Consumer: a pull request's reply subject was added.
    pub const ADD_PENDING_REQUEST: u8 = 12;
    /// Consumer: a pull request's reply subject was removed.
    pub const REMOVE_PENDING_REQUEST: u8 = 13;
    /// Stream: a message whose body is an S2 block.
    pub const COMPRESSED_STREAM_MSG: u8 = 14;
    /// Stream: a run of skipped sequences (JSON `DeleteRange`), catchup and 2.12+ log.
    pub const DELETE_RANGE: u8 = 15;
    /// Stream (2.12+): one message of an atomic batch, not yet committed.
    pub const BATCH_MSG: u8 = 16;
    /// Stream (2.12+): the last message of an atomic batch, which commits it.
    pub const BATCH_COMMIT_MSG: u8 = 17;
    /// Consumer (2.14+): reset the consumer to a stream sequence.
    pub const RESET_SEQ: u8 = 18;
}

/// The Go name of an `entryOp` value, or "unknown".
pub fn op_name(op: u8) -> &'static str {
    match op {
        op::ASSIGN_STREAM => "assignStreamOp",
        op::ASSIGN_CONSUMER => "assignConsumerOp",
        op::REMOVE_STREAM => "removeStreamOp",
        op::REMOVE_CONSUMER => "removeConsumerOp",
        op::STREAM_MSG => "streamMsgOp",
        op::PURGE_STREAM => "purgeStreamOp",
        op::DELETE_MSG => "deleteMsgOp",
        op::UPDATE_DELIVERED => "updateDeliveredOp",
        op::UPDATE_ACKS => "updateAcksOp",
        op::ASSIGN_COMPRESSED_CONSUMER => "assignCompressedConsumerOp",
        op::UPDATE_SKIP => "updateSkipOp",
        op::UPDATE_STREAM => "updateStreamOp",
        op::ADD_PENDING_REQUEST => "addPendingRequest",
        op::REMOVE_PENDING_REQUEST => "removePendingRequest",
        op::COMPRESSED_STREAM_MSG => "compressedStreamMsgOp",
        op::DELETE_RANGE => "deleteRangeOp",
        op::BATCH_MSG => "batchMsgOp",
        op::BATCH_COMMIT_MSG => "batchCommitMsgOp",
        op::RESET_SEQ => "resetSeqOp",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests;
