//! A kernel crate built with `moge-build`: `build.rs` compiles the kernels of `src/kernels.rs` to
//! Ascend C and manifests in `OUT_DIR`, [`prebuilt`] embeds them, and [`norm`] and [`gated`] launch
//! them with no `mogec` and no DSL compile at run time (the emulator still builds its own C++ of a
//! kernel at its first launch, and caches it; on an NPU, the device binaries built with CANN are used).

pub mod kernels;

/// The kernels `build.rs` compiled: one module per kernel with `MANIFEST` and `SOURCES`.
pub mod prebuilt {
    include!(concat!(env!("OUT_DIR"), "/moge_kernels.rs"));
}

use moge::prebuilt::{Prebuilt, PrebuiltError};
use moge::runtime::backend::Backend;
use moge::Tensor;

/// RMSNorm of `x` (`[T, 64]`, bf16) with `weight` (`[64]`), on `backend`.
pub fn norm(x: &Tensor, weight: &Tensor, backend: &dyn Backend) -> Result<Tensor, PrebuiltError> {
    let program = Prebuilt::new(prebuilt::norm::MANIFEST, prebuilt::norm::SOURCES)?;
    let mut launched = program.launch(&[x.clone(), weight.clone()], backend)?;
    Ok(launched.outputs.remove(0))
}

/// `silu(a) * b` for `a`, `b` of `[T, 32]` (f32), on `backend`.
pub fn gated(a: &Tensor, b: &Tensor, backend: &dyn Backend) -> Result<Tensor, PrebuiltError> {
    let program = Prebuilt::new(prebuilt::gated::MANIFEST, prebuilt::gated::SOURCES)?;
    let mut launched = program.launch(&[a.clone(), b.clone()], backend)?;
    Ok(launched.outputs.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moge::runtime::backend::EmulatorBackend;
    use moge::runtime::report::compare;
    use moge::DType;

    fn values(n: usize, scale: f32) -> Vec<f32> {
        // Exact in bf16: small multiples of 1/8.
        (0..n)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) * scale)
            .collect()
    }

    #[test]
    fn the_prebuilt_kernels_run_and_match_the_interpreter() {
        let backend = EmulatorBackend::default();
        let x = Tensor::from_f32(DType::BF16, vec![3, 64], values(192, 0.125)).unwrap();
        let weight = Tensor::from_f32(DType::BF16, vec![64], values(64, 0.0625)).unwrap();
        let got = norm(&x, &weight, &backend).expect("norm runs");
        let expected = kernels::norm::<64>::eval(&x, &weight).expect("the interpreter runs");
        let comparison = compare(&got, &expected);
        assert!(comparison.passed(), "{comparison}");

        let a = Tensor::from_f32(DType::F32, vec![2, 32], values(64, 0.25)).unwrap();
        let b = Tensor::from_f32(DType::F32, vec![2, 32], values(64, 0.5)).unwrap();
        let got = gated(&a, &b, &backend).expect("gated runs");
        let expected = kernels::gated::<32>::eval(&a, &b).expect("the interpreter runs");
        let comparison = compare(&got, &expected);
        assert!(comparison.passed(), "{comparison}");
    }

    #[test]
    fn the_embedded_manifests_are_the_kernels_build_rs_asked_for() {
        let norm = Prebuilt::new(prebuilt::norm::MANIFEST, prebuilt::norm::SOURCES).unwrap();
        assert_eq!(norm.manifest().program, "norm");
        assert_eq!(norm.manifest().target, "ascend910b2");
        assert_eq!(
            norm.manifest()
                .bindings
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<Vec<_>>(),
            vec![("H".to_string(), 64)]
        );
        let gated = Prebuilt::new(prebuilt::gated::MANIFEST, prebuilt::gated::SOURCES).unwrap();
        assert_eq!(
            gated
                .manifest()
                .bindings
                .values()
                .copied()
                .collect::<Vec<_>>(),
            vec![32]
        );
        // Without CANN on the build machine no device binary was built.
        if std::env::var_os("ASCEND_HOME_PATH").is_none() {
            // A constant, but one build.rs computed from the build machine.
            #[allow(clippy::assertions_on_constants)]
            {
                assert!(!prebuilt::DEVICE_BINARIES);
            }
        }
    }
}
