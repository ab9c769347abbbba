//! Unit tests of the grouped GEMM lowering: located refusals, the tiling's choices, the kernel IR of a
//! small routed GEMM (snapshot), and the hazard verifier's view of the MIX epilogues' flags.

use super::*;
use crate::kir::v2::{check_hazards, program_to_string};

fn t() -> HostExpr {
    HostExpr::dim("T")
}

/// A routed spec: `(E, K, N)` weights, rows given, results stored in bf16.
fn routed(experts: u64, k: u64, n: u64) -> GmmSpec<'static> {
    GmmSpec {
        program: "gmm",
        a: GmmA::Rows { a: "a" },
        w: "w",
        rows: GmmRows::Routed {
            offsets: "r_offsets",
            experts,
        },
        out: GmmOut::Store {
            c: "y",
            dtype: DType::BF16,
        },
        k,
        n,
        dtype: CubeDType::Bf16,
        total_rows: HostExpr::Mul(Box::new(t()), Box::new(HostExpr::Int(8))),
        tokens: t(),
    }
}

fn refusal(spec: &GmmSpec<'_>) -> String {
    match lower_grouped_matmul(spec, &Target::ascend910b2()) {
        Err(e @ LowerError::Unsupported { .. }) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn bad_specs_are_refused_with_the_reason() {
    let s = GmmSpec {
        dtype: CubeDType::F32,
        ..routed(4, 64, 64)
    };
    assert!(refusal(&s).contains("f32 operands"), "{}", refusal(&s));
    assert!(refusal(&routed(0, 64, 64)).contains("at least one expert"));
    assert!(refusal(&routed(4, 0, 64)).contains("must be positive"));
    let s = GmmSpec {
        w: "a",
        ..routed(4, 64, 64)
    };
    assert!(refusal(&s).contains("`a` is given to two different buffers"));
    let s = GmmSpec {
        a: GmmA::Gather {
            x: "x",
            order: "o",
            k_slots: 0,
        },
        ..routed(4, 64, 64)
    };
    assert!(refusal(&s).contains("k_slots must be positive"));
    let s = GmmSpec {
        out: GmmOut::Swiglu { act: "act" },
        ..routed(4, 64, 40)
    };
    assert!(
        refusal(&s).contains("N = 2*I with I a multiple of 16, found N = 40"),
        "{}",
        refusal(&s)
    );
    let s = GmmSpec {
        out: GmmOut::Store {
            c: "y",
            dtype: DType::F16,
        },
        ..routed(4, 64, 64)
    };
    assert!(refusal(&s).contains("must be bf16 (the operands' type) or f32"));
    let s = GmmSpec {
        k: 70_000,
        ..routed(4, 64, 64)
    };
    assert!(
        refusal(&s).contains("no tiling of K = 70000"),
        "{}",
        refusal(&s)
    );
}

#[test]
fn routed_tiles_are_64_rows_by_the_widest_n_and_swiglu_tiles_divide_i() {
    let target = Target::ascend910b2();
    let p = plan_gmm(&routed(64, 5120, 2688), &target).unwrap();
    // 512 columns: a 64 x 512 f32 accumulator is exactly L0C's 128 KiB (so not double buffered).
    assert_eq!((p.m, p.n, p.l0c_double), (ROUTED_M, 512, false));
    assert_eq!(64 * 512 * 4, target.l0c_bytes);
    // I = 1344 = 2^6 * 21: the widest multiple of 16 up to 512 that divides it is 448 = 16 * 28.
    let s = GmmSpec {
        out: GmmOut::Swiglu { act: "act" },
        ..routed(64, 5120, 2688)
    };
    let p = plan_gmm(&s, &target).unwrap();
    assert_eq!((p.m, p.n, p.shape.n), (ROUTED_M, 448, 1344));
}

#[test]
fn routed_gather_kernel_text() {
    let s = GmmSpec {
        a: GmmA::Gather {
            x: "x",
            order: "r_order",
            k_slots: 8,
        },
        ..routed(4, 40, 72)
    };
    let p = lower_grouped_matmul(&s, &Target::ascend910b2()).unwrap();
    assert_eq!(
        p,
        lower_grouped_matmul(&s, &Target::ascend910b2()).unwrap(),
        "deterministic"
    );
    insta::assert_snapshot!("gmm_gather_e4_k40_n72", program_to_string(&p));
}

/// Every cross-core flag of the MIX epilogues is needed: without any one, the hazard verifier
/// objects (a wait without its set, a set nobody waits for, or an unordered slot access).
#[test]
fn deleting_any_cross_core_flag_of_an_epilogue_is_reported() {
    for out in [
        GmmOut::Swiglu { act: "act" },
        GmmOut::Combine {
            weights: "wts",
            order: "r_order",
            k_slots: 8,
            acc: "acc",
        },
    ] {
        let s = GmmSpec {
            out,
            ..routed(4, 64, 64)
        };
        let p = lower_grouped_matmul(&s, &Target::ascend910b2()).unwrap();
        let kernel = p.kernels.values().next().unwrap();
        let mut flags = 0;
        for inst in kernel.inst_order() {
            let d = &kernel.insts[inst];
            if !matches!(
                d,
                InstData::CrossCoreSetFlag { .. } | InstData::CrossCoreWaitFlag { .. }
            ) {
                continue;
            }
            flags += 1;
            let mut broken = kernel.clone();
            assert!(broken.detach(inst));
            assert!(
                check_hazards(&broken).is_err(),
                "{:?}: without {inst} ({d:?}) the verifier saw nothing",
                s.out
            );
        }
        // AIC: free wait, ready set, drain wait; AIV: initial free, ready wait, pair set and wait,
        // free set.
        assert_eq!(flags, 8, "{:?}", s.out);
    }
}
