use super::*;

#[test]
fn reshape_keeps_c_order() {
    let x = i32t(&[2, 3], &[1, 2, 3, 4, 5, 6]);
    let out = run(
        OpKind::Reshape {
            shape: lits(&[3, 2]),
        },
        &[&x],
        lty(DType::I32, &[3, 2]),
    );
    assert_eq!(out.shape, vec![3, 2]);
    assert_eq!(i(&out), vec![1, 2, 3, 4, 5, 6]);
    let msg = run_err(
        OpKind::Reshape {
            shape: lits(&[4, 2]),
        },
        &[&x],
        vec![lty(DType::I32, &[4, 2])],
    );
    assert_contains(
        &msg,
        &["`reshape`", "shape [4, 2] does not hold the 6 elements"],
    );
}

#[test]
fn slice_an_inner_and_an_outer_axis() {
    let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let kind = OpKind::Slice {
        axis: 1,
        start: Dim::lit(1),
        end: Dim::lit(3),
    };
    let out = run(kind, &[&x], lty(DType::F32, &[2, 2]));
    assert_eq!(f(&out), vec![2.0, 3.0, 5.0, 6.0]);
    let kind = OpKind::Slice {
        axis: 0,
        start: Dim::lit(1),
        end: Dim::lit(2),
    };
    let out = run(kind, &[&x], lty(DType::F32, &[1, 3]));
    assert_eq!(f(&out), vec![4.0, 5.0, 6.0]);
    let kind = OpKind::Slice {
        axis: 1,
        start: Dim::lit(2),
        end: Dim::lit(2),
    };
    let out = run(kind, &[&x], lty(DType::F32, &[2, 0]));
    assert!(out.is_empty());
    let kind = OpKind::Slice {
        axis: 1,
        start: Dim::lit(1),
        end: Dim::lit(4),
    };
    let msg = run_err(kind, &[&x], vec![lty(DType::F32, &[2, 3])]);
    assert_contains(
        &msg,
        &["`slice`", "slice 1..4 is not within axis 1 of size 3"],
    );
}

#[test]
fn concat_along_each_axis() {
    let a = i32t(&[2, 2], &[1, 2, 3, 4]);
    let b = i32t(&[2, 1], &[5, 6]);
    let out = run(
        OpKind::Concat { axis: 1 },
        &[&a, &b],
        lty(DType::I32, &[2, 3]),
    );
    assert_eq!(i(&out), vec![1, 2, 5, 3, 4, 6]);
    let c = i32t(&[1, 2], &[7, 8]);
    let out = run(
        OpKind::Concat { axis: 0 },
        &[&a, &c, &a],
        lty(DType::I32, &[5, 2]),
    );
    assert_eq!(i(&out), vec![1, 2, 3, 4, 7, 8, 1, 2, 3, 4]);
    let msg = run_err(
        OpKind::Concat { axis: 0 },
        &[&a, &b],
        vec![lty(DType::I32, &[4, 2])],
    );
    assert_contains(
        &msg,
        &[
            "`concat`",
            "operand 1 (`x`) has shape [2, 1], expected [2, 2] on every axis but 0",
        ],
    );
}

#[test]
fn transpose_rank_two_and_three() {
    let x = f32t(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let out = run(
        OpKind::Transpose { perm: vec![1, 0] },
        &[&x],
        lty(DType::F32, &[3, 2]),
    );
    assert_eq!(f(&out), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    // x[a][b][c] = 12a + 4b + c, shape (2, 3, 4); perm [2, 0, 1] gives out[i][j][k] = x[j][k][i].
    let data: Vec<i32> = (0..24).collect();
    let x = i32t(&[2, 3, 4], &data);
    let out = run(
        OpKind::Transpose {
            perm: vec![2, 0, 1],
        },
        &[&x],
        lty(DType::I32, &[4, 2, 3]),
    );
    let mut want = Vec::new();
    for a in 0..4 {
        for b in 0..2 {
            for c in 0..3 {
                want.push(12 * b + 4 * c + a);
            }
        }
    }
    assert_eq!(i(&out), want);
    let msg = run_err(
        OpKind::Transpose { perm: vec![0, 0] },
        &[&x],
        vec![lty(DType::I32, &[2, 3, 4])],
    );
    assert_contains(
        &msg,
        &["`transpose`", "[0, 0] is not a permutation of the 3 axes"],
    );
}
