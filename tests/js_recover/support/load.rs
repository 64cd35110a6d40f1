//! Live load on a cluster until every node is SIGKILLed at once: the region outage after
//! which acknowledged messages and acks can exist only in a survivor's Raft logs.
//!
//! Three R3 streams (limits `LIM`, interest `INT` with S2 compression, work-queue `WQ`), each with one durable
//! explicit-ack pull consumer `worker`. One publisher per node pipelines publishes to all
//! three, recording every acknowledgement it receives (sequence, subject, `Nats-Msg-Id`,
//! payload, and the wall-clock window the leader stamped the message in). One consumer per
//! stream fetches and double-acks, recording every ack the server confirmed; one delivery
//! in 40 is left unacked (pending). What the clients recorded is the truth the recovered
//! store is checked against.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{self, stream};
use futures::stream::FuturesUnordered;
use futures::StreamExt;

use super::cluster::{connect, Cluster};
use super::config::ACCOUNT_A;
use super::scenario::{create_stream, durable, retry};

/// The streams under load: name, subject prefix, retention.
pub const STREAMS: [(&str, &str, stream::RetentionPolicy); 3] = [
    ("LIM", "lim", stream::RetentionPolicy::Limits),
    ("INT", "int", stream::RetentionPolicy::Interest),
    ("WQ", "wq", stream::RetentionPolicy::WorkQueue),
];

/// The stream whose blocks are S2-compressed.
pub const COMPRESSED: &str = "INT";

/// The durable consumer on every stream.
pub const CONSUMER: &str = "worker";

/// Publishes each publisher keeps in flight.
const WINDOW: usize = 8;

/// One acknowledged publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub subject: String,
    pub msg_id: String,
    pub payload: Vec<u8>,
    /// Unix nanoseconds just before the publish was sent and just after its ack arrived:
    /// the leader stamped the message in between.
    pub sent: i64,
    pub acked: i64,
}

/// What the clients saw acknowledged.
#[derive(Debug, Default)]
pub struct Record {
    /// Every acknowledged publish, by (stream, sequence).
    pub published: BTreeMap<(String, u64), Published>,
    /// Every consumer ack the server confirmed: (stream, consumer, stream sequence).
    pub consumed: BTreeSet<(String, String, u64)>,
    /// Publishes the server answered as duplicates (none are expected: ids are unique).
    pub duplicates: usize,
}

impl Record {
    pub fn consumed_in(&self, stream: &str) -> BTreeSet<u64> {
        self.consumed
            .iter()
            .filter(|(s, _, _)| s == stream)
            .map(|(_, _, seq)| *seq)
            .collect()
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as i64
}

/// Creates the streams and consumers.
pub async fn setup(cluster: &Cluster) {
    let client = cluster.connect(ACCOUNT_A).await;
    let js = jetstream::new(client);
    for (name, prefix, retention) in STREAMS {
        let cfg = stream::Config {
            name: name.into(),
            subjects: vec![format!("{prefix}.>")],
            retention,
            num_replicas: 3,
            // One stream's blocks are S2-compressed.
            compression: (name == COMPRESSED).then_some(stream::Compression::S2),
            ..Default::default()
        };
        let s = create_stream(&js, cfg).await;
        durable(&s, CONSUMER, 0).await;
    }
}

/// Runs the load for `busy`, then SIGKILLs every node at once (while the load runs) and
/// returns what the clients recorded.
pub async fn run_and_crash(cluster: &mut Cluster, busy: Duration) -> Record {
    let record = Arc::new(Mutex::new(Record::default()));
    let mut tasks = Vec::new();
    for node in 0..cluster.nodes.len() {
        tasks.push(tokio::spawn(publisher(
            cluster.url(node),
            node,
            record.clone(),
        )));
    }
    for (i, (stream, _, _)) in STREAMS.iter().enumerate() {
        let url = cluster.url(i % cluster.nodes.len());
        tasks.push(tokio::spawn(consumer(url, stream, record.clone())));
    }
    tokio::time::sleep(busy).await;
    cluster.crash_all();
    for t in &tasks {
        t.abort();
    }
    for t in tasks {
        let _ = t.await;
    }
    Arc::try_unwrap(record)
        .expect("every task ended")
        .into_inner()
        .expect("record lock")
}

async fn publisher(url: String, id: usize, record: Arc<Mutex<Record>>) {
    let client = connect(&url, ACCOUNT_A).await;
    let js = jetstream::new(client);
    let mut inflight = FuturesUnordered::new();
    let mut i: usize = 0;
    loop {
        while inflight.len() < WINDOW {
            i += 1;
            let (_, prefix, _) = STREAMS[i % STREAMS.len()];
            let subject = format!("{prefix}.p{id}.{}", i % 5);
            let msg_id = format!("p{id}-{i}");
            let mut payload = format!("{msg_id}:").into_bytes();
            payload.extend((0..(i * 37) % 700).map(|j| b'a' + ((i + j) % 26) as u8));
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", msg_id.as_str());
            let sent = now_ns();
            match js
                .publish_with_headers(subject.clone(), headers, payload.clone().into())
                .await
            {
                Ok(ack) => inflight.push(async move {
                    let result = ack.await;
                    (
                        result,
                        Published {
                            subject,
                            msg_id,
                            payload,
                            sent,
                            acked: now_ns(),
                        },
                    )
                }),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    break;
                }
            }
        }
        let Some((result, published)) = inflight.next().await else {
            continue;
        };
        if let Ok(ack) = result {
            let mut r = record.lock().expect("record lock");
            if ack.duplicate {
                r.duplicates += 1;
            } else {
                r.published.insert((ack.stream, ack.sequence), published);
            }
        }
    }
}

async fn consumer(url: String, stream: &'static str, record: Arc<Mutex<Record>>) {
    let client = connect(&url, ACCOUNT_A).await;
    let js = jetstream::new(client);
    let consumer: PullConsumer = retry(&format!("get consumer of {stream}"), || {
        js.get_consumer_from_stream(CONSUMER, stream)
    })
    .await;
    let mut delivered: u64 = 0;
    loop {
        let batch = consumer
            .fetch()
            .max_messages(50)
            .expires(Duration::from_millis(300))
            .messages()
            .await;
        let Ok(mut batch) = batch else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let mut acks = Vec::new();
        while let Some(Ok(m)) = batch.next().await {
            let Ok(info) = m.info() else { continue };
            let seq = info.stream_sequence;
            delivered += 1;
            if delivered.is_multiple_of(40) {
                continue; // left pending
            }
            acks.push(async move { (seq, m.double_ack().await.is_ok()) });
        }
        // Acked concurrently, as a busy worker pool would: each ack the server confirmed
        // is recorded.
        for (seq, confirmed) in futures::future::join_all(acks).await {
            if confirmed {
                record.lock().expect("record lock").consumed.insert((
                    stream.to_string(),
                    CONSUMER.to_string(),
                    seq,
                ));
            }
        }
    }
}
