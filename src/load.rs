//! Loading a kernel from a Rust source file: the one loader `mogec`, [`crate::run`], the demo and
//! `moge-build` share.
//!
//! [`read_source`] reads the file (refusing FIFOs, huge files and text that is not UTF-8),
//! [`check_source`] runs the frontend on every kernel of it, [`select`] picks one kernel by the rule
//! of [`crate::select`] and [`load_kernel`] does all of it and specializes the kernel. Every step
//! fails with a [`LoadError`] naming the file, and diagnostics come rendered in rustc's shape.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use moge_dsl::{Diagnostic, FileCheck, KernelCheck};
use moge_lower::graph::specialize::SpecializeError;
use moge_lower::graph::Kernel;

use crate::select::{select_kernel, SelectError};

/// Source files larger than this are refused (no kernel file comes close).
const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// A source file's text, with its path as the user gave it.
#[derive(Clone, Debug)]
pub struct Source {
    /// The path, for messages and diagnostics.
    pub path: String,
    /// The text.
    pub text: String,
}

/// Why a kernel could not be loaded from a source file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read (missing, a directory, a FIFO, no permission, too large).
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file, as given.
        path: String,
        /// The operating system's error, or why the file was refused.
        source: io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("`{path}` is not a Rust source file: it is not valid UTF-8 (first bad byte at line {line}, column {col})")]
    NotUtf8 {
        /// The file.
        path: String,
        /// Line of the first invalid byte (1-based).
        line: usize,
        /// Column of the first invalid byte (1-based, in characters).
        col: usize,
    },
    /// The frontend reported errors; they are in `rendered`, in rustc's shape.
    #[error("{summary}")]
    Diagnostics {
        /// The rendered diagnostics, followed by a blank line.
        rendered: String,
        /// The closing one-line summary.
        summary: String,
    },
    /// No kernel could be chosen: none in the file, an unknown or ambiguous name, or none given
    /// for a file of several.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// Specializing with the given static dims failed (a constraint does not hold).
    #[error("cannot specialize kernel `{kernel}`: {source}")]
    Specialize {
        /// The kernel.
        kernel: String,
        /// Why (boxed to keep the error small).
        source: Box<SpecializeError>,
    },
}

impl LoadError {
    /// The exit status `mogec` uses: 2 for a file that cannot be read and for a name that does not
    /// fit, 1 for errors in the kernel (diagnostics, a file that is not text, a constraint that
    /// does not hold for the values given).
    pub fn exit_code(&self) -> u8 {
        match self {
            LoadError::Read { .. } => 2,
            LoadError::Select(err) => err.exit_code(),
            LoadError::NotUtf8 { .. } | LoadError::Diagnostics { .. } => 1,
            LoadError::Specialize { source, .. } => match **source {
                SpecializeError::Violated { .. }
                | SpecializeError::Unevaluable { .. }
                | SpecializeError::InvalidOp { .. }
                | SpecializeError::BadDim { .. } => 1,
                _ => 2,
            },
        }
    }
}

/// Reads a Rust source file. A FIFO or socket is refused (opening one can block forever) unless it
/// is standard input (`mogec check /dev/stdin < k.rs`).
pub fn read_source(path: &Path) -> Result<Source, LoadError> {
    let display = path.display().to_string();
    let read_error = |source| LoadError::Read {
        path: display.clone(),
        source,
    };
    let is_stdin = ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]
        .iter()
        .any(|p| Path::new(p) == path);
    if !is_stdin {
        use std::os::unix::fs::FileTypeExt;
        // `metadata` does not open the file.
        if std::fs::metadata(path)
            .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        {
            return Err(read_error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "it is a FIFO or socket; give a regular file, or /dev/stdin for a pipe",
            )));
        }
    }
    // Opening a directory succeeds and only reading it fails, with the bare "Is a directory": say
    // what was expected instead.
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(read_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a directory; give a kernel source file (FILE.rs) — only `mogec run` also takes a \
             build directory (the output of `mogec build --emit ascendc,manifest`)",
        )));
    }
    let file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(read_error(io::Error::other(
            "the file is larger than 64 MiB, too large for a kernel source",
        )));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source {
            path: display,
            text,
        }),
        Err(err) => {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            // The prefix is valid UTF-8 by construction.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let line = prefix.matches('\n').count() + 1;
            let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Err(LoadError::NotUtf8 {
                path: display,
                line,
                col,
            })
        }
    }
}

/// Checks every kernel of `source`; a file that is not valid Rust is reported as a diagnostic.
pub fn check_source(source: &Source) -> Result<FileCheck, LoadError> {
    moge_dsl::check_source(&source.text).map_err(|diag| {
        let why = if diag.message.starts_with("nested too deeply") {
            "it nests too deeply to be checked safely"
        } else {
            "it is not valid Rust syntax"
        };
        LoadError::Diagnostics {
            rendered: rendered(source, &[diag]),
            summary: format!("could not check `{}`: {why}", source.path),
        }
    })
}

/// Chooses the kernel called `name` (or the only kernel, when `name` is `None`) by the rule of
/// [`crate::select`], and returns its graph IR, unspecialized, or its diagnostics as an error. A file
/// with errors outside its kernels (a misplaced kernel attribute) is refused whole, as cargo would.
pub fn select(source: &Source, file: FileCheck, name: Option<&str>) -> Result<Kernel, LoadError> {
    if !file.errors.is_empty() {
        return Err(LoadError::Diagnostics {
            rendered: rendered(source, &file.errors),
            summary: format!(
                "could not check `{}`: {}",
                source.path,
                count(file.errors.len(), "error")
            ),
        });
    }
    let index = select_kernel(&source.path, &file, name)?;
    let Some(KernelCheck { name, result, .. }) = file.kernels.into_iter().nth(index) else {
        return Err(LoadError::Select(SelectError::NoKernels {
            path: source.path.clone(),
        }));
    };
    result.map_err(|diags| LoadError::Diagnostics {
        rendered: rendered(source, &diags),
        summary: format!(
            "could not compile kernel `{name}` due to {}",
            count(diags.len(), "error")
        ),
    })
}

/// Specializes `kernel` with `set` (the values of its static dims).
pub fn specialize(kernel: &Kernel, set: &[(&str, i64)]) -> Result<Kernel, LoadError> {
    kernel
        .specialize(set)
        .map_err(|source| LoadError::Specialize {
            kernel: kernel.name.clone(),
            source: Box::new(source),
        })
}

/// Parses `text` (a Rust file; `path` names it in diagnostics), picks the kernel `name` (a kernel's
/// path `mod::name`, or a name that only one kernel has; or the only kernel) and specializes it with
/// `set`.
pub fn load_kernel(
    path: &str,
    text: &str,
    name: Option<&str>,
    set: &[(&str, i64)],
) -> Result<Kernel, LoadError> {
    let source = Source {
        path: path.to_string(),
        text: text.to_string(),
    };
    let file = check_source(&source)?;
    specialize(&select(&source, file, name)?, set)
}

/// [`load_kernel`] on the file at `path`.
pub fn load_file(
    path: &Path,
    name: Option<&str>,
    set: &[(&str, i64)],
) -> Result<Kernel, LoadError> {
    let source = read_source(path)?;
    let file = check_source(&source)?;
    specialize(&select(&source, file, name)?, set)
}

/// The rendered diagnostics followed by a blank line (before the summary), as rustc prints them.
pub fn rendered(source: &Source, diags: &[Diagnostic]) -> String {
    let mut text = moge_dsl::render_diagnostics(&source.path, &source.text, diags);
    text.push('\n');
    text
}

/// `n` followed by `what`, pluralized with an `s`: `1 error`, `3 errors`.
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
