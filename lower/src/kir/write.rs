//! The text form of the kernel IR, used in logs, errors and snapshot tests.
//!
//! ```text
//! kernel softmax_k0 aiv {
//!   arg0 = input x: f32[T, 64] rows(64)
//!   f0 rows = T
//!   split tile_rows=64 fields=f0,f1,f2
//!   rows = T
//!   block_dim = min(48, max(T, 1))
//!   buf0 = ub queue(q0) x2 bytes=16384 "x"
//!   q0 = vecin depth=1 buf0
//!   t0 = f32[tile, 64/64] q0 "x"
//! copy_in:
//!   i0 = copy_in t0, arg0
//! ...
//! }
//! ```
//!
//! Instruction lines may carry a `;` comment through a [`Decorate`] hook; the default names the graph op
//! that produced the instruction and its DSL source location (`@line:col-line:col`), which
//! [`super::parse`] reads back. Fields are `split tile_rows=N fields=ROWS,PER_CORE,REM` (the fields
//! holding the row count, the rows per core and the remainder), then the `rows` and `block_dim`
//! expressions on lines of their own.

use std::fmt;

use super::{
    Access, ArgRole, BufferKind, CmpMode, Function, Home, Inst, InstData, MemSpace, Pipe, QueuePos,
    Round, Rows, Scalar, SegReduceOp, SegView, SelectFalse, VecBinary, VecScalar, VecUnary,
};

/// Hooks to add comments to the text form. The default prints the instruction's note and location.
pub trait Decorate {
    /// Writes the comment after an instruction (including the leading `  ; `), or nothing.
    fn inst_comment(&mut self, w: &mut dyn fmt::Write, func: &Function, inst: Inst) -> fmt::Result {
        let note = func.notes.get(inst).map(String::as_str).unwrap_or("");
        let loc = func.locs.get(inst).copied().unwrap_or_default();
        match (note.is_empty(), loc.is_unknown()) {
            (true, true) => Ok(()),
            (false, true) => write!(w, "  ; {note}"),
            (true, false) => write!(
                w,
                "  ; @{}:{}-{}:{}",
                loc.line, loc.col, loc.end_line, loc.end_col
            ),
            (false, false) => {
                write!(
                    w,
                    "  ; {note} @{}:{}-{}:{}",
                    loc.line, loc.col, loc.end_line, loc.end_col
                )
            }
        }
    }
}

/// The default decoration.
pub struct PlainDecorate;

impl Decorate for PlainDecorate {}

/// Writes `func` in the text form with the default comments.
pub fn write_function(w: &mut dyn fmt::Write, func: &Function) -> fmt::Result {
    write_function_decorated(w, func, &mut PlainDecorate)
}

/// `func` in the text form, as a string.
pub fn function_to_string(func: &Function) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_function(&mut s, func);
    s
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_function(f, self)
    }
}

/// Writes `func` in the text form, with comments from `decorate`.
pub fn write_function_decorated(
    w: &mut dyn fmt::Write,
    func: &Function,
    decorate: &mut dyn Decorate,
) -> fmt::Result {
    let core = match func.core {
        super::CoreKind::Aiv => "aiv",
        super::CoreKind::Aic => "aic",
        super::CoreKind::Mix => "mix",
    };
    writeln!(w, "kernel {} {core} {{", func.name)?;
    for (arg, data) in &func.args {
        let role = match data.role {
            ArgRole::Input => "input",
            ArgRole::Output => "output",
        };
        write!(w, "  {arg} = {role} {}: {}[", data.name, data.dtype)?;
        for (i, d) in data.shape.iter().enumerate() {
            if i > 0 {
                w.write_str(", ")?;
            }
            write!(w, "{d}")?;
        }
        match data.access {
            Access::Rows { cols } => writeln!(w, "] rows({cols})")?,
            Access::Whole { elems } => writeln!(w, "] whole({elems})")?,
        }
    }
    for (field, data) in &func.fields {
        writeln!(w, "  {field} {} = {}", data.name, data.expr)?;
    }
    let s = &func.split;
    writeln!(
        w,
        "  split tile_rows={} fields={},{},{}",
        s.tile_rows, s.rows_field, s.per_core_field, s.rem_field
    )?;
    writeln!(w, "  rows = {}", s.rows)?;
    writeln!(w, "  block_dim = {}", s.block_dim)?;
    for (buf, data) in &func.buffers {
        let space = match data.space {
            MemSpace::Gm => "gm",
            MemSpace::Ub => "ub",
            MemSpace::L1 => "l1",
            MemSpace::L0a => "l0a",
            MemSpace::L0b => "l0b",
            MemSpace::L0c => "l0c",
        };
        let kind = match data.kind {
            BufferKind::Queue(q) => format!("queue({q})"),
            BufferKind::Scratch => "scratch".to_string(),
            BufferKind::Resident => "resident".to_string(),
        };
        writeln!(
            w,
            "  {buf} = {space} {kind} x{} bytes={} \"{}\"",
            data.count, data.bytes, data.name
        )?;
    }
    for (q, data) in &func.queues {
        let pos = match data.pos {
            QueuePos::VecIn => "vecin",
            QueuePos::VecOut => "vecout",
        };
        writeln!(w, "  {q} = {pos} depth={} {}", data.depth, data.buffer)?;
    }
    for (t, data) in &func.tiles {
        let rows = match data.rows {
            Rows::Tile { mult: 1 } => "tile".to_string(),
            Rows::Tile { mult } => format!("tile*{mult}"),
            Rows::Fixed(n) => n.to_string(),
        };
        let home = match data.home {
            Home::Queue(q) => q.to_string(),
            Home::Buffer(b) => b.to_string(),
        };
        writeln!(
            w,
            "  {t} = {}[{rows}, {}/{}] {home} \"{}\"",
            data.elem.name(),
            data.cols,
            data.stride,
            data.name
        )?;
    }
    for (ev, data) in &func.events {
        writeln!(
            w,
            "  {ev} = {} -> {}",
            pipe_name(data.from),
            pipe_name(data.to)
        )?;
    }
    for stage in func.stages.values() {
        writeln!(w, "{}:", stage.kind.name())?;
        for &inst in &stage.insts {
            write!(w, "  {inst} = ")?;
            write_inst(w, &func.insts[inst])?;
            decorate.inst_comment(w, func, inst)?;
            writeln!(w)?;
        }
    }
    writeln!(w, "}}")
}

/// The text-form name of a pipe.
pub fn pipe_name(p: Pipe) -> &'static str {
    match p {
        Pipe::S => "s",
        Pipe::V => "v",
        Pipe::Mte2 => "mte2",
        Pipe::Mte3 => "mte3",
    }
}

fn write_seg(w: &mut dyn fmt::Write, seg: &SegView) -> fmt::Result {
    write!(w, "seg({}x{}/{})", seg.segs, seg.len, seg.stride)
}

/// Writes a scalar: floats with Rust's shortest round-trip form (`-inf`, `NaN` spelled out), ints plain.
pub fn write_scalar(w: &mut dyn fmt::Write, s: Scalar) -> fmt::Result {
    match s {
        Scalar::F32(bits) => {
            let v = f32::from_bits(bits);
            if v.is_nan() {
                write!(w, "nan:{bits:#x}")
            } else {
                write!(w, "{v:?}")
            }
        }
        Scalar::I32(v) => write!(w, "{v}i"),
    }
}

fn write_inst(w: &mut dyn fmt::Write, inst: &InstData) -> fmt::Result {
    match inst {
        InstData::CopyIn { dst, arg } => write!(w, "copy_in {dst}, {arg}"),
        InstData::CopyOut { arg, src } => write!(w, "copy_out {arg}, {src}"),
        InstData::Load { dst, arg } => write!(w, "load {dst}, {arg}"),
        InstData::SetFlag(ev) => write!(w, "set_flag {ev}"),
        InstData::WaitFlag(ev) => write!(w, "wait_flag {ev}"),
        InstData::Unary { op, dst, src } => {
            let name = match op {
                VecUnary::Exp => "exp",
                VecUnary::Ln => "ln",
                VecUnary::Sqrt => "sqrt",
                VecUnary::Rsqrt => "rsqrt",
                VecUnary::Reciprocal => "reciprocal",
                VecUnary::Abs => "abs",
                VecUnary::Relu => "relu",
            };
            write!(w, "{name} {dst}, {src}")
        }
        InstData::Binary { op, dst, lhs, rhs } => {
            write!(w, "{} {dst}, {lhs}, {rhs}", binary_name(*op))
        }
        InstData::Scalar {
            op,
            dst,
            src,
            scalar,
        } => {
            let name = match op {
                VecScalar::Adds => "adds",
                VecScalar::Muls => "muls",
                VecScalar::Maxs => "maxs",
                VecScalar::Mins => "mins",
            };
            write!(w, "{name} {dst}, {src}, ")?;
            write_scalar(w, *scalar)
        }
        InstData::Duplicate { dst, scalar } => {
            write!(w, "duplicate {dst}, ")?;
            write_scalar(w, *scalar)
        }
        InstData::Cast { dst, src, round } => {
            let r = match round {
                Round::None => "none",
                Round::Rint => "rint",
                Round::Trunc => "trunc",
            };
            write!(w, "cast.{r} {dst}, {src}")
        }
        InstData::Compare {
            dst,
            lhs,
            rhs,
            mode,
        } => {
            write!(w, "compare.{} {dst}, {lhs}, {rhs}", cmp_name(*mode))
        }
        InstData::Not { dst, src } => write!(w, "not {dst}, {src}"),
        InstData::Select {
            dst,
            mask,
            on_true,
            on_false,
        } => {
            write!(w, "select {dst}, {mask}, {on_true}, ")?;
            match on_false {
                SelectFalse::Tile(t) => write!(w, "{t}"),
                SelectFalse::Scalar(s) => write_scalar(w, *s),
            }
        }
        InstData::SegReduce {
            op,
            dst,
            src,
            seg,
            fold,
        } => {
            let name = match op {
                SegReduceOp::Sum => "sum",
                SegReduceOp::Max => "max",
                SegReduceOp::Min => "min",
            };
            write!(w, "seg_reduce.{name} {dst}, {src} ")?;
            write_seg(w, seg)?;
            if let Some(f) = fold {
                write!(w, " fold={f}")?;
            }
            Ok(())
        }
        InstData::SegExpand {
            dst,
            src,
            seg,
            blocks,
        } => {
            write!(w, "seg_expand {dst}, {src} ")?;
            write_seg(w, seg)?;
            write!(w, " blocks={blocks}")
        }
        InstData::VecExpand { dst, src, seg } => {
            write!(w, "vec_expand {dst}, {src} ")?;
            write_seg(w, seg)
        }
        InstData::SegBinary {
            op,
            dst,
            lhs,
            src,
            seg,
            blocks,
        } => {
            write!(w, "seg_{} {dst}, {lhs}, {src} ", binary_name(*op))?;
            write_seg(w, seg)?;
            write!(w, " blocks={blocks}")
        }
        InstData::VecBinary {
            op,
            dst,
            lhs,
            src,
            seg,
        } => {
            write!(w, "vec_{} {dst}, {lhs}, {src} ", binary_name(*op))?;
            write_seg(w, seg)
        }
        InstData::Iota { dst, count } => write!(w, "iota {dst}, {count}"),
        InstData::Gather {
            dst,
            table,
            index,
            offsets,
        } => {
            write!(w, "gather {dst}, {table}, {index} offsets={offsets}")
        }
    }
}

/// The text-form name of a binary function.
pub fn binary_name(op: VecBinary) -> &'static str {
    match op {
        VecBinary::Add => "add",
        VecBinary::Sub => "sub",
        VecBinary::Mul => "mul",
        VecBinary::Div => "div",
        VecBinary::Max => "max",
        VecBinary::Min => "min",
    }
}

/// The text-form name of a comparison.
pub fn cmp_name(mode: CmpMode) -> &'static str {
    match mode {
        CmpMode::Lt => "lt",
        CmpMode::Gt => "gt",
        CmpMode::Eq => "eq",
        CmpMode::Le => "le",
        CmpMode::Ge => "ge",
        CmpMode::Ne => "ne",
    }
}
