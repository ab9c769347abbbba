//! Differential tests: kernels compiled to Ascend C, launched on moge's emulator through the launch API
//! (`moge_runtime::launch`), against the reference interpreter, over shape matrices (T = 0, 1, odd
//! sizes, the core count 48 +- 1, large) and configurations (Pangu Pro MoE's E = 64, G = 8; a
//! non-power-of-two E = 24, G = 3; rows whose bytes are not a multiple of 32).
//!
//! Tolerances are those of `check_program`: twice the error bound the interpreter derives from the graph
//! plus an ulp of the output (`moge_runtime::report::compare_bounded`); `tests/numerics.rs` checks the
//! numeric rules themselves with special values. Every run also checks the GM traffic against a formula: every tensor
//! with T rows is read or written exactly once, and every table without rows is read once per core,
//! `min(48, max(T, 1))` cores.
//!
//! Each (kernel, configuration) is compiled once and run for every T: the emitted code depends only on
//! the static bindings, and the emulator caches its C++ build by content hash. The example kernels come
//! from `examples/src`; the other vector kernels the code generator lowers are the `.graph` inputs of
//! its snapshot tests.

use std::path::Path;

use moge::demo::{demo_with, GATE_SOURCE};
use moge::graph::{DType, Kernel, Sym, Value};
use moge::run::{check_program, load_kernel, run_program, RunInputs, RunOptions};
use moge::Tensor;
use moge_codegen_ascendc::{compile_program, Program};
use moge_lower::graph::parse::parse_kernel;
use moge_lower::interp::{eval, random_inputs};
use moge_lower::target::Target;
use moge_runtime::backend::EmulatorBackend;
use moge_runtime::launch::{self, program_sources, ProgramRef};
use moge_runtime::npy;

/// The token counts every kernel is run with.
const TOKENS: [i64; 8] = [0, 1, 7, 47, 48, 49, 1000, 4096];

/// The vector cores of the default target (Ascend 910B2).
const CORES: i64 = 48;

const SOFTMAX_SOURCE: &str = include_str!("../examples/src/softmax.rs");
const RMSNORM_SOURCE: &str = include_str!("../examples/src/rmsnorm.rs");

/// Compiles `kernel` (from the DSL source `kernel_src`) specialized with `bindings`, runs it on the
/// emulator for every T in `tokens` on deterministic random inputs, and compares with the interpreter.
#[track_caller]
fn check_differential(kernel_src: &str, kernel: &str, bindings: &[(&str, i64)], tokens: &[i64]) {
    let kernel = load_kernel(kernel, kernel_src, Some(kernel), bindings)
        .unwrap_or_else(|e| panic!("{kernel} {bindings:?}: {e}"));
    check_kernel(&kernel, tokens);
}

/// [`check_differential`] for a graph-IR kernel of the code generator's test inputs.
#[track_caller]
fn check_graph_differential(stem: &str, bindings: &[(&str, i64)], tokens: &[i64]) {
    check_kernel(&load_graph(stem, bindings), tokens);
}

fn load_graph(stem: &str, bindings: &[(&str, i64)]) -> Kernel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("codegen-ascendc/tests/in/{stem}.graph"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_kernel(&text)
        .unwrap_or_else(|e| panic!("{stem}: {e}"))
        .specialize(bindings)
        .unwrap_or_else(|e| panic!("{stem}: {e}"))
}

/// Runs `kernel` for every T in `tokens`, and for one full tile per core +- 1 row (from the manifest's
/// rows per tile) when the inputs stay small.
#[track_caller]
fn check_kernel(kernel: &Kernel, tokens: &[i64]) {
    let program = compile(kernel);
    let mut tokens = tokens.to_vec();
    let tile_rows = program.manifest.kernels[0].tile_rows as i64;
    let row_bytes: i64 = kernel
        .params
        .iter()
        .map(|p| value_bytes(kernel, p.value, 1).0 as i64)
        .sum();
    for t in [tile_rows * CORES - 1, tile_rows * CORES + 1] {
        if t * row_bytes <= 1 << 24 && !tokens.contains(&t) {
            tokens.push(t);
        }
    }
    for &t in &tokens {
        let inputs = random_inputs(kernel, 0x5eed ^ t as u64, &[("T", t)])
            .unwrap_or_else(|e| panic!("{}: {e}", kernel.name));
        check_run(kernel, &program, t, &inputs);
    }
}

#[track_caller]
fn compile(kernel: &Kernel) -> Program {
    let what = format!("{} {:?}", kernel.name, kernel.bound);
    let program =
        compile_program(kernel, &Target::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let sources = program_sources(&program);
    let program_ref = ProgramRef::new(&program.manifest, &sources).unwrap();
    launch::prepare(program_ref, &EmulatorBackend::default())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    program
}

/// Runs `program` on `inputs` (T = `t`) and checks outputs and GM traffic.
#[track_caller]
fn check_run(kernel: &Kernel, program: &Program, t: i64, inputs: &[Tensor]) {
    let what = format!("{} {:?} T={t}", kernel.name, kernel.bound);
    let checked = check_program(kernel, program, inputs, &EmulatorBackend::default())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    for (output, comparison) in kernel.outputs.iter().zip(&checked.comparisons) {
        assert!(
            comparison.passed(),
            "{what}: output `{}`: {comparison}",
            output.name
        );
    }
    let report = &checked.launched.report;
    let cores = t.clamp(1, CORES) as u64;
    let (mut compulsory, mut expected_read, mut expected_written) = (0, 0, 0);
    for p in &kernel.params {
        let (bytes, rows) = value_bytes(kernel, p.value, t);
        compulsory += bytes;
        expected_read += if rows { bytes } else { bytes * cores };
    }
    for o in &kernel.outputs {
        let (bytes, _) = value_bytes(kernel, o.value, t);
        compulsory += bytes;
        expected_written += bytes;
    }
    assert_eq!(
        report.compulsory_bytes, compulsory,
        "{what}: compulsory bytes"
    );
    assert_eq!(
        (report.gm_bytes_read(), report.gm_bytes_written()),
        (Some(expected_read), Some(expected_written)),
        "{what}: GM bytes read and written"
    );
    assert_eq!(report.block_dim(), cores as u32, "{what}: block dim");
    if std::env::var_os("MOGE_TRAFFIC").is_some() {
        eprintln!(
            "traffic {what}: read {expected_read} written {expected_written} compulsory {compulsory} ratio {:.3} wall {:?}",
            report.traffic_ratio().unwrap_or(1.0),
            report.wall()
        );
    }
}

/// Bytes of a tensor value of `kernel` with the dynamic dim `T` = `t`, and whether its first axis is `T`.
fn value_bytes(kernel: &Kernel, value: Value, t: i64) -> (u64, bool) {
    let ty = kernel.values[value].ty.as_tensor().unwrap();
    let dim_value = |s: Sym| (kernel.syms[s].name == "T").then_some(t);
    let n: i64 = ty
        .shape
        .iter()
        .map(|d| d.eval(&dim_value, &kernel.syms).unwrap())
        .product();
    let rows = ty
        .shape
        .first()
        .and_then(|d| d.as_sym())
        .is_some_and(|s| kernel.syms[s].name == "T");
    (n as u64 * ty.dtype.size_bytes() as u64, rows)
}

#[test]
fn pangu_gate_matches_the_interpreter() {
    check_differential(GATE_SOURCE, "moge_gate", &[("E", 64), ("G", 8)], &TOKENS);
}

#[test]
fn non_power_of_two_gate_matches_the_interpreter() {
    check_differential(GATE_SOURCE, "moge_gate", &[("E", 24), ("G", 3)], &TOKENS);
}

#[test]
fn gates_over_several_equal_tiles_match_the_interpreter() {
    // 4609 and 9605 tokens give cores 97 and 201 rows: more than one tile, walked in tiles of equal
    // size (one row apart), each tile's rows a remainder of the BlockReduce's 8 rows a repeat.
    check_differential(
        GATE_SOURCE,
        "moge_gate",
        &[("E", 64), ("G", 8)],
        &[4609, 9605],
    );
    check_differential(GATE_SOURCE, "moge_gate", &[("E", 24), ("G", 3)], &[9605]);
}

/// The small MoGE config of issue 8 (E = 16, G = 4), a row of 12 in groups of 4, and groups of 2:
/// no group is a multiple of 8 elements, so group_topk runs in the spread layout.
const SMALL_GATES: [(i64, i64); 3] = [(16, 4), (12, 3), (8, 4)];

#[test]
fn small_group_gates_match_the_interpreter() {
    for (e, g) in SMALL_GATES {
        check_differential(
            GATE_SOURCE,
            "moge_gate",
            &[("E", e), ("G", g)],
            &[0, 1, 7, 48, 49, 1000],
        );
    }
}

#[test]
fn small_group_gates_pick_by_the_rule_on_ties_and_non_finite_logits() {
    // Rows: all equal; a maximum repeated at both ends of every group; one NaN; +inf in the last
    // group; all -inf; signed zeros only. Softmax turns the rows with a NaN or an infinity into NaN
    // rows, where every group's first expert wins, as in every row of equal probabilities.
    for (e, g) in SMALL_GATES {
        let (e, g) = (e as usize, g as usize);
        let size = e / g;
        let mut logits = vec![0.5f32; e];
        logits.extend((0..e).map(|i| {
            if i % size == 0 || i % size == size - 1 {
                3.0
            } else {
                i as f32 * 0.125
            }
        }));
        let mut row: Vec<f32> = (0..e).map(|i| i as f32 * 0.25).collect();
        row[size + 1] = f32::NAN;
        logits.extend(&row);
        let mut row: Vec<f32> = (0..e).map(|i| -(i as f32)).collect();
        row[e - 1] = f32::INFINITY;
        logits.extend(&row);
        logits.extend(vec![f32::NEG_INFINITY; e]);
        logits.extend((0..e).map(|i| if i % 2 == 0 { -0.0 } else { 0.0 }));
        let rows = logits.len() / e;
        let x = Tensor::from_f32(DType::F32, vec![rows, e], logits).unwrap();
        let scale = Tensor::from_f32(
            DType::F32,
            vec![e],
            (0..e).map(|i| 1.0 + i as f32 / 16.0).collect(),
        )
        .unwrap();
        let bindings = [("E", e as i64), ("G", g as i64)];
        let kernel = load_kernel("gate.rs", GATE_SOURCE, None, &bindings).unwrap();
        // Every row picks the first expert of each group: check the interpreter against that first.
        let want = eval(&kernel, &[x.clone(), scale.clone()]).unwrap();
        let first: Vec<i32> = (0..g).map(|k| (k * size) as i32).collect();
        let ids = want[1].as_i32().unwrap();
        for r in 0..rows {
            assert_eq!(&ids[r * g..(r + 1) * g], &first[..], "E={e} G={g} row {r}");
        }
        check_run(&kernel, &compile(&kernel), rows as i64, &[x, scale]);
    }
}

#[test]
fn softmax_f32_matches_the_interpreter() {
    // Rows of 100 f32 are 400 bytes, not a multiple of the 32-byte block.
    check_differential(SOFTMAX_SOURCE, "softmax_f32", &[("N", 100)], &TOKENS);
}

#[test]
fn softmax_bf16_matches_the_interpreter() {
    // Rows of 100 bf16 are 200 bytes.
    check_differential(SOFTMAX_SOURCE, "softmax_bf16", &[("N", 100)], &TOKENS);
}

#[test]
fn rmsnorm_matches_the_interpreter() {
    // Pangu Pro MoE's hidden size; T = 4096 would be 40 MiB of bf16 per tensor, too slow for the
    // interpreter in a debug build, so the largest size here is 1000.
    check_differential(
        RMSNORM_SOURCE,
        "rmsnorm",
        &[("H", 5120)],
        &[0, 1, 7, 47, 48, 49, 1000],
    );
    // Rows of 200 bf16 are 400 bytes.
    check_differential(RMSNORM_SOURCE, "rmsnorm", &[("H", 200)], &TOKENS);
}

#[test]
fn other_vector_kernels_match_the_interpreter() {
    check_graph_differential("log_softmax", &[("N", 64)], &[0, 1, 49, 1000]);
    // Rows of 8 are reduced by BlockReduce, 8 rows a repeat, and the rows past a multiple of 8 by
    // WholeReduce (7 rows on one core; 20 or 21 rows a core at T = 1000).
    check_graph_differential("softmax", &[("N", 8)], &[0, 1, 7, 49, 1000]);
    check_graph_differential("rmsnorm", &[("H", 128)], &[0, 1, 49, 300]);
    check_graph_differential("cast_select", &[("N", 40)], &[0, 1, 17, 64]);
    check_graph_differential("topk", &[("N", 12)], &[1, 2, 33, 60]);
    check_graph_differential("bcast", &[("N", 20)], &[0, 1, 13, 300]);
    // random_inputs draws i32 from 0..8, so `a == b` holds for about one element in eight.
    check_graph_differential("int_ops", &[("N", 16)], &[1, 5, 100]);
}

#[test]
fn ties_pick_the_lowest_index() {
    // Row 0: all logits equal, so every group's best is its first expert. Row 1: in every group the
    // maximum appears at offsets 2 and 5 (the others are smaller). Row 2: a descending staircase of
    // equal pairs, so every group's best is its first expert again.
    let e = 64usize;
    let mut logits = vec![0.0f32; e];
    for _group in 0..8 {
        for r in 0..8 {
            logits.push(if r == 2 || r == 5 {
                1.5
            } else {
                -0.25 * r as f32
            });
        }
    }
    for i in 0..e {
        logits.push(-((i / 2) as f32) * 0.125);
    }
    let x = Tensor::from_f32(DType::F32, vec![3, e], logits).unwrap();
    let scale = Tensor::from_f32(
        DType::F32,
        vec![e],
        (0..e).map(|i| 1.0 + i as f32 / 64.0).collect(),
    )
    .unwrap();
    let kernel = load_kernel("gate.rs", GATE_SOURCE, None, &[("E", 64), ("G", 8)]).unwrap();
    let want = eval(&kernel, &[x.clone(), scale.clone()]).unwrap();
    // The interpreter picks the lowest index: check it against the hand-computed ids first.
    let ids = want[1].as_i32().unwrap();
    let first: Vec<i32> = (0..8).map(|group| 8 * group).collect();
    let second: Vec<i32> = (0..8).map(|group| 8 * group + 2).collect();
    assert_eq!(&ids[..8], &first[..]);
    assert_eq!(&ids[8..16], &second[..]);
    assert_eq!(&ids[16..24], &first[..]);
    check_run(&kernel, &compile(&kernel), 3, &[x, scale]);

    // Top-2 of rows [3, a, 3, b, 3, ...] with a, b < 3 picks indices 0 and 2; the argmax of equal
    // groups is 0.
    let mut rows = Vec::new();
    for r in 0..4 {
        for c in 0..12 {
            rows.push(if c % 2 == 0 {
                3.0
            } else {
                (c + r) as f32 * 0.1
            });
        }
    }
    let x = Tensor::from_f32(DType::F32, vec![4, 12], rows).unwrap();
    let groups = Tensor::from_f32(DType::F32, vec![4, 3, 8], vec![0.5; 96]).unwrap();
    let kernel = load_graph("topk", &[("N", 12)]);
    let want = eval(&kernel, &[x.clone(), groups.clone()]).unwrap();
    assert_eq!(&want[1].as_i32().unwrap()[..2], &[0, 2]);
    assert_eq!(&want[2].as_i32().unwrap()[..3], &[0, 0, 0]);
    check_run(&kernel, &compile(&kernel), 4, &[x, groups]);
}

#[test]
fn gate_with_non_finite_logits_picks_an_expert_of_every_group() {
    // Issue 6: with a NaN in a row the gate wrote expert id E, outside every group. Rows: one NaN;
    // all -inf; +inf and NaN in different groups; all NaN; -0.0 and +0.0 only.
    let e = 64usize;
    let mut logits = Vec::new();
    let mut row = vec![0.25f32; e];
    row[10] = f32::NAN;
    logits.extend(&row);
    logits.extend(vec![f32::NEG_INFINITY; e]);
    let mut row: Vec<f32> = (0..e).map(|i| i as f32 * 0.01).collect();
    row[3] = f32::INFINITY;
    row[40] = f32::NAN;
    logits.extend(&row);
    logits.extend(vec![f32::NAN; e]);
    logits.extend((0..e).map(|i| if i % 3 == 0 { -0.0 } else { 0.0 }));
    let rows = logits.len() / e;
    let x = Tensor::from_f32(DType::F32, vec![rows, e], logits).unwrap();
    let scale = Tensor::from_f32(DType::F32, vec![e], vec![1.0; e]).unwrap();
    let kernel = load_kernel("gate.rs", GATE_SOURCE, None, &[("E", 64), ("G", 8)]).unwrap();
    let program = compile(&kernel);
    check_run(&kernel, &program, rows as i64, &[x.clone(), scale.clone()]);
    // Every id is inside its own group; softmax makes every row with a NaN or +inf all NaN, so those
    // rows (and the all -inf row, whose softmax is NaN too) pick the first expert of each group.
    let checked =
        check_program(&kernel, &program, &[x, scale], &EmulatorBackend::default()).unwrap();
    let ids = checked.launched.outputs[1].as_i32().unwrap();
    for (at, &id) in ids.iter().enumerate() {
        let group = (at % 8) as i32;
        assert!(
            (8 * group..8 * group + 8).contains(&id),
            "row {} group {group}: id {id}",
            at / 8
        );
    }
    let first: Vec<i32> = (0..8).map(|g| 8 * g).collect();
    for r in 0..4 {
        assert_eq!(&ids[8 * r..8 * r + 8], &first[..], "row {r}");
    }
    // Signed zeros are equal: the softmax is uniform and each group's first expert wins.
    assert_eq!(&ids[32..40], &first[..]);
}

#[test]
fn unwritten_rows_are_caught() {
    // Drop the remainder rows from the tiling of the Pangu gate: with T = 49 on 48 cores every core
    // takes one row and row 48, the remainder, is never written. Outputs start as 0xFF bytes, so its
    // 8 weights read as NaN and its 8 expert ids as -1, and exactly those 16 elements mismatch.
    let kernel = load_kernel("gate.rs", GATE_SOURCE, None, &[("E", 64), ("G", 8)]).unwrap();
    let mut program = compile(&kernel);
    let field = program.manifest.kernels[0]
        .tiling
        .iter_mut()
        .find(|f| f.name == "rows_rem")
        .expect("the gate's tiling has a remainder field");
    field.expr = moge_codegen_ascendc::manifest::SizeExpr::int(0);
    let inputs = random_inputs(&kernel, 7, &[("T", 49)]).unwrap();
    let checked = check_program(&kernel, &program, &inputs, &EmulatorBackend::default()).unwrap();
    assert!(!checked.passed());
    let mismatches: Vec<usize> = checked.comparisons.iter().map(|c| c.mismatches).collect();
    assert_eq!(mismatches, vec![8, 8]);
    let first = checked.comparisons[0].first_mismatch.as_ref().unwrap();
    assert_eq!(first.index, vec![48, 0]);
    assert!(first.got.is_nan());
    let expert = checked.comparisons[1].first_mismatch.as_ref().unwrap();
    assert_eq!((expert.index.clone(), expert.got), (vec![48, 0], -1.0));
}

#[test]
fn run_program_writes_outputs_and_the_report() {
    let kernel = load_kernel("gate.rs", GATE_SOURCE, None, &[("E", 24), ("G", 3)]).unwrap();
    let out = std::env::temp_dir().join(format!("moge-run-program-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let inputs = RunInputs::Random {
        seed: 3,
        dims: vec![("T".to_string(), 50)],
    };
    let report = run_program(&kernel, inputs, &out, &RunOptions::default()).unwrap();
    assert!(report.passed());

    // The inputs were written; the outputs equal the interpreter's on them.
    let logits = npy::read_npy(&out.join("logits.npy")).unwrap();
    let scale = npy::read_npy(&out.join("router_scale.npy")).unwrap();
    assert_eq!(logits.shape, vec![50, 24]);
    let want = eval(&kernel, &[logits, scale]).unwrap();
    let expert = npy::read_npy(&out.join("expert.npy")).unwrap();
    assert_eq!(expert, want[1]);
    let weight = npy::read_npy(&out.join("weight.npy")).unwrap();
    assert_eq!(weight.shape, vec![50, 3]);

    let text = std::fs::read_to_string(out.join("report.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["kernel"], "moge_gate");
    assert_eq!(json["backend"], "emulator");
    assert_eq!(json["device_kernels"], serde_json::json!(["moge_gate_k0"]));
    assert_eq!(json["block_dim"], 48);
    assert_eq!(json["dims"]["T"], 50);
    assert_eq!(json["bindings"], serde_json::json!({"E": 24, "G": 3}));
    // logits 50*24*4 = 4800 bytes read once, router_scale 96 bytes by each of the 48 cores; outputs
    // 50*3*4 = 600 bytes each.
    assert_eq!(json["gm_bytes_read"], 4800 + 96 * 48);
    assert_eq!(json["gm_bytes_written"], 1200);
    assert_eq!(json["compulsory_bytes"], 4800 + 96 + 1200);
    for name in ["weight", "expert"] {
        let entry = &json["outputs"][name];
        assert_eq!(entry["mismatches"], 0, "{name}");
        assert!(entry["max_abs_err"].is_number(), "{name}");
        assert!(entry["max_rel_err"].is_number(), "{name}");
    }
    assert_eq!(json["outputs"]["expert"]["max_abs_err"], 0.0);
    assert_eq!(json["passed"], true);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn demo_runs_the_pangu_gate() {
    let mut out = Vec::new();
    let report = demo_with(&mut out, &[("decode", 456), ("tiny", 5)]).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(report.passed(), "{text}");
    assert_eq!(report.runs.len(), 2);
    let decode = &report.runs[0].launch;
    assert_eq!(decode.kernel_names(), vec!["moge_gate_k0"]);
    assert_eq!(decode.block_dim(), 48);
    // 456 tokens: logits 456*64*4 = 116736 bytes, router_scale 256, weight and expert 456*8*4 = 14592
    // each.
    assert_eq!(decode.compulsory_bytes, 116_736 + 256 + 2 * 14_592);
    assert_eq!(report.runs[1].launch.block_dim(), 5);
    assert!(
        text.contains("moge_gate_k0 (AIV, KERNEL_TYPE_AIV_ONLY): block_dim = min(48, max(T, 1))"),
        "{text}"
    );
    assert!(
        text.contains("ok: every output matches the reference interpreter"),
        "{text}"
    );
    let decode_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("decode"))
        .unwrap();
    assert!(decode_line.contains(" 456 "), "{decode_line}");
    assert!(decode_line.contains("0/7296"), "{decode_line}");
    // The modeled time, labeled so, is the one a timing-only `run_program` of the gate at 456 tokens
    // models (an independent run: the gate's control flow does not depend on its data).
    assert!(
        text.contains("Modeled: the time the kernel would take"),
        "{text}"
    );
    let kernel = moge::run::load_kernel(
        "examples/src/gate.rs",
        GATE_SOURCE,
        Some("moge_gate"),
        &[("E", 64), ("G", 8)],
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("moge-demo-modeled-{}", std::process::id()));
    let options = moge::run::RunOptions {
        timing_only: true,
        ..moge::run::RunOptions::default()
    };
    let inputs = RunInputs::Random {
        seed: 3,
        dims: vec![("T".to_string(), 456)],
    };
    let run = moge::run::run_program(&kernel, inputs, &dir, &options).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let modeled = run.launch.modeled().unwrap().time_us;
    assert_eq!(decode.modeled().map(|m| m.time_us), Some(modeled));
    assert!(
        decode_line.ends_with(&format!("{modeled:.2} us")),
        "{decode_line}"
    );
}

/// Runs `mogec` with `args` from the package root; returns the exit status, stdout and stderr.
fn mogec(args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mogec"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn mogec_run_and_demo_succeed() {
    let dir = std::env::temp_dir().join(format!("moge-mogec-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (first, second) = (dir.join("first"), dir.join("second"));
    let gate = [
        "run",
        "examples/src/gate.rs",
        "--kernel",
        "moge_gate",
        "--set",
        "E=24,G=3",
    ];
    let mut args = gate.to_vec();
    args.extend([
        "--random",
        "2",
        "--dim",
        "T=49",
        "-o",
        first.to_str().unwrap(),
    ]);
    let (code, stdout, stderr) = mogec(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("moge_gate on the emulator with T = 49\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("ok: every output matches the reference interpreter\n"),
        "{stdout}"
    );
    // The same run from the written inputs gives the same outputs, byte for byte.
    let logits = format!("logits={}", first.join("logits.npy").display());
    let scale = format!("router_scale={}", first.join("router_scale.npy").display());
    let mut args = gate.to_vec();
    args.extend([
        "--input",
        &logits,
        "--input",
        &scale,
        "-o",
        second.to_str().unwrap(),
    ]);
    let (code, stdout, stderr) = mogec(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for file in ["weight.npy", "expert.npy"] {
        assert_eq!(
            std::fs::read(first.join(file)).unwrap(),
            std::fs::read(second.join(file)).unwrap(),
            "{file}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(second.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["outputs"]["expert"]["mismatches"], 0);
    std::fs::remove_dir_all(&dir).unwrap();

    let (code, stdout, stderr) = mogec(&["demo"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("  prefill    4096     48"), "{stdout}");
    assert!(
        stdout.contains("ok: every output matches the reference interpreter"),
        "{stdout}"
    );
    // The tolerance stated is the one `compare_bounded` applies, not the old per-dtype table.
    assert!(stdout.contains("2 B + 1 ulp"), "{stdout}");
    assert!(!stdout.contains("1e-5 |x|"), "{stdout}");
}
