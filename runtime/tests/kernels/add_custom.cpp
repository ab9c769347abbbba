// z = x + y over `totalLength` floats, in the style of CANN's add_custom sample: every core takes a
// contiguous slice, walks it in tiles through double-buffered queues (the next tile is copied in while the
// current one is computed), and moves the last, partial tile with DataCopyPad.
#include "kernel_operator.h"

using namespace AscendC;

constexpr int32_t BUFFER_NUM = 2;

struct AddTiling {
    uint32_t totalLength;  // elements of x, y and z
    uint32_t perCore;      // elements per core (a multiple of 8)
    uint32_t tileLength;   // elements per tile (a multiple of 8)
    uint32_t reserved;
};

__aicore__ inline void CopyTiling(AddTiling* tiling, GM_ADDR gm) {
    uint32_t* words = reinterpret_cast<uint32_t*>(tiling);
    auto source = reinterpret_cast<__gm__ uint32_t*>(gm);
    for (uint32_t i = 0; i < sizeof(AddTiling) / sizeof(uint32_t); ++i) {
        words[i] = source[i];
    }
}

class KernelAdd {
public:
    __aicore__ inline KernelAdd() {}

    __aicore__ inline void Init(GM_ADDR x, GM_ADDR y, GM_ADDR z, const AddTiling& tiling) {
        tileLength = tiling.tileLength;
        const uint32_t start = static_cast<uint32_t>(GetBlockIdx()) * tiling.perCore;
        count = start >= tiling.totalLength ? 0 : tiling.totalLength - start;
        if (count > tiling.perCore) {
            count = tiling.perCore;
        }
        xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x) + start, count);
        yGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(y) + start, count);
        zGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(z) + start, count);
        pipe.InitBuffer(inQueueX, BUFFER_NUM, tileLength * sizeof(float));
        pipe.InitBuffer(inQueueY, BUFFER_NUM, tileLength * sizeof(float));
        pipe.InitBuffer(outQueueZ, BUFFER_NUM, tileLength * sizeof(float));
    }

    __aicore__ inline void Process() {
        const uint32_t tiles = (count + tileLength - 1) / tileLength;
        if (tiles == 0) {
            return;
        }
        CopyIn(0);
        for (uint32_t i = 0; i < tiles; ++i) {
            if (i + 1 < tiles) {
                CopyIn(i + 1);
            }
            Compute(i);
            CopyOut(i);
        }
    }

private:
    __aicore__ inline uint32_t Length(uint32_t tile) const {
        const uint32_t left = count - tile * tileLength;
        return left < tileLength ? left : tileLength;
    }

    __aicore__ inline void CopyIn(uint32_t tile) {
        const uint32_t length = Length(tile);
        LocalTensor<float> xLocal = inQueueX.AllocTensor<float>();
        LocalTensor<float> yLocal = inQueueY.AllocTensor<float>();
        if (length == tileLength) {
            DataCopy(xLocal, xGm[tile * tileLength], length);
            DataCopy(yLocal, yGm[tile * tileLength], length);
        } else {
            DataCopyExtParams params{1, static_cast<uint32_t>(length * sizeof(float)), 0, 0, 0};
            DataCopyPadExtParams<float> pad{false, 0, 0, 0.0f};
            DataCopyPad(xLocal, xGm[tile * tileLength], params, pad);
            DataCopyPad(yLocal, yGm[tile * tileLength], params, pad);
        }
        inQueueX.EnQue(xLocal);
        inQueueY.EnQue(yLocal);
    }

    __aicore__ inline void Compute(uint32_t tile) {
        LocalTensor<float> xLocal = inQueueX.DeQue<float>();
        LocalTensor<float> yLocal = inQueueY.DeQue<float>();
        LocalTensor<float> zLocal = outQueueZ.AllocTensor<float>();
        Add(zLocal, xLocal, yLocal, static_cast<int32_t>(Length(tile)));
        outQueueZ.EnQue<float>(zLocal);
        inQueueX.FreeTensor(xLocal);
        inQueueY.FreeTensor(yLocal);
    }

    __aicore__ inline void CopyOut(uint32_t tile) {
        const uint32_t length = Length(tile);
        LocalTensor<float> zLocal = outQueueZ.DeQue<float>();
        if (length == tileLength) {
            DataCopy(zGm[tile * tileLength], zLocal, length);
        } else {
            DataCopyPad(zGm[tile * tileLength], zLocal, {1, static_cast<uint32_t>(length * sizeof(float)), 0, 0, 0});
        }
        outQueueZ.FreeTensor(zLocal);
    }

    TPipe pipe;
    TQue<QuePosition::VECIN, BUFFER_NUM> inQueueX, inQueueY;
    TQue<QuePosition::VECOUT, BUFFER_NUM> outQueueZ;
    GlobalTensor<float> xGm, yGm, zGm;
    uint32_t tileLength = 0;
    uint32_t count = 0;
};

extern "C" __global__ __aicore__ void add_custom(GM_ADDR x, GM_ADDR y, GM_ADDR z, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)workspace;
    AddTiling tilingData;
    CopyTiling(&tilingData, tiling);
    KernelAdd op;
    op.Init(x, y, z, tilingData);
    op.Process();
}
