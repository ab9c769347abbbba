//! Scalar GM accesses in the hazard verifier: the data cache and buffer-granular comparisons.
//!
//! The scalar unit reads and writes GM through its core's data cache (CANN
//! `DataCacheCleanAndInvalid.md`, `SetValue-3.md`): a scalar write reaches GM when its 64-byte line
//! is written back, and a scalar read may hit a line cached before another pipe or core wrote GM.
//! DMA (MTE2/MTE3/FIX) goes to GM directly. So, besides the ordering every conflicting pair needs:
//!
//! - an access by another pipe or the other side of a MIX kernel to bytes a scalar write left in the
//!   cache needs a `flush_gm` of the writer's thread in between, and is ordered after the flush
//!   (the flush re-stamps the write, so the race, if any, names the flush: the sync pass then places
//!   its set after the flush);
//! - a scalar access after another pipe's or side's write of the same bytes needs a `flush_gm` on the
//!   scalar pipe ordered after that write (the flush invalidates the stale line);
//! - a scalar write must be flushed before the kernel ends (checked at the end of the trace).
//!
//! Scalar offsets are data-dependent (`cursor[id]`), so a scalar access and an access by another
//! pipe of the same buffer are compared at buffer granularity, whatever their offsets: the linear
//! offset model (`gm.rs`) would take `g1[v3]` and `g1[0]` for different tiles.

use super::{Acc, Hazard, Key, Loc, Pipe, State};
use crate::kir::v2::{Inst, Tensor};

/// Why a scalar access and an earlier write need a flush between them.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(super) enum Why {
    /// The earlier write is a scalar write still in its thread's data cache.
    Unflushed,
    /// The scalar pipe may hold a stale line of what another pipe or side wrote.
    Stale,
}

/// What [`check`] found for one access.
#[derive(Default)]
pub(super) struct Findings {
    /// Earlier accesses of other tiles of the buffer (a scalar access on one side) not ordered before it.
    pub races: Vec<Acc>,
    /// Earlier writes a flush is missing for.
    pub flush: Vec<(Inst, Why)>,
}

fn is_s(gp: usize) -> bool {
    gp % Pipe::ALL.len() == Pipe::ALL.iter().position(|p| *p == Pipe::S).unwrap_or(0)
}

/// The data-cache rules and the buffer-granular comparisons for an access of `loc` by global pipe
/// `gp` of thread `th` (the accesses of its own tile are compared by the caller, by range).
pub(super) fn check(st: &State<'_>, th: usize, gp: usize, loc: &Loc, write: bool) -> Findings {
    let mut out = Findings::default();
    let Loc::Gm { buf, .. } = loc else {
        return out;
    };
    let scalar = is_s(gp);
    if !scalar && !st.scalar_bufs.contains(buf) {
        return out;
    }
    let own = super::key_of(loc, th);
    let vc = &st.vc[gp];
    for (key, bin) in &st.hist {
        if !matches!(key, Key::Gm(b, _) if b == buf) {
            continue;
        }
        let same_tile = *key == own;
        let reads: &[Acc] = if write { &bin.reads } else { &[] };
        for a in bin.writes.iter().chain(reads) {
            if a.step == st.step_no || a.gp == gp {
                continue;
            }
            let conflict = if same_tile {
                State::overlaps(&a.loc, loc)
            } else {
                scalar || is_s(a.gp)
            };
            if !conflict {
                continue;
            }
            let ordered = vc[a.gp] >= a.clock;
            if !same_tile && !ordered {
                out.races.push(a.clone());
            }
            if !a.write {
                continue;
            }
            if a.cached {
                out.flush.push((a.inst, Why::Unflushed));
            } else if scalar && ordered && st.flushed[th][a.gp] < a.clock {
                out.flush.push((a.inst, Why::Stale));
            }
        }
    }
    out
}

impl State<'_> {
    /// `flush_gm` on global pipe `gp` (the scalar pipe of thread `th`): the whole cache is written
    /// back, so every scalar GM write of this thread becomes visible now, and a DMA access or the
    /// other side must be ordered after the flush, not after the write; it also invalidates, so a
    /// later scalar read sees every write the scalar pipe knows to be done.
    pub(super) fn flush(&mut self, th: usize, gp: usize, inst: Inst) {
        self.vc[gp][gp] += 1;
        let clock = self.vc[gp][gp];
        for bin in self.hist.values_mut() {
            for a in bin.writes.iter_mut().filter(|a| a.cached && a.gp == gp) {
                a.cached = false;
                a.clock = clock;
                a.inst = inst;
            }
        }
        self.flushed[th] = self.vc[gp].clone();
    }

    /// Reports the missing flushes [`check`] found for `inst` (on global pipe `gp`).
    pub(super) fn report_flushes(
        &mut self,
        found: &[(Inst, Why)],
        inst: Inst,
        gp: usize,
        loc: &Loc,
        t: Option<Tensor>,
        write: bool,
    ) {
        for &(first, why) in found {
            if !self.reported.insert((first, inst)) {
                continue;
            }
            let what = self.describe(loc, t);
            let pipe = Pipe::ALL[gp % Pipe::ALL.len()].name();
            let verb = if write { "writes" } else { "reads" };
            let message = match why {
                Why::Unflushed => format!(
                    "{inst} ({pipe}) accesses {what}, which {first} wrote through the data cache with no flush_gm since"
                ),
                Why::Stale => format!(
                    "{inst} (S) {verb} {what} through the data cache after {first} wrote it, with no flush_gm ordered between"
                ),
            };
            self.out.push(Hazard::Unmatched {
                kernel: self.k.name.clone(),
                inst,
                message,
            });
        }
    }

    /// At the end of the trace: a kernel's scalar GM writes must reach GM before it ends (later
    /// kernels, other cores and the host read GM, not this core's data cache).
    pub(super) fn unflushed_at_end(&mut self) {
        let unflushed: std::collections::BTreeSet<Inst> = self
            .hist
            .values()
            .flat_map(|b| b.writes.iter().filter(|a| a.cached).map(|a| a.inst))
            .collect();
        for inst in unflushed {
            self.unmatched(
                inst,
                "write_scalar is not followed by a flush_gm before the kernel ends (GM may never see it)"
                    .into(),
            );
        }
    }
}
