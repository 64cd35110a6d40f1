//! What to run once apply is done: a nats-server configuration that serves the prepared
//! store standalone, and the commands that move its streams into a new cluster.
//!
//! # Files
//!
//! Written into the backup directory after `applied` (they are not part of the
//! transaction: rollback neither needs nor removes them):
//!
//! - `standalone.conf`: a nats-server configuration. `listen` on loopback only (clients of
//!   the lost cluster must not find it), `jetstream { store_dir }` the prepared store, no
//!   `cluster`, `gateway` or `leafnodes` block. Every account directory of the store
//!   (`$G`, the global account, aside: it needs no block) gets an account with
//!   `jetstream: enabled` and one user, `js-recover-<account>`, with a random password.
//!   An encrypted store (a `meta.key` beside a stream's `meta.inf`) gets `key: $JS_KEY`:
//!   the survivor's key, from the environment (nats-server parses the variable's value as
//!   a config value: `JS_KEY="'$(cat js.key)'"` keeps a key with spaces or digits a
//!   string). Accounts named by public keys (operator mode) cannot be configured from the
//!   store: the file says so, and the operator, resolver and account JWTs must come from
//!   the survivor's own configuration.
//! - `restore.sh`: per account, `nats account backup` from the standalone server, then per
//!   stream `nats stream restore --replicas N` with the replicas the stream had in the lost
//!   cluster (its `num_replicas` before the plan edited it, or as the cluster's Raft meta
//!   state recorded it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plan::Change;

/// The global account's directory name.
const GLOBAL: &str = "$G";
/// The file names in the backup directory.
pub const CONFIG_FILE: &str = "standalone.conf";
pub const RESTORE_FILE: &str = "restore.sh";
/// The user every configured account gets: this, `-`, the account name (user names are
/// unique across a server).
pub const USER_PREFIX: &str = "js-recover";

/// One account the prepared store holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub name: String,
    /// Named by an account public key: operator (JWT) mode.
    pub operator_mode: bool,
    /// Its user in `standalone.conf` (none for the global account and operator mode).
    pub user: Option<String>,
    /// That user's password (in `standalone.conf`, readable by its owner only).
    #[serde(skip)]
    pub password: Option<String>,
    pub streams: Vec<Stream>,
}

/// One stream the prepared store holds, and how many replicas it gets back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stream {
    pub name: String,
    pub replicas: i64,
}

/// What `standalone.conf` and `restore.sh` are made from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Standalone {
    pub store: PathBuf,
    pub encrypted: bool,
    pub accounts: Vec<Account>,
    /// The config was derived from the node's own (`--node-config`): its users, not ours.
    pub from_node_config: Option<PathBuf>,
}

pub use crate::store::is_account_key;

impl Standalone {
    /// The prepared store at `store` (read by directory names only: encrypted stores too),
    /// with the replicas `m` knows each stream had.
    pub fn of(store: &Path, loaded: &super::check::Loaded) -> std::io::Result<Standalone> {
        let replicas = replicas_before(loaded);
        let js = store.join(crate::store::JETSTREAM_DIR);
        let mut accounts = Vec::new();
        let mut encrypted = false;
        for account in sorted_dirs(&js)? {
            let streams_dir = js.join(&account).join("streams");
            let mut streams = Vec::new();
            for stream in sorted_dirs(&streams_dir).unwrap_or_default() {
                if stream.starts_with('.') {
                    continue;
                }
                encrypted |= streams_dir.join(&stream).join("meta.key").is_file();
                let r = replicas
                    .get(&(account.clone(), stream.clone()))
                    .copied()
                    .unwrap_or(1);
                streams.push(Stream {
                    name: stream,
                    replicas: r.max(1),
                });
            }
            if streams.is_empty() {
                continue;
            }
            accounts.push(Account {
                operator_mode: is_account_key(&account),
                name: account,
                user: None,
                password: None,
                streams,
            });
        }
        for a in &mut accounts {
            if a.name != GLOBAL && !a.operator_mode {
                a.user = Some(format!("{USER_PREFIX}-{}", a.name));
                a.password = Some(password());
            }
        }
        Ok(Standalone {
            store: store.to_path_buf(),
            encrypted,
            accounts,
            from_node_config: None,
        })
    }

    /// The same, for a config derived from the node's own: its accounts and users are the
    /// node's, so no user or password is made.
    pub fn with_node_config(mut self, node_config: &Path) -> Standalone {
        for a in &mut self.accounts {
            a.user = None;
            a.password = None;
        }
        self.from_node_config = Some(node_config.to_path_buf());
        self
    }

    /// `standalone.conf`.
    pub fn config(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "# nats-server configuration for the store js-recover prepared, standalone: no\n\
             # cluster, gateway or leafnode block; clients of the lost cluster must not find it,\n\
             # so it listens on loopback only. Written by js-recover {}.\n\
             # Start it:  nats-server -c {}\n\
             # Use the same nats-server version as the survivor ran, or newer.\n\n",
            env!("CARGO_PKG_VERSION"),
            CONFIG_FILE
        ));
        out.push_str("server_name: js_recover_standalone\n");
        out.push_str("listen: 127.0.0.1:4222\n\n");
        out.push_str("jetstream {\n");
        out.push_str(&format!("  store_dir: {}\n", conf_string(&self.store)));
        if self.encrypted {
            out.push_str(
                "  # Encrypted at rest: the survivor's key, from the environment. nats-server reads\n  \
                 # the variable as a config value, so wrap the key in single quotes:\n  \
                 #   JS_KEY=\"'$(cat js.key)'\" nats-server -c standalone.conf\n  \
                 # (a store the survivor wrote with `cipher: aes` is converted at load unless\n  \
                 # `cipher: aes` is added here)\n  \
                 key: $JS_KEY\n",
            );
        }
        out.push_str("}\n");
        if self.accounts.iter().any(|a| a.name == GLOBAL) && self.accounts.len() > 1 {
            out.push_str(
                "\n# The global account ($G) holds streams too: a server with configured accounts\n\
                 # gives it no JetStream. Serve it on its own (this file without the accounts\n\
                 # block) to back its streams up.\n",
            );
        }
        let operator: Vec<&Account> = self.accounts.iter().filter(|a| a.operator_mode).collect();
        if !operator.is_empty() {
            out.push_str(
                "\n# Operator (JWT) mode: these accounts are named by their public keys. Copy the\n\
                 # `operator`, `system_account` and `resolver` settings (and the account JWTs the\n\
                 # resolver serves) from the survivor's configuration. An account whose JWT sets\n\
                 # only R3 tiered JetStream limits cannot host the R1 streams: add an R1 tier or\n\
                 # global limits to it first.\n",
            );
            for a in &operator {
                out.push_str(&format!("#   {}\n", a.name));
            }
        }
        let configured: Vec<&Account> = self
            .accounts
            .iter()
            .filter(|a| a.password.is_some())
            .collect();
        if !configured.is_empty() {
            out.push_str("\naccounts {\n");
            for a in configured {
                out.push_str(&format!(
                    "  {}: {{\n    jetstream: enabled\n    users: [ {{ user: {}, password: {} }} ]\n  }}\n",
                    conf_key(&a.name),
                    conf_string(Path::new(a.user.as_deref().unwrap_or_default())),
                    conf_string(Path::new(a.password.as_deref().unwrap_or_default()))
                ));
            }
            out.push_str("}\n");
        }
        out
    }

    /// `restore.sh`: the commands that move every stream into the new cluster.
    pub fn restore_script(&self, config: &Path) -> String {
        let mut out = String::from("#!/bin/sh\n");
        out.push_str(&format!(
            "# Moves every stream of the store js-recover prepared into a new cluster.\n\
             # 1. Serve the prepared store (and nothing else touches it meanwhile):\n\
             #      nats-server -c {}\n\
             # 2. Back up each account from that server (below), into ./js-recover-export.\n\
             # 3. Restore each stream into the NEW cluster with the replicas it had: set\n\
             #    NEW_CONTEXT_<account> (or NEW_CLUSTER_CONTEXT for every account) to a\n\
             #    `nats context` for that account in the new cluster.\n\
             # The old cluster's nodes must never rejoin: wipe them or keep them off the network.\n\
             # The new cluster must run the survivor's nats-server version or newer.\n\
             set -eu\n\
             EXPORT=${{EXPORT:-./js-recover-export}}\n\n",
            shell_quote(&config.display().to_string())
        ));
        for a in &self.accounts {
            let dir = format!("\"$EXPORT\"/{}", shell_quote(&a.name));
            out.push_str(&format!("# account {}\n", a.name));
            let var: String = a
                .name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let server = if self.from_node_config.is_some() {
                // The node's own users: a context per account, as for the new cluster.
                format!(
                    " --context \"${{STANDALONE_CONTEXT_{var}:-${{STANDALONE_CONTEXT:?set STANDALONE_CONTEXT_{var} or STANDALONE_CONTEXT to a nats context of the standalone server}}}}\""
                )
            } else {
                " --server nats://127.0.0.1:4222".to_string()
            };
            let auth = match (&a.user, &a.password) {
                _ if self.from_node_config.is_some() => String::new(),
                (Some(u), Some(p)) => {
                    format!(" --user {} --password {}", shell_quote(u), shell_quote(p))
                }
                _ if a.operator_mode => {
                    " --creds ACCOUNT.creds  # a user of this account (operator mode)".to_string()
                }
                _ => String::new(),
            };
            out.push_str(&format!(
                "nats{server}{auth} account backup {dir} --force\n"
            ));
            out.push_str(&format!(
                "NEW=${{NEW_CONTEXT_{var}:-${{NEW_CLUSTER_CONTEXT:?set NEW_CONTEXT_{var} or NEW_CLUSTER_CONTEXT to a nats context of the new cluster}}}}\n"
            ));
            for s in &a.streams {
                out.push_str(&format!(
                    "nats --context \"$NEW\" stream restore {dir}/{} --replicas {}\n",
                    shell_quote(&s.name),
                    s.replicas
                ));
            }
            out.push('\n');
        }
        out
    }
}

/// Writes `standalone.conf` (`config`, or the one made from the store) and `restore.sh`
/// into `backup`; returns their paths.
pub fn write(
    backup: &Path,
    s: &Standalone,
    config_text: Option<&str>,
) -> std::io::Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let config = backup.join(CONFIG_FILE);
    let script = backup.join(RESTORE_FILE);
    // Passwords: readable by this user only, like the rest of the backup.
    match config_text {
        Some(text) => std::fs::write(&config, text)?,
        None => std::fs::write(&config, s.config())?,
    }
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(&script, s.restore_script(&config))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700))?;
    Ok((config, script))
}

/// Why the node's config could not be turned into a standalone one.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("the node's config could not be read")]
    Read(#[source] crate::store::conf::ConfError),
    #[error(
        "`{key}` comes from `{}`, a file the node's config includes: remove it there (or \
         write the standalone config by hand); only the main file is rewritten",
        file.display()
    )]
    InInclude { key: String, file: PathBuf },
}

/// Blocks a standalone server must not have.
const CLUSTER_KEYS: [&str; 4] = ["cluster", "gateway", "leafnodes", "routes"];

/// `standalone.conf` from the node's own config at `node_config`: the same accounts,
/// users, operator, resolver and JetStream key, with its `cluster`, `gateway`, `leafnodes`
/// and `routes` removed and `store_dir` pointed at the prepared `store`; each `include`
/// rewritten relative to `dest` (the directory the new file goes to: nats-server takes
/// every include path as relative to the including file) so it keeps working. Only the
/// main file is rewritten (comments and layout kept); what it includes is referred to,
/// never changed.
pub fn derive_from_node(
    node_config: &Path,
    store: &Path,
    dest: &Path,
) -> Result<String, DeriveError> {
    use crate::store::conf::{self, Entry, Map, Value};
    let abs = std::path::absolute(node_config).unwrap_or_else(|_| node_config.to_path_buf());
    let parsed = conf::parse_file(&abs, &|k| std::env::var(k).ok()).map_err(DeriveError::Read)?;
    let text = &parsed.sources[0];
    let dir = abs.parent().unwrap_or(Path::new("/"));
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let in_main = |e: &Entry| e.span.file == 0 && e.included_by.is_none();
    let outside = |e: &Entry| DeriveError::InInclude {
        key: e.key.clone(),
        file: parsed.files[e.key_span.file].clone(),
    };
    let store_value = conf_string(store);
    for e in &parsed.root.entries {
        if CLUSTER_KEYS.iter().any(|k| e.key.eq_ignore_ascii_case(k)) {
            if !in_main(e) {
                return Err(outside(e));
            }
            edits.push((
                e.span.start..e.span.end,
                format!("# `{}` removed by js-recover: a standalone server", e.key),
            ));
        }
    }
    let store_dir_keys = ["store_dir", "storedir", "store"];
    let is_key = |e: &Entry, keys: &[&str]| keys.iter().any(|k| e.key.eq_ignore_ascii_case(k));
    // Every jetstream block and top-level store_dir gets the prepared store.
    let mut jetstream = false;
    for e in parsed
        .root
        .entries
        .iter()
        .filter(|e| is_key(e, &["jetstream"]))
    {
        if !in_main(e) {
            return Err(outside(e));
        }
        jetstream = true;
        match &e.node.value {
            Value::Map(Map { entries }) => {
                let dirs: Vec<&Entry> = entries
                    .iter()
                    .filter(|x| is_key(x, &store_dir_keys))
                    .collect();
                if dirs.is_empty() {
                    let open = e.node.span.start + 1;
                    edits.push((open..open, format!("\n  store_dir: {store_value}\n")));
                }
                for d in dirs {
                    if !in_main(d) {
                        return Err(outside(d));
                    }
                    edits.push((d.node.span.start..d.node.span.end, store_value.clone()));
                }
            }
            // `jetstream: enabled` (or disabled): a block with the store.
            _ => edits.push((
                e.node.span.start..e.node.span.end,
                format!("{{ store_dir: {store_value} }}"),
            )),
        }
    }
    for e in parsed
        .root
        .entries
        .iter()
        .filter(|e| is_key(e, &store_dir_keys))
    {
        if !in_main(e) {
            return Err(outside(e));
        }
        edits.push((e.node.span.start..e.node.span.end, store_value.clone()));
    }
    // Includes of the main file, at any depth of it, as absolute paths.
    fn includes(map: &Map, out: &mut Vec<std::ops::Range<usize>>) {
        for e in &map.entries {
            match e.included_by {
                Some(s) if s.file == 0 => out.push(s.start..s.end),
                _ => {}
            }
            if e.span.file == 0 && e.included_by.is_none() {
                if let Value::Map(m) = &e.node.value {
                    includes(m, out);
                }
            }
        }
    }
    let mut stmts = Vec::new();
    includes(&parsed.root, &mut stmts);
    stmts.sort_by_key(|r| r.start);
    stmts.dedup();
    for stmt in stmts {
        if edits
            .iter()
            .any(|(r, _)| r.start <= stmt.start && stmt.end <= r.end)
        {
            continue; // inside a removed block
        }
        let written = text[stmt.clone()].trim_start();
        let path = written
            .get("include".len()..)
            .unwrap_or_default()
            .trim()
            .trim_matches(|c| c == '"' || c == '\'');
        let target = dir.join(path);
        let dest = std::path::absolute(dest).unwrap_or_else(|_| dest.to_path_buf());
        edits.push((
            stmt,
            format!("include {}", conf_string(&relative(&target, &dest))),
        ));
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text.clone();
    for (range, with) in edits {
        out.replace_range(range, &with);
    }
    if !jetstream {
        out.push_str(&format!("\njetstream {{ store_dir: {store_value} }}\n"));
    }
    Ok(format!(
        "# Derived by js-recover {} from `{}`: the node's config without its cluster,\n\
         # gateway, leafnode and route settings, store_dir pointed at the prepared store.\n\
         # Clients of the lost cluster must not reach it: check its `listen`/`port`.\n\n{out}",
        env!("CARGO_PKG_VERSION"),
        abs.display()
    ))
}

/// `target` as a path relative to directory `base` (both absolute): `../etc/a.conf`.
fn relative(target: &Path, base: &Path) -> PathBuf {
    let t: Vec<_> = target.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

/// `num_replicas` every stream had before the plan, by (account, stream directory): from
/// the cluster's inventory, then from the `before` JSON of each stream meta.inf edit.
fn replicas_before(loaded: &super::check::Loaded) -> BTreeMap<(String, String), i64> {
    let m = &loaded.manifest;
    let mut out = BTreeMap::new();
    let mut edits = loaded.edits();
    for (index, c) in m.changes.iter().enumerate() {
        let Change::Edit(e) = c else { continue };
        let parts: Vec<&str> = e.path.split('/').collect();
        let ["jetstream", account, "streams", stream, "meta.inf"] = parts[..] else {
            continue;
        };
        // Unreadable now: the inventory, or restore.sh's default, stands in.
        let Ok(e) = edits.get(index) else { continue };
        let replicas = e
            .before
            .as_deref()
            .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
            .and_then(|v| {
                v.as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("num_replicas"))
                    .and_then(|(_, v)| v.as_i64())
            });
        if let Some(r) = replicas {
            out.insert((account.to_string(), stream.to_string()), r);
        }
    }
    if let Some(inventory) = &m.inventory {
        for s in &inventory.streams {
            if let Some(r) = s.replicas {
                out.insert((s.account.clone(), s.name.clone()), r);
            }
        }
    }
    out
}

fn sorted_dirs(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut out: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    Ok(out)
}

/// A random password: 24 characters from the OS's random source.
fn password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 24];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if filled.is_err() {
        // No /dev/urandom: the clock and the process id, hashed. Not a secret worth much,
        // but the server listens on loopback only.
        use sha2::Digest;
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        bytes.copy_from_slice(&sha2::Sha256::digest(seed)[..24]);
    }
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A nats-server config string: double-quoted, `"` and `\` escaped.
fn conf_string(p: &Path) -> String {
    let s = p.display().to_string();
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An account name as a config key: quoted unless plain.
fn conf_key(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        name.to_string()
    } else {
        conf_string(Path::new(name))
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_config_loses_its_cluster_and_points_at_the_store() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("accounts.conf"),
            "accounts { A { jetstream: enabled } }\n",
        )
        .unwrap();
        let node = dir.path().join("node.conf");
        std::fs::write(
            &node,
            "server_name: n1 # the first\nport: 4222\ninclude accounts.conf\n\
             jetstream {\n  store_dir: /var/lib/nats\n  max_file: 1G\n}\n\
             cluster {\n  name: C1\n  routes: [nats://n2:6222]\n}\ngateway { name: C1 }\n",
        )
        .unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let out = derive_from_node(&node, Path::new("/srv/prepared"), elsewhere.path()).unwrap();
        assert!(!out.contains("routes: ["), "{out}");
        assert!(!out.contains("gateway {"), "{out}");
        assert!(out.contains("store_dir: \"/srv/prepared\""), "{out}");
        assert!(out.contains("max_file: 1G"), "{out}");
        assert!(out.contains("server_name: n1 # the first"), "{out}");
        assert!(out.contains("accounts.conf\""), "{out}");
        // It parses where it is written, with the include.
        let written = elsewhere.path().join("standalone.conf");
        std::fs::write(&written, &out).unwrap();
        let parsed = crate::store::conf::parse_file(&written, &|_| None).unwrap();
        assert!(parsed.root.get("cluster").is_none());
        assert!(parsed.root.get("accounts").is_some());

        // `jetstream: enabled` becomes a block; a cluster block in an include is refused.
        std::fs::write(&node, "jetstream: enabled\ninclude cl.conf\n").unwrap();
        std::fs::write(dir.path().join("cl.conf"), "cluster { name: C1 }\n").unwrap();
        let err = derive_from_node(&node, Path::new("/srv/p"), dir.path()).unwrap_err();
        assert!(matches!(err, DeriveError::InInclude { .. }), "{err}");
        std::fs::write(&node, "jetstream: enabled\n").unwrap();
        let out = derive_from_node(&node, Path::new("/srv/p"), dir.path()).unwrap();
        assert!(
            out.contains("jetstream: { store_dir: \"/srv/p\" }"),
            "{out}"
        );
    }

    #[test]
    fn relative_paths_climb_out_of_the_base() {
        assert_eq!(
            relative(Path::new("/etc/nats/a.conf"), Path::new("/srv/backup")),
            PathBuf::from("../../etc/nats/a.conf")
        );
        assert_eq!(
            relative(Path::new("/srv/backup/x.conf"), Path::new("/srv/backup")),
            PathBuf::from("x.conf")
        );
    }

    #[test]
    fn account_keys_are_told_from_names() {
        assert!(is_account_key(
            "ADNP6ZYWDMJMW2ZMQKJTQGF5LBK5JCCCOFTXLLKW2YJRCYJHB3K7XBMN"
        ));
        assert!(!is_account_key("A"));
        assert!(!is_account_key("$G"));
    }

    #[test]
    fn config_quotes_and_only_configures_named_accounts() {
        let s = Standalone {
            store: PathBuf::from("/srv/a \"b\""),
            encrypted: true,
            from_node_config: None,
            accounts: vec![Account {
                name: "A".into(),
                operator_mode: false,
                user: Some("js-recover-A".into()),
                password: Some("pw".into()),
                streams: vec![Stream {
                    name: "ORDERS".into(),
                    replicas: 3,
                }],
            }],
        };
        let conf = s.config();
        assert!(conf.contains(r#"store_dir: "/srv/a \"b\"""#), "{conf}");
        assert!(conf.contains("key: $JS_KEY"));
        assert!(conf.contains("A: {\n    jetstream: enabled"));
        let script = s.restore_script(Path::new("/b/standalone.conf"));
        assert!(
            script.contains("account backup \"$EXPORT\"/A --force"),
            "{script}"
        );
        assert!(script.contains("stream restore \"$EXPORT\"/A/ORDERS --replicas 3"));
    }
}
