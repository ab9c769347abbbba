//! Tests of MIX kernels (one AIC and two AIVs per block), cross-core flags and the checking mode's race
//! detector, with hand-written kernels (runtime/tests/kernels/races.cpp): every kernel runs with and
//! without one sync; the numbers agree, only the checking mode tells them apart.

mod common;
use common::*;

use moge_runtime::emulator::{
    launch_raw, CheckMode, CoreType, EmuError, GmArg, RawLaunch, RawReport,
};

/// Races checked, the PipeBarrier<PIPE_V> rule off.
const NO_V_BARRIER: CheckMode = CheckMode {
    races: true,
    v_barrier: false,
    trace: false,
    timing_only: false,
};

/// Runs `kernel` of races.cpp as MIX_AIC_1_2 on `block_dim` blocks with every check, its one GM output `out`
/// and tiling `[mask]`; returns `out` as i32s.
fn mix_i32(kernel: &str, block_dim: u32, out: GmArg, mask: u32) -> Result<Vec<i32>, EmuError> {
    let report = launch_raw(RawLaunch {
        source: RACES,
        kernel,
        block_dim,
        core_type: CoreType::MixAic1_2,
        check: CheckMode::FULL,
        args: vec![out],
        workspace_bytes: 0,
        tiling: u32_bytes(&[mask]),
    })?;
    Ok(bytes_i32(&report.args[0].bytes))
}

fn mix_launch(signal: u32) -> Result<Vec<i32>, EmuError> {
    mix_i32("mix_handoff", 2, output("out", 64 * 4), signal)
}

#[test]
fn a_mix_kernel_runs_one_aic_and_two_aivs_per_block_with_cross_core_flags() {
    let out = mix_launch(1).unwrap_or_else(|e| panic!("{e}"));
    // AICs 0 and 1 write at 0 and 8; AIVs (GetBlockIdx 0..3 = 2u + sub) at 16 + 8 * idx.
    assert_eq!(out[0], 100);
    assert_eq!(out[8], 101);
    for idx in 0..4 {
        let sub = idx % 2;
        assert_eq!(
            out[16 + 8 * idx],
            (idx * 10 + sub + 2000) as i32,
            "AIV {idx}"
        );
    }
}

#[test]
fn a_cross_core_wait_that_is_never_signalled_is_a_reported_deadlock() {
    let text = mix_launch(0).unwrap_err().to_string();
    assert!(
        text.contains(
            "core AIV 0.0, CrossCoreWaitFlag: deadlock: CrossCoreWaitFlag(3) on AIV 0.0 waits"
        ),
        "{text}"
    );
}

const RACES: &str = include_str!("kernels/races.cpp");

fn race_launch(
    kernel: &str,
    block_dim: u32,
    core_type: CoreType,
    mask: u32,
    check: CheckMode,
) -> Result<RawReport, EmuError> {
    let x: Vec<f32> = (0..64).map(|i| i as f32 * 0.5 - 3.0).collect();
    let args = if core_type == CoreType::MixAic1_2 {
        vec![output("y", 32 * 4)]
    } else {
        vec![input("x", f32_bytes(&x)), output("y", 64 * 4 * 8)]
    };
    launch_raw(RawLaunch {
        source: RACES,
        kernel,
        block_dim,
        core_type,
        check,
        args,
        workspace_bytes: 0,
        tiling: u32_bytes(&[mask]),
    })
}

#[test]
fn vector_kernel_with_every_flag_and_barrier_is_clean_and_right() {
    let report = race_launch("vector_flags", 1, CoreType::Aiv, 7, CheckMode::FULL)
        .unwrap_or_else(|e| panic!("{e}"));
    let y = bytes_f32(&report.args[1].bytes);
    for (i, value) in y.iter().take(64).enumerate() {
        let x = f64::from(i as f32 * 0.5 - 3.0);
        assert_eq!(f64::from(*value), x * 2.0 + 1.0, "element {i}");
    }
}

#[test]
fn each_missing_vector_sync_is_reported_as_a_race() {
    let cases = [
        (
            7 & !1,
            "V instruction #1 `Muls` reads what MTE2 instruction #1 `DataCopy(GM->local)` wrote",
        ),
        (
            7 & !2,
            "MTE3 instruction #1 `DataCopy(local->GM)` reads what V instruction #2 `Adds` wrote",
        ),
        (
            7 & !4,
            "V instruction #2 `Adds` overwrites what V instruction #1 `Muls` wrote, and nothing orders them \
             (needs PipeBarrier<PIPE_V>)",
        ),
    ];
    for (mask, expected) in cases {
        // Sequentially every variant computes the same numbers.
        let quiet = race_launch("vector_flags", 1, CoreType::Aiv, mask, CheckMode::OFF)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            bytes_f32(&quiet.args[1].bytes)[3],
            (3.0f32 * 0.5 - 3.0) * 2.0 + 1.0
        );
        let text = race_launch("vector_flags", 1, CoreType::Aiv, mask, CheckMode::FULL)
            .unwrap_err()
            .to_string();
        assert!(
            text.starts_with("kernel `vector_flags`, core AIV 0, ") && text.contains(expected),
            "mask {mask}: {text}"
        );
    }
    // The V->V rule can be switched off on its own.
    race_launch("vector_flags", 1, CoreType::Aiv, 7 & !4, NO_V_BARRIER)
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_gm_hand_off_between_cores_needs_sync_all() {
    let report = race_launch("sync_all_handoff", 4, CoreType::Aiv, 1, CheckMode::FULL)
        .unwrap_or_else(|e| panic!("{e}"));
    let y = bytes_f32(&report.args[1].bytes);
    for core in 0..4 {
        for i in 0..8 {
            assert_eq!(
                y[8 * (core + 1) + i],
                i as f32 * 0.5 - 3.0,
                "core {core} element {i}"
            );
        }
    }
    let text = race_launch("sync_all_handoff", 4, CoreType::Aiv, 0, CheckMode::FULL)
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("data race on GM argument 'y' bytes 0..32")
            && text.contains("needs CrossCoreSetFlag/CrossCoreWaitFlag or SyncAll"),
        "{text}"
    );
}

#[test]
fn an_aic_to_aiv_hand_off_needs_the_cross_core_flag() {
    let report = race_launch(
        "cross_core_handoff",
        2,
        CoreType::MixAic1_2,
        1,
        CheckMode::FULL,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let y = bytes_i32(&report.args[0].bytes);
    assert_eq!(
        [y[0], y[4], y[8], y[16], y[20], y[24]],
        [42, 43, 43, 43, 44, 44]
    );
    let text = race_launch(
        "cross_core_handoff",
        2,
        CoreType::MixAic1_2,
        0,
        CheckMode::FULL,
    )
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("data race on GM argument 'y' bytes 0..4")
            && text.contains("`GlobalTensor::SetValue`")
            && text.contains("on core AI")
            && text.contains("needs CrossCoreSetFlag/CrossCoreWaitFlag or SyncAll"),
        "{text}"
    );
}

#[test]
fn per_core_stats_count_gm_traffic_of_every_core() {
    let report = race_launch("sync_all_handoff", 3, CoreType::Aiv, 1, CheckMode::FULL)
        .unwrap_or_else(|e| panic!("{e}"));
    let labels: Vec<&str> = report.cores.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["AIV 0", "AIV 1", "AIV 2"]);
    // Core 0: reads x (32 B) and y (32 B), writes y twice (64 B); the others read and write 32 B.
    let traffic: Vec<(u64, u64)> = report
        .cores
        .iter()
        .map(|c| (c.gm_bytes_read, c.gm_bytes_written))
        .collect();
    assert_eq!(traffic, [(64, 64), (32, 32), (32, 32)]);
    assert_eq!((report.gm_bytes_read, report.gm_bytes_written), (128, 128));
}

fn cross_core_modes(mask: u32) -> Result<Vec<i32>, EmuError> {
    mix_i32("cross_core_modes", 3, output("y", 3 * 64 * 4), mask)
}

#[test]
fn cross_core_flags_of_every_mode_order_the_cores_they_name() {
    let y = cross_core_modes(0).unwrap_or_else(|e| panic!("{e}"));
    // AIV v (GetBlockIdx 0..5) wrote 10 v + 1; the total over all AIVs is 10 * 15 + 6 = 156.
    for u in 0..3 {
        let first = |s: usize| (10 * (2 * u + s) + 1) as i32;
        assert_eq!(
            y[64 * u],
            first(0) + first(1),
            "AIC {u} sums its AIVs (mode 2)"
        );
        assert_eq!(
            y[64 * u + 3],
            first(1),
            "AIV {u}.0 reads its sibling (mode 1)"
        );
        assert_eq!(
            y[64 * u + 4],
            first(0),
            "AIV {u}.1 reads its sibling (mode 1)"
        );
        assert_eq!(
            (y[64 * u + 5], y[64 * u + 6]),
            (156, 156),
            "mode 0 over all AIVs"
        );
    }
}

#[test]
fn an_aic_waiting_for_both_aivs_deadlocks_when_one_never_sets() {
    let text = cross_core_modes(2).unwrap_err().to_string();
    assert!(
        text.contains(
            "core AIC 0, CrossCoreWaitFlag: deadlock: CrossCoreWaitFlag(2) on AIC 0 waits for a CrossCoreSetFlag"
        ),
        "{text}"
    );
}

/// Mode 2 towards the AIC needs a set from each AIV (CANN: "两个AIV都执行CrossCoreSetFlag后"): two sets of one
/// AIV do not release the AIC.
#[test]
fn two_sets_of_one_aiv_do_not_stand_in_for_its_sibling() {
    let text = cross_core_modes(2 | 4).unwrap_err().to_string();
    assert!(
        text.contains(
            "core AIC 0, CrossCoreWaitFlag: deadlock: CrossCoreWaitFlag(2) on AIC 0 waits for a CrossCoreSetFlag"
        ),
        "{text}"
    );
}

fn mix_sync_all(mask: u32) -> Result<Vec<i32>, EmuError> {
    mix_i32("mix_sync_all", 2, output("y", (64 + 32) * 4), mask)
}

#[test]
fn sync_all_in_a_mix_kernel_synchronizes_one_core_type_or_every_core() {
    let y = mix_sync_all(1).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        [y[0], y[1], y[8], y[9]],
        [100, 101, 101, 100],
        "the AIC barrier"
    );
    for v in 0..4 {
        assert_eq!(y[64 + 8 * v], v as i32);
        assert_eq!(
            y[64 + 8 * v + 1],
            ((v + 1) % 4) as i32,
            "AIV {v} after the AIV barrier"
        );
        assert_eq!(
            y[64 + 8 * v + 2],
            [101, 100][v / 2],
            "AIV {v} after the full barrier"
        );
    }
    let text = mix_sync_all(0).unwrap_err().to_string();
    assert!(
        text.contains("data race on GM argument 'y'")
            && text.contains("needs CrossCoreSetFlag/CrossCoreWaitFlag or SyncAll"),
        "{text}"
    );
}

#[test]
fn the_emulator_backend_runs_mix_kernels_and_reports_each_core() {
    use moge_runtime::backend::{Backend, DeviceArg, DeviceLaunch, EmulatorBackend, KernelSource};
    let run = EmulatorBackend::default()
        .launch(DeviceLaunch {
            kernel: KernelSource {
                name: "mix_handoff",
                source: RACES,
                core_type: moge_codegen_ascendc::manifest::CoreType::MixAic1_2,
                target: "ascend910b2",
            },
            block_dim: 2,
            args: vec![DeviceArg {
                name: "out".to_string(),
                bytes: vec![0; 64 * 4],
                is_output: true,
            }],
            workspace_bytes: 0,
            tiling: u32_bytes(&[1]),
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let out = bytes_i32(&run.args[0].bytes);
    assert_eq!((out[0], out[8]), (100, 101));
    let labels: Vec<&str> = run.cores.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(
        labels,
        ["AIC 0", "AIV 0.0", "AIV 0.1", "AIC 1", "AIV 1.0", "AIV 1.1"]
    );
    // Every core wrote one int32; the AIVs' waits need no GM.
    assert!(run.cores.iter().all(|c| c.gm_bytes_written == 4));
}

fn mix_faults(mask: u32, block_dim: u32) -> Result<Vec<i32>, EmuError> {
    mix_i32(
        "mix_faults",
        block_dim,
        output("y", 64 * 4 * block_dim as usize),
        mask,
    )
}

#[test]
fn a_clean_mix_fault_kernel_runs_without_reports() {
    let y = mix_faults(0, 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!([y[40], y[64 + 40]], [7, 7]);
}

/// The error text, one line per violation.
fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn races_between_the_cores_of_a_mix_kernel_are_reported_the_same_way_every_run() {
    // 24 cores whose AICs write what their AIVs read with no flag between: with the cores free-running,
    // which access meets which (and so every instruction number in the report) changes from run to run.
    let runs: Vec<String> = (0..4)
        .map(|_| mix_faults(4, 8).unwrap_err().to_string())
        .collect();
    for run in &runs[1..] {
        assert_eq!(run, &runs[0]);
    }
    // One at a time in index order: AIC u writes everything, then waits; its AIVs meet its last writes.
    let text = &runs[0];
    assert!(
        lines(text)[0].starts_with(
            "kernel `mix_faults`, core AIV 0.0, GlobalTensor::GetValue: data race on GM argument 'y'"
        ) && lines(text)[0].contains("reads what S instruction")
            && lines(text)[0].contains("`GlobalTensor::SetValue` on core AIC 0 wrote"),
        "{text}"
    );
}

#[test]
fn a_wait_left_unsatisfiable_by_a_stopped_core_follows_that_cores_error() {
    // AIV 0.1 stops on a bad GM read before its set: its error leads, AIC 0's endless wait is its consequence.
    let text = mix_faults(1, 2).unwrap_err().to_string();
    let bad_read = "GlobalTensor::GetValue: GM access of 4 bytes at byte 512 of a GlobalTensor is outside its \
                    SetGlobalBuffer range of 512 bytes";
    assert_eq!(
        lines(&text)[0],
        format!("kernel `mix_faults`, core AIV 0.1, {bad_read}"),
        "{text}"
    );
    assert_eq!(
        lines(&text)[1],
        format!(
            "kernel `mix_faults`, core AIC 0, CrossCoreWaitFlag: CrossCoreWaitFlag(2) on AIC 0 waits for a \
             CrossCoreSetFlag that no core can still make, because AIV 0.1 stopped: {bad_read}"
        ),
        "{text}"
    );
    assert!(!text.contains("deadlock"), "{text}");
    // A race stopping the AIVs of every AI core: each AIC's wait names an AIV of its own AI core.
    let text = mix_faults(4, 2).unwrap_err().to_string();
    let aic1 = lines(&text)
        .into_iter()
        .find(|line| line.contains("core AIC 1, CrossCoreWaitFlag"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        aic1.contains("because AIV 1.0 stopped: GlobalTensor::GetValue: data race"),
        "{text}"
    );
    assert!(lines(&text)[0].contains("core AIV 0.0"), "{text}");
}

#[test]
fn a_cross_core_set_never_waited_for_is_reported_at_kernel_end() {
    let text = mix_faults(2, 2).unwrap_err().to_string();
    let expected: Vec<String> = [(0, "0.0"), (0, "0.1"), (1, "1.0"), (1, "1.1")]
        .iter()
        .map(|(aic, aiv)| {
            format!(
                "kernel `mix_faults`, core AIC {aic}, kernel end: CrossCoreSetFlag(5) set by AIC {aic} for AIV \
                 {aiv} was never waited for: 1 set(s) left on the flag at kernel end (each needs a \
                 CrossCoreWaitFlag(5) on AIV {aiv})"
            )
        })
        .collect();
    assert_eq!(lines(&text), expected, "{text}");
}

#[test]
fn an_aiv_set_its_sibling_never_pairs_is_reported_at_kernel_end() {
    // Bit 2 of cross_core_modes: AIV u.0 sets flag 2 (mode 2) once more than AIV u.1; with bit 1 clear the
    // AICs still get their pair, and the extra set is left over.
    let text = cross_core_modes(4).unwrap_err().to_string();
    assert_eq!(
        lines(&text)[0],
        "kernel `cross_core_modes`, core AIV 0.0, kernel end: CrossCoreSetFlag<2>(2) on AIV 0.0 never \
         counted: 1 set(s) still wait for the other core(s) that mode 2 pairs it with at kernel end",
        "{text}"
    );
}
