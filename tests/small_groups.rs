//! Groups narrower than 8 elements (or of any length that is not a multiple of 8) inside a row: the
//! vector lowering computes them in its spread layout (lower/src/schedule/lower_vector/spread.rs).
//! The issue's small MoGE config (E = 16, G = 4), E = 12, G = 3 and groups of two (E = 8, G = 4) run
//! on the emulator against the interpreter and against plain f64 implementations of README "Numeric
//! rules", with the value classes of `numerics` (NaN, +-inf, -0.0, ties, huge and tiny magnitudes):
//! group_topk, gather, max/min/argmax/argmin/sum over groups, softmax, rms_norm and the per-group
//! broadcasts (a group's maximum against its elements, a vector against every group).

use moge::graph::{DType, Kernel};
use moge::run::load_kernel;
use moge::Tensor;

use crate::numerics::{
    check, compile, random_matrix, rows_of, rows_want, select, token_counts, Values, Want,
};
use crate::rng::Rng;

const SOURCE: &str = r#"
#[moge::kernel]
pub fn small_groups<const E: usize, const G: usize>(x: Tensor<f32, (T, E)>, table: Tensor<f32, (E,)>) -> (
    Tensor<f32, (T, G)>, Tensor<i32, (T, G)>, Tensor<f32, (T, G)>, Tensor<f32, {(T, G, 1)}>,
    Tensor<f32, {(T, G, 1)}>, Tensor<i32, {(T, G, 1)}>, Tensor<i32, {(T, G, 1)}>, Tensor<f32, {(T, G, 1)}>,
) {
    let (best, best_at) = group_topk(x, G, 1);
    let parts = reshape(x, (T, G, E / G));
    (
        best, best_at, gather(table, best_at), max(parts, -1, true), min(parts, -1, true),
        argmax(parts, -1, true), argmin(parts, -1, true), sum(parts, -1, true),
    )
}

#[moge::kernel]
pub fn group_rows<const E: usize, const G: usize>(x: Tensor<f32, (T, E)>, w: Tensor<f32, {(E / G,)}>) -> (
    Tensor<f32, {(T, G, E / G)}>, Tensor<f32, {(T, G, E / G)}>, Tensor<f32, {(T, G, E / G)}>,
    Tensor<f32, {(T, G, E / G)}>, Tensor<f32, {(T, G, E / G)}>, Tensor<f32, (T, E)>,
) {
    let parts = reshape(x, (T, G, E / G));
    (
        softmax(parts, -1), log_softmax(parts, -1), rms_norm(parts, w, 1e-5),
        parts - max(parts, -1, true), parts * w, softmax(x, -1),
    )
}
"#;

/// (E, G): groups of 4, 4 with a row of 12 (not a multiple of 8 either), and 2.
const CONFIGS: [(usize, usize); 3] = [(16, 4), (12, 3), (8, 4)];

fn kernel(name: &str, e: usize, g: usize) -> Kernel {
    load_kernel(
        "small_groups.rs",
        SOURCE,
        Some(name),
        &[("E", e as i64), ("G", g as i64)],
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The f64 rules for `small_groups`: per group the best (value, global index), the table at it, the
/// NaN-first maximum and minimum, their indices inside the group, and the sum.
fn small_groups_want(x: &Tensor, table: &[f64], g: usize) -> Vec<Want> {
    let mut out: [Vec<f64>; 8] = Default::default();
    for row in rows_of(x) {
        let size = row.len() / g;
        for part in row.chunks(size) {
            let base = out[0].len() % g * size;
            let (hi, at_hi) = select(part, 1, false)[0];
            let (lo, at_lo) = select(part, 1, true)[0];
            let values = [
                hi,
                (base + at_hi) as f64,
                table[base + at_hi],
                hi,
                lo,
                at_hi as f64,
                at_lo as f64,
                part.iter().sum(),
            ];
            for (o, v) in out.iter_mut().zip(values) {
                o.push(v);
            }
        }
    }
    out.into_iter()
        .enumerate()
        .map(|(i, v)| {
            if [1, 5, 6].contains(&i) {
                Want::I(v.into_iter().map(|x| x as i64).collect())
            } else {
                Want::F(v)
            }
        })
        .collect()
}

/// The f64 rules for `group_rows`: softmax, log-softmax and rms_norm of every group (the rules of
/// `numerics::rows_want` on the groups as rows), the group's NaN-first maximum subtracted, `w` applied,
/// and the softmax of the whole row.
fn group_rows_want(x: &Tensor, w: &[f64], g: usize) -> Vec<Want> {
    let (t, e) = (x.shape[0], x.shape[1]);
    let groups =
        Tensor::from_f32(DType::F32, vec![t * g, e / g], x.as_f32().unwrap().to_vec()).unwrap();
    let mut want = rows_want(&groups, w, 1e-5);
    let (mut centred, mut scaled) = (vec![], vec![]);
    for part in rows_of(&groups) {
        let m = select(&part, 1, false)[0].0;
        for (j, &v) in part.iter().enumerate() {
            centred.push(v - m);
            scaled.push(v * w[j]);
        }
    }
    want.push(Want::F(centred));
    want.push(Want::F(scaled));
    // The softmax of whole rows: with E = 12 its rows are padded to 16 elements, so the groups are
    // spread from and packed into padded rows.
    let whole = rows_want(x, &vec![1.0; e], 1e-5).swap_remove(0);
    want.push(whole);
    want
}

/// Rows that exercise the selection rule inside groups of `e / g`: all equal, all -inf, all NaN, a
/// NaN after a +inf, signed zeros, and a maximum repeated at two positions of every group.
fn special_rows(e: usize, g: usize) -> Tensor {
    let size = e / g;
    let mut rows = vec![0.75f32; e];
    rows.extend(vec![f32::NEG_INFINITY; e]);
    rows.extend(vec![f32::NAN; e]);
    let mut mixed: Vec<f32> = (0..e).map(|i| i as f32 * 0.25).collect();
    mixed[0] = f32::INFINITY;
    mixed[1] = f32::NAN;
    mixed[e - 1] = f32::INFINITY;
    rows.extend(mixed);
    rows.extend((0..e).map(|i| if i % 3 == 0 { -0.0 } else { 0.0 }));
    rows.extend((0..e).map(|i| {
        if i % size == size - 1 || i % size == 0 {
            2.0
        } else {
            -1.0
        }
    }));
    Tensor::from_f32(DType::F32, vec![rows.len() / e, e], rows).unwrap()
}

#[test]
fn small_group_selections_and_reductions_follow_the_rule() {
    let mut rng = Rng(0x5_9a11);
    // Sums of more than one huge value could overflow in one order and not in another.
    let values = Values {
        huge: 1e36,
        non_finite: true,
    };
    for (e, g) in CONFIGS {
        let kernel = kernel("small_groups", e, g);
        let program = compile(&kernel);
        let table: Vec<f32> = (0..e).map(|i| 1.0 + i as f32 / 8.0).collect();
        let table_t = Tensor::from_f32(DType::F32, vec![e], table.clone()).unwrap();
        let table64: Vec<f64> = table.iter().map(|&x| f64::from(x)).collect();
        let x = special_rows(e, g);
        let want = small_groups_want(&x, &table64, g);
        // The hand-known picks: ties go to the lowest index (rows 0, 1, 4 and 5), NaN wins (rows 2
        // and 3, where it is in the first group only).
        let Want::I(at) = &want[1] else {
            unreachable!()
        };
        let firsts: Vec<i64> = (0..g).map(|k| (k * e / g) as i64).collect();
        for row in [0, 1, 2, 4, 5] {
            assert_eq!(&at[row * g..(row + 1) * g], &firsts[..], "row {row}");
        }
        assert_eq!(at[3 * g], 1, "NaN beats +inf");
        assert_eq!(at[4 * g - 1], (e - 1) as i64, "+inf in the last group");
        check(
            &kernel,
            &program,
            &[x, table_t.clone()],
            &want,
            &format!("small_groups E={e} G={g} special rows"),
        );
        for t in token_counts(&mut rng) {
            let x = random_matrix(&mut rng, t, e, values);
            let want = small_groups_want(&x, &table64, g);
            check(
                &kernel,
                &program,
                &[x, table_t.clone()],
                &want,
                &format!("small_groups E={e} G={g} T={t}"),
            );
        }
    }
}

#[test]
fn small_group_softmax_rms_norm_and_broadcasts_follow_the_rule() {
    let mut rng = Rng(0x6_40c5);
    // Squares of huge values would overflow f32 inside rms_norm while the f64 reference does not.
    let values = Values {
        huge: 1e17,
        non_finite: true,
    };
    for (e, g) in CONFIGS {
        let kernel = kernel("group_rows", e, g);
        let program = compile(&kernel);
        let w: Vec<f32> = (0..e / g).map(|i| 0.5 + i as f32 / 4.0).collect();
        let w_t = Tensor::from_f32(DType::F32, vec![e / g], w.clone()).unwrap();
        let w64: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
        let mut inputs = vec![special_rows(e, g)];
        for t in token_counts(&mut rng) {
            inputs.push(random_matrix(&mut rng, t, e, values));
        }
        for x in inputs {
            let what = format!("group_rows E={e} G={g} T={}", x.shape[0]);
            let want = group_rows_want(&x, &w64, g);
            check(&kernel, &program, &[x, w_t.clone()], &want, &what);
        }
    }
}
