//! Server-side SVG charts for the reports page: no chart service, no script, self-contained
//! (numbers and dates only, escaped anyway). Written here: no well-kept crate draws small
//! accessible inline SVG bar and line charts without a runtime.

use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 36.0;
const BLUE: &str = "#005eb8";
const GRID: &str = "#d8dde0";
const TEXT: &str = "#4c6272";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// 1, 2 or 5 times a power of ten, so about four gridlines cover `max`.
fn step(max: f64) -> f64 {
    let raw = (max / 4.0).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.1}")
    }
}

struct Frame {
    svg: String,
    y_max: f64,
    n: usize,
}

impl Frame {
    fn new(id: &str, desc: &str, labels: &[String], y_max: f64, unit: &str) -> Frame {
        let step = step(y_max);
        let y_max = (y_max / step).ceil().max(1.0) * step;
        let mut svg = String::new();
        let _ = write!(
            svg,
            // No fixed height: the chart scales with the page's width.
            "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" width=\"100%\" \
             preserveAspectRatio=\"xMinYMin meet\" role=\"img\" \
             aria-labelledby=\"{id}-title\" font-family=\"Arial, sans-serif\" font-size=\"12\" \
             xmlns=\"http://www.w3.org/2000/svg\"><title id=\"{id}-title\">{}</title>",
            esc(desc)
        );
        let mut frame = Frame {
            svg,
            y_max,
            n: labels.len().max(1),
        };
        let mut v = 0.0;
        while v <= y_max + 1e-9 {
            let y = frame.y(v);
            let _ = write!(
                frame.svg,
                "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{TEXT}\">{}{}</text>",
                W - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                fmt_num(v),
                esc(unit.trim())
            );
            v += step;
        }
        let every = labels.len().div_ceil(8).max(1);
        for (i, label) in labels.iter().enumerate() {
            if i % every == 0 {
                let _ = write!(
                    frame.svg,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"{TEXT}\">{}</text>",
                    frame.x(i),
                    H - BOTTOM + 18.0,
                    esc(label)
                );
            }
        }
        frame
    }

    fn band(&self) -> f64 {
        (W - LEFT - RIGHT) / self.n as f64
    }

    fn x(&self, i: usize) -> f64 {
        LEFT + self.band() * (i as f64 + 0.5)
    }

    fn y(&self, v: f64) -> f64 {
        TOP + (H - TOP - BOTTOM) * (1.0 - (v / self.y_max).clamp(0.0, 1.0))
    }

    fn finish(mut self) -> String {
        let _ = write!(
            self.svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{TEXT}\"/></svg>",
            W - RIGHT,
            H - BOTTOM,
            H - BOTTOM
        );
        self.svg
    }
}

/// A bar per week.
pub fn bars(id: &str, desc: &str, labels: &[String], values: &[i64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut f = Frame::new(id, desc, labels, max, "");
    let width = f.band() * 0.7;
    for (i, v) in values.iter().enumerate() {
        let y = f.y(*v as f64);
        let _ = write!(
            f.svg,
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{BLUE}\">\
             <title>{}: {v}</title></rect>",
            f.x(i) - width / 2.0,
            (H - BOTTOM - y).max(0.0),
            esc(labels.get(i).map_or("", String::as_str))
        );
    }
    f.finish()
}

/// A line through the weeks that have a value (gaps where a week has none).
pub fn line(
    id: &str,
    desc: &str,
    labels: &[String],
    values: &[Option<f64>],
    fixed_max: Option<f64>,
    unit: &str,
) -> String {
    let max = fixed_max.unwrap_or_else(|| {
        values
            .iter()
            .flatten()
            .copied()
            .fold(0.0, f64::max)
            .max(1.0)
    });
    let mut f = Frame::new(id, desc, labels, max, unit);
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut runs = Vec::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => run.push((f.x(i), f.y(*v))),
            None => runs.push(std::mem::take(&mut run)),
        }
    }
    runs.push(run);
    for r in runs.iter().filter(|r| r.len() > 1) {
        let points: Vec<String> = r.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = write!(
            f.svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{BLUE}\" stroke-width=\"2\"/>",
            points.join(" ")
        );
    }
    for (i, v) in values.iter().enumerate() {
        if let Some(v) = v {
            let _ = write!(
                f.svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{BLUE}\"><title>{}: {}{}</title></circle>",
                f.x(i),
                f.y(*v),
                esc(labels.get(i).map_or("", String::as_str)),
                fmt_num((v * 10.0).round() / 10.0),
                esc(unit)
            );
        }
    }
    f.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gridline_steps_are_round_numbers() {
        assert_eq!(step(100.0), 50.0);
        assert_eq!(step(8.0), 2.0);
        assert_eq!(step(3.0), 1.0);
        assert_eq!(step(47.0), 20.0);
    }

    #[test]
    fn charts_are_self_contained_svg() {
        let labels = vec!["23 Nov".to_string(), "30 Nov".to_string()];
        let svg = line(
            "c",
            "A <test>",
            &labels,
            &[Some(50.0), None],
            Some(100.0),
            "%",
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("A &lt;test&gt;"));
        assert!(!svg.contains("<script"));
        let svg = bars("b", "Bars", &labels, &[3, 0]);
        assert_eq!(svg.matches("<rect").count(), 2);
    }
}
