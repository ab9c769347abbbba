//! Snapshot tests: every `tests/in/*.graph` kernel, specialized for each of its `; case NAME: K=V ...`
//! lines, compiled for the 910B2; the kernel IR, the Ascend C source and the manifest are snapshotted.
//!
//! Set `MOGE_CODEGEN_DUMP=<dir>` to also write the sources there (for checking them against the real
//! CANN headers by hand).

use std::path::{Path, PathBuf};

use moge_codegen_ascendc::compile_program;
use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::Kernel;
use moge_lower::target::Target;

fn input_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/in")
}

/// The `; case NAME: K=V K=V` lines of a test file.
fn cases(text: &str) -> Vec<(String, Vec<(String, i64)>)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("; case ") else {
            continue;
        };
        let (name, binds) = rest
            .split_once(':')
            .expect("a case line is `; case NAME: K=V ...`");
        let binds = binds
            .split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("a binding is K=V");
                (
                    k.to_string(),
                    v.parse::<i64>().expect("a binding's value is an integer"),
                )
            })
            .collect();
        out.push((name.trim().to_string(), binds));
    }
    out
}

/// Loads `tests/in/<stem>.graph` and specializes it for every case.
pub fn load(stem: &str) -> Vec<(String, Kernel)> {
    let path = input_dir().join(format!("{stem}.graph"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let kernel = parse_kernel(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases = cases(&text);
    assert!(!cases.is_empty(), "{} has no `; case` line", path.display());
    cases
        .into_iter()
        .map(|(name, binds)| {
            let b: Vec<(&str, i64)> = binds.iter().map(|(k, v)| (k.as_str(), *v)).collect();
            let k = kernel
                .specialize(&b)
                .unwrap_or_else(|e| panic!("{stem} {name}: {e}"));
            (name, k)
        })
        .collect()
}

fn check(stem: &str) {
    for (case, kernel) in load(stem) {
        let program = compile_program(&kernel, &Target::default())
            .unwrap_or_else(|e| panic!("{stem} {case}: {e}"));
        // Byte-for-byte deterministic.
        let again = compile_program(&kernel, &Target::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            program, again,
            "{stem} {case}: compiling twice gave different output"
        );
        let name = format!("{stem}_{case}");
        if let Ok(dir) = std::env::var("MOGE_CODEGEN_DUMP") {
            for k in &program.kernels {
                let _ = std::fs::write(
                    Path::new(&dir).join(format!("{name}_{}", k.file)),
                    &k.source,
                );
            }
        }
        // Every kernel-IR dump reads back into the same function.
        for k in &program.kernels {
            let schedule = k.schedule.as_ref().expect("a vector kernel");
            let text = schedule.kir_text();
            let parsed = moge_lower::kir::parse_function(&text)
                .unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
            assert_eq!(
                &parsed,
                schedule.func(),
                "{name}: the dump does not read back"
            );
        }
        insta::assert_snapshot!(format!("{name}.kir"), program.kir_text);
        for k in &program.kernels {
            insta::assert_snapshot!(format!("{name}.{}", k.file), k.source);
        }
        insta::assert_snapshot!(format!("{name}.json"), program.manifest_json());
    }
}

#[test]
fn every_input_has_a_test() {
    let mut stems: Vec<String> = std::fs::read_dir(input_dir())
        .expect("tests/in exists")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".graph"))
                .map(str::to_string)
        })
        .collect();
    stems.sort();
    assert_eq!(
        stems,
        [
            "bcast",
            "cast_select",
            "gate",
            "gate_bf16",
            "int_ops",
            "log_softmax",
            "rmsnorm",
            "rmsnorm_bf16",
            "softmax",
            "topk"
        ]
    );
}

#[test]
fn gate() {
    check("gate");
}

#[test]
fn softmax() {
    check("softmax");
}

#[test]
fn log_softmax() {
    check("log_softmax");
}

#[test]
fn rmsnorm() {
    check("rmsnorm");
}

#[test]
fn rmsnorm_bf16() {
    check("rmsnorm_bf16");
}

#[test]
fn cast_select() {
    check("cast_select");
}

#[test]
fn topk() {
    check("topk");
}

#[test]
fn bcast() {
    check("bcast");
}

#[test]
fn int_ops() {
    check("int_ops");
}

#[test]
fn gate_bf16() {
    check("gate_bf16");
}
