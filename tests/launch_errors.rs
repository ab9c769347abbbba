//! The launch API refuses bad inputs with errors that name the parameter, what was expected and what
//! was found, before anything reaches a backend; backend failures and unavailable backends are errors
//! too, never a fake success.

use moge::graph::DType;
use moge::load::LoadError;
use moge::run::{run_program, RunError, RunInputs, RunOptions};
use moge::Tensor;
use moge_codegen_ascendc::{compile_program, Program};
use moge_examples::gate::moge_gate;
use moge_examples::rmsnorm::rmsnorm;
use moge_lower::target::Target;
use moge_runtime::backend::{AclBackend, BackendError, BackendKind, EmulatorBackend};
use moge_runtime::launch::{launch, plan, program_sources, LaunchError, ProgramRef};

/// The gate compiled for E = 16, G = 2 (small and quick).
fn gate() -> (moge::graph::Kernel, Program) {
    let kernel = moge_gate::<16, 2>::graph().unwrap();
    let program = compile_program(&kernel, &Target::default()).unwrap();
    (kernel, program)
}

fn f32s(shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_f32(DType::F32, shape.to_vec(), vec![0.5; n]).unwrap()
}

/// Checks that launching the gate on `inputs` fails before the backend runs, with `message`.
#[track_caller]
fn check_launch_error(inputs: &[Tensor], message: &str) {
    let (_, program) = gate();
    let err = plan(&program.manifest, inputs).unwrap_err();
    assert_eq!(err.to_string(), message);
    // `launch` gives the same error, and the emulator is never asked to compile anything.
    let sources = program_sources(&program);
    let program = ProgramRef::new(&program.manifest, &sources).unwrap();
    let err = launch(program, inputs, &EmulatorBackend::default()).unwrap_err();
    assert_eq!(err.to_string(), message);
}

#[test]
fn wrong_input_count_is_refused() {
    check_launch_error(
        &[f32s(&[3, 16])],
        "program `moge_gate` takes 2 inputs (`logits`, `router_scale`), found 1",
    );
    check_launch_error(
        &[f32s(&[3, 16]), f32s(&[16]), f32s(&[16])],
        "program `moge_gate` takes 2 inputs (`logits`, `router_scale`), found 3",
    );
}

#[test]
fn wrong_dtypes_are_refused() {
    let logits = Tensor::from_f32(DType::BF16, vec![3, 16], vec![0.5; 48]).unwrap();
    check_launch_error(
        &[logits, f32s(&[16])],
        "input 0 (`logits`): expected dtype f32, found bf16",
    );
    let scale = Tensor::from_i32(vec![16], vec![1; 16]).unwrap();
    check_launch_error(
        &[f32s(&[3, 16]), scale],
        "input 1 (`router_scale`): expected dtype f32, found i32",
    );
}

#[test]
fn wrong_shapes_are_refused() {
    // E is bound to 16 by specialization: a logits row of 15 is wrong.
    check_launch_error(
        &[f32s(&[3, 15]), f32s(&[16])],
        "input 0 (`logits`): axis 1 is 16, found 15",
    );
    check_launch_error(
        &[f32s(&[3, 16]), f32s(&[17])],
        "input 1 (`router_scale`): axis 0 is 16, found 17",
    );
    check_launch_error(
        &[f32s(&[48]), f32s(&[16])],
        "input 0 (`logits`): expected rank 2 (shape [T, 16]), found rank 1 (shape [48])",
    );
}

#[test]
fn the_interpreter_and_the_launch_share_one_dim_solver() {
    // The same bad inputs get the same message from the reference interpreter (graph IR dims) and
    // from the launch (manifest expressions): both call `moge_lower::interp::solve`.
    let (kernel, program) = gate();
    for inputs in [
        vec![f32s(&[3, 15]), f32s(&[16])],
        vec![f32s(&[3, 16]), f32s(&[17])],
        vec![f32s(&[0, 16]), f32s(&[0])],
    ] {
        let interp = moge_lower::interp::bind_dims(&kernel, &inputs).unwrap_err();
        let launch = plan(&program.manifest, &inputs).unwrap_err();
        assert!(
            matches!(interp, moge_lower::interp::EvalError::Dims(_)),
            "{interp}"
        );
        assert!(matches!(launch, LaunchError::Dims(_)), "{launch}");
        assert_eq!(interp.to_string(), launch.to_string());
    }
    let good = [f32s(&[7, 16]), f32s(&[16])];
    let interp = moge_lower::interp::bind_dims(&kernel, &good).unwrap();
    assert_eq!(interp.len(), 1);
    assert_eq!(interp[0].1, 7);
    assert_eq!(
        plan(&program.manifest, &good).unwrap().dims,
        vec![(moge_lower::Symbol::intern("T"), 7)]
    );
}

#[test]
fn dims_are_bound_from_the_input_shapes() {
    let (_, program) = gate();
    let planned = plan(&program.manifest, &[f32s(&[5, 16]), f32s(&[16])]).unwrap();
    assert_eq!(planned.dims, vec![(moge_lower::Symbol::intern("T"), 5)]);
    // Outputs are weight f32[5, 2] and expert i32[5, 2]: 40 bytes each; inputs 5*16*4 + 16*4 = 384.
    let outputs: Vec<(&str, &[usize], u64)> = planned
        .tensors
        .iter()
        .skip(2)
        .map(|t| (t.name.as_str(), t.shape.as_slice(), t.bytes))
        .collect();
    assert_eq!(
        outputs,
        vec![("weight", &[5, 2][..], 40), ("expert", &[5, 2][..], 40)]
    );
    assert_eq!(planned.compulsory_bytes(), 384 + 80);
    // The manifest's block dim for a row-split kernel uses every row up to the 48 vector cores.
    assert_eq!(planned.kernels[0].block_dim, 5);
}

/// What the acl backend says on a machine without CANN: the variable is unset and none of the
/// standard install roots exists.
fn no_cann_reason() -> String {
    let roots: Vec<String> = moge_runtime::acl::find::standard_roots()
        .iter()
        .map(|r| r.display().to_string())
        .collect();
    format!(
        "CANN not found (ASCEND_HOME_PATH unset, and none of {} exists)",
        roots.join(", ")
    )
}

#[test]
fn the_acl_backend_says_plainly_that_it_cannot_run() {
    match AclBackend::detect() {
        Err(BackendError::Unavailable { backend, reason }) => {
            assert_eq!(backend, "acl");
            if std::env::var_os(AclBackend::HOME_VAR).is_none() {
                assert_eq!(reason, no_cann_reason());
            }
        }
        other => panic!("expected the acl backend to be unavailable, found {other:?}"),
    }
    assert!(BackendKind::Acl.create().is_err());
    assert_eq!("Emulator".parse::<BackendKind>(), Ok(BackendKind::Emulator));
    assert_eq!(
        "cuda".parse::<BackendKind>().unwrap_err().to_string(),
        "unknown backend `cuda`: expected `emulator` or `acl`"
    );
}

#[test]
fn run_program_refuses_the_acl_backend_and_bad_names() {
    let kernel = moge_gate::<16, 2>::graph().unwrap();
    let out = std::env::temp_dir().join(format!("moge-launch-errors-{}", std::process::id()));
    let options = RunOptions {
        backend: BackendKind::Acl,
        ..RunOptions::default()
    };
    let random = RunInputs::Random {
        seed: 1,
        dims: vec![("T".to_string(), 4)],
    };
    let err = run_program(&kernel, random, &out, &options).unwrap_err();
    assert!(matches!(err, RunError::Backend(_)), "{err}");
    assert!(
        err.to_string()
            .starts_with("the acl backend is not available: "),
        "{err}"
    );

    let options = RunOptions::default();
    let wrong_dim = RunInputs::Random {
        seed: 1,
        dims: vec![("S".to_string(), 4)],
    };
    let err = run_program(&kernel, wrong_dim, &out, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--dim S=...: kernel `moge_gate` has no dynamic dim `S`; its dynamic dims are `T`"
    );
    let missing = RunInputs::Files(vec![("logits".to_string(), out.join("logits.npy"))]);
    let err = run_program(&kernel, missing, &out, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kernel `moge_gate` needs --input for parameter `router_scale`; give each as --input PARAM=FILE.npy, or use --random SEED"
    );
    let wrong_shape = RunInputs::Tensors(vec![f32s(&[2, 16]), f32s(&[4])]);
    let err = run_program(&kernel, wrong_shape, &out, &options).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 1 (`router_scale`): axis 0 is 16, found 4"
    );
    assert!(!out.exists(), "nothing is written when a run fails");
}

#[test]
fn a_kernel_that_fails_on_the_emulator_is_an_error_naming_it() {
    // The rmsnorm program with a kernel source that does not compile: the error names the kernel and
    // carries the compiler's message.
    let kernel = rmsnorm::<64>::graph().unwrap();
    let program = compile_program(&kernel, &Target::default()).unwrap();
    let mut sources = program_sources(&program);
    sources[0] = sources[0].replace("extern \"C\"", "extern \"C\" this_is_not_cpp");
    let inputs = [
        Tensor::from_f32(DType::BF16, vec![2, 64], vec![1.0; 128]).unwrap(),
        Tensor::from_f32(DType::BF16, vec![64], vec![1.0; 64]).unwrap(),
    ];
    let program_ref = ProgramRef::new(&program.manifest, &sources).unwrap();
    let err = launch(program_ref, &inputs, &EmulatorBackend::default()).unwrap_err();
    let LaunchError::Backend {
        kernel, backend, ..
    } = &err
    else {
        panic!("expected a backend error, found {err}");
    };
    assert_eq!((kernel.as_str(), *backend), ("rmsnorm_k0", "emulator"));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "kernel `rmsnorm_k0` failed on the emulator: the kernel source failed to compile:"
        ),
        "{text}"
    );
    assert!(text.contains("this_is_not_cpp"), "{text}");
}

/// Runs `mogec` with `args`; returns the exit status, stdout and stderr.
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
fn mogec_run_reports_launch_errors_in_one_line() {
    let dir = std::env::temp_dir().join(format!("moge-run-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A router_scale of 5 elements for E = 16.
    let logits = dir.join("logits.npy");
    let scale = dir.join("scale.npy");
    moge_runtime::npy::write_npy(&logits, &f32s(&[3, 16])).unwrap();
    moge_runtime::npy::write_npy(&scale, &f32s(&[5])).unwrap();
    let out = dir.join("out");
    let (code, _, stderr) = mogec(&[
        "run",
        "examples/src/gate.rs",
        "--set",
        "E=16,G=2",
        "--input",
        &format!("logits={}", logits.display()),
        "--input",
        &format!("router_scale={}", scale.display()),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        (code, stderr.as_str()),
        (
            1,
            "error: kernel `moge_gate`: input 1 (`router_scale`): axis 0 is 16, found 5\n"
        )
    );
    // The acl backend without CANN: a usage error saying so.
    let (code, _, stderr) = mogec(&[
        "run",
        "examples/src/gate.rs",
        "--set",
        "E=16,G=2",
        "--random",
        "1",
        "--dim",
        "T=3",
        "--backend",
        "acl",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    if std::env::var_os("ASCEND_HOME_PATH").is_none() {
        assert_eq!(
            stderr,
            format!(
                "error: the acl backend is not available: {}\n",
                no_cann_reason()
            )
        );
    }
    assert!(!out.exists(), "nothing is written when a run fails");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn load_kernel_names_what_is_wrong() {
    let gate = moge::demo::GATE_SOURCE;
    let err = moge::run::load_kernel("gate.rs", gate, Some("gate"), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no kernel `gate` in `gate.rs`; its kernels are `moge_gate`"
    );
    let err = moge::run::load_kernel("broken.rs", "fn (", None, &[]).unwrap_err();
    let RunError::Load(LoadError::Diagnostics { rendered, summary }) = &err else {
        panic!("expected diagnostics, found {err}");
    };
    assert_eq!(
        summary,
        "could not check `broken.rs`: it is not valid Rust syntax"
    );
    assert!(rendered.contains("broken.rs"), "{rendered}");
    // G = 3 does not divide E = 64.
    let err = moge::run::load_kernel("gate.rs", gate, None, &[("E", 64), ("G", 3)]).unwrap_err();
    assert!(
        matches!(err, RunError::Load(LoadError::Specialize { .. })),
        "{err}"
    );
    let kernel = moge::run::load_kernel("gate.rs", gate, None, &[("E", 64), ("G", 8)]).unwrap();
    assert_eq!(
        kernel.bound,
        vec![
            (moge_lower::Symbol::intern("E"), 64),
            (moge_lower::Symbol::intern("G"), 8)
        ]
    );
}

/// Kernels that misbehave as processes: they start descendants that hold the emulator's pipes,
/// escape its process group, or die of a signal. Every kernel takes one GM argument.
const STRAY_PROCESSES: &str = r#"
#include "kernel_operator.h"
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

#define STRAY_KERNEL(name) extern "C" __global__ __aicore__ void name(GM_ADDR x, GM_ADDR workspace, GM_ADDR tiling)

// Starts a background shell (inheriting stdout and stderr) that sleeps, then creates the file named by the
// NUL-terminated path in x: the file exists only once the descendant has finished.
static void stray(GM_ADDR x, const char* prefix, int seconds) {
    char command[600];
    std::snprintf(command, sizeof(command), "%s sh -c 'sleep %d; touch \"%s\"' &", prefix, seconds,
                  reinterpret_cast<const char*>(x));
    if (std::system(command) != 0) std::abort();
}

// A background descendant inherits stdout and stderr and outlives the kernel, which returns at once.
STRAY_KERNEL(leaves_a_child) {
    (void)workspace, (void)tiling;
    stray(x, "", 30);
}

// The same, then the kernel itself hangs until it is killed.
STRAY_KERNEL(hangs_with_a_child) {
    (void)workspace, (void)tiling;
    stray(x, "", 30);
    for (;;) pause();
}

// A descendant in a session of its own (out of reach of a group kill) holds the pipes.
STRAY_KERNEL(escapes_the_group) {
    (void)workspace, (void)tiling;
    stray(x, "setsid", 20);
}

// Killed as the out-of-memory killer kills.
STRAY_KERNEL(killed) {
    (void)x, (void)workspace, (void)tiling;
    raise(SIGKILL);
}
"#;

/// Launches `kernel` of [`STRAY_PROCESSES`] with a time limit; a descendant it starts creates
/// `marker` when it finishes (the path travels in the GM argument).
fn launch_stray(
    kernel: &str,
    limit: std::time::Duration,
    marker: &std::path::Path,
) -> Result<moge_runtime::emulator::RawReport, moge_runtime::emulator::EmuError> {
    use moge_runtime::emulator::{compile, launch_compiled_within, GmArg, RawLaunch};
    let compiled = compile(STRAY_PROCESSES).expect("the stray-process kernels compile");
    let launch = RawLaunch {
        source: STRAY_PROCESSES,
        kernel,
        block_dim: 1,
        core_type: moge_runtime::emulator::CoreType::Aiv,
        check: moge_runtime::emulator::CheckMode::default(),
        args: vec![GmArg {
            name: "x".to_string(),
            bytes: {
                let path = marker.to_str().expect("a UTF-8 path").as_bytes();
                assert!(path.len() < 256 && !path.contains(&b'\''), "{marker:?}");
                let mut bytes = path.to_vec();
                bytes.resize(256, 0);
                bytes
            },
            is_output: false,
        }],
        workspace_bytes: 0,
        tiling: Vec::new(),
    };
    launch_compiled_within(&compiled, launch, limit)
}

/// A fresh path for a stray descendant's marker file.
fn marker(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("launch_errors");
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let path = dir.join(format!("{name}.done"));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn descendants_of_a_kernel_never_keep_the_launch_waiting() {
    use moge_runtime::emulator::EmuError;
    use std::time::Duration;
    // Each launch would wait for its descendant (a 20-30 s sleep) if the pipes were read to their
    // end; the descendant creates its marker file when it ends, so a launch that returns while the
    // file is still missing did not wait for it (no wall-clock threshold).
    let done = marker("leaves_a_child");
    let result = launch_stray("leaves_a_child", Duration::from_secs(60), &done);
    assert!(result.is_ok(), "{:?}", result.err());
    assert!(!done.exists(), "the launch waited for the kernel's child");

    let done = marker("hangs_with_a_child");
    let result = launch_stray("hangs_with_a_child", Duration::from_secs(2), &done);
    let err = result.expect_err("a hanging kernel is killed");
    assert!(matches!(err, EmuError::Timeout { .. }), "{err}");
    assert!(
        err.to_string().contains("every process it started"),
        "{err}"
    );
    assert!(!done.exists(), "the timeout waited for the kernel's child");

    let done = marker("escapes_the_group");
    let result = launch_stray("escapes_the_group", Duration::from_secs(60), &done);
    assert!(result.is_ok(), "{:?}", result.err());
    assert!(
        !done.exists(),
        "the launch waited for the escaped descendant"
    );
}

#[test]
fn a_kernel_killed_by_sigkill_is_reported_as_probably_out_of_memory() {
    let result = launch_stray(
        "killed",
        std::time::Duration::from_secs(60),
        &marker("killed"),
    );
    let err = result.expect_err("the process died");
    let text = err.to_string();
    assert!(text.contains("signal 9"), "{text}");
    assert!(text.contains("out-of-memory killer"), "{text}");
    assert!(text.contains("`killed`"), "{text}");
}

/// Kernels whose results are parameters, shadowed parameters or one value twice launch through the
/// library like any other: every output is a tensor of its own, written by the device kernel.
#[test]
fn results_that_are_parameters_launch() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/results_as_params.rs"),
    )
    .unwrap();
    let checked = moge_dsl::check_source(&text).unwrap();
    let backend = EmulatorBackend::default();
    let x: Vec<f32> = (0..24).map(|i| (i as f32 - 11.5) * 0.375).collect();
    let y: Vec<f32> = x.iter().map(|v| -2.0 * v + 0.25).collect();
    for item in checked.kernels {
        let kernel = item.result.unwrap().specialize(&[]).unwrap();
        let program = compile_program(&kernel, &Target::default()).unwrap();
        // Inputs: `x`-like values for the first parameter, `y`-like for a second; the bf16/i32
        // kernel gets 3 rows of 8.
        let inputs: Vec<Tensor> = match kernel.name.as_str() {
            "every_shape" => vec![
                Tensor::from_f32(DType::BF16, vec![3, 8], x.clone()).unwrap(),
                Tensor::from_i32(vec![3, 8], (0..24).map(|i| i * 7 - 80).collect()).unwrap(),
            ],
            "swap_params" => vec![
                Tensor::from_f32(DType::F32, vec![24], x.clone()).unwrap(),
                Tensor::from_f32(DType::F32, vec![24], y.clone()).unwrap(),
            ],
            _ => vec![Tensor::from_f32(DType::F32, vec![24], x.clone()).unwrap()],
        };
        let run = moge::run::check_program(&kernel, &program, &inputs, &backend)
            .unwrap_or_else(|e| panic!("{}: {e}", kernel.name));
        assert!(run.passed(), "{}: {:?}", kernel.name, run.comparisons);
        let got = &run.launched.outputs;
        assert_eq!(got.len(), kernel.outputs.len(), "{}", kernel.name);
        // Outputs that pass a parameter through are that parameter, exactly.
        let expected: Vec<&Tensor> = match kernel.name.as_str() {
            "return_param" => vec![&inputs[0]],
            "swap_params" => vec![&inputs[1], &inputs[0]],
            "every_shape" => vec![&inputs[0], &inputs[1], &inputs[1], &inputs[0]],
            _ => vec![],
        };
        for (got, want) in got.iter().zip(expected) {
            assert_eq!(got, want, "{}", kernel.name);
        }
        if kernel.name == "return_twice" {
            assert_eq!(got[0], got[1]);
        }
        // Every tensor of the program has its own name.
        let mut names: Vec<&str> = program
            .manifest
            .params
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            program.manifest.params.len(),
            "{}",
            kernel.name
        );
    }
}
