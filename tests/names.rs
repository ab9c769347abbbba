//! Names that leave the compiler: generated kernels with random identifiers (plain ASCII, raw, C++ and
//! Rust keywords, Ascend C names, reserved C++ forms, non-ASCII letters, names differing only in case)
//! must either fail `check` with an error located at the offending identifier, or build into kernels
//! whose manifest records exactly what the `.cpp` exports: the `extern "C"` symbol and the GM
//! parameter names. A few of the kernels that build also run on the emulator.

use moge::graph::DType;
use moge::Tensor;
use moge_codegen_ascendc::compile_program;
use moge_lower::target::Target;
use moge_runtime::backend::EmulatorBackend;

use crate::rng::Rng;

/// Whether a name must be refused, by category (written here from the C++ standard and the Ascend C
/// ABI, not taken from the compiler's lists).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Expect {
    /// A plain lower-case ASCII name that is no keyword: must build.
    Good,
    /// Must be refused wherever it is emitted verbatim.
    Bad,
    /// Either outcome is allowed; if it builds, the manifest must still match the `.cpp`.
    Either,
}

/// C++ keywords that are ordinary identifiers in Rust.
const CPP_KEYWORDS: &[&str] = &[
    "int",
    "float",
    "double",
    "char",
    "void",
    "class",
    "new",
    "delete",
    "auto",
    "this",
    "template",
    "typename",
    "namespace",
    "private",
    "public",
    "operator",
    "signed",
    "unsigned",
    "volatile",
    "switch",
    "case",
    "default",
    "goto",
    "long",
    "short",
    "bool",
    "inline",
    "friend",
    "throw",
    "catch",
    "sizeof",
    "register",
    "explicit",
    "export",
    "typedef",
    "union",
    "using",
    "nullptr",
    "not",
    "and",
    "or",
    "xor",
    "main",
];

/// Rust keywords written as raw identifiers; those that are C++ keywords too must be refused.
const RAW_CPP: &[&str] = &[
    "r#try",
    "r#const",
    "r#static",
    "r#struct",
    "r#enum",
    "r#for",
    "r#while",
    "r#if",
    "r#else",
    "r#return",
    "r#virtual",
    "r#break",
    "r#continue",
    "r#do",
    "r#true",
    "r#false",
    "r#extern",
];
const RAW_NOT_CPP: &[&str] = &[
    "r#fn", "r#match", "r#loop", "r#mod", "r#type", "r#impl", "r#trait", "r#let", "r#mut", "r#pub",
    "r#ref", "r#move", "r#where", "r#dyn", "r#async", "r#await", "r#unsafe", "r#in", "r#as",
    "r#use", "r#crate_", "r#foo",
];

/// Names the Ascend C headers or the kernel ABI define.
const ASCEND: &[&str] = &[
    "GM_ADDR",
    "workspace",
    "tiling",
    "AscendC",
    "half",
    "bfloat16_t",
    "int32_t",
    "int64_t",
    "uint8_t",
    "size_t",
    "TILE_ROWS",
    "KERNEL_TASK_TYPE_DEFAULT",
    "KERNEL_TYPE_AIV_ONLY",
    "PIPE_V",
    "MOGE_X",
];

/// Forms C++ reserves.
const RESERVED_FORMS: &[&str] = &["__x", "a__b", "_X", "_Tile", "x__"];

/// Non-ASCII letters (valid Rust identifiers).
const UNICODE: &[&str] = &["größe", "ß", "café", "名前", "Ωmega", "x́", "ñ"];

/// Names the writer uses for its own locals and members, and generated output names: must work.
const WRITER_NAMES: &[&str] = &[
    "rows",
    "tile",
    "tiles",
    "left",
    "core",
    "rowStart",
    "op",
    "tilingData",
    "Init",
    "Process",
    "CopyIn",
    "pipe_",
    "coreRows_",
    "out0",
    "out1",
    "x_1",
    "X",
    "Rows",
    "_x",
    "MogeReduce",
];

/// A random identifier and what must happen to it as a parameter name.
fn identifier(rng: &mut Rng) -> (String, Expect) {
    match rng.below(9) {
        0 | 1 => {
            let letters = b"abcdefghijklmnopqrstuvwxyz";
            let tail = b"abcdefghijklmnopqrstuvwxyz0123456789";
            let mut name = String::from("q");
            name.push(letters[rng.below(letters.len())] as char);
            for _ in 0..rng.below(5) {
                name.push(tail[rng.below(tail.len())] as char);
            }
            (name, Expect::Good)
        }
        2 => (rng.pick(CPP_KEYWORDS).to_string(), Expect::Bad),
        3 => (rng.pick(RAW_CPP).to_string(), Expect::Bad),
        4 => (rng.pick(RAW_NOT_CPP).to_string(), Expect::Either),
        5 => (rng.pick(ASCEND).to_string(), Expect::Bad),
        6 => (rng.pick(RESERVED_FORMS).to_string(), Expect::Bad),
        7 => (rng.pick(UNICODE).to_string(), Expect::Bad),
        _ => (rng.pick(WRITER_NAMES).to_string(), Expect::Good),
    }
}

/// The name Rust (and so the DSL) sees: `r#x` is `x`.
fn unraw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// The symbol and GM parameter names of the `extern "C"` entry of `cpp`, read from the text.
fn extern_entry(cpp: &str) -> (String, Vec<String>) {
    let marker = "extern \"C\" __global__ __aicore__ void ";
    let start = cpp.find(marker).expect("an extern \"C\" entry") + marker.len();
    let rest = &cpp[start..];
    let open = rest.find('(').expect("a parameter list");
    let close = rest.find(')').expect("a parameter list");
    let params = rest[open + 1..close]
        .split(',')
        .map(|p| p.trim().trim_start_matches("GM_ADDR ").to_string())
        .collect();
    (rest[..open].to_string(), params)
}

/// One generated kernel: its source, the line/column of each name, and what must happen.
struct Case {
    source: String,
    kernel: String,
    names: Vec<(String, usize, Expect)>,
}

/// `#[moge::kernel] fn KERNEL(P0: .., P1: ..) -> (..) { let B = P0 + P1; (B, P0) }` on lines 2-4;
/// the kernel name, both parameters and the binding are generated.
fn case(rng: &mut Rng) -> Option<Case> {
    let (kernel, kernel_expect) = identifier(rng);
    let (p0, p0_expect) = identifier(rng);
    let (p1, p1_expect) = identifier(rng);
    let (binding, binding_expect) = identifier(rng);
    // Two parameters of the same name are a different error; names equal up to case are kept.
    if unraw(&p0) == unraw(&p1) {
        return None;
    }
    // Kernel names are exported as `<name>_k0`: keywords and Ascend C names are fine there, while
    // reserved forms and non-ASCII letters are not.
    let kernel_expect = match kernel_expect {
        Expect::Bad
            if unraw(&kernel).is_ascii()
                && !unraw(&kernel).contains("__")
                && !unraw(&kernel).ends_with('_')
                && !unraw(&kernel).starts_with("_") =>
        {
            Expect::Either
        }
        Expect::Good if kernel.ends_with('_') || kernel.starts_with('_') => Expect::Either,
        other => other,
    };
    let header = format!("pub fn {kernel}({p0}: Tensor<f32, (N,)>, {p1}: Tensor<f32, (N,)>)");
    let source = format!(
        "#[moge::kernel]\n{header} -> (Tensor<f32, (N,)>, Tensor<f32, (N,)>) {{\n    let {binding} = {p0} + {p1};\n    ({binding}, {p0})\n}}\n"
    );
    // The 1-based column (in characters) of `token` in `line`, searching from byte `from`; and the
    // byte after it.
    let col = |line: &str, token: &str, from: usize| {
        let byte = from + line[from..].find(token).expect("token on its line");
        (line[..byte].chars().count() + 1, byte + token.len())
    };
    let (kernel_col, after) = col(&header, &format!("{kernel}("), "pub fn ".len());
    let (p0_col, after) = col(&header, &format!("{p0}:"), after);
    let (p1_col, _) = col(&header, &format!(" {p1}:"), after);
    let p1_col = p1_col + 1;
    let ret_line = format!("    ({binding}, {p0})");
    let mut names = vec![
        (kernel.clone(), 2, kernel_col, kernel_expect),
        (p0.clone(), 2, p0_col, p0_expect),
        (p1.clone(), 2, p1_col, p1_expect),
    ];
    // The binding is emitted only as the first result's name; if it shadows a parameter the result
    // is renamed with a suffix, which is still refused for names that cannot be emitted at all.
    names.push((
        binding.clone(),
        4,
        col(&ret_line, &binding, 5).0,
        binding_expect,
    ));
    Some(Case {
        source,
        kernel: unraw(&kernel).to_string(),
        names: names
            .into_iter()
            .map(|(n, line, col, e)| (n, line * 1000 + col, e))
            .collect(),
    })
}

#[test]
fn generated_identifiers_are_refused_or_emitted_as_the_manifest_says() {
    let mut rng = Rng(0x6d6f_6765_6e61_6d65);
    let (mut built, mut refused, mut ran) = (0, 0, 0);
    let backend = EmulatorBackend::default();
    for _ in 0..1200 {
        let Some(case) = case(&mut rng) else {
            continue;
        };
        let checked = moge_dsl::check_source(&case.source)
            .unwrap_or_else(|e| panic!("generated source is valid Rust: {e:?}\n{}", case.source));
        let item = checked.kernels.into_iter().next().expect("one kernel");
        assert_eq!(item.name, case.kernel, "{}", case.source);
        let must_fail = case.names.iter().any(|(_, _, e)| *e == Expect::Bad);
        let must_pass = case.names.iter().all(|(_, _, e)| *e == Expect::Good);
        match item.result {
            Err(errors) => {
                refused += 1;
                let rendered = moge_dsl::render_diagnostics("gen.rs", &case.source, &errors);
                assert!(
                    !must_pass,
                    "refused a kernel of good names:\n{}\n{rendered}",
                    case.source
                );
                // Every error is located at one of the generated names, and names it.
                for diag in &errors {
                    let (line, col) = diag.line_col();
                    let at = line * 1000 + col;
                    let name = case
                        .names
                        .iter()
                        .find(|(_, pos, _)| *pos == at)
                        .unwrap_or_else(|| {
                            panic!("error not at a name:\n{}\n{rendered}", case.source)
                        });
                    assert!(
                        diag.message.contains(&format!("`{}`", unraw(&name.0))),
                        "{}\n{rendered}",
                        case.source
                    );
                    assert!(diag.message.contains("cannot be emitted"), "{rendered}");
                }
                // Every name that must be refused is.
                for (name, pos, expect) in &case.names {
                    if *expect == Expect::Bad {
                        assert!(
                            errors.iter().any(|d| {
                                let (line, col) = d.line_col();
                                line * 1000 + col == *pos
                            }) || case.names.iter().any(|(n, p, _)| n == name && p != pos),
                            "`{name}` not refused:\n{}\n{rendered}",
                            case.source
                        );
                    }
                }
            }
            Ok(kernel) => {
                built += 1;
                assert!(!must_fail, "accepted a bad name:\n{}", case.source);
                let kernel = kernel.specialize(&[]).expect("no static dims");
                let program = compile_program(&kernel, &Target::default())
                    .unwrap_or_else(|e| panic!("{e}\n{}", case.source));
                let tensors: Vec<&str> = program
                    .manifest
                    .params
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                // Inputs are the parameters, unraw'd; all names distinct.
                assert_eq!(
                    tensors[..2],
                    [unraw(&case.names[1].0), unraw(&case.names[2].0)]
                );
                for (i, t) in tensors.iter().enumerate() {
                    assert!(!tensors[..i].contains(t), "{tensors:?}");
                    assert!(
                        t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            && !t.contains("__")
                            && !CPP_KEYWORDS.contains(t)
                            && !ASCEND.contains(t),
                        "{t}"
                    );
                }
                assert_eq!(program.manifest.program, case.kernel);
                for (device, entry) in program.kernels.iter().zip(&program.manifest.kernels) {
                    let (symbol, params) = extern_entry(&device.source);
                    assert_eq!(symbol, entry.name, "{}", case.source);
                    assert_eq!(symbol, format!("{}_k0", case.kernel));
                    let mut expected = entry.args.clone();
                    expected.extend(["workspace".to_string(), "tiling".to_string()]);
                    assert_eq!(params, expected, "{}", case.source);
                }
                // Some run on the emulator (each one is a C++ compile).
                if ran < 3 && rng.below(4) == 0 {
                    ran += 1;
                    let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5 - 3.0).collect();
                    let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32).collect();
                    let inputs = [
                        Tensor::from_f32(DType::F32, vec![19], a).unwrap(),
                        Tensor::from_f32(DType::F32, vec![19], b).unwrap(),
                    ];
                    let run = moge::run::check_program(&kernel, &program, &inputs, &backend)
                        .unwrap_or_else(|e| panic!("{e}\n{}", case.source));
                    assert!(run.passed(), "{}", case.source);
                    // The second result is the first parameter, unless the binding shadows it.
                    if unraw(&case.names[3].0) != unraw(&case.names[1].0) {
                        assert_eq!(run.launched.outputs[1], inputs[0]);
                    }
                }
            }
        }
    }
    // The generator reaches both outcomes and the emulator.
    assert!(
        built > 50 && refused > 300 && ran == 3,
        "{built} {refused} {ran}"
    );
}

/// Graph IR that does not come from the frontend (a `.graph` file, a hand-made `Kernel`) is checked
/// by the scheduler: names that cannot be emitted verbatim are refused before any code is written.
#[test]
fn graph_ir_with_names_that_cannot_be_emitted_is_refused() {
    let cases = [
        ("k", "int", "y", "kernel `k`: the parameter name `int` cannot be emitted: it is a C++ keyword"),
        ("k", "x", "half", "kernel `k`: the output name `half` cannot be emitted: Ascend C defines it"),
        (
            "k_",
            "x",
            "y",
            "kernel `k_`: the program name `k_` cannot be emitted: it ends with `_`, so its kernel symbol `<name>_k0` would contain `__`, which C++ reserves",
        ),
    ];
    for (kernel, param, output, message) in cases {
        let text = format!(
            "kernel {kernel}({param}: f32[N]) -> ({output}: f32[N]) {{\n  dyn N\n  v0 = param 0 : f32[N]\n  v1 = exp v0 : f32[N]\n  return {output} = v1\n}}\n"
        );
        let graph =
            moge_lower::graph::parse::parse_kernel(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let err = compile_program(&graph, &Target::default()).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}

/// The macro names `g++ -dM -E` finds over the emitted code's include chain: the emulator's
/// `kernel_operator.h` with the emulator's flags, and the standard headers the real CANN
/// `kernel_operator.h` pulls in; in ISO and in GNU mode (which predefines `unix` and `linux`).
fn include_chain_macros() -> Vec<String> {
    let include = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/emulator/include");
    let mut source = String::from("#include \"kernel_operator.h\"\n");
    for header in [
        "cmath", "cstdint", "climits", "cfloat", "cstddef", "cstdio", "cstdlib", "cstring",
        "cerrno", "csignal", "cassert",
    ] {
        source.push_str(&format!("#include <{header}>\n"));
    }
    // The compiler the emulator uses (`MOGE_CXX`, default `g++`).
    let compiler =
        std::env::var(moge_runtime::limits::CXX_ENV).unwrap_or_else(|_| "g++".to_string());
    let mut names: Vec<String> = Vec::new();
    for std in ["-std=c++17", "-std=gnu++17"] {
        let mut child = std::process::Command::new(&compiler)
            .args(["-O2", std, "-fno-strict-aliasing", "-pthread", "-I"])
            .arg(&include)
            .args(["-dM", "-E", "-x", "c++", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{compiler} (the emulator's compiler) must run: {e}"));
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin
                .write_all(source.as_bytes())
                .expect("write the source");
        }
        let output = child.wait_with_output().expect("the preprocessor runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Some(rest) = line.strip_prefix("#define ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

#[test]
fn c_macro_names_are_all_refused() {
    let names = include_chain_macros();
    // The chain defines thousands; a broken run of the preprocessor would find few.
    assert!(names.len() > 1000, "only {} macros found", names.len());
    let missed: Vec<&String> = names
        .iter()
        .filter(|name| moge_lower::kir::names::check_c_name(name).is_ok())
        .collect();
    assert!(
        missed.is_empty(),
        "{} macro names pass check_c_name; add them to lower/src/kir/c_macros.rs (sorted): {missed:?}",
        missed.len()
    );
    // The namer keeps clear of them too.
    assert!(names
        .iter()
        .all(|name| moge_lower::kir::names::is_reserved(name)));
}

#[test]
fn kernels_using_macro_names_are_refused_at_check() {
    for name in [
        "INFINITY",
        "NAN",
        "NULL",
        "M_PI",
        "INT32_MAX",
        "unix",
        "EOF",
    ] {
        // As a result's binding and as a parameter: both are emitted verbatim.
        let sources = [
            format!("#[kernel]\nfn k(x: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{\n    let {name} = x * 2.0;\n    {name}\n}}\n"),
            format!("#[kernel]\nfn k({name}: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{\n    {name} * 2.0\n}}\n"),
        ];
        for (site, src) in sources.iter().enumerate() {
            let file = moge_dsl::check_source(src).expect("valid syntax");
            let Err(diags) = &file.kernels[0].result else {
                panic!("`{name}` at site {site} checks");
            };
            let diag = &diags[0];
            assert!(
                diag.message.contains("define it as a macro"),
                "{}",
                diag.message
            );
            // Located at the name.
            let (line, col) = diag.line_col();
            let at_line = src.lines().nth(line - 1).unwrap_or_default();
            let shown: String = at_line.chars().skip(col - 1).take(name.len()).collect();
            assert_eq!(shown, name, "{}", diag.message);
        }
    }
}
