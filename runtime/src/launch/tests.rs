//! Tests of the launch API on a hand-made manifest and a backend written in Rust.

use std::sync::Mutex;

use moge_codegen_ascendc::manifest::{
    CoreType, Param, SizeExpr, SyncMode, TensorDType, TilingField, FORMAT,
};

use super::*;
use crate::backend::DeviceRun;

fn ex(text: &str) -> SizeExpr {
    SizeExpr::parse(text).unwrap()
}

fn param(name: &str, role: Role, dtype: TensorDType, shape: &[&str]) -> Param {
    Param {
        name: name.to_string(),
        role,
        dtype,
        shape: shape.iter().map(|s| ex(s)).collect(),
    }
}

fn entry(name: &str, args: &[&str], block_dim: &str, tiling: &[(&str, &str)]) -> KernelEntry {
    KernelEntry {
        name: name.to_string(),
        source: format!("{name}.cpp"),
        core_type: CoreType::Aiv,
        sync: SyncMode::Auto,
        args: args.iter().map(|s| s.to_string()).collect(),
        block_dim: ex(block_dim),
        tiling: tiling
            .iter()
            .map(|(n, e)| TilingField {
                name: n.to_string(),
                expr: ex(e),
            })
            .collect(),
        workspace_bytes: SizeExpr::int(0),
        ub_bytes: 4096,
        tile_rows: 8,
    }
}

/// `y[T, 4] = x[T, 4] + 1` in f32, as two kernels through a buffer `mid`, and `n[2*T]` in i32
/// copied to `m`.
fn manifest() -> Manifest {
    Manifest {
        format: FORMAT.to_string(),
        program: "twice".to_string(),
        target: "ascend910b2".to_string(),
        bindings: [(moge_lower::Symbol::intern("N"), 4)].into_iter().collect(),
        dynamic_dims: vec![moge_lower::Symbol::intern("T")],
        params: vec![
            param("x", Role::Input, TensorDType::F32, &["T", "N"]),
            param("n", Role::Input, TensorDType::I32, &["2 * T"]),
            param("y", Role::Output, TensorDType::F32, &["T", "N"]),
            param("m", Role::Output, TensorDType::I32, &["2 * T"]),
        ],
        intermediates: vec![param(
            "mid",
            Role::Intermediate,
            TensorDType::F32,
            &["T", "4"],
        )],
        kernels: vec![
            entry(
                "k0",
                &["x", "mid"],
                "min(48, max(T, 1))",
                &[("rows", "T"), ("cols", "N")],
            ),
            entry(
                "k1",
                &["mid", "n", "y", "m"],
                "ceil_div(T, 2)",
                &[("rows", "T")],
            ),
        ],
        workspace_bytes: SizeExpr::int(0),
    }
}

/// A backend that runs the two kernels of [`manifest`] in Rust: `k0` writes `x + 1` to `mid`,
/// `k1` copies `mid` to `y` and `n` to `m`. Records every launch's grid and tiling.
#[derive(Default)]
struct Fake {
    seen: Mutex<Vec<(String, u32, Vec<u8>)>>,
}

impl Backend for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn prepare(&self, _kernel: &KernelSource<'_>) -> Result<(), BackendError> {
        Ok(())
    }

    fn launch(&self, launch: DeviceLaunch<'_>) -> Result<DeviceRun, BackendError> {
        self.seen.lock().unwrap().push((
            launch.kernel.name.to_string(),
            launch.block_dim,
            launch.tiling.clone(),
        ));
        let mut args = launch.args;
        match launch.kernel.name {
            "k0" => {
                let x: Vec<u8> = args[0]
                    .bytes
                    .chunks_exact(4)
                    .flat_map(|c| {
                        (f32::from_le_bytes([c[0], c[1], c[2], c[3]]) + 1.0).to_le_bytes()
                    })
                    .collect();
                args[1].bytes = x;
            }
            _ => {
                args[2].bytes = args[0].bytes.clone();
                args[3].bytes = args[1].bytes.clone();
            }
        }
        Ok(DeviceRun {
            args,
            gm_bytes_read: Some(10),
            gm_bytes_written: Some(5),
            ub_high_water: None,
            wall: Duration::from_micros(7),
            cores: Vec::new(),
            modeled: None,
        })
    }
}

fn sources() -> Vec<String> {
    vec![String::new(), String::new()]
}

fn x(rows: usize) -> Tensor {
    Tensor::from_f32(
        DType::F32,
        vec![rows, 4],
        (0..rows * 4).map(|i| i as f32).collect(),
    )
    .unwrap()
}

fn n(len: usize) -> Tensor {
    Tensor::from_i32(vec![len], (0..len as i32).map(|i| 100 - i).collect()).unwrap()
}

#[test]
fn launches_every_kernel_in_order_through_buffers() {
    let manifest = manifest();
    let sources = sources();
    let program = ProgramRef::new(&manifest, &sources).unwrap();
    let fake = Fake::default();
    let launched = launch(program, &[x(3), n(6)], &fake).unwrap();
    let y: Vec<f32> = (0..12).map(|i| i as f32 + 1.0).collect();
    assert_eq!(
        launched.outputs[0],
        Tensor::from_f32(DType::F32, vec![3, 4], y).unwrap()
    );
    assert_eq!(launched.outputs[1], n(6));
    let seen = fake.seen.lock().unwrap();
    // k0: block dim min(48, max(3, 1)) = 3, tiling rows = 3, cols = N = 4; k1: ceil_div(3, 2) = 2.
    let le = |values: &[i64]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    assert_eq!(seen[0], ("k0".to_string(), 3, le(&[3, 4])));
    assert_eq!(seen[1], ("k1".to_string(), 2, le(&[3])));
    let report = &launched.report;
    assert_eq!(report.dims, vec![(moge_lower::Symbol::intern("T"), 3)]);
    assert_eq!(report.kernel_names(), vec!["k0", "k1"]);
    assert_eq!(report.block_dim(), 3);
    assert_eq!(
        (report.gm_bytes_read(), report.gm_bytes_written()),
        (Some(20), Some(10))
    );
    // Inputs 3*4*4 + 6*4 = 72 bytes, outputs the same.
    assert_eq!(
        (
            report.input_bytes,
            report.output_bytes,
            report.compulsory_bytes
        ),
        (72, 72, 144)
    );
    assert_eq!(report.ub_high_water(), None);
    assert_eq!(report.wall(), Duration::from_micros(14));
}

#[test]
fn binds_linear_dims_and_checks_every_axis() {
    let manifest = manifest();
    // `n` is `2 * T`: with x giving T = 3, n must have 6 elements.
    let err = plan(&manifest, &[x(3), n(7)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 1 (`n`): axis 0 is `2 * T` = 6 (T = 3 bound by `x` axis 0), found 7"
    );
    // Static dims come from the manifest's bindings.
    let wrong = Tensor::from_f32(DType::F32, vec![3, 5], vec![0.0; 15]).unwrap();
    let err = plan(&manifest, &[wrong, n(6)]).unwrap_err();
    assert_eq!(err.to_string(), "input 0 (`x`): axis 1 is `N` = 4, found 5");
    // With only `n` binding T (x's rows wrong way round is caught as a mismatch of x).
    let mut only_n = manifest.clone();
    only_n.params[0].shape = vec![ex("4"), ex("N")];
    only_n.params[2].shape = vec![ex("T"), ex("N")];
    let plan_n = plan(&only_n, &[x(4), n(10)]).unwrap();
    assert_eq!(plan_n.dims, vec![(moge_lower::Symbol::intern("T"), 5)]);
    let err = plan(&only_n, &[x(4), n(9)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 1 (`n`): axis 0 is `2 * T`, which no value of `T` makes 9"
    );
}

#[test]
fn dims_out_of_range_at_launch_name_the_expression_and_value() {
    // A negative input axis, an overflowing output axis and a division by zero in the tiling.
    let mut negative = manifest();
    negative.params[1].shape = vec![ex("T - 100")];
    let err = plan(&negative, &[x(3), n(0)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 1 (`n`): axis 0 is `T - 100` = -97 (T = 3 bound by `x` axis 0), found 0"
    );
    let mut overflow = manifest();
    overflow.params[3].shape = vec![ex("T * T * T * T * T")];
    let err = plan(&overflow, &[x(1_000_000), n(2_000_000)]).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "program `twice`: cannot evaluate the axis 0 of output `m` `T * T * T * T * T`: "
        ),
        "{err}"
    );
    let mut by_zero = manifest();
    by_zero.kernels[1].tiling[0].expr = ex("T / (T - T)");
    let err = plan(&by_zero, &[x(3), n(6)]).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "program `twice`: cannot evaluate the tiling field `rows` of kernel `k1` `T / (T - T)`: "
        ),
        "{err}"
    );
}

#[test]
fn wrong_counts_dtypes_and_ranks_are_named() {
    let manifest = manifest();
    let err = plan(&manifest, &[x(3)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "program `twice` takes 2 inputs (`x`, `n`), found 1"
    );
    let as_bf16 = Tensor::from_f32(DType::BF16, vec![3, 4], vec![0.0; 12]).unwrap();
    let err = plan(&manifest, &[as_bf16, n(6)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 0 (`x`): expected dtype f32, found bf16"
    );
    let flat = Tensor::from_f32(DType::F32, vec![12], vec![0.0; 12]).unwrap();
    let err = plan(&manifest, &[flat, n(6)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input 0 (`x`): expected rank 2 (shape [T, N]), found rank 1 (shape [12])"
    );
    let mut broken = x(3);
    broken.shape = vec![4, 4];
    let err = plan(&manifest, &[broken, n(8)]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("input 0 (`x`): the tensor's data does not match"),
        "{err}"
    );
}

#[test]
fn plans_outputs_tiling_and_skips_empty_kernels() {
    let mut manifest = manifest();
    manifest.kernels[1].block_dim = ex("min(T, 8)");
    let planned = plan(&manifest, &[x(0), n(0)]).unwrap();
    assert_eq!(planned.dims, vec![(moge_lower::Symbol::intern("T"), 0)]);
    assert_eq!(planned.kernels[0].block_dim, 1);
    // min(0, 8) = 0 cores for a kernel whose outputs are all empty: skipped.
    assert_eq!(planned.kernels[1].block_dim, 0);
    assert_eq!(planned.tensors[2].shape, vec![0, 4]);
    let fake = Fake::default();
    let sources = sources();
    let launched = launch(
        ProgramRef::new(&manifest, &sources).unwrap(),
        &[x(0), n(0)],
        &fake,
    )
    .unwrap();
    assert_eq!(fake.seen.lock().unwrap().len(), 1);
    assert_eq!(launched.outputs[0].shape, vec![0, 4]);
    // A block dim of 0 for a kernel with something to write is an error.
    manifest.kernels[1].block_dim = ex("T - 3");
    let err = plan(&manifest, &[x(2), n(4)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "program `twice`: the block dim of kernel `k1` `T - 3` is -1; expected 1..=65535"
    );
}

#[test]
fn malformed_manifests_are_refused() {
    let mut manifest = self::manifest();
    manifest.kernels[1].args[0] = "nothing".to_string();
    let err = plan(&manifest, &[x(1), n(2)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "program `twice`: invalid manifest: kernel `k1` takes argument `nothing`, which is not a parameter or intermediate of the program"
    );
    let mut manifest = self::manifest();
    manifest.params[1].role = Role::Intermediate;
    let err = plan(&manifest, &[x(1), n(2)]).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "program `twice`: invalid manifest: parameter `n` has role `intermediate`; expected `input` or `output`"
        ),
        "{err}"
    );
    let mut manifest = self::manifest();
    manifest.intermediates[0].role = Role::Output;
    let err = plan(&manifest, &[x(1), n(2)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "program `twice`: invalid manifest: intermediate `mid` has role `output`; expected `intermediate`"
    );
    let mut manifest = self::manifest();
    manifest.kernels[1].args.retain(|a| a != "m");
    let err = plan(&manifest, &[x(1), n(2)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "program `twice`: invalid manifest: output `m` is an argument of no kernel, so nothing can write it"
    );
    let manifest = self::manifest();
    let one = vec![String::new()];
    let err = ProgramRef::new(&manifest, &one).unwrap_err();
    assert_eq!(
        err.to_string(),
        "program `twice`: invalid manifest: the manifest lists 2 device kernels but 1 sources were given"
    );
}

#[test]
fn a_kernel_workspace_must_fit_in_the_programs() {
    let mut manifest = self::manifest();
    manifest.workspace_bytes = ex("64 * T");
    manifest.kernels[0].workspace_bytes = ex("32 * T");
    manifest.kernels[1].workspace_bytes = ex("64 * T");
    let planned = plan(&manifest, &[x(3), n(6)]).unwrap();
    assert_eq!(planned.workspace_bytes, 192);
    assert_eq!(
        (
            planned.kernels[0].workspace_bytes,
            planned.kernels[1].workspace_bytes
        ),
        (96, 192)
    );
    manifest.kernels[1].workspace_bytes = ex("64 * T + 1");
    let err = plan(&manifest, &[x(3), n(6)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "program `twice`: invalid manifest: kernel `k1` needs a workspace of `64 * T + 1` = 193 bytes, more than the program's `64 * T` = 192"
    );
}

#[test]
fn dims_in_no_input_cannot_be_bound() {
    let mut manifest = manifest();
    manifest.dynamic_dims.push(moge_lower::Symbol::intern("S"));
    manifest.params[3].shape = vec![ex("S")];
    let err = plan(&manifest, &[x(1), n(2)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dynamic dim `S` cannot be bound from the input shapes (no input axis is `S` or an expression of it alone)"
    );
}

#[test]
fn packing_round_trips_every_dtype() {
    // bf16 1.5 is 0x3FC0; f16 1.5 is 0x3E00; -2 in i32 is 0xFFFFFFFE.
    let b = Tensor::from_f32(DType::BF16, vec![1], vec![1.5]).unwrap();
    assert_eq!(pack(&b), vec![0xC0, 0x3F]);
    let h = Tensor::from_f32(DType::F16, vec![1], vec![1.5]).unwrap();
    assert_eq!(pack(&h), vec![0x00, 0x3E]);
    let i = Tensor::from_i32(vec![1], vec![-2]).unwrap();
    assert_eq!(pack(&i), vec![0xFE, 0xFF, 0xFF, 0xFF]);
    let f = Tensor::from_f32(DType::F32, vec![1], vec![1.0]).unwrap();
    assert_eq!(pack(&f), vec![0, 0, 0x80, 0x3F]);
    for t in [b, h, i, f] {
        assert_eq!(unpack(t.dtype, t.shape.clone(), &pack(&t)), t);
    }
    // The fill pattern reads as NaN and -1.
    let nan = unpack(DType::F32, vec![1], &[OUTPUT_FILL; 4]);
    assert!(nan.as_f32().unwrap()[0].is_nan());
    assert_eq!(
        unpack(DType::I32, vec![1], &[OUTPUT_FILL; 4]).as_i32(),
        Some(&[-1][..])
    );
}

#[test]
fn a_source_declaring_another_arity_than_the_manifest_is_refused() {
    let manifest = manifest();
    let good = vec![
        "extern \"C\" __global__ __aicore__ void k0(GM_ADDR x, GM_ADDR mid, GM_ADDR workspace, GM_ADDR tiling) {}".to_string(),
        "// k1(a, b) is mentioned first in a comment;\nextern \"C\" __global__ __aicore__ void k1(\n    GM_ADDR mid, GM_ADDR n, GM_ADDR y, GM_ADDR m, GM_ADDR ws, GM_ADDR t)\n{}".to_string(),
    ];
    let program = ProgramRef::new(&manifest, &good).unwrap();
    assert!(launch(program, &[x(2), n(4)], &Fake::default()).is_ok());
    let short = vec![
        good[0].clone(),
        "extern \"C\" __global__ __aicore__ void k1(GM_ADDR mid, GM_ADDR n, GM_ADDR workspace, GM_ADDR tiling) {}".to_string(),
    ];
    let program = ProgramRef::new(&manifest, &short).unwrap();
    let err = launch(program, &[x(2), n(4)], &Fake::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kernel `k1`: its source declares 4 parameters (mid, n, workspace, tiling), but the manifest passes 6 (mid, n, y, m, workspace, tiling)"
    );
    assert!(prepare(program, &Fake::default()).is_err());
    // A source without the declaration (empty here) is left to the backend.
    assert!(kernel_params("void k1x(int a);", "k1").is_none());
    assert_eq!(
        kernel_params("__global__ void k1(void) {}", "k1"),
        Some(Vec::new())
    );
}
