//! The Ascend C writer: one `.cpp` per scheduled device kernel, in the style of Huawei's samples (a kernel
//! class with `Init`, `Process`, `CopyIn`, `Compute` and `CopyOut`, and an `extern "C"` entry point).
//!
//! Queue tiles are synchronized by `EnQue` / `DeQue` (the runtime inserts the pipe flags); the only
//! explicit flags are the kernel IR's events. Every identifier comes from the [`Namer`], computed in
//! [`Writer::reset`] before anything is printed, except the two the manifest records: the `extern "C"`
//! symbol and the entry's GM parameters are the kernel IR's names verbatim (the frontend only lets
//! through names that can be, see [`moge_lower::kir::names`]).

use std::fmt::{self, Write as _};

use moge_lower::graph::DType;
use moge_lower::kir::names::check_c_name;
use moge_lower::kir::{
    Access, Arg, ArgRole, Buffer, BufferKind, CmpMode, Elem, Event, Function, Home, Inst, InstData,
    Pipe, QueuePos, Round, Rows, Scalar, SegReduceOp, SegView, SelectFalse, StageKind, Tile,
    VecBinary, VecScalar, VecUnary,
};
use moge_lower::schedule::Schedule;
use rustc_hash::FxHashMap;

use crate::back::Level;
use crate::helpers::{self, Used};

use crate::namer::{Case, Namer};

/// What an emitted name belongs to.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum NameKey {
    /// The `extern "C"` entry point.
    Entry,
    /// The kernel class.
    Class,
    /// The tiling struct.
    Tiling,
    /// An argument's `GM_ADDR` parameter of the entry point: the tensor's name, verbatim.
    Param(Arg),
    /// An argument's `GM_ADDR` parameter of the class's `Init`.
    InitParam(Arg),
    /// The entry point's local holding the kernel object.
    Object,
    /// An argument's `GlobalTensor` member.
    Global(Arg),
    /// A tiling struct field.
    Field(moge_lower::kir::Field),
    /// A queue or buffer member.
    Buffer(Buffer),
    /// A tile (a local, or a member if resident).
    Tile(Tile),
    /// An event id local.
    Event(Event),
    /// A local holding the element count `rows * n` (aligned to 256 bytes if the flag is set).
    Count(u32, bool),
}

/// Errors of the Ascend C backend.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Error {
    /// Writing to the output failed.
    #[error("formatting the kernel source failed")]
    Fmt(#[from] fmt::Error),
    /// The schedule holds something the writer cannot express.
    #[error("kernel `{kernel}`: {message}")]
    Unsupported {
        /// The kernel's name.
        kernel: String,
        /// What could not be written.
        message: String,
    },
}

/// Information about the program a kernel belongs to, for the header comment.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct KernelInfo {
    /// The graph kernel's name.
    pub program: String,
    /// The target's name.
    pub target: String,
    /// Static dims bound at specialization.
    pub bindings: Vec<(String, i64)>,
}

/// Writes Ascend C for scheduled kernels.
pub struct Writer<W: fmt::Write> {
    out: W,
    names: FxHashMap<NameKey, String>,
    namer: Namer,
    /// Names of the tiling struct's fields (their own scope).
    field_namer: Namer,
    used: Used,
    /// Instructions the sync pass of kernel IR v2 puts a `PipeBarrier<PIPE_V>()` before.
    barriers: rustc_hash::FxHashSet<Inst>,
}

const TILE_ROWS: &str = "TILE_ROWS";

/// Names the writer's code uses literally (locals, members, methods, helpers): nothing else may take
/// them.
const FIXED_NAMES: &[&str] = &[
    "pipe_",
    "coreRows_",
    "rows",
    "tile",
    "tiles",
    "left",
    "core",
    "rowStart",
    "Init",
    "Process",
    "CopyIn",
    "Compute",
    "CopyOut",
    "MogeAlignUp",
    "MogeReduce",
    "MogeWholeReduce",
    "MogeSegReduceShort",
    "MogeSegReduceLong",
    "MogeCombine",
    "MogeSegExpand",
    "MogeVecExpand",
    "MogeGather",
    "MOGE_SEG_CHUNK",
    "workspace",
    "tiling",
    "tilingData",
];

/// The pieces a row copy between GM and a queue tile is written with.
struct RowCopy {
    /// The queue member.
    que: String,
    /// The C++ element type.
    ty: &'static str,
    /// Elements per row.
    cols: u32,
    /// The `DataCopyExtParams` expression.
    params: String,
}

/// The C++ type of an element type.
fn elem_ty(e: Elem) -> &'static str {
    match e {
        Elem::F32 => "float",
        Elem::F16 => "half",
        Elem::BF16 => "bfloat16_t",
        Elem::I32 => "int32_t",
        Elem::Mask => "uint8_t",
    }
}

/// Elements a compare or select must process in whole multiples of (256 bytes of 32-bit values; masks
/// follow the 32-bit values they were compared from).
fn granule(e: Elem) -> u32 {
    if e.bits() == 16 {
        128
    } else {
        64
    }
}

fn dtype_ty(d: DType) -> &'static str {
    elem_ty(Elem::storage(d))
}

/// A scalar as a C++ expression of type `float` or `int32_t`, exact to the bit.
pub(crate) fn scalar_expr(s: Scalar) -> String {
    match s {
        Scalar::F32(bits) => {
            let v = f32::from_bits(bits);
            if v.is_nan() {
                "__builtin_nanf(\"\")".to_string()
            } else if v.is_infinite() {
                if v > 0.0 {
                    "__builtin_inff()".to_string()
                } else {
                    "-__builtin_inff()".to_string()
                }
            } else {
                // `{:?}` is the shortest representation that reads back to the same f32.
                let mut t = format!("{v:?}");
                if !t.contains(['.', 'e', 'E']) {
                    t.push_str(".0");
                }
                format!("{t}f")
            }
        }
        Scalar::I32(v) => format!("static_cast<int32_t>({v})"),
    }
}

pub(crate) fn op_enum(op: VecBinary) -> &'static str {
    match op {
        VecBinary::Add => "ADD",
        VecBinary::Sub => "SUB",
        VecBinary::Mul => "MUL",
        VecBinary::Div => "DIV",
        VecBinary::Max => "MAX",
        VecBinary::Min => "MIN",
    }
}

fn pipe_event(from: Pipe, to: Pipe) -> &'static str {
    match (from, to) {
        (Pipe::Mte2, Pipe::V) => "MTE2_V",
        (Pipe::V, Pipe::Mte3) => "V_MTE3",
        (Pipe::Mte3, Pipe::V) => "MTE3_V",
        (Pipe::V, Pipe::Mte2) => "V_MTE2",
        (Pipe::Mte3, Pipe::Mte2) => "MTE3_MTE2",
        (Pipe::S, Pipe::V) => "S_V",
        (Pipe::V, Pipe::S) => "V_S",
        (Pipe::Mte2, Pipe::S) => "MTE2_S",
        (Pipe::S, Pipe::Mte2) => "S_MTE2",
        _ => "MTE2_V",
    }
}

impl<W: fmt::Write> Writer<W> {
    /// A writer to `out`.
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out,
            names: FxHashMap::default(),
            namer: Namer::default(),
            field_namer: Namer::default(),
            used: Used::default(),
            barriers: Default::default(),
        }
    }

    /// Sets the instructions of the next kernel that a vector barrier must precede (from
    /// `moge_lower::schedule::program::to_program_with_barriers`): the writer prints exactly these.
    pub fn set_barriers(&mut self, insts: &[Inst]) {
        self.barriers = insts.iter().copied().collect();
    }

    /// The output.
    pub fn finish(self) -> W {
        self.out
    }

    fn name(&self, key: NameKey) -> String {
        self.names
            .get(&key)
            .cloned()
            .unwrap_or_else(|| "unnamed".to_string())
    }

    fn unsupported(&self, func: &Function, message: impl Into<String>) -> Error {
        Error::Unsupported {
            kernel: func.name.clone(),
            message: message.into(),
        }
    }

    /// Computes every name of `func` and which helpers it needs.
    pub fn reset(&mut self, func: &Function) {
        self.names.clear();
        self.namer.reset();
        // The symbol and the entry's GM parameters are the manifest's names, verbatim (checked by
        // `check_names`); every other name keeps clear of them.
        self.namer.reserve(&func.name);
        self.names.insert(NameKey::Entry, func.name.clone());
        for (arg, data) in &func.args {
            self.namer.reserve(&data.name);
            self.names.insert(NameKey::Param(arg), data.name.clone());
        }
        for fixed in FIXED_NAMES {
            self.namer.reserve(fixed);
        }
        let object = self.namer.call("op", Case::Snake, "");
        self.names.insert(NameKey::Object, object);
        self.names.insert(
            NameKey::Class,
            self.namer.call(&func.name, Case::Pascal, ""),
        );
        self.names.insert(
            NameKey::Tiling,
            self.namer.call(&func.name, Case::Pascal, "Tiling"),
        );
        for (arg, data) in &func.args {
            // `Init` sees its parameters next to the writer's fixed locals; elsewhere they are the
            // entry's names.
            let init_param = if FIXED_NAMES.contains(&data.name.as_str()) {
                self.namer.call(&data.name, Case::Snake, "")
            } else {
                data.name.clone()
            };
            self.names.insert(NameKey::InitParam(arg), init_param);
            self.names.insert(
                NameKey::Global(arg),
                self.namer.call(&data.name, Case::Camel, "Gm_"),
            );
        }
        self.field_namer.reset();
        for (field, data) in &func.fields {
            self.names.insert(
                NameKey::Field(field),
                self.field_namer.call(&data.name, Case::Snake, ""),
            );
        }
        for (b, data) in &func.buffers {
            let suffix = match data.kind {
                BufferKind::Queue(_) => "Que_",
                _ => "Buf_",
            };
            self.names.insert(
                NameKey::Buffer(b),
                self.namer.call(&data.name, Case::Camel, suffix),
            );
        }
        for (t, data) in &func.tiles {
            let suffix = match data.home {
                Home::Queue(_) => "Local",
                Home::Buffer(_) if self.is_resident(func, t) => "_",
                Home::Buffer(_) => "",
            };
            let name = self.namer.call(&data.name, Case::Camel, suffix);
            self.names.insert(NameKey::Tile(t), name);
        }
        for (e, data) in &func.events {
            let hint = format!("ev_{}", pipe_event(data.from, data.to));
            self.names
                .insert(NameKey::Event(e), self.namer.call(&hint, Case::Camel, ""));
        }
        self.used = Used::default();
        if let Some(compute) = func.stage(StageKind::Compute) {
            for &i in &func.stages[compute].insts {
                for (n, aligned) in self.counts_of(func, &func.insts[i]) {
                    let key = NameKey::Count(n, aligned);
                    if !self.names.contains_key(&key) {
                        let hint = match (n, aligned) {
                            (1, false) => "row_count".to_string(),
                            (_, false) => format!("count{n}"),
                            (_, true) => format!("count{n}_aligned"),
                        };
                        let name = self.namer.call(&hint, Case::Camel, "");
                        self.names.insert(key, name);
                    }
                }
            }
        }
        for data in func.insts.values() {
            match data {
                InstData::SegReduce { seg, .. } => {
                    self.used.reduce = true;
                    self.used.reduce_long |= seg.len > 64;
                }
                InstData::SegExpand { .. } => self.used.seg_expand = true,
                InstData::VecExpand { .. } => self.used.vec_expand = true,
                InstData::Gather { .. } => self.used.gather = true,
                InstData::SegBinary { .. } => {
                    self.used.seg_apply = true;
                    self.used.binary = true;
                }
                InstData::VecBinary { .. } => {
                    self.used.vec_apply = true;
                    self.used.binary = true;
                }
                InstData::Compare { .. } | InstData::Select { .. } | InstData::Not { .. } => {
                    self.used.align_up = true
                }
                _ => {}
            }
        }
    }

    fn is_resident(&self, func: &Function, t: Tile) -> bool {
        match func.tiles[t].home {
            Home::Buffer(b) => func.buffers[b].kind == BufferKind::Resident,
            Home::Queue(_) => false,
        }
    }

    /// Elements per tile row of a tile (`mult * stride`).
    fn per_row(func: &Function, t: Tile) -> Option<u32> {
        match func.tiles[t].rows {
            Rows::Tile { mult } => Some(mult * func.tiles[t].stride),
            Rows::Fixed(_) => None,
        }
    }

    /// The element-count locals an instruction of `compute` uses: (elements per tile row, aligned).
    fn counts_of(&self, func: &Function, data: &InstData) -> Vec<(u32, bool)> {
        let whole = |t: Tile, aligned: bool| -> Vec<(u32, bool)> {
            match Self::per_row(func, t) {
                Some(n) => {
                    let aligned = aligned && n % granule(func.tiles[t].elem) != 0;
                    vec![(n, aligned)]
                }
                None => vec![],
            }
        };
        match data {
            InstData::Unary { dst, .. }
            | InstData::Binary { dst, .. }
            | InstData::Scalar { dst, .. }
            | InstData::Duplicate { dst, .. }
            | InstData::Cast { dst, .. }
            | InstData::Gather { dst, .. } => whole(*dst, false),
            InstData::Compare { lhs: t, .. }
            | InstData::Select { dst: t, .. }
            | InstData::Not { src: t, .. } => whole(*t, true),
            // Segment ops count segments of their segmented tile.
            InstData::SegReduce { src: t, seg, .. }
            | InstData::SegExpand { dst: t, seg, .. }
            | InstData::VecExpand { dst: t, seg, .. }
            | InstData::SegBinary { dst: t, seg, .. }
            | InstData::VecBinary { dst: t, seg, .. } => Self::per_row(func, *t)
                .map(|_| vec![(Self::seg_mult(func, *t) * seg.segs, false)])
                .unwrap_or_default(),
            _ => vec![],
        }
    }

    fn seg_mult(func: &Function, t: Tile) -> u32 {
        match func.tiles[t].rows {
            Rows::Tile { mult } => mult,
            Rows::Fixed(n) => n,
        }
    }

    /// The element count of tile `t` as a C++ expression in `stage` (`aligned`: rounded up to 256 bytes).
    fn count(&self, func: &Function, t: Tile, stage: StageKind, aligned: bool) -> String {
        let d = &func.tiles[t];
        let granule = granule(d.elem);
        let round = |c: u32| {
            if aligned {
                c.div_ceil(granule) * granule
            } else {
                c
            }
        };
        match d.rows {
            Rows::Fixed(n) => round(n * d.stride).to_string(),
            Rows::Tile { mult } => {
                let per_row = mult * d.stride;
                if stage == StageKind::Compute {
                    let aligned = aligned && !per_row.is_multiple_of(granule);
                    self.name(NameKey::Count(per_row, aligned))
                } else {
                    round(func.split.tile_rows * per_row).to_string()
                }
            }
        }
    }

    /// The number of segments of `t` seen as `seg`, as a C++ expression.
    fn nseg(&self, func: &Function, t: Tile, seg: &SegView, stage: StageKind) -> String {
        match func.tiles[t].rows {
            Rows::Fixed(n) => (n * seg.segs).to_string(),
            Rows::Tile { mult } if stage == StageKind::Compute => self
                .name(NameKey::Count(mult * seg.segs, false))
                .to_string(),
            Rows::Tile { mult } => (func.split.tile_rows * mult * seg.segs).to_string(),
        }
    }

    /// Writes the `.cpp` of `schedule`.
    pub fn write(&mut self, schedule: &Schedule, info: &KernelInfo) -> Result<(), Error> {
        let func = schedule.func();
        self.check_names(func)?;
        self.reset(func);
        self.write_header(func, info)?;
        writeln!(self.out, "namespace {{")?;
        writeln!(self.out)?;
        writeln!(
            self.out,
            "// Rows per tile: the largest count whose buffers fit in {} of the {} usable UB bytes.",
            schedule.budget().ub_bytes,
            schedule.budget().ub_usable
        )?;
        writeln!(
            self.out,
            "constexpr int64_t {TILE_ROWS} = {};",
            func.split.tile_rows
        )?;
        writeln!(self.out)?;
        self.write_tiling_struct(func)?;
        self.write_helpers()?;
        self.write_class(func)?;
        writeln!(self.out, "}} // namespace")?;
        writeln!(self.out)?;
        self.write_entry(func)?;
        Ok(())
    }

    fn write_header(&mut self, func: &Function, info: &KernelInfo) -> Result<(), Error> {
        let bindings: Vec<String> = info
            .bindings
            .iter()
            .map(|(n, v)| format!("{n} = {v}"))
            .collect();
        let bound = if bindings.is_empty() {
            String::new()
        } else {
            format!(" ({})", bindings.join(", "))
        };
        writeln!(
            self.out,
            "// {}: generated by moge from kernel `{}`{bound} for {}. Do not edit.",
            func.name, info.program, info.target
        )?;
        writeln!(self.out, "//")?;
        writeln!(self.out, "// Arguments (GM), then workspace and tiling:")?;
        for data in func.args.values() {
            let role = if data.role == ArgRole::Input {
                "in "
            } else {
                "out"
            };
            let shape: Vec<String> = data.shape.iter().map(|e| e.to_string()).collect();
            writeln!(
                self.out,
                "//   {role} {}: {}[{}]",
                data.name,
                data.dtype,
                shape.join(", ")
            )?;
        }
        writeln!(
            self.out,
            "// Rows `{}` are split over min(cores, rows) vector cores and walked in tiles of {} rows.",
            func.split.rows, func.split.tile_rows
        )?;
        writeln!(self.out, "#include \"kernel_operator.h\"")?;
        writeln!(self.out)?;
        Ok(())
    }

    fn write_tiling_struct(&mut self, func: &Function) -> Result<(), Error> {
        writeln!(self.out, "// The tiling data, filled in by the host from the manifest: one int64_t per field, in order.")?;
        writeln!(self.out, "struct {} {{", self.name(NameKey::Tiling))?;
        let level = Level(1);
        for (field, data) in &func.fields {
            writeln!(
                self.out,
                "{level}int64_t {}; // {}",
                self.name(NameKey::Field(field)),
                data.expr
            )?;
        }
        writeln!(self.out, "}};")?;
        writeln!(self.out)?;
        Ok(())
    }

    fn write_string(&mut self, text: &str) -> Result<(), Error> {
        for line in text.lines() {
            writeln!(self.out, "{line}")?;
        }
        writeln!(self.out)?;
        Ok(())
    }

    fn write_helpers(&mut self) -> Result<(), Error> {
        let u = self.used;
        let chunk = u.reduce || u.seg_expand || u.vec_expand || u.seg_apply || u.vec_apply;
        for (used, text) in [
            (u.align_up, helpers::ALIGN_UP),
            (chunk, helpers::CHUNK),
            (u.reduce, helpers::REDUCE),
            (u.reduce_long, helpers::REDUCE_LONG),
            (u.seg_expand, helpers::SEG_EXPAND),
            (u.vec_expand, helpers::VEC_EXPAND),
            (u.gather, helpers::GATHER),
            (u.binary, helpers::BINARY),
            (u.seg_apply, helpers::SEG_APPLY),
            (u.vec_apply, helpers::VEC_APPLY),
        ] {
            if used {
                self.write_string(text)?;
            }
        }
        Ok(())
    }

    /// `GM_ADDR a, GM_ADDR b, ` with the names `key` gives each argument.
    fn gm_params(&self, func: &Function, key: fn(Arg) -> NameKey) -> String {
        let mut s = String::new();
        for arg in func.args.keys() {
            let _ = write!(s, "GM_ADDR {}, ", self.name(key(arg)));
        }
        s
    }

    /// The names the manifest records, which the code must use verbatim: the kernel symbol and the
    /// GM parameters. The frontend and the scheduler refuse names that cannot be; this is the last
    /// line of defence for a schedule made some other way.
    fn check_names(&self, func: &Function) -> Result<(), Error> {
        check_c_name(&func.name).map_err(|p| {
            self.unsupported(
                func,
                format!("the kernel symbol `{}` cannot be emitted: {p}", func.name),
            )
        })?;
        for data in func.args.values() {
            check_c_name(&data.name).map_err(|p| {
                self.unsupported(
                    func,
                    format!("the parameter name `{}` cannot be emitted: {p}", data.name),
                )
            })?;
        }
        Ok(())
    }

    fn write_class(&mut self, func: &Function) -> Result<(), Error> {
        let class = self.name(NameKey::Class).to_string();
        let l1 = Level(1);
        writeln!(self.out, "class {class} {{")?;
        writeln!(self.out, "public:")?;
        writeln!(self.out, "{l1}__aicore__ inline {class}() {{}}")?;
        writeln!(self.out)?;
        self.write_init(func)?;
        self.write_process()?;
        writeln!(self.out, "private:")?;
        self.write_stage_fn(func, StageKind::CopyIn)?;
        self.write_stage_fn(func, StageKind::Compute)?;
        self.write_stage_fn(func, StageKind::CopyOut)?;
        self.write_members(func)?;
        writeln!(self.out, "}};")?;
        writeln!(self.out)?;
        Ok(())
    }

    fn write_members(&mut self, func: &Function) -> Result<(), Error> {
        let l1 = Level(1);
        writeln!(self.out, "{l1}AscendC::TPipe pipe_;")?;
        for (b, data) in &func.buffers {
            let name = self.name(NameKey::Buffer(b)).to_string();
            match data.kind {
                BufferKind::Queue(q) => {
                    let pos = match func.queues[q].pos {
                        QueuePos::VecIn => "VECIN",
                        QueuePos::VecOut => "VECOUT",
                    };
                    writeln!(
                        self.out,
                        "{l1}AscendC::TQue<AscendC::TPosition::{pos}, {}> {name};",
                        func.queues[q].depth
                    )?;
                }
                _ => writeln!(
                    self.out,
                    "{l1}AscendC::TBuf<AscendC::TPosition::VECCALC> {name};"
                )?,
            }
        }
        for (arg, data) in &func.args {
            writeln!(
                self.out,
                "{l1}AscendC::GlobalTensor<{}> {};",
                dtype_ty(data.dtype),
                self.name(NameKey::Global(arg))
            )?;
        }
        for (t, data) in &func.tiles {
            if self.is_resident(func, t) {
                writeln!(
                    self.out,
                    "{l1}AscendC::LocalTensor<{}> {};",
                    elem_ty(data.elem),
                    self.name(NameKey::Tile(t))
                )?;
            }
        }
        writeln!(self.out, "{l1}int64_t coreRows_ = 0;")?;
        Ok(())
    }

    fn write_init(&mut self, func: &Function) -> Result<(), Error> {
        let (l1, l2) = (Level(1), Level(2));
        let tiling_ty = self.name(NameKey::Tiling).to_string();
        writeln!(
            self.out,
            "{l1}__aicore__ inline void Init({}GM_ADDR tiling)",
            self.gm_params(func, NameKey::InitParam)
        )?;
        writeln!(self.out, "{l1}{{")?;
        let per_core = self
            .name(NameKey::Field(func.split.per_core_field))
            .to_string();
        let rem = self.name(NameKey::Field(func.split.rem_field)).to_string();
        writeln!(
            self.out,
            "{l2}const __gm__ {tiling_ty}* tilingData = reinterpret_cast<const __gm__ {tiling_ty}*>(tiling);"
        )?;
        writeln!(
            self.out,
            "{l2}// This core's rows: {per_core} each, and one more for the first {rem} cores."
        )?;
        writeln!(self.out, "{l2}const int64_t core = AscendC::GetBlockIdx();")?;
        writeln!(
            self.out,
            "{l2}coreRows_ = tilingData->{per_core} + (core < tilingData->{rem} ? 1 : 0);"
        )?;
        writeln!(
            self.out,
            "{l2}const int64_t rowStart = core * tilingData->{per_core} + (core < tilingData->{rem} ? core : tilingData->{rem});"
        )?;
        for (arg, data) in &func.args {
            let ty = dtype_ty(data.dtype);
            let (gm, param) = (
                self.name(NameKey::Global(arg)).to_string(),
                self.name(NameKey::InitParam(arg)).to_string(),
            );
            match data.access {
                Access::Rows { cols } => writeln!(
                    self.out,
                    "{l2}{gm}.SetGlobalBuffer(reinterpret_cast<__gm__ {ty}*>({param}) + rowStart * {cols}, static_cast<uint64_t>(coreRows_ * {cols}));"
                )?,
                Access::Whole { elems } => writeln!(
                    self.out,
                    "{l2}{gm}.SetGlobalBuffer(reinterpret_cast<__gm__ {ty}*>({param}), {elems});"
                )?,
            }
        }
        for (b, data) in &func.buffers {
            let name = self.name(NameKey::Buffer(b)).to_string();
            match data.kind {
                BufferKind::Queue(_) => writeln!(
                    self.out,
                    "{l2}pipe_.InitBuffer({name}, {}, {});",
                    data.count, data.bytes
                )?,
                _ => writeln!(self.out, "{l2}pipe_.InitBuffer({name}, {});", data.bytes)?,
            }
        }
        for (t, data) in &func.tiles {
            if self.is_resident(func, t) {
                let Home::Buffer(b) = data.home else { continue };
                writeln!(
                    self.out,
                    "{l2}{} = {}.Get<{}>();",
                    self.name(NameKey::Tile(t)),
                    self.name(NameKey::Buffer(b)),
                    elem_ty(data.elem)
                )?;
            }
        }
        if let Some(init) = func.stage(StageKind::Init) {
            let insts = func.stages[init].insts.clone();
            // Scratch tiles used only here (staging).
            let mut locals: Vec<Tile> = insts
                .iter()
                .flat_map(|&i| {
                    func.insts[i]
                        .writes()
                        .into_iter()
                        .chain(func.insts[i].reads())
                })
                .filter(|&t| !self.is_resident(func, t))
                .collect();
            locals.sort();
            locals.dedup();
            for t in locals {
                if let Home::Buffer(b) = func.tiles[t].home {
                    self.write_get(func, t, b, l2)?;
                }
            }
            self.write_insts(func, &insts, StageKind::Init, l2)?;
        }
        writeln!(self.out, "{l1}}}")?;
        writeln!(self.out)?;
        Ok(())
    }

    fn write_process(&mut self) -> Result<(), Error> {
        let (l1, l2, l3) = (Level(1), Level(2), Level(3));
        writeln!(self.out, "{l1}__aicore__ inline void Process()")?;
        writeln!(self.out, "{l1}{{")?;
        writeln!(
            self.out,
            "{l2}const int64_t tiles = (coreRows_ + {TILE_ROWS} - 1) / {TILE_ROWS};"
        )?;
        writeln!(
            self.out,
            "{l2}for (int64_t tile = 0; tile < tiles; ++tile) {{"
        )?;
        writeln!(
            self.out,
            "{l3}const int64_t left = coreRows_ - tile * {TILE_ROWS};"
        )?;
        writeln!(self.out, "{l3}const uint32_t rows = static_cast<uint32_t>(left < {TILE_ROWS} ? left : {TILE_ROWS});")?;
        writeln!(self.out, "{l3}CopyIn(tile, rows);")?;
        writeln!(self.out, "{l3}Compute(rows);")?;
        writeln!(self.out, "{l3}CopyOut(tile, rows);")?;
        writeln!(self.out, "{l2}}}")?;
        writeln!(self.out, "{l1}}}")?;
        writeln!(self.out)?;
        Ok(())
    }

    fn local_decl(&self, func: &Function, t: Tile) -> String {
        format!(
            "AscendC::LocalTensor<{}> {}",
            elem_ty(func.tiles[t].elem),
            self.name(NameKey::Tile(t))
        )
    }

    /// Writes the declaration of the local `t` as a view of the buffer `b`.
    fn write_get(
        &mut self,
        func: &Function,
        t: Tile,
        b: Buffer,
        level: Level,
    ) -> Result<(), Error> {
        writeln!(
            self.out,
            "{level}{} = {}.Get<{}>();",
            self.local_decl(func, t),
            self.name(NameKey::Buffer(b)),
            elem_ty(func.tiles[t].elem)
        )?;
        Ok(())
    }

    fn queue_of(&self, func: &Function, t: Tile) -> Option<String> {
        match func.tiles[t].home {
            Home::Queue(q) => Some(
                self.name(NameKey::Buffer(func.queues[q].buffer))
                    .to_string(),
            ),
            Home::Buffer(_) => None,
        }
    }

    fn write_stage_fn(&mut self, func: &Function, kind: StageKind) -> Result<(), Error> {
        let (l1, l2) = (Level(1), Level(2));
        let insts = func
            .stage(kind)
            .map(|s| func.stages[s].insts.clone())
            .unwrap_or_default();
        match kind {
            StageKind::CopyIn => writeln!(
                self.out,
                "{l1}__aicore__ inline void CopyIn(int64_t tile, uint32_t rows)"
            )?,
            StageKind::Compute => writeln!(
                self.out,
                "{l1}__aicore__ inline void Compute(uint32_t rows)"
            )?,
            _ => writeln!(
                self.out,
                "{l1}__aicore__ inline void CopyOut(int64_t tile, uint32_t rows)"
            )?,
        }
        writeln!(self.out, "{l1}{{")?;
        match kind {
            StageKind::Compute => self.write_compute(func, &insts)?,
            _ => {
                if insts.is_empty() {
                    writeln!(self.out, "{l2}(void)tile;")?;
                    writeln!(self.out, "{l2}(void)rows;")?;
                }
                self.write_insts(func, &insts, kind, l2)?;
            }
        }
        writeln!(self.out, "{l1}}}")?;
        writeln!(self.out)?;
        Ok(())
    }

    fn write_compute(&mut self, func: &Function, insts: &[Inst]) -> Result<(), Error> {
        let l2 = Level(2);
        // Tiles of this stage: dequeued inputs, allocated outputs, scratch views.
        let mut tiles: Vec<Tile> = Vec::new();
        for &i in insts {
            for t in func.insts[i]
                .writes()
                .into_iter()
                .chain(func.insts[i].reads())
            {
                if !tiles.contains(&t) && !self.is_resident(func, t) {
                    tiles.push(t);
                }
            }
        }
        tiles.sort();
        let mut counts: Vec<(u32, bool)> = insts
            .iter()
            .flat_map(|&i| self.counts_of(func, &func.insts[i]))
            .collect();
        counts.sort();
        counts.dedup();
        if counts.is_empty() {
            writeln!(self.out, "{l2}(void)rows;")?;
        }
        for (n, aligned) in counts {
            let name = self.name(NameKey::Count(n, aligned)).to_string();
            if aligned {
                writeln!(
                    self.out,
                    "{l2}const int32_t {name} = MogeAlignUp(static_cast<int32_t>(rows * {n}), 64);"
                )?;
            } else if n == 1 {
                writeln!(
                    self.out,
                    "{l2}const int32_t {name} = static_cast<int32_t>(rows);"
                )?;
            } else {
                writeln!(
                    self.out,
                    "{l2}const int32_t {name} = static_cast<int32_t>(rows * {n});"
                )?;
            }
        }
        for &t in &tiles {
            match func.tiles[t].home {
                Home::Queue(q) => {
                    let ty = elem_ty(func.tiles[t].elem);
                    let decl = self.local_decl(func, t);
                    let que = self.name(NameKey::Buffer(func.queues[q].buffer));
                    match func.queues[q].pos {
                        QueuePos::VecIn => writeln!(self.out, "{l2}{decl} = {que}.DeQue<{ty}>();")?,
                        QueuePos::VecOut => {
                            writeln!(self.out, "{l2}{decl} = {que}.AllocTensor<{ty}>();")?
                        }
                    }
                }
                Home::Buffer(b) => self.write_get(func, t, b, l2)?,
            }
        }
        self.write_insts(func, insts, StageKind::Compute, l2)?;
        for &t in &tiles {
            if let Home::Queue(q) = func.tiles[t].home {
                let que = self
                    .name(NameKey::Buffer(func.queues[q].buffer))
                    .to_string();
                let name = self.name(NameKey::Tile(t)).to_string();
                match func.queues[q].pos {
                    QueuePos::VecOut => writeln!(
                        self.out,
                        "{l2}{que}.EnQue<{}>({name});",
                        elem_ty(func.tiles[t].elem)
                    )?,
                    QueuePos::VecIn => {}
                }
            }
        }
        for &t in &tiles {
            if let Home::Queue(q) = func.tiles[t].home {
                if func.queues[q].pos == QueuePos::VecIn {
                    let que = self
                        .name(NameKey::Buffer(func.queues[q].buffer))
                        .to_string();
                    writeln!(
                        self.out,
                        "{l2}{que}.FreeTensor({});",
                        self.name(NameKey::Tile(t))
                    )?;
                }
            }
        }
        Ok(())
    }

    fn write_insts(
        &mut self,
        func: &Function,
        insts: &[Inst],
        stage: StageKind,
        level: Level,
    ) -> Result<(), Error> {
        let mut last_note: Option<String> = None;
        for &i in insts {
            let note = func.notes.get(i).cloned().unwrap_or_default();
            if !note.is_empty() && last_note.as_deref() != Some(note.as_str()) {
                let loc = func.locs.get(i).copied().unwrap_or_default();
                if loc.is_unknown() {
                    writeln!(self.out, "{level}// {note}")?;
                } else {
                    writeln!(self.out, "{level}// {note} (line {})", loc.line)?;
                }
            }
            last_note = Some(note);
            if self.barriers.contains(&i) {
                // The sync pass found a vector dependence on an earlier vector instruction.
                writeln!(self.out, "{level}AscendC::PipeBarrier<PIPE_V>();")?;
            }
            self.put_inst(func, i, stage, level)?;
        }
        Ok(())
    }

    fn t(&self, t: Tile) -> String {
        self.name(NameKey::Tile(t))
    }

    /// The DMA parameters for `rows` rows of `cols` elements of `elem` with a UB row stride of `stride`.
    fn dma_params(&self, elem: Elem, cols: u32, stride: u32, gm_to_ub: bool) -> String {
        let size = elem.bits() / 8;
        if stride == cols {
            // Dense: the tile is one contiguous span in GM and UB.
            format!(
                "AscendC::DataCopyExtParams(1, rows * {}, 0, 0, 0)",
                cols * size
            )
        } else {
            // One block per row; each UB row is padded to the stride (gap in 32-byte blocks).
            let row = cols * size;
            let gap = (stride * size - row.div_ceil(32) * 32) / 32;
            if gm_to_ub {
                format!(
                    "AscendC::DataCopyExtParams(static_cast<uint16_t>(rows), {row}, 0, {gap}, 0)"
                )
            } else {
                format!(
                    "AscendC::DataCopyExtParams(static_cast<uint16_t>(rows), {row}, {gap}, 0, 0)"
                )
            }
        }
    }

    /// What a `copy_in` (`gm_to_ub`) or `copy_out` between the queue tile `t` and the row argument
    /// `arg` is written with.
    fn row_copy(
        &self,
        func: &Function,
        t: Tile,
        arg: Arg,
        gm_to_ub: bool,
    ) -> Result<RowCopy, Error> {
        let (inst, into) = if gm_to_ub {
            ("copy_in", "into")
        } else {
            ("copy_out", "from")
        };
        let d = &func.tiles[t];
        let que = self
            .queue_of(func, t)
            .ok_or_else(|| self.unsupported(func, format!("{inst} {into} a non-queue tile")))?;
        let Access::Rows { cols } = func.args[arg].access else {
            return Err(self.unsupported(func, format!("{inst} of a whole argument")));
        };
        Ok(RowCopy {
            que,
            ty: elem_ty(d.elem),
            cols,
            params: self.dma_params(d.elem, cols, d.stride, gm_to_ub),
        })
    }

    /// Writes a call of a segment helper: `callee(tiles..., nseg, len, stride);`.
    fn write_seg_call(
        &mut self,
        level: Level,
        callee: &str,
        tiles: &[Tile],
        nseg: &str,
        seg: &SegView,
    ) -> Result<(), Error> {
        let mut args: Vec<String> = tiles.iter().map(|&t| self.t(t)).collect();
        args.extend([
            nseg.to_string(),
            seg.len.to_string(),
            seg.stride.to_string(),
        ]);
        writeln!(self.out, "{level}{callee}({});", args.join(", "))?;
        Ok(())
    }

    fn put_inst(
        &mut self,
        func: &Function,
        i: Inst,
        stage: StageKind,
        level: Level,
    ) -> Result<(), Error> {
        let data = func.insts[i].clone();
        match data {
            InstData::CopyIn { dst, arg } => {
                let c = self.row_copy(func, dst, arg, true)?;
                writeln!(
                    self.out,
                    "{level}{} = {}.AllocTensor<{}>();",
                    self.local_decl(func, dst),
                    c.que,
                    c.ty
                )?;
                writeln!(
                    self.out,
                    "{level}AscendC::DataCopyPad({}, {}[static_cast<uint64_t>(tile) * {TILE_ROWS} * {}], {}, AscendC::DataCopyPadExtParams<{}>());",
                    self.t(dst),
                    self.name(NameKey::Global(arg)),
                    c.cols,
                    c.params,
                    c.ty
                )?;
                writeln!(self.out, "{level}{}.EnQue({});", c.que, self.t(dst))?;
            }
            InstData::CopyOut { arg, src } => {
                let c = self.row_copy(func, src, arg, false)?;
                writeln!(
                    self.out,
                    "{level}{} = {}.DeQue<{}>();",
                    self.local_decl(func, src),
                    c.que,
                    c.ty
                )?;
                writeln!(
                    self.out,
                    "{level}AscendC::DataCopyPad({}[static_cast<uint64_t>(tile) * {TILE_ROWS} * {}], {}, {});",
                    self.name(NameKey::Global(arg)),
                    c.cols,
                    self.t(src),
                    c.params
                )?;
                writeln!(self.out, "{level}{}.FreeTensor({});", c.que, self.t(src))?;
            }
            InstData::Load { dst, arg } => {
                let d = &func.tiles[dst];
                let Access::Whole { elems } = func.args[arg].access else {
                    return Err(self.unsupported(func, "load of a row argument"));
                };
                let ty = elem_ty(d.elem);
                writeln!(
                    self.out,
                    "{level}AscendC::DataCopyPad({}, {}, AscendC::DataCopyExtParams(1, {}, 0, 0, 0), AscendC::DataCopyPadExtParams<{ty}>());",
                    self.t(dst),
                    self.name(NameKey::Global(arg)),
                    elems * d.elem.bits() / 8
                )?;
            }
            InstData::SetFlag(e) | InstData::WaitFlag(e) => {
                let ev = self.name(NameKey::Event(e)).to_string();
                let hard = pipe_event(func.events[e].from, func.events[e].to);
                if matches!(data, InstData::SetFlag(_)) {
                    writeln!(
                        self.out,
                        "{level}const AscendC::TEventID {ev} = pipe_.FetchEventID(AscendC::HardEvent::{hard});"
                    )?;
                    writeln!(
                        self.out,
                        "{level}AscendC::SetFlag<AscendC::HardEvent::{hard}>({ev});"
                    )?;
                } else {
                    writeln!(
                        self.out,
                        "{level}AscendC::WaitFlag<AscendC::HardEvent::{hard}>({ev});"
                    )?;
                }
            }
            InstData::Unary { op, dst, src } => {
                let name = match op {
                    VecUnary::Exp => "Exp",
                    VecUnary::Ln => "Ln",
                    VecUnary::Sqrt => "Sqrt",
                    VecUnary::Rsqrt => "Rsqrt",
                    VecUnary::Reciprocal => "Reciprocal",
                    VecUnary::Abs => "Abs",
                    VecUnary::Relu => "Relu",
                };
                let n = self.count(func, dst, stage, false);
                writeln!(
                    self.out,
                    "{level}AscendC::{name}({}, {}, {n});",
                    self.t(dst),
                    self.t(src)
                )?;
            }
            InstData::Binary { op, dst, lhs, rhs } => {
                let name = match op {
                    VecBinary::Add => "Add",
                    VecBinary::Sub => "Sub",
                    VecBinary::Mul => "Mul",
                    VecBinary::Div => "Div",
                    VecBinary::Max => "Max",
                    VecBinary::Min => "Min",
                };
                let n = self.count(func, dst, stage, false);
                writeln!(
                    self.out,
                    "{level}AscendC::{name}({}, {}, {}, {n});",
                    self.t(dst),
                    self.t(lhs),
                    self.t(rhs)
                )?;
            }
            InstData::Scalar {
                op,
                dst,
                src,
                scalar,
            } => {
                let name = match op {
                    VecScalar::Adds => "Adds",
                    VecScalar::Muls => "Muls",
                    VecScalar::Maxs => "Maxs",
                    VecScalar::Mins => "Mins",
                };
                let n = self.count(func, dst, stage, false);
                writeln!(
                    self.out,
                    "{level}AscendC::{name}({}, {}, {}, {n});",
                    self.t(dst),
                    self.t(src),
                    scalar_expr(scalar)
                )?;
            }
            InstData::Duplicate { dst, scalar } => {
                let n = self.count(func, dst, stage, false);
                writeln!(
                    self.out,
                    "{level}AscendC::Duplicate({}, {}, {n});",
                    self.t(dst),
                    scalar_expr(scalar)
                )?;
            }
            InstData::Cast { dst, src, round } => {
                let r = match round {
                    Round::None => "CAST_NONE",
                    Round::Rint => "CAST_RINT",
                    Round::Trunc => "CAST_TRUNC",
                };
                let n = self.count(func, dst, stage, false);
                writeln!(
                    self.out,
                    "{level}AscendC::Cast({}, {}, AscendC::RoundMode::{r}, {n});",
                    self.t(dst),
                    self.t(src)
                )?;
            }
            InstData::Compare {
                dst,
                lhs,
                rhs,
                mode,
            } => {
                let m = match mode {
                    CmpMode::Lt => "LT",
                    CmpMode::Gt => "GT",
                    CmpMode::Eq => "EQ",
                    CmpMode::Le => "LE",
                    CmpMode::Ge => "GE",
                    CmpMode::Ne => "NE",
                };
                let n = self.count(func, lhs, stage, true);
                writeln!(
                    self.out,
                    "{level}AscendC::Compare({}, {}, {}, AscendC::CMPMODE::{m}, {n});",
                    self.t(dst),
                    self.t(lhs),
                    self.t(rhs)
                )?;
            }
            InstData::Not { dst, src } => {
                // The mask bits, 16 at a time (Not works on 16-bit integers).
                let n = self.count(func, src, stage, true);
                writeln!(
                    self.out,
                    "{level}AscendC::Not({}.ReinterpretCast<uint16_t>(), {}.ReinterpretCast<uint16_t>(), {n} / 16);",
                    self.t(dst),
                    self.t(src)
                )?;
            }
            InstData::Select {
                dst,
                mask,
                on_true,
                on_false,
            } => {
                let n = self.count(func, dst, stage, true);
                // Select works on floats; integers are selected by their bits.
                let view = |w: &Self, t: Tile| {
                    if func.tiles[t].elem == Elem::I32 {
                        format!("{}.ReinterpretCast<float>()", w.t(t))
                    } else {
                        w.t(t)
                    }
                };
                let (d, a) = (view(self, dst), view(self, on_true));
                match on_false {
                    SelectFalse::Tile(b) => writeln!(
                        self.out,
                        "{level}AscendC::Select({d}, {}, {a}, {}, AscendC::SELMODE::VSEL_TENSOR_TENSOR_MODE, {n});",
                        self.t(mask),
                        view(self, b)
                    )?,
                    SelectFalse::Scalar(s) => writeln!(
                        self.out,
                        "{level}AscendC::Select({d}, {}, {a}, {}, AscendC::SELMODE::VSEL_TENSOR_SCALAR_MODE, {n});",
                        self.t(mask),
                        scalar_expr(s)
                    )?,
                }
            }
            InstData::SegReduce {
                op,
                dst,
                src,
                seg,
                fold,
            } => {
                let r = match op {
                    SegReduceOp::Sum => "SUM",
                    SegReduceOp::Max => "MAX",
                    SegReduceOp::Min => "MIN",
                };
                let nseg = self.nseg(func, src, &seg, stage);
                match fold {
                    Some(f) => self.write_seg_call(
                        level,
                        &format!("MogeSegReduceLong<MogeReduce::{r}>"),
                        &[dst, src, f],
                        &nseg,
                        &seg,
                    )?,
                    None => self.write_seg_call(
                        level,
                        &format!("MogeSegReduceShort<MogeReduce::{r}>"),
                        &[dst, src],
                        &nseg,
                        &seg,
                    )?,
                }
            }
            InstData::SegExpand {
                dst,
                src,
                seg,
                blocks,
            } => {
                let nseg = self.nseg(func, dst, &seg, stage);
                self.write_seg_call(level, "MogeSegExpand", &[dst, src, blocks], &nseg, &seg)?;
            }
            InstData::VecExpand { dst, src, seg } => {
                let nseg = self.nseg(func, dst, &seg, stage);
                self.write_seg_call(level, "MogeVecExpand", &[dst, src], &nseg, &seg)?;
            }
            InstData::SegBinary {
                op,
                dst,
                lhs,
                src,
                seg,
                blocks,
            } => {
                let nseg = self.nseg(func, dst, &seg, stage);
                self.write_seg_call(
                    level,
                    &format!("MogeSegApply<MogeOp::{}>", op_enum(op)),
                    &[dst, lhs, src, blocks],
                    &nseg,
                    &seg,
                )?;
            }
            InstData::VecBinary {
                op,
                dst,
                lhs,
                src,
                seg,
            } => {
                let nseg = self.nseg(func, dst, &seg, stage);
                self.write_seg_call(
                    level,
                    &format!("MogeVecApply<MogeOp::{}>", op_enum(op)),
                    &[dst, lhs, src],
                    &nseg,
                    &seg,
                )?;
            }
            InstData::Iota { dst, count } => {
                let zero = if func.tiles[dst].elem == Elem::I32 {
                    "static_cast<int32_t>(0)"
                } else {
                    "0.0f"
                };
                writeln!(
                    self.out,
                    "{level}AscendC::CreateVecIndex({}, {zero}, {count});",
                    self.t(dst)
                )?;
            }
            InstData::Gather {
                dst,
                table,
                index,
                offsets,
            } => {
                let n = self.count(func, dst, stage, false);
                writeln!(
                    self.out,
                    "{level}MogeGather({}, {}, {}, {}, {}, {n});",
                    self.t(dst),
                    self.t(table),
                    self.t(index),
                    self.t(offsets),
                    func.tiles[table].cols
                )?;
            }
        }
        Ok(())
    }

    fn write_entry(&mut self, func: &Function) -> Result<(), Error> {
        let l1 = Level(1);
        let entry = self.name(NameKey::Entry).to_string();
        let class = self.name(NameKey::Class).to_string();
        writeln!(
            self.out,
            "extern \"C\" __global__ __aicore__ void {entry}({}GM_ADDR workspace, GM_ADDR tiling)",
            self.gm_params(func, NameKey::Param)
        )?;
        let object = self.name(NameKey::Object);
        writeln!(self.out, "{{")?;
        writeln!(
            self.out,
            "{l1}KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);"
        )?;
        writeln!(self.out, "{l1}(void)workspace;")?;
        writeln!(self.out, "{l1}{class} {object};")?;
        let args: Vec<String> = func
            .args
            .keys()
            .map(|a| self.name(NameKey::Param(a)).to_string())
            .collect();
        let mut call = args.join(", ");
        if !call.is_empty() {
            call.push_str(", ");
        }
        writeln!(self.out, "{l1}{object}.Init({call}tiling);")?;
        writeln!(self.out, "{l1}{object}.Process();")?;
        writeln!(self.out, "}}")?;
        Ok(())
    }
}
