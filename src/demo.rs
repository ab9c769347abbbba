//! `mogec demo`: the MoGE router of Pangu Pro MoE, compiled and run on the emulator, for a newcomer.
//!
//! [`demo`] compiles `moge_gate` (`examples/src/gate.rs`, embedded in the binary so the demo works
//! from any directory) for Pangu Pro MoE's configuration, 64 experts in 8 groups, runs it on the
//! emulator at a decode size (456 tokens) and a prefill size (4096 tokens) on deterministic random
//! logits, and prints what it did: the device kernels, the block dim, UB use, GM traffic against the
//! compulsory bytes (every input read once, every output written once), the error against the
//! reference interpreter and the wall time.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use moge_codegen_ascendc::compile_program;
use moge_lower::interp::random_inputs;
use moge_lower::target::Target;
use moge_runtime::backend::{Backend, EmulatorBackend};
use moge_runtime::launch::{self, ProgramRef};
use moge_runtime::report::{bytes, duration, Comparison, LaunchReport, BOUND_ULPS};

use crate::run::{check_program, load_kernel, RunError};

pub mod layer;

pub use layer::{layer_demo, LayerDemo, LAYER_TOKENS};

/// The source of the MoGE gate example.
pub const GATE_SOURCE: &str = include_str!("../examples/src/gate.rs");

/// The kernel the demo runs.
pub const GATE_KERNEL: &str = "moge_gate";

/// Pangu Pro MoE's router: 64 routed experts in 8 groups.
pub const PANGU_BINDINGS: [(&str, i64); 2] = [("E", 64), ("G", 8)];

/// The token counts the demo runs: a decode batch and a prefill chunk.
pub const DEMO_SIZES: [(&str, i64); 2] = [("decode", 456), ("prefill", 4096)];

/// The seed of the demo's random inputs.
pub const DEMO_SEED: u64 = 2025;

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Compiling, launching or checking failed.
    #[error(transparent)]
    Run(Box<RunError>),
    /// Writing the report failed.
    #[error("cannot write the demo's report: {0}")]
    Io(#[from] io::Error),
}

impl From<RunError> for DemoError {
    fn from(err: RunError) -> DemoError {
        DemoError::Run(Box::new(err))
    }
}

/// One size the demo ran.
#[derive(Clone, Debug)]
pub struct DemoRun {
    /// `decode` or `prefill`.
    pub label: &'static str,
    /// Tokens (`T`).
    pub tokens: i64,
    /// The launch.
    pub launch: LaunchReport,
    /// Each output's name and its comparison with the interpreter.
    pub outputs: Vec<(String, Comparison)>,
}

/// What the demo did.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// Time of `compile_program` (frontend excluded).
    pub compile_time: Duration,
    /// Time the emulator took to get the kernels ready (C++ compile, or a cache hit).
    pub prepare_time: Duration,
    /// The runs, decode first.
    pub runs: Vec<DemoRun>,
    /// The MoGE layer part (`None` when the demo ran the gate only).
    pub layer: Option<LayerDemo>,
}

impl DemoReport {
    /// Whether every output of every run is within tolerance.
    pub fn passed(&self) -> bool {
        self.runs
            .iter()
            .all(|r| r.outputs.iter().all(|(_, c)| c.passed()))
            && self.layer.as_ref().is_none_or(LayerDemo::passed)
    }
}

/// Runs the demo, printing to `out`: the gate at [`DEMO_SIZES`], then the whole MoGE layer at
/// [`LAYER_TOKENS`] tokens, fused and unfused.
pub fn demo(out: &mut dyn Write) -> Result<DemoReport, DemoError> {
    let mut report = demo_with(out, &DEMO_SIZES)?;
    writeln!(out)?;
    let layer = layer_demo(out, LAYER_TOKENS)?;
    writeln!(
        out,
        "{}",
        if layer.passed() {
            "ok: the layer's outputs match the reference interpreter, fused and unfused"
        } else {
            "MISMATCH: some of the layer's outputs are beyond tolerance (see the table)"
        }
    )?;
    writeln!(
        out,
        "next: mogec build examples/src/ffn.rs --kernel moge_ffn --set H=5120,E=64,G=8,I=1344,S=5376 \
         --emit ascendc,manifest,kir,dot -o ffn"
    )?;
    report.layer = Some(layer);
    Ok(report)
}

/// Runs the gate part of the demo at the given sizes (`(label, tokens)`), printing to `out`.
pub fn demo_with(
    out: &mut dyn Write,
    sizes: &[(&'static str, i64)],
) -> Result<DemoReport, DemoError> {
    moge_runtime::limits::check_environment().map_err(RunError::from)?;
    let target = Target::default();
    writeln!(
        out,
        "moge demo: the MoGE router of Pangu Pro MoE ({GATE_KERNEL}, E = 64 experts in G = 8 groups), \
         compiled to Ascend C for {target} and run on moge's CPU emulator"
    )?;
    writeln!(out)?;

    let kernel = load_kernel(
        "examples/src/gate.rs",
        GATE_SOURCE,
        Some(GATE_KERNEL),
        &PANGU_BINDINGS,
    )?;
    let start = Instant::now();
    let program = compile_program(&kernel, &target).map_err(|source| RunError::Codegen {
        kernel: kernel.name.clone(),
        source,
    })?;
    let compile_time = start.elapsed();
    writeln!(
        out,
        "compiled {GATE_KERNEL}<64, 8> in {} (scheduling + Ascend C): {} device kernel{}",
        duration(compile_time),
        program.kernels.len(),
        if program.kernels.len() == 1 { "" } else { "s" }
    )?;
    for entry in &program.manifest.kernels {
        writeln!(
            out,
            "  {} ({}, {}): block_dim = {}, {} rows per tile, UB {} of {} per core",
            entry.name,
            entry.core_type,
            entry.core_type.kernel_type(),
            entry.block_dim,
            entry.tile_rows,
            bytes(entry.ub_bytes),
            bytes(u64::from(target.ub_usable)),
        )?;
    }

    // The timing model is on: each size also gets its modeled 910B time (the gate's trace is small).
    let backend = EmulatorBackend::modeling(false);
    let sources = launch::program_sources(&program);
    let prepare_time = launch::prepare(
        ProgramRef::new(&program.manifest, &sources).map_err(RunError::from)?,
        &backend,
    )
    .map_err(RunError::from)?;
    writeln!(
        out,
        "emulator ready in {} (the C++ build is cached by content hash; later runs skip it)",
        duration(prepare_time)
    )?;
    writeln!(out)?;

    writeln!(
        out,
        "  {:<8} {:>6} {:>6} {:>10} {:>10} {:>10} {:>11} {:>6} {:>12} {:>11} {:>9} {:>11}",
        "size",
        "T",
        "cores",
        "UB used",
        "GM read",
        "GM write",
        "compulsory",
        "ratio",
        "max abs err",
        "mismatches",
        "wall",
        "modeled"
    )?;
    let mut runs = Vec::new();
    for &(label, tokens) in sizes {
        let inputs = random_inputs(&kernel, DEMO_SEED, &[("T", tokens)]).map_err(|source| {
            RunError::Eval {
                kernel: kernel.name.clone(),
                source: Box::new(source),
            }
        })?;
        let checked = check_program(&kernel, &program, &inputs, &backend as &dyn Backend)?;
        let report = checked.launched.report;
        let max_abs = checked
            .comparisons
            .iter()
            .map(|c| c.max_abs_err)
            .fold(0.0, f64::max);
        let mismatches: usize = checked.comparisons.iter().map(|c| c.mismatches).sum();
        let elements: usize = checked.comparisons.iter().map(|c| c.elements).sum();
        let counted = |v: Option<u64>| v.map(bytes).unwrap_or_else(|| "n/a".to_string());
        writeln!(
            out,
            "  {:<8} {:>6} {:>6} {:>10} {:>10} {:>10} {:>11} {:>6} {:>12} {:>11} {:>9} {:>11}",
            label,
            tokens,
            report.block_dim(),
            counted(report.ub_high_water()),
            counted(report.gm_bytes_read()),
            counted(report.gm_bytes_written()),
            bytes(report.compulsory_bytes),
            report
                .traffic_ratio()
                .map(|r| format!("{r:.3}"))
                .unwrap_or_else(|| "n/a".to_string()),
            format!("{max_abs:.1e}"),
            format!("{mismatches}/{elements}"),
            duration(report.wall()),
            report
                .modeled()
                .map(|m| format!("{:.2} us", m.time_us))
                .unwrap_or_else(|| "n/a".to_string()),
        )?;
        let outputs = kernel
            .outputs
            .iter()
            .map(|o| o.name.clone())
            .zip(checked.comparisons)
            .collect();
        runs.push(DemoRun {
            label,
            tokens,
            launch: report,
            outputs,
        });
    }
    let demo = DemoReport {
        compile_time,
        prepare_time,
        runs,
        layer: None,
    };
    writeln!(out)?;
    // The tolerance is stated from the constant `compare_bounded` applies, so the two cannot drift.
    writeln!(
        out,
        "GM traffic: every byte the kernel moves between global memory and the cores; compulsory: every\n\
         input read once plus every output written once (each core reads router_scale once).\n\
         Errors: against moge's reference interpreter on the same inputs; an element passes within\n\
         2 B + {BOUND_ULPS} ulp, B its error bound from the graph (README \"Numeric rules\"; expert i32,\n\
         exact). Wall: the kernel's time inside the emulator. Modeled: the time the kernel would take\n\
         on {target} under moge's timing model (docs/timing-model.md; launch included), not a measurement."
    )?;
    if demo.passed() {
        writeln!(out, "ok: every output matches the reference interpreter")?;
    } else {
        writeln!(
            out,
            "MISMATCH: some outputs are beyond tolerance (see the table)"
        )?;
    }
    writeln!(
        out,
        "next: mogec run examples/src/gate.rs --kernel moge_gate --set E=64,G=8 --random 1 --dim T=4096 -o out"
    )?;
    Ok(demo)
}
