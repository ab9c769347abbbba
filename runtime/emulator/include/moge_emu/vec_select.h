// moge CPU emulator: comparisons to bit masks, Select, Gather and GatherMask.
//
// Compare writes one bit per element (bit i of byte i/8, little-endian), 1 where the comparison holds.
// Select takes src0 where the selection bit is 1 and src1 where it is 0. Gather reads elements at byte
// offsets. GatherMask compacts the elements whose pattern bit is 1.
#ifndef MOGE_EMU_VEC_SELECT_H
#define MOGE_EMU_VEC_SELECT_H

#include "vec_elementwise.h"

namespace moge_emu {

inline const char* cmp_mode_name(AscendC::CMPMODE mode) {
    static const char* const names[] = {"LT", "GT", "EQ", "LE", "GE", "NE"};
    const unsigned index = static_cast<unsigned>(mode);
    return index < 6 ? names[index] : "unknown";
}

template <typename T>
inline bool compare_values(const T& a, const T& b, AscendC::CMPMODE mode) {
    const double x = to_double(a);
    const double y = to_double(b);
    switch (mode) {
        case AscendC::CMPMODE::LT: return x < y;
        case AscendC::CMPMODE::GT: return x > y;
        case AscendC::CMPMODE::EQ: return x == y;
        case AscendC::CMPMODE::LE: return x <= y;
        case AscendC::CMPMODE::GE: return x >= y;
        default: return x != y;
    }
}

template <typename T>
inline void check_compare_mode(const char* call, AscendC::CMPMODE mode) {
    if (static_cast<unsigned>(mode) > 5) {
        violation(call, "unknown CMPMODE %u", static_cast<unsigned>(mode));
    }
    if (std::is_same<T, int32_t>::value && mode != AscendC::CMPMODE::EQ) {
        violation(call, "int32_t comparisons support only CMPMODE::EQ on Atlas A2, not CMPMODE::%s", cmp_mode_name(mode));
    }
}

/// Writes bit `index` of a bit mask held in a tensor of any element type.
template <typename U>
inline void write_bit(const char* call, const LocalTensor<U>& mask, uint64_t index, bool value) {
    const uint64_t byte = index / 8;
    if (byte >= static_cast<uint64_t>(mask.size_) * sizeof(U)) {
        violation(call, "dst: mask bit %llu is past the end of the tensor (%llu bytes)", static_cast<unsigned long long>(index),
                  static_cast<unsigned long long>(static_cast<uint64_t>(mask.size_) * sizeof(U)));
    }
    uint8_t* bytes = reinterpret_cast<uint8_t*>(mask.ptr_);
    const uint8_t bit = static_cast<uint8_t>(1u << (index % 8));
    bytes[byte] = static_cast<uint8_t>(value ? (bytes[byte] | bit) : (bytes[byte] & ~bit));
}

/// Reads bit `index` of a bit mask held in a tensor of any element type.
template <typename U>
inline bool read_bit(const char* call, const char* name, const LocalTensor<U>& mask, uint64_t index) {
    const uint64_t byte = index / 8;
    if (byte >= static_cast<uint64_t>(mask.size_) * sizeof(U)) {
        violation(call, "%s: mask bit %llu is past the end of the tensor (%llu bytes)", name,
                  static_cast<unsigned long long>(index),
                  static_cast<unsigned long long>(static_cast<uint64_t>(mask.size_) * sizeof(U)));
    }
    return (reinterpret_cast<const uint8_t*>(mask.ptr_)[byte] >> (index % 8)) & 1u;
}

}  // namespace moge_emu

namespace AscendC {

#define MOGE_TYPES_CMP half, float, int32_t

// ---- Compare ------------------------------------------------------------------------------------------------------

/// dst bit i = src0[i] <cmpMode> src1[i]; `count * sizeof(T)` must be a multiple of 256 bytes.
template <typename T, typename U>
inline void Compare(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode,
                    uint32_t count) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_CMP>(), "Compare: element type not supported on Atlas A2");
    static_assert(moge_emu::one_of<U, int8_t, uint8_t>(), "Compare: the mask must be int8_t or uint8_t");
    const char* call = "Compare";
    moge_emu::check_compare_mode<T>(call, cmpMode);
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src0", src0);
    moge_emu::check_vector_operand(call, "src1", src1);
    if ((static_cast<uint64_t>(count) * sizeof(T)) % 256 != 0) {
        moge_emu::violation(call, "count %u x %zu bytes is not a multiple of 256 bytes", count, sizeof(T));
    }
    moge_emu::check_elements(call, "src0", src0, count);
    moge_emu::check_elements(call, "src1", src1, count);
    for (uint32_t i = 0; i < count; ++i) {
        moge_emu::write_bit(call, dst, i, moge_emu::compare_values(src0.ptr_[i], src1.ptr_[i], cmpMode));
    }
}

namespace moge_detail {
/// Writes the result bits of a level-0 compare of T elements: bit `r * epr + j` of `dst` is `compare(r, j)`
/// for element j of repeat r. On Atlas A2 the mask of Compare is reserved: every element of every repeat is
/// compared, and the result bits of the repeats are written one after the other.
template <typename T, typename U, typename Compare>
inline void compare_bits(const char* call, const LocalTensor<U>& dst, uint8_t repeatTime, Compare compare) {
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    for (uint32_t r = 0; r < repeatTime; ++r) {
        for (uint32_t j = 0; j < epr; ++j) {
            moge_emu::write_bit(call, dst, static_cast<uint64_t>(r) * epr + j, compare(r, j));
        }
    }
}

template <typename T, typename U>
inline void compare_level0(const char* call, const LocalTensor<U>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                           CMPMODE cmpMode, uint8_t repeatTime, const BinaryRepeatParams& p) {
    moge_emu::check_compare_mode<T>(call, cmpMode);
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src0", src0);
    moge_emu::check_vector_operand(call, "src1", src1);
    compare_bits<T>(call, dst, repeatTime, [&](uint32_t r, uint32_t j) {
        const T a = moge_emu::element(call, "src0", src0, moge_emu::strided_index<T>(r, j, p.src0BlkStride, p.src0RepStride));
        const T b = moge_emu::element(call, "src1", src1, moge_emu::strided_index<T>(r, j, p.src1BlkStride, p.src1RepStride));
        return moge_emu::compare_values(a, b, cmpMode);
    });
}
}  // namespace moge_detail

template <typename T, typename U, bool isSetMask = true>
inline void Compare(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode,
                    const uint64_t mask[], uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_CMP>(), "Compare: element type not supported on Atlas A2");
    (void)mask;
    moge_detail::compare_level0("Compare", dst, src0, src1, cmpMode, repeatTime, repeatParams);
}

template <typename T, typename U, bool isSetMask = true>
inline void Compare(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode,
                    const uint64_t mask, uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_CMP>(), "Compare: element type not supported on Atlas A2");
    (void)mask;
    moge_detail::compare_level0("Compare", dst, src0, src1, cmpMode, repeatTime, repeatParams);
}

namespace moge_detail {
template <typename T>
inline void compare_to_register(const char* call, const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode,
                                const BinaryRepeatParams& p) {
    moge_emu::check_compare_mode<T>(call, cmpMode);
    moge_emu::check_vector_operand(call, "src0", src0);
    moge_emu::check_vector_operand(call, "src1", src1);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    uint8_t* bits = moge_emu::core().cmp_register;
    std::memset(bits, 0, 16);
    for (uint32_t j = 0; j < epr; ++j) {
        const T a = moge_emu::element(call, "src0", src0, moge_emu::strided_index<T>(0, j, p.src0BlkStride, p.src0RepStride));
        const T b = moge_emu::element(call, "src1", src1, moge_emu::strided_index<T>(0, j, p.src1BlkStride, p.src1RepStride));
        if (moge_emu::compare_values(a, b, cmpMode)) {
            bits[j / 8] = static_cast<uint8_t>(bits[j / 8] | (1u << (j % 8)));
        }
    }
}
}  // namespace moge_detail

/// One repeat compared into the compare-result register (read with GetCmpMask or Select mode 0).
template <typename T, bool isSetMask = true>
inline void Compare(const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode, const uint64_t mask[],
                    const BinaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_CMP>(), "Compare: element type not supported on Atlas A2");
    (void)mask;
    moge_detail::compare_to_register("Compare", src0, src1, cmpMode, repeatParams);
}

template <typename T, bool isSetMask = true>
inline void Compare(const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode, const uint64_t mask,
                    const BinaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_CMP>(), "Compare: element type not supported on Atlas A2");
    (void)mask;
    moge_detail::compare_to_register("Compare", src0, src1, cmpMode, repeatParams);
}

/// Copies the 128-bit compare-result register to dst.
template <typename T>
inline void GetCmpMask(const LocalTensor<T>& dst) {
    const char* call = "GetCmpMask";
    moge_emu::check_vector_operand(call, "dst", dst);
    if (static_cast<uint64_t>(dst.size_) * sizeof(T) < 16) {
        moge_emu::violation(call, "dst holds fewer than 16 bytes");
    }
    std::memcpy(dst.ptr_, moge_emu::core().cmp_register, 16);
}

/// Loads the 128-bit compare-result register from src.
template <typename T>
inline void SetCmpMask(const LocalTensor<T>& src) {
    const char* call = "SetCmpMask";
    moge_emu::check_vector_operand(call, "src", src);
    if (static_cast<uint64_t>(src.size_) * sizeof(T) < 16) {
        moge_emu::violation(call, "src holds fewer than 16 bytes");
    }
    std::memcpy(moge_emu::core().cmp_register, src.ptr_, 16);
}

// ---- CompareScalar ------------------------------------------------------------------------------------------------

/// dst bit i = src0[i] <cmpMode> src1Scalar; `count * sizeof(T)` must be a multiple of 256 bytes.
template <typename T, typename U>
inline void CompareScalar(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const T src1Scalar, CMPMODE cmpMode,
                          uint32_t count) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_CMP>(), "CompareScalar: element type not supported on Atlas A2");
    static_assert(moge_emu::one_of<U, int8_t, uint8_t>(), "CompareScalar: the mask must be uint8_t");
    const char* call = "CompareScalar";
    moge_emu::check_compare_mode<T>(call, cmpMode);
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src0", src0);
    if ((static_cast<uint64_t>(count) * sizeof(T)) % 256 != 0) {
        moge_emu::violation(call, "count %u x %zu bytes is not a multiple of 256 bytes", count, sizeof(T));
    }
    moge_emu::check_elements(call, "src0", src0, count);
    for (uint32_t i = 0; i < count; ++i) {
        moge_emu::write_bit(call, dst, i, moge_emu::compare_values(src0.ptr_[i], src1Scalar, cmpMode));
    }
}

namespace moge_detail {
template <typename T, typename U>
inline void compare_scalar_level0(const char* call, const LocalTensor<U>& dst, const LocalTensor<T>& src0, const T& scalar,
                                  CMPMODE cmpMode, uint8_t repeatTime, const UnaryRepeatParams& p) {
    moge_emu::check_compare_mode<T>(call, cmpMode);
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src0", src0);
    compare_bits<T>(call, dst, repeatTime, [&](uint32_t r, uint32_t j) {
        const T a = moge_emu::element(call, "src0", src0, moge_emu::strided_index<T>(r, j, p.srcBlkStride, p.srcRepStride));
        return moge_emu::compare_values(a, scalar, cmpMode);
    });
}
}  // namespace moge_detail

template <typename T, typename U, bool isSetMask = true>
inline void CompareScalar(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const T src1Scalar, CMPMODE cmpMode,
                          const uint64_t mask[], uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_CMP>(), "CompareScalar: element type not supported on Atlas A2");
    (void)mask;
    moge_detail::compare_scalar_level0("CompareScalar", dst, src0, src1Scalar, cmpMode, repeatTime, repeatParams);
}

template <typename T, typename U, bool isSetMask = true>
inline void CompareScalar(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const T src1Scalar, CMPMODE cmpMode,
                          const uint64_t mask, uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_CMP>(), "CompareScalar: element type not supported on Atlas A2");
    (void)mask;
    moge_detail::compare_scalar_level0("CompareScalar", dst, src0, src1Scalar, cmpMode, repeatTime, repeatParams);
}

#undef MOGE_TYPES_CMP

// ---- Select -------------------------------------------------------------------------------------------------------

namespace moge_detail {

inline const char* sel_mode_name(SELMODE mode) {
    switch (mode) {
        case SELMODE::VSEL_CMPMASK_SPR: return "VSEL_CMPMASK_SPR";
        case SELMODE::VSEL_TENSOR_SCALAR_MODE: return "VSEL_TENSOR_SCALAR_MODE";
        case SELMODE::VSEL_TENSOR_TENSOR_MODE: return "VSEL_TENSOR_TENSOR_MODE";
        default: return "unknown";
    }
}

/// Bit of the selection mask for element `index` of repeat `repeat`: mode 0 reuses the first
/// 256/sizeof(T) bits in every repeat, modes 1 and 2 consume the mask continuously.
template <typename U>
inline bool selection_bit(const char* call, const LocalTensor<U>& selMask, SELMODE mode, uint64_t repeat, uint32_t index,
                          uint32_t epr) {
    const uint64_t bit = mode == SELMODE::VSEL_CMPMASK_SPR ? index : repeat * epr + index;
    return moge_emu::read_bit(call, "selMask", selMask, bit);
}

/// Select over a level-0 iteration; `scalar` is used when `src1` is null (mode 1).
template <typename T, typename U>
inline void select_level0(const char* call, const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                          const LocalTensor<T>* src1, const T& scalar, SELMODE mode, const moge_emu::Mask& mask,
                          uint32_t repeatTime, const BinaryRepeatParams& p) {
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "selMask", selMask);
    moge_emu::check_vector_operand(call, "src0", src0);
    if (src1 != nullptr) {
        moge_emu::check_vector_operand(call, "src1", *src1);
    }
    moge_emu::check_repeat(call, repeatTime);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    const uint32_t repeats = mask.repeats(repeatTime, epr);
    for (uint32_t r = 0; r < repeats; ++r) {
        for (uint32_t j = 0; j < epr; ++j) {
            if (!mask.active(r, j, epr)) {
                continue;
            }
            const bool take_first = selection_bit(call, selMask, mode, r, j, epr);
            T value = take_first ? moge_emu::element(call, "src0", src0, moge_emu::strided_index<T>(r, j, p.src0BlkStride, p.src0RepStride))
                                 : (src1 != nullptr ? moge_emu::element(call, "src1", *src1,
                                                                        moge_emu::strided_index<T>(r, j, p.src1BlkStride, p.src1RepStride))
                                                    : scalar);
            moge_emu::element(call, "dst", dst, moge_emu::strided_index<T>(r, j, p.dstBlkStride, p.dstRepStride)) = value;
        }
    }
}

template <typename T, typename U>
inline void select_count(const char* call, const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                         const LocalTensor<T>* src1, const T& scalar, SELMODE mode, uint32_t count) {
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "selMask", selMask);
    moge_emu::check_vector_operand(call, "src0", src0);
    moge_emu::check_elements(call, "dst", dst, count);
    moge_emu::check_elements(call, "src0", src0, count);
    if (src1 != nullptr) {
        moge_emu::check_vector_operand(call, "src1", *src1);
        moge_emu::check_elements(call, "src1", *src1, count);
    }
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    for (uint32_t i = 0; i < count; ++i) {
        const bool take_first = selection_bit(call, selMask, mode, i / epr, i % epr, epr);
        dst.ptr_[i] = take_first ? src0.ptr_[i] : (src1 != nullptr ? src1->ptr_[i] : scalar);
    }
}

inline void check_tensor_select_mode(const char* call, SELMODE mode) {
    if (mode != SELMODE::VSEL_CMPMASK_SPR && mode != SELMODE::VSEL_TENSOR_TENSOR_MODE) {
        moge_emu::violation(call, "SELMODE::%s does not select between two tensors (use mode 0 or 2)", sel_mode_name(mode));
    }
}

inline void check_scalar_select_mode(const char* call, SELMODE mode) {
    if (mode != SELMODE::VSEL_TENSOR_SCALAR_MODE) {
        moge_emu::violation(call, "SELMODE::%s does not select between a tensor and a scalar (use mode 1)", sel_mode_name(mode));
    }
}

}  // namespace moge_detail

/// dst[i] = selMask bit i ? src0[i] : src1[i] (modes 0 and 2).
template <typename T, typename U>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                   const LocalTensor<T>& src1, SELMODE selMode, uint32_t count) {
    static_assert(moge_emu::one_of<T, half, float>(), "Select: element type not supported on Atlas A2");
    const char* call = "Select";
    moge_detail::check_tensor_select_mode(call, selMode);
    moge_detail::select_count(call, dst, selMask, src0, &src1, T(0.0f), selMode, count);
}

/// dst[i] = selMask bit i ? src0[i] : src1 (mode 1).
template <typename T, typename U>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0, T src1,
                   SELMODE selMode, uint32_t count) {
    static_assert(moge_emu::one_of<T, half, float>(), "Select: element type not supported on Atlas A2");
    const char* call = "Select";
    moge_detail::check_scalar_select_mode(call, selMode);
    moge_detail::select_count(call, dst, selMask, src0, static_cast<const LocalTensor<T>*>(nullptr), src1, selMode, count);
}

template <typename T, typename U, bool isSetMask = true>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                   const LocalTensor<T>& src1, SELMODE selMode, uint64_t mask[], uint8_t repeatTime,
                   const BinaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, half, float>(), "Select: element type not supported on Atlas A2");
    const char* call = "Select";
    moge_detail::check_tensor_select_mode(call, selMode);
    moge_detail::select_level0(call, dst, selMask, src0, &src1, T(0.0f), selMode,
                               moge_emu::bits_mask(call, mask, moge_emu::per_repeat<T>(), isSetMask), repeatTime, repeatParams);
}

template <typename T, typename U, bool isSetMask = true>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                   const LocalTensor<T>& src1, SELMODE selMode, uint64_t mask, uint8_t repeatTime,
                   const BinaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, half, float>(), "Select: element type not supported on Atlas A2");
    const char* call = "Select";
    moge_detail::check_tensor_select_mode(call, selMode);
    moge_detail::select_level0(call, dst, selMask, src0, &src1, T(0.0f), selMode,
                               moge_emu::continuous_mask(call, mask, moge_emu::per_repeat<T>(), isSetMask), repeatTime,
                               repeatParams);
}

template <typename T, typename U, bool isSetMask = true>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0, T src1,
                   SELMODE selMode, uint64_t mask[], uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, half, float>(), "Select: element type not supported on Atlas A2");
    const char* call = "Select";
    moge_detail::check_scalar_select_mode(call, selMode);
    moge_detail::select_level0(call, dst, selMask, src0, static_cast<const LocalTensor<T>*>(nullptr), src1, selMode,
                               moge_emu::bits_mask(call, mask, moge_emu::per_repeat<T>(), isSetMask), repeatTime, repeatParams);
}

template <typename T, typename U, bool isSetMask = true>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0, T src1,
                   SELMODE selMode, uint64_t mask, uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, half, float>(), "Select: element type not supported on Atlas A2");
    const char* call = "Select";
    moge_detail::check_scalar_select_mode(call, selMode);
    moge_detail::select_level0(call, dst, selMask, src0, static_cast<const LocalTensor<T>*>(nullptr), src1, selMode,
                               moge_emu::continuous_mask(call, mask, moge_emu::per_repeat<T>(), isSetMask), repeatTime,
                               repeatParams);
}

/// Mode `selMode` with the compare-result register as the selection mask and the mask register as mask.
template <typename T, SELMODE selMode>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, uint8_t repeatTime,
                   const BinaryRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, half, float>(), "Select: element type not supported on Atlas A2");
    const char* call = "Select";
    LocalTensor<uint8_t> reg;
    reg.ptr_ = moge_emu::core().cmp_register;
    reg.size_ = 16;
    reg.capacity_ = 16;
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src0", src0);
    moge_emu::check_vector_operand(call, "src1", src1);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    const moge_emu::Mask mask = moge_emu::register_mask();
    const uint32_t repeats = mask.repeats(repeatTime, epr);
    const BinaryRepeatParams& p = repeatParams;
    for (uint32_t r = 0; r < repeats; ++r) {
        for (uint32_t j = 0; j < epr; ++j) {
            if (!mask.active(r, j, epr)) {
                continue;
            }
            const bool take_first = moge_emu::read_bit(call, "compare register", reg, j % 128);
            const T value = take_first
                                ? moge_emu::element(call, "src0", src0, moge_emu::strided_index<T>(r, j, p.src0BlkStride, p.src0RepStride))
                                : moge_emu::element(call, "src1", src1, moge_emu::strided_index<T>(r, j, p.src1BlkStride, p.src1RepStride));
            moge_emu::element(call, "dst", dst, moge_emu::strided_index<T>(r, j, p.dstBlkStride, p.dstRepStride)) = value;
        }
    }
}

// ---- Gather -------------------------------------------------------------------------------------------------------

#define MOGE_TYPES_GATHER int16_t, uint16_t, int32_t, uint32_t, float, half, bfloat16_t

namespace moge_detail {
template <typename T>
inline T gather_one(const char* call, const LocalTensor<T>& src, uint32_t base, uint32_t offset) {
    const uint64_t at = static_cast<uint64_t>(base) + offset;
    if (at % sizeof(T) != 0) {
        moge_emu::violation(call, "byte offset %llu (srcBaseAddr %u + offset %u) is not a multiple of the %zu-byte element",
                            static_cast<unsigned long long>(at), base, offset, sizeof(T));
    }
    if (at + sizeof(T) > static_cast<uint64_t>(src.size_) * sizeof(T)) {
        moge_emu::violation(call, "byte offset %llu (srcBaseAddr %u + offset %u) is past the end of src (%llu bytes)",
                            static_cast<unsigned long long>(at), base, offset,
                            static_cast<unsigned long long>(static_cast<uint64_t>(src.size_) * sizeof(T)));
    }
    return src.ptr_[at / sizeof(T)];
}
}  // namespace moge_detail

/// dst[i] = the element of src at byte offset srcBaseAddr + srcOffset[i].
template <typename T>
inline void Gather(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& srcOffset,
                   const uint32_t srcBaseAddr, const uint32_t count) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_GATHER>(), "Gather: element type not supported on Atlas A2");
    const char* call = "Gather";
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src", src);
    moge_emu::check_vector_operand(call, "srcOffset", srcOffset);
    moge_emu::check_elements(call, "dst", dst, count);
    moge_emu::check_elements(call, "srcOffset", srcOffset, count);
    if (moge_emu::g_timing_only) {
        return;  // Checked and traced; the offsets were never computed in timing-only mode (trace.h).
    }
    for (uint32_t i = 0; i < count; ++i) {
        dst.ptr_[i] = moge_detail::gather_one(call, src, srcBaseAddr, srcOffset.ptr_[i]);
    }
}

namespace moge_detail {
template <typename T>
inline void gather_level0(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& src,
                          const LocalTensor<uint32_t>& srcOffset, uint32_t srcBaseAddr, const moge_emu::Mask& mask,
                          uint32_t repeatTime, uint32_t dstRepStride) {
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src", src);
    moge_emu::check_vector_operand(call, "srcOffset", srcOffset);
    moge_emu::check_repeat(call, repeatTime);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    const uint32_t repeats = mask.repeats(repeatTime, epr);
    if (moge_emu::g_timing_only) {
        return;  // Checked and traced; the offsets were never computed in timing-only mode (trace.h).
    }
    for (uint32_t r = 0; r < repeats; ++r) {
        for (uint32_t j = 0; j < epr; ++j) {
            if (!mask.active(r, j, epr)) {
                continue;
            }
            const uint32_t offset = moge_emu::element(call, "srcOffset", srcOffset, static_cast<uint64_t>(r) * epr + j);
            moge_emu::element(call, "dst", dst, moge_emu::strided_index<T>(r, j, 1, dstRepStride)) =
                gather_one(call, src, srcBaseAddr, offset);
        }
    }
}
}  // namespace moge_detail

template <typename T>
inline void Gather(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& srcOffset,
                   const uint32_t srcBaseAddr, const uint64_t mask, const uint8_t repeatTime, const uint16_t dstRepStride) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_GATHER>(), "Gather: element type not supported on Atlas A2");
    moge_detail::gather_level0("Gather", dst, src, srcOffset, srcBaseAddr,
                               moge_emu::continuous_mask("Gather", mask, moge_emu::per_repeat<T>(), true), repeatTime,
                               dstRepStride);
}

template <typename T>
inline void Gather(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& srcOffset,
                   const uint32_t srcBaseAddr, const uint64_t mask[], const uint8_t repeatTime, const uint16_t dstRepStride) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_GATHER>(), "Gather: element type not supported on Atlas A2");
    moge_detail::gather_level0("Gather", dst, src, srcOffset, srcBaseAddr,
                               moge_emu::bits_mask("Gather", mask, moge_emu::per_repeat<T>(), true), repeatTime, dstRepStride);
}

#undef MOGE_TYPES_GATHER

// ---- GatherMask ---------------------------------------------------------------------------------------------------

/// Strides of GatherMask, in 32-byte blocks.
struct GatherMaskParams {
    GatherMaskParams() {}
    GatherMaskParams(const uint8_t src0BlockStrideIn, const uint16_t repeatTimesIn, const uint16_t src0RepeatStrideIn,
                     const uint8_t src1RepeatStrideIn)
        : src0BlockStride(src0BlockStrideIn),
          repeatTimes(repeatTimesIn),
          src0RepeatStride(src0RepeatStrideIn),
          src1RepeatStride(src1RepeatStrideIn) {}
    uint8_t src0BlockStride = DEFAULT_BLK_STRIDE;
    uint16_t repeatTimes = 0;
    uint16_t src0RepeatStride = DEFAULT_REPEAT_STRIDE;
    uint8_t src1RepeatStride = DEFAULT_REPEAT_STRIDE;
};

namespace moge_detail {

/// Keeps the elements whose pattern bit is 1 and packs them at the start of dst. `pattern` is the builtin
/// pattern 1..7, or 0 with `user` the pattern tensor.
template <typename T, typename U>
inline uint64_t gather_mask(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& src0, uint8_t pattern,
                            const LocalTensor<U>* user, bool reduceMode, uint32_t mask, const GatherMaskParams& p) {
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src0", src0);
    if (user != nullptr) {
        moge_emu::check_vector_operand(call, "src1Pattern", *user);
    } else if (pattern < 1 || pattern > 7) {
        moge_emu::violation(call, "builtin src1Pattern %u is outside 1..7", pattern);
    }
    if (reduceMode && mask == 0) {
        moge_emu::violation(call, "counter mode (reduceMode = true) with mask 0");
    }
    const uint32_t per_repeat = reduceMode ? mask : moge_emu::per_repeat<T>();
    uint64_t kept = 0;
    for (uint32_t r = 0; r < p.repeatTimes; ++r) {
        for (uint32_t j = 0; j < per_repeat; ++j) {
            bool take = false;
            if (user != nullptr) {
                take = moge_emu::read_bit(call, "src1Pattern", *user, static_cast<uint64_t>(r) * p.src1RepeatStride * 256 + j);
            } else {
                switch (pattern) {
                    case 1: take = j % 2 == 0; break;
                    case 2: take = j % 2 == 1; break;
                    case 3: take = j % 4 == 0; break;
                    case 4: take = j % 4 == 1; break;
                    case 5: take = j % 4 == 2; break;
                    case 6: take = j % 4 == 3; break;
                    default: take = true; break;
                }
            }
            if (take) {
                const T value = moge_emu::element(call, "src0", src0,
                                                  moge_emu::strided_index<T>(r, j, p.src0BlockStride, p.src0RepeatStride));
                moge_emu::element(call, "dst", dst, kept) = value;
                ++kept;
            }
        }
    }
    // The instruction leaves the mask register in normal mode.
    moge_emu::core().counter_mode = false;
    return kept;
}

}  // namespace moge_detail

#define MOGE_TYPES_GATHER_MASK half, bfloat16_t, uint16_t, int16_t, float, uint32_t, int32_t

/// Stream compaction with a user pattern (one bit per element; uint16_t for 16-bit T, uint32_t for 32-bit T).
template <typename T, typename U, GatherMaskMode mode = defaultGatherMaskMode>
inline void GatherMask(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<U>& src1Pattern,
                       const bool reduceMode, const uint32_t mask, const GatherMaskParams& gatherMaskParams,
                       uint64_t& rsvdCnt) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_GATHER_MASK>(), "GatherMask: element type not supported on Atlas A2");
    static_assert(moge_emu::one_of<U, uint16_t, uint32_t>() && sizeof(U) == sizeof(T),
                  "GatherMask: the pattern must be uint16_t for 16-bit elements and uint32_t for 32-bit elements");
    rsvdCnt = moge_detail::gather_mask("GatherMask", dst, src0, 0, &src1Pattern, reduceMode, mask, gatherMaskParams);
}

/// Stream compaction with a builtin pattern: 1 even, 2 odd, 3..6 one of every four (first..fourth), 7 all.
template <typename T, GatherMaskMode mode = defaultGatherMaskMode>
inline void GatherMask(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const uint8_t src1Pattern, const bool reduceMode,
                       const uint32_t mask, const GatherMaskParams& gatherMaskParams, uint64_t& rsvdCnt) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_GATHER_MASK>(), "GatherMask: element type not supported on Atlas A2");
    rsvdCnt = moge_detail::gather_mask("GatherMask", dst, src0, src1Pattern, static_cast<const LocalTensor<uint8_t>*>(nullptr),
                                       reduceMode, mask, gatherMaskParams);
}

#undef MOGE_TYPES_GATHER_MASK

}  // namespace AscendC

#endif  // MOGE_EMU_VEC_SELECT_H
