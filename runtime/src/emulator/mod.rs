//! The CPU emulator of the Ascend C programming model.
//!
//! A kernel is an Ascend C source (`#include "kernel_operator.h"`, an `extern "C" __global__ __aicore__`
//! function). [`compile`] builds it with the host C++ compiler against moge's own emulation headers
//! (`runtime/emulator/include`, the CANN 8.x kernel API) and links the launcher
//! (`runtime/emulator/src/launcher.cpp`); executables are cached by a content hash of the source, the
//! headers, the launcher, the flags and the compiler version. [`launch_raw`] runs a kernel in a child
//! process, so that a faulty kernel (even one that segfaults) cannot take the host down: `block_dim` cores
//! run as threads, each with its own UB/L1/L0 memories, TPipe, queues and events; GM is shared.
//!
//! The emulator checks what the hardware would punish — UB capacity, 32-byte alignment of copies and vector
//! operands, GM bounds per argument, queue misuse, unpaired events — and reports each failure as a
//! [`Violation`] naming the kernel, the core, the API call and the values. It counts the GM bytes read and
//! written and the UB high-water mark.
//!
//! The kernel ABI: `NAME(GM_ADDR arg0, ..., GM_ADDR argN, GM_ADDR workspace, GM_ADDR tiling)`.
//!
//! Environment (read through [`crate::limits`]; a value that is set but unusable is an error):
//! `MOGE_CXX` (compiler, default `g++`), `MOGE_CACHE_DIR` (cache directory, default
//! `$XDG_CACHE_HOME/moge` or `~/.cache/moge`), `MOGE_EMU_TIMEOUT_SECS` (1 to 604800, default 300),
//! `MOGE_EMU_ECHO` (`1`: the kernel process's stdout and stderr are copied to the host's stderr),
//! `MOGE_EMU_CHECK` (`off`, `races`, `races,no-v-barrier`; the checking mode of launches made through the
//! backend, see [`CheckMode`]),
//! `MOGE_COMPILE_TIMEOUT_SECS` (1 to 604800, default 1200: one compilation's time limit).

pub(crate) mod cache;
pub(crate) mod process;
mod protocol;
mod scratch;
pub(crate) mod sha256;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use process::kill_running;
pub use scratch::remove_scratch;

/// One GM parameter of a kernel: its name (for messages), its bytes, and whether the kernel writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GmArg {
    /// The parameter's name, used in GM-bounds messages.
    pub name: String,
    /// The contents: inputs are read by the kernel; outputs start with these bytes too.
    pub bytes: Vec<u8>,
    /// Whether the kernel writes this argument.
    pub is_output: bool,
}

/// Which cores a launch runs (`KERNEL_TASK_TYPE_DEFAULT` of the kernel must agree).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum CoreType {
    /// `KERNEL_TYPE_AIV_ONLY` (or `MIX_AIV_1_0`): `block_dim` vector cores.
    #[default]
    Aiv,
    /// `KERNEL_TYPE_AIC_ONLY` (or `MIX_AIC_1_0`): `block_dim` cube cores.
    Aic,
    /// `KERNEL_TYPE_MIX_AIC_1_2`: `block_dim` AI cores, each one AIC and two AIVs, all running at once.
    MixAic1_2,
}

impl CoreType {
    fn code(self) -> u8 {
        match self {
            CoreType::Aiv => 0,
            CoreType::Aic => 1,
            CoreType::MixAic1_2 => 2,
        }
    }
}

/// The emulator's checking mode: the happens-before race detector (see `runtime/emulator/README.md`),
/// and whether it records the instruction trace for the timing model ([`crate::model`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CheckMode {
    /// Report accesses of different pipes (or cores) to the same bytes that no sync orders.
    pub races: bool,
    /// Also require `PipeBarrier<PIPE_V>` between dependent vector instructions.
    pub v_barrier: bool,
    /// Record the instruction trace ([`RawReport::trace`]); off by default.
    pub trace: bool,
    /// With `trace`: timing-only mode. Copies, element-wise vector instructions, Gather and the cube
    /// instructions are checked and traced as always but move and compute no data, so the trace is
    /// the same record for record and a large shape runs in seconds; the outputs hold nothing
    /// meaningful, and a kernel that reads a tensor value (`GetValue`) fails naming the read.
    pub timing_only: bool,
}

impl Default for CheckMode {
    /// The default when `MOGE_EMU_CHECK` is unset: everything checked ([`CheckMode::FULL`]), the
    /// `PipeBarrier<PIPE_V>` rule included (the compiler emits every barrier that rule needs).
    fn default() -> Self {
        CheckMode::FULL
    }
}

impl CheckMode {
    /// Everything checked.
    pub const FULL: CheckMode = CheckMode {
        races: true,
        v_barrier: true,
        trace: false,
        timing_only: false,
    };
    /// No race detection (the other checks always run).
    pub const OFF: CheckMode = CheckMode {
        races: false,
        v_barrier: false,
        trace: false,
        timing_only: false,
    };

    /// Parses `off`, `races` (everything) or `races,no-v-barrier`.
    pub fn parse(text: &str) -> Option<CheckMode> {
        match text.trim() {
            "off" => Some(CheckMode::OFF),
            "races" | "full" => Some(CheckMode::FULL),
            "races,no-v-barrier" => Some(CheckMode {
                races: true,
                v_barrier: false,
                trace: false,
                timing_only: false,
            }),
            _ => None,
        }
    }

    /// `MOGE_EMU_CHECK`, or the default when it is unset.
    pub fn from_env() -> Result<CheckMode, EmuError> {
        crate::limits::emulator_check().map_err(|e| EmuError::CheckMode { value: e.value })
    }

    fn bits(self) -> u32 {
        u32::from(self.races)
            | u32::from(self.races && self.v_barrier) << 1
            | u32::from(self.trace) << 2
            | u32::from(self.trace && self.timing_only) << 3
    }
}

/// GM traffic of one core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreStats {
    /// `AIV 3`, `AIC 0`, `AIV 0.1` (AI core 0, sub-block 1 of a MIX kernel).
    pub label: String,
    /// GM bytes this core read.
    pub gm_bytes_read: u64,
    /// GM bytes this core wrote (DataCopy, Fixpipe, atomics, SetValue).
    pub gm_bytes_written: u64,
}

/// A launch at the level of bytes: the source, the kernel name, the grid and the arguments.
#[derive(Clone, Debug)]
pub struct RawLaunch<'a> {
    /// The Ascend C source (.cpp).
    pub source: &'a str,
    /// The `extern "C"` name of the kernel function.
    pub kernel: &'a str,
    /// Number of cores (`GetBlockNum()`), 1..=65535; AI cores (1 AIC + 2 AIV each) for MIX.
    pub block_dim: u32,
    /// Which cores run.
    pub core_type: CoreType,
    /// The checking mode.
    pub check: CheckMode,
    /// The GM parameters in kernel order (before workspace and tiling).
    pub args: Vec<GmArg>,
    /// Bytes of the zero-filled workspace passed after the arguments.
    pub workspace_bytes: usize,
    /// The tiling bytes passed last.
    pub tiling: Vec<u8>,
}

/// What a launch produced.
#[derive(Clone, Debug)]
pub struct RawReport {
    /// The GM arguments after the run (same order, names and flags as the launch).
    pub args: Vec<GmArg>,
    /// GM bytes read by DataCopy/DataCopyPad and GlobalTensor::GetValue, summed over cores.
    pub gm_bytes_read: u64,
    /// GM bytes written by DataCopy/DataCopyPad, GlobalTensor::SetValue and Fill, summed over cores.
    pub gm_bytes_written: u64,
    /// The largest UB footprint of a core's TPipe, in bytes.
    pub ub_high_water: u64,
    /// Wall time of the kernel run inside the emulator process (excluding compilation and process start).
    pub wall: Duration,
    /// Per core, in launch order (MIX: AIC u, AIV u.0, AIV u.1, ...).
    pub cores: Vec<CoreStats>,
    /// The instruction trace, when [`CheckMode::trace`] asked for it.
    pub trace: Option<crate::model::trace::Trace>,
}

/// A compiled (cached) emulator executable for one kernel source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledKernel {
    executable: PathBuf,
    hash: String,
}

impl CompiledKernel {
    /// The executable.
    pub fn path(&self) -> &Path {
        &self.executable
    }

    /// The content hash that keys the cache.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// A check that failed in a kernel: which kernel, which core, which API call, and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The kernel name.
    pub kernel: String,
    /// The core's index in the launch (MIX: AI core u is 3u, its AIVs 3u+1 and 3u+2).
    pub core: u32,
    /// The core as messages name it: `AIV 3`, `AIC 1`, `AIV 1.0`.
    pub core_label: String,
    /// The API call, e.g. `DataCopy(GM->local)` or `TQue::DeQue`.
    pub call: String,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel `{}`, core {}, {}: {}",
            self.kernel, self.core_label, self.call, self.message
        )
    }
}

/// Errors of the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    /// No C++ compiler could be run.
    #[error(
        "no C++ compiler: `{compiler}` could not be run ({reason}); the emulator needs g++ (install it, e.g. \
         `apt-get install g++`, or point MOGE_CXX at a C++17 compiler)"
    )]
    NoCompiler {
        /// The command tried.
        compiler: String,
        /// Why it failed.
        reason: String,
    },
    /// The kernel source did not compile.
    #[error("the kernel source failed to compile:\n{stderr}")]
    Compile {
        /// The compiler's messages (the source file is named `kernel.cpp`).
        stderr: String,
    },
    /// The C++ compiler ran longer than `MOGE_COMPILE_TIMEOUT_SECS` and was killed.
    #[error("the C++ compiler `{compiler}` did not finish within {seconds} s; it and every process it started were killed (set MOGE_COMPILE_TIMEOUT_SECS to wait longer)")]
    CompileTimeout {
        /// The compiler command.
        compiler: String,
        /// The time limit.
        seconds: u64,
    },
    /// One or more checks failed while the kernel ran.
    #[error("{}", violations_text(.violations, *.total))]
    Violation {
        /// The first violations, by core (each core stops at its first).
        violations: Vec<Violation>,
        /// How many violations there were in all.
        total: u64,
    },
    /// The kernel process died of a signal (a segfault, an abort, the out-of-memory killer...).
    #[error("the emulator process of kernel `{kernel}` died of signal {signal} ({}){}", crate::limits::signal_meaning(*.signal), detail_text(.detail))]
    Crash {
        /// The kernel name.
        kernel: String,
        /// The signal number.
        signal: i32,
        /// The end of the process's stderr (names the core that crashed).
        detail: String,
    },
    /// The kernel ran longer than the timeout and was killed.
    #[error("kernel `{kernel}` did not finish within {seconds} s; it and every process it started were killed (set MOGE_EMU_TIMEOUT_SECS to wait longer)")]
    Timeout {
        /// The kernel name.
        kernel: String,
        /// The timeout.
        seconds: u64,
    },
    /// The source defines no `extern "C"` function of the kernel's name.
    #[error("the source defines no extern \"C\" kernel named `{kernel}`")]
    KernelNotFound {
        /// The kernel name.
        kernel: String,
    },
    /// The launch parameters are invalid.
    #[error("invalid launch of kernel `{kernel}`: {message}")]
    InvalidLaunch {
        /// The kernel name.
        kernel: String,
        /// What is wrong.
        message: String,
    },
    /// The emulator process failed in a way that is not the kernel's doing.
    #[error("the emulator process failed: {message}")]
    Launcher {
        /// What happened.
        message: String,
    },
    /// `MOGE_EMU_CHECK` is set to something else than `off`, `races` or `races,no-v-barrier`.
    #[error("MOGE_EMU_CHECK is `{value}`: expected `off`, `races` or `races,no-v-barrier`")]
    CheckMode {
        /// The value found.
        value: String,
    },
    /// A `MOGE_*` environment variable has a value that cannot be used.
    #[error(transparent)]
    Environment(#[from] crate::limits::EnvError),
    /// A file or process operation failed.
    #[error("emulator i/o error while {context}: {source}")]
    Io {
        /// What the emulator was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl EmuError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        EmuError::Io {
            context: context.into(),
            source,
        }
    }
}

fn violations_text(violations: &[Violation], total: u64) -> String {
    let mut text = match violations.first() {
        Some(first) => first.to_string(),
        None => String::from("the kernel violated the emulator's checks"),
    };
    for violation in violations.iter().skip(1) {
        text.push('\n');
        text.push_str(&violation.to_string());
    }
    let shown = violations.len() as u64;
    if total > shown {
        text.push_str(&format!("\n... and {} more", total - shown));
    }
    text
}

fn detail_text(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// Compiles a kernel source for the emulator, or finds it in the cache.
pub fn compile(source: &str) -> Result<CompiledKernel, EmuError> {
    cache::compile(source)
}

/// Compiles (cached) and runs a kernel on the emulator.
pub fn launch_raw(launch: RawLaunch<'_>) -> Result<RawReport, EmuError> {
    validate(&launch)?;
    let compiled = compile(launch.source)?;
    launch_compiled(&compiled, launch)
}

/// Runs an already compiled kernel; `launch.source` is not used. The time limit is
/// `MOGE_EMU_TIMEOUT_SECS` (see [`crate::limits::emulator_timeout`]).
pub fn launch_compiled(
    compiled: &CompiledKernel,
    launch: RawLaunch<'_>,
) -> Result<RawReport, EmuError> {
    let limit = crate::limits::emulator_timeout()?;
    launch_compiled_within(compiled, launch, limit)
}

/// Runs an already compiled kernel with a time limit: when it is reached, the kernel's process and
/// every process it started are killed and the launch fails with [`EmuError::Timeout`].
pub fn launch_compiled_within(
    compiled: &CompiledKernel,
    launch: RawLaunch<'_>,
    limit: std::time::Duration,
) -> Result<RawReport, EmuError> {
    validate(&launch)?;
    let echo = crate::limits::emulator_echo()?;
    process::run(compiled, launch, limit, echo)
}

/// Most kernel parameters the launcher can pass (GM arguments + workspace + tiling).
const MAX_PARAMS: usize = 64;

fn validate(launch: &RawLaunch<'_>) -> Result<(), EmuError> {
    let invalid = |message: String| EmuError::InvalidLaunch {
        kernel: launch.kernel.to_string(),
        message,
    };
    let mut chars = launch.kernel.chars();
    let identifier = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !identifier {
        return Err(invalid(format!(
            "`{}` is not a C identifier",
            launch.kernel
        )));
    }
    if launch.block_dim == 0 || launch.block_dim > 65535 {
        return Err(invalid(format!(
            "block_dim must be in 1..=65535, found {}",
            launch.block_dim
        )));
    }
    if launch.args.len() + 2 > MAX_PARAMS {
        return Err(invalid(format!(
            "at most {} GM arguments are supported (plus workspace and tiling), found {}",
            MAX_PARAMS - 2,
            launch.args.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_modes_parse_and_encode() {
        assert_eq!(CheckMode::parse("off"), Some(CheckMode::OFF));
        assert_eq!(CheckMode::parse("races"), Some(CheckMode::FULL));
        assert_eq!(
            CheckMode::parse(" races,no-v-barrier "),
            Some(CheckMode {
                races: true,
                v_barrier: false,
                trace: false,
                timing_only: false,
            })
        );
        assert_eq!(CheckMode::parse("race"), None);
        assert_eq!(CheckMode::OFF.bits(), 0);
        assert_eq!(CheckMode::default().bits(), 3);
        assert_eq!(CheckMode::FULL.bits(), 3);
        // The V rule alone means nothing without races.
        let odd = CheckMode {
            races: false,
            v_barrier: true,
            trace: false,
            timing_only: false,
        };
        assert_eq!(odd.bits(), 0);
        let traced = CheckMode {
            trace: true,
            ..CheckMode::OFF
        };
        assert_eq!(traced.bits(), 4);
        let timing_only = CheckMode {
            trace: true,
            timing_only: true,
            ..CheckMode::OFF
        };
        assert_eq!(timing_only.bits(), 12);
        // Timing-only means nothing without the trace.
        let untraced = CheckMode {
            timing_only: true,
            ..CheckMode::OFF
        };
        assert_eq!(untraced.bits(), 0);
    }

    #[test]
    fn core_types_have_the_protocol_codes_of_the_launcher() {
        assert_eq!(
            [CoreType::Aiv, CoreType::Aic, CoreType::MixAic1_2].map(CoreType::code),
            [0, 1, 2]
        );
    }
}
