//! The Ascend C printer of kernel IR v2: every line it writes is an IR instruction, a declaration the
//! IR names, or a loop / core-side region of the IR's body. It has no semantics of its own: queue
//! operations, loops, flags and barriers come from the IR (the sync pass put the flags there).
//!
//! One `extern "C" __global__ __aicore__` function per kernel, with the tiling struct and two integer
//! helpers ahead of it. Cube instructions use the basic API with their parameter structs filled field
//! by field (`Nd2NzParams`, `LoadData2DParams`, `MmadParams`, `FixpipeParamsV220`), as declared by the
//! CANN 8.5 headers. Vector instructions print as the API calls and segment helpers of [`crate::helpers`],
//! with the element counts the IR states.

use std::fmt::Write;

use moge_lower::graph::DType;
use moge_lower::kir::v2::{
    BinOp, CoreKind, Elem, GmKind, GmRef, Home, IExpr, InstData, Kernel, MemSpace, Pipe, Program,
    Quant, Scalar, Side, Stmt, VecOp,
};
use moge_lower::kir::{SegReduceOp, SegView};

use crate::cexpr::{op_enum, scalar_expr};
use crate::error::Error;
use crate::helpers;

type R = Result<(), Error>;

fn unsupported(k: &Kernel, message: impl Into<String>) -> Error {
    Error::Unsupported {
        kernel: k.name.clone(),
        message: message.into(),
    }
}

fn elem_ty(e: Elem) -> &'static str {
    match e {
        Elem::F32 => "float",
        Elem::F16 => "half",
        Elem::BF16 => "bfloat16_t",
        Elem::I32 => "int32_t",
        Elem::Mask => "uint8_t",
    }
}

fn dtype_ty(d: DType) -> &'static str {
    elem_ty(Elem::storage(d))
}

fn pipe_c(p: Pipe) -> &'static str {
    match p {
        Pipe::S => "PIPE_S",
        Pipe::Mte1 => "PIPE_MTE1",
        Pipe::Mte2 => "PIPE_MTE2",
        Pipe::Mte3 => "PIPE_MTE3",
        Pipe::V => "PIPE_V",
        Pipe::M => "PIPE_M",
        Pipe::Fix => "PIPE_FIX",
    }
}

/// Helpers every printed kernel may use: 64-bit min, max and ceiling division on the scalar unit.
const HELPERS: &str =
    "__aicore__ inline int64_t MogeMin64(int64_t a, int64_t b) { return a < b ? a : b; }
__aicore__ inline int64_t MogeMax64(int64_t a, int64_t b) { return a > b ? a : b; }
__aicore__ inline int64_t MogeCeilDiv64(int64_t a, int64_t b) { return (a + b - 1) / b; }
";

/// Prints every kernel of `p`: one source per kernel, in launch order, with its symbol name.
pub fn print_program(p: &Program) -> Result<Vec<(String, String)>, Error> {
    p.kernels
        .values()
        .map(|k| {
            let mut out = String::new();
            print_kernel(&mut out, p, k)?;
            Ok((k.name.clone(), out))
        })
        .collect()
}

struct Printer<'a> {
    p: &'a Program,
    k: &'a Kernel,
    out: &'a mut String,
    /// The note of the last instruction printed.
    last_note: Option<String>,
}

impl Printer<'_> {
    fn ex(&self, e: &IExpr) -> String {
        match e {
            IExpr::Int(v) => format!("{v}LL"),
            IExpr::Field(f) => format!("tilingData->{}", self.p.fields[*f].name),
            IExpr::Var(v) => format!("{v}"),
            IExpr::BlockIdx => "static_cast<int64_t>(AscendC::GetBlockIdx())".into(),
            IExpr::BlockNum => "static_cast<int64_t>(AscendC::GetBlockNum())".into(),
            IExpr::Bin(op, a, b) => {
                let (a, b) = (self.ex(a), self.ex(b));
                match op {
                    BinOp::Min => format!("::MogeMin64({a}, {b})"),
                    BinOp::Max => format!("::MogeMax64({a}, {b})"),
                    BinOp::CeilDiv => format!("::MogeCeilDiv64({a}, {b})"),
                    BinOp::Eq => format!("static_cast<int64_t>({a} == {b})"),
                    BinOp::Lt => format!("static_cast<int64_t>({a} < {b})"),
                    _ => format!("({a} {} {b})", op.symbol()),
                }
            }
        }
    }

    /// `DataCopyExtParams` for `rows` rows of `cols` elements between GM rows `gm_pitch` apart and UB
    /// rows `ub_stride` apart (`gm_to_ub` picks which side the gaps are on).
    fn copy_params(
        &self,
        elem: Elem,
        rows: &IExpr,
        cols: u32,
        gm_pitch: &IExpr,
        ub_stride: u32,
        gm_to_ub: bool,
    ) -> Result<String, Error> {
        let size = elem.bits() / 8;
        let r = self.ex(rows);
        if ub_stride == cols && gm_pitch.as_int() == Some(cols as i64) {
            // Dense on both sides: one contiguous block (rows of any byte length).
            return Ok(format!(
                "AscendC::DataCopyExtParams(1, static_cast<uint32_t>({r} * {}), 0, 0, 0)",
                cols * size
            ));
        }
        let row = cols * size;
        if !(ub_stride * size).is_multiple_of(32) {
            return Err(unsupported(
                self.k,
                format!("a copy of {cols}-element rows into UB rows {ub_stride} elements apart (not 32-byte aligned)"),
            ));
        }
        let ub_gap = (ub_stride * size - row.div_ceil(32) * 32) / 32;
        let gm_gap = format!(
            "static_cast<uint32_t>(({} - {cols}) * {size})",
            self.ex(gm_pitch)
        );
        Ok(if gm_to_ub {
            format!("AscendC::DataCopyExtParams(static_cast<uint16_t>({r}), {row}, {gm_gap}, {ub_gap}, 0)")
        } else {
            format!("AscendC::DataCopyExtParams(static_cast<uint16_t>({r}), {row}, {ub_gap}, {gm_gap}, 0)")
        })
    }

    fn gm(&self, r: &GmRef) -> String {
        format!("{}[{}]", r.buf, self.ex(&r.offset))
    }

    fn elem_of(&self, t: moge_lower::kir::v2::Tensor) -> Elem {
        self.k.tensors[t].elem
    }

    fn line(&mut self, depth: usize, text: impl AsRef<str>) -> R {
        writeln!(self.out, "{}{}", "    ".repeat(depth), text.as_ref())?;
        Ok(())
    }

    fn header(&mut self) -> R {
        let (p, k) = (self.p, self.k);
        self.line(
            0,
            format!(
                "// {}: device kernel of `{}` (kernel IR v2).",
                k.name, p.name
            ),
        )?;
        self.line(0, "#include \"kernel_operator.h\"")?;
        self.line(0, "")?;
        let tiling = format!("{}Tiling", k.name);
        self.line(0, format!("struct {tiling} {{"))?;
        for f in p.fields.values() {
            self.line(1, format!("int64_t {};", f.name))?;
        }
        self.line(0, "};")?;
        self.line(0, "")?;
        self.out.push_str(HELPERS);
        if k.core != CoreKind::Aic {
            // The vector helpers (segment reductions, broadcasts, gathers); unused templates cost nothing.
            for text in [
                helpers::ALIGN_UP,
                helpers::CHUNK,
                helpers::REDUCE,
                helpers::REDUCE_LONG,
                helpers::SEG_EXPAND,
                helpers::VEC_EXPAND,
                helpers::GATHER,
                helpers::BINARY,
                helpers::SEG_APPLY,
                helpers::VEC_APPLY,
            ] {
                self.out.push('\n');
                self.out.push_str(text);
            }
        }
        self.line(0, "")?;
        // Inputs, outputs and intermediates are parameters (the runtime allocates intermediates);
        // a kernel's scratch lives in the workspace.
        let mut params: Vec<String> = k
            .params
            .iter()
            .filter(|g| p.gm[**g].kind.is_param())
            .map(|g| format!("GM_ADDR {}", param_marker(g.as_u32() as usize)))
            .collect();
        params.push("GM_ADDR workspace".into());
        params.push("GM_ADDR tiling".into());
        self.line(
            0,
            format!(
                "extern \"C\" __global__ __aicore__ void {}({})",
                k.name,
                params.join(", ")
            ),
        )?;
        self.line(0, "{")?;
        let kt = match k.core {
            CoreKind::Aiv => "KERNEL_TYPE_AIV_ONLY",
            CoreKind::Aic => "KERNEL_TYPE_AIC_ONLY",
            CoreKind::Mix => "KERNEL_TYPE_MIX_AIC_1_2",
        };
        self.line(1, format!("KERNEL_TASK_TYPE_DEFAULT({kt});"))?;
        self.line(
            1,
            format!("const __gm__ ::{tiling}* tilingData = reinterpret_cast<const __gm__ ::{tiling}*>(tiling);"),
        )?;
        self.line(1, "(void)tilingData;")?;
        self.line(1, "(void)workspace;")?;
        for g in &k.params {
            let d = &p.gm[*g];
            let ty = dtype_ty(d.dtype);
            let base = match &d.kind {
                GmKind::Input | GmKind::Output | GmKind::Intermediate => {
                    param_marker(g.as_u32() as usize)
                }
                GmKind::Workspace { offset } => {
                    let Some(off) = offset.as_int() else {
                        return Err(unsupported(
                            k,
                            format!("the workspace offset of {g} is not a literal"),
                        ));
                    };
                    format!("(workspace + {off})")
                }
            };
            self.line(1, format!("AscendC::GlobalTensor<{ty}> {g};"))?;
            self.line(
                1,
                format!("{g}.SetGlobalBuffer(reinterpret_cast<__gm__ {ty}*>({base}));"),
            )?;
        }
        self.line(1, "AscendC::TPipe pipe;")?;
        // Queues and buffers are declared for both sides; a MIX kernel initializes each on the side
        // that owns its memory (UB on the AIVs, L1/L0 on the AIC).
        let mut inits: Vec<(MemSpace, String)> = vec![];
        for (q, d) in &k.queues {
            let b = &k.bufs[d.buf];
            self.line(
                1,
                format!(
                    "AscendC::TQue<AscendC::TPosition::{}, {}> {q};",
                    d.pos.name(),
                    d.depth
                ),
            )?;
            inits.push((
                b.mem,
                format!("pipe.InitBuffer({q}, {}, {});", b.count, b.bytes),
            ));
        }
        for (b, d) in &k.bufs {
            if k.queues.values().any(|q| q.buf == b) {
                continue;
            }
            let pos = match d.mem {
                MemSpace::Ub => "VECCALC",
                MemSpace::L1 => "A1",
                MemSpace::L0a => "A2",
                MemSpace::L0b => "B2",
                MemSpace::L0c => "CO1",
                MemSpace::Gm => {
                    return Err(unsupported(k, format!("{b} is an on-chip buffer in GM")))
                }
            };
            self.line(1, format!("AscendC::TBuf<AscendC::TPosition::{pos}> {b};"))?;
            inits.push((d.mem, format!("pipe.InitBuffer({b}, {});", d.bytes)));
        }
        let mix = k.core == CoreKind::Mix;
        if !mix {
            for (_, l) in &inits {
                self.line(1, l)?;
            }
        }
        for (t, d) in &k.tensors {
            let ty = elem_ty(d.elem);
            match d.home {
                Home::Queue(_) => {
                    self.line(1, format!("AscendC::LocalTensor<{ty}> {t}; // {}", d.name))?
                }
                Home::Buf { buf, offset } => {
                    let bytes = (d.elem.bits() / 8).max(1);
                    let get = format!("{buf}.Get<{ty}>()[{}]", offset / bytes);
                    if mix {
                        // A TBuf has memory only on the side that initialized it: get it there.
                        self.line(1, format!("AscendC::LocalTensor<{ty}> {t}; // {}", d.name))?;
                        inits.push((k.bufs[buf].mem, format!("{t} = {get};")));
                    } else {
                        self.line(
                            1,
                            format!("AscendC::LocalTensor<{ty}> {t} = {get}; // {}", d.name),
                        )?
                    }
                }
            }
        }
        if mix {
            for (side, ub) in [("ASCEND_IS_AIC", false), ("ASCEND_IS_AIV", true)] {
                let lines: Vec<&String> = inits
                    .iter()
                    .filter(|(m, _)| (*m == MemSpace::Ub) == ub)
                    .map(|(_, l)| l)
                    .collect();
                if lines.is_empty() {
                    continue;
                }
                self.line(1, format!("if {side} {{"))?;
                for l in lines {
                    self.line(2, l)?;
                }
                self.line(1, "}")?;
            }
        }
        for (e, d) in &k.events {
            self.line(
                1,
                format!(
                    "const AscendC::TEventID {e} = pipe.AllocEventID<AscendC::HardEvent::{}_{}>();",
                    d.from.name(),
                    d.to.name()
                ),
            )?;
        }
        for (v, d) in &k.vars {
            self.line(1, format!("int64_t {v} = 0; // {}", d.name))?;
        }
        Ok(())
    }

    fn block(&mut self, stmts: &[Stmt], depth: usize) -> R {
        for s in stmts {
            match s {
                Stmt::Inst(i) => self.inst(*i, depth)?,
                Stmt::For {
                    var,
                    start,
                    end,
                    body,
                } => {
                    let (a, b) = (self.ex(start), self.ex(end));
                    self.line(depth, format!("for ({var} = {a}; {var} < {b}; ++{var}) {{"))?;
                    self.block(body, depth + 1)?;
                    self.line(depth, "}")?;
                }
                Stmt::Side { side, body } => {
                    let m = match side {
                        Side::Aic => "ASCEND_IS_AIC",
                        Side::Aiv => "ASCEND_IS_AIV",
                    };
                    self.line(depth, format!("if {m} {{"))?;
                    self.block(body, depth + 1)?;
                    self.line(depth, "}")?;
                }
            }
        }
        Ok(())
    }

    fn inst(&mut self, i: moge_lower::kir::v2::Inst, d: usize) -> R {
        let k = self.k;
        // A note names the graph op; consecutive instructions of one op share it.
        if let Some(note) = k.notes.get(i).filter(|n| !n.is_empty()) {
            if self.last_note.as_deref() != Some(note.as_str()) {
                self.line(d, format!("// {note}"))?;
                self.last_note = Some(note.clone());
            }
        }
        match &k.insts[i] {
            InstData::AllocTensor { queue, tensor } => {
                let ty = elem_ty(self.elem_of(*tensor));
                self.line(d, format!("{tensor} = {queue}.AllocTensor<{ty}>();"))
            }
            InstData::EnQue { queue, tensor } => self.line(d, format!("{queue}.EnQue({tensor});")),
            InstData::DeQue { queue, tensor } => {
                let ty = elem_ty(self.elem_of(*tensor));
                self.line(d, format!("{tensor} = {queue}.DeQue<{ty}>();"))
            }
            InstData::FreeTensor { queue, tensor } => {
                self.line(d, format!("{queue}.FreeTensor({tensor});"))
            }
            InstData::CopyIn {
                dst,
                src,
                rows,
                cols,
                gm_pitch,
                ub_stride,
            } => {
                let e = self.elem_of(*dst);
                let params = self.copy_params(e, rows, *cols, gm_pitch, *ub_stride, true)?;
                let (gm, ty) = (self.gm(src), elem_ty(e));
                self.line(
                    d,
                    format!("AscendC::DataCopyPad({dst}, {gm}, {params}, AscendC::DataCopyPadExtParams<{ty}>());"),
                )
            }
            InstData::CopyOut {
                dst,
                src,
                rows,
                cols,
                gm_pitch,
                ub_stride,
            } => {
                let params =
                    self.copy_params(self.elem_of(*src), rows, *cols, gm_pitch, *ub_stride, false)?;
                let gm = self.gm(dst);
                self.line(d, format!("AscendC::DataCopyPad({gm}, {src}, {params});"))
            }
            InstData::CopyNd2Nz {
                dst,
                dst_offset,
                src,
                rows,
                cols,
                gm_pitch,
                nz_rows,
            } => {
                let dst = if dst_offset.as_int() == Some(0) {
                    dst.to_string()
                } else {
                    format!("{dst}[{}]", self.ex(dst_offset))
                };
                let (gm, r, c, pitch, nz) = (
                    self.gm(src),
                    self.ex(rows),
                    self.ex(cols),
                    self.ex(gm_pitch),
                    self.ex(nz_rows),
                );
                self.line(d, "{")?;
                self.line(d + 1, "AscendC::Nd2NzParams p;")?;
                self.line(d + 1, "p.ndNum = 1;")?;
                self.line(d + 1, format!("p.nValue = static_cast<uint16_t>({r});"))?;
                self.line(d + 1, format!("p.dValue = static_cast<uint16_t>({c});"))?;
                self.line(d + 1, "p.srcNdMatrixStride = 0;")?;
                self.line(
                    d + 1,
                    format!("p.srcDValue = static_cast<uint16_t>({pitch});"),
                )?;
                self.line(
                    d + 1,
                    format!("p.dstNzC0Stride = static_cast<uint16_t>({nz});"),
                )?;
                self.line(d + 1, "p.dstNzNStride = 1;")?;
                self.line(d + 1, "p.dstNzMatrixStride = 0;")?;
                self.line(d + 1, format!("AscendC::DataCopy({dst}, {gm}, p);"))?;
                self.line(d, "}")
            }
            InstData::LoadData2d {
                dst,
                dst_offset,
                src,
                src_offset,
                repeat,
                src_stride,
                dst_gap,
                transpose,
                frac_gap,
            } => {
                // `ifTranspose` of the 2D load takes 16-bit types only (Load2D.md); 32-bit fractals
                // are transposed in pairs by LoadDataWithTranspose, whose params say how far apart
                // the pair's halves land instead.
                let (params, call, last) = if *transpose && self.elem_of(*dst).bits() == 32 {
                    let fgap = self.ex(frac_gap);
                    (
                        "LoadData2dTransposeParams",
                        "LoadDataWithTranspose",
                        format!("p.dstFracGap = static_cast<uint16_t>({fgap});"),
                    )
                } else {
                    (
                        "LoadData2DParams",
                        "LoadData",
                        format!("p.ifTranspose = {transpose};"),
                    )
                };
                let (doff, soff, rep, ss, gap) = (
                    self.ex(dst_offset),
                    self.ex(src_offset),
                    self.ex(repeat),
                    self.ex(src_stride),
                    self.ex(dst_gap),
                );
                self.line(d, "{")?;
                self.line(d + 1, format!("AscendC::{params} p;"))?;
                self.line(d + 1, "p.startIndex = 0;")?;
                self.line(
                    d + 1,
                    format!("p.repeatTimes = static_cast<uint8_t>({rep});"),
                )?;
                self.line(d + 1, format!("p.srcStride = static_cast<uint16_t>({ss});"))?;
                self.line(d + 1, format!("p.dstGap = static_cast<uint16_t>({gap});"))?;
                self.line(d + 1, last)?;
                self.line(
                    d + 1,
                    format!("AscendC::{call}({dst}[{doff}], {src}[{soff}], p);"),
                )?;
                self.line(d, "}")
            }
            InstData::Mmad {
                dst,
                a,
                b,
                m,
                n,
                k: kk,
                init,
            } => {
                let (m, n, kk, init) = (self.ex(m), self.ex(n), self.ex(kk), self.ex(init));
                self.line(d, "{")?;
                self.line(d + 1, "AscendC::MmadParams p;")?;
                self.line(d + 1, format!("p.m = static_cast<uint16_t>({m});"))?;
                self.line(d + 1, format!("p.n = static_cast<uint16_t>({n});"))?;
                self.line(d + 1, format!("p.k = static_cast<uint16_t>({kk});"))?;
                self.line(d + 1, "p.cmatrixSource = false;")?;
                self.line(d + 1, format!("p.cmatrixInitVal = ({init}) != 0;"))?;
                self.line(d + 1, format!("AscendC::Mmad({dst}, {a}, {b}, p);"))?;
                self.line(d, "}")
            }
            InstData::Fixpipe {
                dst,
                src,
                m,
                n,
                src_stride,
                gm_pitch,
                quant,
                relu,
            } => {
                let out_ty = dtype_ty(self.p.gm[dst.buf].dtype);
                let in_ty = elem_ty(self.elem_of(*src));
                let (gm, m, n, ss, pitch) = (
                    self.gm(dst),
                    self.ex(m),
                    self.ex(n),
                    self.ex(src_stride),
                    self.ex(gm_pitch),
                );
                self.line(d, "{")?;
                self.line(d + 1, "AscendC::FixpipeParamsV220 p;")?;
                self.line(d + 1, format!("p.nSize = static_cast<uint16_t>({n});"))?;
                self.line(d + 1, format!("p.mSize = static_cast<uint16_t>({m});"))?;
                self.line(d + 1, format!("p.srcStride = static_cast<uint16_t>({ss});"))?;
                self.line(
                    d + 1,
                    format!("p.dstStride = static_cast<uint32_t>({pitch});"),
                )?;
                if *quant != Quant::None {
                    self.line(
                        d + 1,
                        format!("p.quantPre = QuantMode_t::{};", quant.name()),
                    )?;
                }
                self.line(d + 1, format!("p.reluEn = {relu};"))?;
                self.line(d + 1, "p.ndNum = 1;")?;
                self.line(
                    d + 1,
                    format!("AscendC::Fixpipe<{out_ty}, {in_ty}, AscendC::CFG_ROW_MAJOR>({gm}, {src}, p);"),
                )?;
                self.line(d, "}")
            }
            InstData::SetAtomic(Some(e)) => {
                self.line(d, format!("AscendC::SetAtomicAdd<{}>();", elem_ty(*e)))
            }
            InstData::SetAtomic(None) => self.line(d, "AscendC::SetAtomicNone();"),
            InstData::ReadScalar { dst, src } => {
                let (buf, off) = (src.buf, self.ex(&src.offset));
                self.line(
                    d,
                    format!("{dst} = static_cast<int64_t>({buf}.GetValue({off}));"),
                )
            }
            InstData::Assign { dst, value } => {
                let v = self.ex(value);
                self.line(d, format!("{dst} = {v};"))
            }
            InstData::WriteScalar { dst, value } => {
                let (buf, off, v) = (dst.buf, self.ex(&dst.offset), self.ex(value));
                self.line(
                    d,
                    format!("{buf}.SetValue({off}, static_cast<int32_t>({v}));"),
                )
            }
            InstData::FlushGm { buf } => {
                let ty = dtype_ty(self.p.gm[*buf].dtype);
                self.line(
                    d,
                    format!("AscendC::DataCacheCleanAndInvalid<{ty}, AscendC::CacheLine::ENTIRE_DATA_CACHE, AscendC::DcciDst::CACHELINE_OUT>({buf});"),
                )
            }
            InstData::SetFlag(e) | InstData::WaitFlag(e) => {
                let call = if matches!(k.insts[i], InstData::SetFlag(_)) {
                    "SetFlag"
                } else {
                    "WaitFlag"
                };
                let ev = &k.events[*e];
                self.line(
                    d,
                    format!(
                        "AscendC::{call}<AscendC::HardEvent::{}_{}>({e});",
                        ev.from.name(),
                        ev.to.name()
                    ),
                )
            }
            InstData::PipeBarrier(p) => {
                self.line(d, format!("AscendC::PipeBarrier<{}>();", pipe_c(*p)))
            }
            InstData::CrossCoreSetFlag { mode, pipe, flag }
            | InstData::CrossCoreWaitFlag { mode, pipe, flag } => {
                let call = if matches!(k.insts[i], InstData::CrossCoreSetFlag { .. }) {
                    "CrossCoreSetFlag"
                } else {
                    "CrossCoreWaitFlag"
                };
                self.line(
                    d,
                    format!("AscendC::{call}<{mode}, {}>({flag});", pipe_c(*pipe)),
                )
            }
            InstData::SyncAll => {
                let aiv_only = k.core == CoreKind::Aiv;
                self.line(d, format!("AscendC::SyncAll<{aiv_only}>();"))
            }
            InstData::Vector {
                op,
                dsts,
                srcs,
                scalar,
                count,
            } => {
                let n = format!("static_cast<int32_t>({})", self.ex(count));
                let dst = dsts[0];
                let sc = |s: &Option<Scalar>| -> Result<String, Error> {
                    s.map(scalar_expr)
                        .ok_or_else(|| unsupported(k, format!("{i}: the op needs a scalar")))
                };
                let seg_call =
                    |callee: String, tensors: &[moge_lower::kir::v2::Tensor], seg: &SegView| {
                        let mut args: Vec<String> = tensors.iter().map(|t| t.to_string()).collect();
                        args.extend([n.clone(), seg.len.to_string(), seg.stride.to_string()]);
                        format!("{callee}({});", args.join(", "))
                    };
                let call = match op {
                    VecOp::Unary(u) => {
                        format!("AscendC::{}({dst}, {}, {n});", u.api_name(), srcs[0])
                    }
                    VecOp::Binary(b) => format!(
                        "AscendC::{}({dst}, {}, {}, {n});",
                        b.api_name(),
                        srcs[0],
                        srcs[1]
                    ),
                    VecOp::Scalar(s) => format!(
                        "AscendC::{}({dst}, {}, {}, {n});",
                        s.api_name(),
                        srcs[0],
                        sc(scalar)?
                    ),
                    VecOp::Duplicate => format!("AscendC::Duplicate({dst}, {}, {n});", sc(scalar)?),
                    VecOp::Cast(r) => format!(
                        "AscendC::Cast({dst}, {}, AscendC::RoundMode::{}, {n});",
                        srcs[0],
                        r.api_name()
                    ),
                    VecOp::Compare(mode) => format!(
                        "AscendC::Compare({dst}, {}, {}, AscendC::CMPMODE::{}, {n});",
                        srcs[0],
                        srcs[1],
                        mode.api_name()
                    ),
                    // The mask bits, 16 at a time (Not works on 16-bit integers).
                    VecOp::Not => format!(
                        "AscendC::Not({dst}.ReinterpretCast<uint16_t>(), {}.ReinterpretCast<uint16_t>(), {n} / 16);",
                        srcs[0]
                    ),
                    VecOp::Select => {
                        // Select works on floats; integers are selected by their bits.
                        let view = |t: moge_lower::kir::v2::Tensor| {
                            if k.tensors[t].elem == Elem::I32 {
                                format!("{t}.ReinterpretCast<float>()")
                            } else {
                                t.to_string()
                            }
                        };
                        match (srcs.get(2), scalar) {
                            (Some(b), _) => format!(
                                "AscendC::Select({}, {}, {}, {}, AscendC::SELMODE::VSEL_TENSOR_TENSOR_MODE, {n});",
                                view(dst), srcs[0], view(srcs[1]), view(*b)
                            ),
                            (None, s) => format!(
                                "AscendC::Select({}, {}, {}, {}, AscendC::SELMODE::VSEL_TENSOR_SCALAR_MODE, {n});",
                                view(dst), srcs[0], view(srcs[1]), sc(s)?
                            ),
                        }
                    }
                    VecOp::SegReduce(r, seg) => {
                        let r = match r {
                            SegReduceOp::Sum => "SUM",
                            SegReduceOp::Max => "MAX",
                            SegReduceOp::Min => "MIN",
                        };
                        match dsts.get(1) {
                            Some(fold) => seg_call(format!("::MogeSegReduceLong<::MogeReduce::{r}>"), &[dst, srcs[0], *fold], seg),
                            None => seg_call(format!("::MogeSegReduceShort<::MogeReduce::{r}>"), &[dst, srcs[0]], seg),
                        }
                    }
                    VecOp::SegExpand(seg) => seg_call("::MogeSegExpand".into(), &[dst, srcs[0], dsts[1]], seg),
                    VecOp::VecExpand(seg) => seg_call("::MogeVecExpand".into(), &[dst, srcs[0]], seg),
                    VecOp::SegBinary(b, seg) => seg_call(
                        format!("::MogeSegApply<::MogeOp::{}>", op_enum(*b)),
                        &[dst, srcs[0], srcs[1], dsts[1]],
                        seg,
                    ),
                    VecOp::VecBinary(b, seg) => seg_call(
                        format!("::MogeVecApply<::MogeOp::{}>", op_enum(*b)),
                        &[dst, srcs[0], srcs[1]],
                        seg,
                    ),
                    VecOp::Iota => {
                        let zero = if k.tensors[dst].elem == Elem::I32 { "static_cast<int32_t>(0)" } else { "0.0f" };
                        format!("AscendC::CreateVecIndex({dst}, {zero}, {n});")
                    }
                    VecOp::Gather { table_len } => format!(
                        "::MogeGather({dst}, {}, {}, {}, {table_len}, {n});",
                        srcs[0], srcs[1], dsts[1]
                    ),
                };
                self.line(d, call)
            }
        }
    }
}

/// A placeholder for the name of GM buffer `index` in the entry (replaced by [`finish_names`]).
fn param_marker(index: usize) -> String {
    format!("\u{1}P{index}\u{1}")
}

/// The identifiers the printer uses inside the entry function besides the entity ids.
const LOCALS: [&str; 3] = ["pipe", "tilingData", "p"];

fn is_entity_id(name: &str) -> bool {
    ["g", "t", "q", "buf", "ev", "v"].iter().any(|pre| {
        name.strip_prefix(pre)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    })
}

/// Puts the tensors' names into the entry verbatim (the manifest's names) and renames every local
/// identifier of the printer that one of them would shadow. Globals (helpers, the tiling struct) are
/// written `::qualified`, so no parameter can shadow them.
fn finish_names(text: &str, p: &Program) -> String {
    let params: Vec<&str> = p.gm.values().map(|g| g.name.as_str()).collect();
    let taken = |n: &str| params.contains(&n) || is_entity_id(n) || LOCALS.contains(&n);
    let mut renames: Vec<(String, String)> = vec![];
    for name in &params {
        if is_entity_id(name) || LOCALS.contains(name) {
            let mut i = 1;
            while taken(&format!("{name}_{i}")) {
                i += 1;
            }
            renames.push((name.to_string(), format!("{name}_{i}")));
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // One pass over the text: parameter markers become the parameters' names, and, only when some
    // parameter's name would clash with an id, the clashing ids are renamed.
    while !rest.is_empty() {
        let Some(at) =
            rest.find(|c: char| c == '\u{1}' || (!renames.is_empty() && is_word_start(c)))
        else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(marker) = rest.strip_prefix("\u{1}P") {
            let digits = marker
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(marker.len());
            let index: Option<usize> = marker[..digits].parse().ok();
            match (
                index.and_then(|i| params.get(i)),
                marker[digits..].strip_prefix('\u{1}'),
            ) {
                (Some(name), Some(after)) => {
                    out.push_str(name);
                    rest = after;
                }
                _ => {
                    out.push('\u{1}');
                    rest = &rest[1..];
                }
            }
            continue;
        }
        let c = rest.chars().next().expect("not empty");
        if c == '\u{1}' {
            out.push(c);
            rest = &rest[1..];
            continue;
        }
        let len = rest
            .find(|d: char| {
                !(d.is_ascii_alphanumeric() || d == '_' || (c.is_ascii_digit() && d == '.'))
            })
            .unwrap_or(rest.len());
        let word = &rest[..len];
        // A number (and any suffix glued to it) is never an identifier.
        match renames.iter().find(|(from, _)| from == word) {
            Some((_, to)) if !c.is_ascii_digit() => out.push_str(to),
            _ => out.push_str(word),
        }
        rest = &rest[len..];
    }
    out
}

/// Whether `c` starts a word the renaming scan must read whole: an identifier, or a number (whose
/// glued suffix must not be taken for an identifier).
fn is_word_start(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn print_kernel(out: &mut String, p: &Program, k: &Kernel) -> R {
    let mut body = String::new();
    print_entry(&mut body, p, k)?;
    out.push_str(&finish_names(&body, p));
    Ok(())
}

fn print_entry(out: &mut String, p: &Program, k: &Kernel) -> R {
    let mut pr = Printer {
        p,
        k,
        out,
        last_note: None,
    };
    pr.header()?;
    pr.block(&k.body, 1)?;
    for (e, ev) in &k.events {
        pr.line(
            1,
            format!(
                "pipe.ReleaseEventID<AscendC::HardEvent::{}_{}>({e});",
                ev.from.name(),
                ev.to.name()
            ),
        )?;
    }
    pr.line(0, "}")
}
