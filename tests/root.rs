mod cli;
mod differential;
mod example_snapshots;
mod examples_eval;
mod fuzz_frontend;
mod launch_errors;
mod moge_reference;
mod ui;
