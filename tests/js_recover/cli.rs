//! The command line as an operator meets it: help, errors, exit codes, and that `inspect`
//! and `plan` never change the store. Runs on the real survivor store in `examples/`.

use predicates::prelude::*;

use crate::fixtures::{assert_same_tree, example_store, js_recover, tree};
use js_recover::plan::{Change, Manifest};

#[test]
fn version_and_help_with_examples() {
    js_recover()
        .arg("--version")
        .assert()
        .success()
        .stdout(format!("js-recover {}\n", env!("CARGO_PKG_VERSION")));
    js_recover()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes"));
    for sub in ["inspect", "plan", "apply", "rollback", "status", "prepare"] {
        js_recover()
            .args([sub, "--help"])
            .assert()
            .success()
            .stdout(
                predicate::str::contains("Examples:")
                    .and(predicate::str::contains(format!("js-recover {sub} "))),
            );
    }
    js_recover().arg("bogus").assert().code(2);
}

#[test]
fn not_a_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["inspect", "plan"] {
        js_recover()
            .args([cmd, dir.path().join("nope").to_str().unwrap()])
            .assert()
            .code(1)
            .stderr(
                predicate::str::contains("does not exist").and(predicate::str::contains(
                    "hint: pass the server's `store_dir`",
                )),
            );
        js_recover()
            .args([cmd, dir.path().to_str().unwrap()])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("is not a nats-server store"));
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}

#[test]
fn plan_covers_the_example_and_changes_nothing() {
    let store = example_store();
    let before = tree(store.path());
    let out = tempfile::tempdir().unwrap();
    let plan_file = out.path().join("plan.json");
    js_recover()
        .args([
            "plan",
            store.path().to_str().unwrap(),
            "--out",
            plan_file.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stderr(
            predicate::str::contains("plan: ")
                .and(predicate::str::contains("remove  jetstream/$SYS")),
        );
    assert_same_tree(&before, &tree(store.path()));

    let text = std::fs::read_to_string(&plan_file).unwrap();
    let manifest: Manifest = serde_json::from_str(&text).unwrap();
    assert_eq!(manifest.schema, "js-recover/plan");
    assert_eq!(
        manifest.store,
        store.path().canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(
        manifest.created_at.to_rfc3339(),
        "2026-11-21T12:00:00+00:00"
    );
    assert!(manifest
        .changes
        .iter()
        .any(|c| matches!(c, Change::Remove(r) if r.path == "jetstream/$SYS")));
    // Stdout and --out carry the same manifest.
    let stdout = js_recover()
        .args(["plan", store.path().to_str().unwrap()])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(stdout).unwrap(), text);
}

#[test]
fn inspect_json_names_every_stream_and_changes_nothing() {
    let store = example_store();
    let before = tree(store.path());
    let out = js_recover()
        .args(["inspect", "--json", store.path().to_str().unwrap()])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["schema"], "js-recover/inspect");
    let dirs = walk_stream_dirs(store.path());
    let named: Vec<String> = report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            a["streams"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["dir"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(named, dirs);
    js_recover()
        .args(["inspect", store.path().to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::contains("raft state"));
    assert_same_tree(&before, &tree(store.path()));
}

/// Stream directories found by plain directory listing, for cross-checking.
fn walk_stream_dirs(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut accounts: Vec<_> = std::fs::read_dir(root.join("jetstream"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    accounts.sort();
    for account in accounts {
        let Ok(streams) = std::fs::read_dir(account.join("streams")) else {
            continue;
        };
        let mut streams: Vec<_> = streams.map(|e| e.unwrap().path()).collect();
        streams.sort();
        out.extend(
            streams
                .iter()
                .map(|s| s.strip_prefix(root).unwrap().to_string_lossy().into_owned()),
        );
    }
    out
}

#[test]
fn out_inside_the_store_is_refused() {
    let store = example_store();
    let before = tree(store.path());
    js_recover()
        .args(["plan", store.path().to_str().unwrap(), "--out"])
        .arg(store.path().join("jetstream/plan.json"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is inside the store"));
    assert_same_tree(&before, &tree(store.path()));
}

#[test]
fn truncated_meta_inf_is_refused_and_named() {
    let store = example_store();
    let meta = first_stream_meta(store.path());
    let bytes = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, &bytes[..bytes.len() / 2]).unwrap();
    let before = tree(store.path());
    let out = tempfile::tempdir().unwrap();
    let rel = meta
        .strip_prefix(store.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    js_recover()
        .args(["plan", store.path().to_str().unwrap(), "--out"])
        .arg(out.path().join("plan.json"))
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("error: nats-server cannot load 1 metadata file")
                .and(predicate::str::contains(format!(
                    "`{rel}` is not valid JSON"
                )))
                .and(predicate::str::contains("hint:")),
        );
    assert!(!out.path().join("plan.json").exists());
    // inspect still shows the rest of the store and flags the file, then fails.
    js_recover()
        .args(["inspect", store.path().to_str().unwrap()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("malformed"))
        .stderr(predicate::str::contains(format!(
            "error: `{rel}` is not valid JSON"
        )));
    assert_same_tree(&before, &tree(store.path()));
}

#[test]
fn a_store_held_open_by_a_process_is_refused() {
    let store = example_store();
    let meta = first_stream_meta(store.path());
    let mut holder = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec 3<\"$0\"; exec sleep 30")
        .arg(&meta)
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let result = js_recover()
        .args(["plan", store.path().to_str().unwrap()])
        .assert();
    holder.kill().unwrap();
    holder.wait().unwrap();
    result
        .code(4)
        .stderr(predicate::str::contains("is in use by sleep"));
}

fn first_stream_meta(root: &std::path::Path) -> std::path::PathBuf {
    root.join(&walk_stream_dirs(root)[0]).join("meta.inf")
}

/// What an operator sees on the example store, pinned. A new example store or a change in
/// wording shows up here for review (`cargo insta review`).
#[test]
fn inspect_and_plan_output_on_the_example() {
    let store = example_store();
    let root = store.path().canonicalize().unwrap();
    let root = root.to_str().unwrap();
    let inspect = js_recover()
        .arg("inspect")
        .arg(store.path())
        .assert()
        .success();
    let stdout = String::from_utf8(inspect.get_output().stdout.clone()).unwrap();
    insta::assert_snapshot!("inspect_example", stdout.replace(root, "[STORE]"));
    // On an 80-column terminal every line fits.
    let narrow = js_recover()
        .env("COLUMNS", "80")
        .arg("inspect")
        .arg(store.path())
        .assert()
        .success();
    let narrow = String::from_utf8(narrow.get_output().stdout.clone()).unwrap();
    let narrow = narrow.replace(root, "[STORE]");
    let long: Vec<&str> = narrow
        .lines()
        .filter(|l| l.chars().count() > 80 && !l.starts_with("store `"))
        .collect();
    assert!(long.is_empty(), "lines over 80 columns: {long:#?}");
    insta::assert_snapshot!("inspect_example_80_columns", narrow);

    let plan = js_recover()
        .arg("plan")
        .arg(store.path())
        .assert()
        .success();
    let stderr = String::from_utf8(plan.get_output().stderr.clone()).unwrap();
    insta::assert_snapshot!("plan_summary_example", stderr.replace(root, "[STORE]"));
    let manifest: Manifest = serde_json::from_slice(&plan.get_output().stdout).unwrap();
    let diffs: String = manifest
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Edit(e) if e.path.ends_with("meta.inf") => Some(e.diff.clone()),
            _ => None,
        })
        .collect();
    insta::assert_snapshot!("plan_diffs_example", diffs);
}

#[test]
fn the_jetstream_dir_itself_is_accepted() {
    let store = example_store();
    let from_root = js_recover()
        .args(["plan"])
        .arg(store.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let from_js = js_recover()
        .args(["plan"])
        .arg(store.path().join("jetstream"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(from_root, from_js);
}

#[test]
fn an_unreadable_meta_file_is_named() {
    let store = example_store();
    let meta = first_stream_meta(store.path());
    let sum = meta.with_file_name("meta.sum");
    std::fs::remove_file(&sum).unwrap();
    std::fs::create_dir(&sum).unwrap(); // not a file, whoever runs the test
    let rel = sum
        .strip_prefix(store.path())
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    for cmd in ["inspect", "plan"] {
        js_recover()
            .arg(cmd)
            .arg(store.path())
            .assert()
            .code(1)
            .stderr(
                predicate::str::contains("error: `")
                    .and(predicate::str::contains(rel.as_str()))
                    .and(predicate::str::contains(
                        "is a directory, not a regular file",
                    )),
            );
    }
}

#[test]
fn encrypted_metadata_needs_a_key_that_opens_it() {
    let store = example_store();
    let meta = first_stream_meta(store.path());
    std::fs::write(meta.with_file_name("meta.key"), [7u8; 72]).unwrap();
    let before = tree(store.path());
    let out = js_recover()
        .args(["inspect", "--json"])
        .arg(store.path())
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let first = &report["accounts"][0]["streams"][0];
    assert_eq!(
        (&first["encrypted"], &first["meta"]),
        (&true.into(), &"encrypted".into())
    );
    js_recover()
        .arg("plan")
        .arg(store.path())
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains("is encrypted at rest, and no key was given")
                .and(predicate::str::contains("--key-file FILE")),
        );

    // A key that does not open it: named, for inspect and plan alike.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("js.key");
    std::fs::write(&key, "some key\n").unwrap();
    for cmd in ["inspect", "plan", "prepare"] {
        js_recover()
            .arg(cmd)
            .arg(store.path())
            .arg("--key-file")
            .arg(&key)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "the key given does not open stream `EVENTS` of account `A`",
            ));
    }
    // Key files that cannot be used, and options that need a key.
    let empty = dir.path().join("empty.key");
    std::fs::write(&empty, "\n").unwrap();
    js_recover()
        .arg("plan")
        .arg(store.path())
        .arg("--key-file")
        .arg(&empty)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is empty"));
    js_recover()
        .arg("plan")
        .arg(store.path())
        .arg("--key-file")
        .arg(dir.path().join("missing.key"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot read the key file"));
    js_recover()
        .args(["plan", "--cipher", "aes"])
        .arg(store.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--key-file"));
    assert_same_tree(&before, &tree(store.path()));
}

/// Writes `meta.inf` with its correct `meta.sum` for a stream directory.
fn write_stream_meta(dir: &std::path::Path, meta: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("meta.inf"), meta).unwrap();
    let name = dir.file_name().unwrap().to_str().unwrap();
    let sum = js_recover::store::checksum::meta_sum(name, meta.as_bytes());
    std::fs::write(dir.join("meta.sum"), sum).unwrap();
}

#[test]
fn warnings_name_the_data_at_risk() {
    let store = example_store();
    let b = store.path().join("jetstream/B/streams");
    // TAIL was delivered past the end of LOGS (seq 40): magic 22, version 2, ack floor
    // (consumer, stream) 100/100, delivered 100/100, nothing pending or redelivered.
    std::fs::write(
        b.join("LOGS/obs/TAIL/o.dat"),
        [22, 2, 100, 100, 100, 100, 0, 0],
    )
    .unwrap();
    // W's state is cut short: the server cannot load it.
    let w = store.path().join("jetstream/A/streams/JOBS/obs/W/o.dat");
    let full = std::fs::read(&w).unwrap();
    std::fs::write(&w, &full[..4]).unwrap();
    // A mirror of a stream this store has, and one of a stream it does not.
    write_stream_meta(
        &b.join("M1"),
        r#"{"name":"M1","retention":"limits","storage":"file","num_replicas":1,"mirror":{"name":"LOGS"}}"#,
    );
    write_stream_meta(
        &b.join("M2"),
        r#"{"name":"M2","retention":"limits","storage":"file","num_replicas":1,"mirror":{"name":"GONE","external":{"api":"$JS.hub.API"}}}"#,
    );
    // Through account A's exported API: ORDERS is in this store, in A.
    write_stream_meta(
        &b.join("M3"),
        r#"{"name":"M3","retention":"limits","storage":"file","num_replicas":1,"mirror":{"name":"ORDERS","external":{"api":"$JS.A.API"}}}"#,
    );
    let before = tree(store.path());

    let out = js_recover()
        .args(["inspect", "--json"])
        .arg(store.path())
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let codes: Vec<(String, String)> = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["code"].as_str().unwrap().into(),
                w["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    let has = |code: &str, path: &str| codes.contains(&(code.into(), path.into()));
    assert!(
        has(
            "consumer-ahead-of-stream",
            "jetstream/B/streams/LOGS/obs/TAIL"
        ),
        "{codes:?}"
    );
    assert!(
        has(
            "consumer-state-unreadable",
            "jetstream/A/streams/JOBS/obs/W/o.dat"
        ),
        "{codes:?}"
    );
    assert!(
        has("mirror-origin-not-in-store", "jetstream/B/streams/M2"),
        "{codes:?}"
    );
    assert!(
        !has("mirror-origin-not-in-store", "jetstream/B/streams/M1"),
        "{codes:?}"
    );
    assert!(
        !has("mirror-origin-not-in-store", "jetstream/B/streams/M3"),
        "{codes:?}"
    );
    let jobs = &report["accounts"][0]["streams"][1];
    assert_eq!(
        jobs["consumers"][0]["ack_floor_stream_seq"],
        serde_json::Value::Null
    );
    assert_eq!(
        jobs["consumers"][0]["state_note"],
        "o.dat is truncated or corrupt"
    );

    // The same warnings reach the plan, for the reviewer.
    let out = js_recover()
        .arg("plan")
        .arg(store.path())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for what in [
        "was delivered up to seq 100, but this copy of the stream ends at seq 40",
        "o.dat is truncated or corrupt; the server fails to load this consumer",
        "stream `M2` mirrors `GONE` through `$JS.hub.API`",
    ] {
        assert!(stderr.contains(what), "{what:?} not in:\n{stderr}");
    }
    assert_same_tree(&before, &tree(store.path()));

    // A message block newer than index.db: the counts may be behind, so no consumer is
    // judged ahead of them.
    let blk = b.join("LOGS/msgs/1.blk");
    let later = std::fs::metadata(b.join("LOGS/msgs/index.db"))
        .unwrap()
        .modified()
        .unwrap()
        + std::time::Duration::from_secs(5);
    std::fs::File::open(&blk)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let out = js_recover()
        .args(["inspect", "--json"])
        .arg(store.path())
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let logs = &report["accounts"][1]["streams"][1];
    assert_eq!(logs["name"], "LOGS");
    assert!(logs["state_note"]
        .as_str()
        .unwrap()
        .contains("older than the newest message block"));
    assert!(!report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w["code"] == "consumer-ahead-of-stream"));
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definition() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef js-recover"),
        ("fish", "complete -c js-recover"),
    ] {
        let out = js_recover().args(["completions", shell]).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(
            text.contains(marker),
            "{shell}: {}",
            &text[..text.len().min(300)]
        );
        for sub in ["inspect", "plan", "apply", "rollback", "status", "prepare"] {
            assert!(text.contains(sub), "{shell} lacks {sub}");
        }
    }
    let page = js_recover().arg("man").assert().success();
    let page = String::from_utf8_lossy(&page.get_output().stdout).into_owned();
    assert!(
        page.starts_with(".ie") || page.contains(".TH js-recover"),
        "{}",
        &page[..200]
    );
    let dir = tempfile::tempdir().unwrap();
    js_recover()
        .args(["man", "--out-dir"])
        .arg(dir.path())
        .assert()
        .success();
    for sub in ["inspect", "plan", "apply", "rollback", "status", "prepare"] {
        let p = dir.path().join(format!("js-recover-{sub}.1"));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("Examples"), "{sub}: {text}");
    }
    js_recover().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn short_help_shows_the_examples_of_every_subcommand() {
    for sub in [
        "inspect",
        "plan",
        "apply",
        "rollback",
        "status",
        "prepare",
        "completions",
        "man",
    ] {
        let out = js_recover().args([sub, "-h"]).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(text.contains("Examples:"), "{sub} -h: {text}");
        assert!(text.contains("js-recover "), "{sub} -h: {text}");
    }
    let out = js_recover().arg("-h").assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("Exit codes"));
}
