//! One `meta.inf` with its `meta.sum` (and `meta.key` when encrypted), as read from disk.
//!
//! Streams write these in `writeStreamMeta`, consumers in `writeConsumerMeta`
//! (server/filestore.go). The bytes are kept exactly as read: edits splice them (see
//! [`super::json`]) and checksums are computed over them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Serialize;

use super::checksum;
use super::crypto::{AssetKey, Keys};
use super::error::StoreError;
use super::json::{self, Member};

/// `JetStreamMetaFile` in server/filestore.go.
pub const META_FILE: &str = "meta.inf";
/// `JetStreamMetaFileSum`.
pub const SUM_FILE: &str = "meta.sum";
/// `JetStreamMetaFileKey`: present when the metadata is encrypted.
pub const KEY_FILE: &str = "meta.key";

/// What a `meta.inf` holds.
#[derive(Debug, Clone)]
pub enum MetaContent {
    /// Plain JSON, with the byte range of each top-level member.
    Json {
        fields: serde_json::Map<String, serde_json::Value>,
        members: Vec<Member>,
    },
    /// Encrypted at rest (a `meta.key` sits beside it), and no key was given.
    Encrypted,
    /// Encrypted at rest, and the keys given do not open it.
    Unopened,
    /// Not a JSON object: truncated, corrupt, or empty.
    Malformed(String),
}

/// Whether `meta.sum` matches `meta.inf`, as the server checks at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChecksumState {
    Ok,
    Bad,
    Missing,
}

/// A `meta.inf`, its `meta.sum`, and what they say.
#[derive(Debug, Clone)]
pub struct MetaFile {
    /// Path of `meta.inf` relative to the store_dir, `/`-separated.
    pub path: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
    pub content: MetaContent,
    /// The name whose SHA-256 keys the checksum.
    pub key_name: String,
    /// Path of `meta.sum` relative to the store_dir.
    pub sum_path: String,
    /// `meta.sum` contents and mode, if it exists.
    pub sum: Option<(Vec<u8>, u32)>,
    /// A `meta.key` sits beside it: the bytes are sealed.
    pub encrypted: bool,
    /// For an encrypted file the keys opened: its asset key and the plaintext JSON.
    pub sealed: Option<Sealed>,
}

/// An encrypted `meta.inf`, opened.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub asset: AssetKey,
    pub plain: Vec<u8>,
}

/// What opens an encrypted `meta.inf`: the operator's keys, the account, and the context
/// its key was made for (the stream name, or `<stream>.<consumer>`).
#[derive(Debug, Clone, Copy)]
pub struct Unseal<'a> {
    pub keys: &'a Keys,
    pub account: &'a str,
    pub context: &'a str,
}

impl MetaFile {
    /// Reads `<dir>/meta.inf` and its siblings. `rel_dir` is `dir` relative to the store_dir.
    /// Returns `None` when there is no `meta.inf`.
    pub fn read(
        dir: &Path,
        rel_dir: &str,
        key_name: String,
        unseal: Option<Unseal<'_>>,
    ) -> Result<Option<Self>, StoreError> {
        let path = dir.join(META_FILE);
        let Some((bytes, mode)) = read_optional(&path)? else {
            return Ok(None);
        };
        let key = read_optional(&dir.join(KEY_FILE))?;
        let encrypted = key.is_some();
        let mut sealed = None;
        let content = match (key, unseal) {
            (None, _) => parse(&bytes),
            (Some(_), None) => MetaContent::Encrypted,
            (Some((meta_key, _)), Some(u)) => {
                match u.keys.open_meta(u.account, u.context, &meta_key, &bytes) {
                    Some((asset, plain)) => {
                        let content = parse(&plain);
                        sealed = Some(Sealed { asset, plain });
                        content
                    }
                    None => MetaContent::Unopened,
                }
            }
        };
        let sum = read_optional(&dir.join(SUM_FILE))?;
        Ok(Some(MetaFile {
            path: format!("{rel_dir}/{META_FILE}"),
            bytes,
            mode,
            content,
            key_name,
            sum_path: format!("{rel_dir}/{SUM_FILE}"),
            sum,
            encrypted,
            sealed,
        }))
    }

    /// The JSON text: the file itself, or its plaintext when it is encrypted and was opened.
    pub fn json_bytes(&self) -> &[u8] {
        self.sealed.as_ref().map_or(&self.bytes, |s| &s.plain)
    }

    /// The `meta.sum` contents the server expects for the current bytes.
    pub fn expected_sum(&self) -> String {
        checksum::meta_sum(&self.key_name, &self.bytes)
    }

    pub fn checksum(&self) -> ChecksumState {
        match &self.sum {
            None => ChecksumState::Missing,
            Some((sum, _)) if sum == self.expected_sum().as_bytes() => ChecksumState::Ok,
            Some(_) => ChecksumState::Bad,
        }
    }

    pub fn fields(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        match &self.content {
            MetaContent::Json { fields, .. } => Some(fields),
            _ => None,
        }
    }

    pub fn str_field(&self, key: &str) -> Option<&str> {
        self.fields()?.get(key)?.as_str()
    }

    /// `num_replicas`, as the server reads it (absent means 0).
    pub fn replicas(&self) -> Option<i64> {
        let fields = self.fields()?;
        Some(
            fields
                .get("num_replicas")
                .and_then(|v| v.as_i64())
                .unwrap_or(0),
        )
    }

    /// Encrypted at rest, whether or not it was opened.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }
}

fn parse(bytes: &[u8]) -> MetaContent {
    match json::parse_object(bytes) {
        Ok((fields, members)) => MetaContent::Json { fields, members },
        Err(e) if bytes.is_empty() => MetaContent::Malformed(format!("empty file ({e})")),
        Err(e) => MetaContent::Malformed(e.to_string()),
    }
}

fn read_optional(path: &Path) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Io {
                path: path.into(),
                source: e,
            })
        }
    };
    let mode = std::fs::metadata(path)
        .map_err(StoreError::io(path))?
        .permissions()
        .mode();
    Ok(Some((bytes, mode & 0o7777)))
}
