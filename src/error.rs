//! The errors a command can end with, what to do about each, and the exit codes scripts
//! can rely on.

use std::path::PathBuf;

use crate::apply::ApplyError;
use crate::plan::PlanError;
use crate::store::StoreError;

/// Documented exit codes.
pub mod exit {
    /// Done; for `plan`, also when there is nothing to change.
    pub const SUCCESS: u8 = 0;
    /// Failed: bad input, an unreadable store, a write that failed. Nothing was changed.
    pub const FAILURE: u8 = 1;
    /// The command line was wrong (clap's own code).
    pub const USAGE: u8 = 2;
    /// Refused because the store is not what the plan (for `apply`) or the backup (for
    /// `rollback`) expects: it changed since. Nothing was changed.
    pub const STORE_CHANGED: u8 = 3;
    /// Refused because the store is in use: by a running process, or by another js-recover
    /// (which holds the lock). Nothing was changed.
    pub const IN_USE: u8 = 4;
    /// Refused because the backup directory cannot be trusted: not one `apply` made, or its
    /// journal, manifest or saved files do not verify. Nothing was changed.
    pub const BACKUP_INVALID: u8 = 5;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("`{path}` is inside the store; js-recover never writes into the store it reads")]
    OutputInsideStore { path: PathBuf },
    #[error("cannot write `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write to standard output")]
    Stdout(#[source] std::io::Error),
    #[error("cannot read the key file `{path}`")]
    KeyFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the key file `{path}` is empty")]
    EmptyKey { path: PathBuf },
}

impl Error {
    /// What the operator can do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Store(e) => e.hint().map(str::to_string),
            Error::Plan(e) => e.hint().map(str::to_string),
            Error::Apply(e) => e.hint(),
            Error::OutputInsideStore { .. } => Some("write the file outside the store_dir".into()),
            Error::Write { .. } => {
                Some("check the directory exists, is writable and has free space".into())
            }
            Error::Stdout(_) => None,
            Error::KeyFile { .. } | Error::EmptyKey { .. } => Some(
                "put the server's key string (`jetstream { key: ... }`) in a file readable by this \
                 user, and pass that file"
                    .into(),
            ),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Apply(e) => match e {
                ApplyError::Drift(_) | ApplyError::Conflict(_) => exit::STORE_CHANGED,
                ApplyError::InUse { .. } | ApplyError::Locked { .. } => exit::IN_USE,
                ApplyError::BackupInvalid { .. } => exit::BACKUP_INVALID,
                _ => exit::FAILURE,
            },
            _ => exit::FAILURE,
        }
    }

    /// Output cut short by a closed pipe (`| head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
