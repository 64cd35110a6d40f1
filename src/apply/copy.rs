//! Moving a directory where `rename` cannot: the backup is on another filesystem. Copy it
//! (with progress), give every entry its original mode, owner and time, verify the copy
//! against the source by metadata fingerprint and by the SHA-256 of every file, make it
//! durable, and only then delete the source.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::durable;
use super::failpoint::{self, IoOp};
use super::progress::Progress;
use super::ApplyError;
use crate::store::tree;

/// Moves `from` to `to` by way of `partial` (same filesystem as `to`); `copied` is called
/// once the copy is complete and durable, before `from` is deleted.
pub fn move_by_copy(
    from: &Path,
    to: &Path,
    partial: &Path,
    copied: impl FnOnce() -> Result<(), ApplyError>,
) -> Result<(), ApplyError> {
    copy_verified(from, partial)?;
    durable::rename(partial, to)?;
    durable::sync_dir(to.parent().unwrap_or(Path::new("/")))?;
    copied()?;
    durable::remove(from)?;
    durable::sync_dir(from.parent().unwrap_or(Path::new("/")))
}

/// Copies directory (or regular file) `from` to `to` (which must not exist; a leftover is
/// removed first), preserving modes, owners and times, verified and durable.
pub fn copy_verified(from: &Path, to: &Path) -> Result<(), ApplyError> {
    durable::remove(to)?;
    if crate::store::file::kind_at(from) == Some(crate::store::file::FileKind::Regular) {
        return copy_file_verified(from, to);
    }
    // Only files and directories: a FIFO would block the copy, a link be followed.
    if let Some(odd) = tree::list(from)?
        .into_iter()
        .find(|e| !matches!(e.kind, 'f' | 'd'))
    {
        return Err(ApplyError::Io {
            action: "copy",
            path: from.join(&odd.path),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "it is not a regular file or a directory, so it cannot be copied to another \
                 filesystem; put the backup directory on the store's filesystem, where it moves \
                 by rename",
            ),
        });
    }
    let source = tree::summarize(from)?;
    failpoint::io(IoOp::Write)
        .and_then(|_| std::fs::create_dir(to))
        .map_err(ApplyError::io("create", to))?;
    let mut progress = Progress::new(format!("copying `{}`", from.display()), source.bytes, true);
    let options = fs_extra::dir::CopyOptions {
        content_only: true,
        overwrite: false,
        ..Default::default()
    };
    failpoint::io(IoOp::Write)
        .map_err(fs_extra::error::Error::from)
        .and_then(|_| {
            fs_extra::dir::copy_with_progress(from, to, &options, |p| {
                progress.set(p.copied_bytes);
                fs_extra::dir::TransitProcessResult::ContinueOrAbort
            })
        })
        .map_err(|e| ApplyError::Io {
            action: "copy",
            path: from.to_path_buf(),
            source: io_error(e),
        })?;
    progress.finish();
    restore_metadata(from, to)?;
    let copy = tree::summarize(to)?;
    let entries = tree::list(from)?;
    let differs = copy.fingerprint != source.fingerprint
        || entries
            .iter()
            .filter(|e| e.kind == 'f')
            .any(|e| file_sha(&from.join(&e.path)).ok() != file_sha(&to.join(&e.path)).ok());
    if differs {
        return Err(ApplyError::Io {
            action: "verify the copy of",
            path: from.to_path_buf(),
            source: std::io::Error::other("the copy differs from the original"),
        });
    }
    let mut paths: Vec<_> = entries.iter().map(|e| to.join(&e.path)).collect();
    paths.push(to.to_path_buf());
    durable::sync_filesystem(to, &paths)
}

/// Copies directory `from` without the sub-paths `exclude` names to `to` (which must not
/// exist; a leftover is removed first): each file with `std::fs::copy`, which uses the
/// kernel's `copy_file_range` (a reflink where the filesystem shares extents), with
/// progress; every entry then gets its source's mode, owner and time. The copy must match
/// `fingerprint` (the plan's, of the source: so a source that changed since the plan is
/// refused, as [`ApplyError::SourceChanged`]) and every file its source by SHA-256; then
/// it is made durable. The source is only read.
pub fn copy_in(
    from: &Path,
    exclude: &[String],
    to: &Path,
    fingerprint: &str,
) -> Result<(), ApplyError> {
    durable::remove(to)?;
    let entries = tree::list_excluding(from, exclude)?;
    if let Some(odd) = entries.iter().find(|e| !matches!(e.kind, 'f' | 'd')) {
        return Err(ApplyError::Io {
            action: "copy",
            path: from.join(&odd.path),
            source: std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "it is not a regular file or a directory",
            ),
        });
    }
    let source = tree::summarize_entries(&entries)?;
    if source.fingerprint != fingerprint {
        return Err(ApplyError::SourceChanged {
            path: from.to_path_buf(),
        });
    }
    failpoint::io(IoOp::Write)
        .and_then(|_| std::fs::create_dir(to))
        .map_err(ApplyError::io("create", to))?;
    let mut progress = Progress::new(format!("copying `{}`", from.display()), source.bytes, true);
    let mut copied = 0;
    for e in &entries {
        let (src, dst) = (from.join(&e.path), to.join(&e.path));
        if e.kind == 'd' {
            failpoint::io(IoOp::Write)
                .and_then(|_| std::fs::create_dir(&dst))
                .map_err(ApplyError::io("create", &dst))?;
            continue;
        }
        failpoint::io(IoOp::Write)
            .and_then(|_| std::fs::copy(&src, &dst))
            .map_err(ApplyError::io("copy", &src))?;
        copied += e.size;
        progress.set(copied);
    }
    progress.finish();
    restore_metadata_of(from, &entries, to)?;
    let copy = tree::summarize(to)?;
    let differs = copy.fingerprint != fingerprint
        || entries
            .iter()
            .filter(|e| e.kind == 'f')
            .any(|e| file_sha(&from.join(&e.path)).ok() != file_sha(&to.join(&e.path)).ok());
    if differs {
        return Err(ApplyError::SourceChanged {
            path: from.to_path_buf(),
        });
    }
    let mut paths: Vec<_> = entries.iter().map(|e| to.join(&e.path)).collect();
    paths.push(to.to_path_buf());
    durable::sync_filesystem(to, &paths)
}

/// A single file (a removed `msgs/index.db`): copied with its mode, owner and time, made
/// durable, and checked by SHA-256.
fn copy_file_verified(from: &Path, to: &Path) -> Result<(), ApplyError> {
    let (meta, bytes) = crate::store::file::read_regular(from)
        .map_err(|e| ApplyError::io("read", from)(e.into_io()))?;
    let e = tree::Entry::from_metadata(&meta, String::new());
    durable::write_new(
        to,
        &bytes,
        durable::Perms {
            mode: e.mode & 0o7777,
            uid: e.uid,
            gid: e.gid,
        },
    )?;
    durable::set_mtime(to, e.mtime_ns)?;
    durable::sync_each(&[to.to_path_buf()])?;
    if file_sha(to).ok() != Some(Sha256::digest(&bytes).to_vec()) {
        return Err(ApplyError::Io {
            action: "verify the copy of",
            path: from.to_path_buf(),
            source: std::io::Error::other("the copy differs from the original"),
        });
    }
    Ok(())
}

/// Gives every entry under `to` (and `to` itself) the mode, owner and time its namesake
/// under `from` has; children before their directories, whose times a child's change moves.
fn restore_metadata(from: &Path, to: &Path) -> Result<(), ApplyError> {
    restore_metadata_of(from, &tree::list(from)?, to)
}

/// [`restore_metadata`] for the listed `entries` of `from` (and `to` itself).
fn restore_metadata_of(from: &Path, entries: &[tree::Entry], to: &Path) -> Result<(), ApplyError> {
    let mut entries = entries.to_vec();
    entries.push(tree::Entry::stat(from, String::new())?);
    entries.sort();
    for e in entries.iter().rev() {
        let target = if e.path.is_empty() {
            to.to_path_buf()
        } else {
            to.join(&e.path)
        };
        std::os::unix::fs::lchown(&target, Some(e.uid), Some(e.gid))
            .map_err(ApplyError::io("set the owner of", &target))?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(e.mode & 0o7777))
            .map_err(ApplyError::io("set the mode of", &target))?;
        durable::set_mtime(&target, e.mtime_ns)?;
    }
    Ok(())
}

/// The I/O error inside an `fs_extra` error (its own text for one says only "Io error"),
/// so the operator reads "No space left on device".
fn io_error(e: fs_extra::error::Error) -> std::io::Error {
    use fs_extra::error::ErrorKind as K;
    use std::io::ErrorKind as Io;
    let kind = match &e.kind {
        K::NotFound => Io::NotFound,
        K::PermissionDenied => Io::PermissionDenied,
        K::AlreadyExists => Io::AlreadyExists,
        K::Interrupted => Io::Interrupted,
        _ => Io::Other,
    };
    let text = e.to_string();
    match e.kind {
        K::Io(io) => io,
        _ => std::io::Error::new(kind, text),
    }
}

fn file_sha(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finalize().to_vec())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_io_error_inside_a_copy_error_is_what_the_operator_reads() {
        let full = std::io::Error::from_raw_os_error(28);
        let e = fs_extra::error::Error::from(full);
        let io = super::io_error(e);
        assert_eq!(io.kind(), std::io::ErrorKind::StorageFull);
        assert!(io.to_string().contains("No space left on device"), "{io}");
    }
}
