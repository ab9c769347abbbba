//! `mogec`: the moge compiler driver.
//!
//! `mogec` runs the same frontend as the `#[moge::kernel]` attribute macro, on a Rust source file and
//! without cargo:
//!
//! - `mogec check FILE.rs` checks every kernel of the file and prints rustc-shaped diagnostics;
//! - `mogec build FILE.rs --kernel NAME --set E=64 --emit graph,ascendc,manifest,kir -o DIR`
//!   specializes one kernel and writes what `--emit` asks for: the graph IR text, the Ascend C of
//!   every device kernel, the manifest, the scheduled kernel IR;
//! - `mogec eval FILE.rs --kernel NAME --set ... (--input P=F.npy ... | --random SEED --dim T=128)
//!   -o DIR` runs the reference interpreter on `.npy` inputs and writes `.npy` outputs;
//! - `mogec run FILE.rs ...` (the same flags as eval, plus `--backend`, `--target`) compiles the kernel,
//!   runs it on the emulator, checks it against the interpreter and writes the outputs and
//!   `DIR/report.json` (logic in `moge::run`); exit status 1 when an output is beyond tolerance;
//! - `mogec bench FILE.rs --kernel NAME --set ... --dim T=1,8,64` sweeps a kernel over sizes of a
//!   dynamic dim with the timing model on and writes `bench.csv` and `bench.svg` (`moge::bench`);
//! - `mogec demo` runs the MoGE gate and the MoGE layer of Pangu Pro MoE on the emulator and
//!   reports (`moge::demo`);
//! - `mogec export FILE.rs ... --cann DIR` writes a CANN kernel-launch project for one kernel
//!   (`moge::export`).
//!
//! Exit status: 0 on success, 1 for an error in the user's kernel or data (diagnostics, a constraint
//! that does not hold for the `--set` values, an evaluation error, a bad `.npy` file, a run over the
//! limits, a kernel that fails on the emulator), 2 for a usage error (bad flags or values, a missing
//! or unreadable file, an output directory that cannot be written, a bad `MOGE_*` environment
//! variable), and 101 for an internal error (a bug in moge; `mogec` reports it as one line instead
//! of panicking). Every error other than diagnostics is one line, `error: ...`, on stderr. Outputs
//! are written all at once when the command succeeds, never over one of its input files.

mod args;
mod bench;
mod build;
mod check;
mod emit;
mod error;
mod eval;
mod export;
mod output;
mod run;
mod source;

use std::panic;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use args::{BenchArgs, BuildArgs, CheckArgs, EvalArgs, RunArgs};
use error::Error;

/// The top-level help text after the subcommand list.
const AFTER_HELP: &str = "\
Examples:
  mogec check examples/src/gate.rs
  mogec build examples/src/gate.rs --kernel moge_gate --set E=64 --set G=8 \\
      --emit graph,ascendc,manifest,kir -o out
  mogec eval examples/src/gate.rs --set E=64,G=8 --random 1 --dim T=128 -o out
  mogec eval examples/src/gate.rs --set E=64,G=8 --input logits=out/logits.npy \\
      --input router_scale=out/router_scale.npy -o out2
  mogec run examples/src/gate.rs --set E=64,G=8 --random 1 --dim T=4096 -o out
  mogec build examples/src/ffn.rs --kernel moge_ffn --set H=256,E=16,G=4,I=64,S=128 \\
      --emit ascendc,manifest,kir,dot -o ffn          (the fused MoGE layer; --fuse none: unfused)
  mogec run examples/src/ffn.rs --kernel moge_ffn --set H=256,E=16,G=4,I=64,S=128 \\
      --random 1 --dim T=64 -o out
  mogec bench examples/src/gate.rs --kernel moge_gate --set E=64,G=8 --dim T=1,8,64,456,4096
                                                  (modeled time per size: a table, bench.csv, bench.svg)
  mogec demo
  mogec export examples/src/rmsnorm.rs --set H=5120 --random 1 --dim T=64 --cann rmsnorm_cann
                                                  (a CANN project: CMake, main.cpp, scripts, run.sh)

Outputs are written only when the whole command succeeds, all at once; an output that would
replace one of the command's input files is an error.

Timing model: `mogec run` on the emulator also models how long each kernel would take on the
target 910B part (the emulator records an instruction trace, replayed on a timing model): the
summary says `modeled on ascend910b2: ...` and report.json holds the figures under \"modeled\".
  --no-model             skip the model (and the trace recording)
  --trace FILE.json      also write the modeled timeline (Perfetto / chrome://tracing)
See docs/timing-model.md.

Exit status: 0 success, 1 an error in the kernel or its data (diagnostics, evaluation errors,
a run over the limits, a kernel failing on the emulator, outputs of run or demo beyond
tolerance), 2 a usage error (bad flags, missing or unreadable files, an output directory that
cannot be written, a bad MOGE_* variable), 101 an internal error (a bug in moge).

Environment (a variable that is set but unusable is a usage error):
  MOGE_MEMORY_LIMIT      host memory a run or eval may use, in bytes or with K/M/G/T (powers
                         of 1024), e.g. 8G; default: the smaller of 3/4 of MemTotal and
                         MemAvailable in /proc/meminfo. A run over it is refused before
                         anything is allocated.
  MOGE_EMU_TIMEOUT_SECS  time limit of one emulator launch, 1 to 604800 s (default 300); the
                         kernel's process and every process it started are killed after it
  MOGE_COMPILE_TIMEOUT_SECS  time limit of one C++ compilation, 1 to 604800 s (default 1200);
                         the compiler and every process it started are killed after it; a
                         compile taking over 10 s prints a progress note
  MOGE_CACHE_DIR         cache of compiled emulator kernels (default $XDG_CACHE_HOME/moge or
                         ~/.cache/moge); must be a directory moge can create and write
  MOGE_CXX               C++ compiler of the emulator (default g++); must be an executable
                         file, or a command in PATH
  MOGE_EMU_ECHO          1: copy the emulator process's stdout and stderr to stderr
  ASCEND_HOME_PATH       the CANN install of --backend acl (set by CANN's set_env.sh; without
                         it /usr/local/Ascend/cann, ~/Ascend/cann and ascend-toolkit/latest
                         are tried); device binaries are cached in MOGE_CACHE_DIR/acl
  MOGE_NPU_TIMEOUT_SECS  --backend acl: the longest wait for one kernel on the NPU, 1 to
                         604800 s (default 300); a kernel still running is an error (if ACL
                         does not return, moge stops waiting a tenth later, at least 1 s)
  MOGE_CANN_VERSION_CHECK  off: use a CANN other than 8.5 with 8.5's device flags
  MOGE_EMU_CHECK         the emulator's checking mode: races (the default: every ordering
                         rule), races,no-v-barrier (all but the rule that dependent vector
                         instructions need PipeBarrier<PIPE_V> between them) or off";

/// The moge kernel compiler: checks, specializes, evaluates and compiles `#[moge::kernel]` functions
/// of a Rust source file to Ascend C, and runs them on moge's CPU emulator, without cargo.
#[derive(Parser, Debug)]
#[command(name = "mogec", version, after_help = AFTER_HELP, arg_required_else_help = true)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Check every kernel in a Rust file and report errors the way rustc does.
    #[command(
        long_about = "Check every kernel in a Rust file: every function marked #[moge::kernel] or #[kernel] \
                      (also in inline modules) is parsed, checked (names, arities, shapes with symbolic \
                      dims, dtypes) and built into graph IR.\n\n\
                      Errors are printed the way rustc prints them, pointing at the offending tokens; \
                      for every kernel without errors one line `ok: NAME<STATIC DIMS>(PARAMS) -> (RESULTS)` \
                      is printed. Exits with 1 if any kernel has an error, if the file is not valid Rust, \
                      or if it has no kernels.",
        after_help = "Examples:\n  mogec check examples/src/gate.rs\n  mogec check examples/src/gate.rs examples/src/router.rs   (several files: each is checked)"
    )]
    Check(CheckArgs),
    /// Specialize one kernel and write its graph IR, Ascend C, manifest or kernel IR.
    #[command(
        long_about = "Specialize one kernel of a Rust file with values for its static dims (its const \
                      generics, given with --set) and write the forms --emit asks for into the output \
                      directory:\n\n  \
                      graph     DIR/NAME.graph, the specialized graph IR in text form\n  \
                      ascendc   DIR/<device kernel>.cpp, Ascend C for CANN 8.x, one per device kernel\n  \
                      manifest  DIR/NAME.json, the device kernels in launch order, parameters, block \
                      dim and tiling as expressions of the dynamic dims\n  \
                      kir       DIR/NAME.kir, the program in kernel IR v2 text (docs/kernel-ir-v2.md)\n  \
                      dot       DIR/NAME.dot, the graph optimizer's fusion graph in Graphviz DOT (each \
                      cluster one part of the program: a device kernel or a few launched back to back; \
                      GM tensors as edges with their bytes; the fusions made and the bytes they save)\n\n\
                      --fuse none compiles every op as a device kernel of its own (the op chain as a \
                      framework runs it) instead of fusing (--fuse all, the default). --tiling model \
                      chooses each matmul's tile by the 910B timing model instead of the planner's rule \
                      (--tiling rule, the default); the tile is noted on the Mmad in the .kir and .cpp.\n\n\
                      Dynamic dims (such as the token count T) stay symbolic. --kernel may be left out \
                      when the file has one kernel. ascendc, manifest and kir lower the kernel for \
                      --target; what cannot be lowered yet is an error naming the op and its line. \
                      The files are written all at once, only when every kind was produced.",
        after_help = "Example:\n  mogec build examples/src/gate.rs --kernel moge_gate --set E=64 --set G=8 \
                      --emit graph,ascendc,manifest,kir -o out\n  (writes out/moge_gate.graph, \
                      out/moge_gate_k0.cpp, out/moge_gate.json and out/moge_gate.kir)"
    )]
    Build(BuildArgs),
    /// Evaluate one kernel with the reference interpreter on .npy inputs.
    #[command(
        long_about = "Evaluate one kernel with moge's reference interpreter (the numeric oracle of the \
                      compiler).\n\n\
                      Inputs are NumPy .npy files, one --input PARAM=FILE.npy per kernel parameter \
                      (bf16 parameters are read from float32 files, rounded to nearest even); dynamic \
                      dims are inferred from their shapes. Or --random SEED makes deterministic inputs \
                      (floats uniform in [-2, 2), i32 uniform in 0..8, expert ids a `route` reads in 0..E), with every dynamic dim given by \
                      --dim, and also writes them to the output directory as PARAM.npy so the run can be \
                      repeated with --input (as PARAM.input.npy if a result has the same name). With \
                      --input, a --dim is optional and must agree with the dims the inputs bind.\n\n\
                      Each result is written as DIR/NAME.npy, NAME being the returned identifier (or \
                      outI for the I-th result when it is an expression); bf16 results are written as \
                      float32. An output that would replace an input file is an error.",
        after_help = concat!(
            "Examples:\n  mogec eval examples/src/gate.rs --set E=64,G=8 --random 1 --dim T=128 -o out\n  \
             mogec eval examples/src/gate.rs --set E=64,G=8 --input logits=out/logits.npy \
             --input router_scale=out/router_scale.npy -o out2\n\n",
            "Limits: the host memory of the evaluation (the inputs and every value the interpreter \
             computes) is checked from the shapes before anything is allocated, against \
             MOGE_MEMORY_LIMIT (see `mogec --help`); every tensor is at most 16 GiB."
        )
    )]
    Eval(EvalArgs),
    /// Compile one kernel, run it on the emulator, check it against the reference interpreter and
    /// model its time on the NPU.
    #[command(
        long_about = "Compile one kernel to Ascend C, run it on a backend (moge's CPU emulator of the \
                      Ascend C programming model by default) and check every output against the \
                      reference interpreter on the same inputs.\n\n\
                      On the emulator the run is also modeled on the target NPU (--target): a timing \
                      model of the 910B replays the emulator's instruction trace, and the summary \
                      prints a `modeled on TARGET: ... us, bound ...` line and report.json gets \
                      \"modeled\" (time, bound, per-pipe busy fractions, HBM bytes, TB/s, TFLOPS; \
                      a model, never a measurement; docs/timing-model.md). --trace FILE.json writes \
                      the modeled timeline, --timing-only models a large shape without the \
                      arithmetic, --no-model skips the model.\n\n\
                      In place of FILE.rs, a directory written by `mogec build --emit \
                      ascendc,manifest[,graph]` runs its .cpp files as they are on disk (edited by \
                      hand, or written against the same manifest), with every check of the emulator; \
                      the outputs are compared with the interpreter when the directory holds the \
                      graph, and otherwise written with a note that nothing was compared. --kernel, \
                      --set and --target do not apply to a directory: its manifest fixes them.\n\n\
                      Inputs are given as for eval (--input PARAM=FILE.npy for every parameter, or \
                      --random SEED with --dim for every dynamic dim). Each output is written as \
                      DIR/NAME.npy (named as eval names them), random inputs as DIR/PARAM.npy, and \
                      DIR/report.json holds the device kernels, block dim, GM bytes read and written, \
                      UB use, wall time and, per output, max_abs_err, max_rel_err, mismatches \
                      (elements beyond the tolerance: 2 B + 1 ulp of the output's dtype, B the element's \
                      error bound from the graph, README \"Numeric rules\"; the per-dtype table for \
                      outputs computed through an op without a bound rule) and the tolerance used. \
                      The files are written only when the run finished (also when an output is beyond \
                      tolerance), never over an input file. Exits with 1 when any output is beyond \
                      tolerance.",
        after_help = concat!(
            "Examples:\n  mogec run examples/src/gate.rs --kernel moge_gate --set E=64,G=8 --random 1 \
             --dim T=4096 -o out\n  \
             mogec build examples/src/gate.rs --set E=64,G=8 --emit graph,ascendc,manifest -o gate\n  \
             mogec run gate --random 1 --dim T=4096 -o out\n\n",
            "Limits: a run is checked from its shapes before anything is allocated: every axis a \
             device kernel works on must be below 2^31 (indices and per-call counts are 32-bit), \
             every tensor at most 16 GiB, and the host memory of the whole run (inputs, the \
             interpreter's values, the emulator's copies of every input and output) within \
             MOGE_MEMORY_LIMIT. A kernel running longer than MOGE_EMU_TIMEOUT_SECS is killed with \
             every process it started. See `mogec --help` for every MOGE_* variable."
        )
    )]
    Run(RunArgs),
    /// Sweep a kernel over sizes of a dynamic dim on the emulator and tabulate its modeled times.
    #[command(
        long_about = "Sweep one kernel over sizes of one dynamic dim (--dim T=1,8,64,456,4096) on \
                      moge's emulator with the timing model of --target on. The kernel is compiled \
                      once; each size runs on deterministic random inputs (--random SEED, default 1) \
                      and is checked against the reference interpreter as `mogec run` checks it, or, \
                      with --timing-only, is only traced and modeled (no arithmetic, nothing \
                      compared; refused for kernels whose control flow reads tensor data).\n\n\
                      Only one dim is swept: other dynamic dims take one size each (--dim S=128); \
                      two lists are refused (one plot has one axis: run one bench per size). \
                      Without --dim the example kernels have default sweeps: moge_gate and \
                      moge_router T=1,8,64,456,4096; moge_ffn T=1,8,64,456; softmax_f32, \
                      softmax_bf16 and rmsnorm T=1,64,1024,4096; gemm, linear_relu and linear_silu \
                      M=16,128,1024. Sizes are integers of at least 1, none twice.\n\n\
                      Printed: per size the modeled time (the timing model's, not a measurement), \
                      the roofline time (the launches plus the larger of the compulsory bytes at \
                      the target's HBM bandwidth and, for kernels using the cube, the flops at the \
                      cube's peak), the modeled bound, the modeled HBM rate in TB/s (TFLOPS for \
                      cube kernels) with its percentage of the target's peak, GM traffic over the \
                      compulsory bytes, and the emulator's host time. Written into -o DIR (default \
                      bench-KERNEL, bench-MODULE-KERNEL for a kernel in an inline module; it must be \
                      new, empty, or hold only an earlier bench's files of the same kernel, and is \
                      checked before any size runs): bench.csv (one row per size, in ascending \
                      order of the swept dim: the dims by name, modeled_time_us, bound, gm_bytes, \
                      hbm_bytes, compulsory_bytes, emulator_ms, roofline_us, status, then what was \
                      modeled: kernel, target, timing_only, static_dims) and \
                      bench.svg (modeled time and roofline against the swept dim, log axes when \
                      the values span more than 10x). A progress line shows on a terminal.\n\n\
                      A size that fails (over the limits, a kernel error, outputs beyond tolerance) \
                      is a row `failed: REASON`; the sweep goes on, and the command exits with 1 \
                      after writing everything.",
        after_help = "Examples:\n  mogec bench examples/src/gate.rs --kernel moge_gate --set E=64,G=8\n  \
             mogec bench examples/src/softmax.rs --kernel softmax_f32 --set N=1024 --dim T=1,64,1024 -o sm\n  \
             mogec bench examples/src/matmul.rs --kernel gemm --set K=1024,N=1024 --dim M=128,1024 --timing-only\n\n\
             The MOGE_* variables of `mogec --help` apply to every size."
    )]
    Bench(BenchArgs),
    /// Run the MoGE gate and the whole MoGE layer of Pangu Pro MoE on the emulator and report.
    #[command(
        long_about = "Compile the MoGE router of Pangu Pro MoE (moge_gate, 64 experts in 8 groups) \
                      to Ascend C, run it on moge's CPU emulator at a decode size (456 tokens) and a \
                      prefill size (4096 tokens), and print the device kernels, block dim, UB use, GM \
                      traffic against the compulsory bytes, the error against the reference \
                      interpreter and the wall time. Then the whole MoGE FFN layer (moge_ffn: router, \
                      routing, grouped GEMMs with SwiGLU, combine, shared expert; H = 5120, E = 64, \
                      G = 8, I = 1344, S = 5376) at 8 tokens, compiled fused and unfused (--fuse none): \
                      the device kernels of each, their GM traffic against the compulsory bytes (the \
                      weights of the experts used, x, the outputs, the routing table), the error \
                      against the interpreter and the times. The layer's 2.6 GB of expert weights \
                      need about 12 GB of host memory (MOGE_MEMORY_LIMIT). Needs a C++ compiler (g++) \
                      for the emulator; exits with 1 if an output is beyond tolerance. Writes no files.",
        after_help = "Example:\n  mogec demo\n\nThe MOGE_* variables of `mogec --help` apply."
    )]
    Demo,
    /// Write a CANN kernel-launch project (CMake, Ascend C, host main.cpp, data scripts) for one kernel.
    #[command(
        long_about = "Write a complete CANN kernel-launch project for one kernel into the --cann directory: \
                      the Ascend C of every device kernel, a CMakeLists.txt using CANN's kernel cmake \
                      (ascendc_fatbin_library), a host main.cpp that computes the tiling from the \
                      manifest's expressions, allocates, copies, launches and times with ACL, \
                      scripts/gen_data.py and scripts/verify_result.py (NumPy; golden outputs from \
                      moge's interpreter) and run.sh. The inputs are given as with `mogec run`.",
        after_help = "Example:\n  mogec export examples/src/rmsnorm.rs --set H=5120 --random 1 --dim T=64 --cann rmsnorm_cann\n  (then, with CANN 8.5: rmsnorm_cann/run.sh)"
    )]
    Export(export::ExportArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    on_interrupt_kill_kernels();
    // A panic is a bug in moge. Report it as one line (and exit 101, as rustc does for an internal
    // compiler error) instead of the default panic message and backtrace note.
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        output::error_line(&format!(
            "internal error: mogec panicked{place}: {}; this is a bug in moge, please report it",
            message.replace('\n', " ")
        ));
    }));
    match panic::catch_unwind(move || run(cli.command)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => {
            if let Error::Load(moge::load::LoadError::Diagnostics { rendered, .. }) = &err {
                output::stderr(rendered);
            }
            output::error_line(&err.to_string());
            ExitCode::from(err.exit_code())
        }
        Err(_) => ExitCode::from(101),
    }
}

/// Makes Ctrl-C (and SIGTERM, SIGHUP) kill the emulator's kernel processes before `mogec` dies: they
/// run in process groups of their own, which the terminal's signals do not reach. Their scratch
/// directories (request and response, tens of MB each) are removed too.
fn on_interrupt_kill_kernels() {
    extern "C" fn handler(signal: libc::c_int) {
        moge_runtime::emulator::kill_running();
        moge_runtime::emulator::remove_scratch();
        // SAFETY: signal(2) and raise(3) are async-signal-safe; restoring the default action and
        // raising again ends mogec the way the signal would have.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installs a handler that only uses async-signal-safe calls.
        unsafe {
            libc::signal(signal, handler as *const () as libc::sighandler_t);
        }
    }
}

/// Runs one subcommand.
fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Check(args) => check::run(&args),
        Command::Build(args) => build::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Demo => run::demo(),
        Command::Export(args) => export::run(&args),
    }
}

/// Prints help or version (exit 0), or a clap usage error as one `error: ...` line (exit 2).
fn usage_error(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            output::stdout(&err.render().to_string());
            ExitCode::SUCCESS
        }
        // `mogec` alone: show the help, as a usage error.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            output::stderr(&err.render().to_string());
            ExitCode::from(2)
        }
        _ => {
            output::error_line(&one_line(
                &err.render().to_string(),
                help_command().as_deref(),
            ));
            ExitCode::from(2)
        }
    }
}

/// The subcommand named on the command line, if any, for pointing at its `--help`.
fn help_command() -> Option<String> {
    std::env::args_os()
        .skip(1)
        .filter_map(|arg| arg.into_string().ok())
        .find(|arg| !arg.starts_with('-'))
        .filter(|arg| {
            Cli::command()
                .get_subcommands()
                .any(|sub| sub.get_name() == arg)
        })
}

/// Condenses clap's error text (`error: ...`, tips, possible values, a usage block and a pointer to
/// `--help`) into one line without the `error: ` prefix: the message, then the tips and the possible
/// values separated by `; `, then a pointer to the `--help` of `subcommand` (or of `mogec`).
fn one_line(text: &str, subcommand: Option<&str>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut in_usage = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            in_usage = false;
            continue;
        }
        if trimmed.starts_with("Usage:") {
            in_usage = true;
            continue;
        }
        if in_usage && line.starts_with(' ') {
            continue;
        }
        in_usage = false;
        if trimmed.starts_with("For more information") {
            continue;
        }
        let part = trimmed.strip_prefix("error: ").unwrap_or(trimmed);
        parts.push(part.to_string());
    }
    let mut line = String::new();
    for part in &parts {
        if !line.is_empty() {
            // "the following required arguments were not provided:" continues on the next line.
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    if line.is_empty() {
        line.push_str("invalid command line");
    }
    match subcommand {
        Some(name) => line.push_str(&format!(" (see `mogec {name} --help`)")),
        None => line.push_str(" (see `mogec --help`)"),
    }
    line
}
