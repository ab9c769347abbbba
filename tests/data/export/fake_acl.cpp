// A host-memory stand-in for ACL: device memory is host memory, a launch prints what it was given
// (the kernel, the block dim, the parameters appended, the tiling blob) instead of running anything.
#include "acl/acl.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {
struct Function {
    std::string name;
};
struct Args {
    Function* function;
    std::vector<void*> params;
    bool finalized = false;
};
int g_binary;
int g_stream;
int g_event;
} // namespace

extern "C" {
aclError aclInit(const char*) { return 0; }
aclError aclFinalize(void) { return 0; }
const char* aclGetRecentErrMsg(void) { return "fake"; }
aclError aclrtSetDevice(int32_t) { return 0; }
aclError aclrtResetDevice(int32_t) { return 0; }
aclError aclrtCreateStream(aclrtStream* s) { *s = &g_stream; return 0; }
aclError aclrtDestroyStream(aclrtStream) { return 0; }
aclError aclrtSynchronizeStream(aclrtStream) { return 0; }
aclError aclrtSynchronizeStreamWithTimeout(aclrtStream, int32_t timeout)
{
    std::printf("sync within %d ms\n", static_cast<int>(timeout));
    return 0;
}
aclError aclrtMalloc(void** p, size_t n, aclrtMemMallocPolicy)
{
    // Fresh device memory holds whatever was there: 0xAB here, so that a buffer the program does not
    // initialise shows in the launch's `heads` line.
    *p = std::malloc(n);
    if (*p != nullptr) std::memset(*p, 0xAB, n);
    return *p ? 0 : 207001;
}
aclError aclrtMemset(void* p, size_t max, int32_t v, size_t n)
{
    if (n > max) return 107000;
    std::memset(p, v, n);
    return 0;
}
aclError aclrtFree(void* p) { std::free(p); return 0; }
aclError aclrtMemcpy(void* d, size_t max, const void* s, size_t n, aclrtMemcpyKind)
{
    if (n > max) return 107000;
    std::memcpy(d, s, n);
    return 0;
}
aclError aclrtMemsetAsync(void* p, size_t max, int32_t v, size_t n, aclrtStream)
{
    if (n > max) return 107000;
    std::memset(p, v, n);
    return 0;
}
aclError aclrtCreateEvent(aclrtEvent* e) { *e = &g_event; return 0; }
aclError aclrtDestroyEvent(aclrtEvent) { return 0; }
aclError aclrtRecordEvent(aclrtEvent, aclrtStream) { return 0; }
aclError aclrtEventElapsedTime(float* ms, aclrtEvent, aclrtEvent) { *ms = 0.0f; return 0; }
aclError aclrtBinaryLoadFromFile(const char* path, aclrtBinaryLoadOptions*, aclrtBinHandle* b)
{
    std::printf("load %s\n", path);
    *b = &g_binary;
    return 0;
}
aclError aclrtBinaryUnLoad(aclrtBinHandle) { return 0; }
aclError aclrtBinaryGetFunction(const aclrtBinHandle, const char* name, aclrtFuncHandle* f)
{
    *f = new Function{name};
    return 0;
}
aclError aclrtKernelArgsInit(aclrtFuncHandle f, aclrtArgsHandle* a)
{
    *a = new Args{static_cast<Function*>(f), {}, false};
    return 0;
}
aclError aclrtKernelArgsAppend(aclrtArgsHandle a, void* param, size_t size, aclrtParamHandle* h)
{
    if (size != sizeof(void*)) return 107000;
    void* value;
    std::memcpy(&value, param, sizeof(value));
    static_cast<Args*>(a)->params.push_back(value);
    *h = nullptr;
    return 0;
}
aclError aclrtKernelArgsFinalize(aclrtArgsHandle a)
{
    static_cast<Args*>(a)->finalized = true;
    return 0;
}
aclError aclrtLaunchKernelWithConfig(aclrtFuncHandle f, uint32_t blockDim, aclrtStream, aclrtLaunchKernelCfg*,
                                     aclrtArgsHandle a, void*)
{
    Args* args = static_cast<Args*>(a);
    if (!args->finalized || args->function != f) return 107000;
    // The last parameter is the tiling blob: print its first field.
    const int64_t* tiling = static_cast<const int64_t*>(args->params.back());
    std::printf("launch %s block_dim %u params %zu null_workspace %d tiling[0] %lld\n",
                static_cast<Function*>(f)->name.c_str(), blockDim, args->params.size(),
                args->params[args->params.size() - 2] == nullptr ? 1 : 0, static_cast<long long>(tiling[0]));
    // The first byte of every GM argument (all parameters but the workspace and the tiling) as the
    // kernel would see it.
    std::printf("heads %s", static_cast<Function*>(f)->name.c_str());
    for (size_t i = 0; i + 2 < args->params.size(); ++i) {
        const unsigned char* p = static_cast<const unsigned char*>(args->params[i]);
        if (p == nullptr) {
            std::printf(" null");
        } else {
            std::printf(" %02x", p[0]);
        }
    }
    std::printf("\n");
    delete args;
    return 0;
}
}
