// The AIC matmul kernel the cube lowering must emit, written by hand: the spec shared by the compiler
// (lower/src/schedule/cube) and the emulator. C[M x N] = A[M x K] * B[K x N], A, B, C row-major in GM,
// half or bfloat16_t in and out, f32 accumulation in L0C.
//
// Tiling (uint32_t fields, in this order; made on the host from `MatmulPlan`):
//   M N K  m n k  depth  tilesM tilesN  swizzle  cBufs
// Output tile t (t = GetBlockIdx(), + GetBlockNum(), ...) is (i, j) in the plan's tile order: groups of
// `swizzle` column blocks, row block by row block within a group. Each tile accumulates over K in L0C,
// one L1 stage (`depth * k` of K) at a time, one `k` slice per Mmad, and is written once by Fixpipe
// (NZ->ND, f32->half/bf16).
//
// Buffers: L1 holds two stages (A: m x depth*k, B: depth*k x n, NZ); L0A/L0B two k slices (ZZ / ZN);
// L0C `cBufs` (1 or 2) accumulators. Sync is explicit, one event id per buffer slot:
//   MTE2 -> MTE1  stage copied            (MTE2_MTE1, id = L1 slot)
//   MTE1 -> MTE2  stage no longer read     (MTE1_MTE2, id = L1 slot; pre-set once at the start)
//   MTE1 -> M     slice loaded             (MTE1_M,    id = L0 slot)
//   M -> MTE1     slice no longer read     (M_MTE1,    id = L0 slot; pre-set)
//   M -> FIX      accumulator complete     (M_FIX,     id = L0C slot)
//   FIX -> M      accumulator written out  (FIX_M,     id = L0C slot; pre-set)
// Every pre-set flag is waited once at the end, so sets and waits pair.
// Type-checked against the real CANN 8.5 headers (shared/reference/real-header-check.md: g++ -fsyntax-only in the
// cpu, cube and vec modes, no errors); the parameter orders of Nd2NzParams, LoadData2DParams and
// FixpipeParamsV220 follow kernel_struct_data_copy.h, kernel_struct_mm.h and kernel_struct_fixpipe.h of v8.5.0.
// The MIX kernel at the end (matmul_softmax_mix_bf16) is the spec of a matmul with a vector epilogue: the AIC
// part above hands tiles to its AIVs through a GM workspace with CrossCoreSetFlag/CrossCoreWaitFlag.
#include "kernel_operator.h"
using namespace AscendC;

namespace {

struct MatmulTiling {
    uint32_t M, N, K, m, n, k, depth, tilesM, tilesN, swizzle, cBufs;
};

__aicore__ inline uint32_t CeilDiv(uint32_t a, uint32_t b) { return (a + b - 1) / b; }
__aicore__ inline uint32_t Align16(uint32_t a) { return (a + 15) / 16 * 16; }
__aicore__ inline uint32_t Min(uint32_t a, uint32_t b) { return a < b ? a : b; }

// Cross-core flags of the MIX kernels: a workspace slot is ready (AIC -> both AIVs) / free again (both AIVs
// -> AIC). Mode 2 counts per AI core.
constexpr uint16_t kSlotReady = 1;
constexpr uint16_t kSlotFree = 2;
// Both AIVs of an AI core have read their half of a slot (mode 1, AIV <-> AIV). It keeps the two AIVs' frees
// of one slot together: the AIC's wait then covers both reads whether the hardware counts the two AIVs'
// mode-2 sets per AIV or (as the emulator does) as a pair of any two sets.
constexpr uint16_t kPairRead = 3;

// The AIC side. With kMix, `c` is the workspace: tile number n of this core goes to slot n % 2 of the core's
// two m x N slots (f32 before conversion is not kept: the slots hold Out), and the AIVs are told it is there;
// the AIC waits for them to have read a slot before it writes it again. Otherwise `c` is C itself.
template <typename T, typename Out, QuantMode_t kQuant, bool kMix>
__aicore__ inline void MatmulAic(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR tilingGm) {
    const __gm__ uint32_t* f = reinterpret_cast<const __gm__ uint32_t*>(tilingGm);
    const MatmulTiling tl{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10]};
    constexpr uint32_t kFrac = 512 / sizeof(T);  // elements of one 16 x 16 fractal
    const uint32_t stageK = tl.depth * tl.k;
    const uint32_t stages = CeilDiv(tl.K, stageK);
    GlobalTensor<T> ga, gb;
    GlobalTensor<Out> gc;
    ga.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(a), static_cast<uint64_t>(tl.M) * tl.K);
    gb.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(b), static_cast<uint64_t>(tl.K) * tl.N);
    if (kMix) {
        gc.SetGlobalBuffer(reinterpret_cast<__gm__ Out*>(c), static_cast<uint64_t>(GetBlockNum()) * 2 * tl.m * tl.N);
    } else {
        gc.SetGlobalBuffer(reinterpret_cast<__gm__ Out*>(c), static_cast<uint64_t>(tl.M) * tl.N);
    }

    TPipe pipe;
    TBuf<TPosition::A1> a1;
    TBuf<TPosition::B1> b1;
    TBuf<TPosition::A2> a2;
    TBuf<TPosition::B2> b2;
    TBuf<TPosition::CO1> c1;
    const uint32_t a1Slot = tl.m * stageK, b1Slot = stageK * tl.n;  // elements
    const uint32_t a2Slot = tl.m * tl.k, b2Slot = tl.k * tl.n, cSlot = tl.m * tl.n;
    pipe.InitBuffer(a1, 2 * a1Slot * sizeof(T));
    pipe.InitBuffer(b1, 2 * b1Slot * sizeof(T));
    pipe.InitBuffer(a2, 2 * a2Slot * sizeof(T));
    pipe.InitBuffer(b2, 2 * b2Slot * sizeof(T));
    pipe.InitBuffer(c1, tl.cBufs * cSlot * sizeof(float));
    LocalTensor<T> la1 = a1.Get<T>(), lb1 = b1.Get<T>(), la2 = a2.Get<T>(), lb2 = b2.Get<T>();
    LocalTensor<float> lc = c1.Get<float>();

    for (int32_t s = 0; s < 2; ++s) {
        SetFlag<HardEvent::MTE1_MTE2>(s);
        SetFlag<HardEvent::M_MTE1>(s);
    }
    for (uint32_t s = 0; s < tl.cBufs; ++s) {
        SetFlag<HardEvent::FIX_M>(static_cast<int32_t>(s));
    }
    uint32_t stageCount = 0, sliceCount = 0, tileCount = 0;
    const uint32_t tiles = tl.tilesM * tl.tilesN;
    for (uint32_t t = GetBlockIdx(); t < tiles; t += GetBlockNum()) {
        // Tile t in the swizzled order: group g of `swizzle` column blocks (the last may be narrower).
        const uint32_t perGroup = tl.swizzle * tl.tilesM;
        const uint32_t g = t / perGroup, r = t % perGroup;
        const uint32_t width = Min(tl.swizzle, tl.tilesN - g * tl.swizzle);
        const uint32_t i = r / width, j = g * tl.swizzle + r % width;
        const uint32_t rows = Min(tl.m, tl.M - i * tl.m), cols = Min(tl.n, tl.N - j * tl.n);
        const uint32_t rowsA = Align16(rows), colsA = Align16(cols);
        const int32_t cs = static_cast<int32_t>(tileCount % tl.cBufs);
        LocalTensor<float> acc = lc[cs * cSlot];
        for (uint32_t st = 0; st < stages; ++st, ++stageCount) {
            const uint32_t k0 = st * stageK, kd = Min(stageK, tl.K - k0), kdA = Align16(kd);
            const int32_t ls = static_cast<int32_t>(stageCount % 2);
            LocalTensor<T> sa = la1[ls * a1Slot], sb = lb1[ls * b1Slot];
            WaitFlag<HardEvent::MTE1_MTE2>(ls);
            // A rows of the tile, K columns of the stage: NZ with rowsA rows per C0 column block (the
            // K tail is zero-padded to C0 by the copy).
            DataCopy(sa, ga[static_cast<uint64_t>(i) * tl.m * tl.K + k0],
                     Nd2NzParams(1, rows, kd, 0, tl.K, rowsA, 1, 0));
            // B rows of the stage, N columns of the tile: NZ with kdA rows per 16-column block.
            DataCopy(sb, gb[static_cast<uint64_t>(k0) * tl.N + j * tl.n],
                     Nd2NzParams(1, kd, cols, 0, tl.N, kdA, 1, 0));
            SetFlag<HardEvent::MTE2_MTE1>(ls);
            WaitFlag<HardEvent::MTE2_MTE1>(ls);
            const uint32_t slices = CeilDiv(kd, tl.k);
            for (uint32_t q = 0; q < slices; ++q, ++sliceCount) {
                const uint32_t kq = Min(tl.k, kd - q * tl.k), k1 = CeilDiv(kq, 16);
                const uint32_t kBlock = q * tl.k / 16;  // first 16-wide K block of the slice in the stage
                const int32_t ps = static_cast<int32_t>(sliceCount % 2);
                LocalTensor<T> za = la2[ps * a2Slot], zb = lb2[ps * b2Slot];
                WaitFlag<HardEvent::M_MTE1>(ps);
                // A: NZ (column blocks of rowsA rows) -> ZZ (row blocks of k1 fractals).
                for (uint32_t rb = 0; rb < rowsA / 16; ++rb) {
                    LoadData(za[rb * k1 * kFrac], sa,
                             LoadData2DParams(kBlock * (rowsA / 16) + rb, k1, rowsA / 16, 0, 0, false, 0));
                }
                // B: NZ (column blocks of kdA rows) -> ZN, each fractal transposed.
                for (uint32_t kb = 0; kb < k1; ++kb) {
                    LoadData(zb[kb * (colsA / 16) * kFrac], sb,
                             LoadData2DParams(kBlock + kb, colsA / 16, kdA / 16, 0, 0, true, 0));
                }
                SetFlag<HardEvent::MTE1_M>(ps);
                WaitFlag<HardEvent::MTE1_M>(ps);
                const bool first = st == 0 && q == 0;
                if (first) {
                    WaitFlag<HardEvent::FIX_M>(cs);  // the accumulator's previous tile is written out
                }
                MmadParams mp;
                // All 16-aligned rows: m = 1 would switch Mmad to GEMV, which reads L0A as ND (Mmad.md);
                // the padding rows cost no cube cycles and Fixpipe writes only the real ones.
                mp.m = rowsA;
                mp.n = cols;
                mp.k = kq;
                mp.cmatrixInitVal = first;
                Mmad(acc, za, zb, mp);
                SetFlag<HardEvent::M_MTE1>(ps);
            }
            SetFlag<HardEvent::MTE1_MTE2>(ls);
        }
        SetFlag<HardEvent::M_FIX>(cs);
        WaitFlag<HardEvent::M_FIX>(cs);
        FixpipeParamsV220 fp(cols, rows, rowsA, tl.N, false);
        fp.quantPre = kQuant;
        if (kMix) {
            if (tileCount >= 2) {
                CrossCoreWaitFlag<2, PIPE_FIX>(kSlotFree);
            }
            const uint64_t slot = static_cast<uint64_t>(GetBlockIdx()) * 2 + tileCount % 2;
            Fixpipe<Out, float, CFG_ROW_MAJOR>(gc[slot * tl.m * tl.N], acc, fp);
            CrossCoreSetFlag<2, PIPE_FIX>(kSlotReady);
        } else {
            Fixpipe<Out, float, CFG_ROW_MAJOR>(gc[static_cast<uint64_t>(i) * tl.m * tl.N + j * tl.n], acc, fp);
        }
        SetFlag<HardEvent::FIX_M>(cs);
        ++tileCount;
    }
    for (int32_t s = 0; s < 2; ++s) {
        WaitFlag<HardEvent::MTE1_MTE2>(s);
        WaitFlag<HardEvent::M_MTE1>(s);
    }
    for (uint32_t s = 0; s < tl.cBufs; ++s) {
        WaitFlag<HardEvent::FIX_M>(static_cast<int32_t>(s));
    }
    if (kMix) {
        // The AIVs free every slot they read; consume the last two so the counts pair.
        for (uint32_t s = 0; s < 2 && s < tileCount; ++s) {
            CrossCoreWaitFlag<2, PIPE_FIX>(kSlotFree);
        }
    }
}

// The AIV side of the MIX kernels: softmax over each row of the tiles its AIC computes, in f32 (the tile
// arrives as T in the workspace and is cast first), written to y (f32, M x N). Needs the whole row in one
// tile (tilesN == 1) and N a multiple of 8 up to 64 (one WholeReduce repeat per row). The two AIVs of an AI
// core take the first and the second half of each tile's rows.
template <typename T>
__aicore__ inline void SoftmaxRowsAiv(GM_ADDR y, GM_ADDR ws, GM_ADDR tilingGm) {
    const __gm__ uint32_t* f = reinterpret_cast<const __gm__ uint32_t*>(tilingGm);
    const MatmulTiling tl{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10]};
    const uint32_t N = tl.N, core = GetBlockIdx() / 2, sub = GetSubBlockIdx(), cores = GetBlockNum();
    const uint32_t most = (tl.m + 1) / 2, mostA = (most + 7) / 8 * 8;
    GlobalTensor<T> gw;
    GlobalTensor<float> gy;
    gw.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(ws), static_cast<uint64_t>(cores) * 2 * tl.m * N);
    gy.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(y), static_cast<uint64_t>(tl.M) * N);
    TPipe pipe;
    TBuf<TPosition::VECCALC> hb, xb, rb, bb;
    pipe.InitBuffer(hb, most * N * sizeof(T));
    pipe.InitBuffer(xb, most * N * sizeof(float));
    pipe.InitBuffer(rb, mostA * sizeof(float));
    pipe.InitBuffer(bb, mostA * 8 * sizeof(float));
    LocalTensor<T> h = hb.Get<T>();
    LocalTensor<float> x = xb.Get<float>(), red = rb.Get<float>(), blk = bb.Get<float>();
    const uint8_t rep = static_cast<uint8_t>(N / 8);
    const BinaryRepeatParams perRow(1, 1, 0, rep, rep, 1);
    uint32_t tileCount = 0;
    for (uint32_t t = core; t < tl.tilesM; t += cores, ++tileCount) {
        const uint32_t rows = Min(tl.m, tl.M - t * tl.m), half = (rows + 1) / 2;
        const uint32_t first = sub == 0 ? 0 : half, mine = sub == 0 ? half : rows - half;
        CrossCoreWaitFlag<2, PIPE_MTE2>(kSlotReady);
        const uint64_t slot = static_cast<uint64_t>(core) * 2 + tileCount % 2;
        if (mine > 0) {
            DataCopy(h, gw[slot * tl.m * N + first * N], mine * N);
        }
        CrossCoreSetFlag<1, PIPE_MTE2>(kPairRead);
        CrossCoreWaitFlag<1, PIPE_MTE2>(kPairRead);
        CrossCoreSetFlag<2, PIPE_MTE2>(kSlotFree);
        if (mine == 0) {
            continue;
        }
        SetFlag<HardEvent::MTE2_V>(0);
        WaitFlag<HardEvent::MTE2_V>(0);
        Cast(x, h, RoundMode::CAST_NONE, mine * N);
        PipeBarrier<PIPE_V>();
        WholeReduceMax(red, x, N, mine, 1, 1, rep, ReduceOrder::ORDER_ONLY_VALUE);
        PipeBarrier<PIPE_V>();
        Brcb(blk, red, static_cast<uint8_t>((mine + 7) / 8), BrcbRepeatParams(1, 8));
        PipeBarrier<PIPE_V>();
        Sub(x, x, blk, N, static_cast<uint8_t>(mine), perRow);
        PipeBarrier<PIPE_V>();
        Exp(x, x, mine * N);
        PipeBarrier<PIPE_V>();
        WholeReduceSum(red, x, N, mine, 1, 1, rep);
        PipeBarrier<PIPE_V>();
        Brcb(blk, red, static_cast<uint8_t>((mine + 7) / 8), BrcbRepeatParams(1, 8));
        PipeBarrier<PIPE_V>();
        Div(x, x, blk, N, static_cast<uint8_t>(mine), perRow);
        SetFlag<HardEvent::V_MTE3>(0);
        WaitFlag<HardEvent::V_MTE3>(0);
        DataCopy(gy[(static_cast<uint64_t>(t) * tl.m + first) * N], x, mine * N);
        // The next tile's copy and cast overwrite h and x.
        SetFlag<HardEvent::MTE3_MTE2>(0);
        WaitFlag<HardEvent::MTE3_MTE2>(0);
        SetFlag<HardEvent::MTE3_V>(0);
        WaitFlag<HardEvent::MTE3_V>(0);
    }
}

}  // namespace

extern "C" __global__ __aicore__ void matmul_aic_bf16(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace,
                                                     GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    MatmulAic<bfloat16_t, bfloat16_t, QuantMode_t::F322BF16, false>(a, b, c, tiling);
}

extern "C" __global__ __aicore__ void matmul_aic_f16(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace,
                                                    GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    MatmulAic<half, half, QuantMode_t::F322F16, false>(a, b, c, tiling);
}

// MIX_AIC_1_2: y = softmax(cast<f32>(a @ b), -1), the matmul on the AIC (bf16 logits into the workspace,
// GetBlockNum() x 2 slots of m x N), the softmax on its two AIVs.
extern "C" __global__ __aicore__ void matmul_softmax_mix_bf16(GM_ADDR a, GM_ADDR b, GM_ADDR y, GM_ADDR workspace,
                                                             GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_MIX_AIC_1_2);
    if ASCEND_IS_AIC {
        MatmulAic<bfloat16_t, bfloat16_t, QuantMode_t::F322BF16, true>(a, b, workspace, tiling);
    }
    if ASCEND_IS_AIV {
        SoftmaxRowsAiv<bfloat16_t>(y, workspace, tiling);
    }
}
