//! Target descriptions: core counts and on-chip memory sizes of the Ascend parts moge compiles for.
//!
//! Numbers follow the CANN 8.5 constants for `__NPU_ARCH__ == 2201` (Atlas A2, "910B"): every AI Core has
//! one cube core (AIC: L1, L0A, L0B, L0C) and two vector cores (AIV: one Unified Buffer each). The top
//! 8 KiB of the 192 KiB UB are reserved by the Ascend C runtime as API scratch, so `TPipe` allocations must
//! stay below 184 KiB. Core counts per part come from the public platform descriptions.

use std::fmt;

/// One compilation target: an Ascend SoC and the resources a kernel may use on it.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Target {
    /// The SoC name as CANN spells it in lower case (`ascend910b2`).
    pub name: &'static str,
    /// `__NPU_ARCH__` of the part (2201 for the 910B family).
    pub npu_arch: u32,
    /// Vector cores (AIV) available to an `AIV_ONLY` kernel.
    pub vector_cores: u32,
    /// Cube cores (AIC) available to an `AIC_ONLY` kernel.
    pub cube_cores: u32,
    /// Unified Buffer per vector core, in bytes.
    pub ub_bytes: u32,
    /// UB bytes a kernel may allocate through `TPipe` (the rest is reserved API scratch).
    pub ub_usable: u32,
    /// L1 buffer per cube core, in bytes.
    pub l1_bytes: u32,
    /// L0A buffer per cube core, in bytes.
    pub l0a_bytes: u32,
    /// L0B buffer per cube core, in bytes.
    pub l0b_bytes: u32,
    /// L0C buffer per cube core, in bytes.
    pub l0c_bytes: u32,
    /// The unit of UB addressing and DMA alignment (one data block), in bytes.
    pub block_bytes: u32,
    /// Bytes one vector instruction repeat reads (eight data blocks).
    pub repeat_bytes: u32,
    /// Most repeats one vector instruction may run.
    pub max_repeat: u32,
    /// Most buffers one `TPipe` may hold (queues count each of their buffers).
    pub max_pipe_buffers: u32,
}

/// A target name that moge does not know.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("unknown target `{name}`: expected one of {known}")]
pub struct UnknownTarget {
    /// The name asked for.
    pub name: String,
    /// The names moge knows, comma separated.
    pub known: String,
}

const KIB: u32 = 1024;

impl Target {
    /// Every known target, in a fixed order.
    pub fn all() -> Vec<Target> {
        vec![
            Target::a2("ascend910b1", 24),
            Target::a2("ascend910b2", 24),
            Target::a2("ascend910b3", 20),
            Target::a2("ascend910b4", 20),
        ]
    }

    /// The default target: Ascend 910B2 (24 AIC, 48 AIV).
    pub fn ascend910b2() -> Target {
        Target::a2("ascend910b2", 24)
    }

    /// Looks a target up by name, case-insensitively (`ascend910b2`, `Ascend910B2`).
    pub fn from_name(name: &str) -> Result<Target, UnknownTarget> {
        let lower = name.trim().to_ascii_lowercase();
        Target::all()
            .into_iter()
            .find(|t| t.name == lower)
            .ok_or_else(|| UnknownTarget {
                name: name.to_string(),
                known: Target::all()
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// An Atlas A2 part with `ai_cores` AI Cores (each one AIC and two AIVs).
    fn a2(name: &'static str, ai_cores: u32) -> Target {
        Target {
            name,
            npu_arch: 2201,
            vector_cores: 2 * ai_cores,
            cube_cores: ai_cores,
            ub_bytes: 192 * KIB,
            ub_usable: 184 * KIB,
            l1_bytes: 512 * KIB,
            l0a_bytes: 64 * KIB,
            l0b_bytes: 64 * KIB,
            l0c_bytes: 128 * KIB,
            block_bytes: 32,
            repeat_bytes: 256,
            max_repeat: 255,
            max_pipe_buffers: 64,
        }
    }
}

impl Default for Target {
    fn default() -> Target {
        Target::ascend910b2()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_defaults_to_910b2() {
        let t = Target::from_name("Ascend910B2").unwrap();
        assert_eq!((t.vector_cores, t.cube_cores), (48, 24));
        assert_eq!(t.ub_usable, 188_416);
        assert_eq!(Target::default(), t);
        assert_eq!(Target::from_name("ascend910b4").unwrap().vector_cores, 40);
        let err = Target::from_name("ascend310p").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown target `ascend310p`: expected one of ascend910b1, ascend910b2, ascend910b3, ascend910b4"
        );
    }
}
