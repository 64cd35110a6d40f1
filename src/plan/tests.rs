//! Planning over small stores laid out as nats-server lays them out. The meta.inf texts are
//! as a real 2.12 server writes them; end-to-end tests against real servers live in `tests/`.

use std::path::Path;

use super::*;
use crate::store::{checksum, Store, StoreError};

const ORDERS: &str = r#"{"Created":"2026-11-21T11:04:24.963324741Z","name":"ORDERS","description":"orders \u003c\u0026\u003e test","subjects":["orders.\u003e"],"retention":"limits","max_consumers":-1,"max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,"discard":"old","storage":"file","num_replicas":3,"duplicate_window":120000000000,"placement":{"cluster":"C1"},"compression":"none","allow_direct":false,"mirror_direct":false,"sealed":false,"deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false,"consumer_limits":{},"allow_msg_ttl":false,"metadata":{"_nats.req.level":"0"}}"#;
const CONSUMER_R3: &str = r#"{"Created":"2026-11-21T11:04:25.1Z","Name":"AUDIT","durable_name":"AUDIT","deliver_policy":"all","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"instant","max_ack_pending":1000,"num_replicas":3}"#;
const CONSUMER_R0: &str = r#"{"Created":"2026-11-21T11:04:25.1Z","Name":"PROC","durable_name":"PROC","ack_policy":"explicit","num_replicas":0}"#;

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn stream(root: &Path, account: &str, dir: &str, meta: &str) {
    let base = format!("jetstream/{account}/streams/{dir}");
    write(root, &format!("{base}/meta.inf"), meta.as_bytes());
    write(
        root,
        &format!("{base}/meta.sum"),
        checksum::meta_sum(dir, meta.as_bytes()).as_bytes(),
    );
}

fn consumer(root: &Path, account: &str, stream: &str, name: &str, meta: &str) {
    let base = format!("jetstream/{account}/streams/{stream}/obs/{name}");
    write(root, &format!("{base}/meta.inf"), meta.as_bytes());
    let key = checksum::consumer_key(stream, name);
    write(
        root,
        &format!("{base}/meta.sum"),
        checksum::meta_sum(&key, meta.as_bytes()).as_bytes(),
    );
}

fn raft(root: &Path, sys: &str) {
    write(
        root,
        &format!("jetstream/{sys}/_js_/_meta_/msgs/1.blk"),
        &[0u8; 100],
    );
    write(
        root,
        &format!("jetstream/{sys}/_js_/S-R3F-abc/peers.idx"),
        b"xx",
    );
    write(
        root,
        &format!("jetstream/{sys}/_js_/C-R3F-def/peers.idx"),
        b"yy",
    );
}

fn survivor() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    stream(dir.path(), "A", "ORDERS", ORDERS);
    consumer(dir.path(), "A", "ORDERS", "AUDIT", CONSUMER_R3);
    consumer(dir.path(), "A", "ORDERS", "PROC", CONSUMER_R0);
    raft(dir.path(), "$SYS");
    dir
}

/// `ORDERS` as the plan must leave it: R1, no placement, every other byte the same.
fn orders_r1() -> String {
    ORDERS
        .replace(r#""num_replicas":3"#, r#""num_replicas":1"#)
        .replace(r#","placement":{"cluster":"C1"}"#, "")
}

fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-21T12:00:00Z".parse().unwrap()
}

fn edits(m: &Manifest) -> Vec<&Edit> {
    m.changes
        .iter()
        .filter_map(|c| {
            if let Change::Edit(e) = c {
                Some(e)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn plans_stream_consumer_and_raft_changes() {
    let dir = survivor();
    let m = plan(&Store::open(dir.path()).unwrap(), now()).unwrap();
    let paths: Vec<&str> = m.changes.iter().map(Change::path).collect();
    assert_eq!(
        paths,
        [
            "jetstream/A/streams/ORDERS/meta.inf",
            "jetstream/A/streams/ORDERS/meta.sum",
            "jetstream/A/streams/ORDERS/obs/AUDIT/meta.inf",
            "jetstream/A/streams/ORDERS/obs/AUDIT/meta.sum",
            "jetstream/$SYS",
        ]
    );
    let e = edits(&m);
    // Every other byte as it was: only the two fields differ.
    let expected = ORDERS
        .replace(r#""num_replicas":3"#, r#""num_replicas":1"#)
        .replace(r#","placement":{"cluster":"C1"}"#, "");
    assert_eq!(e[0].after.as_deref(), Some(expected.as_str()));
    assert_eq!(e[0].before.as_deref(), Some(ORDERS));
    assert_eq!(
        e[0].before_sha256.as_deref(),
        Some(manifest::sha256_hex(ORDERS.as_bytes()).as_str())
    );
    assert_eq!(e[1].before.as_deref(), Some("a2d5027a6bd44eee"));
    assert_eq!(
        e[1].after.as_deref(),
        Some(checksum::meta_sum("ORDERS", expected.as_bytes()).as_str())
    );
    let consumer_after = CONSUMER_R3.replace(r#""num_replicas":3"#, r#""num_replicas":0"#);
    assert_eq!(e[2].after.as_deref(), Some(consumer_after.as_str()));
    assert_eq!(
        e[3].after.as_deref(),
        Some(checksum::meta_sum("ORDERS/AUDIT", consumer_after.as_bytes()).as_str())
    );
    assert!(
        e[0].diff.contains("-  \"num_replicas\": 3,"),
        "{}",
        e[0].diff
    );
    let Change::Remove(r) = &m.changes[4] else {
        panic!()
    };
    assert_eq!((r.files, r.bytes), (3, 104));
    assert_eq!(
        (
            m.summary.streams,
            m.summary.consumers,
            m.summary.streams_edited,
            m.summary.consumers_edited
        ),
        (1, 2, 1, 1)
    );
    assert_eq!(m.summary.files_edited, 4);
}

#[test]
fn custom_system_account_and_shared_system_dir() {
    let dir = tempfile::tempdir().unwrap();
    stream(dir.path(), "A", "ORDERS", ORDERS);
    raft(dir.path(), "SYS");
    stream(
        dir.path(),
        "SYS",
        "AUDITLOG",
        &ORDERS
            .replace("ORDERS", "AUDITLOG")
            .replace(r#""num_replicas":3"#, r#""num_replicas":1"#),
    );
    let m = plan(&Store::open(dir.path()).unwrap(), now()).unwrap();
    let removes: Vec<&str> = m
        .changes
        .iter()
        .filter(|c| matches!(c, Change::Remove(_)))
        .map(Change::path)
        .collect();
    assert_eq!(removes, ["jetstream/SYS/_js_"]);
    assert!(m
        .warnings
        .iter()
        .any(|w| w.code == crate::store::report::WarningCode::SystemAccountHasData));
}

#[test]
fn a_store_that_needs_nothing_gets_an_empty_plan() {
    let dir = tempfile::tempdir().unwrap();
    let r1 = orders_r1();
    stream(dir.path(), "A", "ORDERS", &r1);
    consumer(dir.path(), "A", "ORDERS", "PROC", CONSUMER_R0);
    let m = plan(&Store::open(dir.path()).unwrap(), now()).unwrap();
    assert!(m.changes.is_empty(), "{:?}", m.changes);
}

#[test]
fn wrong_or_missing_checksum_is_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let r1 = orders_r1();
    stream(dir.path(), "A", "ORDERS", &r1);
    write(
        dir.path(),
        "jetstream/A/streams/ORDERS/meta.sum",
        b"0000000000000000",
    );
    consumer(dir.path(), "A", "ORDERS", "PROC", CONSUMER_R0);
    std::fs::remove_file(
        dir.path()
            .join("jetstream/A/streams/ORDERS/obs/PROC/meta.sum"),
    )
    .unwrap();
    let m = plan(&Store::open(dir.path()).unwrap(), now()).unwrap();
    let e = edits(&m);
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].path, "jetstream/A/streams/ORDERS/meta.sum");
    assert_eq!(
        e[0].after.as_deref(),
        Some(checksum::meta_sum("ORDERS", r1.as_bytes()).as_str())
    );
    assert_eq!(e[1].path, "jetstream/A/streams/ORDERS/obs/PROC/meta.sum");
    assert_eq!(e[1].before_sha256, None);
    assert_eq!(e[1].mode, 0o600);
    assert_eq!(m.summary.streams_edited, 0);
}

#[test]
fn malformed_and_encrypted_meta_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    stream(dir.path(), "A", "ORDERS", &ORDERS[..ORDERS.len() / 2]);
    let err = plan(&Store::open(dir.path()).unwrap(), now()).unwrap_err();
    assert!(
        matches!(&err, PlanError::Unloadable(files) if matches!(&files[..], [StoreError::Malformed { path, .. }] if path == "jetstream/A/streams/ORDERS/meta.inf")),
        "{err}"
    );
    assert!(
        err.to_string().contains("unexpected end of JSON input"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    stream(dir.path(), "A", "ORDERS", ORDERS);
    write(
        dir.path(),
        "jetstream/A/streams/ORDERS/meta.key",
        &[1u8; 72],
    );
    let err = plan(&Store::open(dir.path()).unwrap(), now()).unwrap_err();
    assert!(matches!(err, PlanError::Encrypted { .. }), "{err}");
}

#[test]
fn invalid_utf8_loads_in_the_server_so_it_is_planned_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut meta = ORDERS
        .replace("orders \\u003c\\u0026\\u003e test", "X")
        .into_bytes();
    // A raw Latin-1 byte inside a string: Go's decoder reads it as U+FFFD and loads the
    // stream, so the plan must edit it too, keeping that byte.
    let at = meta.windows(3).position(|w| w == b"\"X\"").unwrap() + 1;
    meta[at] = 0xe9;
    write(dir.path(), "jetstream/A/streams/ORDERS/meta.inf", &meta);
    write(
        dir.path(),
        "jetstream/A/streams/ORDERS/meta.sum",
        checksum::meta_sum("ORDERS", &meta).as_bytes(),
    );
    let m = plan(&Store::open(dir.path()).unwrap(), now()).unwrap();
    let e = edits(&m);
    assert_eq!(e[0].path, "jetstream/A/streams/ORDERS/meta.inf");
    let after = e[0].after_bytes().unwrap();
    assert!(e[0].after.is_none() && e[0].after_base64.is_some());
    assert!(after.contains(&0xe9), "the byte is kept");
    // The diff is of the JSON as the server reads it, not "<bytes, not UTF-8>".
    assert!(
        e[0].diff.contains("+  \"num_replicas\": 1,"),
        "{}",
        e[0].diff
    );
    let expected = meta.clone();
    let expected = String::from_utf8_lossy(&expected)
        .replace("\"num_replicas\":3", "\"num_replicas\":1")
        .replace(",\"placement\":{\"cluster\":\"C1\"}", "");
    assert_eq!(String::from_utf8_lossy(&after), expected);
}

#[test]
fn keys_match_as_go_matches_them_and_every_spelling_is_edited() {
    let dir = tempfile::tempdir().unwrap();
    // Go's decoder reads `Num_Replicas` (any case, or with a long s) as num_replicas, and
    // `PLACEMENT` as placement: a standalone server would refuse this stream as it is.
    let meta = ORDERS
        .replace(
            "\"num_replicas\":3",
            "\"Num_Replicas\":3,\"num_replica\u{17f}\":3",
        )
        .replace("\"placement\"", "\"PLACEMENT\"");
    stream(dir.path(), "A", "ORDERS", &meta);
    let store = Store::open(dir.path()).unwrap();
    let s = store.streams().next().unwrap().1;
    assert_eq!(s.meta.as_ref().unwrap().replicas(), Some(3));
    let m = plan(&store, now()).unwrap();
    let after = edits(&m)[0].after.clone().unwrap();
    assert!(
        after.contains("\"Num_Replicas\":1,\"num_replica\u{17f}\":1"),
        "{after}"
    );
    assert!(!after.to_ascii_lowercase().contains("placement"), "{after}");
}

#[test]
fn a_field_the_server_cannot_decode_is_refused_by_name() {
    for (bad, why) in [
        (
            "\"num_replicas\":\"3\"",
            "cannot unmarshal string into Go value of type int",
        ),
        ("\"num_replicas\":3.0", "not an integer"),
        ("\"num_replicas\":1e3", "not an integer"),
        ("\"num_replicas\":99999999999999999999", "out of range"),
        (
            "\"num_replicas\":3,\"retention\":\"Limits\"",
            "can not unmarshal",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let meta = ORDERS.replace("\"num_replicas\":3", bad);
        stream(dir.path(), "A", "ORDERS", &meta);
        let store = Store::open(dir.path()).unwrap();
        let err = plan(&store, now()).unwrap_err();
        assert!(
            matches!(&err, PlanError::Unloadable(f) if matches!(&f[..], [StoreError::Refused { .. }])),
            "{bad}: {err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(why) && text.contains("would be refused by nats-server"),
            "{bad}: {text}"
        );
        // inspect says so for that file.
        let cluster = crate::store::inventory::read_cluster(&store);
        let inventory =
            crate::store::inventory::Inventory::new(&store, &cluster, &Default::default());
        let report = crate::store::report::Report::new(&store, inventory, &Default::default());
        assert_eq!(
            report.accounts[0].streams[0].meta,
            crate::store::report::MetaState::Refused,
            "{bad}"
        );
        assert!(
            report
                .warnings
                .iter()
                .any(|w| w.code == crate::store::report::WarningCode::ServerRefusesMeta),
            "{bad}"
        );
    }
}

/// Seals `plain` as the server does for `context` in account `A`, writing `meta.key`,
/// `meta.inf` and `meta.sum` (over the ciphertext) into `dir`; returns the asset key.
fn write_sealed(
    root: &Path,
    dir: &str,
    cipher: crate::store::crypto::Cipher,
    context: &str,
    sum_key: &str,
    plain: &str,
) -> crate::store::crypto::AssetKey {
    use crate::store::crypto::tests::{asset, meta_key};
    let seed = [context.len() as u8; 32];
    let key = asset(cipher, seed);
    let sealed = key.seal(plain.as_bytes());
    write(
        root,
        &format!("{dir}/meta.key"),
        &meta_key(cipher, b"k3y", "A", context, seed),
    );
    write(root, &format!("{dir}/meta.inf"), &sealed);
    write(
        root,
        &format!("{dir}/meta.sum"),
        checksum::meta_sum(sum_key, &sealed).as_bytes(),
    );
    key
}

#[test]
fn encrypted_meta_is_edited_inside_and_sealed_again_with_its_own_key() {
    use crate::store::crypto::{Cipher, Keys};
    for cipher in [Cipher::Chacha, Cipher::Aes] {
        let dir = tempfile::tempdir().unwrap();
        let s = "jetstream/A/streams/ORDERS";
        let c = format!("{s}/obs/AUDIT");
        let skey = write_sealed(dir.path(), s, cipher, "ORDERS", "ORDERS", ORDERS);
        let ckey = write_sealed(
            dir.path(),
            &c,
            cipher,
            "ORDERS.AUDIT",
            &checksum::consumer_key("ORDERS", "AUDIT"),
            CONSUMER_R3,
        );

        // No key: refused, naming the option.
        let err = plan(&Store::open(dir.path()).unwrap(), now()).unwrap_err();
        assert!(matches!(err, PlanError::Encrypted { .. }), "{err}");
        // A wrong key: refused, naming the stream.
        let wrong = Keys::new(b"nope".to_vec(), None, None);
        let err = plan(&Store::open_with(dir.path(), Some(&wrong)).unwrap(), now()).unwrap_err();
        assert!(
            err.to_string().contains("stream `ORDERS` of account `A`"),
            "{err}"
        );

        let keys = Keys::new(b"k3y".to_vec(), None, None);
        let m = plan(&Store::open_with(dir.path(), Some(&keys)).unwrap(), now()).unwrap();
        let e = edits(&m);
        assert_eq!(e.len(), 4, "{:?}", m.changes);
        let after = |i: usize| e[i].after_bytes().unwrap();
        // Sealed with the same asset key, under a new nonce, to exactly the plain edit.
        assert_eq!(skey.open(&after(0)).unwrap(), orders_r1().as_bytes());
        assert_eq!(
            after(1),
            checksum::meta_sum("ORDERS", &after(0)).into_bytes()
        );
        assert_eq!(
            ckey.open(&after(2)).unwrap(),
            CONSUMER_R3
                .replace(r#""num_replicas":3"#, r#""num_replicas":0"#)
                .as_bytes()
        );
        assert!(e[0].before.is_none() && e[0].before_base64.is_some());
        assert!(e[0].diff.contains("meta.inf (decrypted)"), "{}", e[0].diff);
        assert!(
            e[0].diff.contains("-  \"num_replicas\": 3,"),
            "{}",
            e[0].diff
        );
        assert!(!m.changes.iter().any(|c| c.path().ends_with("meta.key")));
    }
}

#[test]
fn a_damaged_encrypted_meta_is_told_from_a_wrong_key() {
    use crate::store::crypto::{Cipher, Keys};
    let dir = tempfile::tempdir().unwrap();
    let s = "jetstream/A/streams/ORDERS";
    write_sealed(dir.path(), s, Cipher::Chacha, "ORDERS", "ORDERS", ORDERS);
    // One bit of the ciphertext flipped, meta.sum made to match (a disk error after write).
    let inf = dir.path().join(s).join("meta.inf");
    let mut sealed = std::fs::read(&inf).unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 0x01;
    write(dir.path(), &format!("{s}/meta.inf"), &sealed);
    write(
        dir.path(),
        &format!("{s}/meta.sum"),
        checksum::meta_sum("ORDERS", &sealed).as_bytes(),
    );
    let keys = Keys::new(b"k3y".to_vec(), None, None);
    let err = plan(&Store::open_with(dir.path(), Some(&keys)).unwrap(), now()).unwrap_err();
    assert!(matches!(err, PlanError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("the file is damaged"), "{err}");
    let wrong = Keys::new(b"other".to_vec(), None, None);
    let err = plan(&Store::open_with(dir.path(), Some(&wrong)).unwrap(), now()).unwrap_err();
    assert!(matches!(err, PlanError::WrongKey { .. }), "{err}");
}

#[test]
fn a_plan_written_as_made_is_the_manifest_made_whole() {
    // More metadata files than one batch, some to edit, some with only a wrong meta.sum,
    // some left alone: the edits are made in batches as they are written.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..700 {
        let name = format!("S{i:04}");
        let meta = ORDERS.replace("ORDERS", &name);
        let meta = match i % 3 {
            0 => meta,
            _ => meta
                .replace(r#""num_replicas":3"#, r#""num_replicas":1"#)
                .replace(r#","placement":{"cluster":"C1"}"#, ""),
        };
        stream(dir.path(), "A", &name, &meta);
        if i % 5 == 1 {
            write(
                dir.path(),
                &format!("jetstream/A/streams/{name}/meta.sum"),
                b"0000000000000000",
            );
        }
        consumer(dir.path(), "A", &name, "AUDIT", CONSUMER_R3);
    }
    raft(dir.path(), "$SYS");
    let store = Store::open(dir.path()).unwrap();
    let made = plan_with(&store, now(), &PlanOptions::default()).unwrap();
    let mut written = Vec::new();
    made.write_to(&mut written).unwrap();
    let first: Vec<Change> = made.changes().take(7).map(|c| c.into_owned()).collect();
    let (len, kinds) = (made.len(), made.kinds());
    let m = made.into_manifest();
    let mut whole = serde_json::to_vec_pretty(&m).unwrap();
    whole.push(b'\n');
    assert!(written == whole, "written as made differs from the whole");
    assert_eq!(first, m.changes[..7]);
    assert_eq!(len, m.changes.len());
    // 700 consumers and 234 streams (4 files each), 93 sums alone, the Raft state.
    assert_eq!(
        kinds,
        Kinds {
            edits: 700 * 2 + 234 * 2 + 93,
            removes: 1,
            ..Kinds::default()
        }
    );
    assert_eq!(m.summary.files_edited, kinds.edits);
    assert_eq!(
        (m.summary.streams_edited, m.summary.consumers_edited),
        (234, 700)
    );
}
