//! Frontend benchmark: how long checking a kernel file takes.
//!
//! Run it with `cargo bench --bench frontend` (the release `bench` profile). It measures:
//!
//! 1. for every example file (examples/src, without lib.rs): the frontend in-process
//!    (`moge_dsl::check_source`: parse, check and build the graph IR of every kernel), and the whole
//!    `mogec check FILE` run as a process (start-up, reading, checking, printing). The binary is the
//!    one cargo builds for this bench, `CARGO_BIN_EXE_mogec` (target/release/mogec);
//! 2. the MoGE FFN layer (examples/src/ffn.rs) step by step, in-process: frontend and graph IR build,
//!    specialization at the Pangu Pro MoE size, printing the graph IR and parsing it back.
//!
//! Every figure is the median of `RUNS` runs (after one warm-up run); pass a number to change it:
//! `cargo bench --bench frontend -- 100`. The target is under 50 ms for a whole `mogec check` of a
//! file.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::write::kernel_to_string;

/// Runs per measurement unless given on the command line.
const DEFAULT_RUNS: usize = 30;

/// The binary under measurement.
const MOGEC: &str = env!("CARGO_BIN_EXE_mogec");

/// The package root.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The target for one whole `mogec check`.
const TARGET: Duration = Duration::from_millis(50);

/// Pangu Pro MoE's static dims for the FFN layer.
const PANGU: &[(&str, i64)] = &[("H", 5120), ("E", 64), ("G", 8), ("I", 1344), ("S", 5376)];

fn main() {
    // `cargo bench` passes `--bench`; a bare number sets the run count.
    let runs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_RUNS);
    let files = example_files();
    if files.is_empty() {
        eprintln!("no example files found under {ROOT}/examples/src");
        std::process::exit(1);
    }

    println!("moge frontend benchmark: median of {runs} runs");
    println!("mogec: {MOGEC}");
    println!();
    println!(
        "{:<28} {:>7} {:>7} {:>16} {:>18}",
        "file", "lines", "kernels", "check_source", "mogec check (proc)"
    );
    let mut slowest = Duration::ZERO;
    for file in &files {
        let text = match fs::read_to_string(Path::new(ROOT).join(file)) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("cannot read {file}: {err}");
                std::process::exit(1);
            }
        };
        let kernels = match moge_dsl::check_source(&text) {
            Ok(checked) => checked.kernels.len(),
            Err(diag) => {
                eprintln!("{file} is not valid Rust: {}", diag.message);
                std::process::exit(1);
            }
        };
        let in_process = median(runs, || {
            black_box(
                moge_dsl::check_source(black_box(&text))
                    .map(|f| f.kernels.len())
                    .ok(),
            );
        });
        let process = median(runs, || {
            let status = Command::new(MOGEC)
                .args(["check", file])
                .current_dir(ROOT)
                .output()
                .map(|o| o.status.success());
            if status.ok() != Some(true) {
                eprintln!("`mogec check {file}` failed");
                std::process::exit(1);
            }
        });
        slowest = slowest.max(process);
        println!(
            "{:<28} {:>7} {:>7} {:>16} {:>18}",
            file,
            text.lines().count(),
            kernels,
            ms(in_process),
            ms(process)
        );
    }
    println!();
    println!(
        "slowest whole `mogec check`: {} (target: under {}) {}",
        ms(slowest),
        ms(TARGET),
        if slowest < TARGET { "ok" } else { "MISSED" }
    );

    // The FFN layer step by step.
    println!();
    let path = "examples/src/ffn.rs";
    let Ok(text) = fs::read_to_string(Path::new(ROOT).join(path)) else {
        eprintln!("cannot read {path}");
        std::process::exit(1);
    };
    let Some(kernel) = moge_dsl::check_source(&text)
        .ok()
        .and_then(|f| f.kernels.into_iter().find(|k| k.name == "moge_ffn"))
        .and_then(|k| k.result.ok())
    else {
        eprintln!("{path}: moge_ffn does not check");
        std::process::exit(1);
    };
    let Ok(specialized) = kernel.specialize(PANGU) else {
        eprintln!("moge_ffn does not specialize at the Pangu size");
        std::process::exit(1);
    };
    let graph_text = kernel_to_string(&specialized);
    let ops = specialized.order.len();
    println!("MoGE FFN layer ({path}, {ops} ops), in-process:");
    let steps: [(&str, Duration); 4] = [
        (
            "frontend + graph IR build (check_source)",
            median(runs, || {
                black_box(moge_dsl::check_source(black_box(&text)).ok());
            }),
        ),
        (
            "specialize (H=5120 E=64 G=8 I=1344 S=5376)",
            median(runs, || {
                black_box(kernel.specialize(black_box(PANGU)).ok());
            }),
        ),
        (
            "print graph IR",
            median(runs, || {
                black_box(kernel_to_string(black_box(&specialized)));
            }),
        ),
        (
            "parse graph IR",
            median(runs, || {
                black_box(parse_kernel(black_box(&graph_text)).ok());
            }),
        ),
    ];
    for (step, time) in steps {
        println!("  {step:<44} {:>10}", ms(time));
    }
}

/// The median duration of `runs` calls of `f`, after one warm-up call.
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

/// `1.234 ms`.
fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// The example kernel files, relative to the package root, sorted.
fn example_files() -> Vec<String> {
    let Ok(entries) = fs::read_dir(Path::new(ROOT).join("examples/src")) else {
        return Vec::new();
    };
    let mut files: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".rs") && name != "lib.rs")
        .map(|name| format!("examples/src/{name}"))
        .collect();
    files.sort();
    files
}
