//! Grouped GEMM: `out[d, :] = A[d, :] @ W[e(d)]` for the rows `d` of every expert `e`, the rows of an
//! expert given by the routing table's `offsets` in GM (read on the device), or one dense block.
//!
//! The AIC side is the cube lowering's (`crate::schedule::cube::lower`): the same L1 stages, K slices,
//! `Mmad`s and queues, with A's GM row base, B's GM base (expert `e`'s matrix) and the tile's row count
//! as device expressions, and optionally A's stage gathered row by row from `x` through `order` (the
//! dispatch prologue: no permuted copy of `x` in GM).
//!
//! # Work items and tiling
//!
//! A work item is `(group, n-tile)`: for routed rows a group is an expert, and the item walks the
//! expert's m-tiles (`ceil(rows_e / m)` of them, `rows_e = offsets[e+1] - offsets[e]` read with
//! `ReadScalar`), so an expert with no rows has a loop of zero trips and loads no weights. Dense rows
//! have one group per m-tile of the block. Items are dealt round-robin over the AIC cores (item =
//! `block_idx + i * block_num`), expert-major, so the `ceil(N / n)` items of one expert sit on
//! neighbouring cores at the same time (their A rows are read together, from L2).
//!
//! Routed tiles are `m = 64` rows (decode has a few rows per expert; one m-tile covers an expert with
//! up to 64 rows) by the widest `n` that fits L0 (up to [`ROUTED_MAX_N`] = 512: one 64 x 512 f32
//! accumulator fills L0C, so L0C is not double buffered and a tile's `Fixpipe` does not overlap
//! the next tile's `Mmad`s; decode is bound by the weights' bandwidth, not the cube), so A is re-read
//! little:
//!
//! - weights: expert `e`'s `K x N` matrix is read `ceil(rows_e / m)` times (once per m-tile; once for
//!   `rows_e <= 64`), and never for `rows_e = 0`;
//! - A: every routed row is read `ceil(N / n)` times (once per n-tile).
//!
//! Dense rows use the matmul planner's tile for a large M ([`crate::schedule::cube::PLANNED_ROWS`]),
//! with the same two factors (`ceil(M / m)` for the weights, `ceil(N / n)` for A).
//!
//! With the gather prologue each row of A is one `CopyNd2Nz` of one row per L1 stage, its source
//! row read from `order` (4 bytes per row and stage); the factors are the same.
//!
//! # Epilogues (MIX kernels, `epilogue`)
//!
//! - SwiGLU: an item is `(group, n-tile of I)` and computes the gate and the up tile (B's columns
//!   `j*n ..` and `I + j*n ..`), so n divides I (the widest multiple of 16 up to 512 that does; m = 64
//!   rows for dense rows too): the weights are read `ceil(rows_e / m)` times as above, A
//!   `2 * I / n` times (once per tile of each half).
//! - Combine: the tile as stored, then on the AIVs one row at a time: `order[d]` and `weights[d]`
//!   read per row, the row scaled in f32 and atomically added into its token's row of `acc`; n
//!   divides N.
//!
//! Rows after `offsets[E]` (slots routed to no valid expert) are not computed: their output rows are
//! left as they were.
//!
//! # Bad tables
//!
//! Values read from GM are clamped before they address GM: an expert's rows to `0..total_rows`, a slot
//! of `order` to `0..total_rows`, so a corrupt table computes wrong rows but never reads or writes
//! outside the buffers.

mod epilogue;

pub use epilogue::{CREDITS, SLOT_BUFS};

use cranelift_entity::PrimaryMap;

use crate::graph::{DType, SrcLoc};
use crate::kir::v2::{
    self, BinOp, CoreKind, FieldData, GmBuf, GmBufData, GmKind, GmRef, HostExpr, IExpr, InstData,
    Kernel, Program, Var, VarData,
};
use crate::schedule::cube::lower::{
    add, ceil_div, declare_locals, div, dtype, emit_tile_mmads, int, min, mul, sub, tile_exprs_at,
    ARows, Builder, Locals, TileExprs,
};
use crate::schedule::cube::{plan_matmul, CubeDType, MatmulPlan, MatmulShape, TileRequest};
use crate::schedule::LowerError;
use crate::target::Target;

/// Which rows the GEMM has: per expert from `offsets` in GM (read on the device), or one dense block.
#[derive(Clone, Debug)]
pub enum GmmRows<'a> {
    /// Rows `offsets[e] .. offsets[e+1]` use expert `e`'s weights; `offsets: i32 [experts + 1]`.
    Routed {
        /// The GM name of the offsets (`{r}_offsets`).
        offsets: &'a str,
        /// Experts `E` (static).
        experts: u64,
    },
    /// Every row uses the one `(K, N)` weight matrix (the shared expert).
    Dense,
}

/// Where A's rows come from.
#[derive(Clone, Debug)]
pub enum GmmA<'a> {
    /// Row d of A is row d of `a: (rows, K)`.
    Rows {
        /// The GM name of A.
        a: &'a str,
    },
    /// Dispatch prologue: row d of A is row `order[d] / k_slots` of `x: (T, K)` (gathered while loading
    /// into L1: no permuted copy of x in GM).
    Gather {
        /// The GM name of the tokens `x: (T, K)`.
        x: &'a str,
        /// The GM name of `order: i32 [T * k_slots]` (`{r}_order`).
        order: &'a str,
        /// Slots per token.
        k_slots: u64,
    },
}

/// What happens to each finished output tile.
#[derive(Clone, Debug)]
pub enum GmmOut<'a> {
    /// `c: (rows, N)` in `dtype` (bf16/f16: rounded by Fixpipe; f32: the accumulator as is).
    Store {
        /// The GM name of the result.
        c: &'a str,
        /// Its element type: the input dtype or f32.
        dtype: DType,
    },
    /// SwiGLU epilogue (MIX kernel): B has N = 2*I columns, gate half first; writes `act: (rows, I)` in
    /// the input dtype = round(silu(g) * u) with g, u the accumulators rounded to the input dtype first.
    Swiglu {
        /// The GM name of the activations.
        act: &'a str,
    },
    /// Combine epilogue (MIX kernel): `acc[order[d] / k_slots, :] += weights[d] * round(y[d, :])` in
    /// f32 with atomic adds.
    Combine {
        /// The GM name of the router weight of each destination row (`f32 [rows]`).
        weights: &'a str,
        /// The GM name of `order`.
        order: &'a str,
        /// Slots per token.
        k_slots: u64,
        /// The GM name of `acc: f32 (T, N)`, initialized by an earlier kernel.
        acc: &'a str,
    },
}

/// A grouped GEMM to lower.
#[derive(Clone, Debug)]
pub struct GmmSpec<'a> {
    /// The program name.
    pub program: &'a str,
    /// A's rows.
    pub a: GmmA<'a>,
    /// `(E, K, N)` weights for Routed rows, `(K, N)` for Dense.
    pub w: &'a str,
    /// The row groups.
    pub rows: GmmRows<'a>,
    /// The output.
    pub out: GmmOut<'a>,
    /// Reduction length K (static).
    pub k: u64,
    /// Output columns N (static).
    pub n: u64,
    /// Operand type: bf16 or f16 (f32 is refused).
    pub dtype: CubeDType,
    /// Total rows (T*K_slots for routed, M for dense), a host expression of the dynamic dims.
    pub total_rows: HostExpr,
    /// Tokens T, a host expression of the dynamic dims.
    pub tokens: HostExpr,
}

/// Tile rows of routed rows: one m-tile covers an expert of up to 64 rows (decode).
pub const ROUTED_M: u64 = 64;

/// The widest n-tile of routed rows: a 64 x 512 f32 accumulator is all of L0C (128 KiB). Every
/// n-tile reads the tile's rows of A once more, so the widest tile reads A least.
pub const ROUTED_MAX_N: u64 = 512;

fn unsupported(reason: String) -> LowerError {
    LowerError::Unsupported {
        op: "grouped_matmul".into(),
        loc: SrcLoc::default(),
        reason,
    }
}

/// Refuses what the lowering does not take: f32 operands, no experts, empty K or N, no slots.
fn check_spec(spec: &GmmSpec<'_>) -> Result<(), LowerError> {
    if spec.dtype == CubeDType::F32 {
        return Err(unsupported(
            "f32 operands have no grouped GEMM lowering (bf16 and f16 do)".into(),
        ));
    }
    if spec.k == 0 || spec.n == 0 {
        return Err(unsupported(format!(
            "K = {} and N = {} must be positive",
            spec.k, spec.n
        )));
    }
    if let GmmRows::Routed { experts: 0, .. } = spec.rows {
        return Err(unsupported(
            "a routed GEMM needs at least one expert".into(),
        ));
    }
    let gather_slots = match spec.a {
        GmmA::Gather { k_slots, .. } => Some(k_slots),
        GmmA::Rows { .. } => None,
    };
    let combine_slots = match spec.out {
        GmmOut::Combine { k_slots, .. } => Some(k_slots),
        _ => None,
    };
    if gather_slots == Some(0) || combine_slots == Some(0) {
        return Err(unsupported("k_slots must be positive".into()));
    }
    Ok(())
}

/// The tiling of `spec` (see the module docs).
pub fn plan_gmm(spec: &GmmSpec<'_>, target: &Target) -> Result<MatmulPlan, LowerError> {
    check_spec(spec)?;
    let planned = |shape, request| {
        plan_matmul(shape, request, target).map_err(|e| {
            unsupported(format!(
                "no tiling of K = {}, N = {} fits: {e}",
                spec.k, spec.n
            ))
        })
    };
    // The SwiGLU epilogue's tiles cover the gate half (and, shifted by I, the up half): n divides I,
    // so an item's gate and up tiles have the same columns and the AIV copies have static widths.
    let (cols, divides) = match spec.out {
        GmmOut::Swiglu { .. } => (spec.n / 2, true),
        GmmOut::Combine { .. } => (spec.n, true),
        GmmOut::Store { .. } => (spec.n, false),
    };
    if divides && (!spec.n.is_multiple_of(2) || !cols.is_multiple_of(16)) {
        let what = match spec.out {
            GmmOut::Swiglu { .. } => "N = 2*I with I",
            _ => "N",
        };
        return Err(unsupported(format!(
            "the vector epilogue copies whole tiles of 16-column blocks: it needs {what} a multiple of 16, found N = {}",
            spec.n
        )));
    }
    if matches!(spec.rows, GmmRows::Dense) && !divides {
        let shape = MatmulShape {
            m: crate::schedule::cube::PLANNED_ROWS,
            n: spec.n,
            k: spec.k,
            dtype: spec.dtype,
        };
        return planned(shape, TileRequest::default());
    }
    let shape = MatmulShape {
        m: ROUTED_M,
        n: cols,
        k: spec.k,
        dtype: spec.dtype,
    };
    // The widest n that fits, from ROUTED_MAX_N down (L0C holds m x n f32 accumulators).
    let mut n = cols.div_ceil(16).min(ROUTED_MAX_N / 16) * 16;
    while n >= 16 {
        let request = TileRequest {
            m: Some(ROUTED_M),
            n: Some(n),
            ..TileRequest::default()
        };
        if !divides || cols.is_multiple_of(n) {
            if let Ok(p) = plan_matmul(shape, request, target) {
                return Ok(p);
            }
        }
        n -= 16;
    }
    planned(
        shape,
        TileRequest {
            m: Some(ROUTED_M),
            n: Some(16),
            ..TileRequest::default()
        },
    )
}

/// The GM buffers and host fields of a grouped GEMM program.
pub(crate) struct GmmHeader {
    pub(crate) p: Program,
    /// A (or `x` for a gather).
    pub(crate) ga: GmBuf,
    pub(crate) gw: GmBuf,
    pub(crate) offsets: Option<GmBuf>,
    pub(crate) order: Option<GmBuf>,
    /// `total_rows`.
    pub(crate) f_rows: crate::kir::v2::Field,
    /// Work items.
    pub(crate) f_items: crate::kir::v2::Field,
    /// The kernel's GM parameters so far (inputs), in order.
    pub(crate) params: Vec<GmBuf>,
    /// The block dim.
    pub(crate) block_dim: HostExpr,
}

fn host_mul(a: HostExpr, b: HostExpr) -> HostExpr {
    HostExpr::Mul(Box::new(a), Box::new(b))
}

/// Checks `spec` and declares its inputs and fields; the n-tiles cover `cols` output columns.
pub(crate) fn declare_inputs(
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    cols: u64,
    target: &Target,
) -> Result<GmmHeader, LowerError> {
    let (dt, _, _) = dtype(spec.dtype);
    let mut p = Program::new(spec.program);
    for e in [&spec.total_rows, &spec.tokens] {
        for s in e.syms() {
            if !p.dims.contains(&s) {
                p.dims.push(s);
            }
        }
    }
    let mut params = vec![];
    let mut input = |p: &mut Program, name: &str, dtype, shape: Vec<HostExpr>| {
        let g = p.gm.push(GmBufData {
            name: name.to_string(),
            kind: GmKind::Input,
            dtype,
            shape,
        });
        params.push(g);
        g
    };
    let kk = HostExpr::Int(spec.k as i64);
    let nn = HostExpr::Int(spec.n as i64);
    let rows = spec.total_rows.clone();
    let (ga, order) = match spec.a {
        GmmA::Rows { a } => (input(&mut p, a, dt, vec![rows.clone(), kk.clone()]), None),
        GmmA::Gather { x, order, .. } => {
            let gx = input(&mut p, x, dt, vec![spec.tokens.clone(), kk.clone()]);
            let go = input(&mut p, order, DType::I32, vec![rows.clone()]);
            (gx, Some(go))
        }
    };
    let w_shape = match spec.rows {
        GmmRows::Routed { experts, .. } => vec![HostExpr::Int(experts as i64), kk, nn],
        GmmRows::Dense => vec![kk, nn],
    };
    let gw = input(&mut p, spec.w, dt, w_shape);
    let offsets = match spec.rows {
        GmmRows::Routed { offsets, experts } => Some(input(
            &mut p,
            offsets,
            DType::I32,
            vec![HostExpr::Int(experts as i64 + 1)],
        )),
        GmmRows::Dense => None,
    };
    let tiles_n = cols.div_ceil(plan.n);
    let items = match spec.rows {
        GmmRows::Routed { experts, .. } => HostExpr::Int((experts * tiles_n) as i64),
        GmmRows::Dense => host_mul(
            HostExpr::ceil_div(rows.clone(), HostExpr::Int(plan.m as i64)),
            HostExpr::Int(tiles_n as i64),
        ),
    };
    let f_rows = p.fields.push(FieldData {
        name: "rows".into(),
        expr: rows,
    });
    let f_items = p.fields.push(FieldData {
        name: "items".into(),
        expr: items.clone(),
    });
    let block_dim = match items.as_int() {
        Some(n) => HostExpr::Int(n.clamp(1, i64::from(target.cube_cores))),
        None => HostExpr::min(
            HostExpr::Int(i64::from(target.cube_cores)),
            HostExpr::max(items, HostExpr::Int(1)),
        ),
    };
    Ok(GmmHeader {
        p,
        ga,
        gw,
        offsets,
        order,
        f_rows,
        f_items,
        params,
        block_dim,
    })
}

/// One side's walk over its AI core's tiles: the item loop (round-robin over the cores), the group's
/// rows (read from `offsets`, clamped), the m-tile loop; expressions of the current tile.
pub(crate) struct Walk {
    /// The item counter.
    pub(crate) v_item: Var,
    /// The m-tile counter.
    pub(crate) v_mt: Var,
    /// The output column block (n-tile) of the item.
    pub(crate) j: IExpr,
    /// The tile's first destination row.
    pub(crate) row0: IExpr,
    /// The tile's rows (at most `m`).
    pub(crate) rows: IExpr,
    /// Element offset of the group's weight matrix.
    pub(crate) b_base: IExpr,
    mt_end: IExpr,
    item_end: IExpr,
}

fn var(k: &mut Kernel, name: &str) -> Var {
    k.vars.push(VarData { name: name.into() })
}

/// Opens the item and m-tile loops of one side (`core`: this side's AI core, `cols`: the output
/// columns the n-tiles cover); [`close_walk`] ends them.
pub(crate) fn open_walk(
    bld: &mut Builder,
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    h: &GmmHeader,
    core: IExpr,
    v_item: Var,
    cols: u64,
) -> Walk {
    let v_mt = var(&mut bld.k, "m_tile");
    let m = plan.m;
    let tiles_n = cols.div_ceil(plan.n);
    let rows = IExpr::Field(h.f_rows);
    let item = add(core.clone(), mul(IExpr::Var(v_item), IExpr::BlockNum));
    let (group, j) = if tiles_n == 1 {
        (item, int(0))
    } else {
        (
            div(item.clone(), int(tiles_n)),
            IExpr::bin(BinOp::Rem, item, int(tiles_n)),
        )
    };
    bld.open(); // item
    let (lo, hi, b_base) = match h.offsets {
        Some(offsets) => {
            let v_lo = var(&mut bld.k, "lo");
            let v_hi = var(&mut bld.k, "hi");
            for (v, at) in [(v_lo, group.clone()), (v_hi, add(group.clone(), int(1)))] {
                bld.inst(InstData::ReadScalar {
                    dst: v,
                    src: GmRef {
                        buf: offsets,
                        offset: at,
                    },
                });
            }
            // Clamped into 0..rows (see the module docs).
            let lo = min(
                IExpr::bin(BinOp::Max, IExpr::Var(v_lo), int(0)),
                rows.clone(),
            );
            let hi = min(
                IExpr::bin(BinOp::Max, IExpr::Var(v_hi), lo.clone()),
                rows.clone(),
            );
            (lo, hi, mul(group, int(spec.k * spec.n)))
        }
        None => {
            let lo = mul(group, int(m));
            (lo.clone(), min(add(lo, int(m)), rows.clone()), int(0))
        }
    };
    let mt_end = ceil_div(sub(hi.clone(), lo.clone()), int(m));
    bld.open(); // m-tile
    let row0 = add(lo, mul(IExpr::Var(v_mt), int(m)));
    let tile_rows = min(int(m), sub(hi, row0.clone()));
    Walk {
        v_item,
        v_mt,
        j,
        row0,
        rows: tile_rows,
        b_base,
        mt_end,
        item_end: ceil_div(sub(IExpr::Field(h.f_items), core), IExpr::BlockNum),
    }
}

/// Ends the m-tile and item loops opened by [`open_walk`].
pub(crate) fn close_walk(bld: &mut Builder, w: &Walk) {
    bld.close_for(w.v_mt, int(0), w.mt_end.clone());
    bld.close_for(w.v_item, int(0), w.item_end.clone());
}

/// The AIC's tile expressions of the walk's current tile, columns from `col0` on (B's columns
/// `col0 + j*n ..` of a row of `b_pitch`; `plan.shape.n` columns in all).
pub(crate) fn aic_tile(
    bld: &mut Builder,
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    h: &GmmHeader,
    l: &Locals,
    w: &Walk,
    col0: u64,
) -> TileExprs {
    let a_rows = match (&spec.a, h.order) {
        (GmmA::Gather { k_slots, .. }, Some(order)) => ARows::Gather {
            row0: w.row0.clone(),
            order,
            v_row: var(&mut bld.k, "a_row"),
            v_slot: var(&mut bld.k, "slot"),
            k_slots: *k_slots,
            slots: IExpr::Field(h.f_rows),
        },
        _ => ARows::Contiguous {
            row0: w.row0.clone(),
        },
    };
    let mut x = tile_exprs_at(
        plan,
        l,
        IExpr::Var(w.v_mt),
        w.j.clone(),
        a_rows,
        w.rows.clone(),
        add(w.b_base.clone(), int(col0)),
    );
    x.b_pitch = spec.n;
    x
}

/// Synchronizes, checks and wraps the kernel into the program.
pub(crate) fn finish(
    mut k: Kernel,
    mut p: Program,
    target: &Target,
) -> Result<Program, LowerError> {
    let name = k.name.clone();
    let internal = |message: String| LowerError::Internal {
        kernel: name.clone(),
        message,
    };
    // `insert_sync` returns only once a hazard check of the kernel passes.
    v2::insert_sync(&mut k).map_err(|e| internal(e.to_string()))?;
    p.kernels = PrimaryMap::new();
    p.kernels.push(k);
    v2::verify_program(&p, target)
        .map_err(|e| internal(format!("{e}\n{}", v2::program_to_string(&p))))?;
    Ok(p)
}

/// Lowers a grouped GEMM (see the module docs) to one AIC kernel (`Store`) or one MIX kernel
/// (`Swiglu`, `Combine`), its GM buffers named by `spec`.
pub fn lower_grouped_matmul(spec: &GmmSpec<'_>, target: &Target) -> Result<Program, LowerError> {
    let plan = plan_gmm(spec, target)?;
    match spec.out {
        GmmOut::Store { c, dtype: out } => lower_store(spec, &plan, c, out, target),
        GmmOut::Swiglu { act } => epilogue::lower_swiglu(spec, &plan, act, target),
        GmmOut::Combine {
            weights,
            order,
            k_slots,
            acc,
        } => epilogue::lower_combine(spec, &plan, weights, order, k_slots, acc, target),
    }
}

fn lower_store(
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    c: &str,
    out: DType,
    target: &Target,
) -> Result<Program, LowerError> {
    let (dt, _, quant) = dtype(spec.dtype);
    let quant = match out {
        DType::F32 => crate::kir::v2::Quant::None,
        o if o == dt => quant,
        o => {
            return Err(unsupported(format!(
                "the result `{c}` is {o}: it must be {dt} (the operands' type) or f32"
            )))
        }
    };
    let mut h = declare_inputs(spec, plan, spec.n, target)?;
    let gc = h.p.gm.push(GmBufData {
        name: c.to_string(),
        kind: GmKind::Output,
        dtype: out,
        shape: vec![spec.total_rows.clone(), HostExpr::Int(spec.n as i64)],
    });
    check_distinct(&h.p)?;
    let mut kernel = Kernel::new(
        format!("{}_k0", spec.program),
        CoreKind::Aic,
        h.block_dim.clone(),
    );
    kernel.params = h.params.clone();
    kernel.params.push(gc);
    let mut bld = Builder {
        k: kernel,
        stack: vec![Vec::new()],
    };
    let (_, elem, _) = dtype(spec.dtype);
    let l = declare_locals(&mut bld.k, plan, elem);
    let w = open_walk(&mut bld, spec, plan, &h, IExpr::BlockIdx, l.v_tile, spec.n);
    let x = aic_tile(&mut bld, spec, plan, &h, &l, &w, 0);
    emit_tile_mmads(&mut bld, plan, &l, &x, h.ga, h.gw);
    let n = spec.n;
    bld.inst(InstData::Fixpipe {
        dst: GmRef {
            buf: gc,
            offset: add(mul(w.row0.clone(), int(n)), mul(w.j.clone(), int(plan.n))),
        },
        src: l.t_c,
        m: x.rows.clone(),
        n: x.cols.clone(),
        src_stride: x.rows_a.clone(),
        gm_pitch: int(n),
        quant,
        relu: false,
    });
    bld.free(l.q_c, l.t_c);
    close_walk(&mut bld, &w);
    let mut k = bld.k;
    k.body = bld.stack.pop().expect("the body");
    let p = std::mem::replace(&mut h.p, Program::new(""));
    finish(k, p, target)
}

/// Refuses a spec whose GM names repeat (the Linker joins buffers by name, so two roles under one
/// name would alias).
fn check_distinct(p: &Program) -> Result<(), LowerError> {
    let names: Vec<&str> = p.gm.values().map(|g| g.name.as_str()).collect();
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(unsupported(format!(
                "the GM name `{n}` is given to two different buffers"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
