//! The ACL runtime, loaded at run time: one struct of typed function pointers resolved by name from
//! `libascendcl.so` ([`Functions`]), and a [`Session`] (ACL initialised, device set, one stream and
//! two timing events) that launches kernels.
//!
//! moge never links against CANN: the library is opened with `libloading` when the ACL backend is
//! first used, so moge builds and runs on machines without it. Signatures are those of CANN 8.5.0's
//! `acl/acl_rt.h` and `acl/acl.h`; every handle (`aclrtStream`, `aclrtBinHandle`, `aclrtFuncHandle`,
//! `aclrtArgsHandle`, `aclrtEvent`, ...) is an opaque pointer there.

use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::errors::{is_kernel_fault, is_out_of_memory, meaning, AclError};
use super::watch::{watchdog_limit, Watcher};

/// An opaque ACL handle.
pub type Handle = *mut c_void;

type AclInit = unsafe extern "C" fn(*const c_char) -> i32;
pub(super) type IntCall = unsafe extern "C" fn(i32) -> i32;
type CountCall = unsafe extern "C" fn(*mut u32) -> i32;
type StrCall = unsafe extern "C" fn() -> *const c_char;
type CreateCall = unsafe extern "C" fn(*mut Handle) -> i32;
type HandleCall = unsafe extern "C" fn(Handle) -> i32;
pub(super) type SyncTimeout = unsafe extern "C" fn(Handle, i32) -> i32;
type Malloc = unsafe extern "C" fn(*mut Handle, usize, u32) -> i32;
type Memcpy = unsafe extern "C" fn(Handle, usize, *const c_void, usize, u32) -> i32;
type Memset = unsafe extern "C" fn(Handle, usize, i32, usize) -> i32;
type BinaryLoad = unsafe extern "C" fn(*const c_char, *mut c_void, *mut Handle) -> i32;
type GetFunction = unsafe extern "C" fn(Handle, *const c_char, *mut Handle) -> i32;
type ArgsInit = unsafe extern "C" fn(Handle, *mut Handle) -> i32;
type ArgsAppend = unsafe extern "C" fn(Handle, *mut c_void, usize, *mut Handle) -> i32;
type LaunchWithConfig =
    unsafe extern "C" fn(Handle, u32, Handle, *mut c_void, Handle, *mut c_void) -> i32;
type RecordEvent = unsafe extern "C" fn(Handle, Handle) -> i32;
type ElapsedTime = unsafe extern "C" fn(*mut f32, Handle, Handle) -> i32;
type ExceptionCallback = unsafe extern "C" fn(*mut c_void);
type SetExceptionCallback = unsafe extern "C" fn(Option<ExceptionCallback>) -> i32;
type ExceptionGetter = unsafe extern "C" fn(*const c_void) -> u32;

/// `ACL_MEM_MALLOC_HUGE_FIRST` (`aclrtMemMallocPolicy`).
const MALLOC_HUGE_FIRST: u32 = 0;
/// `ACL_MEMCPY_HOST_TO_DEVICE`.
const HOST_TO_DEVICE: u32 = 1;
/// `ACL_MEMCPY_DEVICE_TO_HOST`.
const DEVICE_TO_HOST: u32 = 2;
/// `ACL_ERROR_REPEAT_INITIALIZE`: aclInit already ran in this process.
const REPEAT_INITIALIZE: i32 = 100002;
/// `ACL_ERROR_RT_NO_DEVICE`.
const NO_DEVICE: i32 = 207004;
/// `ACL_ERROR_RT_STREAM_SYNC_TIMEOUT`.
const STREAM_SYNC_TIMEOUT: i32 = 507046;

/// The functions moge calls, resolved by name; a missing one is an error naming it.
pub struct Functions {
    init: AclInit,
    set_device: IntCall,
    get_device_count: CountCall,
    get_recent_err_msg: StrCall,
    create_stream: CreateCall,
    synchronize_stream_with_timeout: SyncTimeout,
    malloc: Malloc,
    free: HandleCall,
    memcpy: Memcpy,
    memset: Memset,
    binary_load_from_file: BinaryLoad,
    binary_get_function: GetFunction,
    kernel_args_init: ArgsInit,
    kernel_args_append: ArgsAppend,
    kernel_args_finalize: HandleCall,
    launch_kernel_with_config: LaunchWithConfig,
    create_event: CreateCall,
    record_event: RecordEvent,
    event_elapsed_time: ElapsedTime,
    /// Optional: `aclrtGetSocName` (the device check is skipped without it).
    get_soc_name: Option<StrCall>,
    /// Optional: `aclrtSetExceptionInfoCallback` and the four getters of the exception info.
    exceptions: Option<(SetExceptionCallback, [ExceptionGetter; 4])>,
}

/// Every function [`Functions`] requires, in the order they are resolved.
pub const REQUIRED: [&str; 19] = [
    "aclInit",
    "aclrtSetDevice",
    "aclrtGetDeviceCount",
    "aclGetRecentErrMsg",
    "aclrtCreateStream",
    "aclrtSynchronizeStreamWithTimeout",
    "aclrtMalloc",
    "aclrtFree",
    "aclrtMemcpy",
    "aclrtMemset",
    "aclrtBinaryLoadFromFile",
    "aclrtBinaryGetFunction",
    "aclrtKernelArgsInit",
    "aclrtKernelArgsAppend",
    "aclrtKernelArgsFinalize",
    "aclrtLaunchKernelWithConfig",
    "aclrtCreateEvent",
    "aclrtRecordEvent",
    "aclrtEventElapsedTime",
];

impl Functions {
    /// Resolves every function from `library` (shown as `shown` in messages).
    fn resolve(library: &libloading::Library, shown: &str) -> Result<Functions, AclError> {
        fn get<T: Copy>(
            library: &libloading::Library,
            shown: &str,
            name: &'static str,
        ) -> Result<T, AclError> {
            // SAFETY: `T` is the function pointer type of `name` in CANN 8.5's headers; the pointer
            // is only called while the library stays loaded (the Session owns it).
            unsafe { library.get::<T>(name.as_bytes()) }
                .map(|symbol| *symbol)
                .map_err(|_| AclError::MissingSymbol {
                    library: shown.to_string(),
                    symbol: name,
                })
        }
        let optional = |name: &'static str| get::<ExceptionGetter>(library, shown, name).ok();
        let getters = [
            optional("aclrtGetDeviceIdFromExceptionInfo"),
            optional("aclrtGetStreamIdFromExceptionInfo"),
            optional("aclrtGetTaskIdFromExceptionInfo"),
            optional("aclrtGetErrorCodeFromExceptionInfo"),
        ];
        let exceptions = match (
            get::<SetExceptionCallback>(library, shown, "aclrtSetExceptionInfoCallback").ok(),
            getters,
        ) {
            (Some(set), [Some(a), Some(b), Some(c), Some(d)]) => Some((set, [a, b, c, d])),
            _ => None,
        };
        Ok(Functions {
            init: get(library, shown, REQUIRED[0])?,
            set_device: get(library, shown, REQUIRED[1])?,
            get_device_count: get(library, shown, REQUIRED[2])?,
            get_recent_err_msg: get(library, shown, REQUIRED[3])?,
            create_stream: get(library, shown, REQUIRED[4])?,
            synchronize_stream_with_timeout: get(library, shown, REQUIRED[5])?,
            malloc: get(library, shown, REQUIRED[6])?,
            free: get(library, shown, REQUIRED[7])?,
            memcpy: get(library, shown, REQUIRED[8])?,
            memset: get(library, shown, REQUIRED[9])?,
            binary_load_from_file: get(library, shown, REQUIRED[10])?,
            binary_get_function: get(library, shown, REQUIRED[11])?,
            kernel_args_init: get(library, shown, REQUIRED[12])?,
            kernel_args_append: get(library, shown, REQUIRED[13])?,
            kernel_args_finalize: get(library, shown, REQUIRED[14])?,
            launch_kernel_with_config: get(library, shown, REQUIRED[15])?,
            create_event: get(library, shown, REQUIRED[16])?,
            record_event: get(library, shown, REQUIRED[17])?,
            event_elapsed_time: get(library, shown, REQUIRED[18])?,
            get_soc_name: get(library, shown, "aclrtGetSocName").ok(),
            exceptions,
        })
    }
}

/// The libraries tried for a CANN root, in order: `libascendcl.so` of the install, then of the
/// runtime package, then by name through the loader's search path (`LD_LIBRARY_PATH`, which
/// `set_env.sh` sets), then `libacl_rt.so` (8.5's runtime package).
pub fn library_candidates(root: &Path) -> Vec<PathBuf> {
    vec![
        root.join("lib64/libascendcl.so"),
        root.join("runtime/lib64/libascendcl.so"),
        PathBuf::from("libascendcl.so"),
        PathBuf::from("libacl_rt.so"),
    ]
}

/// The exception info of the last device fault, recorded by [`on_exception`].
static LAST_EXCEPTION: Mutex<Option<String>> = Mutex::new(None);
/// The getters [`on_exception`] uses (those of the last session that registered it).
static EXCEPTION_GETTERS: Mutex<Option<[ExceptionGetter; 4]>> = Mutex::new(None);

/// ACL's exception callback: records device, stream, task and error code of a fault.
unsafe extern "C" fn on_exception(info: *mut c_void) {
    if info.is_null() {
        return;
    }
    let Ok(getters) = EXCEPTION_GETTERS.lock() else {
        return;
    };
    let Some([device, stream, task, code]) = *getters else {
        return;
    };
    // SAFETY: ACL passes a valid `aclrtExceptionInfo*` for the duration of the callback, and the
    // getters are that library's own.
    let text = unsafe {
        format!(
            "device {}, stream {}, task {}, error code {}",
            device(info),
            stream(info),
            task(info),
            code(info)
        )
    };
    if let Ok(mut last) = LAST_EXCEPTION.lock() {
        *last = Some(text);
    }
}

/// An initialised ACL runtime on one device.
pub struct Session {
    functions: Functions,
    /// The library as shown in messages.
    library: String,
    /// The SoC the device reports (`Ascend910B2`), when the library can say.
    pub soc: Option<String>,
    device: i32,
    state: Mutex<State>,
    /// Kept loaded for as long as the function pointers are used.
    _library: libloading::Library,
}

/// Handles used under the session's lock.
struct State {
    stream: Handle,
    start: Handle,
    end: Handle,
    /// Loaded binaries: ELF path → (binary handle, function handle).
    binaries: HashMap<PathBuf, (Handle, Handle)>,
    /// The thread synchronisations run on, started at the first launch.
    watcher: Option<Watcher>,
}

// SAFETY: ACL handles are plain identifiers usable from any thread once that thread has set the
// device (`Session::enter` does); every use of them goes through the `state` mutex.
unsafe impl Send for Session {}
// SAFETY: as above; `&Session` only reaches the handles through the mutex.
unsafe impl Sync for Session {}

thread_local! {
    /// The sessions (by address) whose device this thread has set.
    static ENTERED: std::cell::RefCell<HashSet<usize>> = std::cell::RefCell::new(HashSet::new());
}

/// One session per library, for the life of the process: ACL is initialised once per process.
static SESSIONS: OnceLock<Mutex<HashMap<PathBuf, Arc<Session>>>> = OnceLock::new();

impl Session {
    /// The session of the first library of `candidates` that loads, opened on first use.
    pub fn for_candidates(candidates: &[PathBuf]) -> Result<Arc<Session>, AclError> {
        let sessions = SESSIONS.get_or_init(|| Mutex::new(HashMap::new()));
        let mut sessions = sessions.lock().unwrap_or_else(|p| p.into_inner());
        let mut failures = Vec::new();
        for candidate in candidates {
            // A path that does not exist is not tried (the loader would say only that), but it is
            // named in the error so the user sees every place looked in; a bare name goes to the
            // loader's search.
            if candidate.components().count() > 1 && !candidate.exists() {
                failures.push(format!("{}: does not exist", candidate.display()));
                continue;
            }
            if let Some(session) = sessions.get(candidate) {
                return Ok(session.clone());
            }
            // SAFETY: loading libascendcl runs its initialisers, which is what using ACL means.
            let library = match unsafe { libloading::Library::new(candidate) } {
                Ok(library) => library,
                Err(error) => {
                    failures.push(format!("{}: {}", candidate.display(), with_causes(&error)));
                    // The install's own library exists but does not load: falling back to another
                    // install's (on the loader's path) would launch with a library the kernels
                    // were not built against.
                    if candidate.components().count() > 1 {
                        break;
                    }
                    continue;
                }
            };
            let session = Arc::new(Session::open(library, &candidate.display().to_string())?);
            sessions.insert(candidate.clone(), session.clone());
            return Ok(session);
        }
        Err(AclError::Library {
            library: candidates
                .iter()
                .map(|c| c.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reason: failures.join("; "),
        })
    }

    /// Resolves the functions, initialises ACL and opens device 0 with a stream and two events.
    fn open(library: libloading::Library, shown: &str) -> Result<Session, AclError> {
        let functions = Functions::resolve(&library, shown)?;
        let f = &functions;
        // SAFETY (every call below): the signatures are CANN 8.5's; out-pointers point at locals.
        let code = unsafe { (f.init)(std::ptr::null()) };
        if code != 0 && code != REPEAT_INITIALIZE {
            return Err(call_error(f, "aclInit", String::new(), code));
        }
        let mut count = 0u32;
        let code = unsafe { (f.get_device_count)(&mut count) };
        if code == NO_DEVICE || (code == 0 && count == 0) {
            return Err(AclError::NoDevice {
                count,
                library: shown.to_string(),
            });
        }
        check(f, "aclrtGetDeviceCount", String::new(), code)?;
        let device = 0;
        check(f, "aclrtSetDevice", " for device 0".into(), unsafe {
            (f.set_device)(device)
        })?;
        let soc = f.get_soc_name.and_then(|get| {
            let name = unsafe { get() };
            (!name.is_null()).then(|| {
                unsafe { CStr::from_ptr(name) }
                    .to_string_lossy()
                    .into_owned()
            })
        });
        let mut stream: Handle = std::ptr::null_mut();
        check(f, "aclrtCreateStream", String::new(), unsafe {
            (f.create_stream)(&mut stream)
        })?;
        let mut start: Handle = std::ptr::null_mut();
        let mut end: Handle = std::ptr::null_mut();
        check(f, "aclrtCreateEvent", String::new(), unsafe {
            (f.create_event)(&mut start)
        })?;
        check(f, "aclrtCreateEvent", String::new(), unsafe {
            (f.create_event)(&mut end)
        })?;
        if let Some((set, getters)) = f.exceptions {
            *EXCEPTION_GETTERS.lock().unwrap_or_else(|p| p.into_inner()) = Some(getters);
            // The exception info only enriches a fault's message: a runtime that refuses the callback
            // still launches, so its code is not an error.
            let _ = unsafe { set(Some(on_exception)) };
        }
        let session = Session {
            functions,
            library: shown.to_string(),
            soc,
            device,
            state: Mutex::new(State {
                stream,
                start,
                end,
                binaries: HashMap::new(),
                watcher: None,
            }),
            _library: library,
        };
        Ok(session)
    }

    /// The library as shown in messages.
    pub fn library(&self) -> &str {
        &self.library
    }

    /// Sets the device on this thread (once per thread: ACL's context is per thread).
    fn enter(&self) -> Result<(), AclError> {
        let key = self as *const Session as usize;
        if ENTERED.with(|e| e.borrow().contains(&key)) {
            return Ok(());
        }
        // SAFETY: CANN 8.5 signature.
        let code = unsafe { (self.functions.set_device)(self.device) };
        check(&self.functions, "aclrtSetDevice", String::new(), code)?;
        ENTERED.with(|e| e.borrow_mut().insert(key));
        Ok(())
    }

    /// Launches `kernel` of ELF `binary` on `block_dim` blocks with the pointer arguments
    /// `appended()` computes from the device buffers: copies `buffers` to the device, runs, waits
    /// at most `timeout`, and copies back the buffers marked so. Returns those buffers (`None` for
    /// the others) and the device time between the two events around the launch.
    pub fn run(&self, job: Job<'_>) -> Result<(CopiedBack, std::time::Duration), AclError> {
        let f = &self.functions;
        let kernel = job.kernel;
        let for_kernel = format!(" for kernel `{kernel}`");
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        self.enter()?;
        let (_, function) = match state.binaries.get(job.binary) {
            Some(&handles) => handles,
            None => {
                let handles = self.load(job.binary, kernel)?;
                state.binaries.insert(job.binary.to_path_buf(), handles);
                handles
            }
        };
        let mut memory = DeviceMemory {
            functions: f,
            pointers: Vec::new(),
        };
        let addresses = upload(f, &mut memory, job.buffers, &for_kernel, kernel)?;
        let values = (job.appended)(&addresses);
        let mut args: Handle = std::ptr::null_mut();
        // SAFETY (the calls below): CANN 8.5 signatures; `value` lives across the Append call,
        // which copies it into the handle's buffer.
        check(f, "aclrtKernelArgsInit", for_kernel.clone(), unsafe {
            (f.kernel_args_init)(function, &mut args)
        })?;
        for mut value in values {
            let mut param: Handle = std::ptr::null_mut();
            check(f, "aclrtKernelArgsAppend", for_kernel.clone(), unsafe {
                (f.kernel_args_append)(args, (&mut value as *mut u64).cast(), 8, &mut param)
            })?;
        }
        check(f, "aclrtKernelArgsFinalize", for_kernel.clone(), unsafe {
            (f.kernel_args_finalize)(args)
        })?;
        check(f, "aclrtRecordEvent", for_kernel.clone(), unsafe {
            (f.record_event)(state.start, state.stream)
        })?;
        let code = unsafe {
            (f.launch_kernel_with_config)(
                function,
                job.block_dim,
                state.stream,
                std::ptr::null_mut(),
                args,
                std::ptr::null_mut(),
            )
        };
        self.kernel_check(kernel, "aclrtLaunchKernelWithConfig", code, job.timeout)?;
        check(f, "aclrtRecordEvent", for_kernel.clone(), unsafe {
            (f.record_event)(state.end, state.stream)
        })?;
        let Some(code) = self.synchronize_watched(&mut state, job.timeout) else {
            // The device may still be writing these buffers: freeing them could hand memory the
            // kernel writes to the next allocation, so they are left allocated.
            std::mem::forget(memory);
            return Err(AclError::Hung {
                kernel: kernel.to_string(),
                limit: format_limit(job.timeout),
                waited: format_limit(watchdog_limit(job.timeout)),
            });
        };
        self.kernel_check(
            kernel,
            "aclrtSynchronizeStreamWithTimeout",
            code,
            job.timeout,
        )?;
        let mut elapsed = 0f32;
        check(f, "aclrtEventElapsedTime", for_kernel.clone(), unsafe {
            (f.event_elapsed_time)(&mut elapsed, state.start, state.end)
        })?;
        let results = download(f, job.buffers, &addresses, &for_kernel)?;
        drop(memory);
        let seconds = f64::from(elapsed.max(0.0)) / 1000.0;
        Ok((results, std::time::Duration::from_secs_f64(seconds)))
    }

    /// `aclrtSynchronizeStreamWithTimeout(stream, timeout)` on the session's watcher thread, waited
    /// for at most [`watchdog_limit`]`(timeout)`: its code, or `None` when it did not return by then.
    /// ACL's own limit is not trusted to end the wait (a hung device or driver may never return), so
    /// a hang on the device can never hang moge. A watcher that did not answer is abandoned (still
    /// blocked) and the next launch starts a new one; the watcher is kept between launches because
    /// starting a thread per launch costs more than the rest of moge's host work.
    fn synchronize_watched(&self, state: &mut State, timeout: std::time::Duration) -> Option<i32> {
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // A handle is an opaque identifier: it crosses to the watcher as a number.
        let stream = state.stream as usize;
        if state.watcher.is_none() {
            state.watcher = Watcher::spawn(
                self.functions.synchronize_stream_with_timeout,
                self.functions.set_device,
                self.device,
            );
        }
        let answer = match &state.watcher {
            Some(watcher) => watcher.synchronize(stream, millis, watchdog_limit(timeout)),
            None => Err(std::sync::mpsc::RecvTimeoutError::Disconnected),
        };
        match answer {
            Ok(code) => Some(code),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                state.watcher = None;
                None
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // No watcher could run: wait on this thread (which set the device), trusting ACL's
                // limit.
                state.watcher = None;
                // SAFETY: CANN 8.5 signature.
                Some(unsafe {
                    (self.functions.synchronize_stream_with_timeout)(stream as Handle, millis)
                })
            }
        }
    }

    /// Loads ELF `binary` and finds `kernel` in it.
    fn load(&self, binary: &Path, kernel: &str) -> Result<(Handle, Handle), AclError> {
        let f = &self.functions;
        let path =
            CString::new(binary.to_string_lossy().as_bytes()).map_err(|_| AclError::Launch {
                kernel: kernel.to_string(),
                reason: format!(
                    "the binary's path `{}` contains a NUL byte",
                    binary.display()
                ),
            })?;
        let name = CString::new(kernel).map_err(|_| AclError::Launch {
            kernel: kernel.to_string(),
            reason: "the kernel's name contains a NUL byte".to_string(),
        })?;
        let mut bin: Handle = std::ptr::null_mut();
        // SAFETY: CANN 8.5 signatures; no load options (NULL), as for a binary with meta sections.
        check(
            f,
            "aclrtBinaryLoadFromFile",
            format!(" of `{}`", binary.display()),
            unsafe { (f.binary_load_from_file)(path.as_ptr(), std::ptr::null_mut(), &mut bin) },
        )?;
        let mut function: Handle = std::ptr::null_mut();
        check(
            f,
            "aclrtBinaryGetFunction",
            format!(" for kernel `{kernel}`"),
            unsafe { (f.binary_get_function)(bin, name.as_ptr(), &mut function) },
        )?;
        Ok((bin, function))
    }

    /// Turns the code of a launch or a synchronisation into a fault, timeout or call error.
    fn kernel_check(
        &self,
        kernel: &str,
        call: &'static str,
        code: i32,
        timeout: std::time::Duration,
    ) -> Result<(), AclError> {
        if code == 0 {
            return Ok(());
        }
        let f = &self.functions;
        if code == STREAM_SYNC_TIMEOUT {
            return Err(AclError::Timeout {
                kernel: kernel.to_string(),
                seconds: timeout.as_secs(),
                code,
                meaning: meaning(code),
                detail: recent(f),
            });
        }
        if is_kernel_fault(code) {
            let exception = LAST_EXCEPTION
                .lock()
                .ok()
                .and_then(|mut last| last.take())
                .map(|text| format!("; exception info: {text}"))
                .unwrap_or_default();
            return Err(AclError::KernelFault {
                kernel: kernel.to_string(),
                call,
                code,
                meaning: meaning(code),
                exception,
                detail: recent(f),
            });
        }
        Err(call_error(f, call, format!(" for kernel `{kernel}`"), code))
    }
}

/// `error` with its causes: libloading's own message is only `dlopen failed`, and the loader's
/// `dlerror()` text (which file is bad and why) is its source.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// A limit for messages: whole seconds as `N s`, shorter ones in milliseconds.
fn format_limit(limit: std::time::Duration) -> String {
    if limit.subsec_millis() == 0 {
        format!("{} s", limit.as_secs())
    } else {
        format!("{} ms", limit.as_millis())
    }
}

/// The buffers copied back after a launch, one per buffer (`None` where not copied back).
pub type CopiedBack = Vec<Option<Vec<u8>>>;

/// What a device buffer starts as.
#[derive(Copy, Clone, Debug)]
pub enum Contents<'a> {
    /// A copy of these host bytes.
    Copy(&'a [u8]),
    /// This many zero bytes, written on the device (no host buffer).
    Zeroed(usize),
}

/// One buffer of a launch.
pub struct Buffer<'a> {
    /// Its name for messages (`x`, `workspace`, `tiling`).
    pub name: &'a str,
    /// What it starts as.
    pub contents: Contents<'a>,
    /// Whether an empty buffer is passed as a null pointer instead of allocated.
    pub null_when_empty: bool,
    /// Whether its contents are copied back after the run.
    pub copy_back: bool,
}

impl Buffer<'_> {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self.contents {
            Contents::Copy(bytes) => bytes.len(),
            Contents::Zeroed(len) => len,
        }
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One launch for [`Session::run`].
pub struct Job<'a> {
    /// The kernel's symbol.
    pub kernel: &'a str,
    /// Its ELF.
    pub binary: &'a Path,
    /// Blocks.
    pub block_dim: u32,
    /// The buffers, in the order `appended` expects their addresses.
    pub buffers: &'a [Buffer<'a>],
    /// The values to append (8 bytes each) given the buffers' device addresses.
    pub appended: &'a dyn Fn(&[u64]) -> Vec<u64>,
    /// The longest wait for the kernel.
    pub timeout: std::time::Duration,
}

/// Device buffers freed when dropped (also on every error path).
struct DeviceMemory<'a> {
    functions: &'a Functions,
    pointers: Vec<Handle>,
}

impl DeviceMemory<'_> {
    fn malloc(&mut self, size: usize) -> Result<Handle, i32> {
        let mut pointer: Handle = std::ptr::null_mut();
        // SAFETY: CANN 8.5 signature; the out-pointer is a local.
        let code = unsafe { (self.functions.malloc)(&mut pointer, size, MALLOC_HUGE_FIRST) };
        if code != 0 {
            return Err(code);
        }
        self.pointers.push(pointer);
        Ok(pointer)
    }
}

impl Drop for DeviceMemory<'_> {
    fn drop(&mut self) {
        for pointer in self.pointers.drain(..) {
            // SAFETY: each pointer came from aclrtMalloc and is freed once. A failure to free is
            // not reportable from here and leaves only a device leak.
            let _ = unsafe { (self.functions.free)(pointer) };
        }
    }
}

/// Allocates and fills the device buffer of each of `buffers` (a null address for an empty buffer
/// marked so); returns their addresses.
fn upload(
    f: &Functions,
    memory: &mut DeviceMemory<'_>,
    buffers: &[Buffer<'_>],
    for_kernel: &str,
    kernel: &str,
) -> Result<Vec<u64>, AclError> {
    let mut addresses = Vec::with_capacity(buffers.len());
    for buffer in buffers {
        let bytes = buffer.len();
        if bytes == 0 && buffer.null_when_empty {
            addresses.push(0u64);
            continue;
        }
        // aclrtMalloc refuses 0 bytes; an empty tensor still gets a (tiny) buffer.
        let size = bytes.max(32);
        let pointer = memory.malloc(size).map_err(|code| {
            let detail = recent(f);
            if is_out_of_memory(code) {
                AclError::OutOfMemory {
                    kernel: kernel.to_string(),
                    what: buffer.name.to_string(),
                    bytes: size as u64,
                    code,
                    meaning: meaning(code),
                    detail,
                }
            } else {
                call_error(
                    f,
                    "aclrtMalloc",
                    format!(" of {size} bytes for `{}`{for_kernel}", buffer.name),
                    code,
                )
            }
        })?;
        // SAFETY (both calls): CANN 8.5 signatures; `pointer` holds `size` bytes, `host` `bytes`.
        match buffer.contents {
            Contents::Zeroed(_) => check(
                f,
                "aclrtMemset",
                format!(" of `{}`{for_kernel}", buffer.name),
                unsafe { (f.memset)(pointer, size, 0, size) },
            )?,
            Contents::Copy(host) if !host.is_empty() => check(
                f,
                "aclrtMemcpy",
                format!(" (host to device) of `{}`{for_kernel}", buffer.name),
                unsafe { (f.memcpy)(pointer, size, host.as_ptr().cast(), bytes, HOST_TO_DEVICE) },
            )?,
            Contents::Copy(_) => {}
        }
        addresses.push(pointer as u64);
    }
    Ok(addresses)
}

/// Copies back the buffers marked so.
fn download(
    f: &Functions,
    buffers: &[Buffer<'_>],
    addresses: &[u64],
    for_kernel: &str,
) -> Result<CopiedBack, AclError> {
    let mut results = Vec::with_capacity(buffers.len());
    for (buffer, &address) in buffers.iter().zip(addresses) {
        if !buffer.copy_back {
            results.push(None);
            continue;
        }
        let len = buffer.len();
        let mut bytes = vec![0u8; len];
        if len > 0 {
            check(
                f,
                "aclrtMemcpy",
                format!(" (device to host) of `{}`{for_kernel}", buffer.name),
                unsafe {
                    (f.memcpy)(
                        bytes.as_mut_ptr().cast(),
                        len,
                        address as *const c_void,
                        len,
                        DEVICE_TO_HOST,
                    )
                },
            )?;
        }
        results.push(Some(bytes));
    }
    Ok(results)
}

/// `; ACL says: <aclGetRecentErrMsg>` when ACL has a message, else empty.
fn recent(f: &Functions) -> String {
    // SAFETY: CANN 8.5 signature; the returned string is owned by ACL and copied at once.
    let message = unsafe { (f.get_recent_err_msg)() };
    if message.is_null() {
        return String::new();
    }
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .trim()
        .to_string();
    if text.is_empty() {
        String::new()
    } else {
        format!("; ACL says: {text}")
    }
}

fn call_error(f: &Functions, call: &'static str, context: String, code: i32) -> AclError {
    AclError::Call {
        call,
        context,
        code,
        meaning: meaning(code),
        detail: recent(f),
    }
}

fn check(f: &Functions, call: &'static str, context: String, code: i32) -> Result<(), AclError> {
    if code == 0 {
        Ok(())
    } else {
        Err(call_error(f, call, context, code))
    }
}
