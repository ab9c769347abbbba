//! `mogec export --cann DIR`: a complete CANN kernel-launch project for one kernel program, laid out
//! as CANN 8.5's own `aclrtBinaryLoadFromFile` sample (hicann/runtime `example/kernel/0_launch_kernel`)
//! is:
//!
//! ```text
//! DIR/
//!   CMakeLists.txt            CANN's kernel cmake (ascendc.cmake): the kernels into one AI-Core ELF
//!                             with ascendc_fatbin_library, main linked against ascendcl
//!   kernels/<k>.cpp           the Ascend C of every device kernel, as moge emits it
//!   kernels/<program>.json    the manifest (the contract main.cpp was generated from)
//!   main.cpp                  the host: tiling from the manifest's expressions, ACL calls, timing
//!   run.sh                    build, gen_data, run, verify
//!   scripts/gen_data.py       data/<input>.npy -> input/<input>.bin (the device's bytes)
//!   scripts/verify_result.py  output/<out>.bin against data/<out>.golden.npy within data/<out>.allowed.npy
//!   data/                     moge's inputs, its interpreter's outputs and the tolerance per element
//!   README.md
//! ```
//!
//! The inputs are the export's (`--input` files or `--random` with `--dim`); the golden outputs and
//! the allowed error per element come from moge's reference interpreter, by the rule moge's own
//! comparison applies (`moge_runtime::report::compare_bounded`).

mod host;
mod project;
mod python;

use std::path::{Path, PathBuf};

use moge_codegen_ascendc::manifest::Role;
use moge_codegen_ascendc::{compile_program_with, CodegenError, Program};
use moge_lower::graph::{DType, Kernel};
use moge_lower::interp::{self, ulp, Bound, EvalError, Tensor};
use moge_lower::opt::FuseMode;
use moge_lower::schedule::ScheduleOptions;
use moge_lower::target::Target;
use moge_runtime::launch::{self, LaunchError};
use moge_runtime::report::{Tolerance, BOUND_ULPS};

use crate::files::{self, Contents, WriteError};
use crate::inputs::{self, Consumer, InputError, RunInputs};

pub use host::c_string;
pub use project::{binary_path, KERNELS_TARGET};

/// What to export.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// The Ascend part.
    pub target: Target,
    /// Dynamic dims given besides the inputs (with random inputs, all of them).
    pub dims: Vec<(String, i64)>,
    /// How much the graph optimizer fuses.
    pub fuse: FuseMode,
    /// How the cube path scores a matmul's candidate tiles (`--tiling rule|model`).
    pub tiling: moge_lower::schedule::cube::Tiling,
    /// Files no output may replace besides the input files (the kernel's source).
    pub keep: Vec<PathBuf>,
}

/// Why a project could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The inputs could not be resolved.
    #[error(transparent)]
    Inputs(#[from] InputError),
    /// The compiler refused the kernel.
    #[error("kernel `{kernel}` cannot be compiled: {source}")]
    Codegen {
        /// The kernel.
        kernel: String,
        /// Why.
        source: CodegenError,
    },
    /// The interpreter failed on the inputs (no golden outputs).
    #[error("kernel `{kernel}`: the reference interpreter failed: {source}")]
    Eval {
        /// The kernel.
        kernel: String,
        /// Why.
        source: Box<EvalError>,
    },
    /// The manifest's expressions cannot be evaluated for the inputs.
    #[error(transparent)]
    Plan(#[from] LaunchError),
    /// The target has no CANN SoC name.
    #[error("target `{0}` has no CANN SoC name (expected ascend910b1 to ascend910b4)")]
    Target(String),
    /// The manifest cannot be turned into host code (a bug in moge).
    #[error("the manifest cannot be exported: {0}")]
    Manifest(String),
    /// The project directory already holds files (a project is written whole into a new or empty
    /// directory, never mixed with or over other files).
    #[error("`{}` is not empty: `mogec export --cann` writes a whole project into a new or empty directory (remove it, or choose another)", dir.display())]
    NotEmpty {
        /// The directory given.
        dir: PathBuf,
    },
    /// The project could not be written (nothing was).
    #[error(transparent)]
    Output(#[from] WriteError),
}

impl ExportError {
    /// The exit status `mogec` uses (as `mogec run`): 2 for usage errors, 101 for a bug in moge, 1
    /// for the rest.
    pub fn exit_code(&self) -> u8 {
        match self {
            ExportError::Inputs(err) => err.exit_code(),
            ExportError::Output(_) | ExportError::Target(_) | ExportError::NotEmpty { .. } => 2,
            ExportError::Codegen { source, .. } if source.is_internal() => 101,
            ExportError::Manifest(_) => 101,
            _ => 1,
        }
    }
}

/// One file of a project: a path relative to the project directory and its contents.
pub type ProjectFile = (String, Contents<'static>);

/// The files of the project of `kernel` on `inputs` (one tensor per parameter), in a fixed order,
/// compiled with `schedule` (fusion and tiling).
pub fn project_files(
    kernel: &Kernel,
    inputs: &[Tensor],
    target: &Target,
    schedule: ScheduleOptions,
) -> Result<Vec<ProjectFile>, ExportError> {
    let program: Program =
        compile_program_with(kernel, target, &schedule).map_err(|source| ExportError::Codegen {
            kernel: kernel.name.clone(),
            source,
        })?;
    let manifest = &program.manifest;
    let (soc, _) = moge_runtime::acl::find::soc_of(&manifest.target)
        .ok_or_else(|| ExportError::Target(manifest.target.clone()))?;
    let plan = launch::plan(manifest, inputs)?;
    let (golden, bounds) =
        interp::eval_with_bounds(kernel, inputs).map_err(|source| ExportError::Eval {
            kernel: kernel.name.clone(),
            source: Box::new(source),
        })?;

    let mut files: Vec<ProjectFile> = Vec::new();
    let text = |s: String| Contents::Bytes(s.into_bytes());
    files.push((
        "CMakeLists.txt".to_string(),
        text(project::cmake_lists(manifest, &soc)),
    ));
    for (entry, source) in manifest
        .kernels
        .iter()
        .zip(launch::program_sources(&program))
    {
        files.push((format!("kernels/{}", entry.source), text(source)));
    }
    files.push((
        format!("kernels/{}.json", manifest.program),
        text(program.manifest_json()),
    ));
    files.push((
        "main.cpp".to_string(),
        text(host::main_cpp(manifest, &plan.dims, &binary_path())?),
    ));
    files.push((
        "run.sh".to_string(),
        text(project::run_sh(manifest, &soc, &plan.dims)),
    ));
    let int_bound = |index: usize| {
        kernel
            .params
            .get(index)
            .map_or(8, |param| interp::int_bound(kernel, param.value))
    };
    let script_inputs = project::script_tensors(manifest, Role::Input, &int_bound)?;
    let script_outputs = project::script_tensors(manifest, Role::Output, &int_bound)?;
    files.push((
        "scripts/gen_data.py".to_string(),
        text(project::gen_data_py(manifest, &plan.dims, &script_inputs)),
    ));
    files.push((
        "scripts/verify_result.py".to_string(),
        text(project::verify_result_py(
            manifest,
            &plan.dims,
            &script_outputs,
        )),
    ));
    files.push((
        "README.md".to_string(),
        text(project::readme(manifest, &soc, &plan.dims)),
    ));
    for (param, tensor) in script_inputs.iter().zip(inputs) {
        files.push((format!("data/{}.npy", param.name), npy(tensor)));
    }
    if golden.len() != script_outputs.len() || bounds.len() != golden.len() {
        return Err(ExportError::Manifest(format!(
            "the interpreter returned {} outputs, the manifest lists {}",
            golden.len(),
            script_outputs.len()
        )));
    }
    for ((param, expected), bound) in script_outputs.iter().zip(&golden).zip(&bounds) {
        files.push((format!("data/{}.golden.npy", param.name), npy(expected)));
        files.push((
            format!("data/{}.allowed.npy", param.name),
            npy(&allowed(expected, bound)),
        ));
    }
    Ok(files)
}

/// Exports the project of `kernel` into `out_dir` (all files or none); returns the paths written.
pub fn export_cann(
    kernel: &Kernel,
    inputs: RunInputs,
    out_dir: &Path,
    options: &ExportOptions,
) -> Result<Vec<PathBuf>, ExportError> {
    if std::fs::read_dir(out_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(ExportError::NotEmpty {
            dir: out_dir.to_path_buf(),
        });
    }
    let resolved = inputs::resolve(kernel, inputs, &options.dims, Consumer::Device)?;
    let mut keep = resolved.input_paths();
    keep.extend(options.keep.iter().cloned());
    let files = project_files(
        kernel,
        &resolved.tensors,
        &options.target,
        ScheduleOptions {
            fuse: options.fuse,
            tiling: options.tiling,
            ..ScheduleOptions::default()
        },
    )?;
    let written = files::write_all(out_dir, &files, &keep)?;
    // run.sh is run directly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let script = out_dir.join("run.sh");
        if let Err(source) =
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        {
            return Err(ExportError::Output(WriteError::Write {
                path: script,
                source,
            }));
        }
    }
    Ok(written)
}

/// A tensor as its own `.npy` file.
fn npy(tensor: &Tensor) -> Contents<'static> {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = moge_runtime::npy::write_npy_to(&mut bytes, tensor);
    Contents::Bytes(bytes)
}

/// The largest difference from `expected` allowed per element, by moge's comparison rule: `2 B[i] +
/// 1 ulp` for an output with a bound from the graph (infinite for an overflow-dependent element), the
/// dtype's table for one without; 0 (exact) for non-finite expected values. In the output's own dtype
/// (bf16 held as float32, as `.npy` files hold it), rounded up so the script never allows less than
/// moge does.
fn allowed(expected: &Tensor, bound: &Bound) -> Tensor {
    let values = expected.to_f64_vec();
    let dtype = expected.dtype;
    let table = Tolerance::for_dtype(dtype);
    let allowed: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, &e)| match bound {
            Bound::Elements(b) if b.len() == values.len() => {
                if b[i].is_infinite() {
                    f64::INFINITY
                } else {
                    2.0 * b[i] + BOUND_ULPS * ulp(dtype, e)
                }
            }
            Bound::Elements(_) => 0.0,
            Bound::NoRule(_) if e.is_finite() => table.abs + table.rel * e.abs(),
            Bound::NoRule(_) => 0.0,
        })
        .collect();
    let shape = expected.shape.clone();
    let tensor = match dtype {
        DType::I32 => Tensor::from_i32(
            shape.clone(),
            // An integer output is compared exactly; an unbounded one (never met) saturates.
            allowed
                .iter()
                .map(|&a| a.ceil().min(f64::from(i32::MAX)) as i32)
                .collect(),
        ),
        _ => Tensor::from_f32(
            dtype,
            shape.clone(),
            allowed.iter().map(|&a| round_up(dtype, a)).collect(),
        ),
    };
    tensor.unwrap_or_else(|_| Tensor::zeros(dtype, shape))
}

/// The smallest value of float `dtype` at least `x` (`x` ≥ 0), as f32.
fn round_up(dtype: DType, x: f64) -> f32 {
    match dtype {
        DType::BF16 => {
            let y = half::bf16::from_f64(x);
            if y.to_f64() < x {
                half::bf16::from_bits(y.to_bits() + 1).to_f32()
            } else {
                y.to_f32()
            }
        }
        DType::F16 => {
            let y = half::f16::from_f64(x);
            if y.to_f64() < x {
                half::f16::from_bits(y.to_bits() + 1).to_f32()
            } else {
                y.to_f32()
            }
        }
        _ => round_up_f32(x),
    }
}

/// The smallest f32 at least `x`.
fn round_up_f32(x: f64) -> f32 {
    let y = x as f32;
    if f64::from(y) < x {
        f32::from_bits(y.to_bits() + 1)
    } else {
        y
    }
}
