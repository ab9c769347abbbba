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

// MIX, every cross-core mode (GM words of AI core u start at 64u):
// - mode 1: each AIV writes word 64u + 1 + s, the AIV pair synchronizes, each copies its sibling's word to
//   64u + 3 + s;
// - mode 2 AIV -> AIC: both AIVs set flag 2, the AIC (waiting once, for both) writes their sum to 64u;
// - mode 0: every AIV sets flag 4; after the wait each AIV sums the first words of all AIVs (64v + 1 + t) into
//   64u + 5 + s.
// Bit 1 of tiling[0] leaves out the mode-2 set of AIV u.1, so the AIC waits forever; bit 2 makes AIV u.0 set
// twice, which does not stand in for its sibling (the AIC still waits forever with bits 1 and 2).
extern "C" __global__ __aicore__ void cross_core_modes(GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
    const uint32_t mask = reinterpret_cast<const uint32_t*>(tiling)[0];
    GlobalTensor<int32_t> g;
    g.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(y), 64 * GetBlockNum());
    if ASCEND_IS_AIV {
        const uint32_t u = GetBlockIdx() / 2, s = GetSubBlockIdx();
        g.SetValue(64 * u + 1 + s, static_cast<int32_t>(10 * GetBlockIdx() + 1));
        CrossCoreSetFlag<1, PIPE_S>(1);
        CrossCoreWaitFlag<1, PIPE_S>(1);
        g.SetValue(64 * u + 3 + s, g.GetValue(64 * u + 1 + (1 - s)));
        if (!((mask & 2) && s == 1)) {
            CrossCoreSetFlag<2, PIPE_S>(2);
        }
        if ((mask & 4) && s == 0) {
            // Bit 2: AIV u.0 sets once more, in place of its sibling.
            CrossCoreSetFlag<2, PIPE_S>(2);
        }
        CrossCoreSetFlag<0, PIPE_S>(4);
        CrossCoreWaitFlag<0, PIPE_S>(4);
        int32_t sum = 0;
        for (uint32_t v = 0; v < GetBlockNum(); ++v) {
            sum += g.GetValue(64 * v + 1) + g.GetValue(64 * v + 2);
        }
        g.SetValue(64 * u + 5 + s, sum);
    }
    if ASCEND_IS_AIC {
        const uint32_t u = GetBlockIdx();
        CrossCoreWaitFlag<2, PIPE_S>(2);
        g.SetValue(64 * u, g.GetValue(64 * u + 1) + g.GetValue(64 * u + 2));
    }
}

// MIX: the AIC signals its AIVs (mode 2) only when `tiling[0]` is 1; otherwise the AIVs wait forever.
extern "C" __global__ __aicore__ void mix_handoff(GM_ADDR out, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
    const uint32_t signal = reinterpret_cast<const uint32_t*>(tiling)[0];
    GlobalTensor<int32_t> g;
    g.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(out), 64);
    if ASCEND_IS_AIC {
        g.SetValue(GetBlockIdx() * 8, 100 + static_cast<int32_t>(GetBlockIdx()));
        if (signal) {
            CrossCoreSetFlag<2, PIPE_S>(3);
        }
    }
    if ASCEND_IS_AIV {
        CrossCoreWaitFlag(3);
        g.SetValue(GetBlockNum() * 8 + GetBlockIdx() * 8,
                   static_cast<int32_t>(GetBlockIdx() * 10 + GetSubBlockIdx() + GetTaskRatio() * 1000));
    }
}

// MIX SyncAll: SyncAll<true>() synchronizes the cores of the caller's type (the AICs among themselves, the
// AIVs among themselves), SyncAll<false>() every core. AIC u writes word 8u, then (after the AIC barrier) copies
// AIC u+1's word to 8u + 1; AIV v likewise at 64 + 8v; after the full barrier (bit 1 of tiling[0]) AIV v copies
// its AIC's second word to 64 + 8v + 2.
extern "C" __global__ __aicore__ void mix_sync_all(GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
    const uint32_t mask = reinterpret_cast<const uint32_t*>(tiling)[0];
    const uint32_t n = GetBlockNum(), idx = GetBlockIdx();
    GlobalTensor<int32_t> g;
    g.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(y), 64 + 16 * n);
    if ASCEND_IS_AIC {
        g.SetValue(8 * idx, static_cast<int32_t>(100 + idx));
        SyncAll<true>();
        g.SetValue(8 * idx + 1, g.GetValue(8 * ((idx + 1) % n)));
    }
    if ASCEND_IS_AIV {
        g.SetValue(64 + 8 * idx, static_cast<int32_t>(idx));
        SyncAll<true>();
        g.SetValue(64 + 8 * idx + 1, g.GetValue(64 + 8 * ((idx + 1) % (2 * n))));
    }
    if (mask & 1) {
        SyncAll<false>();
    }
    if ASCEND_IS_AIV {
        g.SetValue(64 + 8 * idx + 2, g.GetValue(8 * (idx / 2) + 1));
    }
}

// MIX faults, by bit of tiling[0]. Without bits the AIVs hand a flag to their AIC (mode 2) and the AIC writes
// word 64u + 40. Bit 0: AIV 0.1 reads past its GlobalTensor before it sets, so it stops and AIC 0 can never get
// the flag. Bit 1: the AIC also sets flag 5 for its AIVs, which never wait for it. Bit 2: the AIC writes words
// 64u..64u+31 many times while its AIVs read them with no flag between (a data race whose first conflicting
// access depends on how the cores interleave).
extern "C" __global__ __aicore__ void mix_faults(GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
    const uint32_t mask = reinterpret_cast<const uint32_t*>(tiling)[0];
    GlobalTensor<int32_t> g;
    g.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(y), 64 * GetBlockNum());
    if ASCEND_IS_AIC {
        const uint32_t u = GetBlockIdx();
        if (mask & 4) {
            for (int32_t round = 0; round < 200; ++round) {
                for (uint32_t i = 0; i < 32; ++i) {
                    g.SetValue(64 * u + i, round);
                }
            }
        }
        if (mask & 2) {
            CrossCoreSetFlag<2, PIPE_S>(5);
        }
        CrossCoreWaitFlag<2, PIPE_S>(2);
        g.SetValue(64 * u + 40, 7);
    }
    if ASCEND_IS_AIV {
        const uint32_t u = GetBlockIdx() / 2;
        if ((mask & 1) && GetBlockIdx() == 1) {
            g.GetValue(64 * GetBlockNum());
        }
        if (mask & 4) {
            int32_t sum = 0;
            for (int32_t round = 0; round < 200; ++round) {
                for (uint32_t i = 0; i < 32; ++i) {
                    sum += g.GetValue(64 * u + i);
                }
            }
            g.SetValue(64 * u + 48 + GetSubBlockIdx(), sum);
        }
        CrossCoreSetFlag<2, PIPE_S>(2);
    }
}
