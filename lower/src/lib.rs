//! moge's middle end: the graph IR (tensor ops with symbolic shapes), its text form, verifier and
//! reference interpreter, and the passes that lower it towards Ascend C.
//!
//! Layering: `moge-dsl` builds [`graph::Kernel`]s; this crate checks, interprets and lowers them;
//! `moge-codegen-ascendc` emits code from the lowered form.
//!
//! Dims are interned [`Symbol`]s ([`sym`]) from the frontend on, and every symbolic size, in the
//! graph IR ([`Dim`]) and in the kernel IR ([`kir::Expr`]), is the one expression type [`expr::Expr`].

pub mod expr;
pub mod graph;
pub mod interp;
pub mod sym;

pub use graph::{
    DType, Dim, Kernel, Op, OpData, OpKind, Shape, SrcLoc, Sym, SymData, SymKind, TensorType, Type,
    Value, ValueData,
};
pub use sym::Symbol;
pub mod cost;
pub mod kir;
pub mod opt;
pub mod schedule;
pub mod target;
