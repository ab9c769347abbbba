//! The launch API: run a compiled program on host tensors through a [`Backend`].
//!
//! A program is a [`Manifest`] and the Ascend C source of each of its device kernels ([`ProgramRef`]:
//! borrowed from a [`Program`] just compiled, or [`LoadedProgram`] read from a build directory).
//! [`launch`]:
//!
//! 1. checks the inputs against the manifest's parameters (count, dtype, rank, every axis) — a mismatch
//!    is an error naming the parameter, what was expected and what was found;
//! 2. binds the dynamic dims from the input shapes (an axis written as a bare dim binds it; an axis
//!    that is a linear expression of one still unbound dim, such as `2 * T`, is solved for it);
//! 3. evaluates every kernel's block dim, tiling fields and workspace size, and the shapes of the
//!    outputs and GM buffers (intermediates between kernels);
//! 4. packs the inputs as little-endian bytes (`bf16` and `f16` as 16 bits), allocates the outputs and
//!    buffers, and launches each device kernel in order through the backend;
//! 5. unpacks the outputs into tensors and returns them with a [`LaunchReport`].
//!
//! Steps 1–3 are [`plan`], usable alone to see what a launch would do. Outputs start filled with `0xFF`
//! bytes (NaN for floats, -1 for integers) so that an element a kernel fails to write shows up in a
//! comparison instead of passing as a zero; buffers and the workspace start as zeros.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moge_codegen_ascendc::manifest::{KernelEntry, Param};
use moge_codegen_ascendc::{Manifest, Program};
use moge_lower::interp::{Tensor, TensorData};
use moge_lower::kir::{Expr, ExprError};
use moge_lower::DType;

use crate::backend::{Backend, BackendError, DeviceArg, DeviceLaunch, KernelSource};
use crate::report::{KernelReport, LaunchReport};

/// The byte outputs are filled with before a launch.
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
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| LaunchError::Read {
                path: path.to_path_buf(),
                source,
            })
        };
        let text = read(manifest_path)?;
        let manifest = Manifest::from_json(&text).map_err(|err| LaunchError::Manifest {
            program: manifest_path.display().to_string(),
            message: format!("not a moge manifest: {err}"),
        })?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let sources = manifest
            .kernels
            .iter()
            .map(|k| read(&dir.join(&k.source)))
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
    #[error("program `{program}` takes {expected} inputs ({params}), found {found}")]
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
        expected: String,
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
    /// An input's axis does not have the size its parameter's shape gives.
    #[error(
        "input {index} (`{param}`): axis {axis} is {}{origin}, found {found}",
        dim_text(dim, *expected)
    )]
    Shape {
        /// Position of the input.
        index: usize,
        /// The parameter.
        param: String,
        /// The axis.
        axis: usize,
        /// The axis's shape expression.
        dim: String,
        /// What it evaluates to.
        expected: i64,
        /// Where its dynamic dims were bound, e.g. ` (T bound by `logits` axis 0)`, or empty.
        origin: String,
        /// The input's size on that axis.
        found: usize,
    },
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
    /// A dynamic dim appears in no input axis from which it can be bound.
    #[error("program `{program}`: dynamic dim `{dim}` cannot be bound from the input shapes (no input axis is `{dim}` or a linear expression of it alone)")]
    UnboundDim {
        /// The program.
        program: String,
        /// The dim.
        dim: String,
    },
    /// An axis that determines a dim by a linear expression has a size no value of the dim gives.
    #[error("input {index} (`{param}`): axis {axis} is `{dim}`, which no value of `{sym}` makes {found}")]
    Unsolvable {
        /// Position of the input.
        index: usize,
        /// The parameter.
        param: String,
        /// The axis.
        axis: usize,
        /// The axis's shape expression.
        dim: String,
        /// The dim being solved for.
        sym: String,
        /// The input's size on that axis.
        found: usize,
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
    #[error("kernel `{kernel}` failed on the {backend}: {source}")]
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
    /// A manifest or source file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What a launch will do, worked out from the manifest and the input shapes.
#[derive(Clone, PartialEq, Debug)]
pub struct LaunchPlan {
    /// The program.
    pub program: String,
    /// The dynamic dims, in manifest order, with their values.
    pub dims: Vec<(String, i64)>,
    /// Every GM tensor: the inputs in order, the outputs in order, then the buffers.
    pub tensors: Vec<PlannedTensor>,
    /// The device kernels, in launch order.
    pub kernels: Vec<PlannedKernel>,
}

/// A GM tensor of a planned launch.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PlannedTensor {
    /// Its name.
    pub name: String,
    /// Input, output or buffer.
    pub role: Role,
    /// Its dtype.
    pub dtype: DType,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a GM tensor is to the program.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Role {
    /// Read by the program.
    Input,
    /// Written by the program and returned.
    Output,
    /// Written by one kernel and read by a later one.
    Buffer,
}

/// A device kernel of a planned launch.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PlannedKernel {
    /// The `extern "C"` symbol.
    pub name: String,
    /// `aiv`, `aic` or `mix`.
    pub core_type: String,
    /// Cores to launch; 0 when the kernel has nothing to do and is skipped (every tensor it writes is
    /// empty).
    pub block_dim: u32,
    /// The tiling fields with their values, in order.
    pub tiling: Vec<(String, i64)>,
    /// Workspace bytes.
    pub workspace_bytes: u64,
    /// Its GM arguments as indices into [`LaunchPlan::tensors`], in parameter order.
    pub args: Vec<usize>,
    /// UB bytes per core the compiler planned.
    pub ub_bytes: u64,
}

impl LaunchPlan {
    /// Bytes of every input read once plus every output written once.
    pub fn compulsory_bytes(&self) -> u64 {
        self.input_bytes() + self.output_bytes()
    }

    /// Bytes of the inputs.
    pub fn input_bytes(&self) -> u64 {
        self.bytes_of(Role::Input)
    }

    /// Bytes of the outputs.
    pub fn output_bytes(&self) -> u64 {
        self.bytes_of(Role::Output)
    }

    fn bytes_of(&self, role: Role) -> u64 {
        self.tensors
            .iter()
            .filter(|t| t.role == role)
            .map(|t| t.bytes)
            .sum()
    }

    /// The tiling struct of kernel `index`: every field as a little-endian `int64_t`, in order.
    pub fn tiling_bytes(&self, index: usize) -> Vec<u8> {
        self.kernels
            .get(index)
            .map(|k| k.tiling.iter().flat_map(|(_, v)| v.to_le_bytes()).collect())
            .unwrap_or_default()
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
    for (entry, source) in program.kernels() {
        let kernel = KernelSource {
            name: &entry.name,
            source,
            core_type: &entry.core_type,
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
    let plan = plan(program.manifest, inputs)?;
    let mut gm: Vec<Vec<u8>> = Vec::with_capacity(plan.tensors.len());
    for (i, tensor) in plan.tensors.iter().enumerate() {
        gm.push(match tensor.role {
            Role::Input => pack(&inputs[i]),
            Role::Output => vec![OUTPUT_FILL; tensor.bytes as usize],
            Role::Buffer => vec![0; tensor.bytes as usize],
        });
    }
    let mut kernels = Vec::with_capacity(plan.kernels.len());
    for ((index, planned), (entry, source)) in
        plan.kernels.iter().enumerate().zip(program.kernels())
    {
        let mut report = KernelReport {
            name: planned.name.clone(),
            core_type: planned.core_type.clone(),
            block_dim: planned.block_dim,
            tiling: planned.tiling.clone(),
            workspace_bytes: planned.workspace_bytes,
            gm_bytes_read: Some(0),
            gm_bytes_written: Some(0),
            ub_bytes: planned.ub_bytes,
            ub_high_water: Some(0),
            wall: Duration::ZERO,
            host_wall: Duration::ZERO,
        };
        if planned.block_dim == 0 {
            kernels.push(report);
            continue;
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
                core_type: &entry.core_type,
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
        report.gm_bytes_read = run.gm_bytes_read;
        report.gm_bytes_written = run.gm_bytes_written;
        report.ub_high_water = run.ub_high_water;
        report.wall = run.wall;
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

/// Checks `inputs` against `manifest`, binds the dynamic dims and evaluates every expression of the
/// manifest: everything [`launch`] does before calling the backend.
pub fn plan(manifest: &Manifest, inputs: &[Tensor]) -> Result<LaunchPlan, LaunchError> {
    Planner::new(manifest)?.plan(inputs)
}

/// A manifest with its expressions parsed.
struct Planner<'m> {
    manifest: &'m Manifest,
    inputs: Vec<ParsedParam<'m>>,
    outputs: Vec<ParsedParam<'m>>,
    buffers: Vec<ParsedParam<'m>>,
    kernels: Vec<ParsedKernel<'m>>,
}

struct ParsedParam<'m> {
    param: &'m Param,
    dtype: DType,
    shape: Vec<Expr>,
}

struct ParsedKernel<'m> {
    entry: &'m KernelEntry,
    block_dim: Expr,
    tiling: Vec<(&'m str, Expr)>,
    workspace: Expr,
    args: Vec<usize>,
}

/// Where a dynamic dim got its value.
struct Binding {
    name: String,
    value: i64,
    param: String,
    axis: usize,
}

impl<'m> Planner<'m> {
    fn new(manifest: &'m Manifest) -> Result<Planner<'m>, LaunchError> {
        let bad = |message: String| LaunchError::Manifest {
            program: manifest.program.clone(),
            message,
        };
        let parse = |text: &str, what: &dyn Fn() -> String| {
            Expr::parse(text)
                .map_err(|err| bad(format!("{} `{text}` does not parse: {err}", what())))
        };
        let parse_param = |param: &'m Param| -> Result<ParsedParam<'m>, LaunchError> {
            let dtype = DType::from_name(&param.dtype)
                .filter(|d| *d != DType::Bool)
                .ok_or_else(|| {
                    bad(format!(
                        "{} `{}` has dtype `{}`; expected bf16, f16, f32 or i32",
                        param.role, param.name, param.dtype
                    ))
                })?;
            let shape = param
                .shape
                .iter()
                .enumerate()
                .map(|(axis, text)| parse(text, &|| format!("axis {axis} of `{}`", param.name)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ParsedParam {
                param,
                dtype,
                shape,
            })
        };
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for param in &manifest.params {
            match param.role.as_str() {
                "input" => inputs.push(parse_param(param)?),
                "output" => outputs.push(parse_param(param)?),
                other => {
                    return Err(bad(format!(
                        "parameter `{}` has role `{other}`; expected `input` or `output`",
                        param.name
                    )))
                }
            }
        }
        let buffers = manifest
            .buffers
            .iter()
            .map(parse_param)
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<&str> = inputs
            .iter()
            .chain(&outputs)
            .chain(&buffers)
            .map(|p| p.param.name.as_str())
            .collect();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(bad(format!("tensor `{name}` is declared twice")));
            }
        }
        let mut kernels = Vec::new();
        for entry in &manifest.kernels {
            let of = |what: &str| format!("{what} of kernel `{}`", entry.name);
            let block_dim = parse(&entry.block_dim, &|| of("block dim"))?;
            let workspace = parse(&entry.workspace_bytes, &|| of("workspace size"))?;
            let tiling = entry
                .tiling
                .iter()
                .map(|field| {
                    parse(&field.expr, &|| {
                        of(&format!("tiling field `{}`", field.name))
                    })
                    .map(|e| (field.name.as_str(), e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut args = Vec::new();
            for arg in &entry.args {
                let index = names.iter().position(|n| n == arg).ok_or_else(|| {
                    bad(format!(
                        "kernel `{}` takes argument `{arg}`, which is not a parameter or buffer of the program",
                        entry.name
                    ))
                })?;
                if args.contains(&index) {
                    return Err(bad(format!(
                        "kernel `{}` takes argument `{arg}` twice",
                        entry.name
                    )));
                }
                args.push(index);
            }
            kernels.push(ParsedKernel {
                entry,
                block_dim,
                tiling,
                workspace,
                args,
            });
        }
        Ok(Planner {
            manifest,
            inputs,
            outputs,
            buffers,
            kernels,
        })
    }

    fn program(&self) -> String {
        self.manifest.program.clone()
    }

    fn plan(&self, inputs: &[Tensor]) -> Result<LaunchPlan, LaunchError> {
        if inputs.len() != self.inputs.len() {
            let params: Vec<String> = self
                .inputs
                .iter()
                .map(|p| format!("`{}`", p.param.name))
                .collect();
            return Err(LaunchError::InputCount {
                program: self.program(),
                expected: self.inputs.len(),
                params: params.join(", "),
                found: inputs.len(),
            });
        }
        for (index, (param, tensor)) in self.inputs.iter().zip(inputs).enumerate() {
            self.check_input(index, param, tensor)?;
        }
        let bindings = self.bind(inputs)?;
        let value = |name: &str| -> Option<i64> {
            bindings
                .iter()
                .find(|b| b.name == name)
                .map(|b| b.value)
                .or_else(|| self.manifest.bindings.get(name).copied())
        };
        // Every input axis must have the size its expression gives.
        for (index, (param, tensor)) in self.inputs.iter().zip(inputs).enumerate() {
            for (axis, (expr, &found)) in param.shape.iter().zip(&tensor.shape).enumerate() {
                let what = || format!("axis {axis} of input `{}`", param.param.name);
                let expected = self.eval(expr, &value, &what)?;
                // A negative size is wrong whatever the input holds: say so rather than "found 0".
                if expected < 0 {
                    return Err(self.out_of_range(&what(), expr, expected, "a size of 0 or more"));
                }
                if expected != found as i64 {
                    let origin: Vec<String> = expr
                        .dims()
                        .iter()
                        .filter_map(|d| bindings.iter().find(|b| b.name == *d))
                        .filter(|b| !(b.param == param.param.name && b.axis == axis))
                        .map(|b| {
                            format!(
                                "{} = {} bound by `{}` axis {}",
                                b.name, b.value, b.param, b.axis
                            )
                        })
                        .collect();
                    return Err(LaunchError::Shape {
                        index,
                        param: param.param.name.clone(),
                        axis,
                        dim: expr.to_string(),
                        expected,
                        origin: if origin.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", origin.join(", "))
                        },
                        found,
                    });
                }
            }
        }
        let mut tensors = Vec::new();
        for (param, tensor) in self.inputs.iter().zip(inputs) {
            tensors.push(PlannedTensor {
                name: param.param.name.clone(),
                role: Role::Input,
                dtype: param.dtype,
                shape: tensor.shape.clone(),
                bytes: self.size(param, &tensor.shape)?,
            });
        }
        for (role, params) in [(Role::Output, &self.outputs), (Role::Buffer, &self.buffers)] {
            for param in params {
                let mut shape = Vec::with_capacity(param.shape.len());
                for (axis, expr) in param.shape.iter().enumerate() {
                    let what =
                        || format!("axis {axis} of {} `{}`", param.param.role, param.param.name);
                    let size = self.eval(expr, &value, &what)?;
                    let size = usize::try_from(size).map_err(|_| {
                        self.out_of_range(&what(), expr, size, "a size of 0 or more")
                    })?;
                    shape.push(size);
                }
                tensors.push(PlannedTensor {
                    name: param.param.name.clone(),
                    role,
                    dtype: param.dtype,
                    bytes: self.size(param, &shape)?,
                    shape,
                });
            }
        }
        let mut kernels = Vec::with_capacity(self.kernels.len());
        for kernel in &self.kernels {
            let name = &kernel.entry.name;
            let what = |w: &str| format!("{w} of kernel `{name}`");
            let block_dim = self.eval(&kernel.block_dim, &value, &|| what("block dim"))?;
            let writes_nothing = kernel
                .args
                .iter()
                .all(|&t| tensors[t].role == Role::Input || tensors[t].bytes == 0);
            let block_dim = match u32::try_from(block_dim) {
                Ok(0) if writes_nothing => 0,
                Ok(n @ 1..=65535) => n,
                _ => {
                    return Err(self.out_of_range(
                        &what("block dim"),
                        &kernel.block_dim,
                        block_dim,
                        "1..=65535",
                    ))
                }
            };
            let mut tiling = Vec::with_capacity(kernel.tiling.len());
            for (field, expr) in &kernel.tiling {
                let v = self.eval(expr, &value, &|| what(&format!("tiling field `{field}`")))?;
                tiling.push((field.to_string(), v));
            }
            let workspace = self.eval(&kernel.workspace, &value, &|| what("workspace size"))?;
            let workspace_bytes = u64::try_from(workspace)
                .ok()
                .filter(|&w| w <= MAX_ALLOCATION)
                .ok_or_else(|| {
                    self.out_of_range(
                        &what("workspace size"),
                        &kernel.workspace,
                        workspace,
                        "0..=17179869184 bytes",
                    )
                })?;
            kernels.push(PlannedKernel {
                name: name.clone(),
                core_type: kernel.entry.core_type.clone(),
                block_dim,
                tiling,
                workspace_bytes,
                args: kernel.args.clone(),
                ub_bytes: kernel.entry.ub_bytes,
            });
        }
        Ok(LaunchPlan {
            program: self.program(),
            dims: bindings.into_iter().map(|b| (b.name, b.value)).collect(),
            tensors,
            kernels,
        })
    }

    fn check_input(
        &self,
        index: usize,
        param: &ParsedParam<'_>,
        tensor: &Tensor,
    ) -> Result<(), LaunchError> {
        let name = &param.param.name;
        if tensor.dtype != param.dtype {
            return Err(LaunchError::DType {
                index,
                param: name.clone(),
                expected: param.param.dtype.clone(),
                found: tensor.dtype,
            });
        }
        if tensor.shape.len() != param.shape.len() {
            return Err(LaunchError::Rank {
                index,
                param: name.clone(),
                declared: param.param.shape.join(", "),
                expected: param.shape.len(),
                found: tensor.shape.len(),
                shape: tensor.shape.clone(),
            });
        }
        let data_ok = matches!(
            (&tensor.data, tensor.dtype),
            (TensorData::F32(_), DType::BF16 | DType::F16 | DType::F32)
                | (TensorData::I32(_), DType::I32)
        );
        if !data_ok || !tensor.is_consistent() {
            return Err(LaunchError::BadTensor {
                index,
                param: name.clone(),
                message: format!(
                    "the tensor's data does not match its dtype {} and shape {:?} ({} elements held)",
                    tensor.dtype,
                    tensor.shape,
                    tensor.len()
                ),
            });
        }
        Ok(())
    }

    /// Binds every dynamic dim from the input shapes: axes that are a bare dim first, then axes that
    /// are a linear expression of a single unbound dim, until nothing changes.
    fn bind(&self, inputs: &[Tensor]) -> Result<Vec<Binding>, LaunchError> {
        let dynamic = &self.manifest.dynamic_dims;
        let mut bindings: Vec<Binding> = Vec::new();
        for bare_only in [true, false] {
            loop {
                let mut progress = false;
                for (param, tensor) in self.inputs.iter().zip(inputs) {
                    for (axis, (expr, &found)) in param.shape.iter().zip(&tensor.shape).enumerate()
                    {
                        if bare_only && !matches!(expr, Expr::Dim(_)) {
                            continue;
                        }
                        let Some(sym) = self.single_unbound(expr, &bindings) else {
                            continue;
                        };
                        let Some(value) = self.solve(expr, sym, found as i64, &bindings) else {
                            continue;
                        };
                        bindings.push(Binding {
                            name: sym.to_string(),
                            value,
                            param: param.param.name.clone(),
                            axis,
                        });
                        progress = true;
                    }
                }
                if !progress {
                    break;
                }
            }
        }
        for dim in dynamic {
            if bindings.iter().any(|b| &b.name == dim) {
                continue;
            }
            // Name the axis that should have bound it, if there is one.
            for (index, (param, tensor)) in self.inputs.iter().zip(inputs).enumerate() {
                for (axis, (expr, &found)) in param.shape.iter().zip(&tensor.shape).enumerate() {
                    if self.single_unbound(expr, &bindings) == Some(dim.as_str()) {
                        return Err(LaunchError::Unsolvable {
                            index,
                            param: param.param.name.clone(),
                            axis,
                            dim: expr.to_string(),
                            sym: dim.clone(),
                            found,
                        });
                    }
                }
            }
            return Err(LaunchError::UnboundDim {
                program: self.program(),
                dim: dim.clone(),
            });
        }
        // Manifest order.
        bindings.sort_by_key(|b| dynamic.iter().position(|d| *d == b.name));
        Ok(bindings)
    }

    /// The only dim of `expr` without a value, if it is a dynamic dim and the only one.
    fn single_unbound<'e>(&self, expr: &'e Expr, bindings: &[Binding]) -> Option<&'e str> {
        let mut unbound = expr.dims().into_iter().filter(|d| {
            !bindings.iter().any(|b| b.name == *d) && !self.manifest.bindings.contains_key(*d)
        });
        let sym = unbound.next()?;
        let dynamic = self.manifest.dynamic_dims.iter().any(|d| d == sym);
        (unbound.next().is_none() && dynamic).then_some(sym)
    }

    /// Solves `expr(sym) = found` for `sym >= 0`, when `expr` is linear in `sym` (checked at three
    /// points) and every other dim has a value.
    fn solve(&self, expr: &Expr, sym: &str, found: i64, bindings: &[Binding]) -> Option<i64> {
        if let Expr::Dim(name) = expr {
            return (name == sym).then_some(found);
        }
        let at = |x: i64| {
            expr.eval(&|name: &str| {
                if name == sym {
                    Some(x)
                } else {
                    bindings
                        .iter()
                        .find(|b| b.name == name)
                        .map(|b| b.value)
                        .or_else(|| self.manifest.bindings.get(name).copied())
                }
            })
            .ok()
        };
        let (f0, f1, f2) = (at(0)?, at(1)?, at(2)?);
        let slope = f1.checked_sub(f0)?;
        if slope == 0 || f2.checked_sub(f1)? != slope {
            return None;
        }
        let offset = found.checked_sub(f0)?;
        if offset % slope != 0 || offset / slope < 0 {
            return None;
        }
        let x = offset / slope;
        // The three-point test cannot see `min`/`max` kinks beyond 2: check the solution itself.
        (at(x)? == found).then_some(x)
    }

    fn eval(
        &self,
        expr: &Expr,
        value: &dyn Fn(&str) -> Option<i64>,
        what: &dyn Fn() -> String,
    ) -> Result<i64, LaunchError> {
        expr.eval(value).map_err(|source| LaunchError::Eval {
            program: self.program(),
            what: what(),
            expr: expr.to_string(),
            source,
        })
    }

    fn out_of_range(
        &self,
        what: &str,
        expr: &Expr,
        value: i64,
        expected: &'static str,
    ) -> LaunchError {
        LaunchError::OutOfRange {
            program: self.program(),
            what: what.to_string(),
            expr: expr.to_string(),
            value,
            expected,
        }
    }

    /// Bytes of a tensor of `param`'s dtype and `shape`, within [`MAX_ALLOCATION`].
    fn size(&self, param: &ParsedParam<'_>, shape: &[usize]) -> Result<u64, LaunchError> {
        let bytes = shape
            .iter()
            .fold(param.dtype.size_bytes() as u128, |acc, &d| {
                acc.saturating_mul(d as u128)
            });
        if bytes > u128::from(MAX_ALLOCATION) {
            return Err(LaunchError::TooLarge {
                program: self.program(),
                what: format!("{} `{}` {shape:?}", param.param.role, param.param.name),
                bytes,
            });
        }
        Ok(bytes as u64)
    }
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

/// `` `T` = 5 `` for an expression, `8` for a literal.
fn dim_text(dim: &str, value: i64) -> String {
    if dim == value.to_string() {
        dim.to_string()
    } else {
        format!("`{dim}` = {value}")
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Input => "input",
            Role::Output => "output",
            Role::Buffer => "buffer",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use moge_codegen_ascendc::manifest::{TilingField, FORMAT};

    use super::*;
    use crate::backend::DeviceRun;

    fn param(name: &str, role: &str, dtype: &str, shape: &[&str]) -> Param {
        Param {
            name: name.to_string(),
            role: role.to_string(),
            dtype: dtype.to_string(),
            shape: shape.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn entry(name: &str, args: &[&str], block_dim: &str, tiling: &[(&str, &str)]) -> KernelEntry {
        KernelEntry {
            name: name.to_string(),
            source: format!("{name}.cpp"),
            core_type: "aiv".to_string(),
            kernel_type: "KERNEL_TYPE_AIV_ONLY".to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
            block_dim: block_dim.to_string(),
            tiling: tiling
                .iter()
                .map(|(n, e)| TilingField {
                    name: n.to_string(),
                    expr: e.to_string(),
                })
                .collect(),
            workspace_bytes: "0".to_string(),
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
            bindings: [("N".to_string(), 4)].into_iter().collect(),
            dynamic_dims: vec!["T".to_string()],
            params: vec![
                param("x", "input", "f32", &["T", "N"]),
                param("n", "input", "i32", &["2 * T"]),
                param("y", "output", "f32", &["T", "N"]),
                param("m", "output", "i32", &["2 * T"]),
            ],
            buffers: vec![param("mid", "buffer", "f32", &["T", "4"])],
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
            workspace_bytes: "0".to_string(),
            sync: "explicit".to_string(),
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
        assert_eq!(report.dims, vec![("T".to_string(), 3)]);
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
        only_n.params[0].shape = vec!["4".to_string(), "N".to_string()];
        only_n.params[2].shape = vec!["T".to_string(), "N".to_string()];
        let plan_n = plan(&only_n, &[x(4), n(10)]).unwrap();
        assert_eq!(plan_n.dims, vec![("T".to_string(), 5)]);
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
        negative.params[1].shape = vec!["T - 100".to_string()];
        let err = plan(&negative, &[x(3), n(0)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "program `twice`: the axis 0 of input `n` `T - 100` is -97; expected a size of 0 or more"
        );
        let mut overflow = manifest();
        overflow.params[3].shape = vec!["T * T * T * T * T".to_string()];
        let err = plan(&overflow, &[x(1_000_000), n(2_000_000)]).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "program `twice`: cannot evaluate the axis 0 of output `m` `T * T * T * T * T`: "
            ),
            "{err}"
        );
        let mut by_zero = manifest();
        by_zero.kernels[1].tiling[0].expr = "T / (T - T)".to_string();
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
        manifest.kernels[1].block_dim = "min(T, 8)".to_string();
        let planned = plan(&manifest, &[x(0), n(0)]).unwrap();
        assert_eq!(planned.dims, vec![("T".to_string(), 0)]);
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
        manifest.kernels[1].block_dim = "T - 3".to_string();
        let err = plan(&manifest, &[x(2), n(4)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "program `twice`: the block dim of kernel `k1` `T - 3` is -1; expected 1..=65535"
        );
    }

    #[test]
    fn malformed_manifests_are_refused() {
        let mut manifest = manifest();
        manifest.kernels[0].tiling[0].expr = "T +".to_string();
        let err = plan(&manifest, &[x(1), n(2)]).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "program `twice`: invalid manifest: tiling field `rows` of kernel `k0` `T +` does not parse"
            ),
            "{err}"
        );
        let mut manifest = self::manifest();
        manifest.kernels[1].args[0] = "nothing".to_string();
        let err = plan(&manifest, &[x(1), n(2)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "program `twice`: invalid manifest: kernel `k1` takes argument `nothing`, which is not a parameter or buffer of the program"
        );
        let mut manifest = self::manifest();
        manifest.params[1].dtype = "bool".to_string();
        assert!(plan(&manifest, &[x(1), n(2)]).is_err());
        let manifest = self::manifest();
        let one = vec![String::new()];
        let err = ProgramRef::new(&manifest, &one).unwrap_err();
        assert_eq!(
            err.to_string(),
            "program `twice`: invalid manifest: the manifest lists 2 device kernels but 1 sources were given"
        );
    }

    #[test]
    fn dims_in_no_input_cannot_be_bound() {
        let mut manifest = manifest();
        manifest.dynamic_dims.push("S".to_string());
        manifest.params[3].shape = vec!["S".to_string()];
        let err = plan(&manifest, &[x(1), n(2)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "program `twice`: dynamic dim `S` cannot be bound from the input shapes (no input axis is `S` or a linear expression of it alone)"
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
}
