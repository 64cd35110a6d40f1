//! Reading the state of every stream, consumer and KV bucket from a live
//! server into `Expectations`.
//!
//! It speaks the raw `$JS.API` JSON rather than async-nats' typed API so the
//! same code reads every server release line, whatever fields they add.

use std::collections::BTreeMap;

use async_nats::Client;
use base64::Engine as _;
use serde_json::{json, Value};

use super::cluster::connect;
use super::config::ACCOUNTS;
use super::scenario::{AccountExpect, ConsumerExpect, Expectations, StreamExpect};

/// Snapshot of every JetStream account in the test config, via `url`.
pub async fn snapshot(url: &str) -> Expectations {
    let mut out = Expectations::default();
    for account in ACCOUNTS {
        let client = connect(url, account).await;
        out.accounts
            .insert(account.name.to_string(), account_state(&client).await);
    }
    out
}

/// Sends one JetStream API request and returns the JSON answer, panicking on
/// a transport error or an API error.
pub async fn api(client: &Client, subject: &str, body: Value) -> Value {
    let reply = client
        .request(subject.to_string(), body.to_string().into())
        .await
        .unwrap_or_else(|e| panic!("request {subject}: {e}"));
    let v: Value = serde_json::from_slice(&reply.payload)
        .unwrap_or_else(|e| panic!("{subject} answered non-JSON ({e}): {:?}", reply.payload));
    assert!(v.get("error").is_none(), "{subject} answered an error: {v}");
    v
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn names(v: &Value, field: &str) -> Vec<String> {
    let list = v[field].as_array().cloned().unwrap_or_default();
    let mut names: Vec<String> = list
        .iter()
        .filter_map(|n| n.as_str().map(String::from))
        .collect();
    names.sort();
    names
}

/// Every stream (with its consumers, KV and object buckets) of the account `client` is
/// logged in to.
pub async fn account_state(client: &Client) -> AccountExpect {
    let mut out = AccountExpect::default();
    let listed = api(client, "$JS.API.STREAM.NAMES", json!({})).await;
    for name in names(&listed, "streams") {
        let info = api(client, &format!("$JS.API.STREAM.INFO.{name}"), json!({})).await;
        let st = &info["state"];
        let mut stream = StreamExpect {
            name: name.clone(),
            messages: u(&st["messages"]),
            first_seq: u(&st["first_seq"]),
            last_seq: u(&st["last_seq"]),
            bytes: u(&st["bytes"]),
            consumers: BTreeMap::new(),
        };
        let cons = api(client, &format!("$JS.API.CONSUMER.NAMES.{name}"), json!({})).await;
        for c in names(&cons, "consumers") {
            let ci = api(
                client,
                &format!("$JS.API.CONSUMER.INFO.{name}.{c}"),
                json!({}),
            )
            .await;
            stream.consumers.insert(c.clone(), consumer_state(&ci));
        }
        if let Some(bucket) = name.strip_prefix("KV_") {
            let kv = kv_state(client, &name, bucket).await;
            out.kv.insert(bucket.to_string(), kv);
        }
        if let Some(bucket) = name.strip_prefix("OBJ_") {
            let objects = object_state(client, bucket).await;
            out.objects.insert(bucket.to_string(), objects);
        }
        out.streams.insert(name, stream);
    }
    out
}

fn consumer_state(ci: &Value) -> ConsumerExpect {
    ConsumerExpect {
        name: ci["name"].as_str().unwrap_or_default().to_string(),
        delivered_stream_seq: u(&ci["delivered"]["stream_seq"]),
        delivered_consumer_seq: u(&ci["delivered"]["consumer_seq"]),
        ack_floor_stream_seq: u(&ci["ack_floor"]["stream_seq"]),
        ack_floor_consumer_seq: u(&ci["ack_floor"]["consumer_seq"]),
        num_ack_pending: u(&ci["num_ack_pending"]),
        num_pending: u(&ci["num_pending"]),
    }
}

/// Live keys of a KV bucket: the last message per key subject, skipping
/// delete and purge markers (`KV-Operation` header).
async fn kv_state(client: &Client, stream: &str, bucket: &str) -> BTreeMap<String, String> {
    let prefix = format!("$KV.{bucket}.");
    let filter = json!({ "subjects_filter": format!("{prefix}>") });
    let info = api(client, &format!("$JS.API.STREAM.INFO.{stream}"), filter).await;
    let subjects: Vec<String> = info["state"]["subjects"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = BTreeMap::new();
    for subject in subjects {
        let get = json!({ "last_by_subj": subject });
        let msg = api(client, &format!("$JS.API.STREAM.MSG.GET.{stream}"), get).await;
        let hdrs = b64
            .decode(msg["message"]["hdrs"].as_str().unwrap_or_default())
            .unwrap_or_default();
        if String::from_utf8_lossy(&hdrs).contains("KV-Operation") {
            continue;
        }
        let data = b64
            .decode(msg["message"]["data"].as_str().unwrap_or_default())
            .expect("base64 message data");
        let key = subject
            .strip_prefix(&prefix)
            .unwrap_or(&subject)
            .to_string();
        out.insert(key, String::from_utf8_lossy(&data).into_owned());
    }
    out
}

/// Every live object of an object store bucket, read back in full: name -> SHA-256 (hex).
async fn object_state(client: &Client, bucket: &str) -> BTreeMap<String, String> {
    use futures::TryStreamExt;
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    let js = async_nats::jetstream::new(client.clone());
    let store = js
        .get_object_store(bucket)
        .await
        .unwrap_or_else(|e| panic!("object store {bucket}: {e}"));
    let infos: Vec<_> = store
        .list()
        .await
        .unwrap_or_else(|e| panic!("list object store {bucket}: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("list object store {bucket}: {e}"));
    let mut out = BTreeMap::new();
    for info in infos.into_iter().filter(|i| !i.deleted) {
        let mut object = store
            .get(&info.name)
            .await
            .unwrap_or_else(|e| panic!("get object {bucket}/{}: {e}", info.name));
        let mut data = Vec::new();
        object
            .read_to_end(&mut data)
            .await
            .unwrap_or_else(|e| panic!("read object {bucket}/{}: {e}", info.name));
        assert_eq!(data.len(), info.size, "object {bucket}/{}", info.name);
        out.insert(info.name, hex::encode(sha2::Sha256::digest(&data)));
    }
    out
}
