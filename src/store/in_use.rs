//! Is a process using this store? js-recover refuses to edit a store a nats-server serves.
//!
//! nats-server takes no lock on its store, and once idle it keeps none of its files open, so
//! open file descriptors alone miss a server that is serving the store right now. A process
//! is using the store when either
//! - it has a file under the store open (`/proc/<pid>/fd`), or
//! - it is a nats-server whose store is this one: its `-sd`/`--store_dir` flag, else the
//!   `store_dir` of its config file (`-c`/`--config`: `jetstream { store_dir }` or a
//!   top-level `store_dir`, through `include`s, variables and its environment), else, with
//!   JetStream enabled, the server's default (`<TMPDIR>/nats`, or `<TMPDIR>` when the config
//!   sets both `max_memory_store` and `max_file_store`: `EnableJetStream` and
//!   `dynJetStreamConfig` in server/jetstream.go). Paths are resolved as the server sees them
//!   (its working directory and root) and compared by device and inode, so a link or a bind
//!   mount cannot hide the match.
//!
//! A process whose working directory is in the store (the operator's own shell after
//! `cd STORE`) is not using it. A nats-server whose store cannot be told (its config is
//! unreadable) is reported as undetermined, for a warning.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::conf;

/// A process that uses the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its name (`/proc/<pid>/comm`).
    pub command: String,
    pub how: Hold,
}

/// How a process uses the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// It has this file (or directory) under the store open.
    OpenFile(PathBuf),
    /// A nats-server whose store_dir is this store.
    StoreDir { store_dir: PathBuf, from: Source },
}

/// Where a nats-server's store_dir came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `-sd` / `--store_dir` on its command line.
    CommandLine,
    /// Its config file (the main one, or a file it includes).
    Config(PathBuf),
    /// JetStream enabled with no store_dir: the server's temporary default.
    Default,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {}", self.command, self.pid)?;
        match &self.how {
            Hold::OpenFile(p) => write!(f, ", which has `{}` open)", p.display()),
            Hold::StoreDir { store_dir, from } => {
                write!(f, ", serving store_dir `{}`", store_dir.display())?;
                match from {
                    Source::CommandLine => write!(f, " from its command line)"),
                    Source::Config(c) => write!(f, " from its config `{}`)", c.display()),
                    Source::Default => write!(f, ", its default with no store_dir set)"),
                }
            }
        }
    }
}

/// A nats-server whose store js-recover could not work out.
#[derive(Debug)]
pub struct Undetermined {
    pub pid: u32,
    pub command: String,
    pub why: conf::ConfError,
}

impl std::fmt::Display for Undetermined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {}) is running and js-recover cannot tell which store it serves ({}); \
             make sure it does not serve this one",
            self.command,
            self.pid,
            crate::error::chain(&self.why)
        )
    }
}

/// What a look at the running processes found.
#[derive(Debug, Default)]
pub struct Scan {
    pub holders: Vec<Holder>,
    pub undetermined: Vec<Undetermined>,
}

/// Refused: the store is in use.
#[derive(Debug, thiserror::Error)]
#[error("the store `{}` is in use by {}", .path.display(), describe(.holders))]
pub struct InUse {
    pub path: PathBuf,
    pub holders: Vec<Holder>,
}

impl InUse {
    pub fn hint(&self) -> &'static str {
        "stop it first (a nats-server must be stopped before its store is edited), or better, \
         work on a copy of the store_dir (`cp -a STORE STORE.copy`)"
    }
}

/// The one check `plan`, `prepare`, `apply` and `rollback` make before touching a store:
/// refuses a store in use; returns the nats-servers it could not judge, for a warning.
pub fn refuse_if_in_use(root: &Path) -> Result<Vec<Undetermined>, InUse> {
    let scan = scan(root);
    if scan.holders.is_empty() {
        Ok(scan.undetermined)
    } else {
        Err(InUse {
            path: root.to_path_buf(),
            holders: scan.holders,
        })
    }
}

/// `nats-server (pid 42, ...), less (pid 43, ...)`, for messages.
pub fn describe(holders: &[Holder]) -> String {
    holders
        .iter()
        .map(Holder::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every process other than this one that uses the store at `root` (absolute,
/// canonical). Processes we may not inspect are skipped; without `/proc` this finds none.
pub fn scan(root: &Path) -> Scan {
    let mut scan = Scan::default();
    let Ok(target) = std::fs::metadata(root).map(|m| (m.dev(), m.ino())) else {
        return scan;
    };
    let me = std::process::id();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return scan;
    };
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
        let proc = Proc {
            dir: entry.path(),
            pid,
        };
        let command = proc.command();
        if let Some(open) = proc.open_file_under(root) {
            scan.holders.push(Holder {
                pid,
                command,
                how: Hold::OpenFile(open),
            });
            continue;
        }
        let Some(args) = proc.nats_server_args() else {
            continue;
        };
        match server_store(&proc, &args) {
            Ok(Some((store_dir, from))) if proc.same_dir(&store_dir, target) => {
                scan.holders.push(Holder {
                    pid,
                    command,
                    how: Hold::StoreDir { store_dir, from },
                })
            }
            Ok(_) => {}
            Err(why) => scan.undetermined.push(Undetermined { pid, command, why }),
        }
    }
    scan
}

/// One process, seen through `/proc/<pid>`.
struct Proc {
    dir: PathBuf,
    pid: u32,
}

impl Proc {
    fn command(&self) -> String {
        std::fs::read_to_string(self.dir.join("comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| format!("process {}", self.pid))
    }

    /// A file or directory under `root` this process has open.
    fn open_file_under(&self, root: &Path) -> Option<PathBuf> {
        let fds = std::fs::read_dir(self.dir.join("fd")).ok()?;
        fds.flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .find(|target| target.starts_with(root))
    }

    /// Its arguments after the program name, if it is a nats-server.
    fn nats_server_args(&self) -> Option<Vec<String>> {
        let raw = std::fs::read(self.dir.join("cmdline")).ok()?;
        let mut args = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned());
        let program = args.next()?;
        let named = |s: &str| {
            Path::new(s)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("nats-server"))
        };
        let exe = std::fs::read_link(self.dir.join("exe")).ok();
        let is_server = named(&program)
            || exe.as_deref().is_some_and(|e| named(&e.to_string_lossy()))
            || self.command() == "nats-server";
        is_server.then(|| args.filter(|a| !a.is_empty()).collect())
    }

    /// Its working directory, as it sees it.
    fn cwd(&self) -> PathBuf {
        std::fs::read_link(self.dir.join("cwd")).unwrap_or_else(|_| PathBuf::from("/"))
    }

    /// `path` as this process resolves it: relative to its working directory, under its
    /// root (`/proc/<pid>/root`, when we may look there: containers have their own).
    fn resolve(&self, path: &Path) -> PathBuf {
        let abs = self.cwd().join(path);
        let root = self.dir.join("root");
        match abs.strip_prefix("/") {
            Ok(rel) if std::fs::metadata(&root).is_ok() => root.join(rel),
            _ => abs,
        }
    }

    fn same_dir(&self, store_dir: &Path, target: (u64, u64)) -> bool {
        std::fs::metadata(self.resolve(store_dir)).is_ok_and(|m| (m.dev(), m.ino()) == target)
    }

    fn env(&self) -> Vec<(String, String)> {
        std::fs::read(self.dir.join("environ"))
            .map(|raw| {
                raw.split(|b| *b == 0)
                    .filter_map(|kv| {
                        let kv = String::from_utf8_lossy(kv);
                        let (k, v) = kv.split_once('=')?;
                        Some((k.to_string(), v.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What a nats-server's command line says (`ConfigureOptions` in server/opts.go).
#[derive(Debug, Default, PartialEq, Eq)]
struct Flags {
    config: Option<String>,
    store_dir: Option<String>,
    jetstream: bool,
}

/// nats-server's boolean flags: they take no separate value (`fs.BoolVar` in
/// `ConfigureOptions`). Every other flag does, unless given as `-flag=value`.
const BOOL_FLAGS: &[&str] = &[
    "h",
    "help",
    "D",
    "debug",
    "V",
    "VV",
    "trace",
    "DV",
    "DVV",
    "T",
    "logtime",
    "logtime_utc",
    "t",
    "s",
    "syslog",
    "version",
    "v",
    "no_advertise",
    "help_tls",
    "tls",
    "tlsverify",
    "js",
    "jetstream",
];

/// Parses flags as Go's `flag` package does: `-f`, `--f`, `-f=v`, `-f v`; parsing stops at
/// the first argument that is not a flag, or after `--`.
fn parse_flags(args: &[String]) -> Flags {
    let mut flags = Flags::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            break;
        }
        let body = arg.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if BOOL_FLAGS.contains(&name) {
            if matches!(name, "js" | "jetstream") {
                flags.jetstream = inline.as_deref().is_none_or(go_bool_true);
            }
            continue;
        }
        let Some(value) = inline.or_else(|| it.next().cloned()) else {
            break;
        };
        match name {
            "c" | "config" => flags.config = Some(value),
            "sd" | "store_dir" => flags.store_dir = Some(value),
            _ => {}
        }
    }
    flags
}

/// `strconv.ParseBool` truths.
fn go_bool_true(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// The store_dir (the parent of `jetstream/`) a nats-server with these arguments serves,
/// `None` when JetStream is off.
fn server_store(
    proc: &Proc,
    args: &[String],
) -> Result<Option<(PathBuf, Source)>, conf::ConfError> {
    let flags = parse_flags(args);
    // The command line wins over the config (`MergeOptions`): no need to read it.
    if let Some(sd) = flags.store_dir {
        return Ok(Some((PathBuf::from(sd), Source::CommandLine)));
    }
    let env = proc.env();
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut js = flags.jetstream;
    let mut from_config = None;
    let mut both_limits = false;
    if let Some(config) = &flags.config {
        let path = proc.resolve(Path::new(config));
        let parsed = conf::parse_file(&path, &lookup)?;
        let settings = jetstream_settings(&parsed);
        js |= settings.enabled;
        both_limits = settings.both_limits;
        from_config = settings
            .store_dir
            .map(|(dir, file)| (dir, Source::Config(unresolve(proc, &parsed.files[file]))));
    }
    if from_config.is_some() {
        return Ok(from_config.map(|(dir, source)| (PathBuf::from(dir), source)));
    }
    if !js {
        return Ok(None);
    }
    let tmp = lookup("TMPDIR")
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "/tmp".into());
    let dir = if both_limits {
        PathBuf::from(tmp)
    } else {
        Path::new(&tmp).join("nats")
    };
    Ok(Some((dir, Source::Default)))
}

/// A path under `/proc/<pid>/root` shown as the process sees it.
fn unresolve(proc: &Proc, path: &Path) -> PathBuf {
    path.strip_prefix(proc.dir.join("root"))
        .map(|rel| Path::new("/").join(rel))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The JetStream settings of a parsed config (`parseJetStream` and the top-level
/// `store_dir` in server/opts.go).
#[derive(Debug, Default)]
struct JsSettings {
    enabled: bool,
    /// The store_dir and the index of the file that set it.
    store_dir: Option<(String, usize)>,
    both_limits: bool,
}

fn jetstream_settings(c: &conf::Conf) -> JsSettings {
    let mut s = JsSettings::default();
    let dir_of = |n: &conf::Node| n.value.as_str().map(|d| (d.to_string(), n.span.file));
    if let Some(n) = c.root.get_any(&["store_dir", "storedir"]) {
        s.store_dir = dir_of(n);
    }
    match c.root.get("jetstream").map(|n| &n.value) {
        Some(conf::Value::Bool(b)) => s.enabled = *b,
        Some(conf::Value::String(v)) => {
            s.enabled = matches!(v.to_ascii_lowercase().as_str(), "enabled" | "enable")
        }
        Some(conf::Value::Map(m)) => {
            s.enabled = m
                .get_any(&["enabled", "enable"])
                .and_then(|n| n.value.as_bool())
                .unwrap_or(true);
            if let Some(n) = m.get_any(&["store", "store_dir", "storedir"]) {
                s.store_dir = dir_of(n);
            }
            let positive = |keys: &[&str]| {
                m.get_any(keys)
                    .is_some_and(|n| matches!(n.value, conf::Value::Integer(i) if i > 0))
            };
            s.both_limits = positive(&["max_memory_store", "max_mem_store", "max_mem"])
                && positive(&["max_file_store", "max_file"]);
        }
        _ => {}
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_are_read_as_go_reads_them() {
        let f = parse_flags(&args("-p 4222 -DV --config=/etc/n.conf -js -sd /srv/x"));
        assert_eq!(
            f,
            Flags {
                config: Some("/etc/n.conf".into()),
                store_dir: Some("/srv/x".into()),
                jetstream: true
            }
        );
        let f = parse_flags(&args("--store_dir=/a -c b.conf --js=false"));
        assert_eq!(f.store_dir.as_deref(), Some("/a"));
        assert_eq!(f.config.as_deref(), Some("b.conf"));
        assert!(!f.jetstream);
        // Parsing stops at the first non-flag argument.
        let f = parse_flags(&args("-js extra -sd /x"));
        assert!(f.jetstream);
        assert_eq!(f.store_dir, None);
    }

    fn settings(text: &str) -> JsSettings {
        let env = |k: &str| (k == "STORE").then(|| "/from/env".to_string());
        let c = conf::parse_str(text, Path::new("n.conf"), Path::new("/etc"), &env).unwrap();
        jetstream_settings(&c)
    }

    #[test]
    fn config_settings_are_read_as_the_server_reads_them() {
        let s = settings("jetstream { store_dir: \"/srv/js\", max_mem: 1G, max_file: 10G }");
        assert!(s.enabled && s.both_limits);
        assert_eq!(s.store_dir.unwrap().0, "/srv/js");
        let s = settings("JetStream: enabled\nStore_Dir: /data\n");
        assert!(s.enabled && !s.both_limits);
        assert_eq!(s.store_dir.unwrap().0, "/data");
        let s = settings("jetstream { enabled: false, store: $STORE }");
        assert!(!s.enabled);
        assert_eq!(s.store_dir.unwrap().0, "/from/env");
        let s = settings("port: 4222\n");
        assert!(!s.enabled && s.store_dir.is_none());
        let s = settings("jetstream: true\n");
        assert!(s.enabled && s.store_dir.is_none());
    }

    #[test]
    fn a_process_with_its_cwd_in_the_store_is_not_a_holder() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&root)
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let found = scan(&root);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.holders.iter().all(|h| h.pid != child.id()));
    }

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
        let found = scan(&root).holders;
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            found
                .iter()
                .any(|h| h.pid == child.id() && h.how == Hold::OpenFile(root.join("f"))),
            "{found:?}"
        );
        assert!(scan(&root).holders.iter().all(|h| h.pid != child.id()));
    }
}
