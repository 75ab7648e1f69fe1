//! Percentile summaries of latency histograms, and the `.hgrm` percentile-distribution text that
//! HdrHistogram's plotters read.

use std::io::{self, Write};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The figures of one latency histogram, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub p9999_ns: u64,
    pub max_ns: u64,
    pub mean_ns: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            min_ns: h.min(),
            p50_ns: h.value_at_quantile(0.5),
            p90_ns: h.value_at_quantile(0.9),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            p9999_ns: h.value_at_quantile(0.9999),
            max_ns: h.max(),
            mean_ns: h.mean(),
        }
    }
}

/// Percentile steps per halving of the distance to 100%, as in HdrHistogram's own output.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Writes `h` (nanoseconds) as an HdrHistogram percentile distribution with values in
/// microseconds: the `Value Percentile TotalCount 1/(1-Percentile)` table and its `#[Mean ...]`
/// footer.
pub fn write_hgrm(h: &Histogram<u64>, out: &mut impl Write) -> io::Result<()> {
    const SCALE: f64 = 1_000.0;
    let digits = usize::from(h.sigfig());
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    if !h.is_empty() {
        let mut total = 0u64;
        for step in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            let value = step.value_iterated_to() as f64 / SCALE;
            let q = step.quantile_iterated_to();
            total = total.saturating_add(step.count_since_last_iteration());
            if q < 1.0 {
                writeln!(
                    out,
                    "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                )?;
            } else {
                writeln!(out, "{value:>12.digits$} {q:>2.12} {total:>10}")?;
            }
        }
    }
    let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
    writeln!(
        out,
        "#[Mean    = {:>12.digits$}, StdDeviation   = {:>12.digits$}]",
        h.mean() / SCALE,
        h.stdev() / SCALE
    )?;
    writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        h.max() as f64 / SCALE,
        h.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_buckets
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::histogram;

    fn uniform(n: u64, step_ns: u64) -> Histogram<u64> {
        let mut h = histogram();
        for i in 1..=n {
            h.record(i * step_ns).unwrap();
        }
        h
    }

    /// Within the histogram's 3 significant digits.
    fn near(got: u64, want: u64) -> bool {
        got.abs_diff(want) * 1_000 <= want
    }

    #[test]
    fn known_inputs_give_known_percentiles() {
        // 1..=10,000 us: the p-th percentile is p% of 10 ms.
        let p = Percentiles::of(&uniform(10_000, 1_000));
        assert_eq!(p.count, 10_000);
        for (got, want) in [
            (p.min_ns, 1_000),
            (p.p50_ns, 5_000_000),
            (p.p90_ns, 9_000_000),
            (p.p99_ns, 9_900_000),
            (p.p999_ns, 9_990_000),
            (p.p9999_ns, 9_999_000),
            (p.max_ns, 10_000_000),
        ] {
            assert!(near(got, want), "{got} vs {want} in {p:?}");
        }
        assert!((p.mean_ns - 5_000_500.0).abs() < 5_000.0, "{p:?}");
        assert_eq!(Percentiles::of(&histogram()), Percentiles::default());
    }

    #[test]
    fn the_hgrm_text_is_the_standard_table_in_microseconds() {
        let mut text = Vec::new();
        write_hgrm(&uniform(1_000, 1_000), &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap().split_whitespace().collect::<Vec<_>>(),
            ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        );
        assert_eq!(lines.next(), Some(""));
        let rows: Vec<Vec<f64>> = lines
            .clone()
            .take_while(|l| !l.starts_with('#'))
            .map(|l| l.split_whitespace().map(|f| f.parse().unwrap()).collect())
            .collect();
        assert!(rows.len() > 20, "{text}");
        assert!(
            rows.windows(2)
                .all(|w| w[0][0] <= w[1][0] && w[0][1] <= w[1][1])
        );
        let first = &rows[0];
        assert!(
            (first[0] - 1.0).abs() < 0.01 && (first[2] - 1.0).abs() < 0.5,
            "{first:?}"
        );
        let last = rows.last().unwrap();
        assert_eq!(last.len(), 3, "the 100% row has no 1/(1-p)");
        assert!((last[0] - 1_000.0).abs() < 1.0);
        assert!((last[1] - 1.0).abs() < 1e-12 && (last[2] - 1_000.0).abs() < 0.5);
        let median = rows.iter().find(|r| r[1] >= 0.5).unwrap();
        assert!((median[0] - 500.0).abs() < 1.0 && (median[3] - 2.0).abs() < 0.01);
        let footer: Vec<&str> = text.lines().filter(|l| l.starts_with("#[")).collect();
        assert_eq!(footer.len(), 3);
        assert!(footer[0].starts_with("#[Mean    ="), "{text}");
        let mean: f64 = footer[0][11..]
            .split(',')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!((mean - 500.5).abs() < 1.0, "{mean}");
        assert!(footer[1].contains("Total count    =         1000"));
        assert!(footer[2].contains("SubBuckets     =         2048"));
    }
}
