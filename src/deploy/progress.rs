//! A deploy's progress on stderr: on a terminal, one line redrawn in place
//! (phase, objects and bytes done of the total); elsewhere (a log, CI),
//! plain lines: one when a phase starts and at most one every two seconds.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Counts of one phase, printed as they move.
pub(crate) struct Progress {
    terminal: bool,
    label: &'static str,
    objects: usize,
    bytes: u64,
    done_objects: usize,
    done_bytes: u64,
    printed: Instant,
}

impl Progress {
    /// Progress of a phase of `objects` objects and `bytes` bytes.
    pub fn start(label: &'static str, objects: usize, bytes: u64) -> Progress {
        let mut progress = Progress {
            terminal: std::io::stderr().is_terminal(),
            label,
            objects,
            bytes,
            done_objects: 0,
            done_bytes: 0,
            printed: Instant::now(),
        };
        if !progress.terminal {
            eprintln!("deploy: {label}: {objects} objects, {bytes} bytes");
        } else {
            progress.draw();
        }
        progress
    }

    /// One more object of `bytes` bytes done.
    pub fn advance(&mut self, bytes: u64) {
        self.done_objects += 1;
        self.done_bytes += bytes;
        let every = if self.terminal {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(2)
        };
        if self.printed.elapsed() >= every {
            self.draw();
        }
    }

    /// The phase is over: the last counts, and a new line on a terminal.
    pub fn finish(mut self) {
        if self.terminal {
            self.draw();
            eprintln!();
        }
    }

    fn draw(&mut self) {
        self.printed = Instant::now();
        let line = format!(
            "deploy: {}: {}/{} objects, {}/{} bytes",
            self.label, self.done_objects, self.objects, self.done_bytes, self.bytes
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(err, "\r\x1b[K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
}
