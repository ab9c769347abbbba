//! Compiler and emulator benchmark: build times, GM traffic against compulsory bytes, emulator wall
//! time.
//!
//! Run it with `cargo bench --bench emulator` (the release `bench` profile; pass a number to change the
//! run count: `cargo bench --bench emulator -- 50`). It prints:
//!
//! 1. build time of every example configuration without the C++ compile, in-process (frontend,
//!    specialization and `compile_program`: scheduling, Ascend C and manifest) and as a whole
//!    `mogec build FILE --emit ascendc,manifest` process; target < 100 ms;
//! 2. the GM traffic every emitted vector kernel moves on the emulator, against the compulsory bytes
//!    (every input read once, every output written once), for T = 1, 456 and 4096; target ratio 1.00;
//! 3. the emulator wall time of the Pangu Pro MoE gate (E = 64, G = 8) at T = 4096 once compiled:
//!    the kernel inside the emulator, and the whole launch from the host (process start, argument
//!    transfer, packing and unpacking); target well under a second.
//!
//! Every time is the median of the runs, after one warm-up run.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use moge::run::load_kernel;
use moge_codegen_ascendc::{compile_program, Program};
use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::Kernel;
use moge_lower::interp::random_inputs;
use moge_lower::target::Target;
use moge_runtime::backend::EmulatorBackend;
use moge_runtime::launch::{self, program_sources, ProgramRef};
use moge_runtime::report::{bytes, duration};

/// Runs per measurement unless given on the command line.
const DEFAULT_RUNS: usize = 20;

/// The binary under measurement.
const MOGEC: &str = env!("CARGO_BIN_EXE_mogec");

/// The package root.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// An example configuration: file, kernel, static dims.
type Example = (&'static str, &'static str, &'static [(&'static str, i64)]);

/// The example configurations.
const EXAMPLES: &[Example] = &[
    ("gate.rs", "moge_gate", &[("E", 64), ("G", 8)]),
    ("gate.rs", "moge_gate", &[("E", 24), ("G", 3)]),
    ("softmax.rs", "softmax_f32", &[("N", 1024)]),
    ("softmax.rs", "softmax_bf16", &[("N", 1024)]),
    ("rmsnorm.rs", "rmsnorm", &[("H", 5120)]),
    ("matmul.rs", "gemm", &[("K", 5120), ("N", 1024)]),
    (
        "ffn.rs",
        "moge_ffn",
        &[("H", 5120), ("E", 64), ("G", 8), ("I", 1344), ("S", 5376)],
    ),
];

/// Token counts of the traffic table.
const TOKENS: [i64; 3] = [1, 456, 4096];

fn main() {
    let runs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_RUNS);
    let target = Target::default();
    println!("moge compiler and emulator benchmark: median of {runs} runs");
    println!();

    // 1. Build times.
    println!("1. build without the C++ compile (target < 100 ms)");
    println!(
        "  {:<36} {:>12} {:>16} {:>20}",
        "kernel", "frontend", "compile_program", "mogec build (proc)"
    );
    let scratch = std::env::temp_dir().join(format!("moge-bench-{}", std::process::id()));
    let mut kernels: Vec<(String, Kernel, Program)> = Vec::new();
    for &(file, name, bindings) in EXAMPLES {
        let path = Path::new(ROOT).join("examples/src").join(file);
        let source = fs::read_to_string(&path).expect("example sources are readable");
        let label = label(name, bindings);
        let frontend = median(runs, || {
            black_box(
                load_kernel(file, &source, Some(name), bindings).expect("the example checks"),
            );
        });
        let kernel = load_kernel(file, &source, Some(name), bindings).expect("the example checks");
        let program = match compile_program(&kernel, &target) {
            Ok(program) => program,
            Err(err) => {
                println!(
                    "  {label:<36} {:>12} not lowered yet: {err}",
                    duration(frontend)
                );
                continue;
            }
        };
        let compile = median(runs, || {
            black_box(compile_program(&kernel, &target).expect("compiled once already"));
        });
        let set: Vec<String> = bindings.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let process = median(runs, || {
            let status = Command::new(MOGEC)
                .arg("build")
                .arg(&path)
                .args(["--kernel", name, "--set", &set.join(",")])
                .args(["--emit", "ascendc,manifest", "-o"])
                .arg(&scratch)
                .output()
                .expect("mogec runs");
            assert!(
                status.status.success(),
                "mogec build failed: {}",
                String::from_utf8_lossy(&status.stderr)
            );
        });
        println!(
            "  {label:<36} {:>12} {:>16} {:>20}",
            duration(frontend),
            duration(compile),
            duration(process)
        );
        kernels.push((label, kernel, program));
    }
    let _ = fs::remove_dir_all(&scratch);
    // The other vector kernels the code generator lowers (its snapshot inputs).
    let dir = Path::new(ROOT).join("codegen-ascendc/tests/in");
    let mut graphs: Vec<_> = fs::read_dir(&dir)
        .expect("codegen-ascendc/tests/in")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    graphs.sort();
    for path in graphs {
        let text = fs::read_to_string(&path).expect("readable input");
        let kernel = parse_kernel(&text).expect("a valid kernel");
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        for line in text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("; case "))
        {
            let Some((_, binds)) = line.split_once(':') else {
                continue;
            };
            let binds: Vec<(&str, i64)> = binds
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| v.parse().ok().map(|v| (k, v)))
                .collect();
            let label = format!("{stem}.graph {}", label("", &binds).trim_start());
            if kernels.iter().any(|(_, k, _)| {
                k.name == kernel.name
                    && binds
                        .iter()
                        .all(|b| k.bound.contains(&(moge_lower::Symbol::intern(b.0), b.1)))
            }) {
                continue;
            }
            let specialized = kernel.specialize(&binds).expect("bindings");
            let Ok(program) = compile_program(&specialized, &target) else {
                continue;
            };
            kernels.push((label, specialized, program));
        }
    }

    // 2. Traffic.
    println!();
    println!("2. GM traffic on the emulator against compulsory bytes (target ratio 1.00)");
    println!(
        "  {:<36} {:>6} {:>6} {:>11} {:>11} {:>11} {:>6} {:>10}",
        "kernel", "T", "cores", "GM read", "GM written", "compulsory", "ratio", "kernel wall"
    );
    let backend = EmulatorBackend::default();
    for (label, kernel, program) in &kernels {
        let sources = program_sources(program);
        let program_ref = ProgramRef::new(&program.manifest, &sources).expect("sources");
        if let Err(err) = launch::prepare(program_ref, &backend) {
            println!("  {label:<36} cannot run on the emulator: {err}");
            continue;
        }
        for t in TOKENS {
            let Ok(inputs) = random_inputs(kernel, 1, &[("T", t)]) else {
                continue;
            };
            let report = match launch::launch(program_ref, &inputs, &backend) {
                Ok(launched) => launched.report,
                Err(err) => {
                    println!("  {label:<36} {t:>6} failed: {err}");
                    continue;
                }
            };
            println!(
                "  {label:<36} {t:>6} {:>6} {:>11} {:>11} {:>11} {:>6} {:>10}",
                report.block_dim(),
                report.gm_bytes_read().map(bytes).unwrap_or_default(),
                report.gm_bytes_written().map(bytes).unwrap_or_default(),
                bytes(report.compulsory_bytes),
                report
                    .traffic_ratio()
                    .map(|r| format!("{r:.3}"))
                    .unwrap_or_default(),
                duration(report.wall()),
            );
        }
    }

    // 3. The Pangu gate at T = 4096.
    println!();
    println!("3. emulator wall time of the Pangu gate (E = 64, G = 8) at T = 4096, once compiled");
    let Some((_, kernel, program)) = kernels.first() else {
        return;
    };
    let sources = program_sources(program);
    let program_ref = ProgramRef::new(&program.manifest, &sources).expect("sources");
    let inputs = random_inputs(kernel, 1, &[("T", 4096)]).expect("inputs");
    let mut kernel_walls = Vec::new();
    let host = median(runs, || {
        let launched = launch::launch(program_ref, &inputs, &backend).expect("the gate runs");
        kernel_walls.push(launched.report.wall());
    });
    kernel_walls.sort();
    let kernel_wall = kernel_walls[kernel_walls.len() / 2];
    println!(
        "  kernel inside the emulator: {}; whole launch from the host: {} (target well under 1 s)",
        duration(kernel_wall),
        duration(host)
    );
}

/// `moge_gate E=64 G=8`.
fn label(name: &str, bindings: &[(&str, i64)]) -> String {
    let mut text = name.to_string();
    for (n, v) in bindings {
        text.push_str(&format!(" {n}={v}"));
    }
    text
}

/// The median time of `runs` calls of `f`, after one warm-up call.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}
