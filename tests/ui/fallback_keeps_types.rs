use moge::prelude::*;

// The kernel has one error; the fallback item keeps `gate::<64, 8>::eval` and `graph` typed, so the
// code below reports nothing more.
#[kernel]
pub fn gate<const E: usize, const G: usize>(
    logits: Tensor<f32, (T, E)>,
) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
    let probs = softmax(logits, -1);
    group_topk(prob, G, 1)
}

fn main() {
    let logits = Tensor::zeros(DType::F32, vec![2, 64]);
    let result: Result<(Tensor, Tensor), moge::Error> = gate::<64, 8>::eval(&logits);
    let graph: Result<moge::graph::Kernel, moge::Error> = <gate<64, 8> as KernelDef>::graph();
    let _ = (result, graph, gate::<64, 8>::NAME);
}
