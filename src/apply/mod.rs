//! Carrying out a plan under a journal, and undoing it: [`apply`], [`rollback`] and
//! [`status`], all working through a backup directory (see [`backup`]) that holds
//! everything needed to put the store back, and a hash-chained [`journal`] that records who
//! did what, when.

pub mod backup;
pub mod check;
mod copy;
pub mod durable;
mod error;
pub mod failpoint;
pub mod journal;
mod lock;
mod progress;
pub mod record;
pub mod rollback;
pub mod standalone;
pub mod status;
pub mod transaction;

pub use error::{ApplyError, BackupProblem, Found, Left, ManifestProblem, Mismatch};
pub use rollback::{rollback, RollbackOptions, RolledBack};
pub use status::{saved, status, Saved, Status};
pub use transaction::{apply, ApplyOptions, Outcome};
