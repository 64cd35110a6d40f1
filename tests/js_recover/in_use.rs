//! A store a nats-server serves is never edited, however the server was started: with
//! `-c FILE` (its `jetstream { store_dir }`, through an `include`, relative to its working
//! directory), with `-sd`, or with JetStream on and no store_dir (its temporary default).
//! The server is real, has loaded the store and is idle: it holds no file of the store
//! open, which the test checks first, so open files alone would have missed it. A shell
//! whose working directory is the store does not count as using it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::apply_cli::Work;
use crate::fixtures::{assert_same_tree, js_recover, tree};
use crate::support::config::{accounts_block, SysAccount};
use crate::support::{default_version, nats_server_bin};

/// A nats-server child, SIGKILLed on drop.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// Starts nats-server with `args` in `cwd` and waits until JetStream has loaded.
    fn start(cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> Running {
        let log = cwd.join(format!("server-{}.log", args.join("_").replace('/', "_")));
        let out = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(nats_server_bin(&default_version()));
        cmd.args(args)
            .args(["-p", "-1", "-a", "127.0.0.1"])
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut running = Running {
            child: cmd.spawn().unwrap(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&running.log).unwrap_or_default();
            if text.contains("Server is ready") {
                break;
            }
            assert!(
                running.child.try_wait().unwrap().is_none() && Instant::now() < deadline,
                "nats-server did not start: {text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        running
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the idle server has no file under `store` open: the case open-file
    /// detection cannot see.
    fn wait_idle(&self, store: &Path) {
        let store = store.canonicalize().unwrap();
        let fds = PathBuf::from(format!("/proc/{}/fd", self.pid()));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let open: Vec<PathBuf> = std::fs::read_dir(&fds)
                .unwrap()
                .flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter(|t| t.starts_with(&store))
                .collect();
            if open.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the idle server still holds {open:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Every command that edits the store refuses it (exit 4), naming the server, its pid and
/// where its store_dir came from; nothing changes.
fn assert_refused(w: &Work, backup: &Path, server: &Running, from: &str) {
    let before = tree(&w.store);
    let pid = format!("pid {}", server.pid());
    let plan_out = w.dir.path().join("plan2.json");
    for args in [
        vec![
            "plan".as_ref(),
            w.store.as_os_str(),
            "--out".as_ref(),
            plan_out.as_os_str(),
        ],
        vec!["prepare".as_ref(), w.store.as_os_str()],
        vec!["rollback".as_ref(), backup.as_os_str()],
    ] {
        js_recover()
            .args(&args)
            .timeout(Duration::from_secs(60))
            .assert()
            .code(4)
            .stderr(
                predicate::str::contains("is in use by nats-server")
                    .and(predicate::str::contains(pid.as_str()))
                    .and(predicate::str::contains(from))
                    .and(predicate::str::contains("hint:")),
            );
    }
    assert!(!plan_out.exists());
    assert_same_tree(&before, &tree(&w.store));
}

/// Rolls back once the server is gone: every original byte is back; what the server
/// created while it ran (empty `obs/` directories) is listed, not removed.
fn rollback_after_server(w: &Work, backup: &Path) {
    let out = js_recover().arg("rollback").arg(backup).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let now = tree(&w.store);
    for (path, entry) in &w.original {
        assert_eq!(now.get(path), Some(entry), "{path} is not as it was");
    }
    for path in now.keys().filter(|p| !w.original.contains_key(*p)) {
        assert!(path.ends_with("/obs"), "{path} appeared");
        assert!(
            text.contains(path.as_str()),
            "rollback does not name {path}: {text}"
        );
    }
}

/// The example store, applied (so that a standalone server loads it whole), with its
/// backup directory.
fn applied() -> (Work, PathBuf) {
    let w = Work::example();
    let backup = w.dir.path().join("backup");
    w.apply_into(&backup).success();
    (w, backup)
}

#[test]
fn an_idle_server_started_with_a_config_file_is_found() {
    let (w, backup) = applied();
    // The store_dir sits in an included file, relative to the server's working directory.
    let conf_dir = w.dir.path().join("etc");
    std::fs::create_dir(&conf_dir).unwrap();
    std::fs::write(
        conf_dir.join("js.conf"),
        "jetstream {\n  store_dir: \"store\"\n  max_memory_store: 64MB\n}\n",
    )
    .unwrap();
    std::fs::write(
        conf_dir.join("server.conf"),
        format!(
            "# the survivor's node config, minus its cluster\n{}include ./js.conf\n",
            accounts_block(SysAccount::Default)
        ),
    )
    .unwrap();
    let server = Running::start(w.dir.path(), &["-c", "etc/server.conf"], &[]);
    server.wait_idle(&w.store);
    assert!(
        std::fs::read_to_string(&server.log)
            .unwrap()
            .contains("Store Directory: \"store/jetstream\""),
        "the server serves this store, by a path relative to its working directory"
    );
    assert_refused(&w, &backup, &server, "from its config");
    // Apply of a plan for this store: refused too, before anything is written.
    js_recover()
        .arg("apply")
        .arg(&w.plan)
        .arg("--backup-dir")
        .arg(w.dir.path().join("backup2"))
        .assert()
        .code(4);
    assert!(!w.dir.path().join("backup2").exists());
    drop(server);
    rollback_after_server(&w, &backup);
}

#[test]
fn an_idle_server_started_with_sd_or_its_default_store_dir_is_found() {
    let (w, backup) = applied();
    let elsewhere = tempfile::tempdir().unwrap();
    let conf = elsewhere.path().join("accounts.conf");
    std::fs::write(&conf, accounts_block(SysAccount::Default)).unwrap();
    let store = w.store.to_str().unwrap();
    let conf_arg = conf.to_str().unwrap();
    {
        let server = Running::start(
            elsewhere.path(),
            &["-c", conf_arg, "-js", "-sd", store],
            &[],
        );
        server.wait_idle(&w.store);
        assert_refused(&w, &backup, &server, "from its command line");
    }
    // JetStream on, no store_dir: the server uses `$TMPDIR/nats`. Put the store there.
    let tmp = tempfile::tempdir().unwrap();
    let default = tmp.path().join("nats");
    std::fs::rename(&w.store, &default).unwrap();
    {
        let server = Running::start(
            elsewhere.path(),
            &["-c", conf_arg, "--js"],
            &[("TMPDIR", tmp.path())],
        );
        server.wait_idle(&default);
        js_recover()
            .arg("plan")
            .arg(&default)
            .assert()
            .code(4)
            .stderr(
                predicate::str::contains(format!("pid {}", server.pid()))
                    .and(predicate::str::contains("its default")),
            );
    }
    std::fs::rename(&default, &w.store).unwrap();
    rollback_after_server(&w, &backup);
}

#[test]
fn a_shell_whose_working_directory_is_the_store_is_not_a_user_of_it() {
    let w = Work::example();
    let mut shell = Command::new("sh")
        .args(["-c", "sleep 30"])
        .current_dir(&w.store)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // `cd STORE && js-recover plan .`
    let out = w.dir.path().join("plan-here.json");
    js_recover()
        .current_dir(&w.store)
        .args(["plan", ".", "--out"])
        .arg(&out)
        .assert()
        .success();
    js_recover()
        .current_dir(&w.store)
        .args(["inspect", "."])
        .assert()
        .success()
        .stderr(predicate::str::contains("in use").not());
    let _ = shell.kill();
    let _ = shell.wait();
    assert!(out.exists());
}
