//! Row sums and means, to run rows whose partial sums overflow `f32` (README "Numeric rules").

use moge::prelude::*;

/// The sum and the mean of every row.
#[moge::kernel]
pub fn row_sums<const N: usize>(x: Tensor<f32, (T, N)>) -> (Tensor<f32, (T,)>, Tensor<f32, (T,)>) {
    (sum(x, -1), mean(x, -1))
}
