//! Graph-level analyses and passes that prepare a kernel for lowering: a petgraph view of the dataflow,
//! dead-op elimination and the fusion of ops into device-kernel groups.
//!
//! The driver [`partition`] runs [`dce::compute_live`] then [`fuse::fuse_groups`]; [`mix`] finds the
//! cube groups whose vector consumers can be their MIX epilogue; [`split()`] turns the groups into one
//! graph kernel each, connected by GM intermediates.

pub mod dce;
pub mod dot;
pub mod fuse;
pub mod mix;
pub mod moe;
pub mod split;
pub mod view;

use crate::graph::{Kernel, Op};
use crate::schedule::LowerError;

pub use fuse::{FuseMode, Group, GroupKind};
pub use mix::MixPair;
pub use split::{split, Intermediate, Part, Split};
pub use view::{DataflowView, Edge};

/// Splits the live ops of `kernel` into device-kernel groups, in launch order (every op alone
/// except vector ops of one depth; see [`fuse`]).
pub fn partition(kernel: &Kernel) -> Result<Vec<Group>, LowerError> {
    partition_with(kernel, FuseMode::All)
}

/// What the graph optimizer decided for a kernel, before the MIX pairing (which the program assembly
/// makes, since it falls back where the MIX lowering refuses an epilogue).
#[derive(Clone, PartialEq, Debug)]
pub struct Plan {
    /// The device-kernel groups, in launch order.
    pub groups: Vec<Group>,
    /// The MoE fusions made ([`moe`]).
    pub fusions: Vec<moe::Fusion>,
    /// The mode it was made in.
    pub mode: FuseMode,
}

/// Partitions `kernel` ([`partition_with`]) and, with [`FuseMode::All`], fuses the MoE family into
/// its grouped matmuls ([`moe::fuse`]).
pub fn plan(kernel: &Kernel, mode: FuseMode) -> Result<Plan, LowerError> {
    let groups = partition_with(kernel, mode)?;
    let (groups, fusions) = match mode {
        FuseMode::All => moe::fuse(kernel, &groups),
        FuseMode::None => (groups, vec![]),
    };
    Ok(Plan {
        groups,
        fusions,
        mode,
    })
}

/// [`partition`] with the fusion mode: with [`FuseMode::None`] every op is a group of its own.
pub fn partition_with(kernel: &Kernel, mode: FuseMode) -> Result<Vec<Group>, LowerError> {
    let view = DataflowView::build(kernel);
    let live = dce::compute_live(kernel, &view);
    fuse::fuse_groups(kernel, &view, &live, mode)
}

/// A short description of an op for notes and messages: `v3 = softmax v0`.
pub fn describe_op(kernel: &Kernel, op: Op) -> String {
    let data = &kernel.ops[op];
    let mut s = String::new();
    for (i, r) in data.results.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&r.to_string());
    }
    s.push_str(" = ");
    s.push_str(data.kind.name());
    for (i, a) in data.args.iter().enumerate() {
        s.push_str(if i == 0 { " " } else { ", " });
        s.push_str(&a.to_string());
    }
    s
}
