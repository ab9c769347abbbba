// moge CPU emulator: system variables (block index and count) and the advanced activation APIs that need no
// host tiling (Sigmoid, Silu, Swish, Tanh).
#ifndef MOGE_EMU_ADV_H
#define MOGE_EMU_ADV_H

#include "vec_elementwise.h"

namespace AscendC {

// ---- system variables -------------------------------------------------------------------------------------------

/// Index of this core in [0, GetBlockNum()).
inline int64_t GetBlockIdx() { return moge_emu::core().block_idx; }

/// blockDim of the launch.
inline int64_t GetBlockNum() { return moge_emu::core().block_num; }

/// Index of this AIV inside its AI Core (0 or 1 in a MIX_AIC_1_2 kernel; 0 otherwise and on the AIC).
inline int64_t GetSubBlockIdx() { return moge_emu::core().sub_block_idx; }

/// AIV cores per AI Core seen by this core (2 on the AIVs of MIX_AIC_1_2; 1 on an AIC and otherwise).
inline int64_t GetTaskRatio() { return moge_emu::core().task_ratio; }

inline int64_t GetSubBlockNum() { return moge_emu::core().task_ratio; }

inline constexpr int16_t GetDataBlockSizeInBytes() { return ONE_BLK_SIZE; }

/// A cycle counter; the emulator has no cycles and returns 0.
inline int64_t GetSystemCycle() { return 0; }

inline void GetArchVersion(uint32_t& coreVersion) { coreVersion = 220; }

/// Stops the core with an error.
inline void Trap() { moge_emu::violation("Trap", "the kernel called Trap()"); }

// ---- debugging output ---------------------------------------------------------------------------------------

/// printf from a kernel (the device-side form of CANN; the output goes to the emulator process's stdout).
template <class... Args>
inline void printf(__gm__ const char* fmt, Args&&... args) {
    std::printf(fmt, args...);
}

template <class... Args>
inline void PRINTF(__gm__ const char* fmt, Args&&... args) {
    std::printf(fmt, args...);
}

namespace moge_detail {
template <typename T>
inline void dump_elements(const char* kind, const T* data, uint32_t desc, uint64_t count) {
    std::printf("DumpTensor(%s) core %lld desc %u:", kind, static_cast<long long>(moge_emu::core().block_idx), desc);
    for (uint64_t i = 0; i < count; ++i) {
        if constexpr (moge_emu::is_float_type<T>()) {
            std::printf(" %g", static_cast<double>(moge_emu::to_float(data[i])));
        } else {
            std::printf(" %lld", static_cast<long long>(data[i]));
        }
    }
    std::printf("\n");
}
}  // namespace moge_detail

/// Prints the first `dumpSize` elements of a local tensor to the emulator process's stdout.
template <typename T>
inline void DumpTensor(const LocalTensor<T>& tensor, uint32_t desc, uint32_t dumpSize) {
    const char* call = "DumpTensor";
    if (tensor.ptr_ == nullptr) {
        moge_emu::violation(call, "dumping an uninitialized LocalTensor");
    }
    moge_detail::dump_elements("local", tensor.ptr_, desc, dumpSize < tensor.size_ ? dumpSize : tensor.size_);
}

/// Prints the first `dumpSize` elements of a global tensor to the emulator process's stdout.
template <typename T>
inline void DumpTensor(const GlobalTensor<T>& tensor, uint32_t desc, uint32_t dumpSize) {
    tensor.check("DumpTensor", tensor.address_, static_cast<uint64_t>(dumpSize) * sizeof(T));
    moge_detail::dump_elements("global", tensor.address_, desc, dumpSize);
}

// ---- activations ------------------------------------------------------------------------------------------------

namespace moge_detail {
template <typename T, typename F>
inline void activation(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& src, uint32_t count, F f) {
    static_assert(moge_emu::one_of<T, half, float>(), "activations support half and float");
    moge_emu::unary_count(call, dst, src, count, [f](const T& x) { return moge_emu::from_float<T>(f(moge_emu::to_float(x))); });
}

inline float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }
}  // namespace moge_detail

/// dst = 1 / (1 + exp(-src)) over `calCount` elements.
template <typename T, bool isReuseSource = false>
inline void Sigmoid(const LocalTensor<T>& dstTensor, const LocalTensor<T>& srcTensor, const LocalTensor<uint8_t>& sharedTmpBuffer,
                    const uint32_t calCount) {
    (void)sharedTmpBuffer;
    moge_detail::activation("Sigmoid", dstTensor, srcTensor, calCount, moge_detail::sigmoid);
}

template <typename T, bool isReuseSource = false>
inline void Sigmoid(const LocalTensor<T>& dstTensor, const LocalTensor<T>& srcTensor, const uint32_t calCount) {
    moge_detail::activation("Sigmoid", dstTensor, srcTensor, calCount, moge_detail::sigmoid);
}

template <typename T, bool isReuseSource = false>
inline void Sigmoid(const LocalTensor<T>& dstTensor, const LocalTensor<T>& srcTensor, const LocalTensor<uint8_t>& sharedTmpBuffer) {
    (void)sharedTmpBuffer;
    moge_detail::activation("Sigmoid", dstTensor, srcTensor, srcTensor.GetSize(), moge_detail::sigmoid);
}

template <typename T, bool isReuseSource = false>
inline void Sigmoid(const LocalTensor<T>& dstTensor, const LocalTensor<T>& srcTensor) {
    moge_detail::activation("Sigmoid", dstTensor, srcTensor, srcTensor.GetSize(), moge_detail::sigmoid);
}

/// dst = src * sigmoid(src) over `dataSize` elements.
template <typename T, bool isReuseSource = false>
inline void Silu(const LocalTensor<T>& dstLocal, const LocalTensor<T>& srcLocal, uint32_t dataSize) {
    moge_detail::activation("Silu", dstLocal, srcLocal, dataSize, [](float x) { return x * moge_detail::sigmoid(x); });
}

/// dst = src * sigmoid(scalarValue * src) over `dataSize` elements.
template <typename T, bool isReuseSource = false>
inline void Swish(const LocalTensor<T>& dstLocal, const LocalTensor<T>& srcLocal, uint32_t dataSize, const T scalarValue) {
    const float beta = moge_emu::to_float(scalarValue);
    moge_detail::activation("Swish", dstLocal, srcLocal, dataSize, [beta](float x) { return x * moge_detail::sigmoid(beta * x); });
}

/// dst = tanh(src) over `calCount` elements.
template <typename T, bool isReuseSource = false>
inline void Tanh(const LocalTensor<T>& dstTensor, const LocalTensor<T>& srcTensor, const LocalTensor<uint8_t>& sharedTmpBuffer,
                 const uint32_t calCount) {
    (void)sharedTmpBuffer;
    moge_detail::activation("Tanh", dstTensor, srcTensor, calCount, [](float x) { return std::tanh(x); });
}

template <typename T, bool isReuseSource = false>
inline void Tanh(const LocalTensor<T>& dstTensor, const LocalTensor<T>& srcTensor, const uint32_t calCount) {
    moge_detail::activation("Tanh", dstTensor, srcTensor, calCount, [](float x) { return std::tanh(x); });
}

template <typename T, bool isReuseSource = false>
inline void Tanh(const LocalTensor<T>& dstTensor, const LocalTensor<T>& srcTensor, const LocalTensor<uint8_t>& sharedTmpBuffer) {
    (void)sharedTmpBuffer;
    moge_detail::activation("Tanh", dstTensor, srcTensor, srcTensor.GetSize(), [](float x) { return std::tanh(x); });
}

template <typename T, bool isReuseSource = false>
inline void Tanh(const LocalTensor<T>& dstTensor, const LocalTensor<T>& srcTensor) {
    moge_detail::activation("Tanh", dstTensor, srcTensor, srcTensor.GetSize(), [](float x) { return std::tanh(x); });
}

}  // namespace AscendC

#endif  // MOGE_EMU_ADV_H
