//! Fixtures made by `fixtures/make_fixture.py` with the real nats-server of every
//! release (2.10.26, 2.11.11, 2.12.8, 2.14.6, 2.15.1): the meta leader's `_js_` after a
//! meta snapshot, a second phase of changes only in the logs, and SIGKILL.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::*;
use crate::store::jsops::consumer_ops::{self, ApplyConfig, ConsumerOp, ConsumerState, Rules};
use crate::store::jsops::meta::{self, MetaOp, StreamAssignment};
use crate::store::jsops::op;
use crate::store::jsops::stream_ops::{self, StoredMsg, StreamOp};
use serde_json::Value;

const VERSIONS: [&str; 5] = ["2.10.26", "2.11.11", "2.12.8", "2.14.6", "2.15.1"];

fn dir(version: &str) -> PathBuf {
    fixtures().join(format!("cluster-{version}"))
}

fn expected(version: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir(version).join("expected.json")).unwrap()).unwrap()
}

fn at_least(version: &str, min: (u32, u32)) -> bool {
    let mut it = version.split('.').map(|p| p.parse::<u32>().unwrap());
    (it.next().unwrap(), it.next().unwrap()) >= min
}

struct Meta {
    snapshot_index: u64,
    snapshot: Vec<StreamAssignment>,
    ops: Vec<MetaOp>,
    raw_ops: Vec<Vec<u8>>,
}

fn meta(version: &str) -> Meta {
    let mdir = dir(version).join("_js_/_meta_");
    let snap = latest_snapshot(&mdir).expect("meta snapshot");
    let snapshot = meta::decode_snapshot(&snap.data).unwrap_or_else(|e| panic!("{version}: {e}"));
    let raw_ops: Vec<Vec<u8>> = normal_entries(&mdir, snap.index)
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let ops = raw_ops
        .iter()
        .map(|e| meta::decode_op(e).unwrap_or_else(|err| panic!("{version}: {err}")))
        .collect();
    Meta {
        snapshot_index: snap.index,
        snapshot,
        ops,
        raw_ops,
    }
}

fn find<'a>(
    streams: &'a [StreamAssignment],
    acc: &str,
    name: &str,
) -> Option<&'a StreamAssignment> {
    streams.iter().find(|s| s.account == acc && s.name == name)
}

fn shape(streams: &[StreamAssignment]) -> BTreeMap<(String, String), BTreeSet<String>> {
    streams
        .iter()
        .map(|s| {
            (
                (s.account.clone(), s.name.clone()),
                s.consumers.iter().map(|c| c.name.clone()).collect(),
            )
        })
        .collect()
}

#[test]
fn meta_snapshot_and_ops_of_every_release() {
    for v in VERSIONS {
        let exp = expected(v);
        let m = meta(v);
        assert_eq!(
            m.snapshot_index,
            exp["meta_snapshot_index"].as_u64().unwrap(),
            "{v}"
        );

        // The snapshot predates phase 2: DOOMED with its consumer, no NEWBIE, no SNAP.
        // (2.14.6's survivor snapshotted before applying D1's assignment: it follows in
        // the log.)
        let doomed =
            find(&m.snapshot, "B", "DOOMED").unwrap_or_else(|| panic!("{v}: DOOMED in snapshot"));
        assert!(doomed.consumers.iter().all(|c| c.name == "D1"), "{v}");
        assert!(find(&m.snapshot, "B", "NEWBIE").is_none(), "{v}");
        assert!(find(&m.snapshot, "A", "SNAP").is_none(), "{v}");
        let orders = find(&m.snapshot, "A", "ORDERS").unwrap();
        assert_eq!(orders.config["description"], "orders", "{v}");
        for s in &m.snapshot {
            let replicas = s.config["num_replicas"].as_u64().unwrap();
            assert_eq!(s.group.peers.len() as u64, replicas, "{v} {}", s.name);
            assert!(s.raw.get("Consumers").is_none());
        }
        let mem = find(&m.snapshot, "A", "MEM").unwrap();
        assert_eq!(mem.group.storage, meta::Storage::Memory, "{v}");
        assert_eq!(
            find(&m.snapshot, "A", "LOCAL").unwrap().group.peers.len(),
            1,
            "{v}"
        );

        // Every op after the snapshot decodes, and the ones phase 2 made are there.
        let kinds: BTreeSet<u8> = m.raw_ops.iter().map(|e| e[0]).collect();
        for k in [
            op::ASSIGN_STREAM,
            op::ASSIGN_CONSUMER,
            op::REMOVE_STREAM,
            op::REMOVE_CONSUMER,
            op::ASSIGN_COMPRESSED_CONSUMER,
            op::UPDATE_STREAM,
        ] {
            assert!(
                kinds.contains(&k),
                "{v}: no op {k} after the snapshot ({kinds:?})"
            );
        }
        assert!(m.ops.iter().all(|o| !matches!(o, MetaOp::Other(_))), "{v}");
        let sc = m
            .raw_ops
            .iter()
            .zip(&m.ops)
            .find(|(raw, _)| raw[0] == op::ASSIGN_COMPRESSED_CONSUMER)
            .map(|(_, o)| o)
            .unwrap();
        match sc {
            MetaOp::AssignConsumer(ca) => {
                assert_eq!(
                    (ca.account.as_str(), ca.stream.as_str(), ca.name.as_str()),
                    ("A", "SNAP", "SC"),
                    "{v}"
                );
                assert_eq!(ca.group.peers.len(), 3);
                assert!(ca.config.is_object());
                // The restore carries the consumer's state along.
                assert!(ca.raw.get("state").is_some(), "{v}");
            }
            other => panic!("{v}: {other:?}"),
        }
        let restored = m
            .ops
            .iter()
            .find_map(|o| match o {
                MetaOp::AssignStream(sa) if sa.name == "SNAP" => Some(sa),
                _ => None,
            })
            .unwrap();
        assert!(restored.raw.get("restore_state").is_some(), "{v}");
    }
}

#[test]
fn replay_gives_the_inventory_of_every_release() {
    for v in VERSIONS {
        let exp = expected(v);
        let m = meta(v);
        let inv = meta::replay(m.snapshot.clone(), m.ops.clone());

        // What the cluster held before the last change, less the stream deleted last.
        let mut want: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        for (acc, streams) in exp["accounts"].as_object().unwrap() {
            for (name, s) in streams.as_object().unwrap() {
                want.insert(
                    (acc.clone(), name.clone()),
                    s["consumers"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .cloned()
                        .collect(),
                );
            }
        }
        let del = &exp["deleted_after_snapshot"];
        assert!(want
            .remove(&(
                del["account"].as_str().unwrap().into(),
                del["stream"].as_str().unwrap().into()
            ))
            .is_some());
        assert_eq!(shape(&inv), want, "{v}");

        let created = &exp["created_after_snapshot"];
        let newbie = find(
            &inv,
            created["account"].as_str().unwrap(),
            created["stream"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(newbie.consumers[0].name, "N1");
        assert_eq!(newbie.consumers[0].config["ack_policy"], "all");

        let upd = &exp["updated_after_snapshot"];
        let orders = find(&inv, "A", "ORDERS").unwrap();
        assert_eq!(orders.config["description"], upd["description"], "{v}");
        // 2.10 can only hold the update and the removal uncommitted (see make_fixture.py).
        assert_eq!(upd["committed"].as_bool().unwrap(), at_least(v, (2, 11)));

        for s in &inv {
            let want = &exp["accounts"][&s.account][&s.name];
            assert_eq!(s.config["num_replicas"], want["replicas"], "{v} {}", s.name);
            assert_eq!(
                s.group.peers.len() as u64,
                want["replicas"].as_u64().unwrap(),
                "{v} {}",
                s.name
            );
            assert_eq!(s.config["retention"], want["retention"], "{v} {}", s.name);
            for c in &s.consumers {
                assert_eq!(
                    c.group.peers.len(),
                    s.group.peers.len(),
                    "{v} {} > {}",
                    s.name,
                    c.name
                );
                assert!(c.group.name.starts_with("C-"));
            }
        }

        // Replaying nothing changes nothing; replaying the snapshot's own content again
        // as assignments is idempotent.
        assert_eq!(meta::replay(m.snapshot.clone(), []), m.snapshot);
        let again: Vec<MetaOp> = m
            .snapshot
            .iter()
            .cloned()
            .map(MetaOp::AssignStream)
            .collect();
        assert_eq!(
            shape(&meta::replay(m.snapshot.clone(), again)),
            shape(&m.snapshot)
        );
    }
}

/// Applies stream group entries as `applyStreamEntries` orders them: plain messages at
/// once, batch messages only when their commit arrives with no gap.
struct StreamReplay {
    clfs: u64,
    last: u64,
    msgs: u64,
    batch: Vec<StoredMsg>,
    batch_id: Vec<u8>,
    ops: BTreeMap<&'static str, u32>,
}

impl StreamReplay {
    fn store(&mut self, m: &StoredMsg, name: &str) {
        if m.is_flow_control() {
            return;
        }
        if m.is_skip() {
            *self.ops.entry("skip msg").or_default() += 1;
        }
        if m.sourced() {
            *self.ops.entry("sourced msg").or_default() += 1;
        }
        let seq = m.stored_seq(self.clfs).unwrap();
        if seq <= self.last {
            return; // already applied before the snapshot
        }
        assert_eq!(seq, self.last + 1, "{name}: sequences follow each other");
        self.last = seq;
        if !m.is_skip() {
            self.msgs += 1;
        }
    }

    fn apply(&mut self, op: StreamOp, name: &str) {
        let kind = match &op {
            StreamOp::Msg(m) if m.compressed => "compressed msg",
            StreamOp::Msg(_) => "msg",
            StreamOp::Batch(b) if b.commit => "batch commit",
            StreamOp::Batch(_) => "batch msg",
            StreamOp::Purge(_) => "purge",
            StreamOp::DeleteMsg(_) => "delete",
            StreamOp::DeleteRange { .. } => "delete range",
            StreamOp::Other(_) => "other",
        };
        *self.ops.entry(kind).or_default() += 1;
        match op {
            StreamOp::Msg(m) => self.store(&m, name),
            StreamOp::Batch(b) => {
                if b.seq == 1 || b.id != self.batch_id {
                    self.batch.clear();
                    self.batch_id = b.id.clone();
                }
                if b.seq != self.batch.len() as u64 + 1 {
                    self.batch.clear();
                    return;
                }
                self.batch.push(b.msg);
                if b.commit {
                    for m in std::mem::take(&mut self.batch) {
                        self.store(&m, name);
                    }
                }
            }
            // The range's sequences are used up (skipped); already covered ones stay.
            StreamOp::DeleteRange { first, num } if num > 0 => {
                self.last = self.last.max(first + num - 1);
            }
            StreamOp::Other(o) => panic!("{name}: op {o} in a stream group"),
            _ => {}
        }
    }
}

fn group_dir(v: &str, group: &str) -> Option<PathBuf> {
    let d = dir(v).join("_js_").join(group);
    d.is_dir().then_some(d)
}

fn replay_stream(gdir: &Path, name: &str) -> (StreamReplay, Option<stream_ops::StreamSnapshot>) {
    let snap = latest_snapshot(gdir);
    let state = snap
        .as_ref()
        .map(|s| stream_ops::decode_snapshot(&s.data).unwrap());
    let mut r = StreamReplay {
        clfs: state.as_ref().map_or(0, |s| s.failed),
        last: state.as_ref().map_or(0, |s| s.last_seq),
        msgs: 0,
        batch: Vec::new(),
        batch_id: Vec::new(),
        ops: BTreeMap::new(),
    };
    let mut state = state;
    for (idx, kind, e) in entries(gdir, snap.as_ref().map_or(0, |s| s.index)) {
        match kind {
            ENTRY_NORMAL => {
                let op = stream_ops::decode(&e)
                    .unwrap_or_else(|err| panic!("{name} index {idx}: {err}"));
                r.apply(op, name);
            }
            // A snapshot sent through the log (after a restore or scale up).
            ENTRY_SNAPSHOT => {
                let st = stream_ops::decode_snapshot(&e)
                    .unwrap_or_else(|err| panic!("{name} index {idx}: {err}"));
                *r.ops.entry("snapshot entry").or_default() += 1;
                r.clfs = st.failed;
                r.last = r.last.max(st.last_seq);
                state = Some(st);
            }
            _ => {}
        }
    }
    (r, state)
}

#[test]
fn stream_groups_of_every_release_replay_to_the_streams_last_sequence() {
    for v in VERSIONS {
        let exp = expected(v);
        let m = meta(v);
        let inv = meta::replay(m.snapshot.clone(), m.ops.clone());
        let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
        for s in &inv {
            // R1 streams have no Raft group; memory streams keep their log in memory.
            let Some(gdir) = group_dir(v, &s.group.name) else {
                assert!(
                    s.group.peers.len() == 1 || s.group.storage == meta::Storage::Memory,
                    "{v} {}",
                    s.name
                );
                continue;
            };
            let (r, snap) = replay_stream(&gdir, &s.name);
            let want = &exp["accounts"][&s.account][&s.name];
            // The last message op lands exactly on the stream's last sequence.
            assert_eq!(r.last, want["last_seq"].as_u64().unwrap(), "{v} {}", s.name);
            if let Some(st) = snap {
                assert!(st.last_seq <= r.last);
                // Version 2 only for a sourcing stream with js_snapshot_sources (2.15+).
                let version = if s.name == "SOURCED" && at_least(v, (2, 15)) {
                    2
                } else {
                    1
                };
                assert_eq!(
                    st.format,
                    stream_ops::StreamSnapshotFormat::Binary { version },
                    "{v} {}",
                    s.name
                );
            }
            for (k, n) in r.ops {
                *seen.entry(k).or_default() += n;
            }
        }
        eprintln!("{v}: stream group ops after the snapshots: {seen:?}");
        for k in ["msg", "compressed msg", "purge", "delete"] {
            assert!(
                seen.contains_key(k),
                "{v}: no {k} in any stream group: {seen:?}"
            );
        }
        if at_least(v, (2, 12)) {
            assert_eq!(seen.get("batch msg"), Some(&2), "{v}");
            assert_eq!(seen.get("batch commit"), Some(&1), "{v}");
        }
    }
}

#[test]
fn stream_ops_carry_what_the_api_asked_for() {
    for v in VERSIONS {
        let m = meta(v);
        let inv = meta::replay(m.snapshot, m.ops);
        let orders = find(&inv, "A", "ORDERS").unwrap();
        let gdir = group_dir(v, &orders.group.name).unwrap();
        let ops: Vec<StreamOp> = normal_entries(&gdir, 0)
            .into_iter()
            .map(|(_, e)| stream_ops::decode(&e).unwrap())
            .collect();
        let purge = ops
            .iter()
            .find_map(|o| match o {
                StreamOp::Purge(p) => Some(p),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{v}: no purge"));
        assert_eq!(purge.stream, "ORDERS");
        assert_eq!(purge.account.as_deref(), Some("A"));
        let req = purge.request.clone().unwrap();
        assert_eq!(req.filter.as_deref(), Some("orders.purge"));
        assert_eq!(purge.effective_request().unwrap().seq, purge.last_seq + 1);
        let del: Vec<_> = ops
            .iter()
            .filter_map(|o| match o {
                StreamOp::DeleteMsg(d) => Some(d),
                _ => None,
            })
            .collect();
        assert!(
            del.iter()
                .any(|d| d.seq == 10 && d.no_erase && d.account.as_deref() == Some("A")),
            "{v}: {del:?}"
        );
        let msgs: Vec<&StoredMsg> = ops
            .iter()
            .filter_map(|o| match o {
                StreamOp::Msg(m) => Some(m),
                _ => None,
            })
            .collect();
        // 2.10 has no flags trailer; 2.11+ always writes one.
        for m in &msgs {
            assert_eq!(m.flags.is_some(), at_least(v, (2, 11)), "{v}");
            assert!(!m.sourced());
            assert!(m.subject.starts_with(b"orders."));
            assert!(m.ts > 1_700_000_000_000_000_000);
        }
        let big = msgs.iter().find(|m| m.compressed).unwrap();
        assert_eq!(big.msg.len(), 12000, "{v}");
    }
}

fn rules(v: &str) -> Rules {
    if at_least(v, (2, 14)) {
        Rules::Current
    } else if at_least(v, (2, 11)) {
        Rules::V2_11
    } else {
        Rules::V2_10
    }
}

#[test]
fn consumer_groups_of_every_release_replay_to_the_consumers_state() {
    for v in VERSIONS {
        let exp = expected(v);
        let m = meta(v);
        let inv = meta::replay(m.snapshot.clone(), m.ops.clone());
        let mut kinds = BTreeSet::new();
        let mut checked = 0;
        for s in &inv {
            for c in &s.consumers {
                let Some(gdir) = group_dir(v, &c.group.name) else {
                    continue;
                };
                let snap = latest_snapshot(&gdir);
                let mut state = match &snap {
                    Some(sn) => consumer_ops::decode_snapshot(&sn.data)
                        .unwrap_or_else(|e| panic!("{v} {}: {e}", c.name)),
                    None => ConsumerState::default(),
                };
                let mut cfg = ApplyConfig::from_consumer_config(&c.config);
                cfg.rules = rules(v);
                let mut from_log_snapshot = false;
                for (idx, kind, e) in entries(&gdir, snap.as_ref().map_or(0, |s| s.index)) {
                    if kind == ENTRY_SNAPSHOT {
                        state = consumer_ops::decode_snapshot(&e)
                            .unwrap_or_else(|err| panic!("{v} {}: {err}", c.name));
                        from_log_snapshot = true;
                        continue;
                    }
                    if kind != ENTRY_NORMAL {
                        continue;
                    }
                    let op = consumer_ops::decode(&e)
                        .unwrap_or_else(|err| panic!("{v} {} index {idx}: {err}", c.name));
                    kinds.insert(match op {
                        ConsumerOp::Delivered { .. } => "delivered",
                        ConsumerOp::Acks { .. } => "acks",
                        ConsumerOp::Skip { .. } => "skip",
                        ConsumerOp::Reset { .. } => "reset",
                        ConsumerOp::AddPendingRequest { .. } => "add pending",
                        ConsumerOp::RemovePendingRequest { .. } => "remove pending",
                        ConsumerOp::Other(_) => "other",
                    });
                    if let ConsumerOp::Reset { .. } = op {
                        assert!(at_least(v, (2, 14)));
                    }
                    assert!(!matches!(op, ConsumerOp::Other(_)));
                    consumer_ops::apply_with(&mut state, &op, &cfg);
                }
                let want = &exp["accounts"][&s.account][&s.name]["consumers"][&c.name];
                let w = |k: &str| want[k].as_u64().unwrap();
                if c.name == "SC" && snap.is_none() && !from_log_snapshot {
                    // Restored: its state came with the snapshot's o.dat, not the log.
                    continue;
                }
                assert_eq!(
                    (
                        state.delivered_stream,
                        state.delivered_consumer,
                        state.ack_floor_stream,
                        state.ack_floor_consumer,
                        state.pending.len() as u64,
                        state.redelivered.len() as u64
                    ),
                    (
                        w("delivered_stream_seq"),
                        w("delivered_consumer_seq"),
                        w("ack_floor_stream_seq"),
                        w("ack_floor_consumer_seq"),
                        w("num_ack_pending"),
                        w("num_redelivered")
                    ),
                    "{v} {} > {}",
                    s.name,
                    c.name
                );
                checked += 1;
            }
        }
        assert!(
            checked >= if at_least(v, (2, 14)) { 5 } else { 4 },
            "{v}: {checked}"
        );
        for k in ["delivered", "acks", "add pending", "remove pending"] {
            assert!(
                kinds.contains(k),
                "{v}: no {k} op in any consumer group: {kinds:?}"
            );
        }
        assert_eq!(
            kinds.contains("reset"),
            at_least(v, (2, 14)),
            "{v}: {kinds:?}"
        );
    }
}

#[test]
fn group_snapshots_of_every_release_decode() {
    let mut sets = 0;
    let mut pending = 0;
    for v in VERSIONS {
        let m = meta(v);
        let inv = meta::replay(m.snapshot, m.ops);
        for s in &inv {
            if let Some(snap) = group_dir(v, &s.group.name).and_then(|d| latest_snapshot(&d)) {
                let st = stream_ops::decode_snapshot(&snap.data)
                    .unwrap_or_else(|e| panic!("{v} {}: {e}", s.name));
                assert!(st.first_seq <= st.last_seq.max(st.first_seq));
                let deleted: u64 = st.deleted.iter().map(|b| b.len()).sum();
                assert_eq!(deleted, st.num_deleted, "{v} {}", s.name);
                if st.msgs > 0 {
                    assert_eq!(
                        st.msgs + st.num_deleted,
                        st.last_seq + 1 - st.first_seq,
                        "{v} {}",
                        s.name
                    );
                }
                if s.name == "ORDERS" && st.num_deleted > 0 {
                    // Message 5 was deleted before the restart that wrote this snapshot.
                    assert!(st
                        .deleted
                        .iter()
                        .any(|b| b.contains(5) && matches!(b, stream_ops::DeleteBlock::Set(_))));
                    assert_eq!(st.deleted[0].iter().collect::<Vec<_>>(), vec![5]);
                    sets += 1;
                }
            }
            for c in &s.consumers {
                if let Some(snap) = group_dir(v, &c.group.name).and_then(|d| latest_snapshot(&d)) {
                    let st = consumer_ops::decode_snapshot(&snap.data)
                        .unwrap_or_else(|e| panic!("{v} {}: {e}", c.name));
                    assert!(st.ack_floor_stream <= st.delivered_stream, "{v} {}", c.name);
                    for (seq, p) in &st.pending {
                        assert!(*seq > st.ack_floor_stream && *seq <= st.delivered_stream);
                        assert!(p.dseq > st.ack_floor_consumer && p.dseq <= st.delivered_consumer);
                        assert!(p.ts > 1_700_000_000_000_000_000 && p.ts % 1_000_000_000 == 0);
                    }
                    pending += st.pending.len();
                }
            }
        }
    }
    assert!(sets >= 3, "stream snapshots with an AVL delete set: {sets}");
    assert!(pending > 0);
}

#[test]
fn mirror_gaps_and_sourcing_state() {
    for v in VERSIONS {
        let exp = expected(v);
        let m = meta(v);
        let inv = meta::replay(m.snapshot, m.ops);
        let mirror = find(&inv, "A", "MIRROR").unwrap();
        assert_eq!(mirror.config["mirror"]["name"], "ORIGIN");
        let (r, _) = replay_stream(&group_dir(v, &mirror.group.name).unwrap(), "MIRROR");
        assert_eq!(
            r.last,
            exp["accounts"]["A"]["MIRROR"]["last_seq"].as_u64().unwrap(),
            "{v}"
        );
        // Origin messages 3-5 were deleted: the mirror skips them, one skip message per
        // sequence, or one deleteRangeOp with js_raft_delete_range (2.14+).
        if at_least(v, (2, 14)) {
            assert_eq!(r.ops.get("delete range"), Some(&1), "{v}: {:?}", r.ops);
            assert_eq!(r.ops.get("skip msg"), None, "{v}");
        } else {
            assert_eq!(r.ops.get("skip msg"), Some(&3), "{v}: {:?}", r.ops);
        }
        // 2.11+ flags mirrored messages as sourced.
        assert_eq!(
            r.ops.contains_key("sourced msg"),
            at_least(v, (2, 11)),
            "{v}: {:?}",
            r.ops
        );

        let sourced = find(&inv, "A", "SOURCED").unwrap();
        let gdir = group_dir(v, &sourced.group.name).unwrap();
        let (r, snap) = replay_stream(&gdir, "SOURCED");
        assert_eq!(
            r.last,
            exp["accounts"]["A"]["SOURCED"]["last_seq"]
                .as_u64()
                .unwrap(),
            "{v}"
        );
        // The restart after phase 1 made group snapshots (not every group on every
        // release's survivor has one; 2.15.1's SOURCED does).
        match snap {
            Some(st) if at_least(v, (2, 15)) => {
                // js_snapshot_sources: version 2 with the origin's progress.
                assert_eq!(
                    st.format,
                    stream_ops::StreamSnapshotFormat::Binary { version: 2 },
                    "{v}"
                );
                assert_eq!(st.sources.len(), 1, "{v}");
                assert!(
                    st.sources[0].name.starts_with(b"ORIGIN"),
                    "{v}: {:?}",
                    st.sources
                );
                assert_eq!(st.sources[0].seq, 10, "{v}");
                eprintln!("{v}: SOURCED snapshot {st:?}");
            }
            None if at_least(v, (2, 15)) => panic!("{v}: SOURCED has no group snapshot"),
            Some(st) => assert!(
                st.sources.is_empty()
                    && st.format == stream_ops::StreamSnapshotFormat::Binary { version: 1 }
            ),
            None => {}
        }
    }
}
