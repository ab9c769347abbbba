//! moge's Ascend C backend: writes one `.cpp` per scheduled device kernel and the program's manifest.
//!
//! [`compile_program`] takes a specialized graph kernel through the middle end and emits the result.
//! A kernel without a matmul is scheduled by [`moge_lower::schedule::schedule_kernel`]: only
//! [`Schedule`]s reach the printer, so nothing unverified or unbudgeted can be emitted. A kernel with a
//! matmul is split by [`moge_lower::opt::partition`] into cube and vector groups; a matmul and the
//! vector ops that consume it become one MIX group ([`moge_lower::opt::mix`]) where the MIX lowering
//! takes them. Each group is compiled as its own graph kernel (a lone matmul of two parameters by the
//! cube path, [`cube`]) and the parts are linked into one program whose kernels pass values through
//! GM intermediates (`multi`); the router (`matmul(x, w_gate)` then the gate) is one MIX kernel.

mod cexpr;
pub mod cube;
mod emit;
pub mod error;
pub mod helpers;
pub mod manifest;
mod moe;
mod multi;
pub mod print_v2;

use moge_lower::graph::Kernel;
use moge_lower::opt::FuseMode;
use moge_lower::schedule::{schedule_kernel, LowerError, Schedule, ScheduleOptions};
use moge_lower::target::Target;

pub use error::Error as WriterError;
pub use manifest::Manifest;

/// Why a program could not be compiled.
#[derive(Clone, PartialEq, Debug, thiserror::Error)]
pub enum CodegenError {
    /// The middle end refused the kernel.
    #[error(transparent)]
    Lower(#[from] LowerError),
    /// Printing the kernel IR as Ascend C failed.
    #[error(transparent)]
    Write(#[from] WriterError),
}

impl CodegenError {
    /// Whether this is a bug in moge (a lowering whose result failed its own checks, a printer
    /// that could not format), not a fault of the kernel: callers report it as an internal error.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            CodegenError::Lower(LowerError::Internal { .. } | LowerError::Verify { .. })
                | CodegenError::Write(WriterError::Fmt(_))
        )
    }
}

/// One emitted device kernel.
#[derive(Clone, PartialEq, Debug)]
pub struct DeviceKernel {
    /// The `extern "C"` symbol.
    pub name: String,
    /// The file name of its source (`<name>.cpp`).
    pub file: String,
    /// The Ascend C source.
    pub source: String,
    /// The scheduled kernel IR it was written from; `None` for a cube kernel, which is lowered
    /// straight to kernel IR v2 (its text is in [`Program::kir_text`]).
    pub schedule: Option<Schedule>,
}

/// A compiled program: device kernels, their kernel IR and the manifest.
#[derive(Clone, PartialEq, Debug)]
pub struct Program {
    /// The device kernels, in launch order.
    pub kernels: Vec<DeviceKernel>,
    /// The manifest.
    pub manifest: Manifest,
    /// The program in the kernel IR v2 text form (`docs/kernel-ir-v2.md`), the IR the Ascend C was
    /// printed from.
    pub kir_text: String,
    /// The fusion graph in Graphviz DOT (`mogec build --emit dot`): device kernels as clusters, GM
    /// tensors as edges with their bytes, the fusions made (`moge_lower::opt::dot`).
    pub dot: String,
}

impl Program {
    /// The manifest as pretty JSON.
    pub fn manifest_json(&self) -> String {
        self.manifest.to_json()
    }

    /// Writes every kernel's `.cpp`, the kernel IR (`<program>.kir`) and the manifest
    /// (`<program>.json`) into `dir` (created if missing); returns the paths written, in that order.
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for k in &self.kernels {
            let path = dir.join(&k.file);
            std::fs::write(&path, &k.source)?;
            written.push(path);
        }
        for (ext, text) in [
            ("kir", self.kir_text.clone()),
            ("json", self.manifest_json()),
        ] {
            let path = dir.join(format!("{}.{ext}", self.manifest.program));
            std::fs::write(&path, text)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Compiles a specialized graph kernel for `target` with default options.
pub fn compile_program(kernel: &Kernel, target: &Target) -> Result<Program, CodegenError> {
    compile_program_with(kernel, target, &ScheduleOptions::default())
}

/// Compiles a specialized graph kernel for `target`.
pub fn compile_program_with(
    kernel: &Kernel,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Program, CodegenError> {
    // Every kernel with a matmul goes through the partition, a lone matmul included: the program
    // assembly keeps every parameter in the signature (read or not), writes parameters and repeated
    // values returned as outputs by copy kernels, and links the parts into one kernel IR program.
    // Unfused, every op is a kernel of its own, so every kernel goes through the partition too.
    if has_kernel_op(kernel) || options.fuse == FuseMode::None {
        moge_lower::schedule::check_kernel(kernel, target)?;
        let plan = moge_lower::opt::plan(kernel, options.fuse)?;
        return multi::compile_fused(kernel, &plan, target, options);
    }
    compile_vector(kernel, target, options)
}

/// Whether `kernel` contains an op no vector kernel can hold (a matmul or an op of the MoE family).
fn has_kernel_op(kernel: &Kernel) -> bool {
    kernel
        .order
        .iter()
        .any(|&op| moge_lower::opt::fuse::is_kernel_op(&kernel.ops[op].kind))
}

/// Compiles a kernel of vector ops only (every kernel with a matmul goes through the partition).
fn compile_vector(
    kernel: &Kernel,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Program, CodegenError> {
    let (v2, schedules) = lower_vector(kernel, target, options, None)?;
    let mut program = emit::emit_program(
        kernel,
        target,
        &v2,
        schedules.into_iter().map(Some).collect(),
    )?;
    let groups = moge_lower::opt::partition(kernel)?;
    program.dot = moge_lower::opt::dot::fusion_dot(kernel, &groups, &[]);
    Ok(program)
}

/// Lowers a kernel of vector ops only to its synchronized, verified v2 program and the schedules of
/// its device kernels (launch order); with `rename`, the kernels get that symbol name.
pub(crate) fn lower_vector(
    kernel: &Kernel,
    target: &Target,
    options: &ScheduleOptions,
    rename: Option<&str>,
) -> Result<(moge_lower::kir::v2::Program, Vec<Schedule>), CodegenError> {
    let schedules = schedule_kernel(kernel, target, options)?;
    // The emitted code is the kernel IR v2 program printed: its loops, queue operations, flags and
    // barriers are the IR's (derived by the sync pass and checked by the hazard verifier).
    let mut v2 = moge_lower::schedule::program::to_program(kernel, &schedules, target)?;
    if let Some(name) = rename {
        rename_kernels(&mut v2, name);
    }
    Ok((v2, schedules))
}

/// Gives the kernels of `v2` the symbol `name` (the first) and `name_<i>` (any further one), so a
/// part compiled on its own gets its place's name in the whole program.
pub(crate) fn rename_kernels(v2: &mut moge_lower::kir::v2::Program, name: &str) {
    for (i, k) in v2.kernels.values_mut().enumerate() {
        k.name = if i == 0 {
            name.to_string()
        } else {
            format!("{name}_{i}")
        };
    }
}
