//! The cube lowering end to end short of `mogec`: kernel IR v2 from `lower_matmul_kernel` and
//! `lower_matmul_mix`, printed by `print_v2`, run on the emulator with races checked.

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
    let program = moge_lower::schedule::cube::lower_matmul_kernel(&graph, op, &target).unwrap();
    let kernel = program.kernels.values().next().unwrap();
    assert!(matches!(kernel.body[0], Stmt::For { .. }));
    let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
    let (name, source) = &sources[0];
    let dims = |s: moge_lower::Symbol| (s == "M").then_some(m as i64);
    let tiling: Vec<u8> = program
        .fields
        .values()
        .flat_map(|f| f.expr.eval(&dims).unwrap().to_le_bytes())
        .collect();
    let block_dim = kernel.block_dim.eval(&dims).unwrap() as u32;
    let (a, b) = inputs(c, m, n, k, seed);
    let bytes =
        |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| bits(c, x).to_le_bytes()).collect() };
    let gm = |name: &str, bytes, is_output| GmArg {
        name: name.to_string(),
        bytes,
        is_output,
    };
    let report = launch_raw(RawLaunch {
        source,
        kernel: name,
        block_dim,
        core_type: CoreType::Aic,
        check: CheckMode::FULL,
        args: vec![
            gm("a", bytes(&a), false),
            gm("b", bytes(&b), false),
            gm("c", vec![0; (m * n * 2) as usize], true),
        ],
        workspace_bytes: 0,
        tiling,
    })
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
    let program =
        moge_lower::schedule::cube::lower_matmul_kernel(&graph, op, &Target::ascend910b2())
            .unwrap();
    let again = moge_lower::schedule::cube::lower_matmul_kernel(&graph, op, &Target::ascend910b2())
        .unwrap();
    assert_eq!(program, again, "deterministic");
    insta::assert_snapshot!(
        "gemm_k1024_n64.kir",
        moge_lower::kir::v2::program_to_string(&program)
    );
    let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
    insta::assert_snapshot!("gemm_k1024_n64.cpp", sources[0].1);
}

/// The MIX lowering (`lower_matmul_mix`): `y = relu(cast<f32>(a @ b))` in kernel IR v2, synchronized
/// by the sync pass, verified, printed and run on the emulator (races checked): bit-equal to the
/// interpreter (the cast and ReLU are exact).
fn mix_program(
    m: u64,
    n: u64,
    k: u64,
    request: TileRequest,
) -> (moge_lower::kir::v2::Program, MatmulPlan) {
    use moge_lower::kir::v2::{check_hazards, insert_sync, verify_program, VecUnary};
    use moge_lower::schedule::cube::lower::MatmulNames;
    use moge_lower::schedule::cube::mix::lower_matmul_mix;
    let target = Target::ascend910b2();
    let p = plan(
        m,
        n,
        k,
        CubeDType::Bf16,
        TileRequest {
            n: Some(n),
            ..request
        },
    );
    let names = MatmulNames {
        program: "mm_relu",
        a: "a",
        b: "b",
        c: "y",
    };
    let mut program = lower_matmul_mix(
        &names,
        &p,
        Some(VecUnary::Relu),
        moge_lower::kir::Expr::dim("M"),
        &target,
    );
    for kernel in program.kernels.values_mut() {
        insert_sync(kernel).unwrap_or_else(|e| panic!("{e}"));
    }
    verify_program(&program, &target)
        .unwrap_or_else(|e| panic!("{e}\n{}", moge_lower::kir::v2::program_to_string(&program)));
    check_hazards(program.kernels.values().next().unwrap()).unwrap();
    (program, p)
}

fn run_mix_program(
    program: &moge_lower::kir::v2::Program,
    source: &str,
    m: u64,
    n: u64,
    k: u64,
    seed: u64,
) -> Result<Vec<f32>, EmuError> {
    let dims = |s: moge_lower::Symbol| (s == "M").then_some(m as i64);
    let kernel = program.kernels.values().next().unwrap();
    let (a, b) = inputs(CubeDType::Bf16, m, n, k, seed);
    let bytes = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|&x| bits(CubeDType::Bf16, x).to_le_bytes())
            .collect()
    };
    let gm = |name: &str, bytes, is_output| GmArg {
        name: name.to_string(),
        bytes,
        is_output,
    };
    let report = launch_raw(RawLaunch {
        source,
        kernel: &kernel.name,
        block_dim: kernel.block_dim.eval(&dims).unwrap() as u32,
        core_type: CoreType::MixAic1_2,
        check: CheckMode::FULL,
        args: vec![
            gm("a", bytes(&a), false),
            gm("b", bytes(&b), false),
            gm("y", vec![0; (m * n * 4) as usize], true),
        ],
        workspace_bytes: program.workspace.eval(&dims).unwrap() as usize,
        tiling: program
            .fields
            .values()
            .flat_map(|f| f.expr.eval(&dims).unwrap().to_le_bytes())
            .collect(),
    })?;
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
    let many = TileRequest {
        m: Some(16),
        block_dim: Some(3),
        ..TileRequest::default()
    };
    for (m, n, k, request) in [
        (1, 64, 64, TileRequest::default()),
        (127, 64, 1000, many),
        (300, 64, 5120, TileRequest::default()),
    ] {
        let (program, _) = mix_program(m, n, k, request);
        let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
        run_mix_program(&program, &sources[0].1, m, n, k, m + k)
            .unwrap_or_else(|e| panic!("{m}x{n}x{k}: {e}\n{}", sources[0].1));
    }
}

#[test]
fn deleting_any_cross_core_flag_of_the_lowered_mix_kernel_is_reported() {
    use moge_lower::kir::v2::InstData;
    let many = TileRequest {
        m: Some(16),
        block_dim: Some(2),
        ..TileRequest::default()
    };
    let (program, _) = mix_program(100, 64, 64, many);
    let kernel = program.kernels.values().next().unwrap();
    let mut deleted = 0;
    for inst in kernel.inst_order() {
        if !matches!(
            kernel.insts[inst],
            InstData::CrossCoreSetFlag { .. } | InstData::CrossCoreWaitFlag { .. }
        ) {
            continue;
        }
        let mut broken = program.clone();
        assert!(broken.kernels.values_mut().next().unwrap().detach(inst));
        let source = moge_codegen_ascendc::print_v2::print_program(&broken)
            .unwrap()
            .remove(0)
            .1;
        match run_mix_program(&broken, &source, 100, 64, 64, 9) {
            Err(EmuError::Violation { .. }) => deleted += 1,
            Err(other) => panic!("without {inst}: another error: {other}"),
            Ok(_) => panic!(
                "without {inst} ({:?}): nothing reported",
                kernel.insts[inst]
            ),
        }
    }
    assert_eq!(deleted, 2, "the cross-core set and wait");
}

#[test]
fn mix_matmul_relu_kernel_ir_and_ascend_c_snapshots() {
    // The router's projection shape (T x 5120 . 5120 x 64) with a ReLU epilogue.
    let (program, _) = mix_program(4096, 64, 5120, TileRequest::default());
    insta::assert_snapshot!(
        "mix_relu_k5120_n64.kir",
        moge_lower::kir::v2::program_to_string(&program)
    );
    let sources = moge_codegen_ascendc::print_v2::print_program(&program).unwrap();
    insta::assert_snapshot!("mix_relu_k5120_n64.cpp", sources[0].1);
}
