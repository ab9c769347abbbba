// moge CPU emulator of the Ascend C programming model: the kernel API header.
//
// Kernels written for CANN 8.x (`#include "kernel_operator.h"`) compile against this header with the host
// C++ compiler and run on moge's emulator: every emulated core is a host thread with its own UB/L1/L0
// memories and TPipe state, GM is shared, and the hardware's rules (buffer capacity, 32-byte alignment,
// GM bounds, queue life cycle, event pairing) are checked. Names, signatures and semantics follow the
// public CANN 8.5 API documentation for Atlas A2 (910B); the implementation is moge's own.
#ifndef MOGE_EMU_KERNEL_OPERATOR_H
#define MOGE_EMU_KERNEL_OPERATOR_H

#include "moge_emu/types.h"
#include "moge_emu/core.h"
#include "moge_emu/tensor.h"
#include "moge_emu/pipe.h"
#include "moge_emu/common.h"
#include "moge_emu/data_copy.h"
#include "moge_emu/cube.h"
#include "moge_emu/vec_elementwise.h"
#include "moge_emu/vec_select.h"
#include "moge_emu/vec_reduce.h"
#include "moge_emu/vec_sort.h"
#include "moge_emu/adv.h"

#endif  // MOGE_EMU_KERNEL_OPERATOR_H
