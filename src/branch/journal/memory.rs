//! The journal's memory store, for simulations: the same commit points as the SQLite file,
//! without a file or a thread (a simulation runs every host on one thread, in simulated time).
//!
//! A [`MemoryStore`] is what survives a branch's crash: the simulation holds it outside the
//! branch's host. Each time the branch starts, [`MemoryStore::open`] gives it the entries
//! committed so far and a journal whose appended entries wait in a buffer of that run of the
//! host alone. A handler that waits on a [`Commit`](super::Commit) moves everything buffered
//! into the store (a group commit, as the SQLite writer does), after `sync` of simulated time
//! (the store's fsync). Whatever is still buffered when the host crashes is lost with it, and a
//! journal of a run that crashed can commit nothing more.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Backend, Entry, Journal, StoreError};

/// A branch's committed steps, kept in memory that outlives the branch's host. Clones share
/// the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore(Arc<Mutex<Committed>>);

/// What a memory store holds.
#[derive(Debug, Default)]
struct Committed {
    /// The entries committed, in order (since the last reset).
    entries: Vec<Entry>,
    /// The position of the last entry committed.
    last: u64,
    /// How many times the store was opened: only the journal of the latest opening commits.
    opened: u64,
}

/// Locks a mutex whose holders never leave its data half-changed, so that a poisoned one is
/// still usable. A `std::sync::Mutex`: it is never held across an `.await`.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the store as a branch (re)starting does: returns the entries committed so far, in
    /// order, and the journal to append to, whose commits take `sync` of (simulated) time.
    /// The journals of earlier openings can commit nothing more: what they had not committed
    /// is lost, as in a crash.
    pub fn open(&self, sync: Duration) -> (Vec<Entry>, Journal) {
        let (entries, last, opened) = {
            let mut committed = lock(&self.0);
            committed.opened += 1;
            (committed.entries.clone(), committed.last, committed.opened)
        };
        let volatile = Volatile(Arc::new(Mutex::new(Buffer {
            store: self.clone(),
            opened,
            pending: Vec::new(),
            committed: last,
            sync,
        })));
        (
            entries,
            Journal {
                appended: last,
                backend: Backend::Memory(volatile),
            },
        )
    }

    /// The position of the last entry committed: how many steps were committed (since the
    /// store was made; a reset does not count them again from 1).
    pub fn position(&self) -> u64 {
        lock(&self.0).last
    }

    /// The entries committed so far, in order.
    #[cfg(test)]
    pub fn committed(&self) -> Vec<Entry> {
        lock(&self.0).entries.clone()
    }
}

/// What one run of a branch's host appended and has not committed yet: lost if the host
/// crashes. Shared by the journal and its commits.
#[derive(Debug, Clone)]
pub(super) struct Volatile(Arc<Mutex<Buffer>>);

/// The buffer behind a [`Volatile`].
#[derive(Debug)]
struct Buffer {
    store: MemoryStore,
    /// Which opening of the store this run is.
    opened: u64,
    /// The entries appended and not committed, with their positions.
    pending: Vec<(u64, Entry)>,
    /// The position of the last entry committed.
    committed: u64,
    /// How long a commit takes.
    sync: Duration,
}

impl Volatile {
    /// Buffers `entry`, appended at `position`.
    pub(super) fn append(&self, position: u64, entry: Entry) {
        lock(&self.0).pending.push((position, entry));
    }

    /// Waits until everything up to `position` is committed, committing it if nobody has.
    pub(super) async fn commit_through(&self, position: u64) -> Result<(), StoreError> {
        let sync = {
            let buffer = lock(&self.0);
            if buffer.committed >= position {
                return Ok(());
            }
            buffer.sync
        };
        if !sync.is_zero() {
            // The time the store takes to make the entries durable (simulated time in a
            // simulation): a crash meanwhile loses them.
            tokio::time::sleep(sync).await;
        }
        self.flush()
    }

    /// Commits everything buffered, in order: a reset drops what came before it, as in the
    /// SQLite store.
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        let mut buffer = lock(&self.0);
        let Buffer {
            store,
            opened,
            pending,
            committed,
            ..
        } = &mut *buffer;
        let mut durable = lock(&store.0);
        if durable.opened != *opened {
            return Err(StoreError::Stopped(
                "the branch restarted: this journal belongs to a run that crashed".into(),
            ));
        }
        for (position, entry) in pending.drain(..) {
            if entry == Entry::Reset {
                durable.entries.clear();
            }
            durable.entries.push(entry);
            durable.last = position;
        }
        *committed = (*committed).max(durable.last);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::branch::journal::Commit;
    use crate::model::{BranchId, Process};

    fn begin(id: u32) -> Entry {
        Entry::Begin(vec![Process::Branch(BranchId(id))])
    }

    fn wait(commit: Commit) -> Result<(), StoreError> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(|error| StoreError::Stopped(error.to_string()))?
            .block_on(commit.wait())
    }

    /// What was committed is given back after a restart; what was appended after the last
    /// commit waited on is lost; and the crashed run's journal commits nothing more.
    #[test]
    fn a_restart_keeps_what_was_committed_and_loses_the_rest() {
        let store = MemoryStore::new();
        let (entries, mut journal) = store.open(Duration::ZERO);
        assert!(entries.is_empty());
        journal.append(&begin(1));
        journal.append(&begin(2));
        assert_eq!(store.committed(), [], "appended, not yet committed");
        assert_eq!(wait(journal.commit()), Ok(()));
        assert_eq!(store.committed(), [begin(1), begin(2)]);
        journal.append(&begin(3));
        let stale = journal.commit();
        // The host crashes here: its journal is gone, the store is opened again.
        let (entries, mut journal) = store.open(Duration::ZERO);
        assert_eq!(entries, [begin(1), begin(2)], "entry 3 was never committed");
        assert!(wait(stale).is_err(), "a crashed run commits nothing");
        journal.append(&begin(4));
        assert_eq!(wait(journal.commit()), Ok(()));
        assert_eq!(store.committed(), [begin(1), begin(2), begin(4)]);
        journal.append(&Entry::Reset);
        assert_eq!(journal.close(), Ok(()), "closing commits what is buffered");
        assert_eq!(
            store.committed(),
            [Entry::Reset],
            "a reset drops what came before it"
        );
    }
}
