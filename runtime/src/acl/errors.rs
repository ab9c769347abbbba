//! ACL error codes and the ACL backend's errors.
//!
//! Every code an ACL call can return is turned into words by [`meaning`]: the table covers the codes
//! CANN 8.5.0 documents in `acl/acl_base.h` (the `ACL_ERROR_*` constants, 1xxxxx/2xxxxx/3xxxxx/5xxxxx)
//! and `acl/error_codes/rt_error_codes.h` (the runtime's `ACL_ERROR_RT_*`, 107xxx/207xxx/507xxx), so a
//! failure says which call failed and what its code means instead of a bare number.

use std::path::PathBuf;

use crate::limits::EnvError;

/// What an ACL error code means, from the CANN 8.5.0 headers; codes outside the tables say so.
pub fn meaning(code: i32) -> &'static str {
    match code {
        0 => "success",
        // acl_base.h: parameters and state (1xxxxx).
        100000 => "invalid parameter",
        100001 => "ACL not initialised (aclInit was not called)",
        100002 => "ACL initialised twice",
        100003 => "invalid file",
        100004 => "failed to write a file",
        100005 => "invalid file size",
        100006 => "failed to parse a file",
        100007 => "a file misses an attribute",
        100008 => "a file has an invalid attribute",
        100009 => "invalid dump configuration",
        100010 => "invalid profiling configuration",
        100011 => "invalid model id",
        100012 => "failed to deserialise a model",
        100013 => "failed to parse a model",
        100014 => "failed to read a model",
        100015 => "invalid model size",
        100016 => "a model misses an attribute",
        100017 => "a model's input does not match",
        100018 => "a model's output does not match",
        100019 => "the model is not dynamic",
        100020 => "operator type does not match",
        100021 => "operator input does not match",
        100022 => "operator output does not match",
        100023 => "operator attribute does not match",
        100024 => "operator not found",
        100025 => "operator failed to load",
        100026 => "unsupported data type",
        100027 => "format does not match",
        100028 => "binary selector not registered",
        100029 => "kernel not found",
        100030 => "binary selector already registered",
        100031 => "kernel already registered",
        100032 => "invalid queue id",
        100033 => "repeated subscription",
        100034 => "stream not subscribed",
        100035 => "thread not subscribed",
        100036 => "timed out waiting for a callback",
        100037 => "ACL finalised twice",
        100038 => "not a static AIPP",
        100039 => "the library is a compile-only stub (no device runtime)",
        100040 => "group not set",
        100041 => "group not created",
        100042 => "profiling already running",
        100043 => "profiling not running",
        100044 => "dump already running",
        100045 => "dump not running",
        148046 => "profiling subscribed twice",
        148047 => "profiling API conflict",
        148048 => "invalid max operator queue configuration",
        148049 => "invalid OPP path",
        148050 => "operator does not support dynamic shapes",
        148051 => "related resources not released",
        148052 => "unsupported JPEG",
        148053 => "invalid bundle model id",
        // acl_base.h: resources (2xxxxx), storage (3xxxxx), internal (5xxxxx).
        200000 => "host memory allocation failed",
        200001 => "API not supported",
        200002 => "invalid device",
        200003 => "memory address not aligned",
        200004 => "resource does not match",
        200005 => "invalid resource handle",
        200006 => "feature not supported",
        200007 => "profiling modules not supported",
        300000 => "storage over limit",
        500000 => "ACL internal error",
        500001 => "ACL failure",
        500002 => "graph engine failure",
        500003 => "runtime failure",
        500004 => "driver failure",
        500005 => "profiling failure",
        // rt_error_codes.h: runtime parameters and state (107xxx).
        107000 => "runtime: invalid parameter",
        107001 => "runtime: invalid device id",
        107002 => "runtime: no current context (aclrtSetDevice not called on this thread)",
        107003 => "runtime: stream not in the current context",
        107004 => "runtime: model not in the current context",
        107005 => "runtime: stream not in the model",
        107006 => "runtime: invalid event timestamp",
        107007 => "runtime: event timestamps reversed",
        107008 => "runtime: memory address not aligned",
        107009 => "runtime: failed to open a file",
        107010 => "runtime: failed to write a file",
        107011 => "runtime: stream subscription error",
        107012 => "runtime: thread subscription error",
        107013 => "runtime: group not set",
        107014 => "runtime: group not created",
        107015 => "runtime: no callback registered on the stream",
        107016 => "runtime: invalid memory type",
        107017 => "runtime: invalid handle",
        107018 => "runtime: invalid malloc type",
        107019 => "runtime: wait timed out",
        107020 => "runtime: task timed out",
        107021 => "runtime: sysparamopt not set",
        107022 => "runtime: device task aborting",
        107023 => "runtime: stream aborting",
        107024 => "runtime: capture dependency failure",
        107025 => "runtime: invalid capture model",
        107026 => "runtime: model is captured",
        107027 => "runtime: stream is captured",
        107028 => "runtime: event is captured",
        107029 => "runtime: stream is not capturing",
        107030 => "runtime: operation not supported while capturing",
        107031 => "runtime: disallowed implicit dependency on the default stream",
        107032 => "runtime: interdependent streams cannot begin capture together",
        107033 => "runtime: task group status error",
        107034 => "runtime: task group interrupted",
        107035 => "runtime: device task abort stopped before post-processing",
        107036 => "runtime: capture was not begun on this stream",
        107037 => "runtime: the model is still running",
        107038 => "runtime: capture ended on another thread than it began",
        // rt_error_codes.h: runtime resources (207xxx).
        207000 => "runtime: feature not supported",
        207001 => "runtime: device memory allocation failed (out of memory)",
        207002 => "runtime: device memory free failed",
        207003 => "runtime: AI Core overflow",
        207004 => "runtime: no device",
        207005 => "runtime: resource allocation failed",
        207006 => "runtime: no permission",
        207007 => "runtime: no event resource",
        207008 => "runtime: no stream resource",
        207009 => "runtime: no notify resource",
        207010 => "runtime: no model resource",
        207011 => "runtime: no CDQ resource",
        207012 => "runtime: over limit",
        207013 => "runtime: queue empty",
        207014 => "runtime: queue full",
        207015 => "runtime: initialised twice",
        207016 => "runtime: AI vector overflow",
        207017 => "runtime: overflow",
        207018 => "runtime: device out of memory",
        207019 => "runtime: this operator cannot be updated",
        // rt_error_codes.h: runtime and device failures (507xxx).
        507000 => "runtime: internal error",
        507001 => "runtime: task scheduler internal error",
        507002 => "runtime: stream task queue full",
        507003 => "runtime: stream task queue empty",
        507004 => "runtime: stream not complete",
        507005 => "runtime: end of sequence",
        507006 => "runtime: event not complete",
        507007 => "runtime: context release error",
        507008 => "runtime: SoC version error",
        507009 => "runtime: task type not supported",
        507010 => "runtime: task scheduler lost heartbeat",
        507011 => "runtime: model execution failed",
        507012 => "runtime: report timed out",
        507013 => "runtime: system DMA error",
        507014 => "AI Core timeout (the kernel ran too long)",
        507015 => "AI Core exception (the kernel faulted)",
        507016 => "AI Core trap exception",
        507017 => "AI CPU timeout",
        507018 => "AI CPU exception",
        507019 => "AI CPU data dump response error",
        507020 => "AI CPU model operation response error",
        507021 => "runtime: profiling error",
        507022 => "runtime: IPC error",
        507023 => "runtime: model aborted normally",
        507024 => "runtime: kernel unregistering",
        507025 => "runtime: ring buffer not initialised",
        507026 => "runtime: ring buffer has no data",
        507027 => "runtime: kernel lookup failed",
        507028 => "runtime: kernel registered twice",
        507029 => "runtime: debug register failed",
        507030 => "runtime: debug unregister failed",
        507031 => "runtime: label not in the current context",
        507032 => "runtime: program registrations used up",
        507033 => "runtime: device setup error",
        507034 => "vector core timeout (the kernel ran too long)",
        507035 => "vector core exception (the kernel faulted)",
        507036 => "vector core trap exception",
        507037 => "runtime: CDQ batch allocation abnormal",
        507038 => "runtime: cannot change die mode",
        507039 => "runtime: single-die mode cannot set a die",
        507040 => "runtime: invalid die id",
        507041 => "runtime: die mode not set",
        507042 => "AI Core trap: read out of bounds",
        507043 => "AI Core trap: write out of bounds",
        507044 => "vector core trap: read out of bounds",
        507045 => "vector core trap: write out of bounds",
        507046 => "stream synchronisation timed out",
        507047 => "event synchronisation timed out",
        507048 => "FFTS+ timeout",
        507049 => "FFTS+ exception",
        507050 => "FFTS+ trap exception",
        507051 => "HDC failed to send a message",
        507052 => "failed to copy data",
        507053 => "device memory error",
        507054 => "HBM multi-bit ECC error",
        507055 => "suspected device memory error",
        507056 => "link error",
        507057 => "suspected remote error",
        507899 => "driver internal error",
        507900 => "AI CPU internal error",
        507901 => "HDC disconnected",
        507902 => "AI CPU info load response error",
        507903 => "capture status invalidated",
        507904 => "HCCL operation retry failed",
        507905 => "snapshot lock timed out",
        507906 => "snapshot lock failed",
        507907 => "snapshot unlock failed",
        507908 => "snapshot backup failed",
        507909 => "snapshot restore failed",
        507910 => "host memory range already registered",
        507911 => "host memory not registered",
        _ => "a code not documented in CANN 8.5's acl_base.h or rt_error_codes.h",
    }
}

/// Whether `code` says the device ran out of memory.
pub fn is_out_of_memory(code: i32) -> bool {
    matches!(code, 207001 | 207018)
}

/// Whether `code` says a kernel faulted or hung on the device (AI Core, vector core, trap, FFTS+).
pub fn is_kernel_fault(code: i32) -> bool {
    matches!(code, 507014..=507016 | 507034..=507036 | 507042..=507045 | 507048..=507050)
}

/// Why the ACL backend failed.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// CANN's version is not the one moge's device build follows.
    #[error(
        "CANN {found} found at `{root}` (from {file}), but moge's device build follows CANN {expected}; \
         install CANN {expected}, or set MOGE_CANN_VERSION_CHECK=off to try this one with CANN {expected}'s flags"
    )]
    Version {
        /// The version the install reports.
        found: String,
        /// The version moge expects.
        expected: &'static str,
        /// The install.
        root: PathBuf,
        /// The version file read.
        file: String,
    },
    /// The install's version file cannot be read or parsed.
    #[error(
        "cannot parse CANN's version file `{}`: {reason}; \
         set MOGE_CANN_VERSION_CHECK=off to use this CANN anyway", file.display()
    )]
    BadVersionFile {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No version file was found in the install.
    #[error(
        "CANN found at `{root}` has no version file (looked for {looked}); \
         set MOGE_CANN_VERSION_CHECK=off to use it anyway"
    )]
    NoVersion {
        /// The install.
        root: PathBuf,
        /// The files looked for.
        looked: String,
    },
    /// The target is not one the installed CANN (or moge's ACL backend) knows.
    #[error("target `{target}` is not known to {by}")]
    UnknownTarget {
        /// The target (`ascend910b2`).
        target: String,
        /// Who does not know it and what is known instead.
        by: String,
    },
    /// A CANN tool is missing.
    #[error("CANN at `{root}` has no `{tool}` (looked in {looked})")]
    NoTool {
        /// The install.
        root: PathBuf,
        /// The tool (`bisheng`, `ld.lld`).
        tool: &'static str,
        /// Where it was looked for.
        looked: String,
    },
    /// A CANN tool exists but cannot be started (not executable, not for this machine).
    #[error(
        "CANN's `{tool}` cannot be run: {source} (is the install complete and for this machine?)"
    )]
    ToolNotRunnable {
        /// The tool's path.
        tool: String,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// The cache directory of device binaries cannot be created.
    #[error("cannot use `{path}` as the cache of device binaries: {source} (set MOGE_CACHE_DIR to a writable directory)")]
    CacheDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A device compile step failed.
    #[error("compiling kernel `{kernel}` for the NPU: `{tool}` failed ({status}):\n{stderr}")]
    Compile {
        /// The kernel.
        kernel: String,
        /// The tool.
        tool: String,
        /// How it ended.
        status: String,
        /// Its messages.
        stderr: String,
    },
    /// A device compile step ran too long and was killed.
    #[error(
        "compiling kernel `{kernel}` for the NPU: `{tool}` ran over {seconds} s and was killed \
         (MOGE_COMPILE_TIMEOUT_SECS)"
    )]
    CompileTimeout {
        /// The kernel.
        kernel: String,
        /// The tool.
        tool: String,
        /// The limit.
        seconds: u64,
    },
    /// The kernel source is not what the device build expects.
    #[error("kernel `{kernel}` cannot be built for the NPU: {reason}")]
    Source {
        /// The kernel.
        kernel: String,
        /// What is wrong.
        reason: String,
    },
    /// The ACL library could not be loaded.
    #[error("cannot load the ACL library `{library}`: {reason}")]
    Library {
        /// The library tried.
        library: String,
        /// Why it failed.
        reason: String,
    },
    /// The ACL library lacks a function moge calls.
    #[error("the ACL library `{library}` has no function `{symbol}` (moge needs CANN 8.5's ACL runtime API)")]
    MissingSymbol {
        /// The library.
        library: String,
        /// The missing function.
        symbol: &'static str,
    },
    /// ACL sees no NPU.
    #[error("no NPU: ACL reports {count} devices (library `{library}`); check the driver with `npu-smi info`")]
    NoDevice {
        /// What the library reported.
        count: u32,
        /// The library.
        library: String,
    },
    /// The device is another SoC than the kernels were built for.
    #[error("the NPU is `{device}`, but the kernels were built for target `{target}`; {advice}")]
    WrongDevice {
        /// The SoC ACL reports.
        device: String,
        /// The build target.
        target: String,
        /// What to do: the target to pass, or that moge does not build for this SoC.
        advice: String,
    },
    /// An ACL call failed.
    #[error("{call} failed{context}: ACL error {code} ({meaning}){detail}")]
    Call {
        /// The call.
        call: &'static str,
        /// What it was doing (` for kernel `k``), or empty.
        context: String,
        /// The code returned.
        code: i32,
        /// The code's meaning.
        meaning: &'static str,
        /// `aclGetRecentErrMsg`, when it said something (`; ACL says: ...`).
        detail: String,
    },
    /// The device had no memory for a buffer.
    #[error(
        "device out of memory: aclrtMalloc of {bytes} bytes for `{what}` of kernel `{kernel}` \
         failed with ACL error {code} ({meaning}){detail}"
    )]
    OutOfMemory {
        /// The kernel.
        kernel: String,
        /// The buffer.
        what: String,
        /// Its size.
        bytes: u64,
        /// The code.
        code: i32,
        /// Its meaning.
        meaning: &'static str,
        /// `aclGetRecentErrMsg`, when it said something.
        detail: String,
    },
    /// The kernel faulted on the device.
    #[error(
        "kernel `{kernel}` faulted on the NPU: {call} returned ACL error {code} ({meaning}){exception}{detail}"
    )]
    KernelFault {
        /// The kernel.
        kernel: String,
        /// The call that reported it.
        call: &'static str,
        /// The code.
        code: i32,
        /// Its meaning.
        meaning: &'static str,
        /// ACL's exception info (`; exception info: device 0, stream 1, task 5, error 507035`), or empty.
        exception: String,
        /// `aclGetRecentErrMsg`, when it said something.
        detail: String,
    },
    /// The kernel did not finish in time.
    #[error(
        "kernel `{kernel}` did not finish on the NPU within {seconds} s (MOGE_NPU_TIMEOUT_SECS); \
         ACL error {code} ({meaning}){detail}"
    )]
    Timeout {
        /// The kernel.
        kernel: String,
        /// The limit.
        seconds: u64,
        /// The code.
        code: i32,
        /// Its meaning.
        meaning: &'static str,
        /// `aclGetRecentErrMsg`, when it said something.
        detail: String,
    },
    /// The synchronisation did not return at all (ACL did not honour its own limit): moge's
    /// watchdog stopped waiting.
    #[error(
        "kernel `{kernel}` did not finish on the NPU: aclrtSynchronizeStreamWithTimeout (limit {limit}, \
         MOGE_NPU_TIMEOUT_SECS) had not returned after {waited}, so moge stopped waiting (the device \
         may still be running it)"
    )]
    Hung {
        /// The kernel.
        kernel: String,
        /// ACL's limit, as `N s`.
        limit: String,
        /// How long moge waited, as `N s`.
        waited: String,
    },
    /// A launch that cannot be expressed (sizes that do not fit).
    #[error("kernel `{kernel}`: {reason}")]
    Launch {
        /// The kernel.
        kernel: String,
        /// What does not fit.
        reason: String,
    },
    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// A `MOGE_*` variable is set to something unusable.
    #[error(transparent)]
    Env(#[from] EnvError),
}

impl AclError {
    /// Whether this is an error in the installation or the setup (CANN, its tools, its library, the
    /// device, the target asked for) rather than in the kernel or its run: `mogec` reports these with
    /// the usage exit status, as it does an absent CANN.
    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            AclError::Version { .. }
                | AclError::BadVersionFile { .. }
                | AclError::NoVersion { .. }
                | AclError::UnknownTarget { .. }
                | AclError::NoTool { .. }
                | AclError::ToolNotRunnable { .. }
                | AclError::CacheDir { .. }
                | AclError::Library { .. }
                | AclError::MissingSymbol { .. }
                | AclError::NoDevice { .. }
                | AclError::WrongDevice { .. }
                | AclError::Env(_)
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> AclError {
        AclError::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_their_documented_meanings() {
        // Values from CANN 8.5.0 acl_base.h and rt_error_codes.h, checked one by one against the
        // headers' comments.
        assert_eq!(meaning(0), "success");
        assert_eq!(meaning(100002), "ACL initialised twice");
        assert_eq!(meaning(107019), "runtime: wait timed out");
        assert_eq!(
            meaning(207001),
            "runtime: device memory allocation failed (out of memory)"
        );
        assert_eq!(meaning(207004), "runtime: no device");
        assert_eq!(meaning(507015), "AI Core exception (the kernel faulted)");
        assert_eq!(
            meaning(507035),
            "vector core exception (the kernel faulted)"
        );
        assert_eq!(meaning(507046), "stream synchronisation timed out");
        assert!(meaning(123).contains("not documented"));
        assert!(is_out_of_memory(207018) && !is_out_of_memory(507015));
        assert!(is_kernel_fault(507035) && is_kernel_fault(507015) && !is_kernel_fault(507046));
    }
}
