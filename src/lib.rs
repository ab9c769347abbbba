//! moge: a Rust kernel compiler for Huawei Ascend NPUs.
//!
//! Kernels are written as Rust functions in a small tensor DSL and marked with
//! [`#[moge::kernel]`](kernel). The macro checks the kernel at compile time (names, arities, shapes
//! with symbolic dims, dtypes; errors point at the offending tokens) and replaces the function by a
//! typed item that carries the kernel's [graph IR](graph):
//!
//! ```
//! use moge::prelude::*;
//!
//! /// MoGE router: softmax over all experts, the best expert in every group, times a per-expert scale.
//! #[moge::kernel]
//! pub fn moge_gate<const E: usize, const G: usize>(
//!     logits: Tensor<f32, (T, E)>,        // T is not declared: a dynamic dim, bound at launch
//!     router_scale: Tensor<f32, (E,)>,    // E, G: static dims, bound at specialization
//! ) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
//!     let probs = softmax(logits, -1);
//!     let (top, expert) = group_topk(probs, G, 1);
//!     let weight = top * gather(router_scale, expert);
//!     (weight, expert)
//! }
//!
//! # fn main() -> Result<(), moge::Error> {
//! // The kernel is now a struct generic over its static dims.
//! let graph = moge_gate::<4, 2>::graph()?;
//! assert_eq!(graph.params.len(), 2);
//!
//! // Evaluate it with the reference interpreter: one token, four experts in two groups.
//! let logits = Tensor::from_f32(DType::F32, vec![1, 4], vec![0.0, 1.0, 3.0, 2.0]).unwrap();
//! let scale = Tensor::from_f32(DType::F32, vec![4], vec![1.0, 1.0, 2.0, 2.0]).unwrap();
//! let (weight, expert) = moge_gate::<4, 2>::eval(&logits, &scale)?;
//! assert_eq!(expert.as_i32(), Some(&[1, 2][..]));
//! assert_eq!(weight.shape, vec![1, 2]);
//! # Ok(())
//! # }
//! ```
//!
//! The DSL itself (signature forms, ops, schedule hints, checks) is documented in the `moge_dsl`
//! crate. The generated item has:
//!
//! - `NAME` and `GRAPH_TEXT`: the kernel's name and its unspecialized graph IR in text form;
//! - `graph()`: the graph IR specialized with the const generic values ([`KernelDef::graph`]);
//! - `eval(&Tensor, ...)`: evaluation with the reference interpreter, returning one tensor or a tuple;
//! - an impl of [`KernelDef`].
//!
//! When a kernel has errors, each is reported at its tokens and a fallback item with the same shape
//! is generated, so code using the kernel keeps type-checking; its functions return
//! [`Error::NotCompiled`].

// Lets the `::moge::...` paths of generated code resolve inside this crate too.
#[allow(unused_extern_crates)]
extern crate self as moge;

pub use moge_lower::graph;
pub use moge_lower::graph::DType;
pub use moge_lower::interp::Tensor;
pub use moge_macros::kernel;
/// The runtime (backends, launches, reports): a kernel crate that depends on `moge` alone launches
/// with `moge::runtime::backend::EmulatorBackend` or `AclBackend`.
pub use moge_runtime as runtime;

#[cfg(feature = "cli")]
pub mod bench;
pub mod demo;
pub mod export;
pub mod files;
pub mod inputs;
pub mod layer;
pub mod load;
pub mod prebuilt;
pub mod run;
pub mod run_dir;
pub mod select;
pub mod timing_only;

use moge_lower::graph::parse::ParseError;
use moge_lower::graph::specialize::SpecializeError;
use moge_lower::interp::EvalError;

/// What kernel authors import: `use moge::prelude::*;`.
pub mod prelude {
    pub use crate::{kernel, DType, KernelDef, Tensor};
}

/// Errors of the kernel API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The graph IR text embedded by the macro does not parse (a bug in moge, or a version mismatch
    /// between the macro and the library).
    #[error("kernel `{kernel}`: the embedded graph IR does not parse: {source}")]
    GraphText {
        /// The kernel.
        kernel: String,
        /// The parse error.
        source: Box<ParseError>,
    },
    /// Binding the static dims failed (a constraint such as "`G` divides `E`" does not hold).
    #[error("kernel `{kernel}`: cannot specialize: {source}")]
    Specialize {
        /// The kernel.
        kernel: String,
        /// Why.
        source: Box<SpecializeError>,
    },
    /// The reference interpreter failed (wrong input shapes or dtypes, an index out of range).
    #[error("kernel `{kernel}`: evaluation failed: {source}")]
    Eval {
        /// The kernel.
        kernel: String,
        /// Why.
        source: Box<EvalError>,
    },
    /// The interpreter returned a different number of results than the kernel declares.
    #[error("kernel `{kernel}` returned {found} results, expected {expected}")]
    ResultCount {
        /// The kernel.
        kernel: String,
        /// Results declared.
        expected: usize,
        /// Results returned.
        found: usize,
    },
    /// The kernel has compile errors (reported by `#[moge::kernel]`); only its fallback item exists.
    #[error("kernel `{kernel}` did not compile: see the errors reported by #[moge::kernel]")]
    NotCompiled {
        /// The kernel.
        kernel: String,
    },
}

/// A kernel defined with `#[moge::kernel]`: implemented by the generated struct.
pub trait KernelDef {
    /// The kernel's name (the function's name).
    const NAME: &'static str;

    /// The kernel's graph IR in text form, before specialization.
    const GRAPH_TEXT: &'static str;

    /// The values of the static dims (the const generics), by name, in declaration order.
    fn bindings() -> Vec<(&'static str, i64)>;

    /// The kernel's graph IR, specialized with [`bindings`](KernelDef::bindings).
    fn graph() -> Result<graph::Kernel, Error> {
        __private::graph(Self::NAME, Self::GRAPH_TEXT, &Self::bindings())
    }
}

/// Items used by the code `#[moge::kernel]` generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::{Error, KernelDef, Tensor};
    pub use moge_lower::graph::Kernel;
    pub use std::result::Result;
    pub use std::vec::Vec;

    use moge_lower::graph::parse::parse_kernel;

    /// Parses `text` and specializes it with `bindings`.
    pub fn graph(
        name: &str,
        text: &str,
        bindings: &[(&'static str, i64)],
    ) -> Result<Kernel, Error> {
        let kernel = parse_kernel(text).map_err(|source| Error::GraphText {
            kernel: name.to_string(),
            source: Box::new(source),
        })?;
        kernel
            .specialize(bindings)
            .map_err(|source| Error::Specialize {
                kernel: name.to_string(),
                source: Box::new(source),
            })
    }

    /// Evaluates `kernel` on `inputs` with the reference interpreter, expecting `N` results.
    pub fn eval<const N: usize>(
        name: &str,
        kernel: &Kernel,
        inputs: &[&Tensor],
    ) -> Result<[Tensor; N], Error> {
        let inputs: Vec<Tensor> = inputs.iter().map(|t| (*t).clone()).collect();
        let results = moge_lower::interp::eval(kernel, &inputs).map_err(|source| Error::Eval {
            kernel: name.to_string(),
            source: Box::new(source),
        })?;
        let found = results.len();
        <[Tensor; N]>::try_from(results).map_err(|_| Error::ResultCount {
            kernel: name.to_string(),
            expected: N,
            found,
        })
    }

    /// The const generic values as `i64` bindings.
    pub fn bindings(values: &[(&'static str, usize)]) -> Vec<(&'static str, i64)> {
        values
            .iter()
            .map(|&(name, value)| (name, i64::try_from(value).unwrap_or(i64::MAX)))
            .collect()
    }

    /// The error of a kernel that did not compile.
    pub fn not_compiled(name: &str) -> Error {
        Error::NotCompiled {
            kernel: name.to_string(),
        }
    }
}
