//! Making writes durable in batches.
//!
//! A store has thousands of meta files. Syncing each one as it is written costs thousands of
//! sequential disk flushes, so files are written first and made durable together: one
//! `syncfs(2)` for the whole filesystem, or, where that is not available, `fsync` of every
//! file and directory on a pool of threads. Only then are they renamed into place, and the
//! renames are made durable the same way.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::failpoint::{self, IoOp};
use super::progress::Progress;
use super::ApplyError;

/// Syncs a directory, so that entries created, renamed or removed in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), ApplyError> {
    failpoint::io(IoOp::Sync)
        .and_then(|_| File::open(dir))
        .and_then(|d| d.sync_all())
        .map_err(ApplyError::io("sync", dir))
}

/// `rename(2)`: atomic, and durable once its directories are synced.
pub fn rename(from: &Path, to: &Path) -> Result<(), ApplyError> {
    failpoint::io(IoOp::Rename)
        .and_then(|_| std::fs::rename(from, to))
        .map_err(ApplyError::io("rename", from))
}

/// [`rename`], keeping the error as it is, for callers that act on its kind (a rename
/// across filesystems falls back to a copy).
pub fn try_rename(from: &Path, to: &Path) -> std::io::Result<()> {
    failpoint::io(IoOp::Rename).and_then(|_| std::fs::rename(from, to))
}

/// Removes a file, a link or a whole directory tree; nothing there is fine.
pub fn remove(path: &Path) -> Result<(), ApplyError> {
    let result = match path.symlink_metadata() {
        Err(_) => return Ok(()),
        Ok(m) if m.is_dir() => {
            failpoint::io(IoOp::Unlink).and_then(|_| std::fs::remove_dir_all(path))
        }
        Ok(_) => failpoint::io(IoOp::Unlink).and_then(|_| std::fs::remove_file(path)),
    };
    result.map_err(ApplyError::io("remove", path))
}

/// Makes everything written on the filesystem of `root` durable: `syncfs`, or if the kernel
/// refuses it, `fsync` of each of `paths` in parallel.
pub fn sync_filesystem(root: &Path, paths: &[PathBuf]) -> Result<(), ApplyError> {
    failpoint::io(IoOp::Sync).map_err(ApplyError::io("sync", root))?;
    let dir = File::open(root).map_err(ApplyError::io("open", root))?;
    match rustix::fs::syncfs(&dir) {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::debug!(error = %e, "syncfs failed; syncing file by file");
            sync_each(paths)
        }
    }
}

/// `fsync` of every path (file or directory), on a few threads at once.
pub fn sync_each(paths: &[PathBuf]) -> Result<(), ApplyError> {
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get() * 4);
    let chunk = paths.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = paths
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    for p in part {
                        failpoint::io(IoOp::Sync)
                            .and_then(|_| File::open(p))
                            .and_then(|f| f.sync_all())
                            .map_err(ApplyError::io("sync", p))?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a sync thread panicked"))
    })
}

/// Owner and permission bits a written file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    /// Permission bits (`0o600`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Creates `path`, which must not exist, with `bytes`, `perms.mode` (whatever the umask) and
/// `perms`' owner where this process may set it. Not synced: see [`sync_filesystem`].
pub fn write_new(path: &Path, bytes: &[u8], perms: Perms) -> Result<(), ApplyError> {
    let mode = perms.mode & 0o7777;
    failpoint::io(IoOp::Write).map_err(ApplyError::io("create", path))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(ApplyError::io("create", path))?;
    file.write_all(bytes)
        .map_err(ApplyError::io("write", path))?;
    let me = whoami();
    if (perms.uid, perms.gid) != (me.uid, me.gid) {
        // Running as root on a store owned by `nats`: the server must still read the file.
        std::os::unix::fs::fchown(&file, Some(perms.uid), Some(perms.gid))
            .map_err(ApplyError::io("set the owner of", path))?;
    }
    // The umask may have cleared bits, and chown clears set-id bits: put the mode back.
    if mode & me.umask != 0 || mode & 0o7000 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(ApplyError::io("set the mode of", path))?;
    }
    Ok(())
}

/// A file this process writes for itself (into the backup): its own owner.
pub fn own_perms(mode: u32) -> Perms {
    let me = whoami();
    Perms {
        mode,
        uid: me.uid,
        gid: me.gid,
    }
}

struct Me {
    uid: u32,
    gid: u32,
    umask: u32,
}

/// This process's effective ids and umask, read once.
fn whoami() -> &'static Me {
    static ME: std::sync::OnceLock<Me> = std::sync::OnceLock::new();
    ME.get_or_init(|| {
        // The only way to read the umask is to set it; set it straight back.
        let mask = rustix::process::umask(rustix::fs::Mode::empty());
        rustix::process::umask(mask);
        Me {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            umask: mask.bits(),
        }
    })
}

/// Runs `f` on every item on a few threads (file creation and renames spend their time in
/// the kernel, so they overlap well), reporting progress; stops at the first error.
pub fn par_for_each<T: Sync>(
    items: &[T],
    progress: &mut super::progress::Progress,
    f: impl Fn(usize, &T) -> Result<(), ApplyError> + Sync,
) -> Result<(), ApplyError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| -> Result<(), ApplyError> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= items.len() || failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        if let Err(e) = f(i, &items[i]) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        while workers.iter().any(|w| !w.is_finished()) {
            progress.set(done.load(Ordering::Relaxed) as u64);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a worker thread panicked"))
    })
}

/// One file to put in place by [`replace_files`].
#[derive(Debug)]
pub struct Replacement {
    pub target: PathBuf,
    /// Where the new contents are written first: beside `target`, a fixed name per
    /// command, so a crash leaves a temporary file the next run recognizes.
    pub temp: PathBuf,
    pub bytes: Vec<u8>,
    pub perms: Perms,
    /// The time to give the file once in place (rollback restores the original's).
    pub mtime_ns: Option<i128>,
}

/// The crash points [`replace_files`] passes, by the caller's names.
#[derive(Debug, Clone, Copy)]
pub struct Points {
    pub written: &'static str,
    pub synced: &'static str,
    pub renamed: &'static str,
}

/// The one durable write of apply and rollback: every new content is written beside its
/// target (a few threads), made durable together (one `syncfs`), then renamed over its
/// target, so each file is at any instant either its old or its new contents. The renames
/// are durable once the caller syncs the directories (with its own).
pub fn replace_files(
    root: &Path,
    label: &str,
    files: &[Replacement],
    points: Points,
) -> Result<(), ApplyError> {
    let mut progress = Progress::new(format!("{label}: writing files"), files.len() as u64, false);
    par_for_each(files, &mut progress, |n, r| {
        remove(&r.temp)?;
        write_new(&r.temp, &r.bytes, r.perms)?;
        failpoint::hit(points.written, n)
    })?;
    progress.finish();
    let temps: Vec<PathBuf> = files.iter().map(|r| r.temp.clone()).collect();
    sync_filesystem(root, &temps)?;
    failpoint::hit(points.synced, 0)?;
    let mut progress = Progress::new(
        format!("{label}: renaming files"),
        files.len() as u64,
        false,
    );
    par_for_each(files, &mut progress, |n, r| {
        rename(&r.temp, &r.target)?;
        if let Some(t) = r.mtime_ns {
            set_mtime(&r.target, t)?;
        }
        failpoint::hit(points.renamed, n)
    })?;
    progress.finish();
    Ok(())
}

/// Creates directory `path` (which must not exist) with `perms`, whatever the umask. Not
/// synced: sync its parent.
pub fn create_dir(path: &Path, perms: Perms) -> Result<(), ApplyError> {
    failpoint::io(IoOp::Write)
        .and_then(|_| std::fs::DirBuilder::new().mode(perms.mode).create(path))
        .map_err(ApplyError::io("create", path))?;
    let me = whoami();
    if (perms.uid, perms.gid) != (me.uid, me.gid) {
        std::os::unix::fs::chown(path, Some(perms.uid), Some(perms.gid))
            .map_err(ApplyError::io("set the owner of", path))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(perms.mode & 0o7777))
        .map_err(ApplyError::io("set the mode of", path))
}

/// Creates a directory only this user can read (a backup holds the store's metadata).
pub fn create_private_dir(dir: &Path) -> Result<(), ApplyError> {
    failpoint::io(IoOp::Write)
        .and_then(|_| std::fs::DirBuilder::new().mode(0o700).create(dir))
        .map_err(ApplyError::io("create", dir))
}

/// Sets the modification time of `path` (a file or directory) to `mtime_ns`.
pub fn set_mtime(path: &Path, mtime_ns: i128) -> Result<(), ApplyError> {
    let time = if mtime_ns >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(mtime_ns as u64)
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_nanos(mtime_ns.unsigned_abs() as u64)
    };
    failpoint::io(IoOp::Write)
        .and_then(|_| File::open(path))
        .and_then(|f| f.set_modified(time))
        .map_err(ApplyError::io("set the time of", path))
}

/// Free bytes for an unprivileged writer on the filesystem of `path`.
pub fn free_bytes(path: &Path) -> Result<u64, ApplyError> {
    let st = rustix::fs::statvfs(path).map_err(|e| ApplyError::Io {
        action: "measure free space on",
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// The device a path lives on, to tell whether a rename between two paths can work.
pub fn device(path: &Path) -> Result<u64, ApplyError> {
    std::fs::metadata(path)
        .map(|m| m.dev())
        .map_err(ApplyError::io("stat", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_new_sets_mode_despite_umask_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let me = std::fs::metadata(dir.path()).unwrap();
        let perms = Perms {
            mode: 0o640,
            uid: me.uid(),
            gid: me.gid(),
        };
        write_new(&p, b"x", perms).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        assert!(write_new(&p, b"y", perms).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
        sync_filesystem(dir.path(), std::slice::from_ref(&p)).unwrap();
        sync_each(&[p.clone(), dir.path().to_path_buf()]).unwrap();
        set_mtime(&p, 1_600_000_000_123_456_789).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 123_456_789));
    }
}
