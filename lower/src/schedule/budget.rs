//! UB budgets: chooses the rows per tile so that every buffer of the kernel fits the target's usable UB,
//! and sizes the buffers. The largest tile that fits (up to the configured maximum) is chosen; a kernel
//! that does not fit even with one row per tile is refused with the list of buffers and their sizes.
//! Also enforces the `TPipe` limits: at most 64 buffers, and at most 8 buffers per queue position
//! (double buffering is dropped for a position with more than four queues).
//!
//! Needs scratch sharing done ([`super::alloc`]); writes `split.tile_rows` and every buffer's `bytes`.

use std::fmt;

use rustc_hash::FxHashMap;

use crate::kir::{Buffer, Function, Home, QueuePos};
use crate::target::Target;

use super::ScheduleOptions;

/// One buffer's share of the budget.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BufferUse {
    /// The buffer's name hint.
    pub name: String,
    /// How many copies (2 for a double-buffered queue).
    pub count: u32,
    /// Bytes of each copy.
    pub bytes: u64,
}

impl fmt::Display for BufferUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.count == 1 {
            write!(f, "`{}` {} B", self.name, self.bytes)
        } else {
            write!(f, "`{}` {} x {} B", self.name, self.count, self.bytes)
        }
    }
}

/// How a kernel met its budget.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BudgetReport {
    /// Rows per tile chosen.
    pub tile_rows: u32,
    /// UB bytes allocated.
    pub ub_bytes: u64,
    /// UB bytes available.
    pub ub_usable: u64,
    /// Every buffer, in buffer order.
    pub buffers: Vec<BufferUse>,
    /// Whether the queues are double buffered.
    pub double_buffered: bool,
}

/// A kernel that does not fit the target.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum BudgetError {
    /// Even one row per tile needs more UB than the target has.
    #[error(
        "kernel `{kernel}` does not fit in the unified buffer: one row per tile needs {need} B, {have} B are usable ({})",
        list(buffers)
    )]
    DoesNotFit {
        /// The kernel's name.
        kernel: String,
        /// UB bytes needed with one row per tile.
        need: u64,
        /// UB bytes usable.
        have: u64,
        /// The buffers with one row per tile.
        buffers: Vec<BufferUse>,
    },
    /// More `TPipe` buffers than the runtime allows.
    #[error("kernel `{kernel}` needs {count} on-chip buffers, at most {max} are allowed")]
    TooManyBuffers {
        /// The kernel's name.
        kernel: String,
        /// Buffers needed.
        count: u32,
        /// The limit.
        max: u32,
    },
}

fn list(buffers: &[BufferUse]) -> String {
    buffers
        .iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bytes of every buffer with `tile_rows` rows per tile.
fn buffer_bytes(func: &Function, tile_rows: u32) -> FxHashMap<Buffer, u64> {
    let mut bytes: FxHashMap<Buffer, u64> = func.buffers.keys().map(|b| (b, 0)).collect();
    for tile in func.tiles.values() {
        let b = match tile.home {
            Home::Queue(q) => func.queues[q].buffer,
            Home::Buffer(b) => b,
        };
        let e = bytes.entry(b).or_insert(0);
        *e = (*e).max(tile.bytes(tile_rows));
    }
    bytes
}

fn total(func: &Function, bytes: &FxHashMap<Buffer, u64>) -> u64 {
    func.buffers
        .iter()
        .map(|(b, d)| d.count as u64 * bytes.get(&b).copied().unwrap_or(0))
        .sum()
}

fn uses(func: &Function, bytes: &FxHashMap<Buffer, u64>) -> Vec<BufferUse> {
    func.buffers
        .iter()
        .map(|(b, d)| BufferUse {
            name: d.name.clone(),
            count: d.count,
            bytes: bytes.get(&b).copied().unwrap_or(0),
        })
        .collect()
}

/// Chooses the rows per tile and sizes every buffer.
pub fn fit_tiles(
    func: &mut Function,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<BudgetReport, BudgetError> {
    // At most 8 buffers per queue position: drop double buffering where four queues are exceeded.
    let mut double_buffered = true;
    for pos in [QueuePos::VecIn, QueuePos::VecOut] {
        let queues: Vec<Buffer> = func
            .queues
            .values()
            .filter(|q| q.pos == pos)
            .map(|q| q.buffer)
            .collect();
        if queues.len() > 4 {
            double_buffered = false;
            for b in queues {
                func.buffers[b].count = 1;
            }
        }
    }
    let count: u32 = func.buffers.values().map(|b| b.count).sum();
    let per_pos_max = func
        .queues
        .values()
        .filter(|q| q.pos == QueuePos::VecIn)
        .count()
        .max(
            func.queues
                .values()
                .filter(|q| q.pos == QueuePos::VecOut)
                .count(),
        );
    if count > target.max_pipe_buffers || per_pos_max > 8 {
        return Err(BudgetError::TooManyBuffers {
            kernel: func.name.clone(),
            count: count.max(per_pos_max as u32),
            max: if per_pos_max > 8 {
                8
            } else {
                target.max_pipe_buffers
            },
        });
    }
    let usable = target.ub_usable as u64;
    let fits = |rows: u32| total(func, &buffer_bytes(func, rows)) <= usable;
    // DataCopyPad moves at most 4095 rows in one instruction.
    let max_rows = options.max_tile_rows.clamp(1, 4095);
    if !fits(1) {
        let bytes = buffer_bytes(func, 1);
        return Err(BudgetError::DoesNotFit {
            kernel: func.name.clone(),
            need: total(func, &bytes),
            have: usable,
            buffers: uses(func, &bytes),
        });
    }
    // The largest fitting row count (the need grows with the rows).
    let (mut lo, mut hi) = (1u32, max_rows);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    func.split.tile_rows = lo;
    let bytes = buffer_bytes(func, lo);
    for (b, d) in func.buffers.iter_mut() {
        d.bytes = bytes.get(&b).copied().unwrap_or(0) as u32;
    }
    Ok(BudgetReport {
        tile_rows: lo,
        ub_bytes: total(func, &bytes),
        ub_usable: usable,
        buffers: uses(func, &bytes),
        double_buffered,
    })
}
