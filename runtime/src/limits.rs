//! The limits of a run, in one place: what the emitted kernels can address, how much host memory a
//! whole run may take, and the `MOGE_*` environment variables that tune the runtime.
//!
//! A run holds every tensor several times on the host: the inputs, every value the reference
//! interpreter computes, and the emulator's copies of each GM argument (packed bytes, the child
//! process's GM, the response of an output; see [`EMULATOR_INPUT_COPIES`] and [`EMULATOR_COPIES`]). [`RunFootprint`] adds these up from the
//! shapes alone, so that a launch far over the machine's memory is refused with a message naming the
//! largest tensor before anything is allocated, instead of the emulator being killed by the kernel's
//! out-of-memory killer with only "signal 9".
//!
//! Environment variables are read through the functions here: a value that is set but cannot be used
//! (`MOGE_EMU_TIMEOUT_SECS=abc`, `=0`, a negative or absurd number, an empty `MOGE_CACHE_DIR`) is an
//! [`EnvError`] naming the variable, its value and what is expected, never silently replaced by a
//! default.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest axis a kernel can work on: indices (`topk`, `argmax`, `gather`) are `int32` and the
/// per-call element counts of the Ascend C API are `uint32`, so an axis must stay below 2^31.
pub const MAX_AXIS: i64 = i32::MAX as i64;

/// The largest tensor, GM buffer or workspace a launch allocates: 16 GiB (GM offsets in the emitted
/// kernels are `int64`, so this is a host-memory limit, not an addressing one).
pub const MAX_TENSOR_BYTES: u64 = 1 << 34;

/// How many copies of an input's device bytes a launch holds on the host besides its tensor: the
/// packed bytes (from the first kernel that takes the input to the last) and the emulator process's
/// pages of them (the launcher maps the request file copy-on-write, so it holds only the pages a
/// kernel touches: counted whole). The request file is written from the packed bytes as it goes and
/// an input the kernel did not write is not sent back, so neither is a copy.
pub const EMULATOR_INPUT_COPIES: u64 = 2;

/// How many copies of an output's, intermediate's or workspace's device bytes a launch holds on the
/// host besides the tensor itself: the packed (NaN-filled) bytes, the emulator process's GM and the
/// response read back.
pub const EMULATOR_COPIES: u64 = 3;

/// Host bytes per element besides the tensors and their emulator copies, measured on runs of the
/// gate example and of the MoGE layer (peak RSS of the whole process tree,
/// `cli::the_memory_estimate_bounds_the_measured_peak` and
/// `cli::the_memory_estimate_bounds_the_peak_of_a_multi_kernel_run_with_a_large_weight`): the
/// interpreter's error bound of every value (`f64`, 8 bytes per element, inputs included; not for an
/// input only matrix products read, see [`Role::Weight`]).
pub const BOUND_BYTES_PER_ELEMENT: u64 = 8;

/// See [`BOUND_BYTES_PER_ELEMENT`]: the `f64` values a bound rule reads beside the bound it makes,
/// per element of a value the interpreter computes.
pub const RULE_BYTES_PER_ELEMENT: u64 = 8;

/// See [`BOUND_BYTES_PER_ELEMENT`]: the comparison's two `f64` copies of an output. (`.npy` files are
/// written a chunk at a time, from the tensors themselves.)
pub const COMPARE_BYTES_PER_ELEMENT: u64 = 16;

/// What a run takes besides its tensors: the `mogec` and emulator executables, their libraries, their
/// threads' stacks and the allocator's slack (measured 44-53 MB for a small gate run, so 96 MiB leaves
/// room). Not counted: the C++ compile of a kernel that is not in the cache yet, which
/// runs before the launch and takes the compiler's own memory (about 150-250 MB for the examples).
pub const PROCESS_BYTES: u64 = 96 << 20;

/// The environment variable overriding the host-memory budget of a run (bytes, or a number with a
/// `K`, `M`, `G` or `T` suffix for powers of 1024).
pub const MEMORY_ENV: &str = "MOGE_MEMORY_LIMIT";

/// The environment variable giving the emulator's time limit per kernel launch, in seconds.
pub const TIMEOUT_ENV: &str = "MOGE_EMU_TIMEOUT_SECS";

/// The environment variable naming the emulator's cache directory.
pub const CACHE_DIR_ENV: &str = "MOGE_CACHE_DIR";

/// The environment variable naming the C++ compiler of the emulator.
pub const CXX_ENV: &str = "MOGE_CXX";

/// The environment variable giving the time limit of one C++ compilation of the emulator, in seconds.
pub const COMPILE_TIMEOUT_ENV: &str = "MOGE_COMPILE_TIMEOUT_SECS";

/// The environment variable bounding how long the ACL backend waits for one kernel on the NPU.
pub const NPU_TIMEOUT_ENV: &str = "MOGE_NPU_TIMEOUT_SECS";

/// The variable naming the emulator's checking mode.
pub const CHECK_ENV: &str = "MOGE_EMU_CHECK";

/// The default time limit of one compilation: a kernel of 10,000 terms takes about 100 s in `g++ -O2`.
pub const DEFAULT_COMPILE_TIMEOUT_SECS: u64 = 1200;

/// The environment variable that, set to 1, copies the emulator's stdout and stderr to the host's.
pub const ECHO_ENV: &str = "MOGE_EMU_ECHO";

/// The emulator's default time limit per launch.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// The longest time limit `MOGE_EMU_TIMEOUT_SECS` may ask for: one week.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// The budget used when `/proc/meminfo` cannot be read: 8 GiB.
const FALLBACK_BUDGET: u64 = 8 << 30;

/// A `MOGE_*` environment variable that is set to a value that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {var}={value:?}: {expected}")]
pub struct EnvError {
    /// The variable.
    pub var: &'static str,
    /// Its value (lossily decoded when it is not UTF-8).
    pub value: String,
    /// What is expected instead.
    pub expected: String,
}

/// A tensor or the whole run is over a limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// An axis is longer than the kernels can index.
    #[error("{tensor} has shape {shape}: axis {axis} has {size} elements, more than the kernels can index ({MAX_AXIS}: indices and per-call counts are 32-bit)")]
    Axis {
        /// Which tensor (`input `logits``, `output `weight``).
        tensor: String,
        /// Its shape, `[16000000, 64]`.
        shape: String,
        /// The axis.
        axis: usize,
        /// Its length.
        size: i64,
    },
    /// One tensor is larger than a launch allocates.
    #[error("{tensor} has shape {shape}: {bytes} bytes, more than the largest tensor a launch allocates ({MAX_TENSOR_BYTES} bytes)")]
    Tensor {
        /// Which tensor.
        tensor: String,
        /// Its shape.
        shape: String,
        /// Its size.
        bytes: u128,
    },
    /// The whole run would need more host memory than the budget.
    #[error("the run would need about {total} bytes of host memory ({breakdown}), more than the budget of {budget} bytes ({budget_source}); the largest tensor is {largest} ({largest_bytes} bytes); use smaller dims, or set {MEMORY_ENV} to raise the budget")]
    Memory {
        /// The estimated total (saturating).
        total: u64,
        /// What the total is made of.
        breakdown: String,
        /// The budget.
        budget: u64,
        /// Where the budget came from.
        budget_source: String,
        /// The largest tensor and its shape.
        largest: String,
        /// Its size.
        largest_bytes: u64,
    },
}

/// The host-memory budget of a run and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// The budget in bytes.
    pub bytes: u64,
    /// `MOGE_MEMORY_LIMIT`, or how it was derived from `/proc/meminfo`.
    pub source: String,
}

/// Where a tensor of a run lives, for the footprint.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Role {
    /// An input: held once as a tensor, copied by the emulator, with an error bound.
    Input,
    /// An input that only matrix products read (a weight): held once as a tensor and copied by the
    /// emulator, with no error bound of its own (the products take a parameter's zero bound as
    /// implied).
    Weight,
    /// An output of the device: copied by the emulator, and held once as a tensor.
    Output,
    /// A GM buffer or workspace between device kernels: copied by the emulator only.
    Buffer,
    /// A value the reference interpreter computes (held once).
    Interpreted,
    /// An output of a timing-only run: copied by the emulator and held once, never compared (no
    /// comparison copies).
    Traced,
}

/// The tensors of a run by shape, for checking the limits before anything is allocated.
#[derive(Clone, Debug, Default)]
pub struct RunFootprint {
    /// Every tensor: what it is, its shape, its element size on the host and on the device, and
    /// its role.
    tensors: Vec<(String, Vec<i64>, u64, u64, Role)>,
}

impl RunFootprint {
    /// Adds a tensor: `what` names it in messages (`input `logits``), `element_bytes` is the size of
    /// one element on the host.
    pub fn add(&mut self, what: impl Into<String>, shape: &[i64], element_bytes: u64, role: Role) {
        self.add_device(what, shape, element_bytes, element_bytes, role);
    }

    /// [`add`](Self::add) for a tensor whose device elements are smaller than the host's (`bf16`:
    /// 2 bytes in GM, an `f32` on the host): the emulator's copies count `device_bytes`.
    pub fn add_device(
        &mut self,
        what: impl Into<String>,
        shape: &[i64],
        host_bytes: u64,
        device_bytes: u64,
        role: Role,
    ) {
        self.tensors
            .push((what.into(), shape.to_vec(), host_bytes, device_bytes, role));
    }

    /// Checks every tensor against [`MAX_AXIS`] (device tensors only) and [`MAX_TENSOR_BYTES`], and
    /// the whole run against `budget`.
    pub fn check(&self, budget: &MemoryBudget) -> Result<(), LimitError> {
        let mut total: u128 = u128::from(PROCESS_BYTES);
        let mut parts = [0u128; 3];
        let mut largest: Option<(&str, &[i64], u128)> = None;
        for (what, shape, element_bytes, device_bytes, role) in &self.tensors {
            if *role != Role::Interpreted {
                if let Some((axis, &size)) = shape.iter().enumerate().find(|(_, &s)| s > MAX_AXIS) {
                    return Err(LimitError::Axis {
                        tensor: what.clone(),
                        shape: shape_text(shape),
                        axis,
                        size,
                    });
                }
            }
            let bytes = tensor_bytes(shape, *element_bytes);
            if bytes > u128::from(MAX_TENSOR_BYTES) {
                return Err(LimitError::Tensor {
                    tensor: what.clone(),
                    shape: shape_text(shape),
                    bytes,
                });
            }
            let device = tensor_bytes(shape, *device_bytes);
            let (copies, part) = match role {
                Role::Input | Role::Weight => (u128::from(EMULATOR_INPUT_COPIES), 0),
                Role::Output | Role::Traced | Role::Buffer => (u128::from(EMULATOR_COPIES), 1),
                Role::Interpreted => (0, 2),
            };
            let held = match role {
                Role::Buffer => 0,
                _ => bytes,
            };
            // Per element besides the copies: an input's (or value's) error bound, the values a
            // bound rule reads; an output's comparison copies.
            let per_element = match role {
                Role::Input => BOUND_BYTES_PER_ELEMENT,
                Role::Weight | Role::Buffer | Role::Traced => 0,
                Role::Output => COMPARE_BYTES_PER_ELEMENT,
                Role::Interpreted => BOUND_BYTES_PER_ELEMENT + RULE_BYTES_PER_ELEMENT,
            };
            let extra = tensor_bytes(shape, per_element);
            let sum = held + device * copies + extra;
            parts[part] += sum;
            total += sum;
            if largest.is_none_or(|(_, _, b)| bytes > b) {
                largest = Some((what, shape, bytes));
            }
        }
        if total <= u128::from(budget.bytes) {
            return Ok(());
        }
        let (largest, largest_shape, largest_bytes) = largest.unwrap_or(("nothing", &[], 0));
        let saturate = |bytes: u128| u64::try_from(bytes).unwrap_or(u64::MAX);
        Err(LimitError::Memory {
            total: saturate(total),
            breakdown: ["inputs", "device outputs and buffers", "interpreter values"]
                .iter()
                .zip(parts)
                .filter(|(_, bytes)| *bytes > 0)
                .map(|(what, bytes)| format!("{what} {bytes}"))
                .chain([format!("processes {PROCESS_BYTES}")])
                .collect::<Vec<_>>()
                .join(" + "),
            budget: budget.bytes,
            budget_source: budget.source.clone(),
            largest: format!("{largest} with shape {}", shape_text(largest_shape)),
            largest_bytes: saturate(largest_bytes),
        })
    }
}

/// Bytes of a tensor of `shape` with `element_bytes` per element (negative sizes count as 0).
fn tensor_bytes(shape: &[i64], element_bytes: u64) -> u128 {
    shape.iter().fold(u128::from(element_bytes), |n, &s| {
        n.saturating_mul(u128::try_from(s).unwrap_or(0))
    })
}

/// `[16000000, 64]`; past 16 axes (a shape read from a file can have thousands) the rest is
/// counted: `[1, 1, ..., 1, ... (3000 axes)]`.
pub fn shape_text(shape: &[i64]) -> String {
    const SHOWN: usize = 16;
    let sizes: Vec<String> = shape.iter().take(SHOWN).map(i64::to_string).collect();
    if shape.len() > SHOWN {
        format!("[{}, ... ({} axes)]", sizes.join(", "), shape.len())
    } else {
        format!("[{}]", sizes.join(", "))
    }
}

/// The value of environment variable `var`, `None` when it is unset; an error when it is set but
/// empty or not UTF-8.
pub fn env_value(var: &'static str) -> Result<Option<String>, EnvError> {
    match std::env::var_os(var) {
        None => Ok(None),
        Some(value) => match value.into_string() {
            Ok(text) if text.trim().is_empty() => Err(EnvError {
                var,
                value: text,
                expected: "set but empty; unset it or give a value".to_string(),
            }),
            Ok(text) => Ok(Some(text)),
            Err(raw) => Err(EnvError {
                var,
                value: raw.to_string_lossy().into_owned(),
                expected: "not valid UTF-8".to_string(),
            }),
        },
    }
}

/// The emulator's time limit per launch: `MOGE_EMU_TIMEOUT_SECS` (whole seconds in
/// `1..=604800`), or [`DEFAULT_TIMEOUT_SECS`].
pub fn emulator_timeout() -> Result<Duration, EnvError> {
    timeout(TIMEOUT_ENV, DEFAULT_TIMEOUT_SECS)
}

/// The time limit of environment variable `var` (see [`parse_timeout`]), or `default` seconds when it is
/// unset.
fn timeout(var: &'static str, default: u64) -> Result<Duration, EnvError> {
    let Some(text) = env_value(var)? else {
        return Ok(Duration::from_secs(default));
    };
    parse_timeout(&text)
        .map(Duration::from_secs)
        .map_err(|expected| EnvError {
            var,
            value: text,
            expected,
        })
}

/// Parses a timeout in whole seconds, `1..=MAX_TIMEOUT_SECS`.
fn parse_timeout(text: &str) -> Result<u64, String> {
    let expected = format!("expected a whole number of seconds from 1 to {MAX_TIMEOUT_SECS}");
    let value: i128 = text
        .trim()
        .parse()
        .map_err(|_| format!("not a number; {expected}"))?;
    if value < 1 || value > i128::from(MAX_TIMEOUT_SECS) {
        return Err(format!("out of range; {expected}"));
    }
    Ok(value as u64)
}

/// The ACL backend's time limit for one kernel on the NPU (stream synchronisation with a timeout, so a
/// kernel that never finishes is an error, not a hang): `MOGE_NPU_TIMEOUT_SECS` (whole seconds in
/// `1..=604800`), or [`DEFAULT_TIMEOUT_SECS`].
pub fn npu_timeout() -> Result<Duration, EnvError> {
    timeout(NPU_TIMEOUT_ENV, DEFAULT_TIMEOUT_SECS)
}

/// The time limit of one C++ compilation of the emulator: `MOGE_COMPILE_TIMEOUT_SECS` (whole
/// seconds in `1..=604800`), or [`DEFAULT_COMPILE_TIMEOUT_SECS`].
pub fn compile_timeout() -> Result<Duration, EnvError> {
    timeout(COMPILE_TIMEOUT_ENV, DEFAULT_COMPILE_TIMEOUT_SECS)
}

/// `MOGE_CXX` when set: it must name an executable file (a path with a `/`, or a command found in
/// `PATH`), checked without running it.
pub fn compiler() -> Result<Option<String>, EnvError> {
    let Some(text) = env_value(CXX_ENV)? else {
        return Ok(None);
    };
    let executable = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if text.contains('/') {
        executable(Path::new(&text))
    } else {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| executable(&d.join(&text))))
    };
    if found {
        Ok(Some(text))
    } else {
        Err(EnvError {
            var: CXX_ENV,
            expected: if text.contains('/') {
                "not an executable file; expected a C++17 compiler such as g++".to_string()
            } else {
                "no executable of that name in PATH; expected a C++17 compiler such as g++"
                    .to_string()
            },
            value: text,
        })
    }
}

/// `MOGE_CACHE_DIR/emulator` when `MOGE_CACHE_DIR` is set: created if needed, and checked to be a
/// directory this process can write (a regular file, `/dev/full` or `/proc/self` is refused).
pub fn cache_dir() -> Result<Option<PathBuf>, EnvError> {
    cache_dir_for("emulator")
}

/// `MOGE_CACHE_DIR/<sub>` when `MOGE_CACHE_DIR` is set (`emulator`, `acl`), checked as
/// [`cache_dir`] checks it.
pub fn cache_dir_for(sub: &str) -> Result<Option<PathBuf>, EnvError> {
    let Some(text) = env_value(CACHE_DIR_ENV)? else {
        return Ok(None);
    };
    let dir = PathBuf::from(&text).join(sub);
    let refuse = |why: String| EnvError {
        var: CACHE_DIR_ENV,
        value: text.clone(),
        expected: format!("{why}; expected a directory moge can create and write"),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| refuse(format!("cannot create {}: {e}", dir.display())))?;
    // Creating a directory can succeed where writing a file does not (a read-only mount): try it.
    let probe = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .map_err(|e| refuse(format!("cannot write in {}: {e}", dir.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(Some(dir))
}

/// Whether `MOGE_EMU_ECHO` asks for the emulator's output: unset or `0` is off, `1` is on.
pub fn emulator_echo() -> Result<bool, EnvError> {
    match env_value(ECHO_ENV)?.as_deref().map(str::trim) {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(EnvError {
            var: ECHO_ENV,
            value: other.to_string(),
            expected: "expected 1 (copy the emulator's output to stderr) or 0".to_string(),
        }),
    }
}

/// The host-memory budget of a run: `MOGE_MEMORY_LIMIT`, or the smaller of three quarters of
/// `MemTotal` and all of `MemAvailable` in `/proc/meminfo` (8 GiB if it cannot be read).
pub fn memory_budget() -> Result<MemoryBudget, EnvError> {
    if let Some(text) = env_value(MEMORY_ENV)? {
        let bytes = parse_bytes(&text).map_err(|expected| EnvError {
            var: MEMORY_ENV,
            value: text.clone(),
            expected,
        })?;
        return Ok(MemoryBudget {
            bytes,
            source: format!("{MEMORY_ENV}={}", text.trim()),
        });
    }
    Ok(match std::fs::read_to_string("/proc/meminfo") {
        Ok(text) => budget_from_meminfo(&text),
        Err(_) => None,
    }
    .unwrap_or_else(|| MemoryBudget {
        bytes: FALLBACK_BUDGET,
        source: "/proc/meminfo could not be read; a default of 8 GiB".to_string(),
    }))
}

/// The budget from the text of `/proc/meminfo`.
fn budget_from_meminfo(text: &str) -> Option<MemoryBudget> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kib: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        kib.checked_mul(1024)
    };
    let total = field("MemTotal:")?;
    let three_quarters = total / 4 * 3;
    Some(match field("MemAvailable:") {
        Some(available) if available < three_quarters => MemoryBudget {
            bytes: available,
            source: "MemAvailable in /proc/meminfo".to_string(),
        },
        _ => MemoryBudget {
            bytes: three_quarters,
            source: "3/4 of MemTotal in /proc/meminfo".to_string(),
        },
    })
}

/// Parses a byte count: digits, optionally followed by `K`, `M`, `G` or `T` (powers of 1024, an
/// optional `iB` or `B` after it), at least 1 MiB.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let expected = "expected a byte count of at least 1M, such as 4294967296, 4096M or 4G";
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, suffix) = trimmed.split_at(digits_end);
    let shift = match suffix
        .trim()
        .trim_end_matches("iB")
        .trim_end_matches('B')
        .to_ascii_uppercase()
        .as_str()
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("unknown unit `{}`; {expected}", suffix.trim())),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("not a number; {expected}"))?;
    let bytes = value
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("too large; {expected}"))?;
    if bytes < 1 << 20 {
        return Err(format!("too small; {expected}"));
    }
    Ok(bytes)
}

/// Checks every `MOGE_*` variable the runtime reads, so that a bad value is reported before any
/// work starts.
pub fn check_environment() -> Result<(), EnvError> {
    emulator_timeout()?;
    emulator_echo()?;
    memory_budget()?;
    compile_timeout()?;
    npu_timeout()?;
    cache_dir()?;
    compiler()?;
    emulator_check()?;
    Ok(())
}

/// The emulator's checking mode: `MOGE_EMU_CHECK` (`off`, `races`, `races,no-v-barrier`), or the
/// default when unset.
pub fn emulator_check() -> Result<crate::emulator::CheckMode, EnvError> {
    match env_value(CHECK_ENV)? {
        None => Ok(crate::emulator::CheckMode::default()),
        Some(text) => crate::emulator::CheckMode::parse(text.trim()).ok_or(EnvError {
            var: CHECK_ENV,
            value: text,
            expected: "expected off, races or races,no-v-barrier".to_string(),
        }),
    }
}

/// The meaning of a signal that killed a process, for messages: `SIGKILL, probably out of memory`.
pub fn signal_meaning(signal: i32) -> &'static str {
    match signal {
        4 => "SIGILL, an illegal instruction",
        6 => "SIGABRT, an abort (a failed assertion or an uncaught C++ exception)",
        7 => "SIGBUS, a bad memory access",
        8 => "SIGFPE, an arithmetic error such as an integer division by zero",
        9 => "SIGKILL: killed from outside, most likely by the out-of-memory killer because the host ran out of memory",
        11 => "SIGSEGV, an invalid memory access",
        15 => "SIGTERM, terminated from outside",
        _ => "a signal",
    }
}

impl fmt::Display for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes ({})", self.bytes, self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_in_range_parse_and_others_are_refused() {
        assert_eq!(parse_timeout("1"), Ok(1));
        assert_eq!(parse_timeout(" 300 "), Ok(300));
        assert_eq!(parse_timeout("604800"), Ok(MAX_TIMEOUT_SECS));
        for bad in [
            "abc",
            "0",
            "-5",
            "604801",
            "1e9",
            "99999999999999999999999999",
            "1.5",
        ] {
            assert!(parse_timeout(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn byte_counts_with_units() {
        assert_eq!(parse_bytes("4G"), Ok(4 << 30));
        assert_eq!(parse_bytes("4096M"), Ok(4 << 30));
        assert_eq!(parse_bytes("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        for bad in ["", "x", "4X", "-4G", "1K", "99999999999T", "4.5G"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn budget_is_the_smaller_of_three_quarters_and_available() {
        let lots = "MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   23000000 kB\n";
        assert_eq!(budget_from_meminfo(lots).unwrap().bytes, 18_000_000 * 1024);
        let busy = "MemTotal:       24000000 kB\nMemAvailable:   1000000 kB\n";
        assert_eq!(budget_from_meminfo(busy).unwrap().bytes, 1_000_000 * 1024);
        assert_eq!(budget_from_meminfo("nothing here"), None);
    }

    #[test]
    fn footprint_counts_copies_and_names_the_largest_tensor() {
        let budget = MemoryBudget {
            bytes: 1 << 30,
            source: "test".to_string(),
        };
        let mut run = RunFootprint::default();
        // 16M x 64 f32 logits: 4 GiB, three copies on the host.
        run.add("input `logits`", &[16_000_000, 64], 4, Role::Input);
        run.add("input `router_scale`", &[64], 4, Role::Input);
        let err = run.check(&budget).unwrap_err();
        let LimitError::Memory {
            total,
            largest,
            largest_bytes,
            ..
        } = &err
        else {
            panic!("expected a memory error, got {err:?}");
        };
        assert_eq!(*largest, "input `logits` with shape [16000000, 64]");
        assert_eq!(*largest_bytes, 16_000_000 * 64 * 4);
        // Per element: the f32 and its two emulator copies (12 bytes) and its f64 error bound (8);
        // plus the processes themselves.
        assert_eq!(*total, (16_000_000 * 64 + 64) * (4 * 3 + 8) + PROCESS_BYTES);
        assert!(err.to_string().contains("processes 100663296"), "{err}");
        assert!(err.to_string().contains("[16000000, 64]"), "{err}");

        // A bf16 weight of 64 x 5120 x 2688: the f32 tensor and two copies of its 2-byte device
        // elements, no bound; an output its three copies and the comparison's f64 pair.
        let mut layer = RunFootprint::default();
        layer.add_device("input `w13`", &[64, 5120, 2688], 4, 2, Role::Weight);
        layer.add_device("output `y`", &[8, 5120], 4, 2, Role::Output);
        layer.add_device("intermediate `rows`", &[8, 5120], 4, 2, Role::Buffer);
        layer.add("value", &[8, 5120], 4, Role::Interpreted);
        let Err(LimitError::Memory { total, .. }) = layer.check(&budget) else {
            panic!("a layer of 3.5 GB is over a budget of 1 GiB");
        };
        let weight = 64 * 5120 * 2688u64;
        let rows = 8 * 5120u64;
        assert_eq!(
            total,
            weight * (4 + 2 * 2)
                + rows * (4 + 3 * 2 + 16)
                + rows * 3 * 2
                + rows * (4 + 16)
                + PROCESS_BYTES
        );

        let mut small = RunFootprint::default();
        small.add("input `x`", &[1000, 64], 4, Role::Input);
        small.add("value", &[1000, 64], 4, Role::Interpreted);
        assert_eq!(small.check(&budget), Ok(()));
    }

    #[test]
    fn axes_and_tensors_over_the_limits_are_refused() {
        let budget = MemoryBudget {
            bytes: u64::MAX,
            source: "test".to_string(),
        };
        let mut long = RunFootprint::default();
        long.add("input `x`", &[1, 1 << 31], 1, Role::Input);
        assert!(matches!(
            long.check(&budget),
            Err(LimitError::Axis { axis: 1, .. })
        ));
        let mut big = RunFootprint::default();
        big.add("output `y`", &[1 << 20, 1 << 13], 4, Role::Output);
        assert!(matches!(big.check(&budget), Err(LimitError::Tensor { .. })));
    }
}
