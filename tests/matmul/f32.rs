//! f32 matmul on the cube path: the kernel of `lower_matmul_kernel` (B staged in 16-row K groups and
//! loaded into L0B by `LoadDataWithTranspose`, which transposes 32-bit fractals in pairs), printed to
//! Ascend C and run on the emulator with races checked, against the interpreter and a plain f64
//! product; and a control with a wrong L0B layout that gives wrong numbers.
//!
//! Sizes: eight kernels (N, K) = (S[i], S[i + 3]) over S = {1, 15, 16, 17, 64, 127, 128, 1000}, each run
//! at two M (S[i] and S[i + 5]): every size appears in each of the M, N and K positions, with eight
//! C++ compiles rather than 24 (N and K are compile-time constants of the kernel, M is not).

use moge_lower::kir::v2::{parse_program, program_to_string, Program};

use super::*;

/// The AIC program of `c = a @ b` in f32 with dynamic M and the given N and K.
fn f32_program(n: u64, k: u64) -> Program {
    let text = format!(
        "kernel gemm_f32(a: f32[M, {k}], b: f32[{k}, {n}]) -> (c: f32[M, {n}]) {{
  dyn M
  v0 = param 0 : f32[M, {k}]
  v1 = param 1 : f32[{k}, {n}]
  v2 = matmul v0, v1 : f32[M, {n}]
  return c = v2
}}"
    );
    let graph = parse_kernel(&text).unwrap();
    let op = graph.order[2];
    moge_lower::schedule::cube::lower_matmul_kernel(
        &graph,
        op,
        &Target::ascend910b2(),
        Default::default(),
    )
    .unwrap()
}

/// Full-precision f32 inputs in [-1, 1) (not rounded to a narrower type: the f32 products must be
/// exact f32 products).
fn f32_inputs(m: u64, n: u64, k: u64, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng(seed * 0x9e37_79b9 + 7);
    let a = (0..m * k).map(|_| rng.unit()).collect();
    let b = (0..k * n).map(|_| rng.unit()).collect();
    (a, b)
}

/// Runs `source` (the printed kernel of `program`) at M = `m` and returns C.
fn run_f32(program: &Program, source: &str, m: u64, a: &[f32], b: &[f32]) -> Vec<f32> {
    let dims = |s: moge_lower::Symbol| (s == "M").then_some(m as i64);
    let bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let n = program.gm.values().nth(1).unwrap().shape[1]
        .eval(&dims)
        .unwrap() as usize;
    let args = vec![
        gm("a", bytes(a), false),
        gm("b", bytes(b), false),
        gm("c", vec![0; m as usize * n * 4], true),
    ];
    let report = launch_at_m(program, source, m, CoreType::Aic, args)
        .unwrap_or_else(|e| panic!("M = {m}: {e}\n{source}"));
    report.args[2]
        .bytes
        .chunks_exact(4)
        .map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        .collect()
}

#[test]
fn f32_matmul_sizes_on_the_emulator_match_the_interpreter_and_f64() {
    for i in 0..8 {
        let (n, k) = (SIZES[i], SIZES[(i + 3) % 8]);
        let program = f32_program(n, k);
        // The text form keeps the new operands (dst_offset, frac_gap) through a round trip.
        let text = program_to_string(&program);
        assert!(text.contains("frac_gap=") || n <= 16, "{text}");
        assert!(text.contains("dst_offset="), "{text}");
        assert_eq!(program_to_string(&parse_program(&text).unwrap()), text);
        let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
        let source = &sources[0].1;
        assert!(
            source.contains("AscendC::LoadDataWithTranspose("),
            "{source}"
        );
        assert!(!source.contains("ifTranspose = true"), "{source}");
        for m in [SIZES[i], SIZES[(i + 5) % 8]] {
            let (a, b) = f32_inputs(m, n, k, (i as u64) * 10 + m);
            let got = run_f32(&program, source, m, &a, &b);
            let interp = interpret(CubeDType::F32, m, n, k, &a, &b);
            let (want, mag) = reference(m, n, k, &a, &b);
            for e in 0..got.len() {
                // Bit-equal to the interpreter: both form f32 products and add them in K order in f32
                // (no HF32: SetHF32Mode is off unless a kernel turns it on).
                assert_eq!(
                    got[e].to_bits(),
                    interp[e].to_bits(),
                    "{m}x{n}x{k} f32 element {e}: emulator {} vs interpreter {}",
                    got[e],
                    interp[e]
                );
                // The f64 product within K product roundings and K - 1 sum roundings of 2^-24 each,
                // every one bounded by the sum of the magnitudes of the products.
                let bound = k as f64 * 2f64.powi(-24) * mag[e] * 1.01 + 1e-30;
                assert!(
                    (f64::from(got[e]) - want[e]).abs() <= bound,
                    "{m}x{n}x{k} f32 element {e}: {} vs f64 {}",
                    got[e],
                    want[e]
                );
            }
        }
    }
}

#[test]
fn an_f32_matmul_with_a_wrong_l0b_layout_gives_wrong_numbers() {
    // Two N blocks of 16 (n1 = 2), so the two halves of each transposed square must land n1 fractals
    // apart in L0B's ZN order; with dstFracGap = 0 they land side by side and the next square
    // overwrites one of them: B is read in another layout.
    let (m, n, k) = (20, 32, 48);
    let program = f32_program(n, k);
    let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
    let source = &sources[0].1;
    let (a, b) = f32_inputs(m, n, k, 5);
    let right = run_f32(&program, source, m, &a, &b);
    let interp = interpret(CubeDType::F32, m, n, k, &a, &b);
    assert_eq!(right, interp, "the kernel as lowered is right");
    let gap = "p.dstFracGap = static_cast<uint16_t>(1LL);";
    assert!(source.contains(gap), "{source}");
    let broken = source.replace(gap, "p.dstFracGap = 0;");
    let wrong = run_f32(&program, &broken, m, &a, &b);
    let (want, mag) = reference(m, n, k, &a, &b);
    let off = (0..wrong.len())
        .filter(|&e| (f64::from(wrong[e]) - want[e]).abs() > 1e-3 * mag[e].max(1.0))
        .count();
    // The misplaced halves give output columns wrong or missing K halves; how many elements come out
    // wrong depends on what the unwritten L0B fractals held (319 of 640 here), so a large share is
    // asserted.
    assert!(
        off * 4 > wrong.len(),
        "only {off} of {} elements wrong with a wrong L0B layout",
        wrong.len()
    );
}
