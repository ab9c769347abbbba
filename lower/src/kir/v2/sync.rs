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

use super::hazard::{check_with, GmLocs, Hazard, HazardErrors};
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
    insert_sync_measured(k).map(|(stats, _)| stats)
}

/// The work [`insert_sync_measured`] did: deterministic counts that tests use to hold the pass linear
/// in the kernel's size.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct SyncWork {
    /// Hazard checks run (each repair round runs one, and a last one proves the kernel clean).
    pub rounds: usize,
    /// Earlier accesses those checks compared new ones with, in all.
    pub compared: u64,
}

/// [`insert_sync`], and the work it did.
pub fn insert_sync_measured(k: &mut Kernel) -> Result<(SyncStats, SyncWork), HazardErrors> {
    let mut stats = SyncStats::default();
    let mut work = SyncWork::default();
    let mut gm_locs = GmLocs::default();
    let mut check = |k: &Kernel, work: &mut SyncWork| {
        let (result, compared) = check_with(k, &mut gm_locs);
        work.rounds += 1;
        work.compared += compared;
        result
    };
    for _ in 0..MAX_REPAIRS {
        let errs = match check(k, &mut work) {
            Ok(()) => return Ok((stats, work)),
            Err(e) => e,
        };
        if errs.0.iter().any(|h| matches!(h, Hazard::Unmatched { .. })) {
            return Err(errs);
        }
        let races: Vec<(Inst, Pipe, Inst, Pipe)> = errs
            .0
            .iter()
            .filter_map(|h| match h {
                Hazard::Race {
                    first,
                    first_pipe,
                    second,
                    second_pipe,
                    ..
                } => Some((*first, *first_pipe, *second, *second_pipe)),
                Hazard::Unmatched { .. } => None,
            })
            .collect();
        let Some(&(first, first_pipe, second, second_pipe)) = races.first() else {
            return Err(errs);
        };
        let (Some(p1), Some(p2)) = (path_of(&k.body, first), path_of(&k.body, second)) else {
            return Err(errs);
        };
        if first_pipe == second_pipe {
            let placed = barriers(k, &races);
            if placed > 0 {
                stats.barriers += placed;
                continue;
            }
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
    check(k, &mut work).map(|()| (stats, work))
}

/// Repairs, at once, the leading run of same-pipe races whose two instructions share a block (one round of
/// the pass instead of one per race). Per block, barriers are chosen by greedy interval stabbing: races
/// sorted by the later instruction's position get a barrier right before it unless one already placed
/// lies between the pair, so every barrier orders a race no other does. Returns how many it placed.
fn barriers(k: &mut Kernel, races: &[(Inst, Pipe, Inst, Pipe)]) -> usize {
    // Statement index of an instruction in every block, computed once (not one tree walk per race).
    let mut pos = std::collections::HashMap::new();
    index_paths(&k.body, &mut vec![], &mut pos);
    // Per block: the (first, second) positions of each race. One pipe per round (the first race's), so
    // that the insertions into a block never shift each other's positions.
    let mut groups: std::collections::BTreeMap<Vec<usize>, Vec<(usize, usize)>> =
        Default::default();
    let Some(&(_, pipe, _, _)) = races.first() else {
        return 0;
    };
    for &(first, fp, second, sp) in races {
        let (Some(p1), Some(p2)) = (pos.get(&first), pos.get(&second)) else {
            break;
        };
        let (b1, b2): (&Vec<usize>, &Vec<usize>) = (p1, p2);
        if fp != pipe
            || sp != pipe
            || b1.len() != b2.len()
            || b1[..b1.len() - 1] != b2[..b2.len() - 1]
        {
            break;
        }
        let (a, b) = (b1[b1.len() - 1], b2[b2.len() - 1]);
        if a >= b {
            break;
        }
        groups
            .entry(b1[..b1.len() - 1].to_vec())
            .or_default()
            .push((a, b));
    }
    // Where each barrier goes, as the path of the statement it is placed before.
    let mut at: Vec<Vec<usize>> = vec![];
    for (block, mut pairs) in groups {
        pairs.sort_by_key(|&(a, b)| (b, a));
        // A barrier at `q` sits before statement `q`: it orders a pair (a, b) when a < q <= b.
        let mut last: Option<usize> = None;
        for (a, b) in pairs {
            if last.is_some_and(|q| a < q) {
                continue;
            }
            last = Some(b);
            let mut path = block.clone();
            path.push(b);
            at.push(path);
        }
    }
    // Instructions are numbered in program order (as one repair per round numbered them), and inserted
    // from the last position backwards, so that an insertion never shifts a path still to be used.
    at.sort();
    let insts: Vec<Inst> = at
        .iter()
        .map(|_| k.insts.push(InstData::PipeBarrier(pipe)))
        .collect();
    for (path, i) in at.iter().zip(insts).rev() {
        let (q, block) = path.split_last().expect("a path has a last index");
        block_mut(&mut k.body, block).insert(*q, Stmt::Inst(i));
    }
    at.len()
}

/// Records the path of every instruction of `stmts`.
fn index_paths(
    stmts: &[Stmt],
    prefix: &mut Vec<usize>,
    out: &mut std::collections::HashMap<Inst, Vec<usize>>,
) {
    for (n, s) in stmts.iter().enumerate() {
        prefix.push(n);
        match s {
            Stmt::Inst(i) => {
                out.entry(*i).or_insert_with(|| prefix.clone());
            }
            Stmt::For { body, .. } | Stmt::Side { body, .. } => index_paths(body, prefix, out),
        }
        prefix.pop();
    }
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
    let (a1, mut a2) = (p1[c], p2[c]);
    if a1 < a2 {
        // A wait for the scalar pipe goes before the `flush_gm`s right before the later statement:
        // the flush must see the other pipe's write to invalidate a stale line (see `hazard/cache.rs`).
        let b = stmt_block(&k.body, &p1[..c]);
        while to == Pipe::S
            && a2 > a1 + 1
            && matches!(b.get(a2 - 1), Some(Stmt::Inst(i)) if matches!(k.insts[*i], InstData::FlushGm { .. }))
        {
            a2 -= 1;
        }
    }
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

/// The block at `prefix`, read-only (see [`block_mut`]).
fn stmt_block<'a>(stmts: &'a [Stmt], prefix: &[usize]) -> &'a [Stmt] {
    match prefix.split_first() {
        None => stmts,
        Some((first, rest)) => match &stmts[*first] {
            Stmt::For { body, .. } | Stmt::Side { body, .. } => stmt_block(body, rest),
            Stmt::Inst(_) => &[],
        },
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
