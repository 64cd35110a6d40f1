//! Progress on stderr for long steps: a counter redrawn in place on a terminal, and an
//! occasional plain line otherwise (logs and CI), never more than one every few seconds.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    tty: bool,
    last: Instant,
    started: Instant,
    bytes: bool,
}

impl Progress {
    /// A step of `total` items (or bytes, with `bytes`).
    pub fn new(label: impl Into<String>, total: u64, bytes: bool) -> Progress {
        let now = Instant::now();
        Progress {
            label: label.into(),
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            last: now,
            started: now,
            bytes,
        }
    }

    pub fn set(&mut self, done: u64) {
        self.done = done;
        let every = if self.tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(5)
        };
        if self.last.elapsed() >= every {
            self.last = Instant::now();
            self.draw(false);
        }
    }

    /// Ends the step; says so if it took long enough to have shown progress.
    pub fn finish(mut self) {
        self.done = self.total;
        if self.started.elapsed() >= Duration::from_millis(200) && self.tty {
            self.draw(true);
        }
    }

    fn draw(&self, last: bool) {
        let amount = |n: u64| {
            if self.bytes {
                crate::units::human_bytes(n)
            } else {
                n.to_string()
            }
        };
        let text = format!(
            "{}: {} of {}",
            self.label,
            amount(self.done),
            amount(self.total)
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.tty {
            write!(err, "\r\x1b[2K{text}{}", if last { "\n" } else { "" })
        } else {
            writeln!(err, "{text}")
        };
    }
}
