//! Symbolic dimensions: the graph IR's instance of the [shared expression type](crate::expr).
//!
//! A [`Dim`] is an [`Expr`] over the kernel's dimension symbols ([`Sym`]): a literal (`64`), a static
//! parameter (`E`), a dynamic dim (`T`), or `+ - * /` of those (`2 * I`, `E / G`). Every `Dim` built
//! through the constructors here is kept in a canonical form (a sum of products with integer
//! coefficients, the constant last; an inexact quotient stays an opaque factor), so two dims are
//! equal exactly when their canonical forms are equal: `(T, 2*I)` equals `(T, I + I)` and `(T, E)`
//! differs from `(T, G)`. Terms are ordered by the kernel's declaration order of their symbols,
//! which is why the symbols here are the kernel's entities and not the interned names the kernel
//! IR uses ([`Dim::to_expr`] converts, symbol to symbol).
//!
//! A quotient in a dim is asserted exact: [`Dim::eval`] refuses an inexact one. The other
//! operations of [`Expr`] (`%`, `min`, `max`, `ceil_div`, `align_up`) are never built by the graph
//! IR; where one occurs (a dim converted from a manifest expression) it is an opaque factor.

use std::collections::BTreeMap;
use std::fmt;

use cranelift_entity::PrimaryMap;

use super::entities::Sym;
use super::SymData;
use crate::expr::Expr;
use crate::sym::Symbol;

/// A dimension expression in canonical form: the shared [`Expr`] over the kernel's [`Sym`]s. Build
/// with [`Dim::lit`], [`Dim::sym`] and the arithmetic constructors; never construct the variants
/// directly except in the parser of the text form.
pub type Dim = Expr<Sym>;

/// Why a dimension could not be evaluated.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum DimEvalError {
    /// A symbol had no value in the bindings.
    #[error("dimension symbol `{0}` has no value")]
    Unbound(crate::sym::Symbol),
    /// A quotient was not exact.
    #[error("`{num}` is not divisible by `{den}`")]
    Inexact {
        /// The numerator's value.
        num: i64,
        /// The denominator's value.
        den: i64,
    },
    /// A division by zero.
    #[error("division by zero in a dimension expression")]
    DivByZero,
    /// The value was negative or overflowed.
    #[error("dimension evaluates to {0}, outside 0..2^40")]
    OutOfRange(i128),
    /// An intermediate result of the canonical form left the 64-bit range.
    #[error("dimension overflows 64-bit arithmetic")]
    Overflow,
}

/// The largest size a dim may have, exclusive: the range every evaluation checks.
pub const DIM_LIMIT: i64 = 1 << 40;

/// One factor of a product term: a symbol, or an opaque node (a quotient, or an operation a sum of
/// products cannot express).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Atom {
    Sym(Sym),
    Opaque(Box<Dim>),
}

/// Sum of products: `factors (sorted) -> coefficient`. The empty factor list is the constant term.
type Poly = BTreeMap<Vec<Atom>, i64>;

impl Dim {
    /// `a + b`, canonical. A coefficient that would leave the 64-bit range is never saturated: the
    /// sum is then kept as written (not canonical), so that evaluating or specializing it reports the
    /// overflow instead of a wrong value.
    pub fn add(a: &Dim, b: &Dim) -> Dim {
        let sum = a.try_poly().and_then(|mut p| {
            try_poly_add(&mut p, &b.try_poly()?, 1)?;
            Ok(p)
        });
        match sum {
            Ok(p) => from_poly(p),
            Err(_) => Dim::Add(Box::new(a.clone()), Box::new(b.clone())),
        }
    }

    /// `a - b`, canonical (kept as written on overflow, as [`Dim::add`]).
    pub fn sub(a: &Dim, b: &Dim) -> Dim {
        let difference = a.try_poly().and_then(|mut p| {
            try_poly_add(&mut p, &b.try_poly()?, -1)?;
            Ok(p)
        });
        match difference {
            Ok(p) => from_poly(p),
            Err(_) => Dim::Add(
                Box::new(a.clone()),
                Box::new(Dim::Mul(Box::new(Dim::Int(-1)), Box::new(b.clone()))),
            ),
        }
    }

    /// `a * b`, canonical (kept as written on overflow, as [`Dim::add`]).
    pub fn mul(a: &Dim, b: &Dim) -> Dim {
        match a
            .try_poly()
            .and_then(|pa| try_poly_mul(&pa, &b.try_poly()?))
        {
            Ok(p) => from_poly(p),
            Err(_) => Dim::Mul(Box::new(a.clone()), Box::new(b.clone())),
        }
    }

    /// `a / b`, canonical: exact when both are literals or when the literal divisor divides every
    /// coefficient; otherwise an opaque quotient. Returns `None` for a literal division that is not exact
    /// or divides by zero.
    pub fn div(a: &Dim, b: &Dim) -> Option<Dim> {
        if let (Some(d), Ok(pa)) = (b.as_int(), a.try_poly()) {
            if d == 0 {
                return None;
            }
            // `checked_rem` also refuses `i64::MIN / -1`, whose quotient does not fit.
            if pa.values().all(|c| c.checked_rem(d) == Some(0)) {
                return Some(from_poly(pa.into_iter().map(|(k, c)| (k, c / d)).collect()));
            }
            if a.as_int().is_some() {
                return None;
            }
        }
        if a == b {
            return Some(Dim::Int(1));
        }
        Some(Dim::Div(Box::new(a.clone()), Box::new(b.clone())))
    }

    /// Evaluates with `value(sym)` giving each symbol's value.
    pub fn eval(
        &self,
        value: &dyn Fn(Sym) -> Option<i64>,
        syms: &PrimaryMap<Sym, SymData>,
    ) -> Result<i64, DimEvalError> {
        let v = self.eval_wide(value, syms)?;
        if !(0..i128::from(DIM_LIMIT)).contains(&v) {
            return Err(DimEvalError::OutOfRange(v));
        }
        Ok(v as i64)
    }

    fn eval_wide(
        &self,
        value: &dyn Fn(Sym) -> Option<i64>,
        syms: &PrimaryMap<Sym, SymData>,
    ) -> Result<i128, DimEvalError> {
        // Intermediates stay within 2^100 (beyond, the dim overflows: its value is not what an
        // intermediate was), so a checked i128 operation cannot fail; it is checked anyway.
        let range = |v: Option<i128>| match v {
            Some(v) if v.unsigned_abs() <= (1u128 << 100) => Ok(v),
            _ => Err(DimEvalError::Overflow),
        };
        Ok(match self {
            Dim::Int(c) => *c as i128,
            Dim::Sym(s) => value(*s).ok_or_else(|| DimEvalError::Unbound(syms[*s].name))? as i128,
            Dim::Add(a, b) => range(
                a.eval_wide(value, syms)?
                    .checked_add(b.eval_wide(value, syms)?),
            )?,
            Dim::Sub(a, b) => range(
                a.eval_wide(value, syms)?
                    .checked_sub(b.eval_wide(value, syms)?),
            )?,
            Dim::Mul(a, b) => range(
                a.eval_wide(value, syms)?
                    .checked_mul(b.eval_wide(value, syms)?),
            )?,
            Dim::Div(a, b) => {
                let (n, d) = (a.eval_wide(value, syms)?, b.eval_wide(value, syms)?);
                if d == 0 {
                    return Err(DimEvalError::DivByZero);
                }
                if n % d != 0 {
                    return Err(DimEvalError::Inexact {
                        num: n as i64,
                        den: d as i64,
                    });
                }
                n / d
            }
            // Never built by the graph IR; evaluated with the kernel IR's meaning.
            Dim::Rem(a, b) | Dim::CeilDiv(a, b) | Dim::AlignUp(a, b) => {
                let (n, d) = (a.eval_wide(value, syms)?, b.eval_wide(value, syms)?);
                if d == 0 {
                    return Err(DimEvalError::DivByZero);
                }
                let q = n / d + i128::from(n % d != 0 && ((n % d > 0) == (d > 0)));
                match self {
                    Dim::Rem(..) => n % d,
                    Dim::CeilDiv(..) => q,
                    _ => range(q.checked_mul(d))?,
                }
            }
            Dim::Min(a, b) => a.eval_wide(value, syms)?.min(b.eval_wide(value, syms)?),
            Dim::Max(a, b) => a.eval_wide(value, syms)?.max(b.eval_wide(value, syms)?),
        })
    }

    /// Replaces every symbol for which `value` returns `Some` by that literal, and re-canonicalizes.
    pub fn substitute(&self, value: &dyn Fn(Sym) -> Option<Dim>) -> Dim {
        match self {
            Dim::Int(c) => Dim::Int(*c),
            Dim::Sym(s) => value(*s).unwrap_or(Dim::Sym(*s)),
            Dim::Add(a, b) => Dim::add(&a.substitute(value), &b.substitute(value)),
            Dim::Mul(a, b) => Dim::mul(&a.substitute(value), &b.substitute(value)),
            Dim::Sub(a, b) => Dim::sub(&a.substitute(value), &b.substitute(value)),
            Dim::Div(a, b) => {
                let (a, b) = (a.substitute(value), b.substitute(value));
                // An inexact literal quotient stays opaque so that evaluation reports it.
                Dim::div(&a, &b).unwrap_or(Dim::Div(Box::new(a), Box::new(b)))
            }
            Dim::Rem(..) | Dim::Min(..) | Dim::Max(..) | Dim::CeilDiv(..) | Dim::AlignUp(..) => {
                self.with_operands(|x| Ok(x.substitute(value)))
                    .unwrap_or_else(|_| self.clone())
            }
        }
    }

    /// This node with each operand replaced by `f(operand)` (a literal or symbol: itself).
    fn with_operands(
        &self,
        f: impl Fn(&Dim) -> Result<Dim, DimEvalError>,
    ) -> Result<Dim, DimEvalError> {
        let op = |a: &Dim, b: &Dim| -> Result<(Box<Dim>, Box<Dim>), DimEvalError> {
            Ok((Box::new(f(a)?), Box::new(f(b)?)))
        };
        Ok(match self {
            Dim::Int(_) | Dim::Sym(_) => self.clone(),
            Dim::Add(a, b) => op(a, b).map(|(a, b)| Dim::Add(a, b))?,
            Dim::Sub(a, b) => op(a, b).map(|(a, b)| Dim::Sub(a, b))?,
            Dim::Mul(a, b) => op(a, b).map(|(a, b)| Dim::Mul(a, b))?,
            Dim::Div(a, b) => op(a, b).map(|(a, b)| Dim::Div(a, b))?,
            Dim::Rem(a, b) => op(a, b).map(|(a, b)| Dim::Rem(a, b))?,
            Dim::Min(a, b) => op(a, b).map(|(a, b)| Dim::Min(a, b))?,
            Dim::Max(a, b) => op(a, b).map(|(a, b)| Dim::Max(a, b))?,
            Dim::CeilDiv(a, b) => op(a, b).map(|(a, b)| Dim::CeilDiv(a, b))?,
            Dim::AlignUp(a, b) => op(a, b).map(|(a, b)| Dim::AlignUp(a, b))?,
        })
    }

    /// Like [`Dim::substitute`], with checked arithmetic: a coefficient or constant that leaves the
    /// 64-bit range is [`DimEvalError::Overflow`] (never saturated), and a quotient of two literals that
    /// divides by zero or is inexact is an error instead of an opaque quotient.
    pub fn try_substitute(&self, value: &dyn Fn(Sym) -> Option<Dim>) -> Result<Dim, DimEvalError> {
        Ok(match self {
            Dim::Int(c) => Dim::Int(*c),
            Dim::Sym(s) => value(*s).unwrap_or(Dim::Sym(*s)),
            Dim::Add(a, b) => {
                let mut p = a.try_substitute(value)?.try_poly()?;
                try_poly_add(&mut p, &b.try_substitute(value)?.try_poly()?, 1)?;
                from_poly(p)
            }
            Dim::Mul(a, b) => {
                let (pa, pb) = (
                    a.try_substitute(value)?.try_poly()?,
                    b.try_substitute(value)?.try_poly()?,
                );
                from_poly(try_poly_mul(&pa, &pb)?)
            }
            Dim::Div(a, b) => {
                let (a, b) = (a.try_substitute(value)?, b.try_substitute(value)?);
                match (a.as_int(), b.as_int()) {
                    (_, Some(0)) => return Err(DimEvalError::DivByZero),
                    (Some(num), Some(den)) => match num.checked_rem(den) {
                        Some(0) => Dim::Int(num.checked_div(den).ok_or(DimEvalError::Overflow)?),
                        Some(_) => return Err(DimEvalError::Inexact { num, den }),
                        None => return Err(DimEvalError::Overflow),
                    },
                    _ => Dim::div(&a, &b).unwrap_or(Dim::Div(Box::new(a), Box::new(b))),
                }
            }
            Dim::Sub(a, b) => {
                let mut p = a.try_substitute(value)?.try_poly()?;
                try_poly_add(&mut p, &b.try_substitute(value)?.try_poly()?, -1)?;
                from_poly(p)
            }
            Dim::Rem(..) | Dim::Min(..) | Dim::Max(..) | Dim::CeilDiv(..) | Dim::AlignUp(..) => {
                self.with_operands(|x| x.try_substitute(value))?
            }
        })
    }

    /// The terms of the canonical sum as `(coefficient, monomial)` pairs, in canonical order. A monomial
    /// is a product of symbols and opaque quotients with coefficient 1; the constant term has the
    /// monomial `Dim::Int(1)`. Zero has no terms.
    pub fn terms(&self) -> Vec<(i64, Dim)> {
        let Ok(poly) = self.try_poly() else {
            // Kept as written because it overflows: one opaque term.
            return vec![(1, self.clone())];
        };
        poly.into_iter()
            .map(|(factors, coef)| (coef, from_poly(Poly::from([(factors, 1)]))))
            .collect()
    }

    /// Whether the dim contains an opaque quotient (a division that did not simplify away, or an
    /// operation a sum of products cannot express).
    pub fn has_quotient(&self) -> bool {
        match self {
            Dim::Add(a, b) | Dim::Sub(a, b) | Dim::Mul(a, b) => {
                a.has_quotient() || b.has_quotient()
            }
            _ => self.operands().is_some(),
        }
    }

    /// The kernel IR's expression of this dim: the same tree with each symbol replaced by its
    /// interned name from `syms` (a symbol `syms` does not hold keeps its entity name, `sym3`, as
    /// the graph text prints it), literals folded as the kernel IR's constructors fold them.
    pub fn to_expr(&self, syms: &PrimaryMap<Sym, SymData>) -> Expr<Symbol> {
        let name = |s: Sym| match syms.get(s) {
            Some(data) => data.name,
            None => Symbol::intern(&s.to_string()),
        };
        match self {
            Dim::Int(c) => Expr::Int(*c),
            Dim::Sym(s) => Expr::Sym(name(*s)),
            Dim::Add(a, b) => a.to_expr(syms) + b.to_expr(syms),
            Dim::Sub(a, b) => a.to_expr(syms) - b.to_expr(syms),
            Dim::Mul(a, b) => a.to_expr(syms) * b.to_expr(syms),
            Dim::Div(a, b) => a.to_expr(syms) / b.to_expr(syms),
            _ => self.map_syms(&name),
        }
    }

    /// Displays the dim with symbol names from `syms`.
    pub fn display<'a>(&'a self, syms: &'a PrimaryMap<Sym, SymData>) -> DisplayDim<'a> {
        DisplayDim { dim: self, syms }
    }

    /// The canonical sum with checked coefficients: a `Dim` that was built through the saturating
    /// constructors may hold coefficients that cannot be combined without overflow.
    fn try_poly(&self) -> Result<Poly, DimEvalError> {
        let mut p = Poly::new();
        match self {
            Dim::Int(c) => {
                if *c != 0 {
                    p.insert(Vec::new(), *c);
                }
            }
            Dim::Sym(s) => {
                p.insert(vec![Atom::Sym(*s)], 1);
            }
            Dim::Add(a, b) => {
                p = a.try_poly()?;
                try_poly_add(&mut p, &b.try_poly()?, 1)?;
            }
            Dim::Mul(a, b) => p = try_poly_mul(&a.try_poly()?, &b.try_poly()?)?,
            Dim::Sub(a, b) => {
                p = a.try_poly()?;
                try_poly_add(&mut p, &b.try_poly()?, -1)?;
            }
            Dim::Div(..)
            | Dim::Rem(..)
            | Dim::Min(..)
            | Dim::Max(..)
            | Dim::CeilDiv(..)
            | Dim::AlignUp(..) => {
                p.insert(vec![Atom::Opaque(Box::new(self.clone()))], 1);
            }
        }
        Ok(p)
    }
}

/// `acc += sign * other` with checked coefficients.
fn try_poly_add(acc: &mut Poly, other: &Poly, sign: i64) -> Result<(), DimEvalError> {
    for (k, c) in other {
        let e = acc.entry(k.clone()).or_insert(0);
        *e = sign
            .checked_mul(*c)
            .and_then(|c| e.checked_add(c))
            .ok_or(DimEvalError::Overflow)?;
        if *e == 0 {
            acc.remove(k);
        }
    }
    Ok(())
}

/// `a * b` with checked coefficients.
fn try_poly_mul(a: &Poly, b: &Poly) -> Result<Poly, DimEvalError> {
    let mut out = Poly::new();
    for (ka, ca) in a {
        for (kb, cb) in b {
            let mut k: Vec<Atom> = ka.iter().chain(kb.iter()).cloned().collect();
            k.sort();
            let coef = ca.checked_mul(*cb).ok_or(DimEvalError::Overflow)?;
            try_poly_add(&mut out, &Poly::from([(k, coef)]), 1)?;
        }
    }
    Ok(out)
}

fn atom_dim(atom: &Atom) -> Dim {
    match atom {
        Atom::Sym(s) => Dim::Sym(*s),
        Atom::Opaque(node) => (**node).clone(),
    }
}

/// Rebuilds a canonical tree: terms by descending degree then factor order, each `coef * f1 * f2 ...`
/// (coefficient first, omitted when 1), the constant last; a left-leaning chain of `Add`.
fn from_poly(p: Poly) -> Dim {
    let mut terms: Vec<(Vec<Atom>, i64)> = p.into_iter().filter(|(_, c)| *c != 0).collect();
    terms.sort_by(|(ka, _), (kb, _)| kb.len().cmp(&ka.len()).then_with(|| ka.cmp(kb)));
    let mut acc: Option<Dim> = None;
    for (factors, coef) in terms {
        let mut term: Option<Dim> = if coef == 1 && !factors.is_empty() {
            None
        } else {
            Some(Dim::Int(coef))
        };
        for f in &factors {
            let f = atom_dim(f);
            term = Some(match term {
                None => f,
                Some(t) => Dim::Mul(Box::new(t), Box::new(f)),
            });
        }
        let term = term.unwrap_or(Dim::Int(coef));
        acc = Some(match acc {
            None => term,
            Some(a) => Dim::Add(Box::new(a), Box::new(term)),
        });
    }
    acc.unwrap_or(Dim::Int(0))
}

/// [`Dim`] with symbol names, for printing: `2*I`, `E/G`, `T + -1` prints as `T - 1`.
pub struct DisplayDim<'a> {
    dim: &'a Dim,
    syms: &'a PrimaryMap<Sym, SymData>,
}

impl DisplayDim<'_> {
    fn write(&self, f: &mut fmt::Formatter<'_>, dim: &Dim, prec: u8) -> fmt::Result {
        // Precedence: 0 = sum, 1 = product/quotient operand, 2 = atom.
        match dim {
            Dim::Int(c) => {
                if *c < 0 && prec > 0 {
                    write!(f, "({c})")
                } else {
                    write!(f, "{c}")
                }
            }
            Dim::Sym(s) => match self.syms.get(*s) {
                Some(data) => f.write_str(data.name.as_str()),
                None => write!(f, "{s}"),
            },
            Dim::Add(a, b) => {
                if prec > 0 {
                    f.write_str("(")?;
                }
                self.write(f, a, 0)?;
                match &**b {
                    Dim::Int(c) if *c < 0 => write!(f, " - {}", -c)?,
                    Dim::Mul(x, y) if matches!(**x, Dim::Int(c) if c < 0) => {
                        let c = x.as_int().unwrap_or(0);
                        f.write_str(" - ")?;
                        if c != -1 {
                            write!(f, "{}*", -c)?;
                        }
                        // After `c*`, `y` is the right operand of a product: a quotient needs
                        // parentheses there (`6*(1/G)`, not `6*1/G`).
                        self.write(f, y, if c != -1 { 2 } else { 1 })?;
                    }
                    _ => {
                        f.write_str(" + ")?;
                        self.write(f, b, 0)?;
                    }
                }
                if prec > 0 {
                    f.write_str(")")?;
                }
                Ok(())
            }
            Dim::Sub(a, b) => {
                if prec > 0 {
                    f.write_str("(")?;
                }
                self.write(f, a, 0)?;
                f.write_str(" - ")?;
                self.write(f, b, 1)?;
                if prec > 0 {
                    f.write_str(")")?;
                }
                Ok(())
            }
            Dim::Mul(a, b) => self.product(f, a, "*", b, prec),
            Dim::Div(a, b) => self.product(f, a, "/", b, prec),
            Dim::Rem(a, b) => self.product(f, a, "%", b, prec),
            Dim::Min(a, b) => self.call(f, "min", a, b),
            Dim::Max(a, b) => self.call(f, "max", a, b),
            Dim::CeilDiv(a, b) => self.call(f, "ceil_div", a, b),
            Dim::AlignUp(a, b) => self.call(f, "align_up", a, b),
        }
    }

    /// `a*b`, `a/b` or `a%b`, parenthesized as the operand of a product.
    fn product(
        &self,
        f: &mut fmt::Formatter<'_>,
        a: &Dim,
        op: &str,
        b: &Dim,
        prec: u8,
    ) -> fmt::Result {
        if prec > 1 {
            f.write_str("(")?;
        }
        self.write(f, a, 1)?;
        f.write_str(op)?;
        self.write(f, b, 2)?;
        if prec > 1 {
            f.write_str(")")?;
        }
        Ok(())
    }

    /// `name(a, b)`.
    fn call(&self, f: &mut fmt::Formatter<'_>, name: &str, a: &Dim, b: &Dim) -> fmt::Result {
        write!(f, "{name}(")?;
        self.write(f, a, 0)?;
        f.write_str(", ")?;
        self.write(f, b, 0)?;
        f.write_str(")")
    }
}

impl fmt::Display for DisplayDim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, self.dim, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{Kernel, SymKind};
    use cranelift_entity::EntityRef;

    /// `K*T + 3*T - K` in `k`, built through the canonical constructors.
    fn sample(k: &Kernel) -> Dim {
        let t = Dim::sym(k.sym_by_name("T").unwrap());
        let kk = Dim::sym(k.sym_by_name("K").unwrap());
        let kt = Dim::mul(&kk, &t);
        Dim::sub(&Dim::add(&kt, &Dim::mul(&Dim::lit(3), &t)), &kk)
    }

    #[test]
    fn two_kernels_symbols_do_not_clash() {
        // The same names declared in opposite orders: the entities differ, the symbols do not.
        let mut a = Kernel::new("a");
        a.add_sym("K", SymKind::Static);
        a.add_sym("T", SymKind::Dynamic);
        let mut b = Kernel::new("b");
        b.add_sym("T", SymKind::Dynamic);
        b.add_sym("K", SymKind::Static);
        let (t, k) = (Symbol::intern("T"), Symbol::intern("K"));
        assert_ne!(a.sym_of(t), b.sym_of(t));
        assert_eq!(
            a.syms[a.sym_of(t).unwrap()].name,
            b.syms[b.sym_of(t).unwrap()].name
        );
        // Entity 0 is `K` in one kernel and `T` in the other: converted, they are different symbols.
        let first = Dim::sym(Sym::from_u32(0));
        assert_eq!(first.to_expr(&a.syms), crate::kir::Expr::Sym(k));
        assert_eq!(first.to_expr(&b.syms), crate::kir::Expr::Sym(t));
        // Each kernel's canonical form orders factors and terms of one degree by its own
        // declaration order ...
        let (da, db) = (sample(&a), sample(&b));
        assert_eq!(da.display(&a.syms).to_string(), "K*T - K + 3*T");
        assert_eq!(db.display(&b.syms).to_string(), "T*K + 3*T - K");
        // ... and both mean the same function of the same two symbols in the kernel IR.
        let (ea, eb) = (da.to_expr(&a.syms), db.to_expr(&b.syms));
        let (mut sa, mut sb) = (ea.syms(), eb.syms());
        sa.sort();
        sb.sort();
        assert_eq!(sa, vec![k, t]);
        assert_eq!(sb, vec![k, t]);
        for (tv, kv) in [(0i64, 0i64), (5, 3), (1000, 64)] {
            let value = |s: Symbol| Some(if s == t { tv } else { kv });
            let want = kv * tv + 3 * tv - kv;
            assert_eq!(ea.eval(&value), Ok(want));
            assert_eq!(eb.eval(&value), Ok(want));
        }
    }

    #[test]
    fn to_expr_keeps_the_value_of_every_dim_the_graph_can_evaluate() {
        let mut k = Kernel::new("k");
        let e = Dim::sym(k.add_sym("E", SymKind::Static));
        let t = Dim::sym(k.add_sym("T", SymKind::Dynamic));
        let dims = [
            sample_of(&k),
            Dim::div(&t, &Dim::lit(4)).unwrap(),
            Dim::div(&Dim::mul(&e, &t), &Dim::add(&e, &Dim::lit(1))).unwrap(),
            Dim::sub(&Dim::mul(&Dim::lit(2), &t), &Dim::lit(7)),
        ];
        for d in &dims {
            let expr = d.to_expr(&k.syms);
            // The kernel IR text parses back to the same tree.
            assert_eq!(crate::kir::Expr::parse(&expr.to_string()).unwrap(), expr);
            for (ev, tv) in [(1i64, 8i64), (3, 12), (7, 16), (4, 100)] {
                let by_sym = |s: Sym| Some(if s.index() == 0 { ev } else { tv });
                let by_name = |s: Symbol| Some(if s == "E" { ev } else { tv });
                // Where the graph's (exact, non-negative) value exists, the kernel IR's is equal.
                if let Ok(v) = d.eval(&by_sym, &k.syms) {
                    assert_eq!(expr.eval(&by_name), Ok(v), "{expr} at E={ev}, T={tv}");
                }
            }
        }
        // The graph refuses an inexact quotient that the kernel IR would truncate.
        let q = Dim::div(&t, &Dim::lit(4)).unwrap();
        assert_eq!(
            q.eval(&|_| Some(10), &k.syms),
            Err(DimEvalError::Inexact { num: 10, den: 4 })
        );
        assert_eq!(q.to_expr(&k.syms).eval(&|_| Some(10)), Ok(2));
    }

    fn sample_of(k: &Kernel) -> Dim {
        let t = Dim::sym(k.sym_by_name("T").unwrap());
        Dim::add(&Dim::mul(&t, &t), &Dim::lit(1))
    }

    #[test]
    fn operations_the_graph_never_builds_are_opaque_factors() {
        let mut k = Kernel::new("k");
        let t = Dim::sym(k.add_sym("T", SymKind::Dynamic));
        // A dim rebuilt from a manifest expression: `min(T, 8)`, `T - 1`, `T % 3`.
        let min = Dim::Min(Box::new(t.clone()), Box::new(Dim::lit(8)));
        let rem = Dim::Rem(Box::new(t.clone()), Box::new(Dim::lit(3)));
        let sub = Dim::Sub(Box::new(t.clone()), Box::new(Dim::lit(1)));
        assert_eq!(min.display(&k.syms).to_string(), "min(T, 8)");
        assert_eq!(rem.display(&k.syms).to_string(), "T%3");
        assert_eq!(sub.display(&k.syms).to_string(), "T - 1");
        let at = |v: i64| move |_: Sym| Some(v);
        assert_eq!(min.eval(&at(5), &k.syms), Ok(5));
        assert_eq!(min.eval(&at(50), &k.syms), Ok(8));
        assert_eq!(rem.eval(&at(10), &k.syms), Ok(1));
        assert_eq!(sub.eval(&at(0), &k.syms), Err(DimEvalError::OutOfRange(-1)));
        // In a canonical sum they are factors like a quotient: `min(T, 8) + min(T, 8)` doubles.
        let twice = Dim::add(&min, &min);
        assert_eq!(twice.display(&k.syms).to_string(), "2*min(T, 8)");
        assert!(twice.has_quotient());
        // A subtraction is canonicalized like `Dim::sub`.
        assert_eq!(Dim::add(&sub, &Dim::lit(1)), t);
        // Substituting a literal evaluates through them.
        let five = min.substitute(&|_| Some(Dim::lit(5)));
        assert_eq!(five.eval(&|_| None, &k.syms), Ok(5));
    }
}
