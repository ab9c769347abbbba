//! Writing a command's output files all at once, without ever overwriting an input and without
//! leaving partial outputs behind.
//!
//! [`write_all`] writes every file to a temporary name in the target directory and renames them into
//! place only when all were written; on a failure it removes the temporaries (and the directories it
//! created). Before writing, every target is compared with the inputs by file identity (device and
//! inode, following symlinks), not by name, so `./x.npy`, a symlink or a hard link to an input is
//! recognized as the input.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why output files could not be written. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The output directory exists and is not a directory.
    #[error("cannot use `{}` as the output directory: it exists and is not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// The output directory could not be created.
    #[error("cannot create the output directory `{}`: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// An output would replace one of the command's inputs.
    #[error("the output `{}` is the input file `{}`; writing it would destroy the input: choose another output path ({flag})", output.display(), input.display())]
    WouldOverwriteInput {
        /// The output path.
        output: PathBuf,
        /// The input, as given.
        input: PathBuf,
        /// The flag that chose the output's path: `--trace` for a file named by its own path,
        /// else the output directory's flag.
        flag: &'static str,
    },
    /// Two of the command's outputs are one file (`--trace out/report.json` with `-o out`).
    #[error("`{}` would be written twice: it is both {first} and {second}; give them different paths", path.display())]
    SameTarget {
        /// The file.
        path: PathBuf,
        /// What the first output is (`the file report.json`).
        first: String,
        /// What the second is.
        second: String,
    },
    /// A file could not be written (no space, no permission, a read-only file system...).
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The file (its final name).
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Writes every `(file name, contents)` into `dir` (created if needed), refusing to replace any of
/// `inputs`. Either every file is in place afterwards or none is (the files are renamed into place
/// only once all are written). Returns the paths written, in order.
pub fn write_all<C: FileContents>(
    dir: &Path,
    files: &[(String, C)],
    inputs: &[PathBuf],
) -> Result<Vec<PathBuf>, WriteError> {
    let targets: Vec<PathBuf> = files.iter().map(|(name, _)| dir.join(name)).collect();
    // A name may be a path of its own (an absolute `--trace` file): no two may meet.
    let absolute: Vec<PathBuf> = targets.iter().map(|t| lexical_absolute(t)).collect();
    for (i, a) in absolute.iter().enumerate() {
        if let Some(j) = absolute[..i].iter().position(|b| b == a) {
            return Err(WriteError::SameTarget {
                path: targets[i].clone(),
                first: format!("the file {}", files[j].0),
                second: format!("the file {}", files[i].0),
            });
        }
    }
    // Compare identities before anything is created.
    let input_ids: Vec<(FileId, &PathBuf)> = inputs
        .iter()
        .filter_map(|path| FileId::of(path).map(|id| (id, path)))
        .collect();
    for (target, (name, _)) in targets.iter().zip(files) {
        // A directory in the way would make its rename fail after others were renamed.
        if fs::symlink_metadata(target).is_ok_and(|m| m.is_dir()) {
            return Err(WriteError::Write {
                path: target.clone(),
                source: io::Error::from(io::ErrorKind::IsADirectory),
            });
        }
        if let Some(id) = FileId::of(target) {
            if let Some((_, input)) = input_ids.iter().find(|(i, _)| *i == id) {
                // Only a file named by a flag of its own (`--trace`) has an absolute name here.
                let flag = if Path::new(name).is_absolute() {
                    "`--trace`"
                } else {
                    "`-o` of run and eval, `--cann` of export"
                };
                return Err(WriteError::WouldOverwriteInput {
                    output: target.clone(),
                    input: (*input).clone(),
                    flag,
                });
            }
        }
    }
    let mut created = create_dir(dir)?;
    // Names with a directory part (`kernels/k.cpp`) get their directories too, removed again on failure.
    for target in &targets {
        match target.parent() {
            Some(parent) if parent != dir => created.extend(create_dir(parent)?),
            _ => {}
        }
    }
    let mut temporaries: Vec<PathBuf> = Vec::with_capacity(files.len());
    let result = (|| {
        for ((_, contents), target) in files.iter().zip(&targets) {
            let temporary = temporary_for(target);
            temporaries.push(temporary.clone());
            write_file(&temporary, contents).map_err(|source| WriteError::Write {
                path: target.clone(),
                source,
            })?;
        }
        for (index, (temporary, target)) in temporaries.iter().zip(&targets).enumerate() {
            if let Err(source) = fs::rename(temporary, target) {
                // Renames within one directory fail only in odd cases (a racing writer); take
                // back the files already renamed so that no partial set is left.
                for renamed in &targets[..index] {
                    let _ = fs::remove_file(renamed);
                }
                return Err(WriteError::Write {
                    path: target.clone(),
                    source,
                });
            }
        }
        Ok(())
    })();
    if let Err(err) = result {
        for temporary in &temporaries {
            let _ = fs::remove_file(temporary);
        }
        // Deepest first; `remove_dir` leaves a directory that is not empty alone.
        for dir in created.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
        return Err(err);
    }
    Ok(targets)
}

/// `path` made absolute against the working directory, with `.` and `..` taken out by name (no
/// symlink is followed: two spellings of one path compare equal, which is what [`write_all`] needs to
/// refuse writing one file twice).
fn lexical_absolute(path: &Path) -> PathBuf {
    let full = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in full.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The `.npy` file names of a run: one per output, and (for random inputs) one per parameter.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NpyNames {
    /// Per output, in order: `NAME.npy`.
    pub outputs: Vec<String>,
    /// Per parameter, in order (empty unless asked for): `PARAM.npy`.
    pub inputs: Vec<String>,
}

/// The file names `mogec eval` and `mogec run` write `kernel`'s outputs (and, with `with_inputs`,
/// its random inputs) under: each tensor's own name. The names are unique because the graph
/// verifier refuses a kernel whose outputs repeat a name or take a parameter's (the frontend picks
/// `_1`, `_2`, ... suffixes by the rule of `moge_lower::graph::names`), so the files are too.
pub fn npy_names(kernel: &moge_lower::graph::Kernel, with_inputs: bool) -> NpyNames {
    let outputs = kernel
        .outputs
        .iter()
        .map(|o| format!("{}.npy", o.name))
        .collect();
    let inputs = if with_inputs {
        kernel
            .params
            .iter()
            .map(|p| format!("{}.npy", p.name))
            .collect()
    } else {
        Vec::new()
    };
    NpyNames { outputs, inputs }
}

/// The identity of an existing file: device and inode, after following symlinks.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    fn of(path: &Path) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(path).ok()?;
        Some(FileId {
            device: meta.dev(),
            inode: meta.ino(),
        })
    }
}

/// Creates `dir` and its missing parents; returns the directories created, outermost first.
fn create_dir(dir: &Path) -> Result<Vec<PathBuf>, WriteError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(meta) = fs::metadata(dir) {
        if meta.is_dir() {
            return Ok(Vec::new());
        }
        return Err(WriteError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut missing: Vec<PathBuf> = dir
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .take_while(|a| fs::symlink_metadata(a).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    fs::create_dir_all(dir).map_err(|source| WriteError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(missing)
}

/// A temporary name next to `target`, unique in this process and across processes.
fn temporary_for(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// What [`write_all`] writes into one file: bytes, or something written as it goes.
pub trait FileContents {
    /// Writes the file's contents to `out`.
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()>;
}

impl FileContents for Vec<u8> {
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self)
    }
}

/// The contents of an output file: bytes, or a tensor written as `.npy` a chunk at a time (a tensor
/// of gigabytes is not held a second time as file bytes).
#[derive(Clone, Debug)]
pub enum Contents<'a> {
    /// These bytes.
    Bytes(Vec<u8>),
    /// The `.npy` file of this tensor ([`moge_runtime::npy::write_npy_to`]).
    Npy(&'a moge_lower::interp::Tensor),
}

impl FileContents for Contents<'_> {
    fn write_to(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Contents::Bytes(bytes) => out.write_all(bytes),
            Contents::Npy(tensor) => moge_runtime::npy::write_npy_to(out, tensor),
        }
    }
}

/// Writes `contents` to a new file at `path`, flushed to the file system so that a full disk is
/// reported here and not lost at close.
fn write_file(path: &Path, contents: &dyn FileContents) -> io::Result<()> {
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let mut out = io::BufWriter::with_capacity(1 << 20, file);
    contents.write_to(&mut out)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("moge-files-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn tensors_are_written_as_npy_a_chunk_at_a_time_and_read_back() {
        use moge_lower::interp::Tensor;
        use moge_lower::DType;
        let dir = scratch("streamed");
        // More elements than one chunk of the writer (2^18), so that several chunks are written:
        // i / 4 is exact in f32 and in bf16 up to 2^8 (here up to 75000 / 4: bf16-rounded).
        let n = 300_001;
        let values: Vec<f32> = (0..n).map(|i| i as f32 / 4.0).collect();
        let wide = Tensor::from_f32(DType::F32, vec![n], values.clone()).unwrap();
        let narrow = Tensor::from_f32(DType::BF16, vec![n], values).unwrap();
        let ints = Tensor::from_i32(vec![3], vec![-1, 0, 7]).unwrap();
        let files = vec![
            ("wide.npy".to_string(), Contents::Npy(&wide)),
            ("narrow.npy".to_string(), Contents::Npy(&narrow)),
            ("ints.npy".to_string(), Contents::Npy(&ints)),
            ("note".to_string(), Contents::Bytes(b"text".to_vec())),
        ];
        write_all(&dir, &files, &[]).unwrap();
        for (name, tensor) in [("wide.npy", &wide), ("ints.npy", &ints)] {
            let back = moge_runtime::npy::read_npy(&dir.join(name)).unwrap();
            assert_eq!(&back, tensor, "{name}");
        }
        // bf16 is written as <f4: it reads back as the same values.
        let back = moge_runtime::npy::read_npy_as(&dir.join("narrow.npy"), DType::BF16).unwrap();
        assert_eq!(back, narrow);
        assert_eq!(
            fs::read(dir.join("wide.npy")).unwrap(),
            moge_runtime::npy::write_npy_bytes(&wide)
        );
        assert_eq!(fs::read(dir.join("note")).unwrap(), b"text");
    }

    #[test]
    fn an_input_is_recognized_by_identity_not_by_name() {
        let dir = scratch("identity");
        let input = dir.join("x.npy");
        fs::write(&input, b"input").unwrap();
        fs::create_dir(dir.join("sub")).unwrap();
        std::os::unix::fs::symlink(&input, dir.join("sub").join("link.npy")).unwrap();
        fs::hard_link(&input, dir.join("sub").join("hard.npy")).unwrap();
        let inputs = vec![dir.join("sub").join("..").join("x.npy")];
        for (out_dir, name) in [
            (dir.clone(), "x.npy"),
            (dir.join("."), "x.npy"),
            (dir.join("sub"), "link.npy"),
            (dir.join("sub"), "hard.npy"),
        ] {
            let files = vec![
                ("fine.npy".to_string(), b"new".to_vec()),
                (name.to_string(), b"output".to_vec()),
            ];
            let err = write_all(&out_dir, &files, &inputs).unwrap_err();
            assert!(
                matches!(err, WriteError::WouldOverwriteInput { .. }),
                "{out_dir:?} {name}: {err}"
            );
            assert!(err.to_string().contains("(`-o` of run and eval"), "{err}");
            assert_eq!(fs::read(&input).unwrap(), b"input");
            assert!(!out_dir.join("fine.npy").exists(), "nothing written");
        }
        // A file named by its own path (the `--trace` file): that flag is the one to change.
        let trace = std::path::absolute(&input).unwrap();
        let files = vec![(trace.to_str().unwrap().to_string(), b"trace".to_vec())];
        let err = write_all(&dir.join("out"), &files, &inputs).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("choose another output path (`--trace`)"),
            "{err}"
        );
        assert_eq!(fs::read(&input).unwrap(), b"input");
        // A different file of the same name elsewhere is fine.
        let other = dir.join("other");
        let written =
            write_all(&other, &[("x.npy".to_string(), b"out".to_vec())], &inputs).unwrap();
        assert_eq!(written, vec![other.join("x.npy")]);
        assert_eq!(fs::read(other.join("x.npy")).unwrap(), b"out");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failure_leaves_no_file_and_no_new_directory() {
        let dir = scratch("failure");
        // A directory is in the way of the second file: nothing is written, not even the first.
        fs::create_dir_all(dir.join("out").join("b.npy").join("full")).unwrap();
        let files = vec![
            ("a.npy".to_string(), b"a".to_vec()),
            ("b.npy".to_string(), b"b".to_vec()),
        ];
        let err = write_all(&dir.join("out"), &files, &[]).unwrap_err();
        assert!(err.to_string().contains("b.npy"), "{err}");
        assert!(err.to_string().contains("directory"), "{err}");
        assert_eq!(listing(&dir.join("out")), vec!["b.npy"]);

        // Under a regular file: an error naming the path, and nothing created.
        fs::write(dir.join("plain"), b"x").unwrap();
        let err = write_all(&dir.join("plain").join("sub"), &files, &[]).unwrap_err();
        assert!(matches!(err, WriteError::CreateDir { .. }), "{err}");
        let err = write_all(&dir.join("plain"), &files, &[]).unwrap_err();
        assert!(matches!(err, WriteError::NotADirectory { .. }), "{err}");

        // New directories, the output's and a file's own (`ok/x`), are removed again when writing
        // fails: here the file `ok` cannot replace the directory `ok/` that `ok/x` needs.
        let nested = dir.join("new").join("deeper");
        let err = write_all(
            &nested,
            &[
                ("ok".to_string(), Vec::new()),
                ("ok/x".to_string(), Vec::new()),
            ],
            &[],
        );
        assert!(err.is_err());
        assert!(!dir.join("new").exists(), "created directories are removed");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_device_is_reported_with_the_path() {
        // /dev/full is a character device, not a directory.
        let err =
            write_all(Path::new("/dev/full"), &[("x".to_string(), vec![1])], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot use `/dev/full` as the output directory: it exists and is not a directory"
        );
    }
}
