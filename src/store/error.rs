//! Errors from reading a store.

use std::path::PathBuf;

/// A store that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("`{path}` does not exist")]
    NotFound { path: PathBuf },
    #[error("`{path}` is not a nats-server store: it has no `jetstream` directory")]
    NotAStore { path: PathBuf },
    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not valid JSON: {detail}")]
    Malformed { path: String, detail: String },
    #[error("`{path}` has a name that is not valid UTF-8")]
    NonUtf8Name { path: PathBuf },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }

    /// What the operator can do about it.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            StoreError::NotFound { .. } | StoreError::NotAStore { .. } => Some(
                "pass the server's `store_dir` (the directory that contains `jetstream/`) or the \
                 `jetstream/` directory itself",
            ),
            StoreError::Io { .. } => {
                Some("check the permissions; run as the user that owns the store")
            }
            StoreError::Malformed { .. } => Some(
                "restore that file from another copy of the store (a backup, or another node's disk), \
                 or move its stream directory out of this store copy and recover it separately",
            ),
            StoreError::NonUtf8Name { .. } => {
                Some("rename the entry or move it out of the store copy")
            }
        }
    }
}
