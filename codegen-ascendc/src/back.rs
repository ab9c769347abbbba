//! Shared bits of the text backend: indentation levels.

use std::fmt;

/// One level of indentation.
pub const INDENT: &str = "    ";

/// An indentation level; its `Display` prints the indent.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default)]
pub struct Level(pub usize);

impl Level {
    /// The next level in.
    pub fn next(self) -> Level {
        Level(self.0 + 1)
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for _ in 0..self.0 {
            f.write_str(INDENT)?;
        }
        Ok(())
    }
}
