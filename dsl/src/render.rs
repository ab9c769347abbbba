//! Rendering diagnostics the way rustc prints errors, for `mogec` and for tests.
//!
//! ```text
//! error: unknown op `sofmax`
//!  --> kernels.rs:5:17
//!   |
//! 5 |     let probs = sofmax(logits, -1);
//!   |                 ^^^^^^
//!   |
//!   = help: did you mean `softmax`?
//! ```
//!
//! Columns count characters; tabs are shown as four spaces, as rustc does. A span over several lines
//! is drawn with rustc's `/ | |_^` margin.

use std::fmt::Write as _;

use crate::Diagnostic;

/// How many source lines of a multi-line span are shown before eliding the middle with `...`.
const MAX_SPAN_LINES: usize = 6;

/// How many diagnostics of one kernel (or of a file's own errors) are shown; the rest are counted in
/// one closing line. Thousands of repeated errors (20,000 `#[allow(x)]` on one line) would otherwise
/// print megabytes, each block echoing the same long line.
pub const MAX_DIAGNOSTICS: usize = 100;

/// Renders `diags` for the file at `path` whose text is `src`, one rustc-shaped block per diagnostic,
/// separated by blank lines: the first [`MAX_DIAGNOSTICS`], then `error: N more errors not shown`.
pub fn render_diagnostics(path: &str, src: &str, diags: &[Diagnostic]) -> String {
    let lines: Vec<&str> = src.lines().collect();
    crate::work::tick(lines.len() as u64);
    let mut out = String::new();
    for (i, diag) in diags.iter().take(MAX_DIAGNOSTICS).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_one(&mut out, path, &lines, diag);
    }
    if let Some(hidden) = diags.len().checked_sub(MAX_DIAGNOSTICS).filter(|&n| n > 0) {
        let _ = writeln!(out, "\n{}", more_errors(hidden));
    }
    out
}

/// `error: 5 more errors not shown (the first 100 are above)`.
pub fn more_errors(hidden: usize) -> String {
    format!(
        "error: {hidden} more error{} not shown (the first {MAX_DIAGNOSTICS} are above)",
        if hidden == 1 { "" } else { "s" }
    )
}

/// A position in display columns: characters before it, tabs counting four.
fn display_col(line: &str, char_col: usize) -> usize {
    crate::work::tick(char_col as u64);
    line.chars()
        .take(char_col)
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum()
}

/// The line as displayed (tabs expanded).
fn display_line(line: &str) -> String {
    crate::work::tick(line.len() as u64);
    line.replace('\t', "    ")
}

fn render_one(out: &mut String, path: &str, lines: &[&str], diag: &Diagnostic) {
    let start = diag.span.start();
    let end = diag.end_span.end();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "error: {}", diag.message);
    let in_file = start.line >= 1 && start.line <= lines.len();
    if !in_file {
        let _ = writeln!(out, " --> {path}");
        write_footer(out, 1, diag, false);
        return;
    }
    // An end before the start (spans from different sources) collapses to the start.
    let (end_line, end_col) = if (end.line, end.column) < (start.line, start.column) {
        (start.line, start.column + 1)
    } else {
        (end.line.min(lines.len()), end.column)
    };
    let width = end_line.to_string().len();
    let pad = " ".repeat(width);
    let _ = writeln!(out, "{pad}--> {path}:{}:{}", start.line, start.column + 1);
    let _ = writeln!(out, "{pad} |");
    let source_line = |n: usize| lines.get(n - 1).copied().unwrap_or("");
    let label = diag
        .label
        .as_deref()
        .map(|l| format!(" {l}"))
        .unwrap_or_default();
    if end_line == start.line {
        let text = source_line(start.line);
        let from = display_col(text, start.column);
        let to = display_col(text, end_col).max(from + 1);
        let (text, from, to) = window(&display_line(text), from, to);
        write_source(out, width, start.line, "", &text);
        let _ = writeln!(
            out,
            "{pad} | {}{}{label}",
            " ".repeat(from),
            "^".repeat(to - from)
        );
    } else {
        let first = source_line(start.line);
        let indent = first.chars().take_while(|c| c.is_whitespace()).count();
        if start.column <= indent {
            write_source(out, width, start.line, "/ ", first);
        } else {
            write_source(out, width, start.line, "  ", first);
            let at = display_col(first, start.column);
            let _ = writeln!(out, "{pad} |  {}^", "_".repeat(at + 1));
        }
        let inner: Vec<usize> = (start.line + 1..end_line).collect();
        if inner.len() > MAX_SPAN_LINES {
            for &n in &inner[..MAX_SPAN_LINES - 1] {
                write_source(out, width, n, "| ", source_line(n));
            }
            let _ = writeln!(out, "...");
        } else {
            for &n in &inner {
                write_source(out, width, n, "| ", source_line(n));
            }
        }
        let last = source_line(end_line);
        write_source(out, width, end_line, "| ", last);
        let at = display_col(last, end_col.saturating_sub(1));
        let _ = writeln!(out, "{pad} | |{}^{label}", "_".repeat(at + 1));
    }
    write_footer(out, width, diag, true);
}

/// A line longer than this (in display columns) is shown as a window around the span.
const MAX_LINE: usize = 300;

/// Characters of context kept before and after the span in a window.
const CONTEXT: usize = 60;

/// The part of the displayed line `text` around columns `from..to` to show, with `...` where it was
/// cut, and the columns moved to match; a line of at most [`MAX_LINE`] columns is kept whole (a
/// generated line of 100,000 tokens is not echoed whole).
fn window(text: &str, from: usize, to: usize) -> (String, usize, usize) {
    let chars: Vec<char> = text.chars().collect();
    crate::work::tick(chars.len() as u64);
    if chars.len() <= MAX_LINE {
        return (text.to_string(), from, to);
    }
    let to = to.min(from + MAX_LINE - 2 * CONTEXT);
    let start = from.saturating_sub(CONTEXT);
    let end = (to + CONTEXT).min(chars.len());
    let mut shown = String::new();
    let mut shift = start;
    if start > 0 {
        shown.push_str("...");
        shift -= 3;
    }
    shown.extend(&chars[start..end]);
    if end < chars.len() {
        shown.push_str("...");
    }
    (shown, from - shift, to - shift)
}

fn write_source(out: &mut String, width: usize, line: usize, margin: &str, text: &str) {
    let shown = format!("{margin}{}", display_line(text));
    let shown = shown.trim_end();
    if shown.is_empty() {
        let _ = writeln!(out, "{line:>width$} |");
    } else {
        let _ = writeln!(out, "{line:>width$} | {shown}");
    }
}

fn write_footer(out: &mut String, width: usize, diag: &Diagnostic, separator: bool) {
    if diag.notes.is_empty() && diag.help.is_none() {
        return;
    }
    let pad = " ".repeat(width);
    if separator {
        let _ = writeln!(out, "{pad} |");
    }
    for note in &diag.notes {
        let _ = writeln!(out, "{pad} = note: {note}");
    }
    if let Some(help) = &diag.help {
        let _ = writeln!(out, "{pad} = help: {help}");
    }
}
