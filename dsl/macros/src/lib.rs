//! The `#[moge::kernel]` attribute macro.
