//! The lost cluster as this survivor's Raft state records it: every stream and consumer
//! the meta group had assigned, with its Raft group and peers, and what each of this
//! node's own groups last knew of its stream or consumer.
//!
//! Read from `jetstream/<system account>/_js_/`: the meta group's latest snapshot, then its
//! log entries after that snapshot replayed in order (`applyMetaEntries` in
//! server/jetstream_cluster.go), so a stream created or deleted after the last snapshot is
//! accounted for. Of the stream and consumer groups (`S-*`, `C-*`) only the snapshot and the
//! small state files are read here, never their logs (which hold message data).
//!
//! A peer is the 8-character hash of a server name (`getHash` in server/events.go);
//! [`peer_id`] computes it, so an operator can name the servers behind the ids.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::crypto::Keys;
use super::filestore::ServerKeys;
use super::jsops::consumer_ops::{self, ConsumerState};
use super::jsops::meta::{self, MetaOp, StreamAssignment};
use super::jsops::stream_ops::{self, StreamSnapshot};
use super::raft::{self, EntryType, GroupKind};

/// The peer id of a server name: `getHash(name)`, 8 characters of base 62 from its
/// SHA-256 (server/events.go).
pub fn peer_id(server_name: &str) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    Sha256::digest(server_name.as_bytes())
        .iter()
        .take(8)
        .map(|b| DIGITS[usize::from(*b) % DIGITS.len()] as char)
        .collect()
}

/// Where the view of the cluster comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaSource {
    /// The meta snapshot used, as `(term, index)`.
    pub snapshot: Option<(u64, u64)>,
    /// Meta log entries applied after it.
    pub ops_applied: usize,
    /// The last index of the meta log (or of the snapshot when the log is empty).
    pub last_index: u64,
    /// The highest commit index this node had recorded, when it had one.
    pub commit: Option<u64>,
    /// Entries applied past that commit: this node had them, but may never have learned
    /// that they were committed.
    pub past_commit: usize,
}

/// What one of this node's own stream or consumer groups last knew.
#[derive(Debug, Clone, Default)]
pub struct GroupHead {
    /// Its snapshot's Raft index.
    pub snapshot_index: Option<u64>,
    /// A stream group's snapshot: the stream's state when it was taken.
    pub stream: Option<StreamSnapshot>,
    /// A consumer group's snapshot: the consumer's state when it was taken.
    pub consumer: Option<ConsumerState>,
    /// Its log holds entries past the snapshot (not read here).
    pub wal_bytes: u64,
}

/// The cluster, as far as this survivor's Raft state tells.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub source: MetaSource,
    pub streams: Vec<StreamAssignment>,
    /// This node's peer id, when the groups it holds single one out.
    pub self_peer: Option<String>,
    /// This node's stream and consumer groups, by group name.
    pub groups: BTreeMap<String, GroupHead>,
    /// Streams a meta entry past the known commit removed, as `(account, name)`: their
    /// removal may never have been committed.
    pub uncommitted_removals: BTreeSet<(String, String)>,
    /// What could not be read, each naming its file.
    pub problems: Vec<String>,
}

/// Why there is no view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", content = "detail", rename_all = "kebab-case")]
pub enum NoView {
    /// No `_js_/_meta_`: a standalone server's store, or the Raft state is gone.
    NoMetaGroup,
    /// The meta group has neither a readable snapshot nor log entries.
    Unreadable(String),
}

/// Reads the Raft state under `raft_dir` (`jetstream/<sys>/_js_`). `local_streams` are the
/// `(account, stream)` pairs whose stream directories this store holds: they single out
/// this node's peer id with the groups it is a member of.
pub fn read(
    raft_dir: &Path,
    keys: Option<&Keys>,
    local_streams: &BTreeSet<(String, String)>,
) -> Result<Cluster, NoView> {
    let meta_dir = raft_dir.join("_meta_");
    if !meta_dir.is_dir() {
        return Err(NoView::NoMetaGroup);
    }
    let server_keys = keys.map(ServerKeys::for_raft);
    let block_keys = server_keys
        .as_ref()
        .map(|k| k as &dyn crate::store::filestore::BlockKeys);
    let mut problems = Vec::new();
    let group = raft::read_group(&meta_dir, block_keys)
        .map_err(|e| NoView::Unreadable(crate::error::chain(&e)))?;
    problems.extend(group.problems.iter().map(|p| crate::error::chain(p)));
    let mut source = MetaSource::default();
    let mut streams = Vec::new();
    if let Some(s) = &group.snapshot {
        source.snapshot = Some((s.term, s.index));
        source.last_index = s.index;
        match meta::decode_snapshot(&s.data) {
            Ok(sa) => streams = sa,
            Err(e) => problems.push(format!(
                "`{}`: {}",
                s.file.display(),
                crate::error::chain(&e)
            )),
        }
    }
    let mut ops = Vec::new();
    let mut uncommitted_removals = BTreeSet::new();
    let mut commit = group
        .commit
        .as_ref()
        .filter(|c| c.verified)
        .map(|c| c.commit);
    for entry in group.entries_after_snapshot() {
        commit = commit.max(Some(entry.append.commit));
        source.last_index = source.last_index.max(entry.index);
        for e in &entry.append.entries {
            if e.kind != EntryType::Normal {
                continue;
            }
            match meta::decode_op(&e.data) {
                Ok(op) => {
                    if commit.is_some_and(|c| entry.index > c) {
                        source.past_commit += 1;
                        if let MetaOp::RemoveStream(sa) = &op {
                            uncommitted_removals.insert((sa.account.clone(), sa.name.clone()));
                        }
                    }
                    ops.push(op)
                }
                Err(err) => problems.push(format!(
                    "`{}` entry {}: {}",
                    meta_dir.display(),
                    entry.index,
                    crate::error::chain(&err)
                )),
            }
        }
    }
    if group.snapshot.is_none() && ops.is_empty() {
        return Err(NoView::Unreadable(if problems.is_empty() {
            "the meta group has no snapshot and no log entries".into()
        } else {
            problems.join("; ")
        }));
    }
    source.ops_applied = ops
        .iter()
        .filter(|o| !matches!(o, MetaOp::Other(_)))
        .count();
    source.commit = commit;
    let streams = meta::replay(streams, ops);
    let groups = read_heads(raft_dir, &mut problems);
    let self_peer = self_peer(&streams, &groups, local_streams);
    Ok(Cluster {
        source,
        streams,
        self_peer,
        groups,
        uncommitted_removals,
        problems,
    })
}

/// The snapshot of every `S-*`/`C-*` group here; their logs are not read.
fn read_heads(raft_dir: &Path, problems: &mut Vec<String>) -> BTreeMap<String, GroupHead> {
    let mut heads = BTreeMap::new();
    let Ok((entries, _)) = super::file::list_dir(raft_dir, 1 << 20) else {
        return heads;
    };
    for e in entries {
        let kind = GroupKind::of(&e.name);
        if e.kind != super::file::FileKind::Directory
            || !matches!(kind, GroupKind::Stream | GroupKind::Consumer)
        {
            continue;
        }
        let mut head = GroupHead {
            wal_bytes: super::tree::summarize(&e.path.join("msgs")).map_or(0, |t| t.bytes),
            ..GroupHead::default()
        };
        let mut read_problems = Vec::new();
        let snapshot = raft::read_latest_snapshot(&e.path, &mut read_problems);
        problems.extend(read_problems.iter().map(|p| crate::error::chain(p)));
        if let Some(s) = snapshot {
            head.snapshot_index = Some(s.index);
            let decoded = match kind {
                GroupKind::Stream => {
                    stream_ops::decode_snapshot(&s.data).map(|st| head.stream = Some(st))
                }
                _ => consumer_ops::decode_snapshot(&s.data).map(|st| head.consumer = Some(st)),
            };
            if let Err(err) = decoded {
                problems.push(format!(
                    "`{}`: {}",
                    s.file.display(),
                    crate::error::chain(&err)
                ));
            }
        }
        heads.insert(e.name, head);
    }
    heads
}

/// The one peer every group this node evidently belongs to has: the groups whose
/// directories are under `_js_` here, and the streams whose directories this store holds.
fn self_peer(
    streams: &[StreamAssignment],
    groups: &BTreeMap<String, GroupHead>,
    local_streams: &BTreeSet<(String, String)>,
) -> Option<String> {
    let mut candidates: Option<BTreeSet<String>> = None;
    let mut narrow = |peers: &[String]| {
        let set: BTreeSet<String> = peers.iter().cloned().collect();
        candidates = Some(match candidates.take() {
            None => set,
            Some(c) => c.intersection(&set).cloned().collect(),
        });
    };
    for sa in streams {
        let held = local_streams.contains(&(sa.account.clone(), sa.name.clone()));
        if held || groups.contains_key(&sa.group.name) {
            narrow(&sa.group.peers);
        }
        for ca in &sa.consumers {
            if groups.contains_key(&ca.group.name) {
                narrow(&ca.group.peers);
            }
        }
    }
    let candidates = candidates?;
    (candidates.len() == 1).then(|| candidates.into_iter().next().expect("one"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_ids_are_the_servers_name_hashes() {
        // Seen in a real cluster's meta snapshot: n1's peer id.
        assert_eq!(peer_id("n1").len(), 8);
        assert_ne!(peer_id("n1"), peer_id("n2"));
        assert!(peer_id("n1").chars().all(|c| c.is_ascii_alphanumeric()));
    }

    /// Logs of real clusters of every release, each with a meta snapshot and, after it,
    /// stream `B/NEWBIE` created and `B/DOOMED` deleted (tests/data/jsops).
    #[test]
    fn meta_ops_after_the_snapshot_are_replayed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jsops");
        for version in ["2.10.26", "2.11.11", "2.12.8", "2.14.6", "2.15.1"] {
            let dir = root.join(format!("cluster-{version}"));
            let expected: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
            let c = read(&dir.join("_js_"), None, &BTreeSet::new()).unwrap();
            let has = |a: &str, s: &str| c.streams.iter().any(|x| x.account == a && x.name == s);
            assert!(c.source.snapshot.is_some(), "{version}");
            assert!(c.source.ops_applied > 0, "{version}");
            assert!(has("B", "NEWBIE"), "{version}: created after the snapshot");
            assert!(!has("B", "DOOMED"), "{version}: deleted after the snapshot");
            // A removal this node never saw committed is flagged (one that was committed
            // may be too, when no later entry recorded the commit).
            if expected["deleted_after_snapshot"]["committed"] == false {
                assert!(
                    c.uncommitted_removals
                        .contains(&("B".into(), "DOOMED".into())),
                    "{version}"
                );
            }
            for (account, streams) in expected["accounts"].as_object().unwrap() {
                for stream in streams.as_object().unwrap().keys() {
                    if stream == "DOOMED" {
                        continue;
                    }
                    assert!(has(account, stream), "{version}: {account}/{stream}");
                }
            }
        }
    }

    #[test]
    fn the_example_survivor_lists_what_its_cluster_had() {
        let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/survivor/jetstream");
        let local: BTreeSet<(String, String)> = ["ORDERS", "EVENTS", "JOBS", "LOCAL"]
            .iter()
            .map(|s| ("A".to_string(), s.to_string()))
            .chain([
                ("B".into(), "LOGS".into()),
                ("B".into(), "KV_config".into()),
            ])
            .collect();
        let c = read(&js.join("$SYS/_js_"), None, &local).unwrap();
        assert_eq!(c.source.snapshot, Some((1, 15)));
        let mut names: Vec<String> = c
            .streams
            .iter()
            .map(|s| format!("{}/{}", s.account, s.name))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "A/EVENTS",
                "A/JOBS",
                "A/LOCAL",
                "A/ORDERS",
                "B/KV_config",
                "B/LOGS"
            ]
        );
        let me = c.self_peer.clone().expect("the survivor's own peer id");
        for s in &c.streams {
            assert!(s.group.peers.contains(&me), "{}", s.name);
        }
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert_eq!(c.groups.len(), 11);
    }
}
