//! A branch's durable state (`serve --data DIR`): a journal of every step that changed the
//! branch, in the order the steps happened, kept in an SQLite file (or, in a simulation, in the
//! [`memory`] store, which has the same commit points). A branch restarted from its
//! journal replays the steps through the same [`BranchState`](super::state::BranchState)
//! methods and is exactly where it was: replica, clocks, log, the propagations it applied and
//! the answer to each customer request.
//!
//! Each step is appended under the state's lock, and written by one writer thread that commits
//! everything queued in one transaction (one fsync for many steps, however many handlers wait).
//! A handler sends nothing that depends on a step (an acknowledgement, a reply, a propagation)
//! before the step is committed: it waits on the [`Commit`] of its last step. The two stores
//! differ only behind [`Journal`] and [`Commit`]: the branch's code is the same over either.

pub mod memory;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use prost::Message;
use rusqlite::{Connection, params};
use tokio::sync::watch;

pub use crate::error::StoreError;
use crate::model::{BranchId, CustomerId, EventId, Op, Process};
use crate::session::WriteId;
use crate::wire::pb::{self, journal as jpb};
use crate::wire::{Acknowledgement, CustomerRequest, Propagation, WireError};

/// One step that changed a branch, as journaled: the input of one
/// [`BranchState`](super::state::BranchState) method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The run began with these processes.
    Begin(Vec<Process>),
    /// The branch went back to its initial state.
    Reset,
    /// A query was answered.
    Query(CustomerRequest),
    /// A deposit or withdraw was executed.
    Execute(CustomerRequest),
    /// A propagation was sent to `peer`.
    Send {
        /// The peer.
        peer: BranchId,
        /// What was sent.
        propagation: Propagation,
    },
    /// A peer's propagation was handled.
    Apply(Propagation),
    /// A peer's acknowledgement was merged.
    Acknowledge {
        /// The propagation's sequence number on the link to the peer.
        sequence: u64,
        /// The change.
        op: Op,
        /// Its event.
        event: EventId,
        /// The acknowledgement.
        ack: Acknowledgement,
    },
    /// A deposit's or withdraw's customer was answered.
    Reply {
        /// The change.
        op: Op,
        /// Its event.
        event: EventId,
    },
    /// A request or propagation of `event` began to wait for `write`.
    Wait {
        /// The event that waits.
        event: EventId,
        /// The write it waits for.
        write: WriteId,
    },
}

impl Entry {
    /// The entry in a line for a person, kept beside it in the `step` column, so that
    /// `sqlite3 DIR/branch.sqlite 'SELECT * FROM journal'` reads as the branch's history.
    pub fn describe(&self) -> String {
        let change = |op: Op, money: i64| format!("{} {money}", op.name());
        match self {
            Entry::Begin(processes) => {
                let names: Vec<String> = processes.iter().map(ToString::to_string).collect();
                format!("begin a run of {}", names.join(" "))
            }
            Entry::Reset => "reset to the initial state".to_string(),
            Entry::Query(request) => format!(
                "answer {}'s query (event {}, stamped L={})",
                request.customer, request.event, request.stamp.lamport
            ),
            Entry::Execute(request) => format!(
                "execute {}'s {} (event {}, stamped L={})",
                request.customer,
                request
                    .action
                    .change()
                    .map_or_else(|| "query".to_string(), |(op, money)| change(op, money)),
                request.event,
                request.stamp.lamport
            ),
            Entry::Send { peer, propagation } => format!(
                "send {} (event {}) to {peer} as message {}, stamped L={}",
                change(propagation.op, propagation.money),
                propagation.event,
                propagation.sequence,
                propagation.stamp.lamport
            ),
            Entry::Apply(propagation) => format!(
                "apply {} (event {}) from {}, message {}, stamped L={}",
                change(propagation.op, propagation.money),
                propagation.event,
                propagation.origin,
                propagation.sequence,
                propagation.stamp.lamport
            ),
            Entry::Acknowledge {
                sequence,
                op,
                event,
                ack,
            } => format!(
                "{} acknowledged {} (event {event}), message {sequence}, stamped L={}",
                ack.branch,
                op.name(),
                ack.stamp.lamport
            ),
            Entry::Reply { op, event } => format!("answer the {} (event {event})", op.name()),
            Entry::Wait { event, write } => format!("event {event} waits for {write}"),
        }
    }

    fn encode(&self) -> Vec<u8> {
        use jpb::entry::Entry as E;
        let entry = match self.clone() {
            Entry::Begin(processes) => E::Begin(pb::BeginRequest {
                processes: processes.iter().map(ToString::to_string).collect(),
                clocks: String::new(),
            }),
            Entry::Reset => E::Reset(pb::ResetRequest {}),
            Entry::Query(request) => E::Query(request.into()),
            Entry::Execute(request) => {
                let operation = request
                    .action
                    .change()
                    .map_or(0, |(op, _)| i32::from(pb::Operation::from(op)));
                E::Execute(jpb::Change {
                    operation,
                    request: Some(request.into()),
                })
            }
            Entry::Send { peer, propagation } => E::Send(jpb::Sent {
                peer_id: peer.0,
                propagation: Some(propagation.into()),
            }),
            Entry::Apply(propagation) => E::Apply(propagation.into()),
            Entry::Acknowledge {
                sequence,
                op,
                event,
                ack,
            } => E::Acknowledge(jpb::Acknowledged {
                sequence,
                operation: pb::Operation::from(op).into(),
                event_id: event.0,
                reply: Some(ack.into()),
            }),
            Entry::Reply { op, event } => E::Reply(jpb::Replied {
                operation: pb::Operation::from(op).into(),
                event_id: event.0,
            }),
            Entry::Wait { event, write } => E::Wait(jpb::Waited {
                event_id: event.0,
                customer_id: write.customer.0,
                origin_id: write.origin.0,
                write: write.number,
            }),
        };
        jpb::Entry { entry: Some(entry) }.encode_to_vec()
    }

    fn decode(bytes: &[u8]) -> Result<Entry, String> {
        use jpb::entry::Entry as E;
        let entry = jpb::Entry::decode(bytes).map_err(|error| error.to_string())?;
        let wire = |error: WireError| error.to_string();
        Ok(match entry.entry.ok_or("an empty entry")? {
            E::Begin(begin) => Entry::Begin(
                begin
                    .processes
                    .iter()
                    .map(|name| name.parse::<Process>().map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?,
            ),
            E::Reset(_) => Entry::Reset,
            E::Query(query) => Entry::Query(query.try_into().map_err(wire)?),
            E::Execute(change) => {
                let op = Op::try_from(change.operation).map_err(wire)?;
                let request = change.request.ok_or("an execute without its request")?;
                Entry::Execute((op, request).try_into().map_err(wire)?)
            }
            E::Send(sent) => Entry::Send {
                peer: BranchId(sent.peer_id),
                propagation: sent
                    .propagation
                    .ok_or("a send without its propagation")?
                    .try_into()
                    .map_err(wire)?,
            },
            E::Apply(propagation) => Entry::Apply(propagation.try_into().map_err(wire)?),
            E::Acknowledge(acknowledged) => Entry::Acknowledge {
                sequence: acknowledged.sequence,
                op: Op::try_from(acknowledged.operation).map_err(wire)?,
                event: EventId(acknowledged.event_id),
                ack: acknowledged
                    .reply
                    .ok_or("an acknowledgement without its reply")?
                    .try_into()
                    .map_err(wire)?,
            },
            E::Reply(replied) => Entry::Reply {
                op: Op::try_from(replied.operation).map_err(wire)?,
                event: EventId(replied.event_id),
            },
            E::Wait(waited) => Entry::Wait {
                event: EventId(waited.event_id),
                write: WriteId {
                    customer: CustomerId(waited.customer_id),
                    origin: BranchId(waited.origin_id),
                    number: waited.write,
                },
            },
        })
    }
}

/// What the writer thread is asked to write: one entry, at its position. It is encoded and
/// described there, not under the branch's lock where it is appended.
struct Write {
    position: u64,
    entry: Entry,
}

/// The writer thread, which ends with what it failed with, if anything.
type Writer = JoinHandle<Result<(), StoreError>>;

/// The appending end of a branch's journal, kept in its state.
#[derive(Debug, Clone)]
pub struct Journal {
    /// The position of the last entry appended.
    appended: u64,
    /// Where the entries go.
    backend: Backend,
}

/// The stores a journal can append to.
#[derive(Debug, Clone)]
enum Backend {
    /// An SQLite file, written by a thread of its own (`serve --data`).
    Sqlite(Sqlite),
    /// Memory that outlives the branch's host (simulations; see [`memory`]).
    Memory(memory::Volatile),
}

/// The SQLite store's end of a journal: its writer thread, and how far it has committed.
#[derive(Debug, Clone)]
struct Sqlite {
    writes: mpsc::Sender<Write>,
    /// The position of the last entry committed; closed if the writer failed.
    committed: watch::Receiver<u64>,
    writer: Arc<Mutex<Option<Writer>>>,
}

impl std::fmt::Debug for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Write({})", self.position)
    }
}

/// What has to be committed before a handler sends what depends on it.
#[derive(Debug)]
#[must_use = "a step must be committed before what depends on it is sent"]
pub struct Commit(Option<(u64, Committing)>);

/// Where a [`Commit`] learns that its position is committed.
#[derive(Debug)]
enum Committing {
    /// From the SQLite writer, which says how far it got.
    Sqlite(watch::Receiver<u64>),
    /// From the memory store, which the waiter commits itself (see [`memory`]).
    Memory(memory::Volatile),
}

impl Commit {
    /// Nothing to wait for: the state is not journaled.
    pub fn none() -> Self {
        Self(None)
    }

    /// Waits until the step is committed; fails if the store stopped first.
    pub async fn wait(self) -> Result<(), StoreError> {
        let Some((position, committing)) = self.0 else {
            return Ok(());
        };
        match committing {
            Committing::Sqlite(mut committed) => committed
                .wait_for(|&through| through >= position)
                .await
                .map(|_| ())
                .map_err(|_| StoreError::Stopped("its writer ended".into())),
            Committing::Memory(volatile) => volatile.commit_through(position).await,
        }
    }
}

impl Journal {
    /// Appends `entry`, to be committed by the store.
    pub fn append(&mut self, entry: &Entry) {
        self.appended += 1;
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                // If the writer has stopped, the entry is lost with it, and its Commit says so.
                let _ = sqlite.writes.send(Write {
                    position: self.appended,
                    entry: entry.clone(),
                });
            }
            Backend::Memory(volatile) => volatile.append(self.appended, entry.clone()),
        }
    }

    /// The commit of everything appended so far.
    pub fn commit(&self) -> Commit {
        let committing = match &self.backend {
            Backend::Sqlite(sqlite) => Committing::Sqlite(sqlite.committed.clone()),
            Backend::Memory(volatile) => Committing::Memory(volatile.clone()),
        };
        Commit(Some((self.appended, committing)))
    }

    /// Commits what is queued, stops the writer and waits for it (blocking: call it from a
    /// blocking context). Clones of the journal can append no more.
    pub fn close(self) -> Result<(), StoreError> {
        let sqlite = match self.backend {
            Backend::Sqlite(sqlite) => sqlite,
            Backend::Memory(volatile) => return volatile.flush(),
        };
        let writer = sqlite
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(sqlite.writes);
        match writer.map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError::Stopped("its writer panicked".into())),
            None => Ok(()),
        }
    }
}

/// The file a branch's state is kept in, under `--data DIR`.
pub fn database_path(dir: &Path) -> PathBuf {
    dir.join("branch.sqlite")
}

/// Opens (or creates) the store of branch `id` under `dir`: returns the entries journaled so
/// far, in order, and the journal to append to.
pub fn open(dir: &Path, id: BranchId) -> Result<(Vec<Entry>, Journal), StoreError> {
    let path = database_path(dir);
    let sqlite = |error: rusqlite::Error| StoreError::Sqlite {
        path: path.clone(),
        message: error.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|error| StoreError::Sqlite {
        path: dir.to_path_buf(),
        message: error.to_string(),
    })?;
    let connection = Connection::open(&path).map_err(sqlite)?;
    // WAL: a commit is one append and one fsync of the log; FULL: that fsync happens before
    // the commit returns, so that a committed step survives the machine's crash too.
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(sqlite)?;
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(sqlite)?;
    connection
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS branch (id INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS journal (
                 position INTEGER PRIMARY KEY,
                 step TEXT NOT NULL,
                 entry BLOB NOT NULL
             );",
        )
        .map_err(sqlite)?;
    let held: Option<u32> = connection
        .query_row("SELECT id FROM branch", [], |row| row.get(0))
        .map(Some)
        .or_else(|error| match error {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            error => Err(error),
        })
        .map_err(sqlite)?;
    match held {
        Some(held) if held != id.0 => {
            return Err(StoreError::OtherBranch {
                path,
                held: BranchId(held),
                wanted: id,
            });
        }
        Some(_) => {}
        None => {
            connection
                .execute("INSERT INTO branch (id) VALUES (?1)", params![id.0])
                .map_err(sqlite)?;
        }
    }
    let (entries, last) = read(&connection, &path)?;
    let (writes, queue) = mpsc::channel();
    let (committed_sender, committed) = watch::channel(last);
    let writer_path = path.clone();
    let writer = std::thread::Builder::new()
        .name(format!("store-{id}"))
        .spawn(move || write(connection, &writer_path, &queue, &committed_sender))
        .map_err(|error| StoreError::Stopped(error.to_string()))?;
    Ok((
        entries,
        Journal {
            appended: last,
            backend: Backend::Sqlite(Sqlite {
                writes,
                committed,
                writer: Arc::new(Mutex::new(Some(writer))),
            }),
        },
    ))
}

/// Every entry of the journal, in order, and the position of the last.
fn read(connection: &Connection, path: &Path) -> Result<(Vec<Entry>, u64), StoreError> {
    let sqlite = |error: rusqlite::Error| StoreError::Sqlite {
        path: path.to_path_buf(),
        message: error.to_string(),
    };
    let mut statement = connection
        .prepare("SELECT position, entry FROM journal ORDER BY position")
        .map_err(sqlite)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .map_err(sqlite)?;
    let mut entries = Vec::new();
    let mut last = 0;
    for row in rows {
        let (position, bytes) = row.map_err(sqlite)?;
        let entry = Entry::decode(&bytes).map_err(|problem| StoreError::Corrupt {
            path: path.to_path_buf(),
            position,
            problem,
        })?;
        last = u64::try_from(position).unwrap_or(0);
        entries.push(entry);
    }
    Ok((entries, last))
}

/// The writer thread: commits everything queued in one transaction, then says how far it got;
/// ends when every journal handle is dropped, after committing what was queued.
fn write(
    mut connection: Connection,
    path: &Path,
    queue: &mpsc::Receiver<Write>,
    committed: &watch::Sender<u64>,
) -> Result<(), StoreError> {
    let sqlite = |error: rusqlite::Error| StoreError::Sqlite {
        path: path.to_path_buf(),
        message: error.to_string(),
    };
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        batch.extend(queue.try_iter());
        let transaction = connection.transaction().map_err(sqlite)?;
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO journal (position, step, entry) VALUES (?1, ?2, ?3)")
                .map_err(sqlite)?;
            for write in &batch {
                let position = i64::try_from(write.position).unwrap_or(i64::MAX);
                if write.entry == Entry::Reset {
                    // A reset starts over: what came before it is never replayed.
                    transaction
                        .execute("DELETE FROM journal WHERE position < ?1", params![position])
                        .map_err(sqlite)?;
                }
                insert
                    .execute(params![
                        position,
                        write.entry.describe(),
                        write.entry.encode()
                    ])
                    .map_err(sqlite)?;
            }
        }
        transaction.commit().map_err(sqlite)?;
        if let Some(last) = batch.last() {
            committed.send_replace(last.position);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, CustomerId, MessageId};
    use crate::trace::Stamp;

    fn stamp(sender: Process, lamport: u64, number: u64) -> Stamp {
        Stamp {
            lamport,
            vector: vec![1, 2, 3],
            message: MessageId { sender, number },
        }
    }

    /// Each entry's line in the `step` column, written out by hand from the entries below.
    #[test]
    fn the_step_column_reads_as_the_branch_history() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let (_, mut journal) = open(dir.path(), BranchId(1)).expect("opened");
        // Without the reset at the end, which would delete the rest.
        for entry in entries().iter().filter(|entry| **entry != Entry::Reset) {
            journal.append(entry);
        }
        journal.close().expect("closed");
        let connection = Connection::open(database_path(dir.path())).expect("readable");
        let mut statement = connection
            .prepare("SELECT step FROM journal ORDER BY position")
            .expect("a query");
        let steps: Vec<String> = statement
            .query_map([], |row| row.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("text");
        assert_eq!(
            steps,
            [
                "begin a run of B1 C1",
                "answer C1's query (event 1, stamped L=0)",
                "execute C1's withdraw 30 (event 2, stamped L=1)",
                "event 2 waits for C1's write 1 at B2",
                "send withdraw 30 (event 2) to B2 as message 1, stamped L=4",
                "apply withdraw 30 (event 2) from B2, message 1, stamped L=3",
                "B2 acknowledged withdraw (event 2), message 1, stamped L=6",
                "answer the withdraw (event 2)",
            ]
        );
    }

    fn entries() -> Vec<Entry> {
        let customer = Process::Customer(CustomerId(1));
        let propagation = Propagation {
            origin: BranchId(1),
            event: EventId(2),
            op: Op::Withdraw,
            money: 30,
            stamp: stamp(Process::Branch(BranchId(1)), 4, 2),
            sequence: 1,
            acknowledged_through: 0,
            // C1's write at B1, after one at B2 (the apply below is that one).
            writes: crate::session::Writes::from_counts([(BranchId(1), 1), (BranchId(2), 1)]),
            customer: CustomerId(1),
        };
        vec![
            Entry::Begin(vec![Process::Branch(BranchId(1)), customer]),
            Entry::Query(CustomerRequest {
                customer: CustomerId(1),
                event: EventId(1),
                action: Action::Query,
                stamp: stamp(customer, 0, 1),
                writes: crate::session::Writes::new(),
            }),
            Entry::Execute(CustomerRequest {
                customer: CustomerId(1),
                event: EventId(2),
                action: Action::Withdraw(30),
                stamp: stamp(customer, 1, 2),
                writes: crate::session::Writes::from_counts([(BranchId(2), 1)]),
            }),
            Entry::Wait {
                event: EventId(2),
                write: WriteId {
                    customer: CustomerId(1),
                    origin: BranchId(2),
                    number: 1,
                },
            },
            Entry::Send {
                peer: BranchId(2),
                propagation: propagation.clone(),
            },
            Entry::Apply(Propagation {
                origin: BranchId(2),
                stamp: stamp(Process::Branch(BranchId(2)), 3, 1),
                ..propagation
            }),
            Entry::Acknowledge {
                sequence: 1,
                op: Op::Withdraw,
                event: EventId(2),
                ack: Acknowledgement {
                    branch: BranchId(2),
                    balance: 370,
                    stamp: stamp(Process::Branch(BranchId(2)), 6, 1),
                },
            },
            Entry::Reply {
                op: Op::Withdraw,
                event: EventId(2),
            },
            Entry::Reset,
        ]
    }

    #[test]
    fn every_entry_reads_back_as_it_was_written() {
        for entry in entries() {
            assert_eq!(Entry::decode(&entry.encode()), Ok(entry));
        }
    }

    #[test]
    fn a_store_gives_back_what_was_committed_and_refuses_another_branch() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (replayed, mut journal) = open(dir.path(), BranchId(1)).expect("opens");
        assert!(replayed.is_empty());
        let written = entries();
        for entry in &written[..7] {
            journal.append(entry);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime
            .block_on(journal.commit().wait())
            .expect("committed");
        journal.close().expect("closed");
        let (replayed, mut journal) = open(dir.path(), BranchId(1)).expect("opens again");
        assert_eq!(replayed, written[..7]);
        // A reset drops what came before it.
        journal.append(&Entry::Reset);
        journal.close().expect("closed");
        let (replayed, journal) = open(dir.path(), BranchId(1)).expect("opens again");
        assert_eq!(replayed, vec![Entry::Reset]);
        journal.close().expect("closed");
        let refused = open(dir.path(), BranchId(2)).map(|_| ()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!(
                "{} holds the state of B1, not B2",
                database_path(dir.path()).display()
            )
        );
    }
}
