//! The MIX epilogues: SwiGLU and the weighted combine.

use super::*;

/// The routed GEMM with the SwiGLU epilogue (a MIX kernel): `act = swiglu(grouped_matmul(..))` of the
/// interpreter bit for bit (the vector ops round as its f32 arithmetic does), and the GM traffic of the
/// tiling.
fn check_swiglu(dt: Half, r: &Routing, h: usize, i: usize, gather: bool, seed: u64) {
    let n = 2 * i;
    let what = format!(
        "swiglu {} T={} K={} E={} H={h} I={i} gather={gather}",
        dt.name(),
        r.t,
        r.ks,
        r.e
    );
    let target = Target::ascend910b2();
    let sp = spec(dt, gather, r, h as u64, n as u64, true);
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
    let report = launch(&program, r.t, &inputs, CoreType::MixAic1_2);
    let got = out_half(dt, &report, "y");
    assert_eq!(got.len(), rows * i, "{what}");
    let want = interpret_with(dt, r, h, n, &x, &w, true);
    // Bit-equal: the emulator's vector ops round as the interpreter's f32 arithmetic does.
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}: element {k}: {g} vs {w}");
    }
    // The output once, and the workspace: both rounded halves of every row once (2 I per row).
    assert_eq!(
        report.gm_bytes_written,
        (rows * i * 2 + rows * 2 * i * 2) as u64,
        "{what}: GM bytes written"
    );
    // GM bytes read: per used expert its gate and up weights once per m-tile and its A rows once per
    // tile of each half (with the gathered rows' `order` entries once per K stage), the two offsets
    // of every item by the AIC and both AIVs, and every rounded half-tile once from the workspace.
    let tiles_n = (i as u64).div_ceil(plan.n);
    let stages = (h as u64).div_ceil(plan.depth * plan.k);
    let mut want_read = r.e as u64 * tiles_n * 2 * 4 * 3 + (rows * 2 * i * 2) as u64;
    for ex in 0..r.e {
        let re = r.rows_of(ex) as u64;
        want_read += re.div_ceil(plan.m) * (h * 2 * i * 2) as u64;
        want_read += 2 * tiles_n * re * h as u64 * 2;
        if gather {
            want_read += 2 * tiles_n * re * stages * 4;
        }
    }
    assert_eq!(report.gm_bytes_read, want_read, "{what}: GM bytes read");
}

#[test]
fn the_swiglu_epilogue_matches_the_interpreter() {
    // Experts 0, 20 and 44 with 100 rows (two m-tiles each) and 1..=7 with about 43: cores 0 and 20
    // take two items, so consecutive tiles switch slots within and across items.
    let heavy = routing(300, 2, 64, |t, s| {
        if s == 0 {
            [0, 20, 44][t % 3]
        } else {
            1 + t % 7
        }
    });
    check_swiglu(BF, &heavy, 200, 96, true, 23);
    check_swiglu(BF, &ragged(), 64, 48, false, 20);
    check_swiglu(Half::F16, &ragged(), 64, 48, true, 24);
    check_swiglu(BF, &decode64(5), 96, 64, true, 21);
    check_swiglu(BF, &decode64(0), 96, 64, true, 22);
}

/// The interpreter's `combine(cast<f32>(grouped_matmul(dispatch(x, r), w, r)), r, weights)`, f32
/// `(T, N)`.
fn interpret_combine(
    r: &Routing,
    h: usize,
    n: usize,
    x: &[f32],
    w: &[f32],
    weights: &[f32],
) -> Vec<f32> {
    let (t, ks, e) = (r.t, r.ks, r.e);
    let rows = t * ks;
    let text = format!(
        "kernel c(x: bf16[{t}, {h}], ids: i32[{t}, {ks}], w: bf16[{e}, {h}, {n}], p: f32[{t}, {ks}]) -> (y: f32[{t}, {n}]) {{
  v0 = param 0 : bf16[{t}, {h}]
  v1 = param 1 : i32[{t}, {ks}]
  v2 = param 2 : bf16[{e}, {h}, {n}]
  v3 = param 3 : f32[{t}, {ks}]
  v4 = route v1, experts={e} : routes[{t}, {ks}, {e}]
  v5 = dispatch v0, v4 : bf16[{rows}, {h}]
  v6 = grouped_matmul v5, v2, v4 : bf16[{rows}, {n}]
  v7 = cast v6, to=f32 : f32[{rows}, {n}]
  v8 = combine v7, v4, v3 : f32[{t}, {n}]
  return y = v8
}}"
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let inputs = [
        Tensor::from_f32(DType::BF16, vec![t, h], x.to_vec()).unwrap(),
        Tensor::from_i32(vec![t, ks], r.ids.clone()).unwrap(),
        Tensor::from_f32(DType::BF16, vec![e, h, n], w.to_vec()).unwrap(),
        Tensor::from_f32(DType::F32, vec![t, ks], weights.to_vec()).unwrap(),
    ];
    let out = eval(&kernel, &inputs).unwrap_or_else(|e| panic!("{e}"));
    out[0].as_f32().unwrap().to_vec()
}

/// The routed GEMM with the combine epilogue (a MIX kernel): `acc` starts at `init` and gets every
/// routed row's weighted, rounded result added into its token's row. Against `init` plus the
/// interpreter's combine (f32; the atomic adds run in any order, so within the reassociation error
/// of `K + 1` terms).
fn check_combine(r: &Routing, h: usize, n: usize, gather: bool, seed: u64) {
    let what = format!(
        "combine T={} K={} E={} H={h} N={n} gather={gather}",
        r.t, r.ks, r.e
    );
    let target = Target::ascend910b2();
    let mut sp = spec(BF, gather, r, h as u64, n as u64, false);
    sp.out = GmmOut::Combine {
        weights: "r_weights",
        order: "r_order",
        k_slots: r.ks as u64,
        acc: "acc",
    };
    let program = lower_grouped_matmul(&sp, &target).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut rng = Rng(seed);
    let x = values(BF, &mut rng, r.t * h);
    let w = values(BF, &mut rng, r.e * h * n);
    let slot_weights: Vec<f32> = (0..r.t * r.ks).map(|_| rng.unit().abs()).collect();
    let init: Vec<f32> = (0..r.t * n).map(|_| rng.unit()).collect();
    let (order, offsets) = r.table();
    let rows = r.t * r.ks;
    let a: Vec<f32> = order
        .iter()
        .flat_map(|&p| x[(p as usize / r.ks) * h..][..h].to_vec())
        .collect();
    let row_weights: Vec<f32> = order.iter().map(|&p| slot_weights[p as usize]).collect();
    let inputs = [
        ("x", half_bytes(BF, &x)),
        ("a", half_bytes(BF, &a)),
        ("w", half_bytes(BF, &w)),
        ("r_order", i32_bytes(&order)),
        ("r_offsets", i32_bytes(&offsets)),
        ("r_weights", f32_bytes(&row_weights)),
    ];
    let report = launch_with(&program, r.t, &inputs, &[("acc", f32_bytes(&init))]);
    let acc_arg = report.args.iter().find(|a| a.name == "acc").unwrap();
    let got = bytes_f32(&acc_arg.bytes);
    let want = interpret_combine(r, h, n, &x, &w, &slot_weights);
    assert_eq!(got.len(), want.len(), "{what}");
    // The rounded results of the GEMM, to bound the terms.
    let y = interpret(r, h, n, &x, &w);
    for t in 0..r.t {
        for j in 0..n {
            let mut mag = init[t * n + j].abs();
            for k in 0..r.ks {
                let p = t * r.ks + k;
                let d = order.iter().position(|&o| o as usize == p).unwrap();
                mag += (slot_weights[p] * y[d * n + j]).abs();
            }
            let g = got[t * n + j];
            let e = init[t * n + j] + want[t * n + j];
            let tol = mag * (r.ks as f32 + 2.0) * 2f32.powi(-23);
            assert!(
                (g - e).abs() <= tol,
                "{what}: ({t}, {j}): {g} vs {e} (tolerance {tol})"
            );
        }
    }
    // The slots once (bf16), and every row's f32 atomic add.
    assert_eq!(
        report.gm_bytes_written,
        (rows * n * 2 + rows * n * 4) as u64,
        "{what}: GM bytes written"
    );
}

#[test]
fn the_combine_epilogue_adds_weighted_rows_into_their_tokens() {
    check_combine(&ragged(), 64, 48, false, 30);
    let heavy = routing(300, 2, 64, |t, s| {
        if s == 0 {
            [0, 20, 44][t % 3]
        } else {
            1 + t % 7
        }
    });
    check_combine(&heavy, 200, 96, true, 31);
    check_combine(&decode64(5), 96, 64, true, 32);
    check_combine(&decode64(0), 96, 64, false, 33);
}

/// Decode: 64 experts in 3 n-tiles each, so every core walks 8 items, most of them empty, and its
/// tiles follow each other across empty items (a slot chosen by the parity of the item and m-tile
/// counters raced here: two consecutive tiles of one core in one slot).
#[test]
fn consecutive_tiles_of_a_core_across_empty_experts_do_not_race() {
    // 1008 = 3 x 336, and 336 is the widest multiple of 16 up to 512 that divides 1008.
    check_swiglu(BF, &decode64(2), 64, 1008, true, 60);
    check_swiglu(BF, &decode64(7), 64, 1008, true, 61);
    check_combine(&decode64(2), 64, 1008, true, 62);
    check_combine(&decode64(7), 64, 1008, false, 63);
}
