// moge CPU emulator: element-wise vector instructions (binary, tensor-scalar, unary, Duplicate,
// CreateVecIndex, Brcb, Cast).
//
// Each instruction has the count form (`count` leading elements, contiguous) and the level-0 forms (a mask
// per repeat of 256 bytes, `repeatTime` repeats, block and repeat strides in 32-byte blocks). Results of
// 16-bit float instructions are computed in binary32 and rounded to nearest even. Element types are
// restricted to what Atlas A2 supports (static_assert).
#ifndef MOGE_EMU_VEC_ELEMENTWISE_H
#define MOGE_EMU_VEC_ELEMENTWISE_H

#include "common.h"

namespace moge_emu {

template <typename T>
inline bool is_nan_value(const T& value) {
    if constexpr (is_float_type<T>()) {
        return std::isnan(to_float(value));
    } else {
        return false;
    }
}

template <typename T>
inline T quiet_nan() {
    return T(std::nanf(""));
}

// What Max/Min/Relu and the extremum reductions do with a NaN is not documented for Atlas A2; the emulator
// propagates it. A kernel source that defines MOGE_EMU_NAN_SKIPS before including kernel_operator.h gets the
// other plausible behaviour instead (a NaN operand is ignored: the other operand, 0 for Relu, the extremum
// of the other elements), so a test can check that a kernel's results do not depend on the choice.
#ifdef MOGE_EMU_NAN_SKIPS
constexpr bool kNanSkips = true;
#else
constexpr bool kNanSkips = false;
#endif

struct AddOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        if constexpr (is_float_type<T>()) {
            return from_float<T>(to_float(a) + to_float(b));
        } else {
            using U = typename std::make_unsigned<T>::type;
            return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
        }
    }
};

struct SubOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        if constexpr (is_float_type<T>()) {
            return from_float<T>(to_float(a) - to_float(b));
        } else {
            using U = typename std::make_unsigned<T>::type;
            return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
        }
    }
};

struct MulOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        if constexpr (is_float_type<T>()) {
            return from_float<T>(to_float(a) * to_float(b));
        } else {
            using U = typename std::make_unsigned<T>::type;
            return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
        }
    }
};

struct DivOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        return from_float<T>(to_float(a) / to_float(b));
    }
};

struct MaxOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        if constexpr (is_float_type<T>()) {
            if (kNanSkips && (is_nan_value(a) || is_nan_value(b))) {
                return is_nan_value(a) ? b : a;
            }
            if (is_nan_value(a) || is_nan_value(b)) {
                return quiet_nan<T>();
            }
            return to_float(a) >= to_float(b) ? a : b;
        } else {
            return a >= b ? a : b;
        }
    }
};

struct MinOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        if constexpr (is_float_type<T>()) {
            if (kNanSkips && (is_nan_value(a) || is_nan_value(b))) {
                return is_nan_value(a) ? b : a;
            }
            if (is_nan_value(a) || is_nan_value(b)) {
                return quiet_nan<T>();
            }
            return to_float(a) <= to_float(b) ? a : b;
        } else {
            return a <= b ? a : b;
        }
    }
};

struct AndOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        return static_cast<T>(a & b);
    }
};

struct OrOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        return static_cast<T>(a | b);
    }
};

struct AddReluOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        const T sum = AddOp()(a, b);
        return MaxOp()(sum, T(0));
    }
};

struct SubReluOp {
    template <typename T>
    T operator()(const T& a, const T& b) const {
        const T difference = SubOp()(a, b);
        return MaxOp()(difference, T(0));
    }
};

struct ExpOp {
    template <typename T>
    T operator()(const T& x) const {
        return from_float<T>(std::exp(to_float(x)));
    }
};

struct LnOp {
    template <typename T>
    T operator()(const T& x) const {
        return from_float<T>(std::log(to_float(x)));
    }
};

struct AbsOp {
    template <typename T>
    T operator()(const T& x) const {
        if constexpr (is_float_type<T>()) {
            return from_float<T>(std::fabs(to_float(x)));
        } else {
            return x < 0 ? static_cast<T>(-x) : x;
        }
    }
};

struct ReciprocalOp {
    template <typename T>
    T operator()(const T& x) const {
        return from_float<T>(1.0f / to_float(x));
    }
};

struct SqrtOp {
    template <typename T>
    T operator()(const T& x) const {
        return from_float<T>(std::sqrt(to_float(x)));
    }
};

struct RsqrtOp {
    template <typename T>
    T operator()(const T& x) const {
        return from_float<T>(1.0f / std::sqrt(to_float(x)));
    }
};

struct ReluOp {
    template <typename T>
    T operator()(const T& x) const {
        if constexpr (is_float_type<T>()) {
            if (is_nan_value(x)) {
                return kNanSkips ? T(0.0f) : x;
            }
            return to_float(x) > 0.0f ? x : T(0.0f);
        } else {
            return x > 0 ? x : T(0);
        }
    }
};

struct NotOp {
    template <typename T>
    T operator()(const T& x) const {
        return static_cast<T>(~x);
    }
};

/// `op(x, scalar)` for the tensor-scalar instructions.
template <typename Op, typename T>
struct WithScalar {
    T scalar;
    T operator()(const T& x) const { return Op()(x, scalar); }
};

template <typename T>
struct LeakyReluOp {
    T slope;
    T operator()(const T& x) const {
        const float value = to_float(x);
        return value >= 0.0f ? x : from_float<T>(value * to_float(slope));
    }
};

template <typename T>
struct ShiftLeftOp {
    T amount;
    T operator()(const T& x) const {
        using U = typename std::make_unsigned<T>::type;
        return static_cast<T>(static_cast<U>(x) << static_cast<int>(amount));
    }
};

template <typename T>
struct ShiftRightOp {
    T amount;
    T operator()(const T& x) const { return static_cast<T>(x >> static_cast<int>(amount)); }
};

// ---- the iteration engines ---------------------------------------------------------------------------------

/// Elements per block of the blockwise loops of the count forms.
constexpr uint32_t kBlockwise = 64;

/// Whether an element-by-element pass over `n` elements gives the same result when done in blocks (all of a
/// block read before any of it is written): the source is the destination itself (same element size), or
/// the two do not overlap.
template <typename D, typename S>
inline bool blockwise_safe(const D* dst, const S* src, uint64_t n) {
    const uint64_t d = address_of(dst);
    const uint64_t s = address_of(src);
    if (sizeof(D) == sizeof(S) && d == s) {
        return true;
    }
    return d + n * sizeof(D) <= s || s + n * sizeof(S) <= d;
}

template <typename T, typename F>
inline void binary_level0(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                          const Mask& mask, uint32_t repeatTime, const AscendC::BinaryRepeatParams& p, F f) {
    check_vector_operand(call, "dst", dst);
    check_vector_operand(call, "src0", src0);
    check_vector_operand(call, "src1", src1);
    check_repeat(call, repeatTime);
    if (p.dstBlkStride == 0) {
        violation(call, "dstBlkStride must not be 0");
    }
    constexpr uint32_t epr = per_repeat<T>();
    const Lanes<epr> lanes(mask, repeatTime);
    const StridedOperand<T, epr> a(lanes, p.src0BlkStride, p.src0RepStride);
    const StridedOperand<T, epr> b(lanes, p.src1BlkStride, p.src1RepStride);
    const StridedOperand<T, epr> d(lanes, p.dstBlkStride, p.dstRepStride);
    race_strided("src0", src0, lanes, a);
    race_strided("src1", src1, lanes, b);
    race_strided("dst", dst, lanes, d);
    if (a.end > src0.size_ || b.end > src1.size_ || d.end > dst.size_) {
        // Some element lies outside its tensor: walk element by element, which reports the first one (after
        // writing the elements before it, as the instruction would).
        for (uint32_t r = 0; r < lanes.repeats; ++r) {
            for (uint32_t j = 0; j < epr; ++j) {
                if (!mask.active(r, j, epr)) {
                    continue;
                }
                const T x = element(call, "src0", src0, strided_index<T>(r, j, p.src0BlkStride, p.src0RepStride));
                const T y = element(call, "src1", src1, strided_index<T>(r, j, p.src1BlkStride, p.src1RepStride));
                element(call, "dst", dst, strided_index<T>(r, j, p.dstBlkStride, p.dstRepStride)) = f(x, y);
            }
        }
        return;
    }
    if (g_timing_only) {
        return;  // Checked and traced; no arithmetic in timing-only mode (trace.h).
    }
    // Checked once above; the same order of reads and writes as the element-by-element walk (operands may
    // overlap).
    const bool contiguous = a.contiguous && b.contiguous && d.contiguous;
    for (uint32_t r = 0; r < lanes.repeats; ++r) {
        const uint32_t n = lanes.in_repeat(r);
        const T* ap = src0.ptr_ + r * a.step;
        const T* bp = src1.ptr_ + r * b.step;
        T* dp = dst.ptr_ + r * d.step;
        if (contiguous) {
            for (uint32_t k = 0; k < n; ++k) {
                const T x = ap[k];
                const T y = bp[k];
                dp[k] = f(x, y);
            }
        } else {
            for (uint32_t k = 0; k < n; ++k) {
                const T x = ap[a.offset[k]];
                const T y = bp[b.offset[k]];
                dp[d.offset[k]] = f(x, y);
            }
        }
    }
}

template <typename T, typename F>
inline void binary_count(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                         int32_t count, F f) {
    const uint32_t n = check_count(call, count);
    check_vector_operand(call, "dst", dst);
    check_vector_operand(call, "src0", src0);
    check_vector_operand(call, "src1", src1);
    check_elements(call, "dst", dst, n);
    check_elements(call, "src0", src0, n);
    check_elements(call, "src1", src1, n);
    if (g_timing_only) {
        return;  // Checked and traced; no arithmetic in timing-only mode (trace.h).
    }
    T* out = dst.ptr_;
    const T* in0 = src0.ptr_;
    const T* in1 = src1.ptr_;
    uint32_t i = 0;
    if (blockwise_safe(out, in0, n) && blockwise_safe(out, in1, n)) {
        // As in unary_count: blocks through local copies, which the compiler can vectorize.
        for (; i + kBlockwise <= n; i += kBlockwise) {
            T x[kBlockwise];
            T y[kBlockwise];
            T z[kBlockwise];
            std::memcpy(static_cast<void*>(x), in0 + i, sizeof(x));
            std::memcpy(static_cast<void*>(y), in1 + i, sizeof(y));
            for (uint32_t k = 0; k < kBlockwise; ++k) {
                z[k] = f(x[k], y[k]);
            }
            std::memcpy(static_cast<void*>(out + i), z, sizeof(z));
        }
    }
    for (; i < n; ++i) {
        out[i] = f(in0[i], in1[i]);
    }
}

template <typename D, typename S, typename F>
inline void unary_level0(const char* call, const LocalTensor<D>& dst, const LocalTensor<S>& src, const Mask& mask,
                         uint32_t repeatTime, const AscendC::UnaryRepeatParams& p, F f) {
    check_vector_operand(call, "dst", dst);
    check_vector_operand(call, "src", src);
    check_repeat(call, repeatTime);
    if (p.dstBlkStride == 0) {
        violation(call, "dstBlkStride must not be 0");
    }
    constexpr uint32_t epr = per_repeat<D>() < per_repeat<S>() ? per_repeat<D>() : per_repeat<S>();
    const Lanes<epr> lanes(mask, repeatTime);
    const StridedOperand<S, epr> a(lanes, p.srcBlkStride, p.srcRepStride);
    const StridedOperand<D, epr> d(lanes, p.dstBlkStride, p.dstRepStride);
    race_strided("src", src, lanes, a);
    race_strided("dst", dst, lanes, d);
    if (a.end > src.size_ || d.end > dst.size_) {
        // Some element lies outside its tensor: walk element by element, which reports the first one.
        for (uint32_t r = 0; r < lanes.repeats; ++r) {
            for (uint32_t j = 0; j < epr; ++j) {
                if (!mask.active(r, j, epr)) {
                    continue;
                }
                const S x = element(call, "src", src, strided_index<S>(r, j, p.srcBlkStride, p.srcRepStride));
                element(call, "dst", dst, strided_index<D>(r, j, p.dstBlkStride, p.dstRepStride)) = f(x);
            }
        }
        return;
    }
    if (g_timing_only) {
        return;  // Checked and traced; no arithmetic in timing-only mode (trace.h).
    }
    const bool contiguous = a.contiguous && d.contiguous;
    for (uint32_t r = 0; r < lanes.repeats; ++r) {
        const uint32_t n = lanes.in_repeat(r);
        const S* ap = src.ptr_ + r * a.step;
        D* dp = dst.ptr_ + r * d.step;
        if (contiguous) {
            for (uint32_t k = 0; k < n; ++k) {
                const S x = ap[k];
                dp[k] = f(x);
            }
        } else {
            for (uint32_t k = 0; k < n; ++k) {
                const S x = ap[a.offset[k]];
                dp[d.offset[k]] = f(x);
            }
        }
    }
}

template <typename D, typename S, typename F>
inline void unary_count(const char* call, const LocalTensor<D>& dst, const LocalTensor<S>& src, int64_t count, F f) {
    const uint32_t n = check_count(call, count);
    check_vector_operand(call, "dst", dst);
    check_vector_operand(call, "src", src);
    check_elements(call, "dst", dst, n);
    check_elements(call, "src", src, n);
    if (g_timing_only) {
        return;  // Checked and traced; no arithmetic in timing-only mode (trace.h).
    }
    D* out = dst.ptr_;
    const S* in = src.ptr_;
    uint32_t i = 0;
    if (blockwise_safe(out, in, n)) {
        // Blocks of kBlockwise elements through local copies: no aliasing and a fixed trip count, so the
        // compiler can vectorize the element function.
        for (; i + kBlockwise <= n; i += kBlockwise) {
            S x[kBlockwise];
            D y[kBlockwise];
            std::memcpy(static_cast<void*>(x), in + i, sizeof(x));
            for (uint32_t k = 0; k < kBlockwise; ++k) {
                y[k] = f(x[k]);
            }
            std::memcpy(static_cast<void*>(out + i), y, sizeof(y));
        }
    }
    for (; i < n; ++i) {
        out[i] = f(in[i]);
    }
}

// ---- Cast -------------------------------------------------------------------------------------------------------

constexpr uint32_t kModeNone = 1u << 0;
constexpr uint32_t kModeRint = 1u << 1;
constexpr uint32_t kModeFloor = 1u << 2;
constexpr uint32_t kModeCeil = 1u << 3;
constexpr uint32_t kModeRound = 1u << 4;
constexpr uint32_t kModeTrunc = 1u << 5;
constexpr uint32_t kModeOdd = 1u << 6;
constexpr uint32_t kModeR5 = kModeRint | kModeFloor | kModeCeil | kModeRound | kModeTrunc;

/// Round modes Cast supports from S to D on Atlas A2 (CANN 8.5 Cast table 4), as a bit set.
template <typename D, typename S>
constexpr uint32_t cast_modes() {
    using std::is_same;
    if (is_same<S, half>::value) {
        if (is_same<D, int32_t>::value || is_same<D, int16_t>::value) return kModeR5;
        if (is_same<D, float>::value) return kModeNone;
        if (is_same<D, int8_t>::value || is_same<D, uint8_t>::value) return kModeR5 | kModeNone;
    }
    if (is_same<S, float>::value) {
        if (is_same<D, float>::value || is_same<D, int32_t>::value || is_same<D, int64_t>::value ||
            is_same<D, int16_t>::value || is_same<D, bfloat16_t>::value)
            return kModeR5;
        if (is_same<D, half>::value) return kModeR5 | kModeOdd | kModeNone;
    }
    if (is_same<S, bfloat16_t>::value) {
        if (is_same<D, float>::value) return kModeNone;
        if (is_same<D, int32_t>::value) return kModeR5;
    }
    if ((is_same<S, uint8_t>::value || is_same<S, int8_t>::value) && is_same<D, half>::value) return kModeNone;
    if (is_same<S, int16_t>::value) {
        if (is_same<D, half>::value) return kModeR5 | kModeNone;
        if (is_same<D, float>::value) return kModeNone;
    }
    if (is_same<S, int32_t>::value) {
        if (is_same<D, float>::value) return kModeR5 | kModeNone;
        if (is_same<D, int16_t>::value || is_same<D, int64_t>::value) return kModeNone;
    }
    if (is_same<S, int64_t>::value) {
        if (is_same<D, int32_t>::value) return kModeNone;
        if (is_same<D, float>::value) return kModeR5;
    }
    return 0;
}

inline const char* round_mode_name(AscendC::RoundMode mode) {
    static const char* const names[] = {"CAST_NONE", "CAST_RINT", "CAST_FLOOR", "CAST_CEIL", "CAST_ROUND", "CAST_TRUNC", "CAST_ODD"};
    const unsigned index = static_cast<unsigned>(mode);
    return index < 7 ? names[index] : "unknown";
}

template <typename T>
constexpr const char* type_name() {
    return std::is_same<T, float>::value        ? "float"
           : std::is_same<T, half>::value       ? "half"
           : std::is_same<T, bfloat16_t>::value ? "bfloat16_t"
           : std::is_same<T, int64_t>::value    ? "int64_t"
           : std::is_same<T, int32_t>::value    ? "int32_t"
           : std::is_same<T, int16_t>::value    ? "int16_t"
           : std::is_same<T, int8_t>::value     ? "int8_t"
           : std::is_same<T, uint8_t>::value    ? "uint8_t"
           : std::is_same<T, uint16_t>::value   ? "uint16_t"
           : std::is_same<T, uint32_t>::value   ? "uint32_t"
                                                : "?";
}

/// Rounds `q` to an integer (as double) in the given mode; CAST_NONE rounds like CAST_RINT.
inline double round_integral(double q, AscendC::RoundMode mode) {
    using AscendC::RoundMode;
    switch (mode) {
        case RoundMode::CAST_FLOOR: return std::floor(q);
        case RoundMode::CAST_CEIL: return std::ceil(q);
        case RoundMode::CAST_ROUND: return std::round(q);
        case RoundMode::CAST_TRUNC: return std::trunc(q);
        case RoundMode::CAST_ODD: {
            double t = std::trunc(q);
            if (t != q && std::fmod(t, 2.0) == 0.0) {
                t += q > 0 ? 1.0 : -1.0;
            }
            return t;
        }
        default: return std::nearbyint(q);
    }
}

/// Rounds the double `x` to a binary format with `precision` significand bits, minimum normal exponent
/// `min_exp` and maximum exponent `max_exp`. Finite overflow follows IEEE 754 for the rounding direction (the
/// Atlas A2 default INF/NaN mode, not the legacy saturation mode; see the README).
inline double round_to_format(double x, int precision, int min_exp, int max_exp, AscendC::RoundMode mode) {
    using AscendC::RoundMode;
    if (!std::isfinite(x) || x == 0.0) {
        return x;
    }
    int exponent = std::ilogb(x);
    if (exponent < min_exp) {
        exponent = min_exp;
    }
    const double quantum = std::ldexp(1.0, exponent - (precision - 1));
    const double result = round_integral(x / quantum, mode) * quantum;
    const double largest = std::ldexp(2.0 - std::ldexp(1.0, 1 - precision), max_exp);
    if (std::fabs(result) <= largest) {
        return result;
    }
    const double infinity = std::copysign(HUGE_VAL, x);
    switch (mode) {
        case RoundMode::CAST_TRUNC:
        case RoundMode::CAST_ODD: return std::copysign(largest, x);
        case RoundMode::CAST_FLOOR: return x > 0 ? largest : infinity;
        case RoundMode::CAST_CEIL: return x > 0 ? infinity : -largest;
        default: return infinity;
    }
}

/// A 16-bit float widened to binary32 as `cast_value`'s general path does it (through double): exact, and a
/// NaN comes back with its quiet bit set.
inline float widen_quieted(float value) {
    const uint32_t bits = float_bits(value);
    return (bits & 0x7fffffffu) > 0x7f800000u ? bits_float(bits | 0x00400000u) : value;
}

/// binary32 to bfloat16 bits in `mode` (not CAST_ODD), with integer operations on the bit pattern. Overflow
/// follows IEEE 754 for the rounding direction (the Atlas A2 default INF/NaN mode, see the README): ties
/// to even, ties away and toward the overflow's sign give infinity, toward zero the largest finite value. Gives
/// the same bits as `round_to_format(x, 8, -126, 127, mode)` followed by truncation (NaN: quiet NaN
/// with the upper payload bits, as `float_to_bf16_bits`).
inline uint16_t float_to_bf16_mode(float value, AscendC::RoundMode mode) {
    // Branch-free (selects only) so that the loops of Cast vectorize once the mode is a constant.
    using AscendC::RoundMode;
    const uint32_t x = float_bits(value);
    const uint32_t sign = x & 0x80000000u;
    const uint32_t magnitude = x & 0x7fffffffu;
    const uint32_t truncated = magnitude & 0xffff0000u;
    const uint32_t rest = magnitude & 0xffffu;
    uint32_t rounded = truncated;
    switch (mode) {
        case RoundMode::CAST_TRUNC: break;
        case RoundMode::CAST_FLOOR: rounded += (sign != 0 && rest != 0) ? 0x10000u : 0u; break;
        case RoundMode::CAST_CEIL: rounded += (sign == 0 && rest != 0) ? 0x10000u : 0u; break;
        case RoundMode::CAST_ROUND: rounded += rest >= 0x8000u ? 0x10000u : 0u; break;
        default:
            // Ties to even; a carry out of the significand correctly bumps the exponent.
            rounded = (magnitude + 0x7fffu + ((magnitude >> 16) & 1u)) & 0xffff0000u;
            break;
    }
    // A carry out of the largest finite magnitude lands exactly on the infinity pattern 0x7f800000, which is
    // the IEEE result of overflow in every mode that rounds away from zero; infinities stay.
    rounded = magnitude == 0x7f800000u ? magnitude : rounded;
    const uint32_t finite = (sign | rounded) >> 16;
    const uint32_t nan = (x >> 16) | 0x40u;
    return static_cast<uint16_t>(magnitude > 0x7f800000u ? nan : finite);
}

/// binary32 to half bits with ties to even (CAST_RINT, and CAST_NONE which rounds the same way); overflow
/// gives infinity (IEEE, the INF/NaN mode): the same bits as `cast_value`'s general path for these modes.
inline uint16_t float_to_half_rint(float value) {
    return float_to_half_bits(value);
}

/// One element of Cast, the general path: rounds through double (slow; see `cast_value` for the fast paths).
template <typename D, typename S>
inline D cast_value_general(const S& value, AscendC::RoundMode mode) {
    const double x = to_double(value);
    if constexpr (std::is_same<D, float>::value) {
        if constexpr (std::is_same<S, float>::value) {
            return std::isfinite(x) ? static_cast<float>(round_integral(x, mode)) : value;
        } else {
            return static_cast<float>(round_to_format(x, 24, -126, 127, mode));
        }
    } else if constexpr (std::is_same<D, half>::value) {
        half result;
        result.val = float_to_half_bits(static_cast<float>(round_to_format(x, 11, -14, 15, mode)));
        return result;
    } else if constexpr (std::is_same<D, bfloat16_t>::value) {
        bfloat16_t result;
        const float rounded = static_cast<float>(round_to_format(x, 8, -126, 127, mode));
        result.val = std::isnan(rounded) ? float_to_bf16_bits(rounded) : static_cast<uint16_t>(float_bits(rounded) >> 16);
        return result;
    } else {
        if (std::isnan(x)) {
            return D(0);
        }
        const double rounded = round_integral(x, mode);
        const double low = static_cast<double>(std::numeric_limits<D>::min());
        const double high = static_cast<double>(std::numeric_limits<D>::max());
        if (rounded <= low) {
            return std::numeric_limits<D>::min();
        }
        if (rounded >= high) {
            return std::numeric_limits<D>::max();
        }
        return static_cast<D>(rounded);
    }
}

/// One element of Cast.
template <typename D, typename S>
inline D cast_value(const S& value, AscendC::RoundMode mode) {
    // Fast paths for the conversions of 16-bit float kernels; each gives exactly the bits of the general path
    // below (the runtime tests pin them).
    if constexpr (std::is_same<D, float>::value && is_half_like<S>::value) {
        // Exact widening; only CAST_NONE is allowed.
        return widen_quieted(value.ToFloat());
    } else if constexpr (std::is_same<D, bfloat16_t>::value && std::is_same<S, float>::value) {
        bfloat16_t result;
        result.val = float_to_bf16_mode(value, mode);
        return result;
    } else if constexpr (std::is_same<D, half>::value && std::is_same<S, float>::value) {
        if (mode == AscendC::RoundMode::CAST_RINT || mode == AscendC::RoundMode::CAST_NONE) {
            half result;
            result.val = float_to_half_rint(value);
            return result;
        }
    } else if constexpr (std::is_same<D, float>::value && std::is_same<S, int32_t>::value) {
        if (mode == AscendC::RoundMode::CAST_RINT || mode == AscendC::RoundMode::CAST_NONE) {
            // The hardware conversion rounds to nearest even (the default floating-point environment).
            return static_cast<float>(value);
        }
    }
    return cast_value_general<D, S>(value, mode);
}

/// Calls `run(std::integral_constant<AscendC::RoundMode, m>())` for the run-time mode `mode`, so that the
/// per-element conversion of a Cast is compiled with its mode fixed (no per-element dispatch on the mode).
template <typename Run>
inline void with_round_mode(AscendC::RoundMode mode, Run&& run) {
    using AscendC::RoundMode;
    switch (mode) {
        case RoundMode::CAST_NONE: run(std::integral_constant<RoundMode, RoundMode::CAST_NONE>()); return;
        case RoundMode::CAST_RINT: run(std::integral_constant<RoundMode, RoundMode::CAST_RINT>()); return;
        case RoundMode::CAST_FLOOR: run(std::integral_constant<RoundMode, RoundMode::CAST_FLOOR>()); return;
        case RoundMode::CAST_CEIL: run(std::integral_constant<RoundMode, RoundMode::CAST_CEIL>()); return;
        case RoundMode::CAST_ROUND: run(std::integral_constant<RoundMode, RoundMode::CAST_ROUND>()); return;
        case RoundMode::CAST_TRUNC: run(std::integral_constant<RoundMode, RoundMode::CAST_TRUNC>()); return;
        default: run(std::integral_constant<RoundMode, RoundMode::CAST_ODD>()); return;
    }
}

template <typename D, typename S>
inline void check_cast_mode(const char* call, AscendC::RoundMode mode) {
    const unsigned index = static_cast<unsigned>(mode);
    if (index >= 7 || !(cast_modes<D, S>() & (1u << index))) {
        violation(call, "Cast from %s to %s does not support RoundMode::%s on Atlas A2", type_name<S>(), type_name<D>(),
                  round_mode_name(mode));
    }
}

}  // namespace moge_emu

namespace AscendC {

// Level-0 (two mask forms) and count form of a binary instruction.
#define MOGE_BINARY(NAME, OP, TYPES)                                                                                   \
    template <typename T, bool isSetMask = true>                                                                       \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, uint64_t mask[], \
                     const uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {                               \
        static_assert(moge_emu::one_of<T, TYPES>(), #NAME ": element type not supported on Atlas A2");                \
        moge_emu::binary_level0(#NAME, dst, src0, src1,                                                                \
                                moge_emu::bits_mask(#NAME, mask, moge_emu::per_repeat<T>(), isSetMask), repeatTime,    \
                                repeatParams, moge_emu::OP());                                                         \
    }                                                                                                                  \
    template <typename T, bool isSetMask = true>                                                                       \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, uint64_t mask,   \
                     const uint8_t repeatTime, const BinaryRepeatParams& repeatParams) {                               \
        static_assert(moge_emu::one_of<T, TYPES>(), #NAME ": element type not supported on Atlas A2");                \
        moge_emu::binary_level0(#NAME, dst, src0, src1,                                                                \
                                moge_emu::continuous_mask(#NAME, mask, moge_emu::per_repeat<T>(), isSetMask),          \
                                repeatTime, repeatParams, moge_emu::OP());                                             \
    }                                                                                                                  \
    template <typename T>                                                                                              \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,                \
                     const int32_t& count) {                                                                           \
        static_assert(moge_emu::one_of<T, TYPES>(), #NAME ": element type not supported on Atlas A2");                \
        moge_emu::binary_count(#NAME, dst, src0, src1, count, moge_emu::OP());                                         \
    }

MOGE_BINARY(Add, AddOp, MOGE_TYPES_ARITH)
MOGE_BINARY(Sub, SubOp, MOGE_TYPES_ARITH)
MOGE_BINARY(Mul, MulOp, MOGE_TYPES_ARITH)
MOGE_BINARY(Div, DivOp, MOGE_TYPES_FLOAT)
MOGE_BINARY(Max, MaxOp, MOGE_TYPES_ARITH)
MOGE_BINARY(Min, MinOp, MOGE_TYPES_ARITH)
MOGE_BINARY(And, AndOp, MOGE_EMU_COMMA_LIST(int16_t, uint16_t))
MOGE_BINARY(Or, OrOp, MOGE_EMU_COMMA_LIST(int16_t, uint16_t))
MOGE_BINARY(AddRelu, AddReluOp, MOGE_TYPES_ARITH)
MOGE_BINARY(SubRelu, SubReluOp, MOGE_TYPES_ARITH)

#undef MOGE_BINARY

// Tensor-scalar instructions: dst = op(src, scalar).
#define MOGE_SCALAR(NAME, MAKE_OP, TYPES)                                                                              \
    template <typename T, bool isSetMask = true>                                                                       \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask[],       \
                     const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {                                \
        static_assert(moge_emu::one_of<T, TYPES>(), #NAME ": element type not supported on Atlas A2");                \
        moge_emu::unary_level0(#NAME, dst, src, moge_emu::bits_mask(#NAME, mask, moge_emu::per_repeat<T>(), isSetMask), \
                               repeatTime, repeatParams, MAKE_OP);                                                     \
    }                                                                                                                  \
    template <typename T, bool isSetMask = true>                                                                       \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask,         \
                     const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {                                \
        static_assert(moge_emu::one_of<T, TYPES>(), #NAME ": element type not supported on Atlas A2");                \
        moge_emu::unary_level0(#NAME, dst, src,                                                                        \
                               moge_emu::continuous_mask(#NAME, mask, moge_emu::per_repeat<T>(), isSetMask),           \
                               repeatTime, repeatParams, MAKE_OP);                                                     \
    }                                                                                                                  \
    template <typename T, bool isSetMask = true>                                                                       \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, const int32_t& count) { \
        static_assert(moge_emu::one_of<T, TYPES>(), #NAME ": element type not supported on Atlas A2");                \
        moge_emu::unary_count(#NAME, dst, src, count, MAKE_OP);                                                        \
    }

MOGE_SCALAR(Adds, (moge_emu::WithScalar<moge_emu::AddOp, T>{scalarValue}), MOGE_TYPES_ARITH)
MOGE_SCALAR(Muls, (moge_emu::WithScalar<moge_emu::MulOp, T>{scalarValue}), MOGE_TYPES_ARITH)
MOGE_SCALAR(Maxs, (moge_emu::WithScalar<moge_emu::MaxOp, T>{scalarValue}), MOGE_TYPES_ARITH)
MOGE_SCALAR(Mins, (moge_emu::WithScalar<moge_emu::MinOp, T>{scalarValue}), MOGE_TYPES_ARITH)
MOGE_SCALAR(LeakyRelu, (moge_emu::LeakyReluOp<T>{scalarValue}), MOGE_TYPES_FLOAT)
MOGE_SCALAR(ShiftLeft, (moge_emu::ShiftLeftOp<T>{scalarValue}), MOGE_EMU_COMMA_LIST(int16_t, uint16_t, int32_t, uint32_t))

#undef MOGE_SCALAR

template <typename T, bool isSetMask = true>
inline void ShiftRight(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask[],
                       const uint8_t repeatTime, const UnaryRepeatParams& repeatParams, bool roundEn = false) {
    static_assert(moge_emu::one_of<T, int16_t, uint16_t, int32_t, uint32_t>(), "ShiftRight: element type not supported");
    (void)roundEn;
    moge_emu::unary_level0("ShiftRight", dst, src, moge_emu::bits_mask("ShiftRight", mask, moge_emu::per_repeat<T>(), isSetMask),
                           repeatTime, repeatParams, moge_emu::ShiftRightOp<T>{scalarValue});
}

template <typename T, bool isSetMask = true>
inline void ShiftRight(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, uint64_t mask,
                       const uint8_t repeatTime, const UnaryRepeatParams& repeatParams, bool roundEn = false) {
    static_assert(moge_emu::one_of<T, int16_t, uint16_t, int32_t, uint32_t>(), "ShiftRight: element type not supported");
    (void)roundEn;
    moge_emu::unary_level0("ShiftRight", dst, src,
                           moge_emu::continuous_mask("ShiftRight", mask, moge_emu::per_repeat<T>(), isSetMask), repeatTime,
                           repeatParams, moge_emu::ShiftRightOp<T>{scalarValue});
}

template <typename T, bool isSetMask = true>
inline void ShiftRight(const LocalTensor<T>& dst, const LocalTensor<T>& src, const T& scalarValue, const int32_t& count) {
    static_assert(moge_emu::one_of<T, int16_t, uint16_t, int32_t, uint32_t>(), "ShiftRight: element type not supported");
    moge_emu::unary_count("ShiftRight", dst, src, count, moge_emu::ShiftRightOp<T>{scalarValue});
}

// Unary instructions.
#define MOGE_UNARY(NAME, OP, TYPES)                                                                                    \
    template <typename T, bool isSetMask = true>                                                                       \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint64_t mask[], const uint8_t repeatTime,   \
                     const UnaryRepeatParams& repeatParams) {                                                          \
        static_assert(moge_emu::one_of<T, TYPES>(), #NAME ": element type not supported on Atlas A2");                \
        moge_emu::unary_level0(#NAME, dst, src, moge_emu::bits_mask(#NAME, mask, moge_emu::per_repeat<T>(), isSetMask), \
                               repeatTime, repeatParams, moge_emu::OP());                                              \
    }                                                                                                                  \
    template <typename T, bool isSetMask = true>                                                                       \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, uint64_t mask, const uint8_t repeatTime,     \
                     const UnaryRepeatParams& repeatParams) {                                                          \
        static_assert(moge_emu::one_of<T, TYPES>(), #NAME ": element type not supported on Atlas A2");                \
        moge_emu::unary_level0(#NAME, dst, src,                                                                        \
                               moge_emu::continuous_mask(#NAME, mask, moge_emu::per_repeat<T>(), isSetMask),           \
                               repeatTime, repeatParams, moge_emu::OP());                                              \
    }                                                                                                                  \
    template <typename T>                                                                                              \
    inline void NAME(const LocalTensor<T>& dst, const LocalTensor<T>& src, const int32_t& count) {                     \
        static_assert(moge_emu::one_of<T, TYPES>(), #NAME ": element type not supported on Atlas A2");                \
        moge_emu::unary_count(#NAME, dst, src, count, moge_emu::OP());                                                 \
    }

MOGE_UNARY(Exp, ExpOp, MOGE_TYPES_FLOAT)
MOGE_UNARY(Ln, LnOp, MOGE_TYPES_FLOAT)
MOGE_UNARY(Abs, AbsOp, MOGE_TYPES_FLOAT)
MOGE_UNARY(Reciprocal, ReciprocalOp, MOGE_TYPES_FLOAT)
MOGE_UNARY(Sqrt, SqrtOp, MOGE_TYPES_FLOAT)
MOGE_UNARY(Rsqrt, RsqrtOp, MOGE_TYPES_FLOAT)
MOGE_UNARY(Relu, ReluOp, MOGE_EMU_COMMA_LIST(half, int32_t, float))
MOGE_UNARY(Not, NotOp, MOGE_EMU_COMMA_LIST(int16_t, uint16_t))

#undef MOGE_UNARY

// ---- ternary: dst = f(dst, src0, src1) ---------------------------------------------------------------------------

namespace moge_detail {
template <typename T>
struct FusedMulAddState {
    template <typename F>
    static void count(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                      int32_t count, F f) {
        const uint32_t n = moge_emu::check_count(call, count);
        moge_emu::check_vector_operand(call, "dst", dst);
        moge_emu::check_vector_operand(call, "src0", src0);
        moge_emu::check_vector_operand(call, "src1", src1);
        moge_emu::check_elements(call, "dst", dst, n);
        moge_emu::check_elements(call, "src0", src0, n);
        moge_emu::check_elements(call, "src1", src1, n);
        for (uint32_t i = 0; i < n; ++i) {
            dst.ptr_[i] = f(dst.ptr_[i], src0.ptr_[i], src1.ptr_[i]);
        }
    }
};
}  // namespace moge_detail

/// dst = src0 * dst + src1.
template <typename T>
inline void FusedMulAdd(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                        const int32_t& count) {
    static_assert(moge_emu::one_of<T, half, float>(), "FusedMulAdd: element type not supported on Atlas A2");
    moge_detail::FusedMulAddState<T>::count("FusedMulAdd", dst, src0, src1, count, [](const T& d, const T& a, const T& b) {
        return moge_emu::from_float<T>(moge_emu::to_float(a) * moge_emu::to_float(d) + moge_emu::to_float(b));
    });
}

/// dst = max(src0 * dst + src1, 0).
template <typename T>
inline void FusedMulAddRelu(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1,
                            const int32_t& count) {
    static_assert(moge_emu::one_of<T, half, float>(), "FusedMulAddRelu: element type not supported on Atlas A2");
    moge_detail::FusedMulAddState<T>::count("FusedMulAddRelu", dst, src0, src1, count, [](const T& d, const T& a, const T& b) {
        const float value = moge_emu::to_float(a) * moge_emu::to_float(d) + moge_emu::to_float(b);
        return moge_emu::from_float<T>(value > 0.0f ? value : 0.0f);
    });
}

/// dst += src0 * src1 (dst may be float with half sources).
template <typename T, typename U>
inline void MulAddDst(const LocalTensor<T>& dst, const LocalTensor<U>& src0, const LocalTensor<U>& src1,
                      const int32_t& count) {
    static_assert(moge_emu::one_of<T, half, float>() && moge_emu::one_of<U, half, float>(),
                  "MulAddDst: element type not supported on Atlas A2");
    const char* call = "MulAddDst";
    const uint32_t n = moge_emu::check_count(call, count);
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src0", src0);
    moge_emu::check_vector_operand(call, "src1", src1);
    moge_emu::check_elements(call, "dst", dst, n);
    moge_emu::check_elements(call, "src0", src0, n);
    moge_emu::check_elements(call, "src1", src1, n);
    for (uint32_t i = 0; i < n; ++i) {
        dst.ptr_[i] = moge_emu::from_float<T>(moge_emu::to_float(dst.ptr_[i]) +
                                              moge_emu::to_float(src0.ptr_[i]) * moge_emu::to_float(src1.ptr_[i]));
    }
}

/// dst += scalar * src (dst may be float with a half source).
template <typename T, typename U>
inline void Axpy(const LocalTensor<T>& dst, const LocalTensor<U>& src, const U& scalarValue, const int32_t& count) {
    static_assert(moge_emu::one_of<T, half, float>() && moge_emu::one_of<U, half, float>(),
                  "Axpy: element type not supported on Atlas A2");
    const char* call = "Axpy";
    const uint32_t n = moge_emu::check_count(call, count);
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src", src);
    moge_emu::check_elements(call, "dst", dst, n);
    moge_emu::check_elements(call, "src", src, n);
    const float scalar = moge_emu::to_float(scalarValue);
    for (uint32_t i = 0; i < n; ++i) {
        dst.ptr_[i] = moge_emu::from_float<T>(moge_emu::to_float(dst.ptr_[i]) + scalar * moge_emu::to_float(src.ptr_[i]));
    }
}

// ---- Duplicate, CreateVecIndex, Brcb ---------------------------------------------------------------------------------

#define MOGE_TYPES_DUP int16_t, uint16_t, half, bfloat16_t, int32_t, uint32_t, float

namespace moge_detail {
template <typename T>
inline void duplicate_level0(const char* call, const LocalTensor<T>& dst, const T& value, const moge_emu::Mask& mask,
                             uint32_t repeatTime, uint32_t dstBlockStride, uint32_t dstRepeatStride) {
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_repeat(call, repeatTime);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    const moge_emu::Lanes<epr> lanes(mask, repeatTime);
    const moge_emu::StridedOperand<T, epr> d(lanes, dstBlockStride, dstRepeatStride);
    moge_emu::race_strided("dst", dst, lanes, d);
    if (d.end > dst.size_) {
        // Some element lies outside the tensor: walk element by element, which reports the first one.
        for (uint32_t r = 0; r < lanes.repeats; ++r) {
            for (uint32_t j = 0; j < epr; ++j) {
                if (mask.active(r, j, epr)) {
                    moge_emu::element(call, "dst", dst, moge_emu::strided_index<T>(r, j, dstBlockStride, dstRepeatStride)) =
                        value;
                }
            }
        }
        return;
    }
    if (moge_emu::g_timing_only) {
        return;  // Checked and traced; no arithmetic in timing-only mode (trace.h).
    }
    for (uint32_t r = 0; r < lanes.repeats; ++r) {
        const uint32_t n = lanes.in_repeat(r);
        T* dp = dst.ptr_ + r * d.step;
        for (uint32_t k = 0; k < n; ++k) {
            dp[d.offset[k]] = value;
        }
    }
}
}  // namespace moge_detail

template <typename T, bool isSetMask = true>
inline void Duplicate(const LocalTensor<T>& dst, const T& scalarValue, uint64_t mask, const uint8_t repeatTime,
                      const uint16_t dstBlockStride, const uint8_t dstRepeatStride) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_DUP>(), "Duplicate: element type not supported on Atlas A2");
    moge_detail::duplicate_level0("Duplicate", dst, scalarValue,
                                  moge_emu::continuous_mask("Duplicate", mask, moge_emu::per_repeat<T>(), isSetMask),
                                  repeatTime, dstBlockStride, dstRepeatStride);
}

template <typename T, bool isSetMask = true>
inline void Duplicate(const LocalTensor<T>& dst, const T& scalarValue, uint64_t mask[], const uint8_t repeatTime,
                      const uint16_t dstBlockStride, const uint8_t dstRepeatStride) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_DUP>(), "Duplicate: element type not supported on Atlas A2");
    moge_detail::duplicate_level0("Duplicate", dst, scalarValue,
                                  moge_emu::bits_mask("Duplicate", mask, moge_emu::per_repeat<T>(), isSetMask), repeatTime,
                                  dstBlockStride, dstRepeatStride);
}

template <typename T>
inline void Duplicate(const LocalTensor<T>& dst, const T& scalarValue, const int32_t& count) {
    static_assert(moge_emu::one_of<T, MOGE_TYPES_DUP>(), "Duplicate: element type not supported on Atlas A2");
    const char* call = "Duplicate";
    const uint32_t n = moge_emu::check_count(call, count);
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_elements(call, "dst", dst, n);
    if (moge_emu::g_timing_only) {
        return;  // Checked and traced; no arithmetic in timing-only mode (trace.h).
    }
    for (uint32_t i = 0; i < n; ++i) {
        dst.ptr_[i] = scalarValue;
    }
}

/// dst[i] = firstValue + i.
template <typename T>
inline void CreateVecIndex(LocalTensor<T> dst, const T& firstValue, uint32_t count) {
    static_assert(moge_emu::one_of<T, int16_t, half, int32_t, float>(), "CreateVecIndex: element type not supported");
    const char* call = "CreateVecIndex";
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_elements(call, "dst", dst, count);
    for (uint32_t i = 0; i < count; ++i) {
        if constexpr (moge_emu::is_float_type<T>()) {
            dst.ptr_[i] = moge_emu::from_float<T>(moge_emu::to_float(firstValue) + static_cast<float>(i));
        } else {
            dst.ptr_[i] = static_cast<T>(firstValue + static_cast<T>(i));
        }
    }
}

template <typename T>
inline void CreateVecIndex(LocalTensor<T>& dst, const T& firstValue, uint64_t mask, uint8_t repeatTime,
                           uint16_t dstBlkStride, uint8_t dstRepStride) {
    static_assert(moge_emu::one_of<T, int16_t, half, int32_t, float>(), "CreateVecIndex: element type not supported");
    const char* call = "CreateVecIndex";
    const moge_emu::Mask m = moge_emu::continuous_mask(call, mask, moge_emu::per_repeat<T>(), true);
    moge_emu::check_vector_operand(call, "dst", dst);
    constexpr uint32_t epr = moge_emu::per_repeat<T>();
    for (uint32_t r = 0; r < repeatTime; ++r) {
        for (uint32_t j = 0; j < epr; ++j) {
            if (m.active(r, j, epr)) {
                const uint32_t index = r * epr + j;
                T value;
                if constexpr (moge_emu::is_float_type<T>()) {
                    value = moge_emu::from_float<T>(moge_emu::to_float(firstValue) + static_cast<float>(index));
                } else {
                    value = static_cast<T>(firstValue + static_cast<T>(index));
                }
                moge_emu::element(call, "dst", dst, moge_emu::strided_index<T>(r, j, dstBlkStride, dstRepStride)) = value;
            }
        }
    }
}

/// Strides of Brcb's destination, in 32-byte blocks.
struct BrcbRepeatParams {
    BrcbRepeatParams() {}
    BrcbRepeatParams(const uint16_t dstBlkStrideIn, const uint16_t dstRepStrideIn)
        : dstRepStride(dstRepStrideIn), dstBlkStride(dstBlkStrideIn) {}
    uint32_t blockNumber = DEFAULT_BLK_NUM;
    uint16_t dstRepStride = DEFAULT_REPEAT_STRIDE;
    uint16_t dstBlkStride = DEFAULT_BLK_STRIDE;
    uint8_t src0BlkStride = DEFAULT_BLK_STRIDE;
    uint8_t src1BlkStride = DEFAULT_BLK_STRIDE;
    uint8_t src0RepStride = DEFAULT_REPEAT_STRIDE;
    uint8_t src1RepStride = DEFAULT_REPEAT_STRIDE;
    bool repeatStrideMode = false;
    bool strideSizeMode = false;
};

/// Each repeat takes 8 elements of src0 and fills one 32-byte block of dst with each.
template <typename T>
inline void Brcb(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const uint8_t repeatTime,
                 const BrcbRepeatParams& repeatParams) {
    static_assert(moge_emu::one_of<T, int16_t, uint16_t, int32_t, uint32_t, half, bfloat16_t, float>(),
                  "Brcb: element type not supported on Atlas A2");
    const char* call = "Brcb";
    moge_emu::check_vector_operand(call, "dst", dst);
    moge_emu::check_vector_operand(call, "src0", src0);
    if (dst.ptr_ == src0.ptr_) {
        moge_emu::violation(call, "dst and src0 must not be the same memory");
    }
    moge_emu::check_elements(call, "src0", src0, static_cast<uint64_t>(repeatTime) * 8);
    constexpr uint32_t epb = moge_emu::per_block<T>();
    const uint32_t block_stride = repeatParams.dstBlkStride == 0 ? 1 : repeatParams.dstBlkStride;
    if (block_stride == 1) {
        // Eight consecutive blocks per repeat (other block strides keep the whole view: a superset).
        moge_emu::race_repeated("dst", dst, repeatTime, static_cast<uint64_t>(repeatParams.dstRepStride) * 32, 256);
    } else if (moge_emu::g_trace) {
        moge_emu::trace_vector_repeats(repeatTime);
    }
    for (uint32_t r = 0; r < repeatTime; ++r) {
        for (uint32_t b = 0; b < 8; ++b) {
            const T value = src0.ptr_[r * 8 + b];
            const uint64_t block = static_cast<uint64_t>(r) * repeatParams.dstRepStride + static_cast<uint64_t>(b) * block_stride;
            for (uint32_t e = 0; e < epb; ++e) {
                moge_emu::element(call, "dst", dst, block * epb + e) = value;
            }
        }
    }
}

// ---- Cast -------------------------------------------------------------------------------------------------------------

/// Converts `count` elements from U to T with the given rounding.
template <typename T, typename U>
inline void Cast(const LocalTensor<T>& dst, const LocalTensor<U>& src, const RoundMode& roundMode, const uint32_t count) {
    static_assert(moge_emu::cast_modes<T, U>() != 0, "Cast: this conversion is not supported on Atlas A2");
    const char* call = "Cast";
    moge_emu::check_cast_mode<T, U>(call, roundMode);
    moge_emu::with_round_mode(roundMode, [&](auto mode) {
        moge_emu::unary_count(call, dst, src, count, [](const U& x) { return moge_emu::cast_value<T, U>(x, decltype(mode)::value); });
    });
}

template <typename T, typename U, bool isSetMask = true>
inline void Cast(const LocalTensor<T>& dst, const LocalTensor<U>& src, const RoundMode& roundMode, const uint64_t mask[],
                 const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
    static_assert(moge_emu::cast_modes<T, U>() != 0, "Cast: this conversion is not supported on Atlas A2");
    const char* call = "Cast";
    moge_emu::check_cast_mode<T, U>(call, roundMode);
    constexpr uint32_t epr = moge_emu::per_repeat<T>() < moge_emu::per_repeat<U>() ? moge_emu::per_repeat<T>()
                                                                                   : moge_emu::per_repeat<U>();
    const moge_emu::Mask active = moge_emu::bits_mask(call, mask, epr, isSetMask);
    moge_emu::with_round_mode(roundMode, [&](auto mode) {
        moge_emu::unary_level0(call, dst, src, active, repeatTime, repeatParams,
                               [](const U& x) { return moge_emu::cast_value<T, U>(x, decltype(mode)::value); });
    });
}

template <typename T, typename U, bool isSetMask = true>
inline void Cast(const LocalTensor<T>& dst, const LocalTensor<U>& src, const RoundMode& roundMode, const uint64_t mask,
                 const uint8_t repeatTime, const UnaryRepeatParams& repeatParams) {
    static_assert(moge_emu::cast_modes<T, U>() != 0, "Cast: this conversion is not supported on Atlas A2");
    const char* call = "Cast";
    moge_emu::check_cast_mode<T, U>(call, roundMode);
    constexpr uint32_t epr = moge_emu::per_repeat<T>() < moge_emu::per_repeat<U>() ? moge_emu::per_repeat<T>()
                                                                                   : moge_emu::per_repeat<U>();
    const moge_emu::Mask active = moge_emu::continuous_mask(call, mask, epr, isSetMask);
    moge_emu::with_round_mode(roundMode, [&](auto mode) {
        moge_emu::unary_level0(call, dst, src, active, repeatTime, repeatParams,
                               [](const U& x) { return moge_emu::cast_value<T, U>(x, decltype(mode)::value); });
    });
}

#undef MOGE_TYPES_DUP

}  // namespace AscendC

#endif  // MOGE_EMU_VEC_ELEMENTWISE_H
