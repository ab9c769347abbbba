//! The errors of `mogec`, each with its exit status.

use moge_lower::interp::EvalError;

/// Everything that can make a `mogec` command fail. Printed as one line `error: MESSAGE`
/// (a load's diagnostics are printed rendered first).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel source could not be loaded: unreadable, not text, frontend diagnostics (printed
    /// rendered before the line), no kernel to choose, or a `--set` its constraints refuse.
    #[error(transparent)]
    Load(#[from] moge::load::LoadError),
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
    /// `mogec bench` was asked something it cannot do (dims that do not fit the kernel, an output
    /// directory holding other files).
    #[error("{0}")]
    Bench(String),
    /// `mogec bench` ran, but some sizes failed (their rows in bench.csv say why).
    #[error("{failed} of {total} sizes failed (see the table above and {csv})")]
    BenchFailed {
        /// How many sizes failed.
        failed: usize,
        /// How many sizes ran.
        total: usize,
        /// The CSV written.
        csv: String,
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
            Error::Load(err) => err.exit_code(),
            Error::Output(_)
            | Error::DirFlag { .. }
            | Error::Bench(_)
            | Error::ManifestFile { .. }
            | Error::Stdout(_) => 2,
            Error::Inputs(err) => err.exit_code(),
            // A lowering that failed its own checks is a bug in moge, not in the kernel.
            Error::Codegen { source, .. } if source.is_internal() => 101,
            Error::Eval { .. } | Error::Codegen { .. } => 1,
            Error::Run(err) => err.exit_code(),
            Error::Export(err) => err.exit_code(),
            Error::Mismatch { .. } | Error::BenchFailed { .. } => 1,
            Error::Internal { .. } => 101,
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
