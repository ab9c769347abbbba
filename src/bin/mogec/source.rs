//! Reading a kernel source file, checking it with the frontend, choosing a kernel and specializing it.

use std::fmt;
use std::path::Path;

use moge::inputs::InputError;
use moge::load::LoadError;
use moge_dsl::FileCheck;
use moge_lower::graph::write::write_kernel;
use moge_lower::Kernel;

use crate::args::DimBinding;
use crate::error::{quoted_list, Error};

pub use moge::load::{count, rendered, Source};

/// Reads a Rust source file ([`moge::load::read_source`]).
pub fn read(path: &Path) -> Result<Source, Error> {
    Ok(moge::load::read_source(path)?)
}

/// Checks every kernel of `source` ([`moge::load::check_source`]).
pub fn check(source: &Source) -> Result<FileCheck, Error> {
    Ok(moge::load::check_source(source)?)
}

/// Chooses the kernel called `name` (or the only kernel) and returns its graph IR
/// ([`moge::load::select`], the loader `moge::run::load_kernel` uses too).
pub fn select(source: &Source, file: FileCheck, name: Option<&str>) -> Result<Kernel, Error> {
    Ok(moge::load::select(source, file, name)?)
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
    kernel.specialize(&bindings).map_err(|source| {
        LoadError::Specialize {
            kernel: kernel.name.clone(),
            source: Box::new(source),
        }
        .into()
    })
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
        let Error::Load(LoadError::Diagnostics { rendered, summary }) = &err else {
            panic!("expected diagnostics, got {err}");
        };
        assert_eq!(summary, "could not check `k.rs`: 1 error");
        assert!(rendered.contains("`#[moge::kernel]` applies to a free function, not to a struct"));
        assert!(rendered.contains("k.rs:1:1"));
    }
}
