//! `mogec run`: compile a kernel, run it on a backend (the emulator by default), check the results
//! against the reference interpreter and write everything down.
//!
//! [`run_program`] takes a specialized kernel and its inputs (tensors, `.npy` files, or a seed for
//! deterministic random inputs), compiles it to Ascend C, launches it through the
//! [launch API](moge_runtime::launch), evaluates the same inputs with the interpreter, and compares
//! every output within the error bound the interpreter derives from the graph
//! ([`compare_bounded`](moge_runtime::report::compare_bounded), the one place tolerances
//! are stated). Into the output directory it writes:
//!
//! - every output as `NAME.npy`, named as `mogec eval` names them (the returned identifier, or `outI`;
//!   `_1`, `_2`... when two outputs share a name); these are the backend's results, not the
//!   interpreter's;
//! - with random inputs, every input as `PARAM.npy`,
//!   so the run can be repeated with `.npy` inputs;
//! - `report.json`: `kernel`, `backend`, `bindings`, `dims`, `device_kernels`, `block_dim`,
//!   `gm_bytes_read`, `gm_bytes_written`, `compulsory_bytes`, `traffic_ratio`, `ub_bytes`,
//!   `ub_high_water`, `wall_us`, `kernels` (per device kernel), `outputs` (per output name:
//!   `max_abs_err`, `max_rel_err`, `mismatches` and more) and `passed`.
//!
//! The inputs are resolved by [`crate::inputs::resolve`] (names, `.npy` files, the limits checked
//! from the shapes before anything is allocated); the files are written by
//! [`crate::files::write_all`], all at once after the run, never over an input file or one of
//! [`RunOptions::keep`].
//!
//! A run whose outputs are beyond tolerance is not an error: [`RunReport::passed`] says so, and
//! `mogec run` exits with status 1.

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moge_codegen_ascendc::{compile_program_with, CodegenError, Program};
use moge_lower::graph::Kernel;
use moge_lower::interp::{self, EvalError, Tensor};
use moge_lower::opt::FuseMode;
use moge_lower::schedule::ScheduleOptions;
use moge_lower::target::Target;
use moge_lower::Symbol;
use moge_runtime::backend::{Backend, BackendError, BackendKind, EmulatorBackend};
use moge_runtime::launch::{self, LaunchError, Launched, ProgramRef};
use moge_runtime::limits::{self, EnvError};
use moge_runtime::model::ModelError;
use moge_runtime::report::{self, Comparison, LaunchReport};
use serde_json::{json, Map, Value};

use crate::files::{self, Contents, WriteError};
use crate::inputs::{self, Consumer, InputError};
use crate::load::LoadError;

pub use crate::inputs::RunInputs;

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The target to compile for.
    pub target: Target,
    /// The backend to run on.
    pub backend: BackendKind,
    /// Dynamic dims given besides input files or tensors (`--dim` alongside `--input`): each must
    /// agree with what the inputs bind. (Random inputs take their dims in [`RunInputs::Random`].)
    pub dims: Vec<(String, i64)>,
    /// Files no output may replace besides the input files (the kernel's source).
    pub keep: Vec<PathBuf>,
    /// How much the graph optimizer fuses (`mogec run --fuse`).
    pub fuse: FuseMode,
    /// How the cube path scores a matmul's candidate tiles (`--tiling rule|model`).
    pub tiling: moge_lower::schedule::cube::Tiling,
    /// Model each launch on the target's timing model (the emulator records its instruction trace):
    /// `report.json` then has the `"modeled"` figures. `mogec run` does unless `--no-model`.
    pub model: bool,
    /// Write the modeled timeline to this file as Chrome trace events (`mogec run --trace`; implies
    /// `model`).
    pub trace: Option<PathBuf>,
    /// Skip the arithmetic (`mogec run --timing-only`; implies `model`): the emulator traces the
    /// kernels without computing anything, the interpreter does not run, nothing is compared and
    /// only `report.json` (and the trace file) is written ([`crate::timing_only`]).
    pub timing_only: bool,
}

impl RunOptions {
    /// Compiles `kernel` for these options' target, fusion and tiling.
    pub fn compile(&self, kernel: &Kernel) -> Result<Program, RunError> {
        let schedule = ScheduleOptions {
            fuse: self.fuse,
            tiling: self.tiling,
            ..ScheduleOptions::default()
        };
        compile_program_with(kernel, &self.target, &schedule).map_err(|source| RunError::Codegen {
            kernel: kernel.name.clone(),
            source,
        })
    }

    /// The backend these options ask for (the emulator modeling launches when asked).
    pub fn create_backend(&self) -> Result<Box<dyn Backend>, BackendError> {
        let model = self.model || self.trace.is_some() || self.timing_only;
        self.backend.create_with(EmulatorBackend {
            model,
            timeline: self.trace.is_some(),
            timing_only: self.timing_only,
        })
    }
}

/// The modeled timeline of `report` as Chrome trace events (see [`moge_runtime::model::chrome`]);
/// kernels that were not modeled add only their name.
pub fn trace_json(report: &LaunchReport) -> Vec<u8> {
    let kernels: Vec<(&str, &moge_runtime::model::KernelModel)> = report
        .kernels
        .iter()
        .filter_map(|k| k.modeled.as_ref().map(|m| (k.name.as_str(), m)))
        .collect();
    let json = moge_runtime::model::chrome::chrome_trace(&kernels);
    let mut text = serde_json::to_string(&json).unwrap_or_default();
    text.push('\n');
    text.into_bytes()
}

/// The `--trace` file as one more output of [`files::write_all`] (an absolute name, so it is written
/// where it was asked, with the other outputs, all or none, never over an input).
pub(crate) fn trace_output<'a>(
    report: &LaunchReport,
    path: &Path,
) -> Result<(String, files::Contents<'a>), RunError> {
    let bad = |why: &str| RunError::TraceFile {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string()),
    };
    let absolute = std::path::absolute(path).map_err(|source| RunError::TraceFile {
        path: path.to_path_buf(),
        source,
    })?;
    let name = absolute
        .to_str()
        .ok_or_else(|| bad("the path is not UTF-8"))?
        .to_string();
    Ok((name, files::Contents::Bytes(trace_json(report))))
}

/// Refuses, before anything runs, a `--trace` without the emulator (only it records the trace the
/// model replays) and a path that cannot be a new regular file (a directory, a FIFO, a device);
/// whether it would replace an input or another output is checked with the outputs.
pub(crate) fn check_trace_path(options: &RunOptions) -> Result<(), RunError> {
    let Some(path) = &options.trace else {
        return Ok(());
    };
    if options.backend != BackendKind::Emulator {
        return Err(RunError::TraceNeedsEmulator {
            backend: options.backend.name(),
        });
    }
    let refuse = |why: &str| {
        Err(RunError::TraceFile {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string()),
        })
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => refuse("it is a directory"),
        Ok(m) if !m.is_file() => refuse("it is not a regular file (a FIFO or a device)"),
        _ => Ok(()),
    }
}

/// Why a run could not be done. (Outputs beyond tolerance are not an error; see
/// [`RunReport::passed`].)
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The kernel could not be loaded from its source: diagnostics (rendered in `LoadError`), no
    /// kernel of the given name, static dims that do not fit ([`crate::load`]).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A kernel of a program directory that cannot be used.
    #[error("{0}")]
    Kernel(String),
    /// The inputs could not be resolved: a wrong name, an unreadable file, bad data, a dim that
    /// contradicts an input, a size over the limits.
    #[error(transparent)]
    Inputs(#[from] InputError),
    /// A `MOGE_*` environment variable is set to a value that cannot be used.
    #[error(transparent)]
    Environment(#[from] EnvError),
    /// The compiler refused the kernel.
    #[error("kernel `{kernel}` cannot be compiled: {source}")]
    Codegen {
        /// The kernel.
        kernel: String,
        /// Why.
        source: CodegenError,
    },
    /// The backend is not available.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The launch failed (inputs that do not fit the manifest, a kernel that failed on the backend).
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// The interpreter failed on the inputs.
    #[error("kernel `{kernel}`: the reference interpreter failed: {source}")]
    Eval {
        /// The kernel.
        kernel: String,
        /// Why.
        source: Box<EvalError>,
    },
    /// The interpreter and the device returned different numbers of outputs (a bug in moge).
    #[error(
        "kernel `{kernel}`: the device returned {device} outputs, the interpreter {interpreter}"
    )]
    OutputCount {
        /// The kernel.
        kernel: String,
        /// Outputs of the launch.
        device: usize,
        /// Outputs of the interpreter.
        interpreter: usize,
    },
    /// The outputs could not be written (nothing was: see [`crate::files::write_all`]).
    #[error(transparent)]
    Output(#[from] WriteError),
    /// `--trace` asked of a backend that records no trace to model.
    #[error("--trace writes the modeled timeline, which only the emulator backend records; the {backend} backend measures the device's own time (report.json `wall_us`)")]
    TraceNeedsEmulator {
        /// The backend's name.
        backend: &'static str,
    },
    /// The modeled timeline (`--trace`) could not be written.
    #[error("cannot write the modeled timeline to `{}`: {source}", path.display())]
    TraceFile {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// `--timing-only` asked of a backend that does not run the emulator.
    #[error("--timing-only skips the arithmetic on moge's emulator to model the run; the {backend} backend runs the kernels as they are (drop --timing-only)")]
    TimingOnlyNeedsEmulator {
        /// The backend's name.
        backend: &'static str,
    },
    /// `--timing-only` on a program one of whose device kernels reads tensor data into its
    /// control flow (`GetValue`), which that mode never computes.
    #[error("--timing-only cannot model device kernel `{kernel}`: it reads values from tensors (GetValue) and its control flow depends on them, but timing-only mode computes no data; run it without --timing-only")]
    TimingOnlyDataDependent {
        /// The device kernel.
        kernel: String,
    },
    /// A build directory (or a file in it) could not be read.
    #[error("cannot read `{}`: {source}", dir.display())]
    ReadDir {
        /// The directory or file.
        dir: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A build directory has no manifest.
    #[error("`{}` holds no moge manifest (the `.json` file `mogec build --emit ascendc,manifest` writes next to the `.cpp` files)", dir.display())]
    NoManifest {
        /// The directory.
        dir: PathBuf,
    },
    /// A build directory has several manifests.
    #[error("`{}` holds several moge manifests ({names}); keep one program per directory", dir.display())]
    ManyManifests {
        /// The directory.
        dir: PathBuf,
        /// Their file names, quoted.
        names: String,
    },
    /// The graph of a build directory does not parse or verify.
    #[error("`{}`: not a valid graph: {message}", path.display())]
    Graph {
        /// The `.graph` file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The graph and the manifest of a build directory describe different programs.
    #[error("`{}` and `{}` describe different programs: {message}", graph.display(), manifest.display())]
    GraphMismatch {
        /// The `.graph` file.
        graph: PathBuf,
        /// The manifest.
        manifest: PathBuf,
        /// How they differ.
        message: String,
    },
    /// A kernel source of a build directory does not compile.
    #[error("kernel `{kernel}`: `{}` does not compile:\n{errors}", file.display())]
    KernelCompile {
        /// The device kernel.
        kernel: String,
        /// Its source file.
        file: PathBuf,
        /// The compiler's messages (the first lines), naming the file.
        errors: String,
    },
}

impl RunError {
    /// The exit status `mogec` uses for this error: 1 for errors in the kernel, its data or its run,
    /// 2 for usage errors (unknown names, unreadable files, an unavailable backend).
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Load(err) => err.exit_code(),
            RunError::Kernel(_)
            | RunError::Backend(_)
            | RunError::Environment(_)
            | RunError::Output(_)
            | RunError::TraceFile { .. }
            | RunError::TraceNeedsEmulator { .. }
            | RunError::TimingOnlyNeedsEmulator { .. }
            | RunError::TimingOnlyDataDependent { .. }
            | RunError::ReadDir { .. }
            | RunError::NoManifest { .. }
            | RunError::ManyManifests { .. }
            // A build directory that is not a valid program (a manifest of another version or
            // with a malformed field, such as an unknown target; a graph that does not parse or
            // describes another program) is bad input, as a missing file in it is.
            | RunError::Graph { .. }
            | RunError::GraphMismatch { .. }
            | RunError::Launch(
                LaunchError::Read { .. } | LaunchError::Source { .. } | LaunchError::BadManifest(_),
            ) => 2,
            // An unusable CANN install, device or target met only at the launch is a setup
            // error, as it is when the backend is opened.
            RunError::Launch(LaunchError::Backend {
                source: BackendError::Acl(error),
                ..
            }) if error.is_setup() => 2,
            // A target the timing model does not know is a usage error.
            RunError::Launch(LaunchError::Backend {
                source: BackendError::Model(ModelError::UnknownTarget { .. }),
                ..
            }) => 2,
            RunError::Inputs(err) => err.exit_code(),
            // A lowering that failed its own checks is a bug in moge, not in the kernel.
            RunError::Codegen { source, .. } if source.is_internal() => 101,
            _ => 1,
        }
    }
}

/// One output of a run: where it was written and how it compares with the interpreter.
#[derive(Clone, Debug)]
pub struct OutputReport {
    /// The output's name.
    pub name: String,
    /// The `.npy` file written.
    pub file: PathBuf,
    /// The comparison with the interpreter (`None` when nothing was compared: a build directory
    /// without its graph).
    pub comparison: Option<Comparison>,
    /// When nothing was compared: how many elements of a floating-point output are NaN (uninitialized
    /// memory reads NaN on the emulator, so a broken hand-edited kernel shows here).
    pub nan_elements: Option<usize>,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The kernel's name.
    pub kernel: String,
    /// The static dims it was specialized with.
    pub bindings: Vec<(Symbol, i64)>,
    /// The launch: device kernels, grid, traffic, UB, times.
    pub launch: LaunchReport,
    /// Every output, in order.
    pub outputs: Vec<OutputReport>,
    /// The random inputs written (empty when inputs were given).
    pub input_files: Vec<PathBuf>,
    /// `report.json`.
    pub report_file: PathBuf,
    /// Time of `compile_program` (scheduling and Ascend C emission).
    pub compile_time: Duration,
    /// Time the backend took to get the kernels ready (the emulator: C++ compile, or a cache hit).
    pub prepare_time: Duration,
    /// Time of the reference interpreter.
    pub interp_time: Duration,
    /// Whether the outputs were compared with the interpreter (not for a build directory without
    /// its graph).
    pub compared: bool,
    /// The modeled timeline written (`--trace`).
    pub trace_file: Option<PathBuf>,
    /// A timing-only run ([`crate::timing_only`]): no arithmetic, no outputs, nothing compared.
    pub timing_only: bool,
    /// The target compiled for (and modeled, unless `--no-model`): recorded whether or not the
    /// model ran, since the launch's block counts depend on it.
    pub target: String,
}

impl RunReport {
    /// Whether every output compared is within tolerance (true when nothing was compared).
    pub fn passed(&self) -> bool {
        self.outputs
            .iter()
            .all(|o| o.comparison.as_ref().is_none_or(Comparison::passed))
    }

    /// The contents of `report.json`.
    pub fn to_json(&self) -> Value {
        let mut value = self.launch.to_json();
        let outputs: Map<String, Value> = self
            .outputs
            .iter()
            .map(|o| {
                let mut entry = o
                    .comparison
                    .as_ref()
                    .map_or_else(|| json!({}), Comparison::to_json);
                if let Value::Object(map) = &mut entry {
                    let file = o.file.file_name().map(|f| f.to_string_lossy().into_owned());
                    map.insert("file".to_string(), json!(file));
                    if let Some(n) = o.nan_elements {
                        map.insert("nan_elements".to_string(), json!(n));
                    }
                }
                (o.name.clone(), entry)
            })
            .collect();
        let bindings: Map<String, Value> = self
            .bindings
            .iter()
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect();
        if let Value::Object(map) = &mut value {
            map.insert("kernel".to_string(), json!(self.kernel));
            map.insert("target".to_string(), json!(self.target));
            map.insert("bindings".to_string(), Value::Object(bindings));
            map.insert("outputs".to_string(), Value::Object(outputs));
            // Nothing compared (a timing-only run, a build directory without its graph): whether
            // the outputs are right is unknown, so `passed` is null rather than a vacuous true.
            let passed = if self.compared {
                json!(self.passed())
            } else {
                Value::Null
            };
            map.insert("passed".to_string(), passed);
            map.insert("compared".to_string(), json!(self.compared));
            map.insert("timing_only".to_string(), json!(self.timing_only));
            if self.timing_only {
                map.insert(
                    "note".to_string(),
                    json!("timing-only run: the emulator traced the kernels without computing any data; the outputs were not computed, not compared with the reference interpreter and not written; only the modeled figures mean anything"),
                );
            }
            map.insert(
                "compile_us".to_string(),
                json!(u64::try_from(self.compile_time.as_micros()).unwrap_or(u64::MAX)),
            );
        }
        value
    }

    /// Writes a short human summary: the launch, then one line per output.
    pub fn write_summary(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.launch)?;
        for o in &self.outputs {
            match &o.comparison {
                Some(c) => writeln!(out, "  output {} -> {}: {c}", o.name, o.file.display())?,
                None => match o.nan_elements {
                    Some(n) if n > 0 => writeln!(
                        out,
                        "  output {} -> {}: written; warning: {n} elements are NaN (a read of memory \
                         nothing wrote? nothing to compare them with)",
                        o.name,
                        o.file.display()
                    )?,
                    _ => writeln!(out, "  output {} -> {}: written", o.name, o.file.display())?,
                },
            }
        }
        for file in &self.input_files {
            writeln!(out, "  input written to {}", file.display())?;
        }
        writeln!(out, "  report: {}", self.report_file.display())?;
        if let Some(file) = &self.trace_file {
            writeln!(
                out,
                "  modeled timeline: {} (Chrome trace events: Perfetto, chrome://tracing)",
                file.display()
            )?;
        }
        if self.timing_only {
            writeln!(
                out,
                "timing-only: no arithmetic was done; outputs not computed, not compared with the reference interpreter, not written (only the modeled figures mean anything)"
            )
        } else if !self.compared {
            writeln!(
                out,
                "not compared: there is no graph to run the reference interpreter on (emit it with `mogec build --emit graph,...`); the outputs were written as the kernels computed them"
            )
        } else if self.passed() {
            writeln!(out, "ok: every output matches the reference interpreter")
        } else {
            let bad: Vec<&str> = self
                .outputs
                .iter()
                .filter(|o| !o.comparison.as_ref().is_none_or(Comparison::passed))
                .map(|o| o.name.as_str())
                .collect();
            writeln!(
                out,
                "mismatch: {} beyond tolerance of the reference interpreter",
                bad.join(", ")
            )
        }
    }
}

/// The result of running a compiled program on one set of inputs and checking it.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The backend's outputs and the launch report.
    pub launched: Launched,
    /// The interpreter's outputs.
    pub expected: Vec<Tensor>,
    /// One comparison per output, in order.
    pub comparisons: Vec<Comparison>,
    /// Time of the interpreter.
    pub interp_time: Duration,
}

impl Checked {
    /// Whether every output is within tolerance.
    pub fn passed(&self) -> bool {
        self.comparisons.iter().all(Comparison::passed)
    }
}

/// Launches `program` (compiled from `kernel`) on `inputs` through `backend`, evaluates `kernel` on the
/// same inputs with the interpreter, and compares the outputs.
pub fn check_program(
    kernel: &Kernel,
    program: &Program,
    inputs: &[Tensor],
    backend: &dyn Backend,
) -> Result<Checked, RunError> {
    let sources = launch::program_sources(program);
    let program_ref = ProgramRef::new(&program.manifest, &sources)?;
    let launched = launch::launch(program_ref, inputs, backend)?;
    let start = Instant::now();
    let (expected, bounds) =
        interp::eval_with_bounds(kernel, inputs).map_err(|source| RunError::Eval {
            kernel: kernel.name.clone(),
            source: Box::new(source),
        })?;
    let interp_time = start.elapsed();
    if expected.len() != launched.outputs.len() {
        return Err(RunError::OutputCount {
            kernel: kernel.name.clone(),
            device: launched.outputs.len(),
            interpreter: expected.len(),
        });
    }
    let comparisons = launched
        .outputs
        .iter()
        .zip(expected.iter().zip(&bounds))
        .map(|(got, (want, bound))| report::compare_bounded(got, want, bound))
        .collect();
    Ok(Checked {
        launched,
        expected,
        comparisons,
        interp_time,
    })
}

/// Compiles the specialized `kernel`, runs it on `options.backend`, checks it against the interpreter
/// and writes the outputs, the random inputs (if any) and `report.json` into `out_dir` (created if
/// needed). See the module documentation.
pub fn run_program(
    kernel: &Kernel,
    inputs: RunInputs,
    out_dir: &Path,
    options: &RunOptions,
) -> Result<RunReport, RunError> {
    if options.timing_only {
        return crate::timing_only::run_timing_only(kernel, inputs, out_dir, options);
    }
    limits::check_environment()?;
    check_trace_path(options)?;
    let random = matches!(inputs, RunInputs::Random { .. });
    let resolved = inputs::resolve(kernel, inputs, &options.dims, Consumer::Device)?;
    let input_paths = resolved.input_paths();
    let inputs = resolved.tensors;
    let backend = options.create_backend()?;

    let start = Instant::now();
    let program = options.compile(kernel)?;
    let compile_time = start.elapsed();
    let sources = launch::program_sources(&program);
    let prepare_time = launch::prepare(ProgramRef::new(&program.manifest, &sources)?, &*backend)?;
    let mut checked = check_program(kernel, &program, &inputs, &*backend)?;
    // With routing, only the experts some token is routed to must be read (`crate::layer`).
    if crate::layer::has_route(kernel) {
        checked.launched.report.compulsory_bytes =
            crate::layer::compulsory_bytes(kernel, &inputs, &checked.launched.outputs);
    }

    // File names as `mogec eval` chooses them.
    let names = files::npy_names(kernel, random);
    let mut files: Vec<(String, Contents<'_>)> = Vec::new();
    let mut outputs = Vec::new();
    for (((output, tensor), comparison), name) in kernel
        .outputs
        .iter()
        .zip(&checked.launched.outputs)
        .zip(&checked.comparisons)
        .zip(&names.outputs)
    {
        files.push((name.clone(), Contents::Npy(tensor)));
        outputs.push(OutputReport {
            name: output.name.clone(),
            file: out_dir.join(name),
            comparison: Some(comparison.clone()),
            nan_elements: None,
        });
    }
    let mut input_files = Vec::new();
    for (tensor, name) in inputs.iter().zip(&names.inputs) {
        files.push((name.clone(), Contents::Npy(tensor)));
        input_files.push(out_dir.join(name));
    }
    let report = RunReport {
        kernel: kernel.name.clone(),
        bindings: kernel.bound.clone(),
        launch: checked.launched.report.clone(),
        outputs,
        input_files,
        report_file: out_dir.join("report.json"),
        compile_time,
        prepare_time,
        interp_time: checked.interp_time,
        compared: true,
        trace_file: options.trace.clone(),
        timing_only: false,
        target: options.target.name.to_string(),
    };
    let mut keep = input_paths;
    keep.extend(options.keep.iter().cloned());
    write_outputs(out_dir, &report, files, options.trace.as_deref(), &keep)?;
    Ok(report)
}

/// Writes `files`, `report.json` of `report` and the `--trace` file at `trace` into `out_dir`: all
/// or none, never over a path of `keep` (the run's inputs).
pub(crate) fn write_outputs(
    out_dir: &Path,
    report: &RunReport,
    mut files: Vec<(String, Contents<'_>)>,
    trace: Option<&Path>,
    keep: &[PathBuf],
) -> Result<(), RunError> {
    let mut json = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
    json.push('\n');
    files.push((
        "report.json".to_string(),
        Contents::Bytes(json.into_bytes()),
    ));
    if let Some(path) = trace {
        files.push(trace_output(&report.launch, path)?);
    }
    files::write_all(out_dir, &files, keep)?;
    Ok(())
}

/// Parses `source` (a Rust file; `path` names it in diagnostics), picks the kernel `name` (a kernel's
/// path `mod::name`, or a name that only one kernel has; or the only kernel) and specializes it with
/// `set`: [`crate::load::load_kernel`], the loader `mogec` uses too. Errors of the file (a misplaced
/// kernel attribute, duplicate names) refuse it, as in `mogec`.
pub fn load_kernel(
    path: &str,
    source: &str,
    name: Option<&str>,
    set: &[(&str, i64)],
) -> Result<Kernel, RunError> {
    Ok(crate::load::load_kernel(path, source, name, set)?)
}

impl fmt::Display for OutputReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.comparison {
            Some(c) => write!(f, "{}: {c}", self.name),
            None => write!(f, "{}: not compared", self.name),
        }
    }
}
