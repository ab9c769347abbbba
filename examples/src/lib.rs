//! Example kernels written in the moge DSL: the MoGE router and the whole MoGE FFN layer of Pangu Pro
//! MoE, and the building blocks softmax, RMSNorm and matmul.
//!
//! Each `#[moge::kernel]` fn becomes a struct generic over its static dims, with `graph()` (the
//! specialized graph IR) and `eval(..)` (the reference interpreter); see the `moge` crate.

pub mod ffn;
pub mod gate;
pub mod matmul;
pub mod rmsnorm;
pub mod router;
pub mod softmax;
