//! The launch API: run a compiled program on host tensors through a [`Backend`].
//!
//! A program is a [`Manifest`] and the Ascend C source of each of its device kernels ([`ProgramRef`]:
//! borrowed from a [`Program`] just compiled, or [`LoadedProgram`] read from a build directory).
//! [`launch`]:
//!
//! 1. checks the inputs against the manifest's parameters (count, dtype, rank, every axis) — a mismatch
//!    is an error naming the parameter, what was expected and what was found;
//! 2. binds the dynamic dims from the input shapes with the interpreter's own solver
//!    ([`moge_lower::interp::solve`]: an axis written as a bare dim binds it; an axis that is a linear
//!    expression of one still unbound dim, such as `2 * T`, is solved for it), and checks every axis;
//! 3. evaluates every kernel's block dim, tiling fields and workspace size, and the shapes of the
//!    outputs and GM buffers (intermediates between kernels);
//! 4. packs the inputs as little-endian bytes (`bf16` and `f16` as 16 bits), allocates the outputs and
//!    the intermediates, and launches each device kernel in order through the backend (each with its
//!    own core type, block dim, tiling and part of the workspace); the GM traffic is counted per kernel
//!    and in total;
//! 5. unpacks the outputs into tensors and returns them with a [`LaunchReport`].
//!
//! Steps 1–3 are [`plan`], usable alone to see what a launch would do. Outputs start filled with `0xFF`
//! bytes (NaN for floats, -1 for integers) so that an element a kernel fails to write shows up in a
//! comparison instead of passing as a zero; so do intermediates (a kernel reading one before the kernel
//! that writes it gets NaN). Each kernel's workspace starts as zeros (the backend fills it).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moge_codegen_ascendc::manifest::{self as mf, KernelEntry, ManifestError};
use moge_codegen_ascendc::{Manifest, Program};
use moge_lower::interp::solve::DimError;
use moge_lower::interp::{Tensor, TensorData};
use moge_lower::kir::ExprError;

pub use moge_codegen_ascendc::manifest::Role;
use moge_lower::DType;

use crate::backend::{Backend, BackendError, DeviceArg, DeviceLaunch, KernelSource};
use crate::report::{KernelReport, LaunchReport};

mod plan;

pub use plan::{plan, LaunchPlan, PlannedKernel, PlannedTensor};

/// The byte outputs, intermediates and the workspace are filled with before a launch (NaN for floats).
pub const OUTPUT_FILL: u8 = 0xFF;

/// The largest tensor, buffer or workspace a launch allocates (see [`crate::limits`]).
pub const MAX_ALLOCATION: u64 = crate::limits::MAX_TENSOR_BYTES;

/// A program to launch: its manifest and the source of each device kernel, in manifest order.
#[derive(Copy, Clone, Debug)]
pub struct ProgramRef<'a> {
    manifest: &'a Manifest,
    sources: &'a [String],
}

impl<'a> ProgramRef<'a> {
    /// A program from a manifest and one source per manifest kernel, in order.
    pub fn new(
        manifest: &'a Manifest,
        sources: &'a [String],
    ) -> Result<ProgramRef<'a>, LaunchError> {
        if sources.len() != manifest.kernels.len() {
            return Err(LaunchError::Manifest {
                program: manifest.program.clone(),
                message: format!(
                    "the manifest lists {} device kernels but {} sources were given",
                    manifest.kernels.len(),
                    sources.len()
                ),
            });
        }
        Ok(ProgramRef { manifest, sources })
    }

    /// The manifest.
    pub fn manifest(&self) -> &'a Manifest {
        self.manifest
    }

    /// The device kernels with their sources, in launch order.
    pub fn kernels(&self) -> impl Iterator<Item = (&'a KernelEntry, &'a str)> {
        self.manifest
            .kernels
            .iter()
            .zip(self.sources.iter().map(String::as_str))
    }
}

/// A program read from disk: a manifest and the sources it names.
#[derive(Clone, PartialEq, Debug)]
pub struct LoadedProgram {
    /// The manifest.
    pub manifest: Manifest,
    /// One source per manifest kernel, in order.
    pub sources: Vec<String>,
}

impl LoadedProgram {
    /// Reads a manifest (`.json`) and every kernel source it names, relative to the manifest's
    /// directory.
    pub fn read(manifest_path: &Path) -> Result<LoadedProgram, LaunchError> {
        let manifest = mf::read(manifest_path).map_err(|err| match err {
            mf::ReadError::Io { source, .. } => LaunchError::Read {
                path: manifest_path.to_path_buf(),
                source,
            },
            mf::ReadError::Manifest(err) => LaunchError::BadManifest(err),
        })?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let sources = manifest
            .kernels
            .iter()
            .map(|k| {
                let path = dir.join(&k.source);
                std::fs::read_to_string(&path).map_err(|source| LaunchError::Source {
                    manifest: manifest_path.to_path_buf(),
                    kernel: k.name.clone(),
                    path,
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LoadedProgram { manifest, sources })
    }

    /// The program to launch.
    pub fn as_ref(&self) -> ProgramRef<'_> {
        ProgramRef {
            manifest: &self.manifest,
            sources: &self.sources,
        }
    }
}

/// Sources of a compiled [`Program`], in manifest order, for [`ProgramRef::new`].
pub fn program_sources(program: &Program) -> Vec<String> {
    program
        .manifest
        .kernels
        .iter()
        .map(|entry| {
            program
                .kernels
                .iter()
                .find(|k| k.name == entry.name)
                .map(|k| k.source.clone())
                .unwrap_or_default()
        })
        .collect()
}

/// Why a program could not be launched.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The number of inputs differs from the number of input parameters.
    #[error("program `{program}` takes {} ({params}), found {found}", moge_lower::interp::counted(*expected, "input"))]
    InputCount {
        /// The program.
        program: String,
        /// Input parameters in the manifest.
        expected: usize,
        /// Their names, quoted and comma separated.
        params: String,
        /// Inputs given.
        found: usize,
    },
    /// An input's dtype differs from its parameter's.
    #[error("input {index} (`{param}`): expected dtype {expected}, found {found}")]
    DType {
        /// Position of the input.
        index: usize,
        /// The parameter.
        param: String,
        /// The parameter's dtype.
        expected: mf::TensorDType,
        /// The input's dtype.
        found: DType,
    },
    /// An input's rank differs from its parameter's.
    #[error("input {index} (`{param}`): expected rank {expected} (shape [{declared}]), found rank {found} (shape {shape:?})")]
    Rank {
        /// Position of the input.
        index: usize,
        /// The parameter.
        param: String,
        /// The parameter's shape expressions, comma separated.
        declared: String,
        /// The parameter's rank.
        expected: usize,
        /// The input's rank.
        found: usize,
        /// The input's shape.
        shape: Vec<usize>,
    },
    /// The dynamic dims could not be bound from the input shapes, or an input axis does not have
    /// the size its expression gives (the dim solver of the interpreter, shared; boxed to keep
    /// `LaunchError` small).
    #[error(transparent)]
    Dims(Box<DimError>),
    /// An input tensor is malformed (its data does not match its shape, or it is a bool tensor).
    #[error("input {index} (`{param}`): {message}")]
    BadTensor {
        /// Position of the input.
        index: usize,
        /// The parameter.
        param: String,
        /// What is wrong.
        message: String,
    },
    /// The manifest is malformed: an expression does not parse, a dtype or argument is unknown.
    #[error("program `{program}`: invalid manifest: {message}")]
    Manifest {
        /// The program.
        program: String,
        /// What is wrong.
        message: String,
    },
    /// An expression of the manifest could not be evaluated with the bound dims.
    #[error("program `{program}`: cannot evaluate the {what} `{expr}`: {source}")]
    Eval {
        /// The program.
        program: String,
        /// What it is, e.g. `block dim of kernel `k0``.
        what: String,
        /// The expression.
        expr: String,
        /// Why.
        source: ExprError,
    },
    /// A value of the manifest is out of its range (a negative size, a block dim of 0 or above 65535).
    #[error("program `{program}`: the {what} `{expr}` is {value}; expected {expected}")]
    OutOfRange {
        /// The program.
        program: String,
        /// What it is.
        what: String,
        /// The expression.
        expr: String,
        /// Its value.
        value: i64,
        /// The accepted range.
        expected: &'static str,
    },
    /// A tensor, buffer or workspace would be larger than [`MAX_ALLOCATION`].
    #[error("program `{program}`: {what} would take {bytes} bytes, more than the limit of {MAX_ALLOCATION}")]
    TooLarge {
        /// The program.
        program: String,
        /// What it is.
        what: String,
        /// Its size (saturated).
        bytes: u128,
    },
    /// The backend failed on a kernel.
    #[error(
        "kernel `{kernel}` {} the {}: {source}",
        if source.never_ran() { "cannot run on" } else { "failed on" },
        crate::backend::shown_name(backend)
    )]
    Backend {
        /// The device kernel.
        kernel: String,
        /// The backend's name.
        backend: &'static str,
        /// Why.
        #[source]
        source: BackendError,
    },
    /// A backend gave back different arguments than it was given.
    #[error("kernel `{kernel}`: the {backend} returned {message}")]
    BadRun {
        /// The device kernel.
        kernel: String,
        /// The backend's name.
        backend: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A manifest file is not a valid manifest of this version.
    #[error(transparent)]
    BadManifest(#[from] ManifestError),
    /// A kernel source the manifest names could not be read.
    #[error("`{}`: kernel `{kernel}` has source `{}`, which cannot be read: {source}", manifest.display(), path.display())]
    Source {
        /// The manifest.
        manifest: PathBuf,
        /// The kernel.
        kernel: String,
        /// The source file, as resolved against the manifest's directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A kernel's source declares a different number of parameters than the manifest passes.
    #[error("kernel `{kernel}`: its source declares {declared} parameters ({names}), but the manifest passes {passed} ({args})")]
    Signature {
        /// The device kernel.
        kernel: String,
        /// Parameters in the source's declaration.
        declared: usize,
        /// Their names, comma separated.
        names: String,
        /// Arguments the manifest passes (its `args`, the workspace and the tiling).
        passed: usize,
        /// Their names, comma separated.
        args: String,
    },
    /// A manifest or source file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl From<DimError> for LaunchError {
    fn from(err: DimError) -> LaunchError {
        LaunchError::Dims(Box::new(err))
    }
}

/// The outputs of a launch and what it measured.
#[derive(Clone, PartialEq, Debug)]
pub struct Launched {
    /// The outputs, in manifest order.
    pub outputs: Vec<Tensor>,
    /// What the launch did.
    pub report: LaunchReport,
}

/// Gets every device kernel of `program` ready on `backend` (compiles it, or finds it in the cache).
/// Returns the time it took.
pub fn prepare(program: ProgramRef<'_>, backend: &dyn Backend) -> Result<Duration, LaunchError> {
    let start = Instant::now();
    check_signatures(program)?;
    for (entry, source) in program.kernels() {
        let kernel = KernelSource {
            name: &entry.name,
            source,
            core_type: entry.core_type,
            target: &program.manifest.target,
        };
        backend
            .prepare(&kernel)
            .map_err(|source| LaunchError::Backend {
                kernel: entry.name.clone(),
                backend: backend.name(),
                source,
            })?;
    }
    Ok(start.elapsed())
}

/// Runs `program` on `inputs` (one per input parameter, in order) through `backend`.
pub fn launch(
    program: ProgramRef<'_>,
    inputs: &[Tensor],
    backend: &dyn Backend,
) -> Result<Launched, LaunchError> {
    let start = Instant::now();
    check_signatures(program)?;
    let plan = plan(program.manifest, inputs)?;
    // An input is packed just before the first kernel that takes it and dropped after the last
    // one (the host keeps its tensor), so that a program whose kernels each take one large weight
    // holds one packed weight at a time.
    let mut last_use = vec![None; plan.tensors.len()];
    for (index, planned) in plan.kernels.iter().enumerate() {
        if planned.block_dim > 0 {
            for &t in &planned.args {
                last_use[t] = Some(index);
            }
        }
    }
    let mut gm: Vec<Vec<u8>> = Vec::with_capacity(plan.tensors.len());
    for tensor in &plan.tensors {
        gm.push(match tensor.role {
            Role::Input => Vec::new(),
            // Nothing the program has not written reads as a number: a kernel reading an
            // intermediate before the kernel that writes it (a wrong launch order) gets NaN.
            Role::Output | Role::Intermediate | Role::Workspace => {
                vec![OUTPUT_FILL; tensor.bytes as usize]
            }
        });
    }
    let mut packed = vec![false; plan.tensors.len()];
    let mut kernels = Vec::with_capacity(plan.kernels.len());
    for ((index, planned), (entry, source)) in
        plan.kernels.iter().enumerate().zip(program.kernels())
    {
        let mut report = KernelReport {
            name: planned.name.clone(),
            core_type: planned.core_type.to_string(),
            block_dim: planned.block_dim,
            tiling: planned.tiling.clone(),
            workspace_bytes: planned.workspace_bytes,
            gm_bytes_read: Some(0),
            gm_bytes_written: Some(0),
            ub_bytes: planned.ub_bytes,
            ub_high_water: Some(0),
            wall: Duration::ZERO,
            host_wall: Duration::ZERO,
            modeled: None,
        };
        if planned.block_dim == 0 {
            kernels.push(report);
            continue;
        }
        for &t in &planned.args {
            if plan.tensors[t].role == Role::Input && !packed[t] {
                gm[t] = pack(&inputs[t]);
                packed[t] = true;
            }
        }
        let args = planned
            .args
            .iter()
            .map(|&t| DeviceArg {
                name: plan.tensors[t].name.clone(),
                bytes: std::mem::take(&mut gm[t]),
                is_output: plan.tensors[t].role != Role::Input,
            })
            .collect();
        let device = DeviceLaunch {
            kernel: KernelSource {
                name: &entry.name,
                source,
                core_type: entry.core_type,
                target: &program.manifest.target,
            },
            block_dim: planned.block_dim,
            args,
            workspace_bytes: planned.workspace_bytes,
            tiling: plan.tiling_bytes(index),
        };
        let call = Instant::now();
        let run = backend
            .launch(device)
            .map_err(|source| LaunchError::Backend {
                kernel: planned.name.clone(),
                backend: backend.name(),
                source,
            })?;
        report.host_wall = call.elapsed();
        if run.args.len() != planned.args.len() {
            return Err(LaunchError::BadRun {
                kernel: planned.name.clone(),
                backend: backend.name(),
                message: format!(
                    "{} arguments, {} were passed",
                    run.args.len(),
                    planned.args.len()
                ),
            });
        }
        for (&t, arg) in planned.args.iter().zip(run.args) {
            if arg.bytes.len() as u64 != plan.tensors[t].bytes {
                return Err(LaunchError::BadRun {
                    kernel: planned.name.clone(),
                    backend: backend.name(),
                    message: format!(
                        "{} bytes for `{}`, which has {}",
                        arg.bytes.len(),
                        plan.tensors[t].name,
                        plan.tensors[t].bytes
                    ),
                });
            }
            gm[t] = arg.bytes;
        }
        for &t in &planned.args {
            if plan.tensors[t].role == Role::Input && last_use[t] == Some(index) {
                gm[t] = Vec::new();
            }
        }
        report.gm_bytes_read = run.gm_bytes_read;
        report.gm_bytes_written = run.gm_bytes_written;
        report.ub_high_water = run.ub_high_water;
        report.wall = run.wall;
        report.modeled = run.modeled;
        kernels.push(report);
    }
    let mut outputs = Vec::new();
    for (tensor, bytes) in plan.tensors.iter().zip(&gm) {
        if tensor.role == Role::Output {
            outputs.push(unpack(tensor.dtype, tensor.shape.clone(), bytes));
        }
    }
    let report = LaunchReport {
        program: plan.program.clone(),
        backend: backend.name().to_string(),
        dims: plan.dims.clone(),
        kernels,
        compulsory_bytes: plan.compulsory_bytes(),
        input_bytes: plan.input_bytes(),
        output_bytes: plan.output_bytes(),
        host_wall: start.elapsed(),
    };
    Ok(Launched { outputs, report })
}

/// Checks that every kernel's source declares as many parameters as the manifest passes (its
/// arguments, the workspace and the tiling): a kernel called with the wrong arity would read its
/// tiling from another argument. A source in which the `__global__` declaration of the kernel cannot
/// be found is left to the backend, which reports a missing kernel by name.
fn check_signatures(program: ProgramRef<'_>) -> Result<(), LaunchError> {
    for (entry, source) in program.kernels() {
        let Some(names) = kernel_params(source, &entry.name) else {
            continue;
        };
        let passed = entry.args.len() + 2;
        if names.len() != passed {
            let mut args = entry.args.clone();
            args.extend(["workspace".to_string(), "tiling".to_string()]);
            return Err(LaunchError::Signature {
                kernel: entry.name.clone(),
                declared: names.len(),
                names: names.join(", "),
                passed,
                args: args.join(", "),
            });
        }
    }
    Ok(())
}

/// The parameter names of the `__global__` function `name` declared in `source`, if its declaration
/// can be found (the last identifier of each parameter: `GM_ADDR x` gives `x`).
fn kernel_params(source: &str, name: &str) -> Option<Vec<String>> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(pos) = source[from..].find(name) {
        let at = from + pos;
        from = at + name.len();
        let whole = !source[..at].ends_with(is_ident) && !source[from..].starts_with(is_ident);
        let rest = source[from..].trim_start();
        // The declaration runs from the end of the previous statement or block.
        let start = source[..at].rfind([';', '}', '{']).map_or(0, |i| i + 1);
        if !whole || !rest.starts_with('(') || !source[start..at].contains("__global__") {
            continue;
        }
        let inside = &rest[1..rest.find(')')?];
        if inside.trim().is_empty() || inside.trim() == "void" {
            return Some(Vec::new());
        }
        return Some(
            inside
                .split(',')
                .map(|p| {
                    let p = p.trim_end_matches(|c: char| !is_ident(c));
                    let begin = p.rfind(|c: char| !is_ident(c)).map_or(0, |i| i + 1);
                    p[begin..].to_string()
                })
                .collect(),
        );
    }
    None
}

/// The bytes of a tensor as a kernel sees them in GM: little-endian, 16-bit floats as their bits.
///
/// The tensor must be consistent (`len()` elements of its dtype); [`plan`] checks that.
pub fn pack(tensor: &Tensor) -> Vec<u8> {
    let mut out = Vec::with_capacity(tensor.len() * tensor.dtype.size_bytes());
    match (&tensor.data, tensor.dtype) {
        (TensorData::F32(values), DType::BF16) => {
            for v in values {
                out.extend(half::bf16::from_f32(*v).to_bits().to_le_bytes());
            }
        }
        (TensorData::F32(values), DType::F16) => {
            for v in values {
                out.extend(half::f16::from_f32(*v).to_bits().to_le_bytes());
            }
        }
        (TensorData::F32(values), _) => {
            for v in values {
                out.extend(v.to_le_bytes());
            }
        }
        (TensorData::I32(values), _) => {
            for v in values {
                out.extend(v.to_le_bytes());
            }
        }
        (TensorData::Bool(values), _) => out.extend(values.iter().map(|&b| u8::from(b))),
    }
    out
}

/// A tensor of `dtype` and `shape` from GM bytes (the inverse of [`pack`]); missing trailing bytes read
/// as `0xFF` (NaN, -1), which [`launch`] never produces.
pub fn unpack(dtype: DType, shape: Vec<usize>, bytes: &[u8]) -> Tensor {
    let n: usize = shape.iter().product();
    let width = dtype.size_bytes();
    let element = |i: usize| -> [u8; 4] {
        let mut raw = [OUTPUT_FILL; 4];
        for (k, slot) in raw.iter_mut().enumerate().take(width) {
            if let Some(&b) = bytes.get(i * width + k) {
                *slot = b;
            }
        }
        raw
    };
    let data = match dtype {
        DType::F32 => TensorData::F32((0..n).map(|i| f32::from_le_bytes(element(i))).collect()),
        DType::BF16 => TensorData::F32(
            (0..n)
                .map(|i| {
                    let [a, b, ..] = element(i);
                    half::bf16::from_bits(u16::from_le_bytes([a, b])).to_f32()
                })
                .collect(),
        ),
        DType::F16 => TensorData::F32(
            (0..n)
                .map(|i| {
                    let [a, b, ..] = element(i);
                    half::f16::from_bits(u16::from_le_bytes([a, b])).to_f32()
                })
                .collect(),
        ),
        DType::I32 => TensorData::I32((0..n).map(|i| i32::from_le_bytes(element(i))).collect()),
        DType::Bool => TensorData::Bool((0..n).map(|i| element(i)[0] != 0).collect()),
    };
    Tensor { dtype, shape, data }
}

#[cfg(test)]
mod tests;
