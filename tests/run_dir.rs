//! `mogec run DIR`: a build directory runs as it is on disk — generated kernels, kernels edited by
//! hand, and a hand-written two-kernel program with an intermediate buffer — with every check of the
//! emulator, compared with the interpreter when the graph is there.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use moge::graph::DType;
use moge::run::{RunInputs, RunOptions};
use moge::run_dir::run_dir;
use moge::Tensor;
use moge_runtime::npy;
use serde_json::Value;

const MOGEC: &str = env!("CARGO_BIN_EXE_mogec");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Exit status, stdout and stderr of one `mogec` run in the package root.
fn mogec(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(MOGEC)
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("the mogec binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("run_dir")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("scratch paths are UTF-8")
}

/// `mogec build` of the example gate (E = 16, G = 2) into a fresh directory, with or without the graph.
fn build_gate(name: &str, graph: bool) -> PathBuf {
    let emit = if graph {
        "graph,ascendc,manifest"
    } else {
        "ascendc,manifest"
    };
    build(name, "examples/src/gate.rs", "moge_gate", "E=16,G=2", emit)
}

/// `mogec build FILE --kernel KERNEL --set SET --emit EMIT` into a fresh directory `name`.
fn build(name: &str, file: &str, kernel: &str, set: &str, emit: &str) -> PathBuf {
    let dir = scratch(name);
    let (code, out, err) = mogec(&[
        "build",
        file,
        "--kernel",
        kernel,
        "--set",
        set,
        "--emit",
        emit,
        "-o",
        arg(&dir),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    dir
}

/// The example gate built without its graph into `name`, its manifest (parsed) changed by `change`.
fn gate_with_manifest(name: &str, change: impl FnOnce(&mut Value)) -> PathBuf {
    let dir = build_gate(name, false);
    edit(&dir.join("moge_gate.json"), |text| {
        let mut json: Value = serde_json::from_str(&text).unwrap();
        change(&mut json);
        json.to_string()
    });
    dir
}

/// The one `.cpp` of a build directory.
fn kernel_file(dir: &Path) -> PathBuf {
    let cpps: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .collect();
    assert_eq!(cpps.len(), 1, "{cpps:?}");
    cpps[0].clone()
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = fs::read_to_string(path).unwrap();
    let edited = f(text.clone());
    assert_ne!(edited, text, "the edit must change {}", path.display());
    fs::write(path, edited).unwrap();
}

fn report(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

fn run_gate(dir: &Path, out: &Path) -> (Option<i32>, String, String) {
    mogec(&[
        "run",
        arg(dir),
        "--random",
        "5",
        "--dim",
        "T=37",
        "-o",
        arg(out),
    ])
}

#[test]
fn a_build_directory_runs_against_its_graph_and_harmless_edits_pass() {
    let dir = build_gate("graph", true);
    let out = scratch("graph-out");
    let (code, stdout, stderr) = run_gate(&dir, &out);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("ok: every output matches the reference interpreter"),
        "{stdout}"
    );
    let r = report(&out);
    assert_eq!(
        (r["compared"].clone(), r["passed"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert_eq!(r["dims"]["T"], 37);
    // The expert ids equal the interpreter's, evaluated here in-process on the inputs written.
    let kernel = moge_examples::gate::moge_gate::<16, 2>::graph().unwrap();
    let inputs = [
        npy::read_npy_as(&out.join("logits.npy"), DType::F32).unwrap(),
        npy::read_npy_as(&out.join("router_scale.npy"), DType::F32).unwrap(),
    ];
    let want = moge_lower::interp::eval(&kernel, &inputs).unwrap();
    let expert = npy::read_npy_as(&out.join("expert.npy"), DType::I32).unwrap();
    assert_eq!(expert, want[1]);

    // A hand edit that changes nothing the kernel computes: the edited source is compiled and passes.
    edit(&kernel_file(&dir), |text| {
        format!("// Edited by hand: a comment at the top.\n{text}\n// And one at the end.\n")
    });
    let edited = scratch("graph-edited-out");
    let (code, stdout, stderr) = run_gate(&dir, &edited);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        fs::read(edited.join("weight.npy")).unwrap(),
        fs::read(out.join("weight.npy")).unwrap()
    );
}

#[test]
fn broken_edits_are_reported_by_the_emulator_or_the_comparison() {
    // A UB buffer far over the unified buffer: the emulator's capacity check names kernel, core and
    // call.
    let dir = build_gate("ub", true);
    edit(&kernel_file(&dir), |text| {
        let at = text.find("InitBuffer(").expect("the kernel allocates UB");
        let end = at + text[at..].find(");").unwrap();
        let comma = at + text[at..end].rfind(", ").unwrap();
        format!("{}, 1048576{}", &text[..comma], &text[end..])
    });
    let out = scratch("ub-out");
    let (code, stdout, stderr) = run_gate(&dir, &out);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.starts_with("error: kernel `moge_gate_k0` failed on the emulator: kernel `moge_gate_k0`, core AIV 0, TPipe::InitBuffer: UB overflow"),
        "{stderr}"
    );
    assert!(
        !out.join("report.json").exists(),
        "a failed run writes nothing"
    );

    // Wrong numbers (|x| for exp(x)) run cleanly but differ from the interpreter.
    let dir = build_gate("numbers", true);
    edit(&kernel_file(&dir), |text| {
        text.replacen("AscendC::Exp(", "AscendC::Abs(", 1)
    });
    let out = scratch("numbers-out");
    let (code, stdout, stderr) = run_gate(&dir, &out);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("beyond tolerance of the reference interpreter"),
        "{stderr}"
    );
    assert_eq!(report(&out)["passed"], Value::Bool(false));
}

#[test]
fn a_directory_without_its_graph_runs_and_says_nothing_was_compared() {
    let with = build_gate("with-graph", true);
    let with_out = scratch("with-graph-out");
    let (code, stdout, stderr) = run_gate(&with, &with_out);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let dir = build_gate("no-graph", false);
    let out = scratch("no-graph-out");
    let logits = format!("logits={}", with_out.join("logits.npy").display());
    let scale = format!(
        "router_scale={}",
        with_out.join("router_scale.npy").display()
    );
    let (code, stdout, stderr) = mogec(&[
        "run",
        arg(&dir),
        "--input",
        &logits,
        "--input",
        &scale,
        "-o",
        arg(&out),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("not compared: there is no graph"),
        "{stdout}"
    );
    let r = report(&out);
    assert_eq!(r["compared"], Value::Bool(false));
    assert_eq!(r["outputs"]["weight"]["file"], "weight.npy");
    assert!(r["outputs"]["weight"].get("max_abs_err").is_none(), "{r}");
    // The same kernel on the same inputs: the same bytes as the run that was compared.
    for file in ["weight.npy", "expert.npy"] {
        assert_eq!(
            fs::read(out.join(file)).unwrap(),
            fs::read(with_out.join(file)).unwrap()
        );
    }
    // Random inputs come from the manifest's signature as they come from the graph.
    let random = scratch("no-graph-random");
    let (code, stdout, stderr) = run_gate(&dir, &random);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(
        fs::read(random.join("logits.npy")).unwrap(),
        fs::read(with_out.join("logits.npy")).unwrap()
    );
}

#[test]
fn bad_directories_are_refused_with_what_is_wrong() {
    let out = scratch("bad-out");
    let run = |dir: &Path| run_gate(dir, &out);
    // No manifest.
    let empty = scratch("empty");
    fs::write(empty.join("report.json"), "{\"passed\": true}").unwrap();
    let (code, _, stderr) = run(&empty);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!("error: `{}` holds no moge manifest (the `.json` file `mogec build --emit ascendc,manifest` writes next to the `.cpp` files)\n", empty.display())
    );
    // A truncated manifest: the JSON error with its line and column, not "no manifest".
    let dir = build_gate("truncated", false);
    let manifest = dir.join("moge_gate.json");
    fs::write(&manifest, "{\"format\": \"moge-manifest/2\", \"program\": ").unwrap();
    let (code, _, stderr) = run(&dir);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: {}: not a JSON document: EOF while parsing a value at line 1 column 41\n",
            manifest.display()
        )
    );
    // A negative literal size: a manifest error naming the param and the axis.
    let dir = gate_with_manifest("negative-size", |json| {
        json["params"][0]["shape"][1] = Value::from("-64");
    });
    let (code, _, stderr) = run(&dir);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("field `params[0].shape[1]`: axis 1 of `logits` has the negative size -64"),
        "{stderr}"
    );
    // An empty tiling list while the kernel reads its tiling struct: the emulator names the read past it.
    let dir = gate_with_manifest("empty-tiling", |json| {
        json["kernels"][0]["tiling"] = Value::Array(Vec::new());
    });
    let (code, _, stderr) = run(&dir);
    assert_ne!(code, Some(0));
    assert!(
        // Whichever core reads first (the cores of an AIV launch run as free threads).
        stderr.contains("(AIV ")
            && stderr.contains(") read tiling byte ")
            && stderr.contains("past the 0 tiling bytes of the launch"),
        "{stderr}"
    );
    // A manifest naming a missing .cpp.
    let dir = build_gate("missing-cpp", false);
    let cpp = kernel_file(&dir);
    fs::remove_file(&cpp).unwrap();
    let (code, _, stderr) = run(&dir);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with(&format!(
            "error: `{}`: kernel `moge_gate_k0` has source `{}`, which cannot be read: ",
            dir.join("moge_gate.json").display(),
            cpp.display()
        )),
        "{stderr}"
    );
    // A .cpp that does not compile: g++'s error with the file's own name, trimmed.
    let dir = build_gate("no-compile", false);
    let cpp = kernel_file(&dir);
    edit(&cpp, |text| {
        let mut text = text.replacen("AscendC::Exp(", "AscendC::NoSuchCall(", 1);
        // Many errors: the output is cut.
        for i in 0..30 {
            text.push_str(&format!("int broken_{i} = undeclared_{i};\n"));
        }
        text
    });
    let (code, _, stderr) = run(&dir);
    assert_eq!(code, Some(1));
    let first = format!(
        "error: kernel `moge_gate_k0`: `{}` does not compile:\n",
        cpp.display()
    );
    assert!(stderr.starts_with(&first), "{stderr}");
    assert!(stderr.contains(&format!("{}:", cpp.display())), "{stderr}");
    assert!(stderr.contains("NoSuchCall"), "{stderr}");
    assert!(!stderr.contains("kernel.cpp"), "{stderr}");
    assert!(stderr.lines().count() <= 22, "{stderr}");
    assert!(
        stderr.contains("more lines of compiler output)"),
        "{stderr}"
    );
    // A manifest of another version, and a malformed one.
    let dir = build_gate("v1", false);
    let manifest = dir.join("moge_gate.json");
    edit(&manifest, |t| {
        t.replace("moge-manifest/2", "moge-manifest/1")
    });
    let (code, _, stderr) = run(&dir);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("unknown manifest format \"moge-manifest/1\""),
        "{stderr}"
    );
    edit(&manifest, |t| {
        t.replace("moge-manifest/1", "moge-manifest/2")
            .replace("\"AIV\"", "\"vector\"")
    });
    let (code, _, stderr) = run(&dir);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!("error: {}: field `kernels[0].core_type`: unknown variant `vector`, expected one of `AIV`, `AIC`, `MIX_AIC_1_2`\n", manifest.display())
    );
    // A target no Ascend part has: the same.
    edit(&manifest, |t| {
        t.replace("\"vector\"", "\"AIV\"")
            .replace("\"ascend910b2\"", "\"ascend999\"")
    });
    let (code, _, stderr) = run(&dir);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!("error: {}: field `target`: unknown target `ascend999`: expected one of ascend910b1, ascend910b2, ascend910b3, ascend910b4\n", manifest.display())
    );
    // Two manifests: which program is meant is not guessed.
    let dir = build_gate("two-manifests", false);
    fs::copy(dir.join("moge_gate.json"), dir.join("copy.json")).unwrap();
    let (code, _, stderr) = run(&dir);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: `{}` holds several moge manifests (`copy.json`, `moge_gate.json`); keep one program per directory\n",
            dir.display()
        )
    );
    // A graph of another program than the manifest's.
    let dir = build_gate("other-graph", true);
    edit(&dir.join("moge_gate.json"), |t| {
        t.replace("\"logits\"", "\"scores\"")
    });
    let (code, _, stderr) = run(&dir);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr,
        format!(
            "error: `{}` and `{}` describe different programs: the graph takes inputs (logits, router_scale), the manifest (scores, router_scale)\n",
            dir.join("moge_gate.graph").display(),
            dir.join("moge_gate.json").display()
        )
    );
    // Flags of a DSL file do not apply to a directory.
    for flags in [
        &["--kernel", "moge_gate"][..],
        &["--set", "E=16"],
        &["--target", "ascend910b2"],
    ] {
        let mut args = vec!["run", arg(&dir), "--random", "1", "--dim", "T=3"];
        args.extend_from_slice(flags);
        let (code, _, stderr) = mogec(&args);
        assert_eq!(code, Some(2), "{flags:?}");
        assert!(
            stderr.starts_with(&format!(
                "error: {} applies to a kernel source file",
                flags[0]
            )),
            "{stderr}"
        );
    }
}

/// The hand-written `triple` program: kernel 1 writes `twice = 2 x` to an intermediate, kernel 2 reads
/// it back and writes `y = twice + x`.
#[test]
fn a_hand_written_two_kernel_program_runs_through_its_intermediate() {
    let dir = Path::new(ROOT).join("tests/data/two_kernels");
    for t in [1usize, 7, 0] {
        let x: Vec<f32> = (0..t * 64).map(|i| i as f32 * 0.37 - 5.0).collect();
        let input = Tensor::from_f32(DType::F32, vec![t, 64], x.clone()).unwrap();
        let out = scratch(&format!("triple-{t}"));
        let report = run_dir(
            &dir,
            RunInputs::Tensors(vec![input]),
            &out,
            &RunOptions::default(),
        )
        .unwrap();
        assert!(!report.compared);
        let y = npy::read_npy_as(&out.join("y.npy"), DType::F32).unwrap();
        assert_eq!(y.shape, vec![t, 64]);
        // 2x is exact and 2x + x is rounded once: the f32 of the exact 3x.
        let want: Vec<f32> = x.iter().map(|&v| (3.0 * f64::from(v)) as f32).collect();
        assert_eq!(y.as_f32().unwrap(), &want[..]);
        let launch = &report.launch;
        assert_eq!(launch.kernel_names(), vec!["double_rows", "add_rows"]);
        let row = 64 * 4;
        let per_kernel: Vec<(u32, Option<u64>, Option<u64>)> = launch
            .kernels
            .iter()
            .map(|k| (k.block_dim, k.gm_bytes_read, k.gm_bytes_written))
            .collect();
        // Kernel 1: one row per core, x in and twice out; kernel 2: two rows per core, twice and x
        // in, y out. With T = 0 neither has anything to write and neither is launched.
        let t64 = t as u64;
        assert_eq!(
            per_kernel,
            vec![
                (t as u32, Some(row * t64), Some(row * t64)),
                (t.div_ceil(2) as u32, Some(2 * row * t64), Some(row * t64)),
            ]
        );
        assert_eq!(launch.gm_bytes_read(), Some(3 * row * t64));
        assert_eq!(launch.gm_bytes_written(), Some(2 * row * t64));
        assert_eq!(launch.compulsory_bytes, 2 * row * t64);
    }
}

#[test]
fn a_manifest_passing_the_wrong_arguments_is_refused_before_compiling() {
    let dir = scratch("triple-arity");
    for file in ["program.json", "double_rows.cpp", "add_rows.cpp"] {
        fs::copy(
            Path::new(ROOT).join("tests/data/two_kernels").join(file),
            dir.join(file),
        )
        .unwrap();
    }
    // The source loses a parameter the manifest still passes.
    edit(&dir.join("add_rows.cpp"), |t| {
        t.replace(
            "GM_ADDR twice, GM_ADDR x, GM_ADDR y",
            "GM_ADDR twice, GM_ADDR y",
        )
    });
    let out = scratch("triple-arity-out");
    let (code, _, stderr) = mogec(&[
        "run",
        arg(&dir),
        "--random",
        "1",
        "--dim",
        "T=3",
        "-o",
        arg(&out),
    ]);
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "error: kernel `add_rows`: its source declares 4 parameters (twice, y, workspace, tiling), but the manifest passes 5 (twice, x, y, workspace, tiling)\n"
    );
}

#[test]
fn a_manifest_file_given_for_its_directory_gets_a_hint() {
    let dir = build_gate("manifest-file", false);
    let manifest = dir.join("moge_gate.json");
    let out = scratch("manifest-file-out");
    let (code, _, stderr) = mogec(&[
        "run",
        arg(&manifest),
        "--random",
        "1",
        "--dim",
        "T=8",
        "-o",
        arg(&out),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: `{}` is a manifest: give `mogec run` the build directory it is in (`mogec run {} ...`)\n",
            manifest.display(),
            dir.display()
        )
    );
}

#[test]
fn a_tensor_never_freed_is_reported_at_kernel_end_even_when_no_later_alloc_needs_it() {
    // One tile (M = 13 rows): no later AllocTensor would wait for the buffer whose FreeTensor is gone,
    // so only the end-of-kernel check of the queue sees it.
    for (file, kernel, set, cut) in [
        (
            "examples/src/matmul.rs",
            "gemm",
            "K=64,N=32",
            "q2.FreeTensor(t2);",
        ),
        (
            "examples/src/gate.rs",
            "moge_gate",
            "E=16,G=2",
            ".FreeTensor(",
        ),
    ] {
        let dir = build(
            &format!("never-freed-{kernel}"),
            file,
            kernel,
            set,
            "graph,ascendc,manifest",
        );
        let cpp = kernel_file(&dir);
        edit(&cpp, |text| {
            let at = text.find(cut).expect("the kernel frees a queue tensor");
            let end = at + text[at..].find(';').unwrap() + 1;
            let start = text[..at].rfind(|c: char| c.is_whitespace()).unwrap() + 1;
            format!("{}/* deleted */{}", &text[..start], &text[end..])
        });
        let dim = if kernel == "gemm" { "M=13" } else { "T=13" };
        let out_dir = scratch(&format!("never-freed-{kernel}-out"));
        let (code, _, stderr) = mogec(&[
            "run",
            arg(&dir),
            "--random",
            "1",
            "--dim",
            dim,
            "-o",
            arg(&out_dir),
        ]);
        assert_eq!(code, Some(1), "{kernel}: {stderr}");
        assert!(
            stderr.contains("TQue (kernel end): buffer 0 of the TQue at ")
                && stderr.contains("a FreeTensor is missing"),
            "{kernel}: {stderr}"
        );
    }
}

#[test]
fn without_a_graph_nan_outputs_are_counted_and_warned_about() {
    // A wrong Nd2Nz stride leaves L1 bytes unwritten; the emulator's memory reads NaN there. With no
    // graph nothing can be compared, so the run says how many output elements are NaN.
    let dir = build(
        "nan-without-graph",
        "examples/src/matmul.rs",
        "gemm",
        "K=64,N=32",
        "ascendc,manifest",
    );
    let out_dir = scratch("nan-without-graph-out");
    let run = || {
        mogec(&[
            "run",
            arg(&dir),
            "--random",
            "1",
            "--dim",
            "M=100",
            "-o",
            arg(&out_dir),
        ])
    };
    let (code, stdout, _) = run();
    assert_eq!(code, Some(0));
    assert_eq!(report(&out_dir)["outputs"]["out0"]["nan_elements"], 0);
    assert!(!stdout.contains("warning"), "{stdout}");
    edit(&kernel_file(&dir), |text| {
        text.replacen(
            "p.dstNzC0Stride = static_cast<uint16_t>((",
            "p.dstNzC0Stride = static_cast<uint16_t>(16 + (",
            1,
        )
    });
    let (code, stdout, _) = run();
    assert_eq!(code, Some(0), "not compared, not an error");
    let nan = report(&out_dir)["outputs"]["out0"]["nan_elements"]
        .as_u64()
        .unwrap();
    assert!(nan > 0);
    assert!(
        stdout.contains(&format!("warning: {nan} elements are NaN")),
        "{stdout}"
    );
}

#[test]
fn kernels_launched_in_the_wrong_order_read_nan_from_the_unwritten_intermediate() {
    // Two kernels through an intermediate; the manifest's launch order reversed by hand: the second
    // kernel runs first and reads an intermediate nothing wrote, which reads as NaN (not zeros).
    let dir = scratch("reversed-order");
    let file = dir.join("chain.rs");
    fs::write(
        &file,
        "#[moge::kernel]\npub fn chain<const K: usize, const N: usize, const P: usize>(\n    \
         x: Tensor<bf16, (M, K)>,\n    w1: Tensor<bf16, (K, N)>,\n    w2: Tensor<bf16, (N, P)>,\n\
         ) -> Tensor<bf16, (M, P)> {\n    matmul(matmul(x, w1), w2)\n}\n",
    )
    .unwrap();
    let build = dir.join("build");
    let (code, out, err) = mogec(&[
        "build",
        arg(&file),
        "--set",
        "K=32,N=48,P=16",
        "--emit",
        "ascendc,manifest",
        "-o",
        arg(&build),
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    edit(&build.join("chain.json"), |text| {
        let mut json: Value = serde_json::from_str(&text).unwrap();
        json["kernels"].as_array_mut().unwrap().reverse();
        json.to_string()
    });
    let out_dir = scratch("reversed-order-out");
    let (code, stdout, stderr) = mogec(&[
        "run",
        arg(&build),
        "--random",
        "1",
        "--dim",
        "M=20",
        "-o",
        arg(&out_dir),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        report(&out_dir)["outputs"]["out0"]["nan_elements"],
        20 * 16,
        "{stdout}"
    );
}
