//! Element types and value types of the graph IR.

use std::fmt;

use cranelift_entity::PrimaryMap;

use super::dim::Dim;
use super::entities::Sym;
use super::SymData;

/// Element type of a tensor.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum DType {
    /// bfloat16: stored as 16 bits, computed in f32 and rounded to nearest even after every op.
    BF16,
    /// IEEE half: stored as 16 bits, computed in f32 and rounded to nearest even after every op.
    F16,
    /// IEEE single.
    F32,
    /// 32-bit signed integer (indices, expert ids).
    I32,
    /// Boolean mask, the result of a comparison. Never a kernel parameter or output.
    Bool,
}

impl DType {
    /// Every dtype, in a fixed order.
    pub const ALL: [DType; 5] = [DType::BF16, DType::F16, DType::F32, DType::I32, DType::Bool];

    /// The name used in the DSL and the text form: `bf16`, `f16`, `f32`, `i32`, `bool`.
    pub fn name(self) -> &'static str {
        match self {
            DType::BF16 => "bf16",
            DType::F16 => "f16",
            DType::F32 => "f32",
            DType::I32 => "i32",
            DType::Bool => "bool",
        }
    }

    /// Parses a dtype name (`bf16`, `f16`, `f32`, `i32`, `bool`).
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::BF16 | DType::F16 | DType::F32)
    }

    /// Size of one element in bytes, as stored in global memory (`bool` is one byte).
    pub fn size_bytes(self) -> usize {
        match self {
            DType::BF16 | DType::F16 => 2,
            DType::F32 | DType::I32 => 4,
            DType::Bool => 1,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tensor shape: one [`Dim`] per axis, outermost first (C order). Rank 0 is a scalar.
pub type Shape = Vec<Dim>;

/// The type of a tensor value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct TensorType {
    /// Element type.
    pub dtype: DType,
    /// Shape, outermost axis first.
    pub shape: Shape,
}

impl TensorType {
    /// A tensor type.
    pub fn new(dtype: DType, shape: Shape) -> TensorType {
        TensorType { dtype, shape }
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// The routing table made by `route`: which (token, slot) pairs go to which expert, in a stable order.
///
/// For `expert_ids: (T, K)` and `experts = E`, the table sorts the `T*K` slots `p = t*K + k`
/// (token-major) by expert id, stably, so rows of one expert are in token order. It holds, in the
/// reference interpreter, `order[d] = p` (destination row to slot), `position[p] = d` (slot to
/// destination row) and `offsets[e]` (first destination row of expert `e`, `offsets[E] = T*K`).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct RoutesType {
    /// Number of tokens `T`.
    pub tokens: Dim,
    /// Slots per token `K` (experts each token is routed to).
    pub k: Dim,
    /// Number of experts `E`.
    pub experts: Dim,
}

/// The type of a graph-IR value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Type {
    /// A dense tensor.
    Tensor(TensorType),
    /// A routing table (see [`RoutesType`]); only `dispatch`, `grouped_matmul` and `combine` consume it.
    Routes(RoutesType),
}

impl Type {
    /// The tensor type, if this is a tensor.
    pub fn as_tensor(&self) -> Option<&TensorType> {
        match self {
            Type::Tensor(t) => Some(t),
            Type::Routes(_) => None,
        }
    }

    /// Displays the type with symbol names: `f32[T, E]`, `routes[T, G, E]`.
    pub fn display<'a>(&'a self, syms: &'a PrimaryMap<Sym, SymData>) -> DisplayType<'a> {
        DisplayType { ty: self, syms }
    }
}

/// [`Type`] with symbol names, for printing.
pub struct DisplayType<'a> {
    ty: &'a Type,
    syms: &'a PrimaryMap<Sym, SymData>,
}

impl fmt::Display for DisplayType<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ty {
            Type::Tensor(t) => {
                write!(f, "{}[", t.dtype)?;
                write_dims(f, &t.shape, self.syms)?;
                f.write_str("]")
            }
            Type::Routes(r) => {
                f.write_str("routes[")?;
                write_dims(
                    f,
                    &[r.tokens.clone(), r.k.clone(), r.experts.clone()],
                    self.syms,
                )?;
                f.write_str("]")
            }
        }
    }
}

/// Writes `d0, d1, ...` with symbol names.
pub fn write_dims(
    f: &mut dyn fmt::Write,
    dims: &[Dim],
    syms: &PrimaryMap<Sym, SymData>,
) -> fmt::Result {
    for (i, d) in dims.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{}", d.display(syms))?;
    }
    Ok(())
}
