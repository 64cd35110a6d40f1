//! Opening and re-sealing metadata that nats-server encrypted at rest
//! (`jetstream { key: "...", cipher: chacha|aes }`).
//!
//! The scheme mirrors `jsKeyGen` and `decryptMeta` (server/jetstream.go) and
//! `genEncryptionKey`/`genEncryptionKeys` (server/filestore.go):
//!
//! - a key-encryption key is HMAC-SHA256 keyed by the configured key string, over the account
//!   name followed by a context: the stream name, or `<stream>.<consumer>` for a consumer;
//! - `meta.key` is `nonce || seal(kek, nonce, seed)` where `seed` is the 32-byte asset key;
//! - `meta.inf` (and `o.dat`, and the body of `msgs/index.db`) is `nonce || seal(aek, nonce,
//!   plaintext)` with the asset key;
//! - the cipher is XChaCha20-Poly1305 (24-byte nonce) or AES-256-GCM with a 16-byte nonce.
//!
//! Re-sealing keeps the asset key, so `meta.key` never changes, and takes a fresh random
//! nonce: the same nonce must never seal two plaintexts.

use aes_gcm::aead::generic_array::typenum::U16;
use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{aes::Aes256, AesGcm};
use chacha20poly1305::XChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `aes.NewCipher` + `cipher.NewGCMWithNonceSize(block, block.BlockSize())`.
type Aes256Gcm16 = AesGcm<Aes256, U16>;

/// The store ciphers nats-server knows (`StoreCipher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cipher {
    /// XChaCha20-Poly1305, the server's default.
    Chacha,
    /// AES-256-GCM.
    Aes,
}

impl Cipher {
    pub fn nonce_size(self) -> usize {
        match self {
            Cipher::Chacha => 24,
            Cipher::Aes => 16,
        }
    }

    pub fn other(self) -> Cipher {
        match self {
            Cipher::Chacha => Cipher::Aes,
            Cipher::Aes => Cipher::Chacha,
        }
    }
}

impl std::fmt::Display for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Cipher::Chacha => "chacha",
            Cipher::Aes => "aes",
        })
    }
}

/// The keys an operator gave: the server's `key` and optionally its `prev_key`.
#[derive(Clone)]
pub struct Keys {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
    /// Tried first; the other cipher is tried next, as the server does.
    cipher: Cipher,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("Keys")
            .field("previous", &self.previous.is_some())
            .field("cipher", &self.cipher)
            .finish()
    }
}

impl Keys {
    pub fn new(current: Vec<u8>, previous: Option<Vec<u8>>, cipher: Option<Cipher>) -> Self {
        Keys {
            current,
            previous,
            cipher: cipher.unwrap_or(Cipher::Chacha),
        }
    }

    /// Opens a sealed 32-byte seed (`meta.key`, a block's `<n>.key`) made for `info` and
    /// `context`, trying the current key then the previous one, each with both ciphers,
    /// in the server's order (`convertCipher`, `JetStreamOldKey`). Returns the cipher that
    /// opened it, the seed, and whether it took the previous key.
    pub fn open_seed(
        &self,
        info: &str,
        context: &str,
        sealed: &[u8],
    ) -> Result<(Cipher, [u8; 32], bool), SeedError> {
        let min = Cipher::Aes.nonce_size() + 16;
        if sealed.len() < min {
            return Err(SeedError::TooShort {
                len: sealed.len(),
                min,
            });
        }
        let keys = std::iter::once(&self.current).chain(self.previous.as_ref());
        let mut bad_seed = None;
        for (i, key) in keys.enumerate() {
            let kek = prf(key, info, context);
            for cipher in [self.cipher, self.cipher.other()] {
                if let Some(seed) = open(cipher, &kek, sealed) {
                    match <[u8; 32]>::try_from(seed.as_slice()) {
                        Ok(seed) => return Ok((cipher, seed, i > 0)),
                        Err(_) => bad_seed = Some(seed.len()),
                    }
                }
            }
        }
        Err(bad_seed.map_or(SeedError::NoKeyOpens, SeedError::BadSeed))
    }

    /// Opens `sealed` (a `meta.inf`) with the asset key in `meta_key`. `context` is the
    /// stream name, or `<stream>.<consumer>`.
    pub fn open_meta(
        &self,
        account: &str,
        context: &str,
        meta_key: &[u8],
        sealed: &[u8],
    ) -> Result<(AssetKey, Vec<u8>), Unsealed> {
        let (cipher, seed, previous_key) = self
            .open_seed(account, context, meta_key)
            .map_err(|_| Unsealed::WrongKey)?;
        let asset = AssetKey {
            cipher,
            seed,
            previous_key,
        };
        match asset.open(sealed) {
            Some(plain) => Ok((asset, plain)),
            None => Err(Unsealed::Corrupt),
        }
    }
}

impl Keys {
    /// A new key for message block `context` (`<stream>:<n>`) of a stream of `account`
    /// (`genEncryptionKeysForBlock` in server/filestore.go): a random seed and nonce, and
    /// the `<n>.key` file, `nonce || AEAD(kek, nonce, seed)`. The block's keystream is the
    /// cipher keyed by the seed with that same nonce.
    pub fn new_block_key(
        &self,
        account: &str,
        context: &str,
        cipher: Cipher,
    ) -> ([u8; 32], Vec<u8>, Vec<u8>) {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let mut nonce = vec![0u8; cipher.nonce_size()];
        OsRng.fill_bytes(&mut nonce);
        let kek = prf(&self.current, account, context);
        let key_file = seal(cipher, &kek, &nonce, &seed).expect("a nonce of the cipher's size");
        (seed, nonce, key_file)
    }

    /// A new asset key for a stream or consumer the plan creates, and its `meta.key`
    /// (`genEncryptionKeys` in server/filestore.go): a random seed sealed with the current
    /// key's key-encryption key for `account` and `context`, in the configured cipher.
    pub fn new_asset(&self, account: &str, context: &str) -> (AssetKey, Vec<u8>) {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let kek = AssetKey {
            cipher: self.cipher,
            seed: prf(&self.current, account, context),
            previous_key: false,
        };
        let meta_key = kek.seal(&seed);
        (
            AssetKey {
                cipher: self.cipher,
                seed,
                previous_key: false,
            },
            meta_key,
        )
    }
}

/// Why a sealed seed did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    #[error("it is {len} bytes, shorter than the {min} bytes of any sealed key")]
    TooShort { len: usize, min: usize },
    #[error("no key given opens it with either cipher (a wrong key, or the file is damaged)")]
    NoKeyOpens,
    #[error("its sealed key is {0} bytes, not 32")]
    BadSeed(usize),
}

/// Why an encrypted `meta.inf` did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsealed {
    /// No key given opens its `meta.key` (or `meta.key` itself is damaged: the two cannot
    /// be told apart).
    WrongKey,
    /// A key opened `meta.key`, but `meta.inf` does not authenticate under the asset key:
    /// the file is damaged, not the key wrong.
    Corrupt,
}

/// HMAC-SHA256(key, info || context): the key-encryption key (`jsKeyGen(key, info)`
/// applied to `context`). `info` is the account for a stream or consumer store, the Raft
/// group name for a Raft WAL.
pub(crate) fn prf(key: &[u8], account: &str, context: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(account.as_bytes());
    mac.update(context.as_bytes());
    mac.finalize().into_bytes().into()
}

/// `nonce || AEAD(key, nonce, plain)`, with the nonce given.
pub(crate) fn seal(cipher: Cipher, key: &[u8; 32], nonce: &[u8], plain: &[u8]) -> Option<Vec<u8>> {
    if nonce.len() != cipher.nonce_size() {
        return None;
    }
    let body = match cipher {
        Cipher::Chacha => XChaCha20Poly1305::new(key.into())
            .encrypt(nonce.into(), plain)
            .ok()?,
        Cipher::Aes => Aes256Gcm16::new(key.into())
            .encrypt(nonce.into(), plain)
            .ok()?,
    };
    let mut out = nonce.to_vec();
    out.extend(body);
    Some(out)
}

/// Opens `nonce || ciphertext` with a 32-byte key.
pub(crate) fn open(cipher: Cipher, key: &[u8; 32], buf: &[u8]) -> Option<Vec<u8>> {
    let ns = cipher.nonce_size();
    if buf.len() < ns {
        return None;
    }
    let (nonce, body) = buf.split_at(ns);
    match cipher {
        Cipher::Chacha => XChaCha20Poly1305::new(key.into())
            .decrypt(nonce.into(), body)
            .ok(),
        Cipher::Aes => Aes256Gcm16::new(key.into())
            .decrypt(nonce.into(), body)
            .ok(),
    }
}

/// The asset key of one stream or consumer, recovered from its `meta.key`.
#[derive(Clone, PartialEq, Eq)]
pub struct AssetKey {
    pub cipher: Cipher,
    seed: [u8; 32],
    /// Opened with `prev_key`: the server re-keys this asset at load.
    pub previous_key: bool,
}

impl std::fmt::Debug for AssetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssetKey")
            .field("cipher", &self.cipher)
            .field("previous_key", &self.previous_key)
            .finish_non_exhaustive()
    }
}

impl AssetKey {
    /// Opens `nonce || ciphertext` sealed with this key.
    pub fn open(&self, buf: &[u8]) -> Option<Vec<u8>> {
        open(self.cipher, &self.seed, buf)
    }

    /// Seals `plain` under a fresh random nonce: `nonce || ciphertext`, as the server writes.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let nonce = match self.cipher {
            Cipher::Chacha => XChaCha20Poly1305::generate_nonce(&mut OsRng).to_vec(),
            Cipher::Aes => Aes256Gcm16::generate_nonce(&mut OsRng).to_vec(),
        };
        seal(self.cipher, &self.seed, &nonce, plain).expect("sealing in memory cannot fail")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What `genEncryptionKeys` writes to `meta.key` for `seed`.
    pub(crate) fn meta_key(
        cipher: Cipher,
        key: &[u8],
        account: &str,
        context: &str,
        seed: [u8; 32],
    ) -> Vec<u8> {
        let kek = AssetKey {
            cipher,
            seed: prf(key, account, context),
            previous_key: false,
        };
        kek.seal(&seed)
    }

    pub(crate) fn asset(cipher: Cipher, seed: [u8; 32]) -> AssetKey {
        AssetKey {
            cipher,
            seed,
            previous_key: false,
        }
    }

    #[test]
    fn opens_what_the_server_scheme_seals_with_either_cipher_and_key() {
        let seed = [9u8; 32];
        for cipher in [Cipher::Chacha, Cipher::Aes] {
            let mk = meta_key(cipher, b"s3cr3t", "A", "ORDERS", seed);
            let sealed = asset(cipher, seed).seal(b"{\"name\":\"ORDERS\"}");
            assert_eq!(sealed.len(), cipher.nonce_size() + 17 + 16);
            // Whatever cipher is tried first.
            for first in [Cipher::Chacha, Cipher::Aes] {
                let keys = Keys::new(b"s3cr3t".to_vec(), None, Some(first));
                let (a, plain) = keys.open_meta("A", "ORDERS", &mk, &sealed).unwrap();
                assert_eq!(plain, b"{\"name\":\"ORDERS\"}");
                assert_eq!((a.cipher, a.previous_key), (cipher, false));
            }
            // The previous key, when the current one is new.
            let keys = Keys::new(b"new".to_vec(), Some(b"s3cr3t".to_vec()), None);
            let (a, _) = keys.open_meta("A", "ORDERS", &mk, &sealed).unwrap();
            assert!(a.previous_key);
        }
    }

    #[test]
    fn wrong_key_account_or_context_does_not_open() {
        let seed = [1u8; 32];
        let mk = meta_key(Cipher::Chacha, b"k", "A", "S", seed);
        let sealed = asset(Cipher::Chacha, seed).seal(b"{}");
        let keys = Keys::new(b"k".to_vec(), None, None);
        assert!(keys.open_meta("A", "S", &mk, &sealed).is_ok());
        let wrong = Err(Unsealed::WrongKey);
        assert_eq!(keys.open_meta("B", "S", &mk, &sealed), wrong);
        assert_eq!(keys.open_meta("A", "S.C", &mk, &sealed), wrong);
        let other = Keys::new(b"K".to_vec(), None, None);
        assert_eq!(other.open_meta("A", "S", &mk, &sealed), wrong);
        assert_eq!(keys.open_meta("A", "S", &mk[..10], &sealed), wrong);
    }

    #[test]
    fn a_damaged_meta_inf_is_told_from_a_wrong_key() {
        let seed = [1u8; 32];
        let mk = meta_key(Cipher::Aes, b"k", "A", "S", seed);
        let mut sealed = asset(Cipher::Aes, seed).seal(b"{\"name\":\"S\"}");
        let keys = Keys::new(b"k".to_vec(), None, None);
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(
            keys.open_meta("A", "S", &mk, &sealed),
            Err(Unsealed::Corrupt)
        );
    }

    #[test]
    fn each_seal_takes_a_fresh_nonce() {
        let a = asset(Cipher::Aes, [3u8; 32]);
        let (x, y) = (a.seal(b"same"), a.seal(b"same"));
        assert_ne!(x, y);
        assert_eq!(a.open(&x).unwrap(), b"same");
        assert_eq!(a.open(&y).unwrap(), b"same");
    }
}
