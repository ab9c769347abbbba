//! moge-build: compile a kernel crate's kernels in its `build.rs`.
//!
//! ```no_run
//! // In build.rs's `main`:
//! moge_build::compile("src/kernels.rs")
//!     .kernel("rmsnorm")
//!     .set("H", 64)
//!     .target("ascend910b2")
//!     .emit();
//! ```
//!
//! For every kernel asked for, the build writes into `OUT_DIR/<kernel>/` the Ascend C of each device
//! kernel and the manifest (the files `mogec build --emit ascendc,manifest` writes) and, when CANN is
//! installed on the build machine, the device binaries of the ACL backend in `OUT_DIR/acl` (its cache
//! layout, so an `AclBackend` using that directory finds them and compiles nothing). It writes
//! `OUT_DIR/moge_kernels.rs`, one module per kernel with the manifest and the sources embedded
//! (`MANIFEST`, `SOURCES`), which the crate includes and launches with [`moge::prebuilt`]: no `mogec`
//! and no DSL compile at run time. It prints `cargo:rerun-if-changed` for the kernel file, so cargo
//! runs the build again when the kernels change.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use moge_codegen_ascendc::{compile_program_with, CodegenError};
use moge_lower::opt::FuseMode;
use moge_lower::schedule::ScheduleOptions;
use moge_lower::target::Target;
use moge_runtime::acl::{find, AclBackend, AclError};
use moge_runtime::backend::KernelSource;

/// A build of the kernels of one source file: start it with [`compile`].
#[derive(Clone, Debug)]
pub struct Build {
    source: PathBuf,
    kernels: Vec<KernelBuild>,
    target: String,
    fuse: FuseMode,
    out_dir: Option<PathBuf>,
    cann: CannChoice,
}

/// One kernel and its static dims.
#[derive(Clone, Debug)]
struct KernelBuild {
    name: Option<String>,
    set: Vec<(String, i64)>,
}

/// Whether device binaries are built.
#[derive(Clone, Debug)]
enum CannChoice {
    /// When CANN is found (`ASCEND_HOME_PATH`, then the standard install paths).
    Detect,
    /// With the CANN install at this root.
    At(PathBuf),
    /// Never.
    Off,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The kernel file could not be loaded (read, checked, a kernel chosen and specialized).
    #[error(transparent)]
    Load(#[from] moge::load::LoadError),
    /// The target is not known.
    #[error("unknown target `{0}`: expected ascend910b1 to ascend910b4")]
    Target(String),
    /// The compiler refused a kernel.
    #[error("kernel `{kernel}` cannot be compiled: {source}")]
    Codegen {
        /// The kernel.
        kernel: String,
        /// Why.
        source: Box<CodegenError>,
    },
    /// Building a device binary with CANN failed.
    #[error(transparent)]
    Acl(#[from] AclError),
    /// `ASCEND_HOME_PATH` names no CANN install.
    #[error("{0}")]
    Cann(String),
    /// No output directory: `OUT_DIR` is not set (not in a build script) and none was given.
    #[error("OUT_DIR is not set: call moge-build from a build script, or give .out_dir(DIR)")]
    NoOutDir,
    /// A file could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What a build wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// The generated Rust file (`OUT_DIR/moge_kernels.rs`).
    pub rust_file: PathBuf,
    /// Per kernel: its name and its manifest.
    pub manifests: Vec<(String, PathBuf)>,
    /// The device binaries built with CANN (empty without it).
    pub device_binaries: Vec<PathBuf>,
}

/// Starts a build of the kernels of `source` (a path relative to the crate's root, as cargo runs
/// build scripts there).
pub fn compile(source: impl AsRef<Path>) -> Build {
    Build {
        source: source.as_ref().to_path_buf(),
        kernels: Vec::new(),
        target: Target::default().name.to_string(),
        fuse: FuseMode::default(),
        out_dir: None,
        cann: CannChoice::Detect,
    }
}

impl Build {
    /// Adds the kernel `name` (a function name, or `module::name`); the [`set`](Build::set) calls
    /// after it give its static dims. Without any `kernel` call the file's only kernel is built.
    pub fn kernel(mut self, name: &str) -> Build {
        self.kernels.push(KernelBuild {
            name: Some(name.to_string()),
            set: Vec::new(),
        });
        self
    }

    /// Binds the static dim `name` of the last kernel added.
    pub fn set(mut self, name: &str, value: i64) -> Build {
        if self.kernels.is_empty() {
            self.kernels.push(KernelBuild {
                name: None,
                set: Vec::new(),
            });
        }
        if let Some(kernel) = self.kernels.last_mut() {
            kernel.set.push((name.to_string(), value));
        }
        self
    }

    /// The Ascend part (`ascend910b1` to `ascend910b4`; default `ascend910b2`).
    pub fn target(mut self, name: &str) -> Build {
        self.target = name.to_string();
        self
    }

    /// How much the graph optimizer fuses (default: everything it can).
    pub fn fuse(mut self, fuse: FuseMode) -> Build {
        self.fuse = fuse;
        self
    }

    /// Writes into `dir` instead of `OUT_DIR`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Build {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Builds device binaries with the CANN install at `root` (instead of looking for one).
    pub fn cann_root(mut self, root: impl AsRef<Path>) -> Build {
        self.cann = CannChoice::At(root.as_ref().to_path_buf());
        self
    }

    /// Builds no device binaries, even with CANN installed.
    pub fn without_cann(mut self) -> Build {
        self.cann = CannChoice::Off;
        self
    }

    /// Runs the build from a build script: on failure prints the error (with the kernel's
    /// diagnostics) and exits with status 1, which fails the crate's build with that message.
    pub fn emit(self) -> Built {
        match self.run() {
            Ok(built) => built,
            Err(err) => {
                if let BuildError::Load(moge::load::LoadError::Diagnostics { rendered, .. }) = &err
                {
                    eprint!("{rendered}");
                }
                eprintln!("error: {err}");
                std::process::exit(1);
            }
        }
    }

    /// What makes cargo rerun the build script: the kernel file, and where CANN is looked for
    /// (sourcing CANN's environment after a first build must bring the device binaries).
    fn rerun_lines(&self) -> Vec<String> {
        let mut lines = vec![format!("cargo:rerun-if-changed={}", self.source.display())];
        if matches!(self.cann, CannChoice::Detect) {
            lines.push(format!(
                "cargo:rerun-if-env-changed={}",
                AclBackend::HOME_VAR
            ));
        }
        lines
    }

    /// Runs the build, printing `cargo:rerun-if-changed` for the kernel file and
    /// `cargo:rerun-if-env-changed=ASCEND_HOME_PATH` when CANN is detected.
    pub fn run(self) -> Result<Built, BuildError> {
        for line in self.rerun_lines() {
            println!("{line}");
        }
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(BuildError::NoOutDir)?,
        };
        let target =
            Target::from_name(&self.target).map_err(|_| BuildError::Target(self.target.clone()))?;
        let source = moge::load::read_source(&self.source)?;
        let cann = match &self.cann {
            CannChoice::Off => None,
            CannChoice::At(root) => Some(find::Cann::open(root)?),
            // Without CANN the build writes the sources only; a broken install, or an
            // ASCEND_HOME_PATH naming no directory, is an error (the user asked for that CANN).
            CannChoice::Detect => detect_cann(
                std::env::var_os(AclBackend::HOME_VAR),
                &find::standard_roots(),
            )?,
        };
        let acl_dir = out_dir.join("acl");
        let backend = cann.map(|c| AclBackend::with_cann(c).with_cache_dir(acl_dir.clone()));
        let requested = if self.kernels.is_empty() {
            vec![KernelBuild {
                name: None,
                set: Vec::new(),
            }]
        } else {
            self.kernels.clone()
        };
        let mut rust = String::new();
        let _ = writeln!(
            rust,
            "// Generated by moge-build from `{}`; do not edit.\n",
            self.source.display()
        );
        let mut built = Built {
            rust_file: out_dir.join("moge_kernels.rs"),
            manifests: Vec::new(),
            device_binaries: Vec::new(),
        };
        for request in &requested {
            let file = moge::load::check_source(&source)?;
            let kernel = moge::load::select(&source, file, request.name.as_deref())?;
            let set: Vec<(&str, i64)> = request.set.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let kernel = moge::load::specialize(&kernel, &set)?;
            let schedule = ScheduleOptions {
                fuse: self.fuse,
                ..ScheduleOptions::default()
            };
            let program = compile_program_with(&kernel, &target, &schedule).map_err(|source| {
                BuildError::Codegen {
                    kernel: kernel.name.clone(),
                    source: Box::new(source),
                }
            })?;
            let dir = out_dir.join(&kernel.name);
            let sources = moge_runtime::launch::program_sources(&program);
            let manifest_path = dir.join(format!("{}.json", program.manifest.program));
            write(&manifest_path, &program.manifest_json())?;
            let mut source_paths = Vec::new();
            for (entry, text) in program.manifest.kernels.iter().zip(&sources) {
                let path = dir.join(&entry.source);
                write(&path, text)?;
                source_paths.push(path);
                if let Some(backend) = &backend {
                    let binary = backend.compile(&KernelSource {
                        name: &entry.name,
                        source: text,
                        core_type: entry.core_type,
                        target: &program.manifest.target,
                    })?;
                    built.device_binaries.push(binary.path);
                }
            }
            write_module(&mut rust, &kernel, &manifest_path, &source_paths, &set);
            built.manifests.push((kernel.name.clone(), manifest_path));
        }
        let _ = writeln!(
            rust,
            "/// Where the device binaries of the ACL backend are (built only when CANN was found):\n\
             /// give it to `AclBackend::with_cache_dir` and no kernel is compiled at run time.\n\
             pub const ACL_CACHE_DIR: &str = {:?};\n\
             /// Whether device binaries were built.\n\
             pub const DEVICE_BINARIES: bool = {};",
            acl_dir.display().to_string(),
            !built.device_binaries.is_empty()
        );
        write(&built.rust_file, &rust)?;
        Ok(built)
    }
}

/// Appends the module of one kernel to the generated Rust file: the manifest and the sources are
/// embedded with `include_str!` of absolute paths (a file brought in by `include!` resolves relative
/// paths against the including crate's file, not against `OUT_DIR`).
fn write_module(
    rust: &mut String,
    kernel: &moge_lower::graph::Kernel,
    manifest: &Path,
    sources: &[PathBuf],
    set: &[(&str, i64)],
) {
    let dims: Vec<String> = set.iter().map(|(n, v)| format!("{n} = {v}")).collect();
    let _ = writeln!(
        rust,
        "/// Kernel `{}`{}, compiled by moge-build.",
        kernel.name,
        if dims.is_empty() {
            String::new()
        } else {
            format!(" with {}", dims.join(", "))
        }
    );
    let _ = writeln!(rust, "pub mod {} {{", kernel.name);
    let _ = writeln!(rust, "    /// The manifest (JSON).");
    let _ = writeln!(
        rust,
        "    pub const MANIFEST: &str = include_str!({:?});",
        manifest.display().to_string()
    );
    let _ = writeln!(
        rust,
        "    /// The Ascend C of every device kernel, in the manifest's order."
    );
    let _ = writeln!(rust, "    pub const SOURCES: &[&str] = &[");
    for path in sources {
        let _ = writeln!(
            rust,
            "        include_str!({:?}),",
            path.display().to_string()
        );
    }
    let _ = writeln!(rust, "    ];");
    let _ = writeln!(rust, "}}\n");
}

fn write(path: &Path, text: &str) -> Result<(), BuildError> {
    let fail = |source| BuildError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    // Unchanged files are left alone so that their timestamps do not trigger rebuilds.
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(fail)
}

/// The CANN install a detecting build uses: `home` (`ASCEND_HOME_PATH`), then the `standard` roots;
/// none is no CANN (sources only), but a `home` naming no directory is an error, since the user
/// asked for that install.
fn detect_cann(
    home: Option<OsString>,
    standard: &[PathBuf],
) -> Result<Option<find::Cann>, BuildError> {
    let home = home.filter(|value| !value.is_empty());
    let asked = home.is_some();
    match find::locate(home, standard) {
        Ok(root) => Ok(Some(find::Cann::open(&root)?)),
        Err(reason) if asked => Err(BuildError::Cann(reason)),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
