//! The MoE row kernels (`moge_lower::schedule::moe::rows`) on the emulator with every check on: the
//! row gather as `dispatch` and as the router-weight gather, `combine` and the one-operand SwiGLU,
//! against the graph-IR interpreter (bit for bit) and plain references written here from the
//! formulas, over routing patterns, token counts from 0 to 1000 and row widths that need column
//! chunks.

mod common;
use common::Rng;

use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::DType;
use moge_lower::interp::{self, Tensor};
use moge_lower::kir::v2::{GmBufData, GmKind, HostExpr, InstData, Linker, Pipe, Program, Stmt};
use moge_lower::schedule::moe::rows::{
    lower_combine, lower_row_gather, lower_swiglu, CombineSpec, RowGather, SwigluSpec,
};
use moge_lower::target::Target;
use moge_lower::Symbol;
use moge_runtime::emulator::{launch_raw, CheckMode, CoreType, GmArg, RawLaunch};
use moge_runtime::launch::{pack, unpack};

/// Runs every kernel of `p` on the emulator (full checks) with the dim `T` = `t`; `inputs` by GM
/// buffer name; returns the output buffers by name, unpacked. Panics on an emulator error.
fn run(p: &Program, t: i64, inputs: &[(&str, &Tensor)]) -> Vec<(String, Tensor)> {
    try_run(p, t, inputs).unwrap_or_else(|e| {
        panic!(
            "T = {t}: {e}\n{}",
            moge_lower::kir::v2::program_to_string(p)
        )
    })
}

/// [`run`], with the emulator's error as the error.
fn try_run(
    p: &Program,
    t: i64,
    inputs: &[(&str, &Tensor)],
) -> Result<Vec<(String, Tensor)>, String> {
    let dim = Symbol::intern("T");
    let eval = |e: &HostExpr| {
        e.eval(&|s| (s == dim).then_some(t))
            .unwrap_or_else(|err| panic!("{e}: {err}"))
    };
    let shape = |g: &moge_lower::kir::v2::GmBufData| -> Vec<usize> {
        g.shape.iter().map(|e| eval(e) as usize).collect()
    };
    let mut bufs: Vec<Vec<u8>> =
        p.gm.values()
            .map(|g| match inputs.iter().find(|(n, _)| *n == g.name) {
                Some((_, tensor)) => {
                    assert_eq!(tensor.shape, shape(g), "input {}", g.name);
                    pack(tensor)
                }
                // Outputs start as NaN-ish bytes, so a row never written cannot pass for a zero.
                None => vec![0xff; shape(g).iter().product::<usize>() * g.dtype.size_bytes()],
            })
            .collect();
    let tiling: Vec<u8> = p
        .fields
        .values()
        .flat_map(|f| eval(&f.expr).to_le_bytes())
        .collect();
    let sources = moge_codegen_ascendc::print_v2::print_program(p).expect("prints");
    for ((name, source), k) in sources.iter().zip(p.kernels.values()) {
        let args: Vec<GmArg> = k
            .params
            .iter()
            .map(|g| GmArg {
                name: p.gm[*g].name.clone(),
                bytes: bufs[g.as_u32() as usize].clone(),
                // Intermediates are written by one kernel and read by a later one.
                is_output: p.gm[*g].kind != GmKind::Input,
            })
            .collect();
        let report = launch_raw(RawLaunch {
            source,
            kernel: name,
            block_dim: eval(&k.block_dim) as u32,
            core_type: CoreType::Aiv,
            check: CheckMode::FULL,
            args,
            workspace_bytes: 0,
            tiling: tiling.clone(),
        })
        .map_err(|e| format!("{name}: {e}"))?;
        for (g, arg) in k.params.iter().zip(report.args) {
            bufs[g.as_u32() as usize] = arg.bytes;
        }
    }
    Ok(p.gm
        .iter()
        .filter(|(_, g)| g.kind == GmKind::Output)
        .map(|(id, g)| {
            let tensor = unpack(g.dtype, shape(g), &bufs[id.as_u32() as usize]);
            (g.name.clone(), tensor)
        })
        .collect())
}

/// The routing table of `ids` (T x K) over `e` experts, written from its definition: destination
/// rows sorted by expert, stable (token-major) within an expert. Returns (order, position).
fn routes(ids: &[i32], e: usize) -> (Vec<i32>, Vec<i32>) {
    let mut order = vec![];
    for expert in 0..e as i32 {
        order.extend(
            (0..ids.len())
                .filter(|&p| ids[p] == expert)
                .map(|p| p as i32),
        );
    }
    let mut position = vec![0; ids.len()];
    for (d, &p) in order.iter().enumerate() {
        position[p as usize] = d as i32;
    }
    (order, position)
}

/// Expert ids of `t` tokens, `k` slots, `e` experts in one of the routing patterns.
fn expert_ids(pattern: &str, t: usize, k: usize, e: usize, rng: &mut Rng) -> Vec<i32> {
    (0..t * k)
        .map(|p| match pattern {
            "uniform" => rng.below(e as u64) as i32,
            // Most slots to expert 1, the rest anywhere.
            "skewed" => {
                if rng.below(10) < 8 {
                    1
                } else {
                    rng.below(e as u64) as i32
                }
            }
            "one-expert" => (e - 1) as i32,
            // Even experts only: every odd expert is empty.
            "empty" => (2 * rng.below(e as u64 / 2)) as i32,
            // Slot k of every token to expert k (distinct experts per token, MoGE-style).
            _ => (p % k) as i32,
        })
        .collect()
}

fn random_values(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.unit() * 4.0).collect()
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        _ => "f32",
    }
}

/// Bit-for-bit equality of two float tensors (every NaN equal to every NaN).
fn assert_same(what: &str, got: &Tensor, want: &Tensor) {
    assert_eq!(got.shape, want.shape, "{what}: shape");
    let (g, w) = (got.as_f32().unwrap(), want.as_f32().unwrap());
    for (i, (a, b)) in g.iter().zip(w).enumerate() {
        let same = (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits();
        assert!(
            same,
            "{what}: element {i}: got {a:e} ({:#x}), want {b:e} ({:#x})",
            a.to_bits(),
            b.to_bits()
        );
    }
}

/// `dispatch` through the interpreter: `route` then `dispatch` of `x: dtype (T, h)`.
fn interp_dispatch(x: &Tensor, ids: &Tensor, k: usize, e: usize, h: usize) -> Tensor {
    let ty = dtype_name(x.dtype);
    let text = format!(
        "kernel disp(x: {ty}[T, {h}], ids: i32[T, {k}]) -> (rows: {ty}[{k}*T, {h}]) {{
  dyn T
  v0 = param 0 : {ty}[T, {h}]
  v1 = param 1 : i32[T, {k}]
  v2 = route v1, experts={e} : routes[T, {k}, {e}]
  v3 = dispatch v0, v2 : {ty}[{k}*T, {h}]
  return rows = v3
}}"
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    interp::eval(&kernel, &[x.clone(), ids.clone()])
        .expect("evaluates")
        .remove(0)
}

fn gather_program(
    name: &str,
    dtype: DType,
    k: u64,
    h: u64,
    div: u64,
    src_rows: HostExpr,
) -> Program {
    let t = HostExpr::dim("T");
    lower_row_gather(
        &RowGather {
            program: name,
            src: "x",
            index: "order",
            out: "rows",
            div,
            rows: t * HostExpr::lit(k as i64),
            src_rows,
            cols: h,
            dtype,
        },
        &Target::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn dispatch_matches_the_interpreter_over_routing_patterns_and_token_counts() {
    let (k, e) = (4usize, 8usize);
    for dtype in [DType::BF16, DType::F32] {
        for h in [16usize, 256, 5120] {
            let p = gather_program(
                "dispatch",
                dtype,
                k as u64,
                h as u64,
                k as u64,
                HostExpr::dim("T"),
            );
            let patterns: &[&str] = if h == 256 {
                &["uniform", "skewed", "one-expert", "empty"]
            } else {
                &["uniform"]
            };
            let tokens: &[usize] = &[0, 1, 7, 48, 49, 1000];
            for &pattern in patterns {
                for &t in tokens {
                    let mut rng = Rng(0x5eed ^ (t * 31 + h) as u64);
                    let ids = expert_ids(pattern, t, k, e, &mut rng);
                    let (order, _) = routes(&ids, e);
                    let x = Tensor::from_f32(dtype, vec![t, h], random_values(t * h, &mut rng))
                        .unwrap();
                    let ids_t = Tensor::from_i32(vec![t, k], ids).unwrap();
                    let want = interp_dispatch(&x, &ids_t, k, e, h);
                    let order_t = Tensor::from_i32(vec![t * k], order).unwrap();
                    let got = run(&p, t as i64, &[("x", &x), ("order", &order_t)]);
                    let what = format!("dispatch {dtype:?} H={h} {pattern} T={t}");
                    assert_same(&what, &got[0].1, &want);
                }
            }
        }
    }
}

#[test]
fn router_weight_gather_matches_a_plain_gather() {
    // MoGE's shape: K = 8 slots, one per group of 8 experts.
    let (k, e) = (8usize, 64usize);
    let t_dim = HostExpr::dim("T");
    let p = gather_program(
        "weights",
        DType::F32,
        k as u64,
        1,
        1,
        t_dim * HostExpr::lit(k as i64),
    );
    for pattern in ["uniform", "skewed", "one-expert", "empty", "distinct"] {
        for t in [0usize, 1, 7, 48, 49, 1000] {
            let mut rng = Rng(0xfeed ^ t as u64);
            let ids = expert_ids(pattern, t, k, e, &mut rng);
            let (order, _) = routes(&ids, e);
            let w = random_values(t * k, &mut rng);
            let want: Vec<f32> = order.iter().map(|&p| w[p as usize]).collect();
            let src = Tensor::from_f32(DType::F32, vec![t * k, 1], w).unwrap();
            let order_t = Tensor::from_i32(vec![t * k], order).unwrap();
            let got = run(&p, t as i64, &[("x", &src), ("order", &order_t)]);
            let want = Tensor::from_f32(DType::F32, vec![t * k, 1], want).unwrap();
            assert_same(&format!("weights {pattern} T={t}"), &got[0].1, &want);
        }
    }
}

#[test]
fn gather_splits_rows_wider_than_half_the_ub_into_column_chunks() {
    // 30000 f32 = 120000 bytes a row: more than half of the 184 KiB, so two chunks (one full, one tail).
    let h = 30_000usize;
    let p = gather_program("wide", DType::F32, 2, h as u64, 2, HostExpr::dim("T"));
    let text = moge_lower::kir::v2::program_to_string(&p);
    assert!(text.contains("for v"), "the chunk loop or batches: {text}");
    for t in [1usize, 3] {
        let mut rng = Rng(7 + t as u64);
        let ids = expert_ids("uniform", t, 2, 4, &mut rng);
        let (order, _) = routes(&ids, 4);
        let x = Tensor::from_f32(DType::F32, vec![t, h], random_values(t * h, &mut rng)).unwrap();
        let want = interp_dispatch(&x, &Tensor::from_i32(vec![t, 2], ids).unwrap(), 2, 4, h);
        let order_t = Tensor::from_i32(vec![t * 2], order).unwrap();
        let got = run(&p, t as i64, &[("x", &x), ("order", &order_t)]);
        assert_same(&format!("wide T={t}"), &got[0].1, &want);
    }
}

#[test]
fn gather_clamps_bad_indices_instead_of_reading_outside_gm() {
    // Indices far outside the source: the emulator checks every GM access; the rows read are the
    // clamped ones.
    let h = 16usize;
    let p = gather_program("clamped", DType::F32, 1, h as u64, 1, HostExpr::dim("T"));
    let t = 5usize;
    let mut rng = Rng(99);
    let x = Tensor::from_f32(DType::F32, vec![t, h], random_values(t * h, &mut rng)).unwrap();
    let index = vec![-7, 4, 1_000_000, i32::MIN, i32::MAX];
    let want: Vec<f32> = [0usize, 4, 4, 0, 4]
        .iter()
        .flat_map(|&r| x.as_f32().unwrap()[r * h..(r + 1) * h].to_vec())
        .collect();
    let index_t = Tensor::from_i32(vec![t], index).unwrap();
    let got = run(&p, t as i64, &[("x", &x), ("order", &index_t)]);
    assert_same(
        "clamped",
        &got[0].1,
        &Tensor::from_f32(DType::F32, vec![t, h], want).unwrap(),
    );
}

/// `combine` through the interpreter: `route` then `combine` of `y: dtype (K*T, h)`.
fn interp_combine(y: &Tensor, ids: &Tensor, w: &Tensor, k: usize, e: usize, h: usize) -> Tensor {
    let ty = dtype_name(y.dtype);
    let text = format!(
        "kernel comb(y: {ty}[{k}*T, {h}], ids: i32[T, {k}], w: f32[T, {k}]) -> (out: {ty}[T, {h}]) {{
  dyn T
  v0 = param 0 : {ty}[{k}*T, {h}]
  v1 = param 1 : i32[T, {k}]
  v2 = param 2 : f32[T, {k}]
  v3 = route v1, experts={e} : routes[T, {k}, {e}]
  v4 = combine v0, v3, v2 : {ty}[T, {h}]
  return out = v4
}}"
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    interp::eval(&kernel, &[y.clone(), ids.clone(), w.clone()])
        .expect("evaluates")
        .remove(0)
}

fn combine_program(dtype: DType, k: u64, h: u64) -> Program {
    lower_combine(
        &CombineSpec {
            program: "comb",
            y: "y",
            position: "position",
            weights: "w",
            out: "out",
            tokens: HostExpr::dim("T"),
            k,
            h,
            dtype,
        },
        &Target::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn combine_matches_the_interpreter_and_a_plain_f64_sum() {
    let (k, e) = (4usize, 8usize);
    for dtype in [DType::BF16, DType::F16, DType::F32] {
        // Relative rounding of the output type.
        let unit = match dtype {
            DType::F32 => 2f64.powi(-24),
            DType::F16 => 2f64.powi(-11),
            _ => 2f64.powi(-8),
        };
        // f16 once, on the narrow rows.
        let widths: &[usize] = if dtype == DType::F16 {
            &[16]
        } else {
            &[16, 256, 5120]
        };
        for &h in widths {
            let p = combine_program(dtype, k as u64, h as u64);
            let patterns: &[&str] = if h == 256 {
                &["uniform", "skewed", "one-expert", "empty"]
            } else {
                &["uniform"]
            };
            let tokens: &[usize] = &[0, 1, 7, 48, 49, 1000];
            for &pattern in patterns {
                for &t in tokens {
                    let what = format!("combine {dtype:?} H={h} {pattern} T={t}");
                    let mut rng = Rng(0xc0b ^ (t * 131 + h) as u64);
                    let ids = expert_ids(pattern, t, k, e, &mut rng);
                    let (_, position) = routes(&ids, e);
                    let y =
                        Tensor::from_f32(dtype, vec![t * k, h], random_values(t * k * h, &mut rng))
                            .unwrap();
                    let w =
                        Tensor::from_f32(DType::F32, vec![t, k], random_values(t * k, &mut rng))
                            .unwrap();
                    let want = interp_combine(
                        &y,
                        &Tensor::from_i32(vec![t, k], ids).unwrap(),
                        &w,
                        k,
                        e,
                        h,
                    );
                    let pos_t = Tensor::from_i32(vec![t * k], position.clone()).unwrap();
                    let got = run(&p, t as i64, &[("y", &y), ("position", &pos_t), ("w", &w)]);
                    assert_same(&what, &got[0].1, &want);
                    // The formula in f64: f32 products and sums stay within K + 1 units of the
                    // magnitudes, then one rounding to the output type.
                    let (yv, wv, out) = (
                        y.as_f32().unwrap(),
                        w.as_f32().unwrap(),
                        got[0].1.as_f32().unwrap(),
                    );
                    for tok in 0..t {
                        for j in 0..h {
                            let (mut sum, mut mag) = (0f64, 0f64);
                            for slot in 0..k {
                                let d = position[tok * k + slot] as usize;
                                let term = f64::from(wv[tok * k + slot]) * f64::from(yv[d * h + j]);
                                sum += term;
                                mag += term.abs();
                            }
                            let got = f64::from(out[tok * h + j]);
                            let tol =
                                (k as f64 + 1.0) * 2f64.powi(-24) * mag + unit * sum.abs() + 1e-30;
                            assert!(
                                (got - sum).abs() <= tol,
                                "{what}: out[{tok}, {j}] = {got}, f64 sum {sum}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn combine_with_moge_shape_and_signed_zeros_matches_the_interpreter() {
    // K = 8 slots over 64 experts, distinct experts per token; weights and rows with -0.0, so every
    // product is -0.0 somewhere and the sum must start from +0.0 as the interpreter's does.
    let (k, e, h) = (8usize, 64usize, 64usize);
    let p = combine_program(DType::BF16, k as u64, h as u64);
    for t in [1usize, 9, 100] {
        let mut rng = Rng(0x2e70 + t as u64);
        let ids = expert_ids("distinct", t, k, e, &mut rng);
        let (_, position) = routes(&ids, e);
        let yv: Vec<f32> = (0..t * k * h)
            .map(|i| {
                if i % 3 == 0 {
                    -0.0
                } else {
                    rng.unit().abs() * 100.0
                }
            })
            .collect();
        // Every third token's weights are all -0.0: each of its products is -0.0 (or +0.0 where
        // the row holds -0.0), so the interpreter's sum from +0.0 is +0.0 where all are -0.0.
        let wv: Vec<f32> = (0..t * k)
            .map(|i| {
                if (i / k) % 3 == 0 || i % 5 == 0 {
                    -0.0
                } else {
                    rng.unit()
                }
            })
            .collect();
        let y = Tensor::from_f32(DType::BF16, vec![t * k, h], yv).unwrap();
        let w = Tensor::from_f32(DType::F32, vec![t, k], wv).unwrap();
        let want = interp_combine(&y, &Tensor::from_i32(vec![t, k], ids).unwrap(), &w, k, e, h);
        let pos_t = Tensor::from_i32(vec![t * k], position).unwrap();
        let got = run(&p, t as i64, &[("y", &y), ("position", &pos_t), ("w", &w)]);
        assert_same(&format!("moge combine T={t}"), &got[0].1, &want);
    }
}

/// `swiglu` through the interpreter on `x: dtype (T, 2*i)`.
fn interp_swiglu(x: &Tensor, i: usize) -> Tensor {
    let ty = dtype_name(x.dtype);
    let text = format!(
        "kernel act(x: {ty}[T, {two}]) -> (out: {ty}[T, {i}]) {{
  dyn T
  v0 = param 0 : {ty}[T, {two}]
  v1 = swiglu v0 : {ty}[T, {i}]
  return out = v1
}}",
        two = 2 * i
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    interp::eval(&kernel, std::slice::from_ref(x))
        .expect("evaluates")
        .remove(0)
}

/// Values of every class: ordinary, large (exp overflows), tiny, ±inf, NaN, ±0.0.
fn swiglu_values(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| match rng.below(16) {
            0 => f32::INFINITY,
            1 => f32::NEG_INFINITY,
            2 => f32::NAN,
            3 => -0.0,
            4 => 0.0,
            5 => rng.unit() * 1.0e30,
            6 => rng.unit() * 200.0,
            7 => rng.unit() * 1.0e-30,
            _ => rng.unit() * 8.0,
        })
        .collect()
}

#[test]
fn swiglu_matches_the_interpreter_on_every_value_class() {
    // 8000 f32 halves need more than the UB for one row: column chunks with a narrower last one.
    for (dtype, i) in [
        (DType::BF16, 16usize),
        (DType::BF16, 200),
        (DType::BF16, 5120),
        (DType::F16, 16),
        (DType::F32, 16),
        (DType::F32, 200),
        (DType::F32, 8000),
    ] {
        let p = lower_swiglu(
            &SwigluSpec {
                program: "act",
                x: "x",
                out: "out",
                m: HostExpr::dim("T"),
                i: i as u64,
                dtype,
            },
            &Target::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let tokens: &[usize] = if i >= 5120 {
            &[0, 1, 7, 49]
        } else {
            &[0, 1, 7, 48, 49, 1000]
        };
        for &m in tokens {
            let mut rng = Rng(0x5111 ^ (m * 7 + i) as u64);
            let x = Tensor::from_f32(dtype, vec![m, 2 * i], swiglu_values(m * 2 * i, &mut rng))
                .unwrap();
            let want = interp_swiglu(&x, i);
            let got = run(&p, m as i64, &[("x", &x)]);
            assert_same(&format!("swiglu {dtype:?} I={i} M={m}"), &got[0].1, &want);
        }
    }
}

#[test]
fn gather_without_source_rows_reads_and_writes_nothing() {
    // Five index entries but no source row: one core launches, and the output keeps its bytes.
    let p = gather_program("none", DType::F32, 1, 16, 1, HostExpr::lit(0));
    let x = Tensor::from_f32(DType::F32, vec![0, 16], vec![]).unwrap();
    let index = Tensor::from_i32(vec![5], vec![0, 1, 2, 3, 4]).unwrap();
    let got = run(&p, 5, &[("x", &x), ("order", &index)]);
    // `run` fills outputs with 0xff bytes: f32 NaNs with every bit set.
    let bits: Vec<u32> = got[0]
        .1
        .as_f32()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect();
    assert!(bits.iter().all(|&b| b == u32::MAX), "{bits:x?}");
}

/// The interpreter's `combine(dispatch(x))`: every token's rows sent to its experts and summed back
/// with the weights (experts as the identity).
fn interp_dispatch_combine(x: &Tensor, ids: &Tensor, w: &Tensor, k: usize, e: usize) -> Tensor {
    let ty = dtype_name(x.dtype);
    let h = x.shape[1];
    let text = format!(
        "kernel chain(x: {ty}[T, {h}], ids: i32[T, {k}], w: f32[T, {k}]) -> (out: {ty}[T, {h}]) {{
  dyn T
  v0 = param 0 : {ty}[T, {h}]
  v1 = param 1 : i32[T, {k}]
  v2 = param 2 : f32[T, {k}]
  v3 = route v1, experts={e} : routes[T, {k}, {e}]
  v4 = dispatch v0, v3 : {ty}[{k}*T, {h}]
  v5 = combine v4, v3, v2 : {ty}[T, {h}]
  return out = v5
}}"
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    interp::eval(&kernel, &[x.clone(), ids.clone(), w.clone()])
        .expect("evaluates")
        .remove(0)
}

#[test]
fn dispatch_weight_gather_and_combine_link_into_one_program_by_buffer_names() {
    let (k, e, h) = (8usize, 64usize, 128usize);
    let target = Target::default();
    let t_dim = HostExpr::dim("T");
    let slots = t_dim.clone() * HostExpr::lit(k as i64);
    let dispatch = lower_row_gather(
        &RowGather {
            program: "chain",
            src: "x",
            index: "order",
            out: "rows",
            div: k as u64,
            rows: slots.clone(),
            src_rows: t_dim.clone(),
            cols: h as u64,
            dtype: DType::BF16,
        },
        &target,
    )
    .unwrap();
    let mut weights = lower_row_gather(
        &RowGather {
            program: "chain",
            src: "w",
            index: "order",
            out: "w_sorted",
            div: 1,
            rows: slots.clone(),
            src_rows: slots.clone(),
            cols: 1,
            dtype: DType::F32,
        },
        &target,
    )
    .unwrap();
    // The combine declares the weights (T, K); the gather reads them as T*K rows of one.
    for g in weights.gm.values_mut().filter(|g| g.name == "w") {
        g.shape = vec![t_dim.clone(), HostExpr::lit(k as i64)];
    }
    let combine = lower_combine(
        &CombineSpec {
            program: "chain",
            y: "rows",
            position: "position",
            weights: "w",
            out: "out",
            tokens: t_dim.clone(),
            k: k as u64,
            h: h as u64,
            dtype: DType::BF16,
        },
        &target,
    )
    .unwrap();
    let mut linker = Linker::new("chain", vec![Symbol::intern("T")]);
    linker.declare(GmBufData {
        name: "rows".into(),
        kind: GmKind::Intermediate,
        dtype: DType::BF16,
        shape: vec![slots, HostExpr::lit(h as i64)],
    });
    for part in [dispatch, weights, combine] {
        linker.link(part).unwrap_or_else(|err| panic!("{err}"));
    }
    let p = linker.finish();
    moge_lower::kir::v2::verify_program(&p, &target).unwrap_or_else(|err| panic!("{err}"));
    for t in [0usize, 1, 49, 300] {
        let mut rng = Rng(0xc4a1 + t as u64);
        let ids = expert_ids("distinct", t, k, e, &mut rng);
        let (order, position) = routes(&ids, e);
        let x = Tensor::from_f32(DType::BF16, vec![t, h], random_values(t * h, &mut rng)).unwrap();
        let wv = random_values(t * k, &mut rng);
        let w = Tensor::from_f32(DType::F32, vec![t, k], wv.clone()).unwrap();
        let order_t = Tensor::from_i32(vec![t * k], order.clone()).unwrap();
        let pos_t = Tensor::from_i32(vec![t * k], position).unwrap();
        let got = run(
            &p,
            t as i64,
            &[
                ("x", &x),
                ("order", &order_t),
                ("w", &w),
                ("position", &pos_t),
            ],
        );
        let ids_t = Tensor::from_i32(vec![t, k], ids).unwrap();
        let want = interp_dispatch_combine(&x, &ids_t, &w, k, e);
        let out = &got.iter().find(|(n, _)| n == "out").unwrap().1;
        assert_same(&format!("chain T={t}"), out, &want);
        let sorted: Vec<f32> = order.iter().map(|&p| wv[p as usize]).collect();
        let want = Tensor::from_f32(DType::F32, vec![t * k, 1], sorted).unwrap();
        let got = &got.iter().find(|(n, _)| n == "w_sorted").unwrap().1;
        assert_same(&format!("chain weights T={t}"), got, &want);
    }
}

#[test]
fn combine_needs_the_barrier_after_its_permutation_table() {
    // The one sync whose deletion the hazard verifier does not report for some plans (see the unit
    // test `every_sync_of_the_row_kernels_is_needed`): without it, a core with a single batch
    // gathers the weights through a table the vector unit may still be writing.
    let (k, e, h) = (4usize, 8usize, 256usize);
    let mut p = combine_program(DType::BF16, k as u64, h as u64);
    let kernel = p.kernels.values_mut().next().unwrap();
    let barrier = kernel
        .body
        .iter()
        .find_map(|s| match s {
            Stmt::Inst(i) if kernel.insts[*i] == InstData::PipeBarrier(Pipe::V) => Some(*i),
            _ => None,
        })
        .expect("a barrier ahead of the loops");
    let t = 1usize;
    let mut rng = Rng(4);
    let ids = expert_ids("uniform", t, k, e, &mut rng);
    let (_, position) = routes(&ids, e);
    let y = Tensor::from_f32(
        DType::BF16,
        vec![t * k, h],
        random_values(t * k * h, &mut rng),
    )
    .unwrap();
    let w = Tensor::from_f32(DType::F32, vec![t, k], random_values(t * k, &mut rng)).unwrap();
    let pos_t = Tensor::from_i32(vec![t * k], position).unwrap();
    let inputs = [("y", &y), ("position", &pos_t), ("w", &w)];
    try_run(&p, t as i64, &inputs).expect("the kernel as lowered is race free");
    assert!(p.kernels.values_mut().next().unwrap().detach(barrier));
    let err = try_run(&p, t as i64, &inputs).expect_err("a race without the barrier");
    assert!(
        err.contains("data race") && err.contains("PipeBarrier<PIPE_V>"),
        "{err}"
    );
}
