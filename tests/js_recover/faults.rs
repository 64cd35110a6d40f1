//! I/O faults at every point of apply and rollback: the `n`-th write, fsync, rename or
//! unlink fails (once, or from then on, as a dying disk does) or the process is SIGKILLed
//! there, for every `n` the command reaches. Each time the exit code and the message must
//! say whether the store was changed, and a plain `rollback` must then give back the
//! original store byte for byte.

use std::path::Path;
use std::process::Output;

use crate::apply_cli::Work;
use crate::fixtures::{assert_same_tree, js_recover, tree, Tree};

/// Runs `args` with the fault `spec` (`io:<n>@<action>`).
fn run_with_fault(args: &[&std::ffi::OsStr], spec: &str) -> Output {
    js_recover()
        .args(args)
        .env("JS_RECOVER_FAILPOINT", spec)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn reached(out: &Output) -> bool {
    text(out).contains("failpoint: injected") || out.status.code().is_none()
}

fn plain_rollback(backup: &Path) {
    let out = js_recover().arg("rollback").arg(backup).output().unwrap();
    assert!(
        out.status.success(),
        "a plain rollback of `{}` failed: {}",
        backup.display(),
        text(&out)
    );
}

/// What a failed apply said and left: checked, then the store is put back.
fn judge_apply(w: &Work, backup: &Path, spec: &str, out: &Output) {
    let err = text(out);
    match out.status.code() {
        // Killed: nothing was said; rollback decides from the store.
        None => {
            if backup.join("journal.jsonl").exists() {
                plain_rollback(backup);
            }
        }
        Some(1) => {
            assert!(
                err.contains("error: ") && err.contains("hint: "),
                "{spec}: {err}"
            );
            assert!(
                !err.contains("left part-way changed"),
                "{spec}: exit 1 must mean the store is as it was: {err}"
            );
            // Exit 1 promises the store is as it was, without any rollback.
            assert_same_tree(&w.original, &tree(&w.store));
        }
        Some(6) => {
            assert!(
                err.contains("left part-way changed") && err.contains("js-recover rollback"),
                "{spec}: {err}"
            );
            plain_rollback(backup);
        }
        other => panic!("{spec}: apply exited {other:?}: {err}"),
    }
    w.assert_original();
}

#[test]
fn an_io_fault_anywhere_in_apply_is_reported_truly_and_rolled_back() {
    let w = Work::example();
    for action in ["error", "error-on", "kill"] {
        let mut n = 0;
        loop {
            let backup = w.dir.path().join(format!("bk-{action}-{n}"));
            let spec = format!("io:{n}@{action}");
            let out = run_with_fault(
                &[
                    "apply".as_ref(),
                    w.plan.as_os_str(),
                    "--backup-dir".as_ref(),
                    backup.as_os_str(),
                ],
                &spec,
            );
            if !reached(&out) {
                assert!(out.status.success(), "{spec}: {}", text(&out));
                plain_rollback(&backup);
                w.assert_original();
                break;
            }
            judge_apply(&w, &backup, &spec, &out);
            n += 1;
        }
        eprintln!("apply: {n} I/O operations, each failed with `{action}`");
        assert!(n > 20, "only {n} I/O operations seen in apply");
    }
}

#[test]
fn an_io_fault_anywhere_in_rollback_is_reported_truly_and_a_rerun_finishes() {
    let w = Work::example();
    let mut applied: Option<Tree> = None;
    for action in ["error", "error-on", "kill"] {
        let mut n = 0;
        loop {
            let backup = w.dir.path().join(format!("bk-{action}-{n}"));
            w.apply_into(&backup).success();
            let applied = applied.get_or_insert_with(|| tree(&w.store)).clone();
            let spec = format!("io:{n}@{action}");
            let out = run_with_fault(&["rollback".as_ref(), backup.as_os_str()], &spec);
            if !reached(&out) {
                assert!(out.status.success(), "{spec}: {}", text(&out));
                w.assert_original();
                break;
            }
            let err = text(&out);
            match out.status.code() {
                None => {}
                // Refused before it changed anything: still exactly as applied.
                Some(1 | 5) => {
                    assert!(err.contains("hint: "), "{spec}: {err}");
                    assert_same_tree(&applied, &tree(&w.store));
                }
                Some(6) => assert!(
                    err.contains("partly restored") && err.contains("js-recover rollback"),
                    "{spec}: {err}"
                ),
                other => panic!("{spec}: rollback exited {other:?}: {err}"),
            }
            plain_rollback(&backup);
            w.assert_original();
            n += 1;
        }
        eprintln!("rollback: {n} I/O operations, each failed with `{action}`");
        assert!(n > 10, "only {n} I/O operations seen in rollback");
    }
}
