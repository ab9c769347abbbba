//! The ACL backend: device kernels compiled with CANN's `bisheng` and run on an Ascend NPU through
//! CANN's ACL runtime.
//!
//! - [`find`]: the CANN install (`ASCEND_HOME_PATH`, then the standard roots), its toolchain, its
//!   version (moge's device build follows CANN 8.5) and the SoCs it knows.
//! - [`compile`]: the device source with CANN's kernel ABI and meta records, the `bisheng` / `ld.lld`
//!   command lines of CANN's own build, and the content-hash cache of the AI-Core ELFs.
//! - [`args`]: the kernel's argument block (system slots, GM pointers, workspace, tiling), checked
//!   against the kernel's parameter list.
//! - [`api`]: `libascendcl` loaded at run time, its functions as one table of typed pointers, and the
//!   session that launches (device memory, copies, stream, events, synchronisation with a timeout).
//! - [`watch`]: the watchdog over the synchronisation (a watcher thread per session).
//! - [`errors`]: every ACL error code in words, and [`AclError`].
//!
//! Nothing here links against CANN: without it, [`AclBackend::detect`] says why it is unavailable.

pub mod api;
pub mod args;
pub mod compile;
pub mod errors;
pub mod fake;
pub mod find;
pub mod watch;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use errors::AclError;

use crate::backend::{Backend, BackendError, DeviceArg, DeviceLaunch, DeviceRun, KernelSource};
use api::{Buffer, Contents, Job, Session};
use args::{Addresses, ArgLayout};
use compile::DeviceBinary;
use find::Cann;

/// A real Ascend NPU through CANN's ACL runtime.
///
/// [`detect`](AclBackend::detect) finds CANN, checks its version, loads `libascendcl` and opens device
/// 0; [`prepare`](Backend::prepare) compiles a kernel (or finds it in the cache);
/// [`launch`](Backend::launch) copies the arguments to the device, launches with
/// `aclrtLaunchKernelWithConfig`, waits at most `MOGE_NPU_TIMEOUT_SECS` and copies them back. The
/// kernel's time is measured by two ACL events around the launch.
pub struct AclBackend {
    cann: Cann,
    libraries: Vec<PathBuf>,
    cache: Option<PathBuf>,
    /// The longest wait for one kernel, instead of `MOGE_NPU_TIMEOUT_SECS`.
    timeout: Option<std::time::Duration>,
    session: Mutex<Option<Arc<Session>>>,
    /// Compiled kernels by name and target, with the source they were compiled from (a launch after
    /// a prepare does not hash the source again).
    binaries: Mutex<HashMap<(String, String), (String, DeviceBinary)>>,
}

impl std::fmt::Debug for AclBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AclBackend")
            .field("cann", &self.cann)
            .field("libraries", &self.libraries)
            .finish_non_exhaustive()
    }
}

impl AclBackend {
    /// The environment variable that locates a CANN installation.
    pub const HOME_VAR: &'static str = "ASCEND_HOME_PATH";

    /// Finds CANN (`ASCEND_HOME_PATH`, then [`find::STANDARD_ROOTS`]), checks it and opens the NPU.
    /// [`BackendError::Unavailable`] without CANN; [`BackendError::Acl`] when CANN is there but
    /// unusable (another version, no toolchain, no library, a missing function, no device).
    pub fn detect() -> Result<AclBackend, BackendError> {
        Self::detect_in(std::env::var_os(Self::HOME_VAR), &find::standard_roots())
    }

    /// [`detect`](AclBackend::detect) with the value of `ASCEND_HOME_PATH` and the standard roots
    /// given.
    pub fn detect_in(
        home: Option<OsString>,
        standard: &[PathBuf],
    ) -> Result<AclBackend, BackendError> {
        let root = find::locate(home, standard).map_err(|reason| BackendError::Unavailable {
            backend: "acl",
            reason,
        })?;
        let backend = AclBackend::with_cann(Cann::open(&root)?);
        backend.session()?;
        Ok(backend)
    }

    /// The backend for an install already opened; the library is loaded at the first launch.
    pub fn with_cann(cann: Cann) -> AclBackend {
        let libraries = api::library_candidates(&cann.root);
        AclBackend {
            cann,
            libraries,
            cache: None,
            timeout: None,
            session: Mutex::new(None),
            binaries: Mutex::new(HashMap::new()),
        }
    }

    /// Uses the ACL library at `path` instead of looking for it.
    pub fn with_library(mut self, path: PathBuf) -> AclBackend {
        self.libraries = vec![path];
        self
    }

    /// Keeps device binaries in `dir` instead of the default cache.
    pub fn with_cache_dir(mut self, dir: PathBuf) -> AclBackend {
        self.cache = Some(dir);
        self
    }

    /// Waits at most `timeout` for each kernel instead of `MOGE_NPU_TIMEOUT_SECS`.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> AclBackend {
        self.timeout = Some(timeout);
        self
    }

    /// The CANN install.
    pub fn cann(&self) -> &Cann {
        &self.cann
    }

    /// The ACL session, opened on first use.
    pub fn session(&self) -> Result<Arc<Session>, AclError> {
        let mut slot = self.session.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = slot.as_ref() {
            return Ok(session.clone());
        }
        let session = Session::for_candidates(&self.libraries)?;
        *slot = Some(session.clone());
        Ok(session)
    }

    /// Compiles `kernel` for its target (or finds it compiled).
    pub fn compile(&self, kernel: &KernelSource<'_>) -> Result<DeviceBinary, AclError> {
        if let Some((source, binary)) = self
            .binaries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(kernel.name.to_string(), kernel.target.to_string()))
        {
            if source == kernel.source {
                return Ok(binary.clone());
            }
        }
        let (soc, arch) = target_soc(kernel.target)?;
        self.cann.check_soc(kernel.target, &soc)?;
        let dir = match &self.cache {
            Some(dir) => dir.clone(),
            None => compile::default_cache_dir()?,
        };
        let binary = compile::compile(&dir, &self.cann, arch, kernel)?;
        self.binaries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                (kernel.name.to_string(), kernel.target.to_string()),
                (kernel.source.to_string(), binary.clone()),
            );
        Ok(binary)
    }

    fn run(&self, launch: DeviceLaunch<'_>) -> Result<DeviceRun, AclError> {
        let kernel = &launch.kernel;
        let binary = self.compile(kernel)?;
        let layout = ArgLayout::new(kernel.core_type, &binary.entry, &launch.args)?;
        let session = self.session()?;
        let (soc, _) = target_soc(kernel.target)?;
        // A SoC name ACL does not give (or gives empty) cannot be checked; the launch then
        // reports what the device says.
        if let Some(device) = session
            .soc
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
        {
            if !device.eq_ignore_ascii_case(&soc) {
                return Err(wrong_device(device, kernel.target));
            }
        }
        let workspace_len =
            usize::try_from(launch.workspace_bytes).map_err(|_| AclError::Launch {
                kernel: kernel.name.to_string(),
                reason: format!(
                    "a workspace of {} bytes does not fit in host memory",
                    launch.workspace_bytes
                ),
            })?;
        // Inputs are not copied back (the kernel does not write them); the workspace starts as
        // zeros written on the device, with no host copy.
        let mut buffers: Vec<Buffer<'_>> = launch
            .args
            .iter()
            .map(|arg| Buffer {
                name: &arg.name,
                contents: Contents::Copy(&arg.bytes),
                null_when_empty: false,
                copy_back: arg.is_output,
            })
            .collect();
        buffers.push(Buffer {
            name: "workspace",
            contents: Contents::Zeroed(workspace_len),
            null_when_empty: true,
            copy_back: false,
        });
        buffers.push(Buffer {
            name: "tiling",
            contents: Contents::Copy(&launch.tiling),
            null_when_empty: true,
            copy_back: false,
        });
        let gm_count = launch.args.len();
        let appended = |addresses: &[u64]| {
            layout.appended(&Addresses {
                gm: addresses[..gm_count].to_vec(),
                workspace: addresses[gm_count],
                tiling: addresses[gm_count + 1],
            })
        };
        let (results, device_time) = session.run(Job {
            kernel: kernel.name,
            binary: &binary.path,
            block_dim: launch.block_dim,
            buffers: &buffers,
            appended: &appended,
            timeout: match self.timeout {
                Some(timeout) => timeout,
                None => crate::limits::npu_timeout()?,
            },
        })?;
        drop(buffers);
        let args = launch
            .args
            .into_iter()
            .zip(results)
            .map(|(arg, copied)| DeviceArg {
                bytes: copied.unwrap_or(arg.bytes),
                ..arg
            })
            .collect();
        Ok(DeviceRun {
            args,
            gm_bytes_read: None,
            gm_bytes_written: None,
            ub_high_water: None,
            wall: device_time,
            cores: Vec::new(),
            // The device itself ran: its time is measured (`wall`), nothing is modeled.
            modeled: None,
        })
    }
}

/// CANN's SoC name and the device architecture for a moge target.
/// The error for a device whose SoC is `device` running kernels built for `target`: the target to
/// pass when moge builds for that SoC, else that it does not.
fn wrong_device(device: &str, target: &str) -> AclError {
    let known = ["ascend910b1", "ascend910b2", "ascend910b3", "ascend910b4"];
    let matching = known
        .iter()
        .find(|t| find::soc_of(t).is_some_and(|(soc, _)| soc.eq_ignore_ascii_case(device)));
    let advice = match matching {
        Some(t) => format!("pass the device's target (`--target {t}`)"),
        None => format!(
            "moge builds for {} only, and none of them is this SoC",
            known.join(", ")
        ),
    };
    AclError::WrongDevice {
        device: device.to_string(),
        target: target.to_string(),
        advice,
    }
}

fn target_soc(target: &str) -> Result<(String, &'static str), AclError> {
    find::soc_of(target).ok_or_else(|| AclError::UnknownTarget {
        target: target.to_string(),
        by: "moge's ACL backend (it builds for ascend910b1, ascend910b2, ascend910b3 and ascend910b4)"
            .to_string(),
    })
}

impl Backend for AclBackend {
    fn name(&self) -> &'static str {
        "acl"
    }

    fn prepare(&self, kernel: &KernelSource<'_>) -> Result<(), BackendError> {
        self.compile(kernel)?;
        Ok(())
    }

    fn launch(&self, launch: DeviceLaunch<'_>) -> Result<DeviceRun, BackendError> {
        Ok(self.run(launch)?)
    }
}
