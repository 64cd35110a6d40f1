//! Why an apply, rollback or status refused or failed, and what to do about it.

use std::path::PathBuf;

use crate::store::StoreError;

/// A file or directory that is not what the manifest or the backup expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Relative to the store.
    pub path: String,
    /// What was expected and what was found, for a person.
    pub detail: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.path, self.detail)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("`{path}` is not a usable plan: {detail}")]
    Manifest { path: PathBuf, detail: String },
    #[error("the store changed since the plan was made; nothing was changed:\n{}", list(.0))]
    Drift(Vec<Mismatch>),
    #[error("another js-recover is working on `{path}` (it holds the lock)")]
    Locked { path: PathBuf },
    #[error("the store `{path}` is in use by {holders}")]
    InUse { path: PathBuf, holders: String },
    #[error("the backup directory `{path}` is inside the store `{store}`")]
    BackupInsideStore { path: PathBuf, store: PathBuf },
    #[error("the backup directory `{path}` already exists and is not empty")]
    BackupNotEmpty { path: PathBuf },
    #[error("`{path}` already holds this plan, and its state is: {state}")]
    BackupInterrupted { path: PathBuf, state: &'static str },
    #[error("`{path}` is not a usable js-recover backup directory: {detail}")]
    BackupInvalid { path: PathBuf, detail: String },
    #[error(
        "not enough free space on the filesystem of `{path}`: {need} bytes needed, {free} free"
    )]
    NoSpace { path: PathBuf, need: u64, free: u64 },
    #[error(
        "files changed since apply; rollback would overwrite them, so it changed nothing:\n{}",
        list(.0)
    )]
    Conflict(Vec<Mismatch>),
    #[error("cannot {action} `{path}`")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("apply failed part-way and was rolled back; the store is as it was")]
    RolledBack(#[source] Box<ApplyError>),
    #[error("apply failed part-way, and rolling it back failed too ({rollback}); the backup `{backup}` holds everything needed")]
    RollbackFailed {
        backup: PathBuf,
        rollback: String,
        #[source]
        source: Box<ApplyError>,
    },
    #[error("failpoint `{0}`")]
    Failpoint(String),
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

    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ApplyError::Store(e) => return e.hint().map(str::to_string),
            ApplyError::Manifest { .. } => {
                "make a fresh plan with `js-recover plan STORE --out plan.json`".into()
            }
            ApplyError::Drift(_) => "something changed the store after the plan was made; \
                 review it and make a fresh plan (`js-recover plan STORE --out plan.json`)"
                .into(),
            ApplyError::Locked { .. } => {
                "wait for the other js-recover to finish; if none runs, the lock is gone with it and \
                 you can run the command again"
                    .into()
            }
            ApplyError::InUse { .. } => "stop it first (a nats-server must be stopped before its \
                 store is edited), or better, work on a copy of the store_dir (`cp -a STORE STORE.copy`)"
                .into(),
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
                path.display(),
                path.display()
            ),
            ApplyError::BackupInvalid { .. } => {
                "pass the directory `apply` printed; if its journal was damaged and you trust the \
                 saved files, `rollback --force` restores from them after verifying each by hash"
                    .into()
            }
            ApplyError::NoSpace { .. } => {
                "free some space, or put the backup on a roomier filesystem with `--backup-dir`".into()
            }
            ApplyError::Conflict(_) => "see what changed with `js-recover status BACKUP_DIR`; \
                 `rollback --force` saves each changed file into the backup's `displaced/` \
                 directory and restores the original"
                .into(),
            ApplyError::Io { .. } => "check permissions and free space, then run it again".into(),
            ApplyError::RolledBack(inner) => return inner.hint(),
            ApplyError::RollbackFailed { backup, .. } => format!(
                "fix the cause, then run `js-recover rollback {}`",
                backup.display()
            ),
            ApplyError::Failpoint(_) => return None,
        })
    }
}
