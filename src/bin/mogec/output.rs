//! Writing to stdout and stderr without panicking.
//!
//! `println!` panics when stdout is a closed pipe (`mogec check f.rs | head -1`); these helpers ignore
//! write errors instead: there is nobody left to tell.

use std::io::{self, Write};

/// Writes `text` to stdout as is.
pub fn stdout(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Writes `text` and a line break to stdout.
pub fn stdout_line(text: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Writes `text` to stderr as is.
pub fn stderr(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Writes `error: MESSAGE` (one line) to stderr.
pub fn error_line(message: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "error: {message}");
    let _ = err.flush();
}
