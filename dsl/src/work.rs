//! Counted work of the frontend: a deterministic measure of what checking a file costs, so that tests
//! can hold the frontend linear in its input without timing it (wall-clock ratios fail on a loaded
//! machine; performance is measured in the benchmarks).
//!
//! One step is one unit of the frontend's own per-item work: an expression parsed or evaluated, a
//! name bound or looked up, a dim-expression node visited, an op appended, a diagnostic made, a
//! character a rendered diagnostic scans. A loop that revisits earlier items (a quadratic scan)
//! shows up as steps growing faster than the input.

use std::cell::Cell;

thread_local! {
    static STEPS: Cell<u64> = const { Cell::new(0) };
}

/// Counts `n` steps of work on this thread.
pub(crate) fn tick(n: u64) {
    STEPS.with(|s| s.set(s.get().wrapping_add(n)));
}

/// Runs `f` and returns its result with the frontend steps it took on this thread.
pub fn measured<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = STEPS.with(Cell::get);
    let result = f();
    (result, STEPS.with(Cell::get).wrapping_sub(before))
}
