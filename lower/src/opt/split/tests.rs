//! Tests of the partition into cube and vector groups and of the split into graph kernels.
