//! The one table of the timing model's parameters, per target (Ascend 910B1-B4), shared by the
//! runtime's timeline replay (`moge_runtime::model`, which re-exports it) and the tile planners here
//! (which estimate candidate tilings with the same costs): it lives in `moge-lower` so that both can
//! use it without the planner depending on the runtime.
//!
//! Every value carries its source and confidence as in `costmodel-910b.md` (shared reference; §-numbers
//! below are its sections): **[V]** read in a Huawei source, **[M]** a published measurement, **[D]**
//! derived from those, **[U]** an assumption. Rates are bytes per cycle of the AI core clock. The replay
//! (`moge_runtime::model::replay`) reads costs only from here, so a later tiling search can replay candidate traces
//! with the same table, and calibration can adjust one value in one place.
//!
//! | parameter | 910B1/B2 | 910B3 | 910B4 | source, confidence |
//! |---|---|---|---|---|
//! | clock | 1.85 GHz | 1.85 GHz | 1.85 GHz | [V] matmul README, INI `cube_freq`; B3/B4 [U] (maybe 1.65) |
//! | AI cores (AIC) / AIV | 24 / 48 | 20 / 40 | 20 / 40 | [V] INI, ascendc.md §5 |
//! | L2 | 192 MB | 192 MB | 96 MB | ascendc.md; B3 [U] |
//! | HBM aggregate (read + write, L2 misses) | 1.5 TB/s | 1.5 TB/s | 1.5 TB/s | [M] data_copy 1.46-1.49 TB/s (§3.1); B3/B4 [U] |
//! | L2 aggregate | 5.5 TB/s | | | [V] 5.2-7 TB/s docs, [D] 6.0 from the L2-reuse case (§3.1), medium |
//! | per-core cap GM -> UB | 32 B/c (59 GB/s) | | | [V] INI `ddr_rate=32`; [M] Add case 1: 350 cycles per serial 8 KiB copy, latency included (§3.2); calibrated (docs/performance.md §9.1): TA tilesim's one-core 100 GB/s made case 1 24% fast, medium |
//! | per-core cap GM -> L1 / UB -> GM | 135 / 188 GB/s | | | [V] TA tilesim one-core rows (§3.1), medium |
//! | per-core cap L2 hit -> UB / -> L1 | 137 / 221 GB/s | | | [V] TA (§3.1), medium |
//! | GM read / write latency after the transfer | 200 / 190 cycles | | | [V] TA HBM 200, PP 153-203; [D] fits Add case 1's 350 / 295 cycles per 8 KB copy (§3.2), medium |
//! | MTE2 / MTE3 per-instruction head: the minimum interval between a pipe's copies, the transfer running under it | 20 cycles | | | [D] data_copy scenario 1 ~21 cycles per 128-byte DataCopy with the queue full; GE 27 / 12 (§3.2), medium |
//! | GM burst granule | 32 bytes | | | [V] 32-byte GM alignment; the 512-byte package penalty (§3.2) is not modeled, low |
//! | MTE1 L1 -> L0A / L0B | 256 / 128 B/c + 25 cycles | | | [V] AD Cube table 3, PP, MMC (§3.1), high |
//! | UB -> UB copy (V) | 256 B/c + 12 cycles | | | [V] AD, PP (§3.1), high |
//! | vector head per instruction | 20 cycles | | | [V] GE fits b = 17-29 (§2.3), medium |
//! | vector cycles per 256-byte repeat | 1 (add class); exp/ln/sqrt/div 4 (fp16) / 2 (fp32); reductions 7 (BlockReduce fp32 1); GatherMask 2 | | | [V] AD Vector table 6 (ReduceDataBlock fp32 64 a cycle), GE BlockReduceMax fp32 0.0198 cycles an element (§2.3), high; bank conflicts not modeled |
//! | vector elements per cycle, sort / gather | 2 / 5 | | | [V] AD table (§2.3), high |
//! | cube | 16x16x16 MAC per cycle (k step 16 fp16/bf16, 32 int8, 4 fp32) + 20 cycles per Mmad | | | [V] AD Cube table 1, PP, TA (§2.2), high |
//! | Fixpipe L0C -> GM | 64 elements per cycle from L0C, GM side capped at 128 B/c, + 30 cycles | | | [V] AD table 7, MMC, TA (§3.1), medium |
//! | scalar GetValue / SetValue (UB) | 6 / 4 cycles; GM: the read latency | | | [V] PP (§2.4), medium |
//! | issue | 1 cycle per instruction; 32 queued per pipe | | | [V] AD guide, PP `isqMaxOtsd_` (§4), medium |
//! | CrossCoreSetFlag -> Wait | 100 cycles | | | [U] no published number (§5), low |
//! | SyncAll | 500 cycles after the last arrival | | | [U] ≥ 1 GM write + read round trip (§5), low |
//! | kernel launch overhead | 2.5 µs | | | [M] Add case 5 Task − core time (§5); 1-7 µs measured, low |

/// A target the timing model has no parameters for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown target `{target}` for the timing model: expected one of ascend910b1, ascend910b2, ascend910b3, ascend910b4")]
pub struct UnknownCostTarget {
    /// The name asked for.
    pub target: String,
}

/// The timing parameters of one target (see the module table for sources).
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The target's name (`ascend910b2`).
    pub target: String,
    /// AI core clock, GHz.
    pub clock_ghz: f64,
    /// AI cores (one AIC each; a MIX launch uses one per block).
    pub ai_cores: u32,
    /// Vector cores (AIV).
    pub vector_cores: u32,
    /// L2 cache bytes.
    pub l2_bytes: u64,
    /// L2 line bytes (the unit of hits and misses).
    pub l2_line: u64,
    /// HBM bandwidth shared by all cores (reads and writes that miss L2), bytes per cycle.
    pub hbm_rate: f64,
    /// L2 bandwidth shared by all cores (hits), bytes per cycle.
    pub l2_rate: f64,
    /// One core's cap: GM -> UB.
    pub gm_to_ub_cap: f64,
    /// One core's cap: GM -> L1.
    pub gm_to_l1_cap: f64,
    /// One core's cap: UB (or L1) -> GM.
    pub ub_to_gm_cap: f64,
    /// One core's cap on L2 hits into UB.
    pub l2_to_ub_cap: f64,
    /// One core's cap on L2 hits into L1.
    pub l2_to_l1_cap: f64,
    /// Cycles from the end of a GM read transfer to its completion.
    pub gm_read_latency: f64,
    /// Cycles from the end of a GM write transfer to its completion.
    pub gm_write_latency: f64,
    /// Cycles each MTE2 / MTE3 copy instruction occupies its pipe at least (its transfer runs meanwhile).
    pub mte_head: f64,
    /// GM bursts are moved in units of this many bytes.
    pub burst_granule: u64,
    /// MTE1 bytes per cycle into L0A.
    pub mte1_l0a_rate: f64,
    /// MTE1 bytes per cycle into L0B (and other on-chip targets).
    pub mte1_l0b_rate: f64,
    /// MTE1 cycles per instruction.
    pub mte1_head: f64,
    /// UB -> UB copy bytes per cycle.
    pub ub_copy_rate: f64,
    /// UB -> UB copy cycles per instruction.
    pub ub_copy_head: f64,
    /// Vector cycles per instruction besides its repeats.
    pub vec_head: f64,
    /// Vector cycles per repeat of exp / ln / sqrt / div, fp16 (fp32 is half).
    pub vec_transcendental_fp16: f64,
    /// Vector cycles per repeat of a reduction within a repeat.
    pub vec_reduce: f64,
    /// Vector cycles per repeat of BlockReduce on fp32 (fp16 takes `vec_reduce`).
    pub vec_block_reduce_fp32: f64,
    /// Vector cycles per repeat of GatherMask.
    pub vec_gather_mask: f64,
    /// Elements per cycle of Sort32 / MrgSort.
    pub vec_sort_elems: f64,
    /// Elements per cycle of Gather.
    pub vec_gather_elems: f64,
    /// Cube cycles per Mmad besides its fractals.
    pub cube_head: f64,
    /// Fixpipe: L0C elements read per cycle.
    pub fixpipe_elems: f64,
    /// Fixpipe: GM bytes written per cycle at most.
    pub fixpipe_gm_cap: f64,
    /// Fixpipe cycles per instruction.
    pub fixpipe_head: f64,
    /// Scalar read of UB (cycles).
    pub scalar_load: f64,
    /// Scalar write of UB (cycles).
    pub scalar_store: f64,
    /// Cycles the scalar unit takes to issue one instruction to a pipe.
    pub issue: f64,
    /// Instructions a pipe's queue holds before the scalar unit stalls.
    pub queue_depth: usize,
    /// CrossCoreSetFlag to a waiting core, cycles.
    pub cross_core_latency: f64,
    /// SyncAll, cycles after the last core arrives.
    pub sync_all: f64,
    /// Kernel launch overhead, microseconds.
    pub launch_us: f64,
}

/// 1 TB/s in bytes per cycle at `clock_ghz`.
fn per_cycle(bytes_per_second: f64, clock_ghz: f64) -> f64 {
    bytes_per_second / (clock_ghz * 1e9)
}

impl Params {
    /// The targets the model knows.
    pub const TARGETS: [&'static str; 4] =
        ["ascend910b1", "ascend910b2", "ascend910b3", "ascend910b4"];

    /// The parameters of a target (case-insensitive); an unknown target is [`UnknownCostTarget`].
    pub fn for_target(name: &str) -> Result<Params, UnknownCostTarget> {
        let target = name.trim().to_ascii_lowercase();
        let (ai_cores, l2_mb) = match target.as_str() {
            "ascend910b1" | "ascend910b2" => (24, 192),
            "ascend910b3" => (20, 192),
            "ascend910b4" => (20, 96),
            _ => {
                return Err(UnknownCostTarget {
                    target: name.to_string(),
                })
            }
        };
        let clock_ghz = 1.85;
        let gbs = |value: f64| per_cycle(value * 1e9, clock_ghz);
        Ok(Params {
            target,
            clock_ghz,
            ai_cores,
            vector_cores: 2 * ai_cores,
            l2_bytes: l2_mb << 20,
            l2_line: 512,
            hbm_rate: gbs(1500.0),
            l2_rate: gbs(5500.0),
            gm_to_ub_cap: 32.0,
            gm_to_l1_cap: gbs(135.0),
            ub_to_gm_cap: gbs(188.0),
            l2_to_ub_cap: gbs(137.0),
            l2_to_l1_cap: gbs(221.0),
            gm_read_latency: 200.0,
            gm_write_latency: 190.0,
            mte_head: 20.0,
            burst_granule: 32,
            mte1_l0a_rate: 256.0,
            mte1_l0b_rate: 128.0,
            mte1_head: 25.0,
            ub_copy_rate: 256.0,
            ub_copy_head: 12.0,
            vec_head: 20.0,
            vec_transcendental_fp16: 4.0,
            vec_reduce: 7.0,
            vec_block_reduce_fp32: 1.0,
            vec_gather_mask: 2.0,
            vec_sort_elems: 2.0,
            vec_gather_elems: 5.0,
            cube_head: 20.0,
            fixpipe_elems: 64.0,
            fixpipe_gm_cap: 128.0,
            fixpipe_head: 30.0,
            scalar_load: 6.0,
            scalar_store: 4.0,
            issue: 1.0,
            queue_depth: 32,
            cross_core_latency: 100.0,
            sync_all: 500.0,
            launch_us: 2.5,
        })
    }

    /// Cycles in microseconds.
    pub fn micros(&self, cycles: f64) -> f64 {
        cycles / (self.clock_ghz * 1e3)
    }

    /// The cube's multiply-accumulates per cycle along k for an input element size (16 for fp16 /
    /// bf16, 32 for int8, 4 for fp32).
    pub fn cube_k_step(&self, elem: u8) -> u32 {
        match elem {
            1 => 32,
            4 => 4,
            _ => 16,
        }
    }

    /// Cycles of one Mmad: ⌈m/16⌉·⌈n/16⌉·⌈k/k_step⌉ + head.
    pub fn mmad_cycles(&self, m: u32, k: u32, n: u32, elem: u8) -> f64 {
        let fractals = u64::from(m.div_ceil(16))
            * u64::from(n.div_ceil(16))
            * u64::from(k.div_ceil(self.cube_k_step(elem)));
        fractals as f64 + self.cube_head
    }

    /// Cycles of one vector instruction: head plus its work, by the instruction's API name (`call`).
    pub fn vector_cycles(&self, call: &str, repeats: u32, bytes: u64, elem: u8) -> f64 {
        let elem = u64::from(elem.max(1));
        let repeats = if repeats > 0 {
            u64::from(repeats)
        } else {
            bytes.div_ceil(256)
        } as f64;
        let elements = (bytes / elem) as f64;
        let name = call.split('(').next().unwrap_or(call);
        let work = if ["Exp", "Ln", "Log", "Sqrt", "Div"].contains(&name) {
            // 32 elements per cycle whatever the type: 4 cycles per fp16 repeat, 2 per fp32.
            repeats * self.vec_transcendental_fp16 * 2.0 / elem as f64
        } else if name.contains("Sort") {
            elements / self.vec_sort_elems
        } else if name == "Gather" {
            elements / self.vec_gather_elems
        } else if name == "GatherMask" {
            repeats * self.vec_gather_mask
        } else if name.starts_with("BlockReduce") && elem == 4 {
            // ReduceDataBlock: 64 fp32 elements a cycle, one repeat (the fp16 rate is the table's 128/7).
            repeats * self.vec_block_reduce_fp32
        } else if name.contains("Reduce") {
            repeats * self.vec_reduce
        } else {
            repeats
        };
        self.vec_head + work
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_differ_in_cores_and_l2_and_unknown_ones_are_refused() {
        let b2 = Params::for_target("Ascend910B2").unwrap();
        assert_eq!((b2.ai_cores, b2.vector_cores), (24, 48));
        assert_eq!(b2.l2_bytes, 192 << 20);
        let b4 = Params::for_target("ascend910b4").unwrap();
        assert_eq!(
            (b4.ai_cores, b4.vector_cores, b4.l2_bytes),
            (20, 40, 96 << 20)
        );
        let err = Params::for_target("ascend310p").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown target `ascend310p` for the timing model: expected one of ascend910b1, ascend910b2, ascend910b3, ascend910b4"
        );
    }

    #[test]
    fn costs_follow_the_published_formulas() {
        let p = Params::for_target("ascend910b2").unwrap();
        // 1.5 TB/s at 1.85 GHz.
        assert!((p.hbm_rate - 1.5e12 / 1.85e9).abs() < 1e-9);
        // 128x256x64 fp16: 8·16·4 fractals + 20.
        assert_eq!(p.mmad_cycles(128, 64, 256, 2), 8.0 * 16.0 * 4.0 + 20.0);
        // fp32 k steps of 4: four times the fp16 fractals along k.
        assert_eq!(p.mmad_cycles(16, 64, 16, 4), 16.0 + 20.0);
        // An fp32 add over 4096 elements: 64 repeats of 256 bytes, 1 cycle each.
        assert_eq!(p.vector_cycles("Add", 0, 4096 * 4, 4), 20.0 + 64.0);
        // Exp: 32 elements per cycle: fp32 2 cycles per repeat, fp16 4.
        assert_eq!(p.vector_cycles("Exp", 0, 4096 * 4, 4), 20.0 + 128.0);
        assert_eq!(p.vector_cycles("Exp", 0, 4096 * 2, 2), 20.0 + 128.0);
        // WholeReduce: ~7 cycles a repeat; BlockReduce on fp32: one (64 elements a cycle).
        assert_eq!(p.vector_cycles("WholeReduceMax", 10, 2560, 4), 20.0 + 70.0);
        assert_eq!(p.vector_cycles("BlockReduceMax", 10, 2560, 4), 20.0 + 10.0);
        assert!((p.micros(1850.0) - 1.0).abs() < 1e-12);
    }
}
