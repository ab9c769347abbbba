//! Generated `mogec` command lines: random subcommands, files, flags and values (good, bad, missing,
//! unreadable, unwritable), from a fixed seed. Whatever the command line, `mogec` must exit with 0,
//! 1 or 2, never 101, 134 or a signal; a failure must end with one `error: ...` line; and no command
//! may change the input files it was given.
//!
//! Tests run as root here, where file modes do not stop anything, so "unwritable" is made from
//! things no mode bit changes: `/dev/full`, a path under a regular file, a directory in the way of
//! an output.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::rng::Rng;

/// The binary under test.
const MOGEC: &str = env!("CARGO_BIN_EXE_mogec");

/// The package root: commands run here.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// How many command lines are generated.
const CASES: usize = 160;

/// A fresh scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli_exit_codes")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// Every file under `dir` with its contents, sorted by path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("listing").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), fs::read(&path).unwrap_or_default()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_generated_command_line_exits_0_1_or_2_with_a_message() {
    let inputs = scratch("inputs");
    // Good inputs for the gate (E = 16, G = 2, T = 3: small, and lowered to Ascend C), made by
    // mogec itself.
    let made = Command::new(MOGEC)
        .args([
            "eval",
            "examples/src/gate.rs",
            "--set",
            "E=16,G=2",
            "--random",
            "5",
            "--dim",
            "T=3",
            "-o",
        ])
        .arg(&inputs)
        .current_dir(ROOT)
        .output()
        .expect("mogec runs");
    assert!(made.status.success(), "{made:?}");
    fs::write(inputs.join("plain"), b"a regular file").expect("write");
    fs::create_dir_all(inputs.join("a_dir.npy")).expect("dir");
    let before = snapshot(&inputs);
    let out = scratch("out");
    let file = |name: &str| inputs.join(name).display().to_string();

    // Commands run in a scratch directory of their own (`-o` defaults to `.`), with every path
    // absolute, so that nothing lands in the package.
    let cwd = scratch("cwd");
    let rooted = |path: &str| Path::new(ROOT).join(path).display().to_string();
    let gate_rs = rooted("examples/src/gate.rs");
    let single_rs = rooted("tests/data/single.rs");
    let good_rs = rooted("tests/data/good.rs");
    let sources: Vec<String> = [
        "examples/src/gate.rs",
        "tests/data/single.rs",
        "tests/data/errors.rs",
        "tests/data/no_kernels.rs",
        "tests/data/not_rust.rs",
        "tests/data/missing.rs",
        "tests/data",
    ]
    .iter()
    .map(|s| rooted(s))
    .chain(["/dev/null".to_string(), String::new()])
    .chain([file("logits.npy"), file("plain")])
    .collect();
    let npy_files: Vec<String> = vec![
        file("logits.npy"),
        file("router_scale.npy"),
        file("weight.npy"),
        file("expert.npy"),
        file("missing.npy"),
        file("a_dir.npy"),
        file("plain"),
        "/dev/null".to_string(),
        good_rs.clone(),
    ];
    let out_dirs: Vec<String> = vec![
        out.join("fresh").display().to_string(),
        out.join("nested").join("deeper").display().to_string(),
        "/dev/full".to_string(),
        inputs.join("plain").join("sub").display().to_string(),
        inputs.join("plain").display().to_string(),
        // The inputs' own directory: outputs named like inputs must be refused, not written.
        inputs.display().to_string(),
        format!("{}/./", inputs.display()),
    ];

    let mut rng = Rng(0x6d6f_6765_2d63_6c69);
    let mut codes = [0usize; 3];
    for case in 0..CASES {
        // Mostly coherent command lines (so that most reach the interpreter, the lowering and the
        // emulator) with bad values mixed in; then, sometimes, a stray flag or a dropped argument.
        let command = match rng.below(20) {
            0..=6 => "eval",
            7..=11 => "run",
            12..=15 => "build",
            16..=17 => "check",
            18 => "demo",
            _ => "frob",
        };
        let gate = rng.chance(70, 100);
        let mut args: Vec<String> = vec![command.to_string()];
        if command != "demo" {
            args.push(if rng.chance(80, 100) {
                if gate {
                    gate_rs.clone()
                } else {
                    single_rs.clone()
                }
            } else {
                sources[rng.below(sources.len())].clone()
            });
        }
        let push = |args: &mut Vec<String>, flag: &str, value: String| {
            args.push(flag.to_string());
            args.push(value);
        };
        if matches!(command, "build" | "eval" | "run") {
            let set = if rng.chance(80, 100) {
                if gate {
                    "E=16,G=2"
                } else {
                    "N=3"
                }
            } else {
                *rng.pick(&[
                    "E=8,G=2",
                    "E=-1",
                    "E=x",
                    "E=8",
                    "G=0",
                    "E=0,G=0",
                    "E=1099511627776",
                    "E=16,G=3",
                    "=3",
                    "E",
                ])
            };
            push(&mut args, "--set", set.to_string());
            if rng.chance(20, 100) {
                let kernel = *rng.pick(&["moge_gate", "affine_relu", "gate", "nope", ""]);
                push(&mut args, "--kernel", kernel.to_string());
            }
            if rng.chance(85, 100) {
                let out = out_dirs[rng.below(out_dirs.len())].clone();
                push(&mut args, "-o", out);
            }
        }
        if command == "build" && rng.chance(80, 100) {
            let emit = *rng.pick(&[
                "graph",
                "ascendc,manifest",
                "kir",
                "graph,ascendc,manifest,kir",
                "bogus",
                "",
            ]);
            push(&mut args, "--emit", emit.to_string());
        }
        if matches!(command, "build" | "run") && rng.chance(20, 100) {
            let target = *rng.pick(&["ascend910b2", "ascend910b4", "nope"]);
            push(&mut args, "--target", target.to_string());
        }
        if command == "run" && rng.chance(20, 100) {
            let backend = *rng.pick(&["emulator", "acl", "gpu"]);
            push(&mut args, "--backend", backend.to_string());
        }
        if matches!(command, "eval" | "run") {
            let dims = [
                "T=3",
                "T=3",
                "T=2",
                "T=0",
                "U=1",
                "T=-3",
                "T=99999999999",
                "T=16000000",
                "E=8",
            ];
            if rng.chance(50, 100) {
                let seed = *rng.pick(&["1", "1", "0", "x", "18446744073709551615"]);
                push(&mut args, "--random", seed.to_string());
                if rng.chance(90, 100) {
                    push(&mut args, "--dim", rng.pick(&dims).to_string());
                }
            } else {
                let params: &[&str] = if gate {
                    &["logits", "router_scale"]
                } else {
                    &["x", "bias"]
                };
                for &param in params {
                    if rng.chance(90, 100) {
                        let path = if rng.chance(70, 100) && gate {
                            file(&format!("{param}.npy"))
                        } else {
                            npy_files[rng.below(npy_files.len())].clone()
                        };
                        push(&mut args, "--input", format!("{param}={path}"));
                    }
                }
                if rng.chance(30, 100) {
                    push(&mut args, "--dim", rng.pick(&dims).to_string());
                }
            }
        }
        if rng.chance(15, 100) {
            let stray = *rng.pick(&[
                "--frob", "extra", "--random", "--input", "-o", "--set", "--emit",
            ]);
            let at = 1 + rng.below(args.len());
            args.insert(at.min(args.len()), stray.to_string());
        }
        if rng.chance(5, 100) && args.len() > 2 {
            let at = 1 + rng.below(args.len() - 1);
            args.remove(at);
        }
        // A small budget keeps generated runs quick; sometimes a variable is bad on purpose.
        let mut env: Vec<(&str, &str)> = vec![("MOGE_MEMORY_LIMIT", "256M")];
        if rng.chance(10, 100) {
            env.push(*rng.pick(&[
                ("MOGE_EMU_TIMEOUT_SECS", "abc"),
                ("MOGE_EMU_TIMEOUT_SECS", "0"),
                ("MOGE_MEMORY_LIMIT", "1M"),
                ("MOGE_CACHE_DIR", ""),
            ]));
        }
        let out_before = snapshot(&out);
        let cwd_before = snapshot(&cwd);
        let output = Command::new(MOGEC)
            .args(&args)
            .envs(env.iter().copied())
            .current_dir(&cwd)
            .output()
            .expect("mogec runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let context = format!("case {case}: {env:?} mogec {args:?}\nstderr: {stderr}");
        let code = output.status.code();
        assert!(
            matches!(code, Some(0..=2)),
            "exit status {code:?} (a signal if None): {context}"
        );
        assert!(!stderr.contains("panicked"), "{context}");
        if code != Some(0) {
            let last = stderr.lines().last().unwrap_or_default();
            assert!(
                last.starts_with("error: ") && last.len() > "error: ".len(),
                "a failure ends with `error: MESSAGE`: {context}"
            );
        }
        // A failure leaves no file behind (a run beyond tolerance is a failure that reports).
        if code != Some(0) && !stderr.contains("beyond tolerance") {
            assert!(snapshot(&out) == out_before, "files left behind: {context}");
            assert!(snapshot(&cwd) == cwd_before, "files left behind: {context}");
        }
        // Every file given as an input is as it was. (Outputs may land in the inputs' directory
        // when they replace no input of this command; the directory is restored afterwards.)
        let given: Vec<&str> = args
            .windows(2)
            .filter(|pair| pair[0] == "--input")
            .filter_map(|pair| pair[1].split_once('=').map(|(_, path)| path))
            .chain(args.get(1).map(String::as_str))
            .collect();
        for (path, contents) in &before {
            if given.iter().any(|g| Path::new(g) == path.as_path()) {
                let now = fs::read(path).unwrap_or_default();
                assert!(now == *contents, "input {path:?} changed: {context}");
            }
        }
        for (path, contents) in &before {
            if fs::read(path).ok().as_ref() != Some(contents) {
                fs::write(path, contents).expect("restore an input");
            }
        }
        codes[code.unwrap_or(0) as usize] += 1;
    }
    // The generator reaches every outcome, so the assertions above were exercised.
    assert!(
        codes.iter().all(|&n| n > 0),
        "exit statuses 0/1/2: {codes:?}"
    );
}
