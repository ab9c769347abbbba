//! The namer: every C++ identifier of an emitted kernel comes from here.
//!
//! Names are derived from IR name hints, cleaned to `[A-Za-z0-9_]`, converted to the case their role
//! wants (`lowerCamel` for locals, `UpperCamel` for types, `snake_case` for the entry point and its
//! parameters), kept clear of keywords and reserved names, and made unique with `_1`, `_2`, ... suffixes
//! in the order they are asked for, which the writer fixes before printing starts. So the output is
//! deterministic.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::keywords::is_reserved;

/// The case an identifier is written in.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Case {
    /// `snake_case`, as written in the IR.
    Snake,
    /// `lowerCamelCase`.
    Camel,
    /// `UpperCamelCase`.
    Pascal,
}

/// Hands out unique, keyword-safe identifiers.
#[derive(Clone, Debug, Default)]
pub struct Namer {
    used: FxHashSet<String>,
    counts: FxHashMap<String, u32>,
}

impl Namer {
    /// Forgets every name handed out.
    pub fn reset(&mut self) {
        self.used.clear();
        self.counts.clear();
    }

    /// Marks `name` as taken without handing it out (a fixed name of the output).
    pub fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_string());
    }

    /// A fresh identifier for the hint `hint` in case `case`, with `suffix` appended (such as `Gm_`).
    pub fn call(&mut self, hint: &str, case: Case, suffix: &str) -> String {
        let mut base = convert(&sanitize(hint), case);
        if base.is_empty() {
            base = "v".to_string();
        }
        let mut candidate = format!("{base}{suffix}");
        if is_reserved(&candidate) || self.used.contains(&candidate) {
            loop {
                let n = self.counts.entry(base.clone()).or_insert(0);
                *n += 1;
                candidate = format!("{base}_{n}{suffix}");
                if !is_reserved(&candidate) && !self.used.contains(&candidate) {
                    break;
                }
            }
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

/// Keeps ASCII letters, digits and underscores (others become `_`), trims underscores at both ends,
/// collapses runs of them, and prefixes a name that starts with a digit with `v`.
fn sanitize(hint: &str) -> String {
    let mut out = String::new();
    for c in hint.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if c == '_' && (out.is_empty() || out.ends_with('_')) {
            continue;
        }
        out.push(c);
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'v');
    }
    out
}

fn convert(name: &str, case: Case) -> String {
    match case {
        Case::Snake => name.to_string(),
        Case::Camel | Case::Pascal => {
            let mut out = String::new();
            for (i, part) in name.split('_').filter(|p| !p.is_empty()).enumerate() {
                let mut chars = part.chars();
                if let Some(first) = chars.next() {
                    if i == 0 && case == Case::Camel {
                        out.push(first.to_ascii_lowercase());
                    } else {
                        out.push(first.to_ascii_uppercase());
                    }
                    out.extend(chars);
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_cases_and_dedups() {
        let mut n = Namer::default();
        assert_eq!(n.call("router_scale", Case::Camel, "Gm_"), "routerScaleGm_");
        assert_eq!(
            n.call("router_scale", Case::Camel, "Gm_"),
            "routerScale_1Gm_"
        );
        assert_eq!(n.call("moge_gate_k0", Case::Pascal, ""), "MogeGateK0");
        assert_eq!(n.call("moge_gate_k0", Case::Snake, ""), "moge_gate_k0");
        assert_eq!(n.call("float", Case::Snake, ""), "float_1");
        assert_eq!(n.call("class", Case::Camel, ""), "class_1");
        assert_eq!(n.call("2x-y", Case::Snake, ""), "v2x_y");
        assert_eq!(n.call("__bad__", Case::Snake, ""), "bad");
        assert_eq!(n.call("_Tile", Case::Snake, ""), "Tile");
        assert_eq!(n.call("", Case::Camel, ""), "v");
        assert_eq!(n.call("héllo wörld", Case::Snake, ""), "h_llo_w_rld");
        n.reserve("x");
        assert_eq!(n.call("x", Case::Snake, ""), "x_1");
        assert_eq!(n.call("x_1", Case::Snake, ""), "x_1_1");
        // Deterministic: the same requests give the same names after a reset.
        n.reset();
        assert_eq!(n.call("router_scale", Case::Camel, "Gm_"), "routerScaleGm_");
    }

    #[test]
    fn reserved_forms() {
        assert!(is_reserved("int"));
        assert!(is_reserved("half"));
        assert!(is_reserved("a__b"));
        assert!(is_reserved("_Foo"));
        assert!(!is_reserved("_foo"));
        assert!(!is_reserved("logits"));
    }
}
