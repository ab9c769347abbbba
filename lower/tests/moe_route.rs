//! The routing lowering's program (`schedule::moe::route`): verified, hazard-free as lowered (the
//! sync pass has nothing to add), printed and parsed back, with the caller's buffer names.

use cranelift_entity::EntityRef;
use moge_lower::kir::v2::{self, HostExpr};
use moge_lower::schedule::moe::route::{lower_route, RouteNames};
use moge_lower::target::Target;

fn program(k: u64, e: u64, cores: u32) -> v2::Program {
    let names = RouteNames {
        program: "route_test",
        ids: "expert_ids",
        routes: "r",
    };
    let target = Target {
        vector_cores: cores,
        ..Target::ascend910b2()
    };
    lower_route(&names, HostExpr::dim("T"), k, e, &target)
}

#[test]
fn the_routing_program_verifies_and_needs_no_sync() {
    for (k, e, cores) in [(1, 4, 1), (8, 64, 48), (8, 4, 3)] {
        let p = program(k, e, cores);
        v2::verify_program(&p, &Target::ascend910b2()).unwrap_or_else(|err| panic!("{err}"));
        for kern in p.kernels.values() {
            v2::check_hazards(kern).unwrap_or_else(|err| panic!("{err}"));
            let mut synced = kern.clone();
            let stats = v2::insert_sync(&mut synced).unwrap();
            assert_eq!(stats, v2::SyncStats::default(), "{}", kern.name);
        }
        let text = v2::program_to_string(&p);
        assert_eq!(v2::parse_program(&text).unwrap(), p, "{text}");
    }
}

/// Each kernel's last instruction writes its scalar GM writes back; without it the hazard verifier
/// reports the writes the kernel leaves in the data cache.
#[test]
fn deleting_the_write_back_of_either_kernel_is_reported() {
    let p = program(8, 64, 48);
    for kern in p.kernels.values() {
        let mut k = kern.clone();
        let last = *k.inst_order().last().unwrap();
        assert!(matches!(k.insts[last], v2::InstData::FlushGm { .. }));
        k.detach(last);
        let errs = v2::check_hazards(&k).unwrap_err().to_string();
        assert!(
            errs.contains("write_scalar is not followed by a flush_gm before the kernel ends"),
            "{}: {errs}",
            k.name
        );
    }
}

/// The buffers carry the caller's names, with the kinds other lowerings link against.
#[test]
fn buffers_are_named_after_the_caller() {
    let p = program(8, 64, 48);
    let got: Vec<(String, &str)> =
        p.gm.values()
            .map(|d| (d.name.clone(), d.kind.name()))
            .collect();
    let want = [
        ("expert_ids", "input"),
        ("r_order", "output"),
        ("r_position", "output"),
        ("r_offsets", "output"),
        ("r_invalid", "output"),
        ("r_hist", "intermediate"),
        ("r_scratch", "workspace"),
    ];
    assert_eq!(got, want.map(|(n, k)| (n.to_string(), k)));
    let names: Vec<&str> = p.kernels.values().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["route_test_histogram", "route_test_scatter"]);
}

/// The tiling: chunks of whole 64-byte lines (16 ints) so that no two cores write one line of
/// `order` or `position`, every launched core but the last has a full chunk and the last a
/// nonempty one, at most one core per vector core, and one core (with an empty chunk) for T = 0.
#[test]
fn chunks_are_whole_cache_lines_and_cover_the_slots() {
    for cores in [1u32, 3, 48] {
        for k in [1u64, 8] {
            let p = program(k, 64, cores);
            for t in [0i64, 1, 7, 48, 49, 1000, 100_000] {
                let dims = |s: moge_lower::Symbol| (s == "T").then_some(t);
                let field = |name: &str| {
                    let f = p.fields.values().find(|f| f.name == name).unwrap();
                    f.expr.eval(&dims).unwrap()
                };
                let (slots, chunk, blocks) = (field("slots"), field("chunk"), field("blocks"));
                let at = format!("cores={cores} K={k} T={t}");
                assert_eq!(slots, t * k as i64, "{at}");
                assert!(chunk > 0 && chunk % 16 == 0, "{at}: chunk {chunk}");
                assert!(
                    blocks >= 1 && blocks <= cores as i64,
                    "{at}: blocks {blocks}"
                );
                assert!(blocks * chunk >= slots, "{at}");
                assert!(slots == 0 || (blocks - 1) * chunk < slots, "{at}");
                for kern in p.kernels.values() {
                    assert_eq!(kern.block_dim.eval(&dims).unwrap(), blocks, "{at}");
                }
            }
        }
    }
}

/// An absurd expert count saturates the sizes (the launch refuses the workspace by size) instead of
/// overflowing; K = 0 gives no slots.
#[test]
fn extreme_sizes_do_not_overflow() {
    let p = program(8, u64::MAX, 48);
    assert_eq!(p.workspace, HostExpr::Int(i64::MAX));
    let p = program(0, 4, 48);
    let dims = |s: moge_lower::Symbol| (s == "T").then_some(1000);
    let slots = p.fields.values().find(|f| f.name == "slots").unwrap();
    assert_eq!(slots.expr.eval(&dims).unwrap(), 0);
    v2::verify_program(&p, &Target::ascend910b2()).unwrap();
}

/// A scalar interpreter of the routing kernels (read_scalar, assign, write_scalar, loops; the IR
/// these kernels use), which records which core wrote each GM int.
struct Cores<'a> {
    p: &'a v2::Program,
    fields: Vec<i64>,
    /// GM contents by buffer.
    gm: Vec<Vec<i64>>,
    /// Per buffer, per int: the cores that wrote it in the current kernel.
    writers: Vec<Vec<std::collections::BTreeSet<i64>>>,
}

impl Cores<'_> {
    fn eval(&self, e: &v2::IExpr, vars: &[i64], core: i64, blocks: i64) -> i64 {
        use v2::{BinOp::*, IExpr};
        match e {
            IExpr::Int(v) => *v,
            IExpr::Field(f) => self.fields[f.index()],
            IExpr::Var(v) => vars[v.index()],
            IExpr::BlockIdx => core,
            IExpr::BlockNum => blocks,
            IExpr::Bin(op, a, b) => {
                let (a, b) = (
                    self.eval(a, vars, core, blocks),
                    self.eval(b, vars, core, blocks),
                );
                match op {
                    Add => a + b,
                    Sub => a - b,
                    Mul => a * b,
                    Div => a / b,
                    Rem => a % b,
                    Min => a.min(b),
                    Max => a.max(b),
                    CeilDiv => (a + b - 1) / b,
                    Eq => (a == b) as i64,
                    Lt => (a < b) as i64,
                }
            }
        }
    }

    fn run(&mut self, k: &v2::Kernel, body: &[v2::Stmt], vars: &mut Vec<i64>, core: i64, n: i64) {
        for s in body {
            match s {
                v2::Stmt::Inst(i) => match &k.insts[*i] {
                    v2::InstData::ReadScalar { dst, src } => {
                        let at = self.eval(&src.offset, vars, core, n) as usize;
                        vars[dst.index()] = self.gm[src.buf.index()][at];
                    }
                    v2::InstData::Assign { dst, value } => {
                        vars[dst.index()] = self.eval(value, vars, core, n);
                    }
                    v2::InstData::WriteScalar { dst, value } => {
                        let at = self.eval(&dst.offset, vars, core, n) as usize;
                        let v = self.eval(value, vars, core, n);
                        self.gm[dst.buf.index()][at] = v;
                        self.writers[dst.buf.index()][at].insert(core);
                    }
                    v2::InstData::FlushGm { .. } => {}
                    other => panic!("not a scalar instruction: {other:?}"),
                },
                v2::Stmt::For {
                    var,
                    start,
                    end,
                    body,
                } => {
                    let (a, b) = (
                        self.eval(start, vars, core, n),
                        self.eval(end, vars, core, n),
                    );
                    for x in a..b {
                        vars[var.index()] = x;
                        self.run(k, body, vars, core, n);
                    }
                }
                v2::Stmt::Side { .. } => panic!("an AIV kernel has no sides"),
            }
        }
    }
}

/// Every 64-byte line (16 ints) of every GM buffer is written by one core per kernel: a scalar
/// write goes to the core's data cache and is written back by whole lines, so two cores writing one
/// line would overwrite each other's ints. Checked by running the lowered kernels core by core (in
/// reverse core order, so that a core reading what another one writes in the same kernel would
/// also show as a wrong table) and comparing the table with a counting sort.
#[test]
fn every_cache_line_is_written_by_one_core() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for cores in [1u32, 3, 48] {
        for (k, e) in [(1u64, 4u64), (8, 64)] {
            let p = program(k, e, cores);
            for t in [0i64, 1, 7, 49, 1000] {
                let dims = |s: moge_lower::Symbol| (s == "T").then_some(t);
                let eval = |x: &HostExpr| x.eval(&dims).unwrap();
                let ids: Vec<i64> = (0..t * k as i64)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed % (e + 2)) as i64 - 1
                    })
                    .collect();
                let mut m = Cores {
                    p: &p,
                    fields: p.fields.values().map(|f| eval(&f.expr)).collect(),
                    gm: p
                        .gm
                        .values()
                        .map(|d| {
                            let n: i64 = d.shape.iter().map(eval).product();
                            match d.kind {
                                v2::GmKind::Input => ids.clone(),
                                _ => vec![-7; n as usize],
                            }
                        })
                        .collect(),
                    writers: vec![],
                };
                for kern in p.kernels.values() {
                    m.writers =
                        m.gm.iter()
                            .map(|b| vec![Default::default(); b.len()])
                            .collect();
                    let n = eval(&kern.block_dim);
                    for core in (0..n).rev() {
                        let mut vars = vec![0; kern.vars.len()];
                        m.run(kern, &kern.body, &mut vars, core, n);
                    }
                    for (g, w) in m.writers.iter().enumerate() {
                        for (line, ints) in w.chunks(16).enumerate() {
                            let by: std::collections::BTreeSet<i64> =
                                ints.iter().flatten().copied().collect();
                            assert!(
                                by.len() <= 1,
                                "{} cores={cores} K={k} E={e} T={t}: line {line} of {} written by cores {by:?}",
                                kern.name,
                                m.p.gm.values().nth(g).unwrap().name
                            );
                        }
                    }
                }
                // The table, against a counting sort with bad ids in bucket E.
                let bucket = |id: i64| {
                    if (0..e as i64).contains(&id) {
                        id as usize
                    } else {
                        e as usize
                    }
                };
                let mut want = vec![];
                for b in 0..=e as usize {
                    want.extend(
                        (0..ids.len())
                            .filter(|&p| bucket(ids[p]) == b)
                            .map(|p| p as i64),
                    );
                }
                let order = p.gm.values().position(|d| d.name == "r_order").unwrap();
                assert_eq!(m.gm[order], want, "cores={cores} K={k} E={e} T={t}");
            }
        }
    }
}
