//! Programs of several device kernels: a kernel with a matmul and other ops (or several matmuls).
//!
//! [`moge_lower::opt::partition`] groups the ops (one cube group per matmul, vector groups between
//! them) and [`moge_lower::opt::split()`] makes each group a graph kernel of its own, connected to the
//! others through named GM tensors. Each part is compiled by the single-kernel paths (cube or
//! vector) under its place's name `<program>_k<i>`; this module assembles their kernels, kernel IR
//! texts and manifests into one program: the program's parameters and outputs, the intermediates
//! (the runtime allocates them), every kernel's arguments, tiling and block dim, and the workspace.
//!
//! One function call per group kind ([`compile_part`]): cube and vector parts by the single-kernel
//! paths, a MIX group (matmul with a fused vector epilogue) by [`cube::compile_mix`].

use moge_lower::graph::{DType, Kernel, Value};
use moge_lower::kir::v2::{self, GmKind, Linker};
use moge_lower::kir::{CoreKind, MemSpace};
use moge_lower::opt::{mix, Group, GroupKind, Part};
use moge_lower::schedule::cube::CubeProblem;
use moge_lower::schedule::lower_vector::dim_expr;
use moge_lower::schedule::{LowerError, ScheduleOptions};
use moge_lower::target::Target;

use crate::manifest::{self, CoreType, Role, SizeExpr, SyncMode, TensorDType};
use crate::{cube, print_v2, CodegenError, DeviceKernel, Manifest, Program};

/// Compiles `kernel`, partitioned into `groups` (launch order, as [`moge_lower::opt::partition`]
/// returns them), to one program, with every matmul whose consumers allow it fused with them into a
/// MIX kernel ([`moge_lower::opt::mix`]). A pair the MIX lowering refuses (its epilogue needs more
/// than whole rows of one tile, say) stays two kernels through a GM intermediate.
pub(crate) fn compile_fused(
    kernel: &Kernel,
    groups: &[Group],
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Program, CodegenError> {
    let mut pairs = mix::candidates(kernel, groups);
    loop {
        let merged = mix::merge(groups, &pairs);
        match compile_groups(kernel, &merged, target, options) {
            Ok(program) => return Ok(program),
            Err(PartError::Part { index, error })
                if merged[index].kind == GroupKind::Mix && is_epilogue_refusal(&error) =>
            {
                // The MIX group's first op is its matmul: drop the pair it came from and retry.
                let matmul = merged[index].ops[0];
                pairs.retain(|p| groups[p.cube].ops[0] != matmul);
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
    for t in &split.intermediates {
        linker.declare(gm_decl(kernel, &t.name, t.value, GmKind::Intermediate));
    }
    let mut tile_rows = Vec::new();
    for (index, part) in split.parts.iter().enumerate() {
        let name = format!("{}_k{index}", kernel.name);
        let (v2, rows) = lower_part(part, &name, target, options)
            .map_err(|error| PartError::Part { index, error })?;
        tile_rows.extend(rows);
        linker
            .link(v2)
            .map_err(|e| internal(kernel, e.to_string()))?;
    }
    let v2 = linker.finish();
    v2::verify_program(&v2, target)
        .map_err(|e| internal(kernel, format!("{e}\n{}", v2::program_to_string(&v2))))?;
    for k in v2.kernels.values() {
        v2::check_hazards(k).map_err(|e| internal(kernel, e.to_string()))?;
    }
    let kernels: Vec<DeviceKernel> = print_v2::print_program(&v2)
        .map_err(CodegenError::from)?
        .into_iter()
        .map(|(name, source)| DeviceKernel {
            file: format!("{name}.cpp"),
            name,
            source,
            schedule: None,
        })
        .collect();
    let manifest = program_manifest(kernel, target, &v2, &kernels, &tile_rows);
    Ok(Program {
        kernels,
        manifest,
        kir_text: v2::program_to_string(&v2),
    })
}

/// Lowers one part under the symbol `name` to its own v2 program (the per-kind seam), with each of
/// its kernels' rows per tile (0 for the cube and MIX kernels, which tile by their plan).
fn lower_part(
    part: &Part,
    name: &str,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<(v2::Program, Vec<u32>), CodegenError> {
    match part.kind {
        // A cube part is exactly `c = matmul(a, b)` of two parameters; a vector part has no matmul.
        GroupKind::Cube | GroupKind::Vector => {
            if let Some(op) = cube::single_matmul(&part.kernel) {
                moge_lower::schedule::check_kernel(&part.kernel, target)?;
                let v2 = cube::lower_matmul(&part.kernel, op, target, Some(name))?;
                let n = v2.kernels.len();
                return Ok((v2, vec![0; n]));
            }
            let (v2, schedules) = crate::lower_vector(&part.kernel, target, options, Some(name))?;
            let rows = schedules.iter().map(|s| s.func().split.tile_rows).collect();
            Ok((v2, rows))
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
            let v2 = cube::lower_mix(&part.kernel, op, &epilogue, target, Some(name))?;
            let n = v2.kernels.len();
            Ok((v2, vec![0; n]))
        }
    }
}

/// The manifest of the linked program `v2`, read off it: the parameters and intermediates are its
/// GM parameters, every kernel's arguments its GM parameters in order, every kernel's tiling the
/// whole tiling struct (the one every kernel's source declares), and a kernel with workspace
/// slices may use the program's whole workspace (kernels run one after another).
fn program_manifest(
    kernel: &Kernel,
    target: &Target,
    v2: &v2::Program,
    kernels: &[DeviceKernel],
    tile_rows: &[u32],
) -> Manifest {
    let param = |d: &v2::GmBufData, role: Role| manifest::Param {
        name: d.name.clone(),
        role,
        // Bool tensors are refused by the checks before; f32 is never reached for them.
        dtype: TensorDType::from_dtype(d.dtype).unwrap_or(TensorDType::F32),
        shape: d.shape.iter().cloned().map(SizeExpr::from).collect(),
    };
    let of_kind = |kind: GmKind, role: Role| -> Vec<manifest::Param> {
        v2.gm
            .values()
            .filter(|d| d.kind == kind)
            .map(|d| param(d, role))
            .collect()
    };
    let mut params = of_kind(GmKind::Input, Role::Input);
    params.extend(of_kind(GmKind::Output, Role::Output));
    let tiling: Vec<manifest::TilingField> = v2
        .fields
        .values()
        .map(|f| manifest::TilingField {
            name: f.name.clone(),
            expr: f.expr.clone().into(),
        })
        .collect();
    let entries = v2
        .kernels
        .values()
        .zip(kernels)
        .zip(tile_rows)
        .map(|((k, emitted), &rows)| {
            let uses_workspace = k.params.iter().any(|&g| !v2.gm[g].kind.is_param());
            manifest::KernelEntry {
                name: emitted.name.clone(),
                source: emitted.file.clone(),
                core_type: match k.core {
                    CoreKind::Aiv => CoreType::Aiv,
                    CoreKind::Aic => CoreType::Aic,
                    CoreKind::Mix => CoreType::MixAic1_2,
                },
                // Every hand-off is a queue, a flag the sync pass derived or a cross-core flag the
                // MIX lowering placed, all checked by the hazard verifier.
                sync: SyncMode::Explicit,
                args: k
                    .params
                    .iter()
                    .filter(|&&g| v2.gm[g].kind.is_param())
                    .map(|&g| v2.gm[g].name.clone())
                    .collect(),
                block_dim: k.block_dim.clone().into(),
                tiling: tiling.clone(),
                workspace_bytes: if uses_workspace {
                    v2.workspace.clone().into()
                } else {
                    SizeExpr::int(0)
                },
                ub_bytes: k.mem_bytes(MemSpace::Ub),
                tile_rows: rows,
            }
        })
        .collect();
    Manifest {
        format: manifest::FORMAT.to_string(),
        program: kernel.name.clone(),
        target: target.name.to_string(),
        bindings: kernel.bound.iter().cloned().collect(),
        dynamic_dims: kernel.dynamic_dims(),
        params,
        intermediates: of_kind(GmKind::Intermediate, Role::Intermediate),
        kernels: entries,
        workspace_bytes: v2.workspace.clone().into(),
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
