//! Streams with `max_age`, and an outage longer than it: a server deletes every message
//! older than a stream's `max_age` as it loads the stream (`expireMsgsOnRecover` in
//! server/filestore.go), before `nats account backup` can copy it. On a real cluster that
//! lost quorum, once more than a short `max_age` has passed, `plan` warns
//! (`expire-at-load`) for exactly the stream whose messages are past it, from the
//! survivor's `msgs/index.db`, and a standalone server of the same release indeed loads
//! that stream empty and the other whole. A survivor without `msgs/index.db` (killed) is
//! warned that the ages are not known, once the stream is older than its `max_age`.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use serde_json::Value;

use crate::fixtures::js_recover;
use crate::support::fsutil::copy_tree;
use crate::support::scenario::{create_stream, publish};
use crate::support::{Cluster, ClusterOpts, Standalone, SurvivorStop, SysAccount, ACCOUNT_A};

const VERSION: &str = "2.12.8";
const MESSAGES: usize = 10;
/// The short stream's `max_age`.
/// Long enough for the cluster to stop before it ages anything out itself.
const SHORT: Duration = Duration::from_secs(15);

/// The `expire-at-load` warnings `inspect` gives of `store` at the time `now`.
fn expiry_warnings(
    store: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<(String, String)> {
    let out = js_recover()
        .args(["inspect", "--json"])
        .arg(store)
        .env("JS_RECOVER_NOW", now.to_rfc3339())
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "expire-at-load")
        .map(|w| {
            (
                w["path"].as_str().unwrap().to_string(),
                w["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_past_max_age_are_warned_of_and_a_server_drops_them_at_load() {
    let mut cluster = Cluster::start(&ClusterOpts {
        version: VERSION.into(),
        ..ClusterOpts::default()
    })
    .await;
    let client = cluster.connect(ACCOUNT_A).await;
    let js = jetstream::new(client.clone());
    for (name, max_age) in [("SHORT", SHORT), ("LONG", Duration::from_secs(3600))] {
        create_stream(
            &js,
            stream::Config {
                name: name.into(),
                subjects: vec![format!("{}.>", name.to_lowercase())],
                num_replicas: 3,
                max_age,
                ..Default::default()
            },
        )
        .await;
    }
    let published = Instant::now();
    let published_at = chrono::Utc::now();
    publish(&js, "short", &["short.a"], MESSAGES).await;
    publish(&js, "long", &["long.a"], MESSAGES).await;
    drop(client);
    let keep = cluster.meta_leader().await;
    // A clean stop: the survivor writes msgs/index.db, with its oldest message's time.
    let copy = cluster.lose_quorum_with(keep, SurvivorStop::Clean).await;
    // Killed: no index.db.
    let crashed = {
        let other = (keep + 1) % 3;
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&cluster.store_dirs[other], dir.path());
        for index in std::fs::read_dir(dir.path().join("jetstream/A/streams/LONG/msgs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.ends_with("index.db"))
        {
            std::fs::remove_file(index).unwrap();
        }
        dir
    };
    drop(cluster);
    assert!(
        published.elapsed() < SHORT,
        "the cluster ran past SHORT's max_age ({SHORT:?}) and aged its messages out itself"
    );

    let _ = std::fs::remove_dir_all("/tmp/w/agedkeep");
    copy_tree(copy.path(), std::path::Path::new("/tmp/w/agedkeep"));
    // Just before SHORT's messages age out: no warning; just after: for SHORT alone.
    let aged_out = published_at + chrono::Duration::from_std(SHORT).unwrap();
    let before = aged_out - chrono::Duration::milliseconds(1);
    assert_eq!(expiry_warnings(copy.path(), before), []);
    let after = chrono::Utc::now().max(aged_out) + chrono::Duration::seconds(2);
    let warned = expiry_warnings(copy.path(), after);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert_eq!(warned[0].0, "jetstream/A/streams/SHORT");
    assert!(
        warned[0].1.contains(&format!(
            "all {MESSAGES} of its messages here (seq 1..{MESSAGES}"
        )),
        "{warned:?}"
    );
    // The killed node's LONG has no index.db: once the stream is older than its max_age
    // its messages' ages are not known, and it says so; before, nothing can have aged out.
    let long_unknown = |now| {
        expiry_warnings(crashed.path(), now)
            .iter()
            .any(|(p, m)| p == "jetstream/A/streams/LONG" && m.contains("not known here"))
    };
    assert!(!long_unknown(after));
    assert!(long_unknown(after + chrono::Duration::hours(2)));

    // The warning is true: served once SHORT's max_age has passed, SHORT loads empty and
    // LONG whole.
    let wait = (SHORT + Duration::from_secs(1)).saturating_sub(published.elapsed());
    tokio::time::sleep(wait).await;
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    copy_tree(copy.path(), &store);
    js_recover()
        .arg("prepare")
        .arg(&store)
        .arg("--backup-dir")
        .arg(work.path().join("backup"))
        .assert()
        .success();
    let server = Standalone::start(VERSION, &store, SysAccount::Default).await;
    let served = server.snapshot().await;
    server.stop().await;
    let streams = &served.accounts["A"].streams;
    assert_eq!(streams["SHORT"].messages, 0, "{:?}", streams["SHORT"]);
    assert_eq!(streams["SHORT"].last_seq, MESSAGES as u64);
    assert_eq!(streams["LONG"].messages, MESSAGES as u64);
}
