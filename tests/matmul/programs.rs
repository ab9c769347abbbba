//! Kernels with matmuls and other ops (or several matmuls) through `mogec`: each becomes a program of
//! several device kernels (one AIC or MIX kernel per matmul, AIV kernels for the other vector ops)
//! connected by GM intermediates; an epilogue the MIX lowering refuses becomes a kernel of its own, run on the emulator in launch order and compared with the
//! interpreter; the manifest's intermediates as a snapshot; the build is deterministic.

use std::fs;
use std::path::Path;

use moge_lower::kir::v2::{parse_program, program_to_string, verify_program};
use moge_lower::target::Target;

use super::mogec::{mogec, run_passing, scratch};

/// The kernels, one DSL file.
const PROGRAMS: &str = "\
/// rms_norm then matmul: the normalized rows go through GM to the cube.
#[moge::kernel]
pub fn norm_mm<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    g: Tensor<bf16, (K,)>,
    w: Tensor<bf16, (K, N)>,
) -> Tensor<bf16, (M, N)> {
    matmul(rms_norm(x, g, 1e-6), w)
}

/// Two matmuls in a chain: the first one's result is the second one's left operand.
#[moge::kernel]
pub fn mm2<const K: usize, const N: usize, const P: usize>(
    x: Tensor<bf16, (M, K)>,
    w1: Tensor<bf16, (K, N)>,
    w2: Tensor<bf16, (N, P)>,
) -> Tensor<bf16, (M, P)> {
    matmul(matmul(x, w1), w2)
}

/// A matmul followed by a row softmax: one MIX kernel.
#[moge::kernel]
pub fn mm_softmax<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    w: Tensor<bf16, (K, N)>,
) -> Tensor<f32, (M, N)> {
    softmax(cast::<f32>(matmul(x, w)), -1)
}

/// A cast operand: the f32 input is rounded to bf16 by a vector kernel first.
#[moge::kernel]
pub fn mm_cast<const K: usize, const N: usize>(
    x: Tensor<f32, (M, K)>,
    w: Tensor<bf16, (K, N)>,
) -> Tensor<bf16, (M, N)> {
    matmul(cast::<bf16>(x), w)
}

/// A matmul result that is also an output: the MIX lowering refuses it (a MIX kernel returns the
/// epilogue's results only), so the softmax is a vector kernel of its own.
#[moge::kernel]
pub fn both<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    w: Tensor<bf16, (K, N)>,
) -> (Tensor<bf16, (M, N)>, Tensor<f32, (M, N)>) {
    let y = matmul(x, w);
    (y, softmax(cast::<f32>(y), -1))
}

/// A scalar scale after the matmul: the constant is copied into the MIX kernel that reads it (it used
/// to make a vector group of its own, refused for having no tensor parameter to split into rows).
#[moge::kernel]
pub fn scaled<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    w: Tensor<bf16, (K, N)>,
) -> Tensor<bf16, (M, N)> {
    relu(matmul(x, w) * 0.5) + 1.0
}

/// A matmul result returned twice: the AIC kernel writes `y`, a copy kernel `y_1`.
#[moge::kernel]
pub fn twice<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    w: Tensor<bf16, (K, N)>,
) -> (Tensor<bf16, (M, N)>, Tensor<bf16, (M, N)>) {
    let y = matmul(x, w);
    (y, y)
}

/// A parameter returned next to a matmul: a copy kernel writes `x_1`.
#[moge::kernel]
pub fn pass_x<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    w: Tensor<bf16, (K, N)>,
) -> (Tensor<bf16, (M, N)>, Tensor<bf16, (M, K)>) {
    (matmul(x, w), x)
}

/// A parameter only bound to an unused name: it keeps its place in the program's signature (and its
/// dim `M` is still bound from it).
#[moge::kernel]
pub fn aside<const K: usize>(
    x: Tensor<bf16, (M, K)>,
    w: Tensor<bf16, (K, K)>,
) -> Tensor<bf16, (K, K)> {
    let y = matmul(w, w);
    let _z = x;
    y
}

/// Vector ops on rows of two different dims before one matmul: two vector kernels.
#[moge::kernel]
pub fn two_rows<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    g: Tensor<bf16, (K,)>,
    w: Tensor<bf16, (K, N)>,
    u: Tensor<bf16, (K, N)>,
) -> Tensor<bf16, (M, N)> {
    matmul(rms_norm(x, g, 1e-6), w + u)
}

/// An FFN without routing: matmul, SiLU, matmul (a MIX kernel, then an AIC kernel).
#[moge::kernel]
pub fn mlp<const H: usize, const I: usize>(
    x: Tensor<bf16, (M, H)>,
    w1: Tensor<bf16, (H, I)>,
    w2: Tensor<bf16, (I, H)>,
) -> Tensor<bf16, (M, H)> {
    matmul(silu(matmul(x, w1)), w2)
}

/// A parameter no op reads (`_z`) keeps its place in the signature of a program of two kernels.
#[moge::kernel]
pub fn skip<const K: usize, const N: usize>(
    x: Tensor<bf16, (M, K)>,
    g: Tensor<bf16, (K,)>,
    _z: Tensor<f32, (M, K)>,
    w: Tensor<bf16, (K, N)>,
) -> Tensor<bf16, (M, N)> {
    matmul(rms_norm(x, g, 1e-6), w)
}
";

/// Writes [`PROGRAMS`] into a scratch directory and returns the file's path.
fn source(test: &str) -> String {
    let dir = scratch(test);
    let file = dir.join("programs.rs");
    fs::write(&file, PROGRAMS).unwrap();
    file.to_str().unwrap().to_string()
}

/// `mogec run` of `kernel` with `set` at `M = m`: asserts it passed, that it launched `kinds` (core types
/// in launch order, kernels named `<kernel>_k<i>`), and returns the report's `out0` entry.
fn run(file: &str, kernel: &str, set: &str, m: u64, kinds: &[&str]) -> serde_json::Value {
    run_report(file, kernel, set, &format!("M={m}"), kinds)["outputs"]["out0"].clone()
}

/// As [`run`] with the dynamic dim binding `dim`; returns the whole report.
fn run_report(file: &str, kernel: &str, set: &str, dim: &str, kinds: &[&str]) -> serde_json::Value {
    run_passing(file, kernel, set, dim, 3, kinds).0
}

#[test]
fn kernels_with_matmuls_and_other_ops_run_as_several_device_kernels() {
    let file = source("programs");
    // Bit-equal where both sides do the same arithmetic: rms_norm, the cast and the bf16 matmuls
    // round the same values the same way on the emulator and in the interpreter, and an
    // intermediate holds exactly the dtype the graph gives it. M = 37: a ragged last M tile.
    for (kernel, set, kinds) in [
        ("norm_mm", "K=64,N=48", &["AIV", "AIC"][..]),
        ("mm2", "K=64,N=48,P=32", &["AIC", "AIC"][..]),
        ("mm_cast", "K=100,N=40", &["AIV", "AIC"][..]),
        ("two_rows", "K=32,N=16", &["AIV", "AIV", "AIC"][..]),
    ] {
        let o = run(&file, kernel, set, 37, kinds);
        assert_eq!(o["max_abs_err"].as_f64(), Some(0.0), "{kernel}: {o}");
    }
    // The softmax's exp is the emulator's vector Exp against the interpreter's f32 exp: probabilities
    // (at most 1) within 1e-6 absolute, a few f32 ulps of the largest.
    let o = run(&file, "mm_softmax", "K=64,N=32", 37, &["MIX_AIC_1_2"]);
    assert!(o["max_abs_err"].as_f64().unwrap() <= 1e-6, "{o}");
    // SiLU's exp likewise, on bf16 values: a 1-ulp difference of a bf16 activation (2^-8 relative)
    // can reach the second matmul, so the output is within the run's bf16 tolerance (mismatches 0,
    // checked by `run`) rather than bit-equal.
    let o = run(&file, "mlp", "H=64,I=128", 37, &["MIX_AIC_1_2", "AIC"]);
    assert!(o["max_rel_err"].as_f64().unwrap() <= 2.0f64.powi(-6), "{o}");
}

#[test]
fn epilogues_the_mix_lowering_refuses_run_as_separate_kernels() {
    // A matmul result that is also an output (`y`): the AIC kernel writes it, the AIV kernel reads it
    // back for the softmax. Both outputs match the interpreter.
    let file = source("refused_epilogues");
    let report = run_report(&file, "both", "K=32,N=16", "M=37", &["AIC", "AIV"]);
    assert_eq!(report["outputs"]["y"]["max_abs_err"].as_f64(), Some(0.0));
    assert!(report["outputs"]["out1"]["max_abs_err"].as_f64().unwrap() <= 1e-6);
    // Rows too wide for one tile (the epilogue needs whole rows of 4096 columns): AIC, then AIV.
    let report = run_report(
        "examples/src/matmul.rs",
        "linear_relu",
        "K=64,N=4096",
        "M=20",
        &["AIC", "AIV"],
    );
    assert_eq!(report["outputs"]["out0"]["mismatches"], 0, "{report}");
}

#[test]
fn constants_repeated_outputs_and_returned_parameters_around_a_matmul_run() {
    let file = source("outputs_around_matmuls");
    let o = run(&file, "scaled", "K=48,N=32", 37, &["MIX_AIC_1_2"]);
    assert!(o["max_abs_err"].as_f64().is_some(), "{o}");
    for (kernel, set, kinds, outputs) in [
        ("twice", "K=48,N=32", &["AIC", "AIV"][..], &["y", "y_1"][..]),
        (
            "pass_x",
            "K=48,N=32",
            &["AIC", "AIV"][..],
            &["out0", "x_1"][..],
        ),
        ("aside", "K=48", &["AIC"][..], &["y"][..]),
    ] {
        let report = run_report(&file, kernel, set, "M=37", kinds);
        let names: Vec<&String> = report["outputs"].as_object().unwrap().keys().collect();
        assert_eq!(names, outputs, "{kernel}: {report}");
        // The copies are exact.
        for name in outputs {
            assert_eq!(
                report["outputs"][*name]["max_abs_err"].as_f64(),
                Some(0.0),
                "{kernel} {name}: {report}"
            );
        }
    }
}

/// `mogec build` of `kernel` into `dir`: the manifest, the kernels and their kernel IR.
fn build(file: &str, kernel: &str, set: &str, dir: &Path) {
    let out = mogec(&[
        "build",
        file,
        "--kernel",
        kernel,
        "--set",
        set,
        "--emit",
        "ascendc,manifest,kir",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{kernel}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn program_manifests_list_the_intermediates_and_builds_are_deterministic() {
    let file = source("program_manifests");
    for (kernel, set) in [
        ("norm_mm", "K=64,N=48"),
        ("mlp", "H=64,I=128"),
        ("two_rows", "K=32,N=16"),
    ] {
        let first = scratch(&format!("manifest_{kernel}_1"));
        let second = scratch(&format!("manifest_{kernel}_2"));
        build(&file, kernel, set, &first);
        build(&file, kernel, set, &second);
        let mut names: Vec<String> = fs::read_dir(&first)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in &names {
            assert_eq!(
                fs::read(first.join(name)).unwrap(),
                fs::read(second.join(name)).unwrap(),
                "{kernel}: {name} differs between two builds"
            );
        }
        let manifest = fs::read_to_string(first.join(format!("{kernel}.json"))).unwrap();
        insta::assert_snapshot!(format!("program_manifest_{kernel}"), manifest);
        // The kernel IR is ONE program: it parses, prints back byte for byte and verifies, and it
        // holds every kernel of the manifest, in launch order, with the manifest's arguments.
        let kir = fs::read_to_string(first.join(format!("{kernel}.kir"))).unwrap();
        let program = parse_program(&kir).unwrap_or_else(|e| panic!("{kernel}: {e}\n{kir}"));
        assert_eq!(program_to_string(&program), kir, "{kernel}");
        verify_program(&program, &Target::ascend910b2()).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        let entries = parsed["kernels"].as_array().unwrap();
        assert_eq!(entries.len(), program.kernels.len(), "{kernel}");
        for (k, entry) in program.kernels.values().zip(entries) {
            assert!(names.contains(&entry["source"].as_str().unwrap().to_string()));
            assert_eq!(entry["name"], k.name.as_str(), "{kernel}");
            let args: Vec<&str> = k
                .params
                .iter()
                .filter(|&&g| program.gm[g].kind.is_param())
                .map(|&g| program.gm[g].name.as_str())
                .collect();
            assert_eq!(entry["args"], serde_json::json!(args), "{kernel}");
            // Every kernel receives the one tiling struct: the manifest packs what the source
            // declares, field for field.
            let fields: Vec<&str> = program.fields.values().map(|f| f.name.as_str()).collect();
            let packed: Vec<&str> = entry["tiling"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["name"].as_str().unwrap())
                .collect();
            assert_eq!(packed, fields, "{kernel}");
            let source = fs::read_to_string(first.join(entry["source"].as_str().unwrap())).unwrap();
            let declared: Vec<&str> = source
                .split_once("Tiling {\n")
                .and_then(|(_, rest)| rest.split_once("};"))
                .map(|(body, _)| body)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    l.trim()
                        .trim_start_matches("int64_t ")
                        .trim_end_matches(';')
                })
                .collect();
            assert_eq!(declared, fields, "{kernel}: {}", entry["source"]);
        }
    }
}

#[test]
fn a_parameter_no_kernel_reads_keeps_its_place_in_the_program() {
    let file = source("unused_param");
    let dir = scratch("unused_param_build");
    build(&file, "skip", "K=64,N=48", &dir);
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("skip.json")).unwrap()).unwrap();
    let names: Vec<&str> = manifest["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x", "g", "_z", "w", "out0"]);
    // In the kernel IR it is an input of the program that no kernel takes.
    let program = parse_program(&fs::read_to_string(dir.join("skip.kir")).unwrap()).unwrap();
    let (z, data) = program.gm.iter().find(|(_, d)| d.name == "_z").unwrap();
    assert_eq!(data.kind, moge_lower::kir::v2::GmKind::Input);
    assert!(program.kernels.values().all(|k| !k.params.contains(&z)));
    let o = run(&file, "skip", "K=64,N=48", 20, &["AIV", "AIC"]);
    assert_eq!(o["max_abs_err"].as_f64(), Some(0.0), "{o}");
}
