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
//!   the survivor's key, from the environment. Accounts named by public keys (operator
//!   mode) cannot be configured from the store: the file says so, and the operator,
//!   resolver and account JWTs must come from the survivor's own configuration.
//! - `restore.sh`: per account, `nats account backup` from the standalone server, then per
//!   stream `nats stream restore --replicas N` with the replicas the stream had in the lost
//!   cluster (its `num_replicas` before the plan edited it, or as the cluster's Raft meta
//!   state recorded it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plan::{Change, Manifest};

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
}

pub use crate::store::is_account_key;

impl Standalone {
    /// The prepared store at `store` (read by directory names only: encrypted stores too),
    /// with the replicas `m` knows each stream had.
    pub fn of(store: &Path, m: &Manifest) -> std::io::Result<Standalone> {
        let replicas = replicas_before(m);
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
        })
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
                "  # Encrypted at rest: the survivor's key (and its `cipher`, if not the default)\n  \
                 # from the environment: JS_KEY=... nats-server -c standalone.conf\n  \
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
            let auth = match (&a.user, &a.password) {
                (Some(u), Some(p)) => {
                    format!(" --user {} --password {}", shell_quote(u), shell_quote(p))
                }
                _ if a.operator_mode => {
                    " --creds ACCOUNT.creds  # a user of this account (operator mode)".to_string()
                }
                _ => String::new(),
            };
            out.push_str(&format!(
                "nats --server nats://127.0.0.1:4222{auth} account backup {dir} --force\n"
            ));
            let var: String = a
                .name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
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

/// Writes `standalone.conf` and `restore.sh` into `backup`; returns their paths.
pub fn write(backup: &Path, s: &Standalone) -> std::io::Result<(PathBuf, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let config = backup.join(CONFIG_FILE);
    let script = backup.join(RESTORE_FILE);
    // Passwords: readable by this user only, like the rest of the backup.
    std::fs::write(&config, s.config())?;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600))?;
    std::fs::write(&script, s.restore_script(&config))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700))?;
    Ok((config, script))
}

/// `num_replicas` every stream had before the plan, by (account, stream directory): from
/// the cluster's inventory, then from the `before` JSON of each stream meta.inf edit.
fn replicas_before(m: &Manifest) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for c in &m.changes {
        let Change::Edit(e) = c else { continue };
        let parts: Vec<&str> = e.path.split('/').collect();
        let ["jetstream", account, "streams", stream, "meta.inf"] = parts[..] else {
            continue;
        };
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
