//! The change manifest `plan` writes and `apply` carries out.
//!
//! # Wire format
//!
//! A manifest is one JSON object (schema `js-recover/plan`, version 2). Other tools read it,
//! so fields are only ever added with a new `schema_version`. `apply` still carries out a
//! version-1 manifest (which has no `mkdir` changes).
//!
//! ```json
//! {
//!   "schema": "js-recover/plan",
//!   "schema_version": 1,
//!   "tool_version": "0.1.0",
//!   "created_at": "2026-11-21T12:00:00Z",
//!   "store": "/var/lib/nats-copy",
//!   "summary": { "streams": 4, "consumers": 9, "streams_edited": 4, "consumers_edited": 2,
//!                "files_edited": 12, "dirs_removed": 1, "bytes_removed": 73220,
//!                "consumers_recreated": 1 },
//!   "inventory": { ... what the lost cluster had: see crate::store::inventory ... },
//!   "warnings": [ { "code": "interest-retention", "path": "jetstream/A/streams/EVENTS",
//!                   "message": "..." } ],
//!   "changes": [
//!     { "op": "edit", "path": "jetstream/A/streams/ORDERS/meta.inf", "reason": "...",
//!       "mode": "0600", "before": "{...}", "after": "{...}",
//!       "before_sha256": "...", "after_sha256": "...", "diff": "--- a/...\n+++ b/...\n..." },
//!     { "op": "remove", "path": "jetstream/$SYS", "reason": "...",
//!       "files": 31, "dirs": 12, "bytes": 73220, "fingerprint": "sha256:..." },
//!     { "op": "mkdir", "path": "jetstream/A/streams/EVENTS/obs/mem", "reason": "...",
//!       "mode": "0750" }
//!   ]
//! }
//! ```
//!
//! - `store` is the absolute store_dir (the parent of `jetstream/`); every `path` is relative
//!   to it, `/`-separated, and never contains `..`.
//! - `edit`: `before` and `after` are the exact file contents when they are UTF-8 text;
//!   otherwise, and always for an encrypted `meta.inf`, `before_base64` / `after_base64`
//!   carry them (standard base64). For an encrypted `meta.inf` the `diff` is of the
//!   decrypted JSON, so the plan shows stream and consumer configuration in clear. A file that does
//!   not exist yet has `before_sha256: null` and no `before`. `mode` is the permission bits
//!   the file has (or, for a new file, will get), as an octal string such as `"0600"`. `diff` is a unified diff for a reviewer: of
//!   a pretty-printed rendering for JSON, so each changed field stands on its own line. It is
//!   informative only; `before`/`after` are the truth.
//! - `mkdir`: a directory that does not exist yet and is created, with these permission
//!   bits, before any file is written into it (a consumer the plan recreates). Rollback
//!   removes it again. Changes are listed parents first.
//! - `copy` (several survivors, version 2): a stream or consumer directory copied in from
//!   another survivor's store, the most complete copy of it (see [`crate::plan::survivors`]).
//!   `source` is that store's absolute store_dir and `source_path` the directory in it;
//!   `exclude` lists sub-paths of it (`obs/<consumer>`) not copied, because a better copy of
//!   that consumer comes from elsewhere. `files`, `dirs`, `bytes` and `fingerprint` describe
//!   the source directory without the excluded parts, as for `remove`: apply refuses when
//!   the source changed since the plan. A `copy` to a path the store already holds comes
//!   right after a `remove` of that path (the store's own, less complete copy goes into the
//!   backup). Edits after a `copy` may change files inside it; their `before` is the source's
//!   file. Apply copies every source into a staging directory of the store_dir first,
//!   verified, then moves it into place; the source is never written. Rollback takes the
//!   copy out again.
//! - `remove`: a directory that leaves the store. `files`, `dirs` and `bytes` count what is in
//!   it; `fingerprint` is a SHA-256 over every entry's relative path, kind, size, mtime and
//!   mode (see [`crate::store::tree`]), so a later apply can tell cheaply whether it changed
//!   without reading gigabytes of data.

use std::borrow::Cow;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::inventory::Inventory;
pub use crate::store::report::Warning;
use crate::store::tree::TreeSummary;

pub const SCHEMA: &str = "js-recover/plan";
pub const SCHEMA_VERSION: u32 = 2;
/// The versions `apply` carries out.
pub const SCHEMA_VERSIONS: [u32; 2] = [1, 2];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    pub schema_version: u32,
    pub tool_version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub store: String,
    pub summary: Summary,
    /// What the lost cluster had, against this store (version 2; see
    /// [`crate::store::inventory`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
    /// What this node's Raft logs hold that the store does not, and how much of it the
    /// plan writes back (version 2; see [`crate::store::tail`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<super::tail::TailPlan>,
    /// Several survivors (`--from`): every copy of every stream and consumer, and which was
    /// chosen (version 2; see [`crate::plan::survivors`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survivors: Option<super::survivors::Survivors>,
    pub warnings: Vec<Warning>,
    pub changes: Vec<Change>,
}

impl Manifest {
    /// The manifest as `plan` writes it, byte for byte: pretty JSON and a newline (serde_json
    /// writes the same value the same way every time, which `prepare` relies on).
    pub fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *w, self)?;
        w.write_all(b"\n")
    }
}

/// Where one change's JSON is in a manifest's bytes: `len` bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
}

/// Reads the manifest in `bytes` without keeping what its changes say in full: each change
/// goes to `each`, in order, with its [`Span`] in `bytes` (so it can be read again alone
/// later), and the manifest comes back with whatever `each` kept as its changes. The
/// `warnings` are checked as [`Manifest`]'s and dropped (informative; nothing after `plan`
/// reads them).
pub fn read_spans(
    bytes: &[u8],
    each: &mut dyn FnMut(Change, Span) -> Result<Option<Change>, String>,
) -> Result<Manifest, serde_json::Error> {
    use serde::de::DeserializeSeed as _;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let m = stream::ManifestSeed {
        base: bytes.as_ptr() as usize,
        each,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(m)
}

/// The visitor behind [`read_spans`].
mod stream {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess};

    use super::{Change, Manifest, Span, Warning};

    pub struct ManifestSeed<'a> {
        /// Where the bytes begin in memory: a change's offset is where its text is, less
        /// this.
        pub base: usize,
        pub each: &'a mut dyn FnMut(Change, Span) -> Result<Option<Change>, String>,
    }

    const FIELDS: &[&str] = &[
        "schema",
        "schema_version",
        "tool_version",
        "created_at",
        "store",
        "summary",
        "inventory",
        "tail",
        "survivors",
        "warnings",
        "changes",
    ];

    impl<'de> DeserializeSeed<'de> for ManifestSeed<'_> {
        type Value = Manifest;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Manifest, D::Error> {
            d.deserialize_struct("Manifest", FIELDS, self)
        }
    }

    fn once<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), E> {
        match slot.replace(v) {
            Some(_) => Err(E::duplicate_field(name)),
            None => Ok(()),
        }
    }

    impl<'de> de::Visitor<'de> for ManifestSeed<'_> {
        type Value = Manifest;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a js-recover plan")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Manifest, A::Error> {
            let (mut schema, mut schema_version, mut tool_version, mut created_at) =
                (None, None, None, None);
            let (mut store, mut summary, mut inventory, mut tail, mut survivors) =
                (None, None, None, None, None);
            let (mut warnings, mut changes) = (None, None);
            while let Some(key) = map.next_key::<std::borrow::Cow<'_, str>>()? {
                match &*key {
                    "schema" => once(&mut schema, "schema", map.next_value()?)?,
                    "schema_version" => {
                        once(&mut schema_version, "schema_version", map.next_value()?)?
                    }
                    "tool_version" => once(&mut tool_version, "tool_version", map.next_value()?)?,
                    "created_at" => once(&mut created_at, "created_at", map.next_value()?)?,
                    "store" => once(&mut store, "store", map.next_value()?)?,
                    "summary" => once(&mut summary, "summary", map.next_value()?)?,
                    "inventory" => once(&mut inventory, "inventory", map.next_value()?)?,
                    "tail" => once(&mut tail, "tail", map.next_value()?)?,
                    "survivors" => once(&mut survivors, "survivors", map.next_value()?)?,
                    "warnings" => once(
                        &mut warnings,
                        "warnings",
                        map.next_value_seed(Each::<Warning>(std::marker::PhantomData))?,
                    )?,
                    "changes" => {
                        let seed = Changes {
                            base: self.base,
                            each: &mut *self.each,
                        };
                        once(&mut changes, "changes", map.next_value_seed(seed)?)?
                    }
                    other => return Err(de::Error::unknown_field(other, FIELDS)),
                }
            }
            let missing = de::Error::missing_field;
            Ok(Manifest {
                schema: schema.ok_or_else(|| missing("schema"))?,
                schema_version: schema_version.ok_or_else(|| missing("schema_version"))?,
                tool_version: tool_version.ok_or_else(|| missing("tool_version"))?,
                created_at: created_at.ok_or_else(|| missing("created_at"))?,
                store: store.ok_or_else(|| missing("store"))?,
                summary: summary.ok_or_else(|| missing("summary"))?,
                inventory: inventory.flatten(),
                tail: tail.flatten(),
                survivors: survivors.flatten(),
                warnings: warnings
                    .map(|()| Vec::new())
                    .ok_or_else(|| missing("warnings"))?,
                changes: changes.ok_or_else(|| missing("changes"))?,
            })
        }
    }

    /// A sequence whose every element is checked as a `T` and dropped.
    struct Each<T>(std::marker::PhantomData<T>);

    impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Each<T> {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de, T: de::Deserialize<'de>> de::Visitor<'de> for Each<T> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<T>()?.is_some() {}
            Ok(())
        }
    }

    struct Changes<'a, 'b> {
        base: usize,
        each: &'a mut (dyn FnMut(Change, Span) -> Result<Option<Change>, String> + 'b),
    }

    impl<'de> DeserializeSeed<'de> for Changes<'_, '_> {
        type Value = Vec<Change>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Change>, D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> de::Visitor<'de> for Changes<'_, '_> {
        type Value = Vec<Change>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of changes")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Change>, A::Error> {
            let mut kept = Vec::new();
            while let Some(raw) = seq.next_element::<&'de serde_json::value::RawValue>()? {
                let text = raw.get();
                let span = Span {
                    offset: (text.as_ptr() as usize - self.base) as u64,
                    len: text.len() as u64,
                };
                let change: Change = serde_json::from_str(text).map_err(de::Error::custom)?;
                if let Some(c) = (self.each)(change, span).map_err(de::Error::custom)? {
                    kept.push(c);
                }
            }
            Ok(kept)
        }
    }
}

/// Counts a reviewer reads first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub streams: usize,
    pub consumers: usize,
    pub streams_edited: usize,
    pub consumers_edited: usize,
    pub files_edited: usize,
    pub dirs_removed: usize,
    pub bytes_removed: u64,
    /// Consumers the plan recreates (version 2).
    #[serde(default)]
    pub consumers_recreated: usize,
    /// Messages from the Raft log tail the plan writes into the store (version 2).
    #[serde(default)]
    pub tail_messages: usize,
    /// Consumers whose newer state from their Raft log the plan writes (version 2).
    #[serde(default)]
    pub tail_consumers: usize,
    /// Streams and consumers copied in from other survivors, and their bytes (version 2).
    #[serde(default)]
    pub streams_copied: usize,
    #[serde(default)]
    pub consumers_copied: usize,
    #[serde(default)]
    pub bytes_copied: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    Edit(Edit),
    Remove(Remove),
    Mkdir(Mkdir),
    Copy(CopyIn),
}

impl Change {
    pub fn path(&self) -> &str {
        match self {
            Change::Edit(e) => &e.path,
            Change::Remove(r) => &r.path,
            Change::Mkdir(d) => &d.path,
            Change::Copy(c) => &c.path,
        }
    }
}

/// A directory copied in from another survivor's store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyIn {
    /// Where it goes, relative to the store.
    pub path: String,
    pub reason: String,
    /// The survivor's store_dir, absolute.
    pub source: String,
    /// The directory copied, relative to `source`.
    pub source_path: String,
    /// Sub-paths of `source_path` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    pub fingerprint: String,
}

impl CopyIn {
    /// The directory copied, absolute.
    pub fn source_dir(&self) -> std::path::PathBuf {
        std::path::Path::new(&self.source).join(&self.source_path)
    }
}

/// A directory the plan creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mkdir {
    pub path: String,
    pub reason: String,
    #[serde(with = "octal_mode")]
    pub mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    pub path: String,
    pub reason: String,
    #[serde(with = "octal_mode")]
    pub mode: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_base64: Option<String>,
    pub after: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_base64: Option<String>,
    pub before_sha256: Option<String>,
    pub after_sha256: String,
    pub diff: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remove {
    pub path: String,
    pub reason: String,
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    pub fingerprint: String,
}

impl Remove {
    pub fn new(path: String, reason: String, tree: TreeSummary) -> Self {
        let TreeSummary {
            files,
            dirs,
            bytes,
            fingerprint,
        } = tree;
        Remove {
            path,
            reason,
            files,
            dirs,
            bytes,
            fingerprint,
        }
    }
}

impl Edit {
    /// An edit from `before` (absent for a new file) to `after`.
    pub fn new(
        path: String,
        reason: String,
        mode: u32,
        before: Option<&[u8]>,
        after: &[u8],
        diff: String,
    ) -> Self {
        Self::build(path, reason, mode, before, after, diff, split_text)
    }

    /// [`Edit::new`] with `before` and `after` always in base64: for encrypted files, whose
    /// bytes are not text even when they happen to be valid UTF-8.
    pub fn new_binary(
        path: String,
        reason: String,
        mode: u32,
        before: Option<&[u8]>,
        after: &[u8],
        diff: String,
    ) -> Self {
        Self::build(path, reason, mode, before, after, diff, |b| {
            (None, Some(base64_of(b)))
        })
    }

    fn build(
        path: String,
        reason: String,
        mode: u32,
        before: Option<&[u8]>,
        after: &[u8],
        diff: String,
        split: Split,
    ) -> Self {
        let (before_text, before_base64) = before.map_or((None, None), split);
        let (after_text, after_base64) = split(after);
        Edit {
            path,
            reason,
            mode,
            before: before_text,
            before_base64,
            after: after_text,
            after_base64,
            before_sha256: before.map(sha256_hex),
            after_sha256: sha256_hex(after),
            diff,
        }
    }

    /// The bytes the file must have before the edit, or `None` if it must not exist.
    pub fn before_bytes(&self) -> Result<Option<Cow<'_, [u8]>>, base64::DecodeError> {
        decode(&self.before, &self.before_base64)
    }

    pub fn after_bytes(&self) -> Result<Cow<'_, [u8]>, base64::DecodeError> {
        Ok(decode(&self.after, &self.after_base64)?.unwrap_or_default())
    }
}

/// How file bytes go into the manifest: (`before`/`after` text, `*_base64`).
type Split = fn(&[u8]) -> (Option<String>, Option<String>);

/// Text as it is, anything else in base64.
fn split_text(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(text) => (Some(text.to_string()), None),
        Err(_) => (None, Some(base64_of(bytes))),
    }
}

fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Text as it is (borrowed), base64 decoded.
fn decode<'a>(
    text: &'a Option<String>,
    b64: &Option<String>,
) -> Result<Option<Cow<'a, [u8]>>, base64::DecodeError> {
    match (text, b64) {
        (Some(t), _) => Ok(Some(Cow::Borrowed(t.as_bytes()))),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map(|bytes| Some(Cow::Owned(bytes))),
        (None, None) => Ok(None),
    }
}

/// File modes as octal strings (`"0600"`), the way people read them.
mod octal_mode {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{mode:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        u32::from_str_radix(&text, 8)
            .map_err(|_| D::Error::custom(format!("mode `{text}` is not octal")))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_goes_in_base64_and_round_trips() {
        let e = Edit::new(
            "p".into(),
            "r".into(),
            0o644,
            Some(&[0xff, 0x00, 0x41]),
            b"ok",
            String::new(),
        );
        assert!(e.before.is_none());
        assert_eq!(&*e.before_bytes().unwrap().unwrap(), &[0xff, 0x00, 0x41]);
        assert_eq!(e.after.as_deref(), Some("ok"));
        let json = serde_json::to_string(&Change::Edit(e.clone())).unwrap();
        assert!(json.contains(r#""mode":"0644""#), "{json}");
        let back: Change = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Change::Edit(e));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let json = r#"{"op":"remove","path":"x","reason":"r","files":1,"dirs":0,"bytes":2,"fingerprint":"f","extra":1}"#;
        assert!(serde_json::from_str::<Change>(json).is_err());
    }
}
