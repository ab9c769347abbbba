//! The dim solver: binds the dynamic dims of a kernel or program from the shapes of its inputs, and
//! checks every input axis against what its expression gives.
//!
//! It is the one solver of the project: the reference interpreter uses it on graph IR dims
//! ([`super::bind_dims`], [`super::eval`]) and the launch uses it on the manifest's expressions
//! (`moge_runtime::launch`), so an input the interpreter accepts is accepted by the launch with the
//! same values and refused with the same message. Both instances of the shared expression type
//! ([`crate::expr`]) are axes ([`AxisExpr`]) over a [`SymTable`] of interned [`Symbol`]s: the kernel
//! IR's `Expr<Symbol>` directly (its symbols are found in the table by id, no name is looked up), and
//! a graph `Dim` through the interpreter's wrapper (its symbols are the kernel's entities, in table
//! order). Each keeps its own evaluation (a graph quotient must be exact, a kernel IR one truncates),
//! so each side's messages are what they were.
//!
//! The rules, in order:
//!
//! 1. an axis written as a bare dynamic dim (`T`) binds it to the axis's size (the first such axis in
//!    input order wins);
//! 2. an axis that is an expression of exactly one dim still without a value is solved for it, the
//!    smallest whole non-negative solution: directly when it is linear (`2 * T`, `T + 1`), by bisection
//!    over the points where it is defined when it is monotone there (`T / 3`, `N * T`, `T * T`);
//!    repeated until nothing changes;
//! 3. a dynamic dim still without a value is an error, naming the axis that could have bound it;
//! 4. every axis of every input must then evaluate to the input's size.
//!
//! Every error names the input (position and name), the axis, the expression and the values, and
//! where each dim in the expression got its value ([`Origin`]).

use std::fmt;

use crate::sym::Symbol;

/// The symbols an expression may mention: static dims with their values, and dynamic dims to bind.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SymTable {
    syms: Vec<SymSlot>,
}

/// One symbol of a [`SymTable`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SymSlot {
    /// Its name.
    pub name: Symbol,
    /// The value of a static dim; `None` for a dynamic dim (bound by the solver).
    pub value: Option<i64>,
}

impl SymTable {
    /// An empty table.
    pub fn new() -> SymTable {
        SymTable::default()
    }

    /// Adds a static dim with its value; returns its index.
    pub fn push_static(&mut self, name: impl Into<Symbol>, value: i64) -> usize {
        self.syms.push(SymSlot {
            name: name.into(),
            value: Some(value),
        });
        self.syms.len() - 1
    }

    /// Adds a dynamic dim; returns its index.
    pub fn push_dynamic(&mut self, name: impl Into<Symbol>) -> usize {
        self.syms.push(SymSlot {
            name: name.into(),
            value: None,
        });
        self.syms.len() - 1
    }

    /// The index of the symbol named `name` (the first, should two share it).
    pub fn index_of(&self, name: Symbol) -> Option<usize> {
        self.syms.iter().position(|s| s.name == name)
    }

    /// The symbol at `index`.
    pub fn get(&self, index: usize) -> Option<&SymSlot> {
        self.syms.get(index)
    }

    /// The number of symbols.
    pub fn len(&self) -> usize {
        self.syms.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
    }
}

/// An expression of an input axis the solver can bind dims from and check.
pub trait AxisExpr: fmt::Display {
    /// The symbols it mentions, as indices into `table`, without repeats. Names the table does not
    /// know are left out (evaluating the expression then fails).
    fn syms(&self, table: &SymTable) -> Vec<usize>;

    /// Its value with `value` giving each symbol's; the error says why it has none.
    fn eval(&self, table: &SymTable, value: &dyn Fn(usize) -> Option<i64>) -> Result<i64, String>;

    /// Whether it is a bare symbol (`T`).
    fn is_bare(&self) -> bool;
}

/// One input as the solver sees it.
#[derive(Copy, Clone, Debug)]
pub struct InputShape<'a, A> {
    /// The parameter's name.
    pub name: &'a str,
    /// Its declared shape, one expression per axis.
    pub axes: &'a [A],
    /// The input's actual shape (of the same rank: the caller checks ranks first).
    pub shape: &'a [usize],
}

/// Where a dynamic dim got its value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Origin {
    /// The dim.
    pub sym: Symbol,
    /// Its value.
    pub value: i64,
    /// The input whose axis bound it.
    pub input: String,
    /// The axis.
    pub axis: usize,
}

/// Every dim's value after solving.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Solution {
    /// The value of each symbol of the table, by index.
    pub values: Vec<i64>,
    /// Where each dynamic dim got its value (by index; `None` for static dims).
    pub origins: Vec<Option<Origin>>,
}

impl Solution {
    /// The dynamic dims with their values, in table order.
    pub fn dynamic(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.origins
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_some())
            .map(|(i, _)| (i, self.values[i]))
    }
}

/// Why the dims could not be bound from the inputs, or an input does not fit its declared shape.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DimError {
    /// An axis's size differs from what its expression gives.
    #[error(
        "input {index} (`{input}`): axis {axis} is {}{}, found {found}",
        shown(expr, *expected),
        origins_text(origins)
    )]
    Mismatch {
        /// Position of the input.
        index: usize,
        /// Its name.
        input: String,
        /// The axis.
        axis: usize,
        /// The axis's expression.
        expr: String,
        /// What the expression gives.
        expected: i64,
        /// Where the dynamic dims of the expression got their values (not this axis itself).
        origins: Vec<Origin>,
        /// The input's size on that axis.
        found: usize,
    },
    /// The axis that could bind a dim is an expression of it alone, but no whole non-negative value
    /// gives its size.
    #[error("input {index} (`{input}`): axis {axis} is `{expr}`, which no value of `{sym}` makes {found}")]
    Unsolvable {
        /// Position of the input.
        index: usize,
        /// Its name.
        input: String,
        /// The axis.
        axis: usize,
        /// The axis's expression.
        expr: String,
        /// The dim it should have bound.
        sym: Symbol,
        /// The input's size on that axis.
        found: usize,
    },
    /// An axis's expression has no value with the bound dims (a division that is not exact, an
    /// overflow, an unknown name).
    #[error("input {index} (`{input}`): axis {axis} is `{expr}`, which cannot be evaluated{}: {message}", origins_text(origins))]
    Eval {
        /// Position of the input.
        index: usize,
        /// Its name.
        input: String,
        /// The axis.
        axis: usize,
        /// The axis's expression.
        expr: String,
        /// Where its dynamic dims got their values.
        origins: Vec<Origin>,
        /// Why.
        message: String,
    },
    /// A dynamic dim that no input axis determines.
    #[error("dynamic dim `{sym}` cannot be bound from the input shapes (no input axis is `{sym}` or an expression of it alone)")]
    Unbound {
        /// The dim.
        sym: Symbol,
    },
}

/// Binds every dynamic dim of `table` from `inputs` and checks every input axis (see the module
/// documentation). The inputs' ranks must already match their declared shapes.
pub fn solve<A: AxisExpr>(
    table: &SymTable,
    inputs: &[InputShape<'_, A>],
) -> Result<Solution, DimError> {
    let mut values: Vec<Option<i64>> = table.syms.iter().map(|s| s.value).collect();
    let mut origins: Vec<Option<Origin>> = vec![None; table.len()];
    for bare_only in [true, false] {
        loop {
            let mut progress = false;
            for input in inputs {
                for (axis, (expr, &found)) in input.axes.iter().zip(input.shape).enumerate() {
                    if bare_only && !expr.is_bare() {
                        continue;
                    }
                    let Some(sym) = single_unbound(table, expr, &values) else {
                        continue;
                    };
                    let Some(value) = solve_one(table, expr, sym, found as i64, &values) else {
                        continue;
                    };
                    values[sym] = Some(value);
                    origins[sym] = Some(Origin {
                        sym: table.syms[sym].name,
                        value,
                        input: input.name.to_string(),
                        axis,
                    });
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
    }
    for sym in 0..table.len() {
        if values[sym].is_some() {
            continue;
        }
        // Name the axis that should have bound it, if there is one.
        for (index, input) in inputs.iter().enumerate() {
            for (axis, (expr, &found)) in input.axes.iter().zip(input.shape).enumerate() {
                if single_unbound(table, expr, &values) == Some(sym) {
                    return Err(DimError::Unsolvable {
                        index,
                        input: input.name.to_string(),
                        axis,
                        expr: expr.to_string(),
                        sym: table.syms[sym].name,
                        found,
                    });
                }
            }
        }
        return Err(DimError::Unbound {
            sym: table.syms[sym].name,
        });
    }
    let values: Vec<i64> = values.into_iter().map(|v| v.unwrap_or(0)).collect();
    for (index, input) in inputs.iter().enumerate() {
        for (axis, (expr, &found)) in input.axes.iter().zip(input.shape).enumerate() {
            // The dims of this expression bound elsewhere: what a reader needs to see the mismatch.
            let origins_of = || -> Vec<Origin> {
                expr.syms(table)
                    .into_iter()
                    .filter_map(|s| origins[s].clone())
                    .filter(|o| !(o.input == input.name && o.axis == axis))
                    .collect()
            };
            match expr.eval(table, &|s| values.get(s).copied()) {
                Ok(expected) if expected == found as i64 => {}
                Ok(expected) => {
                    return Err(DimError::Mismatch {
                        index,
                        input: input.name.to_string(),
                        axis,
                        expr: expr.to_string(),
                        expected,
                        origins: origins_of(),
                        found,
                    })
                }
                Err(message) => {
                    return Err(DimError::Eval {
                        index,
                        input: input.name.to_string(),
                        axis,
                        expr: expr.to_string(),
                        origins: origins_of(),
                        message,
                    })
                }
            }
        }
    }
    Ok(Solution { values, origins })
}

/// The only symbol of `expr` without a value, if there is exactly one and it is dynamic.
fn single_unbound<A: AxisExpr>(
    table: &SymTable,
    expr: &A,
    values: &[Option<i64>],
) -> Option<usize> {
    let mut unbound = expr
        .syms(table)
        .into_iter()
        .filter(|&s| values[s].is_none());
    let sym = unbound.next()?;
    (unbound.next().is_none() && table.syms[sym].value.is_none()).then_some(sym)
}

/// How far [`solve_one`] scans from 0 for the points where an expression is defined (its exact
/// quotients divide): the period of the domain of `T / d` is `d`, so divisors up to this are solved.
const DOMAIN_SCAN: i64 = 1 << 16;

/// Solves `expr(sym) = found` for the smallest whole `sym >= 0`, or `None` when no value is found.
///
/// An expression linear in `sym` (`2 * T + 1`) is solved directly: the slope is read off three
/// points. Otherwise the expression is taken as monotone on the points where it is defined, which
/// holds for every dim a kernel can write over one dynamic dim (affine forms, exact quotients
/// `T / 3`, truncating quotients of the manifest, products with static dims, `T * T`, `min(T, 8)`):
/// the defined points are the progression `x0 + k * p` (the first two defined points from 0 give
/// `x0` and `p`), and the smallest `k` reaching `found` is found by bisection. Every candidate is
/// checked exactly, so an expression that is not monotone is never solved wrongly; it is only left
/// unsolved.
fn solve_one<A: AxisExpr>(
    table: &SymTable,
    expr: &A,
    sym: usize,
    found: i64,
    values: &[Option<i64>],
) -> Option<i64> {
    let at = |x: i64| {
        expr.eval(table, &|s| {
            if s == sym {
                Some(x)
            } else {
                values.get(s).copied().flatten()
            }
        })
        .ok()
    };
    if expr.is_bare() {
        return Some(found);
    }
    if let Some(x) = solve_linear(&at, found) {
        return Some(x);
    }
    let mut defined = (0..DOMAIN_SCAN).filter(|&x| at(x).is_some());
    let x0 = defined.next()?;
    let f0 = at(x0)?;
    if f0 == found {
        return Some(x0);
    }
    let x1 = defined.next()?;
    let period = x1 - x0;
    // Beyond the largest size a dim may have, nothing is solved.
    let k_max = (crate::graph::DIM_LIMIT - x0) / period;
    let increasing = found > f0;
    // Whether point k is at or past `found` in the direction of the search; an undefined point past
    // the domain's start (an overflow, a negative value) counts as past it.
    let past = |k: i64| match at(x0 + k * period) {
        Some(f) if increasing => f >= found,
        Some(f) => f <= found,
        None => true,
    };
    // The smallest k in 1..=k_max that is past `found` (point 0 is not: f0 != found).
    let (mut lo, mut hi) = (0i64, k_max);
    if !past(hi) {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if past(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let x = x0 + hi * period;
    (at(x)? == found).then_some(x)
}

/// Solves `at(x) = found` for a whole `x >= 0` when `at` is linear near 0: the slope is read off three
/// points, and the candidate is checked exactly (so `min`/`max` kinks or a nonlinear expression are
/// never solved wrongly).
fn solve_linear(at: &dyn Fn(i64) -> Option<i64>, found: i64) -> Option<i64> {
    let (f0, f1, f2) = (at(0), at(1)?, at(2)?);
    let slope = f2.checked_sub(f1)?;
    // f(0) may not exist (a quotient by the dim); then the line is read off 1 and 2 only.
    if slope == 0 || f0.is_some_and(|f0| f1.checked_sub(f0) != Some(slope)) {
        return None;
    }
    let offset = found.checked_sub(f1.checked_sub(slope)?)?;
    if offset % slope != 0 || offset / slope < 0 {
        return None;
    }
    let x = offset / slope;
    (at(x)? == found).then_some(x)
}

/// `` `T` = 5 `` for an expression, `8` for a literal.
fn shown(expr: &str, value: i64) -> String {
    if expr == value.to_string() {
        expr.to_string()
    } else {
        format!("`{expr}` = {value}")
    }
}

/// ` (T = 3 bound by `x` axis 0)`, or nothing.
fn origins_text(origins: &[Origin]) -> String {
    if origins.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = origins
        .iter()
        .map(|o| {
            format!(
                "{} = {} bound by `{}` axis {}",
                o.sym, o.value, o.input, o.axis
            )
        })
        .collect();
    format!(" ({})", parts.join(", "))
}

/// The kernel IR's host expressions (the manifest's) as solver axes.
impl AxisExpr for crate::kir::Expr {
    fn syms(&self, table: &SymTable) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for sym in self.syms() {
            if let Some(i) = table.index_of(sym) {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
        out
    }

    fn eval(&self, table: &SymTable, value: &dyn Fn(usize) -> Option<i64>) -> Result<i64, String> {
        crate::kir::Expr::eval(self, &|sym| table.index_of(sym).and_then(value))
            .map_err(|err| err.to_string())
    }

    fn is_bare(&self) -> bool {
        self.as_sym().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kir::Expr;

    fn table() -> SymTable {
        let mut t = SymTable::new();
        t.push_static("N", 4);
        t.push_dynamic("T");
        t.push_dynamic("S");
        t
    }

    fn axes(texts: &[&str]) -> Vec<Expr> {
        texts.iter().map(|t| Expr::parse(t).unwrap()).collect()
    }

    /// The input `name`, declared with `axes`, given with `shape`.
    fn input<'a>(name: &'a str, axes: &'a [Expr], shape: &'a [usize]) -> InputShape<'a, Expr> {
        InputShape { name, axes, shape }
    }

    #[test]
    fn bare_axes_bind_first_then_linear_ones_are_solved() {
        let t = table();
        let (x, y) = (axes(&["2 * S + 1", "N"]), axes(&["T", "S"]));
        let inputs = [input("x", &x, &[7, 4]), input("y", &y, &[5, 3])];
        let solution = solve(&t, &inputs).unwrap();
        assert_eq!(solution.values, vec![4, 5, 3]);
        assert_eq!(solution.dynamic().collect::<Vec<_>>(), vec![(1, 5), (2, 3)]);
        // S is bound by the bare axis of y, so x's 2 * S + 1 is checked against it.
        let inputs = [input("x", &x, &[9, 4]), input("y", &y, &[5, 3])];
        assert_eq!(
            solve(&t, &inputs).unwrap_err().to_string(),
            "input 0 (`x`): axis 0 is `2 * S + 1` = 7 (S = 3 bound by `y` axis 1), found 9"
        );
        // Only x binds S: 2 * S + 1 = 9 gives S = 4.
        let y2 = axes(&["T"]);
        let inputs = [input("x", &x, &[9, 4]), input("y", &y2, &[5])];
        assert_eq!(solve(&t, &inputs).unwrap().values, vec![4, 5, 4]);
        // An even length has no solution.
        let inputs = [input("x", &x, &[8, 4]), input("y", &y2, &[5])];
        assert_eq!(
            solve(&t, &inputs).unwrap_err().to_string(),
            "input 0 (`x`): axis 0 is `2 * S + 1`, which no value of `S` makes 8"
        );
    }

    #[test]
    fn static_dims_literals_and_unbound_dims_are_reported() {
        let mut t = SymTable::new();
        t.push_static("N", 4);
        t.push_dynamic("T");
        let (x, y) = (axes(&["T", "N"]), axes(&["T", "8"]));
        let inputs = [input("x", &x, &[2, 5]), input("y", &y, &[2, 8])];
        assert_eq!(
            solve(&t, &inputs).unwrap_err().to_string(),
            "input 0 (`x`): axis 1 is `N` = 4, found 5"
        );
        let inputs = [input("x", &x, &[2, 4]), input("y", &y, &[3, 9])];
        assert_eq!(
            solve(&t, &inputs).unwrap_err().to_string(),
            "input 1 (`y`): axis 0 is `T` = 2 (T = 2 bound by `x` axis 0), found 3"
        );
        let inputs = [input("x", &x, &[2, 4]), input("y", &y, &[2, 9])];
        assert_eq!(
            solve(&t, &inputs).unwrap_err().to_string(),
            "input 1 (`y`): axis 1 is 8, found 9"
        );
        let inputs = [input("x", &x, &[2, 4])];
        assert_eq!(
            solve(&table(), &inputs).unwrap_err().to_string(),
            "dynamic dim `S` cannot be bound from the input shapes (no input axis is `S` or an expression of it alone)"
        );
    }

    #[test]
    fn nonlinear_and_failing_expressions_are_never_solved_wrongly() {
        let t = table();
        // T * T is not linear but monotone: 9 is solved (T = 3), 8 is reached by no T and T stays
        // unbound, named by the axis that could have bound it.
        let x = axes(&["T * T", "S"]);
        let inputs = [input("x", &x, &[9, 1])];
        assert_eq!(solve(&t, &inputs).unwrap().values, vec![4, 3, 1]);
        let inputs = [input("x", &x, &[8, 1])];
        assert_eq!(
            solve(&t, &inputs).unwrap_err().to_string(),
            "input 0 (`x`): axis 0 is `T * T`, which no value of `T` makes 8"
        );
        // min(T, 8) is linear below its kink only; 9 is reached by no T.
        let x = axes(&["min(T, 8)", "S"]);
        let inputs = [input("x", &x, &[3, 1])];
        assert_eq!(solve(&t, &inputs).unwrap().values, vec![4, 3, 1]);
        // 8 is reached by every T >= 8: the smallest is taken (the launch and the interpreter agree).
        let inputs = [input("x", &x, &[8, 1])];
        assert_eq!(solve(&t, &inputs).unwrap().values, vec![4, 8, 1]);
        let inputs = [input("x", &x, &[9, 1])];
        assert!(matches!(
            solve(&t, &inputs),
            Err(DimError::Unsolvable { .. })
        ));
        // A division by zero when checking names the expression and the origin of its dims.
        let x = axes(&["T", "S", "N / (T - T)"]);
        let inputs = [input("x", &x, &[3, 1, 1])];
        let err = solve(&t, &inputs).unwrap_err().to_string();
        assert!(
            err.starts_with("input 0 (`x`): axis 2 is `N / (T - T)`, which cannot be evaluated (T = 3 bound by `x` axis 0): "),
            "{err}"
        );
    }

    #[test]
    fn quotients_of_the_dim_are_solved_on_their_domain() {
        let t = table();
        // (expression, size, T): the truncating quotients of the manifest give the smallest T.
        let cases: [(&str, usize, i64); 6] = [
            ("T / 3", 5, 15),
            ("(T + 1) / 3", 5, 14),
            ("T / 2 + T / 3", 10, 12),
            ("N * (T / 4) + 1", 9, 8),
            ("(2 * T + 5) / N", 2, 2),
            ("T / 4096", 2, 8192),
        ];
        for (text, size, expected) in cases {
            let x = axes(&[text, "S"]);
            let shape = [size, 1];
            let inputs = [input("x", &x, &shape)];
            let solution = solve(&t, &inputs).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(solution.values[1], expected, "{text} = {size}");
        }
        // A size between two values of a quotient is reached by no T.
        let x = axes(&["2 * (T / 3)", "S"]);
        let inputs = [input("x", &x, &[7, 1])];
        assert!(matches!(
            solve(&t, &inputs),
            Err(DimError::Unsolvable { .. })
        ));
    }
}
