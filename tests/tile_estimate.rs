//! The matmul planner's analytic estimate (`moge_lower::schedule::cube::estimate_cycles`, from the
//! timing model's parameter table) against the replay of the emulator's real trace of the same
//! tiling (`mogec run`'s `report.json` `modeled.time_us`), for a few base tiles of one GEMM: what
//! lets a planner rank candidate tilings without running the emulator per candidate.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use moge_lower::cost::Params;
use moge_lower::schedule::cube::{
    estimate_cycles, plan_matmul, plan_matmul_with, CubeDType, MatmulShape, TileRequest, Tiling,
};
use moge_lower::target::Target;
use serde_json::Value;

const MOGEC: &str = env!("CARGO_BIN_EXE_mogec");

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tile_estimate")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// The replay's modeled cycles of `c = a @ b` (bf16, M = 1024, K = 512, N = 1024) with base tile
/// (m, n, k), launch excluded.
fn replayed_cycles(p: &Params, (m, n, k): (u64, u64, u64)) -> f64 {
    let dir = scratch(&format!("{m}x{n}x{k}"));
    let src = dir.join("gemm.rs");
    fs::write(
        &src,
        format!(
            "/// A GEMM with a fixed base tile.\n#[moge::kernel]\npub fn gemm_t<const K: usize, const N: usize>(\n    \
             a: Tensor<bf16, (M, K)>,\n    b: Tensor<bf16, (K, N)>,\n) -> Tensor<bf16, (M, N)> {{\n    \
             #[tile(m = {m}, n = {n}, k = {k})]\n    let c = matmul(a, b);\n    c\n}}\n"
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let output = Command::new(MOGEC)
        .args([
            "run",
            src.to_str().unwrap(),
            "--set",
            "K=512,N=1024",
            "--random",
            "1",
        ])
        .args(["--dim", "M=1024", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(&fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let modeled = &report["kernels"][0]["modeled"];
    let us = modeled["time_us"].as_f64().unwrap() - modeled["launch_us"].as_f64().unwrap();
    let _ = fs::remove_dir_all(&dir);
    us * p.clock_ghz * 1e3
}

#[test]
fn the_matmul_estimate_agrees_with_the_replay_and_ranks_tiles_as_it_does() {
    let p = Params::for_target("ascend910b2").unwrap();
    let target = Target::from_name("ascend910b2").unwrap();
    let shape = MatmulShape {
        m: 1024,
        n: 1024,
        k: 512,
        dtype: CubeDType::Bf16,
    };
    let tiles = [(64, 64, 64), (128, 128, 64), (256, 128, 64), (240, 128, 64)];
    let mut pairs = Vec::new();
    for (m, n, k) in tiles {
        let request = TileRequest {
            m: Some(m),
            n: Some(n),
            k: Some(k),
            block_dim: None,
        };
        let plan = plan_matmul(shape, request, &target).unwrap();
        let estimate = estimate_cycles(&plan, &p);
        let replayed = replayed_cycles(&p, (m, n, k));
        println!("{m}x{n}x{k}: estimate {estimate:.0} cycles, replay {replayed:.0} cycles");
        // Tolerance ±20%: the estimate gives each core its share of the whole run's bandwidth (the
        // replay shares it among the copies active at each moment) and approximates how much of a
        // stage's copy the issue order hides (the queue-depth window); it ran 5-15% above the replay
        // on these tiles.
        let ratio = estimate / replayed;
        assert!(
            (ratio - 1.0).abs() <= 0.20,
            "{m}x{n}x{k}: estimate {estimate:.0} against replay {replayed:.0} (ratio {ratio:.3})"
        );
        pairs.push((estimate, replayed));
    }
    // Whatever the estimate's error, it must order the candidates as the replay does where the replay
    // separates them by more than the tolerance.
    for a in &pairs {
        for b in &pairs {
            if a.1 < 0.85 * b.1 {
                assert!(a.0 < b.0, "{pairs:?}");
            }
        }
    }
}

#[test]
fn the_model_tiling_replays_no_slower_than_the_rule_tiling() {
    // The planner's two scorings over the same legal candidates; each choice replayed on the
    // emulator's trace (its base tile given back as a hint, which plans the same depth and cores).
    let p = Params::for_target("ascend910b2").unwrap();
    let target = Target::from_name("ascend910b2").unwrap();
    let shape = MatmulShape {
        m: 1024,
        n: 1024,
        k: 512,
        dtype: CubeDType::Bf16,
    };
    let rule = plan_matmul_with(shape, TileRequest::default(), &target, Tiling::Rule).unwrap();
    let model = plan_matmul_with(shape, TileRequest::default(), &target, Tiling::Model).unwrap();
    assert_eq!(
        rule,
        plan_matmul(shape, TileRequest::default(), &target).unwrap()
    );
    // The model's choice is the candidate with the lowest estimate: no lower than the rule's.
    assert!(estimate_cycles(&model, &p) <= estimate_cycles(&rule, &p));
    let replay_rule = replayed_cycles(&p, (rule.m, rule.n, rule.k));
    let replay_model = replayed_cycles(&p, (model.m, model.n, model.k));
    println!(
        "rule {}x{}x{}: {replay_rule:.0} cycles; model {}x{}x{}: {replay_model:.0} cycles",
        rule.m, rule.n, rule.k, model.m, model.n, model.k
    );
    assert!(
        replay_model <= replay_rule,
        "{replay_model} vs {replay_rule}"
    );
}
