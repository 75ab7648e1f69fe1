//! `terminal bench` as users run it: the real binary against an in-process server (synthesizing
//! or replaying) and against a server at `--url`, with every output checked. Small and short:
//! these runs prove the figures are collected and written, not how fast anything is.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_terminal"))
        .arg("bench")
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn u(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} in {v:#}"))
}

/// The rows of an `.hgrm` file: value (us), percentile, total count.
fn hgrm_rows(path: &Path) -> Vec<(f64, f64, u64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn an_in_process_synthetic_run_measures_ticks_and_orders_and_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let (report, hgrm, plot) = (
        dir.path().join("run.json"),
        dir.path().join("hgrm"),
        dir.path().join("run.svg"),
    );
    let stdout = ok(&bench(&[
        "--synth",
        "--rate",
        "400",
        "--clients",
        "3",
        "--symbols",
        "AAPL,MSFT,KO",
        "--order-rate",
        "50",
        "--duration",
        "2s",
        "--warmup",
        "500ms",
        "--json",
        report.to_str().unwrap(),
        "--hgrm",
        hgrm.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]));
    for row in [
        "tick latency",
        "order round trip",
        "order send lateness",
        "limited by",
    ] {
        assert!(stdout.contains(row), "{row} in\n{stdout}");
    }
    let r = json(&report);
    assert_eq!(r["params"]["source"], "synthetic");
    assert_eq!(r["server"]["name"], "tickwire-feed-server");
    assert_eq!(r["server"]["source"]["kind"], "synthetic");
    let deliveries = u(&r, "/deliveries");
    // 3 of 20 symbols at 400 events/s to 3 clients for 2 s: about 360.
    assert!(deliveries > 50, "{r:#}");
    assert_eq!(u(&r, "/tick_latency/count"), deliveries);
    assert_eq!(u(&r, "/gaps"), 0);
    assert_eq!(u(&r, "/errors"), 0, "{r:#}");
    // 50 orders/s for 2 s, every one answered.
    let sent = u(&r, "/orders/sent");
    assert!((90..=110).contains(&sent), "{r:#}");
    assert_eq!(u(&r, "/orders/acked") + u(&r, "/orders/rejected"), sent);
    assert_eq!(u(&r, "/orders/missing"), 0);
    assert_eq!(u(&r, "/order_rtt/count"), u(&r, "/orders/acked"));
    assert_eq!(u(&r, "/order_send_lateness/count"), sent);
    assert!(u(&r, "/order_rtt/p50_ns") > 0 && u(&r, "/tick_latency/p99_ns") > 0);
    assert!(r["cpu"]["server_cores"].as_f64().unwrap() > 0.0);
    assert!(r["cpu"]["client_cores"].as_f64().unwrap() > 0.0);
    // The hub's thread, or at low rates (every quote and book change released alone) the pacer's.
    let busiest = &r["cpu"]["server_busiest"]["thread"];
    assert!(
        busiest == "feed-server" || busiest == "tickwire-pacer",
        "{busiest}"
    );
    assert!(r["limited_by"]["side"].is_string());
    assert!(r["tickwire_version"].is_string());

    for (name, count) in [
        ("tick_latency", deliveries),
        ("order_rtt", u(&r, "/orders/acked")),
        ("order_send_lateness", sent),
    ] {
        let rows = hgrm_rows(&hgrm.join(format!("{name}.hgrm")));
        let last = rows.last().unwrap();
        assert!(
            (last.1 - 1.0).abs() < 1e-9 && last.2 == count,
            "{name}: {last:?}"
        );
        let max_us = u(&r, &format!("/{name}/max_ns")) as f64 / 1e3;
        assert!((last.0 - max_us).abs() <= max_us / 500.0 + 0.001, "{name}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("tick latency"));
    assert!(svg.contains("order round trip") && svg.contains("90%"));
}

#[test]
fn a_replay_run_and_a_run_against_a_url_report_their_source_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("s.jsonl.zst");
    feed_server::generate::generate(&feed_server::generate::GenerateArgs {
        synth: feed_server::SynthArgs {
            symbols: feed_server::SymbolChoice::Default,
            rate: 1_000,
            book_rate: 0,
            seed: 3,
        },
        duration: Duration::from_secs(2),
        start: None,
        out: recording.clone(),
    })
    .unwrap();
    let (a, png) = (dir.path().join("a.json"), dir.path().join("a.png"));
    ok(&bench(&[
        "--replay",
        recording.to_str().unwrap(),
        "--speed",
        "2",
        "--clients",
        "2",
        "--order-rate",
        "0",
        "--duration",
        "1500ms",
        "--warmup",
        "300ms",
        "--json",
        a.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
    ]));
    let ra = json(&a);
    assert_eq!(ra["params"]["source"], "replay");
    assert_eq!(ra["server"]["source"]["kind"], "replay");
    assert_eq!(ra["server"]["source"]["speed"], "2");
    // 2,000 events/s to 2 clients for 1.5 s.
    assert!(u(&ra, "/deliveries") > 1_000, "{ra:#}");
    assert_eq!(u(&ra, "/gaps"), 0);
    assert_eq!(u(&ra, "/order_rtt/count"), 0);
    let image = std::fs::read(&png).unwrap();
    assert!(image.starts_with(b"\x89PNG\r\n\x1a\n") && image.len() > 10_000);

    // This test process serves, so it is the server pid.
    let server = feed_server::ThreadedServer::start(feed_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        synth: feed_server::SynthArgs {
            rate: 500,
            ..feed_server::SynthArgs::default()
        },
        ..feed_server::Config::default()
    })
    .unwrap();
    let b = dir.path().join("b.json");
    let pid = std::process::id().to_string();
    ok(&bench(&[
        "--url",
        &server.url(),
        "--server-pid",
        &pid,
        "--clients",
        "2",
        "--order-rate",
        "20",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--json",
        b.to_str().unwrap(),
    ]));
    let rb = json(&b);
    assert_eq!(rb["params"]["source"], "url");
    assert!(u(&rb, "/deliveries") > 100, "{rb:#}");
    assert!(u(&rb, "/orders/acked") > 10, "{rb:#}");
    assert!(rb["cpu"]["server_cores"].as_f64().unwrap() > 0.0, "{rb:#}");
    assert!(u(&rb, "/memory/server_rss_after_bytes") > 0);
    drop(server);

    let table = ok(&bench(&[
        "--compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]));
    let row = table
        .lines()
        .find(|l| l.starts_with("deliveries "))
        .unwrap_or_else(|| panic!("{table}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols.len(), 4, "{row}");
    let ratio: f64 = cols[3].parse().unwrap();
    let want = u(&rb, "/deliveries") as f64 / u(&ra, "/deliveries") as f64;
    assert!((ratio - want).abs() < 0.001, "{row}");
    assert!(table.contains("params.source") && table.contains("replay"));
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    for (args, reason) in [
        (
            &["--symbols", "AAPL,NOPE", "--duration", "1s"][..],
            "does not have NOPE",
        ),
        (&["--plot", "x.gif", "--duration", "1s"][..], ".svg or .png"),
        (&["--url", "not a url", "--duration", "1s"][..], "not a url"),
        (&["--order-rate=-5"][..], "--order-rate"),
        (
            &["--url", "ws://127.0.0.1:1/ws", "--rate", "5"][..],
            "cannot be used with",
        ),
        (
            &["--compare", "/nonexistent/a.json", "/nonexistent/b.json"][..],
            "cannot read",
        ),
    ] {
        let out = bench(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn churned_subscribers_resume_without_a_gap_and_the_report_says_how_fast() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("churn.json");
    let out = ok(&bench(&[
        "--clients",
        "20",
        "--rate",
        "2000",
        "--order-rate",
        "0",
        "--churn",
        "20",
        "--warmup",
        "500ms",
        "--duration",
        "2s",
        "--json",
        report.to_str().unwrap(),
    ]));
    assert!(out.contains("churn "), "{out}");
    let v = json(&report);
    let drops = u(&v, "/churn/drops");
    assert!((20..=60).contains(&drops), "{drops} drops at 20/s for 2 s");
    let resumes = u(&v, "/churn/resumes");
    assert!(
        resumes + 2 >= drops && resumes <= drops,
        "{resumes} resumes of {drops} drops"
    );
    assert_eq!(
        u(&v, "/churn/recovered"),
        resumes * 20,
        "every symbol recovered"
    );
    assert_eq!(u(&v, "/churn/snapshot"), 0);
    assert_eq!(u(&v, "/churn/gaps"), 0, "no gap after a resume");
    assert_eq!(u(&v, "/gaps"), 0);
    assert!(u(&v, "/churn/first_live_event/count") + 2 >= resumes);
    assert!(u(&v, "/churn/first_live_event/p50_ns") > 0);
}

#[test]
fn several_urls_share_the_subscribers_and_the_report_shows_each() {
    let start = || {
        feed_server::ThreadedServer::start(feed_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            synth: feed_server::SynthArgs {
                rate: 200,
                ..feed_server::SynthArgs::default()
            },
            ..feed_server::Config::default()
        })
        .unwrap()
    };
    let (a, b) = (start(), start());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("urls.json");
    let list = format!("{},{}", a.url(), b.url());
    let text = ok(&bench(&[
        "--url",
        &list,
        "--clients",
        "4",
        "--order-rate",
        "0",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--json",
        out.to_str().unwrap(),
    ]));
    let report = json(&out);
    let shares = report["per_url"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(shares.len(), 2, "{report:#}");
    for (share, url) in shares.iter().zip([a.url(), b.url()]) {
        assert_eq!(share["url"], url.as_str());
        assert_eq!(u(share, "/connections"), 2, "{share:#}");
        assert!(u(share, "/deliveries") > 50, "{share:#}");
    }
    let total: u64 = shares.iter().map(|s| u(s, "/deliveries")).sum();
    assert_eq!(total, u(&report, "/deliveries"));
    assert!(
        text.contains(&format!("url          {}: 2 connections", a.url())),
        "{text}"
    );
}

#[test]
fn a_book_run_verifies_every_checksum_in_both_encodings() {
    for encoding in ["json", "bin"] {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("r.json");
        let out = bench(&[
            "--rate",
            "2000",
            "--clients",
            "4",
            "--symbols",
            "AAPL,MSFT",
            "--channels",
            "quotes,book",
            "--depth",
            "10",
            "--order-rate",
            "0",
            "--encoding",
            encoding,
            "--warmup",
            "1s",
            "--duration",
            "2s",
            "--json",
            report.to_str().unwrap(),
        ]);
        let stdout = ok(&out);
        assert!(stdout.contains("checksum mismatches"), "{stdout}");
        let r = json(&report);
        assert_eq!(r["params"]["channels"], "quotes,book");
        assert!(
            u(&r, "/books/updates") > 100,
            "{encoding}: {:#}",
            r["books"]
        );
        assert_eq!(
            u(&r, "/books/mismatches"),
            0,
            "{encoding}: {:#}",
            r["books"]
        );
        assert_eq!(u(&r, "/books/gaps"), 0, "{encoding}: {:#}", r["books"]);
        assert_eq!(u(&r, "/gaps"), 0, "{encoding}");
    }
}
