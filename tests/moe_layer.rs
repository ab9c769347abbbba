//! The whole MoGE FFN layer (`moge_ffn`, examples/src/ffn.rs) compiled by the graph optimizer, fused
//! and unfused, and run on the emulator with its checks on: against the reference interpreter (the
//! error bounds it derives from the graph) and against the plain f64 reference of
//! `moge_reference.rs`, at the small configuration H=256, E=16, G=4, I=64, S=128.

use moge::run::check_program;
use moge_codegen_ascendc::{compile_program_with, Program};
use moge_examples::ffn::moge_ffn;
use moge_lower::interp::Tensor;
use moge_lower::opt::FuseMode;
use moge_lower::schedule::ScheduleOptions;
use moge_lower::target::Target;
use moge_runtime::backend::EmulatorBackend;

use crate::moge_reference::{check_ffn_outputs, ffn_inputs, E, G, H, I, S};

fn compile(mode: FuseMode) -> (moge_lower::Kernel, Program) {
    let kernel = moge_ffn::<H, E, G, I, S>::graph().expect("the layer specializes");
    let options = ScheduleOptions {
        fuse: mode,
        ..ScheduleOptions::default()
    };
    let program = compile_program_with(&kernel, &Target::default(), &options)
        .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
    (kernel, program)
}

/// Runs `program` on `inputs`, asserts it matches the interpreter and the f64 reference, and returns
/// the GM bytes it moved.
fn run_layer(
    kernel: &moge_lower::Kernel,
    program: &Program,
    inputs: &[Tensor],
    tokens: usize,
) -> u64 {
    let backend = EmulatorBackend::default();
    let checked = check_program(kernel, program, inputs, &backend)
        .unwrap_or_else(|e| panic!("T={tokens}: {e}"));
    for (o, c) in kernel.outputs.iter().zip(&checked.comparisons) {
        assert!(c.passed(), "T={tokens}, output {}: {c:?}", o.name);
    }
    let outs = &checked.launched.outputs;
    check_ffn_outputs(inputs, tokens, &outs[0], &outs[1]);
    checked
        .launched
        .report
        .gm_bytes()
        .expect("the emulator counts GM bytes")
}

#[test]
fn the_fused_layer_is_few_kernels_and_matches_the_interpreter_and_f64() {
    let (kernel, program) = compile(FuseMode::All);
    let kinds: Vec<String> = program
        .manifest
        .kernels
        .iter()
        .map(|k| k.core_type.to_string())
        .collect();
    assert!(program.kernels.len() <= 12, "{kinds:?}");
    for (tokens, seed) in [(0, 1), (1, 2), (7, 3), (49, 4)] {
        run_layer(&kernel, &program, &ffn_inputs(tokens, seed, false), tokens);
    }
}

#[test]
fn the_unfused_chain_matches_too_and_the_fused_layer_writes_no_permuted_copy_or_gate_up_tensor() {
    let (kernel, fused) = compile(FuseMode::All);
    let (_, unfused) = compile(FuseMode::None);
    assert!(unfused.kernels.len() > fused.kernels.len());
    let tokens = 64;
    let inputs = ffn_inputs(tokens, 9, false);
    run_layer(&kernel, &fused, &inputs, tokens);
    run_layer(&kernel, &unfused, &inputs, tokens);
    // The GM tensors between kernels: unfused, the dispatched copy of x (T*G, H) and the gate/up
    // result (T*G, 2I) are among them; fused, neither is (the gather and the SwiGLU run inside the
    // grouped matmul's kernel).
    // Each intermediate's shape as its expressions' text, e.g. ["4 * T", "256"].
    let shapes = |p: &Program| -> Vec<Vec<String>> {
        p.manifest
            .intermediates
            .iter()
            .map(|b| {
                serde_json::to_value(&b.shape)
                    .unwrap()
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .collect()
    };
    let (f, u) = (shapes(&fused), shapes(&unfused));
    let routed_rows = format!("{G} * T");
    for (what, cols) in [("dispatched x", H), ("gate/up", 2 * I)] {
        let cols = cols.to_string();
        let count = |v: &Vec<Vec<String>>| {
            v.iter()
                .filter(|s| s.len() == 2 && s[0] == routed_rows && s[1] == cols)
                .count()
        };
        assert!(count(&u) >= 1, "unfused {what}: {u:?}");
        assert_eq!(count(&f), 0, "fused {what}: {f:?}");
    }
}

#[test]
fn tied_logits_route_every_token_to_the_first_expert_of_each_group_on_the_device() {
    let (kernel, program) = compile(FuseMode::All);
    let tokens = 5;
    run_layer(&kernel, &program, &ffn_inputs(tokens, 21, true), tokens);
}

#[test]
fn an_epilogue_the_grouped_lowering_cannot_take_falls_back_to_kernels_of_their_own() {
    // I = 63: the SwiGLU epilogue's vector tiles copy whole 16-column blocks, so the fused gate/up
    // kernel is refused; the optimizer runs swiglu as a kernel of its own and the layer still runs.
    let kernel = moge_ffn::<H, E, G, 63, S>::graph().expect("the layer specializes");
    let program = compile_program_with(&kernel, &Target::default(), &ScheduleOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let swiglu_alone =
        program.dot.contains("cluster") && !program.dot.contains("swiglu epilogue into v16");
    assert!(swiglu_alone, "{}", program.dot);
    let inputs = moge_lower::interp::random_inputs(&kernel, 5, &[("T", 9)]).unwrap();
    let checked = check_program(&kernel, &program, &inputs, &EmulatorBackend::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(checked.passed(), "{:?}", checked.comparisons);
}
