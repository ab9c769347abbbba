// Names that cannot be emitted verbatim: `mogec check` refuses each at its token (tests/cli.rs).
use moge::prelude::*;

#[moge::kernel]
pub fn größe(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    exp(x)
}

#[moge::kernel]
pub fn names(r#int: Tensor<f32, (N,)>, workspace: Tensor<f32, (N,)>, _Scale: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    let ß = r#int + workspace + _Scale;
    ß
}
