//! The Lamport clock: a counter that ticks on every local event and merges on every receive.
//! Pure and synchronous; callers keep it behind their own lock.

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

#[cfg(test)]
mod tests {
    use super::*;

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
