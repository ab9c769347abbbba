//! Schedule hints of a vector kernel (`#[tile(rows = ..)]`, `#[block_dim(n = ..)]`,
//! `#[buffer_num(n = ..)]`): collected from the ops of a device kernel, checked against the target, and
//! applied. A hint that cannot be honored, or that does not apply to a vector kernel, is a located
//! error: no hint is ever ignored silently.

use crate::graph::{Kernel, Op, SrcLoc};
use crate::kir::{Expr, Function};
use crate::target::Target;

use super::LowerError;

/// The hints of one vector kernel, each with the source location of the statement that carries it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct VectorHints {
    /// `#[tile(rows = N)]`: exactly `N` rows per tile.
    pub tile_rows: Option<(u32, SrcLoc)>,
    /// `#[block_dim(n = N)]`: at most `N` cores.
    pub block_dim: Option<(u32, SrcLoc)>,
    /// `#[buffer_num(n = N)]`: `N` buffers per queue (1 or 2).
    pub buffer_num: Option<(u32, SrcLoc)>,
}

fn hint_error(k: &Kernel, op: Op, message: String) -> LowerError {
    LowerError::Hint {
        kernel: k.name.clone(),
        loc: k.locs.get(op).copied().unwrap_or_default(),
        message,
    }
}

/// Collects the hints of the ops of one vector kernel.
pub fn collect(k: &Kernel, ops: &[Op], target: &Target) -> Result<VectorHints, LowerError> {
    let mut h = VectorHints::default();
    for &op in ops {
        let Some(hints) = k.hints.get(op) else {
            continue;
        };
        let loc = k.locs.get(op).copied().unwrap_or_default();
        for hint in hints {
            for (key, value) in &hint.args {
                let value = u32::try_from(*value)
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| {
                        hint_error(
                            k,
                            op,
                            format!(
                                "{}({key} = {value}) must be a positive 32-bit integer",
                                hint.name
                            ),
                        )
                    })?;
                let slot = match (hint.name.as_str(), key.as_str()) {
                    ("tile", "rows") => {
                        if value > 4095 {
                            return Err(hint_error(
                                k,
                                op,
                                format!("tile(rows = {value}): a vector tile has at most 4095 rows (DataCopyPad's block count)"),
                            ));
                        }
                        &mut h.tile_rows
                    }
                    ("block_dim", "n") => {
                        if value > target.vector_cores {
                            return Err(hint_error(
                                k,
                                op,
                                format!(
                                    "block_dim(n = {value}) exceeds the {} vector cores of {}",
                                    target.vector_cores, target.name
                                ),
                            ));
                        }
                        &mut h.block_dim
                    }
                    ("buffer_num", "n") => {
                        if value > 2 {
                            return Err(hint_error(
                                k,
                                op,
                                format!("buffer_num(n = {value}): a vector queue is single (1) or double (2) buffered"),
                            ));
                        }
                        &mut h.buffer_num
                    }
                    (name, key) => {
                        return Err(hint_error(
                            k,
                            op,
                            format!("{name}({key} = ..) does not apply to a vector kernel (it has rows, not m/n/k tiles)"),
                        ))
                    }
                };
                match slot {
                    Some((old, _)) if *old != value => {
                        return Err(hint_error(
                            k,
                            op,
                            format!("{}({key} = {value}) contradicts {}({key} = {old}) on another statement of the same device kernel", hint.name, hint.name),
                        ))
                    }
                    _ => *slot = Some((value, loc)),
                }
            }
        }
    }
    Ok(h)
}

/// Applies the block-dim and buffer-count hints before the tiles are fitted.
pub fn apply_before_fit(func: &mut Function, h: &VectorHints) {
    if let Some((n, _)) = h.block_dim {
        let s = &mut func.split;
        let block_dim = Expr::min(Expr::Int(n as i64), Expr::max(s.rows.clone(), Expr::Int(1)));
        s.block_dim = block_dim.clone();
        func.fields[s.per_core_field].expr = s.rows.clone() / block_dim.clone();
        func.fields[s.rem_field].expr = s.rows.clone() % block_dim;
    }
    if let Some((n, _)) = h.buffer_num {
        for q in func.queues.values() {
            func.buffers[q.buffer].count = n;
        }
    }
}

/// Checks that the fitted kernel honors the hints.
pub fn check_after_fit(
    kernel: &Kernel,
    func: &Function,
    h: &VectorHints,
) -> Result<(), LowerError> {
    let err = |loc: SrcLoc, message: String| LowerError::Hint {
        kernel: kernel.name.clone(),
        loc,
        message,
    };
    if let Some((rows, loc)) = h.tile_rows {
        if func.split.tile_rows != rows {
            return Err(err(
                loc,
                format!(
                    "tile(rows = {rows}) does not fit the Unified Buffer: at most {} rows per tile fit",
                    func.split.tile_rows
                ),
            ));
        }
    }
    if let Some((n, loc)) = h.buffer_num {
        if let Some(q) = func
            .queues
            .values()
            .find(|q| func.buffers[q.buffer].count != n)
        {
            return Err(err(
                loc,
                format!(
                    "buffer_num(n = {n}) cannot be honored: queue buffer `{}` has {} (more than four queues per position share 8 buffers)",
                    func.buffers[q.buffer].name, func.buffers[q.buffer].count
                ),
            ));
        }
    }
    Ok(())
}
