//! Tests of the Ascend C backend (one test binary).

mod budget;
mod print_v2;
mod snapshots;
mod units;
