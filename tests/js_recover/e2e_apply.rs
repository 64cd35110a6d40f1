//! `apply` and `rollback` on real survivors of a real quorum loss: after apply a standalone
//! nats-server serves every stream, message and durable consumer with its ack floor
//! (interest and work-queue streams and explicitly-R3 consumers included); rollback gives
//! back the survivor's store byte for byte and mode for mode; and after a server ran on the
//! prepared store, rollback restores everything apply wrote and names what the server
//! changed.

use std::path::Path;

use serde_json::Value;

use crate::fixtures::{assert_same_tree, js_recover, tree};
use crate::support::fsutil::copy_tree;
use crate::support::{survivor, verify_standalone, SurvivorOpts, SurvivorStop, SysAccount};

fn plan_to(store: &Path, file: &Path) {
    js_recover()
        .arg("plan")
        .arg(store)
        .arg("--out")
        .arg(file)
        .assert()
        .success();
}

fn apply(plan: &Path, backup: &Path) -> Value {
    let out = js_recover()
        .args(["apply", "--json"])
        .arg(plan)
        .arg("--backup-dir")
        .arg(backup)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

async fn apply_serve_rollback(opts: SurvivorOpts) {
    let s = survivor(opts).await;
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    s.copy_to(&store);
    let original = tree(&store);

    plan_to(&store, &work.path().join("plan.json"));
    let backup = work.path().join("backup");
    let result = apply(&work.path().join("plan.json"), &backup);
    assert_eq!(result["schema"], "js-recover/apply");
    assert_eq!(result["result"]["removal"], "rename");
    assert_eq!(result["result"]["dirs_removed"], 1);
    assert!(!store.join(format!("jetstream/{}", s.sys.name())).exists());

    // The prepared store, served standalone (on a copy, so this store stays as apply left it).
    let served = work.path().join("served");
    copy_tree(&store, &served);
    let report = verify_standalone(&s.version, &served, &s.expectations, s.sys).await;
    assert!(
        report.bad_log_lines().is_empty(),
        "{:?}",
        report.bad_log_lines()
    );

    js_recover().arg("rollback").arg(&backup).assert().success();
    assert_same_tree(&original, &tree(&store));
    let status = js_recover()
        .args(["status", "--json"])
        .arg(&backup)
        .assert()
        .success();
    let status: Value = serde_json::from_slice(&status.get_output().stdout).unwrap();
    assert_eq!(status["state"], "rolled-back");
    assert_eq!(status["store_check"]["matches"], "original");

    // Now serve the prepared store itself, then roll back: the server's own writes are
    // named, and every file apply touched is original again.
    let backup2 = work.path().join("backup2");
    apply(&work.path().join("plan.json"), &backup2);
    verify_standalone(&s.version, &store, &s.expectations, s.sys).await;
    let first = js_recover().arg("rollback").arg(&backup2).output().unwrap();
    let out = if first.status.code() == Some(3) {
        // The server rewrote a file apply wrote: refused, then forced.
        let stderr = String::from_utf8_lossy(&first.stderr);
        assert!(stderr.contains("changed since apply"), "{stderr}");
        js_recover()
            .args(["rollback", "--force"])
            .arg(&backup2)
            .assert()
            .success()
            .get_output()
            .clone()
    } else {
        assert!(first.status.success(), "{first:?}");
        first
    };
    // A server that recovers a cleanly stopped store may write nothing; one that recovers a
    // killed node's store rewrites its indexes. Either way rollback says which it is.
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("rollback after a server ran on the prepared store:\n{stdout}");
    if stdout.contains("the store is as it was before apply") {
        assert_same_tree(&original, &tree(&store));
    } else {
        assert!(
            stdout.contains("changed in the store after apply")
                && stdout.contains("entries are not as they were before apply"),
            "the server's writes are not listed:\n{stdout}"
        );
    }
    let manifest: js_recover::plan::Manifest =
        serde_json::from_slice(&std::fs::read(work.path().join("plan.json")).unwrap()).unwrap();
    let now = tree(&store);
    for change in &manifest.changes {
        let p = change.path();
        for (path, entry) in original.range(p.to_string()..) {
            if path != p && !path.starts_with(&format!("{p}/")) {
                break;
            }
            assert_eq!(now.get(path), Some(entry), "`{path}` is not original");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_serves_everything_and_rollback_restores_a_clean_survivor() {
    apply_serve_rollback(SurvivorOpts::default()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_serves_everything_and_rollback_restores_a_killed_survivor_with_sys() {
    apply_serve_rollback(SurvivorOpts {
        sys: SysAccount::Custom,
        stop: SurvivorStop::Kill,
        ..SurvivorOpts::default()
    })
    .await;
}
