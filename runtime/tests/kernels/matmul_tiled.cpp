// A tiled bf16 matmul on AIC cores, written the way a cube kernel tiles: C tiles of 128 x 128 spread over the
// cores, K in L1 steps of 256 (A and B tiles of 64 KiB each in L1), L0 steps of 64 (16 KiB in L0A/L0B),
// Mmad accumulating in L0C (cmatrixInitVal only on the first step), Fixpipe F322BF16 to GM.
// tiling: M, N, K (multiples of 128, 128 and 256). Used for the emulator's speed figure and as a
// multi-tile correctness test.
#include "kernel_operator.h"
using namespace AscendC;

extern "C" __global__ __aicore__ void matmul_tiled_bf16(GM_ADDR a, GM_ADDR b, GM_ADDR c, GM_ADDR workspace,
                                                       GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIC_ONLY);
    const uint32_t* t = reinterpret_cast<const uint32_t*>(tiling);
    const uint32_t M = t[0], N = t[1], K = t[2];
    constexpr uint32_t BM = 128, BN = 128, BK1 = 256, BK0 = 64;
    GlobalTensor<bfloat16_t> ga, gb, gc;
    ga.SetGlobalBuffer(reinterpret_cast<__gm__ bfloat16_t*>(a), static_cast<uint64_t>(M) * K);
    gb.SetGlobalBuffer(reinterpret_cast<__gm__ bfloat16_t*>(b), static_cast<uint64_t>(K) * N);
    gc.SetGlobalBuffer(reinterpret_cast<__gm__ bfloat16_t*>(c), static_cast<uint64_t>(M) * N);
    TPipe pipe;
    TQue<TPosition::A1, 1> qa1;
    TQue<TPosition::B1, 1> qb1;
    TQue<TPosition::A2, 1> qa2;
    TQue<TPosition::B2, 1> qb2;
    TQue<TPosition::CO1, 1> qc;
    pipe.InitBuffer(qa1, 1, BM * BK1 * 2);
    pipe.InitBuffer(qb1, 1, BK1 * BN * 2);
    pipe.InitBuffer(qa2, 1, BM * BK0 * 2);
    pipe.InitBuffer(qb2, 1, BK0 * BN * 2);
    pipe.InitBuffer(qc, 1, BM * BN * 4);
    const uint32_t tiles_n = N / BN, tiles = (M / BM) * tiles_n;
    for (uint32_t tile = GetBlockIdx(); tile < tiles; tile += GetBlockNum()) {
        const uint32_t m0 = tile / tiles_n * BM, n0 = tile % tiles_n * BN;
        LocalTensor<float> lc = qc.AllocTensor<float>();
        for (uint32_t k1 = 0; k1 < K; k1 += BK1) {
            LocalTensor<bfloat16_t> la1 = qa1.AllocTensor<bfloat16_t>();
            LocalTensor<bfloat16_t> lb1 = qb1.AllocTensor<bfloat16_t>();
            DataCopy(la1, ga[static_cast<uint64_t>(m0) * K + k1], Nd2NzParams(1, BM, BK1, 0, K, BM, 1, 0));
            DataCopy(lb1, gb[static_cast<uint64_t>(k1) * N + n0], Nd2NzParams(1, BK1, BN, 0, N, BK1, 1, 0));
            qa1.EnQue(la1);
            qb1.EnQue(lb1);
            la1 = qa1.DeQue<bfloat16_t>();
            lb1 = qb1.DeQue<bfloat16_t>();
            for (uint32_t k0 = 0; k0 < BK1; k0 += BK0) {
                LocalTensor<bfloat16_t> la2 = qa2.AllocTensor<bfloat16_t>();
                LocalTensor<bfloat16_t> lb2 = qb2.AllocTensor<bfloat16_t>();
                for (uint32_t i = 0; i < BM / 16; ++i) {
                    LoadData(la2[i * (BK0 / 16) * 256], la1[((k0 / 16) * (BM / 16) + i) * 256],
                             LoadData2DParams(0, BK0 / 16, BM / 16, 0, 0, false, 0));
                }
                for (uint32_t i = 0; i < BK0 / 16; ++i) {
                    LoadData(lb2[i * (BN / 16) * 256], lb1[(k0 / 16 + i) * 256],
                             LoadData2DParams(0, BN / 16, BK1 / 16, 0, 0, true, 0));
                }
                qa2.EnQue(la2);
                qb2.EnQue(lb2);
                la2 = qa2.DeQue<bfloat16_t>();
                lb2 = qb2.DeQue<bfloat16_t>();
                MmadParams mp;
                mp.m = BM;
                mp.n = BN;
                mp.k = BK0;
                mp.cmatrixInitVal = k1 == 0 && k0 == 0;
                Mmad(lc, la2, lb2, mp);
                qa2.FreeTensor(la2);
                qb2.FreeTensor(lb2);
            }
            qa1.FreeTensor(la1);
            qb1.FreeTensor(lb1);
        }
        qc.EnQue(lc);
        lc = qc.DeQue<float>();
        FixpipeParamsV220 fp(BN, BM, BM, N, false);
        fp.quantPre = QuantMode_t::F322BF16;
        Fixpipe<bfloat16_t, float, CFG_ROW_MAJOR>(gc[static_cast<uint64_t>(m0) * N + n0], lc, fp);
        qc.FreeTensor(lc);
    }
}
