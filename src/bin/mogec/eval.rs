//! `mogec eval`: evaluate one kernel with the reference interpreter on `.npy` inputs (or random ones)
//! and write its results as `.npy` files.

use moge_lower::graph::{Dim, Type};
use moge_lower::interp::{self, Tensor};
use moge_lower::{Kernel, OpKind, Sym, SymKind};
use moge_runtime::npy;

use crate::args::{DimBinding, EvalArgs, InputBinding};
use crate::error::{quoted_list, Error};
use crate::output;
use crate::source::{self, plural};

/// The largest tensor (in elements) `mogec eval` lets the interpreter make: 4 GiB of `f32`.
const MAX_ELEMENTS: u128 = 1 << 30;

/// Where an input came from, for the summary.
enum Origin {
    /// Read from this file.
    File(String),
    /// Made by `random_inputs`.
    Random,
}

/// Runs `mogec eval`.
pub fn run(args: &EvalArgs) -> Result<(), Error> {
    let source = source::read(&args.kernel.file)?;
    let file = source::check(&source)?;
    let kernel = source::select(&source, file, args.kernel.kernel.as_deref())?;
    let kernel = source::specialize(&kernel, &args.kernel.set)?;
    let eval_error = |source| Error::Eval {
        kernel: kernel.name.clone(),
        source: Box::new(source),
    };

    let (inputs, origins, dims) = match args.io.random {
        Some(seed) => {
            let dims = random_dims(&kernel, &args.io.dim)?;
            check_sizes(&kernel, &dims)?;
            let named: Vec<(&str, i64)> = dims
                .iter()
                .map(|&(sym, value)| (kernel.syms[sym].name.as_str(), value))
                .collect();
            let inputs = interp::random_inputs(&kernel, seed, &named).map_err(eval_error)?;
            let origins = inputs.iter().map(|_| Origin::Random).collect();
            (inputs, origins, dims)
        }
        None => {
            let (inputs, origins) = read_inputs(&kernel, &args.io.input)?;
            let dims = interp::bind_dims(&kernel, &inputs).map_err(eval_error)?;
            check_sizes(&kernel, &dims)?;
            (inputs, origins, dims)
        }
    };
    let outputs = interp::eval(&kernel, &inputs).map_err(eval_error)?;

    // File names: outputs by name (made unique), random inputs by parameter name unless an output
    // has taken it.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut output_files = Vec::new();
    for (i, output) in kernel.outputs.iter().enumerate() {
        let Some(tensor) = outputs.get(i) else {
            continue;
        };
        let mut name = format!("{}.npy", output.name);
        let mut suffix = 1;
        while files.iter().any(|(n, _)| *n == name) {
            name = format!("{}_{suffix}.npy", output.name);
            suffix += 1;
        }
        files.push((name.clone(), npy::write_npy_bytes(tensor)));
        output_files.push(name);
    }
    let mut input_files = Vec::new();
    if args.io.random.is_some() {
        for (param, tensor) in kernel.params.iter().zip(&inputs) {
            let mut name = format!("{}.npy", param.name);
            if files.iter().any(|(n, _)| *n == name) {
                name = format!("{}.input.npy", param.name);
            }
            files.push((name.clone(), npy::write_npy_bytes(tensor)));
            input_files.push(name);
        }
    }
    output::write_files(&args.io.out_dir, &files)?;

    // Summary.
    let mut summary = format!("eval: {}", source::signature(&kernel));
    if !dims.is_empty() {
        let bound: Vec<String> = dims
            .iter()
            .map(|&(sym, value)| format!("{} = {value}", kernel.syms[sym].name))
            .collect();
        summary.push_str(&format!(" with {}", bound.join(", ")));
    }
    output::stdout_line(&summary);
    for (i, (param, tensor)) in kernel.params.iter().zip(&inputs).enumerate() {
        let from = match (&origins[i], args.io.random) {
            (Origin::File(path), _) => format!("from {path}"),
            (Origin::Random, Some(seed)) => {
                let file = input_files.get(i).map(String::as_str).unwrap_or_default();
                format!(
                    "random (seed {seed}) -> {}",
                    args.io.out_dir.join(file).display()
                )
            }
            (Origin::Random, None) => "random".to_string(),
        };
        output::stdout_line(&format!(
            "  input  {}: {} {from}",
            param.name,
            describe(tensor)
        ));
    }
    for ((output, tensor), file) in kernel.outputs.iter().zip(&outputs).zip(&output_files) {
        output::stdout_line(&format!(
            "  output {}: {} -> {}",
            output.name,
            describe(tensor),
            args.io.out_dir.join(file).display()
        ));
    }
    Ok(())
}

/// Checks the `--dim` values against the kernel's dynamic dims (each once, every one given) and
/// returns them in declaration order.
fn random_dims(kernel: &Kernel, given: &[DimBinding]) -> Result<Vec<(Sym, i64)>, Error> {
    let dynamics = kernel.dynamic_dims();
    for (i, binding) in given.iter().enumerate() {
        if given[..i].iter().any(|b| b.name == binding.name) {
            return Err(Error::Duplicate {
                flag: "--dim",
                name: binding.name.clone(),
            });
        }
        if dynamics.contains(&binding.name.as_str()) {
            continue;
        }
        let dims_text = match dynamics.len() {
            0 => "it has no dynamic dims".to_string(),
            _ => format!("its dynamic dims are {}", quoted_list(&dynamics)),
        };
        let known = if kernel.bound.iter().any(|(name, _)| *name == binding.name) {
            format!(
                "`{}` is a static dim, given with --set; {dims_text}",
                binding.name
            )
        } else {
            dims_text
        };
        return Err(Error::UnknownName {
            flag: "--dim",
            name: binding.name.clone(),
            kernel: kernel.name.clone(),
            what: "dynamic dim",
            known,
        });
    }
    let missing: Vec<&str> = dynamics
        .iter()
        .copied()
        .filter(|d| !given.iter().any(|b| b.name == *d))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Missing {
            kernel: kernel.name.clone(),
            flag: "--dim",
            what: plural(missing.len(), "dynamic dim", "dynamic dims").to_string(),
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
                .find(|b| b.name == data.name)
                .map(|b| (sym, b.value))
        })
        .collect())
}

/// Reads one `.npy` file per parameter, as the parameter's dtype, after checking that the
/// `--input` flags name every parameter once.
fn read_inputs(
    kernel: &Kernel,
    given: &[InputBinding],
) -> Result<(Vec<Tensor>, Vec<Origin>), Error> {
    let params: Vec<&str> = kernel.params.iter().map(|p| p.name.as_str()).collect();
    for (i, binding) in given.iter().enumerate() {
        if given[..i].iter().any(|b| b.param == binding.param) {
            return Err(Error::Duplicate {
                flag: "--input",
                name: binding.param.clone(),
            });
        }
        if !params.contains(&binding.param.as_str()) {
            return Err(Error::UnknownName {
                flag: "--input",
                name: binding.param.clone(),
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
        .filter(|p| !given.iter().any(|b| b.param == *p))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Missing {
            kernel: kernel.name.clone(),
            flag: "--input",
            what: plural(missing.len(), "parameter", "parameters").to_string(),
            missing: quoted_list(&missing),
            hint: "; give each as --input PARAM=FILE.npy, or use --random SEED".to_string(),
        });
    }
    let mut inputs = Vec::with_capacity(params.len());
    let mut origins = Vec::with_capacity(params.len());
    for param in &kernel.params {
        let Some(binding) = given.iter().find(|b| b.param == param.name) else {
            continue;
        };
        let Some(Type::Tensor(ty)) = kernel.values.get(param.value).map(|v| &v.ty) else {
            // Parameters are tensors in every kernel the frontend builds.
            return Err(Error::Eval {
                kernel: kernel.name.clone(),
                source: Box::new(interp::EvalError::Malformed {
                    kernel: kernel.name.clone(),
                    message: format!("parameter `{}` is not a tensor", param.name),
                }),
            });
        };
        let tensor = npy::read_npy_as(&binding.path, ty.dtype)
            .map_err(|err| Error::npy_input(&param.name, err))?;
        inputs.push(tensor);
        origins.push(Origin::File(binding.path.display().to_string()));
    }
    Ok((inputs, origins))
}

/// Refuses to evaluate when some value of the kernel, with `dims` bound, would have more than
/// [`MAX_ELEMENTS`] elements. Dims that cannot be evaluated are left to the interpreter to report.
fn check_sizes(kernel: &Kernel, dims: &[(Sym, i64)]) -> Result<(), Error> {
    let value_of = |sym: Sym| dims.iter().find(|(s, _)| *s == sym).map(|&(_, v)| v);
    for &op in &kernel.order {
        let Some(data) = kernel.ops.get(op) else {
            continue;
        };
        for &value in &data.results {
            let Some(ty) = kernel.values.get(value).map(|v| &v.ty) else {
                continue;
            };
            let shape: Vec<Dim> = match ty {
                Type::Tensor(t) => t.shape.clone(),
                Type::Routes(r) => vec![r.tokens.clone(), r.k.clone()],
            };
            let Ok(sizes) = shape
                .iter()
                .map(|d| d.eval(&value_of, &kernel.syms))
                .collect::<Result<Vec<i64>, _>>()
            else {
                continue;
            };
            let elements = sizes.iter().fold(1u128, |n, &s| {
                n.saturating_mul(u128::try_from(s).unwrap_or(0))
            });
            if elements <= MAX_ELEMENTS {
                continue;
            }
            let what = match &data.kind {
                OpKind::Param { index } => {
                    let name = kernel
                        .params
                        .get(*index as usize)
                        .map(|p| p.name.as_str())
                        .unwrap_or("?");
                    format!("parameter `{name}`")
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
            let shape_text: Vec<String> = sizes.iter().map(i64::to_string).collect();
            return Err(Error::TooLarge {
                kernel: kernel.name.clone(),
                what,
                elements,
                shape: format!("[{}]", shape_text.join(", ")),
            });
        }
    }
    Ok(())
}

/// `f32[128, 8]`.
fn describe(tensor: &Tensor) -> String {
    let dims: Vec<String> = tensor.shape.iter().map(usize::to_string).collect();
    format!("{}[{}]", tensor.dtype, dims.join(", "))
}
