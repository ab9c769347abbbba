//! The vector path on kernel IR v2: a scheduled device kernel (its tile plan, tiles and instructions)
//! becomes a v2 kernel with an explicit tile loop, explicit queue operations and synchronization
//! derived by [`crate::kir::v2::sync`], then checked by the structural and hazard verifiers.
//!
//! Core `block_idx` takes `rows_per_core + (block_idx < rows_rem)` rows starting at
//! `block_idx * rows_per_core + min(block_idx, rows_rem)`, in `n = ceil(my_rows / tile_rows)` equal
//! tiles of `e = ceil(my_rows / n)` rows (at most `tile_rows`); tile `v0` has `min(e, my_rows - v0 * e)`
//! rows. Per tile: every input tile is allocated, copied in
//! and enqueued (MTE2); the compute part dequeues them, allocates the output tiles, runs the vector
//! instructions, enqueues the outputs and frees the inputs (V); the copy-out part dequeues, copies out
//! and frees every output (MTE3).
//!
//! Where the rows come from is a `RowSource`: `CoreSplit` above for an AIV kernel; the MIX
//! lowering (`super::cube::mix`) ports the same scheduled epilogue with the rows of the AIC's tiles.

use cranelift_entity::{EntityRef, SecondaryMap};

use crate::graph::Kernel as Graph;
use crate::kir::v2::{
    self, BinOp, FieldData, GmBuf, GmBufData, GmKind, GmRef, Home, IExpr, InstData, Kernel,
    LocalBufData, Program, QuePos, QueueData, Stmt, TensorData, VarData, VecOp,
};
use crate::kir::{self, ArgRole, Function, Rows, SelectFalse, StageKind};
use crate::target::Target;

use super::{LowerError, Schedule};

/// Why a scheduled kernel did not make a valid v2 program (a compiler bug, reported with the IR).
fn internal(kernel: &str, message: String) -> LowerError {
    LowerError::Internal {
        kernel: kernel.to_string(),
        message,
    }
}

fn bin(op: BinOp, a: IExpr, b: IExpr) -> IExpr {
    IExpr::bin(op, a, b)
}

/// The program of a graph kernel's scheduled device kernels, synchronized and verified.
pub fn to_program(
    graph: &Graph,
    schedules: &[Schedule],
    target: &Target,
) -> Result<Program, LowerError> {
    to_program_with_barriers(graph, schedules, target).map(|(p, _)| p)
}

/// As [`to_program`], and per device kernel the scheduled (v1) instructions the sync pass put a
/// `PipeBarrier(V)` before, in program order: what the Ascend C writer prints. Fails if the pass needed a
/// flag between pipes that the scheduled kernel's own events and queues do not already give.
pub fn to_program_with_barriers(
    graph: &Graph,
    schedules: &[Schedule],
    target: &Target,
) -> Result<(Program, Vec<Vec<kir::Inst>>), LowerError> {
    let mut p = Program::new(graph.name.clone());
    p.dims = graph.dynamic_dims();
    let mut origins = vec![];
    for s in schedules {
        let (k, origin) = port(&mut p, s.func())?;
        p.kernels.push(k);
        origins.push(origin);
    }
    v2::verify_program(&p, target)
        .map_err(|e| internal(&graph.name, format!("{e}\n{}", v2::program_to_string(&p))))?;
    let mut barriers = vec![];
    let p_names: Vec<String> = schedules.iter().map(|s| s.func().name.clone()).collect();
    for (k, origin) in p.kernels.values_mut().zip(&origins) {
        let stats = v2::insert_sync(k).map_err(|e| internal(&k.name, e.to_string()))?;
        // The scheduled kernel's own events (resident loads fenced before their first vector use) are
        // what the writer prints; the pass must not need more.
        let own = schedules
            .iter()
            .zip(&p_names)
            .find(|(_, n)| **n == k.name)
            .map_or(0, |(s, _)| {
                s.func()
                    .insts
                    .values()
                    .filter(|d| matches!(d, kir::InstData::SetFlag(_)))
                    .count()
            });
        if stats.flag_pairs > own {
            return Err(internal(
                &k.name,
                format!(
                    "the sync pass needs {} flag pairs, the scheduled kernel has {own}:\n{}",
                    stats.flag_pairs,
                    v2::program_to_string(&p_clone_kernel(&p.name, k))
                ),
            ));
        }
        let mut sites = vec![];
        let mut pending = false;
        for i in k.inst_order() {
            match &k.insts[i] {
                InstData::PipeBarrier(v2::Pipe::V) => pending = true,
                _ => {
                    if let (true, Some(o)) = (pending, origin.get(i).copied().flatten()) {
                        sites.push(o);
                        pending = false;
                    }
                }
            }
        }
        barriers.push(sites);
    }
    Ok((p, barriers))
}

/// A one-kernel program around `k`, for error dumps.
fn p_clone_kernel(name: &str, k: &Kernel) -> Program {
    let mut p = Program::new(name);
    p.kernels.push(k.clone());
    p
}

fn gm_of(p: &mut Program, f: &Function, a: kir::Arg) -> GmBuf {
    let d = &f.args[a];
    if let Some((g, _)) = p.gm.iter().find(|(_, g)| g.name == d.name) {
        return g;
    }
    p.gm.push(GmBufData {
        name: d.name.clone(),
        kind: match d.role {
            ArgRole::Input => GmKind::Input,
            ArgRole::Output => GmKind::Output,
        },
        dtype: d.dtype,
        shape: d.shape.clone(),
    })
}

/// The v1 instruction each v2 instruction comes from (none for queue bookkeeping).
pub(crate) type Origin = SecondaryMap<v2::Inst, Option<kir::Inst>>;

fn port(p: &mut Program, f: &Function) -> Result<(Kernel, Origin), LowerError> {
    port_with(p, f, &mut CoreSplit::default())
}

/// Where the tile loop of a ported vector kernel takes its rows from: [`CoreSplit`] spreads the rows
/// over the vector cores (an AIV kernel); a MIX kernel's epilogue takes them from the AIC's output
/// tiles (`super::cube::epilogue`).
pub(crate) trait RowSource {
    /// Whether v1 field `fi` of `f` becomes a tiling field of the program.
    fn keeps_field(&self, _f: &Function, _fi: kir::Field) -> bool {
        true
    }
    /// Declares what the row walk needs in `k` (the tile counter `tile` is declared, tiles are `tr`
    /// rows) and returns the rows of the current tile. `field` gives the kept fields' v2 ids.
    fn begin(
        &mut self,
        k: &mut Kernel,
        tile: v2::Var,
        tr: i64,
        field: &dyn Fn(kir::Field) -> Option<v2::Field>,
        f: &Function,
    ) -> Result<IExpr, LowerError>;
    /// The element offset of the current tile's first row in GM buffer `g` (rows of `cols`).
    fn row_offset(&self, g: GmBuf, cols: u32) -> IExpr;
    /// The kernel body: the per-core `init` part, then the walk over the tiles doing `body` each.
    fn finish(
        &mut self,
        k: &mut Kernel,
        init: Vec<Stmt>,
        tile: v2::Var,
        body: Vec<Stmt>,
    ) -> Vec<Stmt>;
}

/// The AIV kernel's row walk: core `block_idx` takes `rows_per_core + (block_idx < rows_rem)` rows
/// starting at `block_idx * rows_per_core + min(block_idx, rows_rem)`, in tiles of `tile_rows`.
#[derive(Default)]
pub(crate) struct CoreSplit {
    my_rows: Option<IExpr>,
    tile_row0: Option<IExpr>,
    tr: i64,
}

impl RowSource for CoreSplit {
    fn begin(
        &mut self,
        _k: &mut Kernel,
        tile: v2::Var,
        tr: i64,
        field: &dyn Fn(kir::Field) -> Option<v2::Field>,
        f: &Function,
    ) -> Result<IExpr, LowerError> {
        let get = |fi| {
            field(fi)
                .map(IExpr::Field)
                .ok_or_else(|| internal(&f.name, format!("{fi} was not ported")))
        };
        let per_core = get(f.split.per_core_field)?;
        let rem = get(f.split.rem_field)?;
        let my_rows = bin(
            BinOp::Add,
            per_core.clone(),
            bin(BinOp::Lt, IExpr::BlockIdx, rem.clone()),
        );
        let first_row = bin(
            BinOp::Add,
            bin(BinOp::Mul, IExpr::BlockIdx, per_core),
            bin(BinOp::Min, IExpr::BlockIdx, rem),
        );
        // The core's rows in equal tiles: as many tiles as `tr` rows a tile needs, each of
        // `ceil(my_rows / tiles)` rows (at most `tr`, so every buffer still fits). A split of 86 rows
        // under `tr = 84` is 43 + 43, not 84 + 2: the second tile's copy-in overlaps the first's
        // vector work, and no tile pays the instructions' heads for a sliver of rows.
        let tiles = bin(
            BinOp::Max,
            bin(BinOp::CeilDiv, my_rows.clone(), IExpr::Int(tr.max(1))),
            IExpr::Int(1),
        );
        let etr = bin(BinOp::CeilDiv, my_rows.clone(), tiles);
        self.tile_row0 = Some(bin(
            BinOp::Add,
            first_row,
            bin(BinOp::Mul, IExpr::Var(tile), etr.clone()),
        ));
        self.tr = tr;
        let cur_rows = bin(
            BinOp::Min,
            etr.clone(),
            bin(
                BinOp::Sub,
                my_rows.clone(),
                bin(BinOp::Mul, IExpr::Var(tile), etr),
            ),
        );
        self.my_rows = Some(my_rows);
        Ok(cur_rows)
    }

    fn row_offset(&self, _g: GmBuf, cols: u32) -> IExpr {
        let row0 = self.tile_row0.clone().expect("begin ran");
        bin(BinOp::Mul, row0, IExpr::Int(cols as i64))
    }

    fn finish(
        &mut self,
        _k: &mut Kernel,
        mut init: Vec<Stmt>,
        tile: v2::Var,
        body: Vec<Stmt>,
    ) -> Vec<Stmt> {
        init.push(Stmt::For {
            var: tile,
            start: IExpr::Int(0),
            end: bin(
                BinOp::CeilDiv,
                self.my_rows.clone().expect("begin ran"),
                IExpr::Int(self.tr.max(1)),
            ),
            body,
        });
        init
    }
}

/// Ports the scheduled function `f` into a new kernel of `p`, its rows walked as `rows` says.
pub(crate) fn port_with(
    p: &mut Program,
    f: &Function,
    rows: &mut dyn RowSource,
) -> Result<(Kernel, Origin), LowerError> {
    let mut k = Kernel::new(f.name.clone(), f.core, f.split.block_dim.clone());
    let args: SecondaryMap<kir::Arg, GmBuf> = {
        let mut m = SecondaryMap::with_default(GmBuf::new(0));
        for a in f.args.keys() {
            m[a] = gm_of(p, f, a);
            k.params.push(m[a]);
        }
        m
    };
    let mut fields: SecondaryMap<kir::Field, Option<v2::Field>> = SecondaryMap::new();
    for (fi, d) in &f.fields {
        if !rows.keeps_field(f, fi) {
            continue;
        }
        let name = if p.kernels.is_empty() {
            d.name.clone()
        } else {
            format!("{}_{}", f.name, d.name)
        };
        fields[fi] = Some(p.fields.push(FieldData {
            name,
            expr: d.expr.clone(),
        }));
    }
    let tr = f.split.tile_rows as i64;
    for d in f.buffers.values() {
        k.bufs.push(LocalBufData {
            name: d.name.clone(),
            mem: d.space,
            count: d.count,
            bytes: d.bytes,
        });
    }
    for d in f.queues.values() {
        k.queues.push(QueueData {
            pos: match d.pos {
                kir::QueuePos::VecIn => QuePos::VecIn,
                kir::QueuePos::VecOut => QuePos::VecOut,
            },
            depth: d.depth,
            buf: v2::LocalBuf::new(d.buffer.index()),
        });
    }
    for d in f.tiles.values() {
        k.tensors.push(TensorData {
            name: d.name.clone(),
            elem: d.elem,
            elems: u32::try_from(d.capacity(f.split.tile_rows)).unwrap_or(u32::MAX),
            home: match d.home {
                kir::Home::Queue(q) => Home::Queue(v2::Queue::new(q.index())),
                kir::Home::Buffer(b) => Home::Buf {
                    buf: v2::LocalBuf::new(b.index()),
                    offset: 0,
                },
            },
        });
    }
    let tile = k.vars.push(VarData {
        name: "tile".into(),
    });
    let cur_rows = rows.begin(&mut k, tile, tr, &|fi| fields[fi], f)?;
    let t = |x: kir::Tile| v2::Tensor::new(x.index());
    let queue_of = |x: kir::Tile| match f.tiles[x].home {
        kir::Home::Queue(q) => Some(v2::Queue::new(q.index())),
        kir::Home::Buffer(_) => None,
    };
    let rows_of = |x: kir::Tile, per_tile: bool| -> IExpr {
        match f.tiles[x].rows {
            Rows::Tile { mult: 1 } if per_tile => cur_rows.clone(),
            Rows::Tile { mult } if per_tile => {
                bin(BinOp::Mul, cur_rows.clone(), IExpr::Int(mult as i64))
            }
            Rows::Tile { mult } => IExpr::Int(tr * mult as i64),
            Rows::Fixed(n) => IExpr::Int(n as i64),
        }
    };
    let origin = std::cell::RefCell::new(Origin::new());
    let push = |k: &mut Kernel, d: InstData, from: Option<kir::Inst>| -> Stmt {
        let i = k.insts.push(d);
        origin.borrow_mut()[i] = from;
        if let Some(o) = from {
            k.locs[i] = f.locs[o];
            k.notes[i] = f.notes[o].clone();
        }
        Stmt::Inst(i)
    };
    let stage = |kind| {
        f.stage(kind)
            .map(|s| f.stages[s].insts.clone())
            .unwrap_or_default()
    };
    // Init: resident loads and constant tiles, once per core.
    let mut init = vec![];
    for i in stage(StageKind::Init) {
        match &f.insts[i] {
            InstData1::Load { dst, arg } => {
                let cols = f.tiles[*dst].cols;
                let s = push(
                    &mut k,
                    InstData::CopyIn {
                        dst: t(*dst),
                        src: GmRef {
                            buf: args[*arg],
                            offset: IExpr::Int(0),
                        },
                        rows: rows_of(*dst, false),
                        cols,
                        gm_pitch: IExpr::Int(cols as i64),
                        ub_stride: f.tiles[*dst].stride,
                    },
                    Some(i),
                );
                init.push(s);
            }
            // The v2 sync pass derives its own flags.
            InstData1::SetFlag(_) | InstData1::WaitFlag(_) => {}
            d => {
                let v = vector(f, d, &|x| rows_of(x, false), &t).ok_or_else(|| {
                    internal(&f.name, format!("{i} in init is not a vector instruction"))
                })?;
                let s = push(&mut k, v, Some(i));
                init.push(s);
            }
        }
    }
    let mut body = vec![];
    let mut vec_in = vec![];
    for i in stage(StageKind::CopyIn) {
        let InstData1::CopyIn { dst, arg } = &f.insts[i] else {
            return Err(internal(&f.name, format!("{i} in copy_in is not a copy")));
        };
        let q = queue_of(*dst)
            .ok_or_else(|| internal(&f.name, format!("{dst} is not a queue tile")))?;
        let cols = f.tiles[*dst].cols;
        body.push(push(
            &mut k,
            InstData::AllocTensor {
                queue: q,
                tensor: t(*dst),
            },
            None,
        ));
        body.push(push(
            &mut k,
            InstData::CopyIn {
                dst: t(*dst),
                src: GmRef {
                    buf: args[*arg],
                    offset: rows.row_offset(args[*arg], cols),
                },
                rows: cur_rows.clone(),
                cols,
                gm_pitch: IExpr::Int(cols as i64),
                ub_stride: f.tiles[*dst].stride,
            },
            Some(i),
        ));
        body.push(push(
            &mut k,
            InstData::EnQue {
                queue: q,
                tensor: t(*dst),
            },
            None,
        ));
        vec_in.push((q, t(*dst)));
    }
    let copy_out = stage(StageKind::CopyOut);
    let mut vec_out = vec![];
    for i in &copy_out {
        if let InstData1::CopyOut { src, .. } = &f.insts[*i] {
            if let Some(q) = queue_of(*src) {
                vec_out.push((q, t(*src)));
            }
        }
    }
    for (q, x) in &vec_in {
        body.push(push(
            &mut k,
            InstData::DeQue {
                queue: *q,
                tensor: *x,
            },
            None,
        ));
    }
    for (q, x) in &vec_out {
        body.push(push(
            &mut k,
            InstData::AllocTensor {
                queue: *q,
                tensor: *x,
            },
            None,
        ));
    }
    for i in stage(StageKind::Compute) {
        let v = vector(f, &f.insts[i], &|x| rows_of(x, true), &t).ok_or_else(|| {
            internal(
                &f.name,
                format!("{i} in compute is not a vector instruction"),
            )
        })?;
        body.push(push(&mut k, v, Some(i)));
    }
    for (q, x) in &vec_out {
        body.push(push(
            &mut k,
            InstData::EnQue {
                queue: *q,
                tensor: *x,
            },
            None,
        ));
    }
    for (q, x) in &vec_in {
        body.push(push(
            &mut k,
            InstData::FreeTensor {
                queue: *q,
                tensor: *x,
            },
            None,
        ));
    }
    for i in copy_out {
        let InstData1::CopyOut { src, arg } = &f.insts[i] else {
            return Err(internal(&f.name, format!("{i} in copy_out is not a copy")));
        };
        let q = queue_of(*src)
            .ok_or_else(|| internal(&f.name, format!("{src} is not a queue tile")))?;
        let cols = f.tiles[*src].cols;
        body.push(push(
            &mut k,
            InstData::DeQue {
                queue: q,
                tensor: t(*src),
            },
            None,
        ));
        body.push(push(
            &mut k,
            InstData::CopyOut {
                dst: GmRef {
                    buf: args[*arg],
                    offset: rows.row_offset(args[*arg], cols),
                },
                src: t(*src),
                rows: cur_rows.clone(),
                cols,
                gm_pitch: IExpr::Int(cols as i64),
                ub_stride: f.tiles[*src].stride,
            },
            Some(i),
        ));
        body.push(push(
            &mut k,
            InstData::FreeTensor {
                queue: q,
                tensor: t(*src),
            },
            None,
        ));
    }
    k.body = rows.finish(&mut k, init, tile, body);
    Ok((k, origin.into_inner()))
}

use crate::kir::InstData as InstData1;

/// A v1 vector instruction as a v2 [`InstData::Vector`]: its reads and writes become the operand
/// lists, so the hazard verifier sees exactly the tiles the instruction touches.
fn vector(
    f: &Function,
    d: &InstData1,
    rows: &dyn Fn(kir::Tile) -> IExpr,
    t: &dyn Fn(kir::Tile) -> v2::Tensor,
) -> Option<InstData> {
    let mut scalar = None;
    let op = match d {
        InstData1::Unary { op, .. } => VecOp::Unary(*op),
        InstData1::Binary { op, .. } => VecOp::Binary(*op),
        InstData1::Scalar { op, scalar: s, .. } => {
            scalar = Some(*s);
            VecOp::Scalar(*op)
        }
        InstData1::Duplicate { scalar: s, .. } => {
            scalar = Some(*s);
            VecOp::Duplicate
        }
        InstData1::Cast { round, .. } => VecOp::Cast(*round),
        InstData1::Compare { mode, .. } => VecOp::Compare(*mode),
        InstData1::Not { .. } => VecOp::Not,
        InstData1::Select { on_false, .. } => {
            if let SelectFalse::Scalar(s) = on_false {
                scalar = Some(*s);
            }
            VecOp::Select
        }
        InstData1::SegReduce { op, seg, .. } => VecOp::SegReduce(*op, *seg),
        InstData1::SegExpand { seg, .. } => VecOp::SegExpand(*seg),
        InstData1::VecExpand { seg, .. } => VecOp::VecExpand(*seg),
        InstData1::SegBinary { op, seg, .. } => VecOp::SegBinary(*op, *seg),
        InstData1::VecBinary { op, seg, .. } => VecOp::VecBinary(*op, *seg),
        InstData1::Iota { .. } => VecOp::Iota,
        InstData1::Gather { table, .. } => VecOp::Gather {
            table_len: match f.tiles[*table].rows {
                // A tile of rows is read as one flat array of its whole capacity.
                Rows::Tile { .. } => {
                    u32::try_from(f.tiles[*table].capacity(f.split.tile_rows)).unwrap_or(u32::MAX)
                }
                Rows::Fixed(_) => f.tiles[*table].cols,
            },
        },
        _ => return None,
    };
    let dsts = d.writes();
    let first = *dsts.first()?;
    let srcs = d.reads();
    // Elements of `x` (rows times stride), as the emitted call counts them; `aligned` rounds up to
    // whole 256-byte repeats (compares and selects run on whole repeats).
    let elems = |x: kir::Tile, aligned: bool| -> IExpr {
        let stride = f.tiles[x].stride as i64;
        let granule = (256 * 8 / f.tiles[x].elem.bits()) as i64;
        match rows(x) {
            IExpr::Int(r) if aligned => IExpr::Int((r * stride + granule - 1) / granule * granule),
            IExpr::Int(r) => IExpr::Int(r * stride),
            r => {
                let per_row = match f.tiles[x].rows {
                    Rows::Tile { mult } => mult as i64 * stride,
                    Rows::Fixed(_) => stride,
                };
                let n = bin(BinOp::Mul, r, IExpr::Int(stride));
                if aligned && per_row % granule != 0 {
                    bin(
                        BinOp::Mul,
                        bin(BinOp::CeilDiv, n, IExpr::Int(64)),
                        IExpr::Int(64),
                    )
                } else {
                    n
                }
            }
        }
    };
    let segs = |x: kir::Tile, seg: &kir::SegView| -> IExpr {
        match rows(x) {
            IExpr::Int(r) => IExpr::Int(r * seg.segs as i64),
            r if seg.segs == 1 => r,
            r => bin(BinOp::Mul, r, IExpr::Int(seg.segs as i64)),
        }
    };
    let count = match d {
        InstData1::Iota { dst, count } => match f.tiles[*dst].rows {
            // A tile of rows is numbered whole (`count` is its row stride).
            Rows::Tile { .. } => elems(*dst, false),
            Rows::Fixed(_) => IExpr::Int(*count as i64),
        },
        InstData1::Compare { lhs, .. } => elems(*lhs, true),
        InstData1::Select { dst, .. } => elems(*dst, true),
        InstData1::Not { src, .. } => elems(*src, true),
        InstData1::SegReduce { src, seg, .. } => segs(*src, seg),
        InstData1::SegExpand { dst, seg, .. }
        | InstData1::VecExpand { dst, seg, .. }
        | InstData1::SegBinary { dst, seg, .. }
        | InstData1::VecBinary { dst, seg, .. } => segs(*dst, seg),
        _ => elems(first, false),
    };
    Some(InstData::Vector {
        op,
        dsts: dsts.into_iter().map(t).collect(),
        srcs: srcs.into_iter().map(t).collect(),
        scalar,
        count,
    })
}
