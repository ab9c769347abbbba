//! The one-operand SwiGLU on the vector cores: `silu(gate) * up` of the two halves of every row.

use crate::graph::DType;
use crate::kir::v2::{
    Elem, GmKind, GmRef, HostExpr, IExpr, InstData, Program, QuePos, Round, Scalar, VecBinary,
    VecOp, VecScalar, VecUnary,
};
use crate::schedule::LowerError;
use crate::target::Target;

use super::build::{add, align, float_bytes, int, min, mul, sub, unsupported, Build};

/// `out[.., :] = round(silu(x[.., :I]) * x[.., I:])` computed in `f32` as the interpreter does
/// (`g * sigmoid(g) * u` with `sigmoid(g) = 1 / (1 + exp(-g))`), rounded once to `dtype`.
///
/// GM buffers (named by the caller): `x: dtype (m, 2*i)` input, `out: dtype (m, i)` output.
#[derive(Clone, Debug)]
pub struct SwigluSpec<'a> {
    /// The program's name; the kernel is `{program}_{out}`.
    pub program: &'a str,
    /// The gate and up halves, side by side in each row.
    pub x: &'a str,
    /// The result.
    pub out: &'a str,
    /// Rows `M` (may be 0).
    pub m: HostExpr,
    /// Elements of each half `I` (at least 1).
    pub i: u64,
    /// Element type of `x` and `out` (bf16, f16 or f32).
    pub dtype: DType,
}

/// Most rows of one tile (`DataCopyPad` moves at most 4095 rows; 64 keeps tiles of short rows
/// large enough to amortize an instruction's issue).
const MAX_ROWS: u64 = 64;

/// Lowers a [`SwigluSpec`] for `target`: tiles of up to 64 rows through double-buffered queues (the
/// copy in of the next tile overlaps this tile's vector work and copy out).
pub fn lower_swiglu(s: &SwigluSpec<'_>, target: &Target) -> Result<Program, LowerError> {
    const OP: &str = "swiglu";
    let esize = float_bytes(OP, s.dtype)?;
    if s.i == 0 {
        return Err(unsupported(OP, "halves of 0 elements"));
    }
    let cast = s.dtype != DType::F32;
    // Bytes per element of a row's stride: gate, up and out queues of two slots each, and the f32
    // scratch (the sigmoid, a vector of ones, and the converted halves when the input is narrow).
    let per_elem = 6 * esize + if cast { 16 } else { 8 };
    let budget = u64::from(target.ub_usable);
    let full = align(s.i, 16);
    let (width, stride, rows) = if full * per_elem <= budget {
        (s.i, full, (budget / (full * per_elem)).min(MAX_ROWS))
    } else {
        let w = budget / per_elem / 16 * 16;
        (w, w, 1)
    };
    let batches = HostExpr::ceil_div(s.m.clone(), HostExpr::lit(rows as i64));
    let block_dim = HostExpr::min(
        HostExpr::lit(i64::from(target.vector_cores)),
        HostExpr::max(batches.clone(), HostExpr::lit(1)),
    );
    let mut b = Build::new(s.program, format!("{}_{}", s.program, s.out), block_dim);
    let elem = Elem::storage(s.dtype);
    let g_x = b.gm(
        s.x,
        GmKind::Input,
        s.dtype,
        vec![s.m.clone(), HostExpr::lit(2 * s.i as i64)],
    );
    let g_out = b.gm(
        s.out,
        GmKind::Output,
        s.dtype,
        vec![s.m.clone(), HostExpr::lit(s.i as i64)],
    );
    let f_m = b.field("rows", s.m.clone());
    let f_batches = b.field("batches", batches);
    let tile = rows * stride;
    let (q_gate, t_gate) = b.queue("gate", QuePos::VecIn, elem, tile);
    let (q_up, t_up) = b.queue("up", QuePos::VecIn, elem, tile);
    let (q_out, t_out) = b.queue("out", QuePos::VecOut, elem, tile);
    let sig = b.tensor("sigmoid", Elem::F32, tile);
    let ones = b.tensor("ones", Elem::F32, tile);
    let (gate_f, up_f) = if cast {
        (
            b.tensor("gate_f32", Elem::F32, tile),
            b.tensor("up_f32", Elem::F32, tile),
        )
    } else {
        (t_gate, t_up)
    };
    debug_assert!(b.ub_bytes() <= budget, "the plan fits UB");
    b.vec(
        VecOp::Duplicate,
        &[ones],
        &[],
        Some(Scalar::f32(1.0)),
        int(tile),
    );

    let v_batch = b.var("batch");
    b.open();
    let row0 = mul(
        add(IExpr::BlockIdx, mul(IExpr::Var(v_batch), IExpr::BlockNum)),
        int(rows),
    );
    let valid = min(int(rows), sub(f_m, row0.clone()));
    let chunk = |b: &mut Build, c0: IExpr, w: u64| {
        for (q, t, half) in [(q_gate, t_gate, 0), (q_up, t_up, s.i)] {
            b.inst(InstData::AllocTensor {
                queue: q,
                tensor: t,
            });
            b.inst(InstData::CopyIn {
                dst: t,
                src: GmRef {
                    buf: g_x,
                    offset: add(add(mul(row0.clone(), int(2 * s.i)), int(half)), c0.clone()),
                },
                rows: valid.clone(),
                cols: w as u32,
                gm_pitch: int(2 * s.i),
                ub_stride: stride as u32,
            });
            b.inst(InstData::EnQue {
                queue: q,
                tensor: t,
            });
        }
        b.inst(InstData::DeQue {
            queue: q_gate,
            tensor: t_gate,
        });
        b.inst(InstData::DeQue {
            queue: q_up,
            tensor: t_up,
        });
        let n = mul(valid.clone(), int(stride));
        if cast {
            b.vec(
                VecOp::Cast(Round::None),
                &[gate_f],
                &[t_gate],
                None,
                n.clone(),
            );
            b.vec(VecOp::Cast(Round::None), &[up_f], &[t_up], None, n.clone());
            b.inst(InstData::FreeTensor {
                queue: q_gate,
                tensor: t_gate,
            });
            b.inst(InstData::FreeTensor {
                queue: q_up,
                tensor: t_up,
            });
        }
        // sigmoid(g) = 1 / (1 + exp(-g)), then (g * sigmoid(g)) * u: the interpreter's order.
        let steps: [(VecOp, Vec<_>, Option<Scalar>); 5] = [
            (
                VecOp::Scalar(VecScalar::Muls),
                vec![gate_f],
                Some(Scalar::f32(-1.0)),
            ),
            (VecOp::Unary(VecUnary::Exp), vec![sig], None),
            (
                VecOp::Scalar(VecScalar::Adds),
                vec![sig],
                Some(Scalar::f32(1.0)),
            ),
            (VecOp::Binary(VecBinary::Div), vec![ones, sig], None),
            (VecOp::Binary(VecBinary::Mul), vec![gate_f, sig], None),
        ];
        for (op, srcs, scalar) in steps {
            b.vec(op, &[sig], &srcs, scalar, n.clone());
        }
        b.inst(InstData::AllocTensor {
            queue: q_out,
            tensor: t_out,
        });
        if cast {
            b.vec(
                VecOp::Binary(VecBinary::Mul),
                &[sig],
                &[sig, up_f],
                None,
                n.clone(),
            );
            b.vec(VecOp::Cast(Round::Rint), &[t_out], &[sig], None, n);
        } else {
            b.vec(
                VecOp::Binary(VecBinary::Mul),
                &[t_out],
                &[sig, up_f],
                None,
                n,
            );
            b.inst(InstData::FreeTensor {
                queue: q_gate,
                tensor: t_gate,
            });
            b.inst(InstData::FreeTensor {
                queue: q_up,
                tensor: t_up,
            });
        }
        b.inst(InstData::EnQue {
            queue: q_out,
            tensor: t_out,
        });
        b.inst(InstData::DeQue {
            queue: q_out,
            tensor: t_out,
        });
        b.inst(InstData::CopyOut {
            dst: GmRef {
                buf: g_out,
                offset: add(mul(row0.clone(), int(s.i)), c0),
            },
            src: t_out,
            rows: valid.clone(),
            cols: w as u32,
            gm_pitch: int(s.i),
            ub_stride: stride as u32,
        });
        b.inst(InstData::FreeTensor {
            queue: q_out,
            tensor: t_out,
        });
    };
    let (full_chunks, tail) = (s.i / width, s.i % width);
    if full_chunks == 1 {
        chunk(&mut b, int(0), width);
    } else if full_chunks > 1 {
        let v_chunk = b.var("chunk");
        b.open();
        chunk(&mut b, mul(IExpr::Var(v_chunk), int(width)), width);
        b.close_for(v_chunk, int(0), int(full_chunks));
    }
    if tail > 0 {
        chunk(&mut b, int(full_chunks * width), tail);
    }
    let mine = IExpr::bin(
        crate::kir::v2::BinOp::CeilDiv,
        sub(f_batches, IExpr::BlockIdx),
        IExpr::BlockNum,
    );
    b.close_for(v_batch, int(0), mine);
    b.finish(target)
}
