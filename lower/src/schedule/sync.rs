//! Synchronization derived from the dataflow. Queue tiles are ordered by their queues (`EnQue` /
//! `DeQue` give MTE2 -> V and V -> MTE3, and the reverse write-after-read order, on every tile). Resident
//! tiles are loaded once in `init` outside any queue, so the vector pipe must wait for those loads: this
//! pass puts a `set_flag` / `wait_flag` pair (MTE2 -> V) before the first vector instruction that reads a
//! loaded tile, or at the end of `init` if only the per-tile stages read it.
//!
//! Needs nothing precomputed; adds events and instructions to `init`.

use rustc_hash::FxHashSet;

use crate::kir::{Event, EventData, Function, Inst, InstData, Pipe, StageKind, Tile};

/// Inserts the events `init` needs; returns how many set/wait pairs were added.
pub fn insert_events(func: &mut Function) -> usize {
    let Some(init) = func.stage(StageKind::Init) else {
        return 0;
    };
    let later_reads: FxHashSet<Tile> = func
        .stages
        .values()
        .filter(|s| s.kind != StageKind::Init)
        .flat_map(|s| s.insts.iter())
        .flat_map(|&i| func.insts[i].reads())
        .collect();
    let mut event: Option<Event> = None;
    let mut pairs = 0;
    let mut out: Vec<Inst> = Vec::new();
    let mut unsynced: Vec<Tile> = Vec::new();
    let insts = func.stages[init].insts.clone();
    let mut add_pair = |func: &mut Function, out: &mut Vec<Inst>| {
        let ev = *event.get_or_insert_with(|| {
            func.events.push(EventData {
                from: Pipe::Mte2,
                to: Pipe::V,
            })
        });
        out.push(func.insts.push(InstData::SetFlag(ev)));
        out.push(func.insts.push(InstData::WaitFlag(ev)));
        pairs += 1;
    };
    for i in insts {
        let data = &func.insts[i];
        if data.pipe() == Pipe::V && data.reads().iter().any(|t| unsynced.contains(t)) {
            add_pair(func, &mut out);
            unsynced.clear();
        }
        if func.insts[i].pipe() == Pipe::Mte2 {
            unsynced.extend(func.insts[i].writes());
        }
        out.push(i);
    }
    if unsynced.iter().any(|t| later_reads.contains(t)) {
        add_pair(func, &mut out);
    }
    func.stages[init].insts = out;
    pairs
}
