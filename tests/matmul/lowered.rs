//! The cube lowering end to end short of `mogec`: kernel IR v2 from `lower_matmul_kernel` and
//! `lower_mix_group`, printed by `print_v2`, run on the emulator with races checked.

use super::*;

/// The whole cube path short of `mogec`: a one-matmul graph kernel (dynamic M, static N and K) lowered
/// to kernel IR v2 (`lower_matmul_kernel`), printed to Ascend C (`print_v2`), run on the emulator with
/// races checked and compared with the interpreter bit for bit.
fn run_lowered(m: u64, n: u64, k: u64, c: CubeDType, seed: u64) {
    use moge_lower::kir::v2::Stmt;
    let d = c.name();
    let text = format!(
        "kernel gemm(a: {d}[M, {k}], b: {d}[{k}, {n}]) -> (c: {d}[M, {n}]) {{
  dyn M
  v0 = param 0 : {d}[M, {k}]
  v1 = param 1 : {d}[{k}, {n}]
  v2 = matmul v0, v1 : {d}[M, {n}]
  return c = v2
}}"
    );
    let graph = parse_kernel(&text).unwrap();
    let op = graph.order[2];
    let target = Target::ascend910b2();
    let program =
        moge_lower::schedule::cube::lower_matmul_kernel(&graph, op, &target, Default::default())
            .unwrap();
    let kernel = program.kernels.values().next().unwrap();
    assert!(matches!(kernel.body[0], Stmt::For { .. }));
    let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
    let (_, source) = &sources[0];
    let (a, b) = inputs(c, m, n, k, seed);
    let bytes =
        |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| bits(c, x).to_le_bytes()).collect() };
    let args = vec![
        gm("a", bytes(&a), false),
        gm("b", bytes(&b), false),
        gm("c", vec![0; (m * n * 2) as usize], true),
    ];
    let report = launch_at_m(&program, source, m, CoreType::Aic, args)
        .unwrap_or_else(|e| panic!("{m}x{n}x{k} {c}: {e}\n{source}"));
    let got: Vec<f32> = report.args[2]
        .bytes
        .chunks_exact(2)
        .map(|x| value(c, u16::from_le_bytes([x[0], x[1]])))
        .collect();
    let want = interpret(c, m, n, k, &a, &b);
    for i in 0..got.len() {
        assert_eq!(
            got[i].to_bits(),
            want[i].to_bits(),
            "{m}x{n}x{k} {c} element {i}: {} vs {}",
            got[i],
            want[i]
        );
    }
}

#[test]
fn the_lowered_matmul_printed_to_ascend_c_matches_the_interpreter_on_the_emulator() {
    run_lowered(1, 64, 64, CubeDType::Bf16, 31);
    run_lowered(127, 100, 1000, CubeDType::F16, 32);
    run_lowered(200, 64, 5120, CubeDType::Bf16, 33);
}

#[test]
fn gemm_example_kernel_ir_and_ascend_c_snapshots() {
    use moge_examples::matmul::gemm;
    let graph = gemm::<1024, 64>::graph().unwrap();
    let op = *graph
        .order
        .iter()
        .find(|&&op| graph.ops[op].kind.name() == "matmul")
        .unwrap();
    let program = moge_lower::schedule::cube::lower_matmul_kernel(
        &graph,
        op,
        &Target::ascend910b2(),
        Default::default(),
    )
    .unwrap();
    let again = moge_lower::schedule::cube::lower_matmul_kernel(
        &graph,
        op,
        &Target::ascend910b2(),
        Default::default(),
    )
    .unwrap();
    assert_eq!(program, again, "deterministic");
    insta::assert_snapshot!(
        "gemm_k1024_n64.kir",
        moge_lower::kir::v2::program_to_string(&program)
    );
    let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
    insta::assert_snapshot!("gemm_k1024_n64.cpp", sources[0].1);
}

/// The MIX lowering (`lower_mix_group`) of `y = relu(cast<f32>(a @ b))` (graph IR with the tile
/// hints `hints` on the matmul), synchronized by the sync pass, verified, printed and run on the
/// emulator (races checked): bit-equal to the interpreter (the cast and ReLU are exact).
fn mix_program(n: u64, k: u64, hints: &str) -> moge_lower::kir::v2::Program {
    let text = format!(
        "kernel mm_relu(a: bf16[M, {k}], b: bf16[{k}, {n}]) -> (y: f32[M, {n}]) {{
  dyn M
  v0 = param 0 : bf16[M, {k}]
  v1 = param 1 : bf16[{k}, {n}]
  {hints}
  v2 = matmul v0, v1 : bf16[M, {n}]
  v3 = cast v2, to=f32 : f32[M, {n}]
  v4 = relu v3 : f32[M, {n}]
  return y = v4
}}"
    );
    let graph = parse_kernel(&text).unwrap();
    let (op, epilogue) = moge_codegen_ascendc::cube::mix_group(&graph).expect("a MIX group");
    let target = Target::ascend910b2();
    moge_lower::schedule::cube::mix::lower_mix_group(
        &graph,
        op,
        &epilogue,
        &target,
        Default::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn run_mix_program(
    program: &moge_lower::kir::v2::Program,
    source: &str,
    m: u64,
    n: u64,
    k: u64,
    seed: u64,
) -> Result<Vec<f32>, EmuError> {
    let (a, b) = inputs(CubeDType::Bf16, m, n, k, seed);
    let bytes = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|&x| bits(CubeDType::Bf16, x).to_le_bytes())
            .collect()
    };
    let args = vec![
        gm("a", bytes(&a), false),
        gm("b", bytes(&b), false),
        gm("y", vec![0; (m * n * 4) as usize], true),
    ];
    let report = launch_at_m(program, source, m, CoreType::MixAic1_2, args)?;
    let got: Vec<f32> = report.args[2]
        .bytes
        .chunks_exact(4)
        .map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        .collect();
    let logits = interpret(CubeDType::Bf16, m, n, k, &a, &b);
    for (i, (g, l)) in got.iter().zip(&logits).enumerate() {
        assert_eq!(
            g.to_bits(),
            l.max(0.0).to_bits(),
            "{m}x{n}x{k} element {i}: {g} vs relu({l})"
        );
    }
    Ok(got)
}

#[test]
fn the_lowered_mix_kernel_runs_matmul_and_epilogue_on_the_emulator() {
    let many = "#[tile(m = 16)]\n  #[block_dim(n = 3)]";
    for (m, n, k, hints) in [(1, 64, 64, ""), (127, 64, 1000, many), (300, 64, 5120, "")] {
        let program = mix_program(n, k, hints);
        let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
        run_mix_program(&program, &sources[0].1, m, n, k, m + k)
            .unwrap_or_else(|e| panic!("{m}x{n}x{k}: {e}\n{}", sources[0].1));
    }
}

/// Deleting any one cross-core flag of the workspace protocol: the hazard verifier reports every
/// one (a wait left without its set, or a set nobody waits for); the emulator reports each deletion
/// that lets a core read or write a slot too early (a race) or wait for ever (a deadlock). Deleting
/// the AIC's final drain wait only leaves counts behind, which the emulator does not check; deleting
/// the AIVs' mode-1 pair wait is a race only when one AIV runs ahead, so it is not asserted here.
#[test]
fn deleting_any_cross_core_flag_of_the_lowered_mix_kernel_is_reported() {
    use moge_lower::kir::v2::{check_hazards, InstData};
    // 100 rows in tiles of 16 on 2 AI cores: 4 tiles each, so both slots are reused.
    let program = mix_program(64, 64, "#[tile(m = 16)]\n  #[block_dim(n = 2)]");
    let kernel = program.kernels.values().next().unwrap();
    let mut by_emulator = vec![];
    let mut cross = 0;
    for inst in kernel.inst_order() {
        let d = &kernel.insts[inst];
        if !matches!(
            d,
            InstData::CrossCoreSetFlag { .. } | InstData::CrossCoreWaitFlag { .. }
        ) {
            continue;
        }
        cross += 1;
        let mut broken = program.clone();
        let bk = broken.kernels.values_mut().next().unwrap();
        assert!(bk.detach(inst));
        assert!(
            check_hazards(bk).is_err(),
            "without {inst} ({d:?}): the verifier saw nothing"
        );
        let source = moge_codegen_ascendc::print_v2::print_program(&broken)
            .unwrap()
            .remove(0)
            .1;
        match run_mix_program(&broken, &source, 100, 64, 64, 9) {
            Err(EmuError::Violation { .. }) => by_emulator.push(format!("{d:?}")),
            Err(other) => panic!("without {inst}: another error: {other}"),
            Ok(_) => {}
        }
    }
    assert_eq!(cross, 8, "the protocol's cross-core flags");
    for needed in [
        "CrossCoreWaitFlag { mode: 2, pipe: Mte2, flag: 1 }",
        "CrossCoreSetFlag { mode: 2, pipe: Fix, flag: 1 }",
        "CrossCoreWaitFlag { mode: 2, pipe: Fix, flag: 2 }",
        "CrossCoreSetFlag { mode: 2, pipe: Mte2, flag: 2 }",
        "CrossCoreSetFlag { mode: 1, pipe: Mte2, flag: 3 }",
    ] {
        assert!(
            by_emulator.iter().any(|d| d == needed),
            "the emulator reports deleting {needed}: {by_emulator:?}"
        );
    }
}

#[test]
fn mix_matmul_relu_kernel_ir_and_ascend_c_snapshots() {
    // The router's projection shape (T x 5120 . 5120 x 64) with a ReLU epilogue.
    let program = mix_program(64, 5120, "");
    insta::assert_snapshot!(
        "mix_relu_k5120_n64.kir",
        moge_lower::kir::v2::program_to_string(&program)
    );
    let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
    insta::assert_snapshot!("mix_relu_k5120_n64.cpp", sources[0].1);
}
