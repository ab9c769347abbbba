use moge::prelude::*;

/// MoGE router.
#[moge::kernel]
pub fn moge_gate<const E: usize, const G: usize>(
    logits: Tensor<f32, (T, E)>,
    router_scale: Tensor<f32, (E,)>,
) -> (Tensor<f32, (T, G)>, Tensor<i32, (T, G)>) {
    let probs = softmax(logits, -1);
    let (top, expert) = group_topk(probs, G, 1);
    let weight = top * gather(router_scale, expert);
    (weight, expert)
}

/// A kernel without static dims and with one result.
#[moge::kernel]
fn shifted_relu(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    relu(x - 1.0)
}

fn main() {
    // The generated item.
    assert_eq!(moge_gate::<4, 2>::NAME, "moge_gate");
    assert!(moge_gate::<4, 2>::GRAPH_TEXT.starts_with("kernel moge_gate<E, G>("));
    assert_eq!(
        <moge_gate<4, 2> as KernelDef>::bindings(),
        vec![("E", 4), ("G", 2)]
    );
    assert!(<shifted_relu as KernelDef>::bindings().is_empty());

    // The graph, specialized: E and G are bound, T stays dynamic.
    let graph = moge_gate::<4, 2>::graph().expect("specializes");
    // Bound dims are interned symbols; compared by name.
    let bound: Vec<(&str, i64)> = graph.bound.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    assert_eq!(bound, vec![("E", 4), ("G", 2)]);
    assert_eq!(graph.dynamic_dims(), vec!["T"]);
    assert_eq!(graph.outputs.len(), 2);
    // Source locations come from the macro's input: `softmax(logits, -1)` is at 9:17-9:36.
    let softmax = graph
        .order
        .iter()
        .copied()
        .find(|op| graph.ops[*op].kind.name() == "softmax")
        .expect("a softmax op");
    let loc = graph.locs[softmax];
    assert_eq!(
        (loc.line, loc.col, loc.end_line, loc.end_col),
        (9, 17, 9, 36)
    );

    // A constraint of the kernel fails at specialization: 4 groups do not divide 6 experts.
    match moge_gate::<6, 4>::graph() {
        Err(moge::Error::Specialize { kernel, .. }) => assert_eq!(kernel, "moge_gate"),
        other => panic!("expected a specialization error, found {other:?}"),
    }

    // Evaluation: two tokens, four experts in two groups of two.
    let rows: [[f32; 4]; 2] = [[0.0, 1.0, 3.0, 2.0], [5.0, 5.0, 0.0, 1.0]];
    let scale = [1.0f32, 1.0, 2.0, 2.0];
    let logits = Tensor::from_f32(DType::F32, vec![2, 4], rows.concat()).expect("tensor");
    let router_scale = Tensor::from_f32(DType::F32, vec![4], scale.to_vec()).expect("tensor");
    let (weight, expert) = moge_gate::<4, 2>::eval(&logits, &router_scale).expect("evaluates");
    // Row 0: the best of experts {0, 1} is 1, of {2, 3} is 2. Row 1: experts 0 and 1 tie, the lower
    // index wins; of {2, 3}, 3.
    assert_eq!(expert.as_i32(), Some(&[1, 2, 0, 3][..]));
    let softmax = |row: &[f32; 4], e: usize| {
        let total: f64 = row.iter().map(|v| f64::from(*v).exp()).sum();
        f64::from(row[e]).exp() / total
    };
    let expected = [
        softmax(&rows[0], 1) * 1.0,
        softmax(&rows[0], 2) * 2.0,
        softmax(&rows[1], 0) * 1.0,
        softmax(&rows[1], 3) * 2.0,
    ];
    let weight = weight.as_f32().expect("f32 weights");
    assert_eq!(weight.len(), 4);
    for (got, want) in weight.iter().zip(expected) {
        assert!(
            (f64::from(*got) - want).abs() < 1e-6,
            "weight {got}, expected {want}"
        );
    }

    // The second kernel: relu(x - 1).
    let x = Tensor::from_f32(DType::F32, vec![3], vec![-2.0, 0.5, 3.5]).expect("tensor");
    let y = shifted_relu::eval(&x).expect("evaluates");
    assert_eq!(y.as_f32(), Some(&[0.0, 0.0, 2.5][..]));
    assert_eq!(y.shape, vec![3]);

    // Wrong input shapes are evaluation errors, not panics.
    let wrong = Tensor::from_f32(DType::F32, vec![2, 5], vec![0.0; 10]).expect("tensor");
    assert!(matches!(
        moge_gate::<4, 2>::eval(&wrong, &router_scale),
        Err(moge::Error::Eval { .. })
    ));
}
