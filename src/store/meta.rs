//! One `meta.inf` with its `meta.sum` (and `meta.key` when encrypted), as read from disk.
//!
//! Streams write these in `writeStreamMeta`, consumers in `writeConsumerMeta`
//! (server/filestore.go). The bytes are kept exactly as read: edits splice them (see
//! [`super::json`]) and checksums are computed over them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde::Serialize;

use super::checksum;
use super::crypto::{AssetKey, Keys, Unsealed};
use super::error::StoreError;
use super::json::{self, FieldError, Object};

/// `JetStreamMetaFile` in server/filestore.go.
pub const META_FILE: &str = "meta.inf";
/// `JetStreamMetaFileSum`.
pub const SUM_FILE: &str = "meta.sum";
/// `JetStreamMetaFileKey`: present when the metadata is encrypted.
pub const KEY_FILE: &str = "meta.key";

/// What a `meta.inf` holds.
#[derive(Debug, Clone)]
pub enum MetaContent {
    /// JSON as Go reads it: its top-level members with their byte ranges, and the fields
    /// js-recover knows that the server would fail to decode (it then refuses the file).
    Json {
        object: Object,
        refused: Vec<FieldError>,
    },
    /// Encrypted at rest (a `meta.key` sits beside it), and no key was given.
    Encrypted,
    /// Encrypted at rest, and the keys given do not open it: a wrong key, or a damaged
    /// file.
    Unopened(Unsealed),
    /// Not a JSON object: truncated, corrupt, or empty.
    Malformed(String),
}

/// Which struct the server decodes a `meta.inf` into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asset {
    /// `FileStreamInfo` (server/filestore.go).
    Stream,
    /// `FileConsumerInfo`.
    Consumer,
}

/// Fields js-recover reads or edits, with the Go type the server decodes each into; a file
/// where one of them does not decode is one the server refuses.
fn field_errors(object: &Object, asset: Asset) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut check = |r: Result<(), FieldError>| errors.extend(r.err());
    check(object.go_string("name").map(drop));
    check(object.go_int("num_replicas").map(drop));
    match asset {
        Asset::Stream => {
            check(object.go_object("placement").map(drop));
            check(
                object
                    .go_enum("retention", &["limits", "interest", "workqueue"])
                    .map(drop),
            );
            check(object.go_enum("storage", &["file", "memory"]).map(drop));
            check(object.go_enum("discard", &["old", "new"]).map(drop));
        }
        Asset::Consumer => {
            check(object.go_string("durable_name").map(drop));
            check(
                object
                    .go_enum("ack_policy", &["none", "all", "explicit", "flow_control"])
                    .map(drop),
            );
        }
    }
    errors
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
    /// Shared with the parsed object of a plain file.
    pub bytes: std::sync::Arc<[u8]>,
    pub mode: u32,
    pub content: MetaContent,
    /// The name whose SHA-256 keys the checksum.
    pub key_name: String,
    /// `meta.sum` contents and mode, if it exists.
    pub sum: Option<(Vec<u8>, u32)>,
    /// A `meta.key` sits beside it: the bytes are sealed.
    pub encrypted: bool,
    /// For an encrypted file the keys opened: its asset key and the plaintext JSON.
    pub sealed: Option<Box<Sealed>>,
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
        asset: Asset,
        key_name: String,
        unseal: Option<Unseal<'_>>,
    ) -> Result<Option<Self>, StoreError> {
        let path = dir.join(META_FILE);
        let Some((bytes, mode)) = read_optional(&path)? else {
            return Ok(None);
        };
        let bytes: std::sync::Arc<[u8]> = bytes.into();
        let key = read_optional(&dir.join(KEY_FILE))?;
        let encrypted = key.is_some();
        let mut sealed = None;
        let content = match (key, unseal) {
            (None, _) => parse(bytes.clone(), asset),
            (Some(_), None) => MetaContent::Encrypted,
            (Some((meta_key, _)), Some(u)) => {
                match u.keys.open_meta(u.account, u.context, &meta_key, &bytes) {
                    Ok((key, plain)) => {
                        let content = parse(plain.as_slice().into(), asset);
                        sealed = Some(Box::new(Sealed { asset: key, plain }));
                        content
                    }
                    Err(why) => MetaContent::Unopened(why),
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
            sum,
            encrypted,
            sealed,
        }))
    }

    /// Path of `meta.sum` relative to the store_dir (beside `path`; thousands of these are
    /// held, so made when asked for).
    pub fn sum_path(&self) -> String {
        let dir = self.path.strip_suffix(META_FILE).unwrap_or(&self.path);
        format!("{dir}{SUM_FILE}")
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

    /// The JSON document, when it could be read.
    pub fn object(&self) -> Option<&Object> {
        match &self.content {
            MetaContent::Json { object, .. } => Some(object),
            _ => None,
        }
    }

    /// The value the server decodes into field `key` (matched as Go matches keys), for
    /// display.
    pub fn field(&self, key: &str) -> Option<serde_json::Value> {
        let object = self.object()?;
        Some(object.value(object.get(key)?)).filter(|v| !v.is_null())
    }

    /// [`MetaFile::field`], when it is a string.
    pub fn str_field(&self, key: &str) -> Option<String> {
        match self.field(key)? {
            serde_json::Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// `num_replicas`, as the server decodes it (absent or null: 0); `None` when the file
    /// is unreadable or the server would not decode the field.
    pub fn replicas(&self) -> Option<i64> {
        Some(self.object()?.go_int("num_replicas").ok()?.unwrap_or(0))
    }

    /// Why the server cannot load this file at all (not JSON, or a field it cannot
    /// decode), as an error naming it.
    pub fn unloadable(&self) -> Option<StoreError> {
        match &self.content {
            MetaContent::Malformed(detail) => Some(StoreError::Malformed {
                path: self.path.clone(),
                detail: detail.clone(),
            }),
            MetaContent::Json { refused, .. } if !refused.is_empty() => Some(StoreError::Refused {
                path: self.path.clone(),
                fields: refused.clone(),
            }),
            _ => None,
        }
    }

    /// The fields the server would fail to decode: it refuses the whole file.
    pub fn refused(&self) -> &[FieldError] {
        match &self.content {
            MetaContent::Json { refused, .. } => refused,
            _ => &[],
        }
    }

    /// Encrypted at rest, whether or not it was opened.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }
}

fn parse(bytes: std::sync::Arc<[u8]>, asset: Asset) -> MetaContent {
    match json::parse_shared(bytes.clone()) {
        Ok(object) => MetaContent::Json {
            refused: field_errors(&object, asset),
            object,
        },
        Err(e) if bytes.is_empty() => MetaContent::Malformed(format!("empty file ({e})")),
        Err(e) => MetaContent::Malformed(e.to_string()),
    }
}

/// The bytes and permission bits of a regular file, `None` if absent; anything else there
/// (a link, a FIFO) is refused without being opened for a blocking read or followed.
fn read_optional(path: &Path) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
    Ok(super::file::read_regular_if_exists(path)
        .map_err(StoreError::read(path))?
        .map(|(meta, bytes)| (bytes, meta.permissions().mode() & 0o7777)))
}
