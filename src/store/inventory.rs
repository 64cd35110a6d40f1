//! What the lost cluster had, against what this store holds: every stream and consumer of
//! the cluster's meta state ([`super::cluster`]) classified, and the store's own assets the
//! cluster did not know.
//!
//! # Wire format
//!
//! The `inventory` section of `inspect --json` and of a plan:
//!
//! ```json
//! { "available": true, "unavailable": null,
//!   "source": { "snapshot": [1, 15], "ops_applied": 2, "last_index": 17, "commit": 17,
//!               "past_commit": 0 },
//!   "self_peer": { "id": "S6Ssxh8h", "name": "n1" },
//!   "summary": { "streams": 9, "streams_here": 5, "consumers": 11, "consumers_here": 8 },
//!   "streams": [ { "account": "A", "name": "GC", "class": "not-here", "replicas": 3,
//!                  "storage": "file", "retention": "limits", "group": "S-R3F-abc",
//!                  "peers": [ { "id": "yrzKKRBu", "name": null } ],
//!                  "store_last_seq": null, "raft_last_seq": null, "durable": null,
//!                  "consumers": [ ... the same fields, with "durable" ... ] } ],
//!   "problems": [] }
//! ```
//!
//! `class` is one of [`Class`]: `here` (this store holds it, and as far as this node's own
//! Raft group tells, all of it), `here-behind` (held, but the node's Raft snapshot knew a
//! later sequence or ack floor), `assigned-here-missing` (this node was one of its peers,
//! yet its directory is not in the store), `not-here` (held only by other peers, named),
//! `memory` (memory storage: never on any disk), `not-in-cluster` (in this store, unknown to
//! the cluster's meta state: deleted there). `available` is false, with `unavailable`
//! saying why, when the store has no readable meta group (a standalone server's store, or
//! a survivor whose Raft state is gone); the lists are then empty.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::cluster::{self, Cluster, MetaSource, NoView};
use super::jsops::meta::{ConsumerAssignment, Storage, StreamAssignment};
use super::Store;

/// How an asset of the cluster stands in this store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    Here,
    HereBehind,
    AssignedHereMissing,
    NotHere,
    Memory,
    NotInCluster,
}

impl Asset {
    /// Held here, and this node's Raft snapshot knew a later sequence (a stream) or ack
    /// floor (a consumer) than the store holds.
    pub fn raft_ahead(&self) -> bool {
        self.store_last_seq.is_some() && self.raft_last_seq > self.store_last_seq
    }
}

impl Class {
    pub fn held(self) -> bool {
        matches!(self, Class::Here | Class::HereBehind | Class::NotInCluster)
    }

    /// Words for a person.
    pub fn describe(self) -> &'static str {
        match self {
            Class::Here => "here",
            Class::HereBehind => "here, behind what this node's Raft state knew",
            Class::AssignedHereMissing => "assigned to this node, but missing from the store",
            Class::NotHere => "only on other peers",
            Class::Memory => "memory storage, on no disk",
            Class::NotInCluster => "in this store, unknown to the cluster (deleted there?)",
        }
    }
}

/// A peer: its id, and the server name when the operator gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    pub id: String,
    pub name: Option<String>,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "{n}"),
            None => write!(f, "{}", self.id),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub account: String,
    pub name: String,
    pub class: Class,
    /// As the cluster configured it (`num_replicas`; 0 for a consumer means "as the stream").
    pub replicas: Option<i64>,
    pub storage: Option<String>,
    /// Streams: the retention policy.
    pub retention: Option<String>,
    /// Consumers: durable or ephemeral.
    pub durable: Option<bool>,
    pub group: Option<String>,
    pub peers: Vec<Peer>,
    /// Held here: the store's last sequence (a stream) or ack floor (a consumer).
    pub store_last_seq: Option<u64>,
    /// What this node's Raft snapshot of the group knew of the same.
    pub raft_last_seq: Option<u64>,
    /// A stream whose configuration lets one replica refuse alone (see
    /// [`super::tail::may_refuse_alone`]): the proposals this node's Raft snapshot counts
    /// as failed here (`clfs`). nats-server 2.10 and 2.11 drop, on a follower that applies
    /// a seal or a lower limit before messages already in its log, messages the other
    /// replicas stored, and compact that log at once; a failure every replica shared (a
    /// duplicate) counts too. Another copy may hold up to this many more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_here: Option<u64>,
    pub consumers: Vec<Asset>,
    /// Several survivors: the store_dir of the survivor whose copy is used, when it is not
    /// the target's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_by: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub streams: usize,
    pub streams_here: usize,
    pub consumers: usize,
    pub consumers_here: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    pub available: bool,
    pub unavailable: Option<NoView>,
    pub source: Option<MetaSource>,
    pub self_peer: Option<Peer>,
    pub summary: Summary,
    pub streams: Vec<Asset>,
    /// Streams whose removal this node had but never learned was committed.
    #[serde(default)]
    pub uncommitted_removals: BTreeSet<(String, String)>,
    pub problems: Vec<String>,
    /// How many survivors' stores this inventory is of (1 unless `--from` gave more).
    #[serde(default = "one")]
    pub survivors: usize,
}

fn one() -> usize {
    1
}

/// Server names the operator gave, by peer id.
#[derive(Debug, Clone, Default)]
pub struct Names(BTreeMap<String, String>);

impl Names {
    pub fn new(server_names: &[String]) -> Names {
        Names(
            server_names
                .iter()
                .map(|n| (cluster::peer_id(n), n.clone()))
                .collect(),
        )
    }

    fn peer(&self, id: &str) -> Peer {
        Peer {
            id: id.to_string(),
            name: self.0.get(id).cloned(),
        }
    }
}

/// The cluster as `store`'s Raft state records it (see [`cluster::read`]).
pub fn read_cluster(store: &Store) -> Result<Cluster, NoView> {
    let raft_dir = store
        .accounts
        .iter()
        .find_map(|a| a.raft.as_ref().map(|r| store.abs(&r.dir)));
    match &raft_dir {
        None => Err(NoView::NoMetaGroup),
        Some(dir) => cluster::read(
            dir,
            store.keys.as_ref(),
            &local_streams(store).keys().cloned().collect(),
        ),
    }
}

impl Inventory {
    /// Classifies every asset of `cluster` (from [`read_cluster`]) against `store`.
    pub fn new(store: &Store, cluster: &Result<Cluster, NoView>, names: &Names) -> Inventory {
        let local = local_streams(store);
        match cluster {
            Err(why) => Inventory {
                available: false,
                unavailable: Some(why.clone()),
                source: None,
                self_peer: None,
                summary: Summary::default(),
                streams: Vec::new(),
                uncommitted_removals: BTreeSet::new(),
                problems: Vec::new(),
                survivors: 1,
            },
            Ok(cluster) => classify(cluster, &local, names),
        }
    }

    /// The cluster's assets this store does not hold, as `account/stream` or
    /// `account/stream/consumer` with why.
    pub fn missing(&self) -> impl Iterator<Item = (&Asset, Option<&Asset>)> {
        self.streams.iter().flat_map(|s| {
            let stream = (!s.class.held() && s.class != Class::NotInCluster).then_some((s, None));
            let consumers = s
                .consumers
                .iter()
                .filter(|c| !c.class.held())
                .map(move |c| (s, Some(c)));
            stream.into_iter().chain(consumers)
        })
    }

    /// "this survivor holds 5 of 9 streams and 8 of 11 consumers the cluster had; not here:
    /// ...", or why there is no inventory.
    pub fn headline(&self) -> String {
        let Some(_) = &self.source else {
            return match &self.unavailable {
                Some(NoView::NoMetaGroup) | None => {
                    "no Raft state: what the cluster had cannot be \
                     told from this store"
                        .into()
                }
                Some(NoView::Unreadable(why)) => {
                    format!(
                        "the cluster's meta state could not be read ({why}); what the cluster \
                             had cannot be told"
                    )
                }
            };
        };
        let s = &self.summary;
        let who = match self.survivors {
            0 | 1 => "this survivor holds".to_string(),
            n => format!("these {n} survivors hold"),
        };
        let mut line = format!(
            "{who} {} of {} streams and {} of {} consumers the cluster had",
            s.streams_here, s.streams, s.consumers_here, s.consumers
        );
        let missing: Vec<String> = self
            .missing()
            .map(|(st, c)| {
                let what = match c {
                    None => format!("{}/{}", st.account, st.name),
                    Some(c) => format!("{}/{}/{}", st.account, st.name, c.name),
                };
                let asset = c.unwrap_or(st);
                match asset.class {
                    Class::NotHere => {
                        let mut peers: Vec<String> = asset
                            .peers
                            .iter()
                            .filter(|p| Some(&p.id) != self.self_peer.as_ref().map(|m| &m.id))
                            .map(ToString::to_string)
                            .collect();
                        peers.sort();
                        format!("{what} (on lost peers {})", peers.join(", "))
                    }
                    other => format!("{what} ({})", other.describe()),
                }
            })
            .collect();
        if !missing.is_empty() {
            line += &format!("; not here: {}", missing.join(", "));
        }
        line
    }
}

/// The streams this store holds, by (account, name), with their directories' state.
fn local_streams(store: &Store) -> BTreeMap<(String, String), &super::Stream> {
    store
        .streams()
        .map(|(a, s)| ((a.name.clone(), s.name().to_string()), s))
        .collect()
}

fn classify(
    cluster: &Cluster,
    local: &BTreeMap<(String, String), &super::Stream>,
    names: &Names,
) -> Inventory {
    let me = cluster.self_peer.clone();
    let mut streams = Vec::new();
    let mut known = BTreeSet::new();
    for sa in &cluster.streams {
        let key = (sa.account.clone(), sa.name.clone());
        known.insert(key.clone());
        let here = local.get(&key).copied();
        streams.push(stream_asset(sa, here, cluster, me.as_deref(), names));
    }
    // The store's own streams the cluster never heard of (or deleted).
    for ((account, name), s) in local {
        if known.contains(&(account.clone(), name.clone())) {
            continue;
        }
        streams.push(Asset {
            account: account.clone(),
            name: name.clone(),
            class: Class::NotInCluster,
            replicas: s.meta.as_ref().and_then(|m| m.replicas()),
            storage: Some("file".into()),
            retention: s.meta.as_ref().and_then(|m| m.str_field("retention")),
            durable: None,
            group: None,
            peers: Vec::new(),
            store_last_seq: s.state.as_ref().ok().map(|st| st.last_seq),
            raft_last_seq: None,
            consumers: s
                .consumers
                .iter()
                .map(|c| Asset {
                    account: account.clone(),
                    name: c.name.clone(),
                    class: Class::NotInCluster,
                    replicas: c.meta.as_ref().and_then(|m| m.replicas()),
                    storage: Some("file".into()),
                    retention: None,
                    durable: None,
                    group: None,
                    peers: Vec::new(),
                    store_last_seq: c.state.as_ref().ok().map(|st| st.ack_floor_stream_seq),
                    raft_last_seq: None,
                    consumers: Vec::new(),
                    held_by: None,
                    refused_here: None,
                })
                .collect(),
            held_by: None,
            refused_here: None,
        });
    }
    streams.sort_by(|a, b| (&a.account, &a.name).cmp(&(&b.account, &b.name)));
    let cluster_assets = |s: &&Asset| s.class != Class::NotInCluster;
    let summary = Summary {
        streams: streams.iter().filter(cluster_assets).count(),
        streams_here: streams
            .iter()
            .filter(cluster_assets)
            .filter(|s| s.class.held())
            .count(),
        consumers: streams
            .iter()
            .flat_map(|s| &s.consumers)
            .filter(cluster_assets)
            .count(),
        consumers_here: streams
            .iter()
            .flat_map(|s| &s.consumers)
            .filter(cluster_assets)
            .filter(|c| c.class.held())
            .count(),
    };
    Inventory {
        available: true,
        unavailable: None,
        source: Some(cluster.source.clone()),
        self_peer: me.as_deref().map(|id| names.peer(id)),
        summary,
        streams,
        uncommitted_removals: cluster.uncommitted_removals.clone(),
        problems: cluster.problems.clone(),
        survivors: 1,
    }
}

fn storage_word(s: Storage) -> &'static str {
    match s {
        Storage::File => "file",
        Storage::Memory => "memory",
    }
}

fn stream_asset(
    sa: &StreamAssignment,
    here: Option<&super::Stream>,
    cluster: &Cluster,
    me: Option<&str>,
    names: &Names,
) -> Asset {
    let head = cluster.groups.get(&sa.group.name);
    let snapshot = head.and_then(|h| h.stream.as_ref());
    let raft_last_seq = snapshot.map(|s| s.last_seq);
    let store_last_seq = here
        .and_then(|s| s.state.as_ref().ok())
        .map(|st| st.last_seq);
    let may_refuse = super::tail::may_refuse_alone(|k| sa.config.get(k).cloned());
    let refused_here = snapshot
        .map(|s| s.failed)
        .filter(|&failed| failed > 0 && may_refuse && here.is_some());
    let class = match here {
        Some(_) if raft_last_seq > store_last_seq && store_last_seq.is_some() => Class::HereBehind,
        Some(_) if refused_here.is_some() => Class::HereBehind,
        Some(_) => Class::Here,
        None if sa.group.storage == Storage::Memory => Class::Memory,
        None if me.is_some_and(|m| sa.group.peers.iter().any(|p| p == m)) => {
            Class::AssignedHereMissing
        }
        None => Class::NotHere,
    };
    let local_consumers: BTreeMap<&str, &super::Consumer> = here
        .map(|s| s.consumers.iter().map(|c| (c.name.as_str(), c)).collect())
        .unwrap_or_default();
    let mut consumers: Vec<Asset> = sa
        .consumers
        .iter()
        .map(|ca| {
            consumer_asset(
                sa,
                ca,
                local_consumers.get(ca.name.as_str()).copied(),
                cluster,
                me,
                names,
            )
        })
        .collect();
    let known: BTreeSet<&str> = sa.consumers.iter().map(|c| c.name.as_str()).collect();
    for (name, c) in &local_consumers {
        if !known.contains(name) {
            consumers.push(Asset {
                account: sa.account.clone(),
                name: name.to_string(),
                class: Class::NotInCluster,
                replicas: c.meta.as_ref().and_then(|m| m.replicas()),
                storage: Some("file".into()),
                retention: None,
                durable: None,
                group: None,
                peers: Vec::new(),
                store_last_seq: c.state.as_ref().ok().map(|st| st.ack_floor_stream_seq),
                raft_last_seq: None,
                consumers: Vec::new(),
                held_by: None,
                refused_here: None,
            });
        }
    }
    consumers.sort_by(|a, b| a.name.cmp(&b.name));
    Asset {
        account: sa.account.clone(),
        name: sa.name.clone(),
        class,
        replicas: sa.config.get("num_replicas").and_then(|v| v.as_i64()),
        storage: Some(storage_word(sa.group.storage).into()),
        retention: sa
            .config
            .get("retention")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        durable: None,
        group: Some(sa.group.name.clone()),
        peers: sa.group.peers.iter().map(|p| names.peer(p)).collect(),
        store_last_seq,
        raft_last_seq,
        consumers,
        held_by: None,
        refused_here,
    }
}

fn consumer_asset(
    sa: &StreamAssignment,
    ca: &ConsumerAssignment,
    here: Option<&super::Consumer>,
    cluster: &Cluster,
    me: Option<&str>,
    names: &Names,
) -> Asset {
    let head = cluster.groups.get(&ca.group.name);
    let raft_floor = head
        .and_then(|h| h.consumer.as_ref())
        .map(|c| c.ack_floor_stream);
    let store_floor = here
        .and_then(|c| c.state.as_ref().ok())
        .map(|st| st.ack_floor_stream_seq);
    let memory = ca.group.storage == Storage::Memory
        || ca.config.get("mem_storage").and_then(|v| v.as_bool()) == Some(true);
    let durable = ca
        .config
        .get("durable_name")
        .and_then(|v| v.as_str())
        .is_some_and(|d| !d.is_empty());
    let class = match here {
        Some(_) if raft_floor > store_floor && store_floor.is_some() => Class::HereBehind,
        Some(_) => Class::Here,
        None if memory => Class::Memory,
        None if me.is_some_and(|m| ca.group.peers.iter().any(|p| p == m)) => {
            Class::AssignedHereMissing
        }
        None => Class::NotHere,
    };
    Asset {
        account: sa.account.clone(),
        name: ca.name.clone(),
        class,
        replicas: ca.config.get("num_replicas").and_then(|v| v.as_i64()),
        storage: Some(if memory { "memory" } else { "file" }.into()),
        retention: None,
        durable: Some(durable),
        group: Some(ca.group.name.clone()),
        peers: ca.group.peers.iter().map(|p| names.peer(p)).collect(),
        store_last_seq: store_floor,
        raft_last_seq: raft_floor,
        consumers: Vec::new(),
        held_by: None,
        refused_here: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_survivor_holds_everything_its_cluster_had() {
        let store = Store::open(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/survivor"),
        )
        .unwrap();
        let inv = Inventory::new(&store, &read_cluster(&store), &Names::default());
        assert!(inv.available, "{:?}", inv.unavailable);
        assert_eq!(
            (inv.summary.streams, inv.summary.streams_here),
            (6, 6),
            "{}",
            inv.headline()
        );
        assert_eq!(inv.summary.consumers, inv.summary.consumers_here);
        assert!(inv.missing().next().is_none());
        assert!(
            inv.headline()
                .starts_with("this survivor holds 6 of 6 streams and 6 of 6 consumers"),
            "{}",
            inv.headline()
        );
    }
}
