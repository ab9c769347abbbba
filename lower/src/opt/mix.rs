//! MIX fusion: a cube group and the vector group that consumes its result become one
//! `KERNEL_TYPE_MIX_AIC_1_2` group, so the matmul's result goes to a bounded GM workspace that the
//! AIVs of the same AI core read tile by tile, instead of a whole intermediate tensor written by one
//! kernel and read by the next.
//!
//! A pair `(cube, vector)` is a candidate when the matmul's result is not a kernel output and every
//! live op that reads it is in that one vector group; each vector group takes at most one matmul (the
//! first candidate in launch order). Whether the MIX lowering can take the epilogue (whole rows per
//! tile, budgets) is decided by the lowering itself: the program assembly ([`merge`] with fewer
//! pairs) falls back to separate kernels for a pair it refuses.

use rustc_hash::FxHashSet;

use crate::graph::{Kernel, Value};

use super::fuse::{Group, GroupKind};

/// A cube group and the vector group that may take its matmul as a MIX kernel: indices into the
/// groups of [`super::partition`].
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct MixPair {
    /// The cube group (one matmul).
    pub cube: usize,
    /// The vector group that reads the matmul's result.
    pub vector: usize,
}

/// The candidate pairs of `groups` (launch order), in launch order of their cube groups.
pub fn candidates(kernel: &Kernel, groups: &[Group]) -> Vec<MixPair> {
    let outputs: FxHashSet<Value> = kernel.outputs.iter().map(|o| o.value).collect();
    let mut taken = FxHashSet::default();
    let mut pairs = Vec::new();
    for (cube, g) in groups.iter().enumerate() {
        let ([matmul], GroupKind::Cube) = (g.ops.as_slice(), g.kind) else {
            continue;
        };
        let [result] = kernel.ops[*matmul].results.as_slice() else {
            continue;
        };
        if outputs.contains(result) {
            continue;
        }
        let readers: FxHashSet<usize> = groups
            .iter()
            .enumerate()
            .filter(|(_, h)| h.ops.iter().any(|&op| kernel.ops[op].args.contains(result)))
            .map(|(i, _)| i)
            .collect();
        let [vector] = readers.into_iter().collect::<Vec<_>>()[..] else {
            continue;
        };
        if groups[vector].kind == GroupKind::Vector && vector > cube && taken.insert(vector) {
            pairs.push(MixPair { cube, vector });
        }
    }
    pairs
}

/// `groups` with each pair of `pairs` made one MIX group, at the vector group's place (its inputs
/// are all computed before it, the matmul's included), the matmul first.
pub fn merge(groups: &[Group], pairs: &[MixPair]) -> Vec<Group> {
    let mut out = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        if pairs.iter().any(|p| p.cube == i) {
            continue;
        }
        match pairs.iter().find(|p| p.vector == i) {
            Some(p) => {
                let mut ops = groups[p.cube].ops.clone();
                ops.extend(g.ops.iter().copied());
                out.push(Group {
                    kind: GroupKind::Mix,
                    ops,
                });
            }
            None => out.push(g.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests;
