//! Raft snapshot files, `snapshots/snap.<term>.<index>`.
//!
//! Mirrors `encodeSnapshot`, `loadLastSnapshot`, `setupLastSnapshot` and
//! `termAndIndexFromSnapFile` in server/raft.go; the layout is the same in every release
//! 2.10.0–2.15.1. Only the server's handling of bad files changed: 2.10–2.12 delete a snapshot
//! that is too short or fails its checksum when loading it, 2.14+ keep it and fail; a
//! snapshot of last index 0 (a 2.9.12 bug) is refused as corrupt up to 2.11 and skipped from
//! 2.12 on.
//!
//! ## Wire format
//!
//! Little-endian:
//!
//! ```text
//!  0   8    last term (the term of the entry at last index)
//!  8   8    last index (applied index the snapshot stands for)
//! 16   4    p: length of the peer state
//! 20   p    peer state (encoded as `peers.idx`, see `super::state`)
//! 20+p ...  the application's snapshot (the JetStream layer's, undecoded here)
//! end-8 8   HighwayHash-64 keyed by sha256(group name) over everything before it
//! ```
//!
//! The file name repeats term and index in decimal (`snap.%d.%d`); the server takes the
//! newest by term, then index, and removes names it cannot parse. A valid file is at least
//! 28 bytes (`minSnapshotLen`).

use std::path::{Path, PathBuf};

use super::{PeerState, RaftError};
use crate::store::filestore::checksum::HashKey;

/// `minSnapshotLen`.
pub const MIN_SNAPSHOT_LEN: usize = 28;

/// One snapshot file read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub file: PathBuf,
    pub term: u64,
    pub index: u64,
    /// The encoded peer state (see [`Snapshot::peers`]).
    pub peer_state: Vec<u8>,
    /// The application's snapshot bytes, undecoded.
    pub data: Vec<u8>,
    /// The trailing HighwayHash matched (the server refuses the snapshot otherwise).
    pub verified: bool,
}

impl Snapshot {
    /// The decoded peer state.
    pub fn peers(&self) -> Result<PeerState, RaftError> {
        PeerState::decode(&self.peer_state).map_err(|(at, reason)| RaftError::Malformed {
            file: self.file.clone(),
            offset: 20 + at,
            reason: format!("peer state: {reason}"),
        })
    }
}

/// `(term, index)` from a file name `snap.<term>.<index>` in canonical decimal, as
/// `termAndIndexFromSnapFile` accepts it.
pub fn parse_snapshot_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("snap.")?;
    let (t, i) = rest.split_once('.')?;
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u64 = s.parse().ok()?;
        // Sscanf then Sprintf must give the same name: no leading zeros.
        (v.to_string() == s).then_some(v)
    };
    Some((num(t)?, num(i)?))
}

/// Decodes a snapshot of group `group` read from `file`. A checksum mismatch is not an
/// error (the bytes may still help a recovery): it gives `verified: false`.
pub fn decode_snapshot(file: &Path, buf: &[u8], group: &str) -> Result<Snapshot, RaftError> {
    if buf.len() < MIN_SNAPSHOT_LEN {
        return Err(RaftError::TooShort {
            file: file.to_path_buf(),
            len: buf.len(),
            min: MIN_SNAPSHOT_LEN,
        });
    }
    let hoff = buf.len() - 8;
    let verified = HashKey::for_name(group.as_bytes()).sum(&[&buf[..hoff]]) == buf[hoff..];
    let u64_at = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&buf[at..at + 8]);
        u64::from_le_bytes(a)
    };
    let lps = u32::from_le_bytes([buf[16], buf[17], buf[18], buf[19]]) as usize;
    if lps > hoff - 20 {
        return Err(RaftError::Malformed {
            file: file.to_path_buf(),
            offset: 16,
            reason: format!(
                "peer state length {lps} runs past the checksum at offset {hoff}{}",
                if verified {
                    ""
                } else {
                    " (and the checksum does not verify)"
                }
            ),
        });
    }
    Ok(Snapshot {
        file: file.to_path_buf(),
        term: u64_at(0),
        index: u64_at(8),
        peer_state: buf[20..20 + lps].to_vec(),
        data: buf[20 + lps..hoff].to_vec(),
        verified,
    })
}

/// Encodes as `encodeSnapshot` does: for tests and synthetic stores.
pub fn encode_snapshot(
    group: &str,
    term: u64,
    index: u64,
    peer_state: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(MIN_SNAPSHOT_LEN + peer_state.len() + data.len());
    buf.extend_from_slice(&term.to_le_bytes());
    buf.extend_from_slice(&index.to_le_bytes());
    buf.extend_from_slice(&(peer_state.len() as u32).to_le_bytes());
    buf.extend_from_slice(peer_state);
    buf.extend_from_slice(data);
    let sum = HashKey::for_name(group.as_bytes()).sum(&[&buf]);
    buf.extend_from_slice(&sum);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_like_the_server() {
        assert_eq!(parse_snapshot_name("snap.1.15"), Some((1, 15)));
        assert_eq!(parse_snapshot_name("snap.0.0"), Some((0, 0)));
        for bad in [
            "snap.01.15",
            "snap.1",
            "snap.1.15.tmp",
            "snap.-1.2",
            "snap..2",
            "snap.1.+2",
            "xsnap.1.2",
        ] {
            assert_eq!(parse_snapshot_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trip_and_damage() {
        let ps = PeerState {
            known_peers: vec!["aaaaaaaa".into()],
            cluster_size: 1,
            domain_ext: 0,
        }
        .encode();
        let b = encode_snapshot("G", 2, 40, &ps, b"app data");
        let s = decode_snapshot(Path::new("snap.2.40"), &b, "G").unwrap();
        assert!(s.verified);
        assert_eq!((s.term, s.index, &s.data[..]), (2, 40, &b"app data"[..]));
        assert_eq!(s.peers().unwrap().known_peers, ["aaaaaaaa"]);
        assert!(
            !decode_snapshot(Path::new("snap.2.40"), &b, "H")
                .unwrap()
                .verified
        );
        let mut bad = b.clone();
        bad[16] = 0xff;
        let e = decode_snapshot(Path::new("d/snap.2.40"), &bad, "G").unwrap_err();
        assert!(e.to_string().starts_with("d/snap.2.40: "), "{e}");
        assert!(decode_snapshot(Path::new("snap.2.40"), &b[..27], "G").is_err());
    }
}
