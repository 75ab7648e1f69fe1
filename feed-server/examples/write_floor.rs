//! The floor for fan-out cost: one thread writing a 150-byte message to each of N loopback TCP
//! sockets, R rounds per second, and the CPU that costs per write.
//!
//! `taskset -c 0 target/release/examples/write_floor --sockets 100 --rate 1000 --seconds 10`
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
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            for r in &mut readers {
                r.set_nonblocking(true).unwrap();
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    });
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
        "{} writes of 150 B to {} sockets in {:.1} s: writer thread cpu {:.3} s = {:.2} us per write",
        writes,
        args.sockets,
        start.elapsed().as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / writes as f64
    );
}
