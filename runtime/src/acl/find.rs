//! Finding CANN: the install root, its device toolchain, its version, and the SoCs it knows.
//!
//! The root is `ASCEND_HOME_PATH` when set (what CANN's `set_env.sh` exports), else the first of the
//! standard install roots that exists ([`STANDARD_ROOTS`]). The device toolchain (`bisheng`, `ld.lld`)
//! lives in `<D>/ccec_compiler/bin`, where `<D>` is the first of `<root>/<arch>-linux`, `<root>/tools`
//! and `<root>/compiler` holding it — the order of CANN's own `bisheng_config.cmake`. The version is the
//! `Version=` line of the install's `version.info` (8.5 keeps it in `share/info/runtime/`, older 8.x in
//! `runtime/`). A SoC is known to the install when its `<SoC>.ini` is in a `data/platform_config`
//! directory (the files `--soc_version` is checked against).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::errors::AclError;

/// The CANN version whose device build (flags, include directories) moge follows.
pub const EXPECTED_VERSION: &str = "8.5";

/// The environment variable that, set to `off`, accepts any CANN version.
pub const VERSION_CHECK_ENV: &str = "MOGE_CANN_VERSION_CHECK";

/// Standard install roots, in the order they are tried when `ASCEND_HOME_PATH` is unset (`~` is
/// `$HOME`): the 8.5 layout first, then the older `ascend-toolkit/latest`.
pub const STANDARD_ROOTS: [&str; 4] = [
    "/usr/local/Ascend/cann",
    "~/Ascend/cann",
    "/usr/local/Ascend/ascend-toolkit/latest",
    "~/Ascend/ascend-toolkit/latest",
];

/// Version files, relative to the root, in the order they are read.
pub const VERSION_FILES: [&str; 5] = [
    "share/info/runtime/version.info",
    "runtime/version.info",
    "share/info/compiler/version.info",
    "compiler/version.info",
    "version.info",
];

/// The host's directory name in a CANN install (`x86_64-linux`, `aarch64-linux`).
pub fn host_arch_dir() -> String {
    format!("{}-linux", std::env::consts::ARCH)
}

/// Where CANN was looked for and what was found, or why nothing was.
pub fn locate(home: Option<OsString>, standard: &[PathBuf]) -> Result<PathBuf, String> {
    let empty = home.as_ref().is_some_and(|value| value.is_empty());
    if let Some(home) = home.filter(|value| !value.is_empty()) {
        let home = PathBuf::from(home);
        if home.is_dir() {
            return Ok(home);
        }
        return Err(format!(
            "CANN not found (ASCEND_HOME_PATH is `{}`, which is not a directory)",
            home.display()
        ));
    }
    if let Some(found) = standard.iter().find(|root| root.is_dir()) {
        return Ok(found.clone());
    }
    // An empty value is treated as unset (the standard roots are tried), but named as it is: it is
    // a different mistake in the environment from a missing one.
    let variable = if empty {
        "ASCEND_HOME_PATH is set but empty"
    } else {
        "ASCEND_HOME_PATH unset"
    };
    if standard.is_empty() {
        return Err(format!("CANN not found ({variable})"));
    }
    let looked: Vec<String> = standard.iter().map(|p| p.display().to_string()).collect();
    Err(format!(
        "CANN not found ({variable}, and none of {} exists)",
        looked.join(", ")
    ))
}

/// [`STANDARD_ROOTS`] with `~` expanded (entries under `~` are dropped when `HOME` is unset).
pub fn standard_roots() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    STANDARD_ROOTS
        .iter()
        .filter_map(|root| match root.strip_prefix("~/") {
            Some(rest) => home.as_ref().map(|h| PathBuf::from(h).join(rest)),
            None => Some(PathBuf::from(root)),
        })
        .collect()
}

/// A CANN install, checked enough to compile for it.
#[derive(Clone, Debug)]
pub struct Cann {
    /// The install root (`ASCEND_HOME_PATH`).
    pub root: PathBuf,
    /// The device toolchain directory `<D>` (`<D>/ccec_compiler/bin/bisheng`).
    pub devkit: PathBuf,
    /// The version the install reports (`8.5.0`), `None` when unchecked.
    pub version: Option<String>,
}

impl Cann {
    /// Opens the install at `root`: finds its toolchain and checks its version (unless
    /// `MOGE_CANN_VERSION_CHECK=off`).
    pub fn open(root: &Path) -> Result<Cann, AclError> {
        let check = match crate::limits::env_value(VERSION_CHECK_ENV)? {
            None => true,
            Some(value) if value.trim() == "off" => false,
            Some(value) if value.trim() == "on" => true,
            Some(value) => {
                return Err(AclError::Env(crate::limits::EnvError {
                    var: VERSION_CHECK_ENV,
                    value,
                    expected: "expected `on` (the default) or `off`".to_string(),
                }))
            }
        };
        Cann::open_checked(root, check)
    }

    /// [`open`](Cann::open) with the version check on or off.
    pub fn open_checked(root: &Path, check_version: bool) -> Result<Cann, AclError> {
        // The tools run in a work directory of their own: a relative root would not find them.
        let absolute = std::path::absolute(root)
            .map_err(|e| AclError::io(format!("resolving `{}`", root.display()), e))?;
        let root = absolute.as_path();
        let devkit = find_devkit(root)?;
        let version = match read_version(root) {
            VersionFile::Found { version, file } => {
                if check_version && !version_matches(&version, EXPECTED_VERSION) {
                    return Err(AclError::Version {
                        found: version,
                        expected: EXPECTED_VERSION,
                        root: root.to_path_buf(),
                        file,
                    });
                }
                Some(version)
            }
            VersionFile::Unparsable { file, reason } if check_version => {
                return Err(AclError::BadVersionFile { file, reason })
            }
            VersionFile::Absent if check_version => {
                return Err(AclError::NoVersion {
                    root: root.to_path_buf(),
                    looked: VERSION_FILES.join(", "),
                })
            }
            VersionFile::Unparsable { .. } | VersionFile::Absent => None,
        };
        // Both tools are checked here, before anything is compiled: a missing linker is a broken
        // install (a setup error), not a failure of the kernel.
        let linker = devkit.join("ccec_compiler/bin/ld.lld");
        if !linker.is_file() {
            return Err(AclError::NoTool {
                root: root.to_path_buf(),
                tool: "ld.lld",
                looked: devkit.join("ccec_compiler/bin").display().to_string(),
            });
        }
        Ok(Cann {
            root: root.to_path_buf(),
            devkit,
            version,
        })
    }

    /// `bisheng`.
    pub fn bisheng(&self) -> PathBuf {
        self.devkit.join("ccec_compiler/bin/bisheng")
    }

    /// `ld.lld`.
    pub fn ld_lld(&self) -> PathBuf {
        self.devkit.join("ccec_compiler/bin/ld.lld")
    }

    /// The directories holding `<SoC>.ini` platform files, those that exist.
    pub fn platform_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![
            self.root.join("compiler/data/platform_config"),
            self.devkit.join("data/platform_config"),
            self.root.join(host_arch_dir()).join("data/platform_config"),
            self.root.join("data/platform_config"),
        ];
        dirs.dedup();
        dirs.into_iter().filter(|d| d.is_dir()).collect()
    }

    /// Checks that the install knows SoC `soc` (`Ascend910B2`) when it has platform files at all; an
    /// error naming the SoCs it knows otherwise.
    pub fn check_soc(&self, target: &str, soc: &str) -> Result<(), AclError> {
        let dirs = self.platform_dirs();
        if dirs.is_empty() || dirs.iter().any(|d| d.join(format!("{soc}.ini")).is_file()) {
            return Ok(());
        }
        let mut known: Vec<String> = dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .flatten()
            // Only files: a directory named `<SoC>.ini` is no platform file, and naming it as
            // known would contradict the "no <SoC>.ini" just said.
            .filter(|entry| entry.path().is_file())
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".ini").map(str::to_string)
            })
            .collect();
        known.sort();
        known.dedup();
        Err(AclError::UnknownTarget {
            target: target.to_string(),
            by: format!(
                "the CANN at `{}` (no {soc}.ini in {}; it knows {})",
                self.root.display(),
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                if known.is_empty() {
                    "no SoC".to_string()
                } else {
                    known.join(", ")
                }
            ),
        })
    }
}

/// The toolchain directory: the first of `<root>/<arch>-linux`, `<root>/tools`, `<root>/compiler` with
/// `ccec_compiler/bin/bisheng`.
fn find_devkit(root: &Path) -> Result<PathBuf, AclError> {
    let candidates = [
        root.join(host_arch_dir()),
        root.join("tools"),
        root.join("compiler"),
    ];
    candidates
        .iter()
        .find(|d| d.join("ccec_compiler/bin/bisheng").is_file())
        .cloned()
        .ok_or_else(|| AclError::NoTool {
            root: root.to_path_buf(),
            tool: "bisheng",
            looked: candidates
                .iter()
                .map(|d| format!("{}/ccec_compiler/bin", d.display()))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// What the install's version files say.
enum VersionFile {
    /// The `Version=` of the first version file, with the file's path relative to the root.
    Found {
        /// The version (`8.5.0`).
        version: String,
        /// The file, relative to the root.
        file: String,
    },
    /// The first version file that exists cannot be read or has no `Version=` line.
    Unparsable {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// None of [`VERSION_FILES`] exists.
    Absent,
}

/// The first of [`VERSION_FILES`] that exists, read.
fn read_version(root: &Path) -> VersionFile {
    let Some(file) = VERSION_FILES.iter().find(|f| root.join(f).exists()) else {
        return VersionFile::Absent;
    };
    let path = root.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            return VersionFile::Unparsable {
                file: path,
                reason: error.to_string(),
            }
        }
    };
    let found = text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("Version=")?.trim();
        Some(value.to_string())
    });
    match found {
        Some(version) if !version.is_empty() => VersionFile::Found {
            version,
            file: file.to_string(),
        },
        Some(_) => VersionFile::Unparsable {
            file: path,
            reason: "its `Version=` line is empty".to_string(),
        },
        None => VersionFile::Unparsable {
            file: path,
            reason: "it has no `Version=` line".to_string(),
        },
    }
}

/// Whether `version` (`8.5.0`, `8.5.RC1`) is in release line `expected` (`8.5`): the same leading
/// dot-separated fields.
pub fn version_matches(version: &str, expected: &str) -> bool {
    let fields: Vec<&str> = version.split('.').collect();
    let wanted: Vec<&str> = expected.split('.').collect();
    fields.len() >= wanted.len() && fields.iter().zip(&wanted).all(|(a, b)| a == b)
}

/// CANN's SoC name for a moge target (`ascend910b2` → `Ascend910B2`) and the device architecture of
/// its cores (all of moge's targets are Atlas A2, `dav-c220`); `None` for a target the ACL backend does
/// not know.
pub fn soc_of(target: &str) -> Option<(String, &'static str)> {
    let lower = target.to_ascii_lowercase();
    let rest = lower.strip_prefix("ascend910b")?;
    if !matches!(rest, "1" | "2" | "3" | "4") {
        return None;
    }
    Some((format!("Ascend910B{rest}"), "dav-c220"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_by_release_line() {
        assert!(version_matches("8.5.0", "8.5"));
        assert!(version_matches("8.5.RC1", "8.5"));
        assert!(!version_matches("8.3.RC1", "8.5"));
        assert!(!version_matches("8.50.0", "8.5"));
        assert!(!version_matches("8", "8.5"));
    }

    #[test]
    fn targets_map_to_cann_soc_names() {
        assert_eq!(
            soc_of("ascend910b2"),
            Some(("Ascend910B2".to_string(), "dav-c220"))
        );
        assert_eq!(
            soc_of("Ascend910B4"),
            Some(("Ascend910B4".to_string(), "dav-c220"))
        );
        assert_eq!(soc_of("ascend910b9"), None);
        assert_eq!(soc_of("ascend310p"), None);
    }

    #[test]
    fn locating_prefers_the_variable_then_standard_roots() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        assert_eq!(
            locate(Some(dir.path().into()), &[]).unwrap(),
            dir.path().to_path_buf()
        );
        assert_eq!(
            locate(None, &[missing.clone(), dir.path().to_path_buf()]).unwrap(),
            dir.path().to_path_buf()
        );
        assert_eq!(
            locate(None, std::slice::from_ref(&missing)).unwrap_err(),
            format!(
                "CANN not found (ASCEND_HOME_PATH unset, and none of {} exists)",
                missing.display()
            )
        );
        assert_eq!(
            locate(Some(missing.clone().into()), &[]).unwrap_err(),
            format!(
                "CANN not found (ASCEND_HOME_PATH is `{}`, which is not a directory)",
                missing.display()
            )
        );
    }
}
