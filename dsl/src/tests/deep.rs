//! Deep and long input: nesting past the limit is a located error, long flat chains check, and
//! nothing overflows the stack. (`tests/fuzz_frontend.rs` generates many more of these.)

use moge_lower::graph::OpKind;

use crate::{check_source, NESTING_LIMIT};

/// A one-parameter kernel whose body is `body` (on line 3, from column 5).
fn kernel(body: &str) -> String {
    format!("#[kernel]\nfn k(a: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{\n    {body}\n}}\n")
}

/// The body's braces are one level (the signature's `->` ends where the body begins): the first
/// token of the body is at depth 2, so the `NESTING_LIMIT`th nesting token is the first one over
/// the limit.
const BODY_LEVELS: usize = 1;

/// The line and column (1-based) of the error `check_source` gives for `src`, which must be a
/// nesting error.
fn nesting_error_at(src: &str) -> (usize, usize) {
    let diag = check_source(src).expect_err("the input nests past the limit");
    assert_eq!(
        diag.message,
        format!("nested too deeply (limit {NESTING_LIMIT})")
    );
    diag.line_col()
}

/// The messages of every error `check_source` reports for `src`, in any kernel or the file.
fn messages(src: &str) -> Vec<String> {
    let file = match check_source(src) {
        Ok(file) => file,
        Err(diag) => return vec![diag.message],
    };
    let mut out: Vec<String> = file.errors.iter().map(|d| d.message.clone()).collect();
    for kernel in &file.kernels {
        if let Err(diags) = &kernel.result {
            out.extend(diags.iter().map(|d| d.message.clone()));
        }
    }
    out
}

#[test]
fn nesting_past_the_limit_points_at_the_first_token_over_it() {
    // (opening text per level, closing text per level, width of the opening in characters, offset
    // of the nesting token within it).
    let kinds: &[(&str, &str, usize, usize)] = &[
        ("(", ")", 1, 0),
        ("-", "", 1, 0),
        ("exp(", ")", 4, 3),
        ("[", "]", 1, 0),
        ("!", "", 1, 0),
        ("&", "", 1, 0),
        ("*", "", 1, 0),
        ("- (", ")", 3, 0),
    ];
    for &(open, close, width, offset) in kinds {
        for levels in [NESTING_LIMIT, 5_000, 50_000] {
            let body = format!("{}a{}", open.repeat(levels), close.repeat(levels));
            let (line, col) = nesting_error_at(&kernel(&body));
            // `- (` nests twice per repetition.
            let per = if open == "- (" { 2 } else { 1 };
            let over = NESTING_LIMIT - BODY_LEVELS + 1; // the first nesting token over the limit, 1-based
            let repetition = (over - 1) / per;
            let within = if per == 2 && over.is_multiple_of(2) {
                2
            } else {
                offset
            };
            assert_eq!(
                (line, col),
                (3, 5 + repetition * width + within),
                "`{open}` nested {levels} times"
            );
        }
    }
}

#[test]
fn nesting_just_under_the_limit_checks() {
    // 100 parentheses and 100 unary minus signs: far more than a kernel needs, still accepted.
    let body = format!(
        "{}a{} + {}a",
        "(".repeat(100),
        ")".repeat(100),
        "-".repeat(100)
    );
    let file = check_source(&kernel(&body)).expect("valid syntax within the limit");
    assert!(
        file.kernels[0].result.is_ok(),
        "{:?}",
        file.kernels[0].result
    );
}

#[test]
fn the_documented_limit_is_exact() {
    // The body's braces are level 1: `NESTING_LIMIT - 1` parentheses or prefix `-` inside reach
    // level NESTING_LIMIT and check; one more is over it.
    for (open, close) in [("(", ")"), ("-", ""), ("[", "]")] {
        let at = |n: usize| kernel(&format!("{}a{}", open.repeat(n), close.repeat(n)));
        let limit = NESTING_LIMIT - BODY_LEVELS;
        assert!(
            check_source(&at(limit)).is_ok(),
            "`{open}` x{limit} is at the limit"
        );
        assert_eq!(
            messages(&at(limit + 1)),
            [format!("nested too deeply (limit {NESTING_LIMIT})")],
            "`{open}` x{} is over the limit",
            limit + 1
        );
    }
    // A `let` initializer is not nested in the statement; `a = b = c` chains are.
    let with_let = |n: usize| {
        kernel(&format!(
            "let y = {}a{};\n    y",
            "(".repeat(n),
            ")".repeat(n)
        ))
    };
    assert!(check_source(&with_let(NESTING_LIMIT - BODY_LEVELS)).is_ok());
    assert!(check_source(&with_let(NESTING_LIMIT - BODY_LEVELS + 1)).is_err());
    // A closure's body after `-> T` counts the closure, not the arrow.
    let closure = |n: usize| {
        kernel(&format!(
            "|x| -> f32 {{ {}a{} }}",
            "(".repeat(n),
            ")".repeat(n)
        ))
    };
    assert!(check_source(&closure(NESTING_LIMIT - 3)).is_ok());
    assert!(check_source(&closure(NESTING_LIMIT - 2)).is_err());
}

#[test]
fn other_recursive_constructs_are_bounded() {
    // Constructs outside the DSL that syn parses recursively: each, repeated 20,000 times, must
    // give the nesting error, not a stack overflow.
    let cases = [
        format!("{}a", "a = ".repeat(20_000)),
        format!("{}a", "|x| ".repeat(20_000)),
        format!("{}a", "return ".repeat(20_000)),
        format!(
            "if a {{ a }}{} else {{ a }}",
            " else if a { a }".repeat(20_000)
        ),
        format!(
            "let b: {}f32{} = a; b",
            "Vec<".repeat(20_000),
            ">".repeat(20_000)
        ),
        format!("let b: {}f32 = a; b", "fn() -> ".repeat(20_000)),
        format!("{}a", "..".repeat(20_000)),
        format!("{}a", "&mut ".repeat(20_000)),
        format!("{}a{}", "{".repeat(20_000), "}".repeat(20_000)),
    ];
    for body in &cases {
        let messages = messages(&kernel(body));
        assert_eq!(
            messages,
            [format!("nested too deeply (limit {NESTING_LIMIT})")],
            "{}",
            &body[..60]
        );
    }
    // Nesting in the signature and between items counts too.
    let deep_type = format!(
        "#[kernel]\nfn k(a: {}Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{ a }}\n",
        "&".repeat(10_000)
    );
    assert_eq!(nesting_error_at(&deep_type).0, 2);
    let deep_module = format!(
        "{}fn f() {{}}{}",
        "mod m { ".repeat(5_000),
        "}".repeat(5_000)
    );
    assert_eq!(nesting_error_at(&deep_module).0, 1);
}

#[test]
fn long_flat_chains_check() {
    for terms in [10_000, 100_000] {
        let body = vec!["a"; terms].join(" + ");
        let file = check_source(&kernel(&body)).expect("valid syntax");
        let graph = file.kernels[0].result.as_ref().expect("a long sum checks");
        let adds = graph
            .ops
            .values()
            .filter(|op| matches!(op.kind, OpKind::Binary(_)))
            .count();
        assert_eq!(adds, terms - 1, "{terms} terms");
    }
    // Prefix operators inside a long chain do not accumulate: each `-` ends at its operand.
    let body = vec!["-a"; 10_000].join(" * ");
    let file = check_source(&kernel(&body)).expect("valid syntax");
    assert!(file.kernels[0].result.is_ok());
    // A turbofish opens and closes its `<`.
    let body = vec!["cast::<f32>(a)"; 10_000].join(" - ");
    let file = check_source(&kernel(&body)).expect("valid syntax");
    assert!(file.kernels[0].result.is_ok());
    // Many statements.
    let mut body = String::new();
    for _ in 0..10_000 {
        body.push_str("let a = a + 1.0;\n    ");
    }
    body.push('a');
    let file = check_source(&kernel(&body)).expect("valid syntax");
    assert!(file.kernels[0].result.is_ok());
}

#[test]
fn long_chains_outside_the_dsl_are_located_errors() {
    let method_chain = format!("a{}", ".exp()".repeat(100_000));
    assert!(messages(&kernel(&method_chain))[0].starts_with("method calls (`.exp(..)`)"));
    let logical = vec!["a"; 100_000].join(" && ");
    assert_eq!(
        messages(&kernel(&logical)),
        ["the logical operator `&&` is not supported in a kernel"]
    );
    let casts = format!("a{}", " as f32".repeat(100_000));
    assert_eq!(
        messages(&kernel(&casts)),
        ["`as` casts are not supported in a kernel"]
    );
}

#[test]
fn dim_expressions_are_limited() {
    let dims = |terms: usize| vec!["T"; terms].join(" + ");
    // 32 names and 31 `+`: 63 nodes, within the limit of 64.
    let ok = format!(
        "#[kernel]\nfn k(a: Tensor<f32, {{({},)}}>) -> Tensor<f32, {{({},)}}> {{ a }}\n",
        dims(32),
        dims(32)
    );
    let file = check_source(&ok).expect("valid syntax");
    assert!(
        file.kernels[0].result.is_ok(),
        "{:?}",
        file.kernels[0].result
    );
    let long = dims(33);
    let src =
        format!("#[kernel]\nfn k(a: Tensor<f32, {{({long},)}}>) -> Tensor<f32, (T,)> {{ a }}\n");
    let file = check_source(&src).expect("valid syntax");
    let diags = file.kernels[0].result.as_ref().expect_err("too large");
    assert_eq!(
        diags[0].message,
        "this dim expression is too large (limit 64 names, literals and operators)"
    );
    // It points at the whole expression: line 2, from the first `T` (column 23).
    assert_eq!(diags[0].line_col(), (2, 23));
    // In a call's dim argument too, and with products (whose canonical form grows fastest).
    let product = vec!["(T + 1)"; 40].join(" * ");
    let src = kernel(&format!("reshape(a, ({product},))"));
    assert!(messages(&src)
        .iter()
        .any(|m| m.starts_with("this dim expression is too large")));
}

#[test]
fn shapes_and_derived_dims_are_limited() {
    // A rank of 65 in a parameter type: one error, and no follow-on error for its dims.
    let dims = vec!["T"; 65].join(", ");
    let src =
        format!("#[kernel]\nfn k(a: Tensor<f32, ({dims})>) -> Tensor<f32, (T,)> {{ sum(a, 0) }}\n");
    assert_eq!(
        messages(&src),
        ["this shape has 65 dims, more than the limit of 64"]
    );
    // 64 dims are fine.
    let dims = vec!["T"; 64].join(", ");
    let src =
        format!("#[kernel]\nfn k(a: Tensor<f32, ({dims})>) -> Tensor<f32, ({dims})> {{ a }}\n");
    assert!(messages(&src).is_empty());
    // A `concat` of 65 tensors.
    let src = kernel(&format!("concat(({}), 0)", vec!["a"; 65].join(", ")));
    assert_eq!(
        messages(&src),
        ["`concat` takes at most 64 tensors, found 65"]
    );
    // A dim that grows from op to op: 300 distinct dims concatenated one by one.
    let n = 300;
    let params: Vec<String> = (0..n)
        .map(|i| format!("a{i}: Tensor<f32, (T{i},)>"))
        .collect();
    let mut body = String::from("let x = a0;\n");
    for i in 1..n {
        body.push_str(&format!("    let x = concat((x, a{i}), 0);\n"));
    }
    let src = format!(
        "#[kernel]\nfn k({}) -> Tensor<f32, (T0,)> {{\n    {body}    let _y = x;\n    a0\n}}\n",
        params.join(", ")
    );
    let found = messages(&src);
    assert_eq!(
        found,
        ["the shapes of `concat` give a dim of more than 64 terms or operators"]
    );
}

/// Frontend steps within which an exponentially expanding dim is refused (the 65,536 terms are never
/// produced; counted work, see `crate::work`).
const REFUSAL_STEPS: u64 = 5_000;

#[test]
fn dims_that_expand_exponentially_are_refused() {
    // 16 factors `(S0 + S1) * (S2 + S3) * ...` (63 nodes as written) multiply out to 65,536
    // terms: refused once the expansion passes the limit, quickly.
    let factors: Vec<String> = (0..16)
        .map(|i| format!("(S{} + S{})", 2 * i, 2 * i + 1))
        .collect();
    let shape = factors.join(" * ");
    let src =
        format!("#[kernel]\nfn k(a: Tensor<f32, {{({shape},)}}>) -> Tensor<f32, (T,)> {{ a }}\n");
    let (found, work) = crate::work::measured(|| messages(&src));
    eprintln!("refused after {work} frontend steps");
    assert!(work < REFUSAL_STEPS, "{work} steps");
    assert_eq!(
        found[0],
        "this dim expression expands to more than 64 terms or operators"
    );
    // Sixteen small dims whose product (the element count `reshape` compares) has 65,536 terms.
    let dims: Vec<String> = (0..16)
        .map(|i| format!("S{} + S{}", 2 * i, 2 * i + 1))
        .collect();
    let src = format!(
        "#[kernel]\nfn k(a: Tensor<f32, {{({})}}>, t: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{\n    let _r = reshape(a, (T,));\n    t\n}}\n",
        dims.join(", ")
    );
    let (found, work) = crate::work::measured(|| messages(&src));
    eprintln!("refused after {work} frontend steps");
    assert!(work < REFUSAL_STEPS, "{work} steps");
    assert_eq!(
        found,
        ["the element count of this shape multiplies out to more than 64 terms, too many to compare symbolically"]
    );
}

/// Checks `src` and renders every error, as `mogec check` does; returns the rendered text.
fn check_and_render(src: &str) -> String {
    let file = check_source(src).expect("valid syntax");
    let mut out = crate::render_diagnostics("k.rs", src, &file.errors);
    for kernel in &file.kernels {
        if let Err(diags) = &kernel.result {
            out.push_str(&crate::render_diagnostics("k.rs", src, diags));
        }
    }
    out
}

#[test]
fn repeated_errors_are_capped_and_collected_in_linear_time() {
    let source = |n: usize| {
        format!(
            "#[kernel]\n{}\nfn k(a: Tensor<f32, (T,)>) -> Tensor<f32, (T,)> {{ a }}\n",
            "#[allow(x)]".repeat(n)
        )
    };
    let small = source(2_500);
    let rendered = check_and_render(&small);
    // The first MAX_DIAGNOSTICS blocks, then one line counting the rest.
    assert_eq!(
        rendered.matches("is not supported on a kernel").count(),
        crate::MAX_DIAGNOSTICS
    );
    assert!(
        rendered.contains(&format!(
            "error: {} more errors not shown (the first {} are above)",
            2_500 - crate::MAX_DIAGNOSTICS,
            crate::MAX_DIAGNOSTICS
        )),
        "{}",
        &rendered[rendered.len().saturating_sub(300)..]
    );
    // Exactly MAX_DIAGNOSTICS errors: no count line.
    let exact = check_and_render(&source(crate::MAX_DIAGNOSTICS));
    assert!(!exact.contains("more error"));
    // Eight times the errors on one line of eight times the length: linear is 8 times the work,
    // quadratic 64 times (counted work, deterministic: see `crate::work`).
    let large = source(20_000);
    let work = |src: &str| crate::work::measured(|| check_and_render(src)).1;
    let (small, large) = (work(&small), work(&large));
    let ratio = large as f64 / small as f64;
    eprintln!("repeated errors: {small} steps, eight times the errors: {large} (x{ratio:.2})");
    assert!(
        (6.0..=10.0).contains(&ratio),
        "2,500 errors: {small} steps; 20,000: {large} (x{ratio:.2})"
    );
}
