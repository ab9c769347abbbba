//! The GM traffic model of a matmul tile schedule, and whether it is cube-bound.
//!
//! Three byte counts, all modeled (no hardware measurement):
//!
//! - **schedule** (GM interface): the bytes every `DataCopy` GM->L1 and every `Fixpipe` L0C->GM of the
//!   plan moves, counted by walking the schedule (every tile, every L1 stage, tails with their real
//!   extents);
//! - **tile minimum**: what any schedule with output tiles `m x n` must move when each tile reads its
//!   A rows and B columns over all of K: each A block is read `ceil(N/n)` times and each B block
//!   `ceil(M/m)` times, C written once;
//! - **compulsory**: A and B read once, C written once.
//!
//! HBM bytes are fewer than GM bytes because the 192 MB L2 (costmodel-910b.md §3) serves re-reads:
//! [`Traffic::hbm`] replays the schedule's reads, wave by wave (the `block_dim` tiles that run at the
//! same time, stage by stage), through an LRU cache of L2's size at the granularity of one stage's
//! block, and counts the misses.

use std::collections::{BTreeMap, HashMap};

use super::plan::MatmulPlan;

/// L2 bytes of an A2 part with 24 AI Cores (costmodel-910b.md §3: 192 MB).
pub const L2_BYTES: u64 = 192 * 1024 * 1024;
/// Aggregate HBM bandwidth, bytes per second (costmodel-910b.md §3: ~1.5 TB/s achieved).
pub const HBM_BYTES_PER_SEC: f64 = 1.5e12;
/// Aggregate L2 read bandwidth, bytes per second (costmodel-910b.md §3: ~5-6 TB/s; 5.5 taken).
pub const L2_BYTES_PER_SEC: f64 = 5.5e12;
/// AI Core clock of the A2 parts with 24 cores (costmodel-910b.md §1: 1.85 GHz).
pub const CLOCK_HZ: f64 = 1.85e9;

/// The traffic of one plan.
#[derive(Clone, PartialEq, Debug)]
pub struct Traffic {
    /// Bytes the schedule reads from GM (A and B stages).
    pub read: u64,
    /// Bytes the schedule writes to GM (C tiles).
    pub written: u64,
    /// A and B read once, C written once.
    pub compulsory: u64,
    /// The least any schedule with the plan's output tile sizes moves (see the module doc).
    pub tile_minimum: u64,
    /// Modeled HBM bytes: the schedule's reads that miss L2, plus the writes.
    pub hbm: u64,
    /// Floating-point operations, `2 M N K`.
    pub flops: u64,
    /// Modeled seconds of the busiest core's cube (`Mmad`) work.
    pub cube_secs: f64,
}

impl Traffic {
    /// Bytes over the GM interface (read + written).
    pub fn gm(&self) -> u64 {
        self.read + self.written
    }

    /// FLOPs per GM byte.
    pub fn intensity_gm(&self) -> f64 {
        self.flops as f64 / self.gm().max(1) as f64
    }

    /// FLOPs per HBM byte.
    pub fn intensity_hbm(&self) -> f64 {
        self.flops as f64 / self.hbm.max(1) as f64
    }

    /// Modeled seconds of HBM traffic at [`HBM_BYTES_PER_SEC`].
    pub fn hbm_secs(&self) -> f64 {
        self.hbm as f64 / HBM_BYTES_PER_SEC
    }

    /// Modeled seconds of GM-interface traffic at the aggregate L2 rate.
    pub fn l2_secs(&self) -> f64 {
        self.gm() as f64 / L2_BYTES_PER_SEC
    }

    /// Whether the cube is the bottleneck: its time is at least the HBM time and the L2 time.
    pub fn cube_bound(&self) -> bool {
        self.cube_secs >= self.hbm_secs() && self.cube_secs >= self.l2_secs()
    }
}

/// A stage block of one operand: (operand, row or column block, stage).
type Block = (u8, u64, u64);

/// An LRU cache of blocks with byte sizes.
struct Lru {
    capacity: u64,
    used: u64,
    clock: u64,
    /// Block -> (last use, bytes).
    entries: HashMap<Block, (u64, u64)>,
    /// Last use -> block, oldest first.
    by_age: BTreeMap<u64, Block>,
    misses: u64,
}

impl Lru {
    fn access(&mut self, block: Block, bytes: u64) {
        self.clock += 1;
        if let Some((age, _)) = self.entries.get_mut(&block) {
            self.by_age.remove(age);
            *age = self.clock;
            self.by_age.insert(self.clock, block);
            return;
        }
        self.misses += bytes;
        while self.used + bytes > self.capacity {
            let Some((_, old)) = self.by_age.pop_first() else {
                break;
            };
            if let Some((_, b)) = self.entries.remove(&old) {
                self.used -= b;
            }
        }
        self.used += bytes;
        self.entries.insert(block, (self.clock, bytes));
        self.by_age.insert(self.clock, block);
    }
}

/// The traffic of `plan` (see the module doc).
pub fn traffic(plan: &MatmulPlan) -> Traffic {
    let s = plan.shape;
    let e = s.dtype.bytes();
    let (tm, tn) = plan.tiles();
    let stage = plan.depth * plan.k;
    let stages = s.k.div_ceil(stage);
    let rows = |i: u64| plan.m.min(s.m - i * plan.m);
    let cols = |j: u64| plan.n.min(s.n - j * plan.n);
    let depth = |st: u64| stage.min(s.k - st * stage);
    let order = plan.tile_order();
    let mut read = 0;
    let mut written = 0;
    let mut l2 = Lru {
        capacity: L2_BYTES,
        used: 0,
        clock: 0,
        entries: HashMap::new(),
        by_age: BTreeMap::new(),
        misses: 0,
    };
    for wave in order.chunks(plan.block_dim.max(1) as usize) {
        for st in 0..stages {
            for &(i, j) in wave {
                let a = rows(i) * depth(st) * e;
                let b = depth(st) * cols(j) * e;
                read += a + b;
                l2.access((0, i, st), a);
                l2.access((1, j, st), b);
            }
        }
        for &(i, j) in wave {
            written += rows(i) * cols(j) * e;
        }
    }
    let (m, n, k) = (s.m, s.n, s.k);
    let out = m * n * e;
    Traffic {
        read,
        written,
        compulsory: (m * k + k * n) * e + out,
        tile_minimum: (m * k * tn + k * n * tm) * e + out,
        hbm: l2.misses + written,
        flops: 2 * m * n * k,
        cube_secs: plan.cube_cycles() as f64 / CLOCK_HZ,
    }
}
