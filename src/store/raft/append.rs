//! Raft append entries, the payload of every WAL record.
//!
//! Mirrors `appendEntry.encode` and `decodeAppendEntry`, the `EntryType` constants and
//! `storeToWAL` in server/raft.go.
//!
//! ## Wire format
//!
//! Little-endian:
//!
//! ```text
//! offset size
//!  0     8    leader: the leader's peer id (8 characters; 8 zero bytes when none)
//!  8     8    term
//! 16     8    commit: the leader's commit index when it sent the entry
//! 24     8    pterm: term of the previous entry
//! 32     8    pindex: index of the previous entry (the WAL stores the entry at pindex + 1)
//! 40     2    n: number of entries
//! 42     ...  n times: size(4) = 1 + len(data), type(1), data(size - 1)
//!        ...  lterm as a uvarint (2.11.5 and later; absent before)
//! ```
//!
//! Versions: 2.10.x and 2.11.0–2.11.4 end after the entries. 2.11.5 added the trailing
//! `lterm` uvarint ("the highest term for catchups, as the leader understands it"; 0 means
//! "use term"); decoders of every release ignore bytes after the entries, and from 2.11.5 read
//! a uvarint there if one parses. This decoder does the same: [`AppendEntry::lterm`] is
//! `None` for the older layout. Every release refuses an entry of size 0 or one running past
//! the end; 2.14 tightened the bounds check before reading a size (2.10–2.12 could index past
//! the end on 1–3 stray bytes; here that is an error).
//!
//! Entry types (`EntryType`, a byte): 0 Normal, 1 OldSnapshot, 2 PeerState, 3 AddPeer,
//! 4 RemovePeer, 5 LeaderTransfer, 6 Snapshot in every release; 7 Catchup since 2.12.3, an
//! in-process signal that the server never stores or sends. PeerState data is an encoded
//! peer state (as `peers.idx`); AddPeer, RemovePeer and LeaderTransfer data is a peer id.

use std::path::Path;

use super::{PeerState, RaftError};

/// `idLen`: peer ids are 8 bytes.
pub const ID_LEN: usize = 8;
/// `appendEntryBaseLen`: the fixed header.
pub const APPEND_ENTRY_BASE_LEN: usize = ID_LEN + 4 * 8 + 2;

/// `EntryType` in server/raft.go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryType {
    Normal,
    OldSnapshot,
    PeerState,
    AddPeer,
    RemovePeer,
    LeaderTransfer,
    Snapshot,
    /// Internal to the server (2.12.3+), never stored: seeing it on disk is unexpected.
    Catchup,
    Unknown(u8),
}

impl EntryType {
    pub fn from_byte(b: u8) -> EntryType {
        match b {
            0 => EntryType::Normal,
            1 => EntryType::OldSnapshot,
            2 => EntryType::PeerState,
            3 => EntryType::AddPeer,
            4 => EntryType::RemovePeer,
            5 => EntryType::LeaderTransfer,
            6 => EntryType::Snapshot,
            7 => EntryType::Catchup,
            b => EntryType::Unknown(b),
        }
    }

    pub fn as_byte(self) -> u8 {
        match self {
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
}

impl std::fmt::Display for EntryType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryType::Unknown(b) => write!(f, "Unknown [{b}]"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// One entry of an append entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryType,
    /// Undecoded: for Normal entries the application's bytes (a JetStream op byte first).
    pub data: Vec<u8>,
}

impl Entry {
    /// The peer state carried by a PeerState entry.
    pub fn peer_state(&self) -> Option<Result<PeerState, (usize, String)>> {
        (self.kind == EntryType::PeerState).then(|| PeerState::decode(&self.data))
    }

    /// The peer id of an AddPeer, RemovePeer or LeaderTransfer entry.
    pub fn peer(&self) -> Option<String> {
        matches!(
            self.kind,
            EntryType::AddPeer | EntryType::RemovePeer | EntryType::LeaderTransfer
        )
        .then(|| String::from_utf8_lossy(&self.data).into_owned())
    }
}

/// One append entry, as the leader sent it and the WAL stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendEntry {
    /// The leader's peer id, lossily as UTF-8; empty when the field is all zeros.
    pub leader: String,
    pub term: u64,
    pub commit: u64,
    pub pterm: u64,
    pub pindex: u64,
    pub entries: Vec<Entry>,
    /// The trailing uvarint of 2.11.5+; `None` when absent (older layout) or unparsable.
    pub lterm: Option<u64>,
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl AppendEntry {
    /// Decodes an append entry; an error gives the byte offset where it went wrong.
    pub fn decode(buf: &[u8]) -> Result<AppendEntry, (usize, String)> {
        if buf.len() < APPEND_ENTRY_BASE_LEN {
            return Err((
                0,
                format!(
                    "{} bytes, shorter than the {APPEND_ENTRY_BASE_LEN}-byte header",
                    buf.len()
                ),
            ));
        }
        let leader_bytes = &buf[..ID_LEN];
        let leader = if leader_bytes.iter().all(|&b| b == 0) {
            String::new()
        } else {
            String::from_utf8_lossy(leader_bytes).into_owned()
        };
        let ne = usize::from(u16::from_le_bytes([buf[40], buf[41]]));
        let mut entries = Vec::new();
        let mut ri = APPEND_ENTRY_BASE_LEN;
        for i in 0..ne {
            if buf.len() - ri < 4 {
                return Err((ri, format!("entry {i} of {ne}: no room for its size")));
            }
            let ml = u32::from_le_bytes([buf[ri], buf[ri + 1], buf[ri + 2], buf[ri + 3]]) as usize;
            if ml == 0 {
                return Err((ri, format!("entry {i} of {ne}: size 0")));
            }
            ri += 4;
            if ml > buf.len() - ri {
                return Err((
                    ri - 4,
                    format!(
                        "entry {i} of {ne}: size {ml} runs past the end ({} bytes left)",
                        buf.len() - ri
                    ),
                ));
            }
            entries.push(Entry {
                kind: EntryType::from_byte(buf[ri]),
                data: buf[ri + 1..ri + ml].to_vec(),
            });
            ri += ml;
        }
        let lterm = if ri < buf.len() {
            crate::store::filestore::uvarint(&buf[ri..]).map(|(v, _)| v)
        } else {
            None
        };
        Ok(AppendEntry {
            leader,
            term: le_u64(buf, 8),
            commit: le_u64(buf, 16),
            pterm: le_u64(buf, 24),
            pindex: le_u64(buf, 32),
            entries,
            lterm,
        })
    }

    /// Encodes as `appendEntry.encode` does (with the `lterm` trailer when it is `Some`).
    /// `None` when the leader is not 8 bytes or empty, or an entry or count is too large.
    pub fn encode(&self) -> Option<Vec<u8>> {
        if !self.leader.is_empty() && self.leader.len() != ID_LEN {
            return None;
        }
        let ne = u16::try_from(self.entries.len()).ok()?;
        let mut buf = vec![0u8; ID_LEN];
        buf[..self.leader.len()].copy_from_slice(self.leader.as_bytes());
        for v in [self.term, self.commit, self.pterm, self.pindex] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        buf.extend_from_slice(&ne.to_le_bytes());
        for e in &self.entries {
            if e.data.len() > i32::MAX as usize {
                return None;
            }
            buf.extend_from_slice(&(1 + e.data.len() as u32).to_le_bytes());
            buf.push(e.kind.as_byte());
            buf.extend_from_slice(&e.data);
        }
        if let Some(mut x) = self.lterm {
            while x >= 0x80 {
                buf.push(x as u8 | 0x80);
                x >>= 7;
            }
            buf.push(x as u8);
        }
        Some(buf)
    }
}

/// Decodes the append entry stored as WAL index `index` at `offset` of block `file`.
pub fn decode_append_entry(
    file: &Path,
    offset: usize,
    index: u64,
    buf: &[u8],
) -> Result<AppendEntry, RaftError> {
    AppendEntry::decode(buf).map_err(|(at, reason)| RaftError::AppendEntry {
        file: file.to_path_buf(),
        offset,
        index,
        at,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(lterm: Option<u64>) -> AppendEntry {
        AppendEntry {
            leader: "BXScrY9i".into(),
            term: 3,
            commit: 9,
            pterm: 2,
            pindex: 10,
            entries: vec![
                Entry {
                    kind: EntryType::Normal,
                    data: vec![1, 2, 3],
                },
                Entry {
                    kind: EntryType::AddPeer,
                    data: b"44jzkV9D".to_vec(),
                },
                Entry {
                    kind: EntryType::Unknown(9),
                    data: vec![],
                },
            ],
            lterm,
        }
    }

    #[test]
    fn both_layouts_round_trip() {
        for lterm in [None, Some(0), Some(3), Some(300)] {
            let ae = sample(lterm);
            let b = ae.encode().unwrap();
            assert_eq!(AppendEntry::decode(&b).unwrap(), ae);
        }
        let old = sample(None).encode().unwrap();
        assert_eq!(old.len(), APPEND_ENTRY_BASE_LEN + 3 * 5 + 3 + 8);
        assert_eq!(sample(None).entries[1].peer().as_deref(), Some("44jzkV9D"));
    }

    #[test]
    fn malformed_entries_are_errors_with_offsets() {
        let b = sample(None).encode().unwrap();
        assert_eq!(AppendEntry::decode(&b[..41]).unwrap_err().0, 0);
        // Cut inside the first entry's data.
        let e = AppendEntry::decode(&b[..44]).unwrap_err();
        assert_eq!(e.0, 42);
        // Cut inside the size word of the second entry.
        let e = AppendEntry::decode(&b[..42 + 8 + 2]).unwrap_err();
        assert_eq!(e.0, 50);
        // A zero size.
        let mut z = b.clone();
        z[42..46].copy_from_slice(&0u32.to_le_bytes());
        assert!(AppendEntry::decode(&z).unwrap_err().1.contains("size 0"));
        let err = decode_append_entry(Path::new("x/1.blk"), 30, 11, &z).unwrap_err();
        assert!(err.to_string().starts_with("x/1.blk: "), "{err}");
        // No leader.
        let mut nl = sample(None);
        nl.leader.clear();
        assert_eq!(
            AppendEntry::decode(&nl.encode().unwrap()).unwrap().leader,
            ""
        );
    }
}
