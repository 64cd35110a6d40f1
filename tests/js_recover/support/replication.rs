//! Waiting until the survivor holds everything the cluster acknowledged.
//!
//! Each node's `/jsz` reports its *local* copy of every stream and consumer
//! (followers report their store's state, see `consumer.infoWithSnapAndReply`
//! in server/consumer.go). Comparing the survivor's copy with the group
//! leader's, and checking the leader sees every replica current with no lag,
//! is what makes "the survivor has all the data" true before nodes die.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::nats_server::Server;

const JSZ_QUERY: &str = "accounts=true&streams=true&consumers=true";

/// Waits until the survivor is caught up and returns what it checked
/// (`acct > stream[ > consumer]`); panics with the gaps after 30 s.
pub async fn wait_replicated_to(nodes: &[Server], survivor: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut settled_once = false;
    loop {
        let (checked, gaps) = gaps(nodes, survivor).await;
        if gaps.is_empty() {
            // Require two clean looks apart: an ack in flight could land
            // between them.
            if settled_once {
                return checked;
            }
            settled_once = true;
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        settled_once = false;
        if Instant::now() > deadline {
            panic!(
                "survivor `{}` never caught up:\n  {}",
                nodes[survivor].name,
                gaps.join("\n  ")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until every node that holds `acct > stream` has stored up to `last_seq` in its
/// own store (`/jsz` reports each node's local state); panics after 30 s.
///
/// Raft's "current, no lag" says a replica *has* the entries, not that it applied them.
/// A config change goes through the meta group, not the stream's: a follower that
/// applies `sealed: true` before the last messages of its stream log drops them
/// (`processJetStreamMsg` bails on a sealed stream), and the group disagrees with itself.
pub async fn wait_stored_everywhere(nodes: &[Server], acct: &str, stream: &str, last_seq: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let behind = match group(nodes, acct, stream).await {
            Ok(g) => g.stored_short_of(last_seq),
            Err(e) => vec![e],
        };
        if behind.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{acct} > {stream} never reached seq {last_seq} on every replica:\n  {}",
                behind.join("\n  ")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the nodes' `/jsz` say of one stream's group, the leader's view of Raft beside
/// each member's own store.
#[derive(Debug)]
pub struct Group {
    pub leader: String,
    /// Per member, the leader included: the last sequence its own store holds, or None
    /// if it does not hold the stream.
    pub stored: BTreeMap<String, Option<u64>>,
    /// The replicas the leader sees current, with no lag: they hold every log entry.
    pub current: std::collections::BTreeSet<String>,
}

impl Group {
    /// "member: state" for every member whose store is short of `last_seq`.
    pub fn stored_short_of(&self, last_seq: u64) -> Vec<String> {
        self.stored
            .iter()
            .filter(|(_, stored)| stored.is_none_or(|s| s < last_seq))
            .map(|(member, stored)| format!("{member}: stored through {stored:?}"))
            .collect()
    }
}

/// The group of `acct > stream`, as its leader and each member report it.
pub async fn group(nodes: &[Server], acct: &str, stream: &str) -> Result<Group, String> {
    let key = format!("{acct} > {stream}");
    let mut views = BTreeMap::new();
    for node in nodes {
        views.insert(node.name.clone(), view(node).await?);
    }
    let leader = views
        .values()
        .find_map(|v| v.get(&key)?["cluster"]["leader"].as_str())
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("{key}: no leader"))?
        .to_string();
    let lead = views
        .get(&leader)
        .and_then(|v| v.get(&key))
        .ok_or_else(|| format!("{key}: leader {leader} does not report it"))?;
    let replicas = lead["cluster"]["replicas"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let name = |r: &Value| r["name"].as_str().unwrap_or_default().to_string();
    let current = replicas
        .iter()
        .filter(|r| r["current"] == json!(true) && r["lag"].as_u64().unwrap_or(0) == 0)
        .map(name)
        .collect();
    let members = std::iter::once(leader.clone()).chain(replicas.iter().map(name));
    let stored = members
        .map(|m| {
            let last = views.get(&m).and_then(|v| v.get(&key));
            let last = last.map(|e| e["state"]["last_seq"].as_u64().unwrap_or(0));
            (m, last)
        })
        .collect();
    Ok(Group {
        leader,
        stored,
        current,
    })
}

/// One node's view: "acct > stream[ > consumer]" -> jsz entry.
type View = BTreeMap<String, Value>;

async fn view(node: &Server) -> Result<View, String> {
    let jsz = node
        .jsz(JSZ_QUERY)
        .await
        .map_err(|e| format!("{}: /jsz: {e}", node.name))?;
    let mut out = View::new();
    for acct in jsz["account_details"].as_array().into_iter().flatten() {
        let a = acct["name"].as_str().unwrap_or_default();
        for stream in acct["stream_detail"].as_array().into_iter().flatten() {
            let s = stream["name"].as_str().unwrap_or_default();
            out.insert(format!("{a} > {s}"), stream.clone());
            for cons in stream["consumer_detail"].as_array().into_iter().flatten() {
                let c = cons["name"].as_str().unwrap_or_default();
                out.insert(format!("{a} > {s} > {c}"), cons.clone());
            }
        }
    }
    Ok(out)
}

/// What must agree between leader and survivor for an entry.
fn summary(entry: &Value) -> Value {
    if entry.get("ack_floor").is_some() {
        json!({
            "delivered": [entry["delivered"]["consumer_seq"], entry["delivered"]["stream_seq"]],
            "ack_floor": [entry["ack_floor"]["consumer_seq"], entry["ack_floor"]["stream_seq"]],
            "num_ack_pending": entry["num_ack_pending"],
        })
    } else {
        let st = &entry["state"];
        json!([st["messages"], st["bytes"], st["first_seq"], st["last_seq"]])
    }
}

/// (entries the survivor holds and matched, gaps still open).
async fn gaps(nodes: &[Server], survivor: usize) -> (Vec<String>, Vec<String>) {
    let mut views = BTreeMap::new();
    for node in nodes {
        match view(node).await {
            Ok(v) => views.insert(node.name.clone(), v),
            Err(e) => return (Vec::new(), vec![e]),
        };
    }
    let surv = &nodes[survivor].name;
    let keys: std::collections::BTreeSet<&String> = views.values().flat_map(|v| v.keys()).collect();
    let (mut checked, mut gaps) = (Vec::new(), Vec::new());
    for key in keys {
        let Some(any) = views.values().find_map(|v| v.get(key)) else {
            continue;
        };
        let leader = any["cluster"]["leader"].as_str().unwrap_or_default();
        let Some(lead) = views.get(leader).and_then(|v| v.get(key)) else {
            gaps.push(format!("{key}: no leader"));
            continue;
        };
        let replicas = lead["cluster"]["replicas"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for r in &replicas {
            let lag = r["lag"].as_u64().unwrap_or(0);
            if r["current"] != json!(true) || r["offline"] == json!(true) || lag > 0 {
                gaps.push(format!("{key}: replica {} not current: {r}", r["name"]));
            }
        }
        let in_group = leader == surv || replicas.iter().any(|r| r["name"] == json!(surv));
        if !in_group {
            continue;
        }
        match views[surv].get(key) {
            None => gaps.push(format!("{key}: missing on survivor")),
            Some(mine) if summary(mine) != summary(lead) => gaps.push(format!(
                "{key}: survivor {} vs leader {}",
                summary(mine),
                summary(lead)
            )),
            Some(_) => checked.push(key.clone()),
        }
    }
    (checked, gaps)
}
