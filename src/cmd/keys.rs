//! `--key-file`, `--prev-key-file` and `--cipher`: opening a store encrypted at rest.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::store::crypto::{Cipher, Keys};
use crate::Error;

/// The options `inspect`, `plan` and `prepare` share for encrypted stores.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// For a store encrypted at rest: a file holding the server's JetStream key, the string
    /// of `jetstream { key: ... }` (one trailing newline is ignored). Never give a key on the
    /// command line
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// A file holding the server's previous key (`prev_key`), if the key was rotated
    #[arg(long, value_name = "FILE", requires = "key_file")]
    pub prev_key_file: Option<PathBuf>,
    /// The server's `cipher`, tried first; the other is tried next, as the server does
    #[arg(long, value_enum, requires = "key_file")]
    pub cipher: Option<Cipher>,
}

impl KeyArgs {
    /// The keys, read from their files; `None` without `--key-file`.
    pub fn load(&self) -> Result<Option<Keys>, Error> {
        let Some(current) = &self.key_file else {
            return Ok(None);
        };
        let previous = self.prev_key_file.as_deref().map(read_key).transpose()?;
        Ok(Some(Keys::new(read_key(current)?, previous, self.cipher)))
    }
}

fn read_key(path: &Path) -> Result<Vec<u8>, Error> {
    // A pipe is fine (`--key-file <(vault read ...)`), and never blocks forever.
    let mut key = crate::store::file::read_input(path).map_err(|source| Error::KeyFile {
        path: path.into(),
        source,
    })?;
    // Editors and `echo` end files with a newline; the server's key string has none.
    if key.ends_with(b"\n") {
        key.pop();
        if key.ends_with(b"\r") {
            key.pop();
        }
    }
    if key.is_empty() {
        return Err(Error::EmptyKey { path: path.into() });
    }
    Ok(key)
}
