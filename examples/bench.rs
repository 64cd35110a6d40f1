//! Times `plan`, `apply`, `rollback` and `prepare` on generated survivor-shaped stores and
//! reports medians and peak memory. A benchmark, not a test: run it on a quiet machine.
//!
//! ```text
//! cargo build --release
//! cargo run --release --example bench -- [--sizes 1k,5k] [--rounds 3] [--work DIR]
//!                                        [--wal-bytes 65536] [--seed OLD_TOOL]
//! ```
//!
//! Stores have the shape of the shared kit's (`../shared/bench/synth.py`): R3 streams with a
//! placement, two durable consumers each (one explicitly R3), a 4 KiB message block, and a
//! Raft group per stream under `$SYS/_js_` with `--wal-bytes` of log. Sizes are stream
//! counts (`1k`, `5k`, `500`); `1k-2g` is 1,000 streams with 2 GiB of Raft logs in all.
//!
//! Every timed command gets a fresh `cp -a` of the generated store and a `sync` before it;
//! peak memory is the child's maximum resident set (`wait4`). With `--seed` (the old Go
//! tool, built by `../shared/bench/build-seed.sh`), its `prepare` is timed in the same
//! rounds, before js-recover's, and the median of the pairwise ratios is printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[path = "../tests/js_recover/support/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

/// One command's cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    seconds: f64,
    peak_kib: u64,
}

/// The steps timed in each round, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Seed,
    Prepare,
    Plan,
    Apply,
    Rollback,
}

impl Step {
    const ALL: [Step; 5] = [
        Step::Seed,
        Step::Prepare,
        Step::Plan,
        Step::Apply,
        Step::Rollback,
    ];

    fn label(self) -> &'static str {
        match self {
            Step::Seed => "old tool `prepare`",
            Step::Prepare => "js-recover `prepare`",
            Step::Plan => "`plan`",
            Step::Apply => "`apply`",
            Step::Rollback => "`rollback`",
        }
    }
}

struct Args {
    sizes: Vec<String>,
    rounds: usize,
    work: PathBuf,
    wal_bytes: usize,
    seed: Option<PathBuf>,
}

fn args() -> Args {
    let mut a = Args {
        sizes: vec!["1k".into(), "5k".into()],
        rounds: 3,
        work: std::env::temp_dir().join("js-recover-bench"),
        wal_bytes: 65536,
        seed: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--sizes" => a.sizes = value.split(',').map(str::to_string).collect(),
            "--rounds" => a.rounds = value.parse().unwrap_or_else(|_| usage("--rounds N")),
            "--work" => a.work = value.into(),
            "--wal-bytes" => a.wal_bytes = value.parse().unwrap_or_else(|_| usage("--wal-bytes N")),
            "--seed" => a.seed = Some(value.into()),
            other => usage(&format!("unknown option {other}")),
        }
    }
    a
}

fn usage(why: &str) -> ! {
    eprintln!("bench: {why}");
    eprintln!(
        "usage: bench [--sizes 1k,5k,1k-2g] [--rounds N] [--work DIR] [--wal-bytes N] [--seed OLD_TOOL]"
    );
    std::process::exit(2);
}

/// `1k` -> 1000 streams; `1k-2g` -> 1000 streams with 2 GiB of Raft logs in all.
fn shape(size: &str, wal_bytes: usize) -> synthetic::Shape {
    let (count, wal_total) = match size.split_once('-') {
        Some((c, "2g")) => (c, Some(2usize << 30)),
        Some(_) => usage(&format!("size {size}: only -2g is known")),
        None => (size, None),
    };
    let streams = match count.strip_suffix('k') {
        Some(k) => k.parse::<usize>().map(|k| k * 1000),
        None => count.parse(),
    }
    .unwrap_or_else(|_| usage(&format!("size {size}")));
    synthetic::Shape {
        streams,
        block_bytes: 4096,
        consumers: 2,
        wal_bytes: wal_total.map_or(wal_bytes, |t| t / streams),
    }
}

/// The js-recover binary beside this example's (`target/release/js-recover`).
fn js_recover() -> PathBuf {
    let exe = std::env::current_exe().expect("this program's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("js-recover"))
        .expect("target/<profile>/examples/");
    if !bin.is_file() {
        usage(&format!(
            "{} is missing: run `cargo build --release` first",
            bin.display()
        ));
    }
    bin
}

fn run(cmd: &mut Command) -> Cost {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let start = Instant::now();
    // Waited for by wait4 below, which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = cmd.spawn().expect("the command starts");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: waits for the child spawned above, which nothing else waits for.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = start.elapsed().as_secs_f64();
    assert_eq!(rc, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed (status {status})"
    );
    Cost {
        seconds,
        peak_kib: usage.ru_maxrss as u64,
    }
}

fn sh(args: &[&str]) {
    let ok = Command::new(args[0])
        .args(&args[1..])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{args:?} failed");
}

/// A fresh copy of `gold` at `to`, as `cp -a` makes it, then `sync`.
fn fresh(gold: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    sh(&["cp", "-a", gold.to_str().unwrap(), to.to_str().unwrap()]);
    sh(&["sync"]);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let a = args();
    let jsr = js_recover();
    std::fs::create_dir_all(&a.work).unwrap();
    println!(
        "js-recover {} ({}), {} rounds, machine: {} cores",
        env!("CARGO_PKG_VERSION"),
        jsr.display(),
        a.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for size in &a.sizes {
        let shape = shape(size, a.wal_bytes);
        let gold = a.work.join(format!("gold-{size}"));
        if !gold.exists() {
            let started = Instant::now();
            let tmp = a.work.join(format!("gold-{size}.partial"));
            let _ = std::fs::remove_dir_all(&tmp);
            std::fs::create_dir_all(&tmp).unwrap();
            synthetic::generate(&tmp, &shape);
            std::fs::rename(&tmp, &gold).unwrap();
            eprintln!(
                "generated {size} in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        let store = a.work.join("run");
        let plan = a.work.join("plan.json");
        let mut costs: Vec<(Step, Cost)> = Vec::new();
        for round in 0..a.rounds {
            let prepared = a.work.join("run.prepared");
            let applied = a.work.join("run.applied");
            for step in Step::ALL {
                let cost = match step {
                    Step::Seed => {
                        let Some(seed) = &a.seed else { continue };
                        fresh(&gold, &store);
                        run(Command::new(seed).arg("prepare").arg(&store))
                    }
                    Step::Prepare => {
                        let _ = std::fs::remove_dir_all(&prepared);
                        fresh(&gold, &store);
                        run(Command::new(&jsr)
                            .arg("prepare")
                            .arg(&store)
                            .arg("--backup-dir")
                            .arg(&prepared))
                    }
                    Step::Plan => {
                        fresh(&gold, &store);
                        run(Command::new(&jsr)
                            .arg("plan")
                            .arg(&store)
                            .arg("--out")
                            .arg(&plan))
                    }
                    Step::Apply => {
                        let _ = std::fs::remove_dir_all(&applied);
                        sh(&["sync"]);
                        run(Command::new(&jsr)
                            .arg("apply")
                            .arg(&plan)
                            .arg("--backup-dir")
                            .arg(&applied))
                    }
                    // Rolls back the apply just timed.
                    Step::Rollback => {
                        sh(&["sync"]);
                        run(Command::new(&jsr).arg("rollback").arg(&applied))
                    }
                };
                eprintln!(
                    "{size} round {round}: {} {:.2}s",
                    step.label(),
                    cost.seconds
                );
                costs.push((step, cost));
            }
        }
        let of = |step: Step| -> Vec<Cost> {
            costs
                .iter()
                .filter(|(s, _)| *s == step)
                .map(|(_, c)| *c)
                .collect()
        };
        println!();
        println!(
            "{size}: {} streams, {} consumers, {} KiB of Raft log per stream",
            shape.streams,
            shape.streams * shape.consumers,
            shape.wal_bytes / 1024
        );
        println!("| step | median | peak memory |");
        println!("|---|---|---|");
        for step in Step::ALL {
            let c = of(step);
            if c.is_empty() {
                continue;
            }
            let peak = c.iter().map(|c| c.peak_kib).max().unwrap_or(0);
            println!(
                "| {} | {:.2} s | {:.1} MiB |",
                step.label(),
                median(c.iter().map(|c| c.seconds).collect()),
                peak as f64 / 1024.0
            );
        }
        let (seed, prepare) = (of(Step::Seed), of(Step::Prepare));
        if !seed.is_empty() {
            let ratios = seed
                .iter()
                .zip(&prepare)
                .map(|(s, p)| p.seconds / s.seconds)
                .collect();
            println!(
                "js-recover `prepare` / old tool `prepare`: {:.2}x (median of pairwise ratios)",
                median(ratios)
            );
        }
        for leftover in ["run", "run.prepared", "run.applied"] {
            let _ = std::fs::remove_dir_all(a.work.join(leftover));
        }
    }
}
