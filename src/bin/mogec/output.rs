//! Writing to stdout and stderr without panicking.
//!
//! `println!` panics when stdout is a closed pipe (`mogec check f.rs | head -1`); these helpers ignore
//! write errors instead: there is nobody left to tell.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;

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

/// Creates `dir` (and its parents) if needed and writes each `(file name, contents)` into it, in
/// order. Returns the paths written.
pub fn write_files(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<Vec<PathBuf>, Error> {
    let write_error = |path: &Path, err: io::Error| Error::Write {
        path: path.display().to_string(),
        message: err.to_string(),
    };
    fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    let mut written = Vec::with_capacity(files.len());
    for (name, contents) in files {
        let path = dir.join(name);
        fs::write(&path, contents).map_err(|e| write_error(&path, e))?;
        written.push(path);
    }
    Ok(written)
}
