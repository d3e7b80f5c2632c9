//! Where a run notes the faults it met (retries, deliberate duplicates, partitions): a shared,
//! timestamped log, and the fault injection a branch can be given in simulations and tests.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use crate::history::{Fault, FaultRecord};
use crate::workload::SplitMix64;

/// A log of faults shared by every part of a run; timestamps are milliseconds since the log was
/// made (simulated time inside a simulation, where tokio's clock is simulated).
#[derive(Debug, Clone)]
pub struct FaultLog {
    start: Instant,
    records: Arc<Mutex<Vec<FaultRecord>>>,
}

impl FaultLog {
    /// An empty log starting now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            records: Arc::default(),
        }
    }

    /// Notes `fault` as happening now: in a simulation, at the simulation's time (every
    /// simulated host has a clock of its own, so the log's own start would not do).
    pub fn note(&self, fault: Fault) {
        let elapsed = turmoil::sim_elapsed().unwrap_or_else(|| self.start.elapsed());
        self.note_at(elapsed, fault);
    }

    /// Notes `fault` as happening `elapsed` after the start.
    pub fn note_at(&self, elapsed: std::time::Duration, fault: Fault) {
        let at_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        // Pushing cannot leave the list half-changed, so a poisoned lock is still usable.
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        records.push(FaultRecord { at_ms, fault });
    }

    /// Every fault noted so far, in order.
    pub fn records(&self) -> Vec<FaultRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Default for FaultLog {
    fn default() -> Self {
        Self::new()
    }
}

/// A deliberately broken rule, switched on only by tests, to show that the checker and the
/// simulation sweep catch real bugs. Not reachable from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// A branch applies a repeated propagation again instead of recognising it.
    ApplyDuplicatesTwice,
}

/// Faults a branch injects itself: delivering some propagations twice, as a network that
/// duplicates messages would. Seeded, so a simulation stays replayable.
#[derive(Debug, Clone)]
pub struct Injector {
    duplicate_per_mille: u64,
    rng: Arc<Mutex<SplitMix64>>,
}

impl Injector {
    /// Duplicates about `per_mille` of every thousand propagations, drawing from `seed`.
    pub fn duplicating(per_mille: u64, seed: u64) -> Self {
        Self {
            duplicate_per_mille: per_mille,
            rng: Arc::new(Mutex::new(SplitMix64::new(seed))),
        }
    }

    /// Whether to deliver the next propagation twice.
    pub fn duplicate_next(&self) -> bool {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        rng.below(1000) < self.duplicate_per_mille
    }
}
