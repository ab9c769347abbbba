// moge CPU emulator: TPipe, TQue/TQueBind, TBuf, and in-core synchronization (SetFlag/WaitFlag).
//
// A core runs its pipes in program order, so the emulator does not need the hardware flags to order work;
// it checks that they are used the way the hardware needs them: every WaitFlag has a SetFlag before it,
// no flag is set twice without a wait, and no flag is left set at the end of the kernel. Queues check the
// buffer life cycle: AllocTensor -> EnQue -> DeQue -> FreeTensor.
#ifndef MOGE_EMU_PIPE_H
#define MOGE_EMU_PIPE_H

#include "race.h"
#include "tensor.h"
#include <exception>

namespace moge_emu {

/// Life-cycle state of one queue buffer.
enum BufState : uint8_t { BUF_FREE = 0, BUF_ALLOCATED, BUF_ENQUEUED, BUF_DEQUEUED };

/// Bookkeeping of one TQue / TQueBind.
struct QueueState {
    bool initialized = false;
    /// TPipe generation at InitBuffer; a Reset or Destroy of the pipe invalidates the queue.
    uint32_t generation = 0;
    uint8_t hw = HW_UB;
    uint8_t num = 0;
    uint8_t cursor = 0;
    uint8_t head = 0;
    uint8_t count = 0;
    /// Bytes per buffer (rounded up to 32).
    uint32_t len = 0;
    uint8_t* base = nullptr;
    uint8_t state[kMaxPipeBuffers] = {};
    uint8_t fifo[kMaxPipeBuffers] = {};
    /// The tensor each enqueued buffer was enqueued as (a view may start inside the buffer).
    uint8_t* enqueued_ptr[kMaxPipeBuffers] = {};
    uint32_t enqueued_bytes[kMaxPipeBuffers] = {};
    /// Race detector: the producer's clock at EnQue and the consumer's at FreeTensor, per buffer.
    std::vector<Clock> enqueued_clock;
    /// Trace: bit i set once buffer i was freed (a later AllocTensor of it waits for that hand-back).
    uint64_t freed_once = 0;
    std::vector<Clock> freed_clock;
};

/// The pipes that produce into and consume from a queue at `pos` (CANN auto-sync table of TQue:
/// VECIN MTE2->V, VECOUT V->MTE3, A1/B1 MTE2->MTE1, A2/B2 MTE1->M, CO1 M->FIX).
constexpr int queue_producer(AscendC::TPosition pos) {
    using AscendC::TPosition;
    return pos == TPosition::VECIN ? 4 : pos == TPosition::VECOUT ? 1 : pos == TPosition::VECCALC ? 1
           : (pos == TPosition::A2 || pos == TPosition::B2) ? 3 : pos == TPosition::CO1 ? 2 : 4;
}
constexpr int queue_consumer(AscendC::TPosition pos) {
    using AscendC::TPosition;
    return pos == TPosition::VECIN ? 1 : pos == TPosition::VECOUT ? 5 : pos == TPosition::VECCALC ? 1
           : (pos == TPosition::A2 || pos == TPosition::B2) ? 2 : pos == TPosition::CO1 ? 6 : 3;
}

/// The SRC and DST pipes of an event, read from its `SRC_DST` name.
inline void event_pipes(const char* name, int& src, int& dst) {
    const char* split = std::strchr(name, '_');
    src = dst = -1;
    if (split == nullptr) {
        return;
    }
    const std::string a(name, split), b(split + 1);
    for (int p = 0; p < kPipes; ++p) {
        if (a == kPipeName[p]) src = p;
        if (b == kPipeName[p]) dst = p;
    }
}

/// Bookkeeping of one TBuf.
struct ScratchState {
    bool initialized = false;
    uint32_t generation = 0;
    uint8_t hw = HW_UB;
    uint32_t len = 0;
    uint8_t* base = nullptr;
};

inline const char* event_name(AscendC::HardEvent event) {
    static const char* const names[] = {
        "MTE2_MTE1", "MTE1_MTE2", "MTE1_M",   "M_MTE1",    "MTE2_V",    "V_MTE2",    "MTE3_V",    "V_MTE3",
        "M_V",       "V_M",       "V_V",      "MTE3_MTE1", "MTE1_MTE3", "MTE1_V",    "MTE2_M",    "M_MTE2",
        "V_MTE1",    "M_FIX",     "FIX_M",    "MTE3_MTE2", "MTE2_MTE3", "S_V",       "V_S",       "S_MTE2",
        "MTE2_S",    "S_MTE3",    "MTE3_S",   "MTE2_FIX",  "FIX_MTE2",  "FIX_S",     "M_S",       "FIX_MTE3",
        "MTE1_FIX",  "FIX_MTE1",  "FIX_FIX",
    };
    const int index = static_cast<int>(event);
    return index < kEventKinds ? names[index] : "MAX";
}

/// Events that only exist on the cube core (AIC) of a split A2 core.
constexpr bool is_cube_only_event(AscendC::HardEvent e) {
    using AscendC::HardEvent;
    return e == HardEvent::MTE2_MTE1 || e == HardEvent::MTE1_MTE2 || e == HardEvent::MTE1_M ||
           e == HardEvent::M_MTE1 || e == HardEvent::M_FIX || e == HardEvent::FIX_M;
}

/// Events that only exist on the vector core (AIV) of a split A2 core.
constexpr bool is_vector_only_event(AscendC::HardEvent e) {
    using AscendC::HardEvent;
    return e == HardEvent::MTE2_V || e == HardEvent::V_MTE2 || e == HardEvent::MTE3_V || e == HardEvent::V_MTE3 ||
           e == HardEvent::V_V || e == HardEvent::S_V || e == HardEvent::V_S;
}

inline void check_event(const char* call, AscendC::HardEvent event, int32_t id) {
    if (static_cast<int>(event) >= kEventKinds) {
        violation(call, "event kind HardEvent::MAX is not an event");
    }
    if (id < 0 || id >= kEventIds) {
        violation(call, "event id %d of HardEvent::%s is outside 0..%d", id, event_name(event), kEventIds - 1);
    }
}

inline void set_flag(AscendC::HardEvent event, int32_t id) {
    const char* call = "SetFlag";
    check_event(call, event, id);
    CoreState& state = core();
    uint8_t& bits = state.flags[static_cast<int>(event)];
    if (bits & (1u << id)) {
        violation(call, "SetFlag<HardEvent::%s>(%d) while that flag is already set and not yet waited", event_name(event),
                  id);
    }
    bits = static_cast<uint8_t>(bits | (1u << id));
    int src, dst;
    event_pipes(event_name(event), src, dst);
    if (g_trace) {
        trace_order(TK_SET_FLAG, src, call, static_cast<uint32_t>(event), static_cast<uint32_t>(id));
    }
    race_set_flag(src, static_cast<int>(event), id);
}

inline void wait_flag(AscendC::HardEvent event, int32_t id) {
    const char* call = "WaitFlag";
    check_event(call, event, id);
    CoreState& state = core();
    uint8_t& bits = state.flags[static_cast<int>(event)];
    if (!(bits & (1u << id))) {
        violation(call, "WaitFlag<HardEvent::%s>(%d) with no SetFlag<HardEvent::%s>(%d) before it (the core would hang)",
                  event_name(event), id, event_name(event), id);
    }
    bits = static_cast<uint8_t>(bits & ~(1u << id));
    int src, dst;
    event_pipes(event_name(event), src, dst);
    if (g_trace) {
        trace_order(TK_WAIT_FLAG, dst, call, static_cast<uint32_t>(event), static_cast<uint32_t>(id));
    }
    race_wait_flag(dst, static_cast<int>(event), id);
}

}  // namespace moge_emu

namespace AscendC {

class TPipe;
template <TPosition pos>
class TBuf;

/// A queue of `depth` tensors between two positions, over buffers handed out by `TPipe::InitBuffer`.
template <TPosition src, TPosition dst, int32_t depth, auto mask = 0>
class TQueBind {
public:
    TQueBind() = default;
    TQueBind(const TQueBind&) = delete;
    TQueBind& operator=(const TQueBind&) = delete;

    /// At the end of the kernel every buffer must be back: a tensor never freed is a broken queue
    /// protocol (a FreeTensor missing) even when no later AllocTensor needed its buffer. Not checked
    /// while a violation unwinds the core, nor after the pipe was reset or destroyed.
    ~TQueBind() noexcept(false) {
        const moge_emu::QueueState& q = state_;
        moge_emu::CoreState* core = moge_emu::t_core;
        if (std::uncaught_exceptions() > 0 || core == nullptr || !q.initialized ||
            q.generation != core->pipe_generation || core->pipe == nullptr) {
            return;
        }
        static const char* const states[] = {"free", "allocated", "enqueued", "dequeued"};
        const auto offset = static_cast<unsigned long long>(q.base - moge_emu::core_arena(static_cast<moge_emu::Hw>(q.hw)));
        for (uint32_t index = 0; index < q.num; ++index) {
            if (q.state[index] != moge_emu::BUF_FREE) {
                moge_emu::violation("TQue (kernel end)",
                                    "buffer %u of the TQue at %s (%u buffer(s) of %u bytes from %s byte %llu) is still "
                                    "%s at the end of the kernel: a FreeTensor is missing",
                                    index, moge_emu::position_name(moge_position), q.num, q.len,
                                    moge_emu::kHwName[q.hw], offset, states[q.state[index] & 3]);
            }
        }
    }

    template <typename T>
    LocalTensor<T> AllocTensor() {
        const char* call = "TQue::AllocTensor";
        moge_emu::QueueState& q = valid(call);
        for (uint32_t step = 0; step < q.num; ++step) {
            const uint32_t index = (q.cursor + step) % q.num;
            if (q.state[index] == moge_emu::BUF_FREE) {
                q.state[index] = moge_emu::BUF_ALLOCATED;
                q.cursor = static_cast<uint8_t>((index + 1) % q.num);
                if (moge_emu::g_trace && (q.freed_once >> index & 1) != 0) {
                    moge_emu::trace_order(moge_emu::TK_QUEUE_WAIT, moge_emu::queue_producer(moge_position), call,
                                          moge_emu::trace_buffer_key(q.hw, q.base + static_cast<uint64_t>(index) * q.len), 1);
                }
                if (index < q.freed_clock.size()) {
                    moge_emu::race_take(moge_emu::queue_producer(moge_position), q.freed_clock[index]);
                }
                return make_tensor<T>(q.base + static_cast<uint64_t>(index) * q.len, q.len, q.len);
            }
        }
        moge_emu::violation(call,
                            "AllocTensor past the queue's %u buffers: all of them are allocated and not freed "
                            "(FreeTensor missing, or more tensors in flight than InitBuffer's num)",
                            q.num);
    }

    /// In-place form; as in CANN, only for queues of depth 0.
    template <typename T>
    void AllocTensor(LocalTensor<T>& tensor) {
        static_assert(depth == 0, "can not AllocTensor in place while the queue's depth is non zero");
        tensor = AllocTensor<T>();
    }

    template <typename T>
    void FreeTensor(LocalTensor<T>& tensor) {
        const char* call = "TQue::FreeTensor";
        moge_emu::QueueState& q = valid(call);
        const uint32_t index = buffer_of(call, tensor.ptr_);
        switch (q.state[index]) {
            case moge_emu::BUF_FREE:
                moge_emu::violation(call, "FreeTensor of buffer %u of the queue, which is not allocated (double free?)",
                                    index);
            case moge_emu::BUF_ENQUEUED:
                moge_emu::violation(call, "FreeTensor of buffer %u of the queue while it is still enqueued (DeQue it first)",
                                    index);
            default:
                q.state[index] = moge_emu::BUF_FREE;
                if (moge_emu::g_trace) {
                    q.freed_once |= 1ull << index;
                    moge_emu::trace_order(moge_emu::TK_QUEUE_SET, moge_emu::queue_consumer(moge_position), call,
                                          moge_emu::trace_buffer_key(q.hw, q.base + static_cast<uint64_t>(index) * q.len), 1);
                }
                if (moge_emu::races_on()) {
                    q.freed_clock.resize(q.num);
                    q.freed_clock[index] = moge_emu::race_clock(moge_emu::queue_consumer(moge_position));
                }
        }
    }

    template <typename T>
    bool EnQue(const LocalTensor<T>& tensor) {
        const char* call = "TQue::EnQue";
        moge_emu::QueueState& q = valid(call);
        const uint32_t index = buffer_of(call, tensor.ptr_);
        if (q.state[index] == moge_emu::BUF_FREE) {
            moge_emu::violation(call, "EnQue of buffer %u of the queue, which is not allocated (AllocTensor it first)",
                                index);
        }
        if (q.state[index] == moge_emu::BUF_ENQUEUED) {
            moge_emu::violation(call, "EnQue of buffer %u of the queue, which is already enqueued (EnQue twice)", index);
        }
        if (depth > 0 && q.count >= static_cast<uint32_t>(depth)) {
            moge_emu::violation(call, "EnQue past the queue depth %d: %u tensors are enqueued and not dequeued",
                                static_cast<int>(depth), q.count);
        }
        q.state[index] = moge_emu::BUF_ENQUEUED;
        if (moge_emu::g_trace) {
            moge_emu::trace_order(moge_emu::TK_QUEUE_SET, moge_emu::queue_producer(moge_position), call,
                                  moge_emu::trace_buffer_key(q.hw, q.base + static_cast<uint64_t>(index) * q.len), 0);
        }
        if (moge_emu::races_on()) {
            q.enqueued_clock.resize(q.num);
            q.enqueued_clock[index] = moge_emu::race_clock(moge_emu::queue_producer(moge_position));
        }
        q.enqueued_ptr[index] = reinterpret_cast<uint8_t*>(tensor.ptr_);
        q.enqueued_bytes[index] = static_cast<uint32_t>(tensor.size_ * sizeof(T));
        q.fifo[(q.head + q.count) % moge_emu::kMaxPipeBuffers] = static_cast<uint8_t>(index);
        ++q.count;
        return true;
    }

    template <TPosition srcUserPos, TPosition dstUserPos, typename T>
    bool EnQue(const LocalTensor<T>& tensor) {
        return EnQue(tensor);
    }

    template <typename T>
    LocalTensor<T> DeQue() {
        const char* call = "TQue::DeQue";
        moge_emu::QueueState& q = valid(call);
        if (q.count == 0) {
            moge_emu::violation(call, "DeQue on an empty queue (no EnQue before it)");
        }
        const uint32_t index = q.fifo[q.head];
        q.head = static_cast<uint8_t>((q.head + 1) % moge_emu::kMaxPipeBuffers);
        --q.count;
        q.state[index] = moge_emu::BUF_DEQUEUED;
        if (moge_emu::g_trace) {
            moge_emu::trace_order(moge_emu::TK_QUEUE_WAIT, moge_emu::queue_consumer(moge_position), call,
                                  moge_emu::trace_buffer_key(q.hw, q.base + static_cast<uint64_t>(index) * q.len), 0);
        }
        if (index < q.enqueued_clock.size()) {
            moge_emu::race_take(moge_emu::queue_consumer(moge_position), q.enqueued_clock[index]);
        }
        const uint8_t* buffer = q.base + static_cast<uint64_t>(index) * q.len;
        const uint32_t to_end = static_cast<uint32_t>(q.len - (q.enqueued_ptr[index] - buffer));
        return make_tensor<T>(q.enqueued_ptr[index], q.enqueued_bytes[index], to_end);
    }

    /// In-place form; as in CANN, only for queues of depth 0.
    template <typename T>
    void DeQue(LocalTensor<T>& tensor) {
        static_assert(depth == 0, "can not DeQue a tensor in place while the queue's depth is non zero");
        tensor = DeQue<T>();
    }

    template <TPosition srcUserPos, TPosition dstUserPos, typename T>
    LocalTensor<T> DeQue() {
        return DeQue<T>();
    }

    bool VacantInQue() { return depth <= 0 || state_.count < static_cast<uint32_t>(depth); }
    bool HasTensorInQue() { return state_.count > 0; }
    int32_t GetTensorCountInQue() { return state_.count; }
    bool HasIdleBuffer() {
        for (uint32_t index = 0; index < state_.num; ++index) {
            if (state_.state[index] == moge_emu::BUF_FREE) {
                return true;
            }
        }
        return false;
    }
    void FreeAllEvent() {}

    template <typename T>
    TBufState GetState(const LocalTensor<T>& tensor) const {
        for (uint32_t index = 0; index < state_.num; ++index) {
            const uint8_t* buffer = state_.base + static_cast<uint64_t>(index) * state_.len;
            const uint8_t* at = reinterpret_cast<const uint8_t*>(tensor.ptr_);
            if (at >= buffer && at < buffer + state_.len) {
                return static_cast<TBufState>(state_.state[index]);
            }
        }
        return TBufState::FREE;
    }

    // ---- emulator state ----
    static constexpr TPosition moge_position = src == TPosition::GM ? dst : src;
    moge_emu::QueueState state_;

private:
    moge_emu::QueueState& valid(const char* call) {
        moge_emu::CoreState& core = moge_emu::core();
        if (!state_.initialized) {
            moge_emu::violation(call, "the queue has no buffers (TPipe::InitBuffer was not called for it)");
        }
        if (state_.generation != core.pipe_generation) {
            moge_emu::violation(call, "the queue's buffers were released by TPipe::Reset/Destroy (call InitBuffer again)");
        }
        return state_;
    }

    uint32_t buffer_of(const char* call, const void* pointer) const {
        const uint8_t* at = reinterpret_cast<const uint8_t*>(pointer);
        if (at != nullptr && at >= state_.base && at < state_.base + static_cast<uint64_t>(state_.num) * state_.len) {
            return static_cast<uint32_t>((at - state_.base) / state_.len);
        }
        moge_emu::violation(call, "the tensor is not from this queue");
    }

    template <typename T>
    static LocalTensor<T> make_tensor(uint8_t* at, uint32_t bytes, uint32_t bytes_to_end) {
        LocalTensor<T> tensor;
        tensor.ptr_ = reinterpret_cast<T*>(at);
        tensor.size_ = static_cast<uint32_t>(bytes / sizeof(T));
        tensor.capacity_ = static_cast<uint32_t>(bytes_to_end / sizeof(T));
        tensor.pos_ = moge_position;
        tensor.hw_ = moge_emu::hw_of(moge_position);
        return tensor;
    }
};

/// A queue at one position (the common form of TQueBind).
template <TPosition pos, int32_t depth, auto mask = 0>
class TQue : public TQueBind<pos, pos, depth, mask> {
    static_assert(pos != TPosition::GM && pos != TPosition::VECCALC && pos != TPosition::MAX,
                  "TQue: GM, VECCALC and MAX are not queue positions (use TBuf for VECCALC scratch)");

public:
    TQue() = default;
};

/// Scratch memory without queue semantics.
template <TPosition pos = TPosition::LCM>
class TBuf {
public:
    TBuf() = default;

    template <typename T>
    LocalTensor<T> Get() {
        moge_emu::ScratchState& b = valid("TBuf::Get");
        return make<T>(b.base, b.len / sizeof(T), b.len / sizeof(T));
    }

    template <typename T>
    LocalTensor<T> Get(uint32_t len) {
        moge_emu::ScratchState& b = valid("TBuf::Get");
        if (static_cast<uint64_t>(len) * sizeof(T) > b.len) {
            moge_emu::violation("TBuf::Get", "Get(%u) asks %llu bytes of a %u-byte buffer", len,
                                static_cast<unsigned long long>(static_cast<uint64_t>(len) * sizeof(T)), b.len);
        }
        return make<T>(b.base, len, b.len / sizeof(T));
    }

    template <typename T>
    LocalTensor<T> GetWithOffset(uint32_t size, uint32_t bufOffset) {
        moge_emu::ScratchState& b = valid("TBuf::GetWithOffset");
        if (bufOffset % ONE_BLK_SIZE != 0) {
            moge_emu::violation("TBuf::GetWithOffset", "bufOffset %u is not 32-byte aligned", bufOffset);
        }
        if (static_cast<uint64_t>(bufOffset) + static_cast<uint64_t>(size) * sizeof(T) > b.len) {
            moge_emu::violation("TBuf::GetWithOffset", "%u elements at byte %u exceed the %u-byte buffer", size, bufOffset,
                                b.len);
        }
        return make<T>(b.base + bufOffset, size, (b.len - bufOffset) / sizeof(T));
    }

    template <typename T>
    void EnQue(const LocalTensor<T>& tensor) {
        (void)tensor;
    }

    template <typename T>
    LocalTensor<T> DeQue() {
        return Get<T>();
    }

    template <typename T>
    LocalTensor<T> AllocTensor() {
        return Get<T>();
    }

    template <typename T>
    void FreeTensor(LocalTensor<T>& tensor) {
        (void)tensor;
    }

    // ---- emulator state ----
    static constexpr TPosition moge_position = pos;
    moge_emu::ScratchState state_;

private:
    moge_emu::ScratchState& valid(const char* call) {
        if (!state_.initialized) {
            moge_emu::violation(call, "the TBuf has no memory (TPipe::InitBuffer was not called for it)");
        }
        if (state_.generation != moge_emu::core().pipe_generation) {
            moge_emu::violation(call, "the TBuf's memory was released by TPipe::Reset/Destroy (call InitBuffer again)");
        }
        return state_;
    }

    template <typename T>
    static LocalTensor<T> make(uint8_t* at, uint32_t size, uint32_t capacity) {
        LocalTensor<T> tensor;
        tensor.ptr_ = reinterpret_cast<T*>(at);
        tensor.size_ = size;
        tensor.capacity_ = capacity;
        tensor.pos_ = pos;
        tensor.hw_ = moge_emu::hw_of(pos);
        return tensor;
    }
};

/// The kernel's memory manager: hands out the on-chip buffers of queues and TBufs, and event ids.
class TPipe {
public:
    TPipe() {
        moge_emu::CoreState& core = moge_emu::core();
        if (core.pipe != nullptr) {
            moge_emu::violation("TPipe::TPipe",
                                "a second TPipe was constructed while another one is alive (a kernel has one TPipe; "
                                "their buffers would overlap)");
        }
        core.pipe = this;
        reset_memory(core);
    }

    ~TPipe() {
        moge_emu::CoreState* core = moge_emu::t_core;
        if (core != nullptr && core->pipe == this) {
            core->pipe = nullptr;
            ++core->pipe_generation;
        }
    }

    TPipe(const TPipe&) = delete;
    TPipe& operator=(const TPipe&) = delete;

    void Init() {}

    /// Gives `que` `num` buffers of `len` bytes (rounded up to 32) in the memory of its position.
    template <class T>
    bool InitBuffer(T& que, uint8_t num, uint32_t len) {
        const char* call = "TPipe::InitBuffer";
        constexpr moge_emu::Hw hw = moge_emu::hw_of(T::moge_position);
        static_assert(hw != moge_emu::HW_GM, "TPipe::InitBuffer: the queue's position is not an on-chip memory");
        if (num == 0) {
            moge_emu::violation(call, "InitBuffer with num 0 buffers");
        }
        if (len == 0) {
            moge_emu::violation(call, "InitBuffer with len 0 bytes");
        }
        uint8_t* base = take(call, hw, num, len);
        moge_emu::QueueState& q = que.state_;
        q = moge_emu::QueueState();
        q.initialized = true;
        q.generation = moge_emu::core().pipe_generation;
        q.hw = hw;
        q.num = num;
        q.len = round_up(len);
        q.base = base;
        return true;
    }

    /// Gives `buf` `len` bytes (rounded up to 32) in the memory of its position.
    template <TPosition pos>
    bool InitBuffer(TBuf<pos>& buf, uint32_t len) {
        const char* call = "TPipe::InitBuffer";
        constexpr moge_emu::Hw hw = moge_emu::hw_of(pos);
        static_assert(hw != moge_emu::HW_GM, "TPipe::InitBuffer: the TBuf's position is not an on-chip memory");
        if (len == 0) {
            moge_emu::violation(call, "InitBuffer of a TBuf with len 0 bytes");
        }
        uint8_t* base = take(call, hw, 1, len);
        moge_emu::ScratchState& b = buf.state_;
        b.initialized = true;
        b.generation = moge_emu::core().pipe_generation;
        b.hw = hw;
        b.len = round_up(len);
        b.base = base;
        return true;
    }

    template <HardEvent evt>
    TEventID AllocEventID() {
        const char* call = "TPipe::AllocEventID";
        moge_emu::check_event(call, evt, 0);
        uint8_t& ids = moge_emu::core().allocated_ids[static_cast<int>(evt)];
        for (int id = 0; id < moge_emu::kEventIds; ++id) {
            if (!(ids & (1u << id))) {
                ids = static_cast<uint8_t>(ids | (1u << id));
                return static_cast<TEventID>(id);
            }
        }
        moge_emu::violation(call, "all %d event ids of HardEvent::%s are allocated", moge_emu::kEventIds,
                            moge_emu::event_name(evt));
    }

    template <HardEvent evt>
    void ReleaseEventID(TEventID id) {
        const char* call = "TPipe::ReleaseEventID";
        moge_emu::check_event(call, evt, id);
        uint8_t& ids = moge_emu::core().allocated_ids[static_cast<int>(evt)];
        if (!(ids & (1u << id))) {
            moge_emu::violation(call, "ReleaseEventID<HardEvent::%s>(%d) of an id that is not allocated",
                                moge_emu::event_name(evt), static_cast<int>(id));
        }
        ids = static_cast<uint8_t>(ids & ~(1u << id));
    }

    template <HardEvent evt>
    TEventID FetchEventID() {
        return FetchEventID(evt);
    }

    /// An event id of `evt` that is not allocated (the id is not reserved).
    TEventID FetchEventID(HardEvent evt) {
        const char* call = "TPipe::FetchEventID";
        moge_emu::check_event(call, evt, 0);
        const uint8_t ids = moge_emu::core().allocated_ids[static_cast<int>(evt)];
        for (int id = 0; id < moge_emu::kEventIds; ++id) {
            if (!(ids & (1u << id))) {
                return static_cast<TEventID>(id);
            }
        }
        moge_emu::violation(call, "all %d event ids of HardEvent::%s are allocated", moge_emu::kEventIds,
                            moge_emu::event_name(evt));
    }

    /// Releases all buffers; queues and TBufs need InitBuffer again.
    void Reset() { reset_memory(moge_emu::core()); }

    /// Ends the pipe: all buffers are released and a new TPipe may be constructed.
    void Destroy() {
        moge_emu::CoreState& core = moge_emu::core();
        if (core.pipe == this) {
            core.pipe = nullptr;
            reset_memory(core);
        }
    }

private:
    static uint32_t round_up(uint32_t len) { return (len + 31u) / 32u * 32u; }

    void reset_memory(moge_emu::CoreState& core) {
        for (uint32_t& top : core.pipe_top) {
            top = 0;
        }
        core.pipe_buffers = 0;
        ++core.pipe_generation;
    }

    uint8_t* take(const char* call, moge_emu::Hw hw, uint32_t num, uint32_t len) {
        moge_emu::CoreState& core = moge_emu::core();
        if (core.pipe != this) {
            moge_emu::violation(call, "InitBuffer on a TPipe that was destroyed");
        }
        if (core.pipe_buffers + num > moge_emu::kMaxPipeBuffers) {
            moge_emu::violation(call, "InitBuffer of %u buffers makes %u, past the %u buffers a TPipe can hand out", num,
                                core.pipe_buffers + num, moge_emu::kMaxPipeBuffers);
        }
        const uint64_t rounded = round_up(len);
        const uint64_t asked = rounded * num;
        const uint64_t used = core.pipe_top[hw];
        const uint64_t usable = moge_emu::kHwUsable[hw];
        if (used + asked > usable) {
            moge_emu::violation(call,
                                "%s overflow: InitBuffer asks %llu bytes (%u buffer(s) of %llu bytes) but only %llu of "
                                "the %llu usable bytes are left (%llu already taken; %s is %u bytes)",
                                moge_emu::kHwName[hw], static_cast<unsigned long long>(asked), num,
                                static_cast<unsigned long long>(rounded), static_cast<unsigned long long>(usable - used),
                                static_cast<unsigned long long>(usable), static_cast<unsigned long long>(used),
                                moge_emu::kHwName[hw], moge_emu::kHwBytes[hw]);
        }
        uint8_t* base = moge_emu::core_arena(hw) + used;
        core.pipe_top[hw] = static_cast<uint32_t>(used + asked);
        core.pipe_buffers += num;
        if (hw == moge_emu::HW_UB && core.pipe_top[hw] > core.ub_high) {
            core.ub_high = core.pipe_top[hw];
        }
        return base;
    }
};

// ---- in-core synchronization ----------------------------------------------------------------------------

template <HardEvent event>
inline void SetFlag(int32_t eventID) {
    if (ASCEND_IS_AIC && moge_emu::is_vector_only_event(event)) {
        return;
    }
    if (ASCEND_IS_AIV && moge_emu::is_cube_only_event(event)) {
        return;
    }
    moge_emu::set_flag(event, eventID);
}

template <HardEvent event>
inline void WaitFlag(int32_t eventID) {
    if (ASCEND_IS_AIC && moge_emu::is_vector_only_event(event)) {
        return;
    }
    if (ASCEND_IS_AIV && moge_emu::is_cube_only_event(event)) {
        return;
    }
    moge_emu::wait_flag(event, eventID);
}

/// Orders the pipes of a core: the emulator runs them in program order; the race detector orders later
/// instructions of `pipe` after its earlier ones (PIPE_ALL: every pipe after every pipe).
template <pipe_t pipe>
inline void PipeBarrier() {
    if (moge_emu::g_trace) {
        const int slot = moge_emu::pipe_slot(pipe);
        moge_emu::trace_order(moge_emu::TK_BARRIER, slot < 0 ? 0 : slot, "PipeBarrier",
                              slot < 0 ? moge_emu::kAllPipes : static_cast<uint32_t>(slot), 0);
    }
    moge_emu::race_barrier(pipe);
}

namespace moge_detail {
constexpr HardEvent event_of(pipe_t src, pipe_t dst) {
    return (src == PIPE_MTE2 && dst == PIPE_V)      ? HardEvent::MTE2_V
           : (src == PIPE_V && dst == PIPE_MTE2)    ? HardEvent::V_MTE2
           : (src == PIPE_MTE3 && dst == PIPE_V)    ? HardEvent::MTE3_V
           : (src == PIPE_V && dst == PIPE_MTE3)    ? HardEvent::V_MTE3
           : (src == PIPE_V && dst == PIPE_V)       ? HardEvent::V_V
           : (src == PIPE_MTE3 && dst == PIPE_MTE2) ? HardEvent::MTE3_MTE2
           : (src == PIPE_MTE2 && dst == PIPE_MTE3) ? HardEvent::MTE2_MTE3
           : (src == PIPE_S && dst == PIPE_V)       ? HardEvent::S_V
           : (src == PIPE_V && dst == PIPE_S)       ? HardEvent::V_S
           : (src == PIPE_S && dst == PIPE_MTE2)    ? HardEvent::S_MTE2
           : (src == PIPE_MTE2 && dst == PIPE_S)    ? HardEvent::MTE2_S
           : (src == PIPE_S && dst == PIPE_MTE3)    ? HardEvent::S_MTE3
           : (src == PIPE_MTE3 && dst == PIPE_S)    ? HardEvent::MTE3_S
           : (src == PIPE_MTE2 && dst == PIPE_MTE1) ? HardEvent::MTE2_MTE1
           : (src == PIPE_MTE1 && dst == PIPE_MTE2) ? HardEvent::MTE1_MTE2
           : (src == PIPE_MTE1 && dst == PIPE_M)    ? HardEvent::MTE1_M
           : (src == PIPE_M && dst == PIPE_MTE1)    ? HardEvent::M_MTE1
           : (src == PIPE_M && dst == PIPE_FIX)     ? HardEvent::M_FIX
           : (src == PIPE_FIX && dst == PIPE_M)     ? HardEvent::FIX_M
                                                    : HardEvent::MAX;
}
}  // namespace moge_detail

/// SetFlag/WaitFlag between two pipes given as pipe_t.
template <pipe_t src, pipe_t dst>
class TQueSync {
public:
    void SetFlag(TEventID id) {
        static_assert(moge_detail::event_of(src, dst) != HardEvent::MAX, "TQueSync: no hardware event for this pipe pair");
        AscendC::SetFlag<moge_detail::event_of(src, dst)>(id);
    }
    void WaitFlag(TEventID id) {
        static_assert(moge_detail::event_of(src, dst) != HardEvent::MAX, "TQueSync: no hardware event for this pipe pair");
        AscendC::WaitFlag<moge_detail::event_of(src, dst)>(id);
    }
};

/// Hard synchronization of all cores of the launch.
template <bool isAIVOnly = true>
inline void SyncAll() {
    moge_emu::sync_all_barrier("SyncAll", isAIVOnly);
}

/// Soft synchronization through a GM workspace; the emulator synchronizes like the hard form.
template <bool isAIVOnly = true>
inline void SyncAll(const GlobalTensor<int32_t>& gmWorkspace, const LocalTensor<int32_t>& ubWorkspace,
                    const int32_t usedCores = 0) {
    (void)gmWorkspace;
    (void)ubWorkspace;
    (void)usedCores;
    moge_emu::sync_all_barrier("SyncAll", isAIVOnly);
}

/// Inter-core flag (separate AIC/AIV mode): mode 0 all cores of this type, 1 the two AIVs of an AI core,
/// 2 an AIC and its AIVs; a counter per flagId 0..15.
template <uint8_t modeId, pipe_t pipe>
inline void CrossCoreSetFlag(uint16_t flagId) {
    static_assert(modeId <= 2, "CrossCoreSetFlag: modeId is 0, 1 or 2");
    moge_emu::cross_core_set("CrossCoreSetFlag", modeId, moge_emu::pipe_slot(pipe), flagId);
}

template <uint8_t modeId = 0, pipe_t pipe = PIPE_S>
inline void CrossCoreWaitFlag(uint16_t flagId) {
    static_assert(modeId <= 2, "CrossCoreWaitFlag: modeId is 0, 1 or 2");
    moge_emu::cross_core_wait("CrossCoreWaitFlag", moge_emu::pipe_slot(pipe), flagId);
}

}  // namespace AscendC

/// The live TPipe of the current core.
inline AscendC::TPipe* GetTPipePtr() { return static_cast<AscendC::TPipe*>(moge_emu::core().pipe); }

#endif  // MOGE_EMU_PIPE_H
