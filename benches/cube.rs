//! Cube benchmark: tile choice, GM traffic and the cube-bound check of matmul plans; the emulator wall
//! time of a 1024^3 bf16 matmul; the front half of `mogec build` of the matmul examples.
//!
//! Run it with `cargo bench --bench cube` (pass a number to change the run count:
//! `cargo bench --bench cube -- 5`). It prints:
//!
//! 1. per shape (bf16): the planner's tiles, the GM bytes of the schedule against the compulsory bytes
//!    and against the minimum for its tile sizes, the modeled HBM bytes after L2, the arithmetic
//!    intensity per GM and per HBM byte, and whether the cube is the bottleneck (all modeled);
//! 2. the emulator wall time of C = A B, 1024^3 bf16, by the hand-written AIC kernel the lowering must
//!    emit (tests/data/cube/matmul_aic.cpp), once compiled; target < 2 s;
//! 3. the time of the frontend, specialization and cube planning of `gemm` and `moge_router` (the
//!    part of `mogec build` that exists until the cube lowering lands); target < 100 ms.
//!
//! Every time is the median of the runs, after one warm-up run.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use moge::run::load_kernel;
use moge_codegen_ascendc::print_v2::print_program;
use moge_lower::schedule::cube::{
    check_matmuls, lower_matmul_kernel, plan_matmul, traffic, CubeDType, MatmulPlan, MatmulShape,
    TileRequest,
};
use moge_lower::target::Target;
use moge_runtime::emulator::{launch_raw, CheckMode, CoreType, GmArg, RawLaunch};
use moge_runtime::report::duration;

const DEFAULT_RUNS: usize = 3;
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const AIC: &str = include_str!("../tests/data/cube/matmul_aic.cpp");

fn median(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    f();
    let mut times: Vec<Duration> = (0..runs).map(|_| f()).collect();
    times.sort();
    times[times.len() / 2]
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn tiling(p: &MatmulPlan) -> Vec<u8> {
    let (tm, tn) = p.tiles();
    let s = p.shape;
    let c = if p.l0c_double { 2 } else { 1 };
    [s.m, s.n, s.k, p.m, p.n, p.k, p.depth, tm, tn, p.swizzle, c]
        .iter()
        .flat_map(|&f| (f as u32).to_le_bytes())
        .collect()
}

fn main() {
    let runs = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_RUNS);
    let target = Target::default();
    println!("moge cube benchmark ({target}): median of {runs} runs");
    println!();
    println!("1. matmul plans, bf16 (modeled: HBM 1.5 TB/s, L2 5.5 TB/s and 192 MB, 1.85 GHz)");
    println!(
        "| M x N x K | tile m x n x k, L1 depth, L0C bufs, cores | GM bytes | / compulsory | / tile minimum | HBM bytes | FLOP/GM B | FLOP/HBM B | cube | HBM | L2 | cube-bound |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let shapes = [
        (1024, 1024, 1024),
        (4096, 4096, 4096),
        (8192, 8192, 8192),
        (1, 64, 5120),
        (456, 64, 5120),
        (4096, 64, 5120),
    ];
    for (m, n, k) in shapes {
        let shape = MatmulShape {
            m,
            n,
            k,
            dtype: CubeDType::Bf16,
        };
        let p = plan_matmul(shape, TileRequest::default(), &target).expect("plans");
        let t = traffic(&p);
        println!(
            "| {m} x {n} x {k} | {} x {} x {}, {}, {}, {} | {} | {:.2} | {:.2} | {} | {:.0} | {:.0} | {:.1} us | {:.1} us | {:.1} us | {} |",
            p.m,
            p.n,
            p.k,
            p.depth,
            if p.l0c_double { 2 } else { 1 },
            p.block_dim,
            mb(t.gm()),
            t.gm() as f64 / t.compulsory as f64,
            t.gm() as f64 / t.tile_minimum as f64,
            mb(t.hbm),
            t.intensity_gm(),
            t.intensity_hbm(),
            t.cube_secs * 1e6,
            t.hbm_secs() * 1e6,
            t.l2_secs() * 1e6,
            if t.cube_bound() { "yes" } else { "no" }
        );
    }
    println!();

    println!("2. emulator: 1024^3 bf16 matmul (target < 2 s)");
    let shape = MatmulShape {
        m: 1024,
        n: 1024,
        k: 1024,
        dtype: CubeDType::Bf16,
    };
    let p = plan_matmul(shape, TileRequest::default(), &target).expect("plans");
    let ones = vec![0x3f80u16; 1024 * 1024]; // bf16 1.0
    let bytes: Vec<u8> = ones.iter().flat_map(|v| v.to_le_bytes()).collect();
    let gm = |name: &str, bytes: Vec<u8>, is_output| GmArg {
        name: name.to_string(),
        bytes,
        is_output,
    };
    let mut host = Duration::ZERO;
    let wall = median(runs, || {
        let start = Instant::now();
        let report = launch_raw(RawLaunch {
            source: AIC,
            kernel: "matmul_aic_bf16",
            block_dim: p.block_dim as u32,
            core_type: CoreType::Aic,
            check: CheckMode::FULL,
            args: vec![
                gm("a", bytes.clone(), false),
                gm("b", bytes.clone(), false),
                gm("c", vec![0; 2 << 20], true),
            ],
            workspace_bytes: 0,
            tiling: tiling(&p),
        })
        .expect("the kernel runs");
        host = start.elapsed();
        // 1024 ones summed: 1024 exactly in bf16.
        assert_eq!(&report.args[2].bytes[..2], &0x4480u16.to_le_bytes());
        report.wall
    });
    println!(
        "  {} cores, tiles {} x {} x {}: kernel {} (checking mode on), whole launch {}",
        p.block_dim,
        p.m,
        p.n,
        p.k,
        duration(wall),
        duration(host)
    );
    println!();

    println!("3. frontend, specialization and cube planning (target < 100 ms)");
    for (file, name, set) in [
        ("matmul.rs", "gemm", &[("K", 1024), ("N", 1024)][..]),
        (
            "router.rs",
            "moge_router",
            &[("H", 5120), ("E", 64), ("G", 8)][..],
        ),
    ] {
        let path = Path::new(ROOT).join("examples/src").join(file);
        let source = fs::read_to_string(&path).expect("example sources are readable");
        let time = median(runs.max(5), || {
            let start = Instant::now();
            let kernel = load_kernel(file, &source, Some(name), set).expect("the example checks");
            check_matmuls(&kernel, &target).expect("its matmuls plan");
            black_box(kernel);
            start.elapsed()
        });
        println!("  {name:<12} {}", duration(time));
    }
    // The cube lowering and the Ascend C printer of the gemm example, in-process.
    let path = Path::new(ROOT).join("examples/src/matmul.rs");
    let source = fs::read_to_string(&path).expect("example sources are readable");
    let set = &[("K", 1024), ("N", 1024)][..];
    let time = median(runs.max(5), || {
        let start = Instant::now();
        let kernel =
            load_kernel("matmul.rs", &source, Some("gemm"), set).expect("the example checks");
        let op = kernel.order[2];
        let program =
            lower_matmul_kernel(&kernel, op, &target, Default::default()).expect("it lowers");
        black_box(print_program(&program).expect("it prints"));
        start.elapsed()
    });
    println!(
        "  gemm: frontend, planning, lowering to kernel IR v2 and printing Ascend C: {}",
        duration(time)
    );
}
