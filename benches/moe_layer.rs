//! MoGE layer benchmark: the whole `moge_ffn` layer (examples/src/ffn.rs) fused and unfused, run on
//! the emulator; GM traffic (the emulator's counters) against the compulsory bytes
//! (`moge::layer::compulsory_bytes`), the emulator's wall time and the build time.
//!
//! `cargo bench --bench moe_layer` runs the decode sizes of Pangu Pro MoE (T = 1, 8, 64) and the
//! medium configuration at T = 64; name cases to run others: `cargo bench --bench moe_layer --
//! pangu:456 medium:1024 small:49` (`CONFIG:T`, configs `small`, `medium`, `pangu`). Add `--no-unfused`
//! to skip the unfused chain, `--check` to compare with the interpreter too (slow at Pangu's size),
//! `--build-only` to time only the builds (median of 21, fused and unfused; nothing runs).
//!
//! Printed per case: device kernels, GM bytes read + written fused and unfused, the compulsory bytes
//! and both ratios, the grouped GEMM kernels' share, the experts used, emulator wall times.

use std::time::{Duration, Instant};

use moge::run::{check_program, load_kernel};
use moge_codegen_ascendc::{compile_program_with, Program};
use moge_lower::interp::random_inputs;
use moge_lower::opt::FuseMode;
use moge_lower::schedule::ScheduleOptions;
use moge_lower::target::Target;
use moge_runtime::backend::EmulatorBackend;
use moge_runtime::launch::{self, ProgramRef};
use moge_runtime::report::duration;

const FFN: &str = include_str!("../examples/src/ffn.rs");

fn config(name: &str) -> Option<[(&'static str, i64); 5]> {
    Some(match name {
        "small" => [("H", 256), ("E", 16), ("G", 4), ("I", 64), ("S", 128)],
        "medium" => [("H", 1024), ("E", 64), ("G", 8), ("I", 256), ("S", 512)],
        "pangu" => [("H", 5120), ("E", 64), ("G", 8), ("I", 1344), ("S", 5376)],
        _ => return None,
    })
}

fn mb(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn compile(kernel: &moge_lower::Kernel, fuse: FuseMode, runs: usize) -> (Program, Duration) {
    let options = ScheduleOptions {
        fuse,
        ..ScheduleOptions::default()
    };
    let target = Target::default();
    // Median of `runs` in-process builds (the graph optimizer, scheduling and the Ascend C).
    let mut times = Vec::new();
    let mut program = None;
    for _ in 0..runs {
        let start = Instant::now();
        program =
            Some(compile_program_with(kernel, &target, &options).expect("the layer compiles"));
        times.push(start.elapsed());
    }
    times.sort();
    (program.expect("built"), times[runs / 2])
}

struct Measured {
    kernels: usize,
    gm: u64,
    wall: Duration,
    outputs: Vec<moge_lower::interp::Tensor>,
    build: Duration,
}

fn measure(
    kernel: &moge_lower::Kernel,
    inputs: &[moge_lower::interp::Tensor],
    fuse: FuseMode,
    check: bool,
) -> Measured {
    let (program, build) = compile(kernel, fuse, 5);
    let backend = EmulatorBackend::default();
    let sources = launch::program_sources(&program);
    let program_ref = ProgramRef::new(&program.manifest, &sources).expect("manifest");
    launch::prepare(program_ref, &backend).expect("the kernels compile");
    let launched = if check {
        let checked = check_program(kernel, &program, inputs, &backend).expect("runs");
        assert!(checked.passed(), "{fuse:?}: {:?}", checked.comparisons);
        checked.launched
    } else {
        let program_ref = ProgramRef::new(&program.manifest, &sources).expect("manifest");
        launch::launch(program_ref, inputs, &backend).expect("runs")
    };
    Measured {
        kernels: program.kernels.len(),
        gm: launched.report.gm_bytes().expect("counted"),
        wall: launched.report.wall(),
        outputs: launched.outputs,
        build,
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let unfused = !args.iter().any(|a| a == "--no-unfused");
    let check = args.iter().any(|a| a == "--check");
    let build_only = args.iter().any(|a| a == "--build-only");
    let mut cases: Vec<(String, i64)> = args
        .iter()
        .filter_map(|a| {
            let (c, t) = a.split_once(':')?;
            Some((c.to_string(), t.parse().ok()?))
        })
        .collect();
    if cases.is_empty() {
        cases = vec![
            ("pangu".into(), 1),
            ("pangu".into(), 8),
            ("pangu".into(), 64),
            ("medium".into(), 64),
        ];
    }
    if build_only {
        println!("| config | build fused (median of 21) | build unfused |");
        println!("|---|---|---|");
        for (name, _) in cases {
            let Some(set) = config(&name) else {
                eprintln!("unknown config `{name}` (small, medium, pangu)");
                std::process::exit(2);
            };
            let kernel = load_kernel("examples/src/ffn.rs", FFN, Some("moge_ffn"), &set)
                .expect("specializes");
            let (_, fused) = compile(&kernel, FuseMode::All, 21);
            let (_, unfused) = compile(&kernel, FuseMode::None, 21);
            println!("| {name} | {} | {} |", duration(fused), duration(unfused));
        }
        return;
    }
    println!("moge MoGE layer benchmark (emulator GM counters; ratios over the compulsory bytes)");
    println!(
        "| config | T | experts used | compulsory | fused kernels | fused GM | fused ratio | unfused kernels | unfused GM | unfused ratio | build fused | emulator fused | emulator unfused |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, tokens) in cases {
        let Some(set) = config(&name) else {
            eprintln!("unknown config `{name}` (small, medium, pangu)");
            std::process::exit(2);
        };
        let kernel =
            load_kernel("examples/src/ffn.rs", FFN, Some("moge_ffn"), &set).expect("specializes");
        let inputs = random_inputs(&kernel, 7, &[("T", tokens)]).expect("inputs");
        let f = measure(&kernel, &inputs, FuseMode::All, check);
        let compulsory = moge::layer::compulsory_bytes(&kernel, &inputs, &f.outputs);
        let used = moge::layer::experts_used(&kernel, &inputs, &f.outputs).unwrap_or(0);
        let u = unfused.then(|| measure(&kernel, &inputs, FuseMode::None, check));
        let ratio = |gm: u64| format!("{:.3}", gm as f64 / compulsory as f64);
        println!(
            "| {name} | {tokens} | {used} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            mb(compulsory),
            f.kernels,
            mb(f.gm),
            ratio(f.gm),
            u.as_ref().map_or("-".into(), |u| u.kernels.to_string()),
            u.as_ref().map_or("-".into(), |u| mb(u.gm)),
            u.as_ref().map_or("-".into(), |u| ratio(u.gm)),
            duration(f.build),
            duration(f.wall),
            u.as_ref().map_or("-".into(), |u| duration(u.wall)),
        );
    }
}
