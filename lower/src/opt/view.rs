//! A petgraph view of a kernel's dataflow: one node per op, one edge per operand. The IR stays in the
//! kernel's `PrimaryMap`s; the view is rebuilt whenever an analysis needs it.

use petgraph::stable_graph::{NodeIndex, StableDiGraph};
use rustc_hash::FxHashMap;

use crate::graph::{Kernel, Op};

/// What an edge of the view means.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Edge {
    /// The target op reads a result of the source op as operand `operand`.
    Data {
        /// Operand position in the target op.
        operand: u32,
    },
    /// The target must run after the source for a reason other than data (synchronization only).
    Order,
}

/// The dataflow graph of a kernel as a petgraph graph.
pub struct DataflowView {
    /// The graph: nodes are ops.
    pub graph: StableDiGraph<Op, Edge>,
    /// The node of each op.
    pub node: FxHashMap<Op, NodeIndex>,
}

impl DataflowView {
    /// Builds the view of `kernel`. Operands whose value does not exist are skipped (the verifier
    /// reports them).
    pub fn build(kernel: &Kernel) -> DataflowView {
        let mut graph = StableDiGraph::new();
        let mut node = FxHashMap::default();
        for &op in &kernel.order {
            node.insert(op, graph.add_node(op));
        }
        for &op in &kernel.order {
            let Some(data) = kernel.ops.get(op) else {
                continue;
            };
            for (i, &arg) in data.args.iter().enumerate() {
                let Some(def) = kernel.values.get(arg).map(|v| v.def) else {
                    continue;
                };
                if let (Some(&from), Some(&to)) = (node.get(&def), node.get(&op)) {
                    graph.add_edge(from, to, Edge::Data { operand: i as u32 });
                }
            }
        }
        DataflowView { graph, node }
    }
}
