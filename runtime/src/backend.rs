//! Backends: what runs one device kernel on bytes in global memory.
//!
//! The [launch API](crate::launch) turns host tensors into GM bytes, evaluates the manifest's
//! expressions and calls a [`Backend`] once per device kernel, in order. A backend only sees a
//! [`DeviceLaunch`]: the kernel's Ascend C source and `extern "C"` name, its core type, the grid, the
//! GM arguments as bytes, the workspace size and the tiling bytes. It gives the arguments back after the
//! run with what it measured ([`DeviceRun`]).
//!
//! Two backends exist:
//!
//! - [`EmulatorBackend`] (the default, always available): moge's CPU emulator of the Ascend C
//!   programming model ([`crate::emulator`]). Kernels are compiled with the host C++ compiler and cached
//!   by content hash; each launch runs in a child process.
//! - [`AclBackend`]: a real NPU through CANN's ACL runtime ([`crate::acl`]): kernels compiled with
//!   CANN's `bisheng` and cached by content hash, `libascendcl` loaded at run time, launched with
//!   `aclrtLaunchKernelWithConfig`. Without CANN, [`AclBackend::detect`] says plainly why it cannot run.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use moge_codegen_ascendc::manifest::CoreType;

pub use crate::acl::AclBackend;
use crate::acl::AclError;
use crate::emulator::{self, EmuError, GmArg, RawLaunch};
use crate::model::{self, KernelModel, ModelError, Params};

/// Runs device kernels on GM bytes.
///
/// Implementations must not panic on any launch: every failure is a [`BackendError`].
pub trait Backend: Send + Sync {
    /// The backend's name as reports show it (`emulator`, `acl`).
    fn name(&self) -> &'static str;

    /// Gets a kernel ready to launch (compiles it, or finds it in a cache), so that the time of a later
    /// [`launch`](Backend::launch) does not include compilation. Launching without preparing is allowed.
    fn prepare(&self, kernel: &KernelSource<'_>) -> Result<(), BackendError>;

    /// Runs one device kernel and returns its GM arguments after the run, with what was measured.
    fn launch(&self, launch: DeviceLaunch<'_>) -> Result<DeviceRun, BackendError>;
}

/// The code of one device kernel.
#[derive(Copy, Clone, Debug)]
pub struct KernelSource<'a> {
    /// The `extern "C"` symbol.
    pub name: &'a str,
    /// The Ascend C source (one `.cpp`).
    pub source: &'a str,
    /// The core type of the manifest.
    pub core_type: CoreType,
    /// The target SoC (`ascend910b2`).
    pub target: &'a str,
}

/// One GM argument of a device kernel, as bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeviceArg {
    /// The program tensor it holds (for messages).
    pub name: String,
    /// Its contents, little-endian.
    pub bytes: Vec<u8>,
    /// Whether the kernel writes it.
    pub is_output: bool,
}

/// One launch of a device kernel.
#[derive(Clone, Debug)]
pub struct DeviceLaunch<'a> {
    /// The kernel.
    pub kernel: KernelSource<'a>,
    /// Number of cores (`GetBlockNum()`), at least 1.
    pub block_dim: u32,
    /// The GM arguments, in the kernel's parameter order (before workspace and tiling).
    pub args: Vec<DeviceArg>,
    /// Bytes of zero-filled workspace passed after the arguments.
    pub workspace_bytes: u64,
    /// The tiling struct, passed last.
    pub tiling: Vec<u8>,
}

/// What one launch did.
#[derive(Clone, Debug)]
pub struct DeviceRun {
    /// The GM arguments after the run, in launch order.
    pub args: Vec<DeviceArg>,
    /// GM bytes read by the kernel, summed over cores (`None` when the backend cannot count them).
    pub gm_bytes_read: Option<u64>,
    /// GM bytes written by the kernel, summed over cores (`None` when the backend cannot count them).
    pub gm_bytes_written: Option<u64>,
    /// The largest UB footprint of any core, in bytes (`None` when the backend cannot measure it).
    pub ub_high_water: Option<u64>,
    /// Time the kernel ran, as the backend measured it (the emulator: inside its process, excluding
    /// compilation, process start and argument transfer).
    pub wall: Duration,
    /// Per core (label such as `AIV 3`, `AIC 0`, `AIV 0.1`, and its GM traffic), in launch order; empty when
    /// the backend cannot tell.
    pub cores: Vec<emulator::CoreStats>,
    /// The modeled NPU timeline of the launch (`None` unless the backend was asked to model it).
    pub modeled: Option<KernelModel>,
}

/// Why a backend could not run a kernel.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The emulator failed: the kernel did not compile, violated a check, crashed or timed out.
    #[error(transparent)]
    Emulator(#[from] EmuError),
    /// The ACL backend failed (CANN unusable, a device compile, an ACL call, a kernel fault); boxed,
    /// since it is larger than the other variants.
    #[error(transparent)]
    Acl(Box<AclError>),
    /// The launch's trace could not be modeled (an unknown target, a deadlock).
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The backend cannot run on this machine.
    #[error("the {backend} backend is not available: {reason}")]
    Unavailable {
        /// The backend's name.
        backend: &'static str,
        /// Why, e.g. `CANN not found (ASCEND_HOME_PATH unset)`.
        reason: String,
    },
    /// The launch is something this backend cannot do.
    #[error("the {backend} backend cannot launch kernel `{kernel}`: {reason}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// The kernel.
        kernel: String,
        /// What is not supported.
        reason: String,
    },
}

impl From<AclError> for BackendError {
    fn from(error: AclError) -> BackendError {
        BackendError::Acl(Box::new(error))
    }
}

/// A backend's name as messages show it after "on the": `emulator`, and `NPU (acl)` for `acl`.
impl BackendError {
    /// Whether the error is in the setup (CANN's install, the device, the target, the cache), not in
    /// the kernel: the kernel never ran.
    pub fn is_setup(&self) -> bool {
        matches!(self, BackendError::Acl(error) if error.is_setup())
    }

    /// Whether the kernel never reached the device: a setup error, or its device build failed.
    pub fn never_ran(&self) -> bool {
        self.is_setup()
            || matches!(self, BackendError::Acl(error)
                if matches!(**error, AclError::Compile { .. } | AclError::CompileTimeout { .. }))
    }
}

pub fn shown_name(name: &str) -> &str {
    match name {
        "acl" => "NPU (acl)",
        other => other,
    }
}

/// The backends that can be selected by name (`--backend emulator`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub enum BackendKind {
    /// moge's CPU emulator of Ascend C.
    #[default]
    Emulator,
    /// A real NPU through CANN's ACL runtime.
    Acl,
}

/// A backend name that is not known.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("unknown backend `{0}`: expected `emulator` or `acl`")]
pub struct UnknownBackend(pub String);

impl BackendKind {
    /// Every backend kind, in a fixed order.
    pub const ALL: [BackendKind; 2] = [BackendKind::Emulator, BackendKind::Acl];

    /// The name: `emulator` or `acl`.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Emulator => "emulator",
            BackendKind::Acl => "acl",
        }
    }

    /// Makes the backend, or says why it is not available here.
    pub fn create(self) -> Result<Box<dyn Backend>, BackendError> {
        self.create_with(EmulatorBackend::default())
    }

    /// Makes the backend with the emulator's options (`emulator` when this is [`BackendKind::Emulator`]).
    pub fn create_with(self, emulator: EmulatorBackend) -> Result<Box<dyn Backend>, BackendError> {
        match self {
            BackendKind::Emulator => Ok(Box::new(emulator)),
            BackendKind::Acl => Ok(Box::new(AclBackend::detect()?)),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = UnknownBackend;

    fn from_str(text: &str) -> Result<BackendKind, UnknownBackend> {
        let lower = text.trim().to_ascii_lowercase();
        BackendKind::ALL
            .into_iter()
            .find(|kind| kind.name() == lower)
            .ok_or_else(|| UnknownBackend(text.to_string()))
    }
}

/// moge's CPU emulator of the Ascend C programming model (see [`crate::emulator`]).
///
/// Runs AIV, AIC and MIX kernels; each launch runs in a child process with `block_dim` cores as
/// threads, and reports GM traffic, the UB high-water mark and the kernel's wall time. With `model`,
/// the emulator also records the instruction trace and the launch is replayed on the timing model of
/// the kernel's target ([`crate::model`]): [`DeviceRun::modeled`].
#[derive(Clone, Debug, Default)]
pub struct EmulatorBackend {
    /// Model each launch on the target's timing model (off by default).
    pub model: bool,
    /// Keep each modeled launch's timeline (for a trace file).
    pub timeline: bool,
    /// With `model`: skip the arithmetic (see [`emulator::CheckMode::timing_only`]); the outputs are
    /// then meaningless and only the modeled figures count.
    pub timing_only: bool,
}

impl EmulatorBackend {
    /// A backend that models every launch (and keeps the timelines when `timeline`).
    pub fn modeling(timeline: bool) -> EmulatorBackend {
        EmulatorBackend {
            model: true,
            timeline,
            timing_only: false,
        }
    }
}

impl Backend for EmulatorBackend {
    fn name(&self) -> &'static str {
        "emulator"
    }

    fn prepare(&self, kernel: &KernelSource<'_>) -> Result<(), BackendError> {
        emulator::compile(kernel.source)?;
        Ok(())
    }

    fn launch(&self, launch: DeviceLaunch<'_>) -> Result<DeviceRun, BackendError> {
        let workspace_bytes =
            usize::try_from(launch.workspace_bytes).map_err(|_| BackendError::Unsupported {
                backend: self.name(),
                kernel: launch.kernel.name.to_string(),
                reason: format!(
                    "a workspace of {} bytes does not fit in host memory",
                    launch.workspace_bytes
                ),
            })?;
        // An unknown target is refused before the kernel runs.
        let params = if self.model {
            Some(Params::for_target(launch.kernel.target).map_err(ModelError::from)?)
        } else {
            None
        };
        let mut check = emulator::CheckMode::from_env()?;
        check.trace = self.model;
        check.timing_only = self.model && self.timing_only;
        let raw = RawLaunch {
            source: launch.kernel.source,
            kernel: launch.kernel.name,
            block_dim: launch.block_dim,
            core_type: emulator_core_type(launch.kernel.core_type),
            check,
            args: launch
                .args
                .into_iter()
                .map(|arg| GmArg {
                    name: arg.name,
                    bytes: arg.bytes,
                    is_output: arg.is_output,
                })
                .collect(),
            workspace_bytes,
            tiling: launch.tiling,
        };
        let mut report = emulator::launch_raw(raw)?;
        let modeled = match (params, report.trace.take()) {
            (Some(params), Some(trace)) => Some(model::model(trace, &params, self.timeline)?),
            _ => None,
        };
        Ok(DeviceRun {
            args: report
                .args
                .into_iter()
                .map(|arg| DeviceArg {
                    name: arg.name,
                    bytes: arg.bytes,
                    is_output: arg.is_output,
                })
                .collect(),
            gm_bytes_read: Some(report.gm_bytes_read),
            gm_bytes_written: Some(report.gm_bytes_written),
            ub_high_water: Some(report.ub_high_water),
            wall: report.wall,
            cores: report.cores,
            modeled,
        })
    }
}

/// The emulator's core type for a manifest's: it runs all three (AIV, AIC, and MIX_AIC_1_2 as one
/// AIC and two AIVs per block).
fn emulator_core_type(core_type: CoreType) -> emulator::CoreType {
    match core_type {
        CoreType::Aiv => emulator::CoreType::Aiv,
        CoreType::Aic => emulator::CoreType::Aic,
        CoreType::MixAic1_2 => emulator::CoreType::MixAic1_2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(result: Result<AclBackend, BackendError>) -> String {
        match result {
            Err(BackendError::Unavailable {
                backend: "acl",
                reason,
            }) => reason,
            other => panic!("expected the acl backend to be unavailable, found {other:?}"),
        }
    }

    #[test]
    fn acl_reports_plainly_why_it_cannot_run() {
        assert_eq!(
            reason(AclBackend::detect_in(None, &[])),
            "CANN not found (ASCEND_HOME_PATH unset)"
        );
        assert_eq!(
            reason(AclBackend::detect_in(Some("".into()), &[])),
            "CANN not found (ASCEND_HOME_PATH is set but empty)"
        );
        let missing = std::env::temp_dir().join("moge-no-such-cann-dir");
        assert_eq!(
            reason(AclBackend::detect_in(Some(missing.clone().into()), &[])),
            format!(
                "CANN not found (ASCEND_HOME_PATH is `{}`, which is not a directory)",
                missing.display()
            )
        );
        // A directory that is no CANN install: found, but its toolchain is missing.
        let dir = tempfile::tempdir().unwrap();
        let error = AclBackend::detect_in(Some(dir.path().into()), &[]).unwrap_err();
        let text = error.to_string();
        assert!(
            matches!(&error, BackendError::Acl(e) if matches!(**e, AclError::NoTool { tool: "bisheng", .. })),
            "{text}"
        );
        assert!(
            text.starts_with(&format!(
                "CANN at `{}` has no `bisheng`",
                dir.path().display()
            )),
            "{text}"
        );
    }

    #[test]
    fn backends_are_chosen_by_name() {
        assert_eq!("emulator".parse::<BackendKind>(), Ok(BackendKind::Emulator));
        assert_eq!(" ACL ".parse::<BackendKind>(), Ok(BackendKind::Acl));
        assert_eq!(
            "npu".parse::<BackendKind>().unwrap_err().to_string(),
            "unknown backend `npu`: expected `emulator` or `acl`"
        );
        assert_eq!(BackendKind::default(), BackendKind::Emulator);
        assert_eq!(
            BackendKind::Emulator.create().map(|b| b.name()).ok(),
            Some("emulator")
        );
    }
}
