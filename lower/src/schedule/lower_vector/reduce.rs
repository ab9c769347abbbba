//! Segment reductions and the composites built on them: reduce, softmax, RMSNorm.

use super::*;

impl Lowering<'_> {
    /// The segment view of `cols`-wide rows in `segs` segments of `len`.
    pub(super) fn seg_view(&self, cols: u32, segs: u32, len: u32) -> SegView {
        SegView {
            segs,
            len,
            stride: if segs > 1 {
                len
            } else {
                self.layouts.stride(cols)
            },
        }
    }

    /// A dense tile of one value per segment (`segs` per row).
    pub(super) fn per_seg_tile(&mut self, name: &str, elem: Elem, segs: u32) -> Tile {
        self.tile_in(
            name,
            elem,
            Rows::Tile { mult: 1 },
            segs,
            segs,
            BufferKind::Scratch,
        )
    }

    pub(super) fn seg_reduce(&mut self, rop: SegReduceOp, dst: Tile, src: Tile, seg: SegView) {
        let segs = seg.segs;
        let fold = if seg.len > 64 {
            Some(self.tile_in(
                "fold",
                Elem::F32,
                Rows::Tile { mult: segs },
                64,
                64,
                BufferKind::Scratch,
            ))
        } else if seg.len == 64 && seg.stride == 64 {
            // Dense 64-element segments reduce by BlockReduce twice (8 partials a segment into
            // `fold`, then the 8) at one cycle a repeat, where WholeReduce takes ~7 a segment
            // (costmodel-910b.md §2.3); the partials need 8 elements a segment.
            Some(self.tile_in(
                "fold",
                Elem::F32,
                Rows::Tile { mult: segs },
                8,
                8,
                BufferKind::Scratch,
            ))
        } else {
            None
        };
        self.emit(InstData::SegReduce {
            op: rop,
            dst,
            src,
            seg,
            fold,
        });
    }

    pub(super) fn seg_expand(&mut self, src: Tile, like: Tile, seg: SegView) -> Tile {
        let elem = self.f.tiles[src].elem;
        let dst = self.like("bcast", elem, like);
        // Dense one-block segments, 8 or a multiple a row: MogeSegExpand writes the broadcast blocks
        // straight into dst and touches no scratch, so dst stands in for `blocks` and the UB a
        // tile-sized scratch would take goes to the tile rows.
        let blocks = if seg.is_blocks(elem) {
            dst
        } else {
            self.tile_in(
                "blocks",
                elem,
                Rows::Tile { mult: seg.segs },
                8,
                8,
                BufferKind::Scratch,
            )
        };
        self.emit(InstData::SegExpand {
            dst,
            src,
            seg,
            blocks,
        });
        dst
    }

    /// `dst = lhs <op> src` with one `src` value per segment of `lhs`.
    pub(super) fn seg_binary(
        &mut self,
        op: VecBinary,
        dst: Tile,
        lhs: Tile,
        src: Tile,
        seg: SegView,
    ) {
        let elem = self.f.tiles[src].elem;
        let blocks = self.tile_in(
            "blocks",
            elem,
            Rows::Tile { mult: seg.segs },
            8,
            8,
            BufferKind::Scratch,
        );
        self.emit(InstData::SegBinary {
            op,
            dst,
            lhs,
            src,
            seg,
            blocks,
        });
    }

    pub(super) fn reduce(
        &mut self,
        op: Op,
        r: ReduceOp,
        axis: u32,
        x: Value,
        res: Value,
    ) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        if Elem::compute(dtype) != Elem::F32 {
            return Err(self.unsupported(
                op,
                "integer reductions have no vector instruction on this target",
            ));
        }
        let (segs, len) = self.last_axis_segs(op, x, axis)?;
        let src = self.value_tile(op, x)?;
        let (src, seg) = self.seg_operand(src, segs, len);
        let dst = self.result_tile(res, Elem::F32);
        match r {
            ReduceOp::Sum | ReduceOp::Mean => self.seg_reduce(SegReduceOp::Sum, dst, src, seg),
            ReduceOp::Max | ReduceOp::Min => self.nan_extremum(r == ReduceOp::Min, dst, src, seg),
        }
        if r == ReduceOp::Mean {
            let n = self.like("seg_len", Elem::F32, dst);
            self.emit(InstData::Duplicate {
                dst: n,
                scalar: Scalar::f32(len as f32),
            });
            self.emit(InstData::Binary {
                op: VecBinary::Div,
                dst,
                lhs: dst,
                rhs: n,
            });
        }
        if r != ReduceOp::Max && r != ReduceOp::Min {
            self.round_to(dst, dtype);
        }
        self.tile.insert(res, dst);
        Ok(())
    }

    /// `dst = max(segment)` (`min` with `min`), NaN when the segment holds one (README "Numeric rules").
    /// The extremum instruction sees `x` with NaN replaced by the weakest value, since what it does with a
    /// NaN is not documented; a sum of NaN where `x` is NaN and -0.0 elsewhere is then added, which is NaN
    /// when there was one and leaves every other result exact.
    pub(super) fn nan_extremum(&mut self, min: bool, dst: Tile, src: Tile, seg: SegView) {
        let (weakest, extremum) = if min {
            (f32::INFINITY, SegReduceOp::Min)
        } else {
            (f32::NEG_INFINITY, SegReduceOp::Max)
        };
        let (not_nan, key) = self.nan_free_key(src, weakest);
        self.seg_reduce(extremum, dst, key, seg);
        let is_nan = self.like("is_nan", Elem::Mask, src);
        self.emit(InstData::Not {
            dst: is_nan,
            src: not_nan,
        });
        let nan_part = self.masked_part("nan_part", is_nan, src);
        let nan_sum = self.like("nan_sum", Elem::F32, dst);
        self.seg_reduce(SegReduceOp::Sum, nan_sum, nan_part, seg);
        self.emit(InstData::Binary {
            op: VecBinary::Add,
            dst,
            lhs: dst,
            rhs: nan_sum,
        });
    }

    /// `(not_nan, key)`: the mask `x == x` and `key`, `x` with every NaN replaced by `weakest`, the only
    /// form of `x` the extremum instructions see (what they do with a NaN is not documented).
    pub(super) fn nan_free_key(&mut self, src: Tile, weakest: f32) -> (Tile, Tile) {
        let not_nan = self.like("not_nan", Elem::Mask, src);
        self.emit(InstData::Compare {
            dst: not_nan,
            lhs: src,
            rhs: src,
            mode: CmpMode::Eq,
        });
        let key = self.like("key", Elem::F32, src);
        self.emit(InstData::Select {
            dst: key,
            mask: not_nan,
            on_true: src,
            on_false: SelectFalse::Scalar(Scalar::f32(weakest)),
        });
        (not_nan, key)
    }

    /// A tile named `name` holding `src` where `mask` is set and -0.0 elsewhere: its segment sum is exact
    /// (the masked element itself, NaN and infinities included, when one element is set per segment).
    pub(super) fn masked_part(&mut self, name: &str, mask: Tile, src: Tile) -> Tile {
        let part = self.like(name, Elem::F32, src);
        self.emit(InstData::Select {
            dst: part,
            mask,
            on_true: src,
            on_false: SelectFalse::Scalar(Scalar::f32(-0.0)),
        });
        part
    }

    pub(super) fn softmax(
        &mut self,
        op: Op,
        x: Value,
        axis: u32,
        log: bool,
        res: Value,
    ) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        let (segs, len) = self.last_axis_segs(op, x, axis)?;
        let src = self.value_tile(op, x)?;
        let (src, seg) = self.seg_operand(src, segs, len);
        // m = max(x); y = x - m; e = exp(y); s = sum(e)
        let m = self.per_seg_tile("seg_max", Elem::F32, segs);
        self.seg_reduce(SegReduceOp::Max, m, src, seg);
        let y = self.like("shifted", Elem::F32, src);
        self.seg_binary(VecBinary::Sub, y, src, m, seg);
        let e = self.like("exp", Elem::F32, src);
        self.emit(InstData::Unary {
            op: VecUnary::Exp,
            dst: e,
            src: y,
        });
        let s = self.per_seg_tile("seg_sum", Elem::F32, segs);
        self.seg_reduce(SegReduceOp::Sum, s, e, seg);
        let out = self.result_tile(res, Elem::F32);
        // Computed spread, then packed into the row layout.
        let spread = src != self.value_tile(op, x)?;
        let dst = if spread {
            self.like("spread_out", Elem::F32, src)
        } else {
            out
        };
        if log {
            // y - log(s)
            self.emit(InstData::Unary {
                op: VecUnary::Ln,
                dst: s,
                src: s,
            });
            self.seg_binary(VecBinary::Sub, dst, y, s, seg);
        } else {
            // e / s
            self.seg_binary(VecBinary::Div, dst, e, s, seg);
        }
        if spread {
            self.pack(StageKind::Compute, out, dst, segs, len);
        }
        self.round_to(out, dtype);
        self.tile.insert(res, out);
        Ok(())
    }

    pub(super) fn rms_norm(
        &mut self,
        op: Op,
        x: Value,
        w: Value,
        eps: f64,
        res: Value,
    ) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        let (_, tail) = self
            .row_class(x)
            .ok_or_else(|| self.unsupported(op, "operand is not a row tensor"))?;
        let rank = tail.len() as u32;
        let (segs, len) = self.last_axis_segs(op, x, rank)?;
        let x_tile = self.value_tile(op, x)?;
        let (src, seg) = self.seg_operand(x_tile, segs, len);
        // x / sqrt(sum(x^2) / n + eps) * weight
        let sq = self.like("square", Elem::F32, src);
        self.emit(InstData::Binary {
            op: VecBinary::Mul,
            dst: sq,
            lhs: src,
            rhs: src,
        });
        let ms = self.per_seg_tile("mean_square", Elem::F32, segs);
        self.seg_reduce(SegReduceOp::Sum, ms, sq, seg);
        let n = self.per_seg_tile("seg_len", Elem::F32, segs);
        self.emit(InstData::Duplicate {
            dst: n,
            scalar: Scalar::f32(len as f32),
        });
        self.emit(InstData::Binary {
            op: VecBinary::Div,
            dst: ms,
            lhs: ms,
            rhs: n,
        });
        self.emit(InstData::Scalar {
            op: VecScalar::Adds,
            dst: ms,
            src: ms,
            scalar: Scalar::f32(eps as f32),
        });
        self.emit(InstData::Unary {
            op: VecUnary::Sqrt,
            dst: ms,
            src: ms,
        });
        let normed = self.like("normed", Elem::F32, src);
        self.seg_binary(VecBinary::Div, normed, src, ms, seg);
        let Some(Class::Resident { elems, .. }) = self.class.get(&w).cloned() else {
            return Err(self.unsupported(
                op,
                "the rms_norm weight must be a parameter without the row dim",
            ));
        };
        if elems != len {
            return Err(self.unsupported(
                op,
                "the rms_norm weight must have the length of the last axis",
            ));
        }
        let wt = self.value_tile(op, w)?;
        let out = self.result_tile(res, Elem::F32);
        // Computed spread, then packed into the row layout.
        let dst = if src != x_tile {
            self.like("spread_out", Elem::F32, src)
        } else {
            out
        };
        self.emit(InstData::VecBinary {
            op: VecBinary::Mul,
            dst,
            lhs: normed,
            src: wt,
            seg,
        });
        if dst != out {
            self.pack(StageKind::Compute, out, dst, segs, len);
        }
        self.round_to(out, dtype);
        self.tile.insert(res, out);
        Ok(())
    }
}
