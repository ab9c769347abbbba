//! Host overhead of a cached launch on the ACL backend.
//!
//! Run it with `cargo bench -p moge-runtime --bench acl_launch` (`-- 5000` for 5000 launches). It
//! builds a fake CANN tree and a fake libascendcl (`moge_runtime::acl::fake`: device memory is host
//! memory, a launch records its arguments and runs nothing), compiles one kernel once (the cache), and
//! then times `AclBackend::launch` of that kernel: finding the compiled binary, checking the arguments
//! against the kernel's parameters, allocating and copying the buffers, packing the arguments,
//! launching, synchronising, timing with events and copying back. Since the fake's ACL calls cost next
//! to nothing (besides the host memcpy standing in for the copies), the time is moge's host overhead
//! around the ACL calls. Target: at most 1 ms per launch.
//!
//! The kernel's source is about 40 KB (the size of the FFN's largest device kernel) and it has the
//! gate's argument shape at T = 4096 (a 4096 x 64 f32 input, a 64-element input, two 4096 x 8
//! outputs) plus a 64-byte tiling blob and a 1 MB workspace.

use std::time::{Duration, Instant};

use moge_codegen_ascendc::manifest::CoreType;
use moge_runtime::acl::fake::FakeCann;
use moge_runtime::acl::find::Cann;
use moge_runtime::backend::{AclBackend, Backend, DeviceArg, DeviceLaunch, KernelSource};

const DEFAULT_LAUNCHES: usize = 2000;

fn main() {
    let launches = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(DEFAULT_LAUNCHES);
    let fake = FakeCann::new("8.5.0", &["Ascend910B2"]).expect("a fake CANN tree");
    let cann = Cann::open_checked(&fake.root(), true).expect("the fake tree opens");
    let library = fake
        .library(&[], false)
        .expect("the fake libascendcl compiles");
    let backend = AclBackend::with_cann(cann)
        .with_cache_dir(fake.scratch("cache"))
        .with_library(library.clone());
    // SAFETY: the fake library built above; `fake_acl_memory_ns` is `uint64_t (void)`.
    let hooks = unsafe { libloading::Library::new(&library) }.expect("the fake library loads");
    let memory_ns: libloading::Symbol<'_, unsafe extern "C" fn() -> u64> =
        unsafe { hooks.get(b"fake_acl_memory_ns") }.expect("the fake's hook");

    let mut source = String::from("#include \"kernel_operator.h\"\n");
    while source.len() < 40_000 {
        source
            .push_str("// padding standing in for the kernel's body, helpers and tiling struct\n");
    }
    source.push_str(
        "extern \"C\" __global__ __aicore__ void bench_k0(GM_ADDR logits, GM_ADDR router_scale, \
         GM_ADDR weight, GM_ADDR expert, GM_ADDR workspace, GM_ADDR tiling)\n{\n}\n",
    );
    let kernel = KernelSource {
        name: "bench_k0",
        source: &source,
        core_type: CoreType::Aiv,
        target: "ascend910b2",
    };
    let started = Instant::now();
    backend.prepare(&kernel).expect("the kernel compiles");
    println!(
        "first prepare (fake bisheng + ld.lld, then cached): {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let args = vec![
        arg("logits", 4096 * 64 * 4, false),
        arg("router_scale", 64 * 4, false),
        arg("weight", 4096 * 8 * 4, true),
        arg("expert", 4096 * 8 * 4, true),
    ];
    let copy_bytes: usize = args.iter().map(|a| a.bytes.len()).sum();
    let mut times = Vec::with_capacity(launches);
    let mut overheads = Vec::with_capacity(launches);
    for i in 0..launches + 10 {
        let launch = DeviceLaunch {
            kernel,
            block_dim: 24,
            args: args.clone(),
            workspace_bytes: 1 << 20,
            tiling: vec![7; 64],
        };
        // SAFETY: the hook reads a counter of the fake library.
        let before = unsafe { memory_ns() };
        let started = Instant::now();
        let run = backend.launch(launch).expect("the launch runs");
        let elapsed = started.elapsed();
        let in_memory_calls = Duration::from_nanos(unsafe { memory_ns() } - before);
        std::hint::black_box(run);
        if i >= 10 {
            times.push(elapsed);
            overheads.push(elapsed.saturating_sub(in_memory_calls));
        }
    }
    times.sort();
    overheads.sort();
    let memcpy = time_memcpy(copy_bytes);
    println!(
        "cached launch, whole call: median {:.1} us, p99 {:.1} us over {launches} launches",
        micros(times[times.len() / 2]),
        micros(times[times.len() * 99 / 100]),
    );
    println!(
        "cached launch, moge's host overhead (the call minus the time inside the fake's malloc, \
         memcpy, memset and free): median {:.1} us, p99 {:.1} us",
        micros(overheads[overheads.len() / 2]),
        micros(overheads[overheads.len() * 99 / 100]),
    );
    println!(
        "({} KB of arguments; a plain host memcpy of those bytes takes {:.1} us)",
        copy_bytes / 1024,
        micros(memcpy)
    );
}

fn arg(name: &str, bytes: usize, is_output: bool) -> DeviceArg {
    DeviceArg {
        name: name.to_string(),
        bytes: vec![0x3f; bytes],
        is_output,
    }
}

/// The median time of one host memcpy of `bytes` (the part of the fake's "device" copies that a
/// real device replaces by DMA).
fn time_memcpy(bytes: usize) -> Duration {
    let from = vec![1u8; bytes];
    let mut to = vec![0u8; bytes];
    let mut times: Vec<Duration> = (0..200)
        .map(|_| {
            let started = Instant::now();
            to.copy_from_slice(std::hint::black_box(&from));
            std::hint::black_box(&to);
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
