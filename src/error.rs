//! The errors a command can end with, what to do about each, and the exit codes scripts
//! can rely on.

use std::path::PathBuf;

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
    /// Refused because the store is in use by a running process.
    pub const IN_USE: u8 = 4;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("the store `{path}` is in use by {holders}")]
    InUse { path: PathBuf, holders: String },
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
}

impl Error {
    /// What the operator can do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Store(e) => e.hint().map(str::to_string),
            Error::Plan(e) => e.hint().map(str::to_string),
            Error::InUse { .. } => Some(
                "stop it first (a nats-server must be stopped before its store is edited), or better, \
                 work on a copy of the store_dir (`cp -a STORE STORE.copy`)"
                    .into(),
            ),
            Error::OutputInsideStore { .. } => Some("write the file outside the store_dir".into()),
            Error::Write { .. } => {
                Some("check the directory exists, is writable and has free space".into())
            }
            Error::Stdout(_) => None,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::InUse { .. } => exit::IN_USE,
            _ => exit::FAILURE,
        }
    }

    /// Output cut short by a closed pipe (`| head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
