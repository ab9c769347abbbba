//! `mogec export --cann DIR`: a CANN kernel-launch project for one kernel (logic in `moge::export`).

use std::path::PathBuf;

use clap::Args;

use moge::export::{export_cann, ExportOptions};
use moge::run::RunInputs;

use crate::args::{
    parse_dim_binding, parse_input, parse_target, DimBinding, Fuse, InputBinding, KernelArgs,
};
use crate::error::Error;
use crate::output;
use crate::source;

/// Arguments of `mogec export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The kernel to export.
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// The project directory to write: new or empty (a directory holding files is refused, so nothing
    /// of yours is replaced); created if it does not exist, written only when the whole export
    /// succeeds.
    #[arg(long, value_name = "DIR", required = true)]
    pub cann: PathBuf,
    /// The Ascend part to build for (ascend910b1 to ascend910b4; default ascend910b2).
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<moge_lower::target::Target>,
    /// How much the graph optimizer fuses: `all` (default) or `none`.
    #[arg(long, value_name = "MODE", default_value = "all")]
    pub fuse: Fuse,
    /// How the cube path chooses a matmul's tile: `rule` (default) or `model` (see `mogec build
    /// --help`).
    #[arg(long, value_name = "MODE", default_value = "rule")]
    pub tiling: crate::args::TilingArg,
    /// An input: the parameter's name and a .npy file (repeat for every parameter).
    #[arg(long, value_name = "PARAM=FILE.npy", value_parser = parse_input, conflicts_with = "random")]
    pub input: Vec<InputBinding>,
    /// Make deterministic random inputs from this seed.
    #[arg(long, value_name = "SEED")]
    pub random: Option<u64>,
    /// The value of a dynamic dim, e.g. `--dim T=128`: the project's default dims (its `main`
    /// takes others as NAME=VALUE); required for every dynamic dim with --random.
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_dim_binding, value_delimiter = ',')]
    pub dim: Vec<DimBinding>,
}

/// Runs `mogec export`.
pub fn run(args: &ExportArgs) -> Result<(), Error> {
    let source = source::read(&args.kernel.file)?;
    let file = source::check(&source)?;
    let kernel = source::select(&source, file, args.kernel.kernel.as_deref())?;
    let kernel = source::specialize(&kernel, &args.kernel.set, source::Command::EvalOrRun)?;
    let dims: Vec<(String, i64)> = args.dim.iter().map(|d| (d.name.clone(), d.value)).collect();
    let (inputs, dims) = match args.random {
        Some(seed) => (RunInputs::Random { seed, dims }, Vec::new()),
        None => (
            RunInputs::Files(
                args.input
                    .iter()
                    .map(|i| (i.param.clone(), i.path.clone()))
                    .collect(),
            ),
            dims,
        ),
    };
    let options = ExportOptions {
        target: args.target.clone().unwrap_or_default(),
        dims,
        fuse: args.fuse.into(),
        tiling: args.tiling.into(),
        keep: vec![args.kernel.file.clone()],
    };
    let written = export_cann(&kernel, inputs, &args.cann, &options)
        .map_err(|err| Error::Export(Box::new(err)))?;
    output::stdout_line(&format!(
        "wrote {} files to {}: build and run with {}/run.sh on a machine with CANN 8.5",
        written.len(),
        args.cann.display(),
        args.cann.display()
    ));
    Ok(())
}
