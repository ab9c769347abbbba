//! The timing model's parameter table: one table per target, each value with its source and
//! confidence. It is defined in `moge_lower::cost` so that the tile planners can estimate candidate
//! tilings with the same costs the replay uses (the planner must not depend on the runtime); see that
//! module for the table.

pub use moge_lower::cost::{Params, UnknownCostTarget};

impl From<UnknownCostTarget> for super::ModelError {
    fn from(e: UnknownCostTarget) -> Self {
        super::ModelError::UnknownTarget { target: e.target }
    }
}
