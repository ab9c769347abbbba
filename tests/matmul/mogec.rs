//! The cube path through `mogec`: `build` and `run` of a one-matmul kernel (the `gemm` example, and an
//! f16 and an f32 twin) make one AIC kernel whose outputs equal the interpreter's bit for bit and the f64
//! product within the accumulation and rounding bound.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::*;

/// A fresh, empty scratch directory for one test.
pub(super) fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cube_mogec")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Runs `mogec` with `args` in the package root.
pub(super) fn mogec(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mogec"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the mogec binary runs")
}

/// Standard output and standard error of a `mogec` run, for messages.
pub(super) fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `mogec run FILE --kernel KERNEL --set SET --random SEED --dim DIM -o <scratch>`: asserts it exited 0
/// and passed, that it launched `kinds` (core types in launch order, kernels `<kernel>_k<i>`) and
/// that no output has a mismatch; returns the report and the output directory.
pub(super) fn run_passing(
    file: &str,
    kernel: &str,
    set: &str,
    dim: &str,
    seed: u64,
    kinds: &[&str],
) -> (serde_json::Value, PathBuf) {
    let dir = scratch(&format!("run_{kernel}_{set}_{dim}_{seed}").replace([',', '='], "_"));
    let seed = seed.to_string();
    let out = mogec(&[
        "run",
        file,
        "--kernel",
        kernel,
        "--set",
        set,
        "--random",
        &seed,
        "--dim",
        dim,
        "-o",
        dir.to_str().unwrap(),
    ]);
    let what = format!("{kernel} {set} {dim}");
    assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out));
    let report: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["passed"], true, "{what}: {report}");
    let names: Vec<String> = (0..kinds.len()).map(|i| format!("{kernel}_k{i}")).collect();
    assert_eq!(report["device_kernels"], serde_json::json!(names), "{what}");
    let launched: Vec<&str> = report["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["core_type"].as_str().unwrap())
        .collect();
    assert_eq!(launched, kinds, "{what}");
    for (name, o) in report["outputs"].as_object().unwrap() {
        assert_eq!(o["mismatches"], 0, "{what} output {name}: {o}");
    }
    (report, dir)
}

/// `mogec run FILE --kernel NAME --set K=k,N=n --random SEED --dim M=m` as one AIC kernel: checks its
/// tiling and block dim, and the outputs it wrote against the interpreter (bit for bit) and a plain f64
/// product of the inputs it wrote.
fn run_gemm(file: &str, kernel: &str, (m, n, k): (u64, u64, u64), c: CubeDType, seed: u64) {
    let (set, dim) = (format!("K={k},N={n}"), format!("M={m}"));
    let (report, dir) = run_passing(file, kernel, &set, &dim, seed, &["AIC"]);
    let what = format!("{kernel} {m}x{n}x{k}");
    let launched = &report["kernels"][0];
    assert_eq!(launched["core_type"], "AIC", "{what}");
    assert_eq!(
        launched["tiling"]["m"], m,
        "{what}: the tiling field m is M"
    );
    let blocks = launched["block_dim"].as_u64().unwrap();
    let tiles = launched["tiling"]["tiles"].as_u64().unwrap();
    assert!(
        (1..=24).contains(&blocks) && blocks <= tiles.max(1),
        "{what}: {blocks} blocks for {tiles} tiles"
    );
    // Bit-equal to the interpreter: both sum the f32 products in K order and round once.
    let o = &report["outputs"]["out0"];
    assert_eq!(o["mismatches"], 0, "{what}: {o}");
    assert_eq!(o["max_abs_err"].as_f64(), Some(0.0), "{what}: {o}");
    // And the f64 product within K f32 roundings of the running sum plus the output rounding.
    let dtype = dtype_of(c);
    let read = |name: &str| {
        moge_runtime::npy::read_npy_as(&dir.join(format!("{name}.npy")), dtype)
            .unwrap()
            .as_f32()
            .unwrap()
            .to_vec()
    };
    let (a, b, got) = (read("a"), read("b"), read("out0"));
    assert_eq!(got.len() as u64, m * n);
    let (want, mag) = reference(m, n, k, &a, &b);
    let out_unit = match c {
        CubeDType::Bf16 => 2f64.powi(-8),
        CubeDType::F16 => 2f64.powi(-11),
        // No output rounding; the products' roundings are within the K term.
        CubeDType::F32 => 0.0,
    };
    for i in 0..got.len() {
        let bound = k as f64 * 2f64.powi(-24) * mag[i] * 1.01 + out_unit * want[i].abs() + 1e-30;
        assert!(
            (f64::from(got[i]) - want[i]).abs() <= bound,
            "{what} element {i}: {} vs f64 {}",
            got[i],
            want[i]
        );
    }
}

#[test]
fn mogec_runs_the_gemm_example_as_one_aic_kernel() {
    // M not a multiple of 16 (a partial fractal row), K not a multiple of the K tile, one block.
    run_gemm(
        "examples/src/matmul.rs",
        "gemm",
        (33, 48, 320),
        CubeDType::Bf16,
        5,
    );
    // Several blocks and a ragged last M tile.
    run_gemm(
        "examples/src/matmul.rs",
        "gemm",
        (1000, 128, 1024),
        CubeDType::Bf16,
        6,
    );
}

const F16_GEMM: &str = "\
/// `a @ b` in f16.
#[moge::kernel]
pub fn gemm_f16<const K: usize, const N: usize>(
    a: Tensor<f16, (M, K)>,
    b: Tensor<f16, (K, N)>,
) -> Tensor<f16, (M, N)> {
    matmul(a, b)
}

/// `a @ b` in f32.
#[moge::kernel]
pub fn gemm_f32<const K: usize, const N: usize>(
    a: Tensor<f32, (M, K)>,
    b: Tensor<f32, (K, N)>,
) -> Tensor<f32, (M, N)> {
    matmul(a, b)
}
";

#[test]
fn mogec_runs_f16_and_f32_matmuls() {
    let dir = scratch("f16_source");
    let file = dir.join("gemm.rs");
    fs::write(&file, F16_GEMM).unwrap();
    let file = file.to_str().unwrap();
    run_gemm(file, "gemm_f16", (17, 40, 100), CubeDType::F16, 7);
    run_gemm(file, "gemm_f32", (33, 40, 100), CubeDType::F32, 8);
}
