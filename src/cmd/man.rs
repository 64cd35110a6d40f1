//! `js-recover man`: manual pages, from the command-line definition.

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use super::output::{stdout, write_file_atomic};
use crate::Error;

/// Print the manual page (roff), or write one per subcommand into a directory
///
/// Examples:
///   js-recover man | man -l -
///   js-recover man --out-dir /usr/local/share/man/man1
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {
    /// Write js-recover.1 and js-recover-<subcommand>.1 into this directory
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

fn render(cmd: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .expect("rendering into memory cannot fail");
    out
}

pub fn run(args: ManArgs) -> Result<(), Error> {
    let cmd = super::Cli::command();
    let Some(dir) = args.out_dir else {
        return stdout(&String::from_utf8_lossy(&render(cmd)));
    };
    write_file_atomic(&dir.join("js-recover.1"), &render(cmd.clone()))?;
    for sub in cmd.get_subcommands() {
        let name = format!("js-recover-{}", sub.get_name());
        let page = render(sub.clone().name(name.clone()));
        write_file_atomic(&dir.join(format!("{name}.1")), &page)?;
    }
    Ok(())
}
