//! A plain-Rust MoGE reference, written directly from the formulas of moge-semantics §1.2 and the
//! oracle checklist of §7 (loops over tokens, groups and experts, in f64, no use of the graph IR or its
//! interpreter), and tests that the example kernels `moge_gate` and `moge_ffn` match it.
//!
//! Tolerances:
//! - expert ids: exact. Where two probabilities of a group are within `TIE_MARGIN` (relative) of each
//!   other the kernel's f32 rounding may legitimately pick either; such near-ties only accept the
//!   kernel's pick if it is one of them, and the FFN output is then checked with the kernel's pick.
//!   Exact ties must go to the lowest id.
//! - gate weights (f32 softmax): `1e-5` relative, plus `1e-7` absolute.
//! - FFN output (bf16, about ten roundings to bf16 along the way, each at most 2^-9 relative):
//!   `2e-2` times the root mean square of the token's reference output row, plus `2^-8` times the
//!   element itself (its own final rounding, with headroom). On the seeds used, the largest error is
//!   about 0.7 of this; a wrong expert or a missing shared expert is off by about the whole row.

use moge::graph::DType;
use moge::Tensor;
use moge_examples::ffn::moge_ffn;
use moge_examples::gate::moge_gate;

use crate::rng::Rng;

/// Probabilities this close (relative) count as a near-tie the kernel may break either way.
const TIE_MARGIN: f64 = 1e-5;

/// The reference itself: nothing here knows about moge.
mod reference {
    /// `exp(l - max) / sum(exp(l - max))`.
    pub fn softmax(logits: &[f64]) -> Vec<f64> {
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        exps.iter().map(|e| e / sum).collect()
    }

    /// `x * sigmoid(x)`.
    pub fn silu(x: f64) -> f64 {
        x / (1.0 + (-x).exp())
    }

    /// The router's choice for one token.
    pub struct Choice {
        /// `expert[g]`: the global id of the first maximum of group `g`.
        pub expert: Vec<usize>,
        /// `candidates[g]`: every id of group `g` whose probability is within the margin of the max.
        pub candidates: Vec<Vec<usize>>,
        /// The probabilities over all experts.
        pub probs: Vec<f64>,
    }

    /// MoGE gate for one token (§1.2 steps 2 and 3, §7 item 1): a global softmax, then in each of the
    /// `groups` contiguous groups the first expert with the largest probability.
    pub fn route_token(logits: &[f64], groups: usize, margin: f64) -> Choice {
        let probs = softmax(logits);
        let size = logits.len() / groups;
        let mut expert = Vec::with_capacity(groups);
        let mut candidates = Vec::with_capacity(groups);
        for g in 0..groups {
            let mut best = g * size;
            for e in g * size..(g + 1) * size {
                if probs[e] > probs[best] {
                    best = e;
                }
            }
            expert.push(best);
            let close: Vec<usize> = (g * size..(g + 1) * size)
                .filter(|&e| probs[best] - probs[e] <= margin * probs[best])
                .collect();
            candidates.push(close);
        }
        Choice {
            expert,
            candidates,
            probs,
        }
    }

    /// `y[n] = sum_k x[k] * w[k][n]` for a row-major `w` of `x.len()` rows and `n` columns.
    pub fn vec_mat(x: &[f64], w: &[f64], n: usize) -> Vec<f64> {
        let mut y = vec![0.0; n];
        for (k, &xk) in x.iter().enumerate() {
            for (j, yj) in y.iter_mut().enumerate() {
                *yj += xk * w[k * n + j];
            }
        }
        y
    }

    /// A SwiGLU MLP: `down(silu(gate(x)) * up(x))`, with `w13: (H, 2I)` holding the gate columns
    /// first and the up columns second, and `w2: (I, H)`.
    pub fn swiglu_mlp(x: &[f64], w13: &[f64], w2: &[f64], inter: usize) -> Vec<f64> {
        let h13 = vec_mat(x, w13, 2 * inter);
        let act: Vec<f64> = (0..inter).map(|i| silu(h13[i]) * h13[inter + i]).collect();
        vec_mat(&act, w2, x.len())
    }

    /// The FFN layer's inputs, in f64, row-major.
    pub struct Ffn<'a> {
        pub hidden: usize,
        pub experts: usize,
        pub groups: usize,
        pub inter: usize,
        pub shared: usize,
        pub w_gate: &'a [f64],
        pub router_scale: &'a [f64],
        pub w13: &'a [f64],
        pub w2: &'a [f64],
        pub shared_w13: &'a [f64],
        pub shared_w2: &'a [f64],
    }

    impl Ffn<'_> {
        /// The router logits of one token: `x @ w_gate`.
        pub fn logits(&self, x: &[f64]) -> Vec<f64> {
            vec_mat(x, self.w_gate, self.experts)
        }

        /// §1.2: `y = sum_g p[e_g] * router_scale[e_g] * Expert_{e_g}(x) + Shared(x)` for one token,
        /// with the experts `chosen` (one per group) and the probabilities `probs`.
        pub fn token(&self, x: &[f64], chosen: &[usize], probs: &[f64]) -> Vec<f64> {
            let (h, i) = (self.hidden, self.inter);
            let mut out = swiglu_mlp(x, self.shared_w13, self.shared_w2, self.shared);
            for &e in chosen {
                let weight = probs[e] * self.router_scale[e];
                let w13 = &self.w13[e * h * 2 * i..(e + 1) * h * 2 * i];
                let w2 = &self.w2[e * i * h..(e + 1) * i * h];
                let y = swiglu_mlp(x, w13, w2, i);
                for (o, v) in out.iter_mut().zip(y) {
                    *o += weight * v;
                }
            }
            out
        }
    }
}

/// `n` values uniform in `[lo, hi)`.
fn uniform(rng: &mut Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n)
        .map(|_| rng.uniform(lo as f64, hi as f64) as f32)
        .collect()
}

fn tensor(dtype: DType, shape: &[usize], data: Vec<f32>) -> Tensor {
    Tensor::from_f32(dtype, shape.to_vec(), data).expect("shape and data agree")
}

/// The tensor's values (already rounded to its dtype) in f64.
fn values(t: &Tensor) -> Vec<f64> {
    t.as_f32()
        .expect("a float tensor")
        .iter()
        .map(|&v| f64::from(v))
        .collect()
}

fn ids(t: &Tensor) -> Vec<usize> {
    t.as_i32()
        .expect("an i32 tensor")
        .iter()
        .map(|&v| usize::try_from(v).expect("a valid id"))
        .collect()
}

/// Checks the kernel's expert ids against the reference choice for token `t`; returns the ids to use
/// for the reference output (the kernel's, which equal the reference's except at near-ties).
fn check_choice(t: usize, kernel: &[usize], choice: &reference::Choice) -> Vec<usize> {
    for (g, &e) in kernel.iter().enumerate() {
        let candidates = &choice.candidates[g];
        if candidates.len() == 1 {
            assert_eq!(
                e, choice.expert[g],
                "token {t}, group {g}: kernel picked {e}"
            );
        } else {
            assert!(
                candidates.contains(&e),
                "token {t}, group {g}: {e} is not among the near-ties {candidates:?}"
            );
        }
    }
    kernel.to_vec()
}

/// Runs `moge_gate::<E, G>` on random logits for `tokens` tokens and compares with the reference.
fn check_gate<const E: usize, const G: usize>(tokens: usize, seed: u64) {
    let mut rng = Rng(seed);
    let logits = tensor(
        DType::F32,
        &[tokens, E],
        uniform(&mut rng, tokens * E, -4.0, 4.0),
    );
    let scale = tensor(DType::F32, &[E], uniform(&mut rng, E, 0.5, 1.5));
    let (weight, expert) = moge_gate::<E, G>::eval(&logits, &scale).expect("the gate evaluates");
    assert_eq!(weight.shape, vec![tokens, G]);
    assert_eq!(expert.shape, vec![tokens, G]);
    let (l, s) = (values(&logits), values(&scale));
    let (w, ex) = (values(&weight), ids(&expert));
    for t in 0..tokens {
        let choice = reference::route_token(&l[t * E..(t + 1) * E], G, TIE_MARGIN);
        let chosen = check_choice(t, &ex[t * G..(t + 1) * G], &choice);
        for (g, &e) in chosen.iter().enumerate() {
            // Column g holds an expert of group g.
            assert!(
                (g * E / G..(g + 1) * E / G).contains(&e),
                "token {t}, group {g}: expert {e}"
            );
            let want = choice.probs[e] * s[e];
            let got = w[t * G + g];
            assert!(
                (got - want).abs() <= 1e-5 * want.abs() + 1e-7,
                "token {t}, group {g}: weight {got}, want {want}"
            );
        }
    }
}

#[test]
fn gate_matches_the_reference_at_pangu_size() {
    for (tokens, seed) in [(0, 1), (1, 2), (7, 3), (33, 4)] {
        check_gate::<64, 8>(tokens, seed);
    }
}

#[test]
fn gate_matches_the_reference_at_small_size() {
    for (tokens, seed) in [(0, 5), (1, 6), (7, 7), (33, 8)] {
        check_gate::<16, 4>(tokens, seed);
    }
}

#[test]
fn gate_breaks_exact_ties_by_the_lowest_id() {
    // Token 0: all logits equal, so every group picks its first expert and every weight is
    // router_scale[e] / 64. Token 1: in every group g the logits are 1 except 3 at positions 2 and
    // 5 of the group, so the pick is 8g + 2.
    let mut l = vec![0.0f32; 64];
    for _group in 0..8 {
        for r in 0..8 {
            l.push(if r == 2 || r == 5 { 3.0 } else { 1.0 });
        }
    }
    let logits = tensor(DType::F32, &[2, 64], l);
    let scale_values: Vec<f32> = (0..64).map(|e| 1.0 + e as f32 / 64.0).collect();
    let scale = tensor(DType::F32, &[64], scale_values.clone());
    let (weight, expert) = moge_gate::<64, 8>::eval(&logits, &scale).expect("the gate evaluates");
    let ex = ids(&expert);
    assert_eq!(&ex[..8], &[0, 8, 16, 24, 32, 40, 48, 56]);
    assert_eq!(&ex[8..], &[2, 10, 18, 26, 34, 42, 50, 58]);
    let w = values(&weight);
    for g in 0..8 {
        let want = f64::from(scale_values[8 * g]) / 64.0;
        assert!(
            (w[g] - want).abs() <= 1e-5 * want,
            "group {g}: weight {}, want {want}",
            w[g]
        );
    }
    // The reference agrees on both tokens.
    let lv = values(&logits);
    assert_eq!(reference::route_token(&lv[..64], 8, 0.0).expert, &ex[..8]);
    assert_eq!(reference::route_token(&lv[64..], 8, 0.0).expert, &ex[8..]);
}

/// The small FFN configuration.
pub(crate) const H: usize = 256;
pub(crate) const E: usize = 16;
pub(crate) const G: usize = 4;
pub(crate) const I: usize = 64;
pub(crate) const S: usize = 128;

/// Random FFN inputs for `tokens` tokens, scaled so that activations stay of order one. If `flat_gate`,
/// the router weights are zero (every logit ties).
pub(crate) fn ffn_inputs(tokens: usize, seed: u64, flat_gate: bool) -> Vec<Tensor> {
    let mut rng = Rng(seed);
    let u = |rng: &mut Rng, n: usize, scale: f32| uniform(rng, n, -scale, scale);
    let x = tensor(DType::BF16, &[tokens, H], u(&mut rng, tokens * H, 1.0));
    let gate_scale = if flat_gate {
        0.0
    } else {
        4.0 / (H as f32).sqrt()
    };
    let w_gate = tensor(DType::F32, &[H, E], u(&mut rng, H * E, gate_scale));
    let router_scale = tensor(DType::F32, &[E], uniform(&mut rng, E, 0.5, 1.5));
    let w13 = tensor(
        DType::BF16,
        &[E, H, 2 * I],
        u(&mut rng, E * H * 2 * I, 2.0 / (H as f32).sqrt()),
    );
    let w2 = tensor(
        DType::BF16,
        &[E, I, H],
        u(&mut rng, E * I * H, 2.0 / (I as f32).sqrt()),
    );
    let shared_w13 = tensor(
        DType::BF16,
        &[H, 2 * S],
        u(&mut rng, H * 2 * S, 2.0 / (H as f32).sqrt()),
    );
    let shared_w2 = tensor(
        DType::BF16,
        &[S, H],
        u(&mut rng, S * H, 2.0 / (S as f32).sqrt()),
    );
    vec![x, w_gate, router_scale, w13, w2, shared_w13, shared_w2]
}

/// Runs `moge_ffn` and compares every token with the reference. Returns the kernel's expert ids.
fn check_ffn(inputs: &[Tensor], tokens: usize) -> Vec<usize> {
    let (out, expert) = moge_ffn::<H, E, G, I, S>::eval(
        &inputs[0], &inputs[1], &inputs[2], &inputs[3], &inputs[4], &inputs[5], &inputs[6],
    )
    .expect("the FFN layer evaluates");
    check_ffn_outputs(inputs, tokens, &out, &expert)
}

/// Compares the layer's outputs `out` and `expert` (from the interpreter or a device) on `inputs`
/// with the f64 reference at the small configuration; returns the expert ids.
pub(crate) fn check_ffn_outputs(
    inputs: &[Tensor],
    tokens: usize,
    out: &Tensor,
    expert: &Tensor,
) -> Vec<usize> {
    assert_eq!(out.shape, vec![tokens, H]);
    assert_eq!(out.dtype, DType::BF16);
    assert_eq!(expert.shape, vec![tokens, G]);
    let v: Vec<Vec<f64>> = inputs.iter().map(values).collect();
    let layer = reference::Ffn {
        hidden: H,
        experts: E,
        groups: G,
        inter: I,
        shared: S,
        w_gate: &v[1],
        router_scale: &v[2],
        w13: &v[3],
        w2: &v[4],
        shared_w13: &v[5],
        shared_w2: &v[6],
    };
    let (got, ex) = (values(out), ids(expert));
    for t in 0..tokens {
        let x = &v[0][t * H..(t + 1) * H];
        let choice = reference::route_token(&layer.logits(x), layer.groups, TIE_MARGIN);
        let chosen = check_choice(t, &ex[t * G..(t + 1) * G], &choice);
        let want = layer.token(x, &chosen, &choice.probs);
        let rms = (want.iter().map(|w| w * w).sum::<f64>() / H as f64).sqrt();
        for (n, (&g, &w)) in got[t * H..(t + 1) * H].iter().zip(&want).enumerate() {
            let tol = 2e-2 * rms + 2f64.powi(-8) * w.abs();
            assert!(
                (g - w).abs() <= tol,
                "token {t}, hidden {n}: got {g}, want {w} (row rms {rms})"
            );
        }
    }
    ex
}

#[test]
fn ffn_layer_matches_the_reference() {
    for (tokens, seed) in [(0, 11), (1, 12), (7, 13), (33, 14)] {
        check_ffn(&ffn_inputs(tokens, seed, false), tokens);
    }
}

#[test]
fn ffn_layer_routes_tied_logits_to_the_first_expert_of_each_group() {
    // With a zero router every probability is 1/16: each token takes experts 0, 4, 8 and 12, all
    // tokens land on the same four experts, and each is weighted by router_scale[e] / 16.
    let tokens = 5;
    let ex = check_ffn(&ffn_inputs(tokens, 21, true), tokens);
    for t in 0..tokens {
        assert_eq!(&ex[t * G..(t + 1) * G], &[0, 4, 8, 12], "token {t}");
    }
}
