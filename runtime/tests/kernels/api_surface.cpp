// Calls every Ascend C API the emulator implements, in every overload it implements, with valid arguments.
// It must compile against the emulator's headers and run without a violation; it also type-checks against
// the real CANN 8.5 headers (the contract with the code generator is the CANN API, not the emulator).
#include "kernel_operator.h"

using namespace AscendC;

extern "C" __global__ __aicore__ void api_surface(GM_ADDR x, GM_ADDR out, GM_ADDR workspace, GM_ADDR tiling) {
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    (void)tiling;
    if (!ASCEND_IS_AIV) {
        return;
    }

    // ---- system variables and GM ----
    const int64_t core = GetBlockIdx();
    const int64_t cores = GetBlockNum();
    (void)GetSubBlockIdx();
    (void)GetTaskRatio();
    (void)GetSubBlockNum();
    (void)GetSystemCycle();
    static_assert(GetDataBlockSizeInBytes() == 32, "32-byte blocks");

    GlobalTensor<float> xGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 256);
    xGm.SetL2CacheHint(CacheMode::CACHE_MODE_NORMAL);
    GlobalTensor<float> outGm;
    outGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(out) + core * 256, 256);
    GlobalTensor<half> outHalfGm;
    outHalfGm.SetGlobalBuffer(reinterpret_cast<__gm__ half*>(out) + core * 512);
    GlobalTensor<float> wsGm;
    wsGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(workspace) + core * 64, 64);
    const float first = xGm.GetValue(0);
    wsGm.SetValue(0, first);
    (void)wsGm(1);
    (void)xGm.GetSize();
    (void)xGm.GetPhyAddr();
    (void)xGm.GetPhyAddr(4);
    Fill(wsGm, 64, 0.0f);

    // ---- pipe, queues, buffers ----
    TPipe pipe;
    TQue<QuePosition::VECIN, 2> inQueue;
    TQue<QuePosition::VECOUT, 1> outQueue;
    TQueBind<TPosition::VECIN, TPosition::VECOUT, 1> bindQueue;
    TQue<QuePosition::VECIN, 0> inPlace;
    TBuf<TPosition::VECCALC> calc;
    TBuf<> scratch;
    pipe.InitBuffer(inQueue, 2, 256 * sizeof(float));
    pipe.InitBuffer(outQueue, 1, 256 * sizeof(float));
    pipe.InitBuffer(bindQueue, 1, 256 * sizeof(float));
    pipe.InitBuffer(inPlace, 1, 256);
    pipe.InitBuffer(calc, 16 * 1024);
    pipe.InitBuffer(scratch, 1024);
    (void)GetTPipePtr();

    LocalTensor<float> a = inQueue.AllocTensor<float>();
    LocalTensor<float> b = inQueue.AllocTensor<float>();
    (void)inQueue.HasIdleBuffer();
    DataCopy(a, xGm, 256);
    DataCopy(b, xGm, {4, 8, 0, 0});
    inQueue.EnQue(a);
    inQueue.EnQue<TPosition::GM, TPosition::VECIN, float>(b);
    (void)inQueue.VacantInQue();
    (void)inQueue.HasTensorInQue();
    (void)inQueue.GetTensorCountInQue();
    a = inQueue.DeQue<float>();
    b = inQueue.DeQue<float>();
    inQueue.FreeAllEvent();

    LocalTensor<float> c = calc.GetWithOffset<float>(256, 0);
    LocalTensor<float> d = calc.GetWithOffset<float>(256, 1024);
    LocalTensor<half> h = calc.GetWithOffset<half>(256, 2048);
    LocalTensor<half> h2 = calc.GetWithOffset<half>(256, 2560);
    LocalTensor<int32_t> i32 = calc.GetWithOffset<int32_t>(64, 3072);
    LocalTensor<int16_t> i16 = calc.GetWithOffset<int16_t>(128, 3328);
    LocalTensor<int16_t> i16b = calc.GetWithOffset<int16_t>(128, 3584);
    LocalTensor<uint8_t> bits = calc.GetWithOffset<uint8_t>(64, 3840);
    LocalTensor<float> work = calc.GetWithOffset<float>(256, 4096);
    LocalTensor<float> e = calc.GetWithOffset<float>(512, 5120);
    LocalTensor<uint32_t> u32 = calc.GetWithOffset<uint32_t>(128, 7168);
    LocalTensor<uint8_t> tmp = scratch.Get<uint8_t>(512);
    (void)scratch.Get<uint8_t>();
    (void)calc.Get<float>();
    LocalTensor<float> held;
    inPlace.AllocTensor<float>(held);
    inPlace.EnQue(held);
    inPlace.DeQue<float>(held);
    inPlace.FreeTensor(held);

    // ---- tensor accessors ----
    c.SetValue(0, 1.5f);
    (void)c.GetValue(0);
    c(1) = 2.0f;
    (void)c.GetPhyAddr();
    (void)c.GetPhyAddr(8);
    (void)c.GetPosition();
    c.SetUserTag(7);
    (void)c.GetUserTag();
    LocalTensor<float> view = c[64];
    view.SetSize(64);
    (void)view.GetSize();
    (void)c.ReinterpretCast<int32_t>();
    LocalTensor<float> raw(TPosition::VECCALC, 8192, 64);
    (void)raw;

    // ---- element-wise, count forms ----
    uint64_t maskBits[2] = {~0ull, 0};
    uint64_t halfBits[2] = {~0ull, ~0ull};
    const BinaryRepeatParams binary(1, 1, 1, 8, 8, 8);
    const UnaryRepeatParams unary(1, 1, 8, 8);
    Add(c, a, b, 256);
    Sub(c, a, b, 256);
    Mul(c, a, b, 256);
    Div(c, a, b, 256);
    Max(c, a, b, 256);
    Min(c, a, b, 256);
    AddRelu(c, a, b, 256);
    SubRelu(c, a, b, 256);
    Duplicate(i16, static_cast<int16_t>(6), 128);
    Duplicate(i16b, static_cast<int16_t>(3), 128);
    And(i16, i16, i16b, 128);
    Or(i16, i16, i16b, 128);
    Not(i16, i16, 128);
    Adds(c, a, 1.0f, 256);
    Muls(c, a, 2.0f, 256);
    Maxs(c, a, 0.0f, 256);
    Mins(c, a, 0.0f, 256);
    LeakyRelu(c, a, 0.1f, 256);
    ShiftLeft(i16, i16b, static_cast<int16_t>(1), 128);
    ShiftRight(i16, i16b, static_cast<int16_t>(1), 128);
    Abs(c, a, 256);
    Exp(c, a, 256);
    Adds(d, c, 1.0f, 256);
    Ln(c, d, 256);
    Sqrt(c, d, 256);
    Rsqrt(c, d, 256);
    Reciprocal(c, d, 256);
    Relu(c, a, 256);
    FusedMulAdd(c, a, b, 256);
    FusedMulAddRelu(c, a, b, 256);
    MulAddDst(c, a, b, 256);
    Axpy(c, a, 0.5f, 256);

    // ---- element-wise, level-0 forms (both mask kinds) ----
    Add(c, a, b, maskBits, 4, binary);
    Add(c, a, b, 64, 4, binary);
    Sub(c, a, b, maskBits, 4, binary);
    Sub(c, a, b, 64, 4, binary);
    Mul(c, a, b, maskBits, 4, binary);
    Mul(c, a, b, 64, 4, binary);
    Div(c, a, b, maskBits, 4, binary);
    Div(c, a, b, 64, 4, binary);
    Max(c, a, b, maskBits, 4, binary);
    Max(c, a, b, 64, 4, binary);
    Min(c, a, b, maskBits, 4, binary);
    Min(c, a, b, 64, 4, binary);
    And(i16, i16, i16b, halfBits, 1, binary);
    Or(i16, i16, i16b, 128, 1, binary);
    Adds(c, a, 1.0f, maskBits, 4, unary);
    Adds(c, a, 1.0f, 64, 4, unary);
    Muls(c, a, 1.0f, maskBits, 4, unary);
    Muls(c, a, 1.0f, 64, 4, unary);
    Maxs(c, a, 1.0f, maskBits, 4, unary);
    Maxs(c, a, 1.0f, 64, 4, unary);
    Mins(c, a, 1.0f, maskBits, 4, unary);
    Mins(c, a, 1.0f, 64, 4, unary);
    LeakyRelu(c, a, 0.1f, 64, 4, unary);
    ShiftRight(i16, i16b, static_cast<int16_t>(1), 128, 1, unary);
    Exp(c, a, maskBits, 4, unary);
    Exp(c, a, 64, 4, unary);
    Abs(c, a, 64, 4, unary);
    Ln(c, d, 64, 4, unary);
    Sqrt(c, d, 64, 4, unary);
    Rsqrt(c, d, 64, 4, unary);
    Reciprocal(c, d, 64, 4, unary);
    Relu(c, a, maskBits, 4, unary);
    Not(i16, i16b, 128, 1, unary);
    Duplicate(c, 0.0f, 64, 4, 1, 8);
    Duplicate(c, 0.0f, maskBits, 4, 1, 8);
    Copy(c, a, 64, 4, {1, 1, 8, 8});
    Copy(c, a, maskBits, 4, {1, 1, 8, 8});

    // ---- mask register and counter mode ----
    SetMaskCount();
    SetVectorMask<float, MaskMode::COUNTER>(0, 200);
    Add<float, false>(c, a, b, MASK_PLACEHOLDER, 1, binary);
    SetMaskNorm();
    SetVectorMask<float>(32);
    Exp<float, false>(c, a, MASK_PLACEHOLDER, 2, unary);
    SetVectorMask<float, MaskMode::NORMAL>(0, ~0ull);
    ResetMask();

    // ---- index, broadcast, cast ----
    CreateVecIndex(i32, 0, 64);
    CreateVecIndex(i32, 0, 64, 1, 1, 8);
    Brcb(e, a, 2, {1, 8});
    Cast(h, a, RoundMode::CAST_RINT, 256);
    Cast(d, h, RoundMode::CAST_NONE, 256);
    Cast(h, a, RoundMode::CAST_ODD, maskBits, 4, {1, 1, 4, 8});
    Cast(d, h, RoundMode::CAST_NONE, 64, 4, {1, 1, 8, 4});
    Cast(i32, a, RoundMode::CAST_FLOOR, 64);
    Cast(c, i32, RoundMode::CAST_NONE, 64);
    Cast(c, a, RoundMode::CAST_TRUNC, 64);
    Add(h2, h, h, 256);
    Mul(h2, h, h, halfBits, 2, binary);

    // ---- compare and select ----
    Compare(bits, a, b, CMPMODE::LT, 256);
    Compare(bits, a, b, CMPMODE::LE, maskBits, 4, binary);
    Compare(bits, a, b, CMPMODE::EQ, 64, 4, binary);
    Compare(a, b, CMPMODE::NE, maskBits, binary);
    Compare(a, b, CMPMODE::GT, 64, binary);
    GetCmpMask(bits);
    SetCmpMask(bits);
    CompareScalar(bits, a, 0.0f, CMPMODE::GE, 256);
    CompareScalar(bits, a, 0.0f, CMPMODE::GT, maskBits, 4, unary);
    CompareScalar(bits, a, 0.0f, CMPMODE::LT, 64, 4, unary);
    Select(c, bits, a, b, SELMODE::VSEL_TENSOR_TENSOR_MODE, 256);
    Select(c, bits, a, 0.0f, SELMODE::VSEL_TENSOR_SCALAR_MODE, 256);
    Select(c, bits, a, b, SELMODE::VSEL_CMPMASK_SPR, maskBits, 4, binary);
    Select(c, bits, a, b, SELMODE::VSEL_TENSOR_TENSOR_MODE, 64, 4, binary);
    Select(c, bits, a, 1.0f, SELMODE::VSEL_TENSOR_SCALAR_MODE, maskBits, 4, binary);
    Select(c, bits, a, 1.0f, SELMODE::VSEL_TENSOR_SCALAR_MODE, 64, 4, binary);
    Select<float, SELMODE::VSEL_CMPMASK_SPR>(c, a, b, 1, binary);

    // ---- gather ----
    Duplicate(i32, 4, 64);
    Gather(c, a, i32.ReinterpretCast<uint32_t>(), 0, 64);
    Gather(c, a, i32.ReinterpretCast<uint32_t>(), 0, static_cast<uint64_t>(64), 1, 8);
    Gather(c, a, i32.ReinterpretCast<uint32_t>(), 0, maskBits, 1, 8);
    uint64_t kept = 0;
    Duplicate(u32, 0x5555u, 8);
    GatherMask(c, a, u32, false, 0, {1, 4, 8, 0}, kept);
    GatherMask(c, a, static_cast<uint8_t>(1), true, 64, {1, 2, 8, 0}, kept);

    // ---- reductions ----
    WholeReduceSum(c, a, 64, 4, 1, 1, 8);
    WholeReduceSum(c, a, maskBits, 4, 1, 1, 8);
    WholeReduceMax(c, a, 64, 4, 1, 1, 8);
    WholeReduceMax(c, a, maskBits, 4, 1, 1, 8, ReduceOrder::ORDER_INDEX_VALUE);
    WholeReduceMin(c, a, 64, 4, 1, 1, 8, ReduceOrder::ORDER_ONLY_VALUE);
    WholeReduceMin(c, a, maskBits, 4, 1, 1, 8, ReduceOrder::ORDER_ONLY_INDEX);
    BlockReduceSum(c, a, 4, 64, 1, 1, 8);
    BlockReduceMax(c, a, 4, maskBits, 1, 1, 8);
    BlockReduceMin(c, a, 4, 64, 1, 1, 8);
    ReduceMax(c, a, work, 256, true);
    ReduceMin(c, a, work, 256, false);
    ReduceSum(c, a, work, 256);
    ReduceMax(c, a, work, 64, 4, 8, true);
    ReduceMin(c, a, work, maskBits, 4, 8, false);
    ReduceSum(c, a, work, 64, 4, 8);
    ReduceSum(c, a, work, maskBits, 4, 8);
    float value = 0;
    float index = 0;
    GetReduceMaxMinCount(value, index);
    GetReduceMaxMinCount(value);
    (void)GetAccVal<float>();

    // ---- sorting ----
    CreateVecIndex(i32, 0, 64);
    Sort32(e, a, i32.ReinterpretCast<uint32_t>(), 2);
    const uint16_t lengths[4] = {32, 32, 0, 0};
    MrgSort(d, MrgSortSrcList<float>(e[0], e[64], e[0], e[0]), MrgSort4Info(lengths, false, 3, 1));
    uint32_t sortedNum[4] = {0, 0, 0, 0};
    MrgSort<float, true>(d, MrgSortSrcList<float>(e[0], e[64], e[0], e[0]), lengths, sortedNum, 3, 1);
    uint16_t l1 = 0, l2 = 0, l3 = 0, l4 = 0;
    GetMrgSortResult(l1, l2, l3, l4);
    LocalTensor<float> concat;
    Concat(concat, a, c, 2);
    Sort<float, true>(e, concat, i32.ReinterpretCast<uint32_t>(), c, 2);
    Sort<float, false>(e, concat, i32.ReinterpretCast<uint32_t>(), c, 2);
    Extract(c, u32, e, 2);
    (void)GetSortLen<float>(64);
    (void)GetSortOffset<half>(8);

    // ---- activations ----
    Sigmoid(c, a, 256);
    Sigmoid(c, a, tmp, 256);
    Sigmoid<float>(c, a);
    Sigmoid(c, a, tmp);
    Silu(c, a, 256);
    Swish(c, a, 256, 1.5f);
    Tanh(c, a, 256);
    Tanh(c, a, tmp, 256);
    Tanh<float>(c, a);
    Tanh(c, a, tmp);

    // ---- synchronization ----
    TEventID id = pipe.AllocEventID<HardEvent::V_MTE3>();
    SetFlag<HardEvent::V_MTE3>(id);
    WaitFlag<HardEvent::V_MTE3>(id);
    pipe.ReleaseEventID<HardEvent::V_MTE3>(id);
    const event_t fetched = static_cast<event_t>(GetTPipePtr()->FetchEventID(HardEvent::S_V));
    SetFlag<HardEvent::S_V>(fetched);
    WaitFlag<HardEvent::S_V>(fetched);
    (void)pipe.FetchEventID<HardEvent::MTE2_V>();
    TQueSync<PIPE_V, PIPE_MTE3> sync;
    sync.SetFlag(0);
    sync.WaitFlag(0);
    PipeBarrier<PIPE_V>();
    PipeBarrier<PIPE_ALL>();
    if (cores > 1) {
        SyncAll();
        GlobalTensor<int32_t> syncGm;
        syncGm.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(workspace), 64);
        SyncAll(syncGm, i32, static_cast<int32_t>(cores));
    }

    // ---- bound queue and copies out ----
    LocalTensor<float> bound = bindQueue.AllocTensor<float>();
    Adds(bound, a, 0.0f, 256);
    bindQueue.EnQue(bound);
    bound = bindQueue.DeQue<float>();
    LocalTensor<float> result = outQueue.AllocTensor<float>();
    Add(result, bound, c, 256);
    bindQueue.FreeTensor(bound);
    outQueue.EnQue(result);
    LocalTensor<float> outLocal = outQueue.DeQue<float>();
    DataCopy(outGm, outLocal, 64);
    DataCopy(outGm[64], outLocal[64], {1, 8, 0, 0});
    DataCopyPad(outGm[128], outLocal, {1, 12, 0, 0, 0});
    DataCopyPad(outGm[136], outLocal, {1, 12, 0, 0});
    DataCopyPad(c, xGm, {1, 12, 0, 0}, {false, 0, 0, 0});
    DataCopy(c, outLocal, 64);
    DataCopy(c, outLocal, {1, 8, 0, 0});
    SetAtomicAdd<float>();
    SetAtomicType<float>();
    DataCopy(outGm[192], outLocal, 64);
    SetAtomicMax<float>();
    SetAtomicMin<float>();
    SetAtomicNone();
    DataCacheCleanAndInvalid<float, CacheLine::SINGLE_CACHE_LINE, DcciDst::CACHELINE_OUT>(outGm);
    outQueue.FreeTensor(outLocal);
    inQueue.FreeTensor(a);
    inQueue.FreeTensor(b);
    DataCopy(outHalfGm[256], h, 256);
}
