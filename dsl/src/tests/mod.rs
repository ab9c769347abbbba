//! Frontend tests: one small source per construct, checked through [`check`], which shows the graph
//! IR of a kernel that checks and the rendered diagnostics of one that does not.

mod deep;
mod diagnostics;
mod discover;
mod graph;
mod render;

use moge_lower::graph::write::kernel_to_string;

use crate::{check_source, render_diagnostics};

/// Checks every kernel in `src`: the printed graph IR of each kernel that checks, the rendered
/// diagnostics of each that does not.
pub(crate) fn check(src: &str) -> String {
    let file = match check_source(src) {
        Ok(file) => file,
        Err(diag) => return render_diagnostics("kernel.rs", src, &[diag]),
    };
    let mut out = String::new();
    for (i, kernel) in file.kernels.into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match kernel.result {
            Ok(k) => out.push_str(&kernel_to_string(&k)),
            Err(diags) => out.push_str(&render_diagnostics("kernel.rs", src, &diags)),
        }
    }
    out
}

#[test]
fn check_source_finds_kernels_in_modules() {
    let src = r#"
use moge::prelude::*;

fn helper() {}

#[moge::kernel(debug)]
fn first(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    x
}

mod inner {
    #[kernel]
    pub fn second(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
        x + y
    }

    #[other::kernel]
    fn not_a_kernel() {}
}
"#;
    let file = check_source(src).expect("valid syntax");
    let names: Vec<&str> = file.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["first", "second"]);
    assert!(file.kernels[0].result.is_ok());
    let diags = file.kernels[1].result.as_ref().expect_err("`y` is unknown");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].message, "cannot find `y` in this kernel");
    // Line 14 (the source starts with a newline), column 13 (1-based).
    assert_eq!(diags[0].line_col(), (14, 13));
}

#[test]
fn syntax_errors_point_into_the_file() {
    let src = "#[kernel]\nfn k(x: Tensor<f32, (T, 64)>) -> Tensor<f32, (T, 64)> {\n    x\n}\n";
    let diag = check_source(src).expect_err("`64` is not a type");
    assert_eq!(diag.line_col(), (2, 25));
    assert_eq!(diag.message, "expected one of: `for`, parentheses, `fn`, `unsafe`, `extern`, identifier, `::`, `<`, `dyn`, square brackets, `*`, `&`, `!`, `impl`, `_`, lifetime");
}

#[test]
fn diagnostics_convert_to_syn_errors_with_notes() {
    let src = "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {\n    x + y\n}\n";
    let file = check_source(src).expect("valid syntax");
    let diags = file.kernels[0].result.as_ref().expect_err("`y` is unknown");
    let diag = diags[0].clone().with_note("a note");
    assert_eq!(
        diag.to_syn_error().to_string(),
        "cannot find `y` in this kernel\n= note: a note"
    );
    let diag = diag.with_help("a help");
    assert_eq!(
        diag.to_syn_error().to_string(),
        "cannot find `y` in this kernel\n= note: a note\n= help: a help"
    );
}
