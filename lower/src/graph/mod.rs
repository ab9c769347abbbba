//! The graph IR: one [`Kernel`] per `#[moge::kernel]` function.
//!
//! A kernel is a dataflow graph of tensor [ops](OpKind) in SSA form. Every [`Value`] is defined by exactly
//! one [`Op`] (its `def`) and has a [`Type`]: a tensor with a dtype and a symbolic shape, or a routing
//! table. Ops have no side effects; the program order in [`Kernel::order`] is a topological order (each
//! op only uses values of ops before it) and is the order of the text form. Parameters are `param` ops
//! at the start of the order; the kernel's results are [`Kernel::outputs`].
//!
//! Shapes are [`Dim`] expressions over [`Sym`]s. A **static** symbol (a const generic such as `E`) is
//! bound by [specialization](Kernel), which replaces it by a literal everywhere and checks the
//! kernel's [constraints](Constraint); a **dynamic** symbol (such as `T`) stays symbolic until launch, when
//! it is bound from the input shapes.
//!
//! The text form (see [`write`](mod@write) and [`parse`]) is how the IR appears in logs, errors, snapshots and tests:
//!
//! ```text
//! kernel moge_gate<E, G>(logits: f32[T, E], router_scale: f32[E]) -> (weight: f32[T, G], expert: i32[T, G]) {
//!   dyn T
//!   require G divides E @7:24-7:49 "the group count of `group_topk` must divide the last dim"
//!   v0 = param 0 : f32[T, E]                         @3:5-3:33
//!   ...
//!   return weight = v6, expert = v4
//! }
//! ```

#![deny(missing_docs)]

pub mod dim;
pub mod entities;
pub mod infer;
pub mod names;
pub mod ops;
pub mod parse;
pub mod specialize;
pub mod types;
pub mod verify;
pub mod write;

use cranelift_entity::{PrimaryMap, SecondaryMap};

pub use crate::sym::Symbol;

pub use dim::{Dim, DimEvalError, DIM_LIMIT};
pub use entities::{Op, Sym, Value};
pub use ops::{ArgOp, BinaryOp, CmpOp, OpKind, ReduceOp, UnaryOp};
pub use types::{DType, RoutesType, Shape, TensorType, Type};

/// Whether a dimension symbol is bound at specialization or at launch.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum SymKind {
    /// A const generic parameter of the kernel (`const E: usize`), bound by `specialize`.
    Static,
    /// A dim that appears only in parameter shapes (`T`), bound from the input shapes at launch.
    Dynamic,
}

/// A dimension symbol's data.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SymData {
    /// The name in the DSL source (`E`, `T`), interned.
    pub name: Symbol,
    /// Static or dynamic.
    pub kind: SymKind,
}

/// A source location: the span of the DSL tokens that produced an op, 1-based line and column
/// (column counted in characters), end exclusive.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct SrcLoc {
    /// First line.
    pub line: u32,
    /// First column.
    pub col: u32,
    /// Last line.
    pub end_line: u32,
    /// Column one past the end on the last line.
    pub end_col: u32,
}

impl SrcLoc {
    /// Whether the location is unknown (all zero).
    pub fn is_unknown(&self) -> bool {
        self.line == 0
    }
}

/// An op's data: what it does, its operands and its results.
#[derive(Clone, PartialEq, Debug)]
pub struct OpData {
    /// What the op does, with its attributes.
    pub kind: OpKind,
    /// Operands, in the order documented on [`OpKind`].
    pub args: Vec<Value>,
    /// Results (one, or two for `topk` / `group_topk`).
    pub results: Vec<Value>,
}

/// A value's data.
#[derive(Clone, PartialEq, Debug)]
pub struct ValueData {
    /// Its type.
    pub ty: Type,
    /// The op that defines it.
    pub def: Op,
    /// Which result of `def` it is.
    pub index: u32,
}

/// A kernel parameter.
#[derive(Clone, PartialEq, Debug)]
pub struct Param {
    /// Its name in the DSL.
    pub name: String,
    /// The value of its `param` op.
    pub value: Value,
}

/// A kernel result.
#[derive(Clone, PartialEq, Debug)]
pub struct Output {
    /// The name outputs are saved under, unique among parameters and outputs: see [`names`].
    pub name: String,
    /// The returned value.
    pub value: Value,
}

/// What a [`Constraint`] requires.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ConstraintKind {
    /// `divisor` divides `dim` exactly (and is not zero).
    Divides {
        /// The dividend.
        dim: Dim,
        /// The divisor.
        divisor: Dim,
    },
    /// `small <= large`.
    LessEq {
        /// The smaller side.
        small: Dim,
        /// The larger side.
        large: Dim,
    },
    /// The dim is at least 1.
    Positive {
        /// The dim.
        dim: Dim,
    },
}

/// A condition on static dims that could not be decided when the kernel was checked (for example `G`
/// divides `E`). Checked at specialization; a violation is reported at `loc`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Constraint {
    /// The condition.
    pub kind: ConstraintKind,
    /// Where the op that needs it is in the DSL source.
    pub loc: SrcLoc,
    /// What it is for, e.g. "the group count of `group_topk` must divide the last dim".
    pub reason: String,
}

/// A schedule hint written as an attribute on a DSL statement, e.g. `#[tile(m = 128, n = 256)]`.
/// Hints never change results; the scheduler may use or ignore them.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Hint {
    /// The attribute's name (`tile`).
    pub name: String,
    /// Its `key = value` arguments, in source order.
    pub args: Vec<(String, i64)>,
}

/// A kernel in graph IR.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Kernel {
    /// The kernel's name (the Rust function name).
    pub name: String,
    /// Dimension symbols, static ones in declaration order first.
    pub syms: PrimaryMap<Sym, SymData>,
    /// Static symbols already bound by specialization, with their values (in the order bound).
    pub bound: Vec<(Symbol, i64)>,
    /// Parameters, in signature order.
    pub params: Vec<Param>,
    /// All ops.
    pub ops: PrimaryMap<Op, OpData>,
    /// All values.
    pub values: PrimaryMap<Value, ValueData>,
    /// Program order: a topological order of every op, `param` ops first.
    pub order: Vec<Op>,
    /// Results, in the order of the returned tuple.
    pub outputs: Vec<Output>,
    /// Source location of each op (unknown for ops made by passes).
    pub locs: SecondaryMap<Op, SrcLoc>,
    /// Conditions on static dims checked at specialization.
    pub constraints: Vec<Constraint>,
    /// Schedule hints of each op (from statement attributes), in source order.
    pub hints: SecondaryMap<Op, Vec<Hint>>,
}

impl Kernel {
    /// An empty kernel called `name`.
    pub fn new(name: impl Into<String>) -> Kernel {
        Kernel {
            name: name.into(),
            ..Kernel::default()
        }
    }

    /// Declares a dimension symbol.
    pub fn add_sym(&mut self, name: impl Into<Symbol>, kind: SymKind) -> Sym {
        self.syms.push(SymData {
            name: name.into(),
            kind,
        })
    }

    /// The kernel's symbol for the interned name `name`, if declared (compares ids, not text).
    pub fn sym_of(&self, name: Symbol) -> Option<Sym> {
        self.syms
            .iter()
            .find(|(_, d)| d.name == name)
            .map(|(s, _)| s)
    }

    /// The symbol called `name`, if declared.
    pub fn sym_by_name(&self, name: &str) -> Option<Sym> {
        self.syms
            .iter()
            .find(|(_, d)| d.name == name)
            .map(|(s, _)| s)
    }

    /// Appends a parameter (a `param` op) of type `ty`.
    pub fn add_param(&mut self, name: impl Into<String>, ty: Type, loc: SrcLoc) -> Value {
        let index = self.params.len() as u32;
        let value = self.push_op(OpKind::Param { index }, Vec::new(), vec![ty], loc)[0];
        self.params.push(Param {
            name: name.into(),
            value,
        });
        value
    }

    /// Appends an op with the given operands and result types, at the end of the program order, and
    /// returns its result values. The caller is responsible for the result types being right; the
    /// verifier re-derives them.
    pub fn push_op(
        &mut self,
        kind: OpKind,
        args: Vec<Value>,
        result_types: Vec<Type>,
        loc: SrcLoc,
    ) -> &[Value] {
        let op = self.ops.push(OpData {
            kind,
            args,
            results: Vec::new(),
        });
        let results: Vec<Value> = result_types
            .into_iter()
            .enumerate()
            .map(|(index, ty)| {
                self.values.push(ValueData {
                    ty,
                    def: op,
                    index: index as u32,
                })
            })
            .collect();
        self.ops[op].results = results;
        self.locs[op] = loc;
        self.order.push(op);
        &self.ops[op].results
    }

    /// The type of `value`.
    pub fn ty(&self, value: Value) -> &Type {
        &self.values[value].ty
    }

    /// The tensor type of `value`; panics on a routing table (callers check types first).
    pub fn tensor_ty(&self, value: Value) -> &TensorType {
        match &self.values[value].ty {
            Type::Tensor(t) => t,
            Type::Routes(_) => panic!("{value} is a routing table, not a tensor"),
        }
    }

    /// Names of the static symbols not yet bound, in declaration order.
    pub fn static_params(&self) -> Vec<&str> {
        self.syms
            .values()
            .filter(|d| d.kind == SymKind::Static)
            .map(|d| d.name.as_str())
            .collect()
    }

    /// Names of the dynamic symbols, in declaration order.
    pub fn dynamic_dims(&self) -> Vec<Symbol> {
        self.syms
            .values()
            .filter(|d| d.kind == SymKind::Dynamic)
            .map(|d| d.name)
            .collect()
    }
}
