//! The faults a run met (partitions, holds, pauses, crashes, retries, deliberate duplicates), as they
//! appear in traces and pictures, and the shared, timestamped log where a run notes them.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use crate::model::{BranchId, MessageId, Process};

/// Something the network or the fault injector did to a run, recorded for the trace and pictures.
/// In a trace file it is one line, named by its `fault` field, e.g.
/// `{"fault":"partition","from":"B1","to":"B3","both_ways":true,"at_ms":1200}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// Messages from `from` to `to` (and back, if `both_ways`) are dropped from now on.
    Partition {
        /// One side.
        from: Process,
        /// The other side.
        to: Process,
        /// Whether both directions are cut.
        both_ways: bool,
    },
    /// A partition between `from` and `to` heals.
    Heal {
        /// One side.
        from: Process,
        /// The other side.
        to: Process,
        /// Whether both directions heal.
        both_ways: bool,
    },
    /// Messages between `from` and `to` are held (delayed, not dropped) from now on.
    Hold {
        /// One side.
        from: Process,
        /// The other side.
        to: Process,
    },
    /// Held messages between `from` and `to` are released.
    Release {
        /// One side.
        from: Process,
        /// The other side.
        to: Process,
    },
    /// A branch stops answering (all its links held).
    Pause {
        /// The paused branch.
        #[serde(with = "branch_name")]
        branch: BranchId,
    },
    /// A paused branch goes on.
    Resume {
        /// The resumed branch.
        #[serde(with = "branch_name")]
        branch: BranchId,
    },
    /// A branch's host crashes: everything the branch had not committed to its store is lost.
    Crash {
        /// The crashed branch.
        #[serde(with = "branch_name")]
        branch: BranchId,
        /// How many events the branch had recorded, committed or not.
        events: u64,
    },
    /// A crashed branch starts again from what it had committed.
    Restart {
        /// The restarted branch.
        #[serde(with = "branch_name")]
        branch: BranchId,
        /// How many of its events it got back from its store (its events before the crash that
        /// were committed): its later events follow them.
        events: u64,
        /// Its Lamport clock after them, where its next event goes on from.
        clock: u64,
    },
    /// An attempt to deliver `message` to `to` failed (lost, or too late): it is sent again.
    Retry {
        /// The message sent again.
        message: MessageId,
        /// Where it goes.
        to: Process,
        /// The number of the new attempt (from 2).
        attempt: u32,
    },
    /// `message` was deliberately delivered to `to` a second time.
    Duplicate {
        /// The message sent twice.
        message: MessageId,
        /// Where it went.
        to: Process,
    },
}

/// A branch id written as its process name, `B2`.
mod branch_name {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::model::{BranchId, Process};

    pub fn serialize<S: Serializer>(id: &BranchId, serializer: S) -> Result<S::Ok, S::Error> {
        Process::Branch(*id).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BranchId, D::Error> {
        match Process::deserialize(deserializer)? {
            Process::Branch(id) => Ok(id),
            Process::Customer(id) => Err(serde::de::Error::custom(format!("{id} is not a branch"))),
        }
    }
}

/// A fault and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRecord {
    /// Milliseconds since the run started (simulated time in a simulation).
    pub at_ms: u64,
    /// What happened.
    pub fault: Fault,
}

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
