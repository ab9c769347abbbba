//! moge runtime.

pub mod acl;
pub mod backend;
pub mod emulator;
pub mod launch;
pub mod limits;
pub mod model;
pub mod npy;
pub mod report;
