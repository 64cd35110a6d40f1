//! The `js-recover` binary: parse the command line, run it, report the error chain.

use std::process::ExitCode;

use clap::Parser;
use js_recover::cmd::{self, Cli};

fn main() -> ExitCode {
    return_big_buffers();
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

/// glibc raises its mmap threshold each time a large mmapped block is freed, so that the
/// next large buffers (a manifest read whole, a listing of 100,000 entries) come from the
/// heap and stay in the process after they are freed: rollback at 5,000 streams peaked at
/// 130 MiB for 90 MiB of live data. A fixed threshold (glibc's default, 128 KiB) keeps every
/// large buffer mmapped and gives it back when freed (measured: rollback 97 MiB, apply 70,
/// same times).
fn return_big_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
