//! `--tiling rule|model` through `mogec`: the two scorings compile a GEMM to different tiles (the
//! tile expected is the planner's own answer for the shape compilation plans, asked here
//! in-process), both run on the emulator and match the interpreter, a `#[tile]` hint wins over
//! either, and a value other than `rule` or `model` is a usage error on every command that takes it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use moge_lower::schedule::cube::{
    plan_matmul_with, tile_note, CubeDType, MatmulPlan, MatmulShape, TileRequest, Tiling,
    PLANNED_ROWS,
};
use moge_lower::target::Target;

/// The binary under test.
const MOGEC: &str = env!("CARGO_BIN_EXE_mogec");

/// The package root: commands run here.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The GEMM example at K = N = 128: rule and model choose different tiles for it (asserted below).
const GEMM: &str = "examples/src/matmul.rs";
const SET: &str = "K=128,N=128";

/// A fresh scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("tiling")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Runs `mogec` with `args` in the package root: exit status, stdout, stderr.
fn mogec(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(MOGEC)
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("the mogec binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `mogec build FILE -k KERNEL --set SET --emit ascendc,kir --tiling T -o DIR`: the `.cpp` and the
/// `.kir` text written.
fn build(file: &str, kernel: &str, tiling: &str, dir: &Path) -> (String, String) {
    let (code, out, err) = mogec(&[
        "build",
        file,
        "-k",
        kernel,
        "--set",
        SET,
        "--emit",
        "ascendc,kir",
        "--tiling",
        tiling,
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "build --tiling {tiling}: {out}{err}");
    let read = |name: String| fs::read_to_string(dir.join(&name)).expect(&name);
    (
        read(format!("{kernel}_k0.cpp")),
        read(format!("{kernel}.kir")),
    )
}

/// The plan compilation makes for the 128 x 128 GEMM (dynamic M planned at `PLANNED_ROWS`).
fn planned(request: TileRequest, tiling: Tiling) -> MatmulPlan {
    let shape = MatmulShape {
        m: PLANNED_ROWS,
        n: 128,
        k: 128,
        dtype: CubeDType::Bf16,
    };
    plan_matmul_with(shape, request, &Target::ascend910b2(), tiling).unwrap()
}

/// The Ascend C with its comment lines removed: the code alone.
fn code(cpp: &str) -> String {
    cpp.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn rule_and_model_tilings_emit_different_tiles_that_both_match_the_interpreter() {
    let rule = planned(TileRequest::default(), Tiling::Rule);
    let model = planned(TileRequest::default(), Tiling::Model);
    assert_ne!(
        (rule.m, rule.n, rule.k, rule.depth),
        (model.m, model.n, model.k, model.depth),
        "the shape must be one where the scorings disagree"
    );
    let mut codes = vec![];
    for (name, plan, tiling) in [
        ("rule", rule, Tiling::Rule),
        ("model", model, Tiling::Model),
    ] {
        let dir = scratch(&format!("build-{name}"));
        let (cpp, kir) = build(GEMM, "gemm", name, &dir);
        let note = tile_note(&plan, tiling.name());
        assert!(cpp.contains(&format!("// {note}\n")), "{name}: {cpp}");
        assert!(kir.contains(&format!("; {note}\n")), "{name}: {kir}");
        // The tile's K extent is a constant of the emitted Mmad loop.
        assert!(cpp.contains(&format!("{}LL", plan.k)), "{name}: {cpp}");
        codes.push(code(&cpp));

        let out = scratch(&format!("run-{name}"));
        let (code, stdout, err) = mogec(&[
            "run",
            GEMM,
            "-k",
            "gemm",
            "--set",
            SET,
            "--random",
            "3",
            "--dim",
            "M=200",
            "--tiling",
            name,
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(0), "run --tiling {name}: {stdout}{err}");
        assert!(
            stdout.contains("every output matches the reference interpreter"),
            "run --tiling {name}: {stdout}{err}"
        );
    }
    assert_ne!(codes[0], codes[1], "the two tilings emitted the same code");
}

#[test]
fn a_tile_hint_wins_over_the_model_and_the_rule() {
    let file = "tests/data/tiling_hint.rs";
    for tiling in ["rule", "model"] {
        let dir = scratch(&format!("hint-{tiling}"));
        let (cpp, _) = build(file, "gemm_tiled", tiling, &dir);
        assert!(
            cpp.contains("// base tile 64x64x32 (m x n x k)") && cpp.contains(": tiling #[tile]\n"),
            "{tiling}: {cpp}"
        );
    }
    // A partial hint: K is the hint's, m and n the scoring's (the planner's answer for that request).
    let request = TileRequest {
        k: Some(48),
        ..TileRequest::default()
    };
    for tiling in [Tiling::Rule, Tiling::Model] {
        let plan = planned(request, tiling);
        assert_eq!(plan.k, 48);
        let dir = scratch(&format!("partial-{tiling}"));
        let (_, kir) = build(file, "gemm_k_tiled", tiling.name(), &dir);
        let note = tile_note(&plan, &format!("{tiling} within #[tile]"));
        assert!(kir.contains(&note), "{tiling}: {note}\n{kir}");
    }
    // The hinted tile computes the right product.
    let out = scratch("hint-run");
    let (code, stdout, err) = mogec(&[
        "run",
        file,
        "-k",
        "gemm_tiled",
        "--set",
        SET,
        "--random",
        "5",
        "--dim",
        "M=100",
        "--tiling",
        "model",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{stdout}{err}");
    assert!(stdout.contains("every output matches the reference interpreter"));
}

#[test]
fn a_tiling_other_than_rule_or_model_is_a_usage_error_on_every_command() {
    let dir = scratch("bad");
    let out = dir.to_str().unwrap();
    let cann = dir.join("cann");
    let cann = cann.to_str().unwrap();
    let commands: [Vec<&str>; 4] = [
        vec!["build", GEMM, "-k", "gemm", "--set", SET, "-o", out],
        vec![
            "run", GEMM, "-k", "gemm", "--set", SET, "--random", "1", "--dim", "M=16", "-o", out,
        ],
        vec![
            "bench", GEMM, "-k", "gemm", "--set", SET, "--dim", "M=16", "-o", out,
        ],
        vec![
            "export", GEMM, "-k", "gemm", "--set", SET, "--random", "1", "--dim", "M=16", "--cann",
            cann,
        ],
    ];
    for mut args in commands {
        args.extend(["--tiling", "fastest"]);
        let (code, stdout, err) = mogec(&args);
        assert_eq!(code, Some(2), "{args:?}: {stdout}{err}");
        assert!(
            err.contains("'fastest'") && err.contains("--tiling") && err.contains("rule, model"),
            "{args:?}: {err}"
        );
    }
    // Nothing was written by the refused commands.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}
