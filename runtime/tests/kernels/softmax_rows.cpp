// y = softmax(x) along the rows of a (rows, cols) float matrix, cols <= 64 (one vector repeat per row).
//
// Rows are padded to 32 bytes in UB by DataCopyPad. Per tile of rows: WholeReduceMax gives the row maxima,
// Brcb broadcasts each into a 32-byte block, a level-0 Sub re-reads that block for the whole row
// (src1BlkStride 0), Exp, WholeReduceSum, Brcb and a level-0 Div normalize.
#include "kernel_operator.h"

using namespace AscendC;

struct SoftmaxTiling {
    uint32_t rows;
    uint32_t cols;
    uint32_t rowsPerCore;
    uint32_t tileRows;  // at most 64
};

extern "C" __global__ __aicore__ void softmax_rows(GM_ADDR x, GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    SoftmaxTiling t;
    {
        auto words = reinterpret_cast<__gm__ uint32_t*>(tiling);
        t.rows = words[0];
        t.cols = words[1];
        t.rowsPerCore = words[2];
        t.tileRows = words[3];
    }
    const uint32_t firstRow = static_cast<uint32_t>(GetBlockIdx()) * t.rowsPerCore;
    if (firstRow >= t.rows) {
        return;
    }
    const uint32_t myRows = t.rows - firstRow < t.rowsPerCore ? t.rows - firstRow : t.rowsPerCore;
    const uint32_t paddedCols = (t.cols + 7) / 8 * 8;
    const uint8_t rowBlocks = static_cast<uint8_t>(paddedCols / 8);

    GlobalTensor<float> xGm;
    GlobalTensor<float> yGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x) + firstRow * t.cols, myRows * t.cols);
    yGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(y) + firstRow * t.cols, myRows * t.cols);

    TPipe pipe;
    TQue<TPosition::VECIN, 1> inQueue;
    TQue<TPosition::VECOUT, 1> outQueue;
    TBuf<TPosition::VECCALC> reduceBuf;
    TBuf<TPosition::VECCALC> broadcastBuf;
    pipe.InitBuffer(inQueue, 2, t.tileRows * paddedCols * sizeof(float));
    pipe.InitBuffer(outQueue, 2, t.tileRows * paddedCols * sizeof(float));
    pipe.InitBuffer(reduceBuf, 64 * sizeof(float));
    pipe.InitBuffer(broadcastBuf, 64 * 8 * sizeof(float));
    LocalTensor<float> reduced = reduceBuf.Get<float>();
    LocalTensor<float> broadcast = broadcastBuf.Get<float>();

    for (uint32_t row = 0; row < myRows; row += t.tileRows) {
        const uint32_t rows = myRows - row < t.tileRows ? myRows - row : t.tileRows;
        const uint8_t groups = static_cast<uint8_t>((rows + 7) / 8);

        LocalTensor<float> xLocal = inQueue.AllocTensor<float>();
        DataCopyPad(xLocal, xGm[row * t.cols],
                    DataCopyExtParams{static_cast<uint16_t>(rows), static_cast<uint32_t>(t.cols * sizeof(float)), 0, 0, 0},
                    DataCopyPadExtParams<float>{false, 0, 0, 0.0f});
        inQueue.EnQue(xLocal);
        xLocal = inQueue.DeQue<float>();
        LocalTensor<float> yLocal = outQueue.AllocTensor<float>();

        // Every vector step reads what the one before it wrote: a PipeBarrier<PIPE_V> between each (and one
        // first: the previous tile's Div read `broadcast`, which this tile's Brcb rewrites).
        PipeBarrier<PIPE_V>();
        WholeReduceMax(reduced, xLocal, static_cast<int32_t>(t.cols), static_cast<int32_t>(rows), 1, 1, rowBlocks,
                       ReduceOrder::ORDER_ONLY_VALUE);
        PipeBarrier<PIPE_V>();
        Brcb(broadcast, reduced, groups, {1, 8});
        PipeBarrier<PIPE_V>();
        Sub(yLocal, xLocal, broadcast, static_cast<uint64_t>(t.cols), static_cast<uint8_t>(rows),
            {1, 1, 0, rowBlocks, rowBlocks, 1});
        PipeBarrier<PIPE_V>();
        Exp(yLocal, yLocal, static_cast<int32_t>(rows * paddedCols));
        PipeBarrier<PIPE_V>();
        WholeReduceSum(reduced, yLocal, static_cast<int32_t>(t.cols), static_cast<int32_t>(rows), 1, 1, rowBlocks);
        PipeBarrier<PIPE_V>();
        Brcb(broadcast, reduced, groups, {1, 8});
        PipeBarrier<PIPE_V>();
        Div(yLocal, yLocal, broadcast, static_cast<uint64_t>(t.cols), static_cast<uint8_t>(rows),
            {1, 1, 0, rowBlocks, rowBlocks, 1});

        outQueue.EnQue(yLocal);
        inQueue.FreeTensor(xLocal);
        yLocal = outQueue.DeQue<float>();
        DataCopyPad(yGm[row * t.cols], yLocal,
                    DataCopyExtParams{static_cast<uint16_t>(rows), static_cast<uint32_t>(t.cols * sizeof(float)), 0, 0, 0});
        outQueue.FreeTensor(yLocal);
    }
}
