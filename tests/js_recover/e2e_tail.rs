//! The Raft log tail, on real clusters under live load: every node of a 3-node cluster is
//! SIGKILLed at once while publishers and consumers are busy (`support::load`), repeated
//! until a node's disk holds acknowledged messages only in its stream-group log (proved by
//! decoding that disk here, with the low-level readers, not the tail planner).
//!
//! On that survivor:
//! - `plan` (default `--raft-tail all`) lists exactly the messages the log holds past the
//!   store; after `apply` a standalone server of the same release serves every message the
//!   cluster acknowledged that the survivor holds anywhere, with its sequence, subject,
//!   payload, `Nats-Msg-Id` and a timestamp inside the window its publisher saw; no ack the
//!   consumer's state or log recorded is delivered again; consumed messages of the interest
//!   and work-queue streams stay consumed; a new message gets a sequence past every one the
//!   log shows was assigned. `rollback` gives back the survivor byte for byte.
//! - `--raft-tail none` drops exactly what its plan reports dropped: the acknowledged
//!   messages the server no longer serves are exactly those the plan lists.
//! - `apply` SIGKILLed at every I/O operation rolls back to the survivor byte for byte.
//!
//! One release: `cargo test e2e_tail::v2_12_8`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use base64::Engine as _;
use futures::StreamExt;
use js_recover::store::crypto::Keys;
use js_recover::store::filestore::{self, read_store_blocks};
use js_recover::store::filestore::{BlockKeys, ServerKeys};
use js_recover::store::jsops::{consumer_ops, stream_ops};
use js_recover::store::raft::{self, EntryType, GroupKind};
use js_recover::store::Store;
use serde_json::{json, Value};

use crate::fixtures::{assert_same_tree, js_recover, tree};
use crate::support::fsutil::copy_tree;
use crate::support::load::{self, Record, CONSUMER, STREAMS};
use crate::support::{Cluster, ClusterOpts, Encryption, Standalone, SysAccount, ACCOUNT_A};

/// Trials before giving up on a crash that leaves acknowledged messages only in a log
/// (measured: 13 of 16 trials on 2.12.8 and 3 of 4 on 2.15.1 do).
const TRIALS: usize = 10;

/// How long the load runs before every node is killed.
const BUSY: Duration = Duration::from_millis(2000);

/// A message of a stream-group log.
#[derive(Debug, Clone)]
struct LogMsg {
    subject: Vec<u8>,
    msg: Vec<u8>,
    ts: i64,
}

/// One node's disk, decoded with the low-level readers.
#[derive(Debug, Default)]
struct Held {
    /// Stream -> sequences its store's blocks hold (deletes applied).
    store: BTreeMap<String, BTreeSet<u64>>,
    /// Stream -> the highest sequence any record of its blocks has.
    store_last: BTreeMap<String, u64>,
    /// Stream -> sequence -> message, from every entry of its group log.
    log: BTreeMap<String, BTreeMap<u64, LogMsg>>,
    /// Stream -> sequences its group log deletes.
    log_deleted: BTreeMap<String, BTreeSet<u64>>,
    /// Stream -> sequences its consumer's state (`o.dat`, group snapshot, group log) records
    /// as acknowledged.
    acks: BTreeMap<String, BTreeSet<u64>>,
}

impl Held {
    fn read(store_dir: &Path, keys: Option<&Keys>) -> Held {
        let js = store_dir.join("jetstream");
        let mut held = Held::default();
        let account_keys = keys.map(|k| ServerKeys::for_account(k, "A"));
        let raft_keys = keys.map(ServerKeys::for_raft);
        for (name, _, _) in STREAMS {
            let dir = js.join("A/streams").join(name);
            let blocks = read_store_blocks(
                &dir,
                name,
                account_keys.as_ref().map(|k| k as &dyn BlockKeys),
            );
            assert!(blocks.problems.is_empty(), "{name}: {:?}", blocks.problems);
            let live = filestore::live_records(&blocks.blocks);
            held.store
                .insert(name.into(), live.iter().map(|r| r.seq).collect());
            let last = blocks
                .blocks
                .iter()
                .flat_map(|b| &b.records)
                .filter(|r| !r.tombstone)
                .map(|r| r.seq)
                .max()
                .unwrap_or(0);
            held.store_last.insert(name.into(), last);
        }
        // o.dat, opened (and decrypted) by the store reader.
        let store = Store::open_with(store_dir, keys).expect("the store opens");
        for (_, stream) in store.streams() {
            for c in &stream.consumers {
                let state = c.state_full.as_ref().expect("o.dat decodes");
                held.acks
                    .entry(stream.dir_name.clone())
                    .or_default()
                    .extend(acked(state));
            }
        }
        let groups = raft::read_groups(
            &js.join("$SYS/_js_"),
            raft_keys.as_ref().map(|k| k as &dyn BlockKeys),
        )
        .expect("_js_ reads");
        for g in &groups {
            let Some(meta) = &g.meta else { continue };
            let Some(stream) = meta.stream.clone() else {
                continue;
            };
            match g.kind() {
                GroupKind::Stream => {
                    let log = held.log.entry(stream.clone()).or_default();
                    for e in g.wal.entries.iter().flat_map(|w| &w.append.entries) {
                        if e.kind != EntryType::Normal {
                            continue;
                        }
                        match stream_ops::decode(&e.data).expect("stream entry decodes") {
                            stream_ops::StreamOp::Msg(m) if !m.is_flow_control() => {
                                // No publish is deduplicated or refused: no failed proposals.
                                let seq = m.stored_seq(0).expect("a sequence");
                                log.insert(
                                    seq,
                                    LogMsg {
                                        subject: m.subject,
                                        msg: m.msg,
                                        ts: m.ts,
                                    },
                                );
                            }
                            stream_ops::StreamOp::DeleteMsg(d) => {
                                held.log_deleted
                                    .entry(stream.clone())
                                    .or_default()
                                    .insert(d.seq);
                            }
                            _ => {}
                        }
                    }
                }
                GroupKind::Consumer => {
                    let acks = held.acks.entry(stream.clone()).or_default();
                    if let Some(s) = &g.snapshot {
                        acks.extend(acked(&consumer_ops::decode_snapshot(&s.data).unwrap()));
                    }
                    for e in g.wal.entries.iter().flat_map(|w| &w.append.entries) {
                        if e.kind != EntryType::Normal {
                            continue;
                        }
                        if let Ok(consumer_ops::ConsumerOp::Acks { sseq, .. }) =
                            consumer_ops::decode(&e.data)
                        {
                            acks.insert(sseq);
                        }
                    }
                }
                _ => {}
            }
        }
        held
    }

    /// Log messages past the store's last sequence: in the log only.
    fn log_only(&self, stream: &str) -> BTreeSet<u64> {
        let last = self.store_last[stream];
        self.log
            .get(stream)
            .map(|l| l.keys().copied().filter(|s| *s > last).collect())
            .unwrap_or_default()
    }

    /// Whether the node holds `seq` of `stream` anywhere.
    fn holds(&self, stream: &str, seq: u64) -> bool {
        self.store[stream].contains(&seq)
            || self.log.get(stream).is_some_and(|l| l.contains_key(&seq))
    }

    /// Acknowledged publishes held only in the log.
    fn acked_only_in_log(&self, record: &Record) -> usize {
        STREAMS
            .iter()
            .map(|(s, _, _)| {
                self.log_only(s)
                    .iter()
                    .filter(|q| record.published.contains_key(&(s.to_string(), **q)))
                    .count()
            })
            .sum()
    }

    /// The highest sequence the node's disk shows was assigned in `stream`.
    fn max_assigned(&self, stream: &str) -> u64 {
        let logged = self.log.get(stream).and_then(|l| l.keys().max().copied());
        logged.unwrap_or(0).max(self.store_last[stream])
    }
}

/// The stream sequences a consumer state records as acknowledged: at or below the floor,
/// and delivered but not pending above it.
fn acked(s: &consumer_ops::ConsumerState) -> BTreeSet<u64> {
    (1..=s.delivered_stream)
        .filter(|q| *q <= s.ack_floor_stream || !s.pending.contains_key(q))
        .collect()
}

/// One message a standalone server serves.
#[derive(Debug)]
struct Served {
    subject: String,
    msg_id: Option<String>,
    payload: Vec<u8>,
    ts: i64,
}

/// Every message of `stream`, read with `STREAM.MSG.GET` (which changes nothing: no
/// consumer is made, so an interest stream loses nothing to the reading).
async fn serve_all(client: &async_nats::Client, stream: &str) -> BTreeMap<u64, Served> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = BTreeMap::new();
    let mut seq = 1;
    loop {
        let reply = client
            .request(
                format!("$JS.API.STREAM.MSG.GET.{stream}"),
                json!({"seq": seq, "next_by_subj": ">"}).to_string().into(),
            )
            .await
            .expect("MSG.GET");
        let v: Value = serde_json::from_slice(&reply.payload).unwrap();
        if v.get("error").is_some() {
            assert_eq!(v["error"]["err_code"], 10037, "{stream} at {seq}: {v}");
            break;
        }
        let m = &v["message"];
        let got = m["seq"].as_u64().unwrap();
        let headers = m["hdrs"]
            .as_str()
            .map(|h| String::from_utf8(b64.decode(h).unwrap()).unwrap())
            .unwrap_or_default();
        let msg_id = headers
            .lines()
            .find_map(|l| l.strip_prefix("Nats-Msg-Id:").map(|v| v.trim().to_string()));
        let ts = chrono::DateTime::parse_from_rfc3339(m["time"].as_str().unwrap())
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        out.insert(
            got,
            Served {
                subject: m["subject"].as_str().unwrap().to_string(),
                msg_id,
                payload: m["data"]
                    .as_str()
                    .map(|d| b64.decode(d).unwrap())
                    .unwrap_or_default(),
                ts,
            },
        );
        seq = got + 1;
    }
    out
}

/// Delivers everything `stream`'s consumer has left to deliver (acking nothing) and
/// returns the stream sequences delivered.
async fn deliver_rest(client: &async_nats::Client, stream: &str) -> Vec<u64> {
    let js = async_nats::jetstream::new(client.clone());
    let consumer: PullConsumer = js
        .get_consumer_from_stream(CONSUMER, stream)
        .await
        .expect("the durable consumer is served");
    let mut seqs = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_millis(700))
            .messages()
            .await
            .expect("fetch");
        let before = seqs.len();
        while let Some(Ok(m)) = batch.next().await {
            seqs.push(m.info().unwrap().stream_sequence);
        }
        if seqs.len() == before {
            return seqs;
        }
    }
}

fn plan(store: &Path, out: &Path, extra: &[&str]) -> Value {
    js_recover()
        .arg("plan")
        .arg(store)
        .arg("--out")
        .arg(out)
        .args(extra)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap()
}

fn apply(plan: &Path, backup: &Path) {
    js_recover()
        .arg("apply")
        .arg(plan)
        .arg("--backup-dir")
        .arg(backup)
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
}

/// The sequences a manifest's tail section lists for `stream` under `field`
/// (`recovered` or `dropped`).
fn listed(manifest: &Value, stream: &str, field: &str) -> BTreeSet<u64> {
    let streams = manifest["tail"]["streams"].as_array().unwrap();
    streams
        .iter()
        .filter(|s| s["found"]["stream"] == stream)
        .flat_map(|s| s[field].as_array().unwrap().iter())
        .flat_map(|r| r["first"].as_u64().unwrap()..=r["last"].as_u64().unwrap())
        .collect()
}

fn retention_removes(stream: &str) -> bool {
    stream != "LIM"
}

/// Serves `store` and checks it against what the clients recorded and the node held;
/// `tail` is whether the plan wrote the log tail. Returns, per stream, the acknowledged
/// messages held on the node that the server does not serve (and that nothing consumed).
async fn check_served(
    version: &str,
    encryption: Option<Encryption>,
    store: &Path,
    held: &Held,
    record: &Record,
    tail: bool,
) -> BTreeMap<String, BTreeSet<u64>> {
    let served_dir = tempfile::tempdir().unwrap();
    copy_tree(store, served_dir.path());
    let server =
        Standalone::start_with(version, served_dir.path(), SysAccount::Default, encryption).await;
    let client = server.connect(ACCOUNT_A).await;
    let mut missing = BTreeMap::new();
    for (stream, prefix, _) in STREAMS {
        let served = serve_all(&client, stream).await;
        let consumed = record.consumed_in(stream);
        let recorded = held.acks.get(stream).cloned().unwrap_or_default();
        let deleted = held.log_deleted.get(stream).cloned().unwrap_or_default();
        let mut gone = BTreeSet::new();
        for ((s, seq), p) in record.published.range((stream.to_string(), 0)..) {
            if s != stream {
                break;
            }
            if !held.holds(stream, *seq) {
                continue;
            }
            let removed_by_consumer = retention_removes(stream)
                && (consumed.contains(seq) || recorded.contains(seq) || deleted.contains(seq));
            match served.get(seq) {
                Some(m) => {
                    assert_eq!(m.subject, p.subject, "{stream} seq {seq}");
                    assert_eq!(m.payload, p.payload, "{stream} seq {seq}");
                    assert_eq!(
                        m.msg_id.as_deref(),
                        Some(p.msg_id.as_str()),
                        "{stream} seq {seq}"
                    );
                    assert!(
                        p.sent <= m.ts && m.ts <= p.acked,
                        "{stream} seq {seq}: stamped {} outside its publish window {}..{}",
                        m.ts,
                        p.sent,
                        p.acked
                    );
                    if retention_removes(stream) && tail {
                        assert!(
                            !(consumed.contains(seq) && recorded.contains(seq)),
                            "{stream} seq {seq}: consumed (ack confirmed and recorded) but served again"
                        );
                    }
                }
                None if removed_by_consumer => {}
                None => {
                    gone.insert(*seq);
                }
            }
        }
        // Every message served is one the node held: nothing invented.
        for (seq, m) in &served {
            let from_log = held.log.get(stream).and_then(|l| l.get(seq));
            assert!(
                held.store[stream].contains(seq) || (tail && from_log.is_some()),
                "{stream} seq {seq} served, but the node held it in neither store nor log"
            );
            if let Some(l) = from_log.filter(|_| !held.store[stream].contains(seq)) {
                assert_eq!(m.payload, l.msg, "{stream} seq {seq}");
                assert_eq!(m.ts, l.ts, "{stream} seq {seq}");
                assert_eq!(m.subject.as_bytes(), l.subject, "{stream} seq {seq}");
            }
        }
        if tail {
            // No acknowledged ack recorded on the node is delivered again.
            let delivered = deliver_rest(&client, stream).await;
            let again: Vec<u64> = delivered
                .iter()
                .copied()
                .filter(|q| consumed.contains(q) && recorded.contains(q))
                .collect();
            assert!(
                again.is_empty(),
                "{stream}: acks the clients saw confirmed and the node recorded, delivered again: {again:?}"
            );
            // No sequence is handed out twice.
            let js = async_nats::jetstream::new(client.clone());
            let ack = js
                .publish(format!("{prefix}.after"), "after".into())
                .await
                .unwrap()
                .await
                .unwrap();
            assert!(
                ack.sequence > held.max_assigned(stream),
                "{stream}: a new message got seq {}, the survivor's log shows {} was assigned",
                ack.sequence,
                held.max_assigned(stream)
            );
        }
        missing.insert(stream.to_string(), gone);
    }
    let log = server.stop().await;
    let bad = crate::support::standalone::bad_lines(&log);
    assert!(bad.is_empty(), "nats-server {version}: {bad:?}");
    missing
}

/// One crash under load; the node whose log alone holds the most acknowledged messages, or
/// None when no node's does.
async fn trial(
    version: &str,
    encryption: Option<Encryption>,
) -> Option<(Cluster, Record, usize, Held)> {
    let mut cluster = Cluster::start(&ClusterOpts {
        version: version.into(),
        encryption,
        ..Default::default()
    })
    .await;
    let keys = encryption.map(keys_of);
    load::setup(&cluster).await;
    let record = load::run_and_crash(&mut cluster, BUSY).await;
    assert_eq!(record.duplicates, 0);
    let mut best: Option<(usize, Held, usize)> = None;
    for (i, dir) in cluster.store_dirs.iter().enumerate() {
        let held = Held::read(dir, keys.as_ref());
        let n = held.acked_only_in_log(&record);
        eprintln!(
            "n{}: {n} acknowledged messages only in the log ({} published, {} acks confirmed)",
            i + 1,
            record.published.len(),
            record.consumed.len()
        );
        if n > 0 && best.as_ref().is_none_or(|b| n > b.2) {
            best = Some((i, held, n));
        }
    }
    let (node, held, _) = best?;
    Some((cluster, record, node, held))
}

/// The keys js-recover and the readers take for a cluster's encryption.
fn keys_of(e: Encryption) -> Keys {
    let cipher = match e.cipher {
        "aes" => js_recover::store::crypto::Cipher::Aes,
        _ => js_recover::store::crypto::Cipher::Chacha,
    };
    Keys::new(e.key.as_bytes().to_vec(), None, Some(cipher))
}

async fn tail_recovered(version: &str, encryption: Option<Encryption>) {
    let key_file = tempfile::NamedTempFile::new().unwrap();
    let mut key_args: Vec<String> = Vec::new();
    if let Some(e) = encryption {
        std::fs::write(key_file.path(), e.key).unwrap();
        key_args = vec![
            "--key-file".into(),
            key_file.path().display().to_string(),
            "--cipher".into(),
            e.cipher.into(),
        ];
    }
    let key_args: Vec<&str> = key_args.iter().map(String::as_str).collect();
    let mut found = None;
    for t in 1..=TRIALS {
        if let Some(x) = trial(version, encryption).await {
            eprintln!("trial {t}: the log alone holds acknowledged messages");
            found = Some(x);
            break;
        }
    }
    let (cluster, record, node, held) = found
        .unwrap_or_else(|| panic!("{TRIALS} crashes left no acknowledged message only in a log"));
    let work = tempfile::tempdir().unwrap();
    let survivor = work.path().join("survivor");
    copy_tree(&cluster.store_dirs[node], &survivor);
    drop(cluster);
    // For a person chasing a failure: keep the survivor and what the clients recorded.
    if let Some(keep) = std::env::var_os("JS_RECOVER_KEEP_DIR") {
        let keep = Path::new(&keep).join(format!("tail-{version}"));
        let _ = std::fs::remove_dir_all(&keep);
        copy_tree(&survivor, &keep.join("survivor"));
        let consumed: Vec<String> = record
            .consumed
            .iter()
            .map(|(s, c, q)| format!("{s} {c} {q}"))
            .collect();
        std::fs::write(keep.join("consumed.txt"), consumed.join("\n")).unwrap();
    }
    let original = tree(&survivor);

    // inspect shows the tail, per stream.
    let report: Value = serde_json::from_slice(
        &js_recover()
            .args(["inspect", "--json"])
            .arg(&survivor)
            .args(&key_args)
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    for (stream, _, _) in STREAMS {
        let only = held.log_only(stream);
        let found = report["tail"]["streams"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stream"] == stream);
        assert_eq!(
            found.map_or(0, |s| s["messages"].as_u64().unwrap()) as usize,
            only.len(),
            "{stream}: {:?}",
            report["tail"]
        );
    }

    // The default plan writes back exactly what the log alone holds.
    let a = work.path().join("a");
    copy_tree(&survivor, &a);
    let manifest = plan(&a, &work.path().join("a.json"), &key_args);
    assert_same_tree(&original, &tree(&a));
    for (stream, _, _) in STREAMS {
        assert_eq!(
            listed(&manifest, stream, "recovered"),
            held.log_only(stream),
            "{stream}"
        );
        assert!(listed(&manifest, stream, "dropped").is_empty(), "{stream}");
    }
    let backup_a = work.path().join("a-backup");
    apply(&work.path().join("a.json"), &backup_a);
    let lost = check_served(version, encryption, &a, &held, &record, true).await;
    for (stream, gone) in &lost {
        assert!(
            gone.is_empty(),
            "{stream}: acknowledged messages the node held are not served: {gone:?}"
        );
    }
    js_recover()
        .arg("rollback")
        .arg(&backup_a)
        .assert()
        .success();
    assert_same_tree(&original, &tree(&a));

    // --raft-tail none: what is not served is exactly what the plan says it drops.
    let b = work.path().join("b");
    copy_tree(&survivor, &b);
    let manifest = plan(
        &b,
        &work.path().join("b.json"),
        &[&key_args[..], &["--raft-tail", "none"]].concat(),
    );
    assert_eq!(manifest["tail"]["mode"], "none");
    let mut lost_acked = 0;
    for (stream, _, _) in STREAMS {
        assert_eq!(
            listed(&manifest, stream, "dropped"),
            held.log_only(stream),
            "{stream}"
        );
        assert!(listed(&manifest, stream, "recovered").is_empty());
    }
    apply(&work.path().join("b.json"), &work.path().join("b-backup"));
    let lost = check_served(version, encryption, &b, &held, &record, false).await;
    for (stream, gone) in &lost {
        let dropped = listed(&manifest, stream, "dropped");
        let consumed = record.consumed_in(stream);
        let expected: BTreeSet<u64> = dropped
            .iter()
            .copied()
            .filter(|q| record.published.contains_key(&(stream.to_string(), *q)))
            .filter(|q| {
                !(retention_removes(stream)
                    && (consumed.contains(q)
                        || held.acks.get(stream).is_some_and(|a| a.contains(q))
                        || held.log_deleted.get(stream).is_some_and(|d| d.contains(q))))
            })
            .collect();
        assert_eq!(gone, &expected, "{stream}: lost vs reported dropped");
        lost_acked += gone.len();
    }
    assert!(
        lost_acked > 0,
        "--raft-tail none lost no acknowledged message"
    );
    eprintln!("--raft-tail none: {lost_acked} acknowledged messages lost, each reported");

    // apply SIGKILLed at every I/O operation: rollback gives back the survivor.
    let c = work.path().join("c");
    copy_tree(&survivor, &c);
    let manifest_c = work.path().join("c.json");
    plan(&c, &manifest_c, &key_args);
    let mut n = 0;
    loop {
        let backup = work.path().join(format!("c-backup-{n}"));
        let out = js_recover()
            .arg("apply")
            .arg(&manifest_c)
            .arg("--backup-dir")
            .arg(&backup)
            .env("JS_RECOVER_FAILPOINT", format!("io:{n}@kill"))
            .timeout(Duration::from_secs(120))
            .output()
            .unwrap();
        let finished = out.status.success();
        if backup.join("journal.jsonl").exists() {
            js_recover().arg("rollback").arg(&backup).assert().success();
        }
        assert_same_tree(&original, &tree(&c));
        if finished {
            break;
        }
        assert_eq!(out.status.code(), None, "io:{n}@kill: {out:?}");
        n += 1;
    }
    eprintln!("apply killed at each of its {n} I/O operations, rolled back each time");
    assert!(n > 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_12_8() {
    tail_recovered("2.12.8", None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_15_1() {
    tail_recovered("2.15.1", None).await;
}

/// Encrypted at rest (AES): the messages written back go into a block with a key of its
/// own, sealed as the server seals block keys.
#[tokio::test(flavor = "multi_thread")]
async fn v2_15_1_encrypted() {
    tail_recovered(
        "2.15.1",
        Some(Encryption {
            key: "tail-test-key",
            cipher: "aes",
            prev_key: None,
        }),
    )
    .await;
}
