//! Where everything of a space-time diagram goes: one horizontal lane per process (customers on
//! top, like the clients of Diagram B, then the branches), one dot per event, one arrow per
//! message. Computed once and drawn by both [`super::svg`] and [`super::html`].
//!
//! Time flows left to right by Lamport clock, with a fixed width per Lamport step, so a long run
//! makes a wide picture (the page scrolls) instead of a crowded one. Events that do not tick
//! keep the Lamport value of the event before them (a customer's send in the `original` model, a
//! branch serving a query), so they would sit on top of it. Each event therefore gets a key
//! `(lamport, sub-step)`: a ticking event's own Lamport value with sub-step 0, pushed later, one
//! sub-step at a time, until it comes after the event before it on its lane and after the send
//! of the message it receives. Every arrow then goes forward and no two dots of a lane overlap;
//! each distinct sub-step widens the picture by [`SUB_STEP`]. The HTML page can also place
//! events by their number on their process ("order of recording"), [`SEQ_STEP`] apart.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::PictureError;
use super::causal::{Causality, Place, event_at, event_label};
use super::faults::overlay;
use super::geometry::{
    Arrow, BOTTOM, Deliveries, Dot, FaultOverlay, GROUP_GAP, Group, LAMPORT_STEP, LANE_GAP, LEFT,
    Lane, MAX_WIDTH, MIN_WIDTH, Mark, MessageKind, Note, RIGHT, SEQ_STEP, SUB_STEP,
    SUBTITLE_CHAR_WIDTH, TEXT_LEFT, TOP, Tick,
};
use crate::model::{Process, Step};
use crate::trace::{EventKind, History, Outcome, TraceEvent};
use crate::verify::sessions;

/// A whole diagram, positioned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// What the diagram shows: the input's name.
    pub title: String,
    /// The clock model, the schedule and the final balances.
    pub subtitle: String,
    /// The width needed when events are placed by Lamport clock.
    pub width: i64,
    /// The width needed when events are placed by order of recording.
    pub seq_width: i64,
    /// The height.
    pub height: i64,
    /// Every process's lane, in table order.
    pub lanes: Vec<Lane>,
    /// The bands behind the customers' and the branches' lanes.
    pub groups: Vec<Group>,
    /// Every event, in causal order (causes first).
    pub dots: Vec<Dot>,
    /// Every message that was both sent and received.
    pub arrows: Vec<Arrow>,
    /// The Lamport clock axis.
    pub lamport_ticks: Vec<Tick>,
    /// The order-of-recording axis.
    pub seq_ticks: Vec<Tick>,
    /// The lanes' top edge (the axes sit above it).
    pub lanes_top: i64,
    /// The lanes' bottom edge.
    pub lanes_bottom: i64,
    /// The faults of a simulated run: lost deliveries and the bands of partitions.
    pub faults: FaultOverlay,
}

impl Layout {
    /// Lays out `history`. Fails only for a history no run records (see [`PictureError`]).
    pub fn of(history: &History) -> Result<Self, PictureError> {
        let causality = Causality::of(history)?;
        let names: Vec<String> = history.table.names();
        let (lanes, groups) = lanes(history);
        let keys = keys(history, &causality);
        let sub_keys = {
            let mut sub_keys: Vec<(u64, u64)> = keys
                .iter()
                .flatten()
                .copied()
                .filter(|(_, sub)| *sub > 0)
                .collect();
            sub_keys.sort_unstable();
            sub_keys.dedup();
            sub_keys
        };
        let max_lamport = keys.iter().flatten().map(|key| key.0).max().unwrap_or(0);
        let widest = i128::from(LEFT)
            + i128::from(max_lamport) * i128::from(LAMPORT_STEP)
            + sub_keys.len() as i128 * i128::from(SUB_STEP);
        if widest > i128::from(MAX_WIDTH) {
            return Err(PictureError::TooWide {
                lamport: max_lamport,
                width: widest,
            });
        }
        let x_of = |key: (u64, u64)| {
            let subs_before = sub_keys.partition_point(|sub_key| *sub_key <= key) as i64;
            LEFT + key.0 as i64 * LAMPORT_STEP + subs_before * SUB_STEP
        };
        let failed: HashSet<u64> = history
            .iter()
            .filter(|event| {
                matches!(event.kind, EventKind::Receive(_)) && event.outcome == Some(Outcome::Fail)
            })
            .map(|event| event.event_id.0)
            .collect();

        let mut position = vec![Vec::new(); history.events.len()];
        for (lane, events) in history.events.iter().enumerate() {
            position[lane] = vec![0; events.len()];
        }
        let mut dots = Vec::with_capacity(history.len());
        for place in causality.order() {
            let event = event_at(history, *place);
            position[place.lane][place.index] = dots.len();
            let rejected = matches!(event.kind, EventKind::Branch(sub) if sub.step == Step::Execute)
                && event.sends.is_empty()
                && failed.contains(&event.event_id.0);
            let vector = causality.vector(*place).to_vec();
            dots.push(Dot {
                label: event_label(event),
                lane: place.lane,
                process: names.get(place.lane).cloned().unwrap_or_default(),
                seq: event.seq,
                name: event.kind.name(),
                event_id: event.event_id.0,
                lamport: event.lamport,
                x: x_of(keys[place.lane][place.index]),
                x_seq: LEFT + (event.seq as i64 - 1) * SEQ_STEP,
                y: lanes.get(place.lane).map_or(TOP, |lane| lane.y),
                mark: Mark::of(event),
                rejected,
                received: event.receives.map(|message| message.to_string()),
                sent: event.sends.iter().map(ToString::to_string).collect(),
                note: note(event, rejected),
                clock_at: (0, -12),
                note_at: (0, 22),
                title: title(event, &format_vector(&vector, &names), rejected),
                vector,
            });
        }
        // A query answered without one of its customer's earlier writes says so under its dot.
        let stale = sessions::stale_reads(history);
        for read in &stale {
            let query = dots.iter_mut().find(|dot| {
                dot.event_id == read.query.0
                    && dot.name == EventKind::Query.name()
                    && dot.process == read.branch.to_string()
            });
            if let Some(dot) = query {
                dot.note = Some(Note {
                    text: format!(
                        "stale: without {} {} (event {})",
                        read.write.interface(),
                        read.write.change().map_or(0, |(_, money)| money),
                        read.missed
                    ),
                    alert: true,
                });
            }
        }
        let arrows = causality
            .links()
            .iter()
            .map(|link| Arrow {
                message: link.message.to_string(),
                kind: MessageKind::of(event_at(history, link.to).kind),
                merges: link.merges,
                from: position[link.from.lane][link.from.index],
                to: position[link.to.lane][link.to.index],
            })
            .collect();

        let mut deliveries: Deliveries = BTreeMap::new();
        for link in causality.links() {
            let sent = position[link.from.lane][link.from.index];
            let received = position[link.to.lane][link.to.index];
            deliveries.insert(link.message, (sent, Some(received)));
        }
        for (lane, events) in history.events.iter().enumerate() {
            for (index, event) in events.iter().enumerate() {
                for message in &event.sends {
                    deliveries
                        .entry(*message)
                        .or_insert((position[lane][index], None));
                }
            }
        }
        let faults = overlay(&history.faults, &dots, &lanes, &deliveries);
        let lamport_ticks = (0..=max_lamport)
            .map(|lamport| Tick {
                x: x_of((lamport, 0)),
                label: lamport.to_string(),
            })
            .collect();
        let max_seq = history.events.iter().map(Vec::len).max().unwrap_or(0) as i64;
        let seq_ticks = (1..=max_seq)
            .map(|seq| Tick {
                x: LEFT + (seq - 1) * SEQ_STEP,
                label: seq.to_string(),
            })
            .collect();
        let mut subtitle = subtitle(history);
        if !stale.is_empty() {
            subtitle.push_str(&format!(" · {} stale read(s), marked", stale.len()));
        }
        if !faults.lost.is_empty() || !faults.bands.is_empty() {
            subtitle.push_str(&format!(
                " · faults: {} shaded band(s) (partition, hold, pause), {} message(s) lost and \
                 sent again (dashed, ×attempts)",
                faults.bands.len(),
                faults.lost.len()
            ));
        }
        if !faults.crashes.is_empty() {
            subtitle.push_str(&format!(
                " · {} crash(es) and restart(s) (zigzag across the lane)",
                faults.crashes.len()
            ));
        }
        let subtitle_end = TEXT_LEFT
            + SUBTITLE_CHAR_WIDTH * i64::try_from(subtitle.chars().count()).unwrap_or(i64::MAX / 8)
            + TEXT_LEFT;
        let right_edge = |rightmost: i64| (rightmost + RIGHT).max(MIN_WIDTH).max(subtitle_end);
        let width = right_edge(dots.iter().map(|dot| dot.x).max().unwrap_or(LEFT));
        let seq_width = right_edge(dots.iter().map(|dot| dot.x_seq).max().unwrap_or(LEFT));
        let lanes_bottom = groups.last().map_or(TOP, |group| group.bottom);
        let layout = Layout {
            title: history
                .source
                .clone()
                .unwrap_or_else(|| "a lamport-bank run".to_string()),
            subtitle,
            width,
            seq_width,
            height: lanes_bottom + BOTTOM,
            lanes,
            groups,
            dots,
            arrows,
            lamport_ticks,
            seq_ticks,
            lanes_top: groups_top(TOP),
            lanes_bottom,
            faults,
        };
        Ok(layout)
    }
}

fn groups_top(first_lane: i64) -> i64 {
    first_lane - LANE_GAP / 2
}

/// Customers first (they start everything, as in Diagram B), then branches, each in table order.
fn lanes(history: &History) -> (Vec<Lane>, Vec<Group>) {
    let processes = history.table.processes();
    let mut lanes: Vec<Lane> = processes
        .iter()
        .map(|process| Lane {
            process: *process,
            name: process.to_string(),
            y: 0,
        })
        .collect();
    let mut groups = Vec::new();
    let mut y = TOP;
    for (name, branches) in [("customers", false), ("branches", true)] {
        let members: Vec<&mut Lane> = lanes
            .iter_mut()
            .filter(|lane| matches!(lane.process, Process::Branch(_)) == branches)
            .collect();
        if members.is_empty() {
            continue;
        }
        let top = groups_top(y);
        for lane in members {
            lane.y = y;
            y += LANE_GAP;
        }
        groups.push(Group {
            name,
            top,
            bottom: y - LANE_GAP / 2,
        });
        y += GROUP_GAP;
    }
    (lanes, groups)
}

/// Each event's `(lamport, sub-step)` key: see the module documentation.
fn keys(history: &History, causality: &Causality) -> Vec<Vec<(u64, u64)>> {
    let mut keys: Vec<Vec<(u64, u64)>> = history
        .events
        .iter()
        .map(|events| vec![(0, 0); events.len()])
        .collect();
    let after = |(lamport, sub): (u64, u64)| (lamport, sub + 1);
    let held = held_sends(history, causality);
    // A wait goes after the send it holds back, which the causal order does not know of (no
    // message links them): a few passes, each starting from the keys of the one before, let
    // that push the wait, and what follows it, to the right.
    for _ in 0..WAIT_PASSES {
        let before = keys.clone();
        for place in causality.order() {
            let mut key = (event_at(history, *place).lamport, 0);
            if place.index > 0 {
                key = key.max(after(keys[place.lane][place.index - 1]));
            }
            if let Some(link) = causality.incoming(*place) {
                let Place { lane, index } = link.from;
                key = key.max(after(keys[lane][index]));
            }
            if let Some(send) = held.get(place) {
                key = key.max(after(keys[send.lane][send.index]));
            }
            keys[place.lane][place.index] = key;
        }
        if keys == before {
            break;
        }
    }
    keys
}

/// How many times [`keys`] goes over the events at most, for the waits to find their places.
const WAIT_PASSES: usize = 4;

/// For each wait (a branch waiting for a customer's write before it serves a request or applies
/// a propagation), the send of the message it holds back: the one received next on its lane
/// for the same event.
fn held_sends(history: &History, causality: &Causality) -> HashMap<Place, Place> {
    let mut held = HashMap::new();
    for (lane, events) in history.events.iter().enumerate() {
        for (index, event) in events.iter().enumerate() {
            if !matches!(event.kind, EventKind::Wait(_)) {
                continue;
            }
            let received = events
                .iter()
                .enumerate()
                .skip(index + 1)
                .find(|(_, later)| later.event_id == event.event_id && later.receives.is_some());
            let send = received.and_then(|(later, _)| {
                causality
                    .incoming(Place { lane, index: later })
                    .map(|link| link.from)
            });
            if let Some(send) = send {
                held.insert(Place { lane, index }, send);
            }
        }
    }
    held
}

/// `{B1:3, B2:5, C2:1}`: the non-zero entries, in table order.
pub fn format_vector(vector: &[u64], names: &[String]) -> String {
    let entries: Vec<String> = vector
        .iter()
        .zip(names)
        .filter(|(entry, _)| **entry > 0)
        .map(|(entry, name)| format!("{name}:{entry}"))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

fn subtitle(history: &History) -> String {
    let balances = match history.final_balances() {
        Some(finals) => finals
            .iter()
            .map(|(branch, balance)| format!("{branch} {balance}"))
            .collect::<Vec<_>>()
            .join(", "),
        None => "unknown".to_string(),
    };
    format!(
        "clocks {} · schedule {} · final balances {balances}",
        history.model.name(),
        history.schedule.name()
    )
}

fn note(event: &TraceEvent, rejected: bool) -> Option<Note> {
    if let EventKind::Wait(write) = event.kind {
        return Some(Note {
            text: format!("waits for {write}"),
            alert: true,
        });
    }
    if rejected {
        return Some(Note {
            text: "rejected".to_string(),
            alert: true,
        });
    }
    if let Some(outcome) = event.outcome {
        return Some(Note {
            text: outcome.to_string(),
            alert: outcome == Outcome::Fail,
        });
    }
    event.balance.map(|balance| Note {
        text: balance.to_string(),
        alert: false,
    })
}

fn title(event: &TraceEvent, vector: &str, rejected: bool) -> String {
    let mut lines = vec![
        event.kind.name(),
        format!(
            "event id {}, process {}, seq {}",
            event.event_id, event.process, event.seq
        ),
        format!("Lamport clock {}", event.lamport),
        format!("vector clock {vector}"),
    ];
    if let EventKind::Wait(write) = event.kind {
        lines.push(format!(
            "waits for {write}, not applied here yet, before it serves event {}",
            event.event_id
        ));
    }
    if let Some(message) = event.receives {
        lines.push(format!("received {message}"));
    }
    if !event.sends.is_empty() {
        let sent: Vec<String> = event.sends.iter().map(ToString::to_string).collect();
        lines.push(format!("sent {}", sent.join(", ")));
    }
    if let Some(balance) = event.balance {
        lines.push(format!("balance {balance}"));
    }
    if let Some(outcome) = event.outcome {
        lines.push(format!("result {outcome}"));
    }
    if rejected {
        lines.push("rejected: nothing applied, nothing propagated".to_string());
    }
    lines.join("\n")
}
