//! Frontend benchmark: how long checking a kernel file takes.
//!
//! Run it with `cargo bench --bench frontend` (the release `bench` profile). It measures:
//!
//! 1. for every example file (examples/src, without lib.rs): the frontend in-process
//!    (`moge_dsl::check_source`: parse, check and build the graph IR of every kernel), and the whole
//!    `mogec check FILE` run as a process (start-up, reading, checking, printing). The binary is the
//!    one cargo builds for this bench, `CARGO_BIN_EXE_mogec` (target/release/mogec);
//! 2. generated files, written to a temporary directory: one kernel returning a 10,000-term sum
//!    `a + a * b - ...` (and a 100,000-term one, to show the time is linear), and a file of about
//!    1 MB with many kernels of `let` statements and long expressions; each in-process and as a
//!    whole `mogec check` process;
//! 3. the MoGE FFN layer (examples/src/ffn.rs) step by step, in-process: frontend and graph IR build,
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

    generated(runs);

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

/// Section 2: generated long and large files.
fn generated(runs: usize) {
    let dir = std::env::temp_dir().join(format!("moge-bench-frontend-{}", std::process::id()));
    if let Err(err) = fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {err}", dir.display());
        std::process::exit(1);
    }
    let cases = [
        ("sum of 10,000 terms", long_sum(10_000)),
        ("sum of 100,000 terms", long_sum(100_000)),
        ("many kernels (~1 MB)", many_kernels(1 << 20)),
    ];
    println!();
    println!(
        "{:<28} {:>9} {:>7} {:>16} {:>18}",
        "generated file", "bytes", "kernels", "check_source", "mogec check (proc)"
    );
    for (what, text) in &cases {
        let path = dir.join("case.rs");
        if let Err(err) = fs::write(&path, text) {
            eprintln!("cannot write {}: {err}", path.display());
            std::process::exit(1);
        }
        let kernels = match moge_dsl::check_source(text) {
            Ok(file) if file.kernels.iter().all(|k| k.result.is_ok()) => file.kernels.len(),
            _ => {
                eprintln!("the generated file `{what}` does not check");
                std::process::exit(1);
            }
        };
        let in_process = median(runs, || {
            black_box(
                moge_dsl::check_source(black_box(text))
                    .map(|f| f.kernels.len())
                    .ok(),
            );
        });
        let process = median(runs, || {
            let ok = Command::new(MOGEC)
                .arg("check")
                .arg(&path)
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                eprintln!("`mogec check` of the generated file `{what}` failed");
                std::process::exit(1);
            }
        });
        println!(
            "{:<28} {:>9} {:>7} {:>16} {:>18}",
            what,
            text.len(),
            kernels,
            ms(in_process),
            ms(process)
        );
    }
    // Best effort: the directory is in the system's temporary directory anyway.
    let _ = fs::remove_dir_all(&dir);
}

/// A kernel returning one flat expression of `terms` terms over two parameters.
fn long_sum(terms: usize) -> String {
    let ops = [" + ", " * ", " - ", " + "];
    let mut body = String::with_capacity(terms * 8);
    for i in 0..terms {
        if i > 0 {
            body.push_str(ops[i % ops.len()]);
        }
        body.push_str(if i % 3 == 1 { "b" } else { "a" });
    }
    format!(
        "use moge::prelude::*;\n\n#[moge::kernel]\npub fn long_sum(a: Tensor<f32, (T, E)>, b: Tensor<f32, (T, E)>) -> Tensor<f32, (T, E)> {{\n    {body}\n}}\n"
    )
}

/// A file of at least `bytes` bytes: kernels of a few `let` statements (softmax, reductions,
/// elementwise math) and a 100-term expression each.
fn many_kernels(bytes: usize) -> String {
    let mut src = String::from("use moge::prelude::*;\n");
    let mut index = 0;
    while src.len() < bytes {
        src.push_str(&format!(
            "\n/// Generated kernel {index}.\n#[moge::kernel]\npub fn k{index}<const E: usize>(x: Tensor<f32, (T, E)>, w: Tensor<f32, (E,)>) -> Tensor<f32, (T, E)> {{\n"
        ));
        src.push_str("    let p = softmax(x, -1);\n");
        src.push_str("    let s = sum(x * x, -1, true);\n");
        src.push_str("    let n = x * rsqrt(s / 64.0 + 1e-5) * w;\n");
        let terms: Vec<&str> = (0..100).map(|i| ["p", "n", "x", "exp(p)"][i % 4]).collect();
        src.push_str(&format!("    {}\n}}\n", terms.join(" + ")));
        index += 1;
    }
    src
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
