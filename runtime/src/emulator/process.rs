//! Running a compiled kernel in a child process, with a timeout, and turning the outcome into a report or
//! an error.
//!
//! The child runs in a process group of its own. When it exits, or when the time limit is reached, the
//! whole group is killed, so that a descendant the kernel started (a `system("... &")`, a fork) cannot
//! outlive the launch. The child's stdout and stderr are read on threads into shared buffers; after the
//! group is killed the readers get a short grace period and are then abandoned, so a descendant that
//! escaped the group and still holds the pipes cannot keep the caller waiting for an end of file.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::protocol::{read_response, write_request, Response};
use super::scratch::Scratch;
use super::{CompiledKernel, EmuError, GmArg, RawLaunch, RawReport, Violation};

/// Bytes of the child's stderr kept for crash messages.
const STDERR_TAIL: usize = 2000;
/// Bytes of each pipe kept (the rest is read and dropped, so the child never blocks on a full pipe).
const PIPE_KEEP: usize = 4 << 20;
/// How long the pipe readers may take to see the end of file once the process group is gone.
const PIPE_GRACE: Duration = Duration::from_millis(500);

/// What a pipe reader has read so far, and whether it has seen the end of file.
#[derive(Default)]
struct PipeState {
    bytes: Vec<u8>,
    done: bool,
}

/// A pipe read to its end on a thread of its own; [`Pipe::take`] waits for the end only up to a
/// deadline.
struct Pipe {
    state: Arc<(Mutex<PipeState>, Condvar)>,
}

impl Pipe {
    /// Starts reading `pipe` (nothing to read when `None`).
    fn read(pipe: Option<impl Read + Send + 'static>) -> Pipe {
        let state: Arc<(Mutex<PipeState>, Condvar)> = Arc::default();
        let shared = Arc::clone(&state);
        let finish = move || {
            let (lock, ready) = &*shared;
            lock.lock().unwrap_or_else(|p| p.into_inner()).done = true;
            ready.notify_all();
        };
        let Some(mut pipe) = pipe else {
            finish();
            return Pipe { state };
        };
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut state = shared.0.lock().unwrap_or_else(|p| p.into_inner());
                        let room = PIPE_KEEP.saturating_sub(state.bytes.len()).min(n);
                        state.bytes.extend_from_slice(&chunk[..room]);
                    }
                }
            }
            finish();
        });
        Pipe { state }
    }

    /// What was read, after waiting for the end of file up to `grace`.
    fn take(self, grace: Duration) -> Vec<u8> {
        let (lock, ready) = &*self.state;
        let deadline = Instant::now() + grace;
        let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !state.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = ready
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        std::mem::take(&mut state.bytes)
    }
}

/// The process groups of the kernels running now (0 for a free slot), so that an interrupted caller
/// can kill them from a signal handler: atomics and kill(2) are all a handler may use.
static RUNNING: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

/// Records a running kernel's process group; `None` when every slot is taken (the kernel still runs,
/// it just cannot be killed by [`kill_running`]).
fn register(leader: u32) -> Option<&'static AtomicI32> {
    let pgid = i32::try_from(leader).ok()?;
    RUNNING.iter().find(|slot| {
        slot.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    })
}

/// Kills the process group of every kernel running now. Async-signal-safe: meant for the handler
/// of SIGINT / SIGTERM in a program that launches kernels (`mogec` installs one), since a kernel's
/// group does not get the terminal's Ctrl-C.
pub fn kill_running() {
    for slot in &RUNNING {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill(2) is async-signal-safe and involves no memory.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

/// Kills every process of the group led by `leader` (the child, started with `process_group(0)`).
/// The caller has not reaped the leader yet, so its id cannot have been reused.
fn kill_group(leader: u32) {
    let Ok(pgid) = libc::pid_t::try_from(leader) else {
        return;
    };
    // SAFETY: kill(2) with a negative id signals the process group; no memory is involved. An error
    // (ESRCH: the group is already gone) needs no handling.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Whether `child` has exited, without reaping it (so that its process group can still be killed
/// safely).
fn has_exited(child: &Child) -> Result<bool, std::io::Error> {
    let pid: libc::id_t = child.id();
    // SAFETY: waitid(2) writes only into `info`, a zeroed siginfo_t owned by this frame.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, pid, &mut info, flags) != 0 {
            let error = std::io::Error::last_os_error();
            // A signal handled meanwhile is no news about the child: ask again later.
            if error.kind() == std::io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(error);
        }
        Ok(info.si_pid() != 0)
    }
}

/// Waits for the child up to `limit`, then kills its whole process group (whatever the kernel left
/// running), forgets it in `slot` (before reaping, after which its id may be reused) and reaps it.
/// `None` when it was killed for running too long.
fn wait_with_timeout(
    child: &mut Child,
    limit: Duration,
    slot: Option<&AtomicI32>,
) -> Result<Option<ExitStatus>, EmuError> {
    wait_noting(child, limit, slot, Duration::MAX, |_| {})
        .map_err(|e| EmuError::io("waiting for the kernel process", e))
}

/// [`wait_with_timeout`] calling `progress` with the time elapsed after `first_note`, twice that,
/// four times...; an I/O error as it is.
fn wait_noting(
    child: &mut Child,
    limit: Duration,
    slot: Option<&AtomicI32>,
    first_note: Duration,
    mut progress: impl FnMut(Duration),
) -> Result<Option<ExitStatus>, std::io::Error> {
    let forget = || {
        if let Some(slot) = slot {
            slot.store(0, Ordering::SeqCst);
        }
    };
    let started = Instant::now();
    let mut next_note = first_note;
    let mut pause = Duration::from_millis(1);
    let exited = loop {
        match has_exited(child) {
            Ok(true) => break true,
            Ok(false) => {}
            Err(error) => {
                kill_group(child.id());
                forget();
                let _ = child.wait();
                return Err(error);
            }
        }
        let elapsed = started.elapsed();
        if elapsed >= limit {
            break false;
        }
        if elapsed >= next_note {
            progress(elapsed);
            next_note = next_note.saturating_mul(2);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    kill_group(child.id());
    forget();
    let status = child.wait()?;
    Ok(exited.then_some(status))
}

fn signal_of(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.len() <= STDERR_TAIL {
        return text.to_string();
    }
    let mut start = text.len() - STDERR_TAIL;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

/// How long a tool (the C++ compiler) runs before [`run_tool`] first reports progress (then again
/// each time the time elapsed doubles).
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Runs `command` (a tool such as the C++ compiler; stdout is dropped) in a process group of its
/// own, killed with its descendants after `limit`, calling `progress` with the time elapsed after
/// [`PROGRESS_EVERY`], twice that, four times... Returns the exit status and stderr, or `None` when it was killed for running
/// too long; an error when it could not be started.
pub(crate) fn run_tool(
    command: Command,
    limit: Duration,
    progress: impl FnMut(Duration),
) -> Result<Option<(ExitStatus, Vec<u8>)>, std::io::Error> {
    run_tool_noting(command, limit, PROGRESS_EVERY, progress)
}

/// [`run_tool`] with the first progress note after `first_note`.
fn run_tool_noting(
    mut command: Command,
    limit: Duration,
    first_note: Duration,
    progress: impl FnMut(Duration),
) -> Result<Option<(ExitStatus, Vec<u8>)>, std::io::Error> {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn()?;
    let slot = register(child.id());
    let stderr = Pipe::read(child.stderr.take());
    // Whatever the tool left running (a daemon holding its pipes) goes with it.
    let status = wait_noting(&mut child, limit, slot, first_note, progress)?;
    let stderr = stderr.take(PIPE_GRACE);
    Ok(status.map(|status| (status, stderr)))
}

/// Runs `compiled` on `launch` in a child process, killed with its descendants after `limit`; with
/// `echo`, the child's stdout and stderr are copied to this process's stderr.
pub(super) fn run(
    compiled: &CompiledKernel,
    launch: RawLaunch<'_>,
    limit: Duration,
    echo: bool,
) -> Result<RawReport, EmuError> {
    let kernel = launch.kernel.to_string();
    let core_type = launch.core_type;
    let scratch = Scratch::new()?;
    let request_path = scratch.dir.join("request.bin");
    let response_path = scratch.dir.join("response.bin");
    // Streamed from the arguments' own bytes: a request of gigabytes is never built in memory.
    fs::File::create(&request_path)
        .and_then(|file| write_request(std::io::BufWriter::with_capacity(1 << 20, file), &launch))
        .map_err(|e| EmuError::io(format!("writing {}", request_path.display()), e))?;

    let mut command = Command::new(compiled.path());
    command
        .arg(&request_path)
        .arg(&response_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so that the timeout can kill the kernel with everything it started.
        .process_group(0);
    // Out of the caller's group, the child no longer gets the terminal's Ctrl-C: have the kernel
    // killed when the thread that launched it dies (this thread waits for it, so that is when the
    // caller itself is gone).
    // SAFETY: the closure runs in the child between fork and exec and calls only prctl(2), which
    // is async-signal-safe; it touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| EmuError::io(format!("starting {}", compiled.path().display()), e))?;
    let slot = register(child.id());
    let stdout = Pipe::read(child.stdout.take());
    let stderr = Pipe::read(child.stderr.take());
    let status = wait_with_timeout(&mut child, limit, slot)?;
    let stdout = stdout.take(PIPE_GRACE);
    let stderr = stderr.take(PIPE_GRACE);
    if echo {
        eprint!(
            "{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    }
    let Some(status) = status else {
        return Err(EmuError::Timeout {
            kernel,
            seconds: limit.as_secs(),
        });
    };
    if let Some(signal) = signal_of(&status) {
        return Err(EmuError::Crash {
            kernel,
            signal,
            detail: tail(&stderr),
        });
    }
    if !status.success() {
        return Err(EmuError::Launcher {
            message: format!(
                "kernel `{kernel}`: the process exited with {status}: {}",
                tail(&stderr)
            ),
        });
    }
    let data = match fs::File::open(&response_path) {
        Ok(file) => std::io::BufReader::with_capacity(1 << 20, file),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(EmuError::Launcher {
                message: format!(
                    "kernel `{kernel}`: the process exited without a response (did the kernel call exit()?): {}",
                    tail(&stderr)
                ),
            });
        }
        Err(error) => {
            return Err(EmuError::io(
                format!("reading {}", response_path.display()),
                error,
            ))
        }
    };
    let response = read_response(data).map_err(|message| EmuError::Launcher { message })?;
    match response {
        Response::KernelNotFound => Err(EmuError::KernelNotFound { kernel }),
        Response::BadRequest(message) => Err(EmuError::InvalidLaunch { kernel, message }),
        Response::Ran {
            gm_read,
            gm_written,
            ub_high,
            wall,
            total_violations,
            violations,
            cores,
            args,
            trace,
        } => {
            if total_violations > 0 {
                let violations = violations
                    .into_iter()
                    .map(|v| Violation {
                        kernel: kernel.clone(),
                        core: v.core,
                        core_label: v.label,
                        call: v.call,
                        message: v.message,
                    })
                    .collect();
                return Err(EmuError::Violation {
                    violations,
                    total: total_violations,
                });
            }
            if args.len() != launch.args.len() {
                return Err(EmuError::Launcher {
                    message: format!(
                        "the response has {} arguments, the launch {}",
                        args.len(),
                        launch.args.len()
                    ),
                });
            }
            let mut returned = Vec::with_capacity(args.len());
            for (arg, bytes) in launch.args.into_iter().zip(args) {
                // An input the kernel did not write keeps the bytes it was launched with.
                let bytes = match bytes {
                    Some(bytes) => bytes,
                    None if !arg.is_output => arg.bytes,
                    None => {
                        return Err(EmuError::Launcher {
                            message: format!(
                                "the response does not send back output `{}`",
                                arg.name
                            ),
                        })
                    }
                };
                returned.push(GmArg {
                    name: arg.name,
                    bytes,
                    is_output: arg.is_output,
                });
            }
            let args = returned;
            // The trace's cores are the response's, in the same order.
            let trace = trace.map(|mut trace| {
                trace.kind = match core_type {
                    super::CoreType::Aiv => crate::model::trace::LaunchKind::Aiv,
                    super::CoreType::Aic => crate::model::trace::LaunchKind::Aic,
                    super::CoreType::MixAic1_2 => crate::model::trace::LaunchKind::Mix,
                };
                for (core, stats) in trace.cores.iter_mut().zip(&cores) {
                    core.label = stats.label.clone();
                }
                trace
            });
            Ok(RawReport {
                args,
                gm_bytes_read: gm_read,
                gm_bytes_written: gm_written,
                ub_high_water: ub_high,
                wall,
                cores,
                trace,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Taken by the tests that start process groups: `kill_running` kills every registered group,
    /// tools included, so they must not overlap.
    static GROUPS: Mutex<()> = Mutex::new(());

    #[test]
    fn a_slow_tool_notes_its_progress_and_one_over_its_limit_is_killed_with_its_group() {
        let _serial = GROUPS.lock().unwrap_or_else(|p| p.into_inner());
        // Notes at 0.1, 0.2, 0.4 s of a 0.7 s tool, each time at or after its due time.
        let mut command = Command::new("sh");
        command.args(["-c", "echo warning >&2; sleep 0.7"]);
        let mut notes = Vec::new();
        let done = run_tool_noting(
            command,
            Duration::from_secs(30),
            Duration::from_millis(100),
            |t| notes.push(t),
        )
        .expect("sh runs");
        let (status, stderr) = done.expect("finished within its limit");
        assert!(status.success());
        assert_eq!(stderr, b"warning\n");
        // (A fourth, at 0.8 s, only if the machine is slow to run the tool.)
        assert!((3..=4).contains(&notes.len()), "{notes:?}");
        for (note, due) in notes.iter().zip([100, 200, 400]) {
            assert!(*note >= Duration::from_millis(due), "{notes:?}");
        }
        // A tool (and a child of its own holding its stderr) past its limit: killed, not waited for.
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 60 & sleep 60"]);
        let started = Instant::now();
        let done = run_tool(command, Duration::from_millis(300), |_| {}).expect("sh runs");
        assert!(done.is_none());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    /// A kernel that starts a background `sleep` holding its pipes, then never returns.
    const HANGS: &str = r#"
#include "kernel_operator.h"
#include <cstdlib>
#include <unistd.h>
extern "C" __global__ __aicore__ void hangs(GM_ADDR x, GM_ADDR workspace, GM_ADDR tiling) {
    (void)x, (void)workspace, (void)tiling;
    if (std::system("sleep 30 &") != 0) std::abort();
    for (;;) pause();
}
"#;

    // The only test of this crate's library that launches kernels: `kill_running` kills every
    // kernel of the process, so it must not share the process with other launches.
    #[test]
    fn running_kernels_are_killed_with_their_descendants_from_outside() {
        let _serial = GROUPS.lock().unwrap_or_else(|p| p.into_inner());
        let compiled = super::super::compile(HANGS).expect("the kernel compiles");
        let launch = std::thread::spawn(move || {
            let started = Instant::now();
            let result = run(
                &compiled,
                RawLaunch {
                    source: HANGS,
                    kernel: "hangs",
                    block_dim: 1,
                    core_type: super::super::CoreType::Aiv,
                    check: super::super::CheckMode::default(),
                    args: vec![GmArg {
                        name: "x".to_string(),
                        bytes: vec![0; 256],
                        is_output: false,
                    }],
                    workspace_bytes: 0,
                    tiling: Vec::new(),
                },
                Duration::from_secs(60),
                false,
            );
            (result, started.elapsed())
        });
        // What mogec's Ctrl-C handler does, once the kernel is running.
        while RUNNING.iter().all(|slot| slot.load(Ordering::SeqCst) == 0) {
            thread::sleep(Duration::from_millis(10));
        }
        thread::sleep(Duration::from_millis(200));
        kill_running();
        let (result, took) = launch.join().expect("the launching thread");
        let err = result.expect_err("a killed kernel is an error");
        assert!(err.to_string().contains("signal 9"), "{err}");
        // Well before the `sleep 30` the kernel started would close the pipes.
        assert!(took < Duration::from_secs(20), "took {took:?}");
        assert!(RUNNING.iter().all(|slot| slot.load(Ordering::SeqCst) == 0));
    }
}
