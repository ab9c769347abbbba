//! Reading a kernel source file, checking it with the frontend, choosing a kernel and specializing it.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use moge::inputs::InputError;
use moge_dsl::{FileCheck, KernelCheck};
use moge_lower::graph::write::write_kernel;
use moge_lower::Kernel;

use crate::args::DimBinding;
use crate::error::{quoted_list, Error};

/// Source files larger than this are refused (no kernel file comes close).
const MAX_SOURCE_BYTES: u64 = 64 << 20;

/// A source file's text, with its path as given on the command line.
pub struct Source {
    /// The path, for messages and diagnostics.
    pub path: String,
    /// The text.
    pub text: String,
}

/// Reads a Rust source file.
pub fn read(path: &Path) -> Result<Source, Error> {
    let display = path.display().to_string();
    let read_error = |source| Error::Read {
        path: display.clone(),
        source,
    };
    // Opening a FIFO blocks until a writer comes, possibly never: refused unless it is standard
    // input (`mogec check /dev/stdin < k.rs`). `metadata` does not open the file.
    let is_stdin = ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"]
        .iter()
        .any(|p| Path::new(p) == path);
    if !is_stdin {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::metadata(path)
            .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        {
            return Err(read_error(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "it is a FIFO or socket; give a regular file, or /dev/stdin for a pipe",
            )));
        }
    }
    let file = File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(Error::Read {
            path: display,
            source: std::io::Error::other(
                "the file is larger than 64 MiB, too large for a kernel source",
            ),
        });
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source {
            path: display,
            text,
        }),
        Err(err) => {
            let valid = &err.as_bytes()[..err.utf8_error().valid_up_to()];
            // The prefix is valid UTF-8 by construction.
            let prefix = std::str::from_utf8(valid).unwrap_or_default();
            let line = prefix.matches('\n').count() + 1;
            let col = prefix.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            Err(Error::NotUtf8 {
                path: display,
                line,
                col,
            })
        }
    }
}

/// Checks every kernel of `source`; a file that is not valid Rust is reported as a diagnostic.
pub fn check(source: &Source) -> Result<FileCheck, Error> {
    moge_dsl::check_source(&source.text).map_err(|diag| {
        let why = if diag.message.starts_with("nested too deeply") {
            "it nests too deeply to be checked safely"
        } else {
            "it is not valid Rust syntax"
        };
        Error::Diagnostics {
            rendered: rendered(source, &[diag]),
            summary: format!("could not check `{}`: {why}", source.path),
        }
    })
}

/// Chooses the kernel called `name` (or the only kernel, when `name` is `None`), and returns its
/// graph IR, or its diagnostics as an error.
///
/// `name` is chosen by [`moge::select::select_kernel`], the rule `moge::run::load_kernel` shares. A
/// file with errors outside its kernels (a misplaced kernel attribute) is refused whole, as cargo
/// would.
pub fn select(source: &Source, file: FileCheck, name: Option<&str>) -> Result<Kernel, Error> {
    if !file.errors.is_empty() {
        return Err(Error::Diagnostics {
            rendered: rendered(source, &file.errors),
            summary: format!(
                "could not check `{}`: {}",
                source.path,
                count(file.errors.len(), "error")
            ),
        });
    }
    let index = moge::select::select_kernel(&source.path, &file, name)?;
    let Some(KernelCheck { name, result, .. }) = file.kernels.into_iter().nth(index) else {
        return Err(Error::Select(moge::select::SelectError::NoKernels {
            path: source.path.clone(),
        }));
    };
    result.map_err(|diags| Error::Diagnostics {
        rendered: rendered(source, &diags),
        summary: format!(
            "could not compile kernel `{name}` due to {}",
            count(diags.len(), "error")
        ),
    })
}

/// The command specializing a kernel: what a dynamic dim given to `--set` should be given as
/// instead depends on it.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Command {
    /// `mogec build`: dynamic dims stay symbolic.
    Build,
    /// `mogec eval` and `mogec run`: dynamic dims come from the inputs or `--dim`.
    EvalOrRun,
}

/// Specializes `kernel` with the `--set` values, after checking that they name its static dims, each
/// once, and give every static dim a value.
pub fn specialize(kernel: &Kernel, set: &[DimBinding], command: Command) -> Result<Kernel, Error> {
    let statics = kernel.static_params();
    let dynamics = kernel.dynamic_dims();
    let statics_text = match statics.len() {
        0 => "it has no static dims".to_string(),
        _ => format!("its static dims are {}", quoted_list(&statics)),
    };
    for (i, binding) in set.iter().enumerate() {
        if set[..i].iter().any(|b| b.name == binding.name) {
            return Err(InputError::Duplicate {
                flag: "--set",
                name: binding.name.clone(),
            }
            .into());
        }
        if statics.contains(&binding.name.as_str()) {
            continue;
        }
        let known = if dynamics.iter().any(|d| *d == binding.name) {
            let name = &binding.name;
            match command {
                Command::Build => format!(
                    "`{name}` is a dynamic dim: it stays symbolic in the build and is bound from the input shapes at launch; {statics_text}"
                ),
                Command::EvalOrRun => format!(
                    "`{name}` is a dynamic dim: the --input shapes bind it, or give it as --dim {name}=VALUE with --random; {statics_text}"
                ),
            }
        } else {
            statics_text.clone()
        };
        return Err(InputError::UnknownName {
            flag: "--set",
            name: binding.name.clone(),
            kernel: kernel.name.clone(),
            what: "static dim",
            known,
        }
        .into());
    }
    let missing: Vec<&str> = statics
        .iter()
        .copied()
        .filter(|s| !set.iter().any(|b| b.name == *s))
        .collect();
    if !missing.is_empty() {
        return Err(InputError::Missing {
            kernel: kernel.name.clone(),
            flag: "--set",
            what: plural(missing.len(), "static dim", "static dims"),
            missing: quoted_list(&missing),
            hint: format!(
                "; give {} as --set NAME=VALUE, e.g. --set {}=...",
                plural(missing.len(), "it", "each"),
                missing[0]
            ),
        }
        .into());
    }
    let bindings: Vec<(&str, i64)> = set.iter().map(|b| (b.name.as_str(), b.value)).collect();
    kernel
        .specialize(&bindings)
        .map_err(|source| Error::Specialize {
            kernel: kernel.name.clone(),
            source: Box::new(source),
        })
}

/// The rendered diagnostics followed by a blank line (before the summary), as rustc prints them.
pub fn rendered(source: &Source, diags: &[moge_dsl::Diagnostic]) -> String {
    let mut text = moge_dsl::render_diagnostics(&source.path, &source.text, diags);
    text.push('\n');
    text
}

/// The kernel's signature as in the header of its graph IR text, without `kernel ` and ` {`:
/// `moge_gate<E, G>(logits: f32[T, E], router_scale: f32[E]) -> (weight: f32[T, G], expert: i32[T, G])`.
pub fn signature(kernel: &Kernel) -> String {
    /// Keeps the first line written to it and stops the writer there, so that a kernel of
    /// thousands of ops is not printed whole for its header.
    struct FirstLine(String);
    impl fmt::Write for FirstLine {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            match text.find('\n') {
                Some(end) => {
                    self.0.push_str(&text[..end]);
                    Err(fmt::Error)
                }
                None => {
                    self.0.push_str(text);
                    Ok(())
                }
            }
        }
    }
    let mut header = FirstLine(String::new());
    // The "error" is the sink stopping the writer after the header.
    let _ = write_kernel(&mut header, kernel);
    let header = header.0;
    let header = header.strip_prefix("kernel ").unwrap_or(&header);
    header.strip_suffix(" {").unwrap_or(header).to_string()
}

/// `n` followed by `what`, pluralized with an `s`: `1 error`, `3 errors`.
pub fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `one` if `n == 1`, else `many`.
pub fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Source {
        Source {
            path: "k.rs".to_string(),
            text: text.to_string(),
        }
    }

    const TWO_MODULES: &str = "mod a {
    #[kernel]
    fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { x }
}
mod b {
    #[kernel]
    fn k(y: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { y }
}
";

    #[test]
    fn a_shared_kernel_name_is_ambiguous_and_a_path_is_not() {
        let src = source(TWO_MODULES);
        let err = select(&src, check(&src).expect("checks"), Some("k")).expect_err("ambiguous");
        assert_eq!(
            err.to_string(),
            "kernel name `k` is ambiguous in `k.rs`: it names `a::k (line 3, column 8)` and \
             `b::k (line 7, column 8)`; choose one with --kernel MODULE::NAME (crate::NAME for the \
             top level)"
        );
        assert_eq!(err.exit_code(), 2);
        let kernel = select(&src, check(&src).expect("checks"), Some("b::k"))
            .expect("a path names one kernel");
        assert_eq!(kernel.params[0].name, "y");
        let err =
            select(&src, check(&src).expect("checks"), Some("c::k")).expect_err("no such path");
        assert!(err
            .to_string()
            .starts_with("no kernel `c::k` in `k.rs`; its kernels are `a::k` and `b::k`"));
    }

    #[test]
    fn a_misplaced_kernel_attribute_refuses_the_file() {
        let src = source(
            "#[kernel]\nstruct S;\n#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { x }\n",
        );
        let err = select(&src, check(&src).expect("checks"), Some("k"))
            .expect_err("the file has an error");
        let Error::Diagnostics { rendered, summary } = &err else {
            panic!("expected diagnostics, got {err}");
        };
        assert_eq!(summary, "could not check `k.rs`: 1 error");
        assert!(rendered.contains("`#[moge::kernel]` applies to a free function, not to a struct"));
        assert!(rendered.contains("k.rs:1:1"));
    }
}
