use super::*;

fn topk(x: &Tensor, k: usize, out_shape: &[usize]) -> (Tensor, Tensor) {
    let mut out = run1(
        OpKind::TopK {
            k: Dim::lit(k as i64),
        },
        &[x],
        vec![lty(x.dtype, out_shape), lty(DType::I32, out_shape)],
    )
    .unwrap();
    let idx = out.remove(1);
    (out.remove(0), idx)
}

fn group_topk(x: &Tensor, groups: usize, k: usize, out_shape: &[usize]) -> (Tensor, Tensor) {
    let kind = OpKind::GroupTopK {
        groups: Dim::lit(groups as i64),
        k: Dim::lit(k as i64),
    };
    let mut out = run1(
        kind,
        &[x],
        vec![lty(x.dtype, out_shape), lty(DType::I32, out_shape)],
    )
    .unwrap();
    let idx = out.remove(1);
    (out.remove(0), idx)
}

#[test]
fn topk_is_descending_with_lowest_index_first_among_ties() {
    let x = f32t(&[2, 4], &[1.0, 3.0, 3.0, 2.0, -1.0, -3.0, -2.0, -1.0]);
    let (values, indices) = topk(&x, 3, &[2, 3]);
    assert_eq!(f(&values), vec![3.0, 3.0, 2.0, -1.0, -1.0, -2.0]);
    assert_eq!(i(&indices), vec![1, 2, 3, 0, 3, 2]);
    let x = i32t(&[5], &[4, 9, 4, 9, 0]);
    let (values, indices) = topk(&x, 5, &[5]);
    assert_eq!(i(&values), vec![9, 9, 4, 4, 0]);
    assert_eq!(i(&indices), vec![1, 3, 0, 2, 4]);
    let (values, indices) = topk(&x, 0, &[0]);
    assert!(values.is_empty() && indices.is_empty());
}

#[test]
fn topk_larger_than_the_axis_is_an_error() {
    let x = f32t(&[3], &[1.0, 2.0, 3.0]);
    let msg = run_err(
        OpKind::TopK { k: Dim::lit(4) },
        &[&x],
        vec![lty(DType::F32, &[4]), lty(DType::I32, &[4])],
    );
    assert_contains(
        &msg,
        &[
            "`topk`",
            "attribute `k`: k = 4 is larger than the last dim 3",
        ],
    );
}

#[test]
fn group_topk_gives_global_indices_group_major() {
    // Groups [0.1, 0.4, 0.4] and [0.2, 0.9, 0.0].
    let x = f32t(&[1, 6], &[0.1, 0.4, 0.4, 0.2, 0.9, 0.0]);
    let (values, indices) = group_topk(&x, 2, 1, &[1, 2]);
    assert_eq!(f(&values), vec![0.4, 0.9]);
    assert_eq!(i(&indices), vec![1, 4]);
    let (values, indices) = group_topk(&x, 2, 2, &[1, 4]);
    assert_eq!(f(&values), vec![0.4, 0.4, 0.9, 0.2]);
    assert_eq!(i(&indices), vec![1, 2, 4, 3]);
    // Three groups of two, two rows, negative values: row 1 is all equal, so the first of each group.
    let x = f32t(
        &[2, 6],
        &[
            -1.0, -2.0, -4.0, -3.0, -5.0, -5.0, 7.0, 7.0, 7.0, 7.0, 7.0, 7.0,
        ],
    );
    let (values, indices) = group_topk(&x, 3, 1, &[2, 3]);
    assert_eq!(f(&values), vec![-1.0, -3.0, -5.0, 7.0, 7.0, 7.0]);
    assert_eq!(i(&indices), vec![0, 3, 4, 0, 2, 4]);
}

#[test]
fn group_topk_attribute_errors() {
    let x = f32t(&[1, 6], &[0.0; 6]);
    let kind = OpKind::GroupTopK {
        groups: Dim::lit(4),
        k: Dim::lit(1),
    };
    let msg = run_err(
        kind,
        &[&x],
        vec![lty(DType::F32, &[1, 4]), lty(DType::I32, &[1, 4])],
    );
    assert_contains(
        &msg,
        &["`group_topk`", "4 groups do not divide the last dim 6"],
    );
    let kind = OpKind::GroupTopK {
        groups: Dim::lit(3),
        k: Dim::lit(3),
    };
    let msg = run_err(
        kind,
        &[&x],
        vec![lty(DType::F32, &[1, 9]), lty(DType::I32, &[1, 9])],
    );
    assert_contains(&msg, &["k = 3 is larger than the group size 2"]);
}

#[test]
fn gather_rows_with_any_index_shape() {
    let table = f32t(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let index = i32t(&[2, 2], &[2, 0, 1, 1]);
    let out = run(
        OpKind::Gather,
        &[&table, &index],
        lty(DType::F32, &[2, 2, 2]),
    );
    assert_eq!(out.shape, vec![2, 2, 2]);
    assert_eq!(f(&out), vec![5.0, 6.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0]);
    let table = i32t(&[3], &[10, 20, 30]);
    let index = i32t(&[2], &[2, 1]);
    let out = run(OpKind::Gather, &[&table, &index], lty(DType::I32, &[2]));
    assert_eq!(i(&out), vec![30, 20]);
}

#[test]
fn gather_clamps_out_of_range_indices() {
    // The rule of README "Numeric rules": below 0 reads row 0, past the end the last row.
    let table = f32t(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let index = i32t(&[4], &[-1, 3, i32::MIN, i32::MAX]);
    let out = run(OpKind::Gather, &[&table, &index], lty(DType::F32, &[4, 2]));
    assert_eq!(f(&out), vec![1.0, 2.0, 5.0, 6.0, 1.0, 2.0, 5.0, 6.0]);
    // An empty table has no row to clamp to.
    let empty = f32t(&[0], &[]);
    let index = i32t(&[2, 2], &[0, 0, 0, 0]);
    let msg = run_err(
        OpKind::Gather,
        &[&empty, &index],
        vec![lty(DType::F32, &[2, 2])],
    );
    assert_contains(
        &msg,
        &[
            "in `gather` (op2)",
            "index 0 at position [0, 0] is outside 0..0",
        ],
    );
}

#[test]
fn scatter_add_accumulates_in_index_order() {
    // Rows 0 and 2 of src go to row 2, row 1 to row 0; row 1 of the result stays zero.
    let src = f32t(&[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let index = i32t(&[3], &[2, 0, 2]);
    let out = run(
        OpKind::ScatterAdd { size: Dim::lit(3) },
        &[&src, &index],
        lty(DType::F32, &[3, 2]),
    );
    assert_eq!(f(&out), vec![3.0, 4.0, 0.0, 0.0, 6.0, 8.0]);
    // bf16: 1 + 2^-8 + 2^-8 accumulated in f32 is 1.0078125, rounded once.
    let src = bf16t(&[3], &[1.0, 0.00390625, 0.00390625]);
    let index = i32t(&[3], &[0, 0, 0]);
    let out = run(
        OpKind::ScatterAdd { size: Dim::lit(1) },
        &[&src, &index],
        lty(DType::BF16, &[1]),
    );
    assert_eq!(f(&out), vec![1.0078125]);
    let index = i32t(&[3], &[0, 1, 0]);
    let msg = run_err(
        OpKind::ScatterAdd { size: Dim::lit(1) },
        &[&src, &index],
        vec![lty(DType::BF16, &[1])],
    );
    assert_contains(
        &msg,
        &["`scatter_add`", "index 1 at position [1] is outside 0..1"],
    );
}

#[test]
fn matmul_small_and_wide() {
    let a = f32t(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let b = f32t(&[2, 2], &[5.0, 6.0, 7.0, 8.0]);
    let out = run(OpKind::MatMul, &[&a, &b], lty(DType::F32, &[2, 2]));
    // [1*5 + 2*7, 1*6 + 2*8; 3*5 + 4*7, 3*6 + 4*8].
    assert_eq!(f(&out), vec![19.0, 22.0, 43.0, 50.0]);
    // (2, 3) @ (3, 11) with a[i][k] = i + k - 1 and b[k][j] = j - 2k: long enough rows to use the
    // blocked inner loop and its tail. Expected from the defining sum.
    let av: Vec<f32> = (0..6).map(|p| ((p / 3) + (p % 3)) as f32 - 1.0).collect();
    let bv: Vec<f32> = (0..33)
        .map(|p| (p % 11) as f32 - 2.0 * (p / 11) as f32)
        .collect();
    let out = run(
        OpKind::MatMul,
        &[&f32t(&[2, 3], &av), &f32t(&[3, 11], &bv)],
        lty(DType::F32, &[2, 11]),
    );
    let mut want = Vec::new();
    for row in 0..2i64 {
        for col in 0..11i64 {
            want.push(
                (0..3i64)
                    .map(|k| (row + k - 1) * (col - 2 * k))
                    .sum::<i64>() as f32,
            );
        }
    }
    assert_eq!(f(&out), want);
}

#[test]
fn matmul_rounds_once_and_handles_empty_dims() {
    // [1, 2^-8, 2^-8] @ [1, 1, 1]^T = 1 + 2^-7 in f32, exact in bf16.
    let a = bf16t(&[1, 3], &[1.0, 0.00390625, 0.00390625]);
    let b = bf16t(&[3, 1], &[1.0, 1.0, 1.0]);
    let out = run(OpKind::MatMul, &[&a, &b], lty(DType::BF16, &[1, 1]));
    assert_eq!(f(&out), vec![1.0078125]);
    // K = 0: a sum of nothing, zeros.
    let a = f32t(&[2, 0], &[]);
    let b = f32t(&[0, 3], &[]);
    let out = run(OpKind::MatMul, &[&a, &b], lty(DType::F32, &[2, 3]));
    assert_eq!(f(&out), vec![0.0; 6]);
    // i32 matmul wraps.
    let a = i32t(&[1, 2], &[i32::MAX, 1]);
    let b = i32t(&[2, 1], &[1, 1]);
    let out = run(OpKind::MatMul, &[&a, &b], lty(DType::I32, &[1, 1]));
    assert_eq!(i(&out), vec![i32::MIN]);
    let msg = run_err(OpKind::MatMul, &[&a, &a], vec![lty(DType::I32, &[1, 2])]);
    assert_contains(
        &msg,
        &[
            "`matmul`",
            "operand 1 (`b`) has shape [1, 2], expected (K, N) with K = 2",
        ],
    );
}
