//! Streams one replica dropped messages of at a change of configuration, on nats-server
//! 2.10 and 2.11 (2.12 no longer does): the change goes through the meta group, the
//! messages through the stream's own group, and a follower that applies the change before
//! messages its log already holds refuses them for good (`processJetStreamMsg` in
//! server/stream.go bails on a sealed stream, and checks limits such as `max_msgs` with
//! `discard: new`), counting each as a failed proposal. Made here on purpose: the follower
//! is paused (SIGSTOP) while messages are published and streams are sealed or have their
//! limit lowered, then let go. Which streams lose the race, and how many messages, is the
//! server's scheduling; each stream ends one of three ways:
//!
//! - **whole**: the follower stored every message;
//! - **in the log**: it dropped every message of a stream it held none of: the store's
//!   state is the one last snapshotted, so `doSnapshot` (`monitorStream`) does not compact,
//!   and the log keeps them;
//! - **gone from this disk**: it dropped messages after storing some; the new failure
//!   count makes it snapshot its changed state at once, and the log that held them is
//!   compacted away, or what is left of it cannot be placed: this node's count of
//!   failures is not the cluster's.
//!
//! Trials go on until both kinds of loss are seen. With that follower as the only
//! survivor: `plan` writes back exactly what the log holds, each message at the sequence
//! the cluster gave it; a stream gone from this disk is `here-behind` in the inventory,
//! its snapshot's refusals and its log's unplaced messages making up exactly what it
//! lacks (`refused_here`, `raft-tail-not-replayed`), a `behind-raft-state` warning says
//! so, and `--require-complete` refuses the plan (exit 7); after `prepare` a standalone
//! server of the same release serves every stream and consumer as the cluster's leaders
//! held them, but for the streams gone from this disk, which it serves as the survivor
//! holds them; `rollback` gives the survivor back byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use serde_json::{json, Value};

use crate::fixtures::{assert_same_tree, js_recover, tree};
use crate::support::cluster::connect;
use crate::support::fsutil::copy_tree;
use crate::support::scenario::{consume, create_stream, durable, publish, retry};
use crate::support::{snapshot, verify_standalone, Cluster, ClusterOpts, SysAccount, ACCOUNT_A};

/// Messages every stream ends with.
const MESSAGES: u64 = 100;
/// Messages the `LATER` stream of a trial holds on every replica before the pause.
const BEFORE: u64 = 5;
/// The `ARCHIVE` stream's consumer, led elsewhere, is sent this many after the pause and
/// acks the first `ACKED`.
const DELIVERED: usize = 4;
const ACKED: usize = 2;
/// Trials before giving up on seeing both kinds of loss.
const TRIALS: usize = 16;

/// How a stream stands on the paused follower, by its live `/jsz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Whole,
    /// Nothing stored: the log keeps what was dropped.
    InLog,
    /// Stored through this sequence; the rest is gone from this disk.
    Gone(u64),
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_11_11_messages_a_follower_dropped_at_the_seal_come_back_or_are_reported() {
    dropped_at_the_seal("2.11.11").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_10_26_messages_a_follower_dropped_at_the_seal_come_back_or_are_reported() {
    dropped_at_the_seal("2.10.26").await;
}

async fn dropped_at_the_seal(version: &str) {
    let mut cluster = Cluster::start(&ClusterOpts {
        version: version.into(),
        sys: SysAccount::Default,
        ..ClusterOpts::default()
    })
    .await;
    // The follower to pause: not the meta leader (the seal needs the meta group), and not
    // the node the client talks to.
    let meta = cluster.meta_leader().await;
    let paused = (0..3).rev().find(|&i| i != meta).unwrap();
    let via = (0..3).find(|&i| i != paused).unwrap();
    let client = connect(&cluster.url(via), ACCOUNT_A).await;
    let js = jetstream::new(client.clone());
    let follower = cluster.nodes[paused].name.clone();

    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    let seen = |o: &BTreeMap<String, Outcome>, f: fn(&Outcome) -> bool| o.values().any(f);
    for trial in 0..TRIALS {
        if seen(&outcomes, |o| *o == Outcome::InLog)
            && seen(&outcomes, |o| matches!(o, Outcome::Gone(_)))
        {
            break;
        }
        // An archive, empty until the pause, with a consumer; a stream that already holds
        // `BEFORE` messages everywhere.
        let archive = stream::Config {
            name: format!("ARCHIVE{trial}"),
            subjects: vec![format!("archive{trial}.>")],
            num_replicas: 3,
            ..Default::default()
        };
        let later = stream::Config {
            name: format!("LATER{trial}"),
            subjects: vec![format!("later{trial}.>")],
            ..archive.clone()
        };
        let s = create_stream(&js, archive.clone()).await;
        let reader = durable(&s, "reader", 0).await;
        create_stream(&js, later.clone()).await;
        let (a_subject, l_subject) = (format!("archive{trial}.a"), format!("later{trial}.a"));
        let before = format!("{}-before", later.name);
        publish(&js, &before, &[&l_subject], BEFORE as usize).await;
        cluster.wait_stored_everywhere("A", &archive.name, 0).await;
        cluster
            .wait_stored_everywhere("A", &later.name, BEFORE)
            .await;
        // Not sealed: discard new, its limit lowered below what it holds once paused.
        let limited = stream::Config {
            name: format!("LIMITED{trial}"),
            subjects: vec![format!("limited{trial}.>")],
            discard: stream::DiscardPolicy::New,
            max_messages: 1000,
            ..archive.clone()
        };
        create_stream(&js, limited.clone()).await;
        let m_subject = format!("limited{trial}.a");
        let before = format!("{}-before", limited.name);
        publish(&js, &before, &[&m_subject], BEFORE as usize).await;
        cluster
            .wait_stored_everywhere("A", &limited.name, BEFORE)
            .await;
        lead_elsewhere(&client, &archive.name, Some("reader"), &follower).await;
        lead_elsewhere(&client, &later.name, None, &follower).await;
        lead_elsewhere(&client, &limited.name, None, &follower).await;

        cluster.nodes[paused].signal("STOP");
        // The archive's messages last and its seal first: the likelier it drops them all.
        let rest = (MESSAGES - BEFORE) as usize;
        publish(&js, &later.name, &[&l_subject], rest).await;
        publish(&js, &limited.name, &[&m_subject], rest).await;
        publish(&js, &archive.name, &[&a_subject], MESSAGES as usize).await;
        for config in [&archive, &later] {
            let sealed = stream::Config {
                sealed: true,
                ..config.clone()
            };
            retry(&format!("seal {}", config.name), || {
                js.update_stream(sealed.clone())
            })
            .await;
        }
        let lowered = stream::Config {
            max_messages: (BEFORE * 4) as i64,
            ..limited.clone()
        };
        retry(&format!("lower {}", limited.name), || {
            js.update_stream(lowered.clone())
        })
        .await;
        cluster.nodes[paused].signal("CONT");
        consume(&reader, DELIVERED, ACKED).await;

        for name in [archive.name, later.name, limited.name] {
            let outcome = match caught_up(&cluster, &name, &follower).await {
                MESSAGES => Outcome::Whole,
                0 => Outcome::InLog,
                stored => Outcome::Gone(stored),
            };
            outcomes.insert(name, outcome);
        }
    }
    assert!(
        seen(&outcomes, |o| *o == Outcome::InLog)
            && seen(&outcomes, |o| matches!(o, Outcome::Gone(_))),
        "{follower} after {TRIALS} trials: {outcomes:?}; did {version} stop dropping messages at the seal?"
    );
    let mut expected = snapshot(&cluster.url(via)).await;
    let a = expected.accounts.get_mut("A").unwrap();
    for name in outcomes.keys() {
        assert_eq!(a.streams[name].last_seq, MESSAGES, "{:?}", a.streams[name]);
        if let Some(c) = a.streams[name].consumers.get("reader") {
            assert_eq!(c.ack_floor_stream_seq, ACKED as u64, "{c:?}");
            assert_eq!(c.delivered_stream_seq, DELIVERED as u64, "{c:?}");
        }
    }
    drop(client);

    cluster.crash_all();
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    copy_tree(&cluster.store_dirs[paused], &store);
    let original = tree(&store);

    let plan = work.path().join("plan.json");
    js_recover()
        .arg("plan")
        .arg(&store)
        .arg("--out")
        .arg(&plan)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let manifest: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    let inventory = |name: &str| {
        manifest["inventory"]["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == json!(name))
            .unwrap_or_else(|| panic!("{name} not in {:#}", manifest["inventory"]))
            .clone()
    };
    // What the standalone server must serve of each stream that lost messages for good.
    let mut partial = BTreeMap::new();
    let (mut from_log, mut behind) = (0, 0);
    for (name, outcome) in &outcomes {
        let asset = inventory(name);
        let logged = recovered(&manifest, name);
        let stored = match *outcome {
            Outcome::Whole => MESSAGES,
            Outcome::InLog => 0,
            Outcome::Gone(stored) => stored,
        };
        if stored == MESSAGES {
            assert!(logged.is_empty(), "{name}: {:#}", manifest["tail"]);
            assert_eq!(asset["class"], "here", "{asset:#}");
        } else if !logged.is_empty() {
            // Written back, each at the sequence the cluster gave it.
            assert_eq!(
                logged,
                (stored + 1..=MESSAGES).collect(),
                "{name}: {:#}",
                manifest["tail"]
            );
            assert_eq!(asset["class"], "here", "{asset:#}");
            from_log += 1;
        } else {
            // Counted, never numbered wrong: the snapshot's refusals and the log's messages
            // it cannot place make up exactly what this copy lacks.
            let refused = asset["refused_here"].as_u64().unwrap_or(0);
            let unplaced = tail_found(&manifest, name)
                .filter(|f| f["blocked"].is_string())
                .map_or(0, |f| f["messages"].as_u64().unwrap());
            assert_eq!(asset["class"], "here-behind", "{asset:#}");
            assert_eq!(
                refused + unplaced,
                MESSAGES - stored,
                "{name}: {asset:#} {:#}",
                manifest["tail"]
            );
            let warned = manifest["warnings"].as_array().unwrap().iter().any(|w| {
                let m = w["message"].as_str().unwrap();
                w["code"] == "behind-raft-state"
                    && m.contains(&format!("stream `{name}`"))
                    && m.contains(&format!("counts {refused} messages"))
            });
            assert!(warned, "{name}: {:#}", manifest["warnings"]);
            let cluster_had = a.streams.remove(name).unwrap();
            partial.insert(name.clone(), (stored, cluster_had));
            behind += 1;
        }
    }
    assert!(
        from_log > 0 && behind > 0,
        "{outcomes:?}: {:#}",
        manifest["tail"]
    );
    js_recover()
        .arg("plan")
        .arg(&store)
        .arg("--require-complete")
        .arg("--out")
        .arg(work.path().join("refused.json"))
        .assert()
        .code(7);

    let backup = work.path().join("backup");
    js_recover()
        .arg("prepare")
        .arg(&store)
        .arg("--backup-dir")
        .arg(&backup)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let served = work.path().join("served");
    copy_tree(&store, &served);
    let report = verify_standalone(version, &served, &expected, SysAccount::Default).await;
    let bad = crate::support::standalone::bad_lines(&report.log);
    assert!(bad.is_empty(), "{bad:?}");
    for (name, (stored, cluster_had)) in &partial {
        let got = &report.actual.accounts["A"].streams[name];
        assert_eq!(
            (got.first_seq, got.last_seq, got.messages),
            (1, *stored, *stored),
            "{name}: {got:?} (the cluster: {cluster_had:?})"
        );
    }

    js_recover().arg("rollback").arg(&backup).assert().success();
    assert_same_tree(&original, &tree(&store));
}

/// What the plan's tail section found in `stream`'s log, if anything.
fn tail_found<'m>(manifest: &'m Value, stream: &str) -> Option<&'m Value> {
    manifest["tail"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["found"])
        .find(|f| f["stream"] == json!(stream))
}

/// The sequences the plan's tail section writes back into `stream`.
fn recovered(manifest: &Value, stream: &str) -> BTreeSet<u64> {
    manifest["tail"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["found"]["stream"] == json!(stream))
        .flat_map(|s| s["recovered"].as_array().unwrap().iter())
        .flat_map(|r| r["first"].as_u64().unwrap()..=r["last"].as_u64().unwrap())
        .collect()
}

/// Steps the leaders of `stream` and of its `consumer` down until neither is on
/// `follower`.
async fn lead_elsewhere(
    client: &async_nats::Client,
    stream: &str,
    consumer: Option<&str>,
    follower: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut targets = vec![format!("STREAM.INFO.{stream}")];
    targets.extend(consumer.map(|c| format!("CONSUMER.INFO.{stream}.{c}")));
    loop {
        let mut moved = false;
        for info in &targets {
            let reply = client
                .request(format!("$JS.API.{info}"), "".into())
                .await
                .ok()
                .and_then(|m| serde_json::from_slice::<Value>(&m.payload).ok())
                .unwrap_or_default();
            let leader = reply["cluster"]["leader"].as_str().unwrap_or_default();
            if leader.is_empty() || leader == follower {
                moved = true;
                if leader == follower {
                    let down = info.replace(".INFO.", ".LEADER.STEPDOWN.");
                    let _ = client.request(format!("$JS.API.{down}"), "".into()).await;
                }
            }
        }
        if !moved {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{stream}: leaders stay on {follower}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits until the leader of `stream` sees `follower` current with no lag (its log holds
/// every entry), then for its store to settle; returns the last sequence its store holds.
async fn caught_up(cluster: &Cluster, stream: &str, follower: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    loop {
        if let Ok(g) = cluster.group("A", stream).await {
            if g.current.contains(follower) {
                let stored = g.stored.get(follower).copied().flatten().unwrap_or(0);
                // Two equal looks a second apart: applying is done.
                if last == Some(stored) {
                    return stored;
                }
                last = Some(stored);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{stream}: {follower} never caught up"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
