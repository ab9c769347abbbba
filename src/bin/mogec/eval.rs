//! `mogec eval`: evaluate one kernel with the reference interpreter on `.npy` inputs (or random ones)
//! and write its results as `.npy` files.

use moge::files::Contents;
use moge::inputs::{self, Consumer};
use moge_lower::interp::{self, Tensor};

use crate::args::EvalArgs;
use crate::error::Error;
use crate::output;
use crate::run::run_inputs;
use crate::source;

/// Runs `mogec eval`.
pub fn run(args: &EvalArgs) -> Result<(), Error> {
    let source = source::read(&args.kernel.file)?;
    let file = source::check(&source)?;
    let kernel = source::select(&source, file, args.kernel.kernel.as_deref())?;
    let kernel = source::specialize(&kernel, &args.kernel.set, source::Command::EvalOrRun)?;
    let eval_error = |source| Error::Eval {
        kernel: kernel.name.clone(),
        source: Box::new(source),
    };

    let (given, extra_dims) = run_inputs(&args.io);
    let resolved = inputs::resolve(&kernel, given, &extra_dims, Consumer::Interpreter)?;
    let inputs = &resolved.tensors;
    let dims = &resolved.dims;
    let outputs = interp::eval(&kernel, inputs).map_err(eval_error)?;

    // File names: outputs by name (made unique), random inputs by parameter name unless an output
    // has taken it.
    let names = moge::files::npy_names(&kernel, args.io.random.is_some());
    let mut files: Vec<(String, Contents<'_>)> = Vec::new();
    for (tensor, name) in outputs.iter().zip(&names.outputs) {
        files.push((name.clone(), Contents::Npy(tensor)));
    }
    for (tensor, name) in inputs.iter().zip(&names.inputs) {
        files.push((name.clone(), Contents::Npy(tensor)));
    }
    let (output_files, input_files) = (&names.outputs, &names.inputs);
    // The kernel's source is an input too: no output may replace it.
    let mut input_paths = resolved.input_paths();
    input_paths.push(args.kernel.file.clone());
    moge::files::write_all(&args.io.out_dir, &files, &input_paths)?;

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
    for (i, (param, tensor)) in kernel.params.iter().zip(inputs).enumerate() {
        let from = match (resolved.files.get(i).cloned().flatten(), args.io.random) {
            (Some(path), _) => format!("from {}", path.display()),
            (None, Some(seed)) => {
                let file = input_files.get(i).map(String::as_str).unwrap_or_default();
                format!(
                    "random (seed {seed}) -> {}",
                    args.io.out_dir.join(file).display()
                )
            }
            (None, None) => "given".to_string(),
        };
        output::stdout_line(&format!(
            "  input  {}: {} {from}",
            param.name,
            describe(tensor)
        ));
    }
    for ((output, tensor), file) in kernel.outputs.iter().zip(&outputs).zip(output_files) {
        output::stdout_line(&format!(
            "  output {}: {} -> {}",
            output.name,
            describe(tensor),
            args.io.out_dir.join(file).display()
        ));
    }
    Ok(())
}

/// `f32[128, 8]`.
fn describe(tensor: &Tensor) -> String {
    let dims: Vec<String> = tensor.shape.iter().map(usize::to_string).collect();
    format!("{}[{}]", tensor.dtype, dims.join(", "))
}
