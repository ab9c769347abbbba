//! Table lookups (`gather`) from a resident table.

use super::*;

impl Lowering<'_> {
    pub(super) fn gather(
        &mut self,
        op: Op,
        table: Value,
        index: Value,
        res: Value,
    ) -> Result<(), LowerError> {
        let Some(Class::Resident { dims, .. }) = self.class.get(&table).cloned() else {
            return Err(self.unsupported(
                op,
                "the gathered table must be a parameter without the row dim",
            ));
        };
        if dims.len() != 1 {
            return Err(self.unsupported(op, "only rank-1 tables can be gathered from yet"));
        }
        let t = self.value_tile(op, table)?;
        let ix = self.value_tile(op, index)?;
        let elem = self.f.tiles[t].elem;
        let dst = self.result_tile(res, elem);
        let offsets = self.like("offsets", Elem::I32, ix);
        self.emit(InstData::Gather {
            dst,
            table: t,
            index: ix,
            offsets,
        });
        self.tile.insert(res, dst);
        Ok(())
    }
}
