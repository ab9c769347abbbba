//! The hand-written MIX spec (tests/data/cube/matmul_aic.cpp, `matmul_softmax_mix_bf16`): the AIC hands
//! bf16 tiles through a double-slotted GM workspace to its two AIVs, which run a row softmax.

use super::*;

/// Runs the MIX fixture (matmul on the AIC, row softmax on its AIVs) and compares with the interpreter
/// on `softmax(cast::<f32>(matmul(a, b)), -1)` and with an f64 softmax of the same bf16 logits.
fn check_mix(m: u64, n: u64, k: u64, request: TileRequest, seed: u64) -> RawReport {
    let c = CubeDType::Bf16;
    // A row epilogue needs whole rows in a tile: the lowering asks for n = N.
    let p = plan(
        m,
        n,
        k,
        c,
        TileRequest {
            n: Some(n),
            ..request
        },
    );
    assert_eq!(p.tiles().1, 1, "one column tile: {p:?}");
    let (a, b) = inputs(c, m, n, k, seed);
    let bytes =
        |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| bits(c, x).to_le_bytes()).collect() };
    let gm = |name: &str, bytes, is_output| GmArg {
        name: name.to_string(),
        bytes,
        is_output,
    };
    let report = launch_raw(RawLaunch {
        source: AIC,
        kernel: "matmul_softmax_mix_bf16",
        block_dim: p.block_dim as u32,
        core_type: CoreType::MixAic1_2,
        check: CheckMode::FULL,
        args: vec![
            gm("a", bytes(&a), false),
            gm("b", bytes(&b), false),
            gm("y", vec![0; (m * n * 4) as usize], true),
        ],
        workspace_bytes: (p.block_dim * 2 * p.m * n * 2) as usize,
        tiling: tiling(&p),
    })
    .unwrap_or_else(|e| panic!("{p:?}: {e}"));
    let got: Vec<f32> = report.args[2]
        .bytes
        .chunks_exact(4)
        .map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        .collect();
    let text = format!(
        "kernel mm(a: bf16[{m}, {k}], b: bf16[{k}, {n}]) -> (y: f32[{m}, {n}]) {{
  v0 = param 0 : bf16[{m}, {k}]
  v1 = param 1 : bf16[{k}, {n}]
  v2 = matmul v0, v1 : bf16[{m}, {n}]
  v3 = cast v2, to=f32 : f32[{m}, {n}]
  v4 = softmax v3, axis=1 : f32[{m}, {n}]
  return y = v4
}}"
    );
    let kernel = parse_kernel(&text).unwrap();
    let ta = Tensor::from_f32(DType::BF16, vec![m as usize, k as usize], a).unwrap();
    let tb = Tensor::from_f32(DType::BF16, vec![k as usize, n as usize], b).unwrap();
    let out = eval(&kernel, &[ta.clone(), tb.clone()]).unwrap();
    let want = out[0].as_f32().unwrap();
    // The bf16 logits are the interpreter's bit for bit (see the AIC tests); from them, softmax in f64.
    let logits = interpret(c, m, n, k, ta.as_f32().unwrap(), tb.as_f32().unwrap());
    for (r, row) in logits.chunks(n as usize).enumerate() {
        let max = row.iter().fold(f32::MIN, |a, &b| a.max(b));
        let e: Vec<f64> = row
            .iter()
            .map(|&v| (f64::from(v) - f64::from(max)).exp())
            .collect();
        let sum: f64 = e.iter().sum();
        for j in 0..n as usize {
            let i = r * n as usize + j;
            let exact = e[j] / sum;
            // f32 exp, a 64-term f32 sum and a division: a few ulps of the result, about 2^-20;
            // and the f32 rounding of `x - max` (half an ulp of |x - max|) that exp magnifies.
            let arg = (f64::from(row[j]) - f64::from(max)).abs();
            let tol = exact * (2f64.powi(-20) + (arg + 1.0) * 2f64.powi(-23)) + 1e-30;
            for (what, v) in [("emulator", got[i]), ("interpreter", want[i])] {
                assert!(
                    (f64::from(v) - exact).abs() <= tol,
                    "{m}x{n}x{k} element {i}: {what} {v} vs f64 {exact}"
                );
            }
        }
    }
    for row in got.chunks(n as usize) {
        let s: f32 = row.iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "a row sums to {s}");
    }
    report
}

#[test]
fn a_mix_kernel_runs_the_matmul_on_the_aic_and_the_row_softmax_on_its_aivs() {
    // One row, odd rows, several tiles per core (both workspace slots reused), the router shape.
    check_mix(1, 64, 64, TileRequest::default(), 21);
    check_mix(17, 64, 127, TileRequest::default(), 22);
    let many = TileRequest {
        m: Some(16),
        block_dim: Some(3),
        ..TileRequest::default()
    };
    let report = check_mix(127, 64, 1000, many, 23);
    assert_eq!(
        report.cores.len(),
        9,
        "3 AI cores, each an AIC and two AIVs"
    );
    check_mix(300, 64, 5120, TileRequest::default(), 24);
}

#[test]
fn deleting_a_cross_core_flag_of_the_mix_kernel_is_reported() {
    let many = TileRequest {
        m: Some(16),
        block_dim: Some(2),
        ..TileRequest::default()
    };
    let p = plan(
        100,
        64,
        64,
        CubeDType::Bf16,
        TileRequest {
            n: Some(64),
            ..many
        },
    );
    let (a, b) = inputs(CubeDType::Bf16, 100, 64, 64, 5);
    let bytes = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|&x| bits(CubeDType::Bf16, x).to_le_bytes())
            .collect()
    };
    for needle in [
        "CrossCoreSetFlag<2, PIPE_FIX>(kSlotReady)",
        "CrossCoreWaitFlag<2, PIPE_FIX>(kSlotFree);\n            }",
    ] {
        assert!(AIC.contains(needle), "{needle}");
        let broken = AIC.replacen(
            needle,
            if needle.contains('}') { "}" } else { "(void)0" },
            1,
        );
        let result = launch_raw(RawLaunch {
            source: &broken,
            kernel: "matmul_softmax_mix_bf16",
            block_dim: p.block_dim as u32,
            core_type: CoreType::MixAic1_2,
            check: CheckMode::FULL,
            args: vec![
                GmArg {
                    name: "a".into(),
                    bytes: bytes(&a),
                    is_output: false,
                },
                GmArg {
                    name: "b".into(),
                    bytes: bytes(&b),
                    is_output: false,
                },
                GmArg {
                    name: "y".into(),
                    bytes: vec![0; 100 * 64 * 4],
                    is_output: true,
                },
            ],
            workspace_bytes: (p.block_dim * 2 * p.m * 64 * 2) as usize,
            tiling: tiling(&p),
        });
        match result {
            Err(EmuError::Violation { .. }) => {}
            Err(other) => panic!("without `{needle}`: another error: {other}"),
            Ok(_) => panic!("without `{needle}`: nothing reported"),
        }
    }
}
