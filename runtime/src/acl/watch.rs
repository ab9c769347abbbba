//! moge's watchdog over `aclrtSynchronizeStreamWithTimeout`: the call runs on a watcher thread kept
//! for the session, and the launching thread waits for its answer at most [`watchdog_limit`], so a
//! synchronisation that never returns (a hung device or driver not honouring ACL's own limit) cannot
//! hang moge.

use super::api::{Handle, IntCall, SyncTimeout};

/// The channels to a watcher thread: (stream, milliseconds) in, ACL's code out.
pub struct Watcher {
    requests: std::sync::mpsc::Sender<(usize, i32)>,
    replies: std::sync::mpsc::Receiver<i32>,
}

impl Watcher {
    /// Starts a watcher thread: it sets the device (ACL's context is per thread), then runs each
    /// synchronisation it is sent and answers with its code. `None` if no thread can be started.
    pub fn spawn(synchronize: SyncTimeout, set_device: IntCall, device: i32) -> Option<Watcher> {
        let (requests, inbox) = std::sync::mpsc::channel::<(usize, i32)>();
        let (outbox, replies) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("moge-acl-watch".to_string())
            .spawn(move || {
                // SAFETY (both calls): CANN 8.5 signatures.
                let entered = unsafe { set_device(device) };
                for (stream, millis) in inbox {
                    let code = match entered {
                        0 => unsafe { synchronize(stream as Handle, millis) },
                        code => code,
                    };
                    // The receiver is gone only when moge stopped waiting for this watcher.
                    if outbox.send(code).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(Watcher { requests, replies })
    }

    /// Has the watcher synchronise `stream` (a handle as a number) with ACL's limit `millis`; its
    /// code, `Timeout` when it did not answer within `limit`, `Disconnected` when it is gone.
    pub fn synchronize(
        &self,
        stream: usize,
        millis: i32,
        limit: std::time::Duration,
    ) -> Result<i32, std::sync::mpsc::RecvTimeoutError> {
        if self.requests.send((stream, millis)).is_err() {
            return Err(std::sync::mpsc::RecvTimeoutError::Disconnected);
        }
        self.wait(limit)
    }

    /// The watcher's answer within `limit`. A short kernel is answered within microseconds, but on a
    /// busy host the watcher may wait for a CPU behind this thread: for the first
    /// [`Watcher::YIELDING`] this thread offers its CPU instead of sleeping on the channel, which
    /// cut the 99th percentile of a launch on the fake from 5 ms to 0.15 ms (docs/performance.md §8).
    fn wait(&self, limit: std::time::Duration) -> Result<i32, std::sync::mpsc::RecvTimeoutError> {
        let start = std::time::Instant::now();
        while start.elapsed() < Self::YIELDING.min(limit) {
            match self.replies.try_recv() {
                Ok(code) => return Ok(code),
                Err(std::sync::mpsc::TryRecvError::Empty) => std::thread::yield_now(),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
                }
            }
        }
        self.replies
            .recv_timeout(limit.saturating_sub(start.elapsed()))
    }

    /// How long [`Watcher::wait`] yields before it sleeps.
    const YIELDING: std::time::Duration = std::time::Duration::from_micros(200);
}

/// How long moge waits for a synchronisation whose ACL limit is `timeout` before it gives up on it:
/// the limit plus a tenth of it (at least a second) for ACL to report its own timeout first.
pub fn watchdog_limit(timeout: std::time::Duration) -> std::time::Duration {
    timeout + (timeout / 10).max(std::time::Duration::from_secs(1))
}
