//! Scratch sharing: temporaries whose lifetimes do not overlap share one scratch buffer, sized later for
//! the largest of them. Lifetimes run from an instruction's first access of a tile to its last, in the
//! order of the `init` stage then the `compute` stage (so staging tiles used only in `init` share memory
//! with compute temporaries); two tiles share a buffer only if one is dead before the other is
//! first written. Unused buffers are dropped and the rest renumbered (a compaction), so that temporaries
//! do not renumber buffers in unrelated snapshots.
//!
//! Needs nothing precomputed; invalidates nothing but buffer ids.

use cranelift_entity::{PrimaryMap, SecondaryMap};

use crate::kir::{Buffer, BufferData, BufferKind, Function, Home, Tile};

/// Assigns scratch tiles to shared buffers; returns how many scratch buffers remain.
pub fn share_scratch(func: &mut Function) -> usize {
    let range = func.live_ranges();
    let is_scratch = |func: &Function, t: Tile| match func.tiles[t].home {
        Home::Buffer(b) => func.buffers[b].kind == BufferKind::Scratch,
        Home::Queue(_) => false,
    };
    let mut scratch: Vec<(Tile, (usize, usize))> = func
        .tiles
        .keys()
        .filter(|&t| is_scratch(func, t))
        .map(|t| (t, range[t].unwrap_or((0, 0))))
        .collect();
    scratch.sort_by_key(|&(t, r)| (r.0, t));
    // Slots: (last position in use, tiles).
    let mut slots: Vec<(usize, Vec<Tile>)> = Vec::new();
    for (t, (start, end)) in scratch {
        match slots.iter_mut().find(|(busy_until, _)| *busy_until < start) {
            Some(slot) => {
                slot.0 = end;
                slot.1.push(t);
            }
            None => slots.push((end, vec![t])),
        }
    }
    // Rebuild the buffer table: non-scratch buffers keep their order, then one buffer per slot.
    let old = std::mem::take(&mut func.buffers);
    let mut map: SecondaryMap<Buffer, Option<Buffer>> = SecondaryMap::new();
    let mut buffers: PrimaryMap<Buffer, BufferData> = PrimaryMap::new();
    for (b, data) in old.iter() {
        if data.kind != BufferKind::Scratch {
            map[b] = Some(buffers.push(data.clone()));
        }
    }
    // Non-scratch tiles keep their buffer, renumbered; scratch tiles move to their slot's buffer.
    for tile in func.tiles.values_mut() {
        if let Home::Buffer(b) = tile.home {
            if let Some(nb) = map[b] {
                tile.home = Home::Buffer(nb);
            }
        }
    }
    for (n, (_, tiles)) in slots.iter().enumerate() {
        let b = buffers.push(BufferData {
            name: format!("tmp{n}"),
            space: crate::kir::MemSpace::Ub,
            kind: BufferKind::Scratch,
            count: 1,
            bytes: 0,
        });
        for &t in tiles {
            func.tiles[t].home = Home::Buffer(b);
        }
    }
    for q in func.queues.values_mut() {
        if let Some(nb) = map[q.buffer] {
            q.buffer = nb;
        }
    }
    func.buffers = buffers;
    slots.len()
}
