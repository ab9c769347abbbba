//! Programs of several device kernels: a kernel with a matmul and other ops (or several matmuls).
//!
//! [`moge_lower::opt::partition`] groups the ops (one cube group per matmul, vector groups between
//! them) and [`moge_lower::opt::split()`] makes each group a graph kernel of its own, connected to the
//! others through named GM tensors. Each part is lowered by the single-kernel lowerings (cube or
//! vector) under its place's name `<program>_k<i>` to a kernel IR v2 program of its own; this module
//! links them into ONE program ([`Linker`]: the graph's parameters, outputs and intermediates declared
//! in signature order, the parts' tiling fields in one struct, the largest workspace), verifies it
//! and emits it: the Ascend C of every kernel, the program's kernel IR text and the manifest read
//! off the program (`crate::emit`).
//!
//! One function call per group kind ([`lower_part`]): cube and vector parts by the single-kernel
//! lowerings, a MIX group (matmul with a fused vector epilogue) by [`cube::lower_mix`].

use moge_lower::graph::Type;
use moge_lower::graph::{DType, Kernel, Value};
use moge_lower::kir::v2::{self, GmKind, Linker};
use moge_lower::opt::{mix, FuseMode, Group, GroupKind, Part, Plan};
use moge_lower::schedule::cube::CubeProblem;
use moge_lower::schedule::lower_vector::dim_expr;
use moge_lower::schedule::{LowerError, Schedule, ScheduleOptions};
use moge_lower::target::Target;

use crate::emit::emit_program;
use crate::{cube, CodegenError, Program};

/// Compiles `kernel`, partitioned into `groups` (launch order, as [`moge_lower::opt::partition`]
/// returns them), to one program, with every matmul whose consumers allow it fused with them into a
/// MIX kernel ([`moge_lower::opt::mix`]). A pair the MIX lowering refuses (its epilogue needs more
/// than whole rows of one tile, say) stays two kernels through a GM intermediate.
pub(crate) fn compile_fused(
    kernel: &Kernel,
    plan: &Plan,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Program, CodegenError> {
    let mut plan = plan.clone();
    let mut pairs = match plan.mode {
        FuseMode::All => mix::candidates(kernel, &plan.groups),
        FuseMode::None => vec![],
    };
    loop {
        let merged = mix::merge(&plan.groups, &pairs);
        match compile_groups(kernel, &merged, target, options) {
            Ok(mut program) => {
                program.dot = moge_lower::opt::dot::fusion_dot(kernel, &merged, &plan.fusions);
                return Ok(program);
            }
            Err(PartError::Part { index, error })
                if merged.get(index).is_some_and(|g| g.kind == GroupKind::Mix)
                    && is_epilogue_refusal(&error) =>
            {
                // The MIX group's first op is its matmul: drop the pair it came from and retry.
                let matmul = merged[index].ops[0];
                pairs.retain(|p| plan.groups[p.cube].ops[0] != matmul);
            }
            Err(PartError::Part { index, error })
                if merged
                    .get(index)
                    .is_some_and(|g| g.kind == GroupKind::Grouped && g.ops.len() > 1)
                    && matches!(error, CodegenError::Lower(LowerError::Unsupported { .. })) =>
            {
                // A fused prologue or epilogue the grouped lowering cannot take (columns its vector
                // tiles do not fit, say): the ops run as kernels of their own, as unfused.
                let Some(at) = plan.groups.iter().position(|g| g.ops == merged[index].ops) else {
                    return Err(error);
                };
                let mains = moge_lower::opt::moe::unfuse(kernel, &mut plan.groups, at);
                plan.fusions.retain(|f| !mains.contains(&f.into));
                pairs = mix::candidates(kernel, &plan.groups);
            }
            Err(PartError::Part { error, .. } | PartError::Whole(error)) => return Err(error),
        }
    }
}

/// Whether `error` is the MIX lowering refusing an epilogue (not a fault of the kernel).
fn is_epilogue_refusal(error: &CodegenError) -> bool {
    matches!(
        error,
        CodegenError::Lower(LowerError::Cube(e)) if matches!(*e.problem, CubeProblem::Epilogue(_))
    )
}

/// Why [`compile_groups`] failed: a part (by index) or the program as a whole.
enum PartError {
    Part { index: usize, error: CodegenError },
    Whole(CodegenError),
}

impl From<CodegenError> for PartError {
    fn from(error: CodegenError) -> PartError {
        PartError::Whole(error)
    }
}

/// Compiles `kernel`, partitioned into `groups` (launch order), to one program: the parts are lowered
/// on their own, linked into one kernel IR v2 program ([`Linker`]: the graph's parameters, outputs
/// and intermediates declared first, in signature order), verified as a whole and printed; the
/// manifest is read off the linked program.
fn compile_groups(
    kernel: &Kernel,
    groups: &[Group],
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Program, PartError> {
    check_hints_used(kernel, groups)?;
    let split = moge_lower::opt::split(kernel, groups);
    let mut linker = Linker::new(kernel.name.clone(), kernel.dynamic_dims());
    for p in &kernel.params {
        linker.declare(gm_decl(kernel, &p.name, p.value, GmKind::Input));
    }
    for o in &kernel.outputs {
        linker.declare(gm_decl(kernel, &o.name, o.value, GmKind::Output));
    }
    // The accumulator a fused combine adds into is the f32 result of its initializing matmul.
    let acc = moge_lower::opt::moe::accumulators(kernel, groups);
    for t in &split.intermediates {
        if matches!(kernel.ty(t.value), Type::Routes(_)) {
            for d in crate::moe::routes_decls(kernel, &t.name, t.value) {
                linker.declare(d);
            }
            continue;
        }
        let mut decl = gm_decl(kernel, &t.name, t.value, GmKind::Intermediate);
        if acc.contains(&t.value) {
            decl.dtype = DType::F32;
        }
        linker.declare(decl);
    }
    let mut schedules = Vec::new();
    for (index, part) in split.parts.iter().enumerate() {
        let name = format!("{}_k{index}", kernel.name);
        let (v2, part_schedules) = lower_part(part, &name, target, options)
            .map_err(|error| PartError::Part { index, error })?;
        schedules.extend(part_schedules);
        linker
            .link(v2)
            .map_err(|e| internal(kernel, e.to_string()))?;
    }
    let aliased = linker.aliased().to_vec();
    let v2 = linker.finish();
    v2::verify_program(&v2, target)
        .map_err(|e| internal(kernel, format!("{e}\n{}", v2::program_to_string(&v2))))?;
    // Every part's lowering proved its kernels' ordering (the sync pass ends with a clean hazard
    // check; the routing and plain matmul lowerings check theirs). Linking renames buffers and
    // fields one to one except in the kernels it reports as aliased, and only those can have
    // changed: they are checked again. Debug builds (the tests) check every kernel again, so a
    // lowering that forgot its check is still caught by the test suite.
    for k in v2.kernels.values() {
        if cfg!(debug_assertions) || aliased.contains(&k.name) {
            v2::check_hazards(k).map_err(|e| internal(kernel, e.to_string()))?;
        }
    }
    Ok(emit_program(kernel, target, &v2, schedules)?)
}

/// Lowers one part under the symbol `name` to its own v2 program (the per-kind seam), with each of
/// its kernels' vector schedule (`None` for the cube and MIX kernels).
fn lower_part(
    part: &Part,
    name: &str,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<(v2::Program, Vec<Option<Schedule>>), CodegenError> {
    match part.kind {
        // A cube part is exactly `c = matmul(a, b)` of two parameters; a vector part has no matmul.
        GroupKind::Cube | GroupKind::Vector => {
            if let Some(op) = cube::single_matmul(&part.kernel) {
                moge_lower::schedule::check_kernel(&part.kernel, target)?;
                let v2 = cube::lower_matmul(&part.kernel, op, target, options.tiling, Some(name))?;
                let n = v2.kernels.len();
                return Ok((v2, vec![None; n]));
            }
            let (v2, schedules) = crate::lower_vector(&part.kernel, target, options, Some(name))?;
            Ok((v2, schedules.into_iter().map(Some).collect()))
        }
        GroupKind::Route | GroupKind::Rows | GroupKind::Grouped | GroupKind::AccInit => {
            let v2 = crate::moe::lower_moe_part(part, name, target, options)?;
            let n = v2.kernels.len();
            Ok((v2, vec![None; n]))
        }
        // A MIX part is a matmul of two parameters (its operands come from GM) and its epilogue.
        GroupKind::Mix => {
            let (op, epilogue) = cube::mix_group(&part.kernel).ok_or_else(|| {
                CodegenError::Lower(LowerError::Internal {
                    kernel: part.kernel.name.clone(),
                    message: "a MIX part is not a matmul of two parameters and its epilogue"
                        .to_string(),
                })
            })?;
            let v2 = cube::lower_mix(
                &part.kernel,
                op,
                &epilogue,
                target,
                options.tiling,
                Some(name),
            )?;
            let n = v2.kernels.len();
            Ok((v2, vec![None; n]))
        }
    }
}

/// A hint on a statement whose ops were all eliminated would have no effect: the same refusal as the
/// vector path's.
fn check_hints_used(kernel: &Kernel, groups: &[Group]) -> Result<(), CodegenError> {
    for (op, hs) in kernel.hints.iter() {
        if let Some(h) = hs.first() {
            if !groups.iter().any(|g| g.ops.contains(&op)) {
                return Err(CodegenError::Lower(LowerError::Hint {
                    kernel: kernel.name.clone(),
                    loc: kernel.locs.get(op).copied().unwrap_or_default(),
                    message: format!(
                        "#[{}] is on a statement whose result is never used, so it has no effect",
                        h.name
                    ),
                }));
            }
        }
    }
    Ok(())
}

/// The GM buffer of the graph value `value` named `name`, from its graph type (what every part
/// that touches it declares too).
fn gm_decl(kernel: &Kernel, name: &str, value: Value, kind: GmKind) -> v2::GmBufData {
    let tensor = kernel.ty(value).as_tensor();
    v2::GmBufData {
        name: name.to_string(),
        kind,
        // Bool tensors are refused by the checks before; f32 is never reached for them.
        dtype: tensor.map_or(DType::F32, |t| t.dtype),
        shape: tensor
            .map(|t| t.shape.iter().map(|d| dim_expr(kernel, d)).collect())
            .unwrap_or_default(),
    }
}

fn internal(kernel: &Kernel, message: String) -> CodegenError {
    CodegenError::Lower(LowerError::Internal {
        kernel: kernel.name.clone(),
        message,
    })
}
