// moge CPU emulator: helpers shared by the data-movement and vector APIs (operand checks, the repeat/mask
// iteration model of level-0 vector instructions, element conversions).
#ifndef MOGE_EMU_COMMON_H
#define MOGE_EMU_COMMON_H

#include <limits>

#include "pipe.h"

/// A comma-separated list as one macro argument.
#define MOGE_EMU_COMMA_LIST(...) __VA_ARGS__
/// Element types of the arithmetic instructions on Atlas A2.
#define MOGE_TYPES_ARITH int16_t, half, int32_t, float
/// Element types of the floating-point-only instructions on Atlas A2.
#define MOGE_TYPES_FLOAT half, float

namespace AscendC {

/// Strides of a level-0 binary vector instruction, in 32-byte blocks.
struct BinaryRepeatParams {
    BinaryRepeatParams() {}
    BinaryRepeatParams(const uint8_t dstBlkStrideIn, const uint8_t src0BlkStrideIn, const uint8_t src1BlkStrideIn,
                       const uint8_t dstRepStrideIn, const uint8_t src0RepStrideIn, const uint8_t src1RepStrideIn)
        : dstBlkStride(dstBlkStrideIn),
          src0BlkStride(src0BlkStrideIn),
          src1BlkStride(src1BlkStrideIn),
          dstRepStride(dstRepStrideIn),
          src0RepStride(src0RepStrideIn),
          src1RepStride(src1RepStrideIn) {}
    uint32_t blockNumber = DEFAULT_BLK_NUM;
    uint8_t dstBlkStride = DEFAULT_BLK_STRIDE;
    uint8_t src0BlkStride = DEFAULT_BLK_STRIDE;
    uint8_t src1BlkStride = DEFAULT_BLK_STRIDE;
    uint8_t dstRepStride = DEFAULT_REPEAT_STRIDE;
    uint8_t src0RepStride = DEFAULT_REPEAT_STRIDE;
    uint8_t src1RepStride = DEFAULT_REPEAT_STRIDE;
    bool repeatStrideMode = false;
    bool strideSizeMode = false;
};

/// Strides of a level-0 unary (or tensor-scalar) vector instruction, in 32-byte blocks.
struct UnaryRepeatParams {
    UnaryRepeatParams() {}
    UnaryRepeatParams(const uint16_t dstBlkStrideIn, const uint16_t srcBlkStrideIn, const uint8_t dstRepStrideIn,
                      const uint8_t srcRepStrideIn)
        : dstBlkStride(dstBlkStrideIn), srcBlkStride(srcBlkStrideIn), dstRepStride(dstRepStrideIn), srcRepStride(srcRepStrideIn) {}
    UnaryRepeatParams(const uint16_t dstBlkStrideIn, const uint16_t srcBlkStrideIn, const uint8_t dstRepStrideIn,
                      const uint8_t srcRepStrideIn, const bool halfBlockIn)
        : dstBlkStride(dstBlkStrideIn),
          srcBlkStride(srcBlkStrideIn),
          dstRepStride(dstRepStrideIn),
          srcRepStride(srcRepStrideIn),
          halfBlock(halfBlockIn) {}
    uint32_t blockNumber = DEFAULT_BLK_NUM;
    uint16_t dstBlkStride = DEFAULT_BLK_STRIDE;
    uint16_t srcBlkStride = DEFAULT_BLK_STRIDE;
    uint8_t dstRepStride = DEFAULT_REPEAT_STRIDE;
    uint8_t srcRepStride = DEFAULT_REPEAT_STRIDE;
    bool repeatStrideMode = false;
    bool strideSizeMode = false;
    bool halfBlock = false;
};

// ---- vector mask register --------------------------------------------------------------------------------

template <typename T, MaskMode mode = MaskMode::NORMAL>
inline void SetVectorMask(const uint64_t maskHigh, const uint64_t maskLow) {
    moge_emu::CoreState& core = moge_emu::core();
    if (mode == MaskMode::COUNTER || core.counter_mode) {
        core.mask_high = 0;
        core.mask_low = maskLow;
    } else {
        core.mask_high = maskHigh;
        core.mask_low = maskLow;
    }
}

template <typename T, MaskMode mode = MaskMode::NORMAL>
inline void SetVectorMask(int32_t len) {
    moge_emu::CoreState& core = moge_emu::core();
    if (len < 0) {
        moge_emu::violation("SetVectorMask", "negative mask length %d", len);
    }
    if (mode == MaskMode::COUNTER || core.counter_mode) {
        core.mask_high = 0;
        core.mask_low = static_cast<uint64_t>(len);
        return;
    }
    const uint32_t bits = static_cast<uint32_t>(len);
    core.mask_low = bits >= 64 ? ~0ull : ((1ull << bits) - 1);
    core.mask_high = bits >= 128 ? ~0ull : (bits <= 64 ? 0 : ((1ull << (bits - 64)) - 1));
}

inline void ResetMask() {
    moge_emu::CoreState& core = moge_emu::core();
    core.mask_high = ~0ull;
    core.mask_low = ~0ull;
}

inline void SetMaskCount() { moge_emu::core().counter_mode = true; }

inline void SetMaskNorm() { moge_emu::core().counter_mode = false; }

}  // namespace AscendC

namespace moge_emu {

using AscendC::LocalTensor;

template <typename T>
struct is_half_like : std::integral_constant<bool, std::is_same<T, half>::value || std::is_same<T, bfloat16_t>::value> {};

/// An element as a double (exact for every supported element type except 64-bit integers past 2^53).
template <typename T>
inline double to_double(const T& value) {
    if constexpr (is_half_like<T>::value) {
        return static_cast<double>(value.ToFloat());
    } else {
        return static_cast<double>(value);
    }
}

/// An element of a floating type as float.
template <typename T>
inline float to_float(const T& value) {
    if constexpr (is_half_like<T>::value) {
        return value.ToFloat();
    } else {
        return static_cast<float>(value);
    }
}

/// A float result stored as an element of type T (round to nearest even for 16-bit floats).
template <typename T>
inline T from_float(float value) {
    return T(value);
}

template <typename T>
constexpr bool is_float_type() {
    return std::is_same<T, float>::value || std::is_same<T, half>::value || std::is_same<T, bfloat16_t>::value;
}

template <typename T, typename... Allowed>
constexpr bool one_of() {
    return (std::is_same<T, Allowed>::value || ...);
}

/// Elements per 32-byte block and per 256-byte repeat.
template <typename T>
constexpr uint32_t per_block() {
    return 32 / sizeof(T);
}
template <typename T>
constexpr uint32_t per_repeat() {
    return 256 / sizeof(T);
}

/// Checks that a tensor is usable as a vector operand: initialized, in UB, aligned to `align` bytes.
template <typename T>
inline void check_vector_operand(const char* call, const char* name, const LocalTensor<T>& tensor, uint32_t align = 32) {
    if (tensor.ptr_ == nullptr) {
        violation(call, "%s is an uninitialized LocalTensor", name);
    }
    if (tensor.hw_ != HW_UB) {
        violation(call, "%s is in %s (position %s); vector instructions work on UB tensors", name, kHwName[tensor.hw_],
                  position_name(tensor.pos_));
    }
    if (!aligned_to(address_of(tensor.ptr_), align)) {
        violation(call, "%s starts at UB byte %llu, which is not %u-byte aligned", name,
                  static_cast<unsigned long long>(onchip_offset(tensor.ptr_, tensor.hw_)), align);
    }
    if (g_trace) {
        trace_vector_operand(call, name, tensor.ptr_, static_cast<uint64_t>(tensor.size_) * sizeof(T), sizeof(T));
    }
    race_vector_operand(call, name, tensor.hw_, tensor.ptr_, static_cast<uint64_t>(tensor.size_) * sizeof(T));
}

/// Checks that a tensor holds at least `count` elements.
template <typename T>
inline void check_elements(const char* call, const char* name, const LocalTensor<T>& tensor, uint64_t count) {
    if (count > tensor.size_) {
        violation(call, "%s: %llu elements asked but the tensor has %u", name, static_cast<unsigned long long>(count),
                  tensor.size_);
    }
    if (g_trace) {
        trace_vector_bytes(name, tensor.ptr_, count * sizeof(T));
    }
    race_vector_elements(name, tensor.ptr_, count * sizeof(T));
}

/// Checks a count argument.
inline uint32_t check_count(const char* call, int64_t count) {
    if (count < 0) {
        violation(call, "negative count %lld", static_cast<long long>(count));
    }
    return static_cast<uint32_t>(count);
}

/// The element `index` of a tensor, checked against its size.
template <typename T>
inline T& element(const char* call, const char* name, const LocalTensor<T>& tensor, uint64_t index) {
    if (index >= tensor.size_) {
        violation(call, "%s element %llu is past the end of its tensor (%u elements)", name,
                  static_cast<unsigned long long>(index), tensor.size_);
    }
    return tensor.ptr_[index];
}

/// Which elements of each repeat take part in a level-0 vector instruction.
struct Mask {
    bool counter = false;
    uint64_t low = 0;
    uint64_t high = 0;
    /// Counter mode: total number of elements.
    uint64_t count = 0;

    bool active(uint32_t repeat, uint32_t index, uint32_t epr) const {
        if (counter) {
            return static_cast<uint64_t>(repeat) * epr + index < count;
        }
        return index < 64 ? ((low >> index) & 1u) != 0 : ((high >> (index - 64)) & 1u) != 0;
    }

    uint32_t repeats(uint32_t repeat_time, uint32_t epr) const {
        if (counter) {
            return static_cast<uint32_t>((count + epr - 1) / epr);
        }
        return repeat_time;
    }
};

/// The mask register, for instructions called with isSetMask = false.
inline Mask register_mask() {
    const CoreState& state = core();
    Mask mask;
    mask.counter = state.counter_mode;
    mask.low = state.mask_low;
    mask.high = state.mask_high;
    mask.count = state.mask_low;
    return mask;
}

/// A contiguous mask: the first `mask` elements of each repeat (`epr` elements per repeat).
inline Mask continuous_mask(const char* call, uint64_t mask, uint32_t epr, bool is_set_mask) {
    if (!is_set_mask) {
        return register_mask();
    }
    if (mask < 1 || mask > epr) {
        violation(call, "mask %llu is outside 1..%u (elements per repeat of this type)",
                  static_cast<unsigned long long>(mask), epr);
    }
    Mask result;
    result.low = mask >= 64 ? ~0ull : ((1ull << mask) - 1);
    result.high = mask >= 128 ? ~0ull : (mask <= 64 ? 0 : ((1ull << (mask - 64)) - 1));
    return result;
}

/// A bitwise mask (`mask[0]` for elements 0..63, `mask[1]` for 64..127 of 16-bit types).
inline Mask bits_mask(const char* call, const uint64_t mask[], uint32_t epr, bool is_set_mask) {
    if (!is_set_mask) {
        return register_mask();
    }
    Mask result;
    result.low = mask[0];
    result.high = epr > 64 ? mask[1] : 0;
    if (epr < 64) {
        result.low &= (1ull << epr) - 1;
    }
    if (result.low == 0 && result.high == 0) {
        violation(call, "the bitwise mask selects no element");
    }
    return result;
}

/// A counter mask over `count` elements (the count form of the instructions).
inline Mask count_mask(uint64_t count) {
    Mask result;
    result.counter = true;
    result.count = count;
    return result;
}

/// Element offset of element `index` of repeat `repeat` of an operand with the given strides (in blocks).
template <typename T>
inline uint64_t strided_index(uint32_t repeat, uint32_t index, uint32_t block_stride, uint32_t repeat_stride) {
    constexpr uint32_t epb = per_block<T>();
    return (static_cast<uint64_t>(repeat) * repeat_stride + static_cast<uint64_t>(index / epb) * block_stride) * epb +
           index % epb;
}

/// The active lanes (element positions inside a repeat) of a level-0 instruction with `EPR` elements per
/// repeat, worked out once per instruction from the mask so that the element loops need no per-element mask
/// test. Every repeat but the last has `full` active lanes, the last `last` (they differ in counter mode only);
/// `lane[0..full)` lists them in increasing order.
template <uint32_t EPR>
struct Lanes {
    uint32_t repeats = 0;
    uint32_t full = 0;
    uint32_t last = 0;
    uint32_t lane[EPR];

    Lanes(const Mask& mask, uint32_t repeat_time) {
        repeats = mask.repeats(repeat_time, EPR);
        if (mask.counter) {
            for (uint32_t j = 0; j < EPR; ++j) {
                lane[j] = j;
            }
            full = EPR;
            last = repeats == 0 ? 0 : static_cast<uint32_t>(mask.count - static_cast<uint64_t>(repeats - 1) * EPR);
        } else {
            for (uint32_t j = 0; j < EPR; ++j) {
                if (mask.active(0, j, EPR)) {
                    lane[full++] = j;
                }
            }
            last = full;
        }
    }

    /// Active lanes of repeat `r`.
    uint32_t in_repeat(uint32_t r) const { return r + 1 == repeats ? last : full; }
};

/// The element offsets of the active lanes of one operand of a level-0 instruction (block and repeat strides in
/// 32-byte blocks), and one past the largest element index the instruction touches, so that the bounds check
/// is done once per instruction.
template <typename T, uint32_t EPR>
struct StridedOperand {
    uint32_t offset[EPR];
    /// Elements from one repeat to the next.
    uint64_t step = 0;
    /// One past the largest element index touched (0 when nothing is).
    uint64_t end = 0;
    /// Whether `offset[k] == k` for every active lane (a plain contiguous run per repeat).
    bool contiguous = true;

    StridedOperand(const Lanes<EPR>& lanes, uint32_t block_stride, uint32_t repeat_stride) {
        constexpr uint32_t epb = per_block<T>();
        step = static_cast<uint64_t>(repeat_stride) * epb;
        uint32_t max_full = 0;
        uint32_t max_last = 0;
        for (uint32_t k = 0; k < lanes.full; ++k) {
            const uint32_t j = lanes.lane[k];
            offset[k] = (j / epb) * block_stride * epb + j % epb;
            contiguous = contiguous && offset[k] == k;
            max_full = offset[k] > max_full ? offset[k] : max_full;
            if (k < lanes.last) {
                max_last = max_full;
            }
        }
        if (lanes.repeats == 0 || lanes.last == 0) {
            // Normal mode with an empty mask (the register mask): nothing is touched.
            return;
        }
        // Repeat strides are not negative, so the largest index is in the last repeat, or (counter mode, whose
        // last repeat may be partial) in the one before it.
        end = static_cast<uint64_t>(lanes.repeats - 1) * step + max_last + 1;
        if (lanes.repeats >= 2 && lanes.full > lanes.last) {
            const uint64_t before = static_cast<uint64_t>(lanes.repeats - 2) * step + max_full + 1;
            end = before > end ? before : end;
        }
    }
};

/// Gives the race detector the exact footprint of a level-0 operand (its active lanes, repeat by repeat),
/// instead of the whole tensor view `check_vector_operand` recorded.
template <typename T, uint32_t EPR>
inline void race_strided(const char* name, const LocalTensor<T>& tensor, const Lanes<EPR>& lanes,
                         const StridedOperand<T, EPR>& operand) {
    if (g_trace) {
        // The lanes the instruction computes: `full` per repeat, `last` in the last one.
        const uint64_t lanes_total = lanes.repeats == 0 ? 0 : static_cast<uint64_t>(lanes.repeats - 1) * lanes.full + lanes.last;
        trace_vector_repeats(lanes.repeats);
        trace_vector_bytes(name, tensor.ptr_, lanes_total * sizeof(T));
    }
    if (!races_on()) {
        return;
    }
    RacePattern pattern;
    pattern.repeats = lanes.repeats;
    pattern.step = operand.step * sizeof(T);
    pattern.full = race_runs(pattern.runs, operand.offset, lanes.full, sizeof(T));
    pattern.last = race_runs(pattern.last_runs, operand.offset, lanes.last, sizeof(T));
    race_vector_pattern(name, tensor.ptr_, pattern);
}

/// The same for an operand that takes `width` bytes at the start of every repeat, `step` bytes apart
/// (WholeReduce results, Brcb blocks).
template <typename T>
inline void race_repeated(const char* name, const LocalTensor<T>& tensor, uint32_t repeats, uint64_t step,
                          uint32_t width) {
    if (g_trace) {
        trace_vector_repeats(repeats);
    }
    if (!races_on()) {
        return;
    }
    RacePattern pattern;
    pattern.repeats = repeats;
    pattern.step = step;
    pattern.full = pattern.last = 1;
    pattern.runs[0] = pattern.last_runs[0] = RaceRun{0, width};
    race_vector_pattern(name, tensor.ptr_, pattern);
}

/// Checks the repeat count of a level-0 instruction.
inline void check_repeat(const char* call, int64_t repeat) {
    if (repeat < 0 || repeat > AscendC::MAX_REPEAT_TIMES) {
        violation(call, "repeatTime %lld is outside 0..%d", static_cast<long long>(repeat), AscendC::MAX_REPEAT_TIMES);
    }
}

}  // namespace moge_emu

#endif  // MOGE_EMU_COMMON_H
