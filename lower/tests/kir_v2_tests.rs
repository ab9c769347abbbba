//! Kernel IR v2: text round trip, structural verifier and hazard verifier on hand-written kernels
//! (a double-buffered vector kernel, an AIC matmul accumulating over K, a MIX matmul + ReLU).

use moge_lower::kir::v2::{self, Hazard, InstData, Program};
use moge_lower::target::Target;

const VECTOR: &str = include_str!("kir_v2/vector.kir");
const MATMUL: &str = include_str!("kir_v2/matmul.kir");
const MIX: &str = include_str!("kir_v2/mix.kir");

fn parse(text: &str) -> Program {
    v2::parse_program(text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn text_form_round_trips_byte_for_byte() {
    for text in [VECTOR, MATMUL, MIX] {
        let p = parse(text);
        assert_eq!(v2::program_to_string(&p), text);
        assert_eq!(parse(&v2::program_to_string(&p)), p);
    }
}

#[test]
fn fixtures_verify_and_are_hazard_free() {
    for text in [VECTOR, MATMUL, MIX] {
        let p = parse(text);
        v2::verify_program(&p, &Target::default()).unwrap_or_else(|e| panic!("{e}"));
        for k in p.kernels.values() {
            v2::check_hazards(k).unwrap_or_else(|e| panic!("{}\n{e}", k.name));
        }
    }
}

/// Deleting any one synchronization instruction makes the hazard verifier object; a race names both
/// instructions and the memory.
#[test]
fn deleting_any_sync_instruction_is_reported() {
    for text in [VECTOR, MATMUL, MIX] {
        let p = parse(text);
        for k in p.kernels.values() {
            for (i, d) in &k.insts {
                if !d.is_sync() {
                    continue;
                }
                let mut broken = k.clone();
                assert!(broken.detach(i));
                let errs = v2::check_hazards(&broken)
                    .expect_err(&format!("{}: deleting {i} went unnoticed", k.name))
                    .0;
                let text = errs
                    .iter()
                    .map(|h| h.to_string())
                    .collect::<Vec<_>>()
                    .join("\n");
                assert!(text.contains(&k.name), "{text}");
                match d {
                    // A missing barrier or wait leaves two accesses unordered (a wait whose ordering a
                    // queue hand-off already gives leaves its set without a partner).
                    InstData::PipeBarrier(_)
                    | InstData::WaitFlag(_)
                    | InstData::CrossCoreWaitFlag { .. } => {
                        assert!(
                            errs.iter().any(|h| matches!(h, Hazard::Race { .. }))
                                || text.contains("is never waited for"),
                            "{i}: {text}"
                        );
                    }
                    // A missing set leaves its wait without a partner.
                    _ => assert!(
                        text.contains(&i.to_string())
                            || text.contains("waits forever")
                            || text.contains("no earlier set_flag"),
                        "{i}: {text}"
                    ),
                }
            }
        }
    }
}

#[test]
fn a_missing_vector_barrier_names_both_instructions_and_the_tensor() {
    let p = parse(VECTOR);
    let mut k = p.kernels.values().next().unwrap().clone();
    let barrier = k
        .insts
        .iter()
        .find(|(_, d)| matches!(d, InstData::PipeBarrier(v2::Pipe::V)))
        .map(|(i, _)| i)
        .unwrap();
    k.detach(barrier);
    let errs = v2::check_hazards(&k).unwrap_err().to_string();
    assert!(
        errs.contains(
            "read after write on t3 \"e\" in buf3 (UB): i14 (V) is not ordered after i12 (V)"
        ),
        "{errs}"
    );
}

#[test]
fn a_missing_cross_core_wait_is_a_gm_race() {
    let p = parse(MIX);
    let mut k = p.kernels.values().next().unwrap().clone();
    let wait = k
        .insts
        .iter()
        .find(|(_, d)| matches!(d, InstData::CrossCoreWaitFlag { .. }))
        .map(|(i, _)| i)
        .unwrap();
    k.detach(wait);
    let errs = v2::check_hazards(&k).unwrap_err().to_string();
    assert!(
        errs.contains("read after write on GM g3[0]: i29 (MTE2) is not ordered after i24 (FIX)"),
        "{errs}"
    );
}

#[test]
fn single_buffered_reuse_without_free_is_reported() {
    // Swapping FreeTensor after the next AllocTensor: the slot is still in use.
    let p = parse(MATMUL);
    let mut k = p.kernels.values().next().unwrap().clone();
    let free = k
        .insts
        .iter()
        .find(|(_, d)| matches!(d, InstData::FreeTensor { .. }))
        .map(|(i, _)| i)
        .unwrap();
    k.detach(free);
    let errs = v2::check_hazards(&k).unwrap_err().to_string();
    assert!(errs.contains("still in use"), "{errs}");
}

fn verify_err(text: &str) -> String {
    let p = parse(text);
    v2::verify_program(&p, &Target::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn verifier_rejects_wrong_memories_scopes_sides_and_budgets() {
    // A vector instruction reading an L1 tensor.
    let bad = MIX.replace("src=[t5] count=256", "src=[t0] count=256");
    assert!(
        verify_err(&bad).contains("kernel mm_relu_0, i33: operand t0 is in L1"),
        "{}",
        verify_err(&bad)
    );
    // A cube instruction on the AIV side: move the mmad's region marker.
    let bad = MIX.replace(
        "  aiv {\n    i27",
        "  aiv {\n    i19 = mmad dst=t4 a=t2 b=t3 m=16 n=16 k=16 init=1\n    i27",
    );
    let bad = bad.replacen(
        "    i19 = mmad dst=t4 a=t2 b=t3 m=16 n=16 k=16 init=1\n",
        "",
        1,
    );
    assert!(
        verify_err(&bad).contains("i19: a cube instruction on the AIV side"),
        "{}",
        verify_err(&bad)
    );
    // A loop counter used outside its loop.
    let bad = MATMUL.replace("i24 = fixpipe dst=g2[0]", "i24 = fixpipe dst=g2[v0]");
    assert!(
        verify_err(&bad).contains("i24: v0 is not in scope"),
        "{}",
        verify_err(&bad)
    );
    // L0A over 64 KiB.
    let bad = MATMUL.replace("buf2 = buf L0A x2 512", "buf2 = buf L0A x2 40960");
    assert!(
        verify_err(&bad).contains("L0a needs 81920 bytes, 16384 more than the 65536"),
        "{}",
        verify_err(&bad)
    );
    // Core-side regions only in MIX kernels.
    let bad = MATMUL.replace(
        "  i0 = alloc_tensor queue=q4 tensor=t4\n",
        "  aic {\n  i0 = alloc_tensor queue=q4 tensor=t4\n  }\n",
    );
    assert!(
        verify_err(&bad).contains("outside a MIX kernel"),
        "{}",
        verify_err(&bad)
    );
}

#[test]
fn parse_errors_are_located() {
    let e = v2::parse_program("program p\ng0 = input x f99 [`4`]\n").unwrap_err();
    assert_eq!(e.to_string(), "line 2: unknown dtype `f99`");
    let bad = MATMUL.replace("init=(v0 == 0)", "init=(v0 == )");
    let e = v2::parse_program(&bad).unwrap_err();
    assert!(e.to_string().starts_with("line 44:"), "{e}");
    let bad = MATMUL.replace("i25 = free_tensor", "i26 = free_tensor");
    let e = v2::parse_program(&bad).unwrap_err();
    assert!(e.to_string().contains("`i25` is missing"), "{e}");
    // Hostile nesting is an error, not a stack overflow.
    let deep = format!("program p\nf0 = field x `1`\nkernel k0 a aiv block_dim `1` params() {{\n  v0 = var \"x\"\n  for v0 in 0 .. {}1{} {{\n  }}\n}}\n", "(".repeat(1000), ")".repeat(1000));
    assert!(v2::parse_program(&deep)
        .unwrap_err()
        .to_string()
        .contains("nested too deeply"));
}
