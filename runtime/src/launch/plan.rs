//! Planning a launch: the inputs checked against the manifest, the dims bound by the interpreter's
//! solver, every expression of the manifest evaluated ([`plan`]).

use moge_codegen_ascendc::manifest::{CoreType, KernelEntry, Param, Role};
use moge_codegen_ascendc::Manifest;
use moge_lower::interp::solve::{solve, InputShape, SymTable};
use moge_lower::interp::{Tensor, TensorData};
use moge_lower::kir::Expr;
use moge_lower::{DType, Symbol};

use super::{LaunchError, MAX_ALLOCATION};

/// What a launch will do, worked out from the manifest and the input shapes.
#[derive(Clone, PartialEq, Debug)]
pub struct LaunchPlan {
    /// The program.
    pub program: String,
    /// The dynamic dims, in manifest order, with their values.
    pub dims: Vec<(Symbol, i64)>,
    /// Bytes of the program's workspace (each kernel gets its own part of it, zero-filled).
    pub workspace_bytes: u64,
    /// Every GM tensor: the inputs in order, the outputs in order, then the intermediates.
    pub tensors: Vec<PlannedTensor>,
    /// The device kernels, in launch order.
    pub kernels: Vec<PlannedKernel>,
}

/// A GM tensor of a planned launch.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PlannedTensor {
    /// Its name.
    pub name: String,
    /// Input, output or intermediate.
    pub role: Role,
    /// Its dtype.
    pub dtype: DType,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its size in bytes.
    pub bytes: u64,
}

/// A device kernel of a planned launch.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PlannedKernel {
    /// The `extern "C"` symbol.
    pub name: String,
    /// Its core type.
    pub core_type: CoreType,
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

/// Checks `inputs` against `manifest`, binds the dynamic dims and evaluates every expression of the
/// manifest: everything [`launch`](super::launch) does before calling the backend.
pub fn plan(manifest: &Manifest, inputs: &[Tensor]) -> Result<LaunchPlan, LaunchError> {
    Planner::new(manifest)?.plan(inputs)
}

/// A manifest with its tensors sorted by role and its kernel arguments resolved to tensor indices.
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

impl<'m> Planner<'m> {
    /// Checks what the types of the manifest cannot: roles in their lists, unique names, kernel
    /// arguments that name a tensor of the program.
    fn new(manifest: &'m Manifest) -> Result<Planner<'m>, LaunchError> {
        let bad = |message: String| LaunchError::Manifest {
            program: manifest.program.clone(),
            message,
        };
        let parsed = |param: &'m Param| ParsedParam {
            param,
            dtype: param.dtype.dtype(),
            shape: param.shape.iter().map(|e| e.expr().clone()).collect(),
        };
        let mut inputs = Vec::new();
        let mut outputs = Vec::new();
        for param in &manifest.params {
            match param.role {
                Role::Input => inputs.push(parsed(param)),
                Role::Output => outputs.push(parsed(param)),
                other => {
                    return Err(bad(format!(
                        "parameter `{}` has role `{other}`; expected `input` or `output` (intermediates are listed in `intermediates`, the workspace is `workspace_bytes`)",
                        param.name
                    )))
                }
            }
        }
        let mut buffers = Vec::new();
        for param in &manifest.intermediates {
            if param.role != Role::Intermediate {
                return Err(bad(format!(
                    "intermediate `{}` has role `{}`; expected `intermediate`",
                    param.name, param.role
                )));
            }
            buffers.push(parsed(param));
        }
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
            let mut args = Vec::new();
            for arg in &entry.args {
                let index = names.iter().position(|n| n == arg).ok_or_else(|| {
                    bad(format!(
                        "kernel `{}` takes argument `{arg}`, which is not a parameter or intermediate of the program",
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
                block_dim: entry.block_dim.expr().clone(),
                tiling: entry
                    .tiling
                    .iter()
                    .map(|f| (f.name.as_str(), f.expr.expr().clone()))
                    .collect(),
                workspace: entry.workspace_bytes.expr().clone(),
                args,
            });
        }
        // An output or intermediate no kernel takes would come back as the fill pattern (or zeros).
        for (index, name) in names.iter().enumerate().skip(inputs.len()) {
            if !kernels.iter().any(|k| k.args.contains(&index)) {
                let what = if index < inputs.len() + outputs.len() {
                    "output"
                } else {
                    "intermediate"
                };
                return Err(bad(format!(
                    "{what} `{name}` is an argument of no kernel, so nothing can write it"
                )));
            }
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
        // The interpreter's solver: the same dims, the same checks, the same messages.
        let mut table = SymTable::new();
        for (name, &value) in &self.manifest.bindings {
            table.push_static(*name, value);
        }
        for name in &self.manifest.dynamic_dims {
            table.push_dynamic(*name);
        }
        let solver_inputs: Vec<InputShape<'_, Expr>> = self
            .inputs
            .iter()
            .zip(inputs)
            .map(|(param, tensor)| InputShape {
                name: &param.param.name,
                axes: &param.shape,
                shape: &tensor.shape,
            })
            .collect();
        let solution = solve(&table, &solver_inputs)?;
        let value = |name: Symbol| -> Option<i64> {
            table
                .index_of(name)
                .and_then(|i| solution.values.get(i).copied())
        };
        let dims: Vec<(Symbol, i64)> = solution
            .dynamic()
            .filter_map(|(i, v)| table.get(i).map(|s| (s.name, v)))
            .collect();
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
        for (role, params) in [
            (Role::Output, &self.outputs),
            (Role::Intermediate, &self.buffers),
        ] {
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
        let total = self.manifest.workspace_bytes.expr();
        let workspace_total = self.eval(total, &value, &|| "workspace size".to_string())?;
        let workspace_total = u64::try_from(workspace_total)
            .ok()
            .filter(|&w| w <= MAX_ALLOCATION)
            .ok_or_else(|| {
                self.out_of_range(
                    "workspace size",
                    total,
                    workspace_total,
                    "0..=17179869184 bytes",
                )
            })?;
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
            // A kernel's part of the workspace must fit in the program's.
            if workspace_bytes > workspace_total {
                return Err(LaunchError::Manifest {
                    program: self.program(),
                    message: format!(
                        "kernel `{name}` needs a workspace of `{}` = {workspace_bytes} bytes, more than the program's `{total}` = {workspace_total}",
                        kernel.workspace
                    ),
                });
            }
            kernels.push(PlannedKernel {
                name: name.clone(),
                core_type: kernel.entry.core_type,
                block_dim,
                tiling,
                workspace_bytes,
                args: kernel.args.clone(),
                ub_bytes: kernel.entry.ub_bytes,
            });
        }
        Ok(LaunchPlan {
            program: self.program(),
            workspace_bytes: workspace_total,
            dims,
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
                expected: param.param.dtype,
                found: tensor.dtype,
            });
        }
        if tensor.shape.len() != param.shape.len() {
            return Err(LaunchError::Rank {
                index,
                param: name.clone(),
                declared: param
                    .param
                    .shape
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
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

    fn eval(
        &self,
        expr: &Expr,
        value: &dyn Fn(Symbol) -> Option<i64>,
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
