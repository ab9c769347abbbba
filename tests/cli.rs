//! The `mogec` binary, run as a user runs it: exit statuses, rustc-shaped diagnostics pointing at the
//! right tokens, the graph IR written by `build`, the `.npy` files written by `eval` (compared with
//! the interpreter run in-process on the same inputs, and with formulas), and the one-line usage
//! errors.
//!
//! Fixtures are in `tests/data/`; expected diagnostic positions are computed from the fixture text.
//! Every command runs in the package root, so paths in messages are as given (`tests/data/...`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::{DType, Dim, Kernel, SymKind, TensorType, Type};
use moge_lower::interp::{self, Tensor};
use moge_runtime::npy;

/// The binary under test.
const MOGEC: &str = env!("CARGO_BIN_EXE_mogec");

/// The package root: commands run here.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// What one run of `mogec` did.
#[derive(Debug)]
struct Run {
    /// The exit status (`None` if killed by a signal).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `mogec` with `args` in the package root.
fn mogec(args: &[&str]) -> Run {
    let output = Command::new(MOGEC)
        .args(args)
        .current_dir(ROOT)
        .output()
        .expect("the mogec binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `mogec` with `args` in the package root and asserts that it succeeded.
fn mogec_ok(args: &[&str]) -> Run {
    let run = mogec(args);
    assert_eq!(run.code, Some(0), "{args:?}: {run:#?}");
    run
}

/// Runs `mogec eval file --set set --random seed --dim dims -o dir` and asserts that it succeeded.
fn eval_random(file: &str, set: &str, seed: &str, dims: &str, dir: &Path) -> Run {
    mogec_ok(&[
        "eval",
        file,
        "--set",
        set,
        "--random",
        seed,
        "--dim",
        dims,
        "-o",
        arg(dir),
    ])
}

/// A fresh scratch directory `name` holding good inputs to point `--input` at: the example gate's
/// random inputs (seed 1) and outputs for E = 8, G = 2, T = 2.
fn gate_inputs(name: &str) -> PathBuf {
    let dir = scratch(name);
    eval_random("examples/src/gate.rs", "E=8,G=2", "1", "T=2", &dir);
    dir
}

/// A fresh, empty scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A path as a `&str` argument.
fn arg(path: &Path) -> &str {
    path.to_str().expect("scratch paths are UTF-8")
}

/// Asserts that `run` failed with `code` and exactly one stderr line, `error: ...`, containing every
/// needle; nothing on stdout.
fn assert_one_line_error(run: &Run, code: i32, needles: &[&str]) {
    assert_eq!(run.code, Some(code), "exit status of {run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one stderr line expected: {run:#?}");
    assert!(
        lines[0].starts_with("error: "),
        "`error: ` prefix expected: {run:#?}"
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "`{needle}` expected in {:?}",
            lines[0]
        );
    }
    assert_eq!(run.stdout, "", "nothing on stdout expected: {run:#?}");
}

/// The 1-based line and column (in characters) of `token` in the first line of `text` containing
/// `marker`.
fn position_of(text: &str, marker: &str, token: &str) -> (usize, usize) {
    for (index, line) in text.lines().enumerate() {
        if line.contains(marker) {
            let byte = line.find(token).expect("the token is on the marker's line");
            return (index + 1, line[..byte].chars().count() + 1);
        }
    }
    panic!("no line contains {marker:?}");
}

/// Line `line` (1-based) of `text`.
fn line_of(text: &str, line: usize) -> &str {
    text.lines().nth(line - 1).expect("the line exists")
}

/// Checks `file` in-process, takes kernel `name` and specializes it with `set`.
fn in_process(file: &str, name: &str, set: &[(&str, i64)]) -> Kernel {
    let text = fs::read_to_string(Path::new(ROOT).join(file)).expect("fixture");
    let checked = moge_dsl::check_source(&text).expect("valid Rust");
    let kernel = checked
        .kernels
        .into_iter()
        .find(|k| k.name == name)
        .expect("the kernel exists")
        .result
        .expect("the kernel checks");
    kernel.specialize(set).expect("the bindings are valid")
}

/// Reads a `.npy` file written by `mogec`, as `dtype`.
fn read(path: &Path, dtype: DType) -> Tensor {
    npy::read_npy_as(path, dtype).expect("mogec writes readable .npy files")
}

/// The example kernel files (every `.rs` in examples/src but lib.rs), sorted.
fn example_files() -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(Path::new(ROOT).join("examples/src"))
        .expect("examples/src")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs") && name != "lib.rs")
        .map(|name| format!("examples/src/{name}"))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn check_accepts_every_example() {
    let files = example_files();
    assert!(files.len() >= 5, "examples: {files:?}");
    for file in &files {
        let text = fs::read_to_string(Path::new(ROOT).join(file)).expect("example");
        let kernels = text.matches("#[moge::kernel]").count();
        let run = mogec(&["check", file]);
        assert_eq!(run.code, Some(0), "{file}: {run:#?}");
        assert_eq!(run.stderr, "", "{file}");
        let ok_lines = run.stdout.lines().filter(|l| l.starts_with("ok: ")).count();
        assert_eq!(
            ok_lines, kernels,
            "{file}: one ok line per kernel: {}",
            run.stdout
        );
    }
    // Several files at once.
    let args: Vec<&str> = std::iter::once("check")
        .chain(files.iter().map(String::as_str))
        .collect();
    mogec_ok(&args);
}

#[test]
fn check_prints_one_signature_per_kernel() {
    let run = mogec_ok(&["check", "tests/data/good.rs"]);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "ok: gate<E, G>(logits: f32[T, E], router_scale: f32[E]) -> (weight: f32[T, G], expert: i32[T, G])\n\
         ok: rmsnorm<H>(x: bf16[T, H], weight: bf16[H]) -> (out0: bf16[T, H])\n"
    );
}

#[test]
fn check_reports_every_error_at_its_tokens() {
    let path = "tests/data/errors.rs";
    let text = fs::read_to_string(Path::new(ROOT).join(path)).expect("fixture");
    let run = mogec(&["check", path]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    // The good kernel between the broken ones is still reported.
    assert_eq!(run.stdout, "ok: fine(x: f32[T]) -> (out0: f32[T])\n");

    // (message, line marker, offending token), in source order.
    let expected = [
        ("error: unknown op `sofmax`", "let a = sofmax(", "sofmax"),
        (
            "error: `log_softmax` axis 2 is out of range",
            "log_softmax(x, 2)",
            "2)",
        ),
        (
            "error: closures are not supported in a kernel",
            "|q| q",
            "|q|",
        ),
        (
            "error: unused parameter `y`",
            "pub fn unused_input",
            "y: Tensor",
        ),
    ];
    let mut from = 0;
    for (message, marker, token) in expected {
        let (line, col) = position_of(&text, marker, token);
        let at = run.stderr[from..]
            .find(message)
            .unwrap_or_else(|| panic!("{message:?} after byte {from} in:\n{}", run.stderr))
            + from;
        let block = &run.stderr[at..];
        let arrow = format!(" --> {path}:{line}:{col}\n");
        assert!(
            block.contains(&arrow),
            "{arrow:?} expected after {message:?}:\n{block}"
        );
        assert!(
            block.contains(&format!("{line} | {}", line_of(&text, line))),
            "{block}"
        );
        from = at + message.len();
    }
    // Four diagnostics, then the one-line summary.
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 5, "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().last(),
        Some("error: could not check `tests/data/errors.rs`: 4 errors in 2 kernels (`broken` and `unused_input`)")
    );
}

#[test]
fn check_reports_a_file_that_is_not_rust() {
    let path = "tests/data/not_rust.rs";
    let text = fs::read_to_string(Path::new(ROOT).join(path)).expect("fixture");
    let run = mogec(&["check", path]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
    // The unbalanced brace is where the tokenizer gives up.
    let (line, col) = position_of(&text, "balanced", "{");
    assert!(
        run.stderr.contains(&format!(" --> {path}:{line}:{col}\n")),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().last(),
        Some("error: could not check `tests/data/not_rust.rs`: it is not valid Rust syntax")
    );
}

#[test]
fn check_reports_a_file_without_kernels() {
    let run = mogec(&["check", "tests/data/no_kernels.rs"]);
    assert_one_line_error(
        &run,
        1,
        &[
            "no kernels found in `tests/data/no_kernels.rs`",
            "#[moge::kernel]",
        ],
    );
}

#[test]
fn check_reports_a_file_that_is_not_utf8() {
    let dir = scratch("not_utf8");
    let file = dir.join("latin1.rs");
    // The bad byte follows the six characters `// caf` of line 2.
    fs::write(&file, b"fn f() {}\n// caf\xe9\n").expect("write");
    let run = mogec(&["check", arg(&file)]);
    assert_one_line_error(&run, 1, &["not valid UTF-8", "line 2, column 7"]);
}

#[test]
fn check_usage_errors() {
    let run = mogec(&["check", "tests/data/missing.rs"]);
    assert_one_line_error(&run, 2, &["cannot read `tests/data/missing.rs`"]);
    let run = mogec(&["check", "tests/data"]);
    assert_one_line_error(&run, 2, &["cannot read `tests/data`"]);
    let run = mogec(&["check", "--frobnicate", "tests/data/good.rs"]);
    assert_one_line_error(&run, 2, &["--frobnicate", "mogec check --help"]);
    let run = mogec(&["check"]);
    assert_one_line_error(&run, 2, &["<FILE.rs>"]);
    let run = mogec(&["compile", "tests/data/good.rs"]);
    assert_one_line_error(&run, 2, &["compile"]);
    // A missing file among good ones: nothing is checked.
    let run = mogec(&["check", "tests/data/good.rs", "tests/data/missing.rs"]);
    assert_one_line_error(&run, 2, &["cannot read `tests/data/missing.rs`"]);
}

#[test]
fn check_of_several_files_reports_each_failure() {
    let run = mogec(&[
        "check",
        "tests/data/good.rs",
        "tests/data/no_kernels.rs",
        "tests/data/errors.rs",
    ]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("ok: ")).count(),
        3
    );
    assert!(run
        .stderr
        .contains("error: no kernels found in `tests/data/no_kernels.rs`"));
    assert!(run
        .stderr
        .contains("error: could not check `tests/data/errors.rs`: 4 errors"));
    assert_eq!(
        run.stderr.lines().last(),
        Some("error: could not check 2 of 3 files")
    );
}

#[test]
fn help_explains_each_subcommand_with_an_example() {
    let run = mogec_ok(&["--help"]);
    for sub in ["check", "build", "eval"] {
        assert!(
            run.stdout.contains(&format!("mogec {sub} ")),
            "example of {sub}: {}",
            run.stdout
        );
    }
    for sub in ["check", "build", "eval"] {
        let run = mogec_ok(&[sub, "--help"]);
        assert!(run.stdout.contains("Example"), "{sub}: {}", run.stdout);
        assert!(
            run.stdout.contains(&format!("mogec {sub} ")),
            "{sub}: {}",
            run.stdout
        );
    }
    // The help says what the commands do today: every kind build emits, the environment.
    let run = mogec_ok(&["build", "--help"]);
    for kind in [
        "graph", "ascendc", "manifest", "kir", ".cpp", ".json", ".kir",
    ] {
        assert!(run.stdout.contains(kind), "{kind}: {}", run.stdout);
    }
    for sub in [
        "--help",
        "build --help",
        "eval --help",
        "run --help",
        "demo --help",
    ] {
        let args: Vec<&str> = sub.split(' ').collect();
        let help = mogec_ok(&args).stdout;
        assert!(!help.contains("for now"), "mogec {sub}: {help}");
    }
    // The tolerance `run` states is the one it applies (`compare_bounded`): 2 B + 1 ulp.
    let help = mogec_ok(&["run", "--help"]).stdout.replace('\n', " ");
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("2 B + 1 ulp of the output's dtype"), "{help}");
    assert!(!help.contains("tolerance of the output's dtype"), "{help}");
    let top = mogec_ok(&["--help"]).stdout;
    for var in [
        "MOGE_MEMORY_LIMIT",
        "MOGE_EMU_TIMEOUT_SECS",
        "MOGE_CACHE_DIR",
        "MOGE_CXX",
        "MOGE_EMU_ECHO",
        "MOGE_COMPILE_TIMEOUT_SECS",
    ] {
        assert!(top.contains(var), "{var}: {top}");
    }
    // The timing model `run` applies by default, and its two flags.
    for text in [
        "Timing model",
        "modeled on ascend910b2",
        "--no-model",
        "--trace",
        "docs/timing-model.md",
    ] {
        assert!(top.contains(text), "{text}: {top}");
    }
    // `mogec` alone shows the help, as a usage error.
    let run = mogec(&[]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.contains("Usage: mogec <COMMAND>"),
        "{}",
        run.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// build

#[test]
fn build_writes_graph_ir_that_parses_back() {
    let dir = scratch("build_gate");
    let run = mogec_ok(&[
        "build",
        "examples/src/gate.rs",
        "--kernel",
        "moge_gate",
        "--set",
        "E=64",
        "--set",
        "G=8",
        "--emit",
        "graph",
        "-o",
        arg(&dir),
    ]);
    let file = dir.join("moge_gate.graph");
    assert!(
        run.stdout.contains(&format!("wrote {}", file.display())),
        "{}",
        run.stdout
    );
    let text = fs::read_to_string(&file).expect("the graph file is written");
    let parsed = parse_kernel(&text).expect("the graph IR parses back");

    // Facts from the signature of examples/src/gate.rs with E = 64, G = 8.
    assert_eq!(parsed.name, "moge_gate");
    assert_eq!(
        parsed.bound,
        vec![
            (moge_lower::Symbol::intern("E"), 64),
            (moge_lower::Symbol::intern("G"), 8)
        ]
    );
    assert_eq!(parsed.static_params(), Vec::<&str>::new());
    assert_eq!(parsed.dynamic_dims(), vec!["T"]);
    let t = parsed.sym_by_name("T").expect("T");
    assert_eq!(parsed.syms[t].kind, SymKind::Dynamic);
    let param_types: Vec<&Type> = parsed.params.iter().map(|p| parsed.ty(p.value)).collect();
    assert_eq!(
        param_types,
        vec![
            &Type::Tensor(TensorType::new(DType::F32, vec![Dim::sym(t), Dim::lit(64)])),
            &Type::Tensor(TensorType::new(DType::F32, vec![Dim::lit(64)])),
        ]
    );
    let outputs: Vec<(&str, &Type)> = parsed
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), parsed.ty(o.value)))
        .collect();
    assert_eq!(
        outputs,
        vec![
            (
                "weight",
                &Type::Tensor(TensorType::new(DType::F32, vec![Dim::sym(t), Dim::lit(8)]))
            ),
            (
                "expert",
                &Type::Tensor(TensorType::new(DType::I32, vec![Dim::sym(t), Dim::lit(8)]))
            ),
        ]
    );
    // And it is exactly what the library builds in-process.
    assert_eq!(
        parsed,
        in_process("examples/src/gate.rs", "moge_gate", &[("E", 64), ("G", 8)])
    );
}

#[test]
fn build_every_example_kernel() {
    // Static dims for every example kernel: small, valid sizes.
    let kernels: [(&str, &str, &[&str]); 6] = [
        ("examples/src/gate.rs", "moge_gate", &["E=16", "G=4"]),
        (
            "examples/src/ffn.rs",
            "moge_ffn",
            &["H=32", "E=8", "G=2", "I=16", "S=16"],
        ),
        ("examples/src/softmax.rs", "softmax_f32", &["N=64"]),
        ("examples/src/softmax.rs", "softmax_bf16", &["N=64"]),
        ("examples/src/rmsnorm.rs", "rmsnorm", &["H=128"]),
        ("examples/src/matmul.rs", "gemm", &["K=64", "N=32"]),
    ];
    for (file, name, set) in kernels {
        let dir = scratch(&format!("build_{name}"));
        let mut args = vec!["build", file, "--kernel", name, "-o", arg(&dir)];
        for binding in set {
            args.extend(["--set", binding]);
        }
        mogec_ok(&args);
        let text = fs::read_to_string(dir.join(format!("{name}.graph"))).expect("graph file");
        let parsed = parse_kernel(&text).expect("parses back");
        let bindings: Vec<(moge_lower::Symbol, i64)> = set
            .iter()
            .map(|b| {
                let (n, v) = b.split_once('=').expect("NAME=VALUE");
                (moge_lower::Symbol::intern(n), v.parse().expect("a number"))
            })
            .collect();
        assert_eq!(parsed.bound, bindings, "{name}");
    }
}

#[test]
fn build_without_kernel_takes_the_only_one() {
    let dir = scratch("build_single");
    mogec_ok(&[
        "build",
        "tests/data/single.rs",
        "--set",
        "N=4",
        "-o",
        arg(&dir),
    ]);
    let parsed = parse_kernel(&fs::read_to_string(dir.join("affine_relu.graph")).expect("written"))
        .expect("parses");
    assert_eq!(
        parsed,
        in_process("tests/data/single.rs", "affine_relu", &[("N", 4)])
    );
    // Repeated kinds are written once; the default is `graph`.
    let dir = scratch("build_single_twice");
    let run = mogec_ok(&[
        "build",
        "tests/data/single.rs",
        "--set",
        "N=4",
        "--emit",
        "graph,graph",
        "-o",
        arg(&dir),
    ]);
    assert_eq!(run.stdout.matches("wrote ").count(), 1, "{}", run.stdout);
}

#[test]
fn build_emits_ascend_c_manifest_and_kernel_ir() {
    let dir = scratch("build_ascendc");
    mogec_ok(&[
        "build",
        "examples/src/gate.rs",
        "--set",
        "E=64,G=8",
        "--emit",
        "graph,ascendc,manifest,kir",
        "-o",
        arg(&dir),
    ]);
    let manifest = moge_codegen_ascendc::Manifest::from_json(
        &fs::read_to_string(dir.join("moge_gate.json")).expect("manifest written"),
    )
    .expect("the manifest parses");
    assert_eq!(manifest.program, "moge_gate");
    assert_eq!(manifest.target, "ascend910b2");
    assert_eq!(manifest.dynamic_dims, vec!["T".to_string()]);
    // The gate is one device kernel: logits in, weights and expert ids out.
    assert_eq!(manifest.kernels.len(), 1);
    let device = &manifest.kernels[0];
    assert_eq!(
        device.core_type,
        moge_codegen_ascendc::manifest::CoreType::Aiv
    );
    assert_eq!(device.core_type.kernel_type(), "KERNEL_TYPE_AIV_ONLY");
    assert_eq!(device.args, ["logits", "router_scale", "weight", "expert"]);
    let cpp = fs::read_to_string(dir.join(&device.source)).expect("the .cpp is written");
    assert!(cpp.contains(&format!(
        "extern \"C\" __global__ __aicore__ void {}(",
        device.name
    )));
    assert!(cpp.contains("KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);"));
    let kir = fs::read_to_string(dir.join("moge_gate.kir")).expect("the kernel IR is written");
    assert!(kir.contains(&device.name));
    // It is the kernel IR v2 program the .cpp was printed from, and reads back.
    let parsed = moge_lower::kir::v2::parse_program(&kir).expect("the .kir parses as kernel IR v2");
    assert_eq!(moge_lower::kir::v2::program_to_string(&parsed), kir);
    assert!(dir.join("moge_gate.graph").exists());

    // Another target changes the core count in the block dim: 910B4 has 40 vector cores.
    mogec_ok(&[
        "build",
        "examples/src/gate.rs",
        "--set",
        "E=64,G=8",
        "--emit",
        "manifest",
        "--target",
        "ascend910b4",
        "-o",
        arg(&dir),
    ]);
    let manifest = fs::read_to_string(dir.join("moge_gate.json")).expect("manifest written");
    assert!(
        manifest.contains("ascend910b4") && manifest.contains("40"),
        "{manifest}"
    );
}

#[test]
fn build_refuses_what_cannot_be_lowered_yet_with_the_source_line() {
    let dir = scratch("build_unsupported");
    // The MoGE layer compiles now; a transpose has no lowering yet and stops the build at its line.
    let src = "use moge::prelude::*;\n\n#[moge::kernel]\npub fn flip<const N: usize>(x: Tensor<f32, (N, N)>) -> Tensor<f32, (N, N)> {\n    transpose(x)\n}\n";
    let file = dir.join("flip.rs");
    fs::write(&file, src).expect("write the kernel");
    let out = dir.join("out");
    let run = mogec(&[
        "build",
        arg(&file),
        "--set",
        "N=16",
        "--emit",
        "ascendc",
        "-o",
        arg(&out),
    ]);
    assert_one_line_error(&run, 1, &["`transpose`", "line 5"]);
    assert!(!out.exists());
}

#[test]
fn build_usage_errors() {
    let gate = "examples/src/gate.rs";
    let dir = scratch("build_errors");
    let out = arg(&dir);
    let run = mogec(&["build", gate, "--set", "E=x", "--set", "G=8", "-o", out]);
    assert_one_line_error(&run, 2, &["'E=x'", "--set", "non-negative integer"]);
    let run = mogec(&["build", gate, "--set", "E", "-o", out]);
    assert_one_line_error(&run, 2, &["NAME=VALUE"]);
    let run = mogec(&["build", gate, "--set", "E=-1,G=8", "-o", out]);
    assert_one_line_error(&run, 2, &["'E=-1'"]);
    let run = mogec(&["build", gate, "--set", "E=64", "-o", out]);
    assert_one_line_error(&run, 2, &["needs --set", "`G`"]);
    let run = mogec(&["build", gate, "--set", "E=64,G=8,Q=2", "-o", out]);
    assert_one_line_error(&run, 2, &["no static dim `Q`", "`E` and `G`"]);
    let run = mogec(&["build", gate, "--set", "E=64,G=8,T=2", "-o", out]);
    assert_one_line_error(
        &run,
        2,
        &["`T` is a dynamic dim", "stays symbolic in the build"],
    );
    assert!(!run.stderr.contains("--dim"), "{}", run.stderr);
    // eval and run take dynamic dims from their inputs or --dim, and say so in their own terms.
    for command in ["eval", "run"] {
        let run = mogec(&[
            command,
            gate,
            "--set",
            "E=64,G=8,T=2",
            "--random",
            "1",
            "-o",
            out,
        ]);
        assert_one_line_error(
            &run,
            2,
            &["`T` is a dynamic dim", "--dim T=VALUE with --random"],
        );
        assert!(!run.stderr.contains("eval --random"), "{}", run.stderr);
    }
    let run = mogec(&["build", gate, "--set", "E=64,G=8,E=32", "-o", out]);
    assert_one_line_error(&run, 2, &["--set E=... is given twice"]);
    let run = mogec(&[
        "build", gate, "--kernel", "moge_gat", "--set", "E=64,G=8", "-o", out,
    ]);
    assert_one_line_error(&run, 2, &["no kernel `moge_gat`", "`moge_gate`"]);
    let run = mogec(&[
        "build",
        "tests/data/good.rs",
        "--set",
        "E=64,G=8",
        "-o",
        out,
    ]);
    assert_one_line_error(&run, 2, &["2 kernels", "`gate` and `rmsnorm`", "--kernel"]);
    let run = mogec(&[
        "build",
        gate,
        "--set",
        "E=64,G=8",
        "--emit",
        "graph,llvm",
        "-o",
        out,
    ]);
    assert_one_line_error(
        &run,
        2,
        &["'llvm'", "possible values: graph, ascendc, manifest, kir"],
    );
    let run = mogec(&[
        "build",
        gate,
        "--set",
        "E=64,G=8",
        "--emit",
        "ascendc",
        "--target",
        "ascend310",
        "-o",
        out,
    ]);
    assert_one_line_error(&run, 2, &["unknown target `ascend310`", "ascend910b2"]);
    let run = mogec(&[
        "build",
        "tests/data/missing.rs",
        "--set",
        "E=64,G=8",
        "-o",
        out,
    ]);
    assert_one_line_error(&run, 2, &["cannot read `tests/data/missing.rs`"]);
    // The output directory is a file.
    let blocker = dir.join("file");
    fs::write(&blocker, "x").expect("write");
    let run = mogec(&["build", gate, "--set", "E=64,G=8", "-o", arg(&blocker)]);
    assert_one_line_error(&run, 2, &["as the output directory", "is not a directory"]);
    // Nothing was written by the failed runs.
    assert!(!dir.join("moge_gate.graph").exists());
}

#[test]
fn build_errors_in_the_kernel() {
    let dir = scratch("build_kernel_errors");
    // 7 does not divide 64: the kernel's constraint, reported at its source line (16 in gate.rs).
    let text = fs::read_to_string(Path::new(ROOT).join("examples/src/gate.rs")).expect("example");
    let (line, col) = position_of(&text, "group_topk(", "group_topk");
    let run = mogec(&[
        "build",
        "examples/src/gate.rs",
        "--set",
        "E=64,G=7",
        "-o",
        arg(&dir),
    ]);
    assert_one_line_error(
        &run,
        1,
        &["G divides E", &format!("at {line}:{col}"), "E = 64, G = 7"],
    );
    // Diagnostics of the chosen kernel.
    let run = mogec(&[
        "build",
        "tests/data/errors.rs",
        "--kernel",
        "broken",
        "--set",
        "E=4",
        "-o",
        arg(&dir),
    ]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains(" --> tests/data/errors.rs:8:13\n"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().last(),
        Some("error: could not compile kernel `broken` due to 3 errors")
    );
    // Another kernel of the same file builds.
    mogec_ok(&[
        "build",
        "tests/data/errors.rs",
        "--kernel",
        "fine",
        "-o",
        arg(&dir),
    ]);
    assert!(dir.join("fine.graph").exists());
    let run = mogec(&["build", "tests/data/not_rust.rs", "-o", arg(&dir)]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let run = mogec(&["build", "tests/data/no_kernels.rs", "-o", arg(&dir)]);
    assert_one_line_error(&run, 1, &["no kernels found"]);
}

// ---------------------------------------------------------------------------------------------
// eval

#[test]
fn eval_random_writes_inputs_and_outputs_equal_to_the_interpreter() {
    let dir = scratch("eval_gate");
    let run = mogec_ok(&[
        "eval",
        "examples/src/gate.rs",
        "--kernel",
        "moge_gate",
        "--set",
        "E=8,G=2",
        "--random",
        "7",
        "--dim",
        "T=5",
        "-o",
        arg(&dir),
    ]);
    assert!(run.stdout.contains("with T = 5"), "{}", run.stdout);
    assert!(
        run.stdout.contains("output weight: f32[5, 2]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("output expert: i32[5, 2]"),
        "{}",
        run.stdout
    );

    let logits = read(&dir.join("logits.npy"), DType::F32);
    let scale = read(&dir.join("router_scale.npy"), DType::F32);
    let weight = read(&dir.join("weight.npy"), DType::F32);
    let expert = read(&dir.join("expert.npy"), DType::I32);
    assert_eq!(logits.shape, vec![5, 8]);
    assert_eq!(scale.shape, vec![8]);
    assert_eq!(weight.shape, vec![5, 2]);
    assert_eq!(expert.shape, vec![5, 2]);

    // The inputs are the interpreter's random inputs for that seed, and the outputs its results.
    let kernel = in_process("examples/src/gate.rs", "moge_gate", &[("E", 8), ("G", 2)]);
    let inputs = interp::random_inputs(&kernel, 7, &[("T", 5)]).expect("random inputs");
    assert_eq!(inputs, vec![logits.clone(), scale.clone()]);
    let expected = interp::eval(&kernel, &inputs).expect("eval");
    assert_eq!(expected, vec![weight.clone(), expert.clone()]);

    // And they mean what the gate says: expert g of a token lies in group g (ids 4g..4g+4) and is
    // a largest logit of that group; its weight is positive (a probability times a scale in
    // [-2, 2), so its sign is the scale's).
    let logits = logits.as_f32().expect("f32");
    let scale = scale.as_f32().expect("f32");
    let ids = expert.as_i32().expect("i32");
    let weights = weight.as_f32().expect("f32");
    for t in 0..5 {
        for g in 0..2 {
            let id = ids[t * 2 + g];
            assert!(
                (4 * g as i32..4 * g as i32 + 4).contains(&id),
                "token {t} group {g}: {id}"
            );
            let row = &logits[t * 8..t * 8 + 8];
            let best = row[4 * g..4 * g + 4]
                .iter()
                .cloned()
                .fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(row[id as usize], best, "token {t} group {g}");
            let w = weights[t * 2 + g];
            assert_eq!(
                w.signum(),
                scale[id as usize].signum(),
                "token {t} group {g}"
            );
        }
    }
}

#[test]
fn eval_results_follow_the_kernel_formula() {
    // affine_relu: y = relu(x * 2 + bias), one rounding to f32 per op; the single kernel of the file.
    let dir = scratch("eval_affine");
    eval_random("tests/data/single.rs", "N=3", "11", "T=4", &dir);
    let x = read(&dir.join("x.npy"), DType::F32);
    let bias = read(&dir.join("bias.npy"), DType::F32);
    let y = read(&dir.join("y.npy"), DType::F32);
    assert_eq!(
        (x.shape.clone(), bias.shape.clone(), y.shape.clone()),
        (vec![4, 3], vec![3], vec![4, 3])
    );
    let (x, bias, y) = (
        x.as_f32().unwrap(),
        bias.as_f32().unwrap(),
        y.as_f32().unwrap(),
    );
    for t in 0..4 {
        for n in 0..3 {
            let want = (x[t * 3 + n] * 2.0 + bias[n]).max(0.0);
            assert_eq!(y[t * 3 + n], want, "element ({t}, {n})");
        }
    }
    // Random inputs are floats in [-2, 2).
    assert!(x.iter().chain(bias).all(|v| (-2.0..2.0).contains(v)));
}

#[test]
fn eval_input_round_trips() {
    let first = scratch("eval_round_trip_1");
    let second = scratch("eval_round_trip_2");
    eval_random("examples/src/gate.rs", "E=16,G=4", "3", "T=9", &first);
    let logits = first.join("logits.npy");
    let scale = first.join("router_scale.npy");
    let run = mogec_ok(&[
        "eval",
        "examples/src/gate.rs",
        "--set",
        "E=16,G=4",
        "--input",
        &format!("logits={}", arg(&logits)),
        "--input",
        &format!("router_scale={}", arg(&scale)),
        "-o",
        arg(&second),
    ]);
    assert!(
        run.stdout.contains("with T = 9"),
        "dims inferred from the inputs: {}",
        run.stdout
    );
    for name in ["weight.npy", "expert.npy"] {
        assert_eq!(
            fs::read(first.join(name)).unwrap(),
            fs::read(second.join(name)).unwrap(),
            "{name}"
        );
    }
    // With --input, the inputs are not copied to the output directory.
    assert!(!second.join("logits.npy").exists());
}

#[test]
fn eval_bf16_kernel_round_trips() {
    // bf16 tensors are written as f32 and rounded back to bf16 on reading: nothing changes.
    let first = scratch("eval_bf16_1");
    let second = scratch("eval_bf16_2");
    let run = mogec_ok(&[
        "eval",
        "tests/data/good.rs",
        "--kernel",
        "rmsnorm",
        "--set",
        "H=8",
        "--random",
        "5",
        "--dim",
        "T=3",
        "-o",
        arg(&first),
    ]);
    assert!(
        run.stdout.contains("output out0: bf16[3, 8]"),
        "{}",
        run.stdout
    );
    mogec_ok(&[
        "eval",
        "tests/data/good.rs",
        "--kernel",
        "rmsnorm",
        "--set",
        "H=8",
        "--input",
        &format!("x={}", arg(&first.join("x.npy"))),
        "--input",
        &format!("weight={}", arg(&first.join("weight.npy"))),
        "-o",
        arg(&second),
    ]);
    assert_eq!(
        fs::read(first.join("out0.npy")).unwrap(),
        fs::read(second.join("out0.npy")).unwrap()
    );
    // The result is the interpreter's.
    let kernel = in_process("tests/data/good.rs", "rmsnorm", &[("H", 8)]);
    let inputs = vec![
        read(&first.join("x.npy"), DType::BF16),
        read(&first.join("weight.npy"), DType::BF16),
    ];
    let expected = interp::eval(&kernel, &inputs).expect("eval");
    assert_eq!(vec![read(&first.join("out0.npy"), DType::BF16)], expected);
}

#[test]
fn eval_the_whole_ffn_layer() {
    let dir = scratch("eval_ffn");
    let set = "H=16,E=4,G=2,I=8,S=8";
    eval_random("examples/src/ffn.rs", set, "2", "T=3", &dir);
    let kernel = in_process(
        "examples/src/ffn.rs",
        "moge_ffn",
        &[("H", 16), ("E", 4), ("G", 2), ("I", 8), ("S", 8)],
    );
    let inputs: Vec<Tensor> = kernel
        .params
        .iter()
        .map(|p| {
            read(
                &dir.join(format!("{}.npy", p.name)),
                kernel.tensor_ty(p.value).dtype,
            )
        })
        .collect();
    let expected = interp::eval(&kernel, &inputs).expect("eval");
    let got = vec![
        read(&dir.join("out0.npy"), DType::BF16),
        read(&dir.join("expert.npy"), DType::I32),
    ];
    assert_eq!(got, expected);
    assert_eq!(got[0].shape, vec![3, 16]);
    assert_eq!(got[1].shape, vec![3, 2]);
}

#[test]
fn eval_with_no_tokens() {
    let dir = scratch("eval_t0");
    eval_random("examples/src/gate.rs", "E=8,G=2", "1", "T=0", &dir);
    assert_eq!(read(&dir.join("weight.npy"), DType::F32).shape, vec![0, 2]);
    assert_eq!(read(&dir.join("expert.npy"), DType::I32).shape, vec![0, 2]);
}

#[test]
fn eval_usage_errors() {
    let dir = scratch("eval_errors");
    let out = arg(&dir);
    let gate = "examples/src/gate.rs";
    let inputs = gate_inputs("eval_errors_inputs");
    let logits = format!("logits={}", arg(&inputs.join("logits.npy")));
    let scale = format!("router_scale={}", arg(&inputs.join("router_scale.npy")));

    let run = mogec(&[
        "eval", gate, "--set", "E=8,G=2", "--input", &logits, "-o", out,
    ]);
    assert_one_line_error(&run, 2, &["needs --input", "`router_scale`", "--random"]);
    let run = mogec(&["eval", gate, "--set", "E=8,G=2", "-o", out]);
    assert_one_line_error(&run, 2, &["`logits` and `router_scale`"]);
    let run = mogec(&[
        "eval",
        gate,
        "--set",
        "E=8,G=2",
        "--input",
        &logits,
        "--input",
        &scale,
        "--input",
        "bias=b.npy",
        "-o",
        out,
    ]);
    assert_one_line_error(
        &run,
        2,
        &["no parameter `bias`", "`logits` and `router_scale`"],
    );
    let run = mogec(&[
        "eval", gate, "--set", "E=8,G=2", "--input", &logits, "--input", &logits, "-o", out,
    ]);
    assert_one_line_error(&run, 2, &["--input logits=... is given twice"]);
    let run = mogec(&[
        "eval", gate, "--set", "E=8,G=2", "--input", &logits, "--random", "1", "--dim", "T=2",
        "-o", out,
    ]);
    assert_one_line_error(&run, 2, &["--random", "--input", "cannot be used with"]);
    let run = mogec(&[
        "eval",
        gate,
        "--set",
        "E=8,G=2",
        "--input",
        "logits.npy",
        "-o",
        out,
    ]);
    assert_one_line_error(&run, 2, &["PARAM=FILE.npy"]);
    let run = mogec(&["eval", gate, "--set", "E=8,G=2", "--random", "1", "-o", out]);
    assert_one_line_error(&run, 2, &["needs --dim", "`T`"]);
    let run = mogec(&[
        "eval", gate, "--set", "E=8,G=2", "--random", "1", "--dim", "T=2,U=3", "-o", out,
    ]);
    assert_one_line_error(&run, 2, &["no dynamic dim `U`"]);
    let run = mogec(&[
        "eval", gate, "--set", "E=8,G=2", "--random", "1", "--dim", "T=2,E=3", "-o", out,
    ]);
    assert_one_line_error(&run, 2, &["`E` is a static dim"]);
    let run = mogec(&["eval", gate, "--set", "E=8,G=2", "--dim", "T=2", "-o", out]);
    assert_one_line_error(&run, 2, &["--random"]);
    let run = mogec(&[
        "eval", gate, "--set", "E=8,G=2", "--random", "x", "--dim", "T=2", "-o", out,
    ]);
    assert_one_line_error(&run, 2, &["'x'", "--random"]);
    let run = mogec(&[
        "eval", gate, "--set", "E=8", "--random", "1", "--dim", "T=2", "-o", out,
    ]);
    assert_one_line_error(&run, 2, &["needs --set", "`G`"]);
    let run = mogec(&[
        "eval",
        gate,
        "--set",
        "E=8,G=2",
        "--input",
        &logits,
        "--input",
        "router_scale=tests/data/missing.npy",
        "-o",
        out,
    ]);
    assert_one_line_error(
        &run,
        2,
        &[
            "--input router_scale=",
            "tests/data/missing.npy",
            "cannot read",
        ],
    );
    // Nothing was written by the failed runs.
    assert_eq!(fs::read_dir(&dir).expect("dir").count(), 0);
}

#[test]
fn eval_errors_in_the_data() {
    let dir = scratch("eval_data_errors");
    let out = arg(&dir);
    let gate = "examples/src/gate.rs";
    let inputs = gate_inputs("eval_data_errors_inputs");
    let file = |name: &str| arg(&inputs.join(name)).to_string();
    // `eval` of the gate with `--set set` on the given logits and router scale files.
    let with_inputs = |set: &str, logits: &str, scale: &str| {
        mogec(&[
            "eval",
            gate,
            "--set",
            set,
            "--input",
            &format!("logits={logits}"),
            "--input",
            &format!("router_scale={scale}"),
            "-o",
            out,
        ])
    };

    // An i32 file for an f32 parameter.
    let run = with_inputs("E=8,G=2", &file("expert.npy"), &file("router_scale.npy"));
    assert_one_line_error(&run, 1, &["--input logits=", "expert.npy"]);
    // A scale of 2 elements for E = 8.
    let run = with_inputs("E=8,G=2", &file("logits.npy"), &file("weight.npy"));
    assert_one_line_error(&run, 1, &["router_scale", "rank"]);
    // Logits for E = 8 with --set E=16: axis 1 is 8, not 16.
    let run = with_inputs("E=16,G=2", &file("logits.npy"), &file("router_scale.npy"));
    assert_one_line_error(&run, 1, &["logits", "axis 1", "16", "found 8"]);
    // Not a .npy file.
    let run = with_inputs("E=8,G=2", "tests/data/good.rs", &file("router_scale.npy"));
    assert_one_line_error(&run, 1, &["--input logits=", "not a .npy file"]);
    // Inputs too large to evaluate are refused before anything is allocated.
    let run = mogec(&[
        "eval",
        gate,
        "--set",
        "E=64,G=8",
        "--random",
        "1",
        "--dim",
        "T=1000000000",
        "-o",
        out,
    ]);
    assert_one_line_error(
        &run,
        1,
        &["input `logits`", "[1000000000, 64]", "256000000000 bytes"],
    );
    assert_eq!(fs::read_dir(&dir).expect("dir").count(), 0);
}

#[test]
fn mogec_never_panics_on_odd_arguments() {
    let dir = scratch("odd");
    let odd: &[&[&str]] = &[
        &[
            "build",
            "tests/data/good.rs",
            "--kernel",
            "",
            "-o",
            arg(&dir),
        ],
        &[
            "build",
            "tests/data/good.rs",
            "--kernel",
            "gate",
            "--set",
            "E=1099511627775,G=1",
            "-o",
            arg(&dir),
        ],
        &[
            "build",
            "tests/data/good.rs",
            "--kernel",
            "gate",
            "--set",
            "E=0,G=0",
            "-o",
            arg(&dir),
        ],
        &[
            "eval",
            "tests/data/good.rs",
            "--kernel",
            "gate",
            "--set",
            "E=0,G=0",
            "--random",
            "0",
            "--dim",
            "T=0",
            "-o",
            arg(&dir),
        ],
        &[
            "eval",
            "tests/data/good.rs",
            "--kernel",
            "gate",
            "--set",
            "E=1099511627775,G=1",
            "--random",
            "0",
            "--dim",
            "T=1",
            "-o",
            arg(&dir),
        ],
        &[
            "eval",
            "tests/data/good.rs",
            "--kernel",
            "gate",
            "--set",
            "E=1099511627775,G=5",
            "--random",
            "0",
            "--dim",
            "T=1",
            "-o",
            arg(&dir),
        ],
        &[
            "eval",
            "tests/data/single.rs",
            "--set",
            "N=3",
            "--random",
            "18446744073709551615",
            "--dim",
            "T=1",
            "-o",
            arg(&dir),
        ],
        &["check", "/dev/null"],
        &["check", ""],
        &["--set"],
        &["eval", "--random"],
    ];
    for args in odd {
        let run = mogec(args);
        assert!(matches!(run.code, Some(0..=2)), "{args:?}: {run:#?}");
        assert!(!run.stderr.contains("panicked"), "{args:?}: {run:#?}");
        if run.code != Some(0) {
            assert!(
                run.stderr
                    .lines()
                    .last()
                    .is_some_and(|l| l.starts_with("error: ")),
                "{args:?}: {run:#?}"
            );
        }
    }
}

/// Runs `mogec` with `args` in the package root with extra environment variables.
fn mogec_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = Command::new(MOGEC)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(ROOT)
        .output()
        .expect("the mogec binary runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn eval_never_overwrites_an_input_whatever_the_path_spelling() {
    let dir = gate_inputs("lost_files");
    // The outputs are `weight.npy` and `expert.npy`: feed the logits from a file named like an
    // output, reached through `./`, `..`, a symlink and a hard link.
    fs::copy(dir.join("logits.npy"), dir.join("weight.npy")).expect("copy");
    let original = fs::read(dir.join("weight.npy")).expect("read");
    fs::create_dir_all(dir.join("sub")).expect("sub");
    std::os::unix::fs::symlink(dir.join("weight.npy"), dir.join("sub").join("weight.npy"))
        .expect("symlink");
    fs::create_dir_all(dir.join("hard")).expect("hard");
    fs::hard_link(dir.join("weight.npy"), dir.join("hard").join("weight.npy")).expect("link");
    let scale = format!("router_scale={}", arg(&dir.join("router_scale.npy")));
    fs::remove_file(dir.join("expert.npy")).expect("remove");
    let before = listing(&dir);
    for (logits, out) in [
        (dir.join("weight.npy"), dir.clone()),
        (dir.join("sub").join("..").join("weight.npy"), dir.join(".")),
        (dir.join("weight.npy"), dir.join("sub")),
        (dir.join("sub").join("weight.npy"), dir.join("hard")),
    ] {
        let logits = format!("logits={}", arg(&logits));
        let run = mogec(&[
            "eval",
            "examples/src/gate.rs",
            "--set",
            "E=8,G=2",
            "--input",
            &logits,
            "--input",
            &scale,
            "-o",
            arg(&out),
        ]);
        assert_one_line_error(&run, 2, &["is the input file", "weight.npy", "-o"]);
        assert_eq!(fs::read(dir.join("weight.npy")).expect("read"), original);
        // Not even `expert.npy`, which replaces nothing, was written.
        assert_eq!(listing(&dir), before);
        assert!(!out.join("expert.npy").exists(), "{out:?}");
    }
    // The same inputs with another output directory work, and `--dim` may repeat what they bind.
    let out = dir.join("elsewhere");
    let logits = format!("logits={}", arg(&dir.join("weight.npy")));
    mogec_ok(&[
        "eval",
        "examples/src/gate.rs",
        "--set",
        "E=8,G=2",
        "--input",
        &logits,
        "--input",
        &scale,
        "--dim",
        "T=2",
        "-o",
        arg(&out),
    ]);
    assert_eq!(listing(&out), vec!["expert.npy", "weight.npy"]);
}

#[test]
fn a_dim_that_disagrees_with_the_inputs_is_an_error_naming_both() {
    let dir = gate_inputs("dim_conflict");
    let out = scratch("dim_conflict_out");
    let logits = format!("logits={}", arg(&dir.join("logits.npy")));
    let scale = format!("router_scale={}", arg(&dir.join("router_scale.npy")));
    for command in ["eval", "run"] {
        let run = mogec(&[
            command,
            "examples/src/gate.rs",
            "--set",
            "E=8,G=2",
            "--input",
            &logits,
            "--input",
            &scale,
            "--dim",
            "T=5",
            "-o",
            arg(&out),
        ]);
        assert_one_line_error(
            &run,
            2,
            &["--dim T=5", "logits.npy", "shape [2, 8]", "`T` is 2"],
        );
        let run = mogec(&[
            command,
            "examples/src/gate.rs",
            "--set",
            "E=8,G=2",
            "--input",
            &logits,
            "--input",
            &scale,
            "--dim",
            "U=5",
            "-o",
            arg(&out),
        ]);
        assert_one_line_error(&run, 2, &["no dynamic dim `U`"]);
    }
    assert_eq!(listing(&out), Vec::<String>::new());
}

#[test]
fn unwritable_output_directories_are_reported_with_the_real_reason() {
    let dir = scratch("unwritable");
    fs::write(dir.join("plain"), b"x").expect("file");
    let under_file = dir.join("plain").join("out");
    for (out, needle) in [
        ("/dev/full", "exists and is not a directory"),
        (arg(&under_file), "Not a directory"),
        (arg(&dir.join("plain")), "exists and is not a directory"),
    ] {
        for command in ["eval", "build"] {
            let mut args = vec![command, "tests/data/single.rs", "--set", "N=3"];
            if command == "eval" {
                args.extend(["--random", "1", "--dim", "T=2"]);
            }
            args.extend(["-o", out]);
            let run = mogec(&args);
            assert_one_line_error(&run, 2, &[needle, out]);
            assert!(!run.stderr.contains("File exists"), "{run:#?}");
        }
    }
    assert_eq!(listing(&dir), vec!["plain"]);
    assert_eq!(fs::read(dir.join("plain")).expect("read"), b"x");
}

#[test]
fn bad_environment_variables_are_usage_errors_naming_them() {
    let out = scratch("bad_env");
    let run_args = [
        "run",
        "tests/data/single.rs",
        "--set",
        "N=3",
        "--random",
        "1",
        "--dim",
        "T=2",
        "-o",
        arg(&out),
    ];
    for (var, value, needle) in [
        ("MOGE_EMU_TIMEOUT_SECS", "abc", "not a number"),
        ("MOGE_EMU_TIMEOUT_SECS", "0", "out of range"),
        ("MOGE_EMU_TIMEOUT_SECS", "-3", "out of range"),
        (
            "MOGE_EMU_TIMEOUT_SECS",
            "99999999999999999999999",
            "out of range",
        ),
        ("MOGE_CACHE_DIR", "", "set but empty"),
        ("MOGE_CXX", " ", "set but empty"),
        ("MOGE_EMU_ECHO", "yes", "expected 1"),
        ("MOGE_MEMORY_LIMIT", "lots", "expected a byte count"),
        ("MOGE_MEMORY_LIMIT", "12", "too small"),
        ("MOGE_COMPILE_TIMEOUT_SECS", "soon", "not a number"),
        ("MOGE_COMPILE_TIMEOUT_SECS", "0", "out of range"),
        ("MOGE_CACHE_DIR", "/dev/full", "cannot create"),
        ("MOGE_CACHE_DIR", "/dev/full/cache", "cannot create"),
        ("MOGE_CACHE_DIR", "/proc/self", "cannot create"),
        ("MOGE_CACHE_DIR", "Cargo.toml", "cannot create"),
        ("MOGE_CXX", "/nonexistent", "not an executable file"),
        (
            "MOGE_CXX",
            "Cargo.toml",
            "no executable of that name in PATH",
        ),
        ("MOGE_CXX", "/etc/passwd", "not an executable file"),
    ] {
        let run = mogec_env(&run_args, &[(var, value)]);
        assert_one_line_error(&run, 2, &[var, needle]);
        let run = mogec_env(&["demo"], &[(var, value)]);
        assert_eq!(run.code, Some(2), "{var}={value}: {run:#?}");
        assert!(run.stderr.contains(var), "{run:#?}");
    }
    assert_eq!(listing(&out), Vec::<String>::new());
}

#[test]
fn a_compiler_that_hangs_is_killed_and_one_that_writes_nothing_is_named() {
    // A fresh cache, so that the compiler really runs (a cached kernel would need none).
    let dir = scratch("compiler_faults");
    let cache = dir.join("cache");
    let out = dir.join("out");
    let hang = dir.join("hangcxx.sh");
    // Answers `--version` (the cache key), then hangs with a child of its own holding stderr; the
    // child creates `done` when it ends, 300 s later.
    let done = dir.join("child.done");
    let _ = fs::remove_file(&done);
    fs::write(
        &hang,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo fake 1.0; exit 0; fi\n\
             (sleep 300; touch '{}') &\nsleep 300\n",
            arg(&done)
        ),
    )
    .expect("write");
    fs::set_permissions(&hang, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let args = [
        "run",
        "tests/data/single.rs",
        "--set",
        "N=3",
        "--random",
        "1",
        "--dim",
        "T=2",
        "-o",
        arg(&out),
    ];
    let run = mogec_env(
        &args,
        &[
            ("MOGE_CXX", arg(&hang)),
            ("MOGE_CACHE_DIR", arg(&cache)),
            ("MOGE_COMPILE_TIMEOUT_SECS", "2"),
        ],
    );
    // mogec returned before the compiler's child ended: it did not wait for the stderr it holds.
    assert!(!done.exists(), "mogec waited for the compiler's child");
    assert_one_line_error(
        &run,
        1,
        &["did not finish within 2 s", "MOGE_COMPILE_TIMEOUT_SECS"],
    );
    let run = mogec_env(
        &args,
        &[("MOGE_CXX", "/bin/true"), ("MOGE_CACHE_DIR", arg(&cache))],
    );
    assert_one_line_error(&run, 1, &["`/bin/true`", "wrote no output file"]);
    assert!(!run.stderr.contains("renaming"), "{run:#?}");
    assert!(!out.exists() || listing(&out).is_empty());
}

#[test]
fn rows_whose_sums_overflow_are_order_dependent_and_counted() {
    // Generated rows of 16 f32: some hold several values near +-3e38 (the magnitudes overflow f32,
    // so the result depends on the order of summation: the interpreter's sequential sum gives inf,
    // a tree NaN or 0), some hold an infinity (inf in every order), the rest are small. Every row
    // must run, the overflowing ones counted as overflow-dependent, the others compared as usual.
    let mut rng = crate::rng::Rng(0x000f_1077);
    let out = scratch("overflowing_sums");
    let mut total = 0;
    for case in 0..3 {
        let (rows, n) = (8 + rng.below(8), 16);
        let mut data = Vec::with_capacity(rows * n);
        let mut overflowing = 0;
        for _ in 0..rows {
            let mut row: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
            match rng.below(3) {
                0 => {
                    for _ in 0..2 + rng.below(3) {
                        let big = rng.uniform(2e38, 3.4e38) as f32;
                        let i = rng.below(n);
                        row[i] = if rng.chance(1, 2) { big } else { -big };
                    }
                }
                1 => row[rng.below(n)] = f32::INFINITY,
                _ => {}
            }
            // Independently of moge: the finite magnitudes exceed the f32 range.
            let magnitude: f64 = row
                .iter()
                .filter(|x| x.is_finite())
                .map(|&x| f64::from(x).abs())
                .sum();
            if magnitude * (1.0 + 15.0 * f64::powi(2.0, -24)) > f64::from(f32::MAX) {
                overflowing += 1;
            }
            data.extend(row);
        }
        let x = Tensor::from_f32(DType::F32, vec![rows, n], data).expect("tensor");
        let input = out.join(format!("x{case}.npy"));
        npy::write_npy(&input, &x).expect("write");
        let dir = out.join(format!("out{case}"));
        let run = mogec(&[
            "run",
            "tests/data/row_sums.rs",
            "--set",
            "N=16",
            "--input",
            &format!("x={}", arg(&input)),
            "-o",
            arg(&dir),
        ]);
        assert_eq!(run.code, Some(0), "case {case}: {run:#?}");
        let report: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(dir.join("report.json")).expect("report"))
                .expect("json");
        for output in ["out0", "out1"] {
            let o = &report["outputs"][output];
            assert_eq!(o["mismatches"], 0, "case {case} {output}: {o}");
            assert_eq!(
                o["tolerance"]["overflow_dependent"], overflowing,
                "case {case} {output}: {o}"
            );
            assert!(o["tolerance"]["max_err_ratio"]
                .as_f64()
                .is_some_and(|r| r <= 1.0));
        }
        total += overflowing;
    }
    assert!(total > 0, "the generator makes overflowing rows");
}

/// The resident bytes of process `pid` and of all its descendants now (0 for a process gone): their
/// proportional set sizes (`Pss` of /proc/PID/smaps_rollup), so that a page two of them share is
/// counted once; where smaps_rollup is missing, the RSS. A child that has not exec'd yet (its
/// executable is its parent's: `mogec` between the fork or vfork of the emulator or the compiler
/// and its exec) shares its parent's pages, or its whole address space, and is not counted again.
fn tree_rss(pid: u32) -> u64 {
    let rss = |pid: u32| -> u64 {
        let field = |file: &str, name: &str| -> Option<u64> {
            let text = fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
            let line = text.lines().find(|l| l.starts_with(name))?.to_string();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        };
        field("smaps_rollup", "Pss:")
            .or_else(|| field("status", "VmRSS:"))
            .map_or(0, |kib| kib * 1024)
    };
    let children = |pid: u32| -> Vec<u32> {
        let mut all = Vec::new();
        if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                if let Ok(text) = fs::read_to_string(task.path().join("children")) {
                    all.extend(
                        text.split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
            }
        }
        all
    };
    let exe = |pid: u32| fs::read_link(format!("/proc/{pid}/exe")).ok();
    let mut total = rss(pid);
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let parent = exe(p);
        for child in children(p) {
            if parent.is_none() || exe(child) != parent {
                total += rss(child);
            }
            stack.push(child);
        }
    }
    total
}

#[test]
fn the_memory_estimate_bounds_the_measured_peak() {
    // For a few sizes of the gate: the estimate (read from the refusal under a 1 MiB budget) must be
    // at least the peak resident memory of mogec and its emulator process together, sampled from
    // /proc every millisecond while the run goes. The estimate covers the run, not the C++ compile
    // of a kernel missing from the cache (the compiler's own memory, documented in
    // `moge_runtime::limits`): a first small run puts the kernel in the cache.
    let out = scratch("memory_measured");
    let warm = scratch("memory_warm");
    mogec_ok(&[
        "run",
        "examples/src/gate.rs",
        "--set",
        "E=64,G=8",
        "--random",
        "1",
        "--dim",
        "T=4",
        "-o",
        arg(&warm),
    ]);
    for t in ["2000", "40000", "120000"] {
        let dim = format!("T={t}");
        let args = [
            "run",
            "examples/src/gate.rs",
            "--set",
            "E=64,G=8",
            "--random",
            "1",
            "--dim",
            &dim,
            "-o",
            arg(&out),
        ];
        let (estimate, peak) = estimate_and_peak(&args, &out);
        assert!(
            estimate >= peak,
            "T={t}: estimate {estimate} bytes, measured peak {peak} bytes"
        );
    }
}

/// The memory estimate of `mogec` with `args` (read from its refusal under a 1 MiB budget) and the
/// peak resident memory of mogec and its emulator processes together when it runs (`out` is its
/// output directory), sampled from /proc every millisecond while the run goes.
fn estimate_and_peak(args: &[&str], out: &Path) -> (u64, u64) {
    let refused = mogec_env(args, &[("MOGE_MEMORY_LIMIT", "1M")]);
    let estimate: u64 = refused
        .stderr
        .split("would need about ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{refused:#?}"));
    let _ = fs::remove_dir_all(out);
    let mut child = Command::new(MOGEC)
        .args(args)
        .current_dir(ROOT)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mogec runs");
    let mut peak = 0;
    while child.try_wait().expect("wait").is_none() {
        peak = peak.max(tree_rss(child.id()));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert!(child.wait().expect("wait").success(), "{args:?}");
    assert!(peak > 0, "{args:?}: nothing measured");
    (estimate, peak)
}

#[test]
fn a_signal_during_a_launch_removes_the_emulators_scratch_directory() {
    // A 1024^3 GEMM with the interpreter's check: the launch lasts long enough to be caught. With
    // TMPDIR pointing at a directory of the test's own, the scratch directory of the launch
    // (`moge-emu-*`) appears there; SIGTERM, then SIGINT, to mogec while it exists must leave
    // none behind, and mogec dies of the signal.
    for signal in ["TERM", "INT"] {
        let tmp = scratch(&format!("signal_tmp_{signal}"));
        let out = scratch(&format!("signal_out_{signal}"));
        let args = [
            "run",
            "examples/src/matmul.rs",
            "--kernel",
            "gemm",
            "--set",
            "K=1024,N=1024",
            "--random",
            "1",
            "--dim",
            "M=1024",
            "-o",
            arg(&out),
        ];
        let scratch_dirs = || -> Vec<PathBuf> {
            fs::read_dir(&tmp)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.path())
                        .filter(|p| {
                            p.file_name()
                                .is_some_and(|n| n.to_string_lossy().starts_with("moge-emu-"))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut child = Command::new(MOGEC)
            .args(args)
            .env("TMPDIR", &tmp)
            .current_dir(ROOT)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mogec runs");
        let started = std::time::Instant::now();
        while scratch_dirs().is_empty() {
            assert!(
                child.try_wait().expect("wait").is_none(),
                "mogec ended before its launch was caught"
            );
            assert!(
                started.elapsed().as_secs() < 600,
                "no scratch directory appeared"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let status = child.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        let number = if signal == "TERM" { 15 } else { 2 };
        assert_eq!(status.signal(), Some(number), "{status:?}");
        assert_eq!(scratch_dirs(), Vec::<PathBuf>::new(), "SIG{signal}");
    }
}

#[test]
fn a_timing_only_estimate_counts_what_timing_only_allocates() {
    // A 2048^3 bf16 GEMM in timing-only mode: no interpreter, no error bounds, no comparison. The
    // estimate is then, from the documented constants of `moge_runtime::limits`: per input the
    // host's f32 tensor and two copies of its bf16 device bytes, for the output the f32 tensor and
    // three device copies, plus the processes: 8n + 8n + 10n bytes + 96 MiB with n = 2048^2. It
    // still bounds the measured peak, and is below the estimate of the full run (which adds the
    // interpreter's values, bounds and the comparison).
    let out = scratch("memory_timing");
    let args = |timing: bool| -> Vec<&str> {
        let mut args = vec![
            "run",
            "examples/src/matmul.rs",
            "--kernel",
            "gemm",
            "--set",
            "K=2048,N=2048",
            "--random",
            "1",
            "--dim",
            "M=2048",
            "-o",
            arg(&out),
        ];
        if timing {
            args.push("--timing-only");
        }
        args
    };
    // The kernel into the cache first (the estimate does not cover the C++ compiler).
    mogec_ok(&[
        "run",
        "examples/src/matmul.rs",
        "--kernel",
        "gemm",
        "--set",
        "K=2048,N=2048",
        "--random",
        "1",
        "--dim",
        "M=16",
        "--timing-only",
        "-o",
        arg(&out),
    ]);
    let n: u64 = 2048 * 2048;
    let (estimate, peak) = estimate_and_peak(&args(true), &out);
    assert_eq!(estimate, 26 * n + (96 << 20));
    assert!(
        estimate >= peak,
        "estimate {estimate} bytes, measured peak {peak} bytes"
    );
    let full = mogec_env(&args(false), &[("MOGE_MEMORY_LIMIT", "1M")]);
    let full_estimate: u64 = full
        .stderr
        .split("would need about ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{full:#?}"));
    assert!(full_estimate > estimate, "{full_estimate} vs {estimate}");
}

#[test]
fn the_memory_estimate_bounds_the_peak_of_a_multi_kernel_run_with_a_large_weight() {
    // The MoGE layer: eleven device kernels, and bf16 expert weights (64 x 1024 x 512 and
    // 64 x 256 x 1024, 200 MB as the host's f32) that dominate the run. The estimate counts the
    // weights' device copies and no error bound for them (only matrix products read them); it must
    // still be at least the measured peak, and refuse the run under a budget below it. A first run
    // puts the kernels in the cache (the estimate does not cover the C++ compiler).
    let out = scratch("memory_layer");
    let args = |t: &'static str| -> Vec<&str> {
        vec![
            "run",
            "examples/src/ffn.rs",
            "--kernel",
            "moge_ffn",
            "--set",
            "H=1024,E=64,G=8,I=256,S=512",
            "--random",
            "1",
            "--dim",
            t,
            "-o",
            arg(&out),
        ]
    };
    mogec_ok(&args("T=1"));
    for t in ["T=8", "T=64"] {
        let args = args(t);
        let (estimate, peak) = estimate_and_peak(&args, &out);
        assert!(
            estimate >= peak,
            "{t}: estimate {estimate} bytes, measured peak {peak} bytes"
        );
        // The weights alone are 50M elements: the estimate is not vacuous.
        assert!(estimate > 50_000_000 * 4, "{t}: estimate {estimate}");
        let under = format!("{}", estimate - (1 << 20));
        let refused = mogec_env(&args, &[("MOGE_MEMORY_LIMIT", &under)]);
        assert!(
            refused.stderr.contains("would need about"),
            "{t}: a budget under the estimate must refuse: {refused:#?}"
        );
    }
}

#[test]
fn an_input_of_thousands_of_axes_is_reported_in_a_short_line() {
    // A valid .npy of 3000 axes of 1 (one f32): the rank error quotes its shape cut short.
    let dir = scratch("many_axes");
    let dims = vec!["1"; 3000].join(",");
    let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims},), }}\n");
    let mut bytes = b"\x93NUMPY\x03\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0; 4]);
    let file = dir.join("x.npy");
    fs::write(&file, bytes).expect("write");
    let x = format!("x={}", arg(&file));
    let bias = format!("bias={}", arg(&file));
    let run = mogec(&[
        "eval",
        "tests/data/single.rs",
        "--set",
        "N=3",
        "--input",
        &x,
        "--input",
        &bias,
        "-o",
        arg(&dir.join("out")),
    ]);
    assert_one_line_error(&run, 1, &["found rank 3000", "... (3000 axes)]"]);
    assert!(run.stderr.len() < 400, "{run:#?}");
}

#[test]
fn a_fifo_given_as_a_source_or_an_input_is_refused_at_once() {
    // Opening a FIFO without a writer blocks forever: both the source and an --input are refused
    // before they are opened (a regression would hang, so the command runs under a deadline).
    let dir = scratch("fifo");
    let fifo = dir.join("f.npy");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let x = format!("x={}", arg(&fifo));
    let bias = format!("bias={}", arg(&fifo));
    for args in [
        vec!["check", arg(&fifo)],
        vec![
            "eval",
            "tests/data/single.rs",
            "--set",
            "N=3",
            "--input",
            &x,
            "--input",
            &bias,
            "-o",
            arg(&dir),
        ],
    ] {
        let mut child = Command::new(MOGEC)
            .args(&args)
            .current_dir(ROOT)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("mogec runs");
        let start = std::time::Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if start.elapsed().as_secs() > 20 {
                let _ = child.kill();
                panic!("{args:?}: still blocked after 20 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let output = child.wait_with_output().expect("output");
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert_one_line_error(&run, 2, &[arg(&fifo), "/dev/stdin"]);
    }
}

#[test]
fn a_run_over_the_memory_budget_is_refused_before_allocating() {
    let out = scratch("memory_budget");
    // The brief's 16M-row gate: 4 GB of logits alone. Refused from the shapes: the message gives
    // the bytes the shapes ask for, computed before any input exists (how fast that is belongs to
    // the benchmarks, not to a wall-clock assertion).
    let run = mogec_env(
        &[
            "run",
            "examples/src/gate.rs",
            "--kernel",
            "moge_gate",
            "--set",
            "E=64,G=8",
            "--random",
            "1",
            "--dim",
            "T=16000000",
            "-o",
            arg(&out),
        ],
        &[("MOGE_MEMORY_LIMIT", "8G")],
    );
    assert_one_line_error(
        &run,
        1,
        &[
            "input `logits` with shape [16000000, 64] (4096000000 bytes)",
            "budget of 8589934592 bytes (MOGE_MEMORY_LIMIT=8G)",
        ],
    );
    // The same budget counted by hand for a small run: logits 40000 x 8 f32 and scale 8 f32, each
    // held once plus two emulator copies (the packed bytes and the emulator's pages of them); the
    // interpreter's values; the outputs likewise.
    let run = mogec_env(
        &[
            "run",
            "examples/src/gate.rs",
            "--set",
            "E=8,G=2",
            "--random",
            "1",
            "--dim",
            "T=40000",
            "-o",
            arg(&out),
        ],
        &[("MOGE_MEMORY_LIMIT", "1M")],
    );
    // Per element: the f32 and two copies, and an f64 error bound (softmax reads the logits, so
    // they are no weight).
    let inputs = (40_000 * 8 + 8) * (4 * 3 + 8);
    assert_one_line_error(&run, 1, &[&format!("inputs {inputs} +"), "1048576 bytes"]);
    // eval has no emulator copies but the same budget.
    let run = mogec_env(
        &[
            "eval",
            "examples/src/gate.rs",
            "--set",
            "E=8,G=2",
            "--random",
            "1",
            "--dim",
            "T=40000",
            "-o",
            arg(&out),
        ],
        &[("MOGE_MEMORY_LIMIT", "1M")],
    );
    assert_one_line_error(&run, 1, &["(interpreter values ", "MOGE_MEMORY_LIMIT=1M"]);
    assert!(!run.stderr.contains("inputs "), "{run:#?}");
    // An input file whose header claims 10^11 rows (and holds no data): refused from the header,
    // before its data is read, naming the file and the shape.
    let huge = scratch("memory_budget_inputs").join("huge.npy");
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 8), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16 + 1).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.push(b'\n');
    fs::write(&huge, bytes).expect("write");
    for (command, needle) in [
        // eval: the tensor alone is over 16 GiB.
        ("eval", "3200000000000 bytes"),
        // run: the axis is already too long for a kernel's 32-bit indices.
        ("run", "axis 0 has 100000000000 elements"),
    ] {
        let run = mogec(&[
            command,
            "examples/src/gate.rs",
            "--set",
            "E=8,G=2",
            "--input",
            &format!("logits={}", arg(&huge)),
            "--input",
            "router_scale=tests/data/missing.npy",
            "-o",
            arg(&out),
        ]);
        // The first input is checked before the second is even opened.
        assert_one_line_error(&run, 1, &["huge.npy", "[100000000000, 8]", needle]);
    }
    assert_eq!(listing(&out), Vec::<String>::new());
}

#[test]
fn an_input_named_like_an_output_gets_its_own_file() {
    let dir = scratch("npy_names");
    let source = dir.join("names.rs");
    fs::write(
        &source,
        "use moge::prelude::*;\n\
         #[moge::kernel]\n\
         pub fn names(x: Tensor<f32, (T,)>) -> (Tensor<f32, (T,)>, Tensor<f32, (T,)>) {\n    \
             let x = exp(x);\n    \
             (x, x)\n\
         }\n",
    )
    .expect("write");
    let out = dir.join("out");
    mogec_ok(&[
        "eval",
        arg(&source),
        "--random",
        "3",
        "--dim",
        "T=4",
        "-o",
        arg(&out),
    ]);
    // The outputs give way to the parameter `x` and to each other (`x_1`, `x_2`), so the input
    // keeps its own name.
    assert_eq!(listing(&out), vec!["x.npy", "x_1.npy", "x_2.npy"]);
    // The input written is the one the outputs were computed from: exp of it, twice.
    let input = read(&out.join("x.npy"), DType::F32);
    let first = read(&out.join("x_1.npy"), DType::F32);
    let second = read(&out.join("x_2.npy"), DType::F32);
    let want: Vec<f32> = input
        .as_f32()
        .expect("f32")
        .iter()
        .map(|v| v.exp())
        .collect();
    for got in [&first, &second] {
        for (g, w) in got.as_f32().expect("f32").iter().zip(&want) {
            assert!((g - w).abs() <= 1e-6 * w.abs().max(1.0), "{g} vs {w}");
        }
    }
    // The written input fed back, with the same directory for the outputs: no output is named
    // `x.npy`, so this works, leaves the input alone and replaces the outputs with the same values.
    let again = mogec_ok(&[
        "eval",
        arg(&source),
        "--input",
        &format!("x={}", arg(&out.join("x.npy"))),
        "-o",
        arg(&out),
    ]);
    assert!(again.stdout.contains("x_1.npy"), "{again:#?}");
    assert_eq!(read(&out.join("x_1.npy"), DType::F32), first);
    assert_eq!(read(&out.join("x.npy"), DType::F32), input);
}

#[test]
fn an_input_can_come_through_a_pipe() {
    use std::io::Write as _;
    use std::process::Stdio;
    // The header is checked before the data is read, from the same open file: a pipe is read once.
    let dir = gate_inputs("pipe");
    let out = dir.join("out");
    let mut child = Command::new(MOGEC)
        .args([
            "eval",
            "examples/src/gate.rs",
            "--set",
            "E=8,G=2",
            "--input",
            "logits=/dev/stdin",
            "--input",
            &format!("router_scale={}", arg(&dir.join("router_scale.npy"))),
            "-o",
            arg(&out),
        ])
        .current_dir(ROOT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mogec runs");
    let logits = fs::read(dir.join("logits.npy")).expect("read");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&logits)
        .expect("write");
    let output = child.wait_with_output().expect("mogec ends");
    assert!(output.status.success(), "{output:?}");
    // The same outputs as from the file itself.
    assert_eq!(
        fs::read(out.join("weight.npy")).expect("read"),
        fs::read(dir.join("weight.npy")).expect("read")
    );
}

// ---------------------------------------------------------------------------------------------
// program tensor names and emitted symbols

/// The symbol and the GM parameter names of the `extern "C"` entry of an emitted `.cpp`, read from its
/// text (independently of the writer).
pub(crate) fn extern_c_entry(cpp: &str) -> (String, Vec<String>) {
    let marker = "extern \"C\" __global__ __aicore__ void ";
    let start = cpp.find(marker).expect("an extern \"C\" entry") + marker.len();
    let rest = &cpp[start..];
    let open = rest.find('(').expect("a parameter list");
    let close = rest.find(')').expect("a parameter list");
    let params = rest[open + 1..close]
        .split(',')
        .map(|p| {
            let p = p.trim();
            p.strip_prefix("GM_ADDR ")
                .unwrap_or_else(|| panic!("a GM_ADDR parameter, found `{p}`"))
                .to_string()
        })
        .collect();
    (rest[..open].to_string(), params)
}

/// Builds `kernel` of `file` and checks that the manifest lists `names` (inputs then outputs), that
/// the one device kernel takes them in that order, and that the `.cpp` exports exactly the manifest's
/// symbol with exactly those parameter names (then `workspace`, `tiling`).
#[track_caller]
pub(crate) fn check_manifest_matches_cpp(file: &str, kernel: &str, set: &[&str], names: &[&str]) {
    let dir = scratch(&format!("names_{kernel}"));
    let mut args = vec![
        "build",
        file,
        "--kernel",
        kernel,
        "--emit",
        "manifest,ascendc",
        "-o",
    ];
    args.push(arg(&dir));
    for s in set {
        args.extend(["--set", s]);
    }
    mogec_ok(&args);
    let manifest_path = fs::read_dir(&dir)
        .expect("build output")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a manifest");
    let manifest = moge_codegen_ascendc::Manifest::from_json(
        &fs::read_to_string(&manifest_path).expect("manifest written"),
    )
    .expect("the manifest parses");
    let params: Vec<&str> = manifest.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(params, names, "{kernel}");
    for device in &manifest.kernels {
        assert_eq!(device.args, names, "{kernel}");
        let cpp = fs::read_to_string(dir.join(&device.source)).expect("the .cpp is written");
        let (symbol, c_params) = extern_c_entry(&cpp);
        assert_eq!(symbol, device.name, "{kernel}");
        let mut expected: Vec<&str> = device.args.iter().map(String::as_str).collect();
        expected.extend(["workspace", "tiling"]);
        assert_eq!(c_params, expected, "{kernel}");
    }
}

#[test]
fn results_that_are_parameters_run() {
    let file = "tests/data/results_as_params.rs";
    // (kernel, inputs, outputs as the README's naming rule gives them)
    let cases: &[(&str, &[&str], &[&str])] = &[
        ("return_param", &["a"], &["a_1"]),
        ("return_shadowed", &["x"], &["x_1"]),
        ("return_twice", &["x"], &["y", "y_1"]),
        ("param_named_out0", &["out0"], &["out0_1"]),
        ("swap_params", &["a", "b"], &["b_1", "a_1"]),
        ("every_shape", &["x", "i"], &["x_1", "i_1", "i_2", "y"]),
    ];
    for &(kernel, inputs, outputs) in cases {
        let names: Vec<&str> = inputs.iter().chain(outputs).copied().collect();
        check_manifest_matches_cpp(file, kernel, &[], &names);
        let dir = scratch(&format!("params_as_results_{kernel}"));
        let run = mogec(&[
            "run",
            file,
            "--kernel",
            kernel,
            "--random",
            "7",
            "--dim",
            "N=37",
            "-o",
            arg(&dir),
        ]);
        assert_eq!(run.code, Some(0), "{kernel}: {run:#?}");
        // `eval` names its files as `run` does, and both agree with the manifest.
        let eval_dir = scratch(&format!("params_as_results_eval_{kernel}"));
        mogec_ok(&[
            "eval",
            file,
            "--kernel",
            kernel,
            "--random",
            "7",
            "--dim",
            "N=37",
            "-o",
            arg(&eval_dir),
        ]);
        let mut files: Vec<String> = names.iter().map(|n| format!("{n}.npy")).collect();
        files.sort();
        let listed = |d: &Path| {
            let mut l: Vec<String> = fs::read_dir(d)
                .expect("output directory")
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".npy"))
                .collect();
            l.sort();
            l
        };
        assert_eq!(listed(&dir), files, "{kernel}");
        assert_eq!(listed(&eval_dir), files, "{kernel}");
    }

    // The device's values, checked against the kernels' formulas: a returned parameter is its input
    // bit for bit, a value returned twice is written twice.
    let bits = |dir: &Path, name: &str, dtype: DType| -> Vec<u64> {
        read(&dir.join(format!("{name}.npy")), dtype)
            .to_f64_vec()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    let out = |kernel: &str| {
        Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("cli")
            .join(format!("params_as_results_{kernel}"))
    };
    let dir = out("return_param");
    assert_eq!(bits(&dir, "a_1", DType::F32), bits(&dir, "a", DType::F32));
    let dir = out("swap_params");
    assert_eq!(bits(&dir, "a_1", DType::F32), bits(&dir, "a", DType::F32));
    assert_eq!(bits(&dir, "b_1", DType::F32), bits(&dir, "b", DType::F32));
    let dir = out("every_shape");
    assert_eq!(bits(&dir, "x_1", DType::BF16), bits(&dir, "x", DType::BF16));
    assert_eq!(bits(&dir, "y", DType::BF16), bits(&dir, "x", DType::BF16));
    assert_eq!(bits(&dir, "i_1", DType::I32), bits(&dir, "i", DType::I32));
    assert_eq!(bits(&dir, "i_2", DType::I32), bits(&dir, "i", DType::I32));
    let dir = out("return_twice");
    assert_eq!(bits(&dir, "y_1", DType::F32), bits(&dir, "y", DType::F32));
    for (kernel, input, output) in [
        ("return_shadowed", "x", "x_1"),
        ("return_twice", "x", "y"),
        ("param_named_out0", "out0", "out0_1"),
    ] {
        let dir = out(kernel);
        let x = read(&dir.join(format!("{input}.npy")), DType::F32).to_f64_vec();
        let y = read(&dir.join(format!("{output}.npy")), DType::F32).to_f64_vec();
        assert_eq!(x.len(), 37, "{kernel}");
        for (x, y) in x.iter().zip(&y) {
            let want = x.exp();
            assert!(
                (y - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{kernel}: exp({x}) = {y}"
            );
        }
    }
}

#[test]
fn check_refuses_names_that_cannot_be_emitted_at_their_tokens() {
    let file = "tests/data/bad_names.rs";
    let text = fs::read_to_string(Path::new(ROOT).join(file)).expect("fixture");
    let run = mogec(&["check", file]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    let expected = [
        (
            "pub fn größe",
            "größe",
            "the kernel name `größe` cannot be emitted",
        ),
        (
            "pub fn names",
            "r#int",
            "the parameter name `int` cannot be emitted: it is a C++ keyword",
        ),
        (
            "pub fn names",
            "workspace:",
            "the parameter name `workspace` cannot be emitted",
        ),
        (
            "pub fn names",
            "_Scale:",
            "the parameter name `_Scale` cannot be emitted",
        ),
        ("    ß", "ß", "the result `ß` cannot be emitted"),
    ];
    for (marker, token, message) in expected {
        let (line, col) = position_of(&text, marker, token);
        let pos = run
            .stderr
            .find(message)
            .unwrap_or_else(|| panic!("`{message}` expected in {}", run.stderr));
        let location = format!("--> {file}:{line}:{col}\n");
        assert!(
            run.stderr[pos..]
                .lines()
                .nth(1)
                .is_some_and(|l| format!("{}\n", l.trim_start()) == location),
            "{message} at {location} expected in {}",
            run.stderr
        );
    }
}

#[test]
fn raw_identifiers_build_and_run_under_their_plain_names() {
    let file = "tests/data/names_and_dims.rs";
    check_manifest_matches_cpp(file, "try", &[], &["fn", "rows", "loop"]);
    let dir = scratch("raw_identifiers_run");
    mogec_ok(&[
        "run",
        file,
        "--kernel",
        "try",
        "--random",
        "3",
        "--dim",
        "N=21",
        "-o",
        arg(&dir),
    ]);
    // `loop = exp(fn) + rows`, from the files `run` wrote.
    let input = read(&dir.join("fn.npy"), DType::F32).to_f64_vec();
    let rows = read(&dir.join("rows.npy"), DType::F32).to_f64_vec();
    let output = read(&dir.join("loop.npy"), DType::F32).to_f64_vec();
    assert_eq!(output.len(), 21);
    for ((x, r), y) in input.iter().zip(&rows).zip(&output) {
        let want = x.exp() + r;
        assert!(
            (y - want).abs() <= 1e-5 * want.abs().max(1.0),
            "exp({x}) + {r} = {y}"
        );
    }
}

#[test]
fn dims_out_of_range_are_refused_at_build_and_run_with_their_location() {
    let file = "tests/data/names_and_dims.rs";
    let text = fs::read_to_string(Path::new(ROOT).join(file)).expect("fixture");
    let at = |kernel: &str| {
        let (line, col) = position_of(&text, &format!("pub fn {kernel}"), "x:");
        format!("of parameter `x` at {line}:{col}")
    };
    let dir = scratch("dims_out_of_range");
    let cases = [
        ("shrink", "N=16", "`N - 100`", "is -84, which is negative"),
        (
            "sixth",
            "N=1000000",
            "`N*N*N*N*N*N`",
            "overflows 64-bit arithmetic",
        ),
        (
            "sixth",
            "N=1000",
            "`N*N*N*N*N*N`",
            "is 1000000000000000000, which is too large",
        ),
        ("ratio", "N=4,M=0", "`N/M`", "divides by zero"),
    ];
    for (kernel, set, dim, problem) in cases {
        let build = mogec(&[
            "build",
            file,
            "--kernel",
            kernel,
            "--set",
            set,
            "-o",
            arg(&dir),
        ]);
        let run = mogec(&[
            "run",
            file,
            "--kernel",
            kernel,
            "--set",
            set,
            "--random",
            "1",
            "--dim",
            "T=2",
            "-o",
            arg(&dir),
        ]);
        for outcome in [&build, &run] {
            assert_one_line_error(
                outcome,
                1,
                &[&format!("the dim {dim} {}", at(kernel)), problem],
            );
        }
    }
    // In range, the same kernels build.
    mogec_ok(&[
        "build",
        file,
        "--kernel",
        "shrink",
        "--set",
        "N=116",
        "-o",
        arg(&dir),
    ]);
    mogec_ok(&[
        "build",
        file,
        "--kernel",
        "ratio",
        "--set",
        "N=4,M=2",
        "-o",
        arg(&dir),
    ]);
}

#[test]
fn kernel_selection_reaches_a_top_level_kernel_and_reports_a_duplicate() {
    let dir = scratch("kernel_selection");
    let out = arg(&dir);
    let top = dir.join("top.rs");
    fs::write(
        &top,
        "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { x }\nmod m {\n    #[kernel]\n    fn k(y: Tensor<f32, (N,)>, z: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { y + z }\n}\n",
    )
    .unwrap();
    let top = arg(&top);
    let run = mogec(&["build", top, "--kernel", "k", "-o", out]);
    assert_one_line_error(
        &run,
        2,
        &[
            "ambiguous",
            "`crate::k (line 2, column 4)`",
            "`m::k (line 5, column 8)`",
            "crate::NAME",
        ],
    );
    for name in ["crate::k", "::k", "self::k"] {
        let run = mogec(&["build", top, "--kernel", name, "-o", out]);
        assert_eq!(run.code, Some(0), "{name}: {}", run.stderr);
        assert!(
            run.stdout.contains("built: k(x: f32[N])"),
            "{name}: {}",
            run.stdout
        );
    }
    let run = mogec(&["build", top, "--kernel", "m::k", "-o", out]);
    assert!(
        run.stdout.contains("built: k(y: f32[N], z: f32[N])"),
        "{}",
        run.stdout
    );
    // Two kernels of one path: the file's error, as `check` reports it (exit 1), not a usage error.
    let dup = dir.join("dup.rs");
    fs::write(
        &dup,
        "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { x }\n#[kernel]\nfn k(y: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { y }\n",
    )
    .unwrap();
    let dup = arg(&dup);
    let check = mogec(&["check", dup]);
    assert_eq!(check.code, Some(1), "{}", check.stderr);
    for kernel in [
        &["--kernel", "k"][..],
        &["--kernel", "crate::k"][..],
        &[][..],
    ] {
        let mut args = vec!["build", dup, "-o", out];
        args.extend_from_slice(kernel);
        let run = mogec(&args);
        assert_eq!(run.code, Some(1), "{kernel:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("defined twice"),
            "{kernel:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("MODULE::NAME"),
            "{kernel:?}: {}",
            run.stderr
        );
    }
}
