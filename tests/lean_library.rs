//! The library without the `cli` feature: what a kernel crate that depends on `moge` with
//! `default-features = false` builds. `cargo tree` lists the normal dependencies of each feature set;
//! the CLI's own (clap) must be absent from the lean one and present in the default one, so the
//! test fails if the feature stops gating them or if the check stops seeing them.

use std::process::Command;

/// The names of the packages in `package`'s normal dependency tree, with `features` passed to
/// `cargo tree`.
fn normal_dependencies(package: &str, features: &[&str]) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let output = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--manifest-path",
            manifest,
            "-p",
            package,
        ])
        .args(["-e", "normal", "--prefix", "none", "--format", "{p}"])
        .args(features)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn the_library_without_the_cli_feature_does_not_depend_on_clap() {
    let lean = normal_dependencies("moge", &["--no-default-features"]);
    // The library itself is all there: macro, IR, runtime.
    for needed in [
        "moge",
        "moge-macros",
        "moge-lower",
        "moge-codegen-ascendc",
        "moge-runtime",
    ] {
        assert!(
            lean.iter().any(|n| n == needed),
            "{needed} missing: {lean:?}"
        );
    }
    let cli_only = ["clap", "clap_builder", "clap_derive", "clap_lex"];
    let found: Vec<&String> = lean
        .iter()
        .filter(|n| cli_only.contains(&n.as_str()))
        .collect();
    assert!(found.is_empty(), "the lean library depends on {found:?}");
    // With the default features the CLI's dependencies are there: the check above sees them.
    let full = normal_dependencies("moge", &[]);
    assert!(full.iter().any(|n| n == "clap"), "{full:?}");
    // The example kernel crate (moge with default-features = false, moge-build in build.rs) builds
    // without them too.
    let kernel_crate = normal_dependencies("moge-example-prebuilt", &[]);
    assert!(kernel_crate.iter().any(|n| n == "moge"), "{kernel_crate:?}");
    assert!(
        !kernel_crate.iter().any(|n| n.starts_with("clap")),
        "{kernel_crate:?}"
    );
}
