//! The sync pass: derives every flag and barrier a kernel needs from its dataflow.
//!
//! It runs the [hazard verifier](super::hazard) and repairs the first race it reports, until there is
//! none: a race on the vector pipe gets a `PipeBarrier(V)` right before the later instruction; a race
//! between two pipes gets a `SetFlag`/`WaitFlag` pair on a new event, the set right after the statement
//! that holds the earlier instruction and the wait right before the one that holds the later, in their
//! innermost common block. When the later instruction comes first in that block (a dependence carried by
//! the enclosing loop), the set is also issued once before the loop and waited once after it, so that
//! sets and waits balance. Queue hand-offs are never duplicated: only what the queues do not order gets
//! a flag. The result is what [`super::hazard::check`] accepts, so kernels are correct with the
//! toolchain's automatic synchronization off.

use super::hazard::{check, Hazard, HazardErrors};
use super::{Event, EventData, Inst, InstData, Kernel, Pipe, Stmt};

/// How many repairs one kernel may need before the pass gives up (a bound, never reached in practice:
/// every repair orders at least one pair).
const MAX_REPAIRS: usize = 10_000;

/// What the pass added.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SyncStats {
    /// `PipeBarrier`s inserted.
    pub barriers: usize,
    /// `SetFlag`/`WaitFlag` pairs inserted (a loop-carried pair counts once).
    pub flag_pairs: usize,
}

/// Inserts the synchronization `k` needs. Fails with the hazards it cannot repair (protocol errors such
/// as a `DeQue` of an empty queue, or a race between the two sides of a MIX kernel, which needs a
/// cross-core flag the lowering must place).
pub fn insert_sync(k: &mut Kernel) -> Result<SyncStats, HazardErrors> {
    let mut stats = SyncStats::default();
    for _ in 0..MAX_REPAIRS {
        let errs = match check(k) {
            Ok(()) => return Ok(stats),
            Err(e) => e,
        };
        let Some((first, first_pipe, second, second_pipe)) = errs.0.iter().find_map(|h| match h {
            Hazard::Race {
                first,
                first_pipe,
                second,
                second_pipe,
                ..
            } => Some((*first, *first_pipe, *second, *second_pipe)),
            Hazard::Unmatched { .. } => None,
        }) else {
            return Err(errs);
        };
        if errs.0.iter().any(|h| matches!(h, Hazard::Unmatched { .. })) {
            return Err(errs);
        }
        let (Some(p1), Some(p2)) = (path_of(&k.body, first), path_of(&k.body, second)) else {
            return Err(errs);
        };
        if first_pipe == second_pipe {
            let at = block_mut(&mut k.body, &p2[..p2.len() - 1]);
            let i = k.insts.push(InstData::PipeBarrier(second_pipe));
            at.insert(p2[p2.len() - 1], Stmt::Inst(i));
            stats.barriers += 1;
            continue;
        }
        if !flag_pair(k, &p1, &p2, first_pipe, second_pipe) {
            return Err(errs);
        }
        stats.flag_pairs += 1;
    }
    check(k).map(|()| stats)
}

fn new_flag(k: &mut Kernel, ev: Event, set: bool) -> Stmt {
    Stmt::Inst(k.insts.push(if set {
        InstData::SetFlag(ev)
    } else {
        InstData::WaitFlag(ev)
    }))
}

/// Places a set after the statement holding `p1` and a wait before the one holding `p2`.
fn flag_pair(k: &mut Kernel, p1: &[usize], p2: &[usize], from: Pipe, to: Pipe) -> bool {
    let c = p1.iter().zip(p2).take_while(|(a, b)| a == b).count();
    if c >= p1.len().min(p2.len()) {
        return false;
    }
    let (a1, a2) = (p1[c], p2[c]);
    let ev = k.events.push(EventData { from, to });
    if a1 < a2 {
        let wait = new_flag(k, ev, false);
        let set = new_flag(k, ev, true);
        let b = block_mut(&mut k.body, &p1[..c]);
        b.insert(a2, wait);
        b.insert(a1 + 1, set);
        return true;
    }
    // Carried by the loop whose body is the common block.
    if c == 0 || !matches!(stmt_at(&k.body, &p1[..c]), Some(Stmt::For { .. })) {
        return false;
    }
    let wait = new_flag(k, ev, false);
    let set = new_flag(k, ev, true);
    let pre = new_flag(k, ev, true);
    let post = new_flag(k, ev, false);
    let b = block_mut(&mut k.body, &p1[..c]);
    b.insert(a1 + 1, set);
    b.insert(a2, wait);
    let parent = block_mut(&mut k.body, &p1[..c - 1]);
    let l = p1[c - 1];
    parent.insert(l + 1, post);
    parent.insert(l, pre);
    true
}

/// The indices from the body down to `inst`.
pub fn path_of(stmts: &[Stmt], inst: Inst) -> Option<Vec<usize>> {
    for (n, s) in stmts.iter().enumerate() {
        match s {
            Stmt::Inst(i) if *i == inst => return Some(vec![n]),
            Stmt::For { body, .. } | Stmt::Side { body, .. } => {
                if let Some(mut p) = path_of(body, inst) {
                    p.insert(0, n);
                    return Some(p);
                }
            }
            Stmt::Inst(_) => {}
        }
    }
    None
}

fn stmt_at<'a>(stmts: &'a [Stmt], path: &[usize]) -> Option<&'a Stmt> {
    let (first, rest) = path.split_first()?;
    let s = stmts.get(*first)?;
    if rest.is_empty() {
        return Some(s);
    }
    match s {
        Stmt::For { body, .. } | Stmt::Side { body, .. } => stmt_at(body, rest),
        Stmt::Inst(_) => None,
    }
}

/// The block at `prefix` (the body of the loop or region it leads to). Callers pass prefixes of paths
/// [`path_of`] returned, which lead to loops and regions.
fn block_mut<'a>(stmts: &'a mut Vec<Stmt>, prefix: &[usize]) -> &'a mut Vec<Stmt> {
    match prefix.split_first() {
        None => stmts,
        Some((first, rest)) => match &mut stmts[*first] {
            Stmt::For { body, .. } | Stmt::Side { body, .. } => block_mut(body, rest),
            Stmt::Inst(_) => unreachable!("a path prefix leads to a block"),
        },
    }
}
