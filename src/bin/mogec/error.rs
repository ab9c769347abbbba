//! The errors of `mogec`, each with its exit status.

use std::io;

use moge_lower::graph::specialize::SpecializeError;
use moge_lower::interp::EvalError;

/// Everything that can make a `mogec` command fail. Printed as one line `error: MESSAGE`
/// (`Diagnostics` prints the rendered diagnostics first).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read (missing, a directory, no permission).
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file, as given.
        path: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// A source file is not UTF-8 text.
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
        /// The rendered diagnostics.
        rendered: String,
        /// The closing one-line summary.
        summary: String,
    },
    /// No kernel could be chosen: none in the file, an unknown or ambiguous `--kernel`, or none
    /// given for a file of several.
    #[error(transparent)]
    Select(#[from] moge::select::SelectError),
    /// Specialization with valid `--set` values failed (a constraint does not hold).
    #[error("cannot specialize kernel `{kernel}`: {source}")]
    Specialize {
        /// The kernel.
        kernel: String,
        /// Why (boxed to keep `Error` small).
        source: Box<SpecializeError>,
    },
    /// The inputs could not be resolved (names, files, data, dims, limits), or a `--set` name is
    /// unknown, given twice or missing (the same variants as for `--dim` and `--input`).
    #[error(transparent)]
    Inputs(Box<moge::inputs::InputError>),
    /// The interpreter rejected the inputs or failed.
    #[error("evaluating kernel `{kernel}` failed: {source}")]
    Eval {
        /// The kernel.
        kernel: String,
        /// Why (boxed to keep `Error` small).
        source: Box<EvalError>,
    },
    /// The Ascend C pipeline (lowering, scheduling, budgets, the writer) refused the kernel.
    #[error("cannot compile kernel `{kernel}` to Ascend C: {source}")]
    Codegen {
        /// The kernel.
        kernel: String,
        /// Why (boxed to keep `Error` small).
        source: Box<moge_codegen_ascendc::CodegenError>,
    },
    /// `mogec run` / `mogec demo` failed: compiling, launching, an unavailable backend.
    #[error("{0}")]
    Run(Box<moge::run::RunError>),
    /// `mogec run` / `mogec demo` ran, but some outputs are beyond tolerance of the interpreter.
    #[error(
        "kernel `{kernel}`: {outputs} beyond tolerance of the reference interpreter (see {report})"
    )]
    Mismatch {
        /// The kernel.
        kernel: String,
        /// The outputs beyond tolerance, quoted.
        outputs: String,
        /// Where the details are.
        report: String,
    },
    /// A flag that applies to a DSL file was given with a build directory.
    #[error("{flag} applies to a kernel source file; `{dir}` is a build directory, whose manifest {fixes}")]
    DirFlag {
        /// The flag.
        flag: &'static str,
        /// The directory.
        dir: String,
        /// What the manifest fixes instead.
        fixes: &'static str,
    },
    /// A manifest file was given where `mogec run` takes a kernel source file or a build directory.
    #[error("`{file}` is a manifest: give `mogec run` the build directory it is in (`mogec run {dir} ...`)")]
    ManifestFile {
        /// The file, as given.
        file: String,
        /// Its directory.
        dir: String,
    },
    /// `mogec export` failed.
    #[error("{0}")]
    Export(Box<moge::export::ExportError>),
    /// A bug in mogec itself.
    #[error("internal error in mogec: {message}")]
    Internal {
        /// What went wrong.
        message: String,
    },
    /// The outputs could not be written (and none was).
    #[error(transparent)]
    Output(#[from] moge::files::WriteError),
    /// Writing to stdout failed for another reason than a closed pipe.
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
}

impl Error {
    /// The exit status: 1 for errors in the kernel or its data, 2 for usage errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Read { .. }
            | Error::Output(_)
            | Error::DirFlag { .. }
            | Error::ManifestFile { .. }
            | Error::Stdout(_) => 2,
            Error::Inputs(err) => err.exit_code(),
            // A lowering that failed its own checks is a bug in moge, not in the kernel.
            Error::Codegen { source, .. } if source.is_internal() => 101,
            Error::NotUtf8 { .. }
            | Error::Diagnostics { .. }
            | Error::Eval { .. }
            | Error::Codegen { .. } => 1,
            Error::Run(err) => err.exit_code(),
            Error::Export(err) => err.exit_code(),
            Error::Select(err) => err.exit_code(),
            Error::Mismatch { .. } => 1,
            Error::Internal { .. } => 101,
            Error::Specialize { source, .. } => match **source {
                // The value of a `--set` is wrong for the kernel's constraints: an error in the
                // kernel's use, reported like an evaluation error.
                SpecializeError::Violated { .. }
                | SpecializeError::Unevaluable { .. }
                | SpecializeError::InvalidOp { .. }
                | SpecializeError::BadDim { .. } => 1,
                // Names and counts are checked before specializing; these are usage errors too.
                _ => 2,
            },
        }
    }
}

impl From<moge::load::LoadError> for Error {
    /// The loader's errors keep the variants (and so the messages and exit statuses) `mogec` has
    /// always had.
    fn from(err: moge::load::LoadError) -> Error {
        use moge::load::LoadError;
        match err {
            LoadError::Read { path, source } => Error::Read { path, source },
            LoadError::NotUtf8 { path, line, col } => Error::NotUtf8 { path, line, col },
            LoadError::Diagnostics { rendered, summary } => {
                Error::Diagnostics { rendered, summary }
            }
            LoadError::Select(err) => Error::Select(err),
            LoadError::Specialize { kernel, source } => Error::Specialize { kernel, source },
        }
    }
}

impl From<moge::inputs::InputError> for Error {
    fn from(err: moge::inputs::InputError) -> Error {
        Error::Inputs(Box::new(err))
    }
}

/// `names` as a list of quoted names: `` `a`, `b` and `c` `` (or `none`).
pub fn quoted_list<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.len() {
        0 => "none".to_string(),
        1 => quoted[0].clone(),
        n => format!("{} and {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lowering_that_fails_its_own_checks_exits_as_an_internal_error() {
        use moge_codegen_ascendc::CodegenError;
        use moge_lower::schedule::LowerError;
        let codegen = |source: CodegenError| Error::Codegen {
            kernel: "k".into(),
            source: Box::new(source),
        };
        let internal = LowerError::Internal {
            kernel: "k_k0".into(),
            message: "a race the sync pass left".into(),
        };
        assert_eq!(codegen(internal.into()).exit_code(), 101);
        let refused = LowerError::Unsupported {
            op: "grouped_matmul".into(),
            loc: Default::default(),
            reason: "f32 operands".into(),
        };
        assert_eq!(codegen(refused.into()).exit_code(), 1);
    }

    #[test]
    fn quoted_lists() {
        assert_eq!(quoted_list::<&str>(&[]), "none");
        assert_eq!(quoted_list(&["E"]), "`E`");
        assert_eq!(quoted_list(&["E", "G"]), "`E` and `G`");
        assert_eq!(quoted_list(&["a", "b", "c"]), "`a`, `b` and `c`");
    }
}
