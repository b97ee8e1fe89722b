//! Scaling plots: speedup against worker count, drawn as a small dependency-free SVG.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One line of a plot: its name and `(workers, speedup)` points, ascending.
pub(crate) struct Series {
    pub(crate) name: String,
    pub(crate) points: Vec<(f64, f64)>,
}

/// Speedup series from scaling medians: `workers -> median ns` per contender; the speedup
/// at `n` workers is `median(1) / median(n)`.
pub(crate) fn speedups(medians: &BTreeMap<String, BTreeMap<u32, f64>>) -> Vec<Series> {
    medians
        .iter()
        .filter_map(|(name, by_workers)| {
            let base = *by_workers.get(&1)?;
            Some(Series {
                name: name.clone(),
                points: by_workers
                    .iter()
                    .map(|(&n, &ns)| (f64::from(n), base / ns))
                    .collect(),
            })
        })
        .collect()
}

const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// An SVG line chart of `series` with the ideal `speedup = workers` line.
pub(crate) fn svg(title: &str, series: &[Series]) -> String {
    let (w, h, left, bottom, top, right) = (560.0, 380.0, 60.0, 50.0, 40.0, 150.0);
    let max_x = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let max_y = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(max_x, f64::max)
        .ceil();
    let px = |x: f64| left + (x - 1.0).max(0.0) / (max_x - 1.0).max(1.0) * (w - left - right);
    let py = |y: f64| h - bottom - y / max_y * (h - bottom - top);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(out, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = write!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{title}</text>"#,
        (w - right + left) / 2.0
    );
    // Axes, ticks and grid.
    let _ = write!(
        out,
        r#"<line x1="{left}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{left}" y1="{top}" x2="{left}" y2="{}" stroke="black"/>"#,
        h - bottom,
        w - right,
        h - bottom,
        h - bottom
    );
    let mut x = 1.0;
    while x <= max_x {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{x}</text>"#,
            px(x),
            h - bottom + 16.0
        );
        x *= 2.0;
    }
    for i in 0..=4 {
        let y = max_y * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{left}" y1="{0}" x2="{1}" y2="{0}" stroke="#ddd"/><text x="{2}" y="{3}" text-anchor="end">{y:.1}</text>"##,
            py(y),
            w - right,
            left - 6.0,
            py(y) + 4.0
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">workers</text><text x="16" y="{}" transform="rotate(-90 16 {})" text-anchor="middle">speedup over 1 worker</text>"#,
        (w - right + left) / 2.0,
        h - 12.0,
        (h - bottom + top) / 2.0,
        (h - bottom + top) / 2.0
    );
    // The ideal line.
    let _ = write!(
        out,
        r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999" stroke-dasharray="4 4"/>"##,
        px(1.0),
        py(1.0),
        px(max_x),
        py(max_x)
    );
    let mut legend_y = top + 10.0;
    let _ = write!(
        out,
        r##"<text x="{}" y="{legend_y}" fill="#999">ideal</text>"##,
        w - right + 10.0
    );
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        for &(x, y) in &s.points {
            let _ = write!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                px(x),
                py(y)
            );
        }
        legend_y += 18.0;
        let _ = write!(
            out,
            r#"<text x="{}" y="{legend_y}" fill="{color}">{}</text>"#,
            w - right + 10.0,
            s.name
        );
    }
    out.push_str("</svg>\n");
    out
}
