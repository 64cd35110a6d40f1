//! The data a lost cluster held, and the record of what must survive it.
//!
//! `populate` writes the mix an operator's cluster has, across two accounts: limits,
//! interest and work-queue streams; consumers with and without explicit replicas, acked
//! in full, in part and with gaps; messages with headers and sizes up to 64 KiB; a KV
//! bucket and an object store bucket; a mirror and a sourced stream (one of whose origins
//! is deleted, one in another JetStream domain); a cluster placement; an R1 stream pinned
//! to the survivor by its server tag; and a stream and consumer with non-ASCII names.
//! `Expectations` is read back from the live cluster (see `observe`), never computed, so it
//! is the truth.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, PullConsumer};
use async_nats::jetstream::{self, kv, object_store, stream};
use futures::StreamExt;
use serde::Serialize;

use super::cluster::{Cluster, CLUSTER_NAME};
use super::config::{ACCOUNT_A, ACCOUNT_B};

/// What must survive, per account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Expectations {
    pub accounts: BTreeMap<String, AccountExpect>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountExpect {
    pub streams: BTreeMap<String, StreamExpect>,
    /// Bucket -> key -> value, live keys only (deleted keys are absent).
    pub kv: BTreeMap<String, BTreeMap<String, String>>,
    /// Object store bucket -> object name -> SHA-256 (hex) of the content read back, live
    /// objects only.
    pub objects: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamExpect {
    pub name: String,
    pub messages: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub bytes: u64,
    pub consumers: BTreeMap<String, ConsumerExpect>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsumerExpect {
    pub name: String,
    pub delivered_stream_seq: u64,
    pub delivered_consumer_seq: u64,
    pub ack_floor_stream_seq: u64,
    pub ack_floor_consumer_seq: u64,
    pub num_ack_pending: u64,
    pub num_pending: u64,
}

impl Expectations {
    /// The stream, or a panic naming what is missing.
    pub fn stream(&self, account: &str, stream: &str) -> &StreamExpect {
        self.accounts
            .get(account)
            .and_then(|a| a.streams.get(stream))
            .unwrap_or_else(|| panic!("no stream `{account} > {stream}` in {self:#?}"))
    }

    /// The consumer, or a panic naming what is missing.
    pub fn consumer(&self, account: &str, stream: &str, consumer: &str) -> &ConsumerExpect {
        self.stream(account, stream)
            .consumers
            .get(consumer)
            .unwrap_or_else(|| {
                panic!("no consumer `{account} > {stream} > {consumer}` in {self:#?}")
            })
    }
}

/// Fills the cluster. `survivor` is the node index the R1 stream `LOCAL` is pinned to (by
/// its `az:N` tag), so that stream survives too.
pub async fn populate(cluster: &Cluster, survivor: usize) {
    let a = jetstream::new(cluster.connect(ACCOUNT_A).await);
    let b = jetstream::new(cluster.connect(ACCOUNT_B).await);
    orders(&a).await;
    events(&a).await;
    jobs(&a).await;
    local(&a, &Cluster::tag(survivor)).await;
    unusual_names(&a).await;
    config_kv(&b).await;
    files(&b).await;
    logs(&b).await;
    mirror_and_sources(&b).await;
}

/// Stream config with the fields every stream here sets.
fn stream_config(name: &str, subjects: &str, retention: stream::RetentionPolicy) -> stream::Config {
    stream::Config {
        name: name.into(),
        subjects: vec![subjects.into()],
        retention,
        num_replicas: 3,
        ..Default::default()
    }
}

/// Runs a JetStream API call, retrying for a while: just after a cluster forms, the meta
/// leader can answer "insufficient resources" or time out until every peer has reported in.
pub async fn retry<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    call: impl Fn() -> F,
) -> T {
    let mut last = String::new();
    for _ in 0..40 {
        match call().await {
            Ok(v) => return v,
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("{what}: {last}")
}

pub async fn create_stream(js: &jetstream::Context, cfg: stream::Config) -> stream::Stream {
    let what = format!("create stream {}", cfg.name);
    retry(&what, || js.get_or_create_stream(cfg.clone())).await
}

/// Durable explicit-ack pull consumer; `replicas` 0 means "inherit".
pub async fn durable(s: &stream::Stream, name: &str, replicas: usize) -> PullConsumer {
    let cfg = pull::Config {
        durable_name: Some(name.into()),
        ack_policy: AckPolicy::Explicit,
        num_replicas: replicas,
        ..Default::default()
    };
    retry(&format!("create consumer {name}"), || {
        s.get_or_create_consumer(name, cfg.clone())
    })
    .await
}

/// Payload of message `i`: sizes spread from a few bytes to 64 KiB.
fn payload(kind: &str, i: usize) -> Vec<u8> {
    let len = match i % 7 {
        0 => 0,
        1 => 3,
        2 => 100,
        3 => 1000,
        4 => 4096,
        5 => 17,
        _ => 300 + i * 11,
    };
    let len = if i == 13 { 64 * 1024 } else { len };
    let mut p = format!("{kind}-{i}:").into_bytes();
    p.extend((0..len).map(|j| b'a' + ((i + j) % 26) as u8));
    p
}

/// Publishes `count` messages, every third with headers, awaiting each ack.
///
/// Right after a stream is created the server a client is connected to may not yet route
/// its subjects ("no stream found"/no responders): nothing was stored, so that publish is
/// retried. Any other failure fails the test.
pub async fn publish(js: &jetstream::Context, kind: &str, subjects: &[&str], count: usize) {
    for i in 1..=count {
        let subject = subjects[i % subjects.len()].to_string();
        let mut attempts = 0;
        loop {
            let ack = if i % 3 == 0 {
                let mut h = async_nats::HeaderMap::new();
                h.insert("X-Seq", i.to_string().as_str());
                h.insert("Nats-Msg-Id", format!("{kind}-{i}").as_str());
                js.publish_with_headers(subject.clone(), h, payload(kind, i).into())
                    .await
            } else {
                js.publish(subject.clone(), payload(kind, i).into()).await
            };
            match ack.expect("publish").await {
                Ok(_) => break,
                Err(e) if attempts < 40 && is_no_responders(&e) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                Err(e) => panic!("{kind} message {i} not stored: {e}"),
            }
        }
    }
}

fn is_no_responders(e: &jetstream::context::PublishError) -> bool {
    matches!(
        e.kind(),
        jetstream::context::PublishErrorKind::StreamNotFound
    )
}

/// Fetches exactly `n` messages and double-acks the first `ack` in order, so
/// the ack floor is exactly `ack` once this returns.
pub async fn consume(consumer: &PullConsumer, n: usize, ack: usize) {
    consume_acking(consumer, n, |i| i <= ack).await
}

/// Fetches exactly `n` messages and double-acks those whose 1-based delivery number `acked`
/// selects, in order: acking with gaps leaves the ack floor below acknowledged messages.
async fn consume_acking(consumer: &PullConsumer, n: usize, acked: impl Fn(usize) -> bool) {
    let mut got = Vec::new();
    for _ in 0..60 {
        if got.len() == n {
            break;
        }
        // A cluster under load (three in parallel on two cores) may time a fetch out or
        // drop a batch's heartbeat; that is transient, so fetch again for what is missing.
        let mut batch = match consumer
            .fetch()
            .max_messages(n - got.len())
            .expires(Duration::from_secs(2))
            .messages()
            .await
        {
            Ok(batch) => batch,
            Err(e) => {
                eprintln!("fetch failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        while let Some(m) = batch.next().await {
            match m {
                Ok(m) => got.push(m),
                Err(e) => {
                    // 503: no responders, the consumer's leader is not elected yet.
                    eprintln!("fetched message failed, fetching again: {e}");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    break;
                }
            }
        }
    }
    assert_eq!(got.len(), n, "fetched too few messages");
    for (i, m) in got.iter().enumerate() {
        if acked(i + 1) {
            m.double_ack().await.expect("double ack");
        }
    }
}

async fn orders(js: &jetstream::Context) {
    let mut cfg = stream_config("ORDERS", "orders.>", stream::RetentionPolicy::Limits);
    cfg.description = Some("orders <&> test".into());
    cfg.placement = Some(stream::Placement {
        cluster: Some(CLUSTER_NAME.into()),
        tags: vec![],
    });
    let s = create_stream(js, cfg).await;
    let subjects = [
        "orders.eu.new",
        "orders.us.paid",
        "orders.eu.shipped.express",
        "orders.apac",
    ];
    publish(js, "order", &subjects, 50).await;
    let proc = durable(&s, "PROC", 0).await;
    let audit = durable(&s, "AUDIT", 3).await;
    // 25 delivered, 20 acked: 5 stay pending, which the server must restore.
    consume(&proc, 25, 20).await;
    consume(&audit, 10, 10).await;
}

async fn events(js: &jetstream::Context) {
    let cfg = stream_config("EVENTS", "events.>", stream::RetentionPolicy::Interest);
    let s = create_stream(js, cfg).await;
    // Consumers first: interest retention drops messages nobody wants.
    let e1 = durable(&s, "E1", 3).await;
    let e2 = durable(&s, "E2", 0).await;
    publish(
        js,
        "event",
        &["events.click", "events.view.page", "events.login"],
        30,
    )
    .await;
    consume(&e1, 5, 5).await;
    // Ack floor 8 with 10 and 12 acked beyond it: 9 and 11 stay pending.
    consume_acking(&e2, 12, |i| i != 9 && i != 11).await;
}

async fn jobs(js: &jetstream::Context) {
    let cfg = stream_config("JOBS", "jobs.>", stream::RetentionPolicy::WorkQueue);
    let s = create_stream(js, cfg).await;
    publish(js, "job", &["jobs.resize", "jobs.email.send"], 20).await;
    let w = durable(&s, "W", 0).await;
    // A work queue deletes each message once acked: 1-5, 7, 9 and 10 go, 6 and 8 stay
    // pending behind ack floor 5.
    consume_acking(&w, 10, |i| i != 6 && i != 8).await;
}

async fn local(js: &jetstream::Context, tag: &str) {
    let mut cfg = stream_config("LOCAL", "local.>", stream::RetentionPolicy::Limits);
    cfg.num_replicas = 1;
    cfg.placement = Some(stream::Placement {
        cluster: None,
        tags: vec![tag.into()],
    });
    create_stream(js, cfg).await;
    publish(js, "local", &["local.a", "local.b.c"], 5).await;
}

/// Names are directory names and checksum keys: a stream and a consumer named with
/// non-ASCII letters, dashes and underscores.
async fn unusual_names(js: &jetstream::Context) {
    let cfg = stream_config("Zähler-v2_ü", "zaehler.>", stream::RetentionPolicy::Limits);
    let s = create_stream(js, cfg).await;
    publish(js, "zaehler", &["zaehler.eins", "zaehler.zwei"], 8).await;
    let c = durable(&s, "lesér_1-ß", 3).await;
    consume(&c, 4, 3).await;
}

async fn config_kv(js: &jetstream::Context) {
    let cfg = kv::Config {
        bucket: "config".into(),
        history: 5,
        num_replicas: 3,
        ..Default::default()
    };
    let kv = retry("create kv bucket config", || {
        js.create_key_value(cfg.clone())
    })
    .await;
    // `app.color` is written once and updated 3 times; `tmp.key` deleted.
    let puts = [
        ("app.name", "shop"),
        ("app.color", "red"),
        ("db.url", "postgres://db:5432/shop"),
        ("feature.flags", r#"{"beta":true,"limit":10}"#),
        ("tmp.key", "to be deleted"),
        ("app.color", "green"),
        ("app.color", "blue"),
        ("app.color", "purple"),
    ];
    for (k, v) in puts {
        // A retried put at worst adds a revision; expectations are read back afterwards.
        retry(&format!("kv put {k}"), || kv.put(k, v.to_string().into())).await;
    }
    kv.delete("tmp.key").await.expect("kv delete");
}

async fn logs(js: &jetstream::Context) {
    let cfg = stream_config("LOGS", "logs.>", stream::RetentionPolicy::Limits);
    let s = create_stream(js, cfg).await;
    publish(
        js,
        "log",
        &["logs.app.info", "logs.app.error", "logs.db"],
        40,
    )
    .await;
    let tail = durable(&s, "TAIL", 3).await;
    consume(&tail, 15, 15).await;
}

async fn files(js: &jetstream::Context) {
    let cfg = object_store::Config {
        bucket: "files".into(),
        num_replicas: 3,
        ..Default::default()
    };
    let bucket = retry("create object store files", || {
        js.create_object_store(cfg.clone())
    })
    .await;
    // Several chunks (the default chunk is 128 KiB), one chunk, and an empty object.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let objects: [(&str, &[u8]); 4] = [
        ("big.bin", &big),
        ("notes/readme.txt", b"restore me"),
        ("empty", b""),
        ("gone.txt", b"deleted before the outage"),
    ];
    for (name, data) in objects {
        retry(&format!("put object {name}"), || {
            let bucket = bucket.clone();
            async move { bucket.put(name, &mut &data[..]).await }
        })
        .await;
    }
    bucket.delete("gone.txt").await.expect("delete object");
}

/// A mirror of `LOGS`, and a stream sourcing from `LOGS` (filtered), from `TMP` (deleted
/// afterwards, so its origin is not in the store) and from a stream in another JetStream
/// domain. Returns once the mirror and the sourced stream hold all they will get.
async fn mirror_and_sources(js: &jetstream::Context) {
    let mirror = stream::Config {
        name: "LOGS_MIRROR".into(),
        mirror: Some(stream::Source {
            name: "LOGS".into(),
            ..Default::default()
        }),
        num_replicas: 3,
        ..Default::default()
    };
    create_stream(js, mirror).await;
    let tmp = stream_config("TMP", "tmp.>", stream::RetentionPolicy::Limits);
    create_stream(js, tmp).await;
    publish(js, "tmp", &["tmp.one", "tmp.two"], 6).await;
    let sourced = stream::Config {
        name: "ARCHIVE".into(),
        sources: Some(vec![
            stream::Source {
                name: "LOGS".into(),
                filter_subject: Some("logs.app.>".into()),
                ..Default::default()
            },
            stream::Source {
                name: "TMP".into(),
                ..Default::default()
            },
            stream::Source {
                name: "EDGE_EVENTS".into(),
                // What a client's `domain: edge` becomes on the wire.
                external: Some(stream::External {
                    api_prefix: "$JS.edge.API".into(),
                    delivery_prefix: None,
                }),
                ..Default::default()
            },
        ]),
        num_replicas: 3,
        ..Default::default()
    };
    let archive = create_stream(js, sourced).await;
    let mirror = js.get_stream("LOGS_MIRROR").await.expect("mirror stream");
    // LOGS has 40 messages, 27 of them on `logs.app.>`; TMP has 6.
    wait_messages(&mirror, 40).await;
    wait_messages(&archive, 27 + 6).await;
    retry("delete stream TMP", || js.delete_stream("TMP")).await;
}

/// Waits until `stream` holds `count` messages (a mirror or source catching up).
async fn wait_messages(stream: &stream::Stream, count: u64) {
    let mut stream = stream.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info = stream.info().await.expect("stream info");
        if info.state.messages == count {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stream {} has {} messages, not {count}",
            info.config.name,
            info.state.messages
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
