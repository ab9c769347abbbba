//! moge runtime.
