//! Unit tests of the backend's pieces.

use moge_codegen_ascendc::{CodegenError, Manifest, WriterError};

#[test]
fn error_sizes_are_pinned() {
    // Errors travel in `Result`s everywhere; keep them small.
    assert_eq!(std::mem::size_of::<WriterError>(), 48);
    assert!(
        std::mem::size_of::<CodegenError>() <= 128,
        "{}",
        std::mem::size_of::<CodegenError>()
    );
}

#[test]
fn manifest_round_trips() {
    let text = r#"{
  "format": "moge-manifest/2",
  "program": "p",
  "target": "ascend910b2",
  "bindings": {"E": 64},
  "dynamic_dims": ["T"],
  "params": [{"name": "x", "role": "input", "dtype": "f32", "shape": ["T", "64"]}],
  "intermediates": [],
  "kernels": [{"name": "p_k0", "source": "p_k0.cpp", "core_type": "AIV", "sync": "auto",
               "args": ["x"], "block_dim": "min(48, max(T, 1))", "tiling": [{"name": "rows", "expr": "T"}],
               "workspace_bytes": "0", "ub_bytes": 1024, "tile_rows": 8}],
  "workspace_bytes": "0"
}"#;
    let m = Manifest::from_json(text).unwrap();
    assert_eq!(m.kernels[0].tiling[0].expr.to_string(), "T");
    assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
}

#[test]
fn programs_write_their_files() {
    let text = "kernel softmax<N>(x: f32[T, N]) -> (y: f32[T, N]) {
  dyn T
  v0 = param 0 : f32[T, N]
  v1 = softmax v0, axis=1 : f32[T, N]
  return y = v1
}";
    let k = moge_lower::graph::parse::parse_kernel(text)
        .unwrap()
        .specialize(&[("N", 64)])
        .unwrap();
    let program =
        moge_codegen_ascendc::compile_program(&k, &moge_lower::target::Target::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("moge-codegen-write-{}", std::process::id()));
    let written = program.write_to(&dir).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["softmax_k0.cpp", "softmax.kir", "softmax.json"]);
    assert_eq!(
        std::fs::read_to_string(&written[0]).unwrap(),
        program.kernels[0].source
    );
    let manifest = Manifest::from_json(&std::fs::read_to_string(&written[2]).unwrap()).unwrap();
    assert_eq!(manifest, program.manifest);
    assert_eq!(manifest.kernels[0].source, "softmax_k0.cpp");
    let _ = std::fs::remove_dir_all(&dir);
}
