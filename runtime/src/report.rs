//! What a launch measured, and how device results are compared with the reference interpreter.
//!
//! A [`LaunchReport`] has one [`KernelReport`] per device kernel (grid, tiling, GM traffic, UB use, wall
//! time) and the program's totals. [`compare_bounded`] measures how far a device result is from the
//! interpreter's — the one place moge decides what is close enough:
//!
//! - an output with an error bound from the graph ([`Bound::Elements`], computed by
//!   [`moge_lower::interp::eval_with_bounds`] from a rule per op) passes element `i` when
//!   `|got - expected| <= 2 B[i] + 1 ulp of the output dtype at expected[i]`: both the interpreter and
//!   the device stay within `B` of the exact value, and their last roundings may differ by an ulp. This
//!   is in units that fit each op: ulps of the output for elementwise ops, the sum of magnitudes for
//!   sums, means and the row sums of softmax and RMSNorm. An infinite `B[i]` marks an
//!   *overflow-dependent* element (a sum whose magnitudes exceed the `f32` range, whose value depends
//!   on the order of summation: `inf`, NaN or finite): any value matches it, and the comparison counts
//!   such elements ([`ToleranceUsed::Bound`]'s `overflow_dependent`);
//! - an output computed through an op without a bound rule ([`Bound::NoRule`]; the ops the vector unit
//!   does not run) falls back to the per-dtype [`Tolerance`] table:
//!
//! | dtype | absolute | relative |
//! |---|---|---|
//! | `f32` | 1e-6 | 1e-5 |
//! | `f16` | 1e-6 | 1e-3 |
//! | `bf16` | 1e-5 | 1e-2 |
//! | `i32` | 0 | 0 |
//!
//! Either way (overflow-dependent elements aside), NaN matches only NaN and an infinity only the same
//! infinity, and a non-finite mismatch makes the worst error / allowed ratio infinite. In JSON, non-finite numbers
//! are the strings `"inf"`, `"-inf"` and `"nan"` (JSON has no literal for them).

use std::fmt;
use std::time::Duration;

use moge_lower::interp::{ulp, Bound, Tensor, TensorData};
use moge_lower::{DType, Symbol};
use serde_json::{json, Map, Value};

use crate::model::KernelModel;

mod modeled;

pub use modeled::ProgramModel;

/// What one device kernel's launch did.
#[derive(Clone, PartialEq, Debug)]
pub struct KernelReport {
    /// The `extern "C"` symbol.
    pub name: String,
    /// The core type: `aiv`, `aic` or `mix`.
    pub core_type: String,
    /// Cores launched.
    pub block_dim: u32,
    /// The tiling fields as passed, by name, in order.
    pub tiling: Vec<(String, i64)>,
    /// Workspace bytes passed.
    pub workspace_bytes: u64,
    /// GM bytes read, summed over cores (`None` when the backend does not count them).
    pub gm_bytes_read: Option<u64>,
    /// GM bytes written, summed over cores (`None` when the backend does not count them).
    pub gm_bytes_written: Option<u64>,
    /// UB bytes per core the compiler planned (from the manifest).
    pub ub_bytes: u64,
    /// The largest UB footprint of any core as measured by the backend (`None` when not measured).
    pub ub_high_water: Option<u64>,
    /// The kernel's run time as the backend measured it.
    pub wall: Duration,
    /// The time of the whole backend call (for the emulator: process start and argument transfer too).
    pub host_wall: Duration,
    /// The modeled NPU timeline (`None` unless the backend modeled the launch).
    pub modeled: Option<KernelModel>,
}

/// What a program's launch did: every device kernel, in launch order, and the totals.
#[derive(Clone, PartialEq, Debug)]
pub struct LaunchReport {
    /// The program's name.
    pub program: String,
    /// The backend's name.
    pub backend: String,
    /// The dynamic dims as bound from the input shapes, in manifest order.
    pub dims: Vec<(Symbol, i64)>,
    /// The device kernels, in launch order.
    pub kernels: Vec<KernelReport>,
    /// Bytes of every input read once plus every output written once: the least GM traffic any
    /// implementation needs.
    pub compulsory_bytes: u64,
    /// Bytes of the inputs.
    pub input_bytes: u64,
    /// Bytes of the outputs.
    pub output_bytes: u64,
    /// Time of the whole launch on the host: checks, packing, every backend call, unpacking.
    pub host_wall: Duration,
}

impl LaunchReport {
    /// The names of the device kernels, in launch order.
    pub fn kernel_names(&self) -> Vec<&str> {
        self.kernels.iter().map(|k| k.name.as_str()).collect()
    }

    /// The largest block dim of any kernel (0 when there are none).
    pub fn block_dim(&self) -> u32 {
        self.kernels.iter().map(|k| k.block_dim).max().unwrap_or(0)
    }

    /// GM bytes read by all kernels, if every kernel's were counted.
    pub fn gm_bytes_read(&self) -> Option<u64> {
        self.kernels.iter().map(|k| k.gm_bytes_read).sum()
    }

    /// GM bytes written by all kernels, if every kernel's were counted.
    pub fn gm_bytes_written(&self) -> Option<u64> {
        self.kernels.iter().map(|k| k.gm_bytes_written).sum()
    }

    /// GM bytes moved (read + written), if counted.
    pub fn gm_bytes(&self) -> Option<u64> {
        Some(self.gm_bytes_read()? + self.gm_bytes_written()?)
    }

    /// GM bytes moved over compulsory bytes (1.0 is the least possible; `None` when not counted or
    /// when nothing is compulsory).
    pub fn traffic_ratio(&self) -> Option<f64> {
        let moved = self.gm_bytes()?;
        (self.compulsory_bytes > 0).then(|| moved as f64 / self.compulsory_bytes as f64)
    }

    /// The largest UB footprint any kernel planned, per core.
    pub fn ub_bytes(&self) -> u64 {
        self.kernels.iter().map(|k| k.ub_bytes).max().unwrap_or(0)
    }

    /// The largest measured UB high-water mark, if every kernel's was measured.
    pub fn ub_high_water(&self) -> Option<u64> {
        self.kernels
            .iter()
            .map(|k| k.ub_high_water)
            .collect::<Option<Vec<u64>>>()
            .map(|marks| marks.into_iter().max().unwrap_or(0))
    }

    /// The modeled figures of the kernels that were modeled (`None` when none was).
    pub fn modeled(&self) -> Option<ProgramModel> {
        ProgramModel::sum(self.kernels.iter().filter_map(|k| k.modeled.as_ref()))
    }

    /// The kernels' run time, summed, as the backend measured it.
    pub fn wall(&self) -> Duration {
        self.kernels.iter().map(|k| k.wall).sum()
    }

    /// The report as a JSON object (counters the backend did not measure are `null`).
    pub fn to_json(&self) -> Value {
        let kernels: Vec<Value> = self
            .kernels
            .iter()
            .map(|k| {
                let tiling: Map<String, Value> = k
                    .tiling
                    .iter()
                    .map(|(name, value)| (name.to_string(), json!(value)))
                    .collect();
                let mut value = json!({
                    "name": k.name,
                    "core_type": k.core_type,
                    "block_dim": k.block_dim,
                    "tiling": tiling,
                    "workspace_bytes": k.workspace_bytes,
                    "gm_bytes_read": k.gm_bytes_read,
                    "gm_bytes_written": k.gm_bytes_written,
                    "ub_bytes": k.ub_bytes,
                    "ub_high_water": k.ub_high_water,
                    "wall_us": micros(k.wall),
                    "host_wall_us": micros(k.host_wall),
                });
                if let (Some(m), Value::Object(map)) = (&k.modeled, &mut value) {
                    map.insert("modeled".to_string(), modeled::kernel_json(m));
                }
                value
            })
            .collect();
        let dims: Map<String, Value> = self
            .dims
            .iter()
            .map(|(name, value)| (name.to_string(), json!(value)))
            .collect();
        let mut value = json!({
            "program": self.program,
            "backend": self.backend,
            "dims": dims,
            "device_kernels": self.kernel_names(),
            "block_dim": self.block_dim(),
            "gm_bytes_read": self.gm_bytes_read(),
            "gm_bytes_written": self.gm_bytes_written(),
            "compulsory_bytes": self.compulsory_bytes,
            "traffic_ratio": self.traffic_ratio().map(number),
            "ub_bytes": self.ub_bytes(),
            "ub_high_water": self.ub_high_water(),
            "wall_us": micros(self.wall()),
            "host_wall_us": micros(self.host_wall),
            "kernels": kernels,
        });
        if let (Some(m), Value::Object(map)) = (self.modeled(), &mut value) {
            map.insert("modeled".to_string(), modeled::program_json(self, &m));
        }
        value
    }
}

impl fmt::Display for LaunchReport {
    /// One line per kernel and a total line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self
            .dims
            .iter()
            .map(|(n, v)| format!("{n} = {v}"))
            .collect();
        writeln!(
            f,
            "{} on the {}{}",
            self.program,
            crate::backend::shown_name(&self.backend),
            if dims.is_empty() {
                String::new()
            } else {
                format!(" with {}", dims.join(", "))
            }
        )?;
        for k in &self.kernels {
            writeln!(
                f,
                "  {} ({}): block_dim {}, GM read {} written {}, UB {}, {}",
                k.name,
                k.core_type,
                k.block_dim,
                opt_bytes(k.gm_bytes_read),
                opt_bytes(k.gm_bytes_written),
                // A hand-written manifest may leave the planned UB out (0).
                match (k.ub_bytes, k.ub_high_water) {
                    (0, Some(h)) => format!("{} used", bytes(h)),
                    (0, None) => "not stated".to_string(),
                    (p, Some(h)) => format!("{} planned / {} used", bytes(p), bytes(h)),
                    (p, None) => format!("{} planned", bytes(p)),
                },
                duration(k.wall)
            )?;
        }
        write!(
            f,
            "  total: GM {} moved vs {} compulsory{}, {}",
            opt_bytes(self.gm_bytes()),
            bytes(self.compulsory_bytes),
            self.traffic_ratio()
                .map(|r| format!(" (ratio {r:.2})"))
                .unwrap_or_default(),
            duration(self.wall())
        )?;
        if let Some(m) = self.modeled() {
            write!(f, "\n  {}", modeled::summary(&m))?;
        }
        Ok(())
    }
}

/// How close a device result must be to the interpreter's: `|got - expected| <= abs + rel * |expected|`.
#[derive(Copy, Clone, PartialEq, Debug)]
pub struct Tolerance {
    /// Absolute part.
    pub abs: f64,
    /// Relative part.
    pub rel: f64,
}

impl Tolerance {
    /// Exact equality.
    pub const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

    /// The tolerance of results of `dtype` (see the module documentation for the table and why).
    pub fn for_dtype(dtype: DType) -> Tolerance {
        match dtype {
            DType::F32 => Tolerance {
                abs: 1e-6,
                rel: 1e-5,
            },
            DType::F16 => Tolerance {
                abs: 1e-6,
                rel: 1e-3,
            },
            DType::BF16 => Tolerance {
                abs: 1e-5,
                rel: 1e-2,
            },
            DType::I32 | DType::Bool => Tolerance::EXACT,
        }
    }

    /// Whether `got` is close enough to `expected`.
    pub fn allows(&self, got: f64, expected: f64) -> bool {
        within(got, expected, self.allowed(expected))
    }

    /// The largest difference allowed from `expected` (0 for a non-finite one, which must be matched
    /// exactly).
    fn allowed(&self, expected: f64) -> f64 {
        if expected.is_finite() {
            self.abs + self.rel * expected.abs()
        } else {
            0.0
        }
    }
}

/// Whether `got` is within `allowed` of `expected`; NaN matches only NaN, an infinity only itself.
/// An infinite `allowed` (an overflow-dependent element) matches any value, NaN and infinities included.
fn within(got: f64, expected: f64, allowed: f64) -> bool {
    if allowed == f64::INFINITY {
        return true;
    }
    if got.is_nan() || expected.is_nan() {
        return got.is_nan() && expected.is_nan();
    }
    if got.is_infinite() || expected.is_infinite() {
        return got == expected;
    }
    (got - expected).abs() <= allowed
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Tolerance::EXACT {
            f.write_str("exact")
        } else {
            write!(f, "abs {:e} + rel {:e}", self.abs, self.rel)
        }
    }
}

/// The tolerance a comparison applied.
#[derive(Clone, PartialEq, Debug)]
pub enum ToleranceUsed {
    /// `|got - expected| <= 2 B + ulps * ulp(dtype, expected)`, `B` per element from the graph.
    Bound {
        /// Ulps of the output dtype added to twice the bound.
        ulps: f64,
        /// The largest allowed difference over the finite elements.
        max_allowed: f64,
        /// The largest `|got - expected|` divided by its allowed difference (0 when all are equal);
        /// infinite when a mismatching element is non-finite on either side. Overflow-dependent
        /// elements are left out.
        max_err_ratio: f64,
        /// Elements whose bound is infinite: a sum whose magnitudes exceed the finite range of
        /// `f32` (or a value computed from one), which depends on the order of summation and may be
        /// any finite value, `±inf` or NaN; any result matches them.
        overflow_dependent: usize,
    },
    /// The per-dtype table, for outputs computed through `op`, which has no bound rule (`None`: no
    /// bound was asked for).
    Table {
        /// The table's entry.
        tolerance: Tolerance,
        /// The op without a bound rule.
        op: Option<&'static str>,
    },
}

impl ToleranceUsed {
    /// The tolerance as a JSON object with a `rule` key (`"bound"` or `"dtype"`).
    pub fn to_json(&self) -> Value {
        match self {
            ToleranceUsed::Bound {
                ulps,
                max_allowed,
                max_err_ratio,
                overflow_dependent,
            } => json!({
                "rule": "bound",
                "formula": format!("2 B + {ulps} ulp"),
                "max_allowed": number(*max_allowed),
                "max_err_ratio": number(*max_err_ratio),
                "overflow_dependent": overflow_dependent,
            }),
            ToleranceUsed::Table { tolerance, op } => json!({
                "rule": "dtype",
                "abs": tolerance.abs,
                "rel": tolerance.rel,
                "no_bound_rule_for": op,
            }),
        }
    }
}

impl fmt::Display for ToleranceUsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToleranceUsed::Bound {
                ulps,
                max_allowed,
                max_err_ratio,
                overflow_dependent,
            } => {
                write!(
                    f,
                    "2 B + {ulps} ulp from the graph, largest allowed {max_allowed:.3e}, worst error / allowed {max_err_ratio:.2e}"
                )?;
                if *overflow_dependent > 0 {
                    write!(
                        f,
                        ", {overflow_dependent} overflow-dependent (their sums exceed the f32 range; any value matches)"
                    )?;
                }
                Ok(())
            }
            ToleranceUsed::Table { tolerance, op } => {
                write!(f, "{tolerance}")?;
                if let Some(op) = op {
                    write!(f, ", the dtype table: `{op}` has no bound rule")?;
                }
                Ok(())
            }
        }
    }
}

/// The first element outside the tolerance.
#[derive(Clone, PartialEq, Debug)]
pub struct Mismatch {
    /// Its index, one per axis.
    pub index: Vec<usize>,
    /// The device's value.
    pub got: f64,
    /// The interpreter's value.
    pub expected: f64,
}

/// How far a device result is from the interpreter's.
#[derive(Clone, PartialEq, Debug)]
pub struct Comparison {
    /// The result's dtype (the interpreter's).
    pub dtype: DType,
    /// The tolerance applied.
    pub tolerance: ToleranceUsed,
    /// Elements compared.
    pub elements: usize,
    /// The largest `|got - expected|` over elements where both are finite (0 when there are none);
    /// infinite when an element is NaN or infinite on one side only.
    pub max_abs_err: f64,
    /// The largest `|got - expected| / |expected|` over elements with a finite non-zero expected value;
    /// infinite when an element is NaN or infinite on one side only.
    pub max_rel_err: f64,
    /// Elements outside the tolerance (every element when the shapes or dtypes differ).
    pub mismatches: usize,
    /// The first element outside the tolerance.
    pub first_mismatch: Option<Mismatch>,
    /// Set when the shapes or dtypes differ: what was expected and what was found.
    pub layout_mismatch: Option<String>,
}

impl Comparison {
    /// Whether every element is within the tolerance.
    pub fn passed(&self) -> bool {
        self.mismatches == 0 && self.layout_mismatch.is_none()
    }

    /// The comparison as a JSON object (non-finite numbers are the strings `"inf"`, `"-inf"`, `"nan"`).
    pub fn to_json(&self) -> Value {
        json!({
            "dtype": self.dtype.name(),
            "elements": self.elements,
            "tolerance": self.tolerance.to_json(),
            "max_abs_err": number(self.max_abs_err),
            "max_rel_err": number(self.max_rel_err),
            "mismatches": self.mismatches,
            "first_mismatch": self.first_mismatch.as_ref().map(|m| json!({
                "index": m.index,
                "got": number(m.got),
                "expected": number(m.expected),
            })),
            "layout_mismatch": self.layout_mismatch,
        })
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(layout) = &self.layout_mismatch {
            return write!(f, "layout mismatch: {layout}");
        }
        write!(
            f,
            "max abs err {:.3e}, max rel err {:.3e}, {} of {} elements beyond tolerance ({})",
            self.max_abs_err, self.max_rel_err, self.mismatches, self.elements, self.tolerance
        )?;
        if let Some(m) = &self.first_mismatch {
            write!(
                f,
                "; first at {:?}: got {}, expected {}",
                m.index, m.got, m.expected
            )?;
        }
        Ok(())
    }
}

/// Compares a device result with the interpreter's `expected`, with the tolerance of the expected
/// dtype.
pub fn compare(got: &Tensor, expected: &Tensor) -> Comparison {
    compare_with(got, expected, Tolerance::for_dtype(expected.dtype))
}

/// Compares a device result with the interpreter's `expected` with an explicit tolerance.
pub fn compare_with(got: &Tensor, expected: &Tensor, tolerance: Tolerance) -> Comparison {
    compare_inner(
        got,
        expected,
        ToleranceUsed::Table {
            tolerance,
            op: None,
        },
        |_, e| tolerance.allowed(e),
    )
}

/// Ulps of the output dtype allowed on top of twice the bound: the interpreter and the device may round
/// their last result differently.
pub const BOUND_ULPS: f64 = 1.0;

/// Compares a device result with the interpreter's `expected`, whose error bound (from
/// [`moge_lower::interp::eval_with_bounds`]) is `bound`: element `i` passes when it is within
/// `2 bound[i] + 1 ulp(expected[i])`, or, for an output without a bound rule, within the dtype table.
pub fn compare_bounded(got: &Tensor, expected: &Tensor, bound: &Bound) -> Comparison {
    let none = Vec::new();
    let elements = match bound {
        Bound::Elements(b) if b.len() == expected.len() => b,
        Bound::NoRule(op) => {
            let tolerance = Tolerance::for_dtype(expected.dtype);
            return compare_inner(
                got,
                expected,
                ToleranceUsed::Table {
                    tolerance,
                    op: Some(op),
                },
                |_, e| tolerance.allowed(e),
            );
        }
        // A bound of the wrong length (a malformed caller) is no bound: demand exact equality.
        Bound::Elements(_) => &none,
    };
    let dtype = expected.dtype;
    let allowed = |i: usize, e: f64| {
        2.0 * elements.get(i).copied().unwrap_or(0.0) + BOUND_ULPS * ulp(dtype, e)
    };
    let mut comparison = compare_inner(
        got,
        expected,
        ToleranceUsed::Bound {
            ulps: BOUND_ULPS,
            max_allowed: 0.0,
            max_err_ratio: 0.0,
            overflow_dependent: 0,
        },
        allowed,
    );
    if comparison.layout_mismatch.is_none() {
        let (got_values, expected_values) = (values(got), values(expected));
        let (mut max_allowed, mut max_ratio) = (0.0f64, 0.0f64);
        let mut overflow_dependent = 0;
        for (i, (&g, &e)) in got_values.iter().zip(&expected_values).enumerate() {
            if elements.get(i).is_some_and(|b| b.is_infinite()) {
                overflow_dependent += 1;
                continue;
            }
            // What an element is allowed depends on the expected value alone, not on what the
            // device wrote: a NaN from the device must not hide the tolerance it missed.
            if e.is_finite() {
                max_allowed = max_allowed.max(allowed(i, e));
            }
            if !(g.is_finite() && e.is_finite() || within(g, e, allowed(i, e))) {
                // A non-finite mismatch is infinitely far off, whatever the finite ones give.
                max_ratio = f64::INFINITY;
            } else if g.is_finite() && e.is_finite() {
                let a = allowed(i, e);
                let diff = (g - e).abs();
                if diff > 0.0 {
                    max_ratio = max_ratio.max(if a > 0.0 { diff / a } else { f64::INFINITY });
                }
            }
        }
        comparison.tolerance = ToleranceUsed::Bound {
            ulps: BOUND_ULPS,
            max_allowed,
            max_err_ratio: max_ratio,
            overflow_dependent,
        };
    }
    comparison
}

/// Compares with `allowed(i, expected[i])` the largest allowed difference of finite element `i`.
fn compare_inner(
    got: &Tensor,
    expected: &Tensor,
    tolerance: ToleranceUsed,
    allowed: impl Fn(usize, f64) -> f64,
) -> Comparison {
    let elements = expected.len();
    let mut comparison = Comparison {
        dtype: expected.dtype,
        tolerance,
        elements,
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        mismatches: 0,
        first_mismatch: None,
        layout_mismatch: None,
    };
    if got.dtype != expected.dtype || got.shape != expected.shape {
        comparison.layout_mismatch = Some(format!(
            "expected {}{:?}, found {}{:?}",
            expected.dtype, expected.shape, got.dtype, got.shape
        ));
        comparison.mismatches = elements;
        comparison.max_abs_err = f64::INFINITY;
        comparison.max_rel_err = f64::INFINITY;
        return comparison;
    }
    let (got_values, expected_values) = (values(got), values(expected));
    if got_values.len() != elements || expected_values.len() != elements {
        comparison.layout_mismatch = Some(format!(
            "expected {elements} elements, found {} and {}",
            got_values.len(),
            expected_values.len()
        ));
        comparison.mismatches = elements;
        return comparison;
    }
    for (flat, (&g, &e)) in got_values.iter().zip(&expected_values).enumerate() {
        let both_nan = g.is_nan() && e.is_nan();
        let same_infinity = g.is_infinite() && g == e;
        if !(both_nan || same_infinity) {
            let diff = (g - e).abs();
            let diff = if diff.is_nan() { f64::INFINITY } else { diff };
            comparison.max_abs_err = comparison.max_abs_err.max(diff);
            if e != 0.0 || !diff.is_finite() {
                let rel = if e == 0.0 {
                    f64::INFINITY
                } else {
                    diff / e.abs()
                };
                comparison.max_rel_err = comparison.max_rel_err.max(rel);
            }
        }
        if !within(g, e, allowed(flat, e)) {
            comparison.mismatches += 1;
            if comparison.first_mismatch.is_none() {
                comparison.first_mismatch = Some(Mismatch {
                    index: unflatten(flat, &expected.shape),
                    got: g,
                    expected: e,
                });
            }
        }
    }
    comparison
}

/// The elements of a tensor as `f64` (exact for every dtype moge has).
fn values(tensor: &Tensor) -> Vec<f64> {
    match &tensor.data {
        TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
    }
}

/// The multi-index of element `flat` of a C-order tensor of `shape`.
fn unflatten(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (axis, &size) in shape.iter().enumerate().rev() {
        if size > 0 {
            index[axis] = flat % size;
            flat /= size;
        }
    }
    index
}

/// A JSON number; JSON has no literal for non-finite numbers, so they are the strings `"inf"`, `"-inf"`
/// and `"nan"` (which `numpy.float64` and Python's `float` read back).
pub fn number(value: f64) -> Value {
    if value.is_nan() {
        json!("nan")
    } else if value.is_infinite() {
        json!(if value > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(value)
    }
}

/// Microseconds, for JSON.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// `1.5 KiB`, `12 B`, `3.2 MiB`.
pub fn bytes(count: u64) -> String {
    const KIB: f64 = 1024.0;
    let value = count as f64;
    if count < 1024 {
        format!("{count} B")
    } else if value < KIB * KIB {
        format!("{:.1} KiB", value / KIB)
    } else if value < KIB * KIB * KIB {
        format!("{:.2} MiB", value / (KIB * KIB))
    } else {
        format!("{:.2} GiB", value / (KIB * KIB * KIB))
    }
}

fn opt_bytes(count: Option<u64>) -> String {
    count.map(bytes).unwrap_or_else(|| "n/a".to_string())
}

/// `850 us`, `12.3 ms`, `1.20 s`.
pub fn duration(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.0} us")
    } else if micros < 1e6 {
        format!("{:.1} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_tensor(dtype: DType, shape: Vec<usize>, values: Vec<f32>) -> Tensor {
        Tensor::from_f32(dtype, shape, values).unwrap()
    }

    #[test]
    fn tolerances_follow_the_table() {
        let f32_tol = Tolerance::for_dtype(DType::F32);
        // 1 + 1e-5 * 1 + 1e-6 = the edge for expected 1.
        assert!(f32_tol.allows(1.0 + 1.0e-5, 1.0));
        assert!(!f32_tol.allows(1.0 + 1.2e-5, 1.0));
        // Near zero the absolute part decides.
        assert!(f32_tol.allows(9e-7, 0.0));
        assert!(!f32_tol.allows(2e-6, 0.0));
        // bf16: one unit in the last place of 1.0 is 2^-7 = 0.0078125, inside 1e-2.
        assert!(Tolerance::for_dtype(DType::BF16).allows(1.0078125, 1.0));
        assert!(!Tolerance::for_dtype(DType::BF16).allows(1.015625, 1.0));
        // f16: one unit in the last place of 1.0 is 2^-10.
        assert!(Tolerance::for_dtype(DType::F16).allows(1.0 + 1.0 / 1024.0, 1.0));
        assert!(!Tolerance::for_dtype(DType::F16).allows(1.0 + 2.0 / 1024.0, 1.0));
        assert_eq!(Tolerance::for_dtype(DType::I32), Tolerance::EXACT);
        assert!(!Tolerance::EXACT.allows(3.0, 4.0));
        // NaN only matches NaN; infinities match themselves.
        assert!(f32_tol.allows(f64::NAN, f64::NAN));
        assert!(!f32_tol.allows(f64::NAN, 1.0));
        assert!(f32_tol.allows(f64::INFINITY, f64::INFINITY));
        assert!(!f32_tol.allows(f64::INFINITY, f64::NEG_INFINITY));
    }

    #[test]
    fn compare_measures_errors_and_the_first_mismatch() {
        let expected = f32_tensor(DType::F32, vec![2, 3], vec![1.0, 2.0, 0.0, -4.0, 8.0, 0.5]);
        let got = f32_tensor(DType::F32, vec![2, 3], vec![1.0, 2.5, 0.0, -4.0, 8.0, 0.25]);
        let c = compare(&got, &expected);
        // |2.5 - 2| = 0.5 and |0.25 - 0.5| = 0.25: max abs 0.5; relative 0.25 and 0.5: max rel 0.5.
        assert_eq!(c.max_abs_err, 0.5);
        assert_eq!(c.max_rel_err, 0.5);
        assert_eq!(c.mismatches, 2);
        assert_eq!(
            c.first_mismatch,
            Some(Mismatch {
                index: vec![0, 1],
                got: 2.5,
                expected: 2.0
            })
        );
        assert!(!c.passed());
        let json = c.to_json();
        assert_eq!(json["mismatches"], 2);
        assert_eq!(json["first_mismatch"]["index"], json!([0, 1]));
    }

    #[test]
    fn integers_compare_exactly_and_nan_is_reported() {
        let expected = Tensor::from_i32(vec![3], vec![1, 2, 3]).unwrap();
        let got = Tensor::from_i32(vec![3], vec![1, 2, 4]).unwrap();
        let c = compare(&got, &expected);
        assert_eq!((c.mismatches, c.max_abs_err), (1, 1.0));
        let same = compare(&expected, &expected);
        assert!(same.passed());
        assert_eq!((same.max_abs_err, same.max_rel_err), (0.0, 0.0));

        let expected = f32_tensor(DType::F32, vec![2], vec![1.0, f32::NAN]);
        let got = f32_tensor(DType::F32, vec![2], vec![f32::NAN, f32::NAN]);
        let c = compare(&got, &expected);
        assert_eq!(c.mismatches, 1);
        assert!(c.max_abs_err.is_infinite());
        assert_eq!(c.to_json()["max_abs_err"], "inf");
    }

    #[test]
    fn bounded_comparisons_allow_twice_the_bound_and_an_ulp() {
        let expected = f32_tensor(
            DType::F32,
            vec![5],
            vec![1.0, 1.0, f32::NAN, f32::INFINITY, 0.0],
        );
        // Element 0: 1 + 2 * 2^-20 + 2^-23 is exactly at the edge; element 1 one ulp beyond it.
        let edge = 1.0 + 2.0 * f32::powi(2.0, -20) + f32::powi(2.0, -23);
        let got = f32_tensor(
            DType::F32,
            vec![5],
            vec![
                edge,
                edge + f32::powi(2.0, -23),
                f32::NAN,
                f32::INFINITY,
                0.0,
            ],
        );
        let bound = Bound::Elements(vec![
            f64::powi(2.0, -20),
            f64::powi(2.0, -20),
            0.0,
            0.0,
            0.0,
        ]);
        let c = compare_bounded(&got, &expected, &bound);
        assert_eq!(c.mismatches, 1);
        assert_eq!(c.first_mismatch.as_ref().unwrap().index, vec![1]);
        // NaN against NaN and the same infinity match and add no error.
        assert_eq!(c.max_abs_err, f64::from(edge + f32::powi(2.0, -23)) - 1.0);
        let json = c.to_json();
        assert_eq!(json["tolerance"]["rule"], "bound");
        assert_eq!(json["tolerance"]["formula"], "2 B + 1 ulp");
        // Element 1 is (2^-19 + 2^-22) / (2^-19 + 2^-23) = 9/8.5 of its allowance.
        let ratio = json["tolerance"]["max_err_ratio"].as_f64().unwrap();
        assert!((ratio - 9.0 / 8.5).abs() < 1e-12, "{ratio}");
        // Without a rule, the dtype table decides and the report names the op.
        let c = compare_bounded(&got, &expected, &Bound::NoRule("matmul"));
        assert!(c.passed());
        let json = c.to_json();
        assert_eq!(json["tolerance"]["rule"], "dtype");
        assert_eq!(json["tolerance"]["no_bound_rule_for"], "matmul");
    }

    #[test]
    fn overflow_dependent_elements_match_anything_and_non_finite_mismatches_have_infinite_ratio() {
        // Element 0: an overflow-dependent sum (infinite bound): inf against NaN matches. Element 1:
        // an ordinary element 1e-7 off with a bound of 1e-6: ratio below 1. Element 2: expected inf,
        // got a finite value: a mismatch whose ratio is infinite, not left out.
        let expected = f32_tensor(DType::F32, vec![3], vec![f32::INFINITY, 1.0, f32::INFINITY]);
        let got = f32_tensor(DType::F32, vec![3], vec![f32::NAN, 1.0 + 1e-7, 5.0]);
        let bound = Bound::Elements(vec![f64::INFINITY, 1e-6, 0.0]);
        let c = compare_bounded(&got, &expected, &bound);
        assert_eq!(c.mismatches, 1);
        let json = c.to_json();
        assert_eq!(json["tolerance"]["overflow_dependent"], 1);
        assert_eq!(json["tolerance"]["max_err_ratio"], "inf");
        assert!(c.to_string().contains("1 overflow-dependent"), "{c}");
        // Without the non-finite mismatch the ratio is that of element 1 alone.
        let got = f32_tensor(
            DType::F32,
            vec![3],
            vec![f32::NEG_INFINITY, 1.0 + 1e-7, f32::INFINITY],
        );
        let c = compare_bounded(&got, &expected, &bound);
        let ratio = c.to_json()["tolerance"]["max_err_ratio"].as_f64().unwrap();
        let diff = f64::from(1.0f32 + 1e-7) - 1.0;
        assert!(
            (ratio - diff / (2e-6 + f64::powi(2.0, -23))).abs() < 1e-9,
            "{ratio}"
        );
        // The dtype table never reads an infinite expected value as an infinite allowance.
        let expected = f32_tensor(DType::F32, vec![1], vec![f32::INFINITY]);
        let got = f32_tensor(DType::F32, vec![1], vec![f32::NAN]);
        assert_eq!(compare(&got, &expected).mismatches, 1);
        assert!(!Tolerance::for_dtype(DType::F32).allows(f64::NAN, f64::INFINITY));
    }

    #[test]
    fn the_largest_allowed_difference_does_not_depend_on_what_the_device_wrote() {
        // A kernel that wrote nothing leaves NaN; the tolerance it missed is still the expected
        // values' own: 2 * 0.25 + 1 ulp(4.0) for element 1, the larger of the two.
        let expected = f32_tensor(DType::F32, vec![2], vec![1.0, 4.0]);
        let bound = Bound::Elements(vec![0.125, 0.25]);
        let want = 2.0 * 0.25 + f64::powi(2.0, -21);
        for got in [vec![f32::NAN, f32::NAN], vec![1.0, 4.0]] {
            let got = f32_tensor(DType::F32, vec![2], got);
            let c = compare_bounded(&got, &expected, &bound);
            let max_allowed = c.to_json()["tolerance"]["max_allowed"].as_f64().unwrap();
            assert_eq!(max_allowed, want, "{c}");
        }
    }

    #[test]
    fn non_finite_numbers_are_distinguishable_in_json() {
        assert_eq!(number(f64::INFINITY), "inf");
        assert_eq!(number(f64::NEG_INFINITY), "-inf");
        assert_eq!(number(f64::NAN), "nan");
        assert_eq!(number(0.5), 0.5);
        let expected = f32_tensor(DType::F32, vec![2], vec![f32::NAN, 1.0]);
        let got = f32_tensor(DType::F32, vec![2], vec![f32::NEG_INFINITY, 1.0]);
        let c = compare(&got, &expected);
        let json = c.to_json();
        assert_eq!(json["first_mismatch"]["got"], "-inf");
        assert_eq!(json["first_mismatch"]["expected"], "nan");
    }

    #[test]
    fn layouts_must_agree() {
        let expected = f32_tensor(DType::F32, vec![2, 2], vec![0.0; 4]);
        let got = f32_tensor(DType::F32, vec![4], vec![0.0; 4]);
        let c = compare(&got, &expected);
        assert_eq!(c.mismatches, 4);
        assert_eq!(
            c.layout_mismatch.as_deref(),
            Some("expected f32[2, 2], found f32[4]")
        );
    }

    #[test]
    fn sizes_and_durations_read_well() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.00 MiB");
        assert_eq!(duration(Duration::from_micros(850)), "850 us");
        assert_eq!(duration(Duration::from_micros(12_300)), "12.3 ms");
        assert_eq!(duration(Duration::from_millis(1200)), "1.20 s");
    }
}
