//! The compulsory GM traffic of a kernel with routed experts: what any implementation must move.
//!
//! For a kernel without `route`, every input is read once and every output written once (the
//! runtime's `compulsory_bytes`). With routing, a weight tensor read only as the per-expert weights of
//! `grouped_matmul` counts only for the experts some token is routed to (at decode most experts are
//! not: at T = 1 a MoGE layer touches G of E), and the routing table counts once: its order and
//! position (`T*K` i32 each) and offsets (`E+1` i32) written once and read once.

use moge_lower::graph::{Kernel, OpKind, Value};
use moge_lower::interp::Tensor;

/// Whether `kernel` routes tokens to experts (has a `route`).
pub fn has_route(kernel: &Kernel) -> bool {
    kernel
        .order
        .iter()
        .any(|&op| matches!(kernel.ops[op].kind, OpKind::Route { .. }))
}

/// The routing ids of `kernel`'s first `route` and its expert count, found among the inputs and
/// outputs (`None` when the ids are computed inside the kernel and not returned, or there is no
/// route).
fn route_ids<'a>(
    kernel: &Kernel,
    inputs: &'a [Tensor],
    outputs: &'a [Tensor],
) -> Option<(&'a Tensor, usize)> {
    let op = kernel
        .order
        .iter()
        .find(|&&op| matches!(kernel.ops[op].kind, OpKind::Route { .. }))?;
    let OpKind::Route { experts } = &kernel.ops[*op].kind else {
        return None;
    };
    let experts = usize::try_from(experts.as_int()?).ok()?;
    let ids = kernel.ops[*op].args[0];
    let from_param = kernel.params.iter().position(|p| p.value == ids);
    let from_output = kernel.outputs.iter().position(|o| o.value == ids);
    let t = match (from_param, from_output) {
        (Some(i), _) => inputs.get(i)?,
        (None, Some(i)) => outputs.get(i)?,
        _ => return None,
    };
    Some((t, experts))
}

/// Whether `v` is read only as the weights (operand 1) of `grouped_matmul`s.
fn only_expert_weights(kernel: &Kernel, v: Value) -> bool {
    let mut readers = kernel
        .order
        .iter()
        .filter(|&&op| kernel.ops[op].args.contains(&v))
        .peekable();
    readers.peek().is_some()
        && readers.all(|&op| {
            matches!(kernel.ops[op].kind, OpKind::GroupedMatmul) && kernel.ops[op].args[1] == v
        })
}

fn bytes(t: &Tensor) -> u64 {
    (t.len() * t.dtype.size_bytes()) as u64
}

/// How many of the `experts` some id of `ids` names (ids outside `0..experts` name none).
fn distinct_experts(ids: &Tensor, experts: usize) -> usize {
    let mut seen = vec![false; experts];
    for &id in ids.as_i32().unwrap_or(&[]) {
        if let Some(s) = usize::try_from(id).ok().and_then(|e| seen.get_mut(e)) {
            *s = true;
        }
    }
    seen.iter().filter(|&&s| s).count()
}

/// The experts of `kernel`'s first `route` that some token is routed to, when its ids are an input
/// or an output (`None` otherwise).
pub fn experts_used(kernel: &Kernel, inputs: &[Tensor], outputs: &[Tensor]) -> Option<usize> {
    route_ids(kernel, inputs, outputs).map(|(ids, experts)| distinct_experts(ids, experts))
}

/// The compulsory GM bytes of running `kernel` on `inputs` giving `outputs` (see the module docs).
pub fn compulsory_bytes(kernel: &Kernel, inputs: &[Tensor], outputs: &[Tensor]) -> u64 {
    let routed = route_ids(kernel, inputs, outputs);
    let (used, experts) = match routed {
        Some((ids, experts)) => (distinct_experts(ids, experts) as u64, experts as u64),
        None => (0, 0),
    };
    let mut total = 0u64;
    for (p, t) in kernel.params.iter().zip(inputs) {
        total += if experts > 0 && only_expert_weights(kernel, p.value) {
            bytes(t) / experts * used
        } else {
            bytes(t)
        };
    }
    total += outputs.iter().map(bytes).sum::<u64>();
    if let Some((ids, experts)) = routed {
        // Order and position written and read once, offsets written and read once.
        total += 2 * (8 * ids.len() as u64 + 4 * (experts as u64 + 1));
    }
    total
}
