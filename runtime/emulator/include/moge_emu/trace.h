// moge CPU emulator: the instruction trace the performance model replays (runtime/src/model).
//
// When the request asks for it (check bit kCheckTrace), every core records, in program order, each instruction
// it issues with what its cost depends on, and each ordering edge:
//
// - copies (DataCopy, DataCopyPad, LoadData, the on-chip copies): pipe, source and destination memory, the GM
//   argument with the offset of the first burst, the number of bursts, their length and stride, the on-chip
//   bytes read and written;
// - vector instructions: the API name, repeats (level-0 forms), the bytes of the widest operand (after the
//   narrowing to the elements or lanes the instruction touches), element sizes;
// - Mmad (m, k, n, input element size) and Fixpipe (m, n, the f32 -> destination conversion) with its bursts;
// - scalar accesses (GetValue / SetValue) on pipe S;
// - SetFlag / WaitFlag, queue hand-offs (EnQue -> DeQue, FreeTensor -> AllocTensor of the same buffer; the
//   queue protocol compiles to flags on the hardware), PipeBarrier, CrossCoreSetFlag / CrossCoreWaitFlag
//   (each wait names the sets it consumed) and SyncAll (which instance of which barrier).
//
// Off, every hook costs one test of a global flag. The recording reuses the race detector's hooks (RaceOp,
// the vector operand checks), which already see every instruction with its operands.
#ifndef MOGE_EMU_TRACE_H
#define MOGE_EMU_TRACE_H

#include <cstring>
#include <vector>

#include "core.h"

namespace moge_emu {

/// Request check bit: record the instruction trace.
constexpr uint32_t kCheckTrace = 4;

/// Whether this launch records a trace (set by the launcher before any core starts).
inline bool g_trace = false;

/// What a trace event is (the numbering is the protocol's; runtime/src/model/trace.rs mirrors it).
enum TraceKind : uint8_t {
    TK_COPY = 1,
    TK_VECTOR = 2,
    TK_MMAD = 3,
    TK_FIXPIPE = 4,
    TK_SCALAR = 5,
    TK_SET_FLAG = 6,
    TK_WAIT_FLAG = 7,
    TK_QUEUE_SET = 8,
    TK_QUEUE_WAIT = 9,
    TK_BARRIER = 10,
    TK_CROSS_SET = 11,
    TK_CROSS_WAIT = 12,
    TK_SYNC_ALL = 13,
};

/// No GM argument.
constexpr uint8_t kNoRegion = 0xFF;
/// The `a` of a TK_BARRIER on every pipe (PipeBarrier<PIPE_ALL>).
constexpr uint32_t kAllPipes = 0xFF;

/// One trace event, 64 bytes, written to the response as is (little-endian host). Field use by kind:
/// - COPY / FIXPIPE / SCALAR: `a` GM bursts, `b` first burst's bytes, `offset` its byte offset in GM argument
///   `region`, `stride` bytes between burst starts, `bytes` GM bytes in all; `c` / `d` on-chip bytes read /
///   written; FIXPIPE also `m`, `n`, `elem` 4 (f32 in L0C) and `e` the destination element size.
/// - VECTOR: `a` repeats (0: a count form), `bytes` bytes of the widest operand, `elem` its element size, `e`
///   the destination's element size.
/// - MMAD: `m`, `k`, `n`, `elem` the input element size.
/// - SET_FLAG / WAIT_FLAG: `a` the HardEvent, `b` the event id. QUEUE_SET / QUEUE_WAIT: `a` the buffer (memory
///   << 24 | on-chip offset / 32), `b` 0 for data handed to the consumer, 1 for the buffer handed back.
/// - BARRIER: `a` the pipe slot or kAllPipes. CROSS_SET: `a` flag id, `b` mode, `c` the set's number in the
///   launch. CROSS_WAIT: `a` flag id, `c` the number of a set it consumed. SYNC_ALL: `a` the barrier (0 all
///   cores, 1 the AIVs, 2 the AICs), `b` its instance, `c` the cores that take part.
struct TraceEvent {
    uint8_t kind;
    uint8_t pipe;
    uint16_t call;
    uint8_t src_hw;
    uint8_t dst_hw;
    uint8_t region;
    uint8_t elem;
    uint32_t a;
    uint32_t b;
    uint32_t c;
    uint32_t d;
    uint32_t m;
    uint32_t k;
    uint32_t n;
    uint32_t e;
    uint64_t offset;
    uint64_t stride;
    uint64_t bytes;
};
static_assert(sizeof(TraceEvent) == 64, "a trace event is 64 bytes");

/// The trace of one core, and the vector instruction being assembled from its operand checks.
struct TraceCore {
    std::vector<TraceEvent> events;
    /// The COPY/FIXPIPE/SCALAR/MMAD event an open RaceOp adds to (-1: none).
    int64_t open = -1;
    /// The pending vector instruction: its API name, operands (name, start, bytes, element size).
    const char* vec_call = nullptr;
    int vec_count = 0;
    struct Operand {
        const char* name;
        const void* at;
        uint64_t bytes;
        uint32_t elem;
    } vec[8];
    uint32_t vec_repeats = 0;
};

/// The GM argument `addr` points into and the offset there (kNoRegion when none); defined by the launcher.
uint8_t gm_region_of(const void* addr, uint64_t& offset);
/// The small number of an API name (the race detector's name table; race.h).
inline uint16_t trace_call_id(const char* call);

inline TraceCore& trace_core() {
    CoreState& state = core();
    if (state.trace == nullptr) {
        state.trace = new TraceCore();
    }
    return *static_cast<TraceCore*>(state.trace);
}

inline TraceEvent trace_event(TraceKind kind, int pipe, const char* call) {
    TraceEvent event;
    std::memset(&event, 0, sizeof(event));
    event.kind = kind;
    event.pipe = static_cast<uint8_t>(pipe < 0 ? 0 : pipe);
    event.call = trace_call_id(call);
    event.region = kNoRegion;
    event.src_hw = event.dst_hw = 0xFF;
    return event;
}

/// Ends the pending vector instruction: one VECTOR event on pipe V.
inline void trace_flush_vector(TraceCore& tc) {
    if (tc.vec_count == 0) {
        return;
    }
    TraceEvent event = trace_event(TK_VECTOR, 1, tc.vec_call);
    for (int i = 0; i < tc.vec_count; ++i) {
        const TraceCore::Operand& o = tc.vec[i];
        if (o.bytes > event.bytes) {
            event.bytes = o.bytes;
        }
        if (o.elem > event.elem) {
            event.elem = static_cast<uint8_t>(o.elem);
        }
        if (std::strncmp(o.name, "dst", 3) == 0 && event.e == 0) {
            event.e = o.elem;
        }
    }
    event.a = tc.vec_repeats;
    tc.events.push_back(event);
    tc.vec_count = 0;
    tc.vec_repeats = 0;
    tc.vec_call = nullptr;
}

/// Appends an event (after the pending vector instruction, which was issued before it).
inline void trace_push(const TraceEvent& event) {
    TraceCore& tc = trace_core();
    trace_flush_vector(tc);
    tc.open = -1;
    tc.events.push_back(event);
}

/// A vector operand check (`check_vector_operand`): a new API name, or an operand name seen again, starts a new
/// instruction.
inline void trace_vector_operand(const char* call, const char* name, const void* at, uint64_t bytes, uint32_t elem) {
    TraceCore& tc = trace_core();
    bool seen = tc.vec_count == 8;
    for (int i = 0; i < tc.vec_count; ++i) {
        seen = seen || std::strcmp(tc.vec[i].name, name) == 0;
    }
    if (tc.vec_count > 0 && (tc.vec_call != call || seen)) {
        trace_flush_vector(tc);
    }
    tc.open = -1;
    tc.vec_call = call;
    tc.vec[tc.vec_count++] = TraceCore::Operand{name, at, bytes, elem};
}

/// Narrows a pending operand to the bytes the instruction touches (`check_elements`, the level-0 lanes).
inline void trace_vector_bytes(const char* name, const void* at, uint64_t bytes) {
    TraceCore& tc = trace_core();
    for (int i = 0; i < tc.vec_count; ++i) {
        TraceCore::Operand& o = tc.vec[i];
        if (o.at == at && std::strcmp(o.name, name) == 0 && bytes < o.bytes) {
            o.bytes = bytes;
        }
    }
}

/// The repeats of a pending level-0 instruction.
inline void trace_vector_repeats(uint32_t repeats) {
    TraceCore& tc = trace_core();
    if (repeats > tc.vec_repeats) {
        tc.vec_repeats = repeats;
    }
}

/// Opens a COPY (or SCALAR on pipe S) event that the touches of a RaceOp fill in.
inline void trace_open(const char* call, int pipe) {
    trace_push(trace_event(pipe == 0 ? TK_SCALAR : TK_COPY, pipe, call));
    TraceCore& tc = trace_core();
    tc.open = static_cast<int64_t>(tc.events.size()) - 1;
}

/// One access of the open event: a GM burst, or on-chip bytes read or written.
inline void trace_touch(Hw hw, const void* at, uint64_t bytes, bool is_write) {
    TraceCore& tc = trace_core();
    if (tc.open < 0 || bytes == 0) {
        return;
    }
    TraceEvent& event = tc.events[static_cast<size_t>(tc.open)];
    if (is_write) {
        event.dst_hw = hw;
    } else {
        event.src_hw = hw;
    }
    if (hw != HW_GM) {
        (is_write ? event.d : event.c) += static_cast<uint32_t>(bytes);
        return;
    }
    uint64_t offset = 0;
    const uint8_t region = gm_region_of(at, offset);
    if (event.a == 0) {
        event.region = region;
        event.offset = offset;
        event.b = static_cast<uint32_t>(bytes);
    } else if (event.a == 1) {
        event.stride = offset - event.offset;
    }
    ++event.a;
    event.bytes += bytes;
}

/// Sets the cube details of the open event (Mmad: kind MMAD, m, k, n; Fixpipe: kind FIXPIPE, m, n).
inline void trace_detail(TraceKind kind, uint32_t m, uint32_t k, uint32_t n, uint32_t elem, uint32_t dst_elem) {
    TraceCore& tc = trace_core();
    if (tc.open < 0) {
        return;
    }
    TraceEvent& event = tc.events[static_cast<size_t>(tc.open)];
    event.kind = kind;
    event.m = m;
    event.k = k;
    event.n = n;
    event.elem = static_cast<uint8_t>(elem);
    event.e = dst_elem;
}

/// An ordering event with its two numbers.
inline void trace_order(TraceKind kind, int pipe, const char* call, uint32_t a, uint32_t b, uint32_t c = 0) {
    TraceEvent event = trace_event(kind, pipe, call);
    event.a = a;
    event.b = b;
    event.c = c;
    trace_push(event);
}

/// The queue-buffer key of an on-chip address (memory << 24 | offset / 32).
inline uint32_t trace_buffer_key(uint8_t hw, const void* at) {
    const uint64_t offset = address_of(at) - address_of(core_arena(static_cast<Hw>(hw)));
    return static_cast<uint32_t>(hw) << 24 | static_cast<uint32_t>(offset / 32);
}

/// Ends the core's trace (the pending vector instruction).
inline void trace_finish() {
    if (g_trace && core().trace != nullptr) {
        trace_flush_vector(trace_core());
    }
}

}  // namespace moge_emu

#endif  // MOGE_EMU_TRACE_H
