//! The table of built-in ops: their DSL names, what each argument must be, and the graph-IR op they
//! build. The argument table drives arity checks and argument parsing; the shape and dtype rules
//! live in `moge_lower::graph::infer`.

use moge_lower::graph::{ArgOp, BinaryOp, ReduceOp, UnaryOp};

use crate::ast::Expr;

/// What an argument of a built-in op must be.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Arg {
    /// A tensor (or routing table) expression, with its name in the signature.
    Tensor(&'static str),
    /// An axis: an integer literal, negative counting from the end.
    Axis,
    /// A dim expression (`G`, `2 * I`, `64`), with its name in the signature.
    Dim(&'static str),
    /// A shape: a tuple of dim expressions.
    Dims(&'static str),
    /// A tuple of tensor expressions.
    Tensors(&'static str),
    /// A permutation: a tuple of integer literals.
    Perm,
    /// `true` or `false`, with its name in the signature.
    Flag(&'static str),
    /// A number literal, with its name in the signature.
    Float(&'static str),
}

/// Which graph-IR op a built-in builds.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Unary(UnaryOp),
    Binary(BinaryOp),
    Cast,
    Select,
    Reduce(ReduceOp),
    ArgReduce(ArgOp),
    Softmax,
    LogSoftmax,
    RmsNorm,
    Reshape,
    Slice,
    Concat,
    Transpose,
    TopK,
    GroupTopK,
    Gather,
    ScatterAdd,
    MatMul,
    Route,
    Dispatch,
    GroupedMatmul,
    Swiglu,
    Combine,
}

/// A built-in op of the DSL.
#[derive(Debug)]
pub(crate) struct Builtin {
    /// Its name in the DSL.
    pub name: &'static str,
    /// The op it builds.
    pub kind: Kind,
    /// Its arguments, in order; the ones after `required` are optional.
    pub args: &'static [Arg],
    /// How many arguments are required.
    pub required: usize,
    /// The argument list as shown in messages, e.g. `(x, axis[, keep_dim])`.
    pub signature: &'static str,
}

impl Builtin {
    /// How many results the op has.
    pub fn num_results(&self) -> usize {
        match self.kind {
            Kind::TopK | Kind::GroupTopK => 2,
            _ => 1,
        }
    }

    /// The result names shown when a two-result op is used as one value.
    pub fn result_names(&self) -> &'static str {
        "values, indices"
    }
}

const X: &[Arg] = &[Arg::Tensor("x")];
const AB: &[Arg] = &[Arg::Tensor("a"), Arg::Tensor("b")];
const REDUCE: &[Arg] = &[Arg::Tensor("x"), Arg::Axis, Arg::Flag("keep_dim")];
const X_AXIS: &[Arg] = &[Arg::Tensor("x"), Arg::Axis];

macro_rules! unary {
    ($name:literal, $op:ident) => {
        Builtin {
            name: $name,
            kind: Kind::Unary(UnaryOp::$op),
            args: X,
            required: 1,
            signature: "(x)",
        }
    };
}

macro_rules! reduce {
    ($name:literal, $kind:expr) => {
        Builtin {
            name: $name,
            kind: $kind,
            args: REDUCE,
            required: 2,
            signature: "(x, axis[, keep_dim])",
        }
    };
}

/// Every built-in op, in the order suggestions prefer.
pub(crate) static BUILTINS: &[Builtin] = &[
    unary!("exp", Exp),
    unary!("log", Log),
    unary!("sqrt", Sqrt),
    unary!("rsqrt", Rsqrt),
    unary!("recip", Recip),
    unary!("abs", Abs),
    unary!("sigmoid", Sigmoid),
    unary!("silu", Silu),
    unary!("relu", Relu),
    unary!("tanh", Tanh),
    Builtin {
        name: "maximum",
        kind: Kind::Binary(BinaryOp::Max),
        args: AB,
        required: 2,
        signature: "(a, b)",
    },
    Builtin {
        name: "minimum",
        kind: Kind::Binary(BinaryOp::Min),
        args: AB,
        required: 2,
        signature: "(a, b)",
    },
    Builtin {
        name: "cast",
        kind: Kind::Cast,
        args: X,
        required: 1,
        signature: "::<DTYPE>(x)",
    },
    Builtin {
        name: "select",
        kind: Kind::Select,
        args: &[Arg::Tensor("cond"), Arg::Tensor("a"), Arg::Tensor("b")],
        required: 3,
        signature: "(cond, a, b)",
    },
    reduce!("sum", Kind::Reduce(ReduceOp::Sum)),
    reduce!("mean", Kind::Reduce(ReduceOp::Mean)),
    reduce!("max", Kind::Reduce(ReduceOp::Max)),
    reduce!("min", Kind::Reduce(ReduceOp::Min)),
    reduce!("argmax", Kind::ArgReduce(ArgOp::ArgMax)),
    reduce!("argmin", Kind::ArgReduce(ArgOp::ArgMin)),
    Builtin {
        name: "softmax",
        kind: Kind::Softmax,
        args: X_AXIS,
        required: 2,
        signature: "(x, axis)",
    },
    Builtin {
        name: "log_softmax",
        kind: Kind::LogSoftmax,
        args: X_AXIS,
        required: 2,
        signature: "(x, axis)",
    },
    Builtin {
        name: "rms_norm",
        kind: Kind::RmsNorm,
        args: &[Arg::Tensor("x"), Arg::Tensor("weight"), Arg::Float("eps")],
        required: 3,
        signature: "(x, weight, eps)",
    },
    Builtin {
        name: "reshape",
        kind: Kind::Reshape,
        args: &[Arg::Tensor("x"), Arg::Dims("shape")],
        required: 2,
        signature: "(x, (D0, D1, ...))",
    },
    Builtin {
        name: "slice",
        kind: Kind::Slice,
        args: &[
            Arg::Tensor("x"),
            Arg::Axis,
            Arg::Dim("start"),
            Arg::Dim("end"),
        ],
        required: 4,
        signature: "(x, axis, start, end)",
    },
    Builtin {
        name: "concat",
        kind: Kind::Concat,
        args: &[Arg::Tensors("tensors"), Arg::Axis],
        required: 2,
        signature: "((a, b, ...), axis)",
    },
    Builtin {
        name: "transpose",
        kind: Kind::Transpose,
        args: &[Arg::Tensor("x"), Arg::Perm],
        required: 1,
        signature: "(x[, (perm...)])",
    },
    Builtin {
        name: "topk",
        kind: Kind::TopK,
        args: &[Arg::Tensor("x"), Arg::Dim("k")],
        required: 2,
        signature: "(x, k)",
    },
    Builtin {
        name: "group_topk",
        kind: Kind::GroupTopK,
        args: &[Arg::Tensor("x"), Arg::Dim("groups"), Arg::Dim("k")],
        required: 3,
        signature: "(x, groups, k)",
    },
    Builtin {
        name: "gather",
        kind: Kind::Gather,
        args: &[Arg::Tensor("table"), Arg::Tensor("index")],
        required: 2,
        signature: "(table, index)",
    },
    Builtin {
        name: "scatter_add",
        kind: Kind::ScatterAdd,
        args: &[Arg::Tensor("src"), Arg::Tensor("index"), Arg::Dim("size")],
        required: 3,
        signature: "(src, index, size)",
    },
    Builtin {
        name: "matmul",
        kind: Kind::MatMul,
        args: AB,
        required: 2,
        signature: "(a, b)",
    },
    Builtin {
        name: "route",
        kind: Kind::Route,
        args: &[Arg::Tensor("expert_ids"), Arg::Dim("experts")],
        required: 2,
        signature: "(expert_ids, experts)",
    },
    Builtin {
        name: "dispatch",
        kind: Kind::Dispatch,
        args: &[Arg::Tensor("x"), Arg::Tensor("routes")],
        required: 2,
        signature: "(x, routes)",
    },
    Builtin {
        name: "grouped_matmul",
        kind: Kind::GroupedMatmul,
        args: &[Arg::Tensor("a"), Arg::Tensor("w"), Arg::Tensor("routes")],
        required: 3,
        signature: "(a, w, routes)",
    },
    Builtin {
        name: "swiglu",
        kind: Kind::Swiglu,
        args: &[Arg::Tensor("gate"), Arg::Tensor("up")],
        required: 1,
        signature: "(x) or (gate, up)",
    },
    Builtin {
        name: "combine",
        kind: Kind::Combine,
        args: &[
            Arg::Tensor("y"),
            Arg::Tensor("routes"),
            Arg::Tensor("weights"),
        ],
        required: 3,
        signature: "(y, routes, weights)",
    },
];

/// The built-in called `name`.
pub(crate) fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The built-in a call of `name` with `args` means: `max(a, b)` and `min(a, b)` are the elementwise
/// `maximum` and `minimum` when the second argument is not an integer literal (an axis).
pub(crate) fn resolve(name: &str, args: &[Expr]) -> Option<&'static Builtin> {
    let elementwise = match name {
        "max" => "maximum",
        "min" => "minimum",
        _ => return builtin(name),
    };
    if args.len() == 2 && args[1].as_int().is_none() {
        builtin(elementwise)
    } else {
        builtin(name)
    }
}

/// Names from other libraries that people reach for, with what the DSL calls them.
pub(crate) static ALIASES: &[(&str, &str)] = &[
    ("add", "the `+` operator"),
    ("sub", "the `-` operator"),
    ("mul", "the `*` operator"),
    ("div", "the `/` operator"),
    ("neg", "unary `-`"),
    ("where", "`select(cond, a, b)`"),
    ("where_", "`select(cond, a, b)`"),
    ("mm", "`matmul(a, b)`"),
    ("bmm", "`matmul(a, b)`"),
    ("dot", "`matmul(a, b)`"),
    ("index_select", "`gather(table, index)`"),
    ("take", "`gather(table, index)`"),
    ("cat", "`concat((a, b), axis)`"),
    ("view", "`reshape(x, (D0, D1))`"),
    ("permute", "`transpose(x, (perm...))`"),
    ("narrow", "`slice(x, axis, start, end)`"),
    ("rmsnorm", "`rms_norm(x, weight, eps)`"),
    ("reciprocal", "`recip(x)`"),
    ("to", "`cast::<DTYPE>(x)`"),
    ("astype", "`cast::<DTYPE>(x)`"),
];
