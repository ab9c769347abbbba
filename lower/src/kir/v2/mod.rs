//! Kernel IR v2: a program of several device kernels over shared global memory, with structured control
//! flow, explicit queue protocol and explicit synchronization.
//!
//! # Model
//!
//! A [`Program`] is what one graph kernel becomes: GM buffers ([`GmBufData`]: the parameters, the
//! intermediates one kernel writes and a later one reads, allocated by the runtime, and slices of the
//! workspace), a host tiling struct ([`FieldData`], expressions of the dynamic dims) and device
//! kernels ([`Kernel`]) launched in order; [`Linker`] joins separately lowered parts into one. A kernel runs on `block_dim` cores of its [`CoreKind`]; a MIX kernel runs one AIC and two AIVs per
//! block, and its body splits the code per side with [`Stmt::Side`] (`if ASCEND_IS_AIC { }`).
//!
//! A kernel body is a tree of [`Stmt`]s: instructions, `for` loops over a [`Var`] and core-side regions.
//! Every instruction runs on one [`Pipe`]; pipes of a core run concurrently, and the only ordering between
//! two instructions on different pipes is what the IR states: a queue hand-off (`EnQue` then `DeQue` of
//! the same tensor), a `SetFlag`/`WaitFlag` pair, a `PipeBarrier`, a cross-core flag or `SyncAll`. The
//! vector pipe additionally needs `PipeBarrier(V)` between two dependent vector instructions (the
//! hardware does not interlock them). [`hazard::check`] proves this for a kernel.
//!
//! # Expressions
//!
//! Host values (shapes, field values, block dims, the workspace size) are [`HostExpr`]s over the
//! dynamic dims. Device values (loop bounds, GM offsets, element counts) are [`IExpr`]s over fields,
//! variables and the block index, evaluated by the scalar unit at run time.

#![deny(missing_docs)]

pub mod entities;
pub mod fold;
pub mod hazard;
pub mod inst;
pub mod link;
pub mod parse;
pub mod sync;
pub mod verify;
pub mod write;

use cranelift_entity::{PrimaryMap, SecondaryMap};

use crate::graph::{DType, SrcLoc};
pub use crate::sym::Symbol;

pub use super::{
    CmpMode, CoreKind, Elem, MemSpace, Round, Scalar, SegReduceOp, SegView, VecBinary, VecScalar,
    VecUnary,
};
pub use entities::{Event, Field, GmBuf, Inst, KernelId, LocalBuf, Queue, Tensor, Var};
pub use hazard::{
    check as check_hazards, check_measured as check_hazards_measured, Hazard, HazardErrors,
};
pub use inst::{Access, GmRef, InstData, Quant, VecOp};
pub use link::{LinkError, Linker};
pub use parse::{parse_program, ParseError};
pub use sync::{insert_sync, insert_sync_measured, SyncStats, SyncWork};
pub use verify::{verify_program, VerifyError, VerifyErrors};
pub use write::program_to_string;

/// Host expressions over the dynamic dims (the kernel IR's shared symbolic expression type).
pub type HostExpr = super::Expr;

/// The hardware pipes of a core.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Pipe {
    /// The scalar unit (address arithmetic, GM scalar reads, queue bookkeeping).
    S,
    /// L1 to L0A/L0B (`LoadData`).
    Mte1,
    /// GM to UB / L1 (copy in).
    Mte2,
    /// UB to GM (copy out).
    Mte3,
    /// The vector unit.
    V,
    /// The cube unit (`Mmad`).
    M,
    /// L0C to GM (`Fixpipe`).
    Fix,
}

impl Pipe {
    /// Every pipe, in text-form order.
    pub const ALL: [Pipe; 7] = [
        Pipe::S,
        Pipe::Mte1,
        Pipe::Mte2,
        Pipe::Mte3,
        Pipe::V,
        Pipe::M,
        Pipe::Fix,
    ];

    /// The name in the text form and in Ascend C after `PIPE_` / in `HardEvent::A_B`.
    pub fn name(self) -> &'static str {
        match self {
            Pipe::S => "S",
            Pipe::Mte1 => "MTE1",
            Pipe::Mte2 => "MTE2",
            Pipe::Mte3 => "MTE3",
            Pipe::V => "V",
            Pipe::M => "M",
            Pipe::Fix => "FIX",
        }
    }

    /// The pipe of a name.
    pub fn from_name(name: &str) -> Option<Pipe> {
        Pipe::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl std::fmt::Display for Pipe {
    /// The name (`MTE2`), as in the text form and CANN's `PIPE_MTE2`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which side of a MIX kernel a region runs on.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Side {
    /// The cube core (`ASCEND_IS_AIC`).
    Aic,
    /// The vector cores (`ASCEND_IS_AIV`).
    Aiv,
}

impl Side {
    /// The name in the text form.
    pub fn name(self) -> &'static str {
        match self {
            Side::Aic => "aic",
            Side::Aiv => "aiv",
        }
    }
}

/// A device integer expression (`int64_t` on the scalar unit).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum IExpr {
    /// A literal.
    Int(i64),
    /// A tiling field.
    Field(Field),
    /// A loop counter or a scalar read from GM.
    Var(Var),
    /// `GetBlockIdx()`.
    BlockIdx,
    /// `GetBlockNum()`.
    BlockNum,
    /// A binary operation.
    Bin(BinOp, Box<IExpr>, Box<IExpr>),
}

/// Binary operators of [`IExpr`].
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`, truncating.
    Div,
    /// `%`.
    Rem,
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `ceil_div`.
    CeilDiv,
    /// `==` (1 or 0).
    Eq,
    /// `<` (1 or 0).
    Lt,
}

impl BinOp {
    /// The infix symbol or function name in the text form.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Min => "min",
            BinOp::Max => "max",
            BinOp::CeilDiv => "ceil_div",
            BinOp::Eq => "==",
            BinOp::Lt => "<",
        }
    }
}

impl IExpr {
    /// `op(a, b)`.
    pub fn bin(op: BinOp, a: IExpr, b: IExpr) -> IExpr {
        IExpr::Bin(op, Box::new(a), Box::new(b))
    }

    /// The literal value, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            IExpr::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// Every variable the expression reads.
    pub fn vars(&self, out: &mut Vec<Var>) {
        match self {
            IExpr::Var(v) => out.push(*v),
            IExpr::Bin(_, a, b) => {
                a.vars(out);
                b.vars(out);
            }
            _ => {}
        }
    }

    /// Every field the expression reads.
    pub fn fields(&self, out: &mut Vec<Field>) {
        match self {
            IExpr::Field(f) => out.push(*f),
            IExpr::Bin(_, a, b) => {
                a.fields(out);
                b.fields(out);
            }
            _ => {}
        }
    }
}

/// What a GM buffer is.
#[derive(Clone, PartialEq, Debug)]
pub enum GmKind {
    /// A kernel input of the program.
    Input,
    /// A kernel output of the program.
    Output,
    /// Written by one kernel and read by a later one. The runtime allocates it (the manifest's
    /// `intermediates`) and passes it to every kernel that uses it as a parameter, like an input or
    /// output: it is not a slice of the workspace (see `docs/kernel-ir-v2.md`).
    Intermediate,
    /// Scratch of one kernel (e.g. the AIC->AIV hand-off of a MIX kernel); lives in the workspace.
    Workspace {
        /// Byte offset in the workspace (a multiple of 512).
        offset: HostExpr,
    },
}

impl GmKind {
    /// Whether the buffer is a kernel parameter (allocated by the caller or the runtime) rather
    /// than a slice of the workspace.
    pub fn is_param(&self) -> bool {
        !matches!(self, GmKind::Workspace { .. })
    }

    /// The keyword in the text form.
    pub fn name(&self) -> &'static str {
        match self {
            GmKind::Input => "input",
            GmKind::Output => "output",
            GmKind::Intermediate => "intermediate",
            GmKind::Workspace { .. } => "workspace",
        }
    }
}

/// A global-memory buffer of the program.
#[derive(Clone, PartialEq, Debug)]
pub struct GmBufData {
    /// Its name (the graph parameter or output name, or a role).
    pub name: String,
    /// What it is.
    pub kind: GmKind,
    /// Element type in GM.
    pub dtype: DType,
    /// Shape, outermost first, as host expressions.
    pub shape: Vec<HostExpr>,
}

/// A host tiling field.
#[derive(Clone, PartialEq, Debug)]
pub struct FieldData {
    /// The field's name in the tiling struct.
    pub name: String,
    /// Its value.
    pub expr: HostExpr,
}

/// The Ascend C position of a queue.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum QuePos {
    /// `VECIN` (UB, MTE2 -> V).
    VecIn,
    /// `VECOUT` (UB, V -> MTE3).
    VecOut,
    /// `A1` (L1, left operand, MTE2 -> MTE1).
    A1,
    /// `B1` (L1, right operand, MTE2 -> MTE1).
    B1,
    /// `A2` (L0A, MTE1 -> M).
    A2,
    /// `B2` (L0B, MTE1 -> M).
    B2,
    /// `CO1` (L0C, M -> FIX).
    Co1,
}

impl QuePos {
    /// Every position, in text-form order.
    pub const ALL: [QuePos; 7] = [
        QuePos::VecIn,
        QuePos::VecOut,
        QuePos::A1,
        QuePos::B1,
        QuePos::A2,
        QuePos::B2,
        QuePos::Co1,
    ];

    /// The `TPosition` name.
    pub fn name(self) -> &'static str {
        match self {
            QuePos::VecIn => "VECIN",
            QuePos::VecOut => "VECOUT",
            QuePos::A1 => "A1",
            QuePos::B1 => "B1",
            QuePos::A2 => "A2",
            QuePos::B2 => "B2",
            QuePos::Co1 => "CO1",
        }
    }

    /// The memory a queue of this position lives in.
    pub fn mem(self) -> MemSpace {
        match self {
            QuePos::VecIn | QuePos::VecOut => MemSpace::Ub,
            QuePos::A1 | QuePos::B1 => MemSpace::L1,
            QuePos::A2 => MemSpace::L0a,
            QuePos::B2 => MemSpace::L0b,
            QuePos::Co1 => MemSpace::L0c,
        }
    }
}

/// An on-chip allocation.
#[derive(Clone, PartialEq, Debug)]
pub struct LocalBufData {
    /// A name hint for the printer.
    pub name: String,
    /// Which memory.
    pub mem: MemSpace,
    /// How many equal slots (2 for a double-buffered queue).
    pub count: u32,
    /// Bytes of each slot (a multiple of 32).
    pub bytes: u32,
}

/// A queue over a buffer.
#[derive(Clone, PartialEq, Debug)]
pub struct QueueData {
    /// Its position.
    pub pos: QuePos,
    /// The `TQue` depth.
    pub depth: u32,
    /// The memory behind it (its `count` is the number of slots).
    pub buf: LocalBuf,
}

/// Where a tensor lives.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Home {
    /// Taken from a queue by `AllocTensor` (producer side) or `DeQue` (consumer side).
    Queue(Queue),
    /// At a fixed byte offset of a `TBuf` (`buf.Get<T>()[offset / sizeof(T)]`).
    Buf {
        /// The buffer.
        buf: LocalBuf,
        /// Byte offset (a multiple of 32).
        offset: u32,
    },
}

/// A local tensor.
#[derive(Clone, PartialEq, Debug)]
pub struct TensorData {
    /// A name hint (the graph value or role it holds).
    pub name: String,
    /// Element type.
    pub elem: Elem,
    /// Capacity in elements.
    pub elems: u32,
    /// Where it lives.
    pub home: Home,
}

/// A hardware event between two pipes of one core: `SetFlag<HardEvent::FROM_TO>` /
/// `WaitFlag<HardEvent::FROM_TO>`.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct EventData {
    /// The pipe whose earlier work the flag waits for.
    pub from: Pipe,
    /// The pipe that waits.
    pub to: Pipe,
}

/// A scalar variable.
#[derive(Clone, PartialEq, Debug)]
pub struct VarData {
    /// A name hint.
    pub name: String,
}

/// A statement of a kernel body.
#[derive(Clone, PartialEq, Debug)]
pub enum Stmt {
    /// One instruction.
    Inst(Inst),
    /// `for (var = start; var < end; var++) { body }`.
    For {
        /// The counter.
        var: Var,
        /// First value.
        start: IExpr,
        /// One past the last value.
        end: IExpr,
        /// The loop body.
        body: Vec<Stmt>,
    },
    /// `if ASCEND_IS_AIC { body }` / `if ASCEND_IS_AIV { body }` (MIX kernels only).
    Side {
        /// Which side.
        side: Side,
        /// The region.
        body: Vec<Stmt>,
    },
}

/// A device kernel.
#[derive(Clone, PartialEq, Debug)]
pub struct Kernel {
    /// The kernel's symbol name.
    pub name: String,
    /// Which cores it runs on.
    pub core: CoreKind,
    /// Number of blocks launched (a host expression).
    pub block_dim: HostExpr,
    /// The GM buffers it takes, in the order of its parameters (the workspace and tiling pointers follow).
    pub params: Vec<GmBuf>,
    /// On-chip allocations.
    pub bufs: PrimaryMap<LocalBuf, LocalBufData>,
    /// Queues.
    pub queues: PrimaryMap<Queue, QueueData>,
    /// Local tensors.
    pub tensors: PrimaryMap<Tensor, TensorData>,
    /// Scalar variables.
    pub vars: PrimaryMap<Var, VarData>,
    /// Events.
    pub events: PrimaryMap<Event, EventData>,
    /// Instructions (their order is the body's).
    pub insts: PrimaryMap<Inst, InstData>,
    /// The body.
    pub body: Vec<Stmt>,
    /// The DSL source location of each instruction (unknown for bookkeeping).
    pub locs: SecondaryMap<Inst, SrcLoc>,
    /// A note naming the graph op each instruction comes from.
    pub notes: SecondaryMap<Inst, String>,
}

impl Kernel {
    /// An empty kernel.
    pub fn new(name: impl Into<String>, core: CoreKind, block_dim: HostExpr) -> Kernel {
        Kernel {
            name: name.into(),
            core,
            block_dim,
            params: vec![],
            bufs: PrimaryMap::new(),
            queues: PrimaryMap::new(),
            tensors: PrimaryMap::new(),
            vars: PrimaryMap::new(),
            events: PrimaryMap::new(),
            insts: PrimaryMap::new(),
            body: vec![],
            locs: SecondaryMap::new(),
            notes: SecondaryMap::new(),
        }
    }

    /// The memory a tensor lives in.
    pub fn mem_of(&self, t: Tensor) -> MemSpace {
        match self.tensors[t].home {
            Home::Queue(q) => self.bufs[self.queues[q].buf].mem,
            Home::Buf { buf, .. } => self.bufs[buf].mem,
        }
    }

    /// The local buffer a tensor lives in.
    pub fn buf_of(&self, t: Tensor) -> LocalBuf {
        match self.tensors[t].home {
            Home::Queue(q) => self.queues[q].buf,
            Home::Buf { buf, .. } => buf,
        }
    }

    /// Bytes of every buffer in `mem` (each counted `count` times).
    pub fn mem_bytes(&self, mem: MemSpace) -> u64 {
        self.bufs
            .values()
            .filter(|b| b.mem == mem)
            .map(|b| b.count as u64 * b.bytes as u64)
            .sum()
    }

    /// Takes an instruction out of the body (its data stays, unreachable); whether it was there. Tests
    /// use it to delete one synchronization instruction and expect the hazard verifier to object.
    pub fn detach(&mut self, inst: Inst) -> bool {
        fn walk(stmts: &mut Vec<Stmt>, inst: Inst) -> bool {
            if let Some(pos) = stmts.iter().position(|s| *s == Stmt::Inst(inst)) {
                stmts.remove(pos);
                return true;
            }
            stmts.iter_mut().any(|s| match s {
                Stmt::For { body, .. } | Stmt::Side { body, .. } => walk(body, inst),
                Stmt::Inst(_) => false,
            })
        }
        walk(&mut self.body, inst)
    }

    /// Every instruction in program order (a pre-order walk of the body).
    pub fn inst_order(&self) -> Vec<Inst> {
        fn walk(stmts: &[Stmt], out: &mut Vec<Inst>) {
            for s in stmts {
                match s {
                    Stmt::Inst(i) => out.push(*i),
                    Stmt::For { body, .. } | Stmt::Side { body, .. } => walk(body, out),
                }
            }
        }
        let mut out = vec![];
        walk(&self.body, &mut out);
        out
    }
}

/// A program: what one graph kernel lowers to.
#[derive(Clone, PartialEq, Debug)]
pub struct Program {
    /// The graph kernel's name.
    pub name: String,
    /// The dynamic dims, bound at launch from the input shapes.
    pub dims: Vec<Symbol>,
    /// GM buffers.
    pub gm: PrimaryMap<GmBuf, GmBufData>,
    /// Bytes of workspace the program needs: the largest per-kernel scratch (kernels run one after
    /// another, so each kernel's workspace slices start at offset 0).
    pub workspace: HostExpr,
    /// The tiling struct, shared by every kernel.
    pub fields: PrimaryMap<Field, FieldData>,
    /// Kernels, in launch order.
    pub kernels: PrimaryMap<KernelId, Kernel>,
}

impl Program {
    /// An empty program.
    pub fn new(name: impl Into<String>) -> Program {
        Program {
            name: name.into(),
            dims: vec![],
            gm: PrimaryMap::new(),
            workspace: HostExpr::Int(0),
            fields: PrimaryMap::new(),
            kernels: PrimaryMap::new(),
        }
    }
}
