//! Conversions between dtypes (`cast`), with the rounding the reference interpreter applies.

use super::*;

impl Lowering<'_> {
    pub(super) fn cast(
        &mut self,
        op: Op,
        x: Value,
        to: DType,
        res: Value,
    ) -> Result<(), LowerError> {
        let from = self.dtype(x);
        let src = self.value_tile(op, x)?;
        let (fe, te) = (Elem::compute(from), Elem::compute(to));
        let dst = match (fe, te) {
            (Elem::F32, Elem::F32) => {
                if !is16(to) || from == to {
                    // Widening (or same type): the f32 value is already exact.
                    self.tile.insert(res, src);
                    return Ok(());
                }
                // Round through a 16-bit scratch tile.
                let dst = self.result_tile(res, te);
                let half = self.like("round", Elem::storage(to), src);
                self.emit(InstData::Cast {
                    dst: half,
                    src,
                    round: Round::Rint,
                });
                self.emit(InstData::Cast {
                    dst,
                    src: half,
                    round: Round::None,
                });
                dst
            }
            (Elem::F32, Elem::I32) => {
                let dst = self.result_tile(res, te);
                self.emit(InstData::Cast {
                    dst,
                    src,
                    round: Round::Trunc,
                });
                dst
            }
            (Elem::I32, Elem::F32) => {
                let dst = self.result_tile(res, te);
                self.emit(InstData::Cast {
                    dst,
                    src,
                    round: Round::Rint,
                });
                self.round_to(dst, to);
                dst
            }
            (Elem::I32, Elem::I32) | (Elem::Mask, Elem::Mask) => {
                self.tile.insert(res, src);
                return Ok(());
            }
            (Elem::Mask, _) => {
                let ones = self.like("ones", Elem::F32, src);
                self.emit(InstData::Duplicate {
                    dst: ones,
                    scalar: Scalar::f32(1.0),
                });
                if te == Elem::F32 {
                    let dst = self.result_tile(res, te);
                    self.emit(InstData::Select {
                        dst,
                        mask: src,
                        on_true: ones,
                        on_false: SelectFalse::Scalar(Scalar::f32(0.0)),
                    });
                    dst
                } else {
                    let f = self.like("flt", Elem::F32, src);
                    self.emit(InstData::Select {
                        dst: f,
                        mask: src,
                        on_true: ones,
                        on_false: SelectFalse::Scalar(Scalar::f32(0.0)),
                    });
                    let dst = self.result_tile(res, te);
                    self.emit(InstData::Cast {
                        dst,
                        src: f,
                        round: Round::Rint,
                    });
                    dst
                }
            }
            (_, Elem::Mask) => {
                let zero = self.like("zero", fe, src);
                let s = if fe == Elem::I32 {
                    Scalar::I32(0)
                } else {
                    Scalar::f32(0.0)
                };
                self.emit(InstData::Duplicate {
                    dst: zero,
                    scalar: s,
                });
                let dst = self.like(&res.to_string(), Elem::Mask, src);
                if fe == Elem::I32 {
                    self.emit(InstData::Compare {
                        dst,
                        lhs: src,
                        rhs: zero,
                        mode: CmpMode::Eq,
                    });
                    self.emit(InstData::Not { dst, src: dst });
                } else {
                    self.emit(InstData::Compare {
                        dst,
                        lhs: src,
                        rhs: zero,
                        mode: CmpMode::Ne,
                    });
                }
                dst
            }
            _ => return Err(self.unsupported(op, "unsupported conversion")),
        };
        self.tile.insert(res, dst);
        Ok(())
    }
}
