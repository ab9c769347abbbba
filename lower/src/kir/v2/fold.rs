//! Building device expressions folded where the result is plain (literals, `x * 1`, `x + 0`,
//! `x / 1`), so the printed kernels stay readable. The lowerings build their loop bounds, offsets and
//! counts through these.

use super::{BinOp, IExpr};

/// A literal.
pub fn int(v: u64) -> IExpr {
    IExpr::Int(v as i64)
}

/// `a op b`, folded: two literals give a literal (for the ops defined on them), `x + 0`, `x - 0`,
/// `1 * x`, `x * 1`, `x / 1` give `x`, and a product with 0 gives 0.
pub fn bin(op: BinOp, a: IExpr, b: IExpr) -> IExpr {
    match (op, a.as_int(), b.as_int()) {
        (BinOp::Add, Some(x), Some(y)) => IExpr::Int(x + y),
        (BinOp::Sub, Some(x), Some(y)) => IExpr::Int(x - y),
        (BinOp::Mul, Some(x), Some(y)) => IExpr::Int(x * y),
        (BinOp::Min, Some(x), Some(y)) => IExpr::Int(x.min(y)),
        (BinOp::Max, Some(x), Some(y)) => IExpr::Int(x.max(y)),
        (BinOp::Div, Some(x), Some(y)) if y > 0 => IExpr::Int(x / y),
        (BinOp::CeilDiv, Some(x), Some(y)) if y > 0 && x >= 0 => IExpr::Int((x + y - 1) / y),
        (BinOp::Add, Some(0), _) => b,
        (BinOp::Add | BinOp::Sub, _, Some(0)) => a,
        (BinOp::Mul, Some(1), _) => b,
        (BinOp::Mul | BinOp::Div, _, Some(1)) => a,
        (BinOp::Mul, Some(0), _) | (BinOp::Mul, _, Some(0)) => IExpr::Int(0),
        _ => IExpr::bin(op, a, b),
    }
}

/// `a + b`.
pub fn add(a: IExpr, b: IExpr) -> IExpr {
    bin(BinOp::Add, a, b)
}

/// `a - b`.
pub fn sub(a: IExpr, b: IExpr) -> IExpr {
    bin(BinOp::Sub, a, b)
}

/// `a * b`.
pub fn mul(a: IExpr, b: IExpr) -> IExpr {
    bin(BinOp::Mul, a, b)
}

/// `a / b`, truncating.
pub fn div(a: IExpr, b: IExpr) -> IExpr {
    bin(BinOp::Div, a, b)
}

/// `min(a, b)`.
pub fn min(a: IExpr, b: IExpr) -> IExpr {
    bin(BinOp::Min, a, b)
}

/// `max(a, b)`.
pub fn max(a: IExpr, b: IExpr) -> IExpr {
    bin(BinOp::Max, a, b)
}

/// `ceil_div(a, b)`.
pub fn ceil_div(a: IExpr, b: IExpr) -> IExpr {
    bin(BinOp::CeilDiv, a, b)
}
