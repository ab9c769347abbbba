//! Graph-level tests: dtypes, hints and located errors of matmul ops.

use super::*;
use crate::graph::parse::parse_kernel;

fn first_matmul(k: &Kernel) -> Op {
    *k.order
        .iter()
        .find(|&&op| matches!(k.ops[op].kind, OpKind::MatMul))
        .unwrap()
}

#[test]
fn cube_dtype_pairs() {
    assert_eq!(cube_dtype(DType::BF16, DType::BF16), Some(CubeDType::Bf16));
    assert_eq!(cube_dtype(DType::F16, DType::F16), Some(CubeDType::F16));
    assert_eq!(cube_dtype(DType::F32, DType::F32), Some(CubeDType::F32));
    assert_eq!(cube_dtype(DType::I32, DType::I32), None);
    assert_eq!(cube_dtype(DType::BF16, DType::F16), None);
}

#[test]
fn hints_are_honored_or_refused() {
    let h = |name: &str, args: &[(&str, i64)]| Hint {
        name: name.to_string(),
        args: args.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    };
    let req = tile_request(&[
        h("tile", &[("m", 32), ("k", 64)]),
        h("block_dim", &[("n", 8)]),
    ])
    .unwrap();
    assert_eq!(
        req,
        TileRequest {
            m: Some(32),
            n: None,
            k: Some(64),
            block_dim: Some(8)
        }
    );
    assert!(tile_request(&[h("buffer_num", &[("n", 2)])]).is_ok());
    let e = tile_request(&[h("buffer_num", &[("n", 3)])]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("#[buffer_num(n = 3)] cannot be honored"),
        "{e}"
    );
    let e = tile_request(&[h("tile", &[("rows", 8)])]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "#[tile(rows = 8)] is for vector ops; a matmul takes tile m, n and k"
    );
}

#[test]
fn a_matmul_op_is_planned_with_its_hint_and_located_errors() {
    let text = "kernel mm(a: f16[M, 64], b: f16[64, 32]) -> (c: f16[M, 32]) {
  dyn M
  v0 = param 0 : f16[M, 64] @2:3-2:4
  v1 = param 1 : f16[64, 32] @2:5-2:6
  #[tile(m = 256, n = 256, k = 16)]
  v2 = matmul v0, v1 : f16[M, 32] @5:7-5:20
  return c = v2
}";
    let k = parse_kernel(text).unwrap();
    let op = first_matmul(&k);
    let e = check_matmuls(&k, &Target::ascend910b2()).unwrap_err();
    let s = e.to_string();
    assert!(s.starts_with("`matmul` v2 = matmul v0, v1 at line 5, column 7: tile m = 256, n = 256, k = 16 (f16) does not fit L0C"), "{s}");
    let ok = text.replace("m = 256, n = 256, k = 16", "m = 32, n = 32, k = 64");
    let k = parse_kernel(&ok).unwrap();
    let m = |_| Some(1000);
    let p = plan_matmul_op(&k, op, &m, &Target::ascend910b2(), Default::default()).unwrap();
    assert_eq!(
        (p.shape.m, p.shape.n, p.shape.k, p.m, p.n, p.k),
        (1000, 32, 64, 32, 32, 64)
    );
}

#[test]
fn an_integer_matmul_is_an_unsupported_dtype_pair() {
    let text = "kernel mm(a: i32[4, 8], b: i32[8, 2]) -> (c: i32[4, 2]) {
  v0 = param 0 : i32[4, 8] @2:3-2:4
  v1 = param 1 : i32[8, 2] @2:5-2:6
  v2 = matmul v0, v1 : i32[4, 2] @3:7-3:20
  return c = v2
}";
    let k = parse_kernel(text).unwrap();
    let e = check_matmuls(&k, &Target::ascend910b2()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`matmul` v2 = matmul v0, v1 at line 3, column 7: the cube multiplies bf16 x bf16, f16 x f16 or f32 x f32 (f32 accumulation); found i32 x i32"
    );
}

mod lowering {
    use super::*;
    use crate::kir::v2::{check_hazards, program_to_string, verify_program, InstData};
    use crate::kir::Expr;
    use crate::schedule::cube::lower::{lower_matmul, MatmulNames};

    const NAMES: MatmulNames<'static> = MatmulNames {
        program: "gemm",
        a: "a",
        b: "b",
        c: "c",
    };

    fn lowered(n: u64, k: u64, dtype: CubeDType, request: TileRequest) -> crate::kir::v2::Program {
        // Tiles chosen for a representative M; M stays a dynamic dim of the program.
        let shape = MatmulShape {
            m: 4096,
            n,
            k,
            dtype,
        };
        let plan = plan_matmul(shape, request, &Target::ascend910b2()).unwrap();
        lower_matmul(&NAMES, &plan, Expr::dim("M"), &Target::ascend910b2())
    }

    #[test]
    fn the_aic_kernel_verifies_and_has_no_hazard_for_every_dtype() {
        for dtype in [CubeDType::Bf16, CubeDType::F16, CubeDType::F32] {
            for (n, k) in [(64, 5120), (1000, 17), (16, 1)] {
                let p = lowered(n, k, dtype, TileRequest::default());
                verify_program(&p, &Target::ascend910b2())
                    .unwrap_or_else(|e| panic!("{dtype} {n} {k}: {e}\n{}", program_to_string(&p)));
                for kernel in p.kernels.values() {
                    check_hazards(kernel).unwrap_or_else(|e| {
                        panic!("{dtype} {n} {k}: {e}\n{}", program_to_string(&p))
                    });
                }
            }
        }
    }

    #[test]
    fn the_aic_kernel_text() {
        let request = TileRequest {
            m: Some(128),
            n: Some(64),
            k: Some(64),
            block_dim: None,
        };
        let p = lowered(64, 1024, CubeDType::Bf16, request);
        insta::assert_snapshot!("cube_gemm_bf16_k1024_n64", program_to_string(&p));
    }

    #[test]
    fn deleting_any_queue_operation_is_caught() {
        let p = lowered(64, 1024, CubeDType::F16, TileRequest::default());
        let kernel = p.kernels.values().next().unwrap();
        let mut deleted = 0;
        for inst in kernel.inst_order() {
            if !matches!(
                kernel.insts[inst],
                InstData::EnQue { .. }
                    | InstData::DeQue { .. }
                    | InstData::AllocTensor { .. }
                    | InstData::FreeTensor { .. }
            ) {
                continue;
            }
            let mut broken = p.clone();
            let k = broken.kernels.values_mut().next().unwrap();
            assert!(k.detach(inst));
            let caught = verify_program(&broken, &Target::ascend910b2()).is_err()
                || check_hazards(broken.kernels.values().next().unwrap()).is_err();
            assert!(
                caught,
                "deleting {inst} ({:?}) goes unnoticed",
                kernel.insts[inst]
            );
            deleted += 1;
        }
        assert_eq!(deleted, 20, "5 queues x alloc, enque, deque, free");
    }
}

/// Walks the lowered kernel on every core with concrete dims, evaluating its device expressions: every
/// output element is written exactly once, every `Mmad` of a tile adds up to K, every copy and load
/// stays inside its tensors and GM buffers, and the copies move the bytes the traffic model counts.
mod walk {
    use std::collections::HashMap;

    use super::*;
    use crate::kir::v2::{BinOp, IExpr, InstData, Kernel as KKernel, Program, Stmt, Var};
    use crate::kir::Expr;
    use crate::schedule::cube::lower::{lower_matmul, MatmulNames};
    use crate::schedule::cube::traffic;

    struct Env<'a> {
        fields: Vec<i64>,
        vars: HashMap<Var, i64>,
        block_idx: i64,
        block_num: i64,
        k: &'a KKernel,
    }

    fn eval(e: &IExpr, env: &Env<'_>) -> i64 {
        match e {
            IExpr::Int(v) => *v,
            IExpr::Field(f) => env.fields[f.as_u32() as usize],
            IExpr::Var(v) => env.vars[v],
            IExpr::BlockIdx => env.block_idx,
            IExpr::BlockNum => env.block_num,
            IExpr::Bin(op, a, b) => {
                let (a, b) = (eval(a, env), eval(b, env));
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    BinOp::Rem => a % b,
                    BinOp::Min => a.min(b),
                    BinOp::Max => a.max(b),
                    BinOp::CeilDiv => (a + b - 1) / b,
                    BinOp::Eq => i64::from(a == b),
                    BinOp::Lt => i64::from(a < b),
                }
            }
        }
    }

    #[derive(Default)]
    struct Seen {
        read: u64,
        written: u64,
        covered: Vec<u32>,
        k_sum: i64,
    }

    fn run(stmts: &[Stmt], env: &mut Env<'_>, p: &Program, seen: &mut Seen, e: i64, kdim: i64) {
        for s in stmts {
            match s {
                Stmt::For {
                    var,
                    start,
                    end,
                    body,
                } => {
                    let (a, b) = (eval(start, env), eval(end, env));
                    for v in a..b {
                        env.vars.insert(*var, v);
                        run(body, env, p, seen, e, kdim);
                    }
                }
                Stmt::Side { body, .. } => run(body, env, p, seen, e, kdim),
                Stmt::Inst(i) => {
                    let elems = |t| i64::from(env.k.tensors[t].elems);
                    match &env.k.insts[*i] {
                        InstData::CopyNd2Nz {
                            dst,
                            dst_offset,
                            src,
                            rows,
                            cols,
                            gm_pitch,
                            nz_rows,
                        } => {
                            let (r, c, pitch, nz) = (
                                eval(rows, env),
                                eval(cols, env),
                                eval(gm_pitch, env),
                                eval(nz_rows, env),
                            );
                            let off = eval(&src.offset, env);
                            assert!(
                                r >= 1 && c >= 1 && r <= nz && nz % 16 == 0,
                                "{i}: rows {r} cols {c} nz {nz}"
                            );
                            let size: i64 = p.gm[src.buf]
                                .shape
                                .iter()
                                .map(|d| d.eval(&|n| (n == "M").then_some(env.fields[0])).unwrap())
                                .product();
                            assert!(
                                off + (r - 1) * pitch + c <= size,
                                "{i}: GM read past the end"
                            );
                            // NZ: column blocks of C0 with nz rows each.
                            let c0 = 32 / e;
                            assert!(
                                eval(dst_offset, env) + (c + c0 - 1) / c0 * c0 * nz <= elems(*dst),
                                "{i}: L1 tensor overflow"
                            );
                            seen.read += (r * c * e) as u64;
                        }
                        InstData::LoadData2d {
                            dst,
                            dst_offset,
                            src,
                            src_offset,
                            repeat,
                            src_stride,
                            dst_gap,
                            transpose,
                            frac_gap,
                        } => {
                            let frac = 512 / e;
                            let (rep, st, gap) =
                                (eval(repeat, env), eval(src_stride, env), eval(dst_gap, env));
                            assert!((1..=255).contains(&rep), "{i}: repeat {rep}");
                            // A 32-bit transposing load moves squares of two fractals, the second
                            // `frac_gap` fractals after the first.
                            let (unit, tail) = if *transpose && e == 4 {
                                (2, 2 + eval(frac_gap, env))
                            } else {
                                (1, 1)
                            };
                            assert!(
                                eval(src_offset, env) + ((rep - 1) * st + 1) * unit * frac
                                    <= elems(*src),
                                "{i}: L1 read overflow"
                            );
                            assert!(
                                eval(dst_offset, env) + ((rep - 1) * (1 + gap) + tail) * frac
                                    <= elems(*dst),
                                "{i}: L0 write overflow"
                            );
                        }
                        InstData::Mmad {
                            m, n, k, init, dst, ..
                        } => {
                            let (m, n, k) = (eval(m, env), eval(n, env), eval(k, env));
                            assert!(
                                (1..=4095).contains(&m)
                                    && (1..=4095).contains(&n)
                                    && (1..=4095).contains(&k)
                            );
                            assert!((m + 15) / 16 * 16 * ((n + 15) / 16 * 16) <= elems(*dst));
                            if eval(init, env) == 1 {
                                seen.k_sum = 0;
                            }
                            seen.k_sum += k;
                        }
                        InstData::Fixpipe {
                            dst,
                            m,
                            n,
                            gm_pitch,
                            src_stride,
                            ..
                        } => {
                            assert_eq!(seen.k_sum, kdim, "{i}: the tile's Mmads add up to K");
                            let (m, n, pitch, ss) = (
                                eval(m, env),
                                eval(n, env),
                                eval(gm_pitch, env),
                                eval(src_stride, env),
                            );
                            assert!(ss >= m && ss % 16 == 0);
                            let off = eval(&dst.offset, env);
                            for r in 0..m {
                                for c in 0..n {
                                    seen.covered[(off + r * pitch + c) as usize] += 1;
                                }
                            }
                            seen.written += (m * n * e) as u64;
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    fn check(m: u64, n: u64, k: u64, dtype: CubeDType, request: TileRequest) {
        let target = Target::ascend910b2();
        let names = MatmulNames {
            program: "mm",
            a: "a",
            b: "b",
            c: "c",
        };
        let plan = plan_matmul(MatmulShape { m, n, k, dtype }, request, &target).unwrap();
        let p = lower_matmul(&names, &plan, Expr::dim("M"), &target);
        let dims = |d: crate::Symbol| (d == "M").then_some(m as i64);
        let fields: Vec<i64> = p
            .fields
            .values()
            .map(|f| f.expr.eval(&dims).unwrap())
            .collect();
        let kernel = p.kernels.values().next().unwrap();
        let block_num = kernel.block_dim.eval(&dims).unwrap();
        let mut seen = Seen {
            covered: vec![0; (m * n) as usize],
            ..Seen::default()
        };
        for b in 0..block_num {
            let mut env = Env {
                fields: fields.clone(),
                vars: HashMap::new(),
                block_idx: b,
                block_num,
                k: kernel,
            };
            run(
                &kernel.body,
                &mut env,
                &p,
                &mut seen,
                dtype.bytes() as i64,
                k as i64,
            );
        }
        assert!(
            seen.covered.iter().all(|&c| c == 1),
            "{m}x{n}x{k}: every output element once"
        );
        let t = traffic(&plan);
        assert_eq!(
            (seen.read, seen.written),
            (t.read, t.written),
            "{m}x{n}x{k}"
        );
    }

    #[test]
    fn every_size_in_every_position_is_covered_once_in_bounds() {
        let sizes = [1u64, 15, 16, 17, 64, 127, 128, 1000];
        for (i, &s) in sizes.iter().enumerate() {
            let a = sizes[(i + 3) % 8];
            let b = sizes[(i + 6) % 8];
            let dtype = [CubeDType::Bf16, CubeDType::F16, CubeDType::F32][i % 3];
            for (m, n, k) in [(s, a, b), (b, s, a), (a, b, s)] {
                check(m, n, k, dtype, TileRequest::default());
            }
        }
        // Several column groups of the swizzled order, tails everywhere, many stages.
        let request = TileRequest {
            m: Some(16),
            n: Some(32),
            k: Some(32),
            block_dim: Some(5),
        };
        check(127, 1000, 1000, CubeDType::Bf16, request);
        check(200, 64, 5120, CubeDType::Bf16, TileRequest::default());
    }
}

#[test]
fn the_gemm_graph_lowers_to_a_verified_aic_program() {
    use crate::kir::v2::{check_hazards, program_to_string, verify_program};
    let text = "kernel gemm<K = 64, N = 32>(a: bf16[M, 64], b: bf16[64, 32]) -> (c: bf16[M, 32]) {
  dyn M
  v0 = param 0 : bf16[M, 64] @5:5-5:28
  v1 = param 1 : bf16[64, 32] @6:5-6:28
  v2 = matmul v0, v1 : bf16[M, 32] @9:5-9:17
  return c = v2
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
    assert_eq!(p.dims, vec!["M".to_string()]);
    insta::assert_snapshot!("cube_gemm_example_k64_n32", program_to_string(&p));
}

#[test]
fn an_f32_matmul_lowers_with_b_in_16_row_groups_and_transposing_loads() {
    use crate::kir::v2::{check_hazards, verify_program, InstData};
    let text = "kernel mm(a: f32[M, 64], b: f32[64, 32]) -> (c: f32[M, 32]) {
  dyn M
  v0 = param 0 : f32[M, 64] @2:3-2:4
  v1 = param 1 : f32[64, 32] @2:5-2:6
  v2 = matmul v0, v1 : f32[M, 32] @3:7-3:20
  return c = v2
}";
    let k = parse_kernel(text).unwrap();
    check_matmuls(&k, &Target::ascend910b2()).unwrap();
    let p = lower_matmul_kernel(
        &k,
        first_matmul(&k),
        &Target::ascend910b2(),
        Default::default(),
    )
    .unwrap();
    verify_program(&p, &Target::ascend910b2()).unwrap();
    let kernel = p.kernels.values().next().unwrap();
    check_hazards(kernel).unwrap();
    // B: 16-row groups (nz_rows 16, placed by dst_offset) and a transposing load whose two halves
    // land n1 - 1 = 1 fractal apart; A: the plain 2D load; the accumulator leaves without quant.
    let insts: Vec<&InstData> = kernel.insts.values().collect();
    let b_copy = insts
        .iter()
        .find(|d| matches!(d, InstData::CopyNd2Nz { dst_offset, .. } if dst_offset.as_int() != Some(0)))
        .expect("B's grouped copy");
    assert!(matches!(b_copy, InstData::CopyNd2Nz { nz_rows, .. } if nz_rows.as_int() == Some(16)));
    let loads: Vec<(bool, Option<i64>)> = insts
        .iter()
        .filter_map(|d| match d {
            InstData::LoadData2d {
                transpose,
                frac_gap,
                ..
            } => Some((*transpose, frac_gap.as_int())),
            _ => None,
        })
        .collect();
    assert_eq!(loads, vec![(false, Some(0)), (true, Some(1))]);
    assert!(insts.iter().any(
        |d| matches!(d, InstData::Fixpipe { quant, .. } if *quant == crate::kir::v2::Quant::None)
    ));
}
