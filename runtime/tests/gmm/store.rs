//! The stored results: routed rows (given or gathered), dense rows, corrupt tables, f32 stores.

use super::*;

/// Runs the routed GEMM (rows given, or gathered from `x`) on the emulator and checks it against the
/// interpreter (bit for bit), an f64 loop (bf16 rounding) and the GM byte count of its tiling.
fn check_routed(dt: Half, r: &Routing, h: usize, n: usize, gather: bool, seed: u64) {
    let what = format!(
        "{} T={} K={} E={} H={h} N={n} gather={gather}",
        dt.name(),
        r.t,
        r.ks,
        r.e
    );
    let target = Target::ascend910b2();
    let sp = spec(dt, gather, r, h as u64, n as u64, false);
    let program = lower_grouped_matmul(&sp, &target).unwrap_or_else(|e| panic!("{what}: {e}"));
    let plan = plan_gmm(&sp, &target).unwrap();
    let mut rng = Rng(seed);
    let x = values(dt, &mut rng, r.t * h);
    let w = values(dt, &mut rng, r.e * h * n);
    let (order, offsets) = r.table();
    let rows = r.t * r.ks;
    let a: Vec<f32> = order
        .iter()
        .flat_map(|&p| x[(p as usize / r.ks) * h..][..h].to_vec())
        .collect();
    let inputs = [
        ("x", half_bytes(dt, &x)),
        ("a", half_bytes(dt, &a)),
        ("w", half_bytes(dt, &w)),
        ("r_order", i32_bytes(&order)),
        ("r_offsets", i32_bytes(&offsets)),
    ];
    let report = launch(&program, r.t, &inputs, CoreType::Aic);
    let got = out_half(dt, &report, "y");
    assert_eq!(got.len(), rows * n, "{what}");
    let want = interpret_with(dt, r, h, n, &x, &w, false);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: element {i}: {g} vs {w}");
    }
    // f64 loop: row d of expert e is a[d] @ w[e]; the rounding of the result to dt plus
    // the f32 accumulation of h products.
    for ex in 0..r.e {
        for d in offsets[ex] as usize..offsets[ex + 1] as usize {
            for j in 0..n {
                let (mut s, mut mag) = (0.0f64, 0.0f64);
                for kk in 0..h {
                    let p = f64::from(a[d * h + kk]) * f64::from(w[(ex * h + kk) * n + j]);
                    s += p;
                    mag += p.abs();
                }
                let g = f64::from(got[d * n + j]);
                let tol = s.abs() * dt.eps() + mag * h as f64 * 2f64.powi(-24) + 1e-30;
                assert!((g - s).abs() <= tol, "{what}: ({d}, {j}): {g} vs {s}");
            }
        }
    }
    // GM bytes read: per used expert, its weights once per m-tile and its A rows once per n-tile
    // (through `order` when gathered: one i32 per row and K stage), plus the two offsets per item.
    let e2 = 2u64;
    let tiles_n = (n as u64).div_ceil(plan.n);
    let stages = (h as u64).div_ceil(plan.depth * plan.k);
    let mut want_read = r.e as u64 * tiles_n * 2 * 4;
    for ex in 0..r.e {
        let re = r.rows_of(ex) as u64;
        want_read += re.div_ceil(plan.m) * (h * n) as u64 * e2;
        want_read += tiles_n * re * h as u64 * e2;
        if gather {
            want_read += tiles_n * re * stages * 4;
        }
    }
    assert_eq!(report.gm_bytes_read, want_read, "{what}: GM bytes read");
    assert_eq!(
        report.gm_bytes_written,
        (rows * n * 2) as u64,
        "{what}: GM bytes written"
    );
}

#[test]
fn routed_rows_with_empty_experts_and_ragged_row_counts_match_the_interpreter() {
    // Expert 1 empty, expert 0 with 17 rows, 2 with 15, 3 with 2; K and N not tile multiples.
    let r = routing(17, 2, 4, |t, s| {
        if s == 0 {
            0
        } else if t < 15 {
            2
        } else {
            3
        }
    });
    check_routed(BF, &r, 40, 72, false, 1);
    // One expert with all rows.
    check_routed(BF, &routing(33, 1, 4, |_, _| 2), 64, 48, false, 2);
    check_routed(BF, &ragged(), 200, 300, false, 3);
    check_routed(Half::F16, &ragged(), 200, 300, false, 3);
    // N = 600: one 512-column tile (all of L0C) and a tail of 88.
    check_routed(BF, &ragged(), 200, 600, false, 4);
}

#[test]
fn the_gather_prologue_reads_each_row_of_x_through_order() {
    let r = routing(17, 2, 4, |t, s| {
        if s == 0 {
            0
        } else if t < 15 {
            2
        } else {
            3
        }
    });
    check_routed(BF, &r, 40, 72, true, 4);
    check_routed(BF, &ragged(), 200, 300, true, 5);
}

#[test]
fn sixty_four_experts_mostly_empty_and_no_tokens() {
    check_routed(BF, &decode64(5), 96, 80, true, 6);
    check_routed(BF, &decode64(3), 96, 80, false, 7);
    check_routed(BF, &decode64(0), 96, 80, true, 8);
    check_routed(BF, &decode64(0), 96, 80, false, 9);
}

/// The interpreter's `matmul(a, w)`.
fn interpret_dense(m: usize, h: usize, n: usize, a: &[f32], w: &[f32], swiglu: bool) -> Vec<f32> {
    let half = n / 2;
    let (tail, ret, out_n) = if swiglu {
        (
            format!("\n  v3 = swiglu v2 : bf16[{m}, {half}]"),
            "v3",
            half,
        )
    } else {
        (String::new(), "v2", n)
    };
    let text = format!(
        "kernel d(a: bf16[{m}, {h}], w: bf16[{h}, {n}]) -> (y: bf16[{m}, {out_n}]) {{
  v0 = param 0 : bf16[{m}, {h}]
  v1 = param 1 : bf16[{h}, {n}]
  v2 = matmul v0, v1 : bf16[{m}, {n}]{tail}
  return y = {ret}
}}"
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let inputs = [
        Tensor::from_f32(DType::BF16, vec![m, h], a.to_vec()).unwrap(),
        Tensor::from_f32(DType::BF16, vec![h, n], w.to_vec()).unwrap(),
    ];
    let out = eval(&kernel, &inputs).unwrap_or_else(|e| panic!("{e}"));
    out[0].as_f32().unwrap().to_vec()
}

/// The dense GEMM (the shared expert) of `m` rows: bit-equal to the interpreter's matmul (and SwiGLU
/// when `swiglu`), and without the epilogue its GM reads are the weights once per m-tile and A once per
/// n-tile.
fn check_dense(m: usize, h: usize, n: usize, swiglu: bool, seed: u64) {
    let what = format!("dense M={m} H={h} N={n} swiglu={swiglu}");
    let target = Target::ascend910b2();
    let t = HostExpr::dim("T");
    let sp = GmmSpec {
        program: "shared",
        a: GmmA::Rows { a: "x" },
        w: "w_shared",
        rows: GmmRows::Dense,
        out: if swiglu {
            GmmOut::Swiglu { act: "y" }
        } else {
            GmmOut::Store {
                c: "y",
                dtype: DType::BF16,
            }
        },
        k: h as u64,
        n: n as u64,
        dtype: CubeDType::Bf16,
        total_rows: t.clone(),
        tokens: t,
    };
    let program = lower_grouped_matmul(&sp, &target).unwrap_or_else(|e| panic!("{what}: {e}"));
    let plan = plan_gmm(&sp, &target).unwrap();
    let mut rng = Rng(seed);
    let a = values(BF, &mut rng, m * h);
    let w = values(BF, &mut rng, h * n);
    let inputs = [("x", half_bytes(BF, &a)), ("w_shared", half_bytes(BF, &w))];
    let core = if swiglu {
        CoreType::MixAic1_2
    } else {
        CoreType::Aic
    };
    let report = launch(&program, m, &inputs, core);
    let got = out_half(BF, &report, "y");
    let want = interpret_dense(m, h, n, &a, &w, swiglu);
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: element {i}: {g} vs {w}");
    }
    if swiglu {
        return;
    }
    let (m, h, n) = (m as u64, h as u64, n as u64);
    let want_read = (m.div_ceil(plan.m) * h * n + n.div_ceil(plan.n) * m * h) * 2;
    assert_eq!(report.gm_bytes_read, want_read, "{what}: GM bytes read");
}

#[test]
fn dense_rows_of_the_shared_expert_match_the_interpreter() {
    for (m, seed) in [(0, 10), (1, 11), (37, 12), (300, 13)] {
        check_dense(m, 200, 300, false, seed);
    }
    for (m, seed) in [(0, 14), (37, 15), (300, 16)] {
        check_dense(m, 200, 160, true, seed);
    }
}

/// Offsets out of range and decreasing, and slots of `order` out of range: the values read on the
/// device are clamped before they address GM, so the kernels run without an out-of-bounds access
/// (the emulator checks every one); rows of an intact expert are still right.
#[test]
fn corrupt_tables_never_address_gm_outside_the_buffers() {
    let (t, ks, e, h, n) = (5usize, 8usize, 4usize, 32usize, 48usize);
    let rows = t * ks;
    let r = Routing {
        t,
        ks,
        e,
        ids: vec![0; rows],
    };
    // Expert 0: rows 0..3; 1: none; 2: rows 3..40 (its end is past the rows); 3: starts past them.
    let offsets = [-5, 3, 3, 1000, 2000];
    let order: Vec<i32> = (0..rows as i32)
        .map(|d| [-7, 99_999, i32::MIN, i32::MAX, d][d as usize % 5])
        .collect();
    let mut rng = Rng(40);
    let x = values(BF, &mut rng, t * h);
    let a = values(BF, &mut rng, rows * h);
    let w = values(BF, &mut rng, e * h * n);
    let weights: Vec<f32> = (0..rows).map(|_| rng.unit()).collect();
    let inputs = [
        ("x", half_bytes(BF, &x)),
        ("a", half_bytes(BF, &a)),
        ("w", half_bytes(BF, &w)),
        ("r_order", i32_bytes(&order)),
        ("r_offsets", i32_bytes(&offsets)),
        ("r_weights", f32_bytes(&weights)),
    ];
    let target = Target::ascend910b2();
    for gather in [false, true] {
        let sp = spec(BF, gather, &r, h as u64, n as u64, false);
        let program = lower_grouped_matmul(&sp, &target).unwrap();
        let report = launch(&program, t, &inputs, CoreType::Aic);
        if !gather {
            let got = out_half(BF, &report, "y");
            for d in 0..3 {
                for j in 0..n {
                    let s: f64 = (0..h)
                        .map(|k| f64::from(a[d * h + k]) * f64::from(w[k * n + j]))
                        .sum();
                    let g = f64::from(got[d * n + j]);
                    assert!(
                        (g - s).abs() <= s.abs() * BF.eps() + 1e-3,
                        "({d}, {j}): {g} vs {s}"
                    );
                }
            }
        }
    }
    let mut sp = spec(BF, true, &r, h as u64, n as u64, false);
    sp.out = GmmOut::Combine {
        weights: "r_weights",
        order: "r_order",
        k_slots: ks as u64,
        acc: "acc",
    };
    let program = lower_grouped_matmul(&sp, &target).unwrap();
    launch_with(&program, t, &inputs, &[("acc", vec![0; t * n * 4])]);
}

/// `Store` in f32: the accumulator as is. Rounded to bf16 it is the bf16 store bit for bit (Fixpipe
/// rounds the same accumulator), and it is within the f32 accumulation error of the f64 product.
#[test]
fn an_f32_store_is_the_unrounded_accumulator() {
    let r = ragged();
    let (h, n) = (200usize, 72usize);
    let target = Target::ascend910b2();
    let mut sp = spec(BF, true, &r, h as u64, n as u64, false);
    sp.out = GmmOut::Store {
        c: "y",
        dtype: DType::F32,
    };
    let program = lower_grouped_matmul(&sp, &target).unwrap();
    let mut rng = Rng(50);
    let x = values(BF, &mut rng, r.t * h);
    let w = values(BF, &mut rng, r.e * h * n);
    let (order, offsets) = r.table();
    let inputs = [
        ("x", half_bytes(BF, &x)),
        ("w", half_bytes(BF, &w)),
        ("r_order", i32_bytes(&order)),
        ("r_offsets", i32_bytes(&offsets)),
    ];
    let report = launch(&program, r.t, &inputs, CoreType::Aic);
    let arg = report.args.iter().find(|a| a.name == "y").unwrap();
    let got = bytes_f32(&arg.bytes);
    let rounded = interpret(&r, h, n, &x, &w);
    assert_eq!(got.len(), rounded.len());
    for ex in 0..r.e {
        for d in offsets[ex] as usize..offsets[ex + 1] as usize {
            let tok = order[d] as usize / r.ks;
            for j in 0..n {
                let g = got[d * n + j];
                assert_eq!(
                    bf16::from_f32(g).to_f32().to_bits(),
                    rounded[d * n + j].to_bits(),
                    "({d}, {j})"
                );
                let (mut s, mut mag) = (0.0f64, 0.0f64);
                for k in 0..h {
                    let p = f64::from(x[tok * h + k]) * f64::from(w[(ex * h + k) * n + j]);
                    s += p;
                    mag += p.abs();
                }
                let tol = mag * h as f64 * 2f64.powi(-24) + 1e-30;
                assert!((f64::from(g) - s).abs() <= tol, "({d}, {j}): {g} vs {s}");
            }
        }
    }
}
