//! Emitting a kernel IR v2 program: every kernel printed as Ascend C ([`crate::print_v2`]) and the
//! manifest read off the program, so that the parameters, intermediates, kernel arguments, tiling
//! struct and workspace the runtime sees are the ones the emitted sources declare. Every path (vector,
//! cube, MIX and programs of several kernels) ends here.

use moge_lower::graph::Kernel;
use moge_lower::kir::v2::{self, GmKind};
use moge_lower::kir::{CoreKind, MemSpace};
use moge_lower::schedule::Schedule;
use moge_lower::target::Target;

use crate::manifest::{self, CoreType, Role, SizeExpr, SyncMode, TensorDType};
use crate::{print_v2, CodegenError, DeviceKernel, Manifest, Program};

/// Prints `v2` (the program of graph kernel `kernel`) and builds its manifest; `schedules` holds,
/// per kernel in launch order, the vector schedule it was ported from (`None` for cube and MIX
/// kernels, which are lowered to v2 directly).
pub(crate) fn emit_program(
    kernel: &Kernel,
    target: &Target,
    v2: &v2::Program,
    schedules: Vec<Option<Schedule>>,
) -> Result<Program, CodegenError> {
    let printed = print_v2::print_program(v2)?;
    let tile_rows: Vec<u32> = schedules
        .iter()
        .map(|s| s.as_ref().map_or(0, |s| s.func().split.tile_rows))
        .collect();
    let kernels: Vec<DeviceKernel> = printed
        .into_iter()
        .zip(schedules)
        .map(|((name, source), schedule)| DeviceKernel {
            file: format!("{name}.cpp"),
            name,
            source,
            schedule,
        })
        .collect();
    let manifest = manifest_of(kernel, target, v2, &kernels, &tile_rows);
    Ok(Program {
        kernels,
        manifest,
        // The kernel IR of record is the v2 program that was printed.
        kir_text: v2::program_to_string(v2),
        dot: String::new(),
    })
}

/// The manifest of the linked program `v2`, read off it: the parameters and intermediates are its
/// GM parameters, every kernel's arguments its GM parameters in order, every kernel's tiling the
/// whole tiling struct (the one every kernel's source declares), and a kernel with workspace
/// slices may use the program's whole workspace (kernels run one after another).
fn manifest_of(
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
