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
    let p = plan_matmul_op(&k, op, &m, &Target::ascend910b2()).unwrap();
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
        let shape = MatmulShape { m: 4096, n, k, dtype };
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
                    check_hazards(kernel)
                        .unwrap_or_else(|e| panic!("{dtype} {n} {k}: {e}\n{}", program_to_string(&p)));
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
                InstData::EnQue { .. } | InstData::DeQue { .. } | InstData::AllocTensor { .. } | InstData::FreeTensor { .. }
            ) {
                continue;
            }
            let mut broken = p.clone();
            let k = broken.kernels.values_mut().next().unwrap();
            assert!(k.detach(inst));
            let caught = verify_program(&broken, &Target::ascend910b2()).is_err()
                || check_hazards(broken.kernels.values().next().unwrap()).is_err();
            assert!(caught, "deleting {inst} ({:?}) goes unnoticed", kernel.insts[inst]);
            deleted += 1;
        }
        assert_eq!(deleted, 20, "5 queues x alloc, enque, deque, free");
    }
}
