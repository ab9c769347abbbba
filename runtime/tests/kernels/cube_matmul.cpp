// Hand-written AIC kernels for the emulator's cube unit: C[m x n] (f32) = A[m x k] (half) x B[k x n] (half),
// one tile (m, n, k <= 64 here), through GM -> L1 (Nd2Nz) -> L0A/L0B (LoadData) -> Mmad -> Fixpipe.
// `tiling` holds m, n, k and a mask of the flags to set (1 MTE2->MTE1, 2 MTE1->M, 4 M->FIX) as uint32; the
// race tests leave one out. Mask bit 8 makes the Mmad accumulate (cmatrixInitVal = false) onto unwritten L0C. `T` is the operand type (half, bfloat16_t or float; float needs k tiles of 8 and
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
    // Bit 3 of the mask: accumulate onto L0C as if an earlier Mmad had written it (none did).
    mp.cmatrixInitVal = (mask & 8) == 0;
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

// C = A (16 x 32, half) x B (32 x 32, half) into L0C, loaded once per core; `k_lo`/`k_len` pick the K range.
__aicore__ inline void product_16x32(const GlobalTensor<half>& ga, const GlobalTensor<half>& gb, LocalTensor<half>& la1,
                                     LocalTensor<half>& lb1, LocalTensor<half>& la2, LocalTensor<half>& lb2,
                                     LocalTensor<float>& lc, uint32_t k_lo, uint32_t k_len) {
    // A columns k_lo.. (16 x k_len), B rows k_lo.. (k_len x 32).
    DataCopy(la1, ga[k_lo], Nd2NzParams(1, 16, k_len, 0, 32, 16, 1, 0));
    DataCopy(lb1, gb[k_lo * 32], Nd2NzParams(1, k_len, 32, 0, 32, k_len, 1, 0));
    PipeBarrier<PIPE_ALL>();
    LoadData(la2, la1, LoadData2DParams(0, k_len / 16, 1, 0, 0, false, 0));
    for (uint32_t i = 0; i < k_len / 16; ++i) {
        LoadData(lb2[i * 2 * 256], lb1[i * 256], LoadData2DParams(0, 2, k_len / 16, 0, 0, true, 0));
    }
    PipeBarrier<PIPE_ALL>();
    MmadParams mp;
    mp.m = 16;
    mp.n = 32;
    mp.k = k_len;
    Mmad(lc, la2, lb2, mp);
    PipeBarrier<PIPE_ALL>();
}

#define MOGE_CUBE_BUFFERS                                                                                \
    TPipe pipe;                                                                                          \
    TBuf<TPosition::A1> a1;                                                                              \
    TBuf<TPosition::B1> b1;                                                                              \
    TBuf<TPosition::A2> a2;                                                                              \
    TBuf<TPosition::B2> b2;                                                                              \
    TBuf<TPosition::CO1> c1;                                                                             \
    pipe.InitBuffer(a1, 16 * 32 * 2);                                                                    \
    pipe.InitBuffer(b1, 32 * 32 * 2);                                                                    \
    pipe.InitBuffer(a2, 16 * 32 * 2);                                                                    \
    pipe.InitBuffer(b2, 32 * 32 * 2);                                                                    \
    pipe.InitBuffer(c1, 16 * 32 * 4);                                                                    \
    LocalTensor<half> la1 = a1.Get<half>(), lb1 = b1.Get<half>(), la2 = a2.Get<half>(), lb2 = b2.Get<half>(); \
    LocalTensor<float> lc = c1.Get<float>();

// Three Fixpipe forms of the same 16 x 32 product: NZ (two 16-column blocks 16 x 64 B = 32 x 32 B apart),
// ROW_MAJOR with ReLU, and ROW_MAJOR with ndNum = 2 (the two 16 x 16 halves as separate ND matrices).
extern "C" __global__ __aicore__ void fixpipe_forms(GM_ADDR a, GM_ADDR b, GM_ADDR nz, GM_ADDR relu, GM_ADDR halves,
                                                   GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    GlobalTensor<half> ga, gb;
    GlobalTensor<float> gnz, grelu, ghalves;
    ga.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(a), 16 * 32);
    gb.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(b), 32 * 32);
    gnz.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(nz), 16 * 32);
    grelu.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(relu), 16 * 32);
    ghalves.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(halves), 16 * 32);
    MOGE_CUBE_BUFFERS
    product_16x32(ga, gb, la1, lb1, la2, lb2, lc, 0, 32);
    Fixpipe<float, float, CFG_NZ>(gnz, lc, FixpipeParamsV220(32, 16, 16, 32, false));
    Fixpipe<float, float, CFG_ROW_MAJOR>(grelu, lc, FixpipeParamsV220(32, 16, 16, 32, true));
    FixpipeParamsV220 two(16, 16, 16, 16, false);
    two.ndNum = 2;
    two.srcNdStride = 1;
    two.dstNdStride = 256;
    Fixpipe<float, float, CFG_ROW_MAJOR>(ghalves, lc, two);
}

// Split K over two AIC cores: core b multiplies K columns 16b..16b+15 and adds its partial product into C
// with SetAtomicAdd<float>.
extern "C" __global__ __aicore__ void matmul_split_k_atomic(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace,
                                                           GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    GlobalTensor<half> ga, gb;
    GlobalTensor<float> gc;
    ga.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(a), 16 * 32);
    gb.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(b), 32 * 32);
    gc.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(c), 16 * 32);
    MOGE_CUBE_BUFFERS
    product_16x32(ga, gb, la1, lb1, la2, lb2, lc, 16 * GetBlockIdx(), 16);
    SetAtomicAdd<float>();
    Fixpipe<float, float, CFG_ROW_MAJOR>(gc, lc, FixpipeParamsV220(32, 16, 16, 32, false));
    SetAtomicNone();
}

// MIX matmul + vector epilogue, the shape of kernel the compiler emits for matmul followed by vector ops:
// the AIC computes C = A B (16 x 32), writes it to the GM workspace with Fixpipe and signals its AIVs
// (CrossCoreSetFlag<2, PIPE_FIX>); AIV s waits, reads rows 8s..8s+7, computes relu(c + 1) and writes them.
// Bit 1 of tiling[0] drops the MTE2->V flag on the AIVs (a race the checking mode must report).
extern "C" __global__ __aicore__ void mix_matmul_relu(GM_ADDR a, GM_ADDR b, GM_ADDR y, GM_ADDR workspace,
                                                     GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
    const uint32_t mask = reinterpret_cast<const uint32_t*>(tiling)[0];
    GlobalTensor<float> ws, gy;
    ws.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace), 16 * 32);
    gy.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(y), 16 * 32);
    if ASCEND_IS_AIC {
        GlobalTensor<half> ga, gb;
        ga.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(a), 16 * 32);
        gb.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(b), 32 * 32);
        MOGE_CUBE_BUFFERS
        product_16x32(ga, gb, la1, lb1, la2, lb2, lc, 0, 32);
        Fixpipe<float, float, CFG_ROW_MAJOR>(ws, lc, FixpipeParamsV220(32, 16, 16, 32, false));
        CrossCoreSetFlag<2, PIPE_FIX>(0);
    }
    if ASCEND_IS_AIV {
        const uint32_t s = GetSubBlockIdx();
        TPipe pipe;
        TQue<TPosition::VECIN, 1> in;
        TQue<TPosition::VECOUT, 1> out;
        TBuf<TPosition::VECCALC> raw;
        pipe.InitBuffer(in, 1, 256 * 4);
        pipe.InitBuffer(out, 1, 256 * 4);
        pipe.InitBuffer(raw, 256 * 4);
        CrossCoreWaitFlag(0);
        LocalTensor<float> c = raw.Get<float>();
        DataCopy(c, ws[256 * s], 256);
        if (!(mask & 1)) {
            SetFlag<HardEvent::MTE2_V>(0);
            WaitFlag<HardEvent::MTE2_V>(0);
        }
        LocalTensor<float> r = out.AllocTensor<float>();
        Adds(r, c, 1.0f, 256);
        PipeBarrier<PIPE_V>();
        Relu(r, r, 256);
        out.EnQue(r);
        r = out.DeQue<float>();
        DataCopy(gy[256 * s], r, 256);
        out.FreeTensor(r);
    }
}

// LoadData's fractal addressing: L0A is first cleared from a zero L1 matrix, then gets fractals 1 and 3 of A
// (16 x 64 half: four 16 x 16 column blocks) with startIndex 1, srcStride 2, dstGap 1, i.e. into fractals 0
// and 2. Multiplying by the 64 x 64 identity shows L0A: C = [A1 0 A3 0].
extern "C" __global__ __aicore__ void load_data_index_gap(GM_ADDR a, GM_ADDR zeros, GM_ADDR identity, GM_ADDR c,
                                                         GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    GlobalTensor<half> ga, gz, gi;
    GlobalTensor<float> gc;
    ga.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(a), 16 * 64);
    gz.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(zeros), 16 * 64);
    gi.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(identity), 64 * 64);
    gc.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(c), 16 * 64);
    TPipe pipe;
    TBuf<TPosition::A1> a1, z1;
    TBuf<TPosition::B1> b1;
    TBuf<TPosition::A2> a2;
    TBuf<TPosition::B2> b2;
    TBuf<TPosition::CO1> c1;
    pipe.InitBuffer(a1, 16 * 64 * 2);
    pipe.InitBuffer(z1, 16 * 64 * 2);
    pipe.InitBuffer(b1, 64 * 64 * 2);
    pipe.InitBuffer(a2, 16 * 64 * 2);
    pipe.InitBuffer(b2, 64 * 64 * 2);
    pipe.InitBuffer(c1, 16 * 64 * 4);
    LocalTensor<half> la1 = a1.Get<half>(), lz1 = z1.Get<half>(), lb1 = b1.Get<half>(), la2 = a2.Get<half>(),
                      lb2 = b2.Get<half>();
    LocalTensor<float> lc = c1.Get<float>();
    DataCopy(la1, ga, Nd2NzParams(1, 16, 64, 0, 64, 16, 1, 0));
    DataCopy(lz1, gz, Nd2NzParams(1, 16, 64, 0, 64, 16, 1, 0));
    DataCopy(lb1, gi, Nd2NzParams(1, 64, 64, 0, 64, 64, 1, 0));
    SetFlag<HardEvent::MTE2_MTE1>(0);
    WaitFlag<HardEvent::MTE2_MTE1>(0);
    LoadData(la2, lz1, LoadData2DParams(0, 4, 1, 0, 0, false, 0));
    LoadData(la2, la1, LoadData2DParams(1, 2, 2, 0, 1, false, 0));
    for (uint32_t i = 0; i < 4; ++i) {
        LoadData(lb2[i * 4 * 256], lb1[i * 256], LoadData2DParams(0, 4, 4, 0, 0, true, 0));
    }
    SetFlag<HardEvent::MTE1_M>(0);
    WaitFlag<HardEvent::MTE1_M>(0);
    MmadParams mp;
    mp.m = 16;
    mp.n = 64;
    mp.k = 64;
    Mmad(lc, la2, lb2, mp);
    SetFlag<HardEvent::M_FIX>(0);
    WaitFlag<HardEvent::M_FIX>(0);
    Fixpipe(gc, lc, FixpipeParamsV220(64, 16, 16, 64, false));
}

// GEMV: Mmad with m = 1 reads L0A as ND (Mmad.md). x (1 x 48, half) times B (48 x 32): with tiling[0] = 0 x is
// copied to L1 as it is and LoadData moves its bytes to L0A unchanged (ND, right); with 1 it goes through
// Nd2Nz into ZZ fractals like a matrix with 16 rows (each 16-element chunk at the start of its own fractal),
// which Mmad then misreads.
extern "C" __global__ __aicore__ void gemv_layouts(GM_ADDR x, GM_ADDR b, GM_ADDR c, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    const uint32_t zz = reinterpret_cast<const uint32_t*>(tiling)[0];
    GlobalTensor<half> gx, gb;
    GlobalTensor<float> gc;
    gx.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(x), 48);
    gb.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(b), 48 * 32);
    gc.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(c), 32);
    TPipe pipe;
    TBuf<TPosition::A1> a1;
    TBuf<TPosition::B1> b1;
    TBuf<TPosition::A2> a2;
    TBuf<TPosition::B2> b2;
    TBuf<TPosition::CO1> c1;
    pipe.InitBuffer(a1, 16 * 48 * 2);
    pipe.InitBuffer(b1, 48 * 32 * 2);
    pipe.InitBuffer(a2, 16 * 48 * 2);
    pipe.InitBuffer(b2, 48 * 32 * 2);
    pipe.InitBuffer(c1, 16 * 32 * 4);
    LocalTensor<half> la1 = a1.Get<half>(), lb1 = b1.Get<half>(), la2 = a2.Get<half>(), lb2 = b2.Get<half>();
    LocalTensor<float> lc = c1.Get<float>();
    if (zz) {
        DataCopy(la1, gx, Nd2NzParams(1, 1, 48, 0, 48, 16, 1, 0));
    } else {
        DataCopy(la1, gx, 48);
    }
    DataCopy(lb1, gb, Nd2NzParams(1, 48, 32, 0, 32, 48, 1, 0));
    PipeBarrier<PIPE_ALL>();
    // ND: 96 bytes fit in the first fractal; ZZ: the three fractals of the single row block.
    LoadData(la2, la1, LoadData2DParams(0, zz ? 3 : 1, 1, 0, 0, false, 0));
    for (uint32_t i = 0; i < 3; ++i) {
        LoadData(lb2[i * 2 * 256], lb1[i * 256], LoadData2DParams(0, 2, 3, 0, 0, true, 0));
    }
    PipeBarrier<PIPE_ALL>();
    MmadParams mp;
    mp.m = 1;
    mp.n = 32;
    mp.k = 48;
    Mmad(lc, la2, lb2, mp);
    PipeBarrier<PIPE_ALL>();
    Fixpipe(gc, lc, FixpipeParamsV220(32, 1, 16, 32, false));
}

// Mmad with a bias row: the bias (32 floats) goes GM -> L1 -> C2 (bias table); C = A B + bias.
extern "C" __global__ __aicore__ void mmad_bias(GM_ADDR a, GM_ADDR b, GM_ADDR bias, GM_ADDR c, GM_ADDR workspace,
                                               GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    GlobalTensor<half> ga, gb;
    GlobalTensor<float> gbias, gc;
    ga.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(a), 16 * 32);
    gb.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(b), 32 * 32);
    gbias.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(bias), 32);
    gc.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(c), 16 * 32);
    TBuf<TPosition::C1> bias1;
    TBuf<TPosition::C2> bias2;
    MOGE_CUBE_BUFFERS
    pipe.InitBuffer(bias1, 32 * 4);
    pipe.InitBuffer(bias2, 32 * 4);
    LocalTensor<float> lbias1 = bias1.Get<float>(), lbias2 = bias2.Get<float>();
    DataCopy(la1, ga, Nd2NzParams(1, 16, 32, 0, 32, 16, 1, 0));
    DataCopy(lb1, gb, Nd2NzParams(1, 32, 32, 0, 32, 32, 1, 0));
    DataCopy(lbias1, gbias, 32);
    PipeBarrier<PIPE_ALL>();
    DataCopy(lbias2, lbias1, 32);
    LoadData(la2, la1, LoadData2DParams(0, 2, 1, 0, 0, false, 0));
    for (uint32_t i = 0; i < 2; ++i) {
        LoadData(lb2[i * 2 * 256], lb1[i * 256], LoadData2DParams(0, 2, 2, 0, 0, true, 0));
    }
    PipeBarrier<PIPE_ALL>();
    MmadParams mp;
    mp.m = 16;
    mp.n = 32;
    mp.k = 32;
    Mmad(lc, la2, lb2, lbias2, mp);
    PipeBarrier<PIPE_ALL>();
    Fixpipe(gc, lc, FixpipeParamsV220(32, 16, 16, 32, false));
}
