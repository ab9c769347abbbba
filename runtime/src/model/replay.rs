//! Replays a trace on the timing model: the pipes of a core run concurrently, each in order, ordered
//! among themselves only by the trace's edges; the cores run concurrently on the target's physical
//! cores (more blocks than cores run in waves), sharing HBM and L2 bandwidth ([`super::hbm`]).
//!
//! The scalar unit of a core issues its instructions in program order, one per `issue` cycle, into the
//! queue of their pipe (at most `queue_depth` waiting); scalar instructions (GetValue / SetValue) run in
//! the issue stage itself, and so do the waits whose destination pipe is S, PipeBarrier<PIPE_ALL>
//! (which waits until every pipe has drained) and SyncAll. A pipe starts the instruction at the head of
//! its queue when the previous one has left the pipe:
//!
//! - a copy occupies its pipe for its transfer (at the rate its server grants) but at least its head
//!   (the minimum interval between copies), and completes a latency later; other instructions occupy it for their cycles ([`super::params`]);
//! - SetFlag, a queue hand-off (EnQue, FreeTensor) and CrossCoreSetFlag release their token when every
//!   earlier instruction of their pipe has completed (plus the cross-core latency); the matching wait
//!   (WaitFlag, DeQue, AllocTensor of a freed buffer, CrossCoreWaitFlag) holds its pipe until then;
//! - PipeBarrier<pipe> holds that pipe until its earlier instructions have completed.
//!
//! A wait whose token no instruction can still release is a deadlock, reported with the core, the pipe
//! and the instruction ([`ModelError::Deadlock`]); the replay never hangs.

use std::collections::{HashMap, VecDeque};

use super::cost::{cost, Active, Meter, Server, Work};
use super::hbm::{share, L2};
use super::params::Params;
use super::trace::{describe, LaunchKind, Op, Pipe, PipeSlot, Trace, PIPE_SLOTS};
use super::ModelError;

/// When one instruction ran on its pipe.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Span {
    /// The core (launch order).
    pub core: u32,
    /// The pipe.
    pub pipe: Pipe,
    /// The instruction's index in the core's trace.
    pub instr: u32,
    /// Cycle it started.
    pub start: f64,
    /// Cycle it left the pipe (the next instruction of the pipe may start).
    pub busy_end: f64,
    /// Cycle it completed (its results visible; a flag set after it is released).
    pub end: f64,
}

/// An instruction at a moment of the replay.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Point {
    /// The core.
    pub core: u32,
    /// The pipe.
    pub pipe: Pipe,
    /// The instruction's index in the core's trace.
    pub instr: u32,
    /// The cycle.
    pub at: f64,
}

/// An ordering edge the replay followed: a SetFlag, EnQue, FreeTensor or CrossCoreSetFlag releasing
/// its token (`set.at`), and the wait that took it (`wait.at`).
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct Edge {
    /// The set, when its token was released.
    pub set: Point,
    /// The wait, when it went on.
    pub wait: Point,
}

/// What a replay found.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Replay {
    /// Cycles from the first core's start to the last core's end (the launch overhead excluded).
    pub cycles: f64,
    /// Every instruction that occupies a pipe, ordered by core, then start.
    pub spans: Vec<Span>,
    /// Every ordering edge followed, in the order the waits went on.
    pub edges: Vec<Edge>,
    /// Per core, per pipe (slot order), cycles the pipe was occupied.
    pub busy: Vec<[f64; 7]>,
    /// Per core, the cycle it started and the cycle it ended.
    pub core_times: Vec<(f64, f64)>,
    /// Per core (block), the physical core it ran on: blocks of later waves reuse the physical cores
    /// the earlier ones freed.
    pub physical: Vec<u32>,
    /// GM bytes read from HBM (L2 misses).
    pub hbm_read: u64,
    /// GM bytes written to HBM: 32 per sector made dirty in L2 (whole sectors, once per dirty period).
    pub hbm_written: u64,
    /// GM bytes read from L2 (hits).
    pub l2_read: u64,
    /// GM bytes written into lines already dirty in L2.
    pub l2_written: u64,
    /// Floating-point operations: 2·m·k·n per Mmad.
    pub cube_flops: f64,
    /// Lane elements issued by vector instructions (masked-off and padding lanes included: not a
    /// count of useful operations, so not part of the modeled flops).
    pub vector_ops: f64,
}

impl Replay {
    /// Per physical core that ran a block, per pipe, cycles the pipe was occupied: the blocks of
    /// every wave that ran on it summed (what a busy fraction or a resource's time is about).
    pub fn busy_per_physical_core(&self) -> Vec<[f64; 7]> {
        let n = self
            .physical
            .iter()
            .map(|&p| p as usize + 1)
            .max()
            .unwrap_or(0);
        let mut out = vec![[0.0; 7]; n];
        for (block, busy) in self.busy.iter().enumerate() {
            let core = self.physical.get(block).map_or(block, |&p| p as usize);
            if core >= out.len() {
                out.resize(core + 1, [0.0; 7]);
            }
            for (sum, b) in out[core].iter_mut().zip(busy) {
                *sum += b;
            }
        }
        out
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
enum Token {
    Flag(u32, u32),
    Queue(u32, bool),
}

#[derive(Clone, Debug, Default)]
struct CoreSim {
    started: bool,
    done: bool,
    next: usize,
    issue_at: f64,
    queues: [VecDeque<usize>; 7],
    busy_until: [f64; 7],
    drained: [f64; 7],
    active: [Option<Active>; 7],
    tokens: HashMap<Token, VecDeque<(f64, Point)>>,
    sync: Option<(u32, u32)>,
    wake: f64,
    dirty: bool,
    start: f64,
    end: f64,
}

struct Sim<'a> {
    trace: &'a Trace,
    p: &'a Params,
    cores: Vec<CoreSim>,
    l2: L2,
    cross: HashMap<u32, (f64, Point)>,
    /// SyncAll instances: arrivals, latest arrival, release time once complete.
    syncs: HashMap<(u32, u32), (u32, f64, Option<f64>)>,
    out: Replay,
}

const FAR: f64 = f64::INFINITY;

/// Replays `trace` with the costs of `params` (see the module documentation).
pub fn replay(trace: &Trace, params: &Params) -> Result<Replay, ModelError> {
    let mut sim = Sim {
        trace,
        p: params,
        cores: vec![CoreSim::default(); trace.cores.len()],
        l2: L2::new(params.l2_bytes, params.l2_line),
        cross: HashMap::new(),
        syncs: HashMap::new(),
        out: Replay {
            busy: vec![[0.0; 7]; trace.cores.len()],
            core_times: vec![(0.0, 0.0); trace.cores.len()],
            physical: vec![0; trace.cores.len()],
            ..Replay::default()
        },
    };
    sim.run()?;
    let mut out = sim.out;
    out.spans.sort_by(|a, b| {
        (a.core, a.start, a.pipe)
            .partial_cmp(&(b.core, b.start, b.pipe))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(out)
}

impl Sim<'_> {
    /// Cores per slot of the physical machine, and how many slots there are.
    fn slots(&self) -> (usize, usize) {
        match self.trace.kind {
            LaunchKind::Aiv => (1, self.p.vector_cores as usize),
            LaunchKind::Aic => (1, self.p.ai_cores as usize),
            LaunchKind::Mix => (3, self.p.ai_cores as usize),
        }
    }

    fn start_group(&mut self, group: usize, slot: usize, at: f64) {
        let (size, _) = self.slots();
        for c in group * size..((group + 1) * size).min(self.cores.len()) {
            self.out.physical[c] = (slot * size + c - group * size) as u32;
            let core = &mut self.cores[c];
            core.started = true;
            core.issue_at = at;
            core.start = at;
            core.wake = at;
        }
    }

    fn run(&mut self) -> Result<(), ModelError> {
        let (size, slots) = self.slots();
        let groups = self.cores.len().div_ceil(size);
        let mut next_group = groups.min(slots.max(1));
        // The group running on each physical slot.
        let mut owner: Vec<usize> = (0..next_group).collect();
        for group in 0..next_group {
            self.start_group(group, group, 0.0);
        }
        let mut now = 0.0;
        loop {
            // Settle everything that can happen at `now`.
            loop {
                let mut changed = false;
                for c in 0..self.cores.len() {
                    let core = &self.cores[c];
                    if core.started && !core.done && (core.wake <= now || core.dirty) {
                        changed |= self.step_core(c, now);
                    }
                }
                // A finished group frees its slot for the next one.
                while next_group < groups {
                    let finished = (0..next_group)
                        .filter(|g| {
                            (g * size..((g + 1) * size).min(self.cores.len()))
                                .all(|c| self.cores[c].done)
                        })
                        .count();
                    let running = next_group - finished;
                    if running >= slots {
                        break;
                    }
                    let free_at = (0..next_group)
                        .flat_map(|g| g * size..((g + 1) * size).min(self.cores.len()))
                        .filter(|&c| self.cores[c].done)
                        .map(|c| self.cores[c].end)
                        .fold(0.0, f64::max);
                    let group_done = |g: usize| {
                        (g * size..((g + 1) * size).min(self.cores.len()))
                            .all(|c| self.cores[c].done)
                    };
                    // `running < slots` above: some slot's group has finished.
                    let slot = (0..owner.len())
                        .find(|&s| group_done(owner[s]))
                        .unwrap_or(0);
                    owner[slot] = next_group;
                    self.start_group(next_group, slot, free_at.max(now));
                    next_group += 1;
                    changed = true;
                }
                if !changed {
                    break;
                }
            }
            if next_group >= groups && self.cores.iter().all(|c| c.done) {
                break;
            }
            let next = self.rates_and_next(now);
            if !next.is_finite() {
                return Err(self.deadlock());
            }
            self.advance(now, next);
            now = next;
        }
        self.out.cycles = self.cores.iter().map(|c| c.end).fold(0.0, f64::max);
        for (c, core) in self.cores.iter().enumerate() {
            self.out.core_times[c] = (core.start, core.end);
        }
        Ok(())
    }

    /// Gives every streaming transfer its rate; returns the time of the next event.
    fn rates_and_next(&mut self, now: f64) -> f64 {
        let mut next = FAR;
        let mut streaming: Vec<(usize, usize)> = Vec::new();
        for (c, core) in self.cores.iter().enumerate() {
            if core.started && !core.done {
                next = next.min(if core.wake > now { core.wake } else { FAR });
            }
            for (p, active) in core.active.iter().enumerate() {
                if let Some(a) = active {
                    if a.head_until > now {
                        next = next.min(a.head_until);
                    } else {
                        streaming.push((c, p));
                    }
                }
            }
        }
        for server in [Server::Hbm, Server::L2] {
            let members: Vec<(usize, usize)> = streaming
                .iter()
                .copied()
                .filter(|&(c, p)| {
                    let a = self.cores[c].active[p].as_ref();
                    a.is_some_and(|a| a.streams[a.current].server == server)
                })
                .collect();
            let caps: Vec<f64> = members
                .iter()
                .map(|&(c, p)| {
                    let a = self.cores[c].active[p]
                        .as_ref()
                        .map_or(1.0, |a| a.streams[a.current].cap);
                    a
                })
                .collect();
            let capacity = match server {
                Server::Hbm => self.p.hbm_rate,
                Server::L2 => self.p.l2_rate,
            };
            for (&(c, p), rate) in members.iter().zip(share(capacity, &caps)) {
                if let Some(a) = self.cores[c].active[p].as_mut() {
                    a.rate = rate.max(1e-9);
                    next = next.min(now + a.streams[a.current].left / a.rate);
                }
            }
        }
        next
    }

    /// Moves the transfers from `now` to `next`; finishes those that end at `next`.
    fn advance(&mut self, now: f64, next: f64) {
        let dt = next - now;
        for c in 0..self.cores.len() {
            for p in 0..7 {
                let core = &mut self.cores[c];
                let Some(a) = core.active[p].as_mut() else {
                    continue;
                };
                if a.head_until > now {
                    core.dirty |= a.head_until <= next;
                    continue;
                }
                let rate = a.rate;
                let stream = &mut a.streams[a.current];
                // The transfer that defines `next` ends exactly there; others keep a positive rest.
                if now + stream.left / rate <= next * (1.0 + 1e-12) + 1e-9 {
                    stream.left = 0.0;
                } else {
                    stream.left -= rate * dt;
                }
                if stream.left > 0.0 {
                    continue;
                }
                a.current += 1;
                let finished = a.current == a.streams.len();
                core.dirty = true;
                if !finished {
                    continue;
                }
                if let Some(a) = core.active[p].take() {
                    self.finish(c, p, a.instr, a.start, next.max(a.min_end), a.latency);
                }
            }
        }
    }

    fn finish(
        &mut self,
        c: usize,
        p: usize,
        instr: usize,
        start: f64,
        busy_end: f64,
        latency: f64,
    ) {
        let core = &mut self.cores[c];
        core.busy_until[p] = busy_end;
        core.drained[p] = core.drained[p].max(busy_end + latency);
        self.out.busy[c][p] += busy_end - start;
        self.out.spans.push(Span {
            core: c as u32,
            pipe: PIPE_SLOTS[p],
            instr: instr as u32,
            start,
            busy_end,
            end: busy_end + latency,
        });
    }

    /// Everything core `c` can do at `now`; whether anything changed.
    fn step_core(&mut self, c: usize, now: f64) -> bool {
        self.cores[c].wake = FAR;
        self.cores[c].dirty = false;
        let mut any = false;
        loop {
            let mut changed = false;
            for p in 1..7 {
                changed |= self.step_pipe(c, p, now);
            }
            changed |= self.step_issue(c, now);
            if !changed {
                break;
            }
            any = true;
        }
        let core = &mut self.cores[c];
        let len = self.trace.cores[c].instrs.len();
        if core.next >= len
            && core.sync.is_none()
            && core.queues.iter().all(VecDeque::is_empty)
            && core.active.iter().all(Option::is_none)
        {
            core.done = true;
            core.end = core
                .drained
                .iter()
                .chain(core.busy_until.iter())
                .fold(core.issue_at.max(core.start), |a, &b| a.max(b));
            any = true;
        }
        any
    }

    fn wake(&mut self, c: usize, at: f64) {
        let core = &mut self.cores[c];
        core.wake = core.wake.min(at);
    }

    /// Takes a token of `key` released by `now` for instruction `i` on pipe `p` (the edge is recorded);
    /// false when there is none yet (with a wake-up set when one will be released later).
    fn take_token(&mut self, c: usize, key: Token, now: f64, (p, i): (usize, usize)) -> bool {
        let release = self.cores[c]
            .tokens
            .get(&key)
            .and_then(|q| q.front().copied());
        match release {
            Some((at, set)) if at <= now => {
                if let Some(q) = self.cores[c].tokens.get_mut(&key) {
                    q.pop_front();
                }
                self.edge(set, c, p, i, now);
                true
            }
            Some((at, _)) => {
                self.wake(c, at);
                false
            }
            None => false,
        }
    }

    fn take_cross(&mut self, c: usize, seq: u32, now: f64, (p, i): (usize, usize)) -> bool {
        match self.cross.get(&seq).copied() {
            Some((at, set)) if at <= now => {
                self.edge(set, c, p, i, now);
                true
            }
            Some((at, _)) => {
                self.wake(c, at);
                false
            }
            None => false,
        }
    }

    fn edge(&mut self, set: Point, c: usize, p: usize, i: usize, now: f64) {
        let wait = Point {
            core: c as u32,
            pipe: PIPE_SLOTS[p],
            instr: i as u32,
            at: now,
        };
        self.out.edges.push(Edge { set, wait });
    }

    fn release(&mut self, c: usize, key: Token, at: f64, (p, i): (usize, usize)) {
        let set = Point {
            core: c as u32,
            pipe: PIPE_SLOTS[p],
            instr: i as u32,
            at,
        };
        self.cores[c]
            .tokens
            .entry(key)
            .or_default()
            .push_back((at, set));
    }

    /// Starts what the head of pipe `p`'s queue allows.
    fn step_pipe(&mut self, c: usize, p: usize, now: f64) -> bool {
        let mut changed = false;
        loop {
            let core = &self.cores[c];
            if core.active[p].is_some() {
                break;
            }
            if core.busy_until[p] > now {
                let at = core.busy_until[p];
                self.wake(c, at);
                break;
            }
            let Some(&i) = core.queues[p].front() else {
                break;
            };
            let drained = core.drained[p];
            let trace = self.trace;
            let op = &trace.cores[c].instrs[i].op;
            let ready = match *op {
                Op::SetFlag { event, id } => {
                    self.release(c, Token::Flag(event, id), now.max(drained), (p, i));
                    true
                }
                Op::QueueSet { buffer, back } => {
                    self.release(c, Token::Queue(buffer, back), now.max(drained), (p, i));
                    true
                }
                Op::CrossSet { seq, .. } => {
                    self.cross_set(seq, now.max(drained), (c, p, i));
                    true
                }
                Op::WaitFlag { event, id } => {
                    self.take_token(c, Token::Flag(event, id), now, (p, i))
                }
                Op::QueueWait { buffer, back } => {
                    self.take_token(c, Token::Queue(buffer, back), now, (p, i))
                }
                Op::CrossWait { seq, .. } => self.take_cross(c, seq, now, (p, i)),
                Op::Barrier { .. } | Op::SyncAll { .. } => {
                    if drained > now {
                        self.wake(c, drained);
                        false
                    } else {
                        true
                    }
                }
                _ => {
                    self.cores[c].queues[p].pop_front();
                    match self.cost(c, i, now) {
                        Work::Fixed { busy, latency } => {
                            self.finish(c, p, i, now, now + busy, latency);
                        }
                        Work::Transfer(active) => {
                            let head = active.head_until;
                            self.cores[c].active[p] = Some(active);
                            self.wake(c, head);
                        }
                    }
                    changed = true;
                    continue;
                }
            };
            if !ready {
                break;
            }
            self.cores[c].queues[p].pop_front();
            changed = true;
        }
        changed
    }

    fn cross_set(&mut self, seq: u32, at: f64, (c, p, i): (usize, usize, usize)) {
        let set = Point {
            core: c as u32,
            pipe: PIPE_SLOTS[p],
            instr: i as u32,
            at,
        };
        self.cross
            .insert(seq, (at + self.p.cross_core_latency, set));
        for core in &mut self.cores {
            core.dirty = true;
        }
    }

    /// Issues what the scalar unit of core `c` can at `now`.
    fn step_issue(&mut self, c: usize, now: f64) -> bool {
        let trace = self.trace;
        let instrs = &trace.cores[c].instrs;
        let mut changed = false;
        while self.cores[c].next < instrs.len() {
            let core = &self.cores[c];
            if core.issue_at > now {
                let at = core.issue_at;
                self.wake(c, at);
                break;
            }
            let i = core.next;
            let instr = &instrs[i];
            let p = instr.pipe.slot();
            let drained_all = core.queues.iter().all(VecDeque::is_empty)
                && core.active.iter().all(Option::is_none);
            let last_drain = core
                .drained
                .iter()
                .chain(core.busy_until.iter())
                .fold(0.0, |a: f64, &b| a.max(b));
            let queue_full = core.queues[p].len() >= self.p.queue_depth;
            let issued = match instr.op {
                Op::Barrier { pipe: None } | Op::SyncAll { .. } if !drained_all => false,
                Op::Barrier { pipe: None } | Op::SyncAll { .. } if last_drain > now => {
                    self.wake(c, last_drain);
                    false
                }
                Op::Barrier { pipe: None } => true,
                Op::SyncAll {
                    barrier,
                    instance,
                    cores,
                } => self.sync_all(c, (barrier, instance), cores, now),
                _ if p != 0 => {
                    if queue_full {
                        false
                    } else {
                        self.cores[c].queues[p].push_back(i);
                        true
                    }
                }
                // The rest runs on S, in the issue stage.
                Op::SetFlag { event, id } => {
                    self.release(c, Token::Flag(event, id), now, (p, i));
                    true
                }
                Op::QueueSet { buffer, back } => {
                    self.release(c, Token::Queue(buffer, back), now, (p, i));
                    true
                }
                Op::CrossSet { seq, .. } => {
                    self.cross_set(seq, now, (c, p, i));
                    true
                }
                Op::WaitFlag { event, id } => {
                    self.take_token(c, Token::Flag(event, id), now, (p, i))
                }
                Op::QueueWait { buffer, back } => {
                    self.take_token(c, Token::Queue(buffer, back), now, (p, i))
                }
                Op::CrossWait { seq, .. } => self.take_cross(c, seq, now, (p, i)),
                Op::Barrier { .. } => true,
                _ => {
                    let busy = match self.cost(c, i, now) {
                        Work::Fixed { busy, latency } => busy + latency,
                        Work::Transfer(a) => a.min_end - now,
                    };
                    self.finish(c, 0, i, now, now + busy, 0.0);
                    self.cores[c].issue_at = now + busy;
                    true
                }
            };
            if !issued {
                break;
            }
            let core = &mut self.cores[c];
            core.next += 1;
            core.issue_at = core.issue_at.max(now + self.p.issue);
            changed = true;
        }
        changed
    }

    /// Core `c` arrives at a SyncAll; whether it may go on.
    fn sync_all(&mut self, c: usize, key: (u32, u32), cores: u32, now: f64) -> bool {
        if self.cores[c].sync != Some(key) {
            self.cores[c].sync = Some(key);
            let entry = self.syncs.entry(key).or_insert((0, 0.0, None));
            entry.0 += 1;
            entry.1 = entry.1.max(now);
            if entry.0 >= cores {
                entry.2 = Some(entry.1 + self.p.sync_all);
                for core in &mut self.cores {
                    core.dirty = true;
                }
            }
        }
        match self.syncs.get(&key).and_then(|e| e.2) {
            Some(at) if at <= now => {
                self.cores[c].sync = None;
                true
            }
            Some(at) => {
                self.wake(c, at);
                false
            }
            None => false,
        }
    }

    /// The cost of instruction `i` of core `c` starting at `now` (updates the L2 and the counters).
    fn cost(&mut self, c: usize, i: usize, now: f64) -> Work {
        let instr = &self.trace.cores[c].instrs[i];
        let mut meter = Meter {
            l2: &mut self.l2,
            out: &mut self.out,
        };
        cost(self.p, self.trace.name(instr), instr, &mut meter, i, now)
    }

    /// The deadlock report: the first core that has not ended, and what it waits for.
    fn deadlock(&self) -> ModelError {
        for (c, core) in self.cores.iter().enumerate() {
            if !core.started || core.done {
                continue;
            }
            let trace = &self.trace.cores[c];
            let blocked = (1..7)
                .find_map(|p| core.queues[p].front().map(|&i| (PIPE_SLOTS[p], i)))
                .or_else(|| {
                    (core.next < trace.instrs.len())
                        .then(|| (trace.instrs[core.next].pipe, core.next))
                });
            if let Some((pipe, i)) = blocked {
                return ModelError::Deadlock {
                    core: trace.label.clone(),
                    pipe: pipe.name(),
                    index: i,
                    instr: describe(self.trace, &trace.instrs[i]),
                };
            }
        }
        ModelError::Deadlock {
            core: String::from("?"),
            pipe: "?",
            index: 0,
            instr: String::from("a SyncAll that not every core reaches"),
        }
    }
}
