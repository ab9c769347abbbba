//! The sync pass and the hazard verifier must do work linear in the kernel's size: they once made
//! `mogec build` cubic (a kernel of 1,000 additions took 108 s). Their work is counted, not timed (a
//! timing assertion fails on a busy machine): repair rounds, and earlier accesses compared with new
//! ones. Wall-clock figures are in docs/performance.md §6.

use moge_lower::kir::v2;
use moge_lower::schedule::{program::to_program, schedule_kernel, ScheduleOptions};
use moge_lower::target::Target;

/// The source of a kernel returning `x + x + ... + x` with `n` terms.
fn sum_source(n: usize) -> String {
    format!(
        "use moge::prelude::*;\n#[moge::kernel]\npub fn k<const N: usize>(x: Tensor<f32, (T, N)>) \
         -> Tensor<f32, (T, N)> {{\n{}\n}}\n",
        vec!["x"; n].join(" + ")
    )
}

/// The specialized graph kernel of [`sum_source`] with `N = 16`.
fn sum_kernel(n: usize) -> moge_lower::graph::Kernel {
    moge_dsl::check_source(&sum_source(n))
        .expect("valid Rust")
        .kernels
        .into_iter()
        .next()
        .expect("one kernel")
        .result
        .expect("it checks")
        .specialize(&[("N", 16)])
        .expect("it specializes")
}

/// The `n`-term kernel scheduled into kernel IR v2 with every `PipeBarrier` taken out again, and the
/// work the sync pass then does to put them back, after which the kernel must be proved race free.
fn resync(n: usize) -> (usize, v2::SyncWork) {
    let target = Target::ascend910b2();
    let kernel = sum_kernel(n);
    let schedules = schedule_kernel(&kernel, &target, &ScheduleOptions::default()).unwrap();
    let program = to_program(&kernel, &schedules, &target).unwrap_or_else(|e| panic!("{e}"));
    v2::verify_program(&program, &target).unwrap();
    let mut k = program.kernels.values().next().expect("one kernel").clone();
    let barriers: Vec<v2::Inst> = k
        .inst_order()
        .into_iter()
        .filter(|&i| matches!(k.insts[i], v2::InstData::PipeBarrier(_)))
        .collect();
    for &i in &barriers {
        assert!(k.detach(i));
    }
    let (stats, work) = v2::insert_sync_measured(&mut k).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stats.barriers,
        barriers.len(),
        "n = {n}: the pass puts back what was taken"
    );
    v2::check_hazards(&k).unwrap_or_else(|e| panic!("{e}"));
    (barriers.len(), work)
}

#[test]
fn the_sync_pass_and_the_hazard_verifier_do_linear_work() {
    let (small_barriers, small) = resync(2000);
    let (large_barriers, large) = resync(8000);
    // n terms are n - 1 additions, each after the first reading the one before: n - 2 barriers.
    assert_eq!((small_barriers, large_barriers), (1998, 7998));
    // Repairs come in a few rounds whatever the size (one round per race made it cubic).
    assert!(
        large.rounds <= 4 && large.rounds == small.rounds,
        "{small:?} vs {large:?}"
    );
    // Four times the instructions, about four times the comparisons (quadratic would be sixteen).
    assert!(
        large.compared <= small.compared * 5,
        "n = 8000 compared {} accesses, n = 2000 {}: the hazard check is superlinear",
        large.compared,
        small.compared
    );
}
