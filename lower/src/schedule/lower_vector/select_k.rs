//! Selection: top-k and group top-k over segments (an index code per element, lowest index among equals).

use super::*;

impl Lowering<'_> {
    /// A resident tile holding, for every element of a `cols`-wide row split into `segs_x` segments of
    /// `last`, its index along the last axis (as `f32`).
    pub(super) fn index_tile(&mut self, cols: u32, segs_x: u32, last: u32, like: Tile) -> Tile {
        let key = (last, segs_x, cols, 0);
        if let Some(&t) = self.iota.get(&key) {
            return t;
        }
        let row = self.tile_in(
            "iota",
            Elem::F32,
            Rows::Fixed(1),
            last,
            last.div_ceil(8) * 8,
            BufferKind::Resident,
        );
        self.push(
            StageKind::Init,
            InstData::Iota {
                dst: row,
                count: last,
            },
        );
        let d = self.f.tiles[like].clone();
        let full = self.tile_in(
            "index",
            Elem::F32,
            d.rows,
            d.cols,
            d.stride,
            BufferKind::Resident,
        );
        let seg = self.seg_view(cols, segs_x, last);
        self.push(
            StageKind::Init,
            InstData::VecExpand {
                dst: full,
                src: row,
                seg,
            },
        );
        self.iota.insert(key, full);
        full
    }

    /// Top-`k` of each of `groups` groups of the last axis (length `last`, `segs_x` per row) of `x`,
    /// lowest index first among equal values. Writes the values to `values` and the indices along the
    /// last axis to `indices` (either may be absent). With `min`, picks minima (argmin).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn select_k(
        &mut self,
        op: Op,
        x: Value,
        segs_x: u32,
        last: u32,
        groups: u32,
        k: u32,
        min: bool,
        values: Option<Value>,
        indices: Option<Value>,
    ) -> Result<(), LowerError> {
        let (cols, _) = self
            .row_class(x)
            .ok_or_else(|| self.unsupported(op, "operand is not a row tensor"))?;
        if Elem::compute(self.dtype(x)) != Elem::F32 {
            return Err(self.unsupported(op, "selection on i32 has no vector lowering yet"));
        }
        let segs = segs_x * groups;
        let len = last / groups;
        let x_tile = self.value_tile(op, x)?;
        let (src, seg) = self.seg_operand(x_tile, segs, len);
        let index = if spread::spreads(segs, len) {
            self.relayout_index(spread::Relayout::Positions { segs, len, groups })
        } else {
            self.index_tile(cols, segs_x, last, src)
        };
        // Output layout for k > 1: `k` picks per segment.
        let out_cols = segs * k;
        let out_seg = SegView {
            segs,
            len: k,
            stride: if segs > 1 {
                k
            } else {
                self.layouts.stride(out_cols)
            },
        };
        // The selection rule (README "Numeric rules"): a NaN wins, then the largest value (the smallest with
        // `min`), the lowest index among equals (-0.0 equals +0.0). What the extremum instructions do with a
        // NaN is not documented, so they only ever see `key`, `x` with every NaN replaced by the weakest
        // value; NaN positions compete through the index candidates instead. Every candidate is an index
        // code: `i` for a NaN at index `i`, `last + i` for a value equal to the best key, and at least
        // `2 * last` for anything else (picked elements have their alive index set to `2 * last`), so one
        // minimum finds the pick and the result is always an index inside the segment.
        let (weakest, extremum) = if min {
            (f32::INFINITY, SegReduceOp::Min)
        } else {
            (f32::NEG_INFINITY, SegReduceOp::Max)
        };
        let gone = 2.0 * last as f32;
        let (not_nan, mut key) = self.nan_free_key(src, weakest);
        let mut alive_index = index;
        let mut picks: Vec<(Tile, Tile)> = Vec::new();
        for j in 0..k {
            let best = self.per_seg_tile("best", Elem::F32, segs);
            self.seg_reduce(extremum, best, key, seg);
            let best_b = self.seg_expand(best, src, seg);
            let hit = self.like("hit", Elem::Mask, src);
            self.emit(InstData::Compare {
                dst: hit,
                lhs: key,
                rhs: best_b,
                mode: CmpMode::Eq,
            });
            let shifted = self.like("index_plus", Elem::F32, src);
            self.emit(InstData::Scalar {
                op: VecScalar::Adds,
                dst: shifted,
                src: alive_index,
                scalar: Scalar::f32(last as f32),
            });
            let ranked = self.like("ranked", Elem::F32, src);
            self.emit(InstData::Select {
                dst: ranked,
                mask: hit,
                on_true: shifted,
                on_false: SelectFalse::Scalar(Scalar::f32(gone)),
            });
            let cand = self.like("cand", Elem::F32, src);
            self.emit(InstData::Select {
                dst: cand,
                mask: not_nan,
                on_true: ranked,
                on_false: SelectFalse::Tile(alive_index),
            });
            let code = self.per_seg_tile("best_code", Elem::F32, segs);
            self.seg_reduce(SegReduceOp::Min, code, cand, seg);
            // index = code - last * [code >= last], with [code >= last] = min(max(code + 1 - last, 0), 1) on
            // whole numbers.
            let over = self.per_seg_tile("over", Elem::F32, segs);
            for (op, scalar) in [
                (VecScalar::Adds, 1.0 - last as f32),
                (VecScalar::Maxs, 0.0),
                (VecScalar::Mins, 1.0),
                (VecScalar::Muls, -(last as f32)),
            ] {
                let from = if op == VecScalar::Adds { code } else { over };
                self.emit(InstData::Scalar {
                    op,
                    dst: over,
                    src: from,
                    scalar: Scalar::f32(scalar),
                });
            }
            let ix = self.per_seg_tile("best_index", Elem::F32, segs);
            self.emit(InstData::Binary {
                op: VecBinary::Add,
                dst: ix,
                lhs: code,
                rhs: over,
            });
            let mut value = ix;
            if values.is_some() || j + 1 < k {
                let ib = self.seg_expand(ix, src, seg);
                let is_pick = self.like("is_pick", Elem::Mask, src);
                self.emit(InstData::Compare {
                    dst: is_pick,
                    lhs: index,
                    rhs: ib,
                    mode: CmpMode::Eq,
                });
                if let Some(vv) = values {
                    // The picked value: a sum of x[pick] and -0.0 elsewhere, exact for every x (NaN and
                    // infinities included).
                    let picked = self.masked_part("picked", is_pick, src);
                    value = if k == 1 {
                        self.result_tile(vv, Elem::F32)
                    } else {
                        self.per_seg_tile("value", Elem::F32, segs)
                    };
                    self.seg_reduce(SegReduceOp::Sum, value, picked, seg);
                }
                if j + 1 < k {
                    // Knock the pick out of the later rounds.
                    let other = self.like("other", Elem::Mask, src);
                    self.emit(InstData::Not {
                        dst: other,
                        src: is_pick,
                    });
                    let next_index = self.like("alive_index", Elem::F32, src);
                    self.emit(InstData::Select {
                        dst: next_index,
                        mask: other,
                        on_true: alive_index,
                        on_false: SelectFalse::Scalar(Scalar::f32(gone)),
                    });
                    let next_key = self.like("key", Elem::F32, src);
                    self.emit(InstData::Select {
                        dst: next_key,
                        mask: other,
                        on_true: key,
                        on_false: SelectFalse::Scalar(Scalar::f32(weakest)),
                    });
                    alive_index = next_index;
                    key = next_key;
                }
            }
            picks.push((value, ix));
        }
        let (val_f, idx_f) = if k == 1 {
            picks[0]
        } else {
            // Merge the picks column by column into the output layout.
            let stride = out_seg.stride * if segs > 1 { segs } else { 1 };
            let col_row = self.tile_in(
                "pick",
                Elem::F32,
                Rows::Fixed(1),
                k,
                k.div_ceil(8) * 8,
                BufferKind::Resident,
            );
            self.push(
                StageKind::Init,
                InstData::Iota {
                    dst: col_row,
                    count: k,
                },
            );
            let col = self.tile_in(
                "pick_index",
                Elem::F32,
                Rows::Tile { mult: 1 },
                out_cols,
                stride,
                BufferKind::Resident,
            );
            self.push(
                StageKind::Init,
                InstData::VecExpand {
                    dst: col,
                    src: col_row,
                    seg: out_seg,
                },
            );
            let mut merged: [Option<Tile>; 2] = [None, None];
            for (j, &(v, ix)) in picks.iter().enumerate() {
                let mask = if j > 0 {
                    let jt = self.like("j", Elem::F32, col);
                    self.emit(InstData::Duplicate {
                        dst: jt,
                        scalar: Scalar::f32(j as f32),
                    });
                    let m = self.like("is_j", Elem::Mask, col);
                    self.emit(InstData::Compare {
                        dst: m,
                        lhs: col,
                        rhs: jt,
                        mode: CmpMode::Eq,
                    });
                    Some(m)
                } else {
                    None
                };
                for (slot, src1) in [v, ix].into_iter().enumerate() {
                    let b = self.seg_expand(src1, col, out_seg);
                    merged[slot] = Some(match (merged[slot], mask) {
                        (Some(prev), Some(m)) => {
                            let t = self.like("merged", Elem::F32, col);
                            self.emit(InstData::Select {
                                dst: t,
                                mask: m,
                                on_true: b,
                                on_false: SelectFalse::Tile(prev),
                            });
                            t
                        }
                        _ => b,
                    });
                }
            }
            match merged {
                [Some(a), Some(b)] => (a, b),
                _ => return Err(self.unsupported(op, "k must be at least 1")),
            }
        };
        if let Some(v) = values {
            let dst = if k == 1 {
                val_f
            } else {
                let dst = self.result_tile(v, Elem::F32);
                self.emit(InstData::Scalar {
                    op: VecScalar::Muls,
                    dst,
                    src: val_f,
                    scalar: Scalar::f32(1.0),
                });
                dst
            };
            self.tile.insert(v, dst);
        }
        if let Some(i) = indices {
            let dst = self.result_tile(i, Elem::I32);
            self.emit(InstData::Cast {
                dst,
                src: idx_f,
                round: Round::Rint,
            });
            self.tile.insert(i, dst);
        }
        Ok(())
    }
}
