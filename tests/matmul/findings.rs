//! Findings of the acceptance test through `mogec`: one tensor as both matmul operands (AIC and MIX),
//! K = 0 refused at build, M = 0 and N = 0 at run time, the block dim of a MIX kernel stated on its
//! epilogue and two statements disagreeing, a dynamic K named plainly.

use std::fs;
use std::path::PathBuf;

use super::mogec::{mogec, scratch, text};
use super::*;

const SOURCE: &str = "\
/// `w @ w`: one tensor as both operands.
#[moge::kernel]
pub fn sq<const K: usize>(w: Tensor<bf16, (K, K)>) -> Tensor<bf16, (K, K)> {
    matmul(w, w)
}

/// `relu(x @ x) + x` as one MIX kernel: the operand read three times.
#[moge::kernel]
pub fn xw<const K: usize>(x: Tensor<bf16, (K, K)>) -> Tensor<bf16, (K, K)> {
    relu(matmul(x, x)) + x
}

/// A block dim on the epilogue's statement only.
#[moge::kernel]
pub fn h1<const K: usize, const N: usize>(a: Tensor<bf16, (M, K)>, b: Tensor<bf16, (K, N)>) -> Tensor<bf16, (M, N)> {
    let y = matmul(a, b);
    #[block_dim(n = 2)]
    let z = relu(y);
    z
}

/// Two statements of one MIX kernel asking different block dims.
#[moge::kernel]
pub fn h5<const K: usize, const N: usize>(a: Tensor<bf16, (M, K)>, b: Tensor<bf16, (K, N)>) -> Tensor<bf16, (M, N)> {
    #[block_dim(n = 2)]
    let y = matmul(a, b);
    #[block_dim(n = 3)]
    let z = relu(y);
    z
}

/// The matmul's result is an output: an AIC and an AIV kernel, each with its statement's block dim.
#[moge::kernel]
pub fn two_h<const K: usize, const N: usize>(a: Tensor<bf16, (M, K)>, b: Tensor<bf16, (K, N)>) -> (Tensor<bf16, (M, N)>, Tensor<bf16, (M, N)>) {
    #[block_dim(n = 2)]
    let y = matmul(a, b);
    #[block_dim(n = 3)]
    let z = relu(y);
    (y, z)
}

/// K and N dynamic.
#[moge::kernel]
pub fn mm_dyn(a: Tensor<bf16, (M, K)>, b: Tensor<bf16, (K, N)>) -> Tensor<bf16, (M, N)> {
    matmul(a, b)
}
";

fn source() -> PathBuf {
    let dir = scratch("findings_source");
    let file = dir.join("k.rs");
    fs::write(&file, SOURCE).unwrap();
    file
}

/// `mogec run` of `kernel` in `file`; returns the exit code, the output and the output directory.
fn run(file: &str, kernel: &str, set: &str, dim: Option<&str>) -> (Option<i32>, String, PathBuf) {
    let dir = scratch(&format!("findings_{kernel}_{set}_{dim:?}").replace([',', '=', '"'], "_"));
    let mut args = vec!["run", file, "--kernel", kernel, "--random", "3"];
    if !set.is_empty() {
        args.extend(["--set", set]);
    }
    if let Some(d) = dim {
        args.extend(["--dim", d]);
    }
    args.extend(["-o", dir.to_str().unwrap()]);
    let out = mogec(&args);
    (out.status.code(), text(&out), dir)
}

fn report(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

#[test]
fn one_tensor_as_both_operands_compiles_and_matches_the_interpreter_and_f64() {
    // Both used to declare `GM_ADDR w, GM_ADDR w`, which g++ refuses.
    let file = source();
    let file = file.to_str().unwrap();
    let (code, out, dir) = run(file, "sq", "K=40", None);
    assert_eq!(code, Some(0), "{out}");
    let r = report(&dir);
    assert_eq!(r["passed"], true, "{r}");
    assert_eq!(r["kernels"][0]["core_type"], "AIC");
    assert_eq!(r["outputs"]["out0"]["mismatches"], 0);
    // And the f64 product of what it read, within K f32 roundings plus the bf16 output rounding.
    let read = |name: &str| {
        moge_runtime::npy::read_npy_as(&dir.join(format!("{name}.npy")), DType::BF16)
            .unwrap()
            .as_f32()
            .unwrap()
            .to_vec()
    };
    let (w, got) = (read("w"), read("out0"));
    let (want, mag) = reference(40, 40, 40, &w, &w);
    for i in 0..got.len() {
        let bound = 40.0 * 2f64.powi(-24) * mag[i] * 1.01 + 2f64.powi(-8) * want[i].abs() + 1e-30;
        assert!((f64::from(got[i]) - want[i]).abs() <= bound, "element {i}");
    }
    let (code, out, dir) = run(file, "xw", "K=48", None);
    assert_eq!(code, Some(0), "{out}");
    let r = report(&dir);
    assert_eq!(r["kernels"][0]["core_type"], "MIX_AIC_1_2", "{r}");
    assert_eq!(r["outputs"]["out0"]["mismatches"], 0, "{r}");
}

#[test]
fn k_zero_is_refused_at_build_and_an_empty_m_or_n_runs() {
    // K = 0 used to give NaN everywhere (an accumulator no Mmad wrote) while the interpreter gives 0.
    for (file, kernel) in [
        ("examples/src/matmul.rs", "gemm"),
        ("examples/src/matmul.rs", "linear_relu"),
    ] {
        let dir = scratch(&format!("k0_{kernel}"));
        let out = mogec(&[
            "build",
            file,
            "--kernel",
            kernel,
            "--set",
            "K=0,N=16",
            "--emit",
            "ascendc",
            "-o",
            dir.to_str().unwrap(),
        ]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{kernel}: {t}");
        assert!(
            t.contains("`matmul` v")
                && t.contains(" = matmul v0, v1 at line")
                && t.contains("K = 0: every element of the product is an empty sum"),
            "{kernel}: {t}"
        );
    }
    // M = 0 (dynamic): an empty output, no launch failure; N = 0: an empty output too.
    let (code, out, dir) = run("examples/src/matmul.rs", "gemm", "K=16,N=16", Some("M=0"));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(report(&dir)["outputs"]["out0"]["elements"], 0);
    let (code, out, dir) = run(
        "examples/src/matmul.rs",
        "linear_relu",
        "K=16,N=16",
        Some("M=0"),
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(report(&dir)["kernels"][0]["core_type"], "MIX_AIC_1_2");
    let (code, out, dir) = run("examples/src/matmul.rs", "gemm", "K=16,N=0", Some("M=5"));
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(report(&dir)["outputs"]["out0"]["elements"], 0);
}

#[test]
fn the_block_dim_of_a_mix_kernel_is_honored_from_the_epilogue_and_conflicts_refused() {
    let file = source();
    let file = file.to_str().unwrap();
    // 1000 rows: without the hint the planner makes 6 tiles on 6 AI cores; with it, 4 tiles on 2.
    let (code, out, dir) = run(file, "h1", "K=64,N=64", Some("M=1000"));
    assert_eq!(code, Some(0), "{out}");
    let r = report(&dir);
    assert_eq!(r["kernels"][0]["core_type"], "MIX_AIC_1_2", "{r}");
    assert_eq!(r["kernels"][0]["block_dim"], 2, "{r}");
    assert_eq!(r["kernels"][0]["tiling"]["tiles"], 4, "{r}");
    assert_eq!(r["outputs"]["z"]["mismatches"], 0, "{r}");
    // Two device kernels: each honors its own statement's hint.
    let (code, out, dir) = run(file, "two_h", "K=64,N=64", Some("M=1000"));
    assert_eq!(code, Some(0), "{out}");
    let r = report(&dir);
    let kinds: Vec<(&str, u64)> = (0..2)
        .map(|i| {
            let k = &r["kernels"][i];
            (
                k["core_type"].as_str().unwrap(),
                k["block_dim"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("AIC", 2), ("AIV", 3)], "{r}");
    let (code, out, _) = run(file, "h5", "K=64,N=64", Some("M=1000"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("kernel `h5` cannot be compiled: schedule hint at line 28, column 13: block_dim(n = 3) contradicts block_dim(n = 2) on another statement of the same device kernel"),
        "{out}"
    );
}

#[test]
fn a_dynamic_k_is_a_plain_located_error() {
    let file = source();
    let (code, out, _) = run(file.to_str().unwrap(), "mm_dyn", "", Some("M=16,K=16,N=16"));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("at line 45, column 5: needs a static K and N, and its K is the dynamic dim `K`: make it a const generic (`const K: usize`) and bind it with `--set K=...`"),
        "{out}"
    );
    assert!(!out.contains("unbound or out of range"), "{out}");
}
