//! Deterministic crash points and I/O faults for tests:
//! `JS_RECOVER_FAILPOINT=<point>[:<n>][@<action>]` acts the `n`-th time (from 0; default 0)
//! the process reaches `point`.
//!
//! Points are the named steps of `apply` and `rollback` (`begin`, `backed-up`, `renamed`...,
//! hit where they are named), and the I/O operations every write to a store or a backup goes
//! through ([`IoOp`]): `write`, `sync`, `rename`, `unlink`, or `io` for any of them, counted
//! across the whole process.
//!
//! Actions: `kill` (default) sends this process SIGKILL, exactly what an operator's
//! `kill -9` or a power cut does to the files; `error` makes that one step fail as an I/O
//! error (EIO) would; `error-on` makes it and every later one of that point fail (a disk
//! that died); `pause` sleeps for a minute, so a test can race a second command against it.
//!
//! Unset, this costs one environment lookup per process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::ApplyError;

#[derive(Debug)]
struct Spec {
    point: String,
    n: usize,
    action: String,
}

fn spec() -> Option<&'static Spec> {
    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = std::env::var("JS_RECOVER_FAILPOINT").ok()?;
        let (rest, action) = text.split_once('@').unwrap_or((&text, "kill"));
        let (point, n) = match rest.split_once(':') {
            Some((p, n)) => (p, n.parse().ok()?),
            None => (rest, 0),
        };
        Some(Spec {
            point: point.into(),
            n,
            action: action.into(),
        })
    })
    .as_ref()
}

/// What to do at a point reached for the `n`-th time.
enum Act {
    Go,
    Fail,
}

fn act(point: &str, n: usize) -> Act {
    let Some(spec) = spec() else { return Act::Go };
    if spec.point != point {
        return Act::Go;
    }
    match spec.action.as_str() {
        "error" if n == spec.n => Act::Fail,
        "error-on" if n >= spec.n => Act::Fail,
        "pause" if n == spec.n => {
            crate::term::eprintln(&format!("failpoint {point}:{n}: pausing"));
            std::thread::sleep(std::time::Duration::from_secs(60));
            Act::Go
        }
        "kill" if n == spec.n => {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            unreachable!("SIGKILL ends the process")
        }
        _ => Act::Go,
    }
}

/// Called at crash point `point` for the `n`-th time.
pub fn hit(point: &str, n: usize) -> Result<(), ApplyError> {
    match act(point, n) {
        Act::Go => Ok(()),
        Act::Fail => Err(ApplyError::Failpoint(format!("{point}:{n}"))),
    }
}

/// The I/O operations that change a store or a backup directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    /// Creating a file or directory, writing it, or setting its mode, owner or time.
    Write,
    /// `fsync`, `syncfs`.
    Sync,
    Rename,
    /// Removing a file or a directory tree.
    Unlink,
}

impl IoOp {
    fn name(self) -> &'static str {
        match self {
            IoOp::Write => "write",
            IoOp::Sync => "sync",
            IoOp::Rename => "rename",
            IoOp::Unlink => "unlink",
        }
    }

    fn counter(self) -> &'static AtomicUsize {
        static COUNTERS: [AtomicUsize; 4] = [
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        ];
        &COUNTERS[self as usize]
    }
}

/// Called before every I/O operation `op`: an injected EIO when a fault is set for it.
pub fn io(op: IoOp) -> std::io::Result<()> {
    if spec().is_none() {
        return Ok(());
    }
    static ANY: AtomicUsize = AtomicUsize::new(0);
    let any = ANY.fetch_add(1, Ordering::SeqCst);
    let mine = op.counter().fetch_add(1, Ordering::SeqCst);
    match (act("io", any), act(op.name(), mine)) {
        (Act::Go, Act::Go) => Ok(()),
        _ => {
            // Tests tell a run the fault reached from one it never did.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                crate::term::eprintln(&format!(
                    "failpoint: injected EIO at {} (io:{any}, {}:{mine})",
                    op.name(),
                    op.name()
                ))
            });
            Err(std::io::Error::from_raw_os_error(
                rustix::io::Errno::IO.raw_os_error(),
            ))
        }
    }
}
