
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "acl/acl.h"

namespace {

// ---- Errors ----

[[noreturn]] void Fail(const std::string& message)
{
    std::fprintf(stderr, "error: %s\n", message.c_str());
    std::exit(1);
}

/// Stops with the call, the ACL error code and ACL's own message for it.
void CheckAcl(aclError code, const char* call)
{
    if (code == ACL_SUCCESS) {
        return;
    }
    const char* recent = aclGetRecentErrMsg();
    std::fprintf(stderr, "error: %s failed with ACL error %d%s%s\n", call, static_cast<int>(code),
                 recent != nullptr ? ": " : "", recent != nullptr ? recent : "");
    std::exit(1);
}

#define CHECK_ACL(call) CheckAcl((call), #call)

/// How long the program waits for its kernels, in milliseconds: MOGE_NPU_TIMEOUT_SECS (whole seconds,
/// as moge's ACL backend reads it) or 300 s, so a kernel that never finishes is an error, not a hang.
int32_t SyncTimeoutMs()
{
    const char* text = std::getenv("MOGE_NPU_TIMEOUT_SECS");
    if (text == nullptr || *text == '\0') {
        return 300 * 1000;
    }
    char* end = nullptr;
    errno = 0;
    const long seconds = std::strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || seconds <= 0 || seconds > 2000000) {
        Fail(std::string("MOGE_NPU_TIMEOUT_SECS is `") + text + "`: expected whole seconds from 1 to 2000000");
    }
    return static_cast<int32_t>(seconds * 1000);
}

// ---- The expressions' arithmetic: 64-bit, truncating, checked (as moge's runtime evaluates it) ----
// [[maybe_unused]]: a program uses only the operations its expressions need.

const char* g_what = "an expression";

[[noreturn]] void Overflow()
{
    Fail(std::string("overflow evaluating ") + g_what);
}

[[maybe_unused]] int64_t Add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) Overflow();
    return r;
}

[[maybe_unused]] int64_t Sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r)) Overflow();
    return r;
}

[[maybe_unused]] int64_t Mul(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r)) Overflow();
    return r;
}

[[maybe_unused]] int64_t Div(int64_t a, int64_t b)
{
    if (b == 0) Fail(std::string("division by zero evaluating ") + g_what);
    if (a == INT64_MIN && b == -1) Overflow();
    return a / b;
}

[[maybe_unused]] int64_t Rem(int64_t a, int64_t b)
{
    if (b == 0) Fail(std::string("division by zero evaluating ") + g_what);
    if (a == INT64_MIN && b == -1) Overflow();
    return a % b;
}

[[maybe_unused]] int64_t Min(int64_t a, int64_t b) { return a < b ? a : b; }

[[maybe_unused]] int64_t Max(int64_t a, int64_t b) { return a > b ? a : b; }

/// The quotient rounded up (toward +infinity).
[[maybe_unused]] int64_t CeilDiv(int64_t a, int64_t b)
{
    int64_t q = Div(a, b);
    int64_t r = Rem(a, b);
    return (r != 0 && ((r > 0) == (b > 0))) ? Add(q, 1) : q;
}

[[maybe_unused]] int64_t AlignUp(int64_t a, int64_t b) { return Mul(CeilDiv(a, b), b); }

/// A size: 0 or more.
[[maybe_unused]] int64_t Size(const std::string& what, int64_t value)
{
    if (value < 0) Fail(what + " is " + std::to_string(value) + ", expected 0 or more");
    return value;
}

/// An axis: 0 or more.
[[maybe_unused]] int64_t Dim(const std::string& what, int64_t value) { return Size(what, value); }

// ---- Tensors and kernels ----

enum class Role { kInput, kOutput, kIntermediate };

struct Tensor {
    std::string name;
    Role role;
    std::string dtype;
    int64_t elem_bytes;
    std::vector<int64_t> shape;
    void* device = nullptr;

    int64_t Bytes() const
    {
        int64_t n = elem_bytes;
        g_what = "a tensor's size";
        for (int64_t s : shape) n = Mul(n, s);
        return n;
    }
};

struct Kernel {
    std::string name;
    std::string core_type;
    std::vector<size_t> args;
    int64_t block_dim = 0;
    std::vector<std::pair<std::string, int64_t>> tiling;
    int64_t workspace_bytes = 0;
};

/// A block dim of 0 skips a kernel that writes nothing (every tensor it writes is empty), as moge's
/// runtime does; otherwise it must be 1 to 65535.
void CheckBlockDim(const Kernel& k, const std::vector<Tensor>& tensors)
{
    bool writes_nothing = true;
    for (size_t t : k.args) {
        if (tensors[t].role != Role::kInput && tensors[t].Bytes() != 0) writes_nothing = false;
    }
    if (k.block_dim == 0 && writes_nothing) return;
    if (k.block_dim < 1 || k.block_dim > 65535) {
        Fail("the block dim of kernel `" + k.name + "` is " + std::to_string(k.block_dim) +
             ", expected 1..=65535");
    }
}
