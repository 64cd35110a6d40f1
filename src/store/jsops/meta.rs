//! The meta group (`$SYS/_js_/_meta_`): which streams and consumers the cluster has, and
//! on which peers.
//!
//! Mirrors, in server/jetstream_cluster.go: `metaSnapshot`/`encodeMetaSnapshot` and
//! `applyMetaSnapshot`/`decodeMetaSnapshot` (the snapshot), `applyMetaEntries` (which ops
//! exist and what they do), `encodeAddStreamAssignment`, `encodeUpdateStreamAssignment`,
//! `encodeDeleteStreamAssignment`, `encodeAddConsumerAssignment`,
//! `encodeDeleteConsumerAssignment`, `encodeAddConsumerAssignmentCompressed`,
//! `decodeStreamAssignment`, `decodeConsumerAssignment`,
//! `decodeConsumerAssignmentCompressed`, and for [`replay`] `processStreamAssignment`,
//! `processUpdateStreamAssignment`, `processStreamRemoval`, `processConsumerAssignment`,
//! `processConsumerRemoval` and the `recoveryUpdates` staging. The account of an
//! assignment is `ClientInfo.serviceAccount()` (server/client.go).
//!
//! # Wire format
//!
//! ## Meta snapshot (the `data` of an `EntrySnapshot` / the snapshot file's data)
//!
//! An S2 **block** (`s2.Encode`) of a JSON array of `writeableStreamAssignment`, one per
//! stream, in Go map order:
//!
//! ```text
//! [{"client":{"acc":"A","svc":"...","cluster":"C1"},   // forAssignmentSnap(): acc/svc/cluster only
//!   "created":"2026-11-21T12:25:49.455574669Z",       // RFC 3339 nano, Go zero time if unset
//!   "stream":{...StreamConfig...},                     // the config, lossless (json.RawMessage since 2.11)
//!   "group":{"name":"S-R3F-j8rY61cN","peers":["..."],"store":"file",
//!            "cluster":"C1","preferred":"...",          // omitempty
//!            "scale_up":true,                          // 2.12+, omitempty
//!            "excluded":[],"desired":{}},              // 2.15+, omitempty
//!   "sync":"$JSC.SYNC.YSUzvR0Y",
//!   "Consumers":[ {consumer}, ... ]}]                  // no JSON tag: key "Consumers"
//! ```
//!
//! A consumer in the snapshot has `client`, `created`, `name`, `stream`, `consumer` (its
//! config) and `group`. Differences between releases, all handled:
//! * 2.10: the consumers are full `consumerAssignment`s, so a `"state"` object may be
//!   there too (kept in `raw`); `subject`/`reply` are blanked.
//! * 2.11: `writeableConsumerAssignment` with an optional `"state"`.
//! * 2.12 – 2.15: `writeableConsumerAssignment` without `"state"`.
//! * 2.12+: groups may carry `scale_up`; 2.15: also `excluded` and `desired` (all kept in
//!   [`RaftGroup::raw`]).
//!
//! An empty snapshot (no streams) is zero bytes. No release has a binary meta snapshot.
//!
//! ## Meta ops (the `data` of an `EntryNormal`)
//!
//! `op(1)` then a body; the bodies are `json.Encoder` output (so end in `\n`):
//!
//! | op | name | body |
//! |----|------|------|
//! | 0 | `assignStreamOp` | JSON `streamAssignment` |
//! | 11 | `updateStreamOp` | JSON `streamAssignment` |
//! | 2 | `removeStreamOp` | JSON `streamAssignment` |
//! | 1 | `assignConsumerOp` | JSON `consumerAssignment` |
//! | 3 | `removeConsumerOp` | JSON `consumerAssignment` |
//! | 9 | `assignCompressedConsumerOp` | S2 **stream** (framed, `s2.NewWriter`) of JSON `consumerAssignment` |
//!
//! `streamAssignment` is `{"client":{full ClientInfo less jwt/issuer_key},"created",
//! "stream":{config},"group":{...},"sync","subject","reply","restore_state"}` and
//! `consumerAssignment` is `{"client","created","name","stream","consumer":{config},
//! "group","subject","reply","state"}`; the same in every release 2.10 – 2.15 apart from
//! the group fields above. Any other op byte in the meta log is [`MetaOp::Other`] (the
//! server itself rejects it).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::store::jsops::error::{OpError, Payload};
use crate::store::jsops::json::{field, without, Doc};
use crate::store::jsops::op;

/// Where the group's Raft log and store live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Storage {
    /// `"file"`
    File,
    /// `"memory"`
    Memory,
}

/// A Raft group as the meta layer assigns it (`raftGroup`).
#[derive(Debug, Clone, PartialEq)]
pub struct RaftGroup {
    /// `S-*`/`C-*`: the directory name under `_js_`.
    pub name: String,
    /// Peer ids (the 8-character server name hashes).
    pub peers: Vec<String>,
    pub storage: Storage,
    pub cluster: Option<String>,
    pub preferred: Option<String>,
    /// The group object as it was, with any field this struct has no place for.
    pub raw: Value,
}

/// One stream assignment with its consumers.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamAssignment {
    /// `client.svc` if set, else `client.acc` (`serviceAccount()`); empty without a client.
    pub account: String,
    /// `stream.name` from the config.
    pub name: String,
    /// The stream config, lossless (key order kept).
    pub config: Value,
    pub group: RaftGroup,
    /// `created`, as the server wrote it.
    pub created: Option<String>,
    /// The consumers (from a snapshot, or added by [`replay`]); always empty for an op.
    pub consumers: Vec<ConsumerAssignment>,
    /// The assignment object as it was, less its `Consumers` array.
    pub raw: Value,
}

/// One consumer assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerAssignment {
    /// The consumer's client's service account; in a snapshot, the account of the stream
    /// it is listed under (where the server files it).
    pub account: String,
    /// The stream's name; in a snapshot an empty one is the parent stream's (as the
    /// server rehydrates it).
    pub stream: String,
    /// The assignment's `name` (the durable or generated consumer name).
    pub name: String,
    /// The consumer config, lossless.
    pub config: Value,
    pub group: RaftGroup,
    pub created: Option<String>,
    /// The assignment object as it was.
    pub raw: Value,
}

/// A decoded meta log entry.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaOp {
    AssignStream(StreamAssignment),
    UpdateStream(StreamAssignment),
    RemoveStream(StreamAssignment),
    /// Both `assignConsumerOp` and `assignCompressedConsumerOp`.
    AssignConsumer(ConsumerAssignment),
    RemoveConsumer(ConsumerAssignment),
    /// An op byte that is not a meta op; the body is not looked at.
    Other(u8),
}

/// Decodes a meta snapshot into its stream assignments, in the snapshot's order. A
/// stream listed twice (same account and name) is kept once, the last copy, as the
/// server's map would.
pub fn decode_snapshot(data: &[u8]) -> Result<Vec<StreamAssignment>, OpError> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let payload = Payload::MetaSnapshot;
    let json = crate::store::jsops::s2::decode_block(data, payload, 0)?;
    let doc = Doc {
        payload,
        offset: 0,
        decompressed: true,
    };
    let v = doc.parse(&json)?;
    let items = match &v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => return Err(doc.invalid("snapshot", "expected a JSON array of stream assignments")),
    };
    let mut out: Vec<StreamAssignment> = Vec::with_capacity(items.len());
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for item in items {
        let obj = doc.object(item, "stream assignment")?;
        let sa = stream_assignment(&doc, obj, true)?;
        match index.get(&(sa.account.clone(), sa.name.clone())) {
            Some(&i) => out[i] = sa,
            None => {
                index.insert((sa.account.clone(), sa.name.clone()), out.len());
                out.push(sa);
            }
        }
    }
    Ok(out)
}

/// Decodes one meta log entry.
pub fn decode_op(data: &[u8]) -> Result<MetaOp, OpError> {
    let Some(&opb) = data.first() else {
        return Err(OpError::Empty {
            payload: Payload::Entry,
        });
    };
    let payload = Payload::Op(opb);
    let doc = Doc {
        payload,
        offset: 1,
        decompressed: false,
    };
    let body = &data[1..];
    Ok(match opb {
        op::ASSIGN_STREAM | op::UPDATE_STREAM | op::REMOVE_STREAM => {
            let v = doc.parse(body)?;
            let sa = stream_assignment(&doc, doc.object(&v, "stream assignment")?, false)?;
            match opb {
                op::ASSIGN_STREAM => MetaOp::AssignStream(sa),
                op::UPDATE_STREAM => MetaOp::UpdateStream(sa),
                _ => MetaOp::RemoveStream(sa),
            }
        }
        op::ASSIGN_CONSUMER | op::REMOVE_CONSUMER => {
            let v = doc.parse(body)?;
            let ca = consumer_assignment(&doc, doc.object(&v, "consumer assignment")?, None)?;
            if opb == op::ASSIGN_CONSUMER {
                MetaOp::AssignConsumer(ca)
            } else {
                MetaOp::RemoveConsumer(ca)
            }
        }
        op::ASSIGN_COMPRESSED_CONSUMER => {
            let json = crate::store::jsops::s2::decode_stream(body, payload, 1)?;
            let doc = Doc {
                payload,
                offset: 0,
                decompressed: true,
            };
            let v = doc.parse_first(&json)?;
            MetaOp::AssignConsumer(consumer_assignment(
                &doc,
                doc.object(&v, "consumer assignment")?,
                None,
            )?)
        }
        other => MetaOp::Other(other),
    })
}

/// Applies meta ops, in log order, to the streams of a snapshot, as a server applying its
/// log does (`applyMetaEntries` and the `process*` functions it calls), and returns the
/// cluster's inventory: snapshot order first, new streams after in the order they were
/// assigned.
///
/// * assign stream: adds it, or replaces an existing one of the same account and name
///   keeping its consumers;
/// * update stream: replaces an existing stream keeping its consumers; ignored if the
///   stream is unknown;
/// * remove stream: drops it and its consumers;
/// * assign consumer: adds or replaces (by name) a consumer of an existing stream of the
///   consumer's account; ignored if the stream is unknown;
/// * remove consumer: drops the consumer of that name only if its group name matches.
///
/// Give only the entries after the snapshot's last index; an entry that carries a new
/// snapshot replaces everything (start again from [`decode_snapshot`]). Ops of other
/// groups ([`MetaOp::Other`]) are ignored.
pub fn replay(
    snapshot: Vec<StreamAssignment>,
    ops: impl IntoIterator<Item = MetaOp>,
) -> Vec<StreamAssignment> {
    let mut slots: Vec<Option<StreamAssignment>> = Vec::with_capacity(snapshot.len());
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for sa in snapshot {
        let key = (sa.account.clone(), sa.name.clone());
        match index.get(&key) {
            Some(&i) => slots[i] = Some(sa),
            None => {
                index.insert(key, slots.len());
                slots.push(Some(sa));
            }
        }
    }
    for op in ops {
        match op {
            MetaOp::AssignStream(mut sa) => {
                let key = (sa.account.clone(), sa.name.clone());
                match index.get(&key).copied() {
                    Some(i) => {
                        if let Some(old) = slots[i].take() {
                            sa.consumers = old.consumers;
                        }
                        slots[i] = Some(sa);
                    }
                    None => {
                        index.insert(key, slots.len());
                        slots.push(Some(sa));
                    }
                }
            }
            MetaOp::UpdateStream(mut sa) => {
                let key = (sa.account.clone(), sa.name.clone());
                if let Some(&i) = index.get(&key) {
                    if let Some(old) = slots[i].take() {
                        sa.consumers = old.consumers;
                    }
                    slots[i] = Some(sa);
                }
            }
            MetaOp::RemoveStream(sa) => {
                if let Some(i) = index.remove(&(sa.account, sa.name)) {
                    slots[i] = None;
                }
            }
            MetaOp::AssignConsumer(ca) => {
                let key = (ca.account.clone(), ca.stream.clone());
                if let Some(sa) = index.get(&key).and_then(|&i| slots[i].as_mut()) {
                    match sa.consumers.iter_mut().find(|c| c.name == ca.name) {
                        Some(old) => *old = ca,
                        None => sa.consumers.push(ca),
                    }
                }
            }
            MetaOp::RemoveConsumer(ca) => {
                let key = (ca.account.clone(), ca.stream.clone());
                if let Some(sa) = index.get(&key).and_then(|&i| slots[i].as_mut()) {
                    sa.consumers
                        .retain(|c| !(c.name == ca.name && c.group.name == ca.group.name));
                }
            }
            MetaOp::Other(_) => {}
        }
    }
    slots.into_iter().flatten().collect()
}

/// `ClientInfo.serviceAccount()`: `svc` when set, else `acc`.
fn service_account(doc: &Doc, obj: &Map<String, Value>) -> Result<String, OpError> {
    let Some(client) = doc.opt_object(obj, "client")? else {
        return Ok(String::new());
    };
    let svc = doc.opt_str(client, "svc")?.unwrap_or_default();
    if !svc.is_empty() {
        return Ok(svc);
    }
    Ok(doc.opt_str(client, "acc")?.unwrap_or_default())
}

fn config<'v>(
    doc: &Doc,
    obj: &'v Map<String, Value>,
    key: &'static str,
) -> Result<&'v Value, OpError> {
    match field(obj, key) {
        Some(v @ Value::Object(_)) => Ok(v),
        None | Some(Value::Null) => Err(doc.invalid(key, "the assignment has no config")),
        Some(_) => Err(doc.invalid(key, "the config is not a JSON object")),
    }
}

fn group(doc: &Doc, obj: &Map<String, Value>) -> Result<RaftGroup, OpError> {
    let Some(g) = doc.opt_object(obj, "group")? else {
        return Err(doc.invalid("group", "the assignment has no Raft group"));
    };
    let storage = match doc.opt_str(g, "store")?.as_deref() {
        Some("file") => Storage::File,
        Some("memory") => Storage::Memory,
        Some(other) => return Err(doc.invalid("store", format!("unknown storage type {other:?}"))),
        None => return Err(doc.invalid("store", "the group has no storage type")),
    };
    Ok(RaftGroup {
        name: doc.opt_str(g, "name")?.unwrap_or_default(),
        peers: doc.opt_str_list(g, "peers")?.unwrap_or_default(),
        storage,
        cluster: doc.opt_str(g, "cluster")?.filter(|s| !s.is_empty()),
        preferred: doc.opt_str(g, "preferred")?.filter(|s| !s.is_empty()),
        raw: Value::Object(g.clone()),
    })
}

fn stream_assignment(
    doc: &Doc,
    obj: &Map<String, Value>,
    snapshot: bool,
) -> Result<StreamAssignment, OpError> {
    let account = service_account(doc, obj)?;
    let config = config(doc, obj, "stream")?;
    let name = match config {
        Value::Object(c) => doc.opt_str(c, "name")?.unwrap_or_default(),
        _ => String::new(),
    };
    let group = group(doc, obj)?;
    let created = doc.opt_str(obj, "created")?;
    let mut consumers = Vec::new();
    if snapshot {
        match field(obj, "Consumers") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                consumers.reserve(list.len());
                for c in list {
                    if c.is_null() {
                        continue;
                    }
                    let c = doc.object(c, "consumer assignment")?;
                    let ca = consumer_assignment(doc, c, Some((&account, &name)))?;
                    // The server keeps them in a map by name: the last one wins.
                    match consumers
                        .iter_mut()
                        .find(|o: &&mut ConsumerAssignment| o.name == ca.name)
                    {
                        Some(o) => *o = ca,
                        None => consumers.push(ca),
                    }
                }
            }
            Some(_) => return Err(doc.invalid("Consumers", "expected an array")),
        }
    }
    Ok(StreamAssignment {
        account,
        name,
        config: config.clone(),
        group,
        created,
        consumers,
        raw: Value::Object(without(obj, "Consumers")),
    })
}

fn consumer_assignment(
    doc: &Doc,
    obj: &Map<String, Value>,
    parent: Option<(&str, &str)>,
) -> Result<ConsumerAssignment, OpError> {
    let mut account = service_account(doc, obj)?;
    let mut stream = doc.opt_str(obj, "stream")?.unwrap_or_default();
    if let Some((pacc, pstream)) = parent {
        account = pacc.to_string();
        if stream.is_empty() {
            stream = pstream.to_string();
        }
    }
    Ok(ConsumerAssignment {
        account,
        stream,
        name: doc.opt_str(obj, "name")?.unwrap_or_default(),
        config: config(doc, obj, "consumer")?.clone(),
        group: group(doc, obj)?,
        created: doc.opt_str(obj, "created")?,
        raw: Value::Object(obj.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(code: u8, v: &Value) -> Vec<u8> {
        let mut b = vec![code];
        b.extend(serde_json::to_vec(v).unwrap());
        b.push(b'\n');
        b
    }

    fn group(name: &str, peers: &[&str]) -> Value {
        json!({"name": name, "peers": peers, "store": "file", "cluster": "C1"})
    }

    fn sa(acc: &str, name: &str, g: &str) -> Value {
        json!({"client": {"acc": acc, "server": "x"}, "created": "2026-01-01T00:00:00Z",
               "stream": {"name": name, "num_replicas": 3}, "group": group(g, &["p1", "p2", "p3"]),
               "sync": "$JSC.SYNC.x"})
    }

    fn ca(acc: &str, stream: &str, name: &str, g: &str) -> Value {
        json!({"client": {"acc": acc}, "created": "2026-01-01T00:00:00Z", "name": name,
               "stream": stream, "consumer": {"durable_name": name}, "group": group(g, &["p1", "p2", "p3"])})
    }

    fn snapshot(v: &Value) -> Vec<u8> {
        minlz::s2::encode(&serde_json::to_vec(v).unwrap())
    }

    #[test]
    fn stream_ops_decode_with_account_name_group() {
        let mut v = sa("A", "S1", "S-R3F-1");
        v["client"]["svc"] = json!("SVC");
        let MetaOp::AssignStream(s) = decode_op(&op(op::ASSIGN_STREAM, &v)).unwrap() else {
            panic!()
        };
        assert_eq!((s.account.as_str(), s.name.as_str()), ("SVC", "S1"));
        assert_eq!(s.group.peers, ["p1", "p2", "p3"]);
        assert_eq!(s.group.cluster.as_deref(), Some("C1"));
        assert_eq!(s.group.preferred, None);
        assert_eq!(s.created.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(s.raw["sync"], "$JSC.SYNC.x");
        assert!(matches!(
            decode_op(&op(op::UPDATE_STREAM, &v)).unwrap(),
            MetaOp::UpdateStream(_)
        ));
        assert!(matches!(
            decode_op(&op(op::REMOVE_STREAM, &v)).unwrap(),
            MetaOp::RemoveStream(_)
        ));
    }

    #[test]
    fn keys_match_like_go_ignoring_case() {
        let v = json!({"Client": {"ACC": "A"}, "Stream": {"Name": "S1"},
                       "GROUP": {"Name": "S-1", "Peers": ["p"], "Store": "memory"}});
        let MetaOp::AssignStream(s) = decode_op(&op(op::ASSIGN_STREAM, &v)).unwrap() else {
            panic!()
        };
        assert_eq!(
            (s.account.as_str(), s.name.as_str(), s.group.storage),
            ("A", "S1", Storage::Memory)
        );
    }

    #[test]
    fn consumer_ops_plain_and_compressed() {
        let v = ca("A", "S1", "C1", "C-R3F-1");
        let plain = decode_op(&op(op::ASSIGN_CONSUMER, &v)).unwrap();
        let MetaOp::AssignConsumer(c) = &plain else {
            panic!()
        };
        assert_eq!(
            (c.account.as_str(), c.stream.as_str(), c.name.as_str()),
            ("A", "S1", "C1")
        );
        assert!(matches!(
            decode_op(&op(op::REMOVE_CONSUMER, &v)).unwrap(),
            MetaOp::RemoveConsumer(_)
        ));

        // `encodeAddConsumerAssignmentCompressed`: an S2 stream of json.Encoder output.
        let mut body = Vec::new();
        {
            use std::io::Write;
            let mut w = minlz::s2::Writer::new(&mut body);
            w.write_all(&serde_json::to_vec(&v).unwrap()).unwrap();
            w.write_all(b"\n").unwrap();
            w.flush().unwrap();
        }
        let mut data = vec![op::ASSIGN_COMPRESSED_CONSUMER];
        data.extend(&body);
        assert_eq!(decode_op(&data).unwrap(), plain);

        // A corrupt stream is a decompression error at the body's offset.
        let n = data.len();
        data[n - 1] ^= 0xff;
        let e = decode_op(&data).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Decompress {
                    format: "stream",
                    offset: 1,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_op_and_offset() {
        let e = decode_op(&[]).unwrap_err();
        assert!(matches!(
            e,
            OpError::Empty {
                payload: Payload::Entry
            }
        ));
        assert_eq!(
            (e.op(), e.offset(), e.to_string().as_str()),
            (None, 0, "entry: empty payload")
        );
        assert_eq!(
            decode_op(&[op::REMOVE_STREAM + 40]).unwrap(),
            MetaOp::Other(42)
        );
        assert_eq!(
            decode_op(&[op::STREAM_MSG, 1, 2]).unwrap(),
            MetaOp::Other(op::STREAM_MSG)
        );

        let e = decode_op(b"\x00{\"stream\":{\"name\":\"S\"},").unwrap_err();
        assert!(matches!(e, OpError::Json { offset: 23, .. }), "{e:?}");
        assert_eq!(e.op(), Some(0));

        let mut v = sa("A", "S1", "S-1");
        v.as_object_mut().unwrap().remove("group");
        let e = decode_op(&op(op::ASSIGN_STREAM, &v)).unwrap_err();
        assert!(
            matches!(
                e,
                OpError::Invalid {
                    field: "group",
                    offset: 1,
                    ..
                }
            ),
            "{e}"
        );

        v["group"] = json!({"name": "S-1", "peers": [], "store": "tape"});
        assert!(matches!(
            decode_op(&op(op::ASSIGN_STREAM, &v)),
            Err(OpError::Invalid { field: "store", .. })
        ));
        v["group"] = json!({"name": "S-1", "peers": [1], "store": "file"});
        assert!(matches!(
            decode_op(&op(op::ASSIGN_STREAM, &v)),
            Err(OpError::Invalid { field: "peers", .. })
        ));
        let v = json!({"client": {"acc": "A"}, "stream": null, "group": group("S-1", &[])});
        assert!(matches!(
            decode_op(&op(op::ASSIGN_STREAM, &v)),
            Err(OpError::Invalid {
                field: "stream",
                ..
            })
        ));
        assert!(matches!(decode_op(b"\x01[]"), Err(OpError::Invalid { .. })));
    }

    #[test]
    fn snapshot_layouts() {
        assert_eq!(decode_snapshot(&[]).unwrap(), vec![]);
        assert_eq!(decode_snapshot(&snapshot(&Value::Null)).unwrap(), vec![]);
        assert!(matches!(
            decode_snapshot(&snapshot(&json!({}))),
            Err(OpError::Invalid { .. })
        ));
        assert!(matches!(
            decode_snapshot(b"\xff\xff\xff\xff\x7f"),
            Err(OpError::Decompress {
                format: "block",
                ..
            })
        ));

        // 2.10: full consumer assignments with a state; an empty stream is rehydrated.
        let mut s1 = sa("A", "S1", "S-1");
        let mut c = ca("", "", "C1", "C-1");
        c["client"] = json!({"acc": "A"});
        c["state"] = json!({"delivered": {"consumer_seq": 1, "stream_seq": 1}});
        c["stream"] = json!("");
        s1["Consumers"] = json!([c, null]);
        let s1b = sa("A", "S1", "S-1b");
        let s2 = sa("B", "S1", "S-2");
        let streams = decode_snapshot(&snapshot(&json!([s1, s2, s1b]))).unwrap();
        assert_eq!(streams.len(), 2);
        // The later copy of A/S1 wins, in the first one's place.
        assert_eq!(
            (streams[0].account.as_str(), streams[0].group.name.as_str()),
            ("A", "S-1b")
        );
        assert_eq!(streams[1].account, "B");

        let streams = decode_snapshot(&snapshot(&json!([s1]))).unwrap();
        let c = &streams[0].consumers[0];
        assert_eq!((c.account.as_str(), c.stream.as_str()), ("A", "S1"));
        assert!(c.raw.get("state").is_some());
        assert!(streams[0].raw.get("Consumers").is_none());
        assert_eq!(streams[0].consumers.len(), 1);
    }

    fn assign(acc: &str, name: &str, g: &str) -> StreamAssignment {
        let MetaOp::AssignStream(s) = decode_op(&op(op::ASSIGN_STREAM, &sa(acc, name, g))).unwrap()
        else {
            panic!()
        };
        s
    }

    fn consumer(acc: &str, stream: &str, name: &str, g: &str) -> ConsumerAssignment {
        let MetaOp::AssignConsumer(c) =
            decode_op(&op(op::ASSIGN_CONSUMER, &ca(acc, stream, name, g))).unwrap()
        else {
            panic!()
        };
        c
    }

    #[test]
    fn replay_follows_the_servers_rules() {
        let mut s1 = assign("A", "S1", "S-1");
        s1.consumers.push(consumer("A", "S1", "C1", "C-1"));
        let snap = vec![s1, assign("A", "S2", "S-2")];

        let out = replay(
            snap.clone(),
            [
                // Re-assign keeps consumers; update of an unknown stream is ignored.
                MetaOp::AssignStream(assign("A", "S1", "S-1x")),
                MetaOp::UpdateStream(assign("A", "NOPE", "S-9")),
                // A consumer of an unknown stream (or account) is ignored.
                MetaOp::AssignConsumer(consumer("A", "NOPE", "C9", "C-9")),
                MetaOp::AssignConsumer(consumer("B", "S1", "C9", "C-9")),
                MetaOp::AssignConsumer(consumer("A", "S2", "C2", "C-2")),
                // A removal for another group of the same name is ignored.
                MetaOp::RemoveConsumer(consumer("A", "S1", "C1", "C-old")),
                MetaOp::AssignStream(assign("B", "S3", "S-3")),
                MetaOp::Other(4),
            ],
        );
        let shape: Vec<(String, String, String, Vec<String>)> = out
            .iter()
            .map(|s| {
                (
                    s.account.clone(),
                    s.name.clone(),
                    s.group.name.clone(),
                    s.consumers.iter().map(|c| c.name.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("A".into(), "S1".into(), "S-1x".into(), vec!["C1".into()]),
                ("A".into(), "S2".into(), "S-2".into(), vec!["C2".into()]),
                ("B".into(), "S3".into(), "S-3".into(), vec![]),
            ]
        );

        // Remove, then re-create: the consumers are gone with the old stream.
        let out = replay(
            snap.clone(),
            [
                MetaOp::RemoveConsumer(consumer("A", "S1", "C1", "C-1")),
                MetaOp::AssignConsumer(consumer("A", "S1", "C1", "C-1")),
                MetaOp::UpdateStream(assign("A", "S1", "S-1u")),
                MetaOp::RemoveStream(assign("A", "S1", "S-1u")),
                MetaOp::AssignStream(assign("A", "S1", "S-new")),
            ],
        );
        assert_eq!(out.len(), 2);
        let s1 = out.iter().find(|s| s.name == "S1").unwrap();
        assert_eq!((s1.group.name.as_str(), s1.consumers.len()), ("S-new", 0));
        // The re-created stream goes to the end.
        assert_eq!(out[1].name, "S1");
    }
}
