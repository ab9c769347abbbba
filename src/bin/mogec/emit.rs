//! What `mogec build --emit` can write, and how each kind is produced.
//!
//! Adding a kind: a variant of [`EmitKind`] (its doc comment is the `--help` text), its file name in
//! `EmitKind::needs_program`, and how to produce it in [`render`]. Kinds that need later stages of the
//! pipeline (kernel IR, Ascend C, the manifest) get them through [`Artifacts`], which grows with
//! them.

use std::path::{Path, PathBuf};

use clap::ValueEnum;
use moge_codegen_ascendc::Program;
use moge_lower::graph::write::kernel_to_string;
use moge_lower::Kernel;

use crate::error::Error;

/// A kind of output of `mogec build`.
#[derive(Copy, Clone, PartialEq, Eq, Debug, ValueEnum)]
pub enum EmitKind {
    /// The specialized graph IR in text form, `NAME.graph`.
    Graph,
    /// Ascend C: one `<device kernel>.cpp` per device kernel.
    Ascendc,
    /// The kernel manifest (device kernels, parameters, block dim, tiling), `NAME.json`.
    Manifest,
    /// The program in the kernel IR v2 text form (docs/kernel-ir-v2.md), `NAME.kir`.
    Kir,
    /// The fusion graph in Graphviz DOT, `NAME.dot`: device kernels as clusters of their ops, GM
    /// tensors as edges labeled with their bytes, the fusions made and the bytes each saves.
    Dot,
}

impl EmitKind {
    /// Whether producing the kind needs the Ascend C pipeline (lowering, scheduling, the writer).
    pub fn needs_program(self) -> bool {
        !matches!(self, EmitKind::Graph)
    }
}

/// What the emitters work from: the specialized kernel and, when a kind needs it, the compiled
/// program (kernel IR, Ascend C, manifest).
pub struct Artifacts<'a> {
    /// The specialized graph IR.
    pub kernel: &'a Kernel,
    /// The compiled program; `None` when no requested kind needs it.
    pub program: Option<&'a Program>,
}

/// Produces the files of one kind of output, as (file name, contents).
pub fn render(kind: EmitKind, artifacts: &Artifacts<'_>) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let name = &artifacts.kernel.name;
    if kind == EmitKind::Graph {
        return Ok(vec![(
            format!("{name}.graph"),
            kernel_to_string(artifacts.kernel).into_bytes(),
        )]);
    }
    // `build` compiles the program whenever a kind needs it, so its absence is a bug in mogec.
    let program = artifacts.program.ok_or_else(|| Error::Internal {
        message: format!("`--emit {kind:?}` was asked for but no program was compiled"),
    })?;
    Ok(match kind {
        EmitKind::Graph => Vec::new(),
        EmitKind::Ascendc => program
            .kernels
            .iter()
            .map(|k| (k.file.clone(), k.source.clone().into_bytes()))
            .collect(),
        EmitKind::Manifest => vec![(format!("{name}.json"), program.manifest_json().into_bytes())],
        EmitKind::Kir => vec![(format!("{name}.kir"), program.kir_text.clone().into_bytes())],
        EmitKind::Dot => vec![(format!("{name}.dot"), program.dot.clone().into_bytes())],
    })
}

/// Produces every kind in `kinds` (each once, in the order given) and only then writes them into
/// `out_dir` all at once, so a failing kind or a failing write leaves no partial output, and none
/// of `inputs` is ever replaced. Returns the paths written.
pub fn emit(
    kinds: &[EmitKind],
    artifacts: &Artifacts<'_>,
    out_dir: &Path,
    inputs: &[PathBuf],
) -> Result<Vec<PathBuf>, Error> {
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, &kind) in kinds.iter().enumerate() {
        if kinds[..i].contains(&kind) {
            continue;
        }
        files.extend(render(kind, artifacts)?);
    }
    Ok(moge::files::write_all(out_dir, &files, inputs)?)
}
