//! Server config text shared by the cluster and the standalone server.
//!
//! The standalone server must see exactly the accounts the cluster had, or it
//! would not find (or would not enable JetStream for) the account directories
//! under `jetstream/`, so both render the accounts block from here.

use serde::Serialize;

/// Which system account the servers run with; the `_js_` Raft directory lives
/// under this account's directory in the store (`jetstream/<sys>/_js_`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum SysAccount {
    /// No `system_account` setting: the server makes `$SYS` itself.
    #[default]
    Default,
    /// `system_account: SYS`, an account with a `sys`/`sys` user.
    Custom,
}

impl SysAccount {
    /// Account name, which is also the directory name under `jetstream/`.
    pub fn name(self) -> &'static str {
        match self {
            SysAccount::Default => "$SYS",
            SysAccount::Custom => "SYS",
        }
    }
}

/// A JetStream-enabled user account of the test config.
#[derive(Debug, Clone, Copy)]
pub struct Account {
    pub name: &'static str,
    pub user: &'static str,
    pub password: &'static str,
}

/// Account `A` (user `a`/`a`).
pub const ACCOUNT_A: Account = Account {
    name: "A",
    user: "a",
    password: "a",
};

/// Account `B` (user `b`/`b`).
pub const ACCOUNT_B: Account = Account {
    name: "B",
    user: "b",
    password: "b",
};

/// Every JetStream-enabled account, in a fixed order.
pub const ACCOUNTS: [Account; 2] = [ACCOUNT_A, ACCOUNT_B];

/// Looks an account up by name; panics on a name the config does not have.
pub fn account(name: &str) -> Account {
    ACCOUNTS
        .into_iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("no account `{name}` in the test config"))
}

/// The `accounts { ... }` block plus `system_account` when it is custom.
pub fn accounts_block(sys: SysAccount) -> String {
    let mut out = String::from("accounts {\n");
    for a in ACCOUNTS {
        out += &format!(
            "  {}: {{ jetstream: enabled, users: [ {{ user: {}, password: {} }} ] }}\n",
            a.name, a.user, a.password
        );
    }
    if sys == SysAccount::Custom {
        out += "  SYS: { users: [ { user: sys, password: sys } ] }\n";
    }
    out += "}\n";
    if sys == SysAccount::Custom {
        out += "system_account: SYS\n";
    }
    out
}

/// JetStream encryption at rest: `jetstream { key: ..., cipher: ... }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encryption {
    pub key: &'static str,
    /// `chacha` or `aes`.
    pub cipher: &'static str,
    /// The key before a rotation (`prev_key`).
    pub prev_key: Option<&'static str>,
}

/// The `jetstream { ... }` block for a store dir, encrypted or not.
pub fn jetstream_block(store: &std::path::Path, encryption: Option<Encryption>) -> String {
    let crypt = encryption.map_or(String::new(), |e| {
        let prev = e.prev_key.map_or(String::new(), |p| {
            format!(", prev_key: {}", serde_json::json!(p))
        });
        format!(
            ", key: {}, cipher: {}{prev}",
            serde_json::json!(e.key),
            e.cipher
        )
    });
    format!(
        "jetstream {{ store_dir: {}, max_memory_store: 256MB, max_file_store: 4GB{crypt} }}\n",
        quote_path(store)
    )
}

/// Quotes a path for the config file (the parser takes JSON-style strings).
pub fn quote_path(p: &std::path::Path) -> String {
    serde_json::to_string(&p.display().to_string()).expect("a string always serializes")
}
