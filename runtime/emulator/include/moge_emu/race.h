// moge CPU emulator: the checking mode's happens-before race detector (in the manner of ThreadSanitizer).
//
// The emulator executes every core's instructions in program order, so results are deterministic; the
// detector asks whether the hardware, which runs the pipes of a core (S, V, M, MTE1, MTE2, MTE3, FIX) and the
// cores of a launch concurrently, would have ordered two accesses to the same bytes. Every pipe of every core
// is a "thread" with a vector clock; an API call is one instruction on its pipe (it ticks that pipe's own
// component). Orderings that carry clocks: SetFlag/WaitFlag (the DST pipe takes the SRC pipe's clock at the
// SetFlag), queue EnQue/DeQue (consumer takes producer) and FreeTensor/AllocTensor (producer takes consumer),
// PipeBarrier<PIPE_ALL> (every pipe takes every pipe), PipeBarrier<PIPE_V> (orders V after V),
// CrossCoreSetFlag/CrossCoreWaitFlag, SyncAll. Same-pipe order: MTE1/MTE2/MTE3/M/FIX/S keep program order; V
// does not without PipeBarrier<PIPE_V>: any two V instructions touching the same bytes, one writing (read after
// write, write after read, write after write), need a barrier between them (CANN 同步控制简介: PipeBarrier
// "保证前序指令中所有数据的读写工作全部完成，后序指令才能执行"; the compiler's hazard verifier has the same rule, see
// docs/kernel-ir-v2.md).
//
// Shadow state: one cell per 32-byte block of every memory (the last write, and the last read per pipe). Vector
// operands of the level-0 forms (mask and repeat), WholeReduce and Brcb are checked at their exact footprint
// (`RacePattern`: the active lanes of each repeat), the count forms at their element range.
// An access conflicting with a shadow entry that does not happen-before it is a race: a `violation` naming
// both instructions (API name, pipe, per-pipe sequence number, core) and the bytes.
#ifndef MOGE_EMU_RACE_H
#define MOGE_EMU_RACE_H

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "core.h"
#include "trace.h"

namespace moge_emu {

/// Checking-mode bits (request field; `MOGE_EMU_CHECK` on the host side).
constexpr uint32_t kCheckRaces = 1;
/// Also require PipeBarrier<PIPE_V> between dependent V instructions.
constexpr uint32_t kCheckVBarrier = 2;

/// The launch's checking mode (set by the launcher before any core starts).
inline uint32_t g_check = 0;
/// Vector-clock width: 7 pipes per core of the launch (or 7 when cores are not all resident: then clocks are
/// core-local and GM is not checked).
inline uint32_t g_race_threads = 7;
/// Whether GM accesses are checked (all cores resident: clocks span every core).
inline bool g_gm_checked = false;

constexpr int kPipes = 7;
constexpr const char* kPipeName[kPipes] = {"S", "V", "M", "MTE1", "MTE2", "MTE3", "FIX"};

/// The detector's slot of a pipe_t (-1 for PIPE_ALL and pipes A2 does not have).
constexpr int pipe_slot(pipe_t pipe) {
    return pipe == PIPE_S      ? 0
           : pipe == PIPE_V    ? 1
           : pipe == PIPE_M    ? 2
           : pipe == PIPE_MTE1 ? 3
           : pipe == PIPE_MTE2 ? 4
           : pipe == PIPE_MTE3 ? 5
           : pipe == PIPE_FIX  ? 6
                               : -1;
}

/// Most distinct API names the detector tells apart (a launch uses a few dozen).
constexpr uint32_t kRaceCalls = 4096;
// Read without the lock, so accessed with the compiler's atomic builtins (<atomic> would add its macros to every
// kernel's namespace, which moge's C name check lists).
inline const char* g_race_calls[kRaceCalls];
inline uint32_t g_race_call_count = 1;
inline std::mutex g_race_call_mutex;

/// A small number for an API name, so that a shadow entry is 16 bytes (the shadow is 8 entries per 32-byte
/// block of every memory a core touches: its size is most of the checking mode's cost). Lock-free lookup;
/// the lock only to add a name.
inline uint16_t race_call_id(const char* call) {
    thread_local const char* last = nullptr;
    thread_local uint16_t last_id = 0;
    if (call == last) {
        return last_id;
    }
    auto find = [&]() -> uint16_t {
        const uint32_t n = __atomic_load_n(&g_race_call_count, __ATOMIC_ACQUIRE);
        for (uint32_t i = 1; i < n; ++i) {
            if (__atomic_load_n(&g_race_calls[i], __ATOMIC_RELAXED) == call) {
                return static_cast<uint16_t>(i);
            }
        }
        return 0;
    };
    uint16_t id = find();
    if (id == 0) {
        std::lock_guard<std::mutex> lock(g_race_call_mutex);
        id = find();
        const uint32_t n = __atomic_load_n(&g_race_call_count, __ATOMIC_RELAXED);
        if (id == 0 && n < kRaceCalls) {
            __atomic_store_n(&g_race_calls[n], call, __ATOMIC_RELAXED);
            __atomic_store_n(&g_race_call_count, n + 1, __ATOMIC_RELEASE);
            id = static_cast<uint16_t>(n);
        }
    }
    last = call;
    last_id = id;
    return id;
}

inline uint16_t trace_call_id(const char* call) { return race_call_id(call); }

inline const char* race_call_name(uint16_t id) {
    const char* name = id == 0 ? nullptr : __atomic_load_n(&g_race_calls[id], __ATOMIC_RELAXED);
    return name == nullptr ? "?" : name;
}

/// One recorded access (12 bytes): the instruction (thread = core * 7 + pipe when GM is checked, else the
/// pipe: the core is then always the current one) with its clock, and its API name.
struct RaceAccess {
    uint32_t clk = 0;  // 0: none
    uint16_t tid = 0;
    /// `race_call_id` of the API name.
    uint16_t call = 0;
    /// Bytes [lo, hi) of the shadow cell it touched (cells are at most 32 KiB).
    uint16_t lo = 0;
    uint16_t hi = 0;
};
static_assert(sizeof(RaceAccess) == 12, "a shadow entry is 12 bytes");

/// Labels of the launch's cores (filled by the launcher before any core starts).
inline std::vector<std::string> g_core_labels;
inline const char* core_label(uint32_t index) { return index < g_core_labels.size() ? g_core_labels[index].c_str() : "?"; }

/// Shadow of one 32-byte block.
/// Read slots per cell: the last read of each pipe that reads the memory. No memory is read by more than four
/// pipes (UB: S, V, MTE1's L1->UB is a write, MTE3; L1: S, MTE1; L0A/L0B: S, M; L0C: S, M, FIX, V; GM: S, MTE2),
/// so a slot is never shared; if a fifth pipe read, it would take the first slot (a race with the read it
/// replaces could be missed, never invented).
constexpr int kReadSlots = 4;

/// Shadow of one 32-byte block (60 bytes).
struct RaceCell {
    RaceAccess write;
    RaceAccess read[kReadSlots];
};

using Clock = std::vector<uint32_t>;

/// `into` becomes the element-wise maximum of both clocks; an empty `into` (no clock gathered yet) takes `from`.
inline void join(Clock& into, const Clock& from) {
    if (into.empty()) {
        into = from;
        return;
    }
    for (size_t i = 0; i < into.size() && i < from.size(); ++i) {
        into[i] = from[i] > into[i] ? from[i] : into[i];
    }
}

/// GM shadow of one launch argument (filled by the launcher).
struct GmShadow {
    const uint8_t* base = nullptr;
    uint64_t len = 0;
    const char* name = nullptr;
    RaceCell* cells = nullptr;
    /// Bytes per shadow cell: 32, or more for large arguments (at most kGmCells cells per argument).
    uint64_t cell_bytes = 32;
};
/// Most shadow cells of one GM argument; larger arguments get coarser cells (a cell keeps only the last write
/// and the last read per pipe, so coarser cells can miss a race between disjoint parts of a cell, never
/// report a false one: byte ranges are compared).
constexpr uint64_t kGmCells = 1u << 18;

/// Shadow cell size for a GM argument of `len` bytes.
inline uint64_t gm_cell_bytes(uint64_t len) {
    uint64_t cell = 32;
    while (len / cell > kGmCells && cell < 32768) {
        cell *= 2;
    }
    return cell;
}
inline std::vector<GmShadow> g_gm_shadows;
inline std::mutex g_gm_shadow_mutex;

/// A run of bytes inside one repeat of a strided vector operand, relative to the repeat's start.
struct RaceRun {
    uint32_t lo;
    uint32_t hi;
};
/// Most runs kept per repeat; an operand with more (a scattered bit mask) is kept per 32-byte block.
constexpr uint32_t kRaceRuns = 16;

/// The exact footprint of a level-0 (mask and repeat) vector operand: `repeats` repeats `step` bytes apart,
/// each touching `runs` (the last repeat `last_runs`, for a counter-mode mask that ends inside it). Without
/// it an operand would span its whole tensor view, and two instructions writing interleaved parts of one
/// buffer (the segmented helpers' chunks) would look like a write after write.
struct RacePattern {
    uint32_t repeats = 0;
    uint64_t step = 0;
    uint32_t full = 0;
    uint32_t last = 0;
    RaceRun runs[kRaceRuns];
    RaceRun last_runs[kRaceRuns];
};

/// Merges the byte runs of `count` elements of `elem` bytes at element offsets `offset` (in issue order)
/// into `out`; more than kRaceRuns runs are widened to the 32-byte blocks they touch (at most 8 per repeat
/// with 8 blocks per repeat, so a superset of the bytes, which can only over-report within those blocks).
inline uint32_t race_runs(RaceRun* out, const uint32_t* offset, uint32_t count, uint32_t elem) {
    uint32_t n = 0;
    bool widened = false;
    for (uint32_t k = 0; k < count; ++k) {
        uint32_t lo = offset[k] * elem;
        uint32_t hi = lo + elem;
        if (widened) {
            lo = lo / 32 * 32;
            hi = (hi + 31) / 32 * 32;
        }
        if (n > 0 && lo >= out[n - 1].lo && lo <= out[n - 1].hi) {
            out[n - 1].hi = hi > out[n - 1].hi ? hi : out[n - 1].hi;
            continue;
        }
        if (n == kRaceRuns) {
            // Restart at block granularity: at most 8 distinct blocks per repeat for 8-block repeats.
            widened = true;
            n = 0;
            k = static_cast<uint32_t>(-1);
            continue;
        }
        out[n++] = RaceRun{lo, hi};
    }
    return n;
}

/// Detector state of one core.
struct RaceCore {
    uint32_t base_tid = 0;
    Clock vc[kPipes];
    /// V's own clock at the last PipeBarrier<PIPE_V> / PIPE_ALL (the same-pipe V rule).
    uint32_t v_barrier = 0;
    /// Clock of the SRC pipe at each pending SetFlag, by event kind and id.
    Clock flag[kEventKinds][kEventIds];
    RaceCell* shadow[HW_COUNT] = {};
    /// The operands of the vector instruction being checked (recorded when its next instruction or a sync
    /// starts, so that the element count checked after the operand narrows its byte range).
    struct Operand {
        const char* name;
        Hw hw;
        const void* at;
        uint64_t bytes;
        bool write;
    };
    const char* pending_call = nullptr;
    Operand pending[8];
    /// The strided footprint of each pending operand (`repeats == 0`: the plain range of its Operand).
    RacePattern pattern[8];
    int pending_count = 0;
    bool flushing = false;

    RaceCore(uint32_t core_index) {
        base_tid = g_gm_checked ? core_index * kPipes : 0;
        for (Clock& clock : vc) {
            clock.assign(g_race_threads, 0);
        }
    }
    ~RaceCore() {
        for (RaceCell*& cells : shadow) {
            std::free(cells);
        }
    }
    uint32_t tick(int pipe) { return ++vc[pipe][base_tid + pipe]; }

    /// Pipe `p` learns `clock`. What V learns about its own completed instructions through another pipe (V
    /// -> flag -> MTE3 -> queue -> V) orders later V instructions after them like a PipeBarrier<PIPE_V>.
    void learn(int p, const Clock& clock) {
        join(vc[p], clock);
        if (p == 1 && clock.size() > base_tid + 1 && clock[base_tid + 1] > v_barrier) {
            v_barrier = clock[base_tid + 1];
        }
    }
};

inline bool races_on() { return (g_check & kCheckRaces) != 0; }

/// The detector state of the current core (created on first use).
inline RaceCore& race_core() {
    CoreState& state = core();
    if (state.race == nullptr) {
        state.race = new RaceCore(state.global_index);
    }
    return *static_cast<RaceCore*>(state.race);
}

/// Whether the recorded access `a` happens before the current instruction on `pipe` of this core.
inline bool ordered(const RaceCore& rc, const RaceAccess& a, int pipe) {
    if (a.clk == 0) {
        return true;
    }
    if (pipe == 1 && a.tid == rc.base_tid + 1 && (g_check & kCheckVBarrier)) {
        return a.clk <= rc.v_barrier;
    }
    return a.clk <= rc.vc[pipe][a.tid];
}

/// Reports a race of the current instruction (`call` on `pipe`, sequence number `clk`) with `earlier`.
[[noreturn]] inline void report_race(const char* call, const RaceAccess& earlier, const char* earlier_kind,
                                     int pipe, uint32_t clk, const char* now_kind, const char* memory, uint64_t from,
                                     uint64_t to) {
    const CoreState& state = core();
    const int earlier_pipe = static_cast<int>(earlier.tid % kPipes);
    const uint32_t earlier_core = g_gm_checked ? earlier.tid / kPipes : state.global_index;
    const bool same_core = earlier_core == state.global_index;
    const char* hint = pipe == earlier_pipe ? "PipeBarrier<PIPE_V>" : "SetFlag/WaitFlag, a queue EnQue/DeQue or a barrier";
    if (!same_core) {
        hint = "CrossCoreSetFlag/CrossCoreWaitFlag or SyncAll";
    }
    violation(call,
              "data race on %s bytes %llu..%llu: %s instruction #%u `%s` %s what %s instruction #%u `%s`%s%s %s, and "
              "nothing orders them (needs %s)",
              memory, static_cast<unsigned long long>(from), static_cast<unsigned long long>(to), kPipeName[pipe], clk,
              call, now_kind, kPipeName[earlier_pipe], earlier.clk, race_call_name(earlier.call), same_core ? "" : " on core ",
              same_core ? "" : core_label(earlier_core), earlier_kind, hint);
}

void flush_vector(RaceCore& rc);

/// Checks and records the accesses of one instruction on one pipe. Construct, then read()/write().
class RaceOp {
public:
    /// `traced` false: not an instruction of the trace (the race detector's replay of a vector instruction).
    RaceOp(const char* call, pipe_t pipe, bool traced = true) : call_(call), pipe_(pipe_slot(pipe)) {
        if (g_trace && traced) {
            trace_open(call, pipe_);
            traced_ = true;
        }
        if (!races_on() || pipe_ < 0) {
            pipe_ = -1;
            return;
        }
        rc_ = &race_core();
        flush_vector(*rc_);
        clk_ = rc_->tick(pipe_);
        call_id_ = race_call_id(call);
    }

    void read(Hw hw, const void* at, uint64_t bytes) { touch(hw, at, bytes, false); }
    void write(Hw hw, const void* at, uint64_t bytes) { touch(hw, at, bytes, true); }

    /// Cube details for the trace (Mmad, Fixpipe).
    void detail(TraceKind kind, uint32_t m, uint32_t k, uint32_t n, uint32_t elem, uint32_t dst_elem) {
        if (traced_) {
            trace_detail(kind, m, k, n, elem, dst_elem);
        }
    }

    void touch(Hw hw, const void* at, uint64_t bytes, bool is_write) {
        if (traced_) {
            trace_touch(hw, at, bytes, is_write);
        }
        if (pipe_ < 0 || bytes == 0) {
            return;
        }
        if (hw == HW_GM) {
            if (is_write && core().atomic_op != ATOMIC_NONE) {
                return;  // atomic accumulation into GM is ordered by the hardware (SetAtomicAdd and friends)
            }
            touch_gm(at, bytes, is_write);
            return;
        }
        CoreState& state = core();
        RaceCell*& cells = rc_->shadow[hw];
        if (cells == nullptr) {
            cells = static_cast<RaceCell*>(std::calloc(kHwBytes[hw] / 32 + 1, sizeof(RaceCell)));
        }
        const uint64_t offset = address_of(at) - address_of(state.arena[hw]);
        check_cells(cells, 32, offset, bytes, is_write, kHwName[hw]);
    }

private:
    void touch_gm(const void* at, uint64_t bytes, bool is_write) {
        if (!g_gm_checked) {
            return;
        }
        const uint64_t address = address_of(at);
        for (const GmShadow& region : g_gm_shadows) {
            const uint64_t base = address_of(region.base);
            if (address >= base && address < base + region.len) {
                std::lock_guard<std::mutex> lock(g_gm_shadow_mutex);
                char memory[160];
                std::snprintf(memory, sizeof(memory), "GM argument '%s'", region.name);
                const uint64_t offset = address - base;
                check_cells(region.cells, region.cell_bytes, offset, bytes, is_write, memory);
                return;
            }
        }
    }

    static bool overlap(const RaceAccess& a, const RaceAccess& b) { return a.lo < b.hi && b.lo < a.hi; }

    void check_cells(RaceCell* cells, uint64_t cell_bytes, uint64_t offset, uint64_t bytes, bool is_write,
                     const char* memory) {
        RaceAccess me;
        me.clk = clk_;
        me.tid = static_cast<uint16_t>(rc_->base_tid + static_cast<uint32_t>(pipe_));
        me.call = call_id_;
        const uint64_t first = offset / cell_bytes, last = (offset + bytes + cell_bytes - 1) / cell_bytes;
        for (uint64_t b = first; b < last; ++b) {
            RaceCell& cell = cells[b];
            me.lo = static_cast<uint16_t>(b == first ? offset % cell_bytes : 0);
            me.hi = static_cast<uint16_t>(b + 1 == last && (offset + bytes) % cell_bytes != 0 ? (offset + bytes) % cell_bytes
                                                                                             : cell_bytes);
            const bool self_write = cell.write.tid == me.tid && cell.write.clk == me.clk;
            if (!self_write && overlap(cell.write, me) && !ordered(*rc_, cell.write, pipe_)) {
                report_race(call_, cell.write, "wrote", pipe_, clk_, is_write ? "overwrites" : "reads", memory,
                            b * cell_bytes + std::max(me.lo, cell.write.lo), b * cell_bytes + std::min(me.hi, cell.write.hi));
            }
            if (is_write) {
                for (const RaceAccess& r : cell.read) {
                    const bool self = r.tid == me.tid && r.clk == me.clk;
                    if (!self && overlap(r, me) && !ordered(*rc_, r, pipe_)) {
                        report_race(call_, r, "read", pipe_, clk_, "overwrites", memory,
                                    b * cell_bytes + std::max(me.lo, r.lo), b * cell_bytes + std::min(me.hi, r.hi));
                    }
                }
                cell.write = me;
            } else {
                // This pipe's slot, else a free one, else the first (see kReadSlots).
                RaceAccess* slot = nullptr;
                for (RaceAccess& r : cell.read) {
                    if (r.clk != 0 && static_cast<int>(r.tid % kPipes) == pipe_) {
                        slot = &r;
                        break;
                    }
                }
                for (int i = 0; slot == nullptr && i < kReadSlots; ++i) {
                    if (cell.read[i].clk == 0) {
                        slot = &cell.read[i];
                    }
                }
                if (slot == nullptr) {
                    slot = &cell.read[0];
                }
                *slot = me;
            }
        }
    }

    const char* call_;
    int pipe_;
    bool traced_ = false;
    RaceCore* rc_ = nullptr;
    uint32_t clk_ = 0;
    uint16_t call_id_ = 0;
};

/// Records the pending vector instruction's operands as one V instruction.
inline void flush_vector(RaceCore& rc) {
    if (rc.flushing || rc.pending_count == 0) {
        return;
    }
    rc.flushing = true;
    const int count = rc.pending_count;
    rc.pending_count = 0;
    RaceOp op(rc.pending_call, PIPE_V, false);
    rc.flushing = false;
    for (int i = 0; i < count; ++i) {
        const RaceCore::Operand& o = rc.pending[i];
        const RacePattern& p = rc.pattern[i];
        if (p.repeats == 0) {
            op.touch(o.hw, o.at, o.bytes, o.write);
            continue;
        }
        const uint8_t* base = static_cast<const uint8_t*>(o.at);
        for (uint32_t r = 0; r < p.repeats; ++r) {
            const bool last = r + 1 == p.repeats;
            const RaceRun* runs = last ? p.last_runs : p.runs;
            const uint32_t n = last ? p.last : p.full;
            for (uint32_t k = 0; k < n; ++k) {
                op.touch(o.hw, base + r * p.step + runs[k].lo, runs[k].hi - runs[k].lo, o.write);
            }
        }
    }
}

/// Narrows a pending operand to a strided footprint (from the level-0 forms, WholeReduce and Brcb).
inline void race_vector_pattern(const char* name, const void* at, const RacePattern& pattern) {
    if (!races_on() || core().race == nullptr) {
        return;
    }
    RaceCore& rc = race_core();
    for (int i = 0; i < rc.pending_count; ++i) {
        if (rc.pending[i].at == at && std::strcmp(rc.pending[i].name, name) == 0) {
            rc.pattern[i] = pattern;
        }
    }
}

/// Flushes the pending vector instruction, if any (before syncs and at the end of the kernel).
inline void race_flush() {
    if (races_on() && core().race != nullptr) {
        flush_vector(race_core());
    }
}

/// A vector operand (from `check_vector_operand`): `dst*` and scratch operands are written, others read.
inline void race_vector_operand(const char* call, const char* name, uint8_t hw, const void* at, uint64_t bytes) {
    if (!races_on() || hw == HW_GM) {
        return;
    }
    RaceCore& rc = race_core();
    bool seen = rc.pending_count == 8;
    for (int i = 0; i < rc.pending_count; ++i) {
        seen = seen || std::strcmp(rc.pending[i].name, name) == 0;
    }
    if (rc.pending_count > 0 && (rc.pending_call != call || seen)) {
        flush_vector(rc);
    }
    rc.pending_call = call;
    const bool write = std::strncmp(name, "dst", 3) == 0 || std::strcmp(name, "sharedTmpBuffer") == 0 ||
                       std::strcmp(name, "sorted") == 0;
    rc.pattern[rc.pending_count].repeats = 0;
    rc.pending[rc.pending_count++] = RaceCore::Operand{name, static_cast<Hw>(hw), at, bytes, write};
}

/// Narrows a pending operand to the elements the instruction touches (from `check_elements`).
inline void race_vector_elements(const char* name, const void* at, uint64_t bytes) {
    if (!races_on() || core().race == nullptr) {
        return;
    }
    RaceCore& rc = race_core();
    for (int i = 0; i < rc.pending_count; ++i) {
        RaceCore::Operand& o = rc.pending[i];
        if (o.at == at && std::strcmp(o.name, name) == 0 && bytes < o.bytes) {
            o.bytes = bytes;
        }
    }
}

inline void race_scalar(const char* call, uint8_t hw, const void* at, uint64_t bytes, bool write) {
    if (!races_on() && !g_trace) {
        return;
    }
    RaceOp op(call, PIPE_S);
    if (write) {
        op.write(static_cast<Hw>(hw), at, bytes);
    } else {
        op.read(static_cast<Hw>(hw), at, bytes);
    }
}

// ---- orderings -------------------------------------------------------------------------------------------

inline void race_set_flag(int src, int event, int id) {
    if (!races_on() || src < 0) {
        return;
    }
    RaceCore& rc = race_core();
    flush_vector(rc);
    rc.flag[event][id] = rc.vc[src];
}

inline void race_wait_flag(int dst, int event, int id) {
    if (!races_on() || dst < 0) {
        return;
    }
    RaceCore& rc = race_core();
    flush_vector(rc);
    rc.learn(dst, rc.flag[event][id]);
}

/// PipeBarrier<pipe>.
inline void race_barrier(pipe_t pipe) {
    if (!races_on()) {
        return;
    }
    RaceCore& rc = race_core();
    flush_vector(rc);
    if (pipe == PIPE_ALL) {
        Clock all = rc.vc[0];
        for (int p = 1; p < kPipes; ++p) {
            join(all, rc.vc[p]);
        }
        for (int p = 0; p < kPipes; ++p) {
            rc.learn(p, all);
        }
    }
    if (pipe == PIPE_ALL || pipe == PIPE_V) {
        rc.v_barrier = rc.vc[1][rc.base_tid + 1];
    }
}

/// The clock of pipe `p` of the current core (for queue and cross-core hand-offs); empty when off.
inline Clock race_clock(int p) {
    if (!races_on() || p < 0) {
        return Clock();
    }
    flush_vector(race_core());
    return race_core().vc[p];
}

/// Joins a handed-over clock into pipe `p` (every pipe when p is S: a scalar wait stalls the issue of all).
inline void race_take(int p, const Clock& clock) {
    if (!races_on() || p < 0 || clock.empty()) {
        return;
    }
    RaceCore& rc = race_core();
    flush_vector(rc);
    if (p == 0) {
        for (int q = 0; q < kPipes; ++q) {
            rc.learn(q, clock);
        }
    } else {
        rc.learn(p, clock);
    }
}

/// Every pipe of the core joined (what a core contributes to SyncAll).
inline Clock race_all() {
    if (!races_on()) {
        return Clock();
    }
    RaceCore& rc = race_core();
    flush_vector(rc);
    Clock all = rc.vc[0];
    for (int p = 1; p < kPipes; ++p) {
        join(all, rc.vc[p]);
    }
    return all;
}

}  // namespace moge_emu

#endif  // MOGE_EMU_RACE_H
