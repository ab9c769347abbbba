//! The per-launch scratch directories of the emulator (`$TMPDIR/moge-emu-PID-N-NANOS/`, holding the
//! request and the response, tens of megabytes for a large launch), and their removal when the
//! caller is interrupted.
//!
//! A directory is removed when its launch ends ([`Scratch`]'s drop). A caller killed by a signal
//! never runs that drop, so the live directories are also recorded in a fixed table of
//! NUL-terminated paths that [`remove_scratch`] reads from a signal handler: it only uses atomics
//! and unlink(2) / rmdir(2) on the two file names a launch writes, which are async-signal-safe.
//! (A SIGKILL cannot be handled; its directory stays.)

use std::cell::UnsafeCell;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};

use super::cache::unique_suffix;
use super::EmuError;

/// The files a launch writes into its scratch directory (and all it writes there).
pub(super) const FILES: [&str; 2] = ["request.bin", "response.bin"];

/// Longest directory path the table holds (longer ones are still removed on drop).
const PATH_MAX: usize = 1024;

/// A slot of the table: free, being written or cleared, or holding a live directory's path.
struct Slot {
    state: AtomicU8,
    path: UnsafeCell<[u8; PATH_MAX]>,
}

const FREE: u8 = 0;
const BUSY: u8 = 1;
const LIVE: u8 = 2;

// SAFETY: `path` is written only by the thread that moved the slot FREE -> BUSY, and read only
// while the slot is LIVE (after that thread's Release store); nothing writes it while LIVE.
unsafe impl Sync for Slot {}

static SLOTS: [Slot; 64] = [const {
    Slot {
        state: AtomicU8::new(FREE),
        path: UnsafeCell::new([0; PATH_MAX]),
    }
}; 64];

/// A per-launch scratch directory, removed on drop (and by [`remove_scratch`] on a signal).
pub(super) struct Scratch {
    /// The directory.
    pub(super) dir: PathBuf,
    slot: Option<&'static Slot>,
}

impl Scratch {
    /// Creates a new directory under the temporary directory and records it.
    pub(super) fn new() -> Result<Self, EmuError> {
        let dir = std::env::temp_dir().join(format!("moge-emu-{}", unique_suffix()));
        fs::create_dir_all(&dir)
            .map_err(|e| EmuError::io(format!("creating {}", dir.display()), e))?;
        let slot = record(&dir);
        Ok(Self { dir, slot })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Out of the table first, so that a signal now does not race the removal below.
        if let Some(slot) = self.slot {
            if slot
                .state
                .compare_exchange(LIVE, BUSY, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                slot.state.store(FREE, Ordering::Release);
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Records `dir` in a free slot; `None` when the path is too long or every slot is taken.
fn record(dir: &std::path::Path) -> Option<&'static Slot> {
    let bytes = dir.as_os_str().as_bytes();
    if bytes.len() >= PATH_MAX || bytes.contains(&0) {
        return None;
    }
    let slot = SLOTS.iter().find(|slot| {
        slot.state
            .compare_exchange(FREE, BUSY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    })?;
    // SAFETY: this thread owns the slot (BUSY) until the Release store below.
    unsafe {
        let path = &mut *slot.path.get();
        path[..bytes.len()].copy_from_slice(bytes);
        path[bytes.len()] = 0;
    }
    slot.state.store(LIVE, Ordering::Release);
    Some(slot)
}

/// Removes every live scratch directory (its request and response, then the directory).
/// Async-signal-safe: meant for the SIGINT / SIGTERM handler of a program that launches kernels
/// (`mogec`'s), after [`super::kill_running`] has killed the kernels writing into them.
pub fn remove_scratch() {
    for slot in &SLOTS {
        if slot.state.load(Ordering::Acquire) != LIVE {
            continue;
        }
        // SAFETY: a LIVE slot's path is not written until it leaves LIVE (see `Slot`).
        let dir = unsafe { &*slot.path.get() };
        let len = dir.iter().position(|&b| b == 0).unwrap_or(0);
        let mut file = [0u8; PATH_MAX + 32];
        for name in FILES {
            let name = name.as_bytes();
            file[..len].copy_from_slice(&dir[..len]);
            file[len] = b'/';
            file[len + 1..len + 1 + name.len()].copy_from_slice(name);
            file[len + 1 + name.len()] = 0;
            // SAFETY: unlink(2) with a NUL-terminated path on the stack; async-signal-safe.
            unsafe {
                libc::unlink(file.as_ptr().cast());
            }
        }
        // SAFETY: rmdir(2) with the slot's NUL-terminated path; async-signal-safe.
        unsafe {
            libc::rmdir(dir.as_ptr().cast());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_scratch_removes_a_live_directory_with_its_files_and_drop_forgets_it() {
        let scratch = Scratch::new().unwrap();
        assert!(scratch.slot.is_some());
        for name in FILES {
            fs::write(scratch.dir.join(name), b"bytes").unwrap();
        }
        remove_scratch();
        assert!(!scratch.dir.exists(), "{}", scratch.dir.display());
        let slot = scratch.slot.unwrap();
        drop(scratch);
        assert_eq!(slot.state.load(Ordering::Acquire), FREE);
    }
}
