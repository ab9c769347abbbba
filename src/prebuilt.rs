//! Launching kernels compiled ahead of time, by `moge-build` in a kernel crate's `build.rs`: the
//! manifest and the Ascend C are embedded in the crate (`OUT_DIR/moge_kernels.rs`), so nothing of
//! the DSL is parsed or compiled at run time.
//!
//! ```text
//! include!(concat!(env!("OUT_DIR"), "/moge_kernels.rs"));
//! let program = moge::prebuilt::Prebuilt::new(rmsnorm::MANIFEST, rmsnorm::SOURCES)?;
//! let launched = program.launch(&[x, weight], &moge_runtime::backend::EmulatorBackend::default())?;
//! ```

use moge_codegen_ascendc::manifest::{Manifest, ManifestError};
use moge_lower::interp::Tensor;
use moge_runtime::backend::Backend;
use moge_runtime::launch::{launch, LaunchError, Launched, ProgramRef};

/// Why a prebuilt program cannot be used or launched.
#[derive(Debug, thiserror::Error)]
pub enum PrebuiltError {
    /// The embedded manifest does not parse (it was not written by this version of moge).
    #[error("the embedded manifest is not valid: {0}")]
    Manifest(#[from] ManifestError),
    /// The launch failed (inputs that do not fit the manifest, a kernel that failed on the backend).
    #[error(transparent)]
    Launch(#[from] LaunchError),
}

/// A program compiled ahead of time: its manifest and one source per device kernel.
#[derive(Clone, Debug)]
pub struct Prebuilt {
    manifest: Manifest,
    sources: Vec<String>,
}

impl Prebuilt {
    /// The program of `manifest_json` with `sources` (in the manifest's kernel order).
    pub fn new(manifest_json: &str, sources: &[&str]) -> Result<Prebuilt, PrebuiltError> {
        let manifest = Manifest::from_json(manifest_json)?;
        let sources: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
        // Checks the count of sources against the manifest.
        ProgramRef::new(&manifest, &sources)?;
        Ok(Prebuilt { manifest, sources })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Launches the program on `inputs` (one tensor per parameter) with `backend`.
    pub fn launch(
        &self,
        inputs: &[Tensor],
        backend: &dyn Backend,
    ) -> Result<Launched, PrebuiltError> {
        let program = ProgramRef::new(&self.manifest, &self.sources)?;
        Ok(launch(program, inputs, backend)?)
    }
}
