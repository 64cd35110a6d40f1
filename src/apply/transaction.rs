//! `apply`: carry out a manifest under a journal, so that a crash at any instant leaves a
//! store that [`super::rollback`] restores exactly.
//!
//! The order is what makes it safe:
//! 1. Check everything, write nothing: the manifest, the lock, running processes, the
//!    backup directory, every file's hash and every directory's fingerprint, free space.
//! 2. Fill the backup directory: the manifest, the journal's `begin`, the original bytes of
//!    every edited file and a metadata snapshot of the store; make them durable together,
//!    then journal `backed-up`. Until then the store is untouched.
//! 3. Move each removed directory into the backup by `rename` (or copy, verify, delete when
//!    the backup is on another filesystem), create new directories, make that durable.
//!    Journal `writing` (the write window opens), rewrite every edited file in place and
//!    create the new ones, make them durable together (see [`durable::write_files`]). A file
//!    cut short inside the window is neither its original nor its new contents; rollback
//!    knows from the journal that apply did that, and restores it from the backup.
//! 4. Write the `after` snapshot and journal `applied`.
//!
//! Any error in step 3 rolls back what was done before the error is reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::backup::{self, Backup, Snapshot};
use super::check::{self, Loaded, Original};
use super::copy;
use super::durable::{self, Perms};
use super::failpoint;
use super::journal::{self, Event, How, Journal, Stamp};
use super::lock::Lock;
use super::rollback;
use super::ApplyError;
use crate::plan::Change;
use crate::store::tree::Entry;

#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Where the backup goes; default: beside the store, named with the UTC time.
    pub backup_dir: Option<PathBuf>,
}

/// What apply did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub store: PathBuf,
    pub backup_dir: PathBuf,
    pub files_edited: usize,
    pub dirs_removed: usize,
    pub bytes_moved: u64,
    /// How directories left the store.
    pub removal: How,
    /// The backup directory already held this plan, applied: nothing was done again.
    pub already_applied: bool,
}

/// Carries out `loaded` (see [`check::load`]).
pub fn apply(loaded: &Loaded, opts: &ApplyOptions) -> Result<Outcome, ApplyError> {
    let m = &loaded.manifest;
    let root = loaded.store.clone();
    if !root.join(crate::store::JETSTREAM_DIR).is_dir() {
        return Err(crate::store::StoreError::NotAStore { path: root }.into());
    }
    let _lock = Lock::acquire(&root)?;
    crate::store::in_use::refuse_if_in_use(&root)?;
    // A survivor copied from must hold still too: a server running on it would change what
    // is being copied.
    let sources: BTreeSet<PathBuf> = m
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Copy(c) => Some(PathBuf::from(&c.source)),
            _ => None,
        })
        .filter(|s| *s != root)
        .collect();
    for source in &sources {
        crate::store::in_use::refuse_if_in_use(source)?;
    }

    let backup_root = match &opts.backup_dir {
        Some(dir) => check::outside_store(&root, dir)?,
        None => backup::default_dir(&root, crate::clock::now()),
    };
    if let Some(done) = existing_backup(&backup_root, loaded)? {
        return Ok(done);
    }
    // The drift check reads every edited file; the `before` snapshot stats every entry of
    // the store. Both only read, so they overlap; the snapshot's listing then checks the
    // directories to remove (one walk for both).
    let (checked, snapshot) = std::thread::scope(|s| {
        let snapshot = s.spawn(|| Snapshot::take(&root));
        let checked = check::against_store(&root, m);
        (
            checked,
            snapshot.join().expect("the snapshot thread panicked"),
        )
    });
    let snapshot = snapshot?;
    let originals = match checked.and_then(|c| c.finish(m, &snapshot.entries)) {
        Err(ApplyError::Drift(drift)) => {
            // Applied already, with the default backup directory: say so, and where.
            if opts.backup_dir.is_none() {
                for dir in super::record::backups_beside(&root) {
                    if let Ok(Some(done)) = existing_backup(&dir, loaded) {
                        return Ok(done);
                    }
                }
            }
            return Err(ApplyError::Drift(drift));
        }
        other => other?,
    };
    tracing::info!(
        files = originals.len(),
        entries = snapshot.entries.len(),
        "the store matches the plan; snapshot taken"
    );
    let how = removal_method(&root, &backup_root)?;
    check_space(&root, &backup_root, loaded, &originals, how)?;

    // Step 2: the backup. Nothing in the store changes until `backed-up` is durable.
    let backup = Backup::new(backup_root.clone());
    create_backup_dir(&backup.root)?;
    let _backup_lock = Lock::acquire(&backup.root)?;
    let manifest_path = backup.manifest();
    loaded.write_copy(&manifest_path)?;
    durable::sync_each(&[manifest_path])?;
    let store_meta = std::fs::metadata(&root).map_err(ApplyError::io("stat", &root))?;
    let mut journal = Journal::create(
        &backup.journal(),
        Stamp::current(),
        Event::Begin {
            store: m.store.clone(),
            store_dev: std::os::unix::fs::MetadataExt::dev(&store_meta),
            store_ino: std::os::unix::fs::MetadataExt::ino(&store_meta),
            manifest_sha256: loaded.sha256.clone(),
            changes: m.changes.len(),
            removal: how,
        },
    )?;
    failpoint::hit("begin", 0)?;
    // The `before` snapshot is in the backup from here on, and read from there.
    let saved = match save_originals(&backup, snapshot, &root, m, &originals) {
        Ok(saved) => saved,
        Err(e) => {
            // The store is untouched; recording that is a courtesy that may fail too.
            let _ = journal.append(
                Event::Failed {
                    error: crate::error::chain(&e),
                    rolled_back: true,
                },
                true,
            );
            return Err(e);
        }
    };
    let Event::BackedUp {
        snapshot_sha256: before,
        ..
    } = &saved
    else {
        unreachable!("save_originals returns what it backed up")
    };
    let before = before.clone();
    journal.append(saved, true)?;
    tracing::info!("originals and snapshot saved and durable");
    failpoint::hit("backed-up", 0)?;

    // Step 3, undone as a whole on any error.
    match carry_out(
        loaded,
        &root,
        &backup,
        &originals,
        &before,
        how,
        &mut journal,
    ) {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            drop(journal);
            Err(undo(&root, &backup, e))
        }
    }
}

/// After `failure` part-way through apply: rolls back, records how that went, and says
/// what state the store is in. Recording is attempted whatever happened, and its own
/// failure never hides the outcome of the rollback.
fn undo(root: &Path, backup: &Backup, failure: ApplyError) -> ApplyError {
    let undone = rollback::rollback_locked(&backup.root, &rollback::RollbackOptions::default());
    let record = journal::read(&backup.journal()).and_then(|read| {
        Journal::open(&backup.journal(), Stamp::current(), &read).append(
            Event::Failed {
                error: crate::error::chain(&failure),
                rolled_back: undone.is_ok(),
            },
            true,
        )
    });
    match undone {
        Ok(_) => ApplyError::RolledBack {
            source: Box::new(failure),
            journal: record.err().map(Box::new),
        },
        Err(r) => ApplyError::RollbackFailed {
            store: root.to_path_buf(),
            backup: backup.root.clone(),
            failure: Box::new(failure),
            rollback: Box::new(r),
        },
    }
}

fn carry_out(
    loaded: &Loaded,
    root: &Path,
    backup: &Backup,
    originals: &[Original],
    before_sha256: &str,
    how: How,
    journal: &mut Journal,
) -> Result<Outcome, ApplyError> {
    let m = &loaded.manifest;
    let mut touched_dirs = BTreeSet::new();
    let mut bytes_moved = 0;
    let mut dirs_removed = 0;

    // Every copy from another survivor first, staged and verified, while what it may be
    // read from (a directory of this store that is then removed) is still in place.
    let copies = check::Copies::of(m);
    for (n, (index, c)) in copies.list.iter().enumerate() {
        let staging = check::staging_dir(root, *index);
        copy::copy_in(&c.source_dir(), &c.exclude, &staging, &c.fingerprint)?;
        journal.append(
            Event::Staged {
                index: *index,
                path: c.path.clone(),
                files: c.files,
                bytes: c.bytes,
            },
            true,
        )?;
        touched_dirs.insert(parent(&staging));
        failpoint::hit("staged", n)?;
    }

    // Then, in the plan's order: directories out, copies into their place, new directories.
    let mut placed = 0;
    let mut removals_durable = true;
    for (index, change) in m.changes.iter().enumerate() {
        match change {
            Change::Remove(r) => {
                let used = remove_one(root, backup, index, r, how, journal)?;
                touched_dirs.insert(parent(&root.join(&r.path)));
                bytes_moved += r.bytes;
                dirs_removed += 1;
                removals_durable = false;
                failpoint::hit("moved", dirs_removed - 1)?;
                let _ = used;
            }
            Change::Copy(c) => {
                // What a copy replaces must be out for good before the copy goes in: a
                // rollback tells them apart by that order.
                if !removals_durable {
                    let dirs: Vec<PathBuf> = touched_dirs.iter().cloned().collect();
                    durable::sync_filesystem(root, &dirs)?;
                    durable::sync_filesystem(&backup.root, &[backup.removed_dir()])?;
                    removals_durable = true;
                }
                let dest = root.join(&c.path);
                durable::rename(&check::staging_dir(root, index), &dest)?;
                journal.append(
                    Event::Placed {
                        index,
                        path: c.path.clone(),
                    },
                    false,
                )?;
                touched_dirs.insert(parent(&dest));
                touched_dirs.insert(dest);
                placed += 1;
                failpoint::hit("placed", placed - 1)?;
            }
            Change::Mkdir(d) => {
                // Owned like their parent.
                let path = root.join(&d.path);
                let parent_entry = crate::store::tree::Entry::stat(&parent(&path), String::new())?;
                durable::create_dir(
                    &path,
                    Perms {
                        mode: d.mode,
                        uid: parent_entry.uid,
                        gid: parent_entry.gid,
                    },
                )?;
                touched_dirs.insert(parent(&path));
                touched_dirs.insert(path);
            }
            Change::Edit(_) => {}
        }
    }

    // Every removal and new directory durable, then the write window opens: from the
    // journal's `writing` on, an edited file may be half-written until `applied`, and
    // rollback restores it from the originals made durable above.
    let dirs: Vec<PathBuf> = touched_dirs.iter().cloned().collect();
    durable::sync_filesystem(root, &dirs)?;
    if dirs_removed > 0 {
        durable::sync_filesystem(&backup.root, &[backup.removed_dir()])?;
    }
    tracing::info!("removals durable");
    failpoint::hit("synced", 0)?;
    // What to write, read again from the plan's copy as each file is written (on every
    // core: tens of thousands of edits, never all held).
    for o in originals {
        touched_dirs.insert(parent(&root.join(m.changes[o.index].path())));
    }
    journal.append(
        Event::Writing {
            files: originals.len(),
        },
        true,
    )?;
    let written = durable::write_files(
        root,
        "apply",
        originals.len(),
        || loaded.edits(),
        |edits, n| {
            let original = &originals[n];
            let e = edits.get(original.index)?;
            Ok(durable::FileWrite {
                target: root.join(&e.path),
                bytes: e.after_bytes().expect("validated").into_owned().into(),
                perms: Perms {
                    mode: e.mode,
                    uid: original.owner.0,
                    gid: original.owner.1,
                },
                mtime_ns: None,
            })
        },
        |n| root.join(m.changes[originals[n].index].path()),
        durable::Points {
            written: "written",
            synced: "written-synced",
        },
    )?;
    let files_edited = written.len();
    tracing::info!(files = files_edited, "files written and durable");
    let dirs: Vec<PathBuf> = touched_dirs.into_iter().collect();
    let known: std::collections::HashMap<&str, &Entry> = originals
        .iter()
        .zip(&written)
        .map(|(o, entry)| (m.changes[o.index].path(), entry))
        .collect();

    let path = backup.snapshot_after();
    let sha = backup::write_after(
        &backup.snapshot_before(),
        before_sha256,
        root,
        m,
        &dirs,
        &known,
        &path,
    )?;
    durable::sync_each(&[path, backup.root.clone()])?;
    journal.append(
        Event::Applied {
            files_edited,
            dirs_removed,
            snapshot_sha256: sha,
        },
        true,
    )?;
    failpoint::hit("applied", 0)?;
    Ok(Outcome {
        store: root.to_path_buf(),
        backup_dir: backup.root.clone(),
        files_edited,
        dirs_removed,
        bytes_moved,
        removal: how,
        already_applied: false,
    })
}

/// Moves removed directory `index` into the backup: by `rename`, or (another filesystem)
/// by copy, verify and delete.
fn remove_one(
    root: &Path,
    backup: &Backup,
    index: usize,
    r: &crate::plan::Remove,
    how: How,
    journal: &mut Journal,
) -> Result<How, ApplyError> {
    let from = root.join(&r.path);
    let to = backup.removed(index);
    if !backup.removed_dir().is_dir() {
        durable::create_private_dir(&backup.removed_dir())?;
    }
    let mut by_copy = || -> Result<How, ApplyError> {
        copy::move_by_copy(&from, &to, &backup.removed_partial(index), || {
            journal.append(
                Event::Copied {
                    index,
                    path: r.path.clone(),
                    files: r.files,
                    bytes: r.bytes,
                },
                true,
            )
        })?;
        Ok(How::Copy)
    };
    let used = match how {
        How::Rename => match durable::try_rename(&from, &to) {
            Ok(()) => How::Rename,
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => by_copy()?,
            Err(e) => return Err(ApplyError::io("move", &from)(e)),
        },
        How::Copy => by_copy()?,
    };
    journal.append(
        Event::Moved {
            index,
            path: r.path.clone(),
            how: used,
        },
        used == How::Copy,
    )?;
    Ok(used)
}

/// Saves every original once, content-addressed in one pack, and the `before` snapshot;
/// makes them durable together. The snapshot is let go: from here on it is read from the
/// backup (see [`backup::write_after`]).
fn save_originals(
    backup: &Backup,
    snapshot: Snapshot,
    root: &Path,
    m: &crate::plan::Manifest,
    originals: &[Original],
) -> Result<Event, ApplyError> {
    // The snapshot first: the listing it holds (100,000 entries at 5,000 streams) is let
    // go before the originals are read, so the two are never held at once.
    let snap_path = backup.snapshot_before();
    let snapshot_sha256 = snapshot.write(&snap_path)?;
    drop(snapshot);
    let pack = save_pack(backup, root, m, originals)?;
    tracing::info!(files = pack.count(), "originals written");
    failpoint::hit("original", 0)?;
    let written = [
        backup.originals_pack(),
        pack.write_index(backup)?,
        snap_path,
        backup.root.clone(),
    ];
    durable::sync_filesystem(&backup.root, &written)?;
    Ok(Event::BackedUp {
        originals: pack.count(),
        snapshot_sha256,
    })
}

/// Writes `originals.pack`: each original read again, in the plan's order, and checked
/// against the plan once more (nothing has changed in the store yet: a file that changed
/// since the check stops apply here, as the check would have).
fn save_pack(
    backup: &Backup,
    root: &Path,
    m: &crate::plan::Manifest,
    originals: &[Original],
) -> Result<backup::PackWriter, ApplyError> {
    use std::io::Write as _;
    let copies = check::Copies::of(m);
    let mut pack = backup::PackWriter::default();
    let mut failed = None;
    let path = backup.originals_pack();
    let ours = std::fs::symlink_metadata(&path).is_err();
    let saved: Vec<&Original> = originals.iter().filter(|o| o.len.is_some()).collect();
    let written = durable::write_new_with(&path, durable::own_perms(0o600), |file| {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, file);
        // Read a batch at a time on every core, added in the plan's order.
        for batch in saved.chunks(1024) {
            let read = crate::par::map_chunks(batch, crate::par::cores(), |part| {
                part.iter()
                    .map(|o| {
                        let Change::Edit(e) = &m.changes[o.index] else {
                            unreachable!("originals are of edits")
                        };
                        read_original(&check::original_path(root, &copies, o.index, &e.path), e)
                    })
                    .collect::<Vec<_>>()
            });
            for bytes in read.into_iter().flatten() {
                match bytes {
                    Ok(bytes) => pack.add(&mut w, &bytes)?,
                    Err(err) => {
                        failed = Some(err);
                        return Err(std::io::Error::other("an original could not be saved"));
                    }
                }
            }
        }
        w.flush()
    });
    if let Some(err) = failed.or(written.err()) {
        // No part of a pack left: the backup holds nothing of this apply but its plan and
        // journal, and a store that did not change.
        if ours {
            let _ = std::fs::remove_file(&path);
        }
        return Err(err);
    }
    Ok(pack)
}

/// The bytes of the file at `from` that edit `e` changes, as the plan has them before.
fn read_original(from: &Path, e: &crate::plan::Edit) -> Result<Vec<u8>, ApplyError> {
    let found = match check::read_before(from, e)? {
        Ok(Some((_, bytes))) => return Ok(bytes),
        Ok(None) => super::error::Found::Gone,
        Err(found) => found,
    };
    Err(ApplyError::Drift(vec![super::error::Mismatch {
        path: e.path.clone(),
        found,
    }]))
}

/// A backup directory given again: fine if new or empty; done already if it holds this very
/// plan, applied; refused otherwise.
fn existing_backup(dir: &Path, loaded: &Loaded) -> Result<Option<Outcome>, ApplyError> {
    let Ok(mut entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    if entries.next().is_none() {
        return Ok(None);
    }
    let backup = Backup::new(dir.to_path_buf());
    let Ok(read) = journal::read(&backup.journal()) else {
        return Err(ApplyError::BackupNotEmpty {
            path: dir.to_path_buf(),
        });
    };
    let same = matches!(
        read.entries.first().map(|e| &e.event),
        Some(Event::Begin { manifest_sha256, .. }) if *manifest_sha256 == loaded.sha256
    );
    if !same || read.tampered.is_some() {
        return Err(ApplyError::BackupNotEmpty {
            path: dir.to_path_buf(),
        });
    }
    let removal = match read.entries.first().map(|e| &e.event) {
        Some(Event::Begin { removal, .. }) => *removal,
        _ => How::Rename,
    };
    match read.entries.last().map(|e| &e.event) {
        Some(Event::Applied {
            files_edited,
            dirs_removed,
            ..
        }) => Ok(Some(Outcome {
            store: loaded.store.clone(),
            backup_dir: dir.to_path_buf(),
            files_edited: *files_edited,
            dirs_removed: *dirs_removed,
            bytes_moved: 0,
            removal,
            already_applied: true,
        })),
        _ => Err(ApplyError::BackupInterrupted {
            path: dir.to_path_buf(),
            state: super::record::Record::open(dir, true)
                .map_or("unreadable", |r| r.state.describe()),
        }),
    }
}

fn create_backup_dir(dir: &Path) -> Result<(), ApplyError> {
    match failpoint::io(failpoint::IoOp::Write).and_then(|_| std::fs::create_dir(dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
        Err(e) => return Err(ApplyError::io("create the backup directory", dir)(e)),
    }
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(ApplyError::io("set the mode of", dir))?;
    durable::sync_dir(dir.parent().unwrap_or(Path::new("/")))
}

/// Rename when the backup is on the store's filesystem; copy otherwise (or when the
/// `JS_RECOVER_FORCE_COPY` test switch is set).
fn removal_method(root: &Path, backup: &Path) -> Result<How, ApplyError> {
    let parent = backup.parent().unwrap_or(Path::new("/"));
    let forced = std::env::var_os("JS_RECOVER_FORCE_COPY").is_some_and(|v| v == "1");
    if forced || durable::device(root)? != durable::device(parent)? {
        tracing::warn!(
            "the backup directory is on another filesystem than the store: directories will be copied, not renamed"
        );
        Ok(How::Copy)
    } else {
        Ok(How::Rename)
    }
}

fn check_space(
    root: &Path,
    backup: &Path,
    loaded: &Loaded,
    originals: &[Original],
    how: How,
) -> Result<(), ApplyError> {
    const MARGIN: u64 = 1 << 20;
    let m = &loaded.manifest;
    let snapshot_estimate = 256 * (m.summary.streams as u64 * 16 + 1024);
    let mut backup_need = loaded.len + snapshot_estimate * 2 + MARGIN;
    backup_need += originals
        .iter()
        .filter_map(|o| o.len)
        .map(|len| len + 4096)
        .sum::<u64>();
    if how == How::Copy {
        backup_need += m
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::Remove(r) => Some(r.bytes + r.files * 4096),
                Change::Edit(_) | Change::Mkdir(_) | Change::Copy(_) => None,
            })
            .sum::<u64>();
    }
    let store_need = MARGIN
        + m.changes
            .iter()
            .enumerate()
            .filter_map(|(index, c)| match c {
                Change::Edit(_) => Some(loaded.lengths(index).after + 4096),
                Change::Mkdir(_) => Some(4096),
                Change::Copy(c) => Some(c.bytes + (c.files + c.dirs) * 4096),
                Change::Remove(_) => None,
            })
            .sum::<u64>();
    let backup_parent = backup.parent().unwrap_or(Path::new("/"));
    let same_fs = durable::device(root)? == durable::device(backup_parent)?;
    let checks: Vec<(&Path, u64)> = if same_fs {
        vec![(backup_parent, backup_need + store_need)]
    } else {
        vec![(backup_parent, backup_need), (root, store_need)]
    };
    for (path, need) in checks {
        let free = durable::free_bytes(path)?;
        if free < need {
            return Err(ApplyError::NoSpace {
                path: path.to_path_buf(),
                need,
                free,
            });
        }
    }
    Ok(())
}

fn parent(p: &Path) -> PathBuf {
    p.parent().unwrap_or(Path::new("/")).to_path_buf()
}
