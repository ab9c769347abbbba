//! The modeled timeline as a Chrome trace-event file (the format of msprof's trace.json; Perfetto and
//! chrome://tracing load it).
//!
//! One process per core of every kernel (`KERNEL: AIV 3`), one thread per pipe with msprof's lane names
//! (`SCALAR`, `VECTOR`, `CUBE`, `MTE1`, `MTE2`, `MTE3`, `FIXP`), and an `X` (complete) event per
//! instruction from its start to when it left the pipe, in microseconds; `args` hold the instruction's
//! index in the core's trace, its cycles and its completion. Every ordering edge the replay followed
//! (SetFlag -> WaitFlag, EnQue -> DeQue, FreeTensor -> AllocTensor, CrossCoreSetFlag -> Wait) is a flow
//! (`s` / `f`, category `sync`) between two zero-length `sync` slices: the set when its token was
//! released, the wait when it went on. Kernels follow each other, each after its launch overhead (a
//! `launch` event of process 0). `otherData` says the figures are modeled.

use serde_json::{json, Value};

use super::trace::{event_name, Op, PipeSlot, PIPE_SLOTS};
use super::KernelModel;

/// The trace-event JSON of kernels run in order (`(name, model)`; models without a timeline add only
/// their launch and duration).
pub fn chrome_trace(kernels: &[(&str, &KernelModel)]) -> Value {
    let mut events = vec![json!({
        "name": "process_name", "ph": "M", "pid": 0, "tid": 0,
        "args": {"name": "launch (modeled)"},
    })];
    let mut offset_us = 0.0;
    let mut meta = json!({"model": "mogec-910b-v0", "modeled": true});
    for (k, (name, model)) in kernels.iter().enumerate() {
        meta["target"] = json!(model.target);
        meta["clock_ghz"] = json!(model.clock_ghz);
        events.push(json!({
            "name": format!("launch {name}"), "cat": "launch", "ph": "X", "pid": 0, "tid": 0,
            "ts": offset_us, "dur": model.launch_us,
        }));
        let start_us = offset_us + model.launch_us;
        let clock_mhz = model.clock_ghz * 1e3;
        if let Some(timeline) = &model.timeline {
            let (trace, replay) = &**timeline;
            for (c, core) in trace.cores.iter().enumerate() {
                let pid = (k + 1) * 1000 + c;
                events.push(json!({
                    "name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                    "args": {"name": format!("{name}: {}", core.label)},
                }));
                events.push(json!({
                    "name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0,
                    "args": {"sort_index": pid},
                }));
                for pipe in PIPE_SLOTS {
                    if core.instrs.iter().any(|i| i.pipe == pipe) {
                        events.push(json!({
                            "name": "thread_name", "ph": "M", "pid": pid, "tid": pipe.slot(),
                            "args": {"name": pipe.lane()},
                        }));
                    }
                }
            }
            for span in &replay.spans {
                let core = &trace.cores[span.core as usize];
                let instr = &core.instrs[span.instr as usize];
                let mut args = json!({
                    "instr": span.instr,
                    "cycles": span.busy_end - span.start,
                    "end_us": start_us + (span.end / clock_mhz),
                });
                describe_args(&instr.op, &mut args);
                events.push(json!({
                    "name": super::trace::describe(trace, instr),
                    "cat": span.pipe.lane(),
                    "ph": "X",
                    "pid": (k + 1) * 1000 + span.core as usize,
                    "tid": span.pipe.slot(),
                    "ts": start_us + span.start / clock_mhz,
                    "dur": (span.busy_end - span.start) / clock_mhz,
                    "args": args,
                }));
            }
            let pid = |core: u32| (k + 1) * 1000 + core as usize;
            for (n, edge) in replay.edges.iter().enumerate() {
                let id = format!("{k}.{n}");
                for (point, phase) in [(&edge.set, "s"), (&edge.wait, "f")] {
                    let instr = &trace.cores[point.core as usize].instrs[point.instr as usize];
                    let ts = start_us + point.at / clock_mhz;
                    let (pid, tid) = (pid(point.core), point.pipe.slot());
                    events.push(json!({
                        "name": super::trace::describe(trace, instr), "cat": "sync", "ph": "X",
                        "pid": pid, "tid": tid, "ts": ts, "dur": 0.0,
                        "args": {"instr": point.instr},
                    }));
                    let mut flow = json!({
                        "name": "sync", "cat": "sync", "ph": phase, "id": id, "pid": pid, "tid": tid,
                        "ts": ts,
                    });
                    if phase == "f" {
                        flow["bp"] = json!("e");
                    }
                    events.push(flow);
                }
            }
        }
        offset_us += model.time_us;
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": meta,
    })
}

/// What the instruction's cost depends on, as event arguments.
fn describe_args(op: &Op, args: &mut Value) {
    match op {
        Op::Copy { gm: Some(gm), .. } | Op::Fixpipe { gm: Some(gm), .. } => {
            args["gm_bytes"] = json!(gm.bytes);
            args["bursts"] = json!(gm.bursts);
            args["burst_bytes"] = json!(gm.burst_bytes);
            args["gm_offset"] = json!(gm.offset);
        }
        Op::Copy { local_written, .. } => args["bytes"] = json!(local_written),
        Op::Vector {
            repeats,
            bytes,
            elem,
            ..
        } => {
            args["repeats"] = json!(repeats);
            args["bytes"] = json!(bytes);
            args["elem_bytes"] = json!(elem);
        }
        Op::Mmad { m, k, n, .. } => args["mkn"] = json!([m, k, n]),
        Op::SetFlag { event, id } | Op::WaitFlag { event, id } => {
            args["event"] = json!(format!("{}({id})", event_name(*event)));
        }
        _ => {}
    }
    if let Op::Fixpipe { m, n, .. } = op {
        args["mn"] = json!([m, n]);
    }
}
