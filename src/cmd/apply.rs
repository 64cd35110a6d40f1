//! `js-recover apply`: carry out a plan under a journal, into a backup directory.

use std::path::{Path, PathBuf};

use clap::Args;

use super::output::{self, human_bytes, quote};
use crate::apply::{self, check, ApplyOptions, Outcome};
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
}

pub fn run(args: ApplyArgs) -> Result<(), Error> {
    let loaded = check::read_plan(&args.plan)?;
    if loaded.manifest.changes.is_empty() {
        crate::term::eprintln(&format!(
            "apply: the plan has no changes: `{}` is already loadable by a standalone server; nothing to do",
            loaded.manifest.store
        ));
        return Ok(());
    }
    let outcome = apply::apply(
        &loaded,
        &ApplyOptions {
            backup_dir: args.backup_dir,
        },
    )?;
    report(&outcome, args.json)
}

/// Prints what apply did: JSON, or a few lines saying what to do next.
pub(crate) fn report(o: &Outcome, json: bool) -> Result<(), Error> {
    if json {
        let value = serde_json::json!({
            "schema": "js-recover/apply",
            "schema_version": 1,
            "result": o,
        });
        return output::report(&(serde_json::to_string_pretty(&value).expect("serializes") + "\n"));
    }
    output::report(&text(o))
}

fn text(o: &Outcome) -> String {
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
    t.push_str(&next_steps(&o.store, &o.backup_dir));
    t
}

pub(crate) fn next_steps(store: &Path, backup: &Path) -> String {
    format!(
        "next:\n  \
         1. start a standalone nats-server on it: the node's config without its `cluster` block,\n     \
         with `jetstream {{ store_dir: {store} }}`\n  \
         2. check it: `nats stream ls -a`, `nats consumer ls STREAM`\n  \
         3. move the data: `nats account backup`, then `nats stream restore --replicas 3` into the new cluster\n\
         undo:\n  \
         js-recover rollback {backup}   (stop the server first)\n",
        store = serde_json::to_string(&store.to_string_lossy()).expect("a string serializes"),
        backup = quote(backup)
    )
}
