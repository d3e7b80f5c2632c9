//! Domain vocabulary shared by every module: process ids and their names (`B2`, `C3`, defined
//! here and nowhere else), message ids, operations, sub-event kinds and their output names, the
//! three clock models and the two schedules.

use std::fmt;
use std::str::FromStr;

/// The id of a branch process `Bn`: a positive whole number, not necessarily contiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BranchId(pub u32);

/// The id of a customer process `Cn`; customer `Cn` talks only to branch `Bn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CustomerId(pub u32);

/// The id of one customer event (query, deposit or withdraw), unique in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(pub u64);

impl CustomerId {
    /// The branch this customer is allowed to talk to: the one with the same id.
    pub fn home_branch(self) -> BranchId {
        BranchId(self.0)
    }
}

impl fmt::Display for BranchId {
    /// `B2`: how a branch is named in every message, picture and trace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B{}", self.0)
    }
}

impl fmt::Display for CustomerId {
    /// `C2`: how a customer is named in every message, picture and trace.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "C{}", self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Any process of the system: a branch or a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Process {
    /// A branch server.
    Branch(BranchId),
    /// A customer client.
    Customer(CustomerId),
}

impl fmt::Display for Process {
    /// `B2` or `C2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Branch(id) => id.fmt(f),
            Process::Customer(id) => id.fmt(f),
        }
    }
}

/// A name that is not `B<id>` or `C<id>` with a whole number id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad process name {0:?} (expected like B2 or C3)")]
pub struct BadProcessName(pub String);

impl FromStr for Process {
    type Err = BadProcessName;

    /// Parses `B3` or `C3`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let bad = || BadProcessName(name.to_string());
        let (kind, id) = name.split_at_checked(1).ok_or_else(bad)?;
        // `u32::from_str` takes a leading `+`, which no name has.
        if id.starts_with('+') {
            return Err(bad());
        }
        let id: u32 = id.parse().map_err(|_| bad())?;
        match kind {
            "B" => Ok(Process::Branch(BranchId(id))),
            "C" => Ok(Process::Customer(CustomerId(id))),
            _ => Err(bad()),
        }
    }
}

impl serde::Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A message: its sender and the sender's running count of messages sent (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId {
    /// The process that sent it.
    pub sender: Process,
    /// Its number among the sender's messages.
    pub number: u64,
}

/// A text that is not a message id like `B2:3`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad message id {0:?} (expected like B2:3)")]
pub struct BadMessageId(pub String);

impl FromStr for MessageId {
    type Err = BadMessageId;

    /// Parses `B2:3`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadMessageId(text.to_string());
        let (sender, number) = text.split_once(':').ok_or_else(bad)?;
        if number.starts_with('+') {
            return Err(bad());
        }
        Ok(MessageId {
            sender: sender.parse().map_err(|_| bad())?,
            number: number.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for MessageId {
    /// `B2:3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.sender, self.number)
    }
}

impl serde::Serialize for MessageId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MessageId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A change to the balance that is propagated to every branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Adds money to the balance.
    Deposit,
    /// Takes money from the balance; rejected if the origin replica holds too little.
    Withdraw,
}

impl Op {
    /// The name used in the output (`deposit`, `withdraw`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Deposit => "deposit",
            Op::Withdraw => "withdraw",
        }
    }

    /// Applies the operation to `balance`; `None` when the result would overflow an `i64`
    /// (or, for a withdraw, when the caller's rules forbid going below zero is decided elsewhere).
    pub fn apply(self, balance: i64, amount: i64) -> Option<i64> {
        match self {
            Op::Deposit => balance.checked_add(amount),
            Op::Withdraw => balance.checked_sub(amount),
        }
    }
}

/// What a customer asks of its branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Reads the branch's replica of the balance.
    Query,
    /// Deposits a positive amount.
    Deposit(i64),
    /// Withdraws a positive amount.
    Withdraw(i64),
}

impl Action {
    /// The interface name as written in the input (`query`, `deposit`, `withdraw`).
    pub fn interface(self) -> &'static str {
        match self {
            Action::Query => "query",
            Action::Deposit(_) => Op::Deposit.name(),
            Action::Withdraw(_) => Op::Withdraw.name(),
        }
    }

    /// The balance change this action asks for, if it is one.
    pub fn change(self) -> Option<(Op, i64)> {
        match self {
            Action::Query => None,
            Action::Deposit(amount) => Some((Op::Deposit, amount)),
            Action::Withdraw(amount) => Some((Op::Withdraw, amount)),
        }
    }
}

/// One step in the life of a deposit or withdraw (Diagram B of the original README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// The origin branch receives the customer's request (merge).
    Request,
    /// The origin branch applies or rejects the change (tick).
    Execute,
    /// Another branch receives the propagation (merge).
    PropagateRequest,
    /// That branch applies the change (tick).
    PropagateExecute,
    /// The origin branch receives a peer's acknowledgement (merge).
    PropagateResponse,
    /// The origin branch replies to the customer (tick); logged only in the `strict` model.
    Response,
}

impl Step {
    /// Every step, in the order they happen for one event.
    pub const ALL: [Step; 6] = [
        Step::Request,
        Step::Execute,
        Step::PropagateRequest,
        Step::PropagateExecute,
        Step::PropagateResponse,
        Step::Response,
    ];

    /// The suffix of the sub-event name (`request`, `propagate_execute`, ...).
    pub fn suffix(self) -> &'static str {
        match self {
            Step::Request => "request",
            Step::Execute => "execute",
            Step::PropagateRequest => "propagate_request",
            Step::PropagateExecute => "propagate_execute",
            Step::PropagateResponse => "propagate_response",
            Step::Response => "response",
        }
    }
}

/// A branch sub-event: which operation and which step of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubEvent {
    /// The operation the sub-event belongs to.
    pub op: Op,
    /// The step within that operation.
    pub step: Step,
}

impl SubEvent {
    /// The output name, e.g. `deposit_propagate_request`. The only place names are built.
    pub fn name(self) -> String {
        format!("{}_{}", self.op.name(), self.step.suffix())
    }

    /// Parses an output name back into a sub-event; `None` for an unknown name.
    pub fn parse(name: &str) -> Option<SubEvent> {
        let (op, rest) = if let Some(rest) = name.strip_prefix("deposit_") {
            (Op::Deposit, rest)
        } else {
            (Op::Withdraw, name.strip_prefix("withdraw_")?)
        };
        let step = Step::ALL.into_iter().find(|step| step.suffix() == rest)?;
        Some(SubEvent { op, step })
    }
}

/// Which rules the customers follow and whether the reply tick is logged (the README's "Two clock models").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClockModel {
    /// The original Python simulator's rules: a customer stamps requests without ticking, the reply
    /// tick is not logged, a customer merges every reply (a query's too).
    #[default]
    Original,
    /// Lamport's rules to the letter: a customer send ticks, the reply tick is logged as
    /// `X_response`, a customer merges deposit/withdraw replies, a query touches no clock.
    Strict,
    /// The course's rules from fall 2023 on: only messages are events. Every send ticks (a
    /// customer's requests, queries too, and each propagation to each peer, as an event of its
    /// own), every receive of a request or a propagation merges; a customer never merges a
    /// reply, and executes, acknowledgements and replies leave the clock as it is.
    Messages,
}

impl ClockModel {
    /// Every model.
    pub const ALL: [ClockModel; 3] = [
        ClockModel::Original,
        ClockModel::Strict,
        ClockModel::Messages,
    ];

    /// The model of a name (as [`ClockModel::name`] writes it), if it is one.
    pub fn parse(name: &str) -> Option<ClockModel> {
        Self::ALL.into_iter().find(|model| model.name() == name)
    }

    /// The model's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ClockModel::Original => "original",
            ClockModel::Strict => "strict",
            ClockModel::Messages => "messages",
        }
    }

    /// Whether the origin's reply tick appears in the output as `X_response`.
    pub fn logs_response(self) -> bool {
        self == ClockModel::Strict
    }
}

/// How customers and propagations are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Schedule {
    /// Customers one after another in input order; an origin propagates to one peer at a time, in
    /// ascending id. The clocks are fully determined by the input.
    #[default]
    Sequential,
    /// All customers at once; an origin propagates to all peers in parallel.
    Concurrent,
}

impl Schedule {
    /// The schedule's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Sequential => "sequential",
            Schedule::Concurrent => "concurrent",
        }
    }
}

/// Where the customers of a run are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Visits {
    /// Each customer at its own branch (the branch with its id).
    #[default]
    Home,
    /// At the branch each event names in its `branch` field (the client-centric project's
    /// input, whose output has one entry per event).
    Branch,
    /// At the branch each event names in its `dest` field (the same project's other input,
    /// whose output is the balance each customer reads last).
    Dest,
}

impl Visits {
    /// Whether a customer may be served by a branch other than its own.
    pub fn roaming(self) -> bool {
        self != Visits::Home
    }
}

/// When the origin of a deposit or withdraw answers its customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PropagationMode {
    /// After every other branch has applied the change (the original's design): replicas agree
    /// whenever no change is in flight, and a customer's next request sees its writes anywhere.
    #[default]
    Sync,
    /// Right after executing it; the change is propagated in the background (the course's
    /// client-centric project). What a customer sees is then up to its session guarantees.
    Async,
}

impl PropagationMode {
    /// Every mode.
    pub const ALL: [PropagationMode; 2] = [PropagationMode::Sync, PropagationMode::Async];

    /// The mode's name on the command line, in traces and reports.
    pub fn name(self) -> &'static str {
        match self {
            PropagationMode::Sync => "sync",
            PropagationMode::Async => "async",
        }
    }

    /// The mode of a name (as [`PropagationMode::name`] writes it), if it is one.
    pub fn parse(name: &str) -> Option<PropagationMode> {
        Self::ALL.into_iter().find(|mode| mode.name() == name)
    }
}

/// Whether branches enforce a customer's session guarantees (read-your-writes and monotonic
/// writes; see [`crate::session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SessionGuarantees {
    /// A branch waits until it has applied every write a customer made before serving it, and
    /// applies each customer's writes in the order the customer made them.
    #[default]
    Enforced,
    /// Nothing is waited for: with asynchronous propagation, a customer may read a branch that
    /// has not seen its writes yet, and a branch may apply them out of order.
    None,
}

impl SessionGuarantees {
    /// Both settings.
    pub const ALL: [SessionGuarantees; 2] = [SessionGuarantees::Enforced, SessionGuarantees::None];

    /// The setting's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            SessionGuarantees::Enforced => "enforced",
            SessionGuarantees::None => "none",
        }
    }

    /// The setting of a name, if it is one.
    pub fn parse(name: &str) -> Option<SessionGuarantees> {
        Self::ALL.into_iter().find(|setting| setting.name() == name)
    }

    /// Whether branches wait for what a customer's session needs.
    pub fn enforced(self) -> bool {
        self == SessionGuarantees::Enforced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sub_event_name_parses_back() {
        for op in [Op::Deposit, Op::Withdraw] {
            for step in Step::ALL {
                let event = SubEvent { op, step };
                assert_eq!(SubEvent::parse(&event.name()), Some(event));
            }
        }
        assert_eq!(
            SubEvent::parse("deposit_propagate_request").map(|e| e.step),
            Some(Step::PropagateRequest)
        );
        assert_eq!(SubEvent::parse("query_request"), None);
        assert_eq!(SubEvent::parse("deposit_"), None);
    }

    #[test]
    fn process_names_parse_back_and_refuse_what_is_not_a_name() {
        let c7: Process = "C7".parse().expect("a customer name");
        assert_eq!(c7, Process::Customer(CustomerId(7)));
        assert_eq!(Process::Branch(BranchId(12)).to_string(), "B12");
        for bad in ["", "B", "X3", "B-1", "B+1", "b3", "B4294967296", "B 1"] {
            assert_eq!(bad.parse::<Process>(), Err(BadProcessName(bad.to_string())));
        }
        let message: MessageId = "B2:3".parse().expect("a message id");
        assert_eq!(message.to_string(), "B2:3");
        assert!("B2".parse::<MessageId>().is_err());
        assert!("B2:+3".parse::<MessageId>().is_err());
    }

    #[test]
    fn apply_refuses_overflow() {
        assert_eq!(Op::Deposit.apply(i64::MAX, 1), None);
        assert_eq!(Op::Withdraw.apply(i64::MIN, 1), None);
        assert_eq!(Op::Withdraw.apply(400, 70), Some(330));
    }
}
