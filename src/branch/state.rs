//! One branch's replica: its balance, its Lamport clock and its log of sub-events, with one
//! synchronous method per sub-event. No I/O: the gRPC handlers call these under a lock.

use crate::clock::LamportClock;
use crate::error::Error;
use crate::model::{BranchId, EventId, Op, Step, SubEvent};
use crate::trace::BranchRecord;

/// What the origin's execute step decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// The change was applied; it must now be propagated.
    Applied,
    /// The change was refused (a withdraw over the balance, or an overflow): nothing changed.
    Rejected,
}

/// A branch's balance, clock and log.
#[derive(Debug, Clone)]
pub struct BranchState {
    id: BranchId,
    balance: i64,
    clock: LamportClock,
    log: Vec<BranchRecord>,
}

impl BranchState {
    /// A branch with its initial balance and a clock at 0.
    pub fn new(id: BranchId, balance: i64) -> Self {
        Self {
            id,
            balance,
            clock: LamportClock::new(),
            log: Vec::new(),
        }
    }

    /// The replica of the balance.
    pub fn balance(&self) -> i64 {
        self.balance
    }

    /// The current Lamport clock: the stamp of a message sent now.
    pub fn clock(&self) -> u64 {
        self.clock.now()
    }

    /// The sub-events recorded so far, in the order they happened.
    pub fn log(&self) -> &[BranchRecord] {
        &self.log
    }

    /// `X_request` then `X_execute` on the origin: merges the customer's stamp, then ticks and
    /// applies the change, or rejects a withdraw larger than the balance (or any overflow).
    pub fn execute(&mut self, op: Op, event: EventId, amount: i64, stamp: u64) -> Execution {
        let clock = self.clock.merge(stamp);
        self.record(event, op, Step::Request, clock, None);
        let clock = self.clock.tick();
        self.record(event, op, Step::Execute, clock, None);
        let covered = op == Op::Deposit || amount <= self.balance;
        match op.apply(self.balance, amount) {
            Some(balance) if covered => {
                self.balance = balance;
                Execution::Applied
            }
            _ => Execution::Rejected,
        }
    }

    /// `X_propagate_request` then `X_propagate_execute` on a peer: merges the origin's stamp,
    /// then ticks and applies the change. Returns the clock after the execute (the reply's stamp).
    pub fn apply_propagation(
        &mut self,
        origin: BranchId,
        op: Op,
        event: EventId,
        amount: i64,
        stamp: u64,
    ) -> Result<u64, Error> {
        // Checked first, so that a refused propagation leaves the clock and log untouched.
        let balance = op.apply(self.balance, amount).ok_or(Error::Overflow {
            branch: self.id,
            event,
        })?;
        let clock = self.clock.merge(stamp);
        self.record(event, op, Step::PropagateRequest, clock, Some(origin));
        let clock = self.clock.tick();
        self.record(event, op, Step::PropagateExecute, clock, Some(origin));
        self.balance = balance;
        Ok(clock)
    }

    /// `X_propagate_response` on the origin: merges the stamp of `peer`'s acknowledgement.
    pub fn acknowledge(&mut self, peer: BranchId, op: Op, event: EventId, stamp: u64) {
        let clock = self.clock.merge(stamp);
        self.record(event, op, Step::PropagateResponse, clock, Some(peer));
    }

    /// The reply to the customer on the origin: ticks (logged as `X_response`, which the
    /// `original` model leaves out of its output). Returns the reply's stamp.
    pub fn reply(&mut self, op: Op, event: EventId) -> u64 {
        let clock = self.clock.tick();
        self.record(event, op, Step::Response, clock, None);
        clock
    }

    fn record(&mut self, event: EventId, op: Op, step: Step, clock: u64, peer: Option<BranchId>) {
        self.log.push(BranchRecord {
            event_id: event,
            sub_event: SubEvent { op, step },
            clock,
            peer,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(state: &BranchState) -> Vec<(String, u64)> {
        state
            .log()
            .iter()
            .map(|record| (record.sub_event.name(), record.clock))
            .collect()
    }

    #[test]
    fn execute_merges_then_ticks_and_applies() {
        let mut state = BranchState::new(BranchId(2), 400);
        assert_eq!(
            state.execute(Op::Deposit, EventId(2), 170, 0),
            Execution::Applied
        );
        assert_eq!(state.balance(), 570);
        assert_eq!(
            names(&state),
            [("deposit_request".into(), 1), ("deposit_execute".into(), 2)]
        );
    }

    #[test]
    fn withdraw_over_the_balance_is_rejected_but_logged() {
        let mut state = BranchState::new(BranchId(5), 100);
        assert_eq!(
            state.execute(Op::Withdraw, EventId(51), 101, 3),
            Execution::Rejected
        );
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
        let mut state = BranchState::new(BranchId(5), 100);
        assert_eq!(
            state.execute(Op::Withdraw, EventId(51), 100, 0),
            Execution::Applied
        );
        assert_eq!(state.balance(), 0);
    }

    #[test]
    fn deposit_that_would_overflow_is_rejected() {
        let mut state = BranchState::new(BranchId(1), i64::MAX - 1);
        assert_eq!(
            state.execute(Op::Deposit, EventId(1), 2, 0),
            Execution::Rejected
        );
        assert_eq!(state.balance(), i64::MAX - 1);
    }

    #[test]
    fn propagation_merges_the_origin_stamp_then_ticks() {
        let mut state = BranchState::new(BranchId(1), 400);
        let reply = state.apply_propagation(BranchId(2), Op::Deposit, EventId(2), 170, 2);
        assert_eq!(reply.ok(), Some(4));
        assert_eq!(state.balance(), 570);
        assert_eq!(state.log()[0].peer, Some(BranchId(2)));
    }

    #[test]
    fn propagation_that_would_overflow_changes_nothing() {
        let mut state = BranchState::new(BranchId(1), i64::MAX);
        let reply = state.apply_propagation(BranchId(2), Op::Deposit, EventId(2), 1, 2);
        assert!(matches!(reply, Err(Error::Overflow { .. })));
        assert_eq!(state.clock(), 0);
        assert!(state.log().is_empty());
    }

    #[test]
    fn acknowledge_and_reply_follow_the_clock_rules() {
        let mut state = BranchState::new(BranchId(2), 400);
        state.execute(Op::Deposit, EventId(2), 170, 0);
        state.acknowledge(BranchId(1), Op::Deposit, EventId(2), 4);
        state.acknowledge(BranchId(3), Op::Deposit, EventId(2), 7);
        assert_eq!(state.reply(Op::Deposit, EventId(2)), 9);
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
