//! Small inline SVG charts for the HTML report: no script, no fonts or files fetched, so the
//! report renders offline and prints. One line chart (several series over a shared x axis) and
//! one bar chart; axes carry a few round tick labels.

use std::fmt::Write as _;

use crate::html::escape;

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 28.0;

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub values: &'a [f64],
    pub color: &'a str,
}

/// A round step for about `n` ticks over `0..=max`.
fn tick_step(max: f64, n: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let raw = max / n;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

fn frame(o: &mut String, key: &str, title: &str, ymax: f64, label: &dyn Fn(f64) -> String) -> f64 {
    let _ = write!(
        o,
        r#"<svg class="chart" data-chart="{k}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title><text x="{LEFT}" y="16" class="title">{t}</text>"#,
        k = escape(key),
        t = escape(title)
    );
    let step = tick_step(ymax, 4.0);
    let top = (ymax / step).ceil().max(1.0) * step;
    let plot_h = H - TOP - BOTTOM;
    let mut v = 0.0;
    while v <= top + step / 2.0 {
        let y = TOP + plot_h - v / top * plot_h;
        let _ = write!(
            o,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            escape(&label(v))
        );
        v += step;
    }
    top
}

/// A shaded span of the x axis, `[start, end)` in seconds, with a tooltip.
pub struct Band {
    pub start: f64,
    pub end: f64,
    pub label: String,
}

/// A line chart of `series` (same length) over `x` (seconds since the start), with `bands`
/// shaded behind the lines. `key` names the chart (`data-chart`) for tests and styling.
pub fn line_chart(
    key: &str,
    title: &str,
    x: &[f64],
    series: &[Series],
    bands: &[Band],
    label: &dyn Fn(f64) -> String,
) -> String {
    let mut o = String::new();
    let ymax = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = frame(&mut o, key, title, ymax, label);
    let xmax = x.iter().copied().fold(1.0, f64::max);
    let (plot_w, plot_h) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let px = |t: f64| LEFT + t.clamp(0.0, xmax) / xmax * plot_w;
    let py = |v: f64| TOP + plot_h - v.max(0.0) / top * plot_h;
    for b in bands {
        let (x0, x1) = (px(b.start), px(b.end));
        let _ = write!(
            o,
            r#"<rect x="{x0:.1}" y="{TOP}" width="{:.1}" height="{plot_h}" class="band"><title>{}</title></rect>"#,
            (x1 - x0).max(1.0),
            escape(&b.label)
        );
    }
    // Legends right-aligned above the plot, 80 px apart.
    let legend_x = |k: usize| W - RIGHT - 80.0 * (series.len() - k) as f64 + 10.0;
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = x
            .iter()
            .zip(s.values)
            .filter(|(_, v)| v.is_finite())
            .map(|(t, v)| format!("{:.1},{:.1}", px(*t), py(*v)))
            .collect();
        let _ = write!(
            o,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.5"><title>{}</title></polyline><text x="{:.1}" y="16" class="legend" fill="{}">{}</text>"#,
            points.join(" "),
            s.color,
            escape(s.name),
            legend_x(k),
            s.color,
            escape(s.name)
        );
    }
    let _ = write!(
        o,
        r#"<text x="{LEFT}" y="{:.1}" class="tick">0 s</text><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{xmax:.0} s</text></svg>"#,
        H - 8.0,
        W - RIGHT,
        H - 8.0
    );
    o
}

/// A bar chart: one bar per `(label, value)`.
pub fn bar_chart(
    key: &str,
    title: &str,
    bars: &[(String, f64)],
    label: &dyn Fn(f64) -> String,
) -> String {
    let mut o = String::new();
    let ymax = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let top = frame(&mut o, key, title, ymax, label);
    let (plot_w, plot_h) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let n = bars.len().max(1) as f64;
    let bw = plot_w / n;
    for (i, (name, v)) in bars.iter().enumerate() {
        let h = v.max(0.0) / top * plot_h;
        let x = LEFT + i as f64 * bw;
        let _ = write!(
            o,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" class="bar"><title>{}: {}</title></rect>"#,
            x + 1.0,
            TOP + plot_h - h,
            (bw - 2.0).max(1.0),
            escape(name),
            escape(&label(*v))
        );
        // Label every few bars so they do not overlap.
        let every = (n / 8.0).ceil() as usize;
        if i % every.max(1) == 0 {
            let _ = write!(
                o,
                r#"<text x="{:.1}" y="{:.1}" class="tick">{}</text>"#,
                x + 1.0,
                H - 8.0,
                escape(name)
            );
        }
    }
    o.push_str("</svg>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(100.0, 4.0), 50.0);
        assert_eq!(tick_step(0.9, 4.0), 0.5);
        assert_eq!(tick_step(0.0, 4.0), 1.0);
    }

    #[test]
    fn a_line_chart_has_one_polyline_per_series_and_no_external_reference() {
        let x = [0.0, 1.0, 2.0];
        let svg = line_chart(
            "rate",
            "rate <&>",
            &x,
            &[
                Series {
                    name: "achieved",
                    values: &[1.0, 2.0, 3.0],
                    color: "#1f77b4",
                },
                Series {
                    name: "p99",
                    values: &[0.5, f64::NAN, 1.0],
                    color: "#d62728",
                },
            ],
            &[Band {
                start: 1.0,
                end: 2.0,
                label: "failing window 1–2 s".into(),
            }],
            &|v| format!("{v}"),
        );
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("class=\"band\"").count(), 1);
        assert!(svg.contains("data-chart=\"rate\""));
        assert!(svg.contains("rate &lt;&amp;&gt;"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        // The only URL is the SVG namespace, which is never fetched.
        assert_eq!(svg.matches("http").count(), 1);
    }

    #[test]
    fn a_bar_chart_has_a_bar_per_value() {
        let bars: Vec<(String, f64)> = (0..5).map(|i| (format!("{i}ms"), f64::from(i))).collect();
        let svg = bar_chart("dist", "latency", &bars, &|v| format!("{v}"));
        assert_eq!(svg.matches("<rect").count(), 5);
    }
}
