//! Errors from reading a store.

use std::path::PathBuf;

use super::file::{FileKind, ReadError};

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
    /// A FIFO, device, socket or link where the store has a file: never opened (a FIFO
    /// would block) and never followed (a link may leave the store).
    #[error("`{path}` is {kind}, not a regular file")]
    NotRegular { path: PathBuf, kind: FileKind },
    /// A link or file where the store has a directory that js-recover writes through.
    #[error("`{path}` is {kind}, not a directory")]
    NotADirectory { path: PathBuf, kind: FileKind },
    #[error("`{path}` is not valid JSON: {detail}")]
    Malformed { path: String, detail: String },
    /// Valid JSON, but a field nats-server cannot decode: it refuses the file.
    #[error(
        "`{path}` would be refused by nats-server: {}",
        .fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    Refused {
        path: String,
        fields: Vec<super::json::FieldError>,
    },
    #[error("`{path}` has a name that is not valid UTF-8")]
    NonUtf8Name { path: PathBuf },
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { path, source }
    }

    /// A failed [`super::file::read_regular`] of `path`.
    pub(crate) fn read(path: impl Into<PathBuf>) -> impl FnOnce(ReadError) -> Self {
        let path = path.into();
        move |e| match e {
            ReadError::NotRegular(kind) => StoreError::NotRegular { path, kind },
            e @ ReadError::TooLarge { .. } => StoreError::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            },
            ReadError::Io(source) => StoreError::Io { path, source },
        }
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
            StoreError::NotRegular { .. } | StoreError::NotADirectory { .. } => Some(
                "js-recover reads only regular files and directories in a store and never follows \
                 a link out of it; put the real file or directory there (from another copy of the \
                 store), or work on a copy made with `cp -aL STORE STORE.copy`, which replaces \
                 links with what they point to",
            ),
            StoreError::Malformed { .. } | StoreError::Refused { .. } => Some(
                "restore that file from another copy of the store (a backup, or another node's disk), \
                 or move its stream directory out of this store copy and recover it separately",
            ),
            StoreError::NonUtf8Name { .. } => {
                Some("rename the entry or move it out of the store copy")
            }
        }
    }
}
