//! The small example kernels (softmax, RMSNorm, matmul) evaluated through their macro-generated
//! `eval`, against their formulas computed here in f64. Tolerances: f32 results `1e-5` relative;
//! bf16 results must equal the f64 value rounded to bf16, give or take one bf16 step (2^-8 relative),
//! since the kernel computes in f32 before its single rounding.

use moge::graph::DType;
use moge::{KernelDef, Tensor};
use moge_examples::matmul::gemm;
use moge_examples::rmsnorm::rmsnorm;
use moge_examples::softmax::{softmax_bf16, softmax_f32};

/// splitmix64, for test data.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = self.0;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                lo + (hi - lo) * ((z >> 40) as f32 / (1u32 << 24) as f32)
            })
            .collect()
    }
}

fn tensor(dtype: DType, shape: &[usize], data: Vec<f32>) -> Tensor {
    Tensor::from_f32(dtype, shape.to_vec(), data).expect("shape and data agree")
}

fn values(t: &Tensor) -> Vec<f64> {
    t.as_f32()
        .expect("a float tensor")
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

/// `|got - want| <= rel * |want| + abs`, elementwise.
fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64, abs: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (n, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= rel * w.abs() + abs,
            "{what}, element {n}: got {g}, want {w}"
        );
    }
}

fn softmax_rows(x: &[f64], n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(n) {
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
        out.extend(row.iter().map(|v| (v - max).exp() / sum));
    }
    out
}

#[test]
fn softmax_f32_matches_its_formula() {
    for (tokens, seed) in [(0usize, 1u64), (1, 2), (9, 3)] {
        let x = tensor(
            DType::F32,
            &[tokens, 64],
            Rng(seed).uniform(tokens * 64, -8.0, 8.0),
        );
        let out = softmax_f32::<64>::eval(&x).expect("softmax evaluates");
        assert_eq!(out.shape, vec![tokens, 64]);
        assert_close(
            "softmax_f32",
            &values(&out),
            &softmax_rows(&values(&x), 64),
            1e-5,
            1e-9,
        );
    }
}

#[test]
fn softmax_bf16_matches_its_formula_to_bf16_precision() {
    let x = tensor(DType::BF16, &[5, 32], Rng(4).uniform(160, -4.0, 4.0));
    let out = softmax_bf16::<32>::eval(&x).expect("softmax evaluates");
    assert_eq!(out.dtype, DType::BF16);
    assert_close(
        "softmax_bf16",
        &values(&out),
        &softmax_rows(&values(&x), 32),
        2f64.powi(-8),
        1e-30,
    );
}

#[test]
fn rmsnorm_matches_its_formula() {
    let h = 128;
    for (tokens, seed) in [(0usize, 5u64), (3, 6)] {
        let x = tensor(
            DType::BF16,
            &[tokens, h],
            Rng(seed).uniform(tokens * h, -3.0, 3.0),
        );
        let w = tensor(DType::BF16, &[h], Rng(seed + 100).uniform(h, 0.5, 1.5));
        let out = rmsnorm::<128>::eval(&x, &w).expect("rmsnorm evaluates");
        let (xv, wv) = (values(&x), values(&w));
        let mut want = Vec::new();
        for row in xv.chunks(h) {
            let ms = row.iter().map(|v| v * v).sum::<f64>() / h as f64;
            let d = (ms + 1e-5).sqrt();
            want.extend(row.iter().zip(&wv).map(|(v, g)| v / d * g));
        }
        assert_close("rmsnorm", &values(&out), &want, 2f64.powi(-8), 1e-30);
    }
}

#[test]
fn gemm_matches_the_defining_sum() {
    let (k, n) = (48, 40);
    for (m, seed) in [(0usize, 7u64), (1, 8), (17, 9)] {
        let a = tensor(DType::BF16, &[m, k], Rng(seed).uniform(m * k, -1.0, 1.0));
        let b = tensor(
            DType::BF16,
            &[k, n],
            Rng(seed + 50).uniform(k * n, -1.0, 1.0),
        );
        let out = gemm::<48, 40>::eval(&a, &b).expect("gemm evaluates");
        assert_eq!(out.shape, vec![m, n]);
        let (av, bv) = (values(&a), values(&b));
        let mut want = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                want[i * n + j] = (0..k).map(|p| av[i * k + p] * bv[p * n + j]).sum();
            }
        }
        // f32 accumulation of 48 products, then one bf16 rounding: within one bf16 step of the
        // exact value, plus a little absolute slack for sums that cancel to near zero.
        assert_close("gemm", &values(&out), &want, 2f64.powi(-8), 3e-4);
    }
}

#[test]
fn example_kernels_carry_their_graph_ir() {
    // The specialized graph binds the const generics and keeps T (or M) dynamic.
    let g = softmax_f32::<64>::graph().expect("softmax specializes");
    assert_eq!(g.name, "softmax_f32");
    assert_eq!(g.dynamic_dims(), vec!["T"]);
    let g = gemm::<48, 40>::graph().expect("gemm specializes");
    assert_eq!(g.dynamic_dims(), vec!["M"]);
    assert!(<gemm<48, 40> as KernelDef>::GRAPH_TEXT.contains("matmul"));
    assert_eq!(
        <gemm<48, 40> as KernelDef>::bindings(),
        vec![("K", 48), ("N", 40)]
    );
}

#[test]
fn examples_check_at_pangu_pro_moe_config() {
    use moge::graph::verify::verify;
    use moge::graph::{Dim, Type};
    use moge_examples::ffn::moge_ffn;
    use moge_examples::gate::moge_gate;

    // Pangu Pro MoE: H = 5120, E = 64 experts in G = 8 groups, expert intermediate I = 1344, shared
    // expert intermediate S = 4 * 1344 = 5376.
    let ffn = moge_ffn::<5120, 64, 8, 1344, 5376>::graph().expect("the FFN layer specializes");
    verify(&ffn).expect("the specialized FFN layer verifies");
    let shape = |name: &str| -> Vec<Dim> {
        let param = ffn
            .params
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("parameter {name}"));
        match ffn.ty(param.value) {
            Type::Tensor(t) => t.shape.clone(),
            Type::Routes(_) => panic!("{name} is a tensor"),
        }
    };
    // The fused up projection holds gate and up halves: 2 * I = 2688 columns.
    assert_eq!(
        shape("w13")[1..],
        [Dim::lit(5120), Dim::lit(2688)],
        "w13 is (E, H, 2I)"
    );
    assert_eq!(shape("shared_w13"), [Dim::lit(5120), Dim::lit(10752)]);
    assert_eq!(shape("w2"), [Dim::lit(64), Dim::lit(1344), Dim::lit(5120)]);
    assert_eq!(ffn.dynamic_dims(), vec!["T"]);

    let gate = moge_gate::<64, 8>::graph().expect("the gate specializes");
    verify(&gate).expect("the specialized gate verifies");
    // The group count must divide the expert count: 64 experts do not split into 6 groups.
    assert!(moge_gate::<64, 6>::graph().is_err());
    assert!(moge_ffn::<5120, 64, 6, 1344, 5376>::graph().is_err());
}
