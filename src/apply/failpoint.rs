//! Deterministic crash points for tests: `JS_RECOVER_FAILPOINT=<point>[:<n>][@<action>]`
//! makes the process stop at the `n`-th time (from 0; default 0) it reaches `point`.
//!
//! Actions: `kill` (default) sends this process SIGKILL, exactly what an operator's
//! `kill -9` or a power cut does to the files; `error` makes the step fail as an I/O error
//! would; `pause` sleeps for a minute, so a test can race a second command against it.
//!
//! The points are named in `apply` and `rollback` where they are hit. Unset, this costs one
//! environment lookup per process.

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

/// Called at crash point `point` for the `n`-th time.
pub fn hit(point: &str, n: usize) -> Result<(), ApplyError> {
    let Some(spec) = spec() else { return Ok(()) };
    if spec.point != point || spec.n != n {
        return Ok(());
    }
    match spec.action.as_str() {
        "error" => Err(ApplyError::Failpoint(format!("{point}:{n}"))),
        "pause" => {
            eprintln!("failpoint {point}:{n}: pausing");
            std::thread::sleep(std::time::Duration::from_secs(60));
            Ok(())
        }
        _ => {
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            unreachable!("SIGKILL ends the process")
        }
    }
}
