//! Integration tests of moge-lower, compiled as one test binary.

mod graph_text;
mod kir;
mod kir_v2_scalar;
mod kir_v2_tests;
mod moe_route;
