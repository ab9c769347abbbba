//! Ascend C writer.
