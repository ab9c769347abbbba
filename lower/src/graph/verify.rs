//! The graph-IR verifier: checks that a kernel is well formed, collecting every error.
//!
//! [`verify`] first checks references, so that later checks (and every pass after a successful
//! verification) can index without `Option`s: ids are in range, each op appears exactly once in the
//! program order, results agree with their values' `def` and `index`, operands are defined by an earlier
//! op, `param` ops come first and match [`Kernel::params`], symbols are declared. Only if all of that
//! holds does it re-run [`infer`] on every op and compare the result types, check that the constraints
//! an op needs are listed, and that outputs are tensors of a non-`bool` dtype.
//!
//! Errors are tied to an entity ([`AnyEntity`]); [`kernel_with_errors`] prints the IR dump with each
//! error as a `; error:` line after the op it concerns.

use std::fmt;

use cranelift_entity::EntityRef;

use super::dim::Dim;
use super::entities::{Op, Value};
use super::infer::infer;
use super::ops::OpKind;
use super::types::{DType, Type};
use super::write::{decorated_write_kernel, write_constraint_kind, Decorate};
use super::{ConstraintKind, Kernel, SymKind};

/// What a verifier error is about.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum AnyEntity {
    /// The kernel as a whole (its symbols, parameters, outputs, constraints).
    Kernel,
    /// An op.
    Op(Op),
    /// A value.
    Value(Value),
}

impl fmt::Display for AnyEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyEntity::Kernel => f.write_str("kernel"),
            AnyEntity::Op(op) => write!(f, "{op}"),
            AnyEntity::Value(v) => write!(f, "{v}"),
        }
    }
}

/// One verifier error.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifierError {
    /// The entity the error is about.
    pub location: AnyEntity,
    /// A lowercase sentence saying what is wrong.
    pub message: String,
}

impl fmt::Display for VerifierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every error found in a kernel, in the order found.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct VerifierErrors(pub Vec<VerifierError>);

impl VerifierErrors {
    /// Whether there are no errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn report(&mut self, location: AnyEntity, message: impl Into<String>) {
        self.0.push(VerifierError {
            location,
            message: message.into(),
        });
    }
}

impl fmt::Display for VerifierErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_lines(f, &self.0)
    }
}

impl std::error::Error for VerifierErrors {}

/// Writes `items` one a line (no newline after the last): the display form of a list of errors.
pub(crate) fn write_lines<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str("\n")?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

/// Verifies `k`, returning every error found.
pub fn verify(k: &Kernel) -> Result<(), VerifierErrors> {
    let mut errors = VerifierErrors::default();
    verify_references(k, &mut errors);
    let references_ok = errors.is_empty();
    verify_names(k, &mut errors);
    if references_ok {
        verify_types(k, &mut errors);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The text form of `k` with each error printed as `; error: ...` after the op it is about (errors
/// about the kernel, or about ops and values that cannot be placed, come after the header).
pub fn kernel_with_errors(k: &Kernel, errors: &VerifierErrors) -> String {
    let mut out = String::new();
    let mut decorator = ErrorDecorator { errors };
    // Writing to a `String` cannot fail.
    let _ = decorated_write_kernel(&mut decorator, &mut out, k);
    out
}

/// Where an error is printed: after an op in the order, or (`None`) after the header.
fn placement(k: &Kernel, location: AnyEntity) -> Option<Op> {
    let op = match location {
        AnyEntity::Kernel => return None,
        AnyEntity::Op(op) => op,
        AnyEntity::Value(v) => k.values.get(v)?.def,
    };
    k.order.contains(&op).then_some(op)
}

struct ErrorDecorator<'a> {
    errors: &'a VerifierErrors,
}

impl Decorate for ErrorDecorator<'_> {
    fn kernel_comment(&mut self, w: &mut dyn fmt::Write, kernel: &Kernel) -> fmt::Result {
        for e in &self.errors.0 {
            if placement(kernel, e.location).is_none() {
                writeln!(w, "  ; error: {e}")?;
            }
        }
        Ok(())
    }

    fn after_op(&mut self, w: &mut dyn fmt::Write, kernel: &Kernel, op: Op) -> fmt::Result {
        for e in &self.errors.0 {
            if placement(kernel, e.location) == Some(op) {
                writeln!(w, "  ; error: {e}")?;
            }
        }
        Ok(())
    }
}

/// Checks ids, the order, definitions before uses, parameters and symbols.
fn verify_references(k: &Kernel, errors: &mut VerifierErrors) {
    let n_ops = k.ops.len();
    let n_values = k.values.len();

    let check_dims =
        |errors: &mut VerifierErrors, location: AnyEntity, what: &str, dims: &[&Dim]| {
            for d in dims {
                for s in d.syms() {
                    if k.syms.get(s).is_none() {
                        errors.report(location, format!("{what} uses the undeclared symbol {s}"));
                    }
                }
                if let Some(c) = d.as_int() {
                    if c < 0 {
                        errors.report(location, format!("{what} has the negative dim {c}"));
                    }
                }
            }
        };

    // The order: every op exactly once.
    let mut position: Vec<Option<usize>> = vec![None; n_ops];
    for (i, &op) in k.order.iter().enumerate() {
        match position.get_mut(op.index()) {
            None => errors.report(
                AnyEntity::Kernel,
                format!("the order lists {op}, but the kernel has {n_ops} ops"),
            ),
            Some(Some(_)) => errors.report(AnyEntity::Op(op), "op appears twice in the order"),
            Some(slot) => *slot = Some(i),
        }
    }
    for (op, slot) in position.iter().enumerate() {
        if slot.is_none() {
            errors.report(AnyEntity::Op(Op::new(op)), "op is not in the order");
        }
    }

    // Ops: results and operands in range, results consistent with their values.
    for (op, data) in k.ops.iter() {
        for (index, &v) in data.results.iter().enumerate() {
            match k.values.get(v) {
                None => errors.report(
                    AnyEntity::Op(op),
                    format!("result {index} is {v}, but the kernel has {n_values} values"),
                ),
                Some(vd) if vd.def != op || vd.index as usize != index => errors.report(
                    AnyEntity::Op(op),
                    format!(
                        "result {index} is {v}, but {v} says it is result {} of {}",
                        vd.index, vd.def
                    ),
                ),
                Some(_) => {}
            }
        }
        for (index, &v) in data.args.iter().enumerate() {
            if k.values.get(v).is_none() {
                errors.report(
                    AnyEntity::Op(op),
                    format!("operand {index} is {v}, but the kernel has {n_values} values"),
                );
            }
        }
        let attr_dims: Vec<&Dim> = match &data.kind {
            OpKind::Reshape { shape } => shape.iter().collect(),
            OpKind::Slice { start, end, .. } => vec![start, end],
            OpKind::TopK { k } => vec![k],
            OpKind::GroupTopK { groups, k } => vec![groups, k],
            OpKind::ScatterAdd { size } => vec![size],
            OpKind::Route { experts } => vec![experts],
            _ => Vec::new(),
        };
        check_dims(errors, AnyEntity::Op(op), "an attribute", &attr_dims);
    }
    // Values: defined by an op that lists them.
    for (v, vd) in k.values.iter() {
        let listed = k
            .ops
            .get(vd.def)
            .and_then(|d| d.results.get(vd.index as usize));
        if listed != Some(&v) {
            errors.report(
                AnyEntity::Value(v),
                format!(
                    "value says it is result {} of {}, which does not list it",
                    vd.index, vd.def
                ),
            );
        }
        check_dims(errors, AnyEntity::Value(v), "its type", &type_dims(&vd.ty));
    }

    // Uses follow definitions in the order.
    let mut defined_somewhere = vec![false; n_values];
    for &op in &k.order {
        for &v in k.ops.get(op).map_or(&[][..], |d| &d.results[..]) {
            if let Some(slot) = defined_somewhere.get_mut(v.index()) {
                *slot = true;
            }
        }
    }
    let mut defined = vec![false; n_values];
    for &op in &k.order {
        let Some(data) = k.ops.get(op) else { continue };
        for (index, &v) in data.args.iter().enumerate() {
            match (defined.get(v.index()), defined_somewhere.get(v.index())) {
                (Some(false), Some(true)) => errors.report(
                    AnyEntity::Op(op),
                    format!("operand {index} uses {v} before its definition"),
                ),
                (Some(false), _) => errors.report(
                    AnyEntity::Op(op),
                    format!("operand {index} uses {v}, which no op in the order defines"),
                ),
                _ => {}
            }
        }
        for &v in &data.results {
            if let Some(slot) = defined.get_mut(v.index()) {
                *slot = true;
            }
        }
    }

    // Parameters: `param` ops first, one per parameter, in order.
    let mut params_done = false;
    let mut n_param_ops = 0;
    for &op in &k.order {
        let Some(data) = k.ops.get(op) else { continue };
        match data.kind {
            OpKind::Param { index } => {
                if params_done {
                    errors.report(AnyEntity::Op(op), "`param` op after a non-`param` op");
                }
                n_param_ops += 1;
                let param = k.params.get(index as usize);
                if param.is_none_or(|p| data.results.first() != Some(&p.value)) {
                    errors.report(
                        AnyEntity::Op(op),
                        format!("`param {index}` is not the op of parameter {index}"),
                    );
                }
                if !data.args.is_empty() {
                    errors.report(AnyEntity::Op(op), "`param` takes no operands");
                }
            }
            _ => params_done = true,
        }
    }
    if n_param_ops != k.params.len() {
        errors.report(
            AnyEntity::Kernel,
            format!(
                "the kernel has {} parameters but {n_param_ops} `param` ops",
                k.params.len()
            ),
        );
    }
    for p in &k.params {
        if k.values.get(p.value).is_none() {
            errors.report(
                AnyEntity::Kernel,
                format!(
                    "parameter `{}` is {}, but the kernel has {n_values} values",
                    p.name, p.value
                ),
            );
        }
    }
    for o in &k.outputs {
        if k.values.get(o.value).is_none() {
            errors.report(
                AnyEntity::Kernel,
                format!(
                    "output `{}` is {}, but the kernel has {n_values} values",
                    o.name, o.value
                ),
            );
        }
    }
    for (i, c) in k.constraints.iter().enumerate() {
        let dims: Vec<&Dim> = match &c.kind {
            ConstraintKind::Divides { dim, divisor } => vec![dim, divisor],
            ConstraintKind::LessEq { small, large } => vec![small, large],
            ConstraintKind::Positive { dim } => vec![dim],
        };
        check_dims(errors, AnyEntity::Kernel, &format!("constraint {i}"), &dims);
    }
    for (op, loc) in k.locs.iter() {
        if op.index() >= n_ops && *loc != Default::default() {
            errors.report(
                AnyEntity::Kernel,
                format!("a source location is attached to {op}, which does not exist"),
            );
        }
    }
    for (op, hints) in k.hints.iter() {
        if op.index() >= n_ops && !hints.is_empty() {
            errors.report(
                AnyEntity::Kernel,
                format!("hints are attached to {op}, which does not exist"),
            );
        }
    }
}

/// Checks names: symbols unique and static ones first, parameter and output names unique.
fn verify_names(k: &Kernel, errors: &mut VerifierErrors) {
    // Symbols: unique names, static ones first, bound names not redeclared.
    let mut seen_dynamic = false;
    for (sym, data) in k.syms.iter() {
        if k.syms
            .iter()
            .take(sym.index())
            .any(|(_, d)| d.name == data.name)
        {
            errors.report(
                AnyEntity::Kernel,
                format!("symbol `{}` is declared twice", data.name),
            );
        }
        if k.bound.iter().any(|(n, _)| *n == data.name) {
            errors.report(
                AnyEntity::Kernel,
                format!("symbol `{}` is declared and also bound", data.name),
            );
        }
        match data.kind {
            SymKind::Dynamic => seen_dynamic = true,
            SymKind::Static if seen_dynamic => errors.report(
                AnyEntity::Kernel,
                format!(
                    "static symbol `{}` is declared after a dynamic one",
                    data.name
                ),
            ),
            SymKind::Static => {}
        }
    }
    for (i, p) in k.params.iter().enumerate() {
        if k.params.iter().take(i).any(|q| q.name == p.name) {
            errors.report(
                AnyEntity::Kernel,
                format!("parameter name `{}` is used twice", p.name),
            );
        }
    }
    for (i, o) in k.outputs.iter().enumerate() {
        if k.outputs.iter().take(i).any(|q| q.name == o.name) {
            errors.report(
                AnyEntity::Kernel,
                format!("output name `{}` is used twice", o.name),
            );
        }
        // Inputs and outputs are tensors of one namespace (the manifest, the `.npy` files).
        if k.params.iter().any(|p| p.name == o.name) {
            errors.report(
                AnyEntity::Kernel,
                format!("output name `{}` is also a parameter's name", o.name),
            );
        }
    }
}

/// Re-infers every op's result types; checks constraints, parameter and output types.
fn verify_types(k: &Kernel, errors: &mut VerifierErrors) {
    for &op in &k.order {
        let data = &k.ops[op];
        let location = AnyEntity::Op(op);
        if data.results.len() != data.kind.num_results() {
            errors.report(
                location,
                format!(
                    "`{}` has {} results, found {}",
                    data.kind.name(),
                    data.kind.num_results(),
                    data.results.len()
                ),
            );
            continue;
        }
        if matches!(data.kind, OpKind::Param { .. }) {
            continue;
        }
        let args: Vec<&Type> = data.args.iter().map(|&v| &k.values[v].ty).collect();
        let inferred = match infer(&data.kind, &args, &k.syms) {
            Ok(inferred) => inferred,
            Err(e) => {
                errors.report(location, e.message);
                continue;
            }
        };
        for (&v, ty) in data.results.iter().zip(&inferred.results) {
            let actual = &k.values[v].ty;
            if actual != ty {
                errors.report(
                    location,
                    format!(
                        "result {v} has type `{}`, but `{}` gives `{}`",
                        actual.display(&k.syms),
                        data.kind.name(),
                        ty.display(&k.syms)
                    ),
                );
            }
        }
        for (kind, _) in &inferred.constraints {
            if !k.constraints.iter().any(|c| c.kind == *kind) {
                let mut text = String::new();
                // Writing to a `String` cannot fail.
                let _ = write_constraint_kind(&mut text, k, kind);
                errors.report(
                    location,
                    format!("the op needs the constraint `{text}`, which the kernel does not list"),
                );
            }
        }
    }
    for p in &k.params {
        check_interface_type(k, errors, "parameter", &p.name, p.value);
    }
    for o in &k.outputs {
        check_interface_type(k, errors, "output", &o.name, o.value);
    }
}

/// Parameters and outputs are tensors of a non-`bool` dtype.
fn check_interface_type(k: &Kernel, errors: &mut VerifierErrors, what: &str, name: &str, v: Value) {
    let ty = &k.values[v].ty;
    let ok = matches!(ty, Type::Tensor(t) if t.dtype != DType::Bool);
    if !ok {
        errors.report(
            AnyEntity::Kernel,
            format!(
                "{what} `{name}` must be a tensor of a non-`bool` dtype, found `{}`",
                ty.display(&k.syms)
            ),
        );
    }
}

/// Every dim of a type.
fn type_dims(ty: &Type) -> Vec<&Dim> {
    match ty {
        Type::Tensor(t) => t.shape.iter().collect(),
        Type::Routes(r) => vec![&r.tokens, &r.k, &r.experts],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ops::CmpOp;
    use crate::graph::write::samples::{every_op, gate, output, push, ten};
    use crate::graph::{SrcLoc, Sym};

    fn v(n: u32) -> Value {
        Value::from_u32(n)
    }

    fn op(n: u32) -> Op {
        Op::from_u32(n)
    }

    /// Verifies and expects exactly the given errors, in order.
    fn check(k: &Kernel, expected: &[(AnyEntity, &str)]) {
        let errors = match verify(k) {
            Ok(()) => Vec::new(),
            Err(e) => e.0,
        };
        let found: Vec<(AnyEntity, &str)> = errors
            .iter()
            .map(|e| (e.location, e.message.as_str()))
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn valid_kernels_pass() {
        check(&gate(), &[]);
        check(&every_op(), &[]);
        check(&Kernel::new("empty"), &[]);
        check(
            &gate().specialize(&[("E", 64), ("G", 8)]).expect("valid"),
            &[],
        );
    }

    #[test]
    fn dangling_ids() {
        let mut k = gate();
        k.ops[op(2)].args[0] = v(40);
        k.ops[op(3)].results[1] = v(41);
        k.outputs[0].value = v(42);
        k.params[0].value = v(43);
        check(
            &k,
            &[
                (
                    AnyEntity::Op(op(2)),
                    "operand 0 is v40, but the kernel has 7 values",
                ),
                (
                    AnyEntity::Op(op(3)),
                    "result 1 is v41, but the kernel has 7 values",
                ),
                (
                    AnyEntity::Value(v(4)),
                    "value says it is result 1 of op3, which does not list it",
                ),
                (
                    AnyEntity::Op(op(4)),
                    "operand 1 uses v4, which no op in the order defines",
                ),
                (
                    AnyEntity::Op(op(0)),
                    "`param 0` is not the op of parameter 0",
                ),
                (
                    AnyEntity::Kernel,
                    "parameter `logits` is v43, but the kernel has 7 values",
                ),
                (
                    AnyEntity::Kernel,
                    "output `weight` is v42, but the kernel has 7 values",
                ),
            ],
        );
    }

    #[test]
    fn order_problems() {
        let mut k = gate();
        k.order.retain(|&o| o != op(5));
        k.order.push(op(2));
        k.order.push(op(9));
        check(
            &k,
            &[
                (AnyEntity::Op(op(2)), "op appears twice in the order"),
                (
                    AnyEntity::Kernel,
                    "the order lists op9, but the kernel has 6 ops",
                ),
                (AnyEntity::Op(op(5)), "op is not in the order"),
            ],
        );
        let mut k = gate();
        k.order.swap(2, 3);
        check(
            &k,
            &[(
                AnyEntity::Op(op(3)),
                "operand 0 uses v2 before its definition",
            )],
        );
        let mut k = gate();
        k.order.swap(1, 2);
        check(
            &k,
            &[(AnyEntity::Op(op(1)), "`param` op after a non-`param` op")],
        );
    }

    #[test]
    fn inconsistent_results() {
        let mut k = gate();
        k.values[v(4)].index = 0;
        check(
            &k,
            &[
                (
                    AnyEntity::Op(op(3)),
                    "result 1 is v4, but v4 says it is result 0 of op3",
                ),
                (
                    AnyEntity::Value(v(4)),
                    "value says it is result 0 of op3, which does not list it",
                ),
            ],
        );
    }

    #[test]
    fn parameter_problems() {
        let mut k = gate();
        k.params.swap(0, 1);
        check(
            &k,
            &[
                (
                    AnyEntity::Op(op(0)),
                    "`param 0` is not the op of parameter 0",
                ),
                (
                    AnyEntity::Op(op(1)),
                    "`param 1` is not the op of parameter 1",
                ),
            ],
        );
        let mut k = gate();
        k.params.push(crate::graph::Param {
            name: "logits".to_string(),
            value: v(2),
        });
        check(
            &k,
            &[
                (
                    AnyEntity::Kernel,
                    "the kernel has 3 parameters but 2 `param` ops",
                ),
                (AnyEntity::Kernel, "parameter name `logits` is used twice"),
            ],
        );
        let mut k = gate();
        k.ops[op(1)].args.push(v(0));
        check(&k, &[(AnyEntity::Op(op(1)), "`param` takes no operands")]);
        let mut k = gate();
        k.ops[op(0)].args.push(v(1));
        check(
            &k,
            &[
                (
                    AnyEntity::Op(op(0)),
                    "operand 0 uses v1 before its definition",
                ),
                (AnyEntity::Op(op(0)), "`param` takes no operands"),
            ],
        );
        // A routes-typed parameter passes the reference checks but not the type checks.
        let mut k = gate();
        let e = Dim::sym(Sym::from_u32(0));
        k.values[v(1)].ty = Type::Routes(crate::graph::RoutesType {
            tokens: e.clone(),
            k: e.clone(),
            experts: e,
        });
        check(
            &k,
            &[
                (
                    AnyEntity::Op(op(4)),
                    "`gather` expects a tensor as operand 0, found the routing table `routes[E, E, E]`",
                ),
                (
                    AnyEntity::Kernel,
                    "parameter `router_scale` must be a tensor of a non-`bool` dtype, found `routes[E, E, E]`",
                ),
            ],
        );
    }

    #[test]
    fn symbol_problems() {
        let mut k = gate();
        k.add_sym("E", SymKind::Static);
        k.bound.push((crate::Symbol::intern("G"), 8));
        let ghost = Dim::sym(Sym::from_u32(7));
        k.values[v(1)].ty = ten(DType::F32, &[ghost, Dim::lit(-2)]);
        let errors = verify(&k).expect_err("broken").0;
        let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            vec![
                "v1: its type uses the undeclared symbol sym7",
                "v1: its type has the negative dim -2",
                "kernel: symbol `G` is declared and also bound",
                "kernel: symbol `E` is declared twice",
                "kernel: static symbol `E` is declared after a dynamic one",
            ]
        );
        let mut k = gate();
        if let OpKind::GroupTopK { groups, .. } = &mut k.ops[op(3)].kind {
            *groups = Dim::sym(Sym::from_u32(5));
        }
        check(
            &k,
            &[(
                AnyEntity::Op(op(3)),
                "an attribute uses the undeclared symbol sym5",
            )],
        );
    }

    #[test]
    fn type_problems() {
        let mut k = gate();
        let t = Dim::sym(Sym::from_u32(2));
        let g = Dim::sym(Sym::from_u32(1));
        k.values[v(2)].ty = ten(DType::F32, &[t.clone(), g.clone()]);
        check(
            &k,
            &[(
                AnyEntity::Op(op(2)),
                "result v2 has type `f32[T, G]`, but `softmax` gives `f32[T, E]`",
            )],
        );
        let mut k = gate();
        k.ops[op(5)].args = vec![v(3), v(1)];
        check(
            &k,
            &[(
                AnyEntity::Op(op(5)),
                "shape mismatch: `mul` cannot broadcast `f32[T, G]` with `f32[E]`: axis 1 is `G` in one and `E` in the other",
            )],
        );
        let mut k = gate();
        k.ops[op(3)].kind = OpKind::TopK { k: g };
        check(
            &k,
            &[(
                AnyEntity::Op(op(3)),
                "the op needs the constraint `G <= E`, which the kernel does not list",
            )],
        );
        let mut k = gate();
        k.constraints.clear();
        check(
            &k,
            &[
                (
                    AnyEntity::Op(op(3)),
                    "the op needs the constraint `G divides E`, which the kernel does not list",
                ),
                (
                    AnyEntity::Op(op(3)),
                    "the op needs the constraint `1 <= E/G`, which the kernel does not list",
                ),
            ],
        );
        let mut k = gate();
        k.ops[op(3)].results.pop();
        k.values[v(4)].index = 0;
        k.values[v(4)].def = op(5);
        check(
            &k,
            &[
                (
                    AnyEntity::Value(v(4)),
                    "value says it is result 0 of op5, which does not list it",
                ),
                (
                    AnyEntity::Op(op(4)),
                    "operand 1 uses v4, which no op in the order defines",
                ),
            ],
        );
    }

    #[test]
    fn result_count_and_outputs() {
        // A `topk` op with a single result.
        let mut k = gate();
        let x = k.params[0].value;
        let extra = push(
            &mut k,
            OpKind::Reduce {
                op: crate::graph::ReduceOp::Max,
                axis: 1,
                keep_dim: false,
            },
            &[x],
            SrcLoc::default(),
        )[0];
        let extra_op = k.values[extra].def;
        k.ops[extra_op].kind = OpKind::TopK { k: Dim::lit(1) };
        let mask = push(
            &mut k,
            OpKind::Compare(CmpOp::Gt),
            &[x, x],
            SrcLoc::default(),
        )[0];
        output(&mut k, "mask", mask);
        output(&mut k, "weight", mask);
        check(
            &k,
            &[
                (AnyEntity::Kernel, "output name `weight` is used twice"),
                (AnyEntity::Op(extra_op), "`topk` has 2 results, found 1"),
                (
                    AnyEntity::Kernel,
                    "output `mask` must be a tensor of a non-`bool` dtype, found `bool[T, E]`",
                ),
                (
                    AnyEntity::Kernel,
                    "output `weight` must be a tensor of a non-`bool` dtype, found `bool[T, E]`",
                ),
            ],
        );
        let mut k2 = k.clone();
        k2.outputs.pop();
        check(
            &k2,
            &[
                (AnyEntity::Op(extra_op), "`topk` has 2 results, found 1"),
                (
                    AnyEntity::Kernel,
                    "output `mask` must be a tensor of a non-`bool` dtype, found `bool[T, E]`",
                ),
            ],
        );
    }

    #[test]
    fn errors_print_inline() {
        let mut k = gate();
        k.ops[op(5)].args = vec![v(3), v(1)];
        k.order.push(op(30));
        let errors = verify(&k).expect_err("broken");
        assert_eq!(
            errors.to_string(),
            "kernel: the order lists op30, but the kernel has 6 ops"
        );
        let mut k = gate();
        k.ops[op(5)].args = vec![v(3), v(1)];
        k.values[v(1)].ty = ten(
            DType::F32,
            &[Dim::sym(Sym::from_u32(0)), Dim::sym(Sym::from_u32(0))],
        );
        output(&mut k, "weight", v(6));
        let errors = verify(&k).expect_err("broken");
        let text = kernel_with_errors(&k, &errors);
        let expected = "kernel moge_gate<E, G>(logits: f32[T, E], router_scale: f32[E, E]) -> (weight: f32[T, G], expert: i32[T, G], weight: f32[T, G]) {
  ; error: kernel: output name `weight` is used twice
  dyn T
  require G divides E @7:24-7:49 \"the group count of `group_topk` must divide the last dim\"
  require 1 <= E/G @7:24-7:49 \"the `k` of `group_topk` must not exceed the group size\"
  v0 = param 0 : f32[T, E]                         @3:5-3:33
  v1 = param 1 : f32[E, E]                         @4:5-4:35
  v2 = softmax v0, axis=1 : f32[T, E]              @6:17-6:36
  v3, v4 = group_topk v2, groups=G, k=1 : f32[T, G], i32[T, G] @7:24-7:49
  #[tile(rows = 8)]
  v5 = gather v1, v4 : f32[T, G]
  ; error: op4: result v5 has type `f32[T, G]`, but `gather` gives `f32[T, G, E]`
  v6 = mul v3, v1 : f32[T, G]                      @8:6-8:40
  ; error: op5: shape mismatch: `mul` cannot broadcast `f32[T, G]` with `f32[E, E]`: axis 0 is `T` in one and `E` in the other
  return weight = v6, expert = v4, weight = v6
}
";
        assert_eq!(text, expected);
    }
}
