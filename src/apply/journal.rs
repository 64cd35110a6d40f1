//! The append-only, hash-chained journal of a transaction: the incident record of what was
//! planned, applied and rolled back, by whom, when and where.
//!
//! # Wire format
//!
//! `journal.jsonl` in the backup directory holds one JSON object per line (schema
//! `js-recover/journal`, version 1):
//!
//! ```json
//! {"sha256":"9f2c…","entry":{"schema":"js-recover/journal","schema_version":1,"seq":0,
//!   "prev":"0000…","at":"2026-11-21T12:00:00Z","tool_version":"0.1.0","host":"nats-2",
//!   "user":"root","uid":0,"pid":4242,"event":{"kind":"begin", …}}}
//! ```
//!
//! - `sha256` is the hex SHA-256 of the exact bytes of `entry` as written on the line.
//! - `entry.prev` is the `sha256` of the line before (64 zeros for the first), so editing,
//!   removing or reordering a line breaks the chain and is detected. (Anyone able to rewrite
//!   the whole file can forge a new chain: this detects mistakes and edits, not an attacker.)
//! - `seq` counts lines from 0.
//! - A last line without its newline is an append that a crash cut short; it is reported and
//!   ignored. Any other line that does not verify makes the journal tampered.
//! - Lines are only ever appended: rollback adds entries, it never removes any.
//!
//! `event.kind` is one of:
//!
//! | kind | written | fields |
//! |---|---|---|
//! | `begin` | before anything else, synced | `store`, `store_dev`, `store_ino`, `manifest_sha256`, `changes`, `removal` (`rename` or `copy`) |
//! | `backed-up` | originals and the `before` snapshot are durable; the store is still untouched | `originals`, `snapshot_sha256` |
//! | `moved` | a directory left the store | `index`, `path`, `how` (`rename` or `copy`) |
//! | `copied` | a copy into the backup is complete, synced and verified (before the source is deleted) | `index`, `path`, `files`, `bytes` |
//! | `staged` | a `copy` from another survivor is complete, synced and verified in its staging directory | `index`, `path`, `files`, `bytes` |
//! | `placed` | a staged copy was renamed into its place | `index`, `path` |
//! | `writing` | every removal and new directory is durable; edited files are about to be rewritten in place: until `applied` (or a rollback's `rolled-back`) a file may be half-written, and rollback restores it | `files` |
//! | `applied` | every change is durable; the `after` snapshot is written | `files_edited`, `dirs_removed`, `snapshot_sha256` |
//! | `failed` | apply hit an error | `error`, `rolled_back` |
//! | `rollback-started` | rollback is about to change the store | `force` |
//! | `restoring` | what rollback moves aside is aside; originals are about to be written back in place (a file may be half-written until `rolled-back`) | `files` |
//! | `rolled-back` | rollback finished | `files_restored`, `dirs_restored`, `temps_removed`, `displaced`, `not_original`, `copies_removed` |

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::failpoint::{self, IoOp};
use super::ApplyError;
use crate::plan::manifest::sha256_hex;

pub const SCHEMA: &str = "js-recover/journal";
pub const SCHEMA_VERSION: u32 = 1;
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub schema: String,
    pub schema_version: u32,
    pub seq: u64,
    pub prev: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub tool_version: String,
    pub host: String,
    pub user: String,
    pub uid: u32,
    pub pid: u32,
    pub event: Event,
}

/// How a directory left the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum How {
    /// `rename(2)` into the backup: instant, same filesystem.
    Rename,
    /// Copied into the backup, verified, then deleted: the backup is on another filesystem.
    Copy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Event {
    Begin {
        store: String,
        store_dev: u64,
        store_ino: u64,
        manifest_sha256: String,
        changes: usize,
        removal: How,
    },
    BackedUp {
        originals: usize,
        snapshot_sha256: String,
    },
    Moved {
        index: usize,
        path: String,
        how: How,
    },
    Copied {
        index: usize,
        path: String,
        files: u64,
        bytes: u64,
    },
    /// Copy `index` from another survivor is complete and verified in its staging
    /// directory (see [`crate::apply::check::staging_dir`]).
    Staged {
        index: usize,
        path: String,
        files: u64,
        bytes: u64,
    },
    /// Copy `index` was moved into its place.
    Placed {
        index: usize,
        path: String,
    },
    /// Edited files are about to be rewritten in place: the write window opens.
    Writing {
        files: usize,
    },
    Applied {
        files_edited: usize,
        dirs_removed: usize,
        snapshot_sha256: String,
    },
    Failed {
        error: String,
        rolled_back: bool,
    },
    RollbackStarted {
        force: bool,
    },
    /// Rollback is about to write originals back in place: the write window opens.
    Restoring {
        files: usize,
    },
    RolledBack {
        files_restored: usize,
        dirs_restored: usize,
        temps_removed: usize,
        displaced: Vec<String>,
        not_original: usize,
        /// Directories copied in from other survivors, taken out again.
        #[serde(default)]
        copies_removed: usize,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    sha256: String,
    #[serde(borrow)]
    entry: &'a RawValue,
}

/// Who and where, stamped on every entry.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub host: String,
    pub user: String,
    pub uid: u32,
}

impl Stamp {
    pub fn current() -> Stamp {
        let uid = rustix::process::getuid().as_raw();
        let host = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .or_else(|| user_name(uid))
            .unwrap_or_else(|| format!("uid {uid}"));
        Stamp { host, user, uid }
    }
}

/// The name `/etc/passwd` gives `uid`, if any.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// A journal to append to. Opening one writes nothing: a command that then refuses leaves
/// the journal exactly as it was. The first append opens the file, and first cuts off a
/// last line a crash tore.
pub struct Journal {
    path: PathBuf,
    file: Option<File>,
    /// The length to cut the file back to before the first append (a torn last line).
    truncate_to: Option<u64>,
    next_seq: u64,
    prev: String,
    stamp: Stamp,
}

/// What reading a journal found.
#[derive(Debug, Clone)]
pub struct Read {
    pub entries: Vec<Entry>,
    /// A last line cut short by a crash (ignored).
    pub torn_tail: bool,
    /// The bytes of the complete lines (where a torn tail starts).
    pub complete_len: u64,
    /// The `sha256` of the last complete line, which the next entry chains to.
    pub last_sha256: Option<String>,
    /// Why the chain does not verify, if it does not.
    pub tampered: Option<ChainBreak>,
}

/// The first line of a journal that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ChainBreak {
    /// From 1.
    pub line: usize,
    pub problem: LineProblem,
}

/// In `status --json`, a journal problem reads as its sentence.
impl Serialize for ChainBreak {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What is wrong with a journal line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineProblem {
    /// Not `{"sha256":..,"entry":..}`; the parser's words.
    NotALine(String),
    /// The entry does not hash to its `sha256`.
    Edited,
    /// Not an entry of this schema; the parser's words.
    NotAnEntry(String),
    Schema {
        schema: String,
        version: u32,
    },
    /// Its `prev` is not the line before.
    OutOfChain,
    Sequence {
        found: u64,
        expected: u64,
    },
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineProblem::NotALine(e) => write!(f, "not a journal line ({e})"),
            LineProblem::Edited => {
                f.write_str("its contents do not match its sha256 (the line was edited)")
            }
            LineProblem::NotAnEntry(e) => write!(f, "not a journal entry ({e})"),
            LineProblem::Schema { schema, version } => write!(
                f,
                "schema `{schema}` version {version} is not `{SCHEMA}` version {SCHEMA_VERSION}"
            ),
            LineProblem::OutOfChain => f.write_str(
                "it does not follow the line before (a line was removed, added or reordered)",
            ),
            LineProblem::Sequence { found, expected } => {
                write!(f, "sequence number {found} where {expected} was expected")
            }
        }
    }
}

impl Journal {
    /// Creates the journal with its first entry, synced with its directory.
    pub fn create(path: &Path, stamp: Stamp, first: Event) -> Result<Journal, ApplyError> {
        failpoint::io(IoOp::Write).map_err(ApplyError::io("create", path))?;
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(ApplyError::io("create", path))?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            file: Some(file),
            truncate_to: None,
            next_seq: 0,
            prev: GENESIS.to_string(),
            stamp,
        };
        journal.append(first, true)?;
        if let Some(dir) = path.parent() {
            super::durable::sync_dir(dir)?;
        }
        Ok(journal)
    }

    /// A journal, as `read` found it, to append to; nothing is opened or written yet.
    pub fn open(path: &Path, stamp: Stamp, read: &Read) -> Journal {
        Journal {
            path: path.to_path_buf(),
            file: None,
            truncate_to: read.torn_tail.then_some(read.complete_len),
            next_seq: read.entries.last().map_or(0, |last| last.seq + 1),
            prev: read
                .last_sha256
                .clone()
                .unwrap_or_else(|| GENESIS.to_string()),
            stamp,
        }
    }

    /// The file, opened for appending on first use; a torn last line (a crash cut the
    /// append short, so it was never a record) is cut off first, as a write-ahead log drops
    /// a torn tail.
    fn file(&mut self) -> Result<&mut File, ApplyError> {
        if self.file.is_none() {
            let file = OpenOptions::new()
                .append(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(&self.path)
                .map_err(ApplyError::io("open", &self.path))?;
            if let Some(len) = self.truncate_to.take() {
                failpoint::io(IoOp::Write)
                    .and_then(|_| file.set_len(len))
                    .and_then(|_| failpoint::io(IoOp::Sync))
                    .and_then(|_| file.sync_data())
                    .map_err(ApplyError::io("repair", &self.path))?;
            }
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Appends one entry; `durable` syncs it before returning.
    pub fn append(&mut self, event: Event, durable: bool) -> Result<(), ApplyError> {
        let entry = Entry {
            schema: SCHEMA.into(),
            schema_version: SCHEMA_VERSION,
            seq: self.next_seq,
            prev: self.prev.clone(),
            at: crate::clock::now(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            host: self.stamp.host.clone(),
            user: self.stamp.user.clone(),
            uid: self.stamp.uid,
            pid: std::process::id(),
            event,
        };
        let body = serde_json::to_string(&entry).expect("a journal entry always serializes");
        let hash = sha256_hex(body.as_bytes());
        let line = format!("{{\"sha256\":\"{hash}\",\"entry\":{body}}}\n");
        let path = self.path.clone();
        let file = self.file()?;
        // One write per line: a crash leaves at most one torn last line.
        failpoint::io(IoOp::Write)
            .and_then(|_| file.write_all(line.as_bytes()))
            .map_err(ApplyError::io("append to", &path))?;
        if durable {
            failpoint::io(IoOp::Sync)
                .and_then(|_| file.sync_data())
                .map_err(ApplyError::io("sync", &path))?;
        }
        self.next_seq += 1;
        self.prev = hash;
        Ok(())
    }
}

/// Reads and verifies a journal.
pub fn read(path: &Path) -> Result<Read, ApplyError> {
    let (_, bytes) = super::backup::read_file(path, "journal.jsonl")?;
    Ok(verify(&bytes))
}

/// Lines that end in a newline, and whether a partial line follows them.
fn complete_lines(bytes: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let torn = lines.pop().is_some_and(|last| !last.is_empty());
    (lines, torn)
}

pub fn verify(bytes: &[u8]) -> Read {
    let (lines, torn_tail) = complete_lines(bytes);
    let complete_len = lines.iter().map(|l| l.len() as u64 + 1).sum();
    let last_sha256 = lines
        .last()
        .and_then(|l| serde_json::from_slice::<Line>(l).ok())
        .map(|l| l.sha256);
    let mut entries = Vec::new();
    let mut prev = GENESIS.to_string();
    let mut tampered = None;
    for (n, raw) in lines.iter().enumerate() {
        match check_line(raw, &prev, n as u64) {
            Ok((hash, entry)) => {
                prev = hash;
                entries.push(entry);
            }
            Err(problem) => {
                tampered.get_or_insert(ChainBreak {
                    line: n + 1,
                    problem,
                });
                // Keep what can still be read, for `--force` and for status to show; the
                // chain goes on from this line's own hash.
                if let Ok(line) = serde_json::from_slice::<Line>(raw) {
                    if let Ok(entry) = serde_json::from_str::<Entry>(line.entry.get()) {
                        entries.push(entry);
                    }
                    prev = line.sha256;
                }
            }
        }
    }
    Read {
        entries,
        torn_tail,
        complete_len,
        last_sha256,
        tampered,
    }
}

fn check_line(raw: &[u8], prev: &str, seq: u64) -> Result<(String, Entry), LineProblem> {
    let line: Line =
        serde_json::from_slice(raw).map_err(|e| LineProblem::NotALine(e.to_string()))?;
    let hash = sha256_hex(line.entry.get().as_bytes());
    if hash != line.sha256 {
        return Err(LineProblem::Edited);
    }
    let entry: Entry = serde_json::from_str(line.entry.get())
        .map_err(|e| LineProblem::NotAnEntry(e.to_string()))?;
    if entry.schema != SCHEMA || entry.schema_version != SCHEMA_VERSION {
        return Err(LineProblem::Schema {
            schema: entry.schema,
            version: entry.schema_version,
        });
    }
    if entry.prev != prev {
        return Err(LineProblem::OutOfChain);
    }
    if entry.seq != seq {
        return Err(LineProblem::Sequence {
            found: entry.seq,
            expected: seq,
        });
    }
    Ok((hash, entry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            host: "h".into(),
            user: "u".into(),
            uid: 7,
        }
    }

    fn sample(dir: &Path) -> PathBuf {
        let path = dir.join("journal.jsonl");
        let mut j =
            Journal::create(&path, stamp(), Event::RollbackStarted { force: false }).unwrap();
        j.append(
            Event::Failed {
                error: "x".into(),
                rolled_back: true,
            },
            false,
        )
        .unwrap();
        j.append(Event::RollbackStarted { force: true }, true)
            .unwrap();
        path
    }

    #[test]
    fn a_written_journal_verifies_and_chains() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let read = read(&path).unwrap();
        assert_eq!(read.tampered, None);
        assert!(!read.torn_tail);
        assert_eq!(read.entries.len(), 3);
        assert_eq!(read.entries[2].seq, 2);
        assert_eq!(read.entries[0].prev, GENESIS);
    }

    #[test]
    fn edits_removals_and_reorders_are_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();

        let edited = text.replacen("\"force\":true", "\"force\":false", 1);
        assert_eq!(
            verify(edited.as_bytes()).tampered.unwrap(),
            ChainBreak {
                line: 3,
                problem: LineProblem::Edited
            }
        );

        let removed = format!("{}\n{}\n", lines[0], lines[2]);
        assert_eq!(verify(removed.as_bytes()).tampered.unwrap().line, 2);

        let reordered = format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]);
        assert!(verify(reordered.as_bytes()).tampered.is_some());
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_appending_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = sample(dir.path());
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"{\"sha256\":\"ab");
        std::fs::write(&path, &text).unwrap();
        let r = read(&path).unwrap();
        assert!(r.torn_tail);
        assert_eq!(r.tampered, None);
        let mut j = Journal::open(&path, stamp(), &r);
        // Opening writes nothing; the first append cuts the torn line off.
        assert_eq!(std::fs::read(&path).unwrap(), text);
        j.append(Event::RollbackStarted { force: false }, true)
            .unwrap();
        let again = read(&path).unwrap();
        assert_eq!(again.tampered, None);
        assert!(!again.torn_tail);
        assert_eq!(again.entries.len(), 4);
    }
}
