//! Lowering of a matmul to an AIC kernel in kernel IR v2.
//!
//! The kernel is the one of `tests/data/cube/matmul_aic.cpp` (the hand-written spec, run on the
//! emulator by `tests/matmul.rs`), with queues in place of its hand-placed flags: every stage boundary
//! is a queue hand-off (`A1`/`B1`: MTE2 -> MTE1, `A2`/`B2`: MTE1 -> M, `CO1`: M -> FIX), and every
//! buffer reuse a free/alloc, so the hazard verifier can prove the ordering and the printer emits
//! `TQue` code. Each queue rotates through two buffers (one for `CO1` when L0C holds a single
//! accumulator), which is the double buffering: the next stage's copy and the next slice's loads are
//! issued while the current ones are consumed.
//!
//! Loop nest (one core): `for tile` (round-robin over cores, in the plan's swizzled order) / `for
//! stage` (an L1 stage of `depth * k` of K) / `for slice` (one `Mmad` of `k`), with `for` loops over the
//! 16-row blocks of A and the 16-deep K blocks of B for the `LoadData` calls. Tails are extents
//! computed on the device (`min(m, M - i*m)`, ...), so any M, N and K run.

use cranelift_entity::PrimaryMap;

use super::plan::{CubeDType, MatmulPlan};
use crate::graph::DType;
use crate::kir::v2::{
    BinOp, Elem, Field, FieldData, GmBuf, GmBufData, GmKind, GmRef, Home, HostExpr, IExpr,
    InstData, Kernel, LocalBufData, Program, Quant, QuePos, Queue, QueueData, Stmt, Tensor,
    TensorData, Var, VarData,
};
use crate::kir::{CoreKind, MemSpace};
use crate::target::Target;

/// Names of the matmul's tensors in the program.
#[derive(Clone, Debug)]
pub struct MatmulNames<'a> {
    /// The program (graph kernel) name.
    pub program: &'a str,
    /// The left operand.
    pub a: &'a str,
    /// The right operand.
    pub b: &'a str,
    /// The result.
    pub c: &'a str,
}

pub(crate) use crate::kir::v2::fold::{add, bin, ceil_div, div, int, min, mul, sub};

pub(crate) fn align16(a: IExpr) -> IExpr {
    mul(ceil_div(a, int(16)), int(16))
}

/// The 16-row blocks of `a`, a multiple of 16 made by [`align16`].
pub(crate) fn blocks16(a: IExpr) -> IExpr {
    match a {
        IExpr::Bin(BinOp::Mul, x, y) if y.as_int() == Some(16) => *x,
        a => div(a, int(16)),
    }
}

pub(crate) fn dtype(c: CubeDType) -> (DType, Elem, Quant) {
    match c {
        CubeDType::Bf16 => (DType::BF16, Elem::BF16, Quant::F32ToBf16),
        CubeDType::F16 => (DType::F16, Elem::F16, Quant::F32ToF16),
        CubeDType::F32 => (DType::F32, Elem::F32, Quant::None),
    }
}

/// A kernel under construction: appends instructions to the innermost open statement list.
pub(crate) struct Builder {
    pub(crate) k: Kernel,
    pub(crate) stack: Vec<Vec<Stmt>>,
}

impl Builder {
    pub(crate) fn inst(&mut self, data: InstData) {
        let i = self.k.insts.push(data);
        self.stack
            .last_mut()
            .expect("a list is open")
            .push(Stmt::Inst(i));
    }

    pub(crate) fn alloc(&mut self, queue: Queue, tensor: Tensor) {
        self.inst(InstData::AllocTensor { queue, tensor });
    }

    pub(crate) fn enque(&mut self, queue: Queue, tensor: Tensor) {
        self.inst(InstData::EnQue { queue, tensor });
    }

    pub(crate) fn deque(&mut self, queue: Queue, tensor: Tensor) {
        self.inst(InstData::DeQue { queue, tensor });
    }

    pub(crate) fn free(&mut self, queue: Queue, tensor: Tensor) {
        self.inst(InstData::FreeTensor { queue, tensor });
    }

    pub(crate) fn open(&mut self) {
        self.stack.push(Vec::new());
    }

    pub(crate) fn close_for(&mut self, var: crate::kir::v2::Var, start: IExpr, end: IExpr) {
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
}

/// The on-chip buffers, queues, tensors and loop variables of the AIC kernel.
pub(crate) struct Locals {
    pub(crate) q_a1: Queue,
    pub(crate) q_b1: Queue,
    pub(crate) q_a2: Queue,
    pub(crate) q_b2: Queue,
    pub(crate) q_c: Queue,
    pub(crate) t_a1: Tensor,
    pub(crate) t_b1: Tensor,
    pub(crate) t_a2: Tensor,
    pub(crate) t_b2: Tensor,
    pub(crate) t_c: Tensor,
    pub(crate) v_tile: Var,
    pub(crate) v_stage: Var,
    pub(crate) v_slice: Var,
    pub(crate) v_rb: Var,
    pub(crate) v_kb: Var,
}

/// Declares the locals of `plan` in `kernel`: L1 stages and L0A/L0B slices double buffered, L0C as the
/// plan says.
pub(crate) fn declare_locals(kernel: &mut Kernel, plan: &MatmulPlan, elem: Elem) -> Locals {
    let e = plan.shape.dtype.bytes();
    let (m, n, k) = (plan.m, plan.n, plan.k);
    let stage_k = plan.depth * k;
    let buf = |k: &mut Kernel, name: &str, mem, count, bytes: u64| {
        k.bufs.push(LocalBufData {
            name: name.to_string(),
            mem,
            count,
            bytes: bytes as u32,
        })
    };
    let c_bufs = if plan.l0c_double { 2 } else { 1 };
    let b_a1 = buf(kernel, "a1", MemSpace::L1, 2, m * stage_k * e);
    let b_b1 = buf(kernel, "b1", MemSpace::L1, 2, stage_k * n * e);
    let b_a2 = buf(kernel, "a2", MemSpace::L0a, 2, m * k * e);
    let b_b2 = buf(kernel, "b2", MemSpace::L0b, 2, k * n * e);
    let b_c = buf(kernel, "c", MemSpace::L0c, c_bufs, m * n * 4);
    let queue = |k: &mut Kernel, pos, b| {
        k.queues.push(QueueData {
            pos,
            depth: 1,
            buf: b,
        })
    };
    let q_a1 = queue(kernel, QuePos::A1, b_a1);
    let q_b1 = queue(kernel, QuePos::B1, b_b1);
    let q_a2 = queue(kernel, QuePos::A2, b_a2);
    let q_b2 = queue(kernel, QuePos::B2, b_b2);
    let q_c = queue(kernel, QuePos::Co1, b_c);
    let tensor = |k: &mut Kernel, name: &str, elem, elems: u64, q| {
        k.tensors.push(TensorData {
            name: name.to_string(),
            elem,
            elems: elems as u32,
            home: Home::Queue(q),
        })
    };
    let t_a1 = tensor(kernel, "a_l1", elem, m * stage_k, q_a1);
    let t_b1 = tensor(kernel, "b_l1", elem, stage_k * n, q_b1);
    let t_a2 = tensor(kernel, "a_l0", elem, m * k, q_a2);
    let t_b2 = tensor(kernel, "b_l0", elem, k * n, q_b2);
    let t_c = tensor(kernel, "acc", Elem::F32, m * n, q_c);
    let var = |k: &mut Kernel, name: &str| {
        k.vars.push(VarData {
            name: name.to_string(),
        })
    };
    let v_tile = var(kernel, "tile");
    let v_stage = var(kernel, "stage");
    let v_slice = var(kernel, "slice");
    let v_rb = var(kernel, "row_block");
    let v_kb = var(kernel, "k_block");

    Locals {
        q_a1,
        q_b1,
        q_a2,
        q_b2,
        q_c,
        t_a1,
        t_b1,
        t_a2,
        t_b2,
        t_c,
        v_tile,
        v_stage,
        v_slice,
        v_rb,
        v_kb,
    }
}

/// Device expressions of the current tile (`i`, `j`: row and column block), stage and slice of the
/// kernel's loops, tails included.
pub(crate) struct TileExprs {
    pub(crate) i: IExpr,
    pub(crate) j: IExpr,
    /// A's source: the GM row of the tile's first row (`i * m` for a plain matmul), or a gather.
    pub(crate) a_rows: ARows,
    /// Element offset of B's `(K, N)` matrix in its buffer (an expert's matrix of a grouped matmul).
    pub(crate) b_base: IExpr,
    /// B's GM row pitch in elements: N, or more when the tiles cover part of B's columns (the gate
    /// or up half of a fused gate/up weight).
    pub(crate) b_pitch: u64,
    pub(crate) rows: IExpr,
    pub(crate) cols: IExpr,
    pub(crate) rows_a: IExpr,
    pub(crate) cols_a: IExpr,
    pub(crate) k0: IExpr,
    pub(crate) kd: IExpr,
    pub(crate) kd_a: IExpr,
    pub(crate) kq: IExpr,
    /// K fractals (C0 wide: 16 half or 8 f32 elements) of the slice.
    pub(crate) k1: IExpr,
    /// The slice's first K fractal within the stage.
    pub(crate) k_block: IExpr,
    /// 16-deep K groups of the slice (the f32 transposing load works on 16 x 16 squares).
    pub(crate) kg: IExpr,
    /// The slice's first 16-deep K group within the stage.
    pub(crate) k_group: IExpr,
    pub(crate) frac: IExpr,
}

/// Where the rows of A's tile come from.
#[derive(Clone, Debug)]
pub(crate) enum ARows {
    /// Rows `row0 ..` of A, contiguous in GM.
    Contiguous {
        /// The GM row of the tile's first row.
        row0: IExpr,
    },
    /// Row `r` of the tile is row `token(order[row0 + r])` of A: one `ReadScalar` and one 1-row
    /// `CopyNd2Nz` per row, into row `r` of the NZ stage.
    Gather {
        /// The first destination row of the tile (index into `order`).
        row0: IExpr,
        /// The `order` buffer (i32).
        order: GmBuf,
        /// The row counter of the gather loop.
        v_row: Var,
        /// The scalar read from `order`.
        v_slot: Var,
        /// Slots per row of A (`order[d] / k_slots` is A's row).
        k_slots: u64,
        /// The number of slots (`order`'s length): a value outside `0..slots` is clamped into it, so
        /// a corrupt table reads a wrong row of A rather than outside it.
        slots: IExpr,
    },
}

pub(crate) fn tile_exprs(plan: &MatmulPlan, f_m: Field, f_tiles_m: Field, l: &Locals) -> TileExprs {
    let s = plan.shape;
    let (m, n) = (plan.m, plan.n);
    let tiles_n = s.n.div_ceil(n);
    let t = add(IExpr::BlockIdx, mul(IExpr::Var(l.v_tile), IExpr::BlockNum));
    let (i, j) = if plan.swizzle >= tiles_n {
        // One group: row-major over the tiles.
        if tiles_n == 1 {
            (t, int(0))
        } else {
            (
                div(t.clone(), int(tiles_n)),
                bin(BinOp::Rem, t, int(tiles_n)),
            )
        }
    } else {
        let per_group = mul(int(plan.swizzle), IExpr::Field(f_tiles_m));
        let g = div(t.clone(), per_group.clone());
        let r = bin(BinOp::Rem, t, per_group);
        let width = min(
            int(plan.swizzle),
            sub(int(tiles_n), mul(g.clone(), int(plan.swizzle))),
        );
        let i = div(r.clone(), width.clone());
        let j = add(mul(g, int(plan.swizzle)), bin(BinOp::Rem, r, width));
        (i, j)
    };
    let rows = min(int(m), sub(IExpr::Field(f_m), mul(i.clone(), int(m))));
    let a_rows = ARows::Contiguous {
        row0: mul(i.clone(), int(m)),
    };
    tile_exprs_at(plan, l, i, j, a_rows, rows, int(0))
}

/// [`TileExprs`] of a tile whose A rows, row count (`rows`, at most `m`) and B matrix (`b_base`)
/// are given as device expressions; `i` and `j` are the tile's row and column block.
pub(crate) fn tile_exprs_at(
    plan: &MatmulPlan,
    l: &Locals,
    i: IExpr,
    j: IExpr,
    a_rows: ARows,
    rows: IExpr,
    b_base: IExpr,
) -> TileExprs {
    let s = plan.shape;
    let e = s.dtype.bytes();
    let (n, k) = (plan.n, plan.k);
    let stage_k = plan.depth * k;
    let cols = min(int(n), sub(int(s.n), mul(j.clone(), int(n))));
    let (rows_a, cols_a) = (align16(rows.clone()), align16(cols.clone()));
    let k0 = mul(IExpr::Var(l.v_stage), int(stage_k));
    let kd = min(int(stage_k), sub(int(s.k), k0.clone()));
    let kd_a = align16(kd.clone());
    let kq = min(int(k), sub(kd.clone(), mul(IExpr::Var(l.v_slice), int(k))));
    let c0 = s.dtype.c0();
    let k1 = ceil_div(kq.clone(), int(c0));
    let k_block = mul(IExpr::Var(l.v_slice), int(k / c0));
    let kg = ceil_div(kq.clone(), int(16));
    let k_group = mul(IExpr::Var(l.v_slice), int(k / 16));
    let frac = int(512 / e);
    TileExprs {
        i,
        j,
        a_rows,
        b_base,
        b_pitch: s.n,
        rows,
        cols,
        rows_a,
        cols_a,
        k0,
        kd,
        kd_a,
        kq,
        k1,
        k_block,
        kg,
        k_group,
        frac,
    }
}

/// The program's GM buffers (a, b, c) and tiling fields (M, tile rows, tiles), and its kernel with
/// the block dim: as many AIC cores as the plan uses, no more than there are tiles.
pub(super) struct Header {
    pub(super) p: Program,
    pub(super) kernel: Kernel,
    pub(super) ga: GmBuf,
    pub(super) gb: GmBuf,
    pub(super) gc: GmBuf,
    pub(super) f_m: Field,
    pub(super) f_tiles_m: Field,
    pub(super) f_tiles: Field,
}

pub(super) fn declare_program(
    names: &MatmulNames<'_>,
    plan: &MatmulPlan,
    m_dim: HostExpr,
    target: &Target,
) -> Header {
    let s = plan.shape;
    let (dt, _, _) = dtype(s.dtype);
    let (m, n) = (plan.m, plan.n);
    let tiles_n = s.n.div_ceil(n);
    let mut p = Program::new(names.program);
    if let HostExpr::Sym(d) = &m_dim {
        p.dims.push(*d);
    }
    let kk = HostExpr::Int(s.k as i64);
    let nn = HostExpr::Int(s.n as i64);
    let ga = p.gm.push(GmBufData {
        name: names.a.to_string(),
        kind: GmKind::Input,
        dtype: dt,
        shape: vec![m_dim.clone(), kk.clone()],
    });
    // `matmul(w, w)`: one tensor read as both operands is one GM buffer and one kernel parameter
    // (its shape is square, so A's and B's views of it agree).
    let gb = if names.b == names.a {
        ga
    } else {
        p.gm.push(GmBufData {
            name: names.b.to_string(),
            kind: GmKind::Input,
            dtype: dt,
            shape: vec![kk, nn.clone()],
        })
    };
    let gc = p.gm.push(GmBufData {
        name: names.c.to_string(),
        kind: GmKind::Output,
        dtype: dt,
        shape: vec![m_dim.clone(), nn],
    });
    let tiles_m_host = HostExpr::ceil_div(m_dim.clone(), HostExpr::Int(m as i64));
    let tiles_host = HostExpr::Mul(
        Box::new(tiles_m_host.clone()),
        Box::new(HostExpr::Int(tiles_n as i64)),
    );
    let f_m = p.fields.push(FieldData {
        name: "m".to_string(),
        expr: m_dim,
    });
    let f_tiles_m = p.fields.push(FieldData {
        name: "tiles_m".to_string(),
        expr: tiles_m_host,
    });
    let f_tiles = p.fields.push(FieldData {
        name: "tiles".to_string(),
        expr: tiles_host.clone(),
    });
    let block_dim = HostExpr::min(
        HostExpr::Int(plan.block_dim.min(u64::from(target.cube_cores)) as i64),
        HostExpr::max(tiles_host, HostExpr::Int(1)),
    );
    let mut kernel = Kernel::new(format!("{}_k0", names.program), CoreKind::Aic, block_dim);
    kernel.params = vec![ga];
    kernel
        .params
        .extend([gb, gc].into_iter().filter(|&g| g != ga));
    Header {
        p,
        kernel,
        ga,
        gb,
        gc,
        f_m,
        f_tiles_m,
        f_tiles,
    }
}

/// One output tile's work up to its finished accumulator: the L1 stages (Nd2Nz copies of A and B),
/// their K slices (LoadData into L0A/L0B, Mmad accumulating in L0C), then the accumulator dequeued for
/// `Fixpipe`.
pub(crate) fn emit_tile_mmads(
    bld: &mut Builder,
    plan: &MatmulPlan,
    l: &Locals,
    x: &TileExprs,
    ga: GmBuf,
    gb: GmBuf,
) {
    let s = plan.shape;
    let (n, k) = (plan.n, plan.k);
    let stage_k = plan.depth * k;
    bld.alloc(l.q_c, l.t_c);
    bld.open(); // stage
    bld.alloc(l.q_a1, l.t_a1);
    emit_a_stage(bld, plan, l, x, ga);
    bld.enque(l.q_a1, l.t_a1);
    bld.alloc(l.q_b1, l.t_b1);
    if s.dtype == CubeDType::F32 {
        emit_b_stage_f32(bld, plan, l, x, gb);
    } else {
        bld.inst(InstData::CopyNd2Nz {
            dst: l.t_b1,
            dst_offset: int(0),
            src: GmRef {
                buf: gb,
                offset: add(
                    x.b_base.clone(),
                    add(mul(x.k0.clone(), int(x.b_pitch)), mul(x.j.clone(), int(n))),
                ),
            },
            rows: x.kd.clone(),
            cols: x.cols.clone(),
            gm_pitch: int(x.b_pitch),
            nz_rows: x.kd_a.clone(),
        });
    }
    bld.enque(l.q_b1, l.t_b1);
    bld.deque(l.q_a1, l.t_a1);
    bld.deque(l.q_b1, l.t_b1);
    bld.open(); // slice
    bld.alloc(l.q_a2, l.t_a2);
    emit_a_load(bld, plan, l, x);
    bld.enque(l.q_a2, l.t_a2);
    bld.alloc(l.q_b2, l.t_b2);
    if s.dtype == CubeDType::F32 {
        emit_b_load_f32(bld, l, x);
    } else {
        emit_b_load_half(bld, l, x);
    }
    bld.enque(l.q_b2, l.t_b2);
    bld.deque(l.q_a2, l.t_a2);
    bld.deque(l.q_b2, l.t_b2);
    bld.inst(InstData::Mmad {
        dst: l.t_c,
        a: l.t_a2,
        b: l.t_b2,
        // All 16-aligned rows: m = 1 would switch Mmad to GEMV, which reads L0A as ND (Mmad.md); the
        // padding rows cost no cube cycles and Fixpipe writes only the real ones.
        m: x.rows_a.clone(),
        n: x.cols.clone(),
        k: x.kq.clone(),
        init: bin(
            BinOp::Eq,
            add(IExpr::Var(l.v_stage), IExpr::Var(l.v_slice)),
            int(0),
        ),
    });
    bld.free(l.q_a2, l.t_a2);
    bld.free(l.q_b2, l.t_b2);
    bld.close_for(l.v_slice, int(0), ceil_div(x.kd.clone(), int(k)));
    bld.free(l.q_a1, l.t_a1);
    bld.free(l.q_b1, l.t_b1);
    bld.close_for(l.v_stage, int(0), int(s.k.div_ceil(stage_k)));
    bld.enque(l.q_c, l.t_c);
    bld.deque(l.q_c, l.t_c);
}

/// A's L1 stage, GM -> L1 as NZ with `rows_a` rows per fractal column: one copy of the tile's rows
/// when they are contiguous in GM, else one copy per row (row `r` of the NZ stage starts at element
/// `16 r` of every fractal column), the row's source read from `order` on the device.
fn emit_a_stage(bld: &mut Builder, plan: &MatmulPlan, l: &Locals, x: &TileExprs, ga: GmBuf) {
    let s = plan.shape;
    match &x.a_rows {
        ARows::Contiguous { row0 } => bld.inst(InstData::CopyNd2Nz {
            dst: l.t_a1,
            dst_offset: int(0),
            src: GmRef {
                buf: ga,
                offset: add(mul(row0.clone(), int(s.k)), x.k0.clone()),
            },
            rows: x.rows.clone(),
            cols: x.kd.clone(),
            gm_pitch: int(s.k),
            nz_rows: x.rows_a.clone(),
        }),
        ARows::Gather {
            row0,
            order,
            v_row,
            v_slot,
            k_slots,
            slots,
        } => {
            let slot = bin(
                BinOp::Max,
                min(IExpr::Var(*v_slot), sub(slots.clone(), int(1))),
                int(0),
            );
            bld.open();
            bld.inst(InstData::ReadScalar {
                dst: *v_slot,
                src: GmRef {
                    buf: *order,
                    offset: add(row0.clone(), IExpr::Var(*v_row)),
                },
            });
            bld.inst(InstData::CopyNd2Nz {
                dst: l.t_a1,
                dst_offset: mul(IExpr::Var(*v_row), int(16)),
                src: GmRef {
                    buf: ga,
                    offset: add(mul(div(slot, int(*k_slots)), int(s.k)), x.k0.clone()),
                },
                rows: int(1),
                cols: x.kd.clone(),
                gm_pitch: int(s.k),
                nz_rows: x.rows_a.clone(),
            });
            bld.close_for(*v_row, int(0), x.rows.clone());
        }
    }
}

/// B's K slice L1 -> L0B for 16-bit types: each 16 x 16 fractal of the NZ stage (column blocks of
/// `kd_a` rows) transposed by the 2D load into ZN.
fn emit_b_load_half(bld: &mut Builder, l: &Locals, x: &TileExprs) {
    bld.open(); // B K blocks: NZ (column blocks of x.kd_a x.rows) -> ZN, each fractal transposed
    bld.inst(InstData::LoadData2d {
        dst: l.t_b2,
        dst_offset: mul(
            mul(IExpr::Var(l.v_kb), blocks16(x.cols_a.clone())),
            x.frac.clone(),
        ),
        src: l.t_b1,
        src_offset: mul(add(x.k_block.clone(), IExpr::Var(l.v_kb)), x.frac.clone()),
        repeat: blocks16(x.cols_a.clone()),
        src_stride: blocks16(x.kd_a.clone()),
        dst_gap: int(0),
        transpose: true,
        frac_gap: int(0),
    });
    bld.close_for(l.v_kb, int(0), x.k1.clone());
}

/// B's L1 stage for f32, GM -> L1 in 16-row K groups: group `g` holds rows `k0 + 16 g ..` (up to
/// 16) of the tile's columns as NZ with 16 rows per 8-column block (C0), its columns padded to 16, at
/// element `16 g * cols_a`. Two adjacent column blocks of a group are then one contiguous 16 x 16
/// square, which is what `LoadDataWithTranspose` transposes for 32-bit types (the 2D load's
/// `ifTranspose` takes 16-bit types only). One copy per group: `Nd2NzParams` has one `nValue` for
/// all of its `ndNum` matrices, and the K tail's group is shorter.
fn emit_b_stage_f32(bld: &mut Builder, plan: &MatmulPlan, l: &Locals, x: &TileExprs, gb: GmBuf) {
    let g = IExpr::Var(l.v_kb);
    bld.open(); // K groups of the stage
    bld.inst(InstData::CopyNd2Nz {
        dst: l.t_b1,
        dst_offset: mul(mul(g.clone(), int(16)), x.cols_a.clone()),
        src: GmRef {
            buf: gb,
            offset: add(
                x.b_base.clone(),
                add(
                    mul(add(x.k0.clone(), mul(g.clone(), int(16))), int(x.b_pitch)),
                    mul(x.j.clone(), int(plan.n)),
                ),
            ),
        },
        rows: min(int(16), sub(x.kd.clone(), mul(g, int(16)))),
        cols: x.cols.clone(),
        gm_pitch: int(x.b_pitch),
        nz_rows: int(16),
    });
    bld.close_for(l.v_kb, int(0), ceil_div(x.kd.clone(), int(16)));
}

/// B's K slice L1 -> L0B for f32: per 16-deep K group, `LoadDataWithTranspose` takes the group's
/// 16 x 16 squares (16 K rows by 16 N columns, 1 KiB each) in N order, transposes each and writes its
/// two 16 x 8 halves as ZN fractals (K block `2 g` and `2 g + 1`, N block `nb`), which are `n1`
/// fractals apart in ZN's row-major (K1, N1) order: `dstFracGap = n1 - 1`.
fn emit_b_load_f32(bld: &mut Builder, l: &Locals, x: &TileExprs) {
    let n1 = blocks16(x.cols_a.clone());
    let g = IExpr::Var(l.v_kb);
    bld.open(); // K groups of the slice
    bld.inst(InstData::LoadData2d {
        dst: l.t_b2,
        dst_offset: mul(mul(mul(g.clone(), int(2)), n1.clone()), x.frac.clone()),
        src: l.t_b1,
        // A square is 16 x 16 f32 (256 elements); a group's squares follow each other.
        src_offset: mul(mul(add(x.k_group.clone(), g), n1.clone()), int(256)),
        repeat: n1.clone(),
        src_stride: int(1),
        dst_gap: int(0),
        transpose: true,
        frac_gap: sub(n1, int(1)),
    });
    bld.close_for(l.v_kb, int(0), x.kg.clone());
}

/// The program of one matmul `c = a @ b` with `a: (m_dim, K)`, `b: (K, N)` as the plan has it, M
/// given by the host expression `m_dim` (a dynamic dim or a literal), on `target`'s AIC cores.
///
/// The plan's tile sizes and swizzle are compile-time constants; the tile counts in M and the block
/// dim are tiling fields computed on the host from M.
///
/// bf16 and f16 load B with the 2D load's per-fractal transpose; f32 stages B in 16-row K groups and
/// loads it with `LoadDataWithTranspose` (see `emit_b_stage_f32`).
pub fn lower_matmul(
    names: &MatmulNames<'_>,
    plan: &MatmulPlan,
    m_dim: HostExpr,
    target: &Target,
) -> Program {
    let s = plan.shape;
    let (_, elem, quant) = dtype(s.dtype);
    let (m, n) = (plan.m, plan.n);
    let Header {
        mut p,
        mut kernel,
        ga,
        gb,
        gc,
        f_m,
        f_tiles_m,
        f_tiles,
    } = declare_program(names, plan, m_dim, target);
    let l = declare_locals(&mut kernel, plan, elem);

    let x = tile_exprs(plan, f_m, f_tiles_m, &l);

    let mut bld = Builder {
        k: kernel,
        stack: vec![Vec::new()],
    };
    bld.open(); // tile
    emit_tile_mmads(&mut bld, plan, &l, &x, ga, gb);
    bld.inst(InstData::Fixpipe {
        dst: GmRef {
            buf: gc,
            offset: add(mul(mul(x.i, int(m)), int(s.n)), mul(x.j, int(n))),
        },
        src: l.t_c,
        m: x.rows,
        n: x.cols,
        src_stride: x.rows_a,
        gm_pitch: int(s.n),
        quant,
        relu: false,
    });
    bld.free(l.q_c, l.t_c);
    // Tiles t = block_idx, block_idx + block_num, ... below `tiles`.
    bld.close_for(
        l.v_tile,
        int(0),
        ceil_div(sub(IExpr::Field(f_tiles), IExpr::BlockIdx), IExpr::BlockNum),
    );
    let mut kernel = bld.k;
    kernel.body = bld.stack.pop().expect("the body list");
    p.kernels = PrimaryMap::new();
    p.kernels.push(kernel);
    p
}

/// A slice of A from its L1 stage (NZ: column blocks of `x.rows_a` rows) into L0A (zZ: row blocks of
/// `x.k1` fractals). One LoadData per row block (`k1` fractals `rows_a / 16` apart), or, when the base
/// tile has fewer K blocks than row blocks, one per column block: its `rows_a / 16` fractals are
/// consecutive in L1 and land `k1` fractals apart in L0A (`dstGap`). Fewer instructions: each pays the
/// MTE1 head (~25 cycles, costmodel-910b.md §3.1), which made 1024³'s 240-row tiles MTE1-bound.
fn emit_a_load(bld: &mut Builder, plan: &MatmulPlan, l: &Locals, x: &TileExprs) {
    let c0 = plan.shape.dtype.c0();
    if plan.k / c0 < plan.m / 16 {
        bld.open(); // A column blocks: x.rows_a / 16 consecutive fractals each, x.k1 apart in L0A
        bld.inst(InstData::LoadData2d {
            dst: l.t_a2,
            dst_offset: mul(IExpr::Var(l.v_rb), x.frac.clone()),
            src: l.t_a1,
            src_offset: mul(
                mul(
                    add(x.k_block.clone(), IExpr::Var(l.v_rb)),
                    blocks16(x.rows_a.clone()),
                ),
                x.frac.clone(),
            ),
            repeat: blocks16(x.rows_a.clone()),
            src_stride: int(1),
            dst_gap: sub(x.k1.clone(), int(1)),
            transpose: false,
            frac_gap: int(0),
        });
        bld.close_for(l.v_rb, int(0), x.k1.clone());
        return;
    }
    bld.open(); // A row blocks: NZ (column blocks of x.rows_a x.rows) -> ZZ (row blocks of x.k1 fractals)
    bld.inst(InstData::LoadData2d {
        dst: l.t_a2,
        dst_offset: mul(mul(IExpr::Var(l.v_rb), x.k1.clone()), x.frac.clone()),
        src: l.t_a1,
        src_offset: mul(
            add(
                mul(x.k_block.clone(), blocks16(x.rows_a.clone())),
                IExpr::Var(l.v_rb),
            ),
            x.frac.clone(),
        ),
        repeat: x.k1.clone(),
        src_stride: blocks16(x.rows_a.clone()),
        dst_gap: int(0),
        transpose: false,
        frac_gap: int(0),
    });
    bld.close_for(l.v_rb, int(0), blocks16(x.rows_a.clone()));
}
