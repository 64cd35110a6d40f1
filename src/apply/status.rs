//! `status`: what a backup directory says was planned, applied and rolled back, whether its
//! journal verifies, and whether the store still matches.
//!
//! # Wire format
//!
//! `status --json` prints one object, schema `js-recover/status` version 1: `backup_dir`,
//! `store`, `state` (`begun`, `interrupted`, `applied`, `failed`, `rolling-back`,
//! `rolled-back`), `journal` (`entries`, `verified`, `problem`, `torn_tail`), `history` (one
//! item per journal entry: `seq`, `at`, `kind`, `user`, `host`, `detail`), `plan` (the
//! manifest's `created_at` and `summary`) and `store_check` (null when the store is gone):
//! counts of edited files that are `original`, `applied` or `changed`, of removed directories
//! `in_store` or `in_backup`, of directories the plan creates that exist (`dirs_made`),
//! directories copied in from other survivors in place (`copies_placed`) or staged
//! (`copies_staged`), leftover temporary files, `changed_since_apply`, and `matches`:
//! `applied`, `original` or `neither`. With `--files`, `files` lists what the backup holds:
//! `originals` (`path`, `bytes`, `mode`, `sha256`, and `pack_offset`: where its bytes are in
//! `originals.pack`, null when the pack lacks them), `created` (files apply created, which
//! rollback deletes), `removed` (`path`, `saved_as` relative to the backup directory,
//! `files`, `bytes`, `in_backup`) and `copied` (directories copied in from other survivors:
//! `path`, `source`).

use std::path::PathBuf;

use serde::Serialize;

use super::backup;
use super::journal::Event;
use super::record::{self, DirState, FileState, Record, State};
use super::ApplyError;
use crate::plan::manifest::Summary;
use crate::store::tree;

pub const SCHEMA: &str = "js-recover/status";

#[derive(Debug, Serialize)]
pub struct Status {
    pub schema: &'static str,
    pub schema_version: u32,
    pub backup_dir: PathBuf,
    pub store: PathBuf,
    pub state: State,
    pub journal: JournalStatus,
    pub history: Vec<HistoryItem>,
    pub plan: PlanInfo,
    pub store_check: Option<StoreCheck>,
}

#[derive(Debug, Serialize)]
pub struct JournalStatus {
    pub entries: usize,
    pub verified: bool,
    pub problem: Option<super::journal::ChainBreak>,
    pub torn_tail: bool,
}

#[derive(Debug, Serialize)]
pub struct HistoryItem {
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub kind: String,
    pub user: String,
    pub host: String,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct PlanInfo {
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub summary: Summary,
}

#[derive(Debug, Serialize)]
pub struct StoreCheck {
    pub files_original: usize,
    pub files_applied: usize,
    pub files_changed: Vec<String>,
    pub dirs_in_store: usize,
    /// Directories the plan creates that exist.
    pub dirs_made: usize,
    pub dirs_in_backup: usize,
    pub dirs_other: Vec<String>,
    /// Directories copied in from other survivors that are in place, and copies staged
    /// (in part or whole) but not in place.
    pub copies_placed: usize,
    pub copies_staged: usize,
    pub leftover_temps: usize,
    pub changed_since_apply: Vec<String>,
    pub matches: &'static str,
}

/// Reads `dir` and looks at its store; a journal that does not verify is reported, not
/// refused.
pub fn status(dir: &std::path::Path) -> Result<Status, ApplyError> {
    let record = Record::open(dir, true)?;
    let history = record
        .journal
        .entries
        .iter()
        .map(|e| HistoryItem {
            seq: e.seq,
            at: e.at,
            kind: kind(&e.event).into(),
            user: e.user.clone(),
            host: e.host.clone(),
            detail: detail(&e.event),
        })
        .collect();
    let store_check = if record.store.is_dir() {
        Some(check_store(&record)?)
    } else {
        None
    };
    Ok(Status {
        schema: SCHEMA,
        schema_version: 1,
        backup_dir: record.backup.root.clone(),
        store: record.store.clone(),
        state: record.state,
        journal: JournalStatus {
            entries: record.journal.entries.len(),
            verified: record.journal.tampered.is_none(),
            problem: record.journal.tampered.clone(),
            torn_tail: record.journal.torn_tail,
        },
        history,
        plan: PlanInfo {
            created_at: record.loaded.manifest.created_at,
            summary: record.loaded.manifest.summary.clone(),
        },
        store_check,
    })
}

fn check_store(record: &Record) -> Result<StoreCheck, ApplyError> {
    let listing = tree::list(&record.store)?;
    let a = record::assess(record, &listing)?;
    let changes = &record.loaded.manifest.changes;
    let count = |s: FileState| a.files.iter().filter(|(_, x)| *x == s).count();
    let files_changed = a
        .conflicts(record)
        .into_iter()
        .map(|m| m.to_string())
        .collect();
    let dirs_other = a
        .dirs
        .iter()
        .filter(|(_, s)| !matches!(s, DirState::InStore | DirState::InBackup))
        .map(|(i, s)| format!("`{}`: {s:?}", changes[*i].path()))
        .collect();
    let changed_since_apply = match (&record.after_sha256, record.state) {
        (Some(sha), State::Applied) => backup::differences_from(
            &record.backup.snapshot_after(),
            super::backup::SNAPSHOT_AFTER,
            sha,
            &listing,
        )?,
        _ => Vec::new(),
    };
    let original = count(FileState::Original);
    let applied = count(FileState::Applied);
    let in_store = a
        .dirs
        .iter()
        .filter(|(_, s)| *s == DirState::InStore)
        .count();
    let in_backup = a
        .dirs
        .iter()
        .filter(|(_, s)| *s == DirState::InBackup)
        .count();
    let clean = a.temps.is_empty() && a.partials.is_empty();
    let made = a
        .made
        .iter()
        .filter(|(_, s)| matches!(s, record::MadeState::Present { .. }))
        .count();
    let copies = |f: fn(&record::CopyState) -> bool| a.copies.iter().filter(|(_, s)| f(s)).count();
    let placed = copies(|s| matches!(s, record::CopyState::Placed { .. }));
    let staged = copies(|s| *s == record::CopyState::Staged);
    let matches = if clean
        && applied == a.files.len()
        && in_backup == a.dirs.len()
        && made == a.made.len()
        && placed == a.copies.len()
    {
        "applied"
    } else if clean
        && original == a.files.len()
        && in_store == a.dirs.len()
        && made == 0
        && placed + staged == 0
    {
        "original"
    } else {
        "neither"
    };
    Ok(StoreCheck {
        files_original: original,
        files_applied: applied,
        files_changed,
        copies_placed: placed,
        copies_staged: staged,
        dirs_in_store: in_store,
        dirs_in_backup: in_backup,
        dirs_made: made,
        dirs_other,
        leftover_temps: a.temps.len(),
        changed_since_apply,
        matches,
    })
}

fn kind(e: &Event) -> &'static str {
    match e {
        Event::Begin { .. } => "begin",
        Event::BackedUp { .. } => "backed-up",
        Event::Moved { .. } => "moved",
        Event::Copied { .. } => "copied",
        Event::Staged { .. } => "staged",
        Event::Placed { .. } => "placed",
        Event::Writing { .. } => "writing",
        Event::Applied { .. } => "applied",
        Event::Failed { .. } => "failed",
        Event::RollbackStarted { .. } => "rollback-started",
        Event::Restoring { .. } => "restoring",
        Event::RolledBack { .. } => "rolled-back",
    }
}

fn detail(e: &Event) -> String {
    match e {
        Event::Begin {
            changes, removal, ..
        } => format!("{changes} changes planned; directories leave by {removal:?}").to_lowercase(),
        Event::BackedUp { originals, .. } => format!("{originals} original files saved"),
        Event::Moved { path, how, .. } => {
            format!("`{path}` moved into the backup ({})", format!("{how:?}").to_lowercase())
        }
        Event::Copied { path, files, .. } => format!("`{path}` copied ({files} files), verified"),
        Event::Staged { path, files, .. } => {
            format!("`{path}` copied in from another survivor ({files} files), verified")
        }
        Event::Placed { path, .. } => format!("`{path}` in place"),
        Event::Writing { files } => format!("{files} files being written in place"),
        Event::Restoring { files } => format!("{files} originals being written back in place"),
        Event::Applied {
            files_edited,
            dirs_removed,
            ..
        } => format!(
            "{files_edited} files edited, {dirs_removed} director{} removed",
            if *dirs_removed == 1 { "y" } else { "ies" }
        ),
        Event::Failed { error, rolled_back } => format!(
            "{error}{}",
            if *rolled_back { " (rolled back)" } else { "" }
        ),
        Event::RollbackStarted { force } => {
            if *force {
                "with --force".into()
            } else {
                String::new()
            }
        }
        Event::RolledBack {
            files_restored,
            dirs_restored,
            not_original,
            displaced,
            ..
        } => format!(
            "{files_restored} files and {dirs_restored} director{} restored; {} displaced; {not_original} entries not as before apply",
            if *dirs_restored == 1 { "y" } else { "ies" },
            displaced.len()
        ),
    }
}

/// What a backup directory holds, file by file (`status --files`).
#[derive(Debug, Serialize)]
pub struct Saved {
    pub originals: Vec<SavedOriginal>,
    pub created: Vec<String>,
    pub removed: Vec<SavedDir>,
    pub copied: Vec<CopiedDir>,
}

#[derive(Debug, Serialize)]
pub struct SavedOriginal {
    /// In the store.
    pub path: String,
    pub bytes: u64,
    /// Octal permission bits (`0640`).
    pub mode: String,
    pub sha256: String,
    /// Where its bytes start in `originals.pack` (`bytes` long).
    pub pack_offset: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct SavedDir {
    pub path: String,
    /// Relative to the backup directory (`removed/<index>`).
    pub saved_as: String,
    pub files: u64,
    pub bytes: u64,
    /// Whether it is in the backup now (not moved back).
    pub in_backup: bool,
}

#[derive(Debug, Serialize)]
pub struct CopiedDir {
    pub path: String,
    pub source: String,
}

/// Lists what the backup directory `dir` holds.
pub fn saved(dir: &std::path::Path) -> Result<Saved, ApplyError> {
    use crate::plan::Change;
    let record = Record::open(dir, true)?;
    let pack = backup::Originals::read(&record.backup);
    let m = &record.loaded.manifest;
    let copies = super::check::Copies::of(m);
    let mut out = Saved {
        originals: Vec::new(),
        created: Vec::new(),
        removed: Vec::new(),
        copied: Vec::new(),
    };
    for (index, change) in m.changes.iter().enumerate() {
        if copies.containing(index, change.path()).is_some() {
            continue;
        }
        match change {
            Change::Edit(e) => match &e.before_sha256 {
                Some(sha) => out.originals.push(SavedOriginal {
                    path: e.path.clone(),
                    bytes: record.loaded.lengths(index).before,
                    mode: format!("{:04o}", e.mode & 0o7777),
                    sha256: sha.clone(),
                    pack_offset: pack.locate(sha).map(|(offset, _)| offset as u64),
                }),
                None => out.created.push(e.path.clone()),
            },
            Change::Remove(r) => out.removed.push(SavedDir {
                path: r.path.clone(),
                saved_as: format!("removed/{index}"),
                files: r.files,
                bytes: r.bytes,
                in_backup: record.backup.removed(index).symlink_metadata().is_ok(),
            }),
            Change::Copy(c) => out.copied.push(CopiedDir {
                path: c.path.clone(),
                source: c.source_dir().display().to_string(),
            }),
            Change::Mkdir(_) => {}
        }
    }
    Ok(out)
}
