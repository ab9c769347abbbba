//! The kernel manifest: the contract between the compiler and whatever launches its kernels (moge's
//! runtime, or a CANN project). One JSON document per program, next to the `.cpp` files.
//!
//! Every size is an expression of the program's dynamic dims in the text form of
//! [`moge_lower::kir::Expr`]; the launcher binds the dims from the input shapes, evaluates the block dim
//! and the tiling fields, and passes the fields as consecutive little-endian `int64_t`s in the order
//! listed. Kernel arguments are GM pointers in the order of `args`, followed by the workspace and the
//! tiling pointer.

use serde::{Deserialize, Serialize};

/// The manifest format this crate writes.
pub const FORMAT: &str = "moge-manifest/1";

/// A program: one or more device kernels launched in order.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The program's name (the graph kernel's name).
    pub program: String,
    /// The target SoC (`ascend910b2`).
    pub target: String,
    /// Static dims bound at specialization, by name.
    pub bindings: std::collections::BTreeMap<String, i64>,
    /// Dims bound at launch from the input shapes, in declaration order.
    pub dynamic_dims: Vec<String>,
    /// The program's tensors: inputs in parameter order, then outputs.
    pub params: Vec<Param>,
    /// GM intermediates passed between device kernels.
    pub buffers: Vec<Param>,
    /// The device kernels, in launch order.
    pub kernels: Vec<KernelEntry>,
    /// Total workspace bytes (an expression).
    pub workspace_bytes: String,
    /// How the kernels synchronize their pipes: `"explicit"` when every flag and barrier the hardware
    /// needs is in the code (derived by the sync pass and checked by the hazard verifier), so the kernels
    /// are correct with the toolchain's automatic synchronization off (`--cce-auto-sync=off`).
    #[serde(default)]
    pub sync: String,
}

/// A tensor of the program.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// `input`, `output` or `buffer`.
    pub role: String,
    /// `bf16`, `f16`, `f32` or `i32`.
    pub dtype: String,
    /// Shape, outermost first, as expressions.
    pub shape: Vec<String>,
}

/// One device kernel.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct KernelEntry {
    /// The `extern "C"` symbol.
    pub name: String,
    /// The source file, relative to the manifest.
    pub source: String,
    /// `aiv`, `aic` or `mix`.
    pub core_type: String,
    /// The `KERNEL_TASK_TYPE_DEFAULT` value.
    pub kernel_type: String,
    /// The GM arguments (program tensors by name), in parameter order.
    pub args: Vec<String>,
    /// Number of cores to launch (an expression).
    pub block_dim: String,
    /// The tiling struct's fields, in order.
    pub tiling: Vec<TilingField>,
    /// Workspace bytes (an expression).
    pub workspace_bytes: String,
    /// UB bytes the kernel allocates per core.
    pub ub_bytes: u64,
    /// Rows per tile.
    pub tile_rows: u32,
}

/// One field of a tiling struct.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TilingField {
    /// The field's name.
    pub name: String,
    /// Its value (an expression).
    pub expr: String,
}

impl Manifest {
    /// The manifest as pretty JSON (keys in a fixed order, ending with a newline).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a manifest from JSON.
    pub fn from_json(text: &str) -> Result<Manifest, serde_json::Error> {
        serde_json::from_str(text)
    }
}
