//! Parser of the kernel IR v2 text form (see [`super::write`]); `parse(print(p)) == p`.

use std::collections::BTreeMap;

use cranelift_entity::{EntityRef, PrimaryMap};

use super::write::elem_from_name;
use inst::inst;

#[path = "parse_inst.rs"]
mod inst;
use super::{
    BinOp, CoreKind, Event, EventData, Field, FieldData, GmBuf, GmBufData, GmKind, Home, HostExpr,
    IExpr, Inst, InstData, Kernel, LocalBuf, LocalBufData, MemSpace, Pipe, Program, QuePos, Queue,
    QueueData, Side, Stmt, Tensor, TensorData, Var, VarData,
};
use crate::graph::DType;
use crate::sym::Symbol;

/// A syntax or reference error in kernel IR v2 text, with its 1-based line.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

#[derive(Clone, PartialEq, Debug)]
enum Tok {
    Ident(String),
    Int(i64),
    Str(String),
    Host(String),
    Note(String),
    P(&'static str),
}

const PUNCTS: [&str; 16] = [
    "==", "->", "..", "=", "{", "}", "(", ")", "[", "]", ",", "+", "-", "*", "/", "%",
];

fn lex(text: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let mut out = vec![];
    for (ln, line) in text.lines().enumerate() {
        let line_no = ln + 1;
        let err = |m: String| ParseError {
            line: line_no,
            message: m,
        };
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() {
                i += 1;
            } else if c == ';' {
                let note: String = chars[i + 1..].iter().collect();
                out.push((Tok::Note(note.trim().to_string()), line_no));
                break;
            } else if c == '"' || c == '`' {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&d| d == c)
                    .ok_or_else(|| err(format!("unterminated `{c}`")))?;
                let s: String = chars[i + 1..i + 1 + end].iter().collect();
                out.push((if c == '"' { Tok::Str(s) } else { Tok::Host(s) }, line_no));
                i += end + 2;
            } else if c.is_ascii_digit() {
                let start = i;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                let s: String = chars[start..i].iter().collect();
                let v = s
                    .parse::<i64>()
                    .map_err(|_| err(format!("integer `{s}` out of range")))?;
                out.push((Tok::Int(v), line_no));
            } else if c.is_alphabetic() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || "_.".contains(chars[i])) {
                    // `0 .. f0` and `v0..` never glue: a dot followed by a dot ends the name.
                    if chars[i] == '.' && chars.get(i + 1) == Some(&'.') {
                        break;
                    }
                    i += 1;
                }
                out.push((Tok::Ident(chars[start..i].iter().collect()), line_no));
            } else if c == '<' {
                out.push((Tok::P("<"), line_no));
                i += 1;
            } else {
                let rest: String = chars[i..].iter().take(2).collect();
                let p = PUNCTS
                    .iter()
                    .find(|p| rest.starts_with(**p))
                    .ok_or_else(|| err(format!("unexpected character `{c}`")))?;
                out.push((Tok::P(p), line_no));
                i += p.len();
            }
        }
    }
    Ok(out)
}

type R<T> = Result<T, ParseError>;

struct P {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
}

/// Nesting limit for expressions and blocks, so that hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 200;

impl P {
    fn line(&self) -> usize {
        self.toks
            .get(self.pos)
            .or(self.toks.last())
            .map_or(1, |t| t.1)
    }
    fn err<T>(&self, m: impl Into<String>) -> R<T> {
        Err(ParseError {
            line: self.line(),
            message: m.into(),
        })
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn next(&mut self) -> R<Tok> {
        match self.toks.get(self.pos) {
            Some(t) => {
                self.pos += 1;
                Ok(t.0.clone())
            }
            None => self.err("unexpected end of input"),
        }
    }
    fn is_p(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Tok::P(q)) if *q == p)
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(q)) if q == w)
    }
    fn punct(&mut self, p: &str) -> R<()> {
        match self.next()? {
            Tok::P(q) if q == p => Ok(()),
            t => {
                self.pos -= 1;
                self.err(format!("expected `{p}`, found {t:?}"))
            }
        }
    }
    fn ident(&mut self) -> R<String> {
        match self.next()? {
            Tok::Ident(s) => Ok(s),
            t => {
                self.pos -= 1;
                self.err(format!("expected a name, found {t:?}"))
            }
        }
    }
    fn keyword(&mut self, w: &str) -> R<()> {
        let s = self.ident()?;
        if s == w {
            Ok(())
        } else {
            self.pos -= 1;
            self.err(format!("expected `{w}`, found `{s}`"))
        }
    }
    fn int(&mut self) -> R<i64> {
        match self.next()? {
            Tok::Int(v) => Ok(v),
            t => {
                self.pos -= 1;
                self.err(format!("expected an integer, found {t:?}"))
            }
        }
    }
    fn u32(&mut self) -> R<u32> {
        let v = self.int()?;
        u32::try_from(v).or_else(|_| self.err(format!("{v} does not fit 32 bits")))
    }
    fn string(&mut self) -> R<String> {
        match self.next()? {
            Tok::Str(s) => Ok(s),
            t => {
                self.pos -= 1;
                self.err(format!("expected a quoted name, found {t:?}"))
            }
        }
    }
    fn host(&mut self) -> R<HostExpr> {
        match self.next()? {
            Tok::Host(s) => HostExpr::parse(&s).or_else(|e| self.err(format!("in `{s}`: {e}"))),
            t => {
                self.pos -= 1;
                self.err(format!("expected a `host expression`, found {t:?}"))
            }
        }
    }
    /// An entity id `prefixN`.
    fn id<E: EntityRef>(&mut self, prefix: &str) -> R<E> {
        let s = self.ident()?;
        self.id_of(prefix, &s)
    }
    fn id_of<E: EntityRef>(&self, prefix: &str, s: &str) -> R<E> {
        match s.strip_prefix(prefix).and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n < u32::MAX as usize => Ok(E::new(n)),
            _ => self.err(format!("expected a `{prefix}N` id, found `{s}`")),
        }
    }

    fn iexpr(&mut self) -> R<IExpr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("expression nested too deeply");
        }
        let r = self.cmp();
        self.depth -= 1;
        r
    }
    fn cmp(&mut self) -> R<IExpr> {
        let a = self.sum()?;
        for (p, op) in [("==", BinOp::Eq), ("<", BinOp::Lt)] {
            if self.is_p(p) {
                self.pos += 1;
                let b = self.sum()?;
                return Ok(IExpr::bin(op, a, b));
            }
        }
        Ok(a)
    }
    fn sum(&mut self) -> R<IExpr> {
        let mut a = self.product()?;
        loop {
            let op = if self.is_p("+") {
                BinOp::Add
            } else if self.is_p("-") {
                BinOp::Sub
            } else {
                return Ok(a);
            };
            self.pos += 1;
            a = IExpr::bin(op, a, self.product()?);
        }
    }
    fn product(&mut self) -> R<IExpr> {
        let mut a = self.atom()?;
        loop {
            let op = if self.is_p("*") {
                BinOp::Mul
            } else if self.is_p("/") {
                BinOp::Div
            } else if self.is_p("%") {
                BinOp::Rem
            } else {
                return Ok(a);
            };
            self.pos += 1;
            a = IExpr::bin(op, a, self.atom()?);
        }
    }
    fn atom(&mut self) -> R<IExpr> {
        match self.next()? {
            Tok::Int(v) => Ok(IExpr::Int(v)),
            Tok::P("(") => {
                let neg = self.is_p("-");
                let e = if neg {
                    self.pos += 1;
                    IExpr::Int(-self.int()?)
                } else {
                    self.iexpr()?
                };
                self.punct(")")?;
                Ok(e)
            }
            Tok::Ident(s) => match s.as_str() {
                "block_idx" => Ok(IExpr::BlockIdx),
                "block_num" => Ok(IExpr::BlockNum),
                "min" | "max" | "ceil_div" => {
                    let op = match s.as_str() {
                        "min" => BinOp::Min,
                        "max" => BinOp::Max,
                        _ => BinOp::CeilDiv,
                    };
                    self.punct("(")?;
                    let a = self.iexpr()?;
                    self.punct(",")?;
                    let b = self.iexpr()?;
                    self.punct(")")?;
                    Ok(IExpr::bin(op, a, b))
                }
                _ if s.starts_with('f') => Ok(IExpr::Field(self.id_of("f", &s)?)),
                _ => Ok(IExpr::Var(self.id_of("v", &s)?)),
            },
            t => {
                self.pos -= 1;
                self.err(format!("expected an expression, found {t:?}"))
            }
        }
    }
}

/// Parses a program from its text form. Checks syntax and that ids are dense and in order; run
/// [`super::verify_program`] for the semantic rules.
pub fn parse_program(text: &str) -> Result<Program, ParseError> {
    let mut p = P {
        toks: lex(text)?,
        pos: 0,
        depth: 0,
    };
    p.keyword("program")?;
    let mut prog = Program::new(p.ident()?);
    while p.peek().is_some() {
        if p.is_word("dim") {
            p.pos += 1;
            prog.dims.push(Symbol::intern(&p.ident()?));
        } else if p.is_word("workspace") {
            p.pos += 1;
            prog.workspace = p.host()?;
        } else if p.is_word("kernel") {
            p.pos += 1;
            let id: super::KernelId = p.id("k")?;
            if id.index() != prog.kernels.len() {
                return p.err(format!("kernel `{id}` out of order"));
            }
            let k = kernel(&mut p)?;
            prog.kernels.push(k);
        } else {
            let s = p.ident()?;
            p.punct("=")?;
            if s.starts_with('g') {
                let id: GmBuf = p.id_of("g", &s)?;
                if id.index() != prog.gm.len() {
                    return p.err(format!("`{s}` out of order"));
                }
                let d = gm_buf(&mut p)?;
                prog.gm.push(d);
            } else {
                let id: Field = p.id_of("f", &s)?;
                if id.index() != prog.fields.len() {
                    return p.err(format!("`{s}` out of order"));
                }
                p.keyword("field")?;
                let name = p.ident()?;
                let expr = p.host()?;
                prog.fields.push(FieldData { name, expr });
            }
        }
    }
    Ok(prog)
}

fn gm_buf(p: &mut P) -> R<GmBufData> {
    let kind = p.ident()?;
    let name = p.ident()?;
    let dt = p.ident()?;
    let dtype = DType::from_name(&dt).map_or_else(|| p.err(format!("unknown dtype `{dt}`")), Ok)?;
    p.punct("[")?;
    let mut shape = vec![];
    while !p.is_p("]") {
        if !shape.is_empty() {
            p.punct(",")?;
        }
        shape.push(p.host()?);
    }
    p.punct("]")?;
    let kind = match kind.as_str() {
        "input" => GmKind::Input,
        "output" => GmKind::Output,
        "intermediate" => GmKind::Intermediate,
        "workspace" => {
            p.keyword("at")?;
            GmKind::Workspace { offset: p.host()? }
        }
        _ => return p.err(format!("unknown GM buffer kind `{kind}`")),
    };
    Ok(GmBufData {
        name,
        kind,
        dtype,
        shape,
    })
}

fn push_dense<K: EntityRef, V>(p: &P, map: &mut PrimaryMap<K, V>, id: K, v: V) -> R<()> {
    if id.index() != map.len() {
        return p.err(format!(
            "id {} out of order (expected {})",
            id.index(),
            map.len()
        ));
    }
    map.push(v);
    Ok(())
}

fn kernel(p: &mut P) -> R<Kernel> {
    let name = p.ident()?;
    let core = match p.ident()?.as_str() {
        "aiv" => CoreKind::Aiv,
        "aic" => CoreKind::Aic,
        "mix" => CoreKind::Mix,
        c => return p.err(format!("unknown core kind `{c}`")),
    };
    p.keyword("block_dim")?;
    let mut k = Kernel::new(name, core, p.host()?);
    p.keyword("params")?;
    p.punct("(")?;
    while !p.is_p(")") {
        if !k.params.is_empty() {
            p.punct(",")?;
        }
        k.params.push(p.id("g")?);
    }
    p.punct(")")?;
    p.punct("{")?;
    let mut insts: BTreeMap<Inst, (InstData, Option<String>)> = BTreeMap::new();
    // Declarations first.
    while let Some(Tok::Ident(s)) = p.peek().cloned() {
        if s == "for" || s == "aic" || s == "aiv" || s.starts_with('i') {
            break;
        }
        p.pos += 1;
        p.punct("=")?;
        let what = p.ident()?;
        match what.as_str() {
            "buf" => {
                let id: LocalBuf = p.id_of("buf", &s)?;
                let mem = mem(p)?;
                let count = p.ident()?;
                let count = count
                    .strip_prefix('x')
                    .and_then(|c| c.parse().ok())
                    .map_or_else(|| p.err(format!("expected `xN`, found `{count}`")), Ok)?;
                let bytes = p.u32()?;
                let name = p.string()?;
                push_dense(
                    p,
                    &mut k.bufs,
                    id,
                    LocalBufData {
                        name,
                        mem,
                        count,
                        bytes,
                    },
                )?;
            }
            "queue" => {
                let id: Queue = p.id_of("q", &s)?;
                let pos_name = p.ident()?;
                let pos = QuePos::ALL
                    .into_iter()
                    .find(|q| q.name() == pos_name)
                    .map_or_else(|| p.err(format!("unknown position `{pos_name}`")), Ok)?;
                p.keyword("depth")?;
                let depth = p.u32()?;
                let buf = p.id("buf")?;
                push_dense(p, &mut k.queues, id, QueueData { pos, depth, buf })?;
            }
            "tensor" => {
                let id: Tensor = p.id_of("t", &s)?;
                let en = p.ident()?;
                let elem = elem_from_name(&en)
                    .map_or_else(|| p.err(format!("unknown element `{en}`")), Ok)?;
                let elems = p.u32()?;
                let home_name = p.ident()?;
                let home = if home_name.starts_with('q') {
                    Home::Queue(p.id_of("q", &home_name)?)
                } else {
                    let buf = p.id_of("buf", &home_name)?;
                    p.punct("+")?;
                    Home::Buf {
                        buf,
                        offset: p.u32()?,
                    }
                };
                let name = p.string()?;
                push_dense(
                    p,
                    &mut k.tensors,
                    id,
                    TensorData {
                        name,
                        elem,
                        elems,
                        home,
                    },
                )?;
            }
            "var" => {
                let id: Var = p.id_of("v", &s)?;
                let name = p.string()?;
                push_dense(p, &mut k.vars, id, VarData { name })?;
            }
            "event" => {
                let id: Event = p.id_of("ev", &s)?;
                let from = pipe(p)?;
                p.punct("->")?;
                let to = pipe(p)?;
                push_dense(p, &mut k.events, id, EventData { from, to })?;
            }
            _ => return p.err(format!("unknown declaration `{what}`")),
        }
    }
    k.body = block(p, &mut insts)?;
    p.punct("}")?;
    for (n, (i, (d, note))) in insts.into_iter().enumerate() {
        if i.index() != n {
            return p.err(format!("instruction ids are not dense: `i{n}` is missing"));
        }
        k.insts.push(d);
        if let Some(note) = note {
            k.notes[i] = note;
        }
    }
    Ok(k)
}

type Insts = BTreeMap<Inst, (InstData, Option<String>)>;

fn block(p: &mut P, insts: &mut Insts) -> R<Vec<Stmt>> {
    p.depth += 1;
    if p.depth > MAX_DEPTH {
        return p.err("blocks nested too deeply");
    }
    let mut out = vec![];
    while !p.is_p("}") {
        let s = p.ident()?;
        if s == "for" {
            let var = p.id("v")?;
            p.keyword("in")?;
            let start = p.iexpr()?;
            p.punct("..")?;
            let end = p.iexpr()?;
            p.punct("{")?;
            let body = block(p, insts)?;
            p.punct("}")?;
            out.push(Stmt::For {
                var,
                start,
                end,
                body,
            });
        } else if s == "aic" || s == "aiv" {
            let side = if s == "aic" { Side::Aic } else { Side::Aiv };
            p.punct("{")?;
            let body = block(p, insts)?;
            p.punct("}")?;
            out.push(Stmt::Side { side, body });
        } else {
            let id: Inst = p.id_of("i", &s)?;
            p.punct("=")?;
            let d = inst(p)?;
            let note = match p.peek() {
                Some(Tok::Note(n)) => {
                    let n = n.clone();
                    p.pos += 1;
                    Some(n)
                }
                _ => None,
            };
            if insts.insert(id, (d, note)).is_some() {
                return p.err(format!("`{id}` defined twice"));
            }
            out.push(Stmt::Inst(id));
        }
    }
    p.depth -= 1;
    Ok(out)
}

fn mem(p: &mut P) -> R<MemSpace> {
    let s = p.ident()?;
    Ok(match s.as_str() {
        "GM" => MemSpace::Gm,
        "UB" => MemSpace::Ub,
        "L1" => MemSpace::L1,
        "L0A" => MemSpace::L0a,
        "L0B" => MemSpace::L0b,
        "L0C" => MemSpace::L0c,
        _ => return p.err(format!("unknown memory `{s}`")),
    })
}

fn pipe(p: &mut P) -> R<Pipe> {
    let s = p.ident()?;
    Pipe::from_name(&s).map_or_else(|| p.err(format!("unknown pipe `{s}`")), Ok)
}
