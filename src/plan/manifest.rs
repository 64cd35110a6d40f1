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
//! - Readers may split `changes` from the rest (apply does, see [`read_split`]): the key is
//!   written `"changes"`, without escapes, and each change is a JSON object.
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
    /// The manifest as `plan` writes it, byte for byte (see [`write_parts`]).
    pub fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        write_parts(
            w,
            self,
            &|each| self.warnings.iter().cloned().for_each(each),
            self.changes.iter().map(change_text),
        )
    }
}

#[cfg(test)]
impl Manifest {
    /// A manifest for `store` that changes nothing, made at the epoch (for tests).
    pub fn empty(store: &std::path::Path) -> Manifest {
        Manifest {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            tool_version: "0".into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            store: store.display().to_string(),
            summary: Summary::default(),
            inventory: None,
            tail: None,
            survivors: None,
            warnings: Vec::new(),
            changes: Vec::new(),
        }
    }
}

/// Writes a manifest as `plan` does, byte for byte: pretty JSON (two spaces) and a newline.
/// The fields come from `head`, but `warnings` and `changes`, which come one at a time
/// from `warnings` (handing each to the function it is given) and `changes` (each as
/// [`change_text`] makes it): thousands of
/// streams' edits are tens of megabytes, and their warnings several, made as they are
/// written rather than held (see [`crate::plan::Plan`]). The bytes are those of `serde_json::to_writer_pretty`
/// on the whole manifest; the one writer of the format, whatever holds the changes.
pub fn write_parts(
    w: &mut impl std::io::Write,
    head: &Manifest,
    warnings: Warnings<'_>,
    changes: impl Iterator<Item = Vec<u8>>,
) -> std::io::Result<()> {
    // The head ends `"changes": []` and the closing brace: held back, the changes go there.
    const END: &[u8] = b"[]\n}";
    let mut held = HoldBack {
        inner: &mut *w,
        tail: Vec::new(),
        keep: END.len(),
    };
    serde_json::to_writer_pretty(&mut held, &Head::of(head, warnings))?;
    assert_eq!(held.tail, END, "`changes` is the manifest's last field");
    let mut first = true;
    for text in changes {
        w.write_all(if first { b"[\n    " } else { b",\n    " })?;
        first = false;
        w.write_all(&text)?;
    }
    w.write_all(if first { b"[]\n}\n" } else { b"\n  ]\n}\n" })
}

/// One element of `changes` as [`write_parts`] writes it (made wherever is convenient: on
/// several threads for thousands of changes).
pub fn change_text(change: &Change) -> Vec<u8> {
    let mut pretty = Vec::new();
    serde_json::to_writer_pretty(&mut pretty, change).expect("a change always serializes");
    // An element of `changes` is two levels deep; a newline inside JSON text is always
    // escaped, so every newline here is the formatter's.
    let mut text = Vec::with_capacity(pretty.len() + pretty.len() / 16);
    for (i, line) in pretty.split(|&b| b == b'\n').enumerate() {
        if i > 0 {
            text.extend_from_slice(b"\n    ");
        }
        text.extend_from_slice(line);
    }
    text
}

/// Passes writes on but the last `keep` bytes.
struct HoldBack<W> {
    inner: W,
    tail: Vec<u8>,
    keep: usize,
}

impl<W: std::io::Write> std::io::Write for HoldBack<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tail.extend_from_slice(buf);
        if self.tail.len() > self.keep {
            let n = self.tail.len() - self.keep;
            self.inner.write_all(&self.tail[..n])?;
            self.tail.drain(..n);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Hands each warning of a manifest to the function it is given, in order.
pub type Warnings<'a> = &'a dyn Fn(&mut dyn FnMut(Warning));

/// [`Warnings`] serialized as a JSON array, each as it comes.
struct Each<'a>(Warnings<'a>);

impl Serialize for Each<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq as _;
        let mut seq = s.serialize_seq(None)?;
        let mut failed = None;
        (self.0)(&mut |w| {
            if failed.is_none() {
                failed = seq.serialize_element(&w).err();
            }
        });
        match failed {
            Some(e) => Err(e),
            None => seq.end(),
        }
    }
}

/// A [`Manifest`]'s fields, borrowed, with `warnings` given and no changes: what
/// [`write_parts`] writes before them. Field for field as `Manifest` serializes (the destructuring in [`Head::of`] fails to
/// compile when a field is added there and not here).
#[derive(Serialize)]
struct Head<'a> {
    schema: &'a str,
    schema_version: u32,
    tool_version: &'a str,
    created_at: &'a chrono::DateTime<chrono::Utc>,
    store: &'a str,
    summary: &'a Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    inventory: Option<&'a Inventory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tail: Option<&'a super::tail::TailPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    survivors: Option<&'a super::survivors::Survivors>,
    warnings: Each<'a>,
    changes: [(); 0],
}

impl<'a> Head<'a> {
    fn of(m: &'a Manifest, warnings: Warnings<'a>) -> Head<'a> {
        let Manifest {
            schema,
            schema_version,
            tool_version,
            created_at,
            store,
            summary,
            inventory,
            tail,
            survivors,
            warnings: _,
            changes: _,
        } = m;
        Head {
            schema,
            schema_version: *schema_version,
            tool_version,
            created_at,
            store,
            summary,
            inventory: inventory.as_ref(),
            tail: tail.as_ref(),
            survivors: survivors.as_ref(),
            warnings: Each(warnings),
            changes: [],
        }
    }
}

/// Where one change's JSON is in a manifest's bytes: `len` bytes from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
}

/// Reads a manifest from `r` without holding its bytes or its changes: each change goes to
/// `each`, in order, with its [`Span`] in the bytes (so it can be read again alone later),
/// and the manifest comes back with whatever `each` kept as its changes. The `warnings` are
/// checked as [`Manifest`]'s and dropped (informative; nothing after `plan` reads them).
///
/// The bytes are read in blocks and split as they come (see [`Splitter`]): the changes, one
/// at a time, and the rest (the header, with `"changes": []`), each parsed as JSON as strictly
/// as the whole would be. Tens of megabytes at thousands of streams are read in about the
/// memory of their largest change and the header.
pub fn read_split(
    mut r: impl std::io::Read,
    each: &mut dyn FnMut(Change, Span) -> Result<Option<Change>, String>,
) -> Result<Manifest, ReadSplitError> {
    let mut splitter = Splitter::default();
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadSplitError::Io(e)),
        };
        splitter.feed(&buf[..n], &mut |text, span| {
            let change: Change =
                serde_json::from_slice(text).map_err(|e| ReadSplitError::Change(span, e))?;
            if let Some(c) = each(change, span).map_err(ReadSplitError::Refused)? {
                kept.push(c);
            }
            Ok(())
        })?;
    }
    if splitter.mode != Mode::Header {
        return Err(ReadSplitError::Syntax(splitter.pos));
    }
    let mut m: Manifest =
        serde_json::from_slice(&splitter.header).map_err(ReadSplitError::Header)?;
    if !m.changes.is_empty() {
        // `changes` was not found where the splitter looks: these were parsed with the
        // header, and have no span.
        return Err(ReadSplitError::ChangesKey);
    }
    m.warnings = Vec::new();
    m.changes = kept;
    Ok(m)
}

/// Why [`read_split`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadSplitError {
    #[error("{0}")]
    Io(#[source] std::io::Error),
    #[error("the change at byte {offset} is not one: {source}", offset = .0.offset, source = .1)]
    Change(Span, #[source] serde_json::Error),
    #[error("{0}")]
    Header(#[source] serde_json::Error),
    #[error("malformed JSON in or around `changes` at byte {0}")]
    Syntax(u64),
    #[error("its `changes` key is written with escapes, which apply does not read")]
    ChangesKey,
    /// `each` said no.
    #[error("{0}")]
    Refused(String),
}

/// What [`Splitter`] hands each change to: its JSON text and where it is.
type OnChange<'a> = dyn FnMut(&[u8], Span) -> Result<(), ReadSplitError> + 'a;

/// Where [`Splitter`] is in the manifest's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Mode {
    /// Outside `changes`: bytes go to the header.
    #[default]
    Header,
    /// Inside the `changes` array, between elements.
    Array(Between),
    /// Inside a change.
    Change,
}

/// What may come next between the elements of `changes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Between {
    /// `{` or `]`.
    First,
    /// `,` or `]`.
    AfterChange,
    /// `{`.
    AfterComma,
}

/// Splits a manifest's JSON text, fed in blocks, into its changes and the rest. It follows
/// only what decides where values begin and end (strings and their escapes, nesting) and,
/// between changes, allows exactly what JSON allows; everything else is left to the strict
/// parse of each part. The value of the top-level key `changes` (written plainly, as `plan`
/// writes it) is the array split.
#[derive(Debug, Default)]
struct Splitter {
    header: Vec<u8>,
    change: Vec<u8>,
    change_start: u64,
    pos: u64,
    mode: Mode,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// In the top-level object: the next string is a key.
    expect_key: bool,
    /// The key being read, at the top level.
    key: Option<Vec<u8>>,
    /// The last top-level key was `changes` and its value has not begun.
    changes_next: bool,
}

impl Splitter {
    fn feed(&mut self, bytes: &[u8], each: &mut OnChange<'_>) -> Result<(), ReadSplitError> {
        for &b in bytes {
            let pos = self.pos;
            self.pos += 1;
            if self.in_string {
                match self.mode {
                    Mode::Change => self.change.push(b),
                    _ => self.header.push(b),
                }
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if let Some(key) = self.key.take() {
                        self.changes_next = key == b"changes";
                    }
                } else if let Some(key) = &mut self.key {
                    key.push(b);
                }
                continue;
            }
            match self.mode {
                Mode::Header => {
                    self.header.push(b);
                    let top = self.depth == 1;
                    match b {
                        b'"' => {
                            self.in_string = true;
                            if top && self.expect_key {
                                self.key = Some(Vec::new());
                                self.expect_key = false;
                            } else if top {
                                self.changes_next = false;
                            }
                        }
                        b'[' if top && self.changes_next => {
                            self.changes_next = false;
                            self.depth += 1;
                            self.mode = Mode::Array(Between::First);
                        }
                        b'{' | b'[' => {
                            self.changes_next = false;
                            self.depth += 1;
                            self.expect_key = self.depth == 1;
                        }
                        b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                        b',' if top => self.expect_key = true,
                        b' ' | b'\t' | b'\r' | b'\n' | b':' => {}
                        _ if top => self.changes_next = false,
                        _ => {}
                    }
                }
                Mode::Array(between) => match (between, b) {
                    (_, b' ' | b'\t' | b'\r' | b'\n') => {}
                    (Between::First | Between::AfterComma, b'{') => {
                        self.change.clear();
                        self.change.push(b);
                        self.change_start = pos;
                        self.depth += 1;
                        self.mode = Mode::Change;
                    }
                    (Between::First | Between::AfterChange, b']') => {
                        self.header.push(b);
                        self.depth -= 1;
                        self.mode = Mode::Header;
                    }
                    (Between::AfterChange, b',') => self.mode = Mode::Array(Between::AfterComma),
                    _ => return Err(ReadSplitError::Syntax(pos)),
                },
                Mode::Change => {
                    self.change.push(b);
                    match b {
                        b'"' => self.in_string = true,
                        b'{' | b'[' => self.depth += 1,
                        b'}' | b']' => {
                            self.depth -= 1;
                            if self.depth == 2 {
                                let span = Span {
                                    offset: self.change_start,
                                    len: self.change.len() as u64,
                                };
                                each(&self.change, span)?;
                                self.mode = Mode::Array(Between::AfterChange);
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
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

#[cfg(test)]
mod split_tests {
    use super::*;

    /// A reader giving `n` bytes at a time, to split across every boundary.
    struct Trickle<'a>(&'a [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn manifest() -> Manifest {
        let edit = |path: &str, before: Option<&[u8]>, after: &[u8]| {
            Change::Edit(Edit::new(
                path.into(),
                "a \"reason\" with ] and } and {\\".into(),
                0o600,
                before,
                after,
                "--- a\n+++ b\n-\"changes\": [\n".into(),
            ))
        };
        Manifest {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            tool_version: "0".into(),
            created_at: chrono::DateTime::UNIX_EPOCH,
            store: "/s".into(),
            summary: Summary::default(),
            inventory: None,
            tail: None,
            survivors: None,
            warnings: vec![Warning {
                code: crate::store::report::WarningCode::RaftStateUnreadable,
                path: Some("x".into()),
                message: "\"changes\": [{}]".into(),
            }],
            changes: vec![
                edit(
                    "jetstream/A/streams/S/meta.inf",
                    Some(b"{\"a\":[1]}"),
                    b"{}",
                ),
                edit("jetstream/A/streams/S/meta.sum", None, &[0xff, b'"', b'\\']),
                Change::Mkdir(Mkdir {
                    path: "jetstream/A/streams/S/obs".into(),
                    reason: "[{".into(),
                    mode: 0o750,
                }),
            ],
        }
    }

    fn split(bytes: &[u8], step: usize) -> Result<(Manifest, Vec<Span>), ReadSplitError> {
        let mut spans = Vec::new();
        let m = read_split(Trickle(bytes, step), &mut |c, span| {
            spans.push(span);
            Ok(Some(c))
        })?;
        Ok((m, spans))
    }

    #[test]
    fn changes_come_one_by_one_with_where_they_are() {
        let m = manifest();
        let mut pretty = Vec::new();
        m.write_to(&mut pretty).unwrap();
        let compact = serde_json::to_vec(&m).unwrap();
        for bytes in [pretty, compact] {
            for step in [1, 7, 1 << 16] {
                let (read, spans) = split(&bytes, step).unwrap();
                assert_eq!(read.changes, m.changes);
                assert!(read.warnings.is_empty(), "warnings are checked and dropped");
                assert_eq!(read.store, m.store);
                for (span, change) in spans.iter().zip(&m.changes) {
                    let text = &bytes[span.offset as usize..(span.offset + span.len) as usize];
                    assert_eq!(&serde_json::from_slice::<Change>(text).unwrap(), change);
                }
            }
        }
    }

    #[test]
    fn written_in_parts_as_serde_writes_the_whole() {
        let mut m = manifest();
        for _ in 0..2 {
            let mut parts = Vec::new();
            m.write_to(&mut parts).unwrap();
            let mut whole = serde_json::to_vec_pretty(&m).unwrap();
            whole.push(b'\n');
            assert_eq!(
                String::from_utf8(parts).unwrap(),
                String::from_utf8(whole).unwrap()
            );
            m.changes.clear();
        }
    }

    #[test]
    fn what_is_not_json_or_not_a_plan_is_refused() {
        let m = manifest();
        let good = String::from_utf8(serde_json::to_vec(&m).unwrap()).unwrap();
        let (first, rest) = good.split_once("},{").unwrap();
        let bad = [
            format!("{first}}} x {{{rest}"),
            format!("{first}}},,{{{rest}"),
            good.replace("}]}", "},]}"),
            good.replace("\"changes\":[", "\"changes\":[1,"),
            good.replace("\"changes\":[", "\"chang\\u0065s\":["),
            good.replace("\"changes\":[", "\"changes\":[],\"changes\":["),
            good.replace("\"store\":\"/s\"", "\"store\":\"/s\",\"extra\":1"),
            good[..good.len() - 2].to_string(),
            good[..good.len() / 2].to_string(),
            String::new(),
            "[]".into(),
            "{\"changes\":[{}]}".into(),
        ];
        for text in bad {
            assert!(split(text.as_bytes(), 3).is_err(), "accepted: {text}");
        }
        assert!(matches!(
            split(
                good.replace("\"changes\":[", "\"chang\\u0065s\":[")
                    .as_bytes(),
                5
            ),
            Err(ReadSplitError::ChangesKey)
        ));
    }
}
