//! The cube parts of [`crate::compile_program`]'s partition (`crate::multi`): a part that is exactly
//! one matmul of two parameters ([`single_matmul`]) is lowered to one AIC kernel
//! ([`moge_lower::schedule::cube::lower_matmul_kernel`]); a matmul of two parameters followed by
//! vector ops on its rows ([`mix_group`]) to one `KERNEL_TYPE_MIX_AIC_1_2` kernel
//! ([`moge_lower::schedule::cube::mix::lower_mix_group`]). Each is named after its place in the
//! program; the program is printed and its manifest derived by `crate::emit`.

use moge_lower::graph::{Kernel, Op, OpKind};
use moge_lower::schedule::cube::mix::lower_mix_group;
use moge_lower::schedule::cube::{lower_matmul_kernel, Tiling};
use moge_lower::schedule::LowerError;
use moge_lower::target::Target;

use crate::CodegenError;

/// The matmul op of `kernel` if the kernel is exactly `c = matmul(a, b)` with `a` and `b` parameters
/// and `c` its only output (what [`lower_matmul_kernel`] takes); `None` sends it to the vector path.
pub fn single_matmul(kernel: &Kernel) -> Option<Op> {
    let mut matmul = None;
    for &op in &kernel.order {
        match kernel.ops[op].kind {
            OpKind::Param { .. } => {}
            OpKind::MatMul if matmul.is_none() => matmul = Some(op),
            _ => return None,
        }
    }
    let op = matmul?;
    let data = &kernel.ops[op];
    let is_param = |i: usize| {
        data.args
            .get(i)
            .is_some_and(|v| kernel.params.iter().any(|p| p.value == *v))
    };
    let output = match (kernel.outputs.as_slice(), data.results.as_slice()) {
        ([o], [r]) => o.value == *r,
        _ => false,
    };
    (data.args.len() == 2 && is_param(0) && is_param(1) && output).then_some(op)
}

/// The matmul op and its epilogue if the live ops of `kernel` are one matmul of two parameters and
/// vector ops after it (what [`lower_mix_group`] takes); `None` sends the kernel elsewhere.
pub fn mix_group(kernel: &Kernel) -> Option<(Op, Vec<Op>)> {
    let view = moge_lower::opt::DataflowView::build(kernel);
    let live = moge_lower::opt::dce::compute_live(kernel, &view);
    let mut matmul = None;
    let mut epilogue = vec![];
    for &op in kernel.order.iter().filter(|op| live.contains(op)) {
        match kernel.ops[op].kind {
            OpKind::Param { .. } => {}
            OpKind::MatMul if matmul.is_none() => matmul = Some(op),
            OpKind::MatMul
            | OpKind::GroupedMatmul
            | OpKind::Route { .. }
            | OpKind::Dispatch
            | OpKind::Combine
            | OpKind::ScatterAdd { .. } => return None,
            // The matmul's operands are parameters, so no other op feeds it: every other live op is
            // part of the epilogue (an op of parameters only may come before the matmul).
            _ => epilogue.push(op),
        }
    }
    let op = matmul?;
    let args = &kernel.ops[op].args;
    let is_param = |v| kernel.params.iter().any(|p| p.value == v);
    (args.len() == 2 && args.iter().all(|&v| is_param(v)) && !epilogue.is_empty())
        .then_some((op, epilogue))
}

/// `kernel`, matmul `op` followed by `epilogue`, lowered to one MIX kernel (named `rename` if given),
/// its tile scored as `tiling` says.
pub(crate) fn lower_mix(
    kernel: &Kernel,
    op: Op,
    epilogue: &[Op],
    target: &Target,
    tiling: Tiling,
    rename: Option<&str>,
) -> Result<moge_lower::kir::v2::Program, CodegenError> {
    let mut v2 = lower_mix_group(kernel, op, epilogue, target, tiling)?;
    if let Some(name) = rename {
        crate::rename_kernels(&mut v2, name);
    }
    Ok(v2)
}

/// The one-matmul `kernel` (matmul `op`) lowered to one AIC kernel (named `rename` if given), its
/// tile scored as `tiling` says.
pub(crate) fn lower_matmul(
    kernel: &Kernel,
    op: Op,
    target: &Target,
    tiling: Tiling,
    rename: Option<&str>,
) -> Result<moge_lower::kir::v2::Program, CodegenError> {
    let mut v2 = lower_matmul_kernel(kernel, op, target, tiling).map_err(LowerError::from)?;
    if let Some(name) = rename {
        crate::rename_kernels(&mut v2, name);
    }
    // Queue hand-offs order the whole matmul (no sync pass runs): prove it, as every lowering of a
    // part proves its kernels (see `multi::compile_groups`).
    for k in v2.kernels.values() {
        moge_lower::kir::v2::check_hazards(k).map_err(|e| LowerError::Internal {
            kernel: k.name.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(v2)
}
