//! `combine` on the vector cores: every output token is the weighted sum of its K expert rows.

use crate::graph::DType;
use crate::kir::v2::{
    BinOp, Elem, Event, GmBuf, GmKind, GmRef, HostExpr, IExpr, InstData, Pipe, Program, Round,
    Scalar, SegView, Tensor, VecBinary, VecOp, VecScalar,
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
/// `+0.0` and rounds once. Two tile sets take units (a batch's column chunk) in turn, so the rows of
/// the next unit come in while the vector unit works on this one: chunks alternate inside a batch
/// when a row takes several, batches alternate otherwise.
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
    // Per set: weights, permuted weights, gather offsets (4 bytes each) and SegBinary's blocks;
    // the permutation table once.
    let fixed = 2 * (3 * align(slots * 4, 32) + slots * 32) + align(slots * 4, 32);
    // Per column of the row stride, per set: the staged rows (when converted), the f32 rows, the
    // rounded out.
    let per_col = 2 * (slots * 4 + if cast { slots * esize + r * esize } else { 0 });
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
    let kk = HostExpr::lit(c.k as i64);
    let hh = HostExpr::lit(c.h as i64);
    let gm = Gm {
        y: b.gm(
            c.y,
            GmKind::Input,
            c.dtype,
            vec![c.tokens.clone() * kk.clone(), hh.clone()],
        ),
        position: b.gm(
            c.position,
            GmKind::Input,
            DType::I32,
            vec![c.tokens.clone() * kk.clone()],
        ),
        weights: b.gm(
            c.weights,
            GmKind::Input,
            DType::F32,
            vec![c.tokens.clone(), kk.clone()],
        ),
        out: b.gm(c.out, GmKind::Output, c.dtype, vec![c.tokens.clone(), hh]),
        tokens: b.field("tokens", c.tokens.clone()),
        slots: b.field("slots", c.tokens.clone() * kk),
    };
    let f_batches = b.field("batches", batches);

    // The permutation table, once: perm[k*R + t] = t*K + k.
    let index = b.tensor("perm", Elem::I32, slots);
    let perm: Vec<Tensor> = (0..c.k)
        .map(|k| b.view(index, Elem::I32, k * r, r))
        .collect();
    let sets = [
        TileSet::declare(&mut b, c, "a", stride),
        TileSet::declare(&mut b, c, "b", stride),
    ];
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
    // The table is read by the first unit's gather, which may be in either loop below. Left to the
    // sync pass, the barrier lands in the pair loop only (it orders the last loop's gather through
    // an earlier iteration), and a core with one batch never runs that loop: the emulator reports
    // the race. One barrier here orders the table for every gather.
    b.inst(InstData::PipeBarrier(Pipe::V));
    for set in &sets {
        b.set(set.free);
    }
    let unit = Unit {
        c,
        gm,
        index,
        stride,
    };
    let mine = IExpr::bin(
        BinOp::CeilDiv,
        sub(f_batches, IExpr::BlockIdx),
        IExpr::BlockNum,
    );
    let nth = |n: IExpr| add(IExpr::BlockIdx, mul(n, IExpr::BlockNum));
    let (full_chunks, tail) = (c.h / width, c.h % width);
    if full_chunks == 1 && tail == 0 {
        // One unit a batch: batches alternate, two at a time, then the odd one out.
        let (v_pair, v_last) = (b.var("pair"), b.var("last"));
        b.open();
        let pair = IExpr::Var(v_pair);
        unit.emit(
            &mut b,
            &sets[0],
            nth(mul(pair.clone(), int(2))),
            int(0),
            width,
        );
        unit.emit(
            &mut b,
            &sets[1],
            nth(add(mul(pair, int(2)), int(1))),
            int(0),
            width,
        );
        b.close_for(v_pair, int(0), IExpr::bin(BinOp::Div, mine.clone(), int(2)));
        b.open();
        unit.emit(
            &mut b,
            &sets[0],
            nth(sub(mine.clone(), int(1))),
            int(0),
            width,
        );
        b.close_for(v_last, int(0), IExpr::bin(BinOp::Rem, mine, int(2)));
    } else {
        // Chunks alternate inside a batch: pairs of full chunks, the odd one out, the tail.
        let v_batch = b.var("batch");
        b.open();
        let batch = nth(IExpr::Var(v_batch));
        if full_chunks >= 2 {
            let v_pair = b.var("chunk_pair");
            b.open();
            let c0 = mul(IExpr::Var(v_pair), int(2 * width));
            unit.emit(&mut b, &sets[0], batch.clone(), c0.clone(), width);
            unit.emit(&mut b, &sets[1], batch.clone(), add(c0, int(width)), width);
            b.close_for(v_pair, int(0), int(full_chunks / 2));
        }
        let mut next = 0;
        if full_chunks % 2 == 1 {
            let c0 = int((full_chunks - 1) * width);
            unit.emit(&mut b, &sets[0], batch.clone(), c0, width);
            next = 1;
        }
        if tail > 0 {
            let c0 = int(full_chunks * width);
            unit.emit(&mut b, &sets[next], batch, c0, tail);
        }
        b.close_for(v_batch, int(0), mine);
    }
    for set in &sets {
        b.wait(set.free);
    }
    b.finish(target)
}

/// The GM buffers and fields a unit reads.
struct Gm {
    y: GmBuf,
    position: GmBuf,
    weights: GmBuf,
    out: GmBuf,
    tokens: IExpr,
    slots: IExpr,
}

/// The UB tensors of one unit in flight.
struct TileSet {
    /// The batch's weights as they are in GM (token-major), in a `TBuf` of their own: the printer
    /// makes a scratch tensor the rest of its `TBuf` from its offset, and the emulator takes a
    /// gather to read all of its table (the offsets are data).
    w_in: Tensor,
    /// The weights slot-major.
    w_perm: Tensor,
    offsets: Tensor,
    blocks: Tensor,
    rows_f: Tensor,
    /// Row `k*R + t` of the staged tile (the f32 tile for f32 data).
    row_views: Vec<Tensor>,
    staged: Tensor,
    /// Rows `k*R .. (k+1)*R` of the f32 tile.
    slot_blocks: Vec<Tensor>,
    /// What is copied out: the rounded sum, or the first slot block for f32.
    out: Tensor,
    /// MTE2 -> V: the unit's rows are in.
    rows_in: Event,
    /// To MTE2 (from V after the conversion, from MTE3 after the copy out for f32 data, whose rows
    /// land in the tile the sum is copied out of): the set's tiles may be written again. Set once
    /// ahead of the loops and waited once after them, so every unit waits and sets it once. (Left
    /// to the sync pass, each row's copy would get an event of its own.)
    free: Event,
}

impl TileSet {
    fn declare(b: &mut Build, c: &CombineSpec<'_>, name: &str, stride: u64) -> TileSet {
        let (r, cast) = (TOKENS, c.dtype != DType::F32);
        let slots = r * c.k;
        let elem = Elem::storage(c.dtype);
        let w_in = b.alone(&format!("weights_{name}"), Elem::F32, slots);
        let w_perm = b.tensor(&format!("slot_weights_{name}"), Elem::F32, slots);
        let offsets = b.tensor(&format!("offsets_{name}"), Elem::I32, slots);
        let blocks = b.tensor(&format!("blocks_{name}"), Elem::F32, slots * 8);
        let rows_f = b.tensor(&format!("rows_{name}"), Elem::F32, slots * stride);
        let staged = if cast {
            b.tensor(&format!("staged_{name}"), elem, slots * stride)
        } else {
            rows_f
        };
        let out_t = if cast {
            Some(b.tensor(&format!("out_{name}"), elem, r * stride))
        } else {
            None
        };
        let row_views = (0..slots)
            .map(|row| b.view(staged, elem, row * stride, stride))
            .collect();
        let slot_blocks: Vec<Tensor> = (0..c.k)
            .map(|k| b.view(rows_f, Elem::F32, k * r * stride, r * stride))
            .collect();
        TileSet {
            w_in,
            w_perm,
            offsets,
            blocks,
            rows_f,
            row_views,
            staged,
            out: out_t.unwrap_or(slot_blocks[0]),
            slot_blocks,
            rows_in: b.event(Pipe::Mte2, Pipe::V),
            free: b.event(if cast { Pipe::V } else { Pipe::Mte3 }, Pipe::Mte2),
        }
    }
}

/// Emits units: columns `c0 .. c0 + width` of one batch in one tile set.
struct Unit<'s, 'a> {
    c: &'s CombineSpec<'a>,
    gm: Gm,
    /// The permutation table.
    index: Tensor,
    stride: u64,
}

impl Unit<'_, '_> {
    fn emit(&self, b: &mut Build, set: &TileSet, batch: IExpr, c0: IExpr, width: u64) {
        let (c, gm, stride) = (self.c, &self.gm, self.stride);
        let (r, cast) = (TOKENS, c.dtype != DType::F32);
        let slots = r * c.k;
        let t0 = mul(batch, int(r));
        let valid = min(int(r), sub(gm.tokens.clone(), t0.clone()));
        b.wait(set.free);
        b.inst(InstData::CopyIn {
            dst: set.w_in,
            src: GmRef {
                buf: gm.weights,
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
            &[set.w_perm, set.offsets],
            &[set.w_in, self.index],
            None,
            int(slots),
        );
        for k in 0..c.k {
            for t in 0..r {
                // Tokens past the end re-read the last token's rows (never written back).
                let token = min(add(t0.clone(), int(t)), sub(gm.tokens.clone(), int(1)));
                let v_pos = b.var("position");
                b.inst(InstData::ReadScalar {
                    dst: v_pos,
                    src: GmRef {
                        buf: gm.position,
                        offset: add(mul(token, int(c.k)), int(k)),
                    },
                });
                let row = clamp_index(IExpr::Var(v_pos), gm.slots.clone());
                b.inst(InstData::CopyIn {
                    dst: set.row_views[(k * r + t) as usize],
                    src: GmRef {
                        buf: gm.y,
                        offset: add(mul(row, int(c.h)), c0.clone()),
                    },
                    rows: int(1),
                    cols: width as u32,
                    gm_pitch: int(c.h),
                    ub_stride: stride as u32,
                });
            }
        }
        b.set(set.rows_in);
        b.wait(set.rows_in);
        let block = int(r * stride);
        if cast {
            let all = int(slots * stride);
            b.vec(
                VecOp::Cast(Round::None),
                &[set.rows_f],
                &[set.staged],
                None,
                all,
            );
            b.set(set.free);
        }
        let seg = SegView {
            segs: 1,
            len: width as u32,
            stride: stride as u32,
        };
        b.vec(
            VecOp::SegBinary(VecBinary::Mul, seg),
            &[set.rows_f, set.blocks],
            &[set.rows_f, set.w_perm],
            None,
            int(slots),
        );
        // The interpreter sums onto 0.0: +0.0 + -0.0 is +0.0, so the first term is added to +0.0 too.
        let first = set.slot_blocks[0];
        b.vec(
            VecOp::Scalar(VecScalar::Adds),
            &[first],
            &[first],
            Some(Scalar::f32(0.0)),
            block.clone(),
        );
        for &s in &set.slot_blocks[1..] {
            b.vec(
                VecOp::Binary(VecBinary::Add),
                &[first],
                &[first, s],
                None,
                block.clone(),
            );
        }
        if cast {
            b.vec(VecOp::Cast(Round::Rint), &[set.out], &[first], None, block);
        }
        b.inst(InstData::CopyOut {
            dst: GmRef {
                buf: gm.out,
                offset: add(mul(t0, int(c.h)), c0),
            },
            src: set.out,
            rows: valid,
            cols: width as u32,
            gm_pitch: int(c.h),
            ub_stride: stride as u32,
        });
        if !cast {
            b.set(set.free);
        }
    }
}
