//! The kernel IR: one [`Function`] per device kernel, close to the Ascend C program it becomes.
//!
//! # Execution model
//!
//! A kernel runs on `block_dim` cores of one [`CoreKind`] at once. Each core owns its on-chip memories;
//! global memory (GM, the device's HBM) is shared and is where [`Arg`]s live. The memory spaces are
//! [`MemSpace::Gm`] (arguments, no alignment rule), [`MemSpace::Ub`] (the Unified Buffer of a vector core,
//! 32-byte aligned), and, for cube kernels, `L1`, `L0A`, `L0B` and `L0C`. Data moves between GM and
//! on-chip memory only through copy instructions; vector instructions read and write UB only.
//!
//! A vector (AIV) kernel processes the rows of its row tensors. The dynamic row count is split over the
//! cores ([`BlockSplit`]): core `i` takes `rows_per_core + (i < rows_rem)` consecutive rows. Each core
//! walks its rows in tiles of at most [`BlockSplit::tile_rows`] rows; for every tile it runs the
//! `copy_in`, `compute` and `copy_out` [stages](StageKind) in that order. The `init` stage runs once per
//! core before the first tile: it loads resident tensors (small tables every tile reads, such as a
//! per-expert scale) and builds constant tiles.
//!
//! # Tiles and layouts
//!
//! A [`Tile`] is a tensor in UB. Its element `j` of row `r` is at element offset `r * stride + j`
//! (`j < cols`); the elements between `cols` and `stride` are padding whose value is unspecified. A tile
//! of a row tensor has [`Rows::Tile`] rows: `mult` rows per row of the current tile (`mult` is 1 except
//! for per-segment results). Resident tiles have [`Rows::Fixed`] rows. A mask tile holds one bit per
//! element of the tiles it was compared from, with their `cols` and `stride`.
//!
//! Whole-tile instructions ([`InstData::Binary`] and friends) process `rows * stride` elements (rounded
//! up to 256 bytes for compares and selects, whose hardware count must be a multiple of 256 bytes). All
//! operands of a whole-tile instruction have the same `stride`, so element `k` of one is element `k` of
//! the others. Segment instructions ([`InstData::SegReduce`], [`InstData::SegExpand`],
//! [`InstData::VecExpand`]) see a tile as `rows * segs` segments of `len` elements `stride` apart (see
//! [`SegView`]).
//!
//! # Order and side effects
//!
//! Instructions run in the order of their stage's list. Copies run on the data-movement pipes (MTE2 in,
//! MTE3 out) and everything else on the vector pipe, concurrently with each other; the only ordering
//! between pipes is what queues and [events](EventData) give. A queue tile is produced by one stage and
//! consumed by the next (`EnQue` / `DeQue`); work on tiles that are not in a queue (resident loads) is
//! ordered by explicit events. Only `CopyOut` has an effect visible outside the core.
//!
//! # Ownership
//!
//! AIV kernels own UB; AIC kernels own L1 and L0A/L0B/L0C; a MIX kernel has both and exchanges data
//! through GM only. This issue lowers vector kernels only.

#![deny(missing_docs)]

pub mod c_macros;
pub mod entities;
pub mod names;
pub mod parse;
pub mod verify;
pub mod write;

use cranelift_entity::{PrimaryMap, SecondaryMap};

use crate::graph::{DType, SrcLoc};

pub use crate::expr::{ExprError, ExprParseError, Symbol};
pub use entities::{Arg, Buffer, Event, Field, Inst, Queue, Stage, Tile};

/// The kernel IR's host expressions: the [shared expression type](crate::expr) over interned
/// [`Symbol`]s.
pub type Expr = crate::expr::Expr<Symbol>;
pub use parse::{parse_function, KirParseError};
pub use verify::{verify, KirVerifierError, KirVerifierErrors};
pub use write::{function_to_string, write_function};

/// A memory space of the Da Vinci architecture.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum MemSpace {
    /// Global memory (HBM), shared by all cores; kernel arguments live here.
    Gm,
    /// Unified Buffer: a vector core's working memory (192 KiB on 910B, 184 KiB usable).
    Ub,
    /// L1 buffer of a cube core (512 KiB).
    L1,
    /// L0A: the cube unit's left-operand buffer (64 KiB).
    L0a,
    /// L0B: the cube unit's right-operand buffer (64 KiB).
    L0b,
    /// L0C: the cube unit's accumulator buffer (128 KiB).
    L0c,
}

/// Which cores a kernel runs on.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum CoreKind {
    /// Vector cores only (`KERNEL_TYPE_AIV_ONLY`).
    Aiv,
    /// Cube cores only (`KERNEL_TYPE_AIC_ONLY`).
    Aic,
    /// Cube and vector cores together (`KERNEL_TYPE_MIX_AIC_1_2`).
    Mix,
}

/// The hardware pipes instructions run on.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Pipe {
    /// The scalar unit.
    S,
    /// The vector unit.
    V,
    /// GM to on-chip copies (copy in).
    Mte2,
    /// On-chip to GM copies (copy out).
    Mte3,
}

/// Element type of a tile.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Elem {
    /// IEEE single.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 32-bit signed integer.
    I32,
    /// A bit mask, one bit per element, stored in bytes (the result of a compare).
    Mask,
}

impl Elem {
    /// The element type a graph dtype is stored as in GM and UB (`bool` is a mask).
    pub fn storage(dtype: DType) -> Elem {
        match dtype {
            DType::F32 => Elem::F32,
            DType::F16 => Elem::F16,
            DType::BF16 => Elem::BF16,
            DType::I32 => Elem::I32,
            DType::Bool => Elem::Mask,
        }
    }

    /// The element type a graph dtype is computed in: floats in `f32`, `i32` as is, `bool` as a mask.
    pub fn compute(dtype: DType) -> Elem {
        match dtype {
            DType::F32 | DType::F16 | DType::BF16 => Elem::F32,
            DType::I32 => Elem::I32,
            DType::Bool => Elem::Mask,
        }
    }

    /// Size of one element in bits.
    pub fn bits(self) -> u32 {
        match self {
            Elem::F32 | Elem::I32 => 32,
            Elem::F16 | Elem::BF16 => 16,
            Elem::Mask => 1,
        }
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, Elem::F32 | Elem::F16 | Elem::BF16)
    }

    /// The name in the text form.
    pub fn name(self) -> &'static str {
        match self {
            Elem::F32 => "f32",
            Elem::F16 => "f16",
            Elem::BF16 => "bf16",
            Elem::I32 => "i32",
            Elem::Mask => "mask",
        }
    }
}

/// A global-memory argument of the kernel.
#[derive(Clone, PartialEq, Debug)]
pub struct ArgData {
    /// Its name in the graph kernel (the parameter or output name).
    pub name: String,
    /// Read or written.
    pub role: ArgRole,
    /// Element type in GM.
    pub dtype: DType,
    /// Shape, outermost first, as host expressions of the dynamic dims.
    pub shape: Vec<Expr>,
    /// How the kernel accesses it.
    pub access: Access,
}

/// Whether an argument is read or written.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum ArgRole {
    /// Read only.
    Input,
    /// Written only (every element exactly once).
    Output,
}

/// How a kernel walks an argument.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Access {
    /// Row by row: the argument is `rows x cols` elements in C order, split over cores and tiles.
    Rows {
        /// Elements per row (the product of every axis but the first).
        cols: u32,
    },
    /// Whole: every core loads all `elems` elements once, in the `init` stage.
    Whole {
        /// Number of elements.
        elems: u32,
    },
}

/// A tiling field: one `int64_t` of the tiling struct the host fills in before launch.
#[derive(Clone, PartialEq, Debug)]
pub struct FieldData {
    /// The field's name (`rows`, `rows_per_core`).
    pub name: String,
    /// Its value as an expression of the dynamic dims.
    pub expr: Expr,
}

/// How the rows of a kernel are split over cores and tiles.
#[derive(Clone, PartialEq, Debug)]
pub struct BlockSplit {
    /// Total number of rows (an expression of the dynamic dims).
    pub rows: Expr,
    /// Number of cores launched: `min(cores, max(rows, 1))`.
    pub block_dim: Expr,
    /// The field holding `rows`.
    pub rows_field: Field,
    /// The field holding `rows / block_dim`, the rows every core takes.
    pub per_core_field: Field,
    /// The field holding `rows % block_dim`: the first this many cores take one row more.
    pub rem_field: Field,
    /// Rows per tile; 0 until the scheduler has chosen it.
    pub tile_rows: u32,
}

/// What a [`Buffer`] is for.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum BufferKind {
    /// The memory of a queue (`TQue`); it holds `count` tiles at once.
    Queue(Queue),
    /// Scratch memory for compute temporaries (`TBuf<VECCALC>`), shared by tiles whose lifetimes do not
    /// overlap.
    Scratch,
    /// Memory for a tile that lives for the whole kernel (`TBuf<VECCALC>`), written in `init`.
    Resident,
}

/// An on-chip allocation.
#[derive(Clone, PartialEq, Debug)]
pub struct BufferData {
    /// A name hint for the emitter.
    pub name: String,
    /// Where it is.
    pub space: MemSpace,
    /// What it is for.
    pub kind: BufferKind,
    /// How many equal buffers (2 for a double-buffered queue, else 1).
    pub count: u32,
    /// Bytes of each buffer (a multiple of 32); 0 until the scheduler has sized it.
    pub bytes: u32,
}

/// Where a queue sits in the pipeline.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum QueuePos {
    /// From `copy_in` to `compute` (`TPosition::VECIN`).
    VecIn,
    /// From `compute` to `copy_out` (`TPosition::VECOUT`).
    VecOut,
}

/// A queue between two stages. It carries exactly one tile per iteration.
#[derive(Clone, PartialEq, Debug)]
pub struct QueueData {
    /// Its position (which stages it links).
    pub pos: QueuePos,
    /// How many tiles may be enqueued without a dequeue (the `TQue` depth).
    pub depth: u32,
    /// The memory behind it.
    pub buffer: Buffer,
}

/// How many rows a tile has.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Rows {
    /// `mult` rows per row of the current tile (at most `tile_rows * mult`).
    Tile {
        /// Rows per tile row (the segments of a per-segment result).
        mult: u32,
    },
    /// A fixed number of rows (resident tiles).
    Fixed(u32),
}

/// Where a tile lives.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Home {
    /// Allocated from a queue each iteration.
    Queue(Queue),
    /// At the start of a scratch or resident buffer.
    Buffer(Buffer),
}

/// A tensor in on-chip memory.
#[derive(Clone, PartialEq, Debug)]
pub struct TileData {
    /// A name hint for the emitter (the graph value or role it holds).
    pub name: String,
    /// Element type.
    pub elem: Elem,
    /// Number of rows.
    pub rows: Rows,
    /// Valid elements per row.
    pub cols: u32,
    /// Elements from one row start to the next (`>= cols`).
    pub stride: u32,
    /// Where it lives.
    pub home: Home,
}

impl TileData {
    /// Elements the tile can hold when the kernel runs with `tile_rows` rows per tile, rounded up to a
    /// whole 256-byte repeat (so that compares and selects may run on the rounded count).
    pub fn capacity(&self, tile_rows: u32) -> u64 {
        let rows = match self.rows {
            Rows::Tile { mult } => tile_rows as u64 * mult as u64,
            Rows::Fixed(n) => n as u64,
        };
        let granule = (256 * 8 / self.elem.bits()) as u64;
        (rows * self.stride as u64).div_ceil(granule) * granule
    }

    /// Bytes the tile needs with `tile_rows` rows per tile (a multiple of 32).
    pub fn bytes(&self, tile_rows: u32) -> u64 {
        (self.capacity(tile_rows) * self.elem.bits() as u64 / 8).div_ceil(32) * 32
    }
}

/// A view of a tile as equal segments (rows, or groups inside rows).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct SegView {
    /// Segments per row of the tile.
    pub segs: u32,
    /// Valid elements per segment.
    pub len: u32,
    /// Elements from one segment start to the next (a multiple of 8, so every segment is 32-byte
    /// aligned). When `segs > 1`, `segs * stride` is the tile's row stride.
    pub stride: u32,
}

impl SegView {
    /// Whether every segment is one dense 32-byte block of `elem` and every row has a multiple of 8 of
    /// them: a broadcast over the segments is then a `Brcb` of whole repeats into the result itself
    /// (the direct path of `MogeSegExpand` in codegen-ascendc's helpers), and a `SegExpand` may pass
    /// its result as its `blocks` scratch.
    pub fn is_blocks(&self, elem: Elem) -> bool {
        self.len * elem.bits() / 8 == 32 && self.stride == self.len && self.segs.is_multiple_of(8)
    }
}

/// A hardware event from one pipe to another.
#[derive(Clone, PartialEq, Debug)]
pub struct EventData {
    /// The pipe that signals.
    pub from: Pipe,
    /// The pipe that waits.
    pub to: Pipe,
}

/// The kind of a stage.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum StageKind {
    /// Once per core, before the first tile.
    Init,
    /// Per tile: GM to UB.
    CopyIn,
    /// Per tile: vector work.
    Compute,
    /// Per tile: UB to GM.
    CopyOut,
}

impl StageKind {
    /// The name in the text form.
    pub fn name(self) -> &'static str {
        match self {
            StageKind::Init => "init",
            StageKind::CopyIn => "copy_in",
            StageKind::Compute => "compute",
            StageKind::CopyOut => "copy_out",
        }
    }
}

/// A stage: a kind and its instructions in program order.
#[derive(Clone, PartialEq, Debug)]
pub struct StageData {
    /// Which stage.
    pub kind: StageKind,
    /// Instructions, in the order they run.
    pub insts: Vec<Inst>,
}

/// A scalar operand.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Scalar {
    /// A float, by its bits (so that the IR is `Eq` and `-0.0`, infinities and NaNs are exact).
    F32(u32),
    /// An integer.
    I32(i32),
}

impl Scalar {
    /// A float scalar.
    pub fn f32(value: f32) -> Scalar {
        Scalar::F32(value.to_bits())
    }
}

/// Elementwise unary vector functions (`dst = f(src)`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum VecUnary {
    /// `Exp`.
    Exp,
    /// `Ln`.
    Ln,
    /// `Sqrt`.
    Sqrt,
    /// `Rsqrt`.
    Rsqrt,
    /// `Reciprocal`.
    Reciprocal,
    /// `Abs`.
    Abs,
    /// `Relu`.
    Relu,
}

/// Elementwise binary vector functions (`dst = f(lhs, rhs)`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum VecBinary {
    /// `Add`.
    Add,
    /// `Sub`.
    Sub,
    /// `Mul`.
    Mul,
    /// `Div` (floats only).
    Div,
    /// `Max`.
    Max,
    /// `Min`.
    Min,
}

/// Vector-scalar functions (`dst = f(src, scalar)`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum VecScalar {
    /// `Adds`: `src + scalar`.
    Adds,
    /// `Muls`: `src * scalar`.
    Muls,
    /// `Maxs`: `max(src, scalar)`.
    Maxs,
    /// `Mins`: `min(src, scalar)`.
    Mins,
}

/// Rounding of a conversion.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Round {
    /// `CAST_NONE`: exact widening.
    None,
    /// `CAST_RINT`: to nearest, ties to even.
    Rint,
    /// `CAST_TRUNC`: toward zero.
    Trunc,
}

/// Comparison modes (`CMPMODE`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum CmpMode {
    /// `LT`.
    Lt,
    /// `GT`.
    Gt,
    /// `EQ`.
    Eq,
    /// `LE`.
    Le,
    /// `GE`.
    Ge,
    /// `NE`.
    Ne,
}

impl VecUnary {
    /// The Ascend C function (`AscendC::Exp`).
    pub fn api_name(self) -> &'static str {
        match self {
            VecUnary::Exp => "Exp",
            VecUnary::Ln => "Ln",
            VecUnary::Sqrt => "Sqrt",
            VecUnary::Rsqrt => "Rsqrt",
            VecUnary::Reciprocal => "Reciprocal",
            VecUnary::Abs => "Abs",
            VecUnary::Relu => "Relu",
        }
    }
}

impl VecBinary {
    /// The Ascend C function (`AscendC::Add`).
    pub fn api_name(self) -> &'static str {
        match self {
            VecBinary::Add => "Add",
            VecBinary::Sub => "Sub",
            VecBinary::Mul => "Mul",
            VecBinary::Div => "Div",
            VecBinary::Max => "Max",
            VecBinary::Min => "Min",
        }
    }
}

impl VecScalar {
    /// The Ascend C function (`AscendC::Adds`).
    pub fn api_name(self) -> &'static str {
        match self {
            VecScalar::Adds => "Adds",
            VecScalar::Muls => "Muls",
            VecScalar::Maxs => "Maxs",
            VecScalar::Mins => "Mins",
        }
    }
}

impl Round {
    /// The `AscendC::RoundMode` enumerator.
    pub fn api_name(self) -> &'static str {
        match self {
            Round::None => "CAST_NONE",
            Round::Rint => "CAST_RINT",
            Round::Trunc => "CAST_TRUNC",
        }
    }
}

impl CmpMode {
    /// The `AscendC::CMPMODE` enumerator.
    pub fn api_name(self) -> &'static str {
        match self {
            CmpMode::Lt => "LT",
            CmpMode::Gt => "GT",
            CmpMode::Eq => "EQ",
            CmpMode::Le => "LE",
            CmpMode::Ge => "GE",
            CmpMode::Ne => "NE",
        }
    }
}

/// Segment reductions.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum SegReduceOp {
    /// Sum.
    Sum,
    /// Maximum.
    Max,
    /// Minimum.
    Min,
}

/// The false operand of a select.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum SelectFalse {
    /// A tile (`VSEL_TENSOR_TENSOR_MODE`).
    Tile(Tile),
    /// A scalar (`VSEL_TENSOR_SCALAR_MODE`).
    Scalar(Scalar),
}

/// One instruction.
#[derive(Clone, PartialEq, Debug)]
pub enum InstData {
    /// Copies the current tile's rows of `arg` from GM into `dst` (a `VecIn` queue tile), padding each
    /// row to the tile's stride.
    CopyIn {
        /// The destination tile.
        dst: Tile,
        /// The row-accessed input argument.
        arg: Arg,
    },
    /// Copies `src` (a `VecOut` queue tile) to the current tile's rows of `arg` in GM, dropping padding.
    CopyOut {
        /// The row-accessed output argument.
        arg: Arg,
        /// The source tile.
        src: Tile,
    },
    /// Copies the whole of `arg` from GM into the resident tile `dst` (`init` only).
    Load {
        /// The destination tile.
        dst: Tile,
        /// The whole-accessed input argument.
        arg: Arg,
    },
    /// Signals `event` once all earlier work of its source pipe is done.
    SetFlag(Event),
    /// Stalls the event's destination pipe until `event` is signalled.
    WaitFlag(Event),
    /// `dst = op(src)` elementwise over the whole tile.
    Unary {
        /// The function.
        op: VecUnary,
        /// Result.
        dst: Tile,
        /// Operand.
        src: Tile,
    },
    /// `dst = op(lhs, rhs)` elementwise over the whole tile.
    Binary {
        /// The function.
        op: VecBinary,
        /// Result.
        dst: Tile,
        /// Left operand.
        lhs: Tile,
        /// Right operand.
        rhs: Tile,
    },
    /// `dst = op(src, scalar)` elementwise over the whole tile.
    Scalar {
        /// The function.
        op: VecScalar,
        /// Result.
        dst: Tile,
        /// Tile operand.
        src: Tile,
        /// Scalar operand, of the tile's element type.
        scalar: Scalar,
    },
    /// `dst = scalar` over the whole tile.
    Duplicate {
        /// Result.
        dst: Tile,
        /// The value.
        scalar: Scalar,
    },
    /// `dst = convert(src)` elementwise, with rounding `round`.
    Cast {
        /// Result.
        dst: Tile,
        /// Operand, a different element type with the same stride.
        src: Tile,
        /// Rounding mode.
        round: Round,
    },
    /// `dst = lhs <mode> rhs` elementwise, one bit per element.
    Compare {
        /// Result mask.
        dst: Tile,
        /// Left operand.
        lhs: Tile,
        /// Right operand.
        rhs: Tile,
        /// Comparison.
        mode: CmpMode,
    },
    /// `dst = !src` bitwise over a mask.
    Not {
        /// Result mask.
        dst: Tile,
        /// Operand mask.
        src: Tile,
    },
    /// `dst = mask ? on_true : on_false` elementwise.
    Select {
        /// Result.
        dst: Tile,
        /// The condition mask.
        mask: Tile,
        /// Chosen where the mask bit is 1.
        on_true: Tile,
        /// Chosen where the mask bit is 0.
        on_false: SelectFalse,
    },
    /// Reduces every segment of `src` (see [`SegView`]) to one value: `dst[i] = op(segment i)`. `dst` has
    /// one element per segment, densely. `fold` is scratch of 64 elements per segment, needed when
    /// segments are longer than 64 elements; for dense 64-element segments, optional scratch of 8
    /// elements per segment (the partials of a two-step BlockReduce).
    SegReduce {
        /// The reduction.
        op: SegReduceOp,
        /// Result: one element per segment.
        dst: Tile,
        /// Operand.
        src: Tile,
        /// The segments of `src`.
        seg: SegView,
        /// Scratch for folding long segments.
        fold: Option<Tile>,
    },
    /// Broadcasts one value per segment over its segment: `dst[segment i][j] = src[i]` for `j < len`.
    /// `blocks` is scratch of one 32-byte block per segment, or `dst` itself when
    /// [`SegView::is_blocks`] holds.
    SegExpand {
        /// Result, segmented as `seg`.
        dst: Tile,
        /// One value per segment, densely.
        src: Tile,
        /// The segments of `dst`.
        seg: SegView,
        /// Scratch.
        blocks: Tile,
    },
    /// Broadcasts a vector over every segment: `dst[segment i][j] = src[j]` for `j < len`.
    VecExpand {
        /// Result, segmented as `seg`.
        dst: Tile,
        /// A one-row tile of at least `len` elements.
        src: Tile,
        /// The segments of `dst`.
        seg: SegView,
    },
    /// `dst[segment i][j] = lhs[segment i][j] <op> src[i]`: a binary op with one value per segment on the
    /// right. `blocks` is scratch of one 32-byte block per segment.
    SegBinary {
        /// The function.
        op: VecBinary,
        /// Result, segmented as `seg` (may be `lhs`).
        dst: Tile,
        /// Left operand, segmented as `seg`.
        lhs: Tile,
        /// One value per segment, densely.
        src: Tile,
        /// The segments of `dst` and `lhs`.
        seg: SegView,
        /// Scratch.
        blocks: Tile,
    },
    /// `dst[segment i][j] = lhs[segment i][j] <op> src[j]`: a binary op with a vector repeated over every
    /// segment on the right.
    VecBinary {
        /// The function.
        op: VecBinary,
        /// Result, segmented as `seg` (may be `lhs`).
        dst: Tile,
        /// Left operand, segmented as `seg`.
        lhs: Tile,
        /// A one-row tile of at least `len` elements.
        src: Tile,
        /// The segments of `dst` and `lhs`.
        seg: SegView,
    },
    /// `dst[j] = j` for the first `count` elements of a one-row tile (`CreateVecIndex`). On a tile of
    /// [`Rows::Tile`] rows `count` is the row stride and the whole tile is numbered: `dst[k] = k` for
    /// `k < rows * stride` (its row count is chosen after lowering, so it cannot be written out here).
    Iota {
        /// Result.
        dst: Tile,
        /// How many elements (per row).
        count: u32,
    },
    /// Table lookup: `dst[k] = table[index[k]]` over the whole tile. Indices outside the table are
    /// clamped to it. `offsets` is `i32` scratch like `index`. A table of [`Rows::Tile`] rows is read
    /// as one flat array of its whole capacity: that is how a tile is moved between row layouts (see
    /// `lower_vector`'s spread layout).
    Gather {
        /// Result.
        dst: Tile,
        /// A one-row resident tile, or a tile of the current rows read as one flat array.
        table: Tile,
        /// The indices (`i32`).
        index: Tile,
        /// Scratch for the byte offsets.
        offsets: Tile,
    },
}

impl InstData {
    /// The pipe the instruction runs on.
    pub fn pipe(&self) -> Pipe {
        match self {
            InstData::CopyIn { .. } | InstData::Load { .. } => Pipe::Mte2,
            InstData::CopyOut { .. } => Pipe::Mte3,
            InstData::SetFlag(_) | InstData::WaitFlag(_) => Pipe::S,
            _ => Pipe::V,
        }
    }

    /// Tiles read, in operand order.
    pub fn reads(&self) -> Vec<Tile> {
        match self {
            InstData::CopyIn { .. } | InstData::Load { .. } => vec![],
            InstData::CopyOut { src, .. } => vec![*src],
            InstData::SetFlag(_) | InstData::WaitFlag(_) => vec![],
            InstData::Unary { src, .. }
            | InstData::Scalar { src, .. }
            | InstData::Cast { src, .. } => {
                vec![*src]
            }
            InstData::Binary { lhs, rhs, .. } | InstData::Compare { lhs, rhs, .. } => {
                vec![*lhs, *rhs]
            }
            InstData::Duplicate { .. } | InstData::Iota { .. } => vec![],
            InstData::Not { src, .. } => vec![*src],
            InstData::Select {
                mask,
                on_true,
                on_false,
                ..
            } => {
                let mut v = vec![*mask, *on_true];
                if let SelectFalse::Tile(t) = on_false {
                    v.push(*t);
                }
                v
            }
            InstData::SegReduce { src, .. } => vec![*src],
            InstData::SegExpand { src, .. } | InstData::VecExpand { src, .. } => vec![*src],
            InstData::SegBinary { lhs, src, .. } | InstData::VecBinary { lhs, src, .. } => {
                vec![*lhs, *src]
            }
            InstData::Gather { table, index, .. } => vec![*table, *index],
        }
    }

    /// Tiles written: results first, then scratch.
    pub fn writes(&self) -> Vec<Tile> {
        match self {
            InstData::CopyIn { dst, .. } | InstData::Load { dst, .. } => vec![*dst],
            InstData::CopyOut { .. } | InstData::SetFlag(_) | InstData::WaitFlag(_) => vec![],
            InstData::Unary { dst, .. }
            | InstData::Binary { dst, .. }
            | InstData::Scalar { dst, .. }
            | InstData::Duplicate { dst, .. }
            | InstData::Cast { dst, .. }
            | InstData::Compare { dst, .. }
            | InstData::Not { dst, .. }
            | InstData::Select { dst, .. }
            | InstData::VecExpand { dst, .. }
            | InstData::Iota { dst, .. } => vec![*dst],
            InstData::SegReduce { dst, fold, .. } => {
                let mut v = vec![*dst];
                v.extend(fold);
                v
            }
            InstData::SegExpand { dst, blocks, .. } | InstData::SegBinary { dst, blocks, .. } => {
                vec![*dst, *blocks]
            }
            InstData::VecBinary { dst, .. } => vec![*dst],
            InstData::Gather { dst, offsets, .. } => vec![*dst, *offsets],
        }
    }
}

/// A device kernel in kernel IR.
#[derive(Clone, PartialEq, Debug)]
pub struct Function {
    /// The kernel's symbol name.
    pub name: String,
    /// Which cores it runs on.
    pub core: CoreKind,
    /// GM arguments, in the order of the entry point's parameters.
    pub args: PrimaryMap<Arg, ArgData>,
    /// Tiling fields, in the order of the tiling struct.
    pub fields: PrimaryMap<Field, FieldData>,
    /// How rows are split over cores and tiles.
    pub split: BlockSplit,
    /// On-chip allocations.
    pub buffers: PrimaryMap<Buffer, BufferData>,
    /// Queues.
    pub queues: PrimaryMap<Queue, QueueData>,
    /// Tiles.
    pub tiles: PrimaryMap<Tile, TileData>,
    /// Events.
    pub events: PrimaryMap<Event, EventData>,
    /// Instructions (their order is given by the stages).
    pub insts: PrimaryMap<Inst, InstData>,
    /// Stages, in pipeline order: `init`, `copy_in`, `compute`, `copy_out`.
    pub stages: PrimaryMap<Stage, StageData>,
    /// The DSL source location that produced each instruction (unknown for bookkeeping).
    pub locs: SecondaryMap<Inst, SrcLoc>,
    /// A short note naming the graph op each instruction comes from (`v2 = softmax v0`).
    pub notes: SecondaryMap<Inst, String>,
}

impl Function {
    /// The stage of the given kind, if present.
    pub fn stage(&self, kind: StageKind) -> Option<Stage> {
        self.stages
            .iter()
            .find(|(_, s)| s.kind == kind)
            .map(|(id, _)| id)
    }

    /// The live range of every tile over the vector stages (`init` then `compute`, one position per
    /// instruction): from its first access to its last. Tiles those stages never touch have none.
    pub fn live_ranges(&self) -> SecondaryMap<Tile, Option<(usize, usize)>> {
        let mut range: SecondaryMap<Tile, Option<(usize, usize)>> = SecondaryMap::new();
        let vector_stages = self
            .stages
            .values()
            .filter(|s| matches!(s.kind, StageKind::Init | StageKind::Compute));
        for (pos, &i) in vector_stages.flat_map(|s| s.insts.iter()).enumerate() {
            for t in self.insts[i]
                .reads()
                .into_iter()
                .chain(self.insts[i].writes())
            {
                let r = range[t].get_or_insert((pos, pos));
                r.1 = pos;
            }
        }
        range
    }

    /// Sum of the bytes of every on-chip buffer (each buffer counted `count` times).
    pub fn ub_bytes(&self) -> u64 {
        self.buffers
            .values()
            .filter(|b| b.space == MemSpace::Ub)
            .map(|b| b.count as u64 * b.bytes as u64)
            .sum()
    }
}

pub mod v2;
