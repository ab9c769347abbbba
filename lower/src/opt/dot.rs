//! The fusion graph in Graphviz DOT: device kernels as clusters of their ops, GM tensors as edges
//! labeled with their names and bytes (dim expressions of the dynamic dims).
//!
//! Intermediates are named by their graph value (`v15`). An edge between two ops of one cluster
//! stays on chip (or in the bounded workspace of a MIX kernel)
//! and is drawn dashed without bytes; every other edge is a GM tensor: a parameter read, an output
//! written, or an intermediate one kernel writes and a later one reads. A routing table is its GM
//! form: order and position (`T*K` i32 each) and offsets (`E+1` i32). The fusions made are listed in
//! the graph's label with the GM bytes each saves.

use std::fmt::Write as _;

use rustc_hash::FxHashMap;

use crate::graph::{Dim, Kernel, OpKind, Type, Value};

use super::fuse::{Group, GroupKind};
use super::moe::Fusion;

/// Bytes of `value` in GM (a routing table in its GM form).
pub fn gm_bytes(kernel: &Kernel, value: Value) -> Dim {
    match kernel.ty(value) {
        Type::Tensor(t) => t
            .shape
            .iter()
            .fold(Dim::lit(t.dtype.size_bytes() as i64), |acc, d| {
                Dim::mul(&acc, d)
            }),
        Type::Routes(r) => {
            let slots = Dim::mul(&Dim::mul(&r.tokens, &r.k), &Dim::lit(8));
            Dim::add(
                &slots,
                &Dim::mul(&Dim::add(&r.experts, &Dim::lit(1)), &Dim::lit(4)),
            )
        }
    }
}

fn kind_name(kernel: &Kernel, group: &Group) -> &'static str {
    let grouped = group
        .ops
        .iter()
        .any(|&op| matches!(kernel.ops[op].kind, OpKind::GroupedMatmul));
    match group.kind {
        GroupKind::Grouped if grouped && group.ops.len() == 1 => "AIC grouped matmul",
        GroupKind::Grouped if grouped => "grouped matmul with prologue/epilogue",
        GroupKind::Grouped => "MIX matmul with epilogue",
        GroupKind::Vector => "AIV",
        GroupKind::Cube => "AIC",
        GroupKind::Mix => "MIX",
        GroupKind::Route => "AIV routing",
        GroupKind::Rows => "AIV rows",
        GroupKind::AccInit => "AIC accumulator init",
    }
}

/// `s` as a DOT string. Names are identifiers and types print no backslash, so the only backslashes
/// are the `\l` line breaks of the labels, which must stay.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\\\""))
}

/// The DOT text of `kernel` partitioned into `groups` (launch order) with `fusions` made.
pub fn fusion_dot(kernel: &Kernel, groups: &[Group], fusions: &[Fusion]) -> String {
    // Parameters and outputs by their names, intermediates by their graph value.
    let mut names: FxHashMap<Value, String> = FxHashMap::default();
    for p in &kernel.params {
        names.insert(p.value, p.name.clone());
    }
    for o in &kernel.outputs {
        names.entry(o.value).or_insert_with(|| o.name.clone());
    }
    let group_of = super::moe::group_index(groups);
    // The accumulator a fused combine adds into holds the matmul's result unrounded, in f32.
    let acc = super::moe::accumulators(kernel, groups);
    let bytes = |v: Value| {
        let b = gm_bytes(kernel, v);
        let b = match kernel.ty(v) {
            Type::Tensor(t) if acc.contains(&v) => Dim::mul(
                &Dim::div(&b, &Dim::lit(t.dtype.size_bytes() as i64)).unwrap_or(b),
                &Dim::lit(4),
            ),
            _ => b,
        };
        b.display(&kernel.syms).to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&kernel.name));
    out.push_str("  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");
    // A cluster is one part of the program: one device kernel, or a few launched back to back
    // (routing: histogram and scatter; a fused combine: weight gather, grouped matmul, rounding).
    let mut label = format!("{}: {} parts", kernel.name, groups.len());
    for f in fusions {
        let _ = write!(
            label,
            "\\lfused: {} into {} (GM tensors: saves {} B; through the workspace: {} B)",
            f.kind.name(),
            kernel.ops[f.into]
                .results
                .first()
                .map_or(String::new(), |v| v.to_string()),
            f.saved.display(&kernel.syms),
            f.workspace.display(&kernel.syms)
        );
    }
    let _ = writeln!(
        out,
        "  label={};\n  labelloc=t;",
        quote(&format!("{label}\\l"))
    );
    for p in &kernel.params {
        let _ = writeln!(
            out,
            "  {} [shape=ellipse, label={}];",
            quote(&format!("in:{}", p.name)),
            quote(&format!(
                "{}: {}",
                p.name,
                kernel.ty(p.value).display(&kernel.syms)
            ))
        );
    }
    for o in &kernel.outputs {
        let _ = writeln!(
            out,
            "  {} [shape=ellipse, label={}];",
            quote(&format!("out:{}", o.name)),
            quote(&format!(
                "{}: {}",
                o.name,
                kernel.ty(o.value).display(&kernel.syms)
            ))
        );
    }
    for (i, g) in groups.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_k{i} {{");
        let _ = writeln!(
            out,
            "    label={};",
            quote(&format!("{}_k{i} ({})", kernel.name, kind_name(kernel, g)))
        );
        for &op in &g.ops {
            let data = &kernel.ops[op];
            if matches!(data.kind, OpKind::Param { .. }) {
                continue;
            }
            let _ = writeln!(
                out,
                "    {} [label={}];",
                quote(&op.to_string()),
                quote(&super::describe_op(kernel, op))
            );
        }
        out.push_str("  }\n");
    }
    for g in groups {
        for &op in &g.ops {
            let data = &kernel.ops[op];
            if matches!(data.kind, OpKind::Param { .. }) {
                continue;
            }
            for &arg in &data.args {
                let def = kernel.values[arg].def;
                let from_param = matches!(kernel.ops[def].kind, OpKind::Param { .. });
                if matches!(kernel.ops[def].kind, OpKind::Const { .. }) {
                    continue;
                }
                if from_param {
                    let name = &names[&arg];
                    let _ = writeln!(
                        out,
                        "  {} -> {} [label={}];",
                        quote(&format!("in:{name}")),
                        quote(&op.to_string()),
                        quote(&format!("{name} {} B", bytes(arg)))
                    );
                } else if group_of.get(&def) == group_of.get(&op) {
                    let _ = writeln!(
                        out,
                        "  {} -> {} [style=dashed];",
                        quote(&def.to_string()),
                        quote(&op.to_string())
                    );
                } else {
                    let name = names.get(&arg).cloned().unwrap_or_else(|| arg.to_string());
                    let _ = writeln!(
                        out,
                        "  {} -> {} [label={}, penwidth=2];",
                        quote(&def.to_string()),
                        quote(&op.to_string()),
                        quote(&format!("{name} {} B", bytes(arg)))
                    );
                }
            }
        }
    }
    for o in &kernel.outputs {
        let def = kernel.values[o.value].def;
        let src = if matches!(kernel.ops[def].kind, OpKind::Param { .. }) {
            format!("in:{}", names[&o.value])
        } else {
            def.to_string()
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            quote(&src),
            quote(&format!("out:{}", o.name)),
            quote(&format!("{} {} B", o.name, bytes(o.value)))
        );
    }
    out.push_str("}\n");
    out
}
