//! Linking programs: the kernels of several programs (the parts of a graph kernel, each lowered on
//! its own) become one [`Program`] with one set of GM buffers, one tiling struct and one workspace.
//!
//! GM parameters (inputs, outputs, intermediates) are shared by name: a part's output that a later
//! part reads is the same buffer, whatever kind either part gave it, and the kind is the one the
//! linked program declares ([`Linker::declare`]) or else the first part's. A part's workspace slices
//! stay its own (renamed if their name is taken): kernels run one after the other, so each may use
//! the workspace from offset 0, and the program's workspace is the largest any part needs.
//! Tiling fields are shared when two parts have a field of the same name and value, and renamed
//! (`name_1`, `name_2`, ...) when the names clash with different values; every kernel reads the one
//! struct.

use cranelift_entity::EntityRef;

use super::{Field, FieldData, GmBuf, GmBufData, HostExpr, Program, Stmt};

/// Why two programs cannot be linked.
#[derive(Clone, PartialEq, Debug, thiserror::Error)]
pub enum LinkError {
    /// Two parts give a GM buffer of one name different element types or shapes.
    #[error(
        "program `{program}`: GM buffer `{name}` is {first} in one part and {second} in another"
    )]
    GmMismatch {
        /// The linked program.
        program: String,
        /// The buffer's name.
        name: String,
        /// Its type in the program so far (`dtype [shape]`).
        first: String,
        /// Its type in the part being linked.
        second: String,
    },
    /// Two parts have a kernel of the same symbol name.
    #[error("program `{program}`: two kernels are named `{name}`")]
    KernelClash {
        /// The linked program.
        program: String,
        /// The kernel's name.
        name: String,
    },
}

/// Builds one program from parts, in launch order.
#[derive(Clone, Debug)]
pub struct Linker {
    program: Program,
    /// Kernels of parts in which two distinct GM buffers or fields became one (see
    /// [`Linker::aliased`]).
    aliased: Vec<String>,
}

impl Linker {
    /// An empty program `name` over the dynamic dims `dims`.
    pub fn new(name: impl Into<String>, dims: Vec<super::Symbol>) -> Linker {
        let mut program = Program::new(name);
        program.dims = dims;
        Linker {
            program,
            aliased: Vec::new(),
        }
    }

    /// Declares a GM parameter of the linked program before any part is linked (so buffers are in
    /// the order of the graph kernel's signature, and an intermediate has that kind in every part).
    /// A buffer of that name that a part brings is this one.
    pub fn declare(&mut self, data: GmBufData) -> GmBuf {
        self.program.gm.push(data)
    }

    /// Appends the kernels of `part` (launch order), sharing its GM parameters and fields with the
    /// program's by name.
    pub fn link(&mut self, part: Program) -> Result<(), LinkError> {
        let p = &mut self.program;
        for d in part.dims {
            if !p.dims.contains(&d) {
                p.dims.push(d);
            }
        }
        let mut gm_map = Vec::with_capacity(part.gm.len());
        for d in part.gm.into_iter().map(|(_, d)| d) {
            gm_map.push(link_gm(p, d)?);
        }
        let field_map: Vec<Field> = part
            .fields
            .into_iter()
            .map(|(_, d)| link_field(p, d))
            .collect();
        let aliased = !distinct(&gm_map) || !distinct(&field_map);
        p.workspace = match (
            std::mem::replace(&mut p.workspace, HostExpr::Int(0)),
            part.workspace,
        ) {
            (HostExpr::Int(0), b) => b,
            (a, HostExpr::Int(0)) => a,
            (a, b) if a == b => a,
            (a, b) => HostExpr::max(a, b),
        };
        for (_, mut k) in part.kernels {
            if p.kernels.values().any(|o| o.name == k.name) {
                return Err(LinkError::KernelClash {
                    program: p.name.clone(),
                    name: k.name,
                });
            }
            let mut gm = |g: GmBuf| gm_map[g.index()];
            let mut field = |f: Field| field_map[f.index()];
            for g in &mut k.params {
                *g = gm(*g);
            }
            for inst in k.insts.values_mut() {
                inst.map_gm(&mut gm);
                inst.map_exprs_mut(&mut |e| e.map_fields(&mut field));
            }
            map_stmt_fields(&mut k.body, &mut field);
            if aliased {
                self.aliased.push(k.name.clone());
            }
            p.kernels.push(k);
        }
        Ok(())
    }

    /// The kernels whose part had two distinct GM buffers or fields joined into one (by name or by
    /// value). Linking renames a part's buffers and fields; when the renaming is one to one, every
    /// kernel orders its accesses exactly as it did before, so only these kernels need their hazards
    /// checked again.
    pub fn aliased(&self) -> &[String] {
        &self.aliased
    }

    /// The linked program.
    pub fn finish(self) -> Program {
        self.program
    }
}

/// Whether no two entries of `map` are equal.
fn distinct<T: EntityRef + Ord>(map: &[T]) -> bool {
    let mut sorted = map.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).all(|w| w[0] != w[1])
}

/// The linked program's buffer for a part's buffer `d`.
fn link_gm(p: &mut Program, d: GmBufData) -> Result<GmBuf, LinkError> {
    if !d.kind.is_param() {
        let name = fresh(&d.name, |n| p.gm.values().any(|g| g.name == n));
        return Ok(p.gm.push(GmBufData { name, ..d }));
    }
    let Some((g, have)) =
        p.gm.iter()
            .find(|(_, g)| g.kind.is_param() && g.name == d.name)
    else {
        if let Some(slice) = p.gm.values().position(|g| g.name == d.name) {
            // A workspace slice took the name first: the parameter keeps its name (it is the
            // graph's), so the slice is renamed.
            let name = fresh(&d.name, |n| p.gm.values().any(|x| x.name == n));
            p.gm[GmBuf::new(slice)].name = name;
        }
        return Ok(p.gm.push(d));
    };
    if have.dtype != d.dtype || !same_shape(&have.shape, &d.shape) {
        return Err(LinkError::GmMismatch {
            program: p.name.clone(),
            name: d.name.clone(),
            first: type_text(have),
            second: type_text(&d),
        });
    }
    Ok(g)
}

/// Whether two shapes are the same function of the dims: equal as written, or equal at every sample
/// point. Parts built their shapes on their own (`T * 2` in one, `2 * T` in another); shapes are
/// polynomials of low degree in one or two dims, which agree everywhere when they agree on eight
/// values per dim.
fn same_shape(a: &[HostExpr], b: &[HostExpr]) -> bool {
    if a == b {
        return true;
    }
    if a.len() != b.len() {
        return false;
    }
    const SAMPLES: [i64; 8] = [0, 1, 2, 3, 7, 64, 1000, 65_537];
    a.iter().zip(b).all(|(x, y)| {
        let mut syms = x.syms();
        syms.extend(y.syms());
        syms.sort_by_key(|s| s.to_string());
        syms.dedup();
        // Each dim takes the samples in turn, shifted per dim so that dims differ from each other.
        (0..SAMPLES.len()).all(|i| {
            let value = |s: super::Symbol| {
                let j = syms.iter().position(|&t| t == s).unwrap_or(0);
                Some(SAMPLES[(i + 3 * j) % SAMPLES.len()])
            };
            matches!((x.eval(&value), y.eval(&value)), (Ok(u), Ok(v)) if u == v)
        })
    })
}

fn type_text(d: &GmBufData) -> String {
    let shape: Vec<String> = d.shape.iter().map(|e| format!("`{e}`")).collect();
    format!("{} [{}]", d.dtype, shape.join(", "))
}

/// `name` if `taken` says it is free, else the first free `name_1`, `name_2`, ...
fn fresh(name: &str, taken: impl Fn(&str) -> bool) -> String {
    if !taken(name) {
        return name.to_string();
    }
    (1..)
        .map(|i| format!("{name}_{i}"))
        .find(|n| !taken(n))
        .expect("some suffix is free")
}

/// The linked program's field for a part's field `d`: one of the same name and value, or a new one
/// under the first of `name`, `name_1`, ... that is free.
fn link_field(p: &mut Program, d: FieldData) -> Field {
    for i in 0.. {
        let name = if i == 0 {
            d.name.clone()
        } else {
            format!("{}_{i}", d.name)
        };
        match p.fields.iter().find(|(_, f)| f.name == name) {
            Some((f, have)) if have.expr == d.expr => return f,
            Some(_) => continue,
            None => return p.fields.push(FieldData { name, expr: d.expr }),
        }
    }
    unreachable!("the loop returns")
}

/// Renames the fields of every loop bound in `stmts`.
fn map_stmt_fields(stmts: &mut [Stmt], f: &mut dyn FnMut(Field) -> Field) {
    for s in stmts {
        match s {
            Stmt::Inst(_) => {}
            Stmt::For {
                start, end, body, ..
            } => {
                start.map_fields(f);
                end.map_fields(f);
                map_stmt_fields(body, f);
            }
            Stmt::Side { body, .. } => map_stmt_fields(body, f),
        }
    }
}

#[cfg(test)]
mod tests;
