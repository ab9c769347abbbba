//! Compiling one device kernel into an AI-Core ELF for `aclrtBinaryLoadFromFile`, as CANN's own
//! `ascendc_fatbin_library` does (reference: launch-acl-hccl.md §1.1–1.5):
//!
//! 1. The kernel's `extern "C" __global__ __aicore__` function becomes an inline device function
//!    `<k>_origin`, and a new entry point with CANN's kernel ABI calls it: for MIX kernels a leading
//!    `ffts_addr` (the runtime fills it; the entry sets the FFTS base from it, as CANN's generated
//!    wrapper does), then the kernel's own parameters, then the trailing `overflow_status` every AI Core
//!    kernel gets. One `.ascend.meta.<symbol>` record per entry gives the loader the kernel type (and the
//!    1:2 cube:vector ratio of MIX kernels) — without it `aclrtBinaryLoadFromFile` refuses the file.
//! 2. `bisheng` compiles it once per core type with CANN 8.5's device flags: AIV kernels for
//!    `dav-c220-vec`, AIC for `dav-c220-cube`, MIX for both (cube first), the entry renamed
//!    `<k>_mix_aic` / `<k>_mix_aiv` per pass so the runtime merges the halves into one kernel `<k>`.
//! 3. `ld.lld -m aicorelinux -Ttext=0 <objects> -static` links the objects into one ELF.
//!
//! The ELF is cached by content hash (the device source, the core type, the SoC, the flags and the CANN
//! install and version) in `MOGE_CACHE_DIR/acl` or the default cache, written under a temporary name
//! and renamed into place, as the emulator's cache does.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use moge_codegen_ascendc::manifest::CoreType;

use super::errors::AclError;
use super::find::Cann;
use crate::backend::KernelSource;
use crate::emulator::cache::{cache_dir_for, key_lock, temporary_next_to};
use crate::emulator::sha256::Sha256;

/// The macro naming the entry point in the device source; MIX passes set it to `<k>_mix_aic` /
/// `<k>_mix_aiv`.
pub const ENTRY_MACRO: &str = "MOGE_ACL_ENTRY";

/// A kernel's entry point as the printer writes it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    /// The `extern "C"` symbol.
    pub name: String,
    /// Its parameters' names, in order (all `GM_ADDR`; the last two are the workspace and the tiling).
    pub params: Vec<String>,
}

/// Finds `extern "C" __global__ __aicore__ void <name>(GM_ADDR a, ...)` in `source`: exactly once, with
/// `GM_ADDR` parameters only.
pub fn parse_entry(kernel: &KernelSource<'_>) -> Result<Entry, AclError> {
    let fail = |reason: String| AclError::Source {
        kernel: kernel.name.to_string(),
        reason,
    };
    let head = entry_head(kernel.name);
    let mut found = kernel.source.match_indices(&head);
    let Some((at, _)) = found.next() else {
        return Err(fail(format!("its source has no entry point `{head}...)`")));
    };
    if found.next().is_some() {
        return Err(fail(format!("its source defines `{head}...)` twice")));
    }
    let rest = &kernel.source[at + head.len()..];
    let close = rest
        .find(')')
        .ok_or_else(|| fail("the entry point's parameter list is not closed".to_string()))?;
    let mut params = Vec::new();
    for (index, param) in rest[..close].split(',').enumerate() {
        let words: Vec<&str> = param.split_whitespace().collect();
        match words.as_slice() {
            ["GM_ADDR", name] => params.push((*name).to_string()),
            _ => {
                return Err(fail(format!(
                    "parameter {index} of the entry point is `{}`, expected `GM_ADDR <name>`",
                    param.trim()
                )))
            }
        }
    }
    // All-core synchronisation needs what moge's launch does not set up yet: the software form
    // (AIV) a system workspace that CANN's generated wrapper installs, and both forms the batch
    // scheduling mode so every block is resident (otherwise the blocks can wait for each other forever).
    if kernel.source.contains("AscendC::SyncAll<") {
        return Err(fail(
            "it uses AscendC::SyncAll, which on the NPU needs CANN's system workspace and the batch \
             scheduling mode; the ACL backend does not set them up yet (run it on the emulator)"
                .to_string(),
        ));
    }
    if params.len() < 2 {
        return Err(fail(format!(
            "the entry point has {} parameters, expected the GM arguments, `workspace` and `tiling`",
            params.len()
        )));
    }
    Ok(Entry {
        name: kernel.name.to_string(),
        params,
    })
}

fn entry_head(name: &str) -> String {
    format!("extern \"C\" __global__ __aicore__ void {name}(")
}

/// The device source: the kernel with its entry point renamed `<k>_origin` and made inline, then the
/// entry point with CANN's ABI and the meta records.
pub fn device_source(kernel: &KernelSource<'_>, entry: &Entry) -> String {
    let name = &entry.name;
    let body = kernel.source.replacen(
        &entry_head(name),
        &format!("__aicore__ inline void {name}_origin("),
        1,
    );
    let mix = kernel.core_type == CoreType::MixAic1_2;
    let mut out = body;
    out.push_str("\n// ---- moge: the device entry point with CANN's kernel ABI, and its meta records ----\n");
    out.push_str(&format!(
        "#ifndef {ENTRY_MACRO}\n#define {ENTRY_MACRO} {name}\n#endif\n"
    ));
    let mut params: Vec<String> = Vec::new();
    if mix {
        params.push("GM_ADDR ffts_addr".to_string());
    }
    params.extend(entry.params.iter().map(|p| format!("GM_ADDR {p}")));
    params.push("GM_ADDR overflow_status".to_string());
    out.push_str(&format!(
        "extern \"C\" __global__ __aicore__ void {ENTRY_MACRO}({})\n{{\n",
        params.join(", ")
    ));
    if mix {
        out.push_str(
            "    icache_preload(1);\n    if (ffts_addr != nullptr) {\n        set_ffts_base_addr((uint64_t)ffts_addr);\n    }\n",
        );
    }
    out.push_str(&format!(
        "    {name}_origin({});\n}}\n",
        entry.params.join(", ")
    ));
    match kernel.core_type {
        CoreType::Aiv => out.push_str(&ktype_record(name, name, "K_TYPE_AIV")),
        CoreType::Aic => out.push_str(&ktype_record(name, name, "K_TYPE_AIC")),
        CoreType::MixAic1_2 => {
            for (guard, suffix) in [
                ("__DAV_C220_CUBE__", "mix_aic"),
                ("__DAV_C220_VEC__", "mix_aiv"),
            ] {
                out.push_str(&format!("#if defined({guard})\n"));
                out.push_str(&format!(
                    "static const struct FunLevelMixCoreType {name}_{suffix}_section \
                     __attribute__((used, section(\".ascend.meta.{name}_{suffix}\"))) = \
                     {{ {{ {{F_TYPE_KTYPE, sizeof(unsigned int)}}, K_TYPE_MIX_AIC_MAIN }}, \
                     {{ {{F_TYPE_MIX_TASK_RATION, sizeof(unsigned int)}}, 1, 2 }} }};\n"
                ));
                out.push_str("#endif\n");
            }
        }
    }
    out
}

fn ktype_record(name: &str, symbol: &str, ktype: &str) -> String {
    format!(
        "static const struct FunLevelKType {name}_section \
         __attribute__((used, section(\".ascend.meta.{symbol}\"))) = \
         {{ {{ {{F_TYPE_KTYPE, sizeof(unsigned int)}}, {ktype} }} }};\n"
    )
}

/// One tool run of a device build.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ToolCall {
    /// The tool.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
}

impl ToolCall {
    /// The call as one line, each path of `shown` replaced by its placeholder in order (e.g. the
    /// toolchain directory by `<D>`, then the install by `<CANN>`), so the text does not depend on
    /// the machine.
    pub fn display(&self, shown: &[(&Path, &str)]) -> String {
        let mut words = vec![self.program.to_string_lossy().into_owned()];
        words.extend(self.args.iter().map(|a| a.to_string_lossy().into_owned()));
        let mut line = words.join(" ");
        for (path, placeholder) in shown {
            line = line.replace(&*path.to_string_lossy(), placeholder);
        }
        line
    }
}

/// The flags of CANN 8.5's `device_intf_pub` (every device compile), with `D` the toolchain directory.
fn common_flags(cann: &Cann) -> Vec<OsString> {
    let d = &cann.devkit;
    let mut flags: Vec<OsString> = ["-O3", "-std=c++17", "--cce-aicore-lang"]
        .iter()
        .map(OsString::from)
        .collect();
    // CANN includes the version header only when the install has it; so do we.
    let version_header = d.join("../include/ascendc/asc_devkit_version.h");
    if version_header.is_file() {
        flags.push("-include".into());
        flags.push(version_header.into_os_string());
    }
    flags.push("-DTILING_KEY_VAR=0".into());
    for dir in [
        "asc/impl/adv_api",
        "asc/impl/basic_api",
        "asc/impl/utils",
        "asc/include",
        "asc/include/adv_api",
        "asc/include/basic_api",
        "asc/include/aicpu_api",
        "asc/include/utils",
        "tikcpp/tikcfw",
        "tikcpp/tikcfw/interface",
        "tikcpp/tikcfw/impl",
    ] {
        let mut flag = OsString::from("-I");
        flag.push(d.join(dir));
        flags.push(flag);
    }
    flags
}

/// The flags of CANN 8.5's `c220_aiv_intf_pub` / `c220_aic_intf_pub`, then `device_project`'s.
fn arch_flags(arch: &str, cube: bool) -> Vec<OsString> {
    let side = if cube { "cube" } else { "vec" };
    let mut flags = vec![
        OsString::from(format!("--cce-aicore-arch={arch}-{side}")),
        "--cce-aicore-only".into(),
        "--cce-auto-sync".into(),
    ];
    for option in [
        "-cce-aicore-stack-size=0x8000",
        "-cce-aicore-function-stack-size=0x8000",
        "-cce-aicore-record-overflow=true",
        "-cce-aicore-addr-transform",
        "-cce-aicore-dcci-insert-for-scalar=false",
    ] {
        flags.push("-mllvm".into());
        flags.push(option.into());
    }
    flags.push("--cce-disable-kernel-global-attr-check".into());
    flags
}

/// The tool calls that build `entry` of `core_type` from `work/<k>_dev.cpp` into `output`, for device
/// architecture `arch` (`dav-c220`).
pub fn build_steps(
    cann: &Cann,
    arch: &str,
    core_type: CoreType,
    entry: &Entry,
    work: &Path,
    output: &Path,
) -> Vec<ToolCall> {
    let name = &entry.name;
    let source = work.join(format!("{name}_dev.cpp"));
    // (cube?, object, extra defines) per pass; MIX: the cube object first, as CANN links it.
    let passes: Vec<(bool, PathBuf, Vec<String>)> = match core_type {
        CoreType::Aiv => vec![(false, work.join(format!("{name}.aiv.o")), vec![])],
        CoreType::Aic => vec![(true, work.join(format!("{name}.aic.o")), vec![])],
        CoreType::MixAic1_2 => vec![
            (
                true,
                work.join(format!("{name}.aic.o")),
                vec![
                    "-D__MIX_CORE_MACRO__=1".to_string(),
                    format!("-D{ENTRY_MACRO}={name}_mix_aic"),
                ],
            ),
            (
                false,
                work.join(format!("{name}.aiv.o")),
                vec![
                    "-D__MIX_CORE_MACRO__=1".to_string(),
                    format!("-D{ENTRY_MACRO}={name}_mix_aiv"),
                ],
            ),
        ],
    };
    let mut steps = Vec::new();
    for (cube, object, defines) in &passes {
        let mut args = common_flags(cann);
        args.extend(arch_flags(arch, *cube));
        args.extend(defines.iter().map(OsString::from));
        args.extend([
            OsString::from("-c"),
            source.clone().into_os_string(),
            OsString::from("-o"),
            object.clone().into_os_string(),
        ]);
        steps.push(ToolCall {
            program: cann.bisheng(),
            args,
        });
    }
    let mut link: Vec<OsString> = ["-m", "aicorelinux", "-Ttext=0"]
        .iter()
        .map(OsString::from)
        .collect();
    link.extend(passes.iter().map(|(_, o, _)| o.clone().into_os_string()));
    link.extend([
        OsString::from("-static"),
        OsString::from("-o"),
        output.as_os_str().to_os_string(),
    ]);
    steps.push(ToolCall {
        program: cann.ld_lld(),
        args: link,
    });
    steps
}

/// Bumped when the device source or the flags change, so old cache entries are not reused.
const BUILD_VERSION: &str = "moge-acl device build v1";

/// A compiled device kernel.
#[derive(Clone, Debug)]
pub struct DeviceBinary {
    /// The AI-Core ELF.
    pub path: PathBuf,
    /// The entry point.
    pub entry: Entry,
}

/// The default cache directory of device binaries (`MOGE_CACHE_DIR/acl`, or the user's cache).
pub fn default_cache_dir() -> Result<PathBuf, AclError> {
    cache_dir_for("acl").map_err(|e| AclError::Io {
        context: "finding a cache directory for device binaries".to_string(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Compiles `kernel` for architecture `arch` into cache directory `dir`, or finds it there.
pub fn compile(
    dir: &Path,
    cann: &Cann,
    arch: &str,
    kernel: &KernelSource<'_>,
) -> Result<DeviceBinary, AclError> {
    let entry = parse_entry(kernel)?;
    let source = device_source(kernel, &entry);
    let mut hasher = Sha256::default();
    hasher.field(BUILD_VERSION.as_bytes());
    hasher.field(cann.root.to_string_lossy().as_bytes());
    hasher.field(cann.devkit.to_string_lossy().as_bytes());
    hasher.field(cann.version.as_deref().unwrap_or("unknown").as_bytes());
    hasher.field(arch.as_bytes());
    hasher.field(format!("{:?}", kernel.core_type).as_bytes());
    hasher.field(source.as_bytes());
    let hash = hasher.hex();
    fs::create_dir_all(dir).map_err(|source| AclError::CacheDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let binary = dir.join(format!("{}-{}.o", kernel.name, &hash[..32]));
    let lock = key_lock(&hash);
    let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if is_elf(&binary) {
        return Ok(DeviceBinary {
            path: binary,
            entry,
        });
    }
    // Anything else under the binary's name (an empty or truncated file) is not trusted: rebuilt.
    let _ = fs::remove_file(&binary);
    let work = dir.join(format!(
        ".work-{}-{}",
        &hash[..32],
        crate::emulator::cache::unique_suffix()
    ));
    fs::create_dir_all(&work)
        .map_err(|e| AclError::io(format!("creating {}", work.display()), e))?;
    let result = (|| {
        let path = work.join(format!("{}_dev.cpp", entry.name));
        fs::write(&path, &source)
            .map_err(|e| AclError::io(format!("writing {}", path.display()), e))?;
        let temporary = temporary_next_to(&binary);
        let steps = build_steps(cann, arch, kernel.core_type, &entry, &work, &temporary);
        for step in &steps {
            run_step(kernel.name, step, &work)?;
        }
        if !is_elf(&temporary) {
            let _ = fs::remove_file(&temporary);
            return Err(AclError::Compile {
                kernel: kernel.name.to_string(),
                tool: cann.ld_lld().display().to_string(),
                status: "it exited with success".to_string(),
                stderr: format!("but wrote no ELF file at {}", temporary.display()),
            });
        }
        fs::rename(&temporary, &binary).map_err(|e| {
            let _ = fs::remove_file(&temporary);
            AclError::io(format!("renaming {}", temporary.display()), e)
        })
    })();
    let _ = fs::remove_dir_all(&work);
    result.map(|()| DeviceBinary {
        path: binary,
        entry,
    })
}

/// Whether `path` is a file that starts as an ELF object does (`0x7f 'E' 'L' 'F'`).
fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// Runs one build step within `MOGE_COMPILE_TIMEOUT_SECS`.
fn run_step(kernel: &str, step: &ToolCall, work: &Path) -> Result<(), AclError> {
    let limit = crate::limits::compile_timeout()?;
    let tool = step.program.display().to_string();
    let mut command = Command::new(&step.program);
    command.args(&step.args).current_dir(work);
    let progress = |elapsed: std::time::Duration| {
        eprintln!(
            "note: compiling kernel `{kernel}` for the NPU with `{tool}`: {} s so far (limit {} s)",
            elapsed.as_secs(),
            limit.as_secs()
        );
    };
    let finished =
        crate::emulator::process::run_tool(command, limit, progress).map_err(|source| {
            AclError::ToolNotRunnable {
                tool: tool.clone(),
                source,
            }
        })?;
    let Some((status, stderr)) = finished else {
        return Err(AclError::CompileTimeout {
            kernel: kernel.to_string(),
            tool,
            seconds: limit.as_secs(),
        });
    };
    if status.success() {
        return Ok(());
    }
    Err(AclError::Compile {
        kernel: kernel.to_string(),
        tool,
        status: status.to_string(),
        stderr: String::from_utf8_lossy(&stderr)
            .replace(&*work.to_string_lossy(), "<WORK>")
            .trim_end()
            .to_string(),
    })
}
