//! Elementwise families: unary math, binary arithmetic (with broadcasting), comparisons and select.

use super::*;

impl Lowering<'_> {
    pub(super) fn unary(
        &mut self,
        op: Op,
        u: UnaryOp,
        x: Value,
        res: Value,
    ) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        let elem = Elem::compute(dtype);
        let src = self.value_tile(op, x)?;
        let dst = self.result_tile(res, elem);
        let one = |e: Elem, v: f32| {
            if e == Elem::I32 {
                Scalar::I32(v as i32)
            } else {
                Scalar::f32(v)
            }
        };
        let simple = |u: UnaryOp| match u {
            UnaryOp::Exp => Some(VecUnary::Exp),
            UnaryOp::Log => Some(VecUnary::Ln),
            UnaryOp::Sqrt => Some(VecUnary::Sqrt),
            UnaryOp::Rsqrt => Some(VecUnary::Rsqrt),
            UnaryOp::Recip => Some(VecUnary::Reciprocal),
            UnaryOp::Abs => Some(VecUnary::Abs),
            UnaryOp::Relu => Some(VecUnary::Relu),
            _ => None,
        };
        if elem == Elem::I32 && !matches!(u, UnaryOp::Neg | UnaryOp::Relu) {
            return Err(self.unsupported(
                op,
                format!(
                    "`{}` on i32 has no vector instruction on this target",
                    u.name()
                ),
            ));
        }
        let exact = matches!(u, UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Relu);
        match u {
            UnaryOp::Neg => self.emit(InstData::Scalar {
                op: VecScalar::Muls,
                dst,
                src,
                scalar: one(elem, -1.0),
            }),
            UnaryOp::Sigmoid | UnaryOp::Silu | UnaryOp::Tanh => {
                // sigmoid(x) = 1 / (1 + e^-x); silu(x) = x * sigmoid(x); tanh(x) = 2 * sigmoid(2x) - 1.
                let t = self.like("t", Elem::F32, src);
                let k = if u == UnaryOp::Tanh { -2.0 } else { -1.0 };
                self.emit(InstData::Scalar {
                    op: VecScalar::Muls,
                    dst: t,
                    src,
                    scalar: Scalar::f32(k),
                });
                self.emit(InstData::Unary {
                    op: VecUnary::Exp,
                    dst: t,
                    src: t,
                });
                self.emit(InstData::Scalar {
                    op: VecScalar::Adds,
                    dst: t,
                    src: t,
                    scalar: Scalar::f32(1.0),
                });
                match u {
                    UnaryOp::Sigmoid => self.emit(InstData::Unary {
                        op: VecUnary::Reciprocal,
                        dst,
                        src: t,
                    }),
                    UnaryOp::Silu => self.emit(InstData::Binary {
                        op: VecBinary::Div,
                        dst,
                        lhs: src,
                        rhs: t,
                    }),
                    _ => {
                        self.emit(InstData::Unary {
                            op: VecUnary::Reciprocal,
                            dst: t,
                            src: t,
                        });
                        self.emit(InstData::Scalar {
                            op: VecScalar::Muls,
                            dst: t,
                            src: t,
                            scalar: Scalar::f32(2.0),
                        });
                        self.emit(InstData::Scalar {
                            op: VecScalar::Adds,
                            dst,
                            src: t,
                            scalar: Scalar::f32(-1.0),
                        });
                    }
                }
            }
            _ => match simple(u) {
                Some(v) => self.emit(InstData::Unary { op: v, dst, src }),
                None => return Err(self.unsupported(op, "unknown unary op")),
            },
        }
        if u == UnaryOp::Relu && elem == Elem::F32 {
            // relu(NaN) is NaN (README "Numeric rules"); `Relu` does not document it.
            self.keep_nan(dst, src);
        }
        if !exact {
            self.round_to(dst, dtype);
        }
        self.tile.insert(res, dst);
        Ok(())
    }

    pub(super) fn binary(
        &mut self,
        op: Op,
        b: BinaryOp,
        lhs: Value,
        rhs: Value,
        res: Value,
    ) -> Result<(), LowerError> {
        let dtype = self.dtype(res);
        let elem = Elem::compute(dtype);
        if elem == Elem::I32 && b == BinaryOp::Div {
            return Err(self.unsupported(
                op,
                "integer division has no vector instruction on this target",
            ));
        }
        let vb = match b {
            BinaryOp::Add => VecBinary::Add,
            BinaryOp::Sub => VecBinary::Sub,
            BinaryOp::Mul => VecBinary::Mul,
            BinaryOp::Div => VecBinary::Div,
            BinaryOp::Max => VecBinary::Max,
            BinaryOp::Min => VecBinary::Min,
        };
        let (bl, br) = (self.bcast(op, lhs, res)?, self.bcast(op, rhs, res)?);
        let dst = self.result_tile(res, elem);
        let scalar_form = |b: BinaryOp, s: Scalar, swapped: bool| -> Option<(VecScalar, Scalar)> {
            let neg = match s {
                Scalar::F32(bits) => Scalar::F32(bits ^ 0x8000_0000),
                Scalar::I32(i) => Scalar::I32(i.wrapping_neg()),
            };
            match (b, swapped) {
                (BinaryOp::Add, _) => Some((VecScalar::Adds, s)),
                (BinaryOp::Mul, _) => Some((VecScalar::Muls, s)),
                (BinaryOp::Max, _) => Some((VecScalar::Maxs, s)),
                (BinaryOp::Min, _) => Some((VecScalar::Mins, s)),
                // x - c == x + (-c) exactly.
                (BinaryOp::Sub, false) => Some((VecScalar::Adds, neg)),
                _ => None,
            }
        };
        let one_neg = if elem == Elem::I32 {
            Scalar::I32(-1)
        } else {
            Scalar::f32(-1.0)
        };
        match (bl, br) {
            (Bcast::Same, Bcast::Scalar) | (Bcast::Scalar, Bcast::Same) => {
                let swapped = bl == Bcast::Scalar;
                let (tv, sv) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
                let src = self.value_tile(op, tv)?;
                let s = self
                    .scalar(sv)
                    .ok_or_else(|| self.unsupported(op, "constant operand"))?;
                let s = match (s, elem) {
                    (Scalar::I32(i), Elem::F32) => Scalar::f32(i as f32),
                    (s, _) => s,
                };
                if let Some((vs, s)) = scalar_form(b, s, swapped) {
                    self.emit(InstData::Scalar {
                        op: vs,
                        dst,
                        src,
                        scalar: s,
                    });
                } else if b == BinaryOp::Sub {
                    // c - x == (-x) + c exactly.
                    self.emit(InstData::Scalar {
                        op: VecScalar::Muls,
                        dst,
                        src,
                        scalar: one_neg,
                    });
                    self.emit(InstData::Scalar {
                        op: VecScalar::Adds,
                        dst,
                        src: dst,
                        scalar: s,
                    });
                } else {
                    let c = self.full_operand(op, sv, res, elem)?;
                    let (l, r) = if swapped { (c, src) } else { (src, c) };
                    self.emit(InstData::Binary {
                        op: vb,
                        dst,
                        lhs: l,
                        rhs: r,
                    });
                }
            }
            (Bcast::Same, Bcast::Seg { .. } | Bcast::Vec { .. })
            | (Bcast::Seg { .. } | Bcast::Vec { .. }, Bcast::Same)
                if (bl == Bcast::Same || !matches!(b, BinaryOp::Sub | BinaryOp::Div))
                    && !spread::spread_bcast(bl)
                    && !spread::spread_bcast(br) =>
            {
                // Apply the broadcast operand in place with repeat strides (commutative ops may have it
                // on the left).
                let (tv, bv, bc) = if bl == Bcast::Same {
                    (lhs, rhs, br)
                } else {
                    (rhs, lhs, bl)
                };
                let src = self.value_tile(op, tv)?;
                let other = self.value_tile(op, bv)?;
                let (cols, _) = self.row_class(res).unwrap_or((1, &[]));
                match bc {
                    Bcast::Seg { segs, len } => {
                        let seg = self.seg_view(cols, segs, len);
                        self.seg_binary(vb, dst, src, other, seg);
                    }
                    Bcast::Vec { segs, len } => {
                        let seg = self.seg_view(cols, segs, len);
                        self.emit(InstData::VecBinary {
                            op: vb,
                            dst,
                            lhs: src,
                            src: other,
                            seg,
                        });
                    }
                    _ => {}
                }
            }
            // Broadcasts over groups in the spread layout are expanded (and packed) first.
            _ => {
                let l = self.full_operand(op, lhs, res, elem)?;
                let r = self.full_operand(op, rhs, res, elem)?;
                self.emit(InstData::Binary {
                    op: vb,
                    dst,
                    lhs: l,
                    rhs: r,
                });
            }
        }
        if !matches!(b, BinaryOp::Max | BinaryOp::Min) {
            self.round_to(dst, dtype);
        } else if elem == Elem::F32 {
            // A NaN operand gives NaN (README "Numeric rules"); what `Max`/`Min` do with a NaN is not
            // documented, so the NaNs are put back explicitly. Constants are never NaN.
            for (v, bc) in [(lhs, bl), (rhs, br)] {
                if bc != Bcast::Scalar {
                    let operand = self.full_operand(op, v, res, elem)?;
                    self.keep_nan(dst, operand);
                }
            }
        }
        self.tile.insert(res, dst);
        Ok(())
    }

    /// `dst = x` where `x` is NaN (`x != x`), else `dst` unchanged: propagates NaN through an
    /// instruction whose NaN behaviour is not documented.
    pub(super) fn keep_nan(&mut self, dst: Tile, x: Tile) {
        let not_nan = self.like("not_nan", Elem::Mask, x);
        self.emit(InstData::Compare {
            dst: not_nan,
            lhs: x,
            rhs: x,
            mode: CmpMode::Eq,
        });
        self.emit(InstData::Select {
            dst,
            mask: not_nan,
            on_true: dst,
            on_false: SelectFalse::Tile(x),
        });
    }

    pub(super) fn compare(
        &mut self,
        op: Op,
        c: CmpOp,
        lhs: Value,
        rhs: Value,
        res: Value,
    ) -> Result<(), LowerError> {
        let elem = Elem::compute(self.dtype(lhs));
        let l = self.full_operand(op, lhs, res, elem)?;
        let r = self.full_operand(op, rhs, res, elem)?;
        let mode = match c {
            CmpOp::Eq => CmpMode::Eq,
            CmpOp::Ne => CmpMode::Ne,
            CmpOp::Lt => CmpMode::Lt,
            CmpOp::Le => CmpMode::Le,
            CmpOp::Gt => CmpMode::Gt,
            CmpOp::Ge => CmpMode::Ge,
        };
        let dst = self.like(&res.to_string(), Elem::Mask, l);
        if elem == Elem::I32 {
            match mode {
                CmpMode::Eq => self.emit(InstData::Compare { dst, lhs: l, rhs: r, mode }),
                CmpMode::Ne => {
                    self.emit(InstData::Compare { dst, lhs: l, rhs: r, mode: CmpMode::Eq });
                    self.emit(InstData::Not { dst, src: dst });
                }
                _ => {
                    return Err(self.unsupported(
                        op,
                        "ordering comparisons of i32 have no vector instruction on this target (only eq and ne)",
                    ))
                }
            }
        } else {
            self.emit(InstData::Compare {
                dst,
                lhs: l,
                rhs: r,
                mode,
            });
        }
        self.tile.insert(res, dst);
        Ok(())
    }

    pub(super) fn select(&mut self, op: Op, args: &[Value], res: Value) -> Result<(), LowerError> {
        let (cond, a, b) = (args[0], args[1], args[2]);
        if self.bcast(op, cond, res)? != Bcast::Same {
            return Err(
                self.unsupported(op, "the condition of a select must have the result's shape")
            );
        }
        let elem = Elem::compute(self.dtype(res));
        let mask = self.value_tile(op, cond)?;
        let on_true = self.full_operand(op, a, res, elem)?;
        let on_false = match (self.bcast(op, b, res)?, self.scalar(b)) {
            (Bcast::Scalar, Some(s)) if elem == Elem::F32 => SelectFalse::Scalar(match s {
                Scalar::I32(i) => Scalar::f32(i as f32),
                s => s,
            }),
            _ => SelectFalse::Tile(self.full_operand(op, b, res, elem)?),
        };
        let dst = self.result_tile(res, elem);
        self.emit(InstData::Select {
            dst,
            mask,
            on_true,
            on_false,
        });
        self.tile.insert(res, dst);
        Ok(())
    }
}
