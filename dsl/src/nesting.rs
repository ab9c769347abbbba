//! Bounding the nesting of the input before syn parses it.
//!
//! syn's parser is recursive: every level of parentheses, brackets or braces, every prefix operator
//! (`-x`, `!x`, `&x`, `*x`), every right-associative operator (`a = b = c`), every level of generic
//! arguments (`A<B<C>>`), every `->` of a function type and every closure or `else if` costs it a
//! few stack frames. Thousands of them overflow any stack. [`check_nesting`] walks the token stream
//! iteratively (an explicit stack of groups, no recursion) and measures an upper bound of that
//! depth; input over [`NESTING_LIMIT`] gets a located error instead of reaching syn.
//!
//! The measure, per token, is the sum over the enclosing groups and the token's own group of:
//! one per enclosing group, the current run of prefix operators (reset by an operand: prefix
//! operators only nest until the next operand), and, until the next `;` or the next item, the number
//! of right-associative and structural tokens seen (`=` and compound assignments, `->`, `..`, `@`,
//! closures, `else`) plus the open `<` not yet closed by `>`. Over-counting is harmless (the limit is
//! far above what a kernel needs); the measure must never under-count syn's recursion. Long flat
//! chains (`a + b + c + ...`, `f(x).g().h()`, lists) do not nest: syn parses them in a loop, and
//! they are never limited here.

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};

use crate::diagnostic::{Diagnostic, SpanRange};

/// The deepest nesting the frontend accepts, counted as described in the [module](self) docs.
pub const NESTING_LIMIT: usize = 128;

/// Checks that `tokens` nest at most [`NESTING_LIMIT`] deep; the error points at the first token
/// over the limit.
pub fn check_nesting(tokens: TokenStream) -> Result<(), Diagnostic> {
    let mut frames: Vec<Frame> = vec![Frame::new(tokens, 0)];
    while let Some(frame) = frames.last_mut() {
        let Some(tree) = frame.tokens.next() else {
            frames.pop();
            if let Some(parent) = frames.last_mut() {
                parent.level.after_group();
            }
            continue;
        };
        match tree {
            TokenTree::Group(group) => {
                let depth = frame.level.group_depth(frame.base, group.delimiter()) + 1;
                if depth > NESTING_LIMIT {
                    return Err(too_deep(group.span_open()));
                }
                frame.level.before_group(group.delimiter());
                let inner = Frame::new(group.stream(), depth);
                frames.push(inner);
            }
            TokenTree::Ident(ident) => {
                let text = ident.to_string();
                frame.level.ident(&text);
                if frame.level.depth(frame.base) > NESTING_LIMIT {
                    return Err(too_deep(ident.span()));
                }
            }
            TokenTree::Literal(_) => frame.level.operand(),
            TokenTree::Punct(first) => {
                // An operator is a run of joint punctuation: `->`, `..=`, `&&`, `<<=`.
                let mut chars = vec![(first.as_char(), first.span())];
                let mut spacing = first.spacing();
                while spacing == Spacing::Joint && first.as_char() != '\'' {
                    match frame.tokens.peek() {
                        Some(TokenTree::Punct(next)) => {
                            chars.push((next.as_char(), next.span()));
                            spacing = next.spacing();
                            frame.tokens.next();
                        }
                        _ => break,
                    }
                }
                let text: String = chars.iter().map(|(c, _)| *c).collect();
                let mut at = 0;
                for op in split_operators(&text) {
                    frame.level.punct(op);
                    let depth = frame.level.depth(frame.base);
                    if depth > NESTING_LIMIT {
                        // A prefix `&&` is two levels: when only its second `&` is over the
                        // limit, point at that one.
                        let second = op == "&&" && depth == NESTING_LIMIT + 1;
                        return Err(too_deep(chars[at + usize::from(second)].1));
                    }
                    at += op.chars().count();
                }
            }
        }
    }
    Ok(())
}

/// The error for a token at depth [`NESTING_LIMIT`] + 1.
fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::new(
        SpanRange::single(span),
        format!("nested too deeply (limit {NESTING_LIMIT})"),
    )
    .with_note(
        "each enclosing `(`, `[`, `{`, prefix operator, `<` and assignment counts as one level",
    )
    .with_help("split the expression into `let` statements")
}

/// One group being walked.
struct Frame {
    tokens: std::iter::Peekable<proc_macro2::token_stream::IntoIter>,
    /// The depth of the group itself (the enclosing levels).
    base: usize,
    level: Level,
}

impl Frame {
    fn new(tokens: TokenStream, base: usize) -> Frame {
        Frame {
            tokens: tokens.into_iter().peekable(),
            base,
            level: Level::default(),
        }
    }
}

/// The nesting within one group, as described in the module docs.
#[derive(Default)]
struct Level {
    /// Consecutive prefix operators and prefix keywords since the last operand.
    run: usize,
    /// Right-associative and structural tokens since the statement or item began.
    chain: usize,
    /// `<` not yet closed by `>` in this statement.
    angle: usize,
    /// Inside a `let` before its `=`: that `=` starts the initializer, which syn parses with no
    /// more nesting than the statement itself (unlike `a = b = c`), so it does not count.
    in_let: bool,
    /// The `->` among `chain`: a return type ends where the function's or closure's body begins,
    /// so they do not count for a block.
    arrows: usize,
    /// Whether the last token ended an operand, so that `-`, `*`, `&` and `|` are binary.
    after_operand: bool,
    /// The next identifier is a lifetime or label (after `'`), which neither nests nor ends one.
    lifetime: bool,
    /// The last token was `#`: the next group is an attribute, not an operand.
    attribute: bool,
    /// The group open inside this level (between `before_group` and `after_group`) is a block.
    open_block: bool,
    /// The last token closed a `{ }` group: a following item or statement starts afresh.
    after_block: bool,
}

/// Keywords that nest what follows them (a prefix keyword's operand is parsed by a recursive call).
const PREFIX_KEYWORDS: &[&str] = &[
    "return", "break", "yield", "box", "let", "if", "while", "match", "for", "in", "move",
    "static", "async", "unsafe", "dyn", "impl", "become", "do", "where",
];

/// Keywords that neither nest nor end an operand (`&mut x`, `*const T`, `&raw const x`).
const NEUTRAL_KEYWORDS: &[&str] = &["mut", "const", "ref", "raw"];

impl Level {
    fn depth(&self, base: usize) -> usize {
        base + self.run + self.chain + self.angle
    }

    /// The depth a group opened here sits at: a block does not nest inside the return types
    /// before it (syn parses `-> T` and then the body, not the body within the type), so that a
    /// body counts exactly one level, as documented.
    fn group_depth(&self, base: usize, delimiter: Delimiter) -> usize {
        if delimiter == Delimiter::Brace && self.angle == 0 {
            self.depth(base) - self.arrows
        } else {
            self.depth(base)
        }
    }

    /// A new statement or item begins (after `;`, or after a block when a new item follows).
    fn restart(&mut self) {
        self.run = 0;
        self.chain = 0;
        self.angle = 0;
        self.arrows = 0;
        self.in_let = false;
        self.after_operand = false;
    }

    fn operand(&mut self) {
        self.run = 0;
        self.after_operand = true;
        self.after_block = false;
        self.attribute = false;
    }

    fn before_group(&mut self, delimiter: Delimiter) {
        self.open_block = delimiter == Delimiter::Brace;
    }

    fn after_group(&mut self) {
        let block = std::mem::take(&mut self.open_block);
        if std::mem::take(&mut self.attribute) {
            // `#[attr] -x`: the attribute is not an operand.
            self.after_operand = false;
            self.after_block = false;
            return;
        }
        self.run = 0;
        self.after_operand = true;
        self.after_block = block;
    }

    fn ident(&mut self, text: &str) {
        if std::mem::take(&mut self.lifetime) {
            return;
        }
        if std::mem::take(&mut self.after_block) && !matches!(text, "else" | "as") {
            // `fn a() -> T { .. } fn b() ..`: nothing can continue an expression after a block
            // with an identifier other than `else` and `as`, so an item or statement begins.
            self.restart();
        }
        self.attribute = false;
        if text == "else" {
            self.chain += 1;
            self.after_operand = false;
        } else if text == "as" {
            self.after_operand = false;
        } else if PREFIX_KEYWORDS.contains(&text) {
            self.in_let = text == "let";
            self.run += 1;
            self.after_operand = false;
        } else if NEUTRAL_KEYWORDS.contains(&text) {
            self.after_operand = false;
        } else {
            self.operand();
        }
    }

    fn punct(&mut self, op: &str) {
        if std::mem::take(&mut self.after_block) && op == "#" {
            self.restart();
        }
        self.attribute = false;
        let prefix = !self.after_operand;
        self.after_operand = false;
        match op {
            "'" => self.lifetime = true,
            ";" => self.restart(),
            "#" => self.attribute = true,
            "?" => self.after_operand = true,
            "-" | "!" | "*" | "&" if prefix => self.run += 1,
            "&&" if prefix => self.run += 2,
            "|" | "||" if prefix => self.chain += 1,
            "<" => self.angle += 1,
            "<<" | "<<=" => self.angle += 2,
            ">" => self.angle = self.angle.saturating_sub(1),
            ">>" => self.angle = self.angle.saturating_sub(2),
            "=" if self.in_let && self.angle == 0 => self.in_let = false,
            "->" => {
                self.chain += 1;
                self.arrows += 1;
            }
            "=" | "+=" | "-=" | "*=" | "/=" | "%=" | "^=" | "&=" | "|=" | ">>=" | ".." | "..="
            | "..." | "@" => self.chain += 1,
            _ => {}
        }
    }
}

/// Rust's operators of more than one character, longest first.
const OPERATORS: &[&str] = &[
    "<<=", ">>=", "...", "..=", "::", "->", "=>", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=",
    "*=", "/=", "%=", "^=", "&=", "|=", "<<", ">>", "..",
];

/// Splits a run of joint punctuation into operators, longest match first, as Rust's lexer does.
fn split_operators(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let len = OPERATORS
            .iter()
            .find(|op| rest.starts_with(*op))
            .map_or_else(
                || rest.chars().next().map_or(1, char::len_utf8),
                |op| op.len(),
            );
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}
