// moge CPU emulator: data movement between GM and the on-chip memories (DataCopy, DataCopyPad), GM atomics,
// and GM fills.
//
// DataCopy moves whole 32-byte blocks: lengths and UB addresses must be 32-byte aligned. DataCopyPad moves
// byte-exact blocks and pads each block to 32 bytes on the UB side. Every GM access is checked against the
// GlobalTensor's SetGlobalBuffer range and the launch argument it belongs to, and counted.
#ifndef MOGE_EMU_DATA_COPY_H
#define MOGE_EMU_DATA_COPY_H

#include "common.h"

namespace AscendC {

/// Strided copy parameters; lengths and gaps in 32-byte blocks (DataCopy) or bytes (DataCopyPad blockLen).
struct DataCopyParams {
    DataCopyParams() {}
    DataCopyParams(const uint16_t count, const uint16_t len, const uint16_t srcStrideIn, const uint16_t dstStrideIn)
        : blockCount(count), blockLen(len), srcStride(srcStrideIn), dstStride(dstStrideIn) {}
    uint16_t blockCount = DEFAULT_DATA_COPY_NBURST;
    uint16_t blockLen = 0;
    union {
        uint16_t srcGap = 0;
        uint16_t srcStride;
    };
    union {
        uint16_t dstGap = 0;
        uint16_t dstStride;
    };
};

/// DataCopyPad parameters: blockLen in bytes; GM-side strides in bytes, UB-side strides in 32-byte blocks.
struct DataCopyExtParams {
    DataCopyExtParams() {}
    DataCopyExtParams(const uint16_t count, const uint32_t len, const uint32_t srcStrideIn, const uint32_t dstStrideIn,
                      const uint32_t rsvIn)
        : blockCount(count), blockLen(len), srcStride(srcStrideIn), dstStride(dstStrideIn), rsv(rsvIn) {}
    uint16_t blockCount = DEFAULT_DATA_COPY_NBURST;
    uint32_t blockLen = 0;
    uint32_t srcStride = DEFAULT_DATA_COPY_STRIDE;
    uint32_t dstStride = DEFAULT_DATA_COPY_STRIDE;
    uint32_t rsv = 0;
};

/// Padding of a GM -> UB DataCopyPad: element counts on the left and right of every block and the value.
template <typename T>
struct DataCopyPadExtParams {
    DataCopyPadExtParams() {}
    DataCopyPadExtParams(const bool isPadValue, const uint8_t leftPadValue, const uint8_t rightPadValue, T padValue)
        : isPad(isPadValue), leftPadding(leftPadValue), rightPadding(rightPadValue), paddingValue(padValue) {}
    bool isPad = false;
    uint8_t leftPadding = 0;
    uint8_t rightPadding = 0;
    T paddingValue = 0;
};

/// Padding of the legacy DataCopyPad form; the low bytes of `paddingValue` are the element's bits.
struct DataCopyPadParams {
    DataCopyPadParams() {}
    DataCopyPadParams(const bool isPadValue, const uint8_t leftPadValue, const uint8_t rightPadValue,
                      const uint64_t padValue)
        : isPad(isPadValue), leftPadding(leftPadValue), rightPadding(rightPadValue), paddingValue(padValue) {}
    bool isPad = false;
    uint8_t leftPadding = 0;
    uint8_t rightPadding = 0;
    uint64_t paddingValue = 0;
};

/// Strides of the level-0 UB -> UB vector `Copy`.
struct CopyRepeatParams {
    CopyRepeatParams() {}
    CopyRepeatParams(const uint16_t dstStrideIn, const uint16_t srcStrideIn, uint16_t dstRepeatSizeIn,
                     uint16_t srcRepeatSizeIn)
        : dstStride(dstStrideIn), srcStride(srcStrideIn), dstRepeatSize(dstRepeatSizeIn), srcRepeatSize(srcRepeatSizeIn) {}
    uint16_t dstStride = DEFAULT_DATA_COPY_STRIDE;
    uint16_t srcStride = DEFAULT_DATA_COPY_STRIDE;
    uint16_t dstRepeatSize = DEFAULT_REPEAT_STRIDE;
    uint16_t srcRepeatSize = DEFAULT_REPEAT_STRIDE;
};

}  // namespace AscendC

namespace moge_emu {

template <typename T>
constexpr AtomicType atomic_type_of() {
    return std::is_same<T, float>::value        ? AT_F32
           : std::is_same<T, half>::value       ? AT_F16
           : std::is_same<T, bfloat16_t>::value ? AT_BF16
           : std::is_same<T, int32_t>::value    ? AT_I32
           : std::is_same<T, int16_t>::value    ? AT_I16
           : std::is_same<T, int8_t>::value     ? AT_I8
                                                : AT_NONE;
}

inline const char* atomic_type_name(AtomicType type) {
    switch (type) {
        case AT_F32: return "float";
        case AT_F16: return "half";
        case AT_BF16: return "bfloat16_t";
        case AT_I32: return "int32_t";
        case AT_I16: return "int16_t";
        case AT_I8: return "int8_t";
        default: return "none";
    }
}

template <typename T>
inline T atomic_combine(AtomicOp op, const T& old_value, const T& new_value) {
    if constexpr (is_half_like<T>::value) {
        const float a = old_value.ToFloat();
        const float b = new_value.ToFloat();
        return T(op == ATOMIC_ADD ? a + b : op == ATOMIC_MAX ? (a > b ? a : b) : (a < b ? a : b));
    } else if constexpr (std::is_floating_point<T>::value) {
        return op == ATOMIC_ADD ? old_value + new_value
               : op == ATOMIC_MAX ? (old_value > new_value ? old_value : new_value)
                                  : (old_value < new_value ? old_value : new_value);
    } else {
        if (op == ATOMIC_ADD) {
            using Unsigned = typename std::make_unsigned<T>::type;
            return static_cast<T>(static_cast<Unsigned>(old_value) + static_cast<Unsigned>(new_value));
        }
        return op == ATOMIC_MAX ? (old_value > new_value ? old_value : new_value)
                                : (old_value < new_value ? old_value : new_value);
    }
}

/// Stores `count` elements to GM (already checked), honouring the atomic mode, and counts the bytes.
template <typename T>
inline void gm_store(const char* call, T* gm, const T* src, uint64_t count) {
    CoreState& state = core();
    state.gm_written += count * sizeof(T);
    if (g_timing_only) {
        // Counted, not moved (timing-only mode, trace.h).
        return;
    }
    if (state.atomic_op == ATOMIC_NONE) {
        std::memmove(gm, src, count * sizeof(T));
        return;
    }
    if (atomic_type_of<T>() != state.atomic_type) {
        violation(call, "GM atomic mode was set for %s but the copy moves %s elements", atomic_type_name(state.atomic_type),
                  atomic_type_name(atomic_type_of<T>()));
    }
    gm_atomic_lock();
    for (uint64_t i = 0; i < count; ++i) {
        gm[i] = atomic_combine(state.atomic_op, gm[i], src[i]);
    }
    gm_atomic_unlock();
}

/// Loads `count` elements from GM (already checked) and counts the bytes.
template <typename T>
inline void gm_load(T* dst, const T* gm, uint64_t count) {
    core().gm_read += count * sizeof(T);
    if (!g_timing_only) {
        std::memmove(dst, gm, count * sizeof(T));
    }
}

/// Checks an on-chip operand of a data copy: initialized and 32-byte aligned.
template <typename T>
inline void check_local_copy_operand(const char* call, const char* name, const LocalTensor<T>& tensor) {
    if (tensor.ptr_ == nullptr) {
        violation(call, "%s is an uninitialized LocalTensor", name);
    }
    if (!aligned_to(address_of(tensor.ptr_), 32)) {
        violation(call, "%s starts at %s byte %llu, which is not 32-byte aligned", name, kHwName[tensor.hw_],
                  static_cast<unsigned long long>(onchip_offset(tensor.ptr_, tensor.hw_)));
    }
}

/// Checks that an on-chip operand spans at least `bytes` bytes.
template <typename T>
inline void check_local_bytes(const char* call, const char* name, const LocalTensor<T>& tensor, uint64_t bytes) {
    const uint64_t have = static_cast<uint64_t>(tensor.size_) * sizeof(T);
    if (bytes > have) {
        violation(call, "%s: the copy spans %llu bytes but the tensor has %llu (%u elements)", name,
                  static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(have), tensor.size_);
    }
}

template <typename T>
inline void check_gm_element_alignment(const char* call, const T* gm) {
    if (!aligned_to(address_of(gm), sizeof(T))) {
        violation(call, "the GM address is not aligned to the %zu-byte element size", sizeof(T));
    }
}

inline void check_burst(const char* call, uint32_t block_count) {
    if (block_count > 4095) {
        violation(call, "blockCount %u is outside 0..4095", block_count);
    }
}

/// The bytes of a contiguous DataCopy of `count` elements, which must be whole 32-byte blocks (`hint` ends the
/// message otherwise).
template <typename T>
inline uint64_t whole_block_bytes(const char* call, uint32_t count, const char* hint) {
    const uint64_t bytes = static_cast<uint64_t>(count) * sizeof(T);
    if (bytes % 32 != 0) {
        violation(call, "count %u x %zu bytes = %llu bytes is not a multiple of 32%s", count, sizeof(T),
                  static_cast<unsigned long long>(bytes), hint);
    }
    return bytes;
}

/// The byte layout of a strided DataCopy (DataCopyParams, all units 32-byte blocks): `count` blocks of `block`
/// bytes, `src_step` / `dst_step` bytes apart.
struct BlockLayout {
    uint32_t count;
    uint64_t block;
    uint64_t src_step;
    uint64_t dst_step;

    /// Bytes from the first source block to the end of the last (`count` must be at least 1).
    uint64_t src_span() const { return (count - 1) * src_step + block; }
    /// Bytes from the first destination block to the end of the last (`count` must be at least 1).
    uint64_t dst_span() const { return (count - 1) * dst_step + block; }
};

/// Checks the block count of a strided DataCopy and returns its layout, or false if it moves nothing.
inline bool block_layout(const char* call, const AscendC::DataCopyParams& p, BlockLayout& layout) {
    check_burst(call, p.blockCount);
    if (p.blockCount == 0 || p.blockLen == 0) {
        return false;
    }
    layout.count = p.blockCount;
    layout.block = static_cast<uint64_t>(p.blockLen) * 32;
    layout.src_step = (static_cast<uint64_t>(p.blockLen) + p.srcStride) * 32;
    layout.dst_step = (static_cast<uint64_t>(p.blockLen) + p.dstStride) * 32;
    return true;
}

/// Checks the block count and length of a DataCopyPad (`block_len` in bytes, whole elements).
template <typename T>
inline void check_pad_blocks(const char* call, uint32_t block_count, uint32_t block_len) {
    if (block_count < 1 || block_count > 4095) {
        violation(call, "blockCount %u is outside 1..4095", block_count);
    }
    if (block_len < 1 || block_len > 2097151) {
        violation(call, "blockLen %u bytes is outside 1..2097151", block_len);
    }
    if (block_len % sizeof(T) != 0) {
        violation(call, "blockLen %u bytes is not a multiple of the %zu-byte element", block_len, sizeof(T));
    }
}

}  // namespace moge_emu

namespace AscendC {

// ---- DataCopy: contiguous -----------------------------------------------------------------------------------

/// GM -> on-chip, `count` elements; `count * sizeof(T)` must be a multiple of 32 bytes.
template <typename T>
inline void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const uint32_t count) {
    const char* call = "DataCopy(GM->local)";
    moge_emu::check_local_copy_operand(call, "dst", dst);
    const uint64_t bytes = moge_emu::whole_block_bytes<T>(call, count, " (use DataCopyPad)");
    moge_emu::check_local_bytes(call, "dst", dst, bytes);
    moge_emu::check_gm_element_alignment(call, src.address_);
    src.check(call, src.address_, bytes);
    moge_emu::RaceOp op(call, PIPE_MTE2);
    op.read(moge_emu::HW_GM, src.address_, bytes);
    op.write(static_cast<moge_emu::Hw>(dst.hw_), dst.ptr_, bytes);
    moge_emu::gm_load(dst.ptr_, src.address_, count);
}

/// On-chip -> GM, `count` elements; `count * sizeof(T)` must be a multiple of 32 bytes.
template <typename T>
inline void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t count) {
    const char* call = "DataCopy(local->GM)";
    moge_emu::check_local_copy_operand(call, "src", src);
    const uint64_t bytes = moge_emu::whole_block_bytes<T>(call, count, " (use DataCopyPad)");
    moge_emu::check_local_bytes(call, "src", src, bytes);
    moge_emu::check_gm_element_alignment(call, dst.address_);
    dst.check(call, dst.address_, bytes);
    moge_emu::RaceOp op(call, PIPE_MTE3);
    op.read(static_cast<moge_emu::Hw>(src.hw_), src.ptr_, bytes);
    op.write(moge_emu::HW_GM, dst.address_, bytes);
    moge_emu::gm_store(call, dst.address_, src.ptr_, count);
}

/// On-chip -> on-chip, `count` elements; `count * sizeof(T)` must be a multiple of 32 bytes.
template <typename T>
inline void DataCopy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t count) {
    const char* call = "DataCopy(local->local)";
    moge_emu::check_local_copy_operand(call, "dst", dst);
    moge_emu::check_local_copy_operand(call, "src", src);
    const uint64_t bytes = moge_emu::whole_block_bytes<T>(call, count, "");
    moge_emu::check_local_bytes(call, "dst", dst, bytes);
    moge_emu::check_local_bytes(call, "src", src, bytes);
    moge_emu::RaceOp op(call, dst.hw_ == moge_emu::HW_UB && src.hw_ == moge_emu::HW_UB ? PIPE_V : PIPE_MTE1);
    op.read(static_cast<moge_emu::Hw>(src.hw_), src.ptr_, bytes);
    op.write(static_cast<moge_emu::Hw>(dst.hw_), dst.ptr_, bytes);
    if (!moge_emu::g_timing_only) {
        std::memmove(dst.ptr_, src.ptr_, bytes);
    }
}

// ---- DataCopy: strided (DataCopyParams, all units 32-byte blocks) -----------------------------------------------

template <typename T>
inline void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyParams& repeatParams) {
    const char* call = "DataCopy(GM->local, DataCopyParams)";
    const DataCopyParams& p = repeatParams;
    moge_emu::check_local_copy_operand(call, "dst", dst);
    moge_emu::BlockLayout l;
    if (!moge_emu::block_layout(call, p, l)) {
        return;
    }
    moge_emu::check_local_bytes(call, "dst", dst, l.dst_span());
    moge_emu::check_gm_element_alignment(call, src.address_);
    src.check(call, src.address_, l.src_span());
    const uint8_t* from = reinterpret_cast<const uint8_t*>(src.address_);
    uint8_t* to = reinterpret_cast<uint8_t*>(dst.ptr_);
    moge_emu::RaceOp op(call, PIPE_MTE2);
    for (uint32_t i = 0; i < l.count; ++i) {
        op.read(moge_emu::HW_GM, from + i * l.src_step, l.block);
        op.write(static_cast<moge_emu::Hw>(dst.hw_), to + i * l.dst_step, l.block);
        moge_emu::gm_load(to + i * l.dst_step, from + i * l.src_step, l.block);
    }
}

template <typename T>
inline void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyParams& repeatParams) {
    const char* call = "DataCopy(local->GM, DataCopyParams)";
    const DataCopyParams& p = repeatParams;
    moge_emu::check_local_copy_operand(call, "src", src);
    moge_emu::BlockLayout l;
    if (!moge_emu::block_layout(call, p, l)) {
        return;
    }
    moge_emu::check_local_bytes(call, "src", src, l.src_span());
    moge_emu::check_gm_element_alignment(call, dst.address_);
    dst.check(call, dst.address_, l.dst_span());
    const uint8_t* from = reinterpret_cast<const uint8_t*>(src.ptr_);
    uint8_t* to = reinterpret_cast<uint8_t*>(dst.address_);
    moge_emu::RaceOp op(call, PIPE_MTE3);
    for (uint32_t i = 0; i < l.count; ++i) {
        op.read(static_cast<moge_emu::Hw>(src.hw_), from + i * l.src_step, l.block);
        op.write(moge_emu::HW_GM, to + i * l.dst_step, l.block);
        moge_emu::gm_store(call, reinterpret_cast<T*>(to + i * l.dst_step),
                           reinterpret_cast<const T*>(from + i * l.src_step), l.block / sizeof(T));
    }
}

template <typename T>
inline void DataCopy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyParams& repeatParams) {
    const char* call = "DataCopy(local->local, DataCopyParams)";
    const DataCopyParams& p = repeatParams;
    moge_emu::check_local_copy_operand(call, "dst", dst);
    moge_emu::check_local_copy_operand(call, "src", src);
    moge_emu::BlockLayout l;
    if (!moge_emu::block_layout(call, p, l)) {
        return;
    }
    moge_emu::check_local_bytes(call, "src", src, l.src_span());
    moge_emu::check_local_bytes(call, "dst", dst, l.dst_span());
    const uint8_t* from = reinterpret_cast<const uint8_t*>(src.ptr_);
    uint8_t* to = reinterpret_cast<uint8_t*>(dst.ptr_);
    moge_emu::RaceOp op(call, dst.hw_ == moge_emu::HW_UB && src.hw_ == moge_emu::HW_UB ? PIPE_V : PIPE_MTE1);
    for (uint32_t i = 0; i < l.count; ++i) {
        op.read(static_cast<moge_emu::Hw>(src.hw_), from + i * l.src_step, l.block);
        op.write(static_cast<moge_emu::Hw>(dst.hw_), to + i * l.dst_step, l.block);
        if (!moge_emu::g_timing_only) {
            std::memmove(to + i * l.dst_step, from + i * l.src_step, l.block);
        }
    }
}

// ---- DataCopyPad ----------------------------------------------------------------------------------------------

namespace moge_detail {

/// GM -> on-chip with padding; `block_len` in bytes, `src_gap` in bytes, `dst_gap` in 32-byte blocks.
template <typename T>
inline void copy_pad_in(const char* call, const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint32_t block_count,
                        uint32_t block_len, uint64_t src_gap, uint64_t dst_gap, bool is_pad, uint32_t left, uint32_t right,
                        const T& pad_value) {
    moge_emu::check_local_copy_operand(call, "dst", dst);
    moge_emu::check_pad_blocks<T>(call, block_count, block_len);
    if (left * sizeof(T) > 32 || right * sizeof(T) > 32) {
        moge_emu::violation(call, "leftPadding %u / rightPadding %u elements exceed 32 bytes", left, right);
    }
    const uint64_t elements = block_len / sizeof(T);
    const uint64_t padded = (static_cast<uint64_t>(block_len) + (left + right) * sizeof(T) + 31) / 32 * 32;
    const uint64_t padded_elements = padded / sizeof(T);
    const uint64_t src_step = block_len + src_gap;
    const uint64_t dst_step = padded + dst_gap * 32;
    moge_emu::check_local_bytes(call, "dst", dst, (block_count - 1) * dst_step + padded);
    src.check(call, src.address_, (block_count - 1) * src_step + block_len);
    const uint8_t* from = reinterpret_cast<const uint8_t*>(src.address_);
    uint8_t* to = reinterpret_cast<uint8_t*>(dst.ptr_);
    moge_emu::RaceOp op(call, PIPE_MTE2);
    for (uint32_t i = 0; i < block_count; ++i) {
        T* out = reinterpret_cast<T*>(to + i * dst_step);
        op.read(moge_emu::HW_GM, from + i * src_step, block_len);
        op.write(static_cast<moge_emu::Hw>(dst.hw_), out, padded);
        moge_emu::gm_load(out + left, reinterpret_cast<const T*>(from + i * src_step), elements);
        if (moge_emu::g_timing_only) {
            continue;
        }
        // Left and right padding take the padding value when isPad; otherwise they keep whatever the UB held
        // (the hardware leaves unspecified data there).
        if (is_pad) {
            for (uint32_t k = 0; k < left; ++k) {
                out[k] = pad_value;
            }
            for (uint32_t k = 0; k < right; ++k) {
                out[left + elements + k] = pad_value;
            }
        }
        // The dummy tail up to the 32-byte boundary: the block's first element when there is no padding,
        // else the padding value when isPad (unspecified otherwise).
        for (uint64_t k = left + elements + right; k < padded_elements; ++k) {
            if (left == 0 && right == 0) {
                out[k] = out[0];
            } else if (is_pad) {
                out[k] = pad_value;
            }
        }
    }
}

/// On-chip -> GM dropping the padding; `block_len` in bytes, `src_gap` in 32-byte blocks, `dst_gap` in bytes.
template <typename T>
inline void copy_pad_out(const char* call, const GlobalTensor<T>& dst, const LocalTensor<T>& src, uint32_t block_count,
                         uint32_t block_len, uint64_t src_gap, uint64_t dst_gap) {
    moge_emu::check_local_copy_operand(call, "src", src);
    moge_emu::check_pad_blocks<T>(call, block_count, block_len);
    const uint64_t padded = (static_cast<uint64_t>(block_len) + 31) / 32 * 32;
    const uint64_t src_step = padded + src_gap * 32;
    const uint64_t dst_step = block_len + dst_gap;
    moge_emu::check_local_bytes(call, "src", src, (block_count - 1) * src_step + block_len);
    dst.check(call, dst.address_, (block_count - 1) * dst_step + block_len);
    const uint8_t* from = reinterpret_cast<const uint8_t*>(src.ptr_);
    uint8_t* to = reinterpret_cast<uint8_t*>(dst.address_);
    moge_emu::RaceOp op(call, PIPE_MTE3);
    for (uint32_t i = 0; i < block_count; ++i) {
        op.read(static_cast<moge_emu::Hw>(src.hw_), from + i * src_step, block_len);
        op.write(moge_emu::HW_GM, to + i * dst_step, block_len);
        moge_emu::gm_store(call, reinterpret_cast<T*>(to + i * dst_step), reinterpret_cast<const T*>(from + i * src_step),
                           block_len / sizeof(T));
    }
}

template <typename T>
inline T padding_from_bits(uint64_t bits) {
    T value;
    std::memcpy(&value, &bits, sizeof(T) < sizeof(bits) ? sizeof(T) : sizeof(bits));
    return value;
}

}  // namespace moge_detail

/// GM -> on-chip, byte-exact blocks padded to 32 bytes on the UB side.
template <typename T>
inline void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyExtParams& dataCopyParams,
                        const DataCopyPadExtParams<T>& padParams) {
    moge_detail::copy_pad_in("DataCopyPad(GM->local)", dst, src, dataCopyParams.blockCount, dataCopyParams.blockLen,
                             dataCopyParams.srcStride, dataCopyParams.dstStride, padParams.isPad, padParams.leftPadding,
                             padParams.rightPadding, padParams.paddingValue);
}

/// On-chip -> GM, byte-exact blocks (the UB-side 32-byte padding is dropped).
template <typename T>
inline void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyExtParams& dataCopyParams) {
    moge_detail::copy_pad_out("DataCopyPad(local->GM)", dst, src, dataCopyParams.blockCount, dataCopyParams.blockLen,
                              dataCopyParams.srcStride, dataCopyParams.dstStride);
}

/// Legacy form: GM -> on-chip with DataCopyParams (blockLen in bytes).
template <typename T>
inline void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyParams& dataCopyParams,
                        const DataCopyPadParams& padParams) {
    moge_detail::copy_pad_in("DataCopyPad(GM->local)", dst, src, dataCopyParams.blockCount, dataCopyParams.blockLen,
                             dataCopyParams.srcStride, dataCopyParams.dstStride, padParams.isPad, padParams.leftPadding,
                             padParams.rightPadding, moge_detail::padding_from_bits<T>(padParams.paddingValue));
}

/// Legacy form: on-chip -> GM with DataCopyParams (blockLen in bytes).
template <typename T>
inline void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyParams& dataCopyParams) {
    moge_detail::copy_pad_out("DataCopyPad(local->GM)", dst, src, dataCopyParams.blockCount, dataCopyParams.blockLen,
                              dataCopyParams.srcStride, dataCopyParams.dstStride);
}

/// Sets the padding value used by later copies (not modelled: the emulator's DataCopyPad takes the value from
/// its parameters).
template <typename T, TPosition pos = TPosition::MAX>
inline void SetPadValue(T paddingValue) {
    (void)paddingValue;
}

// ---- level-0 vector Copy (UB -> UB) ---------------------------------------------------------------------------

namespace moge_detail {
template <typename T>
inline void vector_copy(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& src, const moge_emu::Mask& mask,
                        const uint8_t repeatTime, const CopyRepeatParams& p) {
    static_assert(sizeof(T) == 2 || sizeof(T) == 4, "Copy supports 16-bit and 32-bit elements");
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src", src);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    const uint32_t repeats = mask.repeats(repeatTime, epr);
    for (uint32_t r = 0; r < repeats; ++r) {
        for (uint32_t j = 0; j < epr; ++j) {
            if (mask.active(r, j, epr)) {
                const T value = moge_emu::element(call, "src", src, moge_emu::strided_index<T>(r, j, p.srcStride, p.srcRepeatSize));
                moge_emu::element(call, "dst", dst, moge_emu::strided_index<T>(r, j, p.dstStride, p.dstRepeatSize)) = value;
            }
        }
    }
}
}  // namespace moge_detail

template <typename T, bool isSetMask = true>
inline void Copy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint64_t mask[], const uint8_t repeatTime,
                 const CopyRepeatParams& repeatParams) {
    const char* call = "Copy";
    moge_detail::vector_copy(call, dst, src, moge_emu::bits_mask(call, mask, moge_emu::per_repeat<T>(), isSetMask),
                             repeatTime, repeatParams);
}

template <typename T, bool isSetMask = true>
inline void Copy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint64_t mask, const uint8_t repeatTime,
                 const CopyRepeatParams& repeatParams) {
    const char* call = "Copy";
    moge_detail::vector_copy(call, dst, src, moge_emu::continuous_mask(call, mask, moge_emu::per_repeat<T>(), isSetMask),
                             repeatTime, repeatParams);
}

// ---- GM atomics -------------------------------------------------------------------------------------------------

namespace moge_detail {
template <typename T>
inline void set_atomic(moge_emu::AtomicOp op, const char* call) {
    constexpr moge_emu::AtomicType type = moge_emu::atomic_type_of<T>();
    static_assert(type != moge_emu::AT_NONE, "GM atomics support float, half, bfloat16_t, int32_t, int16_t, int8_t");
    (void)call;
    moge_emu::CoreState& core = moge_emu::core();
    core.atomic_op = op;
    core.atomic_type = type;
}
}  // namespace moge_detail

/// Later copies to GM add into GM instead of overwriting it.
template <typename T>
inline void SetAtomicAdd() {
    moge_detail::set_atomic<T>(moge_emu::ATOMIC_ADD, "SetAtomicAdd");
}

/// Later copies to GM keep the maximum of GM and the data.
template <typename T>
inline void SetAtomicMax() {
    moge_detail::set_atomic<T>(moge_emu::ATOMIC_MAX, "SetAtomicMax");
}

/// Later copies to GM keep the minimum of GM and the data.
template <typename T>
inline void SetAtomicMin() {
    moge_detail::set_atomic<T>(moge_emu::ATOMIC_MIN, "SetAtomicMin");
}

/// Sets the element type of the atomic mode already chosen.
template <typename T>
inline void SetAtomicType() {
    constexpr moge_emu::AtomicType type = moge_emu::atomic_type_of<T>();
    static_assert(type != moge_emu::AT_NONE, "GM atomics support float, half, bfloat16_t, int32_t, int16_t, int8_t");
    moge_emu::core().atomic_type = type;
}

/// Later copies to GM overwrite GM again.
inline void SetAtomicNone() {
    moge_emu::CoreState& core = moge_emu::core();
    core.atomic_op = moge_emu::ATOMIC_NONE;
    core.atomic_type = moge_emu::AT_NONE;
}

// ---- caches and GM fill ---------------------------------------------------------------------------------------

/// Writes back / invalidates the data cache; the emulator has no cache, so this is a no-op.
template <typename T, CacheLine entireType, DcciDst dcciDst>
inline void DataCacheCleanAndInvalid(const GlobalTensor<T>& dst) {
    (void)dst;
}

template <typename T, CacheLine entireType, DcciDst dcciDst>
inline void DataCacheCleanAndInvalid(const LocalTensor<T>& dst) {
    (void)dst;
}

template <typename T, CacheLine entireType>
inline void DataCacheCleanAndInvalid(const GlobalTensor<T>& dst) {
    (void)dst;
}

/// Fills `size` elements of GM with `value` (the adv-API GM initializer of CANN 8.5).
template <typename T>
inline void Fill(GlobalTensor<T>& gmWorkspaceAddr, const uint64_t size, const T value) {
    static_assert(moge_emu::one_of<T, uint16_t, int16_t, half, float, uint32_t, int32_t>(),
                  "Fill supports uint16_t, int16_t, half, float, uint32_t, int32_t");
    const char* call = "Fill";
    gmWorkspaceAddr.check(call, gmWorkspaceAddr.address_, size * sizeof(T));
    moge_emu::core().gm_written += size * sizeof(T);
    for (uint64_t i = 0; i < size; ++i) {
        gmWorkspaceAddr.address_[i] = value;
    }
}

}  // namespace AscendC

#endif  // MOGE_EMU_DATA_COPY_H
