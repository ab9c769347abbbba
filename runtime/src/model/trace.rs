//! The instruction trace the emulator records when asked (`runtime/emulator/include/moge_emu/trace.h`),
//! decoded: per core, in program order, every instruction with what its cost depends on and every
//! ordering edge between pipes and cores.

pub use moge_lower::kir::v2::Pipe;

/// The pipes in the emulator's slot order (`kPipeName` in `race.h`): a trace record names its pipe
/// by slot, and per-pipe tables of the model are indexed by it.
pub const PIPE_SLOTS: [Pipe; 7] = [
    Pipe::S,
    Pipe::V,
    Pipe::M,
    Pipe::Mte1,
    Pipe::Mte2,
    Pipe::Mte3,
    Pipe::Fix,
];

/// The pipe of an emulator slot (0..7).
pub fn pipe_of_slot(slot: u8) -> Option<Pipe> {
    PIPE_SLOTS.get(usize::from(slot)).copied()
}

/// Where a pipe sits in the emulator's trace and in msprof's timeline.
pub trait PipeSlot {
    /// The emulator's slot (0..7), the index into [`PIPE_SLOTS`].
    fn slot(self) -> usize;
    /// The lane name msprof's trace.json uses for the pipe.
    fn lane(self) -> &'static str;
}

impl PipeSlot for Pipe {
    fn slot(self) -> usize {
        match self {
            Pipe::S => 0,
            Pipe::V => 1,
            Pipe::M => 2,
            Pipe::Mte1 => 3,
            Pipe::Mte2 => 4,
            Pipe::Mte3 => 5,
            Pipe::Fix => 6,
        }
    }

    fn lane(self) -> &'static str {
        ["SCALAR", "VECTOR", "CUBE", "MTE1", "MTE2", "MTE3", "FIXP"][self.slot()]
    }
}

/// A memory of the core, numbered as the emulator's `Hw`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Mem {
    /// Global memory (HBM behind the L2).
    Gm,
    /// Unified buffer (AIV).
    Ub,
    /// L1 (AIC).
    L1,
    /// L0A (cube left operand).
    L0a,
    /// L0B (cube right operand).
    L0b,
    /// L0C (cube accumulator).
    L0c,
    /// Bias table or fixpipe buffer.
    Other,
}

impl Mem {
    /// The memory of an emulator `Hw` code (`None` for 0xFF: not touched).
    pub fn from_code(code: u8) -> Option<Mem> {
        Some(match code {
            0 => Mem::Gm,
            1 => Mem::Ub,
            2 => Mem::L1,
            3 => Mem::L0a,
            4 => Mem::L0b,
            5 => Mem::L0c,
            0xFF => return None,
            _ => Mem::Other,
        })
    }
}

/// The GM side of a copy: `bursts` bursts of `burst_bytes` each, `stride` bytes apart, from byte
/// `offset` of GM argument `region` (launch order; the workspace and the tiling follow the arguments).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct GmAccess {
    /// The GM argument.
    pub region: u8,
    /// Byte offset of the first burst in it.
    pub offset: u64,
    /// Number of bursts.
    pub bursts: u32,
    /// Bytes of the first burst (all bursts of a copy have one length).
    pub burst_bytes: u32,
    /// Bytes between the starts of consecutive bursts.
    pub stride: u64,
    /// GM bytes in all.
    pub bytes: u64,
}

impl GmAccess {
    /// The byte ranges `[start, end)` of the bursts (the last one may be shorter when `bytes` says so).
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let mut left = self.bytes;
        (0..u64::from(self.bursts)).map(move |i| {
            let len = u64::from(self.burst_bytes).min(left);
            left -= len;
            let start = self.offset + i * self.stride;
            (start, start + len)
        })
    }
}

/// What one traced instruction does.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A copy on MTE1/MTE2/MTE3 (or a UB -> UB copy on V).
    Copy {
        /// Where it reads (`None`: nothing recorded).
        src: Option<Mem>,
        /// Where it writes.
        dst: Option<Mem>,
        /// The GM side, if any.
        gm: Option<GmAccess>,
        /// On-chip bytes read.
        local_read: u32,
        /// On-chip bytes written.
        local_written: u32,
    },
    /// GetValue / SetValue on pipe S.
    Scalar {
        /// The GM access, if the value is in GM.
        gm: Option<GmAccess>,
        /// Whether it writes.
        write: bool,
    },
    /// A vector instruction.
    Vector {
        /// Repeats of a level-0 form (0: a count form, whose repeats follow from `bytes`).
        repeats: u32,
        /// Bytes of the widest operand the instruction touches.
        bytes: u64,
        /// Element size of the widest operand.
        elem: u8,
        /// Element size of the destination (0: none named `dst`).
        dst_elem: u8,
    },
    /// Mmad on the cube.
    Mmad {
        /// Rows of A and C.
        m: u32,
        /// The reduction length.
        k: u32,
        /// Columns of B and C.
        n: u32,
        /// Input element size (2: f16 / bf16, 4: f32).
        elem: u8,
    },
    /// Fixpipe L0C -> GM with the f32 -> destination conversion.
    Fixpipe {
        /// Rows.
        m: u32,
        /// Columns.
        n: u32,
        /// Destination element size.
        dst_elem: u8,
        /// The GM writes.
        gm: Option<GmAccess>,
    },
    /// SetFlag<event>(id) on the event's source pipe.
    SetFlag {
        /// The HardEvent number.
        event: u32,
        /// The event id.
        id: u32,
    },
    /// WaitFlag<event>(id) on the event's destination pipe.
    WaitFlag {
        /// The HardEvent number.
        event: u32,
        /// The event id.
        id: u32,
    },
    /// A queue hand-off from this pipe: EnQue (`back` false) or FreeTensor (`back` true) of a buffer.
    QueueSet {
        /// The buffer (memory << 24 | on-chip offset / 32).
        buffer: u32,
        /// Whether the buffer is handed back to the producer.
        back: bool,
    },
    /// The matching wait: DeQue (`back` false) or AllocTensor of a buffer freed before (`back` true).
    QueueWait {
        /// The buffer.
        buffer: u32,
        /// Whether it waits for the buffer to come back.
        back: bool,
    },
    /// PipeBarrier on one pipe (`None`: PIPE_ALL).
    Barrier {
        /// The pipe, or every pipe.
        pipe: Option<Pipe>,
    },
    /// CrossCoreSetFlag: the set numbered `seq` in the launch.
    CrossSet {
        /// Flag id.
        flag: u32,
        /// Mode 0, 1 or 2.
        mode: u32,
        /// The set's number.
        seq: u32,
    },
    /// CrossCoreWaitFlag, consuming the set numbered `seq`.
    CrossWait {
        /// Flag id.
        flag: u32,
        /// The set it consumed.
        seq: u32,
    },
    /// SyncAll: arrival at instance `instance` of barrier `barrier` that `cores` cores take part in.
    SyncAll {
        /// 0 every core, 1 the AIVs, 2 the AICs.
        barrier: u32,
        /// Which SyncAll of that barrier.
        instance: u32,
        /// The cores that take part.
        cores: u32,
    },
}

/// One traced instruction.
#[derive(Clone, Debug, PartialEq)]
pub struct Instr {
    /// The pipe it runs on.
    pub pipe: Pipe,
    /// Its API name (an index into [`Trace::names`]).
    pub call: u16,
    /// What it does.
    pub op: Op,
}

/// The instructions of one core in program order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CoreTrace {
    /// The core's label (`AIV 3`, `AIC 0`, `AIV 0.1`).
    pub label: String,
    /// Its instructions.
    pub instrs: Vec<Instr>,
}

/// Which cores a launch ran (it decides how cores share the physical ones).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum LaunchKind {
    /// Vector cores only.
    #[default]
    Aiv,
    /// Cube cores only.
    Aic,
    /// One AIC and two AIVs per AI core (cores 3u, 3u+1, 3u+2).
    Mix,
}

/// A launch's trace.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Trace {
    /// API names; [`Instr::call`] indexes them.
    pub names: Vec<String>,
    /// The launch's cores.
    pub kind: LaunchKind,
    /// Per core, in launch order.
    pub cores: Vec<CoreTrace>,
}

impl Trace {
    /// The API name of an instruction.
    pub fn name(&self, instr: &Instr) -> &str {
        self.names
            .get(usize::from(instr.call))
            .map_or("?", String::as_str)
    }

    /// Instructions in all.
    pub fn len(&self) -> usize {
        self.cores.iter().map(|c| c.instrs.len()).sum()
    }

    /// Whether no core recorded anything.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Bytes of one record in the response.
pub const RECORD_BYTES: usize = 64;

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from(u32_at(bytes, at)) | u64::from(u32_at(bytes, at + 4)) << 32
}

/// Decodes one 64-byte record (`TraceEvent` in trace.h); `Err` names what is wrong with it.
pub fn decode_record(record: &[u8]) -> Result<Instr, String> {
    if record.len() != RECORD_BYTES {
        return Err(format!(
            "a trace record has {} bytes, not {RECORD_BYTES}",
            record.len()
        ));
    }
    let kind = record[0];
    let pipe = pipe_of_slot(record[1]).ok_or_else(|| format!("pipe slot {}", record[1]))?;
    let call = u16::from_le_bytes([record[2], record[3]]);
    let (src_hw, dst_hw, region, elem) = (record[4], record[5], record[6], record[7]);
    let [a, b, c, d, m, k, n, e] = [8, 12, 16, 20, 24, 28, 32, 36].map(|at| u32_at(record, at));
    let (offset, stride, bytes) = (u64_at(record, 40), u64_at(record, 48), u64_at(record, 56));
    let gm = (a > 0).then_some(GmAccess {
        region,
        offset,
        bursts: a,
        burst_bytes: b,
        stride,
        bytes,
    });
    let op = match kind {
        1 => Op::Copy {
            src: Mem::from_code(src_hw),
            dst: Mem::from_code(dst_hw),
            gm,
            local_read: c,
            local_written: d,
        },
        2 => Op::Vector {
            repeats: a,
            bytes,
            elem,
            dst_elem: e as u8,
        },
        3 => Op::Mmad { m, k, n, elem },
        4 => Op::Fixpipe {
            m,
            n,
            dst_elem: e as u8,
            gm,
        },
        5 => Op::Scalar {
            gm,
            write: dst_hw != 0xFF,
        },
        6 => Op::SetFlag { event: a, id: b },
        7 => Op::WaitFlag { event: a, id: b },
        8 => Op::QueueSet {
            buffer: a,
            back: b != 0,
        },
        9 => Op::QueueWait {
            buffer: a,
            back: b != 0,
        },
        10 => Op::Barrier {
            pipe: if a == 0xFF {
                None
            } else {
                Some(pipe_of_slot(a as u8).ok_or_else(|| format!("barrier pipe {a}"))?)
            },
        },
        11 => Op::CrossSet {
            flag: a,
            mode: b,
            seq: c,
        },
        12 => Op::CrossWait { flag: a, seq: c },
        13 => Op::SyncAll {
            barrier: a,
            instance: b,
            cores: c,
        },
        other => return Err(format!("unknown trace event kind {other}")),
    };
    Ok(Instr { pipe, call, op })
}

/// The HardEvent names in `HardEvent` order (`event_name` in pipe.h), for messages and trace files.
pub fn event_name(event: u32) -> &'static str {
    const NAMES: [&str; 35] = [
        "MTE2_MTE1",
        "MTE1_MTE2",
        "MTE1_M",
        "M_MTE1",
        "MTE2_V",
        "V_MTE2",
        "MTE3_V",
        "V_MTE3",
        "M_V",
        "V_M",
        "V_V",
        "MTE3_MTE1",
        "MTE1_MTE3",
        "MTE1_V",
        "MTE2_M",
        "M_MTE2",
        "V_MTE1",
        "M_FIX",
        "FIX_M",
        "MTE3_MTE2",
        "MTE2_MTE3",
        "S_V",
        "V_S",
        "S_MTE2",
        "MTE2_S",
        "S_MTE3",
        "MTE3_S",
        "MTE2_FIX",
        "FIX_MTE2",
        "FIX_S",
        "M_S",
        "FIX_MTE3",
        "MTE1_FIX",
        "FIX_MTE1",
        "FIX_FIX",
    ];
    NAMES.get(event as usize).copied().unwrap_or("?")
}

/// A short description of an instruction for messages: `WaitFlag<MTE2_V>(0)`, `DataCopy(GM->local)`.
pub fn describe(trace: &Trace, instr: &Instr) -> String {
    let name = trace.name(instr);
    match &instr.op {
        Op::SetFlag { event, id } => format!("SetFlag<{}>({id})", event_name(*event)),
        Op::WaitFlag { event, id } => format!("WaitFlag<{}>({id})", event_name(*event)),
        Op::CrossWait { flag, .. } => format!("CrossCoreWaitFlag({flag})"),
        Op::CrossSet { flag, mode, .. } => format!("CrossCoreSetFlag<{mode}>({flag})"),
        Op::Barrier { pipe } => format!("PipeBarrier<PIPE_{}>", pipe.map_or("ALL", Pipe::name)),
        _ => name.to_string(),
    }
}
