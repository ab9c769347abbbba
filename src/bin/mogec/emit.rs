//! What `mogec build --emit` can write, and how each kind is produced.
//!
//! Adding a kind: a variant of [`EmitKind`] (its doc comment is the `--help` text), its file name in
//! [`EmitKind::file_name`], and how to produce it in [`render`]. Kinds that need later stages of the
//! pipeline (kernel IR, Ascend C, the manifest) get them through [`Artifacts`], which grows with
//! them.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use moge_lower::graph::write::kernel_to_string;
use moge_lower::Kernel;

use crate::error::Error;
use crate::output;

/// A kind of output of `mogec build`.
#[derive(Copy, Clone, PartialEq, Eq, Debug, ValueEnum)]
pub enum EmitKind {
    /// The specialized graph IR in text form, `NAME.graph`.
    Graph,
}

impl EmitKind {
    /// The file the kind is written to, for kernel `kernel`.
    pub fn file_name(self, kernel: &str) -> String {
        match self {
            EmitKind::Graph => format!("{kernel}.graph"),
        }
    }
}

/// What the emitters work from: the specialized kernel (later also its kernel IR and schedule).
pub struct Artifacts<'a> {
    /// The specialized graph IR.
    pub kernel: &'a Kernel,
}

/// Produces the contents of one kind of output.
pub fn render(kind: EmitKind, artifacts: &Artifacts<'_>) -> Result<Vec<u8>, Error> {
    match kind {
        EmitKind::Graph => Ok(kernel_to_string(artifacts.kernel).into_bytes()),
    }
}

/// Produces every kind in `kinds` (each once, in the order given) and only then writes them into
/// `out_dir`, so a failing kind leaves no partial output. Returns the paths written.
pub fn emit(
    kinds: &[EmitKind],
    artifacts: &Artifacts<'_>,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, Error> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, &kind) in kinds.iter().enumerate() {
        if kinds[..i].contains(&kind) {
            continue;
        }
        files.push((
            kind.file_name(&artifacts.kernel.name),
            render(kind, artifacts)?,
        ));
    }
    output::write_files(out_dir, &files)
}
