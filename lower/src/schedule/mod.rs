//! From a specialized graph kernel to checked, scheduled kernel IR.
//!
//! The driver [`schedule_kernel`] runs, in order:
//! 1. [`crate::opt::partition`]: dead-op elimination and fusion of the live ops into device-kernel
//!    groups (on a petgraph view of the graph); ops that have no lowering yet are refused here;
//! 2. [`lower_vector::lower_vector_group`]: one vector group to a [`kir::Function`] (tiles, queues,
//!    stages, instructions), with layouts chosen by [`layout`];
//! 3. [`alloc::share_scratch`]: scratch tiles with disjoint lifetimes share buffers;
//! 4. [`sync::insert_events`]: set/wait events where no queue orders two pipes;
//! 5. [`budget::fit_tiles`]: rows per tile chosen so every buffer fits the target's UB, or a refusal
//!    naming the buffers;
//! 6. the kernel-IR verifier.
//!
//! The result is a [`Schedule`] per device kernel: the only way to obtain one is through this driver, and
//! the Ascend C emitter accepts nothing else.

pub mod alloc;
pub mod budget;
pub mod cube;
pub mod hints;
pub mod layout;
pub mod lower_vector;
pub mod moe;
pub mod program;
pub mod sync;

use std::fmt;

use crate::graph::{Kernel, SrcLoc};
use crate::kir::{self, Function, KirVerifierErrors};
use crate::target::Target;

pub use budget::{BudgetError, BufferUse};

/// Why a kernel could not be lowered.
#[derive(Clone, PartialEq, Debug, thiserror::Error)]
pub enum LowerError {
    /// An op (or a use of it) has no lowering yet.
    #[error("cannot lower `{op}`{}: {reason}", at(loc))]
    Unsupported {
        /// The op's name.
        op: String,
        /// Where it is in the DSL source.
        loc: SrcLoc,
        /// Why.
        reason: String,
    },
    /// The kernel still has unbound static parameters.
    #[error("kernel `{kernel}` is not specialized: bind {} first", names.join(", "))]
    NotSpecialized {
        /// The kernel's name.
        kernel: String,
        /// The unbound static parameters.
        names: Vec<String>,
    },
    /// A name the emitted code must use verbatim cannot be (see [`crate::kir::names`]); the frontend
    /// refuses these, so only graph IR from elsewhere has them.
    #[error("kernel `{kernel}`: the {what} `{name}` cannot be emitted: {problem}")]
    Name {
        /// The kernel's name.
        kernel: String,
        /// `program name`, `parameter name` or `output name`.
        what: &'static str,
        /// The name.
        name: String,
        /// Why not.
        problem: kir::names::NameProblem,
    },
    /// The input graph is ill-typed (the graph verifier's findings).
    #[error("kernel `{kernel}` is not valid graph IR:\n{errors}")]
    IllTyped {
        /// The kernel's name.
        kernel: String,
        /// The graph verifier's errors.
        errors: crate::graph::verify::VerifierErrors,
    },
    /// A schedule hint that cannot be honored or does not apply. (The message leaves the kernel's
    /// name to the caller's "kernel `k` cannot be compiled: ..." instead of saying it twice.)
    #[error("schedule hint{}: {message}", at(loc))]
    Hint {
        /// The kernel's name.
        kernel: String,
        /// The statement carrying the hint.
        loc: SrcLoc,
        /// What is wrong with it.
        message: String,
    },
    /// The kernel does not fit the target's on-chip memory.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// A matmul the cube path cannot take (dtypes, hints, budgets, dims).
    #[error(transparent)]
    Cube(#[from] cube::CubeError),
    /// The kernel IR v2 port of a scheduled kernel failed (a compiler bug).
    #[error("internal error: kernel `{kernel}`: {message}")]
    Internal {
        /// The kernel's name.
        kernel: String,
        /// What failed, with the IR.
        message: String,
    },
    /// The lowered kernel IR failed verification (a compiler bug).
    #[error("internal error: kernel `{kernel}` failed verification:\n{errors}\n{ir}")]
    Verify {
        /// The kernel's name.
        kernel: String,
        /// The errors.
        errors: KirVerifierErrors,
        /// The kernel IR dump.
        ir: String,
    },
}

fn at(loc: &SrcLoc) -> String {
    if loc.is_unknown() {
        String::new()
    } else {
        format!(" at line {}, column {}", loc.line, loc.col)
    }
}

/// A device kernel that has been lowered, allocated, synchronized, fitted to the target and verified.
/// Only [`schedule_kernel`] makes one; the emitter requires it.
#[derive(Clone, PartialEq, Debug)]
pub struct Schedule {
    func: Function,
    budget: budget::BudgetReport,
}

impl Schedule {
    /// The kernel IR.
    pub fn func(&self) -> &Function {
        &self.func
    }

    /// How the UB budget was met.
    pub fn budget(&self) -> &budget::BudgetReport {
        &self.budget
    }

    /// The kernel IR in its text form.
    pub fn kir_text(&self) -> String {
        kir::function_to_string(&self.func)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.func, f)
    }
}

/// Options of the scheduler.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ScheduleOptions {
    /// The most rows a tile may have (the scheduler may choose fewer to fit UB).
    pub max_tile_rows: u32,
    /// How much the graph optimizer fuses ([`crate::opt::FuseMode`]).
    pub fuse: crate::opt::FuseMode,
    /// How the cube path scores a matmul's candidate tiles (plain matmul and MIX kernels; a
    /// `#[tile]` hint fixes what it names either way). Vector row tiles and the grouped GEMM's
    /// tiles are not chosen by it.
    pub tiling: cube::Tiling,
}

impl Default for ScheduleOptions {
    fn default() -> ScheduleOptions {
        ScheduleOptions {
            max_tile_rows: 1024,
            fuse: crate::opt::FuseMode::All,
            tiling: cube::Tiling::Rule,
        }
    }
}

/// Lowers a specialized graph kernel to scheduled device kernels, in launch order.
pub fn schedule_kernel(
    kernel: &Kernel,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Vec<Schedule>, LowerError> {
    check_kernel(kernel, target)?;
    let groups = crate::opt::partition(kernel)?;
    // A hint on a statement whose ops were all eliminated would have no effect: say so.
    for (op, hs) in kernel.hints.iter() {
        if let Some(h) = hs.first() {
            if !groups.iter().any(|g| g.ops.contains(&op)) {
                return Err(LowerError::Hint {
                    kernel: kernel.name.clone(),
                    loc: kernel.locs.get(op).copied().unwrap_or_default(),
                    message: format!(
                        "#[{}] is on a statement whose result is never used, so it has no effect",
                        h.name
                    ),
                });
            }
        }
    }
    // The cube groups are compiled by the caller (`compile_program` splits the kernel into one graph
    // kernel per group); here only vector kernels are scheduled.
    if let Some(group) = groups
        .iter()
        .find(|g| g.kind != crate::opt::GroupKind::Vector)
    {
        let op = group.ops[0];
        return Err(LowerError::Unsupported {
            op: kernel.ops[op].kind.name().to_string(),
            loc: kernel.locs[op],
            reason:
                "matrix multiplication needs a cube kernel; `schedule_kernel` schedules vector \
                     kernels only (`compile_program` splits a kernel into cube and vector kernels)"
                    .to_string(),
        });
    }
    let mut out = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        let name = format!("{}_k{index}", kernel.name);
        out.push(schedule_group(kernel, group, &name, target, options)?);
    }
    Ok(out)
}

/// One vector group of `kernel` as the scheduled device kernel `name`: lowered, scratch shared,
/// events inserted, tile rows fitted to UB and verified (the steps of [`schedule_kernel`] per group).
pub(crate) fn schedule_group(
    kernel: &Kernel,
    group: &crate::opt::Group,
    name: &str,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Schedule, LowerError> {
    let hints = hints::collect(kernel, &group.ops, target)?;
    let mut func = lower_vector::lower_vector_group(kernel, group, name, target)?;
    hints::apply_before_fit(&mut func, &hints);
    verify_if(cfg!(debug_assertions), &func)?;
    alloc::share_scratch(&mut func);
    verify_if(cfg!(debug_assertions), &func)?;
    sync::insert_events(&mut func);
    verify_if(cfg!(debug_assertions), &func)?;
    let fit_options = match hints.tile_rows {
        Some((rows, _)) => ScheduleOptions {
            max_tile_rows: rows,
            ..options.clone()
        },
        None => options.clone(),
    };
    let budget = budget::fit_tiles(&mut func, target, &fit_options)?;
    hints::check_after_fit(kernel, &func, &hints)?;
    // The emitter relies on a verified schedule: always check the final result.
    verify_if(true, &func)?;
    Ok(Schedule { func, budget })
}

/// The checks every kernel passes before either path (vector or cube): specialized, well typed, names
/// the emitted code can use, and every matmul's dtypes, hints and budgets.
pub fn check_kernel(kernel: &Kernel, target: &Target) -> Result<(), LowerError> {
    let unbound = kernel.static_params();
    if !unbound.is_empty() {
        return Err(LowerError::NotSpecialized {
            kernel: kernel.name.clone(),
            names: unbound.iter().map(|s| s.to_string()).collect(),
        });
    }
    crate::graph::verify::verify(kernel).map_err(|errors| LowerError::IllTyped {
        kernel: kernel.name.clone(),
        errors,
    })?;
    check_names(kernel)?;
    // Matmul ops are checked (dtypes, hints against the L1/L0 budgets, dims) before partitioning, so
    // a bad one gets its own located error rather than the general refusal.
    cube::check_matmuls(kernel, target)?;
    Ok(())
}

/// Checks the names the emitted code uses verbatim: the program's (its kernels are `<name>_k<i>`) and
/// its tensors'.
fn check_names(kernel: &Kernel) -> Result<(), LowerError> {
    let bad = |what, name: &str, problem| LowerError::Name {
        kernel: kernel.name.clone(),
        what,
        name: name.to_string(),
        problem,
    };
    kir::names::check_program_name(&kernel.name)
        .map_err(|p| bad("program name", &kernel.name, p))?;
    for p in &kernel.params {
        kir::names::check_c_name(&p.name).map_err(|e| bad("parameter name", &p.name, e))?;
    }
    for o in &kernel.outputs {
        kir::names::check_c_name(&o.name).map_err(|e| bad("output name", &o.name, e))?;
    }
    Ok(())
}

/// Verifies `func` when `enabled` (after every pass in debug and test builds, always at the end).
fn verify_if(enabled: bool, func: &Function) -> Result<(), LowerError> {
    if !enabled {
        return Ok(());
    }
    kir::verify(func).map_err(|errors| LowerError::Verify {
        kernel: func.name.clone(),
        errors,
        ir: kir::function_to_string(func),
    })
}
