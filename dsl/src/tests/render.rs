//! The rustc shape of rendered diagnostics: gutters, multi-line spans, tabs, wide lines.

use super::check;

#[test]
fn single_line_span_with_help() {
    let src =
        "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {\n    sofmax(x, -1)\n}\n";
    assert_eq!(
        check(src),
        "error: unknown op `sofmax`\n --> kernel.rs:3:5\n  |\n3 |     sofmax(x, -1)\n  |     ^^^^^^\n  |\n  = help: did you mean `softmax`?\n"
    );
}

#[test]
fn gutter_grows_with_line_numbers() {
    let src = format!(
        "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {{\n{}    let y = &a;\n    x\n}}\n",
        "    let a = x;\n    let a = a;\n    let a = a;\n    let a = a;\n    let a = a;\n    let a = a;\n    let a = a;\n",
    );
    assert_eq!(
        check(&src),
        "error: references (`&`) are not supported in a kernel\n  --> kernel.rs:10:13\n   |\n10 |     let y = &a;\n   |             ^^\n   |\n   = help: tensors are passed by name: write `a`\n"
    );
}

#[test]
fn multi_line_span_starting_mid_line() {
    let src = "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {\n    let f = |v| {\n        v\n    };\n    x\n}\n";
    assert_eq!(
        check(src),
        "error: closures are not supported in a kernel\n --> kernel.rs:3:13\n  |\n3 |       let f = |v| {\n  |  _____________^\n4 | |         v\n5 | |     };\n  | |_____^\n  |\n  = help: write the computation inline with `let` bindings\n"
    );
}

#[test]
fn multi_line_span_starting_at_the_indent() {
    let src = "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {\n    fn helper() {\n    }\n    x\n}\n";
    assert_eq!(
        check(src),
        "error: items (`fn`, `use`, `struct`, ...) inside a kernel are not supported\n --> kernel.rs:3:5\n  |\n3 | /     fn helper() {\n4 | |     }\n  | |_____^\n"
    );
}

#[test]
fn tabs_are_four_columns() {
    let src =
        "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {\n\tlet y = &x;\n\tx\n}\n";
    assert_eq!(
        check(src),
        "error: references (`&`) are not supported in a kernel\n --> kernel.rs:3:10\n  |\n3 |     let y = &x;\n  |             ^^\n  |\n  = help: tensors are passed by name: write `x`\n"
    );
}

#[test]
fn columns_count_characters() {
    let src = "#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {\n    let größe = exp(x);\n    let é = &größe;\n    é\n}\n";
    assert_eq!(
        check(src),
        "error: references (`&`) are not supported in a kernel\n --> kernel.rs:4:13\n  |\n4 |     let é = &größe;\n  |             ^^^^^^\n  |\n  = help: tensors are passed by name: write `größe`\n"
    );
}

#[test]
fn a_long_line_is_shown_as_a_window_around_the_span() {
    // An unknown name after 1,000 terms on one line: a window around it, not the 4,000-column
    // line.
    let body = format!("{} + y", vec!["x"; 1_000].join(" + "));
    let src =
        format!("#[kernel]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {{\n    {body}\n}}\n");
    let rendered = check(&src);
    let col = 4 + body.len(); // `y`, 1-based: after the four spaces of indentation
                              // Sixty characters of context before the span, after `...`.
    let context = "x + ".repeat(15);
    let caret = " ".repeat(3 + 60);
    assert_eq!(
        rendered,
        format!(
            "error: cannot find `y` in this kernel\n --> kernel.rs:3:{col}\n  |\n3 | ...{context}y\n  | {caret}^\n"
        )
    );
}
