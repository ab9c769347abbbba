//! Replays of hand-made traces against times worked out here from the parameter table and the
//! formulas of the module documentation (never from the replay's own output).

use super::trace::{CoreTrace, GmAccess, Instr, LaunchKind, Mem, Op, Pipe, PipeSlot, Trace};
use super::*;

/// HardEvent numbers (pipe.h's order).
const MTE2_V: u32 = 4;
const V_MTE3: u32 = 7;

fn p() -> Params {
    Params::for_target("ascend910b2").unwrap()
}

fn gm(region: u8, offset: u64, bytes: u64) -> GmAccess {
    GmAccess {
        region,
        offset,
        bursts: 1,
        burst_bytes: bytes as u32,
        stride: 0,
        bytes,
    }
}

fn copy_in(region: u8, offset: u64, bytes: u64) -> Instr {
    Instr {
        pipe: Pipe::Mte2,
        call: 1,
        op: Op::Copy {
            src: Some(Mem::Gm),
            dst: Some(Mem::Ub),
            gm: Some(gm(region, offset, bytes)),
            local_read: 0,
            local_written: bytes as u32,
        },
    }
}

fn copy_out(region: u8, offset: u64, bytes: u64) -> Instr {
    Instr {
        pipe: Pipe::Mte3,
        call: 2,
        op: Op::Copy {
            src: Some(Mem::Ub),
            dst: Some(Mem::Gm),
            gm: Some(gm(region, offset, bytes)),
            local_read: bytes as u32,
            local_written: 0,
        },
    }
}

fn add(bytes: u64) -> Instr {
    Instr {
        pipe: Pipe::V,
        call: 3,
        op: Op::Vector {
            repeats: 0,
            bytes,
            elem: 4,
            dst_elem: 4,
        },
    }
}

fn flag(set: bool, event: u32, pipe: Pipe) -> Instr {
    let op = if set {
        Op::SetFlag { event, id: 0 }
    } else {
        Op::WaitFlag { event, id: 0 }
    };
    Instr { pipe, call: 4, op }
}

fn trace(cores: Vec<Vec<Instr>>) -> Trace {
    Trace {
        names: [
            "?",
            "DataCopy(GM->local)",
            "DataCopy(local->GM)",
            "Add",
            "flag",
        ]
        .map(String::from)
        .to_vec(),
        kind: LaunchKind::Aiv,
        cores: cores
            .into_iter()
            .enumerate()
            .map(|(i, instrs)| CoreTrace {
                label: format!("AIV {i}"),
                instrs,
            })
            .collect(),
    }
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-6 * want.abs().max(1.0)
}

/// One tile of z = x + y: MTE2 x, MTE2 y, SetFlag/WaitFlag MTE2->V, Add, V->MTE3, MTE3 z.
fn tile(bytes: u64, at: u64) -> Vec<Instr> {
    vec![
        copy_in(0, at, bytes),
        copy_in(1, at, bytes),
        flag(true, MTE2_V, Pipe::Mte2),
        flag(false, MTE2_V, Pipe::V),
        add(bytes),
        flag(true, V_MTE3, Pipe::V),
        flag(false, V_MTE3, Pipe::Mte3),
        copy_out(2, at, bytes),
    ]
}

#[test]
fn one_tile_follows_the_flags_with_costs_from_the_table() {
    let p = p();
    let bytes = 8192u64;
    let r = replay(&trace(vec![tile(bytes, 0)]), &p).unwrap();
    // MTE2: x at 0 (head, then 8 KiB at the one-core cap), y right after x leaves the pipe.
    let x_busy = (bytes as f64 / p.gm_to_ub_cap).max(p.mte_head);
    let y_busy_end = 2.0 * x_busy;
    // The flag is released when y has completed (its GM latency); then V adds.
    let add_start = y_busy_end + p.gm_read_latency;
    let add_end = add_start + p.vec_head + (bytes / 256) as f64;
    // MTE3 waits for the add to complete, then writes at its cap and completes a latency later.
    let out_busy_end = add_end + (bytes as f64 / p.ub_to_gm_cap).max(p.mte_head);
    let end = out_busy_end + p.gm_write_latency;
    let spans: Vec<(Pipe, f64, f64)> = r
        .spans
        .iter()
        .map(|s| (s.pipe, s.start, s.busy_end))
        .collect();
    let want = [
        (Pipe::Mte2, 0.0, x_busy),
        (Pipe::Mte2, x_busy, y_busy_end),
        (Pipe::V, add_start, add_end),
        (Pipe::Mte3, add_end, out_busy_end),
    ];
    assert_eq!(spans.len(), want.len(), "{spans:?}");
    for (got, want) in spans.iter().zip(want) {
        assert_eq!(got.0, want.0);
        assert!(
            close(got.1, want.1) && close(got.2, want.2),
            "{got:?} vs {want:?}"
        );
    }
    assert!(close(r.cycles, end), "{} vs {end}", r.cycles);
    assert_eq!(
        (r.hbm_read, r.hbm_written, r.l2_read),
        (2 * bytes, bytes, 0)
    );
    // The two flags as edges: released when the copies (the add) completed, taken at once.
    let edges: Vec<(Pipe, u32, f64, Pipe, u32, f64)> = r
        .edges
        .iter()
        .map(|e| {
            (
                e.set.pipe,
                e.set.instr,
                e.set.at,
                e.wait.pipe,
                e.wait.instr,
                e.wait.at,
            )
        })
        .collect();
    assert_eq!(edges.len(), 2);
    let want = [
        (Pipe::Mte2, 2, add_start, Pipe::V, 3, add_start),
        (Pipe::V, 5, add_end, Pipe::Mte3, 6, add_end),
    ];
    for (got, want) in edges.iter().zip(want) {
        assert!(
            (got.0, got.1, got.3, got.4) == (want.0, want.1, want.3, want.4)
                && close(got.2, want.2)
                && close(got.5, want.5),
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn the_second_tiles_copy_in_overlaps_the_first_tiles_add() {
    // Two tiles with no flag from V back to MTE2: MTE2 runs ahead, so tile 1's copies start as soon
    // as tile 0's left the pipe, while V waits for its flag.
    let p = p();
    let bytes = 8192u64;
    let mut instrs = tile(bytes, 0);
    instrs.extend(tile(bytes, bytes));
    let r = replay(&trace(vec![instrs]), &p).unwrap();
    let x_busy = (bytes as f64 / p.gm_to_ub_cap).max(p.mte_head);
    let mte2: Vec<f64> = r
        .spans
        .iter()
        .filter(|s| s.pipe == Pipe::Mte2)
        .map(|s| s.start)
        .collect();
    assert_eq!(mte2.len(), 4);
    for (i, start) in mte2.iter().enumerate() {
        assert!(close(*start, i as f64 * x_busy), "{mte2:?}");
    }
    // Tile 1's add starts when its own flag is released: its y completes at 4 x_busy + latency.
    let adds: Vec<f64> = r
        .spans
        .iter()
        .filter(|s| s.pipe == Pipe::V)
        .map(|s| s.start)
        .collect();
    assert!(close(adds[1], 4.0 * x_busy + p.gm_read_latency), "{adds:?}");
}

#[test]
fn cores_copying_at_once_share_hbm() {
    // 48 cores each read 64 KiB at once: the fair share of HBM (below the one-core cap) sets the time.
    let p = p();
    let bytes = 65536u64;
    let cores: Vec<Vec<Instr>> = (0..48)
        .map(|c| vec![copy_in(0, c * bytes, bytes)])
        .collect();
    let r = replay(&trace(cores), &p).unwrap();
    let share = p.hbm_rate / 48.0;
    assert!(share < p.gm_to_ub_cap);
    let want = (bytes as f64 / share).max(p.mte_head) + p.gm_read_latency;
    assert!(close(r.cycles, want), "{} vs {want}", r.cycles);
    // One core alone runs at its cap.
    let alone = replay(&trace(vec![vec![copy_in(0, 0, bytes)]]), &p).unwrap();
    let want = (bytes as f64 / p.gm_to_ub_cap).max(p.mte_head) + p.gm_read_latency;
    assert!(close(alone.cycles, want), "{} vs {want}", alone.cycles);
}

#[test]
fn a_tensor_read_twice_costs_l2_the_second_time_only_when_it_fits() {
    let mut p = p();
    let bytes = 1u64 << 20;
    let twice = || trace(vec![vec![copy_in(0, 0, bytes), copy_in(0, 0, bytes)]]);
    let r = replay(&twice(), &p).unwrap();
    assert_eq!((r.hbm_read, r.l2_read), (bytes, bytes));
    // The second read runs at the core's L2 cap.
    let second = r.spans[1].busy_end - r.spans[1].start;
    assert!(
        close(second, (bytes as f64 / p.l2_to_ub_cap).max(p.mte_head)),
        "{second}"
    );
    // An L2 smaller than the tensor: both reads go to HBM.
    p.l2_bytes = bytes / 2;
    let r = replay(&twice(), &p).unwrap();
    assert_eq!((r.hbm_read, r.l2_read), (2 * bytes, 0));
}

#[test]
fn a_wait_never_signalled_is_a_deadlock_naming_core_pipe_and_instruction() {
    let p = p();
    let instrs = vec![flag(false, MTE2_V, Pipe::V), add(256)];
    let err = replay(&trace(vec![vec![copy_in(0, 0, 256)], instrs]), &p).unwrap_err();
    assert_eq!(
        err,
        ModelError::Deadlock {
            core: "AIV 1".to_string(),
            pipe: "V",
            index: 0,
            instr: "WaitFlag<MTE2_V>(0)".to_string(),
        }
    );
    assert!(err
        .to_string()
        .contains("deadlock on core AIV 1, pipe V: instruction 0 (WaitFlag<MTE2_V>(0))"));
}

#[test]
fn more_blocks_than_cores_run_in_waves() {
    // 96 one-copy blocks on 48 vector cores: two waves, the second starting when the first ends.
    let p = p();
    let bytes = 4096u64;
    let cores: Vec<Vec<Instr>> = (0..96)
        .map(|c| vec![copy_in(0, c * bytes, bytes)])
        .collect();
    let r = replay(&trace(cores), &p).unwrap();
    let rate = p.gm_to_ub_cap.min(p.hbm_rate / 48.0);
    let wave = (bytes as f64 / rate).max(p.mte_head) + p.gm_read_latency;
    assert!(
        close(r.cycles, 2.0 * wave),
        "{} vs {}",
        r.cycles,
        2.0 * wave
    );
}

#[test]
fn pipe_busy_and_resource_times_are_per_physical_core_across_waves() {
    // 96 blocks of one Add each on 48 vector cores: two waves. Each physical core runs two blocks,
    // so its vector pipe is busy twice as long as one block's, and the vector resource needs twice
    // the time of a one-wave launch of 48 blocks (per block it would be the same).
    let p = p();
    let bytes = 65536u64;
    let one = model(
        trace((0..48).map(|_| vec![add(bytes)]).collect()),
        &p,
        false,
    )
    .unwrap();
    let two = model(
        trace((0..96).map(|_| vec![add(bytes)]).collect()),
        &p,
        false,
    )
    .unwrap();
    let vector = |m: &KernelModel| {
        m.resources
            .iter()
            .find(|(b, _)| *b == Bound::Vector)
            .map(|r| r.1)
            .unwrap()
    };
    assert!(vector(&one) > 0.0);
    assert!(
        close(vector(&two), 2.0 * vector(&one)),
        "{} vs {}",
        vector(&two),
        vector(&one)
    );
    // Every physical core ran one block of each wave.
    let r = replay(&trace((0..96).map(|_| vec![add(bytes)]).collect()), &p).unwrap();
    let mut seen = r.physical.clone();
    seen.sort_unstable();
    let want: Vec<u32> = (0..48).flat_map(|c| [c, c]).collect();
    assert_eq!(seen, want);
    // The busy fraction: two blocks' vector time over the whole launch, not one block's.
    let v = Pipe::V.slot();
    let per_core = r.busy_per_physical_core();
    assert_eq!(per_core.len(), 48);
    assert!(close(per_core[0][v], r.busy[0][v] + r.busy[48][v]));
    assert!(close(two.busy[v].max, per_core[0][v] / r.cycles));
    assert!(two.busy[v].mean > 0.9, "{}", two.busy[v].mean);
}

#[test]
fn flops_count_the_issued_mmads_only() {
    let p = p();
    // A vector kernel issues lanes, not flops: 0 TFLOPS however many cores run it.
    let vector = model(
        trace((0..48).map(|_| vec![add(65536)]).collect()),
        &p,
        false,
    )
    .unwrap();
    assert_eq!(vector.flops, 0.0);
    assert_eq!(vector.tflops(), 0.0);
    // Two Mmads of 128 x 64 x 256 on each of two cores: 4 · 2·128·64·256 flops.
    let mmad = |m, k, n| instr(Pipe::M, Op::Mmad { m, k, n, elem: 2 });
    let mut t = trace(vec![
        vec![mmad(128, 64, 256), mmad(128, 64, 256)],
        vec![mmad(128, 64, 256), mmad(128, 64, 256)],
    ]);
    t.kind = LaunchKind::Aic;
    let cube = model(t, &p, false).unwrap();
    assert_eq!(cube.flops, 4.0 * 2.0 * 128.0 * 64.0 * 256.0);
    assert!(close(
        cube.tflops(),
        cube.flops / (cube.time_us * 1e-6) / 1e12
    ));
}

#[test]
fn the_summary_names_the_bound_and_labels_the_rates() {
    let p = p();
    let bytes = 65536u64;
    let cores: Vec<Vec<Instr>> = (0..48).map(|c| tile(bytes, c * bytes)).collect();
    let m = model(trace(cores), &p, false).unwrap();
    assert_eq!(m.bound, Bound::Hbm);
    assert_eq!(m.hbm_bytes_read, 48 * 2 * bytes);
    assert_eq!(m.hbm_bytes_written, 48 * bytes);
    assert!(m.busy[Pipe::Mte2.slot()].mean > m.busy[Pipe::V.slot()].mean);
    let want = (48 * 3 * bytes) as f64 / (m.time_us * 1e-6) / 1e12;
    assert!(close(m.tb_per_s(), want));
    assert!(m.timeline.is_none());
}

fn instr(pipe: Pipe, op: Op) -> Instr {
    Instr { pipe, call: 4, op }
}

#[test]
fn a_cross_core_wait_lasts_until_the_set_plus_the_cross_core_latency() {
    // Core 0 copies, then sets cross-core flag 3 from MTE2 (set number 1); core 1 waits for set 1 on V,
    // then adds.
    let p = p();
    let bytes = 4096u64;
    let setter = vec![
        copy_in(0, 0, bytes),
        instr(
            Pipe::Mte2,
            Op::CrossSet {
                flag: 3,
                mode: 0,
                seq: 1,
            },
        ),
    ];
    let waiter = vec![instr(Pipe::V, Op::CrossWait { flag: 3, seq: 1 }), add(256)];
    let mut t = trace(vec![setter, waiter]);
    t.kind = LaunchKind::Aiv;
    let r = replay(&t, &p).unwrap();
    // The set is released when the copy has completed (its GM latency), the wait a latency later.
    let copy_done = (bytes as f64 / p.gm_to_ub_cap).max(p.mte_head) + p.gm_read_latency;
    let add = r.spans.iter().find(|s| s.pipe == Pipe::V).unwrap();
    assert!(
        close(add.start, copy_done + p.cross_core_latency),
        "{}",
        add.start
    );
    // A wait for a set nobody makes is a deadlock on the waiting core.
    let t = trace(vec![vec![instr(
        Pipe::V,
        Op::CrossWait { flag: 3, seq: 9 },
    )]]);
    assert!(matches!(
        replay(&t, &p),
        Err(ModelError::Deadlock { index: 0, .. })
    ));
}

#[test]
fn sync_all_releases_every_core_after_the_last_arrival() {
    // Two cores: core 0 copies 64 KiB before the SyncAll, core 1 nothing; both add after it.
    let p = p();
    let bytes = 65536u64;
    let sync = || {
        instr(
            Pipe::S,
            Op::SyncAll {
                barrier: 0,
                instance: 0,
                cores: 2,
            },
        )
    };
    let r = replay(
        &trace(vec![
            vec![copy_in(0, 0, bytes), sync(), add(256)],
            vec![sync(), add(256)],
        ]),
        &p,
    )
    .unwrap();
    // Core 0 arrives when its copy has completed (SyncAll drains the pipes first).
    let arrival = (bytes as f64 / p.gm_to_ub_cap).max(p.mte_head) + p.gm_read_latency;
    let release = arrival + p.sync_all;
    let adds: Vec<f64> = r
        .spans
        .iter()
        .filter(|s| s.pipe == Pipe::V)
        .map(|s| s.start)
        .collect();
    assert_eq!(adds.len(), 2);
    for start in adds {
        // The add is issued one cycle after the SyncAll goes on.
        assert!(close(start, release + p.issue), "{start} vs {release}");
    }
    // A SyncAll that only one of its two cores reaches never completes.
    let err = replay(&trace(vec![vec![sync()], vec![add(256)]]), &p).unwrap_err();
    assert!(matches!(err, ModelError::Deadlock { .. }), "{err}");
}

#[test]
fn a_full_queue_stalls_the_issue_of_every_pipe() {
    // 40 copies fill MTE2's queue (32 waiting at most): copy j is issued only once copy j - 32 has
    // started, so the last (39) waits for copy 7 to start, when copy 6 leaves the pipe at 7 copy
    // times; the add after it is issued one cycle later.
    let p = p();
    let bytes = 512u64;
    let mut instrs: Vec<Instr> = (0..40).map(|i| copy_in(0, i * bytes, bytes)).collect();
    instrs.push(add(256));
    let r = replay(&trace(vec![instrs]), &p).unwrap();
    let copy = (bytes as f64 / p.gm_to_ub_cap).max(p.mte_head);
    let add = r.spans.iter().find(|s| s.pipe == Pipe::V).unwrap();
    let want = 7.0 * copy + p.issue;
    assert!(close(add.start, want), "{} vs {want}", add.start);
}
