//! Hand-made traces of published kernels' instruction sequences, for calibrating the model against
//! measurements of kernels moge does not emit (the devkit's examples) and for shapes the emulator cannot
//! run with arithmetic (an 8192³ GEMM): each builder writes, per core, the copies, vector or cube
//! instructions and the flags the published kernel issues, with the sizes and GM addresses of its
//! schedule. The replay ([`super::replay`]) then costs them with the one parameter table.

use super::trace::{CoreTrace, GmAccess, Instr, LaunchKind, Mem, Op, Pipe, Trace};

/// HardEvent numbers (pipe.h's order, as [`super::trace::event_name`]).
mod event {
    pub const MTE2_MTE1: u32 = 0;
    pub const MTE1_MTE2: u32 = 1;
    pub const MTE1_M: u32 = 2;
    pub const M_MTE1: u32 = 3;
    pub const MTE2_V: u32 = 4;
    pub const V_MTE2: u32 = 5;
    pub const MTE3_V: u32 = 6;
    pub const V_MTE3: u32 = 7;
    pub const M_FIX: u32 = 17;
    pub const FIX_M: u32 = 18;
}

/// The API names the builders use; [`Instr::call`] indexes this list.
const NAMES: [&str; 9] = [
    "DataCopy(GM->local)",
    "DataCopy(local->GM)",
    "Add",
    "flag",
    "LoadData(L1->L0A)",
    "LoadData(L1->L0B)",
    "Mmad",
    "Fixpipe",
    "Exp",
];

/// A strided GM access: `bursts` bursts of `burst` bytes, `stride` apart, from `offset` of `region`.
pub fn gm(region: u8, offset: u64, bursts: u32, burst: u32, stride: u64) -> GmAccess {
    GmAccess {
        region,
        offset,
        bursts,
        burst_bytes: burst,
        stride,
        bytes: u64::from(bursts) * u64::from(burst),
    }
}

/// A GM -> `dst` copy on MTE2.
pub fn copy_in(dst: Mem, access: GmAccess) -> Instr {
    Instr {
        pipe: Pipe::Mte2,
        call: 0,
        op: Op::Copy {
            src: Some(Mem::Gm),
            dst: Some(dst),
            gm: Some(access),
            local_read: 0,
            local_written: access.bytes as u32,
        },
    }
}

/// A UB -> GM copy on MTE3.
pub fn copy_out(access: GmAccess) -> Instr {
    Instr {
        pipe: Pipe::Mte3,
        call: 1,
        op: Op::Copy {
            src: Some(Mem::Ub),
            dst: Some(Mem::Gm),
            gm: Some(access),
            local_read: access.bytes as u32,
            local_written: 0,
        },
    }
}

/// A count-form vector instruction (`Add`, or `Exp` when `exp`) over `bytes` of `elem`-byte elements.
pub fn vector(exp: bool, bytes: u64, elem: u8) -> Instr {
    Instr {
        pipe: Pipe::V,
        call: if exp { 8 } else { 2 },
        op: Op::Vector {
            repeats: 0,
            bytes,
            elem,
            dst_elem: elem,
        },
    }
}

/// SetFlag (`set`) or WaitFlag of `event`, `id` on `pipe`.
pub fn flag(set: bool, event: u32, id: u32, pipe: Pipe) -> Instr {
    let op = if set {
        Op::SetFlag { event, id }
    } else {
        Op::WaitFlag { event, id }
    };
    Instr { pipe, call: 3, op }
}

fn trace(kind: LaunchKind, cores: Vec<Vec<Instr>>) -> Trace {
    let label = if kind == LaunchKind::Aic {
        "AIC"
    } else {
        "AIV"
    };
    Trace {
        names: NAMES.map(String::from).to_vec(),
        kind,
        cores: cores
            .into_iter()
            .enumerate()
            .map(|(i, instrs)| CoreTrace {
                label: format!("{label} {i}"),
                instrs,
            })
            .collect(),
    }
}

/// The devkit's Add example (`add_high_performance`, z = x + y over fp16): `cores` AIVs split the
/// `total_bytes` of each operand evenly and walk their share in tiles of `tile` bytes, with `buffers`
/// (1 or 2) buffers per queue. Per tile, as the example's CopyIn / Compute / CopyOut stages compile:
/// MTE2 copies x and y (after V freed the buffer), V adds (after the copies and after MTE3 freed z),
/// MTE3 writes z.
pub fn add_kernel(cores: u32, total_bytes: u64, tile: u64, buffers: u32) -> Trace {
    use event::*;
    let share = total_bytes / u64::from(cores);
    let tiles = share / tile;
    let per_core = (0..u64::from(cores))
        .map(|c| {
            let mut v = Vec::with_capacity(tiles as usize * 12 + 4);
            for b in 0..buffers {
                // The buffers start free: the producers' first waits find a token.
                v.push(flag(true, V_MTE2, b, Pipe::V));
                v.push(flag(true, MTE3_V, b, Pipe::Mte3));
            }
            for t in 0..tiles {
                let b = (t % u64::from(buffers)) as u32;
                let at = c * share + t * tile;
                let one = |region| gm(region, at, 1, tile as u32, 0);
                v.extend([
                    flag(false, V_MTE2, b, Pipe::Mte2),
                    copy_in(Mem::Ub, one(0)),
                    copy_in(Mem::Ub, one(1)),
                    flag(true, MTE2_V, b, Pipe::Mte2),
                    flag(false, MTE2_V, b, Pipe::V),
                    flag(false, MTE3_V, b, Pipe::V),
                    vector(false, tile, 2),
                    flag(true, V_MTE2, b, Pipe::V),
                    flag(true, V_MTE3, b, Pipe::V),
                    flag(false, V_MTE3, b, Pipe::Mte3),
                    copy_out(one(2)),
                    flag(true, MTE3_V, b, Pipe::Mte3),
                ]);
            }
            v
        })
        .collect();
    trace(LaunchKind::Aiv, per_core)
}

/// The devkit's data-copy example (`04_memory_access/data_copy`), GM -> UB: `cores` AIVs read rows
/// of `row_bytes` of a matrix of `rows` rows, each instruction `burst_rows` rows of `burst` bytes
/// (a block of the row, so bursts are `row_bytes` apart), core `c` taking every `cores`-th block.
/// `passes` repeats the read: `slices` > 1 reads the matrix slice by slice, each slice `passes` times
/// before the next (the example's L2-reuse case), 1 the whole matrix `passes` times.
pub fn data_copy_kernel(
    cores: u32,
    rows: u64,
    row_bytes: u64,
    (burst_rows, burst): (u32, u32),
    (passes, slices): (u32, u64),
) -> Trace {
    let per_row = row_bytes / u64::from(burst);
    let blocks = rows / u64::from(burst_rows) * per_row;
    let per_slice = blocks / slices;
    let per_core = (0..u64::from(cores))
        .map(|c| {
            let mut v = Vec::new();
            for s in 0..slices {
                for _ in 0..passes {
                    let range = s * per_slice..(s + 1) * per_slice;
                    for blk in range.filter(|b| b % u64::from(cores) == c) {
                        let row = blk / per_row * u64::from(burst_rows);
                        let at = row * row_bytes + blk % per_row * u64::from(burst);
                        v.push(copy_in(Mem::Ub, gm(0, at, burst_rows, burst, row_bytes)));
                    }
                }
            }
            v
        })
        .collect();
    trace(LaunchKind::Aiv, per_core)
}

/// A GEMM's cube schedule, as the devkit's high-performance Matmul (`matmul_high_performance`, MDL):
/// C (m×n, `out_elem`-byte) = A (m×k) · B (k×n), fp16/bf16 row-major in GM; `cores` AICs take base
/// blocks `base_m`×`base_n` of C in row-major block order, block `j` on core `j % cores`, only the
/// first `blocks_per_core` of each core (to sample a long run). Per block, L1 takes `depth` k-steps
/// of A and B per MTE2 copy (double-buffered), MTE1 loads each `base_k` step into L0A / L0B
/// (double-buffered), the cube runs one Mmad per step, and Fixpipe writes the block when its k
/// loop ends.
pub struct GemmSchedule {
    /// Rows of C.
    pub m: u64,
    /// Columns of C.
    pub n: u64,
    /// Reduction length.
    pub k: u64,
    /// Base block (m, n, k).
    pub base: (u32, u32, u32),
    /// k-steps per L1 load.
    pub depth: u32,
    /// AI cores.
    pub cores: u32,
    /// Blocks modeled per core (`None`: all).
    pub blocks_per_core: Option<u64>,
    /// Output element bytes.
    pub out_elem: u8,
}

impl GemmSchedule {
    /// Base blocks of C in all.
    pub fn blocks(&self) -> u64 {
        self.m.div_ceil(u64::from(self.base.0)) * self.n.div_ceil(u64::from(self.base.1))
    }

    /// The schedule's trace (see the type's documentation).
    pub fn trace(&self) -> Trace {
        use event::*;
        let (bm, bn, bk) = self.base;
        let (e, depth) = (2u64, self.depth.max(1));
        let steps = self.k.div_ceil(u64::from(bk));
        let grid_n = self.n.div_ceil(u64::from(bn));
        let per_core = (0..u64::from(self.cores))
            .map(|c| {
                let mut v = vec![
                    flag(true, MTE1_MTE2, 0, Pipe::Mte1),
                    flag(true, MTE1_MTE2, 1, Pipe::Mte1),
                    flag(true, M_MTE1, 0, Pipe::M),
                    flag(true, M_MTE1, 1, Pipe::M),
                    flag(true, FIX_M, 0, Pipe::Fix),
                ];
                let mine = (c..self.blocks()).step_by(self.cores as usize);
                let take = self.blocks_per_core.unwrap_or(u64::MAX) as usize;
                let (mut loads, mut step_no) = (0u32, 0u32);
                for blk in mine.take(take) {
                    let (row, col) = (blk / grid_n * u64::from(bm), blk % grid_n * u64::from(bn));
                    for s in 0..steps {
                        if s % u64::from(depth) == 0 {
                            let b = loads % 2;
                            loads += 1;
                            let kk = s * u64::from(bk);
                            let kd = (u64::from(depth * bk)).min(self.k - kk);
                            v.extend([
                                flag(false, MTE1_MTE2, b, Pipe::Mte2),
                                copy_in(
                                    Mem::L1,
                                    gm(0, (row * self.k + kk) * e, bm, (kd * e) as u32, self.k * e),
                                ),
                                copy_in(
                                    Mem::L1,
                                    gm(1, (kk * self.n + col) * e, kd as u32, bn * 2, self.n * e),
                                ),
                                flag(true, MTE2_MTE1, b, Pipe::Mte2),
                                flag(false, MTE2_MTE1, b, Pipe::Mte1),
                            ]);
                        }
                        let b = step_no % 2;
                        step_no += 1;
                        let last_of_load = (s + 1) % u64::from(depth) == 0 || s + 1 == steps;
                        v.extend([
                            flag(false, M_MTE1, b, Pipe::Mte1),
                            l0_load(Mem::L0a, bm * bk * 2),
                            l0_load(Mem::L0b, bk * bn * 2),
                            flag(true, MTE1_M, b, Pipe::Mte1),
                        ]);
                        if last_of_load {
                            v.push(flag(true, MTE1_MTE2, (loads - 1) % 2, Pipe::Mte1));
                        }
                        v.push(flag(false, MTE1_M, b, Pipe::M));
                        if s == 0 {
                            v.push(flag(false, FIX_M, 0, Pipe::M));
                        }
                        v.extend([
                            Instr {
                                pipe: Pipe::M,
                                call: 6,
                                op: Op::Mmad {
                                    m: bm,
                                    k: bk,
                                    n: bn,
                                    elem: 2,
                                },
                            },
                            flag(true, M_MTE1, b, Pipe::M),
                        ]);
                    }
                    let out = u64::from(self.out_elem);
                    v.extend([
                        flag(true, M_FIX, 0, Pipe::M),
                        flag(false, M_FIX, 0, Pipe::Fix),
                        Instr {
                            pipe: Pipe::Fix,
                            call: 7,
                            op: Op::Fixpipe {
                                m: bm,
                                n: bn,
                                dst_elem: self.out_elem,
                                gm: Some(gm(
                                    2,
                                    (row * self.n + col) * out,
                                    bm,
                                    (u64::from(bn) * out) as u32,
                                    self.n * out,
                                )),
                            },
                        },
                        flag(true, FIX_M, 0, Pipe::Fix),
                    ]);
                }
                v
            })
            .collect();
        trace(LaunchKind::Aic, per_core)
    }
}

/// An MTE1 load of `bytes` from L1 into `dst` (L0A or L0B).
fn l0_load(dst: Mem, bytes: u32) -> Instr {
    Instr {
        pipe: Pipe::Mte1,
        call: if dst == Mem::L0a { 4 } else { 5 },
        op: Op::Copy {
            src: Some(Mem::L1),
            dst: Some(dst),
            gm: None,
            local_read: bytes,
            local_written: bytes,
        },
    }
}
