//! The demo's second part: the whole MoGE FFN layer of Pangu Pro MoE (`moge_ffn`), compiled by the
//! graph optimizer fused and unfused, run on the emulator at a decode size, with the GM traffic of
//! both against the compulsory bytes ([`crate::layer::compulsory_bytes`]), the error against the
//! reference interpreter and the times.

use std::io::Write;
use std::time::{Duration, Instant};

use moge_codegen_ascendc::{compile_program_with, Program};
use moge_lower::opt::FuseMode;
use moge_lower::schedule::ScheduleOptions;
use moge_lower::target::Target;
use moge_lower::Kernel;
use moge_runtime::backend::{Backend, EmulatorBackend};
use moge_runtime::launch::{self, ProgramRef};
use moge_runtime::report::{bytes, duration, Comparison, LaunchReport, ToleranceUsed};

use super::{DemoError, DEMO_SEED};
use crate::run::{check_program, load_kernel, RunError};

/// The source of the MoGE FFN layer example.
pub const FFN_SOURCE: &str = include_str!("../../examples/src/ffn.rs");

/// The layer's kernel.
pub const FFN_KERNEL: &str = "moge_ffn";

/// Pangu Pro MoE's layer: hidden 5120, 64 experts in 8 groups, expert intermediate 1344, shared 5376.
pub const PANGU_FFN: [(&str, i64); 5] =
    [("H", 5120), ("E", 64), ("G", 8), ("I", 1344), ("S", 5376)];

/// The decode size the demo runs the layer at.
pub const LAYER_TOKENS: i64 = 8;

/// One compilation of the layer and its run.
#[derive(Clone, Debug)]
pub struct LayerRun {
    /// `fused` or `unfused`.
    pub mode: &'static str,
    /// Time of `compile_program` (graph optimizer, scheduling, Ascend C).
    pub compile_time: Duration,
    /// The device kernels, in launch order: name, core type.
    pub kernels: Vec<(String, String)>,
    /// The launch.
    pub launch: LaunchReport,
    /// Each output's comparison with the interpreter.
    pub outputs: Vec<(String, Comparison)>,
}

/// What the layer part of the demo did.
#[derive(Clone, Debug)]
pub struct LayerDemo {
    /// Tokens.
    pub tokens: i64,
    /// Experts some token was routed to.
    pub experts_used: usize,
    /// The compulsory GM bytes.
    pub compulsory: u64,
    /// Fused, then unfused.
    pub runs: Vec<LayerRun>,
}

impl LayerDemo {
    /// Whether every output of both runs is within tolerance.
    pub fn passed(&self) -> bool {
        self.runs
            .iter()
            .all(|r| r.outputs.iter().all(|(_, c)| c.passed()))
    }
}

fn compile(
    kernel: &Kernel,
    target: &Target,
    fuse: FuseMode,
) -> Result<(Program, Duration), RunError> {
    let start = Instant::now();
    let options = ScheduleOptions {
        fuse,
        ..ScheduleOptions::default()
    };
    let program =
        compile_program_with(kernel, target, &options).map_err(|source| RunError::Codegen {
            kernel: kernel.name.clone(),
            source,
        })?;
    Ok((program, start.elapsed()))
}

/// Runs the layer part, printing to `out`.
pub fn layer_demo(out: &mut dyn Write, tokens: i64) -> Result<LayerDemo, DemoError> {
    let target = Target::default();
    writeln!(
        out,
        "the MoGE FFN layer of Pangu Pro MoE ({FFN_KERNEL}: H = 5120, E = 64 experts in G = 8 groups, \
         I = 1344, shared S = 5376) at T = {tokens} tokens: router, routing, grouped GEMMs, SwiGLU, \
         combine, shared expert"
    )?;
    let kernel = load_kernel(
        "examples/src/ffn.rs",
        FFN_SOURCE,
        Some(FFN_KERNEL),
        &PANGU_FFN,
    )?;
    // Through the run's input path, so the shapes are checked against the host-memory budget
    // (`MOGE_MEMORY_LIMIT`) before 2.6 GB of expert weights are made.
    let inputs = crate::inputs::resolve(
        &kernel,
        crate::inputs::RunInputs::Random {
            seed: DEMO_SEED,
            dims: vec![("T".to_string(), tokens)],
        },
        &[],
        crate::inputs::Consumer::Device,
    )
    .map_err(RunError::from)?
    .tensors;
    let backend = EmulatorBackend::default();
    let mut runs = Vec::new();
    let mut compulsory = 0;
    let mut experts_used = 0;
    for (mode, fuse) in [("fused", FuseMode::All), ("unfused", FuseMode::None)] {
        let (program, compile_time) = compile(&kernel, &target, fuse)?;
        let sources = launch::program_sources(&program);
        launch::prepare(
            ProgramRef::new(&program.manifest, &sources).map_err(RunError::from)?,
            &backend,
        )
        .map_err(RunError::from)?;
        let checked = check_program(&kernel, &program, &inputs, &backend as &dyn Backend)?;
        compulsory = crate::layer::compulsory_bytes(&kernel, &inputs, &checked.launched.outputs);
        experts_used =
            crate::layer::experts_used(&kernel, &inputs, &checked.launched.outputs).unwrap_or(0);
        let kernels = program
            .manifest
            .kernels
            .iter()
            .map(|k| (k.name.clone(), k.core_type.to_string()))
            .collect();
        let outputs = kernel
            .outputs
            .iter()
            .map(|o| o.name.clone())
            .zip(checked.comparisons)
            .collect();
        runs.push(LayerRun {
            mode,
            compile_time,
            kernels,
            launch: checked.launched.report,
            outputs,
        });
    }
    for r in &runs {
        let list: Vec<String> = r
            .kernels
            .iter()
            .map(|(name, core)| format!("{} ({core})", name.trim_start_matches("moge_ffn_")))
            .collect();
        writeln!(
            out,
            "  {:<8} {} device kernels, compiled in {}: {}",
            r.mode,
            r.kernels.len(),
            duration(r.compile_time),
            list.join(", ")
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "  {:<8} {:>10} {:>10} {:>10} {:>7} {:>12} {:>13} {:>11} {:>9}",
        "",
        "GM read",
        "GM write",
        "GM total",
        "ratio",
        "max abs err",
        "err / allowed",
        "mismatches",
        "wall"
    )?;
    for r in &runs {
        let total = r.launch.gm_bytes().unwrap_or(0);
        let max_abs = r
            .outputs
            .iter()
            .map(|(_, c)| c.max_abs_err)
            .fold(0.0, f64::max);
        let mismatches: usize = r.outputs.iter().map(|(_, c)| c.mismatches).sum();
        let elements: usize = r.outputs.iter().map(|(_, c)| c.elements).sum();
        // The worst error as a fraction of what the graph's error bound allows (values of this
        // layer on random inputs reach 1e8, so absolute errors look large).
        let ratio = r
            .outputs
            .iter()
            .filter_map(|(_, c)| match c.tolerance {
                ToleranceUsed::Bound { max_err_ratio, .. } => Some(max_err_ratio),
                ToleranceUsed::Table { .. } => None,
            })
            .fold(0.0, f64::max);
        writeln!(
            out,
            "  {:<8} {:>10} {:>10} {:>10} {:>7} {:>12} {:>13} {:>11} {:>9}",
            r.mode,
            bytes(r.launch.gm_bytes_read().unwrap_or(0)),
            bytes(r.launch.gm_bytes_written().unwrap_or(0)),
            bytes(total),
            format!("{:.3}", total as f64 / compulsory.max(1) as f64),
            format!("{max_abs:.1e}"),
            format!("{ratio:.1e}"),
            format!("{mismatches}/{elements}"),
            duration(r.launch.wall()),
        )?;
    }
    writeln!(
        out,
        "  {:<8} {:>10} {:>10} {:>10} {:>7}   (the weights of the {experts_used} experts used, the \
         shared expert and the router once; x once; outputs once; the routing table)",
        "compulsory",
        "",
        "",
        bytes(compulsory),
        "1.000"
    )?;
    writeln!(
        out,
        "  Errors: against the interpreter, element by element within 2 B + 1 ulp, B the error bound it \
         derives from the graph (the fused layer rounds less often: the shared expert stays f32 in the \
         accumulator, the routed rows are added atomically in any order). err / allowed: the worst \
         element's error over what it is allowed."
    )?;
    writeln!(out)?;
    Ok(LayerDemo {
        tokens,
        experts_used,
        compulsory,
        runs,
    })
}
