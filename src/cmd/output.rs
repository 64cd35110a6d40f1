//! Writing results: JSON and tables to stdout, files atomically, sizes for people.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// Writes `text` to stdout; a closed pipe is reported as such so the binary exits quietly.
pub fn stdout(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .map_err(Error::Stdout)
}

/// Writes the report of a command that has changed the store: the change is done whatever
/// happens to the terminal, so a failed write is a warning, not a failure. Its exit code
/// must keep saying what the store is.
pub fn report(text: &str) -> Result<(), Error> {
    match stdout(text) {
        Err(e) if !e.is_broken_pipe() => {
            crate::term::eprintln(&format!(
                "warning: {}; the command itself succeeded (see `js-recover status`)",
                crate::error::chain(&e)
            ));
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A path as a shell word, for commands printed for the operator to paste.
pub fn quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    match shlex::try_quote(&text) {
        Ok(q) => q.into_owned(),
        // A NUL cannot be in a path; keep the text.
        Err(_) => text.into_owned(),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and
/// renamed into place, so a reader never sees half a file.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
}

/// Refuses a path inside the store: nothing but `apply` ever writes there.
pub fn ensure_outside(store_root: &Path, path: &Path) -> Result<(), Error> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let abs = parent.canonicalize().map_err(|source| Error::Write {
        path: path.to_path_buf(),
        source,
    })?;
    if abs.starts_with(store_root) {
        return Err(Error::OutputInsideStore {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

pub use crate::units::human_bytes;

/// Left-aligned columns separated by two spaces.
pub fn table(rows: &[Vec<String>], indent: &str) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < row.len() {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_tables() {
        assert_eq!(human_bytes(10), "10 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        let t = table(
            &[
                vec!["A".into(), "BB".into()],
                vec!["CCC".into(), "D".into()],
            ],
            " ",
        );
        assert_eq!(t, " A    BB\n CCC  D\n");
    }
}
