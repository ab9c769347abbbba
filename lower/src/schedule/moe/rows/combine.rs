//! `combine` on the vector cores: every output token is the weighted sum of its K expert rows.

use crate::graph::DType;
use crate::kir::v2::{
    Elem, GmKind, GmRef, HostExpr, IExpr, InstData, Pipe, Program, Round, Scalar, SegView, Tensor,
    VecBinary, VecOp, VecScalar,
};
use crate::schedule::LowerError;
use crate::target::Target;

use super::build::{add, align, clamp_index, float_bytes, int, min, mul, sub, unsupported, Build};

/// `out[t, :] = round(sum_k weights[t, k] * y[position[t*K + k], :])`, summed over `k` in order in
/// `f32` from 0 (the interpreter's `combine` bit for bit).
///
/// GM buffers (named by the caller): `y: dtype (T*K, h)` input, `position: i32 (T*K,)` input (the
/// routing table's `{r}_position`), `weights: f32 (T, K)` input, `out: dtype (T, h)` output. A
/// position is clamped to `[0, T*K)` on the device.
#[derive(Clone, Debug)]
pub struct CombineSpec<'a> {
    /// The program's name; the kernel is `{program}_{out}`.
    pub program: &'a str,
    /// The expert outputs, one row per routed slot in destination order.
    pub y: &'a str,
    /// `position[t*K + k]`: the row of `y` that holds slot `k` of token `t`.
    pub position: &'a str,
    /// The routing weights.
    pub weights: &'a str,
    /// The combined tokens.
    pub out: &'a str,
    /// Tokens `T` (may be 0).
    pub tokens: HostExpr,
    /// Slots per token `K` (at least 1).
    pub k: u64,
    /// Elements per row `H`.
    pub h: u64,
    /// Element type of `y` and `out` (bf16, f16 or f32).
    pub dtype: DType,
}

/// Tokens per batch: a multiple of 8, so each slot's `R` weights start on a 32-byte block.
const TOKENS: u64 = 8;

/// Lowers a [`CombineSpec`] for `target`.
///
/// A batch of `R = 8` tokens gathers its `R*K` rows of `y` slot-major (row `k*R + t` of the tile, so
/// the rows of one slot are one contiguous block), converts them to `f32`, multiplies every row by
/// its weight (`SegBinary`, with the weights copied in densely token-major and permuted slot-major
/// by one `Gather` whose index table is built once per core), then adds the K blocks in order onto
/// `+0.0` and rounds once.
pub fn lower_combine(c: &CombineSpec<'_>, target: &Target) -> Result<Program, LowerError> {
    const OP: &str = "combine";
    let esize = float_bytes(OP, c.dtype)?;
    if c.k == 0 || c.h == 0 {
        return Err(unsupported(
            OP,
            format!("K = {} and H = {}: both must be at least 1", c.k, c.h),
        ));
    }
    let cast = c.dtype != DType::F32;
    let r = TOKENS;
    let slots = r * c.k;
    // Weights, permuted weights, index table, gather offsets (4 bytes each) and SegBinary's blocks.
    let fixed = 4 * align(slots * 4, 32) + slots * 32;
    // Per column of the row stride: the staged rows (when converted), the f32 rows, the rounded out.
    let per_col = slots * 4 + if cast { slots * esize + r * esize } else { 0 };
    let budget = u64::from(target.ub_usable);
    let avail = budget.saturating_sub(fixed);
    let full = align(c.h, 16);
    let (width, stride) = if full * per_col <= avail {
        (c.h, full)
    } else {
        let w = avail / per_col / 16 * 16;
        if w == 0 {
            return Err(unsupported(
                OP,
                format!(
                    "K = {}: a batch of {r} tokens needs {} bytes of UB for 16 columns, {budget} available",
                    c.k,
                    fixed + 16 * per_col
                ),
            ));
        }
        (w, w)
    };
    let batches = HostExpr::ceil_div(c.tokens.clone(), HostExpr::lit(r as i64));
    let block_dim = HostExpr::min(
        HostExpr::lit(i64::from(target.vector_cores)),
        HostExpr::max(batches.clone(), HostExpr::lit(1)),
    );
    let mut b = Build::new(c.program, format!("{}_{}", c.program, c.out), block_dim);
    let elem = Elem::storage(c.dtype);
    let kk = HostExpr::lit(c.k as i64);
    let hh = HostExpr::lit(c.h as i64);
    let g_y = b.gm(
        c.y,
        GmKind::Input,
        c.dtype,
        vec![c.tokens.clone() * kk.clone(), hh.clone()],
    );
    let g_pos = b.gm(
        c.position,
        GmKind::Input,
        DType::I32,
        vec![c.tokens.clone() * kk.clone()],
    );
    let g_w = b.gm(
        c.weights,
        GmKind::Input,
        DType::F32,
        vec![c.tokens.clone(), kk.clone()],
    );
    let g_out = b.gm(c.out, GmKind::Output, c.dtype, vec![c.tokens.clone(), hh]);
    let f_tokens = b.field("tokens", c.tokens.clone());
    let f_slots = b.field("slots", c.tokens.clone() * kk);
    let f_batches = b.field("batches", batches);

    let w_perm = b.tensor("slot_weights", Elem::F32, slots);
    let index = b.tensor("perm", Elem::I32, slots);
    let offsets = b.tensor("offsets", Elem::I32, slots);
    let blocks = b.tensor("blocks", Elem::F32, slots * 8);
    let rows_f = b.tensor("rows", Elem::F32, slots * stride);
    let staged = if cast {
        b.tensor("staged", elem, slots * stride)
    } else {
        rows_f
    };
    let out_t = if cast {
        b.tensor("out", elem, r * stride)
    } else {
        rows_f
    };
    // The gather table goes last: a scratch tensor is printed as the rest of the `TBuf` from its
    // offset, and the emulator takes a gather to read all of its table (the offsets are data).
    let w_in = b.tensor("weights", Elem::F32, slots);
    let row_views: Vec<Tensor> = (0..slots)
        .map(|row| b.view(staged, elem, row * stride, stride))
        .collect();
    let slot_blocks: Vec<Tensor> = (0..c.k)
        .map(|k| b.view(rows_f, Elem::F32, k * r * stride, r * stride))
        .collect();
    let out_block = if cast { out_t } else { slot_blocks[0] };

    // The permutation table, once: perm[k*R + t] = t*K + k.
    let perm: Vec<Tensor> = (0..c.k)
        .map(|k| b.view(index, Elem::I32, k * r, r))
        .collect();
    b.vec(VecOp::Iota, &[perm[0]], &[], None, int(r));
    b.vec(
        VecOp::Scalar(VecScalar::Muls),
        &[perm[0]],
        &[perm[0]],
        Some(Scalar::I32(c.k as i32)),
        int(r),
    );
    for (k, &p) in perm.iter().enumerate().skip(1) {
        b.vec(
            VecOp::Scalar(VecScalar::Adds),
            &[p],
            &[perm[0]],
            Some(Scalar::I32(k as i32)),
            int(r),
        );
    }

    // MTE2 -> V: the batch's rows are in.
    let rows_in = b.event(Pipe::Mte2, Pipe::V);
    let v_batch = b.var("batch");
    b.open();
    let batch = add(IExpr::BlockIdx, mul(IExpr::Var(v_batch), IExpr::BlockNum));
    let t0 = mul(batch, int(r));
    let valid = min(int(r), sub(f_tokens.clone(), t0.clone()));
    b.inst(InstData::CopyIn {
        dst: w_in,
        src: GmRef {
            buf: g_w,
            offset: mul(t0.clone(), int(c.k)),
        },
        rows: valid.clone(),
        cols: c.k as u32,
        gm_pitch: int(c.k),
        ub_stride: c.k as u32,
    });
    b.vec(
        VecOp::Gather {
            table_len: slots as u32,
        },
        &[w_perm, offsets],
        &[w_in, index],
        None,
        int(slots),
    );
    let chunk = |b: &mut Build, c0: IExpr, w: u64| {
        for k in 0..c.k {
            for t in 0..r {
                // Tokens past the end re-read the last token's rows (never written back).
                let token = min(add(t0.clone(), int(t)), sub(f_tokens.clone(), int(1)));
                let v_pos = b.var("position");
                b.inst(InstData::ReadScalar {
                    dst: v_pos,
                    src: GmRef {
                        buf: g_pos,
                        offset: add(mul(token, int(c.k)), int(k)),
                    },
                });
                let row = clamp_index(IExpr::Var(v_pos), f_slots.clone());
                b.inst(InstData::CopyIn {
                    dst: row_views[(k * r + t) as usize],
                    src: GmRef {
                        buf: g_y,
                        offset: add(mul(row, int(c.h)), c0.clone()),
                    },
                    rows: int(1),
                    cols: w as u32,
                    gm_pitch: int(c.h),
                    ub_stride: stride as u32,
                });
            }
        }
        b.set(rows_in);
        b.wait(rows_in);
        let all = int(slots * stride);
        let block = int(r * stride);
        if cast {
            b.vec(VecOp::Cast(Round::None), &[rows_f], &[staged], None, all);
        }
        let seg = SegView {
            segs: 1,
            len: w as u32,
            stride: stride as u32,
        };
        b.vec(
            VecOp::SegBinary(VecBinary::Mul, seg),
            &[rows_f, blocks],
            &[rows_f, w_perm],
            None,
            int(slots),
        );
        // The interpreter sums onto 0.0: +0.0 + -0.0 is +0.0, so the first term is added to +0.0 too.
        b.vec(
            VecOp::Scalar(VecScalar::Adds),
            &[slot_blocks[0]],
            &[slot_blocks[0]],
            Some(Scalar::f32(0.0)),
            block.clone(),
        );
        for &s in &slot_blocks[1..] {
            b.vec(
                VecOp::Binary(VecBinary::Add),
                &[slot_blocks[0]],
                &[slot_blocks[0], s],
                None,
                block.clone(),
            );
        }
        if cast {
            b.vec(
                VecOp::Cast(Round::Rint),
                &[out_t],
                &[slot_blocks[0]],
                None,
                block,
            );
        }
        b.inst(InstData::CopyOut {
            dst: GmRef {
                buf: g_out,
                offset: add(mul(t0.clone(), int(c.h)), c0),
            },
            src: out_block,
            rows: valid.clone(),
            cols: w as u32,
            gm_pitch: int(c.h),
            ub_stride: stride as u32,
        });
    };
    let (full_chunks, tail) = (c.h / width, c.h % width);
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
