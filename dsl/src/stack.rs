//! Running the frontend without overflowing the stack, whatever the input's shape.
//!
//! Two kinds of input make recursive code deep: nesting (parentheses, prefix operators, ...), which
//! [`crate::nesting`] bounds before syn sees it, and long flat chains (`a + b + c + ...` is a
//! left-deep tree of depth = number of terms), which must keep working at any length. So:
//!
//! - the whole frontend runs on a stack of its own, [`FRONTEND_STACK`] bytes, reserved but only
//!   touched as deep as it is used ([`with_frontend_stack`]); it covers syn's parser up to the
//!   nesting limit and syn's own recursive code (printing tokens of a rejected construct);
//! - each recursive function of ours calls [`ensure_stack`] (as rustc's `ensure_sufficient_stack`
//!   does), which continues on a fresh stack segment when the current one runs low;
//! - a syn tree is never dropped recursively: [`dismantle_file`] / [`dismantle_fn`] detach the
//!   operands of every expression node and drop the nodes one by one from a worklist.

use syn::visit_mut::VisitMut;

/// The stack reserved for one run of the frontend (virtual memory; pages are used only as deep as
/// the recursion goes).
pub const FRONTEND_STACK: usize = 256 << 20;

/// Below this much stack left, [`ensure_stack`] switches to a new segment.
const RED_ZONE: usize = 256 << 10;

/// The size of each new segment.
const SEGMENT: usize = 8 << 20;

thread_local! {
    /// Whether this thread runs on the frontend's stack already (nested calls do not grow again).
    static ON_FRONTEND_STACK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` on a stack of [`FRONTEND_STACK`] bytes (on the current one when the caller is already on
/// such a stack).
pub fn with_frontend_stack<R>(f: impl FnOnce() -> R) -> R {
    if ON_FRONTEND_STACK.with(std::cell::Cell::get) {
        return f();
    }
    stacker::grow(FRONTEND_STACK, || {
        ON_FRONTEND_STACK.with(|on| on.set(true));
        // Reset the flag even if `f` panics (a panic is caught by `mogec` and reported as a bug).
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                ON_FRONTEND_STACK.with(|on| on.set(false));
            }
        }
        let _reset = Reset;
        f()
    })
}

/// Runs `f` with at least the red zone of stack left, growing onto a new segment if needed. Every
/// recursive function of the frontend wraps its body in this.
pub(crate) fn ensure_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

/// Drops a parsed file without recursing along long chains of expressions.
pub fn dismantle_file(mut file: syn::File) {
    let mut dismantler = Dismantler::default();
    dismantler.visit_file_mut(&mut file);
    drop(file);
    dismantler.finish();
}

/// Drops a parsed item without recursing along long chains of expressions.
pub fn dismantle_item(mut item: syn::Item) {
    let mut dismantler = Dismantler::default();
    dismantler.visit_item_mut(&mut item);
    drop(item);
    dismantler.finish();
}

/// Drops a parsed function without recursing along long chains of expressions.
pub fn dismantle_fn(mut item: syn::ItemFn) {
    let mut dismantler = Dismantler::default();
    dismantler.visit_item_fn_mut(&mut item);
    drop(item);
    dismantler.finish();
}

/// Detaches the operands of every expression it visits into a worklist, so that no node owns a
/// deep tree when it is dropped. The remaining recursion of the visit itself is bounded by the
/// nesting limit (the syn tree's other nodes nest only as deep as the tokens do).
#[derive(Default)]
struct Dismantler {
    detached: Vec<syn::Expr>,
}

impl Dismantler {
    fn finish(mut self) {
        while let Some(mut expr) = self.detached.pop() {
            self.visit_expr_mut(&mut expr);
            // `expr` has no operands left: dropping it is shallow.
        }
    }

    fn detach(&mut self, slot: &mut syn::Expr) {
        let placeholder = syn::Expr::Verbatim(proc_macro2::TokenStream::new());
        self.detached.push(std::mem::replace(slot, placeholder));
    }
}

impl VisitMut for Dismantler {
    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        use syn::Expr as E;
        // The nodes whose operand can start a left-deep chain (binary operators and postfix
        // trailers: `a + b + c`, `x.f().g()`, `x?.y`, `x[0][0]`, `x as T as T`, `f()()`).
        match expr {
            E::Binary(b) => {
                self.detach(&mut b.left);
                self.detach(&mut b.right);
            }
            E::Assign(a) => {
                self.detach(&mut a.left);
                self.detach(&mut a.right);
            }
            E::MethodCall(m) => {
                self.detach(&mut m.receiver);
                for arg in m.args.iter_mut() {
                    self.detach(arg);
                }
            }
            E::Call(c) => {
                self.detach(&mut c.func);
                for arg in c.args.iter_mut() {
                    self.detach(arg);
                }
            }
            E::Field(f) => self.detach(&mut f.base),
            E::Index(i) => {
                self.detach(&mut i.expr);
                self.detach(&mut i.index);
            }
            E::Cast(c) => self.detach(&mut c.expr),
            E::Try(t) => self.detach(&mut t.expr),
            E::Await(a) => self.detach(&mut a.base),
            E::Range(r) => {
                if let Some(start) = &mut r.start {
                    self.detach(start);
                }
                if let Some(end) = &mut r.end {
                    self.detach(end);
                }
            }
            _ => syn::visit_mut::visit_expr_mut(self, expr),
        }
    }
}
