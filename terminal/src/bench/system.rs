//! What the operating system tells about the run: CPU time per thread, resident memory, the file
//! descriptor limit, and pinning threads to cores. Linux only (`/proc` and `sched_setaffinity`);
//! elsewhere the figures are absent and pinning is refused.

use std::collections::BTreeMap;
use std::path::Path;

/// CPU time used by one thread so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCpu {
    pub tid: u32,
    pub name: String,
    pub cpu_ns: u64,
    /// The CPUs the thread may run on (empty when unknown).
    pub allowed: Vec<usize>,
}

/// Every thread of process `pid` with its CPU time, or nothing where `/proc` is absent.
pub fn threads(pid: u32) -> Vec<ThreadCpu> {
    let dir = format!("/proc/{pid}/task");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        let path = entry.path();
        let name = std::fs::read_to_string(path.join("comm"))
            .map(|n| n.trim_end().to_owned())
            .unwrap_or_default();
        let allowed = std::fs::read_to_string(path.join("status"))
            .ok()
            .and_then(|status| {
                let line = status
                    .lines()
                    .find(|l| l.starts_with("Cpus_allowed_list:"))?;
                parse_cpus(line.split_once(':')?.1).ok()
            })
            .unwrap_or_default();
        if let Some(cpu_ns) = thread_cpu_ns(&path) {
            out.push(ThreadCpu {
                tid,
                name,
                cpu_ns,
                allowed,
            });
        }
    }
    out
}

/// `schedstat`'s first field is the time on CPU in nanoseconds; `stat`'s utime and stime are in
/// clock ticks (10 ms), the fallback where schedstat is not compiled in.
fn thread_cpu_ns(task: &Path) -> Option<u64> {
    if let Ok(text) = std::fs::read_to_string(task.join("schedstat"))
        && let Some(ns) = text.split_whitespace().next().and_then(|f| f.parse().ok())
    {
        return Some(ns);
    }
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks.saturating_mul(10_000_000))
}

/// CPU used by each thread between two readings, in nanoseconds, keyed by thread id; threads
/// that started meanwhile count from zero.
pub fn used(before: &[ThreadCpu], after: &[ThreadCpu]) -> Vec<ThreadCpu> {
    let start: BTreeMap<u32, u64> = before.iter().map(|t| (t.tid, t.cpu_ns)).collect();
    after
        .iter()
        .map(|t| ThreadCpu {
            cpu_ns: t
                .cpu_ns
                .saturating_sub(start.get(&t.tid).copied().unwrap_or(0)),
            ..t.clone()
        })
        .collect()
}

/// Resident memory of process `pid` in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Raises the soft limit on open files to at least `needed`, up to the hard limit; says how to
/// go further when the hard limit is too low.
#[cfg(target_os = "linux")]
pub fn raise_fd_limit(needed: u64) -> Result<(), String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("cannot read the fd limit: {e}"))?;
    if soft >= needed {
        return Ok(());
    }
    if hard < needed {
        return Err(format!(
            "this run needs about {needed} open files but the hard limit is {hard}: raise it \
             (`ulimit -Hn`, or LimitNOFILE= for a service), use fewer --clients, or run the \
             server as its own process and pass --url (an in-process server doubles the count)"
        ));
    }
    setrlimit(Resource::RLIMIT_NOFILE, needed, hard)
        .map_err(|e| format!("cannot raise the fd limit to {needed}: {e}"))
}

#[cfg(not(target_os = "linux"))]
pub fn raise_fd_limit(_needed: u64) -> Result<(), String> {
    Ok(())
}

/// Parses a CPU list such as `0`, `2,3` or `0-3`.
pub fn parse_cpus(text: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("`{part}` is not a CPU number or range (like 0, 2-3)");
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: usize = a.trim().parse().map_err(|_| bad())?;
        let b: usize = b.trim().parse().map_err(|_| bad())?;
        if a > b || b >= 1_024 {
            return Err(bad());
        }
        cpus.extend(a..=b);
    }
    if cpus.is_empty() {
        return Err("give at least one CPU".to_owned());
    }
    Ok(cpus)
}

/// Pins thread `tid` (0 for the calling thread) to `cpus`.
#[cfg(target_os = "linux")]
pub fn pin(tid: u32, cpus: &[usize]) -> Result<(), String> {
    use nix::sched::{CpuSet, sched_setaffinity};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu).map_err(|e| format!("CPU {cpu}: {e}"))?;
    }
    let pid = Pid::from_raw(i32::try_from(tid).map_err(|_| format!("bad thread id {tid}"))?);
    sched_setaffinity(pid, &set).map_err(|e| format!("cannot pin to CPUs {cpus:?}: {e}"))
}

#[cfg(not(target_os = "linux"))]
pub fn pin(_tid: u32, _cpus: &[usize]) -> Result<(), String> {
    Err("pinning threads needs Linux; use the platform's own tool".to_owned())
}

/// Gives the calling thread the lowest real-time priority (`SCHED_FIFO` 1), so that it runs on
/// time beside busy threads on the same core (`--realtime-orders`). Needs CAP_SYS_NICE.
#[cfg(target_os = "linux")]
pub fn realtime_priority() -> Result<(), String> {
    use thread_priority::{
        RealtimeThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let lowest = ThreadPriority::from_posix(thread_priority::ScheduleParams { sched_priority: 1 });
    let policy = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo);
    set_thread_priority_and_policy(thread_native_id(), lowest, policy)
        .map_err(|e| format!("no real-time priority: {e:?}"))
}

#[cfg(not(target_os = "linux"))]
pub fn realtime_priority() -> Result<(), String> {
    Err("real-time priorities need Linux".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_like_taskset() {
        assert_eq!(parse_cpus("0").unwrap(), vec![0]);
        assert_eq!(parse_cpus("0-2,5").unwrap(), vec![0, 1, 2, 5]);
        for bad in ["", "x", "3-1", "1-", "99999"] {
            assert!(parse_cpus(bad).is_err(), "{bad}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_shows_its_threads_cpu_and_memory() {
        let me = std::process::id();
        let before = threads(me);
        assert!(!before.is_empty());
        // Busy until the kernel has counted some CPU time (a clock tick at worst).
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut x = 0u64;
        let spent = loop {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            let spent: u64 = used(&before, &threads(me)).iter().map(|t| t.cpu_ns).sum();
            if spent > 0 || std::time::Instant::now() > give_up {
                break spent;
            }
        };
        assert!(spent > 0, "{x}");
        assert!(threads(me).iter().all(|t| !t.allowed.is_empty()));
        assert!(rss_bytes(me).unwrap() > 1_000_000);
    }
}
