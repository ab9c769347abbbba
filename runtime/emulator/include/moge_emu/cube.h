// moge CPU emulator: the cube unit of an AIC core (Atlas A2): GM -> L1 with ND->NZ (`DataCopy` with
// `Nd2NzParams`), L1 -> L0A/L0B (`LoadData` with `LoadData2DParams`), `Mmad` into L0C, and L0C -> GM
// (`Fixpipe` with `FixpipeParamsV220`, NZ->ND and f32->f16/bf16).
//
// Layouts (ascendc-api.md §4.2, CANN "数据排布格式"): a fractal is 512 bytes of L1/L0A/L0B (16 rows of C0 =
// 32 / sizeof(T) elements), 1 KiB of L0C (16 x 16 f32). L1 holds NZ (fractals column-major, rows inside),
// L0A ZZ (fractals row-major over (M1, K1), rows of K0 inside), L0B ZN (fractals row-major over (K1, N1),
// columns of K0 inside), L0C NZ (fractals column-major over (N1, M1), rows of 16 inside). `Mmad` reads the
// operands through exactly these layouts, so data loaded in another layout gives other numbers.
#ifndef MOGE_EMU_CUBE_H
#define MOGE_EMU_CUBE_H

#include <vector>

#include "data_copy.h"
#include "race.h"

/// Fixpipe quantization modes (a global enum in CANN's headers, used as `QuantMode_t::F322BF16`).
enum QuantMode_t : uint8_t { NoQuant = 0, F322F16, F322BF16, DEQF16, VDEQF16, QF322B8_PRE, VQF322B8_PRE, REQ8, VREQ8 };

namespace AscendC {

/// ND -> NZ copy parameters of `DataCopy(L1, GM, Nd2NzParams)` (CANN 8.5 `kernel_struct_data_copy.h`).
struct Nd2NzParams {
    Nd2NzParams() {}
    Nd2NzParams(const uint16_t ndNumIn, const uint16_t nValueIn, const uint16_t dValueIn, const uint16_t srcNdMatrixStrideIn,
                const uint16_t srcDValueIn, const uint16_t dstNzC0StrideIn, const uint16_t dstNzNStrideIn,
                const uint16_t dstNzMatrixStrideIn)
        : ndNum(ndNumIn),
          nValue(nValueIn),
          dValue(dValueIn),
          srcNdMatrixStride(srcNdMatrixStrideIn),
          srcDValue(srcDValueIn),
          dstNzC0Stride(dstNzC0StrideIn),
          dstNzNStride(dstNzNStrideIn),
          dstNzMatrixStride(dstNzMatrixStrideIn) {}
    uint16_t ndNum = 0;
    uint16_t nValue = 0;
    uint16_t dValue = 0;
    uint16_t srcNdMatrixStride = 0;
    uint16_t srcDValue = 0;
    uint16_t dstNzC0Stride = 0;
    uint16_t dstNzNStride = 0;
    uint16_t dstNzMatrixStride = 0;
};

/// L1 -> L0A/L0B load parameters (CANN 8.5 `kernel_struct_mm.h`; fields in declaration order).
struct LoadData2DParams {
    LoadData2DParams() {}
    LoadData2DParams(const uint16_t startIndexIn, const uint8_t repeatTimesIn, const uint16_t srcStrideIn, const uint8_t sidIn,
                     const uint16_t dstGapIn, const bool ifTransposeIn, const uint8_t addrModeIn)
        : startIndex(startIndexIn),
          dstGap(dstGapIn),
          srcStride(srcStrideIn),
          ifTranspose(ifTransposeIn),
          repeatTimes(repeatTimesIn),
          sid(sidIn),
          addrMode(addrModeIn) {}
    uint16_t startIndex = 0;
    uint16_t dstGap = 0;
    uint16_t srcStride = 0;
    bool ifTranspose = 0;
    uint8_t repeatTimes = 0;
    uint8_t sid = 0;
    uint8_t addrMode = 0;
};
using LoadData2dParams = LoadData2DParams;

/// L1 -> L0A/L0B transposing load parameters (CANN 8.5 `kernel_struct_mm.h`; fields in declaration order).
struct LoadData2dTransposeParams {
    LoadData2dTransposeParams() {}
    LoadData2dTransposeParams(const uint16_t startIndexIn, const uint8_t repeatTimesIn, const uint16_t srcStrideIn,
                              const uint16_t dstGapIn, const uint16_t dstfracGapIn, const uint8_t addrModeIn)
        : startIndex(startIndexIn),
          repeatTimes(repeatTimesIn),
          srcStride(srcStrideIn),
          dstGap(dstGapIn),
          dstFracGap(dstfracGapIn),
          addrMode(addrModeIn) {}
    LoadData2dTransposeParams(const uint16_t startIndexIn, const uint8_t repeatTimesIn, const uint16_t srcStrideIn,
                              const uint16_t dstGapIn, const uint16_t dstfracGapIn)
        : startIndex(startIndexIn), repeatTimes(repeatTimesIn), srcStride(srcStrideIn), dstGap(dstGapIn), dstFracGap(dstfracGapIn) {}
    uint16_t startIndex = 0;
    uint8_t repeatTimes = 0;
    uint16_t srcStride = 0;
    uint16_t dstGap = 0;
    uint16_t dstFracGap = 0;
    uint8_t addrMode = 0;
};

/// Mmad parameters (CANN 8.5 `kernel_struct_mm.h`).
struct MmadParams {
    MmadParams() {}
    MmadParams(const uint16_t mIn, const uint16_t nIn, const uint16_t kIn, const bool isBiasIn, const int32_t fmOffsetIn,
               const bool enSsparseIn, const bool enWinogradAIn, const bool enWinogradBIn)
        : m(mIn), n(nIn), k(kIn), isBias(isBiasIn), fmOffset(fmOffsetIn), enSsparse(enSsparseIn), enWinogradA(enWinogradAIn),
          enWinogradB(enWinogradBIn) {}
    MmadParams(const uint16_t mIn, const uint16_t nIn, const uint16_t kIn, const uint8_t unitFlagIn, const bool cmatrixSourceIn,
               const bool cmatrixInitValIn)
        : m(mIn), n(nIn), k(kIn), unitFlag(unitFlagIn), cmatrixSource(cmatrixSourceIn), cmatrixInitVal(cmatrixInitValIn) {}
    uint16_t m = 0;
    uint16_t n = 0;
    uint16_t k = 0;
    bool isBias = false;
    int32_t fmOffset = 0;
    bool enSsparse = false;
    bool enWinogradA = false;
    bool enWinogradB = false;
    uint8_t unitFlag = 0;
    bool kDirectionAlign = false;
    bool cmatrixSource = false;
    bool cmatrixInitVal = true;
};

/// Output layout of Fixpipe (CANN 8.5 `kernel_struct_fixpipe.h`).
enum class CO2Layout : uint8_t { NZ = 0, ROW_MAJOR, COLUMN_MAJOR };
struct FixpipeConfig {
    CO2Layout format;
};
constexpr FixpipeConfig CFG_NZ = {CO2Layout::NZ};
constexpr FixpipeConfig CFG_ROW_MAJOR = {CO2Layout::ROW_MAJOR};
constexpr FixpipeConfig CFG_COLUMN_MAJOR = {CO2Layout::COLUMN_MAJOR};

/// Fixpipe parameters (CANN 8.5 `kernel_struct_fixpipe.h`).
struct FixpipeParamsV220 {
    FixpipeParamsV220() {}
    FixpipeParamsV220(const uint16_t nSizeIn, const uint16_t mSizeIn, const uint16_t srcStrideIn, const uint32_t dstStrideIn,
                      const bool reluEnIn)
        : nSize(nSizeIn), mSize(mSizeIn), srcStride(srcStrideIn), dstStride(dstStrideIn), reluEn(reluEnIn) {}
    FixpipeParamsV220(const uint16_t nSizeIn, const uint16_t mSizeIn, const uint16_t srcStrideIn, const uint32_t dstStrideIn,
                      const bool reluEnIn, const QuantMode_t quantPreIn, const int64_t deqScalarIn, const uint16_t ndNumIn,
                      const uint16_t srcNdStrideIn, const uint16_t dstNdStrideIn, const uint8_t unitFlagIn)
        : nSize(nSizeIn), mSize(mSizeIn), srcStride(srcStrideIn), dstStride(dstStrideIn), quantPre(quantPreIn),
          deqScalar(static_cast<uint64_t>(deqScalarIn)), ndNum(ndNumIn), srcNdStride(srcNdStrideIn), dstNdStride(dstNdStrideIn),
          reluEn(reluEnIn), unitFlag(unitFlagIn) {}
    uint16_t nSize = 0;
    uint16_t mSize = 0;
    uint16_t srcStride = 0;
    uint32_t dstStride = 0;
    QuantMode_t quantPre = QuantMode_t::NoQuant;
    uint64_t deqScalar = 0;
    uint16_t ndNum = 1;
    uint16_t srcNdStride = 0;
    uint16_t dstNdStride = 0;
    bool reluEn = false;
    uint8_t unitFlag = 0;
    bool isChannelSplit = false;
};
using FixpipeParamsM300 = FixpipeParamsV220;

}  // namespace AscendC

namespace moge_emu {

/// Checks that a local tensor lives in the memory `hw` an API requires.
template <typename T>
inline void check_in(const char* call, const char* name, const LocalTensor<T>& tensor, Hw hw) {
    if (tensor.ptr_ == nullptr) {
        violation(call, "%s is an uninitialized LocalTensor", name);
    }
    if (tensor.hw_ != hw) {
        violation(call, "%s is in %s (position %s); this call needs it in %s", name, kHwName[tensor.hw_],
                  position_name(tensor.pos_), kHwName[hw]);
    }
}

/// Checks that `bytes` bytes from the start of `tensor` lie inside it.
template <typename T>
inline void check_span(const char* call, const char* name, const LocalTensor<T>& tensor, uint64_t bytes) {
    const uint64_t have = static_cast<uint64_t>(tensor.size_) * sizeof(T);
    if (bytes > have) {
        violation(call, "%s: %llu bytes needed but the tensor (%s byte %llu) has %llu", name,
                  static_cast<unsigned long long>(bytes), kHwName[tensor.hw_],
                  static_cast<unsigned long long>(onchip_offset(tensor.ptr_, tensor.hw_)),
                  static_cast<unsigned long long>(have));
    }
}

inline uint32_t ceil_div(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

}  // namespace moge_emu

namespace AscendC {

/// GM (ND) -> L1 (NZ). Columns are padded with zeros to a whole C0 (32 bytes) per row; rows past nValue
/// (up to dstNzC0Stride) are not written (CANN: "ND2NZ ... D 方向补齐到 32B 时补 0").
template <typename T>
inline void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const Nd2NzParams& p) {
    const char* call = "DataCopy(GM->L1, Nd2NzParams)";
    moge_emu::check_in(call, "dst", dst, moge_emu::HW_L1);
    constexpr uint32_t c0 = 32 / sizeof(T);
    if (p.ndNum > 4095 || p.nValue > 16384 || p.dValue > 65535) {
        moge_emu::violation(call, "ndNum %u (max 4095), nValue %u (max 16384) or dValue %u (max 65535) out of range", p.ndNum,
                            p.nValue, p.dValue);
    }
    if (p.dValue > p.srcDValue) {
        moge_emu::violation(call, "dValue %u is larger than the source row pitch srcDValue %u", p.dValue, p.srcDValue);
    }
    if (p.nValue > 0 && p.dstNzC0Stride < 1) {
        moge_emu::violation(call, "dstNzC0Stride is 0 (it is the NZ column-block pitch in 32-byte rows, >= 1)");
    }
    if (!moge_emu::aligned_to(moge_emu::address_of(dst.ptr_), 32)) {
        moge_emu::violation(call, "dst starts at L1 byte %llu, which is not 32-byte aligned",
                            static_cast<unsigned long long>(moge_emu::onchip_offset(dst.ptr_, dst.hw_)));
    }
    const uint32_t blocks = moge_emu::ceil_div(p.dValue, c0);
    // The furthest element written: the last matrix, the last column block, the last row, the end of C0.
    uint64_t end = 0;
    if (p.ndNum > 0 && p.nValue > 0 && p.dValue > 0) {
        end = static_cast<uint64_t>(p.ndNum - 1) * p.dstNzMatrixStride +
              static_cast<uint64_t>(blocks - 1) * p.dstNzC0Stride * c0 +
              static_cast<uint64_t>(p.nValue - 1) * p.dstNzNStride * c0 + c0;
    }
    moge_emu::check_span(call, "dst", dst, end * sizeof(T));
    moge_emu::RaceOp op(call, PIPE_MTE2);
    moge_emu::CoreState& state = moge_emu::core();
    for (uint32_t nd = 0; nd < p.ndNum; ++nd) {
        for (uint32_t r = 0; r < p.nValue; ++r) {
            const uint64_t from = static_cast<uint64_t>(nd) * p.srcNdMatrixStride + static_cast<uint64_t>(r) * p.srcDValue;
            const T* row = src.address_ + from;
            src.check(call, row, static_cast<uint64_t>(p.dValue) * sizeof(T));
            op.read(moge_emu::HW_GM, row, static_cast<uint64_t>(p.dValue) * sizeof(T));
            state.gm_read += static_cast<uint64_t>(p.dValue) * sizeof(T);
            for (uint32_t b = 0; b < blocks; ++b) {
                T* out = dst.ptr_ + static_cast<uint64_t>(nd) * p.dstNzMatrixStride + static_cast<uint64_t>(b) * p.dstNzC0Stride * c0 +
                         static_cast<uint64_t>(r) * p.dstNzNStride * c0;
                const uint32_t take = p.dValue - b * c0 < c0 ? p.dValue - b * c0 : c0;
                if (!moge_emu::g_timing_only) {
                    std::memcpy(out, row + b * c0, take * sizeof(T));
                    std::memset(static_cast<void*>(out + take), 0, (c0 - take) * sizeof(T));
                }
                op.write(moge_emu::HW_L1, out, 32);
            }
        }
    }
}

/// L1 -> L0A / L0B, fractal by fractal: fractal `startIndex + i * srcStride` of the source (512-byte units)
/// goes to fractal `i * (1 + dstGap)` of the destination; `ifTranspose` transposes each 16 x 16 fractal
/// (16-bit types; the B operand loaded from an NZ L1 matrix becomes ZN).
template <typename T>
inline void LoadData(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LoadData2DParams& p) {
    const char* call = "LoadData(L1->L0, LoadData2DParams)";
    moge_emu::check_in(call, "src", src, moge_emu::HW_L1);
    if (dst.hw_ != moge_emu::HW_L0A && dst.hw_ != moge_emu::HW_L0B) {
        moge_emu::violation(call, "dst is in %s (position %s); LoadData2D loads into L0A (A2) or L0B (B2)",
                            moge_emu::kHwName[dst.hw_], moge_emu::position_name(dst.pos_));
    }
    if (p.repeatTimes == 0) {
        moge_emu::violation(call, "repeatTimes is 0 (1..255 fractals of 512 bytes)");
    }
    if (p.ifTranspose && sizeof(T) != 2) {
        moge_emu::violation(call, "ifTranspose with %zu-byte elements: the 2D transpose load handles 16-bit types only",
                            sizeof(T));
    }
    if (p.ifTranspose && dst.hw_ != moge_emu::HW_L0B) {
        moge_emu::violation(call, "ifTranspose into L0A: the transposed 2D load writes L0B (B2)");
    }
    constexpr uint32_t fractal = 512 / sizeof(T);
    const uint64_t src_end = (static_cast<uint64_t>(p.startIndex) + static_cast<uint64_t>(p.repeatTimes - 1) * p.srcStride + 1) * 512;
    const uint64_t dst_end = (static_cast<uint64_t>(p.repeatTimes - 1) * (1 + p.dstGap) + 1) * 512;
    moge_emu::check_span(call, "src", src, src_end);
    moge_emu::check_span(call, "dst", dst, dst_end);
    moge_emu::RaceOp op(call, PIPE_MTE1);
    for (uint32_t i = 0; i < p.repeatTimes; ++i) {
        const T* from = src.ptr_ + (static_cast<uint64_t>(p.startIndex) + static_cast<uint64_t>(i) * p.srcStride) * fractal;
        T* to = dst.ptr_ + static_cast<uint64_t>(i) * (1 + p.dstGap) * fractal;
        op.read(moge_emu::HW_L1, from, 512);
        op.write(static_cast<moge_emu::Hw>(dst.hw_), to, 512);
        if (moge_emu::g_timing_only) {
            continue;
        }
        if (p.ifTranspose) {
            T tmp[256];
            for (uint32_t r = 0; r < 16; ++r) {
                for (uint32_t c = 0; c < 16; ++c) {
                    tmp[c * 16 + r] = from[r * 16 + c];
                }
            }
            std::memcpy(static_cast<void*>(to), tmp, 512);
        } else {
            std::memmove(static_cast<void*>(to), from, 512);
        }
    }
}

/// L1 -> L0A/L0B with transpose (CANN `LoadDataWithTranspose.md`), square by square. Repeat `i` reads the
/// square `startIndex + i * srcStride` of the source (units of one square) and writes its first fractal at
/// fractal `i * (1 + dstGap)` of the destination (512-byte units).
/// - 16-bit types: a square is one 16 x 16 fractal, transposed in place (dstFracGap has no effect).
/// - 32-bit types: a square is two consecutive 16 x 8 fractals read as one 16 x 16 matrix (the first holds
///   columns 0..7, the second 8..15); it is transposed and split again into two 16 x 8 fractals (columns
///   0..7 and 8..15 of the transpose), the second `dstFracGap` fractals after the end of the first.
/// 8-bit and 4-bit types are not modelled.
template <typename T>
inline void LoadDataWithTranspose(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LoadData2dTransposeParams& p) {
    const char* call = "LoadDataWithTranspose(L1->L0)";
    static_assert(sizeof(T) == 2 || sizeof(T) == 4,
                  "LoadDataWithTranspose: the emulator models 16-bit and 32-bit types (8-bit and 4-bit are not modelled)");
    moge_emu::check_in(call, "src", src, moge_emu::HW_L1);
    if (dst.hw_ != moge_emu::HW_L0A && dst.hw_ != moge_emu::HW_L0B) {
        moge_emu::violation(call, "dst is in %s (position %s); LoadDataWithTranspose loads into L0A (A2) or L0B (B2)",
                            moge_emu::kHwName[dst.hw_], moge_emu::position_name(dst.pos_));
    }
    if (!moge_emu::aligned_to(moge_emu::address_of(dst.ptr_), 512)) {
        moge_emu::violation(call, "dst starts at %s byte %llu, which is not 512-byte aligned", moge_emu::kHwName[dst.hw_],
                            static_cast<unsigned long long>(moge_emu::onchip_offset(dst.ptr_, dst.hw_)));
    }
    if (!moge_emu::aligned_to(moge_emu::address_of(src.ptr_), 32)) {
        moge_emu::violation(call, "src starts at L1 byte %llu, which is not 32-byte aligned",
                            static_cast<unsigned long long>(moge_emu::onchip_offset(src.ptr_, src.hw_)));
    }
    if (p.repeatTimes == 0) {
        return;  // "repeat=0表示不执行搬运操作"
    }
    constexpr uint32_t fractal = 512 / sizeof(T);  // elements of one 512-byte fractal
    constexpr uint32_t halves = sizeof(T) / 2;      // fractals per square: 1 (16-bit) or 2 (32-bit)
    constexpr uint32_t cols = 16 / halves;          // columns of one fractal of the square
    const uint32_t frac_gap = halves == 2 ? p.dstFracGap : 0;
    const uint64_t last = static_cast<uint64_t>(p.repeatTimes - 1);
    const uint64_t src_end = (static_cast<uint64_t>(p.startIndex) + last * p.srcStride + 1) * halves * 512;
    const uint64_t dst_end = (last * (1 + p.dstGap) + (halves == 2 ? 2 + frac_gap : 1)) * 512;
    moge_emu::check_span(call, "src", src, src_end);
    moge_emu::check_span(call, "dst", dst, dst_end);
    moge_emu::RaceOp op(call, PIPE_MTE1);
    for (uint32_t i = 0; i < p.repeatTimes; ++i) {
        const T* from = src.ptr_ + (static_cast<uint64_t>(p.startIndex) + static_cast<uint64_t>(i) * p.srcStride) * halves * fractal;
        T* to[2] = {dst.ptr_ + static_cast<uint64_t>(i) * (1 + p.dstGap) * fractal, nullptr};
        to[1] = to[0] + static_cast<uint64_t>(1 + frac_gap) * fractal;
        op.read(moge_emu::HW_L1, from, halves * 512);
        T square[256];
        // square[r][c] of the 16 x 16 source matrix: fractal c / cols, row r, column c % cols.
        for (uint32_t r = 0; r < 16; ++r) {
            for (uint32_t c = 0; c < 16; ++c) {
                square[r * 16 + c] = from[(c / cols) * fractal + r * cols + c % cols];
            }
        }
        // The transpose t[r][c] = square[c][r], split by columns: fractal h holds columns h * cols ...
        for (uint32_t h = 0; h < halves; ++h) {
            op.write(static_cast<moge_emu::Hw>(dst.hw_), to[h], 512);
            T out[fractal];
            for (uint32_t r = 0; r < 16; ++r) {
                for (uint32_t c = 0; c < cols; ++c) {
                    out[r * cols + c] = square[(h * cols + c) * 16 + r];
                }
            }
            std::memcpy(static_cast<void*>(to[h]), out, 512);
        }
    }
}

}  // namespace AscendC

namespace moge_emu {

/// Unpacks an L0A (ZZ) operand of m x k into row-major f32, k0 elements per fractal row. With m = 1 Mmad
/// runs as GEMV and reads L0A as ND: the k elements are contiguous (CANN `Mmad.md`, 约束说明).
template <typename U>
inline void unpack_zz(const U* a, uint32_t m, uint32_t k, float* out) {
    constexpr uint32_t k0 = 32 / sizeof(U);
    const uint32_t k1 = ceil_div(k, k0);
    if (m == 1) {
        for (uint32_t kk = 0; kk < k; ++kk) {
            out[kk] = to_float(a[kk]);
        }
        return;
    }
    for (uint32_t i = 0; i < m; ++i) {
        for (uint32_t kk = 0; kk < k; ++kk) {
            out[static_cast<uint64_t>(i) * k + kk] =
                to_float(a[((static_cast<uint64_t>(i / 16) * k1 + kk / k0) * 16 + i % 16) * k0 + kk % k0]);
        }
    }
}

/// Unpacks an L0B (ZN) operand of k x n into row-major f32.
template <typename U>
inline void unpack_zn(const U* b, uint32_t k, uint32_t n, float* out) {
    constexpr uint32_t k0 = 32 / sizeof(U);
    const uint32_t n1 = ceil_div(n, 16);
    for (uint32_t kk = 0; kk < k; ++kk) {
        for (uint32_t j = 0; j < n; ++j) {
            out[static_cast<uint64_t>(kk) * n + j] =
                to_float(b[((static_cast<uint64_t>(kk / k0) * n1 + j / 16) * 16 + j % 16) * k0 + kk % k0]);
        }
    }
}

/// out[j] += a * b[j] for j < n: the Mmad inner loop, over contiguous f32 (vectorized across j, which keeps
/// each element's sum over k in order; no FMA contraction: the kernels are built with -ffp-contract=off).
__attribute__((optimize("O3"))) inline void axpy_row(float* __restrict out, const float* __restrict b, float a,
                                                       uint32_t n) {
    for (uint32_t j = 0; j < n; ++j) {
        out[j] += a * b[j];
    }
}

/// Index of element (i, j) of an NZ f32 matrix whose fractal columns are `m_rows` rows apart.
inline uint64_t nz_index(uint32_t i, uint32_t j, uint32_t m_rows) {
    return (static_cast<uint64_t>(j / 16) * m_rows + i) * 16 + j % 16;
}

}  // namespace moge_emu

namespace AscendC {

namespace moge_detail {

/// Marks the m x n elements an Mmad writes at `dst` (NZ, `rows` rows per fractal column) as written; with
/// `accumulates` (cmatrixInitVal = false, no bias) first checks that each was written before: accumulating onto
/// L0C nobody wrote since the kernel started adds the 0xFF fill (NaN) to the products.
inline void l0c_mark(const char* call, const LocalTensor<float>& dst, uint32_t m, uint32_t n, uint32_t rows,
                     bool accumulates) {
    std::vector<bool>& written = moge_emu::core().l0c_written;
    if (written.empty()) {
        written.assign(moge_emu::kHwBytes[moge_emu::HW_L0C] / sizeof(float), false);
    }
    const uint64_t base = moge_emu::onchip_offset(dst.ptr_, moge_emu::HW_L0C) / sizeof(float);
    if (accumulates) {
        uint64_t unwritten = 0, first = 0;
        for (uint32_t i = 0; i < m; ++i) {
            for (uint32_t j = 0; j < n; ++j) {
                const uint64_t at = base + moge_emu::nz_index(i, j, rows);
                if (!written[at] && unwritten++ == 0) {
                    first = at;
                }
            }
        }
        if (unwritten > 0) {
            moge_emu::violation(call, "cmatrixInitVal = false accumulates onto %llu bytes of L0C that no Mmad wrote since the "
                                "kernel started (the first at L0C byte %llu; the %u x %u result starts at L0C byte %llu): "
                                "the first Mmad into an accumulator needs cmatrixInitVal = true",
                                static_cast<unsigned long long>(unwritten * sizeof(float)),
                                static_cast<unsigned long long>(first * sizeof(float)), m, n,
                                static_cast<unsigned long long>(base * sizeof(float)));
        }
    }
    for (uint32_t i = 0; i < m; ++i) {
        for (uint32_t j = 0; j < n; ++j) {
            written[base + moge_emu::nz_index(i, j, rows)] = true;
        }
    }
}

/// C (L0C, NZ, f32) = A (L0A, ZZ) x B (L0B, ZN) + (C | bias row | 0). Products and sums in f32, over k in order.
template <typename T, typename U, typename S>
inline void mmad(const char* call, const LocalTensor<T>& dst, const LocalTensor<U>& a, const LocalTensor<S>& b,
                 const MmadParams& p, const LocalTensor<float>* bias_tensor) {
    const float* bias = bias_tensor == nullptr ? nullptr : bias_tensor->ptr_;
    static_assert(std::is_same<T, float>::value && std::is_same<U, S>::value &&
                      (std::is_same<U, half>::value || std::is_same<U, bfloat16_t>::value || std::is_same<U, float>::value),
                  "Mmad: the emulator supports half x half, bfloat16_t x bfloat16_t and float x float into float");
    moge_emu::check_in(call, "dst", dst, moge_emu::HW_L0C);
    moge_emu::check_in(call, "a", a, moge_emu::HW_L0A);
    moge_emu::check_in(call, "b", b, moge_emu::HW_L0B);
    if (p.m > 4095 || p.n > 4095 || p.k > 4095) {
        moge_emu::violation(call, "m %u, n %u, k %u: each must be in 0..4095", p.m, p.n, p.k);
    }
    if (p.cmatrixSource && bias == nullptr) {
        moge_emu::violation(call, "cmatrixSource = true (C from the bias table) needs the bias form of Mmad");
    }
    // Start addresses (Mmad.md): dst 256 elements (1 KiB), a and b 512 bytes.
    if (!moge_emu::aligned_to(moge_emu::address_of(dst.ptr_), 1024) || !moge_emu::aligned_to(moge_emu::address_of(a.ptr_), 512) ||
        !moge_emu::aligned_to(moge_emu::address_of(b.ptr_), 512)) {
        moge_emu::violation(call, "operands at L0C byte %llu, L0A byte %llu, L0B byte %llu: dst must be 1024-byte aligned "
                            "(256 elements), a and b 512-byte aligned",
                            static_cast<unsigned long long>(moge_emu::onchip_offset(dst.ptr_, dst.hw_)),
                            static_cast<unsigned long long>(moge_emu::onchip_offset(a.ptr_, a.hw_)),
                            static_cast<unsigned long long>(moge_emu::onchip_offset(b.ptr_, b.hw_)));
    }
    if (p.m == 0 || p.n == 0 || p.k == 0) {
        return;
    }
    constexpr uint32_t k0 = 32 / sizeof(U);
    const uint32_t m1 = moge_emu::ceil_div(p.m, 16);
    const uint32_t n1 = moge_emu::ceil_div(p.n, 16);
    const uint32_t k1 = moge_emu::ceil_div(p.k, k0);
    const uint64_t a_bytes = p.m == 1 ? static_cast<uint64_t>(p.k) * sizeof(U) : static_cast<uint64_t>(m1) * k1 * 512;
    moge_emu::check_span(call, "a (L0A, m x k in ZZ fractals; ND when m = 1)", a, a_bytes);
    moge_emu::check_span(call, "b (L0B, k x n in ZN fractals)", b, static_cast<uint64_t>(k1) * n1 * 512);
    moge_emu::check_span(call, "dst (L0C, m x n in NZ fractals)", dst, static_cast<uint64_t>(m1) * n1 * 1024);
    moge_emu::RaceOp op(call, PIPE_M);
    op.detail(moge_emu::TK_MMAD, p.m, p.k, p.n, sizeof(U), sizeof(T));
    op.read(moge_emu::HW_L0A, a.ptr_, a_bytes);
    op.read(moge_emu::HW_L0B, b.ptr_, static_cast<uint64_t>(k1) * n1 * 512);
    op.write(moge_emu::HW_L0C, dst.ptr_, static_cast<uint64_t>(m1) * n1 * 1024);
    if (bias != nullptr) {
        op.read(static_cast<moge_emu::Hw>(bias_tensor->hw_), bias, static_cast<uint64_t>(p.n) * sizeof(float));
    }
    const uint32_t m = p.m, n = p.n, k = p.k;
    const uint32_t rows = m1 * 16;
    l0c_mark(call, dst, m, n, rows, bias == nullptr && !p.cmatrixInitVal);
    if (moge_emu::g_timing_only) {
        return;
    }
    // Convert the fractals once; the inner loop then runs over contiguous f32.
    std::vector<float> fa(static_cast<uint64_t>(m) * k), fb(static_cast<uint64_t>(k) * n), fc(static_cast<uint64_t>(m) * n);
    moge_emu::unpack_zz(a.ptr_, m, k, fa.data());
    moge_emu::unpack_zn(b.ptr_, k, n, fb.data());
    float* c = dst.ptr_;
    for (uint32_t i = 0; i < m; ++i) {
        float* out = fc.data() + static_cast<uint64_t>(i) * n;
        for (uint32_t j = 0; j < n; ++j) {
            out[j] = bias != nullptr ? bias[j] : p.cmatrixInitVal ? 0.0f : c[moge_emu::nz_index(i, j, rows)];
        }
        const float* arow = fa.data() + static_cast<uint64_t>(i) * k;
        for (uint32_t kk = 0; kk < k; ++kk) {
            moge_emu::axpy_row(out, fb.data() + static_cast<uint64_t>(kk) * n, arow[kk], n);
        }
        for (uint32_t j = 0; j < n; ++j) {
            c[moge_emu::nz_index(i, j, rows)] = out[j];
        }
    }
}

}  // namespace moge_detail

/// C (L0C, NZ, f32) = A (L0A, ZZ) x B (L0B, ZN), plus C itself when cmatrixInitVal is false.
template <typename T, typename U, typename S>
inline void Mmad(const LocalTensor<T>& dst, const LocalTensor<U>& a, const LocalTensor<S>& b, const MmadParams& p) {
    moge_detail::mmad("Mmad", dst, a, b, p, nullptr);
}

/// C = A x B + bias: the bias (n floats, in the bias table C2 or in CO1) is added to every row (Mmad.md table 5:
/// float bias with half, bfloat16_t and float operands).
template <typename T, typename U, typename S, typename V>
inline void Mmad(const LocalTensor<T>& dst, const LocalTensor<U>& a, const LocalTensor<S>& b, const LocalTensor<V>& bias,
                 const MmadParams& p) {
    const char* call = "Mmad(bias)";
    static_assert(std::is_same<V, float>::value, "Mmad: the emulator's bias form takes a float bias");
    if (bias.ptr_ == nullptr || (bias.hw_ != moge_emu::HW_BIAS && bias.hw_ != moge_emu::HW_L0C)) {
        moge_emu::violation(call, "bias must be an initialized tensor in C2 (bias table) or CO1");
    }
    if (!moge_emu::aligned_to(moge_emu::address_of(bias.ptr_), 128)) {
        moge_emu::violation(call, "bias starts at %s byte %llu, which is not 128-byte aligned", moge_emu::kHwName[bias.hw_],
                            static_cast<unsigned long long>(moge_emu::onchip_offset(bias.ptr_, bias.hw_)));
    }
    moge_emu::check_span(call, "bias (n floats)", bias, static_cast<uint64_t>(p.n) * sizeof(float));
    moge_detail::mmad(call, dst, a, b, p, &bias);
}

/// L0C (NZ, f32) -> GM (CANN `Fixpipe.md`). CFG_ROW_MAJOR writes ND rows (dstStride = row pitch in elements;
/// ndNum matrices, srcNdStride x 1 KiB apart in L0C and dstNdStride elements apart in GM); CFG_NZ keeps NZ
/// (dstStride = distance between 16-column blocks in 32-byte units). srcStride is the distance between the
/// 16-column blocks of the L0C matrix in rows of 16 elements (its M extent). quantPre converts f32 to
/// half/bf16 (round to nearest even).
template <typename T, typename U, const FixpipeConfig& config = CFG_ROW_MAJOR>
inline void Fixpipe(const GlobalTensor<T>& dst, const LocalTensor<U>& src, const FixpipeParamsV220& p) {
    const char* call = "Fixpipe(L0C->GM)";
    static_assert(std::is_same<U, float>::value, "Fixpipe: the emulator reads f32 accumulators from L0C");
    moge_emu::check_in(call, "src", src, moge_emu::HW_L0C);
    const bool want_f16 = std::is_same<T, half>::value, want_bf16 = std::is_same<T, bfloat16_t>::value,
               want_f32 = std::is_same<T, float>::value;
    if ((p.quantPre == QuantMode_t::NoQuant && !want_f32) || (p.quantPre == QuantMode_t::F322F16 && !want_f16) ||
        (p.quantPre == QuantMode_t::F322BF16 && !want_bf16)) {
        moge_emu::violation(call, "quantPre %d does not match the %zu-byte destination type (NoQuant: float, F322F16: half, "
                            "F322BF16: bfloat16_t)", static_cast<int>(p.quantPre), sizeof(T));
    }
    if (p.quantPre > QuantMode_t::F322BF16) {
        moge_emu::violation(call, "quantPre %d is not modelled (NoQuant, F322F16 and F322BF16 are)", static_cast<int>(p.quantPre));
    }
    const bool nz = config.format == CO2Layout::NZ;
    if (p.ndNum == 0 || (nz && p.ndNum != 1)) {
        moge_emu::violation(call, "ndNum %u: 1..65535 with CFG_ROW_MAJOR, 1 with CFG_NZ", p.ndNum);
    }
    if (p.ndNum > 1 && (p.srcNdStride < 1 || p.srcNdStride > 512 || p.dstNdStride < 1)) {
        moge_emu::violation(call, "ndNum %u needs srcNdStride in 1..512 (1 KiB units, found %u) and dstNdStride >= 1 "
                            "(elements, found %u)", p.ndNum, p.srcNdStride, p.dstNdStride);
    }
    const uint32_t m_max = nz ? 65535 : 8192;
    if (p.nSize < 1 || p.nSize > 4095 || p.mSize < 1 || p.mSize > m_max) {
        moge_emu::violation(call, "nSize %u (1..4095) or mSize %u (1..%u) out of range", p.nSize, p.mSize, m_max);
    }
    if (p.srcStride < p.mSize) {
        moge_emu::violation(call, "srcStride %u is smaller than mSize %u (it is the M extent of the L0C matrix, in rows "
                            "of 16 elements)", p.srcStride, p.mSize);
    }
    if (!moge_emu::aligned_to(moge_emu::address_of(src.ptr_), 64)) {
        moge_emu::violation(call, "src starts at L0C byte %llu, which is not 64-byte aligned",
                            static_cast<unsigned long long>(moge_emu::onchip_offset(src.ptr_, src.hw_)));
    }
    if (nz && p.dstStride == 0) {
        moge_emu::violation(call, "dstStride is 0 (with CFG_NZ it is the distance between 16-column blocks, in 32 bytes)");
    }
    if (config.format == CO2Layout::COLUMN_MAJOR) {
        moge_emu::violation(call, "CFG_COLUMN_MAJOR is not modelled (CFG_ROW_MAJOR and CFG_NZ are)");
    }
    if (!nz && p.dstStride < p.nSize) {
        moge_emu::violation(call, "dstStride %u is smaller than nSize %u (the ND row pitch, in elements)", p.dstStride, p.nSize);
    }
    const uint32_t n1 = moge_emu::ceil_div(p.nSize, 16);
    const uint64_t matrix_bytes = static_cast<uint64_t>(n1) * p.srcStride * 16 * sizeof(float);
    const uint64_t src_step = static_cast<uint64_t>(p.srcNdStride) * 1024;
    moge_emu::check_span(call, "src (L0C)", src, (p.ndNum - 1) * src_step + matrix_bytes);
    moge_emu::RaceOp op(call, PIPE_FIX);
    op.detail(moge_emu::TK_FIXPIPE, p.mSize, 0, p.nSize, sizeof(float), sizeof(T));
    std::vector<T> row(nz ? 16 : p.nSize);
    for (uint32_t nd = 0; nd < p.ndNum; ++nd) {
        const float* from = src.ptr_ + nd * src_step / sizeof(float);
        op.read(moge_emu::HW_L0C, from, matrix_bytes);
        const bool convert = !moge_emu::g_timing_only;
        for (uint32_t i = 0; i < p.mSize; ++i) {
            for (uint32_t jb = 0; jb < (nz ? n1 : 1u); ++jb) {
                const uint32_t j0 = nz ? jb * 16 : 0;
                const uint32_t width = nz ? (p.nSize - j0 < 16 ? p.nSize - j0 : 16) : p.nSize;
                for (uint32_t j = 0; convert && j < width; ++j) {
                    float v = from[moge_emu::nz_index(i, j0 + j, p.srcStride)];
                    if (p.reluEn && v < 0.0f) {
                        v = 0.0f;
                    }
                    row[j] = moge_emu::from_float<T>(v);
                }
                const uint64_t at = nz ? static_cast<uint64_t>(jb) * p.dstStride * (32 / sizeof(T)) + static_cast<uint64_t>(i) * 16
                                       : static_cast<uint64_t>(nd) * p.dstNdStride + static_cast<uint64_t>(i) * p.dstStride;
                T* out = dst.address_ + at;
                dst.check(call, out, static_cast<uint64_t>(width) * sizeof(T));
                op.write(moge_emu::HW_GM, out, static_cast<uint64_t>(width) * sizeof(T));
                moge_emu::gm_store(call, out, row.data(), width);
            }
        }
    }
}

}  // namespace AscendC

#endif  // MOGE_EMU_CUBE_H
