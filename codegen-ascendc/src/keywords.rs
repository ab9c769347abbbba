//! Names an emitted identifier must never take: C++ keywords, names the Ascend C headers define as
//! macros or types at global scope, and the forms C++ reserves. The lists live with the kernel IR
//! ([`moge_lower::kir::names`]) because the frontend checks the names it emits verbatim against them.

pub use moge_lower::kir::names::{is_reserved, ASCENDC_RESERVED, CPP_KEYWORDS};
