//! Matmul on the cube unit: the planner's tilings run by the hand-written AIC kernel
//! (tests/data/cube/matmul_aic.cpp, the spec of the lowering) on the emulator, against the reference
//! interpreter and a plain f64 reference; the traffic model against the emulator's byte counts; sync by
//! deletion; located errors for bad matmuls.
//!
//! Sizes: every size of {1, 15, 16, 17, 64, 127, 128, 1000} appears in each of the M, N and K
//! positions (24 shapes, bf16 and f16 alternating), plus the router shape T x 5120 . 5120 x 64.

use half::{bf16, f16};
use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::DType;
use moge_lower::interp::{eval, Tensor};
use moge_lower::schedule::cube::{
    plan_matmul, traffic, CubeDType, MatmulPlan, MatmulShape, TileRequest,
};
use moge_lower::target::Target;
use moge_runtime::emulator::{
    launch_raw, CheckMode, CoreType, EmuError, GmArg, RawLaunch, RawReport,
};

const AIC: &str = include_str!("../data/cube/matmul_aic.cpp");
const SIZES: [u64; 8] = [1, 15, 16, 17, 64, 127, 128, 1000];

/// xorshift64*: deterministic inputs.
struct Rng(u64);

impl Rng {
    /// Uniform in [-1, 1).
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// The shapes: each size in each position, the other two positions rotating through the list.
fn shapes() -> Vec<(u64, u64, u64)> {
    let mut out = Vec::new();
    for (i, &s) in SIZES.iter().enumerate() {
        let a = SIZES[(i + 3) % 8];
        let b = SIZES[(i + 6) % 8];
        out.extend([(s, a, b), (b, s, a), (a, b, s)]);
    }
    out
}

fn dtype_of(c: CubeDType) -> DType {
    match c {
        CubeDType::Bf16 => DType::BF16,
        CubeDType::F16 => DType::F16,
        CubeDType::F32 => DType::F32,
    }
}

/// The 16-bit pattern of `v` (already representable) in `c`.
fn bits(c: CubeDType, v: f32) -> u16 {
    match c {
        CubeDType::Bf16 => bf16::from_f32(v).to_bits(),
        _ => f16::from_f32(v).to_bits(),
    }
}

fn value(c: CubeDType, b: u16) -> f32 {
    match c {
        CubeDType::Bf16 => bf16::from_bits(b).to_f32(),
        _ => f16::from_bits(b).to_f32(),
    }
}

/// Inputs rounded to the dtype, as f32.
fn inputs(c: CubeDType, m: u64, n: u64, k: u64, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng(seed * 0x9e37_79b9 + 1);
    let mut gen = |len| {
        (0..len)
            .map(|_| value(c, bits(c, rng.unit())))
            .collect::<Vec<f32>>()
    };
    (gen(m * k), gen(k * n))
}

/// The interpreter's result for `a @ b` (through a graph kernel).
fn interpret(c: CubeDType, m: u64, n: u64, k: u64, a: &[f32], b: &[f32]) -> Vec<f32> {
    let d = c.name();
    let text = format!(
        "kernel mm(a: {d}[{m}, {k}], b: {d}[{k}, {n}]) -> (c: {d}[{m}, {n}]) {{
  v0 = param 0 : {d}[{m}, {k}]
  v1 = param 1 : {d}[{k}, {n}]
  v2 = matmul v0, v1 : {d}[{m}, {n}]
  return c = v2
}}"
    );
    let kernel = parse_kernel(&text).unwrap();
    let ta = Tensor::from_f32(dtype_of(c), vec![m as usize, k as usize], a.to_vec()).unwrap();
    let tb = Tensor::from_f32(dtype_of(c), vec![k as usize, n as usize], b.to_vec()).unwrap();
    let out = eval(&kernel, &[ta, tb]).unwrap();
    out[0].as_f32().unwrap().to_vec()
}

/// `a @ b` in f64, and the sum of magnitudes of every output's products.
fn reference(m: u64, n: u64, k: u64, a: &[f32], b: &[f32]) -> (Vec<f64>, Vec<f64>) {
    let (m, n, k) = (m as usize, n as usize, k as usize);
    let mut c = vec![0.0; m * n];
    let mut mag = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            for kk in 0..k {
                let p = f64::from(a[i * k + kk]) * f64::from(b[kk * n + j]);
                c[i * n + j] += p;
                mag[i * n + j] += p.abs();
            }
        }
    }
    (c, mag)
}

/// The tiling struct of the fixture (11 uint32_t fields, see its header comment).
fn tiling(p: &MatmulPlan) -> Vec<u8> {
    let (tm, tn) = p.tiles();
    let s = p.shape;
    let fields = [
        s.m,
        s.n,
        s.k,
        p.m,
        p.n,
        p.k,
        p.depth,
        tm,
        tn,
        p.swizzle,
        if p.l0c_double { 2 } else { 1 },
    ];
    fields
        .iter()
        .flat_map(|&f| u32::try_from(f).unwrap().to_le_bytes())
        .collect()
}

/// A launch argument.
fn gm(name: &str, bytes: Vec<u8>, is_output: bool) -> GmArg {
    GmArg {
        name: name.to_string(),
        bytes,
        is_output,
    }
}

/// Launches the first kernel of the lowered `program` (printed as `source`) at M = `m` on the emulator
/// with every check on: block dim, tiling struct and workspace from the program's expressions.
fn launch_at_m(
    program: &moge_lower::kir::v2::Program,
    source: &str,
    m: u64,
    core_type: CoreType,
    args: Vec<GmArg>,
) -> Result<RawReport, EmuError> {
    let dims = |s: moge_lower::Symbol| (s == "M").then_some(m as i64);
    let kernel = program.kernels.values().next().unwrap();
    launch_raw(RawLaunch {
        source,
        kernel: &kernel.name,
        block_dim: kernel.block_dim.eval(&dims).unwrap() as u32,
        core_type,
        check: CheckMode::FULL,
        args,
        workspace_bytes: program.workspace.eval(&dims).unwrap() as usize,
        tiling: program
            .fields
            .values()
            .flat_map(|f| f.expr.eval(&dims).unwrap().to_le_bytes())
            .collect(),
    })
}

fn run_fixture(source: &str, p: &MatmulPlan, a: &[f32], b: &[f32]) -> Result<RawReport, EmuError> {
    let c = p.shape.dtype;
    let bytes =
        |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| bits(c, x).to_le_bytes()).collect() };
    launch_raw(RawLaunch {
        source,
        kernel: if c == CubeDType::Bf16 {
            "matmul_aic_bf16"
        } else {
            "matmul_aic_f16"
        },
        block_dim: p.block_dim as u32,
        core_type: CoreType::Aic,
        check: CheckMode::FULL,
        args: vec![
            gm("a", bytes(a), false),
            gm("b", bytes(b), false),
            gm("c", vec![0; (p.shape.m * p.shape.n * 2) as usize], true),
        ],
        workspace_bytes: 0,
        tiling: tiling(p),
    })
}

fn plan(m: u64, n: u64, k: u64, dtype: CubeDType, request: TileRequest) -> MatmulPlan {
    let shape = MatmulShape { m, n, k, dtype };
    plan_matmul(shape, request, &Target::ascend910b2()).unwrap()
}

/// Runs one shape on the emulator and checks it against the interpreter (bit for bit: both sum the
/// f32 products in K order and round once) and the f64 reference (K f32 roundings of at most 2^-24 of
/// the running sum, bounded by the sum of magnitudes, plus the output rounding).
fn check_shape(m: u64, n: u64, k: u64, c: CubeDType, request: TileRequest, seed: u64) {
    let p = plan(m, n, k, c, request);
    let (a, b) = inputs(c, m, n, k, seed);
    let report = run_fixture(AIC, &p, &a, &b).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    let got: Vec<f32> = report.args[2]
        .bytes
        .chunks_exact(2)
        .map(|x| value(c, u16::from_le_bytes([x[0], x[1]])))
        .collect();
    let interp = interpret(c, m, n, k, &a, &b);
    let (want, mag) = reference(m, n, k, &a, &b);
    let out_unit = if c == CubeDType::Bf16 {
        2f64.powi(-8)
    } else {
        2f64.powi(-11)
    };
    for i in 0..got.len() {
        assert_eq!(
            got[i].to_bits(),
            interp[i].to_bits(),
            "{m}x{n}x{k} {c} element {i}: emulator {} vs interpreter {}",
            got[i],
            interp[i]
        );
        let bound = k as f64 * 2f64.powi(-24) * mag[i] * 1.01 + out_unit * want[i].abs() + 1e-30;
        assert!(
            (f64::from(got[i]) - want[i]).abs() <= bound,
            "{m}x{n}x{k} {c} element {i}: {} vs f64 {}",
            got[i],
            want[i]
        );
    }
    // The traffic model counts what the kernel's copies move.
    let t = traffic(&p);
    assert_eq!(report.gm_bytes_read, t.read, "{p:?}");
    assert_eq!(report.gm_bytes_written, t.written, "{p:?}");
}

#[test]
fn matmul_sizes_on_the_emulator_match_the_interpreter_and_f64() {
    for (index, (m, n, k)) in shapes().into_iter().enumerate() {
        let c = if index % 2 == 0 {
            CubeDType::Bf16
        } else {
            CubeDType::F16
        };
        check_shape(m, n, k, c, TileRequest::default(), index as u64);
    }
}

#[test]
fn requested_tiles_with_several_stages_slices_and_tiles_per_core() {
    // 2 cores, 16 x 32 tiles, 32-wide K slices, 2 slices per stage: K = 1000 takes 16 stages with a
    // tail, M = 127 and N = 100 take tails in both directions, each core takes many tiles.
    let request = TileRequest {
        m: Some(16),
        n: Some(32),
        k: Some(32),
        block_dim: Some(2),
    };
    let p = plan(127, 100, 1000, CubeDType::Bf16, request);
    assert_eq!((p.m, p.n, p.k, p.block_dim), (16, 32, 32, 2));
    check_shape(127, 100, 1000, CubeDType::Bf16, request, 7);
    check_shape(127, 100, 1000, CubeDType::F16, request, 8);
}

#[test]
fn the_router_shape_runs_on_all_cores() {
    // T x 5120 . 5120 x 64 (Pangu Pro MoE's router), T = 200.
    let p = plan(200, 64, 5120, CubeDType::Bf16, TileRequest::default());
    assert!(p.block_dim > 1, "{p:?}");
    check_shape(200, 64, 5120, CubeDType::Bf16, TileRequest::default(), 11);
}

#[test]
fn f32_matmul_in_the_interpreter_matches_f64() {
    // The oracle of the f32 cube tests (`f32.rs`) checked at every shape against plain f64.
    for (index, (m, n, k)) in shapes().into_iter().enumerate() {
        let (a, b) = inputs(CubeDType::F32, m, n, k, 100 + index as u64);
        let got = interpret(CubeDType::F32, m, n, k, &a, &b);
        let (want, mag) = reference(m, n, k, &a, &b);
        for i in 0..got.len() {
            let bound = (k as f64 + 1.0) * 2f64.powi(-24) * mag[i] * 1.01 + 1e-30;
            assert!(
                (f64::from(got[i]) - want[i]).abs() <= bound,
                "{m}x{n}x{k} element {i}"
            );
        }
    }
}

#[test]
fn deleting_any_flag_of_the_aic_kernel_is_reported_as_a_race() {
    // One core, many tiles, stages and slices: every flag orders something that recurs.
    let request = TileRequest {
        m: Some(16),
        n: Some(16),
        k: Some(16),
        block_dim: Some(1),
    };
    // Two K slices per L1 stage: 7 stages, both L1 and L0 slots reused.
    let p = MatmulPlan {
        depth: 2,
        ..plan(40, 40, 200, CubeDType::F16, request)
    };
    let (a, b) = inputs(CubeDType::F16, 40, 40, 200, 3);
    run_fixture(AIC, &p, &a, &b).expect("the complete kernel runs clean");
    for event in [
        "MTE2_MTE1",
        "MTE1_MTE2",
        "MTE1_M",
        "M_MTE1",
        "M_FIX",
        "FIX_M",
    ] {
        let needle = format!("HardEvent::{event}>");
        let broken: String = AIC
            .lines()
            .filter(|l| !l.contains(&needle))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(broken.len(), AIC.len(), "{event} is used");
        match run_fixture(&broken, &p, &a, &b) {
            Err(EmuError::Violation { violations, .. }) => {
                let v = &violations[0];
                assert_eq!(v.kernel, "matmul_aic_f16");
                assert!(v.core_label.starts_with("AIC"), "{v}");
            }
            Err(other) => panic!("without {event}: another error: {other}"),
            Ok(_) => panic!("without {event}: no race reported"),
        }
    }
}

#[test]
fn bad_matmuls_are_located_errors_naming_the_op_and_the_numbers() {
    use moge_lower::schedule::cube::check_matmuls;
    let target = Target::ascend910b2();
    let mm = |a: &str, b: &str, c: &str, hint: &str| {
        format!(
            "kernel mm(a: {a}, b: {b}) -> (c: {c}) {{
  v0 = param 0 : {a} @1:1-1:2
  v1 = param 1 : {b} @1:3-1:4
  {hint}
  v2 = matmul v0, v1 : {c} @4:9-4:21
  return c = v2
}}"
        )
    };
    // Shapes that disagree (graph IR text from elsewhere: the frontend refuses these earlier).
    let k = parse_kernel(&mm("f32[4, 8]", "f32[9, 2]", "f32[4, 2]", "")).unwrap();
    let e = check_matmuls(&k, &target).unwrap_err().to_string();
    assert_eq!(e, "`matmul` v2 = matmul v0, v1 at line 4, column 9: shapes disagree: a is [4, 8], b is [9, 2]; a's columns must equal b's rows");
    // An unsupported dtype pair.
    let k = parse_kernel(&mm("i32[4, 8]", "i32[8, 2]", "i32[4, 2]", "")).unwrap();
    let e = check_matmuls(&k, &target).unwrap_err().to_string();
    assert!(
        e.contains("at line 4, column 9") && e.contains("found i32 x i32"),
        "{e}"
    );
    // A tile that cannot fit L0C (bf16, 512 x 256 f32 accumulators = 524288 bytes > 131072).
    let k = parse_kernel(&mm(
        "bf16[64, 64]",
        "bf16[64, 64]",
        "bf16[64, 64]",
        "#[tile(m = 512, n = 256, k = 16)]",
    ))
    .unwrap();
    let e = check_matmuls(&k, &target).unwrap_err().to_string();
    assert!(
        e.contains("`matmul` v2 = matmul v0, v1 at line 4, column 9")
            && e.contains("L0C")
            && e.contains("524288")
            && e.contains("131072"),
        "{e}"
    );
    // A tile that cannot fit L1 at one stage: impossible when L0 fits (L1 is 4x L0A + L0B); L0B is the
    // limit for a wide k: 2 x 1024 x 16 x 2 = 65536 fits, 2 x 1024 x 32 x 2 does not.
    let k = parse_kernel(&mm(
        "f16[64, 64]",
        "f16[64, 64]",
        "f16[64, 64]",
        "#[tile(m = 16, n = 32, k = 1024)]",
    ))
    .unwrap();
    let e = check_matmuls(&k, &target).unwrap_err().to_string();
    assert!(
        e.contains("L0B") && e.contains("131072") && e.contains("65536"),
        "{e}"
    );
    // A dim too large for the tiling's integer types (K is a uint16_t row pitch of the Nd2Nz copy).
    let k = parse_kernel(&mm("f16[4, 70000]", "f16[70000, 2]", "f16[4, 2]", "")).unwrap();
    let e = check_matmuls(&k, &target).unwrap_err().to_string();
    assert!(
        e.contains("at line 4, column 9") && e.contains("K = 70000 exceeds 65535"),
        "{e}"
    );
    // Through the scheduler (what `mogec build` runs): the graph verifier refuses an integer matmul
    // first, naming the op and the operand; a tile that cannot fit is the cube check's error.
    let k = parse_kernel(&mm("i32[4, 8]", "i32[8, 2]", "i32[4, 2]", "")).unwrap();
    let e = moge_lower::schedule::schedule_kernel(&k, &target, &Default::default()).unwrap_err();
    assert!(
        e.to_string().contains("`matmul`") && e.to_string().contains("i32[4, 8]"),
        "{e}"
    );
    let k = parse_kernel(&mm(
        "bf16[64, 64]",
        "bf16[64, 64]",
        "bf16[64, 64]",
        "#[tile(m = 512, n = 256, k = 16)]",
    ))
    .unwrap();
    let e = moge_lower::schedule::schedule_kernel(&k, &target, &Default::default()).unwrap_err();
    assert!(
        e.to_string().contains("at line 4, column 9") && e.to_string().contains("524288"),
        "{e}"
    );
}

#[test]
fn the_router_example_matches_an_f64_router_at_the_pangu_shape() {
    use moge_examples::router::moge_router;
    // T x 5120 . 5120 x 64, then the gate with G = 8 groups of 8 experts.
    let (t, h, e, g) = (6usize, 5120usize, 64usize, 8usize);
    let mut rng = Rng(41);
    let x: Vec<f32> = (0..t * h).map(|_| rng.unit()).collect();
    let w: Vec<f32> = (0..h * e).map(|_| rng.unit() * 0.05).collect();
    let scale: Vec<f32> = (0..e).map(|_| 1.0 + rng.unit() * 0.5).collect();
    let tx = Tensor::from_f32(DType::BF16, vec![t, h], x).unwrap();
    let tw = Tensor::from_f32(DType::BF16, vec![h, e], w).unwrap();
    let ts = Tensor::from_f32(DType::F32, vec![e], scale.clone()).unwrap();
    let (weight, expert) = moge_router::<5120, 64, 8>::eval(&tx, &tw, &ts).unwrap();
    let (xv, wv) = (tx.as_f32().unwrap(), tw.as_f32().unwrap());
    let (logits, _) = reference(t as u64, e as u64, h as u64, xv, wv);
    let (weight, expert) = (weight.as_f32().unwrap(), expert.as_i32().unwrap());
    for r in 0..t {
        // The logits as a bf16 matmul gives them (one rounding), softmax and group maxima in f64.
        let row: Vec<f64> = (0..e)
            .map(|j| f64::from(bf16::from_f64(logits[r * e + j]).to_f32()))
            .collect();
        let max = row.iter().cloned().fold(f64::MIN, f64::max);
        let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
        let p: Vec<f64> = row.iter().map(|v| (v - max).exp() / sum).collect();
        for grp in 0..g {
            let ids = grp * e / g..(grp + 1) * e / g;
            let best = ids
                .clone()
                .fold(ids.start, |b, j| if p[j] > p[b] { j } else { b });
            let second = ids
                .clone()
                .filter(|&j| j != best)
                .map(|j| p[j])
                .fold(0.0, f64::max);
            let got = expert[r * g + grp] as usize;
            // A near tie may go either way after an f32 softmax; elsewhere the ids agree exactly.
            if p[best] - second > 1e-4 * p[best] {
                assert_eq!(got, best, "token {r} group {grp}");
            }
            let want = p[got] * f64::from(scale[got]);
            let w = f64::from(weight[r * g + grp]);
            assert!(
                (w - want).abs() <= 1e-5 * want.abs() + 1e-12,
                "token {r} group {grp}: {w} vs {want}"
            );
        }
    }
}

mod f32;
mod findings;
mod lowered;
mod mix_epilogue;
mod mix_spec;
mod mogec;
mod programs;
