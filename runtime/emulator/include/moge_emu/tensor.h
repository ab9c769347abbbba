// moge CPU emulator: LocalTensor (a view of an on-chip buffer) and GlobalTensor (a view of GM).
#ifndef MOGE_EMU_TENSOR_H
#define MOGE_EMU_TENSOR_H

#include "core.h"

namespace moge_emu {
/// A scalar (PIPE_S) access to an on-chip tensor, for the race detector (defined in race.h).
void race_scalar(const char* call, uint8_t hw, const void* at, uint64_t bytes, bool write);
}  // namespace moge_emu

namespace moge_emu {

/// The physical memory behind a logical position on Atlas A2.
constexpr Hw hw_of(AscendC::TPosition pos) {
    switch (pos) {
        case AscendC::TPosition::VECIN:
        case AscendC::TPosition::VECOUT:
        case AscendC::TPosition::VECCALC:
        case AscendC::TPosition::SPM:
            return HW_UB;
        case AscendC::TPosition::A1:
        case AscendC::TPosition::B1:
        case AscendC::TPosition::C1:
        case AscendC::TPosition::TSCM:
            return HW_L1;
        case AscendC::TPosition::A2:
            return HW_L0A;
        case AscendC::TPosition::B2:
            return HW_L0B;
        case AscendC::TPosition::CO1:
            return HW_L0C;
        case AscendC::TPosition::C2:
            return HW_BIAS;
        case AscendC::TPosition::C2PIPE2GM:
            return HW_FIXBUF;
        default:
            return HW_GM;
    }
}

/// Name of a position, for messages.
constexpr const char* position_name(AscendC::TPosition pos) {
    switch (pos) {
        case AscendC::TPosition::GM: return "GM";
        case AscendC::TPosition::A1: return "A1";
        case AscendC::TPosition::A2: return "A2";
        case AscendC::TPosition::B1: return "B1";
        case AscendC::TPosition::B2: return "B2";
        case AscendC::TPosition::C1: return "C1";
        case AscendC::TPosition::C2: return "C2";
        case AscendC::TPosition::CO1: return "CO1";
        case AscendC::TPosition::CO2: return "CO2";
        case AscendC::TPosition::VECIN: return "VECIN";
        case AscendC::TPosition::VECOUT: return "VECOUT";
        case AscendC::TPosition::VECCALC: return "VECCALC";
        case AscendC::TPosition::SPM: return "SPM";
        case AscendC::TPosition::TSCM: return "TSCM";
        case AscendC::TPosition::C2PIPE2GM: return "C2PIPE2GM";
        case AscendC::TPosition::C2PIPE2LOCAL: return "C2PIPE2LOCAL";
        default: return "MAX";
    }
}

/// Offset of an on-chip pointer from the start of its memory on the current core (for messages).
inline uint64_t onchip_offset(const void* pointer, uint8_t hw) {
    CoreState& state = core();
    if (hw >= HW_COUNT || state.arena[hw] == nullptr) {
        return address_of(pointer);
    }
    return address_of(pointer) - address_of(state.arena[hw]);
}

}  // namespace moge_emu

namespace AscendC {

/// A typed view of an on-chip buffer (UB, L1, L0...). Copies are cheap views of the same memory.
///
/// The emulator keeps, besides the address and the size (`GetSize()`, in elements), the capacity up to the
/// end of the buffer the view was cut from, so that `SetSize` cannot grow a view past its buffer.
template <typename T>
class LocalTensor {
public:
    using PrimType = PrimT<T>;

    LocalTensor() = default;

    /// A tensor at a raw byte address of the memory of `pos`, `tileSize` elements long.
    LocalTensor(TPosition pos, uint32_t addr, uint32_t tileSize) {
        const moge_emu::Hw hw = moge_emu::hw_of(pos);
        if (hw == moge_emu::HW_GM) {
            moge_emu::violation("LocalTensor(pos, addr, tileSize)", "position %s is not an on-chip memory",
                                moge_emu::position_name(pos));
        }
        const uint64_t bytes = static_cast<uint64_t>(tileSize) * sizeof(PrimType);
        if (addr % ONE_BLK_SIZE != 0) {
            moge_emu::violation("LocalTensor(pos, addr, tileSize)", "addr %u is not 32-byte aligned", addr);
        }
        if (static_cast<uint64_t>(addr) + bytes > moge_emu::kHwBytes[hw]) {
            moge_emu::violation("LocalTensor(pos, addr, tileSize)",
                                "addr %u + %llu bytes exceeds the %u bytes of %s", addr,
                                static_cast<unsigned long long>(bytes), moge_emu::kHwBytes[hw],
                                moge_emu::kHwName[hw]);
        }
        ptr_ = reinterpret_cast<PrimType*>(moge_emu::core_arena(hw) + addr);
        size_ = tileSize;
        capacity_ = tileSize;
        pos_ = pos;
        hw_ = hw;
    }

    PrimType* GetPhyAddr() const { return ptr_; }
    PrimType* GetPhyAddr(const uint32_t offset) const { return ptr_ + offset; }

    PrimType GetValue(const uint32_t offset) const {
        if (moge_emu::g_timing_only) {
            moge_emu::timing_only_read("LocalTensor::GetValue");
        }
        PrimType* at = element("LocalTensor::GetValue", offset);
        moge_emu::race_scalar("LocalTensor::GetValue", hw_, at, sizeof(PrimType), false);
        return *at;
    }

    PrimType& operator()(const uint32_t offset) const { return *element("LocalTensor::operator()", offset); }

    template <typename S>
    void SetValue(const uint32_t index, const S value) const {
        PrimType* at = element("LocalTensor::SetValue", index);
        moge_emu::race_scalar("LocalTensor::SetValue", hw_, at, sizeof(PrimType), true);
        *at = static_cast<PrimType>(value);
    }

    /// A view starting `offset` elements further.
    LocalTensor operator[](const uint32_t offset) const {
        if (ptr_ == nullptr) {
            moge_emu::violation("LocalTensor::operator[]", "indexing an uninitialized LocalTensor");
        }
        if (offset > size_) {
            moge_emu::violation("LocalTensor::operator[]", "offset %u is past the end of a tensor of %u elements",
                                offset, size_);
        }
        LocalTensor result = *this;
        result.ptr_ += offset;
        result.size_ -= offset;
        result.capacity_ -= offset;
        return result;
    }

    /// The same bytes viewed as elements of type `U`.
    template <typename U>
    LocalTensor<U> ReinterpretCast() const {
        LocalTensor<U> result;
        result.ptr_ = reinterpret_cast<typename LocalTensor<U>::PrimType*>(ptr_);
        result.size_ = static_cast<uint32_t>(static_cast<uint64_t>(size_) * sizeof(PrimType) / sizeof(U));
        result.capacity_ = static_cast<uint32_t>(static_cast<uint64_t>(capacity_) * sizeof(PrimType) / sizeof(U));
        result.pos_ = pos_;
        result.hw_ = hw_;
        result.tag_ = tag_;
        return result;
    }

    int32_t GetPosition() const { return static_cast<int32_t>(pos_); }

    void SetSize(const uint32_t size) {
        if (size > capacity_) {
            moge_emu::violation("LocalTensor::SetSize", "size %u is past the end of the buffer (%u elements)", size,
                                capacity_);
        }
        size_ = size;
    }

    uint32_t GetSize() const { return size_; }

    /// Length in bytes (deprecated in CANN).
    uint32_t GetLength() const { return static_cast<uint32_t>(size_ * sizeof(PrimType)); }

    void SetBufferLen(uint32_t dataLen) { SetSize(static_cast<uint32_t>(dataLen / sizeof(PrimType))); }

    void SetUserTag(const TTagType tag) { tag_ = tag; }
    TTagType GetUserTag() const { return tag_; }

    // ---- emulator state (public so that the API functions can reach it; not part of the CANN API) ----
    PrimType* ptr_ = nullptr;
    uint32_t size_ = 0;
    uint32_t capacity_ = 0;
    TPosition pos_ = TPosition::VECCALC;
    uint8_t hw_ = moge_emu::HW_UB;
    TTagType tag_ = 0;

private:
    PrimType* element(const char* call, uint32_t index) const {
        if (ptr_ == nullptr) {
            moge_emu::violation(call, "access to an uninitialized LocalTensor");
        }
        if (index >= size_) {
            moge_emu::violation(call, "index %u is past the end of a tensor of %u elements", index, size_);
        }
        return ptr_ + index;
    }
};

/// A typed view of GM. Accesses are checked against the SetGlobalBuffer range and the launch argument the
/// pointer belongs to, and counted as GM traffic.
template <typename T>
class GlobalTensor {
public:
    using PrimType = PrimT<T>;

    GlobalTensor() = default;

    void SetGlobalBuffer(__gm__ PrimType* buffer, uint64_t bufferSize) {
        address_ = buffer;
        oriAddress_ = buffer;
        bufferSize_ = bufferSize;
        sized_ = true;
    }

    void SetGlobalBuffer(__gm__ PrimType* buffer) {
        address_ = buffer;
        oriAddress_ = buffer;
        bufferSize_ = 0;
        sized_ = false;
    }

    const __gm__ PrimType* GetPhyAddr() const { return address_; }
    __gm__ PrimType* GetPhyAddr(const uint64_t offset) const { return address_ + offset; }

    PrimType GetValue(const uint64_t offset) const {
        if (moge_emu::g_timing_only) {
            moge_emu::timing_only_read("GlobalTensor::GetValue");
        }
        check("GlobalTensor::GetValue", address_ + offset, sizeof(PrimType));
        moge_emu::core().gm_read += sizeof(PrimType);
        moge_emu::race_scalar("GlobalTensor::GetValue", moge_emu::HW_GM, address_ + offset, sizeof(PrimType), false);
        return address_[offset];
    }

    __gm__ PrimType& operator()(const uint64_t offset) const {
        check("GlobalTensor::operator()", address_ + offset, sizeof(PrimType));
        return address_[offset];
    }

    void SetValue(const uint64_t offset, PrimType value) {
        check("GlobalTensor::SetValue", address_ + offset, sizeof(PrimType));
        moge_emu::core().gm_written += sizeof(PrimType);
        moge_emu::race_scalar("GlobalTensor::SetValue", moge_emu::HW_GM, address_ + offset, sizeof(PrimType), true);
        address_[offset] = value;
    }

    uint64_t GetSize() const { return bufferSize_; }

    /// A view starting `offset` elements further; it keeps the SetGlobalBuffer range for the checks.
    GlobalTensor operator[](const uint64_t offset) const {
        GlobalTensor result = *this;
        result.address_ = address_ + offset;
        return result;
    }

    template <CacheRwMode rwMode = CacheRwMode::RW>
    void SetL2CacheHint(CacheMode mode) {
        cacheMode_ = mode;
    }

    /// Checks an access of `bytes` bytes at `at` (emulator helper, not part of the CANN API).
    void check(const char* call, const PrimType* at, uint64_t bytes) const {
        if (oriAddress_ == nullptr) {
            moge_emu::violation(call, "access through a GlobalTensor without SetGlobalBuffer");
        }
        moge_emu::check_gm(call, oriAddress_, sized_ ? bufferSize_ * sizeof(PrimType) : UINT64_MAX, at, bytes);
    }

    uint64_t bufferSize_ = 0;
    CacheMode cacheMode_ = CacheMode::CACHE_MODE_NORMAL;
    // ---- emulator state ----
    __gm__ PrimType* address_ = nullptr;
    __gm__ PrimType* oriAddress_ = nullptr;
    bool sized_ = false;
};

}  // namespace AscendC

#endif  // MOGE_EMU_TENSOR_H
