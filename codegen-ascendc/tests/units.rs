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
  "format": "moge-manifest/1",
  "program": "p",
  "target": "ascend910b2",
  "bindings": {"E": 64},
  "dynamic_dims": ["T"],
  "params": [{"name": "x", "role": "input", "dtype": "f32", "shape": ["T", "64"]}],
  "buffers": [],
  "kernels": [{"name": "p_k0", "source": "p_k0.cpp", "core_type": "aiv", "kernel_type": "KERNEL_TYPE_AIV_ONLY",
               "args": ["x"], "block_dim": "min(48, max(T, 1))", "tiling": [{"name": "rows", "expr": "T"}],
               "workspace_bytes": "0", "ub_bytes": 1024, "tile_rows": 8}],
  "workspace_bytes": "0"
}"#;
    let m = Manifest::from_json(text).unwrap();
    assert_eq!(m.kernels[0].tiling[0].expr, "T");
    assert_eq!(Manifest::from_json(&m.to_json()).unwrap(), m);
}
