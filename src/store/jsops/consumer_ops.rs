//! A consumer group (`$SYS/_js_/C-*`): deliveries and acks the consumer's leader
//! proposed, and the group's snapshot of the consumer state.
//!
//! Mirrors, in server/jetstream_cluster.go: `applyConsumerEntries` (which ops exist and
//! what each does), `decodeDeliveredUpdate`, `decodeAckUpdate`, `decodeSkipUpdate`,
//! `decodeResetUpdate`, `processReplicatedAck`; in server/consumer.go the encoders
//! `updateDelivered`, `updateAcks`, `updateSkipped`, `resetStartingSeqLocked`,
//! `addClusterPendingRequest`, `removeClusterPendingRequest`; in server/store.go
//! `encodeConsumerState` and in server/filestore.go `decodeConsumerState`,
//! `checkConsumerHeader`, and the state changes [`apply`] reproduces:
//! `consumerFileStore.UpdateDelivered`, `UpdateAcks`, `UpdateStarting`, `SetStarting`,
//! `Reset`.
//!
//! # Wire format
//!
//! ## Ops
//!
//! | op | name | body after the op byte |
//! |----|------|------------------------|
//! | 7 | `updateDeliveredOp` | `dseq uvarint, sseq uvarint, dc uvarint, ts varint` (unix ns) |
//! | 8 | `updateAcksOp` | `dseq uvarint, sseq uvarint` |
//! | 10 | `updateSkipOp` | `sseq u64 LE` (the next stream sequence to deliver) |
//! | 18 | `resetSeqOp` (2.14+) | `sseq u64 LE`, then the reply subject to answer (rest of the bytes) |
//! | 12 | `addPendingRequest` | a pull request's reply subject (rest of the bytes) |
//! | 13 | `removePendingRequest` | a pull request's reply subject (rest of the bytes) |
//!
//! The same in every release 2.10 – 2.15 except that `resetSeqOp` only exists from 2.14,
//! and that 2.10 decodes a truncated delivered/ack update as zeros where later releases
//! (and this crate) reject it.
//!
//! ## Snapshot (`encodeConsumerState`, the same bytes as `obs/<name>/o.dat`)
//!
//! ```text
//! 22 | version (1 or 2; servers write 2)
//! | ack_floor.consumer uvarint | ack_floor.stream uvarint
//! | delivered.consumer uvarint | delivered.stream uvarint
//! | n_pending uvarint
//! | [n_pending > 0: base_ts varint (unix s), then n_pending ×
//! |      (sseq - ack_floor.stream uvarint, [v2: dseq - ack_floor.consumer uvarint],
//! |       v2: base_ts - ts varint  /  v1: ts - base_ts varint) (seconds)]
//! | n_redelivered uvarint | n_redelivered × (sseq - ack_floor.stream uvarint, count uvarint)
//! ```
//!
//! Version 1 stored delivered as the *next* sequence; it is adjusted back on decode as
//! the server does. Unchanged in every release 2.10 – 2.15.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::store::jsops::error::{OpError, Payload};
use crate::store::jsops::op;
use crate::store::jsops::wire::{go_uvarint, Cursor};

/// A decoded consumer group entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerOp {
    /// A message was delivered (`dc` is the delivery count, `ts` unix ns).
    Delivered {
        dseq: u64,
        sseq: u64,
        dc: u64,
        ts: i64,
    },
    /// A message was acked.
    Acks { dseq: u64, sseq: u64 },
    /// A filtered consumer skipped ahead: `sseq` is the next stream sequence.
    Skip { sseq: u64 },
    /// 2.14+: the consumer was reset to deliver from `sseq`.
    Reset { sseq: u64, reply: Vec<u8> },
    /// A pull request is waiting (its reply subject).
    AddPendingRequest { reply: Vec<u8> },
    /// A pull request is no longer waiting.
    RemovePendingRequest { reply: Vec<u8> },
    /// Not a consumer op; the body is not looked at.
    Other(u8),
}

/// Decodes one consumer group log entry.
pub fn decode(data: &[u8]) -> Result<ConsumerOp, OpError> {
    let Some(&opb) = data.first() else {
        return Err(OpError::Empty {
            payload: Payload::Entry,
        });
    };
    let payload = Payload::Op(opb);
    let mut c = Cursor::new(&data[1..], 1, payload, false);
    Ok(match opb {
        op::UPDATE_DELIVERED => ConsumerOp::Delivered {
            dseq: c.uvarint("dseq")?,
            sseq: c.uvarint("sseq")?,
            dc: c.uvarint("delivery count")?,
            ts: c.varint("timestamp")?,
        },
        op::UPDATE_ACKS => ConsumerOp::Acks {
            dseq: c.uvarint("dseq")?,
            sseq: c.uvarint("sseq")?,
        },
        op::UPDATE_SKIP => ConsumerOp::Skip {
            sseq: c.u64_le("sseq")?,
        },
        op::RESET_SEQ => ConsumerOp::Reset {
            sseq: c.u64_le("sseq")?,
            reply: c.rest().to_vec(),
        },
        op::ADD_PENDING_REQUEST => ConsumerOp::AddPendingRequest {
            reply: c.rest().to_vec(),
        },
        op::REMOVE_PENDING_REQUEST => ConsumerOp::RemovePendingRequest {
            reply: c.rest().to_vec(),
        },
        other => ConsumerOp::Other(other),
    })
}

/// A message delivered and not yet acked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pending {
    /// The consumer sequence of its (first) delivery.
    pub dseq: u64,
    /// When it was last delivered, unix ns (whole seconds after a snapshot round trip).
    pub ts: i64,
}

/// A consumer's delivery state (`ConsumerState`).
///
/// `pending` and `redelivered` are maps keyed by stream sequence (the server keeps Go
/// maps; [`apply`] needs lookups by sequence).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerState {
    pub delivered_consumer: u64,
    pub delivered_stream: u64,
    pub ack_floor_consumer: u64,
    pub ack_floor_stream: u64,
    /// Stream sequence → pending delivery (explicit/all ack policies).
    pub pending: BTreeMap<u64, Pending>,
    /// Stream sequence → times redelivered (delivery count - 1).
    pub redelivered: BTreeMap<u64, u64>,
}

/// `magic` of server/filestore.go.
const CONSUMER_MAGIC: u8 = 22;

/// `encodeConsumerState` (server/store.go): what a consumer group snapshots and what
/// `o.dat` holds. `base_secs` is the base timestamp pending deliveries are written against
/// (the server takes the current time, rounded to seconds).
pub fn encode_state(s: &ConsumerState, base_secs: i64) -> Vec<u8> {
    let mut b = vec![CONSUMER_MAGIC, 2];
    for v in [
        s.ack_floor_consumer,
        s.ack_floor_stream,
        s.delivered_consumer,
        s.delivered_stream,
        s.pending.len() as u64,
    ] {
        put_uvarint(&mut b, v);
    }
    if !s.pending.is_empty() {
        put_varint(&mut b, base_secs);
        for (sseq, p) in &s.pending {
            put_uvarint(&mut b, sseq.wrapping_sub(s.ack_floor_stream));
            put_uvarint(&mut b, p.dseq.wrapping_sub(s.ack_floor_consumer));
            put_varint(&mut b, base_secs.wrapping_sub(p.ts / 1_000_000_000));
        }
    }
    put_uvarint(&mut b, s.redelivered.len() as u64);
    for (sseq, n) in &s.redelivered {
        put_uvarint(&mut b, sseq.wrapping_sub(s.ack_floor_stream));
        put_uvarint(&mut b, *n);
    }
    b
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Zig-zag, as Go's `binary.PutVarint`.
fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Decodes a consumer group snapshot (`decodeConsumerState`).
pub fn decode_snapshot(data: &[u8]) -> Result<ConsumerState, OpError> {
    let payload = Payload::ConsumerSnapshot;
    if data.is_empty() {
        return Err(OpError::Empty { payload });
    }
    let mut c = Cursor::new(data, 0, payload, false);
    let magic = c.u8("magic")?;
    if magic != CONSUMER_MAGIC {
        return Err(OpError::Invalid {
            payload,
            offset: 0,
            decompressed: false,
            field: "magic",
            reason: format!("expected {CONSUMER_MAGIC}, found {magic}"),
        });
    }
    let version = c.u8("version")?;
    if version != 1 && version != 2 {
        return Err(OpError::Invalid {
            payload,
            offset: 1,
            decompressed: false,
            field: "version",
            reason: format!("unsupported version {version}"),
        });
    }
    let mut s = ConsumerState {
        ack_floor_consumer: c.uvarint("ack floor consumer sequence")?,
        ack_floor_stream: c.uvarint("ack floor stream sequence")?,
        delivered_consumer: c.uvarint("delivered consumer sequence")?,
        delivered_stream: c.uvarint("delivered stream sequence")?,
        ..ConsumerState::default()
    };
    if version == 1 {
        if s.ack_floor_consumer > 1 {
            s.delivered_consumer = s.delivered_consumer.wrapping_add(s.ack_floor_consumer - 1);
        }
        if s.ack_floor_stream > 1 {
            s.delivered_stream = s.delivered_stream.wrapping_add(s.ack_floor_stream - 1);
        }
    }
    const HBIT: u64 = 1 << 63;
    if s.ack_floor_stream & HBIT != 0 || s.delivered_stream & HBIT != 0 {
        return Err(c.invalid(
            "delivered/ack floor stream sequence",
            "high bit set (rolled backwards)",
        ));
    }

    // The server reads a missing count as 0 and stops there.
    let num_pending = lenient_count(&mut c);
    if num_pending > 0 {
        let mints = c.varint("pending base timestamp")?;
        for _ in 0..num_pending {
            let sseq = c.uvarint("pending stream sequence")?;
            let dseq = if version == 2 {
                c.uvarint("pending consumer sequence")?
            } else {
                0
            };
            let at = c.offset();
            let ts = c.varint("pending timestamp")?;
            let sseq = sseq.wrapping_add(s.ack_floor_stream);
            if sseq == 0 {
                return Err(OpError::Invalid {
                    payload,
                    offset: at,
                    decompressed: false,
                    field: "pending stream sequence",
                    reason: "resolves to sequence 0".into(),
                });
            }
            let dseq = if version == 2 {
                dseq.wrapping_add(s.ack_floor_consumer)
            } else {
                dseq
            };
            let secs = if version == 1 {
                ts.wrapping_add(mints)
            } else {
                mints.wrapping_sub(ts)
            };
            s.pending.insert(
                sseq,
                Pending {
                    dseq,
                    ts: secs.wrapping_mul(1_000_000_000),
                },
            );
        }
    }
    let num_redelivered = lenient_count(&mut c);
    for _ in 0..num_redelivered {
        // A short entry ends the list without an error, as in the server.
        let (Ok(seq), Ok(n)) = (
            c.uvarint("redelivered sequence"),
            c.uvarint("redelivered count"),
        ) else {
            break;
        };
        if seq > 0 && n > 0 {
            s.redelivered
                .insert(seq.wrapping_add(s.ack_floor_stream), n);
        }
    }
    Ok(s)
}

fn lenient_count(c: &mut Cursor<'_>) -> u64 {
    let (n, len) = go_uvarint(c.rest());
    if len <= 0 {
        return 0;
    }
    let _ = c.take(len as u64, "count");
    n
}

/// `AckPolicy` of a consumer config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckPolicy {
    /// `"none"`
    None,
    /// `"all"`
    All,
    /// `"explicit"` (the server's default)
    #[default]
    Explicit,
    /// `"flow_control"` (2.14+; acks like `All`)
    FlowControl,
}

/// Which release's store rules [`apply_with`] follows; they differ in small ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rules {
    /// 2.14 and later: an ack drops the redelivery count first, whatever else happens.
    #[default]
    Current,
    /// 2.11 – 2.12: a skip moves `delivered_stream`; an ack below the ack floor leaves the
    /// redelivery count alone.
    V2_11,
    /// 2.10: a skip changes nothing stored, and an ack past `delivered_stream` moves it
    /// to the acked sequence + 1.
    V2_10,
}

/// The consumer settings the state changes depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyConfig {
    pub ack_policy: AckPolicy,
    /// `max_deliver`; 0 or negative means no limit.
    pub max_deliver: i64,
    pub rules: Rules,
}

impl Default for ApplyConfig {
    fn default() -> Self {
        ApplyConfig {
            ack_policy: AckPolicy::Explicit,
            max_deliver: -1,
            rules: Rules::Current,
        }
    }
}

impl ApplyConfig {
    /// Reads `ack_policy` and `max_deliver` from a consumer config (as in a
    /// [`crate::store::jsops::meta::ConsumerAssignment`]); missing or unknown values keep the defaults.
    pub fn from_consumer_config(config: &Value) -> Self {
        let mut out = ApplyConfig::default();
        if let Value::Object(o) = config {
            out.ack_policy =
                match crate::store::jsops::json::field(o, "ack_policy").and_then(Value::as_str) {
                    Some("none") => AckPolicy::None,
                    Some("all") => AckPolicy::All,
                    Some("flow_control") => AckPolicy::FlowControl,
                    _ => AckPolicy::Explicit,
                };
            if let Some(m) =
                crate::store::jsops::json::field(o, "max_deliver").and_then(Value::as_i64)
            {
                out.max_deliver = m;
            }
        }
        out
    }
}

/// Applies an op to a state as a follower's store does, for an explicit-ack consumer with
/// no delivery limit under the current rules. See [`apply_with`].
pub fn apply(state: &mut ConsumerState, op: &ConsumerOp) {
    apply_with(state, op, &ApplyConfig::default());
}

/// Applies an op to a state as `applyConsumerEntries` makes the consumer's store do
/// (`UpdateDelivered`, `UpdateAcks`, `UpdateStarting`, `Reset`). Ops the store refuses
/// (an ack for a message not pending, a redelivery with ack policy none, a replay below
/// the ack floor) leave the state unchanged, as they do in the server; pending-request
/// ops never touch the state.
pub fn apply_with(state: &mut ConsumerState, op: &ConsumerOp, cfg: &ApplyConfig) {
    match *op {
        ConsumerOp::Delivered { dseq, sseq, dc, ts } => {
            update_delivered(state, cfg, dseq, sseq, dc, ts)
        }
        ConsumerOp::Acks { dseq, sseq } => update_acks(state, cfg, dseq, sseq),
        ConsumerOp::Skip { sseq } => {
            if cfg.rules == Rules::V2_10 {
                return;
            }
            // `UpdateStarting(sseq - 1)`; Go's unsigned arithmetic wraps.
            let start = sseq.wrapping_sub(1);
            if start > state.delivered_stream {
                state.delivered_stream = start;
                if cfg.ack_policy == AckPolicy::None {
                    state.ack_floor_stream = start;
                }
            }
        }
        ConsumerOp::Reset { sseq, .. } => {
            // `Reset(sseq - 1)`: a fresh state starting after sseq - 1.
            let start = sseq.wrapping_sub(1);
            *state = ConsumerState {
                delivered_stream: start,
                ack_floor_stream: start,
                ..ConsumerState::default()
            };
        }
        ConsumerOp::AddPendingRequest { .. }
        | ConsumerOp::RemovePendingRequest { .. }
        | ConsumerOp::Other(_) => {}
    }
}

fn update_delivered(
    s: &mut ConsumerState,
    cfg: &ApplyConfig,
    dseq: u64,
    sseq: u64,
    dc: u64,
    ts: i64,
) {
    if dc != 1 && cfg.ack_policy == AckPolicy::None {
        return;
    }
    if dseq <= s.ack_floor_consumer {
        return;
    }
    if cfg.ack_policy == AckPolicy::None {
        if dseq > s.delivered_consumer {
            s.delivered_consumer = dseq;
            s.ack_floor_consumer = dseq;
        }
        if sseq > s.delivered_stream {
            s.delivered_stream = sseq;
            s.ack_floor_stream = sseq;
        }
        return;
    }
    if sseq <= s.delivered_stream {
        if let Some(p) = s.pending.get_mut(&sseq) {
            p.ts = ts;
        }
    } else {
        s.pending.insert(sseq, Pending { dseq, ts });
    }
    s.delivered_consumer = s.delivered_consumer.max(dseq);
    s.delivered_stream = s.delivered_stream.max(sseq);
    if dc > 1 {
        // `uint64(MaxDeliver)`: -1 becomes huge, i.e. no limit.
        let maxdc = cfg.max_deliver as u64;
        if maxdc > 0 && dc > maxdc {
            s.pending.remove(&sseq);
        }
        let r = s.redelivered.entry(sseq).or_insert(0);
        if *r < dc - 1 {
            *r = dc - 1;
        }
    }
}

fn update_acks(s: &mut ConsumerState, cfg: &ApplyConfig, mut dseq: u64, sseq: u64) {
    if cfg.ack_policy == AckPolicy::None {
        return;
    }
    if cfg.rules == Rules::Current {
        s.redelivered.remove(&sseq);
    }
    if dseq <= s.ack_floor_consumer {
        return;
    }
    if cfg.rules == Rules::V2_10 && sseq > s.delivered_stream {
        s.delivered_stream = sseq.wrapping_add(1);
    }
    if !s.pending.contains_key(&sseq) {
        s.redelivered.remove(&sseq);
        return;
    }
    if matches!(cfg.ack_policy, AckPolicy::All | AckPolicy::FlowControl) {
        let sgap = sseq.wrapping_sub(s.ack_floor_stream);
        s.ack_floor_consumer = dseq;
        s.ack_floor_stream = sseq;
        if sgap > s.pending.len() as u64 {
            let covered: Vec<u64> = s.pending.range(..=sseq).map(|(&k, _)| k).collect();
            for seq in covered {
                s.pending.remove(&seq);
                s.redelivered.remove(&seq);
            }
        } else {
            // Walks down from sseq while anything is pending; at most sgap <= pending steps.
            let low = sseq - sgap;
            let mut seq = sseq;
            while seq > low && !s.pending.is_empty() {
                s.pending.remove(&seq);
                s.redelivered.remove(&seq);
                seq -= 1;
            }
        }
        return;
    }
    // Explicit.
    if let Some(p) = s.pending.remove(&sseq) {
        if dseq > p.dseq && p.dseq > 0 {
            dseq = p.dseq;
        }
    }
    if s.pending.is_empty() {
        s.ack_floor_consumer = s.delivered_consumer;
        s.ack_floor_stream = s.delivered_stream;
    } else if dseq == s.ack_floor_consumer.wrapping_add(1) {
        s.ack_floor_consumer = dseq;
        s.ack_floor_stream = sseq;
        if s.delivered_consumer > dseq {
            // The first pending message after sseq bounds the floor.
            let next = sseq
                .checked_add(1)
                .and_then(|from| s.pending.range(from..=s.delivered_stream.max(from)).next());
            if let Some((&ss, p)) = next {
                if ss <= s.delivered_stream && p.dseq > 0 {
                    s.ack_floor_consumer = p.dseq - 1;
                    s.ack_floor_stream = ss - 1;
                }
            }
        }
    }
    s.redelivered.remove(&sseq);
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

    fn varint(v: i64, out: &mut Vec<u8>) {
        uvarint(((v << 1) ^ (v >> 63)) as u64, out);
    }

    #[test]
    fn ops() {
        let mut d = vec![op::UPDATE_DELIVERED];
        for v in [7, 300, 2] {
            uvarint(v, &mut d);
        }
        varint(-5, &mut d);
        assert_eq!(
            decode(&d).unwrap(),
            ConsumerOp::Delivered {
                dseq: 7,
                sseq: 300,
                dc: 2,
                ts: -5
            }
        );
        let e = decode(&d[..4]).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Varint {
                    field: "delivery count",
                    offset: 4,
                    ..
                }
            ),
            "{e}"
        );

        assert_eq!(
            decode(&[op::UPDATE_ACKS, 1, 2]).unwrap(),
            ConsumerOp::Acks { dseq: 1, sseq: 2 }
        );
        let e = decode(&[op::UPDATE_ACKS, 0xff]).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Varint {
                    field: "dseq",
                    offset: 1,
                    ..
                }
            ),
            "{e}"
        );

        let mut s = vec![op::UPDATE_SKIP];
        s.extend(12u64.to_le_bytes());
        assert_eq!(decode(&s).unwrap(), ConsumerOp::Skip { sseq: 12 });
        assert!(matches!(
            decode(&s[..5]),
            Err(OpError::Truncated {
                field: "sseq",
                offset: 1,
                need: 8,
                have: 4,
                ..
            })
        ));

        let mut r = vec![op::RESET_SEQ];
        r.extend(3u64.to_le_bytes());
        r.extend(b"_INBOX.x");
        assert_eq!(
            decode(&r).unwrap(),
            ConsumerOp::Reset {
                sseq: 3,
                reply: b"_INBOX.x".to_vec()
            }
        );

        assert_eq!(
            decode(b"\x0c_INBOX.y").unwrap(),
            ConsumerOp::AddPendingRequest {
                reply: b"_INBOX.y".to_vec()
            }
        );
        assert_eq!(
            decode(b"\x0d").unwrap(),
            ConsumerOp::RemovePendingRequest { reply: vec![] }
        );
        assert_eq!(
            decode(&[op::STREAM_MSG]).unwrap(),
            ConsumerOp::Other(op::STREAM_MSG)
        );
        assert!(matches!(decode(&[]), Err(OpError::Empty { .. })));
    }

    #[test]
    fn snapshot_round_trip() {
        let mut s = ConsumerState {
            delivered_consumer: 11,
            delivered_stream: 14,
            ack_floor_consumer: 6,
            ack_floor_stream: 7,
            ..Default::default()
        };
        s.pending.insert(
            9,
            Pending {
                dseq: 8,
                ts: 1_795_000_000_000_000_000,
            },
        );
        s.pending.insert(
            14,
            Pending {
                dseq: 11,
                ts: 1_795_000_003_000_000_000,
            },
        );
        s.redelivered.insert(9, 2);
        let b = encode_state(&s, 1_795_000_010);
        assert_eq!(decode_snapshot(&b).unwrap(), s);

        // A short redelivered list ends without an error; a short pending list fails.
        let without_last = &b[..b.len() - 1];
        assert!(decode_snapshot(without_last)
            .unwrap()
            .redelivered
            .is_empty());
        let e = decode_snapshot(&b[..10]).unwrap_err();
        assert!(
            matches!(e, OpError::Varint { .. } | OpError::Truncated { .. }),
            "{e}"
        );
        // Nothing after the sequences: no pending, no redelivered.
        assert_eq!(decode_snapshot(&b[..6]).unwrap().pending.len(), 0);
    }

    #[test]
    fn snapshot_version_1_and_bad_headers() {
        // Version 1 stored delivered as the next sequence past the ack floor and
        // pending timestamps as ts - base, without a consumer sequence.
        let mut b = vec![22, 1, 5, 10, 3, 4, 1];
        varint(100, &mut b);
        uvarint(2, &mut b); // sseq 12
        varint(5, &mut b); // 105 s
        uvarint(0, &mut b);
        let s = decode_snapshot(&b).unwrap();
        assert_eq!((s.delivered_consumer, s.delivered_stream), (3 + 4, 4 + 9));
        assert_eq!(
            s.pending[&12],
            Pending {
                dseq: 0,
                ts: 105_000_000_000
            }
        );

        assert!(matches!(decode_snapshot(&[]), Err(OpError::Empty { .. })));
        assert!(matches!(
            decode_snapshot(&[21, 2]),
            Err(OpError::Invalid { field: "magic", .. })
        ));
        assert!(matches!(
            decode_snapshot(&[22, 3]),
            Err(OpError::Invalid {
                field: "version",
                offset: 1,
                ..
            })
        ));
        assert!(matches!(
            decode_snapshot(&[22]),
            Err(OpError::Truncated {
                field: "version",
                ..
            })
        ));
        // Rolled backwards (high bit).
        let mut b = vec![22, 2, 0];
        uvarint(1 << 63, &mut b);
        b.extend([0, 0]);
        assert!(matches!(decode_snapshot(&b), Err(OpError::Invalid { .. })));
        // A pending entry at sequence 0.
        let mut b = vec![22, 2, 0, 0, 0, 0, 1];
        varint(1, &mut b);
        b.extend([0, 0, 0]);
        assert!(matches!(
            decode_snapshot(&b),
            Err(OpError::Invalid {
                field: "pending stream sequence",
                ..
            })
        ));
    }

    fn delivered(dseq: u64, sseq: u64, dc: u64) -> ConsumerOp {
        ConsumerOp::Delivered {
            dseq,
            sseq,
            dc,
            ts: 1,
        }
    }

    #[test]
    fn apply_explicit_acks_move_the_floor() {
        let mut s = ConsumerState::default();
        apply(&mut s, &ConsumerOp::Skip { sseq: 1 });
        for i in 1..=5 {
            apply(&mut s, &delivered(i, i + 10, 1));
        }
        assert_eq!(
            (s.delivered_consumer, s.delivered_stream, s.pending.len()),
            (5, 15, 5)
        );
        // Out of order: the floor waits for 1.
        apply(&mut s, &ConsumerOp::Acks { dseq: 2, sseq: 12 });
        assert_eq!((s.ack_floor_consumer, s.ack_floor_stream), (0, 0));
        // Acking 1 moves the floor to just below the first still pending (3 / 13).
        apply(&mut s, &ConsumerOp::Acks { dseq: 1, sseq: 11 });
        assert_eq!((s.ack_floor_consumer, s.ack_floor_stream), (2, 12));
        // Redelivery of 13 keeps its first dseq and counts the redelivery.
        apply(&mut s, &delivered(6, 13, 2));
        assert_eq!(
            (
                s.pending[&13].dseq,
                s.redelivered[&13],
                s.delivered_consumer
            ),
            (3, 1, 6)
        );
        apply(&mut s, &ConsumerOp::Acks { dseq: 6, sseq: 13 });
        assert!(!s.redelivered.contains_key(&13));
        assert_eq!((s.ack_floor_consumer, s.ack_floor_stream), (3, 13));
        for (d, q) in [(4, 14), (5, 15)] {
            apply(&mut s, &ConsumerOp::Acks { dseq: d, sseq: q });
        }
        // Nothing pending: the floor is what was delivered.
        assert_eq!(
            (s.ack_floor_consumer, s.ack_floor_stream, s.pending.len()),
            (6, 15, 0)
        );
        // Stale replays change nothing.
        let before = s.clone();
        apply(&mut s, &delivered(2, 12, 1));
        apply(&mut s, &ConsumerOp::Acks { dseq: 2, sseq: 12 });
        apply(
            &mut s,
            &ConsumerOp::AddPendingRequest {
                reply: b"x".to_vec(),
            },
        );
        assert_eq!(s, before);
    }

    #[test]
    fn apply_other_policies_and_rules() {
        let all = ApplyConfig {
            ack_policy: AckPolicy::All,
            ..ApplyConfig::default()
        };
        let mut s = ConsumerState::default();
        for i in 1..=5 {
            apply_with(&mut s, &delivered(i, i, 1), &all);
        }
        apply_with(&mut s, &ConsumerOp::Acks { dseq: 3, sseq: 3 }, &all);
        assert_eq!(
            (
                s.ack_floor_stream,
                s.pending.keys().copied().collect::<Vec<_>>()
            ),
            (3, vec![4, 5])
        );

        let none = ApplyConfig {
            ack_policy: AckPolicy::None,
            ..ApplyConfig::default()
        };
        let mut s = ConsumerState::default();
        apply_with(&mut s, &delivered(1, 4, 1), &none);
        apply_with(&mut s, &delivered(2, 9, 2), &none); // refused: redelivery without acks
        assert_eq!(
            (
                s.delivered_stream,
                s.ack_floor_stream,
                s.ack_floor_consumer,
                s.pending.len()
            ),
            (4, 4, 1, 0)
        );
        apply_with(&mut s, &ConsumerOp::Skip { sseq: 20 }, &none);
        assert_eq!((s.delivered_stream, s.ack_floor_stream), (19, 19));

        // max_deliver: the last allowed redelivery drops the message from pending.
        let max = ApplyConfig {
            max_deliver: 2,
            ..ApplyConfig::default()
        };
        let mut s = ConsumerState::default();
        apply_with(&mut s, &delivered(1, 1, 1), &max);
        apply_with(&mut s, &delivered(2, 1, 3), &max);
        assert!(s.pending.is_empty() && s.redelivered[&1] == 2);

        // 2.10: a skip leaves the stored state alone; an ack past delivered bumps it.
        let v210 = ApplyConfig {
            rules: Rules::V2_10,
            ..ApplyConfig::default()
        };
        let mut s = ConsumerState::default();
        apply_with(&mut s, &ConsumerOp::Skip { sseq: 5 }, &v210);
        assert_eq!(s, ConsumerState::default());
        apply_with(&mut s, &delivered(1, 1, 1), &v210);
        apply_with(&mut s, &ConsumerOp::Acks { dseq: 1, sseq: 9 }, &v210);
        assert_eq!(s.delivered_stream, 10);

        // 2.14+: reset starts over after sseq - 1.
        let mut s = ConsumerState {
            delivered_consumer: 9,
            delivered_stream: 9,
            ..Default::default()
        };
        s.pending.insert(9, Pending::default());
        apply(
            &mut s,
            &ConsumerOp::Reset {
                sseq: 3,
                reply: vec![],
            },
        );
        assert_eq!(
            s,
            ConsumerState {
                delivered_stream: 2,
                ack_floor_stream: 2,
                ..Default::default()
            }
        );

        let cfg = ApplyConfig::from_consumer_config(
            &serde_json::json!({"ack_policy": "flow_control", "max_deliver": 5}),
        );
        assert_eq!(
            (cfg.ack_policy, cfg.max_deliver, cfg.rules),
            (AckPolicy::FlowControl, 5, Rules::Current)
        );
        assert_eq!(
            ApplyConfig::from_consumer_config(&serde_json::Value::Null),
            ApplyConfig::default()
        );
    }
}
