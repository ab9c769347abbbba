//! The names of a program's tensors: the one place that decides them.
//!
//! A kernel's inputs are named after its parameters (unique, checked by the frontend). Its outputs are
//! named by [`output_names`]: each output's *natural name* is the identifier it returns, or `out<i>`
//! for an expression at position `i` of the returned tuple; an output keeps its natural name unless a
//! parameter has that name or an earlier output keeps it, and then it is named `<natural>_<n>` with the
//! smallest `n >= 1` that no parameter and no other output has (`<natural><n>` when the natural name
//! ends with `_`, since C++ reserves names with a double underscore). So `{ a }` returns `a_1`,
//! `let x = exp(x); x` returns `x_1`, and `(y, y)` returns `y` and `y_1`.
//!
//! Every name that leaves the compiler comes from here: the graph IR's [`Output`](super::Output)
//! names, hence the manifest's parameters, the emitted kernels' C parameters and the `.npy` files
//! `mogec eval` and `mogec run` write. Names are unique across inputs and outputs, so an output is never
//! an alias of an input or of another output: the device kernel writes each output itself.

use rustc_hash::FxHashSet;

/// The output names for outputs with the given natural names, in order, for a kernel whose parameters
/// are `params` (see the module documentation). The result has one name per natural name, all distinct
/// from each other and from every parameter.
pub fn output_names(params: &[&str], natural: &[String]) -> Vec<String> {
    let mut taken: FxHashSet<String> = params.iter().map(|p| p.to_string()).collect();
    // First pass: outputs that keep their natural name, so a renamed output never takes the name a
    // later output was given in the source.
    let mut names: Vec<Option<String>> = natural
        .iter()
        .map(|name| taken.insert(name.clone()).then(|| name.clone()))
        .collect();
    // Second pass: the others get the first free suffix, in order.
    for (name, natural) in names.iter_mut().zip(natural) {
        if name.is_none() {
            let sep = if natural.ends_with('_') { "" } else { "_" };
            let mut n = 1u64;
            let mut candidate = format!("{natural}{sep}{n}");
            while taken.contains(&candidate) {
                n += 1;
                candidate = format!("{natural}{sep}{n}");
            }
            taken.insert(candidate.clone());
            *name = Some(candidate);
        }
    }
    names.into_iter().flatten().collect()
}

/// The natural name of the output at position `index` that returns `ident` (`None` for an
/// expression): `ident` itself, or `out<index>`.
pub fn natural_output_name(ident: Option<&str>, index: usize) -> String {
    ident.map_or_else(|| format!("out{index}"), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(params: &[&str], natural: &[&str]) -> Vec<String> {
        let natural: Vec<String> = natural.iter().map(|n| n.to_string()).collect();
        output_names(params, &natural)
    }

    #[test]
    fn documented_cases() {
        assert_eq!(names(&["a"], &["a"]), ["a_1"]);
        assert_eq!(names(&["x"], &["x"]), ["x_1"]);
        assert_eq!(names(&["x"], &["y", "y"]), ["y", "y_1"]);
        assert_eq!(names(&["out0"], &["out0"]), ["out0_1"]);
        assert_eq!(names(&["a", "b"], &["b", "a"]), ["b_1", "a_1"]);
        // A renamed output skips names kept by other outputs and parameters.
        assert_eq!(names(&["y_1"], &["y", "y", "y_2"]), ["y", "y_3", "y_2"]);
        assert_eq!(names(&[], &["weight", "expert"]), ["weight", "expert"]);
        assert_eq!(names(&["a_"], &["a_"]), ["a_1"]);
        assert_eq!(natural_output_name(None, 3), "out3");
        assert_eq!(natural_output_name(Some("w"), 3), "w");
    }

    #[test]
    fn names_are_always_unique() {
        // Every combination of a few colliding names, parameters and outputs alike.
        let pool = ["a", "a_1", "a_2", "out0", "out0_1", "b_", "b_1"];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % n
        };
        for _ in 0..2000 {
            let mut params: Vec<&str> = Vec::new();
            for _ in 0..next(4) {
                let p = pool[next(pool.len())];
                if !params.contains(&p) {
                    params.push(p);
                }
            }
            let natural: Vec<String> = (0..1 + next(5))
                .map(|_| pool[next(pool.len())].to_string())
                .collect();
            let out = output_names(&params, &natural);
            assert_eq!(out.len(), natural.len());
            for (i, name) in out.iter().enumerate() {
                assert!(
                    !params.contains(&name.as_str()),
                    "{params:?} {natural:?} {out:?}"
                );
                assert!(!out[..i].contains(name), "{params:?} {natural:?} {out:?}");
                assert!(!name.contains("__"), "{out:?}");
                // A name is the natural one or the natural one with a suffix.
                assert!(
                    *name == natural[i] || name.starts_with(natural[i].as_str()),
                    "{natural:?} {out:?}"
                );
            }
            // The first output whose natural name is free keeps it.
            if let Some(first) = natural.first() {
                assert_eq!(out[0] == *first, !params.contains(&first.as_str()));
            }
        }
    }
}
