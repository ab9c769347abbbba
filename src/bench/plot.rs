//! `bench.svg`: the modeled time and the roofline time against the swept dim, written by hand
//! (a few lines of SVG need no plotting crate) with every number formatted to fixed digits, so the
//! same rows give the same bytes.

use std::fmt::Write as _;

use super::{BenchRow, Sweep};

/// Plot area in SVG user units: the whole picture, and the margins around the axes.
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// One axis: its range, and whether it is logarithmic (a range spanning more than 10x).
struct Axis {
    low: f64,
    high: f64,
    log: bool,
}

impl Axis {
    /// The axis over `values` (positive and finite): logarithmic when they span more than 10x;
    /// a linear axis starts at 0.
    fn over(values: &[f64]) -> Axis {
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(0.0, f64::max);
        if values.is_empty() || !low.is_finite() || high <= 0.0 {
            return Axis {
                low: 0.0,
                high: 1.0,
                log: false,
            };
        }
        if low > 0.0 && high / low > 10.0 {
            Axis {
                low: 10f64.powf(low.log10().floor()),
                high: 10f64.powf(high.log10().ceil()),
                log: true,
            }
        } else {
            Axis {
                low: 0.0,
                high: nice_ceiling(high),
                log: false,
            }
        }
    }

    /// Where `value` lies on the axis, 0 to 1.
    fn fraction(&self, value: f64) -> f64 {
        if self.log {
            (value.log10() - self.low.log10()) / (self.high.log10() - self.low.log10())
        } else {
            (value - self.low) / (self.high - self.low)
        }
    }

    /// The tick values: the powers of ten of a log axis, five steps of a linear one.
    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let (from, to) = (
                self.low.log10().round() as i32,
                self.high.log10().round() as i32,
            );
            (from..=to).map(|e| 10f64.powi(e)).collect()
        } else {
            (0..=5)
                .map(|i| self.low + (self.high - self.low) * f64::from(i) / 5.0)
                .collect()
        }
    }
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `value`.
fn nice_ceiling(value: f64) -> f64 {
    let power = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&v| v >= value)
        .unwrap_or(10.0 * power)
}

/// A tick label: short and exact enough (`1e3` style only for log axes past 10^4).
fn label(value: f64) -> String {
    if value >= 1e4 || (value > 0.0 && value < 1e-2) {
        format!("1e{}", value.log10().round() as i32)
    } else if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// `bench.svg` for `rows` of `kernel`: one circle per size that ran (class `modeled`) joined by a
/// line, the roofline as a dashed line with a square per size (class `roofline`).
pub fn svg(kernel: &str, target: &str, sweep: &Sweep, rows: &[super::BenchRow]) -> String {
    let ran: Vec<(f64, f64, f64)> = rows
        .iter()
        .filter_map(|r: &BenchRow| {
            let m = r.outcome.as_ref().ok()?;
            Some((r.size as f64, m.time_us, m.roofline_us))
        })
        .collect();
    let xs: Vec<f64> = ran.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = ran
        .iter()
        .flat_map(|p| [p.1, p.2])
        .filter(|v| *v > 0.0)
        .collect();
    let (x_axis, y_axis) = (Axis::over(&xs), Axis::over(&ys));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + x_axis.fraction(x) * plot_w;
    let py = |y: f64| TOP + (1.0 - y_axis.fraction(y)) * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{HEIGHT:.0}\" viewBox=\"0 0 {WIDTH:.0} {HEIGHT:.0}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{} on {}: modeled time vs {} (timing model, not measured)</text>",
        WIDTH / 2.0,
        escape(kernel),
        escape(target),
        escape(&sweep.dim)
    );
    // Axes, ticks and grid.
    let _ = writeln!(
        s,
        "<path d=\"M{LEFT:.1},{TOP:.1} V{:.1} H{:.1}\" fill=\"none\" stroke=\"black\"/>",
        TOP + plot_h,
        LEFT + plot_w
    );
    for tick in x_axis.ticks() {
        let x = px(tick);
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP,
            TOP + plot_h,
            TOP + plot_h + 16.0,
            label(tick)
        );
    }
    for tick in y_axis.ticks() {
        let y = py(tick);
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            label(tick)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}{}</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 18.0,
        escape(&sweep.dim),
        if x_axis.log { " (log)" } else { "" }
    );
    let _ = writeln!(
        s,
        "<text transform=\"translate(20,{:.1}) rotate(-90)\" text-anchor=\"middle\">time, us{}</text>",
        TOP + plot_h / 2.0,
        if y_axis.log { " (log)" } else { "" }
    );
    // The two series.
    let line = |points: &[(f64, f64)]| -> String {
        points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let roofline: Vec<(f64, f64)> = ran.iter().map(|p| (p.0, p.2)).collect();
    let modeled: Vec<(f64, f64)> = ran.iter().map(|p| (p.0, p.1)).collect();
    let _ = writeln!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#888\" stroke-dasharray=\"5,4\"/>",
        line(&roofline)
    );
    for (x, y) in &roofline {
        let _ = writeln!(
            s,
            "<rect class=\"roofline\" x=\"{:.1}\" y=\"{:.1}\" width=\"6\" height=\"6\" fill=\"#888\"/>",
            px(*x) - 3.0,
            py(*y) - 3.0
        );
    }
    let _ = writeln!(
        s,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\"/>",
        line(&modeled)
    );
    for (x, y) in &modeled {
        let _ = writeln!(
            s,
            "<circle class=\"modeled\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#1f5fbf\"/>",
            px(*x),
            py(*y)
        );
    }
    // Legend.
    let lx = LEFT + plot_w + 16.0;
    let _ = writeln!(
        s,
        "<circle cx=\"{lx:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"#1f5fbf\"/><text x=\"{:.1}\" y=\"{:.1}\">modeled time</text>",
        TOP + 10.0,
        lx + 10.0,
        TOP + 14.0
    );
    let _ = writeln!(
        s,
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"6\" height=\"6\" fill=\"#888\"/><text x=\"{:.1}\" y=\"{:.1}\">roofline</text>",
        lx - 3.0,
        TOP + 27.0,
        lx + 10.0,
        TOP + 34.0
    );
    let failed = rows.iter().filter(|r| r.outcome.is_err()).count();
    if failed > 0 {
        let _ = writeln!(
            s,
            "<text x=\"{lx:.1}\" y=\"{:.1}\">{failed} size(s) failed</text>",
            TOP + 56.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Escapes text for XML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_are_logarithmic_past_ten_times_and_linear_below() {
        let log = Axis::over(&[1.0, 4096.0]);
        assert!(log.log);
        assert_eq!((log.low, log.high), (1.0, 10000.0));
        assert_eq!(log.ticks(), vec![1.0, 10.0, 100.0, 1000.0, 10000.0]);
        assert!((log.fraction(100.0) - 0.5).abs() < 1e-12);
        let linear = Axis::over(&[3.0, 7.0]);
        assert!(!linear.log);
        assert_eq!((linear.low, linear.high), (0.0, 10.0));
        assert!((linear.fraction(5.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn nice_ceilings_and_labels() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(2.2), 2.5);
        assert_eq!(nice_ceiling(0.3), 0.5);
        assert_eq!(label(100.0), "100");
        assert_eq!(label(1e5), "1e5");
        assert_eq!(label(2.5), "2.50");
    }
}
