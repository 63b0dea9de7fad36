//! The figure: aggregate throughput against the number of guests, one line per network path
//! and the ceiling as a dashed horizontal line, after Figure 3 of Rixner's "Network
//! Virtualization: Breaking the Performance Barrier" (ACM Queue, 2008). Plain SVG, written by
//! hand: axes with ticks and grid, labelled values, a legend.

use std::fmt::Write;

/// One line of the plot.
pub(crate) struct Series {
    pub(crate) label: String,
    pub(crate) color: &'static str,
    /// `circle` or `square`.
    pub(crate) marker: &'static str,
    /// (guests, Mbit/s).
    pub(crate) points: Vec<(f64, f64)>,
    /// (guests, lowest, highest) over repeated runs, drawn as whiskers.
    pub(crate) ranges: Vec<(f64, f64, f64)>,
}

/// What the figure shows.
pub(crate) struct Figure {
    pub(crate) title: String,
    pub(crate) subtitle: String,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) x_max: f64,
    pub(crate) series: Vec<Series>,
    /// (label, Mbit/s).
    pub(crate) ceiling: Option<(String, f64)>,
    /// A line of small print under the plot.
    pub(crate) note: String,
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 500.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 80.0;
const FONT: &str = "Helvetica, Arial, sans-serif";

impl Figure {
    /// The SVG document.
    pub(crate) fn render(&self) -> String {
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let values: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(self.ceiling.iter().map(|c| c.1))
            .filter(|v| *v > 0.0)
            .collect();
        let axis = Axis::for_values(&values);
        let x = |v: f64| LEFT + v / self.x_max * plot_w;
        let y = |v: f64| TOP + plot_h - axis.fraction(v) * plot_h;

        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="{FONT}">"#
        );
        let _ = writeln!(
            s,
            r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="28" font-size="18" font-weight="bold" text-anchor="middle">{}</text>"#,
            WIDTH / 2.0,
            escape(&self.title)
        );
        let _ = writeln!(
            s,
            r##"<text x="{}" y="50" font-size="13" text-anchor="middle" fill="#444">{}</text>"##,
            WIDTH / 2.0,
            escape(&self.subtitle)
        );

        // Grid and ticks.
        for v in axis.ticks() {
            let py = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#e4e4e4"/>"##,
                LEFT + plot_w
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end">{}</text>"#,
                LEFT - 8.0,
                py + 4.0,
                format_tick(v)
            );
        }
        for g in 0..=(self.x_max as u32) {
            let px = x(f64::from(g));
            let _ = writeln!(
                s,
                r##"<line x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}" stroke="#000"/>"##,
                TOP + plot_h,
                TOP + plot_h + 5.0
            );
            let _ = writeln!(
                s,
                r#"<text x="{px:.1}" y="{:.1}" font-size="12" text-anchor="middle">{g}</text>"#,
                TOP + plot_h + 20.0
            );
        }
        // Axes.
        let _ = writeln!(
            s,
            r##"<path d="M{LEFT},{TOP} V{:.1} H{:.1}" fill="none" stroke="#000" stroke-width="1.2"/>"##,
            TOP + plot_h,
            LEFT + plot_w
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="14" text-anchor="middle">{}</text>"#,
            LEFT + plot_w / 2.0,
            TOP + plot_h + 45.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(22,{:.1}) rotate(-90)" font-size="14" text-anchor="middle">{}</text>"#,
            TOP + plot_h / 2.0,
            escape(&self.y_label)
        );
        if axis.log {
            let _ = writeln!(
                s,
                r##"<text x="{LEFT}" y="{:.1}" font-size="11" fill="#666">log scale</text>"##,
                TOP - 6.0
            );
        }

        // Ceiling.
        if let Some((_, value)) = &self.ceiling {
            let py = y(*value);
            let _ = writeln!(
                s,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#555" stroke-width="1.8" stroke-dasharray="8 5"/>"##,
                LEFT + plot_w
            );
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="end" fill="#555">{:.0}</text>"##,
                LEFT + plot_w - 4.0,
                py - 6.0,
                value
            );
        }

        // Whiskers: the range of repeated runs, each series a little to its own side.
        let count = self.series.len() as f64;
        for (i, series) in self.series.iter().enumerate() {
            let dx = (i as f64 - (count - 1.0) / 2.0) * 14.0;
            for &(gx, lo, hi) in &series.ranges {
                let px = x(gx) + dx;
                let _ = writeln!(
                    s,
                    r#"<path d="M{:.1},{:.1} H{:.1} M{px:.1},{:.1} V{:.1} M{:.1},{:.1} H{:.1}" stroke="{}" stroke-width="1.2" opacity="0.7" fill="none"/>"#,
                    px - 3.0,
                    y(lo),
                    px + 3.0,
                    y(lo),
                    y(hi),
                    px - 3.0,
                    y(hi),
                    px + 3.0,
                    series.color
                );
            }
        }

        // Series.
        for series in &self.series {
            if series.points.len() > 1 {
                let path: Vec<String> = series
                    .points
                    .iter()
                    .map(|&(gx, gy)| format!("{:.1},{:.1}", x(gx), y(gy)))
                    .collect();
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="2.2"/>"#,
                    path.join(" "),
                    series.color
                );
            }
            for &(gx, gy) in &series.points {
                marker(&mut s, series.marker, series.color, x(gx), y(gy));
                // The highest value at this x is labelled above its marker, the others below.
                let highest = self
                    .series
                    .iter()
                    .flat_map(|o| o.points.iter())
                    .filter(|p| p.0 == gx)
                    .all(|p| p.1 <= gy);
                // Clear of this point's whisker, if it has one.
                let (lo, hi) = series
                    .ranges
                    .iter()
                    .find(|r| r.0 == gx)
                    .map_or((gy, gy), |r| (r.1, r.2));
                let label_y = if highest {
                    (y(gy) - 10.0).min(y(hi) - 6.0)
                } else {
                    (y(gy) + 20.0).max(y(lo) + 14.0)
                };
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{label_y:.1}" font-size="11" text-anchor="middle" fill="{}">{:.0}</text>"#,
                    x(gx),
                    series.color,
                    gy
                );
            }
        }

        // Legend, right of the plot.
        let lx = LEFT + plot_w + 20.0;
        let mut ly = TOP + 10.0;
        for series in &self.series {
            let _ = writeln!(
                s,
                r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="2.2"/>"#,
                lx + 30.0,
                series.color
            );
            marker(&mut s, series.marker, series.color, lx + 15.0, ly);
            legend_text(&mut s, lx + 40.0, ly, &series.label);
            ly += 40.0;
        }
        if let Some((label, _)) = &self.ceiling {
            let _ = writeln!(
                s,
                r##"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="#555" stroke-width="1.8" stroke-dasharray="8 5"/>"##,
                lx + 30.0
            );
            legend_text(&mut s, lx + 40.0, ly, label);
        }
        let _ = writeln!(
            s,
            r##"<text x="{LEFT}" y="{:.1}" font-size="11" fill="#666">{}</text>"##,
            HEIGHT - 10.0,
            escape(&self.note)
        );
        s.push_str("</svg>\n");
        s
    }
}

/// Legend text, split on `\n` into lines.
fn legend_text(s: &mut String, x: f64, y: f64, label: &str) {
    for (i, line) in label.split('\n').enumerate() {
        let _ = writeln!(
            s,
            r#"<text x="{x}" y="{:.1}" font-size="12">{}</text>"#,
            y + 4.0 + 14.0 * i as f64,
            escape(line)
        );
    }
}

fn marker(s: &mut String, kind: &str, color: &str, x: f64, y: f64) {
    if kind == "square" {
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{color}"/>"#,
            x - 4.5,
            y - 4.5
        );
    } else {
        let _ = writeln!(
            s,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="5" fill="{color}"/>"#
        );
    }
}

/// The y axis: linear from 0, or logarithmic over whole decades when the values span more
/// than a factor of [`LOG_SPAN`] (the ceiling far above the guests' lines, as under TCG).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    log: bool,
    min: f64,
    max: f64,
    /// Linear tick step.
    step: f64,
}

/// Values spanning more than this factor get a logarithmic axis.
const LOG_SPAN: f64 = 8.0;

impl Axis {
    fn for_values(values: &[f64]) -> Axis {
        let max = values.iter().copied().fold(0.0, f64::max);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        if max > 0.0 && max / min > LOG_SPAN {
            return Axis {
                log: true,
                min: 10f64.powf((min / 1.2).log10().floor()),
                max: 10f64.powf((max * 1.2).log10().ceil()),
                step: 0.0,
            };
        }
        let (max, step) = nice_axis(max * 1.12);
        Axis {
            log: false,
            min: 0.0,
            max,
            step,
        }
    }

    /// Where `v` falls, 0 at the bottom and 1 at the top.
    fn fraction(&self, v: f64) -> f64 {
        if self.log {
            (v.max(self.min).log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
        } else {
            v / self.max
        }
    }

    /// Tick values: every step, or 1, 2 and 5 of each decade.
    fn ticks(&self) -> Vec<f64> {
        let mut ticks = Vec::new();
        if self.log {
            let mut decade = self.min;
            while decade < self.max * 1.001 {
                for m in [1.0, 2.0, 5.0] {
                    if m * decade <= self.max * 1.001 {
                        ticks.push(m * decade);
                    }
                }
                decade *= 10.0;
            }
        } else {
            let mut v = 0.0;
            while v <= self.max + self.step / 1000.0 {
                ticks.push(v);
                v += self.step;
            }
        }
        ticks
    }
}

/// A round axis maximum at or above `max` and its tick step (5 to 10 ticks).
fn nice_axis(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 6.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    ((max / step).ceil() * step, step)
}

fn format_tick(v: f64) -> String {
    if v.fract().abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_is_round_and_covers_the_data() {
        assert_eq!(nice_axis(1120.0), (1200.0, 200.0));
        assert_eq!(nice_axis(95.0), (100.0, 20.0));
        let (max, step) = nice_axis(4321.0);
        assert!(max >= 4321.0 && (max / step) <= 10.0);
    }

    #[test]
    fn far_apart_values_get_a_log_axis() {
        let axis = Axis::for_values(&[200.0, 280.0, 5900.0]);
        assert!(axis.log);
        assert_eq!((axis.min, axis.max), (100.0, 10_000.0));
        assert_eq!(
            axis.ticks(),
            [100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0]
        );
        assert!((axis.fraction(1000.0) - 0.5).abs() < 1e-9);
        assert!(!Axis::for_values(&[200.0, 280.0, 900.0]).log);
    }

    #[test]
    fn renders_lines_ceiling_and_legend() {
        let figure = Figure {
            title: "t".into(),
            subtitle: "s & u".into(),
            x_label: "guests".into(),
            y_label: "Mbit/s".into(),
            x_max: 8.0,
            series: vec![Series {
                label: "cdna".into(),
                color: "#1f4e9c",
                marker: "circle",
                points: vec![(2.0, 100.0), (8.0, 200.0)],
                ranges: vec![(2.0, 90.0, 110.0)],
            }],
            ceiling: Some(("ceiling".into(), 300.0)),
            note: "n".into(),
        };
        let svg = figure.render();
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("<polyline"));
        assert!(svg.contains("stroke-dasharray"));
        assert!(svg.contains("s &amp; u"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("opacity=\"0.7\"").count(), 1);
    }
}
