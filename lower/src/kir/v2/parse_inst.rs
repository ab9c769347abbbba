//! Instructions in the text form: `iN = mnemonic key=value ...`, one per line.

use cranelift_entity::EntityRef;

use super::super::write::{elem_from_name, quant_from_name, vec_op_from_name, Val};
use super::super::{GmRef, IExpr, InstData, Pipe, Queue, Scalar, SegView, Tensor, VecOp};
use super::{Tok, P, R};

/// The `key=value` arguments of one instruction.
struct Args {
    vals: Vec<(String, Val)>,
}

impl Args {
    fn take(&mut self, p: &P, key: &str) -> R<Val> {
        match self.vals.iter().position(|(k, _)| k == key) {
            Some(i) => Ok(self.vals.remove(i).1),
            None => p.err(format!("missing argument `{key}`")),
        }
    }
    fn has(&self, key: &str) -> bool {
        self.vals.iter().any(|(k, _)| k == key)
    }
    fn expr(&mut self, p: &P, key: &str) -> R<IExpr> {
        match self.take(p, key)? {
            Val::Expr(e) => Ok(e),
            v => p.err(format!("`{key}`: expected an expression, found {v:?}")),
        }
    }
    fn int<T: TryFrom<i64>>(&mut self, p: &P, key: &str) -> R<T> {
        match self.expr(p, key)? {
            IExpr::Int(v) => {
                T::try_from(v).or_else(|_| p.err(format!("`{key}`: {v} out of range")))
            }
            e => p.err(format!("`{key}`: expected an integer, found {e:?}")),
        }
    }
    fn word(&mut self, p: &P, key: &str) -> R<String> {
        match self.take(p, key)? {
            Val::Word(w) => Ok(w),
            // A bare `vN`/`fN` word parses as an expression; give its name back.
            Val::Expr(e) => Ok(super::super::write::ex(&e)),
            v => p.err(format!("`{key}`: expected a name, found {v:?}")),
        }
    }
    fn ent<E: EntityRef>(&mut self, p: &P, key: &str, prefix: &str) -> R<E> {
        let w = self.word(p, key)?;
        p.id_of(prefix, &w)
    }
    fn gm(&mut self, p: &P, key: &str) -> R<GmRef> {
        match self.take(p, key)? {
            Val::Gm(r) => Ok(r),
            v => p.err(format!("`{key}`: expected `gN[offset]`, found {v:?}")),
        }
    }
    fn bool(&mut self, p: &P, key: &str) -> R<bool> {
        match self.word(p, key)?.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            w => p.err(format!("`{key}`: expected true or false, found `{w}`")),
        }
    }
    fn pipe(&mut self, p: &P, key: &str) -> R<Pipe> {
        let w = self.word(p, key)?;
        Pipe::from_name(&w).map_or_else(|| p.err(format!("unknown pipe `{w}`")), Ok)
    }
    fn tensors(&mut self, p: &P, key: &str) -> R<Vec<Tensor>> {
        match self.take(p, key)? {
            Val::List(l) => l.iter().map(|s| p.id_of("t", s)).collect(),
            v => p.err(format!("`{key}`: expected a list, found {v:?}")),
        }
    }
}

pub(super) fn value(p: &mut P) -> R<Val> {
    if p.is_p("[") {
        p.pos += 1;
        let mut l = vec![];
        while !p.is_p("]") {
            if !l.is_empty() {
                p.punct(",")?;
            }
            l.push(p.ident()?);
        }
        p.punct("]")?;
        return Ok(Val::List(l));
    }
    if let Some(Tok::Ident(s)) = p.peek().cloned() {
        let is_gm = s.starts_with('g') && s[1..].chars().all(|c| c.is_ascii_digit()) && s.len() > 1;
        let next_bracket = matches!(p.toks.get(p.pos + 1), Some((Tok::P("["), _)));
        if is_gm && next_bracket {
            p.pos += 2;
            let buf = p.id_of("g", &s)?;
            let offset = p.iexpr()?;
            p.punct("]")?;
            return Ok(Val::Gm(GmRef { buf, offset }));
        }
        let is_expr_atom = s == "block_idx"
            || s == "block_num"
            || s == "min"
            || s == "max"
            || s == "ceil_div"
            || ((s.starts_with('v') || s.starts_with('f'))
                && s.len() > 1
                && s[1..].chars().all(|c| c.is_ascii_digit()));
        if !is_expr_atom {
            p.pos += 1;
            return Ok(Val::Word(s));
        }
    }
    Ok(Val::Expr(p.atom()?))
}

pub(super) fn inst(p: &mut P) -> R<InstData> {
    let mnemonic = p.ident()?;
    // An instruction is one line: its arguments end where the line does.
    let line = p.toks[p.pos - 1].1;
    let mut a = Args { vals: vec![] };
    while let Some(Tok::Ident(key)) = p.peek().cloned() {
        if p.line() != line || !matches!(p.toks.get(p.pos + 1), Some((Tok::P("="), _))) {
            break;
        }
        p.pos += 2;
        let v = value(p)?;
        a.vals.push((key, v));
    }
    let d = build(p, &mnemonic, &mut a)?;
    if let Some((k, _)) = a.vals.first() {
        return p.err(format!("`{mnemonic}` takes no argument `{k}`"));
    }
    Ok(d)
}

fn build(p: &P, m: &str, a: &mut Args) -> R<InstData> {
    let qt = |a: &mut Args| -> R<(Queue, Tensor)> {
        Ok((a.ent(p, "queue", "q")?, a.ent(p, "tensor", "t")?))
    };
    Ok(match m {
        "alloc_tensor" => {
            let (queue, tensor) = qt(a)?;
            InstData::AllocTensor { queue, tensor }
        }
        "enque" => {
            let (queue, tensor) = qt(a)?;
            InstData::EnQue { queue, tensor }
        }
        "deque" => {
            let (queue, tensor) = qt(a)?;
            InstData::DeQue { queue, tensor }
        }
        "free_tensor" => {
            let (queue, tensor) = qt(a)?;
            InstData::FreeTensor { queue, tensor }
        }
        "copy_in" => InstData::CopyIn {
            dst: a.ent(p, "dst", "t")?,
            src: a.gm(p, "src")?,
            rows: a.expr(p, "rows")?,
            cols: a.int(p, "cols")?,
            gm_pitch: a.expr(p, "gm_pitch")?,
            ub_stride: a.int(p, "ub_stride")?,
        },
        "copy_out" => InstData::CopyOut {
            dst: a.gm(p, "dst")?,
            src: a.ent(p, "src", "t")?,
            rows: a.expr(p, "rows")?,
            cols: a.int(p, "cols")?,
            gm_pitch: a.expr(p, "gm_pitch")?,
            ub_stride: a.int(p, "ub_stride")?,
        },
        "copy_nd2nz" => InstData::CopyNd2Nz {
            dst: a.ent(p, "dst", "t")?,
            dst_offset: if a.has("dst_offset") {
                a.expr(p, "dst_offset")?
            } else {
                IExpr::Int(0)
            },
            src: a.gm(p, "src")?,
            rows: a.expr(p, "rows")?,
            cols: a.expr(p, "cols")?,
            gm_pitch: a.expr(p, "gm_pitch")?,
            nz_rows: a.expr(p, "nz_rows")?,
        },
        "load_data_2d" => InstData::LoadData2d {
            dst: a.ent(p, "dst", "t")?,
            dst_offset: a.expr(p, "dst_offset")?,
            src: a.ent(p, "src", "t")?,
            src_offset: a.expr(p, "src_offset")?,
            repeat: a.expr(p, "repeat")?,
            src_stride: a.expr(p, "src_stride")?,
            dst_gap: a.expr(p, "dst_gap")?,
            transpose: a.bool(p, "transpose")?,
            frac_gap: if a.has("frac_gap") {
                a.expr(p, "frac_gap")?
            } else {
                IExpr::Int(0)
            },
        },
        "mmad" => InstData::Mmad {
            dst: a.ent(p, "dst", "t")?,
            a: a.ent(p, "a", "t")?,
            b: a.ent(p, "b", "t")?,
            m: a.expr(p, "m")?,
            n: a.expr(p, "n")?,
            k: a.expr(p, "k")?,
            init: a.expr(p, "init")?,
        },
        "fixpipe" => {
            let dst = a.gm(p, "dst")?;
            let src = a.ent(p, "src", "t")?;
            let m = a.expr(p, "m")?;
            let n = a.expr(p, "n")?;
            let src_stride = a.expr(p, "src_stride")?;
            let gm_pitch = a.expr(p, "gm_pitch")?;
            let qn = a.word(p, "quant")?;
            let quant =
                quant_from_name(&qn).map_or_else(|| p.err(format!("unknown quant `{qn}`")), Ok)?;
            InstData::Fixpipe {
                dst,
                src,
                m,
                n,
                src_stride,
                gm_pitch,
                quant,
                relu: a.bool(p, "relu")?,
            }
        }
        "set_atomic" => {
            let w = a.word(p, "add")?;
            if w == "none" {
                InstData::SetAtomic(None)
            } else {
                InstData::SetAtomic(Some(
                    elem_from_name(&w)
                        .map_or_else(|| p.err(format!("unknown element `{w}`")), Ok)?,
                ))
            }
        }
        "read_scalar" => InstData::ReadScalar {
            dst: a.ent(p, "dst", "v")?,
            src: a.gm(p, "src")?,
        },
        "assign" => InstData::Assign {
            dst: a.ent(p, "dst", "v")?,
            value: a.expr(p, "value")?,
        },
        "write_scalar" => InstData::WriteScalar {
            dst: a.gm(p, "dst")?,
            value: a.expr(p, "value")?,
        },
        "flush_gm" => InstData::FlushGm {
            buf: a.ent(p, "buf", "g")?,
        },
        "set_flag" => InstData::SetFlag(a.ent(p, "event", "ev")?),
        "wait_flag" => InstData::WaitFlag(a.ent(p, "event", "ev")?),
        "pipe_barrier" => InstData::PipeBarrier(a.pipe(p, "pipe")?),
        "cross_core_set_flag" => InstData::CrossCoreSetFlag {
            mode: a.int(p, "mode")?,
            pipe: a.pipe(p, "pipe")?,
            flag: a.int(p, "flag")?,
        },
        "cross_core_wait_flag" => InstData::CrossCoreWaitFlag {
            mode: a.int(p, "mode")?,
            pipe: a.pipe(p, "pipe")?,
            flag: a.int(p, "flag")?,
        },
        "sync_all" => InstData::SyncAll,
        "vec" => {
            let name = a.word(p, "op")?;
            let seg = if a.has("segs") {
                Some(SegView {
                    segs: a.int(p, "segs")?,
                    len: a.int(p, "len")?,
                    stride: a.int(p, "stride")?,
                })
            } else {
                None
            };
            let table_len = if a.has("table_len") {
                Some(a.int(p, "table_len")?)
            } else {
                None
            };
            let op: VecOp = vec_op_from_name(&name, seg, table_len)
                .map_or_else(|| p.err(format!("unknown vector op `{name}`")), Ok)?;
            let dsts = a.tensors(p, "dst")?;
            let srcs = a.tensors(p, "src")?;
            let scalar = if a.has("f32_bits") {
                Some(Scalar::F32(a.int(p, "f32_bits")?))
            } else if a.has("i32") {
                Some(Scalar::I32(a.int(p, "i32")?))
            } else {
                None
            };
            InstData::Vector {
                op,
                dsts,
                srcs,
                scalar,
                count: a.expr(p, "count")?,
            }
        }
        _ => return p.err(format!("unknown instruction `{m}`")),
    })
}
