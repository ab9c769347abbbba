//! A matmul with a vector epilogue as ONE MIX kernel through `mogec`: the router example (matmul ->
//! cast -> softmax -> group_topk -> gather -> mul) and linear layers with a bias and an activation run
//! on the emulator (races checked) and match the reference interpreter; the workspace slots are
//! reused (several tiles per AI core), tiles end early and split unevenly between the two AIVs; a
//! kernel with a cross-core wait deleted by hand is reported by the emulator; an epilogue the MIX path
//! cannot take gets a located message.

use std::fs;
use std::path::PathBuf;

use super::mogec::{mogec, run_passing, scratch, text};

/// `mogec run FILE --kernel KERNEL --set SET --random SEED --dim DIM`: asserts every output matched
/// the interpreter on one MIX kernel and returns the report.
fn run_mix(file: &str, kernel: &str, set: &str, dim: &str, seed: u64) -> serde_json::Value {
    run_passing(file, kernel, set, dim, seed, &["MIX_AIC_1_2"]).0
}

#[test]
fn the_router_runs_as_one_mix_kernel_at_small_and_pangu_shapes() {
    let file = "examples/src/router.rs";
    for t in [1, 37] {
        run_mix(
            file,
            "moge_router",
            "H=64,E=64,G=8",
            &format!("T={t}"),
            t + 1,
        );
    }
    // E = 24 columns and H = 100: neither a multiple of 16 (Nd2Nz and Fixpipe tails).
    run_mix(file, "moge_router", "H=100,E=24,G=3", "T=53", 4);
    for t in [1, 7, 64, 456] {
        let report = run_mix(file, "moge_router", "H=5120,E=64,G=8", &format!("T={t}"), t);
        // Expert ids are exact: the softmax and the selection saw the same logits as the interpreter.
        assert_eq!(report["outputs"]["expert"]["max_abs_err"], 0.0, "T={t}");
    }
}

#[test]
fn the_small_moge_router_with_groups_of_four_runs_as_one_mix_kernel() {
    // Issue 8's small MoGE layer: groups of 4 experts are not a multiple of 8 elements, so the
    // epilogue's group_topk runs in the vector path's spread layout, on the rows of the AIC's tiles.
    for t in [1, 7, 49, 300] {
        let dim = format!("T={t}");
        let report = run_mix(
            "examples/src/router.rs",
            "moge_router",
            "H=256,E=16,G=4",
            &dim,
            t,
        );
        assert_eq!(report["outputs"]["expert"]["max_abs_err"], 0.0, "T={t}");
    }
}

/// The router with small tiles on two AI cores, so that each core computes several tiles and reuses
/// its two workspace slots, the last tile is short, and its rows split oddly between the AIVs.
const TILED_ROUTER: &str = r#"
#[moge::kernel]
pub fn tiled_router<const H: usize, const E: usize, const G: usize>(
    x: Tensor<bf16, (T, H)>,
    w_gate: Tensor<bf16, (H, E)>,
    router_scale: Tensor<f32, (E,)>,
) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
    #[tile(m = 16, n = 64, k = 64)]
    #[block_dim(n = 2)]
    let mm = matmul(x, w_gate);
    let probs = softmax(cast::<f32>(mm), -1);
    let (top, expert) = group_topk(probs, G, 1);
    let weight = top * gather(router_scale, expert);
    (weight, expert)
}
"#;

fn tiled_router_file() -> PathBuf {
    let dir = scratch("tiled_router_src");
    let file = dir.join("tiled_router.rs");
    fs::write(&file, TILED_ROUTER).unwrap();
    file
}

#[test]
fn workspace_slots_are_reused_and_tails_split_between_the_aivs() {
    let file = tiled_router_file();
    // T = 77: 5 tiles of 16 rows on 2 cores (core 0 computes 3, reusing slot 0), the last of 13 rows
    // (7 + 6 for the AIVs); T = 1: one row, the second AIV has none; T = 32: exact tiles.
    for t in [77, 1, 32] {
        let report = run_mix(
            file.to_str().unwrap(),
            "tiled_router",
            "H=200,E=64,G=8",
            &format!("T={t}"),
            t + 5,
        );
        let launched = &report["kernels"][0];
        assert_eq!(
            launched["block_dim"].as_u64(),
            Some(u64::from(t > 16) + 1),
            "T={t}: {launched}"
        );
    }
}

#[test]
fn linear_layers_with_bias_and_activation_run_as_one_mix_kernel() {
    for (kernel, dim) in [("linear_relu", "M=77"), ("linear_silu", "M=40")] {
        run_mix("examples/src/matmul.rs", kernel, "K=200,N=48", dim, 11);
    }
}

/// A copy of the built tiled router with the first line holding `needle` deleted, run from its
/// directory: the emulator must report it.
fn run_without(needle: &str) -> String {
    let file = tiled_router_file();
    let dir = scratch(&format!(
        "broken_{}",
        needle.replace(|c: char| !c.is_alphanumeric(), "_")
    ));
    let out = mogec(&[
        "build",
        file.to_str().unwrap(),
        "--kernel",
        "tiled_router",
        "--set",
        "H=200,E=64,G=8",
        "--emit",
        "ascendc,manifest,graph",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let cpp = dir.join("tiled_router_k0.cpp");
    let source = fs::read_to_string(&cpp).unwrap();
    let line = source
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no `{needle}` in\n{source}"));
    let kept: Vec<&str> = source
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != line)
        .map(|(_, l)| l)
        .collect();
    fs::write(&cpp, kept.join("\n")).unwrap();
    let run = dir.join("run");
    let out = mogec(&[
        "run",
        dir.to_str().unwrap(),
        "--random",
        "3",
        "--dim",
        "T=77",
        "-o",
        run.to_str().unwrap(),
    ]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "without `{needle}`: {}",
        text(&out)
    );
    text(&out)
}

#[test]
fn a_mix_kernel_without_a_cross_core_wait_is_reported_by_the_emulator() {
    // The AIVs read a slot before the AIC has written it.
    let e = run_without("CrossCoreWaitFlag<2, PIPE_MTE2>(1)");
    assert!(e.contains("race") && e.contains("Fixpipe"), "{e}");
    // The AIC writes a slot again while the AIVs may still read it.
    let e = run_without("CrossCoreWaitFlag<2, PIPE_FIX>(2)");
    assert!(e.contains("race"), "{e}");
}

/// What `compile_program` sends to the MIX path: a matmul of two parameters with vector ops after it
/// (also ops of parameters only, ahead of it in program order); not a lone matmul (the AIC path),
/// not a matmul of a computed operand, not two matmuls.
#[test]
fn the_mix_dispatch_takes_a_matmul_of_parameters_with_vector_ops() {
    use moge_codegen_ascendc::cube::mix_group;
    use moge_lower::graph::parse::parse_kernel;
    let kernel = |body: &str| {
        parse_kernel(&format!(
            "kernel k(a: bf16[M, 32], b: bf16[32, 16], s: f32[16]) -> (y: f32[M, 16]) {{
  dyn M
  v0 = param 0 : bf16[M, 32]
  v1 = param 1 : bf16[32, 16]
  v2 = param 2 : f32[16]
{body}
}}"
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let k = kernel(
        "  v3 = exp v2 : f32[16]
  v4 = matmul v0, v1 : bf16[M, 16]
  v5 = cast v4, to=f32 : f32[M, 16]
  v6 = mul v5, v3 : f32[M, 16]
  return y = v6",
    );
    let (op, epilogue) = mix_group(&k).expect("a MIX group");
    assert_eq!(k.ops[op].kind.name(), "matmul");
    let names: Vec<&str> = epilogue.iter().map(|&o| k.ops[o].kind.name()).collect();
    assert_eq!(names, ["exp", "cast", "mul"]);
    // A computed operand: not a MIX group (the vector path refuses it at the matmul).
    let k = kernel(
        "  v3 = neg v0 : bf16[M, 32]
  v4 = matmul v3, v1 : bf16[M, 16]
  v5 = cast v4, to=f32 : f32[M, 16]
  return y = v5",
    );
    assert!(mix_group(&k).is_none());
    // A lone matmul is the AIC path's.
    let k = parse_kernel(
        "kernel k(a: bf16[M, 32], b: bf16[32, 16]) -> (y: bf16[M, 16]) {
  dyn M
  v0 = param 0 : bf16[M, 32]
  v1 = param 1 : bf16[32, 16]
  v2 = matmul v0, v1 : bf16[M, 16]
  return y = v2
}",
    )
    .unwrap();
    assert!(mix_group(&k).is_none());
}

/// The router of the MoGE layer as `moge_ffn` writes it: f32 operands (the hidden states cast up)
/// with small tiles on two AI cores, so f32 tiles go through the workspace slots and are reused.
const F32_ROUTER: &str = r#"
#[moge::kernel]
pub fn f32_router<const H: usize, const E: usize, const G: usize>(
    x: Tensor<f32, (T, H)>,
    w_gate: Tensor<f32, (H, E)>,
    router_scale: Tensor<f32, (E,)>,
) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
    #[tile(m = 16, n = 64, k = 64)]
    #[block_dim(n = 2)]
    let logits = matmul(x, w_gate);
    let probs = softmax(logits, -1);
    let (top, expert) = group_topk(probs, G, 1);
    let weight = top * gather(router_scale, expert);
    (weight, expert)
}
"#;

#[test]
fn an_f32_router_runs_as_one_mix_kernel_with_f32_tiles_in_the_workspace() {
    let dir = scratch("f32_router_src");
    let file = dir.join("f32_router.rs");
    fs::write(&file, F32_ROUTER).unwrap();
    // K = 200 is no multiple of the 16-deep K groups of the f32 B path; T = 77 reuses the slots.
    for t in [1, 33, 77] {
        let report = run_mix(
            file.to_str().unwrap(),
            "f32_router",
            "H=200,E=64,G=8",
            &format!("T={t}"),
            t + 9,
        );
        assert_eq!(report["outputs"]["expert"]["max_abs_err"], 0.0, "T={t}");
    }
    // The layer's own router shape: H = 5120, E = 64.
    run_mix(
        file.to_str().unwrap(),
        "f32_router",
        "H=5120,E=64,G=8",
        "T=9",
        3,
    );
}
