//! C++ spellings of kernel IR values shared by the printer: scalar literals and the `MogeOp` enum.

use moge_lower::kir::{Scalar, VecBinary};

/// A scalar as a C++ expression of type `float` or `int32_t`, exact to the bit.
pub(crate) fn scalar_expr(s: Scalar) -> String {
    match s {
        Scalar::F32(bits) => {
            let v = f32::from_bits(bits);
            if v.is_nan() {
                "__builtin_nanf(\"\")".to_string()
            } else if v.is_infinite() {
                if v > 0.0 {
                    "__builtin_inff()".to_string()
                } else {
                    "-__builtin_inff()".to_string()
                }
            } else {
                // `{:?}` is the shortest representation that reads back to the same f32.
                let mut t = format!("{v:?}");
                if !t.contains(['.', 'e', 'E']) {
                    t.push_str(".0");
                }
                format!("{t}f")
            }
        }
        Scalar::I32(v) => format!("static_cast<int32_t>({v})"),
    }
}

/// The `MogeOp` enumerator of a binary op, as the `MogeBinary` and apply helpers take it.
pub(crate) fn op_enum(op: VecBinary) -> &'static str {
    match op {
        VecBinary::Add => "ADD",
        VecBinary::Sub => "SUB",
        VecBinary::Mul => "MUL",
        VecBinary::Div => "DIV",
        VecBinary::Max => "MAX",
        VecBinary::Min => "MIN",
    }
}
