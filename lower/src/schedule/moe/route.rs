//! Device routing: the routing table of `expert_ids: i32 [T, K]` (a stable counting sort of the
//! T*K slots by expert, `lower/src/interp/moe.rs` `route`) as two AIV kernels of scalar code.
//!
//! # Why scalar code
//!
//! Routing is bookkeeping over a few thousand ints (T*K slots, E+1 counters): every step is a
//! data-dependent increment of a counter picked by an id (`cursor[id]++`), which the vector unit has
//! no instruction for. So the kernels are loops of scalar GM reads and writes (`GetValue`,
//! `SetValue`) on the scalar pipe, and the vector unit stays out of it. One scalar pipe per core
//! orders everything a core does; nothing needs a flag.
//!
//! # The two kernels
//!
//! The slots are cut into `blocks` contiguous chunks of `chunk` slots (a multiple of 16, at most one
//! per vector core; `blocks >= 1` so that T = 0 launches one core with an empty chunk). Core `c`
//! owns slot chunk `[c*chunk, min((c+1)*chunk, T*K))` and the destination rows with the same
//! numbers.
//!
//! 1. `{program}_histogram`: core `c` counts the buckets of its chunk into row `c` of the
//!    intermediate `{routes}_hist` (i32, `blocks` rows of `W = align_up(E+1, 16)` counters).
//! 2. `{program}_scatter`: every core reads the whole histogram and computes, per bucket `e`, the
//!    first row `offsets[e]` (exclusive prefix over buckets) and the first row of its own chunk in
//!    that bucket (plus the counts of the cores before it). It then
//!    - walks its chunk in slot order, `d = cursor[e]++`, and writes `position[p] = d`;
//!    - walks **all** slots in order with a second cursor row starting at `offsets`, and writes
//!      `order[d] = p` for the rows `d` it owns;
//!    - core 0 writes `offsets` and `invalid`.
//!
//! The result is the interpreter's for any core count: the destination of a slot is its bucket's
//! first row plus the number of earlier slots of that bucket, whichever core computes it.
//!
//! **Why each core writes only its own rows of `order`** (instead of scattering `order[d] = p` for
//! its chunk's slots, which would make `order` a scatter from every core): a scalar GM write goes
//! to the core's data cache and is written back by whole 64-byte lines; two cores writing different
//! ints of one line overwrite each other's (CANN `SetValue-3.md`: "多核操作GM地址时，要求不同核操作的
//! 地址...至少有Cache Line大小的偏移，否则会出现多核数据随机覆盖"). Chunks of 16 ints and
//! histogram rows padded to 16 ints keep every 64-byte line of an output written by one core only
//! (given buffers aligned to 64 bytes, as GM allocations are; the emulator has no data cache, so
//! `lower/tests/moe_route.rs` checks this by running the kernels core by core). The price is that
//! every core walks all T*K slots once more (O(T*K) scalar steps per core, a few thousand for
//! routing's sizes) instead of its chunk only.
//!
//! **Why two kernels and not one with `SyncAll`**: a kernel boundary is a global barrier that also
//! ends every core's GM traffic, with no limit on the block dim (a `SyncAll` needs every block
//! resident at once and its own workspace and flags). The histogram crosses the boundary in an
//! intermediate (the runtime gives each kernel its own workspace, so the workspace does not
//! survive a launch); the second kernel's cursors are per-core workspace rows.
//!
//! **Data cache.** Each kernel ends with a `flush_gm` (`DataCacheCleanAndInvalid` of the whole
//! cache) so that its scalar writes reach GM before the next kernel or the host reads them, and
//! starts with one so that no line cached by an earlier launch hides what was written since.
//!
//! **Bad ids.** An id outside `[0, E)` goes to bucket `E`, after the last expert: its rows are
//! `offsets[E] .. T*K`, so `order` and `position` stay a permutation of `0 .. T*K` and no access
//! depends on the id's value beyond choosing one of the E+1 counters. `{routes}_invalid[0]` is the
//! number of such slots, for the runtime to report.

use crate::graph::DType;
use crate::kir::v2::{
    BinOp, CoreKind, Field, FieldData, GmBuf, GmBufData, GmKind, GmRef, HostExpr, IExpr, InstData,
    Kernel, Program, Stmt, Var, VarData,
};
use crate::target::Target;

/// The names of a routing program's GM buffers (the caller's, so that the linker joins programs by
/// name).
#[derive(Copy, Clone, Debug)]
pub struct RouteNames<'a> {
    /// The program's name (its kernels are `{program}_histogram` and `{program}_scatter`).
    pub program: &'a str,
    /// The input `expert_ids: i32 [T, K]`.
    pub ids: &'a str,
    /// The routing table's name `r`: outputs `{r}_order`, `{r}_position`, `{r}_offsets`,
    /// `{r}_invalid`; intermediate `{r}_hist`; workspace `{r}_scratch`.
    pub routes: &'a str,
}

/// Ints per 64-byte data-cache line: chunks and counter rows are multiples of it.
const LINE_INTS: u64 = 16;

/// The routing program of `ids: i32 [tokens, k]` over `experts` experts for `target`'s vector
/// cores: `{routes}_order` and `{routes}_position` (i32 `[tokens*k]`), `{routes}_offsets` (i32
/// `[experts+1]`, `offsets[experts]` = rows routed to a valid expert) and `{routes}_invalid` (i32
/// `[1]`, slots whose id is outside `[0, experts)`), all [`GmKind::Output`]. See the module
/// documentation for the kernels.
pub fn lower_route(
    names: &RouteNames<'_>,
    tokens: HostExpr,
    k: u64,
    experts: u64,
    target: &Target,
) -> Program {
    let mut p = Program::new(names.program);
    let mut dims = tokens.syms();
    dims.sort_by_key(|s| s.to_string());
    dims.dedup();
    p.dims = dims;
    let cores = u64::from(target.vector_cores.max(1));
    // Sizes saturate instead of overflowing: an absurd E (ids are i32, so E > 2^31 means nothing)
    // gives a workspace the launch refuses by size, never a wrapped one.
    let buckets = experts.saturating_add(1);
    let w = buckets.div_ceil(LINE_INTS).saturating_mul(LINE_INTS);
    let lit = |v: u64| HostExpr::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let slots_h = tokens.clone() * lit(k);
    let chunk_h = lit(LINE_INTS)
        * HostExpr::max(
            HostExpr::Int(1),
            HostExpr::ceil_div(slots_h.clone(), lit(LINE_INTS * cores)),
        );
    let blocks_h = HostExpr::max(
        HostExpr::Int(1),
        HostExpr::ceil_div(slots_h.clone(), chunk_h.clone()),
    );
    let mut gm = |name: String, kind: GmKind, shape: Vec<HostExpr>| -> GmBuf {
        p.gm.push(GmBufData {
            name,
            kind,
            dtype: DType::I32,
            shape,
        })
    };
    let r = names.routes;
    let g = Bufs {
        ids: gm(
            names.ids.to_string(),
            GmKind::Input,
            vec![tokens.clone(), lit(k)],
        ),
        order: gm(format!("{r}_order"), GmKind::Output, vec![slots_h.clone()]),
        position: gm(
            format!("{r}_position"),
            GmKind::Output,
            vec![slots_h.clone()],
        ),
        offsets: gm(format!("{r}_offsets"), GmKind::Output, vec![lit(buckets)]),
        invalid: gm(
            format!("{r}_invalid"),
            GmKind::Output,
            vec![HostExpr::Int(1)],
        ),
        hist: gm(
            format!("{r}_hist"),
            GmKind::Intermediate,
            vec![lit(cores.saturating_mul(w))],
        ),
        scratch: gm(
            format!("{r}_scratch"),
            GmKind::Workspace {
                offset: HostExpr::Int(0),
            },
            vec![lit(cores.saturating_mul(w).saturating_mul(2))],
        ),
    };
    p.workspace = lit(cores.saturating_mul(w).saturating_mul(8));
    let mut field = |name: &str, expr: HostExpr| -> Field {
        p.fields.push(FieldData {
            name: name.to_string(),
            expr,
        })
    };
    let f = Fields {
        slots: field("slots", slots_h),
        chunk: field("chunk", chunk_h),
        blocks: field("blocks", blocks_h.clone()),
    };
    let shape = Shape {
        experts: i64::try_from(experts).unwrap_or(i64::MAX - 1),
        w: i64::try_from(w).unwrap_or(i64::MAX),
    };
    p.kernels
        .push(histogram(names, &g, &f, shape, blocks_h.clone()));
    p.kernels.push(scatter(names, &g, &f, shape, blocks_h));
    p
}

/// The program's GM buffers.
struct Bufs {
    ids: GmBuf,
    order: GmBuf,
    position: GmBuf,
    offsets: GmBuf,
    invalid: GmBuf,
    hist: GmBuf,
    scratch: GmBuf,
}

/// The tiling fields.
struct Fields {
    /// T*K.
    slots: Field,
    /// Slots per core (a multiple of 16).
    chunk: Field,
    /// Cores launched.
    blocks: Field,
}

/// The static sizes.
#[derive(Copy, Clone)]
struct Shape {
    /// E.
    experts: i64,
    /// Ints per counter row (E+1 aligned up to 16).
    w: i64,
}

fn int(v: i64) -> IExpr {
    IExpr::Int(v)
}
fn var(v: Var) -> IExpr {
    IExpr::Var(v)
}
fn fld(f: Field) -> IExpr {
    IExpr::Field(f)
}
fn add(a: IExpr, b: IExpr) -> IExpr {
    IExpr::bin(BinOp::Add, a, b)
}
fn sub(a: IExpr, b: IExpr) -> IExpr {
    IExpr::bin(BinOp::Sub, a, b)
}
fn mul(a: IExpr, b: IExpr) -> IExpr {
    IExpr::bin(BinOp::Mul, a, b)
}
fn lt(a: IExpr, b: IExpr) -> IExpr {
    IExpr::bin(BinOp::Lt, a, b)
}
fn min(a: IExpr, b: IExpr) -> IExpr {
    IExpr::bin(BinOp::Min, a, b)
}

/// A kernel under construction: statements go into the innermost open block.
struct Build {
    k: Kernel,
    blocks: Vec<Vec<Stmt>>,
}

impl Build {
    fn new(name: String, block_dim: HostExpr, params: Vec<GmBuf>) -> Build {
        let mut k = Kernel::new(name, CoreKind::Aiv, block_dim);
        k.params = params;
        Build {
            k,
            blocks: vec![vec![]],
        }
    }

    fn var(&mut self, name: &str) -> Var {
        self.k.vars.push(VarData { name: name.into() })
    }

    fn inst(&mut self, d: InstData, note: &str) {
        let i = self.k.insts.push(d);
        self.k.notes[i] = note.to_string();
        self.blocks
            .last_mut()
            .expect("a block is open")
            .push(Stmt::Inst(i));
    }

    fn assign(&mut self, dst: Var, value: IExpr, note: &str) {
        self.inst(InstData::Assign { dst, value }, note);
    }

    fn read(&mut self, dst: Var, buf: GmBuf, offset: IExpr, note: &str) {
        let src = GmRef { buf, offset };
        self.inst(InstData::ReadScalar { dst, src }, note);
    }

    fn write(&mut self, buf: GmBuf, offset: IExpr, value: IExpr, note: &str) {
        let dst = GmRef { buf, offset };
        self.inst(InstData::WriteScalar { dst, value }, note);
    }

    /// `for v in start .. end { body }`.
    fn for_(&mut self, v: Var, start: IExpr, end: IExpr, body: impl FnOnce(&mut Build)) {
        self.blocks.push(vec![]);
        body(self);
        let body = self.blocks.pop().expect("the loop's block");
        self.blocks
            .last_mut()
            .expect("a block is open")
            .push(Stmt::For {
                var: v,
                start,
                end,
                body,
            });
    }

    /// `body` when `cond` (0 or 1) is 1: a loop of `cond` iterations (the IR has no `if`).
    fn when(&mut self, v: Var, cond: IExpr, body: impl FnOnce(&mut Build)) {
        self.for_(v, int(0), cond, body);
    }

    /// Defines `bucket` as the bucket of the id read at slot `slot`: the id when it is in
    /// `[0, E)`, `E` otherwise.
    fn bucket(&mut self, ids: GmBuf, slot: IExpr, s: Shape, id: Var, valid: Var, bucket: Var) {
        self.read(id, ids, slot, "id = ids[p]");
        self.assign(
            valid,
            mul(lt(int(-1), var(id)), lt(var(id), int(s.experts))),
            "0 <= id < E",
        );
        self.assign(
            bucket,
            add(
                mul(var(valid), var(id)),
                mul(sub(int(1), var(valid)), int(s.experts)),
            ),
            "bad ids go to bucket E",
        );
    }

    fn finish(mut self) -> Kernel {
        self.k.body = self.blocks.pop().expect("the body");
        self.k
    }
}

/// `{program}_histogram`: core `c` counts the buckets of its chunk into row `c` of `{routes}_hist`.
fn histogram(names: &RouteNames<'_>, g: &Bufs, f: &Fields, s: Shape, dim: HostExpr) -> Kernel {
    let mut b = Build::new(
        format!("{}_histogram", names.program),
        dim,
        vec![g.ids, g.hist],
    );
    let (e, p, id, valid, bucket, h) = (
        b.var("e"),
        b.var("p"),
        b.var("id"),
        b.var("valid"),
        b.var("bucket"),
        b.var("count"),
    );
    let row = mul(IExpr::BlockIdx, int(s.w));
    let start = mul(IExpr::BlockIdx, fld(f.chunk));
    let end = min(add(start.clone(), fld(f.chunk)), fld(f.slots));
    // No line of `ids` cached by an earlier launch may hide what the host wrote since.
    b.inst(InstData::FlushGm { buf: g.ids }, "invalidate");
    b.for_(e, int(0), int(s.experts.saturating_add(1)), |b| {
        b.write(g.hist, add(row.clone(), var(e)), int(0), "hist[c][e] = 0");
    });
    b.for_(p, start, end, |b| {
        b.bucket(g.ids, var(p), s, id, valid, bucket);
        let at = add(row.clone(), var(bucket));
        b.read(h, g.hist, at.clone(), "hist[c][bucket]");
        b.write(g.hist, at, add(var(h), int(1)), "hist[c][bucket] += 1");
    });
    // The next kernel reads the counts from GM.
    b.inst(InstData::FlushGm { buf: g.hist }, "write back");
    b.finish()
}

/// `{program}_scatter`: prefix sums from the histogram, then `position` for the core's slot chunk
/// and `order` for its destination rows; core 0 writes `offsets` and `invalid`.
fn scatter(names: &RouteNames<'_>, g: &Bufs, f: &Fields, s: Shape, dim: HostExpr) -> Kernel {
    let mut b = Build::new(
        format!("{}_scatter", names.program),
        dim,
        vec![
            g.ids, g.hist, g.order, g.position, g.offsets, g.invalid, g.scratch,
        ],
    );
    let v = |b: &mut Build, n: &str| b.var(n);
    let (run, last, e, tot, pre, q, h, z) = (
        v(&mut b, "run"),
        v(&mut b, "last"),
        v(&mut b, "e"),
        v(&mut b, "total"),
        v(&mut b, "before"),
        v(&mut b, "q"),
        v(&mut b, "count"),
        v(&mut b, "core0"),
    );
    let (p, id, valid, bucket, d, z2, z3) = (
        v(&mut b, "p"),
        v(&mut b, "id"),
        v(&mut b, "valid"),
        v(&mut b, "bucket"),
        v(&mut b, "d"),
        v(&mut b, "mine"),
        v(&mut b, "core0_invalid"),
    );
    let w = s.w;
    // Scratch rows of core c: its chunk's cursors at 2*W*c, the all-slots cursors at 2*W*c + W.
    let cursor = mul(IExpr::BlockIdx, int(w.saturating_mul(2)));
    let scan = add(cursor.clone(), int(w));
    let start = mul(IExpr::BlockIdx, fld(f.chunk));
    let end = min(add(start.clone(), fld(f.chunk)), fld(f.slots));
    let core0 = IExpr::bin(BinOp::Eq, IExpr::BlockIdx, int(0));
    // The histogram rows were written by other cores: drop any stale line before reading them.
    b.inst(InstData::FlushGm { buf: g.hist }, "invalidate");
    b.assign(run, int(0), "rows of the buckets before e");
    b.assign(last, int(0), "offsets[E]");
    b.for_(e, int(0), int(s.experts.saturating_add(1)), |b| {
        b.assign(tot, int(0), "slots in bucket e");
        b.assign(pre, int(0), "of them in the chunks before c");
        b.for_(q, int(0), fld(f.blocks), |b| {
            b.read(h, g.hist, add(mul(var(q), int(w)), var(e)), "hist[q][e]");
            b.assign(
                pre,
                add(var(pre), mul(var(h), lt(var(q), IExpr::BlockIdx))),
                "q < c",
            );
            b.assign(tot, add(var(tot), var(h)), "");
        });
        let first = add(var(run), var(pre));
        b.write(g.scratch, add(cursor.clone(), var(e)), first, "cursor[e]");
        b.write(
            g.scratch,
            add(scan.clone(), var(e)),
            var(run),
            "scan[e] = offsets[e]",
        );
        b.when(z, core0.clone(), |b| {
            b.write(g.offsets, var(e), var(run), "offsets[e]");
        });
        b.assign(last, var(run), "");
        b.assign(run, add(var(run), var(tot)), "");
    });
    b.when(z3, core0, |b| {
        b.write(
            g.invalid,
            int(0),
            sub(var(run), var(last)),
            "slots of bucket E",
        );
    });
    // position[p] for the core's slots, in slot order.
    b.for_(p, start.clone(), end.clone(), |b| {
        b.bucket(g.ids, var(p), s, id, valid, bucket);
        let at = add(cursor.clone(), var(bucket));
        b.read(d, g.scratch, at.clone(), "d = cursor[bucket]");
        b.write(g.position, var(p), var(d), "position[p] = d");
        b.write(g.scratch, at, add(var(d), int(1)), "cursor[bucket] += 1");
    });
    // order[d] for the core's rows: every slot in order, the rows of this core kept.
    b.for_(p, int(0), fld(f.slots), |b| {
        b.bucket(g.ids, var(p), s, id, valid, bucket);
        let at = add(scan.clone(), var(bucket));
        b.read(d, g.scratch, at.clone(), "d = scan[bucket]");
        b.write(g.scratch, at, add(var(d), int(1)), "scan[bucket] += 1");
        let mine = mul(
            sub(int(1), lt(var(d), start.clone())),
            lt(var(d), end.clone()),
        );
        b.when(z2, mine, |b| {
            b.write(g.order, var(d), var(p), "order[d] = p");
        });
    });
    // Outputs reach GM before the host or the next kernel reads them.
    b.inst(InstData::FlushGm { buf: g.order }, "write back");
    b.finish()
}
