// moge CPU emulator: the launcher linked with every emulated kernel.
//
// Usage: <executable> REQUEST RESPONSE
//
// The request file names the kernel (an `extern "C"` symbol of the executable), blockDim, the GM arguments,
// the workspace size and the tiling bytes. The launcher maps the request file copy-on-write and uses each
// argument's bytes in place as its GM (so only the pages a kernel touches are read into memory), allocates the
// workspace, runs blockDim cores as threads (each calls the kernel with args..., workspace, tiling), and writes
// the response file: the status, GM traffic, the UB high-water mark, the wall time of the run, the violations
// found, and the GM arguments after the run (outputs, and an input only if the kernel wrote it).
// A crash (a signal) ends the process before the response is written; the host reports it. The cores of a MIX
// kernel run one at a time in turns (see `pass_turn`), so that its reports do not depend on thread timing.
//
// All integers in both files are little-endian; a string is a u32 length and its bytes.
#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "kernel_operator.h"
#include "moge_emu/launcher_io.h"

using namespace moge_emu::launcher_io;

namespace moge_emu {
namespace {

constexpr char kRequestMagic[8] = {'M', 'O', 'G', 'E', 'R', 'E', 'Q', '3'};
constexpr char kResponseMagic[8] = {'M', 'O', 'G', 'E', 'R', 'S', 'P', '3'};
/// The request aligns each argument's bytes to this (a page), so that they can be mapped in place.
constexpr uint64_t kArgAlign = 4096;
constexpr uint32_t kStatusOk = 0;
constexpr uint32_t kStatusKernelNotFound = 1;
constexpr uint32_t kStatusBadRequest = 2;
/// Most kernel parameters (GM arguments + workspace + tiling) the launcher can pass.
constexpr size_t kMaxParams = 64;
/// Most cores run at once; larger launches run in waves (and cannot use SyncAll).
constexpr uint32_t kMaxResidentCores = 64;
/// Most violations reported (the first ones by core index).
constexpr size_t kMaxReported = 64;
/// Alignment of GM allocations and the gap kept after each, so that no argument abuts another.
constexpr uint64_t kGmAlign = 512;
constexpr uint64_t kGmGap = 4096;

struct Region {
    std::string name;
    uint8_t* base = nullptr;
    uint64_t len = 0;
    /// Whether the kernel writes it (always sent back); an input is sent back only if it was written.
    bool is_output = false;
    /// Whether `base` maps the request file (else it was allocated and copied).
    bool mapped = false;
};

struct Record {
    uint32_t core;
    std::string label;
    std::string call;
    std::string message;
    /// A consequence of another core's error (a wait it can no longer get): listed after every first cause.
    bool secondary = false;
};

/// Launch core types of the request.
constexpr uint8_t kLaunchAiv = 0;
constexpr uint8_t kLaunchAic = 1;
constexpr uint8_t kLaunchMix = 2;
constexpr int kCrossFlags = 16;

struct CoreStats {
    std::string label;
    uint64_t gm_read = 0;
    uint64_t gm_written = 0;
};

/// A cross-core flag set that waits for more setters (mode 0: all cores of a type; 1: both AIVs; 2: both
/// AIVs towards their AIC) before it counts.
/// CrossCoreSetFlag calls of one flag id still short of their partners, one queue per core that must set: the
/// hardware releases the waiters when each of those cores has set once (CANN CrossCoreSetFlag: mode 1 "两个AIV核都
/// 运行了CrossCoreSetFlag", mode 2 "两个AIV都执行CrossCoreSetFlag后"), so two sets of one core never pair.
struct PendingSet {
    std::vector<std::deque<Clock>> from;
    /// The trace numbers of the queued sets, alongside `from`.
    std::vector<std::deque<uint32_t>> seqs;
};

/// One counted cross-core set of a flag id, waiting for a CrossCoreWaitFlag on its target core: the setters'
/// clocks joined, and who set it (for the end-of-launch report of sets never waited for).
struct FlagSet {
    Clock clock;
    uint32_t setter = 0;
    std::string setters;
    /// The trace numbers of the CrossCoreSetFlag calls it counts (empty without a trace).
    std::vector<uint32_t> seqs;
};

struct Launch {
    std::string kernel;
    uint32_t block_dim = 0;
    uint8_t core_type = kLaunchAiv;
    /// Cores of the launch: block_dim, or 3 * block_dim for MIX_AIC_1_2.
    uint32_t total = 0;
    std::vector<CoreStats> stats;
    // Cross-core flags: per core and flag id, the clocks of the sets not yet waited (a counter with clocks).
    std::vector<std::vector<std::vector<FlagSet>>> cross;
    std::vector<std::vector<PendingSet>> pending_type;   // [AIC=0/AIV=1][id]
    std::vector<std::vector<PendingSet>> pending_group;  // [group * 2 + (0: mode 1, 1: mode 2 towards AIC)][id]
    /// Deadlock detection: per core, whether it ended, and the condition it waits for (null when running).
    std::vector<bool> done;
    std::vector<const std::function<bool()>*> waiting;
    bool deadlock = false;
    /// Deterministic execution (MIX kernels): one core runs at a time, the one whose index is `turn`; it passes
    /// the turn only where it blocks (cross-core wait, SyncAll) or ends, to the next core in index order that
    /// can run, so the same kernel and inputs give the same interleaving and the same reports.
    bool turns = false;
    uint32_t turn = 0;
    std::vector<std::condition_variable> turn_cv;
    /// Per core: "<label>, <call>: <message>" of the error it stopped on when that was a first cause.
    std::vector<std::string> stopped;
    uint32_t finished_aic = 0;
    uint32_t finished_aiv = 0;
    std::vector<Region> regions;
    std::mutex record_mutex;
    std::vector<Record> records;
    uint64_t total_violations = 0;
    std::mutex atomic_mutex;
    std::atomic<uint64_t> gm_read{0};
    std::atomic<uint64_t> gm_written{0};
    std::atomic<uint64_t> ub_high{0};
    /// Per core, its instruction trace (when the request asks for one), and the last CrossCoreSetFlag number.
    std::vector<std::vector<TraceEvent>> traces;
    uint32_t cross_seq = 0;
    // The SyncAll barrier.
    bool all_resident = false;
    std::mutex barrier_mutex;
    std::condition_variable barrier_cv;
    /// SyncAll barriers: [0] every core, [1] the AIVs of a MIX kernel (SyncAll<true> on an AIV), [2] its AICs
    /// (SyncAll<true> on an AIC: mode-0 sync of the cores of one type, as CANN's SyncAllImpl does).
    struct Barrier {
        uint32_t arrived = 0;
        uint64_t generation = 0;
        bool broken = false;
        Clock accum;
        Clock published;
    } barriers[3];
    uint32_t finished = 0;
};

Launch g_launch;

// ---- calling the kernel -------------------------------------------------------------------------------------

using Caller = void (*)(void*, uint8_t* const*);

template <size_t... I>
void call_with(void* function, uint8_t* const* params, std::index_sequence<I...>) {
    using Kernel = void (*)(decltype((void)I, static_cast<uint8_t*>(nullptr))...);
    reinterpret_cast<Kernel>(function)(params[I]...);
}

template <size_t N>
void call_n(void* function, uint8_t* const* params) {
    call_with(function, params, std::make_index_sequence<N>());
}

template <size_t... N>
constexpr std::array<Caller, sizeof...(N)> caller_table(std::index_sequence<N...>) {
    return {{&call_n<N>...}};
}

constexpr std::array<Caller, kMaxParams + 1> kCallers = caller_table(std::make_index_sequence<kMaxParams + 1>());

// ---- cores ----------------------------------------------------------------------------------------------------

void record_violation(uint32_t core_index, const char* label, const char* call, const char* message,
                      bool secondary = false) {
    std::lock_guard<std::mutex> lock(g_launch.record_mutex);
    ++g_launch.total_violations;
    g_launch.records.push_back(Record{core_index, label, call, message, secondary});
}

/// Marks a KernelViolation message as a consequence of another core's error (see `stopped_cause`).
constexpr char kSecondaryMark = '\x01';
/// Marks a deadlock report: a first cause, but a shared one (every deadlocked core reports it), so no other
/// wait names it as the error that stopped its core.
constexpr char kDeadlockMark = '\x02';

/// When a core stopped on an error, the text that makes a wait it left unsatisfiable a consequence:
/// ", because AIV 0.0 stopped: <its error>" (empty when none did). The cores of `me`'s own AI core (a MIX
/// group: its flags' partners) are named first, then the lowest stopped core. Caller holds barrier_mutex.
std::string stopped_cause(uint32_t me) {
    const uint32_t first = g_launch.core_type == kLaunchMix ? me / 3 * 3 : me;
    const uint32_t last = g_launch.core_type == kLaunchMix ? first + 3 : me + 1;
    for (uint32_t c = first; c < last && c < g_launch.total; ++c) {
        if (!g_launch.stopped[c].empty()) {
            return ", because " + g_launch.stopped[c];
        }
    }
    for (const std::string& error : g_launch.stopped) {
        if (!error.empty()) {
            return ", because " + error;
        }
    }
    return std::string();
}

/// When a core stopped on an error (see `stopped_cause`), stops core `me` with `what` as that error's
/// consequence; otherwise returns. Caller holds barrier_mutex.
void stop_if_caused(const char* call, uint32_t me, const char* what) {
    const std::string cause = stopped_cause(me);
    if (!cause.empty()) {
        violation(call, "%c%s%s", kSecondaryMark, what, cause.c_str());
    }
}

/// Passes the turn from core `me` to the next core in index order that can run: not ended, and running, not
/// yet started, or waiting for a condition that now holds (or, after a deadlock, waiting at all, to report
/// it). When none can, the first core that has not ended takes it and reports the deadlock. Caller holds
/// barrier_mutex.
void pass_turn(uint32_t me) {
    const uint32_t total = g_launch.total;
    for (int pass = 0; pass < 2; ++pass) {
        for (uint32_t k = 1; k <= total; ++k) {
            const uint32_t c = (me + k) % total;
            if (g_launch.done[c]) {
                continue;
            }
            const std::function<bool()>* waiting = g_launch.waiting[c];
            if (pass == 1 || waiting == nullptr || g_launch.deadlock || (*waiting)()) {
                g_launch.turn = c;
                g_launch.turn_cv[c].notify_one();
                return;
            }
        }
    }
}

/// Blocks core `me` until it has the turn (caller holds `lock` on barrier_mutex).
void await_turn(std::unique_lock<std::mutex>& lock, uint32_t me) {
    while (g_launch.turn != me) {
        g_launch.turn_cv[me].wait(lock);
    }
}

/// Checks done when a core returns from the kernel: every SetFlag was waited.
void end_of_kernel_checks(const CoreState& state) {
    std::string pending;
    for (int kind = 0; kind < kEventKinds; ++kind) {
        for (int id = 0; id < kEventIds; ++id) {
            if (state.flags[kind] & (1u << id)) {
                if (!pending.empty()) {
                    pending += ", ";
                }
                pending += "SetFlag<HardEvent::";
                pending += event_name(static_cast<AscendC::HardEvent>(kind));
                pending += ">(" + std::to_string(id) + ")";
            }
        }
    }
    if (!pending.empty()) {
        violation("kernel end", "flags set and never waited: %s", pending.c_str());
    }
}

void leave_barrier(const CoreState& state, const std::string& stopped) {
    std::lock_guard<std::mutex> lock(g_launch.barrier_mutex);
    g_launch.stopped[state.global_index] = stopped;
    ++g_launch.finished;
    g_launch.done[state.global_index] = true;
    if (state.core_type == AscendC::AIC) {
        ++g_launch.finished_aic;
    } else {
        ++g_launch.finished_aiv;
    }
    // A core that ends while others wait in a SyncAll it takes part in breaks that barrier.
    const bool aic = state.core_type == AscendC::AIC;
    for (int kind = 0; kind < 3; ++kind) {
        const bool participant = kind == 0 || (kind == 1) == !aic;
        if (participant && g_launch.barriers[kind].arrived > 0) {
            g_launch.barriers[kind].broken = true;
        }
    }
    // Waiters re-check whether anyone can still wake them.
    g_launch.barrier_cv.notify_all();
    if (g_launch.turns && g_launch.finished < g_launch.total) {
        pass_turn(state.global_index);
    }
}

/// Fills in who a core is: its type, GetBlockIdx, sub-block, task ratio and label.
void describe_core(CoreState& state, uint32_t core_index) {
    state.global_index = core_index;
    state.block_num = g_launch.block_dim;
    if (g_launch.core_type == kLaunchMix) {
        const uint32_t group = core_index / 3, role = core_index % 3;
        state.group = group;
        if (role == 0) {
            state.core_type = AscendC::AIC;
            state.block_idx = group;
            std::snprintf(state.label, sizeof(state.label), "AIC %u", group);
        } else {
            state.core_type = AscendC::AIV;
            state.sub_block_idx = role - 1;
            state.task_ratio = 2;
            state.block_idx = static_cast<int64_t>(group) * 2 + (role - 1);
            std::snprintf(state.label, sizeof(state.label), "AIV %u.%u", group, role - 1);
        }
        return;
    }
    state.block_idx = core_index;
    state.group = core_index;
    state.core_type = g_launch.core_type == kLaunchAic ? AscendC::AIC : AscendC::AIV;
    std::snprintf(state.label, sizeof(state.label), "%s %u", state.core_type == AscendC::AIC ? "AIC" : "AIV", core_index);
}

void run_core(uint32_t core_index, void* kernel, const std::vector<uint8_t*>& params) {
    CoreState state;
    describe_core(state, core_index);
    t_core = &state;
    t_core_index = static_cast<int>(core_index);
    g_coreType = state.core_type;
    if (g_launch.turns) {
        std::unique_lock<std::mutex> lock(g_launch.barrier_mutex);
        await_turn(lock, core_index);
    }
    // The error this core stopped on, when it is a first cause (other cores' waits name it).
    std::string stopped;
    auto stop = [&](const char* call, const char* message) {
        const bool secondary = message[0] == kSecondaryMark, deadlock = message[0] == kDeadlockMark;
        record_violation(core_index, state.label, call, secondary || deadlock ? message + 1 : message, secondary);
        if (!secondary && !deadlock) {
            stopped = std::string(state.label) + " stopped: " + call + ": " + message;
        }
    };
    try {
        kCallers[params.size()](kernel, params.data());
        race_flush();
        trace_finish();
        end_of_kernel_checks(state);
    } catch (const KernelViolation& error) {
        stop(error.call, error.message);
    } catch (const std::exception& error) {
        stop("C++ exception", error.what());
    } catch (...) {
        stop("C++ exception", "the kernel threw an exception that is not a std::exception");
    }
    leave_barrier(state, stopped);
    if (state.trace != nullptr) {
        TraceCore* trace = static_cast<TraceCore*>(state.trace);
        trace_flush_vector(*trace);
        g_launch.traces[core_index] = std::move(trace->events);
        delete trace;
        state.trace = nullptr;
    }
    g_launch.gm_read += state.gm_read;
    g_launch.gm_written += state.gm_written;
    {
        std::lock_guard<std::mutex> lock(g_launch.record_mutex);
        if (core_index < g_launch.stats.size()) {
            g_launch.stats[core_index] = CoreStats{state.label, state.gm_read, state.gm_written};
        }
    }
    delete static_cast<RaceCore*>(state.race);
    state.race = nullptr;
    uint64_t seen = g_launch.ub_high.load();
    while (state.ub_high > seen && !g_launch.ub_high.compare_exchange_weak(seen, state.ub_high)) {
    }
    for (uint8_t*& arena : state.arena) {
        std::free(arena);
        arena = nullptr;
    }
    t_core = nullptr;
    t_core_index = -1;
}

void run_worker(std::atomic<uint32_t>& next, void* kernel, const std::vector<uint8_t*>& params) {
    // An alternate signal stack, so that a stack overflow in the kernel is still reported.
    std::vector<uint8_t> alternate(1 << 16);
    stack_t stack;
    std::memset(&stack, 0, sizeof(stack));
    stack.ss_sp = alternate.data();
    stack.ss_size = alternate.size();
    sigaltstack(&stack, nullptr);
    while (true) {
        const uint32_t core_index = next.fetch_add(1);
        if (core_index >= g_launch.total) {
            break;
        }
        run_core(core_index, kernel, params);
    }
    stack.ss_flags = SS_DISABLE;
    sigaltstack(&stack, nullptr);
}

uint8_t* allocate_gm(uint64_t len) {
    const uint64_t size = (len + kGmGap + kGmAlign - 1) / kGmAlign * kGmAlign;
    void* memory = std::aligned_alloc(kGmAlign, size);
    if (memory != nullptr) {
        std::memset(memory, 0, size);
    }
    return static_cast<uint8_t*>(memory);
}

int fail(const char* response_path, uint32_t status, const std::string& message) {
    Writer writer{std::fopen(response_path, "wb")};
    if (writer.file == nullptr) {
        std::fprintf(stderr, "moge-emu: cannot write %s\n", response_path);
        return 3;
    }
    writer.bytes(kResponseMagic, 8);
    writer.u32(status);
    writer.str(message);
    if (!writer.close()) {
        std::fprintf(stderr, "moge-emu: cannot write %s\n", response_path);
        return 3;
    }
    return 0;
}

}  // namespace

// ---- the functions core.h declares ----------------------------------------------------------------------------

uint8_t* core_arena(Hw hw) {
    CoreState& state = core();
    if (state.arena[hw] == nullptr) {
        const size_t bytes = (kHwBytes[hw] + 4095) / 4096 * 4096;
        void* memory = std::aligned_alloc(4096, bytes == 0 ? 4096 : bytes);
        if (memory == nullptr) {
            violation("on-chip memory", "the host could not allocate the %s of the core", kHwName[hw]);
        }
        // Unwritten on-chip memory reads as 0xFF bytes (NaN for floats, -1 for integers).
        std::memset(memory, 0xff, bytes);
        state.arena[hw] = static_cast<uint8_t*>(memory);
    }
    return state.arena[hw];
}

void check_gm(const char* call, const void* origin, uint64_t origin_bytes, const void* addr, uint64_t bytes) {
    const uint64_t start = address_of(addr);
    const uint64_t from = address_of(origin);
    if (origin_bytes != UINT64_MAX && (start < from || start - from > origin_bytes || bytes > origin_bytes - (start - from))) {
        const long long offset = static_cast<long long>(start - from);
        violation(call,
                  "GM access of %llu bytes at byte %lld of a GlobalTensor is outside its SetGlobalBuffer range of "
                  "%llu bytes",
                  static_cast<unsigned long long>(bytes), offset, static_cast<unsigned long long>(origin_bytes));
    }
    for (const Region& region : g_launch.regions) {
        const uint64_t base = address_of(region.base);
        if (from >= base && from <= base + region.len) {
            if (start < base || start - base > region.len || bytes > region.len - (start - base)) {
                violation(call, "GM access of %llu bytes at byte %lld of argument '%s' is outside its %llu bytes",
                          static_cast<unsigned long long>(bytes), static_cast<long long>(start - base), region.name.c_str(),
                          static_cast<unsigned long long>(region.len));
            }
            return;
        }
    }
    violation(call, "the GlobalTensor's buffer does not point into any launch argument");
}

uint8_t gm_region_of(const void* addr, uint64_t& offset) {
    const uint64_t at = address_of(addr);
    for (size_t i = 0; i < g_launch.regions.size() && i < kNoRegion; ++i) {
        const uint64_t base = address_of(g_launch.regions[i].base);
        if (at >= base && at - base <= g_launch.regions[i].len) {
            offset = at - base;
            return static_cast<uint8_t>(i);
        }
    }
    offset = at;
    return kNoRegion;
}

void gm_atomic_lock() { g_launch.atomic_mutex.lock(); }

void gm_atomic_unlock() { g_launch.atomic_mutex.unlock(); }

namespace {

/// Whether no core can make progress: every core has ended or waits for a condition that is false (caller holds
/// barrier_mutex).
bool nobody_can_wake() {
    for (uint32_t c = 0; c < g_launch.total; ++c) {
        if (g_launch.done[c]) {
            continue;
        }
        const std::function<bool()>* waiting = g_launch.waiting[c];
        if (waiting == nullptr || (*waiting)()) {
            return false;  // running, or released and about to wake
        }
    }
    return true;
}

/// Blocks the current core until `ready()`, reporting a deadlock when every other core has finished or waits
/// for something nobody can still give (caller holds `lock`). Deterministic: every waiter's condition is
/// evaluated, so a core that was released but has not woken up yet is not mistaken for a blocked one.
void block_until(std::unique_lock<std::mutex>& lock, const char* call, const std::string& what,
                 const std::function<bool()>& ready) {
    const uint32_t me = core().global_index;
    g_launch.waiting[me] = &ready;
    while (!ready()) {
        if (g_launch.deadlock || nobody_can_wake()) {
            g_launch.deadlock = true;
            g_launch.waiting[me] = nullptr;
            g_launch.barrier_cv.notify_all();
            // A wait left unsatisfiable by a core that stopped on an error is that error's consequence.
            stop_if_caused(call, me, what.c_str());
            violation(call, "%cdeadlock: %s, but every other core has finished or is waiting too (the NPU would hang)",
                      kDeadlockMark, what.c_str());
        }
        if (g_launch.turns) {
            pass_turn(me);
            await_turn(lock, me);
        } else {
            g_launch.barrier_cv.wait(lock);
        }
    }
    g_launch.waiting[me] = nullptr;
}

}  // namespace

void sync_all_barrier(const char* call, bool aiv_only) {
    CoreState& state = core();
    const bool aic = state.core_type == AscendC::AIC;
    // SyncAll<true> in a MIX kernel synchronizes the cores of the caller's type; otherwise every core.
    const int kind = g_launch.core_type == kLaunchMix && aiv_only ? (aic ? 2 : 1) : 0;
    if (!g_launch.all_resident) {
        violation(call, "SyncAll needs all %u cores running at once; the emulator runs at most %u cores at once",
                  g_launch.total, kMaxResidentCores);
    }
    const uint32_t expected = kind == 0 ? g_launch.total : kind == 1 ? 2 * g_launch.block_dim : g_launch.block_dim;
    const Clock mine = race_all();
    std::unique_lock<std::mutex> lock(g_launch.barrier_mutex);
    Launch::Barrier& barrier = g_launch.barriers[kind];
    const uint32_t gone = kind == 0 ? g_launch.finished : kind == 1 ? g_launch.finished_aiv : g_launch.finished_aic;
    if (gone > 0 || barrier.broken) {
        stop_if_caused(call, state.global_index, "SyncAll cannot complete");
        violation(call, "%u core(s) finished the kernel without reaching this SyncAll (the NPU would hang)", gone);
    }
    join(barrier.accum, mine);
    const uint64_t generation = barrier.generation;
    if (g_trace) {
        trace_order(TK_SYNC_ALL, 0, call, static_cast<uint32_t>(kind), static_cast<uint32_t>(generation), expected);
    }
    if (++barrier.arrived == expected) {
        barrier.arrived = 0;
        ++barrier.generation;
        barrier.published = barrier.accum;
        barrier.accum.clear();
        race_take(0, barrier.published);
        g_launch.barrier_cv.notify_all();
        return;
    }
    block_until(lock, call, "SyncAll waits for cores that can no longer reach it",
                [&] { return barrier.generation != generation || barrier.broken; });
    if (barrier.generation == generation) {
        stop_if_caused(call, state.global_index, "SyncAll cannot complete");
        violation(call, "a core finished the kernel without reaching this SyncAll (the NPU would hang)");
    }
    race_take(0, barrier.published);
}

void cross_core_set(const char* call, int mode, int pipe, int flag_id) {
    CoreState& state = core();
    if (g_launch.core_type != kLaunchMix) {
        violation(call, "CrossCoreSetFlag<%d>(%d) in an %s kernel: inter-core flags need a MIX kernel type", mode, flag_id,
                  g_launch.core_type == kLaunchAic ? "AIC_ONLY" : "AIV_ONLY");
    }
    if (flag_id < 0 || flag_id >= kCrossFlags) {
        violation(call, "flag id %d is outside 0..%d", flag_id, kCrossFlags - 1);
    }
    if (pipe < 0) {
        violation(call, "CrossCoreSetFlag<%d> needs one of PIPE_S/V/M/MTE1/MTE2/MTE3/FIX", mode);
    }
    if (mode == 1 && state.core_type == AscendC::AIC) {
        violation(call, "CrossCoreSetFlag<1>(%d) on an AIC: mode 1 synchronizes the two AIVs of an AI core", flag_id);
    }
    Clock clock = race_clock(pipe);
    std::lock_guard<std::mutex> lock(g_launch.barrier_mutex);
    const bool aic = state.core_type == AscendC::AIC;
    const uint32_t group = state.group;
    // The AIVs of this core's group, as the setters of a paired set name them.
    const std::string pair = "AIV " + std::to_string(group) + ".0 and AIV " + std::to_string(group) + ".1";
    // The trace numbers this set, and the sets a paired set joins.
    uint32_t seq = 0;
    if (g_trace) {
        seq = ++g_launch.cross_seq;
        trace_order(TK_CROSS_SET, pipe, call, static_cast<uint32_t>(flag_id), static_cast<uint32_t>(mode), seq);
    }
    std::vector<uint32_t> joined_seqs;
    auto give = [&](uint32_t target, const Clock& with, const std::string& setters) {
        std::vector<uint32_t> seqs = joined_seqs.empty() ? std::vector<uint32_t>{seq} : joined_seqs;
        g_launch.cross[target][flag_id].push_back(FlagSet{with, state.global_index, setters, seqs});
    };
    // Queues this core's set as `source` of `needed`; when every source has one, takes one of each into `joined`.
    Clock joined;
    auto gather = [&](PendingSet& set, uint32_t source, uint32_t needed) {
        if (set.from.size() < needed) {
            set.from.resize(needed);
            set.seqs.resize(needed);
        }
        set.from[source].push_back(clock);
        set.seqs[source].push_back(seq);
        for (const std::deque<Clock>& queue : set.from) {
            if (queue.empty()) {
                return false;
            }
        }
        joined.clear();
        for (std::deque<Clock>& queue : set.from) {
            join(joined, queue.front());
            queue.pop_front();
        }
        joined_seqs.clear();
        for (std::deque<uint32_t>& queue : set.seqs) {
            joined_seqs.push_back(queue.front());
            queue.pop_front();
        }
        return true;
    };
    // Which of the cores that must set this one is: AICs by group, AIVs by group and sub-block.
    const uint32_t sub = aic ? 0 : state.sub_block_idx;
    if (mode == 0) {
        PendingSet& set = g_launch.pending_type[aic ? 0 : 1][flag_id];
        if (gather(set, aic ? group : group * 2 + sub, aic ? g_launch.block_dim : 2 * g_launch.block_dim)) {
            for (uint32_t c = 0; c < g_launch.total; ++c) {
                if ((c % 3 == 0) == aic) {
                    give(c, joined, aic ? "every AIC" : "every AIV");
                }
            }
        }
    } else if (mode == 1) {
        PendingSet& set = g_launch.pending_group[group * 2][flag_id];
        if (gather(set, sub, 2)) {
            give(group * 3 + 1, joined, pair);
            give(group * 3 + 2, joined, pair);
        }
    } else if (aic) {
        give(group * 3 + 1, clock, state.label);
        give(group * 3 + 2, clock, state.label);
    } else {
        PendingSet& set = g_launch.pending_group[group * 2 + 1][flag_id];
        if (gather(set, sub, 2)) {
            give(group * 3, joined, pair);
        }
    }
    g_launch.barrier_cv.notify_all();
}

void cross_core_wait(const char* call, int pipe, int flag_id) {
    CoreState& state = core();
    if (g_launch.core_type != kLaunchMix) {
        violation(call, "CrossCoreWaitFlag(%d) in an %s kernel: inter-core flags need a MIX kernel type", flag_id,
                  g_launch.core_type == kLaunchAic ? "AIC_ONLY" : "AIV_ONLY");
    }
    if (flag_id < 0 || flag_id >= kCrossFlags) {
        violation(call, "flag id %d is outside 0..%d", flag_id, kCrossFlags - 1);
    }
    std::unique_lock<std::mutex> lock(g_launch.barrier_mutex);
    std::vector<FlagSet>& counter = g_launch.cross[state.global_index][flag_id];
    const std::string what = "CrossCoreWaitFlag(" + std::to_string(flag_id) + ") on " + state.label +
                             " waits for a CrossCoreSetFlag that no core can still make";
    block_until(lock, call, what, [&] { return !counter.empty(); });
    const Clock clock = counter.front().clock;
    const std::vector<uint32_t> seqs = counter.front().seqs;
    counter.erase(counter.begin());
    lock.unlock();
    if (g_trace) {
        for (uint32_t seq : seqs) {
            trace_order(TK_CROSS_WAIT, pipe < 0 ? 0 : pipe, call, static_cast<uint32_t>(flag_id), 0, seq);
        }
    }
    race_take(pipe < 0 ? 0 : pipe, clock);
}

namespace {

/// After a MIX launch, every cross-core set never waited for is a violation of the core that set it: on the
/// NPU the target's flag counter stays unbalanced (a later wait passes too early, or the next kernel inherits
/// it). A set whose partners never set (modes 0-2 count only when every core of the group has set) is one too.
/// Both are consequences when a core stopped on an error or a deadlock (its waits never ran).
void unwaited_flag_checks() {
    const bool secondary = !g_launch.records.empty();
    char message[512];
    for (uint32_t target = 0; target < g_launch.total; ++target) {
        for (int id = 0; id < kCrossFlags; ++id) {
            const std::vector<FlagSet>& sets = g_launch.cross[target][id];
            if (sets.empty()) {
                continue;
            }
            const FlagSet& first = sets.front();
            std::snprintf(message, sizeof(message),
                          "CrossCoreSetFlag(%d) set by %s for %s was never waited for: %zu set(s) left on the flag "
                          "at kernel end (each needs a CrossCoreWaitFlag(%d) on %s)",
                          id, first.setters.c_str(), core_label(target), sets.size(), id, core_label(target));
            record_violation(first.setter, core_label(first.setter), "kernel end", message, secondary);
        }
    }
    // Sets queued for partners: [mode 0 of the AICs, of the AIVs] and per group [mode 1, mode 2 towards the AIC].
    auto unpaired = [&](const PendingSet& set, int id, int mode, const std::function<uint32_t(uint32_t)>& core_of) {
        for (uint32_t source = 0; source < set.from.size(); ++source) {
            if (set.from[source].empty()) {
                continue;
            }
            const uint32_t setter = core_of(source);
            std::snprintf(message, sizeof(message),
                          "CrossCoreSetFlag<%d>(%d) on %s never counted: %zu set(s) still wait for the other "
                          "core(s) that mode %d pairs it with at kernel end",
                          mode, id, core_label(setter), set.from[source].size(), mode);
            record_violation(setter, core_label(setter), "kernel end", message, secondary);
        }
    };
    for (int id = 0; id < kCrossFlags; ++id) {
        unpaired(g_launch.pending_type[0][id], id, 0, [](uint32_t s) { return 3 * s; });
        unpaired(g_launch.pending_type[1][id], id, 0, [](uint32_t s) { return 3 * (s / 2) + 1 + s % 2; });
        for (uint32_t group = 0; group < g_launch.block_dim; ++group) {
            for (int kind = 0; kind < 2; ++kind) {
                unpaired(g_launch.pending_group[group * 2 + kind][id], id, kind + 1,
                         [group](uint32_t s) { return 3 * group + 1 + s; });
            }
        }
    }
}

}  // namespace

void set_kernel_type(KernelMetaType type) {
    const uint8_t launched = g_launch.core_type;
    const bool aiv = type == KERNEL_TYPE_AIV_ONLY || type == KERNEL_TYPE_MIX_AIV_1_0;
    const bool aic = type == KERNEL_TYPE_AIC_ONLY || type == KERNEL_TYPE_MIX_AIC_1_0;
    const bool mix = type == KERNEL_TYPE_MIX_AIC_1_2;
    if (!aiv && !aic && !mix) {
        violation("KERNEL_TASK_TYPE_DEFAULT", "kernel type %d is not supported by the emulator (AIV_ONLY, AIC_ONLY, "
                  "MIX_AIV_1_0, MIX_AIC_1_0 and MIX_AIC_1_2 are)", static_cast<int>(type));
    }
    const uint8_t declared = aiv ? kLaunchAiv : aic ? kLaunchAic : kLaunchMix;
    if (declared != launched) {
        static const char* const names[] = {"aiv (AIV_ONLY)", "aic (AIC_ONLY)", "mix (MIX_AIC_1_2)"};
        violation("KERNEL_TASK_TYPE_DEFAULT", "the kernel declares core type %s but was launched as %s",
                  names[declared], names[launched]);
    }
}

}  // namespace moge_emu

int main(int argc, char** argv) {
    using namespace moge_emu;
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s REQUEST RESPONSE\n", argc > 0 ? argv[0] : "moge-emu");
        return 2;
    }
    const char* response_path = argv[2];
    MappedRequest request;
    if (!map_request(argv[1], request)) {
        return fail(response_path, kStatusBadRequest, std::string("cannot map the request file ") + argv[1]);
    }
    Reader reader{request.data, request.size};
    char magic[8] = {};
    reader.take(magic, 8);
    if (!reader.ok || std::memcmp(magic, kRequestMagic, 8) != 0) {
        return fail(response_path, kStatusBadRequest, "the request file does not start with MOGEREQ3");
    }
    g_launch.kernel = reader.str();
    g_launch.block_dim = reader.u32();
    g_launch.core_type = reader.u8();
    g_check = reader.u32();
    g_trace = (g_check & kCheckTrace) != 0;
    g_timing_only = g_trace && (g_check & kCheckTimingOnly) != 0;
    const uint32_t arg_count = reader.u32();
    std::vector<uint8_t*> params;
    for (uint32_t i = 0; i < arg_count && reader.ok; ++i) {
        Region region;
        region.name = reader.str();
        region.is_output = reader.u8() != 0;
        region.len = reader.u64();
        reader.align_to(kArgAlign);
        const uint64_t offset = reader.at;
        if (!reader.skip(region.len) || !reader.align_to(kArgAlign)) {
            break;
        }
        // Mapped in place: only the pages a kernel touches are read. A host whose pages are larger than
        // the request's alignment cannot map at that offset and gets a copy.
        region.base = map_argument(request, offset, region.len, kGmGap);
        region.mapped = region.base != nullptr;
        if (region.base == nullptr) {
            region.base = allocate_gm(region.len);
            if (region.base == nullptr) {
                return fail(response_path, kStatusBadRequest, "cannot allocate GM for argument " + region.name);
            }
            std::memcpy(region.base, request.data + offset, region.len);
        }
        params.push_back(region.base);
        g_launch.regions.push_back(region);
    }
    Region workspace;
    workspace.name = "workspace";
    workspace.len = reader.u64();
    workspace.base = allocate_gm(workspace.len);
    Region tiling;
    tiling.name = "tiling";
    tiling.len = reader.u64();
    tiling.base = allocate_tiling(tiling.len);
    if (workspace.base == nullptr || tiling.base == nullptr) {
        return fail(response_path, kStatusBadRequest, "cannot allocate GM for the workspace or the tiling");
    }
    reader.take(tiling.base, tiling.len);
    if (!reader.ok) {
        return fail(response_path, kStatusBadRequest, "the request file is truncated");
    }
    params.push_back(workspace.base);
    params.push_back(tiling.base);
    g_launch.regions.push_back(workspace);
    g_launch.regions.push_back(tiling);
    if (params.size() > kMaxParams) {
        return fail(response_path, kStatusBadRequest, "too many kernel parameters");
    }
    if (g_launch.block_dim == 0) {
        return fail(response_path, kStatusBadRequest, "blockDim is 0");
    }
    if (g_launch.core_type > kLaunchMix) {
        return fail(response_path, kStatusBadRequest, "unknown core type " + std::to_string(g_launch.core_type));
    }
    g_launch.total = g_launch.core_type == kLaunchMix ? 3 * g_launch.block_dim : g_launch.block_dim;
    if (g_launch.core_type == kLaunchMix && g_launch.total > kMaxResidentCores * 3) {
        return fail(response_path, kStatusBadRequest,
                    "a MIX kernel runs all its cores at once; blockDim " + std::to_string(g_launch.block_dim) +
                        " is more than the emulator's " + std::to_string(kMaxResidentCores) + " AI cores");
    }
    g_launch.stats.resize(g_launch.total);
    g_launch.traces.resize(g_launch.total);
    g_launch.done.assign(g_launch.total, false);
    g_launch.waiting.assign(g_launch.total, nullptr);
    g_launch.stopped.assign(g_launch.total, std::string());
    g_launch.turn_cv = std::vector<std::condition_variable>(g_launch.total);
    for (uint32_t c = 0; c < g_launch.total; ++c) {
        CoreState probe;
        describe_core(probe, c);
        g_core_labels.push_back(probe.label);
    }
    g_launch.cross.assign(g_launch.total, std::vector<std::vector<FlagSet>>(kCrossFlags));
    g_launch.pending_type.assign(2, std::vector<PendingSet>(kCrossFlags));
    g_launch.pending_group.assign(2 * g_launch.block_dim, std::vector<PendingSet>(kCrossFlags));
    void* kernel = dlsym(RTLD_DEFAULT, g_launch.kernel.c_str());
    if (kernel == nullptr) {
        return fail(response_path, kStatusKernelNotFound, "no extern \"C\" function named " + g_launch.kernel);
    }

    install_crash_handlers();
    const uint32_t workers = g_launch.core_type == kLaunchMix ? g_launch.total : std::min(g_launch.total, kMaxResidentCores);
    g_launch.all_resident = workers == g_launch.total;
    // MIX cores interact through flags and SyncAll: they run one at a time so that reports are reproducible.
    g_launch.turns = g_launch.core_type == kLaunchMix;
    std::vector<RaceCell*> gm_cells;
    if ((g_check & kCheckRaces) && g_launch.all_resident) {
        // Clocks span every pipe of every core, and GM gets a shadow, only when all cores run at once.
        g_race_threads = g_launch.total * kPipes;
        g_gm_checked = true;
        for (const Region& region : g_launch.regions) {
            const uint64_t cell_bytes = gm_cell_bytes(region.len);
            RaceCell* cells = static_cast<RaceCell*>(std::calloc(region.len / cell_bytes + 2, sizeof(RaceCell)));
            gm_cells.push_back(cells);
            g_gm_shadows.push_back(GmShadow{region.base, region.len, region.name.c_str(), cells, cell_bytes});
        }
    }
    std::atomic<uint32_t> next{0};
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    threads.reserve(workers);
    for (uint32_t i = 0; i < workers; ++i) {
        threads.emplace_back(run_worker, std::ref(next), kernel, std::cref(params));
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    const auto wall = std::chrono::steady_clock::now() - started;
    if (g_launch.core_type == kLaunchMix) {
        unwaited_flag_checks();
    }

    // First causes lead, by core; then the consequences (waits another core's error left unsatisfiable).
    std::stable_sort(g_launch.records.begin(), g_launch.records.end(), [](const Record& a, const Record& b) {
        return a.secondary != b.secondary ? !a.secondary : a.core < b.core;
    });
    Writer writer{std::fopen(response_path, "wb")};
    if (writer.file == nullptr) {
        std::fprintf(stderr, "moge-emu: cannot write %s\n", response_path);
        return 3;
    }
    writer.bytes(kResponseMagic, 8);
    writer.u32(kStatusOk);
    writer.u64(g_launch.gm_read.load());
    writer.u64(g_launch.gm_written.load());
    writer.u64(g_launch.ub_high.load());
    writer.u64(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count()));
    writer.u64(g_launch.total_violations);
    const size_t reported = std::min(g_launch.records.size(), kMaxReported);
    writer.u32(static_cast<uint32_t>(reported));
    for (size_t i = 0; i < reported; ++i) {
        writer.u32(g_launch.records[i].core);
        writer.str(g_launch.records[i].label);
        writer.str(g_launch.records[i].call);
        writer.str(g_launch.records[i].message);
    }
    writer.u32(static_cast<uint32_t>(g_launch.stats.size()));
    for (const CoreStats& stats : g_launch.stats) {
        writer.str(stats.label);
        writer.u64(stats.gm_read);
        writer.u64(stats.gm_written);
    }
    for (RaceCell* cells : gm_cells) {
        std::free(cells);
    }
    writer.u32(arg_count);
    for (uint32_t i = 0; i < arg_count; ++i) {
        const Region& region = g_launch.regions[i];
        // An input the kernel did not write is still the host's bytes: not sent back.
        const bool send = region.is_output || !region.mapped || mapped_bytes_written(region.base, region.len);
        writer.u8(send ? 1 : 0);
        if (send) {
            writer.u64(region.len);
            writer.bytes(region.base, region.len);
        }
    }
    // The trace (when asked for): the API names, then per core its events as 64-byte records.
    writer.u8(g_trace ? 1 : 0);
    if (g_trace) {
        const uint32_t names = __atomic_load_n(&g_race_call_count, __ATOMIC_ACQUIRE);
        writer.u32(names);
        for (uint32_t id = 0; id < names; ++id) {
            writer.str(id == 0 ? std::string("?") : std::string(race_call_name(static_cast<uint16_t>(id))));
        }
        writer.u32(static_cast<uint32_t>(g_launch.traces.size()));
        for (const std::vector<TraceEvent>& events : g_launch.traces) {
            writer.u64(events.size());
            writer.bytes(events.data(), events.size() * sizeof(TraceEvent));
        }
    }
    if (!writer.close()) {
        std::fprintf(stderr, "moge-emu: cannot write %s\n", response_path);
        return 3;
    }
    return 0;
}
