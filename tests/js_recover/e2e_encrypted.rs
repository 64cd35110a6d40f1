//! Stores encrypted at rest (`jetstream { key, cipher }`), on real clusters that lose
//! quorum: without the key `plan` refuses naming `--key-file`, with a wrong key it names the
//! stream it could not open, and in neither case is anything written; with the key every
//! encrypted `meta.inf` is edited, sealed again with its own key (`meta.key` untouched) and
//! its `meta.sum` recomputed over the new ciphertext, so a standalone server with the same
//! key and cipher serves everything whole; rollback is exact.

use std::path::Path;

use js_recover::plan::{Change, Manifest};
use predicates::prelude::*;
use serde_json::Value;

use crate::e2e_plan::{assert_consumer_progress, assert_report_covers, report_stream};
use crate::fixtures::{assert_same_tree, js_recover, tree};
use crate::support::fsutil::copy_tree;
use crate::support::nats_server::Served;
use crate::support::standalone::serve_written;
use crate::support::{
    survivor, verify_standalone_with, Encryption, SurvivorOpts, SurvivorStop, SysAccount,
};

const KEY: &str = "s3cr3t-js-key/with spaces & symbols";
/// The key after a rotation: the operator's new `key`, with `KEY` as `prev_key`.
const NEW_KEY: &str = "the rotated key";

fn key_file(dir: &Path, name: &str, key: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    // As `echo` writes it: the trailing newline is not part of the key.
    std::fs::write(&path, format!("{key}\n")).unwrap();
    path
}

async fn recovers(cipher: &'static str, stop: SurvivorStop, rotated: bool) {
    let encryption = Encryption {
        key: KEY,
        cipher,
        prev_key: None,
    };
    let sys = match stop {
        SurvivorStop::Clean => SysAccount::Default,
        SurvivorStop::Kill => SysAccount::Custom,
    };
    let s = survivor(SurvivorOpts {
        encryption: Some(encryption),
        sys,
        stop,
        ..SurvivorOpts::default()
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    s.copy_to(&store);
    let original = tree(&store);
    assert!(
        original.keys().any(|p| p.ends_with("/meta.key")),
        "the cluster did not encrypt its store"
    );
    let plan = work.path().join("plan.json");

    // No key: inspect shows the store sealed, plan refuses naming --key-file.
    let out = js_recover()
        .args(["inspect", "--json"])
        .arg(&store)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let first = &report["accounts"][0]["streams"][0];
    assert_eq!(
        (&first["meta"], &first["encrypted"]),
        (&"encrypted".into(), &true.into())
    );
    js_recover()
        .arg("plan")
        .arg(&store)
        .arg("--out")
        .arg(&plan)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--key-file").and(predicate::str::contains("encrypted")));
    assert!(!plan.exists());

    // A wrong key: the error names a stream it could not open.
    let wrong = key_file(work.path(), "wrong.key", "not the key");
    js_recover()
        .arg("plan")
        .arg(&store)
        .arg("--key-file")
        .arg(&wrong)
        .arg("--out")
        .arg(&plan)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "the key given does not open stream `",
        ));
    assert!(!plan.exists());
    assert_same_tree(&original, &tree(&store));

    // The right key; after a rotation it is the previous key, and the current one new.
    let right = key_file(work.path(), "js.key", KEY);
    let new = key_file(work.path(), "new.key", NEW_KEY);
    let key_args: Vec<std::ffi::OsString> = if rotated {
        vec![
            "--key-file".into(),
            new.into(),
            "--prev-key-file".into(),
            right.clone().into(),
            "--cipher".into(),
            cipher.into(),
        ]
    } else {
        vec!["--key-file".into(), right.clone().into()]
    };
    let out = js_recover()
        .args(["inspect", "--json"])
        .arg(&store)
        .args(&key_args)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_report_covers(&report, &s.expectations, stop == SurvivorStop::Clean);
    js_recover()
        .arg("inspect")
        .arg(&store)
        .args(&key_args)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok, encrypted"));
    // Consumer progress comes from the encrypted o.dat files.
    assert_consumer_progress(&report, &s.expectations);
    for (account, a) in &s.expectations.accounts {
        for name in a.streams.keys() {
            let r = report_stream(&report, account, name);
            assert_eq!(r["encrypted"], true, "{account} > {name}");
        }
    }

    js_recover()
        .arg("plan")
        .arg(&store)
        .args(&key_args)
        .arg("--out")
        .arg(&plan)
        .assert()
        .success();
    assert_same_tree(&original, &tree(&store));
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    let edits: Vec<_> = manifest
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Edit(e) if e.path.ends_with("meta.inf") => Some(e),
            _ => None,
        })
        .collect();
    assert!(edits.len() >= 10, "{} meta.inf edits", edits.len());
    for e in &edits {
        // The real bytes in base64, the decrypted change in the diff.
        assert!(e.before.is_none() && e.after.is_none(), "{}", e.path);
        assert!(e.before_base64.is_some() && e.after_base64.is_some());
        assert!(e.diff.contains("(decrypted)"), "{}", e.diff);
        assert!(
            e.diff.contains("-  \"num_replicas\": 3") || e.diff.contains("-  \"placement\""),
            "{}",
            e.diff
        );
    }
    assert!(!manifest
        .changes
        .iter()
        .any(|c| c.path().ends_with("meta.key")));

    let backup = work.path().join("backup");
    js_recover()
        .arg("apply")
        .arg(&plan)
        .arg("--backup-dir")
        .arg(&backup)
        .assert()
        .success();
    // Every stream and consumer meta.key is as it was (the Raft state's left with `_js_`).
    let applied = tree(&store);
    let keys = original
        .iter()
        .filter(|(p, _)| p.ends_with("meta.key") && !p.contains("/_js_/"));
    for (path, entry) in keys {
        assert_eq!(applied.get(path), Some(entry), "{path}");
    }
    // Nothing left to do: the applied store opens with the key and plans empty.
    let out = js_recover()
        .arg("plan")
        .arg(&store)
        .args(&key_args)
        .assert()
        .success();
    let again: Manifest = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);

    let served = work.path().join("served");
    copy_tree(&store, &served);
    let report =
        verify_standalone_with(&s.version, &served, &s.expectations, sys, Some(encryption)).await;
    assert!(
        report.bad_log_lines().is_empty(),
        "{:?}",
        report.bad_log_lines()
    );
    assert!(!report.log.contains("Error decrypting"), "{}", report.log);

    // The standalone.conf apply wrote serves it too, as written, the key from the
    // environment (`key: $JS_KEY`, in single quotes as the file says: nats-server parses the
    // variable, and this key has spaces): every stream with its messages and consumers.
    let conf = std::fs::read_to_string(backup.join("standalone.conf")).unwrap();
    assert!(
        conf.contains("key: $JS_KEY") && conf.contains(r#"JS_KEY="'$(cat js.key)'""#),
        "{conf}"
    );
    let written = work.path().join("written");
    copy_tree(&store, &written);
    let server = serve_written(
        &s.version,
        &backup,
        Some(&written),
        &[("JS_KEY", &format!("'{KEY}'"))],
    )
    .await;
    let got = server.served().await;
    let log = server.log();
    drop(server);
    let want: Served = s
        .expectations
        .accounts
        .iter()
        .flat_map(|(account, a)| {
            a.streams.iter().map(move |(name, st)| {
                (
                    (account.clone(), name.clone()),
                    (st.messages, st.consumers.len() as u64),
                )
            })
        })
        .collect();
    assert_eq!(got, want, "{log}");
    assert!(!log.contains("Error decrypting"), "{log}");

    js_recover().arg("rollback").arg(&backup).assert().success();
    assert_same_tree(&original, &tree(&store));
}

#[tokio::test(flavor = "multi_thread")]
async fn chacha_encrypted_survivor_recovers_with_its_key() {
    recovers("chacha", SurvivorStop::Clean, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn aes_encrypted_killed_survivor_recovers_with_a_rotated_key() {
    recovers("aes", SurvivorStop::Kill, true).await;
}
