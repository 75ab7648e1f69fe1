//! `--plot`: latency by percentile, HdrHistogram style: the x axis is 1/(1-p) on a log scale, so
//! that 90%, 99%, 99.9% ... are evenly spaced, and latency is on a log scale too, so that tick
//! latency and order round trips of different magnitudes both read.
//!
//! Text is drawn with an embedded DejaVu Sans, so a PNG needs no fonts on the machine.

use std::path::Path;
use std::sync::Once;

use hdrhistogram::Histogram;
use plotters::coord::Shift;
use plotters::prelude::*;

const SIZE: (u32, u32) = (1_200, 700);
/// The right end of the x axis: p99.9999.
const X_MAX: f64 = 1e6;
const COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

static FONTS: Once = Once::new();

fn register_fonts() {
    FONTS.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Refuses, before a run, a plot file that could not be drawn.
pub fn check_path(path: &Path) -> Result<(), String> {
    match extension(path).as_deref() {
        Some("svg" | "png") => Ok(()),
        _ => Err(format!(
            "{}: the plot must be a .svg or .png file",
            path.display()
        )),
    }
}

/// Draws `series` (histograms in ns) to `path`, an `.svg` or `.png` file.
pub fn plot(path: &Path, title: &str, series: &[(&str, &Histogram<u64>)]) -> Result<(), String> {
    register_fonts();
    check_path(path)?;
    match extension(path).as_deref() {
        Some("svg") => draw(
            &SVGBackend::new(path, SIZE).into_drawing_area(),
            title,
            series,
        ),
        Some("png") => draw(
            &BitMapBackend::new(path, SIZE).into_drawing_area(),
            title,
            series,
        ),
        _ => Ok(()),
    }
}

/// The curve of one histogram: (1/(1-p), latency in us), up to p99.9999.
fn points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(f64, f64)> = h
        .iter_quantiles(5)
        .map(|s| (s.quantile_iterated_to(), s.value_iterated_to() as f64 / 1e3))
        .filter(|(q, _)| *q < 1.0)
        .map(|(q, us)| ((1.0 / (1.0 - q)).min(X_MAX), us.max(0.001)))
        .collect();
    let max_x = out.last().map_or(1.0, |p| p.0);
    // The maximum, drawn where the data runs out.
    out.push((max_x.max(1.0), h.max() as f64 / 1e3));
    out
}

/// `1` is 0%, `10` is 90%, `1000` is 99.9%.
fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x.max(1.0));
    let text = format!("{p:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[(&str, &Histogram<u64>)],
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let fail = |e: &dyn std::fmt::Display| format!("cannot draw the plot: {e}");
    let curves: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, h)| (*name, points(h)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let all = curves.iter().flat_map(|(_, p)| p.iter());
    let (mut x_max, mut y_min, mut y_max) = (100.0f64, f64::MAX, 0.0f64);
    for &(x, y) in all {
        x_max = x_max.max(x);
        y_min = y_min.min(y);
        y_max = y_max.max(y);
    }
    if y_max <= 0.0 {
        (y_min, y_max) = (1.0, 1_000.0);
    }
    let y_range = (y_min / 2.0).max(0.001)..(y_max * 2.0);
    let x_range = 1.0..(x_max * 2.0).min(X_MAX * 2.0);
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x_range.log_scale(), y_range.log_scale())
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (us)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| {
            if *y >= 1.0 {
                format!("{y:.0}")
            } else {
                format!("{y}")
            }
        })
        .label_style(("sans-serif", 16))
        .draw()
        .map_err(|e| fail(&e))?;
    for (i, (name, curve)) in curves.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(curve, color.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 16))
        .border_style(BLACK)
        .background_style(WHITE.mix(0.9))
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_label_the_log_axis() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(2.0), "50%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(1_000.0), "99.9%");
        assert_eq!(percentile_label(10_000.0), "99.99%");
    }

    #[test]
    fn the_curve_rises_with_the_percentile_and_ends_at_the_maximum() {
        let mut h = crate::latency::histogram();
        for i in 1..=10_000u64 {
            h.record(i * 1_000).unwrap();
        }
        let p = points(&h);
        assert!(p.len() > 20);
        assert!(p.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert!((p.last().unwrap().1 - 10_000.0).abs() < 10.0);
        assert!(points(&crate::latency::histogram()).is_empty());
    }
}
