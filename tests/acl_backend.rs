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

/// The CANN declarations the device source uses beyond the Ascend C API, with the layout of CANN
/// 8.5's `kernel_utils_macros.h` (a TLV header of two u16, then the kernel type as u32; for MIX the
/// ratio record: header, then two u16), and the two intrinsics of the MIX entry as no-ops.
const CANN_DECLARATIONS: &str = "#pragma once
#include <cstdint>
struct BaseTlv { unsigned short type; unsigned short len; };
struct FunMetaKType { BaseTlv head; unsigned int ktype; };
struct FunMetaMixCoreType { BaseTlv head; unsigned short taskRation0; unsigned short taskRation1; };
struct FunLevelKType { struct FunMetaKType ktypeMeta; };
struct FunLevelMixCoreType { struct FunMetaKType ktypeMeta; struct FunMetaMixCoreType mixCoreType; };
enum { F_TYPE_KTYPE = 1, F_TYPE_MIX_TASK_RATION = 3 };
enum { K_TYPE_AIC = 2, K_TYPE_AIV = 3, K_TYPE_MIX_AIC_MAIN = 4 };
inline void icache_preload(int) {}
inline void set_ffts_base_addr(uint64_t) {}
";

/// Compiles `source` with the host g++ against the emulator's Ascend C headers and
/// [`CANN_DECLARATIONS`] with `defines`; returns the object's global text symbols and the bytes of
/// its `.ascend.meta.*` sections, by section name.
fn host_object(
    dir: &Path,
    tag: &str,
    source: &str,
    defines: &[&str],
) -> (Vec<String>, Vec<(String, Vec<u8>)>) {
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/emulator/include");
    let decls = dir.join("cann_decls.h");
    std::fs::write(&decls, CANN_DECLARATIONS).unwrap();
    let cpp = dir.join(format!("{tag}.cpp"));
    std::fs::write(&cpp, source).unwrap();
    let object = dir.join(format!("{tag}.o"));
    let output = std::process::Command::new("g++")
        .args(["-std=c++17", "-O0", "-c", "-I"])
        .arg(&include)
        .arg("-include")
        .arg(&decls)
        .args(defines)
        .arg(&cpp)
        .arg("-o")
        .arg(&object)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{tag}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let nm = std::process::Command::new("nm")
        .args(["--defined-only", "-g"])
        .arg(&object)
        .output()
        .unwrap();
    let globals: Vec<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() == 3 && fields[1] == "T").then(|| fields[2].to_string())
        })
        .collect();
    let readelf = std::process::Command::new("readelf")
        .args(["-S", "-W"])
        .arg(&object)
        .output()
        .unwrap();
    let mut sections = Vec::new();
    for name in String::from_utf8_lossy(&readelf.stdout)
        .split_whitespace()
        .filter(|w| w.starts_with(".ascend.meta."))
    {
        let dump = dir.join(format!("{tag}{name}.bin"));
        let status = std::process::Command::new("objcopy")
            .arg(format!("--dump-section={name}={}", dump.display()))
            .arg(&object)
            .arg(dir.join(format!("{tag}.copy.o")))
            .status()
            .unwrap();
        assert!(status.success());
        sections.push((name.to_string(), std::fs::read(&dump).unwrap()));
    }
    (globals, sections)
}

/// The device sources of real example kernels (AIV, AIC and MIX) compile, and each pass defines
/// exactly one global function, the entry the runtime looks up, with the meta record CANN's loader
/// reads (kernel type; for MIX the 1:2 ratio, the cube record only in the cube pass and the vector
/// one only in the vector pass). Any other global function would make the runtime drop MIX support
/// for the binary. Host g++ stands in for bisheng here: it checks the source and the records' bytes,
/// not the device code.
#[test]
fn device_sources_of_the_examples_compile_with_one_entry_and_its_meta_record() {
    use moge_runtime::acl::compile::{device_source, parse_entry};
    use moge_runtime::backend::KernelSource;
    // A scratch directory that goes away with the fake tree.
    let fake = FakeCann::new("8.5.0", &[]).unwrap();
    let dir = fake.scratch("objects");
    std::fs::create_dir_all(&dir).unwrap();
    // One of each core type: the gate (AIV), gemm (AIC), the router (MIX).
    let cases = EXAMPLES
        .iter()
        .filter(|case| ["moge_gate", "gemm", "moge_router"].contains(&case.1));
    let header = |ktype: u8| vec![1, 0, 4, 0, ktype, 0, 0, 0];
    let mix = {
        let mut bytes = header(4);
        bytes.extend([3, 0, 4, 0, 1, 0, 2, 0]);
        bytes
    };
    for &(file, name, set, _) in cases {
        let program = program(&example_kernel(file, name, set));
        let entry = &program.manifest.kernels[0];
        let kernel = KernelSource {
            name: &entry.name,
            source: &program.kernels[0].source,
            core_type: entry.core_type,
            target: "ascend910b2",
        };
        let source = device_source(&kernel, &parse_entry(&kernel).unwrap());
        let symbol = entry.name.clone();
        let passes: Vec<(Vec<String>, String, Vec<u8>)> = match entry.core_type {
            moge_codegen_ascendc::manifest::CoreType::Aiv => {
                vec![(vec![], symbol.clone(), header(3))]
            }
            moge_codegen_ascendc::manifest::CoreType::Aic => {
                vec![(vec![], symbol.clone(), header(2))]
            }
            moge_codegen_ascendc::manifest::CoreType::MixAic1_2 => ["aic", "aiv"]
                .iter()
                .map(|side| {
                    let arch = if *side == "aic" { "CUBE" } else { "VEC" };
                    (
                        vec![
                            format!("-D__DAV_C220_{arch}__"),
                            format!("-DMOGE_ACL_ENTRY={symbol}_mix_{side}"),
                        ],
                        format!("{symbol}_mix_{side}"),
                        mix.clone(),
                    )
                })
                .collect(),
        };
        for (defines, expected_symbol, record) in passes {
            let defines: Vec<&str> = defines.iter().map(String::as_str).collect();
            let (globals, sections) = host_object(&dir, &expected_symbol, &source, &defines);
            assert_eq!(globals, std::slice::from_ref(&expected_symbol), "{name}");
            assert_eq!(
                sections,
                [(format!(".ascend.meta.{expected_symbol}"), record)],
                "{name}"
            );
        }
    }
}

/// `mogec run` of the example gate (E = 16, G = 2, T = 3) on the ACL backend of `fake`, into `out`,
/// with `env` set too (the fake's root as `ASCEND_HOME_PATH`).
fn run_gate_on_acl(fake: &FakeCann, out: &Path, env: &[(&str, &Path)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mogec"));
    command
        .args([
            "run",
            "examples/src/gate.rs",
            "--set",
            "E=16,G=2",
            "--random",
            "1",
        ])
        .args(["--dim", "T=3", "--backend", "acl", "-o"])
        .arg(out)
        .env("ASCEND_HOME_PATH", fake.root())
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

#[test]
fn mogec_run_on_the_acl_backend_writes_the_report_with_device_time() {
    let fake = FakeCann::new("8.5.0", &["Ascend910B2"]).unwrap();
    fake.library(&[], true).unwrap();
    let out = fake.scratch("out");
    let cache = fake.scratch("cache");
    let output = run_gate_on_acl(&fake, &out, &[("MOGE_CACHE_DIR", &cache)]);
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
fn mogec_run_reports_a_kernel_that_faults_on_the_npu_by_name() {
    let fake = FakeCann::new("8.5.0", &["Ascend910B2"]).unwrap();
    fake.library(&["FAKE_FAULT"], true).unwrap();
    let out = fake.scratch("out");
    let cache = fake.scratch("cache");
    let output = run_gate_on_acl(&fake, &out, &[("MOGE_CACHE_DIR", &cache)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "error: kernel `moge_gate_k0` failed on the NPU (acl): kernel `moge_gate_k0` faulted on the NPU: \
         aclrtSynchronizeStreamWithTimeout returned ACL error 507035 (vector core exception (the kernel \
         faulted)); exception info: device 0, stream 7, task 42, error code 507035; ACL says: fake: aivec \
         error at pc 0x1234\n"
    );
    assert!(!out.exists(), "nothing is written when a run fails");
}

#[test]
fn mogec_run_on_the_acl_backend_refuses_another_cann_version() {
    let fake = FakeCann::new("8.2.RC1", &["Ascend910B2"]).unwrap();
    let out = fake.scratch("out");
    let output = run_gate_on_acl(&fake, &out, &[]);
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

    // MOGE_CANN_VERSION_CHECK=off accepts it (the run goes on to the fake, which computes nothing:
    // exit 1 with the report); another value is a usage error naming the variable.
    fake.library(&[], true).unwrap();
    for (value, code) in [("off", 1), ("maybe", 2)] {
        let cache = fake.scratch("cache");
        let output = run_gate_on_acl(
            &fake,
            &out,
            &[
                ("MOGE_CACHE_DIR", &cache),
                ("MOGE_CANN_VERSION_CHECK", Path::new(value)),
            ],
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{value}: {stderr}");
        if code == 2 {
            assert!(stderr.contains("MOGE_CANN_VERSION_CHECK"), "{stderr}");
            assert!(
                stderr.contains("expected `on` (the default) or `off`"),
                "{stderr}"
            );
        } else {
            assert!(out.join("report.json").is_file());
        }
    }
}

#[test]
fn mogec_run_reports_setup_errors_of_the_acl_backend_with_the_usage_status() {
    // A CANN without its linker: named with where it was looked for, before anything runs.
    let fake = FakeCann::new("8.5.0", &["Ascend910B2"]).unwrap();
    fake.library(&[], true).unwrap();
    let devkit = fake
        .root()
        .join(format!("{}-linux", std::env::consts::ARCH));
    std::fs::remove_file(devkit.join("ccec_compiler/bin/ld.lld")).unwrap();
    let out = fake.scratch("out");
    let cache = fake.scratch("cache");
    let output = run_gate_on_acl(&fake, &out, &[("MOGE_CACHE_DIR", &cache)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: CANN at `{}` has no `ld.lld` (looked in {}/ccec_compiler/bin)\n",
            fake.root().display(),
            devkit.display()
        )
    );

    // A target the installed CANN does not know (no Ascend910B2.ini): met at the first compile.
    let fake = FakeCann::new("8.5.0", &["Ascend910B1"]).unwrap();
    fake.library(&[], true).unwrap();
    let output = run_gate_on_acl(&fake, &out, &[("MOGE_CACHE_DIR", &cache)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("target `ascend910b2` is not known to the CANN at")
            && stderr.contains("no Ascend910B2.ini in")
            && stderr.contains("it knows Ascend910B1"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn mogec_run_reports_a_device_out_of_memory_naming_the_buffer() {
    let fake = FakeCann::new("8.5.0", &["Ascend910B2"]).unwrap();
    fake.library(&["FAKE_MEM_LIMIT=16"], true).unwrap();
    let out = fake.scratch("out");
    let cache = fake.scratch("cache");
    let output = run_gate_on_acl(&fake, &out, &[("MOGE_CACHE_DIR", &cache)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: kernel `moge_gate_k0` failed on the NPU (acl): device out of memory: aclrtMalloc of ")
            && stderr.contains("failed with ACL error 207001 (runtime: device memory allocation failed (out of memory)); ACL says: fake: device memory exhausted"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn mogec_run_stops_waiting_for_a_synchronisation_that_never_returns() {
    let fake = FakeCann::new("8.5.0", &["Ascend910B2"]).unwrap();
    fake.library(&["FAKE_BLOCK"], true).unwrap();
    let out = fake.scratch("out");
    let cache = fake.scratch("cache");
    let started = std::time::Instant::now();
    let output = run_gate_on_acl(
        &fake,
        &out,
        &[
            ("MOGE_CACHE_DIR", &cache),
            ("MOGE_NPU_TIMEOUT_SECS", Path::new("1")),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        "error: kernel `moge_gate_k0` failed on the NPU (acl): kernel `moge_gate_k0` did not finish on the \
         NPU: aclrtSynchronizeStreamWithTimeout (limit 1 s, MOGE_NPU_TIMEOUT_SECS) had not returned after \
         2 s, so moge stopped waiting (the device may still be running it)\n"
    );
    // The fake never returns: that mogec exited at all is the check; the bound catches a watchdog
    // far beyond its limit.
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
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
