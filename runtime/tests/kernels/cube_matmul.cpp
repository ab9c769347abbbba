// Hand-written AIC kernels for the emulator's cube unit: C[m x n] (f32) = A[m x k] (half) x B[k x n] (half),
// one tile (m, n, k <= 64 here), through GM -> L1 (Nd2Nz) -> L0A/L0B (LoadData) -> Mmad -> Fixpipe.
// `tiling` holds m, n, k as uint32. `SYNC` selects whether the M->FIX flag is set (the race test removes it).
#include "kernel_operator.h"
using namespace AscendC;

template <bool kSync>
__aicore__ inline void matmul_tile(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    const uint32_t* t = reinterpret_cast<const uint32_t*>(tiling);
    const uint32_t m = t[0], n = t[1], k = t[2];
    const uint32_t ma = (m + 15) / 16 * 16, na = (n + 15) / 16 * 16, ka = (k + 15) / 16 * 16;
    GlobalTensor<half> ga, gb;
    GlobalTensor<float> gc;
    ga.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(a), m * k);
    gb.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(b), k * n);
    gc.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(c), m * n);
    TPipe pipe;
    TBuf<TPosition::A1> a1;
    TBuf<TPosition::B1> b1;
    TBuf<TPosition::A2> a2;
    TBuf<TPosition::B2> b2;
    TBuf<TPosition::CO1> c1;
    pipe.InitBuffer(a1, ma * ka * 2);
    pipe.InitBuffer(b1, ka * na * 2);
    pipe.InitBuffer(a2, ma * ka * 2);
    pipe.InitBuffer(b2, ka * na * 2);
    pipe.InitBuffer(c1, ma * na * 4);
    LocalTensor<half> la1 = a1.Get<half>(), lb1 = b1.Get<half>(), la2 = a2.Get<half>(), lb2 = b2.Get<half>();
    LocalTensor<float> lc = c1.Get<float>();
    DataCopy(la1, ga, Nd2NzParams(1, m, k, 0, k, ma, 1, 0));
    DataCopy(lb1, gb, Nd2NzParams(1, k, n, 0, n, ka, 1, 0));
    SetFlag<HardEvent::MTE2_MTE1>(0);
    WaitFlag<HardEvent::MTE2_MTE1>(0);
    for (uint32_t i = 0; i < ma / 16; ++i) {
        LoadData(la2[i * (ka / 16) * 256], la1[i * 256], LoadData2DParams(0, ka / 16, ma / 16, 0, 0, false, 0));
    }
    for (uint32_t i = 0; i < ka / 16; ++i) {
        LoadData(lb2[i * (na / 16) * 256], lb1[i * 256], LoadData2DParams(0, na / 16, ka / 16, 0, 0, true, 0));
    }
    SetFlag<HardEvent::MTE1_M>(0);
    WaitFlag<HardEvent::MTE1_M>(0);
    MmadParams mp;
    mp.m = m;
    mp.n = n;
    mp.k = k;
    Mmad(lc, la2, lb2, mp);
    if (kSync) {
        SetFlag<HardEvent::M_FIX>(0);
        WaitFlag<HardEvent::M_FIX>(0);
    }
    FixpipeParamsV220 fp(n, m, ma, n, false);
    Fixpipe<float, float, CFG_ROW_MAJOR>(gc, lc, fp);
}

extern "C" __global__ __aicore__ void matmul_synced(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace, GM_ADDR tiling) {
    matmul_tile<true>(a, b, c, tiling);
}

extern "C" __global__ __aicore__ void matmul_no_m_fix(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace, GM_ADDR tiling) {
    matmul_tile<false>(a, b, c, tiling);
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
