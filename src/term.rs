//! Writing to stderr without letting a closed or broken stderr change the outcome.
//!
//! `eprintln!` panics when stderr cannot be written (a closed pipe, `2>&-`): the process
//! would exit 101 whatever it had done to the store. Messages for people go through here
//! instead, and a failed write is dropped: the exit code, not the terminal, tells scripts
//! what happened.

use std::io::Write;

/// Writes `text` to stderr as it is; errors are ignored.
pub fn eprint(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
}

/// Writes `text` and a newline to stderr; errors are ignored.
pub fn eprintln(text: &str) {
    eprint(&format!("{text}\n"));
}
