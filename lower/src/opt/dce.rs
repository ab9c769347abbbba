//! Dead-op analysis: which ops contribute to a kernel output. Parameters are always live (they are the
//! kernel's ABI). Needs the [`DataflowView`]; invalidates nothing (it only computes).

use petgraph::visit::{Dfs, Reversed};
use rustc_hash::FxHashSet;

use crate::graph::{Kernel, Op, OpKind};

use super::view::DataflowView;

/// The live ops of `kernel`: parameters and every op an output depends on.
pub fn compute_live(kernel: &Kernel, view: &DataflowView) -> FxHashSet<Op> {
    let mut live = FxHashSet::default();
    let reversed = Reversed(&view.graph);
    for out in &kernel.outputs {
        let Some(def) = kernel.values.get(out.value).map(|v| v.def) else {
            continue;
        };
        let Some(&start) = view.node.get(&def) else {
            continue;
        };
        let mut dfs = Dfs::new(reversed, start);
        while let Some(n) = dfs.next(reversed) {
            live.insert(view.graph[n]);
        }
    }
    for (op, data) in kernel.ops.iter() {
        if matches!(data.kind, OpKind::Param { .. }) {
            live.insert(op);
        }
    }
    live
}
