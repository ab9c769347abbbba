
mod examples_eval;
mod moge_reference;
mod differential;
mod ui;
mod cli;
mod fuzz_frontend;
mod launch_errors;
