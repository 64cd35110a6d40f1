//! `js-recover prepare`: plan and apply in one step.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::apply::{self, check, ApplyError, ApplyOptions};
use crate::plan::{Change, Plan};
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
    // Planning on a thread of its own: what it allocates goes with it, and apply starts on
    // a heap of its own (measured at 5,000 streams: 9 MiB less at apply's peak).
    let planned = std::thread::scope(|s| {
        s.spawn(|| plan_into_file(&args))
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })?;
    let Some(file) = planned else {
        return Ok(());
    };
    crate::memory::release_free_memory();
    // The plan file is prepare's own: an error names it as such, not by a path that is
    // gone once the error is printed.
    let named = |e: ApplyError| e.with_plan_named(file.path(), Path::new(PREPARED));
    let loaded = check::read_plan(file.path()).map_err(named)?;
    tracing::info!("plan read back");
    let derived = super::apply::derive(args.node_config.as_deref(), &loaded.manifest)?;
    let outcome = apply::apply(
        &loaded,
        &ApplyOptions {
            backup_dir: args.backup_dir,
        },
    )
    .map_err(named)?;
    let reported = super::apply::report(&outcome, &loaded, args.json, derived);
    drop(file);
    reported
}

/// How errors name the plan prepare made.
const PREPARED: &str = "(the plan prepare made)";

/// Plans, and (but with --dry-run, or when nothing is to change) writes the plan to a new
/// file.
fn plan_into_file(args: &PrepareArgs) -> Result<Option<tempfile::NamedTempFile>, Error> {
    let opened = args.planning.open(&args.store)?;
    let plan = opened.plan(&args.planning)?;
    tracing::info!(changes = plan.len(), "planned");
    if args.dry_run {
        if args.json {
            super::output::write_manifest(None, &plan)?;
        } else {
            dry_run(&plan).map_err(Error::Stdout)?;
        }
        crate::term::eprint(&super::plan::summary(&plan, None));
        crate::term::eprintln("dry run: nothing was changed");
        return args.planning.check_complete(plan.head()).map(|()| None);
    }
    crate::term::eprint(&super::plan::summary(&plan, None));
    args.planning.check_complete(plan.head())?;
    if plan.is_empty() {
        return Ok(None);
    }
    // The plan is written to a file and applied from it exactly as `apply` applies one
    // (which keeps its copy in the backup): the plan's edits are made as they are written
    // and never held, and apply holds only what it needs of them.
    let file = plan_file(&opened.store.root, args.backup_dir.as_deref())?;
    let mut w = std::io::BufWriter::with_capacity(1 << 16, file.as_file());
    plan.write_to(&mut w)
        .and_then(|_| std::io::Write::flush(&mut w))
        .map_err(|source| Error::Write {
            path: file.path().to_path_buf(),
            source,
        })?;
    drop(w);
    tracing::info!("plan written");
    Ok(Some(file))
}

/// A new file for the plan, removed when dropped: beside the backup directory (on its
/// filesystem, which must take the plan's copy anyway), or beside the store when the backup
/// goes to its default place there; failing that, in the system's temporary directory. A
/// backup directory inside the store is refused first, as apply refuses it. (A prepare
/// killed before it is done leaves the file, `.js-recover-prepare-*.json`, mode 0600.)
fn plan_file(
    store_root: &Path,
    backup_dir: Option<&Path>,
) -> Result<tempfile::NamedTempFile, Error> {
    let beside_store = store_root.parent().unwrap_or(Path::new("/")).to_path_buf();
    let preferred = match backup_dir {
        Some(backup) => {
            let backup = check::outside_store(store_root, backup)?;
            backup
                .parent()
                .map_or(beside_store.clone(), Path::to_path_buf)
        }
        None => beside_store.clone(),
    };
    let new_in = |dir: &Path| {
        tempfile::Builder::new()
            .prefix(".js-recover-prepare-")
            .suffix(".json")
            .tempfile_in(dir)
    };
    new_in(&preferred)
        .or_else(|_| new_in(&beside_store))
        .or_else(|_| new_in(&std::env::temp_dir()))
        .map_err(|source| Error::Write {
            path: preferred,
            source,
        })
}

/// Prints the diff of every file the plan changes, and the directories it creates, copies
/// and removes, as the changes are made.
fn dry_run(plan: &Plan) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for c in plan.changes() {
        match &*c {
            Change::Edit(e) => {
                writeln!(out, "# edit {}: {}", e.path, e.reason)?;
                out.write_all(e.diff.as_bytes())?;
                if !e.diff.ends_with('\n') {
                    writeln!(out)?;
                }
            }
            Change::Mkdir(d) => writeln!(out, "# mkdir {}: {}", d.path, d.reason)?,
            Change::Remove(r) => writeln!(
                out,
                "# remove {} ({} files, {} bytes): {}",
                r.path, r.files, r.bytes, r.reason
            )?,
            Change::Copy(c) => writeln!(
                out,
                "# copy {} from {} ({} files, {} bytes): {}",
                c.path,
                c.source_dir().display(),
                c.files,
                c.bytes,
                c.reason
            )?,
        }
    }
    out.flush()
}
