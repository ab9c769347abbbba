//! Snapshots of what the compiler makes of every vector example kernel in `examples/src`: the
//! scheduled kernel IR, the Ascend C of each device kernel and the manifest, at the configs the
//! examples are meant for (Pangu Pro MoE's for the gate, plus a non-power-of-two one).
//!
//! The kernels go through the same path as `mogec build`: the frontend on the file's text, then
//! specialization, then `compile_program`. Each case also checks that compiling twice gives the same
//! bytes.

use std::path::Path;

use moge_codegen_ascendc::{compile_program, Program};
use moge_lower::target::Target;

/// Kernel `name` of `examples/src/<file>`, specialized with the static dims `set`.
fn example_kernel(file: &str, name: &str, set: &[(&str, i64)]) -> moge_lower::graph::Kernel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/src")
        .join(file);
    let source = std::fs::read_to_string(&path).expect("the example file exists");
    let checked = moge_dsl::check_source(&source).expect("the example is valid Rust");
    let kernel = checked
        .kernels
        .into_iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("{file} has a kernel `{name}`"))
        .result
        .unwrap_or_else(|d| panic!("{name} checks: {d:?}"));
    kernel.specialize(set).expect("the example specializes")
}

/// Compiles kernel `name` of `examples/src/<file>` with the static dims `set` for the default target.
fn compile_example(file: &str, name: &str, set: &[(&str, i64)]) -> Program {
    compile_program(&example_kernel(file, name, set), &Target::ascend910b2())
        .expect("the example compiles")
}

/// Snapshots one example program under `<snapshot>`: kernel IR, each `.cpp`, the manifest.
fn check_example(snapshot: &str, file: &str, name: &str, set: &[(&str, i64)]) {
    let program = compile_example(file, name, set);
    let again = compile_example(file, name, set);
    assert_eq!(
        program, again,
        "compiling {snapshot} twice gives the same output"
    );
    insta::assert_snapshot!(format!("{snapshot}.kir"), program.kir_text);
    for kernel in &program.kernels {
        insta::assert_snapshot!(format!("{snapshot}.{}", kernel.file), kernel.source);
    }
    insta::assert_snapshot!(format!("{snapshot}.json"), program.manifest_json());
}

/// The whole MoGE layer at the small configuration: the fused program (kernel IR, every `.cpp`,
/// the manifest) and its fusion graph in DOT.
#[test]
fn moge_ffn_small() {
    let set = [("H", 256), ("E", 16), ("G", 4), ("I", 64), ("S", 128)];
    check_example("moge_ffn_h256_e16_g4", "ffn.rs", "moge_ffn", &set);
    let program = compile_example("ffn.rs", "moge_ffn", &set);
    insta::assert_snapshot!("moge_ffn_h256_e16_g4.dot", program.dot);
}

#[test]
fn moge_gate_pangu() {
    check_example(
        "moge_gate_e64_g8",
        "gate.rs",
        "moge_gate",
        &[("E", 64), ("G", 8)],
    );
}

#[test]
fn moge_gate_non_power_of_two() {
    check_example(
        "moge_gate_e24_g3",
        "gate.rs",
        "moge_gate",
        &[("E", 24), ("G", 3)],
    );
}

#[test]
fn moge_gate_small_groups() {
    // Issue 8's small MoGE config: groups of 4 experts, computed in the spread layout.
    check_example(
        "moge_gate_e16_g4",
        "gate.rs",
        "moge_gate",
        &[("E", 16), ("G", 4)],
    );
}

#[test]
fn softmax_f32() {
    check_example(
        "softmax_f32_n100",
        "softmax.rs",
        "softmax_f32",
        &[("N", 100)],
    );
}

#[test]
fn softmax_bf16() {
    check_example(
        "softmax_bf16_n1024",
        "softmax.rs",
        "softmax_bf16",
        &[("N", 1024)],
    );
}

#[test]
fn rmsnorm_pangu_hidden() {
    check_example("rmsnorm_h5120", "rmsnorm.rs", "rmsnorm", &[("H", 5120)]);
}

/// The `gemm` example takes the cube path: one AIC kernel, the printed lowering of its matmul (the
/// same source `tests/matmul/lowered.rs` snapshots from `lower_matmul_kernel`), and a manifest whose
/// tiling fields and block dim are expressions of M.
#[test]
fn gemm_on_the_cube() {
    check_example(
        "gemm_k1024_n64",
        "matmul.rs",
        "gemm",
        &[("K", 1024), ("N", 64)],
    );
    let program = compile_example("matmul.rs", "gemm", &[("K", 1024), ("N", 64)]);
    let graph = moge_examples::matmul::gemm::<1024, 64>::graph().expect("the example builds");
    let op = *graph
        .order
        .iter()
        .find(|&&op| graph.ops[op].kind.name() == "matmul")
        .expect("a matmul");
    let lowered = moge_lower::schedule::cube::lower_matmul_kernel(
        &graph,
        op,
        &Target::ascend910b2(),
        Default::default(),
    )
    .expect("it lowers");
    let printed = moge_codegen_ascendc::print_v2::print_program(&lowered).expect("it prints");
    assert_eq!(program.kernels.len(), 1);
    assert_eq!(program.kernels[0].name, printed[0].0);
    assert_eq!(program.kernels[0].source, printed[0].1);
    assert!(program.kernels[0].schedule.is_none());
    let entry = &program.manifest.kernels[0];
    assert_eq!(
        entry.core_type,
        moge_codegen_ascendc::manifest::CoreType::Aic
    );
    assert_eq!(
        entry.sync,
        moge_codegen_ascendc::manifest::SyncMode::Explicit
    );
    assert_eq!(entry.args, ["a", "b", "out0"]);
    let fields: Vec<&str> = entry.tiling.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(fields, ["m", "tiles_m", "tiles"]);
    // The host values follow M: `m` is M, one tile row per `tiles_m`, and the block dim never
    // exceeds the tiles or the 24 cube cores.
    for m in [1i64, 15, 176, 177, 5000] {
        let dims = |s: moge_lower::Symbol| (s == "M").then_some(m);
        let value = |i: usize| entry.tiling[i].expr.0.eval(&dims).expect("evaluates");
        assert_eq!(value(0), m);
        let (tiles_m, tiles) = (value(1), value(2));
        assert!(
            tiles_m >= 1 && tiles == tiles_m,
            "N = 64 is one tile column: {m}"
        );
        let blocks = entry.block_dim.0.eval(&dims).expect("evaluates");
        assert_eq!(blocks, tiles.clamp(1, 24), "M = {m}");
    }
}

/// The example kernels on kernel IR v2: the port of each scheduled kernel, with synchronization
/// derived by the sync pass, passes the structural and hazard verifiers; its text form is snapshotted
/// and parses back to the same program; and deleting any one synchronization instruction the pass
/// inserted makes the hazard verifier report it, naming both instructions and the memory.
#[test]
fn examples_on_kernel_ir_v2_are_synchronized_and_every_sync_is_needed() {
    use moge_lower::kir::v2::{self, Hazard};
    use moge_lower::schedule::{program::to_program, schedule_kernel, ScheduleOptions};
    type Case<'a> = (&'a str, &'a str, &'a str, &'a [(&'a str, i64)]);
    let cases: [Case<'_>; 6] = [
        (
            "moge_gate_e64_g8",
            "gate.rs",
            "moge_gate",
            &[("E", 64), ("G", 8)],
        ),
        (
            "moge_gate_e16_g4",
            "gate.rs",
            "moge_gate",
            &[("E", 16), ("G", 4)],
        ),
        (
            "moge_gate_e24_g3",
            "gate.rs",
            "moge_gate",
            &[("E", 24), ("G", 3)],
        ),
        (
            "softmax_f32_n100",
            "softmax.rs",
            "softmax_f32",
            &[("N", 100)],
        ),
        (
            "softmax_bf16_n1024",
            "softmax.rs",
            "softmax_bf16",
            &[("N", 1024)],
        ),
        ("rmsnorm_h5120", "rmsnorm.rs", "rmsnorm", &[("H", 5120)]),
    ];
    let target = Target::ascend910b2();
    let mut checked = 0;
    for (snapshot, file, name, set) in cases {
        let kernel = example_kernel(file, name, set);
        let schedules = schedule_kernel(&kernel, &target, &ScheduleOptions::default()).unwrap();
        let program = to_program(&kernel, &schedules, &target).unwrap_or_else(|e| panic!("{e}"));
        let text = v2::program_to_string(&program);
        // Source locations are not in the text form: compare the texts.
        let reparsed = v2::parse_program(&text).expect("the text form parses");
        assert!(
            v2::program_to_string(&reparsed) == text,
            "{snapshot}: the text form round trips"
        );
        v2::verify_program(&program, &target).unwrap();
        // The text itself is snapshotted as `{snapshot}.kir` (what `mogec build --emit kir` writes).
        for k in program.kernels.values() {
            v2::check_hazards(k).unwrap_or_else(|e| panic!("{e}"));
            let syncs: Vec<_> = k
                .insts
                .iter()
                .filter(|(_, d)| d.is_sync())
                .map(|(i, _)| i)
                .collect();
            assert!(
                !syncs.is_empty(),
                "{snapshot}: the vector kernel needs barriers"
            );
            for i in syncs {
                let mut broken = k.clone();
                broken.detach(i);
                let errs = v2::check_hazards(&broken)
                    .expect_err(&format!("{snapshot}: deleting {i} went unnoticed"));
                let race = errs.0.iter().find_map(|h| match h {
                    Hazard::Race {
                        first,
                        second,
                        what,
                        ..
                    } => Some((*first, *second, what.clone())),
                    Hazard::Unmatched { .. } => None,
                });
                // A deleted barrier or wait leaves a race; a deleted set leaves its wait unmatched.
                match &k.insts[i] {
                    v2::InstData::SetFlag(_) => {
                        assert!(errs.to_string().contains("no earlier set_flag"), "{errs}")
                    }
                    _ => {
                        let (first, second, what) =
                            race.unwrap_or_else(|| panic!("{snapshot} {i}: {errs}"));
                        assert!(first != second && !what.is_empty(), "{errs}");
                    }
                }
                checked += 1;
            }
        }
    }
    // Every example kernel has vector dependencies the pass had to order.
    assert!(checked >= 5, "{checked}");
}

/// The example kernels printed from kernel IR v2 (`print_v2`: loops, queue operations, flags and
/// barriers all from the IR) run on the emulator and agree with the reference interpreter, over row
/// counts that leave cores idle, split unevenly and need several tiles.
#[test]
fn examples_printed_from_kernel_ir_v2_match_the_interpreter() {
    use moge::run::check_program;
    use moge_codegen_ascendc::print_v2::print_program;
    use moge_lower::interp::random_inputs;
    use moge_lower::schedule::program::to_program;
    use moge_runtime::backend::EmulatorBackend;
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, i64)], &'a [i64]);
    let cases: [Case<'_>; 4] = [
        (
            "gate.rs",
            "moge_gate",
            &[("E", 24), ("G", 3)],
            &[1, 50, 300],
        ),
        ("softmax.rs", "softmax_f32", &[("N", 100)], &[0, 7, 200]),
        ("softmax.rs", "softmax_bf16", &[("N", 1024)], &[3, 97]),
        ("rmsnorm.rs", "rmsnorm", &[("H", 5120)], &[5, 130]),
    ];
    let target = Target::ascend910b2();
    for (file, name, set, tokens) in cases {
        let kernel = example_kernel(file, name, set);
        let mut program = compile_program(&kernel, &target).expect("it compiles");
        let schedules: Vec<_> = program
            .kernels
            .iter()
            .map(|k| k.schedule.clone().expect("a vector kernel"))
            .collect();
        let v2 = to_program(&kernel, &schedules, &target).unwrap_or_else(|e| panic!("{e}"));
        let printed = print_program(&v2).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (k, (symbol, text)) in program.kernels.iter_mut().zip(printed) {
            assert_eq!(k.name, symbol);
            assert!(text.contains("AscendC::PipeBarrier<PIPE_V>();"), "{name}");
            k.source = text;
        }
        for &t in tokens {
            let inputs = random_inputs(&kernel, 0x7e57 ^ t as u64, &[("T", t)]).unwrap();
            let checked = check_program(&kernel, &program, &inputs, &EmulatorBackend::default())
                .unwrap_or_else(|e| panic!("{name} T={t}: {e}"));
            for (output, comparison) in kernel.outputs.iter().zip(&checked.comparisons) {
                assert!(
                    comparison.passed(),
                    "{name} T={t}: output `{}`: {comparison}",
                    output.name
                );
            }
        }
    }
}

/// The router (`matmul -> cast -> softmax -> group_topk -> gather -> mul`) at Pangu's shape compiles
/// to ONE MIX kernel: kernel IR, Ascend C and manifest snapshotted; the manifest says MIX, takes the
/// parameters (not the workspace) as arguments and sizes the workspace as two `m x E` bf16 slots per
/// AI core.
#[test]
fn moge_router_as_one_mix_kernel() {
    let set = [("H", 5120), ("E", 64), ("G", 8)];
    check_example("moge_router_h5120_e64_g8", "router.rs", "moge_router", &set);
    let program = compile_example("router.rs", "moge_router", &set);
    assert_eq!(program.kernels.len(), 1);
    let entry = &program.manifest.kernels[0];
    assert_eq!(
        entry.core_type,
        moge_codegen_ascendc::manifest::CoreType::MixAic1_2
    );
    assert_eq!(
        entry.args,
        ["x", "w_gate", "router_scale", "weight", "expert"]
    );
    // The tile rows: the largest T that is still one tile row.
    let tiles_m = |t: i64| {
        let dims = |s: moge_lower::Symbol| (s == "T").then_some(t);
        entry.tiling[1].expr.0.eval(&dims).unwrap()
    };
    let m = (1..=4096).take_while(|&t| tiles_m(t) == 1).count() as i64;
    assert!(m >= 16 && m % 16 == 0, "{m}");
    for t in [1i64, 64, 4096] {
        let dims = |s: moge_lower::Symbol| (s == "T").then_some(t);
        let blocks = entry.block_dim.0.eval(&dims).unwrap();
        assert_eq!(blocks, ((t + m - 1) / m).clamp(1, 24), "T = {t}");
        let ws = program.manifest.workspace_bytes.0.eval(&dims).unwrap();
        assert_eq!(
            ws,
            blocks * 2 * m * 64 * 2,
            "T = {t}: two bf16 slots per AI core"
        );
    }
}

/// The router's MIX kernel on kernel IR v2: its text form round trips, and deleting any one of its
/// synchronization instructions (cross-core flags of the workspace protocol, flags and barriers the
/// sync pass put on either side) is reported by the hazard verifier.
#[test]
fn the_router_mix_kernel_needs_every_sync_instruction() {
    use moge_lower::kir::v2;
    let graph = moge_examples::router::moge_router::<5120, 64, 8>::graph().expect("it builds");
    let (op, epilogue) = moge_codegen_ascendc::cube::mix_group(&graph).expect("a MIX group");
    let target = Target::ascend910b2();
    let program = moge_lower::schedule::cube::mix::lower_mix_group(
        &graph,
        op,
        &epilogue,
        &target,
        Default::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = v2::program_to_string(&program);
    let reparsed = v2::parse_program(&text).expect("the text form parses");
    assert_eq!(v2::program_to_string(&reparsed), text);
    let k = program.kernels.values().next().unwrap();
    v2::check_hazards(k).unwrap_or_else(|e| panic!("{e}"));
    let syncs: Vec<_> = k
        .inst_order()
        .into_iter()
        .filter(|&i| k.insts[i].is_sync())
        .collect();
    let cross = syncs
        .iter()
        .filter(|&&i| {
            matches!(
                k.insts[i],
                v2::InstData::CrossCoreSetFlag { .. } | v2::InstData::CrossCoreWaitFlag { .. }
            )
        })
        .count();
    // AIC: wait free, set ready, drain; AIVs: pre-set free, wait ready, pair set/wait, set free.
    assert_eq!(cross, 8, "{text}");
    assert!(
        syncs.len() > cross,
        "the sync pass ordered the epilogue too"
    );
    for i in syncs {
        let mut broken = k.clone();
        assert!(broken.detach(i));
        assert!(
            v2::check_hazards(&broken).is_err(),
            "deleting {i} ({:?}) went unnoticed",
            k.insts[i]
        );
    }
}
