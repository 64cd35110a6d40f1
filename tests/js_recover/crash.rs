//! SIGKILL at arbitrary moments: apply on a generated store of thousands of streams is
//! killed at many points of its run, and each time rollback puts back the original tree
//! exactly, so exactly that the same plan applies again (its fingerprints include times).

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::apply_cli::Work;
use crate::fixtures::{js_recover, tree};

const STREAMS: usize = 1000;
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

    // Whether run `n` has journaled `backed-up`: from then on it changes the store.
    let backed_up = |n: u32| {
        std::fs::read_to_string(w.dir.path().join(format!("bk{n}/journal.jsonl")))
            .is_ok_and(|j| j.contains("\"kind\":\"backed-up\""))
    };
    let wait_backed_up = |n: u32, child: &mut std::process::Child| {
        while !backed_up(n) && child.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_micros(500));
        }
    };

    // A whole run first, to know how long one takes and how long it changes the store.
    let started = Instant::now();
    let mut child = run(0);
    wait_backed_up(0, &mut child);
    let changing_from = started.elapsed();
    assert!(child.wait().unwrap().success());
    let whole = started.elapsed();
    let changing = whole - changing_from;
    assert_eq!(rollback(0), "applied");

    // Half the kills anywhere in a run, half while it changes the store.
    let mut states = Vec::new();
    for k in 1..=KILLS {
        let fraction = f64::from(k.div_ceil(2)) / f64::from(KILLS / 2 + 1);
        let mut child = run(k);
        let at = if k % 2 == 1 {
            let delay = whole.mul_f64(fraction);
            std::thread::sleep(delay);
            delay
        } else {
            let started = Instant::now();
            wait_backed_up(k, &mut child);
            std::thread::sleep(changing.mul_f64(fraction));
            started.elapsed()
        };
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();
        states.push((at, rollback(k)));
    }
    eprintln!("whole apply {whole:?}, changing the store for {changing:?}; killed at {states:?}");
    // The kills must have landed while the store was being changed, not only around it.
    let midway = states.iter().filter(|(_, s)| s == "interrupted").count();
    assert!(
        midway >= (KILLS / 4) as usize,
        "only {midway} of {KILLS} kills landed while the store was changing: {states:?}"
    );
    assert_eq!(tree(&w.store), w.original);
}
