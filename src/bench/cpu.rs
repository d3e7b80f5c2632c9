//! The CPU time this process has used, all threads together (Linux only).
//!
//! On a shared machine, wall-clock rates move with whatever else runs; the CPU time a run
//! costs per gRPC call does not, or much less. The benchmark reports both.

use std::time::Duration;

/// The kernel's unit for the times in `/proc/<pid>/stat` (`USER_HZ`), fixed at 100 per second
/// for that file's format on every Linux architecture.
const TICKS_PER_SECOND: u64 = 100;

/// User plus system CPU time of this process so far, if this system reports it.
pub fn used() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    cpu_time(&stat)
}

/// The user plus system time of a `/proc/<pid>/stat` line.
pub fn cpu_time(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces or parentheses itself:
    // the fields after it start after the last ')'. Field 3 (state) comes first, so field k is
    // at index k − 3: utime (14) at 11, stime (15) at 12.
    let (_, after) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis(
        (user + system) * 1000 / TICKS_PER_SECOND,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time() {
        let stat = "4242 (lamport (bank)) S 1 4242 4242 0 -1 4194560 1003 0 0 0 250 37 0 0 20 0 \
                    4 0 1234 812344 1650 18446744073709551615";
        assert_eq!(cpu_time(stat), Some(Duration::from_millis(2870)));
    }

    #[test]
    fn refuses_a_truncated_line() {
        assert_eq!(cpu_time("4242 (x) S 1 2 3"), None);
        assert_eq!(cpu_time("no parenthesis"), None);
    }

    #[test]
    fn this_process_reports_its_time() {
        assert!(used().is_some());
    }
}
