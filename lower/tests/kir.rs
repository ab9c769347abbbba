//! Kernel-IR tests: lowering decisions, budgets and re-tiling, refusals, and the verifier, on graph
//! kernels written in the graph IR's text form.

use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::{DType, Kernel};
use moge_lower::kir::{self, InstData, StageKind};
use moge_lower::schedule::{schedule_kernel, BudgetError, LowerError, Schedule, ScheduleOptions};
use moge_lower::target::Target;

fn kernel(text: &str, binds: &[(&str, i64)]) -> Kernel {
    let k = parse_kernel(text).unwrap_or_else(|e| panic!("{e}"));
    k.specialize(binds).unwrap_or_else(|e| panic!("{e}"))
}

fn softmax(n: i64) -> Kernel {
    kernel(
        "kernel softmax<N>(x: f32[T, N]) -> (y: f32[T, N]) {
  dyn T
  v0 = param 0 : f32[T, N] @2:5-2:20
  v1 = softmax v0, axis=1 : f32[T, N] @4:5-4:20
  return y = v1
}",
        &[("N", n)],
    )
}

/// Schedules `k` for the default target (910B2) with the default options.
fn schedule_default(k: &Kernel) -> Result<Vec<Schedule>, LowerError> {
    schedule_kernel(k, &Target::default(), &ScheduleOptions::default())
}

#[test]
fn softmax_tile_rows_fill_the_unified_buffer() {
    // Softmax over 64 f32 rows, r rows per tile: the double-buffered input and output queues take
    // 4 x 256r B; the scratch holds the shifted rows and the exponentials (256r B each; the per-row max
    // and sum share those buffers) and one 32-byte broadcast block per row (8r f32, rounded up to 64
    // elements). So the need is 1536r + 32 * align_up(r, 8) B, which is 188160 B for r = 120 and
    // 189952 B for r = 121: 120 rows fit in the 188416 usable bytes.
    let s = &schedule_default(&softmax(64)).unwrap()[0];
    let b = s.budget();
    assert_eq!(b.tile_rows, 120);
    assert_eq!(b.ub_bytes, 188_160);
    assert_eq!(b.ub_usable, 188_416);
    let queue = |name: &str| b.buffers.iter().find(|u| u.name == name).unwrap().clone();
    assert_eq!((queue("x").count, queue("x").bytes), (2, 120 * 256));
    assert_eq!((queue("y").count, queue("y").bytes), (2, 120 * 256));
    assert!(b.double_buffered);
}

#[test]
fn a_smaller_buffer_or_a_cap_gives_fewer_rows_per_tile() {
    let k = softmax(64);
    // With 32 KiB: 1536 * 20 + 32 * 24 = 31488 fits, 1536 * 21 + 32 * 24 = 33024 does not.
    let small = Target {
        ub_usable: 32 * 1024,
        ..Target::default()
    };
    let retiled = schedule_kernel(&k, &small, &ScheduleOptions::default()).unwrap()[0]
        .budget()
        .clone();
    assert_eq!(retiled.tile_rows, 20);
    assert_eq!(retiled.ub_bytes, 31_488);
    let capped = schedule_kernel(
        &k,
        &Target::default(),
        &ScheduleOptions {
            max_tile_rows: 8,
            ..ScheduleOptions::default()
        },
    )
    .unwrap();
    assert_eq!(capped[0].budget().tile_rows, 8);
    assert_eq!(capped[0].func().split.tile_rows, 8);
}

#[test]
fn a_row_too_long_for_the_unified_buffer_is_refused_with_the_buffers() {
    // One row of 60000 f32 is 240000 B (rounded up to 60032 elements = 240128 B); the input queue alone
    // needs two of them.
    let err = schedule_default(&softmax(60_000)).unwrap_err();
    let LowerError::Budget(BudgetError::DoesNotFit {
        kernel,
        need,
        have,
        buffers,
    }) = &err
    else {
        panic!("expected a budget error, got {err}");
    };
    assert_eq!(kernel, "softmax_k0");
    assert_eq!(*have, 188_416);
    let x = buffers.iter().find(|b| b.name == "x").unwrap();
    assert_eq!((x.count, x.bytes), (2, 240_128));
    assert!(*need >= 4 * 240_128);
    let text = err.to_string();
    assert!(
        text.starts_with(
            "kernel `softmax_k0` does not fit in the unified buffer: one row per tile needs "
        ),
        "{text}"
    );
    assert!(text.contains("188416 B are usable"), "{text}");
    assert!(text.contains("`x` 2 x 240128 B"), "{text}");
    assert!(text.contains("`y` 2 x 240128 B"), "{text}");
}

#[test]
fn ops_without_a_vector_lowering_are_refused_with_their_location() {
    let k = kernel(
        "kernel mm<K>(a: f32[T, K], b: f32[K, K]) -> (c: f32[T, K]) {
  dyn T
  v0 = param 0 : f32[T, K]
  v1 = param 1 : f32[K, K]
  v2 = matmul v0, v1 : f32[T, K] @7:9-7:20
  return c = v2
}",
        &[("K", 16)],
    );
    let err = schedule_default(&k).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot lower `matmul` at line 7, column 9: matrix multiplication needs a cube kernel; `schedule_kernel` schedules vector kernels only (`compile_program` splits a kernel into cube and vector kernels)"
    );
    let k = kernel(
        "kernel s<N>(x: f32[T, N]) -> (y: f32[N]) {
  dyn T
  v0 = param 0 : f32[T, N]
  v1 = sum v0, axis=0 : f32[N] @3:9-3:20
  v2 = softmax v0, axis=1 : f32[T, N]
  return y = v1
}",
        &[("N", 16)],
    );
    let err = schedule_default(&k).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot lower `sum` at line 3, column 9: "),
        "{err}"
    );
}

#[test]
fn unspecialized_kernels_are_refused() {
    let k = parse_kernel(
        "kernel softmax<N>(x: f32[T, N]) -> (y: f32[T, N]) {
  dyn T
  v0 = param 0 : f32[T, N]
  v1 = softmax v0, axis=1 : f32[T, N]
  return y = v1
}",
    )
    .unwrap();
    let err = schedule_default(&k).unwrap_err();
    assert_eq!(
        err.to_string(),
        "kernel `softmax` is not specialized: bind N first"
    );
}

#[test]
fn rows_are_split_over_all_vector_cores() {
    let s = &schedule_kernel(
        &softmax(64),
        &Target::from_name("ascend910b4").unwrap(),
        &ScheduleOptions::default(),
    )
    .unwrap()[0];
    let f = s.func();
    assert_eq!(f.split.block_dim.to_string(), "min(40, max(T, 1))");
    let eval = |field, t: i64| {
        f.fields[field]
            .expr
            .eval(&|n| (n == "T").then_some(t))
            .unwrap()
    };
    // 100 rows over 40 cores: 2 each, and the first 20 take one more; no rows at all still launches one
    // core, which does nothing.
    assert_eq!(eval(f.split.per_core_field, 100), 2);
    assert_eq!(eval(f.split.rem_field, 100), 20);
    assert_eq!(f.split.block_dim.eval(&|_| Some(0)).unwrap(), 1);
    assert_eq!(eval(f.split.per_core_field, 0), 0);
    assert_eq!(eval(f.split.rem_field, 0), 0);
}

#[test]
fn resident_loads_are_fenced_before_vector_use() {
    let k = kernel(
        "kernel scale<N>(x: f32[T, N], w: f32[N]) -> (y: f32[T, N]) {
  dyn T
  v0 = param 0 : f32[T, N]
  v1 = param 1 : f32[N]
  v2 = mul v0, v1 : f32[T, N]
  return y = v2
}",
        &[("N", 24)],
    );
    let s = &schedule_default(&k).unwrap()[0];
    let f = s.func();
    let init = f.stage(StageKind::Init).unwrap();
    let kinds: Vec<&str> = f.stages[init]
        .insts
        .iter()
        .map(|&i| match f.insts[i] {
            InstData::Load { .. } => "load",
            InstData::SetFlag(_) => "set",
            InstData::WaitFlag(_) => "wait",
            _ => "other",
        })
        .collect();
    // The vector pipe must wait for the load (MTE2) before any tile reads the table.
    assert_eq!(kinds, ["load", "set", "wait"]);
    assert!(s.kir_text().contains("ev0 = mte2 -> v"));
    assert!(s.kir_text().contains("vec_mul"), "{}", s.kir_text());
}

#[test]
fn the_verifier_reports_broken_kernels() {
    let s = &schedule_default(&softmax(64)).unwrap()[0];
    let good = s.func().clone();
    assert_eq!(kir::verify(&good), Ok(()));

    // A compute instruction moved before the copy that fills its operand.
    let mut f = good.clone();
    let compute = f.stage(StageKind::Compute).unwrap();
    let first = f.stages[compute].insts.remove(0);
    let init = f.stage(StageKind::Init).unwrap();
    f.stages[init].insts.push(first);
    let errs = kir::verify(&f).unwrap_err().to_string();
    assert!(errs.contains("reads t1 before it is written"), "{errs}");
    assert!(errs.contains("init writes"), "{errs}");

    // A buffer too small for its tile.
    let mut f = good.clone();
    let b = f.buffers.keys().next().unwrap();
    f.buffers[b].bytes = 32;
    let errs = kir::verify(&f).unwrap_err().to_string();
    assert!(errs.contains("bytes but buf0 has 32"), "{errs}");

    // Two live tiles in one scratch buffer.
    let mut f = good.clone();
    let scratch: Vec<_> = f
        .tiles
        .iter()
        .filter(|(_, d)| matches!(d.home, kir::Home::Buffer(b) if f.buffers[b].kind == kir::BufferKind::Scratch))
        .map(|(t, _)| t)
        .collect();
    let home = f.tiles[scratch[0]].home;
    for &t in &scratch {
        f.tiles[t].home = home;
    }
    let errs = kir::verify(&f).unwrap_err().to_string();
    assert!(errs.contains("share it while both are live"), "{errs}");

    // A dangling instruction id stops the checks early with one error.
    let mut f = good;
    let compute = f.stage(StageKind::Compute).unwrap();
    f.stages[compute].insts.push(kir::Inst::from_u32(999));
    let errs = kir::verify(&f).unwrap_err();
    assert_eq!(errs.0.len(), 1);
    assert_eq!(errs.to_string(), "stage2: instruction i999 does not exist");
}

#[test]
fn dumps_read_back_and_bad_text_is_an_error() {
    let s = &schedule_default(&softmax(100)).unwrap()[0];
    let text = s.kir_text();
    let parsed = kir::parse_function(&text).unwrap();
    assert_eq!(&parsed, s.func());
    assert_eq!(kir::function_to_string(&parsed), text);
    // Every truncation is an error (or, cut at a line end after the last stage, still parses), never a
    // panic.
    for (i, _) in text.char_indices() {
        let _ = kir::parse_function(&text[..i]);
    }
    assert_eq!(
        kir::parse_function("").unwrap_err().to_string(),
        "line 1: expected `kernel NAME CORE {`, found the end"
    );
    let bad = text.replacen("seg_reduce.max", "seg_reduce.mid", 1);
    let err = kir::parse_function(&bad).unwrap_err();
    assert_eq!(err.message, "unknown reduction `mid`");
    let bad = text.replacen("t1 = ", "t9 = ", 1);
    assert!(kir::parse_function(&bad)
        .unwrap_err()
        .message
        .contains("defined twice"));
    let bad = text.replacen("x2 bytes", "x2 bites", 1);
    let at = bad.find("bites=").unwrap();
    let token = bad[at..].split_whitespace().next().unwrap();
    assert_eq!(
        kir::parse_function(&bad).unwrap_err().message,
        format!("expected `bytes=N`, found `{token}`")
    );
}

#[test]
fn the_verifier_checks_copies_and_segment_operands() {
    // The softmax kernel: i0 = copy_in t1, arg0 (in copy_in); i1 = seg_reduce.max t2, t1 with fold
    // tile t3 (8 partials a 64-element row); i2 = seg_sub t4, t1, t2 with block tile t5;
    // i5 = seg_div t0, t6, t7 with block tile t9; i6 = copy_out arg1, t0 (in copy_out).
    let s = &schedule_default(&softmax(64)).unwrap()[0];
    let good = s.func().clone();
    let arg = |i: u32| kir::Arg::from_u32(i);
    let tile = |i: u32| kir::Tile::from_u32(i);

    // Arguments with swapped roles, and an input of another element type.
    let mut f = good.clone();
    f.args[arg(0)].role = kir::ArgRole::Output;
    f.args[arg(1)].role = kir::ArgRole::Input;
    f.args[arg(0)].dtype = DType::F16;
    let errs = kir::verify(&f).unwrap_err().to_string();
    assert!(
        errs.contains("i0: arg0 is not an input read by rows of t1"),
        "{errs}"
    );
    assert!(
        errs.contains("i0: t1 does not have the element type of arg0"),
        "{errs}"
    );
    assert!(
        errs.contains("i6: arg1 is not an output written by rows of t0"),
        "{errs}"
    );

    // The two copies in each other's stage.
    let mut f = good.clone();
    let copy_in = f.stage(StageKind::CopyIn).unwrap();
    let copy_out = f.stage(StageKind::CopyOut).unwrap();
    let (a, b) = (
        f.stages[copy_in].insts.clone(),
        f.stages[copy_out].insts.clone(),
    );
    f.stages[copy_in].insts = b;
    f.stages[copy_out].insts = a;
    let errs = kir::verify(&f).unwrap_err().to_string();
    assert!(
        errs.contains("i0: copy_in must be in copy_in and fill a vecin queue tile"),
        "{errs}"
    );
    assert!(
        errs.contains("i6: copy_out must be in copy_out and drain a vecout queue tile"),
        "{errs}"
    );

    // A block tile of the wrong stride, and an integer divisor.
    let mut f = good.clone();
    f.tiles[tile(5)].stride = 16;
    f.tiles[tile(7)].elem = kir::Elem::I32;
    let errs = kir::verify(&f).unwrap_err().to_string();
    assert!(
        errs.contains("i2: block tile t5 must have stride 8"),
        "{errs}"
    );
    assert!(
        errs.contains("i5: operand t7 is i32, expected f32"),
        "{errs}"
    );

    // A fold tile for 64-element rows must hold 8 partials a row; 64 is the long segments' slot.
    let mut f = good;
    f.tiles[tile(3)].stride = 64;
    let errs = kir::verify(&f).unwrap_err().to_string();
    assert!(
        errs.contains("i1: fold tile t3 must be f32 with stride 64 (segments longer than 64) or 8"),
        "{errs}"
    );
}

fn with_hint(hint: &str) -> Kernel {
    kernel(
        &format!(
            "kernel softmax<N>(x: f32[T, N]) -> (y: f32[T, N]) {{
  dyn T
  v0 = param 0 : f32[T, N] @2:5-2:20
  {hint}
  v1 = softmax v0, axis=1 : f32[T, N] @4:5-4:20
  return y = v1
}}"
        ),
        &[("N", 64)],
    )
}

#[test]
fn vector_hints_are_honored() {
    let s = schedule_default(&with_hint("#[tile(rows = 24)]")).unwrap();
    assert_eq!(s[0].func().split.tile_rows, 24);
    let s = schedule_default(&with_hint("#[block_dim(n = 7)]")).unwrap();
    assert_eq!(s[0].func().split.block_dim.to_string(), "min(7, max(T, 1))");
    let s = schedule_default(&with_hint("#[buffer_num(n = 1)]")).unwrap();
    let f = s[0].func();
    assert!(f.queues.values().all(|q| f.buffers[q.buffer].count == 1));
    // Without hints: double buffered, all 48 cores.
    let s = schedule_default(&softmax(64)).unwrap();
    let f = s[0].func();
    assert!(f.queues.values().all(|q| f.buffers[q.buffer].count == 2));
    assert_eq!(f.split.block_dim.to_string(), "min(48, max(T, 1))");
}

#[test]
fn hints_that_cannot_be_honored_are_located_errors() {
    let cases = [
        (
            "#[tile(rows = 4000)]",
            "tile(rows = 4000) does not fit the Unified Buffer: at most",
        ),
        (
            "#[tile(rows = 5000)]",
            "a vector tile has at most 4095 rows",
        ),
        (
            "#[block_dim(n = 49)]",
            "block_dim(n = 49) exceeds the 48 vector cores of ascend910b2",
        ),
        ("#[buffer_num(n = 3)]", "single (1) or double (2) buffered"),
        (
            "#[tile(m = 128)]",
            "tile(m = ..) does not apply to a vector kernel",
        ),
    ];
    for (hint, expected) in cases {
        let e = schedule_default(&with_hint(hint)).unwrap_err().to_string();
        assert!(e.contains("at line 4, column 5"), "{hint}: {e}");
        assert!(e.contains(expected), "{hint}: {e}");
    }
}

#[test]
fn an_ill_typed_graph_does_not_compile() {
    // The softmax claims an i32 result of an f32 operand: the graph verifier must refuse it.
    let k = parse_kernel(
        "kernel bad(x: f32[T, 64]) -> (y: i32[T, 64]) {
  dyn T
  v0 = param 0 : f32[T, 64]
  v1 = softmax v0, axis=1 : i32[T, 64]
  return y = v1
}",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = schedule_default(&k).unwrap_err();
    assert!(matches!(e, LowerError::IllTyped { .. }), "{e}");
    assert!(
        e.to_string().contains("kernel `bad` is not valid graph IR"),
        "{e}"
    );
}

#[test]
fn groups_of_four_are_spread_and_the_verifier_checks_the_relayout() {
    // Groups of 4 elements are not 32-byte aligned: the selection runs on a spread copy whose groups
    // are 8 elements apart, reached by a whole-tile Gather from the row tile, with the index tiles
    // numbered whole in init.
    let k = kernel(
        "kernel g<E, G>(x: f32[T, E]) -> (v: f32[T, G], i: i32[T, G]) {
  dyn T
  v0 = param 0 : f32[T, E]
  v1, v2 = group_topk v0, groups=G, k=1 : f32[T, G], i32[T, G] @3:12-3:30
  return v = v1, i = v2
}",
        &[("E", 16), ("G", 4)],
    );
    let s = &schedule_default(&k).unwrap()[0];
    let f = s.func();
    kir::verify(f).unwrap();
    let text = kir::function_to_string(f);
    assert!(text.contains("seg(4x4/8)"), "{text}");
    let find = |want: fn(&InstData) -> bool| f.insts.iter().find(|(_, d)| want(d)).unwrap().0;
    let gather = find(|d| matches!(d, InstData::Gather { .. }));
    let iota = find(|d| matches!(d, InstData::Iota { .. }));
    let InstData::Gather { dst, table, .. } = f.insts[gather] else {
        unreachable!()
    };
    // The spread copy: 4 groups of 8 per row, from the 16-wide row tile.
    assert_eq!((f.tiles[dst].cols, f.tiles[dst].stride), (32, 32));
    assert_eq!(f.tiles[table].cols, 16);
    assert_eq!(f.tiles[table].rows, kir::Rows::Tile { mult: 1 });

    // An Iota of rows must number the whole tile: its count is the row stride.
    let mut broken = f.clone();
    if let InstData::Iota { count, .. } = &mut broken.insts[iota] {
        *count -= 1;
    }
    let errs = kir::verify(&broken).unwrap_err().to_string();
    assert!(errs.contains("or rows of stride 31"), "{errs}");
    // A table is one resident row or a tile of the current rows, never a fixed block of rows.
    let mut broken = f.clone();
    broken.tiles[table].rows = kir::Rows::Fixed(2);
    let errs = kir::verify(&broken).unwrap_err().to_string();
    assert!(
        errs.contains("must be one resident row or a tile of rows"),
        "{errs}"
    );
}
