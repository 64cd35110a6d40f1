//! What the lost cluster had, against what a survivor holds, on real stores: the bundled
//! example survivor with a consumer directory gone, served by a real nats-server. With the
//! missing consumer recreated nothing is deleted at load; without it the server deletes
//! exactly the range the warning names.

use std::path::Path;

use serde_json::Value;

use crate::fixtures::{example_store_path, js_recover};
use crate::support::fsutil::copy_tree;
use crate::support::{Standalone, SysAccount};

/// The release that wrote the example store.
const EXAMPLE_VERSION: &str = "2.12.8";

/// The example store with consumer `E1` of the interest stream `EVENTS` gone: E1 had acked
/// up to seq 5 (the stream holds 6..30), E2 up to 12.
fn store_without_e1(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("store");
    copy_tree(&example_store_path(), &store);
    std::fs::remove_dir_all(store.join("jetstream/A/streams/EVENTS/obs/E1")).unwrap();
    store
}

fn plan(store: &Path, out: &Path, extra: &[&str]) -> (Value, String) {
    let run = js_recover()
        .arg("plan")
        .arg(store)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    (
        serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap(),
        stderr,
    )
}

fn events(served: &crate::support::Expectations) -> &crate::support::StreamExpect {
    &served.accounts["A"].streams["EVENTS"]
}

#[tokio::test]
async fn a_missing_consumer_of_an_interest_stream_is_recreated_and_nothing_is_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_without_e1(dir.path());

    // inspect names what is missing, with its class, first.
    let out = js_recover().arg("inspect").arg(&store).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.lines().nth(1).unwrap().starts_with(
            "this survivor holds 6 of 6 streams and 5 of 6 consumers the cluster had; not here: \
             A/EVENTS/E1 (assigned to this node, but missing from the store)"
        ),
        "{text}"
    );

    let (manifest, stderr) = plan(&store, &dir.path().join("plan.json"), &[]);
    assert_eq!(manifest["summary"]["consumers_recreated"], 1);
    assert!(stderr.contains("1 missing consumer recreated"), "{stderr}");
    let codes: Vec<&str> = manifest["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"consumer-not-here"), "{codes:?}");
    assert!(codes.contains(&"consumer-recreated"), "{codes:?}");
    // --require-complete: the plan is written, the exit code says something is missing.
    js_recover()
        .arg("plan")
        .arg(&store)
        .arg("--require-complete")
        .arg("--out")
        .arg(dir.path().join("plan2.json"))
        .assert()
        .code(7)
        .stderr(predicates::str::contains("A/EVENTS/E1"));
    assert!(dir.path().join("plan2.json").exists());

    js_recover()
        .arg("apply")
        .arg(dir.path().join("plan.json"))
        .arg("--backup-dir")
        .arg(dir.path().join("backup"))
        .assert()
        .success();
    let served = dir.path().join("served");
    copy_tree(&store, &served);
    let server = Standalone::start(EXAMPLE_VERSION, &served, SysAccount::Default).await;
    let seen = server.snapshot().await;
    let log = server.stop().await;
    let ev = events(&seen);
    assert_eq!(
        (ev.messages, ev.first_seq, ev.last_seq),
        (25, 6, 30),
        "nothing deleted at load; log:\n{log}"
    );
    let e1 = &ev.consumers["E1"];
    assert_eq!(e1.ack_floor_stream_seq, 5);
    assert_eq!(
        e1.num_pending, 25,
        "every message the store holds is pending for E1"
    );
    assert_eq!(ev.consumers["E2"].ack_floor_stream_seq, 12);

    // Rollback takes the recreated consumer away again, exactly.
    js_recover()
        .arg("rollback")
        .arg(dir.path().join("backup"))
        .assert()
        .success();
    let fresh = store_without_e1(&dir.path().join("fresh"));
    crate::fixtures::assert_same_tree(
        &crate::fixtures::tree(&fresh),
        &crate::fixtures::tree(&store),
    );
}

#[tokio::test]
async fn without_recreation_the_warning_names_exactly_what_the_server_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_without_e1(dir.path());
    let (manifest, _) = plan(
        &store,
        &dir.path().join("plan.json"),
        &["--no-recreate-consumers"],
    );
    assert_eq!(manifest["summary"]["consumers_recreated"], 0);
    let warning = manifest["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "messages-deleted-at-load")
        .expect("a messages-deleted-at-load warning");
    let message = warning["message"].as_str().unwrap();
    assert!(message.contains("deletes seq 6..12"), "{message}");

    js_recover()
        .arg("apply")
        .arg(dir.path().join("plan.json"))
        .arg("--backup-dir")
        .arg(dir.path().join("backup"))
        .assert()
        .success();
    let server = Standalone::start(EXAMPLE_VERSION, &store, SysAccount::Default).await;
    let seen = server.snapshot().await;
    server.stop().await;
    let ev = events(&seen);
    // The server did what the warning said: 6..12 gone.
    assert_eq!((ev.messages, ev.first_seq, ev.last_seq), (18, 13, 30));
    assert!(!ev.consumers.contains_key("E1"));
}
