//! The floor for fan-out cost: one thread writing a 150-byte message to each of N loopback TCP
//! sockets, R rounds per second, and the CPU that costs per write.
//!
//! The receiving side matters: a reader that sleeps in epoll (as every real client does, the load
//! client included) has to be woken by each write, and the writer pays for that wakeup. `--reader
//! epoll` (the default) reads with a tokio runtime like the load client; `--reader spin` polls
//! non-blocking sockets and is never asleep, which gives the lowest possible figure.
//!
//! The writer runs on `--writer-core` and the reader on `--reader-core` (0 and 1 by default), the
//! same placement as the feed server and its load client in the fan-out benchmark.
//!
//! `target/release/examples/write_floor --sockets 100 --rate 1000 --seconds 10`
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 100)]
    sockets: usize,
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// How the receiving ends are read: `epoll` (tokio, sleeping until data) or `spin`.
    #[arg(long, default_value = "epoll")]
    reader: String,
    #[arg(long, default_value_t = 0)]
    writer_core: usize,
    #[arg(long, default_value_t = 1)]
    reader_core: usize,
}

fn pin(core: usize) {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        eprintln!("could not pin a thread to core {core}; figures will be noisier");
    }
}

fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Duration::from_millis((f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()) * 10)
}

fn main() {
    let args = Args::parse();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..args.sockets {
        let w = TcpStream::connect(addr).unwrap();
        w.set_nodelay(true).unwrap();
        writers.push(w);
        readers.push(listener.accept().unwrap().0);
    }
    // Drain the readers on another thread so the writer never blocks.
    let reader_core = args.reader_core;
    pin(args.writer_core);
    if args.reader == "spin" {
        std::thread::spawn(move || {
            pin(reader_core);
            let mut buf = vec![0u8; 65536];
            for r in &readers {
                r.set_nonblocking(true).unwrap();
            }
            loop {
                for r in &mut readers {
                    while let Ok(n) = r.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
    } else {
        std::thread::spawn(move || {
            pin(reader_core);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let mut tasks = Vec::new();
                for r in readers {
                    r.set_nonblocking(true).unwrap();
                    let mut r = tokio::net::TcpStream::from_std(r).unwrap();
                    tasks.push(tokio::spawn(async move {
                        use tokio::io::AsyncReadExt;
                        let mut buf = vec![0u8; 8192];
                        while let Ok(n) = r.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                        }
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
        });
    }
    let message = [b'x'; 150];
    let period = Duration::from_nanos(1_000_000_000 / args.rate);
    let rounds = args.rate * args.seconds;
    let cpu0 = thread_cpu();
    let start = Instant::now();
    for round in 0..rounds {
        let due = start + period * u32::try_from(round).unwrap();
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        for w in &mut writers {
            w.write_all(&message).unwrap();
        }
    }
    let cpu = thread_cpu().saturating_sub(cpu0);
    let writes = rounds * args.sockets as u64;
    println!(
        "{} writes of 150 B to {} sockets ({} reader) in {:.1} s: writer thread cpu {:.3} s = {:.2} us per write",
        writes,
        args.sockets,
        args.reader,
        start.elapsed().as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / writes as f64
    );
}
