//! Running a compiled kernel in a child process, with a timeout, and turning the outcome into a report or
//! an error.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::cache::unique_suffix;
use super::protocol::{decode_response, encode_request, Response};
use super::{CompiledKernel, EmuError, GmArg, RawLaunch, RawReport, Violation};

/// Default limit on a kernel run.
const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// Bytes of the child's stderr kept for crash messages.
const STDERR_TAIL: usize = 2000;

/// A per-launch scratch directory, removed on drop.
struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Result<Self, EmuError> {
        let dir = std::env::temp_dir().join(format!("moge-emu-{}", unique_suffix()));
        fs::create_dir_all(&dir)
            .map_err(|e| EmuError::io(format!("creating {}", dir.display()), e))?;
        Ok(Self { dir })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn timeout() -> Duration {
    let seconds = std::env::var("MOGE_EMU_TIMEOUT_SECS")
        .ok()
        .and_then(|value| value.trim().parse::<u64>().ok())
        .filter(|&seconds| seconds > 0)
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    Duration::from_secs(seconds)
}

/// Reads a pipe to the end on a thread.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    })
}

/// Waits for the child up to `limit`; `None` when it was killed for running too long.
fn wait_with_timeout(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>, EmuError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| EmuError::io("waiting for the kernel process", e))?
        {
            return Ok(Some(status));
        }
        if started.elapsed() >= limit {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(unix)]
fn signal_of(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal_of(_status: &ExitStatus) -> Option<i32> {
    None
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

pub(super) fn run(compiled: &CompiledKernel, launch: RawLaunch<'_>) -> Result<RawReport, EmuError> {
    let kernel = launch.kernel.to_string();
    let scratch = Scratch::new()?;
    let request_path = scratch.dir.join("request.bin");
    let response_path = scratch.dir.join("response.bin");
    fs::write(&request_path, encode_request(&launch))
        .map_err(|e| EmuError::io(format!("writing {}", request_path.display()), e))?;

    let mut child = Command::new(compiled.path())
        .arg(&request_path)
        .arg(&response_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| EmuError::io(format!("starting {}", compiled.path().display()), e))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let limit = timeout();
    let status = wait_with_timeout(&mut child, limit)?;
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if std::env::var_os("MOGE_EMU_ECHO").is_some() {
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
    let data = match fs::read(&response_path) {
        Ok(data) => data,
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
    let response = decode_response(&data).map_err(|message| EmuError::Launcher { message })?;
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
            args,
        } => {
            if total_violations > 0 {
                let violations = violations
                    .into_iter()
                    .map(|v| Violation {
                        kernel: kernel.clone(),
                        core: v.core,
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
            let args = launch
                .args
                .into_iter()
                .zip(args)
                .map(|(arg, bytes)| GmArg {
                    name: arg.name,
                    bytes,
                    is_output: arg.is_output,
                })
                .collect();
            Ok(RawReport {
                args,
                gm_bytes_read: gm_read,
                gm_bytes_written: gm_written,
                ub_high_water: ub_high,
                wall,
            })
        }
    }
}
