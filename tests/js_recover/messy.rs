//! A messy cluster, as operators run them: stream and consumer features the main scenario
//! does not use (S2 compression, subject transforms, republish, per-message TTLs, sealed
//! streams, per-subject limits with discard new, work queues with several filters, push
//! consumers with a queue group, paused consumers, priority groups, backoff), and a
//! memory-storage stream that no disk holds. The survivor is the meta leader, killed.
//!
//! After `prepare`, a standalone server serves every file-backed stream and consumer as
//! the cluster had it, the memory stream is reported as what this store lacks, and
//! `rollback` gives back every byte.

use std::time::Duration;

use serde_json::{json, Value};

use crate::fixtures::{assert_same_tree, js_recover, prepare_json, tree};
use crate::support::observe::api;
use crate::support::scenario::retry;
use crate::support::{
    snapshot, verify_standalone, Cluster, ClusterOpts, SurvivorStop, SysAccount, ACCOUNT_A,
};

/// A JetStream API request, retried while the cluster settles: the answer, or its error.
async fn request(client: &async_nats::Client, what: &str, subject: String, body: Value) -> Value {
    retry(what, || async {
        let reply = client
            .request(subject.clone(), body.to_string().into())
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&reply.payload).map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(v),
        }
    })
    .await
}

async fn create_stream(client: &async_nats::Client, config: Value) {
    let name = config["name"].as_str().unwrap().to_string();
    let subject = format!("$JS.API.STREAM.CREATE.{name}");
    request(client, &format!("create stream {name}"), subject, config).await;
}

async fn create_consumer(client: &async_nats::Client, stream: &str, config: Value) {
    let name = config["durable_name"].as_str().unwrap().to_string();
    let subject = format!("$JS.API.CONSUMER.CREATE.{stream}.{name}");
    let body = json!({ "stream_name": stream, "config": config });
    request(client, &format!("create consumer {name}"), subject, body).await;
}

/// Publishes `count` messages on `subjects` in turn, with `headers` on each, waiting for
/// every acknowledgement.
async fn publish(
    js: &async_nats::jetstream::Context,
    subjects: &[&str],
    count: usize,
    headers: &[(&str, &str)],
) {
    for i in 0..count {
        let mut h = async_nats::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, *v);
        }
        let subject = subjects[i % subjects.len()].to_string();
        let payload = format!("{subject}-{i}-{}", "x".repeat(i % 300));
        retry(&format!("publish to {subject}"), || async {
            js.publish_with_headers(subject.clone(), h.clone(), payload.clone().into())
                .await
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())
        })
        .await;
    }
}

/// Fetches `n` messages of pull consumer `name` and acks the first `ack`.
async fn pull(client: &async_nats::Client, stream: &str, name: &str, n: usize, ack: usize) {
    let js = async_nats::jetstream::new(client.clone());
    let consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream(stream)
        .await
        .unwrap()
        .get_consumer(name)
        .await
        .unwrap();
    crate::support::scenario::consume(&consumer, n, ack).await;
}

async fn messy_cluster_recovers(version: &str) {
    let mut cluster = Cluster::start(&ClusterOpts {
        version: version.into(),
        sys: SysAccount::Custom,
        ..ClusterOpts::default()
    })
    .await;
    let client = cluster.connect(ACCOUNT_A).await;
    let js = async_nats::jetstream::new(client.clone());
    let r3 = |name: &str, subjects: &str| {
        json!({ "name": name, "subjects": [subjects], "num_replicas": 3,
                "storage": "file", "retention": "limits" })
    };
    let with = |mut base: Value, extra: Value| {
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };

    create_stream(
        &client,
        with(r3("ZIP", "zip.>"), json!({ "compression": "s2" })),
    )
    .await;
    create_stream(
        &client,
        with(
            r3("XFORM", "x.>"),
            json!({ "subject_transform": { "src": "x.>", "dest": "moved.>" } }),
        ),
    )
    .await;
    create_stream(
        &client,
        with(
            r3("REPUB", "rp.>"),
            json!({ "republish": { "src": ">", "dest": "republished.>" } }),
        ),
    )
    .await;
    create_stream(
        &client,
        with(r3("TTL", "ttl.>"), json!({ "allow_msg_ttl": true })),
    )
    .await;
    create_stream(
        &client,
        with(
            r3("PERSUBJ", "ps.>"),
            json!({ "max_msgs_per_subject": 2, "discard": "new",
                    "discard_new_per_subject": true }),
        ),
    )
    .await;
    create_stream(&client, r3("SEALED", "sealed.>")).await;
    create_stream(
        &client,
        with(r3("WQ", "wq.>"), json!({ "retention": "workqueue" })),
    )
    .await;
    create_stream(
        &client,
        with(r3("MEM", "mem.>"), json!({ "storage": "memory" })),
    )
    .await;

    publish(&js, &["zip.a", "zip.b"], 300, &[]).await;
    publish(&js, &["x.1", "x.2"], 40, &[]).await;
    publish(&js, &["rp.1"], 20, &[]).await;
    publish(&js, &["ttl.long"], 10, &[("Nats-TTL", "1h")]).await;
    publish(&js, &["ttl.none"], 10, &[]).await;
    // Two of each subject are kept; the rest are refused (discard new per subject).
    for i in 0..5 {
        let subject = format!("ps.{i}");
        for _ in 0..2 {
            publish(&js, &[subject.as_str()], 1, &[]).await;
        }
    }
    publish(&js, &["sealed.1"], 15, &[]).await;
    // Seal only once every replica stored all 15: a follower applying the seal first
    // drops the rest, and the consumer led there counts 14 (seen on 2.11.11).
    cluster.wait_stored_everywhere("A", "SEALED", 15).await;
    let mut sealed = with(r3("SEALED", "sealed.>"), json!({ "sealed": true }));
    sealed["sealed"] = json!(true);
    let reply = api(&client, "$JS.API.STREAM.UPDATE.SEALED", sealed).await;
    assert_eq!(reply["config"]["sealed"], true, "{reply}");
    publish(&js, &["wq.a", "wq.b", "wq.c"], 30, &[]).await;
    publish(&js, &["mem.1"], 5, &[]).await;

    let durable =
        |name: &str| json!({ "durable_name": name, "ack_policy": "explicit", "num_replicas": 3 });
    create_consumer(&client, "ZIP", durable("zipper")).await;
    pull(&client, "ZIP", "zipper", 120, 100).await;
    create_consumer(
        &client,
        "ZIP",
        with(
            durable("backoff"),
            json!({ "max_deliver": 5, "backoff": [1_000_000_000u64, 5_000_000_000u64],
                    "ack_wait": 1_000_000_000u64 }),
        ),
    )
    .await;
    pull(&client, "ZIP", "backoff", 10, 10).await;
    create_consumer(
        &client,
        "ZIP",
        with(
            durable("pushed"),
            json!({ "deliver_subject": "deliver.zip", "deliver_group": "workers" }),
        ),
    )
    .await;
    let far = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    create_consumer(
        &client,
        "ZIP",
        with(durable("paused"), json!({ "pause_until": far })),
    )
    .await;
    create_consumer(
        &client,
        "ZIP",
        with(
            durable("prio"),
            json!({ "priority_groups": ["jobs"], "priority_policy": "overflow" }),
        ),
    )
    .await;
    create_consumer(&client, "XFORM", durable("moved")).await;
    pull(&client, "XFORM", "moved", 20, 15).await;
    create_consumer(&client, "TTL", durable("ttlc")).await;
    create_consumer(
        &client,
        "WQ",
        with(durable("wqa"), json!({ "filter_subject": "wq.a" })),
    )
    .await;
    create_consumer(
        &client,
        "WQ",
        with(
            durable("wqbc"),
            json!({ "filter_subjects": ["wq.b", "wq.c"] }),
        ),
    )
    .await;
    pull(&client, "WQ", "wqa", 10, 4).await;
    pull(&client, "WQ", "wqbc", 20, 12).await;
    create_consumer(&client, "SEALED", durable("reader")).await;

    let keep = cluster.meta_leader().await;
    cluster.wait_replicated_to(keep).await;
    // Settle acks (work-queue removals) before recording what must come back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.wait_replicated_to(keep).await;
    let mut expected = snapshot(&cluster.url(keep)).await;
    let a = expected.accounts.get_mut("A").unwrap();
    assert_eq!(
        a.streams["WQ"].messages,
        30 - 4 - 12,
        "{:?}",
        a.streams["WQ"]
    );
    assert_eq!(a.streams["PERSUBJ"].messages, 10);
    // Memory storage is on no disk: what the store lacks, not what it serves.
    assert!(a.streams.remove("MEM").is_some());
    drop(client);
    let copy = cluster.lose_quorum_with(keep, SurvivorStop::Kill).await;

    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    crate::support::fsutil::copy_tree(copy.path(), &store);
    let original = tree(&store);
    let backup = work.path().join("backup");
    let report = prepare_json(&store, &backup, &[]);
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup.join("manifest.json")).unwrap()).unwrap();
    // What the store lacks: the memory stream, said as such; every other stream is here.
    let lacking: Vec<(&Value, &Value)> = manifest["inventory"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["class"] != "here")
        .map(|s| (&s["name"], &s["class"]))
        .collect();
    assert_eq!(
        lacking,
        [(&json!("MEM"), &json!("memory"))],
        "{:#}",
        manifest["inventory"]
    );
    let script = std::fs::read_to_string(backup.join("restore.sh")).unwrap();
    for name in expected.accounts["A"].streams.keys() {
        assert!(
            script.contains(&format!("/A/{name} --replicas 3")),
            "{name}: {script}"
        );
    }
    assert!(report["next"]["config"].is_string(), "{report}");

    let served = work.path().join("served");
    crate::support::fsutil::copy_tree(&store, &served);
    let log = verify_standalone(version, &served, &expected, SysAccount::Custom)
        .await
        .log;
    let bad = crate::support::standalone::bad_lines(&log);
    assert!(bad.is_empty(), "{bad:?}");

    js_recover().arg("rollback").arg(&backup).assert().success();
    assert_same_tree(&original, &tree(&store));
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_14_6_messy_cluster_recovers_whole() {
    messy_cluster_recovers("2.14.6").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_11_11_messy_cluster_recovers_whole() {
    messy_cluster_recovers("2.11.11").await;
}
