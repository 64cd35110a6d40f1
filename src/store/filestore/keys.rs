//! Opening the per-block keys (`msgs/<n>.key`) and the sealed `meta.inf` of an encrypted
//! store: the [`BlockKeys`] hook and [`ServerKeys`], its implementation from the operator's
//! `jetstream { key, prev_key, cipher }`.
//!
//! Mirrors `jsKeyGen` (server/jetstream.go), `genEncryptionKeys`, `recoverAEK`,
//! `loadEncryptionForMsgBlock`, `genEncryptionKeysForBlock` and `convertCipher`
//! (server/filestore.go). Unchanged from 2.10.0 to 2.15.
//!
//! ## Wire format
//!
//! - The key-encryption key of a context is `HMAC-SHA256(key, info || context)`
//!   (`jsKeyGen(key, info)` applied to `context`). `info` is the account name for a stream
//!   store, and the Raft group name itself for a Raft WAL (`s.jsKeyGen(key, rg.Name)` in
//!   `createRaftGroup`/`setupMetaGroup`).
//! - `meta.key` (store directory): `nonce || AEAD(kek(context = store name), seed)`, the
//!   32-byte asset key `seed` sealed; `meta.inf` is then `nonce || AEAD(seed, json)`.
//! - `msgs/<n>.key`: `nonce || AEAD(kek(context = "<store name>:<n>"), seed)` — 72 bytes for
//!   ChaCha (24 + 32 + 16), 64 for AES (16 + 32 + 16; `minBlkKeySize`). The block keystream
//!   is keyed by that `seed` with that same `nonce` (`genBlockEncryptionKey`).
//! - When the configured cipher does not open a key the server tries the other one
//!   (`convertCipher`); a `prev_key` is tried after `key` (`JetStreamOldKey`).

use super::cipher::BlockCipher;
use crate::store::crypto::{Keys, SeedError};

/// `minBlkKeySize`: the shortest `<n>.key` the server accepts.
pub const MIN_BLOCK_KEY_SIZE: usize = 64;

/// Why a key or sealed file did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("it is {len} bytes, shorter than the {min} bytes of any block key")]
    TooShort { len: usize, min: usize },
    #[error("meta.key opens but meta.inf does not authenticate under its asset key (damaged)")]
    MetaCorrupt,
}

/// How a reader gets at encrypted blocks. The caller implements it (or uses
/// [`ServerKeys`]); the readers only hand it bytes and names.
pub trait BlockKeys {
    /// The keystream of block `index` of the store named `store` (a Raft group name such as
    /// `_meta_` or `S-R3F-abc`, or a stream name), given the bytes of its `<index>.key`.
    fn block_cipher(
        &self,
        store: &str,
        index: u32,
        key_file: &[u8],
    ) -> Result<BlockCipher, KeyError>;

    /// The plaintext of the store's sealed `meta.inf`, given the bytes of its `meta.key`.
    fn open_meta(&self, store: &str, meta_key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// Whose name goes before the context in the key derivation (`jsKeyGen`'s `info`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Info {
    /// The store name itself: Raft WALs (`jsKeyGen(key, rg.Name)`).
    StoreName,
    /// A fixed account name: stream and consumer stores.
    Account(String),
}

/// The server's key scheme for one kind of store, from the operator's keys.
#[derive(Debug, Clone)]
pub struct ServerKeys {
    keys: Keys,
    info: Info,
}

impl ServerKeys {
    /// Keys for the Raft groups under `_js_` (the meta group, `S-*`, `C-*`).
    pub fn for_raft(keys: &Keys) -> ServerKeys {
        ServerKeys {
            keys: keys.clone(),
            info: Info::StoreName,
        }
    }

    /// Keys for the stream stores of `account` (`jetstream/<account>/streams/<stream>`).
    pub fn for_account(keys: &Keys, account: &str) -> ServerKeys {
        ServerKeys {
            keys: keys.clone(),
            info: Info::Account(account.to_string()),
        }
    }

    fn info<'a>(&'a self, store: &'a str) -> &'a str {
        match &self.info {
            Info::StoreName => store,
            Info::Account(a) => a,
        }
    }
}

impl BlockKeys for ServerKeys {
    fn block_cipher(
        &self,
        store: &str,
        index: u32,
        key_file: &[u8],
    ) -> Result<BlockCipher, KeyError> {
        if key_file.len() < MIN_BLOCK_KEY_SIZE {
            return Err(KeyError::TooShort {
                len: key_file.len(),
                min: MIN_BLOCK_KEY_SIZE,
            });
        }
        let (cipher, seed, _) =
            self.keys
                .open_seed(self.info(store), &format!("{store}:{index}"), key_file)?;
        // The sealing nonce is also the keystream nonce (`genBlockEncryptionKey`).
        BlockCipher::new(cipher, seed, &key_file[..cipher.nonce_size()])
            .ok_or(KeyError::Seed(SeedError::NoKeyOpens))
    }

    fn open_meta(&self, store: &str, meta_key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        let (cipher, seed, _) = self.keys.open_seed(self.info(store), store, meta_key)?;
        crate::store::crypto::open(cipher, &seed, sealed).ok_or(KeyError::MetaCorrupt)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::crypto::Cipher;

    fn operator(key: &[u8], prev: Option<&[u8]>, cipher: Cipher) -> Keys {
        Keys::new(key.to_vec(), prev.map(<[u8]>::to_vec), Some(cipher))
    }

    /// What `genEncryptionKeysForBlock` writes for block `index` of Raft group `store`.
    pub(crate) fn block_key_file(
        cipher: Cipher,
        key: &[u8],
        store: &str,
        index: u32,
        seed: [u8; 32],
    ) -> Vec<u8> {
        let kek = crate::store::crypto::prf(key, store, &format!("{store}:{index}"));
        crate::store::crypto::seal(cipher, &kek, &vec![0x42; cipher.nonce_size()], &seed).unwrap()
    }

    #[test]
    fn block_keys_open_with_either_cipher_and_the_previous_key() {
        for cipher in [Cipher::Chacha, Cipher::Aes] {
            let kf = block_key_file(cipher, b"old", "_meta_", 3, [8; 32]);
            assert_eq!(kf.len(), cipher.nonce_size() + 48);
            for configured in [Cipher::Chacha, Cipher::Aes] {
                let keys = ServerKeys::for_raft(&operator(b"new", Some(b"old"), configured));
                let bc = keys.block_cipher("_meta_", 3, &kf).unwrap();
                assert_eq!(
                    bc,
                    BlockCipher::new(cipher, [8; 32], &[0x42; 24][..cipher.nonce_size()]).unwrap()
                );
            }
            let keys = ServerKeys::for_raft(&operator(b"new", None, cipher));
            assert_eq!(
                keys.block_cipher("_meta_", 3, &kf),
                Err(KeyError::Seed(SeedError::NoKeyOpens))
            );
            let keys = ServerKeys::for_raft(&operator(b"old", None, cipher));
            // Another block index or store: another context.
            assert_eq!(
                keys.block_cipher("_meta_", 4, &kf),
                Err(KeyError::Seed(SeedError::NoKeyOpens))
            );
            assert_eq!(
                keys.block_cipher("S-x", 3, &kf),
                Err(KeyError::Seed(SeedError::NoKeyOpens))
            );
            assert!(matches!(
                keys.block_cipher("_meta_", 3, &kf[..40]),
                Err(KeyError::TooShort { .. })
            ));
            // The account scheme uses the account as info.
            let acct = ServerKeys::for_account(&operator(b"old", None, cipher), "A");
            assert!(acct.block_cipher("_meta_", 3, &kf).is_err());
        }
    }
}
