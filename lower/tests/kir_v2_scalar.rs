//! Scalar instructions of kernel IR v2 (`assign`, `write_scalar`, `flush_gm`): text round trip,
//! verifier rules, and the data-cache rules of the hazard verifier and the sync pass.

use cranelift_entity::EntityRef;
use moge_lower::kir::v2::{self, Hazard, Inst, InstData, Kernel, Program};
use moge_lower::target::Target;

/// A kernel that sums `x` into `acc`, writes running sums to `y` with scalar writes, flushes the
/// data cache and then reads `y` back with DMA (MTE2) and writes it to `z` (MTE3).
const SCALARS: &str = "\
program scalars
g0 = input x i32 [`16`]
g1 = output y i32 [`16`]
g2 = output z i32 [`16`]
workspace `0`
kernel k0 scalars_0 aiv block_dim `1` params(g0, g1, g2) {
  buf0 = buf UB x1 64 \"stage\"
  t0 = tensor i32 16 buf0 + 0 \"stage\"
  v0 = var \"i\"
  v1 = var \"acc\"
  v2 = var \"x\"
  ev0 = event S -> MTE2
  ev1 = event MTE2 -> MTE3
  i0 = assign dst=v1 value=0
  for v0 in 0 .. 16 {
    i1 = read_scalar dst=v2 src=g0[v0]
    i2 = assign dst=v1 value=(v1 + v2 * (-1))
    i3 = write_scalar dst=g1[v0] value=v1 ; running sum
  }
  i4 = flush_gm buf=g1
  i5 = set_flag event=ev0
  i6 = wait_flag event=ev0
  i7 = copy_in dst=t0 src=g1[0] rows=1 cols=16 gm_pitch=16 ub_stride=16
  i8 = set_flag event=ev1
  i9 = wait_flag event=ev1
  i10 = copy_out dst=g2[0] src=t0 rows=1 cols=16 gm_pitch=16 ub_stride=16
}
";

fn parse(text: &str) -> Program {
    v2::parse_program(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn hazards(text: &str) -> String {
    let p = parse(text);
    v2::check_hazards(p.kernels.values().next().unwrap())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

/// `SCALARS`' kernel with instructions `ids` taken out of the body.
fn without(ids: &[usize]) -> Kernel {
    let mut k = parse(SCALARS).kernels.values().next().unwrap().clone();
    for &i in ids {
        assert!(k.detach(Inst::new(i)));
    }
    k
}

fn kernel_hazards(k: &Kernel) -> String {
    v2::check_hazards(k)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

fn verify_err(text: &str) -> String {
    v2::verify_program(&parse(text), &Target::ascend910b2())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn scalar_instructions_round_trip_and_verify() {
    let p = parse(SCALARS);
    assert_eq!(v2::program_to_string(&p), SCALARS);
    let k = p.kernels.values().next().unwrap();
    assert!(matches!(
        &k.insts[k.inst_order()[2]],
        InstData::Assign { value, .. } if v2::write::ex(value) == "v1 + v2 * (-1)"
    ));
    assert_eq!(verify_err(SCALARS), "");
    assert_eq!(hazards(SCALARS), "");
    for d in k.insts.values() {
        if matches!(
            d,
            InstData::Assign { .. } | InstData::WriteScalar { .. } | InstData::FlushGm { .. }
        ) {
            assert_eq!(d.pipe(), v2::Pipe::S);
        }
    }
}

#[test]
fn the_verifier_rejects_undefined_reads_counter_writes_and_non_i32_scalar_writes() {
    // `acc` read before its first assignment.
    let bad = SCALARS.replace("  i0 = assign dst=v1 value=0\n", "");
    let bad = bad.replace(
        "i1 = read_scalar",
        "i0 = assign dst=v2 value=v2\n    i1 = read_scalar",
    );
    let err = verify_err(&bad);
    assert!(err.contains("i0: v2 is not in scope"), "{err}");
    // A loop counter is not assignable.
    let bad = SCALARS.replace("i2 = assign dst=v1", "i2 = assign dst=v0");
    let err = verify_err(&bad);
    assert!(
        err.contains("i2: v0 is a loop counter and cannot be written"),
        "{err}"
    );
    // A variable first defined inside the loop is out of scope after it.
    let bad = SCALARS.replace(
        "i4 = flush_gm buf=g1",
        "i4 = write_scalar dst=g1[0] value=v2",
    );
    let err = verify_err(&bad);
    assert!(err.contains("i4: v2 is not in scope"), "{err}");
    // Scalar writes go to i32 buffers only.
    let bad = SCALARS.replace("g1 = output y i32", "g1 = output y f32");
    let err = verify_err(&bad);
    assert!(
        err.contains("i3: write_scalar to g1 \"y\" of f32: only i32 buffers"),
        "{err}"
    );
    // Flushing a buffer the kernel does not take.
    let bad = SCALARS
        .replace(
            "g2 = output z i32 [`16`]\n",
            "g2 = output z i32 [`16`]\ng3 = output w i32 [`1`]\n",
        )
        .replace("flush_gm buf=g1", "flush_gm buf=g3");
    let err = verify_err(&bad);
    assert!(
        err.contains("i4: g3 is not a parameter of the kernel"),
        "{err}"
    );
    let e = v2::parse_program(&SCALARS.replace("flush_gm buf=g1", "flush_gm buf=t0")).unwrap_err();
    assert!(
        e.to_string().contains("expected a `gN` id, found `t0`"),
        "{e}"
    );
}

#[test]
fn dma_after_a_scalar_write_needs_a_flush_and_an_ordering_after_it() {
    // No flush: the copy reads GM the data cache has not written back (whatever the offsets).
    let errs = kernel_hazards(&without(&[4]));
    assert!(
        errs.contains("i7 (MTE2) accesses GM g1[0], which i3 wrote through the data cache with no flush_gm since"),
        "{errs}"
    );
    assert!(
        errs.contains("i3: write_scalar is not followed by a flush_gm"),
        "{errs}"
    );
    // Flushed but not ordered: the race names the flush, after which the set must go.
    let errs = kernel_hazards(&without(&[5, 6]));
    assert!(
        errs.contains("read after write on GM g1[0]: i7 (MTE2) is not ordered after i4 (S)"),
        "{errs}"
    );
    // The sync pass repairs it with an S -> MTE2 event set after the flush.
    let mut k = without(&[5, 6]);
    let stats = v2::insert_sync(&mut k).unwrap();
    assert_eq!(stats.flag_pairs, 1);
    v2::check_hazards(&k).unwrap();
    let order = k.inst_order();
    let flush = order
        .iter()
        .position(|i| matches!(k.insts[*i], InstData::FlushGm { .. }))
        .unwrap();
    let set = order
        .iter()
        .position(|i| matches!(k.insts[*i], InstData::SetFlag(_)))
        .unwrap();
    assert!(flush < set);
    // The sync pass cannot place a missing flush: it reports it.
    let mut k = without(&[4]);
    let err = v2::insert_sync(&mut k).unwrap_err();
    assert!(
        err.0.iter().any(|h| matches!(h, Hazard::Unmatched { .. })),
        "{err}"
    );
}

#[test]
fn a_scalar_read_after_dma_needs_a_flush_ordered_after_the_write() {
    // z written by MTE3, then read by the scalar unit.
    let tail = "  i10 = copy_out dst=g2[0] src=t0 rows=1 cols=16 gm_pitch=16 ub_stride=16\n";
    let with = |extra: &str| SCALARS.replace(tail, &format!("{tail}{extra}"));
    let unordered = with("  i11 = read_scalar dst=v2 src=g2[v1]\n");
    let errs = hazards(&unordered);
    assert!(
        errs.contains("read after write on GM g2[v1]: i11 (S) is not ordered after i10 (MTE3)"),
        "{errs}"
    );
    let ev = "  ev1 = event MTE2 -> MTE3\n";
    let ordered_no_flush = with(
        "  i11 = set_flag event=ev2\n  i12 = wait_flag event=ev2\n  i13 = read_scalar dst=v2 src=g2[v1]\n",
    )
    .replace(ev, &format!("{ev}  ev2 = event MTE3 -> S\n"));
    let errs = hazards(&ordered_no_flush);
    assert!(
        errs.contains("i13 (S) reads GM g2[v1] through the data cache after i10 wrote it, with no flush_gm ordered between"),
        "{errs}"
    );
    let flushed = with(
        "  i11 = set_flag event=ev2\n  i12 = wait_flag event=ev2\n  i13 = flush_gm buf=g2\n  i14 = read_scalar dst=v2 src=g2[v1]\n",
    )
    .replace(ev, &format!("{ev}  ev2 = event MTE3 -> S\n"));
    assert_eq!(hazards(&flushed), "");
    // A flush before the wait does not invalidate what MTE3 writes after it.
    let early = with(
        "  i11 = flush_gm buf=g2\n  i12 = set_flag event=ev2\n  i13 = wait_flag event=ev2\n  i14 = read_scalar dst=v2 src=g2[v1]\n",
    )
    .replace(ev, &format!("{ev}  ev2 = event MTE3 -> S\n"));
    let errs = hazards(&early);
    assert!(
        errs.contains("i14 (S) reads GM g2[v1] through the data cache after i10"),
        "{errs}"
    );
    // The sync pass orders the read's flush after the write: its wait goes before the flush.
    let mut k = parse(&with(
        "  i11 = flush_gm buf=g2\n  i12 = read_scalar dst=v2 src=g2[v1]\n",
    ))
    .kernels
    .values()
    .next()
    .unwrap()
    .clone();
    v2::insert_sync(&mut k).unwrap_or_else(|e| panic!("{e}"));
    v2::check_hazards(&k).unwrap();
    let order = k.inst_order();
    let wait = order
        .iter()
        .rposition(|i| matches!(k.insts[*i], InstData::WaitFlag(_)))
        .unwrap();
    assert!(matches!(k.insts[order[wait + 1]], InstData::FlushGm { .. }));
}
