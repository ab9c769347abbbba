//! The reference interpreter over the graph IR (the numeric oracle).
