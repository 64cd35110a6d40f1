//! `inspect` and `plan` on real survivors of a real quorum loss: the report names every
//! stream and consumer, the plan covers every change a standalone server needs and leaves
//! the store byte-identical, and a standalone nats-server on the planned store serves every
//! stream, message and consumer with its ack floor.
//!
//! These tests check the plan itself, independently of `apply`: they write the plan's
//! `after` contents and remove its directories by hand (see [`apply_by_hand`]). `apply` and
//! `rollback` on real survivors are in `e2e_apply`.

use std::path::Path;

use js_recover::plan::{Change, Manifest};
use serde_json::Value;

use crate::fixtures::{assert_same_tree, js_recover, tree};
use crate::support::standalone::bad_lines;
use crate::support::{
    mismatches, survivor, verify_standalone, Standalone, SurvivorOpts, SurvivorStop, SysAccount,
};

pub(crate) fn inspect_json(store: &Path) -> Value {
    let out = js_recover()
        .args(["inspect", "--json"])
        .arg(store)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn plan(store: &Path) -> Manifest {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    js_recover()
        .arg("plan")
        .arg(store)
        .arg("--out")
        .arg(&file)
        .assert()
        .success();
    // Read back into `deny_unknown_fields` structs: a format change breaks this test.
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

/// Carries out `manifest` on `store` for the changes `keep` selects: the test's stand-in for
/// `apply`, checking each edit's `before_sha256` against the file first.
fn apply_by_hand(store: &Path, manifest: &Manifest, keep: impl Fn(&Change) -> bool) {
    use std::os::unix::fs::PermissionsExt;
    for change in manifest.changes.iter().filter(|c| keep(c)) {
        let path = store.join(change.path());
        match change {
            Change::Edit(e) => {
                let current = std::fs::read(&path).ok();
                assert_eq!(
                    current
                        .as_deref()
                        .map(js_recover::plan::manifest::sha256_hex),
                    e.before_sha256,
                    "{}",
                    e.path
                );
                std::fs::write(&path, e.after_bytes().unwrap()).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(e.mode)).unwrap();
            }
            Change::Remove(_) => std::fs::remove_dir_all(&path).unwrap(),
            Change::Mkdir(_) => std::fs::create_dir(&path).unwrap(),
            Change::Copy(c) => crate::support::fsutil::copy_tree(&c.source_dir(), &path),
        }
    }
}

/// Every stream `meta.inf` with replicas > 1 or a placement, and every consumer `meta.inf`
/// with replicas > 1, found by walking the store independently of the tool.
fn needs_edit(store: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut visit = |meta: &Path, is_stream: bool| {
        let v: Value = serde_json::from_slice(&std::fs::read(meta).unwrap()).unwrap();
        let replicas = v["num_replicas"].as_i64().unwrap_or(0);
        if replicas > 1 || (is_stream && v.get("placement").is_some()) {
            out.push(
                meta.strip_prefix(store)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string(),
            );
        }
    };
    for account in std::fs::read_dir(store.join("jetstream")).unwrap() {
        for stream in std::fs::read_dir(account.unwrap().path().join("streams"))
            .into_iter()
            .flatten()
        {
            let stream = stream.unwrap().path();
            visit(&stream.join("meta.inf"), true);
            for consumer in std::fs::read_dir(stream.join("obs")).into_iter().flatten() {
                visit(&consumer.unwrap().path().join("meta.inf"), false);
            }
        }
    }
    out.sort();
    out
}

/// Stream `name` of `account` in an `inspect --json` report, or a panic naming it.
pub(crate) fn report_stream<'a>(report: &'a Value, account: &str, name: &str) -> &'a Value {
    let named = |list: &'a Value, n: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == n)
            .unwrap_or_else(|| panic!("{account} > {name}: `{n}` missing from inspect"))
    };
    named(&named(&report["accounts"], account)["streams"], name)
}

/// Every consumer's progress `inspect` read from its `o.dat` (ack floor, last delivered,
/// awaiting ack) is what the live cluster reported.
pub(crate) fn assert_consumer_progress(report: &Value, expected: &crate::support::Expectations) {
    for (account, a) in &expected.accounts {
        for (name, es) in &a.streams {
            let r = report_stream(report, account, name);
            for (cname, ec) in &es.consumers {
                let c = r["consumers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["name"] == cname.as_str())
                    .unwrap_or_else(|| panic!("{account} > {name} > {cname} missing"));
                let at = format!("{account} > {name} > {cname}: {c}");
                assert_eq!(c["ack_floor_stream_seq"], ec.ack_floor_stream_seq, "{at}");
                assert_eq!(c["delivered_stream_seq"], ec.delivered_stream_seq, "{at}");
                assert_eq!(c["ack_pending"], ec.num_ack_pending, "{at}");
            }
        }
    }
}

/// The report names every stream and consumer the cluster had, with checksums that verify.
pub(crate) fn assert_report_covers(
    report: &Value,
    expected: &crate::support::Expectations,
    exact_counts: bool,
) {
    for (account, a) in &expected.accounts {
        for (name, s) in &a.streams {
            let r = report_stream(report, account, name);
            assert_eq!(r["checksum"], "ok", "{account} > {name}");
            assert_eq!(r["meta"], "ok", "{account} > {name}");
            if exact_counts {
                assert_eq!(r["messages"], s.messages, "{account} > {name}");
                assert_eq!(r["first_seq"], s.first_seq, "{account} > {name}");
                assert_eq!(r["last_seq"], s.last_seq, "{account} > {name}");
            }
            let mut consumers: Vec<&str> = r["consumers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
                .collect();
            consumers.sort();
            let want: Vec<&str> = s.consumers.keys().map(String::as_str).collect();
            assert_eq!(consumers, want, "{account} > {name}");
            assert!(r["consumers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["checksum"] == "ok"));
        }
    }
}

async fn recovers(opts: SurvivorOpts, exact_counts: bool) {
    let s = survivor(opts).await;
    let store = s.copy();
    let original = tree(store.path());

    let report = inspect_json(store.path());
    assert_report_covers(&report, &s.expectations, exact_counts);
    let raft = report["raft"].as_array().unwrap();
    assert_eq!(raft.len(), 1);
    assert_eq!(raft[0]["dir"], format!("jetstream/{}/_js_", s.sys.name()));

    let manifest = plan(store.path());
    assert_same_tree(&original, &tree(store.path()));

    let mut edited: Vec<String> = manifest
        .changes
        .iter()
        .filter(|c| matches!(c, Change::Edit(_)) && c.path().ends_with("meta.inf"))
        .map(|c| c.path().to_string())
        .collect();
    edited.sort();
    assert_eq!(edited, needs_edit(store.path()));
    let removed: Vec<&str> = manifest
        .changes
        .iter()
        .filter(|c| matches!(c, Change::Remove(_)))
        .map(Change::path)
        .collect();
    assert_eq!(removed, [format!("jetstream/{}", s.sys.name())]);

    apply_by_hand(store.path(), &manifest, |_| true);
    let served = verify_standalone(&s.version, store.path(), &s.expectations, s.sys).await;
    assert!(
        served.bad_log_lines().is_empty(),
        "{:?}",
        served.bad_log_lines()
    );

    // What the server accepted and rewrote needs nothing more: the plan is now empty.
    let again = inspect_json(store.path());
    assert!(again["raft"].as_array().unwrap().is_empty());
    let out = js_recover()
        .arg("plan")
        .arg(store.path())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("plan: nothing to change"), "{stderr}");
    let empty: Manifest = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(empty.changes.is_empty(), "{:?}", empty.changes);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_recovers_a_cleanly_stopped_survivor() {
    recovers(SurvivorOpts::default(), true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_recovers_a_killed_survivor_with_a_custom_system_account() {
    let opts = SurvivorOpts {
        sys: SysAccount::Custom,
        stop: SurvivorStop::Kill,
        ..SurvivorOpts::default()
    };
    recovers(opts, false).await;
}

/// The trap the consumer edits avoid, shown on a real server: leave the explicitly-R3
/// consumers alone and the server drops them at load and deletes the interest stream's
/// messages only they had not acknowledged.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_consumer_edits_the_server_loses_data() {
    let s = survivor(SurvivorOpts::default()).await;
    let store = s.copy();
    let manifest = plan(store.path());
    apply_by_hand(store.path(), &manifest, |c| !c.path().contains("/obs/"));
    let server = Standalone::start(&s.version, store.path(), s.sys).await;
    let actual = server.snapshot().await;
    // A store a running server holds is refused.
    js_recover()
        .arg("plan")
        .arg(store.path())
        .assert()
        .code(4)
        .stderr(predicates::str::contains("is in use by nats-server"));
    let log = server.stop().await;
    assert!(
        log.contains("consumer config replica count exceeds parent stream"),
        "{log}"
    );
    assert!(!bad_lines(&log).is_empty());
    let wrong = mismatches(&s.expectations, &actual);
    assert!(wrong.iter().any(|w| w.contains("E1")), "{wrong:?}");
    let events = &actual.accounts["A"].streams["EVENTS"];
    assert!(
        events.messages < s.expectations.stream("A", "EVENTS").messages,
        "{events:?}"
    );
}
