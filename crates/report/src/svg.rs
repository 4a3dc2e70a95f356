//! Charts as inline SVG: no scripts, no fonts or styles fetched, readable when printed. Each
//! function returns one `<svg>` element with a title for screen readers.

use std::fmt::Write;

use crate::escape;

/// Colours for series, distinguishable in greyscale print and for common colour blindness
/// (Okabe–Ito).
pub const PALETTE: [&str; 6] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];

/// A named series of points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points in data coordinates.
    pub points: Vec<(f64, f64)>,
    /// Draw markers instead of a line.
    pub markers: bool,
}

/// A line or scatter chart on [x0, x1] × [y0, y1].
#[derive(Debug, Clone)]
pub struct Chart {
    /// Title (also the accessible name).
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// X range.
    pub x: (f64, f64),
    /// Y range.
    pub y: (f64, f64),
    /// Draw the y = x diagonal (ROC chance line, perfect calibration).
    pub diagonal: bool,
    /// The series.
    pub series: Vec<Series>,
}

const W: f64 = 360.0;
const H: f64 = 300.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;

fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    (0..=4).map(|i| lo + (hi - lo) * f64::from(i) / 4.0).collect()
}

impl Chart {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x - self.x.0) / (self.x.1 - self.x.0).max(f64::MIN_POSITIVE) * (W - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        H - BOTTOM - (y - self.y.0) / (self.y.1 - self.y.0).max(f64::MIN_POSITIVE) * (H - TOP - BOTTOM)
    }

    /// Where the legend goes (its left edge and the top of its first row, in pixels): the corner
    /// of the plot whose legend-sized box the drawn lines and markers cross least, top-left on a
    /// tie. Lines are followed every few pixels, so a line through the box counts, not only its
    /// points.
    fn legend_corner(&self, drawn: &[Vec<(f64, f64)>]) -> (f64, f64) {
        let longest = self.series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as f64;
        let (w, h) = (22.0 + 5.5 * longest, 6.0 + 14.0 * self.series.len() as f64);
        let (left, right, top, bottom) = (LEFT + 8.0, W - RIGHT - 4.0 - w, TOP, H - BOTTOM - h - 4.0);
        let mut samples = Vec::new();
        for (series, pts) in self.series.iter().zip(drawn) {
            samples.extend_from_slice(pts);
            if !series.markers {
                for pair in pts.windows(2) {
                    let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
                    let steps = ((x1 - x0).hypot(y1 - y0) / 4.0).ceil().min(200.0) as usize;
                    samples.extend((1..steps).map(|k| {
                        let f = k as f64 / steps as f64;
                        (x0 + f * (x1 - x0), y0 + f * (y1 - y0))
                    }));
                }
            }
        }
        let crossing = |(x, y): (f64, f64)| {
            samples.iter().filter(|&&(px, py)| px >= x && px <= x + w && py >= y && py <= y + h).count()
        };
        [(left, top), (right, top), (right, bottom), (left, bottom)]
            .into_iter()
            .min_by_key(|&corner| crossing(corner))
            .unwrap_or((left, top))
    }

    /// The SVG element.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}"><title>{t}</title>"#,
            t = escape(&self.title)
        );
        let _ =
            write!(s, r##"<text x="{}" y="16" font-size="13" font-weight="600">{}</text>"##, LEFT, escape(&self.title));
        // Grid and ticks.
        for t in ticks(self.x.0, self.x.1) {
            let x = self.px(t);
            let _ = write!(
                s,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#e3e3e3"/><text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"##,
                TOP,
                H - BOTTOM,
                H - BOTTOM + 14.0,
                fmt_tick(t)
            );
        }
        for t in ticks(self.y.0, self.y.1) {
            let y = self.py(t);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
                W - RIGHT,
                LEFT - 4.0,
                y + 3.0,
                fmt_tick(t)
            );
        }
        let _ = write!(
            s,
            r##"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#888"/>"##,
            W - LEFT - RIGHT,
            H - TOP - BOTTOM
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text><text transform="translate(12 {:.1}) rotate(-90)" font-size="11" text-anchor="middle">{}</text>"##,
            (LEFT + W - RIGHT) / 2.0,
            H - 8.0,
            escape(&self.x_label),
            (TOP + H - BOTTOM) / 2.0,
            escape(&self.y_label)
        );
        if self.diagonal {
            let lo = self.x.0.max(self.y.0);
            let hi = self.x.1.min(self.y.1);
            let _ = write!(
                s,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 3"/>"##,
                self.px(lo),
                self.py(lo),
                self.px(hi),
                self.py(hi)
            );
        }
        let drawn: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|series| {
                series
                    .points
                    .iter()
                    .filter(|(x, y)| x.is_finite() && y.is_finite())
                    .map(|&(x, y)| (self.px(x.clamp(self.x.0, self.x.1)), self.py(y.clamp(self.y.0, self.y.1))))
                    .collect()
            })
            .collect();
        let (legend_x, legend_y) = self.legend_corner(&drawn);
        for (i, (series, pts)) in self.series.iter().zip(drawn).enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            if series.markers {
                for (x, y) in &pts {
                    let _ = write!(s, r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.2" fill="{colour}"/>"##);
                }
            } else if !pts.is_empty() {
                let d: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = write!(
                    s,
                    r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.8"/>"##,
                    d.join(" ")
                );
            }
            // Legend, in the corner of the plot the lines cross least.
            let ly = legend_y + 14.0 + 14.0 * i as f64;
            let _ = write!(
                s,
                r##"<rect x="{:.1}" y="{:.1}" width="10" height="3" fill="{colour}"/><text x="{:.1}" y="{:.1}" font-size="10">{}</text>"##,
                legend_x,
                ly - 4.0,
                legend_x + 14.0,
                ly,
                escape(&series.name)
            );
        }
        s.push_str("</svg>");
        s
    }
}

fn fmt_tick(t: f64) -> String {
    if (t - t.round()).abs() < 1e-9 {
        format!("{t:.0}")
    } else if (t * 100.0 - (t * 100.0).round()).abs() < 1e-9 {
        format!("{t:.2}")
    } else {
        format!("{t:.3}")
    }
}

/// One bar: label, value, optional interval.
pub type Bar = (String, f64, Option<(f64, f64)>);

/// Horizontal bars with optional interval whiskers, e.g. AUROC per subgroup; `reference` draws a
/// vertical line (the overall value).
pub fn bars(title: &str, rows: &[Bar], range: (f64, f64), reference: Option<f64>) -> String {
    let row_h = 20.0;
    let label_w = 130.0;
    let plot_w = 220.0;
    let height = TOP + row_h * rows.len() as f64 + 30.0;
    let width = label_w + plot_w + 50.0;
    let px =
        |v: f64| label_w + (v.clamp(range.0, range.1) - range.0) / (range.1 - range.0).max(f64::MIN_POSITIVE) * plot_w;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{t}"><title>{t}</title><text x="4" y="16" font-size="13" font-weight="600">{t}</text>"#,
        t = escape(title)
    );
    for (i, (name, value, ci)) in rows.iter().enumerate() {
        let y = TOP + row_h * i as f64;
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text><rect x="{label_w}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="10">{value:.3}</text>"##,
            label_w - 6.0,
            y + 13.0,
            escape(name),
            y + 4.0,
            (px(*value) - label_w).max(0.0),
            row_h - 8.0,
            PALETTE[0],
            px(range.1) + 4.0,
            y + 13.0
        );
        if let Some((lo, hi)) = ci {
            let _ = write!(
                s,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#222"/>"##,
                px(*lo),
                y + row_h / 2.0,
                px(*hi),
                y + row_h / 2.0
            );
        }
    }
    if let Some(r) = reference {
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#D55E00" stroke-dasharray="3 2"/>"##,
            TOP + row_h * rows.len() as f64,
            x = px(r)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{label_w}" y="{:.1}" font-size="10">{}</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text></svg>"##,
        height - 8.0,
        fmt_tick(range.0),
        label_w + plot_w,
        height - 8.0,
        fmt_tick(range.1)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_well_formed_svg_with_escaped_text() {
        let c = Chart {
            title: "ROC <held-out>".into(),
            x_label: "1 − specificity".into(),
            y_label: "sensitivity".into(),
            x: (0.0, 1.0),
            y: (0.0, 1.0),
            diagonal: true,
            series: vec![Series {
                name: "a & b".into(),
                points: vec![(0.0, 0.0), (0.5, 0.8), (1.0, 1.0)],
                markers: false,
            }],
        };
        let svg = c.render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("ROC &lt;held-out&gt;") && svg.contains("a &amp; b"));
        assert!(svg.contains("<polyline"));
        assert_eq!(svg.matches("<svg").count(), 1);
        let b = bars(
            "AUROC by sex",
            &[("F".into(), 0.8, Some((0.75, 0.85))), ("M".into(), 0.7, None)],
            (0.5, 1.0),
            Some(0.76),
        );
        assert!(b.contains(">F<") && b.contains("0.800"));
    }

    /// The legend's first swatch: (x, y) in pixels.
    fn legend_at(svg: &str) -> (f64, f64) {
        let at = svg.find(r#"width="10" height="3""#).expect("a legend swatch");
        let head = &svg[svg[..at].rfind("<rect").expect("rect")..at];
        let attr = |name: &str| -> f64 {
            let from = head.find(&format!("{name}=\"")).expect("attribute") + name.len() + 2;
            head[from..].split('"').next().expect("value").parse().expect("number")
        };
        (attr("x"), attr("y"))
    }

    #[test]
    fn the_legend_goes_where_the_lines_are_not() {
        let chart = |points: Vec<(f64, f64)>| Chart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x: (0.0, 1.0),
            y: (0.0, 1.0),
            diagonal: false,
            series: vec![Series { name: "a line".into(), points, markers: false }],
        };
        // A line along the top: the legend drops to the bottom.
        let (_, y) = legend_at(&chart(vec![(0.0, 0.98), (1.0, 0.95)]).render());
        assert!(y > H / 2.0, "legend at y = {y}");
        // Two points only, the line between them across the top-left corner (a decision curve
        // falling from the top-left): the legend goes right, though no point lies in the corner.
        let (x, y) = legend_at(&chart(vec![(0.0, 1.0), (0.6, 0.0)]).render());
        assert!(x > W / 2.0 && y < H / 2.0, "legend at ({x}, {y})");
        // Nothing in the way: top-left, as before.
        let (x, y) = legend_at(&chart(vec![(0.6, 0.1), (1.0, 0.2)]).render());
        assert!(x < W / 2.0 && y < H / 2.0, "legend at ({x}, {y})");
    }
}
