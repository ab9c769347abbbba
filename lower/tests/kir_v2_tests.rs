//! Kernel IR v2: text round trip, structural verifier and hazard verifier on hand-written kernels
//! (a double-buffered vector kernel, an AIC matmul accumulating over K, a MIX matmul + ReLU).

use moge_lower::kir::v2::{self, Hazard, Inst, InstData, Program};
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

/// The vector pipe needs a barrier for every dependence, write after read included (the later
/// instruction may write before the earlier one has read: CANN's PipeBarrier orders all reads and
/// writes of the instructions before it).
#[test]
fn a_missing_vector_barrier_names_both_instructions_and_the_tensor() {
    let p = parse(VECTOR);
    let k = p.kernels.values().next().unwrap().clone();
    let barriers: Vec<Inst> = k
        .insts
        .iter()
        .filter(|(_, d)| matches!(d, InstData::PipeBarrier(v2::Pipe::V)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(barriers.len(), 3);
    let without = |i: Inst| {
        let mut broken = k.clone();
        broken.detach(i);
        v2::check_hazards(&broken).unwrap_err().to_string()
    };
    // i12 orders the previous iteration's add (i17 reads e) before this iteration's exp writes e.
    let errs = without(barriers[0]);
    assert!(
        errs.contains(
            "write after read on t3 \"e\" in buf3 (UB): i13 (V) is not ordered after i17 (V)"
        ),
        "{errs}"
    );
    // i14 orders the exp's write of e before the mul reads (and rewrites) it.
    let errs = without(barriers[1]);
    assert!(
        errs.contains(
            "read after write on t3 \"e\" in buf3 (UB): i15 (V) is not ordered after i13 (V)"
        ),
        "{errs}"
    );
}

/// Modes 0 and 1 synchronize the cores of the setter's own type: on the AIV side, a mode-1 set and
/// wait (the AI core's two AIVs) order its MTE3 write of GM before its MTE2 read of it; without them
/// the read races, and a mode-1 set never releases the AIC (mode 2 does).
#[test]
fn mode_one_flags_order_the_aiv_side_and_only_it() {
    let tail = "    i38 = free_tensor queue=q6 tensor=t6\n";
    // The AIV side's tail reads back what it wrote to g2, after `flags` (instruction ids from `n`).
    let with = |flags: &str, n: usize| {
        MIX.replace(
            tail,
            &format!(
                "{tail}{flags}    i{} = alloc_tensor queue=q5 tensor=t5\n    \
                 i{} = copy_in dst=t5 src=g2[0] rows=16 cols=16 gm_pitch=16 ub_stride=16\n    \
                 i{} = enque queue=q5 tensor=t5\n    i{} = deque queue=q5 tensor=t5\n    \
                 i{} = free_tensor queue=q5 tensor=t5\n",
                n,
                n + 1,
                n + 2,
                n + 3,
                n + 4
            ),
        )
    };
    let synced = with(
        "    i39 = cross_core_set_flag mode=1 pipe=MTE3 flag=1\n    \
         i40 = cross_core_wait_flag mode=1 pipe=MTE2 flag=1\n",
        41,
    );
    assert!(synced.contains("i45"), "the fixture has the AIV tail");
    let k = parse(&synced).kernels.values().next().unwrap().clone();
    v2::check_hazards(&k).unwrap_or_else(|e| panic!("{e}"));
    let k = parse(&with("", 39))
        .kernels
        .values()
        .next()
        .unwrap()
        .clone();
    let errs = v2::check_hazards(&k).unwrap_err().to_string();
    assert!(
        errs.contains("read after write on GM g2[0]: i40 (MTE2) is not ordered after i37 (MTE3)"),
        "{errs}"
    );
    // A mode-1 set on the AIV side does not stand for the mode-2 set the AIC waits for.
    let text = MIX
        .replace(
            "    i27 = cross_core_wait_flag mode=2 pipe=MTE2 flag=0\n",
            "    i27 = cross_core_wait_flag mode=2 pipe=MTE2 flag=0\n    \
         i39 = cross_core_set_flag mode=1 pipe=MTE2 flag=2\n",
        )
        .replace(
            "    i26 = cross_core_set_flag mode=2 pipe=FIX flag=0\n",
            "    i26 = cross_core_set_flag mode=2 pipe=FIX flag=0\n    \
         i40 = cross_core_wait_flag mode=2 pipe=FIX flag=2\n",
        );
    let k = parse(&text).kernels.values().next().unwrap().clone();
    let errs = v2::check_hazards(&k).unwrap_err().to_string();
    assert!(errs.contains("waits forever"), "{errs}");
}

/// GM offsets that differ by a constant are compared by range (extent `(rows - 1) * pitch + cols`):
/// without the cross-core wait, an AIV read 8 elements into the AIC's 256-element tile races with
/// the Fixpipe (an offset expression of its own used to be taken for another tile), one 256
/// elements on does not (the deleted wait leaves only its set unconsumed).
#[test]
fn gm_tiles_at_a_constant_distance_are_compared_by_range() {
    let unsynced = |offset: &str| {
        let text = MIX.replace(
            "i29 = copy_in dst=t5 src=g3[0]",
            &format!("i29 = copy_in dst=t5 src=g3[{offset}]"),
        );
        hazards_without_first(&text, |d| matches!(d, InstData::CrossCoreWaitFlag { .. }))
    };
    let errs = unsynced("8");
    assert!(
        errs.contains("read after write on GM g3[8]: i29 (MTE2) is not ordered after i24 (FIX)"),
        "{errs}"
    );
    // 256 elements on: no race; only the deleted wait's set is left unconsumed.
    let errs = unsynced("256");
    assert!(
        !errs.contains("on GM") && errs.contains("is never waited for"),
        "{errs}"
    );
}

/// Mode-1 flags pair the two AIVs of an AI core, which the verifier runs as one thread: a set and its
/// wait on the AIV side match each other; a cross-core set nobody waits for (mode 1 or mode 2) is
/// reported at the set.
#[test]
fn mode_one_flags_pair_on_the_aiv_side_and_unwaited_cross_core_sets_are_reported() {
    let end = "    i38 = free_tensor queue=q6 tensor=t6\n";
    let with = |extra: &str| parse(&MIX.replace(end, &format!("{end}{extra}")));
    let paired = with(
        "    i39 = cross_core_set_flag mode=1 pipe=MTE2 flag=3\n    i40 = cross_core_wait_flag mode=1 pipe=MTE2 flag=3\n",
    );
    v2::check_hazards(paired.kernels.values().next().unwrap()).unwrap();
    for (extra, flag) in [
        ("    i39 = cross_core_set_flag mode=1 pipe=MTE2 flag=3\n", 3),
        ("    i39 = cross_core_set_flag mode=2 pipe=MTE2 flag=2\n", 2),
    ] {
        let p = with(extra);
        let errs = v2::check_hazards(p.kernels.values().next().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            errs.contains(&format!("cross_core_set_flag {flag} is never waited for"))
                && errs.contains("i39"),
            "{errs}"
        );
    }
}

#[test]
fn a_missing_cross_core_wait_is_a_gm_race() {
    let errs = hazards_without_first(MIX, |d| matches!(d, InstData::CrossCoreWaitFlag { .. }));
    assert!(
        errs.contains("read after write on GM g3[0]: i29 (MTE2) is not ordered after i24 (FIX)"),
        "{errs}"
    );
}

#[test]
fn single_buffered_reuse_without_free_is_reported() {
    // Swapping FreeTensor after the next AllocTensor: the slot is still in use.
    let errs = hazards_without_first(MATMUL, |d| matches!(d, InstData::FreeTensor { .. }));
    assert!(errs.contains("still in use"), "{errs}");
}

/// The hazard report of `text`'s first kernel once its first instruction matching `is` is
/// detached; panics if nothing matches or no hazard is found.
fn hazards_without_first(text: &str, is: fn(&InstData) -> bool) -> String {
    let mut k = parse(text).kernels.values().next().unwrap().clone();
    let i = k.insts.iter().find(|(_, d)| is(d)).map(|(i, _)| i).unwrap();
    k.detach(i);
    v2::check_hazards(&k).unwrap_err().to_string()
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

/// Removes every in-core flag and barrier (cross-core flags are the lowering's, not the pass's).
fn strip_sync(k: &mut v2::Kernel) {
    let sync: Vec<_> = k
        .insts
        .iter()
        .filter(|(_, d)| {
            matches!(
                d,
                InstData::SetFlag(_) | InstData::WaitFlag(_) | InstData::PipeBarrier(_)
            )
        })
        .map(|(i, _)| i)
        .collect();
    for i in sync {
        k.detach(i);
    }
}

#[test]
fn the_sync_pass_derives_barriers_and_flags_the_verifier_accepts() {
    let p = parse(VECTOR);
    let mut k = p.kernels.values().next().unwrap().clone();
    strip_sync(&mut k);
    assert!(
        v2::check_hazards(&k).is_err(),
        "the stripped kernel must race"
    );
    let stats = v2::insert_sync(&mut k).unwrap_or_else(|e| panic!("{e}"));
    // exp -> mul (RAW on t3), mul -> add (RAW on t3) and add -> the next iteration's exp (WAR on t3,
    // carried by the loop): three barriers; the resident load is ordered by the first queue hand-off
    // of MTE2, so it needs no flag of its own.
    assert_eq!(
        stats,
        v2::SyncStats {
            barriers: 3,
            flag_pairs: 0
        }
    );
    v2::check_hazards(&k).unwrap();
}

#[test]
fn the_sync_pass_places_loop_carried_flags_for_scratch_reuse() {
    // A kernel whose MTE2 copy writes a plain buffer (no queue) that V reads: the copy of the next
    // iteration must wait for the vector read of this one (V -> MTE2, loop-carried) and the read for
    // the copy (MTE2 -> V).
    let text = "program p
g0 = input x f32 [`T`]
g1 = output y f32 [`T`]
workspace `0`
f0 = field tiles `T / 64`
kernel k0 p_0 aiv block_dim `1` params(g0, g1) {
  buf0 = buf UB x1 256 \"x\"
  buf1 = buf UB x2 256 \"y\"
  q0 = queue VECOUT depth 2 buf1
  t0 = tensor f32 64 buf0 + 0 \"x\"
  t1 = tensor f32 64 q0 \"y\"
  v0 = var \"tile\"
  for v0 in 0 .. f0 {
    i0 = copy_in dst=t0 src=g0[v0 * 64] rows=1 cols=64 gm_pitch=64 ub_stride=64
    i1 = alloc_tensor queue=q0 tensor=t1
    i2 = vec op=Unary.Exp dst=[t1] src=[t0] count=64
    i3 = enque queue=q0 tensor=t1
    i4 = deque queue=q0 tensor=t1
    i5 = copy_out dst=g1[v0 * 64] src=t1 rows=1 cols=64 gm_pitch=64 ub_stride=64
    i6 = free_tensor queue=q0 tensor=t1
  }
}
";
    let p = parse(text);
    let mut k = p.kernels.values().next().unwrap().clone();
    let stats = v2::insert_sync(&mut k).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        stats,
        v2::SyncStats {
            barriers: 0,
            flag_pairs: 2
        }
    );
    let mut prog = p.clone();
    *prog.kernels.values_mut().next().unwrap() = k.clone();
    let printed = v2::program_to_string(&prog);
    // MTE2 -> V inside the iteration; V -> MTE2 carried: set once before the loop, waited once after.
    assert!(
        printed.contains("ev0 = event MTE2 -> V\n  ev1 = event V -> MTE2\n"),
        "{printed}"
    );
    assert!(printed.contains("  i11 = set_flag event=ev1\n  for v0 in 0 .. f0 {\n    i9 = wait_flag event=ev1\n    i0 = copy_in"), "{printed}");
    assert!(printed.contains("i0 = copy_in dst=t0 src=g0[v0 * 64] rows=1 cols=64 gm_pitch=64 ub_stride=64\n    i8 = set_flag event=ev0\n    i1 = alloc_tensor queue=q0 tensor=t1\n    i7 = wait_flag event=ev0\n    i2 = vec"), "{printed}");
    assert!(
        printed.contains(
            "    i2 = vec op=Unary.Exp dst=[t1] src=[t0] count=64\n    i10 = set_flag event=ev1\n"
        ),
        "{printed}"
    );
    assert!(
        printed.ends_with("  }\n  i12 = wait_flag event=ev1\n}\n"),
        "{printed}"
    );
    // The result parses back and verifies; deleting any inserted instruction is a race again.
    let reparsed = parse(&printed);
    v2::verify_program(&reparsed, &Target::default()).unwrap();
    for (i, d) in &k.insts {
        if d.is_sync() {
            let mut broken = k.clone();
            broken.detach(i);
            assert!(
                v2::check_hazards(&broken).is_err(),
                "deleting {i} went unnoticed"
            );
        }
    }
}

#[test]
fn the_sync_pass_keeps_cube_kernels_queue_ordered() {
    for text in [MATMUL, MIX] {
        let p = parse(text);
        let mut k = p.kernels.values().next().unwrap().clone();
        let stats = v2::insert_sync(&mut k).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats, v2::SyncStats::default(), "{}", k.name);
    }
}
