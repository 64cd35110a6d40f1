//! Encryption at rest of message blocks: the stream cipher that covers a whole block file.
//! (The AEADs that seal keys and metadata, and the key derivation, are [`crate::store::crypto`].)
//!
//! Mirrors `genEncryptionKey`, `genBlockEncryptionKey`, `encryptOrDecryptIfNeeded` and
//! `flushPendingMsgsLocked` in server/filestore.go (unchanged from 2.10.0 to 2.15).
//!
//! ## Wire format
//!
//! - A block file `msgs/<n>.blk` of an encrypted store is its plaintext (records, possibly
//!   preceded by a compression header, see [`super`]) XORed from its first byte with one
//!   keystream: XChaCha20 (`chacha20.NewUnauthenticatedCipher` with a 24-byte nonce, block
//!   counter from 0) for `cipher: chacha`, AES-256-CTR (`cipher.NewCTR`, the 16-byte nonce
//!   as the initial big-endian 128-bit counter) for `cipher: aes`. Appends continue the same
//!   keystream, so the whole file decrypts in one pass from offset 0.
//! - The 32-byte key (`seed`) and the nonce of that keystream come from `<n>.key`, see
//!   [`super::keys`].

use aes_gcm::aes::Aes256;
use chacha20::cipher::{KeyIvInit, StreamCipher};

use crate::store::crypto::Cipher;

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

/// The keystream of one block: cipher, 32-byte seed and nonce from its `<n>.key`.
#[derive(Clone, PartialEq, Eq)]
pub struct BlockCipher {
    cipher: Cipher,
    seed: [u8; 32],
    nonce: [u8; 24],
}

impl std::fmt::Debug for BlockCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("BlockCipher")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

impl BlockCipher {
    /// A block keystream; `None` unless `nonce` has the cipher's nonce size.
    pub fn new(cipher: Cipher, seed: [u8; 32], nonce: &[u8]) -> Option<BlockCipher> {
        if nonce.len() != cipher.nonce_size() {
            return None;
        }
        let mut n = [0u8; 24];
        n[..nonce.len()].copy_from_slice(nonce);
        Some(BlockCipher {
            cipher,
            seed,
            nonce: n,
        })
    }

    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// XORs `buf` with the keystream from its start: decrypts (or encrypts) a whole block.
    pub fn apply_keystream(&self, buf: &mut [u8]) {
        match self.cipher {
            Cipher::Chacha => {
                let mut c = chacha20::XChaCha20::new((&self.seed).into(), (&self.nonce).into());
                // The 32-bit block counter covers 256 GiB; blocks are capped far below
                // (fsio::MAX_FILE_SIZE), so this cannot run out.
                let _ = c.try_apply_keystream(buf);
            }
            Cipher::Aes => {
                let iv: [u8; 16] = {
                    let mut iv = [0u8; 16];
                    iv.copy_from_slice(&self.nonce[..16]);
                    iv
                };
                let mut c = Aes256Ctr::new((&self.seed).into(), (&iv).into());
                let _ = c.try_apply_keystream(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystream_round_trips_and_depends_on_nonce() {
        for cipher in [Cipher::Chacha, Cipher::Aes] {
            let ns = cipher.nonce_size();
            let c = BlockCipher::new(cipher, [7; 32], &vec![1; ns]).unwrap();
            let mut buf = b"hello block".to_vec();
            c.apply_keystream(&mut buf);
            assert_ne!(buf, b"hello block");
            c.apply_keystream(&mut buf);
            assert_eq!(buf, b"hello block");
            let d = BlockCipher::new(cipher, [7; 32], &vec![2; ns]).unwrap();
            let (mut x, mut y) = (vec![0u8; 64], vec![0u8; 64]);
            c.apply_keystream(&mut x);
            d.apply_keystream(&mut y);
            assert_ne!(x, y);
            assert!(BlockCipher::new(cipher, [7; 32], &vec![1; ns + 1]).is_none());
        }
    }

    #[test]
    fn aes_ctr_counter_is_the_whole_nonce_big_endian() {
        // With an IV ending in 0xff.., the second keystream block must come from the carried
        // counter, as Go's cipher.NewCTR does.
        let mut iv = [0u8; 16];
        iv[8..].fill(0xff);
        let c = BlockCipher::new(Cipher::Aes, [5; 32], &iv).unwrap();
        let mut whole = vec![0u8; 32];
        c.apply_keystream(&mut whole);
        let mut iv2 = [0u8; 16];
        iv2[7] = 1;
        let c2 = BlockCipher::new(Cipher::Aes, [5; 32], &iv2).unwrap();
        let mut second = vec![0u8; 16];
        c2.apply_keystream(&mut second);
        assert_eq!(&whole[16..], &second[..]);
    }
}
