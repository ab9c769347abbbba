//! A matmul followed by a general vector epilogue on its rows as one `KERNEL_TYPE_MIX_AIC_1_2` kernel.
//!
//! The seam: the epilogue is lowered by the vector path itself. The graph kernel is copied with the
//! matmul turned into a parameter (the workspace tile the AIC writes), the epilogue ops become one
//! vector group, and `crate::schedule::schedule_group` lowers, allocates, fits and verifies it as for
//! any AIV kernel. Its port to kernel IR v2 (`crate::schedule::program::port_with`) takes the rows
//! from the AIC's output tiles (`MixRows`) instead of spreading them over the vector cores: the two
//! AIVs of an AI core take the first and the second half of each of its AIC's tiles, in vector tiles of
//! the scheduled tile rows.
//!
//! Workspace: [`SLOTS`] reused slots of `m x N` per AI core (`m` the plan's tile rows), so the AIC
//! never runs more than [`SLOTS`] tiles ahead of its AIVs and no cross-core counter holds more than
//! [`SLOTS`] pending sets (the hardware holds 15). The protocol, all flags mode 2 unless said:
//!
//! - AIVs, once at the start: set [`SLOT_FREE`] [`SLOTS`] times (every slot starts free);
//! - AIC, per tile: wait [`SLOT_FREE`] (FIX), `Fixpipe` into slot `tile % SLOTS`, set [`SLOT_READY`]
//!   (FIX); at the end, wait [`SLOT_FREE`] [`SLOTS`] times so every set is consumed;
//! - AIVs, per tile: wait [`SLOT_READY`] (MTE2), copy their rows in vector tile by vector tile, then
//!   set and wait [`PAIR_READ`] (mode 1: both AIVs have read their half), then set [`SLOT_FREE`] (MTE2).
//!
//! The mode-1 pair keeps the two AIVs' frees of one slot together, so the AIC's wait covers both
//! reads whether the hardware counts the AIVs' mode-2 sets per AIV or in pairs of any two (the form of
//! the hand-written spec `tests/data/cube/matmul_aic.cpp`).

use super::lower::{
    add, ceil_div, declare_locals, declare_program, div, dtype, emit_tile_mmads, int, min, mul,
    sub, tile_exprs, Builder, MatmulNames,
};
use super::{
    plan_matmul_with, tile_request, CubeError, CubeProblem, MatmulPlan, TileRequest, Tiling,
};
use crate::graph::{Kernel as Graph, Op, OpKind, Param, Value};
use crate::kir::v2::{
    self, BinOp, CoreKind, Field, GmBuf, GmKind, GmRef, HostExpr, IExpr, InstData, Kernel, Pipe,
    Program, Side, Stmt, VarData,
};
use crate::kir::{self, Function};
use crate::opt::{Group, GroupKind};
use crate::schedule::program::{port_with, RowSource};
use crate::schedule::{schedule_group, LowerError, ScheduleOptions};
use crate::target::Target;

/// Cross-core flag: a workspace slot holds a finished tile (AIC -> its AIVs).
pub const SLOT_READY: u16 = 1;
/// Cross-core flag: both AIVs have read a slot, the AIC may write it again (AIVs -> AIC).
pub const SLOT_FREE: u16 = 2;
/// Cross-core flag, mode 1: both AIVs of an AI core have read their half of a slot.
pub const PAIR_READ: u16 = 3;
/// Workspace slots per AI core.
pub const SLOTS: u64 = 2;

/// The row walk of the epilogue: the AIC's tiles of this AI core, half a tile per AIV, in vector tiles.
struct MixRows {
    /// The plan's tile rows.
    m: u64,
    /// The matmul result in the workspace.
    ws: GmBuf,
    f_m: Field,
    f_tiles_m: Field,
    /// Filled by `begin`: the AIC tile counter, the AIC tile, this AIV's first row in it and its
    /// rows, and the vector tile's first row relative to them.
    out_tile: Option<v2::Var>,
    exprs: Option<(IExpr, IExpr, IExpr, IExpr)>,
    tr: i64,
}

impl MixRows {
    fn core() -> IExpr {
        div(IExpr::BlockIdx, int(2))
    }
}

/// This AIV's part of a tile of `rows` rows (an expression of the AIC's tile): its first row and its
/// row count. Sub-block 0 takes `ceil(rows / 2)`, sub-block 1 the rest.
pub(crate) fn aiv_half(rows: IExpr) -> (IExpr, IExpr) {
    let half = ceil_div(rows.clone(), int(2));
    let subb = IExpr::bin(BinOp::Rem, IExpr::BlockIdx, int(2));
    let first = mul(subb.clone(), half.clone());
    let mine = sub(half.clone(), mul(subb, sub(mul(half, int(2)), rows)));
    (first, mine)
}

/// A cross-core set (`set`) or wait of `flag` in `mode` on `pipe`.
pub(crate) fn cross(set: bool, mode: u8, pipe: Pipe, flag: u16) -> InstData {
    if set {
        InstData::CrossCoreSetFlag { mode, pipe, flag }
    } else {
        InstData::CrossCoreWaitFlag { mode, pipe, flag }
    }
}

fn push(k: &mut Kernel, d: InstData) -> Stmt {
    Stmt::Inst(k.insts.push(d))
}

impl RowSource for MixRows {
    fn keeps_field(&self, f: &Function, fi: kir::Field) -> bool {
        // The vector cores' row split is replaced by the AIC's tiles.
        ![
            f.split.rows_field,
            f.split.per_core_field,
            f.split.rem_field,
        ]
        .contains(&fi)
    }

    fn begin(
        &mut self,
        k: &mut Kernel,
        tile: v2::Var,
        tr: i64,
        _field: &dyn Fn(kir::Field) -> Option<Field>,
        _f: &Function,
    ) -> Result<IExpr, LowerError> {
        let vt = k.vars.push(VarData {
            name: "out_tile".into(),
        });
        let m = self.m;
        let t = add(Self::core(), mul(IExpr::Var(vt), IExpr::BlockNum));
        let rows = min(int(m), sub(IExpr::Field(self.f_m), mul(t.clone(), int(m))));
        let (first, mine) = aiv_half(rows);
        let local = mul(IExpr::Var(tile), IExpr::Int(tr));
        let cur = min(IExpr::Int(tr), sub(mine.clone(), local.clone()));
        self.out_tile = Some(vt);
        self.exprs = Some((t, first, mine, local));
        self.tr = tr;
        Ok(cur)
    }

    fn row_offset(&self, g: GmBuf, cols: u32) -> IExpr {
        let (t, first, _, local) = self.exprs.clone().expect("begin ran");
        let vt = self.out_tile.expect("begin ran");
        let base = if g == self.ws {
            let slot = add(
                mul(Self::core(), int(SLOTS)),
                IExpr::bin(BinOp::Rem, IExpr::Var(vt), int(SLOTS)),
            );
            mul(slot, int(self.m))
        } else {
            mul(t, int(self.m))
        };
        mul(add(add(base, first), local), int(cols as u64))
    }

    fn finish(
        &mut self,
        k: &mut Kernel,
        mut init: Vec<Stmt>,
        tile: v2::Var,
        body: Vec<Stmt>,
    ) -> Vec<Stmt> {
        let (_, _, mine, _) = self.exprs.clone().expect("begin ran");
        let vt = self.out_tile.expect("begin ran");
        let pre = k.vars.push(VarData {
            name: "free_slot".into(),
        });
        let set_free = push(k, cross(true, 2, Pipe::Mte2, SLOT_FREE));
        init.push(Stmt::For {
            var: pre,
            start: int(0),
            end: int(SLOTS),
            body: vec![set_free],
        });
        let per_tile = vec![
            push(k, cross(false, 2, Pipe::Mte2, SLOT_READY)),
            Stmt::For {
                var: tile,
                start: int(0),
                end: ceil_div(mine, IExpr::Int(self.tr.max(1))),
                body,
            },
            push(k, cross(true, 1, Pipe::Mte2, PAIR_READ)),
            push(k, cross(false, 1, Pipe::Mte2, PAIR_READ)),
            push(k, cross(true, 2, Pipe::Mte2, SLOT_FREE)),
        ];
        init.push(Stmt::For {
            var: vt,
            start: int(0),
            end: ceil_div(
                sub(IExpr::Field(self.f_tiles_m), Self::core()),
                IExpr::BlockNum,
            ),
            body: per_tile,
        });
        init
    }
}

/// The MIX program of `matmul` (two parameters of `kernel`) followed by `epilogue`, vector ops on its
/// rows whose inputs are the matmul result, other parameters and each other; the kernel's outputs
/// must all come from the epilogue. Synchronized by the sync pass and checked by the verifier and the
/// hazard verifier. Errors are located at the matmul (the cube's problems, or why the group is not
/// one MIX kernel) or at the epilogue op the vector path refuses.
pub fn lower_mix_group(
    kernel: &Graph,
    matmul: Op,
    epilogue: &[Op],
    target: &Target,
    tiling: Tiling,
) -> Result<Program, LowerError> {
    let at = At { kernel, matmul };
    let used_params = epilogue_params(&at, epilogue)?;
    let data = &kernel.ops[matmul];
    let param_name = |v: Value| {
        kernel
            .params
            .iter()
            .find(|p| p.value == v)
            .map(|p| p.name.clone())
    };
    let (Some(an), Some(bn)) = (param_name(data.args[0]), param_name(data.args[1])) else {
        return Err(at.not_mix("its operands must be parameters".into()));
    };
    let block_dim = mix_block_dim(&at, epilogue, target)?;
    let (plan, m_host) = whole_row_plan(&at, block_dim, target, tiling)?;
    let (schedule, ws_name) = schedule_epilogue(&at, epilogue, &used_params, &plan, target)?;
    let func = schedule.func();

    // ---- the program: the matmul's header with the result in a workspace ----
    let names = MatmulNames {
        program: &kernel.name,
        a: &an,
        b: &bn,
        c: &ws_name,
    };
    let (n, m) = (plan.shape.n, plan.m);
    let mut h = declare_program(&names, &plan, m_host, target);
    let gw = h.gc;
    let slot_rows = HostExpr::Mul(
        Box::new(h.kernel.block_dim.clone()),
        Box::new(HostExpr::Int((SLOTS * m) as i64)),
    );
    h.p.gm[gw].kind = GmKind::Workspace {
        offset: HostExpr::Int(0),
    };
    h.p.gm[gw].shape = vec![slot_rows.clone(), HostExpr::Int(n as i64)];
    h.p.workspace = HostExpr::Mul(
        Box::new(slot_rows),
        Box::new(HostExpr::Int((n * plan.shape.dtype.bytes()) as i64)),
    );
    let mut rows_src = MixRows {
        m,
        ws: gw,
        f_m: h.f_m,
        f_tiles_m: h.f_tiles_m,
        out_tile: None,
        exprs: None,
        tr: 0,
    };
    // The AIV side first: the ported kernel's entities keep the numbering of the vector path.
    let (mut k, _) = port_with(&mut h.p, func, &mut rows_src)?;
    let aiv_body = std::mem::take(&mut k.body);
    k.name = h.kernel.name.clone();
    k.core = CoreKind::Mix;
    k.block_dim = h.kernel.block_dim.clone();
    // One parameter per GM buffer: the matmul's operands may be one tensor (`matmul(x, x)`) and the
    // epilogue may read them too (`gm_of` finds them by name).
    let mut params = vec![];
    for g in [h.ga, h.gb].into_iter().chain(k.params.iter().copied()) {
        if !params.contains(&g) {
            params.push(g);
        }
    }
    k.params = params;
    let (mut k, aic_body) = aic_side(k, &plan, &h);
    // The epilogue's whole rows fix n (see `whole_row_plan`); the rest is the scoring's or the hint's.
    let request = tile_request(&kernel.hints[matmul]).map_err(|p| at.located(p))?;
    let chooser = super::tile_chooser(&request, tiling);
    super::note_mmads(&mut k, &super::tile_note(&plan, &chooser));
    k.body = vec![
        Stmt::Side {
            side: Side::Aic,
            body: aic_body,
        },
        Stmt::Side {
            side: Side::Aiv,
            body: aiv_body,
        },
    ];
    let kernel_name = k.name.clone();
    let internal = |message: String| LowerError::Internal {
        kernel: kernel_name.clone(),
        message,
    };
    // `insert_sync` returns only once a hazard check of the kernel passes.
    v2::insert_sync(&mut k).map_err(|e| internal(e.to_string()))?;
    let mut p = h.p;
    p.kernels = cranelift_entity::PrimaryMap::new();
    p.kernels.push(k);
    v2::verify_program(&p, target)
        .map_err(|e| internal(format!("{e}\n{}", v2::program_to_string(&p))))?;
    Ok(p)
}

/// The matmul op of a MIX group, for located errors.
struct At<'a> {
    kernel: &'a Graph,
    matmul: Op,
}

impl At<'_> {
    fn located(&self, problem: CubeProblem) -> CubeError {
        CubeError {
            what: crate::opt::describe_op(self.kernel, self.matmul),
            loc: self.kernel.locs[self.matmul],
            problem: Box::new(problem),
        }
    }

    fn not_mix(&self, why: String) -> LowerError {
        self.located(CubeProblem::Epilogue(why)).into()
    }
}

/// Checks that the epilogue computes every output and takes only the matmul result, parameters and
/// its own values; returns the parameter ops it reads.
fn epilogue_params(at: &At<'_>, epilogue: &[Op]) -> Result<Vec<Op>, LowerError> {
    let kernel = at.kernel;
    let result = kernel.ops[at.matmul].results[0];
    if kernel.outputs.iter().any(|o| o.value == result) {
        return Err(at.not_mix(
            "its result is a kernel output; a MIX kernel returns the epilogue's results only"
                .into(),
        ));
    }
    for o in &kernel.outputs {
        if !epilogue.contains(&kernel.values[o.value].def) {
            return Err(at.not_mix(format!(
                "output `{}` is not computed by the epilogue",
                o.name
            )));
        }
    }
    let mut used = vec![];
    for &op in epilogue {
        for &a in &kernel.ops[op].args {
            let def = kernel.values[a].def;
            if def == at.matmul || epilogue.contains(&def) || used.contains(&def) {
                continue;
            }
            if !matches!(kernel.ops[def].kind, OpKind::Param { .. }) {
                return Err(at.not_mix(format!(
                    "epilogue op `{}` takes a value computed outside the epilogue",
                    crate::opt::describe_op(kernel, op)
                )));
            }
            used.push(def);
        }
    }
    Ok(used)
}

/// The `#[block_dim(n)]` of the MIX kernel: its AI-core count (one AIC and two AIVs each), which the
/// matmul's statement and the epilogue's may each state; two different values are an error, as for
/// any device kernel, and so is more AI cores than the target has.
fn mix_block_dim(at: &At<'_>, epilogue: &[Op], target: &Target) -> Result<Option<u64>, LowerError> {
    let kernel = at.kernel;
    let err = |op: Op, message: String| LowerError::Hint {
        kernel: kernel.name.clone(),
        loc: kernel.locs.get(op).copied().unwrap_or_default(),
        message,
    };
    let mut found: Option<u64> = None;
    for &op in std::iter::once(&at.matmul).chain(epilogue) {
        let Some(hints) = kernel.hints.get(op) else {
            continue;
        };
        // Other keys of `block_dim` are refused by the cube's and the vector path's own checks.
        let stated = hints.iter().filter(|h| h.name == "block_dim");
        for &(_, value) in stated.flat_map(|h| h.args.iter().filter(|(k, _)| k == "n")) {
            let v = u64::try_from(value)
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| err(op, format!("block_dim(n = {value}) must be positive")))?;
            match found {
                Some(old) if old != v => {
                    return Err(err(
                        op,
                        format!("block_dim(n = {v}) contradicts block_dim(n = {old}) on another statement of the same device kernel (one MIX kernel: the matmul and its epilogue)"),
                    ))
                }
                _ => found = Some(v),
            }
            if v > u64::from(target.cube_cores) {
                return Err(err(
                    op,
                    format!(
                        "block_dim(n = {v}) of a MIX kernel counts AI cores (one AIC and two AIVs each): {} has {}",
                        target.name, target.cube_cores
                    ),
                ));
            }
        }
    }
    Ok(found)
}

/// The matmul's plan with whole rows in a tile (the epilogue works on rows) on `block_dim` AI cores
/// if stated, and M as a host expression. Dynamic M is planned at [`super::PLANNED_ROWS`], as for a
/// lone matmul. A `#[tile(n)]` narrower than the rows is an epilogue refusal (the program then keeps
/// two kernels, which honor it), never overridden.
fn whole_row_plan(
    at: &At<'_>,
    block_dim: Option<u64>,
    target: &Target,
    tiling: Tiling,
) -> Result<(MatmulPlan, HostExpr), LowerError> {
    let kernel = at.kernel;
    let data = &kernel.ops[at.matmul];
    let a = kernel.ty(data.args[0]).as_tensor().cloned();
    let m_dim = a.as_ref().and_then(|t| t.shape.first().cloned());
    let (m_host, rows) = match m_dim.as_ref().map(|d| (d.as_int(), d.as_sym())) {
        Some((Some(c), _)) => (crate::kir::Expr::Int(c), None),
        Some((None, Some(s))) => (crate::kir::Expr::dim(kernel.syms[s].name), Some(s)),
        _ => {
            return Err(at.located(CubeProblem::RowsExpr).into());
        }
    };
    let dims = |s: crate::graph::Sym| (Some(s) == rows).then_some(super::PLANNED_ROWS as i64);
    let first = super::plan_matmul_op(kernel, at.matmul, &dims, target, tiling)?;
    let asked = tile_request(&kernel.hints[at.matmul]).map_err(|p| at.located(p))?;
    if let Some(n) = asked.n.filter(|&n| n < first.shape.n) {
        return Err(at.not_mix(format!(
            "#[tile(n = {n})] asks for tiles narrower than the {} columns of a row the epilogue needs in one tile",
            first.shape.n
        )));
    }
    let whole = first.n >= first.shape.n;
    if whole && block_dim.is_none_or(|b| b == first.block_dim) {
        return Ok((first, m_host));
    }
    let request = TileRequest {
        n: Some(if whole { first.n } else { first.shape.n }),
        block_dim: block_dim.or(asked.block_dim),
        ..asked
    };
    let plan = plan_matmul_with(first.shape, request, target, tiling).map_err(|e| {
        at.not_mix(format!(
            "the epilogue needs whole rows of {} columns in one tile, and no such tile fits: {e}",
            first.shape.n
        ))
    })?;
    Ok((plan, m_host))
}

/// The epilogue scheduled by the vector path as one AIV kernel whose input is the matmul result:
/// the graph kernel with the matmul turned into a parameter (named as returned), grouped with the
/// parameters the epilogue reads.
fn schedule_epilogue(
    at: &At<'_>,
    epilogue: &[Op],
    used_params: &[Op],
    plan: &MatmulPlan,
    target: &Target,
) -> Result<(crate::schedule::Schedule, String), LowerError> {
    let kernel = at.kernel;
    let matmul = at.matmul;
    let mut ek = kernel.clone();
    let mut ws_name = "mm".to_string();
    while kernel.params.iter().any(|p| p.name == ws_name)
        || kernel.outputs.iter().any(|o| o.name == ws_name)
    {
        ws_name.push('_');
    }
    ek.ops[matmul].kind = OpKind::Param {
        index: ek.params.len() as u32,
    };
    ek.ops[matmul].args.clear();
    ek.hints[matmul].clear();
    // The epilogue's block dim is the MIX kernel's AI-core count (`mix_block_dim`), not a vector
    // core count: the AIVs take their AIC's tiles.
    for &op in epilogue {
        ek.hints[op].retain(|h| h.name != "block_dim");
    }
    ek.params.push(Param {
        name: ws_name.clone(),
        value: kernel.ops[matmul].results[0],
    });
    let mut ops = vec![matmul];
    ops.extend(kernel.order.iter().filter(|o| used_params.contains(o)));
    ops.extend(kernel.order.iter().filter(|o| epilogue.contains(o)));
    let group = Group {
        kind: GroupKind::Vector,
        ops,
    };
    let name = format!("{}_k0", kernel.name);
    // An AIV never holds more than half a tile's rows: a longer vector tile would only waste UB.
    let options = ScheduleOptions {
        max_tile_rows: u32::try_from(plan.m.div_ceil(2)).unwrap_or(u32::MAX),
        ..ScheduleOptions::default()
    };
    let schedule = schedule_group(&ek, &group, &name, target, &options)?;
    let n = plan.shape.n;
    let ws_is_rows = schedule
        .func()
        .args
        .values()
        .any(|a| a.name == ws_name && a.access == kir::Access::Rows { cols: n as u32 });
    if !ws_is_rows {
        return Err(at.not_mix(format!(
            "the epilogue must read the matmul result as rows of {n}"
        )));
    }
    Ok((schedule, ws_name))
}

/// The AIC side in `k`: per tile of this core, the K loop of [`emit_tile_mmads`], then wait for a
/// free slot, `Fixpipe` into it and tell the AIVs; at the end, the drain of the last frees.
fn aic_side(mut k: Kernel, plan: &MatmulPlan, h: &super::lower::Header) -> (Kernel, Vec<Stmt>) {
    let (_, elem, quant) = dtype(plan.shape.dtype);
    let (m, n) = (plan.m, plan.shape.n);
    let l = declare_locals(&mut k, plan, elem);
    let x = tile_exprs(plan, h.f_m, h.f_tiles_m, &l);
    let v_drain = k.vars.push(VarData {
        name: "drain".into(),
    });
    let mut bld = Builder {
        k,
        stack: vec![Vec::new()],
    };
    bld.open(); // tile
    emit_tile_mmads(&mut bld, plan, &l, &x, h.ga, h.gb);
    bld.inst(cross(false, 2, Pipe::Fix, SLOT_FREE));
    let slot = add(
        mul(IExpr::BlockIdx, int(SLOTS)),
        IExpr::bin(BinOp::Rem, IExpr::Var(l.v_tile), int(SLOTS)),
    );
    bld.inst(InstData::Fixpipe {
        dst: GmRef {
            buf: h.gc,
            offset: mul(mul(slot, int(m)), int(n)),
        },
        src: l.t_c,
        m: x.rows,
        n: x.cols,
        src_stride: x.rows_a,
        gm_pitch: int(n),
        quant,
        relu: false,
    });
    bld.inst(cross(true, 2, Pipe::Fix, SLOT_READY));
    bld.free(l.q_c, l.t_c);
    bld.close_for(
        l.v_tile,
        int(0),
        ceil_div(
            sub(IExpr::Field(h.f_tiles), IExpr::BlockIdx),
            IExpr::BlockNum,
        ),
    );
    // Every slot the AIVs freed and the AIC did not reuse: consumed so the sets and waits pair.
    bld.open();
    bld.inst(cross(false, 2, Pipe::Fix, SLOT_FREE));
    bld.close_for(v_drain, int(0), int(SLOTS));
    let body = bld.stack.pop().expect("the AIC side");
    (bld.k, body)
}
