//! The command-line arguments of each subcommand, and the parsers of `NAME=VALUE` flag values.
//!
//! Malformed values are rejected while parsing the command line, so they are usage errors (exit
//! status 2) reported with the flag they came from.

use std::path::PathBuf;

use clap::Args;

use crate::emit::EmitKind;

/// Dims are below this (they evaluate in `0..2^40`, see `moge_lower::graph::Dim`).
pub const DIM_LIMIT: i64 = 1 << 40;

/// Arguments of `mogec check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The Rust source files to check.
    #[arg(value_name = "FILE.rs", required = true)]
    pub files: Vec<PathBuf>,
}

/// The kernel a command works on: its file, its name and the values of its static dims.
#[derive(Args, Debug)]
pub struct KernelArgs {
    /// The Rust source file holding the kernel.
    #[arg(value_name = "FILE.rs")]
    pub file: PathBuf,
    /// The kernel: its function name, or its path (`m::k`, `crate::k`) when kernels of several
    /// modules share the name; may be left out when the file has exactly one kernel.
    #[arg(short = 'k', long, value_name = "NAME")]
    pub kernel: Option<String>,
    /// The value of a static dim (a const generic of the kernel), e.g. `--set E=64`; repeat the flag
    /// or separate bindings with commas (`--set E=64,G=8`). Every static dim needs one.
    #[arg(
        long = "set",
        value_name = "NAME=VALUE",
        value_parser = parse_dim_binding,
        value_delimiter = ','
    )]
    pub set: Vec<DimBinding>,
}

/// Arguments of `mogec build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// The kernel to build.
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// The Ascend part to compile for (ascend910b1, ascend910b2, ascend910b3, ascend910b4).
    #[arg(long, value_name = "TARGET", default_value = "ascend910b2", value_parser = parse_target)]
    pub target: moge_lower::target::Target,
    /// How much the graph optimizer fuses: `all` (default) or `none` (one device kernel per op, the
    /// op chain as a framework runs it, to measure fused against unfused).
    #[arg(long, value_name = "MODE", default_value = "all")]
    pub fuse: Fuse,
    /// How the cube path chooses a matmul's tile: `rule` (default: the planner's own cost rule) or
    /// `model` (the 910B timing model's estimate of every legal tile, fastest first, cached by
    /// shape). A `#[tile]` hint fixes what it names either way; vector row tiles and grouped GEMM
    /// tiles are not chosen by it. The chosen tile is noted on the `Mmad` (kernel IR and Ascend C).
    #[arg(long, value_name = "MODE", default_value = "rule")]
    pub tiling: TilingArg,
    /// What to write, as a comma list of kinds: graph, ascendc, manifest, kir, dot.
    #[arg(
        long,
        value_name = "KINDS",
        value_delimiter = ',',
        default_value = "graph"
    )]
    pub emit: Vec<EmitKind>,
    /// The output directory (created if it does not exist).
    #[arg(short = 'o', long = "out-dir", value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
}

/// Where a run's inputs come from and where its outputs go: shared by `mogec eval` and `mogec run`.
#[derive(Args, Debug)]
pub struct InputArgs {
    /// An input: the parameter's name and a .npy file (repeat for every parameter).
    #[arg(long, value_name = "PARAM=FILE.npy", value_parser = parse_input, conflicts_with = "random")]
    pub input: Vec<InputBinding>,
    /// Make deterministic random inputs from this seed (and write them to the output directory).
    #[arg(long, value_name = "SEED")]
    pub random: Option<u64>,
    /// The value of a dynamic dim, e.g. `--dim T=128` (repeat or separate with commas): required
    /// for every dynamic dim with --random, and with --timing-only without inputs (the shapes of the
    /// zeros it models); with --input, an error if it disagrees with the inputs.
    #[arg(
        long,
        value_name = "NAME=VALUE",
        value_parser = parse_dim_binding,
        value_delimiter = ','
    )]
    pub dim: Vec<DimBinding>,
    /// The output directory (created if it does not exist); its files are written only when the
    /// command succeeds, and never over an input file.
    #[arg(short = 'o', long = "out-dir", value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,
}

/// Arguments of `mogec eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The kernel to evaluate.
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// The inputs and the output directory.
    #[command(flatten)]
    pub io: InputArgs,
}

/// Arguments of `mogec run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The Rust source file holding the kernel, or a directory written by `mogec build --emit
    /// ascendc,manifest` (add `graph` to compare with the interpreter): its `.cpp` files run as they
    /// are on disk, edited or not.
    #[arg(value_name = "FILE.rs|DIR")]
    pub file: PathBuf,
    /// The kernel: its function name, or its path (`m::k`, `crate::k`) when kernels of several
    /// modules share the name; may be left out when the file has exactly one kernel. Not for a
    /// directory.
    #[arg(short = 'k', long, value_name = "NAME")]
    pub kernel: Option<String>,
    /// The value of a static dim, e.g. `--set E=64` (repeat or separate with commas). Not for a
    /// directory: its manifest has them.
    #[arg(
        long = "set",
        value_name = "NAME=VALUE",
        value_parser = parse_dim_binding,
        value_delimiter = ','
    )]
    pub set: Vec<DimBinding>,
    /// The Ascend part to compile for and model (ascend910b1, ascend910b2, ascend910b3,
    /// ascend910b4; default ascend910b2). Not for a directory: its manifest names the target.
    #[arg(long, value_name = "TARGET", value_parser = parse_target)]
    pub target: Option<moge_lower::target::Target>,
    /// Where to run: `emulator` (moge's CPU emulator of Ascend C) or `acl` (an Ascend NPU through
    /// CANN 8.5: kernels compiled with `bisheng`, launched through libascendcl; without CANN it says
    /// so and exits with 2).
    #[arg(long, value_name = "BACKEND", default_value = "emulator", value_parser = parse_backend)]
    pub backend: moge_runtime::backend::BackendKind,
    /// How much the graph optimizer fuses: `all` (default) or `none` (one device kernel per op, the
    /// op chain as a framework runs it). Not for a directory: it holds the kernels as built.
    #[arg(long, value_name = "MODE", default_value = "all")]
    pub fuse: Fuse,
    /// How the cube path chooses a matmul's tile: `rule` (default: the planner's own cost rule) or
    /// `model` (the 910B timing model's estimate of every legal tile, fastest first, cached by
    /// shape). A `#[tile]` hint fixes what it names either way; vector row tiles and grouped GEMM
    /// tiles are not chosen by it. The chosen tile is noted on the `Mmad` (kernel IR and Ascend C).
    #[arg(long, value_name = "MODE", default_value = "rule")]
    pub tiling: TilingArg,
    /// Write the modeled 910B timeline as Chrome trace events (one lane per core and pipe, as
    /// msprof's trace.json; open it in Perfetto or chrome://tracing). Emulator backend only; the file
    /// is written with the other outputs and never replaces an input or another output.
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
    /// Do not model the run on the target's timing model (report.json then has no "modeled"
    /// figures; the emulator runs without recording its instruction trace).
    #[arg(long, conflicts_with = "trace")]
    pub no_model: bool,
    /// Model the run without computing it: the emulator checks and traces every instruction but
    /// skips the arithmetic of copies, vector and cube instructions, so large shapes model in
    /// seconds. The interpreter does not run, nothing is compared and no outputs or inputs are
    /// written: only report.json ("timing_only": true) and --trace. Refused for kernels whose
    /// control flow reads tensor data (GetValue: routing, grouped GEMM) and for build directories.
    #[arg(long, conflicts_with = "no_model")]
    pub timing_only: bool,
    /// The inputs and the output directory.
    #[command(flatten)]
    pub io: InputArgs,
}

/// Arguments of `mogec bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The kernel to bench.
    #[command(flatten)]
    pub kernel: KernelArgs,
    /// The sizes of a dynamic dim: `--dim T=1,8,64,456,4096` (the swept dim), or one size for a
    /// dynamic dim that stays fixed (`--dim S=128`). Repeat the flag for each dim; only one dim may
    /// have several sizes; they run, and are written and plotted, in ascending order. Without --dim, the example kernels have default sweeps (moge_gate,
    /// moge_router: T=1,8,64,456,4096; moge_ffn: T=1,8,64,456; softmax_f32, softmax_bf16, rmsnorm:
    /// T=1,64,1024,4096; gemm, linear_relu, linear_silu: M=16,128,1024).
    #[arg(long, value_name = "NAME=SIZES", value_parser = parse_dim_list)]
    pub dim: Vec<DimList>,
    /// The Ascend part to compile for and model (ascend910b1, ascend910b2, ascend910b3,
    /// ascend910b4).
    #[arg(long, value_name = "TARGET", default_value = "ascend910b2", value_parser = parse_target)]
    pub target: moge_lower::target::Target,
    /// How much the graph optimizer fuses: `all` (default) or `none`.
    #[arg(long, value_name = "MODE", default_value = "all")]
    pub fuse: Fuse,
    /// How the cube path chooses a matmul's tile: `rule` (default: the planner's own cost rule) or
    /// `model` (the 910B timing model's estimate of every legal tile, fastest first, cached by
    /// shape). A `#[tile]` hint fixes what it names either way; vector row tiles and grouped GEMM
    /// tiles are not chosen by it. The chosen tile is noted on the `Mmad` (kernel IR and Ascend C).
    #[arg(long, value_name = "MODE", default_value = "rule")]
    pub tiling: TilingArg,
    /// Run every size in timing-only mode (see `mogec run --help`): no arithmetic, nothing
    /// compared with the interpreter; for sizes too large to emulate.
    #[arg(long)]
    pub timing_only: bool,
    /// The seed of the random inputs of every size.
    #[arg(long, value_name = "SEED", default_value_t = 1)]
    pub random: u64,
    /// The output directory for bench.csv and bench.svg (default: bench-KERNEL, or
    /// bench-MODULE-KERNEL for a kernel in an inline module). It must be new, empty, or hold only
    /// the files of an earlier bench of the same kernel; it is checked before any size runs.
    #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// A `NAME=SIZE,SIZE,...` list of sizes of a dynamic dim (`mogec bench --dim`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DimList {
    /// The dim's name.
    pub name: String,
    /// Its sizes, each at least 1, none twice, in the order given (a bench sorts them).
    pub sizes: Vec<i64>,
}

/// Parses `NAME=SIZE,SIZE,...`: every size a positive integer below 2^40, none given twice.
pub fn parse_dim_list(text: &str) -> Result<DimList, String> {
    let (name, list) = split_binding(text, "NAME=SIZE,SIZE,..., e.g. T=1,8,64")?;
    let mut sizes = Vec::new();
    for item in list.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!(
                "the sizes of `{name}` in `{text}` have an empty entry (two commas, or a comma at an end)"
            ));
        }
        let size: i64 = item.parse().map_err(|_| {
            format!("the sizes of `{name}` must be positive integers below 2^40 ({DIM_LIMIT}), found `{item}`")
        })?;
        if !(1..DIM_LIMIT).contains(&size) {
            return Err(format!(
                "the sizes of `{name}` must be at least 1 and below 2^40, found {size}"
            ));
        }
        if sizes.contains(&size) {
            return Err(format!("the sizes of `{name}` list {size} twice"));
        }
        sizes.push(size);
    }
    Ok(DimList {
        name: name.to_string(),
        sizes,
    })
}

/// How much the graph optimizer fuses (`--fuse`).
#[derive(Copy, Clone, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Fuse {
    /// Every fusion whose legality check passes: MIX kernels, the MoE prologue and epilogues.
    All,
    /// One device kernel per op.
    None,
}

/// How the cube path chooses a matmul's tile (`--tiling`).
#[derive(Copy, Clone, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum TilingArg {
    /// The planner's own cost rule.
    Rule,
    /// The timing model's estimate.
    Model,
}

impl From<TilingArg> for moge_lower::schedule::cube::Tiling {
    fn from(t: TilingArg) -> Self {
        match t {
            TilingArg::Rule => moge_lower::schedule::cube::Tiling::Rule,
            TilingArg::Model => moge_lower::schedule::cube::Tiling::Model,
        }
    }
}

impl From<Fuse> for moge_lower::opt::FuseMode {
    fn from(f: Fuse) -> Self {
        match f {
            Fuse::All => moge_lower::opt::FuseMode::All,
            Fuse::None => moge_lower::opt::FuseMode::None,
        }
    }
}

/// Parses a backend name (`emulator`, `acl`).
fn parse_backend(name: &str) -> Result<moge_runtime::backend::BackendKind, String> {
    name.parse()
        .map_err(|err: moge_runtime::backend::UnknownBackend| err.to_string())
}

/// A `NAME=VALUE` dim binding (`--set E=64`, `--dim T=128`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DimBinding {
    /// The dim's name.
    pub name: String,
    /// Its value, in `0..DIM_LIMIT`.
    pub value: i64,
}

/// A `PARAM=FILE.npy` input binding.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InputBinding {
    /// The parameter's name.
    pub param: String,
    /// The .npy file.
    pub path: PathBuf,
}

/// Parses `NAME=VALUE` with `NAME` an identifier and `VALUE` a size in `0..2^40`.
pub fn parse_dim_binding(text: &str) -> Result<DimBinding, String> {
    let (name, value) = split_binding(text, "NAME=VALUE, e.g. E=64")?;
    let value: i64 = value.parse().map_err(|_| {
        format!("the value of `{name}` must be a non-negative integer below 2^40 ({DIM_LIMIT}), found `{value}`")
    })?;
    if !(0..DIM_LIMIT).contains(&value) {
        return Err(format!(
            "the value of `{name}` must be a size below 2^40 ({DIM_LIMIT}), found {value}"
        ));
    }
    Ok(DimBinding {
        name: name.to_string(),
        value,
    })
}

/// Parses `PARAM=FILE` with `PARAM` an identifier and `FILE` a non-empty path.
pub fn parse_input(text: &str) -> Result<InputBinding, String> {
    let (param, path) = split_binding(text, "PARAM=FILE.npy, e.g. logits=logits.npy")?;
    Ok(InputBinding {
        param: param.to_string(),
        path: PathBuf::from(path),
    })
}

/// Splits `NAME=REST` at the first `=`, checking that `NAME` is an identifier and `REST` is not
/// empty; `shape` describes the expected form for messages.
fn split_binding<'a>(text: &'a str, shape: &str) -> Result<(&'a str, &'a str), String> {
    let Some((name, rest)) = text.split_once('=') else {
        return Err(format!("expected {shape}, found `{text}` (no `=`)"));
    };
    let name = name.trim();
    if !is_identifier(name) {
        return Err(format!(
            "expected {shape}, found `{text}` (`{name}` is not a name)"
        ));
    }
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(format!(
            "expected {shape}, found `{text}` (nothing after `=`)"
        ));
    }
    Ok((name, rest))
}

/// Whether `text` is a plain identifier: a letter or `_`, then letters, digits or `_`.
fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Parses `--target`.
pub fn parse_target(name: &str) -> Result<moge_lower::target::Target, String> {
    moge_lower::target::Target::from_name(name).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dim_bindings() {
        assert_eq!(
            parse_dim_binding("E=64"),
            Ok(DimBinding {
                name: "E".into(),
                value: 64
            })
        );
        assert_eq!(
            parse_dim_binding(" T = 0 "),
            Ok(DimBinding {
                name: "T".into(),
                value: 0
            })
        );
        assert!(parse_dim_binding("E").unwrap_err().contains("no `=`"));
        assert!(parse_dim_binding("=3")
            .unwrap_err()
            .contains("is not a name"));
        assert!(parse_dim_binding("2E=3")
            .unwrap_err()
            .contains("is not a name"));
        assert!(parse_dim_binding("E=")
            .unwrap_err()
            .contains("nothing after"));
        assert!(parse_dim_binding("E=x")
            .unwrap_err()
            .contains("non-negative integer below 2^40 (1099511627776), found `x`"));
        assert!(parse_dim_binding("E=-1")
            .unwrap_err()
            .contains("below 2^40"));
        assert!(parse_dim_binding("E=1099511627776")
            .unwrap_err()
            .contains("below 2^40"));
        assert_eq!(
            parse_dim_binding("E=1099511627775").map(|b| b.value),
            Ok((1 << 40) - 1)
        );
    }

    #[test]
    fn dim_lists() {
        let list = parse_dim_list("T=1,8, 64").unwrap();
        assert_eq!((list.name.as_str(), list.sizes), ("T", vec![1, 8, 64]));
        assert!(parse_dim_list("T=").unwrap_err().contains("nothing after"));
        assert!(parse_dim_list("T=1,,8")
            .unwrap_err()
            .contains("empty entry"));
        assert!(parse_dim_list("T=1,x")
            .unwrap_err()
            .contains("positive integers below 2^40 (1099511627776), found `x`"));
        // Too large for an i64: the limit is named, not just "positive".
        assert!(parse_dim_list("T=99999999999999999999")
            .unwrap_err()
            .contains("below 2^40"));
        assert!(parse_dim_binding("T=99999999999999999999")
            .unwrap_err()
            .contains("below 2^40"));
        assert!(parse_dim_list("T=0,8").unwrap_err().contains("at least 1"));
        assert!(parse_dim_list("T=8,8").unwrap_err().contains("8 twice"));
        assert!(parse_dim_list("1=8").unwrap_err().contains("is not a name"));
    }

    #[test]
    fn input_bindings() {
        assert_eq!(
            parse_input("x=a=b.npy"),
            Ok(InputBinding {
                param: "x".into(),
                path: PathBuf::from("a=b.npy")
            })
        );
        assert!(parse_input("x.npy").unwrap_err().contains("no `=`"));
        assert!(parse_input("x=").unwrap_err().contains("nothing after"));
    }
}
