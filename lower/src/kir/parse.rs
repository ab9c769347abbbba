//! The parser of the kernel IR's text form (see [`super::write`]): every dump reads back into the same
//! [`Function`], so dumps from logs and errors can go straight into tests.
//!
//! The format is line based. Entity ids are written with their prefixes (`t3`, `buf1`) and must be
//! dense (`t0` to `tN` each defined once); instructions may appear in any order in their stages. Never
//! panics: every malformed line is an error naming the line.

use std::collections::BTreeMap;

use cranelift_entity::{EntityRef, PrimaryMap, SecondaryMap};

use crate::graph::{DType, SrcLoc};

use super::{
    Access, Arg, ArgData, ArgRole, BlockSplit, Buffer, BufferData, BufferKind, CmpMode, CoreKind,
    Elem, Event, EventData, Expr, Field, FieldData, Function, Home, Inst, InstData, MemSpace, Pipe,
    Queue, QueueData, QueuePos, Round, Rows, Scalar, SegReduceOp, SegView, SelectFalse, StageData,
    StageKind, Tile, TileData, VecBinary, VecScalar, VecUnary,
};

/// A syntax error in the text form of the kernel IR.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct KirParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was expected and what was found.
    pub message: String,
}

type R<T> = Result<T, String>;

/// Parses a function from its text form.
pub fn parse_function(text: &str) -> Result<Function, KirParseError> {
    let mut p = Parser::default();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((n, header)) = lines.next() else {
        return Err(KirParseError {
            line: 1,
            message: "expected `kernel NAME CORE {`, found the end".into(),
        });
    };
    p.header(header).map_err(|message| KirParseError {
        line: n + 1,
        message,
    })?;
    let mut ended = false;
    for (n, line) in lines {
        if ended {
            return Err(KirParseError {
                line: n + 1,
                message: "text after the closing `}`".into(),
            });
        }
        if line.trim() == "}" {
            ended = true;
            continue;
        }
        p.line(line).map_err(|message| KirParseError {
            line: n + 1,
            message,
        })?;
    }
    if !ended {
        return Err(KirParseError {
            line: text.lines().count().max(1),
            message: "missing the closing `}`".into(),
        });
    }
    p.finish().map_err(|message| KirParseError {
        line: text.lines().count().max(1),
        message,
    })
}

#[derive(Default)]
struct Parser {
    name: String,
    core: Option<CoreKind>,
    args: BTreeMap<usize, ArgData>,
    fields: BTreeMap<usize, FieldData>,
    buffers: BTreeMap<usize, BufferData>,
    queues: BTreeMap<usize, QueueData>,
    tiles: BTreeMap<usize, TileData>,
    events: BTreeMap<usize, EventData>,
    insts: BTreeMap<usize, (InstData, String, SrcLoc)>,
    stages: Vec<(StageKind, Vec<usize>)>,
    split: Option<(u32, [usize; 3])>,
    rows: Option<Expr>,
    block_dim: Option<Expr>,
}

/// Parses `prefixN` into N.
fn id(token: &str, prefix: &str) -> R<usize> {
    token
        .strip_prefix(prefix)
        .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|rest| rest.parse::<u32>().ok())
        .map(|n| n as usize)
        .ok_or_else(|| format!("expected a `{prefix}` id, found `{token}`"))
}

fn num<T: std::str::FromStr>(token: &str, what: &str) -> R<T> {
    token
        .parse::<T>()
        .map_err(|_| format!("expected {what}, found `{token}`"))
}

/// Parses `KEY` followed by a number (`bytes=256`, `x2`).
fn keyed_num<T: std::str::FromStr>(token: &str, key: &str) -> R<T> {
    token
        .strip_prefix(key)
        .and_then(|t| t.parse::<T>().ok())
        .ok_or_else(|| format!("expected `{key}N`, found `{token}`"))
}

fn expr(text: &str) -> R<Expr> {
    Expr::parse(text.trim()).map_err(|e| format!("bad expression `{}`: {e}", text.trim()))
}

/// Splits at commas outside parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !text[start..].trim().is_empty() {
        out.push(text[start..].trim());
    }
    out
}

fn quoted(text: &str) -> R<String> {
    text.trim()
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map(str::to_string)
        .ok_or_else(|| format!("expected a quoted name, found `{}`", text.trim()))
}

fn scalar(token: &str) -> R<Scalar> {
    if let Some(i) = token.strip_suffix('i') {
        return num::<i32>(i, "an integer scalar").map(Scalar::I32);
    }
    if let Some(hex) = token.strip_prefix("nan:0x") {
        return u32::from_str_radix(hex, 16)
            .map(Scalar::F32)
            .map_err(|_| format!("bad NaN `{token}`"));
    }
    num::<f32>(token, "a scalar").map(Scalar::f32)
}

fn elem(token: &str) -> R<Elem> {
    Ok(match token {
        "f32" => Elem::F32,
        "f16" => Elem::F16,
        "bf16" => Elem::BF16,
        "i32" => Elem::I32,
        "mask" => Elem::Mask,
        _ => return Err(format!("expected an element type, found `{token}`")),
    })
}

fn pipe(token: &str) -> R<Pipe> {
    Ok(match token {
        "s" => Pipe::S,
        "v" => Pipe::V,
        "mte2" => Pipe::Mte2,
        "mte3" => Pipe::Mte3,
        _ => return Err(format!("expected a pipe, found `{token}`")),
    })
}

fn seg(token: &str) -> R<SegView> {
    let inner = token
        .strip_prefix("seg(")
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("expected `seg(SxL/S)`, found `{token}`"))?;
    let (segs, rest) = inner
        .split_once('x')
        .ok_or_else(|| format!("bad segments `{token}`"))?;
    let (len, stride) = rest
        .split_once('/')
        .ok_or_else(|| format!("bad segments `{token}`"))?;
    Ok(SegView {
        segs: num(segs, "a count")?,
        len: num(len, "a length")?,
        stride: num(stride, "a stride")?,
    })
}

fn loc(text: &str) -> R<SrcLoc> {
    let bad = || format!("expected `@line:col-line:col`, found `{text}`");
    let t = text.strip_prefix('@').ok_or_else(bad)?;
    let (a, b) = t.split_once('-').ok_or_else(bad)?;
    let (l0, c0) = a.split_once(':').ok_or_else(bad)?;
    let (l1, c1) = b.split_once(':').ok_or_else(bad)?;
    let n = |s: &str| s.parse::<u32>().map_err(|_| bad());
    Ok(SrcLoc {
        line: n(l0)?,
        col: n(c0)?,
        end_line: n(l1)?,
        end_col: n(c1)?,
    })
}

fn binary(name: &str) -> Option<VecBinary> {
    Some(match name {
        "add" => VecBinary::Add,
        "sub" => VecBinary::Sub,
        "mul" => VecBinary::Mul,
        "div" => VecBinary::Div,
        "max" => VecBinary::Max,
        "min" => VecBinary::Min,
        _ => return None,
    })
}

fn define<T>(map: &mut BTreeMap<usize, T>, key: usize, value: T, what: &str) -> R<()> {
    if map.insert(key, value).is_some() {
        return Err(format!("{what} {key} is defined twice"));
    }
    Ok(())
}

/// Turns a map of ids to data into a dense `PrimaryMap`.
fn dense<K: EntityRef, T>(map: BTreeMap<usize, T>, what: &str) -> R<PrimaryMap<K, T>> {
    let mut out = PrimaryMap::new();
    for (i, (k, v)) in map.into_iter().enumerate() {
        if k != i {
            return Err(format!("{what} ids must be dense: {what} {i} is missing"));
        }
        out.push(v);
    }
    Ok(out)
}

impl Parser {
    fn header(&mut self, line: &str) -> R<()> {
        let t: Vec<&str> = line.split_whitespace().collect();
        let ["kernel", name, core, "{"] = t[..] else {
            return Err(format!(
                "expected `kernel NAME CORE {{`, found `{}`",
                line.trim()
            ));
        };
        self.name = name.to_string();
        self.core = Some(match core {
            "aiv" => CoreKind::Aiv,
            "aic" => CoreKind::Aic,
            "mix" => CoreKind::Mix,
            _ => return Err(format!("expected `aiv`, `aic` or `mix`, found `{core}`")),
        });
        Ok(())
    }

    fn line(&mut self, line: &str) -> R<()> {
        let trimmed = line.trim();
        if let Some(stage) = trimmed.strip_suffix(':') {
            let kind = match stage {
                "init" => StageKind::Init,
                "copy_in" => StageKind::CopyIn,
                "compute" => StageKind::Compute,
                "copy_out" => StageKind::CopyOut,
                _ => return Err(format!("unknown stage `{stage}`")),
            };
            self.stages.push((kind, Vec::new()));
            return Ok(());
        }
        if !self.stages.is_empty() {
            return self.inst(trimmed);
        }
        if let Some(rest) = trimmed.strip_prefix("split ") {
            let t: Vec<&str> = rest.split_whitespace().collect();
            let [tile_rows, fields] = t[..] else {
                return Err(format!("bad split `{trimmed}`"));
            };
            let tile_rows = keyed_num(tile_rows, "tile_rows=")?;
            let f: Vec<&str> = fields
                .strip_prefix("fields=")
                .unwrap_or("")
                .split(',')
                .collect();
            let [a, b, c] = f[..] else {
                return Err(format!("expected `fields=fA,fB,fC`, found `{fields}`"));
            };
            self.split = Some((tile_rows, [id(a, "f")?, id(b, "f")?, id(c, "f")?]));
            return Ok(());
        }
        let (lhs, rhs) = trimmed
            .split_once(" = ")
            .ok_or_else(|| format!("expected a definition, found `{trimmed}`"))?;
        match lhs {
            "rows" => self.rows = Some(expr(rhs)?),
            "block_dim" => self.block_dim = Some(expr(rhs)?),
            _ if lhs.starts_with("arg") => self.arg(id(lhs, "arg")?, rhs)?,
            _ if lhs.starts_with("buf") => self.buffer(id(lhs, "buf")?, rhs)?,
            _ if lhs.starts_with("ev") => {
                let (from, to) = rhs
                    .split_once(" -> ")
                    .ok_or_else(|| format!("bad event `{rhs}`"))?;
                define(
                    &mut self.events,
                    id(lhs, "ev")?,
                    EventData {
                        from: pipe(from)?,
                        to: pipe(to)?,
                    },
                    "event",
                )?;
            }
            _ if lhs.starts_with('q') => {
                let t: Vec<&str> = rhs.split_whitespace().collect();
                let [pos, depth, buffer] = t[..] else {
                    return Err(format!("bad queue `{rhs}`"));
                };
                let pos = match pos {
                    "vecin" => QueuePos::VecIn,
                    "vecout" => QueuePos::VecOut,
                    _ => return Err(format!("expected `vecin` or `vecout`, found `{pos}`")),
                };
                let depth = keyed_num(depth, "depth=")?;
                let buffer = Buffer::new(id(buffer, "buf")?);
                define(
                    &mut self.queues,
                    id(lhs, "q")?,
                    QueueData { pos, depth, buffer },
                    "queue",
                )?;
            }
            _ if lhs.starts_with('t') => self.tile(id(lhs, "t")?, rhs)?,
            _ if lhs.starts_with('f') && !lhs.contains(' ') => {
                return Err(format!("bad field `{trimmed}`"))
            }
            _ if lhs.starts_with('f') => {
                let (field, name) = lhs
                    .split_once(' ')
                    .ok_or_else(|| format!("bad field `{lhs}`"))?;
                let data = FieldData {
                    name: name.to_string(),
                    expr: expr(rhs)?,
                };
                define(&mut self.fields, id(field, "f")?, data, "field")?;
            }
            _ => return Err(format!("unknown definition `{lhs}`")),
        }
        Ok(())
    }

    fn arg(&mut self, n: usize, rhs: &str) -> R<()> {
        let (role, rest) = rhs
            .split_once(' ')
            .ok_or_else(|| format!("bad argument `{rhs}`"))?;
        let role = match role {
            "input" => ArgRole::Input,
            "output" => ArgRole::Output,
            _ => return Err(format!("expected `input` or `output`, found `{role}`")),
        };
        let (name, ty) = rest
            .split_once(": ")
            .ok_or_else(|| format!("bad argument `{rest}`"))?;
        let (dtype, rest) = ty
            .split_once('[')
            .ok_or_else(|| format!("bad type `{ty}`"))?;
        let dtype = DType::from_name(dtype).ok_or_else(|| format!("unknown dtype `{dtype}`"))?;
        let (shape, access) = rest
            .rsplit_once("] ")
            .ok_or_else(|| format!("bad type `{ty}`"))?;
        let shape = split_top(shape)
            .into_iter()
            .map(expr)
            .collect::<R<Vec<_>>>()?;
        let access = if let Some(c) = access
            .strip_prefix("rows(")
            .and_then(|a| a.strip_suffix(')'))
        {
            Access::Rows {
                cols: num(c, "a column count")?,
            }
        } else if let Some(e) = access
            .strip_prefix("whole(")
            .and_then(|a| a.strip_suffix(')'))
        {
            Access::Whole {
                elems: num(e, "an element count")?,
            }
        } else {
            return Err(format!(
                "expected `rows(N)` or `whole(N)`, found `{access}`"
            ));
        };
        define(
            &mut self.args,
            n,
            ArgData {
                name: name.to_string(),
                role,
                dtype,
                shape,
                access,
            },
            "argument",
        )
    }

    fn buffer(&mut self, n: usize, rhs: &str) -> R<()> {
        let (spec, name) = rhs
            .split_once(" \"")
            .ok_or_else(|| format!("bad buffer `{rhs}`"))?;
        let name = quoted(&format!("\"{name}"))?;
        let t: Vec<&str> = spec.split_whitespace().collect();
        let [space, kind, count, bytes] = t[..] else {
            return Err(format!("bad buffer `{rhs}`"));
        };
        let space = match space {
            "gm" => MemSpace::Gm,
            "ub" => MemSpace::Ub,
            "l1" => MemSpace::L1,
            "l0a" => MemSpace::L0a,
            "l0b" => MemSpace::L0b,
            "l0c" => MemSpace::L0c,
            _ => return Err(format!("unknown memory space `{space}`")),
        };
        let kind = match kind {
            "scratch" => BufferKind::Scratch,
            "resident" => BufferKind::Resident,
            _ => match kind
                .strip_prefix("queue(")
                .and_then(|k| k.strip_suffix(')'))
            {
                Some(q) => BufferKind::Queue(Queue::new(id(q, "q")?)),
                None => return Err(format!("unknown buffer kind `{kind}`")),
            },
        };
        let count = keyed_num(count, "x")?;
        let bytes = keyed_num(bytes, "bytes=")?;
        define(
            &mut self.buffers,
            n,
            BufferData {
                name,
                space,
                kind,
                count,
                bytes,
            },
            "buffer",
        )
    }

    fn tile(&mut self, n: usize, rhs: &str) -> R<()> {
        let (spec, name) = rhs
            .split_once(" \"")
            .ok_or_else(|| format!("bad tile `{rhs}`"))?;
        let name = quoted(&format!("\"{name}"))?;
        let (elem_text, rest) = spec
            .split_once('[')
            .ok_or_else(|| format!("bad tile `{spec}`"))?;
        let (shape, home) = rest
            .split_once("] ")
            .ok_or_else(|| format!("bad tile `{spec}`"))?;
        let (rows, layout) = shape
            .split_once(", ")
            .ok_or_else(|| format!("bad tile shape `{shape}`"))?;
        let rows = match rows {
            "tile" => Rows::Tile { mult: 1 },
            _ => match rows.strip_prefix("tile*") {
                Some(m) => Rows::Tile {
                    mult: num(m, "a row multiple")?,
                },
                None => Rows::Fixed(num(rows, "a row count")?),
            },
        };
        let (cols, stride) = layout
            .split_once('/')
            .ok_or_else(|| format!("bad layout `{layout}`"))?;
        let home = if home.starts_with("buf") {
            Home::Buffer(Buffer::new(id(home, "buf")?))
        } else {
            Home::Queue(Queue::new(id(home, "q")?))
        };
        let data = TileData {
            name,
            elem: elem(elem_text)?,
            rows,
            cols: num(cols, "a column count")?,
            stride: num(stride, "a stride")?,
            home,
        };
        define(&mut self.tiles, n, data, "tile")
    }

    fn inst(&mut self, line: &str) -> R<()> {
        let (code, comment) = match line.split_once("  ; ") {
            Some((c, m)) => (c, m),
            None => (line, ""),
        };
        let (note, loc_) = match comment.rsplit_once(' ') {
            Some((n, l)) if l.starts_with('@') => (n.to_string(), loc(l)?),
            _ if comment.starts_with('@') => (String::new(), loc(comment)?),
            _ => (comment.to_string(), SrcLoc::default()),
        };
        let (lhs, rhs) = code
            .split_once(" = ")
            .ok_or_else(|| format!("expected `iN = ...`, found `{code}`"))?;
        let n = id(lhs, "i")?;
        let text = rhs.replace(", ", " ");
        let t: Vec<&str> = text.split_whitespace().collect();
        let (op, a) = t
            .split_first()
            .ok_or_else(|| format!("empty instruction `{code}`"))?;
        let tile = |i: usize| -> R<Tile> {
            a.get(i)
                .ok_or_else(|| format!("`{op}` needs more operands"))
                .and_then(|s| id(s, "t"))
                .map(Tile::new)
        };
        let arg = |i: usize| -> R<Arg> {
            a.get(i)
                .ok_or_else(|| format!("`{op}` needs more operands"))
                .and_then(|s| id(s, "arg"))
                .map(Arg::new)
        };
        let at = |i: usize| -> R<&str> {
            a.get(i)
                .copied()
                .ok_or_else(|| format!("`{op}` needs more operands"))
        };
        let keyed = |i: usize, key: &str| -> R<Tile> {
            let s = at(i)?;
            s.strip_prefix(key)
                .ok_or_else(|| format!("expected `{key}tN`, found `{s}`"))
                .and_then(|s| id(s, "t"))
                .map(Tile::new)
        };
        let count = |want: usize| -> R<()> {
            if a.len() == want {
                Ok(())
            } else {
                Err(format!("`{op}` takes {want} operands, found {}", a.len()))
            }
        };
        let unary = |name: &str| match name {
            "exp" => Some(VecUnary::Exp),
            "ln" => Some(VecUnary::Ln),
            "sqrt" => Some(VecUnary::Sqrt),
            "rsqrt" => Some(VecUnary::Rsqrt),
            "reciprocal" => Some(VecUnary::Reciprocal),
            "abs" => Some(VecUnary::Abs),
            "relu" => Some(VecUnary::Relu),
            _ => None,
        };
        let data = match *op {
            "copy_in" => {
                count(2)?;
                InstData::CopyIn {
                    dst: tile(0)?,
                    arg: arg(1)?,
                }
            }
            "copy_out" => {
                count(2)?;
                InstData::CopyOut {
                    arg: arg(0)?,
                    src: tile(1)?,
                }
            }
            "load" => {
                count(2)?;
                InstData::Load {
                    dst: tile(0)?,
                    arg: arg(1)?,
                }
            }
            "set_flag" => {
                count(1)?;
                InstData::SetFlag(Event::new(id(at(0)?, "ev")?))
            }
            "wait_flag" => {
                count(1)?;
                InstData::WaitFlag(Event::new(id(at(0)?, "ev")?))
            }
            "adds" | "muls" | "maxs" | "mins" => {
                count(3)?;
                let op = match *op {
                    "adds" => VecScalar::Adds,
                    "muls" => VecScalar::Muls,
                    "maxs" => VecScalar::Maxs,
                    _ => VecScalar::Mins,
                };
                InstData::Scalar {
                    op,
                    dst: tile(0)?,
                    src: tile(1)?,
                    scalar: scalar(at(2)?)?,
                }
            }
            "duplicate" => {
                count(2)?;
                InstData::Duplicate {
                    dst: tile(0)?,
                    scalar: scalar(at(1)?)?,
                }
            }
            "not" => {
                count(2)?;
                InstData::Not {
                    dst: tile(0)?,
                    src: tile(1)?,
                }
            }
            "select" => {
                count(4)?;
                let last = at(3)?;
                let on_false = if last.starts_with('t') && id(last, "t").is_ok() {
                    SelectFalse::Tile(Tile::new(id(last, "t")?))
                } else {
                    SelectFalse::Scalar(scalar(last)?)
                };
                InstData::Select {
                    dst: tile(0)?,
                    mask: tile(1)?,
                    on_true: tile(2)?,
                    on_false,
                }
            }
            "seg_expand" => {
                count(4)?;
                InstData::SegExpand {
                    dst: tile(0)?,
                    src: tile(1)?,
                    seg: seg(at(2)?)?,
                    blocks: keyed(3, "blocks=")?,
                }
            }
            "vec_expand" => {
                count(3)?;
                InstData::VecExpand {
                    dst: tile(0)?,
                    src: tile(1)?,
                    seg: seg(at(2)?)?,
                }
            }
            "iota" => {
                count(2)?;
                InstData::Iota {
                    dst: tile(0)?,
                    count: num(at(1)?, "a count")?,
                }
            }
            "gather" => {
                count(4)?;
                InstData::Gather {
                    dst: tile(0)?,
                    table: tile(1)?,
                    index: tile(2)?,
                    offsets: keyed(3, "offsets=")?,
                }
            }
            _ => {
                if let Some(u) = unary(op) {
                    count(2)?;
                    InstData::Unary {
                        op: u,
                        dst: tile(0)?,
                        src: tile(1)?,
                    }
                } else if let Some(b) = binary(op) {
                    count(3)?;
                    InstData::Binary {
                        op: b,
                        dst: tile(0)?,
                        lhs: tile(1)?,
                        rhs: tile(2)?,
                    }
                } else if let Some(r) = op.strip_prefix("cast.") {
                    count(2)?;
                    let round = match r {
                        "none" => Round::None,
                        "rint" => Round::Rint,
                        "trunc" => Round::Trunc,
                        _ => return Err(format!("unknown rounding `{r}`")),
                    };
                    InstData::Cast {
                        dst: tile(0)?,
                        src: tile(1)?,
                        round,
                    }
                } else if let Some(m) = op.strip_prefix("compare.") {
                    count(3)?;
                    let mode = match m {
                        "lt" => CmpMode::Lt,
                        "gt" => CmpMode::Gt,
                        "eq" => CmpMode::Eq,
                        "le" => CmpMode::Le,
                        "ge" => CmpMode::Ge,
                        "ne" => CmpMode::Ne,
                        _ => return Err(format!("unknown comparison `{m}`")),
                    };
                    InstData::Compare {
                        dst: tile(0)?,
                        lhs: tile(1)?,
                        rhs: tile(2)?,
                        mode,
                    }
                } else if let Some(r) = op.strip_prefix("seg_reduce.") {
                    let rop = match r {
                        "sum" => SegReduceOp::Sum,
                        "max" => SegReduceOp::Max,
                        "min" => SegReduceOp::Min,
                        _ => return Err(format!("unknown reduction `{r}`")),
                    };
                    let fold = match a.len() {
                        3 => None,
                        4 => Some(keyed(3, "fold=")?),
                        n => return Err(format!("`{op}` takes 3 or 4 operands, found {n}")),
                    };
                    InstData::SegReduce {
                        op: rop,
                        dst: tile(0)?,
                        src: tile(1)?,
                        seg: seg(at(2)?)?,
                        fold,
                    }
                } else if let Some(b) = op.strip_prefix("seg_").and_then(binary) {
                    count(5)?;
                    InstData::SegBinary {
                        op: b,
                        dst: tile(0)?,
                        lhs: tile(1)?,
                        src: tile(2)?,
                        seg: seg(at(3)?)?,
                        blocks: keyed(4, "blocks=")?,
                    }
                } else if let Some(b) = op.strip_prefix("vec_").and_then(binary) {
                    count(4)?;
                    InstData::VecBinary {
                        op: b,
                        dst: tile(0)?,
                        lhs: tile(1)?,
                        src: tile(2)?,
                        seg: seg(at(3)?)?,
                    }
                } else {
                    return Err(format!("unknown instruction `{op}`"));
                }
            }
        };
        define(&mut self.insts, n, (data, note, loc_), "instruction")?;
        if let Some((_, insts)) = self.stages.last_mut() {
            insts.push(n);
        }
        Ok(())
    }

    fn finish(self) -> R<Function> {
        let (tile_rows, [rows_field, per_core_field, rem_field]) =
            self.split.ok_or("missing the `split` line")?;
        let mut insts: PrimaryMap<Inst, InstData> = PrimaryMap::new();
        let mut locs = SecondaryMap::new();
        let mut notes = SecondaryMap::new();
        for (i, (k, (data, note, loc))) in self.insts.into_iter().enumerate() {
            if k != i {
                return Err(format!(
                    "instruction ids must be dense: instruction {i} is missing"
                ));
            }
            let inst = insts.push(data);
            locs[inst] = loc;
            notes[inst] = note;
        }
        Ok(Function {
            name: self.name,
            core: self.core.ok_or("missing the kernel header")?,
            args: dense(self.args, "argument")?,
            fields: dense(self.fields, "field")?,
            split: BlockSplit {
                rows: self.rows.ok_or("missing the `rows = ...` line")?,
                block_dim: self.block_dim.ok_or("missing the `block_dim = ...` line")?,
                rows_field: Field::new(rows_field),
                per_core_field: Field::new(per_core_field),
                rem_field: Field::new(rem_field),
                tile_rows,
            },
            buffers: dense(self.buffers, "buffer")?,
            queues: dense(self.queues, "queue")?,
            tiles: dense(self.tiles, "tile")?,
            events: dense(self.events, "event")?,
            insts,
            stages: self
                .stages
                .into_iter()
                .map(|(kind, insts)| StageData {
                    kind,
                    insts: insts.into_iter().map(Inst::new).collect(),
                })
                .collect(),
            locs,
            notes,
        })
    }
}
