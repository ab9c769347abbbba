//! The emulator's instruction trace and its replay on the timing model, on hand-written kernels whose
//! schedule can be worked out by hand: expected times come from the parameter table and the formulas of
//! `moge_runtime::model` (module docs), never from the replay's output.

use moge_runtime::emulator::{launch_raw, CheckMode, CoreType, RawLaunch, RawReport};
use moge_runtime::model::chrome::chrome_trace;
use moge_runtime::model::trace::{Mem, Op, Pipe, PipeSlot, Trace};
use moge_runtime::model::{model, Params};

const ADD_CUSTOM: &str = include_str!("kernels/add_custom.cpp");

mod common;
use common::*;

/// add_custom on one core: `tiles` tiles of `tile` floats.
fn traced_add(tiles: u32, tile: u32) -> RawReport {
    let total = tiles * tile;
    let x: Vec<f32> = (0..total).map(|i| i as f32).collect();
    let y: Vec<f32> = (0..total).map(|i| 0.5 * i as f32).collect();
    let report = launch_raw(RawLaunch {
        source: ADD_CUSTOM,
        kernel: "add_custom",
        block_dim: 1,
        core_type: CoreType::Aiv,
        check: CheckMode {
            trace: true,
            ..CheckMode::FULL
        },
        args: vec![
            input("x", f32_bytes(&x)),
            input("y", f32_bytes(&y)),
            output("z", total as usize * 4),
        ],
        workspace_bytes: 0,
        tiling: u32_bytes(&[total, total, tile, 0]),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let z = bytes_f32(&report.args[2].bytes);
    assert!(z.iter().enumerate().all(|(i, &v)| v == 1.5 * i as f32));
    report
}

/// The instruction kinds of a core, as `pipe:what` strings.
fn shape(trace: &Trace, core: usize) -> Vec<String> {
    trace.cores[core]
        .instrs
        .iter()
        .map(|i| {
            let what = match &i.op {
                Op::Copy { src, dst, .. } => format!("copy {src:?}->{dst:?}"),
                Op::Vector { .. } => trace.name(i).to_string(),
                Op::QueueSet { back, .. } => if *back { "free" } else { "enque" }.to_string(),
                Op::QueueWait { back, .. } => if *back { "alloc" } else { "deque" }.to_string(),
                other => format!("{other:?}"),
            };
            format!("{}:{what}", i.pipe)
        })
        .collect()
}

#[test]
fn the_trace_of_a_two_tile_add_has_its_copies_adds_and_queue_edges_in_program_order() {
    let report = traced_add(2, 1024);
    let trace = report.trace.expect("a trace was asked for");
    assert_eq!(trace.cores.len(), 1);
    assert_eq!(trace.cores[0].label, "AIV 0");
    let copy_in = "MTE2:copy Some(Gm)->Some(Ub)";
    let copy_out = "MTE3:copy Some(Ub)->Some(Gm)";
    let want = [
        // CopyIn(0), CopyIn(1): both tiles' buffers are fresh (no wait for a hand-back).
        copy_in,
        copy_in,
        "MTE2:enque",
        "MTE2:enque",
        copy_in,
        copy_in,
        "MTE2:enque",
        "MTE2:enque",
        // Compute(0), CopyOut(0).
        "V:deque",
        "V:deque",
        "V:Add",
        "V:enque",
        "V:free",
        "V:free",
        "MTE3:deque",
        copy_out,
        "MTE3:free",
        // Compute(1), CopyOut(1).
        "V:deque",
        "V:deque",
        "V:Add",
        "V:enque",
        "V:free",
        "V:free",
        "MTE3:deque",
        copy_out,
        "MTE3:free",
    ];
    assert_eq!(shape(&trace, 0), want);
    // The second tile of y: 4 KiB at byte 4096 of argument 1, one burst.
    let Op::Copy {
        gm: Some(gm),
        local_written,
        ..
    } = &trace.cores[0].instrs[5].op
    else {
        panic!("instruction 5 is not a copy in");
    };
    assert_eq!(
        (gm.region, gm.offset, gm.bytes, gm.bursts),
        (1, 4096, 4096, 1)
    );
    assert_eq!(*local_written, 4096);
    let Op::Vector { bytes, elem, .. } = &trace.cores[0].instrs[10].op else {
        panic!("instruction 10 is not the add");
    };
    assert_eq!((*bytes, *elem), (4096, 4));
}

#[test]
fn without_the_trace_bit_nothing_is_recorded() {
    let report = launch_raw(RawLaunch {
        source: ADD_CUSTOM,
        kernel: "add_custom",
        block_dim: 1,
        core_type: CoreType::Aiv,
        check: CheckMode::FULL,
        args: vec![
            input("x", f32_bytes(&[1.0; 64])),
            input("y", f32_bytes(&[2.0; 64])),
            output("z", 256),
        ],
        workspace_bytes: 0,
        tiling: u32_bytes(&[64, 64, 64, 0]),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(report.trace.is_none());
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-6 * want.abs().max(1.0)
}

#[test]
fn the_modeled_timeline_of_a_two_tile_add_is_the_schedule_worked_out_by_hand() {
    let report = traced_add(2, 1024);
    let p = Params::for_target("ascend910b2").unwrap();
    let m = model(report.trace.unwrap(), &p, true).unwrap();
    let bytes = 4096.0;
    // MTE2 copies x0, y0, x1, y1 back to back, each 4 KiB at the one-core cap (at least the head, the
    // minimum interval between copies).
    let copy = (bytes / p.gm_to_ub_cap).max(p.mte_head);
    // Tile t's EnQue releases the data when every earlier MTE2 copy has completed: after y_t's latency.
    let ready = |t: f64| (2.0 * t + 2.0) * copy + p.gm_read_latency;
    let add = p.vec_head + bytes / 256.0;
    let out = (bytes / p.ub_to_gm_cap).max(p.mte_head);
    // V adds tile t when its data is ready; MTE3 writes it when the add is done (V's EnQue of z).
    let add0 = ready(0.0);
    let add1 = ready(1.0).max(add0 + add);
    let out0 = add0 + add;
    let out1 = (add1 + add).max(out0 + out);
    let want = [
        (Pipe::Mte2, 0.0, copy),
        (Pipe::Mte2, copy, 2.0 * copy),
        (Pipe::Mte2, 2.0 * copy, 3.0 * copy),
        (Pipe::Mte2, 3.0 * copy, 4.0 * copy),
        (Pipe::V, add0, add0 + add),
        (Pipe::Mte3, out0, out0 + out),
        (Pipe::V, add1, add1 + add),
        (Pipe::Mte3, out1, out1 + out),
    ];
    let (trace, replay) = &**m.timeline.as_ref().unwrap();
    let mut spans: Vec<(Pipe, f64, f64)> = replay
        .spans
        .iter()
        .map(|s| (s.pipe, s.start, s.busy_end))
        .collect();
    spans.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(spans.len(), want.len(), "{spans:?}");
    for (got, want) in spans.iter().zip(want) {
        assert!(
            got.0 == want.0 && close(got.1, want.1) && close(got.2, want.2),
            "{got:?} vs {want:?}"
        );
    }
    let end = out1 + out + p.gm_write_latency;
    assert!(
        close(m.time_us, p.launch_us + end / (p.clock_ghz * 1e3)),
        "{}",
        m.time_us
    );
    assert_eq!((m.hbm_bytes_read, m.hbm_bytes_written), (2 * 8192, 8192));

    // The Chrome trace: one process for the core, a lane per pipe used, an X event per instruction at
    // the times above (in microseconds, after the launch).
    let json = chrome_trace(&[("add_custom", &m)]);
    let text = serde_json::to_string(&json).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed["otherData"]["modeled"], true);
    let events = parsed["traceEvents"].as_array().unwrap();
    let lanes: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(lanes, ["VECTOR", "MTE2", "MTE3"]);
    let core = events
        .iter()
        .find(|e| e["ph"] == "M" && e["name"] == "process_name" && e["pid"] == 1000)
        .unwrap();
    assert_eq!(core["args"]["name"], "add_custom: AIV 0");
    let us = |cycles: f64| p.launch_us + cycles / (p.clock_ghz * 1e3);
    let mut slices: Vec<(&str, f64, f64)> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["pid"] == 1000 && e["cat"] != "sync")
        .map(|e| {
            (
                e["cat"].as_str().unwrap(),
                e["ts"].as_f64().unwrap(),
                e["dur"].as_f64().unwrap(),
            )
        })
        .collect();
    slices.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(slices.len(), want.len());
    for (got, want) in slices.iter().zip(want) {
        assert_eq!(got.0, want.0.lane());
        assert!(
            close(got.1, us(want.1)) && close(got.2, us(want.2) - us(want.1)),
            "{got:?}"
        );
    }
    // The queue hand-offs as flows: EnQue -> DeQue of x and y of both tiles (MTE2 -> V) and of z
    // (V -> MTE3); no buffer is allocated twice, so no FreeTensor -> AllocTensor.
    let flows: Vec<(&str, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "s" || e["ph"] == "f")
        .map(|e| (e["ph"].as_str().unwrap(), e["tid"].as_u64().unwrap()))
        .collect();
    let mte2 = Pipe::Mte2.slot() as u64;
    let (v, mte3) = (Pipe::V.slot() as u64, Pipe::Mte3.slot() as u64);
    let mut want_flows: Vec<(&str, u64)> = [[("s", mte2), ("f", v)]; 4]
        .concat()
        .into_iter()
        .chain([[("s", v), ("f", mte3)]; 2].concat())
        .collect();
    let mut got = flows.clone();
    got.sort();
    want_flows.sort();
    assert_eq!(got, want_flows);
    assert_eq!(trace.cores[0].instrs.len(), 26);
    assert!(matches!(
        trace.cores[0].instrs[0].op,
        Op::Copy {
            dst: Some(Mem::Ub),
            ..
        }
    ));
}

const RACES: &str = include_str!("kernels/races.cpp");

/// A MIX kernel of races.cpp on 2 blocks (AIC u = core 3u, AIVs 3u+1 and 3u+2), traced.
fn traced_mix(kernel: &str, mask: u32) -> Trace {
    launch_raw(RawLaunch {
        source: RACES,
        kernel,
        block_dim: 2,
        core_type: CoreType::MixAic1_2,
        check: CheckMode {
            trace: true,
            ..CheckMode::FULL
        },
        args: vec![output("y", (64 + 16 * 2) * 4 * 2)],
        workspace_bytes: 0,
        tiling: u32_bytes(&[mask]),
    })
    .unwrap_or_else(|e| panic!("{e}"))
    .trace
    .expect("a trace was asked for")
}

#[test]
fn each_cross_core_wait_names_the_sets_it_consumed() {
    let trace = traced_mix("cross_core_modes", 0);
    assert_eq!(trace.cores.len(), 6);
    // Every set: its number -> (core, flag).
    let mut sets = std::collections::BTreeMap::new();
    for (c, core) in trace.cores.iter().enumerate() {
        for i in &core.instrs {
            if let Op::CrossSet { flag, seq, .. } = i.op {
                assert!(sets.insert(seq, (c, flag)).is_none(), "set {seq} twice");
            }
        }
    }
    let waits = |c: usize, want_flag: u32| -> Vec<usize> {
        let mut setters: Vec<usize> = trace.cores[c]
            .instrs
            .iter()
            .filter_map(|i| match i.op {
                Op::CrossWait { flag, seq } if flag == want_flag => {
                    let (setter, set_flag) = sets[&seq];
                    assert_eq!(set_flag, flag);
                    Some(setter)
                }
                _ => None,
            })
            .collect();
        setters.sort();
        setters
    };
    for u in 0..2 {
        // Mode 2 towards the AIC: one wait consumes the sets of both its AIVs.
        assert_eq!(waits(3 * u, 2), [3 * u + 1, 3 * u + 2]);
        for s in 1..3 {
            // Mode 1: each AIV's wait consumes the sets of both AIVs of its AI core.
            assert_eq!(waits(3 * u + s, 1), [3 * u + 1, 3 * u + 2]);
            // Mode 0: every AIV's wait consumes the sets of every AIV.
            assert_eq!(waits(3 * u + s, 4), [1, 2, 4, 5]);
        }
    }
    // The replay orders them and ends.
    let p = Params::for_target("ascend910b2").unwrap();
    let m = model(trace, &p, false).unwrap();
    assert!(m.time_us > p.launch_us);
}

#[test]
fn sync_all_instances_count_the_cores_that_take_part() {
    let trace = traced_mix("mix_sync_all", 1);
    let syncs: Vec<(usize, u32, u32, u32)> = trace
        .cores
        .iter()
        .enumerate()
        .flat_map(|(c, core)| {
            core.instrs.iter().filter_map(move |i| match i.op {
                Op::SyncAll {
                    barrier,
                    instance,
                    cores,
                } => Some((c, barrier, instance, cores)),
                _ => None,
            })
        })
        .collect();
    // AICs: the AIC barrier (2 cores) then the full one (6); AIVs: the AIV barrier (4) then the full one.
    for (c, core_syncs) in (0..6).map(|c| (c, syncs.iter().filter(move |s| s.0 == c))) {
        let kinds: Vec<(u32, u32, u32)> = core_syncs.map(|s| (s.1, s.2, s.3)).collect();
        let own = if c % 3 == 0 { (2, 0, 2) } else { (1, 0, 4) };
        assert_eq!(kinds, [own, (0, 0, 6)], "core {c}");
    }
    let p = Params::for_target("ascend910b2").unwrap();
    assert!(model(trace, &p, false).is_ok());
}

/// The trace records what an instruction's cost depends on whatever else is checked: a softmax's
/// `WholeReduceMax`/`WholeReduceSum` and `Brcb` give the same records, and so the same modeled time,
/// with the race checks off (`MOGE_EMU_CHECK=off` plus the trace) as with them on.
#[test]
fn the_trace_does_not_depend_on_the_checking_mode() {
    const SOFTMAX_ROWS: &str = include_str!("kernels/softmax_rows.cpp");
    let (rows, cols) = (50usize, 37usize);
    let x: Vec<f32> = (0..rows * cols).map(|i| (i % 11) as f32 * 0.5).collect();
    let traced = |races: bool| {
        launch_raw(RawLaunch {
            source: SOFTMAX_ROWS,
            kernel: "softmax_rows",
            block_dim: 4,
            core_type: CoreType::Aiv,
            check: CheckMode {
                races,
                v_barrier: races,
                trace: true,
                timing_only: false,
            },
            args: vec![input("x", f32_bytes(&x)), output("y", rows * cols * 4)],
            workspace_bytes: 0,
            tiling: u32_bytes(&[rows as u32, cols as u32, 13, 8]),
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .trace
        .expect("traced")
    };
    let (on, off) = (traced(true), traced(false));
    assert_eq!(on, off, "the same records with and without the race checks");
    let params = Params::for_target("ascend910b2").expect("a target");
    let time = |t: Trace| model(t, &params, false).expect("replays").time_us;
    assert_eq!(time(on), time(off));
}
