//! Where a simulated run's faults go in the space-time diagram. The diagram's x axis is the
//! Lamport clock, while faults happen at a simulated time; so each fault is drawn by what it did
//! to messages:
//!
//! - a lost attempt is a dashed arrow from the event that sent the message, heading for its
//!   destination and stopping halfway, with a cross (`×3` when three attempts were lost);
//! - a partition, a hold or a pause is a shaded band over the lanes it cut off. It reaches from
//!   the first message it held up to the receipt of the last one, drawn behind the events.
//!
//! A fault that held up no message is not drawn: nothing in the run felt it.

use std::collections::BTreeMap;

use super::geometry::{Band, Deliveries, Dot, FaultOverlay, LAMPORT_STEP, Lane, LostMessage};
use crate::model::{MessageId, Process};
use crate::trace::{Fault, FaultRecord};

/// Places the faults of a run on a diagram whose dots and lanes are laid out already.
pub fn overlay(
    faults: &[FaultRecord],
    dots: &[Dot],
    lanes: &[Lane],
    deliveries: &Deliveries,
) -> FaultOverlay {
    let lane_y = |process: Process| {
        lanes
            .iter()
            .find(|lane| lane.process == process)
            .map(|lane| lane.y)
    };
    // Every retried message: its destination, how many attempts were lost, and when.
    let mut retried: BTreeMap<MessageId, (Process, u32, Vec<u64>)> = BTreeMap::new();
    for record in faults {
        if let Fault::Retry { message, to, .. } = &record.fault {
            let entry = retried.entry(*message).or_insert((*to, 0, Vec::new()));
            entry.1 += 1;
            entry.2.push(record.at_ms);
        }
    }
    let mut lost = Vec::new();
    for (message, (to, attempts, _)) in &retried {
        let Some((sent, received)) = deliveries.get(message) else {
            continue;
        };
        let Some(from) = dots.get(*sent) else {
            continue;
        };
        let target = received
            .and_then(|index| dots.get(index))
            .map(|dot| (dot.x, dot.y))
            .or_else(|| lane_y(*to).map(|y| (from.x + 2 * LAMPORT_STEP, y)));
        let Some((x2, y2)) = target else {
            continue;
        };
        lost.push(LostMessage {
            message: message.to_string(),
            from: (from.x, from.y),
            to: ((from.x + x2) / 2, from.y + (y2 - from.y) * 3 / 5),
            attempts: *attempts,
        });
    }

    let mut bands = Vec::new();
    for (index, record) in faults.iter().enumerate() {
        let (kind, cut, arrow): (&'static str, Vec<Process>, &str) = match &record.fault {
            Fault::Partition {
                from,
                to,
                both_ways,
            } => (
                "partition",
                vec![*from, *to],
                if *both_ways { "⇄" } else { "→" },
            ),
            Fault::Hold { from, to } => ("hold", vec![*from, *to], "⇄"),
            Fault::Pause { branch } => ("pause", vec![Process::Branch(*branch)], ""),
            _ => continue,
        };
        let end_ms = faults[index + 1..]
            .iter()
            .find(|later| ends(&record.fault, &later.fault))
            .map_or(u64::MAX, |later| later.at_ms);
        // The messages this fault held up: retried while it lasted, between the processes it cut.
        let held: Vec<&MessageId> = retried
            .iter()
            .filter(|(message, (to, _, times))| {
                let involved = if cut.len() == 1 {
                    cut.contains(&message.sender) || cut.contains(to)
                } else {
                    cut.contains(&message.sender) && cut.contains(to)
                };
                involved && times.iter().any(|at| (record.at_ms..=end_ms).contains(at))
            })
            .map(|(message, _)| message)
            .collect();
        let xs: Vec<i64> = held
            .iter()
            .filter_map(|message| deliveries.get(message))
            .flat_map(|(sent, received)| [Some(*sent), *received])
            .flatten()
            .filter_map(|index| dots.get(index).map(|dot| dot.x))
            .collect();
        let (Some(left), Some(right)) = (xs.iter().min(), xs.iter().max()) else {
            continue;
        };
        let ys: Vec<i64> = cut.iter().filter_map(|process| lane_y(*process)).collect();
        let (Some(top), Some(bottom)) = (ys.iter().min(), ys.iter().max()) else {
            continue;
        };
        let names: Vec<String> = cut.iter().map(ToString::to_string).collect();
        let until = if end_ms == u64::MAX {
            "end".to_string()
        } else {
            format!("{end_ms}")
        };
        bands.push(Band {
            kind,
            label: format!(
                "{kind} {} ({}–{until} ms)",
                names.join(&format!(" {arrow} ")).trim(),
                record.at_ms
            ),
            x: (left - LAMPORT_STEP / 3, right + LAMPORT_STEP / 3),
            y: (top - 18, bottom + 18),
        });
    }
    FaultOverlay { lost, bands }
}

/// Whether `later` undoes `fault`.
fn ends(fault: &Fault, later: &Fault) -> bool {
    match (fault, later) {
        (
            Fault::Partition { from, to, .. },
            Fault::Heal {
                from: heal_from,
                to: heal_to,
                ..
            },
        ) => from == heal_from && to == heal_to,
        (
            Fault::Hold { from, to },
            Fault::Release {
                from: release_from,
                to: release_to,
            },
        ) => from == release_from && to == release_to,
        (Fault::Pause { branch }, Fault::Resume { branch: resumed }) => branch == resumed,
        _ => false,
    }
}
