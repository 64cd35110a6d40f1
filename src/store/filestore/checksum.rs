//! HighwayHash-64 keyed by the SHA-256 of a name, as nats-server uses it everywhere on disk.
//!
//! Mirrors `highwayhash.NewDigest64(sha256.Sum256(name))` + `Sum` in server/filestore.go
//! (`initMsgBlock`, `newFileStoreWithCreated`) and server/raft.go (`initRaftNode`): the
//! 32-byte SHA-256 digest is the HighwayHash key (four little-endian 64-bit words) and the
//! 64-bit result is appended little-endian.
//!
//! ## Wire format
//!
//! | where | key name | hashed bytes |
//! | --- | --- | --- |
//! | record in `msgs/<n>.blk` | `"<store name>-<n>"` (`hashKeyForBlock`) | `seq(8) ts(8)`, subject, headers, payload |
//! | `meta.sum` (lowercase hex) | store name | the `meta.inf` bytes as stored |
//! | `snapshots/snap.<t>.<i>` trailer | Raft group name | everything before the trailer |
//! | `commit.idx` trailer (2.15) | Raft group name | the 8-byte commit index |

use highway::{HighwayHash, HighwayHasher, Key};
use sha2::{Digest, Sha256};

/// A HighwayHash-64 key derived from a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashKey([u64; 4]);

impl HashKey {
    /// The key `sha256(name)`.
    pub fn for_name(name: &[u8]) -> HashKey {
        let digest = Sha256::digest(name);
        let mut words = [0u64; 4];
        for (w, chunk) in words.iter_mut().zip(digest.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        HashKey(words)
    }

    /// The key of the records of block `index` of store `name` (`hashKeyForBlock`).
    pub fn for_block(name: &str, index: u32) -> HashKey {
        HashKey::for_name(format!("{name}-{index}").as_bytes())
    }

    /// The 8 checksum bytes of the concatenation of `parts`.
    pub fn sum(&self, parts: &[&[u8]]) -> [u8; 8] {
        let mut h = HighwayHasher::new(Key(self.0));
        for p in parts {
            h.append(p);
        }
        h.finalize64().to_le_bytes()
    }
}

/// `highway64(name, data)`: the checksum of `data` keyed by `sha256(name)`.
pub fn highway64(name: &str, data: &[u8]) -> [u8; 8] {
    HashKey::for_name(name.as_bytes()).sum(&[data])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_real_meta_sum() {
        // meta.inf / meta.sum of stream ORDERS written by nats-server 2.12 (see js-recover's
        // src/store/checksum.rs).
        const META: &str = r#"{"Created":"2026-11-21T11:04:24.963324741Z","name":"ORDERS","description":"orders \u003c\u0026\u003e test","subjects":["orders.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","num_replicas":3,"duplicate_window":120000000000,"placement":{"cluster":"C1"},"compression":"none","allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false,"consumer_limits":{},"allow_msg_ttl":false,"metadata":{"_nats.req.level":"0"}}"#;
        let sum = highway64("ORDERS", META.as_bytes());
        let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "a2d5027a6bd44eee");
        // Split input hashes the same as whole input.
        let (a, b) = META.as_bytes().split_at(17);
        assert_eq!(HashKey::for_name(b"ORDERS").sum(&[a, b]), sum);
    }
}
