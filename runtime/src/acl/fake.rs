//! A fake CANN install, for tests and benchmarks on machines without an NPU.
//!
//! [`FakeCann::new`] builds, in a temporary directory, the parts of an install the ACL backend reads:
//! `version.info`, a platform file per SoC given, the version header, and `bisheng` / `ld.lld` shell
//! scripts that append their command line to a log and write a placeholder output file.
//! [`FakeCann::library`] compiles `fake_acl.c` (a libascendcl whose device memory is host memory and
//! whose launches record their arguments) with the host C compiler and chosen scenario switches.
//! Nothing here runs device code: it checks what moge asks of CANN, not what CANN does.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::find::host_arch_dir;

/// The fake libascendcl's source.
pub const FAKE_ACL_C: &str = include_str!("fake_acl.c");

/// A fake CANN install in a temporary directory (removed on drop).
pub struct FakeCann {
    dir: tempfile::TempDir,
}

/// A tool script that logs its command line and writes its `-o` output; a source naming
/// `MOGE_FAKE_COMPILE_ERROR` fails like a compiler error.
fn tool_script(name: &str, log: &Path) -> String {
    format!(
        "#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{log}'\nout=''\nprev=''\nfor a in \"$@\"; do\n  \
         if [ \"$prev\" = '-o' ]; then out=\"$a\"; fi\n  \
         case \"$a\" in *.cpp) if grep -q MOGE_FAKE_COMPILE_ERROR \"$a\"; then echo \"$a:1:1: error: fake compile error\" >&2; exit 1; fi;; esac\n  \
         prev=\"$a\"\ndone\nprintf '\\177ELF placeholder {name} output\\n' > \"$out\"\n",
        log = log.display()
    )
}

impl FakeCann {
    /// An install reporting `version` that knows the SoCs `socs` (`Ascend910B2`).
    pub fn new(version: &str, socs: &[&str]) -> std::io::Result<FakeCann> {
        let dir = tempfile::Builder::new()
            .prefix("moge-fake-cann")
            .tempdir()?;
        let root = dir.path().join("cann");
        let bin = root.join(host_arch_dir()).join("ccec_compiler/bin");
        std::fs::create_dir_all(&bin)?;
        let log = dir.path().join("tools.log");
        std::fs::write(&log, "")?;
        for tool in ["bisheng", "ld.lld"] {
            let path = bin.join(tool);
            std::fs::write(&path, tool_script(tool, &log))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        let info = root.join("share/info/runtime");
        std::fs::create_dir_all(&info)?;
        std::fs::write(
            info.join("version.info"),
            format!("Version={version}\nversion_dir=cann\n"),
        )?;
        let platform = root.join("compiler/data/platform_config");
        std::fs::create_dir_all(&platform)?;
        for soc in socs {
            std::fs::write(platform.join(format!("{soc}.ini")), "[version]\n")?;
        }
        let header = root.join("include/ascendc");
        std::fs::create_dir_all(&header)?;
        std::fs::write(header.join("asc_devkit_version.h"), "")?;
        std::fs::create_dir_all(root.join("lib64"))?;
        Ok(FakeCann { dir })
    }

    /// The install root (`ASCEND_HOME_PATH`).
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("cann")
    }

    /// A scratch directory next to the install (for caches).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The command lines the tools ran, one a line, in order.
    pub fn tool_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tools.log")).unwrap_or_default()
    }

    /// Compiles the fake libascendcl with `defines` (`FAKE_FAULT`, `FAKE_MEM_LIMIT=64`) to
    /// `<root>/lib64/libascendcl.so` when `install`, else to a file of its own; returns its path.
    pub fn library(&self, defines: &[&str], install: bool) -> std::io::Result<PathBuf> {
        let source = self.dir.path().join("fake_acl.c");
        std::fs::write(&source, FAKE_ACL_C)?;
        let output = if install {
            self.root().join("lib64/libascendcl.so")
        } else {
            let tag: String = defines
                .join("_")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            self.dir.path().join(format!("libascendcl-{tag}.so"))
        };
        let compiler = std::env::var("CC").unwrap_or_else(|_| "gcc".to_string());
        let mut command = Command::new(compiler);
        command
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&output)
            .arg(&source);
        for define in defines {
            command.arg(format!("-D{define}"));
        }
        let result = command.output()?;
        if !result.status.success() {
            return Err(std::io::Error::other(format!(
                "compiling the fake libascendcl failed: {}",
                String::from_utf8_lossy(&result.stderr)
            )));
        }
        Ok(output)
    }
}
