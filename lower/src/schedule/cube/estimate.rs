//! An analytic estimate of a matmul plan's time on the timing model, from the model's own parameter
//! table ([`crate::cost::Params`], the table `moge_runtime::model` replays traces with): the busiest
//! core's instruction sequence as [`super::lower`] emits it, costed in closed form instead of replayed,
//! so a planner can score every candidate tiling without running the emulator.
//!
//! Per core: its output tiles one after the other; per tile, its L1 stages (`depth` K blocks of A and
//! B, one Nd2Nz copy each) double-buffered against the stage's compute, and per K block one `Mmad`
//! with its MTE1 loads (A by row or column blocks, B by K blocks), L0 double-buffered so MTE1 and the
//! cube overlap; Fixpipe writes the tile. Copies run at the core's share of the memory they come from:
//! the first read of A and B from HBM (shared by the cores), the re-reads from L2. The estimate leaves
//! out what the replay adds at the edges (the first copy's GM latency, queue hand-offs), so it is a
//! little low; `tests/tile_estimate.rs` checks it against the replay of the emulator's real trace.

use crate::cost::Params;

use super::plan::MatmulPlan;

/// Estimated cycles of the busiest core of `plan` (the launch overhead excluded), on `p`'s target.
pub fn estimate_cycles(plan: &MatmulPlan, p: &Params) -> f64 {
    let s = plan.shape;
    let e = s.dtype.bytes();
    let (tm, tn) = plan.tiles();
    let tiles = (tm * tn).max(1);
    let cores = plan.block_dim.clamp(1, tiles);
    let per_core = tiles.div_ceil(cores) as f64;
    let (m, n, k) = (plan.m, plan.n, plan.k);
    let stage_k = plan.depth * k;
    let stages = s.k.div_ceil(stage_k).max(1);

    // One K block: its Mmad against its MTE1 loads (the slower sets the pace; L0 is double-buffered).
    let step = |kq: u64| -> (f64, f64) {
        let mmad = p.mmad_cycles(m as u32, kq as u32, n as u32, e as u8);
        let (mb, k1) = (m / 16, kq.div_ceil(s.dtype.c0()));
        // A: one load per row block (k1 fractals) or per column block (mb fractals), whichever is fewer.
        let a_loads = mb.min(k1) as f64;
        let a = a_loads * p.mte1_head + (m * kq * e) as f64 / p.mte1_l0a_rate;
        let b = k1 as f64 * p.mte1_head + (kq * n * e) as f64 / p.mte1_l0b_rate;
        (mmad, a + b)
    };
    // The scalar unit issues in program order into pipe queues of `queue_depth` entries, so the next
    // stage's copy is issued only when the MTE1 queue has room: about `queue_depth` MTE1 entries
    // (loads, and the queue hand-offs around them) before the current stage's compute ends. Only that
    // window of the copy is hidden.
    let entries_per_step = {
        let (mb, k1) = (m / 16, k.div_ceil(s.dtype.c0()));
        (mb.min(k1) + k1 + 4) as f64
    };
    let window_steps = p.queue_depth as f64 / entries_per_step;
    // One L1 stage: the copies of A (m x kd) and B (kd x n), against its K blocks' compute.
    let reread_rate = p.l2_to_l1_cap.min(p.l2_rate / cores as f64);
    let first_rate = p.gm_to_l1_cap.min(p.hbm_rate / cores as f64);
    // A core's share of the compulsory reads (A and B once) comes from HBM; the rest hits L2.
    let compulsory = ((s.m * s.k + s.k * s.n) * e) as f64 / cores as f64;
    let total_copy = (per_core as u64 * stages) as f64; // stages of the core, for the split below
    let stage = |kd: u64| -> (f64, f64, f64) {
        let bytes = ((m + n) * kd * e) as f64;
        let from_hbm = (compulsory / total_copy.max(1.0)).min(bytes);
        let copy = 2.0 * p.mte_head + from_hbm / first_rate + (bytes - from_hbm) / reread_rate;
        let mut compute = 0.0;
        let mut mte1_first = None;
        let mut per_step = 0.0;
        let mut left = kd;
        while left > 0 {
            let kq = left.min(k);
            let (mmad, mte1) = step(kq);
            mte1_first.get_or_insert(mte1);
            per_step = mmad.max(mte1);
            compute += per_step;
            left -= kq;
        }
        // The stage's first loads run before its first Mmad can start; the copy of the stage after
        // it overlaps only the last `window_steps` of its steps.
        let hidden = (window_steps * per_step).min(compute);
        (copy, compute + mte1_first.unwrap_or(0.0), hidden)
    };
    // Each stage runs its compute after what of its copy the stage before it (the previous tile's last
    // stage, for a tile's first) did not hide; the core's very first copy is exposed in full.
    let costs: Vec<(f64, f64, f64)> = (0..stages)
        .map(|st| stage(stage_k.min(s.k - st * stage_k)))
        .collect();
    let mut tile = 0.0;
    for (st, &(copy, compute, _)) in costs.iter().enumerate() {
        let before = costs[if st == 0 { costs.len() - 1 } else { st - 1 }].2;
        tile += compute + (copy + p.gm_read_latency - before).max(0.0);
    }
    let (copy0, _, _) = costs[0];
    let exposed0 = (copy0 + p.gm_read_latency - costs[costs.len() - 1].2).max(0.0);
    let fill = copy0 + p.gm_read_latency - exposed0;
    let fixpipe = p.fixpipe_head
        + ((m * n) as f64 / p.fixpipe_elems).max((m * n * e) as f64 / p.fixpipe_gm_cap)
        + p.gm_write_latency;
    fill + per_core * tile + fixpipe
}
