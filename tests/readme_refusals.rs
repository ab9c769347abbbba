//! The README's "What runs where" lists every refusal of the Ascend C pipeline, as the code words it.
//!
//! The refusals are read from the code itself, the one place they are written: every message given
//! to `unsupported(...)`, `LowerError::Unsupported { ... }` or a `let reason = match ...` in the
//! lowering, the fusion pass and the writer. The test fails when a refusal is added, reworded or
//! removed without the README following, in either direction.

use std::fs;
use std::path::Path;

/// The package root.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The sources whose refusals are listed.
const SOURCE_DIRS: &[&str] = &[
    "lower/src/schedule",
    "lower/src/schedule/lower_vector",
    "lower/src/schedule/moe",
    "lower/src/schedule/moe/gmm",
    "lower/src/schedule/moe/rows",
    "lower/src/opt",
];

/// Where a call or block starts whose string literals are refusal messages.
const OPENERS: &[&str] = &["unsupported(", "Unsupported {", "let reason = match"];

/// The string literals of the balanced region starting right after `start` in `text` (which opens
/// with `(` or `{`, or reaches one), skipping comments and char literals.
fn literals_from(text: &str, start: usize) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut i = start;
    // Find the first opening bracket of the region.
    while i < bytes.len() && !matches!(bytes[i], b'(' | b'{') {
        i += 1;
    }
    let mut depth = 0usize;
    let mut literals = Vec::new();
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let mut end = i + 1;
                let mut literal = String::new();
                while end < bytes.len() && bytes[end] != b'"' {
                    if bytes[end] == b'\\' && end + 1 < bytes.len() {
                        literal.push(char::from(bytes[end + 1]));
                        end += 2;
                    } else {
                        let ch = text[end..].chars().next().unwrap_or(' ');
                        literal.push(ch);
                        end += ch.len_utf8();
                    }
                }
                literals.push(literal);
                i = end + 1;
                continue;
            }
            b'\'' if i + 2 < bytes.len() && bytes[i + 2] == b'\'' => {
                i += 3;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    literals
}

/// A message as the README shows it: `{...}` placeholders as `…`, whitespace collapsed.
fn normalize(message: &str) -> String {
    let mut out = String::new();
    let mut in_placeholder = false;
    for c in message.chars() {
        match c {
            '{' => {
                in_placeholder = true;
                out.push('…');
            }
            '}' if in_placeholder => in_placeholder = false,
            _ if in_placeholder => {}
            _ => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every refusal message of the sources, normalized, sorted and without duplicates.
fn refusals_in_code() -> Vec<String> {
    let mut files: Vec<String> = Vec::new();
    for dir in SOURCE_DIRS {
        for entry in fs::read_dir(Path::new(ROOT).join(dir)).expect("source dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "rs") {
                let relative = path.strip_prefix(ROOT).expect("under the root");
                files.push(relative.display().to_string());
            }
        }
    }
    let mut messages = Vec::new();
    for file in &files {
        let text = fs::read_to_string(Path::new(ROOT).join(file)).expect("source");
        for opener in OPENERS {
            for (at, _) in text.match_indices(opener) {
                let literals = literals_from(&text, at + opener.len() - 1);
                if *opener == "let reason = match" {
                    messages.extend(literals);
                } else if let Some(longest) = literals.into_iter().max_by_key(String::len) {
                    // `Unsupported { op: "kernel".into(), reason: format!("...") }`: the message
                    // is the longest literal.
                    messages.push(longest);
                }
            }
        }
    }
    let mut messages: Vec<String> = messages.iter().map(|m| normalize(m)).collect();
    messages.sort();
    messages.dedup();
    messages
}

/// The list of refusals in the README: every `"..."` between "Every refusal" and "Budgets are
/// checked" in "What runs where", normalized.
fn refusals_in_readme() -> Vec<String> {
    let readme = fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    let section = readme
        .split("## What runs where")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a What runs where section");
    let list = section
        .split("Every refusal")
        .nth(1)
        .and_then(|s| s.split("Budgets are checked").next())
        .expect("the list of refusals");
    let mut messages: Vec<String> = list.split('"').skip(1).step_by(2).map(normalize).collect();
    messages.sort();
    messages.dedup();
    messages
}

#[test]
fn the_readme_lists_every_refusal_of_the_lowering_as_the_code_words_it() {
    let code = refusals_in_code();
    let readme = refusals_in_readme();
    // The extraction itself works: known refusals of three files are found.
    for known in [
        "row too long",
        "scatter ops are not implemented yet",
        "rows of … elements must start 32-byte aligned here, but `…` writes them densely",
    ] {
        assert!(
            code.iter().any(|m| m == known),
            "`{known}` not found in {code:#?}"
        );
    }
    let missing: Vec<&String> = code.iter().filter(|m| !readme.contains(m)).collect();
    assert!(
        missing.is_empty(),
        "refusals of the code missing from the README's What runs where: {missing:#?}"
    );
    let stale: Vec<&String> = readme.iter().filter(|m| !code.contains(m)).collect();
    assert!(
        stale.is_empty(),
        "refusals in the README that the code no longer has: {stale:#?}"
    );
}
