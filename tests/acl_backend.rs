//! The ACL backend end to end without an NPU (a fake CANN tree and a fake libascendcl: every example
//! program's kernels compile through `bisheng`/`ld.lld` scripts and launch with their arguments packed
//! as their entry points declare them; `mogec run --backend acl` writes report.json with the device
//! time of ACL's events), and, opt-in with `MOGE_TEST_NPU=1` on a machine with CANN 8.5 and a 910B,
//! every example on the real NPU against the interpreter.

use std::path::Path;

use moge::run::check_program;
use moge_codegen_ascendc::{compile_program, Program};
use moge_lower::graph::Kernel;
use moge_lower::interp::random_inputs;
use moge_lower::target::Target;
use moge_runtime::acl::fake::FakeCann;
use moge_runtime::acl::find::Cann;
use moge_runtime::backend::{AclBackend, Backend};

/// (file, kernel, static dims, dynamic dims): every example kernel at a size the interpreter checks
/// quickly, covering AIV, AIC (gemm) and MIX (router, the FFN's grouped matmuls) kernels.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, i64)],
    &'static [(&'static str, i64)],
);

const EXAMPLES: [Case; 7] = [
    ("gate.rs", "moge_gate", &[("E", 64), ("G", 8)], &[("T", 64)]),
    ("softmax.rs", "softmax_f32", &[("N", 100)], &[("T", 7)]),
    ("softmax.rs", "softmax_bf16", &[("N", 1024)], &[("T", 3)]),
    ("rmsnorm.rs", "rmsnorm", &[("H", 5120)], &[("T", 5)]),
    ("matmul.rs", "gemm", &[("K", 1024), ("N", 64)], &[("M", 40)]),
    (
        "router.rs",
        "moge_router",
        &[("H", 5120), ("E", 64), ("G", 8)],
        &[("T", 8)],
    ),
    (
        "ffn.rs",
        "moge_ffn",
        &[("H", 256), ("E", 16), ("G", 4), ("I", 64), ("S", 128)],
        &[("T", 16)],
    ),
];

fn example_kernel(file: &str, name: &str, set: &[(&str, i64)]) -> Kernel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/src")
        .join(file);
    let source = std::fs::read_to_string(&path).expect("the example file exists");
    moge::run::load_kernel(file, &source, Some(name), set).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn program(kernel: &Kernel) -> Program {
    compile_program(kernel, &Target::ascend910b2()).expect("the example compiles")
}

#[test]
fn every_example_launches_through_the_fake_acl_with_its_kernels_parameters() {
    let fake = FakeCann::new("8.5.0", &["Ascend910B2"]).unwrap();
    let cann = Cann::open_checked(&fake.root(), true).unwrap();
    let library = fake.library(&[], false).unwrap();
    let backend = AclBackend::with_cann(cann)
        .with_cache_dir(fake.scratch("cache"))
        .with_library(library);
    let mut kernels = 0;
    for (file, name, set, dims) in EXAMPLES {
        let kernel = example_kernel(file, name, set);
        let program = program(&kernel);
        let inputs = random_inputs(&kernel, 7, dims).unwrap();
        // Each launch checks the manifest's arguments against the kernel's entry point, packs
        // them and runs (the fake runs nothing, so only the launch itself is checked here).
        let checked = check_program(&kernel, &program, &inputs, &backend as &dyn Backend)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            checked.launched.report.kernels.len(),
            program.kernels.len(),
            "{name}"
        );
        for k in &checked.launched.report.kernels {
            assert_eq!(
                k.wall,
                std::time::Duration::from_micros(500),
                "{name}: event time"
            );
        }
        kernels += program.kernels.len();
    }
    // One bisheng per core type and one ld.lld per device kernel.
    let log = fake.tool_log();
    assert_eq!(log.matches("ld.lld ").count(), kernels, "{log}");
    assert!(log.contains("--cce-aicore-arch=dav-c220-cube"));
    assert!(
        log.contains("-DMOGE_ACL_ENTRY=moge_router_k0_mix_aic"),
        "the router is MIX"
    );
}

#[test]
fn mogec_run_on_the_acl_backend_writes_the_report_with_device_time() {
    let fake = FakeCann::new("8.5.0", &["Ascend910B2"]).unwrap();
    fake.library(&[], true).unwrap();
    let out = fake.scratch("out");
    let root = fake.root();
    let cache = fake.scratch("cache");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mogec"))
        .args([
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
        ])
        .arg(&out)
        .env("ASCEND_HOME_PATH", &root)
        .env("MOGE_CACHE_DIR", &cache)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The fake computes nothing: the outputs keep the launch's NaN fill and fail the comparison,
    // which is exit status 1 with the report written, exactly as for the emulator.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["backend"], "acl");
    let kernels = report["kernels"].as_array().unwrap();
    assert!(!kernels.is_empty());
    for k in kernels {
        assert_eq!(k["wall_us"], 500, "{k}");
    }
    assert!(report["outputs"]["weight"]["mismatches"].as_u64().unwrap() > 0);
    // The device binary is in MOGE_CACHE_DIR/acl.
    assert_eq!(std::fs::read_dir(cache.join("acl")).unwrap().count(), 1);
}

#[test]
fn mogec_run_on_the_acl_backend_refuses_another_cann_version() {
    let fake = FakeCann::new("8.2.RC1", &["Ascend910B2"]).unwrap();
    let out = fake.scratch("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mogec"))
        .args([
            "run",
            "examples/src/gate.rs",
            "--set",
            "E=16,G=2",
            "--random",
            "1",
        ])
        .args(["--dim", "T=3", "--backend", "acl", "-o"])
        .arg(&out)
        .env("ASCEND_HOME_PATH", fake.root())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: CANN 8.2.RC1 found at `{}` (from share/info/runtime/version.info), but moge's device build follows CANN 8.5",
            fake.root().display()
        )),
        "{stderr}"
    );
    assert!(!out.exists());
}

/// On a machine with an NPU (CANN 8.5 installed, `ASCEND_HOME_PATH` set by its `set_env.sh`),
/// `MOGE_TEST_NPU=1 cargo test --test root acl_backend` runs every example on the NPU and checks it
/// against the interpreter within the tolerance `mogec run` applies. Without the variable the test
/// says so and returns: no NPU is reachable from the machines that run the suite.
#[test]
fn npu_runs_every_example_against_the_interpreter() {
    if std::env::var_os("MOGE_TEST_NPU").is_none_or(|v| v != "1") {
        eprintln!("skipping the NPU run: MOGE_TEST_NPU=1 is not set (see README, \"On an NPU\")");
        return;
    }
    let backend = AclBackend::detect().unwrap_or_else(|e| panic!("MOGE_TEST_NPU=1: {e}"));
    for (file, name, set, dims) in EXAMPLES {
        let kernel = example_kernel(file, name, set);
        let program = program(&kernel);
        let inputs = random_inputs(&kernel, 11, dims).unwrap();
        let checked = check_program(&kernel, &program, &inputs, &backend as &dyn Backend)
            .unwrap_or_else(|e| panic!("{name} on the NPU: {e}"));
        for (output, comparison) in kernel.outputs.iter().zip(&checked.comparisons) {
            assert!(
                comparison.passed(),
                "{name} on the NPU: output `{}`: {comparison}",
                output.name
            );
        }
    }
}
