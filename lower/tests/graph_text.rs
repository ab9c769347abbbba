//! Filetests of the graph IR's text form: every `tests/graph/*.graph` file is a kernel dump, optionally
//! preceded by `;` comment lines. Each must parse, verify, and print back exactly as written (so the
//! files double as documentation of the format); a `; specialize: E=64 G=8` header line also
//! specializes the kernel, which must verify and round-trip as well.

use std::fs;
use std::path::{Path, PathBuf};

use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::verify::{kernel_with_errors, verify};
use moge_lower::graph::write::kernel_to_string;
use moge_lower::Kernel;

fn graph_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graph");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "graph"))
        .collect();
    files.sort();
    files
}

/// Splits a file into its leading comment lines and the kernel text.
fn split_header(text: &str) -> (Vec<&str>, &str) {
    let mut header = Vec::new();
    let mut rest = text;
    while rest.starts_with(';') {
        let end = rest.find('\n').map_or(rest.len(), |i| i + 1);
        header.push(rest[..end].trim_end());
        rest = &rest[end..];
    }
    (header, rest)
}

/// The bindings of a `; specialize: E=64 G=8` header line.
fn specialize_directive(header: &[&str]) -> Option<Vec<(String, i64)>> {
    let line = header
        .iter()
        .find_map(|l| l.strip_prefix("; specialize:"))?;
    Some(
        line.split_whitespace()
            .map(|pair| {
                let (name, value) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad binding {pair:?}"));
                (
                    name.to_string(),
                    value
                        .parse()
                        .unwrap_or_else(|_| panic!("bad value in {pair:?}")),
                )
            })
            .collect(),
    )
}

fn check_round_trip(name: &str, kernel: &Kernel, text: &str) {
    let printed = kernel_to_string(kernel);
    assert_eq!(
        printed, text,
        "{name}: printing the parsed kernel changed the text"
    );
    let reparsed = parse_kernel(&printed).unwrap_or_else(|e| panic!("{name}: reparse: {e}"));
    assert_eq!(&reparsed, kernel, "{name}: the reparsed kernel differs");
    if let Err(errors) = verify(kernel) {
        panic!(
            "{name}: verifier errors:\n{}",
            kernel_with_errors(kernel, &errors)
        );
    }
}

#[test]
fn graph_filetests() {
    let files = graph_files();
    assert!(
        files.len() >= 5,
        "expected the filetests in tests/graph, found {files:?}"
    );
    for path in files {
        let name = path.display().to_string();
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = text.replace("\r\n", "\n");
        let (header, body) = split_header(&text);
        let kernel = parse_kernel(&text).unwrap_or_else(|e| panic!("{name}:{e}"));
        check_round_trip(&name, &kernel, body);
        if let Some(bindings) = specialize_directive(&header) {
            let bindings: Vec<(&str, i64)> =
                bindings.iter().map(|(n, v)| (n.as_str(), *v)).collect();
            let specialized = kernel
                .specialize(&bindings)
                .unwrap_or_else(|e| panic!("{name}: specialize: {e}"));
            check_round_trip(&name, &specialized, &kernel_to_string(&specialized));
            assert!(
                specialized.static_params().is_empty(),
                "{name}: statics remain"
            );
        }
    }
}

#[test]
fn specialized_gate_file_matches_specialization() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/graph");
    let read =
        |file: &str| fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let generic = parse_kernel(&read("moge_gate.graph")).unwrap_or_else(|e| panic!("{e}"));
    let mut specialized = generic
        .specialize(&[("E", 64), ("G", 8)])
        .unwrap_or_else(|e| panic!("{e}"));
    // The file was written without source locations and hints.
    for loc in specialized.locs.values_mut() {
        *loc = Default::default();
    }
    for hints in specialized.hints.values_mut() {
        hints.clear();
    }
    let file = read("moge_gate_specialized.graph");
    let (_, body) = split_header(&file);
    assert_eq!(kernel_to_string(&specialized), body);
}
