//! Edge cases of the cube path found by the acceptance test: one tensor as both operands, K = 0, a
//! dynamic K or N, and the schedule hints of a MIX kernel (block dim stated on the epilogue, two
//! statements disagreeing, one key given twice).

use super::mix::lower_mix_group;
use super::*;
use crate::graph::parse::parse_kernel;
use crate::kir::v2::{check_hazards, verify_program, Program};
use crate::schedule::LowerError;

fn first_matmul(k: &Kernel) -> Op {
    *k.order
        .iter()
        .find(|&&op| matches!(k.ops[op].kind, OpKind::MatMul))
        .unwrap()
}

/// The names of the first kernel's GM parameters.
fn param_names(p: &Program) -> Vec<String> {
    let k = p.kernels.values().next().unwrap();
    k.params.iter().map(|&g| p.gm[g].name.clone()).collect()
}

/// `lower_mix_group` of `kernel` with every non-param op after the matmul as the epilogue.
fn lower_mix(text: &str) -> Result<Program, LowerError> {
    let k = parse_kernel(text).unwrap_or_else(|e| panic!("{e}"));
    let op = first_matmul(&k);
    let epilogue: Vec<Op> = k
        .order
        .iter()
        .copied()
        .filter(|&o| o != op && !matches!(k.ops[o].kind, OpKind::Param { .. }))
        .collect();
    lower_mix_group(
        &k,
        op,
        &epilogue,
        &Target::ascend910b2(),
        Default::default(),
    )
}

#[test]
fn one_tensor_as_both_operands_is_one_kernel_parameter() {
    // `matmul(w, w)`: the AIC kernel used to declare `GM_ADDR w` twice (C++ that does not compile).
    let text = "kernel sq<K = 32>(w: bf16[32, 32]) -> (c: bf16[32, 32]) {
  v0 = param 0 : bf16[32, 32]
  v1 = matmul v0, v0 : bf16[32, 32]
  return c = v1
}";
    let k = parse_kernel(text).unwrap();
    let p = lower_matmul_kernel(
        &k,
        first_matmul(&k),
        &Target::ascend910b2(),
        Default::default(),
    )
    .unwrap();
    verify_program(&p, &Target::ascend910b2()).unwrap();
    check_hazards(p.kernels.values().next().unwrap()).unwrap();
    assert_eq!(param_names(&p), ["w", "c"]);
    assert_eq!(p.gm.len(), 2, "one GM buffer for w");
    // The MIX path, and an epilogue that reads the operand too: still one parameter per tensor.
    let p = lower_mix(
        "kernel xw(x: bf16[32, 32]) -> (y: bf16[32, 32]) {
  v0 = param 0 : bf16[32, 32]
  v1 = matmul v0, v0 : bf16[32, 32]
  v2 = relu v1 : bf16[32, 32]
  v3 = add v2, v0 : bf16[32, 32]
  return y = v3
}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // (`mm` is the workspace the AIC writes its tiles to.)
    assert_eq!(param_names(&p), ["x", "mm", "y"]);
}

#[test]
fn k_zero_is_refused_at_the_op() {
    // Every output is an empty sum; the AIC kernel would Fixpipe an accumulator no Mmad wrote.
    let text = "kernel mm(a: bf16[M, 0], b: bf16[0, 16]) -> (c: bf16[M, 16]) {
  dyn M
  v0 = param 0 : bf16[M, 0]
  v1 = param 1 : bf16[0, 16]
  v2 = matmul v0, v1 : bf16[M, 16] @9:5-9:17
  return c = v2
}";
    let k = parse_kernel(text).unwrap();
    let e = check_matmuls(&k, &Target::ascend910b2()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`matmul` v2 = matmul v0, v1 at line 9, column 5: K = 0: every element of the product is an empty sum; the cube path needs K >= 1 (no `Mmad` would write the accumulator)"
    );
}

#[test]
fn a_dynamic_k_or_n_is_named_with_the_fix() {
    // The message used to read "dim dimension symbol `K` has no value is unbound or out of range";
    // `check_matmuls` gives every dynamic dim a value, so it used to pass and the lowering failed.
    let text = |n: &str| {
        format!(
            "kernel mm(a: bf16[M, Q], b: bf16[Q, {n}]) -> (c: bf16[M, {n}]) {{
  dyn M
  dyn Q
  dyn R
  v0 = param 0 : bf16[M, Q]
  v1 = param 1 : bf16[Q, {n}]
  v2 = matmul v0, v1 : bf16[M, {n}] @9:5-9:17
  return c = v2
}}"
        )
    };
    let k = parse_kernel(&text("16")).unwrap();
    let e = check_matmuls(&k, &Target::ascend910b2()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`matmul` v2 = matmul v0, v1 at line 9, column 5: needs a static K and N, and its K is the dynamic dim `Q`: make it a const generic (`const Q: usize`) and bind it with `--set Q=...`"
    );
    let e = lower_matmul_kernel(
        &k,
        first_matmul(&k),
        &Target::ascend910b2(),
        Default::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("its K is the dynamic dim `Q`"),
        "{e}"
    );
    let k = parse_kernel(
        &text("R")
            .replace("[M, Q]", "[M, 16]")
            .replace("[Q, R]", "[16, R]"),
    )
    .unwrap();
    let e = check_matmuls(&k, &Target::ascend910b2()).unwrap_err();
    assert!(
        e.to_string().contains("its N is the dynamic dim `R`"),
        "{e}"
    );
}

#[test]
fn one_key_given_twice_on_a_matmul_is_refused() {
    // Graph IR from elsewhere (the frontend refuses a hint given twice): the values must agree.
    let h = |m: i64| Hint {
        name: "tile".to_string(),
        args: vec![("m".to_string(), m)],
    };
    assert_eq!(tile_request(&[h(16), h(16)]).unwrap().m, Some(16));
    let e = tile_request(&[h(16), h(32)]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "#[tile(m = 32)] contradicts another value of the same key"
    );
}

/// `y = relu(a @ b)` with `mm` hints on the matmul and `ep` on the ReLU.
fn mix_with(mm: &str, ep: &str) -> Result<Program, LowerError> {
    lower_mix(&format!(
        "kernel h(a: bf16[M, 64], b: bf16[64, 64]) -> (y: bf16[M, 64]) {{
  dyn M
  v0 = param 0 : bf16[M, 64]
  v1 = param 1 : bf16[64, 64]
  {mm}
  v2 = matmul v0, v1 : bf16[M, 64] @3:5-3:17
  {ep}
  v3 = relu v2 : bf16[M, 64] @5:13-5:20
  return y = v3
}}"
    ))
}

fn block_dim(p: &Program) -> String {
    format!("{:?}", p.kernels.values().next().unwrap().block_dim)
}

#[test]
fn the_block_dim_of_a_mix_kernel_comes_from_either_statement_and_must_agree() {
    let plain = block_dim(&mix_with("", "").unwrap());
    assert!(plain.contains("24"), "all AI cores by default: {plain}");
    // On the epilogue (it used to be dropped: 24 cores) or on the matmul: 2 AI cores.
    for (mm, ep) in [("", "#[block_dim(n = 2)]"), ("#[block_dim(n = 2)]", "")] {
        let b = block_dim(&mix_with(mm, ep).unwrap_or_else(|e| panic!("{e}")));
        assert!(b.contains("Int(2)") && !b.contains("24"), "{mm}{ep}: {b}");
    }
    let same = mix_with("#[block_dim(n = 2)]", "#[block_dim(n = 2)]").unwrap();
    assert_eq!(
        block_dim(&same),
        block_dim(&mix_with("", "#[block_dim(n = 2)]").unwrap())
    );
    let e = mix_with("#[block_dim(n = 2)]", "#[block_dim(n = 3)]").unwrap_err();
    assert_eq!(
        e.to_string(),
        "schedule hint at line 5, column 13: block_dim(n = 3) contradicts block_dim(n = 2) on another statement of the same device kernel (one MIX kernel: the matmul and its epilogue)"
    );
    let e = mix_with("", "#[block_dim(n = 30)]").unwrap_err();
    assert!(
        e.to_string().contains("at line 5, column 13")
            && e.to_string()
                .contains("block_dim(n = 30) of a MIX kernel counts AI cores")
            && e.to_string().contains("has 24"),
        "{e}"
    );
}

#[test]
fn a_tile_n_narrower_than_the_rows_is_an_epilogue_refusal_not_overridden() {
    // The MIX kernel needs whole rows per tile; it used to replace the stated n = 32 by N = 64. The
    // refusal is the kind the program assembly answers with two kernels (which honor the hint).
    let e = mix_with("#[tile(m = 32, n = 32, k = 32)]", "").unwrap_err();
    match &e {
        LowerError::Cube(c) => assert!(
            matches!(&*c.problem, CubeProblem::Epilogue(why) if why.contains("#[tile(n = 32)]") && why.contains("64 columns")),
            "{e}"
        ),
        other => panic!("{other}"),
    }
    mix_with("#[tile(m = 32, n = 64, k = 32)]", "").unwrap_or_else(|e| panic!("{e}"));
}
