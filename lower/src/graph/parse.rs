//! The parser of the graph IR's text form (see [`super::write`] for the format).
//!
//! [`parse_kernel`] reads what the printer writes, so every dump can go back in as a test: printing
//! the parsed kernel gives the same text, and the parsed kernel equals the printed one (ids included).
//! Whitespace is free (line breaks included) and `;` starts a comment that runs to the end of the line.
//!
//! Parsing happens in two steps: the text is read into a small syntax tree (names unresolved, every
//! item with its position), then the kernel is built from it, resolving symbol names and value ids.
//! The parser checks what it needs to build the kernel (names resolve, ids are unique and contiguous,
//! attributes fit the op, declared parameter and output types match the values); everything else,
//! such as whether result types follow from the operands, is the verifier's job. It never panics.

use cranelift_entity::EntityRef;

use super::dim::Dim;
use super::entities::{Op, Value};
use super::ops::{ArgOp, BinaryOp, CmpOp, OpKind, ReduceOp, UnaryOp};
use super::types::{DType, RoutesType, TensorType, Type};
use super::{
    Constraint, ConstraintKind, Hint, Kernel, OpData, Output, Param, SrcLoc, SymKind, ValueData,
};
use crate::sym::Symbol;

/// A syntax or consistency error in the text form, at a 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct ParseError {
    /// Line of the offending text.
    pub line: u32,
    /// Column of the offending text.
    pub col: u32,
    /// What was expected and what was found.
    pub message: String,
}

/// Parses one kernel in the text form.
pub fn parse_kernel(text: &str) -> Result<Kernel, ParseError> {
    let mut parser = Parser {
        cur: Cursor {
            text,
            offset: 0,
            line: 1,
            col: 1,
        },
        depth: 0,
        operators: 0,
    };
    let ast = parser.kernel()?;
    build(ast)
}

/// How deeply dim expressions may nest (bounds the parser's recursion on hostile input).
const MAX_DEPTH: u32 = 64;

/// How many operators one dim expression may have, and how many terms its canonical form may have
/// after each operation (bounds the work of canonicalizing hostile input, such as products of sums).
const MAX_DIM_SIZE: usize = 64;

/// A position in the text.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
struct Pos {
    line: u32,
    col: u32,
}

fn error<T>(pos: Pos, message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        line: pos.line,
        col: pos.col,
        message: message.into(),
    })
}

/// A dim expression with symbol names not yet resolved; operators carry their position.
#[derive(Clone, Debug)]
enum DimAst {
    Int(i64),
    Name(String, Pos),
    Bin(DimOp, Box<DimAst>, Box<DimAst>, Pos),
    Neg(Box<DimAst>, Pos),
}

#[derive(Copy, Clone, Debug)]
enum DimOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Debug)]
enum TyAst {
    Tensor(DType, Vec<DimAst>),
    Routes(Box<[DimAst; 3]>),
}

#[derive(Clone, Debug)]
enum AttrAst {
    U32(u32),
    Bool(bool),
    DType(DType),
    Float(f64),
    Dim(DimAst),
    Dims(Vec<DimAst>),
    Perm(Vec<u32>),
}

/// A value id as written (`v3`), with its position.
type ValueRef = (u32, Pos);

struct OpAst {
    pos: Pos,
    id: Option<(u32, Pos)>,
    results: Vec<ValueRef>,
    name: String,
    name_pos: Pos,
    index: Option<u32>,
    value: Option<f64>,
    args: Vec<ValueRef>,
    attrs: Vec<(String, Pos, AttrAst)>,
    types: Vec<(TyAst, Pos)>,
    loc: SrcLoc,
    hints: Vec<Hint>,
}

struct ConstraintAst {
    kind: ConstraintKindAst,
    loc: SrcLoc,
    reason: String,
}

enum ConstraintKindAst {
    Divides { divisor: DimAst, dim: DimAst },
    LessEq { small: DimAst, large: DimAst },
    Positive { dim: DimAst },
}

struct KernelAst {
    name: String,
    statics: Vec<(String, Pos, Option<i64>)>,
    params: Vec<(String, Pos, TyAst)>,
    outputs: Vec<(String, Pos, TyAst)>,
    dyns: Vec<(String, Pos)>,
    constraints: Vec<ConstraintAst>,
    ops: Vec<OpAst>,
    ret: Vec<(String, Pos, ValueRef)>,
    ret_pos: Pos,
}

#[derive(Clone)]
struct Cursor<'a> {
    text: &'a str,
    offset: usize,
    line: u32,
    col: u32,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text
            .get(self.offset..)
            .and_then(|rest| rest.chars().next())
    }

    fn peek_second(&self) -> Option<char> {
        let mut chars = self.text.get(self.offset..)?.chars();
        chars.next();
        chars.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.offset += c.len_utf8();
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    /// Skips whitespace and `;` comments.
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.bump();
            } else if c == ';' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                break;
            }
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The number in an id such as `v12` or `op3`.
fn id_number(ident: &str, prefix: &str) -> Option<u32> {
    let digits = ident.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

struct Parser<'a> {
    cur: Cursor<'a>,
    /// Nesting depth of the dim expression being parsed.
    depth: u32,
    /// Operators in the dim expression being parsed.
    operators: usize,
}

impl Parser<'_> {
    /// The position of the next token.
    fn pos(&mut self) -> Pos {
        self.cur.skip_ws();
        self.cur.pos()
    }

    fn peek(&mut self) -> Option<char> {
        self.cur.skip_ws();
        self.cur.peek()
    }

    /// A description of the next token for messages: "`x`", "`name`" or "the end of the input".
    fn found(&mut self) -> String {
        self.cur.skip_ws();
        let mut probe = self.cur.clone();
        match probe.peek() {
            None => "the end of the input".to_string(),
            Some(c) if is_ident_char(c) => {
                let mut word = String::new();
                while let Some(c) = probe.peek().filter(|&c| is_ident_char(c)) {
                    word.push(c);
                    probe.bump();
                    if word.len() > 40 {
                        break;
                    }
                }
                format!("`{word}`")
            }
            Some(c) => format!("`{}`", c.escape_debug()),
        }
    }

    fn fail<T>(&mut self, expected: &str) -> Result<T, ParseError> {
        let pos = self.pos();
        let found = self.found();
        error(pos, format!("expected {expected}, found {found}"))
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.cur.bump();
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        self.cur.skip_ws();
        if self
            .cur
            .text
            .get(self.cur.offset..)
            .is_some_and(|rest| rest.starts_with(s))
        {
            for _ in s.chars() {
                self.cur.bump();
            }
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, context: &str) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            self.fail(&format!("`{c}` {context}"))
        }
    }

    /// The next identifier, if there is one, without consuming it.
    fn peek_ident(&mut self) -> Option<String> {
        self.cur.skip_ws();
        let mut probe = self.cur.clone();
        let first = probe.peek().filter(|&c| is_ident_start(c))?;
        let mut word = String::from(first);
        probe.bump();
        while let Some(c) = probe.peek().filter(|&c| is_ident_char(c)) {
            word.push(c);
            probe.bump();
        }
        Some(word)
    }

    /// Whether the next identifier is followed by `c` (e.g. `key =`).
    fn ident_followed_by(&mut self, c: char) -> bool {
        let Some(word) = self.peek_ident() else {
            return false;
        };
        let mut probe = self.cur.clone();
        for _ in word.chars() {
            probe.bump();
        }
        probe.skip_ws();
        probe.peek() == Some(c) && !(c == '=' && probe.peek_second() == Some('='))
    }

    fn ident(&mut self, what: &str) -> Result<(String, Pos), ParseError> {
        let pos = self.pos();
        match self.peek_ident() {
            Some(word) => {
                for _ in word.chars() {
                    self.cur.bump();
                }
                Ok((word, pos))
            }
            None => self.fail(what),
        }
    }

    fn keyword(&mut self, word: &str) -> Result<Pos, ParseError> {
        let pos = self.pos();
        if self.peek_ident().as_deref() == Some(word) {
            for _ in word.chars() {
                self.cur.bump();
            }
            Ok(pos)
        } else {
            self.fail(&format!("`{word}`"))
        }
    }

    /// An unsigned decimal integer.
    fn uint(&mut self, what: &str) -> Result<(u64, Pos), ParseError> {
        let pos = self.pos();
        if !self.cur.peek().is_some_and(|c| c.is_ascii_digit()) {
            return self.fail(what);
        }
        let mut value: u64 = 0;
        let mut overflow = false;
        while let Some(d) = self.cur.peek().and_then(|c| c.to_digit(10)) {
            self.cur.bump();
            match value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d)))
            {
                Some(v) => value = v,
                None => overflow = true,
            }
        }
        if overflow {
            return error(pos, format!("{what} is too large"));
        }
        Ok((value, pos))
    }

    fn u32(&mut self, what: &str) -> Result<u32, ParseError> {
        let (value, pos) = self.uint(what)?;
        u32::try_from(value).or_else(|_| error(pos, format!("{what} {value} is too large")))
    }

    /// A signed decimal integer.
    fn int(&mut self, what: &str) -> Result<i64, ParseError> {
        let pos = self.pos();
        let negative = self.eat('-');
        let (value, _) = self.uint(what)?;
        let value = if negative {
            -i128::from(value)
        } else {
            i128::from(value)
        };
        i64::try_from(value).or_else(|_| error(pos, format!("{what} {value} is out of range")))
    }

    /// A float in Rust's syntax (`1.5`, `-0.0`, `1e-6`, `inf`, `NaN`).
    fn float(&mut self, what: &str) -> Result<f64, ParseError> {
        let pos = self.pos();
        let start = self.cur.offset;
        let mut prev = ' ';
        while let Some(c) = self.cur.peek() {
            let sign_ok =
                (c == '-' || c == '+') && (self.cur.offset == start || prev == 'e' || prev == 'E');
            if is_ident_char(c) || c == '.' || sign_ok {
                prev = c;
                self.cur.bump();
            } else {
                break;
            }
        }
        let word = self.cur.text.get(start..self.cur.offset).unwrap_or("");
        if word.is_empty() {
            return self.fail(what);
        }
        word.parse::<f64>()
            .or_else(|_| error(pos, format!("expected {what}, found `{word}`")))
    }

    /// A double-quoted string with the printer's escapes.
    fn string(&mut self, what: &str) -> Result<String, ParseError> {
        let start = self.pos();
        if !self.eat('"') {
            return self.fail(what);
        }
        let mut out = String::new();
        loop {
            let pos = self.cur.pos();
            match self.cur.bump() {
                None => return error(start, "unterminated string"),
                Some('"') => return Ok(out),
                Some('\\') => match self.cur.bump() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('u') => {
                        if self.cur.bump() != Some('{') {
                            return error(pos, "expected `{` after `\\u` in a string");
                        }
                        let mut code: u32 = 0;
                        let mut digits = 0;
                        loop {
                            match self.cur.bump() {
                                Some('}') if digits > 0 => break,
                                Some(c) if c.is_ascii_hexdigit() && digits < 6 => {
                                    code = code * 16 + c.to_digit(16).unwrap_or(0);
                                    digits += 1;
                                }
                                _ => return error(pos, "malformed `\\u{...}` escape in a string"),
                            }
                        }
                        match char::from_u32(code) {
                            Some(c) => out.push(c),
                            None => {
                                return error(pos, format!("`\\u{{{code:x}}}` is not a character"))
                            }
                        }
                    }
                    _ => return error(pos, "unknown escape in a string"),
                },
                Some(c) => out.push(c),
            }
        }
    }

    /// A value id: `v3`.
    fn value_ref(&mut self) -> Result<ValueRef, ParseError> {
        let pos = self.pos();
        match self.peek_ident().as_deref().and_then(|w| id_number(w, "v")) {
            Some(id) => {
                self.ident("a value")?;
                Ok((id, pos))
            }
            None => self.fail("a value such as `v0`"),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let pos = self.pos();
            return error(pos, "dimension expression is nested too deeply");
        }
        Ok(())
    }

    /// Counts one operator of the current dim expression, at `pos`.
    fn operator(&mut self, pos: Pos) -> Result<(), ParseError> {
        self.operators += 1;
        if self.operators > MAX_DIM_SIZE {
            return error(
                pos,
                format!("dimension expression has more than {MAX_DIM_SIZE} operators"),
            );
        }
        Ok(())
    }

    /// A dim expression: sums and differences of products and quotients.
    fn dim(&mut self) -> Result<DimAst, ParseError> {
        if self.depth == 0 {
            self.operators = 0;
        }
        self.enter()?;
        let mut acc = self.dim_product()?;
        loop {
            let pos = self.pos();
            let op = match self.cur.peek() {
                Some('+') => DimOp::Add,
                Some('-') if self.cur.peek_second() != Some('>') => DimOp::Sub,
                _ => break,
            };
            self.cur.bump();
            self.operator(pos)?;
            acc = DimAst::Bin(op, Box::new(acc), Box::new(self.dim_product()?), pos);
        }
        self.depth -= 1;
        Ok(acc)
    }

    fn dim_product(&mut self) -> Result<DimAst, ParseError> {
        let mut acc = self.dim_unary()?;
        loop {
            let pos = self.pos();
            let op = match self.cur.peek() {
                Some('*') => DimOp::Mul,
                Some('/') => DimOp::Div,
                _ => return Ok(acc),
            };
            self.cur.bump();
            self.operator(pos)?;
            acc = DimAst::Bin(op, Box::new(acc), Box::new(self.dim_unary()?), pos);
        }
    }

    fn dim_unary(&mut self) -> Result<DimAst, ParseError> {
        if self.peek() == Some('-') {
            if self.cur.peek_second().is_some_and(|c| c.is_ascii_digit()) {
                return Ok(DimAst::Int(self.int("an integer")?));
            }
            let pos = self.pos();
            self.cur.bump();
            self.operator(pos)?;
            self.enter()?;
            let inner = self.dim_unary()?;
            self.depth -= 1;
            return Ok(DimAst::Neg(Box::new(inner), pos));
        }
        match self.peek() {
            Some(c) if c.is_ascii_digit() => Ok(DimAst::Int(self.int("an integer")?)),
            Some(c) if is_ident_start(c) => {
                let (name, pos) = self.ident("a dimension symbol")?;
                Ok(DimAst::Name(name, pos))
            }
            Some('(') => {
                self.cur.bump();
                let inner = self.dim()?;
                self.expect(')', "to close the parenthesis")?;
                Ok(inner)
            }
            _ => self.fail("a dimension (a number, a symbol or a parenthesized expression)"),
        }
    }

    /// `[d0, d1, ...]`.
    fn dim_list(&mut self) -> Result<Vec<DimAst>, ParseError> {
        self.expect('[', "to start a list of dims")?;
        let mut dims = Vec::new();
        if self.eat(']') {
            return Ok(dims);
        }
        loop {
            dims.push(self.dim()?);
            if self.eat(']') {
                return Ok(dims);
            }
            self.expect(',', "or `]` in a list of dims")?;
        }
    }

    /// A type: `f32[T, E]` or `routes[T, K, E]`.
    fn ty(&mut self) -> Result<(TyAst, Pos), ParseError> {
        let pos = self.pos();
        let (name, _) = self.ident("a type such as `f32[T, E]` or `routes[T, K, E]`")?;
        if name == "routes" {
            let dims = self.dim_list()?;
            return match <[DimAst; 3]>::try_from(dims) {
                Ok(dims) => Ok((TyAst::Routes(Box::new(dims)), pos)),
                Err(dims) => error(
                    pos,
                    format!(
                        "a routes type has 3 dims (tokens, slots, experts), found {}",
                        dims.len()
                    ),
                ),
            };
        }
        let Some(dtype) = DType::from_name(&name) else {
            return error(
                pos,
                format!("expected a dtype (`bf16`, `f16`, `f32`, `i32`, `bool`) or `routes`, found `{name}`"),
            );
        };
        Ok((TyAst::Tensor(dtype, self.dim_list()?), pos))
    }

    /// `@line:col-line:col`, if present.
    fn opt_loc(&mut self) -> Result<SrcLoc, ParseError> {
        if !self.eat('@') {
            return Ok(SrcLoc::default());
        }
        let line = self.u32("a line number")?;
        self.expect(':', "between line and column")?;
        let col = self.u32("a column number")?;
        self.expect('-', "between the start and the end of the location")?;
        let end_line = self.u32("a line number")?;
        self.expect(':', "between line and column")?;
        let end_col = self.u32("a column number")?;
        Ok(SrcLoc {
            line,
            col,
            end_line,
            end_col,
        })
    }

    /// `name: type` lists of the header, in parentheses.
    fn typed_names(&mut self, what: &str) -> Result<Vec<(String, Pos, TyAst)>, ParseError> {
        self.expect('(', &format!("to start the {what} list"))?;
        let mut out = Vec::new();
        if self.eat(')') {
            return Ok(out);
        }
        loop {
            let (name, pos) = self.ident(&format!("a {what} name"))?;
            self.expect(':', &format!("after the {what} name"))?;
            let (ty, _) = self.ty()?;
            out.push((name, pos, ty));
            if self.eat(')') {
                return Ok(out);
            }
            self.expect(',', &format!("or `)` in the {what} list"))?;
        }
    }

    fn kernel(&mut self) -> Result<KernelAst, ParseError> {
        self.keyword("kernel")?;
        let (name, _) = self.ident("the kernel name")?;
        let mut statics = Vec::new();
        if self.eat('<') && !self.eat('>') {
            loop {
                let (sym, pos) = self.ident("a static symbol")?;
                let value = if self.eat('=') {
                    Some(self.int("a bound value")?)
                } else {
                    None
                };
                statics.push((sym, pos, value));
                if self.eat('>') {
                    break;
                }
                self.expect(',', "or `>` in the static symbol list")?;
            }
        }
        let params = self.typed_names("parameter")?;
        if !self.eat_str("->") {
            return self.fail("`->` before the outputs");
        }
        let outputs = self.typed_names("output")?;
        self.expect('{', "to start the kernel body")?;
        let mut ast = KernelAst {
            name,
            statics,
            params,
            outputs,
            dyns: Vec::new(),
            constraints: Vec::new(),
            ops: Vec::new(),
            ret: Vec::new(),
            ret_pos: Pos { line: 0, col: 0 },
        };
        let mut hints: Vec<(Hint, Pos)> = Vec::new();
        loop {
            let pos = self.pos();
            if self.eat_str("#[") {
                hints.push((self.hint()?, pos));
                continue;
            }
            let word = self.peek_ident();
            match word.as_deref() {
                Some("dyn") | Some("require") | Some("return") if !hints.is_empty() => {
                    return error(hints[0].1, "a hint must be followed by an op");
                }
                Some("dyn") => {
                    self.keyword("dyn")?;
                    ast.dyns.push(self.ident("a dynamic symbol name")?);
                }
                Some("require") => {
                    self.keyword("require")?;
                    ast.constraints.push(self.constraint()?);
                }
                Some("return") => {
                    ast.ret_pos = self.keyword("return")?;
                    if self.peek() != Some('}') {
                        loop {
                            let (name, name_pos) = self.ident("an output name")?;
                            self.expect('=', "after the output name")?;
                            let value = self.value_ref()?;
                            ast.ret.push((name, name_pos, value));
                            if !self.eat(',') {
                                break;
                            }
                        }
                    }
                    self.expect('}', "to end the kernel after `return`")?;
                    if self.peek().is_some() {
                        return self.fail("the end of the input after the kernel");
                    }
                    return Ok(ast);
                }
                Some(w) if id_number(w, "v").is_some() || id_number(w, "op").is_some() => {
                    let hints = std::mem::take(&mut hints)
                        .into_iter()
                        .map(|(h, _)| h)
                        .collect();
                    ast.ops.push(self.op(hints)?);
                }
                _ => {
                    return self.fail("an op (`v0 = ...`), a hint, `dyn`, `require` or `return`");
                }
            }
        }
    }

    /// The rest of a hint after `#[`: `name(key = value, ...)]` or `name]`.
    fn hint(&mut self) -> Result<Hint, ParseError> {
        let (name, _) = self.ident("a hint name")?;
        let mut args = Vec::new();
        if self.eat('(') && !self.eat(')') {
            loop {
                let (key, _) = self.ident("a hint argument name")?;
                self.expect('=', "after the hint argument name")?;
                args.push((key, self.int("an integer hint value")?));
                if self.eat(')') {
                    break;
                }
                self.expect(',', "or `)` in the hint arguments")?;
            }
        }
        self.expect(']', "to close the hint")?;
        Ok(Hint { name, args })
    }

    /// The rest of a constraint after `require`.
    fn constraint(&mut self) -> Result<ConstraintAst, ParseError> {
        let first = self.dim()?;
        let kind = if self.eat_str("<=") {
            ConstraintKindAst::LessEq {
                small: first,
                large: self.dim()?,
            }
        } else if self.eat_str(">=") {
            let pos = self.pos();
            if self.int("`1`")? != 1 {
                return error(pos, "only `>= 1` constraints exist");
            }
            ConstraintKindAst::Positive { dim: first }
        } else if self.peek_ident().as_deref() == Some("divides") {
            self.keyword("divides")?;
            ConstraintKindAst::Divides {
                divisor: first,
                dim: self.dim()?,
            }
        } else {
            return self.fail("`divides`, `<=` or `>=` in a constraint");
        };
        let loc = self.opt_loc()?;
        let reason = self.string("the reason of the constraint (a string)")?;
        Ok(ConstraintAst { kind, loc, reason })
    }

    /// An op line: `[opN:] v0, v1 = name items : types [@loc]`.
    fn op(&mut self, hints: Vec<Hint>) -> Result<OpAst, ParseError> {
        let pos = self.pos();
        let mut id = None;
        if let Some(n) = self
            .peek_ident()
            .as_deref()
            .and_then(|w| id_number(w, "op"))
        {
            let (_, id_pos) = self.ident("an op id")?;
            self.expect(':', "after the op id")?;
            id = Some((n, id_pos));
        }
        let mut results = vec![self.value_ref()?];
        while self.eat(',') {
            results.push(self.value_ref()?);
        }
        self.expect('=', "after the results of an op")?;
        let (name, name_pos) = self.ident("an op name")?;
        let mut op = OpAst {
            pos,
            id,
            results,
            name,
            name_pos,
            index: None,
            value: None,
            args: Vec::new(),
            attrs: Vec::new(),
            types: Vec::new(),
            loc: SrcLoc::default(),
            hints,
        };
        let mut has_item = false;
        if op.name == "param" {
            op.index = Some(self.u32("the parameter index")?);
            has_item = true;
        } else if op.name == "const" {
            op.value = Some(self.float("the constant's value")?);
            has_item = true;
        }
        while self.peek() != Some(':') {
            if has_item {
                self.expect(',', "or `:` after an operand or attribute")?;
            }
            has_item = true;
            if self.ident_followed_by('=') {
                let (key, key_pos) = self.ident("an attribute name")?;
                self.expect('=', "after the attribute name")?;
                if op.attrs.iter().any(|(k, _, _)| *k == key) {
                    return error(key_pos, format!("attribute `{key}` is given twice"));
                }
                let value = self.attr_value(&key, key_pos)?;
                op.attrs.push((key, key_pos, value));
            } else if !op.attrs.is_empty() {
                return self.fail("an attribute (`key=value`): operands come before attributes");
            } else {
                op.args.push(self.value_ref()?);
            }
        }
        self.expect(':', "before the result types")?;
        loop {
            op.types.push(self.ty()?);
            if !self.eat(',') {
                break;
            }
        }
        op.loc = self.opt_loc()?;
        Ok(op)
    }

    fn attr_value(&mut self, key: &str, key_pos: Pos) -> Result<AttrAst, ParseError> {
        Ok(match key {
            "axis" => AttrAst::U32(self.u32("an axis")?),
            "keep_dim" => {
                let (word, pos) = self.ident("`true` or `false`")?;
                match word.as_str() {
                    "true" => AttrAst::Bool(true),
                    "false" => AttrAst::Bool(false),
                    _ => return error(pos, format!("expected `true` or `false`, found `{word}`")),
                }
            }
            "to" | "dtype" => {
                let (word, pos) = self.ident("a dtype")?;
                match DType::from_name(&word) {
                    Some(d) => AttrAst::DType(d),
                    None => return error(pos, format!("expected a dtype, found `{word}`")),
                }
            }
            "eps" => AttrAst::Float(self.float("a float")?),
            "shape" => AttrAst::Dims(self.dim_list()?),
            "perm" => {
                self.expect('[', "to start the permutation")?;
                let mut perm = Vec::new();
                if !self.eat(']') {
                    loop {
                        perm.push(self.u32("an axis")?);
                        if self.eat(']') {
                            break;
                        }
                        self.expect(',', "or `]` in the permutation")?;
                    }
                }
                AttrAst::Perm(perm)
            }
            "start" | "end" | "k" | "groups" | "size" | "experts" => AttrAst::Dim(self.dim()?),
            _ => return error(key_pos, format!("unknown attribute `{key}`")),
        })
    }
}

/// Builds the kernel from its syntax tree.
fn build(ast: KernelAst) -> Result<Kernel, ParseError> {
    let mut k = Kernel::new(ast.name);
    let mut declared: Vec<&str> = Vec::new();
    for (name, pos, value) in &ast.statics {
        if declared.contains(&name.as_str()) {
            return error(*pos, format!("symbol `{name}` is declared twice"));
        }
        declared.push(name);
        match value {
            Some(v) => k.bound.push((Symbol::intern(name), *v)),
            None => {
                k.add_sym(name.clone(), SymKind::Static);
            }
        }
    }
    for (name, pos) in &ast.dyns {
        if declared.contains(&name.as_str()) {
            return error(*pos, format!("symbol `{name}` is declared twice"));
        }
        declared.push(name);
        k.add_sym(name.clone(), SymKind::Dynamic);
    }

    // Ops and values get the ids they are written with; both must be contiguous.
    let n_ops = ast.ops.len();
    let mut op_slot: Vec<Option<usize>> = vec![None; n_ops];
    let mut order = Vec::with_capacity(n_ops);
    for (position, op) in ast.ops.iter().enumerate() {
        let (id, pos) = op.id.unwrap_or((position as u32, op.pos));
        let slot = op_slot.get_mut(id as usize).ok_or_else(|| ParseError {
            line: pos.line,
            col: pos.col,
            message: format!(
                "op id `op{id}` is out of range: the kernel has {n_ops} ops, op0 to op{}",
                n_ops.saturating_sub(1)
            ),
        })?;
        if slot.is_some() {
            return error(pos, format!("op id `op{id}` is used twice"));
        }
        *slot = Some(position);
        order.push(Op::new(id as usize));
    }
    let n_values: usize = ast.ops.iter().map(|op| op.results.len()).sum();
    let mut value_def: Vec<Option<(usize, u32)>> = vec![None; n_values];
    for (position, op) in ast.ops.iter().enumerate() {
        for (index, &(id, pos)) in op.results.iter().enumerate() {
            let slot = value_def.get_mut(id as usize).ok_or_else(|| ParseError {
                line: pos.line,
                col: pos.col,
                message: format!(
                    "value id `v{id}` is out of range: the kernel defines {n_values} values, v0 to v{}",
                    n_values.saturating_sub(1)
                ),
            })?;
            if slot.is_some() {
                return error(pos, format!("value `v{id}` is defined twice"));
            }
            *slot = Some((position, index as u32));
        }
    }
    let use_value = |(id, pos): ValueRef| -> Result<Value, ParseError> {
        if (id as usize) < n_values {
            Ok(Value::new(id as usize))
        } else {
            error(pos, format!("use of undefined value `v{id}`"))
        }
    };

    // Resolve every op in text order, then store ops and values by id.
    let mut op_data: Vec<Option<(OpData, Vec<Type>)>> = vec![None; n_ops];
    for (position, op) in ast.ops.iter().enumerate() {
        if op.types.len() != op.results.len() {
            return error(
                op.pos,
                format!(
                    "`{}` has {} result{} but {} result type{}",
                    op.name,
                    op.results.len(),
                    if op.results.len() == 1 { "" } else { "s" },
                    op.types.len(),
                    if op.types.len() == 1 { "" } else { "s" }
                ),
            );
        }
        let kind = build_kind(&k, op)?;
        let args = op
            .args
            .iter()
            .map(|&a| use_value(a))
            .collect::<Result<Vec<_>, _>>()?;
        let results = op
            .results
            .iter()
            .map(|&(id, _)| Value::new(id as usize))
            .collect();
        let types = op
            .types
            .iter()
            .map(|(t, _)| resolve_ty(&k, t))
            .collect::<Result<_, _>>()?;
        let id = order[position];
        op_data[id.index()] = Some((
            OpData {
                kind,
                args,
                results,
            },
            types,
        ));
    }
    let mut types_by_value: Vec<Option<Type>> = vec![None; n_values];
    for (data, types) in op_data.iter().flatten() {
        for (value, ty) in data.results.iter().zip(types) {
            types_by_value[value.index()] = Some(ty.clone());
        }
    }
    for (data, _) in op_data.into_iter().flatten() {
        k.ops.push(data);
    }
    for (def, ty) in value_def.iter().zip(types_by_value) {
        if let (Some((position, index)), Some(ty)) = (def, ty) {
            k.values.push(ValueData {
                ty,
                def: order[*position],
                index: *index,
            });
        }
    }
    for (position, op) in ast.ops.iter().enumerate() {
        let id = order[position];
        k.locs[id] = op.loc;
        if !op.hints.is_empty() {
            k.hints[id] = op.hints.clone();
        }
    }
    k.order = order;

    // Parameters are the results of the `param` ops; their declared types must match.
    for (i, (name, pos, ty)) in ast.params.iter().enumerate() {
        let mut found = k.order.iter().filter(
            |&&op| matches!(k.ops[op].kind, OpKind::Param { index } if index as usize == i),
        );
        let (Some(&op), None) = (found.next(), found.next()) else {
            return error(
                *pos,
                format!("parameter `{name}` needs exactly one `param {i}` op"),
            );
        };
        let Some(&value) = k.ops[op].results.first() else {
            return error(
                *pos,
                format!("the `param {i}` op of parameter `{name}` has no result"),
            );
        };
        check_declared(&k, name, "parameter", *pos, ty, value)?;
        k.params.push(Param {
            name: name.clone(),
            value,
        });
    }
    if ast.ret.len() != ast.outputs.len() {
        return error(
            ast.ret_pos,
            format!(
                "`return` gives {} outputs but the header declares {}",
                ast.ret.len(),
                ast.outputs.len()
            ),
        );
    }
    for ((name, pos, value), (declared_name, _, ty)) in ast.ret.iter().zip(&ast.outputs) {
        if name != declared_name {
            return error(
                *pos,
                format!(
                    "`return` gives output `{name}` where the header declares `{declared_name}`"
                ),
            );
        }
        let value = use_value(*value)?;
        check_declared(&k, name, "output", *pos, ty, value)?;
        k.outputs.push(Output {
            name: name.clone(),
            value,
        });
    }
    for c in &ast.constraints {
        let kind = match &c.kind {
            ConstraintKindAst::Divides { divisor, dim } => ConstraintKind::Divides {
                dim: resolve_dim(&k, dim)?,
                divisor: resolve_dim(&k, divisor)?,
            },
            ConstraintKindAst::LessEq { small, large } => ConstraintKind::LessEq {
                small: resolve_dim(&k, small)?,
                large: resolve_dim(&k, large)?,
            },
            ConstraintKindAst::Positive { dim } => ConstraintKind::Positive {
                dim: resolve_dim(&k, dim)?,
            },
        };
        k.constraints.push(Constraint {
            kind,
            loc: c.loc,
            reason: c.reason.clone(),
        });
    }
    Ok(k)
}

/// Checks that a header's declared type of `name` matches the type of `value`.
fn check_declared(
    k: &Kernel,
    name: &str,
    what: &str,
    pos: Pos,
    ty: &TyAst,
    value: Value,
) -> Result<(), ParseError> {
    let declared = resolve_ty(k, ty)?;
    let actual = &k.values[value].ty;
    if declared != *actual {
        return error(
            pos,
            format!(
                "{what} `{name}` is declared as `{}` but `{value}` has type `{}`",
                declared.display(&k.syms),
                actual.display(&k.syms)
            ),
        );
    }
    Ok(())
}

fn resolve_dim(k: &Kernel, d: &DimAst) -> Result<Dim, ParseError> {
    Ok(match d {
        DimAst::Int(v) => Dim::lit(*v),
        DimAst::Name(name, pos) => {
            match k.sym_by_name(name) {
                Some(sym) => Dim::sym(sym),
                None => {
                    if let Some((_, value)) = k.bound.iter().find(|(n, _)| n == name) {
                        return error(
                        *pos,
                        format!("`{name}` is bound to {value}: a specialized kernel writes the literal"),
                    );
                    }
                    return error(
                    *pos,
                    format!("unknown dimension symbol `{name}`: declare it in the kernel's `<...>` list or with `dyn {name}`"),
                );
                }
            }
        }
        DimAst::Neg(a, pos) => limit(Dim::mul(&Dim::lit(-1), &resolve_dim(k, a)?), *pos)?,
        DimAst::Bin(op, a, b, pos) => {
            let (a, b) = (resolve_dim(k, a)?, resolve_dim(k, b)?);
            let d = match op {
                DimOp::Add => Dim::add(&a, &b),
                DimOp::Sub => Dim::sub(&a, &b),
                DimOp::Mul => Dim::mul(&a, &b),
                // Dividing by -1 negates; `Dim::div` would overflow on `i64::MIN`.
                DimOp::Div if b.as_int() == Some(-1) => Dim::mul(&a, &b),
                // An inexact or zero literal quotient stays opaque, as `Dim::substitute` leaves it.
                DimOp::Div => {
                    Dim::div(&a, &b).unwrap_or_else(|| Dim::Div(Box::new(a), Box::new(b)))
                }
            };
            limit(d, *pos)?
        }
    })
}

/// Refuses a dim whose canonical form has too many terms (hostile products of sums).
fn limit(d: Dim, pos: Pos) -> Result<Dim, ParseError> {
    if d.terms().len() > MAX_DIM_SIZE {
        return error(
            pos,
            format!("dimension expression has more than {MAX_DIM_SIZE} terms when expanded"),
        );
    }
    Ok(d)
}

fn resolve_ty(k: &Kernel, ty: &TyAst) -> Result<Type, ParseError> {
    Ok(match ty {
        TyAst::Tensor(dtype, dims) => Type::Tensor(TensorType::new(
            *dtype,
            dims.iter()
                .map(|d| resolve_dim(k, d))
                .collect::<Result<_, _>>()?,
        )),
        TyAst::Routes(dims) => {
            let [tokens, slots, experts] = &**dims;
            Type::Routes(RoutesType {
                tokens: resolve_dim(k, tokens)?,
                k: resolve_dim(k, slots)?,
                experts: resolve_dim(k, experts)?,
            })
        }
    })
}

/// Builds the op kind from the op's name and attributes, checking that each attribute it needs is
/// given and that no other is.
fn build_kind(k: &Kernel, op: &OpAst) -> Result<OpKind, ParseError> {
    let mut attrs: Vec<Option<(&str, Pos, &AttrAst)>> = op
        .attrs
        .iter()
        .map(|(key, pos, v)| Some((key.as_str(), *pos, v)))
        .collect();
    let name = op.name.as_str();
    let mut take = |key: &str| -> Option<(Pos, &AttrAst)> {
        attrs
            .iter_mut()
            .find(|a| a.is_some_and(|(k, _, _)| k == key))
            .and_then(|a| a.take())
            .map(|(_, p, v)| (p, v))
    };
    let missing =
        |key: &str| error::<OpKind>(op.name_pos, format!("`{name}` needs the attribute `{key}`"));
    let wrong = |pos: Pos, key: &str, what: &str| {
        error::<OpKind>(pos, format!("attribute `{key}` of `{name}` must be {what}"))
    };
    macro_rules! attr {
        ($key:literal, $pat:pat => $out:expr, $what:literal) => {
            match take($key) {
                Some((_, $pat)) => $out,
                Some((pos, _)) => return wrong(pos, $key, $what),
                None => return missing($key),
            }
        };
    }
    let dim = |d: &DimAst| resolve_dim(k, d);
    let kind = match name {
        "param" => match op.index {
            Some(index) => OpKind::Param { index },
            None => return error(op.name_pos, "`param` needs its index"),
        },
        "const" => {
            let dtype = attr!("dtype", AttrAst::DType(d) => *d, "a dtype");
            match op.value {
                Some(value) => OpKind::Const { value, dtype },
                None => return error(op.name_pos, "`const` needs its value"),
            }
        }
        "cast" => OpKind::Cast {
            to: attr!("to", AttrAst::DType(d) => *d, "a dtype"),
        },
        "select" => OpKind::Select,
        "softmax" => OpKind::Softmax {
            axis: attr!("axis", AttrAst::U32(a) => *a, "an axis"),
        },
        "log_softmax" => OpKind::LogSoftmax {
            axis: attr!("axis", AttrAst::U32(a) => *a, "an axis"),
        },
        "rms_norm" => OpKind::RmsNorm {
            eps: attr!("eps", AttrAst::Float(e) => *e, "a float"),
        },
        "reshape" => {
            let dims = attr!("shape", AttrAst::Dims(d) => d, "a list of dims");
            OpKind::Reshape {
                shape: dims.iter().map(dim).collect::<Result<_, _>>()?,
            }
        }
        "slice" => {
            let axis = attr!("axis", AttrAst::U32(a) => *a, "an axis");
            let start = attr!("start", AttrAst::Dim(d) => dim(d)?, "a dim");
            let end = attr!("end", AttrAst::Dim(d) => dim(d)?, "a dim");
            OpKind::Slice { axis, start, end }
        }
        "concat" => OpKind::Concat {
            axis: attr!("axis", AttrAst::U32(a) => *a, "an axis"),
        },
        "transpose" => OpKind::Transpose {
            perm: attr!("perm", AttrAst::Perm(p) => p.clone(), "a permutation"),
        },
        "topk" => OpKind::TopK {
            k: attr!("k", AttrAst::Dim(d) => dim(d)?, "a dim"),
        },
        "group_topk" => {
            let groups = attr!("groups", AttrAst::Dim(d) => dim(d)?, "a dim");
            let k = attr!("k", AttrAst::Dim(d) => dim(d)?, "a dim");
            OpKind::GroupTopK { groups, k }
        }
        "gather" => OpKind::Gather,
        "scatter_add" => OpKind::ScatterAdd {
            size: attr!("size", AttrAst::Dim(d) => dim(d)?, "a dim"),
        },
        "matmul" => OpKind::MatMul,
        "route" => OpKind::Route {
            experts: attr!("experts", AttrAst::Dim(d) => dim(d)?, "a dim"),
        },
        "dispatch" => OpKind::Dispatch,
        "grouped_matmul" => OpKind::GroupedMatmul,
        "swiglu" => OpKind::Swiglu,
        "combine" => OpKind::Combine,
        _ => {
            if let Some(u) = UnaryOp::from_name(name) {
                OpKind::Unary(u)
            } else if let Some(b) = BinaryOp::from_name(name) {
                OpKind::Binary(b)
            } else if let Some(c) = CmpOp::from_name(name) {
                OpKind::Compare(c)
            } else if let Some(r) = ReduceOp::from_name(name) {
                let axis = attr!("axis", AttrAst::U32(a) => *a, "an axis");
                let keep_dim = match take("keep_dim") {
                    Some((_, AttrAst::Bool(b))) => *b,
                    Some((pos, _)) => return wrong(pos, "keep_dim", "`true` or `false`"),
                    None => false,
                };
                OpKind::Reduce {
                    op: r,
                    axis,
                    keep_dim,
                }
            } else if let Some(a) = ArgOp::from_name(name) {
                let axis = attr!("axis", AttrAst::U32(a) => *a, "an axis");
                let keep_dim = match take("keep_dim") {
                    Some((_, AttrAst::Bool(b))) => *b,
                    Some((pos, _)) => return wrong(pos, "keep_dim", "`true` or `false`"),
                    None => false,
                };
                OpKind::ArgReduce {
                    op: a,
                    axis,
                    keep_dim,
                }
            } else {
                return error(op.name_pos, format!("unknown op `{name}`"));
            }
        }
    };
    if let Some((key, pos, _)) = attrs.iter().flatten().next() {
        return error(*pos, format!("`{name}` has no attribute `{key}`"));
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::write::kernel_to_string;
    use crate::graph::write::samples::{every_op, gate};

    /// Prints, parses and prints again: the texts and the kernels must be equal.
    fn round_trip(k: &Kernel) {
        let text = kernel_to_string(k);
        let parsed = match parse_kernel(&text) {
            Ok(parsed) => parsed,
            Err(e) => panic!("{e}\nin\n{text}"),
        };
        assert_eq!(kernel_to_string(&parsed), text);
        assert_eq!(&parsed, k, "kernels differ after parsing\n{text}");
    }

    fn parse_err(text: &str) -> ParseError {
        match parse_kernel(text) {
            Ok(k) => panic!("expected an error, parsed\n{k}"),
            Err(e) => e,
        }
    }

    /// A tiny deterministic PRNG (xorshift64*).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn samples_round_trip() {
        round_trip(&gate());
        round_trip(&every_op());
        round_trip(&Kernel::new("empty"));
    }

    #[test]
    fn reordered_ops_keep_their_ids() {
        let mut k = every_op();
        k.order.swap(0, 1);
        let n = k.order.len();
        k.order.swap(n - 2, n - 3);
        round_trip(&k);
    }

    #[test]
    fn odd_fields_round_trip() {
        let mut k = gate();
        k.bound.push((Symbol::intern("B"), -4));
        k.constraints[0].reason =
            "quote \" backslash \\ newline \n tab \t bell \u{7} ünï ; not a comment".to_string();
        k.constraints[1].loc = SrcLoc::default();
        k.locs[k.order[2]] = SrcLoc {
            line: 0,
            col: 3,
            end_line: 0,
            end_col: 0,
        };
        let op = k.order[3];
        k.hints[op] = vec![
            Hint {
                name: "tile".to_string(),
                args: vec![("m".to_string(), 128), ("n".to_string(), -1)],
            },
            Hint {
                name: "inline".to_string(),
                args: Vec::new(),
            },
        ];
        let e = Dim::sym(crate::graph::Sym::from_u32(0));
        let g = Dim::sym(crate::graph::Sym::from_u32(1));
        let t = Dim::sym(crate::graph::Sym::from_u32(2));
        let tricky = [
            Dim::sub(&Dim::lit(5), &e),
            Dim::mul(&Dim::lit(-3), &Dim::mul(&e, &g)),
            Dim::add(
                &Dim::mul(
                    &e,
                    &Dim::div(&Dim::add(&t, &Dim::lit(1)), &g).unwrap_or(Dim::lit(0)),
                ),
                &Dim::lit(-2),
            ),
            Dim::Div(Box::new(Dim::lit(7)), Box::new(Dim::lit(2))),
            Dim::Div(Box::new(e.clone()), Box::new(Dim::lit(0))),
            Dim::div(&Dim::mul(&e, &e), &Dim::add(&g, &Dim::lit(3))).unwrap_or(Dim::lit(0)),
            Dim::lit(i64::MIN),
            Dim::lit(i64::MAX),
        ];
        for d in &tricky {
            k.constraints.push(Constraint {
                kind: ConstraintKind::Positive { dim: d.clone() },
                loc: SrcLoc {
                    line: 1,
                    col: 2,
                    end_line: 3,
                    end_col: 4,
                },
                reason: String::new(),
            });
            k.constraints.push(Constraint {
                kind: ConstraintKind::LessEq {
                    small: d.clone(),
                    large: t.clone(),
                },
                loc: SrcLoc::default(),
                reason: "r".to_string(),
            });
        }
        round_trip(&k);
    }

    #[test]
    fn random_dims_round_trip() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut k = Kernel::new("dims");
        let syms: Vec<Dim> = ["A", "B", "C"]
            .iter()
            .map(|n| Dim::sym(k.add_sym(*n, crate::graph::SymKind::Static)))
            .collect();
        fn random_dim(rng: &mut Rng, syms: &[Dim], depth: u32) -> Dim {
            let choice = if depth == 0 {
                rng.below(2)
            } else {
                rng.below(6)
            };
            match choice {
                0 => Dim::lit(rng.below(9) as i64 - 2),
                1 => syms[rng.below(syms.len())].clone(),
                2 => Dim::add(
                    &random_dim(rng, syms, depth - 1),
                    &random_dim(rng, syms, depth - 1),
                ),
                3 => Dim::sub(
                    &random_dim(rng, syms, depth - 1),
                    &random_dim(rng, syms, depth - 1),
                ),
                4 => Dim::mul(
                    &random_dim(rng, syms, depth - 1),
                    &random_dim(rng, syms, depth - 1),
                ),
                _ => {
                    let (a, b) = (
                        random_dim(rng, syms, depth - 1),
                        random_dim(rng, syms, depth - 1),
                    );
                    Dim::div(&a, &b).unwrap_or(Dim::Div(Box::new(a), Box::new(b)))
                }
            }
        }
        for _ in 0..300 {
            let small = random_dim(&mut rng, &syms, 3);
            let large = random_dim(&mut rng, &syms, 3);
            k.constraints.push(Constraint {
                kind: ConstraintKind::LessEq { small, large },
                loc: SrcLoc::default(),
                reason: String::new(),
            });
        }
        round_trip(&k);
    }

    #[test]
    fn specialized_round_trips() {
        let k = gate()
            .specialize(&[("E", 64), ("G", 8)])
            .expect("valid bindings");
        let text = kernel_to_string(&k);
        assert!(
            text.starts_with("kernel moge_gate<E = 64, G = 8>(logits: f32[T, 64]"),
            "{text}"
        );
        round_trip(&k);
        let k = every_op()
            .specialize(&[("E", 64), ("G", 8), ("H", 32), ("I", 16)])
            .expect("valid");
        round_trip(&k);
    }

    #[test]
    fn comments_and_whitespace_are_free() {
        let text = "; leading comment\nkernel   k<N>( a : f32[ N ] )->(b:f32[N]){ ; header comment\n\
                    v0 = param 0 : f32[N] ; op comment\n  v1 = exp v0 : f32[N]\n return b = v1 }\n; trailing";
        let k = parse_kernel(text).expect("valid");
        assert_eq!(
            kernel_to_string(&k),
            "kernel k<N>(a: f32[N]) -> (b: f32[N]) {\n  v0 = param 0 : f32[N]\n  v1 = exp v0 : f32[N]\n  return b = v1\n}\n"
        );
    }

    #[test]
    fn error_positions_and_messages() {
        let cases: &[(&str, u32, u32, &str)] = &[
            ("", 1, 1, "expected `kernel`, found the end of the input"),
            ("kernal k() -> () {}", 1, 1, "expected `kernel`, found `kernal`"),
            ("kernel k() -> () {\n  return\n}", 0, 0, ""),
            ("kernel k() -> () {\n  return\n} extra", 3, 3, "expected the end of the input after the kernel, found `extra`"),
            ("kernel k(a: f33[N]) -> () {}", 1, 13, "expected a dtype (`bf16`, `f16`, `f32`, `i32`, `bool`) or `routes`, found `f33`"),
            ("kernel k(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  return\n}", 2, 22, "unknown dimension symbol `N`: declare it in the kernel's `<...>` list or with `dyn N`"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  v1 = frob v0 : f32[N]\n  return\n}", 3, 8, "unknown op `frob`"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  v1 = exp v5 : f32[N]\n  return\n}", 3, 12, "use of undefined value `v5`"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  v0 = exp v0 : f32[N]\n  return\n}", 3, 3, "value `v0` is defined twice"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  v3 = exp v0 : f32[N]\n  return\n}", 3, 3, "value id `v3` is out of range: the kernel defines 2 values, v0 to v1"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  v1 = softmax v0 : f32[N]\n  return\n}", 3, 8, "`softmax` needs the attribute `axis`"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  v1 = exp v0, axis=0 : f32[N]\n  return\n}", 3, 16, "`exp` has no attribute `axis`"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  v1 = softmax v0, axis=0, axis=0 : f32[N]\n  return\n}", 3, 28, "attribute `axis` is given twice"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  v1 = softmax v0, bogus=0 : f32[N]\n  return\n}", 3, 20, "unknown attribute `bogus`"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N]\n  v1, v2 = exp v0 : f32[N]\n  return\n}", 3, 3, "`exp` has 2 results but 1 result type"),
            ("kernel k<N>(a: f32[N]) -> () {\n  v0 = param 0 : f32[N, N]\n  return\n}", 1, 13, "parameter `a` is declared as `f32[N]` but `v0` has type `f32[N, N]`"),
            ("kernel k<N>(a: f32[N]) -> () {\n  return\n}", 1, 13, "parameter `a` needs exactly one `param 0` op"),
            ("kernel k<N>(a: f32[N]) -> (b: f32[N]) {\n  v0 = param 0 : f32[N]\n  return c = v0\n}", 3, 10, "`return` gives output `c` where the header declares `b`"),
            ("kernel k<N>(a: f32[N]) -> (b: f32[N]) {\n  v0 = param 0 : f32[N]\n  return\n}", 3, 3, "`return` gives 0 outputs but the header declares 1"),
            ("kernel k<N, N>() -> () {\n  return\n}", 1, 13, "symbol `N` is declared twice"),
            ("kernel k<N = 4>(a: f32[N]) -> () {\n  v0 = param 0 : f32[4]\n  return\n}", 1, 24, "`N` is bound to 4: a specialized kernel writes the literal"),
            ("kernel k() -> () {\n  require 3 >= 2 \"x\"\n  return\n}", 2, 16, "only `>= 1` constraints exist"),
            ("kernel k() -> () {\n  require 3 <= 4 \"x\n  return\n}", 2, 18, "unterminated string"),
            ("kernel k() -> () {\n  require 3 <= 4 \"\\q\"\n  return\n}", 2, 19, "unknown escape in a string"),
            ("kernel k() -> () {\n  require 3 == 4 \"x\"\n  return\n}", 2, 13, "expected `divides`, `<=` or `>=` in a constraint, found `=`"),
            ("kernel k() -> () {\n  #[tile(m = 1)]\n  return\n}", 2, 3, "a hint must be followed by an op"),
            ("kernel k() -> () {\n  v0 = const 1.5x, dtype=f32 : f32[]\n  return\n}", 2, 14, "expected the constant's value, found `1.5x`"),
            ("kernel k() -> () {\n  op3: v0 = const 1.5, dtype=f32 : f32[]\n  return\n}", 2, 3, "op id `op3` is out of range: the kernel has 1 ops, op0 to op0"),
            ("kernel k() -> () {\n  v0 = const 1, dtype=f32 : f32[99999999999999999999]\n  return\n}", 2, 33, "an integer is too large"),
            ("kernel k() -> () {\n  v0 = const 1, dtype=f32 : routes[1, 2]\n  return\n}", 2, 29, "a routes type has 3 dims (tokens, slots, experts), found 2"),
        ];
        for &(text, line, col, message) in cases {
            match parse_kernel(text) {
                Ok(_) if message.is_empty() => {}
                Ok(k) => panic!("expected {message:?} for\n{text}\nparsed\n{k}"),
                Err(e) => {
                    assert_eq!(
                        (e.line, e.col, e.message.as_str()),
                        (line, col, message),
                        "for\n{text}"
                    );
                }
            }
        }
        assert_eq!(
            parse_err("kernel").to_string(),
            "1:7: expected the kernel name, found the end of the input"
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!(
            "kernel k() -> () {{\n  require {}1{} <= 2 \"x\"\n  return\n}}",
            "(".repeat(500),
            ")".repeat(500)
        );
        assert!(parse_err(&text).message.contains("nested too deeply"));
        let text = format!(
            "kernel k() -> () {{\n  require {}1 <= 2 \"x\"\n  return\n}}",
            "-".repeat(500)
        );
        assert!(parse_err(&text).message.contains("nested too deeply"));
    }

    #[test]
    fn oversized_dims_are_refused() {
        let sum = vec!["1"; 70].join(" + ");
        let text = format!("kernel k() -> () {{\n  require {sum} <= 2 \"x\"\n  return\n}}");
        let e = parse_err(&text);
        // The first `+` is at column 13, the 65th 4*64 columns later.
        assert_eq!((e.line, e.col), (2, 13 + 4 * 64));
        assert_eq!(e.message, "dimension expression has more than 64 operators");
        // (A + B + C + D)^n has (n+3 choose 3) terms: 35 for n = 4, 56 for n = 5, 84 for n = 6.
        let product = ["(A + B + C + D)"; 6].join("*");
        let text = format!(
            "kernel k<A, B, C, D>() -> () {{\n  require {product} <= 2 \"x\"\n  return\n}}"
        );
        let e = parse_err(&text);
        assert_eq!(
            e.message,
            "dimension expression has more than 64 terms when expanded"
        );
        // The last `*`: 10 columns of indentation and `require `, then 5 factors of 16 columns.
        assert_eq!((e.line, e.col), (2, 11 + 5 * 16 - 1));
        let five = ["(A + B + C + D)"; 5].join("*");
        let text =
            format!("kernel k<A, B, C, D>() -> () {{\n  require {five} <= 2 \"x\"\n  return\n}}");
        assert_eq!(parse_kernel(&text).map(|k| k.constraints.len()), Ok(1));
    }

    #[test]
    fn every_prefix_fails_cleanly() {
        let text = kernel_to_string(&every_op());
        let complete = text.trim_end().len();
        for (i, _) in text.char_indices() {
            let result = parse_kernel(&text[..i]);
            if i < complete {
                assert!(result.is_err(), "prefix of {i} bytes parsed");
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let base = kernel_to_string(&every_op());
        let pieces = [
            "kernel",
            "k",
            "<",
            ">",
            "(",
            ")",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            "=",
            "->",
            "v0",
            "op1",
            "@",
            "1:2-3:4",
            "-",
            "*",
            "/",
            "+",
            "\"",
            "\\",
            "f32",
            "routes",
            "param",
            "const",
            "dyn",
            "require",
            "return",
            "#[",
            "divides",
            "<=",
            ">=",
            " ",
            "\n",
            ";",
            "9999999999999999999999",
            "é",
            "axis=",
            "1e-6",
            "NaN",
            "E",
            "T",
        ];
        for _ in 0..2000 {
            let mut text: String = base.clone();
            let edits = 1 + rng.below(4);
            for _ in 0..edits {
                let mut at = rng.below(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                match rng.below(3) {
                    0 => text.insert_str(at, pieces[rng.below(pieces.len())]),
                    1 => {
                        let mut end = (at + 1 + rng.below(8)).min(text.len());
                        while !text.is_char_boundary(end) {
                            end += 1;
                        }
                        text.replace_range(at..end, "");
                    }
                    _ => {
                        let mut end = (at + 1 + rng.below(3)).min(text.len());
                        while !text.is_char_boundary(end) {
                            end += 1;
                        }
                        text.replace_range(at..end, pieces[rng.below(pieces.len())]);
                    }
                }
            }
            let _ = parse_kernel(&text);
        }
        for _ in 0..2000 {
            let n = rng.below(60);
            let text: String = (0..n)
                .map(|_| pieces[rng.below(pieces.len())])
                .collect::<Vec<_>>()
                .join(" ");
            let _ = parse_kernel(&text);
            let bytes: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
            let _ = parse_kernel(&String::from_utf8_lossy(&bytes));
        }
    }
}
