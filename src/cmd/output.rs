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
    write_file_atomic_with(path, |w| w.write_all(bytes))
}

/// A plan's manifest ([`crate::plan::Plan::write_to`]): to `path` as [`write_file_atomic`]
/// writes, or to stdout, its changes made as they are written (tens of megabytes at
/// thousands of streams: never held whole in memory).
pub fn write_manifest(path: Option<&Path>, m: &crate::plan::Plan) -> Result<(), Error> {
    let json = |w: &mut dyn Write| {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, w);
        m.write_to(&mut w)?;
        w.flush()
    };
    match path {
        Some(path) => write_file_atomic_with(path, json),
        None => {
            let mut out = std::io::stdout().lock();
            json(&mut out).map_err(Error::Stdout)
        }
    }
}

/// [`write_file_atomic`], the contents written by `write`.
fn write_file_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(err)?;
    write(&mut tmp).map_err(err)?;
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

/// The width output should fit: `COLUMNS` when set, else the terminal's when stdout is
/// one, else none (a pipe gets every column whole).
pub fn width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
    {
        return Some(n).filter(|n| *n >= 20);
    }
    let stdout = std::io::stdout();
    if !std::io::IsTerminal::is_terminal(&stdout) {
        return None;
    }
    rustix::termios::tcgetwinsize(&stdout)
        .ok()
        .map(|w| usize::from(w.ws_col))
        .filter(|n| *n >= 20)
}

/// [`table`] within `width` columns: while too wide, the columns named in `optional`
/// (indexes, the first to go first) are left out; then the first column's cells are
/// shortened (ending in `…`).
pub fn table_within(
    rows: &[Vec<String>],
    indent: &str,
    width: Option<usize>,
    optional: &[usize],
) -> String {
    let Some(width) = width else {
        return table(rows, indent);
    };
    let fits = |rows: &[Vec<String>]| {
        table(rows, indent)
            .lines()
            .all(|l| l.chars().count() <= width)
    };
    let mut rows: Vec<Vec<String>> = rows.to_vec();
    let mut dropped: Vec<usize> = Vec::new();
    for &col in optional {
        if fits(&rows) {
            break;
        }
        // Indexes of the original columns shift as columns go.
        let at = col - dropped.iter().filter(|d| **d < col).count();
        for r in &mut rows {
            if at < r.len() {
                r.remove(at);
            }
        }
        dropped.push(col);
    }
    while !fits(&rows) {
        let longest = rows
            .iter()
            .filter_map(|r| r.first())
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0);
        if longest <= 8 {
            break;
        }
        for r in &mut rows {
            if let Some(first) = r.first_mut() {
                if first.chars().count() >= longest {
                    let cut: String = first.chars().take(longest - 2).collect();
                    *first = format!("{cut}…");
                }
            }
        }
    }
    table(&rows, indent)
}

/// `text` wrapped at `width` (none: as it is), each line after the first indented by
/// `hang`.
pub fn wrap(text: &str, width: Option<usize>, first: &str, hang: &str) -> String {
    let Some(width) = width else {
        return format!("{first}{text}\n");
    };
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split(' ') {
        let len = line.chars().count();
        if !empty && len + 1 + word.chars().count() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = hang.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// `1 stream`, `2 streams`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_fit_and_text_wraps() {
        let rows = vec![
            vec!["NAME".to_string(), "A".into(), "B".into()],
            vec![
                "a-very-long-stream-name".to_string(),
                "1".into(),
                "x".repeat(30),
            ],
        ];
        let t = table_within(&rows, "  ", Some(40), &[2]);
        assert!(t.lines().all(|l| l.chars().count() <= 40), "{t}");
        assert!(!t.contains("xxx"), "{t}");
        let t = table_within(&rows, "  ", Some(14), &[2]);
        assert!(t.lines().all(|l| l.chars().count() <= 14), "{t}");
        assert!(t.contains('…'), "{t}");
        assert_eq!(table_within(&rows, "  ", None, &[2]), table(&rows, "  "));
        let w = wrap("one two three four", Some(9), "- ", "  ");
        assert_eq!(w, "- one two\n  three\n  four\n");
        assert_eq!(count(1, "consumer", "consumers"), "1 consumer");
    }

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
