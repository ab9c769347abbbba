//! Snapshots of what the compiler makes of every vector example kernel in `examples/src`: the
//! scheduled kernel IR, the Ascend C of each device kernel and the manifest, at the configs the
//! examples are meant for (Pangu Pro MoE's for the gate, plus a non-power-of-two one).
//!
//! The kernels go through the same path as `mogec build`: the frontend on the file's text, then
//! specialization, then `compile_program`. Each case also checks that compiling twice gives the same
//! bytes.

use std::path::Path;

use moge_codegen_ascendc::{compile_program, Program};
use moge_lower::target::Target;

/// Compiles kernel `name` of `examples/src/<file>` with the static dims `set` for the default target.
fn compile_example(file: &str, name: &str, set: &[(&str, i64)]) -> Program {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/src")
        .join(file);
    let source = std::fs::read_to_string(&path).expect("the example file exists");
    let checked = moge_dsl::check_source(&source).expect("the example is valid Rust");
    let kernel = checked
        .kernels
        .into_iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("{file} has a kernel `{name}`"))
        .result
        .unwrap_or_else(|d| panic!("{name} checks: {d:?}"));
    let specialized = kernel.specialize(set).expect("the example specializes");
    compile_program(&specialized, &Target::ascend910b2()).expect("the example compiles")
}

/// Snapshots one example program under `<snapshot>`: kernel IR, each `.cpp`, the manifest.
fn check_example(snapshot: &str, file: &str, name: &str, set: &[(&str, i64)]) {
    let program = compile_example(file, name, set);
    let again = compile_example(file, name, set);
    assert_eq!(
        program, again,
        "compiling {snapshot} twice gives the same output"
    );
    insta::assert_snapshot!(format!("{snapshot}.kir"), program.kir_text);
    for kernel in &program.kernels {
        insta::assert_snapshot!(format!("{snapshot}.{}", kernel.file), kernel.source);
    }
    insta::assert_snapshot!(format!("{snapshot}.json"), program.manifest_json());
}

#[test]
fn moge_gate_pangu() {
    check_example(
        "moge_gate_e64_g8",
        "gate.rs",
        "moge_gate",
        &[("E", 64), ("G", 8)],
    );
}

#[test]
fn moge_gate_non_power_of_two() {
    check_example(
        "moge_gate_e24_g3",
        "gate.rs",
        "moge_gate",
        &[("E", 24), ("G", 3)],
    );
}

#[test]
fn softmax_f32() {
    check_example(
        "softmax_f32_n100",
        "softmax.rs",
        "softmax_f32",
        &[("N", 100)],
    );
}

#[test]
fn softmax_bf16() {
    check_example(
        "softmax_bf16_n1024",
        "softmax.rs",
        "softmax_bf16",
        &[("N", 1024)],
    );
}

#[test]
fn rmsnorm_pangu_hidden() {
    check_example("rmsnorm_h5120", "rmsnorm.rs", "rmsnorm", &[("H", 5120)]);
}
