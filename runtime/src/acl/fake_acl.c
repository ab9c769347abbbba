/* A fake libascendcl for testing moge's ACL backend without an NPU (see fake.rs).
 *
 * Device memory is host memory; a launch records what it was given and runs no kernel. Compile-time
 * switches pick a scenario:
 *   FAKE_DEVICE_COUNT=n   what aclrtGetDeviceCount reports (default 1)
 *   FAKE_OMIT_LAUNCH      leave out aclrtLaunchKernelWithConfig (a library missing a symbol)
 *   FAKE_MEM_LIMIT=n      aclrtMalloc of more than n bytes fails with 207001 (out of memory)
 *   FAKE_FAULT            the kernel "faults": synchronisation reports 507035 after the exception callback
 *   FAKE_HANG             synchronisation reports 507046 (timed out)
 *   FAKE_BLOCK            synchronisation never returns (an ACL that does not honour its timeout)
 *   FAKE_WRITE_ARG=i      the "kernel" writes 0x5A5A5A5A into the first 4 bytes of appended argument i
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef FAKE_DEVICE_COUNT
#define FAKE_DEVICE_COUNT 1
#endif

typedef void (*exception_callback)(void *);

static char g_log[1 << 16];
static size_t g_log_len;
static uint64_t g_args[256];
static uint64_t g_heads[256];
static size_t g_nargs;
static uint32_t g_block_dim;
static long g_live;
static exception_callback g_callback;
static const char *g_recent = "";
static uint64_t g_ns; /* time spent inside the memory calls, which stand in for the device's */

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void note(const char *text) {
    size_t n = strlen(text);
    if (g_log_len + n + 2 < sizeof g_log) {
        memcpy(g_log + g_log_len, text, n);
        g_log_len += n;
        g_log[g_log_len++] = '\n';
        g_log[g_log_len] = 0;
    }
}

/* Test hooks. */
const char *fake_acl_log(void) { return g_log; }
size_t fake_acl_args(uint64_t *out, size_t cap) {
    size_t n = g_nargs < cap ? g_nargs : cap;
    memcpy(out, g_args, n * sizeof(uint64_t));
    return g_nargs;
}
/* The first 8 bytes each appended pointer pointed at when the kernel was launched (0 for null). */
size_t fake_acl_heads(uint64_t *out, size_t cap) {
    size_t n = g_nargs < cap ? g_nargs : cap;
    memcpy(out, g_heads, n * sizeof(uint64_t));
    return g_nargs;
}
uint32_t fake_acl_block_dim(void) { return g_block_dim; }
long fake_acl_live(void) { return g_live; }
/* Nanoseconds spent in aclrtMalloc/Free/Memcpy/Memset so far (host stand-ins for device work). */
uint64_t fake_acl_memory_ns(void) { return g_ns; }

int aclInit(const char *config) { (void)config; note("aclInit"); return 0; }
const char *aclGetRecentErrMsg(void) { return g_recent; }
int aclrtGetDeviceCount(uint32_t *count) { note("aclrtGetDeviceCount"); *count = FAKE_DEVICE_COUNT; return 0; }
int aclrtSetDevice(int32_t device) { (void)device; note("aclrtSetDevice"); return 0; }
#ifndef FAKE_SOC_NAME
#define FAKE_SOC_NAME "Ascend910B2"
#endif
const char *aclrtGetSocName(void) { return FAKE_SOC_NAME; }
int aclrtCreateStream(void **stream) { note("aclrtCreateStream"); *stream = (void *)0x5; return 0; }
int aclrtCreateEvent(void **event) { static uintptr_t next = 0x100; *event = (void *)next++; return 0; }
int aclrtRecordEvent(void *event, void *stream) { (void)event; (void)stream; note("aclrtRecordEvent"); return 0; }
int aclrtEventElapsedTime(float *ms, void *start, void *end) { (void)start; (void)end; *ms = 0.5f; return 0; }

int aclrtMalloc(void **ptr, size_t size, int policy) {
    (void)policy;
#ifdef FAKE_MEM_LIMIT
    if (size > (size_t)FAKE_MEM_LIMIT) { g_recent = "fake: device memory exhausted"; return 207001; }
#endif
    uint64_t t0 = now_ns();
    *ptr = calloc(1, size);
    g_ns += now_ns() - t0;
    if (!*ptr) return 207001;
    g_live++;
    note("aclrtMalloc");
    return 0;
}
int aclrtFree(void *ptr) { uint64_t t0 = now_ns(); free(ptr); g_ns += now_ns() - t0; g_live--; return 0; }
int aclrtMemcpy(void *dst, size_t max, const void *src, size_t n, int kind) {
    if (n > max) return 107000;
    uint64_t t0 = now_ns();
    memcpy(dst, src, n);
    g_ns += now_ns() - t0;
    note(kind == 1 ? "aclrtMemcpy H2D" : "aclrtMemcpy D2H");
    return 0;
}
int aclrtMemset(void *ptr, size_t max, int value, size_t n) {
    if (n > max) return 107000;
    uint64_t t0 = now_ns();
    memset(ptr, value, n);
    g_ns += now_ns() - t0;
    note("aclrtMemset");
    return 0;
}

int aclrtBinaryLoadFromFile(const char *path, void *options, void **bin) {
    (void)options;
    FILE *file = fopen(path, "rb");
    if (!file) { g_recent = "fake: no such binary"; return 107009; }
    fclose(file);
    note("aclrtBinaryLoadFromFile");
    *bin = (void *)0x10;
    return 0;
}
int aclrtBinaryGetFunction(void *bin, const char *name, void **function) {
    (void)bin;
    char line[512];
    snprintf(line, sizeof line, "aclrtBinaryGetFunction %s", name);
    note(line);
    *function = (void *)0x20;
    return 0;
}
int aclrtKernelArgsInit(void *function, void **args) { (void)function; g_nargs = 0; *args = (void *)0x30; note("aclrtKernelArgsInit"); return 0; }
int aclrtKernelArgsAppend(void *args, void *param, size_t size, void **handle) {
    (void)args;
    if (size != 8 || g_nargs >= 256) return 107000;
    memcpy(&g_args[g_nargs++], param, 8);
    *handle = (void *)(uintptr_t)g_nargs;
    return 0;
}
int aclrtKernelArgsFinalize(void *args) { (void)args; note("aclrtKernelArgsFinalize"); return 0; }

#ifndef FAKE_OMIT_LAUNCH
int aclrtLaunchKernelWithConfig(void *function, uint32_t block_dim, void *stream, void *cfg, void *args, void *reserve) {
    (void)function; (void)stream; (void)cfg; (void)args;
    if (reserve) return 107000;
    g_block_dim = block_dim;
    for (size_t i = 0; i < g_nargs; i++) {
        g_heads[i] = 0;
        if (g_args[i]) memcpy(&g_heads[i], (const void *)(uintptr_t)g_args[i], 8);
    }
#ifdef FAKE_WRITE_ARG
    if (FAKE_WRITE_ARG < g_nargs && g_args[FAKE_WRITE_ARG]) memset((void *)(uintptr_t)g_args[FAKE_WRITE_ARG], 0x5A, 4);
#endif
    note("aclrtLaunchKernelWithConfig");
    return 0;
}
#endif

/* Exception info: the fake's info is a static struct the getters read. */
struct fake_info { uint32_t device, stream, task, code; };
static struct fake_info g_info = {0, 7, 42, 507035};
int aclrtSetExceptionInfoCallback(exception_callback callback) { g_callback = callback; return 0; }
uint32_t aclrtGetDeviceIdFromExceptionInfo(const void *info) { return ((const struct fake_info *)info)->device; }
uint32_t aclrtGetStreamIdFromExceptionInfo(const void *info) { return ((const struct fake_info *)info)->stream; }
uint32_t aclrtGetTaskIdFromExceptionInfo(const void *info) { return ((const struct fake_info *)info)->task; }
uint32_t aclrtGetErrorCodeFromExceptionInfo(const void *info) { return ((const struct fake_info *)info)->code; }

int aclrtSynchronizeStreamWithTimeout(void *stream, int32_t ms) {
    (void)stream; (void)ms;
    note("aclrtSynchronizeStreamWithTimeout");
#ifdef FAKE_FAULT
    if (g_callback) g_callback(&g_info);
    g_recent = "fake: aivec error at pc 0x1234";
    return 507035;
#endif
#ifdef FAKE_HANG
    return 507046;
#endif
#ifdef FAKE_BLOCK
    for (;;) pause();
#endif
    return 0;
}
