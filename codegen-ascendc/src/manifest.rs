//! The kernel manifest: the contract between the compiler and whatever launches its kernels (moge's
//! runtime, a CANN project, or a user running hand-written kernels with `mogec run DIR`). One JSON
//! document per program, next to the `.cpp` files.
//!
//! The manifest is typed: core types, roles, dtypes and sync modes are enums, and every size (shapes,
//! block dims, tiling fields, workspace) is a [`SizeExpr`] parsed once when the manifest is read and
//! written back in its text form (`min(48, max(T, 1))`). The launcher binds the dynamic dims from the
//! input shapes, evaluates the block dim and the tiling fields, and passes the fields as consecutive
//! little-endian `int64_t`s in the order listed. Kernel arguments are GM pointers in the order of
//! `args`, followed by the workspace and the tiling pointer.
//!
//! [`Manifest::from_json`] refuses a manifest of another format version, and names the field of a
//! malformed one (`kernels[0].core_type`) with what was expected there.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use moge_lower::kir::Expr;
use moge_lower::Symbol;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The manifest format this crate writes and reads.
pub const FORMAT: &str = "moge-manifest/2";

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
    pub bindings: BTreeMap<Symbol, i64>,
    /// Dims bound at launch from the input shapes, in declaration order.
    pub dynamic_dims: Vec<Symbol>,
    /// The program's tensors: inputs in parameter order, then outputs.
    pub params: Vec<Param>,
    /// GM buffers written by one device kernel and read by a later one; the runtime allocates them
    /// filled with `0xFF` bytes (NaN, so a read before the write shows) and never returns them.
    pub intermediates: Vec<Param>,
    /// The device kernels, in launch order.
    pub kernels: Vec<KernelEntry>,
    /// Bytes of the program's workspace: the GM scratch area every kernel receives after its
    /// arguments (zero-filled before each kernel). At least every kernel's own `workspace_bytes`.
    pub workspace_bytes: SizeExpr,
}

/// A GM tensor of the program.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Param {
    /// Its name (unique among params and intermediates).
    pub name: String,
    /// What it is to the program.
    pub role: Role,
    /// Its element type.
    pub dtype: TensorDType,
    /// Shape, outermost first, as expressions of the dims.
    pub shape: Vec<SizeExpr>,
}

/// What a GM tensor is to the program.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read by the program; given by the caller.
    Input,
    /// Written by the program and returned to the caller.
    Output,
    /// Written by one device kernel and read by a later one (allocated by the runtime).
    Intermediate,
    /// The program's workspace (allocated by the runtime; passed to every kernel after its arguments).
    /// Never listed in `params` or `intermediates`: its size is the manifest's `workspace_bytes`.
    Workspace,
}

/// The element type of a GM tensor.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TensorDType {
    /// bfloat16.
    Bf16,
    /// IEEE half.
    F16,
    /// IEEE single.
    F32,
    /// 32-bit signed integer.
    I32,
}

/// The core type of a device kernel (`KERNEL_TASK_TYPE_DEFAULT` in its body).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum CoreType {
    /// Vector cores only (`KERNEL_TYPE_AIV_ONLY`).
    #[serde(rename = "AIV")]
    Aiv,
    /// Cube cores only (`KERNEL_TYPE_AIC_ONLY`).
    #[serde(rename = "AIC")]
    Aic,
    /// One cube core with two vector cores per block (`KERNEL_TYPE_MIX_AIC_1_2`).
    #[serde(rename = "MIX_AIC_1_2")]
    MixAic1_2,
}

/// How a kernel's pipes are synchronized.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// The kernel relies on the toolchain's automatic synchronization for some dependencies (it is
    /// correct on hardware only when that is on).
    #[default]
    Auto,
    /// Every dependency is ordered by a flag, queue or barrier in the source: correct with the
    /// toolchain's automatic synchronization off.
    Explicit,
}

/// One device kernel.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct KernelEntry {
    /// The `extern "C"` symbol.
    pub name: String,
    /// The source file, relative to the manifest.
    pub source: String,
    /// Its core type.
    pub core_type: CoreType,
    /// How its pipes are synchronized.
    pub sync: SyncMode,
    /// The GM arguments (params and intermediates by name), in parameter order.
    pub args: Vec<String>,
    /// Number of blocks to launch (an expression; for MIX, AIC cores, each with two AIVs).
    pub block_dim: SizeExpr,
    /// The tiling struct's fields, in order.
    pub tiling: Vec<TilingField>,
    /// Workspace bytes this kernel uses (an expression; at most the program's).
    pub workspace_bytes: SizeExpr,
    /// UB bytes the kernel allocates per vector core (0 when not stated).
    pub ub_bytes: u64,
    /// Rows per tile of a row-split vector kernel (0 when not stated).
    pub tile_rows: u32,
}

/// One field of a tiling struct.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TilingField {
    /// The field's name.
    pub name: String,
    /// Its value (an expression).
    pub expr: SizeExpr,
}

/// An integer expression of the program's dims, parsed once when the manifest is read and written as
/// its text form (`ceil_div(T, 48)`). A JSON integer is accepted where an expression is expected.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SizeExpr(pub Expr);

impl SizeExpr {
    /// A literal.
    pub fn int(value: i64) -> SizeExpr {
        SizeExpr(Expr::Int(value))
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<SizeExpr, moge_lower::kir::ExprParseError> {
        Expr::parse(text).map(SizeExpr)
    }

    /// The expression.
    pub fn expr(&self) -> &Expr {
        &self.0
    }
}

impl From<Expr> for SizeExpr {
    fn from(expr: Expr) -> SizeExpr {
        SizeExpr(expr)
    }
}

impl fmt::Display for SizeExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for SizeExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for SizeExpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SizeExpr, D::Error> {
        match Value::deserialize(d)? {
            Value::String(text) => SizeExpr::parse(&text).map_err(|err| {
                D::Error::custom(format!(
                    "expected an integer expression of the dims, found `{text}` ({err})"
                ))
            }),
            Value::Number(n) => n.as_i64().map(SizeExpr::int).ok_or_else(|| {
                D::Error::custom(format!("expected a 64-bit integer, found {n}"))
            }),
            other => Err(D::Error::custom(format!(
                "expected an integer expression (a string such as \"ceil_div(T, 48)\") or an integer, found {}",
                kind(&other)
            ))),
        }
    }
}

impl TensorDType {
    /// The graph IR's dtype.
    pub fn dtype(self) -> moge_lower::DType {
        match self {
            TensorDType::Bf16 => moge_lower::DType::BF16,
            TensorDType::F16 => moge_lower::DType::F16,
            TensorDType::F32 => moge_lower::DType::F32,
            TensorDType::I32 => moge_lower::DType::I32,
        }
    }

    /// The manifest dtype of a graph IR dtype; `None` for bool, which kernels never take.
    pub fn from_dtype(dtype: moge_lower::DType) -> Option<TensorDType> {
        match dtype {
            moge_lower::DType::BF16 => Some(TensorDType::Bf16),
            moge_lower::DType::F16 => Some(TensorDType::F16),
            moge_lower::DType::F32 => Some(TensorDType::F32),
            moge_lower::DType::I32 => Some(TensorDType::I32),
            moge_lower::DType::Bool => None,
        }
    }
}

impl fmt::Display for TensorDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.dtype().fmt(f)
    }
}

impl CoreType {
    /// The name the manifest uses (`AIV`, `AIC`, `MIX_AIC_1_2`).
    pub fn name(self) -> &'static str {
        match self {
            CoreType::Aiv => "AIV",
            CoreType::Aic => "AIC",
            CoreType::MixAic1_2 => "MIX_AIC_1_2",
        }
    }

    /// The `KERNEL_TASK_TYPE_DEFAULT` value a kernel of this type sets.
    pub fn kernel_type(self) -> &'static str {
        match self {
            CoreType::Aiv => "KERNEL_TYPE_AIV_ONLY",
            CoreType::Aic => "KERNEL_TYPE_AIC_ONLY",
            CoreType::MixAic1_2 => "KERNEL_TYPE_MIX_AIC_1_2",
        }
    }
}

impl fmt::Display for CoreType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Input => "input",
            Role::Output => "output",
            Role::Intermediate => "intermediate",
            Role::Workspace => "workspace",
        })
    }
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyncMode::Auto => "auto",
            SyncMode::Explicit => "explicit",
        })
    }
}

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The text is not JSON.
    #[error("{path}: not a JSON document: {message}")]
    Json {
        /// The manifest's path (or `<manifest>`).
        path: String,
        /// serde_json's message, with line and column.
        message: String,
    },
    /// The manifest is of another format version (or has none).
    #[error("{path}: unknown manifest format {found}; this moge reads \"{FORMAT}\" (rebuild the directory with `mogec build`)")]
    Version {
        /// The manifest's path.
        path: String,
        /// What the `format` field holds, as JSON (`"moge-manifest/1"`), or `none`.
        found: String,
    },
    /// A field is missing, unknown or of the wrong kind.
    #[error("{path}: field `{field}`: {message}")]
    Field {
        /// The manifest's path.
        path: String,
        /// The field, as a path from the document's root (`kernels[0].core_type`).
        field: String,
        /// What was expected and what was found.
        message: String,
    },
}

impl Manifest {
    /// The manifest as pretty JSON (keys in a fixed order, ending with a newline).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Parses a manifest from JSON; `path` names it in errors.
    ///
    /// Fields with a natural default may be left out (handy for hand-written manifests): `bindings`,
    /// `dynamic_dims`, `intermediates`, `workspace_bytes` (0), and per kernel `sync` (`auto`),
    /// `workspace_bytes` (0), `ub_bytes` and `tile_rows` (0). A kernel's `tiling` is required (`[]` when
    /// the kernel has no tiling struct): left out, the kernel would read a tiling nobody wrote. Unknown
    /// fields are errors, and so is a shape with a negative literal size.
    pub fn from_json_at(text: &str, path: &str) -> Result<Manifest, ManifestError> {
        let value: Value = serde_json::from_str(text).map_err(|err| ManifestError::Json {
            path: path.to_string(),
            message: err.to_string(),
        })?;
        let root = Obj::root(&value, path)?;
        match root.map.get("format") {
            Some(Value::String(f)) if f == FORMAT => {}
            Some(other) => {
                return Err(ManifestError::Version {
                    path: path.to_string(),
                    found: other.to_string(),
                })
            }
            None => {
                return Err(ManifestError::Version {
                    path: path.to_string(),
                    found: "none (no `format` field)".to_string(),
                })
            }
        }
        root.only(&[
            "format",
            "program",
            "target",
            "bindings",
            "dynamic_dims",
            "params",
            "intermediates",
            "kernels",
            "workspace_bytes",
        ])?;
        let target: String = root.req("target")?;
        if let Err(err) = moge_lower::target::Target::from_name(&target) {
            return Err(root.error("target".to_string(), err.to_string()));
        }
        let manifest = Manifest {
            format: root.req("format")?,
            program: root.req("program")?,
            target,
            bindings: root.opt("bindings")?.unwrap_or_default(),
            dynamic_dims: root.opt("dynamic_dims")?.unwrap_or_default(),
            params: root.list("params", true, read_param)?,
            intermediates: root.list("intermediates", false, read_param)?,
            kernels: root.list("kernels", true, read_kernel)?,
            workspace_bytes: root.opt("workspace_bytes")?.unwrap_or(SizeExpr::int(0)),
        };
        // Every dim an expression uses is bound or dynamic (the launch solves exactly those): otherwise
        // it would stop at the first evaluation with a message that does not say which field is wrong.
        let known =
            |s: &Symbol| manifest.bindings.contains_key(s) || manifest.dynamic_dims.contains(s);
        let mut exprs: Vec<(String, &SizeExpr)> = Vec::new();
        for (list, params) in [
            ("params", &manifest.params),
            ("intermediates", &manifest.intermediates),
        ] {
            for (i, p) in params.iter().enumerate() {
                for (j, size) in p.shape.iter().enumerate() {
                    exprs.push((format!("{list}[{i}].shape[{j}]"), size));
                }
            }
        }
        for (i, k) in manifest.kernels.iter().enumerate() {
            exprs.push((format!("kernels[{i}].block_dim"), &k.block_dim));
            exprs.push((format!("kernels[{i}].workspace_bytes"), &k.workspace_bytes));
            for (j, f) in k.tiling.iter().enumerate() {
                exprs.push((format!("kernels[{i}].tiling[{j}].expr"), &f.expr));
            }
        }
        exprs.push(("workspace_bytes".to_string(), &manifest.workspace_bytes));
        for (field, size) in exprs {
            if let Some(s) = size.expr().syms().into_iter().find(|s| !known(s)) {
                return Err(root.error(
                    field,
                    format!(
                        "uses the dim `{s}`, which is neither in `bindings` nor in `dynamic_dims`"
                    ),
                ));
            }
        }
        Ok(manifest)
    }

    /// [`Manifest::from_json_at`] with the path `<manifest>`.
    pub fn from_json(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::from_json_at(text, "<manifest>")
    }
}

fn read_param(obj: Obj<'_>) -> Result<Param, ManifestError> {
    obj.only(&["name", "role", "dtype", "shape"])?;
    let name: String = obj.req("name")?;
    let shape: Vec<SizeExpr> = obj.req("shape")?;
    // A size that is a negative number whatever the dims is a broken manifest, not an input to compare.
    for (axis, size) in shape.iter().enumerate() {
        if !size.expr().syms().is_empty() {
            continue;
        }
        if let Ok(value) = size.expr().eval(&|_| None) {
            if value < 0 {
                return Err(obj.error(
                    format!("{}[{axis}]", obj.field("shape")),
                    format!("axis {axis} of `{name}` has the negative size {value}"),
                ));
            }
        }
    }
    Ok(Param {
        name,
        role: obj.req("role")?,
        dtype: obj.req("dtype")?,
        shape,
    })
}

fn read_kernel(obj: Obj<'_>) -> Result<KernelEntry, ManifestError> {
    obj.only(&[
        "name",
        "source",
        "core_type",
        "sync",
        "args",
        "block_dim",
        "tiling",
        "workspace_bytes",
        "ub_bytes",
        "tile_rows",
    ])?;
    Ok(KernelEntry {
        name: obj.req("name")?,
        source: obj.req("source")?,
        core_type: obj.req("core_type")?,
        sync: obj.opt("sync")?.unwrap_or_default(),
        args: obj.req("args")?,
        block_dim: obj.req("block_dim")?,
        tiling: obj.list("tiling", true, |f| {
            f.only(&["name", "expr"])?;
            Ok(TilingField {
                name: f.req("name")?,
                expr: f.req("expr")?,
            })
        })?,
        workspace_bytes: obj.opt("workspace_bytes")?.unwrap_or(SizeExpr::int(0)),
        ub_bytes: obj.opt("ub_bytes")?.unwrap_or(0),
        tile_rows: obj.opt("tile_rows")?.unwrap_or(0),
    })
}

/// A JSON object being read, with its path from the root for errors.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    file: &'a str,
    path: String,
}

impl<'a> Obj<'a> {
    fn root(value: &'a Value, file: &'a str) -> Result<Obj<'a>, ManifestError> {
        match value {
            Value::Object(map) => Ok(Obj {
                map,
                file,
                path: String::new(),
            }),
            other => Err(ManifestError::Field {
                path: file.to_string(),
                field: "(root)".to_string(),
                message: format!("expected an object, found {}", kind(other)),
            }),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn error(&self, field: String, message: String) -> ManifestError {
        ManifestError::Field {
            path: self.file.to_string(),
            field,
            message,
        }
    }

    /// Errors on the first key not in `known`.
    fn only(&self, known: &[&str]) -> Result<(), ManifestError> {
        match self.map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(key) => Err(self.error(
                self.field(key),
                format!("unknown field; expected one of {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn opt<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ManifestError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(value) => T::deserialize(value)
                .map(Some)
                .map_err(|err| self.error(self.field(key), err.to_string())),
        }
    }

    fn req<T: DeserializeOwned>(&self, key: &str) -> Result<T, ManifestError> {
        self.opt(key)?
            .ok_or_else(|| self.error(self.field(key), "missing".to_string()))
    }

    /// A list of objects, each read by `each`; an absent optional list is empty.
    fn list<T>(
        &self,
        key: &str,
        required: bool,
        each: impl Fn(Obj<'_>) -> Result<T, ManifestError>,
    ) -> Result<Vec<T>, ManifestError> {
        let items = match self.map.get(key) {
            None if !required => return Ok(Vec::new()),
            None => return Err(self.error(self.field(key), "missing".to_string())),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.error(
                    self.field(key),
                    format!("expected an array, found {}", kind(other)),
                ))
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{i}]", self.field(key));
                match item {
                    Value::Object(map) => each(Obj {
                        map,
                        file: self.file,
                        path,
                    }),
                    other => {
                        Err(self.error(path, format!("expected an object, found {}", kind(other))))
                    }
                }
            })
            .collect()
    }
}

/// What kind of JSON value this is, for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads a manifest file.
pub fn read(path: &Path) -> Result<Manifest, ReadError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Manifest::from_json_at(&text, &path.display().to_string())?)
}

/// Why a manifest file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid manifest.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> &'static str {
        r#"{
  "format": "moge-manifest/2",
  "program": "p",
  "target": "ascend910b2",
  "dynamic_dims": ["T"],
  "params": [
    {"name": "x", "role": "input", "dtype": "f32", "shape": ["T", 4]},
    {"name": "y", "role": "output", "dtype": "bf16", "shape": ["T", "4"]}
  ],
  "kernels": [
    {"name": "k", "source": "k.cpp", "core_type": "AIV", "args": ["x", "y"], "block_dim": "min(48, T)", "tiling": []}
  ]
}"#
    }

    #[test]
    fn a_dim_neither_bound_nor_dynamic_names_the_field() {
        let text = minimal().replace("\"dynamic_dims\": [\"T\"],", "\"dynamic_dims\": [],");
        assert_eq!(
            Manifest::from_json(&text).unwrap_err().to_string(),
            "<manifest>: field `params[0].shape[0]`: uses the dim `T`, which is neither in `bindings` \
             nor in `dynamic_dims`"
        );
        // Left out, the list is empty: the same error.
        let left_out = minimal().replace("\"dynamic_dims\": [\"T\"],", "");
        assert_eq!(
            Manifest::from_json(&left_out).unwrap_err().to_string(),
            Manifest::from_json(&text).unwrap_err().to_string()
        );
        assert!(Manifest::from_json(minimal()).is_ok());
    }

    #[test]
    fn a_kernel_without_a_tiling_list_is_refused() {
        let text = minimal().replace(", \"tiling\": []", "");
        assert_eq!(
            Manifest::from_json(&text).unwrap_err().to_string(),
            "<manifest>: field `kernels[0].tiling`: missing"
        );
    }

    #[test]
    fn a_negative_literal_size_names_the_param_and_axis() {
        for (size, value) in [("\"-64\"", -64), ("-3", -3), ("\"2 - 5\"", -3)] {
            let text = minimal().replace("[\"T\", \"4\"]", &format!("[\"T\", {size}]"));
            assert_eq!(
                Manifest::from_json(&text).unwrap_err().to_string(),
                format!(
                    "<manifest>: field `params[1].shape[1]`: axis 1 of `y` has the negative size {value}"
                ),
                "{size}"
            );
        }
        // A size of the dims may still be checked only once they are known.
        let text = minimal().replace("[\"T\", \"4\"]", "[\"T - 100\", \"4\"]");
        assert!(Manifest::from_json(&text).is_ok());
    }

    #[test]
    fn a_minimal_manifest_parses_once_and_round_trips() {
        let m = Manifest::from_json(minimal()).unwrap();
        assert_eq!(m.params[0].dtype, TensorDType::F32);
        assert_eq!(m.params[1].dtype.dtype(), moge_lower::DType::BF16);
        assert_eq!(m.params[0].shape[1], SizeExpr::int(4));
        assert_eq!(m.kernels[0].core_type, CoreType::Aiv);
        assert_eq!(m.kernels[0].sync, SyncMode::Auto);
        assert_eq!(
            m.kernels[0].block_dim.expr(),
            &Expr::min(Expr::Int(48), Expr::dim("T"))
        );
        assert_eq!(m.workspace_bytes, SizeExpr::int(0));
        let json = m.to_json();
        assert!(json.contains("\"core_type\": \"AIV\""), "{json}");
        assert!(json.contains("\"block_dim\": \"min(48, T)\""), "{json}");
        assert_eq!(Manifest::from_json(&json).unwrap(), m);
    }

    #[test]
    fn dims_are_symbols_and_print_back_byte_identical() {
        let text = minimal().replace(
            "\"dynamic_dims\": [\"T\"],",
            "\"bindings\": {\"N\": 4, \"E\": 2}, \"dynamic_dims\": [\"T\", \"S\"],",
        );
        let m = Manifest::from_json(&text).unwrap();
        let (t, s) = (Symbol::intern("T"), Symbol::intern("S"));
        assert_eq!(m.dynamic_dims, vec![t, s]);
        // The shape's `T` is the same symbol as the declared dim: one name, one id.
        assert_eq!(m.params[0].shape[0].expr(), &Expr::Sym(t));
        // Bindings keep name order (as the map of strings did), whatever the interning order.
        let names: Vec<&str> = m.bindings.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["E", "N"]);
        let json = m.to_json();
        assert!(
            json.contains("\"bindings\": {\n    \"E\": 2,\n    \"N\": 4\n  }"),
            "{json}"
        );
        assert!(
            json.contains("\"dynamic_dims\": [\n    \"T\",\n    \"S\"\n  ]"),
            "{json}"
        );
        let again = Manifest::from_json(&json).unwrap();
        assert_eq!(again, m);
        assert_eq!(again.to_json(), json);
        // A dim that is not a name is refused with serde's message for a string.
        let bad = text.replace("[\"T\", \"S\"]", "[\"T\", 3]");
        let want = serde_json::from_str::<Vec<String>>("[\"T\", 3]")
            .unwrap_err()
            .to_string();
        let want = want.split(" at line").next().unwrap().to_string();
        let err = Manifest::from_json(&bad).unwrap_err().to_string();
        assert!(err.starts_with("<manifest>: field `dynamic_dims"), "{err}");
        assert!(err.contains(&want), "{err} / {want}");
    }

    #[test]
    fn an_unknown_version_is_refused_by_name() {
        let old = minimal().replace("moge-manifest/2", "moge-manifest/1");
        let err = Manifest::from_json_at(&old, "out/p.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "out/p.json: unknown manifest format \"moge-manifest/1\"; this moge reads \"moge-manifest/2\" (rebuild the directory with `mogec build`)"
        );
        let err = Manifest::from_json("{}").unwrap_err();
        assert!(
            err.to_string().contains("none (no `format` field)"),
            "{err}"
        );
        let err = Manifest::from_json("[1,").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("<manifest>: not a JSON document: "),
            "{err}"
        );
    }

    #[test]
    fn malformed_fields_are_named_with_what_was_expected() {
        let cases = [
            (
                minimal().replace("\"AIV\"", "\"aiv\""),
                "<manifest>: field `kernels[0].core_type`: unknown variant `aiv`, expected one of `AIV`, `AIC`, `MIX_AIC_1_2`",
            ),
            (
                minimal().replace("\"bf16\"", "\"bool\""),
                "<manifest>: field `params[1].dtype`: unknown variant `bool`, expected one of `bf16`, `f16`, `f32`, `i32`",
            ),
            (
                minimal().replace("\"output\"", "\"buffer\""),
                "<manifest>: field `params[1].role`: unknown variant `buffer`, expected one of `input`, `output`, `intermediate`, `workspace`",
            ),
            (
                minimal().replace("min(48, T)", "min(48, T"),
                "<manifest>: field `kernels[0].block_dim`: expected an integer expression of the dims, found `min(48, T` (column 10: expected `)`, found the end)",
            ),
            (
                minimal().replace("\"source\": \"k.cpp\", ", ""),
                "<manifest>: field `kernels[0].source`: missing",
            ),
            (
                minimal().replace("\"args\"", "\"argz\""),
                "<manifest>: field `kernels[0].argz`: unknown field; expected one of name, source, core_type, sync, args, block_dim, tiling, workspace_bytes, ub_bytes, tile_rows",
            ),
            (
                minimal().replace("ascend910b2", "ascend310p"),
                "<manifest>: field `target`: TARGET",
            ),
            (
                minimal().replace("[\"T\", 4]", "[\"T\", true]"),
                "<manifest>: field `params[0].shape`: expected an integer expression (a string such as \"ceil_div(T, 48)\") or an integer, found a boolean",
            ),
        ];
        let target = moge_lower::target::Target::from_name("ascend310p")
            .unwrap_err()
            .to_string();
        for (text, want) in cases {
            let err = Manifest::from_json(&text).unwrap_err();
            assert_eq!(err.to_string(), want.replace("TARGET", &target));
        }
    }
}
