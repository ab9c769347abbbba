//! Linking: shared parameters and fields, renamed clashes, remapped references, located errors.

use cranelift_entity::EntityRef;

use super::*;
use crate::kir::v2::{parse_program, program_to_string, IExpr, InstData};
use crate::kir::v2::{BinOp, GmKind, GmRef, Tensor, Var};
use crate::DType;

/// A copy kernel `x -> mid` over `f0` tiles of `rows` rows.
const FIRST: &str = "\
program a
dim M
g0 = input x f32 [`M`, `64`]
g1 = output mid f32 [`M`, `64`]
workspace `0`
f0 = field tiles `ceil_div(M, 8)`
f1 = field cols `64`
kernel k0 p_k0 aiv block_dim `1` params(g0, g1) {
  buf0 = buf UB x1 2048 \"x\"
  t0 = tensor f32 512 buf0 + 0 \"x\"
  v0 = var \"tile\"
  ev0 = event MTE2 -> MTE3
  for v0 in 0 .. f0 {
    i0 = copy_in dst=t0 src=g0[v0 * f1 * 8] rows=8 cols=64 gm_pitch=f1 ub_stride=64
    i1 = set_flag event=ev0
    i2 = wait_flag event=ev0
    i3 = copy_out dst=g1[v0 * f1 * 8] src=t0 rows=8 cols=64 gm_pitch=f1 ub_stride=64
  }
}
";

/// A copy kernel `mid -> y` through a workspace slice named like the first part's output, with a
/// field `tiles` of the same value (shared) and `cols` of another value (renamed).
const SECOND: &str = "\
program b
dim M
g0 = workspace mid f32 [`8`, `32`] at `0`
g1 = input mid f32 [`M`, `64`]
g2 = output y f32 [`M`, `64`]
workspace `1024`
f0 = field cols `32`
f1 = field tiles `ceil_div(M, 8)`
kernel k0 p_k1 aiv block_dim `1` params(g1, g0, g2) {
  buf0 = buf UB x1 2048 \"mid\"
  t0 = tensor f32 512 buf0 + 0 \"mid\"
  v0 = var \"tile\"
  ev0 = event MTE2 -> MTE3
  for v0 in 0 .. f1 {
    i0 = copy_in dst=t0 src=g1[v0 * 512] rows=8 cols=64 gm_pitch=64 ub_stride=64
    i1 = set_flag event=ev0
    i2 = wait_flag event=ev0
    i3 = copy_out dst=g2[v0 * 512 + f0] src=t0 rows=8 cols=64 gm_pitch=64 ub_stride=64
  }
}
";

fn linked() -> Program {
    let mut l = Linker::new("p", vec![]);
    let mid = GmBufData {
        name: "mid".into(),
        kind: GmKind::Intermediate,
        dtype: DType::F32,
        shape: vec![HostExpr::dim("M"), HostExpr::Int(64)],
    };
    l.declare(mid);
    l.link(parse_program(FIRST).unwrap()).unwrap();
    l.link(parse_program(SECOND).unwrap()).unwrap();
    l.finish()
}

#[test]
fn parts_share_parameters_and_equal_fields_and_rename_clashes() {
    let p = linked();
    // Written by hand from the two parts: `mid` is the declared intermediate (g0) in both kernels,
    // the second part's workspace slice of the same name is renamed, `tiles` is shared and the
    // second `cols` (another value) becomes `cols_1`; every field reference follows.
    let expected = "\
program p
dim M
g0 = intermediate mid f32 [`M`, `64`]
g1 = input x f32 [`M`, `64`]
g2 = workspace mid_1 f32 [`8`, `32`] at `0`
g3 = output y f32 [`M`, `64`]
workspace `1024`
f0 = field tiles `ceil_div(M, 8)`
f1 = field cols `64`
f2 = field cols_1 `32`
kernel k0 p_k0 aiv block_dim `1` params(g1, g0) {
  buf0 = buf UB x1 2048 \"x\"
  t0 = tensor f32 512 buf0 + 0 \"x\"
  v0 = var \"tile\"
  ev0 = event MTE2 -> MTE3
  for v0 in 0 .. f0 {
    i0 = copy_in dst=t0 src=g1[v0 * f1 * 8] rows=8 cols=64 gm_pitch=f1 ub_stride=64
    i1 = set_flag event=ev0
    i2 = wait_flag event=ev0
    i3 = copy_out dst=g0[v0 * f1 * 8] src=t0 rows=8 cols=64 gm_pitch=f1 ub_stride=64
  }
}
kernel k1 p_k1 aiv block_dim `1` params(g0, g2, g3) {
  buf0 = buf UB x1 2048 \"mid\"
  t0 = tensor f32 512 buf0 + 0 \"mid\"
  v0 = var \"tile\"
  ev0 = event MTE2 -> MTE3
  for v0 in 0 .. f0 {
    i0 = copy_in dst=t0 src=g0[v0 * 512] rows=8 cols=64 gm_pitch=64 ub_stride=64
    i1 = set_flag event=ev0
    i2 = wait_flag event=ev0
    i3 = copy_out dst=g3[v0 * 512 + f2] src=t0 rows=8 cols=64 gm_pitch=64 ub_stride=64
  }
}
";
    let text = program_to_string(&p);
    assert_eq!(text, expected);
    // One program: its text reads back as itself, and every reference in it is valid.
    assert_eq!(parse_program(&text).unwrap(), p);
    crate::kir::v2::verify_program(&p, &crate::target::Target::ascend910b2()).unwrap();
}

#[test]
fn a_workspace_slice_yields_its_name_to_a_later_parameter() {
    // Nothing declared: the second part's slice `mid` comes first, then its parameter `mid`.
    let mut l = Linker::new("p", vec![]);
    l.link(parse_program(SECOND).unwrap()).unwrap();
    let p = l.finish();
    let names: Vec<(&str, &str)> =
        p.gm.values()
            .map(|d| (d.kind.name(), d.name.as_str()))
            .collect();
    assert_eq!(
        names,
        [("workspace", "mid_1"), ("input", "mid"), ("output", "y")]
    );
}

#[test]
fn the_workspace_is_the_largest_part_s() {
    let mut l = Linker::new("p", vec![]);
    let mut a = parse_program(FIRST).unwrap();
    a.workspace = HostExpr::dim("M") * HostExpr::Int(4);
    l.link(a).unwrap();
    l.link(parse_program(SECOND).unwrap()).unwrap();
    assert_eq!(l.finish().workspace.to_string(), "max(M * 4, 1024)");
}

#[test]
fn a_parameter_of_two_types_and_a_kernel_name_twice_are_refused() {
    let mut l = Linker::new("p", vec![]);
    l.link(parse_program(FIRST).unwrap()).unwrap();
    let other = SECOND.replace("input mid f32", "input mid f16");
    let e = l.link(parse_program(&other).unwrap()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "program `p`: GM buffer `mid` is f32 [`M`, `64`] in one part and f16 [`M`, `64`] in another"
    );
    let mut l = Linker::new("p", vec![]);
    l.link(parse_program(FIRST).unwrap()).unwrap();
    let e = l.link(parse_program(FIRST).unwrap()).unwrap_err();
    assert_eq!(e.to_string(), "program `p`: two kernels are named `p_k0`");
}

#[test]
fn map_exprs_and_map_gm_reach_every_operand() {
    // Every expression slot of a Fixpipe and an Nd2Nz copy is rewritten, and both GM references.
    let f = |i| IExpr::Field(Field::new(i));
    let mut nd = InstData::CopyNd2Nz {
        dst: Tensor::new(0),
        dst_offset: f(0),
        src: GmRef {
            buf: GmBuf::new(0),
            offset: f(0),
        },
        rows: f(0),
        cols: f(0),
        gm_pitch: f(0),
        nz_rows: f(0),
    };
    let mut seen = 0;
    nd.map_exprs_mut(&mut |e| {
        seen += 1;
        e.map_fields(&mut |_| Field::new(3));
    });
    assert_eq!(seen, 6);
    nd.map_gm(&mut |g| GmBuf::new(g.index() + 5));
    let InstData::CopyNd2Nz {
        dst_offset,
        src,
        rows,
        cols,
        gm_pitch,
        nz_rows,
        ..
    } = nd
    else {
        unreachable!()
    };
    for e in [dst_offset, src.offset, rows, cols, gm_pitch, nz_rows] {
        assert_eq!(e, f(3));
    }
    assert_eq!(src.buf, GmBuf::new(5));
    // A nested expression: both operands' fields.
    let mut e = IExpr::bin(
        BinOp::Add,
        f(1),
        IExpr::bin(BinOp::Mul, f(2), IExpr::Var(Var::new(0))),
    );
    e.map_fields(&mut |x| Field::new(x.index() * 10));
    assert_eq!(
        e,
        IExpr::bin(
            BinOp::Add,
            f(10),
            IExpr::bin(BinOp::Mul, f(20), IExpr::Var(Var::new(0)))
        )
    );
}

/// A part in which two distinct inputs carry one name twice over (`x` and `x`) would have two
/// buffers joined into one: its kernel is reported as aliased, and one-to-one parts are not.
#[test]
fn kernels_whose_buffers_were_joined_are_reported_as_aliased() {
    let mut l = Linker::new("p", vec![]);
    l.link(parse_program(FIRST).unwrap()).unwrap();
    l.link(parse_program(SECOND).unwrap()).unwrap();
    assert!(l.aliased().is_empty(), "{:?}", l.aliased());
    // The same copy, reading `x` and writing a second buffer also named `x`.
    let twice = FIRST
        .replace("program a", "program c")
        .replace("output mid", "output x")
        .replace("p_k0", "p_k2");
    let part = parse_program(&twice).unwrap();
    assert_eq!(part.gm.len(), 2, "two buffers before linking");
    let mut l = Linker::new("p", vec![]);
    l.link(part).unwrap();
    assert_eq!(l.aliased(), ["p_k2".to_string()]);
    let p = l.finish();
    assert_eq!(p.gm.len(), 1, "both buffers are one `x` now");
}
