//! Times `compile_program` (graph IR to Ascend C and manifest, no C++ compile) on every snapshot input.
//! Run with `cargo bench -p moge-codegen-ascendc`.

use std::path::Path;
use std::time::Instant;

use moge_codegen_ascendc::compile_program;
use moge_lower::graph::parse::parse_kernel;
use moge_lower::target::Target;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/in");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/in")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    let target = Target::default();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable input");
        let kernel = parse_kernel(&text).expect("a valid kernel");
        for line in text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("; case "))
        {
            let Some((case, binds)) = line.split_once(':') else {
                continue;
            };
            let binds: Vec<(&str, i64)> = binds
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .filter_map(|(k, v)| v.parse().ok().map(|v| (k, v)))
                .collect();
            let specialized = kernel.specialize(&binds).expect("bindings");
            let runs = 50;
            let start = Instant::now();
            for _ in 0..runs {
                std::hint::black_box(compile_program(&specialized, &target).expect("compiles"));
            }
            let per = start.elapsed() / runs;
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
            println!(
                "compile_program {stem} {case}: {:.3} ms",
                per.as_secs_f64() * 1e3
            );
        }
    }
}
