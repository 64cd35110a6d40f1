//! Reading the Raft groups and stream stores that real nats-server releases wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{keys, Fixture, FIXTURES};
use crate::store::filestore::{
    live_records, read_store_blocks, BlockError, BlockKeys, Compression, ServerKeys,
};
use crate::store::raft::{
    read_group, read_groups, EntryType, Group, GroupKind, MetaSum, RaftError,
};

fn read(f: &Fixture, dir: &Path) -> Group {
    let keys = f.raft_keys();
    read_group(dir, keys.as_ref().map(|k| k as &dyn BlockKeys)).unwrap()
}

/// The JetStream entry ops (`entryOp` in server/jetstream_cluster.go) each kind of group
/// may carry as the first byte of a Normal entry.
fn allowed_ops(kind: GroupKind) -> BTreeSet<u8> {
    match kind {
        // assignStream, assignConsumer, removeStream, removeConsumer, assignCompressedConsumer, updateStream
        GroupKind::Meta => [0, 1, 2, 3, 9, 11].into(),
        // streamMsg, purgeStream, deleteMsg, compressedStreamMsg, deleteRange, batchMsg, batchCommitMsg, resetSeq
        GroupKind::Stream => [4, 5, 6, 14, 15, 16, 17, 18].into(),
        // updateDelivered, updateAcks, updateSkip, addPendingRequest, removePendingRequest
        GroupKind::Consumer => [7, 8, 10, 12, 13].into(),
        GroupKind::Other => BTreeSet::new(),
    }
}

#[test]
fn every_group_of_every_fixture_reads_cleanly_and_consistently() {
    for f in FIXTURES {
        let mut kinds = BTreeMap::new();
        for dir in f.groups() {
            let g = read(f, &dir);
            let ctx = format!("{} {}", f.dir, g.name);
            *kinds.entry(format!("{:?}", g.kind())).or_insert(0) += 1;
            assert!(g.problems.is_empty(), "{ctx}: {:#?}", g.problems);

            // meta.inf
            let meta = g.meta.as_ref().unwrap_or_else(|| panic!("{ctx}: no meta"));
            assert_eq!(meta.name, g.name, "{ctx}");
            assert_eq!(meta.checksum, MetaSum::Verified, "{ctx}");
            assert_eq!(meta.encrypted, f.key.is_some(), "{ctx}");
            assert_eq!(
                meta.config.get("storage").and_then(|v| v.as_str()),
                Some("file"),
                "{ctx}"
            );
            match g.kind() {
                GroupKind::Meta => assert!(meta.metadata.is_empty(), "{ctx}"),
                GroupKind::Stream => {
                    assert_eq!(meta.asset_type.as_deref(), Some("stream"), "{ctx}");
                    assert!(meta.stream.is_some() && meta.consumer.is_none(), "{ctx}");
                    assert!(meta.account.is_some(), "{ctx}");
                }
                GroupKind::Consumer => {
                    assert_eq!(meta.asset_type.as_deref(), Some("consumer"), "{ctx}");
                    assert!(meta.stream.is_some() && meta.consumer.is_some(), "{ctx}");
                }
                GroupKind::Other => panic!("{ctx}: unexpected group"),
            }

            // peers.idx and tav.idx
            let peers = g
                .peers
                .as_ref()
                .unwrap_or_else(|| panic!("{ctx}: no peers.idx"));
            assert_eq!(peers.cluster_size, 3, "{ctx}");
            assert_eq!(peers.known_peers.len(), 3, "{ctx}");
            assert!(peers.known_peers.iter().all(|p| p.len() == 8), "{ctx}");
            let tv = g
                .term_vote
                .as_ref()
                .unwrap_or_else(|| panic!("{ctx}: no tav.idx"));
            assert!(tv.term >= 1, "{ctx}");
            assert!(peers.known_peers.contains(&tv.vote), "{ctx}: vote {tv:?}");

            // snapshot
            if let Some(s) = &g.snapshot {
                assert!(s.verified, "{ctx}");
                let name = s.file.file_name().unwrap().to_string_lossy().into_owned();
                assert_eq!(name, format!("snap.{}.{}", s.term, s.index), "{ctx}");
                let sp = s.peers().unwrap();
                assert_eq!(sp.known_peers.len(), 3, "{ctx}");
                assert!(
                    g.wal.first <= s.index + 1 && s.index <= g.wal.last,
                    "{ctx}: {:?} vs {}..{}",
                    (s.term, s.index),
                    g.wal.first,
                    g.wal.last
                );
            }

            // WAL: indexes consistent with first..last, with the records' pindex, contiguous.
            let w = &g.wal;
            assert!(!w.blocks.is_empty(), "{ctx}");
            assert!(
                w.first >= 1 && w.first <= w.last + 1,
                "{ctx}: {}..{}",
                w.first,
                w.last
            );
            if let Some(e0) = w.entries.first() {
                assert_eq!(e0.index, w.first, "{ctx}");
                assert_eq!(w.entries.last().unwrap().index, w.last, "{ctx}");
            } else {
                assert_eq!(w.first, w.last + 1, "{ctx}");
            }
            for pair in w.entries.windows(2) {
                assert_eq!(pair[1].index, pair[0].index + 1, "{ctx}");
                assert!(pair[1].append.term >= pair[0].append.term, "{ctx}");
                assert!(pair[1].timestamp >= pair[0].timestamp, "{ctx}");
            }
            for e in &w.entries {
                assert_eq!(e.append.pindex + 1, e.index, "{ctx}");
                assert!(
                    peers.known_peers.contains(&e.append.leader),
                    "{ctx}: leader {:?}",
                    e.append.leader
                );
                assert!(e.append.term <= tv.term, "{ctx}");
                // The lterm trailer exists from 2.11.5 on.
                assert_eq!(e.append.lterm.is_some(), f.newer_than_2_11_5(), "{ctx}");
                assert!(!e.append.entries.is_empty(), "{ctx}");
                for en in &e.append.entries {
                    assert!(
                        matches!(
                            en.kind,
                            EntryType::Normal
                                | EntryType::PeerState
                                | EntryType::LeaderTransfer
                                | EntryType::AddPeer
                                | EntryType::RemovePeer
                                | EntryType::Snapshot
                        ),
                        "{ctx}: {:?}",
                        en.kind
                    );
                    if en.kind == EntryType::Normal {
                        let op = en.data[0];
                        assert!(allowed_ops(g.kind()).contains(&op), "{ctx}: op {op}");
                    }
                    if let Some(ps) = en.peer_state() {
                        assert_eq!(ps.unwrap().known_peers.len(), 3, "{ctx}");
                    }
                    if let Some(p) = en.peer() {
                        assert!(peers.known_peers.contains(&p), "{ctx}: {p}");
                    }
                }
            }
            for b in &w.blocks {
                assert_eq!(b.encrypted, f.key.is_some(), "{ctx}");
                assert_eq!(b.compression, Compression::None, "{ctx}");
            }
            // commit.idx only from 2.15, only the meta group here.
            match (&g.commit, f.version, g.kind()) {
                (Some(c), "2.15.1", GroupKind::Meta) => {
                    assert!(c.verified, "{ctx}");
                    assert!(c.commit <= w.last, "{ctx}");
                    assert!(
                        c.commit >= g.snapshot.as_ref().map_or(0, |s| s.index),
                        "{ctx}"
                    );
                }
                (None, _, _) => {}
                (Some(c), v, k) => panic!("{ctx}: commit.idx {c:?} on {v} {k:?}"),
            }
        }
        assert_eq!(kinds.get("Meta"), Some(&1), "{}", f.dir);
        assert!(kinds.get("Stream").copied().unwrap_or(0) >= 4, "{}", f.dir);
        assert!(
            kinds.get("Consumer").copied().unwrap_or(0) >= 1,
            "{}",
            f.dir
        );
    }
}

#[test]
fn survivor_groups_and_meta_snapshot() {
    let f = Fixture::get("2.12.8-survivor");
    let groups: Vec<Group> = read_groups(&f.js_dir(), None).unwrap();
    assert_eq!(groups.len(), 12);
    let count = |k| groups.iter().filter(|g| g.kind() == k).count();
    assert_eq!(
        (
            count(GroupKind::Meta),
            count(GroupKind::Stream),
            count(GroupKind::Consumer)
        ),
        (1, 5, 6)
    );
    let meta = groups.iter().find(|g| g.kind() == GroupKind::Meta).unwrap();
    let s = meta.snapshot.as_ref().unwrap();
    assert!(s.file.ends_with("_meta_/snapshots/snap.1.15"));
    assert_eq!((s.term, s.index, s.verified), (1, 15, true));
    assert_eq!(s.data.len(), 1635);
    assert_eq!(s.peer_state.len(), 34);
    let mut peers = s.peers().unwrap().known_peers;
    peers.sort();
    assert_eq!(peers, ["44jzkV9D", "BXScrY9i", "fjFyEjc1"]);
    // The meta WAL was compacted past the snapshot: one tombstone for index 15.
    assert_eq!((meta.wal.first, meta.wal.last), (16, 15));
    assert_eq!(meta.wal.blocks[0].tombstones, 1);
    // Streams: which assets, and the ops the WALs carry.
    let mut ops = BTreeSet::new();
    for g in groups.iter().filter(|g| g.kind() == GroupKind::Stream) {
        for e in g.entries_after_snapshot() {
            for en in e
                .append
                .entries
                .iter()
                .filter(|en| en.kind == EntryType::Normal)
            {
                ops.insert(en.data[0]);
            }
        }
    }
    assert_eq!(ops, [4, 6, 14].into());
    let mut ops = BTreeSet::new();
    for g in groups.iter().filter(|g| g.kind() == GroupKind::Consumer) {
        for e in &g.wal.entries {
            for en in e
                .append
                .entries
                .iter()
                .filter(|en| en.kind == EntryType::Normal)
            {
                ops.insert(en.data[0]);
            }
        }
    }
    assert_eq!(ops, [7, 8, 10, 12, 13].into());
    let assets: BTreeSet<_> = groups
        .iter()
        .filter_map(|g| g.meta.as_ref())
        .filter_map(|m| {
            Some(format!(
                "{}/{}/{}",
                m.account.clone()?,
                m.stream.clone()?,
                m.consumer.clone().unwrap_or_default()
            ))
        })
        .collect();
    assert!(
        assets.contains("A/ORDERS/PROC")
            && assets.contains("B/KV_config/")
            && assets.contains("B/LOGS/TAIL"),
        "{assets:?}"
    );
}

/// Prints, per group kind, the entry types and Normal first bytes over all fixtures
/// (`cargo test --test fixtures -- --nocapture entry_statistics`).
#[test]
fn entry_statistics() {
    let mut stats: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for f in FIXTURES {
        let mut mine: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for dir in f.groups() {
            let g = read(f, &dir);
            let one = mine.entry(format!("{:?}", g.kind())).or_default();
            for e in &g.wal.entries {
                for en in &e.append.entries {
                    let key = match en.kind {
                        EntryType::Normal => format!("op{}", en.data[0]),
                        k => k.to_string(),
                    };
                    *one.entry(key).or_default() += 1;
                }
            }
            let per = stats.entry(format!("{:?}", g.kind())).or_default();
            for e in &g.wal.entries {
                for en in &e.append.entries {
                    let key = match en.kind {
                        EntryType::Normal => format!("Normal op {}", en.data[0]),
                        k => k.to_string(),
                    };
                    *per.entry(key).or_default() += 1;
                }
            }
            if g.snapshot.is_some() {
                *per.entry("(snapshot files)".into()).or_default() += 1;
            }
        }
        println!("{}: {mine:?}", f.dir);
    }
    for (kind, per) in &stats {
        println!("{kind}: {per:?}");
    }
    assert!(stats["Meta"].contains_key("Normal op 0"));
    assert!(stats["Stream"].contains_key("Normal op 4"));
    assert!(stats["Consumer"].contains_key("Normal op 8"));
}

#[test]
fn encrypted_fixtures_need_the_key_and_open_with_it() {
    for dir in ["2.15.1-chacha", "2.12.8-aes"] {
        let f = Fixture::get(dir);
        let (key, cipher) = f.key.unwrap();
        let meta_dir = f.js_dir().join("_meta_");
        // No keys: reported, not fatal; the plain files still read.
        let g = read_group(&meta_dir, None).unwrap();
        assert!(g.meta.is_none() && g.wal.entries.is_empty());
        assert!(g.peers.is_some() && g.snapshot.is_some());
        assert!(
            g.problems
                .iter()
                .any(|p| matches!(p, RaftError::MetaNoKeys { .. })),
            "{:?}",
            g.problems
        );
        assert!(
            g.problems
                .iter()
                .any(|p| matches!(p, RaftError::Block(BlockError::NoKeys { .. }))),
            "{:?}",
            g.problems
        );
        // A wrong key.
        let wrong = ServerKeys::for_raft(&keys(b"nope", None, cipher));
        let g = read_group(&meta_dir, Some(&wrong)).unwrap();
        assert!(g.meta.is_none() && g.wal.entries.is_empty());
        assert!(g
            .problems
            .iter()
            .any(|p| matches!(p, RaftError::Key { .. })));
        assert!(
            g.problems
                .iter()
                .any(|p| p.to_string().contains(".key: no key given opens it")),
            "{:?}",
            g.problems
        );
        // The right key as prev_key, the other cipher configured: the server's fallbacks.
        let rotated = ServerKeys::for_raft(&keys(b"nope", Some(key.as_bytes()), cipher.other()));
        for g in f
            .groups()
            .iter()
            .map(|d| read_group(d, Some(&rotated)).unwrap())
        {
            assert!(g.problems.is_empty(), "{}: {:?}", g.name, g.problems);
            assert!(g.meta.as_ref().unwrap().encrypted);
            assert!(g.wal.blocks.iter().all(|b| b.encrypted));
            assert!(!g.wal.blocks.is_empty());
        }
    }
    // The chacha 2.15.1 WAL decrypts to the same kind of content as the plain 2.15.1 one.
    let f = Fixture::get("2.15.1-chacha");
    let total: usize = f
        .groups()
        .iter()
        .map(|d| read(f, d).wal.entries.len())
        .sum();
    assert!(total > 90, "{total}");
}

#[test]
fn stream_stores_read_back_plain_compressed_and_encrypted() {
    for f in FIXTURES.iter().filter(|f| f.dir != "2.12.8-survivor") {
        let keys = f.account_keys("A");
        let keys = keys.as_ref().map(|k| k as &dyn BlockKeys);
        // LOGS: s2, max_bytes 100000: 80 messages in three blocks, the first two compressed;
        // message 1 removed (no_erase) leaves a tombstone in the last block.
        let logs = read_store_blocks(&f.jetstream().join("A/streams/LOGS"), "LOGS", keys);
        assert!(logs.problems.is_empty(), "{}: {:?}", f.dir, logs.problems);
        assert_eq!(logs.blocks.len(), 3, "{}", f.dir);
        let mut live = Vec::new();
        for b in &logs.blocks {
            assert!(b.problems.is_empty(), "{}: {:?}", f.dir, b.problems);
            assert_eq!(b.encrypted, f.key.is_some());
            if b.index < 3 {
                let Compression::S2 { original_size } = b.compression else {
                    panic!("{}: block {} not compressed", f.dir, b.index)
                };
                // 2.11.x stored the compressed size as the original size.
                if f.version.starts_with("2.11.") {
                    assert_eq!(original_size as usize, b.file_len - 4 - 2, "{}", f.dir);
                } else {
                    assert_eq!(original_size as usize, b.decoded_len, "{}", f.dir);
                }
                assert!(
                    b.file_len * 10 < b.decoded_len,
                    "{}: compressed {} -> {}",
                    f.dir,
                    b.file_len,
                    b.decoded_len
                );
            }
            live.extend(b.records.iter().filter(|r| r.is_live()).map(|r| r.seq));
        }
        assert_eq!(live, (1..=80).collect::<Vec<u64>>(), "{}", f.dir);
        let tombs: Vec<u64> = logs
            .blocks
            .iter()
            .flat_map(|b| &b.records)
            .filter(|r| r.tombstone)
            .map(|r| r.seq)
            .collect();
        assert_eq!(tombs, [1], "{}", f.dir);
        // ORDERS: 25 messages, even ones with a Nats-Msg-Id header before the restart.
        let orders = read_store_blocks(&f.jetstream().join("A/streams/ORDERS"), "ORDERS", keys);
        assert!(orders.problems.is_empty());
        let recs: Vec<_> = orders.blocks.iter().flat_map(|b| &b.records).collect();
        // 20 messages, the removal markers of messages 2 and 3 (written by the restart's
        // recovery), then 5 more messages.
        let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
        assert_eq!(seqs[..20], (1..=20).collect::<Vec<u64>>()[..], "{}", f.dir);
        assert_eq!(seqs[20..], [2, 3, 21, 22, 23, 24, 25], "{}", f.dir);
        for r in &recs[20..22] {
            assert!(
                (r.erased || r.tombstone) && r.msg.is_empty() && r.subject.is_empty(),
                "{}: {r:?}",
                f.dir
            );
        }
        let live: Vec<u64> = live_records(&orders.blocks).iter().map(|r| r.seq).collect();
        assert_eq!(
            live,
            [1].into_iter().chain(4..=25).collect::<Vec<u64>>(),
            "{}",
            f.dir
        );
        let r4 = recs[3];
        assert_eq!(
            (r4.subject.as_str(), &r4.msg[..]),
            ("orders.new", &b"order 4"[..])
        );
        assert!(String::from_utf8_lossy(&r4.headers).contains("Nats-Msg-Id: o4"));
        // Message 2 deleted with erase: overwritten with random bytes and the ebit on a plain
        // store; the encrypted store keeps the record.
        let r2 = recs[1];
        if f.key.is_none() {
            assert!(
                r2.erased && r2.ts == 0 && r2.subject.is_empty(),
                "{}",
                f.dir
            );
        }
    }
    // The survivor's streams (2.12.8) read without problems too.
    let f = Fixture::get("2.12.8-survivor");
    for acct in ["A", "B"] {
        for s in std::fs::read_dir(f.jetstream().join(acct).join("streams")).unwrap() {
            let s = s.unwrap().path();
            let name = s.file_name().unwrap().to_string_lossy().into_owned();
            let st = read_store_blocks(&s, &name, None);
            assert!(st.problems.is_empty(), "{name}: {:?}", st.problems);
            assert!(!st.blocks.is_empty(), "{name}");
            for b in &st.blocks {
                assert!(b.problems.is_empty(), "{name}: {:?}", b.problems);
            }
        }
    }
}

#[test]
fn a_wrong_store_name_fails_every_checksum() {
    let f = Fixture::get("2.15.1");
    let s = read_store_blocks(&f.jetstream().join("A/streams/ORDERS"), "ORDERS2", None);
    let b = &s.blocks[0];
    assert!(b.records.is_empty());
    assert!(matches!(
        b.problems[0],
        BlockError::Checksum {
            offset: 0,
            seq: 1,
            ..
        }
    ));
    assert!(b.problems[0]
        .to_string()
        .contains("ORDERS/msgs/1.blk: record at offset 0 (seq 1) does not match its checksum"));
}

#[test]
fn fifos_and_links_in_a_group_are_refused_without_blocking() {
    let f = Fixture::get("2.12.8-survivor");
    let tmp = tempfile::tempdir().unwrap();
    let g = tmp.path().join("C-R3F-8eFevuz5");
    super::copy_tree(&f.js_dir().join("C-R3F-8eFevuz5"), &g);
    std::fs::remove_file(g.join("msgs/1.blk")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        g.join("msgs/1.blk"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    std::fs::remove_file(g.join("tav.idx")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", g.join("tav.idx")).unwrap();
    std::fs::remove_file(g.join("meta.inf")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        g.join("meta.inf"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    std::fs::create_dir_all(g.join("snapshots")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        g.join("snapshots/snap.1.2"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let t = Instant::now();
    let group = read_group(&g, None).unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    let text: Vec<String> = group.problems.iter().map(|p| p.to_string()).collect();
    assert!(text.iter().any(|p| p.ends_with("msgs/1.blk: is a FIFO (named pipe), not a regular file; skipped")), "{text:?}");
    assert!(
        text.iter()
            .any(|p| p.contains("tav.idx: cannot read: it is a symbolic link")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|p| p.contains("meta.inf: cannot read: it is a FIFO")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|p| p.contains("snap.1.2: is a FIFO")),
        "{text:?}"
    );
    assert!(group.term_vote.is_none() && group.meta.is_none() && group.wal.entries.is_empty());
    assert!(group.peers.is_some());
    // A linked group directory is refused as a whole.
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&g, &link).unwrap();
    assert!(read_group(&link, None).is_err());
}

/// Not this crate's to decode, but a check that `minlz` reads the S2 *block* format the
/// meta layer uses for its snapshot (`metaSnapshot` → `s2.Encode` of a JSON array), as it
/// reads the S2 *stream* format of compressed message blocks above.
#[test]
fn meta_snapshots_are_s2_blocks_of_json_for_the_layer_above() {
    let mut seen = 0;
    for f in FIXTURES {
        let g = read(f, &f.js_dir().join("_meta_"));
        let s = g.snapshot.unwrap();
        if s.data.is_empty() {
            continue; // 2.10.26 snapshotted an empty meta state
        }
        let json = minlz::s2::decode(&s.data).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert!(v.as_array().is_some_and(|a| !a.is_empty()), "{}", f.dir);
        seen += 1;
    }
    assert!(seen >= 6);
}
