//! The `js-recover` binary: parse the command line, run it, report the error chain.

use std::process::ExitCode;

use clap::Parser;
use js_recover::cmd::{self, Cli};

fn main() -> ExitCode {
    js_recover::memory::return_big_buffers();
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("JS_RECOVER_LOG")
                .unwrap_or_else(|_| level.into()),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stderr must not turn a known outcome into a panic (exit 101).
            let mut text = format!("error: {e}\n");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                text.push_str(&format!("  caused by: {cause}\n"));
                source = cause.source();
            }
            if let Some(hint) = e.hint() {
                text.push_str(&format!("hint: {hint}\n"));
            }
            js_recover::term::eprint(&text);
            ExitCode::from(e.exit_code())
        }
    }
}
