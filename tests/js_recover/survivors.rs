//! Several survivors, one store (`--from`), on the bundled example survivor: a target that
//! lacks an account, a consumer and the last messages of a stream, and a source that holds
//! them but lacks another consumer. One plan and apply make the target serve what the
//! whole example survivor serves, taking each part from the survivor that has it; the source
//! is never written; rollback gives the target back byte for byte, after a SIGKILL at any
//! I/O operation too; a source that changed since the plan refuses apply; copies that
//! disagree refuse the plan (exit 8) until `--prefer` decides.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fixtures::{assert_same_tree, example_store_path, js_recover, tree};
use crate::support::fsutil::copy_tree;
use crate::support::{Standalone, SysAccount};

/// The release that wrote the example store.
const VERSION: &str = "2.12.8";

struct Two {
    dir: tempfile::TempDir,
    target: PathBuf,
    source: PathBuf,
}

/// Cuts the last two records off stream `ORDERS`'s last block and drops its index.db: a
/// copy that did not get the last messages.
fn cut_orders(store: &Path) {
    let msgs = store.join("jetstream/A/streams/ORDERS/msgs");
    let mut blocks: Vec<PathBuf> = std::fs::read_dir(&msgs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "blk"))
        .collect();
    blocks.sort();
    let last = blocks.last().unwrap();
    let records = js_recover::store::filestore::read_block(last, "ORDERS", block_index(last), None)
        .unwrap()
        .records;
    let keep = &records[records.len() - 2];
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(keep.offset as u64).unwrap();
    std::fs::remove_file(msgs.join("index.db")).unwrap();
}

fn block_index(p: &Path) -> u32 {
    js_recover::store::filestore::block_index(&p.file_name().unwrap().to_string_lossy()).unwrap()
}

fn two() -> Two {
    let dir = tempfile::tempdir().unwrap();
    let (target, source) = (dir.path().join("n1"), dir.path().join("n2"));
    copy_tree(&example_store_path(), &source);
    copy_tree(&example_store_path(), &target);
    std::fs::remove_dir_all(target.join("jetstream/B")).unwrap();
    // Each holds one of the two consumers of the interest stream EVENTS.
    std::fs::remove_dir_all(target.join("jetstream/A/streams/EVENTS/obs/E1")).unwrap();
    std::fs::remove_dir_all(source.join("jetstream/A/streams/EVENTS/obs/E2")).unwrap();
    cut_orders(&target);
    Two {
        dir,
        target,
        source,
    }
}

fn plan(t: &Two, extra: &[&str]) -> (std::process::Output, PathBuf) {
    let out = t.dir.path().join("plan.json");
    let run = js_recover()
        .arg("plan")
        .arg(&t.target)
        .arg("--from")
        .arg(&t.source)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    (run, out)
}

fn manifest(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn one_store_from_two_survivors_serves_what_the_most_complete_copies_hold() {
    let t = two();
    let (target_before, source_before) = (tree(&t.target), tree(&t.source));

    // inspect shows who holds what.
    let out = js_recover()
        .arg("inspect")
        .arg(&t.target)
        .arg("--from")
        .arg(&t.source)
        .assert()
        .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        text.contains("these 2 survivors hold 6 of 6 streams and 6 of 6 consumers"),
        "{text}"
    );
    assert!(text.contains("survivors: the target"), "{text}");

    let (run, plan_file) = plan(&t, &[]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let m = manifest(&plan_file);
    let choice = |stream: &str, consumer: Option<&str>| -> Value {
        let list = if consumer.is_some() {
            "consumers"
        } else {
            "streams"
        };
        m["survivors"][list]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["stream"] == stream && c["consumer"].as_str() == consumer)
            .unwrap_or_else(|| panic!("no choice for {stream} {consumer:?}"))
            .clone()
    };
    let source = t.source.display().to_string();
    let target = t.target.display().to_string();
    assert_eq!(choice("ORDERS", None)["chosen"], source.as_str());
    assert_eq!(choice("ORDERS", None)["rule"], "applied-further");
    assert_eq!(choice("LOGS", None)["rule"], "only-copy");
    assert_eq!(choice("EVENTS", None)["chosen"], target.as_str());
    assert_eq!(choice("EVENTS", None)["rule"], "equal");
    assert_eq!(choice("EVENTS", Some("E1"))["chosen"], source.as_str());
    let copies: Vec<&str> = m["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["op"] == "copy")
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        copies,
        [
            "jetstream/A/streams/EVENTS/obs/E1",
            "jetstream/A/streams/ORDERS",
            "jetstream/B/streams/KV_config",
            "jetstream/B/streams/LOGS"
        ]
    );
    // Nothing is missing any more, so nothing is recreated.
    assert_eq!(m["summary"]["consumers_recreated"], 0);
    let codes: Vec<&str> = m["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(!codes.contains(&"consumer-not-here"), "{codes:?}");
    assert!(codes.contains(&"copied-from-survivor"), "{codes:?}");
    assert_same_tree(&target_before, &tree(&t.target));

    // What the whole survivor serves, prepared on a copy of it.
    let alone = t.dir.path().join("alone");
    copy_tree(&example_store_path(), &alone);
    js_recover().arg("prepare").arg(&alone).assert().success();
    let expected = served(&alone).await;

    let backup = t.dir.path().join("backup");
    js_recover()
        .arg("apply")
        .arg(&plan_file)
        .arg("--backup-dir")
        .arg(&backup)
        .assert()
        .success();
    assert_same_tree(&source_before, &tree(&t.source));
    let status = js_recover()
        .args(["status", "--json"])
        .arg(&backup)
        .assert()
        .success();
    let status: Value = serde_json::from_slice(&status.get_output().stdout).unwrap();
    assert_eq!(status["store_check"]["matches"], "applied");
    assert_eq!(status["store_check"]["copies_placed"], 4);

    let served_copy = t.dir.path().join("served");
    copy_tree(&t.target, &served_copy);
    assert_eq!(served(&served_copy).await, expected);

    js_recover().arg("rollback").arg(&backup).assert().success();
    assert_same_tree(&target_before, &tree(&t.target));
    assert_same_tree(&source_before, &tree(&t.source));
}

/// Serves `store` and reads back every stream and consumer.
async fn served(store: &Path) -> crate::support::Expectations {
    let server = Standalone::start(VERSION, store, SysAccount::Default).await;
    let snapshot = server.snapshot().await;
    let log = server.stop().await;
    let bad = crate::support::standalone::bad_lines(&log);
    assert!(bad.is_empty(), "{bad:?}");
    snapshot
}

#[test]
fn a_source_that_changed_since_the_plan_is_refused_and_nothing_changes() {
    let t = two();
    let (run, plan_file) = plan(&t, &[]);
    assert!(run.status.success());
    let before = tree(&t.target);
    // A server appended to the source's copy since.
    let blk = t.source.join("jetstream/B/streams/LOGS/msgs/1.blk");
    let mut bytes = std::fs::read(&blk).unwrap();
    bytes.extend_from_slice(b"more");
    std::fs::write(&blk, bytes).unwrap();
    let out = js_recover().arg("apply").arg(&plan_file).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("jetstream/B/streams/LOGS") && err.contains("changed since the plan"),
        "{err}"
    );
    assert_same_tree(&before, &tree(&t.target));
}

#[test]
fn copies_that_disagree_refuse_the_plan_until_prefer_decides() {
    let t = two();
    // The source's JOBS was configured differently (max_msgs).
    let meta = t.source.join("jetstream/A/streams/JOBS/meta.inf");
    let text = std::fs::read_to_string(&meta).unwrap();
    assert!(text.contains("\"max_msgs\":-1"), "{text}");
    std::fs::write(&meta, text.replace("\"max_msgs\":-1", "\"max_msgs\":1000")).unwrap();
    let (run, plan_file) = plan(&t, &[]);
    assert_eq!(
        run.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("A/JOBS: configurations differ (max_msgs)"),
        "{err}"
    );
    assert!(err.contains("--prefer"), "{err}");
    assert!(!plan_file.exists());

    let target = t.target.display().to_string();
    let (run, plan_file) = plan(&t, &["--prefer", &target]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let m = manifest(&plan_file);
    let jobs = m["survivors"]["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["stream"] == "JOBS")
        .unwrap()
        .clone();
    assert_eq!(jobs["rule"], "preferred");
    assert_eq!(jobs["chosen"], target.as_str());
}

#[test]
fn apply_killed_at_any_io_operation_during_copy_in_rolls_back_exactly() {
    let t = two();
    let (run, plan_file) = plan(&t, &[]);
    assert!(run.status.success());
    let (target_before, source_before) = (tree(&t.target), tree(&t.source));
    let mut n = 0;
    loop {
        let backup = t.dir.path().join(format!("bk-{n}"));
        let out = js_recover()
            .arg("apply")
            .arg(&plan_file)
            .arg("--backup-dir")
            .arg(&backup)
            .env("JS_RECOVER_FAILPOINT", format!("io:{n}@kill"))
            .output()
            .unwrap();
        let finished = out.status.success();
        if backup.join("journal.jsonl").exists() {
            let rb = js_recover().arg("rollback").arg(&backup).output().unwrap();
            assert!(
                rb.status.success(),
                "io:{n}@kill: {}",
                String::from_utf8_lossy(&rb.stderr)
            );
        }
        assert_same_tree(&target_before, &tree(&t.target));
        assert_same_tree(&source_before, &tree(&t.source));
        if finished {
            break;
        }
        assert_eq!(out.status.code(), None, "io:{n}@kill: {out:?}");
        n += 1;
    }
    eprintln!("apply with copies killed at each of its {n} I/O operations, rolled back each time");
    assert!(n > 20, "only {n} I/O operations");
}
