//! Structural verifier of kernel IR v2: references, memories per instruction, queue homes, scopes of
//! variables, core sides and on-chip budgets. The ordering rules are [`super::hazard`]'s.

use std::fmt;

use cranelift_entity::EntityRef;

use super::{
    CoreKind, Home, IExpr, Inst, InstData, Kernel, MemSpace, Program, Side, Stmt, Tensor, Var,
};
use crate::target::Target;

/// One verifier finding: the kernel, the instruction when there is one, and what is wrong.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifyError {
    /// The kernel's name (empty for program-level errors).
    pub kernel: String,
    /// The instruction, when the error is about one.
    pub inst: Option<Inst>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kernel[..], self.inst) {
            ("", _) => write!(f, "{}", self.message),
            (k, Some(i)) => write!(f, "kernel {k}, {i}: {}", self.message),
            (k, None) => write!(f, "kernel {k}: {}", self.message),
        }
    }
}

/// Every finding of one verifier run.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub struct VerifyErrors(pub Vec<VerifyError>);

impl fmt::Display for VerifyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::graph::verify::write_lines(f, &self.0)
    }
}

/// Verifies a program against a target's memory sizes.
pub fn verify_program(p: &Program, target: &Target) -> Result<(), VerifyErrors> {
    let mut errs = vec![];
    for k in p.kernels.values() {
        let mut v = KV {
            p,
            k,
            errs: &mut errs,
            seen: vec![false; k.insts.len()],
            bound: vec![],
            counters: vec![],
        };
        v.kernel(target);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(VerifyErrors(errs))
    }
}

struct KV<'a> {
    p: &'a Program,
    k: &'a Kernel,
    errs: &'a mut Vec<VerifyError>,
    seen: Vec<bool>,
    /// Variables in scope (loop counters of enclosing loops, scalars read or assigned earlier).
    bound: Vec<Var>,
    /// The loop counters among them (which no instruction may write).
    counters: Vec<Var>,
}

impl KV<'_> {
    fn err(&mut self, inst: Option<Inst>, message: String) {
        self.errs.push(VerifyError {
            kernel: self.k.name.clone(),
            inst,
            message,
        });
    }

    fn kernel(&mut self, target: &Target) {
        let k = self.k;
        for g in &k.params {
            if g.index() >= self.p.gm.len() {
                self.err(None, format!("parameter {g} is not a GM buffer"));
            }
        }
        for (q, d) in &k.queues {
            if d.buf.index() >= k.bufs.len() {
                self.err(None, format!("{q} uses undefined {}", d.buf));
            } else if k.bufs[d.buf].mem != d.pos.mem() {
                self.err(
                    None,
                    format!(
                        "{q} at {} needs its buffer in {:?}",
                        d.pos.name(),
                        d.pos.mem()
                    ),
                );
            }
            if d.depth == 0 {
                self.err(None, format!("{q} has depth 0"));
            }
        }
        for (t, d) in &k.tensors {
            let (buf, offset) = match d.home {
                Home::Queue(q) if q.index() < k.queues.len() => (k.queues[q].buf, 0),
                Home::Buf { buf, offset } => (buf, offset),
                Home::Queue(q) => {
                    self.err(None, format!("{t} lives in undefined {q}"));
                    continue;
                }
            };
            if buf.index() >= k.bufs.len() {
                self.err(None, format!("{t} lives in undefined {buf}"));
                continue;
            }
            let bytes = (d.elems as u64 * d.elem.bits() as u64).div_ceil(8);
            if offset % 32 != 0 || offset as u64 + bytes > k.bufs[buf].bytes as u64 {
                self.err(
                    None,
                    format!(
                        "{t} ({bytes} bytes at {offset}) does not fit {buf} ({} bytes, 32-byte aligned)",
                        k.bufs[buf].bytes
                    ),
                );
            }
        }
        for (e, d) in &k.events {
            if d.from == d.to {
                self.err(None, format!("{e} goes from {} to itself", d.from.name()));
            }
        }
        for (mem, cap) in [
            (MemSpace::Ub, target.ub_usable),
            (MemSpace::L1, target.l1_bytes),
            (MemSpace::L0a, target.l0a_bytes),
            (MemSpace::L0b, target.l0b_bytes),
            (MemSpace::L0c, target.l0c_bytes),
        ] {
            let used = k.mem_bytes(mem);
            if used > cap as u64 {
                self.err(
                    None,
                    format!(
                        "{mem:?} needs {used} bytes, {} more than the {cap} of {}",
                        used - cap as u64,
                        target.name
                    ),
                );
            }
        }
        let side = match k.core {
            CoreKind::Aiv => Some(Side::Aiv),
            CoreKind::Aic => Some(Side::Aic),
            CoreKind::Mix => None,
        };
        self.block(&k.body, side);
        for (n, s) in self.seen.clone().into_iter().enumerate() {
            if !s {
                self.err(Some(Inst::new(n)), "is not in the body".into());
            }
        }
    }

    fn block(&mut self, stmts: &[Stmt], side: Option<Side>) {
        let scope = self.bound.len();
        for s in stmts {
            match s {
                Stmt::Inst(i) => self.inst(*i, side),
                Stmt::For {
                    var,
                    start,
                    end,
                    body,
                } => {
                    self.expr(None, start);
                    self.expr(None, end);
                    if self.bound.contains(var) {
                        self.err(None, format!("{var} is bound twice"));
                    }
                    self.bound.push(*var);
                    self.counters.push(*var);
                    self.block(body, side);
                    self.counters.pop();
                    self.bound.pop();
                }
                Stmt::Side { side: s2, body } => {
                    if self.k.core != CoreKind::Mix {
                        self.err(None, "a core-side region outside a MIX kernel".into());
                    } else if side.is_some() {
                        self.err(None, "core-side regions do not nest".into());
                    }
                    self.block(body, Some(*s2));
                }
            }
        }
        self.bound.truncate(scope);
    }

    fn expr(&mut self, inst: Option<Inst>, e: &IExpr) {
        let mut vars = vec![];
        e.vars(&mut vars);
        for v in vars {
            if v.index() >= self.k.vars.len() || !self.bound.contains(&v) {
                self.err(inst, format!("{v} is not in scope"));
            }
        }
        let mut fields = vec![];
        e.fields(&mut fields);
        for f in fields {
            if f.index() >= self.p.fields.len() {
                self.err(inst, format!("{f} is not a tiling field"));
            }
        }
    }

    fn tensor_in(&mut self, i: Inst, t: Tensor, mems: &[MemSpace], role: &str) {
        if t.index() >= self.k.tensors.len() {
            self.err(Some(i), format!("{role} {t} is not a tensor"));
            return;
        }
        let mem = self.k.mem_of(t);
        if !mems.contains(&mem) {
            self.err(
                Some(i),
                format!("{role} {t} is in {mem:?}, expected one of {mems:?}"),
            );
        }
    }

    fn gm(&mut self, i: Inst, r: &super::GmRef) {
        if !self.k.params.contains(&r.buf) {
            self.err(
                Some(i),
                format!("{} is not a parameter of the kernel", r.buf),
            );
        }
        self.expr(Some(i), &r.offset);
    }

    /// A scalar instruction writes `dst`: the first write defines it (in scope until the end of the
    /// enclosing block), a later one overwrites it; a loop counter is never written.
    fn define(&mut self, i: Inst, dst: Var) {
        if dst.index() >= self.k.vars.len() {
            self.err(Some(i), format!("{dst} is not a variable"));
        } else if self.counters.contains(&dst) {
            self.err(
                Some(i),
                format!("{dst} is a loop counter and cannot be written"),
            );
        } else if !self.bound.contains(&dst) {
            self.bound.push(dst);
        }
    }

    /// `buf` is an i32 GM buffer (scalar GM writes are `GlobalTensor<int32_t>::SetValue`).
    fn i32_buf(&mut self, i: Inst, buf: super::GmBuf, what: &str) {
        if let Some(d) = self.p.gm.get(buf) {
            if d.dtype != crate::graph::DType::I32 {
                self.err(
                    Some(i),
                    format!(
                        "{what} to {buf} \"{}\" of {}: only i32 buffers",
                        d.name, d.dtype
                    ),
                );
            }
        }
    }

    fn inst(&mut self, i: Inst, side: Option<Side>) {
        if i.index() >= self.k.insts.len() {
            self.err(Some(i), "is not defined".into());
            return;
        }
        if std::mem::replace(&mut self.seen[i.index()], true) {
            self.err(Some(i), "appears twice in the body".into());
        }
        let d = &self.k.insts[i];
        use MemSpace::*;
        let cube = matches!(
            d,
            InstData::CopyNd2Nz { .. }
                | InstData::LoadData2d { .. }
                | InstData::Mmad { .. }
                | InstData::Fixpipe { .. }
        );
        let vector = matches!(
            d,
            InstData::CopyIn { .. } | InstData::CopyOut { .. } | InstData::Vector { .. }
        );
        match side {
            None if cube || vector => self.err(
                Some(i),
                "a MIX kernel's data instruction must be inside an aic or aiv region".into(),
            ),
            Some(Side::Aiv) if cube => {
                self.err(Some(i), "a cube instruction on the AIV side".into())
            }
            Some(Side::Aic) if vector => {
                self.err(Some(i), "a vector instruction on the AIC side".into())
            }
            _ => {}
        }
        match d.clone() {
            InstData::AllocTensor { queue, tensor }
            | InstData::EnQue { queue, tensor }
            | InstData::DeQue { queue, tensor }
            | InstData::FreeTensor { queue, tensor } => {
                if tensor.index() >= self.k.tensors.len()
                    || self.k.tensors[tensor].home != Home::Queue(queue)
                {
                    self.err(Some(i), format!("{tensor} is not a tensor of {queue}"));
                }
            }
            InstData::CopyIn {
                dst,
                src,
                rows,
                gm_pitch,
                ..
            } => {
                self.tensor_in(i, dst, &[Ub], "destination");
                self.gm(i, &src);
                self.expr(Some(i), &rows);
                self.expr(Some(i), &gm_pitch);
            }
            InstData::CopyOut {
                dst,
                src,
                rows,
                gm_pitch,
                ..
            } => {
                self.tensor_in(i, src, &[Ub], "source");
                self.gm(i, &dst);
                self.expr(Some(i), &rows);
                self.expr(Some(i), &gm_pitch);
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
                self.tensor_in(i, dst, &[L1], "destination");
                self.gm(i, &src);
                for e in [dst_offset, rows, cols, gm_pitch, nz_rows] {
                    self.expr(Some(i), &e);
                }
            }
            InstData::LoadData2d {
                dst,
                dst_offset,
                src,
                src_offset,
                repeat,
                src_stride,
                dst_gap,
                frac_gap,
                ..
            } => {
                self.tensor_in(i, dst, &[L0a, L0b], "destination");
                self.tensor_in(i, src, &[L1], "source");
                for e in [
                    dst_offset, src_offset, repeat, src_stride, dst_gap, frac_gap,
                ] {
                    self.expr(Some(i), &e);
                }
            }
            InstData::Mmad {
                dst,
                a,
                b,
                m,
                n,
                k,
                init,
            } => {
                self.tensor_in(i, dst, &[L0c], "accumulator");
                self.tensor_in(i, a, &[L0a], "left operand");
                self.tensor_in(i, b, &[L0b], "right operand");
                for e in [m, n, k, init] {
                    self.expr(Some(i), &e);
                }
            }
            InstData::Fixpipe {
                dst,
                src,
                m,
                n,
                src_stride,
                gm_pitch,
                ..
            } => {
                self.tensor_in(i, src, &[L0c], "source");
                self.gm(i, &dst);
                for e in [m, n, src_stride, gm_pitch] {
                    self.expr(Some(i), &e);
                }
            }
            InstData::ReadScalar { dst, src } => {
                self.gm(i, &src);
                self.define(i, dst);
            }
            InstData::Assign { dst, value } => {
                // The value is read before the variable is written (`v = v + 1` needs `v` defined).
                self.expr(Some(i), &value);
                self.define(i, dst);
            }
            InstData::WriteScalar { dst, value } => {
                self.gm(i, &dst);
                self.expr(Some(i), &value);
                self.i32_buf(i, dst.buf, "write_scalar");
            }
            InstData::FlushGm { buf } => {
                if !self.k.params.contains(&buf) {
                    self.err(Some(i), format!("{buf} is not a parameter of the kernel"));
                }
            }
            InstData::SetFlag(e) | InstData::WaitFlag(e) => {
                if e.index() >= self.k.events.len() {
                    self.err(Some(i), format!("{e} is not an event"));
                }
            }
            InstData::CrossCoreSetFlag { flag, mode, .. }
            | InstData::CrossCoreWaitFlag { flag, mode, .. } => {
                if flag > 15 || mode > 2 {
                    self.err(
                        Some(i),
                        format!(
                            "cross-core flag {flag} mode {mode}: flags are 0..=15, modes 0..=2"
                        ),
                    );
                }
                if self.k.core != CoreKind::Mix {
                    self.err(Some(i), "cross-core flags need a MIX kernel".into());
                }
            }
            InstData::SyncAll | InstData::PipeBarrier(_) | InstData::SetAtomic(_) => {}
            InstData::Vector {
                dsts, srcs, count, ..
            } => {
                for t in dsts.iter().chain(&srcs) {
                    self.tensor_in(i, *t, &[Ub], "operand");
                }
                if dsts.is_empty() {
                    self.err(Some(i), "a vector instruction without a result".into());
                }
                self.expr(Some(i), &count);
            }
        }
    }
}
