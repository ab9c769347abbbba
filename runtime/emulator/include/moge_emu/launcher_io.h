// moge CPU emulator: the launcher's byte streams (request and response files) and its crash reporting (a
// fatal signal names the core; a read past the tiling bytes, which end at a guard page, names the byte).
// Included by the launcher only (runtime/emulator/src/launcher.cpp).
#ifndef MOGE_EMU_LAUNCHER_IO_H
#define MOGE_EMU_LAUNCHER_IO_H

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "race.h"

namespace moge_emu {

/// The launch index of the core the current thread runs (-1 outside a core).
inline thread_local int t_core_index = -1;

namespace launcher_io {

// ---- byte streams -------------------------------------------------------------------------------------------

/// Reads the request from its mapped bytes.
struct Reader {
    const uint8_t* data = nullptr;
    size_t size = 0;
    size_t at = 0;
    bool ok = true;

    bool take(void* out, size_t n) {
        if (!ok || size - at < n) {
            ok = false;
            return false;
        }
        std::memcpy(out, data + at, n);
        at += n;
        return true;
    }
    /// Moves past `n` bytes without copying them (an argument's bytes, mapped in place).
    bool skip(size_t n) {
        if (!ok || size - at < n) {
            ok = false;
            return false;
        }
        at += n;
        return true;
    }
    /// Moves to the next multiple of `align` (the padding before and after an argument's bytes).
    bool align_to(size_t align) { return skip((align - at % align) % align); }
    uint8_t u8() {
        uint8_t v = 0;
        take(&v, 1);
        return v;
    }
    uint32_t u32() {
        uint8_t b[4] = {};
        take(b, 4);
        return static_cast<uint32_t>(b[0]) | static_cast<uint32_t>(b[1]) << 8 | static_cast<uint32_t>(b[2]) << 16 |
               static_cast<uint32_t>(b[3]) << 24;
    }
    uint64_t u64() {
        const uint64_t low = u32();
        const uint64_t high = u32();
        return low | high << 32;
    }
    std::string str() {
        const uint32_t n = u32();
        if (!ok || size - at < n) {
            ok = false;
            return std::string();
        }
        std::string s(reinterpret_cast<const char*>(data + at), n);
        at += n;
        return s;
    }
};

/// Writes the response file as it goes (an argument of gigabytes is not copied into a buffer first).
struct Writer {
    FILE* file = nullptr;
    bool ok = true;

    void bytes(const void* p, size_t n) {
        if (ok && n > 0 && std::fwrite(p, 1, n, file) != n) {
            ok = false;
        }
    }
    void u8(uint8_t v) { bytes(&v, 1); }
    void u32(uint32_t v) {
        const uint8_t b[4] = {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
                              static_cast<uint8_t>(v >> 24)};
        bytes(b, 4);
    }
    void u64(uint64_t v) {
        u32(static_cast<uint32_t>(v));
        u32(static_cast<uint32_t>(v >> 32));
    }
    void str(const std::string& s) {
        u32(static_cast<uint32_t>(s.size()));
        bytes(s.data(), s.size());
    }
    /// Closes the file; false when anything failed.
    bool close() {
        const bool closed = std::fclose(file) == 0;
        file = nullptr;
        return ok && closed;
    }
};

/// The request file mapped copy-on-write: an argument's bytes are read from the file only where a kernel
/// touches them (a layer's expert weights mostly stay on disk), and a kernel's writes stay private.
struct MappedRequest {
    int fd = -1;
    const uint8_t* data = nullptr;
    size_t size = 0;
};

inline bool map_request(const char* path, MappedRequest& request) {
    request.fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (request.fd < 0) {
        return false;
    }
    struct stat info;
    if (::fstat(request.fd, &info) != 0 || info.st_size <= 0) {
        return false;
    }
    request.size = static_cast<size_t>(info.st_size);
    void* memory = ::mmap(nullptr, request.size, PROT_READ, MAP_PRIVATE, request.fd, 0);
    if (memory == MAP_FAILED) {
        return false;
    }
    request.data = static_cast<const uint8_t*>(memory);
    return true;
}

/// GM for an argument of `len` bytes at page-aligned `offset` of the request file: the file's bytes mapped
/// copy-on-write, followed by `gap` zero bytes (anonymous) so that no argument abuts another. Null when the
/// host cannot map it.
inline uint8_t* map_argument(const MappedRequest& request, uint64_t offset, uint64_t len, uint64_t gap) {
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const uint64_t data_pages = (len + page - 1) / page;
    const uint64_t size = (data_pages + (gap + page - 1) / page) * page;
    void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        return nullptr;
    }
    if (data_pages > 0 && ::mmap(memory, data_pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED,
                                 request.fd, static_cast<off_t>(offset)) == MAP_FAILED) {
        ::munmap(memory, size);
        return nullptr;
    }
    return static_cast<uint8_t*>(memory);
}

/// Whether a kernel may have written the mapped bytes [base, base + len): some page of them is no longer
/// the file's (its private copy was made on a write, or it was swapped out). True when the host cannot tell
/// (no /proc/self/pagemap), so that the bytes are then sent back as before.
inline bool mapped_bytes_written(const uint8_t* base, uint64_t len) {
    if (len == 0) {
        return false;
    }
    const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return true;
    }
    const uint64_t first = reinterpret_cast<uintptr_t>(base) / page;
    const uint64_t count = (len + page - 1) / page;
    constexpr uint64_t kPresent = 1ull << 63, kSwapped = 1ull << 62, kFilePage = 1ull << 61;
    std::vector<uint64_t> entries(4096);
    bool written = false;
    for (uint64_t done = 0; done < count && !written;) {
        const uint64_t n = std::min<uint64_t>(entries.size(), count - done);
        const ssize_t got = ::pread(fd, entries.data(), n * 8, static_cast<off_t>((first + done) * 8));
        if (got != static_cast<ssize_t>(n * 8)) {
            written = true;
            break;
        }
        for (uint64_t i = 0; i < n; ++i) {
            const uint64_t e = entries[i];
            if ((e & kSwapped) != 0 || ((e & kPresent) != 0 && (e & kFilePage) == 0)) {
                written = true;
                break;
            }
        }
        done += n;
    }
    ::close(fd);
    return written;
}

// ---- crash reporting ----------------------------------------------------------------------------------------

inline void write_text(const char* text) {
    size_t n = std::strlen(text);
    while (n > 0) {
        const ssize_t done = ::write(2, text, n);
        if (done <= 0) {
            return;
        }
        text += done;
        n -= static_cast<size_t>(done);
    }
}

inline void write_number(long value) {
    char digits[24];
    int n = 0;
    bool negative = value < 0;
    unsigned long magnitude = negative ? static_cast<unsigned long>(-(value + 1)) + 1 : static_cast<unsigned long>(value);
    do {
        digits[n++] = static_cast<char>('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0 && n < 22);
    if (negative) {
        digits[n++] = '-';
    }
    char text[24];
    for (int i = 0; i < n; ++i) {
        text[i] = digits[n - 1 - i];
    }
    text[n] = '\0';
    write_text(text);
}

/// The tiling bytes end where a page the kernel may not touch begins: a read past them (a tiling struct longer
/// than what the launch supplied, e.g. a manifest whose `tiling` list is short) faults there and is named.
inline const uint8_t* g_tiling_end = nullptr;
inline uint64_t g_tiling_len = 0;
constexpr uint64_t kPage = 4096;

/// Whether a core is already reporting a fatal signal.
inline std::atomic<bool> g_dying{false};

inline void on_fatal_signal(int signal_number, siginfo_t* info, void*) {
    // Only async-signal-safe calls: name the core, then die of the same signal. Cores faulting at once
    // (several read past the tiling) wait here, so that the first one's message is written whole.
    if (g_dying.exchange(true)) {
        for (;;) {
            ::pause();
        }
    }
    const uint8_t* address = info != nullptr ? static_cast<const uint8_t*>(info->si_addr) : nullptr;
    if (signal_number == SIGSEGV && g_tiling_end != nullptr && address >= g_tiling_end &&
        address < g_tiling_end + kPage) {
        write_text("moge-emu: core ");
        write_number(t_core_index);
        if (t_core_index >= 0 && static_cast<size_t>(t_core_index) < g_core_labels.size()) {
            write_text(" (");
            write_text(g_core_labels[t_core_index].c_str());
            write_text(")");
        }
        write_text(" read tiling byte ");
        write_number(static_cast<long>(g_tiling_len + static_cast<uint64_t>(address - g_tiling_end)));
        write_text(", past the ");
        write_number(static_cast<long>(g_tiling_len));
        write_text(" tiling bytes of the launch: the kernel's tiling struct is longer than the tiling it was "
                   "given (does the manifest's `tiling` list every field of the struct?)\n");
    }
    write_text("moge-emu: core ");
    write_number(t_core_index);
    write_text(" received signal ");
    write_number(signal_number);
    write_text("\n");
    ::signal(signal_number, SIG_DFL);
    ::raise(signal_number);
}

/// Maps `len` tiling bytes so that they end where a PROT_NONE page begins (null when the host cannot).
inline uint8_t* allocate_tiling(uint64_t len) {
    const uint64_t data_pages = (len + kPage - 1) / kPage;
    const uint64_t size = (data_pages + 1) * kPage;
    void* memory = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) {
        return nullptr;
    }
    uint8_t* guard = static_cast<uint8_t*>(memory) + data_pages * kPage;
    if (::mprotect(guard, kPage, PROT_NONE) != 0) {
        return nullptr;
    }
    g_tiling_end = guard;
    g_tiling_len = len;
    return guard - len;
}

inline void install_crash_handlers() {
    struct sigaction action;
    std::memset(&action, 0, sizeof(action));
    action.sa_sigaction = on_fatal_signal;
    action.sa_flags = SA_ONSTACK | SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    for (int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
        sigaction(signal_number, &action, nullptr);
    }
}

}  // namespace launcher_io
}  // namespace moge_emu

#endif  // MOGE_EMU_LAUNCHER_IO_H
