//! Lowering of a matmul with an elementwise vector epilogue to one `KERNEL_TYPE_MIX_AIC_1_2` kernel in
//! kernel IR v2: `y = act(cast<f32>(a @ b))`.
//!
//! The AIC side is the loop nest of [`super::lower`] with `Fixpipe` into a GM workspace instead of the
//! output: tile `t` (an `m x N` block of rows) goes to its own slot `t` of the workspace, so no slot is
//! ever rewritten and the only hand-off is AIC -> AIVs: mode 2, flag [`SLOT_READY`], set on FIX after the
//! tile's `Fixpipe`, waited on MTE2 by each AIV before its copy-in. The two AIVs of the AI core take
//! the first and the second half of each tile's rows: copy in, cast to f32, the activation, copy out.
//!
//! Limit: a cross-core flag counter holds at most 15 pending sets on the hardware; an AIC more than 15
//! tiles ahead of its AIVs would overflow it. The AIVs' work per tile is a fraction of the AIC's, so
//! this does not happen in practice, but nothing enforces it yet (the hand-written spec
//! `tests/data/cube/matmul_aic.cpp` shows the bounded form with two reused slots and a free flag back;
//! the hazard verifier does not model mode-1 AIV <-> AIV flags, which that form needs in the emulator).
//!
//! The epilogue needs whole rows in a tile: the plan must have one column tile (`n >= N`).

use super::lower::MatmulNames;
use super::lower::{
    add, ceil_div, declare_locals, declare_program, div, dtype, emit_tile_mmads, int, min, mul,
    sub, tile_exprs, Builder, Header,
};
use super::plan::MatmulPlan;
use crate::graph::DType;
use crate::kir::v2::{
    BinOp, CoreKind, Elem, GmBufData, GmKind, GmRef, Home, HostExpr, IExpr, InstData, LocalBufData,
    Pipe, Program, QuePos, QueueData, Round, Stmt, TensorData, VarData, VecOp, VecUnary,
};
use crate::kir::MemSpace;
use crate::target::Target;

/// Cross-core flag: a workspace slot holds a finished tile (AIC -> its AIVs).
pub const SLOT_READY: u16 = 1;

/// The MIX program of `y = act(cast<f32>(a @ b))` (`act` = `None`: the cast alone), `y` f32 `(M, N)`.
/// The plan must have a single column tile. The sync inside each side is left to the sync pass.
pub fn lower_matmul_mix(
    names: &MatmulNames<'_>,
    plan: &MatmulPlan,
    act: Option<VecUnary>,
    m_dim: HostExpr,
    target: &Target,
) -> Program {
    let s = plan.shape;
    assert_eq!(
        s.n.div_ceil(plan.n),
        1,
        "the epilogue needs whole rows per tile"
    );
    let (dt, elem, quant) = dtype(s.dtype);
    let (m, n) = (plan.m, s.n);
    let e = s.dtype.bytes();
    let Header {
        mut p,
        mut kernel,
        ga,
        gb,
        gc: gy,
        f_m,
        f_tiles_m,
        f_tiles,
    } = declare_program(names, plan, m_dim, target);
    kernel.core = CoreKind::Mix;
    p.gm[gy].dtype = DType::F32;
    // One slot of m x N per tile: M rounded up to whole tiles.
    let padded_rows = HostExpr::Mul(
        Box::new(p.fields[f_tiles_m].expr.clone()),
        Box::new(HostExpr::Int(m as i64)),
    );
    let gw = p.gm.push(GmBufData {
        name: "tiles".to_string(),
        kind: GmKind::Workspace {
            offset: HostExpr::Int(0),
        },
        dtype: dt,
        shape: vec![padded_rows.clone(), HostExpr::Int(n as i64)],
    });
    p.workspace = HostExpr::Mul(
        Box::new(padded_rows),
        Box::new(HostExpr::Int((n * e) as i64)),
    );
    kernel.params.push(gw);
    let l = declare_locals(&mut kernel, plan, elem);
    let x = tile_exprs(plan, f_m, f_tiles_m, &l);

    // The AIV's locals: the bf16/f16 rows in, the f32 rows out.
    let most = m.div_ceil(2);
    let b_in = kernel.bufs.push(LocalBufData {
        name: "rows_in".to_string(),
        mem: MemSpace::Ub,
        count: 2,
        bytes: (most * n * e) as u32,
    });
    let b_out = kernel.bufs.push(LocalBufData {
        name: "rows_out".to_string(),
        mem: MemSpace::Ub,
        count: 2,
        bytes: (most * n * 4) as u32,
    });
    let q_in = kernel.queues.push(QueueData {
        pos: QuePos::VecIn,
        depth: 1,
        buf: b_in,
    });
    let q_out = kernel.queues.push(QueueData {
        pos: QuePos::VecOut,
        depth: 1,
        buf: b_out,
    });
    let t_in = kernel.tensors.push(TensorData {
        name: "rows_in".to_string(),
        elem,
        elems: (most * n) as u32,
        home: Home::Queue(q_in),
    });
    let t_out = kernel.tensors.push(TensorData {
        name: "rows_out".to_string(),
        elem: Elem::F32,
        elems: (most * n) as u32,
        home: Home::Queue(q_out),
    });
    let v_vt = kernel.vars.push(VarData {
        name: "vec_tile".to_string(),
    });
    let v_any = kernel.vars.push(VarData {
        name: "has_rows".to_string(),
    });
    let cross = |set: bool, mode: u8, pipe: Pipe, flag: u16| {
        if set {
            InstData::CrossCoreSetFlag { mode, pipe, flag }
        } else {
            InstData::CrossCoreWaitFlag { mode, pipe, flag }
        }
    };

    let mut bld = Builder {
        k: kernel,
        stack: vec![Vec::new()],
    };
    // ---- AIC ----
    bld.open();
    bld.open(); // tile
    emit_tile_mmads(&mut bld, plan, &l, &x, ga, gb);
    bld.inst(InstData::Fixpipe {
        dst: GmRef {
            buf: gw,
            offset: mul(mul(x.i.clone(), int(m)), int(n)),
        },
        src: l.t_c,
        m: x.rows,
        n: x.cols,
        src_stride: x.rows_a,
        gm_pitch: int(n),
        quant,
        relu: false,
    });
    bld.inst(cross(true, 2, Pipe::Fix, SLOT_READY));
    bld.free(l.q_c, l.t_c);
    bld.close_for(
        l.v_tile,
        int(0),
        ceil_div(sub(IExpr::Field(f_tiles), IExpr::BlockIdx), IExpr::BlockNum),
    );
    let aic = bld.stack.pop().expect("the AIC body");
    bld.stack
        .last_mut()
        .expect("the kernel body")
        .push(Stmt::Side {
            side: crate::kir::v2::Side::Aic,
            body: aic,
        });

    // ---- AIV ---- (block_idx is 2 * AI core + sub-block)
    bld.open();
    let core = div(IExpr::BlockIdx, int(2));
    let subb = IExpr::bin(BinOp::Rem, IExpr::BlockIdx, int(2));
    let t = add(core.clone(), mul(IExpr::Var(v_vt), IExpr::BlockNum));
    let rows = min(int(m), sub(IExpr::Field(f_m), mul(t.clone(), int(m))));
    let half = ceil_div(rows.clone(), int(2));
    let first = mul(subb.clone(), half.clone());
    let mine = sub(half.clone(), mul(subb, sub(mul(half, int(2)), rows)));
    bld.open(); // vec tile
    bld.inst(cross(false, 2, Pipe::Mte2, SLOT_READY));
    bld.open(); // has rows (0 or 1 iteration)
    bld.alloc(q_in, t_in);
    bld.inst(InstData::CopyIn {
        dst: t_in,
        src: GmRef {
            buf: gw,
            offset: mul(add(mul(t.clone(), int(m)), first.clone()), int(n)),
        },
        rows: mine.clone(),
        cols: n as u32,
        gm_pitch: int(n),
        ub_stride: n as u32,
    });
    bld.enque(q_in, t_in);
    bld.deque(q_in, t_in);
    bld.alloc(q_out, t_out);
    let count = mul(mine.clone(), int(n));
    bld.inst(InstData::Vector {
        op: VecOp::Cast(Round::None),
        dsts: vec![t_out],
        srcs: vec![t_in],
        scalar: None,
        count: count.clone(),
    });
    if let Some(act) = act {
        bld.inst(InstData::Vector {
            op: VecOp::Unary(act),
            dsts: vec![t_out],
            srcs: vec![t_out],
            scalar: None,
            count,
        });
    }
    bld.enque(q_out, t_out);
    bld.free(q_in, t_in);
    bld.deque(q_out, t_out);
    bld.inst(InstData::CopyOut {
        dst: GmRef {
            buf: gy,
            offset: mul(add(mul(t, int(m)), first), int(n)),
        },
        src: t_out,
        rows: mine.clone(),
        cols: n as u32,
        gm_pitch: int(n),
        ub_stride: n as u32,
    });
    bld.free(q_out, t_out);
    bld.close_for(v_any, int(0), min(mine, int(1)));
    bld.close_for(
        v_vt,
        int(0),
        ceil_div(sub(IExpr::Field(f_tiles_m), core), IExpr::BlockNum),
    );
    let aiv = bld.stack.pop().expect("the AIV body");
    bld.stack
        .last_mut()
        .expect("the kernel body")
        .push(Stmt::Side {
            side: crate::kir::v2::Side::Aiv,
            body: aiv,
        });
    let mut kernel = bld.k;
    kernel.body = bld.stack.pop().expect("the body list");
    p.kernels = cranelift_entity::PrimaryMap::new();
    p.kernels.push(kernel);
    p
}
