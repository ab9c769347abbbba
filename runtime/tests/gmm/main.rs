//! The grouped GEMM lowering (`moge_lower::schedule::moe::gmm`) run on the emulator with every check:
//! routing tables built here from the formula (stable by expert, token-major) and passed as GM inputs,
//! results compared with the interpreter's `route`/`dispatch`/`grouped_matmul` and a plain f64 loop,
//! and the GM byte counters against the tiling's re-read factors (an expert with no rows reads no
//! weight bytes).

#[path = "../common/mod.rs"]
mod common;
use common::*;

mod epilogue;
mod store;

use half::{bf16, f16};
use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::DType;
use moge_lower::interp::{eval, Tensor};
use moge_lower::kir::v2::{GmKind, HostExpr, Program};
use moge_lower::schedule::cube::CubeDType;
use moge_lower::schedule::moe::gmm::{
    lower_grouped_matmul, plan_gmm, GmmA, GmmOut, GmmRows, GmmSpec,
};
use moge_lower::target::Target;
use moge_runtime::emulator::{launch_raw, CheckMode, CoreType, GmArg, RawLaunch, RawReport};

/// A routing problem: `t` tokens, `ks` slots each, `e` experts, `ids[t*ks + k]` the chosen experts.
struct Routing {
    t: usize,
    ks: usize,
    e: usize,
    ids: Vec<i32>,
}

impl Routing {
    /// `order` (destination row -> slot) and `offsets` (first row of each expert), from the definition:
    /// a stable counting sort of the slots by expert.
    fn table(&self) -> (Vec<i32>, Vec<i32>) {
        let mut offsets = vec![0i32; self.e + 1];
        for &id in &self.ids {
            offsets[id as usize + 1] += 1;
        }
        for i in 0..self.e {
            offsets[i + 1] += offsets[i];
        }
        let mut order = vec![];
        for ex in 0..self.e as i32 {
            for (p, &id) in self.ids.iter().enumerate() {
                if id == ex {
                    order.push(p as i32);
                }
            }
        }
        (order, offsets)
    }

    fn rows_of(&self, ex: usize) -> usize {
        self.ids.iter().filter(|&&i| i as usize == ex).count()
    }
}

/// The 16-bit operand types.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Half {
    Bf16,
    F16,
}

impl Half {
    fn name(self) -> &'static str {
        match self {
            Half::Bf16 => "bf16",
            Half::F16 => "f16",
        }
    }

    fn dtype(self) -> DType {
        match self {
            Half::Bf16 => DType::BF16,
            Half::F16 => DType::F16,
        }
    }

    fn cube(self) -> CubeDType {
        match self {
            Half::Bf16 => CubeDType::Bf16,
            Half::F16 => CubeDType::F16,
        }
    }

    fn bits(self, x: f32) -> u16 {
        match self {
            Half::Bf16 => bf16::from_f32(x).to_bits(),
            Half::F16 => f16::from_f32(x).to_bits(),
        }
    }

    fn value(self, b: u16) -> f32 {
        match self {
            Half::Bf16 => bf16::from_bits(b).to_f32(),
            Half::F16 => f16::from_bits(b).to_f32(),
        }
    }

    /// The relative rounding of the type (bf16 2^-8, f16 2^-11).
    fn eps(self) -> f64 {
        match self {
            Half::Bf16 => 2f64.powi(-8),
            Half::F16 => 2f64.powi(-11),
        }
    }
}

const BF: Half = Half::Bf16;

/// Values in [-1, 1) rounded to `dt`.
fn values(dt: Half, rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len).map(|_| dt.value(dt.bits(rng.unit()))).collect()
}

fn half_bytes(dt: Half, v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|&x| dt.bits(x).to_le_bytes()).collect()
}

fn i32_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The interpreter's `grouped_matmul(dispatch(x, r), w, r)` with `r = route(ids)`.
fn interpret(r: &Routing, h: usize, n: usize, x: &[f32], w: &[f32]) -> Vec<f32> {
    interpret_with(BF, r, h, n, x, w, false)
}

/// [`interpret`], then `swiglu` of the result when `swiglu`.
fn interpret_with(
    dt: Half,
    r: &Routing,
    h: usize,
    n: usize,
    x: &[f32],
    w: &[f32],
    swiglu: bool,
) -> Vec<f32> {
    let d = dt.name();
    let (t, ks, e) = (r.t, r.ks, r.e);
    let rows = t * ks;
    let half = n / 2;
    let (tail, ret, out_n) = if swiglu {
        (
            format!("\n  v6 = swiglu v5 : {d}[{rows}, {half}]"),
            "v6",
            half,
        )
    } else {
        (String::new(), "v5", n)
    };
    let text = format!(
        "kernel g(x: {d}[{t}, {h}], ids: i32[{t}, {ks}], w: {d}[{e}, {h}, {n}]) -> (y: {d}[{rows}, {out_n}]) {{
  v0 = param 0 : {d}[{t}, {h}]
  v1 = param 1 : i32[{t}, {ks}]
  v2 = param 2 : {d}[{e}, {h}, {n}]
  v3 = route v1, experts={e} : routes[{t}, {ks}, {e}]
  v4 = dispatch v0, v3 : {d}[{rows}, {h}]
  v5 = grouped_matmul v4, v2, v3 : {d}[{rows}, {n}]{tail}
  return y = {ret}
}}"
    );
    let kernel = parse_kernel(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let inputs = [
        Tensor::from_f32(dt.dtype(), vec![t, h], x.to_vec()).unwrap(),
        Tensor::from_i32(vec![t, ks], r.ids.clone()).unwrap(),
        Tensor::from_f32(dt.dtype(), vec![e, h, n], w.to_vec()).unwrap(),
    ];
    let out = eval(&kernel, &inputs).unwrap_or_else(|e| panic!("{e}"));
    out[0].as_f32().unwrap().to_vec()
}

/// Launches the program's only kernel at `T = t` with `inputs` by name; returns the report and the
/// outputs by name.
fn launch(p: &Program, t: usize, inputs: &[(&str, Vec<u8>)], core: CoreType) -> RawReport {
    launch_as(p, t, inputs, &[], core)
}

/// [`launch`] of a MIX program whose outputs `initial` start with the given bytes.
fn launch_with(
    p: &Program,
    t: usize,
    inputs: &[(&str, Vec<u8>)],
    initial: &[(&str, Vec<u8>)],
) -> RawReport {
    launch_as(p, t, inputs, initial, CoreType::MixAic1_2)
}

fn launch_as(
    p: &Program,
    t: usize,
    inputs: &[(&str, Vec<u8>)],
    initial: &[(&str, Vec<u8>)],
    core: CoreType,
) -> RawReport {
    let dims = |s: moge_lower::Symbol| (s == "T").then_some(t as i64);
    let sources = moge_codegen_ascendc::print_v2::print_program(p).unwrap();
    let source = &sources[0].1;
    let kernel = p.kernels.values().next().unwrap();
    let args: Vec<GmArg> = kernel
        .params
        .iter()
        .filter(|&&g| p.gm[g].kind.is_param())
        .map(|&g| {
            let d = &p.gm[g];
            if let Some((_, bytes)) = initial.iter().find(|(n, _)| *n == d.name) {
                GmArg {
                    name: d.name.clone(),
                    bytes: bytes.clone(),
                    is_output: true,
                }
            } else if d.kind == GmKind::Output {
                let elems: i64 = d.shape.iter().map(|s| s.eval(&dims).unwrap()).product();
                output(&d.name, elems as usize * d.dtype.size_bytes())
            } else {
                let bytes = inputs
                    .iter()
                    .find(|(n, _)| *n == d.name)
                    .unwrap_or_else(|| panic!("no input `{}`", d.name))
                    .1
                    .clone();
                input(&d.name, bytes)
            }
        })
        .collect();
    launch_raw(RawLaunch {
        source,
        kernel: &kernel.name,
        block_dim: kernel.block_dim.eval(&dims).unwrap() as u32,
        core_type: core,
        check: CheckMode::FULL,
        args,
        workspace_bytes: p.workspace.eval(&dims).unwrap() as usize,
        tiling: p
            .fields
            .values()
            .flat_map(|f| f.expr.eval(&dims).unwrap().to_le_bytes())
            .collect(),
    })
    .unwrap_or_else(|e| panic!("{e}\n{source}"))
}

fn out_half(dt: Half, report: &RawReport, name: &str) -> Vec<f32> {
    let arg = report.args.iter().find(|a| a.name == name).unwrap();
    bytes_u16(&arg.bytes)
        .into_iter()
        .map(|b| dt.value(b))
        .collect()
}

fn spec<'a>(dt: Half, gather: bool, r: &Routing, h: u64, n: u64, swiglu: bool) -> GmmSpec<'a> {
    let t = HostExpr::dim("T");
    GmmSpec {
        program: "gmm",
        a: if gather {
            GmmA::Gather {
                x: "x",
                order: "r_order",
                k_slots: r.ks as u64,
            }
        } else {
            GmmA::Rows { a: "a" }
        },
        w: "w",
        rows: GmmRows::Routed {
            offsets: "r_offsets",
            experts: r.e as u64,
        },
        out: if swiglu {
            GmmOut::Swiglu { act: "y" }
        } else {
            GmmOut::Store {
                c: "y",
                dtype: dt.dtype(),
            }
        },
        k: h,
        n,
        dtype: dt.cube(),
        total_rows: HostExpr::Mul(Box::new(t.clone()), Box::new(HostExpr::Int(r.ks as i64))),
        tokens: t,
    }
}

/// Expert ids of `t` tokens with `ks` distinct experts each out of `e`, from `pick(token, slot)`.
fn routing(t: usize, ks: usize, e: usize, pick: impl Fn(usize, usize) -> usize) -> Routing {
    let mut ids = vec![];
    for tok in 0..t {
        for s in 0..ks {
            ids.push(pick(tok, s) as i32 % e as i32);
        }
    }
    Routing { t, ks, e, ids }
}

/// Rows 33, 1, 15, 17 for experts 3, 0, 1, 2 (two slots of 33 tokens): a full and a partial
/// 16-row block, a single row, and an expert over two row blocks.
fn ragged() -> Routing {
    routing(33, 2, 4, |t, s| match (s, t) {
        (0, _) => 3,
        (_, 0) => 0,
        (_, 1..=15) => 1,
        _ => 2,
    })
}

/// 64 experts, 8 slots: token `t` picks one expert of each group of 8, so most experts are empty.
fn decode64(t: usize) -> Routing {
    routing(t, 8, 64, |tok, s| 8 * s + (tok * 3 + s) % 8)
}
