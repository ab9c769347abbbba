//! What one traced instruction costs on the model: the cycles it occupies its pipe, or the transfers
//! it makes through HBM and L2 (with the L2 updated and the byte counters of the replay), from the
//! parameter table only.

use super::hbm::L2;
use super::params::Params;
use super::replay::Replay;
use super::trace::{GmAccess, Instr, Mem, Op, Pipe};

/// The L2 and the counters an instruction's cost updates.
pub(super) struct Meter<'a> {
    pub(super) l2: &'a mut L2,
    pub(super) out: &'a mut Replay,
}

#[derive(Copy, Clone, Debug, PartialEq)]
pub(super) enum Server {
    Hbm,
    L2,
}

#[derive(Clone, Debug)]
pub(super) struct Stream {
    pub(super) server: Server,
    pub(super) left: f64,
    pub(super) cap: f64,
}

/// A copy in flight on a pipe.
#[derive(Clone, Debug)]
pub(super) struct Active {
    pub(super) instr: usize,
    pub(super) start: f64,
    /// When the transfer may start (its head is over).
    pub(super) head_until: f64,
    /// The earliest the copy leaves its pipe: the head is the minimum interval between a pipe's
    /// copies, and the transfer runs under it (costmodel §3.2: ~21 cycles per 128-byte DataCopy with
    /// the queue full, less than head plus transfer).
    pub(super) min_end: f64,
    pub(super) streams: Vec<Stream>,
    pub(super) current: usize,
    pub(super) latency: f64,
    pub(super) rate: f64,
}

/// The cost of an instruction as it starts.
pub(super) enum Work {
    Fixed { busy: f64, latency: f64 },
    Transfer(Active),
}

/// The cost of instruction `i` of core `c` starting at `now` (updates the L2 and the counters).
pub(super) fn cost(
    p: &Params,
    name: &str,
    instr: &Instr,
    meter: &mut Meter<'_>,
    i: usize,
    now: f64,
) -> Work {
    let transfer = |streams: Vec<Stream>, head: f64, latency: f64| {
        let streams: Vec<Stream> = streams.into_iter().filter(|s| s.left > 0.0).collect();
        if streams.is_empty() {
            return Work::Fixed {
                busy: head,
                latency,
            };
        }
        Work::Transfer(Active {
            instr: i,
            start: now,
            head_until: now,
            min_end: now + head,
            streams,
            current: 0,
            latency,
            rate: 1.0,
        })
    };
    let gm_write = match &instr.op {
        Op::Copy {
            dst: Some(Mem::Gm),
            gm: Some(gm),
            ..
        }
        | Op::Fixpipe { gm: Some(gm), .. } => Some(gm),
        _ => None,
    };
    if let Some(gm) = gm_write {
        let (cap, head) = match instr.op {
            Op::Fixpipe { dst_elem, .. } => (
                p.fixpipe_gm_cap
                    .min(p.fixpipe_elems * f64::from(dst_elem.max(1))),
                p.fixpipe_head,
            ),
            _ => (p.ub_to_gm_cap, p.mte_head),
        };
        let streams = gm_streams(p, meter, gm, true, (cap, cap));
        return transfer(streams, head, p.gm_write_latency);
    }
    match &instr.op {
        Op::Copy {
            dst, gm: Some(gm), ..
        } => {
            let caps = if *dst == Some(Mem::L1) {
                (p.gm_to_l1_cap, p.l2_to_l1_cap)
            } else {
                (p.gm_to_ub_cap, p.l2_to_ub_cap)
            };
            let streams = gm_streams(p, meter, gm, false, caps);
            transfer(streams, p.mte_head, p.gm_read_latency)
        }
        Op::Copy {
            dst,
            local_written,
            local_read,
            ..
        } => {
            let bytes = f64::from((*local_written).max(*local_read));
            let busy = match (instr.pipe, dst) {
                (Pipe::V, _) => p.ub_copy_head + bytes / p.ub_copy_rate,
                (_, Some(Mem::L0a)) => p.mte1_head + bytes / p.mte1_l0a_rate,
                _ => p.mte1_head + bytes / p.mte1_l0b_rate,
            };
            Work::Fixed { busy, latency: 0.0 }
        }
        Op::Fixpipe { m, n, .. } => Work::Fixed {
            busy: p.fixpipe_head + f64::from(*m) * f64::from(*n) / p.fixpipe_elems,
            latency: 0.0,
        },
        Op::Vector {
            repeats,
            bytes,
            elem,
            ..
        } => {
            meter.out.vector_ops += (*bytes / u64::from((*elem).max(1))) as f64;
            Work::Fixed {
                busy: p.vector_cycles(name, *repeats, *bytes, *elem),
                latency: 0.0,
            }
        }
        Op::Mmad { m, k, n, elem } => {
            meter.out.cube_flops += 2.0 * f64::from(*m) * f64::from(*k) * f64::from(*n);
            Work::Fixed {
                busy: p.mmad_cycles(*m, *k, *n, *elem),
                latency: 0.0,
            }
        }
        Op::Scalar { gm, write } => {
            let busy = match gm {
                Some(gm) => {
                    let split = meter.l2.access(gm, *write);
                    if *write {
                        meter.out.hbm_written += split.hbm;
                        meter.out.l2_written += split.l2;
                        p.scalar_store
                    } else {
                        meter.out.hbm_read += split.hbm;
                        meter.out.l2_read += split.l2;
                        p.gm_read_latency
                    }
                }
                None if *write => p.scalar_store,
                None => p.scalar_load,
            };
            Work::Fixed { busy, latency: 0.0 }
        }
        // Ordering instructions are handled by the pipes and the issue stage.
        _ => Work::Fixed {
            busy: 0.0,
            latency: 0.0,
        },
    }
}

/// The HBM and L2 transfers of a GM access (after the L2, whose state and counters it updates), each
/// capped at its core's rate (`caps`: HBM, L2).
fn gm_streams(
    p: &Params,
    meter: &mut Meter<'_>,
    gm: &GmAccess,
    write: bool,
    caps: (f64, f64),
) -> Vec<Stream> {
    let split = meter.l2.access(gm, write);
    if write {
        meter.out.hbm_written += split.hbm;
        meter.out.l2_written += split.l2;
    } else {
        meter.out.hbm_read += split.hbm;
        meter.out.l2_read += split.l2;
    }
    let scale = granule_scale(p, gm);
    vec![
        Stream {
            server: Server::Hbm,
            left: split.hbm as f64 * scale,
            cap: caps.0,
        },
        Stream {
            server: Server::L2,
            left: split.l2 as f64 * scale,
            cap: caps.1,
        },
    ]
}

/// GM moves bursts in whole granules: the bytes a copy's bursts take, over its bytes.
fn granule_scale(p: &Params, gm: &GmAccess) -> f64 {
    if gm.bytes == 0 {
        return 1.0;
    }
    let g = p.burst_granule.max(1);
    let moved: u64 = gm.ranges().map(|(s, e)| (e - s).div_ceil(g) * g).sum();
    moved as f64 / gm.bytes as f64
}
