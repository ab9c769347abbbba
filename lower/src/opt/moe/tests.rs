//! Tests of the MoE fusions on the MoGE layer.

use crate::graph::parse::parse_kernel;
use crate::opt::split::tests::described;
use crate::opt::{partition, partition_with, FuseMode, GroupKind};

use super::{fuse, FusionKind};

/// `moge_ffn` of examples/src/ffn.rs specialized at H=64, E=8, G=2, I=32, S=64.
pub(crate) const FFN: &str = r#"kernel moge_ffn<H = 64, E = 8, G = 2, I = 32, S = 64>(x: bf16[T, 64], w_gate: f32[64, 8], router_scale: f32[8], w13: bf16[8, 64, 64], w2: bf16[8, 32, 64], shared_w13: bf16[64, 128], shared_w2: bf16[64, 64]) -> (out0: bf16[T, 64], expert: i32[T, 2]) {
  dyn T
  v0 = param 0 : bf16[T, 64]
  v1 = param 1 : f32[64, 8]
  v2 = param 2 : f32[8]
  v3 = param 3 : bf16[8, 64, 64]
  v4 = param 4 : bf16[8, 32, 64]
  v5 = param 5 : bf16[64, 128]
  v6 = param 6 : bf16[64, 64]
  v7 = cast v0, to=f32 : f32[T, 64]
  v8 = matmul v7, v1 : f32[T, 8]
  v9 = softmax v8, axis=1 : f32[T, 8]
  v10, v11 = group_topk v9, groups=2, k=1 : f32[T, 2], i32[T, 2]
  v12 = gather v2, v11 : f32[T, 2]
  v13 = mul v10, v12 : f32[T, 2]
  v14 = route v11, experts=8 : routes[T, 2, 8]
  v15 = dispatch v0, v14 : bf16[2*T, 64]
  v16 = grouped_matmul v15, v3, v14 : bf16[2*T, 64]
  v17 = swiglu v16 : bf16[2*T, 32]
  v18 = grouped_matmul v17, v4, v14 : bf16[2*T, 64]
  v19 = combine v18, v14, v13 : bf16[T, 64]
  v20 = matmul v0, v5 : bf16[T, 128]
  v21 = swiglu v20 : bf16[T, 64]
  v22 = matmul v21, v6 : bf16[T, 64]
  v23 = add v19, v22 : bf16[T, 64]
  return out0 = v23, expert = v11
}
"#;

#[test]
fn the_moge_layer_fuses_dispatch_swiglu_combine_and_the_final_add_into_its_matmuls() {
    let k = parse_kernel(FFN).unwrap();
    let groups = partition(&k).unwrap();
    let (fused, fusions) = fuse(&k, &groups);
    assert_eq!(
        described(&k, fused),
        vec![
            (GroupKind::Vector, vec!["cast"]),
            (GroupKind::Cube, vec!["matmul"]),
            (GroupKind::Grouped, vec!["matmul", "swiglu"]),
            (
                GroupKind::Vector,
                vec!["softmax", "group_topk", "gather", "mul"]
            ),
            (GroupKind::Route, vec!["route"]),
            (GroupKind::AccInit, vec!["matmul"]),
            (
                GroupKind::Grouped,
                vec!["dispatch", "grouped_matmul", "swiglu"]
            ),
            (GroupKind::Grouped, vec!["grouped_matmul", "combine", "add"]),
        ]
    );
    let kinds: Vec<FusionKind> = fusions.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        vec![
            FusionKind::SwigluEpilogue,
            FusionKind::DispatchPrologue,
            FusionKind::SwigluEpilogue,
            FusionKind::CombineEpilogue,
        ]
    );
    // The dispatch prologue saves the (2T, 64) bf16 copy written and read: 2 * 2T * 64 * 2 bytes.
    let saved = fusions[1].saved.display(&k.syms).to_string();
    assert_eq!(saved, "512*T");
}

#[test]
fn unfused_every_op_is_a_kernel_of_its_own_in_a_topological_order() {
    let k = parse_kernel(FFN).unwrap();
    let groups = partition_with(&k, FuseMode::None).unwrap();
    let d = described(&k, groups);
    assert_eq!(d.len(), 16, "{d:?}");
    assert!(d.iter().all(|(_, ops)| ops.len() == 1), "{d:?}");
}

#[test]
fn a_dispatch_read_twice_or_returned_stays_a_row_kernel() {
    // The dispatched rows are also returned: the prologue would lose them.
    let text = FFN
        .replace(
            "-> (out0: bf16[T, 64], expert: i32[T, 2])",
            "-> (out0: bf16[T, 64], expert: i32[T, 2], rows: bf16[2*T, 64])",
        )
        .replace(
            "return out0 = v23, expert = v11",
            "return out0 = v23, expert = v11, rows = v15",
        );
    let k = parse_kernel(&text).unwrap();
    let (fused, fusions) = fuse(&k, &partition(&k).unwrap());
    assert!(!fusions
        .iter()
        .any(|f| f.kind == FusionKind::DispatchPrologue));
    assert!(described(&k, fused).contains(&(GroupKind::Rows, vec!["dispatch"])));
}
