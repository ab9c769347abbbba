// moge CPU emulator: sorting (Sort32, MrgSort, Sort, Extract, Concat) on Atlas A2.
//
// Sorted data is a list of 8-byte records: the score in the low bytes (float: 4 bytes; half: 2 bytes and 2
// reserved bytes) and the uint32_t index in the high 4 bytes. Sorting is descending by score; among equal
// scores the element that came first (lower position, or lower list in MrgSort) comes first.
#ifndef MOGE_EMU_VEC_SORT_H
#define MOGE_EMU_VEC_SORT_H

#include "vec_elementwise.h"

namespace AscendC {

/// Parameters of MrgSort: lengths of the (up to) four lists in records, exhausted-suspension, the valid-list
/// bit set (3: two lists, 7: three, 15: four) and the repeat count.
struct MrgSort4Info {
    MrgSort4Info() {}
    MrgSort4Info(const uint16_t elementLengthsIn[MRG_SORT_ELEMENT_LEN], const bool ifExhaustedSuspensionIn,
                 const uint16_t validBitIn, const uint16_t repeatTimesIn)
        : ifExhaustedSuspension(ifExhaustedSuspensionIn), validBit(validBitIn), repeatTimes(static_cast<uint8_t>(repeatTimesIn)) {
        for (int32_t i = 0; i < MRG_SORT_ELEMENT_LEN; ++i) {
            elementLengths[i] = elementLengthsIn[i];
        }
    }
    uint16_t elementLengths[MRG_SORT_ELEMENT_LEN] = {0};
    bool ifExhaustedSuspension = false;
    uint16_t validBit = 0;
    uint8_t repeatTimes = 1;
};

/// The sorted lists MrgSort merges.
template <typename T>
struct MrgSortSrcList {
    MrgSortSrcList() {}
    MrgSortSrcList(const LocalTensor<T>& src1In, const LocalTensor<T>& src2In, const LocalTensor<T>& src3In,
                   const LocalTensor<T>& src4In) {
        src1 = src1In[0];
        src2 = src2In[0];
        src3 = src3In[0];
        src4 = src4In[0];
    }
    LocalTensor<T> src1;
    LocalTensor<T> src2;
    LocalTensor<T> src3;
    LocalTensor<T> src4;
};

}  // namespace AscendC

namespace moge_emu {

/// One (score, index) record.
struct SortRecord {
    float score;
    uint32_t index;
};

/// Total order used for sorting: NaN above everything, then descending.
inline bool score_before(float a, float b) {
    if (std::isnan(a)) {
        return !std::isnan(b);
    }
    if (std::isnan(b)) {
        return false;
    }
    return a > b;
}

template <typename T>
inline SortRecord read_record(const char* call, const char* name, const LocalTensor<T>& list, uint64_t record) {
    const uint64_t byte = record * 8;
    if (byte + 8 > static_cast<uint64_t>(list.size_) * sizeof(T)) {
        violation(call, "%s: record %llu is past the end of the tensor (%llu bytes)", name, static_cast<unsigned long long>(record),
                  static_cast<unsigned long long>(static_cast<uint64_t>(list.size_) * sizeof(T)));
    }
    const uint8_t* at = reinterpret_cast<const uint8_t*>(list.ptr_) + byte;
    T score;
    std::memcpy(&score, at, sizeof(T));
    SortRecord result;
    result.score = to_float(score);
    std::memcpy(&result.index, at + 4, 4);
    return result;
}

template <typename T>
inline void write_record(const char* call, const LocalTensor<T>& list, uint64_t record, const SortRecord& value) {
    const uint64_t byte = record * 8;
    if (byte + 8 > static_cast<uint64_t>(list.size_) * sizeof(T)) {
        violation(call, "dst: record %llu is past the end of the tensor (%llu bytes)", static_cast<unsigned long long>(record),
                  static_cast<unsigned long long>(static_cast<uint64_t>(list.size_) * sizeof(T)));
    }
    uint8_t* at = reinterpret_cast<uint8_t*>(list.ptr_) + byte;
    const T score = from_float<T>(value.score);
    std::memset(at, 0, 4);
    std::memcpy(at, &score, sizeof(T));
    std::memcpy(at + 4, &value.index, 4);
}

/// Stable descending sort of `count` records.
inline void sort_records(SortRecord* records, uint32_t count) {
    // Insertion sort: stable, and the lists here are short (32 per repeat, a few thousand at most).
    for (uint32_t i = 1; i < count; ++i) {
        const SortRecord item = records[i];
        uint32_t j = i;
        while (j > 0 && score_before(item.score, records[j - 1].score)) {
            records[j] = records[j - 1];
            --j;
        }
        records[j] = item;
    }
}

template <typename T>
inline void check_sort_type() {
    static_assert(one_of<T, half, float>(), "sorting supports half and float on Atlas A2");
}

/// Sorts `repeats` groups of 32 (score, index) pairs into records; `full` sorts all of them as one group.
template <typename T>
inline void sort_groups(const char* call, const LocalTensor<T>& dst, const LocalTensor<T>& score,
                        const LocalTensor<uint32_t>& index, int32_t repeatTime, bool full) {
    check_sort_type<T>();
    check_vector_operand(call, "dst", dst);
    check_vector_operand(call, "src0", score);
    check_vector_operand(call, "src1", index);
    if (repeatTime < 0) {
        violation(call, "negative repeatTime %d", repeatTime);
    }
    const uint32_t total = static_cast<uint32_t>(repeatTime) * 32;
    check_elements(call, "score", score, total);
    check_elements(call, "index", index, total);
    const uint32_t group = full ? (total == 0 ? 1 : total) : 32;
    SortRecord records[32];
    SortRecord* buffer = full && total > 32 ? new SortRecord[total] : records;
    struct Free {
        SortRecord* owned;
        ~Free() {
            if (owned != nullptr) {
                delete[] owned;
            }
        }
    } release{buffer != records ? buffer : nullptr};
    for (uint32_t start = 0; start < total; start += group) {
        for (uint32_t k = 0; k < group; ++k) {
            buffer[k].score = to_float(score.ptr_[start + k]);
            buffer[k].index = index.ptr_[start + k];
        }
        sort_records(buffer, group);
        for (uint32_t k = 0; k < group; ++k) {
            write_record(call, dst, start + k, buffer[k]);
        }
    }
}

/// Merges up to four sorted record lists.
template <typename T>
inline void merge_sort(const char* call, const LocalTensor<T>& dst, const AscendC::MrgSortSrcList<T>& src,
                       const AscendC::MrgSort4Info& params) {
    check_sort_type<T>();
    uint32_t lists = 0;
    switch (params.validBit) {
        case 3: lists = 2; break;
        case 7: lists = 3; break;
        case 15: lists = 4; break;
        default: violation(call, "validBit %u is not 3, 7 or 15", params.validBit);
    }
    const LocalTensor<T>* inputs[4] = {&src.src1, &src.src2, &src.src3, &src.src4};
    check_vector_operand(call, "dst", dst);
    for (uint32_t l = 0; l < lists; ++l) {
        check_vector_operand(call, "src", *inputs[l], 8);
        if (params.elementLengths[l] > 4095) {
            violation(call, "elementLengths[%u] = %u is past 4095", l, params.elementLengths[l]);
        }
    }
    // repeatTimes only applies to four equal, contiguous lists without exhausted-suspension.
    uint32_t repeats = 1;
    if (params.repeatTimes > 1 && lists == 4 && !params.ifExhaustedSuspension) {
        const uint16_t length = params.elementLengths[0];
        bool same = true;
        for (uint32_t l = 1; l < 4; ++l) {
            same = same && params.elementLengths[l] == length &&
                   reinterpret_cast<const uint8_t*>(inputs[l]->ptr_) ==
                       reinterpret_cast<const uint8_t*>(inputs[l - 1]->ptr_) + static_cast<uint64_t>(length) * 8;
        }
        if (same) {
            repeats = params.repeatTimes;
        }
    }
    uint64_t written = 0;
    for (uint32_t r = 0; r < repeats; ++r) {
        uint32_t position[4] = {0, 0, 0, 0};
        uint64_t base[4] = {0, 0, 0, 0};
        uint64_t block = 0;
        for (uint32_t l = 0; l < lists; ++l) {
            block += params.elementLengths[l];
        }
        for (uint32_t l = 0; l < lists; ++l) {
            base[l] = static_cast<uint64_t>(r) * block;
        }
        while (true) {
            int best = -1;
            SortRecord best_record{0.0f, 0};
            bool exhausted = false;
            for (uint32_t l = 0; l < lists; ++l) {
                if (position[l] >= params.elementLengths[l]) {
                    exhausted = true;
                    continue;
                }
                const SortRecord candidate = read_record(call, "src", *inputs[l], base[l] + position[l]);
                if (best < 0 || score_before(candidate.score, best_record.score)) {
                    best = static_cast<int>(l);
                    best_record = candidate;
                }
            }
            if (best < 0 || (exhausted && params.ifExhaustedSuspension)) {
                break;
            }
            write_record(call, dst, written++, best_record);
            ++position[best];
        }
        CoreState& state = core();
        for (uint32_t l = 0; l < 4; ++l) {
            state.mrgsort_consumed[l] = static_cast<uint16_t>(l < lists ? position[l] : 0);
        }
    }
}

}  // namespace moge_emu

namespace AscendC {

/// Sorts each group of 32 scores (descending) into (score, index) records.
template <typename T>
inline void Sort32(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<uint32_t>& src1,
                   const int32_t repeatTime) {
    moge_emu::check_repeat("Sort32", repeatTime);
    moge_emu::sort_groups("Sort32", dst, src0, src1, repeatTime, false);
}

/// Merges up to four sorted record lists into dst (descending).
template <typename T>
inline void MrgSort(const LocalTensor<T>& dst, const MrgSortSrcList<T>& src, const MrgSort4Info& params) {
    moge_emu::merge_sort("MrgSort", dst, src, params);
}

/// The same merge with the lists' lengths and the consumed counts as arrays.
template <typename T, bool isExhaustedSuspension = false>
inline void MrgSort(const LocalTensor<T>& dst, const MrgSortSrcList<T>& sortList, const uint16_t elementCountList[4],
                    uint32_t sortedNum[4], uint16_t validBit, const int32_t repeatTime) {
    MrgSort4Info info(elementCountList, isExhaustedSuspension, validBit, static_cast<uint16_t>(repeatTime));
    moge_emu::merge_sort("MrgSort", dst, sortList, info);
    const moge_emu::CoreState& core = moge_emu::core();
    for (int i = 0; i < 4; ++i) {
        sortedNum[i] = core.mrgsort_consumed[i];
    }
}

/// How many records of each list the last MrgSort consumed.
inline void GetMrgSortResult(uint16_t& mrgSortList1, uint16_t& mrgSortList2, uint16_t& mrgSortList3, uint16_t& mrgSortList4) {
    const moge_emu::CoreState& core = moge_emu::core();
    mrgSortList1 = core.mrgsort_consumed[0];
    mrgSortList2 = core.mrgsort_consumed[1];
    mrgSortList3 = core.mrgsort_consumed[2];
    mrgSortList4 = core.mrgsort_consumed[3];
}

/// Prepares scores for Sort; on Atlas A2 the scores are used as they are.
template <typename T>
inline void Concat(LocalTensor<T>& concat, const LocalTensor<T>& src, const LocalTensor<T>& tmp, const int32_t repeatTime) {
    moge_emu::check_sort_type<T>();
    moge_emu::check_repeat("Concat", repeatTime);
    (void)tmp;
    concat = src;
}

/// Sorts `repeatTime * 32` scores into records: all of them when isFullSort, else each group of 32.
template <typename T, bool isFullSort>
inline void Sort(const LocalTensor<T>& dst, const LocalTensor<T>& concat, const LocalTensor<uint32_t>& index,
                 LocalTensor<T>& tmp, const int32_t repeatTime) {
    (void)tmp;
    moge_emu::sort_groups("Sort", dst, concat, index, repeatTime, isFullSort);
}

/// Splits `repeatTime * 32` records into scores and indices.
template <typename T>
inline void Extract(const LocalTensor<T>& dstValue, const LocalTensor<uint32_t>& dstIndex, const LocalTensor<T>& sorted,
                    const int32_t repeatTime) {
    moge_emu::check_sort_type<T>();
    const char* call = "Extract";
    moge_emu::check_repeat(call, repeatTime);
    moge_emu::check_vector_operand(call, "dstValue", dstValue);
    moge_emu::check_vector_operand(call, "dstIndex", dstIndex);
    moge_emu::check_vector_operand(call, "sorted", sorted);
    const uint32_t total = static_cast<uint32_t>(repeatTime) * 32;
    moge_emu::check_elements(call, "dstValue", dstValue, total);
    moge_emu::check_elements(call, "dstIndex", dstIndex, total);
    for (uint32_t k = 0; k < total; ++k) {
        const moge_emu::SortRecord record = moge_emu::read_record(call, "sorted", sorted, k);
        dstValue.ptr_[k] = moge_emu::from_float<T>(record.score);
        dstIndex.ptr_[k] = record.index;
    }
}

/// Offset, in elements of T, of record `elemOffset` of sorted data.
template <typename T>
inline uint32_t GetSortOffset(const uint32_t elemOffset) {
    moge_emu::check_sort_type<T>();
    return elemOffset * static_cast<uint32_t>(8 / sizeof(T));
}

/// Length, in elements of T, of `elemCount` records of sorted data.
template <typename T>
inline uint32_t GetSortLen(const uint32_t elemCount) {
    moge_emu::check_sort_type<T>();
    return elemCount * static_cast<uint32_t>(8 / sizeof(T));
}

}  // namespace AscendC

#endif  // MOGE_EMU_VEC_SORT_H
