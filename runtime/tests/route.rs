//! Device routing (`schedule::moe::route`) on the emulator with every check on: the two scalar AIV
//! kernels printed by `print_v2`, launched in order with the intermediate histogram passed from the
//! first to the second, compared with the interpreter's `route` and with a plain counting sort
//! written here; out-of-range ids go to the bucket after the last expert; results are the same for
//! 1, 3 and 48 vector cores.

use std::collections::HashMap;

use moge_lower::interp::{route, Tensor};
use moge_lower::kir::v2::{self, GmKind, HostExpr, Program};
use moge_lower::schedule::moe::route::{lower_route, RouteNames};
use moge_lower::target::Target;
use moge_runtime::emulator::{launch_raw, CheckMode, CoreType, EmuError, GmArg, RawLaunch};

mod common;
use common::{bytes_i32, Rng};

const NAMES: RouteNames<'static> = RouteNames {
    program: "route",
    ids: "expert_ids",
    routes: "r",
};

/// The routing program for `cores` vector cores, verified and hazard-free.
fn program(k: u64, e: u64, cores: u32) -> Program {
    let target = Target {
        vector_cores: cores,
        ..Target::ascend910b2()
    };
    let p = lower_route(&NAMES, HostExpr::dim("T"), k, e, &target);
    v2::verify_program(&p, &target).unwrap_or_else(|err| panic!("{err}"));
    for kern in p.kernels.values() {
        v2::check_hazards(kern).unwrap_or_else(|err| panic!("{err}"));
    }
    p
}

/// What the program wrote.
#[derive(PartialEq, Eq, Debug)]
struct Table {
    order: Vec<i32>,
    position: Vec<i32>,
    offsets: Vec<i32>,
    invalid: i32,
}

/// Runs every kernel of `p` in launch order at `T = t` on `ids` and returns table `r`.
fn run(p: &Program, t: u64, ids: &[i32]) -> Result<Table, EmuError> {
    Ok(run_tables(p, t, ids, &["r"])?.remove(0))
}

/// Runs every kernel of `p` in launch order at `T = t` on `ids` (its only input); GM buffers
/// persist across kernels by name (outputs and intermediates start as 0xFF bytes, as the runtime
/// fills them), each kernel gets a fresh workspace. Returns the tables named `routes`.
fn run_tables(p: &Program, t: u64, ids: &[i32], routes: &[&str]) -> Result<Vec<Table>, EmuError> {
    let dims = |s: moge_lower::Symbol| (s == "T").then_some(t as i64);
    let eval = |e: &HostExpr| e.eval(&dims).unwrap();
    let mut gm: HashMap<String, Vec<u8>> = HashMap::new();
    for d in p.gm.values() {
        let elems: i64 = d.shape.iter().map(eval).product();
        let bytes = match d.kind {
            GmKind::Input => ids.iter().flat_map(|v| v.to_le_bytes()).collect(),
            _ => vec![0xFF; elems as usize * 4],
        };
        gm.insert(d.name.clone(), bytes);
    }
    let tiling: Vec<u8> = p
        .fields
        .values()
        .flat_map(|f| eval(&f.expr).to_le_bytes())
        .collect();
    let sources = moge_codegen_ascendc::print_v2::print_program(p).unwrap();
    for (kern, (name, source)) in p.kernels.values().zip(&sources) {
        let params: Vec<_> = kern
            .params
            .iter()
            .filter(|g| p.gm[**g].kind.is_param())
            .map(|g| &p.gm[*g])
            .collect();
        let args = params
            .iter()
            .map(|d| GmArg {
                name: d.name.clone(),
                bytes: gm[&d.name].clone(),
                is_output: d.kind != GmKind::Input,
            })
            .collect();
        let report = launch_raw(RawLaunch {
            source,
            kernel: name,
            block_dim: eval(&kern.block_dim) as u32,
            core_type: CoreType::Aiv,
            check: CheckMode::FULL,
            args,
            workspace_bytes: eval(&p.workspace) as usize,
            tiling: tiling.clone(),
        })?;
        for a in report.args {
            gm.insert(a.name, a.bytes);
        }
    }
    Ok(routes
        .iter()
        .map(|r| {
            let get = |n: &str| bytes_i32(&gm[&format!("{r}_{n}")]);
            Table {
                order: get("order"),
                position: get("position"),
                offsets: get("offsets"),
                invalid: get("invalid")[0],
            }
        })
        .collect())
}

/// A plain stable counting sort with bad ids in a last bucket, from the routing table's definition.
fn counting_sort(ids: &[i32], e: usize) -> Table {
    let bucket = |id: i32| usize::try_from(id).ok().filter(|&x| x < e).unwrap_or(e);
    let mut counts = vec![0usize; e + 1];
    for &id in ids {
        counts[bucket(id)] += 1;
    }
    let mut offsets = vec![0usize; e + 2];
    for b in 0..=e {
        offsets[b + 1] = offsets[b] + counts[b];
    }
    let mut next = offsets.clone();
    let mut order = vec![0; ids.len()];
    let mut position = vec![0; ids.len()];
    for (p, &id) in ids.iter().enumerate() {
        let d = next[bucket(id)];
        next[bucket(id)] += 1;
        order[d] = p as i32;
        position[p] = d as i32;
    }
    Table {
        order,
        position,
        offsets: offsets[..=e].iter().map(|&x| x as i32).collect(),
        invalid: counts[e] as i32,
    }
}

/// Id patterns of `t` tokens with `k` slots over `e` experts.
fn pattern(name: &str, t: usize, k: usize, e: usize, rng: &mut Rng) -> Vec<i32> {
    let mut ids = Vec::with_capacity(t * k);
    for _ in 0..t {
        for slot in 0..k {
            let id = match name {
                "uniform" => rng.below(e as u64) as usize,
                // Groups of experts, one per slot (as MoGE's group top-1); inside a group a
                // Zipf-like choice: expert i of the group with weight about 1/(i+1).
                "skewed" => {
                    let groups = k.min(e);
                    let size = e / groups;
                    let g = slot % groups;
                    let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
                    let i = ((size as f64 + 1.0).powf(u) - 1.0) as usize;
                    g * size + i.min(size - 1)
                }
                "one" => e - 1,
                // Only every third expert gets tokens: the others are empty.
                "sparse" => (rng.below(e.div_ceil(3) as u64) as usize) * 3,
                _ => unreachable!(),
            };
            ids.push(id as i32);
        }
    }
    ids
}

/// The interpreter's routing table as the program's i32 outputs.
fn interp(ids: &[i32], t: usize, k: usize, e: usize) -> Table {
    let x = Tensor::from_i32(vec![t, k], ids.to_vec()).unwrap();
    let r = route(&x, e).unwrap();
    let i = |v: &[usize]| v.iter().map(|&x| x as i32).collect::<Vec<_>>();
    Table {
        order: i(&r.order),
        position: i(&r.position),
        offsets: i(&r.offsets),
        invalid: 0,
    }
}

#[test]
fn routing_on_the_emulator_matches_the_interpreter_and_a_counting_sort() {
    let mut rng = Rng(0x5eed_0008);
    for (k, e) in [(1u64, 4u64), (8, 4), (1, 64), (8, 64)] {
        let p = program(k, e, 48);
        for t in [0u64, 1, 7, 48, 49, 1000] {
            for name in ["uniform", "skewed", "one", "sparse"] {
                let ids = pattern(name, t as usize, k as usize, e as usize, &mut rng);
                let got = run(&p, t, &ids)
                    .unwrap_or_else(|err| panic!("{name} T={t} K={k} E={e}: {err}"));
                let want = interp(&ids, t as usize, k as usize, e as usize);
                assert_eq!(got, want, "{name} T={t} K={k} E={e}");
                assert_eq!(
                    got,
                    counting_sort(&ids, e as usize),
                    "{name} T={t} K={k} E={e}"
                );
            }
        }
    }
}

#[test]
fn out_of_range_ids_go_to_the_last_bucket_and_are_counted() {
    let mut rng = Rng(0xbad1d5);
    let (k, e) = (8u64, 64u64);
    let p = program(k, e, 48);
    for t in [1u64, 7, 49, 1000] {
        let mut ids = pattern("uniform", t as usize, k as usize, e as usize, &mut rng);
        // Every 5th slot a bad id, cycling through -1, E, i32::MAX and i32::MIN.
        let bad = [-1, e as i32, i32::MAX, i32::MIN];
        for (n, p) in (0..ids.len()).step_by(5).enumerate() {
            ids[p] = bad[n % bad.len()];
        }
        let got = run(&p, t, &ids).unwrap_or_else(|err| panic!("T={t}: {err}"));
        let want = counting_sort(&ids, e as usize);
        assert_eq!(got, want, "T={t}");
        let invalid = ids.len().div_ceil(5) as i32;
        assert_eq!(got.invalid, invalid, "T={t}");
        assert_eq!(
            got.offsets[e as usize],
            (ids.len() as i32) - invalid,
            "T={t}"
        );
        // order and position are inverse permutations of 0..T*K.
        for (p, &d) in got.position.iter().enumerate() {
            assert_eq!(got.order[d as usize], p as i32, "T={t} slot {p}");
        }
        // The bad slots hold the last rows, in slot order.
        let tail: Vec<i32> = got.order[want.offsets[e as usize] as usize..].to_vec();
        let bad_slots: Vec<i32> = (0..ids.len() as i32).step_by(5).collect();
        assert_eq!(tail, bad_slots, "T={t}");
    }
    // All ids bad: nothing routed to an expert.
    let ids = vec![-1; 7 * 8];
    let got = run(&p, 7, &ids).unwrap();
    assert_eq!(got.offsets, vec![0; 65]);
    assert_eq!(got.invalid, 56);
    assert_eq!(got.order, (0..56).collect::<Vec<_>>());
}

#[test]
fn the_result_is_the_same_for_1_3_and_48_vector_cores() {
    let mut rng = Rng(0xc0de5);
    for (k, e) in [(1u64, 4u64), (8, 64)] {
        let programs: Vec<Program> = [1, 3, 48].iter().map(|&c| program(k, e, c)).collect();
        for t in [0u64, 1, 7, 49, 1000] {
            let mut ids = pattern("skewed", t as usize, k as usize, e as usize, &mut rng);
            if let Some(x) = ids.get_mut(3) {
                *x = -7;
            }
            let want = counting_sort(&ids, e as usize);
            for (cores, p) in [1, 3, 48].iter().zip(&programs) {
                let got = run(p, t, &ids)
                    .unwrap_or_else(|err| panic!("{cores} cores T={t} K={k} E={e}: {err}"));
                assert_eq!(got, want, "{cores} cores T={t} K={k} E={e}");
            }
        }
    }
}

#[test]
fn t_zero_launches_one_core_and_writes_zero_offsets() {
    let p = program(8, 4, 48);
    for kern in p.kernels.values() {
        let dims = |s: moge_lower::Symbol| (s == "T").then_some(0);
        assert_eq!(kern.block_dim.eval(&dims).unwrap(), 1, "{}", kern.name);
    }
    let got = run(&p, 0, &[]).unwrap();
    assert_eq!(
        got,
        Table {
            order: vec![],
            position: vec![],
            offsets: vec![0; 5],
            invalid: 0
        }
    );
}

/// Writes the emitted sources to `MOGE_ROUTE_DUMP` when set (for type-checking them against the CANN
/// headers outside the test suite).
#[test]
fn emitted_sources_declare_both_kernels() {
    let p = program(8, 64, 48);
    let sources = moge_codegen_ascendc::print_v2::print_program(&p).unwrap();
    let names: Vec<&str> = sources.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["route_histogram", "route_scatter"]);
    for (name, source) in &sources {
        assert!(
            source.contains(&format!("__global__ __aicore__ void {name}(")),
            "{source}"
        );
        if let Some(dir) = std::env::var_os("MOGE_ROUTE_DUMP") {
            std::fs::write(
                std::path::Path::new(&dir).join(format!("{name}.cpp")),
                source,
            )
            .unwrap();
        }
    }
}

/// Two routing programs linked into one (`kir::v2::Linker`, as a fused layer links its parts): they
/// share the ids and the equal tiling fields by name, keep their own tables, intermediates and
/// kernels, and the linked program verifies and computes both tables.
#[test]
fn two_linked_routing_programs_share_the_ids_and_keep_their_tables() {
    let target = Target::ascend910b2();
    let mut linker = v2::Linker::new("two", vec![moge_lower::Symbol::intern("T")]);
    for (program, routes, e) in [("a", "ra", 4u64), ("b", "rb", 64)] {
        let names = RouteNames {
            program,
            ids: "expert_ids",
            routes,
        };
        linker
            .link(lower_route(&names, HostExpr::dim("T"), 8, e, &target))
            .unwrap();
    }
    let p = linker.finish();
    v2::verify_program(&p, &target).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(p.kernels.len(), 4);
    assert_eq!(
        p.gm.values().filter(|d| d.kind == GmKind::Input).count(),
        1,
        "{}",
        v2::program_to_string(&p)
    );
    let mut rng = Rng(0x11ed);
    let ids = pattern("uniform", 49, 8, 4, &mut rng);
    let got = run_tables(&p, 49, &ids, &["ra", "rb"]).unwrap();
    assert_eq!(got[0], counting_sort(&ids, 4));
    assert_eq!(got[1], counting_sort(&ids, 64));
}
