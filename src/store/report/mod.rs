//! What `inspect` reports about a store, and the warnings `plan` repeats.
//!
//! # Wire format
//!
//! `js-recover inspect --json` prints one JSON object (schema `js-recover/inspect`,
//! version 2):
//!
//! ```json
//! { "schema": "js-recover/inspect", "schema_version": 2, "tool_version": "0.1.0",
//!   "store": "/abs/store_dir",
//!   "accounts": [ { "name": "A", "dir": "jetstream/A", "streams": [ {
//!       "name": "ORDERS", "dir": "jetstream/A/streams/ORDERS", "meta": "ok",
//!       "replicas": 3, "placement": {"cluster": "C1"}, "retention": "limits",
//!       "storage": "file", "subjects": ["orders.>"], "mirror": null, "sources": [],
//!       "encrypted": false, "checksum": "ok",
//!       "messages": 50, "bytes": 4242, "first_seq": 1, "last_seq": 50, "state_note": null,
//!       "consumers": [ { "name": "PROC", "dir": "...", "meta": "ok", "durable": true,
//!                        "replicas": 0, "ack_policy": "explicit", "encrypted": false,
//!                        "checksum": "ok", "ack_floor_stream_seq": 20,
//!                        "delivered_stream_seq": 25, "ack_pending": 5, "redelivered": 0,
//!                        "state_note": null } ] } ] } ],
//!   "raft": [ { "account": "$SYS", "dir": "jetstream/$SYS/_js_", "files": 40, "bytes": 9000,
//!               "groups": [ { "name": "S-R3F-x", "kind": "stream", "files": 5, "dirs": 2,
//!                             "bytes": 900, "fingerprint": "sha256:..." } ] } ],
//!   "inventory": { ... see crate::store::inventory ... },
//!   "tail": { "streams": [ { "account": "A", "stream": "LIM", "dir": "jetstream/A/streams/LIM",
//!               "store_last_seq": 7322, "committed": [{"first": 7323, "last": 7352}],
//!               "past_commit": [{"first": 7353, "last": 7358}], "messages": 36,
//!               "committed_messages": 30, "removals": 0, "max_assigned": 7358,
//!               "not_replayed": [] } ],
//!             "consumers": [ { "account": "A", "stream": "LIM", "consumer": "worker",
//!               "dir": "...", "stored": {"ack_floor": 39, "delivered": 7182, "ack_pending": 180},
//!               "newest": {...}, "committed": {...} } ],
//!             "problems": [] },
//!   "warnings": [ { "code": "interest-retention", "path": "...", "message": "..." } ] }
//! ```
//!
//! - `meta` is `ok`, `missing`, `malformed` (not JSON), `refused` (JSON, but a field the
//!   server cannot decode), `encrypted` (no key given), `wrong-key` (the keys given do not
//!   open it) or `damaged` (the key opened its `meta.key`, the file does not decrypt); an
//!   encrypted file the key opened is `ok`, with `encrypted` true. Fields read from the
//!   configuration are `null` when it cannot be read.
//! - `checksum` is `ok`, `bad` or `missing`.
//! - `messages`, `bytes`, `first_seq` and `last_seq` come from `msgs/index.db` when its
//!   checksum verifies and are `null` otherwise, with `state_note` saying why; `state_note`
//!   also says when `index.db` is older than the message blocks (a server that did not stop
//!   cleanly), and the counts may then be behind. A consumer's `ack_floor_stream_seq`,
//!   `delivered_stream_seq`, `ack_pending` and `redelivered` come from its `o.dat` in the
//!   same way. (Version 1 wrote the string `"unknown"` where version 2 writes `null`.)
//! - `inventory` (new in version 2) is what the lost cluster had, from the survivor's Raft
//!   meta state, each stream and consumer classified against this store.
//! - `tail` (new in version 2) is what this node's stream and consumer Raft logs hold that
//!   the store does not: per stream the messages (as sequence runs, split by whether this
//!   node knew they were committed), deletes not yet applied and the highest sequence
//!   assigned; per consumer its progress in `o.dat`, in its whole log and in the part of
//!   it this node knew was committed. See [`crate::store::tail`].
//! - `warnings[].code` is one of [`WarningCode`].

use serde::Serialize;
use serde_json::Value;

use super::consumer_state::ConsumerState;
use super::crypto::Unsealed;
use super::inventory::Inventory;
use super::tail::{ConsumerTailReport, StreamTailReport, Tails};
use super::{ChecksumState, MetaContent, MetaFile, Store};

mod warnings;

pub use warnings::{
    checksum_word, each_warning, inventory_warnings, tail_warnings, warnings, Warning, WarningCode,
};

pub const SCHEMA: &str = "js-recover/inspect";
pub const SCHEMA_VERSION: u32 = 2;

const STALE_INDEX: &str = "msgs/index.db is older than the newest message block (the server did \
     not stop cleanly, or the store was copied without keeping times); counts may be behind, and \
     the server recounts at load";

/// How a `meta.inf` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetaState {
    Ok,
    Missing,
    Malformed,
    Refused,
    Encrypted,
    WrongKey,
    Damaged,
}

impl MetaState {
    pub fn of(meta: Option<&MetaFile>) -> MetaState {
        match meta.map(|m| &m.content) {
            None => MetaState::Missing,
            Some(MetaContent::Json { refused, .. }) if !refused.is_empty() => MetaState::Refused,
            Some(MetaContent::Json { .. }) => MetaState::Ok,
            Some(MetaContent::Encrypted) => MetaState::Encrypted,
            Some(MetaContent::Unopened(Unsealed::WrongKey)) => MetaState::WrongKey,
            Some(MetaContent::Unopened(Unsealed::Corrupt)) => MetaState::Damaged,
            Some(MetaContent::Malformed(_)) => MetaState::Malformed,
        }
    }

    /// The word `inspect` shows.
    pub fn word(self) -> &'static str {
        match self {
            MetaState::Ok => "ok",
            MetaState::Missing => "missing",
            MetaState::Malformed => "malformed",
            MetaState::Refused => "refused",
            MetaState::Encrypted => "encrypted",
            MetaState::WrongKey => "wrong-key",
            MetaState::Damaged => "damaged",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub schema_version: u32,
    pub tool_version: &'static str,
    pub store: String,
    pub accounts: Vec<AccountReport>,
    pub raft: Vec<RaftReport>,
    /// What the lost cluster had, against this store (see [`super::inventory`]).
    pub inventory: Inventory,
    /// What this node's Raft logs hold that the store does not (see [`super::tail`]).
    pub tail: TailReport,

    pub warnings: Vec<Warning>,
}

/// The `tail` section of the report.
#[derive(Debug, Serialize)]
pub struct TailReport {
    pub streams: Vec<StreamTailReport>,
    pub consumers: Vec<ConsumerTailReport>,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AccountReport {
    pub name: String,
    pub dir: String,
    pub streams: Vec<StreamReport>,
}

#[derive(Debug, Serialize)]
pub struct StreamReport {
    pub name: String,
    pub dir: String,
    pub meta: MetaState,
    pub replicas: Option<i64>,
    pub placement: Option<Value>,
    pub retention: Option<String>,
    pub storage: Option<String>,
    pub subjects: Vec<String>,
    pub mirror: Option<Value>,
    pub sources: Vec<Value>,
    pub encrypted: bool,
    pub checksum: ChecksumState,
    pub messages: Option<u64>,
    pub bytes: Option<u64>,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub state_note: Option<String>,
    pub consumers: Vec<ConsumerReport>,
}

#[derive(Debug, Serialize)]
pub struct ConsumerReport {
    pub name: String,
    pub dir: String,
    pub meta: MetaState,
    pub durable: Option<bool>,
    pub replicas: Option<i64>,
    pub ack_policy: Option<String>,
    pub encrypted: bool,
    pub checksum: ChecksumState,
    pub ack_floor_stream_seq: Option<u64>,
    pub delivered_stream_seq: Option<u64>,
    pub ack_pending: Option<u64>,
    pub redelivered: Option<u64>,
    pub state_note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RaftReport {
    pub account: String,
    pub dir: String,
    pub files: u64,
    pub bytes: u64,
    pub groups: Vec<super::RaftGroup>,
}

impl Report {
    pub fn new(store: &Store, inventory: Inventory, tails: &Tails) -> Report {
        let accounts = store
            .accounts
            .iter()
            .filter(|a| !a.streams.is_empty() || a.raft.is_none())
            .map(|a| AccountReport {
                name: a.name.clone(),
                dir: a.dir.clone(),
                streams: a.streams.iter().map(stream_report).collect(),
            })
            .collect();
        let raft = store
            .accounts
            .iter()
            .filter_map(|a| {
                let r = a.raft.as_ref()?;
                Some(RaftReport {
                    account: a.name.clone(),
                    dir: r.dir.clone(),
                    files: r.groups.iter().map(|g| g.size.files).sum(),
                    bytes: r.groups.iter().map(|g| g.size.bytes).sum(),
                    groups: r.groups.clone(),
                })
            })
            .collect();
        Report {
            schema: SCHEMA,
            schema_version: SCHEMA_VERSION,
            tool_version: env!("CARGO_PKG_VERSION"),
            store: store.root.display().to_string(),
            accounts,
            raft,
            warnings: warnings(store)
                .into_iter()
                .chain(inventory_warnings(&inventory))
                .chain(tail_warnings(tails))
                .collect(),
            inventory,
            tail: TailReport {
                streams: tails.stream_reports(),
                consumers: tails.consumer_reports(),
                problems: tails.problems.clone(),
            },
        }
    }
}

fn stream_report(s: &super::Stream) -> StreamReport {
    let meta = s.meta.as_ref();
    let field = |k: &str| meta.and_then(|m| m.field(k));
    let text = |k: &str| field(k).and_then(|v| v.as_str().map(str::to_string));
    let (state, state_note) = match &s.state {
        Ok(st) => (Some(st), s.state_stale.then(|| STALE_INDEX.to_string())),
        Err(e) => (None, Some(e.to_string())),
    };
    StreamReport {
        name: text("name").unwrap_or_else(|| s.dir_name.clone()),
        dir: s.dir.clone(),
        meta: MetaState::of(meta),
        replicas: meta.and_then(|m| m.replicas()),
        placement: field("placement"),
        retention: text("retention"),
        storage: text("storage"),
        subjects: field("subjects")
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
        mirror: field("mirror"),
        sources: field("sources")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default(),
        encrypted: meta.is_some_and(|m| m.is_encrypted()),
        checksum: meta.map_or(ChecksumState::Missing, |m| m.checksum()),
        messages: state.map(|st| st.messages),
        bytes: state.map(|st| st.bytes),
        first_seq: state.map(|st| st.first_seq),
        last_seq: state.map(|st| st.last_seq),
        state_note,
        consumers: s.consumers.iter().map(consumer_report).collect(),
    }
}

fn consumer_report(c: &super::Consumer) -> ConsumerReport {
    let m = c.meta.as_ref();
    let field = |k: &str| m.and_then(|m| m.field(k));
    let state = c.state.as_ref().ok();
    let number = |f: fn(&ConsumerState) -> u64| state.map(f);
    ConsumerReport {
        ack_floor_stream_seq: number(|s| s.ack_floor_stream_seq),
        delivered_stream_seq: number(|s| s.delivered_stream_seq),
        ack_pending: number(|s| s.ack_pending),
        redelivered: number(|s| s.redelivered),
        state_note: c.state.as_ref().err().map(|e| e.to_string()),
        name: c.name.clone(),
        dir: c.dir.clone(),
        meta: MetaState::of(m),
        durable: m.and_then(|m| m.object()).map(|_| {
            field("durable_name")
                .and_then(|v| v.as_str().map(|s| !s.is_empty()))
                .unwrap_or(false)
        }),
        replicas: m.and_then(|m| m.replicas()),
        ack_policy: field("ack_policy").and_then(|v| v.as_str().map(str::to_string)),
        encrypted: m.is_some_and(|m| m.is_encrypted()),
        checksum: m.map_or(ChecksumState::Missing, |m| m.checksum()),
    }
}
