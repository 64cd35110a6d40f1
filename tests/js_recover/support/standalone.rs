//! Serving a recovered store from one standalone nats-server and checking it
//! against the `Expectations` recorded before the quorum loss.
//!
//! The config is the cluster's minus the `cluster` block, with `store_dir`
//! pointing at the recovered store: exactly how an operator brings the data
//! back up after running js-recover.

use std::path::Path;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::cluster::connect;
use super::config::{self, Account, Encryption, SysAccount, ACCOUNT_A};
use super::nats_server::{Server, ServerSpec};
use super::net;
use super::observe::snapshot;
use super::scenario::Expectations;

/// Log lines that mean the server refused part of the store.
pub const BAD_LOG_LINES: [&str; 4] = [
    "checksums do not match",
    "Error adding consumer",
    "Error recreating stream",
    "Error unmarshalling",
];

/// A standalone server on a store; dropping it kills the server.
#[derive(Debug)]
pub struct Standalone {
    /// Declared first so it dies before `dir` is removed.
    pub server: Server,
    /// Holds the config and the log (the store stays where it was).
    pub dir: TempDir,
}

impl Standalone {
    /// Starts the server on `store_dir` (the dir holding `jetstream/`) and
    /// waits until JetStream has loaded it.
    pub async fn start(version: &str, store_dir: &Path, sys: SysAccount) -> Standalone {
        Self::start_with(version, store_dir, sys, None).await
    }

    /// `start`, with the cluster's encryption key and cipher.
    pub async fn start_with(
        version: &str,
        store_dir: &Path,
        sys: SysAccount,
        encryption: Option<Encryption>,
    ) -> Standalone {
        let dir = tempfile::Builder::new()
            .prefix("js-recover-standalone-")
            .tempdir()
            .expect("standalone temp dir");
        let server = start_server(version, store_dir, sys, encryption, dir.path()).await;
        // A store the server half-refused may never turn healthy; the
        // assertions that follow say what is wrong better than a timeout.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.healthy().await && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Standalone { server, dir }
    }

    /// A client logged in as `account`'s user.
    pub async fn connect(&self, account: Account) -> async_nats::Client {
        connect(&self.server.url(), account).await
    }

    /// The state of every stream, consumer and KV bucket it serves.
    pub async fn snapshot(&self) -> Expectations {
        snapshot(&self.server.url()).await
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        self.server.log()
    }

    /// Stops the server cleanly and returns its whole log.
    pub async fn stop(mut self) -> String {
        self.server.stop().await;
        self.server.log()
    }
}

/// Starts the process, on fresh ports again if it lost a port race.
async fn start_server(
    version: &str,
    store: &Path,
    sys: SysAccount,
    encryption: Option<Encryption>,
    work_dir: &Path,
) -> Server {
    Server::start_on_free_ports(|port, http_port| ServerSpec {
        version: version.to_string(),
        name: "standalone".into(),
        work_dir: work_dir.to_path_buf(),
        port,
        http_port,
        config: format!(
            "server_name: standalone\nlisten: 127.0.0.1:{port}\nhttp: 127.0.0.1:{http_port}\n\
             {jetstream}{accounts}",
            jetstream = config::jetstream_block(store, encryption),
            accounts = config::accounts_block(sys),
        ),
        env: Vec::new(),
    })
    .await
}

/// Starts a standalone server on `store_dir` and returns it with a client
/// logged in as account `A`.
pub async fn start_standalone(
    version: &str,
    store_dir: &Path,
    sys: SysAccount,
) -> (Standalone, async_nats::Client) {
    let server = Standalone::start(version, store_dir, sys).await;
    let client = server.connect(ACCOUNT_A).await;
    (server, client)
}

/// What a standalone run saw.
#[derive(Debug, Clone)]
pub struct Report {
    /// The server's whole log, from start to clean stop.
    pub log: String,
    pub actual: Expectations,
}

impl Report {
    /// Log lines containing any of `BAD_LOG_LINES`.
    pub fn bad_log_lines(&self) -> Vec<&str> {
        bad_lines(&self.log)
    }
}

/// Log lines containing any of `BAD_LOG_LINES`.
pub fn bad_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| BAD_LOG_LINES.iter().any(|b| l.contains(b)))
        .collect()
}

/// Serves `store_dir` standalone and asserts everything in `expected` came
/// back unchanged; returns the log and what was seen.
pub async fn verify_standalone(
    version: &str,
    store_dir: &Path,
    expected: &Expectations,
    sys: SysAccount,
) -> Report {
    verify_standalone_with(version, store_dir, expected, sys, None).await
}

/// `verify_standalone`, with the cluster's encryption key and cipher.
pub async fn verify_standalone_with(
    version: &str,
    store_dir: &Path,
    expected: &Expectations,
    sys: SysAccount,
    encryption: Option<Encryption>,
) -> Report {
    let server = Standalone::start_with(version, store_dir, sys, encryption).await;
    let actual = server.snapshot().await;
    let log = server.stop().await;
    let report = Report { log, actual };
    let wrong = mismatches(expected, &report.actual);
    assert!(
        wrong.is_empty(),
        "standalone server on `{}` does not serve what the cluster held:\n  {}\nwarnings in its log:\n{}",
        store_dir.display(),
        wrong.join("\n  "),
        warnings(&report.log)
    );
    report
}

/// Warning and error lines of a log, for failure messages.
fn warnings(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[WRN]") || l.contains("[ERR]") || l.contains("[FTL]"))
        .collect();
    lines.join("\n")
}

/// Every way `actual` differs from `expected`, one line each, naming the
/// account, stream and consumer. Extra streams in `actual` are not errors.
pub fn mismatches(expected: &Expectations, actual: &Expectations) -> Vec<String> {
    let mut out = Vec::new();
    for (acct, exp) in &expected.accounts {
        let Some(act) = actual.accounts.get(acct) else {
            out.push(format!("account {acct}: missing"));
            continue;
        };
        for (name, es) in &exp.streams {
            let Some(s) = act.streams.get(name) else {
                out.push(format!("account {acct} stream {name}: missing"));
                continue;
            };
            let at = format!("account {acct} stream {name}");
            cmp(&mut out, &at, "messages", es.messages, s.messages);
            cmp(&mut out, &at, "first_seq", es.first_seq, s.first_seq);
            cmp(&mut out, &at, "last_seq", es.last_seq, s.last_seq);
            cmp(&mut out, &at, "bytes", es.bytes, s.bytes);
            for (cname, ec) in &es.consumers {
                let at = format!("account {acct} stream {name} consumer {cname}");
                let Some(c) = s.consumers.get(cname) else {
                    out.push(format!("{at}: missing"));
                    continue;
                };
                cmp(
                    &mut out,
                    &at,
                    "delivered.stream_seq",
                    ec.delivered_stream_seq,
                    c.delivered_stream_seq,
                );
                cmp(
                    &mut out,
                    &at,
                    "delivered.consumer_seq",
                    ec.delivered_consumer_seq,
                    c.delivered_consumer_seq,
                );
                cmp(
                    &mut out,
                    &at,
                    "ack_floor.stream_seq",
                    ec.ack_floor_stream_seq,
                    c.ack_floor_stream_seq,
                );
                cmp(
                    &mut out,
                    &at,
                    "ack_floor.consumer_seq",
                    ec.ack_floor_consumer_seq,
                    c.ack_floor_consumer_seq,
                );
                cmp(
                    &mut out,
                    &at,
                    "num_ack_pending",
                    ec.num_ack_pending,
                    c.num_ack_pending,
                );
                cmp(&mut out, &at, "num_pending", ec.num_pending, c.num_pending);
            }
        }
        for (bucket, objects) in &exp.objects {
            match act.objects.get(bucket) {
                Some(got) if got == objects => {}
                got => out.push(format!(
                    "account {acct} object store {bucket}: expected {objects:?}, got {got:?}"
                )),
            }
        }
        for (bucket, keys) in &exp.kv {
            match act.kv.get(bucket) {
                Some(got) if got == keys => {}
                got => out.push(format!(
                    "account {acct} kv {bucket}: expected {keys:?}, got {got:?}"
                )),
            }
        }
    }
    out
}

fn cmp(out: &mut Vec<String>, at: &str, what: &str, expected: u64, actual: u64) {
    if expected != actual {
        out.push(format!("{at}: {what} expected {expected}, got {actual}"));
    }
}

/// Panics listing every mismatch, if any.
pub fn assert_matches(expected: &Expectations, actual: &Expectations) {
    let wrong = mismatches(expected, actual);
    assert!(wrong.is_empty(), "state differs:\n  {}", wrong.join("\n  "));
}

/// A server started with the `standalone.conf` js-recover wrote into `backup`, as an
/// operator starts it: only its listen port moves (tests run side by side), and with
/// `store` given its `store_dir` points there instead (a copy, so that the original can
/// still be rolled back). `env` sets what the file references (`$JS_KEY`).
pub async fn serve_written(
    version: &str,
    backup: &Path,
    store: Option<&Path>,
    env: &[(&str, &str)],
) -> Server {
    let written = std::fs::read_to_string(backup.join("standalone.conf"))
        .expect("apply writes standalone.conf into the backup directory");
    let mut config = written.clone();
    if let Some(store) = store {
        let line = written
            .lines()
            .find(|l| l.trim_start().starts_with("store_dir:"))
            .unwrap_or_else(|| panic!("no store_dir in {written}"));
        config = config.replace(line, &format!("  store_dir: {}", config::quote_path(store)));
    }
    assert!(config.contains("listen: 127.0.0.1:4222"), "{written}");
    Server::start_on_free_ports(|port, http_port| ServerSpec {
        version: version.to_string(),
        name: "written".into(),
        work_dir: backup.join("served"),
        port,
        http_port,
        config: config.replace(
            "listen: 127.0.0.1:4222",
            &format!("listen: 127.0.0.1:{port}\nhttp: 127.0.0.1:{http_port}"),
        ),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    })
    .await
}
