// Hand-written kernels for the race detector: each has its synchronization switched by a bit of `tiling[0]`
// (1 = present). Executed sequentially, every variant computes the same numbers; only the checking mode tells
// the kernels that would race on the NPU from the ones that would not.
#include "kernel_operator.h"
using namespace AscendC;

constexpr uint32_t kMte2V = 1, kVMte3 = 2, kVBarrier = 4;

// y = x * 2 + 1 over 64 floats in one UB buffer pair (TBuf: no queue hand-offs, so every sync is explicit).
extern "C" __global__ __aicore__ void vector_flags(GM_ADDR x, GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    const uint32_t mask = reinterpret_cast<const uint32_t*>(tiling)[0];
    GlobalTensor<float> gx, gy;
    gx.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 64);
    gy.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(y), 64);
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 512);
    LocalTensor<float> in = buf.GetWithOffset<float>(64, 0);
    LocalTensor<float> out = buf.GetWithOffset<float>(64, 256);
    DataCopy(in, gx, 64);
    if (mask & kMte2V) {
        SetFlag<HardEvent::MTE2_V>(0);
        WaitFlag<HardEvent::MTE2_V>(0);
    }
    Muls(out, in, 2.0f, 64);
    if (mask & kVBarrier) {
        PipeBarrier<PIPE_V>();
    }
    Adds(out, out, 1.0f, 64);
    if (mask & kVMte3) {
        SetFlag<HardEvent::V_MTE3>(0);
        WaitFlag<HardEvent::V_MTE3>(0);
    }
    DataCopy(gy, out, 64);
}

// Core 0 writes 8 floats of `y` from UB; every core then reads them back into UB and writes them to its own
// slot. SyncAll (bit 1) orders the reads after core 0's write.
extern "C" __global__ __aicore__ void sync_all_handoff(GM_ADDR x, GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    const uint32_t mask = reinterpret_cast<const uint32_t*>(tiling)[0];
    GlobalTensor<float> gx, gy;
    gx.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 8);
    gy.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(y), 8 * (GetBlockNum() + 1));
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 64);
    LocalTensor<float> t = buf.Get<float>();
    if (GetBlockIdx() == 0) {
        DataCopy(t, gx, 8);
        SetFlag<HardEvent::MTE2_MTE3>(0);
        WaitFlag<HardEvent::MTE2_MTE3>(0);
        DataCopy(gy, t, 8);
        SetFlag<HardEvent::MTE3_MTE2>(0);
        WaitFlag<HardEvent::MTE3_MTE2>(0);
    }
    if (mask & 1) {
        SyncAll();
    }
    DataCopy(t, gy, 8);
    SetFlag<HardEvent::MTE2_MTE3>(0);
    WaitFlag<HardEvent::MTE2_MTE3>(0);
    DataCopy(gy[8 * (GetBlockIdx() + 1)], t, 8);
}

// MIX: each AIC writes a GM word, its two AIVs read it; the cross-core flag (bit 1) orders the reads.
extern "C" __global__ __aicore__ void cross_core_handoff(GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
    const uint32_t mask = reinterpret_cast<const uint32_t*>(tiling)[0];
    GlobalTensor<int32_t> g;
    g.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(y), 32);
    // AI core u owns words 16u..16u+15: the AIC writes word 16u, its AIV s writes word 16u + 4 + 4s.
    if ASCEND_IS_AIC {
        g.SetValue(16 * GetBlockIdx(), 42 + static_cast<int32_t>(GetBlockIdx()));
        if (mask & 1) {
            CrossCoreSetFlag<2, PIPE_S>(5);
        }
    }
    if ASCEND_IS_AIV {
        if (mask & 1) {
            CrossCoreWaitFlag(5);
        }
        const uint32_t u = GetBlockIdx() / GetTaskRatio();
        g.SetValue(16 * u + 4 + 4 * GetSubBlockIdx(), g.GetValue(16 * u) + 1);
    }
}
