//! Typed ids of the graph IR. Each prints with its prefix (`v3`, `op7`), the same in dumps and tests.

use cranelift_entity::entity_impl;

/// A tensor (or routing table) produced by an op: SSA, defined exactly once.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(u32);
entity_impl!(Value, "v");

/// One operation of a kernel's dataflow graph.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Op(u32);
entity_impl!(Op, "op");

/// A dimension symbol: a static parameter (`E`, bound at specialization) or a dynamic dim (`T`, bound at
/// launch). Printed by its name in the text form.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sym(u32);
entity_impl!(Sym, "sym");
