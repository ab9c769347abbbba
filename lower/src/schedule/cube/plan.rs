//! The tiling planner of a matmul on the cube unit: base tiles, L1 depth, core count.
//!
//! A plan is three levels of blocking of `C (M x N) = A (M x K) * B (K x N)`:
//!
//! - **base tile** `m x n x k`: one `Mmad`. A's `m x k` block sits in L0A, B's `k x n` block in L0B
//!   (both double buffered, so the next `LoadData` overlaps the current `Mmad`), and the `m x n` f32
//!   accumulator in L0C (double buffered when it fits, so `Fixpipe` of one output tile overlaps the
//!   `Mmad`s of the next).
//! - **L1 stage** `depth * k` columns of A's `m` rows and rows of B's `n` columns, copied GM->L1 with
//!   one `DataCopy` (Nd2Nz) each and double buffered, so the next stage's copy overlaps the current
//!   stage's loads and `Mmad`s.
//! - **output tiles** `ceil(M/m) * ceil(N/n)`, spread round-robin over `block_dim` AIC cores; each
//!   accumulates over all of K in L0C and is written once by `Fixpipe` (NZ->ND, f32->bf16/f16).
//!
//! Buffers are sized to the fractal: rows to 16, columns (the contiguous axis) to C0 = 32 B per
//! element size (16 x 16 fractals for bf16/f16, 16 x 8 for f32; every budget is in bytes). Tile sides
//! stay multiples of 16 for f32 too: the f32 B load transposes 16 x 16 squares (two 16 x 8 fractals). Tails (`M % m`, `N % n`, `K % k`, sizes below 16) use the same buffers with smaller
//! extents; the padding of a K tail is zero-filled so it adds nothing to the sums.

use std::fmt;

use crate::target::Target;

/// The element types the cube path multiplies. The accumulator is always f32; the output has the
/// input's dtype.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum CubeDType {
    /// bfloat16 inputs and output, f32 accumulation.
    Bf16,
    /// IEEE half inputs and output, f32 accumulation.
    F16,
    /// f32 inputs and output (the cube runs f32 at a quarter of the half rate).
    F32,
}

impl CubeDType {
    /// Bytes per element.
    pub fn bytes(self) -> u64 {
        match self {
            CubeDType::Bf16 | CubeDType::F16 => 2,
            CubeDType::F32 => 4,
        }
    }

    /// Elements per 32-byte fractal row (C0).
    pub fn c0(self) -> u64 {
        32 / self.bytes()
    }

    /// K elements the cube consumes per cycle in a 16 x 16 output fractal (costmodel-910b.md §2.2:
    /// 16 for half types, 4 for f32).
    pub fn cube_k(self) -> u64 {
        match self {
            CubeDType::Bf16 | CubeDType::F16 => 16,
            CubeDType::F32 => 4,
        }
    }

    /// The name the graph IR gives the dtype.
    pub fn name(self) -> &'static str {
        match self {
            CubeDType::Bf16 => "bf16",
            CubeDType::F16 => "f16",
            CubeDType::F32 => "f32",
        }
    }
}

impl fmt::Display for CubeDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Tile sizes and core count asked for by `#[tile(m, n, k)]` and `#[block_dim(n)]`; `None` lets the
/// planner choose.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default, Debug)]
pub struct TileRequest {
    /// Rows of an output tile.
    pub m: Option<u64>,
    /// Columns of an output tile.
    pub n: Option<u64>,
    /// K extent of one `Mmad`.
    pub k: Option<u64>,
    /// AIC cores to use.
    pub block_dim: Option<u64>,
}

/// The matmul to plan.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct MatmulShape {
    /// Rows of A and C.
    pub m: u64,
    /// Columns of B and C.
    pub n: u64,
    /// Columns of A, rows of B.
    pub k: u64,
    /// Element type of A, B and C.
    pub dtype: CubeDType,
}

/// A chosen tiling. Every field is a plain number the host tiling struct carries (`u32`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct MatmulPlan {
    /// The problem.
    pub shape: MatmulShape,
    /// Base tile rows (a multiple of 16).
    pub m: u64,
    /// Base tile columns (a multiple of 16).
    pub n: u64,
    /// Base tile K (a multiple of 16).
    pub k: u64,
    /// Base K blocks per L1 stage (`depth * k` columns of A and rows of B per GM->L1 copy).
    pub depth: u64,
    /// Whether L0C holds two accumulators (Fixpipe of a tile overlaps the next tile's Mmads).
    pub l0c_double: bool,
    /// AIC cores the output tiles are spread over.
    pub block_dim: u64,
    /// Column blocks per group of the tile order (see [`MatmulPlan::tile_order`]).
    pub swizzle: u64,
}

/// Bytes of one on-chip buffer of a plan, against its capacity.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BufferBytes {
    /// `L1`, `L0A`, `L0B` or `L0C`.
    pub memory: &'static str,
    /// What it holds, e.g. `A stage x2`.
    pub what: String,
    /// Bytes the plan needs there (all its buffers).
    pub bytes: u64,
    /// The memory's capacity.
    pub capacity: u64,
}

/// Why no plan could be made.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum PlanError {
    /// A requested tile does not fit an on-chip memory.
    #[error("tile m = {m}, n = {n}, k = {k} ({dtype}) does not fit {}: needs {} bytes for {}, {} available", .over.memory, .over.bytes, .over.what, .over.capacity)]
    DoesNotFit {
        /// Requested rows.
        m: u64,
        /// Requested columns.
        n: u64,
        /// Requested K.
        k: u64,
        /// The element type.
        dtype: CubeDType,
        /// The buffer that overflows.
        over: BufferBytes,
    },
    /// A requested tile size is not a positive multiple of the fractal (16) or exceeds the `Mmad`
    /// limit (4095).
    #[error("tile {key} = {value}: {reason}")]
    BadTile {
        /// `m`, `n` or `k`.
        key: &'static str,
        /// The value asked for.
        value: u64,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// `#[block_dim(n)]` outside `1..=` the target's cube cores.
    #[error("block_dim n = {value}: the target {target} has {cores} AIC cores; use 1 to {cores}")]
    BadBlockDim {
        /// The value asked for.
        value: u64,
        /// The target's name.
        target: &'static str,
        /// Its cube cores.
        cores: u32,
    },
    /// K = 0: every output element is an empty sum. The AIC kernel would `Fixpipe` an accumulator no
    /// `Mmad` wrote, so the cube path refuses it rather than emit garbage.
    #[error("K = 0: every element of the product is an empty sum; the cube path needs K >= 1 (no `Mmad` would write the accumulator)")]
    EmptyK,
    /// A dim beyond what the kernel's integer fields hold.
    #[error("{dim} = {value} exceeds {limit}, the most {why}")]
    DimTooLarge {
        /// `M`, `N` or `K`.
        dim: &'static str,
        /// Its value.
        value: u64,
        /// The limit.
        limit: u64,
        /// Which field limits it.
        why: &'static str,
    },
}

/// Rows of a fractal (and the alignment of every tile side).
pub const FRACTAL: u64 = 16;
/// Most m, n or k of one `Mmad` (`MmadParams` fields are 12-bit on the hardware).
pub const MMAD_MAX: u64 = 4095;
/// Most rows of one Nd2Nz copy (`Nd2NzParams::nValue`).
pub const ND2NZ_MAX_ROWS: u64 = 16384;
/// Most elements of a source row pitch of an Nd2Nz copy (`Nd2NzParams::srcDValue`, `uint16_t`).
pub const ND2NZ_MAX_PITCH: u64 = 65535;
/// Most of any dim: the tiling struct carries dims and tile counts as `uint32_t`.
pub const TILING_MAX: u64 = u32::MAX as u64;

/// `x` rounded up to a multiple of `a`.
pub fn align(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

impl MatmulPlan {
    /// Output tiles in M and in N.
    pub fn tiles(&self) -> (u64, u64) {
        (self.shape.m.div_ceil(self.m), self.shape.n.div_ceil(self.n))
    }

    /// The output tiles `(i, j)` (row block, column block) in the order the kernel numbers them; tile
    /// `t` runs on core `t % block_dim`.
    ///
    /// The order goes through groups of `swizzle` column blocks, row block by row block within a
    /// group, so the tiles that run at the same time (a wave of `block_dim`) share few row and column
    /// blocks and one group's B columns stay in L2 while its row blocks pass: that is what keeps
    /// HBM traffic near compulsory for large problems (see [`super::traffic()`]).
    pub fn tile_order(&self) -> Vec<(u64, u64)> {
        let (tm, tn) = self.tiles();
        let mut out = Vec::with_capacity((tm * tn) as usize);
        let mut j0 = 0;
        while j0 < tn {
            let width = self.swizzle.min(tn - j0);
            for i in 0..tm {
                for j in j0..j0 + width {
                    out.push((i, j));
                }
            }
            j0 += width;
        }
        out
    }

    /// The on-chip buffers of the plan, with their bytes and capacities, in the order L1, L0A, L0B,
    /// L0C.
    pub fn buffers(&self, target: &Target) -> Vec<BufferBytes> {
        Candidate::new(
            self.m,
            self.n,
            self.k,
            self.depth,
            self.l0c_double,
            self.shape.dtype,
        )
        .buffers(target)
    }

    /// Modeled cube cycles of the busiest core: its output tiles times the `Mmad` cycles of one
    /// tile over all of K (costmodel-910b.md §2.2: `ceil(m/16) ceil(n/16) ceil(k/cube_k)` plus a
    /// 20-cycle head per `Mmad`).
    pub fn cube_cycles(&self) -> u64 {
        let (tm, tn) = self.tiles();
        let per_core = (tm * tn).div_ceil(self.block_dim);
        let s = self.shape;
        let full_k = s.k / self.k;
        let tail_k = s.k % self.k;
        let mmad = |k: u64| (self.m / 16) * (self.n / 16) * k.div_ceil(s.dtype.cube_k()) + 20;
        let per_tile = full_k * mmad(self.k) + if tail_k > 0 { mmad(tail_k) } else { 0 };
        per_core * per_tile.max(1)
    }
}

/// A candidate tiling's sides as its buffers hold them: A is m x k with k contiguous (C0 columns), B
/// is k x n with n contiguous; an L1 stage is `depth` K blocks.
struct Candidate {
    m: u64,
    n: u64,
    k: u64,
    /// K of an L1 stage.
    k1: u64,
    /// Accumulators in L0C.
    c_bufs: u64,
    /// Bytes per element.
    e: u64,
}

impl Candidate {
    fn new(m: u64, n: u64, k: u64, depth: u64, l0c_double: bool, dtype: CubeDType) -> Candidate {
        let c0 = dtype.c0();
        // The sides are multiples of 16 already, which is a multiple of every C0.
        Candidate {
            m: align(m, 16),
            n: align(n, c0),
            k: align(k, c0),
            k1: align(depth * k, c0),
            c_bufs: if l0c_double { 2 } else { 1 },
            e: dtype.bytes(),
        }
    }

    /// `(memory, bytes, capacity)` of the L1, L0A, L0B and L0C buffers: the planner's inner loop,
    /// which needs no descriptions.
    fn bytes(&self, target: &Target) -> [(&'static str, u64, u64); 4] {
        let Candidate {
            m,
            n,
            k,
            k1,
            c_bufs,
            e,
        } = *self;
        [
            ("L1", 2 * (m * k1 + k1 * n) * e, u64::from(target.l1_bytes)),
            ("L0A", 2 * m * k * e, u64::from(target.l0a_bytes)),
            ("L0B", 2 * k * n * e, u64::from(target.l0b_bytes)),
            ("L0C", c_bufs * m * n * 4, u64::from(target.l0c_bytes)),
        ]
    }

    /// The buffers with what each holds (see [`MatmulPlan::buffers`]).
    fn buffers(&self, target: &Target) -> Vec<BufferBytes> {
        let Candidate {
            m,
            n,
            k,
            k1,
            c_bufs,
            ..
        } = *self;
        let what = [
            format!("A stage {m} x {k1} and B stage {k1} x {n}, x2"),
            format!("A block {m} x {k}, x2"),
            format!("B block {k} x {n}, x2"),
            format!("f32 accumulator {m} x {n}, x{c_bufs}"),
        ];
        self.bytes(target)
            .into_iter()
            .zip(what)
            .map(|((memory, bytes, capacity), what)| BufferBytes {
                memory,
                what,
                bytes,
                capacity,
            })
            .collect()
    }
}

/// The first buffer over its capacity, if any.
fn overflow(list: Vec<BufferBytes>) -> Option<BufferBytes> {
    list.into_iter().find(|b| b.bytes > b.capacity)
}

/// Checks the dims against the integer fields of the kernel and its instructions.
fn check_dims(s: &MatmulShape) -> Result<(), PlanError> {
    let too = |dim, value, limit, why| {
        Err(PlanError::DimTooLarge {
            dim,
            value,
            limit,
            why,
        })
    };
    if s.k == 0 {
        return Err(PlanError::EmptyK);
    }
    // A's rows are read with a pitch of K elements and B's with a pitch of N (`srcDValue`).
    if s.k > ND2NZ_MAX_PITCH {
        return too(
            "K",
            s.k,
            ND2NZ_MAX_PITCH,
            "elements of a row pitch Nd2NzParams::srcDValue (uint16_t) holds",
        );
    }
    if s.n > ND2NZ_MAX_PITCH {
        return too(
            "N",
            s.n,
            ND2NZ_MAX_PITCH,
            "elements of a row pitch Nd2NzParams::srcDValue (uint16_t) holds",
        );
    }
    if s.m > TILING_MAX {
        return too(
            "M",
            s.m,
            TILING_MAX,
            "the tiling struct's uint32_t fields hold",
        );
    }
    Ok(())
}

/// Checks a requested tile side: a positive multiple of 16 no larger than the `Mmad` limit.
fn check_side(key: &'static str, value: u64) -> Result<(), PlanError> {
    let bad = |reason| Err(PlanError::BadTile { key, value, reason });
    if value == 0 || !value.is_multiple_of(FRACTAL) {
        return bad("must be a positive multiple of 16 (the cube fractal)");
    }
    if value > MMAD_MAX {
        return bad("exceeds 4095, the most MmadParams takes");
    }
    Ok(())
}

/// How the planner scores candidate tilings.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default, Debug)]
pub enum Tiling {
    /// The planner's own rule (`modeled_cycles`: cube cycles against GM->L1 copies at one rate, plus
    /// a fixed cost per tile); what compilation uses unless told otherwise (`--tiling`).
    #[default]
    Rule,
    /// The timing model's parameter table through [`super::estimate_cycles`] (MTE1 loads, HBM and L2
    /// shares, the issue window); falls back to the rule for a target the table does not know.
    Model,
}

impl Tiling {
    /// The name `--tiling` takes and the tile note prints: `rule` or `model`.
    pub fn name(self) -> &'static str {
        match self {
            Tiling::Rule => "rule",
            Tiling::Model => "model",
        }
    }
}

impl fmt::Display for Tiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a model-scored plan is memoized by: everything [`plan_matmul_with`] reads.
type PlanKey = (Target, MatmulShape, TileRequest);

/// The model's choices so far, in this process. The model scores every candidate in closed form
/// (a few thousand per shape), and one compilation plans the same matmul several times (the check,
/// the lowering, a MIX kernel's second plan), as does a bench sweep for every size: each shape is
/// searched once. The rule is cheaper than a lookup's clone of the target and is not cached.
static MODEL_PLANS: std::sync::OnceLock<
    std::sync::Mutex<std::collections::HashMap<PlanKey, MatmulPlan>>,
> = std::sync::OnceLock::new();

/// Lookups of model-scored plans answered from the cache, in this process (for tests and reports).
static MODEL_HITS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many model-scored plans have been answered from the per-shape cache in this process so far.
pub fn model_plan_cache_hits() -> u64 {
    MODEL_HITS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Chooses a tiling for `shape` on `target`, honoring `request`.
///
/// Without a request the planner scores every base tile (m, n up to 256, k up to 512, multiples of 16)
/// that fits L0A/L0B/L0C with double buffering by the modeled time of the busiest core: cube cycles
/// against GM->L1 traffic at the aggregate L2 rate, so small problems get small tiles (less padding,
/// more cores) and large ones the largest tiles (most reuse). Ties go to the larger output tile.
pub fn plan_matmul(
    shape: MatmulShape,
    request: TileRequest,
    target: &Target,
) -> Result<MatmulPlan, PlanError> {
    plan_matmul_with(shape, request, target, Tiling::Rule)
}

/// [`plan_matmul`] with the candidates scored as `tiling` says (the legal candidates, the request and
/// the tie-breaks are the same).
///
/// Model-scored plans are memoized by (target, shape, request): the search is deterministic, so a
/// cached plan is the plan the search would return. Refusals are not cached (they are found before
/// or without scoring).
pub fn plan_matmul_with(
    shape: MatmulShape,
    request: TileRequest,
    target: &Target,
    tiling: Tiling,
) -> Result<MatmulPlan, PlanError> {
    if tiling == Tiling::Rule {
        return search(shape, request, target, tiling);
    }
    let cache = MODEL_PLANS.get_or_init(Default::default);
    let key = (target.clone(), shape, request);
    // A poisoned lock only means another thread panicked mid-insert of a finished plan: the map is
    // still a map of whole plans.
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(plan) = lock().get(&key) {
        MODEL_HITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(*plan);
    }
    // Searched without the lock held: two threads may search one shape at once and insert the
    // same plan.
    let plan = search(shape, request, target, tiling)?;
    lock().insert(key, plan);
    Ok(plan)
}

/// The search of [`plan_matmul_with`], uncached.
fn search(
    shape: MatmulShape,
    request: TileRequest,
    target: &Target,
    tiling: Tiling,
) -> Result<MatmulPlan, PlanError> {
    let params = match tiling {
        Tiling::Model => crate::cost::Params::for_target(target.name).ok(),
        Tiling::Rule => None,
    };
    // Cycles, rounded so that equal estimates tie exactly as the rule's integers do.
    let score = |plan: &MatmulPlan| match &params {
        Some(p) => super::estimate_cycles(plan, p).round() as u64,
        None => modeled_cycles(plan),
    };
    check_dims(&shape)?;
    let cores = u64::from(target.cube_cores);
    let block_dim = match request.block_dim {
        Some(b) if b == 0 || b > cores => {
            return Err(PlanError::BadBlockDim {
                value: b,
                target: target.name,
                cores: target.cube_cores,
            })
        }
        Some(b) => b,
        None => cores,
    };
    for (key, v) in [("m", request.m), ("n", request.n), ("k", request.k)] {
        if let Some(v) = v {
            check_side(key, v)?;
        }
    }
    // A requested tile must fit as asked (with double-buffered L0A/L0B and at least one L1 stage of
    // one K block); the planner does not shrink what the author wrote.
    if let (Some(m), Some(n), Some(k)) = (request.m, request.n, request.k) {
        if let Some(over) = overflow(Candidate::new(m, n, k, 1, false, shape.dtype).buffers(target))
        {
            return Err(PlanError::DoesNotFit {
                m,
                n,
                k,
                dtype: shape.dtype,
                over,
            });
        }
    }
    let cands = |req: Option<u64>, max: u64| -> Vec<u64> {
        match req {
            Some(v) => vec![v],
            None => (1..=max / 16).map(|i| i * 16).collect(),
        }
    };
    // No side beyond the problem's own (aligned) extent: a larger tile only adds padding.
    let (am, an, ak) = (
        align(shape.m.max(1), 16),
        align(shape.n.max(1), 16),
        align(shape.k.max(1), 16),
    );
    let mut best: Option<(u64, u64, MatmulPlan)> = None;
    for m in cands(request.m, 256.min(am)) {
        for n in cands(request.n, 256.min(an)) {
            for k in cands(request.k, 512.min(ak)) {
                let Some(plan) = fit(shape, m, n, k, block_dim, target) else {
                    continue;
                };
                let cost = score(&plan);
                let size = m * n;
                let better = match &best {
                    None => true,
                    Some((c, s, p)) => {
                        cost < *c || (cost == *c && (size > *s || (size == *s && k > p.k)))
                    }
                };
                if better {
                    best = Some((cost, size, plan));
                }
            }
        }
    }
    match best {
        Some((_, _, plan)) => Ok(plan),
        None => {
            // Only reachable with a partial request whose sides cannot fit whatever the others are:
            // report the smallest completion.
            let m = request.m.unwrap_or(16);
            let n = request.n.unwrap_or(16);
            let k = request.k.unwrap_or(16);
            let over = overflow(Candidate::new(m, n, k, 1, false, shape.dtype).buffers(target))
                .unwrap_or_else(|| {
                    Candidate::new(m, n, k, 1, false, shape.dtype)
                        .buffers(target)
                        .remove(0)
                });
            Err(PlanError::DoesNotFit {
                m,
                n,
                k,
                dtype: shape.dtype,
                over,
            })
        }
    }
}

/// The plan for base tile (m, n, k) with the deepest L1 stage that fits, or `None` when L0 does not
/// fit.
fn fit(
    shape: MatmulShape,
    m: u64,
    n: u64,
    k: u64,
    block_dim: u64,
    target: &Target,
) -> Option<MatmulPlan> {
    let dt = shape.dtype;
    let l0_fits = |double| {
        Candidate::new(m, n, k, 1, double, dt).bytes(target)[1..]
            .iter()
            .all(|&(_, bytes, capacity)| bytes <= capacity)
    };
    let l0c_double = if l0_fits(true) {
        true
    } else if l0_fits(false) {
        false
    } else {
        return None;
    };
    // The deepest stage that fits L1, no deeper than K needs, and within the Nd2Nz row limit of B.
    // `k` is a multiple of 16, so a stage of `d * k` needs no C0 padding and its bytes are linear in d.
    let max_depth = align(shape.k.max(1), k) / k;
    let per_depth = Candidate::new(m, n, k, 1, l0c_double, dt).bytes(target)[0].1;
    let depth = (u64::from(target.l1_bytes) / per_depth)
        .min(max_depth)
        .min(ND2NZ_MAX_ROWS / k);
    if depth == 0 {
        return None;
    }
    let plan = MatmulPlan {
        shape,
        m,
        n,
        k,
        depth,
        l0c_double,
        block_dim,
        swizzle: 1,
    };
    let (tm, tn) = plan.tiles();
    // Fewer tiles than cores: use only as many cores as there are tiles.
    let block_dim = block_dim.min((tm * tn).max(1));
    // A wave of `block_dim` tiles about as tall (rows) as it is wide (columns): `swizzle` column blocks
    // of `n` by `block_dim / swizzle` row blocks of `m`.
    let square = ((block_dim * m) as f64 / n as f64).sqrt().round() as u64;
    let swizzle = square.clamp(1, tn.max(1));
    Some(MatmulPlan {
        block_dim,
        swizzle,
        ..plan
    })
}

/// Bytes per cycle one core copies GM->L1 when the data is in L2 (costmodel-910b.md §3: L2->L1 hits
/// at ~221 GB/s per core, 119 B/cycle at 1.85 GHz). The tile orders of large plans keep their re-reads
/// in L2 (see [`super::traffic`]), so this, not the HBM rate, is what one core's copies run at.
const BYTES_PER_CYCLE: u64 = 119;

/// Modeled cycles of the busiest core of a plan: cube and GM->L1 copy overlap (double buffering), so
/// the slower of the two, plus a fixed cost per output tile (pipeline fill and Fixpipe).
fn modeled_cycles(plan: &MatmulPlan) -> u64 {
    let s = plan.shape;
    let (tm, tn) = plan.tiles();
    let per_core = (tm * tn).div_ceil(plan.block_dim);
    let tile_bytes = (plan.m + plan.n) * s.k * s.dtype.bytes();
    let copy = per_core * tile_bytes.div_ceil(BYTES_PER_CYCLE);
    let fill = per_core * 600;
    plan.cube_cycles().max(copy) + fill
}

#[cfg(test)]
mod tests;
