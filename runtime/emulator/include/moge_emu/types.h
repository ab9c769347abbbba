// moge CPU emulator of the Ascend C programming model: keywords, enums and the 16-bit float types.
//
// Written for moge from the public CANN 8.5 API documentation. Names, values and signatures follow the
// CANN 8.x kernel API (the CPU-debug flavour, where the address-space keywords are empty); the bodies are
// moge's own.
#ifndef MOGE_EMU_TYPES_H
#define MOGE_EMU_TYPES_H

#include <cmath>
#include <cstdint>
#include <cstring>

// ---- keywords ----------------------------------------------------------------------------------------
// On the host the kernel keywords and address spaces are empty, as in CANN's CPU-debug mode.
#define __global__
#define __aicore__
#define __gm__
#define __ubuf__
#define __cbuf__
#define __ca__
#define __cb__
#define __cc__
#define __fbuf__
#define __inout_pipe__(pipe)
#define __in_pipe__(pipe)
#define __out_pipe__(pipe)
#define __sync_alias__
#define GM_ADDR __gm__ uint8_t*

// ---- pipes and events (global enums, as in the CCE builtins) -----------------------------------------
typedef enum {
    PIPE_S = 0,
    PIPE_V,
    PIPE_M,
    PIPE_MTE1,
    PIPE_MTE2,
    PIPE_MTE3,
    PIPE_ALL,
    PIPE_MTE4 = 7,
    PIPE_MTE5 = 8,
    PIPE_V2 = 9,
    PIPE_FIX = 10,
} pipe_t;

typedef enum {
    EVENT_ID0 = 0,
    EVENT_ID1,
    EVENT_ID2,
    EVENT_ID3,
    EVENT_ID4,
    EVENT_ID5,
    EVENT_ID6,
    EVENT_ID7,
} event_t;

// ---- kernel types --------------------------------------------------------------------------------------
enum KernelMetaType : uint8_t {
    KERNEL_TYPE_AIV_ONLY,
    KERNEL_TYPE_AIC_ONLY,
    KERNEL_TYPE_MIX_AIV_1_0,
    KERNEL_TYPE_MIX_AIC_1_0,
    KERNEL_TYPE_MIX_AIC_1_1,
    KERNEL_TYPE_MIX_AIC_1_2,
    KERNEL_TYPE_AICORE,
    KERNEL_TYPE_VECTORCORE,
    KERNEL_TYPE_MIX_AICORE,
    KERNEL_TYPE_MIX_VECTOR_CORE,
    KERNEL_TYPE_MAX,
};

namespace moge_emu {
void set_kernel_type(KernelMetaType type);
}  // namespace moge_emu

// `KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);` is a statement in the kernel body. The emulator records
// the type so that `ASCEND_IS_AIV` / `ASCEND_IS_AIC` answer for the emulated core.
#define KERNEL_TASK_TYPE_DEFAULT(value) ::moge_emu::set_kernel_type(value)
#define KERNEL_TASK_TYPE(key, value) ::moge_emu::set_kernel_type(value)

namespace AscendC {
constexpr int32_t MIX = 0;
constexpr int32_t AIC = 1;
constexpr int32_t AIV = 2;
}  // namespace AscendC

// As in CANN's CPU-debug mode the core type is a run-time value (one per emulated core here).
inline thread_local int32_t g_coreType = AscendC::AIV;
#define ASCEND_IS_AIV (g_coreType == AscendC::AIV)
#define ASCEND_IS_AIC (g_coreType == AscendC::AIC)
#define ASCEND_IS_NOT_AIV (g_coreType != AscendC::AIV)
#define ASCEND_IS_NOT_AIC (g_coreType != AscendC::AIC)

// ---- 16-bit floats -------------------------------------------------------------------------------------
namespace moge_emu {

inline uint32_t float_bits(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof(bits));
    return bits;
}

inline float bits_float(uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
}

/// IEEE binary16 from binary32, round to nearest even; overflow gives infinity, NaN stays a (quiet) NaN.
inline uint16_t float_to_half_bits(float value) {
    uint32_t x = float_bits(value);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
    x &= 0x7fffffffu;
    if (x >= 0x7f800000u) {
        return static_cast<uint16_t>(sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u));
    }
    if (x >= 0x477ff000u) {
        // |value| >= 65520 rounds to infinity.
        return static_cast<uint16_t>(sign | 0x7c00u);
    }
    if (x < 0x38800000u) {
        // Below the smallest normal half (2^-14): count units of 2^-24, which is exact in binary32, and
        // round that count to nearest even. A count of 1024 is the encoding of the smallest normal.
        const float units = bits_float(x) * 16777216.0f;
        return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(units)));
    }
    const uint32_t odd = (x >> 13) & 1u;
    x += 0xfffu + odd;
    return static_cast<uint16_t>(sign | ((x - 0x38000000u) >> 13));
}

/// binary32 from IEEE binary16 (exact).
inline float half_bits_to_float(uint16_t bits) {
    const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
    const uint32_t exponent = (bits >> 10) & 0x1fu;
    const uint32_t mantissa = bits & 0x3ffu;
    if (exponent == 0) {
        // Zero or subnormal: mantissa * 2^-24.
        const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
        return sign ? -magnitude : magnitude;
    }
    if (exponent == 0x1f) {
        return bits_float(sign | 0x7f800000u | (mantissa << 13));
    }
    return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/// bfloat16 from binary32, round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t float_to_bf16_bits(float value) {
    const uint32_t x = float_bits(value);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        return static_cast<uint16_t>((x >> 16) | 0x40u);
    }
    const uint32_t odd = (x >> 16) & 1u;
    return static_cast<uint16_t>((x + 0x7fffu + odd) >> 16);
}

/// binary32 from bfloat16 (exact).
inline float bf16_bits_to_float(uint16_t bits) { return bits_float(static_cast<uint32_t>(bits) << 16); }

}  // namespace moge_emu

/// IEEE binary16, as the `half` class of CANN's CPU-debug headers: 16-bit storage, implicit conversions
/// from and to the arithmetic types, arithmetic through binary32 with round to nearest even.
struct half {
    uint16_t val;

    half() : val(0) {}
    half(const half& other) = default;
    half(const float& value) : val(moge_emu::float_to_half_bits(value)) {}
    half(const double& value) : val(moge_emu::float_to_half_bits(static_cast<float>(value))) {}
    half(const int8_t& value) : val(moge_emu::float_to_half_bits(static_cast<float>(value))) {}
    half(const uint8_t& value) : val(moge_emu::float_to_half_bits(static_cast<float>(value))) {}
    half(const int16_t& value) : val(moge_emu::float_to_half_bits(static_cast<float>(value))) {}
    half(const uint16_t& value) : val(moge_emu::float_to_half_bits(static_cast<float>(value))) {}
    half(const int32_t& value) : val(moge_emu::float_to_half_bits(static_cast<float>(value))) {}
    half(const uint32_t& value) : val(moge_emu::float_to_half_bits(static_cast<float>(value))) {}

    half& operator=(const half& other) = default;

    float ToFloat() const { return moge_emu::half_bits_to_float(val); }
    operator float() const { return ToFloat(); }
    operator double() const { return ToFloat(); }
    operator int8_t() const { return static_cast<int8_t>(ToFloat()); }
    operator uint8_t() const { return static_cast<uint8_t>(ToFloat()); }
    operator int16_t() const { return static_cast<int16_t>(ToFloat()); }
    operator uint16_t() const { return static_cast<uint16_t>(ToFloat()); }
    operator int32_t() const { return static_cast<int32_t>(ToFloat()); }
    operator uint32_t() const { return static_cast<uint32_t>(ToFloat()); }

    half operator+(const half other) const { return half(ToFloat() + other.ToFloat()); }
    half operator-(const half other) const { return half(ToFloat() - other.ToFloat()); }
    half operator*(const half other) const { return half(ToFloat() * other.ToFloat()); }
    half operator/(const half other) const { return half(ToFloat() / other.ToFloat()); }
    half operator+=(const half other) { return *this = *this + other; }
    half operator-=(const half other) { return *this = *this - other; }
    half operator*=(const half other) { return *this = *this * other; }
    half operator/=(const half other) { return *this = *this / other; }
    half operator-() const {
        half result;
        result.val = static_cast<uint16_t>(val ^ 0x8000u);
        return result;
    }
    bool operator==(const half& other) const { return ToFloat() == other.ToFloat(); }
    bool operator!=(const half& other) const { return ToFloat() != other.ToFloat(); }
    bool operator<(const half& other) const { return ToFloat() < other.ToFloat(); }
    bool operator<=(const half& other) const { return ToFloat() <= other.ToFloat(); }
    bool operator>(const half& other) const { return ToFloat() > other.ToFloat(); }
    bool operator>=(const half& other) const { return ToFloat() >= other.ToFloat(); }
};

/// bfloat16, as CANN's CPU-debug `bfloat16_t`: 16-bit storage, conversion from and to float with round to
/// nearest even, arithmetic through binary32.
struct bfloat16_t {
    uint16_t val;

    bfloat16_t() : val(0) {}
    bfloat16_t(const bfloat16_t& other) = default;
    bfloat16_t(const float& value) : val(moge_emu::float_to_bf16_bits(value)) {}

    bfloat16_t& operator=(const bfloat16_t& other) = default;

    float ToFloat() const { return moge_emu::bf16_bits_to_float(val); }
    operator float() const { return ToFloat(); }

    bfloat16_t operator+(const bfloat16_t other) const { return bfloat16_t(ToFloat() + other.ToFloat()); }
    bfloat16_t operator-(const bfloat16_t other) const { return bfloat16_t(ToFloat() - other.ToFloat()); }
    bfloat16_t operator+=(const bfloat16_t other) { return *this = *this + other; }
    bfloat16_t operator-=(const bfloat16_t other) { return *this = *this - other; }
};

static_assert(sizeof(half) == 2, "half must be 16 bits");
static_assert(sizeof(bfloat16_t) == 2, "bfloat16_t must be 16 bits");

// ---- AscendC enums -------------------------------------------------------------------------------------
namespace AscendC {

enum class TPosition : uint8_t {
    GM,
    A1,
    A2,
    B1,
    B2,
    C1,
    C2,
    CO1,
    CO2,
    VECIN,
    VECOUT,
    VECCALC,
    LCM = VECCALC,
    SPM,
    SHM = SPM,
    TSCM,
    C2PIPE2GM,
    C2PIPE2LOCAL,
    MAX,
};
using QuePosition = TPosition;

enum class Hardware : uint8_t { GM, UB, L1, L0A, L0B, L0C, BIAS, FIXBUF, MAX };

enum class HardEvent : uint8_t {
    MTE2_MTE1,
    MTE1_MTE2,
    MTE1_M,
    M_MTE1,
    MTE2_V,
    V_MTE2,
    MTE3_V,
    V_MTE3,
    M_V,
    V_M,
    V_V,
    MTE3_MTE1,
    MTE1_MTE3,
    MTE1_V,
    MTE2_M,
    M_MTE2,
    V_MTE1,
    M_FIX,
    FIX_M,
    MTE3_MTE2,
    MTE2_MTE3,
    S_V,
    V_S,
    S_MTE2,
    MTE2_S,
    S_MTE3,
    MTE3_S,
    MTE2_FIX,
    FIX_MTE2,
    FIX_S,
    M_S,
    FIX_MTE3,
    MTE1_FIX,
    FIX_MTE1,
    FIX_FIX,
    MAX,
};

using TEventID = int8_t;
using TTagType = int32_t;

enum class MaskMode : uint8_t { NORMAL = 0, COUNTER };

enum class RoundMode : uint8_t {
    CAST_NONE = 0,
    CAST_RINT,
    CAST_FLOOR,
    CAST_CEIL,
    CAST_ROUND,
    CAST_TRUNC,
    CAST_ODD,
};

enum class CMPMODE : uint8_t { LT = 0, GT, EQ, LE, GE, NE };

enum class SELMODE : uint8_t { VSEL_CMPMASK_SPR = 0, VSEL_TENSOR_SCALAR_MODE, VSEL_TENSOR_TENSOR_MODE };

enum class ReduceMode : uint8_t { REDUCE_MAX = 0, REDUCE_MIN, REDUCE_SUM };

enum class ReduceOrder : uint8_t { ORDER_VALUE_INDEX = 0, ORDER_INDEX_VALUE, ORDER_ONLY_VALUE, ORDER_ONLY_INDEX };

enum class GatherMaskMode : uint8_t { VERSION_V1 = 0, VERSION_V2 = 1 };
const GatherMaskMode defaultGatherMaskMode = GatherMaskMode::VERSION_V2;
const GatherMaskMode defaultGahterMaskMode = GatherMaskMode::VERSION_V2;

enum class CacheMode { CACHE_MODE_DISABLE = 0, CACHE_MODE_NORMAL = 1, CACHE_MODE_LAST = 2, CACHE_MODE_PERSISTENT = 4 };
enum class CacheRwMode { READ = 1, WRITE = 2, RW = 3 };
enum class CacheLine : uint64_t { SINGLE_CACHE_LINE = 0, ENTIRE_DATA_CACHE };
enum class DcciDst : uint64_t { CACHELINE_ALL = 0, CACHELINE_UB, CACHELINE_OUT, CACHELINE_ATOMIC };

enum class TBufState : uint8_t { FREE = 0, OCCUPIED, ENQUE, DEQUE };

constexpr uint64_t MASK_PLACEHOLDER = 0;
constexpr uint64_t MASK_PLACEHOLDER_LIST[2] = {0, 0};

const int32_t DEFAULT_BLK_NUM = 8;
const int32_t DEFAULT_BLK_STRIDE = 1;
const uint8_t DEFAULT_REPEAT_STRIDE = 8;
const uint8_t HALF_DEFAULT_REPEAT_STRIDE = 4;
const uint8_t ONE_FOURTH_DEFAULT_REPEAT_STRIDE = 2;
const int32_t MAX_REPEAT_TIMES = 255;
const uint16_t ONE_BLK_SIZE = 32;
const uint16_t ONE_REPEAT_BYTE_SIZE = 256;
const uint8_t MRG_SORT_ELEMENT_LEN = 4;
const uint8_t DEFAULT_DATA_COPY_NBURST = 1;
const uint8_t DEFAULT_DATA_COPY_STRIDE = 0;
const uint32_t TOTAL_UB_SIZE = 192 * 1024;
const uint32_t TMP_UB_OFFSET = 184 * 1024;
const uint32_t TOTAL_L1_SIZE = 512 * 1024;
const uint32_t TOTAL_L0A_SIZE = 64 * 1024;
const uint32_t TOTAL_L0B_SIZE = 64 * 1024;
const uint32_t TOTAL_L0C_SIZE = 128 * 1024;

/// The element type of a tensor (CANN's `PrimT`; tensor traits are not supported by the emulator).
template <typename T>
using PrimT = T;

}  // namespace AscendC

#endif  // MOGE_EMU_TYPES_H
