//! The payload decoders against real Raft logs: fixtures from clusters of every release
//! (tests/data/jsops, made by its make_fixture.py; each the meta leader's `_js_` after a
//! meta snapshot, a second phase of changes only in the logs, and SIGKILL) and js-recover's
//! example survivor, read with [`crate::store::raft`]; and a fuzz pass.

use std::path::{Path, PathBuf};

use crate::store::raft::{read_group, EntryType};

pub const ENTRY_NORMAL: u8 = 0;
pub const ENTRY_SNAPSHOT: u8 = 6;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/jsops")
}

/// The example survivor's `_js_`.
pub fn survivor_js() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/survivor/jetstream/$SYS/_js_")
}

#[derive(Debug, Clone)]
pub struct RaftSnapshot {
    pub index: u64,
    pub data: Vec<u8>,
}

/// The group's newest snapshot, if any.
pub fn latest_snapshot(group: &Path) -> Option<RaftSnapshot> {
    let g = read_group(group, None).ok()?;
    g.snapshot.map(|s| RaftSnapshot {
        index: s.index,
        data: s.data,
    })
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: u8,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct AppendEntry {
    /// The record's sequence: the log index.
    pub index: u64,
    pub entries: Vec<Entry>,
}

fn kind_byte(k: EntryType) -> u8 {
    match k {
        EntryType::Normal => 0,
        EntryType::OldSnapshot => 1,
        EntryType::PeerState => 2,
        EntryType::AddPeer => 3,
        EntryType::RemovePeer => 4,
        EntryType::LeaderTransfer => 5,
        EntryType::Snapshot => 6,
        EntryType::Catchup => 7,
        EntryType::Unknown(b) => b,
    }
}

/// Every live append entry in the group's WAL, in index order, as the Raft reader gives it.
pub fn wal(group: &Path) -> Vec<AppendEntry> {
    let g = read_group(group, None).expect("a group directory");
    let mut out = std::collections::BTreeMap::new();
    for e in g.wal.entries {
        out.insert(
            e.index,
            AppendEntry {
                index: e.index,
                entries: e
                    .append
                    .entries
                    .into_iter()
                    .map(|x| Entry {
                        kind: kind_byte(x.kind),
                        data: x.data,
                    })
                    .collect(),
            },
        );
    }
    out.into_values().collect()
}

/// Entries (index, kind, data) after `after` (a snapshot's index), in log order.
pub fn entries(group: &Path, after: u64) -> Vec<(u64, u8, Vec<u8>)> {
    wal(group)
        .into_iter()
        .filter(|ae| ae.index > after)
        .flat_map(|ae| {
            let idx = ae.index;
            ae.entries.into_iter().map(move |e| (idx, e.kind, e.data))
        })
        .collect()
}

/// Entries of kind normal after `after` (a snapshot's index), in log order.
pub fn normal_entries(group: &Path, after: u64) -> Vec<(u64, Vec<u8>)> {
    wal(group)
        .into_iter()
        .filter(|ae| ae.index > after)
        .flat_map(|ae| {
            let idx = ae.index;
            ae.entries
                .into_iter()
                .filter(|e| e.kind == ENTRY_NORMAL)
                .map(move |e| (idx, e.data))
        })
        .collect()
}

/// A tiny fixed-seed xorshift64* generator for the fuzz tests.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max as u64 + 1) as usize;
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
    /// A copy of `src` with a few random flips, truncations, insertions or deletions.
    pub fn mutate(&mut self, src: &[u8]) -> Vec<u8> {
        let mut v = src.to_vec();
        for _ in 0..=self.below(4) {
            match self.below(6) {
                0 if !v.is_empty() => {
                    let i = self.below(v.len() as u64) as usize;
                    v[i] ^= 1 << self.below(8);
                }
                1 if !v.is_empty() => {
                    let i = self.below(v.len() as u64) as usize;
                    v[i] = self.next_u64() as u8;
                }
                2 => {
                    let n = self.below(v.len() as u64 + 1) as usize;
                    v.truncate(n);
                }
                3 => {
                    let i = self.below(v.len() as u64 + 1) as usize;
                    let b = self.next_u64() as u8;
                    v.insert(i, b);
                }
                4 if !v.is_empty() => {
                    let i = self.below(v.len() as u64) as usize;
                    v.remove(i);
                }
                _ if !v.is_empty() => {
                    // Interesting values at a random spot (lengths, varint edges).
                    let i = self.below(v.len() as u64) as usize;
                    v[i] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x2a, 0x16, 0x21][self.below(8) as usize];
                }
                _ => {}
            }
        }
        v
    }
}

mod clusters;
mod fuzz;
mod survivor;
