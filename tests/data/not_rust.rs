This is a note, not Rust source.
It mentions #[moge::kernel] but has no { balanced braces
