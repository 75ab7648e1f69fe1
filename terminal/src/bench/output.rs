//! Writing a run's outputs (`--json`, `--hgrm`, `--plot`) and comparing two saved reports.

use anyhow::Context;

use super::{BenchArgs, Outcome, plot, report, stats};

/// Writes the `--json`, `--hgrm` and `--plot` outputs that were asked for.
pub fn write_outputs(args: &BenchArgs, outcome: &Outcome) -> anyhow::Result<()> {
    let r = &outcome.report;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(r)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut histograms = vec![("tick_latency", &outcome.tick)];
    if r.params.order_rate > 0.0 {
        histograms.push(("order_rtt", &outcome.order_rtt));
        histograms.push(("order_send_lateness", &outcome.order_send_lateness));
    }
    if let Some(dir) = &args.hgrm {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, h) in &histograms {
            let path = dir.join(format!("{name}.hgrm"));
            let mut text = Vec::new();
            stats::write_hgrm(h, &mut text)?;
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    if let Some(path) = &args.plot {
        let mut series = vec![("tick latency", &outcome.tick)];
        if r.params.order_rate > 0.0 {
            series.push((
                "order round trip (from the scheduled send)",
                &outcome.order_rtt,
            ));
        }
        plot::plot(path, &report::title(r), &series).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// `--compare A B`: both reports side by side.
pub fn compare(a: &std::path::Path, b: &std::path::Path) -> anyhow::Result<String> {
    let read = |p: &std::path::Path| -> anyhow::Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a bench report", p.display()))
    };
    Ok(report::compare(&read(a)?, &read(b)?))
}
