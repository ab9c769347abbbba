//! Compiles the crate's kernels to Ascend C and manifests in OUT_DIR (and to device binaries when
//! CANN is installed); cargo runs it again when `src/kernels.rs` changes.

fn main() {
    moge_build::compile("src/kernels.rs")
        .kernel("norm")
        .set("H", 64)
        .kernel("gated")
        .set("H", 32)
        .target("ascend910b2")
        .emit();
}
