//! Diagnostics of `#[moge::kernel]` as rustc shows them: trybuild UI tests, one `tests/ui/<mistake>.rs`
//! with its `.stderr` per mistake, and pass cases in `tests/ui/pass/` that use kernels end to end.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
