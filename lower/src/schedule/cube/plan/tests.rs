//! Planner tests: every plan fits the budgets recomputed here from the buffer shapes, covers the
//! output exactly once, honors the hints, and refuses what cannot be done with the numbers.

use super::*;
use crate::schedule::cube::traffic::traffic;

const SIZES: [u64; 8] = [1, 15, 16, 17, 64, 127, 128, 1000];
const DTYPES: [CubeDType; 3] = [CubeDType::Bf16, CubeDType::F16, CubeDType::F32];

fn shape(m: u64, n: u64, k: u64, dtype: CubeDType) -> MatmulShape {
    MatmulShape { m, n, k, dtype }
}

fn auto(s: MatmulShape) -> MatmulPlan {
    plan_matmul(s, TileRequest::default(), &Target::ascend910b2()).unwrap()
}

/// The budgets of the 910B AIC written out: L1 512 KiB, L0A/L0B 64 KiB, L0C 128 KiB, every side
/// padded to 16 rows and 32-byte columns.
fn assert_fits(p: &MatmulPlan) {
    let e = p.shape.dtype.bytes();
    let pad = |x: u64, a: u64| x.div_ceil(a) * a;
    let c0 = 32 / e;
    let (m, n, k) = (pad(p.m, 16), pad(p.n, c0), pad(p.k, c0));
    let k1 = pad(p.depth * p.k, c0);
    assert!(2 * (m * k1 + k1 * n) * e <= 512 * 1024, "L1 {p:?}");
    assert!(2 * m * k * e <= 64 * 1024, "L0A {p:?}");
    assert!(2 * k * n * e <= 64 * 1024, "L0B {p:?}");
    let c = if p.l0c_double { 2 } else { 1 };
    assert!(c * m * n * 4 <= 128 * 1024, "L0C {p:?}");
    for side in [p.m, p.n, p.k] {
        assert!(
            side > 0 && side % 16 == 0 && side <= 4095,
            "side {side} of {p:?}"
        );
    }
    assert!(p.depth * p.k <= 16384, "Nd2Nz rows {p:?}");
    assert!(p.block_dim >= 1 && p.block_dim <= 24);
}

#[test]
fn every_size_in_every_position_fits_and_covers_the_output_once() {
    for dtype in DTYPES {
        for (i, &m) in SIZES.iter().enumerate() {
            // Each size in each position, with the other two rotating through the list.
            let n = SIZES[(i + 3) % 8];
            let k = SIZES[(i + 5) % 8];
            for s in [
                shape(m, n, k, dtype),
                shape(n, m, k, dtype),
                shape(k, n, m, dtype),
            ] {
                let p = auto(s);
                assert_fits(&p);
                let (tm, tn) = p.tiles();
                assert!(tm * p.m >= s.m && (tm - 1) * p.m < s.m, "{p:?}");
                assert!(tn * p.n >= s.n && (tn - 1) * p.n < s.n, "{p:?}");
                let mut order = p.tile_order();
                assert_eq!(order.len() as u64, tm * tn);
                order.sort();
                order.dedup();
                assert_eq!(order.len() as u64, tm * tn, "a tile twice in {p:?}");
                assert_eq!(p.block_dim, (tm * tn).min(24), "{p:?}");
            }
        }
    }
}

#[test]
fn small_problems_get_small_tiles() {
    // One row: a 16-row tile, not a 256-row one (padding is wasted cube work).
    let p = auto(shape(1, 1000, 1000, CubeDType::Bf16));
    assert_eq!(p.m, 16);
    // The router shape at one token per core wave spreads its columns.
    let p = auto(shape(4096, 64, 5120, CubeDType::Bf16));
    assert_eq!(p.n, 64);
    assert_eq!(p.block_dim, 24);
}

#[test]
fn large_bf16_gemm_uses_the_largest_tiles_and_all_cores() {
    let p = auto(shape(8192, 8192, 8192, CubeDType::Bf16));
    assert_fits(&p);
    // Within 10% of the L0C capacity in f32 accumulators (128 x 256): the most reuse per GM byte.
    assert!(p.m * p.n * 4 * 10 >= 128 * 1024 * 9, "{p:?}");
    assert_eq!(p.block_dim, 24);
    assert!(p.depth * p.k >= 256, "L1 stages too shallow: {p:?}");
}

#[test]
fn requested_tiles_are_honored() {
    let req = TileRequest {
        m: Some(64),
        n: Some(128),
        k: Some(32),
        block_dim: Some(4),
    };
    let p = plan_matmul(
        shape(1000, 1000, 1000, CubeDType::F16),
        req,
        &Target::ascend910b2(),
    )
    .unwrap();
    assert_eq!((p.m, p.n, p.k, p.block_dim), (64, 128, 32, 4));
    assert_fits(&p);
    // A partial request: the rest is chosen.
    let req = TileRequest {
        n: Some(32),
        ..TileRequest::default()
    };
    let p = plan_matmul(
        shape(1000, 1000, 1000, CubeDType::F32),
        req,
        &Target::ascend910b2(),
    )
    .unwrap();
    assert_eq!(p.n, 32);
    assert_fits(&p);
}

#[test]
fn a_tile_that_cannot_fit_names_the_buffer_and_the_bytes() {
    let req = TileRequest {
        m: Some(256),
        n: Some(256),
        k: Some(16),
        block_dim: None,
    };
    let e = plan_matmul(
        shape(512, 512, 512, CubeDType::Bf16),
        req,
        &Target::ascend910b2(),
    )
    .unwrap_err();
    // 256 x 256 f32 accumulators: 262144 bytes against L0C's 131072.
    let text = e.to_string();
    assert!(
        text.contains("L0C") && text.contains("262144") && text.contains("131072"),
        "{text}"
    );
    let req = TileRequest {
        m: Some(128),
        n: Some(16),
        k: Some(256),
        block_dim: None,
    };
    // 2 x 128 x 256 x 4 bytes of f32 A blocks: 262144 against L0A's 65536.
    let e = plan_matmul(
        shape(512, 512, 512, CubeDType::F32),
        req,
        &Target::ascend910b2(),
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("L0A") && text.contains("262144") && text.contains("65536"),
        "{text}"
    );
    // A partial request that cannot fit whatever the rest is.
    let req = TileRequest {
        m: Some(4000),
        ..TileRequest::default()
    };
    let e = plan_matmul(
        shape(512, 512, 512, CubeDType::F32),
        req,
        &Target::ascend910b2(),
    )
    .unwrap_err();
    assert!(matches!(e, PlanError::DoesNotFit { m: 4000, .. }), "{e}");
}

#[test]
fn bad_requests_and_dims_are_refused_with_the_numbers() {
    let t = Target::ascend910b2();
    let s = shape(64, 64, 64, CubeDType::Bf16);
    let e = plan_matmul(
        s,
        TileRequest {
            m: Some(20),
            ..Default::default()
        },
        &t,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "tile m = 20: must be a positive multiple of 16 (the cube fractal)"
    );
    let e = plan_matmul(
        s,
        TileRequest {
            k: Some(4096),
            ..Default::default()
        },
        &t,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "tile k = 4096: exceeds 4095, the most MmadParams takes"
    );
    let e = plan_matmul(
        s,
        TileRequest {
            block_dim: Some(25),
            ..Default::default()
        },
        &t,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "block_dim n = 25: the target ascend910b2 has 24 AIC cores; use 1 to 24"
    );
    let e = plan_matmul(
        shape(64, 64, 65536, CubeDType::Bf16),
        TileRequest::default(),
        &t,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("K = 65536 exceeds 65535"), "{e}");
    let e = plan_matmul(
        shape(64, 70000, 64, CubeDType::Bf16),
        TileRequest::default(),
        &t,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("N = 70000 exceeds 65535"), "{e}");
    let e = plan_matmul(
        shape(1 << 33, 64, 64, CubeDType::Bf16),
        TileRequest::default(),
        &t,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("M = 8589934592 exceeds 4294967295"),
        "{e}"
    );
}

/// The traffic formulas, computed independently of the schedule walk.
#[test]
fn the_walked_schedule_moves_the_tile_minimum_and_at_least_the_compulsory_bytes() {
    for dtype in DTYPES {
        for &(m, n, k) in &[
            (1, 1, 1),
            (17, 1000, 127),
            (1000, 15, 64),
            (128, 128, 1000),
            (1000, 1000, 1000),
        ] {
            let p = auto(shape(m, n, k, dtype));
            let t = traffic(&p);
            let e = dtype.bytes();
            let compulsory = (m * k + k * n + m * n) * e;
            let (tm, tn) = (m.div_ceil(p.m), n.div_ceil(p.n));
            let minimum = (m * k * tn + k * n * tm + m * n) * e;
            assert_eq!(t.compulsory, compulsory);
            assert_eq!(t.tile_minimum, minimum);
            assert_eq!(t.gm(), minimum, "{p:?}");
            assert!(t.hbm >= compulsory && t.hbm <= t.gm(), "{t:?}");
            assert_eq!(t.flops, 2 * m * n * k);
        }
    }
}

#[test]
fn gemm_8192_bf16_is_cube_bound_and_its_hbm_traffic_is_near_compulsory() {
    let p = auto(shape(8192, 8192, 8192, CubeDType::Bf16));
    let t = traffic(&p);
    assert!(t.cube_bound(), "{p:?} {t:?}");
    // Cube time: at least the peak's (24 cores x 4096 MACs x 2 FLOPs x 1.85 GHz = 363.7 TFLOPS),
    // and within 10% of it (tile count not a multiple of 24, Mmad heads).
    let peak = 2.0 * 8192f64.powi(3) / (24.0 * 4096.0 * 2.0 * 1.85e9);
    assert!(
        t.cube_secs >= peak && t.cube_secs < 1.1 * peak,
        "{} vs {peak}",
        t.cube_secs
    );
    assert!(t.hbm < 4 * t.compulsory, "{t:?}");
}

/// The per-shape cache of model-scored plans: a second lookup is answered from the cache (the hit
/// count grows; other tests may add hits meanwhile, never remove them) with the plan an uncached
/// search returns; another request, shape or target is a different entry with its own plan.
#[test]
fn the_model_plan_cache_returns_the_searched_plan() {
    let t = Target::ascend910b2();
    // A shape no other test plans, so the first lookup is a miss.
    let s = shape(3 * 16 * 37, 400, 272, CubeDType::F16);
    let searched = search(s, TileRequest::default(), &t, Tiling::Model).unwrap();
    let first = plan_matmul_with(s, TileRequest::default(), &t, Tiling::Model).unwrap();
    let hits = model_plan_cache_hits();
    let second = plan_matmul_with(s, TileRequest::default(), &t, Tiling::Model).unwrap();
    assert!(model_plan_cache_hits() > hits, "the second lookup missed");
    assert_eq!(first, searched);
    assert_eq!(second, searched);
    // The key holds the request and the target: a hinted K or another part plans afresh.
    let k32 = TileRequest {
        k: Some(32),
        ..TileRequest::default()
    };
    let hinted = plan_matmul_with(s, k32, &t, Tiling::Model).unwrap();
    assert_eq!(hinted, search(s, k32, &t, Tiling::Model).unwrap());
    assert_eq!(hinted.k, 32);
    let b4 = Target::from_name("ascend910b4").unwrap();
    assert_eq!(
        plan_matmul_with(s, TileRequest::default(), &b4, Tiling::Model).unwrap(),
        search(s, TileRequest::default(), &b4, Tiling::Model).unwrap()
    );
    // The rule is searched every time, with the same answer.
    let rule = plan_matmul_with(s, TileRequest::default(), &t, Tiling::Rule).unwrap();
    assert_eq!(
        rule,
        search(s, TileRequest::default(), &t, Tiling::Rule).unwrap()
    );
}
