//! Tests of the MIX candidates and the merge.

use crate::graph::parse::parse_kernel;
use crate::graph::Kernel;
use crate::opt::split::tests::described;
use crate::opt::{partition, GroupKind};

use super::{candidates, merge};

/// The kinds of `k`'s groups after merging every candidate, with their op names (parameters left out).
fn merged(k: &Kernel) -> Vec<(GroupKind, Vec<&str>)> {
    let groups = partition(k).unwrap();
    let pairs = candidates(k, &groups);
    described(k, merge(&groups, &pairs))
}

#[test]
fn a_matmul_and_the_vector_group_reading_it_merge_with_the_matmul_first_at_the_vector_place() {
    // rms_norm, matmul, silu, matmul, add: the first matmul takes silu, the second takes the add
    // (which also reads the parameter x, computed before it).
    let k = parse_kernel(crate::opt::split::tests::CHAIN).unwrap();
    assert_eq!(
        merged(&k),
        vec![
            (GroupKind::Vector, vec!["rms_norm"]),
            (GroupKind::Mix, vec!["matmul", "silu"]),
            (GroupKind::Mix, vec!["matmul", "add"]),
        ]
    );
}

#[test]
fn a_matmul_result_that_is_an_output_or_read_by_two_groups_stays_a_cube_group() {
    let k = parse_kernel(
        "kernel k(a: bf16[T, 32], w: bf16[32, 16]) -> (y: bf16[T, 16], z: bf16[T, 16]) {
  dyn T
  v0 = param 0 : bf16[T, 32]
  v1 = param 1 : bf16[32, 16]
  v2 = matmul v0, v1 : bf16[T, 16]
  v3 = exp v2 : bf16[T, 16]
  return y = v2, z = v3
}",
    )
    .unwrap();
    let groups = partition(&k).unwrap();
    assert_eq!(candidates(&k, &groups), vec![]);
    // Two matmuls whose results one vector group reads: only the first takes it.
    let k = parse_kernel(
        "kernel k(a: bf16[T, 32], w: bf16[32, 16], u: bf16[32, 16]) -> (y: bf16[T, 16]) {
  dyn T
  v0 = param 0 : bf16[T, 32]
  v1 = param 1 : bf16[32, 16]
  v2 = param 2 : bf16[32, 16]
  v3 = matmul v0, v1 : bf16[T, 16]
  v4 = matmul v0, v2 : bf16[T, 16]
  v5 = mul v3, v4 : bf16[T, 16]
  return y = v5
}",
    )
    .unwrap();
    let groups = partition(&k).unwrap();
    let pairs = candidates(&k, &groups);
    assert_eq!(pairs.len(), 1);
    assert_eq!(groups[pairs[0].cube].ops, vec![k.order[3]]);
    assert_eq!(
        merged(&k),
        vec![
            (GroupKind::Cube, vec!["matmul"]),
            (GroupKind::Mix, vec!["matmul", "mul"]),
        ]
    );
    // No pairs: the groups come back unchanged.
    assert_eq!(merge(&groups, &[]), groups);
}
