//! `mogec run DIR`: run the output directory of `mogec build` — a manifest, the `.cpp` of each device
//! kernel it names, and the graph when it was emitted — on the emulator, with every check it makes.
//!
//! The `.cpp` files are compiled as they are on disk, so a kernel edited by hand, or written from
//! scratch against the same manifest, runs like a generated one. [`run_dir`]:
//!
//! 1. finds the manifest: the one `.json` file of the directory whose `format` is a moge manifest
//!    ([`find_manifest`]), and reads it with the kernel sources it names ([`load_dir`]);
//! 2. reads `<program>.graph` when it is there and checks that it describes the same program
//!    (parameter names and dtypes, outputs, static dims);
//! 3. resolves the inputs (`--input`, `--random`, `--dim`) as `mogec run FILE.rs` does: from the graph
//!    when there is one, otherwise from the manifest's parameters;
//! 4. compiles every kernel (a compiler error is reported with the `.cpp` file's path and trimmed),
//!    launches the program and, when the graph is there, compares every output with the reference
//!    interpreter; without the graph the outputs are written and the report says nothing was compared.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use moge_codegen_ascendc::manifest::{Role, TensorDType};
use moge_codegen_ascendc::Manifest;
use moge_lower::graph::{Dim, Kernel, SrcLoc, SymKind, TensorType, Type};
use moge_lower::interp;
use moge_lower::kir::Expr;
use moge_runtime::backend::BackendError;
use moge_runtime::emulator::EmuError;
use moge_runtime::launch::{self, LaunchError, LoadedProgram};
use moge_runtime::limits::{self, RunFootprint};
use moge_runtime::report;

use crate::files::{self, Contents};
use crate::inputs::{self, Consumer, InputError};
use crate::run::{OutputReport, RunError, RunInputs, RunOptions, RunReport};

/// Compiler output longer than this many lines is cut (the first errors are the ones that matter).
const COMPILER_LINES: usize = 20;

/// A build directory read from disk.
#[derive(Clone, Debug)]
pub struct BuildDir {
    /// The directory.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest_path: PathBuf,
    /// The manifest and the source of each kernel, as on disk.
    pub program: LoadedProgram,
    /// `<program>.graph` and the kernel it holds, when the directory has it.
    pub graph: Option<(PathBuf, Kernel)>,
}

/// The manifest of `dir`: its one `.json` file whose `format` starts with `moge-manifest` (other JSON
/// files, such as a `report.json` written into the same directory, are not manifests).
pub fn find_manifest(dir: &Path) -> Result<PathBuf, RunError> {
    let entries = fs::read_dir(dir).map_err(|source| RunError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let (mut found, mut broken) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") || !path.is_file() {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap_or_default();
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value) => {
                let format = value.get("format").and_then(|f| f.as_str());
                if format.is_some_and(|f| f.starts_with("moge-manifest")) {
                    found.push(path);
                }
            }
            // Not JSON, but it names the manifest format (a truncated or hand-broken manifest): when
            // nothing better is there, reading it below gives the JSON error with its line and column.
            Err(_) if text.contains("moge-manifest") => broken.push(path),
            Err(_) => {}
        }
    }
    if found.is_empty() {
        found = broken;
    }
    found.sort();
    match found.len() {
        0 => Err(RunError::NoManifest {
            dir: dir.to_path_buf(),
        }),
        1 => Ok(found.remove(0)),
        _ => Err(RunError::ManyManifests {
            dir: dir.to_path_buf(),
            names: found
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| format!("`{}`", n.to_string_lossy()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Reads the manifest of `dir`, every kernel source it names, and the graph if there is one.
pub fn load_dir(dir: &Path) -> Result<BuildDir, RunError> {
    let manifest_path = find_manifest(dir)?;
    let program = LoadedProgram::read(&manifest_path)?;
    let graph_path = dir.join(format!("{}.graph", program.manifest.program));
    let graph = if graph_path.is_file() {
        let text = fs::read_to_string(&graph_path).map_err(|source| RunError::ReadDir {
            dir: graph_path.clone(),
            source,
        })?;
        let kernel =
            moge_lower::graph::parse::parse_kernel(&text).map_err(|err| RunError::Graph {
                path: graph_path.clone(),
                message: err.to_string(),
            })?;
        moge_lower::graph::verify::verify(&kernel).map_err(|err| RunError::Graph {
            path: graph_path.clone(),
            message: err.to_string(),
        })?;
        check_agreement(&kernel, &program.manifest).map_err(|message| RunError::GraphMismatch {
            graph: graph_path.clone(),
            manifest: manifest_path.clone(),
            message,
        })?;
        Some((graph_path, kernel))
    } else {
        None
    };
    Ok(BuildDir {
        dir: dir.to_path_buf(),
        manifest_path,
        program,
        graph,
    })
}

/// Checks that the graph and the manifest describe the same program: the same inputs (names, dtypes,
/// ranks, in order), the same number of outputs with the same dtypes, the same static dims.
fn check_agreement(kernel: &Kernel, manifest: &Manifest) -> Result<(), String> {
    let side = |role: Role| -> Vec<(&str, TensorDType, usize)> {
        manifest
            .params
            .iter()
            .filter(|p| p.role == role)
            .map(|p| (p.name.as_str(), p.dtype, p.shape.len()))
            .collect()
    };
    let tensor = |value| match kernel.values.get(value).map(|v| &v.ty) {
        Some(Type::Tensor(t)) => Some((TensorDType::from_dtype(t.dtype), t.rank())),
        _ => None,
    };
    let graph_inputs: Vec<String> = kernel.params.iter().map(|p| p.name.clone()).collect();
    let inputs = side(Role::Input);
    let names: Vec<&str> = inputs.iter().map(|(n, _, _)| *n).collect();
    if graph_inputs != names {
        return Err(format!(
            "the graph takes inputs ({}), the manifest ({})",
            graph_inputs.join(", "),
            names.join(", ")
        ));
    }
    for (param, &(name, dtype, rank)) in kernel.params.iter().zip(&inputs) {
        if tensor(param.value) != Some((Some(dtype), rank)) {
            return Err(format!(
                "input `{name}` is {dtype} of rank {rank} in the manifest but not in the graph"
            ));
        }
    }
    let outputs = side(Role::Output);
    if kernel.outputs.len() != outputs.len() {
        return Err(format!(
            "the graph returns {} outputs, the manifest lists {}",
            kernel.outputs.len(),
            outputs.len()
        ));
    }
    for (output, &(name, dtype, rank)) in kernel.outputs.iter().zip(&outputs) {
        if tensor(output.value) != Some((Some(dtype), rank)) {
            return Err(format!(
                "output `{name}` is {dtype} of rank {rank} in the manifest but not in the graph"
            ));
        }
    }
    for (name, value) in &kernel.bound {
        if manifest.bindings.get(name) != Some(value) {
            return Err(format!(
                "the graph binds {name} = {value}, the manifest {}",
                manifest
                    .bindings
                    .get(name)
                    .map_or("does not".to_string(), |v| format!("{name} = {v}"))
            ));
        }
    }
    Ok(())
}

/// A kernel of the graph IR holding only the manifest's signature (static and dynamic dims, the input
/// parameters), so that inputs are named, read, made and checked exactly as for a DSL kernel when a
/// directory has no graph. Input shapes must use `+ - * /` only (what the graph IR can express).
fn signature_kernel(manifest: &Manifest) -> Result<Kernel, RunError> {
    let mut kernel = Kernel::new(manifest.program.clone());
    for (name, &value) in &manifest.bindings {
        kernel.add_sym(*name, SymKind::Static);
        kernel.bound.push((*name, value));
    }
    for name in &manifest.dynamic_dims {
        kernel.add_sym(*name, SymKind::Dynamic);
    }
    for param in manifest.params.iter().filter(|p| p.role == Role::Input) {
        let shape = param
            .shape
            .iter()
            .map(|e| to_dim(e.expr(), &kernel))
            .collect::<Option<Vec<Dim>>>()
            .ok_or_else(|| RunError::Kernel(format!(
                "input `{}` has shape [{}], which only a graph can describe: use + - * / of the dims in input shapes, or put `{}.graph` next to the manifest",
                param.name,
                param.shape.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", "),
                manifest.program
            )))?;
        let ty = Type::Tensor(TensorType {
            dtype: param.dtype.dtype(),
            shape,
        });
        kernel.add_param(param.name.clone(), ty, SrcLoc::default());
    }
    Ok(kernel)
}

/// A manifest expression as a graph IR dim, when it uses only what dims can express.
fn to_dim(expr: &Expr, kernel: &Kernel) -> Option<Dim> {
    let pair = |a: &Expr, b: &Expr| Some((to_dim(a, kernel)?, to_dim(b, kernel)?));
    match expr {
        Expr::Int(v) => Some(Dim::lit(*v)),
        Expr::Sym(name) => kernel.sym_of(*name).map(Dim::sym),
        Expr::Add(a, b) => pair(a, b).map(|(a, b)| Dim::add(&a, &b)),
        Expr::Sub(a, b) => pair(a, b).map(|(a, b)| Dim::sub(&a, &b)),
        Expr::Mul(a, b) => pair(a, b).map(|(a, b)| Dim::mul(&a, &b)),
        Expr::Div(a, b) => pair(a, b).and_then(|(a, b)| Dim::div(&a, &b)),
        _ => None,
    }
}

/// Runs the build directory `dir` on `options.backend` (see the module documentation) and writes the
/// outputs, the random inputs (if any) and `report.json` into `out_dir`. `options.target` is not used:
/// the manifest names its target.
pub fn run_dir(
    dir: &Path,
    inputs: RunInputs,
    out_dir: &Path,
    options: &RunOptions,
) -> Result<RunReport, RunError> {
    if options.timing_only {
        // Its sources may have been edited by hand: timing-only mode is for kernels moge compiled.
        return Err(RunError::Kernel(format!(
            "--timing-only models kernels compiled from a source file; `{}` is a build directory (run its source with --timing-only, or the directory without it)",
            dir.display()
        )));
    }
    limits::check_environment()?;
    crate::run::check_trace_path(options)?;
    let start = Instant::now();
    let build = load_dir(dir)?;
    let load_time = start.elapsed();
    let manifest = &build.program.manifest;
    let random = matches!(inputs, RunInputs::Random { .. });
    let signature;
    let kernel = match &build.graph {
        Some((_, kernel)) => kernel,
        None => {
            signature = signature_kernel(manifest)?;
            &signature
        }
    };
    let resolved = inputs::resolve(kernel, inputs, &options.dims, Consumer::Device)?;
    let input_paths = resolved.input_paths();
    let inputs = resolved.tensors;

    // The whole launch (inputs, outputs, intermediates, the emulator's copies) within the budget,
    // from the shapes alone.
    let plan = launch::plan(manifest, &inputs)?;
    let mut footprint = RunFootprint::default();
    for t in &plan.tensors {
        let shape: Vec<i64> = t.shape.iter().map(|&s| s as i64).collect();
        let role = match t.role {
            Role::Input => limits::Role::Input,
            Role::Output => limits::Role::Output,
            Role::Intermediate | Role::Workspace => limits::Role::Buffer,
        };
        // The host holds 16-bit floats as f32.
        let host = if t.dtype == moge_lower::DType::Bool {
            1
        } else {
            4
        };
        footprint.add_device(
            format!("{} `{}`", t.role, t.name),
            &shape,
            host,
            t.dtype.size_bytes() as u64,
            role,
        );
    }
    let budget = limits::memory_budget()?;
    footprint.check(&budget).map_err(|source| {
        RunError::Inputs(InputError::Limit {
            kernel: manifest.program.clone(),
            source: Box::new(source),
        })
    })?;

    let backend = options.create_backend()?;
    let program = build.program.as_ref();
    let prepare_time =
        launch::prepare(program, &*backend).map_err(|err| compile_error(&build, err))?;
    let launched =
        launch::launch(program, &inputs, &*backend).map_err(|err| compile_error(&build, err))?;

    let (comparisons, interp_time) = match &build.graph {
        Some((_, kernel)) => {
            let start = Instant::now();
            let (expected, bounds) =
                interp::eval_with_bounds(kernel, &inputs).map_err(|source| RunError::Eval {
                    kernel: kernel.name.clone(),
                    source: Box::new(source),
                })?;
            let comparisons: Vec<_> = launched
                .outputs
                .iter()
                .zip(expected.iter().zip(&bounds))
                .map(|(got, (want, bound))| Some(report::compare_bounded(got, want, bound)))
                .collect();
            (comparisons, start.elapsed())
        }
        None => (vec![None; launched.outputs.len()], Duration::ZERO),
    };

    // Output files: as `mogec eval` names them when the graph is there, else the manifest's names
    // (unique by construction: the launch refuses a manifest naming a tensor twice).
    let output_names: Vec<String> = manifest
        .params
        .iter()
        .filter(|p| p.role == Role::Output)
        .map(|p| p.name.clone())
        .collect();
    let (output_files, input_files): (Vec<String>, Vec<String>) = match &build.graph {
        Some((_, kernel)) => {
            let names = files::npy_names(kernel, random);
            (names.outputs, names.inputs)
        }
        None => (
            output_names.iter().map(|n| format!("{n}.npy")).collect(),
            if random {
                kernel
                    .params
                    .iter()
                    .map(|p| format!("{}.npy", p.name))
                    .collect()
            } else {
                Vec::new()
            },
        ),
    };
    let mut written: Vec<(String, Contents<'_>)> = Vec::new();
    let mut outputs = Vec::new();
    for (((name, tensor), comparison), file) in output_names
        .iter()
        .zip(&launched.outputs)
        .zip(comparisons)
        .zip(&output_files)
    {
        written.push((file.clone(), Contents::Npy(tensor)));
        let nan_elements = match (&comparison, tensor.as_f32()) {
            (None, Some(values)) => Some(values.iter().filter(|v| v.is_nan()).count()),
            _ => None,
        };
        outputs.push(OutputReport {
            name: name.clone(),
            file: out_dir.join(file),
            comparison,
            nan_elements,
        });
    }
    let mut random_files = Vec::new();
    for (tensor, file) in inputs.iter().zip(&input_files) {
        written.push((file.clone(), Contents::Npy(tensor)));
        random_files.push(out_dir.join(file));
    }
    let report = RunReport {
        kernel: manifest.program.clone(),
        bindings: manifest.bindings.iter().map(|(n, v)| (*n, *v)).collect(),
        launch: launched.report.clone(),
        outputs,
        input_files: random_files,
        report_file: out_dir.join("report.json"),
        compile_time: load_time,
        prepare_time,
        interp_time,
        compared: build.graph.is_some(),
        trace_file: options.trace.clone(),
        target: manifest.target.clone(),
        timing_only: false,
    };
    // Nothing of the build directory may be replaced by an output (`-o DIR` on itself).
    let mut keep = input_paths;
    keep.push(build.manifest_path.clone());
    keep.extend(
        build
            .program
            .manifest
            .kernels
            .iter()
            .map(|k| build.dir.join(&k.source)),
    );
    if let Some((path, _)) = &build.graph {
        keep.push(path.clone());
    }
    keep.extend(options.keep.iter().cloned());
    crate::run::write_outputs(out_dir, &report, written, options.trace.as_deref(), &keep)?;
    Ok(report)
}

/// A kernel that did not compile, reported with its `.cpp` file's path and the compiler's first
/// lines; any other launch error as it is.
fn compile_error(build: &BuildDir, err: LaunchError) -> RunError {
    let LaunchError::Backend {
        kernel,
        source: BackendError::Emulator(EmuError::Compile { stderr }),
        ..
    } = err
    else {
        return RunError::Launch(err);
    };
    let file = build
        .program
        .manifest
        .kernels
        .iter()
        .find(|k| k.name == kernel)
        .map(|k| build.dir.join(&k.source))
        .unwrap_or_else(|| build.dir.join(format!("{kernel}.cpp")));
    let shown = file.display().to_string();
    let lines: Vec<String> = stderr
        .lines()
        .map(|l| l.replace("kernel.cpp", &shown))
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut text = lines
        .iter()
        .take(COMPILER_LINES)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    if lines.len() > COMPILER_LINES {
        text.push_str(&format!(
            "\n... ({} more lines of compiler output)",
            lines.len() - COMPILER_LINES
        ));
    }
    RunError::KernelCompile {
        kernel,
        file,
        errors: text,
    }
}
