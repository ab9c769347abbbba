//! Typed ids of kernel IR v2. Each prints with its prefix (`g0`, `k1`, `t3`), the same in dumps and tests.

use cranelift_entity::entity_impl;

/// A global-memory buffer of a program: a parameter, an intermediate between kernels, or a slice of the
/// workspace.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GmBuf(u32);
entity_impl!(GmBuf, "g");

/// A device kernel (one `__global__ __aicore__` function) of a program.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelId(u32);
entity_impl!(KernelId, "k");

/// A host tiling field: an `int64_t` of the program's tiling struct, computed on the host.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field(u32);
entity_impl!(Field, "f");

/// An on-chip allocation (`TPipe::InitBuffer` of a queue or a `TBuf`) in one memory.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LocalBuf(u32);
entity_impl!(LocalBuf, "buf");

/// A `TQue`: hands tensors from one pipe to another and carries their synchronization.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Queue(u32);
entity_impl!(Queue, "q");

/// A `LocalTensor`: a typed window of on-chip memory.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tensor(u32);
entity_impl!(Tensor, "t");

/// A scalar integer variable of a kernel: a loop counter or a value read from GM at run time.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(u32);
entity_impl!(Var, "v");

/// A hardware event id for a `SetFlag` / `WaitFlag` pair between two pipes of one core.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Event(u32);
entity_impl!(Event, "ev");

/// One instruction of a kernel.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Inst(u32);
entity_impl!(Inst, "i");
