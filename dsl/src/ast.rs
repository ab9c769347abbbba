//! The typed AST of a kernel function: what [`crate::parse`] makes of the syn tree once everything
//! that is Rust but not DSL has been rejected. Every node keeps the [`SpanRange`] of its tokens.

use moge_lower::DType;

use crate::diagnostic::SpanRange;

/// A name with its span.
#[derive(Clone, Debug)]
pub struct Name {
    /// The identifier's text.
    pub text: String,
    /// Its span.
    pub span: SpanRange,
}

/// A `#[moge::kernel]` function.
#[derive(Clone, Debug)]
pub struct KernelFn {
    /// The function's name.
    pub name: Name,
    /// The const generic parameters (`const E: usize`), in order: the static dims.
    pub statics: Vec<Name>,
    /// The parameters, in order.
    pub params: Vec<ParamDecl>,
    /// The declared results: one type, or the elements of a returned tuple (`None` when the return
    /// type was rejected).
    pub results: Option<Vec<TypeExpr>>,
    /// The statements of the body before the returned expression.
    pub stmts: Vec<Stmt>,
    /// The returned expression (the tail expression or a final `return`), if there is one.
    pub ret: Option<Expr>,
    /// The span of the body's closing brace (where a missing return is reported).
    pub body_end: SpanRange,
}

/// A kernel parameter `name: Tensor<DTYPE, SHAPE>`.
#[derive(Clone, Debug)]
pub struct ParamDecl {
    /// The parameter's name.
    pub name: Name,
    /// Its type (`None` when it was rejected).
    pub ty: Option<TypeExpr>,
}

/// A tensor type `Tensor<DTYPE, SHAPE>`.
#[derive(Clone, Debug)]
pub struct TypeExpr {
    /// The element type (`None` when it was rejected; the shape still declares its dims).
    pub dtype: Option<DType>,
    /// The dims, each an expression (names, integer literals, `+ - * /`).
    pub dims: Vec<Expr>,
    /// The span of the whole type.
    pub span: SpanRange,
}

/// A statement: `let PATTERN = EXPR;`, with schedule hints from its attributes.
#[derive(Clone, Debug)]
pub struct Stmt {
    /// The bound names: one, or several for `let (a, b) = ...`.
    pub names: Vec<Name>,
    /// Whether the pattern is a tuple (even of one name).
    pub tuple: bool,
    /// The right-hand side.
    pub value: Expr,
    /// Schedule hints, from attributes such as `#[tile(m = 128)]`.
    pub hints: Vec<HintAttr>,
}

/// A schedule-hint attribute `#[name(key = value, ...)]`, already checked against the hint table.
#[derive(Clone, Debug)]
pub struct HintAttr {
    /// The hint's name.
    pub name: String,
    /// Its arguments, in source order.
    pub args: Vec<(String, i64)>,
    /// The span of the attribute.
    pub span: SpanRange,
}

/// An expression.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// The span of its tokens (parentheses included).
    pub span: SpanRange,
}

/// Binary operators of the DSL.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
        }
    }

    /// Whether this is a comparison.
    pub fn is_comparison(self) -> bool {
        !matches!(self, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div)
    }
}

/// The kinds of expressions.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// A name: a tensor binding, a parameter or a dim symbol, depending on where it is used.
    Ident(String),
    /// An integer literal (never negative; `-1` is a negation of `1`).
    Int(i64),
    /// A float literal.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `-x`.
    Neg(Box<Expr>),
    /// `a <op> b`.
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// A call of a built-in op by name, with the dtype of a turbofish (`cast::<f32>(x)`).
    Call {
        /// The op's name.
        func: Name,
        /// The dtype in `::<...>`, with its span.
        turbofish: Option<(DType, SpanRange)>,
        /// The arguments.
        args: Vec<Expr>,
    },
    /// A tuple `(a, b)` or an array `[a, b]` (for returns, `concat`, `reshape` and `transpose`).
    Tuple(Vec<Expr>),
    /// An expression or statement that was rejected while parsing (already reported), with the
    /// names it mentions (so they count as used); suppresses follow-on errors.
    Error(Vec<String>),
}

impl Expr {
    /// The value of an integer literal, negated or not (`-1`, `2`).
    pub fn as_int(&self) -> Option<i64> {
        match &self.kind {
            ExprKind::Int(v) => Some(*v),
            ExprKind::Neg(inner) => match inner.kind {
                ExprKind::Int(v) => Some(-v),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the expression is a number literal, negated or not.
    pub fn is_literal(&self) -> bool {
        match &self.kind {
            ExprKind::Int(_) | ExprKind::Float(_) => true,
            ExprKind::Neg(inner) => inner.is_literal(),
            _ => false,
        }
    }
}
