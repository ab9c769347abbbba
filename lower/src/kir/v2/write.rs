//! The text form of kernel IR v2.
//!
//! ```text
//! program add
//! dim T
//! g0 = input x f32 [T, 64]
//! g1 = output y f32 [T, 64]
//! workspace `0`
//! f0 = field rows `T`
//! kernel k0 add_0 aiv block_dim `min(48, max(T, 1))` params(g0, g1) {
//!   buf0 = buf UB x2 256 "x"
//!   q0 = queue VECIN depth 2 buf0
//!   t0 = tensor f32 64 q0 "x"
//!   v0 = var "tile"
//!   ev0 = event MTE2 -> V
//!   for v0 in 0 .. f0 {
//!     i0 = alloc_tensor queue=q0 tensor=t0
//!     i1 = copy_in dst=t0 src=g0[v0 * 64] rows=1 cols=64 gm_pitch=64 ub_stride=64
//!   }
//! }
//! ```
//!
//! Host expressions (over the dynamic dims) are written between backquotes; device expressions
//! ([`IExpr`]) are plain infix over literals, fields `fN`, variables `vN`, `block_idx` and `block_num`,
//! with `min`, `max` and `ceil_div`. Instructions are `iN = mnemonic key=value ...`; the printed ids let a
//! program whose instructions were inserted by a pass print and parse back to the same ids.

use std::fmt::{self, Write};

use super::{
    BinOp, CoreKind, Elem, GmKind, GmRef, Home, IExpr, Inst, InstData, Kernel, MemSpace, Program,
    Quant, Scalar, Stmt, VecOp,
};
use crate::kir::{CmpMode, Round, SegReduceOp, SegView, VecBinary, VecScalar, VecUnary};

/// The program in text form.
pub fn program_to_string(p: &Program) -> String {
    let mut s = String::new();
    write_program(&mut s, p).expect("writing to a String cannot fail");
    s
}

/// A value of an instruction's `key=value` argument.
#[derive(Clone, PartialEq, Debug)]
pub(crate) enum Val {
    /// A device expression.
    Expr(IExpr),
    /// An entity or word.
    Word(String),
    /// A list of entities.
    List(Vec<String>),
    /// A GM location.
    Gm(GmRef),
}

pub(crate) fn mem_name(m: MemSpace) -> &'static str {
    match m {
        MemSpace::Gm => "GM",
        MemSpace::Ub => "UB",
        MemSpace::L1 => "L1",
        MemSpace::L0a => "L0A",
        MemSpace::L0b => "L0B",
        MemSpace::L0c => "L0C",
    }
}

pub(crate) fn core_name(c: CoreKind) -> &'static str {
    match c {
        CoreKind::Aiv => "aiv",
        CoreKind::Aic => "aic",
        CoreKind::Mix => "mix",
    }
}

fn write_program(w: &mut dyn Write, p: &Program) -> fmt::Result {
    writeln!(w, "program {}", p.name)?;
    for d in &p.dims {
        writeln!(w, "dim {d}")?;
    }
    for (g, d) in &p.gm {
        write!(w, "{g} = {} {} {} [", d.kind.name(), d.name, d.dtype)?;
        for (i, e) in d.shape.iter().enumerate() {
            if i > 0 {
                write!(w, ", ")?;
            }
            write!(w, "`{e}`")?;
        }
        write!(w, "]")?;
        if let GmKind::Workspace { offset } = &d.kind {
            write!(w, " at `{offset}`")?;
        }
        writeln!(w)?;
    }
    writeln!(w, "workspace `{}`", p.workspace)?;
    for (f, d) in &p.fields {
        writeln!(w, "{f} = field {} `{}`", d.name, d.expr)?;
    }
    for (k, kern) in &p.kernels {
        write_kernel(w, &k.to_string(), kern)?;
    }
    Ok(())
}

fn write_kernel(w: &mut dyn Write, id: &str, k: &Kernel) -> fmt::Result {
    write!(
        w,
        "kernel {id} {} {} block_dim `{}` params(",
        k.name,
        core_name(k.core),
        k.block_dim
    )?;
    for (i, g) in k.params.iter().enumerate() {
        if i > 0 {
            write!(w, ", ")?;
        }
        write!(w, "{g}")?;
    }
    writeln!(w, ") {{")?;
    for (b, d) in &k.bufs {
        writeln!(
            w,
            "  {b} = buf {} x{} {} \"{}\"",
            mem_name(d.mem),
            d.count,
            d.bytes,
            d.name
        )?;
    }
    for (q, d) in &k.queues {
        writeln!(
            w,
            "  {q} = queue {} depth {} {}",
            d.pos.name(),
            d.depth,
            d.buf
        )?;
    }
    for (t, d) in &k.tensors {
        write!(w, "  {t} = tensor {} {} ", d.elem.name(), d.elems)?;
        match d.home {
            Home::Queue(q) => write!(w, "{q}")?,
            Home::Buf { buf, offset } => write!(w, "{buf} + {offset}")?,
        }
        writeln!(w, " \"{}\"", d.name)?;
    }
    for (v, d) in &k.vars {
        writeln!(w, "  {v} = var \"{}\"", d.name)?;
    }
    for (e, d) in &k.events {
        writeln!(w, "  {e} = event {} -> {}", d.from.name(), d.to.name())?;
    }
    write_block(w, k, &k.body, 1)?;
    writeln!(w, "}}")
}

fn write_block(w: &mut dyn Write, k: &Kernel, stmts: &[Stmt], depth: usize) -> fmt::Result {
    let pad = "  ".repeat(depth);
    for s in stmts {
        match s {
            Stmt::Inst(i) => {
                write!(w, "{pad}")?;
                write_inst(w, *i, &k.insts[*i])?;
                if let Some(note) = k.notes.get(*i).filter(|n| !n.is_empty()) {
                    write!(w, " ; {note}")?;
                }
                writeln!(w)?;
            }
            Stmt::For {
                var,
                start,
                end,
                body,
            } => {
                writeln!(w, "{pad}for {var} in {} .. {} {{", ex(start), ex(end))?;
                write_block(w, k, body, depth + 1)?;
                writeln!(w, "{pad}}}")?;
            }
            Stmt::Side { side, body } => {
                writeln!(w, "{pad}{} {{", side.name())?;
                write_block(w, k, body, depth + 1)?;
                writeln!(w, "{pad}}}")?;
            }
        }
    }
    Ok(())
}

/// A device expression in text form.
pub fn ex(e: &IExpr) -> String {
    let mut s = String::new();
    write_iexpr(&mut s, e, 0);
    s
}

fn prec(op: BinOp) -> u8 {
    match op {
        BinOp::Eq | BinOp::Lt => 1,
        BinOp::Add | BinOp::Sub => 2,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 3,
        BinOp::Min | BinOp::Max | BinOp::CeilDiv => 4,
    }
}

fn write_iexpr(s: &mut String, e: &IExpr, outer: u8) {
    match e {
        IExpr::Int(v) if *v < 0 => {
            let _ = write!(s, "({v})");
        }
        IExpr::Int(v) => {
            let _ = write!(s, "{v}");
        }
        IExpr::Field(f) => {
            let _ = write!(s, "{f}");
        }
        IExpr::Var(v) => {
            let _ = write!(s, "{v}");
        }
        IExpr::BlockIdx => s.push_str("block_idx"),
        IExpr::BlockNum => s.push_str("block_num"),
        IExpr::Bin(op @ (BinOp::Min | BinOp::Max | BinOp::CeilDiv), a, b) => {
            let _ = write!(s, "{}(", op.symbol());
            write_iexpr(s, a, 0);
            s.push_str(", ");
            write_iexpr(s, b, 0);
            s.push(')');
        }
        IExpr::Bin(op, a, b) => {
            let p = prec(*op);
            // Left-associative: the right operand of the same precedence needs parentheses.
            if p < outer {
                s.push('(');
            }
            write_iexpr(s, a, p);
            let _ = write!(s, " {} ", op.symbol());
            write_iexpr(s, b, p + 1);
            if p < outer {
                s.push(')');
            }
        }
    }
}

fn gm(r: &GmRef) -> Val {
    Val::Gm(r.clone())
}
fn word(s: impl fmt::Display) -> Val {
    Val::Word(s.to_string())
}
fn e(x: &IExpr) -> Val {
    Val::Expr(x.clone())
}
fn int(v: impl Into<i64>) -> Val {
    Val::Expr(IExpr::Int(v.into()))
}

/// The text name of a vector op (`Binary.Add`, `SegReduce.Sum`).
pub(crate) fn vec_op_name(op: VecOp) -> String {
    match op {
        VecOp::Unary(u) => format!("Unary.{u:?}"),
        VecOp::Binary(b) => format!("Binary.{b:?}"),
        VecOp::Scalar(s) => format!("Scalar.{s:?}"),
        VecOp::Duplicate => "Duplicate".into(),
        VecOp::Cast(r) => format!("Cast.{r:?}"),
        VecOp::Compare(c) => format!("Compare.{c:?}"),
        VecOp::Not => "Not".into(),
        VecOp::Select => "Select".into(),
        VecOp::SegReduce(r, _) => format!("SegReduce.{r:?}"),
        VecOp::SegExpand(_) => "SegExpand".into(),
        VecOp::VecExpand(_) => "VecExpand".into(),
        VecOp::SegBinary(b, _) => format!("SegBinary.{b:?}"),
        VecOp::VecBinary(b, _) => format!("VecBinary.{b:?}"),
        VecOp::Iota => "Iota".into(),
        VecOp::Gather { .. } => "Gather".into(),
    }
}

/// Every vector op name with a template op (segment views are filled from the `seg` argument, a
/// gather's table length from `table_len`).
pub(crate) fn vec_op_from_name(
    name: &str,
    seg: Option<SegView>,
    table_len: Option<u32>,
) -> Option<VecOp> {
    use VecBinary as B;
    let seg_or = || seg;
    let bin = |s: &str| {
        [B::Add, B::Sub, B::Mul, B::Div, B::Max, B::Min]
            .into_iter()
            .find(|b| format!("{b:?}") == s)
    };
    let (head, tail) = name.split_once('.').unwrap_or((name, ""));
    Some(match head {
        "Unary" => VecOp::Unary(
            [
                VecUnary::Exp,
                VecUnary::Ln,
                VecUnary::Sqrt,
                VecUnary::Rsqrt,
                VecUnary::Reciprocal,
                VecUnary::Abs,
                VecUnary::Relu,
            ]
            .into_iter()
            .find(|u| format!("{u:?}") == tail)?,
        ),
        "Binary" => VecOp::Binary(bin(tail)?),
        "Scalar" => VecOp::Scalar(
            [
                VecScalar::Adds,
                VecScalar::Muls,
                VecScalar::Maxs,
                VecScalar::Mins,
            ]
            .into_iter()
            .find(|u| format!("{u:?}") == tail)?,
        ),
        "Duplicate" => VecOp::Duplicate,
        "Cast" => VecOp::Cast(
            [Round::None, Round::Rint, Round::Trunc]
                .into_iter()
                .find(|u| format!("{u:?}") == tail)?,
        ),
        "Compare" => VecOp::Compare(
            [
                CmpMode::Lt,
                CmpMode::Gt,
                CmpMode::Eq,
                CmpMode::Le,
                CmpMode::Ge,
                CmpMode::Ne,
            ]
            .into_iter()
            .find(|u| format!("{u:?}") == tail)?,
        ),
        "Not" => VecOp::Not,
        "Select" => VecOp::Select,
        "SegReduce" => VecOp::SegReduce(
            [SegReduceOp::Sum, SegReduceOp::Max, SegReduceOp::Min]
                .into_iter()
                .find(|u| format!("{u:?}") == tail)?,
            seg_or()?,
        ),
        "SegExpand" => VecOp::SegExpand(seg_or()?),
        "VecExpand" => VecOp::VecExpand(seg_or()?),
        "SegBinary" => VecOp::SegBinary(bin(tail)?, seg_or()?),
        "VecBinary" => VecOp::VecBinary(bin(tail)?, seg_or()?),
        "Iota" => VecOp::Iota,
        "Gather" => VecOp::Gather {
            table_len: table_len?,
        },
        _ => return None,
    })
}

/// The segment view of a vector op, if it has one.
pub(crate) fn vec_op_seg(op: VecOp) -> Option<SegView> {
    match op {
        VecOp::SegReduce(_, s)
        | VecOp::SegExpand(s)
        | VecOp::VecExpand(s)
        | VecOp::SegBinary(_, s)
        | VecOp::VecBinary(_, s) => Some(s),
        _ => None,
    }
}

pub(crate) fn elem_from_name(s: &str) -> Option<Elem> {
    [Elem::F32, Elem::F16, Elem::BF16, Elem::I32, Elem::Mask]
        .into_iter()
        .find(|e| e.name() == s)
}

/// The mnemonic and `key=value` arguments of an instruction.
pub(crate) fn inst_args(d: &InstData) -> (&'static str, Vec<(&'static str, Val)>) {
    match d {
        InstData::AllocTensor { queue, tensor }
        | InstData::EnQue { queue, tensor }
        | InstData::DeQue { queue, tensor }
        | InstData::FreeTensor { queue, tensor } => (
            match d {
                InstData::AllocTensor { .. } => "alloc_tensor",
                InstData::EnQue { .. } => "enque",
                InstData::DeQue { .. } => "deque",
                _ => "free_tensor",
            },
            vec![("queue", word(queue)), ("tensor", word(tensor))],
        ),
        InstData::CopyIn {
            dst,
            src,
            rows,
            cols,
            gm_pitch,
            ub_stride,
        } => (
            "copy_in",
            vec![
                ("dst", word(dst)),
                ("src", gm(src)),
                ("rows", e(rows)),
                ("cols", int(*cols)),
                ("gm_pitch", e(gm_pitch)),
                ("ub_stride", int(*ub_stride)),
            ],
        ),
        InstData::CopyOut {
            dst,
            src,
            rows,
            cols,
            gm_pitch,
            ub_stride,
        } => (
            "copy_out",
            vec![
                ("dst", gm(dst)),
                ("src", word(src)),
                ("rows", e(rows)),
                ("cols", int(*cols)),
                ("gm_pitch", e(gm_pitch)),
                ("ub_stride", int(*ub_stride)),
            ],
        ),
        InstData::CopyNd2Nz {
            dst,
            dst_offset,
            src,
            rows,
            cols,
            gm_pitch,
            nz_rows,
        } => {
            let mut args = vec![("dst", word(dst))];
            // Written only when set, so kernels without it keep their text.
            if dst_offset.as_int() != Some(0) {
                args.push(("dst_offset", e(dst_offset)));
            }
            args.extend([
                ("src", gm(src)),
                ("rows", e(rows)),
                ("cols", e(cols)),
                ("gm_pitch", e(gm_pitch)),
                ("nz_rows", e(nz_rows)),
            ]);
            ("copy_nd2nz", args)
        }
        InstData::LoadData2d {
            dst,
            dst_offset,
            src,
            src_offset,
            repeat,
            src_stride,
            dst_gap,
            transpose,
            frac_gap,
        } => {
            let mut args = vec![
                ("dst", word(dst)),
                ("dst_offset", e(dst_offset)),
                ("src", word(src)),
                ("src_offset", e(src_offset)),
                ("repeat", e(repeat)),
                ("src_stride", e(src_stride)),
                ("dst_gap", e(dst_gap)),
                ("transpose", word(transpose)),
            ];
            if frac_gap.as_int() != Some(0) {
                args.push(("frac_gap", e(frac_gap)));
            }
            ("load_data_2d", args)
        }
        InstData::Mmad {
            dst,
            a,
            b,
            m,
            n,
            k,
            init,
        } => (
            "mmad",
            vec![
                ("dst", word(dst)),
                ("a", word(a)),
                ("b", word(b)),
                ("m", e(m)),
                ("n", e(n)),
                ("k", e(k)),
                ("init", e(init)),
            ],
        ),
        InstData::Fixpipe {
            dst,
            src,
            m,
            n,
            src_stride,
            gm_pitch,
            quant,
            relu,
        } => (
            "fixpipe",
            vec![
                ("dst", gm(dst)),
                ("src", word(src)),
                ("m", e(m)),
                ("n", e(n)),
                ("src_stride", e(src_stride)),
                ("gm_pitch", e(gm_pitch)),
                ("quant", word(quant.name())),
                ("relu", word(relu)),
            ],
        ),
        InstData::SetAtomic(elem) => (
            "set_atomic",
            vec![("add", word(elem.map_or("none", Elem::name)))],
        ),
        InstData::ReadScalar { dst, src } => {
            ("read_scalar", vec![("dst", word(dst)), ("src", gm(src))])
        }
        InstData::Assign { dst, value } => {
            ("assign", vec![("dst", word(dst)), ("value", e(value))])
        }
        InstData::WriteScalar { dst, value } => {
            ("write_scalar", vec![("dst", gm(dst)), ("value", e(value))])
        }
        InstData::FlushGm { buf } => ("flush_gm", vec![("buf", word(buf))]),
        InstData::SetFlag(ev) => ("set_flag", vec![("event", word(ev))]),
        InstData::WaitFlag(ev) => ("wait_flag", vec![("event", word(ev))]),
        InstData::PipeBarrier(p) => ("pipe_barrier", vec![("pipe", word(p.name()))]),
        InstData::CrossCoreSetFlag { mode, pipe, flag }
        | InstData::CrossCoreWaitFlag { mode, pipe, flag } => (
            if matches!(d, InstData::CrossCoreSetFlag { .. }) {
                "cross_core_set_flag"
            } else {
                "cross_core_wait_flag"
            },
            vec![
                ("mode", int(*mode)),
                ("pipe", word(pipe.name())),
                ("flag", int(*flag)),
            ],
        ),
        InstData::SyncAll => ("sync_all", vec![]),
        InstData::Vector {
            op,
            dsts,
            srcs,
            scalar,
            count,
        } => {
            let mut args = vec![
                ("op", word(vec_op_name(*op))),
                (
                    "dst",
                    Val::List(dsts.iter().map(|t| t.to_string()).collect()),
                ),
                (
                    "src",
                    Val::List(srcs.iter().map(|t| t.to_string()).collect()),
                ),
            ];
            if let VecOp::Gather { table_len } = op {
                args.push(("table_len", int(*table_len)));
            }
            if let Some(seg) = vec_op_seg(*op) {
                args.push(("segs", int(seg.segs)));
                args.push(("len", int(seg.len)));
                args.push(("stride", int(seg.stride)));
            }
            match scalar {
                Some(Scalar::F32(bits)) => args.push(("f32_bits", int(*bits))),
                Some(Scalar::I32(v)) => args.push(("i32", int(*v))),
                None => {}
            }
            args.push(("count", e(count)));
            ("vec", args)
        }
    }
}

fn write_inst(w: &mut dyn Write, i: Inst, d: &InstData) -> fmt::Result {
    let (mnemonic, args) = inst_args(d);
    write!(w, "{i} = {mnemonic}")?;
    for (k, v) in args {
        write!(w, " {k}=")?;
        match v {
            Val::Expr(x) => {
                // Keep `key=value` one token group: anything but an atom is parenthesized.
                let s = ex(&x);
                if s.contains(' ') {
                    write!(w, "({s})")?
                } else {
                    write!(w, "{s}")?
                }
            }
            Val::Word(s) => write!(w, "{s}")?,
            Val::List(l) => write!(w, "[{}]", l.join(", "))?,
            Val::Gm(r) => write!(w, "{}[{}]", r.buf, ex(&r.offset))?,
        }
    }
    Ok(())
}

/// The `Quant` of its `QuantMode_t` name.
pub(crate) fn quant_from_name(s: &str) -> Option<Quant> {
    [Quant::None, Quant::F32ToF16, Quant::F32ToBf16]
        .into_iter()
        .find(|q| q.name() == s)
}
