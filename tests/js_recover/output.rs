//! The exit code tells what happened to the store, whatever happens to the terminal: a
//! closed stderr, a stdout that is a closed pipe or a full disk.

use std::process::{Command, Stdio};

use crate::apply_cli::Work;
use crate::fixtures::{assert_same_tree, tree};

/// A pipe whose reading end is already closed: every write to it fails with EPIPE.
fn broken_pipe() -> Stdio {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

fn js_recover() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("js-recover"));
    cmd.env("JS_RECOVER_NOW", "2026-11-21T12:00:00Z")
        .env_remove("JS_RECOVER_LOG");
    cmd
}

fn dev_full() -> Stdio {
    Stdio::from(
        std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap(),
    )
}

#[test]
fn a_closed_stderr_never_changes_the_exit_code() {
    let w = Work::example();
    // plan --out writes the plan and says so on stderr: the plan is written, exit 0.
    let out = w.dir.path().join("again.json");
    let status = js_recover()
        .arg("plan")
        .arg(&w.store)
        .arg("--out")
        .arg(&out)
        .stderr(broken_pipe())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&w.plan).unwrap()
    );

    // A stale plan is refused with 3, whether or not the refusal can be read.
    let meta = w.store.join("jetstream/A/streams/ORDERS/meta.inf");
    let original = std::fs::read(&meta).unwrap();
    std::fs::write(&meta, [original.as_slice(), b" "].concat()).unwrap();
    let before = tree(&w.store);
    let status = js_recover()
        .arg("apply")
        .arg(&w.plan)
        .stderr(broken_pipe())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3));
    assert_same_tree(&before, &tree(&w.store));
    std::fs::write(&meta, &original).unwrap();

    // A completed apply and rollback exit 0 with nowhere to report to.
    for args in [
        vec!["apply".into(), w.plan.clone().into_os_string()],
        vec!["rollback".into(), w.backup().into_os_string()],
    ] {
        let status = js_recover()
            .args(&args)
            .stdout(broken_pipe())
            .stderr(broken_pipe())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}");
    }
    w.assert_original();
}

#[test]
fn a_report_that_cannot_be_written_is_a_warning_once_the_store_changed() {
    let w = Work::example();
    let out = js_recover()
        .arg("apply")
        .arg(&w.plan)
        .stdout(dev_full())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: cannot write to standard output")
            && err.contains("No space left on device")
            && err.contains("the command itself succeeded"),
        "{err}"
    );
    // The store is applied: status agrees.
    let status = js_recover()
        .args(["status", "--json"])
        .arg(w.backup())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(v["state"], "applied");
    assert_eq!(v["store_check"]["matches"], "applied");

    let out = js_recover()
        .arg("rollback")
        .arg(w.backup())
        .stdout(dev_full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    w.assert_original();

    // A plan that cannot be delivered is a failure: nothing was written anywhere.
    let out = js_recover()
        .arg("plan")
        .arg(&w.store)
        .stdout(dev_full())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: cannot write to standard output") && err.contains("hint:"),
        "{err}"
    );
    w.assert_original();
}

/// Runs `js-recover ARGS` with stdout and stderr on a terminal (`script` gives it one);
/// returns what the terminal showed.
fn on_a_terminal(args: &[&std::ffi::OsStr]) -> String {
    let bin = assert_cmd::cargo::cargo_bin("js-recover");
    let mut line = crate::support::fsutil::shell_quote(bin.as_os_str());
    for a in args {
        line.push(' ');
        line.push_str(&crate::support::fsutil::shell_quote(a));
    }
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("JS_RECOVER_NOW", "2026-11-21T12:00:00Z")
        .env("COLUMNS", "80")
        .env_remove("JS_RECOVER_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
}

#[test]
fn plan_on_a_terminal_prints_the_summary_not_the_manifest() {
    let w = Work::synthetic(5000);
    let shown = on_a_terminal(&["plan".as_ref(), w.store.as_os_str()]);
    assert!(!shown.contains("\"schema\""), "{shown}");
    assert!(shown.contains("no manifest written"), "{shown}");
    assert!(
        shown.contains("plan: changes: 15,000 file edits, 1 removal"),
        "{shown}"
    );
    assert!(
        shown.contains("... and 14,971 more (see the manifest)"),
        "{shown}"
    );
    assert!(
        shown.lines().count() < 60,
        "{} lines",
        shown.lines().count()
    );
    // --json prints the manifest there; a pipe gets it without asking.
    let shown = on_a_terminal(&["plan".as_ref(), w.store.as_os_str(), "--json".as_ref()]);
    assert!(
        shown.contains("\"schema\": \"js-recover/plan\""),
        "{}",
        &shown[..200]
    );
    let piped = js_recover().arg("plan").arg(&w.store).output().unwrap();
    let m: serde_json::Value = serde_json::from_slice(&piped.stdout).unwrap();
    assert_eq!(m["summary"]["streams"], 5000);
    assert_same_tree(&w.original, &tree(&w.store));
}
