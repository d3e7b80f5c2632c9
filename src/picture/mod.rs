//! Pictures of a run, drawn from its [`History`](crate::trace::History): a space-time diagram
//! as SVG ([`svg`]), a self-contained interactive HTML page around it ([`html`]), and a log that
//! the ShiViz vector-clock visualizer loads ([`shiviz`]). Pure: every function returns a
//! `String`; the binary writes the files.
//!
//! - [`causal`]: the happens-before graph of a history (lane order plus message links), a
//!   topological order of its events and their vector clocks, computed as the recorder does.
//! - [`geometry`]: the diagram's measures and the positioned things it is made of.
//! - [`layout`]: where every lane, event and arrow goes; one computation shared by SVG and HTML.
//! - [`labels`]: where the clocks, notes and fault texts go so that no arrow crosses them.
//! - [`faults`]: where a simulated run's faults go (lost deliveries, partition bands).
//! - [`window`]: a part of a diagram too wide to draw whole.
//! - [`svg`], [`html`], [`shiviz`]: the three outputs.

pub mod causal;
pub mod faults;
pub mod geometry;
pub mod html;
pub mod labels;
pub mod layout;
pub mod shiviz;
pub mod svg;
pub mod window;

/// Why a history cannot be drawn. A history recorded by a run is always drawable; these come
/// from trace files edited by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PictureError {
    /// A process's events are not numbered 1, 2, 3, … in order.
    #[error("process {process}: event number {found} where {expected} was expected")]
    Sequence {
        /// The process, e.g. `B2`.
        process: String,
        /// The number its next event should have.
        expected: u64,
        /// The number it has.
        found: u64,
    },
    /// The Lamport clocks reach so far that the picture would be wider than it may be.
    #[error(
        "Lamport clocks up to {lamport} would make a picture {width} pixels wide; at most {} \
         are drawn",
        geometry::MAX_WIDTH
    )]
    TooWide {
        /// The largest Lamport value.
        lamport: u64,
        /// The width it would take.
        width: i128,
    },
    /// The message links and process orders form a cycle: an event would happen before itself.
    #[error("event {event}: the message links form a cycle (it would happen before itself)")]
    Cycle {
        /// One event on the cycle, e.g. `B2-3`.
        event: String,
    },
}
