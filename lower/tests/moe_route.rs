//! The routing lowering's program (`schedule::moe::route`): verified, hazard-free as lowered (the
//! sync pass has nothing to add), printed and parsed back, with the caller's buffer names.

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
