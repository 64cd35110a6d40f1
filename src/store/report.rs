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
//!                        "checksum": "ok", "ack_floor_stream_seq": 20,
//!                        "delivered_stream_seq": 25, "ack_pending": 5, "redelivered": 0,
//!                        "state_note": null } ] } ] } ],
//!   "raft": [ { "account": "$SYS", "dir": "jetstream/$SYS/_js_", "files": 40, "bytes": 9000,
//!               "groups": [ { "name": "S-R3F-x", "kind": "stream", "files": 5, "dirs": 2,
//!                             "bytes": 900, "fingerprint": "sha256:..." } ] } ],
//!   "warnings": [ { "code": "interest-retention", "path": "...", "message": "..." } ] }
//! ```
//!
//! `meta` is `ok`, `missing`, `malformed`, `encrypted` (no key given) or `wrong-key` (the
//! keys given do not open it); an encrypted file the key opened is `ok`, with `encrypted`
//! true. Fields read from the configuration are `null` when it cannot be read. `checksum` is `ok`, `bad` or `missing`. `messages`,
//! `bytes`, `first_seq` and `last_seq` come from `msgs/index.db` when its checksum verifies
//! and are the string `"unknown"` otherwise, with `state_note` saying why; `state_note` also
//! says when `index.db` is older than the message blocks (a server that did not stop
//! cleanly), and the counts may then be behind. A consumer's `ack_floor_stream_seq`,
//! `delivered_stream_seq`, `ack_pending` and `redelivered` come from its `o.dat` in the same
//! way.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::consumer_state::{ConsumerState, StateError};
use super::crypto::Unsealed;
use super::index_db::IndexError;
use super::{ChecksumState, MetaContent, MetaFile, Store, Stream};

pub const SCHEMA: &str = "js-recover/inspect";

const STALE_INDEX: &str = "msgs/index.db is older than the newest message block (the server did \
     not stop cleanly, or the store was copied without keeping times); counts may be behind, and \
     the server recounts at load";

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
    pub ack_floor_stream_seq: Value,
    pub delivered_stream_seq: Value,
    pub ack_pending: Value,
    pub redelivered: Value,
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
        Some(MetaContent::Json { refused, .. }) if !refused.is_empty() => "refused",
        Some(MetaContent::Json { .. }) => "ok",
        Some(MetaContent::Encrypted) => "encrypted",
        Some(MetaContent::Unopened(Unsealed::WrongKey)) => "wrong-key",
        Some(MetaContent::Unopened(Unsealed::Corrupt)) => "damaged",
        Some(MetaContent::Malformed(_)) => "malformed",
    }
}

fn stream_report(s: &super::Stream) -> StreamReport {
    let meta = s.meta.as_ref();
    let field = |k: &str| meta.and_then(|m| m.field(k)).cloned();
    let text = |k: &str| field(k).and_then(|v| v.as_str().map(str::to_string));
    let unknown = || Value::from("unknown");
    let (messages, bytes, first_seq, last_seq, state_note) = match &s.state {
        Ok(st) => (
            st.messages.into(),
            st.bytes.into(),
            st.first_seq.into(),
            st.last_seq.into(),
            s.state_stale.then(|| STALE_INDEX.to_string()),
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
                let field = |k: &str| m.and_then(|m| m.field(k)).cloned();
                let number = |f: fn(&ConsumerState) -> u64| match &c.state {
                    Ok(st) => Value::from(f(st)),
                    Err(_) => unknown(),
                };
                ConsumerReport {
                    ack_floor_stream_seq: number(|s| s.ack_floor_stream_seq),
                    delivered_stream_seq: number(|s| s.delivered_stream_seq),
                    ack_pending: number(|s| s.ack_pending),
                    redelivered: number(|s| s.redelivered),
                    state_note: c.state.as_ref().err().map(|e| e.to_string()),
                    name: c.name.clone(),
                    dir: c.dir.clone(),
                    meta: meta_state(m),
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
    for (a, s) in store.streams() {
        let Some(meta) = &s.meta else { continue };
        let name = meta.str_field("name").unwrap_or(&s.dir_name);
        match &meta.content {
            MetaContent::Encrypted => out.push(Warning::new(
                "encrypted",
                &s.dir,
                format!("stream `{name}` is encrypted at rest; give the server's key with --key-file to read and plan it"),
            )),
            MetaContent::Unopened(Unsealed::WrongKey) => out.push(Warning::new(
                "wrong-key",
                &meta.path,
                format!("the key given does not open stream `{name}` (account `{}`); is it the server's current key, or its previous one (--prev-key-file)?", a.name),
            )),
            MetaContent::Unopened(Unsealed::Corrupt) => out.push(Warning::new(
                "damaged-meta",
                &meta.path,
                format!("`{}` of stream `{name}` (account `{}`) does not decrypt though the key opened its meta.key: the file is damaged, and the server cannot load the stream", meta.path, a.name),
            )),
            MetaContent::Malformed(e) => out.push(Warning::new(
                "malformed-meta",
                &meta.path,
                format!("`{}` is not valid JSON ({e}); the server cannot load stream `{}`", meta.path, s.dir_name),
            )),
            MetaContent::Json { .. } => {}
        }
        if let Some(e @ super::StoreError::Refused { .. }) = meta.unloadable() {
            out.push(Warning::new(
                "server-refuses-meta",
                &meta.path,
                format!("{e}; the server skips stream `{name}` until the file is repaired"),
            ));
        }
        if meta.checksum() != ChecksumState::Ok {
            out.push(Warning::new(
                "checksum-mismatch",
                &meta.sum_path,
                format!("meta.sum of stream `{name}` is {}: the server skips this stream until it is recomputed", checksum_word(meta.checksum())),
            ));
        }
        if let Some(r @ ("interest" | "workqueue")) = meta.str_field("retention") {
            out.push(retention_warning(name, r, s));
        }
        out.extend(origin_warnings(a, name, s));
        if matches!(s.state, Err(IndexError::Missing)) {
            out.push(Warning::new(
                "missing-index",
                &s.dir,
                format!("stream `{name}` has no msgs/index.db (the server was killed?); the server rebuilds it from the message blocks at load"),
            ));
        }
        for c in &s.consumers {
            let Some(cm) = &c.meta else { continue };
            if let MetaContent::Unopened(why) = &cm.content {
                let (code, what) = match why {
                    Unsealed::WrongKey => ("wrong-key", "the key given does not open"),
                    Unsealed::Corrupt => (
                        "damaged-meta",
                        "the key opened meta.key, but meta.inf does not decrypt (the file is damaged) for",
                    ),
                };
                out.push(Warning::new(
                    code,
                    &cm.path,
                    format!(
                        "{what} consumer `{}` of stream `{name}` (account `{}`)",
                        c.name, a.name
                    ),
                ));
            }
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
            match &c.state {
                Err(e @ (StateError::Corrupt | StateError::UnknownVersion { .. })) => {
                    out.push(Warning::new(
                        "consumer-state-unreadable",
                        &format!("{}/{}", c.dir, super::consumer_state::STATE_FILE),
                        format!(
                            "consumer `{}` of stream `{name}`: {e}; the server fails to load this \
                             consumer, and on an interest or work-queue stream deletes what only it \
                             still needed",
                            c.name
                        ),
                    ))
                }
                Ok(cs) => {
                    if let Some(w) = ahead_of_stream(name, s, &c.name, &c.dir, cs) {
                        out.push(w);
                    }
                }
                Err(StateError::Encrypted) => {}
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

/// What an interest or work-queue stream holds, each consumer's progress, and what a
/// consumer that fails to load would take with it.
fn retention_warning(name: &str, retention: &str, s: &Stream) -> Warning {
    let kind = if retention == "interest" {
        "interest"
    } else {
        "work-queue"
    };
    let mut msg = format!("stream `{name}` uses {kind} retention");
    match &s.state {
        Ok(st) if st.messages == 0 => msg += " and holds no messages",
        Ok(st) => {
            msg += &format!(
                " and holds {} messages (seq {}..{})",
                st.messages, st.first_seq, st.last_seq
            );
            if s.state_stale {
                msg += " as of msgs/index.db, which is older than the message blocks";
            }
        }
        Err(e) => msg += &format!(" (messages unknown: {e})"),
    }
    let progress: Vec<String> = s
        .consumers
        .iter()
        .map(|c| match &c.state {
            Ok(cs) => format!(
                "`{}` ack floor {}, delivered {}, {} awaiting ack{}",
                c.name,
                cs.ack_floor_stream_seq,
                cs.delivered_stream_seq,
                cs.ack_pending,
                replicas_note(c)
            ),
            Err(e) => format!("`{}` progress unknown ({e}){}", c.name, replicas_note(c)),
        })
        .collect();
    if progress.is_empty() {
        msg += "; it has no consumers.";
    } else {
        msg += &format!("; consumers: {}.", progress.join("; "));
    }
    if retention == "interest" {
        msg += " At load the server deletes every message all its loaded consumers have \
                 acknowledged, so a consumer that fails to load takes the messages only it still \
                 needs with it";
        if let Some((lowest, first, last)) = held_only_by_lowest(s) {
            msg += &format!(": if `{lowest}` did not load, seq {first}..{last} would be deleted");
        }
        msg += ". Every consumer must stay loadable.";
    } else {
        msg += " A work queue deletes each message once acknowledged; a consumer that fails to \
                 load loses its deliveries awaiting ack, and they are delivered again to whichever \
                 consumer comes next. Every consumer must stay loadable.";
    }
    Warning::new(&format!("{retention}-retention"), &s.dir, msg)
}

/// For a consumer a standalone server would refuse as it is: why, and that plan fixes it.
fn replicas_note(c: &super::Consumer) -> String {
    match c.meta.as_ref().and_then(|m| m.replicas()) {
        Some(r) if r > 1 => format!(
            " (num_replicas {r}: refused by a standalone server until edited; `plan` sets it to 0)"
        ),
        _ => String::new(),
    }
}

/// For an interest stream with two or more consumers whose progress is known: the consumer
/// with the lowest ack floor and the sequences above it that every other consumer has
/// already acknowledged (what the server compacts away if that consumer is gone).
fn held_only_by_lowest(s: &Stream) -> Option<(&str, u64, u64)> {
    let st = s.state.as_ref().ok()?;
    let mut floors: Vec<(u64, &str)> = s
        .consumers
        .iter()
        .map(|c| Some((c.state.as_ref().ok()?.ack_floor_stream_seq, c.name.as_str())))
        .collect::<Option<_>>()?;
    floors.sort();
    let [(lowest, name), (next, _), ..] = floors[..] else {
        return None;
    };
    let (first, last) = ((lowest + 1).max(st.first_seq), next.min(st.last_seq));
    (st.messages > 0 && first <= last).then_some((name, first, last))
}

/// A consumer that was delivered messages past the stream's last sequence: this copy of the
/// stream lacks messages another node had. Not judged when the stream's counts may be stale.
fn ahead_of_stream(
    stream: &str,
    s: &Stream,
    consumer: &str,
    dir: &str,
    cs: &ConsumerState,
) -> Option<Warning> {
    let st = s.state.as_ref().ok().filter(|_| !s.state_stale)?;
    (cs.delivered_stream_seq > st.last_seq).then(|| {
        Warning::new(
            "consumer-ahead-of-stream",
            dir,
            format!(
                "consumer `{consumer}` of stream `{stream}` was delivered up to seq {}, but this copy \
                 of the stream ends at seq {}: the survivor lacks messages another node had. Check \
                 whether a better copy survives before going on",
                cs.delivered_stream_seq, st.last_seq
            ),
        )
    })
}

/// Mirror and source origins that are not in this store: an origin reached through an API
/// prefix (another account or JetStream domain), or a stream this account does not have.
fn origin_warnings(account: &super::Account, name: &str, s: &Stream) -> Vec<Warning> {
    let Some(meta) = s.meta.as_ref() else {
        return Vec::new();
    };
    let mirror = meta.field("mirror").filter(|v| v.is_object()).into_iter();
    let sources = meta
        .field("sources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    let origins = mirror
        .map(|m| ("mirror", "mirrors", m))
        .chain(sources.map(|src| ("source", "sources", src)));
    let in_account = |origin: &str| {
        account.streams.iter().any(|t| {
            t.meta
                .as_ref()
                .and_then(|m| m.str_field("name"))
                .unwrap_or(&t.dir_name)
                == origin
        })
    };
    let mut out = Vec::new();
    for (kind, verb, origin) in origins {
        let origin_name = origin.get("name").and_then(Value::as_str).unwrap_or("?");
        let api = origin
            .get("external")
            .and_then(|e| e.get("api"))
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty());
        let why = match api {
            Some(api) => format!(
                "through `{api}`, in another account or JetStream domain, so not in this store"
            ),
            None if in_account(origin_name) => continue,
            None => format!("which is not in this store (account `{}`)", account.name),
        };
        out.push(Warning::new(
            &format!("{kind}-origin-not-in-store"),
            &s.dir,
            format!(
                "stream `{name}` {verb} `{origin_name}` {why}: what `{name}` holds is kept, but it \
                 receives nothing new until the recovered server can reach a stream of that name"
            ),
        ));
    }
    out
}
