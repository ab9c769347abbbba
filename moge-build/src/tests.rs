use super::*;

const KERNELS: &str = "\
/// `x * 2`.
#[moge::kernel]
pub fn double<const N: usize>(x: Tensor<f32, (T, N)>) -> Tensor<f32, (T, N)> {
    x * 2.0
}

#[moge::kernel]
pub fn negate(x: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {
    -x
}
";

/// A fresh directory holding `kernels.rs` with `text`.
fn crate_dir(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moge-build-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kernels.rs"), text).unwrap();
    dir
}

#[test]
fn a_build_writes_the_sources_the_manifests_and_the_rust_module() {
    let dir = crate_dir("ok", KERNELS);
    let out = dir.join("out");
    let built = compile(dir.join("kernels.rs"))
        .kernel("double")
        .set("N", 16)
        .kernel("negate")
        .out_dir(&out)
        .without_cann()
        .run()
        .expect("the build succeeds");
    assert_eq!(built.manifests.len(), 2);
    assert!(built.device_binaries.is_empty());
    let manifest = moge_codegen_ascendc::manifest::read(&out.join("double/double.json")).unwrap();
    assert_eq!(
        manifest.bindings.values().copied().collect::<Vec<_>>(),
        vec![16]
    );
    for kernel in &manifest.kernels {
        assert!(out.join("double").join(&kernel.source).is_file());
    }
    let rust = std::fs::read_to_string(&built.rust_file).unwrap();
    assert!(
        rust.contains("/// Kernel `double` with N = 16, compiled by moge-build.\npub mod double {"),
        "{rust}"
    );
    assert!(rust.contains("pub mod negate {"), "{rust}");
    assert!(
        rust.contains("pub const DEVICE_BINARIES: bool = false;"),
        "{rust}"
    );
    // Every file the module embeds exists.
    for line in rust.lines().filter(|l| l.contains("include_str!(")) {
        let path = line.split('"').nth(1).expect("a quoted path");
        assert!(Path::new(path).is_file(), "{path}");
    }
    // A second build with nothing changed rewrites nothing (cargo would rebuild on a new mtime).
    let before = std::fs::metadata(&built.rust_file)
        .unwrap()
        .modified()
        .unwrap();
    compile(dir.join("kernels.rs"))
        .kernel("double")
        .set("N", 16)
        .kernel("negate")
        .out_dir(&out)
        .without_cann()
        .run()
        .unwrap();
    let after = std::fs::metadata(&built.rust_file)
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_name_what_is_wrong() {
    let dir = crate_dir("errors", KERNELS);
    let build = || {
        compile(dir.join("kernels.rs"))
            .out_dir(dir.join("out"))
            .without_cann()
    };
    let err = build().run().unwrap_err();
    assert!(err.to_string().contains("has 2 kernels"), "{err}");
    let err = build().kernel("triple").run().unwrap_err();
    assert!(
        err.to_string().starts_with("no kernel `triple` in"),
        "{err}"
    );
    let err = build().kernel("double").run().unwrap_err();
    assert!(err.to_string().contains("`N`"), "{err}");
    let err = build()
        .kernel("negate")
        .target("ascend310p")
        .run()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown target `ascend310p`: expected ascend910b1 to ascend910b4"
    );
    std::fs::write(
        dir.join("kernels.rs"),
        "#[moge::kernel]\nfn k(x: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> { y }\n",
    )
    .unwrap();
    let err = build().run().unwrap_err();
    let BuildError::Load(moge::load::LoadError::Diagnostics { rendered, summary }) = &err else {
        panic!("expected diagnostics, got {err}");
    };
    assert!(
        summary.starts_with("could not compile kernel `k`"),
        "{summary}"
    );
    assert!(rendered.contains("kernels.rs:2:"), "{rendered}");
    let err = compile(dir.join("missing.rs"))
        .out_dir(dir.join("out"))
        .run()
        .unwrap_err();
    assert!(err.to_string().starts_with("cannot read `"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn with_cann_the_device_binaries_are_built_into_out_dir() {
    let cann = moge_runtime::acl::fake::FakeCann::new("8.5.0", &["Ascend910B2"]).unwrap();
    let dir = crate_dir("cann", KERNELS);
    let out = dir.join("out");
    let built = compile(dir.join("kernels.rs"))
        .kernel("negate")
        .out_dir(&out)
        .cann_root(cann.root())
        .run()
        .expect("the build succeeds");
    assert!(!built.device_binaries.is_empty());
    for binary in &built.device_binaries {
        assert!(binary.starts_with(out.join("acl")), "{}", binary.display());
        assert!(binary.is_file());
    }
    assert!(cann.tool_log().contains("bisheng"), "{}", cann.tool_log());
    let rust = std::fs::read_to_string(&built.rust_file).unwrap();
    assert!(rust.contains("pub const DEVICE_BINARIES: bool = true;"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_detecting_build_reruns_when_canns_variable_changes() {
    // Without this line cargo keeps a first build's "no CANN" result after set_env.sh is sourced.
    let detect = compile("src/kernels.rs").rerun_lines();
    assert_eq!(
        detect,
        [
            "cargo:rerun-if-changed=src/kernels.rs",
            "cargo:rerun-if-env-changed=ASCEND_HOME_PATH",
        ]
    );
    // A build told where CANN is, or told to do without, does not depend on the variable.
    for build in [
        compile("src/kernels.rs").without_cann(),
        compile("src/kernels.rs").cann_root("/opt/cann"),
    ] {
        assert_eq!(
            build.rerun_lines(),
            ["cargo:rerun-if-changed=src/kernels.rs"]
        );
    }
}

#[test]
fn an_ascend_home_path_naming_no_directory_is_an_error_not_a_build_without_cann() {
    let missing = std::env::temp_dir().join(format!("moge-build-no-cann-{}", std::process::id()));
    let error = detect_cann(Some(missing.clone().into()), &[]).unwrap_err();
    assert!(matches!(error, BuildError::Cann(_)), "{error}");
    assert!(error.to_string().contains("not a directory"), "{error}");
    // Unset or empty, with no standard install: a build of the sources only.
    assert!(detect_cann(None, std::slice::from_ref(&missing))
        .unwrap()
        .is_none());
    assert!(detect_cann(Some("".into()), &[missing]).unwrap().is_none());
}
