//! Specialization: binding a kernel's static symbols (its const generics) to values.
//!
//! [`Kernel::specialize`] replaces every static symbol by its literal in every dim of the kernel (value
//! types, op attributes, constraints), records the bindings in [`Kernel::bound`] (in declaration order)
//! and removes the bound symbols from [`Kernel::syms`], renumbering the dynamic symbols that remain in
//! their order. It then checks every constraint whose dims became literal, reporting a violation with
//! its reason and source location, drops the ones that hold, and re-infers every op so that conditions
//! the constraints did not capture are still reported. [`Kernel::check_constraints`] checks the
//! constraints that remain once the dynamic symbols are known (at launch, or in the interpreter).

use std::fmt;

use cranelift_entity::{EntityRef, PrimaryMap};

use super::dim::{Dim, DimEvalError, DIM_LIMIT};
use super::entities::Sym;
use super::infer::infer;
use super::ops::OpKind;
use super::types::{RoutesType, Type};
use super::write::write_constraint_kind;
use super::{Constraint, ConstraintKind, Kernel, SrcLoc, SymData, SymKind};

/// Why a kernel could not be specialized, or a constraint does not hold.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecializeError {
    /// A binding names no symbol of the kernel.
    #[error(
        "kernel `{kernel}` has no static parameter `{name}`; its static parameters are {expected}"
    )]
    UnknownSymbol {
        /// The kernel.
        kernel: String,
        /// The name given.
        name: String,
        /// The static parameters it has, as a list of names in backquotes (or "none").
        expected: String,
    },
    /// A binding names a static parameter that is already bound.
    #[error("static parameter `{name}` of kernel `{kernel}` is already bound to {value}")]
    AlreadyBound {
        /// The kernel.
        kernel: String,
        /// The symbol.
        name: String,
        /// Its value.
        value: i64,
    },
    /// A binding names a dynamic dim.
    #[error(
        "`{name}` is a dynamic dim of kernel `{kernel}`, bound from the input shapes at launch; only static parameters are bound by specialization"
    )]
    DynamicSymbol {
        /// The kernel.
        kernel: String,
        /// The symbol.
        name: String,
    },
    /// A symbol is bound twice.
    #[error("static parameter `{name}` is bound twice, to {first} and to {second}")]
    BoundTwice {
        /// The symbol.
        name: String,
        /// The first value.
        first: i64,
        /// The second value.
        second: i64,
    },
    /// A negative value.
    #[error("static parameter `{name}` must be a non-negative size, found {value}")]
    Negative {
        /// The symbol.
        name: String,
        /// The value given.
        value: i64,
    },
    /// Static parameters without a value.
    #[error("kernel `{kernel}` needs a value for every static parameter; missing {missing}")]
    Missing {
        /// The kernel.
        kernel: String,
        /// The missing names, in backquotes.
        missing: String,
    },
    /// A constraint is false for the bound values.
    #[error("constraint `{condition}`{at} does not hold: {reason} (with {values})")]
    Violated {
        /// The condition with symbol names, e.g. `G divides E`.
        condition: String,
        /// Why it is needed.
        reason: String,
        /// Where it comes from: ` at line:col` or empty.
        at: String,
        /// The source location.
        loc: SrcLoc,
        /// The symbol values it was checked with, e.g. `E = 64, G = 7`.
        values: String,
    },
    /// A constraint's dims cannot be evaluated (an inexact quotient, a division by zero).
    #[error("constraint `{condition}`{at} cannot be checked: {error} ({reason})")]
    Unevaluable {
        /// The condition with symbol names.
        condition: String,
        /// Why it is needed.
        reason: String,
        /// Where it comes from: ` at line:col` or empty.
        at: String,
        /// The source location.
        loc: SrcLoc,
        /// What went wrong.
        error: DimEvalError,
    },
    /// A dim is negative, too large, overflows or cannot be evaluated once the static parameters are
    /// bound (`N - 100` with `N = 16`), or a tensor's size in bytes overflows.
    #[error("after binding {values}, the dim `{dim}` {place}{} {problem}", at(*.loc))]
    BadDim {
        /// The bindings.
        values: String,
        /// The dim as written in the kernel, with symbol names (`N - 100`).
        dim: String,
        /// Where it is used: "of parameter `x`", "of the result of `exp`", "in the `k` of `topk`".
        place: String,
        /// The source location.
        loc: SrcLoc,
        /// What is wrong: "is -84, outside 0..2^40", "overflows 64-bit arithmetic".
        problem: String,
    },
    /// An op is ill-typed once the static parameters are bound.
    #[error("after binding {values}, the op `{op}`{at} is invalid: {message}")]
    InvalidOp {
        /// The bindings.
        values: String,
        /// The op's name.
        op: String,
        /// Where it is: ` at line:col` or empty.
        at: String,
        /// The source location.
        loc: SrcLoc,
        /// The type error.
        message: String,
    },
}

impl Kernel {
    /// Binds the static symbols by name and returns the specialized kernel (see the module
    /// documentation). Every static parameter needs exactly one non-negative value; a kernel without
    /// static parameters specializes with `&[]`.
    pub fn specialize(&self, bindings: &[(&str, i64)]) -> Result<Kernel, SpecializeError> {
        let mut values: Vec<Option<i64>> = vec![None; self.syms.len()];
        for &(name, value) in bindings {
            let Some(sym) = self.sym_by_name(name) else {
                if let Some((_, bound)) = self.bound.iter().find(|(n, _)| n == name) {
                    return Err(SpecializeError::AlreadyBound {
                        kernel: self.name.clone(),
                        name: name.to_string(),
                        value: *bound,
                    });
                }
                return Err(SpecializeError::UnknownSymbol {
                    kernel: self.name.clone(),
                    name: name.to_string(),
                    expected: name_list(&self.static_params()),
                });
            };
            if self.syms[sym].kind == SymKind::Dynamic {
                return Err(SpecializeError::DynamicSymbol {
                    kernel: self.name.clone(),
                    name: name.to_string(),
                });
            }
            if let Some(first) = values[sym.index()] {
                return Err(SpecializeError::BoundTwice {
                    name: name.to_string(),
                    first,
                    second: value,
                });
            }
            if value < 0 {
                return Err(SpecializeError::Negative {
                    name: name.to_string(),
                    value,
                });
            }
            values[sym.index()] = Some(value);
        }
        let missing: Vec<&str> = self
            .syms
            .iter()
            .filter(|(s, d)| d.kind == SymKind::Static && values[s.index()].is_none())
            .map(|(_, d)| d.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(SpecializeError::Missing {
                kernel: self.name.clone(),
                missing: name_list(&missing),
            });
        }

        // The symbols that remain, renumbered in order; the bound ones become literals.
        let mut syms = PrimaryMap::<Sym, SymData>::new();
        let mut replacement: Vec<Dim> = Vec::with_capacity(self.syms.len());
        let mut bound = self.bound.clone();
        for (sym, data) in self.syms.iter() {
            match values[sym.index()] {
                Some(value) => {
                    bound.push((data.name, value));
                    replacement.push(Dim::lit(value));
                }
                None => replacement.push(Dim::sym(syms.push(data.clone()))),
            }
        }
        let bindings_text =
            describe_values(&self.syms, &|s| values.get(s.index()).copied().flatten());
        // Every dim is substituted with checked arithmetic and, once literal, range-checked; an error
        // names the dim as the kernel writes it and where it is used.
        let spec = DimSpecializer {
            kernel: self,
            replacement: &replacement,
            values: &bindings_text,
        };

        let mut out = self.clone();
        out.syms = syms;
        out.bound = bound;

        // Constraints first: they carry the reason a dim must hold (`1 <= E/G`: groups are not
        // empty). Check the ones that became literal, keep the others. A quotient that cannot be
        // evaluated is reported by the check with that reason; only an overflow is refused here.
        let mut kept = Vec::new();
        for c in &self.constraints {
            let condition = condition_text(self, &c.kind);
            let kind = substitute_constraint(&c.kind, &|d: &Dim| match d
                .try_substitute(&|s: Sym| replacement.get(s.index()).cloned())
            {
                Err(DimEvalError::Overflow) => {
                    spec.dim(d, &|| format!("in the constraint `{condition}`"), c.loc)
                }
                Ok(d) => Ok(d),
                Err(_) => Ok(d.substitute(&|s: Sym| replacement.get(s.index()).cloned())),
            })?;
            if constraint_syms(&kind).is_empty() {
                check_one(&out, c, condition, &kind, &|_| None, &bindings_text)?;
            } else {
                kept.push(Constraint {
                    kind,
                    loc: c.loc,
                    reason: c.reason.clone(),
                });
            }
        }
        out.constraints = kept;

        for (value, data) in out.values.iter_mut() {
            let op = self.values[value].def;
            let place = || value_place(self, value);
            data.ty = spec.ty(&data.ty, &place, self.locs[op])?;
        }
        for (op, data) in out.ops.iter_mut() {
            let kind_name = data.kind.name();
            let mut result = Ok(());
            substitute_kind(&mut data.kind, &mut |attr: &str, d: &Dim| {
                let place = || format!("in the `{attr}` of `{kind_name}`");
                match spec.dim(d, &place, self.locs[op]) {
                    Ok(d) => d,
                    Err(e) => {
                        if result.is_ok() {
                            result = Err(e);
                        }
                        d.clone()
                    }
                }
            });
            result?;
        }

        // Re-infer every op: with literal dims, conditions are decided now.
        for &op in &out.order {
            let Some(data) = out.ops.get(op) else {
                continue;
            };
            if matches!(data.kind, OpKind::Param { .. }) {
                continue;
            }
            let args: Option<Vec<&Type>> = data
                .args
                .iter()
                .map(|a| out.values.get(*a).map(|v| &v.ty))
                .collect();
            let Some(args) = args else { continue };
            if let Err(e) = infer(&data.kind, &args, &out.syms) {
                let loc = out.locs.get(op).copied().unwrap_or_default();
                return Err(SpecializeError::InvalidOp {
                    values: bindings_text,
                    op: data.kind.name().to_string(),
                    at: at(loc),
                    loc,
                    message: e.message,
                });
            }
        }
        Ok(out)
    }

    /// Checks every constraint whose symbols all have a value under `value`; constraints that mention
    /// a symbol without a value are skipped. Reports the first violated constraint, in kernel order.
    pub fn check_constraints(
        &self,
        value: &dyn Fn(Sym) -> Option<i64>,
    ) -> Result<(), SpecializeError> {
        for c in &self.constraints {
            let syms = constraint_syms(&c.kind);
            if syms.iter().any(|&s| value(s).is_none()) {
                continue;
            }
            let described = describe_values(&self.syms, &|s| {
                if syms.contains(&s) {
                    value(s)
                } else {
                    None
                }
            });
            check_one(
                self,
                c,
                condition_text(self, &c.kind),
                &c.kind,
                value,
                &described,
            )?;
        }
        Ok(())
    }
}

/// Checks one constraint: `kind` is the constraint `c` with substitutions applied, evaluated with
/// `value` and the symbols of `k`; `condition` is the constraint as the user knows it.
fn check_one(
    k: &Kernel,
    c: &Constraint,
    condition: String,
    kind: &ConstraintKind,
    value: &dyn Fn(Sym) -> Option<i64>,
    values_text: &str,
) -> Result<(), SpecializeError> {
    let eval = |d: &Dim| d.eval(value, &k.syms);
    let result = match kind {
        ConstraintKind::Divides { dim, divisor } => {
            eval(dim).and_then(|n| eval(divisor).map(|d| d != 0 && n % d == 0))
        }
        ConstraintKind::LessEq { small, large } => {
            eval(small).and_then(|s| eval(large).map(|l| s <= l))
        }
        ConstraintKind::Positive { dim } => eval(dim).map(|d| d >= 1),
    };
    match result {
        Ok(true) => Ok(()),
        Ok(false) => Err(SpecializeError::Violated {
            condition: condition.clone(),
            reason: c.reason.clone(),
            at: at(c.loc),
            loc: c.loc,
            values: if values_text.is_empty() {
                "no symbols".to_string()
            } else {
                values_text.to_string()
            },
        }),
        Err(error) => Err(SpecializeError::Unevaluable {
            condition: condition.clone(),
            reason: c.reason.clone(),
            at: at(c.loc),
            loc: c.loc,
            error,
        }),
    }
}

/// The condition of a constraint with the symbol names of `k`: `G divides E`.
fn condition_text(k: &Kernel, kind: &ConstraintKind) -> String {
    let mut text = String::new();
    // Writing to a `String` cannot fail.
    let _ = write_constraint_kind(&mut text, k, kind);
    text
}

/// Substitutes the static parameters of one kernel in its dims, checked (see [`Kernel::specialize`]).
struct DimSpecializer<'a> {
    /// The kernel before specialization (for symbol names).
    kernel: &'a Kernel,
    /// What each symbol of `kernel` becomes.
    replacement: &'a [Dim],
    /// The bindings as text, for errors.
    values: &'a str,
}

impl DimSpecializer<'_> {
    /// `dim` with the bound symbols replaced; an overflow, a division by zero, an inexact literal
    /// quotient or a literal outside `0..2^40` is an error naming `dim`, `place` and `loc`.
    fn dim(
        &self,
        dim: &Dim,
        place: &dyn Fn() -> String,
        loc: SrcLoc,
    ) -> Result<Dim, SpecializeError> {
        let bad = |problem: String| SpecializeError::BadDim {
            values: self.values.to_string(),
            dim: dim.display(&self.kernel.syms).to_string(),
            place: place(),
            loc,
            problem,
        };
        let out = dim
            .try_substitute(&|s: Sym| self.replacement.get(s.index()).cloned())
            .map_err(|e| {
                bad(match e {
                    DimEvalError::DivByZero => "divides by zero".to_string(),
                    DimEvalError::Inexact { num, den } => {
                        format!("is a quotient that is not exact ({num} is not divisible by {den})")
                    }
                    DimEvalError::Overflow => "overflows 64-bit arithmetic".to_string(),
                    other => other.to_string(),
                })
            })?;
        if let Some(value) = out.as_int() {
            if !(0..DIM_LIMIT).contains(&value) {
                let why = if value < 0 { "negative" } else { "too large" };
                return Err(bad(format!(
                    "is {value}, which is {why}: a dim must be in 0..2^40"
                )));
            }
        }
        Ok(out)
    }

    /// `ty` with its dims specialized; a tensor whose literal dims alone make more than `i64::MAX`
    /// bytes is an error too.
    fn ty(
        &self,
        ty: &Type,
        place: &dyn Fn() -> String,
        loc: SrcLoc,
    ) -> Result<Type, SpecializeError> {
        Ok(match ty {
            Type::Tensor(t) => {
                let mut out = t.clone();
                out.shape = t
                    .shape
                    .iter()
                    .map(|d| self.dim(d, place, loc))
                    .collect::<Result<_, _>>()?;
                let bytes = out
                    .shape
                    .iter()
                    .filter_map(Dim::as_int)
                    .try_fold(i128::from(t.dtype.size_bytes() as i64), |acc, d| {
                        acc.checked_mul(i128::from(d))
                    });
                if bytes.is_none_or(|b| b > i128::from(i64::MAX)) {
                    let shape: Vec<String> = t
                        .shape
                        .iter()
                        .map(|d| d.display(&self.kernel.syms).to_string())
                        .collect();
                    let literal: Vec<String> = out
                        .shape
                        .iter()
                        .map(|d| d.display(&self.kernel.syms).to_string())
                        .collect();
                    return Err(SpecializeError::BadDim {
                        values: self.values.to_string(),
                        dim: shape.join(", "),
                        place: place(),
                        loc,
                        problem: format!(
                            "makes a tensor of {} [{}] whose size in bytes overflows 64 bits",
                            t.dtype,
                            literal.join(", ")
                        ),
                    });
                }
                Type::Tensor(out)
            }
            Type::Routes(r) => Type::Routes(RoutesType {
                tokens: self.dim(&r.tokens, place, loc)?,
                k: self.dim(&r.k, place, loc)?,
                experts: self.dim(&r.experts, place, loc)?,
            }),
        })
    }
}

/// Where a value's type is written, for errors: "of parameter `x`" or "of the result of `exp`".
fn value_place(k: &Kernel, value: crate::graph::Value) -> String {
    let op = k.values[value].def;
    match k.ops[op].kind {
        OpKind::Param { index } => match k.params.get(index as usize) {
            Some(p) => format!("of parameter `{}`", p.name),
            None => format!("of parameter {index}"),
        },
        ref kind => format!("of the result of `{}`", kind.name()),
    }
}

/// Applies `subst` to every dim in an op's attributes, with the attribute's name.
fn substitute_kind(kind: &mut OpKind, subst: &mut dyn FnMut(&str, &Dim) -> Dim) {
    match kind {
        OpKind::Reshape { shape } => {
            for d in shape.iter_mut() {
                *d = subst("shape", d);
            }
        }
        OpKind::Slice { start, end, .. } => {
            *start = subst("start", start);
            *end = subst("end", end);
        }
        OpKind::TopK { k } => *k = subst("k", k),
        OpKind::GroupTopK { groups, k } => {
            *groups = subst("groups", groups);
            *k = subst("k", k);
        }
        OpKind::ScatterAdd { size } => *size = subst("size", size),
        OpKind::Route { experts } => *experts = subst("experts", experts),
        OpKind::Param { .. }
        | OpKind::Const { .. }
        | OpKind::Unary(_)
        | OpKind::Binary(_)
        | OpKind::Cast { .. }
        | OpKind::Compare(_)
        | OpKind::Select
        | OpKind::Reduce { .. }
        | OpKind::ArgReduce { .. }
        | OpKind::Softmax { .. }
        | OpKind::LogSoftmax { .. }
        | OpKind::RmsNorm { .. }
        | OpKind::Concat { .. }
        | OpKind::Transpose { .. }
        | OpKind::Gather
        | OpKind::MatMul
        | OpKind::Dispatch
        | OpKind::GroupedMatmul
        | OpKind::Swiglu
        | OpKind::Combine => {}
    }
}

fn substitute_constraint<E>(
    kind: &ConstraintKind,
    subst: &dyn Fn(&Dim) -> Result<Dim, E>,
) -> Result<ConstraintKind, E> {
    Ok(match kind {
        ConstraintKind::Divides { dim, divisor } => ConstraintKind::Divides {
            dim: subst(dim)?,
            divisor: subst(divisor)?,
        },
        ConstraintKind::LessEq { small, large } => ConstraintKind::LessEq {
            small: subst(small)?,
            large: subst(large)?,
        },
        ConstraintKind::Positive { dim } => ConstraintKind::Positive { dim: subst(dim)? },
    })
}

/// The symbols a constraint mentions, in order of first appearance.
pub(crate) fn constraint_syms(kind: &ConstraintKind) -> Vec<Sym> {
    let dims: Vec<&Dim> = match kind {
        ConstraintKind::Divides { dim, divisor } => vec![dim, divisor],
        ConstraintKind::LessEq { small, large } => vec![small, large],
        ConstraintKind::Positive { dim } => vec![dim],
    };
    let mut out: Vec<Sym> = Vec::new();
    for d in dims {
        for s in d.syms() {
            if !out.contains(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// `E = 64, G = 8` for the symbols that have values, in declaration order.
fn describe_values(syms: &PrimaryMap<Sym, SymData>, value: &dyn Fn(Sym) -> Option<i64>) -> String {
    let parts: Vec<String> = syms
        .iter()
        .filter_map(|(s, d)| value(s).map(|v| format!("{} = {v}", d.name)))
        .collect();
    parts.join(", ")
}

/// `` `E`, `G` `` or "none".
fn name_list(names: &[&str]) -> String {
    if names.is_empty() {
        return "none".to_string();
    }
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// ` at line:col` for a known location, else empty.
fn at(loc: SrcLoc) -> String {
    if loc.is_unknown() {
        String::new()
    } else {
        format!(" at {}", DisplayLineCol(loc))
    }
}

struct DisplayLineCol(SrcLoc);

impl fmt::Display for DisplayLineCol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.line, self.0.col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::write::kernel_to_string;
    use crate::graph::write::samples::{every_op, gate, loc, output, push, ten};
    use crate::graph::DType;

    fn spec_err(k: &Kernel, bindings: &[(&str, i64)]) -> SpecializeError {
        match k.specialize(bindings) {
            Ok(s) => panic!("expected an error, got\n{s}"),
            Err(e) => e,
        }
    }

    #[test]
    fn gate_specializes() {
        let k = gate()
            .specialize(&[("G", 8), ("E", 64)])
            .expect("valid bindings");
        let expected = "kernel moge_gate<E = 64, G = 8>(logits: f32[T, 64], router_scale: f32[64]) -> (weight: f32[T, 8], expert: i32[T, 8]) {
  dyn T
  v0 = param 0 : f32[T, 64]                        @3:5-3:33
  v1 = param 1 : f32[64]                           @4:5-4:35
  v2 = softmax v0, axis=1 : f32[T, 64]             @6:17-6:36
  v3, v4 = group_topk v2, groups=8, k=1 : f32[T, 8], i32[T, 8] @7:24-7:49
  #[tile(rows = 8)]
  v5 = gather v1, v4 : f32[T, 8]
  v6 = mul v3, v5 : f32[T, 8]                      @8:6-8:40
  return weight = v6, expert = v4
}
";
        assert_eq!(kernel_to_string(&k), expected);
        assert_eq!(
            k.bound,
            vec![
                (crate::Symbol::intern("E"), 64),
                (crate::Symbol::intern("G"), 8)
            ]
        );
        assert_eq!(k.syms.len(), 1);
        assert!(k.static_params().is_empty());
        assert_eq!(k.dynamic_dims(), vec!["T"]);
        assert!(k.constraints.is_empty());
        // Zero is a valid size when the constraints allow it: E = 0 has no groups of size >= 1.
        let e = spec_err(&gate(), &[("E", 0), ("G", 1)]);
        assert!(
            e.to_string()
                .contains("constraint `1 <= E/G` at 7:24 does not hold"),
            "{e}"
        );
    }

    #[test]
    fn every_op_specializes_and_verifies() {
        let k = every_op()
            .specialize(&[("E", 64), ("G", 8), ("H", 32), ("I", 16)])
            .expect("valid");
        let text = kernel_to_string(&k);
        assert!(
            text.contains("= reshape v1, shape=[T, 8, 8] : f32[T, 8, 8]"),
            "{text}"
        );
        assert!(
            text.contains("= slice v0, axis=1, start=1, end=31 : f32[T, 30]"),
            "{text}"
        );
        assert!(
            text.contains("= grouped_matmul v60, v3, v59 : f32[8*T, 32]"),
            "{text}"
        );
        assert!(k.constraints.is_empty(), "{text}");
        if let Err(e) = crate::graph::verify::verify(&k) {
            panic!("{e}\n{text}");
        }
    }

    #[test]
    fn binding_errors() {
        let k = gate();
        assert_eq!(
            spec_err(&k, &[("E", 64), ("G", 8), ("X", 1)]).to_string(),
            "kernel `moge_gate` has no static parameter `X`; its static parameters are `E`, `G`"
        );
        assert_eq!(
            spec_err(&k, &[("T", 4)]).to_string(),
            "`T` is a dynamic dim of kernel `moge_gate`, bound from the input shapes at launch; only static parameters are bound by specialization"
        );
        assert_eq!(
            spec_err(&k, &[("E", 64)]).to_string(),
            "kernel `moge_gate` needs a value for every static parameter; missing `G`"
        );
        assert_eq!(
            spec_err(&k, &[]).to_string(),
            "kernel `moge_gate` needs a value for every static parameter; missing `E`, `G`"
        );
        assert_eq!(
            spec_err(&k, &[("E", -64), ("G", 8)]).to_string(),
            "static parameter `E` must be a non-negative size, found -64"
        );
        assert_eq!(
            spec_err(&k, &[("E", 64), ("G", 8), ("E", 32)]).to_string(),
            "static parameter `E` is bound twice, to 64 and to 32"
        );
        let done = k.specialize(&[("E", 64), ("G", 8)]).expect("valid");
        assert_eq!(
            spec_err(&done, &[("E", 64)]).to_string(),
            "static parameter `E` of kernel `moge_gate` is already bound to 64"
        );
        assert_eq!(
            spec_err(&done, &[("Q", 1)]).to_string(),
            "kernel `moge_gate` has no static parameter `Q`; its static parameters are none"
        );
        // A specialized kernel (or one without static parameters) specializes with no bindings.
        assert_eq!(done.specialize(&[]).expect("nothing to bind"), done);
    }

    #[test]
    fn violated_constraint_reports_reason_and_location() {
        let e = spec_err(&gate(), &[("E", 64), ("G", 7)]);
        assert_eq!(
            e.to_string(),
            "constraint `G divides E` at 7:24 does not hold: the group count of `group_topk` must divide the last dim (with E = 64, G = 7)"
        );
        match e {
            SpecializeError::Violated { loc: l, .. } => assert_eq!(l, loc(7, 24, 49)),
            other => panic!("unexpected {other:?}"),
        }
        // G = 128 > E = 64: 64 is not divisible by 128 either.
        let e = spec_err(&gate(), &[("E", 64), ("G", 128)]);
        assert!(
            e.to_string()
                .starts_with("constraint `G divides E` at 7:24 does not hold"),
            "{e}"
        );
    }

    #[test]
    fn ops_are_rechecked_without_constraints() {
        let mut k = gate();
        k.constraints.clear();
        let e = spec_err(&k, &[("E", 64), ("G", 7)]);
        assert_eq!(
            e.to_string(),
            "after binding E = 64, G = 7, the op `group_topk` at 7:24 is invalid: `group_topk` cannot split the last axis `64` of `f32[T, 64]` into `7` equal groups"
        );
    }

    #[test]
    fn dynamic_constraints_are_kept_and_checked() {
        let mut k = Kernel::new("top4");
        let n = Dim::sym(k.add_sym("N", SymKind::Static));
        let t = Dim::sym(k.add_sym("T", SymKind::Dynamic));
        let x = k.add_param("x", ten(DType::F32, &[n, t]), loc(1, 1, 5));
        let top = push(&mut k, OpKind::TopK { k: Dim::lit(4) }, &[x], loc(2, 3, 9));
        output(&mut k, "v", top[0]);
        let s = k.specialize(&[("N", 2)]).expect("valid");
        assert_eq!(s.constraints.len(), 1);
        let t_new = s.sym_by_name("T").expect("T remains");
        assert_eq!(
            s.constraints[0].kind,
            ConstraintKind::LessEq {
                small: Dim::lit(4),
                large: Dim::sym(t_new)
            }
        );
        assert_eq!(s.check_constraints(&|_| None), Ok(()));
        assert_eq!(s.check_constraints(&|_| Some(4)), Ok(()));
        let e = s
            .check_constraints(&|_| Some(3))
            .expect_err("4 <= 3 is false");
        assert_eq!(
            e.to_string(),
            "constraint `4 <= T` at 2:3 does not hold: the `k` of `topk` must not exceed the last dim (with T = 3)"
        );
    }

    #[test]
    fn unevaluable_constraints() {
        let mut k = Kernel::new("q");
        let a = Dim::sym(k.add_sym("A", SymKind::Dynamic));
        let b = Dim::sym(k.add_sym("B", SymKind::Dynamic));
        let quotient = Dim::div(&a, &b).expect("symbolic");
        k.constraints.push(Constraint {
            kind: ConstraintKind::LessEq {
                small: Dim::lit(1),
                large: quotient,
            },
            loc: SrcLoc::default(),
            reason: "groups are not empty".to_string(),
        });
        let values = |s: Sym| Some(if s.index() == 0 { 10 } else { 4 });
        assert_eq!(
            k.check_constraints(&values).expect_err("10/4 is inexact").to_string(),
            "constraint `1 <= A/B` cannot be checked: `10` is not divisible by `4` (groups are not empty)"
        );
        let values = |s: Sym| Some(if s.index() == 0 { 12 } else { 4 });
        assert_eq!(k.check_constraints(&values), Ok(()));
        let values = |s: Sym| Some(if s.index() == 0 { 12 } else { 0 });
        assert_eq!(
            k.check_constraints(&values).expect_err("division by zero").to_string(),
            "constraint `1 <= A/B` cannot be checked: division by zero in a dimension expression (groups are not empty)"
        );
        // Divides and Positive constraints.
        k.constraints[0].kind = ConstraintKind::Divides {
            dim: a.clone(),
            divisor: b.clone(),
        };
        assert_eq!(
            k.check_constraints(&|s| Some(if s.index() == 0 { 12 } else { 4 })),
            Ok(())
        );
        assert!(k
            .check_constraints(&|s| Some(if s.index() == 0 { 12 } else { 5 }))
            .is_err());
        assert!(k
            .check_constraints(&|s| Some(if s.index() == 0 { 12 } else { 0 }))
            .is_err());
        k.constraints[0].kind = ConstraintKind::Positive { dim: a };
        assert_eq!(k.check_constraints(&|_| Some(1)), Ok(()));
        assert_eq!(
            k.check_constraints(&|_| Some(0))
                .expect_err("0 >= 1 is false")
                .to_string(),
            "constraint `A >= 1` does not hold: groups are not empty (with A = 0)"
        );
    }

    /// A kernel `k<A, B, C>(x: f32[T, dim]) -> x` with the given dim in its parameter's type.
    fn with_dim(dim: impl Fn(&[Dim]) -> Option<Dim>) -> Option<Kernel> {
        let mut k = Kernel::new("k");
        let syms: Vec<Dim> = ["A", "B", "C"]
            .iter()
            .map(|n| Dim::sym(k.add_sym(*n, SymKind::Static)))
            .collect();
        let t = Dim::sym(k.add_sym("T", SymKind::Dynamic));
        let x = k.add_param("x", ten(DType::F32, &[t, dim(&syms)?]), loc(2, 5, 30));
        output(&mut k, "y", x);
        Some(k)
    }

    #[test]
    fn dims_out_of_range_are_refused_with_their_expression() {
        let k = with_dim(|s| Some(Dim::sub(&s[0], &Dim::lit(100)))).unwrap();
        assert_eq!(
            spec_err(&k, &[("A", 16), ("B", 0), ("C", 0)]).to_string(),
            "after binding A = 16, B = 0, C = 0, the dim `A - 100` of parameter `x` at 2:5 is -84, which is negative: a dim must be in 0..2^40"
        );
        let a6 = |s: &[Dim]| Some((0..5).fold(s[0].clone(), |acc, _| Dim::mul(&acc, &s[0])));
        let k = with_dim(a6).unwrap();
        assert_eq!(
            spec_err(&k, &[("A", 1_000_000), ("B", 0), ("C", 0)]).to_string(),
            "after binding A = 1000000, B = 0, C = 0, the dim `A*A*A*A*A*A` of parameter `x` at 2:5 overflows 64-bit arithmetic"
        );
        assert_eq!(
            spec_err(&k, &[("A", 1000), ("B", 0), ("C", 0)]).to_string(),
            "after binding A = 1000, B = 0, C = 0, the dim `A*A*A*A*A*A` of parameter `x` at 2:5 is 1000000000000000000, which is too large: a dim must be in 0..2^40"
        );
        let k = with_dim(|s| Dim::div(&s[0], &s[1])).unwrap();
        assert_eq!(
            spec_err(&k, &[("A", 4), ("B", 0), ("C", 0)]).to_string(),
            "after binding A = 4, B = 0, C = 0, the dim `A/B` of parameter `x` at 2:5 divides by zero"
        );
        assert_eq!(
            spec_err(&k, &[("A", 5), ("B", 2), ("C", 0)]).to_string(),
            "after binding A = 5, B = 2, C = 0, the dim `A/B` of parameter `x` at 2:5 is a quotient that is not exact (5 is not divisible by 2)"
        );
        // In range: fine, and the size of a tensor of those dims in bytes is checked too.
        let spec = k.specialize(&[("A", 6), ("B", 2), ("C", 0)]).unwrap();
        assert_eq!(spec.tensor_ty(spec.params[0].value).shape[1], Dim::lit(3));
        let mut k = with_dim(|s| Some(s[0].clone())).unwrap();
        let big = ten(
            DType::F32,
            &[
                Dim::sym(Sym::new(0)),
                Dim::sym(Sym::new(1)),
                Dim::sym(Sym::new(2)),
            ],
        );
        let v = k.add_param("z", big, loc(3, 5, 9));
        output(&mut k, "w", v);
        let e = spec_err(&k, &[("A", 1 << 39), ("B", 1 << 39), ("C", 1)]);
        assert_eq!(
            e.to_string(),
            "after binding A = 549755813888, B = 549755813888, C = 1, the dim `A, B, C` of parameter `z` at 3:5 makes a tensor of f32 [549755813888, 549755813888, 1] whose size in bytes overflows 64 bits"
        );
        // A literal that overflowed when the kernel was built is not saturated into a value.
        let huge = Dim::mul(&Dim::lit(1 << 40), &Dim::lit(1 << 40));
        let k = with_dim(|s| Some(Dim::sub(&Dim::add(&huge, &s[0]), &Dim::lit(i64::MAX)))).unwrap();
        let e = spec_err(&k, &[("A", 5), ("B", 0), ("C", 0)]);
        assert!(
            e.to_string().ends_with("overflows 64-bit arithmetic"),
            "{e}"
        );
    }

    /// An expression tree as the test evaluates it, independently of `Dim`.
    #[derive(Clone, Debug)]
    enum Tree {
        Lit(i64),
        Sym(usize),
        Add(Box<Tree>, Box<Tree>),
        Sub(Box<Tree>, Box<Tree>),
        Mul(Box<Tree>, Box<Tree>),
        Div(Box<Tree>, Box<Tree>),
    }

    /// The exact value in i128 (`None` when even i128 overflows), or `Err` for a division by zero or
    /// an inexact one.
    fn exact(t: &Tree, vals: &[i64]) -> Option<Result<i128, ()>> {
        Some(match t {
            Tree::Lit(c) => Ok(i128::from(*c)),
            Tree::Sym(i) => Ok(i128::from(vals[*i])),
            Tree::Add(a, b) | Tree::Sub(a, b) | Tree::Mul(a, b) | Tree::Div(a, b) => {
                let (x, y) = match (exact(a, vals)?, exact(b, vals)?) {
                    (Ok(x), Ok(y)) => (x, y),
                    _ => return Some(Err(())),
                };
                match t {
                    Tree::Add(..) => Ok(x.checked_add(y)?),
                    Tree::Sub(..) => Ok(x.checked_sub(y)?),
                    Tree::Mul(..) => Ok(x.checked_mul(y)?),
                    _ if y == 0 || x % y != 0 => Err(()),
                    _ => Ok(x / y),
                }
            }
        })
    }

    /// A bound on every intermediate of any evaluation order of the expanded sum of products: the
    /// tree evaluated with absolute values at least 1 (a partial product may leave out a zero factor)
    /// and `-` as `+` (a quotient bounded by its numerator).
    fn magnitude(t: &Tree, vals: &[i64]) -> u128 {
        match t {
            Tree::Lit(c) => u128::from(c.unsigned_abs().max(1)),
            Tree::Sym(i) => u128::from(vals[*i].unsigned_abs().max(1)),
            Tree::Add(a, b) | Tree::Sub(a, b) => {
                magnitude(a, vals).saturating_add(magnitude(b, vals))
            }
            Tree::Mul(a, b) => magnitude(a, vals).saturating_mul(magnitude(b, vals)),
            Tree::Div(a, b) => magnitude(a, vals).max(magnitude(b, vals)),
        }
    }

    fn build(t: &Tree, syms: &[Dim]) -> Option<Dim> {
        Some(match t {
            Tree::Lit(c) => Dim::lit(*c),
            Tree::Sym(i) => syms[*i].clone(),
            Tree::Add(a, b) => Dim::add(&build(a, syms)?, &build(b, syms)?),
            Tree::Sub(a, b) => Dim::sub(&build(a, syms)?, &build(b, syms)?),
            Tree::Mul(a, b) => Dim::mul(&build(a, syms)?, &build(b, syms)?),
            // A literal division that fails is a check-time error of the frontend: no kernel.
            Tree::Div(a, b) => Dim::div(&build(a, syms)?, &build(b, syms)?)?,
        })
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const VALUES: [i64; 14] = [
        0,
        1,
        2,
        3,
        7,
        16,
        100,
        1000,
        65536,
        1_000_000,
        1 << 31,
        3_000_000_000,
        1 << 40,
        1 << 62,
    ];

    fn tree(rng: &mut Rng, depth: u32) -> Tree {
        if depth == 0 || rng.below(3) == 0 {
            return if rng.below(2) == 0 {
                Tree::Sym(rng.below(3))
            } else {
                Tree::Lit(VALUES[rng.below(VALUES.len() - 1)])
            };
        }
        let (a, b) = (
            Box::new(tree(rng, depth - 1)),
            Box::new(tree(rng, depth - 1)),
        );
        match rng.below(7) {
            0 | 1 => Tree::Add(a, b),
            2 | 3 => Tree::Sub(a, b),
            4 | 5 => Tree::Mul(a, b),
            _ => Tree::Div(a, b),
        }
    }

    /// Random dim expressions and bindings: specialization gives exactly the checked i128 value when
    /// it is a valid size and nothing overflows, and otherwise refuses with a reason the reference
    /// confirms; never a wrapped or saturated value.
    #[test]
    fn specialized_dims_agree_with_checked_i128_evaluation() {
        let mut rng = Rng(0x7370_6563_6469_6d73);
        let (mut ok, mut refused) = (0, 0);
        for _ in 0..4000 {
            let depth = 1 + rng.below(5) as u32;
            let t = tree(&mut rng, depth);
            let Some(k) = with_dim(|s| build(&t, s)) else {
                continue;
            };
            let vals: Vec<i64> = (0..3).map(|_| VALUES[rng.below(VALUES.len())]).collect();
            let bindings = [("A", vals[0]), ("B", vals[1]), ("C", vals[2])];
            let reference = exact(&t, &vals);
            let fits = magnitude(&t, &vals) <= i64::MAX as u128;
            let dim = k.tensor_ty(k.params[0].value).shape[1].clone();
            let dim_text = dim.display(&k.syms).to_string();
            // Evaluated as a dynamic dim is at launch in the interpreter: the exact value when it is a
            // size, an error otherwise; never a wrapped value.
            match dim.eval(&|s| vals.get(s.index()).copied(), &k.syms) {
                Ok(v) => {
                    assert!((0..DIM_LIMIT).contains(&v), "{t:?} {vals:?}: {v}");
                    if let Some(Ok(want)) = reference {
                        assert_eq!(i128::from(v), want, "{t:?} {vals:?}");
                    }
                }
                Err(DimEvalError::OutOfRange(v)) => {
                    if let Some(Ok(want)) = reference {
                        if want.unsigned_abs() <= 1 << 100 {
                            assert_eq!(v, want, "{t:?} {vals:?}");
                        }
                        assert!(
                            !(0..i128::from(DIM_LIMIT)).contains(&want),
                            "{t:?} {vals:?}"
                        );
                    }
                }
                Err(DimEvalError::Overflow) => {
                    assert!(magnitude(&t, &vals) > 1 << 100, "{t:?} {vals:?}")
                }
                Err(e) => assert!(
                    matches!(reference, Some(Err(())) | None),
                    "{t:?} {vals:?}: {e}"
                ),
            }
            match k.specialize(&bindings) {
                Ok(spec) => {
                    ok += 1;
                    let got = spec.tensor_ty(spec.params[0].value).shape[1].as_int();
                    let got = got.unwrap_or_else(|| panic!("{t:?} {vals:?}: not a literal"));
                    assert!((0..DIM_LIMIT).contains(&got), "{t:?} {vals:?}: {got}");
                    // A division by zero can cancel out symbolically (`A/B - A/B`); otherwise the
                    // value is the exact one.
                    if let Some(Ok(want)) = reference {
                        assert_eq!(i128::from(got), want, "{t:?} {vals:?}");
                    }
                }
                Err(e) => {
                    refused += 1;
                    let SpecializeError::BadDim { dim, problem, .. } = &e else {
                        panic!("{t:?} {vals:?}: {e}");
                    };
                    assert_eq!(*dim, dim_text);
                    match reference {
                        Some(Ok(v)) if fits && (0..i128::from(DIM_LIMIT)).contains(&v) => {
                            panic!("{t:?} {vals:?}: {v} is a valid size, but: {e}")
                        }
                        Some(Ok(v)) => {
                            let shown = problem
                                .strip_prefix("is ")
                                .and_then(|rest| rest.split(',').next()?.parse::<i128>().ok());
                            if let Some(shown) = shown {
                                assert_eq!(shown, v, "{t:?} {vals:?}: {e}");
                            } else {
                                assert!(!fits, "{t:?} {vals:?}: {e}");
                            }
                        }
                        // Division problems and values beyond even i128 are refused.
                        Some(Err(())) | None => {}
                    }
                }
            }
        }
        assert!(ok > 300 && refused > 300, "{ok} {refused}");
    }
}
