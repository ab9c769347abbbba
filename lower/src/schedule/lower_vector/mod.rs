//! Lowers a vector group of graph ops to one AIV kernel in kernel IR.
//!
//! Every row tensor of the group has the same leading (row) dim; the row count is split over the vector
//! cores and walked in tiles (see [`crate::kir`]). Parameters without the row dim (small tables such as a
//! per-expert scale, or an RMSNorm weight) are loaded once per core in `init`. Floats are computed in
//! `f32`; a result whose dtype is `bf16`/`f16` is rounded to it after every op, exactly where the
//! reference interpreter rounds (composites once, at the end). Reductions, softmax and top-k work on
//! segments (rows, or groups of a row); groups of a length that is not a multiple of 8 elements are
//! computed on a copy with every group 32-byte aligned (the spread layout, see `spread.rs`).
//! Selections follow the README's numeric rules (a NaN wins, then the extremum, lowest index among
//! equals): the extremum instructions see only NaN-free keys, and each pick is the minimum of an index
//! code per element (see `select_k`), so an index is always in range.
//!
//! Layout requirements are collected first ([`super::layout`]), then instructions are emitted op by op.
//! Every scratch tile gets its own buffer here; [`super::alloc`] shares them afterwards.

use rustc_hash::FxHashMap;

use crate::graph::{
    ArgOp, BinaryOp, CmpOp, DType, Dim, Kernel, Op, OpKind, ReduceOp, SrcLoc, SymKind, UnaryOp,
    Value,
};
use crate::kir::{
    Access, Arg, ArgData, ArgRole, BlockSplit, Buffer, BufferData, BufferKind, CmpMode, CoreKind,
    Elem, Expr, FieldData, Function, Home, Inst, InstData, MemSpace, QueueData, QueuePos, Round,
    Rows, Scalar, SegReduceOp, SegView, SelectFalse, StageData, StageKind, Tile, TileData,
    VecBinary, VecScalar, VecUnary,
};
use crate::opt::{describe_op, Group};
use crate::target::Target;

mod cast;
mod elementwise;
mod gather;
mod plan;
mod reduce;
mod select_k;
mod spread;

use super::layout::{LayoutBuilder, Layouts};
use super::LowerError;

/// How a value of the group is held.
#[derive(Clone, PartialEq, Debug)]
enum Class {
    /// A row tensor: `cols` elements per row, trailing axes `tail` (`cols` is their product).
    Row { cols: u32, tail: Vec<u32> },
    /// A tensor without the row dim, loaded whole (`elems` elements, axes `dims`).
    Resident { elems: u32, dims: Vec<u32> },
    /// A rank-0 constant.
    Const { value: f64, dtype: DType },
}

/// How an operand of an elementwise op maps onto the result's elements.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Bcast {
    /// Same shape.
    Same,
    /// A rank-0 constant.
    Scalar,
    /// One operand value per segment of the result (`segs` per row, `len` long).
    Seg { segs: u32, len: u32 },
    /// A resident vector of `len` repeated over the `segs` segments of every row.
    Vec { segs: u32, len: u32 },
}

/// Lowers `group` of `kernel` to the kernel-IR function `name` (tile rows still unchosen).
pub fn lower_vector_group(
    kernel: &Kernel,
    group: &Group,
    name: &str,
    target: &Target,
) -> Result<Function, LowerError> {
    let row_dim = find_row_dim(kernel)?;
    let mut cx = Lowering {
        k: kernel,
        row_dim,
        class: FxHashMap::default(),
        layouts: Layouts::default(),
        f: new_function(name),
        init: Vec::new(),
        copy_in: Vec::new(),
        compute: Vec::new(),
        copy_out: Vec::new(),
        tile: FxHashMap::default(),
        out_home: FxHashMap::default(),
        iota: FxHashMap::default(),
        relayout: FxHashMap::default(),
        spread_copy: FxHashMap::default(),
        loc: SrcLoc::default(),
        note: String::new(),
    };
    for &op in &group.ops {
        cx.classify(op)?;
    }
    cx.layouts = cx.layout_needs(&group.ops)?.finish()?;
    cx.skeleton(target)?;
    for &op in &group.ops {
        cx.loc = kernel.locs[op];
        cx.note = describe_op(kernel, op);
        cx.lower_op(op)?;
    }
    cx.loc = SrcLoc::default();
    cx.note = String::new();
    cx.outputs()?;
    let Lowering {
        mut f,
        init,
        copy_in,
        compute,
        copy_out,
        ..
    } = cx;
    for (kind, insts) in [
        (StageKind::Init, init),
        (StageKind::CopyIn, copy_in),
        (StageKind::Compute, compute),
        (StageKind::CopyOut, copy_out),
    ] {
        f.stages.push(StageData { kind, insts });
    }
    Ok(f)
}

fn new_function(name: &str) -> Function {
    let mut fields = cranelift_entity::PrimaryMap::new();
    let rows_field = fields.push(FieldData {
        name: "rows".into(),
        expr: Expr::Int(0),
    });
    let per_core_field = fields.push(FieldData {
        name: "rows_per_core".into(),
        expr: Expr::Int(0),
    });
    let rem_field = fields.push(FieldData {
        name: "rows_rem".into(),
        expr: Expr::Int(0),
    });
    Function {
        name: name.to_string(),
        core: CoreKind::Aiv,
        args: Default::default(),
        fields,
        split: BlockSplit {
            rows: Expr::Int(0),
            block_dim: Expr::Int(1),
            rows_field,
            per_core_field,
            rem_field,
            tile_rows: 0,
        },
        buffers: Default::default(),
        queues: Default::default(),
        tiles: Default::default(),
        events: Default::default(),
        insts: Default::default(),
        stages: Default::default(),
        locs: Default::default(),
        notes: Default::default(),
    }
}

/// The row dim: the first dynamic dim that leads a parameter's shape; otherwise the leading dim of the
/// first parameter of rank 2 or more, or of rank 1.
fn find_row_dim(k: &Kernel) -> Result<Dim, LowerError> {
    let shapes: Vec<&Vec<Dim>> = k
        .params
        .iter()
        .filter_map(|p| k.values.get(p.value))
        .filter_map(|v| v.ty.as_tensor())
        .map(|t| &t.shape)
        .collect();
    for s in &shapes {
        if let Some(sym) = s.first().and_then(|d| d.as_sym()) {
            if k.syms.get(sym).map(|d| d.kind) == Some(SymKind::Dynamic) {
                return Ok(s[0].clone());
            }
        }
    }
    for min_rank in [2, 1] {
        if let Some(s) = shapes.iter().find(|s| s.len() >= min_rank) {
            return Ok(s[0].clone());
        }
    }
    Err(LowerError::Unsupported {
        op: "kernel".into(),
        loc: SrcLoc::default(),
        reason: format!(
            "kernel `{}` has no tensor parameter to split into rows",
            k.name
        ),
    })
}

/// Converts a dim to a host expression (see [`Dim::to_expr`]).
pub fn dim_expr(k: &Kernel, d: &Dim) -> Expr {
    d.to_expr(&k.syms)
}

/// Rounds `v` to what `dtype` holds, as an `f32`.
fn round_const(v: f64, dtype: DType) -> f32 {
    match dtype {
        DType::BF16 => half::bf16::from_f64(v).to_f32(),
        DType::F16 => half::f16::from_f64(v).to_f32(),
        _ => v as f32,
    }
}

fn is16(d: DType) -> bool {
    matches!(d, DType::BF16 | DType::F16)
}

struct Lowering<'a> {
    k: &'a Kernel,
    row_dim: Dim,
    class: FxHashMap<Value, Class>,
    layouts: Layouts,
    f: Function,
    init: Vec<Inst>,
    copy_in: Vec<Inst>,
    compute: Vec<Inst>,
    copy_out: Vec<Inst>,
    /// The tile holding each row or resident value (in its compute element type).
    tile: FxHashMap<Value, Tile>,
    /// Output queue tiles reserved for values computed straight into them.
    out_home: FxHashMap<Value, (Arg, Tile)>,
    /// Resident index tiles, by (last-axis length, segments per row, row width).
    iota: FxHashMap<(u32, u32, u32, u32), Tile>,
    /// Resident index tiles moving tiles into and out of the spread layout (see `spread.rs`).
    relayout: FxHashMap<spread::Relayout, Tile>,
    /// The spread copy of a value's tile, by (tile, groups per row, group length).
    spread_copy: FxHashMap<(Tile, u32, u32), Tile>,
    loc: SrcLoc,
    note: String,
}

impl Lowering<'_> {
    fn unsupported(&self, op: Op, reason: impl Into<String>) -> LowerError {
        LowerError::Unsupported {
            op: self.k.ops[op].kind.name().to_string(),
            loc: self.k.locs[op],
            reason: reason.into(),
        }
    }

    // ---- skeleton -----------------------------------------------------------------------------------

    fn skeleton(&mut self, target: &Target) -> Result<(), LowerError> {
        let rows = dim_expr(self.k, &self.row_dim);
        let block_dim = Expr::min(
            Expr::Int(target.vector_cores as i64),
            Expr::max(rows.clone(), Expr::Int(1)),
        );
        let s = &mut self.f.split;
        s.rows = rows.clone();
        s.block_dim = block_dim.clone();
        self.f.fields[s.rows_field].expr = rows.clone();
        self.f.fields[s.per_core_field].expr = rows.clone() / block_dim.clone();
        self.f.fields[s.rem_field].expr = rows % block_dim;
        for p in &self.k.params {
            let ty = self.k.values[p.value].ty.as_tensor().cloned();
            let Some(ty) = ty else { continue };
            let access = match self.class.get(&p.value) {
                Some(Class::Row { cols, .. }) => Access::Rows { cols: *cols },
                Some(Class::Resident { elems, .. }) => Access::Whole { elems: *elems },
                _ => continue,
            };
            let shape = ty.shape.iter().map(|d| dim_expr(self.k, d)).collect();
            self.f.args.push(ArgData {
                name: p.name.clone(),
                role: ArgRole::Input,
                dtype: ty.dtype,
                shape,
                access,
            });
        }
        for out in &self.k.outputs {
            let (Some(ty), Some((cols, _))) = (
                self.k.values[out.value].ty.as_tensor(),
                self.row_class(out.value),
            ) else {
                let def = self.k.values[out.value].def;
                return Err(
                    self.unsupported(def, format!("output `{}` must be a row tensor", out.name))
                );
            };
            let shape = ty.shape.iter().map(|d| dim_expr(self.k, d)).collect();
            let dtype = ty.dtype;
            if dtype == DType::Bool {
                let def = self.k.values[out.value].def;
                return Err(self.unsupported(
                    def,
                    format!("output `{}` is bool, which kernels cannot return", out.name),
                ));
            }
            let arg = self.f.args.push(ArgData {
                name: out.name.clone(),
                role: ArgRole::Output,
                dtype,
                shape,
                access: Access::Rows { cols },
            });
            // Compute straight into the output queue tile when no conversion is needed and the value
            // is computed here (not a parameter passed through).
            let def = self.k.values[out.value].def;
            let is_param = matches!(
                self.k.ops[def].kind,
                OpKind::Param { .. } | OpKind::Reshape { .. }
            );
            if !is_param
                && Elem::storage(dtype) == Elem::compute(dtype)
                && !self.out_home.contains_key(&out.value)
            {
                let t = self.queue_tile(&out.name, QueuePos::VecOut, Elem::storage(dtype), cols);
                self.out_home.insert(out.value, (arg, t));
            }
        }
        Ok(())
    }

    // ---- tiles and instructions -------------------------------------------------------------------

    fn buffer(&mut self, name: &str, kind: BufferKind, count: u32) -> Buffer {
        self.f.buffers.push(BufferData {
            name: name.to_string(),
            space: MemSpace::Ub,
            kind,
            count,
            bytes: 0,
        })
    }

    fn queue_tile(&mut self, name: &str, pos: QueuePos, elem: Elem, cols: u32) -> Tile {
        let q = self.f.queues.next_key();
        let buffer = self.buffer(name, BufferKind::Queue(q), 2);
        let q2 = self.f.queues.push(QueueData {
            pos,
            depth: 1,
            buffer,
        });
        let stride = self.layouts.stride(cols);
        self.f.tiles.push(TileData {
            name: name.to_string(),
            elem,
            rows: Rows::Tile { mult: 1 },
            cols,
            stride,
            home: Home::Queue(q2),
        })
    }

    fn tile_in(
        &mut self,
        name: &str,
        elem: Elem,
        rows: Rows,
        cols: u32,
        stride: u32,
        kind: BufferKind,
    ) -> Tile {
        let b = self.buffer(name, kind, 1);
        self.f.tiles.push(TileData {
            name: name.to_string(),
            elem,
            rows,
            cols,
            stride,
            home: Home::Buffer(b),
        })
    }

    /// A scratch tile of `cols`-wide rows in the width's layout.
    fn row_tile(&mut self, name: &str, elem: Elem, cols: u32) -> Tile {
        let stride = self.layouts.stride(cols);
        self.tile_in(
            name,
            elem,
            Rows::Tile { mult: 1 },
            cols,
            stride,
            BufferKind::Scratch,
        )
    }

    /// A scratch tile like `like` (same rows, cols and stride) of element type `elem`.
    fn like(&mut self, name: &str, elem: Elem, like: Tile) -> Tile {
        let d = self.f.tiles[like].clone();
        self.tile_in(name, elem, d.rows, d.cols, d.stride, BufferKind::Scratch)
    }

    fn push(&mut self, stage: StageKind, data: InstData) -> Inst {
        let i = self.f.insts.push(data);
        self.f.locs[i] = self.loc;
        self.f.notes[i] = self.note.clone();
        match stage {
            StageKind::Init => self.init.push(i),
            StageKind::CopyIn => self.copy_in.push(i),
            StageKind::Compute => self.compute.push(i),
            StageKind::CopyOut => self.copy_out.push(i),
        }
        i
    }

    fn emit(&mut self, data: InstData) {
        self.push(StageKind::Compute, data);
    }

    /// The tile a result value goes to: its output queue tile if it has one, else a new scratch tile.
    fn result_tile(&mut self, v: Value, elem: Elem) -> Tile {
        if let Some(&(_, t)) = self.out_home.get(&v) {
            if self.f.tiles[t].elem == elem {
                return t;
            }
        }
        let (cols, _) = self.row_class(v).unwrap_or((1, &[]));
        self.row_tile(&v.to_string(), elem, cols)
    }

    /// Rounds `t` (f32) to `dtype` in place if that is a 16-bit float.
    fn round_to(&mut self, t: Tile, dtype: DType) {
        let elem = match dtype {
            DType::BF16 => Elem::BF16,
            DType::F16 => Elem::F16,
            _ => return,
        };
        let tmp = self.like("round", elem, t);
        self.emit(InstData::Cast {
            dst: tmp,
            src: t,
            round: Round::Rint,
        });
        self.emit(InstData::Cast {
            dst: t,
            src: tmp,
            round: Round::None,
        });
    }

    fn scalar(&self, v: Value) -> Option<Scalar> {
        match self.class.get(&v) {
            Some(Class::Const { value, dtype }) => Some(match dtype {
                DType::I32 => Scalar::I32(*value as i32),
                d => Scalar::f32(round_const(*value, *d)),
            }),
            _ => None,
        }
    }

    fn value_tile(&self, op: Op, v: Value) -> Result<Tile, LowerError> {
        self.tile
            .get(&v)
            .copied()
            .ok_or_else(|| self.unsupported(op, format!("operand {v} has no tile")))
    }

    /// Operand `v` of `op` as a full tile shaped like `res`, expanding broadcasts and constants.
    fn full_operand(
        &mut self,
        op: Op,
        v: Value,
        res: Value,
        elem: Elem,
    ) -> Result<Tile, LowerError> {
        let (cols, _) = self.row_class(res).unwrap_or((1, &[]));
        let stride = self.layouts.stride(cols);
        let seg = |segs: u32, len: u32| SegView {
            segs,
            len,
            stride: if segs > 1 { len } else { stride },
        };
        match self.bcast(op, v, res)? {
            Bcast::Same => self.value_tile(op, v),
            Bcast::Scalar => {
                let s = self
                    .scalar(v)
                    .ok_or_else(|| self.unsupported(op, "constant operand"))?;
                let s = match (s, elem) {
                    (Scalar::I32(i), Elem::F32) => Scalar::f32(i as f32),
                    (s, _) => s,
                };
                let t = self.row_tile("splat", elem, cols);
                self.emit(InstData::Duplicate { dst: t, scalar: s });
                Ok(t)
            }
            Bcast::Seg { segs, len } => {
                let src = self.value_tile(op, v)?;
                let dst = self.row_tile("bcast", elem, cols);
                if spread::spreads(segs, len) {
                    self.spread_expand(StageKind::Compute, dst, src, segs, len, true);
                    return Ok(dst);
                }
                let blocks = self.tile_in(
                    "blocks",
                    elem,
                    Rows::Tile { mult: segs },
                    8,
                    8,
                    BufferKind::Scratch,
                );
                self.emit(InstData::SegExpand {
                    dst,
                    src,
                    seg: seg(segs, len),
                    blocks,
                });
                Ok(dst)
            }
            Bcast::Vec { segs, len } => {
                let src = self.value_tile(op, v)?;
                // A resident vector broadcast over the rows is the same for every tile: expand it once.
                let key = (u32::MAX, src.as_u32(), cols, segs);
                if let Some(&t) = self.iota.get(&key) {
                    return Ok(t);
                }
                let dst = self.tile_in(
                    "bcast",
                    elem,
                    Rows::Tile { mult: 1 },
                    cols,
                    stride,
                    BufferKind::Resident,
                );
                if spread::spreads(segs, len) {
                    self.spread_expand(StageKind::Init, dst, src, segs, len, false);
                } else {
                    self.push(
                        StageKind::Init,
                        InstData::VecExpand {
                            dst,
                            src,
                            seg: seg(segs, len),
                        },
                    );
                }
                self.iota.insert(key, dst);
                Ok(dst)
            }
        }
    }

    // ---- ops ----------------------------------------------------------------------------------------

    fn lower_op(&mut self, op: Op) -> Result<(), LowerError> {
        let data = self.k.ops[op].clone();
        match &data.kind {
            OpKind::Param { .. } => self.param(op, data.results[0]),
            OpKind::Const { .. } => Ok(()),
            OpKind::Unary(u) => self.unary(op, *u, data.args[0], data.results[0]),
            OpKind::Binary(b) => self.binary(op, *b, data.args[0], data.args[1], data.results[0]),
            OpKind::Cast { to } => self.cast(op, data.args[0], *to, data.results[0]),
            OpKind::Compare(c) => self.compare(op, *c, data.args[0], data.args[1], data.results[0]),
            OpKind::Select => self.select(op, &data.args, data.results[0]),
            OpKind::Reduce { op: r, axis, .. } => {
                self.reduce(op, *r, *axis, data.args[0], data.results[0])
            }
            OpKind::ArgReduce { op: a, axis, .. } => {
                let (segs, len) = self.last_axis_segs(op, data.args[0], *axis)?;
                self.select_k(
                    op,
                    data.args[0],
                    segs,
                    len,
                    1,
                    1,
                    *a == ArgOp::ArgMin,
                    None,
                    Some(data.results[0]),
                )
            }
            OpKind::Softmax { axis } => {
                self.softmax(op, data.args[0], *axis, false, data.results[0])
            }
            OpKind::LogSoftmax { axis } => {
                self.softmax(op, data.args[0], *axis, true, data.results[0])
            }
            OpKind::RmsNorm { eps } => {
                self.rms_norm(op, data.args[0], data.args[1], *eps, data.results[0])
            }
            OpKind::Reshape { .. } => {
                let (src, dst) = (data.args[0], data.results[0]);
                let (a, b) = (
                    self.row_class(src).map(|c| c.0),
                    self.row_class(dst).map(|c| c.0),
                );
                if a.is_none() || a != b {
                    return Err(
                        self.unsupported(op, "only reshapes that keep the row dim are supported")
                    );
                }
                let t = self.value_tile(op, src)?;
                self.tile.insert(dst, t);
                Ok(())
            }
            OpKind::TopK { k } | OpKind::GroupTopK { k, .. } => {
                let x = data.args[0];
                let rank = self.row_class(x).map(|(_, t)| t.len() as u32).unwrap_or(0);
                let (segs_x, last) = self.last_axis_segs(op, x, rank)?;
                let groups = match &data.kind {
                    OpKind::GroupTopK { groups, .. } => {
                        self.literal_dims(op, std::slice::from_ref(groups))?[0]
                    }
                    _ => 1,
                };
                let k = self.literal_dims(op, std::slice::from_ref(k))?[0];
                self.select_k(
                    op,
                    x,
                    segs_x,
                    last,
                    groups,
                    k,
                    false,
                    Some(data.results[0]),
                    Some(data.results[1]),
                )
            }
            OpKind::Gather => self.gather(op, data.args[0], data.args[1], data.results[0]),
            _ => Err(self.unsupported(op, "this op has no vector lowering yet")),
        }
    }

    fn param(&mut self, op: Op, v: Value) -> Result<(), LowerError> {
        let dtype = self.dtype(v);
        let arg = self
            .f
            .args
            .iter()
            .find(|(_, a)| {
                a.role == ArgRole::Input
                    && self
                        .k
                        .params
                        .iter()
                        .any(|p| p.value == v && p.name == a.name)
            })
            .map(|(a, _)| a)
            .ok_or_else(|| self.unsupported(op, "parameter has no argument"))?;
        let name = self.f.args[arg].name.clone();
        match self.class.get(&v).cloned() {
            Some(Class::Row { .. }) if !self.is_used(v) => {}
            Some(Class::Row { cols, .. }) => {
                let t = self.queue_tile(&name, QueuePos::VecIn, Elem::storage(dtype), cols);
                self.push(StageKind::CopyIn, InstData::CopyIn { dst: t, arg });
                let t = if Elem::storage(dtype) != Elem::compute(dtype) {
                    let c = self.row_tile(&name, Elem::compute(dtype), cols);
                    self.emit(InstData::Cast {
                        dst: c,
                        src: t,
                        round: Round::None,
                    });
                    c
                } else {
                    t
                };
                self.tile.insert(v, t);
            }
            Some(Class::Resident { .. }) if !self.is_used(v) => {}
            Some(Class::Resident { elems, .. }) => {
                let align = if is16(dtype) { 16 } else { 8 };
                let stride = elems.div_ceil(align) * align;
                // A 16-bit table is staged in scratch (used only in init) and kept as f32.
                let kind = if is16(dtype) {
                    BufferKind::Scratch
                } else {
                    BufferKind::Resident
                };
                let t = self.tile_in(
                    &name,
                    Elem::storage(dtype),
                    Rows::Fixed(1),
                    elems,
                    stride,
                    kind,
                );
                self.push(StageKind::Init, InstData::Load { dst: t, arg });
                let t = if is16(dtype) {
                    let c = self.tile_in(
                        &name,
                        Elem::F32,
                        Rows::Fixed(1),
                        elems,
                        stride,
                        BufferKind::Resident,
                    );
                    self.push(
                        StageKind::Init,
                        InstData::Cast {
                            dst: c,
                            src: t,
                            round: Round::None,
                        },
                    );
                    c
                } else {
                    t
                };
                self.tile.insert(v, t);
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `v` is an operand of a live op or an output.
    fn is_used(&self, v: Value) -> bool {
        self.k.outputs.iter().any(|o| o.value == v)
            || self.k.order.iter().any(|&op| {
                self.k.ops[op].args.contains(&v)
                    && self.class.contains_key(&self.k.ops[op].results[0])
            })
    }

    fn outputs(&mut self) -> Result<(), LowerError> {
        let outs = self.k.outputs.clone();
        let out_args: Vec<Arg> = self
            .f
            .args
            .iter()
            .filter(|(_, a)| a.role == ArgRole::Output)
            .map(|(a, _)| a)
            .collect();
        for (out, arg) in outs.iter().zip(out_args) {
            let dtype = self.dtype(out.value);
            let def = self.k.values[out.value].def;
            let src = self.value_tile(def, out.value)?;
            let tile = match self.out_home.get(&out.value) {
                Some(&(a, t)) if a == arg => t,
                _ => {
                    let cols = self.f.tiles[src].cols;
                    self.queue_tile(&out.name, QueuePos::VecOut, Elem::storage(dtype), cols)
                }
            };
            if tile != src {
                if Elem::storage(dtype) == Elem::compute(dtype) {
                    // A plain copy: multiplying by one is exact for every value.
                    let one = if Elem::compute(dtype) == Elem::I32 {
                        Scalar::I32(1)
                    } else {
                        Scalar::f32(1.0)
                    };
                    self.emit(InstData::Scalar {
                        op: VecScalar::Muls,
                        dst: tile,
                        src,
                        scalar: one,
                    });
                } else {
                    // The value is already on the 16-bit grid, so this conversion is exact.
                    self.emit(InstData::Cast {
                        dst: tile,
                        src,
                        round: Round::Rint,
                    });
                }
            }
            if self.f.tiles[tile].stride != self.f.tiles[src].stride {
                return Err(self.unsupported(def, "output layout mismatch"));
            }
            self.push(StageKind::CopyOut, InstData::CopyOut { arg, src: tile });
        }
        Ok(())
    }
}
