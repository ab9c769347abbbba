
std::vector<char> ReadFile(const std::string& path, int64_t expected)
{
    std::ifstream file(path, std::ios::binary | std::ios::ate);
    if (!file) Fail("cannot read `" + path + "` (run scripts/gen_data.py first)");
    int64_t size = static_cast<int64_t>(file.tellg());
    if (size != expected) {
        Fail("`" + path + "` has " + std::to_string(size) + " bytes, expected " + std::to_string(expected) +
             " for the dims given (run scripts/gen_data.py with the same NAME=VALUE arguments)");
    }
    std::vector<char> data(static_cast<size_t>(size));
    file.seekg(0);
    file.read(data.data(), size);
    return data;
}

void WriteFile(const std::string& path, const std::vector<char>& data)
{
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    if (!file) Fail("cannot write `" + path + "` (does the directory `output` exist?)");
    file.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!file) Fail("cannot write `" + path + "`");
}

void PrintPlan(const Dims& dims, const std::vector<Tensor>& tensors, const std::vector<Kernel>& kernels,
               int64_t workspace)
{
    (void)dims;
    std::printf("program %s\n", kProgram);
    for (const Tensor& t : tensors) {
        std::printf("tensor %s %s [", t.name.c_str(), t.dtype.c_str());
        for (size_t i = 0; i < t.shape.size(); ++i) {
            std::printf("%s%" PRId64, i == 0 ? "" : ", ", t.shape[i]);
        }
        std::printf("] %" PRId64 " bytes\n", t.Bytes());
    }
    std::printf("workspace %" PRId64 " bytes\n", workspace);
    for (const Kernel& k : kernels) {
        std::printf("kernel %s %s block_dim %" PRId64 " workspace %" PRId64, k.name.c_str(),
                    k.core_type.c_str(), k.block_dim, k.workspace_bytes);
        for (const auto& field : k.tiling) {
            std::printf(" %s=%" PRId64, field.first.c_str(), field.second);
        }
        std::printf("\n");
    }
}

} // namespace

int main(int argc, char** argv)
{
    Dims dims;
    std::string binary = kDefaultBinary;
    int32_t device = 0;
    bool plan_only = false;
    std::vector<std::string> given;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--plan") {
            plan_only = true;
        } else if (arg == "--binary" || arg == "--device") {
            if (i + 1 == argc) Fail(arg + " needs a value");
            std::string value = argv[++i];
            if (arg == "--binary") {
                binary = value;
            } else {
                char* end = nullptr;
                long n = std::strtol(value.c_str(), &end, 10);
                if (value.empty() || *end != '\0' || n < 0 || n > 1024) Fail("--device takes a device id, got `" + value + "`");
                device = static_cast<int32_t>(n);
            }
        } else if (arg.find('=') != std::string::npos) {
            std::string name = arg.substr(0, arg.find('='));
            std::string value = arg.substr(arg.find('=') + 1);
            // Digits only, as the scripts take them (strtoll alone would accept `+5`, ` 5`, and
            // clamp an out-of-range value to the largest one).
            errno = 0;
            long long n = std::strtoll(value.c_str(), nullptr, 10);
            if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos || errno == ERANGE) {
                Fail("`" + arg + "`: a dim takes a value of 0 or more");
            }
            if (!SetDim(dims, name, static_cast<int64_t>(n))) {
                Fail("`" + name + "` is not a dynamic dim of " + kProgram + " (its dynamic dims: " + kDynamicDims + ")");
            }
            // A dim given twice would silently take the last value; the scripts refuse it too.
            for (const std::string& earlier : given) {
                if (earlier == name) Fail("`" + name + "` is given twice");
            }
            given.push_back(name);
        } else {
            Fail("unknown argument `" + arg + "`; usage: main [NAME=VALUE ...] [--binary PATH] [--device N] [--plan]");
        }
    }
    std::vector<Tensor> tensors = MakeTensors(dims);
    std::vector<Kernel> kernels = MakeKernels(dims, tensors);
    int64_t workspace = WorkspaceBytes(dims);
    if (plan_only) {
        PrintPlan(dims, tensors, kernels, workspace);
        return 0;
    }

    CHECK_ACL(aclInit(nullptr));
    CHECK_ACL(aclrtSetDevice(device));
    aclrtStream stream = nullptr;
    CHECK_ACL(aclrtCreateStream(&stream));
    aclrtBinHandle bin = nullptr;
    CHECK_ACL(aclrtBinaryLoadFromFile(binary.c_str(), nullptr, &bin));

    // Device memory: every tensor (an empty one gets no allocation and passes a null pointer), the
    // workspace, and one tiling blob per kernel.
    for (Tensor& t : tensors) {
        int64_t bytes = t.Bytes();
        if (bytes == 0) continue;
        CHECK_ACL(aclrtMalloc(&t.device, static_cast<size_t>(bytes), ACL_MEM_MALLOC_HUGE_FIRST));
        if (t.role != Role::kInput) {
            // Outputs and the buffers between kernels start as 0xFF bytes (NaN), as in moge's runtime:
            // an element no kernel writes fails verify_result.py instead of passing as a stale value.
            CHECK_ACL(aclrtMemset(t.device, static_cast<size_t>(bytes), 0xFF, static_cast<size_t>(bytes)));
        } else {
            std::vector<char> host = ReadFile("input/" + t.name + ".bin", bytes);
            CHECK_ACL(aclrtMemcpy(t.device, static_cast<size_t>(bytes), host.data(), static_cast<size_t>(bytes),
                                  ACL_MEMCPY_HOST_TO_DEVICE));
        }
    }
    void* workspace_device = nullptr;
    if (workspace > 0) {
        CHECK_ACL(aclrtMalloc(&workspace_device, static_cast<size_t>(workspace), ACL_MEM_MALLOC_HUGE_FIRST));
    }
    std::vector<void*> tiling_device(kernels.size(), nullptr);
    std::vector<aclrtFuncHandle> functions(kernels.size(), nullptr);
    for (size_t i = 0; i < kernels.size(); ++i) {
        const Kernel& k = kernels[i];
        // The tiling struct: every field an int64_t, in order (at least 8 bytes so that the pointer
        // is never to an empty allocation).
        std::vector<int64_t> blob;
        for (const auto& field : k.tiling) blob.push_back(field.second);
        if (blob.empty()) blob.push_back(0);
        size_t blob_bytes = blob.size() * sizeof(int64_t);
        CHECK_ACL(aclrtMalloc(&tiling_device[i], blob_bytes, ACL_MEM_MALLOC_HUGE_FIRST));
        CHECK_ACL(aclrtMemcpy(tiling_device[i], blob_bytes, blob.data(), blob_bytes, ACL_MEMCPY_HOST_TO_DEVICE));
        CHECK_ACL(aclrtBinaryGetFunction(bin, k.name.c_str(), &functions[i]));
    }

    aclrtEvent start = nullptr;
    aclrtEvent end = nullptr;
    CHECK_ACL(aclrtCreateEvent(&start));
    CHECK_ACL(aclrtCreateEvent(&end));
    CHECK_ACL(aclrtRecordEvent(start, stream));
    for (size_t i = 0; i < kernels.size(); ++i) {
        const Kernel& k = kernels[i];
        if (k.block_dim == 0) continue;
        if (k.workspace_bytes > 0) {
            CHECK_ACL(aclrtMemsetAsync(workspace_device, static_cast<size_t>(workspace), 0,
                                       static_cast<size_t>(k.workspace_bytes), stream));
        }
        // One device pointer per parameter of the entry point: the GM arguments, the workspace
        // (null when empty) and the tiling. The runtime adds its own slots (FFTS, overflow).
        std::vector<void*> params;
        for (size_t t : k.args) params.push_back(tensors[t].device);
        params.push_back(k.workspace_bytes > 0 ? workspace_device : nullptr);
        params.push_back(tiling_device[i]);
        aclrtArgsHandle args = nullptr;
        CHECK_ACL(aclrtKernelArgsInit(functions[i], &args));
        for (void*& p : params) {
            aclrtParamHandle param = nullptr;
            CHECK_ACL(aclrtKernelArgsAppend(args, &p, sizeof(p), &param));
        }
        CHECK_ACL(aclrtKernelArgsFinalize(args));
        CHECK_ACL(aclrtLaunchKernelWithConfig(functions[i], static_cast<uint32_t>(k.block_dim), stream, nullptr,
                                              args, nullptr));
    }
    CHECK_ACL(aclrtRecordEvent(end, stream));
    CHECK_ACL(aclrtSynchronizeStreamWithTimeout(stream, SyncTimeoutMs()));
    float ms = 0.0f;
    CHECK_ACL(aclrtEventElapsedTime(&ms, start, end));
    std::printf("%s: %zu kernels in %.3f ms on the device\n", kProgram, kernels.size(), static_cast<double>(ms));

    for (Tensor& t : tensors) {
        if (t.role != Role::kOutput) continue;
        int64_t bytes = t.Bytes();
        std::vector<char> host(static_cast<size_t>(bytes));
        if (bytes > 0) {
            CHECK_ACL(aclrtMemcpy(host.data(), static_cast<size_t>(bytes), t.device, static_cast<size_t>(bytes),
                                  ACL_MEMCPY_DEVICE_TO_HOST));
        }
        WriteFile("output/" + t.name + ".bin", host);
    }

    for (Tensor& t : tensors) {
        if (t.device != nullptr) CHECK_ACL(aclrtFree(t.device));
    }
    for (void* p : tiling_device) {
        if (p != nullptr) CHECK_ACL(aclrtFree(p));
    }
    if (workspace_device != nullptr) CHECK_ACL(aclrtFree(workspace_device));
    CHECK_ACL(aclrtDestroyEvent(start));
    CHECK_ACL(aclrtDestroyEvent(end));
    CHECK_ACL(aclrtBinaryUnLoad(bin));
    CHECK_ACL(aclrtDestroyStream(stream));
    CHECK_ACL(aclrtResetDevice(device));
    CHECK_ACL(aclFinalize());
    return 0;
}
