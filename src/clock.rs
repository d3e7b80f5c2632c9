//! Logical clocks. The Lamport clock: a counter that ticks on every local event and merges on
//! every receive. The vector clock: one counter per process, so that happens-before can be read
//! off exactly. Pure and synchronous; callers keep them behind their own lock.

/// A process's Lamport clock. Starts at 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LamportClock {
    time: u64,
}

impl LamportClock {
    /// A clock at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current value, without changing it (what a message is stamped with).
    pub fn now(&self) -> u64 {
        self.time
    }

    /// A local event: `local + 1`. Returns the new value.
    pub fn tick(&mut self) -> u64 {
        self.time += 1;
        self.time
    }

    /// A receive of a message stamped `received`: `max(local, received) + 1`. Returns the new value.
    pub fn merge(&mut self, received: u64) -> u64 {
        self.time = self.time.max(received) + 1;
        self.time
    }
}

/// A vector clock over a fixed set of processes (indexed as in the run's process table).
/// Standard rules: a process adds one to its own entry on every event, and on a receive first
/// takes the component-wise maximum with the sender's vector; it never bumps another entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VectorClock {
    entries: Vec<u64>,
}

impl VectorClock {
    /// All zeros over `width` processes.
    pub fn new(width: usize) -> Self {
        Self {
            entries: vec![0; width],
        }
    }

    /// The entries, one per process.
    pub fn entries(&self) -> &[u64] {
        &self.entries
    }

    /// An event on process `own`: its entry plus one.
    pub fn tick(&mut self, own: usize) {
        if let Some(entry) = self.entries.get_mut(own) {
            *entry += 1;
        }
    }

    /// A receive on process `own` of a message carrying `received`: component-wise maximum,
    /// then the own entry plus one. Entries beyond this clock's width are ignored.
    pub fn merge(&mut self, own: usize, received: &[u64]) {
        for (entry, other) in self.entries.iter_mut().zip(received) {
            *entry = (*entry).max(*other);
        }
        self.tick(own);
    }
}

/// Whether the event with vector `a` on process `a_process` happened before the event with
/// vector `b`: `b` knows of `a` (standard vector clocks: `a[p] <= b[p]` for `a`'s process `p`),
/// and they are not the same event.
pub fn happened_before(a: &[u64], a_process: usize, b: &[u64]) -> bool {
    let (Some(own), Some(seen)) = (a.get(a_process), b.get(a_process)) else {
        return false;
    };
    own <= seen && a != b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_tick_bumps_only_the_own_entry() {
        let mut clock = VectorClock::new(3);
        clock.tick(1);
        clock.tick(1);
        assert_eq!(clock.entries(), [0, 2, 0]);
    }

    #[test]
    fn vector_merge_takes_the_maximum_then_ticks_own() {
        let mut clock = VectorClock::new(3);
        clock.tick(0);
        clock.merge(0, &[0, 4, 2]);
        assert_eq!(
            clock.entries(),
            [2, 4, 2],
            "the sender's entry is not bumped"
        );
        clock.merge(0, &[1, 1, 1]);
        assert_eq!(clock.entries(), [3, 4, 2]);
    }

    #[test]
    fn happened_before_reads_the_vectors() {
        let send = [1, 0];
        let receive = [1, 1];
        let other = [0, 1];
        assert!(happened_before(&send, 0, &receive));
        assert!(!happened_before(&receive, 1, &send));
        assert!(!happened_before(&send, 0, &other), "concurrent");
        assert!(!happened_before(&other, 1, &send), "concurrent");
        assert!(
            !happened_before(&send, 0, &send),
            "an event does not precede itself"
        );
    }

    #[test]
    fn starts_at_zero() {
        assert_eq!(LamportClock::new().now(), 0);
    }

    #[test]
    fn tick_adds_one() {
        let mut clock = LamportClock::new();
        assert_eq!(clock.tick(), 1);
        assert_eq!(clock.tick(), 2);
        assert_eq!(clock.now(), 2);
    }

    #[test]
    fn merge_takes_the_later_clock_plus_one() {
        let mut clock = LamportClock::new();
        assert_eq!(clock.merge(5), 6, "received ahead of local");
        assert_eq!(clock.merge(2), 7, "received behind local");
        assert_eq!(clock.merge(7), 8, "received equal to local");
    }

    #[test]
    fn now_does_not_tick() {
        let mut clock = LamportClock::new();
        clock.merge(3);
        assert_eq!(clock.now(), 4);
        assert_eq!(clock.now(), 4);
    }

    /// The original README's deposit 2 at B2: request merges the customer's 0, execute ticks,
    /// each propagation reply merges the peer's clock.
    #[test]
    fn reproduces_the_sample_deposit_on_the_origin() {
        let mut origin = LamportClock::new();
        let mut peer1 = LamportClock::new();
        let mut peer3 = LamportClock::new();
        assert_eq!(origin.merge(0), 1);
        assert_eq!(origin.tick(), 2);
        assert_eq!(peer1.merge(origin.now()), 3);
        assert_eq!(peer1.tick(), 4);
        assert_eq!(origin.merge(peer1.now()), 5);
        assert_eq!(peer3.merge(origin.now()), 6);
        assert_eq!(peer3.tick(), 7);
        assert_eq!(origin.merge(peer3.now()), 8);
    }
}
