//! A JetStream cluster of 3 (or 5) nodes on loopback, and losing its quorum.
//!
//! Nodes are `n1`..`nN` of cluster `C1`, tagged `az:1`..`az:N` (plus any tags the test
//! asks for, to place streams on chosen node sets), each with its own store dir under one
//! temp dir. `lose_quorum` crashes every node but one and hands back a copy of that
//! node's store, which is what an operator has in hand when running js-recover.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use super::config::{self, Account, Encryption, SysAccount};
use super::fsutil::copy_tree;
use super::nats_server::{default_version, Server, ServerSpec};
use super::{net, replication};

/// Cluster name in every node's config.
pub const CLUSTER_NAME: &str = "C1";

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterOpts {
    pub version: String,
    pub sys: SysAccount,
    pub encryption: Option<Encryption>,
    /// Number of nodes.
    pub size: usize,
    /// Extra server tags per node (index = node), for placement on node sets.
    pub tags: Vec<Vec<String>>,
    /// The accounts part of every node's config, instead of the tests' accounts for `sys`
    /// (operator mode: `operator`, `system_account`, `resolver`).
    pub accounts: Option<String>,
}

impl Default for ClusterOpts {
    fn default() -> Self {
        ClusterOpts {
            version: default_version(),
            sys: SysAccount::Default,
            encryption: None,
            size: 3,
            tags: Vec::new(),
            accounts: None,
        }
    }
}

/// How the survivor goes down after the other two are crashed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SurvivorStop {
    /// SIGTERM: the survivor flushes its stores (an operator stopping it).
    #[default]
    Clean,
    /// SIGKILL: the survivor crashes too; unflushed state may be missing.
    Kill,
}

/// A running cluster; dropping it kills every node still running.
#[derive(Debug)]
pub struct Cluster {
    /// Declared before `dir`: fields drop in order, so the nodes are dead
    /// before their store dirs are removed.
    pub nodes: Vec<Server>,
    pub dir: TempDir,
    /// Per node, the configured `store_dir` (it holds `jetstream/`).
    pub store_dirs: Vec<PathBuf>,
    pub version: String,
    pub sys: SysAccount,
}

impl Cluster {
    /// Starts the nodes and waits for a meta leader with all peers current.
    ///
    /// nats-server 2.10 sometimes forms a meta group that never learns one of three nodes
    /// started together (the leader lists one peer, for good); a cluster not ready in 20 s
    /// is discarded and a fresh one started, up to three times.
    pub async fn start(opts: &ClusterOpts) -> Cluster {
        let mut why = String::new();
        for attempt in 1..=3 {
            let cluster = Self::start_once(opts).await;
            match cluster.wait_meta_ready(Duration::from_secs(20)).await {
                Ok(()) => return cluster,
                Err(w) => {
                    eprintln!(
                        "nats-server {} cluster not ready (attempt {attempt}): {w}",
                        opts.version
                    );
                    why = format!("{w}\n{}", cluster.logs());
                }
            }
        }
        panic!("cluster not ready three times: {why}");
    }

    async fn start_once(opts: &ClusterOpts) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("js-recover-cluster-")
            .tempdir()
            .expect("cluster temp dir");
        let store_dirs = (0..opts.size)
            .map(|i| dir.path().join(node_name(i)).join("store"))
            .collect();
        let nodes = start_nodes(opts, dir.path()).await;
        Cluster {
            nodes,
            dir,
            store_dirs,
            version: opts.version.clone(),
            sys: opts.sys,
        }
    }

    /// Server tag of node `index`, e.g. `az:2` for `n2`.
    pub fn tag(index: usize) -> String {
        format!("az:{}", index + 1)
    }

    /// Client URL of node `index`.
    pub fn url(&self, index: usize) -> String {
        self.nodes[index].url()
    }

    /// A client logged in as `account`'s user, connected to node 0.
    pub async fn connect(&self, account: Account) -> async_nats::Client {
        connect(&self.nodes[0].url(), account).await
    }

    /// Index of the current meta leader.
    pub async fn meta_leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(jsz) = self.nodes[0].jsz("").await {
                let leader = jsz["meta_cluster"]["leader"].as_str().unwrap_or_default();
                if let Some(i) = self.nodes.iter().position(|n| n.name == leader) {
                    return i;
                }
            }
            assert!(Instant::now() < deadline, "cluster has no meta leader");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_meta_ready(&self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut why = String::new();
        while Instant::now() < deadline {
            match self.meta_not_ready().await {
                None => return Ok(()),
                Some(w) => why = w,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("not ready after {limit:?}: {why}"))
    }

    /// Why the meta layer is not ready yet, or None when it is.
    async fn meta_not_ready(&self) -> Option<String> {
        let mut leaders = Vec::new();
        for node in &self.nodes {
            let jsz = match node.jsz("").await {
                Ok(j) => j,
                Err(e) => return Some(format!("{}: /jsz: {e}", node.name)),
            };
            let meta = &jsz["meta_cluster"];
            let leader = meta["leader"].as_str().unwrap_or_default().to_string();
            if leader == node.name {
                let replicas = meta["replicas"].as_array().cloned().unwrap_or_default();
                let current = replicas
                    .iter()
                    .filter(|r| r["current"] == Value::Bool(true));
                if current.count() != self.nodes.len() - 1 {
                    return Some(format!("meta peers not all current: {replicas:?}"));
                }
            }
            leaders.push(leader);
        }
        if leaders[0].is_empty() || leaders.iter().any(|l| *l != leaders[0]) {
            return Some(format!("meta leader views differ: {leaders:?}"));
        }
        for node in &self.nodes {
            if !node.healthy().await {
                return Some(format!("{}: /healthz not ok", node.name));
            }
        }
        None
    }

    /// Waits until every stream and consumer the survivor takes part in is
    /// current on it, matching its leader's state (see `replication`).
    /// Returns the entries checked, as `acct > stream[ > consumer]`.
    pub async fn wait_replicated_to(&self, survivor: usize) -> Vec<String> {
        replication::wait_replicated_to(&self.nodes, survivor).await
    }

    /// Waits until every node has stored `acct > stream` up to `last_seq` in its own
    /// store (see `replication::wait_stored_everywhere`).
    pub async fn wait_stored_everywhere(&self, acct: &str, stream: &str, last_seq: u64) {
        replication::wait_stored_everywhere(&self.nodes, acct, stream, last_seq).await
    }

    /// What the nodes say of `acct > stream`'s group (see `replication::group`).
    pub async fn group(&self, acct: &str, stream: &str) -> Result<replication::Group, String> {
        replication::group(&self.nodes, acct, stream).await
    }

    /// Crashes every node but `survivor`, stops the survivor cleanly and
    /// returns a copy of its store dir (the dir holding `jetstream/`).
    pub async fn lose_quorum(&mut self, survivor: usize) -> TempDir {
        self.lose_quorum_with(survivor, SurvivorStop::Clean).await
    }

    /// `lose_quorum` with a choice of how the survivor goes down.
    pub async fn lose_quorum_with(&mut self, survivor: usize, stop: SurvivorStop) -> TempDir {
        self.wait_replicated_to(survivor).await;
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if i != survivor {
                node.kill();
            }
        }
        let node = &mut self.nodes[survivor];
        match stop {
            SurvivorStop::Clean => {
                node.stop().await;
            }
            SurvivorStop::Kill => node.kill(),
        }
        let copy = tempfile::Builder::new()
            .prefix("js-recover-survivor-")
            .tempdir()
            .expect("survivor temp dir");
        copy_tree(&self.store_dirs[survivor], copy.path());
        copy
    }

    /// SIGKILLs every node at once (a region outage): the signals go out back to back,
    /// then each process is reaped.
    pub fn crash_all(&mut self) {
        for node in &mut self.nodes {
            node.send_kill();
        }
        for node in &mut self.nodes {
            node.kill();
        }
    }

    /// Every node's log, headed by its name, for panic messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out += &format!("----- {} log -----\n{}\n", node.name, node.log());
        }
        out
    }
}

/// A client logged in as `account`'s user.
pub async fn connect(url: &str, account: Account) -> async_nats::Client {
    async_nats::ConnectOptions::with_user_and_password(account.user.into(), account.password.into())
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to {url} as `{}`: {e}", account.user))
}

/// Starts every node, on fresh ports again if one lost a port race.
async fn start_nodes(opts: &ClusterOpts, root: &std::path::Path) -> Vec<Server> {
    for _ in 0..3 {
        let routes: Vec<u16> = (0..opts.size).map(|_| net::free_port()).collect();
        let specs = (0..opts.size).map(|i| node_spec(opts, root, i, &routes));
        // Concurrently: a lone node waits for routes before it is useful.
        let started = futures::future::join_all(specs.map(Server::try_start)).await;
        match started.into_iter().collect::<Result<Vec<_>, _>>() {
            Ok(nodes) => return nodes,
            Err(e) if e.port_taken() => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("cluster nodes lost a port race three times")
}

pub fn node_name(index: usize) -> String {
    format!("n{}", index + 1)
}

fn node_spec(opts: &ClusterOpts, root: &std::path::Path, i: usize, routes: &[u16]) -> ServerSpec {
    let name = node_name(i);
    let work_dir = root.join(&name);
    let store = work_dir.join("store");
    let (port, http_port) = (net::free_port(), net::free_port());
    let others: Vec<String> = (0..routes.len())
        .filter(|&j| j != i)
        .map(|j| format!("nats-route://127.0.0.1:{}", routes[j]))
        .collect();
    let config = format!(
        "server_name: {name}\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{http_port}\n\
         server_tags: [{tags}]\n\
         {jetstream}\
         cluster {{ name: {CLUSTER_NAME}, listen: 127.0.0.1:{route}, routes: [{others}] }}\n{accounts}",
        tags = std::iter::once(Cluster::tag(i))
            .chain(opts.tags.get(i).cloned().unwrap_or_default())
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(", "),
        jetstream = config::jetstream_block(&store, opts.encryption),
        route = routes[i],
        others = others.join(", "),
        accounts = opts
            .accounts
            .clone()
            .unwrap_or_else(|| config::accounts_block(opts.sys)),
    );
    ServerSpec {
        version: opts.version.clone(),
        name,
        work_dir,
        port,
        http_port,
        config,
        env: Vec::new(),
    }
}
