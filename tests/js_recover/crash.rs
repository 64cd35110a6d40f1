//! SIGKILL at arbitrary moments: apply on a generated store of thousands of streams is
//! killed at many points of its run, and each time rollback puts back the original tree
//! exactly, so exactly that the same plan applies again (its fingerprints include times).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::apply_cli::Work;
use crate::fixtures::{js_recover, tree};

const STREAMS: usize = 1500;
const KILLS: u32 = 16;

#[test]
fn apply_killed_at_any_moment_rolls_back_exactly() {
    let w = Work::synthetic(STREAMS);
    let run = |n: u32| {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("js-recover"))
            .arg("apply")
            .arg(&w.plan)
            .arg("--backup-dir")
            .arg(w.dir.path().join(format!("bk{n}")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let rollback = |n: u32| {
        let backup = w.dir.path().join(format!("bk{n}"));
        let out = js_recover()
            .args(["status", "--json"])
            .arg(&backup)
            .output()
            .unwrap();
        let state = match serde_json::from_slice::<Value>(&out.stdout) {
            Ok(v) => v["state"].as_str().unwrap().to_string(),
            // Killed before the journal existed: nothing was written to the store.
            Err(_) => "none".to_string(),
        };
        if state != "none" {
            js_recover().arg("rollback").arg(&backup).assert().success();
        }
        w.assert_original();
        state
    };

    // A whole run first, to know how long one takes.
    let started = Instant::now();
    assert!(run(0).wait().unwrap().success());
    let whole = started.elapsed();
    assert_eq!(rollback(0), "applied");

    let mut states = Vec::new();
    for k in 1..=KILLS {
        let delay = whole.mul_f64(f64::from(k) / f64::from(KILLS + 1));
        let mut child = run(k);
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        states.push((delay, rollback(k)));
    }
    eprintln!("whole apply {whole:?}; killed at {states:?}");
    // The kills must have landed while the store was being changed, not only around it.
    let midway = states.iter().filter(|(_, s)| s == "interrupted").count();
    assert!(
        midway >= 3,
        "only {midway} of {KILLS} kills landed while the store was changing: {states:?}"
    );
    assert_eq!(tree(&w.store), w.original);
    let _ = Duration::ZERO;
}
