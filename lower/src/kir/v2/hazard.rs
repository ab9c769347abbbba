//! The hazard verifier: proves that every pair of conflicting memory accesses of a kernel is ordered.
//!
//! Pipes of a core run concurrently, so two instructions that touch the same memory (at least one
//! writing) must be ordered by an edge the hardware honours: a queue hand-off (`EnQue` -> `DeQue`,
//! `FreeTensor` -> `AllocTensor`), a `SetFlag`/`WaitFlag` pair, a cross-core flag or `SyncAll`. Two
//! instructions on the same pipe run in order, except on the vector pipe, where any dependence (read
//! after write, write after read, write after write) needs a `PipeBarrier(V)` in between: the rule of
//! CANN's PipeBarrier and of the emulator's checking mode (docs/kernel-ir-v2.md).
//!
//! The check runs the kernel's body as a trace, with every loop unrolled up to three iterations (enough
//! for a double-buffered queue to reuse a slot) and a happens-before relation kept as one vector clock
//! per pipe, as ThreadSanitizer does per thread. A MIX kernel runs its AIC and AIV sides as two threads
//! that meet at cross-core flags (mode 2 across, modes 0 and 1 within a side) and `SyncAll`; a
//! cross-core set nobody waits for is reported, as is a wait nobody sets. Local memory is compared
//! by byte range of the buffer (the slot for a queue tensor); GM by buffer, linear offset and extent
//! (see [`gm_loc`]: offsets that differ by a constant are compared by range, other different offsets
//! are taken to be different tiles, unproven). Scalar GM accesses go through the core's data cache:
//! the flush rules and their buffer-granular comparisons are in `cache`.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use cranelift_entity::EntityRef;

mod cache;
mod gm;
use gm::gm_loc;

use super::write::inst_args;
use super::{
    CoreKind, Event, GmBuf, Home, Inst, InstData, Kernel, LocalBuf, Pipe, QuePos, Queue, Side,
    Stmt, Tensor, VecOp,
};

/// One ordering problem.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Hazard {
    /// Two conflicting accesses without an ordering edge.
    Race {
        /// The kernel.
        kernel: String,
        /// The earlier instruction (in program order).
        first: Inst,
        /// Its pipe.
        first_pipe: Pipe,
        /// The later instruction.
        second: Inst,
        /// Its pipe.
        second_pipe: Pipe,
        /// The memory both touch (`t3 in buf1 (UB)`, `GM g2[v0 * 64]`).
        what: String,
        /// `read after write`, `write after read` or `write after write`.
        kind: &'static str,
    },
    /// A synchronization instruction without its partner (a wait with no earlier set, a set never
    /// waited for, a `DeQue` of an empty queue, an `AllocTensor` of a slot still in use).
    Unmatched {
        /// The kernel.
        kernel: String,
        /// The instruction.
        inst: Inst,
        /// What is missing.
        message: String,
    },
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hazard::Race {
                kernel,
                first,
                first_pipe,
                second,
                second_pipe,
                what,
                kind,
            } => write!(
                f,
                "kernel {kernel}: {kind} on {what}: {second} ({}) is not ordered after {first} ({})",
                second_pipe.name(),
                first_pipe.name()
            ),
            Hazard::Unmatched {
                kernel,
                inst,
                message,
            } => write!(f, "kernel {kernel}: {inst}: {message}"),
        }
    }
}

/// Every hazard of a kernel.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub struct HazardErrors(pub Vec<Hazard>);

impl fmt::Display for HazardErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::graph::verify::write_lines(f, &self.0)
    }
}

/// Iterations each loop is unrolled to: three lets a double-buffered slot be reused once.
const UNROLL: i64 = 3;

/// One instruction of the trace: the instruction and the loop iteration it runs in.
#[derive(Clone, Debug)]
struct Step {
    inst: Inst,
    /// Loop counters with their iteration number (for GM offsets).
    /// Shared by the steps of one iteration (a trace has many steps and few iterations).
    iters: Iters,
}

/// Loop counters with their iteration number.
type Iters = std::rc::Rc<[(super::Var, i64)]>;

/// Appends the steps of `stmts` run on `side`; `iters` are the enclosing loops' counters and `cur` the
/// same as one shared value.
fn unroll(
    stmts: &[Stmt],
    side: Side,
    iters: &mut Vec<(super::Var, i64)>,
    cur: &Iters,
    out: &mut Vec<Step>,
) {
    for s in stmts {
        match s {
            Stmt::Inst(i) => out.push(Step {
                inst: *i,
                iters: cur.clone(),
            }),
            Stmt::For {
                var,
                start,
                end,
                body,
            } => {
                let n = match (start.as_int(), end.as_int()) {
                    (Some(a), Some(b)) => (b - a).clamp(0, UNROLL),
                    _ => UNROLL,
                };
                for j in 0..n {
                    iters.push((*var, j));
                    let inner: Iters = iters.as_slice().into();
                    unroll(body, side, iters, &inner, out);
                    iters.pop();
                }
            }
            Stmt::Side { side: s2, body } => {
                if *s2 == side {
                    unroll(body, side, iters, cur, out);
                }
            }
        }
    }
}

/// The producer and consumer pipes of a queue position.
pub fn queue_pipes(pos: QuePos) -> (Pipe, Pipe) {
    match pos {
        QuePos::VecIn => (Pipe::Mte2, Pipe::V),
        QuePos::VecOut => (Pipe::V, Pipe::Mte3),
        QuePos::A1 | QuePos::B1 => (Pipe::Mte2, Pipe::Mte1),
        QuePos::A2 | QuePos::B2 => (Pipe::Mte1, Pipe::M),
        QuePos::Co1 => (Pipe::M, Pipe::Fix),
    }
}

type Clock = Vec<u32>;

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Loc {
    Local {
        buf: LocalBuf,
        start: u64,
        end: u64,
    },
    Gm {
        buf: GmBuf,
        /// The offset as written (for messages).
        offset: std::rc::Rc<str>,
        /// The offset's symbolic part: its linear form without the constant (see [`GmTile`]).
        sym: std::rc::Rc<str>,
        /// The offset's constant part.
        base: i64,
        /// An upper bound of the elements the access spans from its offset, when one is known.
        extent: Option<i64>,
    },
}

#[derive(Clone, Debug)]
struct Acc {
    /// Global pipe index and its clock when the access ran.
    gp: usize,
    clock: u32,
    inst: Inst,
    write: bool,
    loc: Loc,
    tensor: Option<Tensor>,
    /// The trace position, so that an instruction's own operands never conflict.
    step: usize,
    /// A scalar GM write still in its core's data cache (no `flush_gm` of its thread since): DMA and
    /// the other side of a MIX kernel do not see it yet.
    cached: bool,
}

/// The memory an access history is kept for: a local buffer of one thread (local memory is per core),
/// or one GM tile (shared by the sides of a MIX kernel). Only accesses with the same key can overlap.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Key {
    Local(usize, LocalBuf),
    Gm(GmBuf, std::rc::Rc<str>),
}

/// The live accesses to one [`Key`], in trace order. An access is dropped once a later write that covers
/// its range is ordered after it: happens-before is transitive, so whatever races the dropped access
/// also races that write, which stays. It is also dropped when that write races it: the race is
/// reported, and a later access is then checked against the write only (so a kernel with a race may
/// get fewer reports, never none, and a race-free kernel is checked exactly; without this, a chain of
/// n unordered writes would give n² reports). Reads and writes are kept apart because a read only needs to be
/// checked against writes; this keeps the check linear for memory read many times.
#[derive(Default)]
struct Bin {
    reads: Vec<Acc>,
    writes: Vec<Acc>,
}

#[derive(Default, Clone)]
struct QueueState {
    /// Per slot: `None` free since the start; `Some(Some(clock))` freed at clock; `Some(None)` in use.
    slots: Vec<Option<Option<Clock>>>,
    next: usize,
    fifo: VecDeque<(usize, Clock)>,
}

struct Thread {
    steps: Vec<Step>,
    pc: usize,
    side: Side,
}

struct State<'a> {
    k: &'a Kernel,
    np: usize,
    vc: Vec<Clock>,
    /// Per global pipe: the last of its own clocks known to be complete (by a `PipeBarrier`, or by a
    /// signal from another pipe that had waited for it).
    barrier: Vec<u32>,
    flags: BTreeMap<(usize, Event), VecDeque<(Inst, Clock)>>,
    cross: BTreeMap<(usize, u16), VecDeque<(Inst, Clock)>>,
    queues: BTreeMap<(usize, Queue), QueueState>,
    slot_of: BTreeMap<(usize, Tensor), usize>,
    /// The live accesses per memory (see [`Bin`]).
    hist: BTreeMap<Key, Bin>,
    out: Vec<Hazard>,
    reported: std::collections::BTreeSet<(Inst, Inst)>,
    step_no: usize,
    /// Earlier accesses compared with a new one: the check's work, for [`check_measured`].
    compared: u64,
    /// Per thread: the scalar pipe's clock at its last `flush_gm` (what the flush wrote back and
    /// invalidated: a later scalar read sees a GM write that was ordered before it).
    flushed: Vec<Clock>,
    /// GM buffers a scalar instruction has accessed (the others skip the checks of `cache`).
    scalar_bufs: std::collections::BTreeSet<GmBuf>,
    /// Where GM accesses lie, kept across the checks of one sync pass.
    gm_locs: &'a mut GmLocs,
}

/// Memo of [`gm_loc`] by instruction, buffer and loop iteration. The sync pass checks a kernel once per
/// repair round and only ever inserts synchronization, so an instruction's GM locations stay the same
/// from round to round; linearizing offsets is most of a check's work.
#[derive(Default)]
pub(super) struct GmLocs(std::collections::HashMap<(Inst, GmBuf, Iters), Loc>);

impl GmLocs {
    fn get(&mut self, d: &InstData, inst: Inst, buf: GmBuf, iters: &Iters) -> Loc {
        self.0
            .entry((inst, buf, iters.clone()))
            .or_insert_with(|| gm_loc(d, buf, iters))
            .clone()
    }
}

fn pidx(p: Pipe) -> usize {
    Pipe::ALL
        .iter()
        .position(|q| *q == p)
        .expect("every pipe is in ALL")
}

impl State<'_> {
    fn gp(&self, th: usize, p: Pipe) -> usize {
        th * Pipe::ALL.len() + pidx(p)
    }

    fn join(&mut self, gp: usize, c: &Clock) {
        for (a, b) in self.vc[gp].iter_mut().zip(c) {
            *a = (*a).max(*b);
        }
        // A signal that saw this pipe's own work finished (a round trip through another pipe, such as
        // EnQue -> DeQue -> FreeTensor -> AllocTensor) orders that work before what follows, like a
        // barrier does.
        self.barrier[gp] = self.barrier[gp].max(c[gp]);
    }

    fn unmatched(&mut self, inst: Inst, message: String) {
        self.out.push(Hazard::Unmatched {
            kernel: self.k.name.clone(),
            inst,
            message,
        });
    }

    fn loc_of(&self, th: usize, t: Tensor) -> Loc {
        let d = &self.k.tensors[t];
        let bytes = (d.elems as u64 * d.elem.bits() as u64).div_ceil(8);
        match d.home {
            Home::Queue(q) => {
                let buf = self.k.queues[q].buf;
                let slot = self.slot_of.get(&(th, t)).copied().unwrap_or(0) as u64;
                let slot_bytes = self.k.bufs[buf].bytes as u64;
                Loc::Local {
                    buf,
                    start: slot * slot_bytes,
                    end: slot * slot_bytes + bytes.max(1),
                }
            }
            Home::Buf { buf, offset } => Loc::Local {
                buf,
                start: offset as u64,
                end: offset as u64 + bytes.max(1),
            },
        }
    }

    fn overlaps(a: &Loc, b: &Loc) -> bool {
        match (a, b) {
            (
                Loc::Local { buf, start, end },
                Loc::Local {
                    buf: b2,
                    start: s2,
                    end: e2,
                },
            ) => buf == b2 && start < e2 && s2 < end,
            (
                Loc::Gm {
                    buf,
                    sym,
                    base,
                    extent,
                    ..
                },
                Loc::Gm {
                    buf: b2,
                    sym: s2,
                    base: base2,
                    extent: e2,
                    ..
                },
            ) => {
                buf == b2
                    && sym == s2
                    && match (extent, e2) {
                        // Offsets that differ by a constant, with known extents: compare ranges.
                        (Some(e1), Some(e2)) => base < &(base2 + e2) && base2 < &(base + e1),
                        _ => base == base2,
                    }
            }
            _ => false,
        }
    }

    /// Whether `a` covers all of `b` (both known to overlap).
    fn covers(a: &Loc, b: &Loc) -> bool {
        match (a, b) {
            (
                Loc::Local { start, end, .. },
                Loc::Local {
                    start: s2, end: e2, ..
                },
            ) => start <= s2 && e2 <= end,
            (
                Loc::Gm { base, extent, .. },
                Loc::Gm {
                    base: base2,
                    extent: e2,
                    ..
                },
            ) => match (extent, e2) {
                (Some(e1), Some(e2)) => base <= base2 && base2 + e2 <= base + e1,
                _ => base == base2,
            },
            _ => false,
        }
    }

    fn describe(&self, loc: &Loc, t: Option<Tensor>) -> String {
        match loc {
            Loc::Local { buf, .. } => {
                let mem = super::write::mem_name(self.k.bufs[*buf].mem);
                match t {
                    Some(t) => format!("{t} \"{}\" in {buf} ({mem})", self.k.tensors[t].name),
                    None => format!("{buf} ({mem})"),
                }
            }
            Loc::Gm { buf, offset, .. } => format!("GM {buf}[{offset}]"),
        }
    }

    fn access(
        &mut self,
        th: usize,
        gp: usize,
        inst: Inst,
        loc: Loc,
        t: Option<Tensor>,
        write: bool,
    ) {
        let clock = self.vc[gp][gp];
        let is_v = gp % Pipe::ALL.len() == pidx(Pipe::V);
        let is_s = gp % Pipe::ALL.len() == pidx(Pipe::S);
        let is_gm = matches!(loc, Loc::Gm { .. });
        let key = key_of(&loc, th);
        if let (true, Loc::Gm { buf, .. }) = (is_s, &loc) {
            self.scalar_bufs.insert(*buf);
        }
        // Scalar accesses: the data cache and other tiles of the buffer (see `cache`).
        let found = cache::check(self, th, gp, &loc, write);
        let (vc, barrier, step_no) = (&self.vc[gp], self.barrier[gp], self.step_no);
        let bin = self.hist.entry(key).or_default();
        let mut races = found.races;
        // Whether `a` is ordered before this access; `None` when the two do not conflict.
        let ordered = |a: &Acc| -> Option<bool> {
            // An instruction does not race with itself (in-place operands).
            if !(write || a.write) || a.step == step_no || !Self::overlaps(&a.loc, &loc) {
                return None;
            }
            // The vector pipe overlaps consecutive instructions: a later one may read or write
            // before an earlier one has finished its reads and writes (CANN 同步控制简介: only
            // PipeBarrier "保证前序指令中所有数据的读写工作全部完成，后序指令才能执行"). So every
            // dependence on V (read after write, write after read, write after write) needs a
            // barrier, or a round trip through another pipe that saw the earlier one finish.
            Some(if a.gp == gp {
                !is_v || a.clock <= barrier
            } else {
                vc[a.gp] >= a.clock
            })
        };
        let lists: &mut [&mut Vec<Acc>] = if write {
            &mut [&mut bin.reads, &mut bin.writes]
        } else {
            &mut [&mut bin.writes]
        };
        for list in lists.iter_mut() {
            self.compared += list.len() as u64;
            list.retain(|a| match ordered(a) {
                None => true,
                Some(ordered) => {
                    if !ordered {
                        races.push(a.clone());
                    }
                    // Dead once this write covers it: it is ordered before the write, or the race
                    // between them is reported (and, once repaired, orders it).
                    !(write && Self::covers(&loc, &a.loc))
                }
            });
        }
        self.report_flushes(&found.flush, inst, gp, &loc, t, write);
        // Report in trace order (an instruction's reads were recorded before its writes).
        races.sort_by_key(|a| (a.step, a.write));
        for a in races {
            if !self.reported.insert((a.inst, inst)) {
                continue;
            }
            let kind = match (a.write, write) {
                (true, false) => "read after write",
                (false, true) => "write after read",
                _ => "write after write",
            };
            let what = self.describe(&loc, t.or(a.tensor));
            self.out.push(Hazard::Race {
                kernel: self.k.name.clone(),
                first: a.inst,
                first_pipe: Pipe::ALL[a.gp % Pipe::ALL.len()],
                second: inst,
                second_pipe: Pipe::ALL[gp % Pipe::ALL.len()],
                what,
                kind,
            });
        }
        let acc = Acc {
            gp,
            clock,
            inst,
            write,
            loc,
            tensor: t,
            step: self.step_no,
            cached: write && is_s && is_gm,
        };
        let bin = self
            .hist
            .get_mut(&key_of(&acc.loc, th))
            .expect("the bin was made above");
        if write {
            bin.writes.push(acc);
        } else {
            bin.reads.push(acc);
        }
    }

    /// The local accesses of one step of a vector helper (reads first, as an instruction reads its
    /// operands before it writes).
    fn local_accesses(&mut self, th: usize, gp: usize, inst: Inst, phase: &Phase) {
        for (t, write) in phase
            .reads
            .iter()
            .map(|t| (*t, false))
            .chain(phase.writes.iter().map(|t| (*t, true)))
        {
            let loc = self.loc_of(th, t);
            self.access(th, gp, inst, loc, Some(t), write);
        }
    }

    /// Runs one step; `false` when the thread must wait for another (a cross-core flag or SyncAll).
    fn step(&mut self, th: usize, step: &Step, sync_all: &mut [bool]) -> bool {
        let k = self.k;
        let inst = step.inst;
        self.step_no += 1;
        let d = &k.insts[inst];
        let p = d.pipe();
        let gp = self.gp(th, p);
        match d {
            InstData::SetFlag(ev) => {
                let from = self.gp(th, k.events[*ev].from);
                let snap = self.vc[from].clone();
                self.flags
                    .entry((th, *ev))
                    .or_default()
                    .push_back((inst, snap));
            }
            InstData::WaitFlag(ev) => {
                let to = self.gp(th, k.events[*ev].to);
                match self.flags.entry((th, *ev)).or_default().pop_front() {
                    Some((_, snap)) => self.join(to, &snap),
                    None => self.unmatched(inst, format!("wait_flag {ev} has no earlier set_flag")),
                }
            }
            InstData::PipeBarrier(pipe) => {
                let g = self.gp(th, *pipe);
                self.barrier[g] = self.vc[g][g];
            }
            InstData::FlushGm { .. } => self.flush(th, gp, inst),
            InstData::CrossCoreSetFlag { pipe, flag, mode } => {
                let g = self.gp(th, *pipe);
                let snap = self.vc[g].clone();
                // Mode 2 signals the other side of the MIX kernel (the AIC both AIVs, or the AIC once
                // both AIVs have set: one set of the AIV program is a set of each sub-block). Modes 0
                // and 1 synchronize the cores of the setter's own type (every AIC, every AIV, or the
                // AI core's two AIVs), which run this same side's program: the wait comes back to it.
                let target = match (mode, th) {
                    (2, 0) => 1,
                    (2, _) => 0,
                    _ => th,
                };
                self.cross
                    .entry((target, *flag))
                    .or_default()
                    .push_back((inst, snap));
            }
            InstData::CrossCoreWaitFlag { pipe, flag, .. } => {
                let g = self.gp(th, *pipe);
                match self.cross.entry((th, *flag)).or_default().pop_front() {
                    Some((_, snap)) => self.join(g, &snap),
                    None => return false,
                }
            }
            InstData::SyncAll => {
                sync_all[th] = true;
                if !sync_all.iter().all(|b| *b) {
                    return false;
                }
                // Everyone is here: every pipe of every thread joins everything.
                let mut all = vec![0; self.np];
                for c in &self.vc {
                    for (a, b) in all.iter_mut().zip(c) {
                        *a = (*a).max(*b);
                    }
                }
                for g in 0..self.np {
                    self.join(g, &all.clone());
                }
                sync_all.iter_mut().for_each(|b| *b = false);
            }
            InstData::AllocTensor { queue, tensor } => {
                let q = &k.queues[*queue];
                let count = k.bufs[q.buf].count.max(1) as usize;
                let prod = self.gp(th, queue_pipes(q.pos).0);
                let st = self.queues.entry((th, *queue)).or_default();
                if st.slots.is_empty() {
                    st.slots = vec![None; count];
                }
                let slot = st.next % count;
                st.next += 1;
                match st.slots[slot].replace(None) {
                    Some(None) => self.unmatched(
                        inst,
                        format!("alloc_tensor of {queue} takes slot {slot}, which is still in use (no free_tensor)"),
                    ),
                    Some(Some(c)) => self.join(prod, &c),
                    None => {}
                }
                self.slot_of.insert((th, *tensor), slot);
            }
            InstData::EnQue { queue, tensor } => {
                let prod = self.gp(th, queue_pipes(k.queues[*queue].pos).0);
                let slot = self.slot_of.get(&(th, *tensor)).copied().unwrap_or(0);
                let snap = self.vc[prod].clone();
                self.queues
                    .entry((th, *queue))
                    .or_default()
                    .fifo
                    .push_back((slot, snap));
            }
            InstData::DeQue { queue, tensor } => {
                let cons = self.gp(th, queue_pipes(k.queues[*queue].pos).1);
                match self
                    .queues
                    .entry((th, *queue))
                    .or_default()
                    .fifo
                    .pop_front()
                {
                    Some((slot, snap)) => {
                        self.join(cons, &snap);
                        self.slot_of.insert((th, *tensor), slot);
                    }
                    None => self.unmatched(inst, format!("deque of {queue} with nothing enqueued")),
                }
            }
            InstData::FreeTensor { queue, tensor } => {
                let cons = self.gp(th, queue_pipes(k.queues[*queue].pos).1);
                let slot = self.slot_of.get(&(th, *tensor)).copied().unwrap_or(0);
                let snap = self.vc[cons].clone();
                let st = self.queues.entry((th, *queue)).or_default();
                if let Some(s) = st.slots.get_mut(slot) {
                    *s = Some(Some(snap));
                }
            }
            _ if internal_barrier(d).is_some() => {
                let (first, last) = internal_barrier(d).expect("checked by the guard");
                // The helper's first step, then its own PipeBarrier(V): the rest of it is ordered after
                // every earlier V instruction, and only its last step is open to the next one.
                self.vc[gp][gp] += 1;
                self.local_accesses(th, gp, inst, &first);
                self.barrier[gp] = self.vc[gp][gp];
                self.vc[gp][gp] += 1;
                self.local_accesses(th, gp, inst, &last);
            }
            _ => {
                self.vc[gp][gp] += 1;
                let acc = d.access();
                for t in &acc.reads {
                    let loc = self.loc_of(th, *t);
                    self.access(th, gp, inst, loc, Some(*t), false);
                }
                for (buf, write) in acc
                    .gm_reads
                    .iter()
                    .map(|b| (*b, false))
                    .chain(acc.gm_writes.iter().map(|b| (*b, true)))
                {
                    let loc = self.gm_locs.get(d, inst, buf, &step.iters);
                    self.access(th, gp, inst, loc, None, write);
                }
                for t in &acc.writes {
                    let loc = self.loc_of(th, *t);
                    self.access(th, gp, inst, loc, Some(*t), true);
                }
            }
        }
        true
    }
}

/// The UB tensors one step of a vector helper reads and writes.
struct Phase {
    reads: Vec<Tensor>,
    writes: Vec<Tensor>,
}

/// For the vector helpers the printer emits with a `PipeBarrier<PIPE_V>` inside
/// (codegen-ascendc/src/helpers.rs), what they touch before their first barrier and in their last
/// step. The emulator sees these barriers, so the verifier must too: otherwise it would ask for a
/// barrier before a helper whose own first barrier already orders its later writes.
fn internal_barrier(d: &InstData) -> Option<(Phase, Phase)> {
    let InstData::Vector { op, dsts, srcs, .. } = d else {
        return None;
    };
    let phase = |reads: &[Tensor], writes: &[Tensor]| Phase {
        reads: reads.to_vec(),
        writes: writes.to_vec(),
    };
    match op {
        // MogeSegReduceLong: fold the chunks into `fold` (reading src), ..., reduce `fold` into dst.
        VecOp::SegReduce(..) if dsts.len() == 2 => Some((
            phase(&srcs[..1], &dsts[1..2]),
            phase(&dsts[1..2], &dsts[..1]),
        )),
        // MogeSegExpand / MogeSegApply: Brcb the per-segment values into `blocks`, then apply them.
        // A SegExpand whose `blocks` is its result Brcbs straight into it, with no barrier inside.
        VecOp::SegExpand(_) if dsts.len() == 2 && dsts[0] != dsts[1] => Some((
            phase(&srcs[..1], &dsts[1..2]),
            phase(&dsts[1..2], &dsts[..1]),
        )),
        VecOp::SegBinary(..) if dsts.len() == 2 && srcs.len() == 2 => Some((
            phase(&srcs[1..2], &dsts[1..2]),
            phase(&[srcs[0], dsts[1]], &dsts[..1]),
        )),
        // MogeGather: clamp the indices into `offsets`, ..., gather from the table.
        VecOp::Gather { .. } if dsts.len() == 2 && srcs.len() == 2 => Some((
            phase(&srcs[1..2], &dsts[1..2]),
            phase(&[srcs[0], dsts[1]], &dsts[..1]),
        )),
        _ => None,
    }
}

fn key_of(loc: &Loc, th: usize) -> Key {
    match loc {
        Loc::Local { buf, .. } => Key::Local(th, *buf),
        Loc::Gm { buf, sym, .. } => Key::Gm(*buf, sym.clone()),
    }
}

/// Checks every kernel's ordering. Run it after the sync pass.
pub fn check(k: &Kernel) -> Result<(), HazardErrors> {
    check_measured(k).0
}

/// [`check`], and how many earlier accesses it compared new ones with: a deterministic measure of its
/// work, which tests use to hold it linear in the kernel's size (wall-clock time is not a test).
pub fn check_measured(k: &Kernel) -> (Result<(), HazardErrors>, u64) {
    check_with(k, &mut GmLocs::default())
}

/// [`check_measured`] with the GM locations of earlier checks of the same instructions (the sync
/// pass's rounds).
pub(super) fn check_with(k: &Kernel, gm_locs: &mut GmLocs) -> (Result<(), HazardErrors>, u64) {
    let sides: Vec<Side> = match k.core {
        CoreKind::Aiv => vec![Side::Aiv],
        CoreKind::Aic => vec![Side::Aic],
        CoreKind::Mix => vec![Side::Aic, Side::Aiv],
    };
    let mut threads: Vec<Thread> = sides
        .iter()
        .map(|&side| {
            let mut steps = vec![];
            unroll(&k.body, side, &mut vec![], &Iters::from([]), &mut steps);
            Thread { steps, pc: 0, side }
        })
        .collect();
    let np = threads.len() * Pipe::ALL.len();
    let mut st = State {
        k,
        np,
        vc: vec![vec![0; np]; np],
        barrier: vec![0; np],
        flags: BTreeMap::new(),
        cross: BTreeMap::new(),
        queues: BTreeMap::new(),
        slot_of: BTreeMap::new(),
        hist: BTreeMap::new(),
        out: vec![],
        reported: Default::default(),
        step_no: 0,
        compared: 0,
        flushed: vec![vec![0; np]; threads.len()],
        scalar_bufs: Default::default(),
        gm_locs,
    };
    let mut at_sync = vec![false; threads.len()];
    // Run each thread until it blocks, round robin, until all are done or none can move.
    loop {
        let mut moved = false;
        for (th, thread) in threads.iter_mut().enumerate() {
            while thread.pc < thread.steps.len() {
                let step = thread.steps[thread.pc].clone();
                if !st.step(th, &step, &mut at_sync) {
                    break;
                }
                thread.pc += 1;
                moved = true;
            }
        }
        if threads.iter().all(|t| t.pc == t.steps.len()) {
            break;
        }
        if !moved {
            for t in &threads {
                if let Some(s) = t.steps.get(t.pc) {
                    let (m, _) = inst_args(&k.insts[s.inst]);
                    st.unmatched(
                        s.inst,
                        format!(
                            "{m} on the {} side waits forever (no matching set)",
                            t.side.name()
                        ),
                    );
                }
            }
            break;
        }
    }
    for ((_, ev), fifo) in &st.flags.clone() {
        if let Some((inst, _)) = fifo.front() {
            st.unmatched(*inst, format!("set_flag {ev} is never waited for"));
        }
    }
    // A cross-core set nobody waits for leaves a count behind: on the NPU the next launch (or the
    // 15-pending limit of the counter) sees it, and it means a wait the protocol needs is missing.
    for ((_, flag), fifo) in &st.cross.clone() {
        if let Some((inst, _)) = fifo.front() {
            st.unmatched(
                *inst,
                format!("cross_core_set_flag {flag} is never waited for"),
            );
        }
    }
    st.unflushed_at_end();
    for ((_, q), qs) in &st.queues.clone() {
        if !qs.fifo.is_empty() {
            st.unmatched(
                Inst::new(0),
                format!("{q} ends with an enqueued tensor never dequeued"),
            );
        }
    }
    let result = if st.out.is_empty() {
        Ok(())
    } else {
        Err(HazardErrors(st.out))
    };
    (result, st.compared)
}
