//! Generated kernels whose only parameter axis mentioning the dynamic dim `T` is an expression of it
//! (affine forms, quotients, products with a static dim): each must be refused by `check` with a
//! located error, or be solvable from its input shape, by the interpreter (`eval`) and by the launch
//! (`run`) alike, with a `T` that gives the input's shape back. A sample runs on the emulator.

use std::panic::{self, AssertUnwindSafe};

use moge::run::check_program;
use moge_codegen_ascendc::compile_program;
use moge_lower::interp::{bind_dims, eval, random_inputs};
use moge_lower::target::Target;
use moge_runtime::backend::EmulatorBackend;
use moge_runtime::launch::plan;

use crate::rng::Rng;

/// Kernels of the sample that also run on the emulator (each compiles a C++ program).
const EMULATED: usize = 3;

/// A random dim expression of `T` and the static dim `N`.
fn dim_expr(rng: &mut Rng) -> String {
    let a = 1 + rng.below(4);
    let b = rng.below(6);
    let d = 2 + rng.below(5);
    let e = 2 + rng.below(5);
    match rng.below(10) {
        0 => format!("{a} * T + {b}"),
        1 => format!("T / {d}"),
        2 => format!("({a} * T + {b}) / {d}"),
        3 => format!("{a} * N * T + {b}"),
        4 => format!("T / {d} + T / {e}"),
        5 => format!("N * (T / {d})"),
        6 => format!("(T + {b}) / N"),
        7 => format!("T * T + {b}"),
        8 => format!("T / {d} * {e} + N"),
        _ => format!("(T / {d} + {b}) / {e}"),
    }
}

#[test]
fn a_dim_written_through_an_expression_is_refused_at_check_or_solved_everywhere() {
    let mut rng = Rng(0x0D1_5017);
    let target = Target::default();
    let backend = EmulatorBackend::default();
    let (mut solved, mut refused, mut emulated) = (0, 0, 0);
    for index in 0..120 {
        let expr = dim_expr(&mut rng);
        let src = format!(
            "#[moge::kernel]\npub fn k{index}<const N: usize>(x: Tensor<f32, {{({expr}, 4)}}>) -> Tensor<f32, {{({expr}, 4)}}> {{\n    x * 2.0\n}}\n"
        );
        let file = moge_dsl::check_source(&src).unwrap_or_else(|d| panic!("{expr}: {}", d.message));
        let kernel = match &file.kernels[0].result {
            Ok(kernel) => kernel,
            Err(diags) => {
                // A refusal must say why, at the dim.
                assert!(
                    diags.iter().any(|d| d.message.contains("makes this dim a size")
                        && d.line_col().0 == 2),
                    "{expr}: {:?}",
                    diags.iter().map(|d| &d.message).collect::<Vec<_>>()
                );
                refused += 1;
                continue;
            }
        };
        let n = 1 + rng.below(5) as i64;
        let specialized = kernel
            .specialize(&[("N", n)])
            .unwrap_or_else(|e| panic!("{expr} with N = {n}: {e}"));
        // The first T from a random start that the expression is defined at (its quotients divide).
        let start = rng.below(50) as i64;
        let seed = rng.next();
        let picked = (start..start + 4096).find_map(|t| {
            random_inputs(&specialized, seed, &[("T", t)])
                .ok()
                .map(|inputs| (t, inputs))
        });
        // `check` refuses a dim no T makes a size, so one that checked must have some.
        let Some((t, inputs)) = picked else {
            panic!(
                "`{expr}` with N = {n} checks, but no T in {start}..{} gives a shape",
                start + 4096
            );
        };
        let size = inputs[0].shape[0];
        let context = format!("`{expr}` with N = {n}, T = {t} (axis {size})");
        // The interpreter: the T it binds gives the same axis back, and the kernel evaluates.
        let bound = bind_dims(&specialized, &inputs).unwrap_or_else(|e| panic!("{context}: {e}"));
        let t_eval = bound[0].1;
        let again = random_inputs(&specialized, 0, &[("T", t_eval)])
            .unwrap_or_else(|e| panic!("{context}: the bound T = {t_eval} gives no shape: {e}"));
        assert_eq!(
            again[0].shape, inputs[0].shape,
            "{context}: bound T = {t_eval}"
        );
        eval(&specialized, &inputs).unwrap_or_else(|e| panic!("{context}: eval: {e}"));
        // The launch binds the same T from the manifest's expressions.
        let program = compile_program(&specialized, &target)
            .unwrap_or_else(|e| panic!("{context}: lowering: {e}"));
        let launch = plan(&program.manifest, &inputs).unwrap_or_else(|e| panic!("{context}: {e}"));
        assert_eq!(
            launch.dims,
            vec![(moge_lower::Symbol::intern("T"), t_eval)],
            "{context}"
        );
        if emulated < EMULATED && size > 0 {
            emulated += 1;
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                check_program(&specialized, &program, &inputs, &backend).map_err(Box::new)
            }))
            .unwrap_or_else(|_| panic!("{context}: the run panicked"));
            let checked = outcome.unwrap_or_else(|e| panic!("{context}: run: {e}"));
            assert!(
                checked.passed(),
                "{context}: emulator and interpreter disagree"
            );
        }
        solved += 1;
    }
    eprintln!("dim expressions: {solved} solved, {refused} refused at check, {emulated} emulated");
    assert!(solved >= 60, "only {solved} solved");
    // The generator writes some never-exact quotients (`(4 * T + 5) / 4`).
    assert!(refused >= 1, "no dim was refused");
}
