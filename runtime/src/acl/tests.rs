//! The ACL backend without a device: command lines, the fake CANN tree, argument packing through a
//! fake libascendcl, and the errors of a CANN that is absent, another version, missing a function,
//! without devices, out of memory, or running a kernel that faults or hangs.

use std::path::{Path, PathBuf};

use moge_codegen_ascendc::manifest::CoreType;

use super::compile::{build_steps, device_source, parse_entry};
use super::fake::FakeCann;
use super::find::Cann;
use super::{AclBackend, AclError};
use crate::backend::{Backend, BackendError, DeviceArg, DeviceLaunch, KernelSource};

/// A kernel source shaped as moge's printer writes it.
fn source(name: &str, task: &str, extra: &str) -> String {
    format!(
        "#include \"kernel_operator.h\"\n{extra}\nextern \"C\" __global__ __aicore__ void {name}(GM_ADDR x, GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling)\n{{\n    KERNEL_TASK_TYPE_DEFAULT({task});\n}}\n"
    )
}

fn kernel<'a>(name: &'a str, source: &'a str, core_type: CoreType) -> KernelSource<'a> {
    KernelSource {
        name,
        source,
        core_type,
        target: "ascend910b2",
    }
}

fn fake() -> (FakeCann, Cann) {
    let fake = FakeCann::new("8.5.0", &["Ascend910B1", "Ascend910B2"]).unwrap();
    let cann = Cann::open_checked(&fake.root(), true).unwrap();
    (fake, cann)
}

#[test]
fn compile_command_lines_for_aiv_aic_and_mix() {
    let (_fake, cann) = fake();
    let work = Path::new("/WORK");
    let mut text = String::new();
    for (name, core, task) in [
        ("k_aiv", CoreType::Aiv, "KERNEL_TYPE_AIV_ONLY"),
        ("k_aic", CoreType::Aic, "KERNEL_TYPE_AIC_ONLY"),
        ("k_mix", CoreType::MixAic1_2, "KERNEL_TYPE_MIX_AIC_1_2"),
    ] {
        let src = source(name, task, "");
        let entry = parse_entry(&kernel(name, &src, core)).unwrap();
        text.push_str(&format!("# {name} ({core:?})\n"));
        for step in build_steps(&cann, "dav-c220", core, &entry, work, &work.join("out.o")) {
            text.push_str(&step.display(&[
                (work, "<WORK>"),
                (&cann.devkit, "<D>"),
                (&cann.root, "<CANN>"),
            ]));
            text.push('\n');
        }
    }
    insta::assert_snapshot!("acl_compile_commands", text);
}

#[test]
fn device_sources_carry_the_kernel_abi_and_meta_records() {
    let mut text = String::new();
    for (name, core, task) in [
        ("k_aiv", CoreType::Aiv, "KERNEL_TYPE_AIV_ONLY"),
        ("k_mix", CoreType::MixAic1_2, "KERNEL_TYPE_MIX_AIC_1_2"),
    ] {
        let src = source(name, task, "");
        let k = kernel(name, &src, core);
        let entry = parse_entry(&k).unwrap();
        assert_eq!(entry.params, ["x", "y", "workspace", "tiling"]);
        text.push_str(&format!("// ==== {name} ({core:?})\n"));
        text.push_str(&device_source(&k, &entry));
    }
    insta::assert_snapshot!("acl_device_sources", text);
}

#[test]
fn entry_points_that_are_not_the_printers_are_refused() {
    let bad = "extern \"C\" __global__ __aicore__ void k(GM_ADDR x, uint32_t n, GM_ADDR workspace, GM_ADDR tiling) {}";
    let message = parse_entry(&kernel("k", bad, CoreType::Aiv))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "kernel `k` cannot be built for the NPU: parameter 1 of the entry point is `uint32_t n`, expected `GM_ADDR <name>`"
    );
    let message = parse_entry(&kernel("other", bad, CoreType::Aiv))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "kernel `other` cannot be built for the NPU: its source has no entry point `extern \"C\" __global__ __aicore__ void other(...)`"
    );
}

#[test]
fn kernels_with_all_core_synchronisation_are_refused() {
    let src = source("k", "KERNEL_TYPE_AIV_ONLY", "").replace(
        "KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);",
        "KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);\n    AscendC::SyncAll<true>();",
    );
    let message = parse_entry(&kernel("k", &src, CoreType::Aiv))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "kernel `k` cannot be built for the NPU: it uses AscendC::SyncAll, which on the NPU needs CANN's \
         system workspace and the batch scheduling mode; the ACL backend does not set them up yet (run it \
         on the emulator)"
    );
}

#[test]
fn the_fake_tree_compiles_end_to_end_and_the_cache_skips_bisheng() {
    let (fake, cann) = fake();
    let cache = fake.scratch("cache");
    let mix = source("k_mix", "KERNEL_TYPE_MIX_AIC_1_2", "");
    let backend = AclBackend::with_cann(cann.clone()).with_cache_dir(cache.clone());
    backend
        .prepare(&kernel("k_mix", &mix, CoreType::MixAic1_2))
        .unwrap();
    let log = fake.tool_log();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 3, "{log}");
    assert!(
        lines[0].starts_with("bisheng ") && lines[0].contains("--cce-aicore-arch=dav-c220-cube")
    );
    assert!(lines[0].contains("-DMOGE_ACL_ENTRY=k_mix_mix_aic"));
    assert!(
        lines[1].starts_with("bisheng ") && lines[1].contains("--cce-aicore-arch=dav-c220-vec")
    );
    assert!(lines[2].starts_with("ld.lld -m aicorelinux -Ttext=0 "));
    let aic = lines[2].find("k_mix.aic.o").unwrap();
    let aiv = lines[2].find("k_mix.aiv.o").unwrap();
    assert!(aic < aiv, "the cube object is linked first: {}", lines[2]);
    // The ELF is the linker's output, in the cache, and nothing else is left there.
    let binary = backend
        .compile(&kernel("k_mix", &mix, CoreType::MixAic1_2))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&binary.path).unwrap(),
        "\u{7f}ELF placeholder ld.lld output\n"
    );
    assert_eq!(binary.path.parent().unwrap(), cache);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);

    // A new backend (no memory of the first) finds the binary in the cache: no tool runs.
    let again = AclBackend::with_cann(cann.clone()).with_cache_dir(cache.clone());
    again
        .prepare(&kernel("k_mix", &mix, CoreType::MixAic1_2))
        .unwrap();
    assert_eq!(fake.tool_log().lines().count(), 3);
    // An entry that is not an ELF (emptied by a full disk, say) is not trusted: it is rebuilt.
    std::fs::write(&binary.path, b"").unwrap();
    AclBackend::with_cann(cann.clone())
        .with_cache_dir(cache.clone())
        .prepare(&kernel("k_mix", &mix, CoreType::MixAic1_2))
        .unwrap();
    assert_eq!(fake.tool_log().lines().count(), 6);
    assert!(std::fs::read(&binary.path).unwrap().starts_with(b"\x7fELF"));
    // Another source is another binary: one bisheng and one ld.lld for an AIV kernel.
    let aiv = source("k_aiv", "KERNEL_TYPE_AIV_ONLY", "// changed");
    again
        .prepare(&kernel("k_aiv", &aiv, CoreType::Aiv))
        .unwrap();
    assert_eq!(fake.tool_log().lines().count(), 8);
}

#[test]
fn a_failing_device_compile_names_the_kernel_and_the_tool() {
    let (fake, cann) = fake();
    let bad = source("k", "KERNEL_TYPE_AIV_ONLY", "// MOGE_FAKE_COMPILE_ERROR");
    let backend = AclBackend::with_cann(cann).with_cache_dir(fake.scratch("cache"));
    let error = backend
        .compile(&kernel("k", &bad, CoreType::Aiv))
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, AclError::Compile { .. }), "{message}");
    assert!(
        message.starts_with("compiling kernel `k` for the NPU: `"),
        "{message}"
    );
    assert!(
        message.contains("<WORK>/k_dev.cpp:1:1: error: fake compile error"),
        "{message}"
    );
    // Nothing half-built stays in the cache.
    assert_eq!(std::fs::read_dir(fake.scratch("cache")).unwrap().count(), 0);
}

#[test]
fn targets_the_install_or_moge_does_not_know_are_refused() {
    let (fake, cann) = fake();
    let src = source("k", "KERNEL_TYPE_AIV_ONLY", "");
    let backend = AclBackend::with_cann(cann.clone()).with_cache_dir(fake.scratch("cache"));
    let mut k = kernel("k", &src, CoreType::Aiv);
    k.target = "ascend910b3";
    let message = backend.compile(&k).unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "target `ascend910b3` is not known to the CANN at `{}` (no Ascend910B3.ini in {}/compiler/data/platform_config; it knows Ascend910B1, Ascend910B2)",
            cann.root.display(),
            cann.root.display()
        )
    );
    // A directory named like a platform file is neither the SoC's file nor a SoC the install knows.
    let platform = cann.root.join("compiler/data/platform_config");
    std::fs::create_dir_all(platform.join("Ascend910B3.ini")).unwrap();
    let message = backend.compile(&k).unwrap_err().to_string();
    assert!(
        message.ends_with("it knows Ascend910B1, Ascend910B2)"),
        "{message}"
    );
    std::fs::remove_dir(platform.join("Ascend910B3.ini")).unwrap();
    k.target = "ascend310p";
    assert_eq!(
        backend.compile(&k).unwrap_err().to_string(),
        "target `ascend310p` is not known to moge's ACL backend (it builds for ascend910b1, ascend910b2, ascend910b3 and ascend910b4)"
    );
    assert_eq!(fake.tool_log(), "", "nothing was compiled");
}

#[test]
fn another_cann_version_is_refused_with_both_versions() {
    let fake = FakeCann::new("8.3.RC1", &["Ascend910B2"]).unwrap();
    let message = Cann::open_checked(&fake.root(), true)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!(
            "CANN 8.3.RC1 found at `{}` (from share/info/runtime/version.info), but moge's device build follows CANN 8.5; \
             install CANN 8.5, or set MOGE_CANN_VERSION_CHECK=off to try this one with CANN 8.5's flags",
            fake.root().display()
        )
    );
    let cann = Cann::open_checked(&fake.root(), false).unwrap();
    assert_eq!(cann.version.as_deref(), Some("8.3.RC1"));
    std::fs::remove_file(fake.root().join("share/info/runtime/version.info")).unwrap();
    let message = Cann::open_checked(&fake.root(), true)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(
            "has no version file (looked for share/info/runtime/version.info, runtime/version.info"
        ),
        "{message}"
    );
}

/// The fake library's test hooks, read through a second handle on the same file (same globals).
struct Hooks {
    library: libloading::Library,
}

impl Hooks {
    fn open(path: &Path) -> Hooks {
        // SAFETY: the fake library was built from fake_acl.c by this test.
        Hooks {
            library: unsafe { libloading::Library::new(path) }.unwrap(),
        }
    }

    fn values(&self, name: &[u8]) -> Vec<u64> {
        // SAFETY: signature as in fake_acl.c.
        unsafe {
            let get: libloading::Symbol<'_, unsafe extern "C" fn(*mut u64, usize) -> usize> =
                self.library.get(name).unwrap();
            let mut out = vec![0u64; 64];
            let n = get(out.as_mut_ptr(), out.len());
            out.truncate(n);
            out
        }
    }

    fn log(&self) -> String {
        // SAFETY: signature as in fake_acl.c.
        unsafe {
            let get: libloading::Symbol<'_, unsafe extern "C" fn() -> *const std::ffi::c_char> =
                self.library.get(b"fake_acl_log").unwrap();
            std::ffi::CStr::from_ptr(get())
                .to_string_lossy()
                .into_owned()
        }
    }

    fn number(&self, name: &[u8]) -> i64 {
        // SAFETY: signature as in fake_acl.c (both hooks return a value that fits i64).
        unsafe {
            let get: libloading::Symbol<'_, unsafe extern "C" fn() -> i64> =
                self.library.get(name).unwrap();
            get()
        }
    }
}

fn backend_with(fake: &FakeCann, cann: &Cann, defines: &[&str]) -> (AclBackend, PathBuf) {
    let library = fake.library(defines, false).unwrap();
    let backend = AclBackend::with_cann(cann.clone())
        .with_cache_dir(fake.scratch("cache"))
        .with_library(library.clone());
    (backend, library)
}

fn launch<'a>(
    k: KernelSource<'a>,
    x: Vec<u8>,
    y: Vec<u8>,
    workspace: u64,
    tiling: Vec<u8>,
) -> DeviceLaunch<'a> {
    DeviceLaunch {
        kernel: k,
        block_dim: 3,
        args: vec![
            DeviceArg {
                name: "x".into(),
                bytes: x,
                is_output: false,
            },
            DeviceArg {
                name: "y".into(),
                bytes: y,
                is_output: true,
            },
        ],
        workspace_bytes: workspace,
        tiling,
    }
}

#[test]
fn a_launch_packs_pointers_workspace_and_tiling_as_the_kernel_declares_them() {
    let (fake, cann) = fake();
    let (backend, library) = backend_with(&fake, &cann, &["FAKE_WRITE_ARG=1"]);
    let hooks = Hooks::open(&library);
    for (name, core, task) in [
        ("k_aiv", CoreType::Aiv, "KERNEL_TYPE_AIV_ONLY"),
        ("k_mix", CoreType::MixAic1_2, "KERNEL_TYPE_MIX_AIC_1_2"),
    ] {
        let src = source(name, task, "");
        let x: Vec<u8> = (1..=16).collect();
        let tiling: Vec<u8> = (0x11..=0x18).collect();
        let run = backend
            .launch(launch(
                kernel(name, &src, core),
                x.clone(),
                vec![0xFF; 16],
                64,
                tiling.clone(),
            ))
            .unwrap();
        // The four parameters of the kernel, in its order; the runtime adds ffts and overflow itself.
        let args = hooks.values(b"fake_acl_args");
        assert_eq!(args.len(), 4, "{name}: {args:x?}");
        assert!(args.iter().all(|&a| a != 0), "{name}: {args:x?}");
        let heads = hooks.values(b"fake_acl_heads");
        assert_eq!(
            heads[0],
            u64::from_le_bytes(x[..8].try_into().unwrap()),
            "x first"
        );
        assert_eq!(heads[1], u64::MAX, "then y, as filled by the launch");
        assert_eq!(heads[2], 0, "then the zeroed workspace");
        assert_eq!(
            heads[3],
            u64::from_le_bytes(tiling[..8].try_into().unwrap()),
            "then the tiling blob"
        );
        assert_eq!(hooks.number(b"fake_acl_block_dim"), 3);
        // The output comes back with what the "kernel" wrote; the input is untouched.
        assert_eq!(run.args[1].bytes[..4], [0x5A; 4]);
        assert_eq!(run.args[1].bytes[4..], [0xFF; 12]);
        assert_eq!(run.args[0].bytes, x);
        assert_eq!(
            run.wall,
            std::time::Duration::from_micros(500),
            "the events' time"
        );
        assert_eq!(
            hooks.number(b"fake_acl_live"),
            0,
            "every device buffer is freed"
        );
        assert!(hooks
            .log()
            .contains(&format!("aclrtBinaryGetFunction {name}\n")));
    }
    let log = hooks.log();
    let order = [
        "aclInit",
        "aclrtGetDeviceCount",
        "aclrtSetDevice",
        "aclrtCreateStream",
        "aclrtBinaryLoadFromFile",
        "aclrtBinaryGetFunction k_aiv",
        "aclrtKernelArgsInit",
        "aclrtKernelArgsFinalize",
        "aclrtRecordEvent",
        "aclrtLaunchKernelWithConfig",
        "aclrtRecordEvent",
        "aclrtSynchronizeStreamWithTimeout",
        "aclrtMemcpy D2H",
    ];
    let mut at = 0;
    for call in order {
        let found = log[at..]
            .find(&format!("{call}\n"))
            .unwrap_or_else(|| panic!("{call} after {at} in\n{log}"));
        at += found + call.len();
    }
    // A second launch of a loaded kernel does not load it again.
    let src = source("k_aiv", "KERNEL_TYPE_AIV_ONLY", "");
    backend
        .launch(launch(
            kernel("k_aiv", &src, CoreType::Aiv),
            vec![0; 16],
            vec![0; 16],
            0,
            vec![1; 8],
        ))
        .unwrap();
    assert_eq!(
        hooks
            .log()
            .matches("aclrtBinaryGetFunction k_aiv\n")
            .count(),
        1
    );
    assert_eq!(
        hooks.values(b"fake_acl_args")[2],
        0,
        "an empty workspace is a null pointer"
    );
}

#[test]
fn a_library_without_a_function_is_named() {
    let (fake, cann) = fake();
    let (backend, library) = backend_with(&fake, &cann, &["FAKE_OMIT_LAUNCH"]);
    let message = backend.session().err().unwrap().to_string();
    assert_eq!(
        message,
        format!(
            "the ACL library `{}` has no function `aclrtLaunchKernelWithConfig` (moge needs CANN 8.5's ACL runtime API)",
            library.display()
        )
    );
}

#[test]
fn no_devices_is_a_clear_error() {
    let (fake, cann) = fake();
    let (backend, library) = backend_with(&fake, &cann, &["FAKE_DEVICE_COUNT=0"]);
    let message = backend.session().err().unwrap().to_string();
    assert_eq!(
        message,
        format!(
            "no NPU: ACL reports 0 devices (library `{}`); check the driver with `npu-smi info`",
            library.display()
        )
    );
}

#[test]
fn detect_finds_the_installed_library_or_says_it_is_missing() {
    let (fake, _) = fake();
    let message = AclBackend::detect_in(Some(fake.root().into()), &[])
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("cannot load the ACL library `"),
        "{message}"
    );
    assert!(
        message.contains(&format!("{}/lib64/libascendcl.so", fake.root().display())),
        "{message}"
    );
    fake.library(&[], true).unwrap();
    let backend = AclBackend::detect_in(Some(fake.root().into()), &[]).unwrap();
    assert_eq!(
        backend.session().unwrap().soc.as_deref(),
        Some("Ascend910B2")
    );
}

#[test]
fn device_out_of_memory_names_the_buffer_and_frees_the_rest() {
    let (fake, cann) = fake();
    let (backend, library) = backend_with(&fake, &cann, &["FAKE_MEM_LIMIT=64"]);
    let src = source("k", "KERNEL_TYPE_AIV_ONLY", "");
    let error = backend
        .launch(launch(
            kernel("k", &src, CoreType::Aiv),
            vec![0; 16],
            vec![0; 128],
            0,
            vec![1; 8],
        ))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "device out of memory: aclrtMalloc of 128 bytes for `y` of kernel `k` failed with ACL error 207001 \
         (runtime: device memory allocation failed (out of memory)); ACL says: fake: device memory exhausted"
    );
    assert_eq!(Hooks::open(&library).number(b"fake_acl_live"), 0);
}

#[test]
fn a_faulting_kernel_reports_the_exception_info_with_its_name() {
    let (fake, cann) = fake();
    let (backend, _) = backend_with(&fake, &cann, &["FAKE_FAULT"]);
    let src = source("k_fault", "KERNEL_TYPE_AIV_ONLY", "");
    let error = backend
        .launch(launch(
            kernel("k_fault", &src, CoreType::Aiv),
            vec![0; 16],
            vec![0; 16],
            0,
            vec![1; 8],
        ))
        .unwrap_err();
    assert!(matches!(&error, BackendError::Acl(e) if matches!(**e, AclError::KernelFault { .. })));
    assert_eq!(
        error.to_string(),
        "kernel `k_fault` faulted on the NPU: aclrtSynchronizeStreamWithTimeout returned ACL error 507035 \
         (vector core exception (the kernel faulted)); exception info: device 0, stream 7, task 42, error code 507035; \
         ACL says: fake: aivec error at pc 0x1234"
    );
}

#[test]
fn a_kernel_that_never_finishes_is_a_timeout_not_a_hang() {
    let (fake, cann) = fake();
    let (backend, _) = backend_with(&fake, &cann, &["FAKE_HANG"]);
    let src = source("k", "KERNEL_TYPE_AIV_ONLY", "");
    let error = backend
        .launch(launch(
            kernel("k", &src, CoreType::Aiv),
            vec![0; 16],
            vec![0; 16],
            0,
            vec![1; 8],
        ))
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("kernel `k` did not finish on the NPU within "),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("ACL error 507046 (stream synchronisation timed out)"),
        "{error}"
    );
}

#[test]
fn a_device_of_another_soc_than_the_target_is_refused() {
    let (fake, cann) = fake();
    let (backend, _) = backend_with(&fake, &cann, &[]);
    let src = source("k", "KERNEL_TYPE_AIV_ONLY", "");
    let mut k = kernel("k", &src, CoreType::Aiv);
    k.target = "ascend910b1";
    let error = backend
        .launch(launch(k, vec![0; 16], vec![0; 16], 0, vec![1; 8]))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the NPU is `Ascend910B2`, but the kernels were built for target `ascend910b1`; pass the device's target (`--target ascend910b2`)"
    );
    // A SoC moge does not build for is said to be one, not turned into a target that does not exist.
    let (backend, _) = backend_with(&fake, &cann, &["FAKE_SOC_NAME=\"Ascend910B2C \""]);
    let mut k = kernel("k", &src, CoreType::Aiv);
    k.target = "ascend910b2";
    let error = backend
        .launch(launch(k, vec![0; 16], vec![0; 16], 0, vec![1; 8]))
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the NPU is `Ascend910B2C`, but the kernels were built for target `ascend910b2`; moge builds for \
         ascend910b1, ascend910b2, ascend910b3, ascend910b4 only, and none of them is this SoC"
    );
}

#[test]
fn a_synchronisation_that_never_returns_is_stopped_by_moges_watchdog() {
    let (fake, cann) = fake();
    let (backend, _) = backend_with(&fake, &cann, &["FAKE_BLOCK"]);
    let backend = backend.with_timeout(std::time::Duration::from_millis(200));
    let src = source("k_block", "KERNEL_TYPE_AIV_ONLY", "");
    let started = std::time::Instant::now();
    let error = backend
        .launch(launch(
            kernel("k_block", &src, CoreType::Aiv),
            vec![0; 16],
            vec![0; 16],
            0,
            vec![1; 8],
        ))
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(&error, BackendError::Acl(e) if matches!(**e, AclError::Hung { .. })));
    assert_eq!(
        error.to_string(),
        "kernel `k_block` did not finish on the NPU: aclrtSynchronizeStreamWithTimeout (limit 200 ms, \
         MOGE_NPU_TIMEOUT_SECS) had not returned after 1200 ms, so moge stopped waiting (the device \
         may still be running it)"
    );
    // The fake blocks forever: returning at all is the point; the bound only catches a watchdog
    // that waits far longer than its limit.
    assert!(
        waited >= std::time::Duration::from_millis(1200),
        "{waited:?}"
    );
    assert!(waited < std::time::Duration::from_secs(60), "{waited:?}");
}

#[test]
fn a_version_file_without_a_version_is_reported_as_unparsable() {
    let fake = FakeCann::new("8.5.0", &["Ascend910B2"]).unwrap();
    let file = fake.root().join("share/info/runtime/version.info");
    std::fs::write(&file, "this is not a version file\n").unwrap();
    let error = Cann::open_checked(&fake.root(), true).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot parse CANN's version file `{}`: it has no `Version=` line; \
             set MOGE_CANN_VERSION_CHECK=off to use this CANN anyway",
            file.display()
        )
    );
    // Unchecked, the install is usable without a version.
    assert_eq!(
        Cann::open_checked(&fake.root(), false).unwrap().version,
        None
    );
}

#[test]
fn a_missing_linker_is_a_setup_error_naming_where_it_was_looked_for() {
    let (fake, cann) = fake();
    std::fs::remove_file(cann.ld_lld()).unwrap();
    let error = Cann::open_checked(&fake.root(), true).unwrap_err();
    assert!(matches!(error, AclError::NoTool { tool: "ld.lld", .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "CANN at `{}` has no `ld.lld` (looked in {}/ccec_compiler/bin)",
            fake.root().display(),
            cann.devkit.display()
        )
    );
}

#[test]
fn every_library_path_tried_is_named_with_why_it_failed() {
    let (fake, _cann) = fake();
    let missing = fake.scratch("no-such-dir/libascendcl.so");
    let bad = fake.scratch("libascendcl-notelf.so");
    std::fs::write(&bad, vec![b'x'; 4096]).unwrap();
    let error = super::api::Session::for_candidates(&[missing.clone(), bad.clone()])
        .err()
        .unwrap();
    let text = error.to_string();
    // The missing path is not handed to the loader, but the user must still see it was looked at.
    assert!(
        text.contains(&format!("{}: does not exist; ", missing.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!("{0}: dlopen failed: {0}: ", bad.display())),
        "{text}"
    );
}

#[test]
fn a_library_that_is_not_a_shared_object_is_reported_with_the_loaders_message() {
    let (fake, _cann) = fake();
    let bad = fake.scratch("libascendcl-bad.so");
    std::fs::write(&bad, vec![b'x'; 4096]).unwrap();
    let error = super::api::Session::for_candidates(std::slice::from_ref(&bad))
        .err()
        .unwrap();
    let text = error.to_string();
    // libloading alone says only "dlopen failed"; dlerror() names the file and what is wrong.
    assert!(
        text.starts_with(&format!(
            "cannot load the ACL library `{0}`: {0}: dlopen failed: {0}: ",
            bad.display()
        )),
        "{text}"
    );
    assert!(text.contains("ELF"), "{text}");
}

/// Asserts what `mogec` prints for `error` met at the launch of kernel `k`: it starts with `start`.
fn assert_launch_message(error: AclError, start: &str) {
    let launch = crate::launch::LaunchError::Backend {
        kernel: "k".into(),
        backend: "acl",
        source: BackendError::Acl(Box::new(error)),
    };
    assert!(launch.to_string().starts_with(start), "{launch}");
}

#[test]
fn an_unrunnable_tool_and_an_unusable_cache_are_setup_errors() {
    use std::os::unix::fs::PermissionsExt;
    let aiv = source("k", "KERNEL_TYPE_AIV_ONLY", "");
    // A bisheng that is not executable: CANN's install is broken, the kernel is not at fault.
    let (fake_a, cann) = fake();
    std::fs::set_permissions(cann.bisheng(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = AclBackend::with_cann(cann.clone())
        .with_cache_dir(fake_a.scratch("cache"))
        .compile(&kernel("k", &aiv, CoreType::Aiv))
        .unwrap_err();
    assert!(matches!(error, AclError::ToolNotRunnable { .. }), "{error}");
    assert!(error.is_setup());
    let message = error.to_string();
    assert!(message.contains("bisheng` cannot be run"), "{message}");
    assert!(message.contains("Permission denied"), "{message}");
    // A cache directory that is a file.
    let (fake_b, cann) = fake();
    let file = fake_b.scratch("not_a_dir");
    std::fs::write(&file, b"x").unwrap();
    let error = AclBackend::with_cann(cann)
        .with_cache_dir(file.join("acl"))
        .compile(&kernel("k", &aiv, CoreType::Aiv))
        .unwrap_err();
    assert!(matches!(error, AclError::CacheDir { .. }), "{error}");
    assert!(error.is_setup());
    assert!(error.to_string().contains("MOGE_CACHE_DIR"), "{error}");
    // Through the launch error, a setup error does not say the kernel failed.
    assert_launch_message(error, "kernel `k` cannot run on the NPU (acl): ");
    // Nor does a failed device build: the kernel never reached the device.
    let (fake_c, cann) = fake();
    let bad = source("k", "KERNEL_TYPE_AIV_ONLY", "// MOGE_FAKE_COMPILE_ERROR");
    let error = AclBackend::with_cann(cann)
        .with_cache_dir(fake_c.scratch("cache"))
        .compile(&kernel("k", &bad, CoreType::Aiv))
        .unwrap_err();
    assert_launch_message(error, "kernel `k` cannot run on the NPU (acl): compiling");
}

#[test]
fn a_relative_cann_root_still_finds_its_tools() {
    // The tools run in a work directory of their own, so the root is made absolute when opened.
    let (fake, cann) = fake();
    let cwd = std::env::current_dir().unwrap();
    let mut relative = PathBuf::new();
    for _ in 1..cwd.components().count() {
        relative.push("..");
    }
    relative.push(cann.root.strip_prefix("/").unwrap());
    let opened = Cann::open_checked(&relative, false).unwrap();
    assert!(opened.root.is_absolute(), "{}", opened.root.display());
    let aiv = source("k", "KERNEL_TYPE_AIV_ONLY", "");
    AclBackend::with_cann(opened)
        .with_cache_dir(fake.scratch("cache"))
        .compile(&kernel("k", &aiv, CoreType::Aiv))
        .unwrap();
}

#[test]
fn an_install_library_that_does_not_load_is_not_replaced_by_another() {
    // Another loadable library later in the list (as another install on the loader's path would
    // be) is not used: the kernels were built against this install.
    let (fake, _) = fake();
    let good = fake.library(&[], false).unwrap();
    let junk = fake.scratch("junk_libascendcl.so");
    std::fs::write(&junk, b"not a shared object").unwrap();
    let Err(error) = super::api::Session::for_candidates(&[junk.clone(), good]) else {
        panic!("another library replaced the install's");
    };
    let message = error.to_string();
    assert!(matches!(error, AclError::Library { .. }), "{message}");
    assert!(message.contains(&junk.display().to_string()), "{message}");
}
