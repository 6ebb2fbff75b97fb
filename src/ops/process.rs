//! Process measurements: a lock-free latency histogram with percentiles,
//! shared by the run summary and the benchmark.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Growth factor between bucket bounds: percentiles are exact to about 5%.
const GROWTH: f64 = 1.05;
/// Buckets cover 1 µs to about 2.6 hours.
const BUCKETS: usize = 480;

/// A fixed-size, log-scale histogram of durations. Memory stays the same
/// however many samples it takes, so a worker can keep one for months.
pub struct LatencyHistogram {
    counts: Box<[AtomicU64]>,
    total: AtomicU64,
    sum_micros: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            total: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }
}

fn bucket_of(micros: u64) -> usize {
    if micros <= 1 {
        return 0;
    }
    ((micros as f64).ln() / GROWTH.ln())
        .ceil()
        .min((BUCKETS - 1) as f64) as usize
}

fn upper_bound(bucket: usize) -> Duration {
    Duration::from_micros(GROWTH.powi(bucket as i32).round() as u64)
}

impl LatencyHistogram {
    pub fn record(&self, latency: Duration) {
        let micros = latency.as_micros().min(u64::MAX as u128) as u64;
        self.counts[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    pub fn mean(&self) -> Option<Duration> {
        let n = self.count();
        (n > 0).then(|| Duration::from_micros(self.sum_micros.load(Ordering::Relaxed) / n))
    }

    /// The upper bound of the bucket holding the `q` quantile (0.0–1.0).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= rank {
                return Some(upper_bound(bucket));
            }
        }
        Some(upper_bound(BUCKETS - 1))
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Resident set size of this process now (Linux `VmRSS`), in bytes.
pub fn rss_bytes() -> Option<u64> {
    status_bytes("VmRSS:")
}

fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time (user + system, all threads) this process has used so far,
/// from the kernel's process CPU clock: nanoseconds, where `/proc/self/stat`
/// counts clock ticks whose rate differs between systems.
pub fn cpu_time() -> Option<Duration> {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Some(Duration::new(
        u64::try_from(now.tv_sec).ok()?,
        u32::try_from(now.tv_nsec).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn quantiles_are_within_five_percent() {
        let h = LatencyHistogram::default();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64() * 1000.0;
        let p99 = h.quantile(0.99).unwrap().as_secs_f64() * 1000.0;
        assert!((500.0..=525.0).contains(&p50), "{p50}");
        assert!((990.0..=1040.0).contains(&p99), "{p99}");
        assert_eq!(h.count(), 1000);
        assert_eq!(h.mean(), Some(Duration::from_micros(500_500)));
    }

    #[test]
    fn empty_and_extreme_values() {
        let h = LatencyHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        h.record(Duration::ZERO);
        h.record(Duration::from_secs(100_000));
        assert!(h.quantile(1.0).unwrap() >= Duration::from_secs(9000));
        assert!(h.quantile(0.0).unwrap() <= Duration::from_micros(1));
    }

    #[test]
    fn reads_process_figures() {
        assert!(peak_rss_bytes().unwrap() > 0);
        assert!(rss_bytes().unwrap() > 0);
    }

    /// CPU this thread has used, from the kernel's thread clock.
    fn thread_cpu() -> Duration {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }

    #[test]
    fn cpu_time_grows_by_the_cpu_burnt() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
        let (wall, process, thread) = (Instant::now(), cpu_time().unwrap(), thread_cpu());
        // About 100 ms of CPU on this thread, whatever the machine's speed.
        let mut x = 0u64;
        while thread_cpu() - thread < Duration::from_millis(100) {
            for i in 0..100_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        std::hint::black_box(x);
        let burnt = thread_cpu() - thread;
        let grown = cpu_time().unwrap() - process;
        let elapsed = wall.elapsed();
        // At least what this thread burnt (other tests run beside it, so
        // maybe more), and at most what every core could have burnt
        // meanwhile: a wrong unit (ticks, ms) fails one side or the other.
        assert!(grown >= burnt, "process {grown:?} < this thread {burnt:?}");
        assert!(
            grown <= elapsed * cores + Duration::from_millis(20),
            "process {grown:?} > {cores} cores × {elapsed:?}"
        );
    }
}
