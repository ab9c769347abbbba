// Hand-written AIC kernels for the emulator's cube unit: C[m x n] (f32) = A[m x k] (half) x B[k x n] (half),
// one tile (m, n, k <= 64 here), through GM -> L1 (Nd2Nz) -> L0A/L0B (LoadData) -> Mmad -> Fixpipe.
// `tiling` holds m, n, k and a mask of the flags to set (1 MTE2->MTE1, 2 MTE1->M, 4 M->FIX) as uint32; the
// race tests leave one out. `T` is the operand type (half, bfloat16_t or float; float needs k tiles of 8 and
// B given transposed, n x k, as the 2D load cannot transpose 32-bit fractals).
#include "kernel_operator.h"
using namespace AscendC;

template <typename T, typename Out, QuantMode_t kQuant>
__aicore__ inline void matmul_tile(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    const uint32_t* t = reinterpret_cast<const uint32_t*>(tiling);
    const uint32_t m = t[0], n = t[1], k = t[2], mask = t[3];
    constexpr uint32_t c0 = 32 / sizeof(T), frac = 512 / sizeof(T);
    constexpr bool wide = sizeof(T) == 4;
    const uint32_t m1 = (m + 15) / 16, n1 = (n + 15) / 16, k1 = (k + c0 - 1) / c0;
    const uint32_t ma = m1 * 16, na = n1 * 16, ka = k1 * c0;
    GlobalTensor<T> ga, gb;
    GlobalTensor<Out> gc;
    ga.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a), m * k);
    gb.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(b), k * n);
    gc.SetGlobalBuffer(reinterpret_cast<__gm__ Out*>(c), m * n);
    TPipe pipe;
    TBuf<TPosition::A1> a1;
    TBuf<TPosition::B1> b1;
    TBuf<TPosition::A2> a2;
    TBuf<TPosition::B2> b2;
    TBuf<TPosition::CO1> c1;
    // Rows of 16 (A: m, B: k for 16-bit types, n for float's transposed B), columns of C0.
    const uint32_t kb = wide ? ka : (k + 15) / 16 * 16;
    pipe.InitBuffer(a1, ma * ka * sizeof(T));
    pipe.InitBuffer(b1, kb * na * sizeof(T));
    pipe.InitBuffer(a2, ma * ka * sizeof(T));
    pipe.InitBuffer(b2, kb * na * sizeof(T));
    pipe.InitBuffer(c1, ma * na * 4);
    LocalTensor<T> la1 = a1.Get<T>(), lb1 = b1.Get<T>(), la2 = a2.Get<T>(), lb2 = b2.Get<T>();
    LocalTensor<float> lc = c1.Get<float>();
    DataCopy(la1, ga, Nd2NzParams(1, m, k, 0, k, ma, 1, 0));
    if (wide) {
        DataCopy(lb1, gb, Nd2NzParams(1, n, k, 0, k, na, 1, 0));  // B given as n x k
    } else {
        DataCopy(lb1, gb, Nd2NzParams(1, k, n, 0, n, kb, 1, 0));
    }
    if (mask & 1) {
        SetFlag<HardEvent::MTE2_MTE1>(0);
        WaitFlag<HardEvent::MTE2_MTE1>(0);
    }
    for (uint32_t i = 0; i < m1; ++i) {
        LoadData(la2[i * k1 * frac], la1[i * frac], LoadData2DParams(0, k1, m1, 0, 0, false, 0));
    }
    if (wide) {
        LoadData(lb2, lb1, LoadData2DParams(0, k1 * n1, 1, 0, 0, false, 0));
    } else {
        for (uint32_t i = 0; i < kb / 16; ++i) {
            LoadData(lb2[i * n1 * frac], lb1[i * frac], LoadData2DParams(0, n1, kb / 16, 0, 0, true, 0));
        }
    }
    if (mask & 2) {
        SetFlag<HardEvent::MTE1_M>(0);
        WaitFlag<HardEvent::MTE1_M>(0);
    }
    MmadParams mp;
    mp.m = m;
    mp.n = n;
    mp.k = k;
    Mmad(lc, la2, lb2, mp);
    if (mask & 4) {
        SetFlag<HardEvent::M_FIX>(0);
        WaitFlag<HardEvent::M_FIX>(0);
    }
    FixpipeParamsV220 fp(n, m, ma, n, false);
    fp.quantPre = kQuant;
    Fixpipe<Out, float, CFG_ROW_MAJOR>(gc, lc, fp);
}

extern "C" __global__ __aicore__ void matmul_f16(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace, GM_ADDR tiling) {
    matmul_tile<half, float, QuantMode_t::NoQuant>(a, b, c, tiling);
}

extern "C" __global__ __aicore__ void matmul_f16_to_f16(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace,
                                                       GM_ADDR tiling) {
    matmul_tile<half, half, QuantMode_t::F322F16>(a, b, c, tiling);
}

extern "C" __global__ __aicore__ void matmul_bf16_to_bf16(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace,
                                                         GM_ADDR tiling) {
    matmul_tile<bfloat16_t, bfloat16_t, QuantMode_t::F322BF16>(a, b, c, tiling);
}

extern "C" __global__ __aicore__ void matmul_f32(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace, GM_ADDR tiling) {
    matmul_tile<float, float, QuantMode_t::NoQuant>(a, b, c, tiling);
}

// Loads B into L0B without the transpose: the fractals keep L1's row-inside order instead of ZN, so Mmad
// reads B transposed inside each 16 x 16 block and the numbers come out wrong.
extern "C" __global__ __aicore__ void matmul_f16_wrong_layout(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace,
                                                             GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    GlobalTensor<half> ga, gb;
    GlobalTensor<float> gc;
    ga.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(a), 256);
    gb.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(b), 256);
    gc.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(c), 256);
    TPipe pipe;
    TBuf<TPosition::A1> a1;
    TBuf<TPosition::B1> b1;
    TBuf<TPosition::A2> a2;
    TBuf<TPosition::B2> b2;
    TBuf<TPosition::CO1> c1;
    pipe.InitBuffer(a1, 512);
    pipe.InitBuffer(b1, 512);
    pipe.InitBuffer(a2, 512);
    pipe.InitBuffer(b2, 512);
    pipe.InitBuffer(c1, 1024);
    LocalTensor<half> la1 = a1.Get<half>(), lb1 = b1.Get<half>(), la2 = a2.Get<half>(), lb2 = b2.Get<half>();
    LocalTensor<float> lc = c1.Get<float>();
    DataCopy(la1, ga, Nd2NzParams(1, 16, 16, 0, 16, 16, 1, 0));
    DataCopy(lb1, gb, Nd2NzParams(1, 16, 16, 0, 16, 16, 1, 0));
    PipeBarrier<PIPE_ALL>();
    LoadData(la2, la1, LoadData2DParams(0, 1, 1, 0, 0, false, 0));
    LoadData(lb2, lb1, LoadData2DParams(0, 1, 1, 0, 0, false, 0));
    PipeBarrier<PIPE_ALL>();
    MmadParams mp;
    mp.m = 16;
    mp.n = 16;
    mp.k = 16;
    Mmad(lc, la2, lb2, mp);
    PipeBarrier<PIPE_ALL>();
    Fixpipe(gc, lc, FixpipeParamsV220(16, 16, 16, 16, false));
}

// Asks Mmad for m = 4096 (past the 4095 the ISA allows).
extern "C" __global__ __aicore__ void mmad_m_too_large(GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    TPipe pipe;
    TBuf<TPosition::A2> a2;
    TBuf<TPosition::B2> b2;
    TBuf<TPosition::CO1> c1;
    pipe.InitBuffer(a2, 512);
    pipe.InitBuffer(b2, 512);
    pipe.InitBuffer(c1, 1024);
    MmadParams mp;
    mp.m = 4096;
    mp.n = 16;
    mp.k = 16;
    LocalTensor<float> lc = c1.Get<float>();
    Mmad(lc, a2.Get<half>(), b2.Get<half>(), mp);
}

// Asks for 65 KiB of L0A (64 KiB on 910B).
extern "C" __global__ __aicore__ void l0a_overflow(GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    TPipe pipe;
    TQue<TPosition::A2, 1> a2;
    pipe.InitBuffer(a2, 1, 65 * 1024);
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
