//! Lowerings of the MoE family (`route`, `dispatch`, `grouped_matmul`, `swiglu`, `combine`) to kernel
//! IR v2, one file per kernel family. Each returns a [`crate::kir::v2::Program`] whose GM buffers
//! carry the caller's names, so that [`crate::kir::v2::Linker`] joins the programs of one layer by
//! name. A routing table `r` lives in GM as `{r}_order`, `{r}_position` and `{r}_offsets` (i32).

pub mod gmm;
pub mod route;
pub mod rows;
