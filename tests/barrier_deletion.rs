//! Every `PipeBarrier<PIPE_V>` the compiler emits is needed, and the emulator proves it: each example is
//! built with `mogec build`, its generated Ascend C is edited so that any one barrier can be left out (a
//! switch read from the environment, so the kernel compiles once), and `mogec run DIR` must report a
//! data race naming the missing `PipeBarrier<PIPE_V>` for every barrier left out, while the unedited
//! kernel runs clean and matches the interpreter. The same deletions at the kernel-IR level are caught
//! by the hazard verifier (`examples_on_kernel_ir_v2_are_synchronized_and_every_sync_is_needed`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const MOGEC: &str = env!("CARGO_BIN_EXE_mogec");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The environment variable the edited kernel reads: the number of the barrier to leave out.
const SKIP_VAR: &str = "MOGE_TEST_DELETED_BARRIER";
const BARRIER: &str = "AscendC::PipeBarrier<PIPE_V>();";
/// What the edited kernel prints when it reaches the barrier it leaves out.
const REACHED: &str = "moge-test: the deleted barrier was reached";

/// Exit status and stdout + stderr of one `mogec` run in the package root, with `env` set.
fn mogec(args: &[&str], env: &[(&str, String)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(MOGEC);
    cmd.args(args).current_dir(ROOT);
    // The default checking mode is the full one; make sure an outer setting does not weaken it.
    cmd.env_remove("MOGE_EMU_CHECK");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let output = cmd.output().expect("the mogec binary runs");
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("barrier_deletion")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Rewrites every `PipeBarrier<PIPE_V>` statement of `source` into one that is skipped when the
/// environment names its number; returns the new source, how many barriers it has, and how many of
/// them are in the helper functions printed before the kernel (the rest are the sync pass's).
fn switchable(source: &str) -> (String, usize, usize) {
    let mut out = String::new();
    let mut n = 0;
    let mut helpers = None;
    let mut included = false;
    for line in source.lines() {
        if line.starts_with("extern \"C\" __global__") {
            helpers.get_or_insert(n);
        }
        if line.trim() == BARRIER {
            let indent = &line[..line.len() - line.trim_start().len()];
            out += &format!("{indent}if (moge_test_keep_barrier({n})) {BARRIER}\n");
            n += 1;
            continue;
        }
        out += line;
        out += "\n";
        if !included && line.starts_with("#include \"kernel_operator.h\"") {
            included = true;
            out += &format!(
                "#include <cstdio>\n\
                 #include <cstdlib>\n\
                 // Test switch: barrier number ${SKIP_VAR} is left out (and says so when reached).\n\
                 static bool moge_test_keep_barrier(int n) {{\n\
                 \x20   static const char* skip = std::getenv(\"{SKIP_VAR}\");\n\
                 \x20   if (skip == nullptr || std::atoi(skip) != n) {{\n\
                 \x20       return true;\n\
                 \x20   }}\n\
                 \x20   std::fprintf(stderr, \"{REACHED}\\n\");\n\
                 \x20   return false;\n\
                 }}\n"
            );
        }
    }
    assert!(included, "the kernel includes kernel_operator.h");
    (out, n, helpers.expect("the kernel entry point"))
}

/// What leaving out the barriers of one example showed.
struct Deletions {
    /// Barriers the sync pass placed in the kernel body (each reached and reported).
    body: usize,
    /// Barriers inside the helper functions, and how many of them this shape reaches (each reported).
    helpers: usize,
    helpers_reached: usize,
}

/// Builds one example into a fresh directory, makes its barriers switchable, and checks that the
/// kernel runs clean with all of them and that each one left out is reported as a V->V race.
fn every_barrier_is_needed(
    name: &str,
    file: &str,
    kernel: &str,
    set: &str,
    dim: &str,
) -> Deletions {
    let dir = scratch(name);
    let dir_arg = dir.to_str().expect("UTF-8 scratch path");
    let (code, out) = mogec(
        &[
            "build",
            &format!("examples/src/{file}"),
            "--kernel",
            kernel,
            "--set",
            set,
            "--emit",
            "graph,ascendc,manifest",
            "-o",
            dir_arg,
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    let cpps: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cpp"))
        .collect();
    assert_eq!(cpps.len(), 1, "{cpps:?}");
    let (source, count, helpers) = switchable(&fs::read_to_string(&cpps[0]).unwrap());
    fs::write(&cpps[0], source).unwrap();
    let out_dir = dir.join("out");
    let out_arg = out_dir.to_str().expect("UTF-8 scratch path");
    let run = |skip: Option<usize>| {
        mogec(
            &["run", dir_arg, "--random", "1", "--dim", dim, "-o", out_arg],
            &skip.map_or(vec![], |n: usize| {
                vec![
                    (SKIP_VAR, n.to_string()),
                    ("MOGE_EMU_ECHO", "1".to_string()),
                ]
            }),
        )
    };
    let (code, out) = run(None);
    assert_eq!(
        code,
        Some(0),
        "{name}: the kernel with every barrier: {out}"
    );
    assert!(out.contains("every output matches"), "{name}: {out}");
    let mut helpers_reached = 0;
    for n in 0..count {
        let (code, out) = run(Some(n));
        if !out.contains(REACHED) {
            // A helper's barrier on a path this shape does not take (such as the long-segment branch
            // of a reduction) changes nothing; every barrier of the kernel body is reached.
            assert!(
                n < helpers,
                "{name}: barrier {n} of the kernel body was not reached: {out}"
            );
            continue;
        }
        helpers_reached += usize::from(n < helpers);
        assert_ne!(
            code,
            Some(0),
            "{name}: barrier {n} left out went unnoticed: {out}"
        );
        assert!(
            out.contains("data race on UB")
                && out.contains("V instruction #")
                && out.contains("(needs PipeBarrier<PIPE_V>)"),
            "{name}: barrier {n} left out: {out}"
        );
    }
    Deletions {
        body: count - helpers,
        helpers,
        helpers_reached,
    }
}

impl Deletions {
    /// Asserts at least `body` barriers in the kernel body and `helpers` reached in the helpers (each
    /// reported when left out), and says how many there were.
    fn at_least(&self, name: &str, body: usize, helpers: usize) {
        assert!(self.body >= body, "{name}: {} body barriers", self.body);
        assert!(
            self.helpers_reached >= helpers,
            "{name}: {} of {} helper barriers reached",
            self.helpers_reached,
            self.helpers
        );
        eprintln!(
            "{name}: {} body barriers; helper barriers reached and reported: {} of {}",
            self.body, self.helpers_reached, self.helpers
        );
    }
}

#[test]
fn every_vector_barrier_of_the_example_gate_is_needed_on_the_emulator() {
    // T = 4700 rows over 48 cores is 97-98 rows a core, more than the 96 of a tile: two equal tiles
    // of 49 (or 48 and 49), so the loop-carried barriers (the previous tile's reads before this
    // tile's writes) are exercised. The gate's helpers: the segmented expansion (the direct Brcb),
    // application, the rows' two-step BlockReduce and gather are all taken.
    every_barrier_is_needed("gate", "gate.rs", "moge_gate", "E=64,G=8", "T=4700")
        .at_least("gate", 20, 5);
}

#[test]
fn every_vector_barrier_of_the_example_softmax_and_rmsnorm_is_needed_on_the_emulator() {
    // N = 100 takes the short-stride branch of the long-segment reduction, H = 5120 the other one.
    // Every core takes two full tiles (68 rows of N = 100, 2 rows of H = 5120), so that the
    // loop-carried barriers order overlapping bytes.
    every_barrier_is_needed("softmax", "softmax.rs", "softmax_f32", "N=100", "T=6528")
        .at_least("softmax", 4, 2);
    every_barrier_is_needed("rmsnorm", "rmsnorm.rs", "rmsnorm", "H=5120", "T=192")
        .at_least("rmsnorm", 10, 2);
}

#[test]
fn every_vector_barrier_of_the_router_mix_kernel_is_needed_on_the_emulator() {
    // The router is one MIX kernel: the gate runs on the AIVs as the matmul's epilogue. T = 4400 is
    // 25 AIC tiles of 176 rows over 24 AI cores: the first core takes two, so the loop-carried
    // barriers (the previous tile's reads before this tile's writes) are exercised too.
    every_barrier_is_needed(
        "router",
        "router.rs",
        "moge_router",
        "H=256,E=64,G=8",
        "T=4400",
    )
    .at_least("router", 20, 5);
}
