// moge CPU emulator: reductions (WholeReduce*, BlockReduce*, ReduceMax/Min/Sum).
//
// Indices are written with the bit pattern of the value type (uint16_t bits in a half slot, uint32_t bits in
// a float slot); read them back with ReinterpretCast. Among equal extrema the lowest index wins. Sums add
// pairwise in a binary tree inside a repeat (half sums saturate at +-65504, as the documentation describes).
#ifndef MOGE_EMU_VEC_REDUCE_H
#define MOGE_EMU_VEC_REDUCE_H

#include "vec_elementwise.h"

namespace moge_emu {

/// The mask of a reduction given as an `int32_t` count of leading elements per repeat (negative: none).
template <typename T>
inline Mask leading_mask(const char* call, int32_t mask, bool is_set_mask) {
    return continuous_mask(call, static_cast<uint64_t>(mask < 0 ? 0 : mask), per_repeat<T>(), is_set_mask);
}

/// a + b in the precision of T (16-bit floats round after every addition; half saturates at +-65504).
template <typename T>
inline float reduce_add(float a, float b) {
    float sum = a + b;
    if constexpr (std::is_same<T, half>::value) {
        if (sum > 65504.0f) {
            sum = 65504.0f;
        } else if (sum < -65504.0f) {
            sum = -65504.0f;
        }
    }
    return to_float(from_float<T>(sum));
}

/// What a masked-off lane adds to a sum: nothing. -0.0 is the identity of IEEE addition (x + -0.0 == x
/// for every x, -0.0 included), where +0.0 would turn a sum of -0.0 into +0.0.
constexpr float kSumIdentity = -0.0f;

/// Pairwise binary-tree sum of `values` (length a power of two) in the precision of T.
template <typename T>
inline float tree_sum(float* values, uint32_t length) {
    while (length > 1) {
        for (uint32_t i = 0; i < length / 2; ++i) {
            values[i] = reduce_add<T>(values[2 * i], values[2 * i + 1]);
        }
        length /= 2;
    }
    return values[0];
}

/// Stores an index with the bit pattern of T.
template <typename T>
inline T index_bits(uint32_t index) {
    T slot;
    if constexpr (sizeof(T) == 2) {
        const uint16_t bits = static_cast<uint16_t>(index);
        std::memcpy(&slot, &bits, sizeof(slot));
    } else {
        std::memcpy(&slot, &index, sizeof(slot));
    }
    return slot;
}

/// Extremum of a sequence with the lowest index among equals. A NaN wins over every number, for the maximum
/// and the minimum alike (the first NaN's index is kept): the Atlas A2 documentation of WholeReduceMax/Min,
/// ReduceMax/Min and BlockReduceMax/Min does not say what a NaN does, so this is the emulator's choice (see
/// README "Semantics worth knowing"); moge's own kernels never reduce a NaN with these instructions.
struct Extremum {
    bool found = false;
    float value = 0;
    uint32_t index = 0;

    void offer(float candidate, uint32_t at, bool is_max) {
        if (kNanSkips && std::isnan(candidate)) {
            // The other behaviour a test may ask for (MOGE_EMU_NAN_SKIPS, see vec_elementwise.h).
            return;
        }
        if (found && std::isnan(value)) {
            return;
        }
        if (!found || std::isnan(candidate) || (is_max ? candidate > value : candidate < value)) {
            found = true;
            value = candidate;
            index = at;
        }
    }
};

template <typename T>
inline void check_reduce_type() {
    static_assert(one_of<T, half, float>(), "reductions support half and float on Atlas A2");
}

/// The race footprints of a WholeReduce: `width` result bytes every `dst_step` bytes, and the masked lanes of
/// each source repeat.
template <typename T>
inline void race_reduce_operands(const LocalTensor<T>& dst, const LocalTensor<T>& src, const Mask& mask, int32_t repeatTime,
                                 uint64_t dst_step, uint32_t width, int32_t srcBlkStride, int32_t srcRepStride) {
    // The trace needs the operands too (their repeats and bytes), whatever the checking mode: the
    // modeled timeline must not depend on MOGE_EMU_CHECK.
    if ((!races_on() && !g_trace) || repeatTime < 0 || srcBlkStride < 0 || srcRepStride < 0) {
        return;
    }
    constexpr uint32_t epr = per_repeat<T>();
    const Lanes<epr> lanes(mask, static_cast<uint32_t>(repeatTime));
    const StridedOperand<T, epr> s(lanes, static_cast<uint32_t>(srcBlkStride), static_cast<uint32_t>(srcRepStride));
    race_strided("src", src, lanes, s);
    race_repeated("dst", dst, lanes.repeats, dst_step, width);
}

/// WholeReduceMax/Min: one extremum (and its index inside the repeat) per repeat.
template <typename T>
inline void whole_reduce_extremum(const char* call, bool is_max, const LocalTensor<T>& dst, const LocalTensor<T>& src,
                                  const Mask& mask, int32_t repeatTime, int32_t dstRepStride, int32_t srcBlkStride,
                                  int32_t srcRepStride, AscendC::ReduceOrder order) {
    check_reduce_type<T>();
    check_repeat(call, repeatTime);
    const bool only_value = order == AscendC::ReduceOrder::ORDER_ONLY_VALUE;
    const bool only_index = order == AscendC::ReduceOrder::ORDER_ONLY_INDEX;
    check_vector_operand(call, "dst", dst, only_value ? sizeof(T) : only_index ? 4 : 2 * sizeof(T));
    check_vector_operand(call, "src", src);
    constexpr uint32_t epr = per_repeat<T>();
    const uint32_t repeats = mask.repeats(static_cast<uint32_t>(repeatTime), epr);
    // Result r sits at element r * dstRepStride of dst (of pairs for value and index; of uint32_t for an index).
    const uint64_t stride = static_cast<uint64_t>(dstRepStride < 0 ? 0 : dstRepStride);
    race_reduce_operands(dst, src, mask, repeatTime,
                         only_index ? stride * 4 : only_value ? stride * sizeof(T) : stride * 2 * sizeof(T),
                         only_value ? sizeof(T) : only_index ? 4 : 2 * sizeof(T), srcBlkStride, srcRepStride);
    const LocalTensor<uint32_t> dst_index = dst.template ReinterpretCast<uint32_t>();
    for (uint32_t r = 0; r < repeats; ++r) {
        Extremum best;
        for (uint32_t j = 0; j < epr; ++j) {
            if (mask.active(r, j, epr)) {
                best.offer(to_float(element(call, "src", src, strided_index<T>(r, j, srcBlkStride, srcRepStride))), j, is_max);
            }
        }
        if (!best.found) {
            continue;
        }
        const uint64_t at = static_cast<uint64_t>(r) * dstRepStride;
        switch (order) {
            case AscendC::ReduceOrder::ORDER_VALUE_INDEX:
                element(call, "dst", dst, 2 * at) = from_float<T>(best.value);
                element(call, "dst", dst, 2 * at + 1) = index_bits<T>(best.index);
                break;
            case AscendC::ReduceOrder::ORDER_INDEX_VALUE:
                element(call, "dst", dst, 2 * at) = index_bits<T>(best.index);
                element(call, "dst", dst, 2 * at + 1) = from_float<T>(best.value);
                break;
            case AscendC::ReduceOrder::ORDER_ONLY_VALUE:
                element(call, "dst", dst, at) = from_float<T>(best.value);
                break;
            default:
                // Atlas A2 writes ORDER_ONLY_INDEX results as uint32_t for both half and float.
                element(call, "dst", dst_index, at) = best.index;
                break;
        }
    }
}

/// WholeReduceSum: one sum per repeat.
template <typename T>
inline void whole_reduce_sum(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& src, const Mask& mask,
                             int32_t repeatTime, int32_t dstRepStride, int32_t srcBlkStride, int32_t srcRepStride) {
    check_reduce_type<T>();
    check_repeat(call, repeatTime);
    check_vector_operand(call, "dst", dst, sizeof(T));
    check_vector_operand(call, "src", src);
    constexpr uint32_t epr = per_repeat<T>();
    const uint32_t repeats = mask.repeats(static_cast<uint32_t>(repeatTime), epr);
    race_reduce_operands(dst, src, mask, repeatTime, static_cast<uint64_t>(dstRepStride) * sizeof(T), sizeof(T),
                         srcBlkStride, srcRepStride);
    float values[epr];
    for (uint32_t r = 0; r < repeats; ++r) {
        for (uint32_t j = 0; j < epr; ++j) {
            values[j] = mask.active(r, j, epr)
                            ? to_float(element(call, "src", src, strided_index<T>(r, j, srcBlkStride, srcRepStride)))
                            : kSumIdentity;
        }
        element(call, "dst", dst, static_cast<uint64_t>(r) * dstRepStride) = from_float<T>(tree_sum<T>(values, epr));
    }
}

enum class BlockReduceKind { SUM, MAX, MIN };

/// BlockReduceSum/Max/Min: one result per 32-byte block, 8 per repeat.
template <typename T>
inline void block_reduce(const char* call, BlockReduceKind kind, const LocalTensor<T>& dst, const LocalTensor<T>& src,
                         int32_t repeatTime, const Mask& mask, int32_t dstRepStride, int32_t srcBlkStride, int32_t srcRepStride) {
    check_reduce_type<T>();
    check_repeat(call, repeatTime);
    check_vector_operand(call, "dst", dst, 8 * sizeof(T) < 32 ? 8 * sizeof(T) : 32);
    check_vector_operand(call, "src", src);
    constexpr uint32_t epr = per_repeat<T>();
    constexpr uint32_t epb = per_block<T>();
    const uint32_t repeats = mask.repeats(static_cast<uint32_t>(repeatTime), epr);
    // Eight results per repeat, dstRepStride blocks of 8 apart: the race footprints and the trace's operands.
    race_reduce_operands(dst, src, mask, repeatTime, static_cast<uint64_t>(dstRepStride < 0 ? 0 : dstRepStride) * 8 * sizeof(T),
                         8 * sizeof(T), srcBlkStride, srcRepStride);
    for (uint32_t r = 0; r < repeats; ++r) {
        for (uint32_t b = 0; b < 8; ++b) {
            float values[epb];
            Extremum best;
            uint32_t active = 0;
            for (uint32_t e = 0; e < epb; ++e) {
                const uint32_t j = b * epb + e;
                values[e] = kSumIdentity;
                if (mask.active(r, j, epr)) {
                    const float value = to_float(element(call, "src", src, strided_index<T>(r, j, srcBlkStride, srcRepStride)));
                    values[e] = value;
                    best.offer(value, j, kind == BlockReduceKind::MAX);
                    ++active;
                }
            }
            float result = 0.0f;
            if (kind == BlockReduceKind::SUM) {
                result = tree_sum<T>(values, epb);
            } else if (active > 0) {
                result = best.value;
            }
            element(call, "dst", dst, static_cast<uint64_t>(r) * dstRepStride * 8 + b) = from_float<T>(result);
        }
    }
}

/// Work-buffer elements ReduceMax/Min need (CANN 8.5 formula), for `repeats` first-round repeats.
template <typename T>
inline uint64_t reduce_extremum_work(uint64_t repeats, bool with_index) {
    constexpr uint64_t epb = per_block<T>();
    constexpr uint64_t epr = per_repeat<T>();
    auto round_up = [](uint64_t a, uint64_t b) { return (a + b - 1) / b; };
    const uint64_t first = repeats * 2;
    const uint64_t first_end = round_up(first, epb) * epb;
    if (!with_index) {
        return first_end;
    }
    const uint64_t second = round_up(first, epr) * 2;
    const uint64_t third_start = round_up(second, epb) * epb;
    const uint64_t third = round_up(second, epr) * 2;
    const uint64_t third_end = round_up(third, epb) * epb;
    return first_end + third_start + third_end;
}

/// ReduceMax/Min over the elements chosen by (mask, repeats, srcRepStride); index = repeat * epr + position.
template <typename T>
inline void reduce_extremum(const char* call, bool is_max, const LocalTensor<T>& dst, const LocalTensor<T>& src,
                            const LocalTensor<T>& work, const Mask& mask, uint32_t repeats, uint32_t srcRepStride,
                            bool calIndex, uint64_t first_round_repeats) {
    check_reduce_type<T>();
    check_vector_operand(call, "dst", dst, 2 * sizeof(T));
    check_vector_operand(call, "src", src);
    check_vector_operand(call, "sharedTmpBuffer", work);
    const uint64_t need = reduce_extremum_work<T>(first_round_repeats, calIndex);
    if (work.size_ < need) {
        violation(call, "sharedTmpBuffer has %u elements but %llu are needed", work.size_, static_cast<unsigned long long>(need));
    }
    check_elements(call, "dst", dst, calIndex ? 2 : 1);
    constexpr uint32_t epr = per_repeat<T>();
    Extremum best;
    for (uint32_t r = 0; r < repeats; ++r) {
        for (uint32_t j = 0; j < epr; ++j) {
            if (mask.active(r, j, epr)) {
                best.offer(to_float(element(call, "src", src, strided_index<T>(r, j, 1, srcRepStride))), r * epr + j, is_max);
            }
        }
    }
    if (!best.found) {
        return;
    }
    dst.ptr_[0] = from_float<T>(best.value);
    if (calIndex) {
        dst.ptr_[1] = index_bits<T>(best.index);
    }
    CoreState& state = core();
    state.reduce_value = best.value;
    state.reduce_index = best.index;
}

/// ReduceSum: binary tree inside each repeat; repeat results are then summed in order (`sequential`, the count
/// form on Atlas A2) or by further tree rounds over groups of one repeat's worth (the level-0 forms).
template <typename T>
inline void reduce_sum(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& work,
                       const Mask& mask, uint32_t repeats, uint32_t srcRepStride, bool sequential) {
    check_reduce_type<T>();
    check_vector_operand(call, "dst", dst, sizeof(T));
    check_vector_operand(call, "src", src);
    check_vector_operand(call, "sharedTmpBuffer", work);
    check_elements(call, "dst", dst, 1);
    constexpr uint32_t epr = per_repeat<T>();
    float values[epr];
    float total = 0.0f;
    // Level-0 rounds: partial sums of groups of `epr` repeat results.
    float group[epr];
    uint32_t in_group = 0;
    float level_total = 0.0f;
    bool first_group = true;
    for (uint32_t r = 0; r < repeats; ++r) {
        for (uint32_t j = 0; j < epr; ++j) {
            values[j] = mask.active(r, j, epr) ? to_float(element(call, "src", src, strided_index<T>(r, j, 1, srcRepStride))) : kSumIdentity;
        }
        const float repeat_sum = tree_sum<T>(values, epr);
        if (sequential) {
            total = r == 0 ? repeat_sum : reduce_add<T>(total, repeat_sum);
        } else {
            group[in_group++] = repeat_sum;
            if (in_group == epr || r + 1 == repeats) {
                for (uint32_t k = in_group; k < epr; ++k) {
                    group[k] = kSumIdentity;
                }
                const float group_sum = tree_sum<T>(group, epr);
                level_total = first_group ? group_sum : reduce_add<T>(level_total, group_sum);
                first_group = false;
                in_group = 0;
            }
        }
    }
    const float result = sequential ? total : level_total;
    dst.ptr_[0] = from_float<T>(result);
    core().acc_value = result;
}

}  // namespace moge_emu

namespace AscendC {

// ---- WholeReduce ----------------------------------------------------------------------------------------------------

template <typename T, bool isSetMask = true>
inline void WholeReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint64_t mask[], const int32_t repeatTime,
                           const int32_t dstRepStride, const int32_t srcBlkStride, const int32_t srcRepStride) {
    const char* call = "WholeReduceSum";
    moge_emu::whole_reduce_sum(call, dst, src, moge_emu::bits_mask(call, mask, moge_emu::per_repeat<T>(), isSetMask),
                               repeatTime, dstRepStride, srcBlkStride, srcRepStride);
}

template <typename T, bool isSetMask = true>
inline void WholeReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, const int32_t mask, const int32_t repeatTime,
                           const int32_t dstRepStride, const int32_t srcBlkStride, const int32_t srcRepStride) {
    const char* call = "WholeReduceSum";
    moge_emu::whole_reduce_sum(call, dst, src,
                               moge_emu::leading_mask<T>(call, mask, isSetMask),
                               repeatTime, dstRepStride, srcBlkStride, srcRepStride);
}

template <typename T, bool isSetMask = true>
inline void WholeReduceMax(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint64_t mask[], const int32_t repeatTime,
                           const int32_t dstRepStride, const int32_t srcBlkStride, const int32_t srcRepStride,
                           ReduceOrder order = ReduceOrder::ORDER_VALUE_INDEX) {
    const char* call = "WholeReduceMax";
    moge_emu::whole_reduce_extremum(call, true, dst, src, moge_emu::bits_mask(call, mask, moge_emu::per_repeat<T>(), isSetMask),
                                    repeatTime, dstRepStride, srcBlkStride, srcRepStride, order);
}

template <typename T, bool isSetMask = true>
inline void WholeReduceMax(const LocalTensor<T>& dst, const LocalTensor<T>& src, const int32_t mask, const int32_t repeatTime,
                           const int32_t dstRepStride, const int32_t srcBlkStride, const int32_t srcRepStride,
                           ReduceOrder order = ReduceOrder::ORDER_VALUE_INDEX) {
    const char* call = "WholeReduceMax";
    moge_emu::whole_reduce_extremum(call, true, dst, src,
                                    moge_emu::leading_mask<T>(call, mask, isSetMask),
                                    repeatTime, dstRepStride, srcBlkStride, srcRepStride, order);
}

template <typename T, bool isSetMask = true>
inline void WholeReduceMin(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint64_t mask[], const int32_t repeatTime,
                           const int32_t dstRepStride, const int32_t srcBlkStride, const int32_t srcRepStride,
                           ReduceOrder order = ReduceOrder::ORDER_VALUE_INDEX) {
    const char* call = "WholeReduceMin";
    moge_emu::whole_reduce_extremum(call, false, dst, src, moge_emu::bits_mask(call, mask, moge_emu::per_repeat<T>(), isSetMask),
                                    repeatTime, dstRepStride, srcBlkStride, srcRepStride, order);
}

template <typename T, bool isSetMask = true>
inline void WholeReduceMin(const LocalTensor<T>& dst, const LocalTensor<T>& src, const int32_t mask, const int32_t repeatTime,
                           const int32_t dstRepStride, const int32_t srcBlkStride, const int32_t srcRepStride,
                           ReduceOrder order = ReduceOrder::ORDER_VALUE_INDEX) {
    const char* call = "WholeReduceMin";
    moge_emu::whole_reduce_extremum(call, false, dst, src,
                                    moge_emu::leading_mask<T>(call, mask, isSetMask),
                                    repeatTime, dstRepStride, srcBlkStride, srcRepStride, order);
}

// ---- BlockReduce ----------------------------------------------------------------------------------------------------

#define MOGE_BLOCK_REDUCE(NAME, KIND)                                                                                  \
    template <typename T, bool isSetMask = true>                                                                       \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const int32_t repeatTime, const int32_t mask, \
                     const int32_t dstRepStride, const int32_t srcBlkStride, const int32_t srcRepStride) {             \
        moge_emu::block_reduce(#NAME, moge_emu::BlockReduceKind::KIND, dst, src, repeatTime,                           \
                               moge_emu::leading_mask<T>(#NAME, mask, isSetMask),                                      \
                               dstRepStride, srcBlkStride, srcRepStride);                                              \
    }                                                                                                                  \
    template <typename T, bool isSetMask = true>                                                                       \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const int32_t repeatTime,                    \
                     const uint64_t mask[], const int32_t dstRepStride, const int32_t srcBlkStride,                    \
                     const int32_t srcRepStride) {                                                                     \
        moge_emu::block_reduce(#NAME, moge_emu::BlockReduceKind::KIND, dst, src, repeatTime,                           \
                               moge_emu::bits_mask(#NAME, mask, moge_emu::per_repeat<T>(), isSetMask), dstRepStride,   \
                               srcBlkStride, srcRepStride);                                                            \
    }

MOGE_BLOCK_REDUCE(BlockReduceSum, SUM)
MOGE_BLOCK_REDUCE(BlockReduceMax, MAX)
MOGE_BLOCK_REDUCE(BlockReduceMin, MIN)

#undef MOGE_BLOCK_REDUCE

// ---- ReduceMax / ReduceMin / ReduceSum --------------------------------------------------------------------------------

namespace moge_detail {
inline uint64_t first_round_repeats(uint64_t count, uint32_t epr) {
    // The documented formula: count / elementsPerRepeat, at least 1.
    const uint64_t repeats = count / epr;
    return repeats == 0 ? 1 : repeats;
}
}  // namespace moge_detail

/// dst[0] = max of the first `count` elements; dst[1] = its index (bits of T) when calIndex.
template <typename T>
inline void ReduceMax(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& sharedTmpBuffer,
                      const int32_t count, bool calIndex = 0) {
    const char* call = "ReduceMax";
    const uint32_t n = moge_emu::check_count(call, count);
    moge_emu::check_elements(call, "src", src, n);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    moge_emu::reduce_extremum(call, true, dst, src, sharedTmpBuffer, moge_emu::count_mask(n), (n + epr - 1) / epr, 8, calIndex,
                              moge_detail::first_round_repeats(n, epr));
}

/// dst[0] = min of the first `count` elements; dst[1] = its index (bits of T) when calIndex.
template <typename T>
inline void ReduceMin(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& sharedTmpBuffer,
                      const int32_t count, bool calIndex = 0) {
    const char* call = "ReduceMin";
    const uint32_t n = moge_emu::check_count(call, count);
    moge_emu::check_elements(call, "src", src, n);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    moge_emu::reduce_extremum(call, false, dst, src, sharedTmpBuffer, moge_emu::count_mask(n), (n + epr - 1) / epr, 8, calIndex,
                              moge_detail::first_round_repeats(n, epr));
}

template <typename T>
inline void ReduceMax(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& sharedTmpBuffer,
                      const int32_t mask, const int32_t repeatTime, const int32_t srcRepStride, bool calIndex = 0) {
    const char* call = "ReduceMax";
    const uint32_t repeats = moge_emu::check_count(call, repeatTime);
    moge_emu::reduce_extremum(call, true, dst, src, sharedTmpBuffer,
                              moge_emu::leading_mask<T>(call, mask, true),
                              repeats, static_cast<uint32_t>(srcRepStride), calIndex, repeats);
}

template <typename T>
inline void ReduceMin(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& sharedTmpBuffer,
                      const int32_t mask, const int32_t repeatTime, const int32_t srcRepStride, bool calIndex = 0) {
    const char* call = "ReduceMin";
    const uint32_t repeats = moge_emu::check_count(call, repeatTime);
    moge_emu::reduce_extremum(call, false, dst, src, sharedTmpBuffer,
                              moge_emu::leading_mask<T>(call, mask, true),
                              repeats, static_cast<uint32_t>(srcRepStride), calIndex, repeats);
}

template <typename T>
inline void ReduceMax(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& sharedTmpBuffer,
                      const uint64_t mask[], const int32_t repeatTime, const int32_t srcRepStride, bool calIndex = 0) {
    const char* call = "ReduceMax";
    const uint32_t repeats = moge_emu::check_count(call, repeatTime);
    moge_emu::reduce_extremum(call, true, dst, src, sharedTmpBuffer,
                              moge_emu::bits_mask(call, mask, moge_emu::per_repeat<T>(), true), repeats,
                              static_cast<uint32_t>(srcRepStride), calIndex, repeats);
}

template <typename T>
inline void ReduceMin(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& sharedTmpBuffer,
                      const uint64_t mask[], const int32_t repeatTime, const int32_t srcRepStride, bool calIndex = 0) {
    const char* call = "ReduceMin";
    const uint32_t repeats = moge_emu::check_count(call, repeatTime);
    moge_emu::reduce_extremum(call, false, dst, src, sharedTmpBuffer,
                              moge_emu::bits_mask(call, mask, moge_emu::per_repeat<T>(), true), repeats,
                              static_cast<uint32_t>(srcRepStride), calIndex, repeats);
}

/// dst[0] = sum of the first `count` elements.
template <typename T, bool isSetMask = true>
inline void ReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& sharedTmpBuffer,
                      const int32_t count) {
    const char* call = "ReduceSum";
    const uint32_t n = moge_emu::check_count(call, count);
    moge_emu::check_elements(call, "src", src, n);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    moge_emu::reduce_sum(call, dst, src, sharedTmpBuffer, moge_emu::count_mask(n), (n + epr - 1) / epr, 8, true);
}

template <typename T>
inline void ReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& sharedTmpBuffer,
                      const int32_t mask, const int32_t repeatTime, const int32_t srcRepStride) {
    const char* call = "ReduceSum";
    const uint32_t repeats = moge_emu::check_count(call, repeatTime);
    moge_emu::reduce_sum(call, dst, src, sharedTmpBuffer,
                         moge_emu::leading_mask<T>(call, mask, true),
                         repeats, static_cast<uint32_t>(srcRepStride), false);
}

template <typename T>
inline void ReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& sharedTmpBuffer,
                      const uint64_t mask[], const int32_t repeatTime, const int32_t srcRepStride) {
    const char* call = "ReduceSum";
    const uint32_t repeats = moge_emu::check_count(call, repeatTime);
    moge_emu::reduce_sum(call, dst, src, sharedTmpBuffer, moge_emu::bits_mask(call, mask, moge_emu::per_repeat<T>(), true),
                         repeats, static_cast<uint32_t>(srcRepStride), false);
}

/// Value and index of the last ReduceMax/ReduceMin.
template <typename T>
inline void GetReduceMaxMinCount(T& maxMinValue, T& maxMinIndex) {
    const moge_emu::CoreState& core = moge_emu::core();
    maxMinValue = moge_emu::from_float<T>(static_cast<float>(core.reduce_value));
    maxMinIndex = moge_emu::index_bits<T>(core.reduce_index);
}

template <typename T>
inline void GetReduceMaxMinCount(T& maxMinValue) {
    maxMinValue = moge_emu::from_float<T>(static_cast<float>(moge_emu::core().reduce_value));
}

/// Sum of the last ReduceSum.
template <typename T>
inline T GetAccVal() {
    return moge_emu::from_float<T>(static_cast<float>(moge_emu::core().acc_value));
}

}  // namespace AscendC

#endif  // MOGE_EMU_VEC_REDUCE_H
