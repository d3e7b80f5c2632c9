//! Replays the Lamport clock rules exactly. Every process is a [`Timeline`] of slots, each with
//! the clock the file printed and the rule that gives it from the slot before it and, for a
//! merge, from the clock of the send it received. A clock that differs from its rule is
//! flagged and then taken at the rule's value, so that one wrong clock is one finding, not a
//! cascade blamed on the events after it: the next event and the receive of its message are
//! judged against the corrected value. Pure; linear in the number of slots.

use std::collections::HashMap;

/// Where a slot is: its timeline's index, and its position in that timeline.
pub type At = (usize, usize);

/// How a slot's clock follows from what came before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockRule {
    /// `local + 1`.
    Tick,
    /// The clock stays as it is (an event that does not advance the clock).
    Keep,
    /// `max(local, stamp) + 1`, the stamp being the clock of the send at `At`.
    Merge(At),
    /// `max(local, stamp) + 1`, the stamp being the clock of one of the slots `first..=last` of
    /// `timeline`: the file does not say which (an output shows no sends, only that the
    /// message left between two of its sender's events).
    MergeAny {
        /// The sender's timeline.
        timeline: usize,
        /// The earliest slot it may have been sent at.
        first: usize,
        /// The latest.
        last: usize,
    },
    /// A merge with a stamp the file does not show: only known to be after `local`.
    MergeUnseen,
    /// A tick the file does not log (the `original` model's reply to a customer): it may come
    /// at any point up to the next slot that [`Slot::settles`]; never judged itself.
    Unlogged,
}

/// One event of a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The clock as printed (ignored for [`ClockRule::Unlogged`]).
    pub clock: u64,
    /// The rule that gives it.
    pub rule: ClockRule,
    /// Every unlogged tick before this slot has happened before it (a customer's next request
    /// comes only after the reply to its last one).
    pub settles: bool,
    /// Whether the file shows this clock; one it does not (a customer's, rebuilt from the
    /// branches' logs) takes the rule's value and is never judged.
    pub shown: bool,
}

impl Slot {
    /// A slot with `clock` and `rule` that settles nothing.
    pub fn new(clock: u64, rule: ClockRule) -> Self {
        Self {
            clock,
            rule,
            settles: false,
            shown: true,
        }
    }

    /// A slot the file does not show, whose clock is whatever `rule` gives.
    pub fn unshown(rule: ClockRule) -> Self {
        Self {
            shown: false,
            ..Self::new(0, rule)
        }
    }
}

/// One process's events in the order they happened.
pub type Timeline = Vec<Slot>;

/// A clock that is not the value its rule gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Which slot.
    pub at: At,
    /// The clock printed.
    pub printed: u64,
    /// The clock the rule gives (the smallest allowed, for a merge with an unseen stamp).
    pub expected: u64,
    /// How the rule gives it, e.g. `max(4, 3) + 1 = 5`.
    pub why: String,
    /// What else the printed clock breaks, e.g. `not after the previous event`; empty if only
    /// its value is wrong.
    pub also: Vec<&'static str>,
}

/// What a replay found: every mismatch in causal order per timeline, and every slot's clock
/// after correction (the printed one where it matched).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// The clocks that break their rules.
    pub mismatches: Vec<Mismatch>,
    /// Every slot's clock as the rules give it from the corrected clocks before it.
    pub corrected: Vec<Vec<u64>>,
}

/// Where a timeline stands in the replay.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    next: usize,
    /// The clock after the last slot, as corrected.
    clock: u64,
    /// The clock after the last slot, as printed (as corrected for one the file does not show).
    printed: u64,
    unlogged: u64,
}

/// Replays every timeline, visiting slots in causal order (a merge waits for its send). A
/// merge whose send cannot come first (the file received a message before sending it, which
/// another check reports) takes the send's printed clock.
pub fn replay(timelines: &[Timeline]) -> Replay {
    let mut corrected: Vec<Vec<u64>> = timelines.iter().map(|t| vec![0; t.len()]).collect();
    let mut cursors = vec![Cursor::default(); timelines.len()];
    let mut waiting: HashMap<At, Vec<usize>> = HashMap::new();
    let mut ready: Vec<usize> = (0..timelines.len()).rev().collect();
    let mut mismatches = Vec::new();
    let mut forced = false;
    loop {
        while let Some(timeline) = ready.pop() {
            let slots = &timelines[timeline];
            loop {
                let cursor = &mut cursors[timeline];
                let Some(slot) = slots.get(cursor.next) else {
                    break;
                };
                let source = slot.rule.source();
                let stamps = match source {
                    Some((sender, first, last)) => {
                        let passed = |t: usize| cursors[t].next;
                        sent_clocks(
                            timelines,
                            &corrected,
                            passed(sender),
                            sender,
                            first..=last,
                            forced,
                        )
                    }
                    None => Some(Vec::new()),
                };
                let Some(stamps) = stamps else {
                    if let Some((sender, _, last)) = source {
                        waiting.entry((sender, last)).or_default().push(timeline);
                    }
                    break;
                };
                forced = false;
                let cursor = &mut cursors[timeline];
                let at = (timeline, cursor.next);
                mismatches.extend(judge(at, slot, &stamps, cursor));
                corrected[timeline][at.1] = cursor.clock;
                cursor.next += 1;
                if let Some(woken) = waiting.remove(&at) {
                    ready.extend(woken);
                }
            }
        }
        // Everything left waits on a send that waits in turn: take the first waiting merge
        // with its send's printed clock, and go on.
        let Some((&at, _)) = waiting.iter().min_by_key(|(at, _)| **at) else {
            break;
        };
        let woken = waiting.remove(&at).unwrap_or_default();
        ready.extend(woken);
        forced = true;
    }
    Replay {
        mismatches,
        corrected,
    }
}

impl ClockRule {
    /// For a merge, where its send may be: the sender's timeline, the first and last slot.
    fn source(self) -> Option<(usize, usize, usize)> {
        match self {
            ClockRule::Merge((timeline, position)) => Some((timeline, position, position)),
            ClockRule::MergeAny {
                timeline,
                first,
                last,
            } => Some((timeline, first, last)),
            _ => None,
        }
    }
}

/// The clocks the send may have had, corrected and as printed, once the replay has passed
/// every slot of `slots` on the sender (whose next slot is `passed`), or, `forced`, as printed.
fn sent_clocks(
    timelines: &[Timeline],
    corrected: &[Vec<u64>],
    passed: usize,
    sender: usize,
    slots: std::ops::RangeInclusive<usize>,
    forced: bool,
) -> Option<Vec<(u64, u64)>> {
    // A send that is not there (no caller makes one) merges as nothing.
    let Some(printed) = timelines.get(sender).and_then(|t| t.get(slots.clone())) else {
        return Some(vec![(0, 0)]);
    };
    if passed > *slots.end() {
        let clocks = corrected[sender][slots].iter().zip(printed);
        let pair =
            |(&right, slot): (&u64, &Slot)| (right, if slot.shown { slot.clock } else { right });
        Some(clocks.map(pair).collect())
    } else {
        forced.then(|| {
            printed
                .iter()
                .map(|slot| (slot.clock, slot.clock))
                .collect()
        })
    }
}

/// Judges one slot at `cursor` (which it advances), with the clocks its send may have had,
/// corrected and as printed (none when it is no merge). A clock is right if the rule gives it
/// from the corrected clocks before it or from the printed ones: a clock wrong because one
/// before it is wrong is not blamed, nor one right after a gap in the file.
fn judge(at: At, slot: &Slot, sends: &[(u64, u64)], cursor: &mut Cursor) -> Option<Mismatch> {
    let before = cursor.clock;
    let printed_before = cursor.printed;
    if slot.rule == ClockRule::Unlogged {
        cursor.unlogged += 1;
        return None;
    }
    let rule = |local: u64, stamp: u64| match slot.rule {
        ClockRule::Tick | ClockRule::MergeUnseen | ClockRule::Unlogged => local.saturating_add(1),
        ClockRule::Keep => local,
        ClockRule::Merge(_) | ClockRule::MergeAny { .. } => local.max(stamp).saturating_add(1),
    };
    // The stamp for rules that merge none: any value at most `local` changes nothing.
    let sends = if sends.is_empty() {
        &[(0, 0)][..]
    } else {
        sends
    };
    let stamps: Vec<u64> = sends.iter().map(|&(right, _)| right).collect();
    let last = stamps.last().copied().unwrap_or_default();
    if !slot.shown {
        cursor.clock = rule(before.saturating_add(cursor.unlogged), last);
        cursor.printed = cursor.clock;
        cursor.unlogged = 0;
        return None;
    }
    // The unlogged ticks may have come before this slot or not yet (all of them, if it
    // settles them): the most first, since in a sequential run they all come at once.
    let least = if slot.settles { cursor.unlogged } else { 0 };
    let fits_from = |base: u64, printed: bool| {
        (least..=cursor.unlogged).rev().find(|&late| {
            let local = base.saturating_add(late);
            match slot.rule {
                ClockRule::MergeUnseen => slot.clock > local,
                _ => sends.iter().any(|&(right, shown)| {
                    slot.clock == rule(local, if printed { shown } else { right })
                }),
            }
        })
    };
    if let Some(late) = fits_from(before, false).or_else(|| fits_from(cursor.printed, true)) {
        cursor.unlogged -= late;
        cursor.clock = slot.clock;
        cursor.printed = slot.clock;
        return None;
    }
    cursor.printed = slot.clock;
    let local = before.saturating_add(cursor.unlogged);
    let unlogged = cursor.unlogged;
    cursor.unlogged = 0;
    // A sequential run sends as late as it may: the latest possible send is the one taken.
    let expected = rule(local, last);
    cursor.clock = expected;
    let shown_local = if unlogged > 0 {
        format!("({before} + {unlogged} unlogged)")
    } else {
        local.to_string()
    };
    let or = |values: Vec<String>| values.join(" or ");
    let why = match slot.rule {
        ClockRule::Tick => format!("{shown_local} + 1 = {expected}"),
        ClockRule::Keep => format!("{shown_local}, as it does not tick"),
        ClockRule::Merge(_) | ClockRule::MergeAny { .. } => {
            let mut values: Vec<u64> = stamps.iter().map(|&s| rule(local, s)).collect();
            values.dedup();
            format!(
                "max({shown_local}, {}) + 1 = {}",
                or(stamps.iter().map(u64::to_string).collect()),
                or(values.iter().map(u64::to_string).collect())
            )
        }
        ClockRule::MergeUnseen | ClockRule::Unlogged => {
            format!("at least {shown_local} + 1 = {expected}")
        }
    };
    let mut also = Vec::new();
    if slot.clock <= printed_before && slot.rule != ClockRule::Keep {
        also.push("not after the previous event");
    }
    let merges = slot.rule.source().is_some();
    if merges && sends.iter().all(|&(_, shown)| slot.clock <= shown) {
        also.push("not after its send");
    }
    Some(Mismatch {
        at,
        printed: slot.clock,
        expected,
        why,
        also,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(clock: u64) -> Slot {
        Slot::new(clock, ClockRule::Tick)
    }

    fn merge(clock: u64, from: At) -> Slot {
        Slot::new(clock, ClockRule::Merge(from))
    }

    /// B1 sends at its 2nd event (clock 2); B2 merges it after two ticks.
    fn pair(b1: [u64; 2], b2: [u64; 3]) -> Vec<Timeline> {
        vec![
            vec![tick(b1[0]), tick(b1[1])],
            vec![tick(b2[0]), tick(b2[1]), merge(b2[2], (0, 1))],
        ]
    }

    #[test]
    fn rule_abiding_clocks_pass_and_are_kept() {
        let replay = replay(&pair([1, 2], [1, 2, 3]));
        assert_eq!(replay.mismatches, vec![]);
        assert_eq!(replay.corrected, vec![vec![1, 2], vec![1, 2, 3]]);
    }

    #[test]
    fn one_wrong_clock_is_one_mismatch_and_its_message_is_judged_by_the_rule() {
        // B1's send printed 5 instead of 2: B2's merge of it (printed 3, right for a send of
        // 2) is not blamed.
        let replay = replay(&pair([1, 5], [1, 2, 3]));
        assert_eq!(replay.mismatches.len(), 1, "{:?}", replay.mismatches);
        let mismatch = &replay.mismatches[0];
        assert_eq!(
            (mismatch.at, mismatch.printed, mismatch.expected),
            ((0, 1), 5, 2)
        );
        assert_eq!(mismatch.why, "1 + 1 = 2");
        assert_eq!(replay.corrected[1], vec![1, 2, 3]);
    }

    #[test]
    fn a_receive_at_its_send_clock_is_named_as_such() {
        let timelines = vec![
            vec![tick(1), tick(2), tick(3), tick(4)],
            vec![merge(4, (0, 3))],
        ];
        let replay = replay(&timelines);
        assert_eq!(replay.mismatches.len(), 1);
        let mismatch = &replay.mismatches[0];
        assert_eq!(mismatch.why, "max(0, 4) + 1 = 5");
        assert_eq!(mismatch.also, vec!["not after its send"]);
    }

    #[test]
    fn a_merge_waits_for_its_send_on_a_later_timeline() {
        let timelines = vec![vec![merge(3, (1, 1))], vec![tick(1), tick(2)]];
        let replay = replay(&timelines);
        assert_eq!(replay.mismatches, vec![]);
    }

    #[test]
    fn a_receive_before_its_send_is_taken_with_the_printed_send() {
        // Each merges the other's later event: neither can come first.
        let timelines = vec![
            vec![merge(3, (1, 1)), tick(4)],
            vec![merge(5, (0, 1)), tick(6)],
        ];
        let replay = replay(&timelines);
        assert_eq!(replay.corrected.len(), 2);
        assert!(replay.mismatches.len() <= 2);
    }

    #[test]
    fn an_unlogged_tick_may_come_late_but_before_the_slot_it_settles() {
        let unlogged = Slot::new(0, ClockRule::Unlogged);
        // Right away: 2, (3), 4.
        let now = vec![vec![tick(1), tick(2), unlogged, tick(4)]];
        assert_eq!(replay(&now).mismatches, vec![]);
        // Late: 2, (3), 3 (before it), 5 (after it).
        let late = vec![vec![tick(1), tick(2), unlogged, tick(3), tick(5)]];
        assert_eq!(replay(&late).mismatches, vec![]);
        // A request must come after it: 2, (3), then a request at 3 is too early.
        let request = Slot {
            settles: true,
            ..Slot::new(3, ClockRule::MergeUnseen)
        };
        let early = vec![vec![tick(1), tick(2), unlogged, request]];
        let mismatches = replay(&early).mismatches;
        assert_eq!(mismatches.len(), 1);
        assert_eq!(mismatches[0].why, "at least (2 + 1 unlogged) + 1 = 4");
    }
}
