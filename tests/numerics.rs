//! The numeric rules of README "Numeric rules", checked three ways on every op the vector path lowers
//! (elementwise and math, casts, compare/select, sum/mean/max/min/argmax/argmin, softmax, log_softmax,
//! rms_norm, topk, group_topk, gather): the emulator against the interpreter (`check_program`, within the
//! error bound the interpreter derives from the graph), and both against plain f64 implementations
//! written here from the rules, over random T (a fixed-seed splitmix64) and values drawn from NaN, +-inf,
//! -0.0, ties, huge and tiny magnitudes and ordinary numbers.
//!
//! Each kernel is compiled once per static binding (the emulator caches the C++ build by content hash);
//! the data and the dynamic dim T vary.

use moge::graph::{DType, Kernel};
use moge::run::{check_program, load_kernel, run_program, RunInputs, RunOptions};
use moge::Tensor;
use moge_codegen_ascendc::{compile_program, Program};
use moge_lower::interp::{eval, eval_with_bounds, ulp, Bound};
use moge_lower::target::Target;
use moge_runtime::backend::EmulatorBackend;
use moge_runtime::launch::{self, program_sources, ProgramRef};
use moge_runtime::{npy, report};

use crate::rng::Rng;

const SOURCE: &str = r#"
#[moge::kernel]
pub fn selections<const N: usize>(x: Tensor<f32, (T, N)>) -> (
    Tensor<f32, {(T, 1)}>, Tensor<f32, {(T, 1)}>, Tensor<i32, {(T, 1)}>, Tensor<i32, {(T, 1)}>,
    Tensor<f32, {(T, 3)}>, Tensor<i32, {(T, 3)}>, Tensor<f32, {(T, 1)}>, Tensor<f32, {(T, 1)}>,
) {
    let hi = max(x, -1, true);
    let lo = min(x, -1, true);
    let at_hi = argmax(x, -1, true);
    let at_lo = argmin(x, -1, true);
    let (top, top_at) = topk(x, 3);
    let total = sum(x, -1, true);
    let avg = mean(x, -1, true);
    (hi, lo, at_hi, at_lo, top, top_at, total, avg)
}

#[moge::kernel]
pub fn groups<const E: usize, const G: usize>(x: Tensor<f32, (T, E)>, table: Tensor<f32, (E,)>) -> (
    Tensor<f32, (T, G)>, Tensor<i32, (T, G)>, Tensor<f32, {(T, 8 * G)}>, Tensor<i32, {(T, 8 * G)}>,
    Tensor<f32, (T, G)>,
) {
    let (best, best_at) = group_topk(x, G, 1);
    let (top, top_at) = group_topk(x, G, 8);
    let scale = gather(table, best_at);
    (best, best_at, top, top_at, scale)
}

#[moge::kernel]
pub fn lookup<const E: usize, const K: usize>(table: Tensor<f32, (E,)>, ids: Tensor<i32, (T, K)>) -> Tensor<f32, (T, K)> {
    gather(table, ids)
}

#[moge::kernel]
pub fn roots<const N: usize>(x: Tensor<f32, (T, N)>) -> (
    Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>,
) {
    (exp(x), log(x), sqrt(x), rsqrt(x))
}

#[moge::kernel]
pub fn activations<const N: usize>(x: Tensor<f32, (T, N)>) -> (
    Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>,
) {
    (recip(x), abs(x), sigmoid(x), silu(x))
}

#[moge::kernel]
pub fn signs<const N: usize>(x: Tensor<f32, (T, N)>) -> (
    Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>,
) {
    (relu(x), tanh(x), -x)
}

#[moge::kernel]
pub fn arith<const N: usize>(x: Tensor<f32, (T, N)>, y: Tensor<f32, (T, N)>) -> (
    Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>,
    Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>,
) {
    (x + y, x - y, x * y, x / y, maximum(x, y), minimum(x, y), select(x < y, x, y), cast::<f32>(x >= y))
}

#[moge::kernel]
pub fn compares<const N: usize>(x: Tensor<f32, (T, N)>, y: Tensor<f32, (T, N)>) -> (
    Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>,
    Tensor<f32, (T, N)>, Tensor<f32, (T, N)>,
) {
    (
        cast::<f32>(x == y), cast::<f32>(x != y), cast::<f32>(x < y),
        cast::<f32>(x <= y), cast::<f32>(x > y), select(x >= y, y, x),
    )
}

#[moge::kernel]
pub fn casts<const N: usize>(x: Tensor<f32, (T, N)>) -> (
    Tensor<bf16, (T, N)>, Tensor<f16, (T, N)>, Tensor<i32, (T, N)>, Tensor<f32, (T, N)>,
) {
    let whole = cast::<i32>(x);
    (cast::<bf16>(x), cast::<f16>(x), whole, cast::<f32>(whole))
}

#[moge::kernel]
pub fn rows<const N: usize>(x: Tensor<f32, (T, N)>, w: Tensor<f32, (N,)>) -> (
    Tensor<f32, (T, N)>, Tensor<f32, (T, N)>, Tensor<f32, (T, N)>,
) {
    (softmax(x, -1), log_softmax(x, -1), rms_norm(x, w, 1e-5))
}

#[moge::kernel]
pub fn rows_bf16<const N: usize>(x: Tensor<bf16, (T, N)>, w: Tensor<bf16, (N,)>) -> (
    Tensor<bf16, (T, N)>, Tensor<bf16, (T, N)>, Tensor<bf16, (T, N)>, Tensor<bf16, {(T, 3)}>,
    Tensor<i32, {(T, 3)}>,
) {
    let (top, top_at) = topk(x, 3);
    (softmax(x, -1), log_softmax(x, -1), rms_norm(x, w, 1e-5), top, top_at)
}

#[moge::kernel]
pub fn integers<const N: usize>(a: Tensor<i32, (T, N)>, b: Tensor<i32, (T, N)>) -> (
    Tensor<i32, (T, N)>, Tensor<i32, (T, N)>, Tensor<i32, (T, N)>, Tensor<i32, (T, N)>,
    Tensor<i32, (T, N)>, Tensor<i32, (T, N)>,
) {
    (a + b, a - b, a * b, maximum(a, b), select(a == b, -a, relu(b)), cast::<i32>(cast::<f32>(a)))
}

#[moge::kernel]
pub fn long_sum<const N: usize>(x: Tensor<f32, (T, N)>) -> Tensor<f32, {(T, 1)}> {
    sum(x, -1, true)
}
"#;

/// A random sign.
fn sign(rng: &mut Rng) -> f64 {
    if rng.below(2) == 0 {
        -1.0
    } else {
        1.0
    }
}

/// What values a row may hold.
#[derive(Copy, Clone)]
pub(crate) struct Values {
    /// The largest magnitude of the "huge" class.
    pub(crate) huge: f64,
    /// Whether NaN and infinities may appear.
    pub(crate) non_finite: bool,
}

/// Every row draws one profile, so that rows of ordinary numbers stay common enough to check the
/// arithmetic while others are full of special values.
fn random_row(rng: &mut Rng, n: usize, values: Values) -> Vec<f32> {
    let profile = rng.below(6);
    let ties = [1.0f32, -1.0, 0.5, 2.0];
    (0..n)
        .map(|_| {
            let class = match profile {
                0 => 9,                // ordinary numbers only
                1 => rng.below(3) * 3, // ties and signed zeros
                _ => rng.below(10),    // anything
            };
            match class {
                0 if values.non_finite => f32::NAN,
                1 if values.non_finite => f32::INFINITY,
                2 if values.non_finite => f32::NEG_INFINITY,
                3 => {
                    if rng.below(2) == 0 {
                        -0.0
                    } else {
                        0.0
                    }
                }
                4 => {
                    let top = values.huge.log10();
                    (sign(rng) * 10f64.powf(rng.uniform(top - 8.0, top))).min(f64::from(f32::MAX))
                        as f32
                }
                5 => (sign(rng) * 10f64.powf(rng.uniform(-44.0, -30.0))) as f32,
                6 => ties[rng.below(4)],
                _ => rng.uniform(-4.0, 4.0) as f32,
            }
        })
        .collect()
}

pub(crate) fn random_matrix(rng: &mut Rng, t: usize, n: usize, values: Values) -> Tensor {
    let data: Vec<f32> = (0..t).flat_map(|_| random_row(rng, n, values)).collect();
    Tensor::from_f32(DType::F32, vec![t, n], data).unwrap()
}

/// A reference result: floats in f64 (rounded to the output dtype when checked) or integers.
pub(crate) enum Want {
    F(Vec<f64>),
    I(Vec<i64>),
}

pub(crate) fn compile(kernel: &Kernel) -> Program {
    let program = compile_program(kernel, &Target::default())
        .unwrap_or_else(|e| panic!("{}: {e}", kernel.name));
    let sources = program_sources(&program);
    let program_ref = ProgramRef::new(&program.manifest, &sources).unwrap();
    launch::prepare(program_ref, &EmulatorBackend::default())
        .unwrap_or_else(|e| panic!("{}: {e}", kernel.name));
    program
}

fn kernel(name: &str, set: &[(&str, i64)]) -> Kernel {
    load_kernel("numerics.rs", SOURCE, Some(name), set).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Rounds `x` to nearest even with `precision` significand bits, normal exponents down to `min_exp`
/// (below: subnormal spacing) and `max_finite` the largest finite value: what IEEE 754 (the Atlas A2 INF/NaN
/// mode) does, written independently of the interpreter.
fn round_format(x: f64, precision: i32, min_exp: i32, max_finite: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let exponent = (x.abs().log2().floor() as i32).max(min_exp);
    let quantum = 2f64.powi(exponent - (precision - 1));
    let q = x / quantum;
    let mut r = q.round();
    if (q - q.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r -= q.signum();
    }
    let y = r * quantum;
    // Beyond the largest finite value plus half its ulp, round to nearest goes to infinity.
    let half = 2f64.powi(max_finite.log2().floor() as i32 - precision);
    if y.abs() > max_finite || x.abs() >= max_finite + half {
        f64::INFINITY.copysign(x)
    } else {
        y
    }
}

fn to_dtype(dtype: DType, x: f64) -> f64 {
    match dtype {
        DType::F32 => f64::from(x as f32),
        DType::BF16 => round_format(x, 8, -126, f64::from(f32::from_bits(0x7f7f_0000))),
        DType::F16 => round_format(x, 11, -14, 65504.0),
        DType::I32 | DType::Bool => x,
    }
}

/// Whether `got` agrees with the exact `want` (rounded to `dtype`) within `bound` plus an ulp: NaN only
/// with NaN, an infinity only with itself.
fn agrees(got: f64, want: f64, bound: f64, dtype: DType) -> bool {
    let want = to_dtype(dtype, want);
    if got.is_nan() || want.is_nan() {
        return got.is_nan() && want.is_nan();
    }
    if got.is_infinite() || want.is_infinite() {
        return got == want;
    }
    (got - want).abs() <= bound + ulp(dtype, want)
}

fn as_f64(t: &Tensor) -> Vec<f64> {
    if let Some(v) = t.as_f32() {
        v.iter().map(|&x| f64::from(x)).collect()
    } else {
        t.as_i32().unwrap().iter().map(|&x| f64::from(x)).collect()
    }
}

/// Runs `program` on `inputs` and checks device and interpreter against each other and against `want`.
#[track_caller]
pub(crate) fn check(
    kernel: &Kernel,
    program: &Program,
    inputs: &[Tensor],
    want: &[Want],
    what: &str,
) {
    let checked = check_program(kernel, program, inputs, &EmulatorBackend::default())
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let (interp, bounds) = eval_with_bounds(kernel, inputs).unwrap();
    for (o, output) in kernel.outputs.iter().enumerate() {
        let name = format!("{what}: output {o} `{}`", output.name);
        assert!(
            checked.comparisons[o].passed(),
            "{name}: device vs interpreter: {}",
            checked.comparisons[o]
        );
        let dtype = interp[o].dtype;
        let (device, expected) = (as_f64(&checked.launched.outputs[o]), as_f64(&interp[o]));
        let Bound::Elements(bound) = &bounds[o] else {
            panic!("{name}: no bound rule: {:?}", bounds[o]);
        };
        match &want[o] {
            Want::F(reference) => {
                assert_eq!(reference.len(), expected.len(), "{name}");
                for i in 0..reference.len() {
                    // A bound that allows anything would make the check vacuous.
                    assert!(
                        !expected[i].is_finite() || bound[i].is_finite(),
                        "{name}: element {i}: infinite bound for {}",
                        expected[i]
                    );
                    for (side, got) in [("interpreter", expected[i]), ("device", device[i])] {
                        assert!(
                            agrees(got, reference[i], bound[i], dtype),
                            "{name}: element {i}: {side} {got:e}, f64 reference {:e} (bound {:e}); inputs {:?}",
                            reference[i],
                            bound[i],
                            row_of(inputs, i, expected.len())
                        );
                    }
                }
            }
            Want::I(reference) => {
                let got: Vec<i64> = expected.iter().map(|&x| x as i64).collect();
                let dev: Vec<i64> = device.iter().map(|&x| x as i64).collect();
                if let Some(i) =
                    (0..got.len()).find(|&i| got[i] != reference[i] || dev[i] != reference[i])
                {
                    panic!(
                        "{name}: element {i}: interpreter {}, device {}, reference {}; inputs {:?}",
                        got[i],
                        dev[i],
                        reference[i],
                        row_of(inputs, i, got.len())
                    );
                }
            }
        }
    }
}

/// The input row that output element `i` (of `len`) comes from, for messages.
fn row_of(inputs: &[Tensor], i: usize, len: usize) -> Vec<f64> {
    let x = &inputs[0];
    let rows = x.shape.first().copied().unwrap_or(1).max(1);
    let per_row = (len / rows).max(1);
    let n = x.len() / rows;
    let r = (i / per_row).min(rows - 1);
    as_f64(x)[r * n..(r + 1) * n].to_vec()
}

// ---- the rules, in f64 ------------------------------------------------------------------------------

/// Selection order: NaN first, then larger (smaller with `min`) values, then the lower index; -0.0
/// equals +0.0.
fn ranks_before(a: (f64, usize), b: (f64, usize), min: bool) -> bool {
    match (a.0.is_nan(), b.0.is_nan()) {
        (true, true) => a.1 < b.1,
        (true, false) => true,
        (false, true) => false,
        _ if a.0 == b.0 => a.1 < b.1,
        _ => (a.0 > b.0) != min,
    }
}

/// The `k` picks of `row` by the selection rule: (value, index).
pub(crate) fn select(row: &[f64], k: usize, min: bool) -> Vec<(f64, usize)> {
    let mut items: Vec<(f64, usize)> = row.iter().copied().zip(0..).collect();
    // Insertion by the rule, so the reference does not depend on a library sort's NaN handling.
    let mut out: Vec<(f64, usize)> = Vec::new();
    for _ in 0..k {
        let mut best = 0;
        for c in 1..items.len() {
            if ranks_before(items[c], items[best], min) {
                best = c;
            }
        }
        out.push(items.remove(best));
    }
    out
}

pub(crate) fn rows_of(x: &Tensor) -> Vec<Vec<f64>> {
    let n = *x.shape.last().unwrap();
    as_f64(x).chunks(n.max(1)).map(<[f64]>::to_vec).collect()
}

fn selections_want(x: &Tensor) -> Vec<Want> {
    let rows = rows_of(x);
    let extremum = |min: bool| Want::F(rows.iter().map(|r| select(r, 1, min)[0].0).collect());
    let at = |min: bool| Want::I(rows.iter().map(|r| select(r, 1, min)[0].1 as i64).collect());
    let top: Vec<Vec<(f64, usize)>> = rows.iter().map(|r| select(r, 3, false)).collect();
    let total: Vec<f64> = rows.iter().map(|r| r.iter().sum()).collect();
    vec![
        extremum(false),
        extremum(true),
        at(false),
        at(true),
        Want::F(top.iter().flatten().map(|p| p.0).collect()),
        Want::I(top.iter().flatten().map(|p| p.1 as i64).collect()),
        Want::F(total.clone()),
        Want::F(
            rows.iter()
                .zip(&total)
                .map(|(r, s)| s / r.len() as f64)
                .collect(),
        ),
    ]
}

fn groups_want(x: &Tensor, table: &[f64], g: usize) -> Vec<Want> {
    let (mut best, mut best_at, mut top, mut top_at, mut scale) =
        (vec![], vec![], vec![], vec![], vec![]);
    for row in rows_of(x) {
        let size = row.len() / g;
        for group in 0..g {
            let part = &row[group * size..(group + 1) * size];
            let (v, i) = select(part, 1, false)[0];
            best.push(v);
            best_at.push((group * size + i) as i64);
            scale.push(table[group * size + i]);
            for (v, i) in select(part, 8, false) {
                top.push(v);
                top_at.push((group * size + i) as i64);
            }
        }
    }
    vec![
        Want::F(best),
        Want::I(best_at),
        Want::F(top),
        Want::I(top_at),
        Want::F(scale),
    ]
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The rules of the unary ops, in the order of the kernels `roots`, `activations`, `signs`.
fn math_want_all(x: &Tensor) -> Vec<Want> {
    let v = as_f64(x);
    let map = |f: fn(f64) -> f64| Want::F(v.iter().map(|&x| f(x)).collect());
    vec![
        map(f64::exp),
        map(f64::ln),
        map(f64::sqrt),
        map(|x| 1.0 / x.sqrt()),
        map(|x| 1.0 / x),
        map(f64::abs),
        map(sigmoid),
        map(|x| x * sigmoid(x)),
        map(|x| if x.is_nan() { x } else { x.max(0.0) }),
        map(f64::tanh),
        map(|x| -x),
    ]
}

fn arith_want(x: &Tensor, y: &Tensor) -> Vec<Want> {
    let (a, b) = (as_f64(x), as_f64(y));
    let map = |f: fn(f64, f64) -> f64| Want::F(a.iter().zip(&b).map(|(&a, &b)| f(a, b)).collect());
    // maximum/minimum: a NaN operand gives NaN.
    let nan_or = |a: f64, b: f64, f: fn(f64, f64) -> f64| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            f(a, b)
        }
    };
    vec![
        map(|a, b| a + b),
        map(|a, b| a - b),
        map(|a, b| a * b),
        map(|a, b| a / b),
        Want::F(
            a.iter()
                .zip(&b)
                .map(|(&a, &b)| nan_or(a, b, f64::max))
                .collect(),
        ),
        Want::F(
            a.iter()
                .zip(&b)
                .map(|(&a, &b)| nan_or(a, b, f64::min))
                .collect(),
        ),
        map(|a, b| if a < b { a } else { b }),
        map(|a, b| if a >= b { 1.0 } else { 0.0 }),
    ]
}

/// f32 -> i32 truncates toward zero, saturates, and NaN gives 0.
fn to_i32(x: f64) -> i64 {
    if x.is_nan() {
        0
    } else {
        x.trunc().clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i64
    }
}

fn casts_want(x: &Tensor) -> Vec<Want> {
    let v = as_f64(x);
    vec![
        Want::F(v.clone()),
        Want::F(v.clone()),
        Want::I(v.iter().map(|&x| to_i32(x)).collect()),
        Want::F(v.iter().map(|&x| to_i32(x) as f64).collect()),
    ]
}

pub(crate) fn rows_want(x: &Tensor, w: &[f64], eps: f64) -> Vec<Want> {
    let (mut soft, mut log_soft, mut normed) = (vec![], vec![], vec![]);
    for row in rows_of(x) {
        // The maximum propagates NaN, as in the rule; exp(x - m) of an infinite m is NaN.
        let m = row.iter().fold(f64::NEG_INFINITY, |m, &x| {
            if x.is_nan() || m.is_nan() {
                f64::NAN
            } else {
                m.max(x)
            }
        });
        let sum: f64 = row.iter().map(|&x| (x - m).exp()).sum();
        let ms: f64 = row.iter().map(|&x| x * x).sum::<f64>() / row.len() as f64;
        for (i, &xi) in row.iter().enumerate() {
            soft.push((xi - m).exp() / sum);
            log_soft.push(xi - m - sum.ln());
            normed.push(xi / (ms + eps).sqrt() * w[i]);
        }
    }
    vec![Want::F(soft), Want::F(log_soft), Want::F(normed)]
}

// ---- the tests ---------------------------------------------------------------------------------------

/// Random T values for a case: small, around the core count, and one larger.
pub(crate) fn token_counts(rng: &mut Rng) -> Vec<usize> {
    vec![1 + rng.below(4), 40 + rng.below(20), 100 + rng.below(200)]
}

const ANY: Values = Values {
    huge: 3.0e38,
    non_finite: true,
};

#[test]
fn selections_and_reductions_follow_the_rule() {
    let mut rng = Rng(0x005e_1ec7);
    // Rows of 12 and 33 (inside one 64-lane repeat; 33 * 4 bytes is not a multiple of 32) and of 100
    // (longer than a repeat: folded first).
    for n in [12usize, 33, 100] {
        let kernel = kernel("selections", &[("N", n as i64)]);
        let program = compile(&kernel);
        // Sums of more than one huge value could overflow in one order and not in another: huge values
        // stay below 1e36 here.
        let values = Values {
            huge: 1e36,
            non_finite: true,
        };
        for t in token_counts(&mut rng) {
            let x = random_matrix(&mut rng, t, n, values);
            let want = selections_want(&x);
            check(
                &kernel,
                &program,
                &[x],
                &want,
                &format!("selections N={n} T={t}"),
            );
        }
    }
}

#[test]
fn group_selections_and_gather_follow_the_rule() {
    let mut rng = Rng(0x9_20c5);
    // Groups of 12 and 10 are not a multiple of 8 elements: they are selected in the spread layout,
    // eight picks per group included.
    for (e, g) in [(64usize, 4usize), (24, 3), (24, 2), (20, 2)] {
        let kernel = kernel("groups", &[("E", e as i64), ("G", g as i64)]);
        let program = compile(&kernel);
        let table: Vec<f32> = (0..e).map(|i| 1.0 + i as f32 / 8.0).collect();
        let table_t = Tensor::from_f32(DType::F32, vec![e], table.clone()).unwrap();
        let table64: Vec<f64> = table.iter().map(|&x| f64::from(x)).collect();
        for t in token_counts(&mut rng) {
            let x = random_matrix(&mut rng, t, e, ANY);
            let want = groups_want(&x, &table64, g);
            check(
                &kernel,
                &program,
                &[x, table_t.clone()],
                &want,
                &format!("groups E={e} G={g} T={t}"),
            );
        }
    }
}

#[test]
fn rows_of_infinities_pick_distinct_indices() {
    // The defect of issue 6: with -inf among the chosen values, top-k repeated index 0, and a NaN row
    // gave index N. Rows: all -inf; all NaN; NaN after +inf; -0.0 and +0.0 ties.
    let kernel = kernel("groups", &[("E", 24), ("G", 3)]);
    let program = compile(&kernel);
    let mut rows = vec![f32::NEG_INFINITY; 24];
    rows.extend(vec![f32::NAN; 24]);
    let mut mixed = vec![1.0f32; 24];
    mixed[3] = f32::INFINITY;
    mixed[5] = f32::NAN;
    rows.extend(mixed);
    rows.extend((0..24).map(|i| if i % 2 == 0 { -0.0 } else { 0.0 }));
    let x = Tensor::from_f32(DType::F32, vec![4, 24], rows).unwrap();
    let table: Vec<f32> = (0..24).map(|i| i as f32).collect();
    let want = groups_want(
        &x,
        &table.iter().map(|&v| f64::from(v)).collect::<Vec<_>>(),
        3,
    );
    // The reference picks every index of a group once, in order, for the all -inf and all NaN rows.
    let Want::I(top_at) = &want[3] else {
        unreachable!()
    };
    assert_eq!(&top_at[..8], &[0, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(&top_at[24..32], &[0, 1, 2, 3, 4, 5, 6, 7]);
    // NaN (index 5) ranks above +inf (index 3).
    assert_eq!(&top_at[48..51], &[5, 3, 0]);
    let table_t = Tensor::from_f32(DType::F32, vec![24], table).unwrap();
    check(&kernel, &program, &[x, table_t], &want, "special rows");
}

#[test]
fn gather_clamps_indices_on_both_sides() {
    let mut rng = Rng(0x9a7);
    let (e, k) = (24usize, 8usize);
    let kernel = kernel("lookup", &[("E", e as i64), ("K", k as i64)]);
    let program = compile(&kernel);
    let table: Vec<f32> = (0..e).map(|i| i as f32 * 0.5 - 3.0).collect();
    let table_t = Tensor::from_f32(DType::F32, vec![e], table.clone()).unwrap();
    for t in token_counts(&mut rng) {
        let ids: Vec<i32> = (0..t * k)
            .map(|_| match rng.below(8) {
                0 => i32::MIN,
                1 => i32::MAX,
                _ => rng.below(e + 10) as i32 - 5,
            })
            .collect();
        let want = Want::F(
            ids.iter()
                .map(|&i| f64::from(table[i.clamp(0, e as i32 - 1) as usize]))
                .collect(),
        );
        let ids_t = Tensor::from_i32(vec![t, k], ids).unwrap();
        check(
            &kernel,
            &program,
            &[table_t.clone(), ids_t],
            &[want],
            &format!("lookup T={t}"),
        );
    }
}

#[test]
fn elementwise_math_follows_ieee() {
    let mut rng = Rng(0xe1e);
    let n = 40usize;
    let want = math_want_all;
    for (name, first) in [("roots", 0usize), ("activations", 4), ("signs", 8)] {
        let kernel = kernel(name, &[("N", n as i64)]);
        let program = compile(&kernel);
        for t in token_counts(&mut rng) {
            let x = random_matrix(&mut rng, t, n, ANY);
            let all = want(&x);
            let want: Vec<Want> = all
                .into_iter()
                .skip(first)
                .take(kernel.outputs.len())
                .collect();
            check(&kernel, &program, &[x], &want, &format!("{name} T={t}"));
        }
    }
}

#[test]
fn arithmetic_compare_and_select_follow_ieee() {
    let mut rng = Rng(0xa417);
    let n = 40usize;
    let kernel = kernel("arith", &[("N", n as i64)]);
    let program = compile(&kernel);
    for t in token_counts(&mut rng) {
        let x = random_matrix(&mut rng, t, n, ANY);
        let y = random_matrix(&mut rng, t, n, ANY);
        let want = arith_want(&x, &y);
        check(&kernel, &program, &[x, y], &want, &format!("arith T={t}"));
    }
}

#[test]
fn comparisons_with_nan_are_false_except_not_equal() {
    let mut rng = Rng(0xc0_3a7e);
    let n = 40usize;
    let kernel = kernel("compares", &[("N", n as i64)]);
    let program = compile(&kernel);
    for t in token_counts(&mut rng) {
        let x = random_matrix(&mut rng, t, n, ANY);
        // Half of y copies x, so that equal values (signed zeros, infinities, NaN) meet.
        let y_data: Vec<f32> = x
            .as_f32()
            .unwrap()
            .iter()
            .map(|&v| {
                if rng.below(2) == 0 {
                    v
                } else {
                    random_row(&mut rng, 1, ANY)[0]
                }
            })
            .collect();
        let y = Tensor::from_f32(DType::F32, vec![t, n], y_data).unwrap();
        let (a, b) = (as_f64(&x), as_f64(&y));
        let mask = |f: fn(f64, f64) -> bool| {
            Want::F(
                a.iter()
                    .zip(&b)
                    .map(|(&a, &b)| f64::from(u8::from(f(a, b))))
                    .collect(),
            )
        };
        let want = vec![
            mask(|a, b| a == b),
            mask(|a, b| a != b),
            mask(|a, b| a < b),
            mask(|a, b| a <= b),
            mask(|a, b| a > b),
            Want::F(
                a.iter()
                    .zip(&b)
                    .map(|(&a, &b)| if a >= b { b } else { a })
                    .collect(),
            ),
        ];
        check(
            &kernel,
            &program,
            &[x, y],
            &want,
            &format!("compares T={t}"),
        );
    }
}

#[test]
fn casts_overflow_to_infinity_and_saturate_integers() {
    let mut rng = Rng(0xca57);
    let n = 40usize;
    let kernel = kernel("casts", &[("N", n as i64)]);
    let program = compile(&kernel);
    // The cases of issue 6 first: 70000 is beyond f16 (inf, not 65504), f32::MAX beyond bf16.
    let mut special = vec![0.0f32; n];
    special[..8].copy_from_slice(&[
        70000.0,
        -70000.0,
        65519.0,
        65520.0,
        f32::MAX,
        -f32::MAX,
        3e9,
        -3e9,
    ]);
    let x = Tensor::from_f32(DType::F32, vec![1, n], special).unwrap();
    let (interp, _) = eval_with_bounds(&kernel, std::slice::from_ref(&x)).unwrap();
    let f16 = interp[1].as_f32().unwrap();
    assert_eq!(
        &f16[..4],
        &[f32::INFINITY, f32::NEG_INFINITY, 65504.0, f32::INFINITY]
    );
    let bf16 = interp[0].as_f32().unwrap();
    assert_eq!(&bf16[4..6], &[f32::INFINITY, f32::NEG_INFINITY]);
    assert_eq!(&interp[2].as_i32().unwrap()[6..8], &[i32::MAX, i32::MIN]);
    check(
        &kernel,
        &program,
        std::slice::from_ref(&x),
        &casts_want(&x),
        "casts special",
    );
    for t in token_counts(&mut rng) {
        let x = random_matrix(&mut rng, t, n, ANY);
        let want = casts_want(&x);
        check(&kernel, &program, &[x], &want, &format!("casts T={t}"));
    }
}

#[test]
fn softmax_log_softmax_and_rms_norm_follow_the_rule() {
    let mut rng = Rng(0x50f7);
    for n in [16usize, 100] {
        let kernel = kernel("rows", &[("N", n as i64)]);
        let program = compile(&kernel);
        let w: Vec<f32> = (0..n).map(|i| 0.5 + i as f32 / n as f32).collect();
        let w_t = Tensor::from_f32(DType::F32, vec![n], w.clone()).unwrap();
        let w64: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
        // Squares of huge values would overflow f32 inside rms_norm while the f64 reference does not:
        // huge values stay below 1e17 here.
        let values = Values {
            huge: 1e17,
            non_finite: true,
        };
        for t in token_counts(&mut rng) {
            let x = random_matrix(&mut rng, t, n, values);
            let want = rows_want(&x, &w64, 1e-5);
            check(
                &kernel,
                &program,
                &[x, w_t.clone()],
                &want,
                &format!("rows N={n} T={t}"),
            );
        }
    }
}

#[test]
fn integers_wrap_and_round_trip_through_f32() {
    let mut rng = Rng(0x1_2345);
    let n = 16usize;
    let kernel = kernel("integers", &[("N", n as i64)]);
    let program = compile(&kernel);
    let draw = |rng: &mut Rng| match rng.below(6) {
        0 => i32::MIN,
        1 => i32::MAX,
        2 => rng.below(5) as i32 - 2,
        // Above 2^24 an i32 is not exact in f32: the round trip rounds to nearest even.
        3 => (rng.next() as i32) | 1,
        _ => rng.below(2001) as i32 - 1000,
    };
    for t in token_counts(&mut rng) {
        let a: Vec<i32> = (0..t * n).map(|_| draw(&mut rng)).collect();
        let b: Vec<i32> = (0..t * n)
            .enumerate()
            .map(|(i, _)| {
                if rng.below(4) == 0 {
                    a[i]
                } else {
                    draw(&mut rng)
                }
            })
            .collect();
        let pairs = || a.iter().zip(&b).map(|(&x, &y)| (x, y));
        let want = vec![
            Want::I(pairs().map(|(x, y)| i64::from(x.wrapping_add(y))).collect()),
            Want::I(pairs().map(|(x, y)| i64::from(x.wrapping_sub(y))).collect()),
            Want::I(pairs().map(|(x, y)| i64::from(x.wrapping_mul(y))).collect()),
            Want::I(pairs().map(|(x, y)| i64::from(x.max(y))).collect()),
            Want::I(
                pairs()
                    .map(|(x, y)| i64::from(if x == y { x.wrapping_neg() } else { y.max(0) }))
                    .collect(),
            ),
            // i32 -> f32 rounds to nearest even (exact in f64 first), f32 -> i32 saturates.
            Want::I(a.iter().map(|&x| to_i32(f64::from(x as f32))).collect()),
        ];
        let inputs = [
            Tensor::from_i32(vec![t, n], a.clone()).unwrap(),
            Tensor::from_i32(vec![t, n], b.clone()).unwrap(),
        ];
        check(
            &kernel,
            &program,
            &inputs,
            &want,
            &format!("integers T={t}"),
        );
    }
}

#[test]
fn bf16_rows_round_once_and_select_by_the_rule() {
    let mut rng = Rng(0xbf16);
    let n = 48usize;
    let kernel = kernel("rows_bf16", &[("N", n as i64)]);
    let program = compile(&kernel);
    let w = Tensor::from_f32(
        DType::BF16,
        vec![n],
        (0..n).map(|i| 0.5 + i as f32 / 64.0).collect(),
    )
    .unwrap();
    let w64 = as_f64(&w);
    let values = Values {
        huge: 1e17,
        non_finite: true,
    };
    for t in token_counts(&mut rng) {
        // The inputs are rounded to bf16 first; the references start from the rounded values.
        let data: Vec<f32> = (0..t)
            .flat_map(|_| random_row(&mut rng, n, values))
            .collect();
        let x = Tensor::from_f32(DType::BF16, vec![t, n], data).unwrap();
        let mut want = rows_want(&x, &w64, 1e-5);
        let top: Vec<Vec<(f64, usize)>> = rows_of(&x).iter().map(|r| select(r, 3, false)).collect();
        want.push(Want::F(top.iter().flatten().map(|p| p.0).collect()));
        want.push(Want::I(top.iter().flatten().map(|p| p.1 as i64).collect()));
        check(
            &kernel,
            &program,
            &[x, w.clone()],
            &want,
            &format!("rows_bf16 T={t}"),
        );
    }
}

#[test]
fn a_long_cancelling_sum_passes_within_its_bound() {
    // Issue 6 class 9: a sum of 1000 f32 values in [-1, 1) failed `mogec run` on most seeds under a
    // relative tolerance. The bound scales with the sum of magnitudes; the device's tree sum and the
    // interpreter's sequential sum both stay within it of the f64 sum.
    let mut rng = Rng(0x5a);
    let n = 1000usize;
    let kernel = kernel("long_sum", &[("N", n as i64)]);
    let program = compile(&kernel);
    for t in [1usize, 7, 49] {
        let data: Vec<f32> = (0..t * n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect();
        let x = Tensor::from_f32(DType::F32, vec![t, n], data).unwrap();
        let want = Want::F(rows_of(&x).iter().map(|r| r.iter().sum()).collect());
        check(
            &kernel,
            &program,
            std::slice::from_ref(&x),
            &[want],
            &format!("long_sum T={t}"),
        );
        // The bound is the documented one: (n - 1) u sum|x| plus the final roundings, not looser.
        let (out, bounds) = eval_with_bounds(&kernel, std::slice::from_ref(&x)).unwrap();
        let Bound::Elements(b) = &bounds[0] else {
            unreachable!()
        };
        for (row, (&bound, &y)) in rows_of(&x)
            .iter()
            .zip(b.iter().zip(out[0].as_f32().unwrap()))
        {
            let magnitude: f64 = row.iter().map(|v| v.abs()).sum();
            let documented = 999.0 * f64::powi(2.0, -24) * magnitude;
            assert!(
                bound >= documented && bound <= documented + f64::from(y).abs() * 2.5e-7 + 1e-40
            );
        }
    }
}

#[test]
fn mogec_run_of_a_long_sum_passes_on_every_seed() {
    // What `mogec run` does with `--random SEED`: the report states the bound rule per output, and no
    // seed fails, while the old per-dtype relative tolerance fails on most of them.
    let kernel = kernel("long_sum", &[("N", 1000)]);
    let mut table_failures = 0;
    for seed in 1..=6u64 {
        let out =
            std::env::temp_dir().join(format!("moge-numerics-sum-{}-{seed}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let inputs = RunInputs::Random {
            seed,
            dims: vec![("T".to_string(), 64)],
        };
        let report = run_program(&kernel, inputs, &out, &RunOptions::default()).unwrap();
        assert!(
            report.passed(),
            "seed {seed}: {:?}",
            report.outputs[0].comparison
        );
        let text = std::fs::read_to_string(out.join("report.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        let entry = json["outputs"]
            .as_object()
            .and_then(|o| o.values().next())
            .unwrap()
            .clone();
        assert_eq!(entry["tolerance"]["rule"], "bound", "{entry}");
        assert!(entry["tolerance"]["max_allowed"].as_f64().unwrap() > 0.0);
        let x = npy::read_npy(&out.join("x.npy")).unwrap();
        let got = npy::read_npy(&out.join(format!("{}.npy", kernel.outputs[0].name))).unwrap();
        let expected = eval(&kernel, &[x]).unwrap().remove(0);
        if !report::compare(&got, &expected).passed() {
            table_failures += 1;
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
    assert!(
        table_failures >= 3,
        "the table failed {table_failures} of 6 seeds"
    );
}

#[test]
fn kernels_do_not_depend_on_what_max_does_with_nan() {
    // The emulator propagates NaN through Max/Min/Relu and the extremum reductions, a choice the Atlas A2
    // documentation leaves open. Compiled with MOGE_EMU_NAN_SKIPS the emulator ignores NaN instead; the
    // kernels must give the same results either way.
    let mut rng = Rng(0x0_5c1f);
    for (name, set, inputs) in [
        ("selections", vec![("N", 100)], 1),
        ("groups", vec![("E", 24), ("G", 3)], 2),
        ("arith", vec![("N", 40)], 2),
        ("signs", vec![("N", 40)], 1),
    ] {
        let kernel = kernel(name, &set);
        let mut program = compile(&kernel);
        for k in &mut program.kernels {
            k.source = format!("#define MOGE_EMU_NAN_SKIPS 1\n{}", k.source);
        }
        let x = random_matrix(&mut rng, 50, kernel_width(&kernel), ANY);
        let second = if name == "groups" {
            Tensor::from_f32(DType::F32, vec![24], (0..24).map(|i| i as f32).collect()).unwrap()
        } else {
            random_matrix(&mut rng, 50, kernel_width(&kernel), ANY)
        };
        let inputs: Vec<Tensor> = [x, second].into_iter().take(inputs).collect();
        let checked = check_program(&kernel, &program, &inputs, &EmulatorBackend::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (o, c) in checked.comparisons.iter().enumerate() {
            assert!(c.passed(), "{name} output {o} with NaN-skipping Max: {c}");
        }
    }
}

/// The last dim of the kernel's first parameter.
fn kernel_width(kernel: &Kernel) -> usize {
    let ty = kernel.values[kernel.params[0].value]
        .ty
        .as_tensor()
        .unwrap();
    ty.shape
        .last()
        .unwrap()
        .eval(&|_| None, &kernel.syms)
        .unwrap() as usize
}

#[test]
fn a_chosen_negative_zero_keeps_its_sign_on_the_device() {
    // -0.0 and +0.0 are equal, so the lowest index wins: a row starting with -0.0 must give exactly
    // -0.0 (sign bit set) from max, min and top-k, bit for bit as the interpreter (and the rule) say;
    // a row starting with +0.0 gives +0.0. The comparison of `check` treats -0.0 == +0.0, so the
    // bits are compared here.
    let kernel = kernel("selections", &[("N", 16)]);
    let program = compile(&kernel);
    let mut rows: Vec<f32> = (0..16).map(|i| if i < 8 { -0.0 } else { 0.0 }).collect();
    rows.extend((0..16).map(|i| if i < 8 { 0.0 } else { -0.0 }));
    rows.extend((0..16).map(|i| if i % 2 == 0 { -0.0 } else { 0.0 }));
    let x = Tensor::from_f32(DType::F32, vec![3, 16], rows.clone()).unwrap();
    let checked = check_program(
        &kernel,
        &program,
        std::slice::from_ref(&x),
        &EmulatorBackend::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let interp = eval(&kernel, &[x]).unwrap();
    let bits =
        |t: &Tensor| -> Vec<u32> { t.as_f32().unwrap().iter().map(|v| v.to_bits()).collect() };
    // Outputs 0 (max), 1 (min) and 4 (top-3 values): the first element of each row wins.
    for o in [0usize, 1, 4] {
        let device = bits(&checked.launched.outputs[o]);
        assert_eq!(
            device,
            bits(&interp[o]),
            "output {o}: device vs interpreter bits"
        );
        let per_row = device.len() / 3;
        for (r, first) in [rows[0], rows[16], rows[32]].into_iter().enumerate() {
            assert_eq!(device[r * per_row], first.to_bits(), "output {o} row {r}");
        }
    }
}
