//! `mogec export --cann`: the project's files (snapshots), its host program compiled with the host
//! g++ against a minimal declaration of ACL (`tests/data/export/acl.h`) and run on a host-memory
//! stand-in, whose launch plan must be the runtime's, and its Python scripts run with NumPy.

use std::path::{Path, PathBuf};
use std::process::Command;

use moge::export::{project_files, ProjectFile};
use moge::files::Contents;
use moge::inputs::{resolve, Consumer, RunInputs};
use moge::load::load_kernel;
use moge::Tensor;
use moge_lower::graph::Kernel;
use moge_lower::target::Target;
use moge_runtime::launch::{pack, plan, LaunchPlan};

/// An example kernel, its random inputs at `dims` and its project's files.
struct Exported {
    kernel: Kernel,
    inputs: Vec<Tensor>,
    files: Vec<ProjectFile>,
}

fn export(file: &str, set: &[(&str, i64)], dims: &[(&str, i64)]) -> Exported {
    let path = format!("{}/examples/src/{file}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).expect("the example exists");
    let kernel = load_kernel(file, &source, None, set).expect("the example loads");
    let dims: Vec<(String, i64)> = dims.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    let inputs = resolve(
        &kernel,
        RunInputs::Random { seed: 7, dims },
        &[],
        Consumer::Device,
    )
    .expect("random inputs")
    .tensors;
    let files = project_files(&kernel, &inputs, &Target::ascend910b2(), Default::default())
        .expect("the project exports");
    Exported {
        kernel,
        inputs,
        files,
    }
}

fn rmsnorm() -> Exported {
    export("rmsnorm.rs", &[("H", 64)], &[("T", 5)])
}

/// The MoGE router at a small size: one MIX kernel (cube matmul, vector softmax and top-k) with a
/// workspace.
fn router() -> Exported {
    export("router.rs", &[("H", 256), ("E", 16), ("G", 4)], &[("T", 5)])
}

fn text(contents: &Contents<'_>) -> Option<String> {
    match contents {
        Contents::Bytes(bytes) => String::from_utf8(bytes.clone()).ok(),
        Contents::Npy(_) => None,
    }
}

/// Writes the project into a fresh directory under the test's temporary directory.
fn write_project(name: &str, exported: &Exported) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("export_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    moge::files::write_all(&dir, &exported.files, &[]).expect("the project is written");
    dir
}

#[test]
fn exported_projects_match_their_snapshots() {
    for (name, exported) in [("rmsnorm", rmsnorm()), ("router", router())] {
        let mut names = Vec::new();
        for (path, contents) in &exported.files {
            names.push(path.clone());
            if path.ends_with(".npy") {
                continue;
            }
            let text = text(contents).unwrap_or_else(|| panic!("{path} is text"));
            insta::assert_snapshot!(format!("export_{name}__{}", path.replace('/', "__")), text);
        }
        // The layout of CANN's kernel-launch samples.
        for needed in [
            "CMakeLists.txt",
            "main.cpp",
            "run.sh",
            "scripts/gen_data.py",
            "scripts/verify_result.py",
        ] {
            assert!(
                names.iter().any(|n| n == needed),
                "{name}: {needed} missing from {names:?}"
            );
        }
    }
    // Exports are deterministic byte for byte.
    let (a, b) = (router(), router());
    for ((pa, ca), (pb, cb)) in a.files.iter().zip(&b.files) {
        assert_eq!(pa, pb);
        let bytes = |c: &Contents<'_>| match c {
            Contents::Bytes(b) => b.clone(),
            Contents::Npy(_) => Vec::new(),
        };
        assert_eq!(bytes(ca), bytes(cb), "{pa}");
    }
}

/// The plan as `main --plan` prints it, from the runtime's own evaluation of the manifest.
fn plan_text(plan: &LaunchPlan) -> String {
    let mut out = format!("program {}\n", plan.program);
    for t in &plan.tensors {
        let shape: Vec<String> = t.shape.iter().map(|s| s.to_string()).collect();
        out.push_str(&format!(
            "tensor {} {} [{}] {} bytes\n",
            t.name,
            t.dtype,
            shape.join(", "),
            t.bytes
        ));
    }
    out.push_str(&format!("workspace {} bytes\n", plan.workspace_bytes));
    for k in &plan.kernels {
        out.push_str(&format!(
            "kernel {} {} block_dim {} workspace {}",
            k.name, k.core_type, k.block_dim, k.workspace_bytes
        ));
        for (field, value) in &k.tiling {
            out.push_str(&format!(" {field}={value}"));
        }
        out.push('\n');
    }
    out
}

/// Compiles the project's main.cpp with the host g++ against the minimal ACL declaration and the
/// host-memory stand-in.
fn compile_main(dir: &Path) -> PathBuf {
    let include = dir.join("test_include/acl");
    std::fs::create_dir_all(&include).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/export");
    std::fs::copy(data.join("acl.h"), include.join("acl.h")).unwrap();
    let exe = dir.join("main_fake_acl");
    let cxx = std::env::var("MOGE_CXX").unwrap_or_else(|_| "g++".to_string());
    let out = Command::new(cxx)
        .args(["-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(dir.join("test_include"))
        .arg(dir.join("main.cpp"))
        .arg(data.join("fake_acl.cpp"))
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("g++ runs");
    assert!(
        out.status.success(),
        "main.cpp does not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn run_in(dir: &Path, program: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Inputs of `kernel` with the dynamic dim `T` = `t` (zeros: only their shapes matter to a plan).
fn inputs_at(exported: &Exported, t: usize) -> Vec<Tensor> {
    exported
        .inputs
        .iter()
        .map(|input| {
            let mut shape = input.shape.clone();
            shape[0] = if input.shape.len() == 2 && input.shape[0] == 5 {
                t
            } else {
                shape[0]
            };
            Tensor::zeros(input.dtype, shape)
        })
        .collect()
}

#[test]
fn the_install_prefix_is_the_projects_out_directory_before_project_caches_another() {
    // project() caches CMAKE_INSTALL_PREFIX as /usr/local when it is not set yet, and a later
    // set(... CACHE ...) does not replace a cached value: the project's ./out must come first.
    let exported = rmsnorm();
    let (_, contents) = exported
        .files
        .iter()
        .find(|(path, _)| path == "CMakeLists.txt")
        .expect("CMakeLists.txt");
    let cmake = text(contents).expect("text");
    let prefix = cmake
        .find("set(CMAKE_INSTALL_PREFIX \"${CMAKE_CURRENT_LIST_DIR}/out\" CACHE PATH")
        .expect("the prefix is set to ./out");
    let project = cmake.find("\nproject(").expect("project()");
    assert!(prefix < project, "{cmake}");
    assert_eq!(
        cmake.matches("CMAKE_INSTALL_PREFIX \"").count(),
        1,
        "{cmake}"
    );
}

#[test]
fn the_host_program_compiles_against_acl_and_plans_as_the_runtime_does() {
    for (name, exported) in [("rmsnorm", rmsnorm()), ("router", router())] {
        let dir = write_project(&format!("host_{name}"), &exported);
        let exe = compile_main(&dir);
        // The manifest the project holds, as the runtime reads one.
        let (_, json) = exported
            .files
            .iter()
            .find(|(path, _)| path.starts_with("kernels/") && path.ends_with(".json"))
            .expect("the project holds its manifest");
        let manifest = moge_codegen_ascendc::manifest::Manifest::from_json(&text(json).unwrap())
            .expect("the manifest reads");
        // The exported dims, then others given on the command line: C++ and the runtime agree on
        // every block dim, tiling field, size and workspace.
        for t in [5usize, 1, 0, 47, 1000] {
            let expected = plan_text(&plan(&manifest, &inputs_at(&exported, t)).expect("plans"));
            let arg = format!("T={t}");
            let args: Vec<&str> = if t == 5 {
                vec!["--plan"]
            } else {
                vec!["--plan", &arg]
            };
            let (ok, stdout, stderr) = run_in(&dir, &exe, &args);
            assert!(ok, "{name} T={t}: {stderr}");
            assert_eq!(stdout, expected, "{name} T={t}");
        }
        // Bad arguments are refused with a message.
        let (ok, _, stderr) = run_in(&dir, &exe, &["--plan", "Q=3"]);
        assert!(!ok);
        assert!(stderr.contains("`Q` is not a dynamic dim"), "{stderr}");
        let (ok, _, stderr) = run_in(&dir, &exe, &["--plan", "T=4", "T=5"]);
        assert!(!ok);
        assert_eq!(stderr, "error: `T` is given twice\n");
        for arg in ["T=+5", "T= 5", "T=99999999999999999999"] {
            let (ok, _, stderr) = run_in(&dir, &exe, &["--plan", arg]);
            assert!(!ok, "{arg}");
            assert_eq!(
                stderr,
                format!("error: `{arg}`: a dim takes a value of 0 or more\n")
            );
        }
        let (ok, _, stderr) = run_in(&dir, &exe, &["--plan", "--device"]);
        assert!(!ok);
        assert_eq!(stderr, "error: --device needs a value\n");
        // Overflow in an expression stops the program instead of launching with a wrong value.
        let (ok, _, stderr) = run_in(&dir, &exe, &["--plan", "T=9223372036854775807"]);
        assert!(!ok);
        assert!(stderr.starts_with("error: overflow evaluating"), "{stderr}");

        // The whole flow on the stand-in: inputs read, every kernel launched with its parameters
        // (GM arguments, workspace, tiling) and its tiling blob, the outputs written.
        let (ok, _, stderr) = run_in(&dir, Path::new("python3"), &["scripts/gen_data.py"]);
        assert!(ok, "{stderr}");
        let (ok, stdout, stderr) = run_in(&dir, &exe, &[]);
        assert!(ok, "{name}: {stderr}");
        let planned = plan(&manifest, &exported.inputs).unwrap();
        let mut expected = vec![format!("load {}", moge::export::binary_path())];
        for k in planned.kernels.iter().filter(|k| k.block_dim > 0) {
            expected.push(format!(
                "launch {} block_dim {} params {} null_workspace {} tiling[0] {}",
                k.name,
                k.block_dim,
                k.args.len() + 2,
                u8::from(k.workspace_bytes == 0),
                k.tiling.first().map_or(0, |(_, v)| *v)
            ));
        }
        let launches: Vec<&str> = stdout
            .lines()
            .filter(|l| {
                !l.contains(" ms on the device")
                    && !l.starts_with("heads ")
                    && !l.starts_with("sync within ")
            })
            .collect();
        assert_eq!(launches, expected, "{name}");
        // The wait for the kernels has a limit (300 s, as moge's ACL backend): never a hang.
        assert!(stdout.contains("sync within 300000 ms\n"), "{stdout}");
        // What each kernel finds in its GM arguments: the inputs' bytes, and 0xFF in the outputs and
        // the buffers between kernels (as moge's runtime fills them), not the stand-in's fresh 0xAB.
        let mut heads = Vec::new();
        for k in planned.kernels.iter().filter(|k| k.block_dim > 0) {
            let mut line = format!("heads {}", k.name);
            for &t in &k.args {
                let tensor = &planned.tensors[t];
                if tensor.bytes == 0 {
                    line.push_str(" null");
                } else if tensor.role == moge_codegen_ascendc::manifest::Role::Input {
                    line.push_str(&format!(" {:02x}", pack(&exported.inputs[t])[0]));
                } else {
                    line.push_str(" ff");
                }
            }
            heads.push(line);
        }
        let printed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("heads ")).collect();
        assert_eq!(printed, heads, "{name}");
        for t in planned
            .tensors
            .iter()
            .filter(|t| t.role == moge_codegen_ascendc::manifest::Role::Output)
        {
            let written = std::fs::metadata(dir.join(format!("output/{}.bin", t.name)))
                .expect("output written");
            assert_eq!(written.len(), t.bytes, "{}", t.name);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn the_data_scripts_write_the_device_bytes_and_verify_by_moges_rule() {
    let exported = rmsnorm();
    let dir = write_project("scripts", &exported);
    let python = Path::new("python3");
    let (ok, stdout, stderr) = run_in(&dir, python, &["scripts/gen_data.py"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "wrote 2 inputs to input/ (moge's, for T=5)\n");
    // NumPy's bytes are the runtime's packing of the same tensors (bf16 included).
    for (param, tensor) in exported.kernel.params.iter().zip(&exported.inputs) {
        let written = std::fs::read(dir.join(format!("input/{}.bin", param.name))).unwrap();
        assert_eq!(written, pack(tensor), "{}", param.name);
    }
    // The interpreter's own outputs pass.
    let golden = moge_lower::interp::eval(&exported.kernel, &exported.inputs).unwrap();
    let output = dir.join("output/out0.bin");
    let bytes = pack(&golden[0]);
    std::fs::write(&output, &bytes).unwrap();
    let (ok, stdout, _) = run_in(&dir, python, &["scripts/verify_result.py"]);
    assert!(ok, "{stdout}");
    assert!(stdout.ends_with("test pass\n"), "{stdout}");
    // One bf16 ulp off is within `2 B + 1 ulp`.
    let mut nudged = bytes.clone();
    let first = u16::from_le_bytes([nudged[0], nudged[1]]);
    nudged[..2].copy_from_slice(&(first ^ 1).to_le_bytes());
    std::fs::write(&output, &nudged).unwrap();
    let (ok, stdout, _) = run_in(&dir, python, &["scripts/verify_result.py"]);
    assert!(ok, "one ulp: {stdout}");
    // NaN where a number is expected, and a value far off, fail with the element named.
    for (bits, what) in [(0x7fc0u16, "nan"), (first ^ 0x0100, "far off")] {
        let mut bad = bytes.clone();
        bad[2..4].copy_from_slice(&bits.to_le_bytes());
        std::fs::write(&output, &bad).unwrap();
        let (ok, stdout, _) = run_in(&dir, python, &["scripts/verify_result.py"]);
        assert!(!ok, "{what}: {stdout}");
        assert!(
            stdout.contains("out0: 1 of 320 elements beyond tolerance; first at flat index 1"),
            "{what}: {stdout}"
        );
        // Plain numbers, not NumPy's reprs.
        assert!(!stdout.contains("np."), "{what}: {stdout}");
        if what == "nan" {
            assert!(stdout.contains("got nan, expected "), "{stdout}");
        }
        assert!(stdout.ends_with("test failed\n"), "{stdout}");
    }
    // An output of the wrong size is reported, not read past.
    std::fs::write(&output, &bytes[..10]).unwrap();
    let (ok, stdout, _) = run_in(&dir, python, &["scripts/verify_result.py"]);
    assert!(!ok);
    assert!(stdout.contains("10 bytes, expected 640"), "{stdout}");
    // No output at all (the program did not run): a message saying so, not a traceback.
    std::fs::remove_file(&output).unwrap();
    let (ok, stdout, stderr) = run_in(&dir, python, &["scripts/verify_result.py"]);
    assert!(!ok);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: no output to verify: output/out0.bin missing; run the program first (./out/bin/main)\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_data_scripts_take_other_dims_with_the_shapes_the_manifest_gives() {
    let exported = rmsnorm();
    let dir = write_project("scripts_dims", &exported);
    let python = Path::new("python3");
    let (_, json) = exported
        .files
        .iter()
        .find(|(path, _)| path.starts_with("kernels/") && path.ends_with(".json"))
        .unwrap();
    let manifest =
        moge_codegen_ascendc::manifest::Manifest::from_json(&text(json).unwrap()).unwrap();
    for t in [0usize, 1, 47] {
        let arg = format!("T={t}");
        let (ok, stdout, stderr) = run_in(&dir, python, &["scripts/gen_data.py", &arg]);
        assert!(ok, "{stderr}");
        assert_eq!(
            stdout,
            format!(
                "wrote 2 inputs to input/ (random, for T={t}; the golden outputs in data/ are for T=5 only, \
                 so verify_result.py checks only the outputs' sizes)\n"
            )
        );
        // Each input has the size the runtime plans for these dims.
        let planned = plan(&manifest, &inputs_at(&exported, t)).unwrap();
        for tensor in planned
            .tensors
            .iter()
            .filter(|t| t.role == moge_codegen_ascendc::manifest::Role::Input)
        {
            let written =
                std::fs::metadata(dir.join(format!("input/{}.bin", tensor.name))).unwrap();
            assert_eq!(written.len(), tensor.bytes, "T={t}: {}", tensor.name);
        }
        // Outputs of the right size are not verified (no golden data for these dims), and say so.
        let out_bytes = planned
            .tensors
            .iter()
            .find(|t| t.name == "out0")
            .unwrap()
            .bytes;
        std::fs::write(dir.join("output/out0.bin"), vec![0u8; out_bytes as usize]).unwrap();
        let (ok, stdout, _) = run_in(&dir, python, &["scripts/verify_result.py", &arg]);
        assert!(ok, "{stdout}");
        assert_eq!(
            stdout,
            format!("not verified: the golden outputs in data/ are for T=5, these are for T={t} (their sizes are right)\n")
        );
        // One of the wrong size fails.
        std::fs::write(
            dir.join("output/out0.bin"),
            vec![0u8; out_bytes as usize + 2],
        )
        .unwrap();
        let (ok, stdout, _) = run_in(&dir, python, &["scripts/verify_result.py", &arg]);
        assert!(!ok, "{stdout}");
        assert!(stdout.ends_with("test failed\n"), "{stdout}");
        // One still holding main's 0xFF fill in every byte was written by no kernel: it fails
        // (an empty output, T = 0, holds no byte to judge).
        if out_bytes == 0 {
            continue;
        }
        std::fs::write(
            dir.join("output/out0.bin"),
            vec![0xFFu8; out_bytes as usize],
        )
        .unwrap();
        let (ok, stdout, _) = run_in(&dir, python, &["scripts/verify_result.py", &arg]);
        assert!(!ok, "{stdout}");
        let elements = out_bytes / 2;
        assert_eq!(
            stdout,
            format!("out0: {elements} of {elements} elements still hold the 0xFF fill: no kernel wrote them\ntest failed\n")
        );
        // So does one element left unwritten among written ones.
        let mut partly = vec![0u8; out_bytes as usize];
        partly[2..4].copy_from_slice(&[0xFF, 0xFF]);
        std::fs::write(dir.join("output/out0.bin"), &partly).unwrap();
        let (ok, stdout, _) = run_in(&dir, python, &["scripts/verify_result.py", &arg]);
        assert!(!ok, "{stdout}");
        assert!(
            stdout.starts_with(&format!("out0: 1 of {elements} elements still hold")),
            "{stdout}"
        );
    }
    // Random bf16 inputs are exact bf16 values (the low half of each float32 is zero) in [-2, 2].
    let x = std::fs::read(dir.join("input/x.bin")).unwrap();
    let values: Vec<f32> = x
        .chunks(2)
        .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
        .collect();
    assert_eq!(values.len(), 47 * 64);
    assert!(
        values.iter().all(|v| (-2.0..=2.0).contains(v)),
        "{values:?}"
    );
    assert!(
        values.iter().any(|v| *v != values[0]),
        "random, not constant"
    );
    // Bad dims are refused by name, as main refuses them.
    for (arg, message) in [
        ("Q=3", "error: `Q` is not a dynamic dim of rmsnorm (its dynamic dims: T)\n"),
        ("T=-1", "error: `T=-1`: a dim takes a value of 0 or more\n"),
        ("T", "error: unknown argument `T`; usage: gen_data.py [NAME=VALUE ...] (dynamic dims of rmsnorm: T)\n"),
        ("T=+5", "error: `T=+5`: a dim takes a value of 0 or more\n"),
    ] {
        let (ok, _, stderr) = run_in(&dir, python, &["scripts/gen_data.py", arg]);
        assert!(!ok, "{arg}");
        assert_eq!(stderr, message, "{arg}");
    }
    let (ok, _, stderr) = run_in(&dir, python, &["scripts/gen_data.py", "T=4", "T=5"]);
    assert!(!ok);
    assert_eq!(stderr, "error: `T` is given twice\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn allowed_errors_are_stored_in_the_outputs_dtype() {
    let exported = router();
    let npy_descr = |path: &str| {
        let (_, contents) = exported.files.iter().find(|(p, _)| p == path).unwrap();
        let Contents::Bytes(bytes) = contents else {
            panic!("{path} is bytes")
        };
        let header = String::from_utf8_lossy(&bytes[..bytes.len().min(128)]).into_owned();
        let start = header.find("'descr': '").unwrap() + "'descr': '".len();
        header[start..start + 3].to_string()
    };
    // `weight` is f32, `expert` (the chosen expert ids) i32: compared exactly, so allowed 0 in i32.
    assert_eq!(npy_descr("data/weight.golden.npy"), "<f4");
    assert_eq!(npy_descr("data/weight.allowed.npy"), "<f4");
    assert_eq!(npy_descr("data/expert.golden.npy"), "<i4");
    assert_eq!(npy_descr("data/expert.allowed.npy"), "<i4");
    let (_, contents) = exported
        .files
        .iter()
        .find(|(p, _)| p == "data/expert.allowed.npy")
        .unwrap();
    let Contents::Bytes(bytes) = contents else {
        panic!()
    };
    let tensor = moge_runtime::npy::read_npy_bytes(bytes).unwrap();
    assert!(tensor.to_f64_vec().iter().all(|&a| a == 0.0));
}

#[test]
fn run_sh_sources_canns_environment_without_set_u() {
    let exported = rmsnorm();
    let dir = write_project("run_sh", &exported);
    // A CANN environment script that reads a variable nobody set (as CANN's own do), and a `cmake`
    // that stops the run once it is reached.
    let cann = dir.join("fake_cann");
    std::fs::create_dir_all(cann.join("bin")).unwrap();
    std::fs::write(
        cann.join("set_env.sh"),
        format!(
            "if [ -n \"$MOGE_SURELY_UNSET_VARIABLE\" ]; then :; fi\nexport ASCEND_HOME_PATH={}\n",
            cann.display()
        ),
    )
    .unwrap();
    let cmake = cann.join("bin/cmake");
    std::fs::write(&cmake, "#!/bin/sh\necho 'fake cmake reached' >&2\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cmake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        cann.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // run.sh without CANN's variables, `install` as ASCEND_INSTALL_PATH, `home` as HOME.
    let run_sh = |args: &[&str], install: Option<&Path>, home: Option<&Path>| {
        let mut command = Command::new("bash");
        command
            .arg(dir.join("run.sh"))
            .args(args)
            .env_remove("ASCEND_HOME_PATH")
            .env_remove("ASCEND_INSTALL_PATH")
            .env_remove("MOGE_SURELY_UNSET_VARIABLE")
            .env("PATH", &path);
        if let Some(install) = install {
            command.env("ASCEND_INSTALL_PATH", install);
        }
        if let Some(home) = home {
            command.env("HOME", home);
        }
        let out = command.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run_sh(&[], Some(&cann), None);
    assert!(!stderr.contains("unbound variable"), "{stderr}");
    assert!(stderr.contains("fake cmake reached"), "{stderr}");
    assert_eq!(code, Some(3), "{stderr}");
    // A bad dim is refused by gen_data.py before the build starts.
    let (_, stderr) = run_sh(&["X=3"], Some(&cann), None);
    assert!(
        stderr.contains("error: `X` is not a dynamic dim"),
        "{stderr}"
    );
    assert!(!stderr.contains("fake cmake reached"), "{stderr}");
    // A per-user install (`~/Ascend/ascend-toolkit`), found as mogec finds it, without any variable.
    let home = dir.join("home");
    let toolkit = home.join("Ascend/ascend-toolkit");
    std::fs::create_dir_all(&toolkit).unwrap();
    std::fs::copy(cann.join("set_env.sh"), toolkit.join("set_env.sh")).unwrap();
    let (_, stderr) = run_sh(&[], None, Some(&home));
    assert!(stderr.contains("fake cmake reached"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mogec_export_writes_the_whole_project_or_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("export_cli");
    let _ = std::fs::remove_dir_all(&dir);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/src/rmsnorm.rs");
    let mogec = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mogec"))
            .args(args)
            .output()
            .expect("mogec runs")
    };
    let project = dir.join("rmsnorm");
    let project_arg = project.to_str().unwrap();
    // A project directory that is a file: a usage error naming it.
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("a_file");
    std::fs::write(&file, "x").unwrap();
    let out = mogec(&[
        "export",
        example,
        "--set",
        "H=64",
        "--random",
        "3",
        "--dim",
        "T=4",
        "--cann",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a_file") && stderr.contains("not a directory"),
        "{stderr}"
    );
    // A directory (such as a build directory) where the kernel source is expected: a usage error
    // saying what export takes.
    let out = mogec(&[
        "export",
        dir.to_str().unwrap(),
        "--random",
        "3",
        "--cann",
        project_arg,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "error: cannot read `{}`: it is a directory; give a kernel source file (FILE.rs) — only \
             `mogec run` also takes a build directory (the output of `mogec build --emit ascendc,manifest`)\n",
            dir.display()
        )
    );
    assert!(!project.exists());
    // A dynamic dim missing with --random: a usage error, and nothing is written.
    let out = mogec(&[
        "export",
        example,
        "--set",
        "H=64",
        "--random",
        "3",
        "--cann",
        project_arg,
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    assert!(!project.exists());
    // The export that succeeds, run twice below.
    let export = || {
        mogec(&[
            "export",
            example,
            "--set",
            "H=64",
            "--random",
            "3",
            "--dim",
            "T=4",
            "--cann",
            project_arg,
        ])
    };
    let out = export();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "wrote 12 files to {project_arg}: build and run with {project_arg}/run.sh on a machine with CANN 8.5\n"
        )
    );
    let mode = std::fs::metadata(project.join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "run.sh is executable");
    assert!(project.join("kernels/rmsnorm_k0.cpp").is_file());
    // Exporting again into the now non-empty project: refused, and its files stay as they are
    // (a user's README.md or scripts in the directory would otherwise be replaced).
    std::fs::write(project.join("README.md"), "# mine\n").unwrap();
    let out = export();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(project.join("README.md")).unwrap(),
        "# mine\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_program_without_dynamic_dims_says_none_and_names_no_dim() {
    let source = "use moge::prelude::*;\n\n/// Doubles a fixed-size vector.\n#[moge::kernel]\npub fn twice<const N: usize>(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {\n    x * 2.0\n}\n";
    let kernel = load_kernel("twice.rs", source, None, &[("N", 64)]).expect("the kernel loads");
    let inputs = resolve(
        &kernel,
        RunInputs::Random {
            seed: 1,
            dims: Vec::new(),
        },
        &[],
        Consumer::Device,
    )
    .expect("random inputs")
    .tensors;
    let files = project_files(&kernel, &inputs, &Target::ascend910b2(), Default::default())
        .expect("the project exports");
    let file = |name: &str| {
        files
            .iter()
            .find(|(p, _)| p == name)
            .and_then(|(_, c)| text(c))
            .unwrap()
    };
    assert!(file("main.cpp").contains("const char* const kDynamicDims = \"none\";"));
    let readme = file("README.md");
    assert!(readme.contains("exported dims: none."), "{readme}");
    assert!(
        readme.contains("The program has no dynamic dims"),
        "{readme}"
    );
    assert!(!readme.contains("./run.sh T="), "{readme}");
    let exported = Exported {
        kernel,
        inputs,
        files: files.clone(),
    };
    let dir = write_project("no_dims", &exported);
    // Without dims, SetDim uses none of its parameters: still clean under -Werror.
    compile_main(&dir);
    let (ok, stdout, stderr) = run_in(&dir, Path::new("python3"), &["scripts/gen_data.py"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "wrote 1 input to input/ (moge's)\n");
    let (ok, _, stderr) = run_in(&dir, Path::new("python3"), &["scripts/gen_data.py", "T=3"]);
    assert!(!ok);
    assert_eq!(
        stderr,
        "error: `T` is not a dynamic dim of twice (its dynamic dims: none)\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_scripts_report_numpy_and_file_errors_in_one_line() {
    let exported = rmsnorm();
    let dir = write_project("scripts_errors", &exported);
    let python = Path::new("python3");
    // Arrays too large for any host: one error line, no traceback.
    let (ok, stdout, stderr) = run_in(&dir, python, &["scripts/gen_data.py", "T=100000000000000"]);
    assert!(!ok, "{stdout}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("Traceback"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // A golden file removed after the export: named, no traceback.
    let (ok, _, stderr) = run_in(&dir, python, &["scripts/gen_data.py"]);
    assert!(ok, "{stderr}");
    std::fs::create_dir_all(dir.join("output")).unwrap();
    std::fs::write(dir.join("output/out0.bin"), vec![0u8; 5 * 64 * 2]).unwrap();
    std::fs::remove_file(dir.join("data/out0.golden.npy")).unwrap();
    let (ok, _, stderr) = run_in(&dir, python, &["scripts/verify_result.py"]);
    assert!(!ok);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("out0.golden.npy"),
        "{stderr}"
    );
    assert!(!stderr.contains("Traceback"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
