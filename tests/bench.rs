//! `mogec bench` and `--timing-only`, as a user sees them: the table, bench.csv and bench.svg of a
//! sweep checked against plain `mogec run`s of the same sizes (an independent path to the same
//! figures), bad input, and the emulator's trace in timing-only mode compared record by record with
//! the trace of a full run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use moge::run::{RunError, RunOptions};
use moge_codegen_ascendc::compile_program;
use moge_lower::graph::Kernel;
use moge_lower::interp;
use moge_lower::target::Target;
use moge_runtime::backend::{Backend, EmulatorBackend};
use moge_runtime::launch::{self, ProgramRef};
use moge_runtime::model::trace::Trace;
use serde_json::Value;

const MOGEC: &str = env!("CARGO_BIN_EXE_mogec");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bench")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// `mogec bench` with `args`, from the repository root.
fn bench(args: &[&str]) -> Output {
    Command::new(MOGEC)
        .arg("bench")
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap()
}

/// `mogec run` with `args`, from the repository root.
fn run(args: &[&str]) -> Output {
    Command::new(MOGEC)
        .arg("run")
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The softmax example at N = 64, the arguments every case here shares.
const SOFTMAX: [&str; 5] = [
    "examples/src/softmax.rs",
    "--kernel",
    "softmax_f32",
    "--set",
    "N=64",
];

#[test]
fn a_sweep_writes_one_row_and_one_point_per_size_with_the_figures_of_plain_runs() {
    let dir = scratch("softmax");
    let out = dir.join("sweep");
    let mut args = SOFTMAX.to_vec();
    // Given out of order: run, written and plotted in ascending order.
    args.extend(["--dim", "T=64,1,16", "-o", out.to_str().unwrap()]);
    let output = bench(&args);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("modeled us"), "{stdout}");
    assert!(stdout.contains("not measured"), "{stdout}");

    let csv = fs::read_to_string(out.join("bench.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "T,modeled_time_us,bound,gm_bytes,hbm_bytes,compulsory_bytes,emulator_ms,roofline_us,status,kernel,target,timing_only,static_dims"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    for (line, t) in lines[1..].iter().zip(["1", "16", "64"]) {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 13, "{line}");
        assert_eq!(cells[0], t);
        assert_eq!(cells[8], "ok");
        // What was modeled, in every row.
        assert_eq!(
            cells[9..],
            ["softmax_f32", "ascend910b2", "false", "N=64"],
            "{line}"
        );
        // The same size through `mogec run`: its report.json states the same figures.
        let run_dir = dir.join(format!("run-{t}"));
        let dim = format!("T={t}");
        let mut run_args = SOFTMAX.to_vec();
        run_args.extend([
            "--random",
            "1",
            "--dim",
            &dim,
            "-o",
            run_dir.to_str().unwrap(),
        ]);
        let ran = run(&run_args);
        assert!(ran.status.success(), "{}", text(&ran));
        let report = read_json(&run_dir.join("report.json"));
        let modeled = &report["modeled"];
        let time: f64 = cells[1].parse().unwrap();
        assert_eq!(Some(time), modeled["time_us"].as_f64(), "T = {t}");
        assert_eq!(Some(cells[2]), modeled["bound"].as_str(), "T = {t}");
        let gm = report["gm_bytes_read"].as_u64().unwrap()
            + report["gm_bytes_written"].as_u64().unwrap();
        assert_eq!(cells[3], gm.to_string(), "T = {t}");
        let hbm = modeled["hbm_bytes_read"].as_u64().unwrap()
            + modeled["hbm_bytes_written"].as_u64().unwrap();
        assert_eq!(cells[4], hbm.to_string(), "T = {t}");
        // Compulsory: x read once and y written once, T x 64 floats each.
        let compulsory = 2 * 64 * 4 * t.parse::<u64>().unwrap();
        assert_eq!(cells[5], compulsory.to_string(), "T = {t}");
        assert_eq!(report["compulsory_bytes"].as_u64(), Some(compulsory));
        assert!(cells[6].parse::<f64>().unwrap() > 0.0, "{line}");
        // The roofline: one launch (2.5 us) plus the compulsory bytes at 1.6 TB/s or more: never
        // above the launch plus those bytes at 1 TB/s, never below the launch.
        let roofline: f64 = cells[7].parse().unwrap();
        assert!(
            roofline >= 2.5 && roofline <= 2.5 + compulsory as f64 / 1e6,
            "{line}"
        );
    }

    let svg = fs::read_to_string(out.join("bench.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("bench.svg is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let xs: Vec<f64> = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle") && n.attribute("class") == Some("modeled"))
        .map(|n| n.attribute("cx").unwrap().parse().unwrap())
        .collect();
    assert_eq!(xs.len(), 3, "{svg}");
    assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
    let rooflines = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("roofline"))
        .count();
    assert_eq!(rooflines, 3);
    // 1..64 spans more than 10x: a log axis, labeled so.
    assert!(svg.contains("T (log)"), "{svg}");

    // The same sweep again into the same directory: allowed (it holds only a bench's files), and
    // the same SVG byte for byte (it holds no host times).
    let again = bench(&args);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(svg, fs::read_to_string(out.join("bench.svg")).unwrap());
}

#[test]
fn bad_sweeps_are_usage_errors_naming_what_was_wrong() {
    let dir = scratch("bad");
    let out = dir.join("out");
    let cases: [(&[&str], &str); 9] = [
        (
            &["--dim", "X=1,2"],
            "no dynamic dim `X`; its dynamic dims are `T`",
        ),
        (&["--dim", "T="], "nothing after `=`"),
        (&["--dim", "T=1,,8"], "empty entry"),
        (
            &["--dim", "T=1,eight"],
            "positive integers below 2^40 (1099511627776), found `eight`",
        ),
        (
            &["--dim", "T=99999999999999999999"],
            "below 2^40 (1099511627776), found `99999999999999999999`",
        ),
        (&["--dim", "T=0,8"], "at least 1"),
        (&["--dim", "T=8,8"], "8 twice"),
        (&["--dim", "T=1", "--dim", "T=8"], "--dim T is given twice"),
        (&["--target", "ascend310p"], "unknown target"),
    ];
    for (extra, message) in cases {
        let mut args = SOFTMAX.to_vec();
        args.extend(["-o", out.to_str().unwrap()]);
        args.extend_from_slice(extra);
        let output = bench(&args);
        let all = text(&output);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {all}");
        assert!(all.contains(message), "{extra:?}: {all}");
        assert!(!all.contains("panicked"), "{all}");
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    }

    // A kernel without a default sweep, and no --dim: the dims to sweep are named.
    let source = fs::read_to_string(Path::new(ROOT).join("examples/src/softmax.rs"))
        .unwrap()
        .replace("softmax_f32", "my_softmax");
    let file = dir.join("mine.rs");
    fs::write(&file, source).unwrap();
    let output = bench(&[
        file.to_str().unwrap(),
        "--kernel",
        "my_softmax",
        "--set",
        "N=64",
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("kernel `my_softmax` has no default sweep: give the sizes of one of its dynamic dims (`T`)"),
        "{}",
        text(&output)
    );

    // An output directory holding something else is not a bench's: refused, left alone.
    let busy = dir.join("busy");
    fs::create_dir_all(&busy).unwrap();
    fs::write(busy.join("notes.txt"), "mine").unwrap();
    let mut args = SOFTMAX.to_vec();
    args.extend(["--dim", "T=1,2", "-o", busy.to_str().unwrap()]);
    let output = bench(&args);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("holds `notes.txt`, which no bench wrote"),
        "{}",
        text(&output)
    );
    assert!(!busy.join("bench.csv").exists());
}

#[test]
fn a_two_dim_kernel_given_one_size_per_dim_is_told_to_give_one_as_a_list() {
    let dir = scratch("two-dims");
    let file = dir.join("rows.rs");
    fs::write(
        &file,
        "#[moge::kernel]\npub fn rows(x: Tensor<f32, (R, C)>) -> Tensor<f32, (R, C)> {\n    softmax(x, -1)\n}\n",
    )
    .unwrap();
    let out = dir.join("out");
    let output = bench(&[
        file.to_str().unwrap(),
        "--dim",
        "R=8",
        "--dim",
        "C=64",
        "-o",
        out.to_str().unwrap(),
    ]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(
        all.contains("every --dim has one size: give one of them as a list of sizes to sweep, e.g. --dim R=1,8,64"),
        "{all}"
    );
    assert!(!out.exists());
}

/// Output directories a sweep could not write into: each refused at once, before any size runs
/// (the table, printed after the sweep, never appears), naming the directory.
#[test]
fn a_bad_output_directory_is_refused_before_the_sweep() {
    let dir = scratch("bad-out");
    let file = dir.join("a-file");
    fs::write(&file, "not a directory").unwrap();
    let csv_dir = dir.join("csv-dir");
    fs::create_dir_all(csv_dir.join("bench.csv")).unwrap();
    // Another kernel's bench: softmax_bf16's sweep in the directory softmax_f32 is told to use.
    let other = dir.join("other");
    let mut args = vec![
        "examples/src/softmax.rs",
        "--kernel",
        "softmax_bf16",
        "--set",
        "N=64",
    ];
    args.extend([
        "--timing-only",
        "--dim",
        "T=1",
        "-o",
        other.to_str().unwrap(),
    ]);
    let first = bench(&args);
    assert!(first.status.success(), "{}", text(&first));
    let uncreatable = file.join("sub");
    let cases: [(&Path, &str); 5] = [
        (&file, "exists and is not a directory"),
        (Path::new("/dev/null"), "exists and is not a directory"),
        (&uncreatable, "cannot create the output directory"),
        (
            &csv_dir,
            "`bench.csv` in the output directory is not a regular file",
        ),
        (
            &other,
            "holds the bench of kernel `softmax_bf16`, not `softmax_f32`",
        ),
    ];
    for (out, message) in cases {
        let mut args = SOFTMAX.to_vec();
        args.extend([
            "--timing-only",
            "--dim",
            "T=1,2",
            "-o",
            out.to_str().unwrap(),
        ]);
        let output = bench(&args);
        let all = text(&output);
        assert_eq!(output.status.code(), Some(2), "{}: {all}", out.display());
        assert!(all.contains(message), "{}: {all}", out.display());
        assert!(all.contains(&format!("-o {}", out.display())), "{all}");
        assert!(!all.contains("modeled us"), "the sweep ran: {all}");
    }
    assert!(!uncreatable.exists());
}

#[test]
fn a_size_that_fails_is_a_row_with_its_reason_and_the_sweep_goes_on() {
    let dir = scratch("failing");
    let out = dir.join("out");
    // 2^33 rows cannot be indexed by a kernel (32-bit counts): refused before anything is allocated.
    let output = bench(&[
        "examples/src/matmul.rs",
        "--kernel",
        "gemm",
        "--set",
        "K=32,N=32",
        "--dim",
        "M=8589934592,16",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("1 of 2 sizes failed"),
        "{}",
        text(&output)
    );
    let csv = fs::read_to_string(out.join("bench.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    // Ascending: 16 first, though given last.
    assert!(
        lines[1].starts_with("16,") && lines[1].ends_with(",ok,gemm,ascend910b2,false,K=32;N=32"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with("8589934592,,,,,,,,\"failed: "),
        "{csv}"
    );
    assert!(
        lines[2].contains("more than the kernels can index"),
        "{csv}"
    );
    let svg = fs::read_to_string(out.join("bench.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let points = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("modeled"))
        .count();
    assert_eq!(points, 1);
}

/// The trace of every device kernel of `kernel` at `dims`, launched on the emulator with the
/// timeline kept, with or without the arithmetic.
fn traces(kernel: &Kernel, dims: &[(&str, i64)], timing_only: bool) -> Vec<Trace> {
    let program = compile_program(kernel, &Target::default()).unwrap();
    let inputs = interp::random_inputs(kernel, 7, dims).unwrap();
    let backend = EmulatorBackend {
        model: true,
        timeline: true,
        timing_only,
    };
    let sources = launch::program_sources(&program);
    let backend: &dyn Backend = &backend;
    let launched = launch::launch(
        ProgramRef::new(&program.manifest, &sources).unwrap(),
        &inputs,
        backend,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    launched
        .report
        .kernels
        .into_iter()
        .map(|k| {
            let model = k.modeled.expect("modeled");
            model.timeline.expect("the timeline was kept").0
        })
        .collect()
}

/// What a trace case is, the kernel, and its dynamic dims.
type Case = (&'static str, Kernel, &'static [(&'static str, i64)]);

#[test]
fn timing_only_traces_equal_full_traces_record_for_record() {
    use moge_examples::matmul::{gemm, linear_relu};
    use moge_examples::softmax::softmax_f32;
    let cases: [Case; 3] = [
        ("vector", softmax_f32::<256>::graph().unwrap(), &[("T", 40)]),
        ("matmul", gemm::<256, 192>::graph().unwrap(), &[("M", 80)]),
        (
            "MIX",
            linear_relu::<128, 160>::graph().unwrap(),
            &[("M", 48)],
        ),
    ];
    for (what, kernel, dims) in cases {
        let full = traces(&kernel, dims, false);
        let timing = traces(&kernel, dims, true);
        assert!(!full.is_empty(), "{what}");
        assert_eq!(full.len(), timing.len(), "{what}");
        for (f, t) in full.iter().zip(&timing) {
            let records: usize = f.cores.iter().map(|c| c.instrs.len()).sum();
            assert!(records > 10, "{what}: {records} records");
            assert_eq!(f, t, "{what}: the timing-only trace differs");
        }
    }
}

#[test]
fn timing_only_runs_write_only_the_report_and_say_nothing_was_compared() {
    let dir = scratch("timing-only");
    let full = dir.join("full");
    let timing = dir.join("timing");
    let mut args = SOFTMAX.to_vec();
    args.extend(["--random", "1", "--dim", "T=96", "-o"]);
    let ran = run(&[&args[..], &[full.to_str().unwrap()]].concat());
    assert!(ran.status.success(), "{}", text(&ran));
    let ran = run(&[&args[..], &[timing.to_str().unwrap(), "--timing-only"]].concat());
    assert!(ran.status.success(), "{}", text(&ran));
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        stdout.contains("timing-only: no arithmetic was done"),
        "{stdout}"
    );
    assert!(!stdout.contains("max abs err"), "{stdout}");
    let names: Vec<String> = fs::read_dir(&timing)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.json"]);
    let report = read_json(&timing.join("report.json"));
    assert_eq!(report["timing_only"], Value::Bool(true));
    assert_eq!(report["compared"], Value::Bool(false));
    // Nothing compared: not a vacuous `"passed": true`.
    assert_eq!(report["passed"], Value::Null);
    assert_eq!(report["outputs"], serde_json::json!({}));
    let full_report = read_json(&full.join("report.json"));
    assert_eq!(full_report["timing_only"], Value::Bool(false));
    assert_eq!(full_report["passed"], Value::Bool(true));
    assert_eq!(report["modeled"], full_report["modeled"]);
    assert_eq!(report["gm_bytes_read"], full_report["gm_bytes_read"]);

    // No --random and no --input: the inputs are never read, --dim gives their shapes.
    let bare = dir.join("bare");
    let ran = run(&[
        &SOFTMAX[..],
        &[
            "--dim",
            "T=96",
            "--timing-only",
            "-o",
            bare.to_str().unwrap(),
        ],
    ]
    .concat());
    assert!(ran.status.success(), "{}", text(&ran));
    let bare_report = read_json(&bare.join("report.json"));
    assert_eq!(bare_report["modeled"], full_report["modeled"]);
}

#[test]
fn timing_only_refuses_kernels_whose_control_flow_reads_tensor_data() {
    use moge_examples::ffn::moge_ffn;
    let kernel = moge_ffn::<256, 16, 4, 64, 128>::graph().unwrap();
    let options = RunOptions {
        timing_only: true,
        ..RunOptions::default()
    };
    let dir = scratch("refused");
    let inputs = moge::run::RunInputs::Random {
        seed: 1,
        dims: vec![("T".to_string(), 8)],
    };
    let err = moge::run::run_program(&kernel, inputs, &dir, &options).unwrap_err();
    assert!(
        matches!(&err, RunError::TimingOnlyDataDependent { kernel } if kernel.starts_with("moge_ffn_k")),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("reads values from tensors (GetValue)"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 2);
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn every_default_sweep_names_an_example_kernel_and_one_of_its_dynamic_dims() {
    let dir = Path::new(ROOT).join("examples/src");
    let sources: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    for (kernel, dim, sizes) in moge::bench::DEFAULT_SWEEPS {
        let signature = sources
            .iter()
            .find_map(|s| {
                let start = s.find(&format!("pub fn {kernel}<"))?;
                let end = start + s[start..].find('{')?;
                Some(s[start..end].to_string())
            })
            .unwrap_or_else(|| panic!("no example kernel `{kernel}`"));
        // The dim is a dynamic dim: in a shape, not a const generic.
        assert!(
            signature.contains(&format!("({dim},")),
            "{kernel}: {signature}"
        );
        assert!(!signature.contains(&format!("const {dim}:")), "{kernel}");
        assert!(
            sizes.len() >= 3 && sizes.windows(2).all(|w| w[0] < w[1]),
            "{kernel}"
        );
    }
}
