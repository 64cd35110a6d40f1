//! Writing the Raft log tail ([`crate::store::tail`]) into the store, so that a standalone
//! server serves it.
//!
//! For a stream, one new message block after the store's last (`msgs/<n>.blk`, records as
//! `writeMsgRecord` in server/filestore.go writes them, checksummed with the block's key,
//! encrypted with a new block key when the stream is): the missing messages with their
//! original sequence, timestamp, subject and headers (`Nats-Msg-Id` included, so duplicate
//! detection still works for publishers that retry); a tombstone (`tbit`) for every
//! sequence a logged delete or purge removes, so what was consumed stays consumed; and a
//! skip record (`ebit`) at the highest sequence the log shows was assigned, so no sequence
//! is handed out twice. `msgs/index.db` leaves the store (into the backup): it is derived
//! state, and without it the server rebuilds the stream's state from its blocks at load.
//! No existing block is ever changed.
//!
//! For a consumer, `o.dat` gets the newest state its log holds, never past what the stream
//! holds.

use serde::{Deserialize, Serialize};

use super::diff;
use super::manifest::{Change, Edit, Mkdir, Remove};
use super::PlanError;
use crate::store::crypto::Cipher;
use crate::store::file::{self, FileKind};
use crate::store::filestore::{self, BlockCipher, EBIT, TBIT};
use crate::store::jsops::consumer_ops::encode_state;
use crate::store::jsops::consumer_ops::ConsumerState as FullState;
use crate::store::report::{Warning, WarningCode};
use crate::store::tail::{self, ConsumerTailReport, Progress, SeqRange, StreamTailReport, Tails};
use crate::store::{Store, Stream};
use std::collections::BTreeMap;

/// How much of the log tail a plan writes into the store (`--raft-tail`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TailMode {
    /// Everything this node logged, past the commit it knew too.
    #[default]
    All,
    /// Only what this node knew was committed.
    Committed,
    /// Nothing: the plan lists what is dropped.
    None,
}

impl TailMode {
    /// Whether an entry with this commit status is written.
    pub fn keeps(self, committed: bool) -> bool {
        match self {
            TailMode::All => true,
            TailMode::Committed => committed,
            TailMode::None => false,
        }
    }

    /// The word on the command line.
    pub fn word(self) -> &'static str {
        match self {
            TailMode::All => "all",
            TailMode::Committed => "committed",
            TailMode::None => "none",
        }
    }
}

/// The tail section of a plan: what the logs hold, and what the plan writes of it.
///
/// # Wire format (manifest `tail`, schema version 2)
///
/// ```json
/// { "mode": "all",
///   "streams": [ { "found": { "account": "A", "stream": "LIM", "dir": "jetstream/A/streams/LIM",
///                             "store_last_seq": 7322, "committed": [{"first": 7323, "last": 7352}],
///                             "past_commit": [{"first": 7353, "last": 7358}], "messages": 36,
///                             "committed_messages": 30, "removals": 0, "max_assigned": 7358,
///                             "not_replayed": [] },
///                  "recovered": [{"first": 7323, "last": 7358}], "dropped": [],
///                  "removals_replayed": 0, "reserved_through": null } ],
///   "consumers": [ { "found": { "account": "A", "stream": "LIM", "consumer": "worker", "dir": "...",
///                               "stored": {"ack_floor": 39, "delivered": 7182, "ack_pending": 180},
///                               "newest": {...}, "committed": {...} },
///                    "written": {"ack_floor": 39, "delivered": 7335, "ack_pending": 183} } ],
///   "problems": [] }
/// ```
///
/// `recovered` and `dropped` are the message sequences the plan writes into the store and
/// those it leaves behind in the log (which leaves the store with it); `reserved_through`
/// is the sequence a skip record reserves up to when the log shows sequences were assigned
/// past everything written. A consumer's `written` is the state written to `o.dat`, or
/// `null` when the plan leaves `o.dat` as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailPlan {
    pub mode: TailMode,
    pub streams: Vec<StreamTailPlan>,
    pub consumers: Vec<ConsumerTailPlan>,
    /// What could not be read of the logs.
    pub problems: Vec<String>,
}

/// What a plan does with one stream's tail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamTailPlan {
    pub found: StreamTailReport,
    pub recovered: Vec<SeqRange>,
    pub dropped: Vec<SeqRange>,
    pub removals_replayed: usize,
    /// Work-queue messages the consumers acknowledged that the store still held: removed
    /// (tombstones), as the cluster would have.
    #[serde(default)]
    pub consumed: Vec<SeqRange>,
    pub reserved_through: Option<u64>,
}

/// What a plan does with one consumer's newer state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerTailPlan {
    pub found: ConsumerTailReport,
    pub written: Option<Progress>,
}

/// What the tail adds to a plan.
#[derive(Debug)]
pub struct TailChanges {
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
    pub plan: TailPlan,
    pub messages: usize,
    pub consumers: usize,
}

pub fn plan_tail(store: &Store, tails: &Tails, mode: TailMode) -> Result<TailChanges, PlanError> {
    let mut out = TailChanges {
        changes: Vec::new(),
        warnings: Vec::new(),
        plan: TailPlan {
            mode,
            streams: Vec::new(),
            consumers: Vec::new(),
            problems: tails.problems.clone(),
        },
        messages: 0,
        consumers: 0,
    };
    let now = crate::clock::now();
    // Consumers first: what their state will be decides what a work queue still holds.
    let mut written_states: BTreeMap<String, FullState> = BTreeMap::new();
    for c in &tails.consumers {
        let Some((_, stream)) = store
            .streams()
            .find(|(a, s)| a.name == c.account && s.consumers.iter().any(|x| x.dir == c.dir))
        else {
            continue;
        };
        let wanted = match mode {
            TailMode::All => Some(&c.newest),
            TailMode::Committed => Some(&c.committed),
            TailMode::None => None,
        };
        // Never past what the stream holds once the tail is written.
        let stream_last = match tails
            .streams
            .iter()
            .find(|t| t.account == c.account && t.stream == c.stream)
        {
            Some(t) => t
                .messages
                .iter()
                .filter(|m| t.blocked.is_none() && mode.keeps(m.committed))
                .map(|m| m.seq)
                .fold(t.store_last_seq, u64::max),
            None => {
                let (account, _) = store
                    .streams()
                    .find(|(a, s)| a.name == c.account && s.dir == stream.dir)
                    .expect("the consumer's stream");
                tail::bounds(store, &account.name, stream).map_or(u64::MAX, |b| b.last_seq)
            }
        };
        let written = match wanted {
            Some(state) if !tail::same_progress(state, &c.stored) => {
                let state = tail::capped(state, stream_last);
                let consumer = stream
                    .consumers
                    .iter()
                    .find(|x| x.dir == c.dir)
                    .expect("found above");
                consumer_state_change(consumer, &state, c, &mut out)?;
                out.consumers += 1;
                let progress = Progress::of(&state);
                written_states.insert(c.dir.clone(), state);
                Some(progress)
            }
            _ => None,
        };
        let section = ConsumerTailPlan {
            found: c.report(),
            written,
        };
        out.warnings.push(consumer_warning(&section, mode));
        out.plan.consumers.push(section);
    }
    for (account, stream) in store.streams() {
        let found = tails
            .streams
            .iter()
            .find(|t| t.account == account.name && t.dir == stream.dir);
        // A stream without a tail: its bounds (a read of its blocks when index.db is
        // missing) only matter if a work-queue check finds something to report below.
        let empty;
        let bounded;
        let mut t = match found {
            Some(t) => t,
            None => {
                empty = untailed(&account.name, stream);
                &empty
            }
        };
        // A log that cannot be written back safely is not written at all.
        let keeps = |committed: bool| t.blocked.is_none() && mode.keeps(committed);
        let messages: Vec<&tail::TailMsg> =
            t.messages.iter().filter(|m| keeps(m.committed)).collect();
        let mut removals: Vec<u64> = t
            .removals
            .iter()
            .filter(|r| keeps(r.committed))
            .map(|r| r.seq)
            .collect();
        let consumed = match consumed_still_stored(
            store,
            &account.name,
            stream,
            &messages,
            &removals,
            &written_states,
        ) {
            Ok(c) => c,
            Err(why) => {
                out.warnings.push(Warning::new(
                    WarningCode::ConsumedRemoved,
                    &stream.dir,
                    format!(
                        "work-queue stream `{}` (account `{}`): its blocks could not be read to find \
                         messages its consumers acknowledged that it still holds ({why}); any such \
                         message is served again",
                        tail::stream_name(stream),
                        account.name
                    ),
                ));
                out.plan.problems.push(why);
                Vec::new()
            }
        };
        if found.is_none() && !consumed.is_empty() {
            let bounds = tail::bounds(store, &account.name, stream).unwrap_or_default();
            bounded = tail::StreamTail {
                store_first_seq: bounds.first_seq,
                store_last_seq: bounds.last_seq,
                max_assigned: bounds.last_seq,
                ..untailed(&account.name, stream)
            };
            t = &bounded;
        }
        removals.extend(&consumed);
        removals.sort_unstable();
        removals.dedup();
        let last_written = messages
            .last()
            .map_or(t.store_last_seq, |m| m.seq.max(t.store_last_seq));
        // Sequences the cluster assigned are never handed out again, whatever is written.
        let guard =
            (t.blocked.is_none() && t.max_assigned > last_written).then_some(t.max_assigned);
        if !t.is_reportable() && consumed.is_empty() {
            continue;
        }
        let section = StreamTailPlan {
            found: t.report(),
            recovered: SeqRange::runs(messages.iter().map(|m| m.seq)),
            dropped: SeqRange::runs(
                t.messages
                    .iter()
                    .filter(|m| !keeps(m.committed))
                    .map(|m| m.seq),
            ),
            removals_replayed: removals.len() - consumed.len(),
            consumed: SeqRange::runs(consumed.iter().copied()),
            reserved_through: guard,
        };
        out.warnings.extend(stream_warnings(&section, mode));
        if !messages.is_empty() || !removals.is_empty() || guard.is_some() {
            block_changes(store, t, stream, &messages, &removals, guard, now, &mut out)?;
        }
        out.messages += messages.len();
        out.plan.streams.push(section);
    }
    Ok(out)
}

/// A stream with no Raft log tail (no group here, or nothing in it), as a tail with
/// nothing in it; its store bounds are left 0 for the caller to fill in when it needs them.
fn untailed(account: &str, stream: &Stream) -> tail::StreamTail {
    tail::StreamTail {
        account: account.to_string(),
        stream: tail::stream_name(stream),
        dir: stream.dir.clone(),
        group: String::new(),
        store_first_seq: 0,
        store_last_seq: 0,
        commit: None,
        messages: Vec::new(),
        removals: Vec::new(),
        max_assigned: 0,
        not_replayed: Vec::new(),
        blocked: None,
    }
}

/// A work-queue stream's messages that its consumers acknowledged (as their state will be
/// on disk) and that it still holds: the cluster removes each on its ack, but the removal
/// may not have reached this store, and a standalone server does not remove them at load
/// (it does for interest streams only). Left, they would be served again. A consumer
/// acknowledges only messages its filter matches. Reads the stream's blocks only when a
/// consumer's state leaves anything to look for.
fn consumed_still_stored(
    store: &Store,
    account: &str,
    stream: &Stream,
    messages: &[&tail::TailMsg],
    removals: &[u64],
    written: &BTreeMap<String, FullState>,
) -> Result<Vec<u64>, String> {
    let workqueue = stream
        .meta
        .as_ref()
        .and_then(|m| m.str_field("retention"))
        .is_some_and(|r| r.eq_ignore_ascii_case("workqueue"));
    if !workqueue {
        return Ok(Vec::new());
    }
    let consumers: Vec<(&FullState, Vec<String>)> = stream
        .consumers
        .iter()
        .filter_map(|c| {
            let state = written.get(&c.dir).or(c.state_full.as_ref())?;
            Some((state, filters(c)))
        })
        .collect();
    let first = tail::bounds(store, account, stream).map_or(0, |b| b.first_seq);
    // Acknowledged and possibly still held: at or below a floor the stream reaches, or in
    // a gap between the floor and the last delivery that pending deliveries do not fill.
    let anything = !messages.is_empty()
        || consumers.iter().any(|(s, _)| {
            let gap =
                s.delivered_stream.saturating_sub(s.ack_floor_stream) > s.pending.len() as u64;
            s.delivered_stream >= first.max(1) && (s.ack_floor_stream >= first || gap)
        });
    if !anything {
        return Ok(Vec::new());
    }
    let mut live = tail::live_subjects(store, account, stream)?;
    for m in messages {
        live.insert(m.seq, m.subject.clone());
    }
    for r in removals {
        live.remove(r);
    }
    Ok(live
        .into_iter()
        .filter(|(seq, subject)| {
            let subject = String::from_utf8_lossy(subject);
            consumers.iter().any(|(state, filters)| {
                tail::acked(state, *seq)
                    && (filters.is_empty()
                        || filters.iter().any(|f| tail::subject_matches(f, &subject)))
            })
        })
        .map(|(seq, _)| seq)
        .collect())
}

/// A consumer's subject filters (`filter_subject`, `filter_subjects`); none: every subject.
fn filters(c: &crate::store::Consumer) -> Vec<String> {
    let Some(m) = &c.meta else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    if let Some(f) = m.str_field("filter_subject").filter(|f| !f.is_empty()) {
        out.push(f.to_string());
    }
    if let Some(serde_json::Value::Array(list)) = m.field("filter_subjects") {
        out.extend(list.iter().filter_map(|v| v.as_str()).map(str::to_string));
    }
    out
}

/// The warnings a stream's tail section gives: what is written back, what is dropped,
/// what cannot be replayed.
fn stream_warnings(s: &StreamTailPlan, mode: TailMode) -> Vec<Warning> {
    let f = &s.found;
    let what = format!("stream `{}` (account `{}`)", f.stream, f.account);
    let count = |runs: &[SeqRange]| runs.iter().map(SeqRange::count).sum::<u64>();
    let mut out = Vec::new();
    if !s.recovered.is_empty() {
        let past: u64 = count(&s.recovered) - count(&f.committed).min(count(&s.recovered));
        out.push(Warning::new(
            WarningCode::RaftTailRecovered,
            &f.dir,
            format!(
                "{what}: {} messages (seq {}) were only in this node's Raft log, not in the store; \
                the plan writes them back with their sequences and timestamps{}",
                count(&s.recovered),
                SeqRange::show(&s.recovered),
                if past > 0 {
                    format!(
                        " ({past} past the commit this node knew: a leader that is gone may or may not \
                        have acknowledged them; a publisher that retried finds them twice unless it \
                        set Nats-Msg-Id)"
                    )
                } else {
                    String::new()
                }
            ),
        ));
    }
    if !s.dropped.is_empty() {
        out.push(Warning::new(
            WarningCode::RaftTailDropped,
            &f.dir,
            format!(
                "{what}: {} messages (seq {}) in this node's Raft log are NOT written back \
                (--raft-tail {}): they leave the store with the log",
                count(&s.dropped),
                SeqRange::show(&s.dropped),
                mode.word()
            ),
        ));
    }
    if let Some(seq) = s.reserved_through {
        if s.recovered.is_empty() && s.dropped.is_empty() {
            out.push(Warning::new(
                WarningCode::RaftTailRecovered,
                &f.dir,
                format!(
                    "{what}: the Raft log shows sequences up to {seq} were assigned (the store ends at \
                    {}); the plan reserves them so no sequence is handed out twice",
                    f.store_last_seq
                ),
            ));
        }
    }
    if !s.consumed.is_empty() {
        out.push(Warning::new(
            WarningCode::ConsumedRemoved,
            &f.dir,
            format!(
                "{what}: {} messages (seq {}) its consumers acknowledged are still in the store \
                 (the work queue's removals did not reach it); the plan removes them, so consumed \
                 messages stay consumed",
                count(&s.consumed),
                SeqRange::show(&s.consumed)
            ),
        ));
    }
    if s.removals_replayed > 0 {
        out.push(Warning::new(
            WarningCode::RaftTailRecovered,
            &f.dir,
            format!(
                "{what}: {} deletes in the Raft log may not be applied to the store yet; the plan \
                 replays them (tombstones), so consumed messages stay consumed",
                s.removals_replayed
            ),
        ));
    }
    if f.removals > s.removals_replayed {
        out.push(Warning::new(
            WarningCode::RaftTailDropped,
            &f.dir,
            format!(
                "{what}: {} deletes in the Raft log are NOT replayed (--raft-tail {}): messages they \
                 removed (consumed, or deleted) may be served again",
                f.removals - s.removals_replayed,
                mode.word()
            ),
        ));
    }
    if let Some(why) = &f.blocked {
        out.push(Warning::new(
            WarningCode::RaftTailNotReplayed,
            &f.dir,
            format!(
                "{what}: nothing of its Raft log tail is written back: {why}. Look at that stream \
                 by hand (`inspect --json` lists the sequences) or recover it from another survivor"
            ),
        ));
    }
    for n in &f.not_replayed {
        out.push(Warning::new(
            WarningCode::RaftTailNotReplayed,
            &f.dir,
            format!("{what}: {n} is in the Raft log and is not replayed offline"),
        ));
    }
    out
}

/// The warning a consumer's tail section gives.
fn consumer_warning(c: &ConsumerTailPlan, mode: TailMode) -> Warning {
    let f = &c.found;
    let what = format!(
        "consumer `{}` of stream `{}` (account `{}`)",
        f.consumer, f.stream, f.account
    );
    match &c.written {
        Some(p) => Warning::new(
            WarningCode::RaftTailRecovered,
            &f.dir,
            format!(
                "{what}: its Raft log is ahead of its o.dat ({} -> {p}); the plan writes the newer \
                 state, so acks the clients made are not delivered again{}",
                f.stored,
                if *p == f.newest {
                    String::new()
                } else {
                    format!(
                        " (the log's newest state, {}, is not written: past the commit this node \
                         knew, or past what the stream holds)",
                        f.newest
                    )
                }
            ),
        ),
        None => Warning::new(
            WarningCode::RaftTailDropped,
            &f.dir,
            format!(
                "{what}: its Raft log is ahead of its o.dat ({} -> {}) and the plan does not write it \
                (--raft-tail {}): acks since are delivered again",
                f.stored,
                f.newest,
                mode.word()
            ),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn block_changes(
    store: &Store,
    t: &tail::StreamTail,
    stream: &Stream,
    messages: &[&tail::TailMsg],
    removals: &[u64],
    guard: Option<u64>,
    now: chrono::DateTime<chrono::Utc>,
    out: &mut TailChanges,
) -> Result<(), PlanError> {
    let msgs = store.abs(&stream.dir).join("msgs");
    let next = file::list_dir(&msgs, 1 << 20)
        .map(|(entries, _)| {
            entries
                .iter()
                .filter_map(|e| filestore::block_index(&e.name))
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
        + 1;
    let rel = |name: &str| format!("{}/msgs/{name}", stream.dir);
    if file::kind_at(&msgs).is_none() {
        out.changes.push(Change::Mkdir(Mkdir {
            path: format!("{}/msgs", stream.dir),
            reason: format!(
                "stream `{}` has no msgs/ directory; the Raft log tail goes there",
                t.stream
            ),
            mode: 0o750,
        }));
    }
    let ts = now.timestamp_nanos_opt().unwrap_or(0);
    let mut block = Vec::new();
    for m in messages {
        block.extend(filestore::encode_record(
            &t.stream, next, m.seq, m.ts, &m.subject, &m.headers, &m.msg,
        ));
    }
    for seq in removals {
        block.extend(filestore::encode_record(
            &t.stream,
            next,
            seq | TBIT,
            ts,
            b"",
            b"",
            b"",
        ));
    }
    if let Some(seq) = guard {
        block.extend(filestore::encode_record(
            &t.stream,
            next,
            seq | EBIT,
            ts,
            b"",
            b"",
            b"",
        ));
    }
    let reason = format!(
        "Raft log tail of stream `{}` (account `{}`): {} messages{}, {} removals replayed{}",
        t.stream,
        t.account,
        messages.len(),
        match (messages.first(), messages.last()) {
            (Some(a), Some(b)) => format!(" (seq {}..{})", a.seq, b.seq),
            _ => String::new(),
        },
        removals.len(),
        guard.map_or(String::new(), |g| format!(
            ", sequences up to {g} reserved (they were assigned)"
        )),
    );
    let summary = format!(
        "a new message block after the store's last (seq {}):\n{}{}{}",
        t.store_last_seq,
        messages
            .iter()
            .map(|m| format!(
                "  seq {} subject {} ({} bytes{})\n",
                m.seq,
                String::from_utf8_lossy(&m.subject),
                m.msg.len(),
                if m.committed {
                    ""
                } else {
                    ", past the known commit"
                }
            ))
            .collect::<String>(),
        if removals.is_empty() {
            String::new()
        } else {
            format!("  tombstones for {} deleted sequences\n", removals.len())
        },
        guard.map_or(String::new(), |g| format!("  skip to seq {g}\n")),
    );
    // Encrypted like the rest of the stream: a new block key, sealed for this block.
    let block_path = rel(&format!("{next}.blk"));
    let encrypted = stream.meta.as_ref().is_some_and(|m| m.is_encrypted());
    if encrypted {
        let keys = store.keys.as_ref().ok_or_else(|| PlanError::Encrypted {
            path: format!("{}/meta.inf", stream.dir),
        })?;
        let cipher = stream
            .meta
            .as_ref()
            .and_then(|m| m.sealed.as_ref())
            .map_or(Cipher::Chacha, |s| s.asset.cipher);
        let (seed, nonce, key_file) =
            keys.new_block_key(&t.account, &format!("{}:{next}", t.stream), cipher);
        let bc = BlockCipher::new(cipher, seed, &nonce).expect("nonce of the cipher's size");
        bc.apply_keystream(&mut block);
        let key_path = rel(&format!("{next}.key"));
        out.changes.push(Change::Edit(Edit::new_binary(
            key_path.clone(),
            reason.clone(),
            0o600,
            None,
            &key_file,
            diff::unified(&key_path, None, b"(the new block's key, sealed)"),
        )));
    }
    out.changes.push(Change::Edit(Edit::new_binary(
        block_path.clone(),
        reason.clone(),
        0o600,
        None,
        &block,
        diff::unified(&block_path, None, summary.as_bytes()),
    )));
    let index = msgs.join("index.db");
    if file::kind_at(&index) == Some(FileKind::Regular) {
        let summary = crate::store::tree::summarize_file(&index)?;
        out.changes.push(Change::Remove(Remove::new(
            rel("index.db"),
            format!(
                "derived state of stream `{}` that no longer matches its blocks: without it the \
                 server rebuilds the stream's state from them at load",
                t.stream
            ),
            summary,
        )));
    }
    Ok(())
}

fn consumer_state_change(
    consumer: &crate::store::Consumer,
    state: &crate::store::jsops::consumer_ops::ConsumerState,
    c: &tail::ConsumerTail,
    out: &mut TailChanges,
) -> Result<(), PlanError> {
    let path = format!("{}/o.dat", consumer.dir);
    let plain = encode_state(state, crate::clock::now().timestamp());
    let (bytes, mode) = match consumer.state_file.as_ref() {
        Some((bytes, mode)) => (Some(bytes.as_slice()), *mode),
        None => (None, 0o600),
    };
    let after = match consumer.meta.as_ref().and_then(|m| m.sealed.as_ref()) {
        Some(s) => s.asset.seal(&plain),
        None if consumer.meta.as_ref().is_some_and(|m| m.is_encrypted()) => {
            return Err(PlanError::Encrypted {
                path: format!("{}/meta.inf", consumer.dir),
            })
        }
        None => plain,
    };
    let shown = |s: &crate::store::jsops::consumer_ops::ConsumerState| {
        format!(
            "ack floor {} (consumer {}), delivered {} (consumer {}), {} pending, {} redelivered\n",
            s.ack_floor_stream,
            s.ack_floor_consumer,
            s.delivered_stream,
            s.delivered_consumer,
            s.pending.len(),
            s.redelivered.len()
        )
    };
    out.changes.push(Change::Edit(Edit::new_binary(
        path.clone(),
        format!(
            "consumer `{}` of stream `{}` (account `{}`): the newest state its Raft log holds",
            c.consumer, c.stream, c.account
        ),
        mode,
        bytes,
        &after,
        diff::unified(
            &path,
            Some(shown(&c.stored).as_bytes()),
            shown(state).as_bytes(),
        ),
    )));
    Ok(())
}

#[cfg(test)]
#[path = "tail_tests.rs"]
mod tests;
