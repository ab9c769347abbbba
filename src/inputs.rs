//! The inputs of a kernel run, resolved once for `mogec eval` and `mogec run` (and
//! [`run_program`](crate::run::run_program)).
//!
//! [`resolve`] checks the names given (every parameter once, every `--dim` a dynamic dim of the
//! kernel), checks the sizes against [`moge_runtime::limits`] from the shapes alone
//! (`.npy` headers or `--dim` values) before any data is read or made, reads or makes the tensors,
//! binds the dynamic dims, and checks that dims given alongside input files agree with them.
//! [`InputError::exit_code`] keeps the distinction `mogec` reports: 2 for a usage error (a wrong
//! name, a file that cannot be read, a `--dim` that contradicts an input), 1 for bad data.

use std::path::PathBuf;

use moge_lower::graph::{DType, Kernel, Type, Value};
use moge_lower::interp::{self, EvalError, Tensor};
use moge_lower::{OpKind, Sym, SymKind, Symbol};
use moge_runtime::limits::{self, EnvError, LimitError, Role, RunFootprint};
use moge_runtime::npy::{NpyError, NpyErrorKind, NpyReader};

/// Where the inputs of a run come from.
#[derive(Clone, Debug)]
pub enum RunInputs {
    /// Tensors, one per parameter, in order.
    Tensors(Vec<Tensor>),
    /// `.npy` files by parameter name, every parameter once (read as the parameter's dtype).
    Files(Vec<(String, PathBuf)>),
    /// Deterministic random inputs ([`interp::random_inputs`]) from `seed`, with every dynamic dim
    /// given by name.
    Random {
        /// The seed.
        seed: u64,
        /// A value for every dynamic dim.
        dims: Vec<(String, i64)>,
    },
    /// Zeros of the shapes random inputs would have ([`interp::zero_inputs`]), for a run that never
    /// looks at the data (timing-only, [`crate::timing_only`]); every dynamic dim given by name.
    Zeros {
        /// A value for every dynamic dim.
        dims: Vec<(String, i64)>,
    },
}

/// What will consume the inputs: decides which limits apply and how many copies a run holds.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Consumer {
    /// The reference interpreter alone (`mogec eval`).
    Interpreter,
    /// A device kernel and the interpreter (`mogec run`).
    Device,
    /// A device kernel in timing-only mode (`--timing-only`): no interpreter, no error bounds, no
    /// comparison; the inputs, the outputs and the emulator's copies only.
    Timing,
}

/// The inputs, read or made, and the dims they bind.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// One tensor per parameter, in order.
    pub tensors: Vec<Tensor>,
    /// Every dynamic dim with its value, in declaration order.
    pub dims: Vec<(Sym, i64)>,
    /// The file each input was read from (`None` for random or given tensors), in parameter order.
    pub files: Vec<Option<PathBuf>>,
}

impl Resolved {
    /// The input files, for refusing to overwrite them.
    pub fn input_paths(&self) -> Vec<PathBuf> {
        self.files.iter().flatten().cloned().collect()
    }
}

/// Why the inputs could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A `--set`, `--dim` or `--input` name is not the kernel's (`mogec` uses it for `--set` too).
    #[error("{flag} {name}=...: kernel `{kernel}` has no {what} `{name}`; {known}")]
    UnknownName {
        /// The flag (`--set`, `--dim`, `--input`).
        flag: &'static str,
        /// The name given.
        name: String,
        /// The kernel.
        kernel: String,
        /// What was looked for (`static dim`, `dynamic dim`, `parameter`).
        what: &'static str,
        /// What the kernel has, as a sentence fragment.
        known: String,
    },
    /// The same name given twice to one flag.
    #[error("{flag} {name}=... is given twice")]
    Duplicate {
        /// The flag.
        flag: &'static str,
        /// The name.
        name: String,
    },
    /// Names that need a flag but have none.
    #[error("kernel `{kernel}` needs {flag} for {what} {missing}{hint}")]
    Missing {
        /// The kernel.
        kernel: String,
        /// The flag (`--set`, `--dim`, `--input`).
        flag: &'static str,
        /// What the names are (`dynamic dim`, `parameters`...).
        what: &'static str,
        /// The missing names, quoted.
        missing: String,
        /// A hint how to give them, starting with `; ` (or empty).
        hint: String,
    },
    /// A `--dim` value disagrees with the shape of an input file.
    #[error("--dim {dim}={given} disagrees with the inputs: {param} has shape {shape}, so `{dim}` is {bound} (leave --dim out, or give {dim}={bound})")]
    DimConflict {
        /// The dim.
        dim: String,
        /// The value given with `--dim`.
        given: i64,
        /// The value the inputs bind.
        bound: i64,
        /// The input that binds it (`--input logits=a.npy`).
        param: String,
        /// Its shape.
        shape: String,
    },
    /// An input file could not be read, or holds the wrong kind of data.
    #[error("--input {param}=...: {source}")]
    Npy {
        /// The parameter.
        param: String,
        /// Why.
        source: NpyError,
    },
    /// The inputs do not fit the kernel (checked by the interpreter's binding), or random inputs
    /// could not be made.
    #[error("kernel `{kernel}`: {source}")]
    Eval {
        /// The kernel.
        kernel: String,
        /// Why.
        source: Box<EvalError>,
    },
    /// The run would be over a limit.
    #[error("kernel `{kernel}`: {source}")]
    Limit {
        /// The kernel.
        kernel: String,
        /// Which limit.
        source: Box<LimitError>,
    },
    /// A `MOGE_*` environment variable is set to a value that cannot be used.
    #[error(transparent)]
    Environment(#[from] EnvError),
}

impl InputError {
    /// The exit status `mogec` uses: 2 for usage errors, 1 for errors in the data.
    pub fn exit_code(&self) -> u8 {
        match self {
            InputError::UnknownName { .. }
            | InputError::Duplicate { .. }
            | InputError::Missing { .. }
            | InputError::DimConflict { .. }
            | InputError::Environment(_) => 2,
            InputError::Npy { source, .. } if matches!(source.kind, NpyErrorKind::Io { .. }) => 2,
            InputError::Npy { .. } | InputError::Eval { .. } | InputError::Limit { .. } => 1,
        }
    }
}

/// Resolves `inputs` for `kernel` (specialized). `dims` are dims given besides the inputs (`--dim`
/// alongside `--input`): each must be a dynamic dim and agree with what the inputs bind. See the
/// module documentation.
pub fn resolve(
    kernel: &Kernel,
    inputs: RunInputs,
    dims: &[(String, i64)],
    consumer: Consumer,
) -> Result<Resolved, InputError> {
    let eval_error = |source| InputError::Eval {
        kernel: kernel.name.clone(),
        source: Box::new(source),
    };
    match inputs {
        RunInputs::Random { seed, dims: random } => {
            let given: Vec<(String, i64)> = random.iter().chain(dims).cloned().collect();
            let values = check_dims(kernel, &given, true)?;
            check_limits(kernel, &values, consumer, true)?;
            let named: Vec<(&str, i64)> = given.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let tensors = interp::random_inputs(kernel, seed, &named).map_err(eval_error)?;
            let files = vec![None; tensors.len()];
            Ok(Resolved {
                tensors,
                dims: values,
                files,
            })
        }
        RunInputs::Zeros { dims: given } => {
            let given: Vec<(String, i64)> = given.iter().chain(dims).cloned().collect();
            let values = check_dims(kernel, &given, true)?;
            check_limits(kernel, &values, consumer, true)?;
            let named: Vec<(&str, i64)> = given.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let tensors = interp::zero_inputs(kernel, &named).map_err(eval_error)?;
            let files = vec![None; tensors.len()];
            Ok(Resolved {
                tensors,
                dims: values,
                files,
            })
        }
        RunInputs::Files(files) => {
            check_dims(kernel, dims, false)?;
            check_params(kernel, &files)?;
            let in_order: Vec<(&str, &PathBuf, DType)> = kernel
                .params
                .iter()
                .filter_map(|param| {
                    let (_, path) = files.iter().find(|(n, _)| *n == param.name)?;
                    let dtype = kernel.values.get(param.value)?.ty.as_tensor()?.dtype;
                    Some((param.name.as_str(), path, dtype))
                })
                .collect();
            // The sizes from the headers alone, before any data is read.
            let mut footprint = RunFootprint::default();
            let mut readers = Vec::with_capacity(in_order.len());
            for &(param, path, _) in &in_order {
                let reader = NpyReader::open(path).map_err(|source| InputError::Npy {
                    param: param.to_string(),
                    source,
                })?;
                let shape: Vec<i64> = reader.shape().iter().map(|&s| s as i64).collect();
                let (device_bytes, value) = kernel
                    .params
                    .iter()
                    .find(|p| p.name == param)
                    .and_then(|p| {
                        let ty = kernel.values.get(p.value)?.ty.as_tensor()?;
                        Some((ty.dtype.size_bytes() as u64, Some(p.value)))
                    })
                    .unwrap_or((element_bytes(reader.dtype()), None));
                let input = value.map_or(Role::Input, |v| input_role(kernel, v));
                footprint.add_device(
                    format!("--input {param}={}", path.display()),
                    &shape,
                    element_bytes(reader.dtype()),
                    device_bytes,
                    role(consumer, input),
                );
                // Checked as each header is read, so that a file over the limits is named
                // before the next one is even opened.
                check_footprint(kernel, &footprint)?;
                readers.push(reader);
            }
            // Each file is opened once (so a pipe such as /dev/stdin works) and read only now.
            let mut tensors = Vec::with_capacity(in_order.len());
            for (&(param, _, dtype), reader) in in_order.iter().zip(readers) {
                let tensor = reader.read_as(dtype).map_err(|source| InputError::Npy {
                    param: param.to_string(),
                    source,
                })?;
                tensors.push(tensor);
            }
            let bound = interp::bind_dims(kernel, &tensors).map_err(eval_error)?;
            let sources: Vec<String> = in_order
                .iter()
                .map(|(param, path, _)| format!("--input {param}={}", path.display()))
                .collect();
            check_agreement(kernel, dims, &bound, &tensors, &sources)?;
            check_limits(kernel, &bound, consumer, false)?;
            Ok(Resolved {
                tensors,
                dims: bound,
                files: in_order
                    .iter()
                    .map(|(_, p, _)| Some((*p).clone()))
                    .collect(),
            })
        }
        RunInputs::Tensors(tensors) => {
            check_dims(kernel, dims, false)?;
            // Tensors that do not fit the kernel are left to the launch to report, in its terms.
            let bound = match interp::bind_dims(kernel, &tensors) {
                Ok(bound) => bound,
                Err(err) if !dims.is_empty() => return Err(eval_error(err)),
                Err(_) => Vec::new(),
            };
            if !bound.is_empty() || kernel.dynamic_dims().is_empty() {
                let sources: Vec<String> = kernel
                    .params
                    .iter()
                    .map(|p| format!("input `{}`", p.name))
                    .collect();
                check_agreement(kernel, dims, &bound, &tensors, &sources)?;
                check_limits(kernel, &bound, consumer, false)?;
            }
            let files = vec![None; tensors.len()];
            Ok(Resolved {
                tensors,
                dims: bound,
                files,
            })
        }
    }
}

/// Checks dims given by name: each a dynamic dim of the kernel, once; with `all`, every dynamic dim
/// given. Returns them as symbols in declaration order.
fn check_dims(
    kernel: &Kernel,
    given: &[(String, i64)],
    all: bool,
) -> Result<Vec<(Sym, i64)>, InputError> {
    let dynamics = kernel.dynamic_dims();
    for (i, (name, _)) in given.iter().enumerate() {
        if given[..i].iter().any(|(n, _)| n == name) {
            return Err(InputError::Duplicate {
                flag: "--dim",
                name: name.clone(),
            });
        }
        if dynamics.iter().any(|d| d == name) {
            continue;
        }
        let dims_text = match dynamics.len() {
            0 => "it has no dynamic dims".to_string(),
            _ => format!("its dynamic dims are {}", quoted_list(&dynamics)),
        };
        let known = if kernel.bound.iter().any(|(n, _)| n == name) {
            format!("`{name}` is a static dim, given with --set; {dims_text}")
        } else {
            dims_text
        };
        return Err(InputError::UnknownName {
            flag: "--dim",
            name: name.clone(),
            kernel: kernel.name.clone(),
            what: "dynamic dim",
            known,
        });
    }
    let missing: Vec<Symbol> = dynamics
        .iter()
        .copied()
        .filter(|d| !given.iter().any(|(n, _)| n == d))
        .collect();
    if all && !missing.is_empty() {
        return Err(InputError::Missing {
            kernel: kernel.name.clone(),
            flag: "--dim",
            what: plural(missing.len(), "dynamic dim", "dynamic dims"),
            missing: quoted_list(&missing),
            hint: format!(
                "; --random cannot infer dims from input shapes, so give {} as --dim NAME=VALUE, e.g. --dim {}=128",
                plural(missing.len(), "it", "each"),
                missing[0]
            ),
        });
    }
    Ok(kernel
        .syms
        .iter()
        .filter(|(_, data)| data.kind == SymKind::Dynamic)
        .filter_map(|(sym, data)| {
            given
                .iter()
                .find(|(n, _)| *n == data.name)
                .map(|&(_, v)| (sym, v))
        })
        .collect())
}

/// Checks that `files` names every parameter once and nothing else.
fn check_params(kernel: &Kernel, files: &[(String, PathBuf)]) -> Result<(), InputError> {
    let params: Vec<&str> = kernel.params.iter().map(|p| p.name.as_str()).collect();
    for (i, (name, _)) in files.iter().enumerate() {
        if files[..i].iter().any(|(n, _)| n == name) {
            return Err(InputError::Duplicate {
                flag: "--input",
                name: name.clone(),
            });
        }
        if !params.contains(&name.as_str()) {
            return Err(InputError::UnknownName {
                flag: "--input",
                name: name.clone(),
                kernel: kernel.name.clone(),
                what: "parameter",
                known: match params.len() {
                    0 => "it has no parameters".to_string(),
                    _ => format!("its parameters are {}", quoted_list(&params)),
                },
            });
        }
    }
    let missing: Vec<&str> = params
        .iter()
        .copied()
        .filter(|p| !files.iter().any(|(n, _)| n == p))
        .collect();
    if !missing.is_empty() {
        return Err(InputError::Missing {
            kernel: kernel.name.clone(),
            flag: "--input",
            what: plural(missing.len(), "parameter", "parameters"),
            missing: quoted_list(&missing),
            hint: "; give each as --input PARAM=FILE.npy, or use --random SEED".to_string(),
        });
    }
    Ok(())
}

/// Checks that every dim in `given` has the value the inputs bound (`bound`); a disagreement names
/// the first input whose shape binds the dim differently (`sources` name the inputs in order).
fn check_agreement(
    kernel: &Kernel,
    given: &[(String, i64)],
    bound: &[(Sym, i64)],
    tensors: &[Tensor],
    sources: &[String],
) -> Result<(), InputError> {
    for (name, value) in given {
        let Some(&(sym, actual)) = bound.iter().find(|(s, _)| kernel.syms[*s].name == *name) else {
            continue;
        };
        if actual == *value {
            continue;
        }
        // The first input with an axis whose size changes when the dim takes the given value.
        let with = |replacement: Option<i64>| {
            move |s: Sym| {
                if s == sym {
                    return replacement.or(Some(actual));
                }
                bound
                    .iter()
                    .find(|(b, _)| *b == s)
                    .map(|&(_, v)| v)
                    .or_else(|| {
                        kernel
                            .bound
                            .iter()
                            .find(|(n, _)| *n == kernel.syms[s].name)
                            .map(|&(_, v)| v)
                    })
            }
        };
        let binds = |index: usize| -> bool {
            let Some(ty) = kernel
                .params
                .get(index)
                .and_then(|p| kernel.values.get(p.value))
                .and_then(|v| v.ty.as_tensor())
            else {
                return false;
            };
            ty.shape.iter().any(|dim| {
                dim.eval(&with(None), &kernel.syms).ok()
                    != dim.eval(&with(Some(*value)), &kernel.syms).ok()
            })
        };
        let index = (0..tensors.len()).find(|&i| binds(i)).unwrap_or(0);
        let shape: Vec<i64> = tensors
            .get(index)
            .map(|t| t.shape.iter().map(|&s| s as i64).collect())
            .unwrap_or_default();
        return Err(InputError::DimConflict {
            dim: name.clone(),
            given: *value,
            bound: actual,
            param: sources.get(index).cloned().unwrap_or_default(),
            shape: limits::shape_text(&shape),
        });
    }
    Ok(())
}

/// Checks the whole run against the limits, with `dims` bound: the parameters (when
/// `include_params`; read inputs were checked from their headers), every value the interpreter
/// computes and, on a device, the outputs with the emulator's copies.
fn check_limits(
    kernel: &Kernel,
    dims: &[(Sym, i64)],
    consumer: Consumer,
    include_params: bool,
) -> Result<(), InputError> {
    let value_of = |sym: Sym| {
        dims.iter()
            .find(|(s, _)| *s == sym)
            .map(|&(_, v)| v)
            .or_else(|| {
                kernel
                    .bound
                    .iter()
                    .find(|(n, _)| *n == kernel.syms[sym].name)
                    .map(|&(_, v)| v)
            })
    };
    let shape_of = |value| -> Option<(Vec<i64>, u64, u64)> {
        let (dims, dtype) = match &kernel.values.get(value)?.ty {
            Type::Tensor(t) => (t.shape.clone(), t.dtype),
            Type::Routes(r) => (vec![r.tokens.clone(), r.k.clone()], DType::I32),
        };
        let sizes = dims
            .iter()
            .map(|d| d.eval(&value_of, &kernel.syms).ok())
            .collect::<Option<Vec<i64>>>()?;
        Some((sizes, element_bytes(dtype), dtype.size_bytes() as u64))
    };
    let mut footprint = RunFootprint::default();
    for &op in &kernel.order {
        let Some(data) = kernel.ops.get(op) else {
            continue;
        };
        let what = match &data.kind {
            OpKind::Param { index } => {
                if !include_params {
                    continue;
                }
                let name = kernel
                    .params
                    .get(*index as usize)
                    .map(|p| p.name.as_str())
                    .unwrap_or("?");
                format!("input `{name}`")
            }
            kind => {
                let loc = kernel.locs.get(op).copied().unwrap_or_default();
                if loc.is_unknown() {
                    format!("the result of `{}`", kind.name())
                } else {
                    format!(
                        "the result of `{}` at {}:{}",
                        kind.name(),
                        loc.line,
                        loc.col
                    )
                }
            }
        };
        let is_param = matches!(data.kind, OpKind::Param { .. });
        for &value in &data.results {
            if let Some((shape, bytes, device)) = shape_of(value) {
                let role = if is_param {
                    role(consumer, input_role(kernel, value))
                } else if consumer == Consumer::Timing {
                    // No interpreter: the values between ops are never computed on the host.
                    continue;
                } else {
                    Role::Interpreted
                };
                footprint.add_device(what.clone(), &shape, bytes, device, role);
            }
        }
    }
    if consumer != Consumer::Interpreter {
        let output_role = match consumer {
            Consumer::Timing => Role::Traced,
            _ => Role::Output,
        };
        for output in &kernel.outputs {
            if let Some((shape, bytes, device)) = shape_of(output.value) {
                footprint.add_device(
                    format!("output `{}`", output.name),
                    &shape,
                    bytes,
                    device,
                    output_role,
                );
            }
        }
    }
    check_footprint(kernel, &footprint)
}

/// Checks `footprint` against the memory budget.
fn check_footprint(kernel: &Kernel, footprint: &RunFootprint) -> Result<(), InputError> {
    let budget = limits::memory_budget()?;
    footprint
        .check(&budget)
        .map_err(|source| InputError::Limit {
            kernel: kernel.name.clone(),
            source: Box::new(source),
        })
}

/// The role of parameter value `value` on a device: a weight (no error bound of its own) when only
/// matrix products read it and it is not an output, else an input.
fn input_role(kernel: &Kernel, value: Value) -> Role {
    if kernel.outputs.iter().any(|o| o.value == value) {
        return Role::Input;
    }
    let only_products = kernel.order.iter().all(|&op| {
        kernel.ops.get(op).is_none_or(|data| {
            !data.args.contains(&value)
                || matches!(data.kind, OpKind::MatMul | OpKind::GroupedMatmul)
        })
    });
    if only_products {
        Role::Weight
    } else {
        Role::Input
    }
}

/// An input's role: on a device it is copied for the emulator (in timing-only mode with no error
/// bound); for the interpreter alone it is a value like any other.
fn role(consumer: Consumer, device_role: Role) -> Role {
    match consumer {
        Consumer::Device => device_role,
        // Held and copied as a device input, with no error bound (no interpreter runs).
        Consumer::Timing => Role::Weight,
        Consumer::Interpreter => Role::Interpreted,
    }
}

/// Bytes of one element of `dtype` as the host holds it (16-bit floats are held as `f32`).
fn element_bytes(dtype: DType) -> u64 {
    match dtype {
        DType::Bool => 1,
        _ => 4,
    }
}

/// `names` as a list of quoted names: `` `a`, `b` and `c` `` (or `none`).
pub fn quoted_list<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.len() {
        0 => "none".to_string(),
        1 => quoted[0].clone(),
        n => format!("{} and {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

/// `one` when `count` is 1, else `many`.
fn plural(count: usize, one: &'static str, many: &'static str) -> &'static str {
    if count == 1 {
        one
    } else {
        many
    }
}
