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
fn the_unfused_chain_matches_too_and_moves_more_bytes_than_the_fused_layer() {
    let (kernel, fused) = compile(FuseMode::All);
    let (_, unfused) = compile(FuseMode::None);
    assert!(unfused.kernels.len() > fused.kernels.len());
    let tokens = 64;
    let inputs = ffn_inputs(tokens, 9, false);
    let f = run_layer(&kernel, &fused, &inputs, tokens);
    let u = run_layer(&kernel, &unfused, &inputs, tokens);
    assert!(u > f, "unfused {u} B, fused {f} B");
}

#[test]
fn tied_logits_route_every_token_to_the_first_expert_of_each_group_on_the_device() {
    let (kernel, program) = compile(FuseMode::All);
    let tokens = 5;
    run_layer(&kernel, &program, &ffn_inputs(tokens, 21, true), tokens);
}
