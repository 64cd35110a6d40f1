//! What apply checks before it writes anything: that the manifest is one `plan` could have
//! written (safe paths, consistent hashes), and that the store is still exactly what the plan
//! saw.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::{Found, ManifestProblem, Mismatch};
use super::ApplyError;
use crate::plan::manifest::{sha256_hex, Span, SCHEMA, SCHEMA_VERSIONS};
use crate::plan::{Change, Manifest};
use crate::store::file::{FileKind, Input, ReadError};
use crate::store::tree::{self, Entry};
use crate::store::JETSTREAM_DIR;

/// A manifest, checked, with where its exact bytes are and their SHA-256.
///
/// A manifest read from bytes keeps its edits without their text (`before`, `after`, their
/// base64 forms, `reason` and `diff`: together nearly all of a manifest, tens of megabytes
/// at thousands of streams). [`Loaded::edits`] reads an edit whole again when it is needed,
/// from the plan file until apply has its copy in the backup, then from that copy, and
/// checks it against what was loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    /// Where each change is in the bytes, and how long each edit's files are.
    texts: Vec<Text>,
    /// Where the bytes are, for the copy apply keeps in the backup.
    pub source: Source,
    /// Their length and SHA-256 (the journal names the plan by it).
    pub len: u64,
    pub sha256: String,
    pub store: PathBuf,
    /// The copy [`Loaded::write_copy`] made, read from then on.
    copy: std::sync::OnceLock<PathBuf>,
}

/// Where one change is in a manifest's bytes, and (an edit) its files' lengths.
#[derive(Debug, Clone, Copy)]
struct Text {
    span: Span,
    lengths: Lengths,
}

/// How long an edit's file is before (0: it does not exist) and after.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lengths {
    pub before: u64,
    pub after: u64,
}

/// Where a manifest's exact bytes are. A manifest is tens of megabytes at thousands of
/// streams, so only one read from a pipe is held in memory.
#[derive(Debug, Clone)]
pub enum Source {
    /// Read from a pipe.
    Held(Vec<u8>),
    /// A regular file: read again for the copy, which must hash the same.
    File(PathBuf),
}

/// How a manifest read from a pipe is named in errors.
const PIPED: &str = "(the plan read from a pipe)";

/// Parses and validates the manifest `r` gives (read from `path`, named in errors), in
/// about the memory of what [`Loaded`] keeps (see [`crate::plan::manifest::read_split`]);
/// `source` says where its bytes are found again.
fn load(path: &Path, r: impl std::io::Read, source: Source) -> Result<Loaded, ApplyError> {
    use crate::plan::manifest::ReadSplitError;
    let bad = |problem: ManifestProblem| ApplyError::Manifest {
        path: path.to_path_buf(),
        problem,
    };
    let mut hashed = HashedRead::new(r);
    let mut texts = Vec::new();
    let mut problem = None;
    let read = crate::plan::manifest::read_split(&mut hashed, &mut |change, span| {
        let lengths = match &change {
            Change::Edit(e) => match check_text(e) {
                Ok(lengths) => lengths,
                Err(p) => {
                    let said = p.to_string();
                    problem = Some(p);
                    return Err(said);
                }
            },
            _ => Lengths::default(),
        };
        texts.push(Text { span, lengths });
        Ok(Some(match change {
            Change::Edit(e) => Change::Edit(crate::plan::Edit {
                before: None,
                before_base64: None,
                after: None,
                after_base64: None,
                reason: String::new(),
                diff: String::new(),
                ..e
            }),
            other => other,
        }))
    });
    let manifest = match (read, problem) {
        (_, Some(problem)) => return Err(bad(problem)),
        (Err(ReadSplitError::Io(e)), None) => return Err(ApplyError::io("read", path)(e)),
        (Err(e), None) => return Err(bad(ManifestProblem::NotJson(e))),
        (Ok(m), None) => m,
    };
    let (len, sha256) = hashed.finish();
    checked(path, manifest, texts, source, len, sha256)
}

/// A reader that hashes and counts what goes through it.
pub struct HashedRead<R> {
    inner: R,
    hasher: sha2::Sha256,
    len: u64,
}

impl<R> HashedRead<R> {
    pub fn new(inner: R) -> Self {
        HashedRead {
            inner,
            hasher: sha2::Digest::new(),
            len: 0,
        }
    }

    /// The length and SHA-256 (hex) of everything read.
    pub fn finish(self) -> (u64, String) {
        (self.len, hex::encode(sha2::Digest::finalize(self.hasher)))
    }
}

impl<R: std::io::Read> std::io::Read for HashedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Loads the regular file `path` (a backup's manifest).
pub fn load_file(path: &Path, file: std::fs::File) -> Result<Loaded, ApplyError> {
    load(path, file, Source::File(path.to_path_buf()))
}

fn checked(
    path: &Path,
    manifest: Manifest,
    texts: Vec<Text>,
    source: Source,
    len: u64,
    sha256: String,
) -> Result<Loaded, ApplyError> {
    let bad = |problem: ManifestProblem| ApplyError::Manifest {
        path: path.to_path_buf(),
        problem,
    };
    if manifest.schema != SCHEMA || !SCHEMA_VERSIONS.contains(&manifest.schema_version) {
        return Err(bad(ManifestProblem::Schema {
            schema: manifest.schema,
            version: manifest.schema_version,
        }));
    }
    validate(&manifest).map_err(bad)?;
    Ok(Loaded {
        store: PathBuf::from(&manifest.store),
        texts,
        source,
        len,
        sha256,
        manifest,
        copy: std::sync::OnceLock::new(),
    })
}

/// An edit's bytes match its hashes and decode: the lengths of its files.
fn check_text(e: &crate::plan::Edit) -> Result<Lengths, ManifestProblem> {
    let path = e.path.as_str();
    let base64 = |source| ManifestProblem::Base64 {
        path: path.into(),
        source,
    };
    let after = e.after_bytes().map_err(base64)?;
    if sha256_hex(&after) != e.after_sha256 {
        return Err(ManifestProblem::AfterHash(path.into()));
    }
    let before = e.before_bytes().map_err(base64)?;
    if before.as_deref().map(sha256_hex) != e.before_sha256 {
        return Err(ManifestProblem::BeforeHash(path.into()));
    }
    Ok(Lengths {
        before: before.map_or(0, |b| b.len() as u64),
        after: after.len() as u64,
    })
}

/// A writer that hashes and counts what goes through it.
pub struct Hashed<W> {
    inner: W,
    hasher: sha2::Sha256,
    len: u64,
}

impl<W: std::io::Write> Hashed<W> {
    pub fn new(inner: W) -> Self {
        Hashed {
            inner,
            hasher: sha2::Digest::new(),
            len: 0,
        }
    }

    /// The length and SHA-256 (hex) of everything written.
    pub fn finish(self) -> (u64, String) {
        (self.len, hex::encode(sha2::Digest::finalize(self.hasher)))
    }
}

impl<W: std::io::Write> std::io::Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Loaded {
    /// Writes the manifest's exact bytes to the new file `dest` (not made durable here).
    /// A plan file that changed since it was loaded (its bytes, or what it is: a link, a
    /// FIFO, gone) is refused; on any failure `dest` is removed.
    pub fn write_copy(&self, dest: &Path) -> Result<(), ApplyError> {
        // `dest` is created new: one that is there already is not this call's to remove.
        let ours = std::fs::symlink_metadata(dest).is_err();
        let written = self.copy_into(dest);
        if written.is_err() && ours {
            let _ = std::fs::remove_file(dest);
        }
        let (len, sha256) = written?;
        if (len, sha256) != (self.len, self.sha256.clone()) {
            let _ = std::fs::remove_file(dest);
            return Err(self.changed());
        }
        let _ = self.copy.set(dest.to_path_buf());
        Ok(())
    }

    /// How long edit `index`'s file is before and after.
    pub fn lengths(&self, index: usize) -> Lengths {
        self.texts[index].lengths
    }

    /// A reader of whole edits (see [`Loaded`]).
    pub fn edits(&self) -> Edits<'_> {
        Edits {
            loaded: self,
            file: None,
            buf: Vec::new(),
        }
    }

    fn changed(&self) -> ApplyError {
        changed_at(match &self.source {
            Source::File(path) => path,
            Source::Held(_) => Path::new(PIPED),
        })
    }

    /// Writes the bytes into the new file `dest`: their length and SHA-256.
    fn copy_into(&self, dest: &Path) -> Result<(u64, String), ApplyError> {
        use std::io::{Read as _, Write as _};
        let perms = super::durable::own_perms(0o600);
        let mut done = None;
        let path = match &self.source {
            Source::Held(bytes) => {
                super::durable::write_new(dest, bytes, perms)?;
                return Ok((self.len, self.sha256.clone()));
            }
            Source::File(path) => path,
        };
        // The regular file it was, never a link or FIFO now, and never more than one byte
        // past its length (that is a change already).
        let from = match crate::store::file::open_regular(path) {
            Ok((from, _)) => from,
            Err(ReadError::NotRegular(_)) => return Err(self.changed()),
            Err(e) if e.is_not_found() => return Err(self.changed()),
            Err(e) => return Err(ApplyError::io("read", path)(e.into_io())),
        };
        let mut from = from.take(self.len + 1);
        let mut read_failed = None;
        let written = super::durable::write_new_with(dest, perms, |file| {
            let mut to = Hashed::new(std::io::BufWriter::with_capacity(1 << 16, file));
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        read_failed = Some(e);
                        return Err(std::io::Error::other("the plan file was not read"));
                    }
                };
                to.write_all(&buf[..n])?;
            }
            to.flush()?;
            done = Some(to.finish());
            Ok(())
        });
        if let Some(e) = read_failed {
            return Err(ApplyError::io("read", path)(e));
        }
        written?;
        Ok(done.expect("written"))
    }
}

/// Reads edits of a [`Loaded`] whole, each checked against what was loaded: a plan file
/// changed since (when apply has no copy of it yet) is refused, never carried out.
pub struct Edits<'a> {
    loaded: &'a Loaded,
    file: Option<std::fs::File>,
    buf: Vec<u8>,
}

impl<'a> Edits<'a> {
    /// Change `index`, which must be an edit, with its text.
    pub fn get(&mut self, index: usize) -> Result<crate::plan::Edit, ApplyError> {
        let loaded = self.loaded;
        let Change::Edit(kept) = &loaded.manifest.changes[index] else {
            panic!("change {index} is not an edit");
        };
        let text = loaded.texts[index];
        let range = text.span.offset as usize..(text.span.offset + text.span.len) as usize;
        // The file read, named if it is not what was loaded.
        let (bytes, read_from) = match (&loaded.source, loaded.copy.get()) {
            (Source::Held(bytes), _) => (bytes.get(range).ok_or_else(|| loaded.changed())?, None),
            // The plan file, or apply's copy of it once there is one.
            (Source::File(path), None) | (_, Some(path)) => {
                let changed = || changed_at(path);
                if self.file.is_none() {
                    let file = match crate::store::file::open_regular(path) {
                        Ok((file, _)) => file,
                        Err(ReadError::NotRegular(_)) => return Err(changed()),
                        Err(e) if e.is_not_found() => return Err(changed()),
                        Err(e) => return Err(ApplyError::io("read", path)(e.into_io())),
                    };
                    self.file = Some(file);
                }
                let file = self.file.as_ref().expect("opened");
                match read_span(file, text.span, &mut self.buf) {
                    Ok(bytes) => (bytes, Some(path)),
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        return Err(changed())
                    }
                    Err(e) => return Err(ApplyError::io("read", path)(e)),
                }
            }
        };
        let changed = || read_from.map_or_else(|| loaded.changed(), |p| changed_at(p));
        let read = match serde_json::from_slice::<Change>(bytes) {
            Ok(Change::Edit(e)) => e,
            _ => return Err(changed()),
        };
        let same = read.path == kept.path
            && read.mode == kept.mode
            && read.before_sha256 == kept.before_sha256
            && read.after_sha256 == kept.after_sha256
            && check_text(&read).ok() == Some(text.lengths);
        if !same {
            return Err(changed());
        }
        Ok(read)
    }
}

/// The plan file at `path` no longer holds what was loaded from it.
fn changed_at(path: &Path) -> ApplyError {
    ApplyError::Manifest {
        path: path.to_path_buf(),
        problem: ManifestProblem::ChangedWhileApplying,
    }
}

/// The bytes of `span` in `file`, into `buf`.
fn read_span<'b>(
    file: &std::fs::File,
    span: Span,
    buf: &'b mut Vec<u8>,
) -> std::io::Result<&'b [u8]> {
    use std::os::unix::fs::FileExt as _;
    buf.resize(span.len as usize, 0);
    file.read_exact_at(buf, span.offset)?;
    Ok(&buf[..])
}

/// Reads the plan file the operator named (a regular file or a pipe) and loads it.
pub fn read_plan(path: &Path) -> Result<Loaded, ApplyError> {
    let input = crate::store::file::open_input(path).map_err(|e| match e {
        ReadError::NotRegular(FileKind::Directory) => ApplyError::Manifest {
            path: path.to_path_buf(),
            problem: ManifestProblem::IsADirectory,
        },
        ReadError::NotRegular(kind) => ApplyError::Io {
            action: "read",
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                ReadError::NotRegular(kind),
            ),
        },
        other => match other.into_io() {
            e if e.kind() == std::io::ErrorKind::NotFound => ApplyError::Manifest {
                path: path.to_path_buf(),
                problem: ManifestProblem::Missing,
            },
            e => ApplyError::io("read", path)(e),
        },
    })?;
    match input {
        Input::File(file) => load(path, file, Source::File(path.to_path_buf())),
        Input::Piped(bytes) => {
            // Read while borrowed, the bytes then become where the plan is.
            let mut loaded = load(path, &bytes[..], Source::Held(Vec::new()))?;
            loaded.source = Source::Held(bytes);
            Ok(loaded)
        }
    }
}

/// The files a plan may write: metadata, keys of what it creates, and consumer state;
/// and, new only, message blocks and their keys (the Raft log tail); nothing else.
const EDITABLE: [&str; 4] = ["meta.inf", "meta.sum", "meta.key", "o.dat"];

/// A new message block or block key: `.../msgs/<n>.blk` or `.../msgs/<n>.key`.
fn is_new_block_file(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let (Some(name), Some("msgs")) = (parts.next(), parts.next()) else {
        return false;
    };
    crate::store::filestore::block_index(name).is_some()
        || name
            .strip_suffix(".key")
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The one file a plan may remove rather than a directory: a stream's `msgs/index.db`.
pub fn is_removable_file(path: &str) -> bool {
    path.ends_with("/msgs/index.db")
}

/// A manifest may only touch what `plan` touches: `meta.inf`, `meta.sum` and `o.dat` files,
/// directories it creates and whole directories it removes under `jetstream/`, each named
/// once, by a relative path that stays inside the store, with contents matching their
/// hashes.
pub fn validate(m: &Manifest) -> Result<(), ManifestProblem> {
    if !Path::new(&m.store).is_absolute() {
        return Err(ManifestProblem::StoreNotAbsolute(m.store.clone()));
    }
    let mut seen = BTreeSet::new();
    let mut removed = Vec::new();
    let mut last_removed: Option<&str> = None;
    for change in &m.changes {
        let path = change.path();
        if !safe_relative(path) || !path.starts_with(&format!("{JETSTREAM_DIR}/")) {
            return Err(ManifestProblem::PathLeavesStore(path.into()));
        }
        // A copy may take the place of the directory removed just before it.
        let replaces = matches!(change, Change::Copy(_)) && last_removed == Some(path);
        if !seen.insert(path.to_string()) && !replaces {
            return Err(ManifestProblem::ChangedTwice(path.into()));
        }
        last_removed = matches!(change, Change::Remove(_)).then_some(path);
        match change {
            Change::Edit(e) => {
                let name = path.rsplit('/').next().unwrap_or_default();
                let new_block = e.before_sha256.is_none() && is_new_block_file(path);
                if !EDITABLE.contains(&name) && !new_block {
                    return Err(ManifestProblem::NotAMetaFile(path.into()));
                }
                if e.mode & !0o7777 != 0 {
                    return Err(ManifestProblem::Mode {
                        path: path.into(),
                        mode: e.mode,
                    });
                }
            }
            Change::Remove(_) => removed.push(path.to_string()),
            Change::Copy(c) => {
                if m.schema_version == 1 {
                    return Err(ManifestProblem::CopyInVersion1(path.into()));
                }
                let bad = || ManifestProblem::BadCopy { path: path.into() };
                let kind = asset_dir_kind(path).ok_or_else(bad)?;
                if !Path::new(&c.source).is_absolute()
                    || !safe_relative(&c.source_path)
                    || asset_dir_kind(&c.source_path) != Some(kind)
                    || !c.exclude.iter().all(|x| {
                        safe_relative(x)
                            && kind == AssetDir::Stream
                            && x.split('/').count() == 2
                            && (x.starts_with("obs/") || x == "msgs/index.db")
                    })
                {
                    return Err(bad());
                }
            }
            Change::Mkdir(d) => {
                if m.schema_version == 1 {
                    return Err(ManifestProblem::MkdirInVersion1(path.into()));
                }
                if d.mode & !0o7777 != 0 {
                    return Err(ManifestProblem::Mode {
                        path: path.into(),
                        mode: d.mode,
                    });
                }
            }
        }
    }
    // Nothing is changed inside a removed directory, unless it is inside a copy that took
    // its place.
    let copies = Copies::of(m);
    for r in &removed {
        for (index, change) in m.changes.iter().enumerate() {
            let p = change.path();
            if p != r && inside(p, r) && copies.containing(index, p).is_none() {
                return Err(ManifestProblem::Nested {
                    inner: p.into(),
                    outer: r.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Whether relative path `p` is inside directory `dir` (not `dir` itself).
pub fn inside(p: &str, dir: &str) -> bool {
    p.len() > dir.len() && p.starts_with(dir) && p.as_bytes()[dir.len()] == b'/'
}

/// What a `copy` may copy: a stream or a consumer directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetDir {
    Stream,
    Consumer,
}

/// `jetstream/<a>/streams/<s>` or `jetstream/<a>/streams/<s>/obs/<c>`.
pub fn asset_dir_kind(path: &str) -> Option<AssetDir> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [JETSTREAM_DIR, _, "streams", _] => Some(AssetDir::Stream),
        [JETSTREAM_DIR, _, "streams", _, "obs", _] => Some(AssetDir::Consumer),
        _ => None,
    }
}

/// The `copy` changes of a manifest, to find what a path inside one is made of.
#[derive(Debug, Default)]
pub struct Copies<'a> {
    /// (index in the manifest, the copy), in manifest order.
    pub list: Vec<(usize, &'a crate::plan::CopyIn)>,
}

impl<'a> Copies<'a> {
    pub fn of(m: &'a Manifest) -> Copies<'a> {
        Copies {
            list: m
                .changes
                .iter()
                .enumerate()
                .filter_map(|(i, c)| match c {
                    Change::Copy(c) => Some((i, c)),
                    _ => None,
                })
                .collect(),
        }
    }

    /// The innermost copy, earlier in the manifest than change `index`, that `path` is
    /// strictly inside.
    pub fn containing(&self, index: usize, path: &str) -> Option<(usize, &'a crate::plan::CopyIn)> {
        self.list
            .iter()
            .filter(|(i, c)| *i < index && inside(path, &c.path))
            .max_by_key(|(_, c)| c.path.len())
            .copied()
    }

    /// Where `path` (inside copy `c`) comes from in the source store.
    pub fn origin(c: &crate::plan::CopyIn, path: &str) -> PathBuf {
        c.source_dir().join(&path[c.path.len() + 1..])
    }

    /// Whether `path` is a copy's destination or inside one.
    pub fn covers(&self, path: &str) -> bool {
        self.list
            .iter()
            .any(|(_, c)| path == c.path || inside(path, &c.path))
    }
}

/// A relative, `/`-separated path of plain names: no `..`, `.`, empty parts or leading `/`.
pub fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !part.contains('\0'))
}

/// The temporary sibling apply (`tmp`) or rollback (`restore`) writes before a rename.
pub fn sibling(target: &Path, tag: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.js-recover.{tag}"))
}

/// Refuses paths whose parent directories are not plain directories of the store (a symlink
/// there could lead a write outside it), checking each shared parent directory once.
#[derive(Debug, Default)]
pub struct Ancestors {
    checked: std::collections::HashSet<PathBuf>,
}

impl Ancestors {
    /// `rel` is a directory the plan creates: later paths may go through it.
    pub fn planned(&mut self, root: &Path, rel: &str) {
        self.checked.insert(root.join(rel));
    }

    pub fn check(&mut self, root: &Path, rel: &str) -> Result<PathBuf, Mismatch> {
        let mut at = root.to_path_buf();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            at.push(part);
            if self.checked.contains(&at) {
                continue;
            }
            let found = match crate::store::file::kind_at(&at) {
                Some(FileKind::Directory) => {
                    self.checked.insert(at.clone());
                    continue;
                }
                Some(kind) => Found::AncestorNotADirectory {
                    dir: at.clone(),
                    kind,
                },
                None => Found::AncestorMissing { dir: at.clone() },
            };
            return Err(Mismatch {
                path: rel.into(),
                found,
            });
        }
        Ok(root.join(rel))
    }
}

/// An edited file as apply found it.
#[derive(Debug, Clone)]
pub struct Original {
    /// Position in the manifest's changes.
    pub index: usize,
    /// Its length; `None`: the file does not exist yet. Its bytes are not held: apply reads
    /// them again into the backup, checked against the plan once more.
    pub len: Option<u64>,
    /// Its owner (uid, gid), or for a new file its parent directory's: what the file is
    /// written with.
    pub owner: (u32, u32),
}

/// What [`against_store`] found; directories to remove are checked once the store's
/// listing is at hand ([`Checked::finish`]).
#[derive(Debug)]
pub struct Checked {
    originals: Vec<Original>,
    drift: Vec<Mismatch>,
    /// Removed directories of the store (change index), their fingerprints not checked yet.
    dirs: Vec<usize>,
}

impl Checked {
    /// Checks each directory to remove against `listing` (the store's, see [`tree::list`],
    /// taken while [`against_store`] ran: one walk serves both), and returns the originals
    /// of edited files, or every mismatch found.
    pub fn finish(mut self, m: &Manifest, listing: &[Entry]) -> Result<Vec<Original>, ApplyError> {
        for index in self.dirs {
            let Change::Remove(r) = &m.changes[index] else {
                unreachable!("dirs are removals")
            };
            let now = tree::summarize_inside(listing, &r.path);
            if now.fingerprint != r.fingerprint {
                self.drift.push(Mismatch {
                    path: r.path.clone(),
                    found: Found::DirChanged {
                        files: now.files,
                        bytes: now.bytes,
                        expected_files: r.files,
                        expected_bytes: r.bytes,
                    },
                });
            }
        }
        if self.drift.is_empty() {
            Ok(self.originals)
        } else {
            Err(ApplyError::Drift(self.drift))
        }
    }
}

/// Checks every change against the store, but for the contents of directories to remove
/// (see [`Checked::finish`]). What a change inside a `copy` finds is checked in the
/// survivor's store the copy comes from.
pub fn against_store(root: &Path, m: &Manifest) -> Result<Checked, ApplyError> {
    let mut originals = Vec::new();
    let mut drift = Vec::new();
    let mut dirs = Vec::new();
    let mut ancestors = Ancestors::default();
    let copies = Copies::of(m);
    for (index, change) in m.changes.iter().enumerate() {
        let found = |found: Found| Mismatch {
            path: change.path().into(),
            found,
        };
        if let Some((_, outer)) = copies.containing(index, change.path()) {
            let origin = original_path(root, &copies, index, change.path());
            let rel_in_outer = &change.path()[outer.path.len() + 1..];
            match change {
                Change::Edit(e) => match check_edit(&origin, e, index)? {
                    Ok(o) => originals.push(o),
                    Err(f) => drift.push(found(f)),
                },
                Change::Mkdir(_) => {
                    if crate::store::file::kind_at(&origin).is_some() {
                        drift.push(found(Found::ExistsNow));
                    }
                }
                Change::Copy(c) => {
                    let excluded = tree::excluded(rel_in_outer, &outer.exclude);
                    if !excluded && crate::store::file::kind_at(&origin).is_some() {
                        drift.push(found(Found::ExistsNow));
                    }
                    if let Some(f) = source_changed(c)? {
                        drift.push(found(f));
                    }
                }
                Change::Remove(_) => drift.push(found(Found::ExistsNow)),
            }
            continue;
        }
        let abs = match ancestors.check(root, change.path()) {
            Ok(p) => p,
            Err(mismatch) => {
                drift.push(mismatch);
                continue;
            }
        };
        match change {
            Change::Edit(e) => {
                let tmp = sibling(&abs, "tmp");
                if tmp.symlink_metadata().is_ok() {
                    drift.push(found(Found::LeftoverTemp(tmp)));
                    continue;
                }
                match check_edit(&abs, e, index)? {
                    Ok(o) => originals.push(o),
                    Err(f) => drift.push(found(f)),
                }
            }
            Change::Mkdir(_) => match crate::store::file::kind_at(&abs) {
                None => ancestors.planned(root, change.path()),
                Some(_) => drift.push(found(Found::ExistsNow)),
            },
            Change::Copy(c) => {
                let replaced = index > 0
                    && matches!(&m.changes[index - 1], Change::Remove(r) if r.path == c.path);
                let staging = staging_dir(root, index);
                if staging.symlink_metadata().is_ok() {
                    drift.push(found(Found::LeftoverTemp(staging)));
                } else if crate::store::file::kind_at(&abs).is_some() && !replaced {
                    drift.push(found(Found::ExistsNow));
                } else if let Some(f) = source_changed(c)? {
                    drift.push(found(f));
                }
                ancestors.planned(root, change.path());
            }
            Change::Remove(r) => match crate::store::file::kind_at(&abs) {
                Some(FileKind::Regular) if is_removable_file(&r.path) => {
                    let now = tree::summarize_file(&abs)?;
                    if now.fingerprint != r.fingerprint {
                        drift.push(found(Found::DirChanged {
                            files: now.files,
                            bytes: now.bytes,
                            expected_files: r.files,
                            expected_bytes: r.bytes,
                        }));
                    }
                }
                Some(FileKind::Directory) if !is_removable_file(&r.path) => dirs.push(index),
                Some(kind) => drift.push(found(Found::NotADirectory(kind))),
                None => drift.push(found(Found::DirGone)),
            },
        }
    }
    Ok(Checked {
        originals,
        drift,
        dirs,
    })
}

/// Where the file of change `index` at `path` is before apply: in the store, or for one
/// inside a copy, in the survivor's store it is copied from.
pub fn original_path(root: &Path, copies: &Copies, index: usize, path: &str) -> PathBuf {
    match copies.containing(index, path) {
        Some((_, outer)) => Copies::origin(outer, path),
        None => root.join(path),
    }
}

/// Where apply stages copy `index` before moving it into place: a directory of
/// `jetstream/` (the filesystem of every destination; no nats-server reads a name
/// starting with a dot there).
pub fn staging_dir(root: &Path, index: usize) -> PathBuf {
    root.join(JETSTREAM_DIR)
        .join(format!(".js-recover-copy-{index}"))
}

/// Whether the survivor's directory copy `c` comes from is still what the plan saw.
fn source_changed(c: &crate::plan::CopyIn) -> Result<Option<Found>, ApplyError> {
    let dir = c.source_dir();
    let changed = |files, bytes| {
        Found::SourceChanged(Box::new(super::error::SourceChange {
            source: dir.clone(),
            files,
            bytes,
            expected_files: c.files,
            expected_bytes: c.bytes,
        }))
    };
    if crate::store::file::kind_at(&dir) != Some(FileKind::Directory) {
        return Ok(Some(changed(0, 0)));
    }
    let now = tree::summarize_excluding(&dir, &c.exclude)?;
    Ok((now.fingerprint != c.fingerprint).then(|| changed(now.files, now.bytes)))
}

/// An edited file at `path` against the plan's `before`: its original, or what was found
/// instead.
fn check_edit(
    path: &Path,
    e: &crate::plan::Edit,
    index: usize,
) -> Result<Result<Original, Found>, ApplyError> {
    Ok(match read_before(path, e)? {
        Err(found) => Err(found),
        Ok(None) => {
            // Owned like the nearest directory that exists (the parent may be one the plan
            // creates).
            let parent = path
                .ancestors()
                .skip(1)
                .find(|a| a.is_dir())
                .expect("the store root exists");
            Ok(Original {
                index,
                len: None,
                owner: {
                    let parent = Entry::stat(parent, String::new())?;
                    (parent.uid, parent.gid)
                },
            })
        }
        Ok(Some((meta, bytes))) => Ok(Original {
            index,
            len: Some(bytes.len() as u64),
            owner: (meta.uid(), meta.gid()),
        }),
    })
}

/// A file as read: its metadata and bytes.
pub type Read = (std::fs::Metadata, Vec<u8>);

/// The file at `path` that edit `e` changes, as the plan has it before: its metadata and
/// bytes, or `None` when it does not exist and must not; otherwise what is found instead.
pub fn read_before(
    path: &Path,
    e: &crate::plan::Edit,
) -> Result<Result<Option<Read>, Found>, ApplyError> {
    Ok(match crate::store::file::read_regular(path) {
        Err(err) if err.is_not_found() => match e.before_sha256 {
            Some(_) => Err(Found::Gone),
            None => Ok(None),
        },
        Err(ReadError::NotRegular(kind)) => Err(Found::NotRegular(kind)),
        Err(err) => return Err(ApplyError::io("read", path)(err.into_io())),
        Ok((meta, bytes)) => {
            let sha = sha256_hex(&bytes);
            if e.before_sha256.as_deref() != Some(sha.as_str()) {
                Err(match &e.before_sha256 {
                    _ if sha == e.after_sha256 => Found::AlreadyApplied,
                    None => Found::ExistsNow,
                    Some(want) => Found::ContentsChanged {
                        sha256: sha,
                        expected: want.clone(),
                    },
                })
            } else if meta.mode() & 0o7777 != e.mode {
                Err(Found::ModeChanged {
                    mode: meta.mode() & 0o7777,
                    expected: e.mode,
                })
            } else {
                Ok(Some((meta, bytes)))
            }
        }
    })
}

/// Where `backup` resolves to, refusing it inside the store. `backup` need not exist yet,
/// but its parent must.
pub fn outside_store(store: &Path, backup: &Path) -> Result<PathBuf, ApplyError> {
    let abs = if backup.is_absolute() {
        backup.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(ApplyError::io("read", "the current directory"))?
            .join(backup)
    };
    let parent = abs.parent().unwrap_or(Path::new("/"));
    let parent = parent
        .canonicalize()
        .map_err(ApplyError::io("find", parent))?;
    let resolved = match abs.file_name() {
        Some(name) => parent.join(name),
        None => parent,
    };
    let store = store
        .canonicalize()
        .map_err(ApplyError::io("find", store))?;
    let resolved = resolved.canonicalize().unwrap_or(resolved);
    if resolved.starts_with(&store) || store.starts_with(&resolved) {
        return Err(ApplyError::BackupInsideStore {
            path: backup.to_path_buf(),
            store,
        });
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan as `plan` writes it, for `store`, with no changes.
    fn empty_plan(store: &Path) -> Vec<u8> {
        let m = Manifest::empty(store);
        let mut out = Vec::new();
        m.write_to(&mut out).unwrap();
        out
    }

    #[test]
    fn the_backup_copy_is_the_plan_as_read_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("plan.json");
        let bytes = empty_plan(dir.path());
        std::fs::write(&plan, &bytes).unwrap();
        let loaded = read_plan(&plan).unwrap();
        assert!(matches!(loaded.source, Source::File(_)));
        // As read: the copy is those bytes.
        let copy = dir.path().join("copy.json");
        loaded.write_copy(&copy).unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), bytes);
        // Changed since it was read, or longer, or now a FIFO or a link: refused, no copy
        // left behind, nothing blocks.
        let refused = |loaded: &Loaded| {
            let dest = dir.path().join("refused.json");
            let e = loaded.write_copy(&dest).unwrap_err();
            assert!(
                matches!(
                    e,
                    ApplyError::Manifest {
                        problem: ManifestProblem::ChangedWhileApplying,
                        ..
                    }
                ),
                "{e}"
            );
            assert!(!dest.exists());
        };
        let mut edited = bytes.clone();
        edited[bytes.len() / 2] ^= 1;
        std::fs::write(&plan, &edited).unwrap();
        refused(&loaded);
        std::fs::write(&plan, [bytes.as_slice(), b"   "].concat()).unwrap();
        refused(&loaded);
        std::fs::remove_file(&plan).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &plan,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        refused(&loaded);
        std::fs::remove_file(&plan).unwrap();
        std::os::unix::fs::symlink(&copy, &plan).unwrap();
        refused(&loaded);
        // A copy that is there already is not removed.
        std::fs::remove_file(&plan).unwrap();
        std::fs::write(&plan, &bytes).unwrap();
        let e = loaded.write_copy(&copy).unwrap_err();
        assert!(!matches!(e, ApplyError::Manifest { .. }), "{e}");
        assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    }

    /// A plan with edits of text and of binary files, a removal between them.
    fn plan_with_edits(store: &Path) -> Manifest {
        let mut m: Manifest = serde_json::from_slice(&empty_plan(store)).unwrap();
        let edit = |path: &str, before: Option<&[u8]>, after: &[u8]| {
            Change::Edit(crate::plan::Edit::new(
                path.into(),
                "because".into(),
                0o640,
                before,
                after,
                "--- a\n+++ b\n".into(),
            ))
        };
        m.changes = vec![
            edit(
                "jetstream/A/streams/S/meta.inf",
                Some(b"{\"a\":1}"),
                b"{\"a\": 2,\n\"\\u00e9\": \"x\"}",
            ),
            Change::Remove(crate::plan::Remove::new(
                "jetstream/$SYS".into(),
                "raft".into(),
                crate::store::tree::TreeSummary {
                    files: 1,
                    dirs: 1,
                    bytes: 3,
                    fingerprint: "sha256:x".into(),
                },
            )),
            edit("jetstream/A/streams/S/meta.sum", None, &[0xff, 0, 1]),
        ];
        m
    }

    #[test]
    fn loaded_edits_are_read_again_whole_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let m = plan_with_edits(dir.path());
        let plan = dir.path().join("plan.json");
        let mut bytes = Vec::new();
        m.write_to(&mut bytes).unwrap();
        std::fs::write(&plan, &bytes).unwrap();
        let loaded = read_plan(&plan).unwrap();
        assert_eq!(loaded.sha256, sha256_hex(&bytes));
        // Held without text; read whole again, as planned.
        let Change::Edit(kept) = &loaded.manifest.changes[0] else {
            panic!()
        };
        assert!(kept.after.is_none() && kept.before.is_none() && kept.diff.is_empty());
        let mut edits = loaded.edits();
        for index in [0, 2] {
            assert_eq!(
                &edits.get(index).unwrap(),
                match &m.changes[index] {
                    Change::Edit(e) => e,
                    _ => unreachable!(),
                }
            );
        }
        assert_eq!(
            loaded.lengths(0),
            Lengths {
                before: 7,
                after: 23
            }
        );
        assert_eq!(
            loaded.lengths(2),
            Lengths {
                before: 0,
                after: 3
            }
        );
        // The plan file edited under apply: refused, never carried out.
        let changed = String::from_utf8(bytes.clone())
            .unwrap()
            .replace("\\u00e9", "\\u00e8");
        std::fs::write(&plan, &changed).unwrap();
        let e = loaded.edits().get(0).unwrap_err();
        assert!(
            matches!(
                e,
                ApplyError::Manifest {
                    problem: ManifestProblem::ChangedWhileApplying,
                    ..
                }
            ),
            "{e}"
        );
        std::fs::write(&plan, "").unwrap();
        assert!(loaded.edits().get(2).is_err());
        // Once apply has its copy, edits come from the copy.
        std::fs::write(&plan, &bytes).unwrap();
        let copy = dir.path().join("copy.json");
        loaded.write_copy(&copy).unwrap();
        std::fs::write(&plan, "").unwrap();
        assert_eq!(
            loaded.edits().get(0).unwrap().after_sha256,
            kept.after_sha256
        );
        // The copy edited: refused, naming the copy.
        std::fs::write(&copy, &changed).unwrap();
        match loaded.edits().get(0).unwrap_err() {
            ApplyError::Manifest {
                path,
                problem: ManifestProblem::ChangedWhileApplying,
            } => assert_eq!(path, copy),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for p in ["", "/etc/passwd", "jetstream/../x", "a//b", "./a", "a/."] {
            assert!(!safe_relative(p), "{p}");
        }
        assert!(safe_relative("jetstream/$SYS/_js_"));
    }

    #[test]
    fn a_backup_in_or_around_the_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s");
        std::fs::create_dir_all(store.join("jetstream")).unwrap();
        assert!(outside_store(&store, &store.join("bk")).is_err());
        assert!(outside_store(&store, &store.join("jetstream/bk")).is_err());
        assert!(outside_store(&store, dir.path()).is_err());
        assert!(outside_store(&store, &dir.path().join("bk")).is_ok());
    }
}
