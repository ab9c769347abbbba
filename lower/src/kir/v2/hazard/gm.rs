//! Where a GM access lies, for the hazard verifier: a linear form of its offset and a bound of its
//! extent (docs/kernel-ir-v2.md, "Memory model limits").

use std::collections::BTreeMap;

use super::super::write::ex;
use super::super::{BinOp, GmBuf, IExpr, InstData, Var};
use super::Loc;

fn gm_offset(d: &InstData) -> Option<&IExpr> {
    match d {
        InstData::CopyIn { src, .. }
        | InstData::CopyNd2Nz { src, .. }
        | InstData::ReadScalar { src, .. } => Some(&src.offset),
        InstData::CopyOut { dst, .. }
        | InstData::Fixpipe { dst, .. }
        | InstData::WriteScalar { dst, .. } => Some(&dst.offset),
        _ => None,
    }
}

/// Where a GM access lies: its offset (with the unrolled iteration substituted) as a linear form
/// `sym + base` and an upper bound of its extent.
///
/// Two accesses whose offsets have the same symbolic part differ by a constant: they are compared
/// by range when both extents are bounded (`base + tile * tile_elems` of two loop iterations, or two
/// tiles of one core: disjoint when the distance is at least the extent, a race when not), by equal
/// offset otherwise. Offsets with different symbolic parts (`block_idx * r` against
/// `block_idx * r + f1`, tiles of a swizzled order) are taken to be different tiles: that is not
/// proven (see docs/kernel-ir-v2.md, "Memory model limits").
pub(super) fn gm_loc(d: &InstData, buf: GmBuf, iters: &[(Var, i64)]) -> Loc {
    let Some(offset) = gm_offset(d) else {
        return Loc::Gm {
            buf,
            offset: "".into(),
            sym: "".into(),
            base: 0,
            extent: None,
        };
    };
    let offset = subst(offset, iters);
    let (terms, base) = linear(&offset);
    let sym = terms
        .iter()
        .map(|(atom, coef)| format!("{coef}*({atom})"))
        .collect::<Vec<_>>()
        .join(" + ")
        .into();
    Loc::Gm {
        buf,
        offset: ex(&offset).into(),
        sym,
        base,
        extent: gm_extent(d, iters).map(|e| e.max(1)),
    }
}

/// `e` as `sum(coef * atom) + constant`: sums, differences and products by a constant are taken
/// apart; anything else (a quotient, a min, a product of two unknowns) is one atom, by its text.
fn linear(e: &IExpr) -> (BTreeMap<String, i64>, i64) {
    let combine = |a: (BTreeMap<String, i64>, i64), b: (BTreeMap<String, i64>, i64), sign: i64| {
        let (mut terms, c) = a;
        for (atom, coef) in b.0 {
            let v = terms.entry(atom).or_insert(0);
            *v = v.saturating_add(sign.saturating_mul(coef));
        }
        terms.retain(|_, v| *v != 0);
        (terms, c.saturating_add(sign.saturating_mul(b.1)))
    };
    let scale = |a: (BTreeMap<String, i64>, i64), k: i64| {
        let mut terms: BTreeMap<String, i64> =
            a.0.into_iter()
                .map(|(atom, coef)| (atom, coef.saturating_mul(k)))
                .collect();
        terms.retain(|_, v| *v != 0);
        (terms, a.1.saturating_mul(k))
    };
    match e {
        IExpr::Int(c) => (BTreeMap::new(), *c),
        IExpr::Bin(BinOp::Add, a, b) => combine(linear(a), linear(b), 1),
        IExpr::Bin(BinOp::Sub, a, b) => combine(linear(a), linear(b), -1),
        IExpr::Bin(BinOp::Mul, a, b) => {
            let (la, lb) = (linear(a), linear(b));
            if la.0.is_empty() {
                scale(lb, la.1)
            } else if lb.0.is_empty() {
                scale(la, lb.1)
            } else {
                (BTreeMap::from([(ex(e), 1)]), 0)
            }
        }
        _ => (BTreeMap::from([(ex(e), 1)]), 0),
    }
}

/// An upper bound of `e` when one follows from literals (`min(84, rows_left)` is at most 84).
fn upper(e: &IExpr) -> Option<i64> {
    match e {
        IExpr::Int(c) => Some(*c),
        IExpr::Bin(BinOp::Min, a, b) => match (upper(a), upper(b)) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        },
        IExpr::Bin(BinOp::Max, a, b) => Some(upper(a)?.max(upper(b)?)),
        IExpr::Bin(BinOp::Add, a, b) => upper(a)?.checked_add(upper(b)?),
        _ => None,
    }
}

/// An upper bound of the elements a GM access spans from its offset: `(rows - 1) * pitch + cols`.
fn gm_extent(d: &InstData, iters: &[(Var, i64)]) -> Option<i64> {
    let span = |rows: &IExpr, cols: Option<i64>, pitch: &IExpr| -> Option<i64> {
        let rows = upper(&subst(rows, iters))?;
        let pitch = pitch.as_int()?;
        if rows <= 0 {
            return Some(0);
        }
        (rows - 1).checked_mul(pitch)?.checked_add(cols?)
    };
    match d {
        InstData::CopyIn {
            rows,
            cols,
            gm_pitch,
            ..
        }
        | InstData::CopyOut {
            rows,
            cols,
            gm_pitch,
            ..
        } => span(rows, Some(i64::from(*cols)), gm_pitch),
        InstData::CopyNd2Nz {
            rows,
            cols,
            gm_pitch,
            ..
        } => span(rows, upper(cols), gm_pitch),
        InstData::Fixpipe { m, n, gm_pitch, .. } => span(m, upper(n), gm_pitch),
        InstData::ReadScalar { .. } | InstData::WriteScalar { .. } => Some(1),
        _ => None,
    }
}

/// The expression with every loop counter replaced by `counter + iteration` (a distinct value per
/// unrolled iteration, so that offsets of different iterations compare different).
fn subst(e: &IExpr, iters: &[(Var, i64)]) -> IExpr {
    match e {
        IExpr::Var(v) => match iters.iter().find(|(w, _)| w == v) {
            Some((_, j)) => IExpr::bin(BinOp::Add, IExpr::Var(*v), IExpr::Int(*j)),
            None => e.clone(),
        },
        IExpr::Bin(op, a, b) => IExpr::bin(*op, subst(a, iters), subst(b, iters)),
        _ => e.clone(),
    }
}
