//! Which names the emitted Ascend C may use verbatim.
//!
//! The program's name and its tensors' names (kernel-IR [`Function::name`](super::Function) and
//! [argument](super::ArgData) names) appear in the emitted code exactly as they are: the `extern "C"`
//! symbol is `<program>_k<i>` and the GM parameters of the entry are the tensors' names, so that the
//! manifest, the `.npy` files and the C source agree. [`check_c_name`] and [`check_program_name`]
//! decide which names can be used that way; the frontend refuses the others at check time, with
//! their location, and the scheduler refuses them in graph IR from elsewhere. Every other emitted
//! identifier is made by the Ascend C printer (`codegen-ascendc/src/print_v2.rs`).

use std::fmt;

use super::c_macros::C_MACROS;

/// C++17 keywords and alternative tokens.
pub const CPP_KEYWORDS: &[&str] = &[
    "alignas",
    "alignof",
    "and",
    "and_eq",
    "asm",
    "auto",
    "bitand",
    "bitor",
    "bool",
    "break",
    "case",
    "catch",
    "char",
    "char16_t",
    "char32_t",
    "char8_t",
    "class",
    "co_await",
    "co_return",
    "co_yield",
    "compl",
    "concept",
    "const",
    "const_cast",
    "consteval",
    "constexpr",
    "constinit",
    "continue",
    "decltype",
    "default",
    "delete",
    "do",
    "double",
    "dynamic_cast",
    "else",
    "enum",
    "explicit",
    "export",
    "extern",
    "false",
    "float",
    "for",
    "friend",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "mutable",
    "namespace",
    "new",
    "noexcept",
    "not",
    "not_eq",
    "nullptr",
    "operator",
    "or",
    "or_eq",
    "private",
    "protected",
    "public",
    "register",
    "reinterpret_cast",
    "requires",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "static_assert",
    "static_cast",
    "struct",
    "switch",
    "template",
    "this",
    "thread_local",
    "throw",
    "true",
    "try",
    "typedef",
    "typeid",
    "typename",
    "union",
    "unsigned",
    "using",
    "virtual",
    "void",
    "volatile",
    "wchar_t",
    "while",
    "xor",
    "xor_eq",
    "final",
    "override",
    "main",
];

/// Names the Ascend C headers (and the C library they pull in) define at global scope.
pub const ASCENDC_RESERVED: &[&str] = &[
    "AscendC",
    "GM_ADDR",
    "half",
    "bfloat16_t",
    "int8_t",
    "int16_t",
    "int32_t",
    "int64_t",
    "uint8_t",
    "uint16_t",
    "uint32_t",
    "uint64_t",
    "size_t",
    "event_t",
    "pipe_t",
    "block_idx",
    "block_num",
    "g_coreType",
    "std",
    "KERNEL_TASK_TYPE_DEFAULT",
    "KERNEL_TASK_TYPE",
    "ASCEND_IS_AIV",
    "ASCEND_IS_AIC",
    "PIPE_S",
    "PIPE_V",
    "PIPE_M",
    "PIPE_MTE1",
    "PIPE_MTE2",
    "PIPE_MTE3",
    "PIPE_ALL",
    "PIPE_FIX",
    "TILING_KEY_VAR",
    "workspace",
    "tiling",
    "TILE_ROWS",
    "assert",
    "errno",
    "min",
    "max",
    "abs",
    "exp",
    "log",
    "sqrt",
    "printf",
    "memcpy",
    "memset",
    "KERNEL_TYPE_AIV_ONLY",
    "KERNEL_TYPE_AIC_ONLY",
    "KERNEL_TYPE_MIX_AIC_1_2",
    "KERNEL_TYPE_MIX_AIC_1_1",
    "KERNEL_TYPE_MIX_AIV_1_0",
    "KERNEL_TYPE_MIX_AIC_1_0",
    "moge_emu",
];

/// Whether `name` is a macro of the emitted code's include chain ([`C_MACROS`]).
pub fn is_c_macro(name: &str) -> bool {
    C_MACROS.binary_search(&name).is_ok()
}

/// Whether `name` is reserved: a keyword, a header name, a macro of the include chain, or a form the
/// C++ standard reserves (a double underscore anywhere, or an underscore followed by an upper-case
/// letter at the start), or the emulator's own macro prefix `MOGE_`.
pub fn is_reserved(name: &str) -> bool {
    if CPP_KEYWORDS.contains(&name) || ASCENDC_RESERVED.contains(&name) || is_c_macro(name) {
        return true;
    }
    if name.contains("__") || name.starts_with("MOGE_") {
        return true;
    }
    let mut chars = name.chars();
    matches!((chars.next(), chars.next()), (Some('_'), Some(c)) if c.is_ascii_uppercase())
}

/// Why a name cannot appear verbatim in the emitted code.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// It has a character that is not an ASCII letter, digit or underscore.
    NotAscii(char),
    /// It starts with a digit.
    StartsWithDigit,
    /// It is a C++ keyword (or `main`).
    Keyword,
    /// Ascend C or the emulator defines it at global scope (`half`, `GM_ADDR`, `workspace`...).
    AscendC,
    /// A header of the emitted code defines it as a macro (`NULL`, `INFINITY`, `M_PI`, `unix`).
    Macro,
    /// C++ reserves the form: a double underscore, or `_` and an upper-case letter at the start.
    ReservedForm,
    /// The program name ends with `_`: its kernel symbols `<name>_k<i>` would have a double underscore.
    TrailingUnderscore,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("it is empty"),
            NameProblem::NotAscii(c) => write!(
                f,
                "it contains `{c}`, and emitted names are ASCII letters, digits and `_`"
            ),
            NameProblem::StartsWithDigit => f.write_str("it starts with a digit"),
            NameProblem::Keyword => f.write_str("it is a C++ keyword"),
            NameProblem::AscendC => f.write_str("Ascend C defines it"),
            NameProblem::Macro => f.write_str(
                "the C and C++ headers of the emitted code define it as a macro",
            ),
            NameProblem::ReservedForm => f.write_str(
                "C++ reserves names with `__` or starting with `_` and an upper-case letter",
            ),
            NameProblem::TrailingUnderscore => f.write_str(
                "it ends with `_`, so its kernel symbol `<name>_k0` would contain `__`, which C++ reserves",
            ),
        }
    }
}

/// Checks that `name` can be a GM parameter of an emitted kernel as it is (a tensor of the program).
pub fn check_c_name(name: &str) -> Result<(), NameProblem> {
    check_chars(name)?;
    if CPP_KEYWORDS.contains(&name) {
        return Err(NameProblem::Keyword);
    }
    if ASCENDC_RESERVED.contains(&name) || name.starts_with("MOGE_") {
        return Err(NameProblem::AscendC);
    }
    if is_c_macro(name) {
        return Err(NameProblem::Macro);
    }
    if is_reserved(name) {
        return Err(NameProblem::ReservedForm);
    }
    Ok(())
}

/// Checks that `name` can be a program's name: its kernels are exported as `<name>_k<i>`.
pub fn check_program_name(name: &str) -> Result<(), NameProblem> {
    check_chars(name)?;
    if name.ends_with('_') {
        return Err(NameProblem::TrailingUnderscore);
    }
    if is_reserved(&format!("{name}_k0")) {
        return Err(NameProblem::ReservedForm);
    }
    Ok(())
}

/// Checks that `name` is a dim name the manifest's expressions can hold (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn check_dim_name(name: &str) -> Result<(), NameProblem> {
    check_chars(name)
}

fn check_chars(name: &str) -> Result<(), NameProblem> {
    let first = name.chars().next().ok_or(NameProblem::Empty)?;
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(NameProblem::NotAscii(c));
    }
    if first.is_ascii_digit() {
        return Err(NameProblem::StartsWithDigit);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_names() {
        for good in [
            "x",
            "logits",
            "router_scale",
            "a1",
            "_x",
            "rows",
            "tile",
            "op",
            "fn",
            "A",
        ] {
            assert_eq!(check_c_name(good), Ok(()), "{good}");
        }
        let bad = [
            ("", NameProblem::Empty),
            ("größe", NameProblem::NotAscii('ö')),
            ("r#try", NameProblem::NotAscii('#')),
            ("1x", NameProblem::StartsWithDigit),
            ("int", NameProblem::Keyword),
            ("try", NameProblem::Keyword),
            ("main", NameProblem::Keyword),
            ("half", NameProblem::AscendC),
            ("GM_ADDR", NameProblem::AscendC),
            ("workspace", NameProblem::AscendC),
            ("tiling", NameProblem::AscendC),
            ("AscendC", NameProblem::AscendC),
            ("MOGE_BINARY", NameProblem::AscendC),
            ("a__b", NameProblem::ReservedForm),
            ("__x", NameProblem::ReservedForm),
            ("_Y", NameProblem::ReservedForm),
            ("NULL", NameProblem::Macro),
            ("INFINITY", NameProblem::Macro),
            ("NAN", NameProblem::Macro),
            ("M_PI", NameProblem::Macro),
            ("INT32_MAX", NameProblem::Macro),
            ("unix", NameProblem::Macro),
            ("linux", NameProblem::Macro),
            ("stdout", NameProblem::Macro),
        ];
        for (name, problem) in bad {
            assert_eq!(check_c_name(name), Err(problem), "{name}");
        }
    }

    #[test]
    fn the_macro_table_is_sorted_for_binary_search() {
        assert!(C_MACROS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn program_names() {
        // Keywords are fine: the symbols are `int_k0`, `try_k0`.
        for good in ["moge_gate", "int", "try", "half", "_x", "A"] {
            assert_eq!(check_program_name(good), Ok(()), "{good}");
        }
        assert_eq!(
            check_program_name("gate_"),
            Err(NameProblem::TrailingUnderscore)
        );
        assert_eq!(check_program_name("_Gate"), Err(NameProblem::ReservedForm));
        assert_eq!(check_program_name("a__b"), Err(NameProblem::ReservedForm));
        assert_eq!(check_program_name("größe"), Err(NameProblem::NotAscii('ö')));
        assert_eq!(check_dim_name("Ñ"), Err(NameProblem::NotAscii('Ñ')));
        assert_eq!(check_dim_name("T"), Ok(()));
    }
}
