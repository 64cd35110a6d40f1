//! The small state files of a Raft group: `peers.idx`, `tav.idx` and (2.15+) `commit.idx`.
//!
//! Mirrors `encodePeerState`/`decodePeerState`, `writePeerState`/`readPeerState`,
//! `writeTermVote`/`readTermVote` in server/raft.go. `commit.idx` is not in any source
//! release in the mirror (the newest, 2.14.5 and main at 2.15.0-dev, lack it); its layout was
//! worked out from the nats-server 2.15.1 binary (`openCommitFile`, `writeCommitIndexLocked`,
//! the messages "Commit file corrupt, too short" and "Commit file corrupt, checksums did not
//! match") and checked against the files that binary wrote (see the fixture tests).
//!
//! ## Wire format
//!
//! `peers.idx` (also the data of PeerState entries and the peer state inside snapshots),
//! little-endian, unchanged 2.10–2.15:
//!
//! ```text
//!  0  4       cluster size (expected peers)
//!  4  4       n: number of known peers
//!  8  8 * n   peer ids, 8 bytes each
//!  .  2       domain extension state: 0 undetermined, 1 extended, 2 not extended
//!             (read only when at least 2 bytes remain)
//! ```
//!
//! The layout never changed; the reader did: before 2.12.12/2.14.3 `decodePeerState` could
//! slice past the end when the last id was cut short (a panic in the server), later ones stop
//! at the last whole id. Both refuse a count the bytes do not cover, as this decoder does.
//!
//! `tav.idx`: `term(8, LE)` then the id voted for (8 bytes), or nothing when no vote. The
//! server reads the vote only when the file has at least 16 bytes (2.10.0 needed 16 bytes for
//! the term too; from 2.10.x on a file of 8–15 bytes gives the term and no vote).
//!
//! `commit.idx` (2.15+, seen only in the meta group): `commit(8, LE)` then an 8-byte
//! HighwayHash-64 of those 8 bytes keyed by sha256(group name), like a snapshot's trailer.

use std::path::Path;

use super::append::ID_LEN;
use super::RaftError;
use crate::store::filestore::checksum::HashKey;

/// A group's peer state (`peerState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerState {
    /// Peer ids, lossily as UTF-8 (they are 8 base-62 characters).
    pub known_peers: Vec<String>,
    /// Expected cluster size; stored as 32 bits.
    pub cluster_size: u32,
    /// `extensionState`: 0 undetermined, 1 extended, 2 not extended (0 when absent).
    pub domain_ext: u16,
}

impl PeerState {
    /// Decodes; an error gives the byte offset where it went wrong.
    pub fn decode(buf: &[u8]) -> Result<PeerState, (usize, String)> {
        if buf.len() < 8 {
            return Err((
                0,
                format!("{} bytes, shorter than the 8-byte header", buf.len()),
            ));
        }
        let cluster_size = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let expected = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        let rest = &buf[8..];
        if expected > rest.len() / ID_LEN {
            return Err((
                8,
                format!("says {expected} peers but only {} bytes follow", rest.len()),
            ));
        }
        let known_peers = rest[..expected * ID_LEN]
            .chunks_exact(ID_LEN)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        let tail = &rest[expected * ID_LEN..];
        let domain_ext = if tail.len() >= 2 {
            u16::from_le_bytes([tail[0], tail[1]])
        } else {
            0
        };
        Ok(PeerState {
            known_peers,
            cluster_size,
            domain_ext,
        })
    }

    /// Encodes as `encodePeerState` does (peer ids padded or cut to 8 bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(10 + ID_LEN * self.known_peers.len());
        buf.extend_from_slice(&self.cluster_size.to_le_bytes());
        buf.extend_from_slice(&(self.known_peers.len() as u32).to_le_bytes());
        for p in &self.known_peers {
            let mut id = [0u8; ID_LEN];
            let b = p.as_bytes();
            let n = b.len().min(ID_LEN);
            id[..n].copy_from_slice(&b[..n]);
            buf.extend_from_slice(&id);
        }
        buf.extend_from_slice(&self.domain_ext.to_le_bytes());
        buf
    }
}

/// Decodes `peers.idx` (or any encoded peer state) read from `file`.
pub fn decode_peer_state(file: &Path, buf: &[u8]) -> Result<PeerState, RaftError> {
    PeerState::decode(buf).map_err(|(offset, reason)| RaftError::Malformed {
        file: file.to_path_buf(),
        offset,
        reason,
    })
}

/// `tav.idx`: the highest term seen and the vote cast in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermVote {
    pub term: u64,
    /// The peer id voted for, empty for no vote.
    pub vote: String,
}

/// Decodes `tav.idx` read from `file`.
pub fn decode_term_vote(file: &Path, buf: &[u8]) -> Result<TermVote, RaftError> {
    if buf.len() < 8 {
        return Err(RaftError::TooShort {
            file: file.to_path_buf(),
            len: buf.len(),
            min: 8,
        });
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&buf[..8]);
    let vote = if buf.len() >= 8 + ID_LEN {
        String::from_utf8_lossy(&buf[8..]).into_owned()
    } else {
        String::new()
    };
    Ok(TermVote {
        term: u64::from_le_bytes(t),
        vote,
    })
}

/// `commit.idx` (2.15+): the commit index the node persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitIndex {
    pub commit: u64,
    /// The trailing HighwayHash matched.
    pub verified: bool,
}

/// Decodes `commit.idx` of group `group` read from `file`.
pub fn decode_commit_index(file: &Path, buf: &[u8], group: &str) -> Result<CommitIndex, RaftError> {
    if buf.len() < 16 {
        return Err(RaftError::TooShort {
            file: file.to_path_buf(),
            len: buf.len(),
            min: 16,
        });
    }
    let hoff = buf.len() - 8;
    let mut c = [0u8; 8];
    c.copy_from_slice(&buf[..8]);
    let verified = HashKey::for_name(group.as_bytes()).sum(&[&buf[..hoff]]) == buf[hoff..];
    Ok(CommitIndex {
        commit: u64::from_le_bytes(c),
        verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_state_round_trips_and_checks_counts() {
        let ps = PeerState {
            known_peers: vec!["fjFyEjc1".into(), "44jzkV9D".into(), "BXScrY9i".into()],
            cluster_size: 3,
            domain_ext: 0,
        };
        let b = ps.encode();
        assert_eq!(b.len(), 34);
        assert_eq!(PeerState::decode(&b).unwrap(), ps);
        // No domain extension word: still fine (pre-extension writers).
        assert_eq!(PeerState::decode(&b[..32]).unwrap(), ps);
        assert_eq!(PeerState::decode(&b[..31]).unwrap_err().0, 8);
        assert_eq!(PeerState::decode(&b[..7]).unwrap_err().0, 0);
        let mut huge = b.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(PeerState::decode(&huge).is_err());
    }

    #[test]
    fn term_vote_layouts() {
        let f = Path::new("g/tav.idx");
        let mut b = 7u64.to_le_bytes().to_vec();
        assert_eq!(
            decode_term_vote(f, &b).unwrap(),
            TermVote {
                term: 7,
                vote: String::new()
            }
        );
        b.extend_from_slice(b"44jzkV9D");
        assert_eq!(decode_term_vote(f, &b).unwrap().vote, "44jzkV9D");
        assert_eq!(decode_term_vote(f, &b[..12]).unwrap().vote, "");
        let e = decode_term_vote(f, &b[..5]).unwrap_err();
        assert!(e.to_string().starts_with("g/tav.idx: "), "{e}");
    }

    #[test]
    fn commit_index_checks_its_trailer() {
        let f = Path::new("g/commit.idx");
        let mut b = 9u64.to_le_bytes().to_vec();
        b.extend(HashKey::for_name(b"_meta_").sum(&[&b]));
        assert_eq!(
            decode_commit_index(f, &b, "_meta_").unwrap(),
            CommitIndex {
                commit: 9,
                verified: true
            }
        );
        assert!(!decode_commit_index(f, &b, "S-1").unwrap().verified);
        assert!(decode_commit_index(f, &b[..15], "_meta_").is_err());
    }
}
