//! One branch's replica: its balance and its [`Recorder`] (clocks and history), with one
//! synchronous method per sub-event. No I/O: the gRPC handlers call these under a lock, so that
//! reading or updating a clock and recording the event is one atomic step.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::inject::Bug;
use super::journal::{Commit, Entry, Journal};
use crate::error::Error;
use crate::model::{
    BranchId, ClockModel, CustomerId, EventId, MessageId, Op, Process, Step, SubEvent,
};
use crate::session::{Sessions, WriteId, Writes};
use crate::trace::{EventKind, Outcome, ProcessTable, Recorder, Recording, Stamp, TraceEvent};
use crate::wire::{Acknowledgement, Answer, CustomerRequest, Propagation, WireError};

/// What the origin's execute step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// The change was applied, as the customer's write of this number at this branch; it must
    /// now be propagated.
    Applied(u64),
    /// The change was refused (a withdraw over the balance, or an overflow): nothing changed.
    Rejected,
}

impl Execution {
    /// What the customer is told.
    pub fn outcome(self) -> Outcome {
        match self {
            Execution::Applied(_) => Outcome::Success,
            Execution::Rejected => Outcome::Fail,
        }
    }

    /// The customer's write number, for a change applied.
    pub fn write(self) -> Option<u64> {
        match self {
            Execution::Applied(write) => Some(write),
            Execution::Rejected => None,
        }
    }
}

/// A change applied at its origin, as it is propagated: what, whose, and the customer's
/// session with the change counted in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Deposit or withdraw.
    pub op: Op,
    /// The customer's event.
    pub event: EventId,
    /// How much.
    pub money: i64,
    /// Who asked.
    pub customer: CustomerId,
    /// The customer's session, this change included.
    pub writes: Writes,
}

impl Change {
    /// The change `request` asked of `origin`, applied as the customer's write `write` there;
    /// `None` for a query.
    pub fn of(request: &CustomerRequest, origin: BranchId, write: u64) -> Option<Change> {
        let (op, money) = request.action.change()?;
        let mut writes = request.writes.clone();
        writes.count_through(origin, write);
        Some(Change {
            op,
            event: request.event,
            money,
            customer: request.customer,
            writes,
        })
    }
}

/// A branch's balance, clocks and history.
#[derive(Debug, Clone)]
pub struct BranchState {
    id: BranchId,
    balance: i64,
    /// The balance the branch started with, to start over from.
    initial: i64,
    /// Whether the branch knows the run it takes part in (its processes, hence its vector
    /// clock): from the start in an in-process run, after [`BranchState::begin`] for a branch
    /// served on its own.
    begun: bool,
    /// The processes of the run, in vector-clock order.
    table: ProcessTable,
    recorder: Recorder,
    /// For each origin, what this branch remembers of the propagations it applied, so that a
    /// repeated one (a retry whose first reply was lost, or a duplicate) is answered again, not
    /// applied again.
    applied: HashMap<Process, Applied>,
    /// For each peer, the sequence number of the last propagation sent to it in this run.
    sent: HashMap<BranchId, u64>,
    /// The customer requests this branch answered and is answering, kept by a branch served on
    /// its own (whose customers ask again when a call breaks); `None` in a run in one process.
    requests: Option<Requests>,
    /// Where every step is journaled, for a branch served with `--data`.
    journal: Option<Journal>,
    bug: Option<Bug>,
    /// The clock rules: which steps tick, and which receives merge.
    model: ClockModel,
    /// What this branch has applied of each customer's writes (its own included).
    sessions: Sessions,
    /// Propagations of changes executed here that no peer has acknowledged yet, counted per
    /// peer: 0 when every change made here has reached every branch.
    owed: u64,
    /// Changes executed here so far, to number them in the order they happened.
    executed: u64,
    /// How many times a request or propagation waited here for a customer's write.
    waits: u64,
}

/// What a branch remembers of its customers' requests, so that a request asked again (its
/// first call broke) is answered, not executed again; and, after a restart, which changes it
/// must finish.
#[derive(Debug, Clone, Default)]
struct Requests {
    /// Each request answered, with its answer, by event id.
    answered: HashMap<EventId, (CustomerRequest, Answer)>,
    /// Each deposit or withdraw executed and not yet answered, by event id.
    pending: BTreeMap<EventId, Pending>,
    /// For each peer, every propagation sent to it up to this sequence number has had its
    /// acknowledgement merged (and journaled); beyond it, the ones merged out of order.
    acknowledged: HashMap<BranchId, (u64, BTreeSet<u64>)>,
}

/// A change executed on this branch, not yet answered or (answered before it was propagated)
/// not yet acknowledged by every peer.
#[derive(Debug, Clone)]
struct Pending {
    request: CustomerRequest,
    execution: Execution,
    /// What was sent to each peer, and whether the peer's acknowledgement was merged.
    sent: BTreeMap<BranchId, (Propagation, bool)>,
    /// Its place among the changes executed here (from 1).
    order: u64,
    /// Whether its customer was answered.
    replied: bool,
}

/// What a branch knows of a customer request it is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Earlier {
    /// Nothing: a new request.
    New,
    /// It was answered: this is the answer.
    Answered(Answer),
    /// It is being carried out: its answer comes when it is finished.
    InProgress,
}

/// A change that a branch restarted from its journal must finish: send what it has not sent,
/// wait for what was not acknowledged, and answer the customer (unless it was answered).
#[derive(Debug, Clone)]
pub struct Unfinished {
    /// The customer's request.
    pub request: CustomerRequest,
    /// Whether the change was applied (then it is propagated) or rejected.
    pub execution: Execution,
    /// The propagations sent and not acknowledged, with their peers.
    pub unacknowledged: Vec<(BranchId, Propagation)>,
    /// The peers it was sent to (acknowledged or not).
    pub sent_to: BTreeSet<BranchId>,
    /// Whether its customer was answered (it was propagated in the background).
    pub replied: bool,
}

/// What a branch remembers of one origin's propagations, numbered by their sequence on the
/// origin's link to this branch (1, 2, 3, ...): how far it has come, and the answer to each one
/// until the origin says it has had it.
#[derive(Debug, Clone, Default)]
struct Applied {
    /// Every propagation of the origin up to this sequence number was handled here (applied, or
    /// refused): the next new one must be the one after it.
    handled_through: u64,
    /// Every propagation up to this sequence number was handled here and its answer received
    /// by the origin: forgotten, and known to be a repeat if it comes again.
    forgotten_through: u64,
    /// The acknowledgement sent for each propagation handled and not forgotten, by sequence
    /// number; `None` for one refused (it would overflow), which is refused again if repeated.
    answers: BTreeMap<u64, Option<Stamp>>,
}

fn step(op: Op, step: Step) -> EventKind {
    EventKind::Branch(SubEvent { op, step })
}

impl BranchState {
    /// A branch with its initial balance, its run (of the processes of `table`) begun,
    /// keeping what `recording` says.
    pub fn new(id: BranchId, balance: i64, table: &ProcessTable, recording: Recording) -> Self {
        Self {
            id,
            balance,
            initial: balance,
            begun: true,
            table: table.clone(),
            recorder: Recorder::in_table(table, Process::Branch(id), recording),
            applied: HashMap::new(),
            sent: HashMap::new(),
            requests: None,
            journal: None,
            bug: None,
            model: ClockModel::default(),
            sessions: Sessions::default(),
            owed: 0,
            executed: 0,
            waits: 0,
        }
    }

    /// The same branch, following the clock rules of `model` (the `original` ones unless told).
    pub fn in_model(mut self, model: ClockModel) -> Self {
        self.model = model;
        self
    }

    /// A branch served on its own, with its initial balance, waiting to be told its run.
    pub fn waiting(id: BranchId, balance: i64) -> Self {
        let alone = ProcessTable::new([Process::Branch(id)]);
        Self {
            begun: false,
            ..Self::new(id, balance, &alone, Recording::FULL)
        }
    }

    /// The processes of the run, in vector-clock order.
    pub fn table(&self) -> &ProcessTable {
        &self.table
    }

    /// Refuses a stamp whose vector clock is not the run's width (an empty one, from a sender
    /// that keeps no vectors, is fine).
    pub fn admit(&self, stamp: &Stamp) -> Result<(), Error> {
        let (got, width) = (stamp.vector.len(), self.table.len());
        if got == 0 || got == width {
            Ok(())
        } else {
            Err(WireError::VectorWidth { got, width }.into())
        }
    }

    /// Whether the branch knows its run.
    pub fn begun(&self) -> bool {
        self.begun
    }

    /// Begins the run whose processes `table` lists, keeping what `recording` says. Refused
    /// if the branch holds another run's events: it must be reset first. Beginning the same run
    /// again, before anything happened, is fine.
    pub fn begin(&mut self, table: &ProcessTable, recording: Recording) -> Result<(), u64> {
        let held = self.recorder.event_count();
        if held > 0 {
            return Err(held);
        }
        self.journal(|| Entry::Begin(table.processes().to_vec()));
        self.recorder = Recorder::in_table(table, Process::Branch(self.id), recording);
        self.table = table.clone();
        self.begun = true;
        Ok(())
    }

    /// Starts over: the initial balance, no events, clocks at 0, nothing remembered of any
    /// propagation, and no run begun.
    pub fn reset(&mut self) {
        self.journal(|| Entry::Reset);
        *self = Self {
            bug: self.bug,
            model: self.model,
            requests: self.requests.as_ref().map(|_| Requests::default()),
            journal: self.journal.take(),
            ..Self::waiting(self.id, self.initial)
        };
    }

    /// A local step, ticking if the model says it does.
    fn local(&mut self, kind: EventKind, event: EventId) {
        if kind.ticks(self.model) {
            self.recorder.tick(kind, event);
        } else {
            self.recorder.silent(kind, event);
        }
    }

    /// A receive of a message stamped `stamp`, merging if the model says it does.
    fn received(&mut self, kind: EventKind, event: EventId, stamp: &Stamp) {
        self.recorder
            .receive(kind, event, stamp, kind.ticks(self.model));
    }

    /// The same branch, remembering its customers' requests (see [`BranchState::earlier`]).
    pub fn remembering_requests(mut self) -> Self {
        self.requests = Some(Requests::default());
        self
    }

    /// Replays `entries` (journaled by this branch before it stopped), then journals every
    /// later step in `journal`.
    pub fn restored(mut self, entries: Vec<Entry>, journal: Journal) -> Self {
        for entry in entries {
            self.replay(entry);
        }
        self.journal = Some(journal);
        self
    }

    /// Does again the step `entry` journaled: the same method, with the same input, so the same
    /// result.
    fn replay(&mut self, entry: Entry) {
        match entry {
            Entry::Begin(processes) => {
                let _ = self.begin(&ProcessTable::new(processes), Recording::FULL);
            }
            Entry::Reset => self.reset(),
            Entry::Query(request) => {
                let _ = self.serve_query(&request);
            }
            Entry::Execute(request) => {
                let _ = self.execute(&request);
            }
            Entry::Send { peer, propagation } => {
                let change = Change {
                    op: propagation.op,
                    event: propagation.event,
                    money: propagation.money,
                    customer: propagation.customer,
                    writes: propagation.writes,
                };
                let _ = self.propagation_to(peer, &change);
            }
            Entry::Wait { event, write } => self.wait(event, write),
            Entry::Apply(propagation) => {
                let _ = self.apply_propagation(&propagation);
            }
            Entry::Acknowledge {
                sequence,
                op,
                event,
                ack,
            } => self.acknowledge(op, event, sequence, &ack.stamp),
            Entry::Reply { op, event } => {
                let _ = self.reply(op, event);
            }
        }
    }

    /// Journals the step `entry` makes, if the branch keeps a journal.
    fn journal(&mut self, entry: impl FnOnce() -> Entry) {
        if let Some(journal) = &mut self.journal {
            journal.append(&entry());
        }
    }

    /// The commit of every step so far: wait on it before sending anything that depends on
    /// them.
    pub fn commit(&self) -> Commit {
        self.journal
            .as_ref()
            .map_or_else(Commit::none, Journal::commit)
    }

    /// Takes the journal out (to close it when the branch stops).
    pub fn take_journal(&mut self) -> Option<Journal> {
        self.journal.take()
    }

    /// What this branch knows of `request`: refused if its event id was used by another
    /// request. Always [`Earlier::New`] for a branch that does not remember requests.
    pub fn earlier(&self, request: &CustomerRequest) -> Result<Earlier, Error> {
        let Some(requests) = &self.requests else {
            return Ok(Earlier::New);
        };
        let (first, answer) = match (
            requests.answered.get(&request.event),
            requests.pending.get(&request.event),
        ) {
            (Some((first, answer)), _) => (first, Some(answer)),
            (None, Some(pending)) => (&pending.request, None),
            (None, None) => return Ok(Earlier::New),
        };
        if first.customer != request.customer
            || first.action != request.action
            || first.stamp.message != request.stamp.message
        {
            return Err(Error::EventReused {
                branch: self.id,
                event: request.event,
                customer: first.customer,
            });
        }
        Ok(answer.map_or(Earlier::InProgress, |answer| {
            Earlier::Answered(answer.clone())
        }))
    }

    /// The changes executed and not answered, or not acknowledged by every peer (after a
    /// restart: the ones to finish), in the order they were executed.
    pub fn unfinished(&self) -> Vec<Unfinished> {
        let Some(requests) = &self.requests else {
            return Vec::new();
        };
        let mut pending: Vec<&Pending> = requests.pending.values().collect();
        pending.sort_by_key(|pending| pending.order);
        pending
            .into_iter()
            .map(|pending| Unfinished {
                request: pending.request.clone(),
                execution: pending.execution,
                unacknowledged: pending
                    .sent
                    .iter()
                    .filter(|(_, (_, acknowledged))| !acknowledged)
                    .map(|(peer, (propagation, _))| (*peer, propagation.clone()))
                    .collect(),
                sent_to: pending.sent.keys().copied().collect(),
                replied: pending.replied,
            })
            .collect()
    }

    /// The other branches of the run.
    fn peer_count(&self) -> u64 {
        let branches = self
            .table
            .processes()
            .iter()
            .filter(|process| matches!(process, Process::Branch(branch) if *branch != self.id));
        branches.count() as u64
    }

    /// How many times a request or propagation waited here for a customer's write.
    pub fn waits(&self) -> u64 {
        self.waits
    }

    /// Whether every change executed here has been acknowledged by every peer (or its
    /// propagation given up).
    pub fn settled(&self) -> bool {
        self.owed == 0
    }

    /// A propagation will never be acknowledged (the peer refused it, or this branch is
    /// stopping): it is no longer awaited.
    pub fn give_up_propagation(&mut self) {
        self.owed = self.owed.saturating_sub(1);
    }

    /// The first write `request`'s customer made that this branch has not applied, if any: while
    /// session guarantees are enforced, the request waits for it. Refused if the customer's
    /// session names a branch that is not of the run, or counts more of its writes here than
    /// this branch executed (a write no one will ever apply).
    pub fn missing_for(&self, request: &CustomerRequest) -> Result<Option<WriteId>, Error> {
        let customer = request.customer;
        self.session_of_run(customer, &request.writes)?;
        let executed = self
            .sessions
            .applied(customer)
            .map_or(0, |applied| applied.at(self.id));
        let claimed = request.writes.at(self.id);
        if claimed > executed {
            return Err(Error::SessionAhead {
                branch: self.id,
                customer,
                claimed,
                executed,
            });
        }
        Ok(self.sessions.missing(customer, &request.writes))
    }

    /// Refuses a session of `customer` that counts writes at a branch that is not of the run
    /// (it would be waited for forever).
    pub fn session_of_run(&self, customer: CustomerId, writes: &Writes) -> Result<(), Error> {
        match writes
            .iter()
            .find(|(branch, _)| self.table.index_of(Process::Branch(*branch)).is_none())
        {
            Some((named, _)) => Err(Error::SessionBranch {
                branch: self.id,
                customer,
                named,
            }),
            None => Ok(()),
        }
    }

    /// The first write that must be applied here before `propagation`'s, if one is missing
    /// (while session guarantees are enforced, it waits for it). `None` for a repeat or a
    /// propagation out of sequence, which [`BranchState::apply_propagation`] answers at once.
    pub fn missing_before(&self, propagation: &Propagation) -> Option<WriteId> {
        let origin = propagation.stamp.message.sender;
        if let Some(applied) = self.applied.get(&origin) {
            let sequence = propagation.sequence;
            if sequence <= applied.forgotten_through
                || applied.answers.contains_key(&sequence)
                || sequence != applied.handled_through + 1
            {
                return None;
            }
        } else if propagation.sequence != 1 {
            return None;
        }
        self.sessions
            .missing_before(propagation.write(), &propagation.writes)
    }

    /// A request or propagation of `event` begins to wait for `write`: an event of its own,
    /// touching no Lamport clock, so that a picture shows where the branch waited.
    pub fn wait(&mut self, event: EventId, write: WriteId) {
        self.journal(|| Entry::Wait { event, write });
        self.waits += 1;
        self.recorder.silent(EventKind::Wait(write), event);
    }

    /// The same branch with a deliberately broken rule (tests of the checker only).
    pub fn with_bug(mut self, bug: Option<Bug>) -> Self {
        self.bug = bug;
        self
    }

    /// The replica of the balance.
    pub fn balance(&self) -> i64 {
        self.balance
    }

    /// The current Lamport clock.
    pub fn clock(&self) -> u64 {
        self.recorder.lamport()
    }

    /// The events recorded so far, in the order they happened.
    pub fn events(&self) -> &[TraceEvent] {
        self.recorder.events()
    }

    /// How many events happened so far (recorded or not).
    pub fn event_count(&self) -> u64 {
        self.recorder.event_count()
    }

    /// A query: recorded (it counts in vector clocks), touching no Lamport clock but in the
    /// `messages` model (where its receive merges). Returns the balance and the reply's stamp.
    pub fn serve_query(&mut self, request: &CustomerRequest) -> (i64, Stamp) {
        let event = request.event;
        self.journal(|| Entry::Query(request.clone()));
        self.received(EventKind::Query, event, &request.stamp);
        let stamp = self.recorder.send();
        if let Some(requests) = &mut self.requests {
            let answer = Answer {
                branch: self.id,
                outcome: Outcome::Balance(self.balance),
                balance: self.balance,
                stamp: stamp.clone(),
                write: None,
            };
            requests.answered.insert(event, (request.clone(), answer));
        }
        (self.balance, stamp)
    }

    /// `X_request` then `X_execute` on the origin: merges the customer's stamp, then ticks and
    /// applies the change (the customer's next write here), or rejects a withdraw larger than
    /// the balance (or any overflow). A query changes nothing: rejected.
    pub fn execute(&mut self, request: &CustomerRequest) -> Execution {
        let Some((op, amount)) = request.action.change() else {
            return Execution::Rejected;
        };
        let (event, customer) = (request.event, request.customer);
        self.journal(|| Entry::Execute(request.clone()));
        self.received(step(op, Step::Request), event, &request.stamp);
        self.local(step(op, Step::Execute), event);
        let covered = op == Op::Deposit || amount <= self.balance;
        let execution = match op.apply(self.balance, amount) {
            Some(balance) if covered => {
                self.balance = balance;
                let write = WriteId {
                    customer,
                    origin: self.id,
                    number: self.sessions.next_number(customer, self.id),
                };
                self.sessions.apply(write);
                self.owed += self.peer_count();
                Execution::Applied(write.number)
            }
            _ => Execution::Rejected,
        };
        self.recorder.note_balance(self.balance);
        self.executed += 1;
        if let Some(requests) = &mut self.requests {
            requests.pending.insert(
                event,
                Pending {
                    request: request.clone(),
                    execution,
                    sent: BTreeMap::new(),
                    order: self.executed,
                    replied: false,
                },
            );
        }
        execution
    }

    /// The propagation of a change to `peer`, sent now (sending is an extra tick, an event of its
    /// own, only in the `messages` model): stamped, and numbered with the next sequence number
    /// on the link to that peer (1, 2, 3, ... in each run). The origin numbers a propagation and posts it on the peer's link under the
    /// same lock of its state, so that the link carries first sendings in the order of their
    /// numbers. Its `acknowledged_through` is how far the peer may forget: for a branch
    /// served on its own, only what it has merged (and journaled) the acknowledgement of (a
    /// restarted branch asks again for the rest); otherwise no limit (the link says how far).
    pub fn propagation_to(&mut self, peer: BranchId, change: &Change) -> Propagation {
        let (op, event) = (change.op, change.event);
        if self.model == ClockModel::Messages {
            self.local(EventKind::Forward(op), event);
        }
        let stamp = self.recorder.send();
        let sequence = {
            let sent = self.sent.entry(peer).or_default();
            *sent += 1;
            *sent
        };
        let acknowledged_through = self.requests.as_ref().map_or(u64::MAX, |requests| {
            requests
                .acknowledged
                .get(&peer)
                .map_or(0, |(through, _)| *through)
        });
        let propagation = Propagation {
            origin: self.id,
            event,
            op,
            money: change.money,
            stamp,
            sequence,
            acknowledged_through,
            writes: change.writes.clone(),
            customer: change.customer,
        };
        self.journal(|| Entry::Send {
            peer,
            propagation: propagation.clone(),
        });
        if let Some(pending) = self
            .requests
            .as_mut()
            .and_then(|requests| requests.pending.get_mut(&event))
        {
            pending.sent.insert(peer, (propagation.clone(), false));
        }
        propagation
    }

    /// `X_propagate_request` then `X_propagate_execute` on a peer: merges the origin's stamp,
    /// then ticks and applies the change. Returns the acknowledgement's stamp (the clock after
    /// the execute).
    ///
    /// A repeat of a message already applied here is not an event at all: no clock moves and
    /// nothing is recorded. Its reply repeats the first acknowledgement (same stamp, same message
    /// id), so the origin sees one consistent reply however often it had to ask; or, if the
    /// origin has said it has that acknowledgement ([`BranchState::forget_acknowledged`]), the
    /// reply is [`BranchState::nothing_new`], which the origin does not read.
    pub fn apply_propagation(&mut self, propagation: &Propagation) -> Result<Stamp, Error> {
        let Propagation {
            op,
            event,
            money,
            sequence,
            ..
        } = *propagation;
        let request = &propagation.stamp;
        let origin = request.message.sender;
        self.journal(|| Entry::Apply(propagation.clone()));
        self.forget_acknowledged(origin, propagation.acknowledged_through);
        let overflow = Error::Overflow {
            branch: self.id,
            event,
        };
        if self.bug != Some(Bug::ApplyDuplicatesTwice) {
            let applied = self.applied.entry(origin).or_default();
            if sequence <= applied.forgotten_through {
                return Ok(self.nothing_new());
            }
            if let Some(answer) = applied.answers.get(&sequence) {
                return answer.clone().ok_or(overflow);
            }
            let expected = applied.handled_through + 1;
            if sequence != expected {
                return Err(Error::OutOfSequence {
                    branch: self.id,
                    origin,
                    expected,
                    got: sequence,
                });
            }
        }
        // Checked first, so that a refused propagation leaves the clocks and history untouched.
        let Some(balance) = op.apply(self.balance, money) else {
            self.handled(origin, sequence, None);
            return Err(overflow);
        };
        self.received(step(op, Step::PropagateRequest), event, request);
        self.local(step(op, Step::PropagateExecute), event);
        self.balance = balance;
        self.sessions.apply(propagation.write());
        self.recorder.note_balance(balance);
        let ack = self.recorder.send();
        self.handled(origin, sequence, Some(ack.clone()));
        Ok(ack)
    }

    /// Notes that propagation `sequence` of `origin` was handled, with its answer.
    fn handled(&mut self, origin: Process, sequence: u64, answer: Option<Stamp>) {
        let applied = self.applied.entry(origin).or_default();
        applied.handled_through = applied.handled_through.max(sequence);
        applied.answers.insert(sequence, answer);
    }

    /// `origin` says it has the answer to every propagation it sent here up to sequence number
    /// `through`: they are forgotten, so that what a branch keeps does not grow with the length
    /// of the run. A repeat of one of them is still recognised. Only what was handled here can
    /// be forgotten: a claim beyond it (a forged message) forgets no more than that.
    pub fn forget_acknowledged(&mut self, origin: Process, through: u64) {
        let applied = self.applied.entry(origin).or_default();
        let through = through.min(applied.handled_through);
        if through <= applied.forgotten_through {
            return;
        }
        applied.forgotten_through = through;
        while let Some(oldest) = applied.answers.first_entry()
            && *oldest.key() <= through
        {
            oldest.remove();
        }
    }

    /// The reply to a repeat whose acknowledgement the origin already has: message number 0,
    /// which is no message (numbers start at 1), and nothing to merge.
    pub fn nothing_new(&self) -> Stamp {
        Stamp {
            lamport: self.clock(),
            vector: Vec::new(),
            message: MessageId {
                sender: Process::Branch(self.id),
                number: 0,
            },
        }
    }

    /// `X_propagate_response` on the origin: merges the stamp of a peer's acknowledgement.
    pub fn acknowledge(&mut self, op: Op, event: EventId, sequence: u64, reply: &Stamp) {
        self.journal(|| Entry::Acknowledge {
            sequence,
            op,
            event,
            ack: Acknowledgement {
                branch: match reply.message.sender {
                    Process::Branch(branch) => branch,
                    Process::Customer(customer) => BranchId(customer.0),
                },
                balance: 0,
                stamp: reply.clone(),
            },
        });
        self.received(step(op, Step::PropagateResponse), event, reply);
        self.owed = self.owed.saturating_sub(1);
        let peers = self.peer_count();
        if let (Some(requests), Process::Branch(peer)) = (&mut self.requests, reply.message.sender)
        {
            if let Some(pending) = requests.pending.get_mut(&event)
                && let Some((_, acknowledged)) = pending.sent.get_mut(&peer)
            {
                *acknowledged = true;
                // A change answered before it was propagated is done with its last
                // acknowledgement.
                let all = pending.sent.values().filter(|(_, done)| *done).count() as u64;
                if pending.replied && all == peers {
                    requests.pending.remove(&event);
                }
            }
            let (through, above) = requests.acknowledged.entry(peer).or_default();
            above.insert(sequence);
            while above.remove(&(*through + 1)) {
                *through += 1;
            }
        }
    }

    /// The reply to the customer on the origin: ticks (logged as `X_response`, which the
    /// `original` model leaves out of its output). Returns the reply's stamp.
    pub fn reply(&mut self, op: Op, event: EventId) -> Stamp {
        self.journal(|| Entry::Reply { op, event });
        self.local(step(op, Step::Response), event);
        let stamp = self.recorder.send();
        let peers = self.peer_count();
        if let Some(requests) = &mut self.requests
            && let Some(pending) = requests.pending.get_mut(&event)
        {
            let answer = Answer {
                branch: self.id,
                outcome: pending.execution.outcome(),
                balance: self.balance,
                stamp: stamp.clone(),
                write: pending.execution.write(),
            };
            requests
                .answered
                .insert(event, (pending.request.clone(), answer));
            pending.replied = true;
            // Answered before it was propagated (asynchronous propagation): kept until every
            // peer has acknowledged it, so that a restart finishes its propagation.
            let acknowledged = pending.sent.values().filter(|(_, done)| *done).count() as u64;
            if pending.execution == Execution::Rejected || acknowledged == peers {
                requests.pending.remove(&event);
            }
        }
        stamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, CustomerId};

    fn state(id: u32, balance: i64) -> BranchState {
        let table = ProcessTable::new([
            Process::Branch(BranchId(id)),
            Process::Customer(CustomerId(id)),
        ]);
        BranchState::new(BranchId(id), balance, &table, Recording::FULL)
    }

    /// A stamp of customer `id`'s first message, sent at Lamport `lamport`: customer `id` is the
    /// one that calls branch `id`.
    fn from_customer(id: u32, lamport: u64) -> Stamp {
        Stamp {
            lamport,
            vector: vec![0, 1],
            message: MessageId {
                sender: Process::Customer(CustomerId(id)),
                number: 1,
            },
        }
    }

    /// Origin branch 3's propagation of a deposit of `money` (event 2), its message `number`
    /// and its `sequence`-th to this branch, sent at Lamport `lamport`.
    fn deposit(money: i64, lamport: u64, number: u64, sequence: u64) -> Propagation {
        Propagation {
            origin: BranchId(3),
            event: EventId(2),
            op: Op::Deposit,
            money,
            stamp: Stamp {
                lamport,
                vector: vec![0, 0],
                message: MessageId {
                    sender: Process::Branch(BranchId(3)),
                    number,
                },
            },
            sequence,
            acknowledged_through: 0,
            // Each of them C3's next write at B3.
            writes: Writes::from_counts([(BranchId(3), sequence)]),
            customer: CustomerId(3),
        }
    }

    /// A stamp of peer branch 1's acknowledgement, sent at Lamport `lamport`.
    fn from_peer(lamport: u64) -> Stamp {
        Stamp {
            lamport,
            vector: vec![0, 0],
            message: MessageId {
                sender: Process::Branch(BranchId(1)),
                number: 1,
            },
        }
    }

    /// The customer who sent `stamp` asks for `op` of `amount`, as event `event`.
    fn asking(op: Op, event: u64, amount: i64, stamp: &Stamp) -> CustomerRequest {
        let customer = match stamp.message.sender {
            Process::Customer(customer) => customer,
            Process::Branch(branch) => CustomerId(branch.0),
        };
        CustomerRequest {
            customer,
            event: EventId(event),
            action: match op {
                Op::Deposit => Action::Deposit(amount),
                Op::Withdraw => Action::Withdraw(amount),
            },
            stamp: stamp.clone(),
            writes: Writes::new(),
        }
    }

    /// The customer who sent `stamp` asks for its balance, as event `event`.
    fn asking_balance(event: u64, stamp: &Stamp) -> CustomerRequest {
        CustomerRequest {
            action: Action::Query,
            ..asking(Op::Deposit, event, 1, stamp)
        }
    }

    fn names(state: &BranchState) -> Vec<(String, u64)> {
        state
            .events()
            .iter()
            .map(|event| (event.kind.name(), event.lamport))
            .collect()
    }

    #[test]
    fn execute_merges_then_ticks_and_applies() {
        let mut state = state(2, 400);
        let execution = state.execute(&asking(Op::Deposit, 2, 170, &from_customer(2, 0)));
        assert_eq!(execution, Execution::Applied(1));
        assert_eq!(state.balance(), 570);
        assert_eq!(
            names(&state),
            [("deposit_request".into(), 1), ("deposit_execute".into(), 2)]
        );
        assert_eq!(state.events()[1].balance, Some(570));
    }

    #[test]
    fn withdraw_over_the_balance_is_rejected_but_logged() {
        let mut state = state(5, 100);
        let execution = state.execute(&asking(Op::Withdraw, 51, 101, &from_customer(5, 3)));
        assert_eq!(execution, Execution::Rejected);
        assert_eq!(state.balance(), 100);
        assert_eq!(
            names(&state),
            [
                ("withdraw_request".into(), 4),
                ("withdraw_execute".into(), 5)
            ]
        );
    }

    #[test]
    fn withdraw_of_the_whole_balance_is_applied() {
        let mut state = state(5, 100);
        let execution = state.execute(&asking(Op::Withdraw, 51, 100, &from_customer(5, 0)));
        assert_eq!(execution, Execution::Applied(1));
        assert_eq!(state.balance(), 0);
    }

    #[test]
    fn deposit_that_would_overflow_is_rejected() {
        let mut state = state(1, i64::MAX - 1);
        let execution = state.execute(&asking(Op::Deposit, 1, 2, &from_customer(1, 0)));
        assert_eq!(execution, Execution::Rejected);
        assert_eq!(state.balance(), i64::MAX - 1);
    }

    #[test]
    fn propagation_merges_the_origin_stamp_then_ticks() {
        let mut state = state(1, 400);
        let reply = state.apply_propagation(&deposit(170, 2, 1, 1));
        assert_eq!(reply.map(|stamp| stamp.lamport).ok(), Some(4));
        assert_eq!(state.balance(), 570);
    }

    #[test]
    fn propagation_that_would_overflow_changes_nothing() {
        let mut state = state(1, i64::MAX);
        let reply = state.apply_propagation(&deposit(1, 2, 1, 1));
        assert!(matches!(reply, Err(Error::Overflow { .. })));
        assert_eq!(state.clock(), 0);
        assert!(state.events().is_empty());
    }

    #[test]
    fn a_repeated_propagation_is_answered_again_not_applied_again() {
        let mut state = state(1, 400);
        let first = state.apply_propagation(&deposit(170, 2, 1, 1));
        let again = state.apply_propagation(&deposit(170, 2, 1, 1));
        assert_eq!(
            first.ok(),
            again.ok(),
            "the same acknowledgement, message id included"
        );
        assert_eq!(state.balance(), 570);
        assert_eq!(state.events().len(), 2, "the repeat is not an event");
    }

    #[test]
    fn a_repeat_is_still_recognised_after_its_acknowledgement_is_forgotten() {
        let mut state = state(1, 400);
        let first = state.apply_propagation(&deposit(170, 2, 1, 1));
        let origin = Process::Branch(BranchId(3));
        state.forget_acknowledged(origin, 1);
        assert!(state.applied[&origin].answers.is_empty());
        let again = state.apply_propagation(&deposit(170, 2, 1, 1));
        assert_eq!(again.ok(), Some(state.nothing_new()));
        assert_ne!(first.ok(), Some(state.nothing_new()));
        assert_eq!(state.balance(), 570);
        assert_eq!(state.events().len(), 2, "the repeat is not an event");
        state.forget_acknowledged(origin, 0);
        assert_eq!(
            state.applied[&origin].forgotten_through, 1,
            "never goes back"
        );
    }

    #[test]
    fn propagations_are_taken_in_their_sequence_only() {
        let mut state = state(1, 400);
        let skipped = state.apply_propagation(&deposit(5, 2, 9, 2));
        assert_eq!(
            skipped.map_err(|error| error.to_string()),
            Err("B1: B3 sent propagation 2, where 1 comes next".to_string())
        );
        let first = state.apply_propagation(&deposit(5, 2, 9, 1));
        assert!(first.is_ok());
        assert_eq!(state.balance(), 405);
        let origin = Process::Branch(BranchId(3));
        // A forged claim that everything up to 10^15 was acknowledged forgets only what was
        // handled: the next real propagation is still taken.
        state.forget_acknowledged(origin, 1_000_000_000_000_000);
        assert_eq!(state.applied[&origin].forgotten_through, 1);
        assert!(state.apply_propagation(&deposit(7, 3, 10, 2)).is_ok());
        assert_eq!(state.balance(), 412);
    }

    #[test]
    fn a_refused_propagation_is_refused_again_and_the_next_one_taken() {
        let mut state = state(1, i64::MAX - 1);
        assert!(matches!(
            state.apply_propagation(&deposit(5, 2, 1, 1)),
            Err(Error::Overflow { .. })
        ));
        assert!(matches!(
            state.apply_propagation(&deposit(5, 2, 1, 1)),
            Err(Error::Overflow { .. })
        ));
        assert!(state.apply_propagation(&deposit(1, 3, 2, 2)).is_ok());
        assert_eq!(state.balance(), i64::MAX);
    }

    #[test]
    fn the_injected_bug_applies_a_repeat_twice() {
        let mut state = state(1, 400).with_bug(Some(Bug::ApplyDuplicatesTwice));
        let _ = state.apply_propagation(&deposit(170, 2, 1, 1));
        let _ = state.apply_propagation(&deposit(170, 2, 1, 1));
        assert_eq!(state.balance(), 740);
    }

    #[test]
    fn a_branch_begins_one_run_at_a_time_and_starts_over_when_reset() {
        let mut state = BranchState::waiting(BranchId(1), 400);
        assert!(!state.begun());
        let table = ProcessTable::new([
            Process::Branch(BranchId(1)),
            Process::Customer(CustomerId(1)),
        ]);
        assert_eq!(state.begin(&table, Recording::FULL), Ok(()));
        assert_eq!(
            state.begin(&table, Recording::FULL),
            Ok(()),
            "again, before anything"
        );
        state.execute(&asking(Op::Deposit, 1, 5, &from_customer(1, 0)));
        assert_eq!(
            state.begin(&table, Recording::FULL),
            Err(2),
            "two events held"
        );
        state.reset();
        assert_eq!(
            (state.begun(), state.balance(), state.clock()),
            (false, 400, 0)
        );
        assert!(state.events().is_empty());
        assert_eq!(state.begin(&table, Recording::FULL), Ok(()));
        state.execute(&asking(Op::Deposit, 1, 5, &from_customer(1, 0)));
        assert_eq!(state.events()[0].vector, [1, 1], "the vector is the run's");
    }

    #[test]
    fn a_query_touches_no_lamport_clock() {
        let mut state = state(1, 400);
        let (balance, stamp) = state.serve_query(&asking_balance(1, &from_customer(1, 7)));
        assert_eq!((balance, stamp.lamport, state.clock()), (400, 0, 0));
        assert_eq!(state.events()[0].vector, [1, 0]);
    }

    /// A branch restarted from a memory store is where it was at its last commit: the step
    /// after it is lost (its customer, asking again, gets it done as new), the one before is
    /// kept (and is finished, not done again).
    #[test]
    fn a_restart_from_memory_keeps_the_committed_steps_only() {
        use super::super::journal::memory::MemoryStore;
        let store = MemoryStore::new();
        let start = || {
            let (entries, journal) = store.open(std::time::Duration::ZERO);
            state(2, 400)
                .remembering_requests()
                .restored(entries, journal)
        };
        let mut before = start();
        let first = from_customer(2, 0);
        assert_eq!(
            before.execute(&asking(Op::Deposit, 1, 10, &first)),
            Execution::Applied(1)
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        runtime.block_on(before.commit().wait()).expect("committed");
        let second = Stamp {
            message: MessageId {
                sender: Process::Customer(CustomerId(2)),
                number: 2,
            },
            ..from_customer(2, 1)
        };
        before.execute(&asking(Op::Deposit, 2, 20, &second));
        assert_eq!((before.balance(), before.clock()), (430, 4));
        // The host crashes before the second step is committed.
        drop(before);
        let after = start();
        assert_eq!(
            (after.balance(), after.clock(), after.event_count()),
            (410, 2, 2)
        );
        let ask = |event, amount, stamp: &Stamp| CustomerRequest {
            customer: CustomerId(2),
            event: EventId(event),
            action: Action::Deposit(amount),
            stamp: stamp.clone(),
            writes: Writes::new(),
        };
        assert_eq!(
            after.earlier(&ask(1, 10, &first)).ok(),
            Some(Earlier::InProgress)
        );
        assert_eq!(after.earlier(&ask(2, 20, &second)).ok(), Some(Earlier::New));
        assert_eq!(
            after.unfinished().len(),
            1,
            "the kept change is to be finished"
        );
    }

    #[test]
    fn acknowledge_and_reply_follow_the_clock_rules() {
        let mut state = state(2, 400);
        state.execute(&asking(Op::Deposit, 2, 170, &from_customer(2, 0)));
        state.acknowledge(Op::Deposit, EventId(2), 1, &from_peer(4));
        state.acknowledge(Op::Deposit, EventId(2), 2, &from_peer(7));
        assert_eq!(state.reply(Op::Deposit, EventId(2)).lamport, 9);
        assert_eq!(
            names(&state)[2..],
            [
                ("deposit_propagate_response".into(), 5),
                ("deposit_propagate_response".into(), 8),
                ("deposit_response".into(), 9)
            ]
        );
    }
}
