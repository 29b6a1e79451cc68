//! A compact terminal chart of a pattern for `loadtide check`: pure string building from
//! sampled values, no terminal handling (the caller prints the lines).

use std::time::Duration;

use super::Pattern;

/// Partial blocks by eighths; index 8 is the full block.
const BLOCKS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `n` values of `pattern` evenly spaced over `span`, first at 0 and last at `span`.
pub fn sample(pattern: &Pattern, span: Duration, n: usize) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![pattern.rate_at(Duration::ZERO)],
        _ => (0..n)
            .map(|i| pattern.rate_at(span.mul_f64(i as f64 / (n - 1) as f64)))
            .collect(),
    }
}

/// A compact chart of `values` (one column each), `rows` text rows high using the block
/// characters ▁▂▃▄▅▆▇█ (full blocks below the top partial), with a y-axis label of the max
/// value on the first row and 0 on the last; returns the lines. Every column shows at least
/// ▁ on the bottom row, so zero reads as a baseline rather than as nothing.
pub fn chart(values: &[f64], rows: usize) -> Vec<String> {
    if rows == 0 {
        return Vec::new();
    }
    let clean = |v: f64| if v > 0.0 && v.is_finite() { v } else { 0.0 };
    let max = values.iter().copied().map(clean).fold(0.0, f64::max);
    let eighths = rows * 8;
    let heights: Vec<usize> = values
        .iter()
        .map(|&v| {
            let h = if max > 0.0 {
                (clean(v) / max * eighths as f64).round() as usize
            } else {
                0
            };
            h.clamp(1, eighths)
        })
        .collect();
    let top = format!("{}", (max * 1000.0).round() / 1000.0);
    let width = top.len().max(1);
    (0..rows)
        .map(|r| {
            let label = match (r, rows - 1 - r) {
                (0, _) => top.as_str(),
                (_, 0) => "0",
                _ => "",
            };
            // Row r (0 at the top) shows the eighths above `floor`.
            let floor = (rows - 1 - r) * 8;
            let bars: String = heights
                .iter()
                .map(|&h| BLOCKS[h.saturating_sub(floor).min(8)])
                .collect();
            format!("{label:>width$} │{bars}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_is_a_staircase_with_labels() {
        let values: Vec<f64> = (0..=16).map(f64::from).collect();
        assert_eq!(
            chart(&values, 2),
            vec![
                "16 │         ▁▂▃▄▅▆▇█".to_string(),
                " 0 │▁▁▂▃▄▅▆▇█████████".to_string(),
            ]
        );
    }

    #[test]
    fn all_zero_is_a_flat_baseline() {
        assert_eq!(
            chart(&[0.0; 5], 3),
            vec!["0 │     ", "  │     ", "0 │▁▁▁▁▁"]
        );
        assert!(chart(&[1.0], 0).is_empty());
    }

    #[test]
    fn fractional_max_is_labelled_and_bad_values_are_zero() {
        let lines = chart(&[0.5, f64::NAN, -1.0, 0.25], 1);
        assert_eq!(lines, vec!["0.5 │█▁▁▄"]);
    }

    #[test]
    fn sample_spans_the_pattern() {
        let ramp = Pattern::Ramp {
            from: 0.0,
            to: 100.0,
            over: Duration::from_secs(100),
            curve: super::super::pattern::Curve::Linear,
        };
        assert_eq!(
            sample(&ramp, Duration::from_secs(100), 5),
            vec![0.0, 25.0, 50.0, 75.0, 100.0]
        );
        assert!(sample(&ramp, Duration::from_secs(1), 0).is_empty());
    }
}
