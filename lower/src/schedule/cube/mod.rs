//! The cube path: matmul on the AIC.
//!
//! - [`plan`]: the tiling planner (base tiles, L1 depth, cores, tile order) under the L1/L0 budgets;
//! - [`traffic`](mod@traffic): the GM/HBM traffic model of a plan and its cube-bound check;
//! - [`lower`]: a planned matmul as an AIC kernel in kernel IR v2 (queues for every hand-off);
//! - this module: the link to the graph IR: which matmuls the cube takes (dtypes), the schedule hints
//!   of a matmul op (`#[tile(m, n, k)]`, `#[block_dim(n)]`, `#[buffer_num(n)]`), and errors located at
//!   the op.
//!
//! The lowering to kernel IR v2 (Nd2Nz DataCopy, LoadData, Mmad, Fixpipe; MIX kernels with a vector
//! epilogue) builds on [`MatmulPlan`]; the hand-written Ascend C it must produce is kept as a test
//! fixture (`tests/data/cube/`).

pub mod estimate;
pub mod lower;
pub mod mix;
pub mod plan;
pub mod traffic;

pub use estimate::estimate_cycles;
pub use plan::{
    model_plan_cache_hits, plan_matmul, plan_matmul_with, CubeDType, MatmulPlan, MatmulShape,
    PlanError, TileRequest, Tiling,
};
pub use traffic::{traffic, Traffic};

use crate::graph::dim::DimEvalError;
use crate::graph::types::DType;
use crate::graph::{Hint, Kernel, Op, OpKind, SrcLoc, Sym, SymKind};
use crate::target::Target;

/// A matmul the cube path cannot take, located at the op.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("`matmul` {what}{}: {problem}", at(loc))]
pub struct CubeError {
    /// The op as the graph IR text shows it (`v2 = matmul v0, v1`).
    pub what: String,
    /// Where it is in the DSL source.
    pub loc: SrcLoc,
    /// What is wrong, with the numbers (boxed: errors stay small on the happy path).
    pub problem: Box<CubeProblem>,
}

/// What is wrong with a matmul for the cube path.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum CubeProblem {
    /// The operands' dtypes are not a pair the cube multiplies.
    #[error("the cube multiplies bf16 x bf16, f16 x f16 or f32 x f32 (f32 accumulation); found {a} x {b}")]
    DTypes {
        /// The left operand's dtype.
        a: String,
        /// The right operand's dtype.
        b: String,
    },
    /// The operands' shapes disagree (only graph IR from elsewhere: the frontend refuses these).
    #[error("shapes disagree: a is {a:?}, b is {b:?}; a's columns must equal b's rows")]
    Shapes {
        /// A's dims.
        a: Vec<i64>,
        /// B's dims.
        b: Vec<i64>,
    },
    /// A hint the cube path does not take.
    #[error("#[{hint}({key} = {value})] {reason}")]
    Hint {
        /// The hint's name.
        hint: String,
        /// Its key.
        key: String,
        /// Its value.
        value: i64,
        /// Why it cannot be honored.
        reason: &'static str,
    },
    /// A matmul the planner accepts but the lowering cannot emit yet.
    #[error("{0}")]
    NotLowered(&'static str),
    /// A matmul and the ops after it that one MIX kernel cannot take (the reason names them).
    #[error("with its epilogue as one MIX kernel: {0}")]
    Epilogue(String),
    /// K or N is a dynamic dim: the tile sizes and the AIC kernel's loops are compile-time constants.
    #[error("needs a static K and N, and its {which} is the dynamic dim `{name}`: make it a const generic (`const {name}: usize`) and bind it with `--set {name}=...`")]
    DynamicDim {
        /// `K` or `N`.
        which: &'static str,
        /// The dim's name in the source.
        name: String,
    },
    /// A dim of the operands has no value (out of range, overflow, an inexact quotient).
    #[error("cannot evaluate a dim of its operands: {0}")]
    DimValue(crate::graph::dim::DimEvalError),
    /// An operand is not a tensor (only graph IR from elsewhere: the frontend refuses these).
    #[error("operand {0} is not a tensor")]
    NotTensor(usize),
    /// M is an expression of several dims: the tiling field `m` is one dim or a literal.
    #[error("its rows (M) must be a literal or one dynamic dim")]
    RowsExpr,
    /// The lone-matmul AIC kernel reads two parameters and writes an output.
    #[error("the AIC kernel of a lone matmul takes two parameters and returns the product")]
    NotParams,
    /// The planner's refusal.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

fn at(loc: &SrcLoc) -> String {
    if loc.is_unknown() {
        String::new()
    } else {
        format!(" at line {}, column {}", loc.line, loc.col)
    }
}

/// The cube element type of a matmul with operand dtypes `a` and `b`, if the cube takes them.
pub fn cube_dtype(a: DType, b: DType) -> Option<CubeDType> {
    match (a, b) {
        (DType::BF16, DType::BF16) => Some(CubeDType::Bf16),
        (DType::F16, DType::F16) => Some(CubeDType::F16),
        (DType::F32, DType::F32) => Some(CubeDType::F32),
        _ => None,
    }
}

/// The tile request written on an op: `#[tile(m, n, k)]` and `#[block_dim(n)]` are honored;
/// `#[buffer_num(2)]` states what the cube path does anyway. Anything else is refused rather than
/// ignored.
pub fn tile_request(hints: &[Hint]) -> Result<TileRequest, CubeProblem> {
    let mut req = TileRequest::default();
    for h in hints {
        for (key, value) in &h.args {
            let bad = |reason| CubeProblem::Hint {
                hint: h.name.clone(),
                key: key.clone(),
                value: *value,
                reason,
            };
            let v = u64::try_from(*value).map_err(|_| bad("must be positive"))?;
            // Graph IR from elsewhere may carry one hint twice (the frontend refuses that): two
            // values for one key are refused, not decided by order.
            let set = |slot: &mut Option<u64>| match *slot {
                Some(old) if old != v => Err(bad("contradicts another value of the same key")),
                _ => {
                    *slot = Some(v);
                    Ok(())
                }
            };
            match (h.name.as_str(), key.as_str()) {
                ("tile", "m") => set(&mut req.m)?,
                ("tile", "n") => set(&mut req.n)?,
                ("tile", "k") => set(&mut req.k)?,
                ("tile", _) => {
                    return Err(bad("is for vector ops; a matmul takes tile m, n and k"))
                }
                ("block_dim", "n") => set(&mut req.block_dim)?,
                ("buffer_num", "n") if v == 2 => {}
                ("buffer_num", _) => return Err(bad(
                    "cannot be honored: the cube path double buffers every stage (buffer_num = 2)",
                )),
                _ => return Err(bad("is not a hint the cube path knows")),
            }
        }
    }
    Ok(req)
}

/// Plans matmul op `op` of the specialized `kernel`, with `dims` giving the dynamic dims' values,
/// candidates scored as `tiling` says; the op's `#[tile]` and `#[block_dim]` hints fix what they name
/// whatever the scoring.
pub fn plan_matmul_op(
    kernel: &Kernel,
    op: Op,
    dims: &dyn Fn(Sym) -> Option<i64>,
    target: &Target,
    tiling: Tiling,
) -> Result<MatmulPlan, CubeError> {
    let located = |problem| CubeError {
        what: crate::opt::describe_op(kernel, op),
        loc: kernel.locs[op],
        problem: Box::new(problem),
    };
    let data = &kernel.ops[op];
    debug_assert!(matches!(data.kind, OpKind::MatMul));
    let tensor = |i: usize| {
        data.args
            .get(i)
            .and_then(|v| kernel.ty(*v).as_tensor())
            .ok_or_else(|| located(CubeProblem::NotTensor(i)))
    };
    let (a, b) = (tensor(0)?, tensor(1)?);
    let dtype = cube_dtype(a.dtype, b.dtype).ok_or_else(|| {
        located(CubeProblem::DTypes {
            a: format!("{:?}", a.dtype).to_lowercase(),
            b: format!("{:?}", b.dtype).to_lowercase(),
        })
    })?;
    let dynamic = |s: Sym| kernel.syms[s].kind == SymKind::Dynamic;
    // K and N take no value from `dims`: a dynamic one is refused by name, even where `dims` gives
    // every dim a representative value (`check_matmuls`).
    let eval = |which: Option<&'static str>, d: &crate::graph::dim::Dim| {
        let value = |s: Sym| {
            if which.is_some() && dynamic(s) {
                None
            } else {
                dims(s)
            }
        };
        d.eval(&value, &kernel.syms).map_err(|e| match (which, e) {
            (Some(which), DimEvalError::Unbound(name))
                if kernel
                    .syms
                    .values()
                    .any(|d| d.name == name && d.kind == SymKind::Dynamic) =>
            {
                located(CubeProblem::DynamicDim {
                    which,
                    name: name.to_string(),
                })
            }
            (_, e) => located(CubeProblem::DimValue(e)),
        })
    };
    // Which dim is K or N (for a 2-D operand; other ranks are the shape error below).
    let role = |is_a: bool, i: usize, rank: usize| match (is_a, i, rank) {
        (true, 1, 2) | (false, 0, 2) => Some("K"),
        (false, 1, 2) => Some("N"),
        _ => None,
    };
    let av: Vec<i64> = (a.shape.iter().enumerate())
        .map(|(i, d)| eval(role(true, i, a.shape.len()), d))
        .collect::<Result<_, _>>()?;
    let bv: Vec<i64> = (b.shape.iter().enumerate())
        .map(|(i, d)| eval(role(false, i, b.shape.len()), d))
        .collect::<Result<_, _>>()?;
    let (&[m, k], &[kb, n]) = (av.as_slice(), bv.as_slice()) else {
        return Err(located(CubeProblem::Shapes { a: av, b: bv }));
    };
    if k != kb {
        return Err(located(CubeProblem::Shapes { a: av, b: bv }));
    }
    let request = tile_request(&kernel.hints[op]).map_err(located)?;
    let shape = MatmulShape {
        m: m as u64,
        n: n as u64,
        k: k as u64,
        dtype,
    };
    plan_matmul_with(shape, request, target, tiling).map_err(|e| located(e.into()))
}

/// Who chose a plan's tile, for [`tile_note`]: the `#[tile]` hint when it names all three sides,
/// else the scoring (within the sides the hint names).
pub fn tile_chooser(request: &TileRequest, tiling: Tiling) -> String {
    match (request.m, request.n, request.k) {
        (Some(_), Some(_), Some(_)) => "#[tile]".to_string(),
        (None, None, None) => tiling.name().to_string(),
        _ => format!("{tiling} within #[tile]"),
    }
}

/// The note the lowering puts on a matmul's `Mmad` (printed in the kernel IR text and as a comment
/// in the emitted Ascend C), so the chosen tile and who chose it can be read from the output.
pub fn tile_note(plan: &MatmulPlan, chooser: &str) -> String {
    format!(
        "base tile {}x{}x{} (m x n x k), L1 stage of {} K blocks, {} cores: tiling {chooser}",
        plan.m, plan.n, plan.k, plan.depth, plan.block_dim
    )
}

/// Puts `note` on every `Mmad` of `kernel` that has no note yet.
pub(crate) fn note_mmads(kernel: &mut crate::kir::v2::Kernel, note: &str) {
    let mmads: Vec<_> = (kernel.insts.iter())
        .filter(|(_, d)| matches!(d, crate::kir::v2::InstData::Mmad { .. }))
        .map(|(i, _)| i)
        .collect();
    for i in mmads {
        if kernel.notes.get(i).is_none_or(|n| n.is_empty()) {
            kernel.notes[i] = note.to_string();
        }
    }
}

/// Checks every matmul of `kernel` before any dynamic dim is known: dtypes, shapes, hints, and a plan
/// with every dynamic dim at 1 (the budgets of a requested tile do not depend on the dims; static dims
/// beyond the kernel's integer fields are refused). The first problem is returned.
pub fn check_matmuls(kernel: &Kernel, target: &Target) -> Result<(), CubeError> {
    for &op in &kernel.order {
        if !matches!(kernel.ops[op].kind, OpKind::MatMul) {
            continue;
        }
        // Dynamic dims take a representative value: the budgets do not depend on M.
        let one = |_: Sym| Some(1);
        plan_matmul_op(kernel, op, &one, target, Tiling::Rule)?;
    }
    Ok(())
}

#[cfg(test)]
mod edge_tests;
#[cfg(test)]
mod tests;

/// Rows a dynamic M is planned for: tile sizes are compile-time constants of the kernel, so they are
/// chosen for a large M (prefill); the tile count and the block dim follow the real M at launch.
pub const PLANNED_ROWS: u64 = 4096;

/// The AIC program of a graph kernel that is one matmul of two parameters (the `gemm` example): the
/// op is planned ([`plan_matmul_op`], dynamic M at [`PLANNED_ROWS`]) and lowered
/// ([`lower::lower_matmul`]), its tile scored as `tiling` says unless `#[tile]` fixes it; the `Mmad`
/// carries the [`tile_note`]. N and K must be static.
pub fn lower_matmul_kernel(
    kernel: &Kernel,
    op: Op,
    target: &Target,
    tiling: Tiling,
) -> Result<crate::kir::v2::Program, CubeError> {
    let located = |problem| CubeError {
        what: crate::opt::describe_op(kernel, op),
        loc: kernel.locs[op],
        problem: Box::new(problem),
    };
    let data = &kernel.ops[op];
    let a = kernel
        .ty(data.args[0])
        .as_tensor()
        .expect("checked by plan_matmul_op");
    let m_dim = &a.shape[0];
    let (m_host, rows) = match (m_dim.as_int(), m_dim.as_sym()) {
        (Some(c), _) => (crate::kir::Expr::Int(c), None),
        (None, Some(s)) => (crate::kir::Expr::sym(kernel.syms[s].name), Some(s)),
        _ => return Err(located(CubeProblem::RowsExpr)),
    };
    let dims = |s: Sym| (Some(s) == rows).then_some(PLANNED_ROWS as i64);
    let plan = plan_matmul_op(kernel, op, &dims, target, tiling)?;
    let request = tile_request(&kernel.hints[op]).map_err(located)?;
    let note = tile_note(&plan, &tile_chooser(&request, tiling));
    let name = |v| {
        kernel
            .params
            .iter()
            .find(|p| p.value == v)
            .map(|p| p.name.as_str())
            .or_else(|| {
                kernel
                    .outputs
                    .iter()
                    .find(|o| o.value == v)
                    .map(|o| o.name.as_str())
            })
    };
    let (Some(an), Some(bn), Some(cn)) = (
        name(data.args[0]),
        name(data.args[1]),
        name(data.results[0]),
    ) else {
        return Err(located(CubeProblem::NotParams));
    };
    let names = lower::MatmulNames {
        program: &kernel.name,
        a: an,
        b: bn,
        c: cn,
    };
    let mut program = lower::lower_matmul(&names, &plan, m_host, target);
    for k in program.kernels.values_mut() {
        note_mmads(k, &note);
    }
    Ok(program)
}
