//! The grouped GEMM lowering (`moge_lower::schedule::moe::gmm`) run on the emulator with every check:
//! routing tables built here from the formula (stable by expert, token-major) and passed as GM inputs,
//! results compared with the interpreter's `route`/`dispatch`/`grouped_matmul` and a plain f64 loop,
//! and the GM byte counters against the tiling's re-read factors (an expert with no rows reads no
//! weight bytes).

mod common;
use common::*;

use half::{bf16, f16};
use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::DType;
use moge_lower::interp::{eval, Tensor};
use moge_lower::kir::v2::{GmKind, HostExpr, Program};
use moge_lower::schedule::cube::CubeDType;
use moge_lower::schedule::moe::gmm::{
    lower_grouped_matmul, plan_gmm, GmmA, GmmOut, GmmRows, GmmSpec,
};
use moge_lower::target::Target;
use moge_runtime::emulator::{launch_raw, CheckMode, CoreType, GmArg, RawLaunch, RawReport};

/// A routing problem: `t` tokens, `ks` slots each, `e` experts, `ids[t*ks + k]` the chosen experts.
struct Routing {
    t: usize,
    ks: usize,
    e: usize,
    ids: Vec<i32>,
}

impl Routing {
    /// `order` (destination row -> slot) and `offsets` (first row of each expert), from the definition:
    /// a stable counting sort of the slots by expert.
    fn table(&self) -> (Vec<i32>, Vec<i32>) {
        let mut offsets = vec![0i32; self.e + 1];
        for &id in &self.ids {
            offsets[id as usize + 1] += 1;
        }
        for i in 0..self.e {
            offsets[i + 1] += offsets[i];
        }
        let mut order = vec![];
        for ex in 0..self.e as i32 {
            for (p, &id) in self.ids.iter().enumerate() {
                if id == ex {
                    order.push(p as i32);
                }
            }
        }
        (order, offsets)
    }

    fn rows_of(&self, ex: usize) -> usize {
        self.ids.iter().filter(|&&i| i as usize == ex).count()
    }
}

/// The 16-bit operand types.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Half {
    Bf16,
    F16,
}

impl Half {
    fn name(self) -> &'static str {
        match self {
            Half::Bf16 => "bf16",
            Half::F16 => "f16",
        }
    }

    fn dtype(self) -> DType {
        match self {
            Half::Bf16 => DType::BF16,
            Half::F16 => DType::F16,
        }
    }

    fn cube(self) -> CubeDType {
        match self {
            Half::Bf16 => CubeDType::Bf16,
            Half::F16 => CubeDType::F16,
        }
    }

    fn bits(self, x: f32) -> u16 {
        match self {
            Half::Bf16 => bf16::from_f32(x).to_bits(),
            Half::F16 => f16::from_f32(x).to_bits(),
        }
    }

    fn value(self, b: u16) -> f32 {
        match self {
            Half::Bf16 => bf16::from_bits(b).to_f32(),
            Half::F16 => f16::from_bits(b).to_f32(),
        }
    }

    /// The relative rounding of the type (bf16 2^-8, f16 2^-11).
    fn eps(self) -> f64 {
        match self {
            Half::Bf16 => 2f64.powi(-8),
            Half::F16 => 2f64.powi(-11),
        }
    }
}

const BF: Half = Half::Bf16;

/// Values in [-1, 1) rounded to `dt`.
fn values(dt: Half, rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| dt.value(dt.bits(rng.unit()))).collect()
}

fn half_bytes(dt: Half, v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|&x| dt.bits(x).to_le_bytes()).collect()
}

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The interpreter's `grouped_matmul(dispatch(x, r), w, r)` with `r = route(ids)`.
fn interpret(r: &Routing, h: usize, n: usize, x: &[f32], w: &[f32]) -> Vec<f32> {
    interpret_with(BF, r, h, n, x, w, false)
}

/// [`interpret`], then `swiglu` of the result when `swiglu`.
fn interpret_with(
    dt: Half,
    r: &Routing,
    h: usize,
    n: usize,
    x: &[f32],
    w: &[f32],
    swiglu: bool,
) -> Vec<f32> {
    let d = dt.name();
    let (t, ks, e) = (r.t, r.ks, r.e);
    let rows = t * ks;
    let half = n / 2;
    let (tail, ret, out_n) = if swiglu {
        (
            format!("\n  v6 = swiglu v5 : {d}[{rows}, {half}]"),
            "v6",
            half,
        )
    } else {
        (String::new(), "v5", n)
    };
    let text = format!(
        "kernel g(x: {d}[{t}, {h}], ids: i32[{t}, {ks}], w: {d}[{e}, {h}, {n}]) -> (y: {d}[{rows}, {out_n}]) {{
  v0 = param 0 : {d}[{t}, {h}]
  v1 = param 1 : i32[{t}, {ks}]
  v2 = param 2 : {d}[{e}, {h}, {n}]
  v3 = route v1, experts={e} : routes[{t}, {ks}, {e}]
  v4 = dispatch v0, v3 : {d}[{rows}, {h}]
  v5 = grouped_matmul v4, v2, v3 : {d}[{rows}, {n}]{tail}
  return y = {ret}
}}"
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let inputs = [
        Tensor::from_f32(dt.dtype(), vec![t, h], x.to_vec()).unwrap(),
        Tensor::from_i32(vec![t, ks], r.ids.clone()).unwrap(),
        Tensor::from_f32(dt.dtype(), vec![e, h, n], w.to_vec()).unwrap(),
    ];
    let out = eval(&kernel, &inputs).unwrap_or_else(|e| panic!("{e}"));
    out[0].as_f32().unwrap().to_vec()
}

/// Launches the program's only kernel at `T = t` with `inputs` by name; returns the report and the
/// outputs by name.
fn launch(p: &Program, t: usize, inputs: &[(&str, Vec<u8>)], core: CoreType) -> RawReport {
    launch_as(p, t, inputs, &[], core)
}

/// [`launch`] of a MIX program whose outputs `initial` start with the given bytes.
fn launch_with(
    p: &Program,
    t: usize,
    inputs: &[(&str, Vec<u8>)],
    initial: &[(&str, Vec<u8>)],
) -> RawReport {
    launch_as(p, t, inputs, initial, CoreType::MixAic1_2)
}

fn launch_as(
    p: &Program,
    t: usize,
    inputs: &[(&str, Vec<u8>)],
    initial: &[(&str, Vec<u8>)],
    core: CoreType,
) -> RawReport {
    let dims = |s: moge_lower::Symbol| (s == "T").then_some(t as i64);
    let sources = moge_codegen_ascendc::print_v2::print_program(p).unwrap();
    let source = &sources[0].1;
    let kernel = p.kernels.values().next().unwrap();
    let args: Vec<GmArg> = kernel
        .params
        .iter()
        .filter(|&&g| p.gm[g].kind.is_param())
        .map(|&g| {
            let d = &p.gm[g];
            if let Some((_, bytes)) = initial.iter().find(|(n, _)| *n == d.name) {
                GmArg {
                    name: d.name.clone(),
                    bytes: bytes.clone(),
                    is_output: true,
                }
            } else if d.kind == GmKind::Output {
                let elems: i64 = d.shape.iter().map(|s| s.eval(&dims).unwrap()).product();
                output(&d.name, elems as usize * d.dtype.size_bytes())
            } else {
                let bytes = inputs
                    .iter()
                    .find(|(n, _)| *n == d.name)
                    .unwrap_or_else(|| panic!("no input `{}`", d.name))
                    .1
                    .clone();
                input(&d.name, bytes)
            }
        })
        .collect();
    launch_raw(RawLaunch {
        source,
        kernel: &kernel.name,
        block_dim: kernel.block_dim.eval(&dims).unwrap() as u32,
        core_type: core,
        check: CheckMode::FULL,
        args,
        workspace_bytes: p.workspace.eval(&dims).unwrap() as usize,
        tiling: p
            .fields
            .values()
            .flat_map(|f| f.expr.eval(&dims).unwrap().to_le_bytes())
            .collect(),
    })
    .unwrap_or_else(|e| panic!("{e}\n{source}"))
}

fn out_half(dt: Half, report: &RawReport, name: &str) -> Vec<f32> {
    let arg = report.args.iter().find(|a| a.name == name).unwrap();
    bytes_u16(&arg.bytes)
        .into_iter()
        .map(|b| dt.value(b))
        .collect()
}

fn spec<'a>(dt: Half, gather: bool, r: &Routing, h: u64, n: u64, swiglu: bool) -> GmmSpec<'a> {
    let t = HostExpr::dim("T");
    GmmSpec {
        program: "gmm",
        a: if gather {
            GmmA::Gather {
                x: "x",
                order: "r_order",
                k_slots: r.ks as u64,
            }
        } else {
            GmmA::Rows { a: "a" }
        },
        w: "w",
        rows: GmmRows::Routed {
            offsets: "r_offsets",
            experts: r.e as u64,
        },
        out: if swiglu {
            GmmOut::Swiglu { act: "y" }
        } else {
            GmmOut::Store {
                c: "y",
                dtype: dt.dtype(),
            }
        },
        k: h,
        n,
        dtype: dt.cube(),
        total_rows: HostExpr::Mul(Box::new(t.clone()), Box::new(HostExpr::Int(r.ks as i64))),
        tokens: t,
    }
}

/// Runs the routed GEMM (rows given, or gathered from `x`) on the emulator and checks it against the
/// interpreter (bit for bit), an f64 loop (bf16 rounding) and the GM byte count of its tiling.
fn check_routed(dt: Half, r: &Routing, h: usize, n: usize, gather: bool, seed: u64) {
    let what = format!(
        "{} T={} K={} E={} H={h} N={n} gather={gather}",
        dt.name(),
        r.t,
        r.ks,
        r.e
    );
    let target = Target::ascend910b2();
    let sp = spec(dt, gather, r, h as u64, n as u64, false);
    let program = lower_grouped_matmul(&sp, &target).unwrap_or_else(|e| panic!("{what}: {e}"));
    let plan = plan_gmm(&sp, &target).unwrap();
    let mut rng = Rng(seed);
    let x = values(dt, &mut rng, r.t * h);
    let w = values(dt, &mut rng, r.e * h * n);
    let (order, offsets) = r.table();
    let rows = r.t * r.ks;
    let a: Vec<f32> = order
        .iter()
        .flat_map(|&p| x[(p as usize / r.ks) * h..][..h].to_vec())
        .collect();
    let inputs = [
        ("x", half_bytes(dt, &x)),
        ("a", half_bytes(dt, &a)),
        ("w", half_bytes(dt, &w)),
        ("r_order", i32_bytes(&order)),
        ("r_offsets", i32_bytes(&offsets)),
    ];
    let report = launch(&program, r.t, &inputs, CoreType::Aic);
    let got = out_half(dt, &report, "y");
    assert_eq!(got.len(), rows * n, "{what}");
    let want = interpret_with(dt, r, h, n, &x, &w, false);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: element {i}: {g} vs {w}");
    }
    // f64 loop: row d of expert e is a[d] @ w[e]; the rounding of the result to dt plus
    // the f32 accumulation of h products.
    for ex in 0..r.e {
        for d in offsets[ex] as usize..offsets[ex + 1] as usize {
            for j in 0..n {
                let (mut s, mut mag) = (0.0f64, 0.0f64);
                for kk in 0..h {
                    let p = f64::from(a[d * h + kk]) * f64::from(w[(ex * h + kk) * n + j]);
                    s += p;
                    mag += p.abs();
                }
                let g = f64::from(got[d * n + j]);
                let tol = s.abs() * dt.eps() + mag * h as f64 * 2f64.powi(-24) + 1e-30;
                assert!((g - s).abs() <= tol, "{what}: ({d}, {j}): {g} vs {s}");
            }
        }
    }
    // GM bytes read: per used expert, its weights once per m-tile and its A rows once per n-tile
    // (through `order` when gathered: one i32 per row and K stage), plus the two offsets per item.
    let e2 = 2u64;
    let tiles_n = (n as u64).div_ceil(plan.n);
    let stages = (h as u64).div_ceil(plan.depth * plan.k);
    let mut want_read = r.e as u64 * tiles_n * 2 * 4;
    for ex in 0..r.e {
        let re = r.rows_of(ex) as u64;
        want_read += re.div_ceil(plan.m) * (h * n) as u64 * e2;
        want_read += tiles_n * re * h as u64 * e2;
        if gather {
            want_read += tiles_n * re * stages * 4;
        }
    }
    assert_eq!(report.gm_bytes_read, want_read, "{what}: GM bytes read");
    assert_eq!(
        report.gm_bytes_written,
        (rows * n * 2) as u64,
        "{what}: GM bytes written"
    );
}

/// Expert ids of `t` tokens with `ks` distinct experts each out of `e`, from `pick(token, slot)`.
fn routing(t: usize, ks: usize, e: usize, pick: impl Fn(usize, usize) -> usize) -> Routing {
    let mut ids = vec![];
    for tok in 0..t {
        for s in 0..ks {
            ids.push(pick(tok, s) as i32 % e as i32);
        }
    }
    Routing { t, ks, e, ids }
}

/// Rows 33, 1, 15, 17 for experts 3, 0, 1, 2 (two slots of 33 tokens): a full and a partial
/// 16-row block, a single row, and an expert over two row blocks.
fn ragged() -> Routing {
    routing(33, 2, 4, |t, s| match (s, t) {
        (0, _) => 3,
        (_, 0) => 0,
        (_, 1..=15) => 1,
        _ => 2,
    })
}

/// 64 experts, 8 slots: token `t` picks one expert of each group of 8, so most experts are empty.
fn decode64(t: usize) -> Routing {
    routing(t, 8, 64, |tok, s| 8 * s + (tok * 3 + s) % 8)
}

#[test]
fn routed_rows_with_empty_experts_and_ragged_row_counts_match_the_interpreter() {
    // Expert 1 empty, expert 0 with 17 rows, 2 with 15, 3 with 2; K and N not tile multiples.
    let r = routing(17, 2, 4, |t, s| {
        if s == 0 {
            0
        } else if t < 15 {
            2
        } else {
            3
        }
    });
    check_routed(BF, &r, 40, 72, false, 1);
    // One expert with all rows.
    check_routed(BF, &routing(33, 1, 4, |_, _| 2), 64, 48, false, 2);
    check_routed(BF, &ragged(), 200, 300, false, 3);
    check_routed(Half::F16, &ragged(), 200, 300, false, 3);
}

#[test]
fn the_gather_prologue_reads_each_row_of_x_through_order() {
    let r = routing(17, 2, 4, |t, s| {
        if s == 0 {
            0
        } else if t < 15 {
            2
        } else {
            3
        }
    });
    check_routed(BF, &r, 40, 72, true, 4);
    check_routed(BF, &ragged(), 200, 300, true, 5);
}

#[test]
fn sixty_four_experts_mostly_empty_and_no_tokens() {
    check_routed(BF, &decode64(5), 96, 80, true, 6);
    check_routed(BF, &decode64(3), 96, 80, false, 7);
    check_routed(BF, &decode64(0), 96, 80, true, 8);
    check_routed(BF, &decode64(0), 96, 80, false, 9);
}

/// The interpreter's `matmul(a, w)`.
fn interpret_dense(m: usize, h: usize, n: usize, a: &[f32], w: &[f32], swiglu: bool) -> Vec<f32> {
    let half = n / 2;
    let (tail, ret, out_n) = if swiglu {
        (
            format!("\n  v3 = swiglu v2 : bf16[{m}, {half}]"),
            "v3",
            half,
        )
    } else {
        (String::new(), "v2", n)
    };
    let text = format!(
        "kernel d(a: bf16[{m}, {h}], w: bf16[{h}, {n}]) -> (y: bf16[{m}, {out_n}]) {{
  v0 = param 0 : bf16[{m}, {h}]
  v1 = param 1 : bf16[{h}, {n}]
  v2 = matmul v0, v1 : bf16[{m}, {n}]{tail}
  return y = {ret}
}}"
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let inputs = [
        Tensor::from_f32(DType::BF16, vec![m, h], a.to_vec()).unwrap(),
        Tensor::from_f32(DType::BF16, vec![h, n], w.to_vec()).unwrap(),
    ];
    let out = eval(&kernel, &inputs).unwrap_or_else(|e| panic!("{e}"));
    out[0].as_f32().unwrap().to_vec()
}

/// The dense GEMM (the shared expert) of `m` rows: bit-equal to the interpreter's matmul (and SwiGLU
/// when `swiglu`), and without the epilogue its GM reads are the weights once per m-tile and A once per
/// n-tile.
fn check_dense(m: usize, h: usize, n: usize, swiglu: bool, seed: u64) {
    let what = format!("dense M={m} H={h} N={n} swiglu={swiglu}");
    let target = Target::ascend910b2();
    let t = HostExpr::dim("T");
    let sp = GmmSpec {
        program: "shared",
        a: GmmA::Rows { a: "x" },
        w: "w_shared",
        rows: GmmRows::Dense,
        out: if swiglu {
            GmmOut::Swiglu { act: "y" }
        } else {
            GmmOut::Store {
                c: "y",
                dtype: DType::BF16,
            }
        },
        k: h as u64,
        n: n as u64,
        dtype: CubeDType::Bf16,
        total_rows: t.clone(),
        tokens: t,
    };
    let program = lower_grouped_matmul(&sp, &target).unwrap_or_else(|e| panic!("{what}: {e}"));
    let plan = plan_gmm(&sp, &target).unwrap();
    let mut rng = Rng(seed);
    let a = values(BF, &mut rng, m * h);
    let w = values(BF, &mut rng, h * n);
    let inputs = [("x", half_bytes(BF, &a)), ("w_shared", half_bytes(BF, &w))];
    let core = if swiglu {
        CoreType::MixAic1_2
    } else {
        CoreType::Aic
    };
    let report = launch(&program, m, &inputs, core);
    let got = out_half(BF, &report, "y");
    let want = interpret_dense(m, h, n, &a, &w, swiglu);
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: element {i}: {g} vs {w}");
    }
    if swiglu {
        return;
    }
    let (m, h, n) = (m as u64, h as u64, n as u64);
    let want_read = (m.div_ceil(plan.m) * h * n + n.div_ceil(plan.n) * m * h) * 2;
    assert_eq!(report.gm_bytes_read, want_read, "{what}: GM bytes read");
}

#[test]
fn dense_rows_of_the_shared_expert_match_the_interpreter() {
    for (m, seed) in [(0, 10), (1, 11), (37, 12), (300, 13)] {
        check_dense(m, 200, 300, false, seed);
    }
    for (m, seed) in [(0, 14), (37, 15), (300, 16)] {
        check_dense(m, 200, 160, true, seed);
    }
}

/// The routed GEMM with the SwiGLU epilogue (a MIX kernel): `act = swiglu(grouped_matmul(..))` of the
/// interpreter within one bf16 rounding (the emulator's vector `Exp` against Rust's `exp`), and most
/// elements bit-equal; the output written once.
fn check_swiglu(dt: Half, r: &Routing, h: usize, i: usize, gather: bool, seed: u64) {
    let n = 2 * i;
    let what = format!(
        "swiglu {} T={} K={} E={} H={h} I={i} gather={gather}",
        dt.name(),
        r.t,
        r.ks,
        r.e
    );
    let target = Target::ascend910b2();
    let sp = spec(dt, gather, r, h as u64, n as u64, true);
    let program = lower_grouped_matmul(&sp, &target).unwrap_or_else(|e| panic!("{what}: {e}"));
    let plan = plan_gmm(&sp, &target).unwrap();
    let mut rng = Rng(seed);
    let x = values(dt, &mut rng, r.t * h);
    let w = values(dt, &mut rng, r.e * h * n);
    let (order, offsets) = r.table();
    let rows = r.t * r.ks;
    let a: Vec<f32> = order
        .iter()
        .flat_map(|&p| x[(p as usize / r.ks) * h..][..h].to_vec())
        .collect();
    let inputs = [
        ("x", half_bytes(dt, &x)),
        ("a", half_bytes(dt, &a)),
        ("w", half_bytes(dt, &w)),
        ("r_order", i32_bytes(&order)),
        ("r_offsets", i32_bytes(&offsets)),
    ];
    let report = launch(&program, r.t, &inputs, CoreType::MixAic1_2);
    let got = out_half(dt, &report, "y");
    assert_eq!(got.len(), rows * i, "{what}");
    let want = interpret_with(dt, r, h, n, &x, &w, true);
    // Bit-equal: the emulator's vector ops round as the interpreter's f32 arithmetic does.
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: element {k}: {g} vs {w}");
    }
    // The output once, and the workspace: both rounded halves of every row once (2 I per row).
    assert_eq!(
        report.gm_bytes_written,
        (rows * i * 2 + rows * 2 * i * 2) as u64,
        "{what}: GM bytes written"
    );
    // GM bytes read: per used expert its gate and up weights once per m-tile and its A rows once per
    // tile of each half (with the gathered rows' `order` entries once per K stage), the two offsets
    // of every item by the AIC and both AIVs, and every rounded half-tile once from the workspace.
    let tiles_n = (i as u64).div_ceil(plan.n);
    let stages = (h as u64).div_ceil(plan.depth * plan.k);
    let mut want_read = r.e as u64 * tiles_n * 2 * 4 * 3 + (rows * 2 * i * 2) as u64;
    for ex in 0..r.e {
        let re = r.rows_of(ex) as u64;
        want_read += re.div_ceil(plan.m) * (h * 2 * i * 2) as u64;
        want_read += 2 * tiles_n * re * h as u64 * 2;
        if gather {
            want_read += 2 * tiles_n * re * stages * 4;
        }
    }
    assert_eq!(report.gm_bytes_read, want_read, "{what}: GM bytes read");
}

#[test]
fn the_swiglu_epilogue_matches_the_interpreter() {
    // Experts 0, 20 and 44 with 100 rows (two m-tiles each) and 1..=7 with about 43: cores 0 and 20
    // take two items, so consecutive tiles switch slots within and across items.
    let heavy = routing(300, 2, 64, |t, s| {
        if s == 0 {
            [0, 20, 44][t % 3]
        } else {
            1 + t % 7
        }
    });
    check_swiglu(BF, &heavy, 200, 96, true, 23);
    check_swiglu(BF, &ragged(), 64, 48, false, 20);
    check_swiglu(Half::F16, &ragged(), 64, 48, true, 24);
    check_swiglu(BF, &decode64(5), 96, 64, true, 21);
    check_swiglu(BF, &decode64(0), 96, 64, true, 22);
}

/// The interpreter's `combine(cast<f32>(grouped_matmul(dispatch(x, r), w, r)), r, weights)`, f32
/// `(T, N)`.
fn interpret_combine(
    r: &Routing,
    h: usize,
    n: usize,
    x: &[f32],
    w: &[f32],
    weights: &[f32],
) -> Vec<f32> {
    let (t, ks, e) = (r.t, r.ks, r.e);
    let rows = t * ks;
    let text = format!(
        "kernel c(x: bf16[{t}, {h}], ids: i32[{t}, {ks}], w: bf16[{e}, {h}, {n}], p: f32[{t}, {ks}]) -> (y: f32[{t}, {n}]) {{
  v0 = param 0 : bf16[{t}, {h}]
  v1 = param 1 : i32[{t}, {ks}]
  v2 = param 2 : bf16[{e}, {h}, {n}]
  v3 = param 3 : f32[{t}, {ks}]
  v4 = route v1, experts={e} : routes[{t}, {ks}, {e}]
  v5 = dispatch v0, v4 : bf16[{rows}, {h}]
  v6 = grouped_matmul v5, v2, v4 : bf16[{rows}, {n}]
  v7 = cast v6, to=f32 : f32[{rows}, {n}]
  v8 = combine v7, v4, v3 : f32[{t}, {n}]
  return y = v8
}}"
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let inputs = [
        Tensor::from_f32(DType::BF16, vec![t, h], x.to_vec()).unwrap(),
        Tensor::from_i32(vec![t, ks], r.ids.clone()).unwrap(),
        Tensor::from_f32(DType::BF16, vec![e, h, n], w.to_vec()).unwrap(),
        Tensor::from_f32(DType::F32, vec![t, ks], weights.to_vec()).unwrap(),
    ];
    let out = eval(&kernel, &inputs).unwrap_or_else(|e| panic!("{e}"));
    out[0].as_f32().unwrap().to_vec()
}

/// The routed GEMM with the combine epilogue (a MIX kernel): `acc` starts at `init` and gets every
/// routed row's weighted, rounded result added into its token's row. Against `init` plus the
/// interpreter's combine (f32; the atomic adds run in any order, so within the reassociation error
/// of `K + 1` terms).
fn check_combine(r: &Routing, h: usize, n: usize, gather: bool, seed: u64) {
    let what = format!(
        "combine T={} K={} E={} H={h} N={n} gather={gather}",
        r.t, r.ks, r.e
    );
    let target = Target::ascend910b2();
    let mut sp = spec(BF, gather, r, h as u64, n as u64, false);
    sp.out = GmmOut::Combine {
        weights: "r_weights",
        order: "r_order",
        k_slots: r.ks as u64,
        acc: "acc",
    };
    let program = lower_grouped_matmul(&sp, &target).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut rng = Rng(seed);
    let x = values(BF, &mut rng, r.t * h);
    let w = values(BF, &mut rng, r.e * h * n);
    let slot_weights: Vec<f32> = (0..r.t * r.ks).map(|_| rng.unit().abs()).collect();
    let init: Vec<f32> = (0..r.t * n).map(|_| rng.unit()).collect();
    let (order, offsets) = r.table();
    let rows = r.t * r.ks;
    let a: Vec<f32> = order
        .iter()
        .flat_map(|&p| x[(p as usize / r.ks) * h..][..h].to_vec())
        .collect();
    let row_weights: Vec<f32> = order.iter().map(|&p| slot_weights[p as usize]).collect();
    let inputs = [
        ("x", half_bytes(BF, &x)),
        ("a", half_bytes(BF, &a)),
        ("w", half_bytes(BF, &w)),
        ("r_order", i32_bytes(&order)),
        ("r_offsets", i32_bytes(&offsets)),
        ("r_weights", f32_bytes(&row_weights)),
    ];
    let report = launch_with(&program, r.t, &inputs, &[("acc", f32_bytes(&init))]);
    let acc_arg = report.args.iter().find(|a| a.name == "acc").unwrap();
    let got = bytes_f32(&acc_arg.bytes);
    let want = interpret_combine(r, h, n, &x, &w, &slot_weights);
    assert_eq!(got.len(), want.len(), "{what}");
    // The rounded results of the GEMM, to bound the terms.
    let y = interpret(r, h, n, &x, &w);
    for t in 0..r.t {
        for j in 0..n {
            let mut mag = init[t * n + j].abs();
            for k in 0..r.ks {
                let p = t * r.ks + k;
                let d = order.iter().position(|&o| o as usize == p).unwrap();
                mag += (slot_weights[p] * y[d * n + j]).abs();
            }
            let g = got[t * n + j];
            let e = init[t * n + j] + want[t * n + j];
            let tol = mag * (r.ks as f32 + 2.0) * 2f32.powi(-23);
            assert!(
                (g - e).abs() <= tol,
                "{what}: ({t}, {j}): {g} vs {e} (tolerance {tol})"
            );
        }
    }
    // The slots once (bf16), and every row's f32 atomic add.
    assert_eq!(
        report.gm_bytes_written,
        (rows * n * 2 + rows * n * 4) as u64,
        "{what}: GM bytes written"
    );
}

#[test]
fn the_combine_epilogue_adds_weighted_rows_into_their_tokens() {
    check_combine(&ragged(), 64, 48, false, 30);
    let heavy = routing(300, 2, 64, |t, s| {
        if s == 0 {
            [0, 20, 44][t % 3]
        } else {
            1 + t % 7
        }
    });
    check_combine(&heavy, 200, 96, true, 31);
    check_combine(&decode64(5), 96, 64, true, 32);
    check_combine(&decode64(0), 96, 64, false, 33);
}

/// Offsets out of range and decreasing, and slots of `order` out of range: the values read on the
/// device are clamped before they address GM, so the kernels run without an out-of-bounds access
/// (the emulator checks every one); rows of an intact expert are still right.
#[test]
fn corrupt_tables_never_address_gm_outside_the_buffers() {
    let (t, ks, e, h, n) = (5usize, 8usize, 4usize, 32usize, 48usize);
    let rows = t * ks;
    let r = Routing {
        t,
        ks,
        e,
        ids: vec![0; rows],
    };
    // Expert 0: rows 0..3; 1: none; 2: rows 3..40 (its end is past the rows); 3: starts past them.
    let offsets = [-5, 3, 3, 1000, 2000];
    let order: Vec<i32> = (0..rows as i32)
        .map(|d| [-7, 99_999, i32::MIN, i32::MAX, d][d as usize % 5])
        .collect();
    let mut rng = Rng(40);
    let x = values(BF, &mut rng, t * h);
    let a = values(BF, &mut rng, rows * h);
    let w = values(BF, &mut rng, e * h * n);
    let weights: Vec<f32> = (0..rows).map(|_| rng.unit()).collect();
    let inputs = [
        ("x", half_bytes(BF, &x)),
        ("a", half_bytes(BF, &a)),
        ("w", half_bytes(BF, &w)),
        ("r_order", i32_bytes(&order)),
        ("r_offsets", i32_bytes(&offsets)),
        ("r_weights", f32_bytes(&weights)),
    ];
    let target = Target::ascend910b2();
    for gather in [false, true] {
        let sp = spec(BF, gather, &r, h as u64, n as u64, false);
        let program = lower_grouped_matmul(&sp, &target).unwrap();
        let report = launch(&program, t, &inputs, CoreType::Aic);
        if !gather {
            let got = out_half(BF, &report, "y");
            for d in 0..3 {
                for j in 0..n {
                    let s: f64 = (0..h)
                        .map(|k| f64::from(a[d * h + k]) * f64::from(w[k * n + j]))
                        .sum();
                    let g = f64::from(got[d * n + j]);
                    assert!(
                        (g - s).abs() <= s.abs() * BF.eps() + 1e-3,
                        "({d}, {j}): {g} vs {s}"
                    );
                }
            }
        }
    }
    let mut sp = spec(BF, true, &r, h as u64, n as u64, false);
    sp.out = GmmOut::Combine {
        weights: "r_weights",
        order: "r_order",
        k_slots: ks as u64,
        acc: "acc",
    };
    let program = lower_grouped_matmul(&sp, &target).unwrap();
    launch_with(&program, t, &inputs, &[("acc", vec![0; t * n * 4])]);
}

/// `Store` in f32: the accumulator as is. Rounded to bf16 it is the bf16 store bit for bit (Fixpipe
/// rounds the same accumulator), and it is within the f32 accumulation error of the f64 product.
#[test]
fn an_f32_store_is_the_unrounded_accumulator() {
    let r = ragged();
    let (h, n) = (200usize, 72usize);
    let target = Target::ascend910b2();
    let mut sp = spec(BF, true, &r, h as u64, n as u64, false);
    sp.out = GmmOut::Store {
        c: "y",
        dtype: DType::F32,
    };
    let program = lower_grouped_matmul(&sp, &target).unwrap();
    let mut rng = Rng(50);
    let x = values(BF, &mut rng, r.t * h);
    let w = values(BF, &mut rng, r.e * h * n);
    let (order, offsets) = r.table();
    let inputs = [
        ("x", half_bytes(BF, &x)),
        ("w", half_bytes(BF, &w)),
        ("r_order", i32_bytes(&order)),
        ("r_offsets", i32_bytes(&offsets)),
    ];
    let report = launch(&program, r.t, &inputs, CoreType::Aic);
    let arg = report.args.iter().find(|a| a.name == "y").unwrap();
    let got = bytes_f32(&arg.bytes);
    let rounded = interpret(&r, h, n, &x, &w);
    assert_eq!(got.len(), rounded.len());
    for ex in 0..r.e {
        for d in offsets[ex] as usize..offsets[ex + 1] as usize {
            let tok = order[d] as usize / r.ks;
            for j in 0..n {
                let g = got[d * n + j];
                assert_eq!(
                    bf16::from_f32(g).to_f32().to_bits(),
                    rounded[d * n + j].to_bits(),
                    "({d}, {j})"
                );
                let (mut s, mut mag) = (0.0f64, 0.0f64);
                for k in 0..h {
                    let p = f64::from(x[tok * h + k]) * f64::from(w[(ex * h + k) * n + j]);
                    s += p;
                    mag += p.abs();
                }
                let tol = mag * h as f64 * 2f64.powi(-24) + 1e-30;
                assert!((f64::from(g) - s).abs() <= tol, "({d}, {j}): {g} vs {s}");
            }
        }
    }
}
