//! The kernel-IR verifier: checks references first, then stage placement, operand types and layouts,
//! definitions before uses, event pairing, scratch sharing and buffer sizes. All errors are collected,
//! each tied to the entity at fault.

use std::fmt;

use cranelift_entity::{EntityRef, SecondaryMap};

use crate::graph::verify::write_lines;

use super::{
    Access, Arg, ArgRole, Buffer, BufferKind, CmpMode, Elem, Event, Function, Home, Inst, InstData,
    QueuePos, Rows, Scalar, SegView, SelectFalse, Stage, StageKind, Tile, VecBinary, VecUnary,
};

/// Any entity an error can be tied to.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum AnyEntity {
    /// The function as a whole.
    Function,
    /// An argument.
    Arg(Arg),
    /// A buffer.
    Buffer(Buffer),
    /// A tile.
    Tile(Tile),
    /// A stage.
    Stage(Stage),
    /// An instruction.
    Inst(Inst),
    /// An event.
    Event(Event),
}

impl fmt::Display for AnyEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyEntity::Function => f.write_str("function"),
            AnyEntity::Arg(e) => write!(f, "{e}"),
            AnyEntity::Buffer(e) => write!(f, "{e}"),
            AnyEntity::Tile(e) => write!(f, "{e}"),
            AnyEntity::Stage(e) => write!(f, "{e}"),
            AnyEntity::Inst(e) => write!(f, "{e}"),
            AnyEntity::Event(e) => write!(f, "{e}"),
        }
    }
}

/// One verifier error.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KirVerifierError {
    /// The entity at fault.
    pub entity: AnyEntity,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for KirVerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.entity, self.message)
    }
}

/// Every error the verifier found.
#[derive(Clone, PartialEq, Eq, Debug, Default, thiserror::Error)]
pub struct KirVerifierErrors(pub Vec<KirVerifierError>);

impl fmt::Display for KirVerifierErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_lines(f, &self.0)
    }
}

/// The element types of numeric tiles.
const NUM: &[Elem] = &[Elem::F32, Elem::I32];
/// The element types of float tiles.
const FLOAT: &[Elem] = &[Elem::F32];

/// Which way a GM copy moves data.
#[derive(Copy, Clone)]
enum Direction {
    /// GM to UB (`copy_in`).
    In,
    /// UB to GM (`copy_out`).
    Out,
}

struct Verifier<'a> {
    func: &'a Function,
    errors: Vec<KirVerifierError>,
}

/// Verifies `func`; returns every error found.
pub fn verify(func: &Function) -> Result<(), KirVerifierErrors> {
    let mut v = Verifier {
        func,
        errors: Vec::new(),
    };
    if v.references() {
        v.stages();
        v.insts();
        v.def_use();
        v.events();
        v.scratch_sharing();
        v.sizes();
    }
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(KirVerifierErrors(v.errors))
    }
}

impl Verifier<'_> {
    fn err(&mut self, entity: AnyEntity, message: impl Into<String>) {
        self.errors.push(KirVerifierError {
            entity,
            message: message.into(),
        });
    }

    fn tile_ok(&self, t: Tile) -> bool {
        t.index() < self.func.tiles.len()
    }

    /// Checks that every id is in range, so the other checks may index freely. Returns false if not.
    fn references(&mut self) -> bool {
        let f = self.func;
        let before = self.errors.len();
        for (field, what) in [
            (f.split.rows_field, "rows"),
            (f.split.per_core_field, "per_core"),
            (f.split.rem_field, "rem"),
        ] {
            if field.index() >= f.fields.len() {
                self.err(
                    AnyEntity::Function,
                    format!("split {what} field {field} does not exist"),
                );
            }
        }
        for (b, data) in &f.buffers {
            if let BufferKind::Queue(q) = data.kind {
                if q.index() >= f.queues.len() {
                    self.err(AnyEntity::Buffer(b), format!("queue {q} does not exist"));
                }
            }
        }
        for q in f.queues.values() {
            if q.buffer.index() >= f.buffers.len() {
                self.err(
                    AnyEntity::Function,
                    format!("queue buffer {} does not exist", q.buffer),
                );
            }
        }
        for (t, data) in &f.tiles {
            let ok = match data.home {
                Home::Queue(q) => q.index() < f.queues.len(),
                Home::Buffer(b) => b.index() < f.buffers.len(),
            };
            if !ok {
                self.err(AnyEntity::Tile(t), "its home does not exist");
            }
        }
        let mut seen: SecondaryMap<Inst, bool> = SecondaryMap::new();
        for (s, stage) in &f.stages {
            for &i in &stage.insts {
                if i.index() >= f.insts.len() {
                    self.err(
                        AnyEntity::Stage(s),
                        format!("instruction {i} does not exist"),
                    );
                    continue;
                }
                if seen[i] {
                    self.err(AnyEntity::Inst(i), "appears in more than one place");
                }
                seen[i] = true;
            }
        }
        for (i, data) in &f.insts {
            if !seen[i] {
                self.err(AnyEntity::Inst(i), "is in no stage");
            }
            for t in data.reads().into_iter().chain(data.writes()) {
                if !self.tile_ok(t) {
                    self.err(AnyEntity::Inst(i), format!("tile {t} does not exist"));
                }
            }
            match data {
                InstData::CopyIn { arg, .. }
                | InstData::CopyOut { arg, .. }
                | InstData::Load { arg, .. }
                    if arg.index() >= f.args.len() =>
                {
                    self.err(AnyEntity::Inst(i), format!("argument {arg} does not exist"))
                }
                InstData::SetFlag(e) | InstData::WaitFlag(e) if e.index() >= f.events.len() => {
                    self.err(AnyEntity::Inst(i), format!("event {e} does not exist"))
                }
                _ => {}
            }
        }
        self.errors.len() == before
    }

    fn stages(&mut self) {
        let order = [
            StageKind::Init,
            StageKind::CopyIn,
            StageKind::Compute,
            StageKind::CopyOut,
        ];
        let mut next = 0;
        for (s, stage) in &self.func.stages {
            match order[next..].iter().position(|k| *k == stage.kind) {
                Some(p) => next += p + 1,
                None => self.err(
                    AnyEntity::Stage(s),
                    format!("stage `{}` is out of order or repeated", stage.kind.name()),
                ),
            }
        }
        for (q, data) in &self.func.queues {
            let n = self
                .func
                .tiles
                .values()
                .filter(|t| t.home == Home::Queue(q))
                .count();
            if n != 1 {
                self.err(
                    AnyEntity::Function,
                    format!("queue {q} carries {n} tiles, expected exactly one"),
                );
            }
            if self.func.buffers[data.buffer].kind != BufferKind::Queue(q) {
                self.err(
                    AnyEntity::Buffer(data.buffer),
                    format!("is not the buffer of queue {q}"),
                );
            }
        }
    }

    fn queue_pos(&self, t: Tile) -> Option<QueuePos> {
        match self.func.tiles[t].home {
            Home::Queue(q) => Some(self.func.queues[q].pos),
            Home::Buffer(_) => None,
        }
    }

    fn is_resident(&self, t: Tile) -> bool {
        match self.func.tiles[t].home {
            Home::Buffer(b) => self.func.buffers[b].kind == BufferKind::Resident,
            Home::Queue(_) => false,
        }
    }

    /// Whether `t` is a scratch tile accessed only by the `init` stage.
    fn init_only(&self, t: Tile) -> bool {
        let f = self.func;
        let scratch =
            matches!(f.tiles[t].home, Home::Buffer(b) if f.buffers[b].kind == BufferKind::Scratch);
        scratch
            && f.stages
                .values()
                .filter(|s| s.kind != StageKind::Init)
                .all(|s| {
                    s.insts.iter().all(|&i| {
                        !f.insts[i].reads().contains(&t) && !f.insts[i].writes().contains(&t)
                    })
                })
    }

    fn insts(&mut self) {
        let f = self.func;
        for stage in f.stages.values() {
            for &i in &stage.insts {
                self.inst(i, stage.kind, &f.insts[i]);
            }
        }
    }

    fn same_layout(&mut self, i: Inst, tiles: &[Tile]) {
        let f = self.func;
        let first = &f.tiles[tiles[0]];
        for &t in &tiles[1..] {
            let d = &f.tiles[t];
            if d.rows != first.rows || d.stride != first.stride || d.cols != first.cols {
                self.err(
                    AnyEntity::Inst(i),
                    format!(
                        "operands {} and {t} have different layouts ({} cols / stride {} vs {} / {})",
                        tiles[0], first.cols, first.stride, d.cols, d.stride
                    ),
                );
            }
        }
    }

    fn elem_is(&mut self, i: Inst, t: Tile, allowed: &[Elem], what: &str) {
        let e = self.func.tiles[t].elem;
        if !allowed.contains(&e) {
            let names: Vec<&str> = allowed.iter().map(|e| e.name()).collect();
            self.err(
                AnyEntity::Inst(i),
                format!(
                    "{what} {t} is {}, expected {}",
                    e.name(),
                    names.join(" or ")
                ),
            );
        }
    }

    fn scalar_matches(&mut self, i: Inst, t: Tile, s: Scalar) {
        let e = self.func.tiles[t].elem;
        let ok = matches!(
            (e, s),
            (Elem::F32, Scalar::F32(_)) | (Elem::I32, Scalar::I32(_))
        );
        if !ok {
            self.err(
                AnyEntity::Inst(i),
                format!("scalar does not match the element type of {t}"),
            );
        }
    }

    fn seg_view(&mut self, i: Inst, t: Tile, seg: &SegView) {
        let d = &self.func.tiles[t];
        let ok_stride = if seg.segs > 1 {
            seg.segs * seg.stride == d.stride
        } else {
            seg.stride == d.stride
        };
        if seg.segs == 0
            || seg.len == 0
            || seg.len > seg.stride
            || !seg.stride.is_multiple_of(8)
            || !ok_stride
        {
            self.err(
                AnyEntity::Inst(i),
                format!(
                    "segments {}x{}/{} do not fit tile {t} ({} cols, stride {}) or are not 32-byte aligned",
                    seg.segs, seg.len, seg.stride, d.cols, d.stride
                ),
            );
        }
    }

    /// `dense` holds one element per segment of `full`, densely (any row grouping of the same count).
    fn per_segment(&mut self, i: Inst, dense: Tile, full: Tile, seg: &SegView) {
        let (dd, fd) = (&self.func.tiles[dense], &self.func.tiles[full]);
        let ok = match (dd.rows, fd.rows) {
            (Rows::Tile { mult: a }, Rows::Tile { mult: b }) => a * dd.cols == b * seg.segs,
            (Rows::Fixed(a), Rows::Fixed(b)) => a * dd.cols == b * seg.segs,
            _ => false,
        };
        if !ok || dd.stride != dd.cols {
            self.err(
                AnyEntity::Inst(i),
                format!("{dense} must hold one element per segment of {full}"),
            );
        }
    }

    /// Checks a `copy_in` or `copy_out` moving rows of `arg` through the queue tile `tile`.
    fn gm_copy(&mut self, i: Inst, stage: StageKind, tile: Tile, arg: Arg, dir: Direction) {
        let f = self.func;
        let (want_stage, want_pos, role, placement, access) = match dir {
            Direction::In => (
                StageKind::CopyIn,
                QueuePos::VecIn,
                ArgRole::Input,
                "fill a vecin",
                "an input read",
            ),
            Direction::Out => (
                StageKind::CopyOut,
                QueuePos::VecOut,
                ArgRole::Output,
                "drain a vecout",
                "an output written",
            ),
        };
        if stage != want_stage || self.queue_pos(tile) != Some(want_pos) {
            let name = want_stage.name();
            self.err(
                AnyEntity::Inst(i),
                format!("{name} must be in {name} and {placement} queue tile"),
            );
        }
        let a = &f.args[arg];
        match a.access {
            Access::Rows { cols } if a.role == role && cols == f.tiles[tile].cols => {}
            _ => self.err(
                AnyEntity::Inst(i),
                format!("{arg} is not {access} by rows of {tile}"),
            ),
        }
        if f.tiles[tile].elem != Elem::storage(a.dtype) {
            self.err(
                AnyEntity::Inst(i),
                format!("{tile} does not have the element type of {arg}"),
            );
        }
    }

    /// Checks the element types of a binary op `dst = lhs op rhs`: `rhs` and `dst` follow `lhs`.
    fn binary_operands(&mut self, i: Inst, op: VecBinary, dst: Tile, lhs: Tile, rhs: Tile) {
        let allowed = if op == VecBinary::Div { FLOAT } else { NUM };
        let elem = self.func.tiles[lhs].elem;
        self.elem_is(i, lhs, allowed, "operand");
        self.elem_is(i, rhs, &[elem], "operand");
        self.elem_is(i, dst, &[elem], "result");
    }

    /// `t` is one row holding at least `len` elements.
    fn one_row(&mut self, i: Inst, t: Tile, len: u32) {
        let d = &self.func.tiles[t];
        if d.rows != Rows::Fixed(1) || d.cols < len {
            self.err(
                AnyEntity::Inst(i),
                format!("{t} must be one row of at least {len} elements"),
            );
        }
    }

    /// The block scratch tile `blocks` of a segment op has stride 8.
    fn block_tile(&mut self, i: Inst, blocks: Tile) {
        if self.func.tiles[blocks].stride != 8 {
            self.err(
                AnyEntity::Inst(i),
                format!("block tile {blocks} must have stride 8"),
            );
        }
    }

    fn inst(&mut self, i: Inst, stage: StageKind, data: &InstData) {
        let f = self.func;
        let vector_stage = matches!(stage, StageKind::Init | StageKind::Compute);
        match data {
            InstData::CopyIn { dst, arg } => self.gm_copy(i, stage, *dst, *arg, Direction::In),
            InstData::CopyOut { arg, src } => self.gm_copy(i, stage, *src, *arg, Direction::Out),
            InstData::Load { dst, arg } => {
                let a = &f.args[*arg];
                if stage != StageKind::Init || !(self.is_resident(*dst) || self.init_only(*dst)) {
                    self.err(
                        AnyEntity::Inst(i),
                        "load must be in init and fill a resident or staging tile",
                    );
                }
                if !matches!(a.access, Access::Whole { elems } if elems <= f.tiles[*dst].cols)
                    || a.role != ArgRole::Input
                {
                    self.err(
                        AnyEntity::Inst(i),
                        format!("{arg} is not a whole input that fits {dst}"),
                    );
                }
            }
            InstData::SetFlag(_) | InstData::WaitFlag(_) => {}
            _ => {
                if !vector_stage {
                    self.err(
                        AnyEntity::Inst(i),
                        format!("vector work in stage `{}`", stage.name()),
                    );
                }
                if stage == StageKind::Init {
                    for t in data.writes() {
                        if !self.is_resident(t) && !self.init_only(t) {
                            self.err(
                                AnyEntity::Inst(i),
                                format!("init writes {t}, which is neither resident nor used only in init"),
                            );
                        }
                    }
                }
                self.vector_inst(i, data);
            }
        }
        for t in data.writes() {
            if self.queue_pos(t) == Some(QueuePos::VecIn)
                && !matches!(data, InstData::CopyIn { .. })
            {
                self.err(
                    AnyEntity::Inst(i),
                    format!("writes {t}, an input queue tile"),
                );
            }
        }
    }

    fn vector_inst(&mut self, i: Inst, data: &InstData) {
        let f = self.func;
        match data {
            InstData::Unary { op, dst, src } => {
                let allowed = if *op == VecUnary::Relu { NUM } else { FLOAT };
                self.elem_is(i, *src, allowed, "operand");
                self.elem_is(i, *dst, &[f.tiles[*src].elem], "result");
                self.same_layout(i, &[*dst, *src]);
            }
            InstData::Binary { op, dst, lhs, rhs } => {
                self.binary_operands(i, *op, *dst, *lhs, *rhs);
                self.same_layout(i, &[*dst, *lhs, *rhs]);
            }
            InstData::Scalar {
                dst, src, scalar, ..
            } => {
                self.elem_is(i, *src, NUM, "operand");
                self.elem_is(i, *dst, &[f.tiles[*src].elem], "result");
                self.scalar_matches(i, *src, *scalar);
                self.same_layout(i, &[*dst, *src]);
            }
            InstData::Duplicate { dst, scalar } => {
                self.elem_is(i, *dst, NUM, "result");
                self.scalar_matches(i, *dst, *scalar);
            }
            InstData::Cast { dst, src, .. } => {
                let (a, b) = (f.tiles[*dst].elem, f.tiles[*src].elem);
                if a == b || a == Elem::Mask || b == Elem::Mask {
                    self.err(
                        AnyEntity::Inst(i),
                        format!("cannot cast {} to {}", b.name(), a.name()),
                    );
                }
                self.same_layout(i, &[*dst, *src]);
            }
            InstData::Compare {
                dst,
                lhs,
                rhs,
                mode,
            } => {
                self.elem_is(i, *dst, &[Elem::Mask], "result");
                let allowed = if *mode == CmpMode::Eq { NUM } else { FLOAT };
                self.elem_is(i, *lhs, allowed, "operand");
                self.elem_is(i, *rhs, &[f.tiles[*lhs].elem], "operand");
                self.same_layout(i, &[*dst, *lhs, *rhs]);
            }
            InstData::Not { dst, src } => {
                self.elem_is(i, *dst, &[Elem::Mask], "result");
                self.elem_is(i, *src, &[Elem::Mask], "operand");
                self.same_layout(i, &[*dst, *src]);
            }
            InstData::Select {
                dst,
                mask,
                on_true,
                on_false,
            } => {
                self.elem_is(i, *mask, &[Elem::Mask], "mask");
                self.elem_is(i, *on_true, NUM, "operand");
                self.elem_is(i, *dst, &[f.tiles[*on_true].elem], "result");
                let mut tiles = vec![*dst, *mask, *on_true];
                match on_false {
                    SelectFalse::Tile(t) => {
                        self.elem_is(i, *t, &[f.tiles[*on_true].elem], "operand");
                        tiles.push(*t);
                    }
                    SelectFalse::Scalar(s) => self.scalar_matches(i, *on_true, *s),
                }
                self.same_layout(i, &tiles);
            }
            InstData::SegReduce {
                dst,
                src,
                seg,
                fold,
                ..
            } => {
                self.elem_is(i, *src, FLOAT, "operand");
                self.elem_is(i, *dst, FLOAT, "result");
                self.seg_view(i, *src, seg);
                self.per_segment(i, *dst, *src, seg);
                match fold {
                    Some(t) => {
                        let d = &f.tiles[*t];
                        // Long segments fold into a 64-element slot each; dense 64-element
                        // segments into 8 partials each (two BlockReduces).
                        let want = if seg.len > 64 {
                            Some(64)
                        } else if seg.len == 64 && seg.stride == 64 {
                            Some(8)
                        } else {
                            None
                        };
                        if want != Some(d.stride) || d.elem != Elem::F32 {
                            self.err(
                                AnyEntity::Inst(i),
                                format!(
                                    "fold tile {t} must be f32 with stride 64 (segments longer \
                                     than 64) or 8 (dense 64-element segments)"
                                ),
                            );
                        }
                    }
                    None if seg.len > 64 => self.err(
                        AnyEntity::Inst(i),
                        "segments longer than 64 need a fold tile",
                    ),
                    None => {}
                }
            }
            InstData::SegExpand {
                dst,
                src,
                seg,
                blocks,
            } => {
                self.elem_is(i, *src, NUM, "operand");
                self.elem_is(i, *dst, &[f.tiles[*src].elem], "result");
                self.elem_is(i, *blocks, &[f.tiles[*src].elem], "scratch");
                self.seg_view(i, *dst, seg);
                self.per_segment(i, *src, *dst, seg);
                // One-block segments broadcast straight into dst: no scratch to check.
                if !(blocks == dst && seg.is_blocks(f.tiles[*dst].elem)) {
                    self.block_tile(i, *blocks);
                }
            }
            InstData::VecExpand { dst, src, seg } => {
                self.elem_is(i, *src, NUM, "operand");
                self.elem_is(i, *dst, &[f.tiles[*src].elem], "result");
                self.seg_view(i, *dst, seg);
                self.one_row(i, *src, seg.len);
            }
            InstData::SegBinary {
                op,
                dst,
                lhs,
                src,
                seg,
                blocks,
            } => {
                self.binary_operands(i, *op, *dst, *lhs, *src);
                self.elem_is(i, *blocks, &[f.tiles[*lhs].elem], "scratch");
                self.same_layout(i, &[*dst, *lhs]);
                self.seg_view(i, *dst, seg);
                self.per_segment(i, *src, *dst, seg);
                self.block_tile(i, *blocks);
            }
            InstData::VecBinary {
                op,
                dst,
                lhs,
                src,
                seg,
            } => {
                self.binary_operands(i, *op, *dst, *lhs, *src);
                self.same_layout(i, &[*dst, *lhs]);
                self.seg_view(i, *dst, seg);
                self.one_row(i, *src, seg.len);
            }
            InstData::Iota { dst, count } => {
                self.elem_is(i, *dst, NUM, "result");
                let d = &f.tiles[*dst];
                let ok = match d.rows {
                    Rows::Fixed(1) => d.stride >= *count,
                    // A whole tile of rows is numbered: count is its row stride.
                    Rows::Tile { .. } => d.stride == *count,
                    Rows::Fixed(_) => false,
                };
                if !ok {
                    self.err(
                        AnyEntity::Inst(i),
                        format!("{dst} must be one row of at least {count} elements, or rows of stride {count}"),
                    );
                }
            }
            InstData::Gather {
                dst,
                table,
                index,
                offsets,
            } => {
                self.elem_is(i, *index, &[Elem::I32], "index");
                self.elem_is(i, *offsets, &[Elem::I32], "scratch");
                self.elem_is(i, *table, NUM, "table");
                self.elem_is(i, *dst, &[f.tiles[*table].elem], "result");
                self.same_layout(i, &[*dst, *index, *offsets]);
                if matches!(f.tiles[*table].rows, Rows::Fixed(n) if n != 1) {
                    self.err(
                        AnyEntity::Inst(i),
                        format!("table {table} must be one resident row or a tile of rows"),
                    );
                }
            }
            _ => {}
        }
    }

    /// Every tile is written before it is read, in the order init, copy_in, compute, copy_out.
    fn def_use(&mut self) {
        let f = self.func;
        let mut defined: SecondaryMap<Tile, bool> = SecondaryMap::new();
        for stage in f.stages.values() {
            for &i in &stage.insts {
                for t in f.insts[i].reads() {
                    if !defined[t] {
                        self.err(
                            AnyEntity::Inst(i),
                            format!("reads {t} before it is written"),
                        );
                    }
                }
                for t in f.insts[i].writes() {
                    defined[t] = true;
                }
            }
        }
    }

    fn events(&mut self) {
        let f = self.func;
        for (s, stage) in &f.stages {
            let mut pending: Vec<Event> = Vec::new();
            for &i in &stage.insts {
                match f.insts[i] {
                    InstData::SetFlag(e) => {
                        if pending.contains(&e) {
                            self.err(
                                AnyEntity::Inst(i),
                                format!("sets {e} again before it is waited for"),
                            );
                        }
                        pending.push(e);
                    }
                    InstData::WaitFlag(e) => match pending.iter().position(|p| *p == e) {
                        Some(p) => {
                            pending.remove(p);
                        }
                        None => self.err(
                            AnyEntity::Inst(i),
                            format!("waits for {e}, which is not set before"),
                        ),
                    },
                    _ => {}
                }
            }
            for e in pending {
                self.err(
                    AnyEntity::Stage(s),
                    format!("{e} is set but never waited for"),
                );
            }
        }
    }

    /// Tiles sharing a scratch buffer must not be live at the same time (in `init` then `compute` order).
    fn scratch_sharing(&mut self) {
        let f = self.func;
        let range = f.live_ranges();
        // The live tiles of each buffer, gathered in one pass (not one pass over all tiles per buffer,
        // which is quadratic in kernel size).
        let mut by_buffer: std::collections::BTreeMap<_, Vec<(Tile, (usize, usize))>> =
            Default::default();
        for (t, d) in &f.tiles {
            if let (Home::Buffer(b), Some(r)) = (d.home, range[t]) {
                by_buffer.entry(b).or_default().push((t, r));
            }
        }
        for (b, data) in &f.buffers {
            if data.kind != BufferKind::Scratch {
                continue;
            }
            let mut users = by_buffer.remove(&b).unwrap_or_default();
            users.sort_by_key(|(_, r)| *r);
            for w in users.windows(2) {
                let ((a, ra), (c, rc)) = (w[0], w[1]);
                if rc.0 <= ra.1 {
                    self.err(
                        AnyEntity::Buffer(b),
                        format!("{a} and {c} share it while both are live"),
                    );
                }
            }
        }
    }

    fn sizes(&mut self) {
        let f = self.func;
        let tile_rows = f.split.tile_rows;
        if tile_rows == 0 {
            return;
        }
        for (t, d) in &f.tiles {
            let buffer = match d.home {
                Home::Queue(q) => f.queues[q].buffer,
                Home::Buffer(b) => b,
            };
            let need = d.bytes(tile_rows);
            let have = f.buffers[buffer].bytes as u64;
            if need > have {
                self.err(
                    AnyEntity::Tile(t),
                    format!("needs {need} bytes but {buffer} has {have}"),
                );
            }
        }
    }
}
