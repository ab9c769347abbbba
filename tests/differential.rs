//! Differential tests: the Ascend C that `moge-codegen-ascendc` emits, run on moge's emulator, against
//! the reference interpreter, over shape matrices (T = 0, 1, odd, tile and core multiples +- 1).
//!
//! The kernels are the `.graph` inputs of the codegen snapshot tests. This file also holds the small
//! manifest-level launcher the tests need (bind the dims from the input shapes, evaluate the block dim and
//! the tiling fields, lay the tensors out as GM bytes).

use std::path::Path;

use moge_codegen_ascendc::{compile_program, Program};
use moge_lower::graph::parse::parse_kernel;
use moge_lower::graph::{DType, Kernel};
use moge_lower::interp::{eval, random_inputs, Tensor};
use moge_lower::kir::Expr;
use moge_lower::target::Target;
use moge_runtime::emulator::{launch_raw, GmArg, RawLaunch};

fn load(stem: &str, binds: &[(&str, i64)]) -> Kernel {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("codegen-ascendc/tests/in/{stem}.graph"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let k = parse_kernel(&text).unwrap_or_else(|e| panic!("{stem}: {e}"));
    k.specialize(binds)
        .unwrap_or_else(|e| panic!("{stem}: {e}"))
}

fn tensor_bytes(t: &Tensor) -> Vec<u8> {
    let mut out = Vec::new();
    match t.dtype {
        DType::F32 => t
            .as_f32()
            .unwrap_or_default()
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        DType::BF16 => t
            .as_f32()
            .unwrap_or_default()
            .iter()
            .for_each(|v| out.extend(half::bf16::from_f32(*v).to_bits().to_le_bytes())),
        DType::F16 => t
            .as_f32()
            .unwrap_or_default()
            .iter()
            .for_each(|v| out.extend(half::f16::from_f32(*v).to_bits().to_le_bytes())),
        DType::I32 => t
            .as_i32()
            .unwrap_or_default()
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        DType::Bool => panic!("bool tensors are never kernel arguments"),
    }
    out
}

fn tensor_from_bytes(dtype: DType, shape: Vec<usize>, bytes: &[u8]) -> Tensor {
    match dtype {
        DType::I32 => {
            let v = bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Tensor::from_i32(shape, v).unwrap()
        }
        DType::F32 => {
            let v = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Tensor::from_f32(dtype, shape, v).unwrap()
        }
        DType::BF16 => {
            let v = bytes
                .chunks_exact(2)
                .map(|c| half::bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
                .collect();
            Tensor::from_f32(dtype, shape, v).unwrap()
        }
        DType::F16 => {
            let v = bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
                .collect();
            Tensor::from_f32(dtype, shape, v).unwrap()
        }
        DType::Bool => panic!("bool tensors are never kernel arguments"),
    }
}

/// What one run on the emulator did.
struct Run {
    outputs: Vec<Tensor>,
    gm_read: u64,
    gm_written: u64,
}

/// Runs `program` on the emulator with `inputs` (in parameter order); returns the outputs in order.
fn run_emulator(program: &Program, inputs: &[Tensor]) -> Run {
    let m = &program.manifest;
    let inputs_meta: Vec<_> = m.params.iter().filter(|p| p.role == "input").collect();
    // Bind every dynamic dim from the first input axis that is exactly that dim.
    let mut dims: Vec<(String, i64)> = Vec::new();
    for (p, t) in inputs_meta.iter().zip(inputs) {
        for (axis, e) in p.shape.iter().enumerate() {
            if m.dynamic_dims.contains(e) && !dims.iter().any(|(n, _)| n == e) {
                dims.push((e.clone(), t.shape[axis] as i64));
            }
        }
    }
    let value = |name: &str| dims.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    let eval_expr = |text: &str| Expr::parse(text).unwrap().eval(&value).unwrap();
    let mut gm: Vec<(String, DType, Vec<usize>, Vec<u8>, bool)> = Vec::new();
    for (p, t) in inputs_meta.iter().zip(inputs) {
        gm.push((
            p.name.clone(),
            t.dtype,
            t.shape.clone(),
            tensor_bytes(t),
            false,
        ));
    }
    for p in m.params.iter().filter(|p| p.role == "output") {
        let dtype = DType::from_name(&p.dtype).unwrap();
        let shape: Vec<usize> = p.shape.iter().map(|e| eval_expr(e) as usize).collect();
        let n: usize = shape.iter().product();
        // Fill outputs with a pattern so that an element the kernel does not write is noticed.
        gm.push((
            p.name.clone(),
            dtype,
            shape,
            vec![0xAB; n * dtype.size_bytes()],
            true,
        ));
    }
    let (mut read, mut written) = (0, 0);
    for (entry, kernel) in m.kernels.iter().zip(&program.kernels) {
        let block_dim = eval_expr(&entry.block_dim) as u32;
        let mut tiling = Vec::new();
        for f in &entry.tiling {
            tiling.extend(eval_expr(&f.expr).to_le_bytes());
        }
        let args = entry
            .args
            .iter()
            .map(|a| {
                let g = gm.iter().find(|g| &g.0 == a).unwrap();
                GmArg {
                    name: g.0.clone(),
                    bytes: g.3.clone(),
                    is_output: g.4,
                }
            })
            .collect();
        let launch = RawLaunch {
            source: &kernel.source,
            kernel: &kernel.name,
            block_dim,
            args,
            workspace_bytes: 0,
            tiling,
        };
        let report = launch_raw(launch).unwrap_or_else(|e| panic!("{}: {e}", kernel.name));
        read += report.gm_bytes_read;
        written += report.gm_bytes_written;
        for a in report.args {
            if let Some(g) = gm.iter_mut().find(|g| g.0 == a.name) {
                g.3 = a.bytes;
            }
        }
    }
    let outputs = gm
        .into_iter()
        .filter(|g| g.4)
        .map(|(_, dtype, shape, bytes, _)| tensor_from_bytes(dtype, shape, &bytes))
        .collect();
    Run {
        outputs,
        gm_read: read,
        gm_written: written,
    }
}

/// Compares emulator outputs with the interpreter's: integers exactly, floats within `rel` (relative to
/// max(|expected|, 1e-3)) for f32, and within one unit in the last place for 16-bit floats.
fn compare(what: &str, got: &[Tensor], want: &[Tensor], rel: f32) {
    assert_eq!(got.len(), want.len(), "{what}: output count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.shape, w.shape, "{what}: output {i} shape");
        if let (Some(g), Some(w)) = (g.as_i32(), w.as_i32()) {
            assert_eq!(g, w, "{what}: output {i}");
            continue;
        }
        let (gv, wv) = (g.as_f32().unwrap(), w.as_f32().unwrap());
        let tol = match w.dtype {
            DType::BF16 => 1.0 / 128.0,
            DType::F16 => 1.0 / 1024.0,
            _ => rel,
        };
        for (k, (a, b)) in gv.iter().zip(wv).enumerate() {
            let ok = (a - b).abs() <= tol * b.abs().max(1e-3) || (a.is_nan() && b.is_nan());
            assert!(
                ok,
                "{what}: output {i} element {k}: emulator {a}, interpreter {b}"
            );
        }
    }
}

/// Bytes of a tensor value of `kernel` with the dynamic dim `T` = `t`, and whether it has `T` rows.
fn value_bytes(kernel: &Kernel, v: moge_lower::graph::Value, t: i64) -> (u64, bool) {
    let ty = kernel.values[v].ty.as_tensor().unwrap();
    let value = |s: moge_lower::graph::Sym| (kernel.syms[s].name == "T").then_some(t);
    let n: i64 = ty
        .shape
        .iter()
        .map(|d| d.eval(&value, &kernel.syms).unwrap())
        .product();
    let rows = ty
        .shape
        .first()
        .and_then(|d| d.as_sym())
        .is_some_and(|s| kernel.syms[s].name == "T");
    (n as u64 * ty.dtype.size_bytes() as u64, rows)
}

/// Runs `stem` specialized with `binds` for every `T` in `ts` on the emulator and the interpreter and
/// compares the outputs. Also checks the GM traffic: every row tensor is read or written exactly once,
/// and every table without rows is read once per core (min(48, max(T, 1)) cores).
fn differential(stem: &str, binds: &[(&str, i64)], ts: &[i64]) {
    let kernel = load(stem, binds);
    for &t in ts {
        let inputs = random_inputs(&kernel, 0x5eed ^ t as u64, &[("T", t)]).unwrap();
        differential_on(stem, binds, t, &inputs);
    }
}

/// One differential run of `stem` on given inputs (with `t` rows).
fn differential_on(stem: &str, binds: &[(&str, i64)], t: i64, inputs: &[Tensor]) {
    let kernel = load(stem, binds);
    let program =
        compile_program(&kernel, &Target::default()).unwrap_or_else(|e| panic!("{stem}: {e}"));
    {
        let want = eval(&kernel, inputs).unwrap_or_else(|e| panic!("{stem} T={t}: {e}"));
        let run = run_emulator(&program, inputs);
        compare(
            &format!("{stem} {binds:?} T={t}"),
            &run.outputs,
            &want,
            2e-5,
        );
        let cores = t.clamp(1, 48) as u64;
        let (mut compulsory, mut expected_read, mut expected_written) = (0, 0, 0);
        for p in &kernel.params {
            let (bytes, rows) = value_bytes(&kernel, p.value, t);
            compulsory += bytes;
            expected_read += if rows { bytes } else { bytes * cores };
        }
        for o in &kernel.outputs {
            let (bytes, _) = value_bytes(&kernel, o.value, t);
            compulsory += bytes;
            expected_written += bytes;
        }
        assert_eq!(
            (run.gm_read, run.gm_written),
            (expected_read, expected_written),
            "{stem} T={t}: GM bytes"
        );
        if std::env::var_os("MOGE_TRAFFIC").is_some() {
            let total = run.gm_read + run.gm_written;
            eprintln!(
                "traffic {stem} {binds:?} T={t}: read {} written {} compulsory {compulsory} ratio {:.3}",
                run.gm_read,
                run.gm_written,
                if compulsory == 0 { 1.0 } else { total as f64 / compulsory as f64 }
            );
        }
    }
}

#[test]
fn gate_matches_the_interpreter() {
    // 4657 = 97 * 48 + 1: every core gets one full tile of the E = 64 kernel, and one core a row more.
    let ts = [0, 1, 7, 47, 48, 49, 300, 97 * 48 + 1];
    differential("gate", &[("E", 64), ("G", 8)], &ts);
    differential("gate", &[("E", 24), ("G", 3)], &ts);
    differential("gate_bf16", &[("E", 64), ("G", 8)], &[0, 1, 49, 300]);
}

#[test]
fn softmax_matches_the_interpreter() {
    differential("softmax", &[("N", 64)], &[0, 1, 5, 49, 700]);
    differential("softmax", &[("N", 100)], &[1, 3, 50]);
}

#[test]
fn log_softmax_matches_the_interpreter() {
    differential("log_softmax", &[("N", 64)], &[1, 9, 200]);
}

#[test]
fn rmsnorm_matches_the_interpreter() {
    differential("rmsnorm", &[("H", 128)], &[0, 1, 30, 100]);
    differential("rmsnorm_bf16", &[("H", 5120)], &[1, 3, 50]);
}

#[test]
fn cast_select_matches_the_interpreter() {
    differential("cast_select", &[("N", 40)], &[0, 1, 17, 64]);
}

#[test]
fn topk_matches_the_interpreter() {
    differential("topk", &[("N", 12)], &[1, 2, 33, 60]);
}

#[test]
fn broadcasts_match_the_interpreter() {
    differential("bcast", &[("N", 20)], &[0, 1, 13, 300]);
}

#[test]
fn integer_ops_match_the_interpreter() {
    // random_inputs draws i32 from 0..8, so `a == b` holds for about one element in eight.
    differential("int_ops", &[("N", 16)], &[1, 5, 100]);
}

#[test]
fn ties_pick_the_lowest_index() {
    // Row 0: all logits equal, so every group's best is its first expert. Row 1: in every group the
    // maximum appears at offsets 2 and 5 (the others are smaller). Row 2: a descending staircase of
    // equal pairs, so every group's best is its first expert again.
    let e = 64usize;
    let mut logits = vec![0.0f32; e];
    for _group in 0..8 {
        for r in 0..8 {
            logits.push(if r == 2 || r == 5 {
                1.5
            } else {
                -0.25 * r as f32
            });
        }
    }
    for i in 0..e {
        logits.push(-((i / 2) as f32) * 0.125);
    }
    let x = Tensor::from_f32(DType::F32, vec![3, e], logits).unwrap();
    let scale = Tensor::from_f32(
        DType::F32,
        vec![e],
        (0..e).map(|i| 1.0 + i as f32 / 64.0).collect(),
    )
    .unwrap();
    let kernel = load("gate", &[("E", 64), ("G", 8)]);
    let want = eval(&kernel, &[x.clone(), scale.clone()]).unwrap();
    // The interpreter picks the lowest index: check it against the hand-computed ids first.
    let ids = want[1].as_i32().unwrap();
    let first: Vec<i32> = (0..8).map(|group| 8 * group).collect();
    let second: Vec<i32> = (0..8).map(|group| 8 * group + 2).collect();
    assert_eq!(&ids[..8], &first[..]);
    assert_eq!(&ids[8..16], &second[..]);
    assert_eq!(&ids[16..24], &first[..]);
    differential_on("gate", &[("E", 64), ("G", 8)], 3, &[x, scale]);

    // Top-2 of rows [3, a, 3, b, 3, ...] with a, b < 3 picks indices 0 and 2; the argmax of equal
    // groups is 0.
    let mut rows = Vec::new();
    for r in 0..4 {
        for c in 0..12 {
            rows.push(if c % 2 == 0 {
                3.0
            } else {
                (c + r) as f32 * 0.1
            });
        }
    }
    let x = Tensor::from_f32(DType::F32, vec![4, 12], rows).unwrap();
    let groups = Tensor::from_f32(DType::F32, vec![4, 3, 8], vec![0.5; 96]).unwrap();
    let kernel = load("topk", &[("N", 12)]);
    let want = eval(&kernel, &[x.clone(), groups.clone()]).unwrap();
    assert_eq!(&want[1].as_i32().unwrap()[..2], &[0, 2]);
    assert_eq!(&want[2].as_i32().unwrap()[..3], &[0, 0, 0]);
    differential_on("topk", &[("N", 12)], 4, &[x, groups]);
}
