//! Several survivors, one recovered store: for every stream and consumer any of the given
//! survivors holds, the most complete copy, copied into the target store.
//!
//! # Choosing a copy
//!
//! Every survivor is read as `inspect` reads it, its Raft log tail included. A stream's
//! copies are ordered by:
//!
//! 1. the last sequence the copy holds once its own Raft log tail is written (as
//!    `--raft-tail` says): the copy whose Raft group applied furthest, since sequences grow
//!    with the log;
//! 2. the time of that last message;
//! 3. how many consumers the copy holds.
//!
//! The first wins. Copies equal on all three keep the target's own (nothing is copied),
//! else the first survivor given. A consumer's copies are ordered by ack floor, then last
//! delivered sequence (its log applied); equal copies keep the one inside the chosen
//! stream copy. A consumer missing from the chosen stream copy but held by another survivor
//! is brought along.
//!
//! Copies *disagree* when their configurations differ (`num_replicas` and `placement`
//! aside) or when they hold different messages at the same sequence (compared at the last
//! sequence both hold). No rule orders those: the plan is refused ([`PlanError::Ambiguous`],
//! exit 8) naming each, unless `--prefer STORE` names the survivor whose copy wins them.
//!
//! # Wire format (manifest `survivors`, schema version 2)
//!
//! ```json
//! { "target": "/srv/n1", "sources": ["/srv/n2"], "prefer": null,
//!   "streams": [ { "account": "A", "stream": "BOTH", "consumer": null,
//!                  "chosen": "/srv/n2", "rule": "applied-further",
//!                  "copies": [ { "store": "/srv/n1", "last_seq": 300, "store_last_seq": 300,
//!                                "tail_messages": 0, "last_time": "2026-11-28T12:00:00Z",
//!                                "messages": 300, "consumers": 0 }, ... ] } ],
//!   "consumers": [ { "account": "A", "stream": "BOTH", "consumer": "R1C", "chosen": "/srv/n2",
//!                    "rule": "only-copy",
//!                    "copies": [ { "store": "/srv/n2", "ack_floor": 20, "delivered": 25,
//!                                  "ack_pending": 5 } ] } ] }
//! ```
//!
//! `rule` is one of [`Rule`]. Each entry lists every survivor's copy with its evidence.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::build::{plan_read, PlanError, PlanOptions, RaftView};
use super::manifest::{Change, CopyIn, Manifest, Mkdir, Remove, Summary};
use super::tail::{TailMode, TailPlan};
use crate::store::inventory::Inventory;
use crate::store::report::{self, Warning, WarningCode};
use crate::store::{tail, tree, Account, Store, Stream};

/// One survivor's store, read.
#[derive(Debug)]
pub struct Survivor {
    pub store: Store,
    pub view: RaftView,
}

impl Survivor {
    pub fn read(store: Store) -> Survivor {
        let view = RaftView::read(&store);
        Survivor { store, view }
    }

    fn label(&self) -> String {
        self.store.root.display().to_string()
    }
}

/// Why a copy won.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// No other survivor holds it.
    OnlyCopy,
    /// The higher last sequence (stream, log tail included) or ack floor and delivered
    /// sequence (consumer).
    AppliedFurther,
    /// The same last sequence, a later last message.
    LaterTimestamp,
    /// The same last message, more consumers.
    MoreConsumers,
    /// Equal on every key: the target's own, or the first survivor given.
    Equal,
    /// The copies disagree, and `--prefer` chose.
    Preferred,
}

/// One copy of a stream, with the evidence it is judged by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamCopy {
    pub store: String,
    /// The last sequence once this survivor's Raft log tail is written.
    pub last_seq: u64,
    /// The last sequence of its store alone.
    pub store_last_seq: u64,
    /// Messages its log tail adds.
    pub tail_messages: usize,
    /// When the last message was stored.
    pub last_time: Option<chrono::DateTime<chrono::Utc>>,
    /// From `msgs/index.db`, when current.
    pub messages: Option<u64>,
    pub consumers: usize,
}

/// One copy of a consumer, with the evidence it is judged by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerCopy {
    pub store: String,
    /// Its log tail applied.
    pub ack_floor: u64,
    pub delivered: u64,
    pub ack_pending: usize,
}

/// The copies of one stream or consumer and the one chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice<T> {
    pub account: String,
    pub stream: String,
    pub consumer: Option<String>,
    pub chosen: String,
    pub rule: Rule,
    pub copies: Vec<T>,
}

/// The `survivors` section of a plan (and of `inspect --from`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survivors {
    pub target: String,
    pub sources: Vec<String>,
    pub prefer: Option<String>,
    pub streams: Vec<Choice<StreamCopy>>,
    pub consumers: Vec<Choice<ConsumerCopy>>,
    /// Streams and consumers whose copies disagree and that `--prefer` did not decide (a
    /// plan is refused while there are any; `inspect` shows them). Their `chosen` is only
    /// the ordering's pick.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disagreements: Vec<Ambiguity>,
}

/// How copies disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Disagreement {
    /// Their configurations differ, in these fields.
    Config { fields: Vec<String> },
    /// Different messages at this sequence.
    Message { seq: u64 },
}

/// A stream or consumer whose copies no rule orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ambiguity {
    /// `account/stream` or `account/stream/consumer`.
    pub what: String,
    pub stores: Vec<String>,
    pub disagreement: Disagreement,
}

impl std::fmt::Display for Ambiguity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match &self.disagreement {
            Disagreement::Config { fields } => {
                format!("configurations differ ({})", fields.join(", "))
            }
            Disagreement::Message { seq } => format!("different messages at seq {seq}"),
        };
        write!(f, "{}: {how} in {}", self.what, self.stores.join(" and "))
    }
}

/// Key of a stream: (account, directory name).
type StreamKey = (String, String);
/// Key of a consumer: (account, stream directory name, consumer).
type ConsumerKey = (String, String, String);

/// Who holds the chosen copy of each stream and consumer (indexes into the survivors).
#[derive(Debug, Default)]
struct Owners {
    streams: BTreeMap<StreamKey, usize>,
    consumers: BTreeMap<ConsumerKey, usize>,
    /// Where each one's choice is in [`Survivors`].
    stream_choice: BTreeMap<StreamKey, usize>,
    consumer_choice: BTreeMap<ConsumerKey, usize>,
}

impl Owners {
    /// Whose copy a path of the store belongs to: the consumer's owner inside a consumer
    /// some survivor holds, else the stream's inside a stream directory, else the target's.
    fn of(&self, path: &str) -> usize {
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            [_, a, "streams", s, rest @ ..] => {
                let stream = (a.to_string(), s.to_string());
                if let ["obs", c, ..] = rest {
                    let key = (a.to_string(), s.to_string(), c.to_string());
                    if let Some(o) = self.consumers.get(&key) {
                        return *o;
                    }
                }
                self.streams.get(&stream).copied().unwrap_or(0)
            }
            _ => 0,
        }
    }
}

/// Chooses, for every stream and consumer any survivor holds, whose copy to use
/// (`survivors[0]` is the target), and classifies what the cluster had against all of
/// them together. Disagreements are listed, not refused: this is what `inspect` shows.
pub fn choose(
    survivors: &[Survivor],
    mode: TailMode,
    prefer: Option<&Path>,
    names: &crate::store::inventory::Names,
) -> Result<(Survivors, Inventory), PlanError> {
    let (section, owners) = decide(survivors, mode, prefer)?;
    let inventory = combined_inventory(survivors, &owners, names);
    Ok((section, inventory))
}

fn decide(
    survivors: &[Survivor],
    mode: TailMode,
    prefer: Option<&Path>,
) -> Result<(Survivors, Owners), PlanError> {
    let prefer_index = match prefer {
        None => None,
        Some(p) => Some(
            survivors
                .iter()
                .position(|s| same_dir(&s.store.root, p))
                .ok_or_else(|| PlanError::PreferNotGiven {
                    path: p.to_path_buf(),
                })?,
        ),
    };
    let mut ambiguous = Vec::new();
    let mut streams = Vec::new();
    let mut consumers = Vec::new();
    // Every stream any survivor holds, with its copies.
    let mut held: BTreeMap<StreamKey, Vec<(usize, &Account, &Stream)>> = BTreeMap::new();
    for (i, s) in survivors.iter().enumerate() {
        for (a, st) in s.store.streams() {
            held.entry((a.name.clone(), st.dir_name.clone()))
                .or_default()
                .push((i, a, st));
        }
    }
    let mut owners = Owners::default();
    for ((account, dir), copies) in &held {
        let evidence: Vec<StreamCopy> = copies
            .iter()
            .map(|(i, a, st)| stream_evidence(&survivors[*i], a, st, mode))
            .collect();
        // Equal copies keep the target's own, then the one that needs least from its log.
        let mut preferred: Vec<usize> = (0..copies.len()).collect();
        preferred.sort_by_key(|k| {
            (
                copies[*k].0 != 0,
                std::cmp::Reverse(evidence[*k].store_last_seq),
            )
        });
        let (mut chosen, mut rule) = best_of(
            &evidence,
            |x: &StreamCopy| {
                vec![
                    i128::from(x.last_seq),
                    x.last_time
                        .and_then(|t| t.timestamp_nanos_opt())
                        .map_or(0, i128::from),
                    x.consumers as i128,
                ]
            },
            &[
                Rule::AppliedFurther,
                Rule::LaterTimestamp,
                Rule::MoreConsumers,
            ],
            &preferred,
            copies.iter().position(|c| c.0 == 0),
        );
        // Disagreements between the best copy and each other.
        let (bi, ba, bs) = copies[chosen];
        let mut disagree = None;
        for (k, (i, a, st)) in copies.iter().enumerate() {
            if k == chosen {
                continue;
            }
            let fields = differing(config_of(bs), config_of(st));
            if !fields.is_empty() {
                disagree = Some(Disagreement::Config { fields });
                break;
            }
            let seq = evidence[chosen].last_seq.min(evidence[k].last_seq);
            if seq > 0 {
                let x = message(&survivors[bi], ba, bs, seq, mode);
                let y = message(&survivors[*i], a, st, seq, mode);
                if let (Some(x), Some(y)) = (x, y) {
                    if x != y {
                        disagree = Some(Disagreement::Message { seq });
                        break;
                    }
                }
            }
        }
        if let Some(d) = disagree {
            match prefer_index.and_then(|p| copies.iter().position(|(i, _, _)| *i == p)) {
                Some(k) => {
                    chosen = k;
                    rule = Rule::Preferred;
                }
                None => ambiguous.push(Ambiguity {
                    what: format!("{account}/{}", stream_name(bs)),
                    stores: copies
                        .iter()
                        .map(|(i, _, _)| survivors[*i].label())
                        .collect(),
                    disagreement: d,
                }),
            }
        }
        owners
            .streams
            .insert((account.clone(), dir.clone()), copies[chosen].0);
        owners
            .stream_choice
            .insert((account.clone(), dir.clone()), streams.len());
        streams.push(Choice {
            account: account.clone(),
            stream: stream_name(bs),
            consumer: None,
            chosen: survivors[copies[chosen].0].label(),
            rule,
            copies: evidence,
        });
    }
    // Consumers, each among every copy of its stream.
    for ((account, dir), copies) in &held {
        let stream_owner = owners.streams[&(account.clone(), dir.clone())];
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for (_, _, st) in copies {
            names.extend(st.consumers.iter().map(|c| c.name.as_str()));
        }
        for name in names {
            let holders: Vec<(usize, &crate::store::Consumer, &Stream)> = copies
                .iter()
                .filter_map(|(i, _, st)| {
                    st.consumers
                        .iter()
                        .find(|c| c.name == name)
                        .map(|c| (*i, c, *st))
                })
                .collect();
            let evidence: Vec<ConsumerCopy> = holders
                .iter()
                .map(|(i, c, _)| consumer_evidence(&survivors[*i], account, c, mode))
                .collect();
            // Equal copies keep the one inside the chosen stream copy, then the target's.
            let preferred: Vec<usize> = [stream_owner, 0]
                .iter()
                .filter_map(|o| holders.iter().position(|h| h.0 == *o))
                .collect();
            let (mut chosen, mut rule) = best_of(
                &evidence,
                |x: &ConsumerCopy| vec![i128::from(x.ack_floor), i128::from(x.delivered)],
                &[Rule::AppliedFurther, Rule::AppliedFurther],
                &preferred,
                holders.iter().position(|h| h.0 == stream_owner),
            );
            let config = |c: &crate::store::Consumer| {
                c.meta.as_ref().map(|m| comparable(m, &["num_replicas"]))
            };
            let fields: Vec<String> = holders
                .iter()
                .flat_map(|(_, c, _)| differing(config(c), config(holders[chosen].1)))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if !fields.is_empty() {
                match prefer_index.and_then(|p| holders.iter().position(|h| h.0 == p)) {
                    Some(k) => {
                        chosen = k;
                        rule = Rule::Preferred;
                    }
                    None => ambiguous.push(Ambiguity {
                        what: format!("{account}/{}/{name}", stream_name(holders[0].2)),
                        stores: holders.iter().map(|h| survivors[h.0].label()).collect(),
                        disagreement: Disagreement::Config { fields },
                    }),
                }
            }
            let key = (account.clone(), dir.clone(), name.to_string());
            owners.consumers.insert(key.clone(), holders[chosen].0);
            owners.consumer_choice.insert(key, consumers.len());
            consumers.push(Choice {
                account: account.clone(),
                stream: stream_name(holders[0].2),
                consumer: Some(name.to_string()),
                chosen: survivors[holders[chosen].0].label(),
                rule,
                copies: evidence,
            });
        }
    }
    Ok((
        Survivors {
            target: survivors[0].label(),
            sources: survivors[1..].iter().map(Survivor::label).collect(),
            prefer: prefer_index.map(|i| survivors[i].label()),
            streams,
            consumers,
            disagreements: ambiguous,
        },
        owners,
    ))
}

/// The best of `copies` by `key` (compared field by field, highest first), and the rule
/// that decided it: the first field that differs from the best copy not tied with it
/// (`rules[i]` for field `i`). Among tied copies, the first of `preferred` (positions in
/// `copies`, most preferred first) wins, else the first. `Equal` when every copy is tied,
/// or when the copy that `stays` (nothing to copy) is among several tied.
fn best_of<T>(
    copies: &[T],
    key: impl Fn(&T) -> Vec<i128>,
    rules: &[Rule],
    preferred: &[usize],
    stays: Option<usize>,
) -> (usize, Rule) {
    if copies.len() == 1 {
        return (0, Rule::OnlyCopy);
    }
    let keys: Vec<Vec<i128>> = copies.iter().map(key).collect();
    let top = keys.iter().max().expect("at least one copy");
    let tied: Vec<usize> = (0..copies.len()).filter(|k| keys[*k] == *top).collect();
    let chosen = preferred
        .iter()
        .copied()
        .find(|p| tied.contains(p))
        .unwrap_or(tied[0]);
    let runner = (0..copies.len())
        .filter(|k| !tied.contains(k))
        .max_by(|a, b| keys[*a].cmp(&keys[*b]));
    let rule = match runner {
        _ if tied.len() > 1 && stays.is_some_and(|p| tied.contains(&p)) => Rule::Equal,
        None => Rule::Equal,
        Some(r) => {
            let field = keys[chosen]
                .iter()
                .zip(&keys[r])
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            rules[field]
        }
    };
    (chosen, rule)
}

/// Whether two paths name the same store (a store_dir or its `jetstream/`).
fn same_dir(a: &Path, b: &Path) -> bool {
    let norm = |p: &Path| {
        let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        match p.file_name() {
            Some(n) if n == crate::store::JETSTREAM_DIR => {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            }
            _ => p,
        }
    };
    norm(a) == norm(b)
}

fn stream_name(s: &Stream) -> String {
    s.name().to_string()
}

/// A `meta.inf` as a JSON map without what legitimately differs between nodes: `created`
/// (each node stamps its own), the server's own `_nats.*` metadata (the version that
/// created it, per node in a rolling upgrade), and the `ignore`d fields.
fn comparable(
    m: &crate::store::MetaFile,
    ignore: &[&str],
) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    if let Some(o) = m.object() {
        for member in &o.members {
            let key = o.key(member).to_ascii_lowercase();
            if key == "created" || ignore.iter().any(|k| key.eq_ignore_ascii_case(k)) {
                continue;
            }
            let mut value = o.value(member);
            if key == "metadata" {
                if let serde_json::Value::Object(meta) = &mut value {
                    meta.retain(|k, _| !k.starts_with("_nats"));
                }
            }
            map.insert(key, value);
        }
    }
    map
}

/// The fields two configurations do not agree on (none when either is unreadable).
fn differing(
    a: Option<serde_json::Map<String, serde_json::Value>>,
    b: Option<serde_json::Map<String, serde_json::Value>>,
) -> Vec<String> {
    let (Some(a), Some(b)) = (a, b) else {
        return Vec::new();
    };
    a.keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn config_of(s: &Stream) -> Option<serde_json::Map<String, serde_json::Value>> {
    s.meta
        .as_ref()
        .map(|m| comparable(m, &["num_replicas", "placement"]))
}

fn stream_evidence(s: &Survivor, a: &Account, st: &Stream, mode: TailMode) -> StreamCopy {
    let bounds = tail::bounds(&s.store, &a.name, st).unwrap_or_default();
    let t = s
        .view
        .tails
        .streams
        .iter()
        .find(|t| t.account == a.name && t.dir == st.dir);
    let kept: Vec<&tail::TailMsg> = t
        .map(|t| {
            t.messages
                .iter()
                .filter(|m| mode.keeps(m.committed))
                .collect()
        })
        .unwrap_or_default();
    let (last_seq, last_ts) = match kept.last() {
        Some(m) if m.seq > bounds.last_seq => (m.seq, m.ts),
        _ => (bounds.last_seq, bounds.last_ts),
    };
    StreamCopy {
        store: s.label(),
        last_seq,
        store_last_seq: bounds.last_seq,
        tail_messages: kept.len(),
        last_time: (last_ts > 0).then(|| chrono::DateTime::from_timestamp_nanos(last_ts)),
        messages: st
            .state
            .as_ref()
            .ok()
            .filter(|_| !st.state_stale)
            .map(|x| x.messages),
        consumers: st.consumers.len(),
    }
}

fn consumer_evidence(
    s: &Survivor,
    account: &str,
    c: &crate::store::Consumer,
    mode: TailMode,
) -> ConsumerCopy {
    let from_log = s
        .view
        .tails
        .consumers
        .iter()
        .find(|t| t.account == account && t.dir == c.dir)
        .and_then(|t| match mode {
            TailMode::All => Some(&t.newest),
            TailMode::Committed => Some(&t.committed),
            TailMode::None => None,
        });
    let state = from_log.or(c.state_full.as_ref());
    ConsumerCopy {
        store: s.label(),
        ack_floor: state.map_or(0, |x| x.ack_floor_stream),
        delivered: state.map_or(0, |x| x.delivered_stream),
        ack_pending: state.map_or(0, |x| x.pending.len()),
    }
}

/// The message a copy holds at `seq` (its log tail first, then its store).
fn message(
    s: &Survivor,
    a: &Account,
    st: &Stream,
    seq: u64,
    mode: TailMode,
) -> Option<tail::StoredMessage> {
    let from_log = s
        .view
        .tails
        .streams
        .iter()
        .find(|t| t.account == a.name && t.dir == st.dir)
        .and_then(|t| {
            t.messages
                .iter()
                .find(|m| m.seq == seq && mode.keeps(m.committed))
        });
    if let Some(m) = from_log {
        return Some((m.ts, m.subject.clone(), m.headers.clone(), m.msg.clone()));
    }
    tail::message_at(&s.store, &a.name, st, seq).ok().flatten()
}

/// Plans the target (`survivors[0]`) so that it holds the chosen copy of everything: each
/// survivor is planned as if alone, and each change is taken from the survivor whose copy
/// of the stream or consumer it touches is chosen; copies come in by `copy` changes.
pub fn plan_survivors(
    survivors: &[Survivor],
    now: chrono::DateTime<chrono::Utc>,
    opts: &PlanOptions,
    prefer: Option<&Path>,
) -> Result<Manifest, PlanError> {
    let (section, owners) = decide(survivors, opts.raft_tail, prefer)?;
    if !section.disagreements.is_empty() {
        return Err(PlanError::Ambiguous(section.disagreements));
    }
    let plans: Vec<Manifest> = survivors
        .iter()
        .map(|s| plan_read(&s.store, &s.view, now, opts).map(super::Plan::into_manifest))
        .collect::<Result<_, _>>()?;
    let target = &survivors[0];
    let js = crate::store::JETSTREAM_DIR;
    // The target's own changes to what stays its own (its Raft state's removal included).
    let mut changes: Vec<Change> = plans[0]
        .changes
        .iter()
        .filter(|c| owners.of(c.path()) == 0)
        .cloned()
        .collect();
    let mut made: BTreeSet<String> = BTreeSet::new();
    let mut copied = (0, 0, 0u64);
    for ((account, dir), owner) in &owners.streams {
        let stream_dir = format!("{js}/{account}/streams/{dir}");
        let key = (account.clone(), dir.clone());
        let consumers_elsewhere: Vec<String> = owners
            .consumers
            .iter()
            .filter(|((a, s, _), o)| a == account && s == dir && *o != owner)
            .map(|((_, _, c), _)| c.clone())
            .collect();
        if *owner != 0 {
            for parent in [format!("{js}/{account}"), format!("{js}/{account}/streams")] {
                if !target.store.abs(&parent).is_dir() && made.insert(parent.clone()) {
                    changes.push(Change::Mkdir(Mkdir {
                        path: parent,
                        reason: format!(
                            "account `{account}` is not in this store; a stream of it is copied in"
                        ),
                        mode: 0o750,
                    }));
                }
            }
            let source = &survivors[*owner];
            // Left out of the copy: consumers whose better copy is elsewhere, and a
            // `msgs/index.db` the source's own plan would move out (its log tail).
            let mut exclude: Vec<String> = consumers_elsewhere
                .iter()
                .map(|c| format!("obs/{c}"))
                .filter(|x| source.store.abs(&format!("{stream_dir}/{x}")).exists())
                .collect();
            let index_db = format!("{stream_dir}/msgs/index.db");
            if plans[*owner]
                .changes
                .iter()
                .any(|c| matches!(c, Change::Remove(r) if r.path == index_db))
            {
                exclude.push("msgs/index.db".into());
            }
            let choice = &section.streams[owners.stream_choice[&key]];
            if target.store.abs(&stream_dir).exists() {
                changes.push(remove_of(
                    &target.store,
                    &stream_dir,
                    format!(
                        "this store's copy of the stream is not the most complete: {} has a \
                         better one, copied in next; this one goes into the backup",
                        source.label()
                    ),
                )?);
            }
            changes.push(copy_of(
                &source.store,
                &stream_dir,
                &exclude,
                reason(choice),
            )?);
            copied.0 += 1;
        }
        // Consumers whose best copy is in another survivor than the stream's.
        for c in &consumers_elsewhere {
            let consumer_dir = format!("{stream_dir}/obs/{c}");
            let ckey = (account.clone(), dir.clone(), c.clone());
            let from = &survivors[owners.consumers[&ckey]];
            if *owner == 0 && target.store.abs(&consumer_dir).exists() {
                changes.push(remove_of(
                    &target.store,
                    &consumer_dir,
                    format!(
                        "this store's copy of the consumer is not the most complete: {} has a \
                         better one, copied in next; this one goes into the backup",
                        from.label()
                    ),
                )?);
            }
            let choice = &section.consumers[owners.consumer_choice[&ckey]];
            changes.push(copy_of(&from.store, &consumer_dir, &[], reason(choice))?);
            copied.1 += 1;
        }
    }
    // Each source's changes to what is now its own in the target, after the copies; what
    // the copies leave out is not removed again.
    for (k, plan) in plans.iter().enumerate().skip(1) {
        changes.extend(
            plan.changes
                .iter()
                .filter(|c| owners.of(c.path()) == k)
                .filter(|c| !matches!(c, Change::Remove(r) if r.path.ends_with("/msgs/index.db")))
                .cloned(),
        );
    }
    copied.2 = changes
        .iter()
        .map(|c| match c {
            Change::Copy(c) => c.bytes,
            _ => 0,
        })
        .sum();

    // Warnings: each copy's own, from the survivor it comes from; what the cluster had,
    // against all of them together; and one per copy, with why.
    let inventory = combined_inventory(survivors, &owners, &opts.names);
    let inventory_codes = [
        WarningCode::StreamNotHere,
        WarningCode::ConsumerNotHere,
        WarningCode::NotInCluster,
        WarningCode::BehindRaftState,
    ];
    let mut warnings: Vec<Warning> = Vec::new();
    for (k, plan) in plans.iter().enumerate() {
        warnings.extend(
            plan.warnings
                .iter()
                .filter(|w| !inventory_codes.contains(&w.code))
                .filter(|w| match &w.path {
                    Some(p) => owners.of(p) == k && (k == 0 || p.contains("/streams/")),
                    None => k == 0,
                })
                .cloned(),
        );
    }
    warnings.extend(
        report::inventory_warnings(&inventory)
            .into_iter()
            .filter(|w| inventory_codes.contains(&w.code)),
    );
    for (key, owner) in &owners.streams {
        if *owner != 0 {
            warnings.push(copied_warning(&section.streams[owners.stream_choice[key]]));
        }
    }
    for (key, owner) in &owners.consumers {
        let stream_owner = owners.streams[&(key.0.clone(), key.1.clone())];
        if *owner != stream_owner {
            warnings.push(copied_warning(
                &section.consumers[owners.consumer_choice[key]],
            ));
        }
    }

    let tail = merged_tail(&plans, &owners);
    let summary = summarize(&changes, &tail, copied, &owners);
    Ok(Manifest {
        schema: super::manifest::SCHEMA.into(),
        schema_version: super::manifest::SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        created_at: now,
        store: target.store.root.display().to_string(),
        summary,
        inventory: Some(inventory),
        tail: Some(tail),
        survivors: Some(section),
        warnings,
        changes,
    })
}

/// Why a copy was chosen, for the change's `reason`.
fn reason<T: Serialize>(c: &Choice<T>) -> String {
    let what = match &c.consumer {
        None => format!("stream `{}` (account `{}`)", c.stream, c.account),
        Some(n) => format!(
            "consumer `{n}` of stream `{}` (account `{}`)",
            c.stream, c.account
        ),
    };
    format!(
        "the most complete copy of {what} is {}'s ({}): {}",
        c.chosen,
        rule_words(c.rule),
        serde_json::to_string(&c.copies).unwrap_or_default()
    )
}

fn rule_words(r: Rule) -> &'static str {
    match r {
        Rule::OnlyCopy => "no other survivor holds it",
        Rule::AppliedFurther => "it applied further",
        Rule::LaterTimestamp => "its last message is later",
        Rule::MoreConsumers => "it holds more consumers",
        Rule::Equal => "the copies are equal",
        Rule::Preferred => "--prefer chose it; the copies disagree",
    }
}

fn copied_warning<T>(c: &Choice<T>) -> Warning {
    let path = match &c.consumer {
        None => format!("jetstream/{}/streams/{}", c.account, c.stream),
        Some(n) => format!("jetstream/{}/streams/{}/obs/{n}", c.account, c.stream),
    };
    let what = match &c.consumer {
        None => format!("stream `{}` (account `{}`)", c.stream, c.account),
        Some(n) => format!(
            "consumer `{n}` of stream `{}` (account `{}`)",
            c.stream, c.account
        ),
    };
    Warning::new(
        WarningCode::CopiedFromSurvivor,
        &path,
        format!(
            "{what} is copied in from {} ({}; the manifest's `survivors` section has every \
             copy's evidence)",
            c.chosen,
            rule_words(c.rule),
        ),
    )
}

fn remove_of(store: &Store, rel: &str, reason: String) -> Result<Change, PlanError> {
    Ok(Change::Remove(Remove::new(
        rel.to_string(),
        reason,
        tree::summarize(&store.abs(rel))?,
    )))
}

fn copy_of(
    source: &Store,
    rel: &str,
    exclude: &[String],
    reason: String,
) -> Result<Change, PlanError> {
    let summary = tree::summarize_excluding(&source.abs(rel), exclude)?;
    Ok(Change::Copy(CopyIn {
        path: rel.to_string(),
        reason,
        source: source.root.display().to_string(),
        source_path: rel.to_string(),
        exclude: exclude.to_vec(),
        files: summary.files,
        dirs: summary.dirs,
        bytes: summary.bytes,
        fingerprint: summary.fingerprint,
    }))
}

/// What the cluster had against every survivor together: classified against a store made
/// of the chosen copies.
fn combined_inventory(
    survivors: &[Survivor],
    owners: &Owners,
    names: &crate::store::inventory::Names,
) -> Inventory {
    let target = &survivors[0];
    let mut accounts: BTreeMap<String, Account> = BTreeMap::new();
    for ((account, dir), owner) in &owners.streams {
        let s = &survivors[*owner];
        let Some((a, st)) = s
            .store
            .streams()
            .find(|(a, st)| &a.name == account && &st.dir_name == dir)
        else {
            continue;
        };
        let mut st = st.clone();
        st.consumers.retain(|c| {
            owners
                .consumers
                .get(&(account.clone(), dir.clone(), c.name.clone()))
                == Some(owner)
        });
        for ((ca, cs, cn), co) in &owners.consumers {
            if ca == account && cs == dir && co != owner {
                if let Some(c) = survivors[*co]
                    .store
                    .streams()
                    .find(|(x, y)| &x.name == account && &y.dir_name == dir)
                    .and_then(|(_, y)| y.consumers.iter().find(|c| &c.name == cn))
                {
                    st.consumers.push(c.clone());
                }
            }
        }
        accounts
            .entry(account.clone())
            .or_insert_with(|| Account {
                name: a.name.clone(),
                dir: a.dir.clone(),
                streams: Vec::new(),
                raft: None,
                other_entries: Vec::new(),
            })
            .streams
            .push(st);
    }
    let composite = Store {
        root: target.store.root.clone(),
        accounts: accounts.into_values().collect(),
        notes: Vec::new(),
        keys: target.store.keys.clone(),
    };
    // The cluster as the survivor that saw most of it recorded it.
    let cluster = survivors
        .iter()
        .filter_map(|s| s.view.cluster.as_ref().ok())
        .max_by_key(|c| c.source.last_index)
        .cloned()
        .ok_or_else(|| {
            target
                .view
                .cluster
                .as_ref()
                .err()
                .cloned()
                .unwrap_or(crate::store::cluster::NoView::NoMetaGroup)
        });
    let mut inventory = Inventory::new(&composite, &cluster, names);
    inventory.survivors = survivors.len();
    for asset in &mut inventory.streams {
        let key = (asset.account.clone(), asset.name.clone());
        if let Some(o) = owners.streams.get(&key).filter(|o| **o != 0) {
            asset.held_by = Some(survivors[*o].label());
        }
        for c in &mut asset.consumers {
            let ck = (key.0.clone(), key.1.clone(), c.name.clone());
            if let Some(o) = owners.consumers.get(&ck).filter(|o| **o != 0) {
                c.held_by = Some(survivors[*o].label());
            }
        }
    }
    inventory
}

/// The tail sections of every survivor's plan, each stream and consumer from the survivor
/// whose copy is used.
fn merged_tail(plans: &[Manifest], owners: &Owners) -> TailPlan {
    let mut out = TailPlan {
        mode: plans[0].tail.as_ref().map_or(TailMode::All, |t| t.mode),
        streams: Vec::new(),
        consumers: Vec::new(),
        problems: Vec::new(),
    };
    for (k, plan) in plans.iter().enumerate() {
        let Some(t) = &plan.tail else { continue };
        out.streams.extend(
            t.streams
                .iter()
                .filter(|s| owners.of(&s.found.dir) == k)
                .cloned(),
        );
        out.consumers.extend(
            t.consumers
                .iter()
                .filter(|c| owners.of(&c.found.dir) == k)
                .cloned(),
        );
        out.problems.extend(t.problems.iter().cloned());
    }
    out
}

fn summarize(
    changes: &[Change],
    tail: &TailPlan,
    copied: (usize, usize, u64),
    owners: &Owners,
) -> Summary {
    let is_meta = |c: &Change, consumer: bool| matches!(c, Change::Edit(e) if e.path.ends_with("/meta.inf") && e.path.contains("/obs/") == consumer);
    let recount = |f: &dyn Fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count();
    Summary {
        streams: owners.streams.len(),
        consumers: owners.consumers.len(),
        streams_edited: recount(&|c| is_meta(c, false)),
        consumers_edited: recount(&|c| is_meta(c, true)),
        files_edited: recount(&|c| matches!(c, Change::Edit(_))),
        dirs_removed: recount(&|c| matches!(c, Change::Remove(_))),
        bytes_removed: changes
            .iter()
            .map(|c| match c {
                Change::Remove(r) => r.bytes,
                _ => 0,
            })
            .sum(),
        consumers_recreated: recount(
            &|c| matches!(c, Change::Mkdir(d) if d.path.contains("/obs/")),
        ),
        tail_messages: tail
            .streams
            .iter()
            .flat_map(|s| &s.recovered)
            .map(|r| r.count() as usize)
            .sum(),
        tail_consumers: tail
            .consumers
            .iter()
            .filter(|c| c.written.is_some())
            .count(),
        streams_copied: copied.0,
        consumers_copied: copied.1,
        bytes_copied: copied.2,
    }
}

/// Reads every store given: the target first. Each must be a different store.
pub fn read_all(target: Store, sources: Vec<Store>) -> Result<Vec<Survivor>, PlanError> {
    let mut seen: Vec<PathBuf> = vec![target.root.clone()];
    for s in &sources {
        if seen.iter().any(|x| same_dir(x, &s.root)) {
            return Err(PlanError::SameStore {
                path: s.root.clone(),
            });
        }
        seen.push(s.root.clone());
    }
    Ok(std::iter::once(target)
        .chain(sources)
        .map(Survivor::read)
        .collect())
}
