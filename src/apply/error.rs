//! Why an apply, rollback or status refused or failed, and what to do about it.
//!
//! Every cause is a typed value, rendered only when printed: the operator sees each
//! `caused by:` line, and the exit code is chosen from the variant, never from text.

use std::path::{Path, PathBuf};

use crate::store::file::FileKind;
use crate::store::in_use::InUse;
use crate::store::StoreError;

/// A file or directory that is not what the manifest or the backup expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Relative to the store.
    pub path: String,
    pub found: Found,
}

/// A survivor's directory that changed since the plan: what it holds now, and what the
/// plan saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChange {
    pub source: PathBuf,
    pub files: u64,
    pub bytes: u64,
    pub expected_files: u64,
    pub expected_bytes: u64,
}

/// What was found instead of what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A FIFO, device, link... where the plan has a regular file (the same words `plan`
    /// uses when it refuses one).
    NotRegular(FileKind),
    /// A directory on the way to it is not a plain directory of the store.
    AncestorNotADirectory {
        dir: PathBuf,
        kind: FileKind,
    },
    AncestorMissing {
        dir: PathBuf,
    },
    /// Apply's temporary file from an interrupted run.
    LeftoverTemp(PathBuf),
    Gone,
    /// It already holds what the plan writes.
    AlreadyApplied,
    /// The plan creates it, and it exists.
    ExistsNow,
    /// A directory the plan creates holds what the plan did not put there.
    DirHasOthers(Vec<String>),
    ContentsChanged {
        sha256: String,
        expected: String,
    },
    ModeChanged {
        mode: u32,
        expected: u32,
    },
    DirChanged {
        files: u64,
        bytes: u64,
        expected_files: u64,
        expected_bytes: u64,
    },
    NotADirectory(FileKind),
    DirGone,
    // What rollback finds changed since apply.
    DeletedSinceApply,
    ChangedSinceApply {
        sha256: String,
    },
    ReplacedSinceApply(FileKind),
    DirRecreated,
    DirLost,
    /// A survivor's directory the plan copies from changed since the plan.
    SourceChanged(Box<SourceChange>),
    /// A directory apply copied in was changed since (by a server that ran on it).
    CopyChangedSinceApply(Vec<String>),
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::NotRegular(kind) => write!(f, "it is {kind}, not a regular file"),
            Found::AncestorNotADirectory { dir, kind } => {
                write!(f, "`{}` is {kind}, not a directory", dir.display())
            }
            Found::AncestorMissing { dir } => write!(f, "`{}` does not exist", dir.display()),
            Found::LeftoverTemp(p) => write!(
                f,
                "`{}` is left over from an apply that was interrupted; roll that one back first",
                p.display()
            ),
            Found::Gone => f.write_str("it no longer exists"),
            Found::AlreadyApplied => {
                f.write_str("it already has the contents this plan writes (applied already?)")
            }
            Found::ExistsNow => f.write_str("it exists now; the plan would create it"),
            Found::DirHasOthers(names) => write!(
                f,
                "it holds entries apply did not create since apply: {}",
                names.join(", ")
            ),
            Found::ContentsChanged { sha256, expected } => write!(
                f,
                "its contents changed (sha256 {}, the plan expects {})",
                short(sha256),
                short(expected)
            ),
            Found::ModeChanged { mode, expected } => {
                write!(f, "its mode is {mode:04o}, the plan saw {expected:04o}")
            }
            Found::DirChanged {
                files,
                bytes,
                expected_files,
                expected_bytes,
            } => write!(
                f,
                "its contents changed: {files} files, {bytes} bytes now; the plan saw \
                 {expected_files} files, {expected_bytes} bytes"
            ),
            Found::NotADirectory(kind) => write!(f, "it is {kind} now, not a directory"),
            Found::DirGone => f.write_str("it no longer exists (removed by an earlier apply?)"),
            Found::DeletedSinceApply => f.write_str("deleted since apply"),
            Found::ChangedSinceApply { sha256 } => write!(
                f,
                "changed since apply (sha256 {}: neither the original nor what apply wrote)",
                short(sha256)
            ),
            Found::SourceChanged(c) => write!(
                f,
                "the survivor's copy it comes from, `{}`, changed since the plan: {} files, {} \
                 bytes now; the plan saw {} files, {} bytes",
                c.source.display(),
                c.files,
                c.bytes,
                c.expected_files,
                c.expected_bytes
            ),
            Found::CopyChangedSinceApply(what) => write!(
                f,
                "apply copied it in, and it changed since: {}",
                what.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
            ),
            Found::ReplacedSinceApply(kind) => {
                write!(f, "replaced since apply: it is {kind} now")
            }
            Found::DirRecreated => {
                f.write_str("a new directory by that name is in the store since apply")
            }
            Found::DirLost => f.write_str("it is neither in the store nor in the backup"),
        }
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.path, self.found)
    }
}

/// Why a manifest is not one `plan` could have written.
#[derive(Debug, thiserror::Error)]
pub enum ManifestProblem {
    #[error("it is a directory, not a plan file")]
    IsADirectory,
    #[error("it does not exist")]
    Missing,
    #[error("it changed while apply ran (its bytes no longer hash as when it was read)")]
    ChangedWhileApplying,
    #[error("it is not a plan")]
    NotJson(#[source] crate::plan::manifest::ReadSplitError),
    #[error(
        "schema `{schema}` version {version} is not `{}` version {}",
        crate::plan::manifest::SCHEMA,
        crate::plan::manifest::SCHEMA_VERSION
    )]
    Schema { schema: String, version: u32 },
    #[error("its store `{0}` is not an absolute path")]
    StoreNotAbsolute(String),
    #[error("the path `{0}` leaves the store's `jetstream/` directory")]
    PathLeavesStore(String),
    #[error("`{0}` is changed twice")]
    ChangedTwice(String),
    #[error("`{0}` is not a meta.inf, meta.sum, meta.key or o.dat file, nor a new message block or block key; plans edit nothing else")]
    NotAMetaFile(String),
    #[error("`{path}`: bad base64")]
    Base64 {
        path: String,
        #[source]
        source: base64::DecodeError,
    },
    #[error("`{0}`: `after` does not match `after_sha256`")]
    AfterHash(String),
    #[error("`{0}`: `before` does not match `before_sha256`")]
    BeforeHash(String),
    #[error("`{path}`: mode {mode:o} is not a permission mode")]
    Mode { path: String, mode: u32 },
    #[error("`{inner}` is inside `{outer}`, which is also removed")]
    Nested { inner: String, outer: String },
    #[error("`{0}`: schema version 1 has no `mkdir`")]
    MkdirInVersion1(String),
    #[error("`{0}`: schema version 1 has no `copy`")]
    CopyInVersion1(String),
    #[error(
        "`{path}`: a copy goes to a stream (`jetstream/<account>/streams/<stream>`) or consumer \
         (`.../obs/<consumer>`) directory from the same kind of directory of an absolute store_dir, \
         excluding only consumer directories"
    )]
    BadCopy { path: String },
}

/// Why a backup directory cannot be trusted, or is not one.
#[derive(Debug, thiserror::Error)]
pub enum BackupProblem {
    #[error("it does not exist")]
    NotFound,
    #[error("it is not a directory")]
    NotADirectory,
    #[error("it is a nats-server store, not a backup directory")]
    IsAStore,
    #[error("it has no `journal.jsonl`, so it is not a directory `apply` made")]
    NoJournal,
    #[error("its journal does not verify")]
    JournalTampered(#[source] super::journal::ChainBreak),
    #[error("its journal does not start with `begin`")]
    NoBegin,
    #[error(
        "its journal is empty: apply was stopped before it recorded its first step, so it never \
         changed the store"
    )]
    NeverBegun,
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{name}` is {kind}, not a regular file")]
    NotRegular { name: &'static str, kind: FileKind },
    #[error("`manifest.json` is not the plan the journal recorded (its sha256 differs)")]
    ManifestChanged,
    #[error("its `manifest.json` is not usable")]
    Manifest(#[source] ManifestProblem),
    #[error("the journal and the manifest name different stores")]
    StoresDiffer,
    #[error("`{0}` does not match the sha256 the journal recorded")]
    SnapshotChanged(&'static str),
    #[error("`{name}` is not readable")]
    SnapshotUnreadable {
        name: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("snapshot schema `{schema}` version {version} is not supported")]
    SnapshotSchema { schema: String, version: u32 },
    #[error("its store `{}` no longer exists", .0.display())]
    StoreGone(PathBuf),
    #[error("`{}` is not the directory this backup was taken from (it was replaced or moved)", .0.display())]
    StoreReplaced(PathBuf),
    #[error("`{}` does not hold what this backup's store held after apply:\n{}", .store.display(), .differences.join("\n"))]
    NotItsStore {
        store: PathBuf,
        differences: Vec<String>,
    },
    #[error("its copy of `{path}` (removed/{index}) changed since it was saved")]
    SavedCopyChanged { path: String, index: usize },
    #[error("no copy of the original `{path}` matches its sha256 {sha256}")]
    NoOriginal { path: String, sha256: String },
    #[error("{0}")]
    Path(Mismatch),
}

/// What a failed command left behind: the one thing the operator must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// The store is as it was before the command.
    Unchanged,
    /// The store was changed part-way: neither as before nor as intended.
    Changed,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{}` is not a usable plan", .path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        problem: ManifestProblem,
    },
    #[error("the store changed since the plan was made; nothing was changed:\n{}", list(.0))]
    Drift(Vec<Mismatch>),
    #[error("another js-recover is working on `{}` (it holds the lock)", .path.display())]
    Locked { path: PathBuf },
    #[error(transparent)]
    InUse(#[from] InUse),
    #[error("the backup directory `{}` is inside the store `{}`", .path.display(), .store.display())]
    BackupInsideStore { path: PathBuf, store: PathBuf },
    #[error("the backup directory `{}` already exists and is not empty", .path.display())]
    BackupNotEmpty { path: PathBuf },
    #[error("`{}` already holds this plan, and its state is: {state}", .path.display())]
    BackupInterrupted { path: PathBuf, state: &'static str },
    #[error("`{}` is not a usable js-recover backup directory", .path.display())]
    BackupInvalid {
        path: PathBuf,
        #[source]
        problem: BackupProblem,
        /// For a store given where a backup was expected: the backups beside it.
        backups: Vec<PathBuf>,
    },
    #[error(
        "not enough free space on the filesystem of `{}`: {need} bytes needed, {free} free", .path.display()
    )]
    NoSpace { path: PathBuf, need: u64, free: u64 },
    #[error(
        "files changed since apply; rollback would overwrite them, so it changed nothing:\n{}",
        list(.0)
    )]
    Conflict(Vec<Mismatch>),
    #[error("cannot {action} `{}`", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "apply failed part-way and was rolled back; the store is as it was{}",
        match .journal { Some(j) => format!(" (the journal could not record this: {})", crate::error::chain(j.as_ref())), None => String::new() }
    )]
    RolledBack {
        #[source]
        source: Box<ApplyError>,
        /// Recording the failure in the journal failed too (the store is still as it was).
        journal: Option<Box<ApplyError>>,
    },
    #[error(
        "apply failed part-way ({}), and rolling it back failed too: the store `{}` is left part-way changed",
        crate::error::chain(.failure.as_ref()), .store.display()
    )]
    RollbackFailed {
        store: PathBuf,
        backup: PathBuf,
        /// Why apply failed.
        failure: Box<ApplyError>,
        /// Why undoing it failed: the chain the operator sees.
        #[source]
        rollback: Box<ApplyError>,
    },
    #[error("rollback stopped part-way: the store `{}` is partly restored", .store.display())]
    RollbackIncomplete {
        store: PathBuf,
        backup: PathBuf,
        #[source]
        source: Box<ApplyError>,
    },
    #[error("injected failure at `{0}`")]
    Failpoint(String),
    #[error(
        "`{}` changed while it was being copied in (a server running on that survivor?)",
        .path.display()
    )]
    SourceChanged { path: PathBuf },
}

fn list(items: &[Mismatch]) -> String {
    const SHOWN: usize = 20;
    let mut text: Vec<String> = items.iter().take(SHOWN).map(|m| format!("  {m}")).collect();
    if items.len() > SHOWN {
        text.push(format!("  ... and {} more", items.len() - SHOWN));
    }
    text.join("\n")
}

impl ApplyError {
    /// This error with the plan file `file` called `name` (`prepare`'s own plan, a file the
    /// operator never named and that is gone once the error is printed).
    pub fn with_plan_named(self, file: &Path, name: &Path) -> ApplyError {
        match self {
            ApplyError::Manifest { path, problem } if path == file => ApplyError::Manifest {
                path: name.to_path_buf(),
                problem,
            },
            ApplyError::Io {
                action,
                path,
                source,
            } if path == file => ApplyError::Io {
                action,
                path: name.to_path_buf(),
                source,
            },
            other => other,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| ApplyError::Io {
            action,
            path,
            source,
        }
    }

    pub fn invalid(path: impl Into<PathBuf>) -> impl Fn(BackupProblem) -> Self {
        let path = path.into();
        move |problem| ApplyError::BackupInvalid {
            path: path.clone(),
            problem,
            backups: Vec::new(),
        }
    }

    /// What the store was left as.
    pub fn left(&self) -> Left {
        match self {
            ApplyError::RollbackFailed { .. } | ApplyError::RollbackIncomplete { .. } => {
                Left::Changed
            }
            _ => Left::Unchanged,
        }
    }

    pub fn hint(&self) -> Option<String> {
        let q = crate::cmd::quote;
        Some(match self {
            ApplyError::Store(e) => return e.hint().map(str::to_string),
            ApplyError::Manifest {
                problem: ManifestProblem::IsADirectory | ManifestProblem::Missing,
                ..
            } => "give the plan file `js-recover plan STORE --out plan.json` wrote; for a backup \
                  directory use `js-recover status DIR` or `js-recover rollback DIR`; to plan and \
                  apply a store in one step, `js-recover prepare STORE`"
                .into(),
            ApplyError::Manifest { .. } => {
                "make a fresh plan with `js-recover plan STORE --out plan.json`".into()
            }
            ApplyError::Drift(_) => "something changed the store after the plan was made; \
                 review it and make a fresh plan (`js-recover plan STORE --out plan.json`)"
                .into(),
            ApplyError::SourceChanged { .. } => "stop any server running on that survivor's \
                 store, then make a fresh plan (`js-recover plan STORE --from ... --out plan.json`)"
                .into(),
            ApplyError::Locked { .. } => {
                "wait for the other js-recover to finish; if none runs, the lock is gone with it and \
                 you can run the command again"
                    .into()
            }
            ApplyError::InUse(e) => e.hint().into(),
            ApplyError::BackupInsideStore { .. } => {
                "put the backup beside the store, not inside it (the default does that)".into()
            }
            ApplyError::BackupNotEmpty { .. } => {
                "name a new or empty directory with `--backup-dir`, or leave it out for the default"
                    .into()
            }
            ApplyError::BackupInterrupted { path, .. } => format!(
                "see `js-recover status {}`; roll it back with `js-recover rollback {}`, then apply \
                 again with a new backup directory",
                q(path),
                q(path)
            ),
            ApplyError::BackupInvalid {
                problem: BackupProblem::IsAStore,
                backups,
                ..
            } => match backups.as_slice() {
                [] => "give the backup directory `apply` printed; none was found beside this store"
                    .into(),
                found => format!(
                    "give the backup directory `apply` printed; beside this store: {}",
                    found
                        .iter()
                        .map(|b| q(b))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            ApplyError::BackupInvalid {
                problem: BackupProblem::StoreGone(_) | BackupProblem::StoreReplaced(_),
                ..
            } => "if the store was moved or copied, give its new place with `--store PATH` (it is \
                  checked against what the backup recorded)"
                .into(),
            ApplyError::BackupInvalid {
                problem: BackupProblem::NotItsStore { .. },
                ..
            } => "give the store this backup was taken from".into(),
            ApplyError::BackupInvalid {
                problem: BackupProblem::NeverBegun,
                ..
            } => "nothing needs undoing; remove this directory".into(),
            ApplyError::BackupInvalid {
                problem: BackupProblem::JournalTampered(_),
                ..
            } => "if you trust the saved files, `rollback --force` restores from them after \
                  verifying each by hash"
                .into(),
            ApplyError::BackupInvalid { .. } => {
                "give the directory `apply` printed, as apply left it; `js-recover status DIR` shows \
                 what it holds"
                    .into()
            }
            ApplyError::NoSpace { .. } => {
                "free some space, or put the backup on a roomier filesystem with `--backup-dir`".into()
            }
            ApplyError::Conflict(_) => "see what changed with `js-recover status BACKUP_DIR`; \
                 `rollback --force` saves each changed file into the backup's `displaced/` \
                 directory and restores the original"
                .into(),
            ApplyError::Io { source, .. } => io_hint(source).into(),
            ApplyError::RolledBack { source, .. } => return source.hint(),
            ApplyError::RollbackFailed { backup, .. } => format!(
                "fix the cause ({}), then see `js-recover status {}` and put the store back with \
                 `js-recover rollback {}`",
                self.root_io_hint().unwrap_or("see above"),
                q(backup),
                q(backup)
            ),
            ApplyError::RollbackIncomplete { backup, .. } => format!(
                "fix the cause ({}), then run `js-recover rollback {}` again: it goes on from where \
                 it stopped (`js-recover status {}` shows where that is)",
                self.root_io_hint().unwrap_or("see above"),
                q(backup),
                q(backup)
            ),
            ApplyError::Failpoint(_) => return None,
        })
    }

    /// The advice for the I/O error at the root of this one, if there is one.
    fn root_io_hint(&self) -> Option<&'static str> {
        let mut at: &dyn std::error::Error = self;
        loop {
            if let Some(io) = at.downcast_ref::<std::io::Error>() {
                return Some(io_hint(io));
            }
            at = at.source()?;
        }
    }
}

/// What to do about an I/O error, by its kind.
fn io_hint(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match e.kind() {
        StorageFull | QuotaExceeded => "free some space on that filesystem, then run it again",
        PermissionDenied | ReadOnlyFilesystem => {
            "check permissions (run as the user that owns the store) and that the filesystem is \
             writable, then run it again"
        }
        _ => "check the disk and its filesystem (`dmesg` names I/O errors), then run it again",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_own_plan_is_named_as_such_and_nothing_else_is_renamed() {
        let tmp = Path::new("/srv/.js-recover-prepare-x.json");
        let name = Path::new("(the plan prepare made)");
        let changed = |path: &Path| ApplyError::Manifest {
            path: path.to_path_buf(),
            problem: ManifestProblem::ChangedWhileApplying,
        };
        let renamed = changed(tmp).with_plan_named(tmp, name);
        assert!(matches!(&renamed, ApplyError::Manifest { path, .. } if path == name));
        let io = ApplyError::io("read", tmp)(std::io::Error::other("x")).with_plan_named(tmp, name);
        assert!(matches!(&io, ApplyError::Io { path, .. } if path == name));
        // The backup's copy, or any other file, keeps its own name.
        let copy = Path::new("/srv/backup/manifest.json");
        let kept = changed(copy).with_plan_named(tmp, name);
        assert!(matches!(&kept, ApplyError::Manifest { path, .. } if path == copy));
    }
}
