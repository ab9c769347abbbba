use moge::prelude::*;

#[kernel]
fn accumulate(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let acc = x;
    for _ in 0..4 {
        let acc = acc + x;
    }
    acc
}

fn main() {}
