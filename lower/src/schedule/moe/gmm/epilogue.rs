//! The MIX epilogues of the grouped GEMM: the AIC writes each finished tile into a workspace slot of
//! its AI core, rounded to the input dtype by `Fixpipe`, and its two AIVs finish it (SwiGLU, or the
//! weighted combine into the token rows).
//!
//! The hand-off is the protocol of `crate::schedule::cube::mix` (its flags [`SLOT_READY`],
//! [`SLOT_FREE`] and [`PAIR_READ`]) with [`CREDITS`] credits: the AIVs set [`SLOT_FREE`] [`CREDITS`]
//! times at the start; per tile the AIC waits [`SLOT_FREE`], writes, sets [`SLOT_READY`]; the AIVs
//! wait [`SLOT_READY`], read their half of the tile's rows, pair up with [`PAIR_READ`] (mode 1) and set
//! [`SLOT_FREE`]; the AIC drains the last credits at the end.
//!
//! One credit and one slot per AI core, where `mix.rs` has two of each used in turns (`tile % 2`):
//! with more credits the AIC may write a tile while the AIVs still read the one before, so
//! consecutive tiles of a core must use different slots, and here a core's tiles are numbered by
//! (item, m-tile) with the m-tile counts read on the device and items without rows in between (no
//! parity of the counters tells consecutive tiles apart; the IR has no running counter). With one
//! credit the AIC still runs the next tile's `Mmad`s while the AIVs work; only its `Fixpipe` waits.

use crate::kir::v2::{
    GmBuf, GmBufData, GmKind, GmRef, Home, HostExpr, IExpr, InstData, Kernel, LocalBuf,
    LocalBufData, Pipe, Program, Side, Stmt, Tensor, TensorData, VarData, VecOp,
};
use crate::kir::{
    CoreKind, Elem, MemSpace, Round, Scalar, SegView, VecBinary, VecScalar, VecUnary,
};
use crate::schedule::cube::lower::{
    add, ceil_div, declare_locals, div, dtype, emit_tile_mmads, int, min, mul, sub, Builder,
};
use crate::schedule::cube::mix::{aiv_half, cross, PAIR_READ, SLOT_FREE, SLOT_READY};
use crate::schedule::cube::MatmulPlan;
use crate::schedule::LowerError;
use crate::target::Target;

use super::{
    aic_tile, check_distinct, close_walk, declare_inputs, finish, open_walk, GmmHeader, GmmSpec,
};

/// Workspace slot buffers per AI core (see the module docs).
pub const SLOT_BUFS: u64 = 1;

/// Tiles the AIC may write ahead of its AIVs (see the module docs).
pub const CREDITS: u64 = 1;

/// The slot of this AI core (`core`), as an element offset into a workspace of `slot_elems` per
/// slot.
fn slot_offset(core: IExpr, slot_elems: u64) -> IExpr {
    mul(core, int(SLOT_BUFS * slot_elems))
}

/// The workspace of the hand-off: [`SLOT_BUFS`] slots of `m x width` (input dtype) per AI core.
fn declare_workspace(
    h: &mut GmmHeader,
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    width: u64,
) -> GmBuf {
    let (dt, _, _) = dtype(spec.dtype);
    let rows = HostExpr::Mul(
        Box::new(h.block_dim.clone()),
        Box::new(HostExpr::Int((SLOT_BUFS * plan.m) as i64)),
    );
    h.p.workspace = HostExpr::Mul(
        Box::new(rows.clone()),
        Box::new(HostExpr::Int((width * spec.dtype.bytes()) as i64)),
    );
    h.p.gm.push(GmBufData {
        name: format!("{}_ws", spec.program),
        kind: GmKind::Workspace {
            offset: HostExpr::Int(0),
        },
        dtype: dt,
        shape: vec![rows, HostExpr::Int(width as i64)],
    })
}

/// UB tensors of the AIV side, carved from one buffer.
struct Ub {
    buf: LocalBuf,
    used: u32,
}

impl Ub {
    fn tensor(&mut self, k: &mut Kernel, name: &str, elem: Elem, elems: u64) -> Tensor {
        let t = k.tensors.push(TensorData {
            name: name.into(),
            elem,
            elems: elems as u32,
            home: Home::Buf {
                buf: self.buf,
                offset: self.used,
            },
        });
        let bytes = elems * u64::from(elem_bytes(elem));
        self.used += (bytes.div_ceil(32) * 32) as u32;
        t
    }
}

fn elem_bytes(e: Elem) -> u32 {
    match e {
        Elem::F32 | Elem::I32 => 4,
        Elem::F16 | Elem::BF16 => 2,
        Elem::Mask => 1,
    }
}

fn vector(
    op: VecOp,
    dst: Tensor,
    srcs: Vec<Tensor>,
    scalar: Option<Scalar>,
    count: IExpr,
) -> InstData {
    InstData::Vector {
        op,
        dsts: vec![dst],
        srcs,
        scalar,
        count,
    }
}

/// The SwiGLU program: B's columns are `[gate | up]` (`N = 2 I`); per item the AIC computes the gate
/// tile (columns `j*n ..`) and the up tile (`I + j*n ..`) into the two halves of a slot; the AIVs
/// write `act[d, j*n ..] = round(silu(g) * u)` in f32 from the rounded tiles.
/// The AIC side of an epilogue: per tile, one accumulation per entry of `col0s` (B's columns from
/// `col0 + j*n`), each `Fixpipe`d rounded into its `n` columns of the tile's slot (`col0s.len() * n`
/// wide); the slot is waited for before the first and handed to the AIVs after the last.
fn aic_side(
    m: &mut Mix,
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    cols: u64,
    col0s: &[u64],
) -> Vec<Stmt> {
    let (_, elem, quant) = dtype(spec.dtype);
    let (h, bld) = (&m.h, &mut m.bld);
    let n = plan.n;
    let width = col0s.len() as u64 * n;
    let l = declare_locals(&mut bld.k, plan, elem);
    let w = open_walk(bld, spec, plan, h, IExpr::BlockIdx, l.v_tile, cols);
    let slot = slot_offset(IExpr::BlockIdx, plan.m * width);
    for (i, &col0) in col0s.iter().enumerate() {
        let x = aic_tile(bld, spec, plan, h, &l, &w, col0);
        emit_tile_mmads(bld, plan, &l, &x, h.ga, h.gw);
        if i == 0 {
            bld.inst(cross(false, 2, Pipe::Fix, SLOT_FREE));
        }
        bld.inst(InstData::Fixpipe {
            dst: GmRef {
                buf: m.ws,
                offset: add(slot.clone(), int(i as u64 * n)),
            },
            src: l.t_c,
            m: x.rows.clone(),
            n: x.cols.clone(),
            src_stride: x.rows_a.clone(),
            gm_pitch: int(width),
            quant,
            relu: false,
        });
        if i + 1 == col0s.len() {
            bld.inst(cross(true, 2, Pipe::Fix, SLOT_READY));
        }
        bld.free(l.q_c, l.t_c);
    }
    close_walk(bld, &w);
    drain(bld);
    bld.stack.pop().expect("the AIC side")
}

pub(super) fn lower_swiglu(
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    act: &str,
    target: &Target,
) -> Result<Program, LowerError> {
    let (dt, _, _) = dtype(spec.dtype);
    let i_cols = spec.n / 2;
    let n = plan.n;
    let out = GmBufData {
        name: act.to_string(),
        kind: GmKind::Output,
        dtype: dt,
        shape: vec![spec.total_rows.clone(), HostExpr::Int(i_cols as i64)],
    };
    let mut mx = mix_setup(spec, plan, i_cols, vec![out], 2 * n, target)?;
    let aic_body = aic_side(&mut mx, spec, plan, i_cols, &[0, i_cols]);
    let aiv_body = swiglu_aiv(&mut mx, spec, plan, target)?;
    mix_finish(mx, aic_body, aiv_body, target)
}

/// The AIV side of the SwiGLU epilogue: this AIV's half of each tile's rows, in vector tiles.
fn swiglu_aiv(
    mx: &mut Mix,
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    target: &Target,
) -> Result<Vec<Stmt>, LowerError> {
    let (_, elem, _) = dtype(spec.dtype);
    let i_cols = spec.n / 2;
    let (m, n) = (plan.m, plan.n);
    let (h, bld, ws, ga) = (&mx.h, &mut mx.bld, mx.ws, mx.out);
    bld.stack.push(Vec::new());
    let tr = aiv_rows(plan, 18 * n, target)?;
    let buf = bld.k.bufs.push(LocalBufData {
        name: "ub".into(),
        mem: MemSpace::Ub,
        count: 1,
        bytes: (18 * n * tr) as u32,
    });
    let mut ub = Ub { buf, used: 0 };
    let k = &mut bld.k;
    let gate_h = ub.tensor(k, "gate_h", elem, tr * n);
    let up_h = ub.tensor(k, "up_h", elem, tr * n);
    let out_h = ub.tensor(k, "act_h", elem, tr * n);
    let g = ub.tensor(k, "gate", Elem::F32, tr * n);
    let u = ub.tensor(k, "up", Elem::F32, tr * n);
    let t = ub.tensor(k, "t", Elem::F32, tr * n);
    let v_item = aiv_prologue(bld);
    let core = div(IExpr::BlockIdx, int(2));
    let w = open_walk(bld, spec, plan, h, core.clone(), v_item, i_cols);
    let slot = slot_offset(core, m * 2 * n);
    let v_vt = bld.k.vars.push(VarData {
        name: "vec_tile".into(),
    });
    bld.inst(cross(false, 2, Pipe::Mte2, SLOT_READY));
    let (first, mine) = aiv_half(w.rows.clone());
    let local = mul(IExpr::Var(v_vt), int(tr));
    let cur = min(int(tr), sub(mine.clone(), local.clone()));
    let r0 = add(first, local);
    let count = mul(cur.clone(), int(n));
    bld.open(); // vector tiles
    for (dst, col) in [(gate_h, 0), (up_h, n)] {
        bld.inst(InstData::CopyIn {
            dst,
            src: GmRef {
                buf: ws,
                offset: add(add(slot.clone(), mul(r0.clone(), int(2 * n))), int(col)),
            },
            rows: cur.clone(),
            cols: n as u32,
            gm_pitch: int(2 * n),
            ub_stride: n as u32,
        });
    }
    let c = count.clone();
    for inst in [
        vector(VecOp::Cast(Round::None), g, vec![gate_h], None, c.clone()),
        vector(VecOp::Cast(Round::None), u, vec![up_h], None, c.clone()),
        // sigmoid(g) = 1 / (1 + e^-g), then (g * sigmoid(g)) * u: the interpreter's order.
        vector(
            VecOp::Scalar(VecScalar::Muls),
            t,
            vec![g],
            Some(Scalar::f32(-1.0)),
            c.clone(),
        ),
        vector(VecOp::Unary(VecUnary::Exp), t, vec![t], None, c.clone()),
        vector(
            VecOp::Scalar(VecScalar::Adds),
            t,
            vec![t],
            Some(Scalar::f32(1.0)),
            c.clone(),
        ),
        vector(
            VecOp::Unary(VecUnary::Reciprocal),
            t,
            vec![t],
            None,
            c.clone(),
        ),
        vector(
            VecOp::Binary(VecBinary::Mul),
            t,
            vec![g, t],
            None,
            c.clone(),
        ),
        vector(
            VecOp::Binary(VecBinary::Mul),
            t,
            vec![t, u],
            None,
            c.clone(),
        ),
        vector(VecOp::Cast(Round::Rint), out_h, vec![t], None, c),
    ] {
        bld.inst(inst);
    }
    bld.inst(InstData::CopyOut {
        dst: GmRef {
            buf: ga,
            offset: add(
                mul(add(w.row0.clone(), r0), int(i_cols)),
                mul(w.j.clone(), int(n)),
            ),
        },
        src: out_h,
        rows: cur,
        cols: n as u32,
        gm_pitch: int(i_cols),
        ub_stride: n as u32,
    });
    bld.close_for(v_vt, int(0), ceil_div(mine, int(tr)));
    aiv_release(bld);
    close_walk(bld, &w);
    Ok(bld.stack.pop().expect("the AIV side"))
}

/// The combine program: per tile the AIC writes `round(y)` into a slot; each AIV, row by row of its
/// half, reads the row's slot from `order`, scales the row by its router weight in f32 and adds it to
/// `acc[order[d] / k_slots, j*n ..]` with an atomic add (rows of one token meet on different cores).
///
/// Row by row: a UB tensor has no dynamic offset in the IR, and each row goes to its own token row of
/// `acc`, so one row is one copy out.
#[allow(clippy::too_many_arguments)]
pub(super) fn lower_combine(
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    weights: &str,
    order: &str,
    k_slots: u64,
    acc: &str,
    target: &Target,
) -> Result<Program, LowerError> {
    let nn = spec.n;
    let f32_buf = |name: &str, kind, shape| GmBufData {
        name: name.to_string(),
        kind,
        dtype: crate::graph::DType::F32,
        shape,
    };
    let mut added = vec![
        // Read and written by the atomic adds: an output whose initial value counts.
        f32_buf(
            acc,
            GmKind::Output,
            vec![spec.tokens.clone(), HostExpr::Int(nn as i64)],
        ),
        f32_buf(weights, GmKind::Input, vec![spec.total_rows.clone()]),
    ];
    // The gather prologue may already have declared `order`.
    let order_declared = matches!(spec.a, super::GmmA::Gather { order: o, .. } if o == order);
    if !order_declared {
        added.push(GmBufData {
            name: order.to_string(),
            kind: GmKind::Input,
            dtype: crate::graph::DType::I32,
            shape: vec![spec.total_rows.clone()],
        });
    }
    let mut mx = mix_setup(spec, plan, nn, added, plan.n, target)?;
    let aic_body = aic_side(&mut mx, spec, plan, nn, &[0]);
    let find = |name: &str| {
        mx.h.p
            .gm
            .iter()
            .find(|(_, d)| d.name == name)
            .map(|(g, _)| g)
            .expect("declared")
    };
    let (g_w, g_order) = (find(weights), find(order));
    let aiv_body = combine_aiv(&mut mx, spec, plan, g_w, g_order, k_slots);
    mix_finish(mx, aic_body, aiv_body, target)
}

/// The AIV side of the combine epilogue: this AIV's half of each tile's rows, one row at a time.
fn combine_aiv(
    mx: &mut Mix,
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    g_w: GmBuf,
    g_order: GmBuf,
    k_slots: u64,
) -> Vec<Stmt> {
    let (_, elem, _) = dtype(spec.dtype);
    let (m, n, nn) = (plan.m, plan.n, spec.n);
    let (h, bld, ws, g_acc) = (&mx.h, &mut mx.bld, mx.ws, mx.out);
    bld.stack.push(Vec::new());
    let buf = bld.k.bufs.push(LocalBufData {
        name: "ub".into(),
        mem: MemSpace::Ub,
        count: 1,
        bytes: (6 * n + 32 + 256) as u32,
    });
    let mut ub = Ub { buf, used: 0 };
    let k = &mut bld.k;
    let y_h = ub.tensor(k, "y_h", elem, n);
    let y = ub.tensor(k, "y", Elem::F32, n);
    let wt = ub.tensor(k, "weight", Elem::F32, 8);
    // `Brcb` fills whole repeats: 8 blocks of 8 values.
    let blocks = ub.tensor(k, "blocks", Elem::F32, 64);
    let v_item = aiv_prologue(bld);
    let core = div(IExpr::BlockIdx, int(2));
    let w = open_walk(bld, spec, plan, h, core.clone(), v_item, nn);
    let slot = slot_offset(core, m * n);
    let v_r = bld.k.vars.push(VarData { name: "row".into() });
    let v_slot = bld.k.vars.push(VarData {
        name: "dst_slot".into(),
    });
    bld.inst(cross(false, 2, Pipe::Mte2, SLOT_READY));
    let (first, mine) = aiv_half(w.rows.clone());
    let r = add(first, IExpr::Var(v_r));
    let d = add(w.row0.clone(), r.clone());
    bld.open(); // rows
    bld.inst(InstData::ReadScalar {
        dst: v_slot,
        src: GmRef {
            buf: g_order,
            offset: d.clone(),
        },
    });
    bld.inst(InstData::CopyIn {
        dst: y_h,
        src: GmRef {
            buf: ws,
            offset: add(slot, mul(r, int(n))),
        },
        rows: int(1),
        cols: n as u32,
        gm_pitch: int(n),
        ub_stride: n as u32,
    });
    bld.inst(InstData::CopyIn {
        dst: wt,
        src: GmRef {
            buf: g_w,
            offset: d,
        },
        rows: int(1),
        cols: 1,
        gm_pitch: int(1),
        ub_stride: 8,
    });
    bld.inst(vector(VecOp::Cast(Round::None), y, vec![y_h], None, int(n)));
    let row = SegView {
        segs: 1,
        len: n as u32,
        stride: n as u32,
    };
    bld.inst(InstData::Vector {
        op: VecOp::SegBinary(VecBinary::Mul, row),
        dsts: vec![y, blocks],
        srcs: vec![y, wt],
        scalar: None,
        count: int(1),
    });
    // The token of the row, clamped into 0..T (see the module docs of `gmm`).
    let slot_c = IExpr::bin(
        crate::kir::v2::BinOp::Max,
        min(IExpr::Var(v_slot), sub(IExpr::Field(h.f_rows), int(1))),
        int(0),
    );
    let token = div(slot_c, int(k_slots));
    bld.inst(InstData::SetAtomic(Some(Elem::F32)));
    bld.inst(InstData::CopyOut {
        dst: GmRef {
            buf: g_acc,
            offset: add(mul(token, int(nn)), mul(w.j.clone(), int(n))),
        },
        src: y,
        rows: int(1),
        cols: n as u32,
        gm_pitch: int(nn),
        ub_stride: n as u32,
    });
    bld.inst(InstData::SetAtomic(None));
    bld.close_for(v_r, int(0), mine);
    aiv_release(bld);
    close_walk(bld, &w);
    bld.stack.pop().expect("the AIV side")
}

/// A MIX program under construction: the header, the kernel, the first added buffer, the workspace.
struct Mix {
    h: GmmHeader,
    bld: Builder,
    out: GmBuf,
    ws: GmBuf,
}

/// The MIX program's inputs (n-tiles over `cols`), the buffers `added` (the first is the result),
/// a workspace of `width` columns per slot row, and the kernel with every parameter.
fn mix_setup(
    spec: &GmmSpec<'_>,
    plan: &MatmulPlan,
    cols: u64,
    added: Vec<GmBufData>,
    width: u64,
    target: &Target,
) -> Result<Mix, LowerError> {
    let mut h = declare_inputs(spec, plan, cols, target)?;
    let added: Vec<GmBuf> = added.into_iter().map(|d| h.p.gm.push(d)).collect();
    let ws = declare_workspace(&mut h, spec, plan, width);
    check_distinct(&h.p)?;
    let mut kernel = Kernel::new(
        format!("{}_k0", spec.program),
        CoreKind::Mix,
        h.block_dim.clone(),
    );
    kernel.params = h.params.clone();
    kernel.params.extend(added.iter().copied());
    kernel.params.push(ws);
    Ok(Mix {
        h,
        bld: Builder {
            k: kernel,
            stack: vec![Vec::new()],
        },
        out: added[0],
        ws,
    })
}

/// The kernel of the two sides, synchronized and checked, in the program.
fn mix_finish(
    mx: Mix,
    aic_body: Vec<Stmt>,
    aiv_body: Vec<Stmt>,
    target: &Target,
) -> Result<Program, LowerError> {
    let Mix { mut h, bld, .. } = mx;
    let mut k = bld.k;
    k.body = vec![
        Stmt::Side {
            side: Side::Aic,
            body: aic_body,
        },
        Stmt::Side {
            side: Side::Aiv,
            body: aiv_body,
        },
    ];
    let p = std::mem::replace(&mut h.p, Program::new(""));
    finish(k, p, target)
}

/// Rows of an AIV's vector tile: half an AIC tile, or fewer when `row_bytes` per row do not fit UB.
fn aiv_rows(plan: &MatmulPlan, row_bytes: u64, target: &Target) -> Result<u64, LowerError> {
    let fit = u64::from(target.ub_usable) / row_bytes;
    if fit == 0 {
        return Err(super::unsupported(format!(
            "a row of the epilogue's vector tile needs {row_bytes} bytes of UB, more than the {} usable",
            u64::from(target.ub_usable)
        )));
    }
    Ok(plan.m.div_ceil(2).min(fit))
}

/// The AIVs' initial credits ([`CREDITS`] sets of [`SLOT_FREE`]); returns the item counter.
fn aiv_prologue(bld: &mut Builder) -> crate::kir::v2::Var {
    let v_pre = bld.k.vars.push(VarData {
        name: "free_slot".into(),
    });
    bld.open();
    bld.inst(cross(true, 2, Pipe::Mte2, SLOT_FREE));
    bld.close_for(v_pre, int(0), int(CREDITS));
    bld.k.vars.push(VarData {
        name: "item".into(),
    })
}

/// After an AIV's reads of a slot: pair with the other AIV (mode 1), then free the slot.
fn aiv_release(bld: &mut Builder) {
    bld.inst(cross(true, 1, Pipe::Mte2, PAIR_READ));
    bld.inst(cross(false, 1, Pipe::Mte2, PAIR_READ));
    bld.inst(cross(true, 2, Pipe::Mte2, SLOT_FREE));
}

/// The AIC's last waits: every credit the AIVs gave and the AIC did not use.
fn drain(bld: &mut Builder) {
    let v = bld.k.vars.push(VarData {
        name: "drain".into(),
    });
    bld.open();
    bld.inst(cross(false, 2, Pipe::Fix, SLOT_FREE));
    bld.close_for(v, int(0), int(CREDITS));
}
