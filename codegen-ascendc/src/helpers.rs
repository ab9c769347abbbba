//! Small C++ helper functions the printer emits ahead of a kernel.
//! They wrap the repeat-based (level-0) forms of the vector API for segment reductions and broadcasts,
//! which need chunking: a vector instruction runs at most 255 repeats, and repeat strides count 32-byte
//! blocks in 8 bits.

/// `MogeAlignUp`: rounds a count up to a multiple.
pub const ALIGN_UP: &str = r#"// Rounds n up to a multiple of m: compares and selects count whole 256-byte repeats.
__aicore__ inline int32_t MogeAlignUp(int32_t n, int32_t m)
{
    return (n + m - 1) / m * m;
}
"#;

/// `MOGE_SEG_CHUNK`: segments per repeated instruction.
pub const CHUNK: &str = r#"// Segments per repeated instruction: at most 255 repeats, and a multiple of 8 so that every chunk of a
// dense per-segment result starts 32-byte aligned.
constexpr int32_t MOGE_SEG_CHUNK = 248;
"#;

/// `MogeReduce`, `MogeWholeReduce` and `MogeSegReduceShort`: segment reductions of up to 64 elements.
pub const REDUCE: &str = r#"enum class MogeReduce { SUM, MAX, MIN };

// Reduces `repeat` runs of the first `mask` (at most 64) elements, `srcRepStride` blocks apart, to one
// value each, written densely to dst.
template <MogeReduce OP>
__aicore__ inline void MogeWholeReduce(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& src,
    int32_t mask, int32_t repeat, int32_t srcRepStride)
{
    if constexpr (OP == MogeReduce::SUM) {
        AscendC::WholeReduceSum(dst, src, mask, repeat, 1, 1, srcRepStride);
    } else if constexpr (OP == MogeReduce::MAX) {
        AscendC::WholeReduceMax(dst, src, mask, repeat, 1, 1, srcRepStride, AscendC::ReduceOrder::ORDER_ONLY_VALUE);
    } else {
        AscendC::WholeReduceMin(dst, src, mask, repeat, 1, 1, srcRepStride, AscendC::ReduceOrder::ORDER_ONLY_VALUE);
    }
}

// Reduces each of the first 8 * repeat dense 32-byte blocks of src to one value, written densely to dst.
template <MogeReduce OP>
__aicore__ inline void MogeBlockReduce(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& src,
    int32_t repeat)
{
    if constexpr (OP == MogeReduce::SUM) {
        AscendC::BlockReduceSum(dst, src, repeat, 64, 1, 1, 8);
    } else if constexpr (OP == MogeReduce::MAX) {
        AscendC::BlockReduceMax(dst, src, repeat, 64, 1, 1, 8);
    } else {
        AscendC::BlockReduceMin(dst, src, repeat, 64, 1, 1, 8);
    }
}

// dst[i] = op(src[i * stride + j] for j < len) for the nseg segments of src (len at most 64).
template <MogeReduce OP>
__aicore__ inline void MogeSegReduceShort(const AscendC::LocalTensor<float>& dst,
    const AscendC::LocalTensor<float>& src, int32_t nseg, int32_t len, int32_t stride)
{
    if (len == 8 && stride == 8) {
        // Dense 8-element segments are 32-byte blocks: BlockReduce takes 8 a repeat at one cycle per
        // repeat, where WholeReduce takes one a repeat at ~7 cycles (costmodel-910b.md §2.3).
        const int32_t full = nseg / 8;
        for (int32_t r = 0; r < full; r += 255) {
            MogeBlockReduce<OP>(dst[r * 8], src[r * 64], full - r < 255 ? full - r : 255);
        }
        if (nseg % 8 != 0) {
            MogeWholeReduce<OP>(dst[full * 8], src[full * 64], 8, nseg % 8, 1);
        }
        return;
    }
    for (int32_t s = 0; s < nseg; s += MOGE_SEG_CHUNK) {
        const int32_t n = nseg - s < MOGE_SEG_CHUNK ? nseg - s : MOGE_SEG_CHUNK;
        MogeWholeReduce<OP>(dst[s], src[s * stride], len, n, stride / 8);
    }
}
"#;

/// `MogeCombine` and `MogeSegReduceLong`: segment reductions of longer segments (folded first).
pub const REDUCE_LONG: &str = r#"// dst = op(src0, src1) on `repeat` repeats of the first `mask` elements.
template <MogeReduce OP>
__aicore__ inline void MogeCombine(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& src0,
    const AscendC::LocalTensor<float>& src1, uint64_t mask, uint8_t repeat, const AscendC::BinaryRepeatParams& params)
{
    if constexpr (OP == MogeReduce::SUM) {
        AscendC::Add(dst, src0, src1, mask, repeat, params);
    } else if constexpr (OP == MogeReduce::MAX) {
        AscendC::Max(dst, src0, src1, mask, repeat, params);
    } else {
        AscendC::Min(dst, src0, src1, mask, repeat, params);
    }
}

// As MogeSegReduceShort for segments longer than 64 elements: first folds the 64-element chunks of every
// segment into its 64-element slot of `fold`, then reduces the slots. For dense 64-element segments `fold`
// has 8 elements a segment: one BlockReduce repeat reduces a segment's 8 blocks to its 8 partials, then
// the partials reduce as dense 8-element segments (one cycle a repeat each, against ~7 a segment for
// WholeReduce: costmodel-910b.md §2.3).
template <MogeReduce OP>
__aicore__ inline void MogeSegReduceLong(const AscendC::LocalTensor<float>& dst, const AscendC::LocalTensor<float>& src,
    const AscendC::LocalTensor<float>& fold, int32_t nseg, int32_t len, int32_t stride)
{
    if (len == 64 && stride == 64) {
        for (int32_t s = 0; s < nseg; s += 255) {
            MogeBlockReduce<OP>(fold[s * 8], src[s * 64], nseg - s < 255 ? nseg - s : 255);
        }
        // The second step reads the partials just written.
        AscendC::PipeBarrier<PIPE_V>();
        MogeSegReduceShort<OP>(dst, fold, nseg, 8, 8);
        return;
    }
    if (stride / 8 <= 255) {
        // One instruction per chunk, repeating over the segments.
        for (int32_t s = 0; s < nseg; s += MOGE_SEG_CHUNK) {
            const int32_t n = nseg - s < MOGE_SEG_CHUNK ? nseg - s : MOGE_SEG_CHUNK;
            AscendC::Muls(fold[s * 64], src[s * stride], 1.0f, 64, static_cast<uint8_t>(n),
                AscendC::UnaryRepeatParams(1, 1, 8, static_cast<uint8_t>(stride / 8)));
            for (int32_t c = 64; c < len; c += 64) {
                const int32_t m = len - c < 64 ? len - c : 64;
                // Each combine reads the slot the previous instruction wrote.
                AscendC::PipeBarrier<PIPE_V>();
                MogeCombine<OP>(fold[s * 64], src[s * stride + c], fold[s * 64], m, static_cast<uint8_t>(n),
                    AscendC::BinaryRepeatParams(1, 1, 1, 8, static_cast<uint8_t>(stride / 8), 8));
            }
        }
    } else {
        // Segments too far apart for a repeat stride: repeat over the chunks of one segment, accumulating
        // into its slot (dst may overlap src1 when both repeat strides are 0).
        const int32_t full = len / 64;
        for (int32_t s = 0; s < nseg; ++s) {
            AscendC::Muls(fold[s * 64], src[s * stride], 1.0f, 64);
            for (int32_t c = 1; c < full; c += 255) {
                const int32_t n = full - c < 255 ? full - c : 255;
                AscendC::PipeBarrier<PIPE_V>();
                MogeCombine<OP>(fold[s * 64], src[s * stride + c * 64], fold[s * 64], 64, static_cast<uint8_t>(n),
                    AscendC::BinaryRepeatParams(1, 1, 1, 0, 8, 0));
            }
            if (len % 64 != 0) {
                AscendC::PipeBarrier<PIPE_V>();
                MogeCombine<OP>(fold[s * 64], src[s * stride + full * 64], fold[s * 64], len % 64, 1,
                    AscendC::BinaryRepeatParams(1, 1, 1, 8, 8, 8));
            }
        }
    }
    AscendC::PipeBarrier<PIPE_V>();
    MogeSegReduceShort<OP>(dst, fold, nseg, 64, 64);
}
"#;

/// `MogeSegExpand`: broadcast of one value per segment.
pub const SEG_EXPAND: &str = r#"// dst[i * stride + j] = src[i] for j < len: broadcasts one value per segment over the segment. `blocks`
// receives one 32-byte block per segment, filled with its value.
template <typename T>
__aicore__ inline void MogeSegExpand(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& src,
    const AscendC::LocalTensor<T>& blocks, int32_t nseg, int32_t len, int32_t stride)
{
    if (blocks.GetPhyAddr() == dst.GetPhyAddr() && len * static_cast<int32_t>(sizeof(T)) == 32 && stride == len
        && nseg % 8 == 0) {
        // Dense one-block segments, `blocks` passed as dst (SegView::is_blocks): the broadcast blocks are
        // the result, so Brcb writes dst itself (one cycle a repeat of 8 segments) instead of a Muls
        // repeat per segment. The kernel's barriers order this first-step write of dst (`blocks`).
        for (int32_t s = 0; s < nseg; s += 2040) {
            const int32_t n = nseg - s < 2040 ? nseg - s : 2040;
            AscendC::Brcb(dst[s * len], src[s], static_cast<uint8_t>(n / 8), AscendC::BrcbRepeatParams(1, 8));
        }
        return;
    }
    for (int32_t s = 0; s < nseg; s += 2040) {
        const int32_t n = nseg - s < 2040 ? nseg - s : 2040;
        AscendC::Brcb(blocks[s * 8], src[s], static_cast<uint8_t>((n + 7) / 8), AscendC::BrcbRepeatParams(1, 8));
    }
    // The broadcasts below read the blocks just written.
    AscendC::PipeBarrier<PIPE_V>();
    if (stride / 8 <= 255) {
        for (int32_t s = 0; s < nseg; s += MOGE_SEG_CHUNK) {
            const int32_t n = nseg - s < MOGE_SEG_CHUNK ? nseg - s : MOGE_SEG_CHUNK;
            for (int32_t c = 0; c < len; c += 64) {
                const int32_t m = len - c < 64 ? len - c : 64;
                AscendC::Muls(dst[s * stride + c], blocks[s * 8], static_cast<T>(1), m, static_cast<uint8_t>(n),
                    AscendC::UnaryRepeatParams(1, 0, static_cast<uint8_t>(stride / 8), 1));
            }
        }
    } else {
        const int32_t full = len / 64;
        for (int32_t s = 0; s < nseg; ++s) {
            for (int32_t c = 0; c < full; c += 255) {
                const int32_t n = full - c < 255 ? full - c : 255;
                AscendC::Muls(dst[s * stride + c * 64], blocks[s * 8], static_cast<T>(1), 64, static_cast<uint8_t>(n),
                    AscendC::UnaryRepeatParams(1, 0, 8, 0));
            }
            if (len % 64 != 0) {
                AscendC::Muls(dst[s * stride + full * 64], blocks[s * 8], static_cast<T>(1), len % 64, 1,
                    AscendC::UnaryRepeatParams(1, 0, 8, 0));
            }
        }
    }
}
"#;

/// `MogeVecExpand`: a vector repeated over every segment.
pub const VEC_EXPAND: &str = r#"// dst[i * stride + j] = vec[j] for j < len: repeats a vector over the nseg segments.
template <typename T>
__aicore__ inline void MogeVecExpand(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& vec,
    int32_t nseg, int32_t len, int32_t stride)
{
    if (stride / 8 <= 255) {
        for (int32_t s = 0; s < nseg; s += MOGE_SEG_CHUNK) {
            const int32_t n = nseg - s < MOGE_SEG_CHUNK ? nseg - s : MOGE_SEG_CHUNK;
            for (int32_t c = 0; c < len; c += 64) {
                const int32_t m = len - c < 64 ? len - c : 64;
                AscendC::Muls(dst[s * stride + c], vec[c], static_cast<T>(1), m, static_cast<uint8_t>(n),
                    AscendC::UnaryRepeatParams(1, 1, static_cast<uint8_t>(stride / 8), 0));
            }
        }
    } else {
        for (int32_t s = 0; s < nseg; ++s) {
            AscendC::Muls(dst[s * stride], vec, static_cast<T>(1), len);
        }
    }
}
"#;

/// `MogeGather`: table lookup with clamped indices.
pub const GATHER: &str = r#"// dst[k] = table[index[k]] for k < count, with indices clamped to the table's `size` entries.
template <typename T>
__aicore__ inline void MogeGather(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& table,
    const AscendC::LocalTensor<int32_t>& index, const AscendC::LocalTensor<int32_t>& offsets, int32_t size,
    int32_t count)
{
    AscendC::Maxs(offsets, index, static_cast<int32_t>(0), count);
    AscendC::PipeBarrier<PIPE_V>();
    AscendC::Mins(offsets, offsets, static_cast<int32_t>(size - 1), count);
    AscendC::PipeBarrier<PIPE_V>();
    AscendC::Muls(offsets, offsets, static_cast<int32_t>(sizeof(T)), count);
    AscendC::PipeBarrier<PIPE_V>();
    AscendC::Gather(dst, table, offsets.ReinterpretCast<uint32_t>(), static_cast<uint32_t>(0),
        static_cast<uint32_t>(count));
}
"#;

/// `MogeOp` and `MogeBinary`: binary vector ops chosen by a template argument.
pub const BINARY: &str = r#"enum class MogeOp { ADD, SUB, MUL, DIV, MAX, MIN };

// dst = src0 <op> src1 on `repeat` repeats of the first `mask` elements.
template <MogeOp OP, typename T>
__aicore__ inline void MogeBinary(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& src0,
    const AscendC::LocalTensor<T>& src1, uint64_t mask, uint8_t repeat, const AscendC::BinaryRepeatParams& params)
{
    if constexpr (OP == MogeOp::ADD) {
        AscendC::Add(dst, src0, src1, mask, repeat, params);
    } else if constexpr (OP == MogeOp::SUB) {
        AscendC::Sub(dst, src0, src1, mask, repeat, params);
    } else if constexpr (OP == MogeOp::MUL) {
        AscendC::Mul(dst, src0, src1, mask, repeat, params);
    } else if constexpr (OP == MogeOp::DIV) {
        AscendC::Div(dst, src0, src1, mask, repeat, params);
    } else if constexpr (OP == MogeOp::MAX) {
        AscendC::Max(dst, src0, src1, mask, repeat, params);
    } else {
        AscendC::Min(dst, src0, src1, mask, repeat, params);
    }
}

// dst = src0 <op> src1 on the first `count` elements.
template <MogeOp OP, typename T>
__aicore__ inline void MogeBinary(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& src0,
    const AscendC::LocalTensor<T>& src1, int32_t count)
{
    if constexpr (OP == MogeOp::ADD) {
        AscendC::Add(dst, src0, src1, count);
    } else if constexpr (OP == MogeOp::SUB) {
        AscendC::Sub(dst, src0, src1, count);
    } else if constexpr (OP == MogeOp::MUL) {
        AscendC::Mul(dst, src0, src1, count);
    } else if constexpr (OP == MogeOp::DIV) {
        AscendC::Div(dst, src0, src1, count);
    } else if constexpr (OP == MogeOp::MAX) {
        AscendC::Max(dst, src0, src1, count);
    } else {
        AscendC::Min(dst, src0, src1, count);
    }
}
"#;

/// `MogeSegApply`: a binary op with one right operand per segment.
pub const SEG_APPLY: &str = r#"// dst[i * stride + j] = lhs[i * stride + j] <op> src[i] for j < len: one right operand per segment,
// read from `blocks` (one 32-byte block per segment, filled with its value) with a block stride of 0.
template <MogeOp OP, typename T>
__aicore__ inline void MogeSegApply(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& lhs,
    const AscendC::LocalTensor<T>& src, const AscendC::LocalTensor<T>& blocks, int32_t nseg, int32_t len,
    int32_t stride)
{
    for (int32_t s = 0; s < nseg; s += 2040) {
        const int32_t n = nseg - s < 2040 ? nseg - s : 2040;
        AscendC::Brcb(blocks[s * 8], src[s], static_cast<uint8_t>((n + 7) / 8), AscendC::BrcbRepeatParams(1, 8));
    }
    // The broadcasts below read the blocks just written.
    AscendC::PipeBarrier<PIPE_V>();
    if (stride / 8 <= 255) {
        for (int32_t s = 0; s < nseg; s += MOGE_SEG_CHUNK) {
            const int32_t n = nseg - s < MOGE_SEG_CHUNK ? nseg - s : MOGE_SEG_CHUNK;
            const uint8_t rep = static_cast<uint8_t>(stride / 8);
            for (int32_t c = 0; c < len; c += 64) {
                const int32_t m = len - c < 64 ? len - c : 64;
                MogeBinary<OP>(dst[s * stride + c], lhs[s * stride + c], blocks[s * 8], m, static_cast<uint8_t>(n),
                    AscendC::BinaryRepeatParams(1, 1, 0, rep, rep, 1));
            }
        }
    } else {
        const int32_t full = len / 64;
        for (int32_t s = 0; s < nseg; ++s) {
            for (int32_t c = 0; c < full; c += 255) {
                const int32_t n = full - c < 255 ? full - c : 255;
                MogeBinary<OP>(dst[s * stride + c * 64], lhs[s * stride + c * 64], blocks[s * 8], 64,
                    static_cast<uint8_t>(n), AscendC::BinaryRepeatParams(1, 1, 0, 8, 8, 0));
            }
            if (len % 64 != 0) {
                MogeBinary<OP>(dst[s * stride + full * 64], lhs[s * stride + full * 64], blocks[s * 8], len % 64, 1,
                    AscendC::BinaryRepeatParams(1, 1, 0, 8, 8, 0));
            }
        }
    }
}
"#;

/// `MogeVecApply`: a binary op with a vector right operand repeated over every segment.
pub const VEC_APPLY: &str = r#"// dst[i * stride + j] = lhs[i * stride + j] <op> vec[j] for j < len: a vector applied to every segment.
template <MogeOp OP, typename T>
__aicore__ inline void MogeVecApply(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& lhs,
    const AscendC::LocalTensor<T>& vec, int32_t nseg, int32_t len, int32_t stride)
{
    if (stride / 8 <= 255) {
        for (int32_t s = 0; s < nseg; s += MOGE_SEG_CHUNK) {
            const int32_t n = nseg - s < MOGE_SEG_CHUNK ? nseg - s : MOGE_SEG_CHUNK;
            const uint8_t rep = static_cast<uint8_t>(stride / 8);
            for (int32_t c = 0; c < len; c += 64) {
                const int32_t m = len - c < 64 ? len - c : 64;
                MogeBinary<OP>(dst[s * stride + c], lhs[s * stride + c], vec[c], m, static_cast<uint8_t>(n),
                    AscendC::BinaryRepeatParams(1, 1, 1, rep, rep, 0));
            }
        }
    } else {
        for (int32_t s = 0; s < nseg; ++s) {
            MogeBinary<OP>(dst[s * stride], lhs[s * stride], vec, len);
        }
    }
}
"#;
