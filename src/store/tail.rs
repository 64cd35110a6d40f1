//! The Raft log tail: what this survivor's stream and consumer groups logged that its stream
//! stores and consumer states do not hold yet.
//!
//! Since 2.12 a replicated stream writes its store asynchronously from its Raft log, and a
//! consumer writes `o.dat` at most every 100 ms: when every node dies at once, acknowledged
//! messages and acks can exist only in the group logs (`_js_/S-*`, `_js_/C-*`). For each
//! group whose asset is in this store (the cluster's meta state maps group to asset), the
//! entries after the group's snapshot are decoded and compared with the store:
//!
//! - a message whose stored sequence (`lseq + 1 - clfs`, `applyStreamMsgOp` in
//!   server/jetstream_cluster.go) is past the store's last sequence is not in the store;
//!   messages of an atomic batch count only once the batch's commit is logged;
//! - deletes and purges after the last message the store applied are replayed (doing one
//!   again is harmless); the store applies entries in order, so nothing before that point
//!   can be missing;
//! - a consumer's newest state is its group snapshot with the logged deliveries and acks
//!   applied (`applyConsumerEntries`), compared with its `o.dat`.
//!
//! Each entry is *committed* when its index is at or below the highest commit index this
//! node had recorded (an append entry carries its leader's commit index); entries past it
//! were received by this node and may have been acknowledged by a leader that is gone.
//!
//! This reads the group logs, which hold message data: it is what finding the tail means.
//! The stream store itself is read only where `msgs/index.db` cannot tell its last
//! sequence (a server killed before it wrote it): then its last block is read.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cluster::Cluster;
use super::file::{self, FileKind};
use super::filestore::{self, BlockKeys, ServerKeys};
use super::jsops::consumer_ops::{self, ApplyConfig, ConsumerOp, ConsumerState as FullState};
use super::jsops::stream_ops::{self, StreamOp};
use super::raft::{self, EntryType, Group};
use super::{Consumer, Store, Stream};

/// One message of the log that the store lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailMsg {
    /// The sequence the stream stores it at.
    pub seq: u64,
    /// Unix nanoseconds, as the leader stamped it.
    pub ts: i64,
    pub subject: Vec<u8>,
    pub headers: Vec<u8>,
    pub msg: Vec<u8>,
    /// Its Raft index.
    pub index: u64,
    pub committed: bool,
}

/// A removal (delete or purge) to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailRemoval {
    pub seq: u64,
    pub committed: bool,
}

/// What a stream's log holds that its store does not.
#[derive(Debug, Clone)]
pub struct StreamTail {
    pub account: String,
    pub stream: String,
    /// The stream directory, relative to the store.
    pub dir: String,
    pub group: String,
    pub store_first_seq: u64,
    pub store_last_seq: u64,
    /// The highest commit index this node had recorded for the group.
    pub commit: Option<u64>,
    /// Messages past the store's last sequence, in sequence order.
    pub messages: Vec<TailMsg>,
    /// Deletes and purges after the last message the store applied.
    pub removals: Vec<TailRemoval>,
    /// The highest sequence the log shows was assigned (messages, skips, batches not
    /// committed included): no recovered stream may hand it out again.
    pub max_assigned: u64,
    /// Log entries that cannot be replayed offline, for a person (a filtered purge).
    pub not_replayed: Vec<String>,
    /// Why nothing of this log can be written back safely, when so.
    pub blocked: Option<String>,
}

impl StreamTail {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.removals.is_empty()
    }

    pub fn committed_messages(&self) -> usize {
        self.messages.iter().filter(|m| m.committed).count()
    }
}

/// A consumer whose log holds a newer state than its `o.dat`.
#[derive(Debug, Clone)]
pub struct ConsumerTail {
    pub account: String,
    pub stream: String,
    pub consumer: String,
    /// The consumer directory, relative to the store.
    pub dir: String,
    pub group: String,
    /// What `o.dat` holds.
    pub stored: FullState,
    /// The newest state, every logged entry applied.
    pub newest: FullState,
    /// The newest state from committed entries only.
    pub committed: FullState,
}

/// A run of consecutive sequences, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    pub first: u64,
    pub last: u64,
}

impl SeqRange {
    /// How many sequences the range holds.
    pub fn count(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Whether `seq` is in the range.
    pub fn contains(&self, seq: u64) -> bool {
        (self.first..=self.last).contains(&seq)
    }

    /// `seqs` (ascending) as runs.
    pub fn runs(seqs: impl IntoIterator<Item = u64>) -> Vec<SeqRange> {
        let mut out: Vec<SeqRange> = Vec::new();
        for seq in seqs {
            match out.last_mut() {
                Some(r) if r.last.checked_add(1) == Some(seq) => r.last = seq,
                Some(r) if r.last >= seq => {}
                _ => out.push(SeqRange {
                    first: seq,
                    last: seq,
                }),
            }
        }
        out
    }

    /// For a person: `7, 9..12, 20..31`, the first few runs and how many more.
    pub fn show(runs: &[SeqRange]) -> String {
        const SHOWN: usize = 4;
        let mut out = runs
            .iter()
            .take(SHOWN)
            .map(SeqRange::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if runs.len() > SHOWN {
            out += &format!(" and {} more runs", runs.len() - SHOWN);
        }
        out
    }
}

impl std::fmt::Display for SeqRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{}..{}", self.first, self.last)
        }
    }
}

/// One stream's tail, for reports and manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamTailReport {
    pub account: String,
    pub stream: String,
    /// The stream directory, relative to the store.
    pub dir: String,
    /// The last sequence the store holds.
    pub store_last_seq: u64,
    /// Messages in the log and not in the store: those this node knew were committed...
    pub committed: Vec<SeqRange>,
    /// ...and those past the commit index it knew (received, maybe acknowledged by a leader
    /// that is gone).
    pub past_commit: Vec<SeqRange>,
    pub messages: usize,
    pub committed_messages: usize,
    /// Deletes and purges in the log the store may not have applied.
    pub removals: usize,
    /// The highest sequence the log shows was assigned.
    pub max_assigned: u64,
    /// Log entries that cannot be replayed offline, for a person.
    pub not_replayed: Vec<String>,
    /// Why nothing of this log can be written back safely, when so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

/// One consumer's newer state, for reports and manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerTailReport {
    pub account: String,
    pub stream: String,
    pub consumer: String,
    /// The consumer directory, relative to the store.
    pub dir: String,
    /// What `o.dat` holds.
    pub stored: Progress,
    /// The newest state its log (snapshot and entries) holds.
    pub newest: Progress,
    /// The newest state from entries this node knew were committed.
    pub committed: Progress,
}

/// A consumer's progress, in stream sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    pub ack_floor: u64,
    pub delivered: u64,
    /// Delivered and not acknowledged.
    pub ack_pending: usize,
}

impl Progress {
    pub fn of(s: &FullState) -> Progress {
        Progress {
            ack_floor: s.ack_floor_stream,
            delivered: s.delivered_stream,
            ack_pending: s.pending.len(),
        }
    }
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ack floor {}, delivered {}, {} awaiting ack",
            self.ack_floor, self.delivered, self.ack_pending
        )
    }
}

/// Everything the log tails hold.
#[derive(Debug, Clone, Default)]
pub struct Tails {
    pub streams: Vec<StreamTail>,
    pub consumers: Vec<ConsumerTail>,
    /// What could not be read, each naming its file.
    pub problems: Vec<String>,
}

impl StreamTail {
    pub fn report(&self) -> StreamTailReport {
        let runs = |committed: bool| {
            SeqRange::runs(
                self.messages
                    .iter()
                    .filter(|m| m.committed == committed)
                    .map(|m| m.seq),
            )
        };
        StreamTailReport {
            account: self.account.clone(),
            stream: self.stream.clone(),
            dir: self.dir.clone(),
            store_last_seq: self.store_last_seq,
            committed: runs(true),
            past_commit: runs(false),
            messages: self.messages.len(),
            committed_messages: self.committed_messages(),
            removals: self.removals.len(),
            max_assigned: self.max_assigned,
            not_replayed: self.not_replayed.clone(),
            blocked: self.blocked.clone(),
        }
    }

    /// Whether a report has anything to say: messages, removals, entries not replayed, or
    /// sequences assigned past the store's last.
    pub fn is_reportable(&self) -> bool {
        !self.is_empty()
            || !self.not_replayed.is_empty()
            || self.blocked.is_some()
            || self.max_assigned > self.store_last_seq
    }
}

impl ConsumerTail {
    pub fn report(&self) -> ConsumerTailReport {
        ConsumerTailReport {
            account: self.account.clone(),
            stream: self.stream.clone(),
            consumer: self.consumer.clone(),
            dir: self.dir.clone(),
            stored: Progress::of(&self.stored),
            newest: Progress::of(&self.newest),
            committed: Progress::of(&self.committed),
        }
    }
}

impl Tails {
    pub fn stream_reports(&self) -> Vec<StreamTailReport> {
        self.streams
            .iter()
            .filter(|t| t.is_reportable())
            .map(StreamTail::report)
            .collect()
    }

    pub fn consumer_reports(&self) -> Vec<ConsumerTailReport> {
        self.consumers.iter().map(ConsumerTail::report).collect()
    }
}

/// Finds the log tail of every stream and consumer group of `cluster` whose asset is in
/// `store`.
pub fn read(store: &Store, cluster: &Cluster) -> Tails {
    let mut tails = Tails::default();
    let Some(raft_dir) = store
        .accounts
        .iter()
        .find_map(|a| a.raft.as_ref().map(|r| store.abs(&r.dir)))
    else {
        return tails;
    };
    let raft_keys = store.keys.as_ref().map(ServerKeys::for_raft);
    let raft_keys = raft_keys.as_ref().map(|k| k as &dyn BlockKeys);
    let local = store.streams_by_name();
    for sa in &cluster.streams {
        let Some(stream) = local.get(&(sa.account.as_str(), sa.name.as_str())) else {
            continue;
        };
        let Some(group) = read_group_at(&raft_dir, &sa.group.name, raft_keys, &mut tails.problems)
        else {
            continue;
        };
        let store_keys = store
            .keys
            .as_ref()
            .map(|k| ServerKeys::for_account(k, &sa.account));
        match stream_tail(
            store,
            &sa.account,
            &sa.name,
            stream,
            &group,
            store_keys.as_ref(),
        ) {
            Ok(t) => tails.streams.push(t),
            Err(e) => tails.problems.push(e),
        }
        let local_consumers: BTreeMap<&str, &Consumer> = stream
            .consumers
            .iter()
            .map(|c| (c.name.as_str(), c))
            .collect();
        for ca in &sa.consumers {
            let Some(consumer) = local_consumers.get(ca.name.as_str()) else {
                continue;
            };
            let Some(cgroup) =
                read_group_at(&raft_dir, &ca.group.name, raft_keys, &mut tails.problems)
            else {
                continue;
            };
            match consumer_tail(&sa.account, &sa.name, consumer, &cgroup) {
                Ok(Some(t)) => tails.consumers.push(t),
                Ok(None) => {}
                Err(e) => tails.problems.push(e),
            }
        }
    }
    tails
}

/// Raft group `name` of `raft_dir`, when it is a directory here; what could not be read of
/// it (the whole group, or parts) goes into `problems`.
fn read_group_at(
    raft_dir: &Path,
    name: &str,
    keys: Option<&dyn BlockKeys>,
    problems: &mut Vec<String>,
) -> Option<Group> {
    let dir = raft_dir.join(name);
    if file::kind_at(&dir) != Some(FileKind::Directory) {
        return None;
    }
    match raft::read_group(&dir, keys) {
        Ok(group) => {
            problems.extend(group.problems.iter().map(|p| crate::error::chain(p)));
            Some(group)
        }
        Err(e) => {
            problems.push(crate::error::chain(&e));
            None
        }
    }
}

/// The highest commit index any entry of `group` recorded (or its `commit.idx`).
fn commit_of(group: &Group) -> Option<u64> {
    let logged = group.wal.entries.iter().map(|e| e.append.commit).max();
    let file = group
        .commit
        .as_ref()
        .filter(|c| c.verified)
        .map(|c| c.commit);
    logged.max(file).filter(|c| *c > 0)
}

/// A removal found in the log: where, and what it removes.
enum Removal {
    /// `deleteMsgOp`.
    Seq(u64),
    /// A purge of everything below this sequence.
    Below(u64),
    /// A rollup message: everything before it (`all`), or before it on its subject.
    Rollup { seq: u64, subject: Option<Vec<u8>> },
}

/// Purges wider than this are not replayed as tombstones (one per sequence).
const MAX_PURGE_REPLAY: u64 = 100_000;

/// Whether a stream's configuration lets one replica refuse, alone, a message the others
/// stored: nats-server 2.10 and 2.11 check a seal and limits again as each replica applies
/// a message, and a follower that applied a change of them (through the meta group) before
/// messages already in its log refuses those. Only a seal, or a limit that refuses rather
/// than discards (`discard: new`) or a maximum message size, does that; any other failed
/// proposal (a duplicate, a wrong expected sequence) fails on every replica alike.
/// `field` reads the stream's configuration.
pub fn may_refuse_alone(field: impl Fn(&str) -> Option<serde_json::Value>) -> bool {
    let int = |k: &str| field(k).and_then(|v| v.as_i64()).unwrap_or(0);
    let yes = |k: &str| field(k).and_then(|v| v.as_bool()) == Some(true);
    let discard_new = field("discard")
        .and_then(|v| v.as_str().map(str::to_string))
        .as_deref()
        == Some("new");
    yes("sealed")
        || int("max_msg_size") > 0
        || (discard_new
            && (int("max_msgs") > 0
                || int("max_bytes") > 0
                || (yes("discard_new_per_subject") && int("max_msgs_per_subject") > 0)))
}

fn stream_tail(
    store: &Store,
    account: &str,
    name: &str,
    stream: &Stream,
    group: &Group,
    keys: Option<&ServerKeys>,
) -> Result<StreamTail, String> {
    let bounds = bounds_with(store, name, stream, keys)?;
    let (store_first, store_last) = (bounds.first_seq, bounds.last_seq);
    let commit = commit_of(group);
    let mut tail = StreamTail {
        account: account.into(),
        stream: name.into(),
        dir: stream.dir.clone(),
        group: group.name.clone(),
        store_first_seq: store_first,
        store_last_seq: store_last,
        commit,
        messages: Vec::new(),
        removals: Vec::new(),
        max_assigned: store_last,
        not_replayed: Vec::new(),
        blocked: None,
    };
    let field = |k: &str| stream.meta.as_ref().and_then(|m| m.field(k));
    // Failed proposals this node's snapshot counts: they may be messages only this node
    // refused (see `Asset::refused_here`), and then this node's count is not the one the
    // cluster's sequences follow.
    let mut refused_here = None;
    // `clfs`, the count of failed proposals: stored sequence = lseq + 1 - clfs.
    let mut clfs = match &group.snapshot {
        None => 0,
        Some(s) => match stream_ops::decode_snapshot(&s.data) {
            Ok(snap) => {
                refused_here = Some(snap.failed).filter(|&n| n > 0 && may_refuse_alone(field));
                snap.failed
            }
            Err(e) => {
                tail.blocked = Some(format!(
                    "its Raft snapshot does not decode ({}), so the offset between logged and \
                     stored sequences is unknown",
                    crate::error::chain(&e)
                ));
                0
            }
        },
    };
    let transformed = field("subject_transform").is_some_and(|v| v.is_object());
    let rollups = field("allow_rollup_hdrs").is_some_and(|v| v == serde_json::Value::Bool(true));
    // An atomic batch being logged: its id and messages (2.12+). A batch is stored whole at
    // its commit; anything else in between rejects it, and a rejected batch counts as
    // failed proposals (`clfs`).
    let mut open: Option<(Vec<u8>, Vec<stream_ops::StoredMsg>)> = None;
    // The Raft index of the last message the store holds: entries up to it were applied.
    let mut applied_through: Option<u64> = None;
    // Whether a logged message lands on the store's last one and is that message: then
    // this node's count of failed proposals numbers the log as the store did.
    let mut verified = false;
    let mut removals: Vec<(u64, bool, Removal)> = Vec::new();
    for entry in group.entries_after_snapshot() {
        let committed = commit.is_some_and(|c| entry.index <= c);
        for e in &entry.append.entries {
            if e.kind == EntryType::Snapshot {
                if let Ok(snap) = stream_ops::decode_snapshot(&e.data) {
                    clfs = snap.failed;
                }
                continue;
            }
            if e.kind != EntryType::Normal {
                if let Some((_, parts)) = open.take() {
                    clfs += parts.len() as u64;
                }
                continue;
            }
            let op = stream_ops::decode(&e.data).map_err(|err| {
                format!(
                    "`{}` entry {}: {}",
                    group.dir.display(),
                    entry.index,
                    crate::error::chain(&err)
                )
            })?;
            if !matches!(op, StreamOp::Batch(_)) {
                if let Some((_, parts)) = open.take() {
                    clfs += parts.len() as u64;
                }
            }
            let mut stored = Vec::new();
            match op {
                StreamOp::Msg(m) => stored.push(m),
                StreamOp::Batch(b) => {
                    let continues = matches!(&open, Some((id, parts))
                        if *id == b.id && b.seq == parts.len() as u64 + 1);
                    if !continues {
                        if let Some((_, parts)) = open.take() {
                            clfs += parts.len() as u64;
                        }
                        if b.seq != 1 {
                            clfs += 1;
                            continue;
                        }
                        open = Some((b.id.clone(), Vec::new()));
                    }
                    let (_, parts) = open.as_mut().expect("opened above");
                    parts.push(b.msg);
                    if b.commit {
                        stored.extend(open.take().map(|(_, p)| p).unwrap_or_default());
                    }
                }
                StreamOp::DeleteMsg(d) => {
                    removals.push((entry.index, committed, Removal::Seq(d.seq)));
                }
                StreamOp::DeleteRange { first, num } if num > 0 => {
                    // Skipped sequences: assigned, never stored.
                    let last = first.saturating_add(num - 1);
                    tail.max_assigned = tail.max_assigned.max(last);
                }
                StreamOp::Purge(p) => match p.effective_request() {
                    Some(r) if r.filter.as_deref().is_none_or(str::is_empty) && r.keep == 0 => {
                        // A purge up to a sequence past the last moves the last with it.
                        tail.max_assigned = tail.max_assigned.max(r.seq.saturating_sub(1));
                        removals.push((entry.index, committed, Removal::Below(r.seq)));
                    }
                    _ => tail.not_replayed.push(format!(
                        "a purge with a subject filter or keep at Raft index {} ({})",
                        entry.index, p.raw
                    )),
                },
                _ => {}
            }
            for m in stored {
                if m.is_flow_control() {
                    continue;
                }
                let Some(seq) = m.stored_seq(clfs) else {
                    continue;
                };
                tail.max_assigned = tail.max_assigned.max(seq);
                if seq == store_last && !m.is_skip() {
                    applied_through = Some(entry.index);
                    verified = bounds.last_ts == 0 || m.ts == bounds.last_ts;
                    // The store's last message must be this one, or the sequences the log
                    // maps to are off (a failed proposal this reading does not model).
                    if bounds.last_ts != 0 && m.ts != bounds.last_ts {
                        tail.blocked = Some(format!(
                            "its log and its store hold different messages at seq {seq}: the \
                             sequences the log's later messages would get cannot be trusted"
                        ));
                    }
                }
                if seq <= store_last {
                    applied_through = applied_through.max(Some(entry.index));
                    continue;
                }
                if m.is_skip() {
                    continue;
                }
                if transformed {
                    tail.blocked = Some(
                        "it has a subject transform, which the server applies as it stores a \
                         message; the log holds the subjects before it"
                            .into(),
                    );
                }
                if rollups {
                    match header(&m.headers, "Nats-Rollup").as_deref() {
                        Some(b"all") => removals.push((
                            entry.index,
                            committed,
                            Removal::Rollup { seq, subject: None },
                        )),
                        Some(b"sub") => removals.push((
                            entry.index,
                            committed,
                            Removal::Rollup {
                                seq,
                                subject: Some(m.subject.clone()),
                            },
                        )),
                        _ => {}
                    }
                }
                tail.messages.push(TailMsg {
                    seq,
                    ts: m.ts,
                    subject: m.subject,
                    // The server drops request information as it stores a message.
                    headers: remove_header(&m.headers, "Nats-Request-Info"),
                    msg: m.msg,
                    index: entry.index,
                    committed,
                });
            }
        }
    }
    // A message logged twice (a leader change re-proposing it) is stored once: the first.
    tail.messages.sort_by_key(|m| (m.seq, m.index));
    tail.messages.dedup_by_key(|m| m.seq);
    let unverified = !verified && !tail.is_empty();
    if let Some(failed) = refused_here.filter(|_| unverified) {
        tail.blocked = Some(format!(
            "this node's Raft snapshot counts {failed} proposals it did not store, and no \
             message of its log is the store's last one: if it refused what the other replicas \
             stored (nats-server 2.10 and 2.11 do, on a follower that applies a seal or a \
             lower limit first), the sequences the cluster gave the {} messages of its log are \
             not these (those listed count this node's refusals; the cluster's may be up to \
             {failed} higher)",
            tail.messages.len()
        ));
    }
    // Removals logged after the last message the store applied may not be applied; doing
    // one again is harmless. Each becomes sequences the store or the tail holds.
    let gate = applied_through.unwrap_or(0);
    let tail_seqs: std::collections::BTreeSet<u64> = tail.messages.iter().map(|m| m.seq).collect();
    let holds = |seq: u64, _: &StreamTail| {
        (seq >= store_first && seq <= store_last) || tail_seqs.contains(&seq)
    };
    let mut subjects: Option<BTreeMap<u64, Vec<u8>>> = None;
    let mut out: Vec<TailRemoval> = Vec::new();
    for (index, committed, r) in removals {
        if index <= gate {
            continue;
        }
        match r {
            Removal::Seq(seq) => {
                if holds(seq, &tail) {
                    out.push(TailRemoval { seq, committed });
                }
            }
            Removal::Below(below) => {
                let from = store_first.max(1);
                if below.saturating_sub(from) > MAX_PURGE_REPLAY {
                    tail.not_replayed.push(format!(
                        "a purge below seq {below} at Raft index {index} ({} sequences: purge the \
                         stream up to it once it is served)",
                        below - from
                    ));
                    continue;
                }
                out.extend(
                    (from..below)
                        .filter(|s| holds(*s, &tail))
                        .map(|seq| TailRemoval { seq, committed }),
                );
            }
            Removal::Rollup { seq, subject: None } => {
                let from = store_first.max(1);
                if seq.saturating_sub(from) > MAX_PURGE_REPLAY {
                    tail.not_replayed.push(format!(
                        "a rollup of the whole stream at seq {seq} ({} sequences before it: purge \
                         them once it is served)",
                        seq - from
                    ));
                    continue;
                }
                out.extend(
                    (from..seq)
                        .filter(|s| holds(*s, &tail))
                        .map(|seq| TailRemoval { seq, committed }),
                );
            }
            Removal::Rollup {
                seq,
                subject: Some(subject),
            } => {
                if subjects.is_none() {
                    let mut live = live_subjects_with(store, name, stream, keys)?;
                    live.extend(tail.messages.iter().map(|m| (m.seq, m.subject.clone())));
                    subjects = Some(live);
                }
                let live = subjects.as_ref().expect("read above");
                out.extend(
                    live.range(..seq)
                        .filter(|(_, s)| **s == subject)
                        .map(|(seq, _)| TailRemoval {
                            seq: *seq,
                            committed,
                        }),
                );
            }
        }
    }
    out.sort_by_key(|r| (r.seq, !r.committed));
    out.dedup_by_key(|r| r.seq);
    tail.removals = out;
    Ok(tail)
}

/// The value of header `key` in a NATS header block, if present.
fn header(headers: &[u8], key: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(headers).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim().as_bytes().to_vec())
    })
}

/// `removeHeaderIfPresent` (server/client.go): the header block without `key`'s lines;
/// nothing at all when only the status line would be left.
fn remove_header(headers: &[u8], key: &str) -> Vec<u8> {
    let needle = format!("\r\n{key}:");
    let mut out = headers.to_vec();
    while let Some(at) = out
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
    {
        let start = at + 2;
        let Some(end) = out[start..].windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        out.drain(start..start + end + 2);
        if out.len() <= b"NATS/1.0\r\n\r\n".len() {
            return Vec::new();
        }
    }
    out
}

/// A stream store's first and last sequence and the last message's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bounds {
    /// From `index.db`; read from the blocks, the first record its own block does not mark
    /// deleted (a tombstone in a later block is not looked for: [`live_subjects`] is exact).
    pub first_seq: u64,
    pub last_seq: u64,
    /// Unix nanoseconds; 0 when there is no message.
    pub last_ts: i64,
}

/// [`Bounds`] of `stream` in `store`: from `msgs/index.db` when it is current, else from
/// its first and last blocks (opened with the store's keys).
pub fn bounds(store: &Store, account: &str, stream: &Stream) -> Result<Bounds, String> {
    let keys = store
        .keys
        .as_ref()
        .map(|k| ServerKeys::for_account(k, account));
    bounds_with(store, &stream_name(stream), stream, keys.as_ref())
}

/// The stream's name: from its `meta.inf`, else its directory's.
pub fn stream_name(stream: &Stream) -> String {
    stream.name().to_string()
}

/// The blocks of a stream store, ascending, with a reader for each.
struct Blocks<'a> {
    msgs: std::path::PathBuf,
    name: &'a str,
    keys: Option<&'a ServerKeys>,
    list: Vec<(u32, std::path::PathBuf)>,
}

impl<'a> Blocks<'a> {
    fn of(
        store: &Store,
        name: &'a str,
        stream: &Stream,
        keys: Option<&'a ServerKeys>,
    ) -> Blocks<'a> {
        let msgs = store.abs(&stream.dir).join("msgs");
        let mut list: Vec<(u32, std::path::PathBuf)> = file::list_dir(&msgs, 1 << 20)
            .map(|(entries, _)| {
                entries
                    .iter()
                    .filter(|e| e.kind == FileKind::Regular)
                    .filter_map(|e| Some((filestore::block_index(&e.name)?, e.path.clone())))
                    .collect()
            })
            .unwrap_or_default();
        list.sort();
        Blocks {
            msgs,
            name,
            keys,
            list,
        }
    }

    fn read(&self, index: u32, path: &Path) -> Result<filestore::BlockContents, String> {
        let cipher =
            match file::read_bytes_if_exists(&self.msgs.join(format!("{index}.key"))) {
                Ok(Some(key)) => {
                    let keys = self.keys.ok_or_else(|| {
                        format!("`{}` is encrypted and no key was given", path.display())
                    })?;
                    Some(keys.block_cipher(self.name, index, &key).map_err(|e| {
                        format!("`{}`: {}", path.display(), crate::error::chain(&e))
                    })?)
                }
                Ok(None) => None,
                Err(e) => return Err(format!("`{}`: {}", path.display(), crate::error::chain(&e))),
            };
        filestore::read_block(path, self.name, index, cipher.as_ref())
            .map_err(|e| crate::error::chain(&e))
    }
}

fn bounds_with(
    store: &Store,
    name: &str,
    stream: &Stream,
    keys: Option<&ServerKeys>,
) -> Result<Bounds, String> {
    if let (Ok(st), false) = (&stream.state, stream.state_stale) {
        return Ok(Bounds {
            first_seq: st.first_seq,
            last_seq: st.last_seq,
            last_ts: st.last_ts,
        });
    }
    let blocks = Blocks::of(store, name, stream, keys);
    let mut out = Bounds::default();
    for (index, path) in blocks.list.iter().rev() {
        let b = blocks.read(*index, path)?;
        if let Some(r) = b
            .records
            .iter()
            .filter(|r| !r.tombstone)
            .max_by_key(|r| r.seq)
        {
            out.last_seq = r.seq;
            out.last_ts = r.ts;
            break;
        }
        // A block of tombstones only: the highest was stored once (2.12+ takes it as the
        // last sequence); its time is not a message's.
        if let Some(r) = b
            .records
            .iter()
            .filter(|r| r.tombstone)
            .max_by_key(|r| r.seq)
        {
            out.last_seq = r.seq;
            break;
        }
    }
    for (index, path) in &blocks.list {
        let b = blocks.read(*index, path)?;
        if let Some(min) = b
            .records
            .iter()
            .filter(|r| r.is_live())
            .map(|r| r.seq)
            .min()
        {
            out.first_seq = min;
            break;
        }
    }
    Ok(out)
}

/// Whether `subject` matches the subject filter `filter` (`*` one token, `>` the rest).
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut f = filter.split('.');
    let mut s = subject.split('.');
    loop {
        match (f.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some(a), Some(b)) if a == "*" || a == b => continue,
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// The sequences and subjects of every message a stream store holds (its blocks read).
pub fn live_subjects(
    store: &Store,
    account: &str,
    stream: &Stream,
) -> Result<BTreeMap<u64, Vec<u8>>, String> {
    let keys = store
        .keys
        .as_ref()
        .map(|k| ServerKeys::for_account(k, account));
    live_subjects_with(store, &stream_name(stream), stream, keys.as_ref())
}

fn live_subjects_with(
    store: &Store,
    name: &str,
    stream: &Stream,
    keys: Option<&ServerKeys>,
) -> Result<BTreeMap<u64, Vec<u8>>, String> {
    let blocks = filestore::read_store_blocks(
        &store.abs(&stream.dir),
        name,
        keys.map(|k| k as &dyn BlockKeys),
    );
    if let Some(p) = blocks.problems.first() {
        return Err(crate::error::chain(p));
    }
    Ok(filestore::live_records(&blocks.blocks)
        .into_iter()
        .map(|r| (r.seq, r.subject_bytes.clone()))
        .collect())
}

/// One message as stored: time, subject, headers, payload.
pub type StoredMessage = (i64, Vec<u8>, Vec<u8>, Vec<u8>);

/// The message `stream` holds at `seq`, if it does: its blocks read from the newest back
/// until one holds `seq` or starts below it. `None` when it was deleted or never stored.
pub fn message_at(
    store: &Store,
    account: &str,
    stream: &Stream,
    seq: u64,
) -> Result<Option<StoredMessage>, String> {
    let keys = store
        .keys
        .as_ref()
        .map(|k| ServerKeys::for_account(k, account));
    let name = stream_name(stream);
    let blocks = Blocks::of(store, &name, stream, keys.as_ref());
    for (index, path) in blocks.list.iter().rev() {
        let b = blocks.read(*index, path)?;
        let deleted = b
            .records
            .iter()
            .any(|r| r.seq == seq && (r.tombstone || r.erased));
        if let Some(r) = b.records.iter().find(|r| r.seq == seq && r.is_live()) {
            if deleted {
                return Ok(None);
            }
            return Ok(Some((
                r.ts,
                r.subject_bytes.clone(),
                r.headers.clone(),
                r.msg.clone(),
            )));
        }
        if b.records
            .iter()
            .filter(|r| !r.tombstone)
            .any(|r| r.seq < seq)
        {
            return Ok(None);
        }
    }
    Ok(None)
}

fn consumer_tail(
    account: &str,
    stream: &str,
    consumer: &Consumer,
    group: &Group,
) -> Result<Option<ConsumerTail>, String> {
    let base = match &group.snapshot {
        Some(s) => consumer_ops::decode_snapshot(&s.data)
            .map_err(|e| format!("`{}`: {}", s.file.display(), crate::error::chain(&e)))?,
        None => FullState::default(),
    };
    let config = consumer
        .meta
        .as_ref()
        .and_then(|m| m.object())
        .map(|o| {
            let mut map = serde_json::Map::new();
            for m in &o.members {
                map.insert(o.key(m).into_owned(), o.value(m));
            }
            serde_json::Value::Object(map)
        })
        .unwrap_or_default();
    let cfg = ApplyConfig::from_consumer_config(&config);
    let commit = commit_of(group);
    let (mut newest, mut committed) = (base.clone(), base);
    let mut ops = 0;
    let mut reset = false;
    for entry in group.entries_after_snapshot() {
        let is_committed = commit.is_some_and(|c| entry.index <= c);
        for e in &entry.append.entries {
            if e.kind == EntryType::Snapshot {
                // `store.Update`: a snapshot in the log replaces the state, unless older.
                if let Ok(snap) = consumer_ops::decode_snapshot(&e.data) {
                    ops += 1;
                    let newer = |s: &FullState| {
                        snap.delivered_consumer >= s.delivered_consumer
                            && snap.ack_floor_stream >= s.ack_floor_stream
                    };
                    if newer(&newest) {
                        newest = snap.clone();
                    }
                    if is_committed && newer(&committed) {
                        committed = snap;
                    }
                }
                continue;
            }
            if e.kind != EntryType::Normal {
                continue;
            }
            let op: ConsumerOp = consumer_ops::decode(&e.data).map_err(|err| {
                format!(
                    "`{}` entry {}: {}",
                    group.dir.display(),
                    entry.index,
                    crate::error::chain(&err)
                )
            })?;
            ops += 1;
            reset |= matches!(op, ConsumerOp::Reset { .. });
            consumer_ops::apply_with(&mut newest, &op, &cfg);
            if is_committed {
                consumer_ops::apply_with(&mut committed, &op, &cfg);
            }
        }
    }
    let stored = match &consumer.state_full {
        Some(s) => s.clone(),
        None => return Ok(None),
    };
    // What o.dat records and what the log records, together: a consumer leader's o.dat
    // can be ahead of its log in deliveries while the log holds acks o.dat lacks.
    // After a reset the log's state starts afresh: o.dat's older progress must not undo it.
    let (newest, committed) = if reset {
        (newest, committed)
    } else {
        (merged(&stored, &newest), merged(&stored, &committed))
    };
    if ops == 0 || same_progress(&newest, &stored) {
        return Ok(None);
    }
    Ok(Some(ConsumerTail {
        account: account.into(),
        stream: stream.into(),
        consumer: consumer.name.clone(),
        dir: consumer.dir.clone(),
        group: group.name.clone(),
        committed,
        stored,
        newest,
    }))
}

/// Whether `s` records stream sequence `seq` as acknowledged: at or below its ack floor,
/// or delivered and not pending.
pub fn acked(s: &FullState, seq: u64) -> bool {
    seq <= s.ack_floor_stream || (seq <= s.delivered_stream && !s.pending.contains_key(&seq))
}

/// Two records of one consumer's progress combined: delivered as far as either says,
/// acknowledged whatever either says was, pending what both leave pending.
pub fn merged(a: &FullState, b: &FullState) -> FullState {
    let mut pending = BTreeMap::new();
    for (seq, p) in a.pending.iter().chain(&b.pending) {
        if acked(a, *seq) || acked(b, *seq) {
            continue;
        }
        let e = pending.entry(*seq).or_insert(*p);
        if p.ts > e.ts {
            e.ts = p.ts;
        }
    }
    let mut redelivered = BTreeMap::new();
    for (seq, n) in a.redelivered.iter().chain(&b.redelivered) {
        if pending.contains_key(seq) {
            let e = redelivered.entry(*seq).or_insert(*n);
            *e = (*e).max(*n);
        }
    }
    let (delivered_stream, delivered_consumer) = (
        a.delivered_stream.max(b.delivered_stream),
        a.delivered_consumer.max(b.delivered_consumer),
    );
    let (ack_floor_stream, ack_floor_consumer) = if pending.is_empty() {
        // Everything delivered is acknowledged.
        (delivered_stream, delivered_consumer)
    } else {
        (
            a.ack_floor_stream.max(b.ack_floor_stream),
            a.ack_floor_consumer.max(b.ack_floor_consumer),
        )
    };
    FullState {
        delivered_consumer,
        delivered_stream,
        ack_floor_consumer,
        ack_floor_stream,
        pending,
        redelivered,
    }
}

/// Whether two states record the same progress: floors, deliveries, what is pending (by
/// sequence) and redelivery counts; `o.dat` keeps timestamps in whole seconds only.
pub fn same_progress(a: &FullState, b: &FullState) -> bool {
    (
        a.ack_floor_stream,
        a.ack_floor_consumer,
        a.delivered_stream,
        a.delivered_consumer,
        &a.redelivered,
    ) == (
        b.ack_floor_stream,
        b.ack_floor_consumer,
        b.delivered_stream,
        b.delivered_consumer,
        &b.redelivered,
    ) && a.pending.len() == b.pending.len()
        && a.pending
            .iter()
            .zip(&b.pending)
            .all(|((sa, pa), (sb, pb))| sa == sb && pa.dseq == pb.dseq)
}

/// The state to write for a consumer: `state`, never past what the stream holds. With
/// nothing left pending, the floors are the last delivery, as the server keeps them.
pub fn capped(state: &FullState, stream_last: u64) -> FullState {
    let mut s = state.clone();
    s.delivered_stream = s.delivered_stream.min(stream_last);
    s.ack_floor_stream = s.ack_floor_stream.min(stream_last);
    s.pending.retain(|seq, _| *seq <= stream_last);
    s.redelivered.retain(|seq, _| *seq <= stream_last);
    if s.pending.is_empty() {
        s.ack_floor_stream = s.delivered_stream;
        s.ack_floor_consumer = s.delivered_consumer;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::jsops::consumer_ops::Pending;

    fn state(floor: u64, delivered: u64, pending: &[u64]) -> FullState {
        FullState {
            delivered_consumer: delivered,
            delivered_stream: delivered,
            ack_floor_consumer: floor,
            ack_floor_stream: floor,
            pending: pending
                .iter()
                .map(|s| (*s, Pending { dseq: *s, ts: 1 }))
                .collect(),
            redelivered: pending.iter().map(|s| (*s, 1)).collect(),
        }
    }

    #[test]
    fn merged_progress_keeps_every_ack_either_record_holds() {
        // A leader's o.dat delivered further; its log holds an ack o.dat lacks.
        let odat = state(10, 30, &[11, 12, 25, 28]);
        let log = state(10, 26, &[11, 25]);
        let m = merged(&odat, &log);
        assert_eq!((m.ack_floor_stream, m.delivered_stream), (10, 30));
        assert_eq!(m.pending.keys().copied().collect::<Vec<_>>(), [11, 25, 28]);
        assert_eq!(
            m.redelivered.keys().copied().collect::<Vec<_>>(),
            [11, 25, 28]
        );
        // An older record adds nothing to a newer one, either way round.
        let newer = state(20, 40, &[33]);
        let older = state(10, 30, &[11, 25]);
        assert_eq!(merged(&newer, &older), newer);
        assert_eq!(merged(&older, &newer), newer);
        // Nothing pending: all delivered is acknowledged.
        let m = merged(&state(5, 9, &[7]), &state(5, 9, &[]));
        assert!(m.pending.is_empty());
        assert_eq!((m.ack_floor_stream, m.ack_floor_consumer), (9, 9));
        assert!(same_progress(&merged(&odat, &odat), &odat));
    }

    #[test]
    fn request_info_is_dropped_as_the_server_drops_it() {
        let h = b"NATS/1.0\r\nNats-Msg-Id: a\r\nNats-Request-Info: {}\r\nX: y\r\n\r\n";
        assert_eq!(
            remove_header(h, "Nats-Request-Info"),
            b"NATS/1.0\r\nNats-Msg-Id: a\r\nX: y\r\n\r\n".to_vec()
        );
        assert!(remove_header(
            b"NATS/1.0\r\nNats-Request-Info: {}\r\n\r\n",
            "Nats-Request-Info"
        )
        .is_empty());
        assert_eq!(remove_header(b"", "Nats-Request-Info"), b"".to_vec());
        assert_eq!(header(h, "Nats-Msg-Id").as_deref(), Some(&b"a"[..]));
        assert_eq!(header(h, "Nats-Rollup"), None);
    }

    #[test]
    fn subject_filters_match_as_the_server_matches() {
        for (f, s, m) in [
            ("wq.>", "wq.a.b", true),
            ("wq.>", "wq", false),
            ("wq.*", "wq.a", true),
            ("wq.*", "wq.a.b", false),
            ("wq.a", "wq.a", true),
            ("wq.a", "wq.b", false),
            (">", "x", true),
            ("*.b", "a.b", true),
        ] {
            assert_eq!(subject_matches(f, s), m, "{f} {s}");
        }
    }

    #[test]
    fn capped_never_passes_what_the_stream_holds() {
        let c = capped(&state(10, 30, &[11, 25, 28]), 26);
        assert_eq!((c.ack_floor_stream, c.delivered_stream), (10, 26));
        assert_eq!(c.pending.keys().copied().collect::<Vec<_>>(), [11, 25]);
    }

    #[test]
    fn only_a_seal_or_a_refusing_limit_lets_one_replica_refuse_alone() {
        let refuses = |config: serde_json::Value| {
            may_refuse_alone(|k| config.get(k).cloned().filter(|v| !v.is_null()))
        };
        assert!(refuses(serde_json::json!({"sealed": true})));
        assert!(refuses(
            serde_json::json!({"discard": "new", "max_msgs": 20})
        ));
        assert!(refuses(
            serde_json::json!({"discard": "new", "max_bytes": 1024})
        ));
        assert!(refuses(serde_json::json!({"max_msg_size": 1024})));
        assert!(refuses(serde_json::json!({
            "discard": "new", "max_msgs_per_subject": 2, "discard_new_per_subject": true
        })));
        // Limits that discard old messages, and a KV bucket's history, refuse nothing.
        assert!(!refuses(
            serde_json::json!({"discard": "old", "max_msgs": 20})
        ));
        assert!(!refuses(serde_json::json!({
            "discard": "new", "max_msgs": -1, "max_bytes": -1, "max_msg_size": -1,
            "max_msgs_per_subject": 5, "sealed": false
        })));
    }
}
