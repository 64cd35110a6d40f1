//! Discovering what a store holds: accounts, streams, consumers and Raft groups.
//!
//! The layout mirrors what nats-server recovers at start (`enableJetStream` and
//! `EnableJetStream` for an account in server/jetstream.go):
//!
//! ```text
//! <store_dir>/jetstream/<account>/streams/<stream>/{meta.inf,meta.sum,meta.key,msgs/,obs/}
//! <store_dir>/jetstream/<account>/streams/<stream>/obs/<consumer>/{meta.inf,meta.sum,o.dat}
//! <store_dir>/jetstream/<system account>/_js_/{_meta_,S-*,C-*}    (clustered mode only)
//! ```
//!
//! Only metadata files are read; message blocks are never opened.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::checksum;
use super::consumer_state::{self, ConsumerState, StateError, STATE_FILE};
use super::crypto::{Keys, Unsealed};
use super::error::StoreError;
use super::file::{self, FileKind};
use super::index_db::{self, IndexError, StreamState};
use super::meta::{Asset, MetaFile, Unseal};
use super::tree::{self, TreeSummary};

/// The directory under `store_dir` that nats-server keeps JetStream in.
pub const JETSTREAM_DIR: &str = "jetstream";
/// Where the clustered server keeps its Raft groups, under the system account's directory.
pub const RAFT_DIR: &str = "_js_";
const STREAMS_DIR: &str = "streams";
const CONSUMERS_DIR: &str = "obs";

/// A nats-server store, as found on disk.
#[derive(Debug, Clone)]
pub struct Store {
    /// Absolute path of the store_dir (the parent of `jetstream/`).
    pub root: PathBuf,
    pub accounts: Vec<Account>,
    /// Entries the server would skip or that look out of place.
    pub notes: Vec<String>,
    /// The keys it was opened with, for what is read later (the Raft state).
    pub keys: Option<Keys>,
}

#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    /// Relative to the store_dir.
    pub dir: String,
    pub streams: Vec<Stream>,
    /// The Raft state, when this is the system account of a clustered server.
    pub raft: Option<RaftState>,
    /// Whether the account directory holds anything besides `streams/` and `_js_/`.
    pub other_entries: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Stream {
    /// The directory name, which keys the stream's `meta.sum`.
    pub dir_name: String,
    /// Its configured name (`meta.inf`), or `dir_name` when that cannot be read.
    name: String,
    /// Relative to the store_dir.
    pub dir: String,
    /// `None` when the directory has no `meta.inf` (the server skips it).
    pub meta: Option<MetaFile>,
    pub consumers: Vec<Consumer>,
    /// What `msgs/index.db` says, or why that is unknown.
    pub state: Result<StreamState, IndexError>,
    /// A message block is newer than `msgs/index.db`: the server did not stop cleanly, and
    /// the counts in `state` may be behind the blocks (the server recounts at load).
    pub state_stale: bool,
}

impl Stream {
    /// Its configured name (`meta.inf`), or its directory name when that cannot be read.
    pub fn name(&self) -> &str {
        &self.name
    }
}

#[derive(Debug, Clone)]
pub struct Consumer {
    pub name: String,
    pub dir: String,
    pub meta: Option<MetaFile>,
    /// What `o.dat` says (a missing file means nothing delivered yet), or why it is unknown.
    pub state: Result<ConsumerState, StateError>,
    /// The same, with every pending delivery and redelivery count.
    pub state_full: Option<super::jsops::consumer_ops::ConsumerState>,
    /// `o.dat` as read, with its permission bits, when there is one.
    pub state_file: Option<(Vec<u8>, u32)>,
}

/// The `_js_` directory of a clustered server.
#[derive(Debug, Clone)]
pub struct RaftState {
    /// Relative to the store_dir, e.g. `jetstream/$SYS/_js_`.
    pub dir: String,
    pub groups: Vec<RaftGroup>,
    /// What is under `dir`, by metadata, for its removal (one walk, shared with the group
    /// sizes; the listing itself is not kept).
    pub tree: TreeSummary,
    /// The same of the account directory, were `_js_` all it holds.
    pub tree_in_account: TreeSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct RaftGroup {
    pub name: String,
    pub kind: RaftKind,
    #[serde(flatten)]
    pub size: TreeSummary,
}

/// What a Raft group replicates, from its directory name (`groupNameForStream` and friends
/// in server/jetstream_cluster.go).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RaftKind {
    Meta,
    Stream,
    Consumer,
    Other,
}

impl RaftKind {
    fn of(name: &str) -> Self {
        if name == "_meta_" {
            RaftKind::Meta
        } else if name.starts_with("S-") {
            RaftKind::Stream
        } else if name.starts_with("C-") {
            RaftKind::Consumer
        } else {
            RaftKind::Other
        }
    }
}

impl Store {
    /// Reads the store at `path`: a store_dir, or its `jetstream/` directory. Encrypted
    /// metadata stays sealed (see [`Store::open_with`]).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, None)
    }

    /// [`Store::open`], opening encrypted metadata, consumer state and stream indexes with
    /// `keys` when given.
    pub fn open_with(path: &Path, keys: Option<&Keys>) -> Result<Store, StoreError> {
        if file::kind_at(path).is_none() {
            return Err(StoreError::NotFound { path: path.into() });
        }
        // `STORE/jetstream` given as a link: the server would follow it, but js-recover
        // never writes through a link, and resolving it would lose the `jetstream` name.
        if path.file_name().is_some_and(|n| n == JETSTREAM_DIR) {
            if let Some(kind @ FileKind::Symlink) = file::kind_at(path) {
                return Err(StoreError::NotADirectory {
                    path: path.into(),
                    kind,
                });
            }
        }
        let abs = path.canonicalize().map_err(StoreError::io(path))?;
        let root = match file::kind_at(&abs.join(JETSTREAM_DIR)) {
            Some(FileKind::Directory) => abs,
            Some(kind @ FileKind::Symlink) => {
                return Err(StoreError::NotADirectory {
                    path: abs.join(JETSTREAM_DIR),
                    kind,
                })
            }
            _ if abs.file_name().is_some_and(|n| n == JETSTREAM_DIR) && abs.is_dir() => abs
                .parent()
                .expect("a named directory has a parent")
                .to_path_buf(),
            _ => return Err(StoreError::NotAStore { path: path.into() }),
        };
        tracing::info!(store = %root.display(), "reading store");
        let mut store = Store {
            root,
            accounts: Vec::new(),
            notes: Vec::new(),
            keys: keys.cloned(),
        };
        let js = store.root.join(JETSTREAM_DIR);
        for (name, path) in dir_entries(&js)? {
            match file::kind_at(&path) {
                Some(FileKind::Directory) => {}
                Some(kind @ FileKind::Symlink) => {
                    return Err(StoreError::NotADirectory { path, kind })
                }
                _ => {
                    store.notes.push(format!(
                        "`{JETSTREAM_DIR}/{name}` is not an account directory; left alone"
                    ));
                    continue;
                }
            }
            if name.starts_with('.') {
                // `.snapshots-staging` and similar server scratch space.
                continue;
            }
            let account = read_account(&name, &path, &mut store.notes, keys)?;
            tracing::debug!(account = %name, streams = account.streams.len(), "read account");
            store.accounts.push(account);
        }
        Ok(store)
    }

    /// Absolute path of a store-relative path.
    pub fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn streams(&self) -> impl Iterator<Item = (&Account, &Stream)> {
        self.accounts
            .iter()
            .flat_map(|a| a.streams.iter().map(move |s| (a, s)))
    }

    /// Every stream, by (account, stream name).
    pub fn streams_by_name(&self) -> std::collections::BTreeMap<(&str, &str), &Stream> {
        self.streams()
            .map(|(a, s)| ((a.name.as_str(), s.name()), s))
            .collect()
    }

    /// The first `meta.inf` the server cannot load (not valid JSON, or a field it cannot
    /// decode), as an error.
    pub fn first_malformed(&self) -> Option<StoreError> {
        self.meta_files().find_map(MetaFile::unloadable)
    }

    /// The first stream or consumer the keys given do not open, as (why, what, path).
    pub fn first_unopened(&self) -> Option<(Unsealed, String, String)> {
        self.streams().find_map(|(a, s)| {
            let unopened = |m: &Option<MetaFile>| match m.as_ref().map(|m| (&m.content, m)) {
                Some((super::MetaContent::Unopened(why), m)) => Some((*why, m.path.clone())),
                _ => None,
            };
            if let Some((why, path)) = unopened(&s.meta) {
                return Some((
                    why,
                    format!("stream `{}` of account `{}`", s.dir_name, a.name),
                    path,
                ));
            }
            s.consumers.iter().find_map(|c| {
                unopened(&c.meta).map(|(why, path)| {
                    let what = format!(
                        "consumer `{}` of stream `{}` (account `{}`)",
                        c.name, s.dir_name, a.name
                    );
                    (why, what, path)
                })
            })
        })
    }

    /// Every `meta.inf` in the store, streams and consumers.
    pub fn meta_files(&self) -> impl Iterator<Item = &MetaFile> {
        self.streams().flat_map(|(_, s)| {
            s.meta
                .iter()
                .chain(s.consumers.iter().filter_map(|c| c.meta.as_ref()))
        })
    }
}

fn read_account(
    name: &str,
    path: &Path,
    notes: &mut Vec<String>,
    keys: Option<&Keys>,
) -> Result<Account, StoreError> {
    let dir = format!("{JETSTREAM_DIR}/{name}");
    let mut account = Account {
        name: name.into(),
        dir: dir.clone(),
        streams: Vec::new(),
        raft: None,
        other_entries: Vec::new(),
    };
    for (entry, entry_path) in dir_entries(path)? {
        let kind = file::kind_at(&entry_path);
        if matches!(entry.as_str(), STREAMS_DIR | RAFT_DIR) && kind == Some(FileKind::Symlink) {
            return Err(StoreError::NotADirectory {
                path: entry_path,
                kind: FileKind::Symlink,
            });
        }
        match entry.as_str() {
            STREAMS_DIR if kind == Some(FileKind::Directory) => {
                let mut to_read = Vec::new();
                for (stream, stream_path) in dir_entries(&entry_path)? {
                    let rel = format!("{dir}/{STREAMS_DIR}/{stream}");
                    let stream_kind = file::kind_at(&stream_path);
                    if stream_kind == Some(FileKind::Symlink) {
                        // The server follows it and loads the stream: never left alone.
                        return Err(StoreError::NotADirectory {
                            path: stream_path,
                            kind: FileKind::Symlink,
                        });
                    } else if stream_kind != Some(FileKind::Directory) {
                        notes.push(format!("`{rel}` is not a stream directory; left alone"));
                    } else if stream.starts_with('.') {
                        // `doStream` deletes these: a stream deletion that did not finish.
                        notes.push(format!(
                            "`{rel}` is a partially deleted stream; the server removes it at start"
                        ));
                    } else {
                        to_read.push((stream, stream_path, rel));
                    }
                }
                account.streams = read_streams(name, to_read, notes, keys)?;
            }
            RAFT_DIR if kind == Some(FileKind::Directory) => {
                let rel = format!("{dir}/{RAFT_DIR}");
                let listing = tree::list(&entry_path)?;
                let mut groups = Vec::new();
                for (group, group_path) in dir_entries(&entry_path)? {
                    let size = if file::kind_at(&group_path) == Some(FileKind::Directory) {
                        tree::summarize_inside(&listing, &group)
                    } else {
                        tree::summarize_file(&group_path)?
                    };
                    groups.push(RaftGroup {
                        kind: RaftKind::of(&group),
                        name: group,
                        size,
                    });
                }
                let tree = tree::summarize_entries(&listing)?;
                let top = tree::Entry::stat(&entry_path, RAFT_DIR.to_string())?;
                let tree_in_account = tree::summarize_nested(&top, &listing);
                account.raft = Some(RaftState {
                    dir: rel,
                    groups,
                    tree,
                    tree_in_account,
                });
            }
            _ => account.other_entries.push(entry),
        }
    }
    Ok(account)
}

/// [`read_stream`] of each of `streams` (in order), on a few threads: thousands of small
/// files, each read on its own.
fn read_streams(
    account: &str,
    streams: Vec<(String, PathBuf, String)>,
    notes: &mut Vec<String>,
    keys: Option<&Keys>,
) -> Result<Vec<Stream>, StoreError> {
    let parts = crate::par::map_chunks(&streams, crate::par::cores(), |part| {
        let mut notes = Vec::new();
        let mut read = Vec::with_capacity(part.len());
        for (name, path, rel) in part {
            read.push(read_stream(
                account,
                name,
                path,
                rel.clone(),
                &mut notes,
                keys,
            )?);
        }
        Ok::<_, StoreError>((read, notes))
    });
    let mut out = Vec::with_capacity(streams.len());
    for part in parts {
        let (read, part_notes) = part?;
        out.extend(read);
        notes.extend(part_notes);
    }
    Ok(out)
}

fn read_stream(
    account: &str,
    name: &str,
    path: &Path,
    rel: String,
    notes: &mut Vec<String>,
    keys: Option<&Keys>,
) -> Result<Stream, StoreError> {
    // An encrypted stream's key is made for its directory name (`decryptMeta` at load).
    let unseal = keys.map(|keys| Unseal {
        keys,
        account,
        context: name,
    });
    let meta = MetaFile::read(
        path,
        &rel,
        Asset::Stream,
        checksum::stream_key(name),
        unseal,
    )?;
    if meta.is_none() {
        notes.push(format!("`{rel}` has no meta.inf; the server skips it"));
    }
    // Consumers' checksums are keyed by the configured stream name (`ConsumerStore`).
    let stream_name = meta
        .as_ref()
        .and_then(|m| m.str_field("name"))
        .unwrap_or_else(|| name.to_string());
    let mut consumers = Vec::new();
    let obs = path.join(CONSUMERS_DIR);
    let obs_kind = file::kind_at(&obs);
    if let Some(kind @ FileKind::Symlink) = obs_kind {
        return Err(StoreError::NotADirectory { path: obs, kind });
    }
    if obs_kind == Some(FileKind::Directory) {
        let entries = dir_entries(&obs)?;
        consumers.reserve_exact(entries.len());
        for (consumer, consumer_path) in entries {
            let crel = format!("{rel}/{CONSUMERS_DIR}/{consumer}");
            match file::kind_at(&consumer_path) {
                Some(FileKind::Directory) => {}
                Some(kind @ FileKind::Symlink) => {
                    return Err(StoreError::NotADirectory {
                        path: consumer_path,
                        kind,
                    })
                }
                _ => {
                    notes.push(format!("`{crel}` is not a consumer directory; left alone"));
                    continue;
                }
            }
            // A consumer's key is made for `<stream>.<consumer>`.
            let context = format!("{stream_name}.{consumer}");
            let unseal = keys.map(|keys| Unseal {
                keys,
                account,
                context: &context,
            });
            let cmeta = MetaFile::read(
                &consumer_path,
                &crel,
                Asset::Consumer,
                checksum::consumer_key(&stream_name, &consumer),
                unseal,
            )?;
            if cmeta.is_none() {
                notes.push(format!("`{crel}` has no meta.inf; the server skips it"));
            }
            let encrypted = cmeta.as_ref().is_some_and(|m| m.is_encrypted());
            let asset = cmeta
                .as_ref()
                .and_then(|m| m.sealed.as_ref())
                .map(|s| &s.asset);
            let state_file = file::read_regular_if_exists(&consumer_path.join(STATE_FILE))
                .map_err(StoreError::read(consumer_path.join(STATE_FILE)))?
                .map(|(meta, bytes)| {
                    use std::os::unix::fs::PermissionsExt;
                    (bytes, meta.permissions().mode() & 0o7777)
                });
            let full = match &state_file {
                Some((buf, _)) => consumer_state::decode_full(buf, encrypted, asset),
                None => Ok(Default::default()),
            };
            let state = full.as_ref().map(ConsumerState::from).map_err(Clone::clone);
            consumers.push(Consumer {
                name: consumer,
                dir: crel,
                meta: cmeta,
                state,
                state_full: full.ok(),
                state_file,
            });
        }
    }
    let encrypted = meta.as_ref().is_some_and(|m| m.is_encrypted());
    let asset = meta
        .as_ref()
        .and_then(|m| m.sealed.as_ref())
        .map(|s| &s.asset);
    let msgs = path.join("msgs");
    if let Some(kind @ FileKind::Symlink) = file::kind_at(&msgs) {
        return Err(StoreError::NotADirectory { path: msgs, kind });
    }
    let index = msgs.join("index.db");
    let state = match read_if_exists(&index)? {
        Some(buf) => index_db::decode(&stream_name, &buf, encrypted, asset),
        None => Err(IndexError::Missing),
    };
    let state_stale = state.is_ok() && index_is_stale(&msgs, &index)?;
    // Thousands of streams: kept, so none larger than it is.
    consumers.shrink_to_fit();
    Ok(Stream {
        dir_name: name.into(),
        name: stream_name,
        dir: rel,
        meta,
        consumers,
        state,
        state_stale,
    })
}

fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(file::read_regular_if_exists(path)
        .map_err(StoreError::read(path))?
        .map(|(_, bytes)| bytes))
}

/// True when a message block (`msgs/<n>.blk`) was modified after `index.db`: the server
/// wrote messages after its last full-state write and never stopped cleanly. Only the
/// directory is listed; blocks are not opened.
fn index_is_stale(msgs: &Path, index: &Path) -> Result<bool, StoreError> {
    let written = std::fs::metadata(index)
        .and_then(|m| m.modified())
        .map_err(StoreError::io(index))?;
    for entry in std::fs::read_dir(msgs).map_err(StoreError::io(msgs))? {
        let entry = entry.map_err(StoreError::io(msgs))?;
        if !entry.file_name().to_string_lossy().ends_with(".blk") {
            continue;
        }
        if entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > written)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The entries of `dir`, sorted by name, as (name, path).
fn dir_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(StoreError::io(dir))? {
        let entry = entry.map_err(StoreError::io(dir))?;
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| StoreError::NonUtf8Name { path: path.clone() })?;
        out.push((name, path));
    }
    out.sort();
    Ok(out)
}

/// Whether an account directory name is an account public key (operator mode).
pub fn is_account_key(name: &str) -> bool {
    name.len() == 56
        && name.starts_with('A')
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}
