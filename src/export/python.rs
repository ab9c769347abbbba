//! The manifest's shape expressions as Python, for the exported project's scripts: the same
//! semantics as `main.cpp`'s C++ and the runtime (64-bit, `/` and `%` truncating, every operation
//! checked), through the helpers of `scripts/head.py` (`_add`, `_div`, ...).

use moge_codegen_ascendc::manifest::Manifest;
use moge_lower::kir::Expr;

use super::ExportError;

/// `expr` as a Python expression over the dims dictionary `d`; `what` names it in errors.
pub fn expr(manifest: &Manifest, expr: &Expr, what: &str) -> Result<String, ExportError> {
    let mut out = String::new();
    put(manifest, &mut out, expr, what)?;
    Ok(out)
}

fn put(manifest: &Manifest, out: &mut String, expr: &Expr, what: &str) -> Result<(), ExportError> {
    let mut call = |name: &str, a: &Expr, b: &Expr| -> Result<(), ExportError> {
        out.push_str(name);
        out.push('(');
        put(manifest, out, a, what)?;
        out.push_str(", ");
        put(manifest, out, b, what)?;
        out.push(')');
        Ok(())
    };
    match expr {
        Expr::Int(value) => {
            out.push_str(&value.to_string());
            Ok(())
        }
        Expr::Sym(name) => {
            if !(manifest.dynamic_dims.contains(name) || manifest.bindings.contains_key(name)) {
                return Err(ExportError::Manifest(format!(
                    "{what} uses `{name}`, which is neither a dynamic dim nor a static one"
                )));
            }
            out.push_str(&format!("d[{:?}]", name.to_string()));
            Ok(())
        }
        Expr::Add(a, b) => call("_add", a, b),
        Expr::Sub(a, b) => call("_sub", a, b),
        Expr::Mul(a, b) => call("_mul", a, b),
        Expr::Div(a, b) => call("_div", a, b),
        Expr::Rem(a, b) => call("_rem", a, b),
        Expr::Min(a, b) => call("min", a, b),
        Expr::Max(a, b) => call("max", a, b),
        Expr::CeilDiv(a, b) => call("_ceil_div", a, b),
        Expr::AlignUp(a, b) => call("_align_up", a, b),
    }
}
