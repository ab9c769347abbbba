//! The one symbolic size expression of moge, shared by the graph IR and the kernel IR.
//!
//! [`Expr<S>`] is an integer expression over symbols `S`: literals, `+ - * / %`, `min`, `max`,
//! `ceil_div` and `align_up`. It has two instances, one per IR, that differ only in what names a
//! symbol:
//!
//! - the kernel IR and the manifest use `Expr<Symbol>` ([`crate::kir::Expr`], the default):
//!   symbols are [interned](crate::sym) names, so an expression means the same thing in every
//!   program and at launch. Tiling fields, block dims and GM shapes are such expressions; the
//!   runtime evaluates them with the dims bound from the input shapes;
//! - the graph IR uses `Expr<Sym>` ([`crate::graph::Dim`]): symbols are the kernel's own entities
//!   (whose data holds the interned name), kept in a canonical sum-of-products form by the
//!   constructors in [`crate::graph::dim`], so that type inference compares dims by equality, with
//!   terms ordered by the kernel's declaration order (which the graph text shows: `T*K`).
//!
//! [`Expr::map_syms`] turns one instance into the other; [`crate::graph::Dim::to_expr`] is the
//! graph-to-kernel-IR direction, symbol to symbol (no name is looked up or parsed again).
//!
//! The text form of `Expr<Symbol>` is ordinary infix arithmetic with the functions `min`, `max`,
//! `ceil_div` and `align_up`:
//!
//! ```text
//! expr    := sum
//! sum     := product (('+' | '-') product)*
//! product := atom (('*' | '/' | '%') atom)*
//! atom    := INT | NAME | NAME '(' expr ',' expr ')' | '(' expr ')' | '-' atom
//! ```
//!
//! In the kernel IR, `/` and `%` truncate toward zero (like C); every operation is checked, so
//! overflow and division by zero are errors, never wrong values. In a graph dim, a quotient is
//! asserted exact: its evaluation refuses an inexact one ([`crate::graph::DimEvalError`]).

use std::fmt;

pub use crate::sym::Symbol;

/// An integer expression over symbols `S` (see the [module documentation](self)).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Expr<S = Symbol> {
    /// A literal.
    Int(i64),
    /// A symbol: a dim bound at launch (`T`) or, in the graph IR, a static parameter too.
    Sym(S),
    /// `a + b`.
    Add(Box<Expr<S>>, Box<Expr<S>>),
    /// `a - b`.
    Sub(Box<Expr<S>>, Box<Expr<S>>),
    /// `a * b`.
    Mul(Box<Expr<S>>, Box<Expr<S>>),
    /// `a / b`: truncating in the kernel IR, exact in a graph dim.
    Div(Box<Expr<S>>, Box<Expr<S>>),
    /// `a % b`, with the sign of `a`.
    Rem(Box<Expr<S>>, Box<Expr<S>>),
    /// `min(a, b)`.
    Min(Box<Expr<S>>, Box<Expr<S>>),
    /// `max(a, b)`.
    Max(Box<Expr<S>>, Box<Expr<S>>),
    /// `ceil_div(a, b)` = `(a + b - 1) / b` for positive `b`.
    CeilDiv(Box<Expr<S>>, Box<Expr<S>>),
    /// `align_up(a, b)` = `ceil_div(a, b) * b`.
    AlignUp(Box<Expr<S>>, Box<Expr<S>>),
}

impl<S: Copy + PartialEq> Expr<S> {
    /// A literal.
    pub fn lit(value: i64) -> Expr<S> {
        Expr::Int(value)
    }

    /// A symbol.
    pub fn sym(sym: S) -> Expr<S> {
        Expr::Sym(sym)
    }

    /// The literal value, if this is a literal.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Expr::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The symbol, if this is exactly one symbol.
    pub fn as_sym(&self) -> Option<S> {
        match self {
            Expr::Sym(s) => Some(*s),
            _ => None,
        }
    }

    /// The two operands of an operation; `None` for a literal or a symbol.
    pub fn operands(&self) -> Option<(&Expr<S>, &Expr<S>)> {
        match self {
            Expr::Int(_) | Expr::Sym(_) => None,
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Rem(a, b)
            | Expr::Min(a, b)
            | Expr::Max(a, b)
            | Expr::CeilDiv(a, b)
            | Expr::AlignUp(a, b) => Some((a, b)),
        }
    }

    /// Every symbol mentioned, in order of first appearance, without repeats.
    pub fn syms(&self) -> Vec<S> {
        let mut out = Vec::new();
        self.collect_syms(&mut out);
        out
    }

    fn collect_syms(&self, out: &mut Vec<S>) {
        if let Expr::Sym(s) = self {
            if !out.contains(s) {
                out.push(*s);
            }
        } else if let Some((a, b)) = self.operands() {
            a.collect_syms(out);
            b.collect_syms(out);
        }
    }

    /// The same expression, node for node, with every symbol replaced by `f(symbol)`.
    pub fn map_syms<T>(&self, f: &dyn Fn(S) -> T) -> Expr<T> {
        let bin = |a: &Expr<S>, b: &Expr<S>| (Box::new(a.map_syms(f)), Box::new(b.map_syms(f)));
        match self {
            Expr::Int(v) => Expr::Int(*v),
            Expr::Sym(s) => Expr::Sym(f(*s)),
            Expr::Add(a, b) => {
                let (a, b) = bin(a, b);
                Expr::Add(a, b)
            }
            Expr::Sub(a, b) => {
                let (a, b) = bin(a, b);
                Expr::Sub(a, b)
            }
            Expr::Mul(a, b) => {
                let (a, b) = bin(a, b);
                Expr::Mul(a, b)
            }
            Expr::Div(a, b) => {
                let (a, b) = bin(a, b);
                Expr::Div(a, b)
            }
            Expr::Rem(a, b) => {
                let (a, b) = bin(a, b);
                Expr::Rem(a, b)
            }
            Expr::Min(a, b) => {
                let (a, b) = bin(a, b);
                Expr::Min(a, b)
            }
            Expr::Max(a, b) => {
                let (a, b) = bin(a, b);
                Expr::Max(a, b)
            }
            Expr::CeilDiv(a, b) => {
                let (a, b) = bin(a, b);
                Expr::CeilDiv(a, b)
            }
            Expr::AlignUp(a, b) => {
                let (a, b) = bin(a, b);
                Expr::AlignUp(a, b)
            }
        }
    }
}

/// Why an expression could not be evaluated.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum ExprError {
    /// A dim had no value.
    #[error("dim `{0}` has no value")]
    Unbound(Symbol),
    /// A division or remainder by zero.
    #[error("division by zero in `{0}`")]
    DivByZero(String),
    /// A result did not fit in 64 bits.
    #[error("integer overflow in `{0}`")]
    Overflow(String),
}

/// A syntax error in the text form of an expression.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("column {col}: {message}")]
pub struct ExprParseError {
    /// 1-based column (in characters) where the error was found.
    pub col: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl Expr {
    /// A dim by name (interned).
    pub fn dim(name: impl AsRef<str>) -> Expr {
        Expr::Sym(Symbol::intern(name.as_ref()))
    }

    /// `min(a, b)`, folding literals.
    pub fn min(a: Expr, b: Expr) -> Expr {
        match (a, b) {
            (Expr::Int(x), Expr::Int(y)) => Expr::Int(x.min(y)),
            (a, b) => Expr::Min(Box::new(a), Box::new(b)),
        }
    }

    /// `max(a, b)`, folding literals.
    pub fn max(a: Expr, b: Expr) -> Expr {
        match (a, b) {
            (Expr::Int(x), Expr::Int(y)) => Expr::Int(x.max(y)),
            (a, b) => Expr::Max(Box::new(a), Box::new(b)),
        }
    }

    /// `ceil_div(a, b)`, folding literals.
    pub fn ceil_div(a: Expr, b: Expr) -> Expr {
        match (a, b) {
            (Expr::Int(x), Expr::Int(y)) if y > 0 && x >= 0 => Expr::Int((x + y - 1) / y),
            (e, Expr::Int(1)) => e,
            (a, b) => Expr::CeilDiv(Box::new(a), Box::new(b)),
        }
    }

    /// `align_up(a, b)`, folding literals.
    pub fn align_up(a: Expr, b: Expr) -> Expr {
        match (a, b) {
            (Expr::Int(x), Expr::Int(y)) if y > 0 && x >= 0 => Expr::Int((x + y - 1) / y * y),
            (e, Expr::Int(1)) => e,
            (a, b) => Expr::AlignUp(Box::new(a), Box::new(b)),
        }
    }

    /// Evaluates with `value(sym)` giving each dim's value.
    pub fn eval(&self, value: &dyn Fn(Symbol) -> Option<i64>) -> Result<i64, ExprError> {
        let overflow = || ExprError::Overflow(self.to_string());
        let zero = || ExprError::DivByZero(self.to_string());
        let bin = |a: &Expr, b: &Expr| -> Result<(i64, i64), ExprError> {
            Ok((a.eval(value)?, b.eval(value)?))
        };
        match self {
            Expr::Int(v) => Ok(*v),
            Expr::Sym(sym) => value(*sym).ok_or(ExprError::Unbound(*sym)),
            Expr::Add(a, b) => {
                let (x, y) = bin(a, b)?;
                x.checked_add(y).ok_or_else(overflow)
            }
            Expr::Sub(a, b) => {
                let (x, y) = bin(a, b)?;
                x.checked_sub(y).ok_or_else(overflow)
            }
            Expr::Mul(a, b) => {
                let (x, y) = bin(a, b)?;
                x.checked_mul(y).ok_or_else(overflow)
            }
            Expr::Div(a, b) => {
                let (x, y) = bin(a, b)?;
                if y == 0 {
                    return Err(zero());
                }
                x.checked_div(y).ok_or_else(overflow)
            }
            Expr::Rem(a, b) => {
                let (x, y) = bin(a, b)?;
                if y == 0 {
                    return Err(zero());
                }
                x.checked_rem(y).ok_or_else(overflow)
            }
            Expr::Min(a, b) => {
                let (x, y) = bin(a, b)?;
                Ok(x.min(y))
            }
            Expr::Max(a, b) => {
                let (x, y) = bin(a, b)?;
                Ok(x.max(y))
            }
            Expr::CeilDiv(a, b) => {
                let (x, y) = bin(a, b)?;
                ceil_div(x, y).ok_or_else(|| if y == 0 { zero() } else { overflow() })
            }
            Expr::AlignUp(a, b) => {
                let (x, y) = bin(a, b)?;
                let q = ceil_div(x, y).ok_or_else(|| if y == 0 { zero() } else { overflow() })?;
                q.checked_mul(y).ok_or_else(overflow)
            }
        }
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Expr, ExprParseError> {
        let mut p = Parser {
            chars: text.chars().collect(),
            pos: 0,
            depth: 0,
        };
        let e = p.sum()?;
        p.skip_ws();
        if p.pos < p.chars.len() {
            return Err(p.error(format!(
                "expected an operator or the end, found `{}`",
                p.chars[p.pos]
            )));
        }
        Ok(e)
    }

    fn write(&self, f: &mut fmt::Formatter<'_>, prec: u8) -> fmt::Result {
        // Precedence: 0 = sum operand on the left, 1 = right operand of `-` / product operand,
        // 2 = right operand of `*`, `/`, `%`.
        let infix = |f: &mut fmt::Formatter<'_>, a: &Expr, op: &str, b: &Expr, own: u8| {
            if prec > own {
                f.write_str("(")?;
            }
            a.write(f, own)?;
            write!(f, " {op} ")?;
            b.write(f, own + 1)?;
            if prec > own {
                f.write_str(")")?;
            }
            Ok(())
        };
        let call = |f: &mut fmt::Formatter<'_>, name: &str, a: &Expr, b: &Expr| {
            write!(f, "{name}(")?;
            a.write(f, 0)?;
            f.write_str(", ")?;
            b.write(f, 0)?;
            f.write_str(")")
        };
        match self {
            Expr::Int(v) if *v < 0 && prec > 0 => write!(f, "({v})"),
            Expr::Int(v) => write!(f, "{v}"),
            Expr::Sym(sym) => f.write_str(sym.as_str()),
            Expr::Add(a, b) => infix(f, a, "+", b, 0),
            Expr::Sub(a, b) => infix(f, a, "-", b, 0),
            Expr::Mul(a, b) => infix(f, a, "*", b, 1),
            Expr::Div(a, b) => infix(f, a, "/", b, 1),
            Expr::Rem(a, b) => infix(f, a, "%", b, 1),
            Expr::Min(a, b) => call(f, "min", a, b),
            Expr::Max(a, b) => call(f, "max", a, b),
            Expr::CeilDiv(a, b) => call(f, "ceil_div", a, b),
            Expr::AlignUp(a, b) => call(f, "align_up", a, b),
        }
    }
}

impl std::ops::Add for Expr {
    type Output = Expr;

    /// `a + b`, folding literals and identities.
    fn add(self, b: Expr) -> Expr {
        let a = self;
        match (a, b) {
            (Expr::Int(x), Expr::Int(y)) if x.checked_add(y).is_some() => Expr::Int(x + y),
            (Expr::Int(0), e) | (e, Expr::Int(0)) => e,
            (a, b) => Expr::Add(Box::new(a), Box::new(b)),
        }
    }
}

impl std::ops::Sub for Expr {
    type Output = Expr;

    /// `a - b`, folding literals and identities.
    fn sub(self, b: Expr) -> Expr {
        let a = self;
        match (a, b) {
            (Expr::Int(x), Expr::Int(y)) if x.checked_sub(y).is_some() => Expr::Int(x - y),
            (e, Expr::Int(0)) => e,
            (a, b) => Expr::Sub(Box::new(a), Box::new(b)),
        }
    }
}

impl std::ops::Mul for Expr {
    type Output = Expr;

    /// `a * b`, folding literals and identities.
    fn mul(self, b: Expr) -> Expr {
        let a = self;
        match (a, b) {
            (Expr::Int(x), Expr::Int(y)) if x.checked_mul(y).is_some() => Expr::Int(x * y),
            (Expr::Int(0), _) | (_, Expr::Int(0)) => Expr::Int(0),
            (Expr::Int(1), e) | (e, Expr::Int(1)) => e,
            (a, b) => Expr::Mul(Box::new(a), Box::new(b)),
        }
    }
}

impl std::ops::Div for Expr {
    type Output = Expr;

    /// `a / b`, folding literals and identities.
    fn div(self, b: Expr) -> Expr {
        let a = self;
        match (a, b) {
            (Expr::Int(x), Expr::Int(y)) if y != 0 => Expr::Int(x / y),
            (e, Expr::Int(1)) => e,
            (a, b) => Expr::Div(Box::new(a), Box::new(b)),
        }
    }
}

impl std::ops::Rem for Expr {
    type Output = Expr;

    /// `a % b`, folding literals and identities.
    fn rem(self, b: Expr) -> Expr {
        let a = self;
        match (a, b) {
            (Expr::Int(x), Expr::Int(y)) if y != 0 => Expr::Int(x % y),
            (_, Expr::Int(1)) => Expr::Int(0),
            (a, b) => Expr::Rem(Box::new(a), Box::new(b)),
        }
    }
}

fn ceil_div(x: i64, y: i64) -> Option<i64> {
    if y == 0 {
        return None;
    }
    let q = x.checked_div(y)?;
    let r = x.checked_rem(y)?;
    if r != 0 && ((r > 0) == (y > 0)) {
        q.checked_add(1)
    } else {
        Some(q)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, 0)
    }
}

impl From<i64> for Expr {
    fn from(v: i64) -> Expr {
        Expr::Int(v)
    }
}

/// Nesting limit of the parser, so that hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 200;

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn error(&self, message: String) -> ExprParseError {
        ExprParseError {
            col: self.pos + 1,
            message,
        }
    }

    fn skip_ws(&mut self) {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    fn expect(&mut self, c: char) -> Result<(), ExprParseError> {
        match self.peek() {
            Some(d) if d == c => {
                self.pos += 1;
                Ok(())
            }
            Some(d) => Err(self.error(format!("expected `{c}`, found `{d}`"))),
            None => Err(self.error(format!("expected `{c}`, found the end"))),
        }
    }

    fn sum(&mut self) -> Result<Expr, ExprParseError> {
        let mut acc = self.product()?;
        while let Some(c @ ('+' | '-')) = self.peek() {
            self.pos += 1;
            let rhs = self.product()?;
            acc = if c == '+' {
                Expr::Add(Box::new(acc), Box::new(rhs))
            } else {
                Expr::Sub(Box::new(acc), Box::new(rhs))
            };
        }
        Ok(acc)
    }

    fn product(&mut self) -> Result<Expr, ExprParseError> {
        let mut acc = self.atom()?;
        while let Some(c @ ('*' | '/' | '%')) = self.peek() {
            self.pos += 1;
            let rhs = Box::new(self.atom()?);
            let lhs = Box::new(acc);
            acc = match c {
                '*' => Expr::Mul(lhs, rhs),
                '/' => Expr::Div(lhs, rhs),
                _ => Expr::Rem(lhs, rhs),
            };
        }
        Ok(acc)
    }

    fn atom(&mut self) -> Result<Expr, ExprParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("expression nested too deeply".to_string()));
        }
        let result = self.atom_inner();
        self.depth -= 1;
        result
    }

    fn atom_inner(&mut self) -> Result<Expr, ExprParseError> {
        match self.peek() {
            None => Err(self.error("expected a number, a name or `(`, found the end".to_string())),
            Some('(') => {
                self.pos += 1;
                let e = self.sum()?;
                self.expect(')')?;
                Ok(e)
            }
            Some('-') => {
                self.pos += 1;
                match self.atom()? {
                    Expr::Int(v) => Ok(Expr::Int(-v)),
                    e => Ok(Expr::Sub(Box::new(Expr::Int(0)), Box::new(e))),
                }
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.pos;
                while self.pos < self.chars.len() && self.chars[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
                let text: String = self.chars[start..self.pos].iter().collect();
                text.parse::<i64>()
                    .map(Expr::Int)
                    .map_err(|_| ExprParseError {
                        col: start + 1,
                        message: format!("integer `{text}` does not fit in 64 bits"),
                    })
            }
            Some(c) if c.is_alphabetic() || c == '_' => {
                let start = self.pos;
                while self.pos < self.chars.len()
                    && (self.chars[self.pos].is_alphanumeric() || self.chars[self.pos] == '_')
                {
                    self.pos += 1;
                }
                let name: String = self.chars[start..self.pos].iter().collect();
                if self.peek() != Some('(') {
                    return Ok(Expr::Sym(Symbol::intern(&name)));
                }
                let make: fn(Box<Expr>, Box<Expr>) -> Expr = match name.as_str() {
                    "min" => Expr::Min,
                    "max" => Expr::Max,
                    "ceil_div" => Expr::CeilDiv,
                    "align_up" => Expr::AlignUp,
                    _ => {
                        return Err(ExprParseError {
                            col: start + 1,
                            message: format!(
                                "unknown function `{name}`: expected min, max, ceil_div or align_up"
                            ),
                        })
                    }
                };
                self.pos += 1;
                let a = self.sum()?;
                self.expect(',')?;
                let b = self.sum()?;
                self.expect(')')?;
                Ok(make(Box::new(a), Box::new(b)))
            }
            Some(c) => Err(self.error(format!("expected a number, a name or `(`, found `{c}`"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_t(text: &str, t: i64) -> Result<i64, ExprError> {
        Expr::parse(text)
            .unwrap()
            .eval(&|n| (n == "T").then_some(t))
    }

    #[test]
    fn evaluates_block_split_formulas() {
        // 100 rows over 48 cores: 2 rows each, the first 4 cores take one more.
        assert_eq!(eval_t("min(48, max(T, 1))", 100), Ok(48));
        assert_eq!(eval_t("T / min(48, max(T, 1))", 100), Ok(2));
        assert_eq!(eval_t("T % min(48, max(T, 1))", 100), Ok(4));
        // T = 0 still launches one core, with no rows.
        assert_eq!(eval_t("min(48, max(T, 1))", 0), Ok(1));
        assert_eq!(eval_t("T / min(48, max(T, 1))", 0), Ok(0));
        assert_eq!(eval_t("ceil_div(T, 8) * 3 - 1", 17), Ok(8));
        assert_eq!(eval_t("align_up(T, 16)", 17), Ok(32));
        assert_eq!(eval_t("align_up(T, 16)", 32), Ok(32));
        assert_eq!(eval_t("-T + 2 * (3 + 4)", 5), Ok(9));
        assert_eq!(eval_t("7 - 2 - 1", 0), Ok(4));
        assert_eq!(eval_t("24 / 4 / 2", 0), Ok(3));
        assert_eq!(eval_t("-7 / 2", 0), Ok(-3));
        assert_eq!(eval_t("-7 % 2", 0), Ok(-1));
        assert_eq!(eval_t("ceil_div(-7, 2)", 0), Ok(-3));
    }

    #[test]
    fn reports_errors() {
        assert_eq!(
            eval_t("T / (T - 3)", 3),
            Err(ExprError::DivByZero("T / (T - 3)".into()))
        );
        assert_eq!(
            eval_t("ceil_div(T, 0)", 3),
            Err(ExprError::DivByZero("ceil_div(T, 0)".into()))
        );
        assert_eq!(
            eval_t("T * 9223372036854775807", 2),
            Err(ExprError::Overflow("T * 9223372036854775807".into()))
        );
        assert_eq!(
            eval_t("E + 1", 2),
            Err(ExprError::Unbound(Symbol::intern("E")))
        );
        let err = Expr::parse("min(T 1)").unwrap_err();
        assert_eq!(err.to_string(), "column 7: expected `,`, found `1`");
        assert_eq!(
            Expr::parse("T +").unwrap_err().message,
            "expected a number, a name or `(`, found the end"
        );
        assert_eq!(Expr::parse("floor(T, 2)").unwrap_err().col, 1);
        assert_eq!(
            Expr::parse("T ) ").unwrap_err().message,
            "expected an operator or the end, found `)`"
        );
        assert!(Expr::parse("99999999999999999999").is_err());
        assert!(Expr::parse(&"(".repeat(10_000)).is_err());
    }

    #[test]
    fn map_syms_changes_only_the_symbols() {
        let e =
            Expr::parse("ceil_div(T, 8) * align_up(S % 3, min(T, max(S, 2))) - T / 4 + 1").unwrap();
        // To per-program indices and back: the same tree.
        let order = e.syms();
        assert_eq!(order, vec![Symbol::intern("T"), Symbol::intern("S")]);
        let indexed: Expr<usize> = e.map_syms(&|s| order.iter().position(|&o| o == s).unwrap());
        assert_eq!(indexed.syms(), vec![0, 1]);
        assert_eq!(indexed.map_syms(&|i| order[i]), e);
        // Renaming changes the text only where the symbols are.
        let renamed = e.map_syms(&|s| if s == "T" { Symbol::intern("M") } else { s });
        assert_eq!(
            renamed.to_string(),
            "ceil_div(M, 8) * align_up(S % 3, min(M, max(S, 2))) - M / 4 + 1"
        );
    }

    #[test]
    fn prints_and_parses_back() {
        let cases = [
            "T",
            "T / min(48, max(T, 1))",
            "T - (3 - T)",
            "(T + 1) * 4",
            "T * (4 / 2)",
            "T % 8 - 1",
            "ceil_div(T, 248) * align_up(T * 3, 8)",
            "(-5) * T",
        ];
        for text in cases {
            let e = Expr::parse(text).unwrap();
            assert_eq!(e.to_string(), text);
            assert_eq!(Expr::parse(&e.to_string()).unwrap(), e);
        }
        // The builders fold literals.
        let e = (Expr::dim("T") + Expr::Int(0)) * Expr::Int(1);
        assert_eq!(e, Expr::dim("T"));
        assert_eq!(Expr::min(Expr::Int(48), Expr::Int(7)), Expr::Int(7));
        assert_eq!(
            Expr::parse("min(48, max(T, 1))").unwrap().syms(),
            vec![Symbol::intern("T")]
        );
    }
}
