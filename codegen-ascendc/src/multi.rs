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

use moge_lower::graph::Kernel;
use moge_lower::kir::Expr;
use moge_lower::opt::{mix, Group, GroupKind, Part};
use moge_lower::schedule::cube::CubeProblem;
use moge_lower::schedule::lower_vector::dim_expr;
use moge_lower::schedule::{LowerError, ScheduleOptions};
use moge_lower::target::Target;

use crate::manifest::{self, Role, SizeExpr, TensorDType};
use crate::{compile_single, cube, CodegenError, Manifest, Program};

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

/// Compiles `kernel`, partitioned into `groups` (launch order), to one program.
fn compile_groups(
    kernel: &Kernel,
    groups: &[Group],
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Program, PartError> {
    check_hints_used(kernel, groups)?;
    let split = moge_lower::opt::split(kernel, groups);
    let mut kernels = Vec::new();
    let mut entries = Vec::new();
    let mut tensors: Vec<manifest::Param> = Vec::new();
    let mut kir_text = String::new();
    for (index, part) in split.parts.iter().enumerate() {
        let name = format!("{}_k{index}", kernel.name);
        let compiled = compile_part(part, &name, target, options)
            .map_err(|error| PartError::Part { index, error })?;
        if !kir_text.is_empty() {
            kir_text.push('\n');
        }
        kir_text.push_str(&compiled.kir_text);
        kernels.extend(compiled.kernels);
        entries.extend(compiled.manifest.kernels);
        for p in compiled.manifest.params {
            if !tensors.iter().any(|t| t.name == p.name) {
                tensors.push(p);
            }
        }
    }
    let find = |name: &str| tensors.iter().find(|t| t.name == name).cloned();
    let mut params = Vec::new();
    for p in &kernel.params {
        // A parameter no op reads is in no part; it keeps its place in the program's signature.
        let param = find(&p.name).unwrap_or_else(|| unused_param(kernel, p));
        params.push(manifest::Param {
            role: Role::Input,
            ..param
        });
    }
    for o in &kernel.outputs {
        let out = find(&o.name).ok_or_else(|| internal(kernel, &o.name))?;
        params.push(out);
    }
    let mut intermediates = Vec::new();
    for t in &split.intermediates {
        let mid = find(&t.name).ok_or_else(|| internal(kernel, &t.name))?;
        intermediates.push(manifest::Param {
            role: Role::Intermediate,
            ..mid
        });
    }
    // Every kernel gets the program's workspace: the largest any kernel needs.
    let workspace = entries
        .iter()
        .map(|e| e.workspace_bytes.expr().clone())
        .filter(|e| *e != Expr::Int(0))
        .reduce(|a, b| {
            if a == b {
                a
            } else {
                Expr::Max(Box::new(a), Box::new(b))
            }
        })
        .unwrap_or(Expr::Int(0));
    let manifest = Manifest {
        format: manifest::FORMAT.to_string(),
        program: kernel.name.clone(),
        target: target.name.to_string(),
        bindings: kernel.bound.iter().cloned().collect(),
        dynamic_dims: kernel.dynamic_dims(),
        params,
        intermediates,
        kernels: entries,
        workspace_bytes: workspace.into(),
    };
    Ok(Program {
        kernels,
        manifest,
        kir_text,
    })
}

/// Compiles one part under the symbol `name`: the per-kind seam.
fn compile_part(
    part: &Part,
    name: &str,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Program, CodegenError> {
    match part.kind {
        // A cube part is exactly `c = matmul(a, b)` of two parameters; a vector part has no matmul:
        // the single-kernel paths take both.
        GroupKind::Cube | GroupKind::Vector => {
            compile_single(&part.kernel, target, options, Some(name))
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
            cube::compile_mix(&part.kernel, op, &epilogue, target, Some(name))
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

/// The manifest entry of a parameter that no part reads, from its graph type.
fn unused_param(kernel: &Kernel, p: &moge_lower::graph::Param) -> manifest::Param {
    let tensor = kernel.ty(p.value).as_tensor();
    manifest::Param {
        name: p.name.clone(),
        role: Role::Input,
        // Bool tensors are refused by the checks before; f32 is never reached for them.
        dtype: tensor
            .and_then(|t| TensorDType::from_dtype(t.dtype))
            .unwrap_or(TensorDType::F32),
        shape: tensor
            .map(|t| {
                t.shape
                    .iter()
                    .map(|d| SizeExpr::from(dim_expr(kernel, d)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn internal(kernel: &Kernel, tensor: &str) -> CodegenError {
    CodegenError::Lower(LowerError::Internal {
        kernel: kernel.name.clone(),
        message: format!("no part of the program writes `{tensor}`"),
    })
}
