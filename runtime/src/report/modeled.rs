//! The modeled figures of a launch in reports: per kernel, and for the program (its kernels one after
//! the other). Every figure here is labeled "modeled": JSON puts them under a `"modeled"` key, text
//! says "modeled".

use serde_json::{json, Map, Value};

use super::{bytes, LaunchReport};
use crate::model::{tera_per_second, Bound, KernelModel, PipeBusy, PipeSlot, PIPE_SLOTS};

/// The modeled figures of a program's launch: its device kernels in order, each after its launch.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramModel {
    /// The target modeled.
    pub target: String,
    /// Modeled time of all kernels, launches included, microseconds.
    pub time_us: f64,
    /// Per pipe: the time-weighted mean over kernels of the mean over cores, and the largest max.
    pub busy: [PipeBusy; 7],
    /// The resource whose time (summed over kernels) is the largest.
    pub bound: Bound,
    /// Per resource, its time summed over kernels, microseconds.
    pub resources: Vec<(Bound, f64)>,
    /// GM bytes read from HBM (after the L2).
    pub hbm_bytes_read: u64,
    /// GM bytes written to HBM (after the L2).
    pub hbm_bytes_written: u64,
    /// GM bytes read from L2.
    pub l2_bytes_read: u64,
    /// Cube floating-point operations (2·m·k·n per issued Mmad; vector lanes do not count).
    pub flops: f64,
}

impl ProgramModel {
    /// Sums up modeled kernels (`None` when there are none).
    pub fn sum<'a>(models: impl IntoIterator<Item = &'a KernelModel>) -> Option<ProgramModel> {
        let models: Vec<&KernelModel> = models.into_iter().collect();
        let first = models.first()?;
        let time_us: f64 = models.iter().map(|m| m.time_us).sum();
        let mut busy = [PipeBusy::default(); 7];
        for (p, pipe) in busy.iter_mut().enumerate() {
            let run: f64 = models.iter().map(|m| m.time_us - m.launch_us).sum();
            if run > 0.0 {
                pipe.mean = models
                    .iter()
                    .map(|m| m.busy[p].mean * (m.time_us - m.launch_us))
                    .sum::<f64>()
                    / run;
            }
            pipe.max = models.iter().map(|m| m.busy[p].max).fold(0.0, f64::max);
        }
        let resources: Vec<(Bound, f64)> = first
            .resources
            .iter()
            .map(|&(bound, _)| {
                let total = models
                    .iter()
                    .flat_map(|m| m.resources.iter())
                    .filter(|(b, _)| *b == bound)
                    .map(|(_, t)| t)
                    .sum();
                (bound, total)
            })
            .collect();
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
        Some(ProgramModel {
            target: first.target.clone(),
            time_us,
            busy,
            bound,
            resources,
            hbm_bytes_read: models.iter().map(|m| m.hbm_bytes_read).sum(),
            hbm_bytes_written: models.iter().map(|m| m.hbm_bytes_written).sum(),
            l2_bytes_read: models.iter().map(|m| m.l2_bytes_read).sum(),
            flops: models.iter().map(|m| m.flops).sum(),
        })
    }

    /// HBM bytes per second, TB/s.
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

fn busy_json(busy: &[PipeBusy; 7]) -> Value {
    let map: Map<String, Value> = PIPE_SLOTS
        .iter()
        .map(|p| {
            let b = busy[p.slot()];
            (
                p.name().to_string(),
                json!({"mean": round(b.mean), "max": round(b.max)}),
            )
        })
        .collect();
    Value::Object(map)
}

fn resources_json(resources: &[(Bound, f64)]) -> Value {
    let map: Map<String, Value> = resources
        .iter()
        .map(|(b, t)| (b.name().to_string(), json!(round(*t))))
        .collect();
    Value::Object(map)
}

/// Six significant digits, so that reports do not print float noise.
fn round(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() {
        return value;
    }
    let scale = 10f64.powi(5 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

/// The `"modeled"` object of one kernel.
pub fn kernel_json(m: &KernelModel) -> Value {
    json!({
        "target": m.target,
        "time_us": round(m.time_us),
        "launch_us": m.launch_us,
        "bound": m.bound.name(),
        "resources_us": resources_json(&m.resources),
        "pipe_busy": busy_json(&m.busy),
        "hbm_bytes_read": m.hbm_bytes_read,
        "hbm_bytes_written": m.hbm_bytes_written,
        "l2_bytes_read": m.l2_bytes_read,
        "achieved_tb_per_s": round(m.tb_per_s()),
        "achieved_tflops": round(m.tflops()),
        "replay_us": m.replay_us.round(),
    })
}

/// The `"modeled"` object of a program's launch (with the GM counters it is compared with).
pub fn program_json(report: &LaunchReport, m: &ProgramModel) -> Value {
    json!({
        "target": m.target,
        "time_us": round(m.time_us),
        "bound": m.bound.name(),
        "resources_us": resources_json(&m.resources),
        "pipe_busy": busy_json(&m.busy),
        "hbm_bytes_read": m.hbm_bytes_read,
        "hbm_bytes_written": m.hbm_bytes_written,
        "l2_bytes_read": m.l2_bytes_read,
        "achieved_tb_per_s": round(m.tb_per_s()),
        "achieved_tflops": round(m.tflops()),
        "gm_bytes_read": report.gm_bytes_read(),
        "gm_bytes_written": report.gm_bytes_written(),
        "compulsory_bytes": report.compulsory_bytes,
    })
}

/// The summary line: `modeled on ascend910b2: 12.3 us, bound HBM, HBM 1.0 MiB read / 512.0 KiB
/// written (1.10 TB/s), 0.00 TFLOPS`.
pub fn summary(m: &ProgramModel) -> String {
    format!(
        "modeled on {}: {:.2} us, bound {}, HBM {} read / {} written ({:.2} TB/s), {:.2} TFLOPS",
        m.target,
        m.time_us,
        m.bound,
        bytes(m.hbm_bytes_read),
        bytes(m.hbm_bytes_written),
        m.tb_per_s(),
        m.tflops()
    )
}
