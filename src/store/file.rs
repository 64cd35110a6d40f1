//! Opening files without being fooled or stalled by what sits at a path.
//!
//! A store copied off a broken disk, or one somebody tinkered with, can hold a FIFO, a
//! device or a symbolic link where a `meta.inf` belongs. Opening a FIFO for reading blocks
//! until a writer appears, so a plain `read` would hang js-recover forever while it holds
//! the store's lock, and a link may lead outside the store. Every file of a store and of a
//! backup directory is therefore read through [`read_regular`]: one non-blocking open that
//! never follows a link at the last component, one `fstat`, and a refusal of anything that
//! is not a regular file. [`FileKind`] names what was found, in the same words wherever the
//! refusal is reported (`plan`, `apply`, `rollback`, `status`).
//!
//! Files the operator hands over (`--key-file`, the plan for `apply`) may be pipes, as with
//! `--key-file <(vault read ...)`: [`read_input`] reads those without blocking forever.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What a directory entry is, for messages and for refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl FileKind {
    pub fn of(meta: &Metadata) -> FileKind {
        Self::of_type(meta.file_type())
    }

    pub fn of_type(t: std::fs::FileType) -> FileKind {
        if t.is_symlink() {
            FileKind::Symlink
        } else if t.is_dir() {
            FileKind::Directory
        } else if t.is_fifo() {
            FileKind::Fifo
        } else if t.is_socket() {
            FileKind::Socket
        } else if t.is_char_device() {
            FileKind::CharDevice
        } else if t.is_block_device() {
            FileKind::BlockDevice
        } else {
            FileKind::Regular
        }
    }

    /// "a FIFO (named pipe)", for "`x` is a FIFO (named pipe), not a regular file".
    pub fn described(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Symlink => "a symbolic link",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.described())
    }
}

/// The most read whole from one file: no metadata file, key or Raft snapshot comes
/// near it, and a larger one is damage, not data.
pub const MAX_FILE_SIZE: u64 = 1 << 30;

/// Why a path could not be read as a regular file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Something other than a regular file is there (a link is never followed).
    #[error("it is {0}, not a regular file")]
    NotRegular(FileKind),
    #[error("it is {size} bytes, more than the {max} bytes read whole")]
    TooLarge { size: u64, max: u64 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ReadError {
    /// As an I/O error, keeping what happened as its text.
    pub fn into_io(self) -> std::io::Error {
        match self {
            ReadError::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Opens `path` for reading without following a symlink at its last component and without
/// blocking on a FIFO; refuses anything that is not a regular file.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), ReadError> {
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        // O_NOFOLLOW on a link: ELOOP.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(ReadError::NotRegular(FileKind::Symlink))
        }
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    match FileKind::of(&meta) {
        FileKind::Regular => Ok((file, meta)),
        other => Err(ReadError::NotRegular(other)),
    }
}

/// The whole contents of the regular file at `path`, with its metadata; at most
/// [`MAX_FILE_SIZE`] bytes.
pub fn read_regular(path: &Path) -> Result<(Metadata, Vec<u8>), ReadError> {
    read_regular_max(path, MAX_FILE_SIZE)
}

/// [`read_regular`] of a file of at most `max` bytes.
pub fn read_regular_max(path: &Path, max: u64) -> Result<(Metadata, Vec<u8>), ReadError> {
    let (file, meta) = open_regular(path)?;
    if meta.len() > max {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte more than allowed tells a file that grew past the cap.
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            max,
        });
    }
    Ok((meta, bytes))
}

/// The bytes of the regular file at `path` ([`read_regular`] without the metadata).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ReadError> {
    read_regular(path).map(|(_, bytes)| bytes)
}

/// [`read_bytes`], with a missing file as `None`.
pub fn read_bytes_if_exists(path: &Path) -> Result<Option<Vec<u8>>, ReadError> {
    Ok(read_regular_if_exists(path)?.map(|(_, bytes)| bytes))
}

/// One directory entry: its path, file name (lossy) and kind (links not followed).
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub path: std::path::PathBuf,
    pub name: String,
    pub kind: FileKind,
}

/// The entries of directory `dir`, sorted by name. `dir` itself must be a real directory,
/// not a link to one. At most `limit` entries are returned; the flag tells whether more
/// were left out.
pub fn list_dir(dir: &Path, limit: usize) -> Result<(Vec<DirEntry>, bool), ReadError> {
    match kind_at(dir) {
        None => return Err(std::io::Error::from(std::io::ErrorKind::NotFound).into()),
        Some(FileKind::Directory) => {}
        Some(other) => return Err(ReadError::NotRegular(other)),
    }
    let mut out = Vec::new();
    let mut more = false;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if out.len() >= limit {
            more = true;
            break;
        }
        out.push(DirEntry {
            path: entry.path(),
            name: entry.file_name().to_string_lossy().into_owned(),
            kind: FileKind::of_type(entry.file_type()?),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((out, more))
}

/// [`read_regular`], with a missing file as `None`.
pub fn read_regular_if_exists(path: &Path) -> Result<Option<(Metadata, Vec<u8>)>, ReadError> {
    match read_regular(path) {
        Ok(found) => Ok(Some(found)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// How long [`read_input`] waits for a pipe's writer to send everything.
const PIPE_PATIENCE: Duration = Duration::from_secs(60);

/// Reads a file the operator named: a regular file, or a pipe (`<(command)`, a FIFO with
/// a writer). A FIFO nobody writes to reads as empty at once; a writer that stalls for
/// [`PIPE_PATIENCE`] is an error. Devices, sockets and directories are refused.
pub fn read_input(path: &Path) -> Result<Vec<u8>, ReadError> {
    match open_input(path)? {
        Input::File(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(bytes)
        }
        Input::Piped(bytes) => Ok(bytes),
    }
}

/// A file the operator named, as [`read_input`] takes it.
pub enum Input {
    /// A regular file, open, to be read as needed.
    File(File),
    /// Everything a pipe gave.
    Piped(Vec<u8>),
}

/// [`read_input`], leaving a regular file open rather than read.
pub fn open_input(path: &Path) -> Result<Input, ReadError> {
    // Follows links: `/dev/fd/63` from `<(...)` is one.
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    match FileKind::of(&meta) {
        FileKind::Regular => Ok(Input::File(file)),
        FileKind::Fifo => read_pipe(&mut file).map(Input::Piped),
        other => Err(ReadError::NotRegular(other)),
    }
}

fn read_pipe(file: &mut File) -> Result<Vec<u8>, ReadError> {
    let deadline = Instant::now() + PIPE_PATIENCE;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match file.read(&mut buf) {
            // No writer (any more): the end.
            Ok(0) => return Ok(bytes),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the pipe's writer sent nothing more for a minute",
                    )
                    .into());
                }
                let mut fds = [rustix::event::PollFd::new(
                    &*file,
                    rustix::event::PollFlags::IN,
                )];
                let timeout = rustix::event::Timespec {
                    tv_sec: left.as_secs().min(1) as _,
                    tv_nsec: 0,
                };
                let _ = rustix::event::poll(&mut fds, Some(&timeout));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// What is at `path`, not following a link; `None` if nothing is.
pub fn kind_at(path: &Path) -> Option<FileKind> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| FileKind::of(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkfifo(path: &Path) {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
    }

    #[test]
    fn regular_files_read_and_everything_else_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(read_regular(&f).unwrap().1, b"abc");
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let started = Instant::now();
        assert!(matches!(
            read_regular(&fifo),
            Err(ReadError::NotRegular(FileKind::Fifo))
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(matches!(
            read_regular(&link),
            Err(ReadError::NotRegular(FileKind::Symlink))
        ));
        assert!(matches!(
            read_regular(dir.path()),
            Err(ReadError::NotRegular(FileKind::Directory))
        ));
        assert!(read_regular_if_exists(&dir.path().join("none"))
            .unwrap()
            .is_none());
        assert_eq!(
            ReadError::NotRegular(FileKind::Fifo).to_string(),
            "it is a FIFO (named pipe), not a regular file"
        );
    }

    #[test]
    fn inputs_may_be_pipes_and_a_writerless_fifo_reads_empty_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let started = Instant::now();
        assert_eq!(read_input(&fifo).unwrap(), b"");
        assert!(started.elapsed() < Duration::from_secs(1));
        let writer = {
            let fifo = fifo.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                std::fs::write(&fifo, b"key").unwrap();
            })
        };
        // The writer opens after us: wait until it has, as `<(...)` would have.
        let mut got = Vec::new();
        for _ in 0..50 {
            got = read_input(&fifo).unwrap();
            if !got.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        writer.join().unwrap();
        assert_eq!(got, b"key");
        assert!(matches!(
            read_input(Path::new("/dev/null")),
            Err(ReadError::NotRegular(FileKind::CharDevice))
        ));
    }
}
