//! Compile time must grow about linearly with kernel size: the sync pass and the hazard verifier once
//! made `mogec build` cubic (a kernel of 1,000 additions took 108 s).

use std::time::{Duration, Instant};

use moge_codegen_ascendc::compile_program;
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

/// The time `mogec build --emit ascendc` spends on the `n`-term kernel, as the library runs it.
fn build_time(n: usize) -> Duration {
    let kernel = sum_kernel(n);
    let start = Instant::now();
    let program = compile_program(&kernel, &Target::ascend910b2()).expect("it compiles");
    let took = start.elapsed();
    assert_eq!(program.kernels.len(), 1);
    took
}

#[test]
fn compile_time_of_a_long_sum_is_about_linear_and_the_result_verifies() {
    // The best of two runs of the small size, so that a stall of the shared machine does not make it
    // look fast by comparison.
    let small = build_time(2000).min(build_time(2000));
    let large = build_time(8000);
    assert!(
        large < small * 8,
        "n = 8000 took {large:?}, over 8 times n = 2000 ({small:?}): compile time is superlinear"
    );

    // The synchronized kernel is still proved race free, with one barrier per dependent addition.
    let target = Target::ascend910b2();
    let kernel = sum_kernel(8000);
    let schedules = schedule_kernel(&kernel, &target, &ScheduleOptions::default()).unwrap();
    let program = to_program(&kernel, &schedules, &target).unwrap_or_else(|e| panic!("{e}"));
    v2::verify_program(&program, &target).unwrap();
    for k in program.kernels.values() {
        v2::check_hazards(k).unwrap_or_else(|e| panic!("{e}"));
    }
}
