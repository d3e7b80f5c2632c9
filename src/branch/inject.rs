//! Faults a branch injects itself, in simulations and tests: delivering some propagations twice,
//! as a network that duplicates messages would, and (tests only) a deliberately broken rule.

use std::sync::{Arc, Mutex, PoisonError};

use crate::rng::SplitMix64;

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
