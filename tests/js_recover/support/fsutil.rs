//! Copying store trees for experiments.
//!
//! Stores are copied, never shared, so one test's recovery edits cannot leak
//! into another's. Modes and modification times are kept, as `cp -a` keeps them:
//! a recovery tool may care about both (js-recover compares block and index times).

use std::fs;
use std::path::Path;

/// Copies the tree at `src` into `dst` (created if missing), keeping modes and mtimes.
pub fn copy_tree(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("create `{}`: {e}", dst.display()));
    let entries = fs::read_dir(src).unwrap_or_else(|e| panic!("read `{}`: {e}", src.display()));
    for entry in entries {
        let entry = entry.expect("read dir entry");
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&from, &to);
        } else if kind.is_symlink() {
            let target = fs::read_link(&from).expect("read symlink");
            std::os::unix::fs::symlink(target, &to).expect("copy symlink");
        } else {
            // fs::copy keeps the permission bits of the source file.
            fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy `{}` to `{}`: {e}", from.display(), to.display()));
            copy_mtime(&from, &to);
        }
    }
    // Set last: a read-only dir mode must not block copying its contents, and adding
    // entries would change the mtime.
    let perms = fs::metadata(src).expect("dir metadata").permissions();
    fs::set_permissions(dst, perms).expect("set dir permissions");
    copy_mtime(src, dst);
}

fn copy_mtime(from: &Path, to: &Path) {
    let mtime = fs::metadata(from)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("mtime of `{}`: {e}", from.display()));
    fs::File::open(to)
        .and_then(|f| f.set_modified(mtime))
        .unwrap_or_else(|e| panic!("set mtime of `{}`: {e}", to.display()));
}

/// `s` as one word for `sh -c`.
pub fn shell_quote(s: &std::ffi::OsStr) -> String {
    let s = s.to_string_lossy();
    format!("'{}'", s.replace('\'', "'\\''"))
}
