//! Tests of the emulator's cube unit (AIC) with hand-written kernels (runtime/tests/kernels/cube_matmul.cpp,
//! matmul_tiled.cpp): GM -> L1 (Nd2Nz) -> L0A/L0B (LoadData) -> Mmad -> Fixpipe, against f64 references
//! written here from the operands; range and capacity errors; missing cube flags reported as races.

mod common;
use common::*;

use moge_runtime::emulator::{
    launch_raw, CheckMode, CoreType, EmuError, GmArg, RawLaunch, RawReport,
};

const CUBE_MATMUL: &str = include_str!("kernels/cube_matmul.cpp");

/// Runs `kernel` of cube_matmul.cpp on `block_dim` AIC cores with every check and no workspace; panics on
/// an error.
fn run_aic(kernel: &str, block_dim: u32, args: Vec<GmArg>, tiling: Vec<u8>) -> RawReport {
    launch_raw(RawLaunch {
        source: CUBE_MATMUL,
        kernel,
        block_dim,
        core_type: CoreType::Aic,
        check: CheckMode::FULL,
        args,
        workspace_bytes: 0,
        tiling,
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Operand types of the cube tests.
#[derive(Copy, Clone, Debug)]
enum Cube {
    /// half x half -> float (`matmul_f16`).
    F16,
    /// half x half -> half through F322F16 (`matmul_f16_to_f16`).
    F16ToF16,
    /// bf16 x bf16 -> bf16 through F322BF16 (`matmul_bf16_to_bf16`).
    Bf16,
    /// float x float -> float, B given transposed (`matmul_f32`).
    F32,
}

impl Cube {
    fn kernel(self) -> &'static str {
        match self {
            Cube::F16 => "matmul_f16",
            Cube::F16ToF16 => "matmul_f16_to_f16",
            Cube::Bf16 => "matmul_bf16_to_bf16",
            Cube::F32 => "matmul_f32",
        }
    }

    /// Rounds a value to the operand type: its bytes (little-endian) and the exact value.
    fn operand(self, value: f32) -> (Vec<u8>, f64) {
        match self {
            Cube::F16 | Cube::F16ToF16 => {
                let bits = half_from_f32(value);
                (bits.to_le_bytes().to_vec(), f16_value(bits))
            }
            Cube::Bf16 => {
                let bits = bf16_from_f32(value);
                (bits.to_le_bytes().to_vec(), bf16_value(bits))
            }
            Cube::F32 => (value.to_le_bytes().to_vec(), f64::from(value)),
        }
    }

    fn out_bytes(self) -> usize {
        match self {
            Cube::F16 | Cube::F32 => 4,
            Cube::F16ToF16 | Cube::Bf16 => 2,
        }
    }

    fn out_values(self, bytes: &[u8]) -> Vec<f64> {
        match self {
            Cube::F16 | Cube::F32 => bytes_f32(bytes).into_iter().map(f64::from).collect(),
            Cube::F16ToF16 => bytes_u16(bytes).into_iter().map(f16_value).collect(),
            Cube::Bf16 => bytes_u16(bytes).into_iter().map(bf16_value).collect(),
        }
    }

    /// Relative rounding of the output type (half 2^-11, bf16 2^-8, f32 2^-24).
    fn out_rounding(self) -> f64 {
        match self {
            Cube::F16 | Cube::F32 => 2f64.powi(-24),
            Cube::F16ToF16 => 2f64.powi(-11),
            Cube::Bf16 => 2f64.powi(-8),
        }
    }
}

/// What a cube test launch gives back: the output, the f64 product of the rounded operands, and the sum of
/// |a||b| per element (for the error bound).
type CubeResult = (Vec<f64>, Vec<f64>, Vec<f64>);

/// One cube tile launch: A (m x k) and B (k x n) random in [-1, 1), rounded to the operand type.
fn cube_run(
    cube: Cube,
    (m, n, k): (usize, usize, usize),
    mask: u32,
    check: CheckMode,
) -> Result<CubeResult, EmuError> {
    let mut rng = Rng(0x5eed + (m * 131 + n * 17 + k) as u64);
    let (mut a_bytes, mut a) = (Vec::new(), Vec::new());
    for _ in 0..m * k {
        let (bytes, value) = cube.operand(rng.unit());
        a_bytes.extend(bytes);
        a.push(value);
    }
    let transposed_b = matches!(cube, Cube::F32);
    let width = if transposed_b { 4 } else { 2 };
    let mut b = vec![0.0f64; k * n];
    let mut b_bytes = vec![0u8; k * n * width];
    for kk in 0..k {
        for j in 0..n {
            let (bytes, value) = cube.operand(rng.unit());
            b[kk * n + j] = value;
            // float's B is passed transposed (n x k).
            let at = if transposed_b { j * k + kk } else { kk * n + j };
            b_bytes[at * width..(at + 1) * width].copy_from_slice(&bytes);
        }
    }
    let mut want = vec![0.0f64; m * n];
    let mut magnitude = vec![0.0f64; m * n];
    for i in 0..m {
        for j in 0..n {
            for kk in 0..k {
                want[i * n + j] += a[i * k + kk] * b[kk * n + j];
                magnitude[i * n + j] += (a[i * k + kk] * b[kk * n + j]).abs();
            }
        }
    }
    let report = launch_raw(RawLaunch {
        source: CUBE_MATMUL,
        kernel: cube.kernel(),
        block_dim: 1,
        core_type: CoreType::Aic,
        check,
        args: vec![
            input("a", a_bytes),
            input("b", b_bytes),
            output("c", m * n * cube.out_bytes()),
        ],
        workspace_bytes: 0,
        tiling: u32_bytes(&[m as u32, n as u32, k as u32, mask]),
    })?;
    Ok((cube.out_values(&report.args[2].bytes), want, magnitude))
}

const ALL_FLAGS: u32 = 7;

#[test]
fn cube_matmul_matches_an_f64_reference_for_every_dtype_including_tails() {
    let shapes = [
        (16, 16, 16),
        (17, 15, 33),
        (1, 64, 7),
        (40, 24, 64),
        (15, 1, 17),
    ];
    for cube in [Cube::F16, Cube::F16ToF16, Cube::Bf16, Cube::F32] {
        for &shape in &shapes {
            let (got, want, magnitude) = cube_run(cube, shape, ALL_FLAGS, CheckMode::FULL)
                .unwrap_or_else(|e| panic!("{cube:?} {shape:?}: {e}"));
            for (i, g) in got.iter().enumerate() {
                // Products of 16-bit values are exact in f32 (f32 products round by 2^-24); k f32 additions
                // round by at most k * 2^-24 of the sum of magnitudes; the output conversion by its rounding.
                let k = shape.2 as f64;
                let bound = (k + 1.0) * 2f64.powi(-24) * magnitude[i] * 2.0
                    + cube.out_rounding() * want[i].abs() * 1.01;
                assert!(
                    (g - want[i]).abs() <= bound + 1e-30,
                    "{cube:?} {shape:?} element {i}: {g} vs {}",
                    want[i]
                );
            }
        }
    }
}

#[test]
fn a_b_operand_in_the_wrong_fractal_layout_gives_the_transposed_product() {
    // B loaded into L0B without the transpose: inside the single 16 x 16 fractal Mmad reads B^T.
    let mut rng = Rng(77);
    let a: Vec<u16> = (0..256).map(|_| half_from_f32(rng.unit())).collect();
    let b: Vec<u16> = (0..256).map(|_| half_from_f32(rng.unit())).collect();
    let report = run_aic(
        "matmul_f16_wrong_layout",
        1,
        vec![
            input("a", u16_bytes(&a)),
            input("b", u16_bytes(&b)),
            output("c", 1024),
        ],
        Vec::new(),
    );
    let got = bytes_f32(&report.args[2].bytes);
    let mut worst_vs_right = 0.0f64;
    for i in 0..16 {
        for j in 0..16 {
            let right: f64 = (0..16)
                .map(|kk| f16_value(a[i * 16 + kk]) * f16_value(b[kk * 16 + j]))
                .sum();
            let transposed: f64 = (0..16)
                .map(|kk| f16_value(a[i * 16 + kk]) * f16_value(b[j * 16 + kk]))
                .sum();
            let g = f64::from(got[i * 16 + j]);
            assert!(
                (g - transposed).abs() < 1e-4,
                "({i},{j}): {g} vs A.B^T {transposed}"
            );
            worst_vs_right = worst_vs_right.max((g - right).abs());
        }
    }
    assert!(
        worst_vs_right > 0.1,
        "the wrong layout must change the numbers"
    );
}

fn run_cube_error(kernel: &str, core_type: CoreType) -> String {
    launch_raw(RawLaunch {
        source: CUBE_MATMUL,
        kernel,
        block_dim: 1,
        core_type,
        check: CheckMode::FULL,
        args: Vec::new(),
        workspace_bytes: 0,
        tiling: Vec::new(),
    })
    .unwrap_err()
    .to_string()
}

#[test]
fn cube_range_and_capacity_errors_name_the_call_and_values() {
    assert_eq!(
        run_cube_error("mmad_m_too_large", CoreType::Aic),
        "kernel `mmad_m_too_large`, core AIC 0, Mmad: m 4096, n 16, k 16: each must be in 0..4095"
    );
    let overflow = run_cube_error("l0a_overflow", CoreType::Aic);
    assert!(
        overflow.starts_with(
            "kernel `l0a_overflow`, core AIC 0, TPipe::InitBuffer: L0A overflow: InitBuffer asks 66560 bytes"
        ),
        "{overflow}"
    );
}

#[test]
fn a_kernel_launched_with_another_core_type_than_it_declares_is_reported() {
    assert_eq!(
        run_cube_error("l0a_overflow", CoreType::Aiv),
        "kernel `l0a_overflow`, core AIV 0, KERNEL_TASK_TYPE_DEFAULT: the kernel declares core type aic \
         (AIC_ONLY) but was launched as aiv (AIV_ONLY)"
    );
}

#[test]
fn each_missing_cube_flag_is_reported_as_a_race_though_the_numbers_are_right() {
    let shape = (16, 16, 16);
    let cases = [
        (
            ALL_FLAGS & !1,
            "MTE1 instruction #1 `LoadData(L1->L0, LoadData2DParams)` reads what MTE2 instruction #1 \
             `DataCopy(GM->L1, Nd2NzParams)` wrote",
        ),
        (
            ALL_FLAGS & !2,
            "M instruction #1 `Mmad` reads what MTE1 instruction #1 `LoadData(L1->L0, LoadData2DParams)` wrote",
        ),
        (
            ALL_FLAGS & !4,
            "FIX instruction #1 `Fixpipe(L0C->GM)` reads what M instruction #1 `Mmad` wrote",
        ),
    ];
    for (mask, expected) in cases {
        let (got, want, _) =
            cube_run(Cube::F16, shape, mask, CheckMode::OFF).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-3),
            "sequential numbers are right"
        );
        let text = cube_run(Cube::F16, shape, mask, CheckMode::FULL)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("core AIC 0") && text.contains(expected),
            "mask {mask}: {text}"
        );
    }
}

#[test]
fn an_mmad_accumulating_onto_l0c_nobody_wrote_is_reported() {
    // 20 x 24: two fractal rows, two fractal columns; the m x n result covers 480 of the 4 fractals' elements.
    let text = cube_run(Cube::F16, (20, 24, 16), ALL_FLAGS | 8, CheckMode::OFF)
        .unwrap_err()
        .to_string();
    assert_eq!(
        text,
        "kernel `matmul_f16`, core AIC 0, Mmad: cmatrixInitVal = false accumulates onto 1920 bytes of L0C that no \
         Mmad wrote since the kernel started (the first at L0C byte 0; the 20 x 24 result starts at L0C byte 0): \
         the first Mmad into an accumulator needs cmatrixInitVal = true"
    );
}

const MATMUL_TILED: &str = include_str!("kernels/matmul_tiled.cpp");

/// Runs the tiled bf16 matmul over 24 AIC cores; returns the report and the rounded operands.
fn tiled_matmul(m: usize, n: usize, k: usize, check: CheckMode) -> (RawReport, Vec<f64>, Vec<f64>) {
    let mut rng = Rng(1234);
    let a: Vec<u16> = (0..m * k).map(|_| bf16_from_f32(rng.unit())).collect();
    let b: Vec<u16> = (0..k * n).map(|_| bf16_from_f32(rng.unit())).collect();
    let report = launch_raw(RawLaunch {
        source: MATMUL_TILED,
        kernel: "matmul_tiled_bf16",
        block_dim: 24,
        core_type: CoreType::Aic,
        check,
        args: vec![
            input("a", u16_bytes(&a)),
            input("b", u16_bytes(&b)),
            output("c", m * n * 2),
        ],
        workspace_bytes: 0,
        tiling: u32_bytes(&[m as u32, n as u32, k as u32]),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    (
        report,
        a.into_iter().map(bf16_value).collect(),
        b.into_iter().map(bf16_value).collect(),
    )
}

#[test]
fn a_tiled_bf16_matmul_over_24_cores_matches_f64_and_counts_its_gm_traffic() {
    let (m, n, k) = (256, 384, 512);
    let (report, a, b) = tiled_matmul(m, n, k, CheckMode::FULL);
    let c = bytes_u16(&report.args[2].bytes);
    for i in 0..m {
        for j in 0..n {
            let (mut want, mut magnitude) = (0.0f64, 0.0f64);
            for kk in 0..k {
                want += a[i * k + kk] * b[kk * n + j];
                magnitude += (a[i * k + kk] * b[kk * n + j]).abs();
            }
            let got = bf16_value(c[i * n + j]);
            let bound = k as f64 * 2f64.powi(-24) * magnitude * 2.0 + 2f64.powi(-8) * want.abs();
            assert!((got - want).abs() <= bound, "({i},{j}): {got} vs {want}");
        }
    }
    // Each of the 6 C tiles reads its A row block (128 x 512) and B column block (512 x 128) once, in bf16,
    // and writes 128 x 128 bf16.
    let tiles = (m / 128) * (n / 128);
    assert_eq!(report.gm_bytes_read, (tiles * 2 * 128 * k * 2) as u64);
    assert_eq!(report.gm_bytes_written, (m * n * 2) as u64);
}

/// A (16 x 32) and B (32 x 32) halves with small integer values (exact products and sums), and C = A B.
fn small_integer_product() -> (Vec<u16>, Vec<u16>, Vec<f64>) {
    let a_values: Vec<f32> = (0..16 * 32).map(|i| ((i * 7) % 11) as f32 - 5.0).collect();
    let b_values: Vec<f32> = (0..32 * 32).map(|i| ((i * 5) % 9) as f32 - 4.0).collect();
    let mut c = vec![0.0f64; 16 * 32];
    for i in 0..16 {
        for j in 0..32 {
            c[i * 32 + j] = (0..32)
                .map(|kk| f64::from(a_values[i * 32 + kk]) * f64::from(b_values[kk * 32 + j]))
                .sum();
        }
    }
    (
        a_values.iter().map(|v| half_from_f32(*v)).collect(),
        b_values.iter().map(|v| half_from_f32(*v)).collect(),
        c,
    )
}

#[test]
fn fixpipe_writes_nz_relu_and_several_nd_matrices() {
    let (a, b, c) = small_integer_product();
    let report = run_aic(
        "fixpipe_forms",
        1,
        vec![
            input("a", u16_bytes(&a)),
            input("b", u16_bytes(&b)),
            output("nz", 16 * 32 * 4),
            output("relu", 16 * 32 * 4),
            output("halves", 16 * 32 * 4),
        ],
        Vec::new(),
    );
    let nz = bytes_f32(&report.args[2].bytes);
    let relu = bytes_f32(&report.args[3].bytes);
    let halves = bytes_f32(&report.args[4].bytes);
    for i in 0..16 {
        for j in 0..32 {
            let want = c[i * 32 + j];
            // NZ: column block j / 16 starts at 32 x 32 bytes = 256 floats, rows of 16 inside.
            assert_eq!(
                f64::from(nz[(j / 16) * 256 + i * 16 + j % 16]),
                want,
                "nz ({i},{j})"
            );
            assert_eq!(f64::from(relu[i * 32 + j]), want.max(0.0), "relu ({i},{j})");
            assert_eq!(
                f64::from(halves[(j / 16) * 256 + i * 16 + j % 16]),
                want,
                "halves ({i},{j})"
            );
        }
    }
    assert!(
        c.iter().any(|v| *v < 0.0),
        "the ReLU case sees negative values"
    );
    // GM: A and B read once, three outputs of 2 KiB written.
    assert_eq!(report.gm_bytes_read, (16 * 32 + 32 * 32) * 2);
    assert_eq!(report.gm_bytes_written, 3 * 16 * 32 * 4);
}

#[test]
fn fixpipe_with_set_atomic_add_sums_split_k_partial_products() {
    let (a, b, c) = small_integer_product();
    let report = run_aic(
        "matmul_split_k_atomic",
        2,
        vec![
            input("a", u16_bytes(&a)),
            input("b", u16_bytes(&b)),
            output("c", 16 * 32 * 4),
        ],
        Vec::new(),
    );
    let got: Vec<f64> = bytes_f32(&report.args[2].bytes)
        .into_iter()
        .map(f64::from)
        .collect();
    assert_eq!(got, c);
    assert_eq!(report.gm_bytes_written, 2 * 16 * 32 * 4);
}
fn mix_matmul_relu(mask: u32) -> Result<(RawReport, Vec<f64>), EmuError> {
    let (a, b, c) = small_integer_product();
    let report = launch_raw(RawLaunch {
        source: CUBE_MATMUL,
        kernel: "mix_matmul_relu",
        block_dim: 1,
        core_type: CoreType::MixAic1_2,
        check: CheckMode::FULL,
        args: vec![
            input("a", u16_bytes(&a)),
            input("b", u16_bytes(&b)),
            output("y", 16 * 32 * 4),
        ],
        workspace_bytes: 16 * 32 * 4,
        tiling: u32_bytes(&[mask]),
    })?;
    Ok((report, c))
}

#[test]
fn a_mix_matmul_with_a_vector_epilogue_hands_tiles_over_through_the_workspace() {
    let (report, c) = mix_matmul_relu(0).unwrap_or_else(|e| panic!("{e}"));
    let y = bytes_f32(&report.args[2].bytes);
    for (i, (got, want)) in y.iter().zip(&c).enumerate() {
        assert_eq!(f64::from(*got), (want + 1.0).max(0.0), "element {i}");
    }
    let labels: Vec<&str> = report.cores.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["AIC 0", "AIV 0.0", "AIV 0.1"]);
    // The AIC reads A and B and writes C to the workspace; each AIV reads and writes half of C.
    let traffic: Vec<(u64, u64)> = report
        .cores
        .iter()
        .map(|c| (c.gm_bytes_read, c.gm_bytes_written))
        .collect();
    assert_eq!(
        traffic,
        [((16 * 32 + 32 * 32) * 2, 2048), (1024, 1024), (1024, 1024)]
    );
}

#[test]
fn a_mix_epilogue_without_its_mte2_to_v_flag_is_reported() {
    let text = mix_matmul_relu(1).unwrap_err().to_string();
    assert!(
        text.contains("core AIV 0.0, Adds: data race on UB bytes 2048..2080: V instruction #1 `Adds` reads what MTE2 instruction #1 `DataCopy(GM->local)` wrote"),
        "{text}"
    );
}

#[test]
fn load_data_follows_start_index_src_stride_and_dst_gap() {
    let a_values: Vec<f32> = (0..16 * 64).map(|i| (i % 97) as f32 - 48.0).collect();
    let a: Vec<u16> = a_values.iter().map(|v| half_from_f32(*v)).collect();
    let identity: Vec<u16> = (0..64 * 64)
        .map(|i| half_from_f32(if i / 64 == i % 64 { 1.0 } else { 0.0 }))
        .collect();
    let report = run_aic(
        "load_data_index_gap",
        1,
        vec![
            input("a", u16_bytes(&a)),
            input("zeros", vec![0; 16 * 64 * 2]),
            input("identity", u16_bytes(&identity)),
            output("c", 16 * 64 * 4),
        ],
        Vec::new(),
    );
    let c = bytes_f32(&report.args[3].bytes);
    for i in 0..16 {
        for j in 0..64 {
            // L0A fractal f holds A's column block: f 0 <- 1, f 2 <- 3 (f 1 and 3 stay zero).
            let want = match j / 16 {
                0 => a_values[i * 64 + 16 + j % 16],
                2 => a_values[i * 64 + 48 + j % 16],
                _ => 0.0,
            };
            assert_eq!(c[i * 64 + j], want, "({i},{j})");
        }
    }
}

#[test]
fn mmad_with_m_1_reads_the_left_operand_as_nd() {
    let x_values: Vec<f32> = (0..48).map(|i| (i % 7) as f32 - 3.0).collect();
    let b_values: Vec<f32> = (0..48 * 32).map(|i| ((i * 3) % 5) as f32 - 2.0).collect();
    let want: Vec<f64> = (0..32)
        .map(|j| {
            (0..48)
                .map(|kk| f64::from(x_values[kk]) * f64::from(b_values[kk * 32 + j]))
                .sum()
        })
        .collect();
    let run = |zz: u32| {
        let report = run_aic(
            "gemv_layouts",
            1,
            vec![
                input(
                    "x",
                    u16_bytes(
                        &x_values
                            .iter()
                            .map(|v| half_from_f32(*v))
                            .collect::<Vec<_>>(),
                    ),
                ),
                input(
                    "b",
                    u16_bytes(
                        &b_values
                            .iter()
                            .map(|v| half_from_f32(*v))
                            .collect::<Vec<_>>(),
                    ),
                ),
                output("c", 32 * 4),
            ],
            u32_bytes(&[zz]),
        );
        bytes_f32(&report.args[2].bytes)
            .into_iter()
            .map(f64::from)
            .collect::<Vec<f64>>()
    };
    assert_eq!(run(0), want, "x in ND");
    // In ZZ, x[16..48] sit at the starts of fractals 1 and 2 (bytes 512 and 1024), not at 32 and 64.
    assert_ne!(run(1), want, "x in ZZ is misread by the GEMV");
}

#[test]
fn mmad_adds_a_bias_row_from_the_bias_table() {
    let (a, b, c) = small_integer_product();
    let bias: Vec<f32> = (0..32).map(|j| j as f32 * 0.25 - 4.0).collect();
    let report = run_aic(
        "mmad_bias",
        1,
        vec![
            input("a", u16_bytes(&a)),
            input("b", u16_bytes(&b)),
            input("bias", f32_bytes(&bias)),
            output("c", 16 * 32 * 4),
        ],
        Vec::new(),
    );
    let got = bytes_f32(&report.args[3].bytes);
    for i in 0..16 {
        for j in 0..32 {
            assert_eq!(
                f64::from(got[i * 32 + j]),
                c[i * 32 + j] + f64::from(bias[j]),
                "({i},{j})"
            );
        }
    }
}
