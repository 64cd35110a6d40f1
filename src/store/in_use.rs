//! Finding processes that hold files of a store open.
//!
//! nats-server takes no lock on its store, but a running server keeps its message blocks
//! and index files open, so `/proc/<pid>/fd` tells us whether one is still using the store.
//! Editing such a store would race the server, so callers refuse.

use std::path::Path;

/// A process with a file under the store open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
}

/// Processes (other than this one) with an open file or working directory under `root`.
/// Processes we may not inspect are skipped; on systems without `/proc` this finds none.
pub fn holders(root: &Path) -> Vec<Holder> {
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let base = entry.path();
        let holds = |link: &Path| std::fs::read_link(link).is_ok_and(|t| t.starts_with(root));
        let mut hit = holds(&base.join("cwd"));
        if !hit {
            if let Ok(fds) = std::fs::read_dir(base.join("fd")) {
                hit = fds.flatten().any(|fd| holds(&fd.path()));
            }
        }
        if hit {
            let command = std::fs::read_to_string(base.join("comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            found.push(Holder { pid, command });
        }
    }
    found
}

/// `nats-server (pid 42), nats-server (pid 43)`, for messages.
pub fn describe(holders: &[Holder]) -> String {
    holders
        .iter()
        .map(|h| format!("{} (pid {})", h.command, h.pid))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_process_holding_a_file_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("f"), b"x").unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("exec 3<f; sleep 30")
            .current_dir(&root)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let found = holders(&root);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.iter().any(|h| h.pid == child.id()), "{found:?}");
        assert!(holders(&root).iter().all(|h| h.pid != child.id()));
    }
}
