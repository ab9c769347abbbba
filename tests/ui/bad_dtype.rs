use moge::prelude::*;

#[kernel]
fn widen(x: Tensor<f64, (N,)>) -> Tensor<f32, (N,)> {
    cast::<f32>(x)
}

fn main() {}
