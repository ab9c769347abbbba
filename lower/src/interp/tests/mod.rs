//! Tests of the interpreter. Every expected value is worked out by hand (or from the defining formula

// The literals are exact binary fractions written out in full (e.g. 1.00390625 = 1 + 2^-8), which
// clippy would shorten to the nearest shortest decimal; the full form shows the rounding points.
#![allow(clippy::excessive_precision)]
//! in f64) in the comments next to it, never copied from the interpreter's output.

mod bound;
mod driver;
mod elementwise;
mod index;
mod layout;
mod moe;
mod reduce;

use crate::graph::{
    DType, Dim, Kernel, OpKind, Output, SrcLoc, Sym, SymKind, TensorType, Type, Value,
};
use crate::interp::{eval, EvalError, Tensor};

/// A hand-built kernel under construction.
pub(super) struct Builder {
    pub(super) k: Kernel,
}

impl Builder {
    pub(super) fn new(name: &str) -> Builder {
        Builder {
            k: Kernel::new(name),
        }
    }

    pub(super) fn dyn_sym(&mut self, name: &str) -> Sym {
        self.k.add_sym(name, SymKind::Dynamic)
    }

    pub(super) fn param(&mut self, name: &str, dtype: DType, dims: Vec<Dim>) -> Value {
        self.k.add_param(name, ty(dtype, dims), SrcLoc::default())
    }

    pub(super) fn op(&mut self, kind: OpKind, args: &[Value], results: Vec<Type>) -> Vec<Value> {
        self.k
            .push_op(kind, args.to_vec(), results, SrcLoc::default())
            .to_vec()
    }

    pub(super) fn op1(&mut self, kind: OpKind, args: &[Value], result: Type) -> Value {
        self.op(kind, args, vec![result])[0]
    }

    pub(super) fn finish(mut self, outputs: &[Value]) -> Kernel {
        for (i, &value) in outputs.iter().enumerate() {
            self.k.outputs.push(Output {
                name: format!("out{i}"),
                value,
            });
        }
        self.k
    }
}

/// A tensor type.
pub(super) fn ty(dtype: DType, dims: Vec<Dim>) -> Type {
    Type::Tensor(TensorType::new(dtype, dims))
}

/// Literal dims.
pub(super) fn lits(dims: &[usize]) -> Vec<Dim> {
    dims.iter().map(|&d| Dim::lit(d as i64)).collect()
}

/// A tensor type with literal dims.
pub(super) fn lty(dtype: DType, dims: &[usize]) -> Type {
    ty(dtype, lits(dims))
}

/// A kernel with one parameter per input (literal shapes) and one op, whose results are the outputs.
pub(super) fn single_op_kernel(kind: OpKind, inputs: &[&Tensor], results: Vec<Type>) -> Kernel {
    let mut b = Builder::new("single");
    let args: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, t)| b.param(&format!("p{i}"), t.dtype, lits(&t.shape)))
        .collect();
    let outs = b.op(kind, &args, results);
    b.finish(&outs)
}

/// Evaluates one op on `inputs`.
pub(super) fn run1(
    kind: OpKind,
    inputs: &[&Tensor],
    results: Vec<Type>,
) -> Result<Vec<Tensor>, EvalError> {
    let kernel = single_op_kernel(kind, inputs, results);
    let owned: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
    eval(&kernel, &owned)
}

/// Evaluates one op with one result and returns it.
pub(super) fn run(kind: OpKind, inputs: &[&Tensor], result: Type) -> Tensor {
    match run1(kind, inputs, vec![result]) {
        Ok(mut out) => out.remove(0),
        Err(e) => panic!("evaluation failed: {e}"),
    }
}

/// Evaluates one op expected to fail and returns the message.
pub(super) fn run_err(kind: OpKind, inputs: &[&Tensor], results: Vec<Type>) -> String {
    match run1(kind, inputs, results) {
        Ok(out) => panic!("expected an error, got {out:?}"),
        Err(e) => e.to_string(),
    }
}

pub(super) fn f32t(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_f32(DType::F32, shape.to_vec(), data.to_vec()).unwrap()
}

pub(super) fn bf16t(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_f32(DType::BF16, shape.to_vec(), data.to_vec()).unwrap()
}

pub(super) fn f16t(shape: &[usize], data: &[f32]) -> Tensor {
    Tensor::from_f32(DType::F16, shape.to_vec(), data.to_vec()).unwrap()
}

pub(super) fn i32t(shape: &[usize], data: &[i32]) -> Tensor {
    Tensor::from_i32(shape.to_vec(), data.to_vec()).unwrap()
}

/// The f32 elements of a tensor.
pub(super) fn f(t: &Tensor) -> Vec<f32> {
    t.as_f32().expect("a float tensor").to_vec()
}

/// The i32 elements of a tensor.
pub(super) fn i(t: &Tensor) -> Vec<i32> {
    t.as_i32().expect("an i32 tensor").to_vec()
}

/// Asserts `got` is within `rel` (relative, or absolute near 0) of `want`, elementwise.
pub(super) fn assert_close(got: &[f32], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "length of {got:?} against {want:?}");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = rel * w.abs().max(1.0);
        assert!(
            (f64::from(g) - w).abs() <= tol,
            "element {k}: got {g}, want {w} (tolerance {tol})"
        );
    }
}

/// Asserts `msg` contains every one of `parts`.
pub(super) fn assert_contains(msg: &str, parts: &[&str]) {
    for part in parts {
        assert!(
            msg.contains(part),
            "message {msg:?} does not contain {part:?}"
        );
    }
}
