//! The MoE family: routing tables, dispatch, grouped matmul, SwiGLU, combine.

use super::elementwise::{float_only, same_dtype, sigmoid};
use super::layout::map_data;
use super::linalg::{axpy, float_or_int, matmul_f32_into, matmul_i32_into};
use super::tensor::{fmt_shape, round_slice};
use super::{OpError, Operand, Tensor, TensorData};

/// A routing table made by [`route`] (see [`crate::graph::RoutesType`]); public as the oracle of
/// the device routing kernels (`schedule::moe::route`), whose GM form is `order`, `position` and
/// `offsets` as i32.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Routes {
    /// Tokens `T`.
    pub tokens: usize,
    /// Slots per token `K`.
    pub k: usize,
    /// Experts `E`.
    pub experts: usize,
    /// `order[d] = p`: the slot `p = t*K + k` that destination row `d` holds.
    pub order: Vec<usize>,
    /// `position[p] = d`: the destination row of slot `p`.
    pub position: Vec<usize>,
    /// `offsets[e]`: the first destination row of expert `e`; `offsets[E] = T*K`.
    pub offsets: Vec<usize>,
}

/// Builds the routing table of `expert_ids: (T, K)`: a stable counting sort of the slots by expert
/// (token-major within an expert). An id outside `[0, experts)` is an error naming the token and slot.
pub fn route(expert_ids: &Tensor, experts: usize) -> Result<Routes, OpError> {
    let operand = Operand::new(0, "expert_ids");
    let Some(ids) = expert_ids.as_i32() else {
        return Err(OpError::DType {
            operand,
            expected: "i32".to_string(),
            found: expert_ids.dtype,
        });
    };
    let [tokens, k] = expert_ids.shape[..] else {
        return Err(OpError::Shape {
            operand,
            expected: "rank 2 (T, K)".to_string(),
            found: expert_ids.shape.clone(),
        });
    };
    let mut counts = vec![0usize; experts];
    for (p, &id) in ids.iter().enumerate() {
        match usize::try_from(id).ok().filter(|&e| e < experts) {
            Some(e) => counts[e] += 1,
            None => {
                return Err(OpError::ExpertOutOfRange {
                    operand,
                    id,
                    token: p / k,
                    slot: p % k,
                    experts,
                });
            }
        }
    }
    let mut offsets = Vec::with_capacity(experts + 1);
    let mut acc = 0usize;
    offsets.push(0);
    for &c in &counts {
        acc += c;
        offsets.push(acc);
    }
    // Slots are visited in order, so the rows of one expert stay in token order.
    let mut next: Vec<usize> = offsets[..experts].to_vec();
    let mut order = vec![0usize; ids.len()];
    let mut position = vec![0usize; ids.len()];
    for (p, &id) in ids.iter().enumerate() {
        let e = id as usize;
        let d = next[e];
        next[e] += 1;
        order[d] = p;
        position[p] = d;
    }
    Ok(Routes {
        tokens,
        k,
        experts,
        order,
        position,
        offsets,
    })
}

/// `out[d, :] = x[order[d] / K, :]`.
pub(crate) fn dispatch(x: &Tensor, routes: &Routes) -> Result<Tensor, OpError> {
    let operand = Operand::new(0, "x");
    let h = match x.shape[..] {
        [t, h] if t == routes.tokens => h,
        _ => {
            return Err(OpError::Shape {
                operand,
                expected: format!(
                    "(T, H) with T = {} (the tokens of the routing table)",
                    routes.tokens
                ),
                found: x.shape.clone(),
            })
        }
    };
    fn pick<T: Copy>(v: &[T], routes: &Routes, h: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(routes.order.len() * h);
        for &p in &routes.order {
            let t = p / routes.k;
            out.extend_from_slice(&v[t * h..(t + 1) * h]);
        }
        out
    }
    let data = map_data!(&x.data, v => pick(v, routes, h));
    Ok(Tensor {
        dtype: x.dtype,
        shape: vec![routes.order.len(), h],
        data,
    })
}

/// Rows `offsets[e]..offsets[e+1]` of `a: (T*K, H)` times `w[e]` for every expert, `w: (E, H, N)`.
pub(crate) fn grouped_matmul(a: &Tensor, w: &Tensor, routes: &Routes) -> Result<Tensor, OpError> {
    same_dtype(a, w, Operand::new(1, "w"))?;
    let rows = routes.order.len();
    let h = match a.shape[..] {
        [r, h] if r == rows => h,
        _ => {
            return Err(OpError::Shape {
                operand: Operand::new(0, "a"),
                expected: format!("(T*K, H) with T*K = {rows} (the rows of the routing table)"),
                found: a.shape.clone(),
            })
        }
    };
    let n = match w.shape[..] {
        [e, hw, n] if e == routes.experts && hw == h => n,
        _ => {
            return Err(OpError::Shape {
                operand: Operand::new(1, "w"),
                expected: format!("(E, H, N) with E = {} and H = {h}", routes.experts),
                found: w.shape.clone(),
            })
        }
    };
    let data = match (&a.data, &w.data) {
        (TensorData::F32(x), TensorData::F32(y)) => {
            let mut out = vec![0.0f32; rows * n];
            for e in 0..routes.experts {
                let (lo, hi) = (routes.offsets[e], routes.offsets[e + 1]);
                matmul_f32_into(
                    &x[lo * h..hi * h],
                    &y[e * h * n..(e + 1) * h * n],
                    h,
                    n,
                    &mut out[lo * n..hi * n],
                );
            }
            round_slice(a.dtype, &mut out);
            TensorData::F32(out)
        }
        (TensorData::I32(x), TensorData::I32(y)) => {
            let mut out = vec![0i32; rows * n];
            for e in 0..routes.experts {
                let (lo, hi) = (routes.offsets[e], routes.offsets[e + 1]);
                matmul_i32_into(
                    &x[lo * h..hi * h],
                    &y[e * h * n..(e + 1) * h * n],
                    h,
                    n,
                    &mut out[lo * n..hi * n],
                );
            }
            TensorData::I32(out)
        }
        _ => return Err(float_or_int(Operand::new(0, "a"), a)),
    };
    Ok(Tensor {
        dtype: a.dtype,
        shape: vec![rows, n],
        data,
    })
}

/// `silu(x[..., :I]) * x[..., I:]` for `x: (..., 2*I)`, in `f32`, rounded once.
pub(crate) fn swiglu_fused(x: &Tensor) -> Result<Tensor, OpError> {
    let operand = Operand::new(0, "x");
    let TensorData::F32(v) = &x.data else {
        return Err(float_only(operand, x.dtype));
    };
    let two_i = match x.shape.last() {
        Some(&d) if d % 2 == 0 => d,
        _ => {
            return Err(OpError::Shape {
                operand,
                expected: "an even last dim (gate and up halves)".to_string(),
                found: x.shape.clone(),
            })
        }
    };
    let i = two_i / 2;
    let mut shape = x.shape.clone();
    if let Some(last) = shape.last_mut() {
        *last = i;
    }
    let mut out = Vec::with_capacity(v.len() / 2);
    if i > 0 {
        for row in v.chunks_exact(two_i) {
            let (gate, up) = row.split_at(i);
            out.extend(gate.iter().zip(up).map(|(&g, &u)| swiglu1(g, u)));
        }
    }
    round_slice(x.dtype, &mut out);
    Ok(Tensor {
        dtype: x.dtype,
        shape,
        data: TensorData::F32(out),
    })
}

/// `silu(gate) * up` for two operands of equal shape, in `f32`, rounded once.
pub(crate) fn swiglu_pair(gate: &Tensor, up: &Tensor) -> Result<Tensor, OpError> {
    same_dtype(gate, up, Operand::new(1, "up"))?;
    let TensorData::F32(g) = &gate.data else {
        return Err(float_only(Operand::new(0, "gate"), gate.dtype));
    };
    let (TensorData::F32(u), true) = (&up.data, up.shape == gate.shape) else {
        return Err(OpError::Shape {
            operand: Operand::new(1, "up"),
            expected: format!(
                "{} (the shape of operand 0 (`gate`))",
                fmt_shape(&gate.shape)
            ),
            found: up.shape.clone(),
        });
    };
    let mut out: Vec<f32> = g.iter().zip(u).map(|(&g, &u)| swiglu1(g, u)).collect();
    round_slice(gate.dtype, &mut out);
    Ok(Tensor {
        dtype: gate.dtype,
        shape: gate.shape.clone(),
        data: TensorData::F32(out),
    })
}

/// `silu(g) * u` in `f32`.
fn swiglu1(g: f32, u: f32) -> f32 {
    g * sigmoid(g) * u
}

/// `out[t, :] = sum_k weights[t, k] * y[position[t*K + k], :]`, summed over `k` in order in `f32`.
pub(crate) fn combine(y: &Tensor, routes: &Routes, weights: &Tensor) -> Result<Tensor, OpError> {
    let TensorData::F32(yv) = &y.data else {
        return Err(float_only(Operand::new(0, "y"), y.dtype));
    };
    let rows = routes.order.len();
    let h = match y.shape[..] {
        [r, h] if r == rows => h,
        _ => {
            return Err(OpError::Shape {
                operand: Operand::new(0, "y"),
                expected: format!("(T*K, H) with T*K = {rows} (the rows of the routing table)"),
                found: y.shape.clone(),
            })
        }
    };
    let TensorData::F32(wv) = &weights.data else {
        return Err(float_only(Operand::new(2, "weights"), weights.dtype));
    };
    if weights.shape[..] != [routes.tokens, routes.k] {
        return Err(OpError::Shape {
            operand: Operand::new(2, "weights"),
            expected: format!(
                "(T, K) = {} (the routing table's)",
                fmt_shape(&[routes.tokens, routes.k])
            ),
            found: weights.shape.clone(),
        });
    }
    let mut out = vec![0.0f32; routes.tokens * h];
    if h > 0 {
        for (t, out_row) in out.chunks_exact_mut(h).enumerate() {
            for slot in 0..routes.k {
                let p = t * routes.k + slot;
                let d = routes.position[p];
                let w = wv[p];
                axpy(w, &yv[d * h..(d + 1) * h], out_row);
            }
        }
    }
    round_slice(y.dtype, &mut out);
    Ok(Tensor {
        dtype: y.dtype,
        shape: vec![routes.tokens, h],
        data: TensorData::F32(out),
    })
}
