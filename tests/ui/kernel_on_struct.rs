use moge::prelude::*;

#[kernel]
struct NotAKernel;

fn main() {
    let _ = NotAKernel;
}
