//! Copying store trees for experiments.
//!
//! Stores are copied, never shared, so one test's recovery edits cannot leak
//! into another's; file modes are kept because a recovery tool may care.

use std::fs;
use std::path::Path;

/// Copies the tree at `src` into `dst` (created if missing), keeping modes.
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
        }
    }
    // Set last: a read-only dir mode must not block copying its contents.
    let perms = fs::metadata(src).expect("dir metadata").permissions();
    fs::set_permissions(dst, perms).expect("set dir permissions");
}
