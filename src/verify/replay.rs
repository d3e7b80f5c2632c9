//! Replays the Lamport clock rules exactly. Every process is a [`Timeline`] of slots, each with
//! the clock the file printed and the rule that gives it from the slot before it and, for a
//! merge, from the clock of the send it received. A clock that differs from its rule is
//! flagged and then taken at the rule's value, so that one wrong clock is one finding, not a
//! cascade blamed on the events after it: a clock is right if the rule gives it from the
//! corrected clocks before it or from the printed ones. Pure; linear in the number of slots
//! (times the candidates of a merge whose send the file does not pin down).

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
}

/// One event of a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The clock as printed (ignored for a slot not shown).
    pub clock: u64,
    /// The rule that gives it.
    pub rule: ClockRule,
    /// Whether the file shows this clock; one it does not (a customer's, rebuilt from the
    /// branches' logs) takes the rule's value and is never judged.
    pub shown: bool,
}

impl Slot {
    /// A slot the file shows, with `clock` and `rule`.
    pub fn new(clock: u64, rule: ClockRule) -> Self {
        Self {
            clock,
            rule,
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
    /// The slot after this one, and the clock it should have instead, when the file cannot
    /// tell which of the two is wrong (see [`replay_resolving`]).
    pub or_instead: Option<(At, u64)>,
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
    /// The clock after the last slot, as printed (as the rule gives it from the printed
    /// clocks, for one the file does not show).
    printed: u64,
    /// The last slot was a merge with an unseen stamp that came out wrong: its right clock is
    /// not known, only a bound, so the next slot is only checked to be after that bound.
    unknown: bool,
}

/// Replays every timeline, visiting slots in causal order (a merge waits for its send). A
/// merge whose send cannot come first (the file received a message before sending it, which
/// another check reports) takes the send's printed clock.
pub fn replay(timelines: &[Timeline]) -> Replay {
    let mut corrected: Vec<Vec<u64>> = timelines.iter().map(|t| vec![0; t.len()]).collect();
    let mut cursors = vec![Cursor::default(); timelines.len()];
    // The timelines waiting for each slot to be passed, with the first slot their send may
    // be at.
    let mut waiting: HashMap<At, Vec<(usize, usize)>> = HashMap::new();
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
                    None => Some((Vec::new(), false)),
                };
                let Some((stamps, open)) = stamps else {
                    if let Some((sender, first, last)) = source {
                        let waiter = (timeline, first);
                        waiting.entry((sender, last)).or_default().push(waiter);
                    }
                    break;
                };
                forced = false;
                let cursor = &mut cursors[timeline];
                let at = (timeline, cursor.next);
                mismatches.extend(judge(at, slot, &stamps, open, cursor));
                corrected[timeline][at.1] = cursor.clock;
                cursor.next += 1;
                if let Some(woken) = waiting.remove(&at) {
                    ready.extend(woken.into_iter().map(|(timeline, _)| timeline));
                }
            }
        }
        // Everything left waits on a send that waits in turn: take a waiting merge with what is
        // known of its send (one of whose possible slots is passed, first), and go on.
        let known = |(at, waiters): (&At, &Vec<(usize, usize)>)| {
            let passed = cursors[at.0].next;
            let some_known = waiters.iter().any(|&(_, first)| passed > first);
            (!some_known, *at)
        };
        let Some((_, at)) = waiting.iter().map(known).min() else {
            break;
        };
        let woken = waiting.remove(&at).unwrap_or_default();
        ready.extend(woken.into_iter().map(|(timeline, _)| timeline));
        forced = true;
    }
    Replay {
        mismatches,
        corrected,
    }
}

impl Mismatch {
    /// `: not after its send` (what else the wrong clock breaks), or nothing.
    pub fn also_broken(&self) -> String {
        if self.also.is_empty() {
            String::new()
        } else {
            format!(": {}", self.also.join(", "))
        }
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
/// every slot of `slots` on the sender (whose next slot is `passed`), or, `forced`, those
/// known so far; and whether later ones are still open.
fn sent_clocks(
    timelines: &[Timeline],
    corrected: &[Vec<u64>],
    passed: usize,
    sender: usize,
    slots: std::ops::RangeInclusive<usize>,
    forced: bool,
) -> Option<(Vec<(u64, u64)>, bool)> {
    // A send that is not there (no caller makes one) merges as nothing.
    let Some(printed) = timelines.get(sender).and_then(|t| t.get(slots.clone())) else {
        return Some((vec![(0, 0)], false));
    };
    if passed <= *slots.end() && !forced {
        return None;
    }
    // Forced: the slots passed, if any (a send the file does not pin down may wait on
    // events that wait on its receiver), and the rest open: not known yet, but no earlier
    // than the last known; else the printed clocks.
    let first = *slots.start();
    let known = passed.saturating_sub(first).min(printed.len());
    if known == 0 {
        let clocks = printed.iter().map(|slot| (slot.clock, slot.clock));
        return Some((clocks.collect(), false));
    }
    let clocks = printed[..known].iter().enumerate().map(|(offset, slot)| {
        let right = corrected[sender][first + offset];
        (right, if slot.shown { slot.clock } else { right })
    });
    Some((clocks.collect(), known < printed.len()))
}

/// Judges one slot at `cursor` (which it advances), with the clocks its send may have had,
/// corrected and as printed (none when it is no merge), and whether later ones are `open`
/// (not known: then any clock above the last known one's is allowed). A clock is right if the rule gives it
/// from the corrected clocks before it or from the printed ones: a clock wrong because one
/// before it is wrong is not blamed, nor one right after a gap in the file.
fn judge(
    at: At,
    slot: &Slot,
    sends: &[(u64, u64)],
    open: bool,
    cursor: &mut Cursor,
) -> Option<Mismatch> {
    let before = cursor.clock;
    let printed_before = cursor.printed;
    let rule = |local: u64, stamp: u64| match slot.rule {
        ClockRule::Tick | ClockRule::MergeUnseen => local.saturating_add(1),
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
        let shown_last = sends.last().map_or(0, |&(_, shown)| shown);
        cursor.clock = rule(before, last);
        cursor.printed = rule(printed_before, shown_last);
        return None;
    }
    let unknown = std::mem::take(&mut cursor.unknown);
    let fits = |local: u64, printed: bool| match slot.rule {
        ClockRule::MergeUnseen => slot.clock > local,
        _ if unknown => sends
            .iter()
            .any(|&(right, _)| slot.clock >= rule(local, right)),
        _ => sends.iter().any(|&(right, shown)| {
            let stamp = if printed { shown } else { right };
            // A send still open may have been at any clock from the last known one on.
            slot.clock == rule(local, stamp) || (open && slot.clock > rule(local, stamp))
        }),
    };
    cursor.printed = slot.clock;
    if fits(before, false) || fits(printed_before, true) {
        cursor.clock = slot.clock;
        return None;
    }
    // A sequential run sends as late as it may: the latest possible send is the one taken.
    let expected = rule(before, last);
    cursor.clock = expected;
    cursor.unknown = slot.rule == ClockRule::MergeUnseen;
    let or = |values: Vec<String>| values.join(" or ");
    let why = match slot.rule {
        ClockRule::Tick => format!("{before} + 1 = {expected}"),
        ClockRule::Keep => format!("{before}, as it does not tick"),
        ClockRule::Merge(_) | ClockRule::MergeAny { .. } => {
            let mut values: Vec<u64> = stamps.iter().map(|&s| rule(before, s)).collect();
            values.dedup();
            format!(
                "max({before}, {}) + 1 = {}",
                or(stamps.iter().map(u64::to_string).collect()),
                or(values.iter().map(u64::to_string).collect())
            )
        }
        ClockRule::MergeUnseen => format!("at least {before} + 1 = {expected}"),
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
        or_instead: None,
    })
}

/// How many other explanations [`replay_resolving`] weighs at most.
const MAX_ALTERNATIVES: usize = 64;

/// How many slots all the replays made to weigh other explanations may visit together, so that
/// a large file with many wrong clocks costs a few replays, not dozens.
const MAX_REPLAYED_SLOTS: usize = 1 << 26;

/// How many more replays of `timelines` may be made to weigh explanations, at most `most`.
pub fn replays_allowed(timelines: &[Timeline], most: usize) -> usize {
    let slots: usize = timelines.iter().map(Vec::len).sum();
    (MAX_REPLAYED_SLOTS / slots.max(1)).min(most)
}

/// [`replay`], then for each tick found wrong right after a merge whose send the file does not
/// pin down ([`ClockRule::MergeAny`]): if that merge had another of its possible values, would
/// the tick be right? Then the file is replayed with that value, and whichever explanation
/// needs fewer wrong clocks is the one reported: the merge (with the value the tick shows it
/// had), or the tick. When both need as many, the merge is reported with the tick as the other
/// possibility ([`Mismatch::or_instead`]): the file cannot tell them apart.
pub fn replay_resolving(timelines: &[Timeline]) -> Replay {
    let mut working = timelines.to_vec();
    let mut result = replay(&working);
    let mut tried = 0;
    let mut index = 0;
    let allowed = replays_allowed(timelines, MAX_ALTERNATIVES);
    while index < result.mismatches.len() && tried < allowed {
        let Some((merge, value, rule)) = alternative(&working, &result, &result.mismatches[index])
        else {
            index += 1;
            continue;
        };
        tried += 1;
        let tick = result.mismatches[index].at;
        let mut changed = working.clone();
        changed[merge.0][merge.1].clock = value;
        let rerun = replay(&changed);
        let cost = rerun.mismatches.len() + 1;
        if cost > result.mismatches.len() {
            index += 1;
            continue;
        }
        let printed = timelines[merge.0][merge.1].clock;
        let after = timelines[tick.0][tick.1].clock;
        let tie = cost == result.mismatches.len();
        let blamed = Mismatch {
            at: merge,
            printed,
            expected: value,
            why: format!("{rule}{value} for the clock {after} of the event after it"),
            also: Vec::new(),
            or_instead: tie.then(|| (tick, printed.saturating_add(1))),
        };
        let mut mismatches = rerun.mismatches;
        let at = mismatches.partition_point(|other| other.at < merge);
        mismatches.insert(at, blamed);
        result = Replay {
            mismatches,
            corrected: rerun.corrected,
        };
        working = changed;
        index = at + 1;
    }
    result
}

/// For a wrong tick right after a merge the file does not pin down (its send is one of
/// several, or not shown): the merge, the other value it could have had that makes the tick
/// right, and how the rule gives that value (the text before it).
fn alternative(
    timelines: &[Timeline],
    result: &Replay,
    mismatch: &Mismatch,
) -> Option<(At, u64, String)> {
    let (timeline, position) = mismatch.at;
    let slots = timelines.get(timeline)?;
    if slots.get(position)?.rule != ClockRule::Tick {
        return None;
    }
    let previous = position.checked_sub(1)?;
    let merge = slots.get(previous)?;
    let before = previous
        .checked_sub(1)
        .map_or(0, |p| result.corrected[timeline][p]);
    let wanted = mismatch.printed.checked_sub(1)?;
    if wanted == merge.clock {
        return None;
    }
    let at = (timeline, previous);
    match merge.rule {
        ClockRule::MergeAny {
            timeline: sender,
            first,
            last,
        } => {
            let sent = result.corrected.get(sender)?.get(first..=last)?;
            sent.iter().find_map(|&stamp| {
                (before.max(stamp).saturating_add(1) == wanted)
                    .then(|| (at, wanted, format!("max({before}, {stamp}) + 1 = ")))
            })
        }
        ClockRule::MergeUnseen if wanted > before => {
            Some((at, wanted, format!("at least {before} + 1, and ")))
        }
        _ => None,
    }
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
    fn sends_that_wait_on_each_other_are_weighed_with_what_is_known() {
        // A and B each execute (clock 1) and propagate; each window runs to the end of the
        // other's timeline, so each merge waits on the other. In truth A merged B's send at 1
        // (2), then sent at 2, which B merged at 3: B's merge must not be blamed because A's
        // clock 2 was not known when the wait was broken.
        let any = |timeline| ClockRule::MergeAny {
            timeline,
            first: 0,
            last: 1,
        };
        let timelines = vec![
            vec![tick(1), Slot::new(2, any(1))],
            vec![tick(1), Slot::new(3, any(0))],
        ];
        assert_eq!(replay(&timelines).mismatches, vec![]);
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
}
