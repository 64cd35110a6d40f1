//! A backup directory read back: its journal verified, its manifest checked against the
//! journal, what state the transaction reached, and where each change stands in the store
//! now. Rollback and status both start here.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::backup::Backup;
use super::check::{self, Loaded};
use super::journal::{self, Entry, Event, Read};
use super::ApplyError;
use crate::plan::manifest::sha256_hex;
use crate::plan::Change;
use crate::store::tree;

/// How far the transaction got, by its journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Apply stopped before it changed the store.
    Begun,
    /// Apply stopped part-way (killed, or still running): roll it back.
    Interrupted,
    /// Apply finished.
    Applied,
    /// Apply failed and undid itself.
    Failed,
    /// A rollback started and did not finish: run it again.
    RollingBack,
    /// Rolled back.
    RolledBack,
}

impl State {
    pub fn describe(self) -> &'static str {
        match self {
            State::Begun => "apply stopped before it changed the store",
            State::Interrupted => "apply was interrupted part-way (or is still running)",
            State::Applied => "applied",
            State::Failed => "apply failed and rolled itself back",
            State::RollingBack => "a rollback was interrupted; run it again",
            State::RolledBack => "rolled back",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Record {
    pub backup: Backup,
    pub journal: Read,
    pub loaded: Loaded,
    pub store: PathBuf,
    pub store_dev: u64,
    pub store_ino: u64,
    pub state: State,
    /// The `before` snapshot's hash, once the originals were durable.
    pub before_sha256: Option<String>,
    pub after_sha256: Option<String>,
}

impl Record {
    /// Reads `dir`; a journal that does not verify is refused unless `allow_tampered`.
    pub fn open(dir: &Path, allow_tampered: bool) -> Result<Record, ApplyError> {
        let invalid = |detail: String| ApplyError::BackupInvalid {
            path: dir.to_path_buf(),
            detail,
        };
        if !dir.is_dir() {
            return Err(invalid("it is not a directory".into()));
        }
        let backup = Backup::new(dir.canonicalize().map_err(ApplyError::io("find", dir))?);
        if !backup.journal().is_file() {
            return Err(invalid(
                "it has no `journal.jsonl`, so it is not a directory `apply` made".into(),
            ));
        }
        let read = journal::read(&backup.journal())?;
        if let Some(why) = &read.tampered {
            if !allow_tampered {
                return Err(invalid(format!("its journal does not verify: {why}")));
            }
        }
        let Some(Entry {
            event:
                Event::Begin {
                    store,
                    store_dev,
                    store_ino,
                    manifest_sha256,
                    ..
                },
            ..
        }) = read.entries.first()
        else {
            return Err(invalid("its journal does not start with `begin`".into()));
        };
        let bytes =
            std::fs::read(backup.manifest()).map_err(ApplyError::io("read", backup.manifest()))?;
        if sha256_hex(&bytes) != *manifest_sha256 {
            return Err(invalid(
                "`manifest.json` is not the plan the journal recorded (its sha256 differs)".into(),
            ));
        }
        let loaded = check::load(&backup.manifest(), bytes)?;
        if loaded.manifest.store != *store {
            return Err(invalid(
                "the journal and the manifest name different stores".into(),
            ));
        }
        let mut state = State::Begun;
        let (mut before_sha256, mut after_sha256) = (None, None);
        for e in &read.entries {
            state = match &e.event {
                Event::Begin { .. } => State::Begun,
                Event::BackedUp {
                    snapshot_sha256, ..
                } => {
                    before_sha256 = Some(snapshot_sha256.clone());
                    State::Interrupted
                }
                Event::Moved { .. } | Event::Copied { .. } => State::Interrupted,
                Event::Applied {
                    snapshot_sha256, ..
                } => {
                    after_sha256 = Some(snapshot_sha256.clone());
                    State::Applied
                }
                Event::Failed { rolled_back, .. } => {
                    if *rolled_back {
                        State::Failed
                    } else {
                        State::Interrupted
                    }
                }
                Event::RollbackStarted { .. } => State::RollingBack,
                Event::RolledBack { .. } => State::RolledBack,
            };
        }
        if state == State::Interrupted && before_sha256.is_none() {
            state = State::Begun;
        }
        Ok(Record {
            store: PathBuf::from(store),
            store_dev: *store_dev,
            store_ino: *store_ino,
            backup,
            journal: read,
            loaded,
            state,
            before_sha256,
            after_sha256,
        })
    }

    /// Refuses a store that is not the one this backup was taken from (replaced or moved).
    pub fn check_store_identity(&self) -> Result<(), ApplyError> {
        let meta = std::fs::metadata(&self.store).map_err(|_| ApplyError::BackupInvalid {
            path: self.backup.root.clone(),
            detail: format!("its store `{}` no longer exists", self.store.display()),
        })?;
        if (meta.dev(), meta.ino()) != (self.store_dev, self.store_ino) {
            return Err(ApplyError::BackupInvalid {
                path: self.backup.root.clone(),
                detail: format!(
                    "`{}` is not the directory this backup was taken from (it was replaced or moved)",
                    self.store.display()
                ),
            });
        }
        Ok(())
    }

    /// Whether the journal records that removal `index` left the store.
    pub fn moved(&self, index: usize) -> bool {
        self.journal
            .entries
            .iter()
            .any(|e| matches!(e.event, Event::Moved { index: i, .. } if i == index))
    }

    /// Whether the journal records a finished copy of removal `index` into the backup.
    pub fn copied(&self, index: usize) -> bool {
        self.journal
            .entries
            .iter()
            .any(|e| matches!(e.event, Event::Copied { index: i, .. } if i == index))
    }
}

/// Where an edited file stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Its original contents (or absent, for a file apply creates).
    Original,
    /// The contents apply wrote.
    Applied,
    /// Neither: changed by someone since (`None`: deleted).
    Changed(Option<String>),
}

/// Where a removed directory stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirState {
    /// In the store, as the plan found it; nothing in the backup.
    InStore,
    /// Moved into the backup.
    InBackup,
    /// In both, the store's copy as the plan found it: a rollback that copied it back and
    /// did not get to remove the backup's copy.
    RestoredByCopy,
    /// Copied into the backup, and deleting it from the store was cut short.
    PartlyDeleted,
    /// In both, and the store's is something new (a server recreated it since).
    Recreated,
    /// In neither.
    Lost,
}

#[derive(Debug, Clone)]
pub struct Assessment {
    pub files: Vec<(usize, FileState)>,
    pub dirs: Vec<(usize, DirState)>,
    /// Apply's and rollback's temporary files left in the store by a crash.
    pub temps: Vec<PathBuf>,
    /// Copies into the backup a crash cut short.
    pub partials: Vec<PathBuf>,
}

impl Assessment {
    pub fn conflicts(&self, record: &Record) -> Vec<super::error::Mismatch> {
        let changes = &record.loaded.manifest.changes;
        let mut out = Vec::new();
        for (i, s) in &self.files {
            if let FileState::Changed(sha) = s {
                out.push(super::error::Mismatch {
                    path: changes[*i].path().into(),
                    detail: match sha {
                        None => "deleted since apply".into(),
                        Some(sha) => format!(
                            "changed since apply (sha256 {}: neither the original nor what apply wrote)",
                            &sha[..12]
                        ),
                    },
                });
            }
        }
        for (i, s) in &self.dirs {
            let detail = match s {
                DirState::Recreated => "a new directory by that name is in the store since apply",
                DirState::Lost => "it is neither in the store nor in the backup",
                _ => continue,
            };
            out.push(super::error::Mismatch {
                path: changes[*i].path().into(),
                detail: detail.into(),
            });
        }
        out
    }
}

/// Looks at every change of `record` in its store.
pub fn assess(record: &Record) -> Result<Assessment, ApplyError> {
    let root = &record.store;
    let mut a = Assessment {
        files: Vec::new(),
        dirs: Vec::new(),
        temps: Vec::new(),
        partials: Vec::new(),
    };
    let mut ancestors = check::Ancestors::default();
    for (index, change) in record.loaded.manifest.changes.iter().enumerate() {
        let path = ancestors
            .check(root, change.path())
            .map_err(|m| ApplyError::BackupInvalid {
                path: record.backup.root.clone(),
                detail: m.to_string(),
            });
        match change {
            Change::Edit(e) => {
                let path = match path {
                    Ok(p) => p,
                    Err(_) => {
                        a.files.push((index, FileState::Changed(None)));
                        continue;
                    }
                };
                for tag in ["tmp", "restore"] {
                    let t = check::sibling(&path, tag);
                    if t.symlink_metadata().is_ok() {
                        a.temps.push(t);
                    }
                }
                let current = match std::fs::read(&path) {
                    Ok(b) => Some(sha256_hex(&b)),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                    Err(err) => return Err(ApplyError::io("read", &path)(err)),
                };
                let state = if current == e.before_sha256 {
                    FileState::Original
                } else if current.as_deref() == Some(e.after_sha256.as_str()) {
                    FileState::Applied
                } else {
                    FileState::Changed(current)
                };
                a.files.push((index, state));
            }
            Change::Remove(r) => {
                let in_store = path.as_ref().is_ok_and(|p| p.symlink_metadata().is_ok());
                let in_backup = record.backup.removed(index).is_dir();
                let partial = record.backup.removed_partial(index);
                if partial.symlink_metadata().is_ok() {
                    a.partials.push(partial);
                }
                let state = match (in_store, in_backup) {
                    (true, false) => DirState::InStore,
                    (false, true) => DirState::InBackup,
                    (false, false) => DirState::Lost,
                    (true, true) => {
                        let p = path.as_ref().expect("in store");
                        if tree::summarize(p)?.fingerprint == r.fingerprint {
                            DirState::RestoredByCopy
                        } else if record.copied(index) && !record.moved(index) {
                            DirState::PartlyDeleted
                        } else {
                            DirState::Recreated
                        }
                    }
                };
                a.dirs.push((index, state));
            }
        }
    }
    Ok(a)
}
