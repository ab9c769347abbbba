//! Row kernels of the MoE layer on the vector cores (issue 8): the row gather behind `dispatch` and
//! the router-weight gather, `combine` and the one-operand SwiGLU. Each is a hand-built AIV kernel IR
//! v2 program: the lowering emits copies, scalar index reads and vector instructions in order and
//! [`crate::kir::v2::insert_sync`] derives the flags and barriers.
//!
//! Common shape of the three: rows (or tokens) are cut into batches of `R` rows; batch `b` goes to
//! core `b % block_num` (block dim `min(vector cores, max(batches, 1))`, so an empty input launches
//! one core that does nothing); a row too wide for UB is cut into column chunks (full chunks in a
//! loop, the narrower last one emitted once). A gathered row is one `DataCopyPad` into its own
//! 32-byte aligned row of the batch tile (a view of the scratch `TBuf`), and the batch leaves in
//! one copy. Indices read from GM are clamped to their buffer on the scalar unit, so even a bad index
//! never addresses outside GM; a partial last batch re-reads its last valid row for the rows past the
//! end (never written back).

mod build;
mod combine;
mod swiglu;

use crate::graph::DType;
use crate::kir::v2::{
    BinOp, Elem, Event, GmBuf, GmKind, GmRef, HostExpr, IExpr, InstData, Pipe, Program, Tensor,
};
use crate::schedule::LowerError;
use crate::target::Target;

use build::{add, align, clamp_index, float_bytes, int, min, mul, sub, unsupported, Build};

pub use combine::{lower_combine, CombineSpec};
pub use swiglu::{lower_swiglu, SwigluSpec};

/// `out[d, :] = src[index[d] / div, :]` for `d` in `0..rows`: `dispatch` with `index` = the routing
/// table's `{r}_order` and `div` = K, or the router-weight gather with `src` = the weights viewed as
/// `(T*K, 1)`, `index` = order and `div` = 1.
///
/// GM buffers (named by the caller): `src: dtype (src_rows, cols)` input, `index: i32 (rows,)` input,
/// `out: dtype (rows, cols)` output. An index is clamped to `[0, src_rows)` on the device; with
/// `src_rows` = 0 nothing is read or written.
///
/// The kernel addresses `src` as flat rows, so for the weight gather a caller that links this
/// program with one declaring the weights `(T, K)` may set `p.gm[..].shape` of `src` to that shape
/// before linking ([`crate::kir::v2::Linker`] compares the shapes of buffers of one name).
#[derive(Clone, Debug)]
pub struct RowGather<'a> {
    /// The program's name; the kernel is `{program}_{out}`.
    pub program: &'a str,
    /// The rows gathered from.
    pub src: &'a str,
    /// The row index of every output row (before the division by `div`).
    pub index: &'a str,
    /// The gathered rows.
    pub out: &'a str,
    /// The divisor of every index (K for `dispatch`: slot `p` holds token `p / K`); at least 1.
    pub div: u64,
    /// Rows of `out` and entries of `index` (may be 0).
    pub rows: HostExpr,
    /// Rows of `src`.
    pub src_rows: HostExpr,
    /// Elements per row.
    pub cols: u64,
    /// Element type of `src` and `out`.
    pub dtype: DType,
}

/// Most rows of one gather batch: the batch's copies are unrolled in the kernel (one scalar read and
/// one copy per row), and with 8 rows a batch 48 cores are busy from 384 rows on.
const GATHER_ROWS: u64 = 8;

/// Lowers a [`RowGather`] for `target`: batches of up to 8 rows, two batch tiles in turn so the next
/// batch's copies in overlap this batch's copy out.
pub fn lower_row_gather(g: &RowGather<'_>, target: &Target) -> Result<Program, LowerError> {
    const OP: &str = "row gather";
    let esize = match g.dtype {
        DType::I32 => 4,
        d => float_bytes(OP, d)?,
    };
    if g.div == 0 {
        return Err(unsupported(OP, "an index divisor of 0"));
    }
    if g.cols == 0 {
        return Err(unsupported(OP, "rows of 0 elements"));
    }
    // Two batch tiles share the UB.
    let half = u64::from(target.ub_usable) / 2;
    let quantum = 32 / esize;
    let full_stride = align(g.cols, quantum);
    let (width, stride, rows_per) = if full_stride * esize <= half {
        let fit = half / (full_stride * esize);
        (g.cols, full_stride, fit.min(GATHER_ROWS))
    } else {
        let w = half / esize / quantum * quantum;
        (w, w, 1)
    };
    let batches = HostExpr::ceil_div(g.rows.clone(), HostExpr::lit(rows_per as i64))
        * HostExpr::min(g.src_rows.clone(), HostExpr::lit(1));
    let block_dim = HostExpr::min(
        HostExpr::lit(i64::from(target.vector_cores)),
        HostExpr::max(batches.clone(), HostExpr::lit(1)),
    );
    let mut b = Build::new(g.program, format!("{}_{}", g.program, g.out), block_dim);
    let elem = Elem::storage(g.dtype);
    let g_src = b.gm(
        g.src,
        GmKind::Input,
        g.dtype,
        vec![g.src_rows.clone(), HostExpr::lit(g.cols as i64)],
    );
    let g_index = b.gm(g.index, GmKind::Input, DType::I32, vec![g.rows.clone()]);
    let g_out = b.gm(
        g.out,
        GmKind::Output,
        g.dtype,
        vec![g.rows.clone(), HostExpr::lit(g.cols as i64)],
    );
    let f_rows = b.field("rows", g.rows.clone());
    let f_src_rows = b.field("src_rows", g.src_rows.clone());
    let f_batches = b.field("batches", batches);
    let tiles: Vec<GatherTile> = ["a", "b"]
        .iter()
        .map(|name| {
            let all = b.tensor(&format!("rows_{name}"), elem, rows_per * stride);
            let rows = (0..rows_per)
                .map(|r| b.view(all, elem, r * stride, stride))
                .collect();
            let copied = b.event(Pipe::Mte2, Pipe::Mte3);
            GatherTile { all, rows, copied }
        })
        .collect();
    let ctx = GatherCtx {
        g,
        src: g_src,
        index: g_index,
        out: g_out,
        rows: f_rows,
        src_rows: f_src_rows,
        rows_per,
        width,
        stride,
    };
    // Batches block_idx, block_idx + block_num, ... below `batches`, two at a time (tiles a, b),
    // then the odd one out (tile a).
    let mine = bin_ceil(sub(f_batches, IExpr::BlockIdx), IExpr::BlockNum);
    let (v_pair, v_last) = (b.var("pair"), b.var("last"));
    let nth = |n: IExpr| add(IExpr::BlockIdx, mul(n, IExpr::BlockNum));
    b.open();
    let pair = IExpr::Var(v_pair);
    ctx.batch(&mut b, &tiles[0], nth(mul(pair.clone(), int(2))));
    ctx.batch(&mut b, &tiles[1], nth(add(mul(pair, int(2)), int(1))));
    b.close_for(v_pair, int(0), IExpr::bin(BinOp::Div, mine.clone(), int(2)));
    b.open();
    ctx.batch(&mut b, &tiles[0], nth(sub(mine.clone(), int(1))));
    b.close_for(v_last, int(0), IExpr::bin(BinOp::Rem, mine, int(2)));
    b.finish(target)
}

fn bin_ceil(a: IExpr, b: IExpr) -> IExpr {
    IExpr::bin(BinOp::CeilDiv, a, b)
}

/// One batch tile of the gather: the whole tile and a view of each of its rows.
struct GatherTile {
    all: Tensor,
    rows: Vec<Tensor>,
    /// MTE2 -> MTE3: the rows are in.
    copied: Event,
}

/// What every batch of a gather uses.
struct GatherCtx<'g, 'a> {
    g: &'g RowGather<'a>,
    src: GmBuf,
    index: GmBuf,
    out: GmBuf,
    rows: IExpr,
    src_rows: IExpr,
    rows_per: u64,
    width: u64,
    stride: u64,
}

impl GatherCtx<'_, '_> {
    /// Batch `batch` (rows `batch * R ..`) in `tile`, chunk by chunk.
    fn batch(&self, b: &mut Build, tile: &GatherTile, batch: IExpr) {
        let cols = self.g.cols;
        let (full, tail) = (cols / self.width, cols % self.width);
        if full == 1 {
            self.chunk(b, tile, &batch, int(0), self.width);
        } else if full > 1 {
            let v_chunk = b.var("chunk");
            b.open();
            let c0 = mul(IExpr::Var(v_chunk), int(self.width));
            self.chunk(b, tile, &batch, c0, self.width);
            b.close_for(v_chunk, int(0), int(full));
        }
        if tail > 0 {
            self.chunk(b, tile, &batch, int(full * self.width), tail);
        }
    }

    /// Columns `c0 .. c0 + width` of a batch: one copy in per row, one copy out.
    fn chunk(&self, b: &mut Build, tile: &GatherTile, batch: &IExpr, c0: IExpr, width: u64) {
        let cols = self.g.cols;
        let first = mul(batch.clone(), int(self.rows_per));
        for (r, &row_tile) in tile.rows.iter().enumerate() {
            // Rows past the end re-read the last row (their copies are never written back).
            let row = min(
                add(first.clone(), int(r as u64)),
                sub(self.rows.clone(), int(1)),
            );
            // Every variable is bound once: one per read.
            let v_index = b.var("index");
            b.inst(InstData::ReadScalar {
                dst: v_index,
                src: GmRef {
                    buf: self.index,
                    offset: row,
                },
            });
            let token = build::bin(BinOp::Div, IExpr::Var(v_index), int(self.g.div));
            let token = clamp_index(token, self.src_rows.clone());
            b.inst(InstData::CopyIn {
                dst: row_tile,
                src: GmRef {
                    buf: self.src,
                    offset: add(mul(token, int(cols)), c0.clone()),
                },
                rows: int(1),
                cols: width as u32,
                gm_pitch: int(cols),
                ub_stride: self.stride as u32,
            });
        }
        b.set(tile.copied);
        b.wait(tile.copied);
        let valid = min(int(self.rows_per), sub(self.rows.clone(), first.clone()));
        b.inst(InstData::CopyOut {
            dst: GmRef {
                buf: self.out,
                offset: add(mul(first, int(cols)), c0),
            },
            src: tile.all,
            rows: valid,
            cols: width as u32,
            gm_pitch: int(cols),
            ub_stride: self.stride as u32,
        });
    }
}

#[cfg(test)]
mod tests;
