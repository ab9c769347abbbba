//! Diagnostics: an error message tied to the span of the DSL tokens it is about.
//!
//! A [`Diagnostic`] keeps the span of the first and of the last offending token rather than one joined
//! span, because inside a proc macro `Span::join` is not available on stable Rust; `syn::Error` does the
//! same. [`Diagnostic::to_syn_error`] turns it into a `compile_error!` for the macro, and
//! [`crate::render_diagnostics`] prints it the way rustc does for `mogec`.

use std::fmt;

use moge_lower::SrcLoc;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;

/// The first and last token of a piece of DSL source, as spans.
#[derive(Copy, Clone, Debug)]
pub struct SpanRange {
    /// The span of the first token.
    pub start: Span,
    /// The span of the last token.
    pub end: Span,
}

impl SpanRange {
    /// A range covering the single span `span`.
    pub fn single(span: Span) -> SpanRange {
        SpanRange {
            start: span,
            end: span,
        }
    }

    /// The range from the first to the last token of `tokens` (the call site if there are none).
    pub fn of(tokens: &dyn ToTokens) -> SpanRange {
        let stream = tokens.to_token_stream();
        SpanRange::of_stream(stream)
    }

    /// The range from the first to the last token of `stream` (the call site if it is empty).
    pub fn of_stream(stream: TokenStream) -> SpanRange {
        let mut iter = stream.into_iter();
        let Some(first) = iter.next() else {
            return SpanRange::single(Span::call_site());
        };
        let last = iter.last();
        let start = match &first {
            TokenTree::Group(g) => g.span_open(),
            other => other.span(),
        };
        let end = match last.as_ref().unwrap_or(&first) {
            TokenTree::Group(g) => g.span_close(),
            other => other.span(),
        };
        SpanRange { start, end }
    }

    /// The range from the start of `self` to the end of `other`.
    pub fn to(self, other: SpanRange) -> SpanRange {
        SpanRange {
            start: self.start,
            end: other.end,
        }
    }

    /// The source location (1-based line and column, columns in characters, end exclusive).
    pub fn loc(&self) -> SrcLoc {
        let start = self.start.start();
        let end = self.end.end();
        SrcLoc {
            line: to_u32(start.line),
            col: to_u32(start.column + 1),
            end_line: to_u32(end.line),
            end_col: to_u32(end.column + 1),
        }
    }
}

fn to_u32(x: usize) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

/// An error found in a kernel, with the span of the offending tokens.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// The span of the first offending token (where the error points).
    pub span: Span,
    /// The span of the last offending token (where the underline ends).
    pub end_span: Span,
    /// A lowercase sentence saying what was expected and what was found.
    pub message: String,
    /// A short text printed under the underline by [`crate::render_diagnostics`], if any.
    pub label: Option<String>,
    /// Further facts (`= note: ...` lines).
    pub notes: Vec<String>,
    /// A suggestion how to fix it (the `= help: ...` line).
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `range` with `message`.
    pub fn new(range: SpanRange, message: impl Into<String>) -> Diagnostic {
        crate::work::tick(1);
        Diagnostic {
            span: range.start,
            end_span: range.end,
            message: message.into(),
            label: None,
            notes: Vec::new(),
            help: None,
        }
    }

    /// An error on the tokens of `tokens`.
    pub fn spanned(tokens: &dyn ToTokens, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(SpanRange::of(tokens), message)
    }

    /// Converts a syn parse error (which points at one token).
    pub fn from_syn(error: &syn::Error) -> Diagnostic {
        Diagnostic::new(SpanRange::single(error.span()), error.to_string())
    }

    /// Adds a label under the underline.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// The spans of the offending tokens.
    pub fn range(&self) -> SpanRange {
        SpanRange {
            start: self.span,
            end: self.end_span,
        }
    }

    /// Where the error starts: 1-based line and 1-based column (in characters).
    pub fn line_col(&self) -> (usize, usize) {
        let start = self.span.start();
        (start.line, start.column + 1)
    }

    /// The message with the notes and the help appended as `= note: ...` / `= help: ...` lines, as
    /// shown by `compile_error!`.
    pub fn full_message(&self) -> String {
        let mut text = self.message.clone();
        for note in &self.notes {
            text.push_str("\n= note: ");
            text.push_str(note);
        }
        if let Some(help) = &self.help {
            text.push_str("\n= help: ");
            text.push_str(help);
        }
        text
    }

    /// The error as a `syn::Error` spanning the offending tokens, with notes and help in its message.
    pub fn to_syn_error(&self) -> syn::Error {
        // `syn::Error::new_spanned` underlines from the first to the last token of what it is given;
        // two placeholder tokens carry the start and end spans.
        let first = proc_macro2::Ident::new("start", self.span);
        let last = proc_macro2::Ident::new("end", self.end_span);
        let mut tokens = TokenStream::new();
        tokens.extend([TokenTree::Ident(first), TokenTree::Ident(last)]);
        syn::Error::new_spanned(tokens, self.full_message())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = self.line_col();
        write!(f, "{line}:{col}: {}", self.full_message())
    }
}
