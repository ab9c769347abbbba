//! Example kernels.
