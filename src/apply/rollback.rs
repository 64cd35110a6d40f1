//! `rollback`: put back every byte, mode and directory apply changed, from the backup
//! directory alone, after a finished apply or one killed at any instant; running it again
//! changes nothing more.
//!
//! It decides from the store itself, not from how far the journal got: each edited file is
//! either its original (leave it), what apply wrote (restore the original), or something
//! else (changed since apply: refuse unless `--force`, which first saves it into the backup's
//! `displaced/`). Each removed directory is in the store, in the backup (move it back), or
//! both (a copy cut short, or a new one: see [`DirState`]). Originals are verified by hash
//! before anything is written; restored files are written back in place and made durable
//! together, like apply's (see [`durable::write_files`]). A file either command cut short
//! inside its journaled write window is restored, never taken for someone's change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::backup::{self, Snapshot, SNAPSHOT_AFTER, SNAPSHOT_BEFORE};
use super::check;
use super::copy;
use super::durable::{self, own_perms, Perms};
use super::error::BackupProblem;
use super::failpoint;
use super::journal::{Event, Journal, Stamp};
use super::lock::Lock;
use super::record::{self, CopyState, DirState, FileState, Record, State};
use super::ApplyError;
use crate::plan::manifest::sha256_hex;
use crate::plan::Change;
use crate::store::tree;

#[derive(Debug, Clone, Default)]
pub struct RollbackOptions {
    /// Overwrite files changed since apply (saving them into `displaced/` first), and go on
    /// past a journal that does not verify.
    pub force: bool,
    /// The store, when it is no longer where apply found it (moved or copied since).
    pub store: Option<PathBuf>,
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
    /// Directories copied in from other survivors, taken out again.
    pub copies_removed: usize,
    /// What `--force` moved aside into the backup, relative to it.
    pub displaced: Vec<String>,
    /// What changed in the store after apply finished (a server that ran on it, a person).
    pub changed_since_apply: Vec<String>,
    /// What is still not as it was before apply, once rollback is done.
    pub not_original: Vec<String>,
}

impl RolledBack {
    /// Apply was killed before its first journal entry: it never touched the store.
    fn never_begun(dir: &Path) -> RolledBack {
        let store = crate::store::file::read_regular(&backup::Backup::new(dir.into()).manifest())
            .ok()
            .and_then(|(_, b)| serde_json::from_slice::<crate::plan::Manifest>(&b).ok())
            .map(|m| PathBuf::from(m.store))
            .unwrap_or_default();
        RolledBack {
            store,
            backup_dir: dir.to_path_buf(),
            state_before: State::Begun,
            files_restored: 0,
            dirs_restored: 0,
            temps_removed: 0,
            copies_removed: 0,
            displaced: Vec::new(),
            changed_since_apply: Vec::new(),
            not_original: Vec::new(),
        }
    }

    pub fn nothing_to_do(&self) -> bool {
        self.files_restored == 0
            && self.dirs_restored == 0
            && self.copies_removed == 0
            && self.temps_removed == 0
            && self.displaced.is_empty()
    }
}

/// Every removed directory that is in the backup as a directory, listed, by change index.
fn saved_listings(
    backup: &backup::Backup,
    changes: &[Change],
) -> std::collections::HashMap<usize, Result<Vec<tree::Entry>, crate::store::StoreError>> {
    changes
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, Change::Remove(_)))
        .filter_map(|(i, _)| {
            let path = backup.removed(i);
            (crate::store::file::kind_at(&path) == Some(crate::store::file::FileKind::Directory))
                .then(|| (i, tree::list(&path)))
        })
        .collect()
}

/// Rolls back the transaction recorded in `dir`.
pub fn rollback(dir: &Path, opts: &RollbackOptions) -> Result<RolledBack, ApplyError> {
    let mut record = match Record::open(dir, opts.force) {
        Err(ApplyError::BackupInvalid {
            problem: BackupProblem::NeverBegun,
            ..
        }) => return Ok(RolledBack::never_begun(dir)),
        other => other?,
    };
    match &opts.store {
        Some(path) => record.relocate(path)?,
        None if !opts.force => record.check_store_identity()?,
        None => {}
    }
    let _lock = Lock::acquire(&record.store)?;
    crate::store::in_use::refuse_if_in_use(&record.store)?;
    run(record, opts)
}

/// Rollback by a caller that holds the store's lock already (a failed apply).
pub(crate) fn rollback_locked(
    dir: &Path,
    opts: &RollbackOptions,
) -> Result<RolledBack, ApplyError> {
    run(Record::open(dir, opts.force)?, opts)
}

/// Everything a rollback will do, decided and verified before the first write.
struct Prepared {
    record: Record,
    before: Snapshot,
    assessment: record::Assessment,
    /// Edited files to put back: (change index, state now, original bytes or none).
    restores: Vec<(usize, FileState, Option<Vec<u8>>)>,
    /// The store as listed before anything is written (the one walk of the store).
    listing: Vec<tree::Entry>,
    /// Removed directories in the backup, listed while their fingerprint was checked: once
    /// renamed back they hold the same entries.
    saved: std::collections::HashMap<usize, Vec<tree::Entry>>,
    done: RolledBack,
}

fn run(record: Record, opts: &RollbackOptions) -> Result<RolledBack, ApplyError> {
    tracing::info!("backup record read");
    let mut journal = Journal::open(&record.backup.journal(), Stamp::current(), &record.journal);
    let prepared = match prepare(record, opts)? {
        Ok(prepared) => prepared,
        // Apply never got to change the store: nothing to undo, only to record.
        Err(done) => {
            journal.append(Event::RollbackStarted { force: opts.force }, true)?;
            journal.append(rolled_back_event(&done), true)?;
            return Ok(done);
        }
    };
    journal.append(Event::RollbackStarted { force: opts.force }, true)?;
    let (store, backup) = (
        prepared.record.store.clone(),
        prepared.record.backup.root.clone(),
    );
    // From here on the store is being changed: a failure leaves it part-way.
    let incomplete = |e: ApplyError| ApplyError::RollbackIncomplete {
        store: store.clone(),
        backup: backup.clone(),
        source: Box::new(e),
    };
    failpoint::hit("rollback-started", 0).map_err(incomplete)?;
    let done = execute(prepared, &mut journal).map_err(incomplete)?;
    journal
        .append(rolled_back_event(&done), true)
        .map_err(incomplete)?;
    Ok(done)
}

/// Reads and verifies everything, writing nothing; `Err(done)` when apply never changed
/// the store.
fn prepare(
    record: Record,
    opts: &RollbackOptions,
) -> Result<Result<Prepared, RolledBack>, ApplyError> {
    let root = record.store.clone();
    let backup = record.backup.clone();
    let mut done = RolledBack {
        store: root.clone(),
        backup_dir: backup.root.clone(),
        state_before: record.state,
        files_restored: 0,
        dirs_restored: 0,
        temps_removed: 0,
        copies_removed: 0,
        displaced: Vec::new(),
        changed_since_apply: Vec::new(),
        not_original: Vec::new(),
    };
    let before_path = backup.snapshot_before();
    let before_sha = match &record.before_sha256 {
        Some(sha) => Some(sha.as_str()),
        // A journal that does not verify may have lost its `backed-up` line: with --force,
        // go by the store and the saved files, whose hashes are still checked.
        None if opts.force && record.journal.tampered.is_some() && before_path.is_file() => None,
        None => return Ok(Err(done)),
    };
    // Independent reads at once: the `before` and `after` snapshots, the removed
    // directories in the backup (their fingerprints are checked below), and the one walk
    // of the store: what changed since apply, and (with what rollback then changes, listed
    // again) what is not as before apply at the end.
    let after_sha = match (&record.after_sha256, record.state) {
        (Some(sha), State::Applied) => Some(sha.as_str()),
        _ => None,
    };
    let changes = &record.loaded.manifest.changes;
    fn joined<T>(r: std::thread::Result<T>) -> T {
        r.expect("a reading thread panicked")
    }
    let (before, mut saved, listing) = std::thread::scope(|s| {
        let before = s.spawn(|| Snapshot::read(&before_path, SNAPSHOT_BEFORE, before_sha));
        let saved = s.spawn(|| saved_listings(&backup, changes));
        let listing = tree::list(&root);
        (joined(before.join()), joined(saved.join()), listing)
    });
    let (before, listing) = (before?, listing?);
    // The `after` snapshot is compared as it is read, never held.
    if let Some(sha) = after_sha {
        done.changed_since_apply =
            backup::differences_from(&backup.snapshot_after(), SNAPSHOT_AFTER, sha, &listing)?;
    }
    tracing::info!("snapshots read, store listed");
    let assessment = record::assess(&record, &listing)?;
    tracing::info!(files = assessment.files.len(), "store assessed");
    let conflicts = assessment.conflicts(&record);
    if !conflicts.is_empty() && !opts.force {
        return Err(ApplyError::Conflict(conflicts));
    }
    let mut restores = Vec::new();
    let pack = backup::Originals::read(&backup);
    let mut edits = record.loaded.edits();
    for (index, state) in &assessment.files {
        let Change::Edit(e) = &changes[*index] else {
            unreachable!("files are edits")
        };
        if *state == FileState::Original {
            continue;
        }
        let original = match &e.before_sha256 {
            None => None,
            // Owned: the plan and pack they come from move with `Prepared`.
            Some(sha) => {
                Some(verified_original(&record, &pack, &mut edits, *index, sha)?.into_owned())
            }
        };
        restores.push((*index, state.clone(), original));
    }
    let mut saved_listings = std::collections::HashMap::new();
    for (index, state) in &assessment.dirs {
        if *state == DirState::InBackup {
            let Change::Remove(r) = &changes[*index] else {
                unreachable!("dirs are removals")
            };
            let saved = match saved.remove(index) {
                Some(entries) => {
                    let entries = entries?;
                    let summary = tree::summarize_entries(&entries)?;
                    saved_listings.insert(*index, entries);
                    summary
                }
                None => tree::summarize_file(&backup.removed(*index))?,
            };
            if saved.fingerprint != r.fingerprint && !opts.force {
                return Err(ApplyError::invalid(&backup.root)(
                    BackupProblem::SavedCopyChanged {
                        path: r.path.clone(),
                        index: *index,
                    },
                ));
            }
        }
    }
    tracing::info!(files = restores.len(), "originals verified");
    Ok(Ok(Prepared {
        record,
        before,
        assessment,
        restores,
        listing,
        saved: saved_listings,
        done,
    }))
}

/// Puts the store back as `prepared` decided.
fn execute(prepared: Prepared, journal: &mut Journal) -> Result<RolledBack, ApplyError> {
    let Prepared {
        record,
        before,
        assessment,
        restores,
        listing,
        saved: mut saved_map,
        mut done,
    } = prepared;
    // What this run changes in the store, to list again at the end: whole subtrees, and
    // single entries (directories whose time moved).
    let mut touched: Vec<(String, Option<Vec<tree::Entry>>)> = Vec::new();
    let root = record.store.clone();
    let backup = record.backup.clone();
    let changes = &record.loaded.manifest.changes;
    let rel_of = |p: &Path| {
        p.strip_prefix(&root)
            .map(|r| r.to_string_lossy().into_owned())
            .ok()
    };
    for t in &assessment.temps {
        durable::remove(t)?;
        touched.extend(rel_of(t).map(|r| (r, None)));
        done.temps_removed += 1;
    }
    for p in &assessment.partials {
        durable::remove(p)?;
    }
    for (index, state) in &assessment.copies {
        if *state == CopyState::Staged {
            let staging = check::staging_dir(&root, *index);
            durable::remove(&staging)?;
            touched.extend(rel_of(&staging).map(|r| (r, None)));
        }
    }

    // Files: what someone changed since apply moved aside (--force), what apply created
    // removed; then the write window opens and originals are written back in place.
    let mut staged = Vec::new();
    for (index, state, original) in restores {
        let Change::Edit(e) = &changes[index] else {
            unreachable!("files are edits")
        };
        let target = root.join(&e.path);
        touched.push((e.path.clone(), None));
        if let FileState::Changed(record::Now::Contents(_) | record::Now::Other(_)) = state {
            done.displaced
                .push(displace(&backup.displaced(), index, &target)?);
        }
        match original {
            None => durable::remove(&target)?,
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
                staged.push(durable::FileWrite {
                    target,
                    bytes: bytes.into(),
                    perms,
                    mtime_ns: entry.map(|x| x.mtime_ns),
                });
            }
        }
        done.files_restored += 1;
    }
    if !staged.is_empty() {
        journal.append(
            Event::Restoring {
                files: staged.len(),
            },
            true,
        )?;
    }
    let metas = durable::write_files(
        &root,
        "rollback",
        staged.len(),
        || (),
        |(), n| {
            let w = &staged[n];
            Ok(durable::FileWrite {
                target: w.target.clone(),
                bytes: std::borrow::Cow::Borrowed(&w.bytes),
                ..*w
            })
        },
        |n| staged[n].target.clone(),
        durable::Points {
            written: "restored",
            synced: "restores-synced",
        },
    )?;
    // What the final listing needs of each restored file, without looking it up again.
    let mut known: std::collections::HashMap<String, tree::Entry> = staged
        .iter()
        .zip(metas)
        .filter_map(|(w, entry)| {
            let rel = rel_of(&w.target)?;
            Some((rel.clone(), tree::Entry { path: rel, ..entry }))
        })
        .collect();

    tracing::info!(files = staged.len(), "originals written back and durable");
    // Written and durable: the bytes are not needed any more.
    drop(staged);
    // Copies from other survivors out, the innermost first, before what they replaced
    // comes back: each is renamed to its staging name (one atomic step out of the store),
    // then deleted; one changed since apply (refused above without --force) is displaced.
    for (index, state) in assessment.copies.iter().rev() {
        let CopyState::Placed { changed } = state else {
            continue;
        };
        let dest = root.join(changes[*index].path());
        touched.push((changes[*index].path().to_string(), None));
        if changed.is_empty() {
            let staging = check::staging_dir(&root, *index);
            touched.extend(rel_of(&staging).map(|r| (r, None)));
            durable::rename(&dest, &staging)?;
            durable::sync_dir(&parent_of_path(&dest))?;
            durable::remove(&staging)?;
        } else {
            done.displaced
                .push(displace(&backup.displaced(), *index, &dest)?);
        }
        done.copies_removed += 1;
        failpoint::hit("copy-removed", done.copies_removed - 1)?;
    }

    // Directories back into the store.
    for (index, state) in &assessment.dirs {
        let Change::Remove(r) = &changes[*index] else {
            unreachable!("dirs are removals")
        };
        let target = root.join(&r.path);
        let saved_path = backup.removed(*index);
        let saved = &saved_path;
        match state {
            DirState::InStore | DirState::Lost => continue,
            DirState::RestoredByCopy => {
                durable::remove(saved)?;
                continue;
            }
            DirState::PartlyDeleted => durable::remove(&target)?,
            DirState::Recreated => {
                done.displaced
                    .push(displace(&backup.displaced(), *index, &target)?)
            }
            DirState::InBackup => {}
        }
        match durable::try_rename(saved, &target) {
            Ok(()) => touched.push((r.path.clone(), saved_map.remove(index))),
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                touched.push((r.path.clone(), None));
                let staging = check::sibling(&target, "restore");
                copy::copy_verified(saved, &staging)?;
                durable::rename(&staging, &target)?;
                durable::sync_dir(&parent_of_path(&target))?;
                durable::remove(saved)?;
            }
            Err(e) => return Err(ApplyError::io("move back", &saved)(e)),
        }
        done.dirs_restored += 1;
        failpoint::hit("dir-restored", done.dirs_restored - 1)?;
    }

    // Directories the plan created, children first; anything a server wrote into one
    // since was refused above, or (with --force) goes into `displaced/` with it.
    for (index, state) in assessment.made.iter().rev() {
        let record::MadeState::Present { others } = state else {
            continue;
        };
        let path = root.join(changes[*index].path());
        touched.push((changes[*index].path().to_string(), None));
        if others.is_empty() {
            durable::remove(&path)?;
        } else {
            done.displaced
                .push(displace(&backup.displaced(), *index, &path)?);
        }
        done.dirs_restored += 1;
    }

    // Every file's and directory's time, where rollback (this run or one a crash cut
    // short) left the contents original: renames move directory times.
    let mut dirs = BTreeSet::new();
    for (index, state) in &assessment.files {
        let rel = changes[*index].path();
        if *state == FileState::Original && retime_if_needed(&root, rel, &before)? {
            touched.push((rel.to_string(), None));
        }
        dirs.insert(backup::parent_of(rel).to_string());
    }
    for c in changes {
        match c {
            Change::Remove(r) => {
                dirs.insert(backup::parent_of(&r.path).to_string());
            }
            Change::Copy(c) => {
                dirs.insert(backup::parent_of(&c.path).to_string());
                dirs.insert(crate::store::JETSTREAM_DIR.to_string());
            }
            Change::Edit(_) | Change::Mkdir(_) => {}
        }
    }
    for t in assessment.temps.iter().chain(&assessment.partials) {
        if let Ok(rel) = parent_of_path(t).strip_prefix(&root) {
            dirs.insert(rel.to_string_lossy().into_owned());
        }
    }
    let mut synced = Vec::new();
    for rel in &dirs {
        let dir = if rel.is_empty() {
            root.clone()
        } else {
            root.join(rel)
        };
        let Some(entry) = before.get(rel) else {
            continue;
        };
        synced.push(dir.clone());
        let expected = before.children_of(rel);
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        let names: Vec<String> = read
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        let now: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let mtime = tree::Entry::stat(&dir, rel.clone())
            .map(|e| e.mtime_ns)
            .ok();
        if expected == now && mtime != Some(entry.mtime_ns) {
            durable::set_mtime(&dir, entry.mtime_ns)?;
        }
    }
    durable::sync_filesystem(&root, &synced)?;
    durable::sync_filesystem(&backup.root, std::slice::from_ref(&backup.root))?;
    tracing::info!("directories back, times restored, durable");

    let now = relisted(&root, listing, touched, &dirs, &mut known)?;
    done.not_original = backup::differences(&before.entries, &now);
    Ok(done)
}

fn rolled_back_event(done: &RolledBack) -> Event {
    Event::RolledBack {
        files_restored: done.files_restored,
        dirs_restored: done.dirs_restored,
        temps_removed: done.temps_removed,
        displaced: done.displaced.clone(),
        not_original: done.not_original.len(),
        copies_removed: done.copies_removed,
    }
}

/// The original bytes of edit `index`: from the originals pack, or failing that from the
/// manifest, whichever matches the hash.
fn verified_original<'a>(
    record: &Record,
    pack: &'a backup::Originals,
    edits: &mut check::Edits<'_>,
    index: usize,
    sha: &str,
) -> Result<std::borrow::Cow<'a, [u8]>, ApplyError> {
    if let Some(bytes) = pack.get(sha) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let e = edits.get(index)?;
    tracing::debug!(path = %e.path, "the saved original is missing or damaged; using the manifest's copy");
    match e.before_bytes() {
        Ok(Some(bytes)) if sha256_hex(&bytes) == sha => {
            Ok(std::borrow::Cow::Owned(bytes.into_owned()))
        }
        _ => Err(ApplyError::invalid(&record.backup.root)(
            BackupProblem::NoOriginal {
                path: e.path.clone(),
                sha256: sha.to_string(),
            },
        )),
    }
}

/// Moves `path` into `displaced/` (never deleting it) and returns where, relative to the
/// backup.
fn displace(displaced: &Path, index: usize, path: &Path) -> Result<String, ApplyError> {
    if !displaced.is_dir() {
        durable::create_private_dir(displaced)?;
    }
    let name = format!(
        "{index}-{}",
        path.file_name().unwrap_or_default().to_string_lossy()
    );
    let to = displaced.join(&name);
    match durable::try_rename(path, &to) {
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
                let (_, bytes) = crate::store::file::read_regular(path).map_err(|e| {
                    ApplyError::io("read", path)(match e {
                        crate::store::file::ReadError::Io(io) => io,
                        other => std::io::Error::new(std::io::ErrorKind::Unsupported, other),
                    })
                })?;
                durable::write_new(&to, &bytes, own_perms(0o600))?;
                durable::sync_each(std::slice::from_ref(&to))?;
                durable::remove(path)?;
            }
        }
        Err(e) => return Err(ApplyError::io("move aside", path)(e)),
    }
    Ok(format!("displaced/{name}"))
}

fn parent_of_path(p: &Path) -> PathBuf {
    p.parent().unwrap_or(Path::new("/")).to_path_buf()
}

/// The store as it is now, from `listing` (taken before rollback changed anything, under
/// the lock) with every subtree in `touched` listed again (from the listing given, for a
/// directory renamed back whole, or from disk) and every directory of `dirs` stat'ed
/// again (`written`: files rollback wrote, as it wrote them, taken as used): the same as a walk of the
/// whole store, for the cost of what rollback changed.
fn relisted(
    root: &Path,
    listing: Vec<tree::Entry>,
    touched: Vec<(String, Option<Vec<tree::Entry>>)>,
    dirs: &BTreeSet<String>,
    written: &mut std::collections::HashMap<String, tree::Entry>,
) -> Result<Vec<tree::Entry>, ApplyError> {
    use std::collections::{BTreeMap, BTreeSet};
    // What rollback changed, by path (`None`: gone), and the subtrees listed again: applied
    // to `listing` in place (a store can have hundreds of thousands of entries, so they are
    // not copied into a map).
    let mut changed: BTreeMap<String, Option<tree::Entry>> = BTreeMap::new();
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    let within = |p: &str, rel: &str| {
        p.starts_with(rel) && (p.len() == rel.len() || p.as_bytes()[rel.len()] == b'/')
    };
    for (rel, known) in touched {
        if rel.is_empty() {
            continue;
        }
        let stale: Vec<String> = changed
            .range(rel.clone()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(&rel))
            .filter(|k| within(k, &rel))
            .cloned()
            .collect();
        for k in stale {
            changed.remove(&k);
        }
        dropped.insert(rel.clone());
        let abs = root.join(&rel);
        let entry = match written.remove(&rel) {
            Some(e) => e,
            None => match tree::Entry::stat(&abs, rel.clone()) {
                Ok(e) => e,
                Err(_) => continue,
            },
        };
        let inner = match (entry.kind, known) {
            ('d', Some(known)) => known,
            ('d', None) => tree::list(&abs)?,
            _ => Vec::new(),
        };
        for e in tree::nested(entry, &inner) {
            changed.insert(e.path.clone(), Some(e));
        }
    }
    for rel in dirs.iter().filter(|d| !d.is_empty()) {
        let now = tree::Entry::stat(&root.join(rel), rel.clone()).ok();
        changed.insert(rel.clone(), now);
    }
    // A path is dropped when it or one of its ancestors was listed again.
    let in_dropped = |p: &str| {
        dropped.contains(p) || p.match_indices('/').any(|(i, _)| dropped.contains(&p[..i]))
    };
    let mut listing = listing;
    listing.retain(|e| !changed.contains_key(&e.path) && !in_dropped(&e.path));
    listing.reserve_exact(changed.len());
    listing.extend(changed.into_values().flatten());
    listing.sort_unstable();
    Ok(listing)
}

/// A file rollback restored but whose time (or mode) it did not get to put back (a crash
/// between the two): its contents are original, so give it its original time too. Whether
/// anything was done.
fn retime_if_needed(root: &Path, rel: &str, before: &Snapshot) -> Result<bool, ApplyError> {
    let (Some(want), Ok(now)) = (
        before.get(rel),
        tree::Entry::stat(&root.join(rel), rel.into()),
    ) else {
        return Ok(false);
    };
    if now.size != want.size || (now.mode == want.mode && now.mtime_ns == want.mtime_ns) {
        return Ok(false);
    }
    if now.mode != want.mode && now.kind == 'f' && want.kind == 'f' {
        std::fs::set_permissions(
            root.join(rel),
            std::os::unix::fs::PermissionsExt::from_mode(want.mode & 0o7777),
        )
        .map_err(ApplyError::io("set the mode of", &root.join(rel)))?;
    }
    if now.mtime_ns != want.mtime_ns {
        durable::set_mtime(&root.join(rel), want.mtime_ns)?;
    }
    Ok(true)
}
