//! The warning rules: conditions that put data at risk or that a reviewer must know
//! about. [`WarningCode`] is the one list of codes: `inspect` and `plan` emit only these,
//! and the README's warnings table has a row for each.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::consumer_state::{ConsumerState, StateError};
use super::super::crypto::Unsealed;
use super::super::index_db::IndexError;
use super::super::inventory::{Asset, Class, Inventory};
use super::super::tail::{SeqRange, Tails};
use super::super::{ChecksumState, MetaContent, MetaFile, Store, Stream};

/// Every warning js-recover gives, by its stable code (kebab-case on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningCode {
    /// An entry of the store the server skips (not a directory, a half-deleted stream...).
    SkippedEntry,
    /// Encrypted at rest and no key given.
    Encrypted,
    /// The key given does not open a stream or consumer.
    WrongKey,
    /// The key opened `meta.key` but `meta.inf` does not decrypt.
    DamagedMeta,
    /// `meta.inf` is not JSON.
    MalformedMeta,
    /// `meta.inf` is JSON, but a field the server cannot decode.
    ServerRefusesMeta,
    /// `meta.sum` wrong or missing.
    ChecksumMismatch,
    InterestRetention,
    WorkqueueRetention,
    MirrorOriginNotInStore,
    SourceOriginNotInStore,
    /// No `msgs/index.db`: the server rebuilds it.
    MissingIndex,
    /// `o.dat` cannot be decoded.
    ConsumerStateUnreadable,
    /// A consumer was delivered past the stream's last sequence.
    ConsumerAheadOfStream,
    /// The system account holds data besides the Raft state.
    SystemAccountHasData,
    /// A stream the cluster had is not in this store.
    StreamNotHere,
    /// A consumer the cluster had is not in this store.
    ConsumerNotHere,
    /// A stream or consumer this store holds is unknown to the cluster.
    NotInCluster,
    /// This store's copy is behind what its own Raft state knew.
    BehindRaftState,
    /// The plan recreates a missing consumer so that nothing is deleted at load.
    ConsumerRecreated,
    /// A missing consumer is not recreated: the server deletes what only it still needed.
    MessagesDeletedAtLoad,
    /// Messages older than the stream's `max_age`: the server deletes them as it loads it.
    ExpireAtLoad,
    /// The cluster's meta state could not be read (or only in part).
    RaftStateUnreadable,
    /// Messages or consumer acks only in this node's Raft log (what `inspect` finds).
    RaftTail,
    /// Messages or consumer acks only in this node's Raft log; the plan writes them back.
    RaftTailRecovered,
    /// Messages only in this node's Raft log that the plan does not recover (`--raft-tail`).
    RaftTailDropped,
    /// An entry of the Raft log tail that cannot be replayed offline.
    RaftTailNotReplayed,
    /// Several survivors: this stream or consumer is copied in from another survivor.
    CopiedFromSurvivor,
    /// A work queue still holds messages its consumers acknowledged; the plan removes them.
    ConsumedRemoved,
    /// Accounts named by public keys: the cluster ran in operator (JWT) mode.
    OperatorMode,
}

impl WarningCode {
    /// Every code, in the order the README lists them.
    pub const ALL: [WarningCode; 30] = [
        WarningCode::CopiedFromSurvivor,
        WarningCode::ConsumedRemoved,
        WarningCode::RaftTail,
        WarningCode::RaftTailRecovered,
        WarningCode::RaftTailDropped,
        WarningCode::RaftTailNotReplayed,
        WarningCode::StreamNotHere,
        WarningCode::ConsumerNotHere,
        WarningCode::NotInCluster,
        WarningCode::BehindRaftState,
        WarningCode::ConsumerRecreated,
        WarningCode::MessagesDeletedAtLoad,
        WarningCode::ExpireAtLoad,
        WarningCode::RaftStateUnreadable,
        WarningCode::InterestRetention,
        WarningCode::WorkqueueRetention,
        WarningCode::ConsumerAheadOfStream,
        WarningCode::ConsumerStateUnreadable,
        WarningCode::MirrorOriginNotInStore,
        WarningCode::SourceOriginNotInStore,
        WarningCode::ChecksumMismatch,
        WarningCode::MalformedMeta,
        WarningCode::ServerRefusesMeta,
        WarningCode::MissingIndex,
        WarningCode::Encrypted,
        WarningCode::WrongKey,
        WarningCode::DamagedMeta,
        WarningCode::SkippedEntry,
        WarningCode::SystemAccountHasData,
        WarningCode::OperatorMode,
    ];

    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::SkippedEntry => "skipped-entry",
            WarningCode::Encrypted => "encrypted",
            WarningCode::WrongKey => "wrong-key",
            WarningCode::DamagedMeta => "damaged-meta",
            WarningCode::MalformedMeta => "malformed-meta",
            WarningCode::ServerRefusesMeta => "server-refuses-meta",
            WarningCode::ChecksumMismatch => "checksum-mismatch",
            WarningCode::InterestRetention => "interest-retention",
            WarningCode::WorkqueueRetention => "workqueue-retention",
            WarningCode::MirrorOriginNotInStore => "mirror-origin-not-in-store",
            WarningCode::SourceOriginNotInStore => "source-origin-not-in-store",
            WarningCode::MissingIndex => "missing-index",
            WarningCode::ConsumerStateUnreadable => "consumer-state-unreadable",
            WarningCode::ConsumerAheadOfStream => "consumer-ahead-of-stream",
            WarningCode::SystemAccountHasData => "system-account-has-data",
            WarningCode::StreamNotHere => "stream-not-here",
            WarningCode::ConsumerNotHere => "consumer-not-here",
            WarningCode::NotInCluster => "not-in-cluster",
            WarningCode::BehindRaftState => "behind-raft-state",
            WarningCode::ConsumerRecreated => "consumer-recreated",
            WarningCode::MessagesDeletedAtLoad => "messages-deleted-at-load",
            WarningCode::ExpireAtLoad => "expire-at-load",
            WarningCode::RaftStateUnreadable => "raft-state-unreadable",
            WarningCode::RaftTail => "raft-tail",
            WarningCode::RaftTailRecovered => "raft-tail-recovered",
            WarningCode::RaftTailDropped => "raft-tail-dropped",
            WarningCode::RaftTailNotReplayed => "raft-tail-not-replayed",
            WarningCode::CopiedFromSurvivor => "copied-from-survivor",
            WarningCode::ConsumedRemoved => "consumed-removed",
            WarningCode::OperatorMode => "operator-mode",
        }
    }
}

impl std::fmt::Display for WarningCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a reviewer should know before going on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warning {
    pub code: WarningCode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub message: String,
}

impl Warning {
    pub fn new(code: WarningCode, path: &str, message: String) -> Self {
        Warning {
            code,
            path: Some(path.into()),
            message,
        }
    }
}

/// Conditions that put data at risk or that a reviewer must know about.
pub fn warnings(store: &Store) -> Vec<Warning> {
    let mut all = Vec::new();
    each_warning(store, &mut |w| all.push(w));
    all
}

/// Where [`each_warning`] hands each warning.
struct Sink<'a>(&'a mut dyn FnMut(Warning));

impl Sink<'_> {
    fn push(&mut self, w: Warning) {
        (self.0)(w)
    }

    fn extend(&mut self, ws: impl IntoIterator<Item = Warning>) {
        ws.into_iter().for_each(|w| self.push(w));
    }
}

/// [`warnings`], each handed to `each` as it is found: thousands of streams can have
/// thousands of them, and a plan writes them without holding them all.
pub fn each_warning(store: &Store, each: &mut dyn FnMut(Warning)) {
    let mut out = Sink(each);
    out.extend(store.notes.iter().map(|n| Warning {
        code: WarningCode::SkippedEntry,
        path: None,
        message: n.clone(),
    }));
    let keyed: Vec<&str> = store
        .accounts
        .iter()
        .filter(|a| super::super::is_account_key(&a.name) && !a.streams.is_empty())
        .map(|a| a.name.as_str())
        .collect();
    if !keyed.is_empty() {
        out.push(Warning {
            code: WarningCode::OperatorMode,
            path: None,
            message: format!(
                "operator (JWT) mode: account{} {} {} named by public keys. The standalone server \
                 needs the survivor's operator, system account, resolver and account JWTs; an \
                 account whose JWT sets only R3 tiered JetStream limits cannot host the R1 streams \
                 (the server refuses each with \"no JetStream default or applicable tiered limit \
                 present\") until an R1 tier or global limits are added to it",
                if keyed.len() == 1 { "" } else { "s" },
                keyed.join(", "),
                if keyed.len() == 1 { "is" } else { "are" },
            ),
        });
    }
    let now = crate::clock::now()
        .timestamp_nanos_opt()
        .unwrap_or(i64::MAX);
    for (a, s) in store.streams() {
        let Some(meta) = &s.meta else { continue };
        let name = s.name();
        match &meta.content {
            MetaContent::Encrypted => out.push(Warning::new(
                WarningCode::Encrypted,
                &s.dir,
                format!("stream `{name}` is encrypted at rest; give the server's key with --key-file to read and plan it"),
            )),
            MetaContent::Unopened(Unsealed::WrongKey) => out.push(Warning::new(
                WarningCode::WrongKey,
                &meta.path,
                format!("the key given does not open stream `{name}` (account `{}`); is it the server's current key, or its previous one (--prev-key-file)?", a.name),
            )),
            MetaContent::Unopened(Unsealed::Corrupt) => out.push(Warning::new(
                WarningCode::DamagedMeta,
                &meta.path,
                format!("`{}` of stream `{name}` (account `{}`) does not decrypt though the key opened its meta.key: the file is damaged, and the server cannot load the stream", meta.path, a.name),
            )),
            MetaContent::Malformed(e) => out.push(Warning::new(
                WarningCode::MalformedMeta,
                &meta.path,
                format!("`{}` is not valid JSON ({e}); the server cannot load stream `{}`", meta.path, s.dir_name),
            )),
            MetaContent::Json { .. } => {}
        }
        if let Some(e @ super::super::StoreError::Refused { .. }) = meta.unloadable() {
            out.push(Warning::new(
                WarningCode::ServerRefusesMeta,
                &meta.path,
                format!("{e}; the server skips stream `{name}` until the file is repaired"),
            ));
        }
        if meta.checksum() != ChecksumState::Ok {
            out.push(Warning::new(
                WarningCode::ChecksumMismatch,
                &meta.sum_path(),
                format!("meta.sum of stream `{name}` is {}: the server skips this stream until it is recomputed", checksum_word(meta.checksum())),
            ));
        }
        if let Some(r @ ("interest" | "workqueue")) = meta.str_field("retention").as_deref() {
            out.push(retention_warning(name, r, s));
        }
        out.extend(expiry_warning(name, meta, s, now));
        out.extend(origin_warnings(store, a, name, s));
        if matches!(s.state, Err(IndexError::Missing)) {
            out.push(Warning::new(
                WarningCode::MissingIndex,
                &s.dir,
                format!("stream `{name}` has no msgs/index.db (the server was killed?); the server rebuilds it from the message blocks at load"),
            ));
        }
        for c in &s.consumers {
            let Some(cm) = &c.meta else { continue };
            if let MetaContent::Unopened(why) = &cm.content {
                let (code, what) = match why {
                    Unsealed::WrongKey => (WarningCode::WrongKey, "the key given does not open"),
                    Unsealed::Corrupt => (
                        WarningCode::DamagedMeta,
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
                    WarningCode::MalformedMeta,
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
                        WarningCode::ConsumerStateUnreadable,
                        &format!("{}/{}", c.dir, super::super::consumer_state::STATE_FILE),
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
                    WarningCode::ChecksumMismatch,
                    &cm.sum_path(),
                    format!("consumer `{}` of stream `{name}` has no meta.sum: the server skips it until one is written", c.name),
                ));
            }
        }
    }
}

/// One warning per asset of the cluster this store lacks, per asset the cluster did not
/// know, per copy behind its Raft state, and for a meta state read only in part.
/// What the Raft logs hold that the store does not (see [`crate::store::tail`]): one
/// warning per stream and consumer, and one per part of a log that could not be read.
pub fn tail_warnings(tails: &Tails) -> Vec<Warning> {
    let mut out = Vec::new();
    for t in tails.streams.iter().filter(|t| t.is_reportable()) {
        let r = t.report();
        let what = format!("stream `{}` (account `{}`)", r.stream, r.account);
        if r.messages > 0 {
            let all: Vec<SeqRange> = SeqRange::runs(t.messages.iter().map(|m| m.seq));
            out.push(Warning::new(
                WarningCode::RaftTail,
                &r.dir,
                format!(
                    "{what}: {} messages (seq {}) are in the Raft log but not in the store: {} this \
                     node knew were committed, {} past that (received, and maybe acknowledged by a \
                     leader that is gone); plan writes them back (--raft-tail)",
                    r.messages,
                    SeqRange::show(&all),
                    r.committed_messages,
                    r.messages - r.committed_messages
                ),
            ));
        } else if r.max_assigned > r.store_last_seq {
            out.push(Warning::new(
                WarningCode::RaftTail,
                &r.dir,
                format!(
                    "{what}: the Raft log shows sequences up to {} were assigned, the store ends at {}; \
                     plan reserves them so none is handed out twice",
                    r.max_assigned, r.store_last_seq
                ),
            ));
        }
        if r.removals > 0 {
            out.push(Warning::new(
                WarningCode::RaftTail,
                &r.dir,
                format!(
                    "{what}: {} deletes in the Raft log may not be applied to the store yet (consumed \
                     messages); plan replays them",
                    r.removals
                ),
            ));
        }
        for n in &r.not_replayed {
            out.push(Warning::new(
                WarningCode::RaftTailNotReplayed,
                &r.dir,
                format!("{what}: {n} is in the Raft log and is not replayed offline"),
            ));
        }
    }
    for c in &tails.consumers {
        let r = c.report();
        out.push(Warning::new(
            WarningCode::RaftTail,
            &r.dir,
            format!(
                "consumer `{}` of stream `{}` (account `{}`): its Raft log holds a newer state than \
                 its o.dat ({} -> {}); plan writes it, so acks the clients made are not delivered again",
                r.consumer, r.stream, r.account, r.stored, r.newest
            ),
        ));
    }
    out.extend(tails.problems.iter().map(|p| Warning {
        code: WarningCode::RaftStateUnreadable,
        path: None,
        message: format!("part of a Raft log could not be read: {p}"),
    }));
    out
}

pub fn inventory_warnings(inv: &Inventory) -> Vec<Warning> {
    let mut out = Vec::new();
    let here = inv.self_peer.as_ref().map(|p| p.id.as_str());
    let others = |a: &Asset| {
        let mut peers: Vec<String> = a
            .peers
            .iter()
            .filter(|p| Some(p.id.as_str()) != here)
            .map(ToString::to_string)
            .collect();
        peers.sort();
        peers.join(", ")
    };
    for s in &inv.streams {
        let path = format!("jetstream/{}/streams/{}", s.account, s.name);
        let what = format!("stream `{}` of account `{}`", s.name, s.account);
        match s.class {
            Class::Here => {}
            Class::HereBehind => out.push(Warning::new(
                WarningCode::BehindRaftState,
                &path,
                match s.refused_here.filter(|_| !s.raft_ahead()) {
                    Some(failed) => format!(
                        "{what}: this node's Raft snapshot counts {failed} messages proposed to \
                         it that this node did not store. A change of configuration applied \
                         here before messages already in the log (a seal, a lower limit with \
                         discard new) makes nats-server 2.10 and 2.11 drop, on that follower \
                         only, messages the other replicas stored and acknowledged; a proposal \
                         every replica refused (a duplicate) counts too. Another copy may hold \
                         up to {failed} more"
                    ),
                    _ => format!(
                        "{what} ends at seq {} here, but this node's Raft snapshot of it knew seq \
                         {}: another copy may hold more",
                        s.store_last_seq.unwrap_or(0),
                        s.raft_last_seq.unwrap_or(0)
                    ),
                },
            )),
            Class::NotInCluster => out.push(Warning::new(
                WarningCode::NotInCluster,
                &path,
                if inv.uncommitted_removals.contains(&(s.account.clone(), s.name.clone())) {
                    format!("{what} is in this store, and its deletion was the cluster's last word on it, but this node never learned that the deletion was committed: it is kept, and the standalone server will serve it")
                } else {
                    format!("{what} is in this store but not in the cluster's meta state: it was deleted there (or never replicated); the standalone server will serve it again")
                },
            )),
            class => out.push(Warning::new(
                WarningCode::StreamNotHere,
                &path,
                match class {
                    Class::NotHere => format!("{what} (R{}) is not in this store: it was on peers {}", s.replicas.unwrap_or(0), others(s)),
                    Class::Memory => format!("{what} used memory storage: no disk holds it, and it cannot come back from any"),
                    _ => format!("{what} was assigned to this node, but its directory is missing from the store"),
                },
            )),
        }
        for c in &s.consumers {
            let cpath = format!("{path}/obs/{}", c.name);
            let cwhat = format!(
                "consumer `{}` of stream `{}` (account `{}`)",
                c.name, s.name, s.account
            );
            let code = match c.class {
                Class::Here => continue,
                Class::HereBehind => WarningCode::BehindRaftState,
                Class::NotInCluster => WarningCode::NotInCluster,
                _ => WarningCode::ConsumerNotHere,
            };
            let message = match c.class {
                Class::HereBehind => format!(
                    "{cwhat} has ack floor {} here, but this node's Raft snapshot of it knew {}",
                    c.store_last_seq.unwrap_or(0),
                    c.raft_last_seq.unwrap_or(0)
                ),
                Class::NotInCluster => {
                    format!("{cwhat} is in this store but not in the cluster's meta state")
                }
                Class::Memory => format!("{cwhat} used memory storage: no disk holds its state"),
                Class::NotHere => format!(
                    "{cwhat} is not in this store: it was on peers {}",
                    others(c)
                ),
                _ => format!("{cwhat} was assigned to this node, but its directory is missing"),
            };
            out.push(Warning::new(code, &cpath, message));
        }
    }
    if let Some(crate::store::cluster::NoView::Unreadable(detail)) = &inv.unavailable {
        out.push(Warning {
            code: WarningCode::RaftStateUnreadable,
            path: None,
            message: format!("the cluster's meta state could not be read ({detail}): what the cluster had that this store lacks cannot be told"),
        });
    }
    for p in &inv.problems {
        out.push(Warning {
            code: WarningCode::RaftStateUnreadable,
            path: None,
            message: format!("part of the Raft state could not be read: {p}"),
        });
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
    let code = if retention == "interest" {
        WarningCode::InterestRetention
    } else {
        WarningCode::WorkqueueRetention
    };
    Warning::new(code, &s.dir, msg)
}

/// A stream with `max_age` whose oldest message here is older than that, `now` (ns since
/// the epoch): a server deletes every such message as it loads the stream
/// (`expireMsgsOnRecover` in server/filestore.go), before a backup can copy it. The outage
/// itself ages them: a bucket with a one-hour TTL, recovered the next morning, loads empty.
fn expiry_warning(name: &str, meta: &MetaFile, s: &Stream, now: i64) -> Option<Warning> {
    let max_age = meta.field("max_age")?.as_i64().filter(|&a| a > 0)?;
    let cutoff = now.checked_sub(max_age)?;
    let when = |ts: i64| {
        chrono::DateTime::from_timestamp_nanos(ts)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let age = crate::units::human_duration(max_age);
    // Nothing in the stream is older than the stream.
    let created = meta
        .str_field("Created")
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok())
        .and_then(|c| c.timestamp_nanos_opt());
    if created.is_some_and(|c| c > cutoff) {
        return None;
    }
    let st = match (&s.state, s.state_stale) {
        (Ok(st), false) => st,
        // An older index.db: messages only get newer, so its first time is a lower bound.
        (Ok(st), true) if st.first_ts > cutoff => return None,
        _ => {
            return Some(Warning::new(
                WarningCode::ExpireAtLoad,
                &s.dir,
                format!(
                    "stream `{name}` keeps messages for {age} (max_age), and without a current \
                     msgs/index.db the ages of its messages are not known here: a server \
                     deletes every one from {} or before as it loads the stream, before `nats \
                     account backup` can copy it. They stay in any copy of the survivor's store \
                     that no server has loaded",
                    when(cutoff)
                ),
            ))
        }
    };
    // The server deletes what is at or before `now - max_age`.
    if st.messages == 0 || st.first_ts <= 0 || st.first_ts > cutoff {
        return None;
    }
    let which = if st.last_ts <= cutoff {
        format!(
            "all {} of its messages here (seq {}..{}, the newest from {}) are",
            st.messages,
            st.first_seq,
            st.last_seq,
            when(st.last_ts)
        )
    } else {
        format!(
            "its messages here from seq {} (from {}) up to the first after {} are",
            st.first_seq,
            when(st.first_ts),
            when(cutoff)
        )
    };
    Some(Warning::new(
        WarningCode::ExpireAtLoad,
        &s.dir,
        format!(
            "stream `{name}` keeps messages for {age} (max_age) and {which} older than that: a \
             server deletes them as it loads the stream, before `nats account backup` can copy \
             them, as the cluster would have had it run. They stay in any copy of the survivor's \
             store that no server has loaded"
        ),
    ))
}

/// For a consumer a standalone server would refuse as it is: why, and that plan fixes it.
fn replicas_note(c: &super::super::Consumer) -> String {
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
            WarningCode::ConsumerAheadOfStream,
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
fn origin_warnings(
    store: &Store,
    account: &super::super::Account,
    name: &str,
    s: &Stream,
) -> Vec<Warning> {
    let Some(meta) = s.meta.as_ref() else {
        return Vec::new();
    };
    let mirror = meta.field("mirror").filter(|v| v.is_object()).into_iter();
    let sources = match meta.field("sources") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    let origins = mirror
        .map(|m| ("mirror", "mirrors", m))
        .chain(sources.into_iter().map(|src| ("source", "sources", src)));
    let named = |t: &Stream, origin: &str| t.name() == origin;
    let in_account = |origin: &str| account.streams.iter().any(|t| named(t, origin));
    // Through an `external` API prefix: another account's export (then the stream is in
    // this store, in that account) or another JetStream domain.
    let in_other_account = |origin: &str| {
        store
            .accounts
            .iter()
            .filter(|a| a.name != account.name)
            .any(|a| a.streams.iter().any(|t| named(t, origin)))
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
            Some(_) if in_other_account(origin_name) => continue,
            Some(api) => format!(
                "through `{api}`, in another JetStream domain or an account this store does not \
                 hold a stream of that name in, so not in this store"
            ),
            None if in_account(origin_name) => continue,
            None => format!("which is not in this store (account `{}`)", account.name),
        };
        let code = if kind == "mirror" {
            WarningCode::MirrorOriginNotInStore
        } else {
            WarningCode::SourceOriginNotInStore
        };
        out.push(Warning::new(
            code,
            &s.dir,
            format!(
                "stream `{name}` {verb} `{origin_name}` {why}: what `{name}` holds is kept, but it \
                 receives nothing new until the recovered server can reach a stream of that name"
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::WarningCode;

    #[test]
    fn the_readme_explains_every_warning_code() {
        let readme = include_str!("../../../README.md");
        let missing: Vec<&str> = WarningCode::ALL
            .iter()
            .map(|c| c.as_str())
            .filter(|c| !readme.contains(&format!("`{c}`")))
            .collect();
        assert!(missing.is_empty(), "README lacks {missing:?}");
    }
}
