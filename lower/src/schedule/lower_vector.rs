//! Lowers a vector group of graph ops to one AIV kernel in kernel IR.
//!
//! Every row tensor of the group has the same leading (row) dim; the row count is split over the vector
//! cores and walked in tiles (see [`crate::kir`]). Parameters without the row dim (small tables such as a
//! per-expert scale, or an RMSNorm weight) are loaded once per core in `init`. Floats are computed in
//! `f32`; a result whose dtype is `bf16`/`f16` is rounded to it after every op, exactly where the
//! reference interpreter rounds (composites once, at the end). Reductions, softmax and top-k work on
//! segments (rows, or groups of a row). Selections follow the README's numeric rules (a NaN wins, then
//! the extremum, lowest index among equals): the extremum instructions see only NaN-free keys, and each
//! pick is the minimum of an index code per element (see `select_k`), so an index is always in range.
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

/// Converts a dim to a host expression.
pub fn dim_expr(k: &Kernel, d: &Dim) -> Expr {
    match d {
        Dim::Const(c) => Expr::Int(*c),
        Dim::Sym(s) => Expr::dim(
            k.syms
                .get(*s)
                .map(|d| d.name.clone())
                .unwrap_or_else(|| s.to_string()),
        ),
        Dim::Add(a, b) => dim_expr(k, a) + dim_expr(k, b),
        Dim::Mul(a, b) => dim_expr(k, a) * dim_expr(k, b),
        Dim::Div(a, b) => dim_expr(k, a) / dim_expr(k, b),
    }
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

    // ---- classification -------------------------------------------------------------------------

    fn literal_dims(&self, op: Op, dims: &[Dim]) -> Result<Vec<u32>, LowerError> {
        dims.iter()
            .map(|d| match d.as_const() {
                Some(c) => u32::try_from(c).map_err(|_| {
                    self.unsupported(
                        op,
                        format!("an inner dim of {c} is more than a vector kernel row can hold (at most {})", u32::MAX),
                    )
                }),
                None => Err(self.unsupported(
                    op,
                    format!(
                        "inner dims must be literals after specialization, found `{}`",
                        d.display(&self.k.syms)
                    ),
                )),
            })
            .collect()
    }

    fn classify_value(&self, op: Op, v: Value, allow_resident: bool) -> Result<Class, LowerError> {
        let ty = self.k.values[v]
            .ty
            .as_tensor()
            .ok_or_else(|| self.unsupported(op, "routing tables have no vector lowering"))?;
        if ty.shape.first() == Some(&self.row_dim) {
            let tail = self.literal_dims(op, &ty.shape[1..])?;
            let cols = tail.iter().try_fold(1u32, |a, &b| a.checked_mul(b));
            return match cols {
                Some(0) => Err(self.unsupported(op, "rows of zero elements are not supported")),
                Some(cols) => Ok(Class::Row { cols, tail }),
                None => Err(self.unsupported(op, "row too long")),
            };
        }
        if allow_resident && !ty.shape.is_empty() {
            let dims = self.literal_dims(op, &ty.shape)?;
            let elems = dims.iter().try_fold(1u32, |a, &b| a.checked_mul(b));
            return match elems {
                Some(e) if e > 0 => Ok(Class::Resident { elems: e, dims }),
                _ => {
                    Err(self
                        .unsupported(op, "resident tensors must have between 1 and 2^32 elements"))
                }
            };
        }
        Err(self.unsupported(
            op,
            format!(
                "vector kernels compute on row tensors whose first dim is `{}`, found `{}`",
                self.row_dim.display(&self.k.syms),
                self.k.values[v].ty.display(&self.k.syms)
            ),
        ))
    }

    fn classify(&mut self, op: Op) -> Result<(), LowerError> {
        let data = &self.k.ops[op];
        match &data.kind {
            OpKind::Param { .. } => {
                let v = data.results[0];
                let c = self.classify_value(op, v, true)?;
                if let Some(t) = self.k.values[v].ty.as_tensor() {
                    if t.dtype == DType::Bool {
                        return Err(self.unsupported(op, "bool parameters are not supported"));
                    }
                }
                self.class.insert(v, c);
            }
            OpKind::Const { value, dtype } => {
                if *dtype == DType::Bool {
                    return Err(self.unsupported(op, "bool constants are not supported"));
                }
                self.class.insert(
                    data.results[0],
                    Class::Const {
                        value: *value,
                        dtype: *dtype,
                    },
                );
            }
            _ => {
                for &r in &data.results {
                    let c = self.classify_value(op, r, false)?;
                    self.class.insert(r, c);
                }
            }
        }
        Ok(())
    }

    fn row_class(&self, v: Value) -> Option<(u32, &[u32])> {
        match self.class.get(&v) {
            Some(Class::Row { cols, tail }) => Some((*cols, tail)),
            _ => None,
        }
    }

    fn dtype(&self, v: Value) -> DType {
        self.k.values[v]
            .ty
            .as_tensor()
            .map(|t| t.dtype)
            .unwrap_or(DType::F32)
    }

    /// How operand `v` broadcasts onto the result `res` of op `op`.
    fn bcast(&self, op: Op, v: Value, res: Value) -> Result<Bcast, LowerError> {
        let (res_cols, res_tail) = match self.row_class(res) {
            Some((c, t)) => (c, t.to_vec()),
            None => return Err(self.unsupported(op, "the result is not a row tensor")),
        };
        match self.class.get(&v) {
            Some(Class::Const { .. }) => Ok(Bcast::Scalar),
            Some(Class::Row { cols, tail }) => {
                if *cols == res_cols && tail.len() == res_tail.len() {
                    return Ok(Bcast::Same);
                }
                // [R, d1..dj, 1..1] against [R, d1..dn]: one value per segment of the trailing axes.
                if tail.len() == res_tail.len() {
                    let j = tail
                        .iter()
                        .zip(&res_tail)
                        .take_while(|(a, b)| a == b)
                        .count();
                    if tail[j..].iter().all(|&d| d == 1) && res_cols % cols == 0 {
                        return Ok(Bcast::Seg {
                            segs: *cols,
                            len: res_cols / cols,
                        });
                    }
                }
                Err(self.unsupported(op, "this broadcast of a row tensor is not supported"))
            }
            Some(Class::Resident { elems, dims }) => {
                // [d_k..d_n] (or with leading 1s) against [R, d1..dn]: a vector repeated per segment.
                let dims: Vec<u32> = dims.iter().copied().skip_while(|&d| d == 1).collect();
                if dims.len() <= res_tail.len()
                    && res_tail[res_tail.len() - dims.len()..] == dims[..]
                {
                    return Ok(Bcast::Vec {
                        segs: res_cols / elems,
                        len: *elems,
                    });
                }
                Err(self.unsupported(op, "this broadcast of a resident tensor is not supported"))
            }
            None => {
                Err(self.unsupported(op, format!("operand {v} is not available in this kernel")))
            }
        }
    }

    /// Segments along the last axis of a row value: (segments per row, last-axis length).
    fn last_axis_segs(&self, op: Op, v: Value, axis: u32) -> Result<(u32, u32), LowerError> {
        let (cols, tail) = self
            .row_class(v)
            .ok_or_else(|| self.unsupported(op, "operand is not a row tensor"))?;
        if tail.is_empty() || axis as usize != tail.len() {
            return Err(self.unsupported(
                op,
                "only the last axis of a row tensor with two or more axes can be reduced",
            ));
        }
        let len = tail[tail.len() - 1];
        if len == 0 {
            return Err(self.unsupported(op, "cannot reduce an empty axis"));
        }
        Ok((cols / len, len))
    }

    // ---- layouts ----------------------------------------------------------------------------------

    /// A segment view of `cols`-wide rows split into `segs` segments of `len`; records layout needs.
    fn need_segs(
        &self,
        b: &mut LayoutBuilder,
        op: Op,
        cols: u32,
        segs: u32,
        len: u32,
    ) -> Result<(), LowerError> {
        let name = self.k.ops[op].kind.name();
        if segs == 1 {
            if cols == 1 {
                return Err(self.unsupported(op, "segments of one element are not supported"));
            }
            b.need_padded(cols, name, self.k.locs[op]);
        } else if !len.is_multiple_of(8) {
            return Err(self.unsupported(
                op,
                format!("groups of {len} elements inside a row must be a multiple of 8 elements (32 bytes)"),
            ));
        }
        Ok(())
    }

    /// Records the layout of a per-segment result of `n` values per row.
    fn need_per_seg(&self, b: &mut LayoutBuilder, op: Op, n: u32) {
        if n > 1 {
            b.need_dense(n, self.k.ops[op].kind.name(), self.k.locs[op]);
        }
    }

    fn layout_needs(&self, ops: &[Op]) -> Result<LayoutBuilder, LowerError> {
        let mut b = LayoutBuilder::default();
        for &op in ops {
            let data = &self.k.ops[op];
            let res = data.results.first().copied();
            match &data.kind {
                OpKind::Param { .. } => {
                    if let (Some(v), Some((cols, _))) = (res, res.and_then(|v| self.row_class(v))) {
                        if is16(self.dtype(v)) {
                            b.need_dma16(cols);
                        }
                    }
                }
                OpKind::Binary(_) | OpKind::Compare(_) | OpKind::Select => {
                    let Some(res) = res else { continue };
                    let Some((cols, _)) = self.row_class(res) else {
                        continue;
                    };
                    for &a in &data.args {
                        match self.bcast(op, a, res)? {
                            Bcast::Seg { segs, len } => {
                                self.need_segs(&mut b, op, cols, segs, len)?;
                                self.need_per_seg(&mut b, op, segs);
                            }
                            Bcast::Vec { segs, len } => {
                                self.need_segs(&mut b, op, cols, segs, len)?
                            }
                            Bcast::Same | Bcast::Scalar => {}
                        }
                    }
                }
                OpKind::Reduce { axis, .. } | OpKind::ArgReduce { axis, .. } => {
                    let (segs, len) = self.last_axis_segs(op, data.args[0], *axis)?;
                    let (cols, _) = self.row_class(data.args[0]).unwrap_or((0, &[]));
                    self.need_segs(&mut b, op, cols, segs, len)?;
                    self.need_per_seg(&mut b, op, segs);
                }
                OpKind::Softmax { axis } | OpKind::LogSoftmax { axis } => {
                    let (segs, len) = self.last_axis_segs(op, data.args[0], *axis)?;
                    let (cols, _) = self.row_class(data.args[0]).unwrap_or((0, &[]));
                    self.need_segs(&mut b, op, cols, segs, len)?;
                }
                OpKind::RmsNorm { .. } => {
                    let x = data.args[0];
                    let rank = self.row_class(x).map(|(_, t)| t.len() as u32).unwrap_or(0);
                    let (segs, len) = self.last_axis_segs(op, x, rank)?;
                    let (cols, _) = self.row_class(x).unwrap_or((0, &[]));
                    self.need_segs(&mut b, op, cols, segs, len)?;
                }
                OpKind::TopK { k } | OpKind::GroupTopK { k, .. } => {
                    let x = data.args[0];
                    let rank = self.row_class(x).map(|(_, t)| t.len() as u32).unwrap_or(0);
                    let (segs_x, last) = self.last_axis_segs(op, x, rank)?;
                    let (cols, _) = self.row_class(x).unwrap_or((0, &[]));
                    let groups = match &data.kind {
                        OpKind::GroupTopK { groups, .. } => {
                            self.literal_dims(op, std::slice::from_ref(groups))?[0]
                        }
                        _ => 1,
                    };
                    let k = self.literal_dims(op, std::slice::from_ref(k))?[0];
                    if groups == 0 || last % groups != 0 || k == 0 || k > last / groups {
                        return Err(self.unsupported(op, "invalid group count or k"));
                    }
                    let segs = segs_x * groups;
                    self.need_segs(&mut b, op, cols, segs, last / groups)?;
                    if k == 1 {
                        self.need_per_seg(&mut b, op, segs);
                    } else if segs == 1 {
                        b.need_padded(k, self.k.ops[op].kind.name(), self.k.locs[op]);
                    } else if k % 8 != 0 {
                        return Err(self.unsupported(
                            op,
                            "more than one pick per group needs k to be a multiple of 8",
                        ));
                    }
                }
                _ => {}
            }
        }
        for out in &self.k.outputs {
            if let Some((cols, _)) = self.row_class(out.value) {
                if is16(self.dtype(out.value)) {
                    b.need_dma16(cols);
                }
            }
        }
        Ok(b)
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
                self.push(
                    StageKind::Init,
                    InstData::VecExpand {
                        dst,
                        src,
                        seg: seg(segs, len),
                    },
                );
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

    fn unary(&mut self, op: Op, u: UnaryOp, x: Value, res: Value) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        let elem = Elem::compute(dtype);
        let src = self.value_tile(op, x)?;
        let dst = self.result_tile(res, elem);
        let one = |e: Elem, v: f32| {
            if e == Elem::I32 {
                Scalar::I32(v as i32)
            } else {
                Scalar::f32(v)
            }
        };
        let simple = |u: UnaryOp| match u {
            UnaryOp::Exp => Some(VecUnary::Exp),
            UnaryOp::Log => Some(VecUnary::Ln),
            UnaryOp::Sqrt => Some(VecUnary::Sqrt),
            UnaryOp::Rsqrt => Some(VecUnary::Rsqrt),
            UnaryOp::Recip => Some(VecUnary::Reciprocal),
            UnaryOp::Abs => Some(VecUnary::Abs),
            UnaryOp::Relu => Some(VecUnary::Relu),
            _ => None,
        };
        if elem == Elem::I32 && !matches!(u, UnaryOp::Neg | UnaryOp::Relu) {
            return Err(self.unsupported(
                op,
                format!(
                    "`{}` on i32 has no vector instruction on this target",
                    u.name()
                ),
            ));
        }
        let exact = matches!(u, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu);
        match u {
            UnaryOp::Neg => self.emit(InstData::Scalar {
                op: VecScalar::Muls,
                dst,
                src,
                scalar: one(elem, -1.0),
            }),
            UnaryOp::Sigmoid | UnaryOp::Silu | UnaryOp::Tanh => {
                // sigmoid(x) = 1 / (1 + e^-x); silu(x) = x * sigmoid(x); tanh(x) = 2 * sigmoid(2x) - 1.
                let t = self.like("t", Elem::F32, src);
                let k = if u == UnaryOp::Tanh { -2.0 } else { -1.0 };
                self.emit(InstData::Scalar {
                    op: VecScalar::Muls,
                    dst: t,
                    src,
                    scalar: Scalar::f32(k),
                });
                self.emit(InstData::Unary {
                    op: VecUnary::Exp,
                    dst: t,
                    src: t,
                });
                self.emit(InstData::Scalar {
                    op: VecScalar::Adds,
                    dst: t,
                    src: t,
                    scalar: Scalar::f32(1.0),
                });
                match u {
                    UnaryOp::Sigmoid => self.emit(InstData::Unary {
                        op: VecUnary::Reciprocal,
                        dst,
                        src: t,
                    }),
                    UnaryOp::Silu => self.emit(InstData::Binary {
                        op: VecBinary::Div,
                        dst,
                        lhs: src,
                        rhs: t,
                    }),
                    _ => {
                        self.emit(InstData::Unary {
                            op: VecUnary::Reciprocal,
                            dst: t,
                            src: t,
                        });
                        self.emit(InstData::Scalar {
                            op: VecScalar::Muls,
                            dst: t,
                            src: t,
                            scalar: Scalar::f32(2.0),
                        });
                        self.emit(InstData::Scalar {
                            op: VecScalar::Adds,
                            dst,
                            src: t,
                            scalar: Scalar::f32(-1.0),
                        });
                    }
                }
            }
            _ => match simple(u) {
                Some(v) => self.emit(InstData::Unary { op: v, dst, src }),
                None => return Err(self.unsupported(op, "unknown unary op")),
            },
        }
        if u == UnaryOp::Relu && elem == Elem::F32 {
            // relu(NaN) is NaN (README "Numeric rules"); `Relu` does not document it.
            self.keep_nan(dst, src);
        }
        if !exact {
            self.round_to(dst, dtype);
        }
        self.tile.insert(res, dst);
        Ok(())
    }

    fn binary(
        &mut self,
        op: Op,
        b: BinaryOp,
        lhs: Value,
        rhs: Value,
        res: Value,
    ) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        let elem = Elem::compute(dtype);
        if elem == Elem::I32 && b == BinaryOp::Div {
            return Err(self.unsupported(
                op,
                "integer division has no vector instruction on this target",
            ));
        }
        let vb = match b {
            BinaryOp::Add => VecBinary::Add,
            BinaryOp::Sub => VecBinary::Sub,
            BinaryOp::Mul => VecBinary::Mul,
            BinaryOp::Div => VecBinary::Div,
            BinaryOp::Max => VecBinary::Max,
            BinaryOp::Min => VecBinary::Min,
        };
        let (bl, br) = (self.bcast(op, lhs, res)?, self.bcast(op, rhs, res)?);
        let dst = self.result_tile(res, elem);
        let scalar_form = |b: BinaryOp, s: Scalar, swapped: bool| -> Option<(VecScalar, Scalar)> {
            let neg = match s {
                Scalar::F32(bits) => Scalar::F32(bits ^ 0x8000_0000),
                Scalar::I32(i) => Scalar::I32(i.wrapping_neg()),
            };
            match (b, swapped) {
                (BinaryOp::Add, _) => Some((VecScalar::Adds, s)),
                (BinaryOp::Mul, _) => Some((VecScalar::Muls, s)),
                (BinaryOp::Max, _) => Some((VecScalar::Maxs, s)),
                (BinaryOp::Min, _) => Some((VecScalar::Mins, s)),
                // x - c == x + (-c) exactly.
                (BinaryOp::Sub, false) => Some((VecScalar::Adds, neg)),
                _ => None,
            }
        };
        let one_neg = if elem == Elem::I32 {
            Scalar::I32(-1)
        } else {
            Scalar::f32(-1.0)
        };
        match (bl, br) {
            (Bcast::Same, Bcast::Scalar) | (Bcast::Scalar, Bcast::Same) => {
                let swapped = bl == Bcast::Scalar;
                let (tv, sv) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
                let src = self.value_tile(op, tv)?;
                let s = self
                    .scalar(sv)
                    .ok_or_else(|| self.unsupported(op, "constant operand"))?;
                let s = match (s, elem) {
                    (Scalar::I32(i), Elem::F32) => Scalar::f32(i as f32),
                    (s, _) => s,
                };
                if let Some((vs, s)) = scalar_form(b, s, swapped) {
                    self.emit(InstData::Scalar {
                        op: vs,
                        dst,
                        src,
                        scalar: s,
                    });
                } else if b == BinaryOp::Sub {
                    // c - x == (-x) + c exactly.
                    self.emit(InstData::Scalar {
                        op: VecScalar::Muls,
                        dst,
                        src,
                        scalar: one_neg,
                    });
                    self.emit(InstData::Scalar {
                        op: VecScalar::Adds,
                        dst,
                        src: dst,
                        scalar: s,
                    });
                } else {
                    let c = self.full_operand(op, sv, res, elem)?;
                    let (l, r) = if swapped { (c, src) } else { (src, c) };
                    self.emit(InstData::Binary {
                        op: vb,
                        dst,
                        lhs: l,
                        rhs: r,
                    });
                }
            }
            (Bcast::Same, Bcast::Seg { .. } | Bcast::Vec { .. })
            | (Bcast::Seg { .. } | Bcast::Vec { .. }, Bcast::Same)
                if bl == Bcast::Same || !matches!(b, BinaryOp::Sub | BinaryOp::Div) =>
            {
                // Apply the broadcast operand in place with repeat strides (commutative ops may have it
                // on the left).
                let (tv, bv, bc) = if bl == Bcast::Same {
                    (lhs, rhs, br)
                } else {
                    (rhs, lhs, bl)
                };
                let src = self.value_tile(op, tv)?;
                let other = self.value_tile(op, bv)?;
                let (cols, _) = self.row_class(res).unwrap_or((1, &[]));
                match bc {
                    Bcast::Seg { segs, len } => {
                        let seg = self.seg_view(cols, segs, len);
                        self.seg_binary(vb, dst, src, other, seg);
                    }
                    Bcast::Vec { segs, len } => {
                        let seg = self.seg_view(cols, segs, len);
                        self.emit(InstData::VecBinary {
                            op: vb,
                            dst,
                            lhs: src,
                            src: other,
                            seg,
                        });
                    }
                    _ => {}
                }
            }
            _ => {
                let l = self.full_operand(op, lhs, res, elem)?;
                let r = self.full_operand(op, rhs, res, elem)?;
                self.emit(InstData::Binary {
                    op: vb,
                    dst,
                    lhs: l,
                    rhs: r,
                });
            }
        }
        if !matches!(b, BinaryOp::Max | BinaryOp::Min) {
            self.round_to(dst, dtype);
        } else if elem == Elem::F32 {
            // A NaN operand gives NaN (README "Numeric rules"); what `Max`/`Min` do with a NaN is not
            // documented, so the NaNs are put back explicitly. Constants are never NaN.
            for (v, bc) in [(lhs, bl), (rhs, br)] {
                if bc != Bcast::Scalar {
                    let operand = self.full_operand(op, v, res, elem)?;
                    self.keep_nan(dst, operand);
                }
            }
        }
        self.tile.insert(res, dst);
        Ok(())
    }

    /// `dst = x` where `x` is NaN (`x != x`), else `dst` unchanged: propagates NaN through an
    /// instruction whose NaN behaviour is not documented.
    fn keep_nan(&mut self, dst: Tile, x: Tile) {
        let not_nan = self.like("not_nan", Elem::Mask, x);
        self.emit(InstData::Compare {
            dst: not_nan,
            lhs: x,
            rhs: x,
            mode: CmpMode::Eq,
        });
        self.emit(InstData::Select {
            dst,
            mask: not_nan,
            on_true: dst,
            on_false: SelectFalse::Tile(x),
        });
    }

    fn cast(&mut self, op: Op, x: Value, to: DType, res: Value) -> Result<(), LowerError> {
        let from = self.dtype(x);
        let src = self.value_tile(op, x)?;
        let (fe, te) = (Elem::compute(from), Elem::compute(to));
        let dst = match (fe, te) {
            (Elem::F32, Elem::F32) => {
                if !is16(to) || from == to {
                    // Widening (or same type): the f32 value is already exact.
                    self.tile.insert(res, src);
                    return Ok(());
                }
                // Round through a 16-bit scratch tile.
                let dst = self.result_tile(res, te);
                let half = self.like("round", Elem::storage(to), src);
                self.emit(InstData::Cast {
                    dst: half,
                    src,
                    round: Round::Rint,
                });
                self.emit(InstData::Cast {
                    dst,
                    src: half,
                    round: Round::None,
                });
                dst
            }
            (Elem::F32, Elem::I32) => {
                let dst = self.result_tile(res, te);
                self.emit(InstData::Cast {
                    dst,
                    src,
                    round: Round::Trunc,
                });
                dst
            }
            (Elem::I32, Elem::F32) => {
                let dst = self.result_tile(res, te);
                self.emit(InstData::Cast {
                    dst,
                    src,
                    round: Round::Rint,
                });
                self.round_to(dst, to);
                dst
            }
            (Elem::I32, Elem::I32) | (Elem::Mask, Elem::Mask) => {
                self.tile.insert(res, src);
                return Ok(());
            }
            (Elem::Mask, _) => {
                let ones = self.like("ones", Elem::F32, src);
                self.emit(InstData::Duplicate {
                    dst: ones,
                    scalar: Scalar::f32(1.0),
                });
                if te == Elem::F32 {
                    let dst = self.result_tile(res, te);
                    self.emit(InstData::Select {
                        dst,
                        mask: src,
                        on_true: ones,
                        on_false: SelectFalse::Scalar(Scalar::f32(0.0)),
                    });
                    dst
                } else {
                    let f = self.like("flt", Elem::F32, src);
                    self.emit(InstData::Select {
                        dst: f,
                        mask: src,
                        on_true: ones,
                        on_false: SelectFalse::Scalar(Scalar::f32(0.0)),
                    });
                    let dst = self.result_tile(res, te);
                    self.emit(InstData::Cast {
                        dst,
                        src: f,
                        round: Round::Rint,
                    });
                    dst
                }
            }
            (_, Elem::Mask) => {
                let zero = self.like("zero", fe, src);
                let s = if fe == Elem::I32 {
                    Scalar::I32(0)
                } else {
                    Scalar::f32(0.0)
                };
                self.emit(InstData::Duplicate {
                    dst: zero,
                    scalar: s,
                });
                let dst = self.like(&res.to_string(), Elem::Mask, src);
                if fe == Elem::I32 {
                    self.emit(InstData::Compare {
                        dst,
                        lhs: src,
                        rhs: zero,
                        mode: CmpMode::Eq,
                    });
                    self.emit(InstData::Not { dst, src: dst });
                } else {
                    self.emit(InstData::Compare {
                        dst,
                        lhs: src,
                        rhs: zero,
                        mode: CmpMode::Ne,
                    });
                }
                dst
            }
            _ => return Err(self.unsupported(op, "unsupported conversion")),
        };
        self.tile.insert(res, dst);
        Ok(())
    }

    fn compare(
        &mut self,
        op: Op,
        c: CmpOp,
        lhs: Value,
        rhs: Value,
        res: Value,
    ) -> Result<(), LowerError> {
        let elem = Elem::compute(self.dtype(lhs));
        let l = self.full_operand(op, lhs, res, elem)?;
        let r = self.full_operand(op, rhs, res, elem)?;
        let mode = match c {
            CmpOp::Eq => CmpMode::Eq,
            CmpOp::Ne => CmpMode::Ne,
            CmpOp::Lt => CmpMode::Lt,
            CmpOp::Le => CmpMode::Le,
            CmpOp::Gt => CmpMode::Gt,
            CmpOp::Ge => CmpMode::Ge,
        };
        let dst = self.like(&res.to_string(), Elem::Mask, l);
        if elem == Elem::I32 {
            match mode {
                CmpMode::Eq => self.emit(InstData::Compare { dst, lhs: l, rhs: r, mode }),
                CmpMode::Ne => {
                    self.emit(InstData::Compare { dst, lhs: l, rhs: r, mode: CmpMode::Eq });
                    self.emit(InstData::Not { dst, src: dst });
                }
                _ => {
                    return Err(self.unsupported(
                        op,
                        "ordering comparisons of i32 have no vector instruction on this target (only eq and ne)",
                    ))
                }
            }
        } else {
            self.emit(InstData::Compare {
                dst,
                lhs: l,
                rhs: r,
                mode,
            });
        }
        self.tile.insert(res, dst);
        Ok(())
    }

    fn select(&mut self, op: Op, args: &[Value], res: Value) -> Result<(), LowerError> {
        let (cond, a, b) = (args[0], args[1], args[2]);
        if self.bcast(op, cond, res)? != Bcast::Same {
            return Err(
                self.unsupported(op, "the condition of a select must have the result's shape")
            );
        }
        let elem = Elem::compute(self.dtype(res));
        let mask = self.value_tile(op, cond)?;
        let on_true = self.full_operand(op, a, res, elem)?;
        let on_false = match (self.bcast(op, b, res)?, self.scalar(b)) {
            (Bcast::Scalar, Some(s)) if elem == Elem::F32 => SelectFalse::Scalar(match s {
                Scalar::I32(i) => Scalar::f32(i as f32),
                s => s,
            }),
            _ => SelectFalse::Tile(self.full_operand(op, b, res, elem)?),
        };
        let dst = self.result_tile(res, elem);
        self.emit(InstData::Select {
            dst,
            mask,
            on_true,
            on_false,
        });
        self.tile.insert(res, dst);
        Ok(())
    }

    /// The segment view of `cols`-wide rows in `segs` segments of `len`.
    fn seg_view(&self, cols: u32, segs: u32, len: u32) -> SegView {
        SegView {
            segs,
            len,
            stride: if segs > 1 {
                len
            } else {
                self.layouts.stride(cols)
            },
        }
    }

    /// A dense tile of one value per segment (`segs` per row).
    fn per_seg_tile(&mut self, name: &str, elem: Elem, segs: u32) -> Tile {
        self.tile_in(
            name,
            elem,
            Rows::Tile { mult: 1 },
            segs,
            segs,
            BufferKind::Scratch,
        )
    }

    fn seg_reduce(&mut self, rop: SegReduceOp, dst: Tile, src: Tile, seg: SegView) {
        let fold = (seg.len > 64).then(|| {
            let segs = seg.segs;
            self.tile_in(
                "fold",
                Elem::F32,
                Rows::Tile { mult: segs },
                64,
                64,
                BufferKind::Scratch,
            )
        });
        self.emit(InstData::SegReduce {
            op: rop,
            dst,
            src,
            seg,
            fold,
        });
    }

    fn seg_expand(&mut self, src: Tile, like: Tile, seg: SegView) -> Tile {
        let elem = self.f.tiles[src].elem;
        let dst = self.like("bcast", elem, like);
        let blocks = self.tile_in(
            "blocks",
            elem,
            Rows::Tile { mult: seg.segs },
            8,
            8,
            BufferKind::Scratch,
        );
        self.emit(InstData::SegExpand {
            dst,
            src,
            seg,
            blocks,
        });
        dst
    }

    /// `dst = lhs <op> src` with one `src` value per segment of `lhs`.
    fn seg_binary(&mut self, op: VecBinary, dst: Tile, lhs: Tile, src: Tile, seg: SegView) {
        let elem = self.f.tiles[src].elem;
        let blocks = self.tile_in(
            "blocks",
            elem,
            Rows::Tile { mult: seg.segs },
            8,
            8,
            BufferKind::Scratch,
        );
        self.emit(InstData::SegBinary {
            op,
            dst,
            lhs,
            src,
            seg,
            blocks,
        });
    }

    fn reduce(
        &mut self,
        op: Op,
        r: ReduceOp,
        axis: u32,
        x: Value,
        res: Value,
    ) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        if Elem::compute(dtype) != Elem::F32 {
            return Err(self.unsupported(
                op,
                "integer reductions have no vector instruction on this target",
            ));
        }
        let (segs, len) = self.last_axis_segs(op, x, axis)?;
        let (cols, _) = self.row_class(x).unwrap_or((1, &[]));
        let src = self.value_tile(op, x)?;
        let seg = self.seg_view(cols, segs, len);
        let dst = self.result_tile(res, Elem::F32);
        match r {
            ReduceOp::Sum | ReduceOp::Mean => self.seg_reduce(SegReduceOp::Sum, dst, src, seg),
            ReduceOp::Max | ReduceOp::Min => self.nan_extremum(r == ReduceOp::Min, dst, src, seg),
        }
        if r == ReduceOp::Mean {
            let n = self.like("seg_len", Elem::F32, dst);
            self.emit(InstData::Duplicate {
                dst: n,
                scalar: Scalar::f32(len as f32),
            });
            self.emit(InstData::Binary {
                op: VecBinary::Div,
                dst,
                lhs: dst,
                rhs: n,
            });
        }
        if r != ReduceOp::Max && r != ReduceOp::Min {
            self.round_to(dst, dtype);
        }
        self.tile.insert(res, dst);
        Ok(())
    }

    /// `dst = max(segment)` (`min` with `min`), NaN when the segment holds one (README "Numeric rules").
    /// The extremum instruction sees `x` with NaN replaced by the weakest value, since what it does with a
    /// NaN is not documented; a sum of NaN where `x` is NaN and -0.0 elsewhere is then added, which is NaN
    /// when there was one and leaves every other result exact.
    fn nan_extremum(&mut self, min: bool, dst: Tile, src: Tile, seg: SegView) {
        let (weakest, extremum) = if min {
            (f32::INFINITY, SegReduceOp::Min)
        } else {
            (f32::NEG_INFINITY, SegReduceOp::Max)
        };
        let not_nan = self.like("not_nan", Elem::Mask, src);
        self.emit(InstData::Compare {
            dst: not_nan,
            lhs: src,
            rhs: src,
            mode: CmpMode::Eq,
        });
        let key = self.like("key", Elem::F32, src);
        self.emit(InstData::Select {
            dst: key,
            mask: not_nan,
            on_true: src,
            on_false: SelectFalse::Scalar(Scalar::f32(weakest)),
        });
        self.seg_reduce(extremum, dst, key, seg);
        let is_nan = self.like("is_nan", Elem::Mask, src);
        self.emit(InstData::Not {
            dst: is_nan,
            src: not_nan,
        });
        let nan_part = self.like("nan_part", Elem::F32, src);
        self.emit(InstData::Select {
            dst: nan_part,
            mask: is_nan,
            on_true: src,
            on_false: SelectFalse::Scalar(Scalar::f32(-0.0)),
        });
        let nan_sum = self.like("nan_sum", Elem::F32, dst);
        self.seg_reduce(SegReduceOp::Sum, nan_sum, nan_part, seg);
        self.emit(InstData::Binary {
            op: VecBinary::Add,
            dst,
            lhs: dst,
            rhs: nan_sum,
        });
    }

    fn softmax(
        &mut self,
        op: Op,
        x: Value,
        axis: u32,
        log: bool,
        res: Value,
    ) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        let (segs, len) = self.last_axis_segs(op, x, axis)?;
        let (cols, _) = self.row_class(x).unwrap_or((1, &[]));
        let src = self.value_tile(op, x)?;
        let seg = self.seg_view(cols, segs, len);
        // m = max(x); y = x - m; e = exp(y); s = sum(e)
        let m = self.per_seg_tile("seg_max", Elem::F32, segs);
        self.seg_reduce(SegReduceOp::Max, m, src, seg);
        let y = self.like("shifted", Elem::F32, src);
        self.seg_binary(VecBinary::Sub, y, src, m, seg);
        let e = self.like("exp", Elem::F32, src);
        self.emit(InstData::Unary {
            op: VecUnary::Exp,
            dst: e,
            src: y,
        });
        let s = self.per_seg_tile("seg_sum", Elem::F32, segs);
        self.seg_reduce(SegReduceOp::Sum, s, e, seg);
        let dst = self.result_tile(res, Elem::F32);
        if log {
            // y - log(s)
            self.emit(InstData::Unary {
                op: VecUnary::Ln,
                dst: s,
                src: s,
            });
            self.seg_binary(VecBinary::Sub, dst, y, s, seg);
        } else {
            // e / s
            self.seg_binary(VecBinary::Div, dst, e, s, seg);
        }
        self.round_to(dst, dtype);
        self.tile.insert(res, dst);
        Ok(())
    }

    fn rms_norm(
        &mut self,
        op: Op,
        x: Value,
        w: Value,
        eps: f64,
        res: Value,
    ) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        let (cols, tail) = self
            .row_class(x)
            .ok_or_else(|| self.unsupported(op, "operand is not a row tensor"))?;
        let rank = tail.len() as u32;
        let (segs, len) = self.last_axis_segs(op, x, rank)?;
        let src = self.value_tile(op, x)?;
        let seg = self.seg_view(cols, segs, len);
        // x / sqrt(sum(x^2) / n + eps) * weight
        let sq = self.like("square", Elem::F32, src);
        self.emit(InstData::Binary {
            op: VecBinary::Mul,
            dst: sq,
            lhs: src,
            rhs: src,
        });
        let ms = self.per_seg_tile("mean_square", Elem::F32, segs);
        self.seg_reduce(SegReduceOp::Sum, ms, sq, seg);
        let n = self.per_seg_tile("seg_len", Elem::F32, segs);
        self.emit(InstData::Duplicate {
            dst: n,
            scalar: Scalar::f32(len as f32),
        });
        self.emit(InstData::Binary {
            op: VecBinary::Div,
            dst: ms,
            lhs: ms,
            rhs: n,
        });
        self.emit(InstData::Scalar {
            op: VecScalar::Adds,
            dst: ms,
            src: ms,
            scalar: Scalar::f32(eps as f32),
        });
        self.emit(InstData::Unary {
            op: VecUnary::Sqrt,
            dst: ms,
            src: ms,
        });
        let normed = self.like("normed", Elem::F32, src);
        self.seg_binary(VecBinary::Div, normed, src, ms, seg);
        let Some(Class::Resident { elems, .. }) = self.class.get(&w).cloned() else {
            return Err(self.unsupported(
                op,
                "the rms_norm weight must be a parameter without the row dim",
            ));
        };
        if elems != len {
            return Err(self.unsupported(
                op,
                "the rms_norm weight must have the length of the last axis",
            ));
        }
        let wt = self.value_tile(op, w)?;
        let dst = self.result_tile(res, Elem::F32);
        self.emit(InstData::VecBinary {
            op: VecBinary::Mul,
            dst,
            lhs: normed,
            src: wt,
            seg,
        });
        self.round_to(dst, dtype);
        self.tile.insert(res, dst);
        Ok(())
    }

    /// A resident tile holding, for every element of a `cols`-wide row split into `segs_x` segments of
    /// `last`, its index along the last axis (as `f32`).
    fn index_tile(&mut self, cols: u32, segs_x: u32, last: u32, like: Tile) -> Tile {
        let key = (last, segs_x, cols, 0);
        if let Some(&t) = self.iota.get(&key) {
            return t;
        }
        let row = self.tile_in(
            "iota",
            Elem::F32,
            Rows::Fixed(1),
            last,
            last.div_ceil(8) * 8,
            BufferKind::Resident,
        );
        self.push(
            StageKind::Init,
            InstData::Iota {
                dst: row,
                count: last,
            },
        );
        let d = self.f.tiles[like].clone();
        let full = self.tile_in(
            "index",
            Elem::F32,
            d.rows,
            d.cols,
            d.stride,
            BufferKind::Resident,
        );
        let seg = self.seg_view(cols, segs_x, last);
        self.push(
            StageKind::Init,
            InstData::VecExpand {
                dst: full,
                src: row,
                seg,
            },
        );
        self.iota.insert(key, full);
        full
    }

    /// Top-`k` of each of `groups` groups of the last axis (length `last`, `segs_x` per row) of `x`,
    /// lowest index first among equal values. Writes the values to `values` and the indices along the
    /// last axis to `indices` (either may be absent). With `min`, picks minima (argmin).
    #[allow(clippy::too_many_arguments)]
    fn select_k(
        &mut self,
        op: Op,
        x: Value,
        segs_x: u32,
        last: u32,
        groups: u32,
        k: u32,
        min: bool,
        values: Option<Value>,
        indices: Option<Value>,
    ) -> Result<(), LowerError> {
        let (cols, _) = self
            .row_class(x)
            .ok_or_else(|| self.unsupported(op, "operand is not a row tensor"))?;
        if Elem::compute(self.dtype(x)) != Elem::F32 {
            return Err(self.unsupported(op, "selection on i32 has no vector lowering yet"));
        }
        let src = self.value_tile(op, x)?;
        let segs = segs_x * groups;
        let seg = self.seg_view(cols, segs, last / groups);
        let index = self.index_tile(cols, segs_x, last, src);
        // Output layout for k > 1: `k` picks per segment.
        let out_cols = segs * k;
        let out_seg = SegView {
            segs,
            len: k,
            stride: if segs > 1 {
                k
            } else {
                self.layouts.stride(out_cols)
            },
        };
        // The selection rule (README "Numeric rules"): a NaN wins, then the largest value (the smallest with
        // `min`), the lowest index among equals (-0.0 equals +0.0). What the extremum instructions do with a
        // NaN is not documented, so they only ever see `key`, `x` with every NaN replaced by the weakest
        // value; NaN positions compete through the index candidates instead. Every candidate is an index
        // code: `i` for a NaN at index `i`, `last + i` for a value equal to the best key, and at least
        // `2 * last` for anything else (picked elements have their alive index set to `2 * last`), so one
        // minimum finds the pick and the result is always an index inside the segment.
        let (weakest, extremum) = if min {
            (f32::INFINITY, SegReduceOp::Min)
        } else {
            (f32::NEG_INFINITY, SegReduceOp::Max)
        };
        let gone = 2.0 * last as f32;
        let not_nan = self.like("not_nan", Elem::Mask, src);
        self.emit(InstData::Compare {
            dst: not_nan,
            lhs: src,
            rhs: src,
            mode: CmpMode::Eq,
        });
        let mut key = self.like("key", Elem::F32, src);
        self.emit(InstData::Select {
            dst: key,
            mask: not_nan,
            on_true: src,
            on_false: SelectFalse::Scalar(Scalar::f32(weakest)),
        });
        let mut alive_index = index;
        let mut picks: Vec<(Tile, Tile)> = Vec::new();
        for j in 0..k {
            let best = self.per_seg_tile("best", Elem::F32, segs);
            self.seg_reduce(extremum, best, key, seg);
            let best_b = self.seg_expand(best, src, seg);
            let hit = self.like("hit", Elem::Mask, src);
            self.emit(InstData::Compare {
                dst: hit,
                lhs: key,
                rhs: best_b,
                mode: CmpMode::Eq,
            });
            let shifted = self.like("index_plus", Elem::F32, src);
            self.emit(InstData::Scalar {
                op: VecScalar::Adds,
                dst: shifted,
                src: alive_index,
                scalar: Scalar::f32(last as f32),
            });
            let ranked = self.like("ranked", Elem::F32, src);
            self.emit(InstData::Select {
                dst: ranked,
                mask: hit,
                on_true: shifted,
                on_false: SelectFalse::Scalar(Scalar::f32(gone)),
            });
            let cand = self.like("cand", Elem::F32, src);
            self.emit(InstData::Select {
                dst: cand,
                mask: not_nan,
                on_true: ranked,
                on_false: SelectFalse::Tile(alive_index),
            });
            let code = self.per_seg_tile("best_code", Elem::F32, segs);
            self.seg_reduce(SegReduceOp::Min, code, cand, seg);
            // index = code - last * [code >= last], with [code >= last] = min(max(code + 1 - last, 0), 1) on
            // whole numbers.
            let over = self.per_seg_tile("over", Elem::F32, segs);
            for (op, scalar) in [
                (VecScalar::Adds, 1.0 - last as f32),
                (VecScalar::Maxs, 0.0),
                (VecScalar::Mins, 1.0),
                (VecScalar::Muls, -(last as f32)),
            ] {
                let from = if op == VecScalar::Adds { code } else { over };
                self.emit(InstData::Scalar {
                    op,
                    dst: over,
                    src: from,
                    scalar: Scalar::f32(scalar),
                });
            }
            let ix = self.per_seg_tile("best_index", Elem::F32, segs);
            self.emit(InstData::Binary {
                op: VecBinary::Add,
                dst: ix,
                lhs: code,
                rhs: over,
            });
            let mut value = ix;
            if values.is_some() || j + 1 < k {
                let ib = self.seg_expand(ix, src, seg);
                let is_pick = self.like("is_pick", Elem::Mask, src);
                self.emit(InstData::Compare {
                    dst: is_pick,
                    lhs: index,
                    rhs: ib,
                    mode: CmpMode::Eq,
                });
                if let Some(vv) = values {
                    // The picked value: a sum of x[pick] and -0.0 elsewhere, exact for every x (NaN and
                    // infinities included).
                    let picked = self.like("picked", Elem::F32, src);
                    self.emit(InstData::Select {
                        dst: picked,
                        mask: is_pick,
                        on_true: src,
                        on_false: SelectFalse::Scalar(Scalar::f32(-0.0)),
                    });
                    value = if k == 1 {
                        self.result_tile(vv, Elem::F32)
                    } else {
                        self.per_seg_tile("value", Elem::F32, segs)
                    };
                    self.seg_reduce(SegReduceOp::Sum, value, picked, seg);
                }
                if j + 1 < k {
                    // Knock the pick out of the later rounds.
                    let other = self.like("other", Elem::Mask, src);
                    self.emit(InstData::Not {
                        dst: other,
                        src: is_pick,
                    });
                    let next_index = self.like("alive_index", Elem::F32, src);
                    self.emit(InstData::Select {
                        dst: next_index,
                        mask: other,
                        on_true: alive_index,
                        on_false: SelectFalse::Scalar(Scalar::f32(gone)),
                    });
                    let next_key = self.like("key", Elem::F32, src);
                    self.emit(InstData::Select {
                        dst: next_key,
                        mask: other,
                        on_true: key,
                        on_false: SelectFalse::Scalar(Scalar::f32(weakest)),
                    });
                    alive_index = next_index;
                    key = next_key;
                }
            }
            picks.push((value, ix));
        }
        let (val_f, idx_f) = if k == 1 {
            picks[0]
        } else {
            // Merge the picks column by column into the output layout.
            let stride = out_seg.stride * if segs > 1 { segs } else { 1 };
            let col_row = self.tile_in(
                "pick",
                Elem::F32,
                Rows::Fixed(1),
                k,
                k.div_ceil(8) * 8,
                BufferKind::Resident,
            );
            self.push(
                StageKind::Init,
                InstData::Iota {
                    dst: col_row,
                    count: k,
                },
            );
            let col = self.tile_in(
                "pick_index",
                Elem::F32,
                Rows::Tile { mult: 1 },
                out_cols,
                stride,
                BufferKind::Resident,
            );
            self.push(
                StageKind::Init,
                InstData::VecExpand {
                    dst: col,
                    src: col_row,
                    seg: out_seg,
                },
            );
            let mut merged: [Option<Tile>; 2] = [None, None];
            for (j, &(v, ix)) in picks.iter().enumerate() {
                let mask = if j > 0 {
                    let jt = self.like("j", Elem::F32, col);
                    self.emit(InstData::Duplicate {
                        dst: jt,
                        scalar: Scalar::f32(j as f32),
                    });
                    let m = self.like("is_j", Elem::Mask, col);
                    self.emit(InstData::Compare {
                        dst: m,
                        lhs: col,
                        rhs: jt,
                        mode: CmpMode::Eq,
                    });
                    Some(m)
                } else {
                    None
                };
                for (slot, src1) in [v, ix].into_iter().enumerate() {
                    let b = self.seg_expand(src1, col, out_seg);
                    merged[slot] = Some(match (merged[slot], mask) {
                        (Some(prev), Some(m)) => {
                            let t = self.like("merged", Elem::F32, col);
                            self.emit(InstData::Select {
                                dst: t,
                                mask: m,
                                on_true: b,
                                on_false: SelectFalse::Tile(prev),
                            });
                            t
                        }
                        _ => b,
                    });
                }
            }
            match merged {
                [Some(a), Some(b)] => (a, b),
                _ => return Err(self.unsupported(op, "k must be at least 1")),
            }
        };
        if let Some(v) = values {
            let dst = if k == 1 {
                val_f
            } else {
                let dst = self.result_tile(v, Elem::F32);
                self.emit(InstData::Scalar {
                    op: VecScalar::Muls,
                    dst,
                    src: val_f,
                    scalar: Scalar::f32(1.0),
                });
                dst
            };
            self.tile.insert(v, dst);
        }
        if let Some(i) = indices {
            let dst = self.result_tile(i, Elem::I32);
            self.emit(InstData::Cast {
                dst,
                src: idx_f,
                round: Round::Rint,
            });
            self.tile.insert(i, dst);
        }
        Ok(())
    }

    fn gather(&mut self, op: Op, table: Value, index: Value, res: Value) -> Result<(), LowerError> {
        let Some(Class::Resident { dims, .. }) = self.class.get(&table).cloned() else {
            return Err(self.unsupported(
                op,
                "the gathered table must be a parameter without the row dim",
            ));
        };
        if dims.len() != 1 {
            return Err(self.unsupported(op, "only rank-1 tables can be gathered from yet"));
        }
        let t = self.value_tile(op, table)?;
        let ix = self.value_tile(op, index)?;
        let elem = self.f.tiles[t].elem;
        let dst = self.result_tile(res, elem);
        let offsets = self.like("offsets", Elem::I32, ix);
        self.emit(InstData::Gather {
            dst,
            table: t,
            index: ix,
            offsets,
        });
        self.tile.insert(res, dst);
        Ok(())
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
