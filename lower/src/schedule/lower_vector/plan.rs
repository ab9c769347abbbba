//! Classification of the group's values (row, resident, scalar) and the layout requirements of its
//! ops, collected before any instruction is emitted.

use super::*;

impl Lowering<'_> {
    // ---- classification -------------------------------------------------------------------------

    pub(super) fn literal_dims(&self, op: Op, dims: &[Dim]) -> Result<Vec<u32>, LowerError> {
        dims.iter()
            .map(|d| match d.as_int() {
                Some(c) => u32::try_from(c).map_err(|_| {
                    self.unsupported(
                        op,
                        format!("an inner dim of {c} is more than a vector kernel row can hold (at most {})", u32::MAX),
                    )
                }),
                None => Err(self.unsupported(
                    op,
                    format!(
                        "inner dims must be literals after specialization, found `{}`",
                        d.display(&self.k.syms)
                    ),
                )),
            })
            .collect()
    }

    pub(super) fn classify_value(
        &self,
        op: Op,
        v: Value,
        allow_resident: bool,
    ) -> Result<Class, LowerError> {
        let ty = self.k.values[v]
            .ty
            .as_tensor()
            .ok_or_else(|| self.unsupported(op, "routing tables have no vector lowering"))?;
        if ty.shape.first() == Some(&self.row_dim) {
            let tail = self.literal_dims(op, &ty.shape[1..])?;
            let cols = tail.iter().try_fold(1u32, |a, &b| a.checked_mul(b));
            return match cols {
                Some(0) => Err(self.unsupported(op, "rows of zero elements are not supported")),
                Some(cols) => Ok(Class::Row { cols, tail }),
                None => Err(self.unsupported(op, "row too long")),
            };
        }
        if allow_resident && !ty.shape.is_empty() {
            let dims = self.literal_dims(op, &ty.shape)?;
            let elems = dims.iter().try_fold(1u32, |a, &b| a.checked_mul(b));
            return match elems {
                Some(e) if e > 0 => Ok(Class::Resident { elems: e, dims }),
                _ => {
                    Err(self
                        .unsupported(op, "resident tensors must have between 1 and 2^32 elements"))
                }
            };
        }
        Err(self.unsupported(
            op,
            format!(
                "vector kernels compute on row tensors whose first dim is `{}`, found `{}`",
                self.row_dim.display(&self.k.syms),
                self.k.values[v].ty.display(&self.k.syms)
            ),
        ))
    }

    pub(super) fn classify(&mut self, op: Op) -> Result<(), LowerError> {
        let data = &self.k.ops[op];
        match &data.kind {
            OpKind::Param { .. } => {
                let v = data.results[0];
                let c = self.classify_value(op, v, true)?;
                if let Some(t) = self.k.values[v].ty.as_tensor() {
                    if t.dtype == DType::Bool {
                        return Err(self.unsupported(op, "bool parameters are not supported"));
                    }
                }
                self.class.insert(v, c);
            }
            OpKind::Const { value, dtype } => {
                if *dtype == DType::Bool {
                    return Err(self.unsupported(op, "bool constants are not supported"));
                }
                self.class.insert(
                    data.results[0],
                    Class::Const {
                        value: *value,
                        dtype: *dtype,
                    },
                );
            }
            _ => {
                for &r in &data.results {
                    let c = self.classify_value(op, r, false)?;
                    self.class.insert(r, c);
                }
            }
        }
        Ok(())
    }

    pub(super) fn row_class(&self, v: Value) -> Option<(u32, &[u32])> {
        match self.class.get(&v) {
            Some(Class::Row { cols, tail }) => Some((*cols, tail)),
            _ => None,
        }
    }

    pub(super) fn dtype(&self, v: Value) -> DType {
        self.k.values[v]
            .ty
            .as_tensor()
            .map(|t| t.dtype)
            .unwrap_or(DType::F32)
    }

    /// How operand `v` broadcasts onto the result `res` of op `op`.
    pub(super) fn bcast(&self, op: Op, v: Value, res: Value) -> Result<Bcast, LowerError> {
        let (res_cols, res_tail) = match self.row_class(res) {
            Some((c, t)) => (c, t.to_vec()),
            None => return Err(self.unsupported(op, "the result is not a row tensor")),
        };
        match self.class.get(&v) {
            Some(Class::Const { .. }) => Ok(Bcast::Scalar),
            Some(Class::Row { cols, tail }) => {
                if *cols == res_cols && tail.len() == res_tail.len() {
                    return Ok(Bcast::Same);
                }
                // [R, d1..dj, 1..1] against [R, d1..dn]: one value per segment of the trailing axes.
                if tail.len() == res_tail.len() {
                    let j = tail
                        .iter()
                        .zip(&res_tail)
                        .take_while(|(a, b)| a == b)
                        .count();
                    if tail[j..].iter().all(|&d| d == 1) && res_cols % cols == 0 {
                        return Ok(Bcast::Seg {
                            segs: *cols,
                            len: res_cols / cols,
                        });
                    }
                }
                Err(self.unsupported(op, "this broadcast of a row tensor is not supported"))
            }
            Some(Class::Resident { elems, dims }) => {
                // [d_k..d_n] (or with leading 1s) against [R, d1..dn]: a vector repeated per segment.
                let dims: Vec<u32> = dims.iter().copied().skip_while(|&d| d == 1).collect();
                if dims.len() <= res_tail.len()
                    && res_tail[res_tail.len() - dims.len()..] == dims[..]
                {
                    return Ok(Bcast::Vec {
                        segs: res_cols / elems,
                        len: *elems,
                    });
                }
                Err(self.unsupported(op, "this broadcast of a resident tensor is not supported"))
            }
            None => {
                Err(self.unsupported(op, format!("operand {v} is not available in this kernel")))
            }
        }
    }

    /// Segments along the last axis of a row value: (segments per row, last-axis length).
    pub(super) fn last_axis_segs(
        &self,
        op: Op,
        v: Value,
        axis: u32,
    ) -> Result<(u32, u32), LowerError> {
        let (cols, tail) = self
            .row_class(v)
            .ok_or_else(|| self.unsupported(op, "operand is not a row tensor"))?;
        if tail.is_empty() || axis as usize != tail.len() {
            return Err(self.unsupported(
                op,
                "only the last axis of a row tensor with two or more axes can be reduced",
            ));
        }
        let len = tail[tail.len() - 1];
        if len == 0 {
            return Err(self.unsupported(op, "cannot reduce an empty axis"));
        }
        Ok((cols / len, len))
    }

    // ---- layouts ----------------------------------------------------------------------------------

    /// Records the layout needs of segment instructions on `cols`-wide rows split into `segs`
    /// segments. Only whole rows need a layout (padded); groups inside a row of a length that is not
    /// a multiple of 8 are computed in the spread layout (see `spread`), reached from any row layout.
    pub(super) fn need_segs(
        &self,
        b: &mut LayoutBuilder,
        op: Op,
        cols: u32,
        segs: u32,
    ) -> Result<(), LowerError> {
        let name = self.k.ops[op].kind.name();
        if segs == 1 {
            if cols == 1 {
                return Err(self.unsupported(op, "segments of one element are not supported"));
            }
            b.need_padded(cols, name, self.k.locs[op]);
        }
        Ok(())
    }

    /// Records the layout of a per-segment result of `n` values per row.
    pub(super) fn need_per_seg(&self, b: &mut LayoutBuilder, op: Op, n: u32) {
        if n > 1 {
            b.need_dense(n, self.k.ops[op].kind.name(), self.k.locs[op]);
        }
    }

    pub(super) fn layout_needs(&self, ops: &[Op]) -> Result<LayoutBuilder, LowerError> {
        let mut b = LayoutBuilder::default();
        for &op in ops {
            let data = &self.k.ops[op];
            let res = data.results.first().copied();
            match &data.kind {
                OpKind::Param { .. } => {
                    if let (Some(v), Some((cols, _))) = (res, res.and_then(|v| self.row_class(v))) {
                        if is16(self.dtype(v)) {
                            b.need_dma16(cols);
                        }
                    }
                }
                OpKind::Binary(_) | OpKind::Compare(_) | OpKind::Select => {
                    let Some(res) = res else { continue };
                    let Some((cols, _)) = self.row_class(res) else {
                        continue;
                    };
                    for &a in &data.args {
                        match self.bcast(op, a, res)? {
                            Bcast::Seg { segs, .. } => {
                                self.need_segs(&mut b, op, cols, segs)?;
                                self.need_per_seg(&mut b, op, segs);
                            }
                            Bcast::Vec { segs, .. } => self.need_segs(&mut b, op, cols, segs)?,
                            Bcast::Same | Bcast::Scalar => {}
                        }
                    }
                }
                OpKind::Reduce { axis, .. } | OpKind::ArgReduce { axis, .. } => {
                    let (segs, _) = self.last_axis_segs(op, data.args[0], *axis)?;
                    let (cols, _) = self.row_class(data.args[0]).unwrap_or((0, &[]));
                    self.need_segs(&mut b, op, cols, segs)?;
                    self.need_per_seg(&mut b, op, segs);
                }
                OpKind::Softmax { axis } | OpKind::LogSoftmax { axis } => {
                    let (segs, _) = self.last_axis_segs(op, data.args[0], *axis)?;
                    let (cols, _) = self.row_class(data.args[0]).unwrap_or((0, &[]));
                    self.need_segs(&mut b, op, cols, segs)?;
                }
                OpKind::RmsNorm { .. } => {
                    let x = data.args[0];
                    let rank = self.row_class(x).map(|(_, t)| t.len() as u32).unwrap_or(0);
                    let (segs, _) = self.last_axis_segs(op, x, rank)?;
                    let (cols, _) = self.row_class(x).unwrap_or((0, &[]));
                    self.need_segs(&mut b, op, cols, segs)?;
                }
                OpKind::TopK { k } | OpKind::GroupTopK { k, .. } => {
                    let x = data.args[0];
                    let rank = self.row_class(x).map(|(_, t)| t.len() as u32).unwrap_or(0);
                    let (segs_x, last) = self.last_axis_segs(op, x, rank)?;
                    let (cols, _) = self.row_class(x).unwrap_or((0, &[]));
                    let groups = match &data.kind {
                        OpKind::GroupTopK { groups, .. } => {
                            self.literal_dims(op, std::slice::from_ref(groups))?[0]
                        }
                        _ => 1,
                    };
                    let k = self.literal_dims(op, std::slice::from_ref(k))?[0];
                    if groups == 0 || last % groups != 0 || k == 0 || k > last / groups {
                        return Err(self.unsupported(op, "invalid group count or k"));
                    }
                    let segs = segs_x * groups;
                    self.need_segs(&mut b, op, cols, segs)?;
                    if k == 1 {
                        self.need_per_seg(&mut b, op, segs);
                    } else if segs == 1 {
                        b.need_padded(k, self.k.ops[op].kind.name(), self.k.locs[op]);
                    } else if k % 8 != 0 {
                        return Err(self.unsupported(
                            op,
                            "more than one pick per group needs k to be a multiple of 8",
                        ));
                    }
                }
                _ => {}
            }
        }
        for out in &self.k.outputs {
            if let Some((cols, _)) = self.row_class(out.value) {
                if is16(self.dtype(out.value)) {
                    b.need_dma16(cols);
                }
            }
        }
        Ok(b)
    }
}
