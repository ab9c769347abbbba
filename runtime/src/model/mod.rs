//! The modeled 910B timeline: how long a kernel would take on the NPU, by replaying the emulator's
//! instruction trace on a timing model of the target.
//!
//! - [`trace`]: the trace the emulator records (`CheckMode::trace`): per core, every instruction with
//!   what its cost depends on, and every ordering edge.
//! - [`params`]: the one parameter table, per target (910B1-B4), each value with its source.
//! - [`replay`]: the event-driven replay: pipes concurrent, ordered by the trace's edges; cores sharing
//!   HBM and L2 ([`hbm`]); deadlocks reported, never a hang.
//! - [`chrome`]: the timeline as a Chrome trace-event file (Perfetto, chrome://tracing).
//!
//! Every figure here is a *model* of the hardware, not a measurement: reports label them "modeled".
//! [`model`] replays one launch and sums it up as a [`KernelModel`].

pub mod chrome;
mod cost;
pub mod hbm;
pub mod params;
pub mod replay;
pub mod synth;
pub mod trace;

use std::fmt;

pub use params::Params;
pub use replay::{replay, Replay};
pub use trace::{Pipe, PipeSlot, Trace, PIPE_SLOTS};

/// Why a trace could not be modeled.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The target has no parameter table (a usage error).
    #[error("unknown target `{target}` for the timing model: expected one of ascend910b1, ascend910b2, ascend910b3, ascend910b4")]
    UnknownTarget {
        /// The name given.
        target: String,
    },
    /// A wait that nothing can satisfy: the NPU would hang.
    #[error("the modeled timeline cannot be replayed: deadlock on core {core}, pipe {pipe}: instruction {index} ({instr}) waits for a flag, queue hand-off or barrier that no instruction can still give")]
    Deadlock {
        /// The core's label.
        core: String,
        /// The pipe.
        pipe: &'static str,
        /// The instruction's index in the core's trace.
        index: usize,
        /// The instruction.
        instr: String,
    },
}

/// What bounds a kernel's modeled time: the resource whose busy time is the largest.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Bound {
    /// Copies from and to HBM (L2 misses), or one core's copy pipes.
    Hbm,
    /// L2 hits.
    L2,
    /// The cube (Mmad, and the MTE1 loads that feed it).
    Cube,
    /// The vector unit.
    Vector,
    /// The scalar unit.
    Scalar,
    /// The kernel launch overhead.
    Launch,
}

impl Bound {
    /// The name reports print: `HBM`, `L2`, `cube`, `vector`, `scalar`, `launch`.
    pub fn name(self) -> &'static str {
        match self {
            Bound::Hbm => "HBM",
            Bound::L2 => "L2",
            Bound::Cube => "cube",
            Bound::Vector => "vector",
            Bound::Scalar => "scalar",
            Bound::Launch => "launch",
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How busy one pipe was: the fraction of the kernel's time (launch excluded) it was occupied.
#[derive(Copy, Clone, Debug, PartialEq, Default)]
pub struct PipeBusy {
    /// Mean over the physical cores the launch used (a core that ran several blocks in waves
    /// counts their busy time together).
    pub mean: f64,
    /// The busiest physical core's.
    pub max: f64,
}

/// The modeled figures of one kernel launch.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelModel {
    /// The target modeled.
    pub target: String,
    /// The clock, GHz.
    pub clock_ghz: f64,
    /// Modeled time, microseconds, the launch overhead included.
    pub time_us: f64,
    /// The launch overhead, microseconds.
    pub launch_us: f64,
    /// Per pipe (slot order: S, V, M, MTE1, MTE2, MTE3, FIX).
    pub busy: [PipeBusy; 7],
    /// The resource that bounds the time.
    pub bound: Bound,
    /// Per resource, the time it alone needs, microseconds (the bound is the largest).
    pub resources: Vec<(Bound, f64)>,
    /// GM bytes read from HBM (after the L2).
    pub hbm_bytes_read: u64,
    /// GM bytes written to HBM (after the L2).
    pub hbm_bytes_written: u64,
    /// GM bytes read from L2.
    pub l2_bytes_read: u64,
    /// Floating-point operations of the cube: 2·m·k·n per Mmad instruction issued, with the m, k, n
    /// it was issued with (the fractal work the cube did, padding included). Vector instructions do
    /// not count: their issued lanes are not the kernel's useful operations (a padded row, a mask),
    /// so a vector kernel has 0 flops and is rated in TB/s; a kernel that issues nothing has 0.
    pub flops: f64,
    /// Host time the replay took, microseconds (what modeling costs; not a modeled figure).
    pub replay_us: f64,
    /// The timeline, when kept ([`model`]'s `keep_timeline`): the trace and when each instruction ran.
    pub timeline: Option<Box<(Trace, Replay)>>,
}

impl KernelModel {
    /// HBM bytes moved per second, TB/s.
    pub fn tb_per_s(&self) -> f64 {
        tera_per_second(
            (self.hbm_bytes_read + self.hbm_bytes_written) as f64,
            self.time_us,
        )
    }

    /// Floating-point operations per second, TFLOPS.
    pub fn tflops(&self) -> f64 {
        tera_per_second(self.flops, self.time_us)
    }
}

/// `amount` over `time_us` microseconds, in units of 10^12 per second (0 for no time): TB/s of
/// bytes, TFLOPS of operations.
pub fn tera_per_second(amount: f64, time_us: f64) -> f64 {
    if time_us > 0.0 {
        amount / time_us / 1e6
    } else {
        0.0
    }
}

/// Replays `trace` with `params` and sums it up; `keep_timeline` keeps the trace and the replay for a
/// trace file.
pub fn model(
    trace: Trace,
    params: &Params,
    keep_timeline: bool,
) -> Result<KernelModel, ModelError> {
    let started = std::time::Instant::now();
    let replayed = replay(&trace, params)?;
    let replay_us = started.elapsed().as_secs_f64() * 1e6;
    let cycles = replayed.cycles;
    // Per physical core: with more blocks than cores, a core's busy time is that of every block it
    // ran, wave after wave.
    let physical = replayed.busy_per_physical_core();
    let cores = physical.len().max(1) as f64;
    let mut busy = [PipeBusy::default(); 7];
    for (p, pipe) in busy.iter_mut().enumerate() {
        if cycles > 0.0 {
            let fractions = physical.iter().map(|b| b[p] / cycles);
            pipe.mean = fractions.clone().sum::<f64>() / cores;
            pipe.max = fractions.fold(0.0, f64::max);
        }
    }
    let busiest = |pipes: &[Pipe]| {
        physical
            .iter()
            .map(|b| pipes.iter().map(|p| b[p.slot()]).fold(0.0, f64::max))
            .fold(0.0, f64::max)
    };
    let copies = params.micros(busiest(&[Pipe::Mte2, Pipe::Mte3, Pipe::Fix]));
    let hbm_bytes = (replayed.hbm_read + replayed.hbm_written) as f64;
    let l2_bytes = (replayed.l2_read + replayed.l2_written) as f64;
    let hbm = params.micros(hbm_bytes / params.hbm_rate);
    let l2 = params.micros(l2_bytes / params.l2_rate);
    // One core's copy pipes count against the memory the copies mostly go to.
    let (hbm, l2) = if hbm_bytes >= l2_bytes {
        (hbm.max(copies), l2)
    } else {
        (hbm, l2.max(copies))
    };
    let resources = vec![
        (Bound::Hbm, hbm),
        (Bound::L2, l2),
        (Bound::Cube, params.micros(busiest(&[Pipe::M, Pipe::Mte1]))),
        (Bound::Vector, params.micros(busiest(&[Pipe::V]))),
        (Bound::Scalar, params.micros(busiest(&[Pipe::S]))),
        (Bound::Launch, params.launch_us),
    ];
    let bound = resources
        .iter()
        .fold((Bound::Launch, f64::MIN), |best, &(b, t)| {
            if t > best.1 {
                (b, t)
            } else {
                best
            }
        })
        .0;
    Ok(KernelModel {
        target: params.target.clone(),
        clock_ghz: params.clock_ghz,
        time_us: params.launch_us + params.micros(cycles),
        launch_us: params.launch_us,
        busy,
        bound,
        resources,
        hbm_bytes_read: replayed.hbm_read,
        hbm_bytes_written: replayed.hbm_written,
        l2_bytes_read: replayed.l2_read,
        flops: replayed.cube_flops,
        replay_us,
        timeline: keep_timeline.then(|| Box::new((trace, replayed))),
    })
}

#[cfg(test)]
mod calib;
#[cfg(test)]
mod tests;
