//! The errors a command can end with, what to do about each, and the exit codes scripts
//! can rely on.

use std::path::PathBuf;

use crate::apply::{ApplyError, Left};
use crate::plan::PlanError;
use crate::store::in_use::InUse;
use crate::store::StoreError;

/// Documented exit codes. Each says what state the store is in; none depends on whether
/// the terminal could be written to.
pub mod exit {
    /// Done; for `plan`, also when there is nothing to change.
    pub const SUCCESS: u8 = 0;
    /// Failed: bad input, an unreadable store, a write that failed. The store was not
    /// changed (apply that failed part-way put it back).
    pub const FAILURE: u8 = 1;
    /// The command line was wrong (clap's own code). Nothing was changed.
    pub const USAGE: u8 = 2;
    /// Refused because the store is not what the plan (for `apply`) or the backup (for
    /// `rollback`) expects: it changed since. Nothing was changed.
    pub const STORE_CHANGED: u8 = 3;
    /// Refused because the store is in use: by a running process (a nats-server serving
    /// it), or by another js-recover (which holds the lock). Nothing was changed.
    pub const IN_USE: u8 = 4;
    /// Refused because the backup directory cannot be trusted: not one `apply` made (a
    /// store, say), or its journal, manifest or saved files do not verify. Nothing was
    /// changed.
    pub const BACKUP_INVALID: u8 = 5;
    /// Failed part-way and the store is left changed: neither as it was nor as planned.
    /// `js-recover status BACKUP_DIR` tells where it stands; `js-recover rollback
    /// BACKUP_DIR` puts it back.
    pub const LEFT_CHANGED: u8 = 6;
    /// `--require-complete`: the store lacks part of what the lost cluster had (by its Raft
    /// state), or the Raft state cannot tell. `plan` still wrote the plan; the store was not
    /// changed.
    pub const INCOMPLETE: u8 = 7;
    /// Several survivors (`--from`): their copies of a stream or consumer disagree (different
    /// configurations, or different messages at one sequence) and no rule orders them;
    /// `--prefer STORE` decides. No plan was written; nothing was changed.
    pub const AMBIGUOUS: u8 = 8;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    InUse(#[from] InUse),
    #[error("`{}` is inside the store; js-recover never writes into the store it reads", .path.display())]
    OutputInsideStore { path: PathBuf },
    #[error("cannot write `{}`", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write to standard output")]
    Stdout(#[source] std::io::Error),
    #[error("cannot read the key file `{}`", .path.display())]
    KeyFile {
        path: PathBuf,
        #[source]
        source: crate::store::file::ReadError,
    },
    #[error("the key file `{}` is empty", .path.display())]
    EmptyKey { path: PathBuf },
    #[error("the store is not complete ({missing} streams, consumers or copies not all here): {headline}")]
    Incomplete { missing: usize, headline: String },
    #[error("cannot make a standalone config from `{}`", .path.display())]
    NodeConfig {
        path: PathBuf,
        #[source]
        source: crate::apply::standalone::DeriveError,
    },
}

impl Error {
    /// What the operator can do next.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Store(e) => e.hint().map(str::to_string),
            Error::Plan(e) => e.hint().map(str::to_string),
            Error::Apply(e) => e.hint(),
            Error::InUse(e) => Some(e.hint().into()),
            Error::OutputInsideStore { .. } => Some("write the file outside the store_dir".into()),
            Error::Write { .. } => {
                Some("check the directory exists, is writable and has free space".into())
            }
            Error::Stdout(_) => Some(
                "standard output is closed or its disk is full; write the result to a file with \
                 `--out FILE` where the command has it, or redirect standard output"
                    .into(),
            ),
            Error::Incomplete { .. } => Some(
                "look for what is missing on the other survivors' disks (`js-recover inspect` each, \
                 `--from` to combine them), or go on without it: run the plan without \
                 --require-complete"
                    .into(),
            ),
            Error::NodeConfig { .. } => Some(
                "give the node's own nats-server config file (nothing was changed), or leave \
                 --node-config out: a config is then made from the store"
                    .into(),
            ),
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
                _ if e.left() == Left::Changed => exit::LEFT_CHANGED,
                ApplyError::Drift(_) | ApplyError::Conflict(_) => exit::STORE_CHANGED,
                ApplyError::InUse(_) | ApplyError::Locked { .. } => exit::IN_USE,
                ApplyError::BackupInvalid { .. } => exit::BACKUP_INVALID,
                _ => exit::FAILURE,
            },
            Error::InUse(_) => exit::IN_USE,
            Error::Incomplete { .. } => exit::INCOMPLETE,
            Error::Plan(PlanError::Ambiguous(_)) => exit::AMBIGUOUS,
            _ => exit::FAILURE,
        }
    }

    /// Output cut short by a closed pipe (`| head`): not worth a message.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// An error and its causes on one line, `a: b: c`, for a journal entry or a warning.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
