//! A deterministic fuzz test of the frontend: random and mutated kernel sources go through
//! `moge_dsl::check_source`, which must return diagnostics or kernels and never panic.
//!
//! - Seeds: the example kernels (examples/src), the `mogec` fixtures (tests/data) and the trybuild
//!   cases (tests/ui).
//! - Mutations (one to three per case): delete, duplicate or swap tokens and lines; replace an
//!   identifier by an op, dtype or dim name; change a number to 0, -1 or something huge; insert
//!   punctuation (and a few multi-byte characters); truncate.
//! - Random kernels: signatures and bodies put together from the DSL's ops with random operands, so
//!   that many get past the parser into shape and dtype checking, and some check.
//!
//! Properties: no panic (`catch_unwind`); every diagnostic starts at a line and column inside the
//! source and renders without panicking; every kernel that checks prints to graph IR text that
//! parses back to the same kernel and prints the same again, and specializing it with small values
//! returns a result rather than panicking.
//!
//! Deep and long inputs: every recursive construct (parentheses, brackets, braces, calls, prefix
//! operators, generic arguments, `->`, assignments, closures, `else if`, modules) nested at random
//! depths around the nesting limit and far beyond it, in the body, in a parameter type or around
//! the kernel; and long flat chains of 10^4 to 10^5 terms. A stack overflow would abort the test
//! binary, so surviving is the first property; then: a nesting error exactly when the depth is over
//! the limit (for the DSL's own constructs), every error located inside the source, chains check,
//! and checking time grows linearly with the chain's length.
//!
//! Beyond the frontend: kernels that check and specialize are scheduled and emitted as Ascend C
//! (`compile_program`: `Ok` or an error with a message, never a panic), and a fixed sample of them
//! runs on the emulator against the interpreter (`moge::run::check_program`): every output within
//! tolerance, or a clear refusal.

use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use moge::run::check_program;
use moge_codegen_ascendc::compile_program;
use moge_lower::graph::parse::parse_kernel;

use crate::rng::Rng;
use moge_lower::graph::write::kernel_to_string;
use moge_lower::graph::SymKind;
use moge_lower::interp::random_inputs;
use moge_lower::target::Target;
use moge_runtime::backend::EmulatorBackend;

/// The fixed seed of the whole run.
const SEED: u64 = 0x6d6f_6765_2d66_757a;

/// Mutated seed sources.
const MUTATED_CASES: usize = 2500;

/// Generated kernels.
const GENERATED_CASES: usize = 1500;

/// Names a mutation may put in place of an identifier.
const NAMES: &[&str] = &[
    "softmax",
    "log_softmax",
    "group_topk",
    "topk",
    "gather",
    "scatter_add",
    "matmul",
    "route",
    "dispatch",
    "grouped_matmul",
    "swiglu",
    "combine",
    "cast",
    "select",
    "reshape",
    "slice",
    "concat",
    "transpose",
    "sum",
    "mean",
    "max",
    "min",
    "argmax",
    "argmin",
    "rms_norm",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "recip",
    "abs",
    "sigmoid",
    "silu",
    "relu",
    "tanh",
    "maximum",
    "minimum",
    "Tensor",
    "f32",
    "bf16",
    "f16",
    "i32",
    "bool",
    "usize",
    "T",
    "E",
    "G",
    "H",
    "N",
    "kernel",
    "moge",
    "tile",
    "block_dim",
    "true",
    "false",
    "self",
    "Self",
    "return",
    "let",
    "fn",
    "const",
    "_",
];

/// Numbers a mutation may put in place of a number.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "99999999999999999999999",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "1e308",
    "1e-320",
    "0.0",
    "-0.0",
    "1099511627776",
    "3.5",
];

/// Text a mutation may insert.
const PUNCTUATION: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    ",",
    ";",
    ":",
    "::",
    "=",
    "==",
    "+",
    "-",
    "*",
    "/",
    "%",
    "&",
    "|",
    "!",
    "?",
    ".",
    "..",
    "#",
    "#[tile(m = 0)]",
    "'a",
    "\"",
    "\"s\"",
    "\n",
    "\t",
    " ",
    "é",
    "→",
    "𝔼",
    "\u{feff}",
    "/*",
    "*/",
    "//",
    "r#",
    "@",
    "$",
    "~",
    "^",
];

/// The seed sources, sorted by path.
fn seed_sources() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    for dir in ["examples/src", "tests/data", "tests/ui"] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "rs") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .collect()
}

/// Splits `src` into tokens: runs of identifier characters, runs of whitespace, and single other
/// characters. Concatenating the tokens gives `src` back.
fn tokens(src: &str) -> Vec<&str> {
    let class = |c: char| -> u8 {
        if c.is_alphanumeric() || c == '_' {
            0
        } else if c.is_whitespace() {
            1
        } else {
            2
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev: Option<u8> = None;
    for (i, c) in src.char_indices() {
        let kind = class(c);
        if let Some(prev) = prev {
            if prev != kind || kind == 2 {
                out.push(&src[start..i]);
                start = i;
            }
        }
        prev = Some(kind);
    }
    if start < src.len() {
        out.push(&src[start..]);
    }
    out
}

/// Applies one random mutation to `src`.
fn mutate(rng: &mut Rng, src: &str) -> String {
    let toks = tokens(src);
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    if toks.is_empty() {
        return rng.pick(PUNCTUATION).to_string();
    }
    let mut toks: Vec<String> = toks.into_iter().map(str::to_string).collect();
    let mut lines: Vec<String> = lines.into_iter().map(str::to_string).collect();
    let word_positions: Vec<usize> = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            t.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
        })
        .map(|(i, _)| i)
        .collect();
    let number_positions: Vec<usize> = toks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|(i, _)| i)
        .collect();
    match rng.below(10) {
        0 => {
            let i = rng.below(toks.len());
            toks.remove(i);
        }
        1 => {
            let i = rng.below(toks.len());
            let t = toks[i].clone();
            toks.insert(i, t);
        }
        2 => {
            let (i, j) = (rng.below(toks.len()), rng.below(toks.len()));
            toks.swap(i, j);
        }
        3 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            lines.remove(i);
            return lines.concat();
        }
        4 if !lines.is_empty() => {
            let i = rng.below(lines.len());
            let line = lines[i].clone();
            lines.insert(i, line);
            return lines.concat();
        }
        5 if !lines.is_empty() => {
            let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
            lines.swap(i, j);
            return lines.concat();
        }
        6 if !word_positions.is_empty() => {
            let i = *rng.pick(&word_positions);
            toks[i] = rng.pick(NAMES).to_string();
        }
        7 if !number_positions.is_empty() => {
            let i = *rng.pick(&number_positions);
            toks[i] = rng.pick(NUMBERS).to_string();
        }
        8 => {
            let i = rng.below(toks.len() + 1);
            toks.insert(i, rng.pick(PUNCTUATION).to_string());
        }
        _ => {
            let text = toks.concat();
            let mut cut = rng.below(text.len() + 1);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            return text[..cut].to_string();
        }
    }
    toks.concat()
}

/// A random kernel put together from the DSL's ops: half of them well-typed by construction (every
/// value an `f32[T, E]`), the others with random operands and types.
fn generate(rng: &mut Rng, index: usize) -> String {
    if rng.chance(1, 2) {
        generate_typed(rng, index)
    } else {
        generate_any(rng, index)
    }
}

/// A kernel whose every value is an `f32[T, E]`, built from shape-preserving ops.
fn generate_typed(rng: &mut Rng, index: usize) -> String {
    let mut src = format!("#[moge::kernel]\npub fn t{index}<const E: usize>(");
    let n_params = 1 + rng.below(3);
    let mut names: Vec<String> = (0..n_params).map(|p| format!("p{p}")).collect();
    let params: Vec<String> = names
        .iter()
        .map(|n| format!("{n}: Tensor<f32, (T, E)>"))
        .collect();
    src.push_str(&params.join(", "));
    src.push_str(") -> Tensor<f32, (T, E)> {\n");
    for l in 0..1 + rng.below(6) {
        let a = rng.pick(&names).clone();
        let b = rng.pick(&names).clone();
        let lit = *rng.pick(&["2.0", "1", "0.5", "-1", "1e-5", "0"]);
        let expr = match rng.below(12) {
            0 => format!(
                "{}({a})",
                rng.pick(&[
                    "exp", "log", "sqrt", "rsqrt", "recip", "abs", "sigmoid", "silu", "relu",
                    "tanh"
                ])
            ),
            1 => format!("{a} {} {b}", rng.pick(&["+", "-", "*", "/"])),
            2 => format!("{lit} {} {a}", rng.pick(&["+", "-", "*", "/"])),
            3 => format!(
                "{}({a}, {b})",
                rng.pick(&["maximum", "minimum", "max", "min"])
            ),
            4 => format!(
                "select({a} {} {b}, {a}, {b})",
                rng.pick(&["<", ">", "==", "!=", "<=", ">="])
            ),
            5 => format!(
                "{}({a}, {})",
                rng.pick(&["softmax", "log_softmax"]),
                rng.pick(&["-1", "1", "0", "-2"])
            ),
            6 => format!(
                "{a} * {}({b}, -1, true)",
                rng.pick(&["sum", "mean", "max", "min"])
            ),
            7 => format!("swiglu({a}, {b})"),
            8 => format!(
                "cast::<f32>(cast::<{}>({a}))",
                rng.pick(&["bf16", "f16", "i32"])
            ),
            9 => format!("transpose(transpose({a}))"),
            10 => format!("-({a} + {b})"),
            _ => format!("reshape({a}, (T, E))"),
        };
        if rng.chance(1, 8) {
            src.push_str("    #[tile(rows = 8)]\n");
        }
        src.push_str(&format!("    let v{l} = {expr};\n"));
        names.push(format!("v{l}"));
    }
    // Every name is used once more, so no binding is unused.
    src.push_str(&format!("    {}\n}}\n", names.join(" + ")));
    src
}

/// A kernel with random parameter types and random operands: mostly errors.
fn generate_any(rng: &mut Rng, index: usize) -> String {
    let dtypes = ["f32", "f32", "f32", "bf16", "f16", "i32"];
    let shapes = [
        "(T, E)",
        "(T, E)",
        "(T, E)",
        "(E,)",
        "(T, G)",
        "(E, E)",
        "{ (T, 2 * E) }",
        "()",
        "(T,)",
        "(E, T)",
    ];
    let mut src = String::new();
    let statics = *rng.pick(&["", "<const E: usize>", "<const E: usize, const G: usize>"]);
    src.push_str(&format!("#[moge::kernel]\npub fn k{index}{statics}(\n"));
    let n_params = 1 + rng.below(3);
    let mut names: Vec<String> = Vec::new();
    for p in 0..n_params {
        let name = format!("p{p}");
        src.push_str(&format!(
            "    {name}: Tensor<{}, {}>,\n",
            rng.pick(&dtypes),
            rng.pick(&shapes)
        ));
        names.push(name);
    }
    let ret_dtype = if rng.chance(3, 4) {
        "f32"
    } else {
        *rng.pick(&dtypes)
    };
    let ret_shape = if rng.chance(3, 4) {
        "(T, E)"
    } else {
        *rng.pick(&shapes)
    };
    src.push_str(&format!(") -> Tensor<{ret_dtype}, {ret_shape}> {{\n"));
    let n_lets = rng.below(6);
    for l in 0..n_lets {
        let a = rng.pick(&names).clone();
        let b = rng.pick(&names).clone();
        let c = rng.pick(&names).clone();
        let axis = *rng.pick(&["-1", "0", "1", "2", "-3"]);
        let dim = *rng.pick(&["E", "G", "1", "2", "T", "0", "E / G", "2 * E"]);
        let dtype = *rng.pick(&["f32", "bf16", "f16", "i32", "bool", "u8"]);
        let lit = *rng.pick(&["2.0", "1", "0.5", "-1", "1e-5"]);
        let name = format!("v{l}");
        let expr = match rng.below(28) {
            0 => format!(
                "{}({a})",
                rng.pick(&[
                    "exp", "log", "sqrt", "rsqrt", "recip", "abs", "sigmoid", "silu", "relu",
                    "tanh"
                ])
            ),
            1 => format!("{a} {} {b}", rng.pick(&["+", "-", "*", "/"])),
            2 => format!("{a} {} {lit}", rng.pick(&["+", "-", "*", "/"])),
            3 => format!(
                "{}({a}, {b})",
                rng.pick(&["maximum", "minimum", "max", "min"])
            ),
            4 => format!("cast::<{dtype}>({a})"),
            5 => format!(
                "select({a} {} {b}, {b}, {c})",
                rng.pick(&["<", ">", "==", "!=", "<=", ">="])
            ),
            6 => format!(
                "{}({a}, {axis})",
                rng.pick(&["sum", "mean", "max", "min", "argmax", "argmin"])
            ),
            7 => format!(
                "{}({a}, {axis}, true)",
                rng.pick(&["sum", "mean", "max", "argmin"])
            ),
            8 => format!("{}({a}, {axis})", rng.pick(&["softmax", "log_softmax"])),
            9 => format!("rms_norm({a}, {b}, {lit})"),
            10 => format!("reshape({a}, ({dim}, E))"),
            11 => format!("slice({a}, {axis}, 0, {dim})"),
            12 => format!("concat(({a}, {b}), {axis})"),
            13 => format!("transpose({a})"),
            14 => format!("transpose({a}, (1, 0))"),
            15 => {
                src.push_str(&format!("    let ({name}, _i{l}) = topk({a}, {dim});\n"));
                names.push(name);
                continue;
            }
            16 => {
                src.push_str(&format!(
                    "    let (_w{l}, {name}) = group_topk({a}, {dim}, 1);\n"
                ));
                names.push(name);
                continue;
            }
            17 => format!("gather({a}, {b})"),
            18 => format!("scatter_add({a}, {b}, {dim})"),
            19 => format!("matmul({a}, {b})"),
            20 => format!("dispatch({a}, route({b}, {dim}))"),
            21 => format!("grouped_matmul({a}, {b}, route({c}, {dim}))"),
            22 => format!("swiglu({a})"),
            23 => format!("swiglu({a}, {b})"),
            24 => format!("combine({a}, route({b}, {dim}), {c})"),
            25 => format!("-{a}"),
            26 => format!("({a})"),
            _ => lit.to_string(),
        };
        if rng.chance(1, 8) {
            src.push_str(&format!(
                "    #[tile(m = {}, n = 16)]\n",
                rng.pick(&["128", "0", "-1"])
            ));
        }
        src.push_str(&format!("    let {name} = {expr};\n"));
        names.push(name);
    }
    // Use every name so unused-binding errors do not dominate, then return the last one.
    let last = names.last().cloned().unwrap_or_default();
    if rng.chance(1, 2) && names.len() > 1 {
        let sum = names.join(" + ");
        src.push_str(&format!("    let _all = {sum};\n"));
    }
    src.push_str(&format!("    {last}\n}}\n"));
    src
}

/// Runs the frontend on `src` and checks the properties; returns how many kernels checked, or a
/// description of the failure.
fn check_case(src: &str, rng: &mut Rng) -> Result<usize, String> {
    let line_lengths: Vec<usize> = src.lines().map(|l| l.chars().count()).collect();
    let inside = |line: usize, col: usize| -> bool {
        // A position just past the last character of a line (or of an empty file) is inside.
        if line_lengths.is_empty() {
            return line == 1 && col == 1;
        }
        (line >= 1 && line <= line_lengths.len() && col >= 1 && col <= line_lengths[line - 1] + 1)
            || (line == line_lengths.len() + 1 && col == 1 && src.ends_with('\n'))
    };
    let check = |diags: &[moge_dsl::Diagnostic]| -> Result<(), String> {
        for d in diags {
            let (line, col) = d.line_col();
            if !inside(line, col) {
                return Err(format!(
                    "diagnostic `{}` at {line}:{col} is outside the source",
                    d.message
                ));
            }
        }
        let rendered = moge_dsl::render_diagnostics("case.rs", src, diags);
        if diags.iter().any(|d| !rendered.contains(&d.message)) {
            return Err(format!("rendering lost a message:\n{rendered}"));
        }
        Ok(())
    };
    let mut bindings_seed = rng.next();
    let result = panic::catch_unwind(AssertUnwindSafe(|| -> Result<usize, String> {
        let file = match moge_dsl::check_source(src) {
            Ok(file) => file,
            Err(diag) => {
                check(std::slice::from_ref(&diag))?;
                return Ok(0);
            }
        };
        let mut ok = 0;
        for kernel in &file.kernels {
            match &kernel.result {
                Err(diags) => {
                    if diags.is_empty() {
                        return Err(format!(
                            "kernel `{}` failed without diagnostics",
                            kernel.name
                        ));
                    }
                    check(diags)?;
                }
                Ok(graph) => {
                    ok += 1;
                    let text = kernel_to_string(graph);
                    let parsed = parse_kernel(&text)
                        .map_err(|e| format!("printed graph IR does not parse: {e}\n{text}"))?;
                    if &parsed != graph {
                        return Err(format!("graph IR does not round-trip:\n{text}"));
                    }
                    if kernel_to_string(&parsed) != text {
                        return Err(format!(
                            "graph IR prints differently after parsing:\n{text}"
                        ));
                    }
                    // Specializing with small values: an error or a kernel, never a panic.
                    let statics: Vec<String> = graph
                        .static_params()
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                    let mut small = Rng(bindings_seed);
                    bindings_seed = small.next();
                    let values: Vec<(&str, i64)> = statics
                        .iter()
                        .map(|s| (s.as_str(), small.below(9) as i64))
                        .collect();
                    if let Ok(specialized) = graph.specialize(&values) {
                        let text = kernel_to_string(&specialized);
                        parse_kernel(&text).map_err(|e| {
                            format!("specialized graph IR does not parse: {e}\n{text}")
                        })?;
                    }
                }
            }
        }
        Ok(ok)
    }));
    match result {
        Ok(outcome) => outcome,
        Err(_) => Err("panicked".to_string()),
    }
}

#[test]
fn frontend_survives_random_and_mutated_sources() {
    let seeds = seed_sources();
    assert!(seeds.len() >= 10, "seed files found: {}", seeds.len());
    let mut rng = Rng(SEED);
    let mut failures = Vec::new();
    let mut kernels_ok = 0;
    let mut cases = Vec::with_capacity(MUTATED_CASES + GENERATED_CASES + seeds.len());
    cases.extend(seeds.iter().cloned());
    for _ in 0..MUTATED_CASES {
        let mut src = rng.pick(&seeds).clone();
        for _ in 0..1 + rng.below(3) {
            src = mutate(&mut rng, &src);
        }
        cases.push(src);
    }
    for index in 0..GENERATED_CASES {
        let mut src = generate(&mut rng, index);
        if rng.chance(1, 4) {
            src = mutate(&mut rng, &src);
        }
        cases.push(src);
    }
    for (index, src) in cases.iter().enumerate() {
        match check_case(src, &mut rng) {
            Ok(n) => kernels_ok += n,
            Err(why) => failures.push(format!("case {index}: {why}\n--- source ---\n{src}\n---")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed; the first:\n{}",
        failures.len(),
        cases.len(),
        failures[0]
    );
    // The random kernels must reach the end of the frontend often enough to exercise the printer.
    assert!(kernels_ok >= 500, "only {kernels_ok} kernels checked");
}

#[test]
fn tokens_split_and_join_back() {
    let src = "let (a, b) = topk(x_1, 2); // é→\n";
    let toks = tokens(src);
    assert_eq!(toks.concat(), src);
    assert_eq!(&toks[..6], &["let", " ", "(", "a", ",", " "]);
    assert!(toks.contains(&"x_1"));
    assert!(toks.contains(&"é"));
}

/// A recursive construct for the deep-input fuzz: the text before and after the core per level, and
/// whether it is DSL syntax (then every depth under the limit must pass the nesting check).
struct Nest {
    open: &'static str,
    close: &'static str,
    /// What the innermost level wraps.
    core: &'static str,
    /// Levels each repetition adds to the nesting measure.
    levels: usize,
    dsl: bool,
}

/// The constructs, each valid Rust at any depth (so that only the nesting limit stops it).
const NESTS: &[Nest] = &[
    Nest {
        open: "(",
        close: ")",
        core: "a",
        levels: 1,
        dsl: true,
    },
    Nest {
        open: "-",
        close: "",
        core: "a",
        levels: 1,
        dsl: true,
    },
    Nest {
        open: "exp(",
        close: ")",
        core: "a",
        levels: 1,
        dsl: true,
    },
    Nest {
        open: "maximum(a, ",
        close: ")",
        core: "a",
        levels: 1,
        dsl: true,
    },
    Nest {
        open: "-(",
        close: ")",
        core: "a",
        levels: 2,
        dsl: true,
    },
    Nest {
        open: "[",
        close: "]",
        core: "a",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "{",
        close: "}",
        core: "a",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "!",
        close: "",
        core: "a",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "&",
        close: "",
        core: "a",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "*",
        close: "",
        core: "a",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "&mut ",
        close: "",
        core: "a",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "a = ",
        close: "",
        core: "a",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "|x| ",
        close: "",
        core: "a",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "return ",
        close: "",
        core: "a",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "if a { a } else ",
        close: "",
        core: "{ a }",
        levels: 1,
        dsl: false,
    },
    Nest {
        open: "Vec<",
        close: ">",
        core: "u8",
        levels: 1,
        dsl: false,
    },
];

/// Depths to try for one construct: around the limit, and far beyond it.
fn depths(rng: &mut Rng) -> Vec<usize> {
    let limit = moge_dsl::NESTING_LIMIT;
    vec![
        1 + rng.below(limit / 2),
        limit - 30 + rng.below(60),
        limit + rng.below(8),
        1_000 + rng.below(9_000),
        10_000 + rng.below(40_000),
    ]
}

/// Checks `src` with the frontend: no panic, every diagnostic inside the source; returns whether a
/// nesting error was reported and how many kernels checked.
fn deep_case(src: &str) -> Result<(bool, usize), String> {
    let mut rng = Rng(SEED);
    let nesting = panic::catch_unwind(|| match moge_dsl::check_source(src) {
        Err(diag) => diag.message.starts_with("nested too deeply"),
        Ok(_) => false,
    })
    .map_err(|_| "panicked".to_string())?;
    let checked = check_case(src, &mut rng)?;
    Ok((nesting, checked))
}

#[test]
fn deep_inputs_give_a_located_error_or_check() {
    let limit = moge_dsl::NESTING_LIMIT;
    let mut rng = Rng(SEED ^ 0xdee9);
    let mut failures = Vec::new();
    for nest in NESTS {
        for depth in depths(&mut rng) {
            let repetitions = depth.div_ceil(nest.levels);
            let deep = format!(
                "{}{}{}",
                nest.open.repeat(repetitions),
                nest.core,
                nest.close.repeat(repetitions)
            );
            // The same nesting in the body, in a parameter type's dims and around the kernel.
            let sites = [
                format!("#[kernel]\nfn k(a: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{\n    {deep}\n}}\n"),
                format!("#[kernel]\nfn k(a: Tensor<f32, {{({deep},)}}>) -> Tensor<f32, (T,)> {{ a }}\n"),
                format!(
                    "{}#[kernel]\nfn k(a: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{ a }}\n{}",
                    "mod m { ".repeat(depth),
                    "}".repeat(depth)
                ),
            ];
            for (site, src) in sites.iter().enumerate() {
                match deep_case(src) {
                    Err(why) => {
                        failures.push(format!("`{}` x{depth} at site {site}: {why}", nest.open))
                    }
                    Ok((nesting, _)) => {
                        // The body is 1 level deep, a parameter's dims 4, a module's items 1 per
                        // module: a margin of 8 covers them.
                        let levels = repetitions * nest.levels;
                        let within = levels + 8 <= limit;
                        let over = levels > limit;
                        if over && !nesting {
                            failures.push(format!(
                                "`{}` x{depth} at site {site}: no nesting error",
                                nest.open
                            ));
                        }
                        if within && nesting && (nest.dsl || site == 2) {
                            failures.push(format!(
                                "`{}` x{depth} at site {site}: refused under the limit",
                                nest.open
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A random flat chain of `terms` operands joined by `+ - * /`, each operand a name, a literal, a
/// negation, a parenthesized name or a call; every term is an `f32[T]`.
fn chain(rng: &mut Rng, terms: usize) -> String {
    let mut out = String::with_capacity(terms * 12);
    for i in 0..terms {
        if i > 0 {
            out.push_str(rng.pick::<&str>(&[" + ", " - ", " * ", " / "]));
        }
        out.push_str(rng.pick::<&str>(&[
            "a",
            "a",
            "a",
            "2.0",
            "-a",
            "(a)",
            "exp(a)",
            "cast::<f32>(a)",
            "(a * a)",
        ]));
    }
    out
}

/// The frontend's counted work for checking `src` (deterministic: see `moge_dsl::work`).
fn steps(src: &str) -> u64 {
    moge_dsl::work::measured(|| drop(moge_dsl::check_source(src))).1
}

/// Asserts that ten times the input took about ten times the work: at least 8 times (the count
/// measures the input), at most 12 (a quadratic pass would be about a hundred times).
fn assert_linear(what: &str, small: u64, large: u64) {
    let ratio = large as f64 / small.max(1) as f64;
    eprintln!("{what}: {small} steps, ten times the input: {large} (x{ratio:.2})");
    assert!(
        (8.0..=12.0).contains(&ratio),
        "{what}: {small} steps, ten times the input: {large} steps (x{ratio:.2})"
    );
}

#[test]
fn long_chains_check_in_linear_time() {
    let mut rng = Rng(SEED ^ 0x10c9);
    let mut sources = Vec::new();
    for terms in [10_000, 100_000] {
        let body = chain(&mut rng, terms);
        let src = format!(
            "#[kernel]\nfn k(a: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{\n    {body}\n}}\n"
        );
        let file = moge_dsl::check_source(&src).expect("valid syntax");
        let graph = file.kernels[0]
            .result
            .as_ref()
            .expect("a long chain checks");
        // One binary op per operator, at least (literal operands fold).
        assert!(
            graph.ops.len() >= terms / 2,
            "{terms} terms: {} ops",
            graph.ops.len()
        );
        sources.push(src);
    }
    // Ten times the terms: about ten times the work.
    assert_linear("long chains", steps(&sources[0]), steps(&sources[1]));
}

/// A kernel of `lets` distinct bindings, each used once in the returned sum (in a random order).
fn many_bindings(rng: &mut Rng, lets: usize) -> String {
    let mut src = String::from("#[kernel]\nfn k(a: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {\n");
    for i in 0..lets {
        src.push_str(&format!("    let v{i} = a * {}.0;\n", rng.below(100)));
    }
    let mut names: Vec<usize> = (0..lets).collect();
    for i in (1..names.len()).rev() {
        names.swap(i, rng.below(i + 1));
    }
    let terms: Vec<String> = names.iter().map(|i| format!("v{i}")).collect();
    src.push_str(&format!("    {}\n}}\n", terms.join(" + ")));
    src
}

#[test]
fn many_bindings_check_in_linear_time() {
    let mut rng = Rng(SEED ^ 0xb1d5);
    let small = many_bindings(&mut rng, 2_000);
    let large = many_bindings(&mut rng, 20_000);
    for src in [&small, &large] {
        let file = moge_dsl::check_source(src).expect("valid syntax");
        assert!(file.kernels[0].result.is_ok());
    }
    // Looking a name up among all bindings would make this quadratic (about a hundred times).
    assert_linear("many bindings", steps(&small), steps(&large));
}

/// A random dim expression of about `size` names and operators: sums, products and quotients of
/// a few names and literals (products of sums grow exponentially when multiplied out).
fn random_dim(rng: &mut Rng, size: usize) -> String {
    if size <= 1 {
        return rng.pick(&["A", "B", "C", "D", "2", "3"]).to_string();
    }
    let left = 1 + rng.below(size - 1);
    let op = *rng.pick(&[" + ", " * ", " * ", " - ", " / "]);
    format!(
        "({}{op}{})",
        random_dim(rng, left),
        random_dim(rng, size - left)
    )
}

/// Frontend steps per source byte a wide input may take. The caps make the work per dim node a
/// constant (every size check walks at most 64 nodes; canonical forms and texts of dims are counted
/// by their size): 34 steps a byte is the most these cases take; a shape rule that multiplied out
/// an exponential product would be thousands.
const WIDE_STEPS_PER_BYTE: f64 = 128.0;

#[test]
fn wide_inputs_check_quickly() {
    // Shapes of many dims, large dim expressions, concats of many tensors and reshapes of them:
    // each case gives located errors or checks, quickly (the frontend bounds every size that the
    // shape rules would multiply out).
    let mut rng = Rng(SEED ^ 0x91de);
    let mut failures = Vec::new();
    let mut most = 0.0f64;
    for case in 0..300 {
        let rank = 1 + rng.below(100);
        let dims: Vec<String> = (0..rank)
            .map(|_| {
                let size = 1 + rng.below(12);
                random_dim(&mut rng, size)
            })
            .collect();
        let shape = dims.join(", ");
        let operands = 1 + rng.below(100);
        let tensors = vec!["a"; operands].join(", ");
        let target_size = 1 + rng.below(40);
        let target = random_dim(&mut rng, target_size);
        let bounds: Vec<String> = (0..3)
            .map(|_| {
                let size = 1 + rng.below(30);
                random_dim(&mut rng, size)
            })
            .collect();
        let src = format!(
            "#[kernel]\nfn k{case}(a: Tensor<f32, {{({shape},)}}>, t: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{\n    let _c = concat(({tensors},), 0);\n    let _r = reshape(a, ({target},));\n    let _s = slice(a, 0, {}, {});\n    let (_v, _i) = topk(t, {});\n    t\n}}\n",
            bounds[0],
            bounds[1],
            bounds[2]
        );
        // Counted work, not time: bounded by the source's size (the frontend caps every size the
        // shape rules would multiply out, so no case does work exponential in its dims).
        let (outcome, work) = moge_dsl::work::measured(|| check_case(&src, &mut rng));
        let per_byte = work as f64 / src.len() as f64;
        most = most.max(per_byte);
        if let Err(why) = outcome {
            failures.push(format!("case {case}: {why}\n{src}"));
        } else if per_byte > WIDE_STEPS_PER_BYTE {
            failures.push(format!(
                "case {case} took {work} steps for {} bytes\n{src}",
                src.len()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures; the first:\n{}",
        failures.len(),
        failures[0]
    );
    eprintln!("wide inputs: at most {most:.2} frontend steps per source byte");
}

/// Kernels checked by the fuzz that run on the emulator.
const EMULATED_KERNELS: usize = 20;

#[test]
fn checked_kernels_lower_emit_and_run_on_the_emulator() {
    let mut rng = Rng(SEED ^ 0x1017);
    let target = Target::default();
    let backend = EmulatorBackend::default();
    let mut failures = Vec::new();
    let (mut compiled, mut refused, mut ran, mut run_refused) = (0, 0, 0, 0);
    let mut refusals: Vec<String> = Vec::new();
    for index in 0..600 {
        let src = generate(&mut rng, index);
        let Ok(file) = moge_dsl::check_source(&src) else {
            continue;
        };
        for kernel in file.kernels.iter().filter_map(|k| k.result.as_ref().ok()) {
            let statics: Vec<String> = kernel
                .static_params()
                .iter()
                .map(|s| s.to_string())
                .collect();
            let values: Vec<(&str, i64)> = statics
                .iter()
                .map(|s| (s.as_str(), 1 + rng.below(16) as i64))
                .collect();
            let Ok(specialized) = kernel.specialize(&values) else {
                continue;
            };
            let outcome =
                panic::catch_unwind(AssertUnwindSafe(|| compile_program(&specialized, &target)));
            let program = match outcome {
                Err(_) => {
                    failures.push(format!("compile_program panicked\n{src}"));
                    continue;
                }
                Ok(Err(error)) => {
                    refused += 1;
                    let text = error.to_string();
                    // The reason, without the location, to list each kind of refusal once.
                    let reason = text.split_once(": ").map_or(text.as_str(), |(_, why)| why);
                    let kind: String = reason.chars().take(80).collect();
                    if !refusals.contains(&kind) {
                        refusals.push(kind);
                    }
                    if text.trim().is_empty() {
                        failures.push(format!("compile_program refused without a message\n{src}"));
                    }
                    continue;
                }
                Ok(Ok(program)) => program,
            };
            compiled += 1;
            if ran + run_refused >= EMULATED_KERNELS {
                continue;
            }
            let dims: Vec<(String, i64)> = specialized
                .syms
                .values()
                .filter(|s| s.kind == SymKind::Dynamic)
                .map(|s| (s.name.to_string(), 1 + rng.below(40) as i64))
                .collect();
            let dims: Vec<(&str, i64)> = dims.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let Ok(inputs) = random_inputs(&specialized, rng.next(), &dims) else {
                continue;
            };
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                check_program(&specialized, &program, &inputs, &backend).map_err(Box::new)
            }));
            match outcome {
                Err(_) => failures.push(format!("the run panicked ({dims:?})\n{src}")),
                Ok(Err(error)) => {
                    run_refused += 1;
                    if error.to_string().trim().is_empty() {
                        failures.push(format!("the run failed without a message\n{src}"));
                    }
                }
                Ok(Ok(checked)) => {
                    ran += 1;
                    if !checked.passed() {
                        let detail: Vec<String> =
                            checked.comparisons.iter().map(|c| c.to_string()).collect();
                        failures.push(format!(
                            "emulator and interpreter disagree ({dims:?}, {values:?}): {}\n{src}",
                            detail.join("; ")
                        ));
                    }
                }
            }
        }
    }
    eprintln!(
        "lowering fuzz: {compiled} compiled, {refused} refused by lowering; on the emulator {ran} ran, {run_refused} refused"
    );
    for refusal in &refusals {
        eprintln!("  refused: {refusal}");
    }
    assert!(
        failures.is_empty(),
        "{} failures; the first:\n{}",
        failures.len(),
        failures[0]
    );
    // The sample must actually reach the emulator.
    assert!(
        compiled >= EMULATED_KERNELS,
        "only {compiled} kernels compiled ({refused} refused)"
    );
    assert!(
        ran >= EMULATED_KERNELS / 2,
        "only {ran} kernels ran ({run_refused} refused)"
    );
}
