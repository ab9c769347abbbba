//! MoE fusion: the ops around a grouped matmul join its device kernel.
//!
//! [`super::fuse`] leaves every op of the MoE family in a group of its own. This pass merges, each
//! where its legality check holds:
//!
//! - **dispatch prologue**: `dispatch(x, routes)` read only as the left operand of a grouped matmul
//!   becomes the matmul's row gather (rows of `x` picked by the routing order while loading into L1):
//!   the `(T*K, H)` permuted copy of `x` is never written.
//! - **SwiGLU epilogue**: `swiglu(up)` with `up` a grouped matmul (or a matmul) read only by it runs on
//!   the matmul's tiles in the same MIX kernel: the `(rows, 2I)` result never reaches a GM tensor,
//!   only the `(rows, I)` activation does.
//! - **combine epilogue** and **final add**: `add(combine(down, routes, w), s)` with `down` a grouped
//!   matmul read only by the combine, the combine read only by the add, and `s` a matmul read only by
//!   the add: `s`'s matmul writes its result unrounded (f32) as the accumulator
//!   ([`GroupKind::AccInit`]), the grouped matmul's epilogue adds `w * row` into the accumulator row of
//!   each row's token (atomic f32 add), and a last kernel rounds the accumulator into the output. A
//!   combine with no such add stays a row kernel of its own (its accumulator would need a zero fill
//!   kernel; nothing in the MoGE layer needs that).
//!
//! Legality: the merged op is read by nothing but the op it fuses into and is no kernel output; the
//! dtypes are the cube's (bf16 or f16); every input of a merged op is computed by a group launched
//! before the merged group. Cost: each fusion records the GM tensor bytes it saves
//! ([`Fusion::saved`], a dim expression in bytes) and what its MIX hand-off moves through the
//! workspace instead ([`Fusion::workspace`]), which `mogec build --emit dot` prints. The dispatch
//! prologue saves the permuted copy outright; the epilogues replace a tensor's round trip by the
//! bounded workspace slots (the same bytes at the GM interface, but reused per AI core, so they stay
//! in L2 on the device); the combine epilogue's f32 atomic adds and accumulator cost what the bf16
//! rows it replaces cost, so it saves no GM bytes and is made for the kernels and round trips it
//! removes.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::graph::{BinaryOp, DType, Dim, Kernel, Op, OpKind, Value};

use super::fuse::{Group, GroupKind};

/// What a fusion did.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum FusionKind {
    /// `dispatch` as the row gather of a grouped matmul.
    DispatchPrologue,
    /// `swiglu` as a matmul's epilogue.
    SwigluEpilogue,
    /// `combine` and the final `add` as a grouped matmul's epilogue into a matmul's accumulator.
    CombineEpilogue,
}

impl FusionKind {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            FusionKind::DispatchPrologue => "dispatch prologue",
            FusionKind::SwigluEpilogue => "swiglu epilogue",
            FusionKind::CombineEpilogue => "combine epilogue + add",
        }
    }
}

/// One fusion the pass made.
#[derive(Clone, PartialEq, Debug)]
pub struct Fusion {
    /// What kind.
    pub kind: FusionKind,
    /// The op fused into (the grouped matmul or matmul).
    pub into: Op,
    /// The ops merged into its group.
    pub ops: Vec<Op>,
    /// GM tensor bytes saved against running the ops as kernels of their own (a dim expression):
    /// writes and reads of whole tensors no longer made, less the new ones (the f32 accumulator and
    /// the atomic adds of a fused combine).
    pub saved: Dim,
    /// Bytes the fused kernel moves through its workspace instead (the AIC -> AIV hand-off of a MIX
    /// epilogue: each tile written once and read once, in bounded slots per AI core that are reused,
    /// so on the device they stay in L2).
    pub workspace: Dim,
}

/// The groups of `groups` (launch order, as [`super::fuse::fuse_groups`] makes them) with the MoE
/// prologues and epilogues merged into their matmuls, and the fusions made.
pub fn fuse(kernel: &Kernel, groups: &[Group]) -> (Vec<Group>, Vec<Fusion>) {
    let mut groups: Vec<Option<Group>> = groups.iter().cloned().map(Some).collect();
    let outputs: FxHashSet<Value> = kernel.outputs.iter().map(|o| o.value).collect();
    let mut fusions = Vec::new();
    let at = Cx {
        kernel,
        outputs: &outputs,
    };
    for i in 0..groups.len() {
        let Some(g) = groups[i].clone() else { continue };
        let main = match (g.kind, g.ops.as_slice()) {
            (GroupKind::Grouped | GroupKind::Cube, [op]) => *op,
            _ => continue,
        };
        let grouped = matches!(kernel.ops[main].kind, OpKind::GroupedMatmul);
        let mut ops = vec![main];
        let mut kind = g.kind;
        // Prologue.
        if grouped {
            if let Some((j, d)) =
                at.sole_producer(&groups, main, 0, |k| matches!(k, OpKind::Dispatch))
            {
                if at.cube_dtype(d) {
                    ops.insert(0, d);
                    groups[j] = None;
                    fusions.push(Fusion {
                        kind: FusionKind::DispatchPrologue,
                        into: main,
                        ops: vec![d],
                        saved: at.round_trip(d),
                        workspace: Dim::lit(0),
                    });
                }
            }
        }
        // Epilogues.
        if let Some((j, s)) = at.sole_reader(&groups, main, |k| matches!(k, OpKind::Swiglu)) {
            if kernel.ops[s].args.len() == 1 && at.cube_dtype(main) && at.ready(&groups, i, s) {
                ops.push(s);
                groups[j] = None;
                kind = GroupKind::Grouped;
                fusions.push(Fusion {
                    kind: FusionKind::SwigluEpilogue,
                    into: main,
                    ops: vec![s],
                    saved: at.round_trip(main),
                    workspace: at.round_trip(main),
                });
            }
        } else if grouped {
            if let Some(f) = at.combine_tail(&mut groups, i, main) {
                ops.extend(f.ops.iter().copied());
                fusions.push(f);
            }
        }
        if ops.len() > 1 {
            groups[i] = Some(Group { kind, ops });
        }
    }
    (groups.into_iter().flatten().collect(), fusions)
}

struct Cx<'a> {
    kernel: &'a Kernel,
    outputs: &'a FxHashSet<Value>,
}

impl Cx<'_> {
    fn result(&self, op: Op) -> Option<Value> {
        match self.kernel.ops[op].results.as_slice() {
            [r] => Some(*r),
            _ => None,
        }
    }

    /// The ops of live groups that read `v`.
    fn readers(&self, groups: &[Option<Group>], v: Value) -> Vec<(usize, Op)> {
        let mut out = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            for &op in g.iter().flat_map(|g| &g.ops) {
                if self.kernel.ops[op].args.contains(&v) {
                    out.push((i, op));
                }
            }
        }
        out
    }

    /// The only reader of `op`'s result, when it is alone in its group, of the kind `want`, and the
    /// result is no kernel output.
    fn sole_reader(
        &self,
        groups: &[Option<Group>],
        op: Op,
        want: impl Fn(&OpKind) -> bool,
    ) -> Option<(usize, Op)> {
        let r = self.result(op)?;
        if self.outputs.contains(&r) {
            return None;
        }
        let [(j, reader)] = self.readers(groups, r)[..] else {
            return None;
        };
        let alone = groups[j].as_ref().is_some_and(|g| g.ops == [reader]);
        (alone && want(&self.kernel.ops[reader].kind)).then_some((j, reader))
    }

    /// The producer of operand `operand` of `op` and its group, when `op` is its only reader, it is
    /// alone in its group, and it is of the kind `want`.
    fn sole_producer(
        &self,
        groups: &[Option<Group>],
        op: Op,
        operand: usize,
        want: impl Fn(&OpKind) -> bool,
    ) -> Option<(usize, Op)> {
        let arg = *self.kernel.ops[op].args.get(operand)?;
        let def = self.kernel.values[arg].def;
        if !want(&self.kernel.ops[def].kind) || self.outputs.contains(&arg) {
            return None;
        }
        let readers = self.readers(groups, arg);
        if readers.iter().any(|&(_, r)| r != op) {
            return None;
        }
        let j = self.group_of(groups, def)?;
        groups[j]
            .as_ref()
            .is_some_and(|g| g.ops == [def])
            .then_some((j, def))
    }

    fn group_of(&self, groups: &[Option<Group>], op: Op) -> Option<usize> {
        groups
            .iter()
            .position(|g| g.as_ref().is_some_and(|g| g.ops.contains(&op)))
    }

    /// Whether every input of `op` is a parameter, a constant or computed by a group before `index`.
    fn ready(&self, groups: &[Option<Group>], index: usize, op: Op) -> bool {
        self.kernel.ops[op].args.iter().all(|&a| {
            let def = self.kernel.values[a].def;
            matches!(
                self.kernel.ops[def].kind,
                OpKind::Param { .. } | OpKind::Const { .. }
            ) || self.group_of(groups, def).is_some_and(|g| g <= index)
        })
    }

    /// Whether `op`'s (first) result is a bf16 or f16 tensor: what the cube's epilogues handle.
    fn cube_dtype(&self, op: Op) -> bool {
        self.result(op)
            .and_then(|r| self.kernel.ty(r).as_tensor())
            .is_some_and(|t| matches!(t.dtype, DType::BF16 | DType::F16))
    }

    /// Bytes of `op`'s result written once and read once.
    fn round_trip(&self, op: Op) -> Dim {
        let Some(t) = self.result(op).and_then(|r| self.kernel.ty(r).as_tensor()) else {
            return Dim::lit(0);
        };
        let mut bytes = Dim::lit(2 * t.dtype.size_bytes() as i64);
        for d in &t.shape {
            bytes = Dim::mul(&bytes, d);
        }
        bytes
    }

    /// `add(combine(main, routes, w), s)` (either operand order) with `s` a lone matmul launched
    /// before: merges the combine and the add into group `i` and makes `s`'s group the accumulator's
    /// initializer.
    fn combine_tail(&self, groups: &mut [Option<Group>], i: usize, main: Op) -> Option<Fusion> {
        let (jc, c) = self.sole_reader(groups, main, |k| matches!(k, OpKind::Combine))?;
        if self.kernel.ops[c].args.first() != self.result(main).as_ref() || !self.cube_dtype(main) {
            return None;
        }
        let (ja, a) =
            self.sole_reader(groups, c, |k| matches!(k, OpKind::Binary(BinaryOp::Add)))?;
        let c_out = self.result(c)?;
        let other = *self.kernel.ops[a].args.iter().find(|&&v| v != c_out)?;
        let s = self.kernel.values[other].def;
        if !matches!(self.kernel.ops[s].kind, OpKind::MatMul)
            || self.kernel.ty(other) != self.kernel.ty(c_out)
        {
            return None;
        }
        let js = self.group_of(groups, s)?;
        let lone = groups[js]
            .as_ref()
            .is_some_and(|g| g.kind == GroupKind::Cube && g.ops == [s]);
        let (_, reader) = self.sole_reader(groups, s, |_| true)?;
        if !lone || reader != a || js >= i || !self.ready(groups, i, c) {
            return None;
        }
        groups[jc] = None;
        groups[ja] = None;
        groups[js] = Some(Group {
            kind: GroupKind::AccInit,
            ops: vec![s],
        });
        // Saved: the grouped matmul's rows written and read back, the combine's and the matmul's
        // results written and read by the add. Spent: the atomic f32 adds of every row, the f32
        // accumulator written by the matmul and read by the last kernel. The rows also pass through
        // the workspace.
        let rows = at_f32_bytes(self, main);
        let acc = Dim::mul(&at_f32_bytes(self, c), &Dim::lit(2));
        let gained = Dim::add(
            &Dim::add(&self.round_trip(main), &self.round_trip(c)),
            &self.round_trip(s),
        );
        let saved = Dim::sub(&gained, &Dim::add(&rows, &acc));
        Some(Fusion {
            kind: FusionKind::CombineEpilogue,
            into: main,
            ops: vec![c, a],
            saved,
            workspace: self.round_trip(main),
        })
    }
}

#[cfg(test)]
mod tests;

/// Undoes the fusions of the group at `index` of `groups` (a [`GroupKind::Grouped`] group the
/// lowering refused, say an epilogue whose columns its vector tiles cannot take): each of its ops
/// becomes a group of its own, in order, and a matmul that initialized its accumulator a plain cube
/// group again. Returns the ops the group was fused into (the matmuls), so the caller can drop their
/// [`Fusion`]s.
pub fn unfuse(kernel: &Kernel, groups: &mut Vec<Group>, index: usize) -> Vec<Op> {
    let g = groups.remove(index);
    let mut alone = Vec::with_capacity(g.ops.len());
    let mut mains = Vec::new();
    for &op in &g.ops {
        let kind = match &kernel.ops[op].kind {
            OpKind::MatMul => GroupKind::Cube,
            OpKind::GroupedMatmul => GroupKind::Grouped,
            OpKind::Dispatch | OpKind::Swiglu | OpKind::Combine => GroupKind::Rows,
            _ => GroupKind::Vector,
        };
        if matches!(kind, GroupKind::Cube | GroupKind::Grouped) {
            mains.push(op);
        }
        if let OpKind::Binary(BinaryOp::Add) = kernel.ops[op].kind {
            // The accumulator's initializer is the add's matmul operand: a plain matmul again.
            for &arg in &kernel.ops[op].args {
                let def = kernel.values[arg].def;
                for other in groups.iter_mut() {
                    if other.kind == GroupKind::AccInit && other.ops == [def] {
                        other.kind = GroupKind::Cube;
                    }
                }
            }
        }
        alone.push(Group {
            kind,
            ops: vec![op],
        });
    }
    groups.splice(index..index, alone);
    mains
}

/// The values a fused combine accumulates into: the results of the [`GroupKind::AccInit`] groups,
/// which live in GM as f32 (unrounded), whatever their graph dtype.
pub fn accumulators(kernel: &Kernel, groups: &[Group]) -> Vec<Value> {
    groups
        .iter()
        .filter(|g| g.kind == GroupKind::AccInit)
        .flat_map(|g| {
            g.ops
                .iter()
                .flat_map(|&op| kernel.ops[op].results.iter().copied())
        })
        .collect()
}

/// Bytes of `op`'s result held as f32.
fn at_f32_bytes(cx: &Cx<'_>, op: Op) -> Dim {
    let Some(t) = cx.result(op).and_then(|r| cx.kernel.ty(r).as_tensor()) else {
        return Dim::lit(0);
    };
    t.shape.iter().fold(Dim::lit(4), |acc, d| Dim::mul(&acc, d))
}

/// The group index of every op.
pub fn group_index(groups: &[Group]) -> FxHashMap<Op, usize> {
    groups
        .iter()
        .enumerate()
        .flat_map(|(i, g)| g.ops.iter().map(move |&op| (op, i)))
        .collect()
}
