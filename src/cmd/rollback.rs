//! `js-recover rollback`: put the store back as it was before apply.

use std::path::PathBuf;

use clap::Args;

use super::output::report;
use crate::apply::{self, RollbackOptions, RolledBack};
use crate::Error;

/// Put the store back exactly as it was before apply, from the backup directory alone
///
/// Works after a finished apply and after one that was killed at any instant. Every edited
/// file gets its original bytes, mode and time back, every removed directory moves back, and
/// each original is verified by its hash first. Running it again changes nothing more.
///
/// If a file apply wrote was changed since (by hand, or by a server that ran on the store),
/// it names it and changes nothing (exit 3) unless --force, which saves the changed file
/// into the backup's `displaced/` and restores the original. Files created or modified since
/// apply (a server writes `msgs/index.db`, for one) are listed so you know what is not
/// original. The journal keeps the rollback too: history is never erased.
///
/// Examples:
///   js-recover rollback /srv/survivor.js-recover-20261121T120000Z
///   js-recover rollback /srv/survivor.js-recover-20261121T120000Z --force
///   js-recover rollback /srv/survivor.js-recover-20261121T120000Z --store /mnt/moved/survivor
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RollbackArgs {
    /// The backup directory `apply` printed
    pub backup_dir: PathBuf,
    /// Restore even over files changed since apply (they are saved into `displaced/`), and
    /// go on past a journal that does not verify
    #[arg(long)]
    pub force: bool,
    /// The store, if it was moved or copied since apply: it is checked against what the
    /// backup recorded (every entry there, of the same kind) before anything is restored
    #[arg(long, value_name = "PATH")]
    pub store: Option<PathBuf>,
    /// Print the result as JSON on stdout
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: RollbackArgs) -> Result<(), Error> {
    let done = apply::rollback(
        &args.backup_dir,
        &RollbackOptions {
            force: args.force,
            store: args.store,
        },
    )?;
    if args.json {
        let value = serde_json::json!({
            "schema": "js-recover/rollback",
            "schema_version": 1,
            "result": done,
        });
        return report(&(serde_json::to_string_pretty(&value).expect("serializes") + "\n"));
    }
    report(&text(&done))
}

fn text(d: &RolledBack) -> String {
    const SHOWN: usize = 30;
    let mut t = if d.nothing_to_do() {
        format!(
            "nothing to roll back in `{}`: {}\n",
            d.store.display(),
            match d.state_before {
                apply::record::State::Begun => "apply stopped before it changed the store",
                _ => "it is already as it was before apply",
            }
        )
    } else {
        format!(
            "rolled back `{}`: {} files and {} director{} restored, {} temporary file{} removed\n",
            d.store.display(),
            d.files_restored,
            d.dirs_restored,
            if d.dirs_restored == 1 { "y" } else { "ies" },
            d.temps_removed,
            if d.temps_removed == 1 { "" } else { "s" },
        ) + &if d.copies_removed > 0 {
            format!(
                "  {} director{} copied in from other survivors taken out again\n",
                d.copies_removed,
                if d.copies_removed == 1 { "y" } else { "ies" }
            )
        } else {
            String::new()
        }
    };
    let list = |t: &mut String, title: String, items: &[String]| {
        t.push_str(&title);
        for i in items.iter().take(SHOWN) {
            t.push_str(&format!("  {i}\n"));
        }
        if items.len() > SHOWN {
            t.push_str(&format!("  ... and {} more\n", items.len() - SHOWN));
        }
    };
    if !d.displaced.is_empty() {
        list(
            &mut t,
            format!(
                "moved aside into `{}` (changed since apply):\n",
                d.backup_dir.display()
            ),
            &d.displaced,
        );
    }
    if !d.changed_since_apply.is_empty() {
        list(
            &mut t,
            "changed in the store after apply, not by js-recover:\n".into(),
            &d.changed_since_apply,
        );
    }
    if d.not_original.is_empty() {
        t.push_str("the store is as it was before apply\n");
    } else {
        list(
            &mut t,
            format!(
                "{} entries are not as they were before apply:\n",
                d.not_original.len()
            ),
            &d.not_original,
        );
    }
    t.push_str(&format!(
        "the backup `{}` is kept, with its journal\n",
        d.backup_dir.display()
    ));
    t
}
