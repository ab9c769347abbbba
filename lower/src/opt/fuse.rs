//! Fusion: groups the live ops into device kernels.
//!
//! Every matmul and every op of the MoE family (`route`, `dispatch`, `grouped_matmul`, `swiglu`,
//! `combine`) is a group of its own: a *kernel op*, which no vector kernel can hold. The vector ops are
//! grouped by their *depth*: the most kernel ops on any dataflow path from the parameters to the op.
//! The vector ops of one depth that are connected by data go into one AIV kernel, so a chain of vector
//! ops between two kernel ops makes one round trip through GM; a kernel without kernel ops is one AIV
//! kernel (the MoGE gate is one kernel: logits in, weights and expert ids out). A kernel op of depth
//! `d` reads only values of depth below `d`, so the groups ordered `V0, K1.., V1, K2.., V2, ...` are a
//! topological order of the program, with no cycle between groups.
//!
//! With [`FuseMode::None`] every vector op is a group of its own too: the op chain as a framework runs
//! it, one kernel per op, for measuring what fusion saves. With [`FuseMode::All`], later steps merge
//! groups: a matmul and the vector ops that read it into one MIX kernel ([`super::mix`]), and the MoE
//! family's prologues and epilogues into their grouped matmul ([`super::moe`]).
//!
//! Needs the [`DataflowView`] (for the topological order) and the live set from [`super::dce`].

use petgraph::algo::toposort;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::graph::{Kernel, Op, OpKind};
use crate::schedule::LowerError;

use super::view::DataflowView;

/// What kind of device kernel a group becomes.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum GroupKind {
    /// A vector-only (AIV) kernel.
    Vector,
    /// One matmul on the cube unit (AIC kernel); its operands and result live in GM.
    Cube,
    /// A matmul followed by vector ops on its result, in one `KERNEL_TYPE_MIX_AIC_1_2` kernel (formed
    /// by [`super::mix::merge`]); the matmul is the group's first op.
    Mix,
    /// `route`: the routing kernels (histogram, prefix, stable scatter) that write a routing table.
    Route,
    /// One `dispatch`, `combine` or `swiglu` on its own: a row kernel on the vector cores.
    Rows,
    /// A grouped matmul (or a matmul) with the MoE prologue and epilogues fused into it by
    /// [`super::moe`]: `[dispatch] (grouped_matmul | matmul) [swiglu | combine [add]]`, in that order.
    Grouped,
    /// A matmul whose result, unrounded (f32), initializes the accumulator a later [`GroupKind::Grouped`]
    /// group's combine adds into (the final `routed + shared` of a MoE layer).
    AccInit,
}

/// How much the optimizer fuses.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub enum FuseMode {
    /// Every fusion whose legality check passes (the default).
    #[default]
    All,
    /// None: one device kernel per op (the vendor's op chain), for side-by-side measurement.
    None,
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

/// Whether an op is a kernel op: a group of its own, never part of a vector kernel.
pub fn is_kernel_op(kind: &OpKind) -> bool {
    matches!(
        kind,
        OpKind::MatMul
            | OpKind::GroupedMatmul
            | OpKind::Route { .. }
            | OpKind::Dispatch
            | OpKind::Combine
            | OpKind::Swiglu
    )
}

/// The group kind of a kernel op on its own.
fn kernel_op_group(kind: &OpKind) -> GroupKind {
    match kind {
        OpKind::MatMul => GroupKind::Cube,
        OpKind::GroupedMatmul => GroupKind::Grouped,
        OpKind::Route { .. } => GroupKind::Route,
        _ => GroupKind::Rows,
    }
}

/// Groups the live ops of `kernel` into device kernels, in launch order.
pub fn fuse_groups(
    kernel: &Kernel,
    view: &DataflowView,
    live: &FxHashSet<Op>,
    mode: FuseMode,
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
        if !is_vector(kind) && !is_kernel_op(kind) {
            let reason = match kind {
                OpKind::ScatterAdd { .. } => "scatter ops are not implemented yet",
                _ => "this op has no vector lowering yet",
            };
            return Err(LowerError::Unsupported {
                op: kind.name().to_string(),
                loc: kernel.locs[op],
                reason: reason.to_string(),
            });
        }
    }
    for o in &kernel.outputs {
        if matches!(kernel.ty(o.value), crate::graph::Type::Routes(_)) {
            let def = kernel.values[o.value].def;
            return Err(LowerError::Unsupported {
                op: kernel.ops[def].kind.name().to_string(),
                loc: kernel.locs[def],
                reason: format!(
                    "the routing table `{}` is returned, but a routing table lives on the device \
                     between the kernels that use it; return tensors computed from it instead",
                    o.name
                ),
            });
        }
    }
    Ok(group_by_depth(kernel, &ops, mode))
}

/// Splits `ops` (live, in program order) into groups by depth (see the module docs): per depth `d`,
/// first the kernel ops of depth `d` (one group each, in program order), then the vector ops of depth
/// `d`. Parameters go with the vector group of depth 0. Vector groups with no op but parameters are
/// dropped.
fn group_by_depth(kernel: &Kernel, ops: &[Op], mode: FuseMode) -> Vec<Group> {
    let mut depth: FxHashMap<Op, usize> = FxHashMap::default();
    let mut max_depth = 0;
    for &op in ops {
        let data = &kernel.ops[op];
        let from_args = data
            .args
            .iter()
            .filter_map(|v| kernel.values.get(*v))
            .map(|v| depth.get(&v.def).copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let d = from_args + usize::from(is_kernel_op(&data.kind));
        max_depth = max_depth.max(d);
        depth.insert(op, d);
    }
    let mut groups = Vec::new();
    for d in 0..=max_depth {
        for &op in ops {
            if depth[&op] == d && is_kernel_op(&kernel.ops[op].kind) {
                groups.push(Group {
                    kind: kernel_op_group(&kernel.ops[op].kind),
                    ops: vec![op],
                });
            }
        }
        let vector: Vec<Op> = ops
            .iter()
            .copied()
            .filter(|op| depth[op] == d && !is_kernel_op(&kernel.ops[*op].kind))
            .collect();
        if mode == FuseMode::None {
            // One kernel per op; a kernel that only forwards parameters keeps its one group.
            let work = computing(kernel, &vector);
            if work.is_empty() && max_depth == 0 && !vector.is_empty() {
                groups.push(Group {
                    kind: GroupKind::Vector,
                    ops: vector,
                });
            }
            groups.extend(work.into_iter().map(|op| Group {
                kind: GroupKind::Vector,
                ops: vec![op],
            }));
            continue;
        }
        if max_depth == 0 {
            // A kernel with no matmul keeps its one vector group (parameters included), even when
            // it only forwards parameters: the vector path decides what that means.
            if !vector.is_empty() {
                groups.push(Group {
                    kind: GroupKind::Vector,
                    ops: vector,
                });
            }
            continue;
        }
        // Around matmuls, the vector ops of one depth that share no data are separate kernels: they
        // may split rows of different dims (an activation's `M` rows, a weight's `K` rows).
        for ops in components(kernel, &vector) {
            groups.push(Group {
                kind: GroupKind::Vector,
                ops,
            });
        }
    }
    groups
}

/// The ops of `ops` that compute (neither parameters nor constants), in order.
fn computing(kernel: &Kernel, ops: &[Op]) -> Vec<Op> {
    ops.iter()
        .copied()
        .filter(|op| {
            !matches!(
                kernel.ops[*op].kind,
                OpKind::Param { .. } | OpKind::Const { .. }
            )
        })
        .collect()
}

/// The connected components of the ops in `ops` (in program order) under their data edges, each in
/// program order, ordered by their first op. Parameters and constants are in none: every part reads
/// the parameters it needs, and [`super::split()`] puts a copy of each constant into every part that
/// reads it (a constant is no kernel of its own, nor a value to pass through GM).
fn components(kernel: &Kernel, ops: &[Op]) -> Vec<Vec<Op>> {
    let work = computing(kernel, ops);
    let index: FxHashMap<Op, usize> = work.iter().enumerate().map(|(i, &op)| (op, i)).collect();
    let mut parent: Vec<usize> = (0..work.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, &op) in work.iter().enumerate() {
        for arg in &kernel.ops[op].args {
            let Some(&j) = kernel.values.get(*arg).and_then(|v| index.get(&v.def)) else {
                continue;
            };
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            // The smaller index as root, so a component's root is its first op.
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut out: Vec<Vec<Op>> = Vec::new();
    let mut slot: FxHashMap<usize, usize> = FxHashMap::default();
    for (i, &op) in work.iter().enumerate() {
        let r = root(&mut parent, i);
        let s = *slot.entry(r).or_insert_with(|| {
            out.push(Vec::new());
            out.len() - 1
        });
        out[s].push(op);
    }
    out
}
