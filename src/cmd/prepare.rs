//! `js-recover prepare`: plan and apply in one step.

use std::path::PathBuf;

use clap::Args;

use super::output::stdout;
use crate::apply::{self, check, ApplyOptions};
use crate::plan::{self, Change};
use crate::Error;

/// Plan and apply in one step, for those who know the old tool
///
/// The same as `js-recover plan STORE --out PLAN` followed by `js-recover apply PLAN`: the
/// plan is kept in the backup directory (`manifest.json`), and `js-recover rollback
/// BACKUP_DIR` undoes it. With --dry-run it prints the diffs of every file it would change
/// and the directories it would remove, and changes nothing.
///
/// Examples:
///   js-recover prepare /srv/survivor --dry-run
///   js-recover prepare /srv/survivor
///   js-recover prepare /srv/survivor --backup-dir /srv/survivor.backup
///   js-recover prepare /srv/survivor --key-file /etc/nats/js.key
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PrepareArgs {
    /// The store: a nats-server store_dir (the parent of `jetstream/`) or `jetstream/` itself
    pub store: PathBuf,
    #[command(flatten)]
    pub planning: super::planning::PlanningArgs,
    /// Where to keep the originals and the journal (default: beside the store)
    #[arg(long, value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// Print what would change, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON on stdout (with --dry-run: the plan)
    #[arg(long)]
    pub json: bool,
    /// The survivor's own nats-server config, to derive standalone.conf from (see `apply`)
    #[arg(long, value_name = "FILE")]
    pub node_config: Option<PathBuf>,
}

pub fn run(args: PrepareArgs) -> Result<(), Error> {
    let manifest = args.planning.plan(&args.store)?.manifest;
    if args.dry_run {
        if args.json {
            super::output::write_manifest(None, &manifest)?;
        } else {
            stdout(&dry_run_text(&manifest))?;
        }
        crate::term::eprint(&super::plan::summary(&manifest, None));
        crate::term::eprintln("dry run: nothing was changed");
        return args.planning.check_complete(&manifest);
    }
    crate::term::eprint(&super::plan::summary(&manifest, None));
    args.planning.check_complete(&manifest)?;
    if manifest.changes.is_empty() {
        return Ok(());
    }
    let derived = super::apply::derive(args.node_config.as_deref(), &manifest)?;
    let loaded = check::made(manifest)?;
    // Planning's store model is gone: give its memory back before apply takes its own.
    crate::memory::release_free_memory();
    let outcome = apply::apply(
        &loaded,
        &ApplyOptions {
            backup_dir: args.backup_dir,
        },
    )?;
    super::apply::report(&outcome, &loaded, args.json, derived)
}

fn dry_run_text(m: &plan::Manifest) -> String {
    let mut t = String::new();
    for c in &m.changes {
        match c {
            Change::Edit(e) => {
                t.push_str(&format!("# edit {}: {}\n", e.path, e.reason));
                t.push_str(&e.diff);
                if !e.diff.ends_with('\n') {
                    t.push('\n');
                }
            }
            Change::Mkdir(d) => t.push_str(&format!("# mkdir {}: {}\n", d.path, d.reason)),
            Change::Remove(r) => t.push_str(&format!(
                "# remove {} ({} files, {} bytes): {}\n",
                r.path, r.files, r.bytes, r.reason
            )),
            Change::Copy(c) => t.push_str(&format!(
                "# copy {} from {} ({} files, {} bytes): {}\n",
                c.path,
                c.source_dir().display(),
                c.files,
                c.bytes,
                c.reason
            )),
        }
    }
    t
}
