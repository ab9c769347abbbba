//! Tests of the partition into cube and vector groups and of the split into graph kernels.

use crate::graph::parse::parse_kernel;
use crate::graph::write::kernel_to_string;
use crate::graph::Kernel;
use crate::opt::{partition, split, GroupKind};

/// `silu(x @ w1) @ w2` with an rms_norm in front and a residual add after: five groups.
pub(crate) const CHAIN: &str = "kernel ffn(x: bf16[T, 64], g: bf16[64], w1: bf16[64, 128], w2: bf16[128, 64]) -> (y: bf16[T, 64]) {
  dyn T
  v0 = param 0 : bf16[T, 64]
  v1 = param 1 : bf16[64]
  v2 = param 2 : bf16[64, 128]
  v3 = param 3 : bf16[128, 64]
  v4 = rms_norm v0, v1, eps=1e-6 : bf16[T, 64]
  v5 = matmul v4, v2 : bf16[T, 128]
  v6 = silu v5 : bf16[T, 128]
  v7 = matmul v6, v3 : bf16[T, 64]
  v8 = add v7, v0 : bf16[T, 64]
  return y = v8
}";

/// The kinds of the groups of `k` and the op names of each group (parameters left out).
fn groups_of(k: &Kernel) -> Vec<(GroupKind, Vec<&str>)> {
    described(k, partition(k).unwrap())
}

/// `groups` of `k` as their kinds and the op names of each (parameters left out).
pub(crate) fn described(k: &Kernel, groups: Vec<crate::opt::Group>) -> Vec<(GroupKind, Vec<&str>)> {
    groups
        .into_iter()
        .map(|g| {
            let ops = g
                .ops
                .iter()
                .map(|&op| k.ops[op].kind.name())
                .filter(|n| *n != "param")
                .collect();
            (g.kind, ops)
        })
        .collect()
}

#[test]
fn matmuls_are_cube_groups_and_the_vector_ops_between_them_vector_groups_in_launch_order() {
    let k = parse_kernel(CHAIN).unwrap();
    assert_eq!(
        groups_of(&k),
        vec![
            (GroupKind::Vector, vec!["rms_norm"]),
            (GroupKind::Cube, vec!["matmul"]),
            (GroupKind::Vector, vec!["silu"]),
            (GroupKind::Cube, vec!["matmul"]),
            (GroupKind::Vector, vec!["add"]),
        ]
    );
}

#[test]
fn a_vector_op_that_needs_no_matmul_result_runs_before_the_first_matmul() {
    // `b * b` depends on parameters only: it joins the first vector group (depth 0), so the add after
    // the matmul reads it from GM; two independent matmuls of one depth are two cube groups.
    let k = parse_kernel(
        "kernel two(a: f16[T, 32], b: f16[T, 16], w: f16[32, 16], u: f16[32, 16]) -> (y: f16[T, 16], z: f16[T, 16]) {
  dyn T
  v0 = param 0 : f16[T, 32]
  v1 = param 1 : f16[T, 16]
  v2 = param 2 : f16[32, 16]
  v3 = param 3 : f16[32, 16]
  v4 = mul v1, v1 : f16[T, 16]
  v5 = matmul v0, v2 : f16[T, 16]
  v6 = matmul v0, v3 : f16[T, 16]
  v7 = add v5, v4 : f16[T, 16]
  return y = v7, z = v6
}",
    )
    .unwrap();
    assert_eq!(
        groups_of(&k),
        vec![
            (GroupKind::Vector, vec!["mul"]),
            (GroupKind::Cube, vec!["matmul"]),
            (GroupKind::Cube, vec!["matmul"]),
            (GroupKind::Vector, vec!["add"]),
        ]
    );
    let s = split(&k, &partition(&k).unwrap());
    // The second matmul writes the kernel's output `z` directly: no intermediate for it.
    let outs: Vec<Vec<&str>> = s
        .parts
        .iter()
        .map(|p| p.kernel.outputs.iter().map(|o| o.name.as_str()).collect())
        .collect();
    assert_eq!(
        outs,
        vec![vec!["two_t0"], vec!["two_t1"], vec!["z"], vec!["y"]]
    );
}

#[test]
fn parts_are_valid_kernels_connected_by_named_intermediates() {
    let k = parse_kernel(CHAIN).unwrap();
    let s = split(&k, &partition(&k).unwrap());
    let names: Vec<&str> = s.intermediates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["ffn_t0", "ffn_t1", "ffn_t2", "ffn_t3"]);
    let sig = |p: &Kernel| {
        (
            p.params.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
            p.outputs.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
        )
    };
    let sigs: Vec<_> = s.parts.iter().map(|p| sig(&p.kernel)).collect();
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        sigs,
        vec![
            (v(&["x", "g"]), v(&["ffn_t0"])),
            (v(&["w1", "ffn_t0"]), v(&["ffn_t1"])),
            (v(&["ffn_t1"]), v(&["ffn_t2"])),
            (v(&["w2", "ffn_t2"]), v(&["ffn_t3"])),
            (v(&["x", "ffn_t3"]), v(&["y"])),
        ]
    );
    for part in &s.parts {
        crate::graph::verify::verify(&part.kernel)
            .unwrap_or_else(|e| panic!("{e}\n{}", kernel_to_string(&part.kernel)));
    }
    // The cube parts are exactly `c = matmul(a, b)`: the matmul's operands in order, whatever the
    // parameter order of the part.
    let cube = &s.parts[3].kernel;
    assert_eq!(
        kernel_to_string(cube)
            .lines()
            .nth(4)
            .unwrap()
            .split('@')
            .next()
            .unwrap()
            .trim(),
        "v2 = matmul v1, v0 : bf16[T, 64]"
    );
    // Deterministic: the same split twice.
    assert_eq!(split(&k, &partition(&k).unwrap()), s);
}

#[test]
fn intermediate_names_avoid_parameter_and_output_names() {
    let k = parse_kernel(
        "kernel mm(mm_t0: bf16[T, 16], w: bf16[16, 16]) -> (mm_t1: bf16[T, 16]) {
  dyn T
  v0 = param 0 : bf16[T, 16]
  v1 = param 1 : bf16[16, 16]
  v2 = neg v0 : bf16[T, 16]
  v3 = matmul v2, v1 : bf16[T, 16]
  return mm_t1 = v3
}",
    )
    .unwrap();
    let s = split(&k, &partition(&k).unwrap());
    assert_eq!(s.intermediates.len(), 1);
    assert_eq!(s.intermediates[0].name, "mm_t2");
}

#[test]
fn a_returned_routing_table_is_refused_at_its_route() {
    let k = parse_kernel(
        "kernel r(e: i32[T, 2]) -> (y: routes[T, 2, 8]) {
  dyn T
  v0 = param 0 : i32[T, 2]
  v1 = route v0, experts=8 : routes[T, 2, 8] @3:9-3:20
  return y = v1
}",
    )
    .unwrap();
    let e = partition(&k).unwrap_err().to_string();
    assert!(
        e.contains("`route`")
            && e.contains("line 3")
            && e.contains("routing table `y` is returned"),
        "{e}"
    );
}

#[test]
fn unconnected_vector_ops_of_one_depth_are_separate_kernels() {
    // The rms_norm splits rows of `T`, the weight sum rows of 32: two vector kernels before the matmul.
    let k = parse_kernel(
        "kernel tr(x: bf16[T, 32], g: bf16[32], w: bf16[32, 16], u: bf16[32, 16]) -> (y: bf16[T, 16]) {
  dyn T
  v0 = param 0 : bf16[T, 32]
  v1 = param 1 : bf16[32]
  v2 = param 2 : bf16[32, 16]
  v3 = param 3 : bf16[32, 16]
  v4 = rms_norm v0, v1, eps=1e-6 : bf16[T, 32]
  v5 = add v2, v3 : bf16[32, 16]
  v6 = neg v5 : bf16[32, 16]
  v7 = matmul v4, v6 : bf16[T, 16]
  return y = v7
}",
    )
    .unwrap();
    assert_eq!(
        groups_of(&k),
        vec![
            (GroupKind::Vector, vec!["rms_norm"]),
            (GroupKind::Vector, vec!["add", "neg"]),
            (GroupKind::Cube, vec!["matmul"]),
        ]
    );
}
