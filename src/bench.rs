//! `mogec bench`: one kernel swept over a dynamic dim on the emulator with the timing model on.
//!
//! [`bench()`] compiles the specialized kernel once, then runs it at every size of the [`Sweep`] on
//! deterministic random inputs: normally checked against the reference interpreter as `mogec run`
//! does (a size whose outputs are beyond tolerance is a failed row), or with
//! [`BenchOptions::timing_only`] in timing-only mode ([`crate::timing_only`]). A size that fails
//! (limits, a kernel error, a mismatch) becomes a failed row with its reason, and the sweep goes on.
//!
//! Each row has the **modeled** figures of [`moge_runtime::model`] (time, bound, HBM bytes,
//! achieved TB/s or TFLOPS), the emulator's GM counters and the compulsory bytes, the emulator's
//! host time, and a roofline time: the launches plus the larger of the compulsory bytes at the
//! target's HBM bandwidth and (for kernels using the cube) the flops at the cube's peak. [`csv`],
//! [`svg`] and [`table`] render the rows; the modeled time in `bench.csv` is the very number
//! `report.json` of `mogec run` gives at that size (`"modeled"."time_us"`).
//!
//! One dim is swept: the other dynamic dims of the kernel take one value each (a cartesian product
//! of two lists would not fit one plot's axis; run one sweep per value instead).

use std::fmt::Write as _;
use std::time::Duration;

use moge_codegen_ascendc::Program;
use moge_lower::graph::Kernel;
use moge_lower::opt::FuseMode;
use moge_lower::target::Target;
use moge_runtime::backend::{Backend, BackendKind};
use moge_runtime::launch::{self, ProgramRef};
use moge_runtime::model::{Bound, Params};
use moge_runtime::report::LaunchReport;
use serde_json::Value;

use crate::inputs::{self, Consumer, RunInputs};
use crate::run::{check_program, RunError, RunOptions};

mod plot;

pub use plot::svg;

/// The default sweeps of the example kernels (`examples/src`), by kernel name: the one place
/// they are stated. Sizes stay where a run fits in memory on a developer machine.
pub const DEFAULT_SWEEPS: &[(&str, &str, &[i64])] = &[
    ("moge_gate", "T", &[1, 8, 64, 456, 4096]),
    ("moge_router", "T", &[1, 8, 64, 456, 4096]),
    ("moge_ffn", "T", &[1, 8, 64, 456]),
    ("softmax_f32", "T", &[1, 64, 1024, 4096]),
    ("softmax_bf16", "T", &[1, 64, 1024, 4096]),
    ("rmsnorm", "T", &[1, 64, 1024, 4096]),
    ("gemm", "M", &[16, 128, 1024]),
    ("linear_relu", "M", &[16, 128, 1024]),
    ("linear_silu", "M", &[16, 128, 1024]),
];

/// The sizes a bench runs: one swept dim with its sizes, the other dynamic dims fixed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sweep {
    /// The swept dim.
    pub dim: String,
    /// Its sizes; [`bench()`] runs them in ascending order, so rows, CSV and plot are sorted.
    pub sizes: Vec<i64>,
    /// Other dynamic dims, one value each.
    pub fixed: Vec<(String, i64)>,
}

impl Sweep {
    /// The default sweep of an example kernel ([`DEFAULT_SWEEPS`]), `None` for other kernels.
    pub fn default_for(kernel: &str) -> Option<Sweep> {
        DEFAULT_SWEEPS
            .iter()
            .find(|(name, _, _)| *name == kernel)
            .map(|(_, dim, sizes)| Sweep {
                dim: dim.to_string(),
                sizes: sizes.to_vec(),
                fixed: Vec::new(),
            })
    }

    /// The dims of the run at `size`: the swept one, then the fixed ones.
    pub fn dims_at(&self, size: i64) -> Vec<(String, i64)> {
        let mut dims = vec![(self.dim.clone(), size)];
        dims.extend(self.fixed.iter().cloned());
        dims
    }
}

/// How to bench.
#[derive(Clone, Debug, Default)]
pub struct BenchOptions {
    /// The target compiled for and modeled.
    pub target: Target,
    /// How much the graph optimizer fuses.
    pub fuse: FuseMode,
    /// How the cube path scores a matmul's candidate tiles (`--tiling rule|model`).
    pub tiling: moge_lower::schedule::cube::Tiling,
    /// Run in timing-only mode (no arithmetic, nothing compared).
    pub timing_only: bool,
    /// The seed of the random inputs.
    pub seed: u64,
}

/// The figures of one size that ran.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// Modeled time, microseconds, as `report.json` states it (`"modeled"."time_us"`).
    pub time_us: f64,
    /// The modeled bound.
    pub bound: Bound,
    /// GM bytes moved (read + written), the emulator's counters.
    pub gm_bytes: u64,
    /// Modeled HBM bytes (read + written, after the L2).
    pub hbm_bytes: u64,
    /// Each input read once, each output written once.
    pub compulsory_bytes: u64,
    /// The roofline time, microseconds (see the module docs).
    pub roofline_us: f64,
    /// Modeled achieved rate: TB/s of HBM traffic, or TFLOPS for kernels using the cube.
    pub achieved: f64,
    /// The target's peak in the same unit.
    pub peak: f64,
    /// Whether the rate is TFLOPS (cube kernels) rather than TB/s.
    pub flops: bool,
    /// Host time of the emulator (all kernels).
    pub emulator: Duration,
}

/// One size of the sweep: its dims and what came of it.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchRow {
    /// The size of the swept dim.
    pub size: i64,
    /// The figures, or why the size failed.
    pub outcome: Result<Measured, String>,
}

/// Compiles `kernel` (specialized) once and runs it at every size of `sweep`; `progress` is told
/// `(index, count, size)` before each size. Errors that concern the whole sweep (a kernel that does
/// not compile, an unavailable backend, timing-only on a data-dependent kernel) are returned; a size
/// that fails is a row with its reason.
pub fn bench(
    kernel: &Kernel,
    sweep: &Sweep,
    options: &BenchOptions,
    progress: &mut dyn FnMut(usize, usize, i64),
) -> Result<Vec<BenchRow>, RunError> {
    moge_runtime::limits::check_environment()?;
    let run_options = RunOptions {
        target: options.target.clone(),
        backend: BackendKind::Emulator,
        model: true,
        timing_only: options.timing_only,
        fuse: options.fuse,
        tiling: options.tiling,
        ..RunOptions::default()
    };
    let params = Params::for_target(options.target.name)
        .map_err(|e| RunError::Backend(moge_runtime::backend::BackendError::Model(e.into())))?;
    let program = run_options.compile(kernel)?;
    if options.timing_only {
        crate::timing_only::check_timing_only(
            &run_options,
            program
                .kernels
                .iter()
                .map(|k| (k.name.as_str(), k.source.as_str())),
        )?;
    }
    let backend = run_options.create_backend()?;
    let sources = launch::program_sources(&program);
    launch::prepare(ProgramRef::new(&program.manifest, &sources)?, &*backend)?;
    // Ascending, whatever the order given: the CSV reads top to bottom and the plot's line joins
    // neighbours, not a zigzag.
    let mut sizes = sweep.sizes.clone();
    sizes.sort_unstable();
    let mut rows = Vec::with_capacity(sizes.len());
    for (index, &size) in sizes.iter().enumerate() {
        progress(index, sizes.len(), size);
        let outcome = run_size(kernel, &program, &*backend, sweep, size, options)
            .and_then(|report| measure(&report, &params));
        rows.push(BenchRow { size, outcome });
    }
    Ok(rows)
}

/// Runs one size; its launch report, or why it failed (one line).
fn run_size(
    kernel: &Kernel,
    program: &Program,
    backend: &dyn Backend,
    sweep: &Sweep,
    size: i64,
    options: &BenchOptions,
) -> Result<LaunchReport, String> {
    let inputs = if options.timing_only {
        RunInputs::Zeros {
            dims: sweep.dims_at(size),
        }
    } else {
        RunInputs::Random {
            seed: options.seed,
            dims: sweep.dims_at(size),
        }
    };
    let consumer = if options.timing_only {
        Consumer::Timing
    } else {
        Consumer::Device
    };
    let resolved = inputs::resolve(kernel, inputs, &[], consumer).map_err(|e| e.to_string())?;
    let sources = launch::program_sources(program);
    let program_ref = ProgramRef::new(&program.manifest, &sources).map_err(|e| e.to_string())?;
    if options.timing_only {
        let launched =
            launch::launch(program_ref, &resolved.tensors, backend).map_err(|e| e.to_string())?;
        return Ok(launched.report);
    }
    let mut checked =
        check_program(kernel, program, &resolved.tensors, backend).map_err(|e| e.to_string())?;
    if !checked.passed() {
        let bad: Vec<String> = kernel
            .outputs
            .iter()
            .zip(&checked.comparisons)
            .filter(|(_, c)| !c.passed())
            .map(|(o, c)| format!("`{}` ({c})", o.name))
            .collect();
        return Err(format!(
            "outputs beyond tolerance of the reference interpreter: {}",
            bad.join(", ")
        ));
    }
    // With routing, only the experts some token is routed to must be read, as in `mogec run`.
    if crate::layer::has_route(kernel) {
        checked.launched.report.compulsory_bytes =
            crate::layer::compulsory_bytes(kernel, &resolved.tensors, &checked.launched.outputs);
    }
    Ok(checked.launched.report)
}

/// The figures of a launch report.
fn measure(report: &LaunchReport, params: &Params) -> Result<Measured, String> {
    let model = report
        .modeled()
        .ok_or_else(|| "the launch was not modeled (a bug in moge)".to_string())?;
    // The time as report.json states it, so that the CSV and a plain run agree to the digit.
    let json = report.to_json();
    let time_us = json
        .get("modeled")
        .and_then(|m| m.get("time_us"))
        .and_then(Value::as_f64)
        .unwrap_or(model.time_us);
    let cube_us = model
        .resources
        .iter()
        .find(|(b, _)| *b == Bound::Cube)
        .map_or(0.0, |(_, t)| *t);
    let flops = cube_us > 0.0;
    let cycle_hz = params.clock_ghz * 1e9;
    let hbm_peak = params.hbm_rate * cycle_hz / 1e12;
    // bf16 / fp16: one 16 x 16 x 16 fractal per cycle per AI core (Params::mmad_cycles).
    let cube_peak = f64::from(params.ai_cores) * 2.0 * 16.0 * 16.0 * 16.0 * cycle_hz / 1e12;
    let launches = report.kernels.len() as f64 * params.launch_us;
    let memory_us = report.compulsory_bytes as f64 / (hbm_peak * 1e6);
    let compute_us = if flops {
        model.flops / (cube_peak * 1e6)
    } else {
        0.0
    };
    let gm_bytes = report.gm_bytes().unwrap_or(0);
    Ok(Measured {
        time_us,
        bound: model.bound,
        gm_bytes,
        hbm_bytes: model.hbm_bytes_read + model.hbm_bytes_written,
        compulsory_bytes: report.compulsory_bytes,
        roofline_us: launches + memory_us.max(compute_us),
        achieved: if flops {
            model.tflops()
        } else {
            model.tb_per_s()
        },
        peak: if flops { cube_peak } else { hbm_peak },
        flops,
        emulator: report.wall(),
    })
}

/// Whether any row failed.
pub fn any_failed(rows: &[BenchRow]) -> bool {
    rows.iter().any(|r| r.outcome.is_err())
}

/// What a bench modeled, recorded in every row of `bench.csv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchInfo {
    /// The kernel's path in its file (`name`, or `module::name` for a kernel in an inline module).
    pub kernel: String,
    /// The target compiled for and modeled.
    pub target: String,
    /// Whether the sizes ran in timing-only mode.
    pub timing_only: bool,
    /// The static dims the kernel was specialized with (`--set`), in the order given.
    pub static_dims: Vec<(String, i64)>,
}

/// The columns after the figures of `bench.csv`: what was modeled.
const INFO_COLUMNS: [&str; 4] = ["kernel", "target", "timing_only", "static_dims"];

/// `bench.csv`: a header, then one row per size. Columns: the swept dim and the fixed dims by name,
/// `modeled_time_us`, `bound`, `gm_bytes`, `hbm_bytes`, `compulsory_bytes`, `emulator_ms`,
/// `roofline_us` and `status` (`ok`, or `failed: REASON`; the figures of a failed row are empty),
/// then what was modeled ([`BenchInfo`]): `kernel`, `target`, `timing_only` (`true`/`false`) and
/// `static_dims` (`NAME=VALUE` separated by `;`, empty when none).
pub fn csv(info: &BenchInfo, sweep: &Sweep, rows: &[BenchRow]) -> String {
    let mut out = String::new();
    let mut header: Vec<String> = vec![sweep.dim.clone()];
    header.extend(sweep.fixed.iter().map(|(n, _)| n.clone()));
    header.extend(
        [
            "modeled_time_us",
            "bound",
            "gm_bytes",
            "hbm_bytes",
            "compulsory_bytes",
            "emulator_ms",
            "roofline_us",
            "status",
        ]
        .map(String::from),
    );
    header.extend(INFO_COLUMNS.map(String::from));
    let static_dims: Vec<String> = info
        .static_dims
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let info_cells = [
        csv_quote(&info.kernel),
        csv_quote(&info.target),
        info.timing_only.to_string(),
        csv_quote(&static_dims.join(";")),
    ];
    let _ = writeln!(out, "{}", header.join(","));
    for row in rows {
        let mut cells: Vec<String> = vec![row.size.to_string()];
        cells.extend(sweep.fixed.iter().map(|(_, v)| v.to_string()));
        match &row.outcome {
            Ok(m) => cells.extend([
                m.time_us.to_string(),
                m.bound.name().to_string(),
                m.gm_bytes.to_string(),
                m.hbm_bytes.to_string(),
                m.compulsory_bytes.to_string(),
                format!("{:.3}", m.emulator.as_secs_f64() * 1e3),
                format!("{:.4}", m.roofline_us),
                "ok".to_string(),
            ]),
            Err(reason) => {
                cells.extend(std::iter::repeat_n(String::new(), 7));
                cells.push(csv_quote(&format!("failed: {reason}")));
            }
        }
        cells.extend(info_cells.iter().cloned());
        let _ = writeln!(out, "{}", cells.join(","));
    }
    out
}

/// The kernel an earlier `bench.csv` recorded (its first row's `kernel` column); `None` when it
/// records none (no such column, no row).
pub fn recorded_kernel(csv: &str) -> Option<String> {
    let mut lines = csv.lines();
    if !lines.next()?.split(',').any(|c| c == "kernel") {
        return None;
    }
    // The info columns are last and hold no comma, but a failed row's status may: count from
    // the end.
    let from_end = INFO_COLUMNS.len() - INFO_COLUMNS.iter().position(|c| *c == "kernel")?;
    let cells: Vec<&str> = lines.next()?.rsplitn(from_end + 1, ',').collect();
    cells
        .get(from_end - 1)
        .map(|c| c.trim_matches('"').to_string())
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_quote(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The table `mogec bench` prints: one line per size, every modeled figure labeled "modeled".
pub fn table(kernel: &str, target: &str, sweep: &Sweep, rows: &[BenchRow]) -> String {
    let mut out = String::new();
    let fixed: Vec<String> = sweep
        .fixed
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let _ = writeln!(
        out,
        "{kernel} on {target}{}: modeled on the timing model of {target} (not measured); emulator ms is host time",
        if fixed.is_empty() {
            String::new()
        } else {
            format!(" ({})", fixed.join(", "))
        }
    );
    let _ = writeln!(
        out,
        "{:>8}  {:>12}  {:>12}  {:>7}  {:>26}  {:>14}  {:>11}",
        sweep.dim,
        "modeled us",
        "roofline us",
        "bound",
        "modeled rate (% of peak)",
        "GM/compulsory",
        "emulator ms"
    );
    for row in rows {
        match &row.outcome {
            Ok(m) => {
                let rate = format!(
                    "{:.3} {} ({:.1}%)",
                    m.achieved,
                    if m.flops { "TFLOPS" } else { "TB/s" },
                    100.0 * m.achieved / m.peak
                );
                let ratio = if m.compulsory_bytes > 0 {
                    format!("{:.2}", m.gm_bytes as f64 / m.compulsory_bytes as f64)
                } else {
                    "-".to_string()
                };
                let _ = writeln!(
                    out,
                    "{:>8}  {:>12.3}  {:>12.3}  {:>7}  {:>26}  {:>14}  {:>11.1}",
                    row.size,
                    m.time_us,
                    m.roofline_us,
                    m.bound.name(),
                    rate,
                    ratio,
                    m.emulator.as_secs_f64() * 1e3
                );
            }
            Err(reason) => {
                let _ = writeln!(out, "{:>8}  failed: {reason}", row.size);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_kernel_is_read_from_the_first_row_even_a_failed_one_with_commas() {
        let info = BenchInfo {
            kernel: "inner::sm".to_string(),
            target: "ascend910b2".to_string(),
            timing_only: true,
            static_dims: vec![("N".to_string(), 64)],
        };
        let sweep = Sweep {
            dim: "T".to_string(),
            sizes: vec![1],
            fixed: vec![("S".to_string(), 2)],
        };
        let rows = [BenchRow {
            size: 1,
            outcome: Err("shape [1, 2], \"quoted\"".to_string()),
        }];
        let csv = csv(&info, &sweep, &rows);
        assert!(csv.ends_with(",inner::sm,ascend910b2,true,N=64\n"), "{csv}");
        assert_eq!(recorded_kernel(&csv).as_deref(), Some("inner::sm"));
        // An older bench.csv without the column records no kernel.
        assert_eq!(recorded_kernel("T,modeled_time_us\n1,2.5\n"), None);
    }
}
