//! Instructions of kernel IR v2: queue protocol, copies, cube operations, synchronization, scalars read
//! from GM and vector operations, with the pipe each runs on and the memory each touches.

use super::{
    CmpMode, Elem, Event, GmBuf, IExpr, Pipe, Queue, Round, Scalar, SegReduceOp, SegView, Tensor,
    Var, VecBinary, VecScalar, VecUnary,
};

/// A GM location: a buffer and an element offset into it.
#[derive(Clone, PartialEq, Debug)]
pub struct GmRef {
    /// The buffer.
    pub buf: GmBuf,
    /// Element offset.
    pub offset: IExpr,
}

/// `Fixpipe`'s conversion of the f32 accumulators on the way out (`QuantMode_t`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Quant {
    /// `NoQuant`: f32 out.
    None,
    /// `F322F16`.
    F32ToF16,
    /// `F322BF16`.
    F32ToBf16,
}

impl Quant {
    /// The `QuantMode_t` enumerator.
    pub fn name(self) -> &'static str {
        match self {
            Quant::None => "NoQuant",
            Quant::F32ToF16 => "F322F16",
            Quant::F32ToBf16 => "F322BF16",
        }
    }
}

/// A vector-unit operation; the operands are in [`InstData::Vector`].
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum VecOp {
    /// `dst = f(src)`.
    Unary(VecUnary),
    /// `dst = f(lhs, rhs)`.
    Binary(VecBinary),
    /// `dst = f(src, scalar)`.
    Scalar(VecScalar),
    /// `dst = scalar`.
    Duplicate,
    /// `dst = convert(src)`.
    Cast(Round),
    /// `dst = lhs <mode> rhs` (a mask).
    Compare(CmpMode),
    /// `dst = !src` over a mask.
    Not,
    /// `dst = mask ? a : b` (b a tensor, or the scalar when there is one source fewer).
    Select,
    /// One value per segment: `dsts = [dst, fold?]`.
    SegReduce(SegReduceOp, SegView),
    /// Broadcast one value per segment: `dsts = [dst, blocks]`.
    SegExpand(SegView),
    /// Broadcast a vector over every segment.
    VecExpand(SegView),
    /// Binary op with one value per segment on the right: `dsts = [dst, blocks]`.
    SegBinary(VecBinary, SegView),
    /// Binary op with a vector repeated over every segment on the right.
    VecBinary(VecBinary, SegView),
    /// `dst[j] = j` (`CreateVecIndex`).
    Iota,
    /// Table lookup of a table of `table_len` entries (indices clamped to it): `srcs = [table, index]`,
    /// `dsts = [dst, offsets]`.
    Gather {
        /// Entries of the table.
        table_len: u32,
    },
}

/// One instruction.
#[derive(Clone, PartialEq, Debug)]
pub enum InstData {
    /// `que.AllocTensor<T>()` into `tensor` (a producer takes a free slot).
    AllocTensor {
        /// The queue.
        queue: Queue,
        /// The tensor that names the slot.
        tensor: Tensor,
    },
    /// `que.EnQue(tensor)`: hands the tensor to the consumer pipe.
    EnQue {
        /// The queue.
        queue: Queue,
        /// The tensor.
        tensor: Tensor,
    },
    /// `tensor = que.DeQue<T>()`: waits for the producer's hand-off.
    DeQue {
        /// The queue.
        queue: Queue,
        /// The tensor.
        tensor: Tensor,
    },
    /// `que.FreeTensor(tensor)`: returns the slot to the producer.
    FreeTensor {
        /// The queue.
        queue: Queue,
        /// The tensor.
        tensor: Tensor,
    },
    /// `DataCopyPad` GM -> UB: `rows` rows of `cols` elements, GM rows `gm_pitch` elements apart, UB rows
    /// `ub_stride` elements apart (padding unspecified).
    CopyIn {
        /// Destination (UB).
        dst: Tensor,
        /// Source.
        src: GmRef,
        /// Rows.
        rows: IExpr,
        /// Elements per row.
        cols: u32,
        /// GM row pitch in elements.
        gm_pitch: IExpr,
        /// UB row stride in elements.
        ub_stride: u32,
    },
    /// `DataCopyPad` UB -> GM, the inverse of [`InstData::CopyIn`].
    CopyOut {
        /// Destination.
        dst: GmRef,
        /// Source (UB).
        src: Tensor,
        /// Rows.
        rows: IExpr,
        /// Elements per row.
        cols: u32,
        /// GM row pitch in elements.
        gm_pitch: IExpr,
        /// UB row stride in elements.
        ub_stride: u32,
    },
    /// `DataCopy(dstL1[dst_offset], gm, Nd2NzParams)`: an ND matrix of `rows x cols` (GM pitch
    /// `gm_pitch`) to NZ in L1, with `nz_rows` rows per fractal column (`dstNzC0Stride`, `rows` aligned
    /// up to 16).
    CopyNd2Nz {
        /// Destination (L1).
        dst: Tensor,
        /// Element offset into `dst` (0 in the text form unless written).
        dst_offset: IExpr,
        /// Source.
        src: GmRef,
        /// `nValue`.
        rows: IExpr,
        /// `dValue`.
        cols: IExpr,
        /// `srcDValue`.
        gm_pitch: IExpr,
        /// `dstNzC0Stride`.
        nz_rows: IExpr,
    },
    /// `LoadData(dst, src[src_offset], LoadData2DParams)` L1 -> L0A/L0B, to `dst[dst_offset]`.
    ///
    /// With `transpose` and 32-bit elements this is `LoadDataWithTranspose(dst, src,
    /// LoadData2dTransposeParams)` (the 2D load's `ifTranspose` takes 16-bit types only): each repeat
    /// reads two consecutive 16 x 8 fractals as one 16 x 16 square (1 KiB), transposes it and writes
    /// it as two 16 x 8 fractals `frac_gap` fractals apart; `src_stride` then counts squares.
    LoadData2d {
        /// Destination (L0A or L0B).
        dst: Tensor,
        /// Element offset into `dst`.
        dst_offset: IExpr,
        /// Source (L1).
        src: Tensor,
        /// Element offset into `src`.
        src_offset: IExpr,
        /// `repeatTimes` (512-byte fractals).
        repeat: IExpr,
        /// `srcStride` (512-byte units).
        src_stride: IExpr,
        /// `dstGap` (512-byte units).
        dst_gap: IExpr,
        /// `ifTranspose`.
        transpose: bool,
        /// `dstFracGap` of the 32-bit transposing load (512-byte units; 0 otherwise).
        frac_gap: IExpr,
    },
    /// `Mmad(c, a, b, MmadParams{m, n, k, cmatrixInitVal = init != 0})`.
    Mmad {
        /// Accumulator (L0C).
        dst: Tensor,
        /// Left operand (L0A).
        a: Tensor,
        /// Right operand (L0B).
        b: Tensor,
        /// Rows of the result.
        m: IExpr,
        /// Columns of the result.
        n: IExpr,
        /// Reduction length.
        k: IExpr,
        /// Nonzero: start from zero; zero: accumulate onto `dst`.
        init: IExpr,
    },
    /// `Fixpipe<T, U, CFG_ROW_MAJOR>(gm, l0c, FixpipeParamsV220{n, m, src_stride, gm_pitch})`: NZ -> ND.
    Fixpipe {
        /// Destination.
        dst: GmRef,
        /// Source (L0C).
        src: Tensor,
        /// `mSize`.
        m: IExpr,
        /// `nSize`.
        n: IExpr,
        /// `srcStride` (C0 rows, `m` aligned up to 16).
        src_stride: IExpr,
        /// `dstStride` (ND row pitch in elements).
        gm_pitch: IExpr,
        /// Conversion on the way out.
        quant: Quant,
        /// `reluEn`.
        relu: bool,
    },
    /// `SetAtomicAdd<T>()` (`Some`) or `SetAtomicNone()` (`None`) for later GM writes of this core.
    SetAtomic(Option<Elem>),
    /// `var = gm[offset]`: a scalar read from GM at run time (`GlobalTensor<int32_t>::GetValue`),
    /// through the core's data cache (see [`InstData::FlushGm`]). Defines `var` or overwrites it.
    ReadScalar {
        /// The variable defined.
        dst: Var,
        /// Where it is read.
        src: GmRef,
    },
    /// `var = value`: a scalar assignment on the scalar unit. The first assignment of a variable
    /// defines it (in scope to the end of the enclosing block); later ones overwrite it. Loop counters
    /// cannot be assigned.
    Assign {
        /// The variable written.
        dst: Var,
        /// Its new value.
        value: IExpr,
    },
    /// `gm.SetValue(offset, value)`: a scalar write of one `int32_t` to GM (i32 buffers only).
    ///
    /// The scalar unit writes through the core's data cache: the value reaches GM only when the line
    /// is written back, so DMA (MTE2/MTE3) accesses of the same bytes and every other core see it
    /// only after a [`InstData::FlushGm`] (`DataCacheCleanAndInvalid`, CANN `SetValue-3.md`) and,
    /// for DMA on this core, an ordering from the scalar pipe after that flush.
    WriteScalar {
        /// Where it is written.
        dst: GmRef,
        /// The value (truncated to `int32_t`).
        value: IExpr,
    },
    /// `DataCacheCleanAndInvalid<T, CacheLine::ENTIRE_DATA_CACHE, DcciDst::CACHELINE_OUT>(gm)`: writes
    /// every dirty line of the core's data cache back to GM and invalidates the cache (the whole cache:
    /// with `ENTIRE_DATA_CACHE` the buffer only names the element type), so that earlier scalar writes
    /// are visible to DMA and other cores, and later scalar reads see what others wrote.
    FlushGm {
        /// The buffer named in the call.
        buf: GmBuf,
    },
    /// `SetFlag<HardEvent::FROM_TO>(id)`, on the `from` pipe.
    SetFlag(Event),
    /// `WaitFlag<HardEvent::FROM_TO>(id)`, stalls the `to` pipe.
    WaitFlag(Event),
    /// `PipeBarrier<PIPE_X>()`: later work on the pipe starts after all earlier work on it is done.
    PipeBarrier(Pipe),
    /// `CrossCoreSetFlag<mode, PIPE_X>(flag)`.
    CrossCoreSetFlag {
        /// `modeId` (2: AIC and its AIVs).
        mode: u8,
        /// The pipe whose earlier work the flag waits for.
        pipe: Pipe,
        /// Flag id (0..=15; 11..=14 are SyncAll's).
        flag: u16,
    },
    /// `CrossCoreWaitFlag<mode, PIPE_X>(flag)`.
    CrossCoreWaitFlag {
        /// `modeId`.
        mode: u8,
        /// The pipe that waits.
        pipe: Pipe,
        /// Flag id.
        flag: u16,
    },
    /// `SyncAll()`: every core of the kernel reaches this point before any goes on.
    SyncAll,
    /// A vector instruction over `count` elements of its operands.
    Vector {
        /// The operation.
        op: VecOp,
        /// Results, then scratch.
        dsts: Vec<Tensor>,
        /// Tensor operands.
        srcs: Vec<Tensor>,
        /// The scalar operand, when the op has one.
        scalar: Option<Scalar>,
        /// Elements processed: for segment ops the number of segments; for compares, selects and
        /// `Not` the element count rounded up to whole 256-byte repeats.
        count: IExpr,
    },
}

/// How an instruction touches on-chip memory or GM, for dependence analysis.
#[derive(Clone, PartialEq, Debug)]
pub struct Access {
    /// Local tensors read.
    pub reads: Vec<Tensor>,
    /// Local tensors written.
    pub writes: Vec<Tensor>,
    /// GM buffers read.
    pub gm_reads: Vec<GmBuf>,
    /// GM buffers written.
    pub gm_writes: Vec<GmBuf>,
}

impl InstData {
    /// The pipe the instruction runs on (for a `WaitFlag`, the pipe it stalls).
    pub fn pipe(&self) -> Pipe {
        match self {
            InstData::CopyIn { .. } | InstData::CopyNd2Nz { .. } => Pipe::Mte2,
            InstData::CopyOut { .. } => Pipe::Mte3,
            InstData::LoadData2d { .. } => Pipe::Mte1,
            InstData::Mmad { .. } => Pipe::M,
            InstData::Fixpipe { .. } => Pipe::Fix,
            InstData::Vector { .. } => Pipe::V,
            InstData::PipeBarrier(p) => *p,
            InstData::CrossCoreSetFlag { pipe, .. } | InstData::CrossCoreWaitFlag { pipe, .. } => {
                *pipe
            }
            _ => Pipe::S,
        }
    }

    /// Whether the instruction is synchronization (a flag, barrier or SyncAll): what the sync pass inserts.
    pub fn is_sync(&self) -> bool {
        matches!(
            self,
            InstData::SetFlag(_)
                | InstData::WaitFlag(_)
                | InstData::PipeBarrier(_)
                | InstData::CrossCoreSetFlag { .. }
                | InstData::CrossCoreWaitFlag { .. }
                | InstData::SyncAll
        )
    }

    /// The memory the instruction touches.
    pub fn access(&self) -> Access {
        let mut a = Access {
            reads: vec![],
            writes: vec![],
            gm_reads: vec![],
            gm_writes: vec![],
        };
        match self {
            InstData::CopyIn { dst, src, .. } | InstData::CopyNd2Nz { dst, src, .. } => {
                a.writes.push(*dst);
                a.gm_reads.push(src.buf);
            }
            InstData::CopyOut { dst, src, .. } => {
                a.reads.push(*src);
                a.gm_writes.push(dst.buf);
            }
            InstData::LoadData2d { dst, src, .. } => {
                a.reads.push(*src);
                a.writes.push(*dst);
            }
            InstData::Mmad {
                dst, a: x, b, init, ..
            } => {
                a.reads.extend([*x, *b]);
                // Accumulating reads the accumulator; a literal init of 1 does not.
                if init.as_int() != Some(1) {
                    a.reads.push(*dst);
                }
                a.writes.push(*dst);
            }
            InstData::Fixpipe { dst, src, .. } => {
                a.reads.push(*src);
                a.gm_writes.push(dst.buf);
            }
            InstData::ReadScalar { src, .. } => a.gm_reads.push(src.buf),
            InstData::WriteScalar { dst, .. } => a.gm_writes.push(dst.buf),
            InstData::Vector { dsts, srcs, .. } => {
                a.reads.extend(srcs);
                a.writes.extend(dsts);
            }
            _ => {}
        }
        a
    }
}

impl InstData {
    /// Applies `f` to every device expression of the instruction (offsets of its GM references
    /// included), so a pass can rewrite fields or variables wherever an instruction reads them.
    pub fn map_exprs_mut(&mut self, f: &mut dyn FnMut(&mut IExpr)) {
        match self {
            InstData::CopyIn {
                src: gm,
                rows,
                gm_pitch,
                ..
            }
            | InstData::CopyOut {
                dst: gm,
                rows,
                gm_pitch,
                ..
            } => {
                f(&mut gm.offset);
                f(rows);
                f(gm_pitch);
            }
            InstData::CopyNd2Nz {
                dst_offset,
                src,
                rows,
                cols,
                gm_pitch,
                nz_rows,
                ..
            } => {
                f(&mut src.offset);
                for e in [dst_offset, rows, cols, gm_pitch, nz_rows] {
                    f(e);
                }
            }
            InstData::LoadData2d {
                dst_offset,
                src_offset,
                repeat,
                src_stride,
                dst_gap,
                frac_gap,
                ..
            } => {
                for e in [
                    dst_offset, src_offset, repeat, src_stride, dst_gap, frac_gap,
                ] {
                    f(e);
                }
            }
            InstData::Mmad { m, n, k, init, .. } => {
                for e in [m, n, k, init] {
                    f(e);
                }
            }
            InstData::Fixpipe {
                dst,
                m,
                n,
                src_stride,
                gm_pitch,
                ..
            } => {
                f(&mut dst.offset);
                for e in [m, n, src_stride, gm_pitch] {
                    f(e);
                }
            }
            InstData::ReadScalar { src, .. } => f(&mut src.offset),
            InstData::Assign { value, .. } => f(value),
            InstData::WriteScalar { dst, value } => {
                f(&mut dst.offset);
                f(value);
            }
            InstData::Vector { count, .. } => f(count),
            InstData::AllocTensor { .. }
            | InstData::EnQue { .. }
            | InstData::DeQue { .. }
            | InstData::FreeTensor { .. }
            | InstData::SetAtomic(_)
            | InstData::FlushGm { .. }
            | InstData::SetFlag(_)
            | InstData::WaitFlag(_)
            | InstData::PipeBarrier(_)
            | InstData::CrossCoreSetFlag { .. }
            | InstData::CrossCoreWaitFlag { .. }
            | InstData::SyncAll => {}
        }
    }

    /// Replaces every GM buffer the instruction references by `f` of it (when programs are merged,
    /// each kernel's buffers get the merged program's ids).
    pub fn map_gm(&mut self, f: &mut dyn FnMut(GmBuf) -> GmBuf) {
        match self {
            InstData::CopyIn { src: r, .. }
            | InstData::CopyOut { dst: r, .. }
            | InstData::CopyNd2Nz { src: r, .. }
            | InstData::Fixpipe { dst: r, .. }
            | InstData::ReadScalar { src: r, .. }
            | InstData::WriteScalar { dst: r, .. } => r.buf = f(r.buf),
            InstData::FlushGm { buf } => *buf = f(*buf),
            _ => {}
        }
    }
}

impl IExpr {
    /// Replaces every field the expression reads by `f` of it.
    pub fn map_fields(&mut self, f: &mut dyn FnMut(super::Field) -> super::Field) {
        match self {
            IExpr::Field(x) => *x = f(*x),
            IExpr::Bin(_, a, b) => {
                a.map_fields(f);
                b.map_fields(f);
            }
            IExpr::Int(_) | IExpr::Var(_) | IExpr::BlockIdx | IExpr::BlockNum => {}
        }
    }
}
