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
