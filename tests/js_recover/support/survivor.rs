//! The one-call setup most tests want: a populated cluster that lost quorum,
//! reduced to a copy of the survivor's store plus what must be recovered.

use std::path::Path;

use tempfile::TempDir;

use super::cluster::{Cluster, ClusterOpts, SurvivorStop};
use super::config::{Encryption, SysAccount};
use super::fsutil::copy_tree;
use super::nats_server::default_version;
use super::observe::snapshot;
use super::scenario::{populate, Expectations};

/// How to build the survivor.
#[derive(Debug, Clone)]
pub struct SurvivorOpts {
    pub version: String,
    pub sys: SysAccount,
    /// Which node survives.
    pub survivor: Keep,
    pub stop: SurvivorStop,
    /// Encryption at rest for every node.
    pub encryption: Option<Encryption>,
}

impl Default for SurvivorOpts {
    fn default() -> Self {
        SurvivorOpts {
            version: default_version(),
            sys: SysAccount::Default,
            survivor: Keep::Follower,
            stop: SurvivorStop::Clean,
            encryption: None,
        }
    }
}

/// Which node of the three survives the quorum loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// A node that is not the meta leader: its meta state is the replicated one.
    Follower,
    /// The meta leader: the node that wrote the meta snapshots.
    MetaLeader,
    /// Node `n1`..`n3` by index.
    Node(usize),
}

/// A copied survivor store; the temp dir goes away with it.
#[derive(Debug)]
pub struct Survivor {
    /// Root of the store: the dir holding `jetstream/`.
    pub store: TempDir,
    /// The cluster's state right before the quorum loss.
    pub expectations: Expectations,
    pub version: String,
    pub sys: SysAccount,
    pub encryption: Option<Encryption>,
    /// Server name of the surviving node (`n1`..`n3`).
    pub node: String,
    /// The surviving node's log, up to its stop.
    pub node_log: String,
    /// Streams and consumers (`acct > stream[ > consumer]`) seen caught up
    /// on the survivor right before the other nodes died.
    pub replicated: Vec<String>,
}

impl Survivor {
    /// The store dir (holds `jetstream/`).
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// Copies the store into `dst`, for one more experiment.
    pub fn copy_to(&self, dst: &Path) {
        copy_tree(self.path(), dst);
    }

    /// A fresh temp copy of the store.
    pub fn copy(&self) -> TempDir {
        let dir = tempfile::Builder::new()
            .prefix("js-recover-copy-")
            .tempdir()
            .expect("copy temp dir");
        self.copy_to(dir.path());
        dir
    }
}

/// Starts a cluster, fills it, records expectations, loses quorum and
/// returns the survivor's store. Nothing is shared between calls.
pub async fn survivor(opts: SurvivorOpts) -> Survivor {
    let copts = ClusterOpts {
        version: opts.version.clone(),
        sys: opts.sys,
        encryption: opts.encryption,
        ..ClusterOpts::default()
    };
    let mut cluster = Cluster::start(&copts).await;
    let keep = match opts.survivor {
        Keep::Node(i) => i,
        Keep::MetaLeader => cluster.meta_leader().await,
        Keep::Follower => (cluster.meta_leader().await + 1) % cluster.nodes.len(),
    };
    populate(&cluster, keep).await;
    let replicated = cluster.wait_replicated_to(keep).await;
    let expectations = snapshot(&cluster.url(keep)).await;
    // lose_quorum waits again, so nothing written since is left behind.
    let store = cluster.lose_quorum_with(keep, opts.stop).await;
    Survivor {
        store,
        expectations,
        version: opts.version,
        sys: opts.sys,
        encryption: opts.encryption,
        node: cluster.nodes[keep].name.clone(),
        node_log: cluster.nodes[keep].log(),
        replicated,
    }
}
