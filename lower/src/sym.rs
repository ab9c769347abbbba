//! Interned dimension symbols, shared by the graph IR and the kernel IR.
//!
//! A [`Symbol`] is a small copyable id for a dim name (`T`, `E`). Every IR holds dims as symbols
//! after the frontend: the graph IR's symbol table ([`crate::graph::SymData`]), the kernel IR's
//! expressions ([`crate::expr::Expr::Sym`]) and dim list ([`crate::kir::v2::Program::dims`]), and
//! the dim solver ([`crate::interp::solve::SymTable`]). Comparing and hashing a symbol is comparing
//! two integers; its name is looked up only to print it.
//!
//! The interner is global (one per process) rather than per program, so that a symbol means the
//! same name wherever it travels (graph kernel, kernel IR program, manifest, launch) without a
//! table travelling with it, and so that symbols of two kernels can never clash: one id is one
//! name everywhere. Names are leaked to give `&'static str` lookups without a lock held; the set of
//! dim names a process sees is small (a few per kernel), so this is bounded in practice.

use std::collections::HashMap;
use std::fmt;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// An interned dim name. Equal names intern to equal symbols.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Symbol(u32);

/// The process-wide table: names by id, and ids by name.
#[derive(Default)]
struct Interner {
    names: Vec<&'static str>,
    ids: HashMap<&'static str, Symbol>,
}

/// A read-write lock, so that looking names up (every print) never waits for another reader.
fn interner() -> &'static RwLock<Interner> {
    static INTERNER: OnceLock<RwLock<Interner>> = OnceLock::new();
    INTERNER.get_or_init(Default::default)
}

// The table is changed only after the last point that can panic (the id's range check; a failed
// allocation aborts), so even a poisoned lock guards a consistent table: it is used as is.
fn read() -> RwLockReadGuard<'static, Interner> {
    interner().read().unwrap_or_else(|e| e.into_inner())
}

fn write() -> RwLockWriteGuard<'static, Interner> {
    interner().write().unwrap_or_else(|e| e.into_inner())
}

impl Symbol {
    /// The symbol for `name`, interning it on first use.
    pub fn intern(name: &str) -> Symbol {
        if let Some(&sym) = read().ids.get(name) {
            return sym;
        }
        let mut table = write();
        // Another thread may have interned it between the two locks.
        if let Some(&sym) = table.ids.get(name) {
            return sym;
        }
        let id = u32::try_from(table.names.len()).expect("fewer than 2^32 distinct dim names");
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        table.names.push(name);
        table.ids.insert(name, Symbol(id));
        Symbol(id)
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        // Every `Symbol` was made by `intern`, which pushed its name first.
        read().names[self.0 as usize]
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Prints as the quoted name (`"T"`), as the `String` it replaces did, so debug output of the
/// structures that hold symbols does not depend on interning order.
impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Ordered by name, not by id: ids depend on the order names were first seen in the process
/// (which differs between test threads), names do not.
impl Ord for Symbol {
    fn cmp(&self, other: &Symbol) -> std::cmp::Ordering {
        if self == other {
            return std::cmp::Ordering::Equal;
        }
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Symbol {
    fn partial_cmp(&self, other: &Symbol) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq<str> for Symbol {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Symbol {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Symbol {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

/// Serialized as its name (a manifest's `dynamic_dims` and `bindings` keys).
impl serde::Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Deserialized from a name, interned; anything else is refused as a `String` would be.
impl<'de> serde::Deserialize<'de> for Symbol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Symbol, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Symbol::intern(&name))
    }
}

impl PartialEq<Symbol> for String {
    fn eq(&self, other: &Symbol) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Symbol> for &str {
    fn eq(&self, other: &Symbol) -> bool {
        *self == other.as_str()
    }
}

impl AsRef<str> for Symbol {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for Symbol {
    fn from(name: String) -> Symbol {
        Symbol::intern(&name)
    }
}

impl From<&String> for Symbol {
    fn from(name: &String) -> Symbol {
        Symbol::intern(name)
    }
}

impl From<&str> for Symbol {
    fn from(name: &str) -> Symbol {
        Symbol::intern(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_is_interned_once() {
        let a = Symbol::intern("sym_test_T");
        let b = Symbol::intern(&String::from("sym_test_T"));
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "sym_test_T");
        // The name is stored once: both lookups give the same allocation.
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        let c = Symbol::intern("sym_test_E");
        assert_ne!(a, c);
        assert_eq!(c.to_string(), "sym_test_E");
        assert_eq!(format!("{c:?}"), "\"sym_test_E\"");
    }

    #[test]
    fn symbols_order_by_name_and_compare_with_str() {
        // Interned in the reverse of name order: the order is still by name.
        let z = Symbol::intern("sym_order_z");
        let a = Symbol::intern("sym_order_a");
        assert!(a < z);
        let mut v = vec![z, a];
        v.sort();
        assert_eq!(v, vec![a, z]);
        assert!(a == "sym_order_a");
        assert!(a != "sym_order_z");
    }

    #[test]
    fn kernel_ir_dims_are_symbols() {
        // Type-level: these compile only while the kernel IR holds its dims as `Symbol`s.
        let dims_of: fn(&crate::kir::v2::Program) -> &Vec<Symbol> = |p| &p.dims;
        let dim_expr: fn(Symbol) -> crate::kir::Expr = crate::kir::Expr::Sym;
        // A parsed program: its `dim T` and every `T` in its expressions are one interned symbol.
        let text = include_str!("../tests/kir_v2/vector.kir");
        let program = crate::kir::v2::parse_program(text).unwrap();
        let t = Symbol::intern("T");
        assert_eq!(dims_of(&program), &vec![t]);
        let gm_syms: Vec<Symbol> = program
            .gm
            .values()
            .flat_map(|g| g.shape.iter().flat_map(|e| e.syms()))
            .collect();
        assert!(gm_syms.contains(&t), "{gm_syms:?}");
        assert!(gm_syms.iter().all(|&s| s == t), "{gm_syms:?}");
        assert_eq!(program.gm.values().next().unwrap().shape[0], dim_expr(t));
        // Printed back byte for byte: the text form holds names, the IR holds ids.
        assert_eq!(crate::kir::v2::program_to_string(&program), text);
    }

    #[test]
    fn interning_from_many_threads_agrees() {
        let names: Vec<String> = (0..50).map(|i| format!("sym_thread_{i}")).collect();
        let per_thread: Vec<Vec<Symbol>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| names.iter().map(|n| Symbol::intern(n)).collect()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for syms in &per_thread {
            assert_eq!(syms, &per_thread[0]);
        }
        for (sym, name) in per_thread[0].iter().zip(&names) {
            assert_eq!(sym.as_str(), name);
        }
    }
}
