// moge CPU emulator: the launcher's byte streams (request and response files) and its crash reporting (a
// fatal signal names the core; a read past the tiling bytes, which end at a guard page, names the byte).
// Included by the launcher only (runtime/emulator/src/launcher.cpp).
#ifndef MOGE_EMU_LAUNCHER_IO_H
#define MOGE_EMU_LAUNCHER_IO_H

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

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

struct Reader {
    const std::vector<uint8_t>& data;
    size_t at = 0;
    bool ok = true;

    bool take(void* out, size_t n) {
        if (!ok || data.size() - at < n) {
            ok = false;
            return false;
        }
        std::memcpy(out, data.data() + at, n);
        at += n;
        return true;
    }
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
        if (!ok || data.size() - at < n) {
            ok = false;
            return std::string();
        }
        std::string s(reinterpret_cast<const char*>(data.data() + at), n);
        at += n;
        return s;
    }
};

struct Writer {
    std::vector<uint8_t> out;

    void bytes(const void* p, size_t n) {
        const uint8_t* b = static_cast<const uint8_t*>(p);
        out.insert(out.end(), b, b + n);
    }
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
};

inline bool read_file(const char* path, std::vector<uint8_t>& data) {
    FILE* file = std::fopen(path, "rb");
    if (file == nullptr) {
        return false;
    }
    uint8_t chunk[1 << 16];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof(chunk), file)) > 0) {
        data.insert(data.end(), chunk, chunk + n);
    }
    const bool ok = std::ferror(file) == 0;
    std::fclose(file);
    return ok;
}

inline bool write_file(const char* path, const std::vector<uint8_t>& data) {
    FILE* file = std::fopen(path, "wb");
    if (file == nullptr) {
        return false;
    }
    const bool ok = std::fwrite(data.data(), 1, data.size(), file) == data.size();
    return std::fclose(file) == 0 && ok;
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
