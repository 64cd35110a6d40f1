//! The Raft state a clustered nats-server keeps on disk, read offline, one group directory
//! at a time: `<store_dir>/jetstream/<system account>/_js_/<group>/` for the meta group
//! `_meta_`, the stream groups `S-*` and the consumer groups `C-*`.
//!
//! Mirrors, in server/raft.go: `initRaftNode` (what is read at start and the snapshot hash
//! key), `setupLastSnapshot`/`loadLastSnapshot`, `readPeerState`, `readTermVote`,
//! `storeToWAL` (the WAL is a file store whose record sequence is the Raft index, holding
//! `ae.buf`, the encoded append entry); in server/jetstream_cluster.go `setupMetaGroup` and
//! `createRaftGroup` (the WAL store is named after the group, so the group name keys the
//! record checksums and the encryption contexts).
//!
//! ## Wire format
//!
//! A group directory holds:
//!
//! | file | format | module |
//! | --- | --- | --- |
//! | `meta.inf`, `meta.sum`, `meta.key` | the WAL store's config | [`meta`] |
//! | `msgs/<n>.blk`, `msgs/<n>.key` | WAL: message blocks, one record per append entry | [`crate::store::filestore`], [`append`] |
//! | `msgs/index.db` | the WAL store's state summary (not read: the blocks are authoritative) | — |
//! | `snapshots/snap.<term>.<index>` | latest snapshot | [`snapshot`] |
//! | `peers.idx` | peer state | [`state`] |
//! | `tav.idx` | term and vote | [`state`] |
//! | `commit.idx` | commit index (2.15+) | [`state`] |
//!
//! A WAL record has an empty subject, no headers, and the append entry as payload; its
//! sequence is the entry's Raft index (`pindex + 1`). When a snapshot is installed the WAL is
//! compacted to `index + 1`: whole blocks are removed, and from 2.11.2 a tombstone is written
//! for each removed record of a block that is kept (a WAL compacted past its last entry is
//! then a single tombstone). 2.10.x leaves those records in the block and only records the
//! new first index in `msgs/index.db`, and any release may crash between installing a
//! snapshot and compacting; so records at or below the snapshot index can remain. They are
//! listed in [`Wal::entries`] and are superseded by the snapshot
//! ([`Group::entries_after_snapshot`]).

pub mod append;
pub mod meta;
pub mod snapshot;
pub mod state;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use append::{decode_append_entry, AppendEntry, Entry, EntryType};
pub use meta::{GroupMeta, MetaSum};
pub use snapshot::{decode_snapshot, parse_snapshot_name, Snapshot};
pub use state::{
    decode_commit_index, decode_peer_state, decode_term_vote, CommitIndex, PeerState, TermVote,
};

use crate::store::file::{self as fsio, FileKind, ReadError};
pub use crate::store::filestore::{BlockError, BlockKeys, Compression, KeyError, ServerKeys};

/// Most entries looked at in a `snapshots/` directory.
pub const MAX_SNAPSHOT_FILES: usize = 10_000;

/// What could not be read in a group. Each names the file and, where it applies, the byte
/// offset.
#[derive(Debug, thiserror::Error)]
pub enum RaftError {
    #[error("{}: not a readable group directory: {source}", dir.display())]
    Dir { dir: PathBuf, source: ReadError },
    #[error("{}: cannot read: {source}", file.display())]
    Read { file: PathBuf, source: ReadError },
    #[error("{}: {len} bytes, shorter than the {min} bytes it must have", file.display())]
    TooShort {
        file: PathBuf,
        len: usize,
        min: usize,
    },
    #[error("{}: at offset {offset}: {reason}", file.display())]
    Malformed {
        file: PathBuf,
        offset: usize,
        reason: String,
    },
    #[error("{}: the checksum (last 8 bytes, offset {offset}) does not verify", file.display())]
    Checksum { file: PathBuf, offset: usize },
    #[error("{}: record at offset {offset} (WAL index {index}): bad append entry at its byte {at}: {reason}", file.display())]
    AppendEntry {
        file: PathBuf,
        offset: usize,
        index: u64,
        at: usize,
        reason: String,
    },
    #[error("{}: record at offset {offset}: WAL index {index} holds an entry with pindex {pindex} (the server stores pindex + 1)", file.display())]
    WalIndex {
        file: PathBuf,
        offset: usize,
        index: u64,
        pindex: u64,
    },
    #[error("{}: record at offset {offset}: WAL index {index} is not above index {previous} before it; ignored, as the server does", file.display())]
    WalOrder {
        file: PathBuf,
        offset: usize,
        index: u64,
        previous: u64,
    },
    #[error("{}: named for term {name_term} index {name_index} but holds term {term} index {index}", file.display())]
    SnapshotName {
        file: PathBuf,
        name_term: u64,
        name_index: u64,
        term: u64,
        index: u64,
    },
    #[error("{}: not a snapshot name (snap.<term>.<index>); the server would remove it", file.display())]
    SnapshotFileName { file: PathBuf },
    #[error("{}: snapshot of last index 0 (a 2.9.12 bug); the server ignores it", file.display())]
    SnapshotIndexZero { file: PathBuf },
    #[error("{}: is {kind}, not a regular file; skipped", file.display())]
    NotRegular { file: PathBuf, kind: FileKind },
    #[error("{}: {reason}", file.display())]
    Meta { file: PathBuf, reason: String },
    #[error("{}: meta.sum says {stored}, meta.inf hashes to {computed}", file.display())]
    MetaSum {
        file: PathBuf,
        stored: String,
        computed: String,
    },
    #[error("{}: sealed (meta.key present) and no keys were given", file.display())]
    MetaNoKeys { file: PathBuf },
    #[error("{}: {source}", file.display())]
    Key { file: PathBuf, source: KeyError },
    #[error(transparent)]
    Block(#[from] BlockError),
}

impl RaftError {
    /// The file (or directory) the problem is about.
    pub fn file(&self) -> &Path {
        match self {
            RaftError::Dir { dir, .. } => dir,
            RaftError::Read { file, .. }
            | RaftError::TooShort { file, .. }
            | RaftError::Malformed { file, .. }
            | RaftError::Checksum { file, .. }
            | RaftError::AppendEntry { file, .. }
            | RaftError::WalIndex { file, .. }
            | RaftError::WalOrder { file, .. }
            | RaftError::SnapshotName { file, .. }
            | RaftError::SnapshotFileName { file }
            | RaftError::SnapshotIndexZero { file }
            | RaftError::NotRegular { file, .. }
            | RaftError::Meta { file, .. }
            | RaftError::MetaSum { file, .. }
            | RaftError::MetaNoKeys { file }
            | RaftError::Key { file, .. } => file,
            RaftError::Block(b) => b.file(),
        }
    }
}

/// What a group replicates, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// `_meta_`: the JetStream meta group (assignments of streams and consumers).
    Meta,
    /// `S-...`: one stream.
    Stream,
    /// `C-...`: one consumer.
    Consumer,
    Other,
}

impl GroupKind {
    pub fn of(name: &str) -> GroupKind {
        if name == "_meta_" {
            GroupKind::Meta
        } else if name.starts_with("S-") {
            GroupKind::Stream
        } else if name.starts_with("C-") {
            GroupKind::Consumer
        } else {
            GroupKind::Other
        }
    }
}

/// One WAL entry: a live record of the WAL store, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalEntry {
    /// The Raft index (the record's sequence).
    pub index: u64,
    /// When the node stored it, Unix nanoseconds.
    pub timestamp: i64,
    /// Block index and offset (in the decoded block) of the record.
    pub block: u32,
    pub offset: usize,
    pub append: AppendEntry,
}

/// A block of the WAL, summarized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalBlock {
    pub path: PathBuf,
    pub index: u32,
    pub encrypted: bool,
    pub compression: Compression,
    pub records: usize,
    pub erased: usize,
    pub tombstones: usize,
}

/// The WAL read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wal {
    /// First and last Raft index the WAL store holds, as the server would recover them from
    /// its blocks: `first` is the lowest live index; with no live record, `last + 1`.
    /// Both 0 for a WAL with no record at all.
    pub first: u64,
    pub last: u64,
    /// Live entries in index order (erased, tombstoned and undecodable records left out).
    pub entries: Vec<WalEntry>,
    pub blocks: Vec<WalBlock>,
}

/// One group directory read back.
#[derive(Debug)]
pub struct Group {
    /// The group name: the directory name.
    pub name: String,
    pub dir: PathBuf,
    pub meta: Option<GroupMeta>,
    pub peers: Option<PeerState>,
    pub term_vote: Option<TermVote>,
    /// `commit.idx` (2.15+).
    pub commit: Option<CommitIndex>,
    /// The newest snapshot that reads (the newest verified one when the newest is damaged).
    pub snapshot: Option<Snapshot>,
    pub wal: Wal,
    /// What could not be read (a truncated block, a bad checksum): reported, not fatal.
    pub problems: Vec<RaftError>,
}

impl Group {
    pub fn kind(&self) -> GroupKind {
        GroupKind::of(&self.name)
    }

    /// The WAL entries the snapshot does not cover (all of them without a snapshot).
    pub fn entries_after_snapshot(&self) -> impl Iterator<Item = &WalEntry> {
        let after = self.snapshot.as_ref().map_or(0, |s| s.index);
        self.wal.entries.iter().filter(move |e| e.index > after)
    }
}

/// Reads the group directory `dir`. Only a `dir` that is not a readable directory is an
/// error; everything else that cannot be read is listed in [`Group::problems`]. `keys` opens
/// an encrypted group (`meta.key`, `msgs/<n>.key`); see [`ServerKeys::for_raft`].
pub fn read_group(dir: &Path, keys: Option<&dyn BlockKeys>) -> Result<Group, RaftError> {
    match fsio::kind_at(dir) {
        Some(FileKind::Directory) => {}
        None => {
            return Err(RaftError::Dir {
                dir: dir.to_path_buf(),
                source: ReadError::Io(std::io::ErrorKind::NotFound.into()),
            })
        }
        Some(kind) => {
            return Err(RaftError::Dir {
                dir: dir.to_path_buf(),
                source: ReadError::NotRegular(kind),
            })
        }
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut problems = Vec::new();

    let meta = read_meta(dir, &name, keys, &mut problems);
    if let Some(m) = &meta {
        if m.name != name {
            problems.push(RaftError::Meta {
                file: dir.join("meta.inf"),
                reason: format!("names the store {:?}, the directory is {name:?}", m.name),
            });
        }
    }
    let peers = read_small(dir, "peers.idx", &mut problems, decode_peer_state);
    let term_vote = read_small(dir, "tav.idx", &mut problems, decode_term_vote);
    let commit = read_small(dir, "commit.idx", &mut problems, |f, b| {
        decode_commit_index(f, b, &name)
    });
    if let Some(c) = &commit {
        if !c.verified {
            problems.push(RaftError::Checksum {
                file: dir.join("commit.idx"),
                offset: 8,
            });
        }
    }
    let snapshot = read_snapshots(dir, &name, &mut problems);
    let wal = read_wal(dir, &name, keys, &mut problems);
    Ok(Group {
        name,
        dir: dir.to_path_buf(),
        meta,
        peers,
        term_vote,
        commit,
        snapshot,
        wal,
        problems,
    })
}

/// Reads every group directory under a `_js_` directory, sorted by name. Entries that are
/// not directories (links included) are left out; only an unreadable `js_dir` is an error.
pub fn read_groups(js_dir: &Path, keys: Option<&dyn BlockKeys>) -> Result<Vec<Group>, RaftError> {
    let (entries, _) =
        fsio::list_dir(js_dir, MAX_SNAPSHOT_FILES * 100).map_err(|source| RaftError::Dir {
            dir: js_dir.to_path_buf(),
            source,
        })?;
    entries
        .into_iter()
        .filter(|e| e.kind == FileKind::Directory)
        .map(|e| read_group(&e.path, keys))
        .collect()
}

/// Reads `dir/file` when present and decodes it; a failure is a problem.
fn read_small<T>(
    dir: &Path,
    file: &str,
    problems: &mut Vec<RaftError>,
    decode: impl FnOnce(&Path, &[u8]) -> Result<T, RaftError>,
) -> Option<T> {
    let path = dir.join(file);
    match fsio::read_bytes_if_exists(&path) {
        Ok(None) => None,
        Ok(Some(b)) => match decode(&path, &b) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(e);
                None
            }
        },
        Err(source) => {
            problems.push(RaftError::Read { file: path, source });
            None
        }
    }
}

fn read_meta(
    dir: &Path,
    name: &str,
    keys: Option<&dyn BlockKeys>,
    problems: &mut Vec<RaftError>,
) -> Option<GroupMeta> {
    let inf = dir.join("meta.inf");
    let raw = match fsio::read_bytes_if_exists(&inf) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(source) => {
            problems.push(RaftError::Read { file: inf, source });
            return None;
        }
    };
    let computed: String = crate::store::filestore::checksum::highway64(name, &raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let sum_path = dir.join("meta.sum");
    let checksum = match fsio::read_bytes_if_exists(&sum_path) {
        Ok(None) => MetaSum::Missing,
        Ok(Some(s)) => {
            let stored = String::from_utf8_lossy(&s).trim().to_string();
            if stored == computed {
                MetaSum::Verified
            } else {
                problems.push(RaftError::MetaSum {
                    file: sum_path,
                    stored: stored.clone(),
                    computed: computed.clone(),
                });
                MetaSum::Mismatch { stored, computed }
            }
        }
        Err(source) => {
            problems.push(RaftError::Read {
                file: sum_path,
                source,
            });
            MetaSum::Missing
        }
    };
    let key_path = dir.join("meta.key");
    let (json, encrypted) = match fsio::read_bytes_if_exists(&key_path) {
        Ok(None) => (raw, false),
        Ok(Some(mk)) => match keys {
            None => {
                problems.push(RaftError::MetaNoKeys { file: inf });
                return None;
            }
            Some(k) => match k.open_meta(name, &mk, &raw) {
                Ok(plain) => (plain, true),
                Err(source) => {
                    problems.push(RaftError::Key {
                        file: key_path,
                        source,
                    });
                    return None;
                }
            },
        },
        Err(source) => {
            problems.push(RaftError::Read {
                file: key_path,
                source,
            });
            return None;
        }
    };
    match GroupMeta::parse(&json, encrypted, checksum) {
        Ok(m) => Some(m),
        Err(reason) => {
            problems.push(RaftError::Meta {
                file: inf,
                reason: format!("not a stream config: {reason}"),
            });
            None
        }
    }
}

/// Picks the newest snapshot by (term, index) as `setupLastSnapshot` does, falling back to
/// older files when the newest does not decode or verify.
/// The newest snapshot of group directory `dir` (snapshots are never encrypted), without
/// reading its log; what could not be read goes into `problems`.
pub fn read_latest_snapshot(dir: &Path, problems: &mut Vec<RaftError>) -> Option<Snapshot> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    read_snapshots(dir, &name, problems)
}

fn read_snapshots(dir: &Path, name: &str, problems: &mut Vec<RaftError>) -> Option<Snapshot> {
    let sdir = dir.join("snapshots");
    let entries = match fsio::list_dir(&sdir, MAX_SNAPSHOT_FILES) {
        Ok((e, _)) => e,
        Err(e) if e.is_not_found() => return None,
        Err(source) => {
            problems.push(RaftError::Read { file: sdir, source });
            return None;
        }
    };
    let mut named = Vec::new();
    for e in entries {
        match parse_snapshot_name(&e.name) {
            Some((t, i)) if e.kind == FileKind::Regular => named.push((t, i, e.path)),
            Some(_) => problems.push(RaftError::NotRegular {
                file: e.path,
                kind: e.kind,
            }),
            None => problems.push(RaftError::SnapshotFileName { file: e.path }),
        }
    }
    named.sort_by_key(|n| std::cmp::Reverse((n.0, n.1)));
    let mut unverified: Option<Snapshot> = None;
    for (term, index, path) in named {
        let buf = match fsio::read_bytes(&path) {
            Ok(b) => b,
            Err(source) => {
                problems.push(RaftError::Read { file: path, source });
                continue;
            }
        };
        let snap = match decode_snapshot(&path, &buf, name) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        if (snap.term, snap.index) != (term, index) {
            problems.push(RaftError::SnapshotName {
                file: path.clone(),
                name_term: term,
                name_index: index,
                term: snap.term,
                index: snap.index,
            });
        }
        if snap.index == 0 {
            problems.push(RaftError::SnapshotIndexZero { file: path });
            continue;
        }
        if !snap.verified {
            problems.push(RaftError::Checksum {
                file: path,
                offset: buf.len() - 8,
            });
            unverified.get_or_insert(snap);
            continue;
        }
        return Some(snap);
    }
    unverified
}

fn read_wal(
    dir: &Path,
    name: &str,
    keys: Option<&dyn BlockKeys>,
    problems: &mut Vec<RaftError>,
) -> Wal {
    let store = crate::store::filestore::read_store_blocks(dir, name, keys);
    problems.extend(store.problems.into_iter().map(RaftError::Block));
    let mut wal = Wal::default();
    // Indexes removed by a tombstone or a delete marker.
    let mut deleted = BTreeSet::new();
    let mut max_tomb = 0u64;
    let mut last = 0u64; // highest live or erased index seen
    let mut live = Vec::new();
    for b in store.blocks {
        problems.extend(b.problems.into_iter().map(RaftError::Block));
        let mut summary = WalBlock {
            path: b.path.clone(),
            index: b.index,
            encrypted: b.encrypted,
            compression: b.compression,
            records: b.records.len(),
            erased: 0,
            tombstones: 0,
        };
        for r in b.records {
            if r.tombstone {
                summary.tombstones += 1;
                deleted.insert(r.seq);
                max_tomb = max_tomb.max(r.seq);
                continue;
            }
            if r.seq == 0 {
                summary.erased += 1;
                continue;
            }
            if r.erased {
                // An erased message, or a delete marker for an earlier one.
                summary.erased += 1;
                deleted.insert(r.seq);
                last = last.max(r.seq);
                continue;
            }
            if r.seq <= last {
                problems.push(RaftError::WalOrder {
                    file: b.path.clone(),
                    offset: r.offset,
                    index: r.seq,
                    previous: last,
                });
                continue;
            }
            last = r.seq;
            live.push((b.index, b.path.clone(), r));
        }
        wal.blocks.push(summary);
    }
    for (block, path, r) in live {
        if deleted.contains(&r.seq) {
            continue;
        }
        match decode_append_entry(&path, r.offset, r.seq, &r.msg) {
            Ok(ae) => {
                if ae.pindex.checked_add(1) != Some(r.seq) {
                    problems.push(RaftError::WalIndex {
                        file: path.clone(),
                        offset: r.offset,
                        index: r.seq,
                        pindex: ae.pindex,
                    });
                }
                if wal.first == 0 {
                    wal.first = r.seq;
                }
                wal.entries.push(WalEntry {
                    index: r.seq,
                    timestamp: r.ts,
                    block,
                    offset: r.offset,
                    append: ae,
                });
            }
            Err(e) => {
                // Still a live record of the store: it counts for first/last.
                if wal.first == 0 {
                    wal.first = r.seq;
                }
                problems.push(e);
            }
        }
    }
    wal.last = last.max(max_tomb);
    if wal.first == 0 && wal.last > 0 {
        wal.first = wal.last + 1;
    }
    wal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::filestore::{encode_record, TBIT};

    fn ae(pindex: u64, data: &[u8]) -> Vec<u8> {
        AppendEntry {
            leader: "abcdefgh".into(),
            term: 1,
            commit: pindex,
            pterm: 1,
            pindex,
            entries: vec![Entry {
                kind: EntryType::Normal,
                data: data.to_vec(),
            }],
            lterm: Some(1),
        }
        .encode()
        .unwrap()
    }

    #[test]
    fn a_synthetic_group_reads_back() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("S-R3F-test");
        std::fs::create_dir_all(dir.join("msgs")).unwrap();
        std::fs::create_dir_all(dir.join("snapshots")).unwrap();
        let mut blk = Vec::new();
        for i in 1..=5u64 {
            blk.extend(encode_record(
                "S-R3F-test",
                1,
                i,
                i as i64,
                b"",
                b"",
                &ae(i - 1, &[i as u8]),
            ));
        }
        // Index 2 compacted away with a tombstone; garbage appended (torn write).
        blk.extend(encode_record("S-R3F-test", 1, 2 | TBIT, 9, b"", b"", b""));
        blk.extend([0x55; 7]);
        std::fs::write(dir.join("msgs/1.blk"), &blk).unwrap();
        let ps = PeerState {
            known_peers: vec!["aaaaaaaa".into(), "bbbbbbbb".into()],
            cluster_size: 2,
            domain_ext: 0,
        };
        std::fs::write(dir.join("peers.idx"), ps.encode()).unwrap();
        std::fs::write(
            dir.join("snapshots/snap.1.3"),
            snapshot::encode_snapshot("S-R3F-test", 1, 3, &ps.encode(), b"x"),
        )
        .unwrap();
        std::fs::write(dir.join("snapshots/snap.1.2"), b"old and broken").unwrap();
        std::fs::write(dir.join("snapshots/junk"), b"").unwrap();
        let mut tav = 4u64.to_le_bytes().to_vec();
        tav.extend(b"aaaaaaaa");
        std::fs::write(dir.join("tav.idx"), tav).unwrap();

        let g = read_group(&dir, None).unwrap();
        assert_eq!(g.kind(), GroupKind::Stream);
        assert_eq!((g.wal.first, g.wal.last), (1, 5));
        assert_eq!(
            g.wal.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
            [1, 3, 4, 5]
        );
        assert_eq!(
            g.entries_after_snapshot()
                .map(|e| e.index)
                .collect::<Vec<_>>(),
            [4, 5]
        );
        assert_eq!(g.peers.unwrap(), ps);
        assert_eq!(
            g.term_vote.unwrap(),
            TermVote {
                term: 4,
                vote: "aaaaaaaa".into()
            }
        );
        let s = g.snapshot.unwrap();
        assert_eq!((s.term, s.index, s.verified), (1, 3, true));
        // The torn tail and the junk name are reported; the older snapshot was not needed.
        assert_eq!(g.problems.len(), 2, "{:?}", g.problems);
        assert!(g
            .problems
            .iter()
            .any(|p| matches!(p, RaftError::SnapshotFileName { .. })));
        assert!(g
            .problems
            .iter()
            .any(|p| matches!(p, RaftError::Block(BlockError::Truncated { .. }))));
        assert_eq!(g.wal.blocks[0].tombstones, 1);
    }

    #[test]
    fn not_a_directory_is_the_only_error() {
        let root = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_group(&root.path().join("none"), None),
            Err(RaftError::Dir { .. })
        ));
        let f = root.path().join("f");
        std::fs::write(&f, b"").unwrap();
        let e = read_group(&f, None).unwrap_err();
        assert!(e.to_string().contains("not a readable group directory"));
        let g = read_group(root.path(), None).unwrap();
        assert_eq!(g.kind(), GroupKind::Other);
        assert!(g.problems.is_empty());
        assert_eq!(g.wal, Wal::default());
    }
}

#[cfg(test)]
pub(crate) mod fixture_tests;
