//! Compiling kernels for the emulator, with a content-addressed cache of executables.
//!
//! The launcher is compiled once into an object file keyed by (launcher source, headers, flags, compiler
//! version); each kernel into an executable keyed by (kernel source, the launcher object's key). Files are
//! written under a temporary name and renamed into place, so concurrent processes compiling the same kernel
//! never see a partial file; inside one process a lock per key avoids compiling twice.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::sha256::Sha256;
use super::{CompiledKernel, EmuError};

/// Compiler flags of both the launcher and the kernels.
/// `-ffp-contract=off`: no fused multiply-add contraction, so float results (Mmad's f32 sums, the vector
/// instructions computed in float) round the same on every host (GCC contracts by default where the target has
/// FMA, e.g. aarch64).
const FLAGS: &[&str] = &[
    "-O2",
    "-std=c++17",
    "-fno-strict-aliasing",
    "-ffp-contract=off",
];

/// The emulator headers (`kernel_operator.h` and `moge_emu/`).
fn include_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("emulator")
        .join("include")
}

/// The launcher source.
fn launcher_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("emulator")
        .join("src")
        .join("launcher.cpp")
}

/// The compiler and the digest of everything the executables depend on besides the kernel source (the
/// compiler's version, the flags, the launcher and the headers).
struct Toolchain {
    /// The compiler command.
    compiler: String,
    /// SHA-256 (hex) keying the launcher object; part of every kernel's key.
    launcher_key: String,
}

static TOOLCHAIN: OnceLock<Toolchain> = OnceLock::new();

fn toolchain() -> Result<&'static Toolchain, EmuError> {
    if let Some(toolchain) = TOOLCHAIN.get() {
        return Ok(toolchain);
    }
    let compiler = crate::limits::compiler()?.unwrap_or_else(|| String::from("g++"));
    let output = Command::new(&compiler)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| EmuError::NoCompiler {
            compiler: compiler.clone(),
            reason: error.to_string(),
        })?;
    if !output.status.success() {
        return Err(EmuError::NoCompiler {
            compiler: compiler.clone(),
            reason: format!("`{compiler} --version` exited with {}", output.status),
        });
    }
    let version = String::from_utf8_lossy(&output.stdout).into_owned();

    let mut hasher = Sha256::default();
    hasher.field(b"moge-emu launcher v1");
    hasher.field(compiler.as_bytes());
    hasher.field(version.as_bytes());
    for flag in FLAGS {
        hasher.field(flag.as_bytes());
    }
    let launcher = launcher_source();
    hasher.field(
        &fs::read(&launcher)
            .map_err(|e| EmuError::io(format!("reading {}", launcher.display()), e))?,
    );
    let mut headers = Vec::new();
    collect_files(&include_dir(), &mut headers)?;
    headers.sort();
    for header in &headers {
        let relative = header.strip_prefix(include_dir()).unwrap_or(header);
        hasher.field(relative.to_string_lossy().as_bytes());
        hasher.field(
            &fs::read(header)
                .map_err(|e| EmuError::io(format!("reading {}", header.display()), e))?,
        );
    }
    let toolchain = Toolchain {
        compiler,
        launcher_key: hasher.hex(),
    };
    Ok(TOOLCHAIN.get_or_init(|| toolchain))
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), EmuError> {
    let entries =
        fs::read_dir(dir).map_err(|e| EmuError::io(format!("listing {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| EmuError::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, files)?;
        } else {
            files.push(path);
        }
    }
    Ok(())
}

/// The cache directory for emulator executables, created if needed. `MOGE_CACHE_DIR`, when set, is
/// used or is an error; without it the first default that can be created is used.
fn cache_dir() -> Result<PathBuf, EmuError> {
    cache_dir_for("emulator")
}

/// The cache directory `sub` (`emulator`, `acl`) as [`cache_dir`] finds it.
pub(crate) fn cache_dir_for(sub: &str) -> Result<PathBuf, EmuError> {
    let mut candidates = Vec::new();
    if let Some(dir) = crate::limits::cache_dir_for(sub)? {
        return Ok(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(dir).join("moge"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(home).join(".cache").join("moge"));
    }
    candidates.push(std::env::temp_dir().join("moge-cache"));
    let mut last_error = None;
    for candidate in candidates {
        let dir = candidate.join(sub);
        match fs::create_dir_all(&dir) {
            Ok(()) => return Ok(dir),
            Err(error) => last_error = Some((dir, error)),
        }
    }
    match last_error {
        Some((dir, error)) => Err(EmuError::io(
            format!("creating the cache directory {}", dir.display()),
            error,
        )),
        None => Err(EmuError::Launcher {
            message: String::from("no cache directory candidate"),
        }),
    }
}

/// A suffix for temporary names, unique in this process and across processes.
pub(crate) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

pub(crate) fn temporary_next_to(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", unique_suffix()))
}

/// Writes a file atomically (temporary file + rename).
fn write_atomically(path: &Path, data: &[u8]) -> Result<(), EmuError> {
    let temporary = temporary_next_to(path);
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(data)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if let Err(error) = result {
        let _ = fs::remove_file(&temporary);
        return Err(EmuError::io(format!("writing {}", path.display()), error));
    }
    Ok(())
}

/// One lock per cache key, so that threads of this process compile each key once.
pub(crate) fn key_lock(key: &str) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = locks
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(key.to_string()).or_default().clone()
}

/// Runs the compiler, which must write `output`, within `MOGE_COMPILE_TIMEOUT_SECS` (its process
/// group is killed after it); on failure returns its stderr with `source_path` shown as `shown_as`.
fn run_compiler(
    toolchain: &Toolchain,
    args: &[&std::ffi::OsStr],
    source_path: &Path,
    shown_as: &str,
    output: &Path,
) -> Result<(), EmuError> {
    let limit = crate::limits::compile_timeout()?;
    let mut command = Command::new(&toolchain.compiler);
    command.args(args).stdin(Stdio::null());
    // A slow compile (g++ spends about 100 s on a 10,000-term kernel) says so on stderr, so that a
    // long wait is not taken for a hang.
    let progress = |elapsed: std::time::Duration| {
        eprintln!(
            "note: compiling {shown_as} with `{}`: {} s so far (limit {} s, {})",
            toolchain.compiler,
            elapsed.as_secs(),
            limit.as_secs(),
            crate::limits::COMPILE_TIMEOUT_ENV
        );
    };
    let finished = super::process::run_tool(command, limit, progress).map_err(|error| {
        EmuError::NoCompiler {
            compiler: toolchain.compiler.clone(),
            reason: error.to_string(),
        }
    })?;
    let Some((status, stderr)) = finished else {
        return Err(EmuError::CompileTimeout {
            compiler: toolchain.compiler.clone(),
            seconds: limit.as_secs(),
        });
    };
    if status.success() {
        // A "compiler" that exits 0 without writing its output (`MOGE_CXX=/bin/true`) is no compiler.
        if !output.is_file() {
            return Err(EmuError::NoCompiler {
                compiler: toolchain.compiler.clone(),
                reason: format!(
                    "it exited with success compiling {shown_as} but wrote no output file {}",
                    output.display()
                ),
            });
        }
        return Ok(());
    }
    let stderr =
        String::from_utf8_lossy(&stderr).replace(&*source_path.to_string_lossy(), shown_as);
    Err(EmuError::Compile { stderr })
}

/// Compiles the launcher into a cached object file.
fn launcher_object(toolchain: &Toolchain, dir: &Path) -> Result<PathBuf, EmuError> {
    let object = dir.join(format!("launcher-{}.o", &toolchain.launcher_key[..32]));
    let lock = key_lock(&toolchain.launcher_key);
    let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if object.is_file() {
        return Ok(object);
    }
    let temporary = temporary_next_to(&object);
    let include = include_dir();
    let source = launcher_source();
    let mut args: Vec<&std::ffi::OsStr> = FLAGS.iter().map(std::ffi::OsStr::new).collect();
    args.extend([
        std::ffi::OsStr::new("-I"),
        include.as_os_str(),
        std::ffi::OsStr::new("-c"),
        source.as_os_str(),
        std::ffi::OsStr::new("-o"),
        temporary.as_os_str(),
    ]);
    let result =
        run_compiler(toolchain, &args, &source, "launcher.cpp", &temporary).and_then(|()| {
            fs::rename(&temporary, &object)
                .map_err(|e| EmuError::io(format!("renaming {}", temporary.display()), e))
        });
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map(|()| object)
}

pub(super) fn compile(source: &str) -> Result<CompiledKernel, EmuError> {
    let toolchain = toolchain()?;
    let dir = cache_dir()?;
    let mut hasher = Sha256::default();
    hasher.field(b"moge-emu kernel v1");
    hasher.field(toolchain.launcher_key.as_bytes());
    hasher.field(source.as_bytes());
    let hash = hasher.hex();
    let executable = dir.join(format!("k-{}", &hash[..32]));
    let compiled = CompiledKernel {
        executable: executable.clone(),
        hash: hash.clone(),
    };

    let lock = key_lock(&hash);
    let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if executable.is_file() {
        return Ok(compiled);
    }
    let object = launcher_object(toolchain, &dir)?;
    let source_path = dir.join(format!("k-{}.cpp", &hash[..32]));
    write_atomically(&source_path, source.as_bytes())?;
    let temporary = temporary_next_to(&executable);
    let include = include_dir();
    let mut args: Vec<&std::ffi::OsStr> = FLAGS.iter().map(std::ffi::OsStr::new).collect();
    args.extend([
        std::ffi::OsStr::new("-I"),
        include.as_os_str(),
        std::ffi::OsStr::new("-x"),
        std::ffi::OsStr::new("c++"),
        source_path.as_os_str(),
        std::ffi::OsStr::new("-x"),
        std::ffi::OsStr::new("none"),
        object.as_os_str(),
        std::ffi::OsStr::new("-o"),
        temporary.as_os_str(),
        std::ffi::OsStr::new("-pthread"),
        std::ffi::OsStr::new("-rdynamic"),
        std::ffi::OsStr::new("-ldl"),
    ]);
    let result =
        run_compiler(toolchain, &args, &source_path, "kernel.cpp", &temporary).and_then(|()| {
            fs::rename(&temporary, &executable)
                .map_err(|e| EmuError::io(format!("renaming {}", temporary.display()), e))
        });
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
        let _ = fs::remove_file(&source_path);
    }
    result.map(|()| compiled)
}
