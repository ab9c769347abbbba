use moge::prelude::*;

// Rust's grammar accepts only names in a tuple type; rustc itself rejects the literal and suggests
// the braces that the DSL uses for literal and expression dims: `Tensor<f32, {(T, 64)}>`.
#[kernel]
fn copy(x: Tensor<f32, (T, 64)>) -> Tensor<f32, {(T, 64)}> {
    x
}

fn main() {}
