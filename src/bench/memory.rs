//! The peak memory of this process, per benchmark configuration (Linux only).
//!
//! The kernel keeps the process's peak resident set size as `VmHWM` in `/proc/self/status`.
//! Writing `5` to `/proc/self/clear_refs` resets that peak to the current resident size, so
//! that each configuration's peak is its own and not the largest seen so far. Where the reset
//! is refused (an old kernel, another OS), the peak read is the process's peak so far, and the
//! report says so.

use std::fs;

/// Resets the process's peak resident size to its current resident size. Returns whether the
/// kernel accepted it.
pub fn reset_peak() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's peak resident size in KiB since the last reset (or since it started), if this
/// system reports it.
pub fn peak_kib() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    vm_hwm_kib(&status)
}

/// The `VmHWM` field of a `/proc/<pid>/status` text, in KiB.
pub fn vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value = words.next()?.parse().ok()?;
    // The kernel always writes "kB" (meaning KiB); anything else is not the format we know.
    (words.next() == Some("kB")).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_peak_from_a_status_text() {
        let status =
            "Name:\tlamport-bank\nVmPeak:\t  812344 kB\nVmHWM:\t    6612 kB\nVmRSS:\t    6100 kB\n";
        assert_eq!(vm_hwm_kib(status), Some(6612));
    }

    #[test]
    fn refuses_a_status_without_the_field_or_with_another_unit() {
        assert_eq!(vm_hwm_kib("Name:\tx\nVmRSS:\t 10 kB\n"), None);
        assert_eq!(vm_hwm_kib("VmHWM:\t 10 MB\n"), None);
        assert_eq!(vm_hwm_kib("VmHWM:\t ten kB\n"), None);
    }

    #[test]
    fn this_process_has_a_peak_after_a_reset() {
        // Linux is the only platform this project runs on; the reset may be refused in a
        // sandbox, the reading may not.
        reset_peak();
        assert!(peak_kib().is_some_and(|kib| kib > 0));
    }
}
