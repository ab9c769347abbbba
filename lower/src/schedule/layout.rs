//! Row layouts: how many elements apart the rows of a tile of a given width are.
//!
//! All tiles of one width (`cols`, elements per row) in a kernel share one stride, so that whole-tile
//! instructions can combine them element by element. A width is laid out:
//! - **dense** (`stride == cols`) by default: a tile is then one contiguous span, in UB as in GM, and is
//!   copied with a single DMA block;
//! - **padded** (`stride = align_up(cols, 8)`, or 16 when a 16-bit tile of that width is copied row by
//!   row) when an instruction needs every row to start on a 32-byte boundary (segment reductions and
//!   broadcasts address rows in 32-byte blocks); rows are then copied one DMA block each, padded.
//!
//! A width that is a multiple of 8 is both. A width one op needs dense (a per-segment result written
//! densely) and another needs padded cannot be laid out and is refused.

use rustc_hash::FxHashMap;

use crate::graph::SrcLoc;

use super::LowerError;

#[derive(Clone, Default, Debug)]
struct Need {
    padded: Option<(String, SrcLoc)>,
    dense: Option<(String, SrcLoc)>,
    dma16: bool,
}

/// Collects layout requirements, then decides every width's stride.
#[derive(Clone, Default, Debug)]
pub struct LayoutBuilder {
    needs: FxHashMap<u32, Need>,
}

/// The decided strides.
#[derive(Clone, Default, Debug)]
pub struct Layouts {
    strides: FxHashMap<u32, u32>,
}

impl LayoutBuilder {
    /// Rows of width `cols` must start 32-byte aligned (for op `op` at `loc`).
    pub fn need_padded(&mut self, cols: u32, op: &str, loc: SrcLoc) {
        self.needs
            .entry(cols)
            .or_default()
            .padded
            .get_or_insert((op.to_string(), loc));
    }

    /// Rows of width `cols` must be contiguous (for op `op` at `loc`).
    pub fn need_dense(&mut self, cols: u32, op: &str, loc: SrcLoc) {
        self.needs
            .entry(cols)
            .or_default()
            .dense
            .get_or_insert((op.to_string(), loc));
    }

    /// A 16-bit tile of width `cols` is copied between GM and UB.
    pub fn need_dma16(&mut self, cols: u32) {
        self.needs.entry(cols).or_default().dma16 = true;
    }

    /// Decides the strides; fails for a width that must be both dense and padded.
    pub fn finish(self) -> Result<Layouts, LowerError> {
        let mut strides = FxHashMap::default();
        let mut widths: Vec<_> = self.needs.into_iter().collect();
        widths.sort_by_key(|(c, _)| *c);
        for (cols, need) in widths {
            let stride = if cols % 8 == 0 {
                cols
            } else if let Some((op, loc)) = need.padded {
                if let Some((other, _)) = need.dense {
                    return Err(LowerError::Unsupported {
                        op,
                        loc,
                        reason: format!(
                            "rows of {cols} elements must start 32-byte aligned here, but `{other}` writes them densely"
                        ),
                    });
                }
                let align = if need.dma16 { 16 } else { 8 };
                cols.div_ceil(align) * align
            } else {
                cols
            };
            strides.insert(cols, stride);
        }
        Ok(Layouts { strides })
    }
}

impl Layouts {
    /// The stride of rows of width `cols` (dense for widths nobody constrained).
    pub fn stride(&self, cols: u32) -> u32 {
        self.strides.get(&cols).copied().unwrap_or(cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decides_strides() {
        let mut b = LayoutBuilder::default();
        b.need_padded(3, "softmax", SrcLoc::default());
        b.need_padded(5, "softmax", SrcLoc::default());
        b.need_dma16(5);
        b.need_dense(6, "group_topk", SrcLoc::default());
        b.need_padded(64, "softmax", SrcLoc::default());
        b.need_dense(64, "group_topk", SrcLoc::default());
        let l = b.finish().unwrap();
        assert_eq!(l.stride(3), 8);
        assert_eq!(l.stride(5), 16);
        assert_eq!(l.stride(6), 6);
        assert_eq!(l.stride(64), 64);
        assert_eq!(l.stride(7), 7);
        let mut b = LayoutBuilder::default();
        b.need_padded(
            3,
            "reduce",
            SrcLoc {
                line: 4,
                col: 2,
                end_line: 4,
                end_col: 9,
            },
        );
        b.need_dense(3, "group_topk", SrcLoc::default());
        let err = b.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot lower `reduce` at line 4, column 2: rows of 3 elements must start 32-byte aligned here, but `group_topk` writes them densely"
        );
    }
}
