//! The command line: one file per subcommand, each with its `XArgs` (whose doc comment is
//! the help text) and a `run`.

use clap::{Parser, Subcommand};

use crate::Error;

mod apply;
mod completions;
mod inspect;
mod keys;
mod man;
mod names;
mod output;
mod plan;
mod planning;
mod prepare;
mod rollback;
mod status;

pub use apply::ApplyArgs;
pub use inspect::InspectArgs;
pub use output::{human_bytes, quote};
pub use plan::PlanArgs;
pub use prepare::PrepareArgs;
pub use rollback::RollbackArgs;
pub use status::StatusArgs;

const ABOUT: &str = "Get JetStream data back when a NATS cluster lost Raft quorum.

js-recover edits a copy of a surviving node's store_dir so that a standalone nats-server
serves every stream, message and consumer again; from there `nats account backup` and
`nats stream restore --replicas 3` move the data into a new cluster.";

const AFTER_HELP: &str = "Workflow:
  cp -a /var/lib/nats /srv/survivor          # never work on the only copy
  js-recover inspect /srv/survivor           # what is there
  js-recover plan /srv/survivor --out plan.json
  jq -r '.changes[].diff // empty' plan.json # review
  js-recover apply plan.json                 # prints its backup directory
  # ... standalone nats-server, nats account backup, nats stream restore ...
  js-recover rollback BACKUP_DIR             # undo, exactly
  js-recover status BACKUP_DIR               # what happened, and does the store match

Exit codes (each says what state the store is in):
  0  success (also: nothing to change)
  1  failure; the store was not changed (an apply that failed part-way put it back)
  2  usage error; nothing was changed
  3  refused: the store changed since the plan (apply) or since apply (rollback)
  4  refused: the store is in use (a nats-server serving it, a process with a file of it
     open, or another js-recover)
  5  refused: not a backup directory apply made, or its journal does not verify
  6  failed part-way and the store is left changed: see `status`, then run `rollback`
  7  --require-complete: the store lacks part of what the lost cluster had
  8  refused: survivors' copies of a stream or consumer disagree (--from); --prefer decides

Also: `js-recover completions SHELL`, `js-recover man`.";

#[derive(Debug, Parser)]
#[command(
    name = "js-recover",
    version,
    about = ABOUT,
    after_help = AFTER_HELP,
    disable_help_flag = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print help, with the examples (-h and --help alike)
    #[arg(short = 'h', long = "help", global = true, action = clap::ArgAction::HelpLong)]
    pub help: Option<bool>,
    /// Log what is being done to stderr (-vv for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Inspect(InspectArgs),
    Plan(PlanArgs),
    Apply(ApplyArgs),
    Rollback(RollbackArgs),
    Status(StatusArgs),
    Prepare(PrepareArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Rollback(args) => rollback::run(args),
        Command::Status(args) => status::run(args),
        Command::Prepare(args) => prepare::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// Refuses a store a process uses (see [`crate::store::in_use`]); warns of nats-servers
/// whose store could not be told.
pub(crate) fn refuse_if_in_use(root: &std::path::Path) -> Result<(), Error> {
    let undetermined = crate::store::in_use::refuse_if_in_use(root)?;
    warn_undetermined(&undetermined);
    Ok(())
}

pub(crate) fn warn_undetermined(found: &[crate::store::in_use::Undetermined]) {
    for u in found {
        crate::term::eprintln(&format!("warning: {u}"));
    }
}

/// The time stamped into manifests and journals (see [`crate::clock`]).
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    crate::clock::now()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
