//! Tests of the Ascend C backend (one test binary).

mod budget;
mod snapshots;
mod units;
