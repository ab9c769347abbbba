// Kernels that break one rule each; the tests check that the emulator reports exactly that rule.
// Every kernel takes x (64 floats), the workspace and the tiling.
#include "kernel_operator.h"

using namespace AscendC;

#define FAULTY_KERNEL(name) extern "C" __global__ __aicore__ void name(GM_ADDR x, GM_ADDR workspace, GM_ADDR tiling)

// 2 x 100 KiB of queue buffers: past the 184 KiB TPipe can hand out of the 192 KiB UB.
FAULTY_KERNEL(ub_overflow) {
    (void)x, (void)workspace, (void)tiling;
    TPipe pipe;
    TQue<TPosition::VECIN, 2> queue;
    pipe.InitBuffer(queue, 2, 100 * 1024);
}

// DataCopy into a UB address 12 bytes past a 32-byte boundary.
FAULTY_KERNEL(misaligned_copy) {
    (void)workspace, (void)tiling;
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 1024);
    GlobalTensor<float> xGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 64);
    DataCopy(buf.Get<float>()[3], xGm, 8);
}

// DataCopy of 7 floats = 28 bytes, not whole 32-byte blocks.
FAULTY_KERNEL(copy_length) {
    (void)workspace, (void)tiling;
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 1024);
    GlobalTensor<float> xGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 64);
    DataCopy(buf.Get<float>(), xGm, 7);
}

// 16 floats read through a GlobalTensor whose SetGlobalBuffer range is 8 floats.
FAULTY_KERNEL(gm_range) {
    (void)workspace, (void)tiling;
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 1024);
    GlobalTensor<float> xGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x), 8);
    DataCopy(buf.Get<float>(), xGm, 16);
}

// 8 floats read right after the end of x (64 floats) through an unsized GlobalTensor.
FAULTY_KERNEL(gm_past_argument) {
    (void)workspace, (void)tiling;
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 1024);
    GlobalTensor<float> xGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ float*>(x));
    DataCopy(buf.Get<float>(), xGm[64], 8);
}

// DeQue with nothing enqueued.
FAULTY_KERNEL(deque_empty) {
    (void)x, (void)workspace, (void)tiling;
    TPipe pipe;
    TQue<TPosition::VECIN, 1> queue;
    pipe.InitBuffer(queue, 2, 256);
    LocalTensor<float> tensor = queue.DeQue<float>();
    (void)tensor;
}

// A third AllocTensor from a queue with two buffers, none freed.
FAULTY_KERNEL(alloc_past_depth) {
    (void)x, (void)workspace, (void)tiling;
    TPipe pipe;
    TQue<TPosition::VECIN, 2> queue;
    pipe.InitBuffer(queue, 2, 256);
    LocalTensor<float> first = queue.AllocTensor<float>();
    LocalTensor<float> second = queue.AllocTensor<float>();
    LocalTensor<float> third = queue.AllocTensor<float>();
    (void)first, (void)second, (void)third;
}

// The same tensor enqueued twice.
FAULTY_KERNEL(enque_twice) {
    (void)x, (void)workspace, (void)tiling;
    TPipe pipe;
    TQue<TPosition::VECIN, 2> queue;
    pipe.InitBuffer(queue, 2, 256);
    LocalTensor<float> tensor = queue.AllocTensor<float>();
    queue.EnQue(tensor);
    queue.EnQue(tensor);
}

// A tensor of one queue freed through another.
FAULTY_KERNEL(free_foreign) {
    (void)x, (void)workspace, (void)tiling;
    TPipe pipe;
    TQue<TPosition::VECIN, 1> first;
    TQue<TPosition::VECOUT, 1> second;
    pipe.InitBuffer(first, 1, 256);
    pipe.InitBuffer(second, 1, 256);
    LocalTensor<float> tensor = first.AllocTensor<float>();
    second.FreeTensor(tensor);
}

// WaitFlag with no SetFlag before it.
FAULTY_KERNEL(wait_without_set) {
    (void)x, (void)workspace, (void)tiling;
    WaitFlag<HardEvent::MTE2_V>(1);
}

// SetFlag never waited before the kernel ends.
FAULTY_KERNEL(set_never_waited) {
    (void)x, (void)workspace, (void)tiling;
    SetFlag<HardEvent::V_MTE3>(2);
}

// A vector operand 4 bytes past a 32-byte boundary.
FAULTY_KERNEL(misaligned_vector) {
    (void)x, (void)workspace, (void)tiling;
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 1024);
    LocalTensor<float> tensor = buf.Get<float>();
    Add(tensor[1], tensor[1], tensor[1], 8);
}

// float -> bfloat16_t with CAST_NONE, which Atlas A2 does not support.
FAULTY_KERNEL(bad_cast_mode) {
    (void)x, (void)workspace, (void)tiling;
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 1024);
    LocalTensor<float> source = buf.Get<float>();
    LocalTensor<bfloat16_t> target = buf.GetWithOffset<bfloat16_t>(64, 512);
    Duplicate(source, 1.0f, 64);
    Cast(target, source, RoundMode::CAST_NONE, 64);
}

// Only core 3 misbehaves (DeQue on an empty queue); the other cores finish.
FAULTY_KERNEL(only_core_three) {
    (void)x, (void)workspace, (void)tiling;
    TPipe pipe;
    TQue<TPosition::VECIN, 1> queue;
    pipe.InitBuffer(queue, 1, 256);
    if (GetBlockIdx() == 3) {
        LocalTensor<float> tensor = queue.DeQue<float>();
        (void)tensor;
    }
}

// Core 1 stores through a null pointer (taken from the tiling, so the compiler cannot see it): a real
// segfault, which must not take the host down.
FAULTY_KERNEL(null_write) {
    (void)x, (void)workspace;
    if (GetBlockIdx() == 1) {
        const uintptr_t address = reinterpret_cast<__gm__ uint32_t*>(tiling)[0];
        *reinterpret_cast<volatile int32_t*>(address) = 1;
    }
}

// Core 0 returns without reaching the SyncAll the other core waits at (the NPU would hang).
FAULTY_KERNEL(sync_mismatch) {
    (void)x, (void)workspace, (void)tiling;
    if (GetBlockIdx() == 0) {
        return;
    }
    SyncAll();
}

// A tiling struct of three words read from a tiling of fewer bytes (a manifest whose `tiling` list is short):
// core 0 copies the struct's third word into x[0].
struct ThreeWords {
    uint32_t a, b, c;
};

FAULTY_KERNEL(tiling_overread) {
    (void)workspace;
    const __gm__ ThreeWords* t = reinterpret_cast<const __gm__ ThreeWords*>(tiling);
    GlobalTensor<uint32_t> xGm;
    xGm.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(x), 64);
    xGm.SetValue(0, t->c);
}
