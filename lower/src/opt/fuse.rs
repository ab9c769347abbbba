//! Fusion: groups the live ops into device kernels. Every vector op of a kernel whose row tensors share
//! their leading (row) dim goes into one AIV kernel, so the whole chain makes one round trip through GM
//! (the MoGE gate is one kernel: logits in, weights and expert ids out). Ops that need the cube unit or
//! a routing table have no lowering yet and are refused with their location.
//!
//! Needs the [`DataflowView`] (for the topological order) and the live set from [`super::dce`].

use petgraph::algo::toposort;
use rustc_hash::FxHashSet;

use crate::graph::{Kernel, Op, OpKind};
use crate::schedule::LowerError;

use super::view::DataflowView;

/// What kind of device kernel a group becomes.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum GroupKind {
    /// A vector-only (AIV) kernel.
    Vector,
}

/// A set of ops that become one device kernel.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Group {
    /// The kind of kernel.
    pub kind: GroupKind,
    /// The ops, in a topological order (parameters first).
    pub ops: Vec<Op>,
}

/// Whether an op can be part of a vector kernel.
fn is_vector(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::Param { .. }
            | OpKind::Const { .. }
            | OpKind::Unary(_)
            | OpKind::Binary(_)
            | OpKind::Cast { .. }
            | OpKind::Compare(_)
            | OpKind::Select
            | OpKind::Reduce { .. }
            | OpKind::ArgReduce { .. }
            | OpKind::Softmax { .. }
            | OpKind::LogSoftmax { .. }
            | OpKind::RmsNorm { .. }
            | OpKind::Reshape { .. }
            | OpKind::TopK { .. }
            | OpKind::GroupTopK { .. }
            | OpKind::Gather
    )
}

/// Groups the live ops of `kernel` into device kernels, in launch order.
pub fn fuse_groups(
    kernel: &Kernel,
    view: &DataflowView,
    live: &FxHashSet<Op>,
) -> Result<Vec<Group>, LowerError> {
    let order = toposort(&view.graph, None).map_err(|cycle| LowerError::Unsupported {
        op: kernel.ops[view.graph[cycle.node_id()]]
            .kind
            .name()
            .to_string(),
        loc: kernel.locs[view.graph[cycle.node_id()]],
        reason: "the dataflow graph has a cycle".to_string(),
    })?;
    // Keep the program order among ops the topological sort leaves unordered, so output is stable.
    let position: rustc_hash::FxHashMap<Op, usize> = kernel
        .order
        .iter()
        .enumerate()
        .map(|(i, op)| (*op, i))
        .collect();
    let mut ops: Vec<Op> = order
        .into_iter()
        .map(|n| view.graph[n])
        .filter(|op| live.contains(op))
        .collect();
    ops.sort_by_key(|op| position.get(op).copied().unwrap_or(usize::MAX));
    for &op in &ops {
        let kind = &kernel.ops[op].kind;
        if !is_vector(kind) {
            let reason = match kind {
                OpKind::MatMul | OpKind::GroupedMatmul => {
                    "matrix multiplication needs a cube kernel, which is not implemented yet"
                }
                OpKind::Route { .. }
                | OpKind::Dispatch
                | OpKind::Combine
                | OpKind::ScatterAdd { .. } => "routing and scatter ops are not implemented yet",
                _ => "this op has no vector lowering yet",
            };
            return Err(LowerError::Unsupported {
                op: kind.name().to_string(),
                loc: kernel.locs[op],
                reason: reason.to_string(),
            });
        }
    }
    Ok(vec![Group {
        kind: GroupKind::Vector,
        ops,
    }])
}
