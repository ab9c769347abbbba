//! The operations of the graph IR and their exact semantics.
//!
//! Conventions shared by every op:
//! - Axes are stored normalized (`0..rank`); the frontend resolves negative axes.
//! - Elementwise ops broadcast NumPy-style: shapes are aligned at the trailing axis, and an axis of
//!   literal size 1 (or a missing leading axis) stretches. Symbolic dims must be equal to match.
//! - Arithmetic on `bf16`/`f16` is carried out in `f32` and the result of **every op** is rounded to the
//!   op's result dtype (round to nearest, ties to even). Composite ops (`softmax`, `log_softmax`,
//!   `rms_norm`, `swiglu`, `matmul`, `grouped_matmul`, `combine`) round only their final result; their
//!   internals are `f32`. Generated kernels round at the same points.
//! - Integer ops on `i32` wrap on overflow; integer division truncates toward zero (division by zero
//!   gives 0 in the interpreter and is the author's bug).
//! - Selection ops (`topk`, `group_topk`, `argmax`, `argmin`) break ties by the **lowest index**, as
//!   `torch.max`/`torch.topk` and CANN do, and order results by descending value (ascending for `min`).

use std::fmt;

use super::dim::Dim;
use super::types::{DType, Shape};

/// Elementwise unary functions (result dtype = operand dtype).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `e^x` (float only).
    Exp,
    /// Natural logarithm (float only).
    Log,
    /// Square root (float only).
    Sqrt,
    /// `1 / sqrt(x)` (float only).
    Rsqrt,
    /// `1 / x` (float only).
    Recip,
    /// `|x|`.
    Abs,
    /// `1 / (1 + e^-x)` (float only).
    Sigmoid,
    /// `x * sigmoid(x)` (float only).
    Silu,
    /// `max(x, 0)`.
    Relu,
    /// Hyperbolic tangent (float only).
    Tanh,
}

/// Elementwise binary functions (operands of the same dtype, broadcast; result dtype = that dtype).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum BinaryOp {
    /// `a + b`.
    Add,
    /// `a - b`.
    Sub,
    /// `a * b`.
    Mul,
    /// `a / b`.
    Div,
    /// `max(a, b)`; for floats, a NaN operand gives NaN.
    Max,
    /// `min(a, b)`; for floats, a NaN operand gives NaN.
    Min,
}

/// Comparisons (operands of the same dtype, broadcast; result dtype `bool`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum CmpOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// Reductions along one axis.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum ReduceOp {
    /// Sum (accumulated in f32 for floats, wrapping i32 for ints). The sum of no elements is 0.
    Sum,
    /// Mean = sum / n (float only). The mean of no elements is NaN.
    Mean,
    /// Maximum. The max of no elements is -inf (i32::MIN for ints).
    Max,
    /// Minimum. The min of no elements is +inf (i32::MAX for ints).
    Min,
}

/// Index-of-extremum reductions along one axis (result dtype `i32`, lowest index wins ties).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum ArgOp {
    /// Index of the maximum.
    ArgMax,
    /// Index of the minimum.
    ArgMin,
}

/// What an op does. Operands are listed as `args` of [`super::OpData`], in the order given here.
#[derive(Clone, PartialEq, Debug)]
pub enum OpKind {
    /// Kernel parameter number `index` (no operands). Parameters are the first ops of a kernel.
    Param {
        /// Position in the kernel's parameter list.
        index: u32,
    },
    /// A rank-0 constant (no operands). For `i32`, `value` is integral.
    Const {
        /// The value.
        value: f64,
        /// Its dtype.
        dtype: DType,
    },
    /// `f(x)` elementwise. Operands: `x`.
    Unary(UnaryOp),
    /// `f(a, b)` elementwise with broadcasting. Operands: `a, b`.
    Binary(BinaryOp),
    /// Convert every element to `to`. Float to int truncates toward zero (saturating, NaN to 0); int or
    /// float to a 16-bit float rounds to nearest even; `bool` converts to 0/1. Operands: `x`.
    Cast {
        /// Target dtype.
        to: DType,
    },
    /// `a <op> b` elementwise with broadcasting, giving `bool`. Operands: `a, b`.
    Compare(CmpOp),
    /// `cond ? a : b` elementwise with broadcasting of all three. Operands: `cond` (bool), `a`, `b`.
    Select,
    /// Reduce along `axis`. Operands: `x`.
    Reduce {
        /// Which reduction.
        op: ReduceOp,
        /// The reduced axis.
        axis: u32,
        /// Keep the axis with size 1 (else it is removed).
        keep_dim: bool,
    },
    /// Index of the extremum along `axis`, `i32`. Operands: `x`.
    ArgReduce {
        /// Which extremum.
        op: ArgOp,
        /// The reduced axis.
        axis: u32,
        /// Keep the axis with size 1 (else it is removed).
        keep_dim: bool,
    },
    /// `exp(x - max) / sum(exp(x - max))` along `axis` (float). Operands: `x`.
    Softmax {
        /// The normalized axis.
        axis: u32,
    },
    /// `x - max - log(sum(exp(x - max)))` along `axis` (float). Operands: `x`.
    LogSoftmax {
        /// The normalized axis.
        axis: u32,
    },
    /// `x / sqrt(mean(x^2, last axis) + eps) * weight`, `weight` of shape `(last dim,)` and the dtype of
    /// `x`. Operands: `x, weight`.
    RmsNorm {
        /// Added to the mean square before the square root.
        eps: f64,
    },
    /// Same elements in C order, new shape (same element count). Operands: `x`.
    Reshape {
        /// The new shape.
        shape: Shape,
    },
    /// Elements `start..end` of `axis`. Operands: `x`.
    Slice {
        /// The sliced axis.
        axis: u32,
        /// First index kept.
        start: Dim,
        /// One past the last index kept.
        end: Dim,
    },
    /// Join along `axis`; all other dims equal, all dtypes equal. Operands: two or more tensors.
    Concat {
        /// The joined axis.
        axis: u32,
    },
    /// Permute axes: result axis `i` is operand axis `perm[i]`. Operands: `x`.
    Transpose {
        /// A permutation of `0..rank`.
        perm: Vec<u32>,
    },
    /// The `k` largest elements along the last axis, descending, lowest index first among equals.
    /// Operands: `x`. Results: values (dtype of `x`), indices (`i32`), both with last dim `k`.
    TopK {
        /// How many to keep; at most the last dim.
        k: Dim,
    },
    /// Split the last axis (size `N`) into `groups` contiguous groups of `N/groups`, and take the top
    /// `k` of each group (descending, lowest index first among equals). Operands: `x`. Results: values
    /// (dtype of `x`) and **global** indices along the last axis (`i32`, `g*N/groups + r`), both with
    /// last dim `groups*k`, group-major (group 0's picks first).
    GroupTopK {
        /// Number of groups; must divide the last dim.
        groups: Dim,
        /// Picks per group; at most the group size.
        k: Dim,
    },
    /// Row lookup: `out[i..., :] = table[index[i...], :]`. Operands: `table` (rank >= 1), `index`
    /// (`i32`, any shape). Result shape: `index.shape ++ table.shape[1..]`, dtype of `table`. An index
    /// outside `0..table.shape[0]` is clamped into it (a negative index reads row 0, a too large one the
    /// last row), as the emitted kernels do; gathering from an empty table is an evaluation error.
    Gather,
    /// The adjoint of `gather`: `out = zeros(size, src.shape[index.rank..]); out[index[i...]] +=
    /// src[i...]`, accumulated in index order (C order) in f32. Operands: `src`, `index` (`i32`, shape
    /// = the leading axes of `src`).
    ScatterAdd {
        /// Rows of the result.
        size: Dim,
    },
    /// `a @ b` for `a: (M, K)`, `b: (K, N)`, same dtype; f32 accumulation, one rounding at the end.
    /// Operands: `a, b`.
    MatMul,
    /// Build a routing table from `expert_ids: (T, K) i32` for `experts` experts: the `T*K` slots
    /// `p = t*K + k`, stably sorted by expert id (see [`super::RoutesType`]). An id outside
    /// `0..experts` is an evaluation error. Operands: `expert_ids`. Result: a `routes[T, K, E]`.
    Route {
        /// Number of experts `E`.
        experts: Dim,
    },
    /// Expand and permute token rows into expert order: `out[d, :] = x[order[d] / K, :]`.
    /// Operands: `x: (T, H)`, `routes`. Result: `(T*K, H)`, dtype of `x`.
    Dispatch,
    /// Per-expert matmul over routed rows: rows `offsets[e]..offsets[e+1]` of `a` times `w[e]`.
    /// Operands: `a: (T*K, H)`, `w: (E, H, N)`, `routes`. Result `(T*K, N)`; f32 accumulation.
    GroupedMatmul,
    /// SwiGLU. With one operand `x: (..., 2*I)`: `silu(x[..., :I]) * x[..., I:]` (gate is the first
    /// half, as npu_swiglu). With two operands `gate, up` of equal shape: `silu(gate) * up`.
    /// Computed in f32, one rounding at the end.
    Swiglu,
    /// Weighted un-permute: `out[t, :] = sum_k weights[t, k] * y[position[t*K + k], :]`, summed over
    /// `k` in order in f32. Operands: `y: (T*K, H)`, `routes`, `weights: (T, K)`. Result `(T, H)`, dtype
    /// of `y`.
    Combine,
}

impl OpKind {
    /// The op's name in the DSL and the text form.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Param { .. } => "param",
            OpKind::Const { .. } => "const",
            OpKind::Unary(u) => u.name(),
            OpKind::Binary(b) => b.name(),
            OpKind::Cast { .. } => "cast",
            OpKind::Compare(c) => c.name(),
            OpKind::Select => "select",
            OpKind::Reduce { op, .. } => op.name(),
            OpKind::ArgReduce { op, .. } => op.name(),
            OpKind::Softmax { .. } => "softmax",
            OpKind::LogSoftmax { .. } => "log_softmax",
            OpKind::RmsNorm { .. } => "rms_norm",
            OpKind::Reshape { .. } => "reshape",
            OpKind::Slice { .. } => "slice",
            OpKind::Concat { .. } => "concat",
            OpKind::Transpose { .. } => "transpose",
            OpKind::TopK { .. } => "topk",
            OpKind::GroupTopK { .. } => "group_topk",
            OpKind::Gather => "gather",
            OpKind::ScatterAdd { .. } => "scatter_add",
            OpKind::MatMul => "matmul",
            OpKind::Route { .. } => "route",
            OpKind::Dispatch => "dispatch",
            OpKind::GroupedMatmul => "grouped_matmul",
            OpKind::Swiglu => "swiglu",
            OpKind::Combine => "combine",
        }
    }

    /// How many results the op has.
    pub fn num_results(&self) -> usize {
        match self {
            OpKind::TopK { .. } | OpKind::GroupTopK { .. } => 2,
            _ => 1,
        }
    }
}

macro_rules! named_enum {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The name in the DSL and the text form.
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }

            /// The variant with this name.
            pub fn from_name(name: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum!(UnaryOp {
    Neg => "neg", Exp => "exp", Log => "log", Sqrt => "sqrt", Rsqrt => "rsqrt", Recip => "recip",
    Abs => "abs", Sigmoid => "sigmoid", Silu => "silu", Relu => "relu", Tanh => "tanh",
});
named_enum!(BinaryOp { Add => "add", Sub => "sub", Mul => "mul", Div => "div", Max => "maximum", Min => "minimum" });
named_enum!(CmpOp { Eq => "eq", Ne => "ne", Lt => "lt", Le => "le", Gt => "gt", Ge => "ge" });
named_enum!(ReduceOp { Sum => "sum", Mean => "mean", Max => "max", Min => "min" });
named_enum!(ArgOp { ArgMax => "argmax", ArgMin => "argmin" });
