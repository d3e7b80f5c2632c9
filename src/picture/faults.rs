//! Where a simulated run's faults go in the space-time diagram. The diagram's x axis is the
//! Lamport clock, while faults happen at a simulated time; so each fault is drawn by what it did
//! to messages:
//!
//! - a lost attempt is a dashed arrow from the event that sent the message, heading for its
//!   destination and stopping halfway, with a cross (`×3` when three attempts were lost);
//! - a partition, a hold or a pause is a shaded band over the lanes it cut off. It reaches from
//!   the first message it held up to the receipt of the last one, drawn behind the events;
//! - a crash is a zigzag across the crashed branch's lane, between the last event its store
//!   kept and the first one after its restart (the events it lost are not in the trace).
//!
//! A network fault that held up no message is not drawn: nothing in the run felt it. A crash
//! is always drawn.

use std::collections::BTreeMap;

use super::geometry::{
    Band, CrashMark, Deliveries, Dot, FaultOverlay, LAMPORT_STEP, Lane, LostMessage,
};
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
            label_at: (8, 4),
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
            label_at: (right + LAMPORT_STEP / 3 - 4, bottom + 18 - 5),
        });
    }
    let crashes = crashes(faults, dots, lanes);
    FaultOverlay {
        lost,
        bands,
        crashes,
    }
}

/// The mark of each crash, with its restart if the branch restarted before the run ended.
fn crashes(faults: &[FaultRecord], dots: &[Dot], lanes: &[Lane]) -> Vec<CrashMark> {
    let mut marks = Vec::new();
    for (index, record) in faults.iter().enumerate() {
        let Fault::Crash { branch, events } = &record.fault else {
            continue;
        };
        let process = Process::Branch(*branch);
        let Some(lane_index) = lanes.iter().position(|lane| lane.process == process) else {
            continue;
        };
        let restart = faults[index + 1..]
            .iter()
            .find_map(|later| match &later.fault {
                Fault::Restart {
                    branch: restarted,
                    events,
                    clock,
                } if restarted == branch => Some((later.at_ms, *events, *clock)),
                _ => None,
            });
        let on_lane: Vec<&Dot> = dots.iter().filter(|dot| dot.lane == lane_index).collect();
        // The events the store kept: the restart says how many; without a restart, the branch
        // ended as its store had it, every event of its lane.
        let kept = restart.map_or(on_lane.len() as u64, |(_, kept, _)| kept);
        let before = on_lane.iter().find(|dot| dot.seq == kept).map(|dot| dot.x);
        let after = on_lane
            .iter()
            .find(|dot| dot.seq == kept + 1)
            .map(|dot| dot.x);
        let x = match (before, after) {
            (Some(before), Some(after)) => (before + after) / 2,
            (Some(before), None) => before + LAMPORT_STEP / 2,
            (None, Some(after)) => after - LAMPORT_STEP / 2,
            (None, None) => super::geometry::LEFT,
        };
        let name = process.to_string();
        let restarted = restart.map_or_else(
            || ", not restarted before the end".to_string(),
            |(at_ms, _, clock)| format!(", restart at {at_ms} ms (clock {clock})"),
        );
        marks.push(CrashMark {
            label: format!(
                "crash {name} at {} ms ({events} events, {kept} kept){restarted}",
                record.at_ms
            ),
            branch: name,
            x,
            y: lanes[lane_index].y,
            label_at: (0, -20),
        });
    }
    marks
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
