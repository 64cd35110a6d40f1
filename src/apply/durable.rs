//! Making writes durable in batches.
//!
//! A store has thousands of meta files. Syncing each one as it is written costs thousands of
//! sequential disk flushes, so files are written first and made durable together: one
//! `syncfs(2)` for the whole filesystem, or, where that is not available, `fsync` of every
//! file and directory on a pool of threads. Files are rewritten in place ([`write_files`]):
//! creating and freeing thousands of inodes costs more than the writes themselves (on ext4
//! with `discard` most of apply's time went there).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::failpoint::{self, IoOp};
use super::progress::Progress;
use super::ApplyError;
use crate::store::tree::Entry;

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
    sync_filesystem_or(root, || Ok(paths.to_vec()))
}

/// [`sync_filesystem`], the paths to sync one by one listed only if `syncfs` is refused.
fn sync_filesystem_or(
    root: &Path,
    paths: impl FnOnce() -> Result<Vec<PathBuf>, ApplyError>,
) -> Result<(), ApplyError> {
    failpoint::io(IoOp::Sync).map_err(ApplyError::io("sync", root))?;
    let dir = File::open(root).map_err(ApplyError::io("open", root))?;
    match rustix::fs::syncfs(&dir) {
        Ok(()) => Ok(()),
        Err(e) => {
            tracing::debug!(error = %e, "syncfs failed; syncing file by file");
            sync_each(&paths()?)
        }
    }
}

/// `fsync` of every path (file or directory), on a few threads at once.
pub fn sync_each(paths: &[PathBuf]) -> Result<(), ApplyError> {
    // fsync waits on the disk, not the processor: more threads than cores.
    crate::par::map_chunks(paths, crate::par::cores() * 4, |part| {
        part.iter().try_for_each(|p| {
            failpoint::io(IoOp::Sync)
                .and_then(|_| File::open(p))
                .and_then(|f| f.sync_all())
                .map_err(ApplyError::io("sync", p))
        })
    })
    .into_iter()
    .collect()
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
    write_new_with(path, perms, |file| file.write_all(bytes))
}

/// [`write_new`], the contents written by `write`.
pub fn write_new_with(
    path: &Path,
    perms: Perms,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), ApplyError> {
    let mode = perms.mode & 0o7777;
    failpoint::io(IoOp::Write).map_err(ApplyError::io("create", path))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(ApplyError::io("create", path))?;
    write(&mut file).map_err(ApplyError::io("write", path))?;
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

/// Runs `f` on `0..count` on a few threads (file creation and renames spend their time in
/// the kernel, so they overlap well), each thread with a state of its own from `init`,
/// reporting progress; stops at the first error.
fn par_for_each<S>(
    count: usize,
    progress: &mut super::progress::Progress,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize) -> Result<(), ApplyError> + Sync,
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
                    let mut state = init();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count || failed.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        if let Err(e) = f(&mut state, i) {
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

/// One file to write by [`write_files`].
#[derive(Debug)]
pub struct FileWrite<'a> {
    pub target: PathBuf,
    /// Borrowed where it can be (rollback: from the originals' pack).
    pub bytes: std::borrow::Cow<'a, [u8]>,
    /// Mode and owner the file must end with (an existing file keeps its inode).
    pub perms: Perms,
    /// The time to give the file once written (rollback restores the original's).
    pub mtime_ns: Option<i128>,
}

/// The crash points [`write_files`] passes, by the caller's names.
#[derive(Debug, Clone, Copy)]
pub struct Points {
    /// After each file is written (`n` counts files).
    pub written: &'static str,
    /// After all of them are durable.
    pub synced: &'static str,
}

/// The one durable write of apply and rollback, in the manner of a rollback journal: the
/// caller has made every original durable in the backup and journaled that a write window
/// opens; each file is then rewritten in place (same inode: nothing allocated or freed, no
/// directory touched), new files created, on a few threads, and everything made durable
/// with one `syncfs`. A crash inside the window can leave a file half-written; rollback
/// knows the window was open and restores it from the backup.
///
/// A file with other hard links (a store copied with `cp -al`) is never written in place:
/// its new contents go to a temporary file beside it, renamed over it, so the other links
/// keep the original.
///
/// The files are `0..count`, each made by `file` when it is written (with a state of each
/// thread's own from `init`; `target(n)` is where file `n` goes, for syncing one by one
/// where `syncfs` is refused): tens of thousands of files' bytes are never all held. Returns
/// each file's metadata as written (in the order of `0..count`, with no path), so that
/// callers need not look them up again.
pub fn write_files<'a, S>(
    root: &Path,
    label: &str,
    count: usize,
    init: impl Fn() -> S + Sync,
    file: impl Fn(&mut S, usize) -> Result<FileWrite<'a>, ApplyError> + Sync,
    target: impl Fn(usize) -> PathBuf,
    points: Points,
) -> Result<Vec<Entry>, ApplyError> {
    let mut progress = Progress::new(format!("{label}: writing files"), count as u64, false);
    let written: Vec<std::sync::OnceLock<Entry>> =
        (0..count).map(|_| std::sync::OnceLock::new()).collect();
    par_for_each(count, &mut progress, &init, |state, n| {
        let meta = write_file(&file(state, n)?)?;
        let _ = written[n].set(Entry::from_metadata(&meta, String::new()));
        failpoint::hit(points.written, n)
    })?;
    progress.finish();
    let synced = sync_filesystem_or(root, || {
        // `syncfs` refused: every file and its directory, one by one.
        let mut paths: Vec<PathBuf> = (0..count).map(&target).collect();
        let dirs: std::collections::BTreeSet<PathBuf> = paths
            .iter()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        paths.extend(dirs);
        Ok(paths)
    });
    synced?;
    failpoint::hit(points.synced, 0)?;
    Ok(written
        .into_iter()
        .map(|m| m.into_inner().expect("every file written"))
        .collect())
}

/// Where a write goes: into the file as it is, beside it (other links share its inode), or
/// a new file.
enum Target {
    InPlace(File),
    Beside,
    New,
}

fn open_for_write(path: &Path) -> Result<Target, ApplyError> {
    failpoint::io(IoOp::Write).map_err(ApplyError::io("open", path))?;
    // No following a link, no blocking on a FIFO: only a regular file is written into.
    let file = match OpenOptions::new()
        .write(true)
        .custom_flags(libc_flags::NOFOLLOW | libc_flags::NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Target::New),
        Err(e) => return Err(ApplyError::io("open", path)(e)),
    };
    let meta = file.metadata().map_err(ApplyError::io("stat", path))?;
    if !meta.is_file() {
        return Err(ApplyError::io("open", path)(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    Ok(if meta.nlink() > 1 {
        Target::Beside
    } else {
        Target::InPlace(file)
    })
}

/// Flags for opening without following links or blocking (`O_NOFOLLOW`, `O_NONBLOCK`).
mod libc_flags {
    pub const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    pub const NONBLOCK: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;
}

/// Writes one file of [`write_files`] (not synced); its metadata once written.
fn write_file(w: &FileWrite<'_>) -> Result<std::fs::Metadata, ApplyError> {
    match open_for_write(&w.target)? {
        Target::InPlace(file) => {
            use std::os::unix::fs::FileExt;
            let path = &w.target;
            failpoint::io(IoOp::Write).map_err(ApplyError::io("write", path))?;
            file.write_all_at(&w.bytes, 0)
                .and_then(|_| file.set_len(w.bytes.len() as u64))
                .map_err(ApplyError::io("write", path))?;
            let meta = file.metadata().map_err(ApplyError::io("stat", path))?;
            let mode = w.perms.mode & 0o7777;
            let chown = (meta.uid(), meta.gid()) != (w.perms.uid, w.perms.gid);
            if chown {
                std::os::unix::fs::fchown(&file, Some(w.perms.uid), Some(w.perms.gid))
                    .map_err(ApplyError::io("set the owner of", path))?;
            }
            // chown clears set-id bits: put the mode back after it.
            if meta.mode() & 0o7777 != mode || (chown && mode & 0o6000 != 0) {
                file.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(ApplyError::io("set the mode of", path))?;
            }
            if let Some(t) = w.mtime_ns {
                file.set_modified(system_time(t))
                    .map_err(ApplyError::io("set the time of", path))?;
            }
            file.metadata().map_err(ApplyError::io("stat", path))
        }
        Target::Beside => {
            let temp = super::check::sibling(&w.target, "tmp");
            remove(&temp)?;
            write_new(&temp, &w.bytes, w.perms)?;
            rename(&temp, &w.target)?;
            if let Some(t) = w.mtime_ns {
                set_mtime(&w.target, t)?;
            }
            std::fs::symlink_metadata(&w.target).map_err(ApplyError::io("stat", &w.target))
        }
        Target::New => {
            write_new(&w.target, &w.bytes, w.perms)?;
            if let Some(t) = w.mtime_ns {
                set_mtime(&w.target, t)?;
            }
            std::fs::symlink_metadata(&w.target).map_err(ApplyError::io("stat", &w.target))
        }
    }
}

fn system_time(mtime_ns: i128) -> std::time::SystemTime {
    if mtime_ns >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(mtime_ns as u64)
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_nanos(mtime_ns.unsigned_abs() as u64)
    }
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
    let time = system_time(mtime_ns);
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
