//! A stream group (`$SYS/_js_/S-*`): the messages, purges and deletes the stream's
//! leader proposed, and the group's snapshot of the stream state.
//!
//! Mirrors, in server/jetstream_cluster.go: `applyStreamEntries` and `applyStreamMsgOp`
//! (which ops exist, and the `lseq`/`clfs` arithmetic), `encodeStreamMsgAllowCompress`
//! (2.10/2.11) and `encodeStreamMsgAllowCompressAndBatch` (2.12+), `decodeStreamMsg`,
//! `decodeBatchMsg`, `isControlHdr`, `decodeStreamPurge` (`streamPurge`,
//! `JSApiStreamPurgeRequest` in server/jetstream_api.go), `decodeMsgDelete`
//! (`streamMsgDelete`), `decodeDeleteRange`/`encodeDeleteRange`, `stateSnapshotLocked`,
//! `decodeStreamSnapshot` and `streamSnapshot`; in server/store.go `DecodeStreamState`,
//! `IsEncodedStreamState`, `DeleteRange`; in server/filestore.go and memstore.go
//! `EncodedStreamState`; in server/avl/seqset.go `Decode`, `decodev1`, `decodev2`.
//! The stored sequence rule is from `processJetStreamMsg` (server/stream.go):
//! `seq = lseq + 1 - clfs`.
//!
//! # Wire format
//!
//! ## Stream message (`streamMsgOp` = 4, `compressedStreamMsgOp` = 14)
//!
//! `op(1)` then the body; for op 14 the body is an S2 **block** of the same bytes.
//!
//! ```text
//! lseq u64 LE | ts i64 LE (unix ns) | subj_len u16 LE | subject | reply_len u16 LE | reply
//! | hdr_len u16 LE | headers | msg_len u32 LE | msg | flags uvarint (2.11+)
//! ```
//!
//! `lseq` is the leader's last sequence *before* this message, counting proposals that
//! failed: the message is stored at `lseq + 1 - clfs`, where `clfs` is the number of
//! failed proposals so far (in the group snapshot as `failed`, and bumped by the server
//! whenever storing a proposed message fails). 2.10 has no `flags`; from 2.11 bit 0 is
//! `msgFlagFromSourceOrMirror`. A message with no subject, ts 0 and no headers or body
//! is a skip (the sequence is used, nothing stored); one with no body, a reply and
//! headers starting `NATS/1.0 100 ` is a flow-control message (nothing stored).
//!
//! ## Batch message (2.12+: `batchMsgOp` = 16, `batchCommitMsgOp` = 17)
//!
//! ```text
//! op(1) | batch_id_len u16 LE | batch_id | batch_seq uvarint | inner_op(1: 4 or 14) | stream message body
//! ```
//!
//! The messages of a batch (`batch_seq` 1, 2, ...) are only applied when the commit op
//! with the next `batch_seq` and the same id arrives; a batch without its commit, or
//! with a gap, is dropped.
//!
//! ## Purge (`purgeStreamOp` = 5), delete (`deleteMsgOp` = 6), delete range (`deleteRangeOp` = 15)
//!
//! `op(1)` then `json.Encoder` output:
//! * `{"client":{...},"stream":"S","last_seq":N,"subject":"","reply":"","request":{"filter":"x","seq":N,"keep":N}}`
//! * `{"client":{...},"stream":"S","seq":N,"no_erase":true,"subject":"","reply":""}`
//! * `{"First":N,"Num":N}` (no JSON tags). Before 2.14 only sent to a catching-up
//!   replica, never in the log; from 2.14 applied from the log too, and proposed there
//!   (instead of one skip message per sequence, e.g. for a mirror's gaps) when the
//!   `js_raft_delete_range` feature flag is on.
//!
//! ## Group snapshot
//!
//! Binary since 2.10 (`EncodedStreamState`), all uvarints:
//!
//! ```text
//! 42 | version (1, or 2 = with sources, 2.15 behind a feature flag) | msgs | bytes
//! | first_seq | last_seq | failed (clfs)
//! | [v2: n_sources, then n × (name_len, name, seq, ident_len, ident)]
//! | num_deleted | delete blocks to the end:
//!     33 first num            (run length)
//!     22 ver nn:u32 size:u32 nn × node   (AVL sequence set; v2 node = base:u64 32×u64 h:u16,
//!                                          v1 node = base:u64 64×u64 h:u16)
//! ```
//!
//! The legacy JSON `streamSnapshot` (`{"messages","bytes","first_seq","last_seq","clfs",
//! "deleted":[...]}`) is still decoded. The same layouts are used by every release
//! 2.10 – 2.15; version 2 is only in 2.15.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::store::jsops::error::{OpError, Payload};
use crate::store::jsops::json::Doc;
use crate::store::jsops::op;
use crate::store::jsops::wire::{go_uvarint, Cursor};

/// A message as the leader proposed it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredMsg {
    pub subject: Vec<u8>,
    pub reply: Vec<u8>,
    pub headers: Vec<u8>,
    pub msg: Vec<u8>,
    /// The leader's last sequence before this message, including failed proposals.
    pub lseq: u64,
    /// Unix nanoseconds.
    pub ts: i64,
    /// The trailing flags uvarint: `None` in the 2.10 layout (no trailer), else its value
    /// (0 when the trailer does not parse, as the server reads it).
    pub flags: Option<u64>,
    /// Whether the body came S2-compressed (op 14).
    pub compressed: bool,
}

/// `msgFlagFromSourceOrMirror`.
pub const FLAG_FROM_SOURCE_OR_MIRROR: u64 = 1;

impl StoredMsg {
    /// The sequence the stream stores it at, given the group's failed-proposal count:
    /// `lseq + 1 - clfs` (`None` if that would not be a valid sequence).
    pub fn stored_seq(&self, clfs: u64) -> Option<u64> {
        self.lseq
            .checked_add(1)?
            .checked_sub(clfs)
            .filter(|&s| s > 0)
    }

    /// No subject, timestamp, headers or body: the sequence is skipped, nothing stored.
    pub fn is_skip(&self) -> bool {
        self.subject.is_empty() && self.ts == 0 && self.msg.is_empty() && self.headers.is_empty()
    }

    /// A flow-control message (`isControlHdr`): answered, never stored.
    pub fn is_flow_control(&self) -> bool {
        self.msg.is_empty()
            && !self.headers.is_empty()
            && !self.reply.is_empty()
            && self.headers.starts_with(b"NATS/1.0 100 ")
    }

    /// Whether the message came from a source or mirror (2.11+ flag).
    pub fn sourced(&self) -> bool {
        self.flags.unwrap_or(0) & FLAG_FROM_SOURCE_OR_MIRROR != 0
    }
}

/// One message of an atomic batch (2.12+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMsg {
    pub id: Vec<u8>,
    /// 1-based position in the batch.
    pub seq: u64,
    /// `batchCommitMsgOp`: this message commits the batch.
    pub commit: bool,
    pub msg: StoredMsg,
}

/// `JSApiStreamPurgeRequest`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PurgeRequest {
    /// `filter`: only subjects matching it.
    pub filter: Option<String>,
    /// `seq`: purge up to, not including, this sequence (0 = unset).
    pub seq: u64,
    /// `keep`: keep this many messages (0 = unset).
    pub keep: u64,
}

/// `streamPurge`.
#[derive(Debug, Clone, PartialEq)]
pub struct Purge {
    /// The requester's service account; `None` without a client (server-internal).
    pub account: Option<String>,
    pub stream: String,
    /// The leader's last sequence when it proposed the purge.
    pub last_seq: u64,
    pub request: Option<PurgeRequest>,
    pub raw: Value,
}

impl Purge {
    /// The request the server applies when it replays the log: without a request, or
    /// with neither `seq` nor `keep`, everything up to `last_seq` (`seq = last_seq + 1`).
    /// `None` for a `keep` without `seq`, which a recovering server skips.
    pub fn effective_request(&self) -> Option<PurgeRequest> {
        let purge_seq = self.last_seq.wrapping_add(1);
        match &self.request {
            None => Some(PurgeRequest {
                seq: purge_seq,
                ..PurgeRequest::default()
            }),
            Some(r) if r.seq != 0 => Some(r.clone()),
            Some(r) if r.keep == 0 => Some(PurgeRequest {
                seq: purge_seq,
                ..r.clone()
            }),
            Some(_) => None,
        }
    }
}

/// `streamMsgDelete`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteMsg {
    /// The requester's service account; `None` without a client (the leader removing an
    /// interest or work-queue message itself).
    pub account: Option<String>,
    pub stream: String,
    pub seq: u64,
    /// Remove without overwriting the bytes (`removeMsg` rather than `eraseMsg`).
    pub no_erase: bool,
    pub raw: Value,
}

/// A decoded stream group entry.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamOp {
    /// `streamMsgOp` or `compressedStreamMsgOp`.
    Msg(StoredMsg),
    /// `batchMsgOp` or `batchCommitMsgOp`.
    Batch(BatchMsg),
    Purge(Purge),
    DeleteMsg(DeleteMsg),
    /// `deleteRangeOp`: sequences `first .. first+num` are skipped.
    DeleteRange {
        first: u64,
        num: u64,
    },
    /// Not a stream op; the body is not looked at.
    Other(u8),
}

/// Decodes one stream group log entry.
pub fn decode(data: &[u8]) -> Result<StreamOp, OpError> {
    let Some(&opb) = data.first() else {
        return Err(OpError::Empty {
            payload: Payload::Entry,
        });
    };
    let payload = Payload::Op(opb);
    let doc = Doc {
        payload,
        offset: 1,
        decompressed: false,
    };
    let body = &data[1..];
    Ok(match opb {
        op::STREAM_MSG | op::COMPRESSED_STREAM_MSG => {
            StreamOp::Msg(stream_msg(payload, opb, body, 1)?)
        }
        op::BATCH_MSG | op::BATCH_COMMIT_MSG => {
            let mut c = Cursor::new(body, 1, payload, false);
            let idlen = c.u16_le("batch id length")?;
            let id = c.take(u64::from(idlen), "batch id")?.to_vec();
            let seq = c.uvarint("batch sequence")?;
            let at = c.offset();
            let inner = c.u8("batch inner op")?;
            if inner != op::STREAM_MSG && inner != op::COMPRESSED_STREAM_MSG {
                return Err(OpError::Invalid {
                    payload,
                    offset: at,
                    decompressed: false,
                    field: "batch inner op",
                    reason: format!("expected a stream message op (4 or 14), found {inner}"),
                });
            }
            let msg = stream_msg(payload, inner, c.rest(), c.offset())?;
            StreamOp::Batch(BatchMsg {
                id,
                seq,
                commit: opb == op::BATCH_COMMIT_MSG,
                msg,
            })
        }
        op::PURGE_STREAM => {
            let v = doc.parse(body)?;
            let o = doc.object(&v, "stream purge")?;
            let request = match doc.opt_object(o, "request")? {
                None => None,
                Some(r) => Some(PurgeRequest {
                    filter: doc.opt_str(r, "filter")?.filter(|s| !s.is_empty()),
                    seq: doc.opt_u64(r, "seq")?.unwrap_or(0),
                    keep: doc.opt_u64(r, "keep")?.unwrap_or(0),
                }),
            };
            StreamOp::Purge(Purge {
                account: service_account(&doc, o)?,
                stream: doc.opt_str(o, "stream")?.unwrap_or_default(),
                last_seq: doc.opt_u64(o, "last_seq")?.unwrap_or(0),
                request,
                raw: v.clone(),
            })
        }
        op::DELETE_MSG => {
            let v = doc.parse(body)?;
            let o = doc.object(&v, "message delete")?;
            StreamOp::DeleteMsg(DeleteMsg {
                account: service_account(&doc, o)?,
                stream: doc.opt_str(o, "stream")?.unwrap_or_default(),
                seq: doc.opt_u64(o, "seq")?.unwrap_or(0),
                no_erase: doc.opt_bool(o, "no_erase")?.unwrap_or(false),
                raw: v.clone(),
            })
        }
        op::DELETE_RANGE => {
            let v = doc.parse(body)?;
            let o = doc.object(&v, "delete range")?;
            StreamOp::DeleteRange {
                first: doc.opt_u64(o, "First")?.unwrap_or(0),
                num: doc.opt_u64(o, "Num")?.unwrap_or(0),
            }
        }
        other => StreamOp::Other(other),
    })
}

/// `ClientInfo.serviceAccount()`, `None` without a client.
fn service_account(doc: &Doc, obj: &Map<String, Value>) -> Result<Option<String>, OpError> {
    let Some(client) = doc.opt_object(obj, "client")? else {
        return Ok(None);
    };
    let svc = doc.opt_str(client, "svc")?.unwrap_or_default();
    if !svc.is_empty() {
        return Ok(Some(svc));
    }
    Ok(Some(doc.opt_str(client, "acc")?.unwrap_or_default()))
}

/// The body of op 4 (`body` as is) or 14 (`body` is an S2 block); `at` is the offset of
/// `body` in the payload.
fn stream_msg(payload: Payload, inner: u8, body: &[u8], at: usize) -> Result<StoredMsg, OpError> {
    let compressed = inner == op::COMPRESSED_STREAM_MSG;
    let decoded;
    let mut c = if compressed {
        decoded = crate::store::jsops::s2::decode_block(body, payload, at)?;
        Cursor::new(&decoded, 0, payload, true)
    } else {
        Cursor::new(body, at, payload, false)
    };
    let lseq = c.u64_le("lseq")?;
    let ts = c.u64_le("timestamp")? as i64;
    let sl = c.u16_le("subject length")?;
    let subject = c.take(u64::from(sl), "subject")?.to_vec();
    let rl = c.u16_le("reply length")?;
    let reply = c.take(u64::from(rl), "reply")?.to_vec();
    let hl = c.u16_le("header length")?;
    let headers = c.take(u64::from(hl), "headers")?.to_vec();
    let ml = c.u32_le("message length")?;
    let msg = c.take(u64::from(ml), "message")?.to_vec();
    let flags = if c.is_empty() {
        None
    } else {
        let (f, n) = go_uvarint(c.rest());
        Some(if n > 0 { f } else { 0 })
    };
    Ok(StoredMsg {
        subject,
        reply,
        headers,
        msg,
        lseq,
        ts,
        flags,
        compressed,
    })
}

// ---------------------------------------------------------------------------------------
// Group snapshot.

/// Which encoding a stream snapshot used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamSnapshotFormat {
    /// `EncodedStreamState`, version 1 or 2.
    Binary { version: u8 },
    /// The legacy JSON `streamSnapshot`.
    LegacyJson,
}

/// The stream state a stream group snapshot carries (`StreamReplicatedState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSnapshot {
    pub format: StreamSnapshotFormat,
    pub msgs: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// `clfs`: failed proposals, the offset between `lseq` and stored sequences.
    pub failed: u64,
    /// The deleted count as written (the binary header; the list length for JSON).
    pub num_deleted: u64,
    pub deleted: Vec<DeleteBlock>,
    /// Version 2 only: the stream's sourcing state (`StreamSourceState`).
    pub sources: Vec<SourceState>,
}

/// One source's progress (version 2 snapshots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceState {
    /// The source's internal key: origin stream, filter and transform joined by
    /// `" > "` (`"ORIGIN > >"` for an unfiltered source).
    pub name: Vec<u8>,
    /// The last origin sequence sourced.
    pub seq: u64,
    pub ident: Vec<u8>,
}

/// A set of deleted sequences inside `first_seq ..= last_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteBlock {
    /// `first ..first+num`.
    Range { first: u64, num: u64 },
    /// An AVL sequence set.
    Set(SeqSet),
    /// The legacy JSON list.
    List(Vec<u64>),
}

impl DeleteBlock {
    /// How many sequences the block deletes.
    pub fn len(&self) -> u64 {
        match self {
            DeleteBlock::Range { num, .. } => *num,
            DeleteBlock::Set(s) => s.len(),
            DeleteBlock::List(l) => l.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, seq: u64) -> bool {
        match self {
            DeleteBlock::Range { first, num } => seq >= *first && seq - *first < *num,
            DeleteBlock::Set(s) => s.contains(seq),
            DeleteBlock::List(l) => l.contains(&seq),
        }
    }

    /// The deleted sequences in ascending order (a range is walked lazily).
    pub fn iter(&self) -> Box<dyn Iterator<Item = u64> + '_> {
        match self {
            DeleteBlock::Range { first, num } => {
                let first = *first;
                Box::new((0..*num).map_while(move |i| first.checked_add(i)))
            }
            DeleteBlock::Set(s) => Box::new(s.iter()),
            DeleteBlock::List(l) => Box::new(l.iter().copied()),
        }
    }
}

/// `avl.SequenceSet`, as 2048-sequence nodes (`base` a multiple of 2048, 32 × 64 bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSet {
    /// The size the encoding declares.
    pub declared_size: u64,
    /// Nodes in ascending `base` order.
    pub nodes: Vec<SeqSetNode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSetNode {
    pub base: u64,
    pub bits: [u64; SEQSET_BUCKETS],
}

/// `numBuckets` of server/avl/seqset.go (version 2).
pub const SEQSET_BUCKETS: usize = 32;
const SEQSET_ENTRIES: u64 = SEQSET_BUCKETS as u64 * 64;

impl SeqSet {
    /// The number of sequences in the set.
    pub fn len(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| {
                n.bits
                    .iter()
                    .map(|b| u64::from(b.count_ones()))
                    .sum::<u64>()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, seq: u64) -> bool {
        // Nodes are sorted by base; look in every node that could cover `seq`.
        let end = self.nodes.partition_point(|n| n.base <= seq);
        self.nodes[..end]
            .iter()
            .rev()
            .take_while(|n| seq - n.base < SEQSET_ENTRIES)
            .any(|n| {
                let off = seq - n.base;
                n.bits[(off / 64) as usize] & (1 << (off % 64)) != 0
            })
    }

    /// The sequences, node by node (ascending for a well-formed set).
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.nodes.iter().flat_map(|n| {
            let nbase = n.base;
            n.bits.iter().enumerate().flat_map(move |(i, &word)| {
                (0..64u64)
                    .filter(move |b| word & (1 << b) != 0)
                    .filter_map(move |b| nbase.checked_add(i as u64 * 64 + b))
            })
        })
    }

    /// Adds `seq`, normalising into 2048-aligned nodes.
    fn insert(map: &mut BTreeMap<u64, [u64; SEQSET_BUCKETS]>, seq: u64) {
        let base = seq / SEQSET_ENTRIES * SEQSET_ENTRIES;
        let off = seq - base;
        map.entry(base).or_insert([0; SEQSET_BUCKETS])[(off / 64) as usize] |= 1 << (off % 64);
    }
}

/// `streamStateMagic`.
const STREAM_STATE_MAGIC: u8 = 42;
/// `runLengthMagic`.
const RUN_LENGTH_MAGIC: u8 = 33;
/// `seqSetMagic` (`avl` `magic`).
const SEQ_SET_MAGIC: u8 = 22;

/// Decodes a stream group snapshot (`decodeStreamSnapshot`).
pub fn decode_snapshot(data: &[u8]) -> Result<StreamSnapshot, OpError> {
    let payload = Payload::StreamSnapshot;
    if data.is_empty() {
        return Err(OpError::Empty { payload });
    }
    if data.len() >= 2 && data[0] == STREAM_STATE_MAGIC && (data[1] == 1 || data[1] == 2) {
        return decode_binary(data);
    }
    let doc = Doc {
        payload,
        offset: 0,
        decompressed: false,
    };
    let v = match doc.parse(data) {
        Ok(v) => v,
        Err(e) if data[0] == STREAM_STATE_MAGIC => {
            let version = data.get(1).copied();
            return Err(OpError::Invalid {
                payload,
                offset: 1,
                decompressed: false,
                field: "version",
                reason: match version {
                    Some(v) => format!("unknown stream state version {v}"),
                    None => format!("no version byte ({e})"),
                },
            });
        }
        Err(e) => return Err(e),
    };
    let o = doc.object(&v, "stream snapshot")?;
    let deleted: Vec<u64> = match crate::store::jsops::json::field(o, "deleted") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_u64()
                    .ok_or_else(|| doc.invalid("deleted", "expected unsigned integers"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(doc.invalid("deleted", "expected an array")),
    };
    Ok(StreamSnapshot {
        format: StreamSnapshotFormat::LegacyJson,
        msgs: doc.opt_u64(o, "messages")?.unwrap_or(0),
        bytes: doc.opt_u64(o, "bytes")?.unwrap_or(0),
        first_seq: doc.opt_u64(o, "first_seq")?.unwrap_or(0),
        last_seq: doc.opt_u64(o, "last_seq")?.unwrap_or(0),
        failed: doc.opt_u64(o, "clfs")?.unwrap_or(0),
        num_deleted: deleted.len() as u64,
        deleted: if deleted.is_empty() {
            Vec::new()
        } else {
            vec![DeleteBlock::List(deleted)]
        },
        sources: Vec::new(),
    })
}

fn decode_binary(data: &[u8]) -> Result<StreamSnapshot, OpError> {
    let payload = Payload::StreamSnapshot;
    let version = data[1];
    let mut c = Cursor::new(&data[2..], 2, payload, false);
    let msgs = c.uvarint("msgs")?;
    let bytes = c.uvarint("bytes")?;
    let first_seq = c.uvarint("first_seq")?;
    let last_seq = c.uvarint("last_seq")?;
    let failed = c.uvarint("failed")?;
    let mut sources = Vec::new();
    if version == 2 {
        let n = c.uvarint("source count")?;
        for _ in 0..n {
            let nl = c.uvarint("source name length")?;
            let name = c.take(nl, "source name")?.to_vec();
            let seq = c.uvarint("source sequence")?;
            let il = c.uvarint("source identity length")?;
            let ident = c.take(il, "source identity")?.to_vec();
            sources.push(SourceState { name, seq, ident });
        }
    }
    // The server reads a missing or bad count as 0 and ignores what follows.
    let (num_deleted, n) = go_uvarint(c.rest());
    let mut deleted = Vec::new();
    if n > 0 {
        c.take(n as u64, "num_deleted")?;
    }
    if n > 0 && num_deleted > 0 {
        while !c.is_empty() {
            let at = c.offset();
            match c.u8("delete block magic")? {
                RUN_LENGTH_MAGIC => {
                    let first = c.uvarint("delete range first")?;
                    let num = c.uvarint("delete range count")?;
                    deleted.push(DeleteBlock::Range { first, num });
                }
                SEQ_SET_MAGIC => deleted.push(DeleteBlock::Set(seq_set(&mut c, at)?)),
                other => {
                    return Err(OpError::Invalid {
                        payload,
                        offset: at,
                        decompressed: false,
                        field: "delete block magic",
                        reason: format!(
                            "expected 33 (run length) or 22 (sequence set), found {other}"
                        ),
                    })
                }
            }
        }
    }
    Ok(StreamSnapshot {
        format: StreamSnapshotFormat::Binary { version },
        msgs,
        bytes,
        first_seq,
        last_seq,
        failed,
        num_deleted: if n > 0 { num_deleted } else { 0 },
        deleted,
        sources,
    })
}

/// An AVL sequence set whose magic byte (at `at`) was just read.
fn seq_set(c: &mut Cursor<'_>, at: usize) -> Result<SeqSet, OpError> {
    // `Decode` wants at least magic, version and the two counts.
    if c.remaining() < 9 {
        return Err(c.truncated("sequence set header", 9));
    }
    let version = c.u8("sequence set version")?;
    let nn = u64::from(c.u32_le("sequence set node count")?);
    let size = u64::from(c.u32_le("sequence set size")?);
    let buckets: u64 = match version {
        2 => SEQSET_BUCKETS as u64,
        1 => 64,
        v => {
            return Err(OpError::Invalid {
                payload: Payload::StreamSnapshot,
                offset: at + 1,
                decompressed: false,
                field: "sequence set version",
                reason: format!("unknown version {v}"),
            })
        }
    };
    let node_len = (buckets + 1) * 8 + 2;
    if nn > c.remaining() as u64 / node_len {
        return Err(c.truncated("sequence set nodes", nn.saturating_mul(node_len)));
    }
    if version == 2 {
        let mut nodes = Vec::with_capacity(nn as usize);
        for _ in 0..nn {
            let base = c.u64_le("sequence set node base")?;
            let mut bits = [0u64; SEQSET_BUCKETS];
            for b in bits.iter_mut() {
                *b = c.u64_le("sequence set node bits")?;
            }
            c.u16_le("sequence set node height")?;
            nodes.push(SeqSetNode { base, bits });
        }
        // The server walks the tree in order; the encoder wrote it in order.
        nodes.sort_by_key(|n| n.base);
        return Ok(SeqSet {
            declared_size: size,
            nodes,
        });
    }
    // Version 1: 4096-sequence nodes, re-inserted one sequence at a time as `decodev1`.
    let mut map = BTreeMap::new();
    for _ in 0..nn {
        let base = c.u64_le("sequence set node base")?;
        for nb in 0..64u64 {
            let mut word = c.u64_le("sequence set node bits")?;
            while word != 0 {
                let bit = u64::from(word.trailing_zeros());
                if let Some(seq) = base.checked_add(nb * 64 + bit) {
                    SeqSet::insert(&mut map, seq);
                }
                word &= word - 1;
            }
        }
        c.u16_le("sequence set node height")?;
    }
    let set = SeqSet {
        declared_size: size,
        nodes: map
            .into_iter()
            .map(|(base, bits)| SeqSetNode { base, bits })
            .collect(),
    };
    if set.len() != size {
        return Err(OpError::Invalid {
            payload: Payload::StreamSnapshot,
            offset: at,
            decompressed: false,
            field: "sequence set size",
            reason: format!("declares {size} sequences, holds {}", set.len()),
        });
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uvarint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// The body `encodeStreamMsgAllowCompress` writes after the op byte.
    fn body(
        subj: &str,
        reply: &str,
        hdr: &[u8],
        msg: &[u8],
        lseq: u64,
        ts: i64,
        flags: Option<u64>,
    ) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(lseq.to_le_bytes());
        b.extend(ts.to_le_bytes());
        b.extend((subj.len() as u16).to_le_bytes());
        b.extend(subj.as_bytes());
        b.extend((reply.len() as u16).to_le_bytes());
        b.extend(reply.as_bytes());
        b.extend((hdr.len() as u16).to_le_bytes());
        b.extend(hdr);
        b.extend((msg.len() as u32).to_le_bytes());
        b.extend(msg);
        if let Some(f) = flags {
            uvarint(f, &mut b);
        }
        b
    }

    fn with_op(op: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![op];
        v.extend(body);
        v
    }

    #[test]
    fn stream_msg_layouts_of_2_10_and_2_11() {
        // 2.10: no flags.
        let b = body(
            "orders.new",
            "_INBOX.1",
            b"NATS/1.0\r\nA: b\r\n\r\n",
            b"hello",
            41,
            1_700_000_000_000_000_001,
            None,
        );
        let StreamOp::Msg(m) = decode(&with_op(op::STREAM_MSG, &b)).unwrap() else {
            panic!()
        };
        assert_eq!(
            (m.subject.as_slice(), m.reply.as_slice(), m.msg.as_slice()),
            (&b"orders.new"[..], &b"_INBOX.1"[..], &b"hello"[..])
        );
        assert_eq!(
            (m.lseq, m.ts, m.flags, m.compressed),
            (41, 1_700_000_000_000_000_001, None, false)
        );
        assert_eq!(m.stored_seq(0), Some(42));
        assert_eq!(m.stored_seq(2), Some(40));
        assert_eq!(m.stored_seq(42), None);
        assert!(!m.is_skip() && !m.is_flow_control() && !m.sourced());

        // 2.11+: the flags trailer, here from a source.
        let b = body("s", "", b"", b"x", 0, 5, Some(FLAG_FROM_SOURCE_OR_MIRROR));
        let StreamOp::Msg(m) = decode(&with_op(op::STREAM_MSG, &b)).unwrap() else {
            panic!()
        };
        assert_eq!(
            (m.flags, m.sourced(), m.stored_seq(0)),
            (Some(1), true, Some(1))
        );
        // A bad trailer reads as 0, as the server's `binary.Uvarint` result ignored.
        let mut b = body("s", "", b"", b"x", 0, 5, None);
        b.push(0x80);
        let StreamOp::Msg(m) = decode(&with_op(op::STREAM_MSG, &b)).unwrap() else {
            panic!()
        };
        assert_eq!(m.flags, Some(0));

        // Skip and flow control.
        let b = body("", "", b"", b"", 7, 0, Some(0));
        let StreamOp::Msg(m) = decode(&with_op(op::STREAM_MSG, &b)).unwrap() else {
            panic!()
        };
        assert!(m.is_skip());
        let b = body(
            "",
            "$JS.FC.x",
            b"NATS/1.0 100 FlowControl Request\r\n\r\n",
            b"",
            7,
            0,
            Some(0),
        );
        let StreamOp::Msg(m) = decode(&with_op(op::STREAM_MSG, &b)).unwrap() else {
            panic!()
        };
        assert!(m.is_flow_control());
    }

    #[test]
    fn compressed_stream_msg() {
        let payload = vec![b'z'; 20_000];
        let b = body("big", "", b"", &payload, 9, 1, Some(0));
        let data = with_op(op::COMPRESSED_STREAM_MSG, &minlz::s2::encode(&b));
        let StreamOp::Msg(m) = decode(&data).unwrap() else {
            panic!()
        };
        assert_eq!((m.msg.len(), m.compressed, m.lseq), (20_000, true, 9));

        // An error inside the decompressed body says so.
        let short = &b[..b.len() - 100];
        let e = decode(&with_op(
            op::COMPRESSED_STREAM_MSG,
            &minlz::s2::encode(short),
        ))
        .unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Truncated {
                    decompressed: true,
                    field: "message",
                    offset: 29,
                    ..
                }
            ),
            "{e}"
        );
        let e = decode(&[op::COMPRESSED_STREAM_MSG, 0xff]).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Decompress {
                    offset: 1,
                    format: "block",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn truncation_points_at_the_field() {
        let b = body("subj", "r", b"h", b"msg", 1, 1, Some(0));
        let data = with_op(op::STREAM_MSG, &b);
        // Every proper prefix fails (the flags trailer is optional, so stop before it).
        for n in 0..data.len() - 1 {
            let e = decode(&data[..n]).unwrap_err();
            assert!(e.offset() <= n, "{n}: {e}");
            if n > 0 {
                assert_eq!(e.op(), Some(op::STREAM_MSG));
            }
        }
        let e = decode(&data[..12]).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Truncated {
                    field: "timestamp",
                    offset: 9,
                    need: 8,
                    have: 3,
                    ..
                }
            ),
            "{e}"
        );
        let e = decode(&data[..20]).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Truncated {
                    field: "subject",
                    offset: 19,
                    need: 4,
                    have: 1,
                    ..
                }
            ),
            "{e}"
        );
    }

    fn batch(op: u8, id: &str, seq: u64, inner: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![op];
        v.extend((id.len() as u16).to_le_bytes());
        v.extend(id.as_bytes());
        uvarint(seq, &mut v);
        v.push(inner);
        v.extend(body);
        v
    }

    #[test]
    fn batch_ops_of_2_12() {
        let b = body("a", "", b"", b"one", 3, 1, Some(0));
        let StreamOp::Batch(m) =
            decode(&batch(op::BATCH_MSG, "b1", 1, op::STREAM_MSG, &b)).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (m.id.as_slice(), m.seq, m.commit, m.msg.lseq),
            (&b"b1"[..], 1, false, 3)
        );
        let data = batch(
            op::BATCH_COMMIT_MSG,
            "b1",
            300,
            op::COMPRESSED_STREAM_MSG,
            &minlz::s2::encode(&b),
        );
        let StreamOp::Batch(m) = decode(&data).unwrap() else {
            panic!()
        };
        assert_eq!(
            (m.seq, m.commit, m.msg.compressed, m.msg.msg.as_slice()),
            (300, true, true, &b"one"[..])
        );

        let e = decode(&batch(op::BATCH_MSG, "b1", 1, op::DELETE_MSG, &b)).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Invalid {
                    field: "batch inner op",
                    offset: 6,
                    ..
                }
            ),
            "{e}"
        );
        let e = decode(&[op::BATCH_MSG, 2, 0, b'b', b'1']).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Varint {
                    field: "batch sequence",
                    offset: 5,
                    ..
                }
            ),
            "{e}"
        );
        let e = decode(&[op::BATCH_MSG, 0, 0, 1]).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Truncated {
                    field: "batch inner op",
                    offset: 4,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn purge_delete_and_delete_range() {
        let p = decode(b"\x05{\"client\":{\"acc\":\"A\"},\"stream\":\"S\",\"last_seq\":41,\"subject\":\"\",\"reply\":\"\"}\n").unwrap();
        let StreamOp::Purge(p) = p else { panic!() };
        assert_eq!(
            (
                p.account.as_deref(),
                p.stream.as_str(),
                p.last_seq,
                p.request.clone()
            ),
            (Some("A"), "S", 41, None)
        );
        assert_eq!(
            p.effective_request(),
            Some(PurgeRequest {
                filter: None,
                seq: 42,
                keep: 0
            })
        );

        let mk = |req: &str| {
            let StreamOp::Purge(p) = decode(
                format!("\x05{{\"stream\":\"S\",\"last_seq\":9,\"request\":{req}}}").as_bytes(),
            )
            .unwrap() else {
                panic!()
            };
            p
        };
        let p = mk(r#"{"filter":"a.b"}"#);
        assert_eq!(
            p.effective_request(),
            Some(PurgeRequest {
                filter: Some("a.b".into()),
                seq: 10,
                keep: 0
            })
        );
        assert_eq!(p.account, None);
        assert_eq!(
            mk(r#"{"seq":4,"keep":2}"#).effective_request().unwrap().seq,
            4
        );
        // keep without seq: skipped while recovering.
        assert_eq!(mk(r#"{"keep":2}"#).effective_request(), None);
        assert!(matches!(
            decode(b"\x05{\"last_seq\":-1}"),
            Err(OpError::Invalid {
                field: "last_seq",
                ..
            })
        ));

        let StreamOp::DeleteMsg(d) = decode(b"\x06{\"client\":{\"acc\":\"A\",\"svc\":\"S\"},\"stream\":\"X\",\"seq\":7,\"no_erase\":true}").unwrap() else {
            panic!()
        };
        assert_eq!(
            (d.account.as_deref(), d.seq, d.no_erase),
            (Some("S"), 7, true)
        );

        assert_eq!(
            decode(b"\x0f{\"First\":3,\"Num\":4}\n").unwrap(),
            StreamOp::DeleteRange { first: 3, num: 4 }
        );
        assert_eq!(
            decode(b"\x0f{\"first\":3}").unwrap(),
            StreamOp::DeleteRange { first: 3, num: 0 }
        );
        assert_eq!(
            decode(&[op::UPDATE_ACKS, 1, 1]).unwrap(),
            StreamOp::Other(op::UPDATE_ACKS)
        );
        assert!(matches!(decode(&[]), Err(OpError::Empty { .. })));
    }

    fn state(version: u8, vals: [u64; 6]) -> Vec<u8> {
        let mut b = vec![42, version];
        for v in vals {
            uvarint(v, &mut b);
        }
        b
    }

    #[test]
    fn binary_snapshot_with_run_length_and_seqsets() {
        // msgs 5, bytes 100, first 1, last 10, failed 2, 5 deleted: 3,4 and 7,8,9.
        let mut b = state(1, [5, 100, 1, 10, 2, 5]);
        b.extend([33, 3, 2]);
        // A version 2 sequence set holding 7, 8 and 9.
        b.extend([22, 2]);
        b.extend(1u32.to_le_bytes());
        b.extend(3u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        b.extend(0b11_1000_0000u64.to_le_bytes());
        b.extend([0u8; 31 * 8]);
        b.extend(1u16.to_le_bytes());
        let s = decode_snapshot(&b).unwrap();
        assert_eq!(s.format, StreamSnapshotFormat::Binary { version: 1 });
        assert_eq!(
            (
                s.msgs,
                s.bytes,
                s.first_seq,
                s.last_seq,
                s.failed,
                s.num_deleted
            ),
            (5, 100, 1, 10, 2, 5)
        );
        let all: Vec<u64> = s.deleted.iter().flat_map(|d| d.iter()).collect();
        assert_eq!(all, [3, 4, 7, 8, 9]);
        assert!(s.deleted[1].contains(8) && !s.deleted[1].contains(6));
        assert_eq!(s.deleted.iter().map(DeleteBlock::len).sum::<u64>(), 5);

        // Truncated inside the set.
        let e = decode_snapshot(&b[..b.len() - 3]).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Truncated {
                    field: "sequence set nodes",
                    ..
                }
            ),
            "{e}"
        );
        // An unknown block.
        let mut bad = state(1, [5, 100, 1, 10, 2, 5]);
        bad.push(99);
        assert!(matches!(
            decode_snapshot(&bad),
            Err(OpError::Invalid {
                field: "delete block magic",
                offset: 8,
                ..
            })
        ));
        // No deleted count at all: read as none, as the server does.
        let s = decode_snapshot(&state(1, [5, 100, 1, 10, 2, 0])[..7]).unwrap();
        assert_eq!((s.num_deleted, s.deleted.len()), (0, 0));
    }

    #[test]
    fn version_1_seqset_is_normalised() {
        // decodev1: 64 buckets per node; 4000 and 4100 straddle two 2048-nodes.
        let mut b = state(1, [0, 0, 4000, 4200, 0, 2]);
        b.extend([22, 1]);
        b.extend(1u32.to_le_bytes());
        b.extend(2u32.to_le_bytes());
        b.extend(4096u64.to_le_bytes());
        let mut words = [0u64; 64];
        words[0] = 1; // 4096
        words[1] = 1 << 4; // 4096 + 64 + 4 = 4164
        for w in words {
            b.extend(w.to_le_bytes());
        }
        b.extend(1u16.to_le_bytes());
        let s = decode_snapshot(&b).unwrap();
        let DeleteBlock::Set(set) = &s.deleted[0] else {
            panic!()
        };
        assert_eq!(set.iter().collect::<Vec<_>>(), [4096, 4164]);
        assert_eq!(set.nodes[0].base, 4096);
        // The declared size must match for version 1.
        let n = b.len();
        b[n - 2 - 64 * 8] = 3; // add 4097
        assert!(matches!(
            decode_snapshot(&b),
            Err(OpError::Invalid {
                field: "sequence set size",
                ..
            })
        ));
    }

    #[test]
    fn version_2_snapshot_with_sources_and_legacy_json() {
        let mut b = vec![42, 2, 1, 1, 1, 1, 0];
        b.push(1); // one source
        b.extend([3, b'S', b'R', b'C', 9, 2, b'i', b'd']);
        b.push(0);
        let s = decode_snapshot(&b).unwrap();
        assert_eq!(s.format, StreamSnapshotFormat::Binary { version: 2 });
        assert_eq!(
            s.sources,
            vec![SourceState {
                name: b"SRC".to_vec(),
                seq: 9,
                ident: b"id".to_vec()
            }]
        );
        assert!(matches!(
            decode_snapshot(&b[..10]),
            Err(OpError::Truncated {
                field: "source name",
                ..
            })
        ));

        let s = decode_snapshot(
            br#"{"messages":3,"bytes":9,"first_seq":1,"last_seq":5,"clfs":1,"deleted":[2,4]}"#,
        )
        .unwrap();
        assert_eq!(s.format, StreamSnapshotFormat::LegacyJson);
        assert_eq!((s.msgs, s.failed, s.num_deleted), (3, 1, 2));
        assert_eq!(s.deleted, vec![DeleteBlock::List(vec![2, 4])]);

        assert!(matches!(
            decode_snapshot(&[42, 3, 0]),
            Err(OpError::Invalid {
                field: "version",
                offset: 1,
                ..
            })
        ));
        assert!(matches!(decode_snapshot(&[]), Err(OpError::Empty { .. })));
        assert!(matches!(
            decode_snapshot(b"[1]"),
            Err(OpError::Invalid { .. })
        ));
        assert!(matches!(
            decode_snapshot(&[42, 1, 0x80]),
            Err(OpError::Varint {
                field: "msgs",
                offset: 2,
                ..
            })
        ));
    }
}
