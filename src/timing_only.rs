//! `mogec run --timing-only`: the modeled timeline of a shape too large to emulate with arithmetic.
//!
//! Random inputs become zeros of the same shapes ([`RunInputs::Zeros`]): nothing is drawn; with
//! neither random inputs nor files, `--dim` alone gives the shapes (zeros too). The
//! emulator runs every device kernel in timing-only mode
//! ([`CheckMode::timing_only`](moge_runtime::emulator::CheckMode::timing_only)): copies, element-wise
//! vector instructions, Gather and the cube instructions are checked and traced as always but move
//! and compute no data, so the trace the model replays is the same, record for record, as the one
//! of a full run. The outputs therefore hold nothing meaningful: they are not compared with the
//! reference interpreter (which does not run), not written, and `report.json` says so
//! (`"timing_only": true`, `"compared": false`, no per-output figures).
//!
//! Where data decides control flow the mode refuses instead of guessing: a device kernel whose
//! Ascend C reads a value from a tensor (`GetValue`: the routing kernels, a grouped GEMM reading
//! per-expert offsets) is refused before anything runs, naming the kernel
//! ([`RunError::TimingOnlyDataDependent`]); the emulator refuses such a read at run time too, for a
//! build directory whose sources were edited.

use std::path::Path;
use std::time::Instant;

use moge_lower::graph::Kernel;
use moge_runtime::backend::BackendKind;
use moge_runtime::launch::{self, ProgramRef};
use moge_runtime::limits;

use crate::inputs::{self, Consumer};
use crate::run::{check_trace_path, write_outputs, RunError, RunInputs, RunOptions, RunReport};

/// The Ascend C call through which a kernel reads tensor data into its control flow.
const DATA_READ: &str = ".GetValue(";

/// Refuses what timing-only mode cannot do: a backend other than the emulator, and a device kernel
/// whose control flow reads tensor data (`sources` in launch order, named by `names`).
pub(crate) fn check_timing_only<'a>(
    options: &RunOptions,
    kernels: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), RunError> {
    if options.backend != BackendKind::Emulator {
        return Err(RunError::TimingOnlyNeedsEmulator {
            backend: options.backend.name(),
        });
    }
    for (name, source) in kernels {
        if source.contains(DATA_READ) {
            return Err(RunError::TimingOnlyDataDependent {
                kernel: name.to_string(),
            });
        }
    }
    Ok(())
}

/// [`crate::run::run_program`] with `options.timing_only`: compiles, runs in timing-only mode with
/// the model on, and writes `report.json` (and the `--trace` file) only. See the module docs.
pub(crate) fn run_timing_only(
    kernel: &Kernel,
    inputs: RunInputs,
    out_dir: &Path,
    options: &RunOptions,
) -> Result<RunReport, RunError> {
    // A usage error, before anything (the ACL backend's CANN checks included) looks at the backend.
    if options.backend != BackendKind::Emulator {
        return Err(RunError::TimingOnlyNeedsEmulator {
            backend: options.backend.name(),
        });
    }
    limits::check_environment()?;
    check_trace_path(options)?;
    // The data is never looked at: random inputs become zeros of their shapes (nothing drawn),
    // and so does no input at all (`--dim` alone gives the shapes).
    let (inputs, extra_dims) = match inputs {
        RunInputs::Random { dims, .. } => (RunInputs::Zeros { dims }, Vec::new()),
        RunInputs::Files(files) if files.is_empty() => (
            RunInputs::Zeros {
                dims: options.dims.clone(),
            },
            Vec::new(),
        ),
        other => (other, options.dims.clone()),
    };
    let resolved = inputs::resolve(kernel, inputs, &extra_dims, Consumer::Timing)?;
    let input_paths = resolved.input_paths();
    let inputs = resolved.tensors;
    let backend = options.create_backend()?;

    let start = Instant::now();
    let program = options.compile(kernel)?;
    let compile_time = start.elapsed();
    check_timing_only(
        options,
        program
            .kernels
            .iter()
            .map(|k| (k.name.as_str(), k.source.as_str())),
    )?;
    let sources = launch::program_sources(&program);
    let program_ref = ProgramRef::new(&program.manifest, &sources)?;
    let prepare_time = launch::prepare(program_ref, &*backend)?;
    let launched = launch::launch(
        ProgramRef::new(&program.manifest, &sources)?,
        &inputs,
        &*backend,
    )?;
    let report = RunReport {
        kernel: kernel.name.clone(),
        bindings: kernel.bound.clone(),
        launch: launched.report,
        outputs: Vec::new(),
        input_files: Vec::new(),
        report_file: out_dir.join("report.json"),
        compile_time,
        prepare_time,
        interp_time: std::time::Duration::ZERO,
        compared: false,
        trace_file: options.trace.clone(),
        timing_only: true,
        target: options.target.name.to_string(),
    };
    let mut keep = input_paths;
    keep.extend(options.keep.iter().cloned());
    write_outputs(
        out_dir,
        &report,
        Vec::new(),
        options.trace.as_deref(),
        &keep,
    )?;
    Ok(report)
}
