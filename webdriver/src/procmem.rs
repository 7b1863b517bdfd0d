//! Memory of a browser's processes, read from Linux's `/proc` (for the bench and the big-study
//! test).
//!
//! The processes are the one whose command line names a marker (the browser process: its
//! `--user-data-dir`) and all their descendants (zygotes, renderers, GPU, utility). Three
//! figures per sample:
//! - **PSS sum** (`/proc/<pid>/smaps_rollup`, `Pss:`): each shared page counted once, split
//!   between the processes that map it; what the browser really occupies;
//! - **RSS sum** (`/proc/<pid>/status`, `VmRSS:`): counts the libraries every process maps once
//!   per process, so it overstates;
//! - **largest RSS** of a single process.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// One sample, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub pss_sum: u64,
    pub rss_sum: u64,
    pub rss_max: u64,
    pub processes: u64,
}

/// The pids of the processes whose command line contains `marker`, and of their descendants.
pub fn process_tree(marker: &str) -> Vec<u32> {
    let mut parent: HashMap<u32, u32> = HashMap::new();
    let mut roots: HashSet<u32> = HashSet::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
            if let Some(ppid) = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse().ok())
            {
                parent.insert(pid, ppid);
            }
        }
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if !marker.is_empty() && cmd.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                roots.insert(pid);
            }
        }
    }
    let inside = |mut p: u32| {
        for _ in 0..64 {
            if roots.contains(&p) {
                return true;
            }
            match parent.get(&p) {
                Some(&pp) if pp != 0 && pp != p => p = pp,
                _ => return false,
            }
        }
        false
    };
    let mut pids: Vec<u32> = parent.keys().copied().filter(|&p| inside(p)).collect();
    pids.sort_unstable();
    pids
}

/// The `kB` value of the first line starting with `key` in a `/proc` file, in bytes.
fn kb_field(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix(key))?;
    line.trim().trim_end_matches("kB").trim().parse::<u64>().ok().map(|kb| kb * 1024)
}

/// The memory of the process tree of `marker` now (processes that exit meanwhile count zero).
pub fn usage(marker: &str) -> Usage {
    let mut u = Usage::default();
    for pid in process_tree(marker) {
        let Some(rss) = kb_field(&format!("/proc/{pid}/status"), "VmRSS:") else { continue };
        u.rss_sum += rss;
        u.rss_max = u.rss_max.max(rss);
        u.pss_sum += kb_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:").unwrap_or(0);
        u.processes += 1;
    }
    u
}

/// Samples [`usage`] on a thread every `every` and keeps the peak of each figure.
pub struct Sampler {
    peak: Arc<[AtomicU64; 4]>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start(marker: String, every: Duration) -> Sampler {
        let peak: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let u = usage(&marker);
                for (slot, v) in p.iter().zip([u.pss_sum, u.rss_sum, u.rss_max, u.processes]) {
                    slot.fetch_max(v, Ordering::Relaxed);
                }
                std::thread::sleep(every);
            }
        });
        Sampler { peak, stop, thread: Some(thread) }
    }

    /// Forgets the peaks so far.
    pub fn reset(&self) {
        for slot in self.peak.iter() {
            slot.store(0, Ordering::Relaxed);
        }
    }

    /// The peak of each figure since the start or the last [`Sampler::reset`] (each figure's own
    /// maximum: they need not come from the same sample).
    pub fn peak(&self) -> Usage {
        let v: Vec<u64> = self.peak.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        Usage { pss_sum: v[0], rss_sum: v[1], rss_max: v[2], processes: v[3] }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
