//! The compatibility matrix: every supported nats-server release line, each with a survivor
//! stopped cleanly (a meta follower, system account `$SYS`) and one killed with SIGKILL (the
//! meta leader, a custom system account `SYS`). Each cluster holds the full scenario of `support::scenario` (two
//! accounts, limits, interest and work-queue streams, KV and object store buckets, a mirror
//! and a sourced stream, a tag-pinned R1 stream, headers, partial and gapped acks).
//!
//! For each: `inspect` names everything and warns where data is at risk, `plan` leaves the
//! store as it was, `apply` leaves a store a standalone server of the same release serves
//! whole, and `rollback` gives back the survivor byte for byte.
//!
//! One release: `cargo test matrix::v2_15_1`.

use js_recover::plan::Manifest;
use serde_json::Value;

use crate::e2e_plan::{
    assert_consumer_progress, assert_report_covers, inspect_json, report_stream,
};
use crate::fixtures::{assert_same_tree, js_recover, tree};
use crate::support::fsutil::copy_tree;
use crate::support::{
    survivor, verify_standalone, Expectations, Keep, SurvivorOpts, SurvivorStop, SysAccount,
};

async fn recover(version: &str, stop: SurvivorStop) {
    let (sys, keep) = match stop {
        SurvivorStop::Clean => (SysAccount::Default, Keep::Follower),
        SurvivorStop::Kill => (SysAccount::Custom, Keep::MetaLeader),
    };
    let s = survivor(SurvivorOpts {
        version: version.into(),
        sys,
        stop,
        survivor: keep,
        encryption: None,
    })
    .await;
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    s.copy_to(&store);
    let original = tree(&store);

    // A killed survivor's index.db may lag its message blocks; only a clean one's is exact.
    let report = inspect_json(&store);
    assert_report_covers(&report, &s.expectations, stop == SurvivorStop::Clean);
    assert_eq!(
        report["raft"][0]["dir"],
        format!("jetstream/{}/_js_", sys.name())
    );

    assert_progress_and_warnings(&report, &s.expectations, stop);

    let plan = work.path().join("plan.json");
    js_recover()
        .arg("plan")
        .arg(&store)
        .arg("--out")
        .arg(&plan)
        .assert()
        .success();
    assert_same_tree(&original, &tree(&store));
    let manifest: Manifest = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(manifest.summary.dirs_removed, 1);
    // The plan carries the same warnings for the reviewer; what inspect finds in the Raft
    // log tail, the plan says what it does about.
    for w in report["warnings"].as_array().unwrap() {
        let found = if w["code"] == "raft-tail" {
            manifest.warnings.iter().any(|m| {
                m.path.as_deref() == w["path"].as_str()
                    && matches!(m.code.as_str(), "raft-tail-recovered" | "raft-tail-dropped")
            })
        } else {
            manifest.warnings.iter().any(|m| m.message == w["message"])
        };
        assert!(found, "plan lacks warning {w}");
    }

    let backup = work.path().join("backup");
    let out = js_recover()
        .args(["apply", "--json"])
        .arg(&plan)
        .arg("--backup-dir")
        .arg(&backup)
        .assert()
        .success();
    let applied: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(applied["result"]["removal"], "rename");

    let served = work.path().join("served");
    copy_tree(&store, &served);
    let report = verify_standalone(version, &served, &s.expectations, sys).await;
    assert!(
        report.bad_log_lines().is_empty(),
        "nats-server {version}: {:?}",
        report.bad_log_lines()
    );

    js_recover().arg("rollback").arg(&backup).assert().success();
    assert_same_tree(&original, &tree(&store));
}

/// Each consumer's progress read from `o.dat` is the cluster's; the interest and work-queue
/// streams are warned about with every consumer's ack floor; the sourced stream's origins
/// that are not in the store are named, and the mirror (whose origin is) is not.
fn assert_progress_and_warnings(report: &Value, expected: &Expectations, stop: SurvivorStop) {
    assert_consumer_progress(report, expected);
    if stop == SurvivorStop::Clean {
        for (account, a) in &expected.accounts {
            for name in a.streams.keys() {
                let r = report_stream(report, account, name);
                assert_eq!(r["state_note"], Value::Null, "{account} > {name}");
            }
        }
    }

    let warnings = report["warnings"].as_array().unwrap();
    let find = |code: &str, path: &str| -> Vec<String> {
        warnings
            .iter()
            .filter(|w| w["code"] == code && w["path"] == path)
            .map(|w| w["message"].as_str().unwrap().to_string())
            .collect()
    };
    for (stream, code) in [
        ("EVENTS", "interest-retention"),
        ("JOBS", "workqueue-retention"),
    ] {
        let found = find(code, &format!("jetstream/A/streams/{stream}"));
        assert_eq!(found.len(), 1, "{code} for {stream}: {warnings:?}");
        let es = expected.stream("A", stream);
        for (cname, ec) in &es.consumers {
            let want = format!(
                "`{cname}` ack floor {}, delivered {}, {} awaiting ack",
                ec.ack_floor_stream_seq, ec.delivered_stream_seq, ec.num_ack_pending
            );
            assert!(found[0].contains(&want), "{want:?} not in {:?}", found[0]);
        }
        if stop == SurvivorStop::Clean {
            let range = format!("seq {}..{}", es.first_seq, es.last_seq);
            assert!(found[0].contains(&range), "{range} not in {:?}", found[0]);
        }
    }
    let sources = find("source-origin-not-in-store", "jetstream/B/streams/ARCHIVE");
    assert_eq!(sources.len(), 2, "{warnings:?}");
    assert!(sources[0].contains("`TMP`"), "{sources:?}");
    assert!(
        sources[1].contains("`EDGE_EVENTS` through `$JS.edge.API`"),
        "{sources:?}"
    );
    assert!(find(
        "mirror-origin-not-in-store",
        "jetstream/B/streams/LOGS_MIRROR"
    )
    .is_empty());
    for code in [
        "consumer-ahead-of-stream",
        "consumer-state-unreadable",
        "checksum-mismatch",
    ] {
        assert!(
            !warnings.iter().any(|w| w["code"] == code),
            "{code}: {warnings:?}"
        );
    }
}

macro_rules! release {
    ($module:ident, $version:literal) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread")]
            async fn clean_survivor() {
                recover($version, SurvivorStop::Clean).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn killed_survivor() {
                recover($version, SurvivorStop::Kill).await;
            }
        }
    };
}

release!(v2_10_26, "2.10.26");
release!(v2_11_11, "2.11.11");
release!(v2_12_8, "2.12.8");
release!(v2_14_6, "2.14.6");
release!(v2_15_1, "2.15.1");
