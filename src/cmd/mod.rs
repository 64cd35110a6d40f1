//! The command line: one file per subcommand, each with its `XArgs` (whose doc comment is
//! the help text) and a `run`.

use clap::{Parser, Subcommand};

use crate::Error;

mod inspect;
mod output;
mod plan;

pub use inspect::InspectArgs;
pub use plan::PlanArgs;

const ABOUT: &str = "Get JetStream data back when a NATS cluster lost Raft quorum.

js-recover edits a copy of a surviving node's store_dir so that a standalone nats-server
serves every stream, message and consumer again; from there `nats account backup` and
`nats stream restore --replicas 3` move the data into a new cluster.";

const AFTER_HELP: &str = "Workflow:
  cp -a /var/lib/nats /srv/survivor          # never work on the only copy
  js-recover inspect /srv/survivor           # what is there
  js-recover plan /srv/survivor --out plan.json
  jq -r '.changes[].diff // empty' plan.json # review

Exit codes: 0 success (also: nothing to change), 1 failure (nothing was changed),
2 usage error, 4 the store is in use by a running process.";

#[derive(Debug, Parser)]
#[command(name = "js-recover", version, about = ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log what is being done to stderr (-vv for more)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Inspect(InspectArgs),
    Plan(PlanArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Plan(args) => plan::run(args),
    }
}

/// The time stamped into manifests: now, or `JS_RECOVER_NOW` (RFC 3339) so that tests and
/// reproducible runs can fix the clock.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    std::env::var("JS_RECOVER_NOW")
        .ok()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
        .map_or_else(chrono::Utc::now, |t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
