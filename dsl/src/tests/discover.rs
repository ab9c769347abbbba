//! Finding kernels in a file: the same rules as the macro and rustc (arguments of the attribute,
//! duplicates, the attribute on something that is not a free function).

use crate::check_source;

#[test]
fn kernel_attribute_arguments_are_validated_like_the_macro() {
    let cases = [
        (
            "#[moge::kernel(bogus)]",
            "unknown argument `bogus` of `#[moge::kernel]`: expected `debug`",
            16,
        ),
        (
            "#[kernel(debug, debug)]",
            "the argument `debug` of `#[moge::kernel]` is given twice",
            17,
        ),
        (
            "#[kernel = \"x\"]",
            "the kernel attribute takes arguments in parentheses: `#[moge::kernel(debug)]`",
            12,
        ),
        ("#[kernel(1)]", "expected identifier", 10),
    ];
    for (attr, message, col) in cases {
        let src =
            format!("{attr}\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {{\n    x\n}}\n");
        let file = check_source(&src).expect("valid syntax");
        let diags = file.kernels[0].result.as_ref().expect_err(attr);
        assert_eq!(diags[0].message, message, "{attr}");
        assert_eq!(diags[0].line_col(), (1, col), "{attr}");
    }
    let src =
        "#[moge::kernel(debug)]\nfn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {\n    x\n}\n";
    assert!(check_source(src).expect("valid syntax").kernels[0]
        .result
        .is_ok());
}

#[test]
fn two_kernels_of_one_name_in_a_module_are_an_error() {
    let src = r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    x
}

#[kernel]
fn k(y: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    y
}
"#;
    let file = check_source(src).expect("valid syntax");
    assert!(file.kernels[0].result.is_ok());
    let diags = file.kernels[1].result.as_ref().expect_err("a duplicate");
    assert_eq!(
        diags[0].message,
        "the kernel `k` is defined twice in this module"
    );
    assert_eq!(diags[0].line_col(), (8, 4));
    assert_eq!(
        diags[0].notes,
        ["the first definition is at line 3, column 4"]
    );
}

#[test]
fn kernels_of_one_name_in_different_modules_have_distinct_paths() {
    let src = r#"
#[kernel]
fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    x
}

mod a {
    #[kernel]
    fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
        x
    }

    mod b {
        #[kernel]
        fn k(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
            x
        }
    }
}
"#;
    let file = check_source(src).expect("valid syntax");
    let paths: Vec<&str> = file.kernels.iter().map(|k| k.path.as_str()).collect();
    assert_eq!(paths, ["k", "a::k", "a::b::k"]);
    assert!(file.kernels.iter().all(|k| k.result.is_ok()));
    assert!(file.errors.is_empty());
    let lines: Vec<usize> = file
        .kernels
        .iter()
        .map(|k| k.span.start.start().line)
        .collect();
    assert_eq!(lines, [3, 9, 15]);
}

#[test]
fn the_kernel_attribute_on_anything_but_a_free_function_is_an_error() {
    let src = r#"
#[kernel]
struct S;

impl S {
    #[moge::kernel]
    fn method(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
        x
    }
}

trait T {
    #[kernel]
    fn required(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)>;
}

#[kernel]
mod m {}

#[kernel]
const C: i32 = 1;

#[kernel]
fn fine(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
    x
}

fn outer() {
    #[kernel]
    fn inner(x: Tensor<f32, (N,)>) -> Tensor<f32, (N,)> {
        x
    }
}
"#;
    let file = check_source(src).expect("valid syntax");
    let found: Vec<(String, (usize, usize))> = file
        .errors
        .iter()
        .map(|d| (d.message.clone(), d.line_col()))
        .collect();
    let expected = [
        ("a struct", (2, 1)),
        ("a method or associated function", (6, 5)),
        ("a trait method", (13, 5)),
        ("a module", (17, 1)),
        ("a constant", (20, 1)),
        ("a function declared inside another function", (29, 5)),
    ];
    let expected: Vec<(String, (usize, usize))> = expected
        .iter()
        .map(|(what, at)| {
            (
                format!("`#[moge::kernel]` applies to a free function, not to {what}"),
                *at,
            )
        })
        .collect();
    assert_eq!(found, expected);
    let names: Vec<&str> = file.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["fine"]);
}
