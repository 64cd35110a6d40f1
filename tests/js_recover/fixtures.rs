//! Stores for CLI tests and byte-for-byte comparisons of store trees.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The real survivor store bundled in `examples/survivor`.
pub fn example_store_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/survivor")
}

/// A private copy of the example store, so a test may change it.
pub fn example_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    crate::support::fsutil::copy_tree(&example_store_path(), dir.path());
    dir
}

/// Every entry under `root`: relative path -> (mode, contents; empty for directories).
pub type Tree = BTreeMap<String, (u32, Vec<u8>)>;

pub fn tree(root: &Path) -> Tree {
    fn walk(root: &Path, dir: &Path, out: &mut Tree) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(rel, (mode, Vec::new()));
                walk(root, &path, out);
            } else {
                out.insert(rel, (mode, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Tree::new();
    walk(root, root, &mut out);
    out
}

/// Asserts two trees are identical, naming the first differences.
pub fn assert_same_tree(before: &Tree, after: &Tree) {
    let mut diffs = Vec::new();
    for (path, (mode, bytes)) in before {
        match after.get(path) {
            None => diffs.push(format!("missing: {path}")),
            Some((m, _)) if m != mode => diffs.push(format!("mode {mode:o} -> {m:o}: {path}")),
            Some((_, b)) if b != bytes => diffs.push(format!("contents changed: {path}")),
            _ => {}
        }
    }
    diffs.extend(
        after
            .keys()
            .filter(|p| !before.contains_key(*p))
            .map(|p| format!("new: {p}")),
    );
    assert!(diffs.is_empty(), "trees differ:\n{}", diffs.join("\n"));
}

/// `prepare --json STORE --backup-dir BACKUP` plus `extra`, which must succeed: its report.
pub fn prepare_json(store: &Path, backup: &Path, extra: &[&std::ffi::OsStr]) -> serde_json::Value {
    let out = js_recover()
        .args(["prepare", "--json"])
        .arg(store)
        .arg("--backup-dir")
        .arg(backup)
        .args(extra)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).expect("prepare --json prints JSON")
}

/// The `js-recover` binary, with the clock fixed.
pub fn js_recover() -> Command {
    let mut cmd = Command::cargo_bin("js-recover").unwrap();
    cmd.env("JS_RECOVER_NOW", "2026-11-21T12:00:00Z")
        .env_remove("JS_RECOVER_LOG");
    cmd
}
