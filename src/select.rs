//! Choosing one kernel of a checked file by the name a user gives: the one rule `mogec --kernel`
//! and [`crate::run::load_kernel`] share.
//!
//! - No name: the file's only kernel.
//! - A bare name (`k`): the kernel of that path, or the kernels of that name in any module; more
//!   than one is ambiguous.
//! - A path (`m::k`, or with a leading `crate::`, `::` or `self::`): exactly the kernel of that
//!   path, so `crate::k` picks a top-level `k` that shares its name with `m::k`.
//! - Kernels of one path defined twice are not a choice to make: the second carries the frontend's
//!   "defined twice" error, and that kernel is chosen so that its error is what the user sees.

use moge_dsl::FileCheck;

/// Why no kernel could be chosen.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum SelectError {
    /// The file has no kernel functions.
    #[error(
        "no kernels found in `{path}`: expected functions marked #[moge::kernel] or #[kernel]"
    )]
    NoKernels {
        /// The file.
        path: String,
    },
    /// The name given names no kernel of the file.
    #[error("no kernel `{name}` in `{path}`; its kernels are {}", quoted(known))]
    Unknown {
        /// The file.
        path: String,
        /// The name given.
        name: String,
        /// What selects each kernel of the file.
        known: Vec<String>,
    },
    /// No name was given but the file has several kernels.
    #[error("`{path}` has {} kernels ({}); choose one with --kernel NAME", known.len(), quoted(known))]
    Needed {
        /// The file.
        path: String,
        /// What selects each kernel of the file.
        known: Vec<String>,
    },
    /// A bare name that several kernels have.
    #[error("kernel name `{name}` is ambiguous in `{path}`: it names {}; choose one with --kernel MODULE::NAME (crate::NAME for the top level)", quoted(candidates))]
    Ambiguous {
        /// The file.
        path: String,
        /// The name given.
        name: String,
        /// The path selecting each kernel it names, with its line and column.
        candidates: Vec<String>,
    },
}

impl SelectError {
    /// The exit status `mogec` uses: 1 for a file without kernels, 2 for a name that does not fit.
    pub fn exit_code(&self) -> u8 {
        match self {
            SelectError::NoKernels { .. } => 1,
            SelectError::Unknown { .. }
            | SelectError::Needed { .. }
            | SelectError::Ambiguous { .. } => 2,
        }
    }
}

/// The index in `file.kernels` of the kernel `name` selects (see the [module](self) docs); `path`
/// names the file in errors.
pub fn select_kernel(
    path: &str,
    file: &FileCheck,
    name: Option<&str>,
) -> Result<usize, SelectError> {
    let kernels = &file.kernels;
    if kernels.is_empty() {
        return Err(SelectError::NoKernels {
            path: path.to_string(),
        });
    }
    let known = || -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in 0..kernels.len() {
            let choice = choice_name(file, i);
            if !out.contains(&choice) {
                out.push(choice);
            }
        }
        out
    };
    let Some(name) = name else {
        return match distinct_paths(file, &(0..kernels.len()).collect::<Vec<_>>()) {
            Some(index) => Ok(index),
            None => Err(SelectError::Needed {
                path: path.to_string(),
                known: known(),
            }),
        };
    };
    let stripped = ["crate::", "::", "self::"]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix));
    let matches: Vec<usize> = match stripped {
        Some(rest) => (0..kernels.len())
            .filter(|&i| kernels[i].path == rest)
            .collect(),
        None if name.contains("::") => (0..kernels.len())
            .filter(|&i| kernels[i].path == name)
            .collect(),
        None => (0..kernels.len())
            .filter(|&i| kernels[i].path == name || kernels[i].name == name)
            .collect(),
    };
    if matches.is_empty() {
        return Err(SelectError::Unknown {
            path: path.to_string(),
            name: name.to_string(),
            known: known(),
        });
    }
    distinct_paths(file, &matches).ok_or_else(|| SelectError::Ambiguous {
        path: path.to_string(),
        name: name.to_string(),
        candidates: matches
            .iter()
            .map(|&i| {
                let start = kernels[i].span.start.start();
                format!(
                    "{} (line {}, column {})",
                    choice_name(file, i),
                    start.line,
                    start.column + 1
                )
            })
            .collect(),
    })
}

/// The one kernel among `indices` when they all share a path: the first that failed to check (a
/// second definition carries the "defined twice" error), else the first. `None` when their paths
/// differ.
fn distinct_paths(file: &FileCheck, indices: &[usize]) -> Option<usize> {
    let first = *indices.first()?;
    let path = &file.kernels[first].path;
    if indices.iter().any(|&i| file.kernels[i].path != *path) {
        return None;
    }
    Some(
        indices
            .iter()
            .copied()
            .find(|&i| file.kernels[i].result.is_err())
            .unwrap_or(first),
    )
}

/// What selects kernel `index` unambiguously: its name when no kernel of another path shares it,
/// else its path (`crate::k` for a top-level kernel).
fn choice_name(file: &FileCheck, index: usize) -> String {
    let kernel = &file.kernels[index];
    let shared = file
        .kernels
        .iter()
        .any(|k| k.name == kernel.name && k.path != kernel.path);
    match (shared, kernel.path.contains("::")) {
        (false, _) => kernel.name.clone(),
        (true, true) => kernel.path.clone(),
        (true, false) => format!("crate::{}", kernel.path),
    }
}

/// `` `a` ``, `` `a` and `b` ``, `` `a`, `b` and `c` ``.
fn quoted(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(text: &str, name: Option<&str>) -> Result<String, String> {
        let file = moge_dsl::check_source(text).expect("valid syntax");
        select_kernel("k.rs", &file, name)
            .map(|i| {
                let kernel = &file.kernels[i];
                let line = kernel.span.start.start().line;
                format!("{} at line {line}", kernel.path)
            })
            .map_err(|e| e.to_string())
    }

    const TOP_AND_MODULE: &str = "#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { x }
mod m {
    #[kernel]
    fn k(y: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { y }
}
";

    #[test]
    fn a_top_level_kernel_is_reached_through_crate() {
        for name in ["crate::k", "::k", "self::k"] {
            assert_eq!(
                select(TOP_AND_MODULE, Some(name)),
                Ok("k at line 2".to_string())
            );
        }
        assert_eq!(
            select(TOP_AND_MODULE, Some("m::k")),
            Ok("m::k at line 5".to_string())
        );
        assert_eq!(
            select(TOP_AND_MODULE, Some("crate::m::k")),
            Ok("m::k at line 5".to_string())
        );
        assert_eq!(
            select(TOP_AND_MODULE, Some("k")),
            Err("kernel name `k` is ambiguous in `k.rs`: it names `crate::k (line 2, column 4)` and \
                 `m::k (line 5, column 8)`; choose one with --kernel MODULE::NAME (crate::NAME for the top level)"
                .to_string())
        );
        assert_eq!(
            select(TOP_AND_MODULE, None),
            Err(
                "`k.rs` has 2 kernels (`crate::k` and `m::k`); choose one with --kernel NAME"
                    .to_string()
            )
        );
        assert_eq!(
            select(TOP_AND_MODULE, Some("crate::n")),
            Err(
                "no kernel `crate::n` in `k.rs`; its kernels are `crate::k` and `m::k`".to_string()
            )
        );
    }

    #[test]
    fn a_kernel_defined_twice_is_chosen_by_its_error() {
        let text = "#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { x }
#[kernel]
fn k(y: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> { y }
";
        let file = moge_dsl::check_source(text).expect("valid syntax");
        for name in [Some("k"), Some("crate::k"), None] {
            let index = select_kernel("k.rs", &file, name).expect("one path");
            let Err(diags) = &file.kernels[index].result else {
                panic!("the kernel with the error is chosen for {name:?}");
            };
            assert!(
                diags[0].message.contains("defined twice"),
                "{}",
                diags[0].message
            );
        }
    }
}
