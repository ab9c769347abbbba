// Small kernels exercising one API family each: row argmax (WholeReduceMax + GatherMask), argmax of a long
// vector (ReduceMax with index), row top-k (CreateVecIndex + Sort32 + MrgSort + Extract), and Cast between
// float and bfloat16_t in every rounding mode. All run on one core; buffers that no queue manages are
// synchronized with explicit flags.
#include "kernel_operator.h"

using namespace AscendC;

__aicore__ inline uint32_t TilingWord(GM_ADDR tiling, uint32_t index) {
    return reinterpret_cast<__gm__ uint32_t*>(tiling)[index];
}

// index[r] = argmax of row r of a (rows, cols) float matrix, cols <= 64, rows <= 64; lowest index on ties.
extern "C" __global__ __aicore__ void row_argmax(GM_ADDR x, GM_ADDR index, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    const uint32_t rows = TilingWord(tiling, 0);
    const uint32_t cols = TilingWord(tiling, 1);
    const uint32_t paddedCols = (cols + 7) / 8 * 8;
    GlobalTensor<float> xGm;
    GlobalTensor<int32_t> indexGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), rows * cols);
    indexGm.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(index), rows);

    TPipe pipe;
    TBuf<TPosition::VECCALC> inBuf, pairBuf, outBuf;
    pipe.InitBuffer(inBuf, rows * paddedCols * sizeof(float));
    pipe.InitBuffer(pairBuf, 128 * sizeof(float));
    pipe.InitBuffer(outBuf, 64 * sizeof(int32_t));
    LocalTensor<float> xLocal = inBuf.Get<float>();
    LocalTensor<float> pairs = pairBuf.Get<float>();
    LocalTensor<uint32_t> picked = outBuf.Get<uint32_t>();

    DataCopyPad(xLocal, xGm, {static_cast<uint16_t>(rows), static_cast<uint32_t>(cols * sizeof(float)), 0, 0, 0},
                {false, 0, 0, 0.0f});
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    // [value, index] per row; the index has the bits of a uint32_t.
    WholeReduceMax(pairs, xLocal, static_cast<int32_t>(cols), static_cast<int32_t>(rows), 1, 1,
                   static_cast<int32_t>(paddedCols / 8));
    PipeBarrier<PIPE_V>();
    uint64_t kept = 0;
    const uint16_t repeats = static_cast<uint16_t>((2 * rows + 63) / 64);
    // Builtin pattern 2 keeps the odd elements: the indices.
    GatherMask(picked, pairs.ReinterpretCast<uint32_t>(), static_cast<uint8_t>(2), false, 0, {1, repeats, 8, 0}, kept);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopyPad(indexGm, picked.ReinterpretCast<int32_t>(), {1, static_cast<uint32_t>(rows * sizeof(int32_t)), 0, 0, 0});
}

// out = [max, index bits] of the first n floats of x (ReduceMax with calIndex); tiling = {n, work elements}.
extern "C" __global__ __aicore__ void reduce_max_index(GM_ADDR x, GM_ADDR out, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    const uint32_t n = TilingWord(tiling, 0);
    const uint32_t workElements = TilingWord(tiling, 1);
    GlobalTensor<float> xGm;
    GlobalTensor<float> outGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), n);
    outGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out), 2);

    TPipe pipe;
    TQue<TPosition::VECIN, 1> inQueue;
    TQue<TPosition::VECOUT, 1> outQueue;
    TBuf<TPosition::VECCALC> workBuf;
    pipe.InitBuffer(inQueue, 1, n * sizeof(float));
    pipe.InitBuffer(outQueue, 1, 8 * sizeof(float));
    pipe.InitBuffer(workBuf, workElements * sizeof(float));

    LocalTensor<float> xLocal = inQueue.AllocTensor<float>();
    DataCopyPad(xLocal, xGm, {1, static_cast<uint32_t>(n * sizeof(float)), 0, 0, 0}, {false, 0, 0, 0.0f});
    inQueue.EnQue(xLocal);
    xLocal = inQueue.DeQue<float>();
    LocalTensor<float> result = outQueue.AllocTensor<float>();
    LocalTensor<float> work = workBuf.Get<float>(workElements);
    ReduceMax(result, xLocal, work, static_cast<int32_t>(n), true);
    outQueue.EnQue(result);
    inQueue.FreeTensor(xLocal);
    result = outQueue.DeQue<float>();
    DataCopyPad(outGm, result, {1, 2 * sizeof(float), 0, 0, 0});
    outQueue.FreeTensor(result);
}

// For each row of 64 floats: the k largest values and their indices, descending, lowest index first among
// equals. tiling = {rows, k}.
extern "C" __global__ __aicore__ void topk_rows(GM_ADDR x, GM_ADDR values, GM_ADDR indices, GM_ADDR workspace,
                                                GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    const uint32_t rows = TilingWord(tiling, 0);
    const uint32_t k = TilingWord(tiling, 1);
    GlobalTensor<float> xGm;
    GlobalTensor<float> valuesGm;
    GlobalTensor<int32_t> indicesGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), rows * 64);
    valuesGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(values), rows * k);
    indicesGm.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(indices), rows * k);

    TPipe pipe;
    TBuf<TPosition::VECCALC> scoreBuf, indexBuf, sortedBuf, mergedBuf, valueBuf, outIndexBuf;
    pipe.InitBuffer(scoreBuf, 64 * sizeof(float));
    pipe.InitBuffer(indexBuf, 64 * sizeof(int32_t));
    pipe.InitBuffer(sortedBuf, 64 * 8);
    pipe.InitBuffer(mergedBuf, 64 * 8);
    pipe.InitBuffer(valueBuf, 64 * sizeof(float));
    pipe.InitBuffer(outIndexBuf, 64 * sizeof(uint32_t));
    LocalTensor<float> scores = scoreBuf.Get<float>();
    LocalTensor<int32_t> order = indexBuf.Get<int32_t>();
    LocalTensor<float> sorted = sortedBuf.Get<float>();
    LocalTensor<float> merged = mergedBuf.Get<float>();
    LocalTensor<float> topValues = valueBuf.Get<float>();
    LocalTensor<uint32_t> topIndices = outIndexBuf.Get<uint32_t>();

    CreateVecIndex(order, 0, 64);
    const uint16_t lengths[4] = {32, 32, 0, 0};
    for (uint32_t row = 0; row < rows; ++row) {
        if (row > 0) {
            // The previous row's copies out must finish before the vector unit overwrites their sources,
            // and its sort must have read the scores before the next copy in overwrites them.
            WaitFlag<HardEvent::MTE3_V>(0);
            WaitFlag<HardEvent::V_MTE2>(0);
        }
        DataCopy(scores, xGm[row * 64], 64);
        SetFlag<HardEvent::MTE2_V>(0);
        WaitFlag<HardEvent::MTE2_V>(0);
        PipeBarrier<PIPE_V>();
        Sort32(sorted, scores, order.ReinterpretCast<uint32_t>(), 2);
        SetFlag<HardEvent::V_MTE2>(0);
        PipeBarrier<PIPE_V>();
        MrgSort(merged, MrgSortSrcList<float>(sorted[0], sorted[64], sorted[0], sorted[0]),
                MrgSort4Info(lengths, false, 3, 1));
        PipeBarrier<PIPE_V>();
        Extract(topValues, topIndices, merged, 2);
        SetFlag<HardEvent::V_MTE3>(0);
        WaitFlag<HardEvent::V_MTE3>(0);
        DataCopyPad(valuesGm[row * k], topValues, {1, static_cast<uint32_t>(k * sizeof(float)), 0, 0, 0});
        DataCopyPad(indicesGm[row * k], topIndices.ReinterpretCast<int32_t>(),
                    {1, static_cast<uint32_t>(k * sizeof(int32_t)), 0, 0, 0});
        SetFlag<HardEvent::MTE3_V>(0);
    }
    if (rows > 0) {
        WaitFlag<HardEvent::MTE3_V>(0);
        WaitFlag<HardEvent::V_MTE2>(0);
    }
}

// 16 floats -> bfloat16_t in each rounding mode, and 16 bfloat16_t -> float.
extern "C" __global__ __aicore__ void cast_bf16(GM_ADDR x, GM_ADDR rint, GM_ADDR floorOut, GM_ADDR ceilOut,
                                                GM_ADDR roundOut, GM_ADDR truncOut, GM_ADDR b, GM_ADDR back,
                                                GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    (void)tiling;
    GM_ADDR outs[5] = {rint, floorOut, ceilOut, roundOut, truncOut};
    const RoundMode modes[5] = {RoundMode::CAST_RINT, RoundMode::CAST_FLOOR, RoundMode::CAST_CEIL, RoundMode::CAST_ROUND,
                                RoundMode::CAST_TRUNC};
    GlobalTensor<float> xGm;
    GlobalTensor<bfloat16_t> bGm;
    GlobalTensor<float> backGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 16);
    bGm.SetGlobalBuffer(reinterpret_cast<__gm__ bfloat16_t*>(b), 16);
    backGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(back), 16);

    TPipe pipe;
    TBuf<TPosition::VECCALC> xBuf, bBuf, backBuf, outBuf;
    pipe.InitBuffer(xBuf, 16 * sizeof(float));
    pipe.InitBuffer(bBuf, 16 * sizeof(bfloat16_t));
    pipe.InitBuffer(backBuf, 16 * sizeof(float));
    pipe.InitBuffer(outBuf, 5 * 16 * sizeof(bfloat16_t));
    LocalTensor<float> xLocal = xBuf.Get<float>();
    LocalTensor<bfloat16_t> bLocal = bBuf.Get<bfloat16_t>();
    LocalTensor<float> backLocal = backBuf.Get<float>();
    LocalTensor<bfloat16_t> outLocal = outBuf.Get<bfloat16_t>();

    DataCopy(xLocal, xGm, 16);
    DataCopy(bLocal, bGm, 16);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    for (int i = 0; i < 5; ++i) {
        Cast(outLocal[16 * i], xLocal, modes[i], 16);
    }
    Cast(backLocal, bLocal, RoundMode::CAST_NONE, 16);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    for (int i = 0; i < 5; ++i) {
        GlobalTensor<bfloat16_t> outGm;
        outGm.SetGlobalBuffer(reinterpret_cast<__gm__ bfloat16_t*>(outs[i]), 16);
        DataCopy(outGm, outLocal[16 * i], 16);
    }
    DataCopy(backGm, backLocal, 16);
}

// 64 floats: relu = x > 0 ? x : 0 (CompareScalar + Select mode 1) and larger = max(x, y) (Compare + Select
// mode 2), computed through bit masks.
extern "C" __global__ __aicore__ void compare_select(GM_ADDR x, GM_ADDR y, GM_ADDR relu, GM_ADDR larger,
                                                     GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    (void)tiling;
    GlobalTensor<float> xGm, yGm, reluGm, largerGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 64);
    yGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(y), 64);
    reluGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(relu), 64);
    largerGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(larger), 64);
    TPipe pipe;
    TBuf<TPosition::VECCALC> xBuf, yBuf, maskBuf, outBuf;
    pipe.InitBuffer(xBuf, 64 * sizeof(float));
    pipe.InitBuffer(yBuf, 64 * sizeof(float));
    pipe.InitBuffer(maskBuf, 32);
    pipe.InitBuffer(outBuf, 2 * 64 * sizeof(float));
    LocalTensor<float> xLocal = xBuf.Get<float>();
    LocalTensor<float> yLocal = yBuf.Get<float>();
    LocalTensor<uint8_t> bits = maskBuf.Get<uint8_t>();
    LocalTensor<float> out = outBuf.Get<float>();
    DataCopy(xLocal, xGm, 64);
    DataCopy(yLocal, yGm, 64);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    CompareScalar(bits, xLocal, 0.0f, CMPMODE::GT, 64);
    PipeBarrier<PIPE_V>();
    Select(out, bits, xLocal, 0.0f, SELMODE::VSEL_TENSOR_SCALAR_MODE, 64);
    PipeBarrier<PIPE_V>();  // Compare rewrites the bits Select read
    Compare(bits, xLocal, yLocal, CMPMODE::GE, 64);
    PipeBarrier<PIPE_V>();
    Select(out[64], bits, xLocal, yLocal, SELMODE::VSEL_TENSOR_TENSOR_MODE, 64);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopy(reluGm, out, 64);
    DataCopy(largerGm, out[64], 64);
}

// dst[i] = src[perm[i]] for 64 floats, through Gather with byte offsets.
extern "C" __global__ __aicore__ void gather_perm(GM_ADDR src, GM_ADDR perm, GM_ADDR dst, GM_ADDR workspace,
                                                  GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    (void)tiling;
    GlobalTensor<float> srcGm, dstGm;
    GlobalTensor<int32_t> permGm;
    srcGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(src), 64);
    permGm.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(perm), 64);
    dstGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(dst), 64);
    TPipe pipe;
    TBuf<TPosition::VECCALC> srcBuf, offsetBuf, dstBuf;
    pipe.InitBuffer(srcBuf, 64 * sizeof(float));
    pipe.InitBuffer(offsetBuf, 64 * sizeof(int32_t));
    pipe.InitBuffer(dstBuf, 64 * sizeof(float));
    LocalTensor<float> srcLocal = srcBuf.Get<float>();
    LocalTensor<int32_t> offsets = offsetBuf.Get<int32_t>();
    LocalTensor<float> dstLocal = dstBuf.Get<float>();
    DataCopy(srcLocal, srcGm, 64);
    DataCopy(offsets, permGm, 64);
    SetFlag<HardEvent::MTE2_V>(0);
    WaitFlag<HardEvent::MTE2_V>(0);
    Muls(offsets, offsets, static_cast<int32_t>(sizeof(float)), 64);
    PipeBarrier<PIPE_V>();
    Gather(dstLocal, srcLocal, offsets.ReinterpretCast<uint32_t>(), 0, 64);
    SetFlag<HardEvent::V_MTE3>(0);
    WaitFlag<HardEvent::V_MTE3>(0);
    DataCopy(dstGm, dstLocal, 64);
}

// Every core adds (core index + 1) * x into acc with GM atomic add: acc += (1 + ... + blockDim) * x.
extern "C" __global__ __aicore__ void atomic_accumulate(GM_ADDR x, GM_ADDR acc, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    (void)tiling;
    GlobalTensor<float> xGm, accGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 64);
    accGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(acc), 64);
    TPipe pipe;
    TQue<TPosition::VECIN, 1> inQueue;
    TQue<TPosition::VECOUT, 1> outQueue;
    pipe.InitBuffer(inQueue, 1, 64 * sizeof(float));
    pipe.InitBuffer(outQueue, 1, 64 * sizeof(float));
    LocalTensor<float> xLocal = inQueue.AllocTensor<float>();
    DataCopy(xLocal, xGm, 64);
    inQueue.EnQue(xLocal);
    xLocal = inQueue.DeQue<float>();
    LocalTensor<float> scaled = outQueue.AllocTensor<float>();
    Muls(scaled, xLocal, static_cast<float>(GetBlockIdx() + 1), 64);
    outQueue.EnQue(scaled);
    inQueue.FreeTensor(xLocal);
    scaled = outQueue.DeQue<float>();
    SetAtomicAdd<float>();
    DataCopy(accGm, scaled, 64);
    SetAtomicNone();
    outQueue.FreeTensor(scaled);
}

// Three rows of 5 floats copied into UB with DataCopyPad, once with one element of padding on each side
// (value -1) and once without padding (the dummy tail repeats each row's first element); both UB images
// are copied out whole (3 rows x 8 floats each).
extern "C" __global__ __aicore__ void pad_layout(GM_ADDR x, GM_ADDR padded, GM_ADDR plain, GM_ADDR workspace,
                                                 GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    (void)tiling;
    GlobalTensor<float> xGm, paddedGm, plainGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 15);
    paddedGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(padded), 24);
    plainGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(plain), 24);
    TPipe pipe;
    TBuf<TPosition::VECCALC> paddedBuf, plainBuf;
    pipe.InitBuffer(paddedBuf, 24 * sizeof(float));
    pipe.InitBuffer(plainBuf, 24 * sizeof(float));
    LocalTensor<float> paddedLocal = paddedBuf.Get<float>();
    LocalTensor<float> plainLocal = plainBuf.Get<float>();
    DataCopyPad(paddedLocal, xGm, {3, 5 * sizeof(float), 0, 0, 0}, {true, 1, 1, -1.0f});
    DataCopyPad(plainLocal, xGm, {3, 5 * sizeof(float), 0, 0, 0}, {true, 0, 0, -1.0f});
    SetFlag<HardEvent::MTE2_MTE3>(0);
    WaitFlag<HardEvent::MTE2_MTE3>(0);
    DataCopy(paddedGm, paddedLocal, 24);
    DataCopy(plainGm, plainLocal, 24);
}
