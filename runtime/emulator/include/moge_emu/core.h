// moge CPU emulator: the state of one emulated core and the violation machinery.
//
// Every emulated core runs on its own host thread with a `CoreState` (its UB/L1/L0 memories, TPipe and event
// bookkeeping, mask and special registers, traffic counters) reachable through the thread-local `t_core`.
// A check that fails calls `violation(...)`, which throws `KernelViolation`; the launcher catches it at the
// core's entry, records it and ends that core. Functions declared here without a body are defined in the
// launcher (runtime/emulator/src/launcher.cpp).
#ifndef MOGE_EMU_CORE_H
#define MOGE_EMU_CORE_H

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "types.h"

namespace moge_emu {

/// Physical memories of an AI Core, indexed like `AscendC::Hardware`.
enum Hw : uint8_t { HW_GM = 0, HW_UB, HW_L1, HW_L0A, HW_L0B, HW_L0C, HW_BIAS, HW_FIXBUF, HW_COUNT };

/// Physical size of each on-chip memory on Atlas A2 (910B), in bytes.
constexpr uint32_t kHwBytes[HW_COUNT] = {0, 192 * 1024, 512 * 1024, 64 * 1024, 64 * 1024, 128 * 1024, 1024, 7 * 1024};
/// What TPipe may hand out of each memory (CANN 8.5 reserves the top 8 KiB of UB as API scratch and keeps
/// TPipe buffers below TMP_UB_OFFSET = 184 KiB).
constexpr uint32_t kHwUsable[HW_COUNT] = {0, 184 * 1024, 512 * 1024, 64 * 1024, 64 * 1024, 128 * 1024, 1024, 7 * 1024};
/// Names used in messages.
constexpr const char* kHwName[HW_COUNT] = {"GM", "UB", "L1", "L0A", "L0B", "L0C", "BiasTable", "Fixpipe buffer"};

/// Number of `HardEvent` values.
constexpr int kEventKinds = static_cast<int>(AscendC::HardEvent::MAX);
/// Event ids per event kind on A2.
constexpr int kEventIds = 8;
/// Buffers one TPipe may hand out (CANN: at most 64 buffers per TPipe).
constexpr uint32_t kMaxPipeBuffers = 64;

/// A failed check. Thrown by `violation`, caught by the launcher at the core's entry.
struct KernelViolation {
    char call[96];
    char message[1024];
};

/// GM atomic-accumulate mode set by SetAtomicAdd/Max/Min.
enum AtomicOp : uint8_t { ATOMIC_NONE = 0, ATOMIC_ADD, ATOMIC_MAX, ATOMIC_MIN };
/// Element type tag of the GM atomic mode.
enum AtomicType : uint8_t { AT_NONE = 0, AT_F32, AT_F16, AT_BF16, AT_I32, AT_I16, AT_I8 };

/// Everything one emulated core owns.
struct CoreState {
    /// `GetBlockIdx()` of this core.
    int64_t block_idx = 0;
    /// `GetBlockNum()` of the launch.
    int64_t block_num = 1;
    /// `GetSubBlockIdx()` (AIV of a MIX kernel: 0 or 1) and `GetTaskRatio()` (2 on the AIVs of MIX_AIC_1_2).
    int64_t sub_block_idx = 0;
    int64_t task_ratio = 1;
    /// `AscendC::AIC` or `AscendC::AIV`.
    int32_t core_type = 2;
    /// Index of this core among all cores of the launch (MIX: AI core u is u*3, its AIVs u*3+1 and u*3+2).
    uint32_t global_index = 0;
    /// The AI core (group) of a MIX kernel.
    uint32_t group = 0;
    /// Name in messages: `AIV 3`, `AIC 1`, `AIV 1.0`.
    char label[24] = {};
    /// Race detector state (`RaceCore`, race.h), created on first use.
    void* race = nullptr;
    /// Instruction trace (`TraceCore`, trace.h), created on first use when the launch records one.
    void* trace = nullptr;
    /// The on-chip memories (allocated on first use, filled with 0xFF so that unwritten data is NaN/-1).
    uint8_t* arena[HW_COUNT] = {};
    /// The live TPipe (`GetTPipePtr()`), if any.
    void* pipe = nullptr;
    /// Per memory: bytes the TPipe handed out so far.
    uint32_t pipe_top[HW_COUNT] = {};
    /// Buffers the live TPipe handed out.
    uint32_t pipe_buffers = 0;
    /// Generation of the live TPipe (bumped by every TPipe, Reset and Destroy; queues compare it).
    uint32_t pipe_generation = 0;
    /// Highest UB byte ever handed out by a TPipe on this core.
    uint32_t ub_high = 0;
    /// Per event kind: bit `id` set when `SetFlag<kind>(id)` has not been waited yet.
    uint8_t flags[kEventKinds] = {};
    /// Per event kind: ids taken by `AllocEventID`.
    uint8_t allocated_ids[kEventKinds] = {};
    /// Vector mask register: counter mode (`SetMaskCount`) or normal mode with 128 mask bits.
    bool counter_mode = false;
    uint64_t mask_high = ~0ull;
    uint64_t mask_low = ~0ull;
    /// Compare-result register (`Compare` without a destination, `GetCmpMask`, `SetCmpMask`).
    uint8_t cmp_register[16] = {};
    /// Special registers written by reductions: value and index bits of the last ReduceMax/Min, the sum of
    /// the last ReduceSum (as double).
    double reduce_value = 0;
    uint32_t reduce_index = 0;
    double acc_value = 0;
    /// Consumed lengths of the last MrgSort with exhausted-suspension.
    uint16_t mrgsort_consumed[4] = {};
    /// GM atomic mode.
    AtomicOp atomic_op = ATOMIC_NONE;
    AtomicType atomic_type = AT_NONE;
    /// GM traffic of this core.
    uint64_t gm_read = 0;
    uint64_t gm_written = 0;
    /// Per f32 element of L0C: written by an Mmad since the kernel started (an Mmad with cmatrixInitVal =
    /// false must not accumulate onto anything else). Sized on the first Mmad.
    std::vector<bool> l0c_written;
};

/// The core the current thread emulates.
inline thread_local CoreState* t_core = nullptr;

/// Reports a kernel API call made outside an emulated core (a host bug, not a kernel bug) and aborts.
[[noreturn]] inline void no_core(const char* call) {
    std::fprintf(stderr, "moge-emu: %s called outside an emulated core\n", call);
    std::abort();
}

/// The current core.
inline CoreState& core() {
    CoreState* state = t_core;
    if (state == nullptr) {
        no_core("a kernel API");
    }
    return *state;
}

/// Request check bit: timing-only mode (with kCheckTrace): the element-wise vector instructions, the copies and
/// the cube instructions check their operands and record their trace events as always but move and compute no
/// data, so a large shape is traced in seconds. A kernel whose control flow reads tensor data (GetValue) is
/// refused in this mode: the values it would read were never computed.
constexpr uint32_t kCheckTimingOnly = 8;

/// Whether this launch skips the arithmetic (set by the launcher before any core starts).
inline bool g_timing_only = false;

/// Records a failed check for the current core and unwinds it.
[[noreturn]] inline void violation(const char* call, const char* format, ...)
    __attribute__((format(printf, 2, 3)));

[[noreturn]] inline void violation(const char* call, const char* format, ...) {
    KernelViolation error;
    std::snprintf(error.call, sizeof(error.call), "%s", call);
    va_list args;
    va_start(args, format);
    std::vsnprintf(error.message, sizeof(error.message), format, args);
    va_end(args);
    throw error;
}

/// Refuses a scalar read of tensor data in timing-only mode: the kernel's control flow would depend on values the
/// mode never computed.
[[noreturn]] inline void timing_only_read(const char* call) {
    violation(call, "timing-only mode: the kernel reads a value from a tensor, which this mode never computes (no "
                    "arithmetic, no copies), so its control flow could not be right; run it without --timing-only");
}

/// Allocates (on first use) and returns the given on-chip memory of the current core.
uint8_t* core_arena(Hw hw);

/// Checks a GM access of `bytes` bytes at `addr` made through a GlobalTensor whose SetGlobalBuffer range
/// starts at `origin` and spans `origin_bytes` bytes (UINT64_MAX: no size given). The access must stay
/// inside that range and inside the launch argument's allocation that `origin` points into.
void check_gm(const char* call, const void* origin, uint64_t origin_bytes, const void* addr, uint64_t bytes);

/// Serializes GM atomic read-modify-writes between cores.
void gm_atomic_lock();
void gm_atomic_unlock();

/// The hard `SyncAll()` barrier over all cores of the launch.
void sync_all_barrier(const char* call, bool aiv_only);

/// CrossCoreSetFlag / CrossCoreWaitFlag (counter semantics; see launcher.cpp).
void cross_core_set(const char* call, int mode, int pipe_slot, int flag_id);
void cross_core_wait(const char* call, int pipe_slot, int flag_id);

/// Whether `value` is a multiple of `align`.
inline bool aligned_to(uint64_t value, uint64_t align) { return align == 0 || value % align == 0; }

/// Byte address of a pointer, for alignment checks (the on-chip memories are 4 KiB aligned, so host
/// addresses have the alignment of the emulated addresses).
inline uint64_t address_of(const void* pointer) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(pointer)); }

}  // namespace moge_emu

#endif  // MOGE_EMU_CORE_H
