//! Splitting a kernel into one graph kernel per device-kernel group.
//!
//! Each [`Group`] of [`super::partition`] becomes a standalone graph [`Kernel`] (a [`Part`]) that the
//! existing single-kernel paths compile: a cube group is exactly `c = matmul(a, b)` of two parameters,
//! a vector group a vector kernel. A value one group defines and a later group reads crosses GM: it is
//! an output of its producer's part and a parameter of each consumer's part, under one name. Values
//! that are kernel outputs keep their output name; the others are **intermediates** named
//! `<program>_t<n>` (numbered in launch order, renumbered away from every parameter and output name),
//! so the names are deterministic and never clash.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::graph::{Kernel, Op, OpData, OpKind, Output, Param, Value, ValueData};

use super::fuse::{Group, GroupKind};

/// One device kernel's share of a kernel, as a graph kernel of its own.
#[derive(Clone, PartialEq, Debug)]
pub struct Part {
    /// The group's kind.
    pub kind: GroupKind,
    /// The graph kernel: its parameters are the GM tensors it reads (program parameters or
    /// intermediates), its outputs the ones it writes. Named after the program.
    pub kernel: Kernel,
}

/// A GM tensor written by one part and read by a later one, not returned to the caller.
#[derive(Clone, PartialEq, Debug)]
pub struct Intermediate {
    /// Its name (a parameter or output name in the parts that touch it).
    pub name: String,
    /// The value of the original kernel it holds.
    pub value: Value,
}

/// The parts of a kernel, in launch order, and the intermediates between them.
#[derive(Clone, PartialEq, Debug)]
pub struct Split {
    /// One graph kernel per group.
    pub parts: Vec<Part>,
    /// The intermediates, in the order their producers run.
    pub intermediates: Vec<Intermediate>,
}

/// Splits `kernel` along `groups` (in launch order, as [`super::partition`] returns them).
pub fn split(kernel: &Kernel, groups: &[Group]) -> Split {
    let group_of: FxHashMap<Op, usize> = groups
        .iter()
        .enumerate()
        .flat_map(|(i, g)| g.ops.iter().map(move |&op| (op, i)))
        .collect();
    let is_output: FxHashSet<Value> = kernel.outputs.iter().map(|o| o.value).collect();
    // Which values cross from one group to another (read by a group other than their producer's).
    let mut crossing: Vec<Value> = Vec::new();
    for g in groups {
        for &op in &g.ops {
            for &arg in &kernel.ops[op].args {
                let def = kernel.values[arg].def;
                // Parameters are read from GM by every part; constants are copied into every part.
                let from_param = matches!(
                    kernel.ops[def].kind,
                    OpKind::Param { .. } | OpKind::Const { .. }
                );
                if !from_param
                    && group_of.get(&def) != group_of.get(&op)
                    && !crossing.contains(&arg)
                {
                    crossing.push(arg);
                }
            }
        }
    }
    crossing.sort_by_key(|v| (group_of.get(&kernel.values[*v].def), v.as_u32()));
    let taken: FxHashSet<&str> = kernel
        .params
        .iter()
        .map(|p| p.name.as_str())
        .chain(kernel.outputs.iter().map(|o| o.name.as_str()))
        .collect();
    let mut names: FxHashMap<Value, String> = FxHashMap::default();
    for p in &kernel.params {
        names.insert(p.value, p.name.clone());
    }
    for o in &kernel.outputs {
        names.entry(o.value).or_insert_with(|| o.name.clone());
    }
    let mut intermediates = Vec::new();
    let mut counter = 0;
    for &v in &crossing {
        if names.contains_key(&v) {
            continue;
        }
        let name = loop {
            let candidate = format!("{}_t{counter}", kernel.name);
            counter += 1;
            if !taken.contains(candidate.as_str()) {
                break candidate;
            }
        };
        names.insert(v, name.clone());
        intermediates.push(Intermediate { name, value: v });
    }
    let mut parts: Vec<Part> = groups
        .iter()
        .enumerate()
        .map(|(index, g)| Part {
            kind: g.kind,
            kernel: part_kernel(kernel, g, index, &group_of, &names, &is_output),
        })
        .collect();
    // An output that is a parameter, or a value an earlier output already returns, is written by a
    // copy kernel of its own at the end (the vector path copies a parameter to an output).
    for (i, o) in kernel.outputs.iter().enumerate() {
        let def = kernel.values[o.value].def;
        let param = matches!(kernel.ops[def].kind, OpKind::Param { .. });
        let again = kernel.outputs[..i].iter().any(|e| e.value == o.value);
        if param || again {
            parts.push(Part {
                kind: GroupKind::Vector,
                kernel: copy_part(kernel, o, &names[&o.value]),
            });
        }
    }
    Split {
        parts,
        intermediates,
    }
}

/// A vector kernel that copies the GM tensor `source` (a parameter, or an output an earlier part writes)
/// to the output `output`.
fn copy_part(kernel: &Kernel, output: &Output, source: &str) -> Kernel {
    let mut part = Kernel::new(kernel.name.clone());
    part.syms = kernel.syms.clone();
    part.bound = kernel.bound.clone();
    part.constraints = kernel.constraints.clone();
    let def = kernel.values[output.value].def;
    let op = part.ops.push(OpData {
        kind: OpKind::Param { index: 0 },
        args: vec![],
        results: vec![],
    });
    let value = part.values.push(ValueData {
        ty: kernel.values[output.value].ty.clone(),
        def: op,
        index: 0,
    });
    part.ops[op].results.push(value);
    part.order.push(op);
    part.locs[op] = kernel.locs[def];
    part.params.push(Param {
        name: source.to_string(),
        value,
    });
    part.outputs.push(Output {
        name: output.name.clone(),
        value,
    });
    part
}

/// The graph kernel of group `index`: parameters for every value it reads from outside (program
/// parameters in their own order, then intermediates in the order of first use), its ops, and an output for every value
/// it defines that a later group reads or the kernel returns.
fn part_kernel(
    kernel: &Kernel,
    group: &Group,
    index: usize,
    group_of: &FxHashMap<Op, usize>,
    names: &FxHashMap<Value, String>,
    is_output: &FxHashSet<Value>,
) -> Kernel {
    let mut part = Kernel::new(kernel.name.clone());
    part.syms = kernel.syms.clone();
    part.bound = kernel.bound.clone();
    part.constraints = kernel.constraints.clone();
    let mine = |op: Op| group_of.get(&op) == Some(&index);
    // External reads: program parameters (in parameter order) then intermediates (first use).
    // A parameter no op reads is no argument of any part (the program still lists it).
    let mut inputs: Vec<Value> = Vec::new();
    // Constants of other groups (or of none) this group reads: copied in ahead of its own ops.
    let mut copied: Vec<Op> = Vec::new();
    for &op in &group.ops {
        for &arg in &kernel.ops[op].args {
            let def = kernel.values[arg].def;
            let param = matches!(kernel.ops[def].kind, OpKind::Param { .. });
            let constant = matches!(kernel.ops[def].kind, OpKind::Const { .. });
            if constant && !mine(def) && !copied.contains(&def) {
                copied.push(def);
            } else if !constant && (param || !mine(def)) && !inputs.contains(&arg) {
                inputs.push(arg);
            }
        }
    }
    inputs.sort_by_key(|v| {
        let param = kernel.params.iter().position(|p| p.value == *v);
        (param.is_none(), param, 0)
    });
    let mut map: FxHashMap<Value, Value> = FxHashMap::default();
    for (i, &v) in inputs.iter().enumerate() {
        let def = kernel.values[v].def;
        let op = part.ops.push(OpData {
            kind: OpKind::Param { index: i as u32 },
            args: vec![],
            results: vec![],
        });
        let nv = part.values.push(ValueData {
            ty: kernel.values[v].ty.clone(),
            def: op,
            index: 0,
        });
        part.ops[op].results.push(nv);
        part.order.push(op);
        part.locs[op] = kernel.locs[def];
        part.params.push(Param {
            name: names[&v].clone(),
            value: nv,
        });
        map.insert(v, nv);
    }
    for &op in copied.iter().chain(&group.ops) {
        let data = &kernel.ops[op];
        if matches!(data.kind, OpKind::Param { .. }) {
            continue;
        }
        let nop = part.ops.push(OpData {
            kind: data.kind.clone(),
            args: data.args.iter().map(|a| map[a]).collect(),
            results: vec![],
        });
        for &r in &data.results {
            let nv = part.values.push(ValueData {
                ty: kernel.values[r].ty.clone(),
                def: nop,
                index: kernel.values[r].index,
            });
            part.ops[nop].results.push(nv);
            map.insert(r, nv);
        }
        part.order.push(nop);
        part.locs[nop] = kernel.locs[op];
        if let Some(h) = kernel.hints.get(op) {
            part.hints[nop] = h.clone();
        }
    }
    // Outputs: the kernel's own outputs this group defines (in their order), then the intermediates
    // it writes (in value order).
    for (i, o) in kernel.outputs.iter().enumerate() {
        // A value returned twice is written once here; [`copy_part`] writes the other name.
        let first = kernel.outputs[..i].iter().all(|e| e.value != o.value);
        if first && mine(kernel.values[o.value].def) {
            part.outputs.push(Output {
                name: o.name.clone(),
                value: map[&o.value],
            });
        }
    }
    let mut written: Vec<Value> = map
        .keys()
        .copied()
        .filter(|v| {
            mine(kernel.values[*v].def)
                && !is_output.contains(v)
                && !matches!(kernel.ops[kernel.values[*v].def].kind, OpKind::Param { .. })
                && names.contains_key(v)
        })
        .collect();
    written.sort_by_key(|v| v.as_u32());
    for v in written {
        part.outputs.push(Output {
            name: names[&v].clone(),
            value: map[&v],
        });
    }
    part
}

#[cfg(test)]
pub(crate) mod tests;
