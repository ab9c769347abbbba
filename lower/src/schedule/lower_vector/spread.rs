//! The spread layout: segments whose length is not a multiple of 8 elements, moved apart so that each
//! starts 32-byte aligned.
//!
//! The segment instructions (`SegReduce`, `SegExpand`, `SegBinary`, `VecExpand`, `VecBinary`) address
//! segments in 32-byte blocks, so every segment must start on a block. A row of `segs` groups of `len`
//! elements (`len` not a multiple of 8, more than one group per row) is therefore computed on a *spread*
//! copy: segment `g` of the tile (counted over all rows) at element `g * P`, `P = align_up(len, 8)`, so
//! rows are `segs * P` apart. The lanes between `len` and `P` hold copies of the segment's last element
//! (so every lane holds a value of the row, never stale memory) and are outside every segment view, so
//! no reduction and no selection ever sees them.
//!
//! Moving a tile between its row layout and the spread layout is one whole-tile table lookup (`Gather`)
//! with a precomputed index tile per direction, built once per core in `init` from a numbering of the
//! tile (`Iota`) with whole-tile arithmetic: no per-row or per-element loop. The index arithmetic is on
//! whole numbers in `f32`, exact below 2^24 elements (a UB tile holds fewer than 2^16); `floor(q / d)` is
//! the truncation of `(q + 0.5) / d`, which is at least `0.5 / d` away from the next whole number, far
//! more than the rounding of the product.

use super::*;

/// Elements from one spread segment to the next: `len` rounded up to whole 32-byte blocks of `f32`.
pub(super) fn spread_stride(len: u32) -> u32 {
    len.div_ceil(8) * 8
}

/// Whether `segs` segments of `len` per row are computed in the spread layout.
pub(super) fn spreads(segs: u32, len: u32) -> bool {
    segs > 1 && !len.is_multiple_of(8)
}

/// Whether the broadcast `b` is over groups in the spread layout (so it cannot be applied in place to
/// an operand in the row layout).
pub(super) fn spread_bcast(b: Bcast) -> bool {
    match b {
        Bcast::Seg { segs, len } | Bcast::Vec { segs, len } => spreads(segs, len),
        Bcast::Same | Bcast::Scalar => false,
    }
}

/// What an index tile of the relayout cache maps.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub(super) enum Relayout {
    /// Spread position -> row-layout element of rows `stride` apart.
    Spread { segs: u32, len: u32, stride: u32 },
    /// Row-layout element (rows `stride` apart, `cols` valid) -> spread position.
    Pack {
        segs: u32,
        len: u32,
        cols: u32,
        stride: u32,
    },
    /// Spread position -> its index along an axis of `groups` segments of `len` (as `f32`).
    Positions { segs: u32, len: u32, groups: u32 },
}

impl Lowering<'_> {
    /// `src` (rows of `segs` segments of `len`) in a layout the segment instructions address, with the
    /// view of its segments: `src` itself when its segments are aligned, else a spread copy.
    pub(super) fn seg_operand(&mut self, src: Tile, segs: u32, len: u32) -> (Tile, SegView) {
        let d = self.f.tiles[src].clone();
        if !spreads(segs, len) {
            return (src, self.seg_view(d.cols, segs, len));
        }
        // A value's tile is final once its op is lowered, and no op writes into its operand's spread
        // copy: ops on the same groups of a value (its max, argmax and sum) share one copy.
        if let Some(&spread) = self.spread_copy.get(&(src, segs, len)) {
            return (spread, spread_view(segs, len));
        }
        let spread = self.spread_tile("spread", d.elem, segs, len);
        let index = self.relayout_index(Relayout::Spread {
            segs,
            len,
            stride: d.stride,
        });
        self.lookup(StageKind::Compute, spread, src, index);
        self.spread_copy.insert((src, segs, len), spread);
        (spread, spread_view(segs, len))
    }

    /// A scratch tile of rows of `segs` spread segments of `len`.
    pub(super) fn spread_tile(&mut self, name: &str, elem: Elem, segs: u32, len: u32) -> Tile {
        let w = segs * spread_stride(len);
        self.tile_in(
            name,
            elem,
            Rows::Tile { mult: 1 },
            w,
            w,
            BufferKind::Scratch,
        )
    }

    /// Packs the spread tile `spread` (`segs` segments of `len` per row) into `dst`, a tile in the
    /// row layout of its width, in stage `stage`.
    pub(super) fn pack(&mut self, stage: StageKind, dst: Tile, spread: Tile, segs: u32, len: u32) {
        let d = self.f.tiles[dst].clone();
        let index = self.relayout_index(Relayout::Pack {
            segs,
            len,
            cols: d.cols,
            stride: d.stride,
        });
        self.lookup(stage, dst, spread, index);
    }

    /// Broadcasts `src` over the `segs` groups of `len` of every row of `dst` (row layout), in stage
    /// `stage`: one value per group (`per_seg`, `SegExpand`) or a vector repeated over the groups
    /// (`VecExpand`). Expanded into the spread layout, whose groups are aligned, then packed.
    pub(super) fn spread_expand(
        &mut self,
        stage: StageKind,
        dst: Tile,
        src: Tile,
        segs: u32,
        len: u32,
        per_seg: bool,
    ) {
        let elem = self.f.tiles[src].elem;
        let wide = self.spread_tile("bcast", elem, segs, len);
        let seg = spread_view(segs, len);
        let data = if per_seg {
            let blocks = self.tile_in(
                "blocks",
                elem,
                Rows::Tile { mult: segs },
                8,
                8,
                BufferKind::Scratch,
            );
            InstData::SegExpand {
                dst: wide,
                src,
                seg,
                blocks,
            }
        } else {
            InstData::VecExpand {
                dst: wide,
                src,
                seg,
            }
        };
        self.push(stage, data);
        self.pack(stage, dst, wide, segs, len);
    }

    /// `dst[k] = table[index[k]]` over the whole of `dst`.
    fn lookup(&mut self, stage: StageKind, dst: Tile, table: Tile, index: Tile) {
        let offsets = self.like("offsets", Elem::I32, index);
        self.push(
            stage,
            InstData::Gather {
                dst,
                table,
                index,
                offsets,
            },
        );
    }

    /// The resident index tile of `what`, built in `init` the first time it is asked for.
    pub(super) fn relayout_index(&mut self, what: Relayout) -> Tile {
        if let Some(&t) = self.relayout.get(&what) {
            return t;
        }
        let t = match what {
            Relayout::Spread { segs, len, stride } => {
                let p = spread_stride(len);
                let q = self.init_iota(segs * p, segs * p);
                // g = floor(q / P), j = min(q - g * P, len - 1); r = floor(g / segs), s = g - r * segs.
                let g = self.init_floor_div(q, p);
                let gp = self.init_scalar(VecScalar::Muls, g, p as f32);
                let j = self.init_binary(VecBinary::Sub, q, gp);
                let j = self.init_scalar(VecScalar::Mins, j, (len - 1) as f32);
                // r * stride + s * len = g * len + r * (stride - segs * len): the last term only for
                // padded rows.
                let b = self.init_scalar(VecScalar::Muls, g, len as f32);
                let b = if stride != segs * len {
                    let r = self.init_floor_div(g, segs);
                    let a = self.init_scalar(VecScalar::Muls, r, (stride - segs * len) as f32);
                    self.init_binary(VecBinary::Add, a, b)
                } else {
                    b
                };
                let src = self.init_binary(VecBinary::Add, b, j);
                self.init_to_i32(src)
            }
            Relayout::Pack {
                segs,
                len,
                cols,
                stride,
            } => {
                let src = self.pack_source(segs, len, cols, stride);
                self.init_to_i32(src)
            }
            Relayout::Positions { segs, len, groups } => {
                let p = spread_stride(len);
                let q = self.init_iota(segs * p, segs * p);
                // g = floor(q / P), j = q - g * P; the group along the axis h = g - floor(g / groups) *
                // groups; position h * len + j (past `len` in the padding lanes, which no view reads).
                let g = self.init_floor_div(q, p);
                let gp = self.init_scalar(VecScalar::Muls, g, p as f32);
                let j = self.init_binary(VecBinary::Sub, q, gp);
                let n = self.init_floor_div(g, groups);
                let ng = self.init_scalar(VecScalar::Muls, n, groups as f32);
                let h = self.init_binary(VecBinary::Sub, g, ng);
                let hl = self.init_scalar(VecScalar::Muls, h, len as f32);
                let pos = self.resident_like("index", Elem::F32, q);
                self.push(
                    StageKind::Init,
                    InstData::Binary {
                        op: VecBinary::Add,
                        dst: pos,
                        lhs: hl,
                        rhs: j,
                    },
                );
                pos
            }
        };
        self.relayout.insert(what, t);
        t
    }

    /// For every element of rows of `cols` (`stride` apart) holding `segs` segments of `len`, the spread
    /// position it is packed from (`f32`).
    fn pack_source(&mut self, segs: u32, len: u32, cols: u32, stride: u32) -> Tile {
        let p = spread_stride(len);
        let q = self.init_iota(cols, stride);
        if stride == segs * len {
            // Dense rows: element q is element j = q - g * len of segment g = floor(q / len).
            let g = self.init_floor_div(q, len);
            let gl = self.init_scalar(VecScalar::Muls, g, len as f32);
            let j = self.init_binary(VecBinary::Sub, q, gl);
            let gp = self.init_scalar(VecScalar::Muls, g, p as f32);
            return self.init_binary(VecBinary::Add, gp, j);
        }
        // r = floor(q / stride), c = q - r * stride; s = min(floor(c / len), segs - 1),
        // j = min(c - s * len, len - 1) (the clamps only matter for padding past `cols`).
        let r = self.init_floor_div(q, stride);
        let rs = self.init_scalar(VecScalar::Muls, r, stride as f32);
        let c = self.init_binary(VecBinary::Sub, q, rs);
        let s = self.init_floor_div(c, len);
        let s = self.init_scalar(VecScalar::Mins, s, (segs - 1) as f32);
        let sl = self.init_scalar(VecScalar::Muls, s, len as f32);
        let j = self.init_binary(VecBinary::Sub, c, sl);
        let j = self.init_scalar(VecScalar::Mins, j, (len - 1) as f32);
        // (r * segs + s) * P + j
        let a = self.init_scalar(VecScalar::Muls, r, (segs * p) as f32);
        let b = self.init_scalar(VecScalar::Muls, s, p as f32);
        let ab = self.init_binary(VecBinary::Add, a, b);
        self.init_binary(VecBinary::Add, ab, j)
    }

    /// A resident tile like `like` (rows, cols, stride) of `elem`.
    fn resident_like(&mut self, name: &str, elem: Elem, like: Tile) -> Tile {
        let d = self.f.tiles[like].clone();
        self.tile_in(name, elem, d.rows, d.cols, d.stride, BufferKind::Resident)
    }

    /// A scratch `f32` tile of rows of `cols` (`stride` apart) numbering its elements: `q[k] = k`.
    fn init_iota(&mut self, cols: u32, stride: u32) -> Tile {
        let q = self.tile_in(
            "position",
            Elem::F32,
            Rows::Tile { mult: 1 },
            cols,
            stride,
            BufferKind::Scratch,
        );
        self.push(
            StageKind::Init,
            InstData::Iota {
                dst: q,
                count: stride,
            },
        );
        q
    }

    fn init_scalar(&mut self, op: VecScalar, src: Tile, scalar: f32) -> Tile {
        let dst = self.like("ix", Elem::F32, src);
        self.push(
            StageKind::Init,
            InstData::Scalar {
                op,
                dst,
                src,
                scalar: Scalar::f32(scalar),
            },
        );
        dst
    }

    fn init_binary(&mut self, op: VecBinary, lhs: Tile, rhs: Tile) -> Tile {
        let dst = self.like("ix", Elem::F32, lhs);
        self.push(StageKind::Init, InstData::Binary { op, dst, lhs, rhs });
        dst
    }

    /// `floor(q / d)` of whole numbers `q >= 0` (see the module docs for why it is exact).
    fn init_floor_div(&mut self, q: Tile, d: u32) -> Tile {
        let half = self.init_scalar(VecScalar::Adds, q, 0.5);
        let ratio = self.init_scalar(VecScalar::Muls, half, 1.0 / d as f32);
        let whole = self.like("ix_i32", Elem::I32, q);
        self.push(
            StageKind::Init,
            InstData::Cast {
                dst: whole,
                src: ratio,
                round: Round::Trunc,
            },
        );
        let out = self.like("ix", Elem::F32, q);
        self.push(
            StageKind::Init,
            InstData::Cast {
                dst: out,
                src: whole,
                round: Round::Rint,
            },
        );
        out
    }

    /// The whole numbers of `src` as a resident `i32` index tile.
    fn init_to_i32(&mut self, src: Tile) -> Tile {
        let dst = self.resident_like("relayout", Elem::I32, src);
        self.push(
            StageKind::Init,
            InstData::Cast {
                dst,
                src,
                round: Round::Rint,
            },
        );
        dst
    }
}

/// The view of a spread tile of `segs` segments of `len` per row.
pub(super) fn spread_view(segs: u32, len: u32) -> SegView {
    SegView {
        segs,
        len,
        stride: spread_stride(len),
    }
}
