//! The argument block of a device kernel: which 8-byte slot holds what.
//!
//! With the args-handle API (`aclrtKernelArgsInit` / `Append` / `Finalize`) the runtime lays the block
//! out as (launch-acl-hccl.md §3.1): for kernels that need the FFTS address (every MIX kernel built
//! with the explicit `ffts_addr` parameter, as ours are) a leading system slot the runtime fills at
//! `Finalize`; then every appended parameter, each padded to 8 bytes; then the overflow address the
//! runtime appends at `Finalize`. moge appends one device pointer per parameter of the kernel's entry
//! point: the GM arguments in order, the workspace (null when it has no bytes) and the tiling blob
//! (copied to its own device buffer). [`ArgLayout`] is that block, checked against the kernel's
//! parameter list, so a launch whose arguments do not match the kernel is refused before any device
//! call.

use moge_codegen_ascendc::manifest::CoreType;

use super::compile::Entry;
use super::errors::AclError;
use crate::backend::DeviceArg;

/// One 8-byte slot of the device-side argument block.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Slot {
    /// The FFTS (inter-core sync) address; written by the runtime (MIX kernels only).
    Ffts,
    /// GM argument `index` of the launch, the kernel's parameter `name`.
    Gm {
        /// Its position among the launch's GM arguments.
        index: usize,
        /// The parameter's name.
        name: String,
    },
    /// The workspace pointer (null when the workspace is empty).
    Workspace,
    /// The pointer to the tiling blob.
    Tiling,
    /// The overflow-status address; appended by the runtime.
    Overflow,
}

impl Slot {
    /// Whether moge appends this slot (the runtime writes the others).
    pub fn appended_by_moge(&self) -> bool {
        !matches!(self, Slot::Ffts | Slot::Overflow)
    }
}

/// The device addresses moge passes.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Addresses {
    /// One per GM argument, in launch order.
    pub gm: Vec<u64>,
    /// The workspace (0 when empty).
    pub workspace: u64,
    /// The tiling blob.
    pub tiling: u64,
}

/// The argument block of one kernel.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ArgLayout {
    /// The slots in block order, 8 bytes each.
    pub slots: Vec<Slot>,
}

impl ArgLayout {
    /// The block for `entry` (the kernel's parameter list) launched with `args`: the parameters must
    /// be the GM arguments by name and in order, then `workspace` and `tiling`.
    pub fn new(
        core_type: CoreType,
        entry: &Entry,
        args: &[DeviceArg],
    ) -> Result<ArgLayout, AclError> {
        let fail = |reason: String| AclError::Launch {
            kernel: entry.name.clone(),
            reason,
        };
        let expected = args.len() + 2;
        if entry.params.len() != expected {
            return Err(fail(format!(
                "the kernel takes {} parameters ({}), but the launch passes {} GM arguments plus the workspace and the tiling",
                entry.params.len(),
                entry.params.join(", "),
                args.len()
            )));
        }
        let mut slots = Vec::with_capacity(expected + 2);
        if core_type == CoreType::MixAic1_2 {
            slots.push(Slot::Ffts);
        }
        for (index, (arg, param)) in args.iter().zip(&entry.params).enumerate() {
            if arg.name != *param {
                return Err(fail(format!(
                    "parameter {index} of the kernel is `{param}`, but the launch passes `{}` there",
                    arg.name
                )));
            }
            slots.push(Slot::Gm {
                index,
                name: param.clone(),
            });
        }
        for (param, slot, what) in [
            (&entry.params[args.len()], Slot::Workspace, "workspace"),
            (&entry.params[args.len() + 1], Slot::Tiling, "tiling"),
        ] {
            if param != what {
                return Err(fail(format!(
                    "parameter {} of the kernel is `{param}`, expected `{what}`",
                    slots.len() - usize::from(core_type == CoreType::MixAic1_2)
                )));
            }
            slots.push(slot);
        }
        slots.push(Slot::Overflow);
        Ok(ArgLayout { slots })
    }

    /// Each slot with its byte offset in the block.
    pub fn offsets(&self) -> impl Iterator<Item = (usize, &Slot)> {
        self.slots.iter().enumerate().map(|(i, slot)| (8 * i, slot))
    }

    /// The values moge appends, in order (one `aclrtKernelArgsAppend` of 8 bytes each).
    pub fn appended(&self, addresses: &Addresses) -> Vec<u64> {
        self.slots
            .iter()
            .filter_map(|slot| match slot {
                Slot::Gm { index, .. } => Some(addresses.gm[*index]),
                Slot::Workspace => Some(addresses.workspace),
                Slot::Tiling => Some(addresses.tiling),
                Slot::Ffts | Slot::Overflow => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(name: &str) -> DeviceArg {
        DeviceArg {
            name: name.to_string(),
            bytes: vec![0; 4],
            is_output: false,
        }
    }

    fn entry(params: &[&str]) -> Entry {
        Entry {
            name: "k".to_string(),
            params: params.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn vector_and_mix_blocks_follow_the_kernel_abi() {
        let e = entry(&["x", "y", "workspace", "tiling"]);
        let args = [arg("x"), arg("y")];
        let aiv = ArgLayout::new(CoreType::Aiv, &e, &args).unwrap();
        let offsets: Vec<(usize, Slot)> = aiv.offsets().map(|(o, s)| (o, s.clone())).collect();
        assert_eq!(
            offsets,
            vec![
                (
                    0,
                    Slot::Gm {
                        index: 0,
                        name: "x".into()
                    }
                ),
                (
                    8,
                    Slot::Gm {
                        index: 1,
                        name: "y".into()
                    }
                ),
                (16, Slot::Workspace),
                (24, Slot::Tiling),
                (32, Slot::Overflow),
            ]
        );
        let mix = ArgLayout::new(CoreType::MixAic1_2, &e, &args).unwrap();
        assert_eq!(mix.slots[0], Slot::Ffts);
        assert_eq!(mix.slots.len(), 6);
        let addresses = Addresses {
            gm: vec![0x1000, 0x2000],
            workspace: 0,
            tiling: 0x3000,
        };
        // The runtime's slots (ffts, overflow) are not appended by moge.
        assert_eq!(mix.appended(&addresses), vec![0x1000, 0x2000, 0, 0x3000]);
        assert_eq!(aiv.appended(&addresses), mix.appended(&addresses));
    }

    #[test]
    fn arguments_that_do_not_match_the_kernel_are_refused() {
        let e = entry(&["x", "y", "workspace", "tiling"]);
        let message = ArgLayout::new(CoreType::Aiv, &e, &[arg("x")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "kernel `k`: the kernel takes 4 parameters (x, y, workspace, tiling), but the launch passes 1 GM arguments plus the workspace and the tiling"
        );
        let message = ArgLayout::new(CoreType::Aiv, &e, &[arg("x"), arg("z")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "kernel `k`: parameter 1 of the kernel is `y`, but the launch passes `z` there"
        );
        let bad = entry(&["x", "ws", "tiling"]);
        let message = ArgLayout::new(CoreType::Aiv, &bad, &[arg("x")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "kernel `k`: parameter 1 of the kernel is `ws`, expected `workspace`"
        );
    }
}
