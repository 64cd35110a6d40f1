//! A sealed stream one replica dropped the messages of, on nats-server 2.11 (2.10 too;
//! 2.12 no longer does): the seal is a stream update that goes through the meta group, the
//! messages go through the stream's own group, and a follower that applies the seal before
//! messages its log already holds drops them for good (`processJetStreamMsg` in
//! server/stream.go bails on a sealed stream). Made here on purpose: the follower is paused
//! (SIGSTOP) while a new stream is filled and sealed in one go (an archive), then let go.
//!
//! Its store then lacks every message; its stream log does not. (It would compact the log
//! at once had the failures changed its store: `doSnapshot` in `monitorStream` runs on a
//! new failure count but returns when the store's state is the one last snapshotted. So
//! a replica that dropped only the last messages keeps no copy of them anywhere.)
//!
//! With that follower as the only survivor, `plan` lists exactly the messages only its log
//! holds, `prepare` writes them back, a standalone server of the same release serves the
//! sealed stream and its consumer as the cluster's leaders held them, and `rollback` gives
//! the survivor back byte for byte.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use serde_json::{json, Value};

use crate::fixtures::{assert_same_tree, js_recover, tree};
use crate::support::cluster::connect;
use crate::support::fsutil::copy_tree;
use crate::support::scenario::{consume, create_stream, durable, publish, retry};
use crate::support::{snapshot, verify_standalone, Cluster, ClusterOpts, SysAccount, ACCOUNT_A};

const VERSION: &str = "2.11.11";
/// Messages published while the follower is paused; then the consumer, led elsewhere,
/// is sent `DELIVERED` of them and acks the first `ACKED`.
const MESSAGES: usize = 15;
const DELIVERED: usize = 4;
const ACKED: usize = 2;
/// Streams tried until one is short on the paused follower (2.11.11: nearly every one).
const TRIALS: usize = 4;

#[tokio::test(flavor = "multi_thread")]
async fn v2_11_11_messages_a_replica_dropped_at_the_seal_come_back_from_its_log() {
    let mut cluster = Cluster::start(&ClusterOpts {
        version: VERSION.into(),
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

    let mut short = None;
    for trial in 0..TRIALS {
        let name = format!("SEALED{trial}");
        let config = stream::Config {
            name: name.clone(),
            subjects: vec![format!("sealed{trial}.>")],
            num_replicas: 3,
            ..Default::default()
        };
        let s = create_stream(&js, config.clone()).await;
        let reader = durable(&s, "reader", 0).await;
        cluster.wait_stored_everywhere("A", &name, 0).await;
        lead_elsewhere(&client, &name, &follower).await;

        cluster.nodes[paused].signal("STOP");
        let subject = format!("sealed{trial}.a");
        publish(&js, &name, &[&subject], MESSAGES).await;
        let sealed = stream::Config {
            sealed: true,
            ..config
        };
        retry(&format!("seal {name}"), || js.update_stream(sealed.clone())).await;
        cluster.nodes[paused].signal("CONT");
        consume(&reader, DELIVERED, ACKED).await;

        let stored = caught_up(&cluster, &name, &follower).await;
        if stored < MESSAGES as u64 {
            short = Some((name, stored));
            break;
        }
    }
    let (name, stored) = short.unwrap_or_else(|| {
        panic!("{follower} stored every message of all {TRIALS} sealed streams: did {VERSION} stop dropping them?")
    });
    let expected = snapshot(&cluster.url(via)).await;
    let s = &expected.accounts["A"].streams[&name];
    assert_eq!(s.last_seq, MESSAGES as u64, "{s:?}");
    let c = &s.consumers["reader"];
    assert_eq!(c.ack_floor_stream_seq, ACKED as u64, "{c:?}");
    assert_eq!(c.delivered_stream_seq, DELIVERED as u64, "{c:?}");
    assert_eq!(c.num_pending, (MESSAGES - DELIVERED) as u64, "{c:?}");
    drop(client);

    cluster.crash_all();
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    copy_tree(&cluster.store_dirs[paused], &store);
    let original = tree(&store);
    let _ = std::fs::remove_dir_all("/tmp/w/sealkeep");
    copy_tree(&store, std::path::Path::new("/tmp/w/sealkeep"));

    // The plan lists exactly what only the log holds.
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
    let recovered: BTreeSet<u64> = manifest["tail"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["found"]["stream"] == json!(name))
        .flat_map(|s| s["recovered"].as_array().unwrap().iter())
        .flat_map(|r| r["first"].as_u64().unwrap()..=r["last"].as_u64().unwrap())
        .collect();
    let missing: BTreeSet<u64> = (stored + 1..=MESSAGES as u64).collect();
    assert_eq!(recovered, missing, "{:#}", manifest["tail"]);

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
    let log = verify_standalone(VERSION, &served, &expected, SysAccount::Default)
        .await
        .log;
    let bad = crate::support::standalone::bad_lines(&log);
    assert!(bad.is_empty(), "{bad:?}");

    js_recover().arg("rollback").arg(&backup).assert().success();
    assert_same_tree(&original, &tree(&store));
}

/// Steps the leaders of `stream` and its consumer `reader` down until neither is on
/// `follower`.
async fn lead_elsewhere(client: &async_nats::Client, stream: &str, follower: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let targets = [
        format!("STREAM.INFO.{stream}"),
        format!("CONSUMER.INFO.{stream}.reader"),
    ];
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
