//! Replays the money of a trace: every branch starts from the initial balance, every execute
//! step must leave the balance before it plus or minus the change (or, for a change refused,
//! unchanged), a withdraw is accepted at its origin exactly when the balance there covers it,
//! every query returns the balance of its branch at that moment, and every customer is told
//! `success` or `fail` as its origin decided. A wrong balance is reported once and then taken
//! at its right value; a balance is right if the rules give it from the right balance before
//! it or from the one printed before it, so that one wrong balance is one finding. Pure.

use std::collections::{BTreeMap, HashMap};

use super::{Finding, Rule};
use crate::model::{Action, BranchId, EventId, MessageId, Op, Process, Step};
use crate::trace::{EventKind, History, Outcome, TraceEvent};

/// What a money replay found, and the balances it ended with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoneyReplay {
    /// Every broken money rule.
    pub findings: Vec<Finding>,
    /// Each branch's balance at the end, as the rules give it.
    pub finals: BTreeMap<BranchId, i64>,
}

fn finding(event: &TraceEvent, message: String) -> Finding {
    Finding {
        rule: Rule::Money,
        process: Some(event.process),
        message,
    }
}

/// `570 + 170 = 740`, or `570 - 1000 = -430`.
fn sum(before: i64, op: Op, amount: i64) -> String {
    let sign = match op {
        Op::Deposit => '+',
        Op::Withdraw => '-',
    };
    match op.apply(before, amount) {
        Some(after) => format!("{before} {sign} {amount} = {after}"),
        None => format!("{before} {sign} {amount}, which overflows"),
    }
}

/// Replays the money of `history`, whose initial balance must be known; `None` without it.
pub fn replay(history: &History) -> Option<MoneyReplay> {
    let initial = history.initial_balance?;
    // What each customer asked, by event id, from its sends.
    let mut asked: HashMap<EventId, Action> = HashMap::new();
    for event in history.iter() {
        if let EventKind::Send(action) = event.kind {
            asked.entry(event.event_id).or_insert(action);
        }
    }
    let mut out = MoneyReplay::default();
    let mut decided: HashMap<EventId, bool> = HashMap::new();
    // Each query's answer: the balance as the rules give it, and as the branch printed it.
    let mut answers: HashMap<MessageId, (i64, i64)> = HashMap::new();
    for events in &history.events {
        let Some(Process::Branch(branch)) = events.first().map(|event| event.process) else {
            continue;
        };
        let mut balance = initial;
        let mut shown = initial;
        for event in events {
            match event.kind {
                EventKind::Query => {
                    for &message in &event.sends {
                        answers.insert(message, (balance, shown));
                    }
                }
                EventKind::Branch(sub_event) => {
                    let Some(printed) = event.balance else {
                        continue;
                    };
                    let origin = match sub_event.step {
                        Step::Execute => true,
                        Step::PropagateExecute => false,
                        _ => continue,
                    };
                    let amount = asked
                        .get(&event.event_id)
                        .and_then(|action| action.change());
                    let right = match amount {
                        Some((op, amount)) => {
                            let (mut right, mut message) =
                                judge_change(balance, printed, op, amount, origin);
                            // Right from the balance printed before it: the wrong one was that.
                            if message.is_some()
                                && judge_change(shown, printed, op, amount, origin).1.is_none()
                            {
                                (right, message) = (printed, None);
                            }
                            if origin {
                                decided.insert(event.event_id, right != balance);
                            }
                            if let Some(message) = message {
                                out.findings.push(finding(
                                    event,
                                    format!("{} {message}", event.local_label()),
                                ));
                            }
                            right
                        }
                        // No customer in the trace says how much: the balance is taken as it
                        // is, and the origin's decision from whether it changed.
                        None => {
                            if origin {
                                decided.insert(event.event_id, printed != balance);
                            }
                            printed
                        }
                    };
                    balance = right;
                    shown = printed;
                }
                _ => {}
            }
        }
        out.finals.insert(branch, balance);
    }
    for event in history.iter() {
        let (EventKind::Receive(action), Some(outcome)) = (event.kind, event.outcome) else {
            continue;
        };
        let message = match (action, outcome) {
            (Action::Query, Outcome::Balance(got)) => {
                let Some(&(right, shown)) = event.receives.and_then(|m| answers.get(&m)) else {
                    continue;
                };
                (got != right && got != shown).then(|| {
                    format!(
                        "{} got the balance {got}, but its branch held {right} when it answered",
                        event.local_label()
                    )
                })
            }
            (Action::Deposit(_) | Action::Withdraw(_), Outcome::Success | Outcome::Fail) => {
                let Some(&applied) = decided.get(&event.event_id) else {
                    continue;
                };
                let told = outcome == Outcome::Success;
                (told != applied).then(|| {
                    let decision = if applied { "applied" } else { "refused" };
                    format!(
                        "{} got {outcome}, but its origin {decision} the change",
                        event.local_label()
                    )
                })
            }
            _ => None,
        };
        if let Some(message) = message {
            out.findings.push(finding(event, message));
        }
    }
    Some(out)
}

/// Judges the balance `printed` after a change of `amount` to `before`: the balance the rules
/// give, and what is wrong if it is not the one printed. At the origin a withdraw is refused
/// when the balance does not cover it; anywhere a change that overflows is refused.
fn judge_change(
    before: i64,
    printed: i64,
    op: Op,
    amount: i64,
    origin: bool,
) -> (i64, Option<String>) {
    let applied = op.apply(before, amount);
    let covered = !origin || op == Op::Deposit || amount <= before;
    match applied {
        Some(after) if covered => {
            if printed == after {
                (after, None)
            } else if printed == before && origin {
                let why = format!(
                    "refused the {} of {amount}, though the balance {before} covers it",
                    op.name()
                );
                (after, Some(why))
            } else {
                let why = format!(
                    "has balance {printed}, but the rule gives {}",
                    sum(before, op, amount)
                );
                (after, Some(why))
            }
        }
        _ if printed == before => (before, None),
        _ if !covered => {
            let why = format!(
                "accepted the withdraw of {amount} (balance {printed}), though the balance \
                 {before} does not cover it"
            );
            // Applied all the same: the steps after it are judged from what it did.
            let done = applied.filter(|&after| after == printed).unwrap_or(before);
            (done, Some(why))
        }
        _ => {
            let why = format!(
                "has balance {printed}, but {} is refused and leaves {before}",
                sum(before, op, amount)
            );
            (before, Some(why))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_judged_by_the_balance_before_it() {
        assert_eq!(judge_change(400, 570, Op::Deposit, 170, true), (570, None));
        assert_eq!(
            judge_change(570, 570, Op::Withdraw, 1000, true),
            (570, None)
        );
        let (right, why) = judge_change(570, -430, Op::Withdraw, 1000, true);
        assert_eq!(right, -430, "applied all the same");
        assert_eq!(
            why.as_deref(),
            Some(
                "accepted the withdraw of 1000 (balance -430), though the balance 570 does not \
                 cover it"
            )
        );
        let (right, why) = judge_change(400, 600, Op::Deposit, 170, false);
        assert_eq!(right, 570);
        assert_eq!(
            why.as_deref(),
            Some("has balance 600, but the rule gives 400 + 170 = 570")
        );
        // A peer applies a withdraw its origin accepted, even below zero.
        assert_eq!(judge_change(50, -20, Op::Withdraw, 70, false), (-20, None));
        let (_, why) = judge_change(570, 570, Op::Withdraw, 70, true);
        assert_eq!(
            why.as_deref(),
            Some("refused the withdraw of 70, though the balance 570 covers it")
        );
    }
}
