//! Lowerings of the MoE family (issue 8) to kernel IR v2 programs, one file per kernel family. Each
//! returns a [`crate::kir::v2::Program`] whose GM buffers carry the caller's names, so
//! [`crate::kir::v2::Linker`] joins the programs by name.

pub mod rows;
