//! The real survivor of a 3-node nats-server 2.12.8 cluster (copied from js-recover's
//! `examples/survivor`): meta snapshot, stream and consumer group logs, against what the
//! cluster held (`expected.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::*;
use crate::store::jsops::consumer_ops::{self, ApplyConfig, ConsumerState};
use crate::store::jsops::meta::{self, StreamAssignment};
use crate::store::jsops::stream_ops::{self, StreamOp};
use serde_json::Value;

fn js() -> PathBuf {
    survivor_js()
}

fn expected() -> Value {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/survivor.expected.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn inventory() -> Vec<StreamAssignment> {
    let snap = latest_snapshot(&js().join("_meta_")).expect("meta snapshot");
    assert_eq!(snap.index, 15);
    meta::decode_snapshot(&snap.data).expect("meta snapshot decodes")
}

fn group_dirs() -> BTreeSet<String> {
    std::fs::read_dir(js())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "_meta_")
        .collect()
}

#[test]
fn meta_snapshot_lists_every_stream_and_consumer_with_peers() {
    let exp = expected();
    let streams = inventory();
    let dirs = group_dirs();

    let mut want: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (acc, a) in exp["accounts"].as_object().unwrap() {
        for (name, s) in a["streams"].as_object().unwrap() {
            let consumers = s["consumers"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            want.insert((acc.clone(), name.clone()), consumers);
        }
    }
    let got: BTreeMap<(String, String), BTreeSet<String>> = streams
        .iter()
        .map(|s| {
            (
                (s.account.clone(), s.name.clone()),
                s.consumers.iter().map(|c| c.name.clone()).collect(),
            )
        })
        .collect();
    assert_eq!(got, want);

    let mut seen_dirs = BTreeSet::new();
    for s in &streams {
        let replicas = s.config["num_replicas"].as_u64().unwrap();
        assert_eq!(s.group.peers.len() as u64, replicas, "{}", s.name);
        assert_eq!(s.group.storage, meta::Storage::File);
        assert_eq!(s.group.cluster.as_deref(), Some("C1"));
        assert!(s.created.is_some());
        assert_eq!(s.config["name"], Value::String(s.name.clone()));
        if replicas == 3 {
            assert!(s.group.name.starts_with("S-R3F-"), "{}", s.group.name);
            assert!(dirs.contains(&s.group.name), "no group dir for {}", s.name);
            seen_dirs.insert(s.group.name.clone());
        } else {
            // An R1 stream has no Raft node, hence no directory.
            assert_eq!(s.name, "LOCAL");
            assert!(s.group.name.starts_with("S-R1F-"));
            assert!(!dirs.contains(&s.group.name));
        }
        for c in &s.consumers {
            assert_eq!(c.account, s.account);
            assert_eq!(c.stream, s.name);
            assert_eq!(c.group.peers.len(), 3, "{} > {}", s.name, c.name);
            let mut a = c.group.peers.clone();
            let mut b = s.group.peers.clone();
            a.sort();
            b.sort();
            assert_eq!(a, b, "consumer peers are the stream's");
            assert!(
                dirs.contains(&c.group.name),
                "no group dir for {} > {}",
                s.name,
                c.name
            );
            seen_dirs.insert(c.group.name.clone());
        }
    }
    assert_eq!(
        seen_dirs, dirs,
        "every S-*/C-* directory belongs to an assignment"
    );

    // raw keeps the whole assignment except the consumer list.
    let raw = streams[0].raw.as_object().unwrap();
    assert!(
        raw.contains_key("sync") && raw.contains_key("client") && !raw.contains_key("Consumers")
    );
}

#[test]
fn meta_wal_after_the_snapshot_holds_no_ops() {
    // The 2.12.8 survivor compacted its meta log into snap.1.15: the WAL keeps only the
    // tombstone of index 15, so there is nothing after the snapshot to decode. Meta ops
    // are covered by the 2.10.26 and 2.15.1 fixtures.
    let meta_dir = js().join("_meta_");
    assert!(wal(&meta_dir).is_empty());
    let ops: Vec<_> = normal_entries(&meta_dir, 0)
        .into_iter()
        .map(|(_, e)| meta::decode_op(&e).unwrap())
        .collect();
    assert_eq!(meta::replay(inventory(), ops), inventory());
}

fn stream_of_group(streams: &[StreamAssignment], group: &str) -> (String, String) {
    streams
        .iter()
        .find(|s| s.group.name == group)
        .map(|s| (s.account.clone(), s.name.clone()))
        .unwrap()
}

#[test]
fn every_stream_group_entry_decodes_and_the_last_message_is_the_streams_last() {
    let exp = expected();
    let streams = inventory();
    let mut checked = 0;
    for dir in group_dirs().into_iter().filter(|d| d.starts_with("S-")) {
        let gdir = js().join(&dir);
        let (acc, name) = stream_of_group(&streams, &dir);
        let want = &exp["accounts"][&acc]["streams"][&name];

        let snap = latest_snapshot(&gdir);
        let (clfs, mut last, after) = match &snap {
            Some(s) => {
                let st = stream_ops::decode_snapshot(&s.data).unwrap();
                (st.failed, st.last_seq, s.index)
            }
            None => (0, 0, 0),
        };
        if let Some(s) = &snap {
            let st = stream_ops::decode_snapshot(&s.data).unwrap();
            assert_eq!(st.msgs, want["messages"].as_u64().unwrap(), "{name}");
            assert_eq!(st.first_seq, want["first_seq"].as_u64().unwrap(), "{name}");
            assert_eq!(st.bytes, want["bytes"].as_u64().unwrap(), "{name}");
        }
        let mut deletes = 0;
        let mut compressed = 0;
        for (idx, e) in normal_entries(&gdir, after) {
            match stream_ops::decode(&e).unwrap_or_else(|err| panic!("{dir} index {idx}: {err}")) {
                StreamOp::Msg(m) => {
                    assert_eq!(m.flags, Some(0), "2.11+ layout, not sourced");
                    compressed += m.compressed as u32;
                    let seq = m.stored_seq(clfs).unwrap();
                    // Each message follows the previous one: nothing failed here.
                    assert_eq!(seq, last + 1, "{name}");
                    last = seq;
                }
                StreamOp::DeleteMsg(d) => {
                    // The leader's own removals (interest policy) carry no client.
                    assert_eq!(d.stream, name);
                    assert_eq!(d.account, None);
                    assert!(d.no_erase);
                    deletes += 1;
                }
                other => panic!("{dir}: unexpected {other:?}"),
            }
        }
        // The log is exactly the stream: its last message op lands on the stream's last
        // sequence (neither behind nor ahead).
        assert_eq!(last, want["last_seq"].as_u64().unwrap(), "{name}");
        if snap.is_none() {
            let first = want["first_seq"].as_u64().unwrap();
            assert_eq!(deletes, first - 1, "{name}: deletes before first_seq");
        }
        if name == "EVENTS" || name == "LOGS" {
            assert!(compressed > 0, "{name} has compressed messages");
        }
        checked += 1;
    }
    assert_eq!(checked, 5);
}

#[test]
fn every_consumer_group_entry_decodes_and_replays_to_the_consumers_state() {
    let exp = expected();
    let streams = inventory();
    let mut checked = 0;
    for s in &streams {
        for c in &s.consumers {
            let gdir = js().join(&c.group.name);
            let (mut state, after) = match latest_snapshot(&gdir) {
                Some(snap) => (
                    consumer_ops::decode_snapshot(&snap.data).unwrap(),
                    snap.index,
                ),
                None => (ConsumerState::default(), 0),
            };
            let cfg = ApplyConfig::from_consumer_config(&c.config);
            for (idx, e) in normal_entries(&gdir, after) {
                let op = consumer_ops::decode(&e)
                    .unwrap_or_else(|err| panic!("{} index {idx}: {err}", c.group.name));
                assert!(!matches!(op, consumer_ops::ConsumerOp::Other(_)), "{op:?}");
                consumer_ops::apply_with(&mut state, &op, &cfg);
            }
            let want = &exp["accounts"][&s.account]["streams"][&s.name]["consumers"][&c.name];
            let got = (
                state.delivered_stream,
                state.delivered_consumer,
                state.ack_floor_stream,
                state.ack_floor_consumer,
                state.pending.len() as u64,
            );
            let w = |k: &str| want[k].as_u64().unwrap();
            assert_eq!(
                got,
                (
                    w("delivered_stream_seq"),
                    w("delivered_consumer_seq"),
                    w("ack_floor_stream_seq"),
                    w("ack_floor_consumer_seq"),
                    w("num_ack_pending")
                ),
                "{} > {}",
                s.name,
                c.name
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}
