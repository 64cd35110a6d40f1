//! `js-recover apply`: carry out a plan under a journal, into a backup directory.

use std::path::{Path, PathBuf};

use clap::Args;

use super::output::{self, human_bytes, quote};
use crate::apply::{self, check, ApplyOptions, Outcome};
use crate::plan::Manifest;
use crate::Error;

/// Carry out a plan on its store, keeping everything needed to undo it
///
/// First checks, and changes nothing if anything is off: the store must be exactly as the
/// plan saw it (exit 3 names what changed), not used by a running process or another
/// js-recover (exit 4), with room for the backup.
///
/// Then it saves the original of every file it edits, and moves every directory it removes,
/// into the backup directory (by rename: instant whatever the size; copied and verified only
/// when the backup is on another filesystem), journaling each step, and makes the edits.
/// Killed at any instant, `js-recover rollback BACKUP_DIR` puts the store back exactly; an
/// error part-way rolls back by itself.
///
/// The backup directory defaults to a new one beside the store, named with the UTC time.
///
/// Examples:
///   js-recover apply plan.json
///   js-recover apply plan.json --backup-dir /srv/survivor.backup
///   js-recover status /srv/survivor.js-recover-20261121T120000Z
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ApplyArgs {
    /// The manifest `js-recover plan --out` wrote
    pub plan: PathBuf,
    /// Where to keep the originals and the journal: a new or empty directory outside the
    /// store, on the same filesystem for instant moves
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub json: bool,
    /// The survivor's own nats-server config: standalone.conf is derived from it (its
    /// accounts, users, operator, resolver and key; no cluster, gateway, leafnodes or
    /// routes; store_dir the prepared store) instead of made from the store
    #[arg(long, value_name = "FILE")]
    pub node_config: Option<PathBuf>,
}

pub fn run(args: ApplyArgs) -> Result<(), Error> {
    let loaded = check::read_plan(&args.plan)?;
    tracing::info!(
        changes = loaded.manifest.changes.len(),
        "plan loaded and checked"
    );
    if loaded.manifest.changes.is_empty() {
        crate::term::eprintln(&format!(
            "apply: the plan has no changes: `{}` is already loadable by a standalone server; nothing to do",
            loaded.manifest.store
        ));
        return Ok(());
    }
    let derived = derive(args.node_config.as_deref(), &loaded.manifest)?;
    let outcome = apply::apply(
        &loaded,
        &ApplyOptions {
            backup_dir: args.backup_dir,
        },
    )?;
    report(&outcome, &loaded, args.json, derived)
}

/// The node's config (`--node-config`), checked before anything changes: one that cannot
/// be turned into a standalone config stops the command while the store is untouched.
pub(crate) fn derive(
    node_config: Option<&Path>,
    manifest: &Manifest,
) -> Result<Option<PathBuf>, Error> {
    let Some(path) = node_config else {
        return Ok(None);
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    apply::standalone::derive_from_node(path, Path::new(&manifest.store), dir)
        .map(|_| Some(path.to_path_buf()))
        .map_err(|source| Error::NodeConfig {
            path: path.to_path_buf(),
            source,
        })
}

/// What was written beside the backup for serving the store and moving its data.
#[derive(Debug, serde::Serialize)]
struct Next {
    config: PathBuf,
    restore_script: PathBuf,
    #[serde(flatten)]
    standalone: apply::standalone::Standalone,
}

/// Writes `standalone.conf` and `restore.sh` into the backup directory (once: a plan
/// applied already keeps its files and passwords) and says where. Not writing them is a
/// warning: the store is prepared whatever happens here.
fn write_next(o: &Outcome, loaded: &check::Loaded, node_config: Option<PathBuf>) -> Option<Next> {
    use apply::standalone::{self, Standalone};
    let made = Standalone::of(&o.store, loaded).and_then(|s| {
        let (s, text) = match &node_config {
            Some(node) => {
                let text = standalone::derive_from_node(node, &o.store, &o.backup_dir)
                    .map_err(std::io::Error::other)?;
                (s.with_node_config(node), Some(text))
            }
            None => (s, None),
        };
        let text = text.as_deref();
        let config = o.backup_dir.join(standalone::CONFIG_FILE);
        let script = o.backup_dir.join(standalone::RESTORE_FILE);
        if !(config.exists() && script.exists()) {
            standalone::write(&o.backup_dir, &s, text)?;
        }
        Ok(Next {
            config,
            restore_script: script,
            standalone: s,
        })
    });
    match made {
        Ok(next) => Some(next),
        Err(e) => {
            crate::term::eprintln(&format!(
                "warning: could not write standalone.conf and restore.sh into `{}`: {e}; the store \
                 is prepared all the same",
                o.backup_dir.display()
            ));
            None
        }
    }
}

/// Prints what apply did: JSON, or a few lines saying what to do next.
pub(crate) fn report(
    o: &Outcome,
    loaded: &check::Loaded,
    json: bool,
    node_config: Option<PathBuf>,
) -> Result<(), Error> {
    let next = write_next(o, loaded, node_config);
    if json {
        let value = serde_json::json!({
            "schema": "js-recover/apply",
            "schema_version": 1,
            "result": o,
            "next": next,
        });
        return output::report(&(serde_json::to_string_pretty(&value).expect("serializes") + "\n"));
    }
    output::report(&text(o, next.as_ref()))
}

fn text(o: &Outcome, next: Option<&Next>) -> String {
    let store = o.store.display();
    let backup = o.backup_dir.display();
    let mut t = if o.already_applied {
        format!("already applied: `{backup}` holds this plan, applied to `{store}`; nothing done\n")
    } else {
        format!(
            "applied to `{store}`: {} files edited, {} director{} moved into the backup ({}, by {})\n",
            o.files_edited,
            o.dirs_removed,
            if o.dirs_removed == 1 { "y" } else { "ies" },
            human_bytes(o.bytes_moved),
            match o.removal {
                apply::journal::How::Rename => "rename",
                apply::journal::How::Copy => "copy",
            }
        )
    };
    t.push_str(&format!("backup: {backup}\n\n"));
    t.push_str(&next_steps(&o.store, &o.backup_dir, next));
    t
}

fn next_steps(store: &Path, backup: &Path, next: Option<&Next>) -> String {
    let Some(next) = next else {
        return format!(
            "next:\n  \
             1. start a standalone nats-server on it: the node's config without its `cluster` block,\n     \
             with `jetstream {{ store_dir: {store} }}`\n  \
             2. check it: `nats stream ls -a`, `nats consumer ls STREAM`\n  \
             3. move the data: `nats account backup`, then `nats stream restore --replicas N` into the new cluster\n\
             undo:\n  \
             js-recover rollback {backup}   (stop the server first)\n",
            store = serde_json::to_string(&store.to_string_lossy()).expect("a string serializes"),
            backup = quote(backup)
        );
    };
    let streams: usize = next
        .standalone
        .accounts
        .iter()
        .map(|a| a.streams.len())
        .sum();
    let accounts: Vec<&str> = next
        .standalone
        .accounts
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let mut t = format!(
        "next:\n  \
         1. serve it ({listens}; use the survivor's nats-server version or newer):\n     \
         nats-server -c {config}{key}\n  \
         2. check it: {streams} stream{s} in account{a} {accounts}; `nats stream ls -a`\n  \
         3. move the data into the new cluster: read, then run {script}\n     \
         (`nats account backup` per account, `nats stream restore --replicas N` per stream,\n     \
         N as the lost cluster had it)\n  \
         4. the old cluster's nodes must never rejoin: wipe them or keep them off the network\n",
        config = quote(&next.config),
        listens = if next.standalone.from_node_config.is_some() {
            "the node's config without its cluster; check where it listens"
        } else {
            "loopback only"
        },
        key = if next.standalone.encrypted {
            "\n     with the survivor's key in single quotes (nats-server parses it): JS_KEY=\"'$(cat js.key)'\""
        } else {
            ""
        },
        s = if streams == 1 { "" } else { "s" },
        a = if accounts.len() == 1 { "" } else { "s" },
        accounts = accounts.join(", "),
        script = quote(&next.restore_script),
    );
    if next.standalone.accounts.iter().any(|a| a.operator_mode) {
        t.push_str(
            "  operator mode: accounts are named by public keys; copy the operator, resolver and\n  \
             system account settings from the survivor's config into the standalone one (see its\n  \
             comments)\n",
        );
    }
    t.push_str(&format!(
        "undo:\n  js-recover rollback {}   (stop the server first)\n",
        quote(backup)
    ));
    t
}
