//! Typed ids of the kernel IR. Each prints with its prefix (`arg0`, `t3`, `buf1`), the same in dumps and tests.

use cranelift_entity::entity_impl;

/// A global-memory argument of a device kernel (an input or output tensor).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arg(u32);
entity_impl!(Arg, "arg");

/// A host tiling field: an `int64_t` of the tiling struct, computed on the host from an expression.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field(u32);
entity_impl!(Field, "f");

/// An on-chip allocation made through `TPipe` (the memory behind a queue, a scratch buffer or a
/// resident buffer).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Buffer(u32);
entity_impl!(Buffer, "buf");

/// A `TQue`: hands tiles from one pipeline stage to the next and carries their synchronization.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Queue(u32);
entity_impl!(Queue, "q");

/// A tensor held in on-chip memory for one tile of rows (or for the whole kernel, if resident).
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile(u32);
entity_impl!(Tile, "t");

/// A hardware event between two pipes (`SetFlag` / `WaitFlag`), used where no queue orders the work.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Event(u32);
entity_impl!(Event, "ev");

/// A pipeline stage of the kernel: `init`, `copy_in`, `compute` or `copy_out`.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stage(u32);
entity_impl!(Stage, "stage");

/// One instruction of a stage.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inst(u32);
entity_impl!(Inst, "i");
