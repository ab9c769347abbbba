//! The printer of the graph IR's text form; [`super::parse`] reads the same text back.
//!
//! ```text
//! kernel moge_gate<E, G>(logits: f32[T, E], router_scale: f32[E]) -> (weight: f32[T, G], expert: i32[T, G]) {
//!   dyn T
//!   require G divides E @5:5-5:40 "the group count of `group_topk` must divide the last dim"
//!   v0 = param 0 : f32[T, E]                         @3:5-3:33
//!   v1 = param 1 : f32[E]                            @4:5-4:35
//!   v2 = softmax v0, axis=1 : f32[T, E]              @6:17-6:36
//!   v3, v4 = group_topk v2, groups=G, k=1 : f32[T, G], i32[T, G]
//!   #[tile(rows = 8)]
//!   v5 = gather v1, v4 : f32[T, G]
//!   v6 = mul v3, v5 : f32[T, G]
//!   return weight = v6, expert = v4
//! }
//! ```
//!
//! The header lists the unbound static symbols (bound ones as `E = 64`, in the order bound, first), the
//! parameters with their types and the outputs with their types. The body declares the dynamic symbols
//! (`dyn T`) and the constraints (`require`, with the source location and the reason), then one line per
//! op in program order: results, the op name, operands, attributes (`key=value`), result types and the
//! source location (`@line:col-line:col`, omitted when unknown). Schedule hints stand on the lines
//! before their op. An op whose id differs from its position in the order is prefixed with its id
//! (`op7: v9 = ...`) so that ids round-trip. Floats print in Rust's shortest round-trip form.
//!
//! The printer never panics, even on a kernel the verifier rejects: dangling ids print as they are and
//! unknown types as `?`.

use std::fmt;

use super::dim::Dim;
use super::entities::{Op, Value};
use super::ops::OpKind;
use super::types::{write_dims, Type};
use super::{ConstraintKind, Kernel, SrcLoc, SymKind};

/// Width the op text is padded to before its source location, so locations line up.
const LOC_COLUMN: usize = 48;

/// Hooks to add `;` comments to a kernel dump (the DSL source line of an op, verifier errors). Every
/// hook has a default that writes nothing.
pub trait Decorate {
    /// Called after the header line, before the body. Write whole lines (indented, ending with a
    /// newline), e.g. `  ; error: ...` for errors about the whole kernel.
    fn kernel_comment(&mut self, w: &mut dyn fmt::Write, kernel: &Kernel) -> fmt::Result {
        let _ = (w, kernel);
        Ok(())
    }

    /// Called at the end of `op`'s line, before the newline: write ` ; comment` to annotate it.
    fn op_comment(&mut self, w: &mut dyn fmt::Write, kernel: &Kernel, op: Op) -> fmt::Result {
        let _ = (w, kernel, op);
        Ok(())
    }

    /// Called after `op`'s line. Write whole lines (indented, ending with a newline), e.g.
    /// `  ; error: ...`.
    fn after_op(&mut self, w: &mut dyn fmt::Write, kernel: &Kernel, op: Op) -> fmt::Result {
        let _ = (w, kernel, op);
        Ok(())
    }
}

/// The decorator that adds nothing.
#[derive(Copy, Clone, Debug, Default)]
pub struct PlainWriter;

impl Decorate for PlainWriter {}

/// Writes `kernel` in the text form.
pub fn write_kernel(w: &mut dyn fmt::Write, kernel: &Kernel) -> fmt::Result {
    decorated_write_kernel(&mut PlainWriter, w, kernel)
}

/// Writes `kernel` in the text form, with the comments of `decorator`.
pub fn decorated_write_kernel(
    decorator: &mut dyn Decorate,
    w: &mut dyn fmt::Write,
    kernel: &Kernel,
) -> fmt::Result {
    write_header(w, kernel)?;
    decorator.kernel_comment(w, kernel)?;
    for sym in kernel.syms.values().filter(|s| s.kind == SymKind::Dynamic) {
        writeln!(w, "  dyn {}", sym.name)?;
    }
    for constraint in &kernel.constraints {
        w.write_str("  require ")?;
        write_constraint_kind(w, kernel, &constraint.kind)?;
        if constraint.loc != SrcLoc::default() {
            write!(w, " @{}", DisplayLoc(constraint.loc))?;
        }
        w.write_str(" ")?;
        write_string_literal(w, &constraint.reason)?;
        w.write_str("\n")?;
    }
    for (position, &op) in kernel.order.iter().enumerate() {
        if let Some(hints) = kernel.hints.get(op) {
            for hint in hints {
                write!(w, "  #[{}", hint.name)?;
                if !hint.args.is_empty() {
                    w.write_str("(")?;
                    for (i, (key, value)) in hint.args.iter().enumerate() {
                        if i > 0 {
                            w.write_str(", ")?;
                        }
                        write!(w, "{key} = {value}")?;
                    }
                    w.write_str(")")?;
                }
                w.write_str("]\n")?;
            }
        }
        let mut line = String::new();
        if op.as_u32() as usize != position {
            fmt::write(&mut line, format_args!("{op}: "))?;
        }
        write_op(&mut line, kernel, op)?;
        let loc = kernel.locs.get(op).copied().unwrap_or_default();
        if loc == SrcLoc::default() {
            write!(w, "  {line}")?;
        } else {
            write!(w, "  {line:<LOC_COLUMN$} @{}", DisplayLoc(loc))?;
        }
        decorator.op_comment(w, kernel, op)?;
        w.write_str("\n")?;
        decorator.after_op(w, kernel, op)?;
    }
    w.write_str("  return")?;
    for (i, output) in kernel.outputs.iter().enumerate() {
        w.write_str(if i == 0 { " " } else { ", " })?;
        write!(w, "{} = {}", output.name, output.value)?;
    }
    w.write_str("\n}\n")
}

/// The text form of `kernel`.
pub fn kernel_to_string(kernel: &Kernel) -> String {
    let mut out = String::new();
    // Writing to a `String` cannot fail.
    let _ = write_kernel(&mut out, kernel);
    out
}

/// Writes one op without indentation or location: `v3, v4 = group_topk v2, groups=G, k=1 : f32[T, G],
/// i32[T, G]`.
pub fn write_op(w: &mut dyn fmt::Write, kernel: &Kernel, op: Op) -> fmt::Result {
    let Some(data) = kernel.ops.get(op) else {
        return write!(w, "; {op} does not exist");
    };
    for (i, result) in data.results.iter().enumerate() {
        if i > 0 {
            w.write_str(", ")?;
        }
        write!(w, "{result}")?;
    }
    write!(w, " = {}", data.kind.name())?;
    let mut sep = " ";
    match &data.kind {
        OpKind::Param { index } => {
            write!(w, " {index}")?;
            sep = ", ";
        }
        OpKind::Const { value, .. } => {
            write!(w, " {value:?}")?;
            sep = ", ";
        }
        _ => {}
    }
    for arg in &data.args {
        write!(w, "{sep}{arg}")?;
        sep = ", ";
    }
    let mut attr = |w: &mut dyn fmt::Write, key: &str| -> fmt::Result {
        write!(w, "{sep}{key}=")?;
        sep = ", ";
        Ok(())
    };
    let dim = |w: &mut dyn fmt::Write, d: &Dim| write!(w, "{}", d.display(&kernel.syms));
    match &data.kind {
        OpKind::Param { .. }
        | OpKind::Unary(_)
        | OpKind::Binary(_)
        | OpKind::Compare(_)
        | OpKind::Select
        | OpKind::Gather
        | OpKind::MatMul
        | OpKind::Dispatch
        | OpKind::GroupedMatmul
        | OpKind::Swiglu
        | OpKind::Combine => {}
        OpKind::Const { dtype, .. } => {
            attr(w, "dtype")?;
            write!(w, "{dtype}")?;
        }
        OpKind::Cast { to } => {
            attr(w, "to")?;
            write!(w, "{to}")?;
        }
        OpKind::Reduce { axis, keep_dim, .. } | OpKind::ArgReduce { axis, keep_dim, .. } => {
            attr(w, "axis")?;
            write!(w, "{axis}")?;
            if *keep_dim {
                attr(w, "keep_dim")?;
                w.write_str("true")?;
            }
        }
        OpKind::Softmax { axis } | OpKind::LogSoftmax { axis } | OpKind::Concat { axis } => {
            attr(w, "axis")?;
            write!(w, "{axis}")?;
        }
        OpKind::RmsNorm { eps } => {
            attr(w, "eps")?;
            write!(w, "{eps:?}")?;
        }
        OpKind::Reshape { shape } => {
            attr(w, "shape")?;
            w.write_str("[")?;
            write_dims(w, shape, &kernel.syms)?;
            w.write_str("]")?;
        }
        OpKind::Slice { axis, start, end } => {
            attr(w, "axis")?;
            write!(w, "{axis}")?;
            attr(w, "start")?;
            dim(w, start)?;
            attr(w, "end")?;
            dim(w, end)?;
        }
        OpKind::Transpose { perm } => {
            attr(w, "perm")?;
            w.write_str("[")?;
            for (i, p) in perm.iter().enumerate() {
                if i > 0 {
                    w.write_str(", ")?;
                }
                write!(w, "{p}")?;
            }
            w.write_str("]")?;
        }
        OpKind::TopK { k } => {
            attr(w, "k")?;
            dim(w, k)?;
        }
        OpKind::GroupTopK { groups, k } => {
            attr(w, "groups")?;
            dim(w, groups)?;
            attr(w, "k")?;
            dim(w, k)?;
        }
        OpKind::ScatterAdd { size } => {
            attr(w, "size")?;
            dim(w, size)?;
        }
        OpKind::Route { experts } => {
            attr(w, "experts")?;
            dim(w, experts)?;
        }
    }
    w.write_str(" :")?;
    for (i, result) in data.results.iter().enumerate() {
        w.write_str(if i == 0 { " " } else { ", " })?;
        write_value_type(w, kernel, *result)?;
    }
    Ok(())
}

/// Writes a constraint's condition: `G divides E`, `k <= E/G`, `T >= 1`.
pub fn write_constraint_kind(
    w: &mut dyn fmt::Write,
    kernel: &Kernel,
    kind: &ConstraintKind,
) -> fmt::Result {
    let syms = &kernel.syms;
    match kind {
        ConstraintKind::Divides { dim, divisor } => {
            write!(w, "{} divides {}", divisor.display(syms), dim.display(syms))
        }
        ConstraintKind::LessEq { small, large } => {
            write!(w, "{} <= {}", small.display(syms), large.display(syms))
        }
        ConstraintKind::Positive { dim } => write!(w, "{} >= 1", dim.display(syms)),
    }
}

/// Writes a string as a double-quoted literal with `\\`, `\"`, `\n`, `\r`, `\t` and `\u{..}` escapes.
pub fn write_string_literal(w: &mut dyn fmt::Write, text: &str) -> fmt::Result {
    w.write_str("\"")?;
    for c in text.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            '\n' => w.write_str("\\n")?,
            '\r' => w.write_str("\\r")?,
            '\t' => w.write_str("\\t")?,
            c if c.is_control() => write!(w, "\\u{{{:x}}}", c as u32)?,
            c => w.write_char(c)?,
        }
    }
    w.write_str("\"")
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_kernel(f, self)
    }
}

/// A source location as `line:col-end_line:end_col`.
struct DisplayLoc(SrcLoc);

impl fmt::Display for DisplayLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = self.0;
        write!(f, "{}:{}-{}:{}", l.line, l.col, l.end_line, l.end_col)
    }
}

/// The header line: `kernel name<statics>(params) -> (outputs) {`.
fn write_header(w: &mut dyn fmt::Write, kernel: &Kernel) -> fmt::Result {
    write!(w, "kernel {}", kernel.name)?;
    let statics: Vec<&str> = kernel.static_params();
    if !kernel.bound.is_empty() || !statics.is_empty() {
        w.write_str("<")?;
        let mut first = true;
        let mut comma = |w: &mut dyn fmt::Write| -> fmt::Result {
            if !std::mem::replace(&mut first, false) {
                w.write_str(", ")?;
            }
            Ok(())
        };
        for (name, value) in &kernel.bound {
            comma(w)?;
            write!(w, "{name} = {value}")?;
        }
        for name in statics {
            comma(w)?;
            w.write_str(name)?;
        }
        w.write_str(">")?;
    }
    w.write_str("(")?;
    for (i, param) in kernel.params.iter().enumerate() {
        if i > 0 {
            w.write_str(", ")?;
        }
        write!(w, "{}: ", param.name)?;
        write_value_type(w, kernel, param.value)?;
    }
    w.write_str(") -> (")?;
    for (i, output) in kernel.outputs.iter().enumerate() {
        if i > 0 {
            w.write_str(", ")?;
        }
        write!(w, "{}: ", output.name)?;
        write_value_type(w, kernel, output.value)?;
    }
    w.write_str(") {\n")
}

/// Writes the type of `value`, or `?` for a value that does not exist.
fn write_value_type(w: &mut dyn fmt::Write, kernel: &Kernel, value: Value) -> fmt::Result {
    match kernel.values.get(value) {
        Some(data) => write_type(w, kernel, &data.ty),
        None => w.write_str("?"),
    }
}

fn write_type(w: &mut dyn fmt::Write, kernel: &Kernel, ty: &Type) -> fmt::Result {
    write!(w, "{}", ty.display(&kernel.syms))
}

/// Hand-built kernels shared by the tests of the graph modules.
#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // Tests spell shapes as literal arrays.
pub(crate) mod samples {
    use crate::graph::infer::infer;
    use crate::graph::ops::{ArgOp, BinaryOp, CmpOp, ReduceOp, UnaryOp};
    use crate::graph::{
        Constraint, DType, Dim, Hint, Kernel, OpKind, SrcLoc, SymKind, TensorType, Type, Value,
    };

    /// A source location on one line.
    pub(crate) fn loc(line: u32, col: u32, end_col: u32) -> SrcLoc {
        SrcLoc {
            line,
            col,
            end_line: line,
            end_col,
        }
    }

    /// A tensor type.
    pub(crate) fn ten(dtype: DType, shape: &[Dim]) -> Type {
        Type::Tensor(TensorType::new(dtype, shape.to_vec()))
    }

    /// Appends an op whose result types (and constraints) come from `infer`.
    pub(crate) fn push(k: &mut Kernel, kind: OpKind, args: &[Value], at: SrcLoc) -> Vec<Value> {
        let types: Vec<Type> = args.iter().map(|&a| k.ty(a).clone()).collect();
        let refs: Vec<&Type> = types.iter().collect();
        let inferred = match infer(&kind, &refs, &k.syms) {
            Ok(inferred) => inferred,
            Err(e) => panic!("sample op `{}` does not type-check: {e}", kind.name()),
        };
        for (kind, reason) in inferred.constraints {
            if !k.constraints.iter().any(|c| c.kind == kind) {
                k.constraints.push(Constraint {
                    kind,
                    loc: at,
                    reason,
                });
            }
        }
        k.push_op(kind, args.to_vec(), inferred.results, at)
            .to_vec()
    }

    /// Appends an output named `name`.
    pub(crate) fn output(k: &mut Kernel, name: &str, value: Value) {
        k.outputs.push(crate::graph::Output {
            name: name.to_string(),
            value,
        });
    }

    /// The MoGE gate of the design document.
    pub(crate) fn gate() -> Kernel {
        let mut k = Kernel::new("moge_gate");
        let e = Dim::sym(k.add_sym("E", SymKind::Static));
        let g = Dim::sym(k.add_sym("G", SymKind::Static));
        let t = Dim::sym(k.add_sym("T", SymKind::Dynamic));
        let logits = k.add_param("logits", ten(DType::F32, &[t, e.clone()]), loc(3, 5, 33));
        let scale = k.add_param("router_scale", ten(DType::F32, &[e]), loc(4, 5, 35));
        let probs = push(
            &mut k,
            OpKind::Softmax { axis: 1 },
            &[logits],
            loc(6, 17, 36),
        )[0];
        let top = push(
            &mut k,
            OpKind::GroupTopK {
                groups: g,
                k: Dim::lit(1),
            },
            &[probs],
            loc(7, 24, 49),
        );
        let picked = push(&mut k, OpKind::Gather, &[scale, top[1]], SrcLoc::default())[0];
        let op = k.values[picked].def;
        k.hints[op] = vec![Hint {
            name: "tile".to_string(),
            args: vec![("rows".to_string(), 8)],
        }];
        let weight = push(
            &mut k,
            OpKind::Binary(BinaryOp::Mul),
            &[top[0], picked],
            loc(8, 6, 40),
        )[0];
        output(&mut k, "weight", weight);
        output(&mut k, "expert", top[1]);
        k
    }

    /// A kernel that uses every op kind (and every unary, binary, comparison and reduction).
    pub(crate) fn every_op() -> Kernel {
        let mut k = Kernel::new("every_op");
        let e = Dim::sym(k.add_sym("E", SymKind::Static));
        let g = Dim::sym(k.add_sym("G", SymKind::Static));
        let h = Dim::sym(k.add_sym("H", SymKind::Static));
        let i = Dim::sym(k.add_sym("I", SymKind::Static));
        let t = Dim::sym(k.add_sym("T", SymKind::Dynamic));
        let f32t = |shape: &[Dim]| ten(DType::F32, shape);
        let two_i = Dim::mul(&Dim::lit(2), &i);
        let none = SrcLoc::default();
        let x = k.add_param("x", f32t(&[t.clone(), h.clone()]), loc(2, 5, 20));
        let logits = k.add_param("logits", f32t(&[t.clone(), e.clone()]), loc(3, 5, 20));
        let norm_w = k.add_param("norm_w", f32t(&[h.clone()]), none);
        let w_up = k.add_param("w_up", f32t(&[e.clone(), h.clone(), two_i]), none);
        let w_down = k.add_param("w_down", f32t(&[e.clone(), i.clone(), h.clone()]), none);
        let mat = k.add_param("mat", f32t(&[h.clone(), Dim::lit(16)]), none);
        let half = push(
            &mut k,
            OpKind::Const {
                value: 0.1,
                dtype: DType::F32,
            },
            &[],
            none,
        )[0];
        for (value, dtype) in [
            (-0.0, DType::BF16),
            (f64::NEG_INFINITY, DType::F16),
            (5e-324, DType::F32),
            (1e300, DType::F32),
            (-7.0, DType::I32),
            (1.0, DType::Bool),
        ] {
            push(&mut k, OpKind::Const { value, dtype }, &[], none);
        }
        for &op in UnaryOp::ALL {
            push(&mut k, OpKind::Unary(op), &[x], none);
        }
        for &op in BinaryOp::ALL {
            push(&mut k, OpKind::Binary(op), &[x, norm_w], none);
        }
        push(&mut k, OpKind::Cast { to: DType::BF16 }, &[x], none);
        let mut mask = x;
        for &op in CmpOp::ALL {
            mask = push(&mut k, OpKind::Compare(op), &[x, half], none)[0];
        }
        push(&mut k, OpKind::Select, &[mask, x, half], loc(9, 1, 2));
        for (n, &op) in ReduceOp::ALL.iter().enumerate() {
            push(
                &mut k,
                OpKind::Reduce {
                    op,
                    axis: 1,
                    keep_dim: n % 2 == 0,
                },
                &[x],
                none,
            );
        }
        for &op in ArgOp::ALL {
            push(
                &mut k,
                OpKind::ArgReduce {
                    op,
                    axis: 0,
                    keep_dim: op == ArgOp::ArgMin,
                },
                &[x],
                none,
            );
        }
        push(&mut k, OpKind::Softmax { axis: 1 }, &[logits], none);
        push(&mut k, OpKind::LogSoftmax { axis: 0 }, &[logits], none);
        let normed = push(&mut k, OpKind::RmsNorm { eps: 1e-6 }, &[x, norm_w], none)[0];
        push(
            &mut k,
            OpKind::Reshape {
                shape: vec![Dim::mul(&t, &h)],
            },
            &[x],
            none,
        );
        let per_group = Dim::div(&e, &g).unwrap_or(Dim::lit(1));
        push(
            &mut k,
            OpKind::Reshape {
                shape: vec![t.clone(), g.clone(), per_group],
            },
            &[logits],
            loc(10, 3, 9),
        );
        push(
            &mut k,
            OpKind::Slice {
                axis: 1,
                start: Dim::lit(1),
                end: Dim::sub(&h, &Dim::lit(1)),
            },
            &[x],
            none,
        );
        push(&mut k, OpKind::Concat { axis: 1 }, &[x, normed, x], none);
        push(&mut k, OpKind::Transpose { perm: vec![1, 0] }, &[x], none);
        let top = push(&mut k, OpKind::TopK { k: Dim::lit(2) }, &[logits], none);
        let grouped = push(
            &mut k,
            OpKind::GroupTopK {
                groups: g.clone(),
                k: Dim::lit(1),
            },
            &[logits],
            none,
        );
        push(&mut k, OpKind::Gather, &[norm_w, top[1]], none);
        push(
            &mut k,
            OpKind::ScatterAdd { size: e.clone() },
            &[top[0], top[1]],
            none,
        );
        push(&mut k, OpKind::MatMul, &[x, mat], none);
        let routes = push(
            &mut k,
            OpKind::Route { experts: e.clone() },
            &[grouped[1]],
            none,
        )[0];
        let rows = push(&mut k, OpKind::Dispatch, &[x, routes], none)[0];
        let up = push(&mut k, OpKind::GroupedMatmul, &[rows, w_up, routes], none)[0];
        let act = push(&mut k, OpKind::Swiglu, &[up], none)[0];
        push(&mut k, OpKind::Swiglu, &[act, act], none);
        let down = push(&mut k, OpKind::GroupedMatmul, &[act, w_down, routes], none)[0];
        let y = push(
            &mut k,
            OpKind::Combine,
            &[down, routes, grouped[0]],
            loc(20, 5, 50),
        )[0];
        output(&mut k, "y", y);
        output(&mut k, "ids", grouped[1]);
        k
    }
}

#[cfg(test)]
#[allow(clippy::cloned_ref_to_slice_refs)] // Tests spell shapes as literal arrays.
mod tests {
    use super::samples::{every_op, gate};
    use super::*;

    #[test]
    fn gate_prints_as_documented() {
        let expected = r#"kernel moge_gate<E, G>(logits: f32[T, E], router_scale: f32[E]) -> (weight: f32[T, G], expert: i32[T, G]) {
  dyn T
  require G divides E @7:24-7:49 "the group count of `group_topk` must divide the last dim"
  require 1 <= E/G @7:24-7:49 "the `k` of `group_topk` must not exceed the group size"
  v0 = param 0 : f32[T, E]                         @3:5-3:33
  v1 = param 1 : f32[E]                            @4:5-4:35
  v2 = softmax v0, axis=1 : f32[T, E]              @6:17-6:36
  v3, v4 = group_topk v2, groups=G, k=1 : f32[T, G], i32[T, G] @7:24-7:49
  #[tile(rows = 8)]
  v5 = gather v1, v4 : f32[T, G]
  v6 = mul v3, v5 : f32[T, G]                      @8:6-8:40
  return weight = v6, expert = v4
}
"#;
        assert_eq!(kernel_to_string(&gate()), expected);
        assert_eq!(gate().to_string(), expected);
    }

    #[test]
    fn specialized_header_and_op_ids() {
        let mut k = gate();
        k.bound.push((crate::Symbol::intern("X"), 3));
        // Swap two independent ops in the order: both print their ids.
        k.order.swap(0, 1);
        let text = kernel_to_string(&k);
        assert!(text.starts_with("kernel moge_gate<X = 3, E, G>("), "{text}");
        assert!(text.contains("\n  op1: v1 = param 1 : f32[E]"), "{text}");
        assert!(text.contains("\n  op0: v0 = param 0 : f32[T, E]"), "{text}");
        assert!(text.contains("\n  v2 = softmax"), "{text}");
    }

    #[test]
    fn attributes_and_floats() {
        let text = kernel_to_string(&every_op());
        for needle in [
            "= const 0.1, dtype=f32 : f32[]",
            "= const -0.0, dtype=bf16 : bf16[]",
            "= const -inf, dtype=f16 : f16[]",
            "= const 5e-324, dtype=f32 : f32[]",
            "= const 1e300, dtype=f32 : f32[]",
            "= const -7.0, dtype=i32 : i32[]",
            "= sum v0, axis=1, keep_dim=true : f32[T, 1]",
            "= mean v0, axis=1 : f32[T]",
            "= argmin v0, axis=0, keep_dim=true : i32[1, H]",
            "= rms_norm v0, v2, eps=1e-6 : f32[T, H]",
            "= reshape v1, shape=[T, G, E/G] : f32[T, G, E/G]",
            "= slice v0, axis=1, start=1, end=H - 1 : f32[T, H - 2]",
            "= transpose v0, perm=[1, 0] : f32[H, T]",
            "= scatter_add ",
            ", size=E : f32[E]",
            ", experts=E : routes[T, G, E]",
            "= maximum v0, v2 : f32[T, H]",
            "= cast v0, to=bf16 : bf16[T, H]",
            "  return y = ",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    /// A distinct number per op kind; the match is exhaustive, so a new kind must be added here (and
    /// to the `every_op` sample).
    fn kind_number(kind: &OpKind) -> usize {
        match kind {
            OpKind::Param { .. } => 0,
            OpKind::Const { .. } => 1,
            OpKind::Unary(_) => 2,
            OpKind::Binary(_) => 3,
            OpKind::Cast { .. } => 4,
            OpKind::Compare(_) => 5,
            OpKind::Select => 6,
            OpKind::Reduce { .. } => 7,
            OpKind::ArgReduce { .. } => 8,
            OpKind::Softmax { .. } => 9,
            OpKind::LogSoftmax { .. } => 10,
            OpKind::RmsNorm { .. } => 11,
            OpKind::Reshape { .. } => 12,
            OpKind::Slice { .. } => 13,
            OpKind::Concat { .. } => 14,
            OpKind::Transpose { .. } => 15,
            OpKind::TopK { .. } => 16,
            OpKind::GroupTopK { .. } => 17,
            OpKind::Gather => 18,
            OpKind::ScatterAdd { .. } => 19,
            OpKind::MatMul => 20,
            OpKind::Route { .. } => 21,
            OpKind::Dispatch => 22,
            OpKind::GroupedMatmul => 23,
            OpKind::Swiglu => 24,
            OpKind::Combine => 25,
        }
    }

    #[test]
    fn every_op_sample_covers_every_kind() {
        let k = every_op();
        let mut seen = [false; 26];
        for data in k.ops.values() {
            seen[kind_number(&data.kind)] = true;
        }
        assert!(seen.iter().all(|&s| s), "missing kinds: {seen:?}");
    }

    #[test]
    fn string_literals_escape() {
        let mut out = String::new();
        write_string_literal(&mut out, "a \"b\" \\ c\n\t\u{1}é").unwrap_or_default();
        assert_eq!(out, r#""a \"b\" \\ c\n\t\u{1}é""#);
    }

    #[test]
    fn decorator_hooks() {
        struct Marks;
        impl Decorate for Marks {
            fn kernel_comment(&mut self, w: &mut dyn fmt::Write, _: &Kernel) -> fmt::Result {
                w.write_str("  ; kernel note\n")
            }
            fn op_comment(&mut self, w: &mut dyn fmt::Write, _: &Kernel, op: Op) -> fmt::Result {
                write!(w, " ; at {op}")
            }
            fn after_op(&mut self, w: &mut dyn fmt::Write, k: &Kernel, op: Op) -> fmt::Result {
                if k.ops[op].kind.name() == "softmax" {
                    w.write_str("  ; after softmax\n")?;
                }
                Ok(())
            }
        }
        let mut out = String::new();
        decorated_write_kernel(&mut Marks, &mut out, &gate()).unwrap_or_default();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1], "  ; kernel note");
        assert_eq!(
            lines[6],
            "  v1 = param 1 : f32[E]                            @4:5-4:35 ; at op1"
        );
        assert_eq!(lines[8], "  ; after softmax");
    }

    #[test]
    fn broken_kernels_print_without_panicking() {
        let mut k = gate();
        k.outputs[0].value = Value::from_u32(99);
        k.ops[Op::from_u32(2)].args.push(Value::from_u32(77));
        k.order.push(Op::from_u32(55));
        let text = kernel_to_string(&k);
        assert!(text.contains("-> (weight: ?, expert: i32[T, G])"), "{text}");
        assert!(text.contains("softmax v0, v77, axis=1"), "{text}");
        assert!(text.contains("; op55 does not exist"), "{text}");
        assert!(text.contains("return weight = v99"), "{text}");
    }
}
