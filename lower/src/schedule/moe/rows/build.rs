//! The kernel builder the row kernels share: one AIV kernel whose UB scratch is one `TBuf` carved
//! into tensors at fixed offsets (so a gathered row can land in its own row of a batch tile), queues
//! where a whole tile moves at once, and the program around it (GM buffers by the caller's names,
//! tiling fields, dims).

use cranelift_entity::PrimaryMap;

use crate::graph::{DType, SrcLoc};
use crate::kir::v2::{
    self, CoreKind, Elem, Event, EventData, FieldData, GmBuf, GmBufData, GmKind, Home, HostExpr,
    IExpr, InstData, Kernel, LocalBuf, LocalBufData, MemSpace, Pipe, Program, QuePos, Queue,
    QueueData, Scalar, Stmt, Tensor, TensorData, Var, VarData, VecOp,
};
use crate::schedule::LowerError;
use crate::target::Target;

pub(super) use crate::kir::v2::fold::{add, bin, int, max, min, mul, sub};

/// `value` clamped to `[0, len)` (`len` at least 1 where this runs: callers launch no work when it
/// is 0), so an index from another kernel can never address outside its buffer.
pub(super) fn clamp_index(value: IExpr, len: IExpr) -> IExpr {
    min(max(value, int(0)), sub(len, int(1)))
}

/// `a` rounded up to a multiple of `b`.
pub(super) fn align(a: u64, b: u64) -> u64 {
    a.div_ceil(b) * b
}

/// The error of a spec a row kernel cannot take.
pub(super) fn unsupported(op: &str, reason: impl Into<String>) -> LowerError {
    LowerError::Unsupported {
        op: op.to_string(),
        loc: SrcLoc::default(),
        reason: reason.into(),
    }
}

/// The bytes of one element of `dtype` in GM and UB; floats only.
pub(super) fn float_bytes(op: &str, dtype: DType) -> Result<u64, LowerError> {
    match dtype {
        DType::F32 => Ok(4),
        DType::F16 | DType::BF16 => Ok(2),
        other => Err(unsupported(
            op,
            format!("{other} data (bf16, f16 or f32 expected)"),
        )),
    }
}

/// A program with one AIV kernel under construction.
pub(super) struct Build {
    pub(super) p: Program,
    pub(super) k: Kernel,
    stack: Vec<Vec<Stmt>>,
    /// The one `TBuf` every scratch tensor lives in.
    ub: LocalBuf,
    /// Bytes of it handed out so far.
    used: u64,
}

impl Build {
    /// A program `program` with one AIV kernel `kernel` on `block_dim` cores.
    pub(super) fn new(program: &str, kernel: String, block_dim: HostExpr) -> Build {
        let mut k = Kernel::new(kernel, CoreKind::Aiv, block_dim);
        let ub = k.bufs.push(LocalBufData {
            name: "scratch".into(),
            mem: MemSpace::Ub,
            count: 1,
            bytes: 0,
        });
        Build {
            p: Program::new(program),
            k,
            stack: vec![vec![]],
            ub,
            used: 0,
        }
    }

    /// A GM buffer of the program, a parameter of the kernel.
    pub(super) fn gm(
        &mut self,
        name: &str,
        kind: GmKind,
        dtype: DType,
        shape: Vec<HostExpr>,
    ) -> GmBuf {
        for e in &shape {
            for s in e.syms() {
                if !self.p.dims.contains(&s) {
                    self.p.dims.push(s);
                }
            }
        }
        let g = self.p.gm.push(GmBufData {
            name: name.to_string(),
            kind,
            dtype,
            shape,
        });
        self.k.params.push(g);
        g
    }

    /// A tiling field.
    pub(super) fn field(&mut self, name: &str, expr: HostExpr) -> IExpr {
        for s in expr.syms() {
            if !self.p.dims.contains(&s) {
                self.p.dims.push(s);
            }
        }
        IExpr::Field(self.p.fields.push(FieldData {
            name: name.to_string(),
            expr,
        }))
    }

    pub(super) fn var(&mut self, name: &str) -> Var {
        self.k.vars.push(VarData { name: name.into() })
    }

    /// A scratch tensor of `elems` elements at the next 32-byte aligned offset of the scratch `TBuf`.
    pub(super) fn tensor(&mut self, name: &str, elem: Elem, elems: u64) -> Tensor {
        let offset = self.used;
        self.used += align(elems * u64::from(elem.bits()) / 8, 32);
        self.k.tensors.push(TensorData {
            name: name.into(),
            elem,
            elems: elems as u32,
            home: Home::Buf {
                buf: self.ub,
                offset: offset as u32,
            },
        })
    }

    /// A tensor of `elems` elements in a `TBuf` of its own (its printed extent is exactly its own).
    pub(super) fn alone(&mut self, name: &str, elem: Elem, elems: u64) -> Tensor {
        let buf = self.k.bufs.push(LocalBufData {
            name: name.into(),
            mem: MemSpace::Ub,
            count: 1,
            bytes: align(elems * u64::from(elem.bits()) / 8, 32) as u32,
        });
        self.k.tensors.push(TensorData {
            name: name.into(),
            elem,
            elems: elems as u32,
            home: Home::Buf { buf, offset: 0 },
        })
    }

    /// A view of `elems` elements of `parent` starting `start` elements in (32-byte aligned), of
    /// element type `elem`.
    pub(super) fn view(&mut self, parent: Tensor, elem: Elem, start: u64, elems: u64) -> Tensor {
        let d = &self.k.tensors[parent];
        let Home::Buf { buf, offset } = d.home else {
            unreachable!("views are taken of scratch tensors")
        };
        let byte = start * u64::from(d.elem.bits()) / 8;
        debug_assert!(byte.is_multiple_of(32), "views start on a 32-byte block");
        let name = format!("{}_{start}", d.name);
        self.k.tensors.push(TensorData {
            name,
            elem,
            elems: elems as u32,
            home: Home::Buf {
                buf,
                offset: offset + byte as u32,
            },
        })
    }

    /// A queue of `depth` slots of `bytes` each and the tensor that names its slot.
    pub(super) fn queue(
        &mut self,
        name: &str,
        pos: QuePos,
        elem: Elem,
        elems: u64,
    ) -> (Queue, Tensor) {
        let bytes = align(elems * u64::from(elem.bits()) / 8, 32);
        let buf = self.k.bufs.push(LocalBufData {
            name: name.into(),
            mem: MemSpace::Ub,
            count: 2,
            bytes: bytes as u32,
        });
        let q = self.k.queues.push(QueueData { pos, depth: 2, buf });
        let t = self.k.tensors.push(TensorData {
            name: name.into(),
            elem,
            elems: elems as u32,
            home: Home::Queue(q),
        });
        (q, t)
    }

    pub(super) fn inst(&mut self, data: InstData) {
        let i = self.k.insts.push(data);
        self.stack
            .last_mut()
            .expect("a list is open")
            .push(Stmt::Inst(i));
    }

    /// A `from -> to` event. The lowerings place the one flag a batch of row copies needs (after the
    /// last copy, before the instruction reading the batch tile): the sync pass would repair the race
    /// of each row view on its own, with one event per row.
    pub(super) fn event(&mut self, from: Pipe, to: Pipe) -> Event {
        self.k.events.push(EventData { from, to })
    }

    /// `SetFlag` then, at the consumer, [`Build::wait`].
    pub(super) fn set(&mut self, event: Event) {
        self.inst(InstData::SetFlag(event));
    }

    pub(super) fn wait(&mut self, event: Event) {
        self.inst(InstData::WaitFlag(event));
    }

    /// A vector instruction over `count`.
    pub(super) fn vec(
        &mut self,
        op: VecOp,
        dsts: &[Tensor],
        srcs: &[Tensor],
        scalar: Option<Scalar>,
        count: IExpr,
    ) {
        self.inst(InstData::Vector {
            op,
            dsts: dsts.to_vec(),
            srcs: srcs.to_vec(),
            scalar,
            count,
        });
    }

    /// Opens a loop body; [`Build::close_for`] ends it.
    pub(super) fn open(&mut self) {
        self.stack.push(vec![]);
    }

    pub(super) fn close_for(&mut self, var: Var, start: IExpr, end: IExpr) {
        let body = self.stack.pop().expect("a loop is open");
        self.stack
            .last_mut()
            .expect("an outer list is open")
            .push(Stmt::For {
                var,
                start,
                end,
                body,
            });
    }

    /// Bytes of UB the kernel takes (scratch and queues).
    pub(super) fn ub_bytes(&self) -> u64 {
        self.used
            + self
                .k
                .bufs
                .values()
                .filter(|b| b.bytes > 0)
                .map(|b| u64::from(b.count) * u64::from(b.bytes))
                .sum::<u64>()
    }

    /// Synchronizes, checks and returns the program: `insert_sync` derives every flag and barrier
    /// from the dataflow, the hazard verifier proves the result, the program verifier checks
    /// references and budgets.
    pub(super) fn finish(mut self, target: &Target) -> Result<Program, LowerError> {
        let name = self.k.name.clone();
        let internal = |message: String| LowerError::Internal {
            kernel: name.clone(),
            message,
        };
        self.k.bufs[self.ub].bytes = align(self.used.max(32), 32) as u32;
        self.k.body = self.stack.pop().expect("the body list");
        assert!(self.stack.is_empty(), "every loop is closed");
        // `insert_sync` returns only once a hazard check of the kernel passes.
        v2::insert_sync(&mut self.k).map_err(|e| internal(e.to_string()))?;
        let mut p = self.p;
        p.kernels = PrimaryMap::new();
        p.kernels.push(self.k);
        v2::verify_program(&p, target)
            .map_err(|e| internal(format!("{e}\n{}", v2::program_to_string(&p))))?;
        Ok(p)
    }
}
