//! A backup directory read back: its journal verified, its manifest checked against the
//! journal, what state the transaction reached, and where each change stands in the store
//! now. Rollback and status both start here.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::backup::Backup;
use super::check::{self, Loaded};
use super::error::{BackupProblem, Found, Mismatch};
use super::journal::{self, Entry, Event, Read};
use super::ApplyError;
use crate::plan::manifest::sha256_hex;
use crate::plan::Change;
use crate::store::file::{self, FileKind, ReadError};
use crate::store::tree;

/// How far the transaction got, by its journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Apply stopped before it changed the store.
    Begun,
    /// Apply stopped part-way (killed, or still running): roll it back.
    Interrupted,
    /// Apply finished.
    Applied,
    /// Apply failed and undid itself.
    Failed,
    /// A rollback started and did not finish: run it again.
    RollingBack,
    /// Rolled back.
    RolledBack,
}

impl State {
    pub fn describe(self) -> &'static str {
        match self {
            State::Begun => "apply stopped before it changed the store",
            State::Interrupted => "apply was interrupted part-way (or is still running)",
            State::Applied => "applied",
            State::Failed => "apply failed and rolled itself back",
            State::RollingBack => "a rollback was interrupted; run it again",
            State::RolledBack => "rolled back",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Record {
    pub backup: Backup,
    pub journal: Read,
    pub loaded: Loaded,
    pub store: PathBuf,
    pub store_dev: u64,
    pub store_ino: u64,
    pub state: State,
    /// The `before` snapshot's hash, once the originals were durable.
    pub before_sha256: Option<String>,
    pub after_sha256: Option<String>,
    /// A write window (apply's `writing`, rollback's `restoring`) is open in the journal:
    /// an edited file that is neither its original nor what apply wrote was cut short by
    /// this transaction, not changed by someone else.
    pub writing: bool,
}

impl Record {
    /// Reads `dir`; a journal that does not verify is refused unless `allow_tampered`.
    pub fn open(dir: &Path, allow_tampered: bool) -> Result<Record, ApplyError> {
        let invalid = ApplyError::invalid(dir);
        match file::kind_at(dir) {
            Some(FileKind::Directory) => {}
            Some(_) => return Err(invalid(BackupProblem::NotADirectory)),
            None => return Err(invalid(BackupProblem::NotFound)),
        }
        let backup = Backup::new(dir.canonicalize().map_err(ApplyError::io("find", dir))?);
        if file::kind_at(&backup.journal()).is_none() {
            if let Some(store) = as_store(&backup.root) {
                return Err(ApplyError::BackupInvalid {
                    path: dir.to_path_buf(),
                    problem: BackupProblem::IsAStore,
                    backups: backups_beside(&store),
                });
            }
            return Err(invalid(BackupProblem::NoJournal));
        }
        let read = journal::read(&backup.journal())?;
        if read.entries.is_empty() && read.tampered.is_none() {
            return Err(invalid(BackupProblem::NeverBegun));
        }
        if let Some(why) = &read.tampered {
            if !allow_tampered {
                return Err(invalid(BackupProblem::JournalTampered(why.clone())));
            }
        }
        let Some(Entry {
            event:
                Event::Begin {
                    store,
                    store_dev,
                    store_ino,
                    manifest_sha256,
                    ..
                },
            ..
        }) = read.entries.first()
        else {
            return Err(invalid(BackupProblem::NoBegin));
        };
        let file = super::backup::open_file(&backup.manifest(), "manifest.json")?;
        let loaded = match check::load_file(&backup.manifest(), file) {
            Ok(loaded) if loaded.sha256 == *manifest_sha256 => loaded,
            Ok(_) => return Err(invalid(BackupProblem::ManifestChanged)),
            Err(e) => {
                // Not the manifest apply kept, or damaged: say which.
                let (_, bytes) = super::backup::read_file(&backup.manifest(), "manifest.json")?;
                if sha256_hex(&bytes) != *manifest_sha256 {
                    return Err(invalid(BackupProblem::ManifestChanged));
                }
                return Err(match e {
                    ApplyError::Manifest { problem, .. } => {
                        ApplyError::invalid(dir)(BackupProblem::Manifest(problem))
                    }
                    other => other,
                });
            }
        };
        if loaded.manifest.store != *store {
            return Err(invalid(BackupProblem::StoresDiffer));
        }
        let mut state = State::Begun;
        let (mut before_sha256, mut after_sha256) = (None, None);
        let mut writing = false;
        for e in &read.entries {
            match &e.event {
                Event::Writing { .. } | Event::Restoring { .. } => writing = true,
                Event::Applied { .. }
                | Event::RolledBack { .. }
                | Event::Failed {
                    rolled_back: true, ..
                } => writing = false,
                _ => {}
            }
            state = match &e.event {
                Event::Begin { .. } => State::Begun,
                Event::BackedUp {
                    snapshot_sha256, ..
                } => {
                    before_sha256 = Some(snapshot_sha256.clone());
                    State::Interrupted
                }
                Event::Moved { .. }
                | Event::Copied { .. }
                | Event::Staged { .. }
                | Event::Placed { .. }
                | Event::Writing { .. } => State::Interrupted,
                Event::Applied {
                    snapshot_sha256, ..
                } => {
                    after_sha256 = Some(snapshot_sha256.clone());
                    State::Applied
                }
                Event::Failed { rolled_back, .. } => {
                    if *rolled_back {
                        State::Failed
                    } else {
                        State::Interrupted
                    }
                }
                Event::RollbackStarted { .. } | Event::Restoring { .. } => State::RollingBack,
                Event::RolledBack { .. } => State::RolledBack,
            };
        }
        if state == State::Interrupted && before_sha256.is_none() {
            state = State::Begun;
        }
        Ok(Record {
            store: PathBuf::from(store),
            store_dev: *store_dev,
            store_ino: *store_ino,
            backup,
            journal: read,
            loaded,
            state,
            before_sha256,
            after_sha256,
            writing,
        })
    }

    /// Refuses a store that is not the one this backup was taken from (replaced or moved).
    pub fn check_store_identity(&self) -> Result<(), ApplyError> {
        let invalid = ApplyError::invalid(&self.backup.root);
        let meta = std::fs::metadata(&self.store)
            .map_err(|_| invalid(BackupProblem::StoreGone(self.store.clone())))?;
        if (meta.dev(), meta.ino()) != (self.store_dev, self.store_ino) {
            return Err(ApplyError::invalid(&self.backup.root)(
                BackupProblem::StoreReplaced(self.store.clone()),
            ));
        }
        Ok(())
    }

    /// Works on the store at `path` instead of where apply found it (it was moved or
    /// copied since), once `path` is shown to be that store: every entry the backup
    /// recorded after apply (or before, if apply did not finish) is there, of the same kind.
    /// Entries created or rewritten since (a server that ran on it writes some) are allowed;
    /// rollback lists them, and each edited file is still judged by its hash.
    pub fn relocate(&mut self, path: &Path) -> Result<(), ApplyError> {
        let invalid = ApplyError::invalid(&self.backup.root);
        let root = match file::kind_at(path) {
            Some(FileKind::Directory) => {
                path.canonicalize().map_err(ApplyError::io("find", path))?
            }
            _ => return Err(invalid(BackupProblem::StoreGone(path.to_path_buf()))),
        };
        let (name, sha) = match (&self.after_sha256, self.state) {
            (Some(sha), State::Applied) => (super::backup::SNAPSHOT_AFTER, Some(sha)),
            _ => (super::backup::SNAPSHOT_BEFORE, self.before_sha256.as_ref()),
        };
        let expected = match sha {
            Some(sha) => {
                let path = self.backup.root.join(name);
                super::backup::Snapshot::read(&path, name, Some(sha))?.entries
            }
            None => Vec::new(),
        };
        let now = tree::list(&root)?;
        let differences = super::backup::missing_or_retyped(&expected, &now);
        if !differences.is_empty() {
            return Err(invalid(BackupProblem::NotItsStore {
                store: root,
                differences: differences.into_iter().take(20).collect(),
            }));
        }
        self.store = root;
        Ok(())
    }

    /// Whether the journal records that removal `index` left the store.
    pub fn moved(&self, index: usize) -> bool {
        self.journal
            .entries
            .iter()
            .any(|e| matches!(e.event, Event::Moved { index: i, .. } if i == index))
    }

    /// Whether the journal records a finished copy of removal `index` into the backup.
    pub fn copied(&self, index: usize) -> bool {
        self.journal
            .entries
            .iter()
            .any(|e| matches!(e.event, Event::Copied { index: i, .. } if i == index))
    }
}

/// Where each copy of the plan stands (see [`CopyState`]). A copy is in its place when its
/// staging directory is gone, the journal says it was staged, its destination exists, and
/// the directory it replaces (if any) is in the backup: apply makes that removal durable
/// before it places the copy, and rollback takes the copy out before it puts that back.
fn assess_copies(
    record: &Record,
    copies: &check::Copies,
) -> Result<Vec<(usize, CopyState)>, ApplyError> {
    let root = &record.store;
    let changes = &record.loaded.manifest.changes;
    let mut after: Option<Vec<tree::Entry>> = None;
    let mut out = Vec::new();
    for (index, c) in &copies.list {
        let staged = record
            .journal
            .entries
            .iter()
            .any(|e| matches!(&e.event, Event::Staged { index: i, .. } if i == index));
        let dest = root.join(&c.path);
        let state = if check::staging_dir(root, *index).symlink_metadata().is_ok() {
            CopyState::Staged
        } else if !staged || dest.symlink_metadata().is_err() {
            CopyState::Absent
        } else {
            let replaces = index
                .checked_sub(1)
                .filter(|i| matches!(&changes[*i], Change::Remove(r) if r.path == c.path));
            let original_out =
                replaces.is_none_or(|i| file::kind_at(&record.backup.removed(i)).is_some());
            if !original_out {
                CopyState::Absent
            } else {
                let changed = match (&record.after_sha256, record.state) {
                    (Some(sha), State::Applied) => {
                        if after.is_none() {
                            let name = super::backup::SNAPSHOT_AFTER;
                            after = Some(
                                super::backup::Snapshot::read(
                                    &record.backup.root.join(name),
                                    name,
                                    Some(sha),
                                )?
                                .entries,
                            );
                        }
                        copy_changes(after.as_deref().unwrap_or_default(), root, c, copies)?
                    }
                    _ => Vec::new(),
                };
                CopyState::Placed { changed }
            }
        };
        out.push((*index, state));
    }
    Ok(out)
}

/// How copy `c` in the store differs from what the `after` snapshot recorded of it, leaving
/// out the copies placed inside it (judged on their own).
fn copy_changes(
    after: &[tree::Entry],
    root: &Path,
    c: &crate::plan::CopyIn,
    copies: &check::Copies,
) -> Result<Vec<String>, ApplyError> {
    let nested: Vec<String> = copies
        .list
        .iter()
        .filter(|(_, n)| check::inside(&n.path, &c.path))
        .map(|(_, n)| n.path[c.path.len() + 1..].to_string())
        .collect();
    let prefix = format!("{}/", c.path);
    let expected: Vec<tree::Entry> = after
        .iter()
        .filter_map(|e| {
            let rel = e.path.strip_prefix(&prefix)?;
            (!tree::excluded(rel, &nested)).then(|| tree::Entry {
                path: rel.to_string(),
                ..e.clone()
            })
        })
        .collect();
    let now = tree::list_excluding(&root.join(&c.path), &nested)?;
    Ok(super::backup::differences(&expected, &now))
}

/// Names in directory `dir` (the plan's `rel`) that no change of the plan puts there (its
/// files, their temporary siblings, directories it creates).
fn unplanned_entries(dir: &Path, rel: &str, changes: &[Change]) -> Result<Vec<String>, ApplyError> {
    let planned: std::collections::HashSet<&str> = changes
        .iter()
        .filter(|c| super::backup::parent_of(c.path()) == rel)
        .filter_map(|c| c.path().rsplit('/').next())
        .collect();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(ApplyError::io("read", dir))? {
        let entry = entry.map_err(ApplyError::io("read", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let temp_of = name.strip_prefix('.').and_then(|n| {
            n.strip_suffix(".js-recover.tmp")
                .or(n.strip_suffix(".js-recover.restore"))
        });
        if !planned.contains(name.as_str()) && !temp_of.is_some_and(|t| planned.contains(t)) {
            others.push(name);
        }
    }
    others.sort();
    Ok(others)
}

/// The store whose store_dir (or `jetstream/`) `dir` is, if it is one.
pub fn as_store(dir: &Path) -> Option<PathBuf> {
    if file::kind_at(&dir.join(crate::store::JETSTREAM_DIR)) == Some(FileKind::Directory) {
        Some(dir.to_path_buf())
    } else if dir
        .file_name()
        .is_some_and(|n| n == crate::store::JETSTREAM_DIR)
    {
        dir.parent().map(Path::to_path_buf)
    } else {
        None
    }
}

/// The backup directories `apply` made beside `store` by default
/// (`<store>.js-recover-<time>[-n]`, holding a journal), oldest first.
pub fn backups_beside(store: &Path) -> Vec<PathBuf> {
    let (Some(parent), Some(name)) = (store.parent(), store.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.js-recover-", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .filter(|p| file::kind_at(&Backup::new(p.clone()).journal()) == Some(FileKind::Regular))
        .collect();
    found.sort();
    found
}

/// Where an edited file stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Its original contents (or absent, for a file apply creates).
    Original,
    /// The contents apply wrote.
    Applied,
    /// Half-written: apply or rollback was cut short while rewriting it in place (the
    /// journal's write window is open). Its original is restored.
    Torn,
    /// Neither: changed by someone since.
    Changed(Now),
}

/// What an edited file is now, when it is neither its original nor what apply wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Now {
    Deleted,
    /// A regular file with these contents (its SHA-256).
    Contents(String),
    /// Something else: a FIFO, a link, a directory.
    Other(FileKind),
}

/// Where a removed directory stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    /// In the store, as the plan found it; nothing in the backup.
    InStore,
    /// Moved into the backup.
    InBackup,
    /// In both, the store's copy as the plan found it: a rollback that copied it back and
    /// did not get to remove the backup's copy.
    RestoredByCopy,
    /// Copied into the backup, and deleting it from the store was cut short.
    PartlyDeleted,
    /// In both, and the store's is something new (a server recreated it since).
    Recreated,
    /// In neither.
    Lost,
}

/// Where a directory the plan creates stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MadeState {
    Absent,
    /// There; `others` are entries in it that the plan did not put there.
    Present {
        others: Vec<String>,
    },
}

/// Where a directory copied in from another survivor stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyState {
    /// Not in the store, nothing staged.
    Absent,
    /// Its staging directory is there (copied in part or whole, or being taken out).
    Staged,
    /// In its place; `changed` lists what differs from what apply left there (a finished
    /// apply only; a server that ran on the store writes some).
    Placed { changed: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct Assessment {
    pub files: Vec<(usize, FileState)>,
    pub dirs: Vec<(usize, DirState)>,
    /// Directories the plan creates.
    pub made: Vec<(usize, MadeState)>,
    /// Directories the plan copies in, in manifest order. What is inside them (edits, new
    /// directories) is not in `files` or `made`: it comes and goes with the copy.
    pub copies: Vec<(usize, CopyState)>,
    /// Apply's and rollback's temporary files left in the store by a crash.
    pub temps: Vec<PathBuf>,
    /// Copies into the backup a crash cut short.
    pub partials: Vec<PathBuf>,
}

impl Assessment {
    pub fn conflicts(&self, record: &Record) -> Vec<Mismatch> {
        let changes = &record.loaded.manifest.changes;
        let mut out = Vec::new();
        for (i, s) in &self.files {
            if let FileState::Changed(now) = s {
                out.push(Mismatch {
                    path: changes[*i].path().into(),
                    found: match now {
                        Now::Deleted => Found::DeletedSinceApply,
                        Now::Contents(sha) => Found::ChangedSinceApply {
                            sha256: sha.clone(),
                        },
                        Now::Other(kind) => Found::ReplacedSinceApply(*kind),
                    },
                });
            }
        }
        for (i, s) in &self.made {
            if let MadeState::Present { others } = s {
                if !others.is_empty() {
                    out.push(Mismatch {
                        path: changes[*i].path().into(),
                        found: Found::DirHasOthers(others.clone()),
                    });
                }
            }
        }
        for (i, s) in &self.copies {
            if let CopyState::Placed { changed } = s {
                if !changed.is_empty() {
                    out.push(Mismatch {
                        path: changes[*i].path().into(),
                        found: Found::CopyChangedSinceApply(changed.clone()),
                    });
                }
            }
        }
        for (i, s) in &self.dirs {
            let found = match s {
                DirState::Recreated => Found::DirRecreated,
                DirState::Lost => Found::DirLost,
                _ => continue,
            };
            out.push(Mismatch {
                path: changes[*i].path().into(),
                found,
            });
        }
        out
    }
}

/// Looks at every change of `record` in its store; `listing` is the store's (see
/// [`tree::list`]), where leftover temporary files are looked for.
pub fn assess(record: &Record, listing: &[tree::Entry]) -> Result<Assessment, ApplyError> {
    let root = &record.store;
    let mut a = Assessment {
        files: Vec::new(),
        dirs: Vec::new(),
        made: Vec::new(),
        copies: Vec::new(),
        temps: Vec::new(),
        partials: Vec::new(),
    };
    let mut ancestors = check::Ancestors::default();
    let m = &record.loaded.manifest;
    let changes = &m.changes;
    let copies = check::Copies::of(m);
    let placed = assess_copies(record, &copies)?;
    let mut hashes = hash_edits(root, changes, &copies);
    for (index, change) in changes.iter().enumerate() {
        if let Change::Copy(_) = change {
            let state = placed
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, s)| s.clone())
                .expect("every copy assessed");
            a.copies.push((index, state));
            continue;
        }
        // Inside a copy: it comes and goes with the copy.
        if copies.containing(index, change.path()).is_some() {
            continue;
        }
        let path = ancestors.check(root, change.path());
        // A directory a placed copy took the place of is in the backup, whatever is at
        // its path now.
        let replaced_by_copy = matches!(change, Change::Remove(_))
            && matches!(changes.get(index + 1), Some(Change::Copy(c)) if c.path == change.path())
            && placed
                .iter()
                .any(|(i, s)| *i == index + 1 && matches!(s, CopyState::Placed { .. }));
        if replaced_by_copy {
            a.dirs.push((index, DirState::InBackup));
            continue;
        }
        match change {
            Change::Copy(_) => unreachable!("handled above"),
            Change::Mkdir(d) => {
                ancestors.planned(root, &d.path);
                let state = match path.ok().filter(|p| p.is_dir()) {
                    None => MadeState::Absent,
                    Some(p) => MadeState::Present {
                        others: unplanned_entries(&p, &d.path, changes)?,
                    },
                };
                a.made.push((index, state));
            }
            Change::Edit(e) => {
                let path = match path {
                    Ok(p) => p,
                    Err(_) => {
                        a.files.push((index, FileState::Changed(Now::Deleted)));
                        continue;
                    }
                };
                for tag in ["tmp", "restore"] {
                    let t = check::sibling(&path, tag);
                    let listed = t
                        .strip_prefix(root)
                        .ok()
                        .and_then(|rel| rel.to_str())
                        .is_some_and(|rel| {
                            listing
                                .binary_search_by(|e| e.path.as_str().cmp(rel))
                                .is_ok()
                        });
                    if listed {
                        a.temps.push(t);
                    }
                }
                let current = match hashes.remove(&index).expect("every edit hashed") {
                    Ok(sha) => Some(sha),
                    Err(err) if err.is_not_found() => None,
                    Err(ReadError::NotRegular(kind)) => {
                        a.files.push((index, FileState::Changed(Now::Other(kind))));
                        continue;
                    }
                    Err(err) => return Err(ApplyError::io("read", &path)(err.into_io())),
                };
                let state = if current == e.before_sha256 {
                    FileState::Original
                } else if current.as_deref() == Some(e.after_sha256.as_str()) {
                    FileState::Applied
                } else if record.writing && current.is_some() {
                    FileState::Torn
                } else {
                    FileState::Changed(current.map_or(Now::Deleted, Now::Contents))
                };
                a.files.push((index, state));
            }
            Change::Remove(r) => {
                let in_store = path.as_ref().is_ok_and(|p| p.symlink_metadata().is_ok());
                let in_backup = file::kind_at(&record.backup.removed(index)).is_some();
                let partial = record.backup.removed_partial(index);
                if partial.symlink_metadata().is_ok() {
                    a.partials.push(partial);
                }
                let state = match (in_store, in_backup) {
                    (true, false) => DirState::InStore,
                    (false, true) => DirState::InBackup,
                    (false, false) => DirState::Lost,
                    (true, true) => {
                        let p = path.as_ref().expect("in store");
                        if tree::summarize_any(p)?.fingerprint == r.fingerprint {
                            DirState::RestoredByCopy
                        } else if record.copied(index) && !record.moved(index) {
                            DirState::PartlyDeleted
                        } else {
                            DirState::Recreated
                        }
                    }
                };
                a.dirs.push((index, state));
            }
        }
    }
    Ok(a)
}

/// The SHA-256 of every edited file outside a copy as it is now (or why it cannot be read),
/// by change index, read and hashed on a few threads.
fn hash_edits(
    root: &Path,
    changes: &[Change],
    copies: &check::Copies,
) -> std::collections::HashMap<usize, Result<String, ReadError>> {
    let edits: Vec<(usize, std::path::PathBuf)> = changes
        .iter()
        .enumerate()
        .filter(|(i, c)| matches!(c, Change::Edit(_)) && copies.containing(*i, c.path()).is_none())
        .map(|(i, c)| (i, root.join(c.path())))
        .collect();
    crate::par::map_chunks(&edits, crate::par::cores(), |part| {
        part.iter()
            .map(|(i, p)| (*i, file::read_regular(p).map(|(_, b)| sha256_hex(&b))))
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}
