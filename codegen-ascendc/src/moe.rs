//! The MoE parts of a partitioned kernel ([`moge_lower::opt::moe`]): routing, row kernels, grouped
//! matmuls with their fused prologue and epilogues, and the accumulator's initializer, each lowered by
//! the kernel families of [`moge_lower::schedule::moe`] to a v2 program named after its place.
//!
//! A routing table crosses GM as `{r}_order`, `{r}_position`, `{r}_offsets` (and `{r}_invalid`, the
//! count of out-of-range ids); the program assembly (`crate::multi`) declares them.
//!
//! The fused combine needs the router weights in destination-row order: a row gather
//! (`{part}_weights`, an intermediate of the part) runs right before the grouped matmul; the final
//! add's output is the accumulator rounded by a last vector kernel (`cast`).

use moge_lower::graph::{DType, Dim, Kernel, Op, OpKind, SrcLoc, Type, Value};
use moge_lower::kir::v2::{self, GmKind, HostExpr, Linker};
use moge_lower::opt::{GroupKind, Part};
use moge_lower::schedule::cube::cube_dtype;
use moge_lower::schedule::lower_vector::dim_expr;
use moge_lower::schedule::moe::gmm::{lower_grouped_matmul, GmmA, GmmOut, GmmRows, GmmSpec};
use moge_lower::schedule::moe::route::{lower_route, RouteNames};
use moge_lower::schedule::moe::rows::{
    lower_combine, lower_row_gather, lower_swiglu, CombineSpec, RowGather, SwigluSpec,
};
use moge_lower::schedule::{LowerError, ScheduleOptions};
use moge_lower::target::Target;

use crate::CodegenError;

/// The GM buffer names of the routing table crossing GM under `name`.
pub(crate) fn routes_buffers(name: &str) -> [String; 4] {
    [
        format!("{name}_order"),
        format!("{name}_position"),
        format!("{name}_offsets"),
        format!("{name}_invalid"),
    ]
}

/// The GM declarations of the routing table `value` of `kernel` crossing GM under `name`.
pub(crate) fn routes_decls(kernel: &Kernel, name: &str, value: Value) -> Vec<v2::GmBufData> {
    let Type::Routes(r) = kernel.ty(value) else {
        return vec![];
    };
    let slots = dim_expr(kernel, &Dim::mul(&r.tokens, &r.k));
    let experts = dim_expr(kernel, &Dim::add(&r.experts, &Dim::lit(1)));
    let [order, position, offsets, invalid] = routes_buffers(name);
    [
        (order, slots.clone()),
        (position, slots),
        (offsets, experts),
        (invalid, HostExpr::Int(1)),
    ]
    .into_iter()
    .map(|(name, len)| v2::GmBufData {
        name,
        kind: GmKind::Intermediate,
        dtype: DType::I32,
        shape: vec![len],
    })
    .collect()
}

/// Part context: the part's kernel and where its values live in GM.
struct At<'a> {
    k: &'a Kernel,
    name: &'a str,
}

impl<'a> At<'a> {
    fn ops(&self) -> Vec<Op> {
        self.k
            .order
            .iter()
            .copied()
            .filter(|&op| {
                !matches!(
                    self.k.ops[op].kind,
                    OpKind::Param { .. } | OpKind::Const { .. }
                )
            })
            .collect()
    }

    /// The GM name of `v`: the parameter or output it is in this part.
    fn gm(&self, v: Value) -> Result<&'a str, CodegenError> {
        self.k
            .params
            .iter()
            .find(|p| p.value == v)
            .map(|p| p.name.as_str())
            .or_else(|| {
                self.k
                    .outputs
                    .iter()
                    .find(|o| o.value == v)
                    .map(|o| o.name.as_str())
            })
            .ok_or_else(|| self.internal(format!("value {v} is in no GM buffer of the part")))
    }

    fn arg(&self, op: Op, i: usize) -> Value {
        self.k.ops[op].args[i]
    }

    fn result(&self, op: Op) -> Value {
        self.k.ops[op].results[0]
    }

    fn loc(&self, op: Op) -> SrcLoc {
        self.k.locs.get(op).copied().unwrap_or_default()
    }

    fn tensor(&self, v: Value) -> Result<&'a moge_lower::graph::TensorType, CodegenError> {
        self.k
            .ty(v)
            .as_tensor()
            .ok_or_else(|| self.internal(format!("value {v} is not a tensor")))
    }

    /// A static dim's value, or a located refusal naming `what`.
    fn static_dim(&self, op: Op, d: &Dim, what: &str) -> Result<u64, CodegenError> {
        d.as_int()
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| {
                CodegenError::Lower(LowerError::Unsupported {
                    op: self.k.ops[op].kind.name().to_string(),
                    loc: self.loc(op),
                    reason: format!(
                        "{what} must be static (a const generic or a literal) to lower this op, found `{}`",
                        d.display(&self.k.syms)
                    ),
                })
            })
    }

    fn host(&self, d: &Dim) -> HostExpr {
        dim_expr(self.k, d)
    }

    fn routes(
        &self,
        v: Value,
    ) -> Result<(&'a moge_lower::graph::RoutesType, [String; 4]), CodegenError> {
        match self.k.ty(v) {
            Type::Routes(r) => Ok((r, routes_buffers(self.gm(v)?))),
            _ => Err(self.internal(format!("value {v} is not a routing table"))),
        }
    }

    fn internal(&self, message: String) -> CodegenError {
        CodegenError::Lower(LowerError::Internal {
            kernel: self.k.name.clone(),
            message,
        })
    }
}

/// Lowers a MoE part (`Route`, `Rows`, `Grouped` or `AccInit`) named `name`.
pub(crate) fn lower_moe_part(
    part: &Part,
    name: &str,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<v2::Program, CodegenError> {
    let at = At {
        k: &part.kernel,
        name,
    };
    let ops = at.ops();
    let kinds: Vec<&OpKind> = ops.iter().map(|&op| &at.k.ops[op].kind).collect();
    let mut programs = match (part.kind, kinds.as_slice()) {
        (GroupKind::Route, [OpKind::Route { .. }]) => vec![route(&at, ops[0], target)?],
        (GroupKind::Rows, [OpKind::Dispatch]) => vec![dispatch(&at, ops[0], target)?],
        (GroupKind::Rows, [OpKind::Combine]) => vec![combine(&at, ops[0], target)?],
        (GroupKind::Rows, [OpKind::Swiglu]) => vec![swiglu(&at, ops[0], target)?],
        (GroupKind::AccInit, [OpKind::MatMul]) => vec![acc_init(&at, ops[0], target)?],
        (GroupKind::Grouped, _) => grouped(&at, &ops, target, options)?,
        _ => {
            return Err(at.internal(format!(
                "a {:?} part with ops {:?} has no MoE lowering",
                part.kind,
                kinds.iter().map(|k| k.name()).collect::<Vec<_>>()
            )))
        }
    };
    let mut linker = Linker::new(name, at.k.dynamic_dims());
    let many = programs.iter().map(|p| p.kernels.len()).sum::<usize>() > 1;
    let mut index = 0;
    for p in &mut programs {
        for k in p.kernels.values_mut() {
            k.name = if many {
                format!("{name}_{index}")
            } else {
                name.to_string()
            };
            index += 1;
        }
    }
    for p in programs {
        linker.link(p).map_err(|e| at.internal(e.to_string()))?;
    }
    let aliased = linker.aliased().to_vec();
    let p = linker.finish();
    for k in p.kernels.values().filter(|k| aliased.contains(&k.name)) {
        v2::check_hazards(k).map_err(|e| at.internal(e.to_string()))?;
    }
    Ok(p)
}

fn route(at: &At<'_>, op: Op, target: &Target) -> Result<v2::Program, CodegenError> {
    let OpKind::Route { experts } = &at.k.ops[op].kind else {
        return Err(at.internal("not a route".to_string()));
    };
    let ids = at.gm(at.arg(op, 0))?;
    let out = at.gm(at.result(op))?;
    let (r, _) = at.routes(at.result(op))?;
    let k = at.static_dim(
        op,
        &r.k,
        "the slots per token (the second dim of the expert ids)",
    )?;
    let e = at.static_dim(op, experts, "the number of experts")?;
    let p = lower_route(
        &RouteNames {
            program: at.name,
            ids,
            routes: out,
        },
        at.host(&r.tokens),
        k,
        e,
        target,
    );
    // The routing kernels are scalar code written in order, with no sync pass: prove them here, as
    // every other lowering proves its kernels (see `multi::compile_groups`).
    for k in p.kernels.values() {
        v2::check_hazards(k).map_err(|e| at.internal(e.to_string()))?;
    }
    Ok(p)
}

fn dispatch(at: &At<'_>, op: Op, target: &Target) -> Result<v2::Program, CodegenError> {
    let x = at.arg(op, 0);
    let xt = at.tensor(x)?;
    let (r, [order, ..]) = at.routes(at.arg(op, 1))?;
    let k = at.static_dim(op, &r.k, "the slots per token")?;
    let cols = at.static_dim(op, &xt.shape[1], "the row length of `dispatch`'s input")?;
    lower_row_gather(
        &RowGather {
            program: at.name,
            src: at.gm(x)?,
            index: &order,
            out: at.gm(at.result(op))?,
            div: k,
            rows: at.host(&Dim::mul(&r.tokens, &r.k)),
            src_rows: at.host(&r.tokens),
            cols,
            dtype: xt.dtype,
        },
        target,
    )
    .map_err(|e| located(at, op, e))
}

/// The router weights of a `combine` must be f32 (the row kernels and the fused epilogue scale rows
/// in f32 by them); another dtype is refused at the op.
fn f32_weights(at: &At<'_>, op: Op) -> Result<(), CodegenError> {
    let dtype = at.tensor(at.arg(op, 2))?.dtype;
    if dtype == DType::F32 {
        return Ok(());
    }
    Err(CodegenError::Lower(LowerError::Unsupported {
        op: "combine".to_string(),
        loc: at.loc(op),
        reason: format!(
            "the weights of `combine` must be f32 on the device, found {dtype}; pass `cast::<f32>(weights)`"
        ),
    }))
}

/// A refusal of a MoE lowering without a location gets the op's.
fn located(at: &At<'_>, op: Op, e: LowerError) -> CodegenError {
    match e {
        LowerError::Unsupported {
            op: name,
            loc,
            reason,
        } if loc == SrcLoc::default() => CodegenError::Lower(LowerError::Unsupported {
            op: name,
            loc: at.loc(op),
            reason,
        }),
        e => CodegenError::Lower(e),
    }
}

fn combine(at: &At<'_>, op: Op, target: &Target) -> Result<v2::Program, CodegenError> {
    f32_weights(at, op)?;
    let y = at.arg(op, 0);
    let yt = at.tensor(y)?;
    let (r, [_, position, ..]) = at.routes(at.arg(op, 1))?;
    let k = at.static_dim(op, &r.k, "the slots per token")?;
    let h = at.static_dim(op, &yt.shape[1], "the row length of `combine`'s input")?;
    lower_combine(
        &CombineSpec {
            program: at.name,
            y: at.gm(y)?,
            position: &position,
            weights: at.gm(at.arg(op, 2))?,
            out: at.gm(at.result(op))?,
            tokens: at.host(&r.tokens),
            k,
            h,
            dtype: yt.dtype,
        },
        target,
    )
    .map_err(|e| located(at, op, e))
}

fn swiglu(at: &At<'_>, op: Op, target: &Target) -> Result<v2::Program, CodegenError> {
    if at.k.ops[op].args.len() != 1 {
        return Err(CodegenError::Lower(LowerError::Unsupported {
            op: "swiglu".to_string(),
            loc: at.loc(op),
            reason: "two-operand `swiglu(gate, up)` has no lowering yet; use the fused form \
                     `swiglu(x)` with gate and up halves in one tensor"
                .to_string(),
        }));
    }
    let x = at.arg(op, 0);
    let xt = at.tensor(x)?;
    let last = at.static_dim(
        op,
        &xt.shape[xt.shape.len() - 1],
        "the last dim of `swiglu`'s input",
    )?;
    let m = xt.shape[..xt.shape.len() - 1]
        .iter()
        .fold(Dim::lit(1), |acc, d| Dim::mul(&acc, d));
    lower_swiglu(
        &SwigluSpec {
            program: at.name,
            x: at.gm(x)?,
            out: at.gm(at.result(op))?,
            m: at.host(&m),
            i: last / 2,
            dtype: xt.dtype,
        },
        target,
    )
    .map_err(|e| located(at, op, e))
}

/// The cube dtype of a matmul-like op's operands, or a located refusal.
fn gemm_dtype(
    at: &At<'_>,
    op: Op,
) -> Result<moge_lower::schedule::cube::plan::CubeDType, CodegenError> {
    let a = at.tensor(at.arg(op, 0))?.dtype;
    let b = at.tensor(at.arg(op, 1))?.dtype;
    cube_dtype(a, b).ok_or_else(|| {
        CodegenError::Lower(LowerError::Unsupported {
            op: at.k.ops[op].kind.name().to_string(),
            loc: at.loc(op),
            reason: format!(
                "the cube unit takes bf16, f16 or f32 operands of one dtype, found {a} and {b}"
            ),
        })
    })
}

/// The matmul-like op's `(K, N)` and rows: `(total rows, tokens)`.
fn gemm_dims(at: &At<'_>, op: Op) -> Result<(u64, u64), CodegenError> {
    let w = at.tensor(at.arg(op, 1))?;
    let r = w.shape.len();
    let k = at.static_dim(op, &w.shape[r - 2], "the reduction dim K")?;
    let n = at.static_dim(op, &w.shape[r - 1], "the output columns N")?;
    Ok((k, n))
}

fn acc_init(at: &At<'_>, op: Op, target: &Target) -> Result<v2::Program, CodegenError> {
    let (k, n) = gemm_dims(at, op)?;
    let a = at.arg(op, 0);
    let m = &at.tensor(a)?.shape[0];
    lower_grouped_matmul(
        &GmmSpec {
            program: at.name,
            a: GmmA::Rows { a: at.gm(a)? },
            w: at.gm(at.arg(op, 1))?,
            rows: GmmRows::Dense,
            out: GmmOut::Store {
                c: at.gm(at.result(op))?,
                dtype: DType::F32,
            },
            k,
            n,
            dtype: gemm_dtype(at, op)?,
            total_rows: at.host(m),
            tokens: at.host(m),
        },
        target,
    )
    .map_err(|e| located(at, op, e))
}

/// `[dispatch] (grouped_matmul | matmul) [swiglu | combine add]`.
fn grouped(
    at: &At<'_>,
    ops: &[Op],
    target: &Target,
    options: &ScheduleOptions,
) -> Result<Vec<v2::Program>, CodegenError> {
    let (prologue, rest) = match ops {
        [d, rest @ ..] if matches!(at.k.ops[*d].kind, OpKind::Dispatch) => (Some(*d), rest),
        _ => (None, ops),
    };
    let [main, epilogue @ ..] = rest else {
        return Err(at.internal("a grouped part without its matmul".to_string()));
    };
    let main = *main;
    let (k, n) = gemm_dims(at, main)?;
    let dtype = gemm_dtype(at, main)?;
    let routed = matches!(at.k.ops[main].kind, OpKind::GroupedMatmul);
    let a_val = at.arg(main, 0);
    let a_rows = at.tensor(a_val)?.shape[0].clone();
    let (rows, order, tokens) = if routed {
        let (r, [order, _, offsets, _]) = at.routes(at.arg(main, 2))?;
        let e = at.static_dim(main, &r.experts, "the number of experts")?;
        (Some((offsets, e)), Some(order), at.host(&r.tokens))
    } else {
        (None, None, at.host(&a_rows))
    };
    let gmm_rows = match &rows {
        Some((offsets, experts)) => GmmRows::Routed {
            offsets,
            experts: *experts,
        },
        None => GmmRows::Dense,
    };
    let x_name;
    let a = match prologue {
        Some(d) => {
            let (r, _) = at.routes(at.arg(d, 1))?;
            x_name = at.gm(at.arg(d, 0))?;
            GmmA::Gather {
                x: x_name,
                order: order.as_deref().unwrap_or_default(),
                k_slots: at.static_dim(d, &r.k, "the slots per token")?,
            }
        }
        None => GmmA::Rows { a: at.gm(a_val)? },
    };
    let w = at.gm(at.arg(main, 1))?;
    let total_rows = at.host(&a_rows);
    let spec = |out| GmmSpec {
        program: at.name,
        a: a.clone(),
        w,
        rows: gmm_rows.clone(),
        out,
        k,
        n,
        dtype,
        total_rows: total_rows.clone(),
        tokens: tokens.clone(),
    };
    let kinds: Vec<&OpKind> = epilogue.iter().map(|&op| &at.k.ops[op].kind).collect();
    match kinds.as_slice() {
        [] => Ok(vec![lower_grouped_matmul(
            &spec(GmmOut::Store {
                c: at.gm(at.result(main))?,
                dtype: at.tensor(at.result(main))?.dtype,
            }),
            target,
        )
        .map_err(|e| located(at, main, e))?]),
        [OpKind::Swiglu] => Ok(vec![lower_grouped_matmul(
            &spec(GmmOut::Swiglu {
                act: at.gm(at.result(epilogue[0]))?,
            }),
            target,
        )
        .map_err(|e| located(at, main, e))?]),
        [OpKind::Combine, OpKind::Binary(_)] if routed => {
            let (c, add) = (epilogue[0], epilogue[1]);
            f32_weights(at, c)?;
            let (r, [order, ..]) = at.routes(at.arg(c, 1))?;
            let k_slots = at.static_dim(c, &r.k, "the slots per token")?;
            let c_out = at.result(c);
            let acc_val = *at.k.ops[add]
                .args
                .iter()
                .find(|&&v| v != c_out)
                .ok_or_else(|| at.internal("the add has no accumulator operand".to_string()))?;
            let acc = at.gm(acc_val)?;
            let weights_name = format!("{}_weights", at.name);
            let slots = Dim::mul(&r.tokens, &r.k);
            let mut gather = lower_row_gather(
                &RowGather {
                    program: &format!("{}w", at.name),
                    src: at.gm(at.arg(c, 2))?,
                    index: &order,
                    out: &weights_name,
                    div: 1,
                    rows: at.host(&slots),
                    src_rows: at.host(&slots),
                    cols: 1,
                    dtype: DType::F32,
                },
                target,
            )
            .map_err(|e| located(at, c, e))?;
            // The gather reads the (T, K) weights as T*K rows of one element and writes the weights
            // in row order, which live between the two kernels of this part only: both keep the
            // shapes the other kernels give them.
            let w_val = at.arg(c, 2);
            let w_name = at.gm(w_val)?;
            let w_shape: Vec<HostExpr> =
                at.tensor(w_val)?.shape.iter().map(|d| at.host(d)).collect();
            for b in gather.gm.values_mut() {
                if b.name == weights_name {
                    b.kind = GmKind::Intermediate;
                    b.shape = vec![at.host(&slots)];
                } else if b.name == w_name {
                    b.shape = w_shape.clone();
                }
            }
            let gmm = lower_grouped_matmul(
                &spec(GmmOut::Combine {
                    weights: &weights_name,
                    order: &order,
                    k_slots,
                    acc,
                }),
                target,
            )
            .map_err(|e| located(at, main, e))?;
            let out = at.gm(at.result(add))?;
            let cast = cast_kernel(at, acc, out, at.tensor(at.result(add))?, target, options)?;
            Ok(vec![gather, gmm, cast])
        }
        _ => Err(at.internal(format!(
            "no fused lowering for the epilogue {:?}",
            kinds.iter().map(|k| k.name()).collect::<Vec<_>>()
        ))),
    }
}

/// The vector kernel `out = cast(acc)`: the f32 accumulator rounded into the output's dtype.
fn cast_kernel(
    at: &At<'_>,
    acc: &str,
    out: &str,
    out_ty: &moge_lower::graph::TensorType,
    target: &Target,
    options: &ScheduleOptions,
) -> Result<v2::Program, CodegenError> {
    let mut k = Kernel::new(format!("{}c", at.name));
    k.syms = at.k.syms.clone();
    k.bound = at.k.bound.clone();
    let mut acc_ty = out_ty.clone();
    acc_ty.dtype = DType::F32;
    let v = k.add_param(acc, Type::Tensor(acc_ty), SrcLoc::default());
    let r = k.push_op(
        OpKind::Cast { to: out_ty.dtype },
        vec![v],
        vec![Type::Tensor(out_ty.clone())],
        SrcLoc::default(),
    )[0];
    k.outputs.push(moge_lower::graph::Output {
        name: out.to_string(),
        value: r,
    });
    let (v2, _) = crate::lower_vector(&k, target, options, Some(&format!("{}c", at.name)))?;
    Ok(v2)
}
