//! `js-recover completions`: shell completion scripts, from the command-line definition.

use clap::{Args, CommandFactory};

use super::output::stdout;
use crate::Error;

/// Print a shell completion script
///
/// Examples:
///   js-recover completions bash > /etc/bash_completion.d/js-recover
///   js-recover completions zsh > "${fpath[1]}/_js-recover"
///   js-recover completions fish > ~/.config/fish/completions/js-recover.fish
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// The shell
    pub shell: clap_complete::Shell,
}

pub fn run(args: CompletionsArgs) -> Result<(), Error> {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "js-recover", &mut out);
    stdout(&String::from_utf8_lossy(&out))
}
