//! The backup directory: everything a rollback needs, and nothing outside it.
//!
//! # Wire format
//!
//! ```text
//! <backup>/
//!   manifest.json           the plan as applied, byte for byte (its sha256 is in the journal)
//!   journal.jsonl           the hash-chained journal (see [`super::journal`])
//!   snapshot-before.json    metadata of every entry of the store before apply
//!   snapshot-after.json     the same once apply finished
//!   originals.pack          the original bytes of each edited file, each stored once
//!   originals.idx.json      where each original is in the pack, by its SHA-256
//!   removed/<index>/        each removed directory, moved here whole; <index> is the change's
//!                           position in the manifest's `changes`
//!   removed/<index>.partial a copy in progress (only when the backup is on another filesystem)
//!   displaced/              what `rollback --force` moved aside instead of overwriting
//!   standalone.conf         a nats-server config serving the prepared store (after apply;
//!   restore.sh              and the commands that move its streams: see [`super::standalone`])
//! ```
//!
//! The originals are kept content-addressed in one pack rather than one file each: a store
//! has thousands of meta files, and creating thousands of small files costs more than all
//! the rest of apply. `originals.idx.json` (schema `js-recover/originals`, version 1) is
//! `{"schema", "schema_version", "originals": [{"sha256", "offset", "len"}]}`; every slice is
//! verified against its SHA-256 before rollback writes it. The manifest holds a second copy
//! of every original (`before`), verified the same way, used if the pack is damaged.
//!
//! A snapshot (schema `js-recover/snapshot`, version 1) is
//! `{"schema", "schema_version", "taken_at", "store", "entries": [...]}` where each entry is
//! `{"path", "kind", "size", "mtime_ns", "mode", "uid", "gid"}` (see
//! [`crate::store::tree::Entry`]): one `stat` per entry, never file contents, so taking one
//! costs the same whatever the message data weighs.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::durable::{self, own_perms};
use super::error::BackupProblem;
use super::ApplyError;
use crate::plan::manifest::sha256_hex;
use crate::plan::{Change, Manifest};
use crate::store::file::ReadError;
use crate::store::tree::{self, Entry};

pub const SNAPSHOT_SCHEMA: &str = "js-recover/snapshot";

/// Reads `name`, a file of the backup directory at `path`: missing or not a regular file
/// (a FIFO would block), the backup is not usable.
pub fn read_file(
    path: &Path,
    name: &'static str,
) -> Result<(std::fs::Metadata, Vec<u8>), ApplyError> {
    crate::store::file::read_regular(path).map_err(|e| unusable(path, name, e))
}

/// [`read_file`], opened rather than read.
pub fn open_file(path: &Path, name: &'static str) -> Result<std::fs::File, ApplyError> {
    crate::store::file::open_regular(path)
        .map(|(file, _)| file)
        .map_err(|e| unusable(path, name, e))
}

/// Why backup file `name` at `path` could not be read.
fn unusable(path: &Path, name: &'static str, e: ReadError) -> ApplyError {
    let dir = path.parent().unwrap_or(Path::new("/"));
    match e {
        ReadError::NotRegular(kind) => {
            ApplyError::invalid(dir)(BackupProblem::NotRegular { name, kind })
        }
        e if e.is_not_found() => ApplyError::invalid(dir)(BackupProblem::Missing(name)),
        other => ApplyError::io("read", path)(other.into_io()),
    }
}

pub const SNAPSHOT_VERSION: u32 = 1;
pub const SNAPSHOT_BEFORE: &str = "snapshot-before.json";
pub const SNAPSHOT_AFTER: &str = "snapshot-after.json";

#[derive(Debug, Clone)]
pub struct Backup {
    pub root: PathBuf,
}

impl Backup {
    pub fn new(root: PathBuf) -> Backup {
        Backup { root }
    }
    pub fn manifest(&self) -> PathBuf {
        self.root.join("manifest.json")
    }
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }
    pub fn snapshot_before(&self) -> PathBuf {
        self.root.join(SNAPSHOT_BEFORE)
    }
    pub fn snapshot_after(&self) -> PathBuf {
        self.root.join(SNAPSHOT_AFTER)
    }
    pub fn originals_pack(&self) -> PathBuf {
        self.root.join("originals.pack")
    }
    pub fn originals_index(&self) -> PathBuf {
        self.root.join("originals.idx.json")
    }
    pub fn removed_dir(&self) -> PathBuf {
        self.root.join("removed")
    }
    pub fn removed(&self, index: usize) -> PathBuf {
        self.removed_dir().join(index.to_string())
    }
    pub fn removed_partial(&self, index: usize) -> PathBuf {
        self.removed_dir().join(format!("{index}.partial"))
    }
    pub fn displaced(&self) -> PathBuf {
        self.root.join("displaced")
    }
}

pub const ORIGINALS_SCHEMA: &str = "js-recover/originals";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackEntry {
    pub sha256: String,
    pub offset: u64,
    pub len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackIndex {
    pub schema: String,
    pub schema_version: u32,
    pub originals: Vec<PackEntry>,
}

/// Original file contents, each once, addressed by SHA-256.
#[derive(Debug, Default)]
pub struct Originals {
    pack: Vec<u8>,
    index: std::collections::HashMap<String, (usize, usize)>,
}

/// Writes `originals.pack` as the originals come, each distinct one once, and then its
/// index: the originals of tens of thousands of files are never all held.
#[derive(Debug, Default)]
pub struct PackWriter {
    index: std::collections::HashMap<[u8; 32], (u64, u64)>,
    len: u64,
}

impl PackWriter {
    /// Appends `bytes` to the pack `w` unless an identical original is in already.
    pub fn add(&mut self, w: &mut impl std::io::Write, bytes: &[u8]) -> std::io::Result<()> {
        let sha: [u8; 32] = Sha256::digest(bytes).into();
        if let std::collections::hash_map::Entry::Vacant(v) = self.index.entry(sha) {
            w.write_all(bytes)?;
            v.insert((self.len, bytes.len() as u64));
            self.len += bytes.len() as u64;
        }
        Ok(())
    }

    /// How many distinct originals are in.
    pub fn count(&self) -> usize {
        self.index.len()
    }

    /// Writes the index of the pack as a new file (not synced), serialized straight into
    /// it; returns its path.
    pub fn write_index(&self, backup: &Backup) -> Result<PathBuf, ApplyError> {
        /// [`PackIndex`]'s fields, in its order, the entries made as they are written.
        #[derive(Serialize)]
        struct Out<'a> {
            schema: &'a str,
            schema_version: u32,
            originals: Entries<'a>,
        }
        struct Entries<'a>(Vec<(&'a [u8; 32], &'a (u64, u64))>);
        impl Serialize for Entries<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|(sha, (offset, len))| PackEntry {
                    sha256: hex::encode(sha),
                    offset: *offset,
                    len: *len,
                }))
            }
        }
        let mut in_order: Vec<_> = self.index.iter().collect();
        in_order.sort_by_key(|(_, (offset, _))| *offset);
        let index = Out {
            schema: ORIGINALS_SCHEMA,
            schema_version: 1,
            originals: Entries(in_order),
        };
        let path = backup.originals_index();
        durable::write_new_with(&path, own_perms(0o600), |file| {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
            serde_json::to_writer(&mut w, &index)?;
            std::io::Write::flush(&mut w)
        })?;
        Ok(path)
    }
}

impl Originals {
    /// Reads what [`PackWriter`] wrote; a damaged index or pack reads as empty (the
    /// manifest's copies are used instead).
    pub fn read(backup: &Backup) -> Originals {
        let read = |p: PathBuf| crate::store::file::read_regular(&p).ok().map(|(_, b)| b);
        let index: Option<PackIndex> =
            read(backup.originals_index()).and_then(|b| serde_json::from_slice(&b).ok());
        let (Some(index), Some(pack)) = (index, read(backup.originals_pack())) else {
            return Originals::default();
        };
        let index = index
            .originals
            .into_iter()
            .map(|e| (e.sha256, (e.offset as usize, e.len as usize)))
            .collect();
        Originals { pack, index }
    }

    /// Where the original with this SHA-256 is in the pack: (offset, length).
    pub fn locate(&self, sha256: &str) -> Option<(usize, usize)> {
        self.index.get(sha256).copied()
    }

    /// The original with this SHA-256, if the pack holds it intact.
    pub fn get(&self, sha256: &str) -> Option<&[u8]> {
        let (offset, len) = *self.index.get(sha256)?;
        let bytes = self.pack.get(offset..offset.checked_add(len)?)?;
        (sha256_hex(bytes) == sha256).then_some(bytes)
    }
}

/// The default backup directory: beside the store, on the same filesystem, named with the
/// UTC time (`/srv/survivor.js-recover-20261121T120000Z`).
pub fn default_dir(store: &Path, now: chrono::DateTime<chrono::Utc>) -> PathBuf {
    let name = store
        .file_name()
        .map_or_else(|| "store".into(), |n| n.to_string_lossy().into_owned());
    let parent = store.parent().unwrap_or(Path::new("/"));
    let stem = format!("{name}.js-recover-{}", now.format("%Y%m%dT%H%M%SZ"));
    let mut candidate = parent.join(&stem);
    let mut n = 2;
    while candidate.exists() {
        candidate = parent.join(format!("{stem}-{n}"));
        n += 1;
    }
    candidate
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub schema: String,
    pub schema_version: u32,
    pub taken_at: chrono::DateTime<chrono::Utc>,
    pub store: String,
    pub entries: Vec<Entry>,
}

impl Snapshot {
    pub fn take(store: &Path) -> Result<Snapshot, ApplyError> {
        Ok(Snapshot {
            schema: SNAPSHOT_SCHEMA.into(),
            schema_version: SNAPSHOT_VERSION,
            taken_at: crate::clock::now(),
            store: store.display().to_string(),
            entries: tree::list(store)?,
        })
    }

    /// Writes the snapshot as a new file (not synced), serialized straight into it, and
    /// returns its SHA-256.
    pub fn write(&self, path: &Path) -> Result<String, ApplyError> {
        write_snapshot(
            path,
            &self.store,
            self.taken_at,
            self.entries.iter().map(Cow::Borrowed),
        )
    }

    /// Reads snapshot `name` of a backup, verifying it against the SHA-256 the journal
    /// recorded (none: a journal that lost it, for `rollback --force`).
    pub fn read(
        path: &Path,
        name: &'static str,
        sha256: Option<&str>,
    ) -> Result<Snapshot, ApplyError> {
        let mut entries = Vec::new();
        let header = read_each(path, name, sha256, &mut |e| entries.push(e))?;
        Ok(Snapshot { entries, ..header })
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.path.as_str().cmp(path))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The names directly inside directory `dir` ("" for the store root), from the sorted
    /// entries (no map of every directory is built: a rollback asks for a few).
    pub fn children_of(&self, dir: &str) -> std::collections::BTreeSet<&str> {
        let (inside, skip) = if dir.is_empty() {
            (&self.entries[..], 0)
        } else {
            let prefix = format!("{dir}/");
            let start = self
                .entries
                .partition_point(|e| e.path.as_str() < prefix.as_str());
            let len = self.entries[start..]
                .iter()
                .take_while(|e| e.path.starts_with(&prefix))
                .count();
            (&self.entries[start..start + len], prefix.len())
        };
        inside
            .iter()
            .map(|e| &e.path[skip..])
            .filter(|name| !name.contains('/'))
            .collect()
    }
}

/// Writes the `after` snapshot, the store once `m` is carried out, as a new file at
/// `path` (not synced), and returns its SHA-256. It is the `before` snapshot (the file at
/// `before`, which must hash to `before_sha256`), merged as it is read and written with a
/// `stat` of each entry apply changed (`dirs`: the directories whose entries it renamed;
/// `known`: files whose metadata apply has already, by path): no second walk of the whole
/// store, and no listing of it in memory.
pub fn write_after(
    before: &Path,
    before_sha256: &str,
    root: &Path,
    m: &Manifest,
    dirs: &[PathBuf],
    known: &std::collections::HashMap<&str, &Entry>,
    path: &Path,
) -> Result<String, ApplyError> {
    /// A changed entry: its metadata at hand, or to be read when it is written.
    enum Now<'k> {
        Known(&'k Entry),
        Listed(Entry),
        Stat,
    }
    let removed: Vec<&str> = m
        .changes
        .iter()
        .filter(|c| matches!(c, Change::Remove(_)))
        .map(Change::path)
        .collect();
    let gone = |p: &str| {
        removed
            .iter()
            .any(|r| p == *r || (p.starts_with(r) && p.as_bytes()[r.len()] == b'/'))
    };
    // What apply changed, by path.
    let mut changed: Vec<(Cow<'_, str>, Now<'_>)> = Vec::new();
    // A directory copied in: every entry of it.
    for c in &m.changes {
        let Change::Copy(c) = c else { continue };
        let dest = root.join(&c.path);
        let top = Entry::stat(&dest, c.path.clone())?;
        changed.push((Cow::Borrowed(c.path.as_str()), Now::Listed(top)));
        for e in crate::store::tree::list(&dest)? {
            let rel = format!("{}/{}", c.path, e.path);
            changed.push((Cow::Owned(rel), Now::Listed(e)));
        }
    }
    for c in &m.changes {
        if let Change::Edit(_) | Change::Mkdir(_) = c {
            let now = known.get(c.path()).map_or(Now::Stat, |k| Now::Known(k));
            changed.push((Cow::Borrowed(c.path()), now));
        }
    }
    for d in dirs {
        let Ok(rel) = d.strip_prefix(root) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        if !rel.is_empty() {
            changed.push((Cow::Owned(rel), Now::Stat));
        }
    }
    // In path order, each path once (the first: listed or known before read).
    changed.sort_by(|a, b| a.0.cmp(&b.0));
    changed.dedup_by(|later, first| later.0 == first.0);
    // Ours to remove if the snapshot is cut short.
    let ours = std::fs::symlink_metadata(path).is_err();
    let mut failed = None;
    let mut now = |(rel, now): (Cow<'_, str>, Now<'_>)| -> Option<Entry> {
        let path = rel.into_owned();
        match now {
            Now::Known(k) => Some(Entry { path, ..k.clone() }),
            Now::Listed(e) => Some(Entry { path, ..e }),
            Now::Stat => match Entry::stat(&root.join(&path), path) {
                Ok(e) => Some(e),
                Err(e) => {
                    failed = Some(ApplyError::from(e));
                    None
                }
            },
        }
    };
    // The `before` entries come from a reader thread, a few thousand at a time.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Entry>(4096);
    let (read, written) = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            read_each(before, "before", Some(before_sha256), &mut |e| {
                // The writer stopped (its error is reported): the rest is only read.
                let _ = tx.send(e);
            })
        });
        // Merged: a changed entry takes the place of the one at its path. The merge owns
        // the receiving end: once the writer is done (or stopped), it is dropped, and a
        // reader still sending gets an error rather than waiting for ever.
        let mut changed = changed.into_iter().peekable();
        let mut before = rx.into_iter().filter(|e| !gone(&e.path)).peekable();
        let merged = std::iter::from_fn(move || match (before.peek(), changed.peek()) {
            (Some(b), Some(c)) if *c.0 < *b.path => changed.next().and_then(&mut now),
            (Some(b), Some(c)) if *c.0 == *b.path => {
                before.next();
                changed.next().and_then(&mut now)
            }
            (Some(_), _) => before.next(),
            (None, _) => changed.next().and_then(&mut now),
        })
        .map(Cow::Owned);
        let written = write_snapshot(
            path,
            &root.display().to_string(),
            crate::clock::now(),
            merged,
        );
        (
            reader.join().expect("the snapshot reader panicked"),
            written,
        )
    });
    let outcome = failed.map_or(read.map(|_| ()), Err).and(written);
    if outcome.is_err() && ours {
        // Cut short: no `after` snapshot rather than part of one.
        let _ = std::fs::remove_file(path);
    }
    outcome
}

/// Writes a snapshot of `store` taken at `taken_at` with `entries` (sorted by path) as a
/// new file at `path` (not synced), serialized as it goes: the one writer of the format.
/// Returns its SHA-256.
fn write_snapshot<'e>(
    path: &Path,
    store: &str,
    taken_at: chrono::DateTime<chrono::Utc>,
    entries: impl Iterator<Item = Cow<'e, Entry>>,
) -> Result<String, ApplyError> {
    /// [`Snapshot`]'s fields, in its order, the entries from an iterator.
    #[derive(Serialize)]
    #[serde(bound(serialize = "Each<I>: Serialize"))]
    struct Out<'a, I> {
        schema: &'a str,
        schema_version: u32,
        taken_at: chrono::DateTime<chrono::Utc>,
        store: &'a str,
        entries: Each<I>,
    }
    struct Each<I>(std::cell::RefCell<Option<I>>);
    impl<I: Iterator<Item = T>, T: Serialize> Serialize for Each<I> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.borrow_mut().take().expect("serialized once"))
        }
    }
    let out = Out {
        schema: SNAPSHOT_SCHEMA,
        schema_version: SNAPSHOT_VERSION,
        taken_at,
        store,
        entries: Each(std::cell::RefCell::new(Some(entries))),
    };
    let mut sha256 = None;
    durable::write_new_with(path, own_perms(0o600), |file| {
        let mut w = super::check::Hashed::new(std::io::BufWriter::with_capacity(1 << 16, file));
        serde_json::to_writer(&mut w, &out)?;
        std::io::Write::flush(&mut w)?;
        sha256 = Some(w.finish().1);
        Ok(())
    })?;
    Ok(sha256.expect("written"))
}

/// `a/b/c` -> `a/b`; `a` -> ``.
pub fn parent_of(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(p, _)| p)
}

/// How two listings of the store differ, for a person: `created`, `modified`, `missing`.
/// Files differ by size, time, mode or owner; directories only by existence, mode or owner
/// (their times move whenever an entry inside them changes).
pub fn differences(expected: &[Entry], now: &[Entry]) -> Vec<String> {
    let mut d = Differences::new(now);
    for x in expected {
        d.expected(x);
    }
    d.finish()
}

/// [`differences`] as the expected entries come, in order (from a snapshot being read).
pub struct Differences<'a> {
    now: std::iter::Peekable<std::slice::Iter<'a, Entry>>,
    out: Vec<String>,
}

impl<'a> Differences<'a> {
    pub fn new(now: &'a [Entry]) -> Self {
        Differences {
            now: now.iter().peekable(),
            out: Vec::new(),
        }
    }

    /// The next expected entry (by path, after the one before).
    pub fn expected(&mut self, x: &Entry) {
        while let Some(y) = self.now.next_if(|y| y.path < x.path) {
            self.out.push(format!("created   {}", y.path));
        }
        match self.now.next_if(|y| y.path == x.path) {
            Some(y) => {
                let same = x.kind == y.kind
                    && x.mode == y.mode
                    && x.uid == y.uid
                    && x.gid == y.gid
                    && (x.kind == 'd' || (x.size == y.size && x.mtime_ns == y.mtime_ns));
                if !same {
                    self.out.push(format!("modified  {}", y.path));
                }
            }
            None => self.out.push(format!("missing   {}", x.path)),
        }
    }

    pub fn finish(mut self) -> Vec<String> {
        for y in self.now {
            self.out.push(format!("created   {}", y.path));
        }
        self.out
    }
}

/// How snapshot `name` at `path` (its SHA-256 verified as [`Snapshot::read`] verifies it)
/// differs from `now` (see [`differences`]): read entry by entry, never held whole.
pub fn differences_from(
    path: &Path,
    name: &'static str,
    sha256: &str,
    now: &[Entry],
) -> Result<Vec<String>, ApplyError> {
    let mut d = Differences::new(now);
    read_each(path, name, Some(sha256), &mut |e| d.expected(&e))?;
    Ok(d.finish())
}

/// Reads snapshot `name` at `path` entry by entry into `each`, verifying it against
/// `sha256` once all is read (use what `each` made only when this succeeds), and its
/// schema: the one reader of the format. Returns the snapshot without its entries.
pub fn read_each(
    path: &Path,
    name: &'static str,
    sha256: Option<&str>,
    each: &mut dyn FnMut(Entry),
) -> Result<Snapshot, ApplyError> {
    use serde::de::DeserializeSeed as _;
    let invalid = ApplyError::invalid(path.parent().unwrap_or(Path::new("/")));
    let file = open_file(path, name)?;
    let mut hashed = super::check::HashedRead::new(file);
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(
        1 << 16,
        &mut hashed,
    ));
    let read = each_entry::Seed(each)
        .deserialize(&mut de)
        .and_then(|header| de.end().map(|()| header));
    // Whatever is left, so that the hash covers the file.
    let rest = std::io::copy(&mut hashed, &mut std::io::sink());
    let (_, sha) = hashed.finish();
    if sha256.is_some_and(|want| sha != want) {
        return Err(invalid(BackupProblem::SnapshotChanged(name)));
    }
    rest.map_err(ApplyError::io("read", path))?;
    let header =
        read.map_err(|source| invalid(BackupProblem::SnapshotUnreadable { name, source }))?;
    if header.schema != SNAPSHOT_SCHEMA || header.schema_version != SNAPSHOT_VERSION {
        return Err(invalid(BackupProblem::SnapshotSchema {
            schema: header.schema,
            version: header.schema_version,
        }));
    }
    Ok(header)
}

/// The visitor behind [`read_each`]: a [`Snapshot`]'s fields, checked as its derived
/// `Deserialize` checks them, the entries handed on one by one.
mod each_entry {
    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess};

    use super::{Entry, Snapshot};

    pub struct Seed<'a>(pub &'a mut dyn FnMut(Entry));

    const FIELDS: &[&str] = &["schema", "schema_version", "taken_at", "store", "entries"];

    impl<'de> DeserializeSeed<'de> for Seed<'_> {
        /// The snapshot without its entries.
        type Value = Snapshot;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Snapshot, D::Error> {
            d.deserialize_struct("Snapshot", FIELDS, self)
        }
    }

    fn once<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, v: T) -> Result<(), E> {
        match slot.replace(v) {
            Some(_) => Err(E::duplicate_field(name)),
            None => Ok(()),
        }
    }

    impl<'de> de::Visitor<'de> for Seed<'_> {
        type Value = Snapshot;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a js-recover snapshot")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Snapshot, A::Error> {
            let (mut schema, mut version) = (None, None);
            let (mut taken_at, mut store, mut entries) = (None, None, None);
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "schema" => once(&mut schema, "schema", map.next_value::<String>()?)?,
                    "schema_version" => {
                        once(&mut version, "schema_version", map.next_value::<u32>()?)?
                    }
                    "taken_at" => once(
                        &mut taken_at,
                        "taken_at",
                        map.next_value::<chrono::DateTime<chrono::Utc>>()?,
                    )?,
                    "store" => once(&mut store, "store", map.next_value::<String>()?)?,
                    "entries" => once(
                        &mut entries,
                        "entries",
                        map.next_value_seed(Entries(&mut *self.0))?,
                    )?,
                    other => return Err(de::Error::unknown_field(other, FIELDS)),
                }
            }
            let missing = de::Error::missing_field;
            entries.ok_or_else(|| missing("entries"))?;
            Ok(Snapshot {
                schema: schema.ok_or_else(|| missing("schema"))?,
                schema_version: version.ok_or_else(|| missing("schema_version"))?,
                taken_at: taken_at.ok_or_else(|| missing("taken_at"))?,
                store: store.ok_or_else(|| missing("store"))?,
                entries: Vec::new(),
            })
        }
    }

    struct Entries<'a, 'b>(&'a mut (dyn FnMut(Entry) + 'b));

    impl<'de> DeserializeSeed<'de> for Entries<'_, '_> {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }

    impl<'de> de::Visitor<'de> for Entries<'_, '_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of entries")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(e) = seq.next_element::<Entry>()? {
                (self.0)(e);
            }
            Ok(())
        }
    }
}

/// Entries of `expected` that `now` lacks or holds as another kind, for a person.
pub fn missing_or_retyped(expected: &[Entry], now: &[Entry]) -> Vec<String> {
    let kinds: std::collections::HashMap<&str, char> =
        now.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    expected
        .iter()
        .filter_map(|e| match kinds.get(e.path.as_str()) {
            None => Some(format!("missing   {}", e.path)),
            Some(k) if *k != e.kind => Some(format!("retyped   {}", e.path)),
            Some(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, size: u64) -> Entry {
        Entry {
            path: path.into(),
            kind: 'f',
            size,
            mtime_ns: 1,
            mode: 0o100600,
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn differences_name_created_modified_and_missing() {
        let before = vec![e("a", 1), e("b", 1), e("d", 1)];
        let after = vec![e("a", 1), e("b", 2), e("c", 1)];
        assert_eq!(
            differences(&before, &after),
            ["modified  b", "created   c", "missing   d"]
        );
    }

    #[test]
    fn default_dir_is_beside_the_store_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("survivor");
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-21T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let first = default_dir(&store, t);
        assert_eq!(
            first,
            dir.path().join("survivor.js-recover-20261121T120000Z")
        );
        std::fs::create_dir(&first).unwrap();
        assert_eq!(
            default_dir(&store, t),
            dir.path().join("survivor.js-recover-20261121T120000Z-2")
        );
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;

    fn entry(path: &str) -> Entry {
        Entry {
            path: path.into(),
            kind: 'f',
            size: 3,
            mtime_ns: -5,
            mode: 0o100640,
            uid: 1,
            gid: 2,
        }
    }

    #[test]
    fn a_snapshot_reads_back_as_written_or_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let snap = Snapshot {
            schema: SNAPSHOT_SCHEMA.into(),
            schema_version: SNAPSHOT_VERSION,
            taken_at: chrono::DateTime::UNIX_EPOCH,
            store: "/s".into(),
            entries: vec![entry("a"), entry("a/b \"q\""), entry("c")],
        };
        let path = dir.path().join("snap.json");
        let sha = snap.write(&path).unwrap();
        assert_eq!(
            Snapshot::read(&path, SNAPSHOT_BEFORE, Some(&sha)).unwrap(),
            snap
        );
        assert_eq!(Snapshot::read(&path, SNAPSHOT_BEFORE, None).unwrap(), snap);
        // Compared as read: what differs from a listing.
        let now = [entry("a"), entry("b")];
        assert_eq!(
            differences_from(&path, SNAPSHOT_AFTER, &sha, &now).unwrap(),
            differences(&snap.entries, &now)
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let refused = |text: String, sha: Option<&str>| {
            std::fs::write(&path, text).unwrap();
            match Snapshot::read(&path, SNAPSHOT_BEFORE, sha).unwrap_err() {
                ApplyError::BackupInvalid { problem, .. } => problem,
                e => panic!("{e}"),
            }
        };
        assert!(matches!(
            refused(text.replace("\"c\"", "\"d\""), Some(&sha)),
            BackupProblem::SnapshotChanged(_)
        ));
        for bad in [
            text.replace("\"store\"", "\"extra\":1,\"store\""),
            text.replace("\"store\":\"/s\"", "\"store\":\"/s\",\"store\":\"/t\""),
            text.replace(",\"store\":\"/s\"", ""),
            text[..text.len() - 1].to_string(),
            text.clone() + "x",
        ] {
            assert!(
                matches!(refused(bad, None), BackupProblem::SnapshotUnreadable { .. }),
                "accepted"
            );
        }
        assert!(matches!(
            refused(
                text.replace("\"schema_version\":1", "\"schema_version\":9"),
                None
            ),
            BackupProblem::SnapshotSchema { version: 9, .. }
        ));
    }
}

#[cfg(test)]
mod after_tests {
    use super::*;

    /// `write_after` on another thread, given at most a minute: a hang is a failure.
    fn after_within_a_minute(
        before: PathBuf,
        sha: String,
        root: PathBuf,
        after: PathBuf,
    ) -> Result<String, ApplyError> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let m = Manifest::empty(&root);
            let known = Default::default();
            let _ = tx.send(write_after(&before, &sha, &root, &m, &[], &known, &after));
        });
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .expect("write_after hung")
    }

    #[test]
    fn the_after_snapshot_is_the_before_merged_or_nothing_and_never_hangs() {
        let dir = tempfile::tempdir().unwrap();
        // More entries than the reader hands over at once.
        let entries: Vec<Entry> = (0..10_000)
            .map(|i| Entry {
                path: format!("f{i:05}"),
                kind: 'f',
                size: i,
                mtime_ns: 1,
                mode: 0o100600,
                uid: 0,
                gid: 0,
            })
            .collect();
        let before = dir.path().join("before.json");
        let root = dir.path().join("store");
        let snap = Snapshot {
            schema: SNAPSHOT_SCHEMA.into(),
            schema_version: SNAPSHOT_VERSION,
            taken_at: chrono::DateTime::UNIX_EPOCH,
            store: root.display().to_string(),
            entries,
        };
        let sha = snap.write(&before).unwrap();
        // Nothing changed: the same entries.
        let after = dir.path().join("after.json");
        after_within_a_minute(before.clone(), sha.clone(), root.clone(), after.clone()).unwrap();
        let read = Snapshot::read(&after, "after", None).unwrap();
        assert_eq!(read.entries, snap.entries);
        // The writer fails at once (no such directory): an error, promptly, no file.
        let nowhere = dir.path().join("missing/after.json");
        assert!(
            after_within_a_minute(before.clone(), sha.clone(), root.clone(), nowhere.clone())
                .is_err()
        );
        assert!(!nowhere.exists());
        // The before snapshot changed: refused, and no after snapshot left.
        let again = dir.path().join("after2.json");
        let wrong = "0".repeat(64);
        assert!(after_within_a_minute(before, wrong, root, again.clone()).is_err());
        assert!(!again.exists());
    }
}
