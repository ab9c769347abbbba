//! moge runtime.

pub mod emulator;
pub mod npy;
