//! A log that ShiViz (the vector-clock visualizer of DistributedClocks) loads: the first line is
//! the JavaScript regular expression that parses each event line, the second line is empty (no
//! delimiter between executions), then one line per event:
//!
//! ```text
//! B2 {"B2":2,"C2":1} deposit_execute event=2 lamport=2 sent=B2:1 balance=570
//! ```
//!
//! ShiViz rejects a log unless each host's own clock entry runs 1, 2, 3, … with no gap, every
//! other entry names a host of the log with a value that host reached, and every clock equals
//! the one it recomputes from the happens-before edges the clocks imply. The clocks written here
//! are recomputed from the history's structure ([`Causality`]), so all three hold by
//! construction: the own entry of an event is its position on its process, an entry is
//! non-zero only for a process whose event is in the clock's past (a process with no event is
//! never named), and a clock is the merge of exactly its predecessors. Lines come in a
//! topological order, lowest Lamport clock first, so every event follows everything it depends
//! on.

use super::PictureError;
use super::causal::{Causality, event_at};
use crate::trace::History;

/// The first line of the log: how ShiViz reads each event line. Besides the required `host`,
/// `clock` and `event` groups, it captures the event id, the Lamport clock and the details
/// (messages, balance, result), which ShiViz shows as the event's fields.
pub const REGEX: &str = r"(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>\S+) event=(?<eid>\d+) lamport=(?<lamport>\d+)(?<detail>.*)";

/// The ShiViz log of `history`.
pub fn render(history: &History) -> Result<String, PictureError> {
    let causality = Causality::of(history)?;
    let names: Vec<String> = history.table.names();
    let mut out = String::with_capacity(120 * (history.len() + 2));
    out.push_str(REGEX);
    out.push_str("\n\n");
    for place in causality.order() {
        let event = event_at(history, *place);
        let host = &names[place.lane];
        // The own entry first: ShiViz does not need it, a reader finds it faster.
        let own = causality.vector(*place)[place.lane];
        let mut entries = vec![format!("\"{host}\":{own}")];
        for (lane, entry) in causality.vector(*place).iter().enumerate() {
            if lane != place.lane && *entry > 0 {
                entries.push(format!("\"{}\":{entry}", names[lane]));
            }
        }
        out.push_str(&format!(
            "{host} {{{}}} {} event={} lamport={}",
            entries.join(","),
            event.kind.name(),
            event.event_id,
            event.lamport
        ));
        if let Some(message) = event.receives {
            out.push_str(&format!(" received={message}"));
        }
        if !event.sends.is_empty() {
            let sent: Vec<String> = event.sends.iter().map(ToString::to_string).collect();
            out.push_str(&format!(" sent={}", sent.join(",")));
        }
        if let Some(balance) = event.balance {
            out.push_str(&format!(" balance={balance}"));
        }
        if let Some(outcome) = event.outcome {
            out.push_str(&format!(" result={outcome}"));
        }
        out.push('\n');
    }
    Ok(out)
}
