//! The MoE kernel families: routing, grouped GEMM.

pub mod gmm;
