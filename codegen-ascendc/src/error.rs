//! The error of the Ascend C printer.

use std::fmt;

/// Errors of the Ascend C backend.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Error {
    /// Writing to the output failed.
    #[error("formatting the kernel source failed")]
    Fmt(#[from] fmt::Error),
    /// The kernel IR holds something the printer cannot express.
    #[error("kernel `{kernel}`: {message}")]
    Unsupported {
        /// The kernel's name.
        kernel: String,
        /// What could not be written.
        message: String,
    },
}
