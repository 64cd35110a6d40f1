//! Cheap summaries of directory trees: file count, byte count and a fingerprint built from
//! metadata alone (names, types, sizes, modification times, modes), never from file
//! contents, so summarizing a Raft group with gigabytes of log costs one `stat` per file.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::StoreError;

/// What a directory tree holds, by metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeSummary {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// `sha256:` and the hex SHA-256 of one line per entry, in path order:
    /// relative path, kind, size, mtime in nanoseconds and mode.
    pub fingerprint: String,
}

/// One entry of a tree, by metadata.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Relative to the walked directory, `/`-separated.
    pub path: String,
    /// `d` directory, `f` file, `l` symlink, `o` anything else.
    pub kind: char,
    /// Bytes; 0 for a directory.
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Entry {
    /// Reads the metadata of `path` (not following a symlink), naming it `rel`.
    pub fn stat(path: &Path, rel: String) -> Result<Entry, StoreError> {
        let meta = std::fs::symlink_metadata(path).map_err(StoreError::io(path))?;
        Ok(Entry::from_metadata(&meta, rel))
    }

    /// From metadata already read (not following symlinks).
    pub fn from_metadata(meta: &std::fs::Metadata, rel: String) -> Entry {
        let kind = if meta.is_dir() {
            'd'
        } else if meta.file_type().is_symlink() {
            'l'
        } else if meta.is_file() {
            'f'
        } else {
            'o'
        };
        Entry {
            path: rel,
            kind,
            size: if kind == 'd' { 0 } else { meta.len() },
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }
}

/// Every entry under `dir` (not `dir` itself), in path order, without following symlinks.
pub fn list(dir: &Path) -> Result<Vec<Entry>, StoreError> {
    let out = std::sync::Mutex::new(Vec::new());
    walk(dir, "", &out, true)?;
    let mut entries = out.into_inner().expect("a walker panicked");
    // Paths are unique; an unstable sort needs no scratch copy of 100,000 entries.
    entries.sort_unstable();
    // Grown by doubling: up to half of it is slack, held as long as the listing is.
    entries.shrink_to_fit();
    Ok(entries)
}

/// The entries of `listing` (see [`list`]) inside its directory `dir`, with their paths
/// relative to it, as [`list`] of that directory names them.
fn inside_each<'a>(listing: &'a [Entry], dir: &str) -> impl Iterator<Item = (&'a str, &'a Entry)> {
    let prefix = format!("{dir}/");
    let start = listing.partition_point(|e| e.path.as_str() < prefix.as_str());
    let skip = prefix.len();
    listing[start..]
        .iter()
        .take_while(move |e| e.path.starts_with(&prefix))
        .map(move |e| (&e.path[skip..], e))
}

/// The entries of `listing` (see [`list`]) inside its directory `dir`, relative to it, as
/// [`list`] of that directory gives them.
#[cfg(test)]
pub fn inside(listing: &[Entry], dir: &str) -> Vec<Entry> {
    inside_each(listing, dir)
        .map(|(path, e)| Entry {
            path: path.to_string(),
            ..e.clone()
        })
        .collect()
}

/// [`summarize_entries`] of the entries of `listing` inside its directory `dir` (relative
/// to it), without copying them.
pub fn summarize_inside(listing: &[Entry], dir: &str) -> TreeSummary {
    summarize_each(inside_each(listing, dir).map(|(path, e)| ("", path, e)))
}

/// `listing` (of some directory `d`) as a listing of `d`'s parent: `entry` is `d` itself,
/// named as in the parent; every path is put under it.
pub fn nested(entry: Entry, listing: &[Entry]) -> Vec<Entry> {
    let mut out = Vec::with_capacity(listing.len() + 1);
    let name = entry.path.clone();
    out.push(entry);
    out.extend(listing.iter().map(|e| Entry {
        path: format!("{name}/{}", e.path),
        ..e.clone()
    }));
    out
}

/// Walks `dir` without following symlinks and summarizes it.
pub fn summarize(dir: &Path) -> Result<TreeSummary, StoreError> {
    summarize_entries(&list(dir)?)
}

/// Whether `path` (relative) is one of `exclude` or inside one.
pub fn excluded(path: &str, exclude: &[String]) -> bool {
    exclude
        .iter()
        .any(|x| path == x || (path.starts_with(x.as_str()) && path.as_bytes()[x.len()] == b'/'))
}

/// Every entry under `dir` but those `exclude` names (relative paths) and what is in them.
pub fn list_excluding(dir: &Path, exclude: &[String]) -> Result<Vec<Entry>, StoreError> {
    let mut entries = list(dir)?;
    entries.retain(|e| !excluded(&e.path, exclude));
    Ok(entries)
}

/// [`summarize`] of `dir` without what `exclude` names.
pub fn summarize_excluding(dir: &Path, exclude: &[String]) -> Result<TreeSummary, StoreError> {
    summarize_entries(&list_excluding(dir, exclude)?)
}

/// The summary of a listing (see [`list`]).
pub fn summarize_entries(entries: &[Entry]) -> Result<TreeSummary, StoreError> {
    Ok(summarize_each(
        entries.iter().map(|e| ("", e.path.as_str(), e)),
    ))
}

/// [`summarize_entries`] of [`nested`]`(entry, listing)`, without making that listing.
pub fn summarize_nested(entry: &Entry, listing: &[Entry]) -> TreeSummary {
    let prefix = format!("{}/", entry.path);
    let under = listing
        .iter()
        .map(|e| (prefix.as_str(), e.path.as_str(), e));
    summarize_each(std::iter::once(("", entry.path.as_str(), entry)).chain(under))
}

/// The summary of entries given as (prefix, path, entry): the path of each is the first
/// two together; the entry's own path is not used.
fn summarize_each<'a>(entries: impl Iterator<Item = (&'a str, &'a str, &'a Entry)>) -> TreeSummary {
    let mut hasher = Sha256::new();
    let (mut files, mut dirs, mut bytes) = (0, 0, 0);
    for (prefix, path, e) in entries {
        match e.kind {
            'd' => dirs += 1,
            _ => {
                files += 1;
                bytes += e.size;
            }
        }
        hasher.update(format!(
            "{prefix}{path}\0{}\0{}\0{}\0{:o}\n",
            e.kind, e.size, e.mtime_ns, e.mode
        ));
    }
    TreeSummary {
        files,
        dirs,
        bytes,
        fingerprint: format!("sha256:{:x}", hasher.finalize()),
    }
}

/// [`summarize`] of a directory, [`summarize_file`] of anything else (a removed file such as
/// `msgs/index.db`), never following a link.
pub fn summarize_any(path: &Path) -> Result<TreeSummary, StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => summarize(path),
        _ => summarize_file(path),
    }
}

/// A summary of a single non-directory entry (a stray file where a directory was expected).
pub fn summarize_file(path: &Path) -> Result<TreeSummary, StoreError> {
    let meta = std::fs::symlink_metadata(path).map_err(StoreError::io(path))?;
    let line = format!(
        "\0f\0{}\0{}\0{}\0{:o}\n",
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.mode()
    );
    Ok(TreeSummary {
        files: 1,
        dirs: 0,
        bytes: meta.len(),
        fingerprint: format!("sha256:{:x}", Sha256::digest(line)),
    })
}

/// Lists `dir` (named `rel`) into `out`, one directory at a time. With `split`, the first
/// directory with many subdirectories (a store's streams, a Raft directory's groups) has
/// them walked on every core: a listing is a stat per entry, and 100,000 of them are most
/// of the time apply spends checking a store.
fn walk(
    dir: &Path,
    rel: &str,
    out: &std::sync::Mutex<Vec<Entry>>,
    split: bool,
) -> Result<(), StoreError> {
    let mut here = Vec::new();
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(StoreError::io(dir))? {
        let entry = entry.map_err(StoreError::io(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| StoreError::NonUtf8Name { path: path.clone() })?;
        let child = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        // Relative to the open directory: no path walk per entry.
        let meta = entry.metadata().map_err(StoreError::io(&path))?;
        let e = Entry::from_metadata(&meta, child.clone());
        if e.kind == 'd' {
            subdirs.push((path, child));
        }
        here.push(e);
    }
    out.lock().expect("a walker panicked").append(&mut here);
    const MANY: usize = 64;
    if split && subdirs.len() >= MANY {
        let parts = crate::par::map_chunks(&subdirs, crate::par::cores(), |part| {
            part.iter()
                .try_for_each(|(path, child)| walk(path, child, out, false))
        });
        return parts.into_iter().collect();
    }
    subdirs
        .iter()
        .try_for_each(|(path, child)| walk(path, child, out, split))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_fingerprints_by_metadata() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/x"), b"hello").unwrap();
        std::fs::write(dir.path().join("y"), b"12").unwrap();
        let s = summarize(dir.path()).unwrap();
        assert_eq!((s.files, s.dirs, s.bytes), (2, 2, 7));
        // Parts of one listing summarize as walks of those parts do.
        let all = list(dir.path()).unwrap();
        assert_eq!(
            summarize_entries(&inside(&all, "a")).unwrap(),
            summarize(&dir.path().join("a")).unwrap()
        );
        assert_eq!(
            summarize_inside(&all, "a"),
            summarize(&dir.path().join("a")).unwrap()
        );
        let a = Entry::stat(&dir.path().join("a"), "a".into()).unwrap();
        // Summarized nested without making the nested listing: the same.
        assert_eq!(
            summarize_nested(&a, &inside(&all, "a")),
            summarize_entries(&nested(a.clone(), &inside(&all, "a"))).unwrap()
        );
        let mut rebuilt = nested(a, &inside(&all, "a"));
        rebuilt.push(Entry::stat(&dir.path().join("y"), "y".into()).unwrap());
        assert_eq!(rebuilt, all);
        assert_eq!(summarize(dir.path()).unwrap(), s);
        std::fs::write(dir.path().join("y"), b"123").unwrap();
        assert_ne!(summarize(dir.path()).unwrap().fingerprint, s.fingerprint);
    }
}
