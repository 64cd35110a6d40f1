//! What `inspect` reports about a store, and the warnings `plan` repeats.
//!
//! # Wire format
//!
//! `js-recover inspect --json` prints one JSON object (schema `js-recover/inspect`,
//! version 1):
//!
//! ```json
//! { "schema": "js-recover/inspect", "schema_version": 1, "tool_version": "0.1.0",
//!   "store": "/abs/store_dir",
//!   "accounts": [ { "name": "A", "dir": "jetstream/A", "streams": [ {
//!       "name": "ORDERS", "dir": "jetstream/A/streams/ORDERS", "meta": "ok",
//!       "replicas": 3, "placement": {"cluster": "C1"}, "retention": "limits",
//!       "storage": "file", "subjects": ["orders.>"], "mirror": null, "sources": [],
//!       "encrypted": false, "checksum": "ok",
//!       "messages": 50, "bytes": 4242, "first_seq": 1, "last_seq": 50, "state_note": null,
//!       "consumers": [ { "name": "PROC", "dir": "...", "meta": "ok", "durable": true,
//!                        "replicas": 0, "ack_policy": "explicit", "encrypted": false,
//!                        "checksum": "ok" } ] } ] } ],
//!   "raft": [ { "account": "$SYS", "dir": "jetstream/$SYS/_js_", "files": 40, "bytes": 9000,
//!               "groups": [ { "name": "S-R3F-x", "kind": "stream", "files": 5, "dirs": 2,
//!                             "bytes": 900, "fingerprint": "sha256:..." } ] } ],
//!   "warnings": [ { "code": "interest-retention", "path": "...", "message": "..." } ] }
//! ```
//!
//! `meta` is `ok`, `missing`, `malformed` or `encrypted`; fields read from the configuration
//! are `null` when it cannot be read. `checksum` is `ok`, `bad` or `missing`. `messages`,
//! `bytes`, `first_seq` and `last_seq` come from `msgs/index.db` when its checksum verifies
//! and are the string `"unknown"` otherwise, with `state_note` saying why.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::index_db::IndexError;
use super::{ChecksumState, MetaContent, MetaFile, Store};

pub const SCHEMA: &str = "js-recover/inspect";

/// Something a reviewer should know before going on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warning {
    /// A stable identifier, e.g. `interest-retention`.
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl Warning {
    fn new(code: &str, path: &str, message: String) -> Self {
        Warning {
            code: code.into(),
            path: Some(path.into()),
            message,
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
    pub warnings: Vec<Warning>,
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
    pub meta: &'static str,
    pub replicas: Option<i64>,
    pub placement: Option<Value>,
    pub retention: Option<String>,
    pub storage: Option<String>,
    pub subjects: Vec<String>,
    pub mirror: Option<Value>,
    pub sources: Vec<Value>,
    pub encrypted: bool,
    pub checksum: ChecksumState,
    pub messages: Value,
    pub bytes: Value,
    pub first_seq: Value,
    pub last_seq: Value,
    pub state_note: Option<String>,
    pub consumers: Vec<ConsumerReport>,
}

#[derive(Debug, Serialize)]
pub struct ConsumerReport {
    pub name: String,
    pub dir: String,
    pub meta: &'static str,
    pub durable: Option<bool>,
    pub replicas: Option<i64>,
    pub ack_policy: Option<String>,
    pub encrypted: bool,
    pub checksum: ChecksumState,
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
    pub fn new(store: &Store) -> Report {
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
            schema_version: 1,
            tool_version: env!("CARGO_PKG_VERSION"),
            store: store.root.display().to_string(),
            accounts,
            raft,
            warnings: warnings(store),
        }
    }
}

fn meta_state(meta: Option<&MetaFile>) -> &'static str {
    match meta.map(|m| &m.content) {
        None => "missing",
        Some(MetaContent::Json { .. }) => "ok",
        Some(MetaContent::Encrypted) => "encrypted",
        Some(MetaContent::Malformed(_)) => "malformed",
    }
}

fn stream_report(s: &super::Stream) -> StreamReport {
    let meta = s.meta.as_ref();
    let field = |k: &str| {
        meta.and_then(|m| m.fields())
            .and_then(|f| f.get(k))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let text = |k: &str| field(k).and_then(|v| v.as_str().map(str::to_string));
    let unknown = || Value::from("unknown");
    let (messages, bytes, first_seq, last_seq, state_note) = match &s.state {
        Ok(st) => (
            st.messages.into(),
            st.bytes.into(),
            st.first_seq.into(),
            st.last_seq.into(),
            None,
        ),
        Err(e) => (
            unknown(),
            unknown(),
            unknown(),
            unknown(),
            Some(e.to_string()),
        ),
    };
    StreamReport {
        name: text("name").unwrap_or_else(|| s.dir_name.clone()),
        dir: s.dir.clone(),
        meta: meta_state(meta),
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
        messages,
        bytes,
        first_seq,
        last_seq,
        state_note,
        consumers: s
            .consumers
            .iter()
            .map(|c| {
                let m = c.meta.as_ref();
                let field = |k: &str| m.and_then(|m| m.fields()).and_then(|f| f.get(k)).cloned();
                ConsumerReport {
                    name: c.name.clone(),
                    dir: c.dir.clone(),
                    meta: meta_state(m),
                    durable: m.and_then(|m| m.fields()).map(|_| {
                        field("durable_name")
                            .and_then(|v| v.as_str().map(|s| !s.is_empty()))
                            .unwrap_or(false)
                    }),
                    replicas: m.and_then(|m| m.replicas()),
                    ack_policy: field("ack_policy").and_then(|v| v.as_str().map(str::to_string)),
                    encrypted: m.is_some_and(|m| m.is_encrypted()),
                    checksum: m.map_or(ChecksumState::Missing, |m| m.checksum()),
                }
            })
            .collect(),
    }
}

/// Conditions that put data at risk or that a reviewer must know about.
pub fn warnings(store: &Store) -> Vec<Warning> {
    let mut out: Vec<Warning> = store
        .notes
        .iter()
        .map(|n| Warning {
            code: "skipped-entry".into(),
            path: None,
            message: n.clone(),
        })
        .collect();
    for (_, s) in store.streams() {
        let Some(meta) = &s.meta else { continue };
        let name = meta.str_field("name").unwrap_or(&s.dir_name);
        match &meta.content {
            MetaContent::Encrypted => out.push(Warning::new(
                "encrypted",
                &s.dir,
                format!("stream `{name}` is encrypted at rest; its configuration cannot be read or edited yet"),
            )),
            MetaContent::Malformed(e) => out.push(Warning::new(
                "malformed-meta",
                &meta.path,
                format!("`{}` is not valid JSON ({e}); the server cannot load stream `{}`", meta.path, s.dir_name),
            )),
            MetaContent::Json { .. } => {}
        }
        if meta.checksum() != ChecksumState::Ok && !meta.is_encrypted() {
            out.push(Warning::new(
                "checksum-mismatch",
                &meta.sum_path,
                format!("meta.sum of stream `{name}` is {}: the server skips this stream until it is recomputed", checksum_word(meta.checksum())),
            ));
        }
        if let Some(r @ ("interest" | "workqueue")) = meta.str_field("retention") {
            out.push(Warning::new(
                &format!("{r}-retention"),
                &s.dir,
                format!(
                    "stream `{name}` uses {r} retention: any consumer the server fails to load has its \
                     unacknowledged messages deleted at load, so every consumer must stay loadable"
                ),
            ));
        }
        if let Some(m) = meta
            .fields()
            .and_then(|f| f.get("mirror"))
            .filter(|v| !v.is_null())
        {
            let origin = m.get("name").and_then(Value::as_str).unwrap_or("?");
            out.push(Warning::new(
                "mirror",
                &s.dir,
                format!("stream `{name}` mirrors `{origin}`: it resumes from its origin only once that is reachable again"),
            ));
        }
        let sources = meta
            .fields()
            .and_then(|f| f.get("sources"))
            .and_then(Value::as_array);
        if let Some(sources) = sources.filter(|s| !s.is_empty()) {
            let names: Vec<&str> = sources
                .iter()
                .filter_map(|s| s.get("name").and_then(Value::as_str))
                .collect();
            out.push(Warning::new(
                "sources",
                &s.dir,
                format!("stream `{name}` sources {}: it resumes sourcing only once they are reachable again", names.join(", ")),
            ));
        }
        if matches!(s.state, Err(IndexError::Missing)) {
            out.push(Warning::new(
                "missing-index",
                &s.dir,
                format!("stream `{name}` has no msgs/index.db (the server was killed?); the server rebuilds it from the message blocks at load"),
            ));
        }
        for c in &s.consumers {
            let Some(cm) = &c.meta else { continue };
            if let MetaContent::Malformed(e) = &cm.content {
                out.push(Warning::new(
                    "malformed-meta",
                    &cm.path,
                    format!(
                        "`{}` is not valid JSON ({e}); the server cannot load consumer `{}`",
                        cm.path, c.name
                    ),
                ));
            }
            if cm.checksum() == ChecksumState::Missing {
                out.push(Warning::new(
                    "checksum-mismatch",
                    &cm.sum_path,
                    format!("consumer `{}` of stream `{name}` has no meta.sum: the server skips it until one is written", c.name),
                ));
            }
        }
    }
    out
}

pub fn checksum_word(c: ChecksumState) -> &'static str {
    match c {
        ChecksumState::Ok => "ok",
        ChecksumState::Bad => "wrong",
        ChecksumState::Missing => "missing",
    }
}
