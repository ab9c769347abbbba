//! `mogec run` and `mogec demo`: thin wrappers over `moge::run::run_program` and `moge::demo::demo`.

use std::io::{self, Write};

use moge::run::{run_program, RunInputs, RunOptions, RunReport};
use moge::run_dir::run_dir;

use crate::args::{InputArgs, RunArgs};
use crate::error::Error;
use crate::source;

/// Runs `mogec run`: compile, run on the backend, check against the interpreter, write the outputs and
/// `report.json`. Outputs beyond tolerance are an error (exit status 1) after the report is written.
/// With a build directory instead of a source file, its `.cpp` files are run as they are.
pub fn run(args: &RunArgs) -> Result<(), Error> {
    let (inputs, dims) = run_inputs(&args.io);
    if args.file.is_dir() {
        return run_directory(args, inputs, dims);
    }
    if args.file.is_file() && args.file.extension().is_some_and(|e| e == "json") {
        let dir = args.file.parent().filter(|d| !d.as_os_str().is_empty());
        return Err(Error::ManifestFile {
            file: args.file.display().to_string(),
            dir: dir.map_or(".".to_string(), |d| d.display().to_string()),
        });
    }
    let source = source::read(&args.file)?;
    let file = source::check(&source)?;
    let kernel = source::select(&source, file, args.kernel.as_deref())?;
    let kernel = source::specialize(&kernel, &args.set, source::Command::EvalOrRun)?;
    let options = RunOptions {
        target: args.target.clone().unwrap_or_default(),
        backend: args.backend,
        dims,
        keep: vec![args.file.clone()],
        fuse: args.fuse.into(),
        tiling: args.tiling.into(),
        model: !args.no_model,
        trace: args.trace.clone(),
        timing_only: args.timing_only,
    };
    let report = run_program(&kernel, inputs, &args.io.out_dir, &options)
        .map_err(|err| Error::Run(Box::new(err)))?;
    finish(&report)
}

/// `mogec run DIR`: the build directory's kernels as they are on disk.
fn run_directory(args: &RunArgs, inputs: RunInputs, dims: Vec<(String, i64)>) -> Result<(), Error> {
    let dir = args.file.display().to_string();
    let refuse = |flag, fixes| {
        Err(Error::DirFlag {
            flag,
            dir: dir.clone(),
            fixes,
        })
    };
    if args.kernel.is_some() {
        return refuse("--kernel", "names its device kernels");
    }
    if !args.set.is_empty() {
        return refuse("--set", "binds the static dims");
    }
    if args.target.is_some() {
        return refuse("--target", "names the target");
    }
    if args.fuse != crate::args::Fuse::All {
        return refuse("--fuse", "holds the kernels as they were built");
    }
    if args.tiling != crate::args::TilingArg::Rule {
        return refuse("--tiling", "holds the kernels as they were built");
    }
    if args.timing_only {
        return refuse(
            "--timing-only",
            "lists sources that may have been edited by hand, which timing-only mode does not model",
        );
    }
    let options = RunOptions {
        target: Default::default(),
        backend: args.backend,
        dims,
        keep: Vec::new(),
        fuse: Default::default(),
        tiling: Default::default(),
        model: !args.no_model,
        trace: args.trace.clone(),
        timing_only: false,
    };
    let report = run_dir(&args.file, inputs, &args.io.out_dir, &options)
        .map_err(|err| Error::Run(Box::new(err)))?;
    finish(&report)
}

/// The inputs of a run (or an evaluation) and the dims given besides input files.
pub fn run_inputs(io: &InputArgs) -> (RunInputs, Vec<(String, i64)>) {
    let dims: Vec<(String, i64)> = io.dim.iter().map(|d| (d.name.clone(), d.value)).collect();
    match io.random {
        Some(seed) => (RunInputs::Random { seed, dims }, Vec::new()),
        None => (
            RunInputs::Files(
                io.input
                    .iter()
                    .map(|i| (i.param.clone(), i.path.clone()))
                    .collect(),
            ),
            dims,
        ),
    }
}

/// Prints the summary; outputs beyond tolerance are an error after everything was written.
fn finish(report: &RunReport) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    // A closed stdout (`mogec run ... | head -1`) is not an error of the run.
    let _ = report.write_summary(&mut out);
    let _ = out.flush();
    if report.passed() {
        Ok(())
    } else {
        Err(Error::Mismatch {
            kernel: report.kernel.clone(),
            outputs: report
                .outputs
                .iter()
                .filter(|o| !o.comparison.as_ref().is_none_or(|c| c.passed()))
                .map(|o| format!("`{}`", o.name))
                .collect::<Vec<_>>()
                .join(", "),
            report: report.report_file.display().to_string(),
        })
    }
}

/// Runs `mogec demo`.
pub fn demo() -> Result<(), Error> {
    let mut out = Quiet(io::stdout().lock());
    let report = moge::demo::demo(&mut out).map_err(|err| match err {
        moge::demo::DemoError::Run(err) => Error::Run(err),
        moge::demo::DemoError::Io(err) => Error::Stdout(err),
    })?;
    if report.passed() {
        Ok(())
    } else {
        let gate_ok = report
            .runs
            .iter()
            .all(|r| r.outputs.iter().all(|(_, c)| c.passed()));
        let (kernel, outputs) = if gate_ok {
            (moge::demo::layer::FFN_KERNEL, "the layer's outputs")
        } else {
            (moge::demo::GATE_KERNEL, "the gate's outputs")
        };
        Err(Error::Mismatch {
            kernel: kernel.to_string(),
            outputs: outputs.to_string(),
            report: "the table above".to_string(),
        })
    }
}

/// A writer that ignores write errors: when stdout is a closed pipe (`mogec demo | head -3`) there is
/// nobody left to tell, and the demo still runs to its verdict.
struct Quiet<W: Write>(W);

impl<W: Write> Write for Quiet<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}
