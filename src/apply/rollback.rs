//! `rollback`: put back every byte, mode and directory apply changed, from the backup
//! directory alone, after a finished apply or one killed at any instant; running it again
//! changes nothing more.
//!
//! It decides from the store itself, not from how far the journal got: each edited file is
//! either its original (leave it), what apply wrote (restore the original), or something
//! else (changed since apply: refuse unless `--force`, which first saves it into the backup's
//! `displaced/`). Each removed directory is in the store, in the backup (move it back), or
//! both (a copy cut short, or a new one: see [`DirState`]). Originals are verified by hash
//! before anything is written; restored files are written beside their targets, made durable
//! together and renamed into place, like apply's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::backup::{self, Snapshot};
use super::check;
use super::copy;
use super::durable::{self, own_perms, Perms};
use super::failpoint;
use super::journal::{Event, Journal, Stamp};
use super::lock::Lock;
use super::progress::Progress;
use super::record::{self, DirState, FileState, Record, State};
use super::ApplyError;
use crate::plan::manifest::sha256_hex;
use crate::plan::Change;
use crate::store::tree;

#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    /// Overwrite files changed since apply (saving them into `displaced/` first), and go on
    /// past a journal that does not verify.
    pub force: bool,
}

/// What rollback did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RolledBack {
    pub store: PathBuf,
    pub backup_dir: PathBuf,
    /// The state the journal recorded before this rollback.
    pub state_before: State,
    pub files_restored: usize,
    pub dirs_restored: usize,
    pub temps_removed: usize,
    /// What `--force` moved aside into the backup, relative to it.
    pub displaced: Vec<String>,
    /// What changed in the store after apply finished (a server that ran on it, a person).
    pub changed_since_apply: Vec<String>,
    /// What is still not as it was before apply, once rollback is done.
    pub not_original: Vec<String>,
}

impl RolledBack {
    pub fn nothing_to_do(&self) -> bool {
        self.files_restored == 0
            && self.dirs_restored == 0
            && self.temps_removed == 0
            && self.displaced.is_empty()
    }
}

/// Rolls back the transaction recorded in `dir`.
pub fn rollback(dir: &Path, opts: &RollbackOptions) -> Result<RolledBack, ApplyError> {
    let record = Record::open(dir, opts.force)?;
    if !opts.force {
        record.check_store_identity()?;
    }
    let _lock = Lock::acquire(&record.store)?;
    check::refuse_if_in_use(&record.store)?;
    run(record, opts)
}

/// Rollback by a caller that holds the store's lock already (a failed apply).
pub(crate) fn rollback_locked(
    dir: &Path,
    opts: &RollbackOptions,
) -> Result<RolledBack, ApplyError> {
    run(Record::open(dir, opts.force)?, opts)
}

fn run(record: Record, opts: &RollbackOptions) -> Result<RolledBack, ApplyError> {
    let root = record.store.clone();
    let backup = record.backup.clone();
    let mut journal = Journal::open(&backup.journal(), Stamp::current(), &record.journal)?;
    let mut done = RolledBack {
        store: root.clone(),
        backup_dir: backup.root.clone(),
        state_before: record.state,
        files_restored: 0,
        dirs_restored: 0,
        temps_removed: 0,
        displaced: Vec::new(),
        changed_since_apply: Vec::new(),
        not_original: Vec::new(),
    };
    let before = match &record.before_sha256 {
        Some(sha) => Snapshot::read(&backup.snapshot_before(), sha)?,
        // A journal that does not verify may have lost its `backed-up` line: with --force,
        // go by the store and the saved files, whose hashes are still checked.
        None if opts.force
            && record.journal.tampered.is_some()
            && backup.snapshot_before().is_file() =>
        {
            Snapshot::read_unverified(&backup.snapshot_before())?
        }
        None => {
            // Apply never got to change the store.
            journal.append(Event::RollbackStarted { force: opts.force }, true)?;
            journal.append(rolled_back_event(&done), true)?;
            return Ok(done);
        }
    };
    if let (Some(after_sha), State::Applied) = (&record.after_sha256, record.state) {
        let after = Snapshot::read(&backup.snapshot_after(), after_sha)?;
        done.changed_since_apply = backup::differences(&after.entries, &tree::list(&root)?);
    }
    let assessment = record::assess(&record)?;
    let conflicts = assessment.conflicts(&record);
    if !conflicts.is_empty() && !opts.force {
        return Err(ApplyError::Conflict(conflicts));
    }

    // Everything to restore, verified before the first write.
    let changes = &record.loaded.manifest.changes;
    let mut restores = Vec::new();
    let pack = backup::Originals::read(&backup);
    for (index, state) in &assessment.files {
        let Change::Edit(e) = &changes[*index] else {
            unreachable!()
        };
        if *state == FileState::Original {
            retime_if_needed(&root, &e.path, &before)?;
            continue;
        }
        let original = match &e.before_sha256 {
            None => None,
            Some(sha) => Some(verified_original(&record, &pack, e, sha)?),
        };
        restores.push((*index, state.clone(), original));
    }
    for (index, state) in &assessment.dirs {
        if *state == DirState::InBackup {
            let Change::Remove(r) = &changes[*index] else {
                unreachable!()
            };
            let saved = tree::summarize(&backup.removed(*index))?;
            if saved.fingerprint != r.fingerprint && !opts.force {
                return Err(ApplyError::BackupInvalid {
                    path: backup.root.clone(),
                    detail: format!(
                        "its copy of `{}` (removed/{index}) changed since it was saved",
                        r.path
                    ),
                });
            }
        }
    }

    journal.append(Event::RollbackStarted { force: opts.force }, true)?;
    failpoint::hit("rollback-started", 0)?;
    let mut touched = BTreeSet::new();
    for t in &assessment.temps {
        remove_any(t)?;
        touched.insert(parent_of_path(t));
        done.temps_removed += 1;
    }
    for p in &assessment.partials {
        remove_any(p)?;
    }

    // Files: originals beside their targets, durable together, renamed into place.
    let mut staged = Vec::new();
    for (index, state, original) in &restores {
        let Change::Edit(e) = &changes[*index] else {
            unreachable!()
        };
        let target = root.join(&e.path);
        if let FileState::Changed(Some(_)) = state {
            done.displaced
                .push(displace(&backup.displaced(), *index, &target)?);
        }
        touched.insert(parent_of_path(&target));
        match original {
            None => remove_any(&target)?,
            Some(bytes) => {
                let entry = before.get(&e.path);
                let perms = entry.map_or_else(
                    || Perms {
                        mode: e.mode,
                        ..own_perms(e.mode)
                    },
                    |x| Perms {
                        mode: x.mode & 0o7777,
                        uid: x.uid,
                        gid: x.gid,
                    },
                );
                let tmp = check::sibling(&target, "restore");
                staged.push((tmp, target, bytes, perms, entry.map(|x| x.mtime_ns)));
            }
        }
        done.files_restored += 1;
    }
    // Written and renamed on a few threads, as apply does.
    let mut progress = Progress::new("rollback: writing files", staged.len() as u64, false);
    durable::par_for_each(&staged, &mut progress, |n, (tmp, _, bytes, perms, _)| {
        remove_any(tmp)?;
        durable::write_new(tmp, bytes, *perms)?;
        failpoint::hit("restore-temp", n)
    })?;
    progress.finish();
    let temps: Vec<PathBuf> = staged.iter().map(|(t, ..)| t.clone()).collect();
    durable::sync_filesystem(&root, &temps)?;
    let mut progress = Progress::new("rollback: renaming files", staged.len() as u64, false);
    durable::par_for_each(&staged, &mut progress, |n, (tmp, target, _, _, mtime)| {
        std::fs::rename(tmp, target).map_err(ApplyError::io("rename", tmp))?;
        if let Some(t) = mtime {
            durable::set_mtime(target, *t)?;
        }
        failpoint::hit("restored", n)
    })?;
    progress.finish();

    // Directories back into the store.
    for (index, state) in &assessment.dirs {
        let Change::Remove(r) = &changes[*index] else {
            unreachable!()
        };
        let target = root.join(&r.path);
        let saved = backup.removed(*index);
        match state {
            DirState::InStore | DirState::Lost => continue,
            DirState::RestoredByCopy => {
                std::fs::remove_dir_all(&saved).map_err(ApplyError::io("remove", &saved))?;
                continue;
            }
            DirState::PartlyDeleted => {
                std::fs::remove_dir_all(&target).map_err(ApplyError::io("remove", &target))?
            }
            DirState::Recreated => {
                done.displaced
                    .push(displace(&backup.displaced(), *index, &target)?)
            }
            DirState::InBackup => {}
        }
        touched.insert(parent_of_path(&target));
        match std::fs::rename(&saved, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                let staging = check::sibling(&target, "restore");
                copy::copy_verified(&saved, &staging)?;
                std::fs::rename(&staging, &target).map_err(ApplyError::io("rename", &staging))?;
                durable::sync_dir(&parent_of_path(&target))?;
                std::fs::remove_dir_all(&saved).map_err(ApplyError::io("remove", &saved))?;
            }
            Err(e) => return Err(ApplyError::io("move back", &saved)(e)),
        }
        done.dirs_restored += 1;
        failpoint::hit("dir-restored", done.dirs_restored - 1)?;
    }

    // Directory times, where the directory holds again exactly what it held.
    let children = before.children();
    let empty = BTreeSet::new();
    for dir in &touched {
        let Ok(rel) = dir.strip_prefix(&root) else {
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        let Some(entry) = before.get(&rel) else {
            continue;
        };
        let expected = children.get(rel.as_str()).unwrap_or(&empty);
        let names: Vec<String> = std::fs::read_dir(dir)
            .map_err(ApplyError::io("read", dir))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        let now: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        if *expected == now {
            durable::set_mtime(dir, entry.mtime_ns)?;
        }
    }
    let dirs: Vec<PathBuf> = touched.into_iter().collect();
    durable::sync_filesystem(&root, &dirs)?;
    durable::sync_filesystem(&backup.root, std::slice::from_ref(&backup.root))?;

    done.not_original = backup::differences(&before.entries, &tree::list(&root)?);
    journal.append(rolled_back_event(&done), true)?;
    Ok(done)
}

fn rolled_back_event(done: &RolledBack) -> Event {
    Event::RolledBack {
        files_restored: done.files_restored,
        dirs_restored: done.dirs_restored,
        temps_removed: done.temps_removed,
        displaced: done.displaced.clone(),
        not_original: done.not_original.len(),
    }
}

/// The original bytes of edit `e`: from the originals pack, or failing that from the
/// manifest, whichever matches the hash.
fn verified_original(
    record: &Record,
    pack: &backup::Originals,
    e: &crate::plan::manifest::Edit,
    sha: &str,
) -> Result<Vec<u8>, ApplyError> {
    if let Some(bytes) = pack.get(sha) {
        return Ok(bytes.to_vec());
    }
    tracing::debug!(path = %e.path, "the saved original is missing or damaged; using the manifest's copy");
    match e.before_bytes() {
        Ok(Some(bytes)) if sha256_hex(&bytes) == sha => Ok(bytes),
        _ => Err(ApplyError::BackupInvalid {
            path: record.backup.root.clone(),
            detail: format!(
                "no copy of the original `{}` matches its sha256 {sha}",
                e.path
            ),
        }),
    }
}

/// Moves `path` into `displaced/` (never deleting it) and returns where, relative to the
/// backup.
fn displace(displaced: &Path, index: usize, path: &Path) -> Result<String, ApplyError> {
    std::fs::create_dir_all(displaced).map_err(ApplyError::io("create", displaced))?;
    let name = format!(
        "{index}-{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let to = displaced.join(&name);
    match std::fs::rename(path, &to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            if path.is_dir() {
                copy::move_by_copy(
                    path,
                    &to,
                    &displaced.join(format!("{name}.partial")),
                    || Ok(()),
                )?;
            } else {
                let bytes = std::fs::read(path).map_err(ApplyError::io("read", path))?;
                durable::write_new(&to, &bytes, own_perms(0o600))?;
                durable::sync_each(std::slice::from_ref(&to))?;
                std::fs::remove_file(path).map_err(ApplyError::io("remove", path))?;
            }
        }
        Err(e) => return Err(ApplyError::io("move aside", path)(e)),
    }
    Ok(format!("displaced/{name}"))
}

fn remove_any(path: &Path) -> Result<(), ApplyError> {
    let result = match path.symlink_metadata() {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
    };
    result.map_err(ApplyError::io("remove", path))
}

fn parent_of_path(p: &Path) -> PathBuf {
    p.parent().unwrap_or(Path::new("/")).to_path_buf()
}

/// A file rollback restored but whose time it did not get to put back (a crash between the
/// two): its contents are original, so give it its original time too.
fn retime_if_needed(root: &Path, rel: &str, before: &Snapshot) -> Result<(), ApplyError> {
    let (Some(want), Ok(now)) = (
        before.get(rel),
        tree::Entry::stat(&root.join(rel), rel.into()),
    ) else {
        return Ok(());
    };
    if now.mtime_ns != want.mtime_ns && now.size == want.size {
        durable::set_mtime(&root.join(rel), want.mtime_ns)?;
    }
    Ok(())
}
