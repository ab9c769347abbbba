//! Tests of the Ascend C CPU emulator with hand-written kernels (runtime/tests/kernels/*.cpp).
//!
//! Expected values come from plain computations in the test or are written out by hand; GM traffic is
//! checked against byte counts worked out from the kernels' copies.

use moge_runtime::emulator::{
    compile, launch_raw, CheckMode, CoreType, EmuError, GmArg, RawLaunch, RawReport, Violation,
};

const ADD_CUSTOM: &str = include_str!("kernels/add_custom.cpp");
const SOFTMAX_ROWS: &str = include_str!("kernels/softmax_rows.cpp");
const VECTOR_OPS: &str = include_str!("kernels/vector_ops.cpp");
const FAULTY: &str = include_str!("kernels/faulty.cpp");
const API_SURFACE: &str = include_str!("kernels/api_surface.cpp");

mod common;
use common::*;

fn launch(
    source: &str,
    kernel: &str,
    block_dim: u32,
    args: Vec<GmArg>,
    tiling: Vec<u8>,
) -> Result<RawReport, EmuError> {
    launch_raw(RawLaunch {
        source,
        kernel,
        block_dim,
        core_type: CoreType::Aiv,
        // Every rule checked, the V->V barrier rule included (the kernels have a PipeBarrier<PIPE_V>
        // between dependent vector instructions).
        check: CheckMode::FULL,
        args,
        workspace_bytes: 0,
        tiling,
    })
}

fn launched(
    source: &str,
    kernel: &str,
    block_dim: u32,
    args: Vec<GmArg>,
    tiling: Vec<u8>,
) -> RawReport {
    match launch(source, kernel, block_dim, args, tiling) {
        Ok(report) => report,
        Err(error) => panic!("kernel `{kernel}` failed: {error}"),
    }
}

fn violations(result: Result<RawReport, EmuError>) -> (Vec<Violation>, u64) {
    match result {
        Err(EmuError::Violation { violations, total }) => (violations, total),
        Err(other) => panic!("expected a violation, got another error: {other}"),
        Ok(_) => panic!("expected a violation, the kernel succeeded"),
    }
}

/// Runs a faulty kernel on one core and returns its single violation.
fn single_violation(kernel: &str) -> Violation {
    let x = input("x", f32_bytes(&[0.5; 64]));
    let (found, total) = violations(launch(FAULTY, kernel, 1, vec![x], u32_bytes(&[0, 0])));
    assert_eq!(total, 1, "{kernel}: {found:?}");
    assert_eq!(found.len(), 1);
    let violation = found[0].clone();
    assert_eq!(violation.kernel, kernel);
    assert_eq!(violation.core, 0);
    violation
}

// ---- add_custom ----------------------------------------------------------------------------------------------------

fn run_add(
    total: u32,
    per_core: u32,
    tile: u32,
    z_len: u32,
) -> (Vec<f32>, Vec<f32>, Result<RawReport, EmuError>) {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let x: Vec<f32> = (0..total).map(|_| rng.unit() * 100.0).collect();
    let y: Vec<f32> = (0..total).map(|_| rng.unit()).collect();
    let result = launch(
        ADD_CUSTOM,
        "add_custom",
        8,
        vec![
            input("x", f32_bytes(&x)),
            input("y", f32_bytes(&y)),
            output("z", z_len as usize * 4),
        ],
        u32_bytes(&[total, per_core, tile, 0]),
    );
    (x, y, result)
}

#[test]
fn add_custom_over_eight_cores_with_a_padded_tail() {
    // 8013 floats: cores 0..6 take 1008 each (3 tiles of 256 + 240), core 7 takes 957 (3 x 256 + 189).
    let (x, y, result) = run_add(8013, 1008, 256, 8013);
    let report = result.unwrap_or_else(|e| panic!("{e}"));
    let z = bytes_f32(&report.args[2].bytes);
    let expected: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
    assert_eq!(z.len(), expected.len());
    for (i, (got, want)) in z.iter().zip(&expected).enumerate() {
        assert_eq!(got.to_bits(), want.to_bits(), "z[{i}]");
    }
    // Every element of x and y is read once and every element of z written once.
    assert_eq!(report.gm_bytes_read, 2 * 8013 * 4);
    assert_eq!(report.gm_bytes_written, 8013 * 4);
    // Three queues of two 1 KiB buffers.
    assert_eq!(report.ub_high_water, 6 * 256 * 4);
    // Inputs come back unchanged.
    assert_eq!(bytes_f32(&report.args[0].bytes), x);
    assert!(report.args[2].is_output && !report.args[0].is_output);
    assert_eq!(report.args[1].name, "y");
}

#[test]
fn an_input_the_kernel_writes_comes_back_written_and_one_it_reads_comes_back_as_given() {
    // The launcher maps inputs in place and sends back only those a kernel wrote: z passed as an
    // input (a kernel that writes a parameter it was not given as an output) must still come back
    // with the sums, x and y (only read) with their own bytes, over several pages each.
    let n = 8013;
    let mut rng = Rng(0x0bad_cafe_1234_5678);
    let x: Vec<f32> = (0..n).map(|_| rng.unit() * 10.0).collect();
    let y: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
    let report = launched(
        ADD_CUSTOM,
        "add_custom",
        8,
        vec![
            input("x", f32_bytes(&x)),
            input("y", f32_bytes(&y)),
            input("z", vec![0xFF; n * 4]),
        ],
        u32_bytes(&[n as u32, 1008, 256, 0]),
    );
    let expected: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
    assert_eq!(bytes_f32(&report.args[2].bytes), expected);
    assert_eq!(bytes_f32(&report.args[0].bytes), x);
    assert_eq!(bytes_f32(&report.args[1].bytes), y);
    assert!(report.args.iter().all(|a| !a.is_output));
}

#[test]
fn add_custom_with_fewer_elements_than_cores() {
    // Core 0 takes all 5 elements in one DataCopyPad tile; cores 1..7 have nothing to do.
    let (x, y, result) = run_add(5, 8, 8, 5);
    let report = result.unwrap_or_else(|e| panic!("{e}"));
    let z = bytes_f32(&report.args[2].bytes);
    let expected: Vec<f32> = x.iter().zip(&y).map(|(a, b)| a + b).collect();
    assert_eq!(z, expected);
    assert_eq!(report.gm_bytes_read, 2 * 5 * 4);
    assert_eq!(report.gm_bytes_written, 5 * 4);
    assert_eq!(report.ub_high_water, 6 * 32);
}

#[test]
fn add_custom_with_a_short_output_is_out_of_bounds() {
    // z holds 8000 floats = 32000 bytes; core 7's last tile writes floats 7824..8013, bytes 31296..32052.
    let (_, _, result) = run_add(8013, 1008, 256, 8000);
    let (found, total) = violations(result);
    assert_eq!(total, 1);
    assert_eq!(found[0].core, 7);
    assert_eq!(found[0].call, "DataCopyPad(local->GM)");
    assert_eq!(
        found[0].message,
        "GM access of 756 bytes at byte 31296 of argument 'z' is outside its 32000 bytes"
    );
}

// ---- softmax ---------------------------------------------------------------------------------------------------------

#[test]
fn softmax_by_rows_matches_a_plain_computation() {
    let (rows, cols) = (50usize, 37usize);
    let mut rng = Rng(42);
    let x: Vec<f32> = (0..rows * cols).map(|_| rng.unit() * 8.0).collect();
    let report = launched(
        SOFTMAX_ROWS,
        "softmax_rows",
        4,
        vec![input("x", f32_bytes(&x)), output("y", rows * cols * 4)],
        u32_bytes(&[rows as u32, cols as u32, 13, 8]),
    );
    let y = bytes_f32(&report.args[1].bytes);
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let max = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let sum: f64 = row.iter().map(|&v| (f64::from(v) - max).exp()).sum();
        for c in 0..cols {
            let want = (f64::from(row[c]) - max).exp() / sum;
            let got = f64::from(y[r * cols + c]);
            assert!(
                (got - want).abs() <= 1e-6 * want.max(1e-3),
                "y[{r}][{c}] = {got}, want {want}"
            );
        }
    }
    assert_eq!(report.gm_bytes_read, (rows * cols * 4) as u64);
    assert_eq!(report.gm_bytes_written, (rows * cols * 4) as u64);
    // Two queues of two 8-row tiles (8 x 40 floats each), 64 floats of reductions, 64 blocks of broadcasts.
    assert_eq!(
        report.ub_high_water,
        2 * 2 * 8 * 40 * 4 + 64 * 4 + 64 * 8 * 4
    );
}

// ---- vector_ops: argmax, top-k, casts -----------------------------------------------------------------------------------

#[test]
fn row_argmax_takes_the_lowest_index_among_equal_maxima() {
    let (rows, cols) = (20usize, 50usize);
    let mut rng = Rng(7);
    // Small integers, so that most rows have several equal maxima.
    let x: Vec<f32> = (0..rows * cols).map(|_| rng.below(6) as f32).collect();
    let report = launched(
        VECTOR_OPS,
        "row_argmax",
        1,
        vec![input("x", f32_bytes(&x)), output("index", rows * 4)],
        u32_bytes(&[rows as u32, cols as u32]),
    );
    let got = bytes_i32(&report.args[1].bytes);
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let mut best = 0;
        for c in 1..cols {
            if row[c] > row[best] {
                best = c;
            }
        }
        assert_eq!(got[r], best as i32, "row {r}: {row:?}");
    }
    assert_eq!(report.gm_bytes_read, (rows * cols * 4) as u64);
    assert_eq!(report.gm_bytes_written, (rows * 4) as u64);
}

#[test]
fn reduce_max_returns_the_first_index_of_the_maximum() {
    let n = 1000usize;
    let mut x: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.5).collect();
    x[700] = 1000.0;
    x[900] = 1000.0;
    // The documented work size for 1000 floats with the index: 32 + 8 + 8 elements.
    let report = launched(
        VECTOR_OPS,
        "reduce_max_index",
        1,
        vec![input("x", f32_bytes(&x)), output("out", 8)],
        u32_bytes(&[n as u32, 48]),
    );
    let out = &report.args[1].bytes;
    assert_eq!(bytes_f32(&out[..4]), vec![1000.0]);
    assert_eq!(bytes_u32(&out[4..8]), vec![700]);
    assert_eq!(report.gm_bytes_read, 4000);
    assert_eq!(report.gm_bytes_written, 8);

    // One element short of the documented work size.
    let result = launch(
        VECTOR_OPS,
        "reduce_max_index",
        1,
        vec![input("x", f32_bytes(&x)), output("out", 8)],
        u32_bytes(&[n as u32, 40]),
    );
    let (found, _) = violations(result);
    assert_eq!(found[0].call, "ReduceMax");
    assert_eq!(
        found[0].message,
        "sharedTmpBuffer has 40 elements but 48 are needed"
    );
}

#[test]
fn extremum_reductions_propagate_the_first_nan() {
    // The emulator's documented choice (the Atlas A2 docs say nothing): a NaN among the reduced elements
    // is the result, with the first NaN's index; without MOGE_EMU_NAN_SKIPS.
    let n = 1000usize;
    let mut x: Vec<f32> = (0..n).map(|i| (i % 97) as f32 * 0.5).collect();
    x[700] = 1000.0;
    x[300] = f32::NAN;
    x[600] = f32::NAN;
    let report = launched(
        VECTOR_OPS,
        "reduce_max_index",
        1,
        vec![input("x", f32_bytes(&x)), output("out", 8)],
        u32_bytes(&[n as u32, 48]),
    );
    let out = &report.args[1].bytes;
    assert!(bytes_f32(&out[..4])[0].is_nan());
    assert_eq!(bytes_u32(&out[4..8]), vec![300]);

    // Row argmax through WholeReduceMax: a NaN anywhere in the row wins, also after a larger value and
    // when it is the first element.
    let (rows, cols) = (3usize, 10usize);
    let mut x = vec![1.0f32; rows * cols];
    x[4] = 9.0;
    x[7] = f32::NAN;
    x[cols] = f32::NAN;
    x[cols + 5] = f32::INFINITY;
    x[2 * cols + 3] = f32::INFINITY;
    let report = launched(
        VECTOR_OPS,
        "row_argmax",
        1,
        vec![input("x", f32_bytes(&x)), output("index", rows * 4)],
        u32_bytes(&[rows as u32, cols as u32]),
    );
    assert_eq!(bytes_i32(&report.args[1].bytes), vec![7, 0, 3]);
}

#[test]
fn topk_rows_sorts_descending_with_stable_ties() {
    let (rows, k) = (3usize, 5usize);
    let mut rng = Rng(99);
    let mut x: Vec<f32> = (0..rows * 64).map(|_| rng.below(9) as f32 - 4.0).collect();
    // Row 0: equal top scores in both halves of the row (both Sort32 groups).
    x[40] = 10.0;
    x[7] = 10.0;
    x[63] = 10.0;
    let report = launched(
        VECTOR_OPS,
        "topk_rows",
        1,
        vec![
            input("x", f32_bytes(&x)),
            output("values", rows * k * 4),
            output("indices", rows * k * 4),
        ],
        u32_bytes(&[rows as u32, k as u32]),
    );
    let values = bytes_f32(&report.args[1].bytes);
    let indices = bytes_i32(&report.args[2].bytes);
    for r in 0..rows {
        let row = &x[r * 64..(r + 1) * 64];
        let mut order: Vec<usize> = (0..64).collect();
        order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        for j in 0..k {
            assert_eq!(indices[r * k + j], order[j] as i32, "row {r} pick {j}");
            assert_eq!(values[r * k + j], row[order[j]], "row {r} pick {j}");
        }
    }
    assert_eq!(&indices[..3], &[7, 40, 63]);
    assert_eq!(report.gm_bytes_read, (rows * 64 * 4) as u64);
    assert_eq!(report.gm_bytes_written, (rows * k * 8) as u64);
}

#[test]
fn cast_between_float_and_bfloat16_rounds_as_documented() {
    // Inputs as binary32 bit patterns, and the expected bfloat16 in the modes RINT, FLOOR, CEIL, ROUND, TRUNC,
    // worked out by hand from the 16 discarded low bits.
    let cases: [(u32, [u16; 5]); 16] = [
        (0x3F80_0000, [0x3F80, 0x3F80, 0x3F80, 0x3F80, 0x3F80]), // 1.0, exact
        (0x3F80_8000, [0x3F80, 0x3F80, 0x3F81, 0x3F81, 0x3F80]), // halfway, even below
        (0x3F81_8000, [0x3F82, 0x3F81, 0x3F82, 0x3F82, 0x3F81]), // halfway, odd below
        (0x3F80_8001, [0x3F81, 0x3F80, 0x3F81, 0x3F81, 0x3F80]), // just above halfway
        (0x3F80_7FFF, [0x3F80, 0x3F80, 0x3F81, 0x3F80, 0x3F80]), // just below halfway
        (0xBF80_8000, [0xBF80, 0xBF81, 0xBF80, 0xBF81, 0xBF80]), // negative halfway, even
        (0xBF81_8000, [0xBF82, 0xBF82, 0xBF81, 0xBF82, 0xBF81]), // negative halfway, odd
        (0x0000_0000, [0x0000, 0x0000, 0x0000, 0x0000, 0x0000]), // +0
        (0x8000_0000, [0x8000, 0x8000, 0x8000, 0x8000, 0x8000]), // -0
        (0x7F80_0000, [0x7F80, 0x7F80, 0x7F80, 0x7F80, 0x7F80]), // +inf
        (0xFF80_0000, [0xFF80, 0xFF80, 0xFF80, 0xFF80, 0xFF80]), // -inf
        (0x7FC0_0000, [0x7FC0, 0x7FC0, 0x7FC0, 0x7FC0, 0x7FC0]), // quiet NaN
        (0x0000_0001, [0x0000, 0x0000, 0x0001, 0x0000, 0x0000]), // 2^-149 against the bf16 step 2^-133
        (0x477F_FF00, [0x4780, 0x477F, 0x4780, 0x4780, 0x477F]), // 65535: rounding up carries into the exponent
        // The largest finite float: rounding away from zero overflows to infinity, as IEEE 754 says (the
        // Atlas A2 default INF/NaN mode); toward zero stays at the largest finite bfloat16 0x7F7F.
        (0x7F7F_FFFF, [0x7F80, 0x7F7F, 0x7F80, 0x7F80, 0x7F7F]),
        (0xFF7F_FFFF, [0xFF80, 0xFF80, 0xFF7F, 0xFF80, 0xFF7F]),
    ];
    let x: Vec<u32> = cases.iter().map(|c| c.0).collect();
    // bfloat16 -> float is exact: the bits move to the top half.
    let b: [u16; 16] = [
        0x3F81, 0xC049, 0x0001, 0x7F80, 0xFF80, 0x8000, 0x4780, 0x0000, 0x3F80, 0xBF80, 0x4049,
        0x477F, 0x0080, 0x807F, 0x7F7F, 0xFF7F,
    ];
    let mut args = vec![input("x", u32_bytes(&x))];
    for name in ["rint", "floor", "ceil", "round", "trunc"] {
        args.push(output(name, 32));
    }
    args.push(input("b", u16_bytes(&b)));
    args.push(output("back", 64));
    let report = launched(VECTOR_OPS, "cast_bf16", 1, args, Vec::new());
    for (mode, name) in ["rint", "floor", "ceil", "round", "trunc"]
        .iter()
        .enumerate()
    {
        let got = bytes_u16(&report.args[1 + mode].bytes);
        for (i, case) in cases.iter().enumerate() {
            assert_eq!(
                got[i], case.1[mode],
                "{name} of {:#010x}: got {:#06x}, want {:#06x}",
                case.0, got[i], case.1[mode]
            );
        }
    }
    let back = bytes_u32(&report.args[7].bytes);
    for (i, &bits) in b.iter().enumerate() {
        assert_eq!(back[i], u32::from(bits) << 16, "bf16 {bits:#06x} to float");
    }
    // 16 floats and 16 bf16 read; 5 x 16 bf16 and 16 floats written.
    assert_eq!(report.gm_bytes_read, 64 + 32);
    assert_eq!(report.gm_bytes_written, 5 * 32 + 64);
}

#[test]
fn compare_and_select_through_bit_masks() {
    let mut rng = Rng(5);
    let mut x: Vec<f32> = (0..64).map(|_| rng.unit()).collect();
    let mut y: Vec<f32> = (0..64).map(|_| rng.unit()).collect();
    x[3] = 0.0;
    y[10] = x[10];
    y[11] = -0.0;
    x[11] = 0.0;
    let report = launched(
        VECTOR_OPS,
        "compare_select",
        1,
        vec![
            input("x", f32_bytes(&x)),
            input("y", f32_bytes(&y)),
            output("relu", 256),
            output("larger", 256),
        ],
        Vec::new(),
    );
    let relu = bytes_f32(&report.args[2].bytes);
    let larger = bytes_f32(&report.args[3].bytes);
    for i in 0..64 {
        let want_relu = if x[i] > 0.0 { x[i] } else { 0.0 };
        let want_larger = if x[i] >= y[i] { x[i] } else { y[i] };
        assert_eq!(
            relu[i].to_bits(),
            want_relu.to_bits(),
            "relu[{i}] of {}",
            x[i]
        );
        assert_eq!(
            larger[i].to_bits(),
            want_larger.to_bits(),
            "larger[{i}] of {} and {}",
            x[i],
            y[i]
        );
    }
}

#[test]
fn gather_reads_byte_offsets() {
    let mut rng = Rng(11);
    let src: Vec<f32> = (0..64).map(|i| i as f32 * 1.5 - 7.0).collect();
    let mut perm: Vec<u32> = (0..64).collect();
    for i in (1..64).rev() {
        perm.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let report = launched(
        VECTOR_OPS,
        "gather_perm",
        1,
        vec![
            input("src", f32_bytes(&src)),
            input("perm", u32_bytes(&perm)),
            output("dst", 256),
        ],
        Vec::new(),
    );
    let dst = bytes_f32(&report.args[2].bytes);
    for i in 0..64 {
        assert_eq!(dst[i], src[perm[i] as usize], "dst[{i}]");
    }
}

#[test]
fn atomic_add_accumulates_the_cores_contributions() {
    // Values chosen so that every partial sum is exact in f32, whatever order the cores add in.
    let x: Vec<f32> = (0..64).map(|i| i as f32).collect();
    let mut acc = output("acc", 256);
    acc.bytes = f32_bytes(&[0.5; 64]);
    let report = launched(
        VECTOR_OPS,
        "atomic_accumulate",
        8,
        vec![input("x", f32_bytes(&x)), acc],
        Vec::new(),
    );
    let got = bytes_f32(&report.args[1].bytes);
    for i in 0..64 {
        assert_eq!(got[i], 0.5 + 36.0 * x[i], "acc[{i}]");
    }
    assert_eq!(report.gm_bytes_read, 8 * 256);
    assert_eq!(report.gm_bytes_written, 8 * 256);
}

#[test]
fn data_copy_pad_lays_out_padding_and_dummy_elements() {
    let x: Vec<f32> = (0..15).map(|i| i as f32 + 1.0).collect();
    let report = launched(
        VECTOR_OPS,
        "pad_layout",
        1,
        vec![
            input("x", f32_bytes(&x)),
            output("padded", 96),
            output("plain", 96),
        ],
        Vec::new(),
    );
    let padded = bytes_f32(&report.args[1].bytes);
    let plain = bytes_f32(&report.args[2].bytes);
    for r in 0..3 {
        let row = &x[5 * r..5 * r + 5];
        // [pad, 5 elements, pad] = 7 floats, then one dummy float to the 32-byte boundary (the pad value).
        let want_padded = [-1.0, row[0], row[1], row[2], row[3], row[4], -1.0, -1.0];
        // Without padding the dummy floats repeat the row's first element.
        let want_plain = [
            row[0], row[1], row[2], row[3], row[4], row[0], row[0], row[0],
        ];
        assert_eq!(&padded[8 * r..8 * r + 8], &want_padded, "padded row {r}");
        assert_eq!(&plain[8 * r..8 * r + 8], &want_plain, "plain row {r}");
    }
    assert_eq!(report.gm_bytes_read, 2 * 15 * 4);
    assert_eq!(report.gm_bytes_written, 2 * 24 * 4);
}

#[test]
fn every_implemented_api_runs_without_a_violation() {
    // Two cores, so that SyncAll has a partner; each core owns 1 KiB of `out` and 256 bytes of workspace.
    let x: Vec<f32> = (0..256).map(|i| (i % 17) as f32 * 0.25 - 1.0).collect();
    let result = launch_raw(RawLaunch {
        source: API_SURFACE,
        kernel: "api_surface",
        block_dim: 2,
        core_type: CoreType::Aiv,
        // Calls every API once with no synchronization at all (it checks signatures and argument rules, not
        // ordering), so the race detector is off.
        check: CheckMode::OFF,
        args: vec![input("x", f32_bytes(&x)), output("out", 2 * 1024)],
        workspace_bytes: 2 * 256,
        tiling: Vec::new(),
    });
    let report = result.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.ub_high_water > 0);
    assert!(report.gm_bytes_written > 0);
}

// ---- faulty kernels ---------------------------------------------------------------------------------------------------

#[test]
fn ub_overflow_reports_bytes_asked_and_available() {
    let violation = single_violation("ub_overflow");
    assert_eq!(violation.call, "TPipe::InitBuffer");
    assert_eq!(
        violation.message,
        "UB overflow: InitBuffer asks 204800 bytes (2 buffer(s) of 102400 bytes) but only 188416 of the 188416 usable \
         bytes are left (0 already taken; UB is 196608 bytes)"
    );
    assert_eq!(
        violation.to_string(),
        format!(
            "kernel `ub_overflow`, core AIV 0, TPipe::InitBuffer: {}",
            violation.message
        )
    );
}

#[test]
fn misaligned_data_copy_is_reported() {
    let violation = single_violation("misaligned_copy");
    assert_eq!(violation.call, "DataCopy(GM->local)");
    assert_eq!(
        violation.message,
        "dst starts at UB byte 12, which is not 32-byte aligned"
    );
}

#[test]
fn data_copy_of_a_partial_block_is_reported() {
    let violation = single_violation("copy_length");
    assert_eq!(violation.call, "DataCopy(GM->local)");
    assert_eq!(
        violation.message,
        "count 7 x 4 bytes = 28 bytes is not a multiple of 32 (use DataCopyPad)"
    );
}

#[test]
fn gm_access_past_the_set_global_buffer_range_is_reported() {
    let violation = single_violation("gm_range");
    assert_eq!(violation.call, "DataCopy(GM->local)");
    assert_eq!(
        violation.message,
        "GM access of 64 bytes at byte 0 of a GlobalTensor is outside its SetGlobalBuffer range of 32 bytes"
    );
}

#[test]
fn gm_access_past_the_argument_is_reported() {
    let violation = single_violation("gm_past_argument");
    assert_eq!(violation.call, "DataCopy(GM->local)");
    assert_eq!(
        violation.message,
        "GM access of 32 bytes at byte 256 of argument 'x' is outside its 256 bytes"
    );
}

#[test]
fn deque_on_an_empty_queue_is_reported() {
    let violation = single_violation("deque_empty");
    assert_eq!(violation.call, "TQue::DeQue");
    assert_eq!(
        violation.message,
        "DeQue on an empty queue (no EnQue before it)"
    );
}

#[test]
fn alloc_tensor_past_the_buffers_is_reported() {
    let violation = single_violation("alloc_past_depth");
    assert_eq!(violation.call, "TQue::AllocTensor");
    assert!(
        violation
            .message
            .starts_with("AllocTensor past the queue's 2 buffers"),
        "{}",
        violation.message
    );
}

#[test]
fn enque_twice_is_reported() {
    let violation = single_violation("enque_twice");
    assert_eq!(violation.call, "TQue::EnQue");
    assert_eq!(
        violation.message,
        "EnQue of buffer 0 of the queue, which is already enqueued (EnQue twice)"
    );
}

#[test]
fn free_tensor_of_another_queue_is_reported() {
    let violation = single_violation("free_foreign");
    assert_eq!(violation.call, "TQue::FreeTensor");
    assert_eq!(violation.message, "the tensor is not from this queue");
}

#[test]
fn wait_flag_without_set_flag_is_reported() {
    let violation = single_violation("wait_without_set");
    assert_eq!(violation.call, "WaitFlag");
    assert_eq!(
        violation.message,
        "WaitFlag<HardEvent::MTE2_V>(1) with no SetFlag<HardEvent::MTE2_V>(1) before it (the core would hang)"
    );
}

#[test]
fn set_flag_never_waited_is_reported_at_kernel_end() {
    let violation = single_violation("set_never_waited");
    assert_eq!(violation.call, "kernel end");
    assert_eq!(
        violation.message,
        "flags set and never waited: SetFlag<HardEvent::V_MTE3>(2)"
    );
}

#[test]
fn misaligned_vector_operand_is_reported() {
    let violation = single_violation("misaligned_vector");
    assert_eq!(violation.call, "Add");
    assert_eq!(
        violation.message,
        "dst starts at UB byte 4, which is not 32-byte aligned"
    );
}

#[test]
fn unsupported_cast_round_mode_is_reported() {
    let violation = single_violation("bad_cast_mode");
    assert_eq!(violation.call, "Cast");
    assert_eq!(
        violation.message,
        "Cast from float to bfloat16_t does not support RoundMode::CAST_NONE on Atlas A2"
    );
}

#[test]
fn a_violation_on_one_core_names_that_core() {
    let x = input("x", f32_bytes(&[0.5; 64]));
    let (found, total) = violations(launch(
        FAULTY,
        "only_core_three",
        4,
        vec![x],
        u32_bytes(&[0, 0]),
    ));
    assert_eq!(total, 1);
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].core, found[0].call.as_str()), (3, "TQue::DeQue"));
}

#[test]
fn sync_all_that_a_core_never_reaches_is_reported() {
    let x = input("x", f32_bytes(&[0.5; 64]));
    let (found, total) = violations(launch(
        FAULTY,
        "sync_mismatch",
        2,
        vec![x],
        u32_bytes(&[0, 0]),
    ));
    assert_eq!(total, 1);
    assert_eq!((found[0].core, found[0].call.as_str()), (1, "SyncAll"));
    assert!(
        found[0].message.contains("without reaching this SyncAll"),
        "{}",
        found[0].message
    );
}

#[test]
fn a_read_past_the_tiling_bytes_is_named_with_its_core_and_byte() {
    let x = || input("x", f32_bytes(&[0.5; 64]));
    // With all 12 bytes the third word arrives.
    let report = launched(
        FAULTY,
        "tiling_overread",
        1,
        vec![x()],
        u32_bytes(&[1, 2, 77]),
    );
    assert_eq!(bytes_i32(&report.args[0].bytes)[0], 77);
    // With 8 the read of bytes 8..12 meets the page after the tiling.
    match launch(FAULTY, "tiling_overread", 1, vec![x()], u32_bytes(&[1, 2])) {
        Err(EmuError::Crash { signal, detail, .. }) => {
            assert_eq!(signal, 11);
            assert!(
                detail.contains(
                    "core 0 (AIV 0) read tiling byte 8, past the 8 tiling bytes of the launch: the kernel's \
                     tiling struct is longer than the tiling it was given"
                ),
                "{detail}"
            );
        }
        Err(other) => panic!("expected a crash, got {other}"),
        Ok(report) => panic!(
            "the kernel read past its tiling unnoticed and wrote {}",
            bytes_i32(&report.args[0].bytes)[0]
        ),
    }
}

#[test]
fn a_segfault_is_a_crash_and_the_host_survives() {
    let x = input("x", f32_bytes(&[0.5; 64]));
    match launch(FAULTY, "null_write", 4, vec![x], u32_bytes(&[0, 0])) {
        Err(EmuError::Crash {
            kernel,
            signal,
            detail,
        }) => {
            assert_eq!(kernel, "null_write");
            assert_eq!(signal, 11);
            assert!(detail.contains("core 1 received signal 11"), "{detail}");
        }
        Err(other) => panic!("expected a crash, got {other}"),
        Ok(_) => panic!("expected a crash, the kernel succeeded"),
    }
    // The host process is still here and can launch again.
    let (x, y, result) = run_add(5, 8, 8, 5);
    let z = bytes_f32(&result.unwrap_or_else(|e| panic!("{e}")).args[2].bytes);
    assert_eq!(
        z,
        x.iter().zip(&y).map(|(a, b)| a + b).collect::<Vec<f32>>()
    );
}

// ---- compilation and launch errors ------------------------------------------------------------------------------------

#[test]
fn compiled_kernels_are_cached_by_content() {
    let first = compile(ADD_CUSTOM).unwrap_or_else(|e| panic!("{e}"));
    let second = compile(ADD_CUSTOM).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first, second);
    assert!(first.path().is_file());
    assert_eq!(first.hash().len(), 64);
    let other = compile(SOFTMAX_ROWS).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(first.hash(), other.hash());
}

#[test]
fn a_compile_error_carries_the_compiler_message() {
    let source = "#include \"kernel_operator.h\"\n\
                  extern \"C\" __global__ __aicore__ void broken(GM_ADDR x, GM_ADDR w, GM_ADDR t) {\n\
                  AscendC::LocalTensor<float> a;\n\
                  AscendC::Expp(a, a, 8);\n\
                  }\n";
    match compile(source) {
        Err(EmuError::Compile { stderr }) => {
            assert!(stderr.contains("kernel.cpp:4"), "{stderr}");
            assert!(stderr.contains("Expp"), "{stderr}");
        }
        Err(other) => panic!("expected a compile error, got {other}"),
        Ok(_) => panic!("expected a compile error"),
    }
}

#[test]
fn an_unknown_kernel_name_is_reported() {
    let result = launch(ADD_CUSTOM, "no_such_kernel", 1, Vec::new(), Vec::new());
    assert!(
        matches!(result, Err(EmuError::KernelNotFound { ref kernel }) if kernel == "no_such_kernel")
    );
}

#[test]
fn invalid_launches_are_rejected_before_running() {
    let result = launch(ADD_CUSTOM, "add_custom", 0, Vec::new(), Vec::new());
    match result {
        Err(EmuError::InvalidLaunch { message, .. }) => {
            assert_eq!(message, "block_dim must be in 1..=65535, found 0");
        }
        other => panic!("expected an invalid launch, got {:?}", other.map(|_| ())),
    }
    let result = launch(ADD_CUSTOM, "add-custom", 1, Vec::new(), Vec::new());
    assert!(matches!(result, Err(EmuError::InvalidLaunch { .. })));
}
