//! The geometry of a space-time diagram: its measures, and the positioned things it is made of
//! (lanes, dots, arrows, ticks, and the marks of faults). Computed by [`super::layout`] and
//! [`super::faults`], drawn by [`super::svg`] and [`super::html`].

use std::collections::BTreeMap;

use crate::model::{MessageId, Process, Step};
use crate::trace::{EventKind, TraceEvent};

/// Horizontal distance between two consecutive Lamport values.
pub const LAMPORT_STEP: i64 = 48;
/// Extra horizontal distance for each sub-step (an event that shares its Lamport value with an
/// earlier one).
pub const SUB_STEP: i64 = 26;
/// Horizontal distance between consecutive events of a process when placed by order of
/// recording.
pub const SEQ_STEP: i64 = 48;
/// Vertical distance between two lanes.
pub const LANE_GAP: i64 = 52;
/// The radius of an event's dot.
pub const DOT_RADIUS: i64 = 7;
/// Where Lamport value 0 (and the first event in order of recording) sits.
pub const LEFT: i64 = 112;
/// Where the first lane sits: below the title, the legend and the clock axis.
pub const TOP: i64 = 206;
/// Extra room between the customers' lanes and the branches' lanes.
pub const GROUP_GAP: i64 = 22;
/// Room to the right of the last event.
pub const RIGHT: i64 = 60;
/// Room below the last lane.
pub const BOTTOM: i64 = 40;
/// The narrowest picture: wide enough for the title and the legend.
pub const MIN_WIDTH: i64 = 1060;
/// The widest picture drawn, in pixels: a run whose Lamport clocks reach far enough to need
/// more is refused rather than drawn (a trace edited by hand can claim any clock).
pub const MAX_WIDTH: i64 = 50_000_000;
/// Where the title and the subtitle start.
pub const TEXT_LEFT: i64 = 20;
/// A generous width of one character of the subtitle (13 px sans-serif): a picture is made at
/// least wide enough for its subtitle at this width.
pub const SUBTITLE_CHAR_WIDTH: i64 = 7;
/// A generous width of one character of a label in the diagram (a clock, a note, a fault's
/// text; 10 to 11 px sans-serif): a label's box is this many pixels per character wide.
pub const LABEL_CHAR_WIDTH: i64 = 7;
/// The font size of an event's Lamport clock, in pixels.
pub const CLOCK_FONT: i64 = 11;
/// The font size of a note under an event and of a fault's text, in pixels.
pub const NOTE_FONT: i64 = 10;
/// The widest picture `--svg` writes without `--svg-full`, in pixels: wider, a viewer can
/// hardly open it (16 branches of 10 operations each take 35,610 px), so `--svg` refuses and
/// names the flags that draw a part of it (`--svg-lamport`, `--svg-first`) or all of it.
pub const MAX_SVG_WIDTH: i64 = 20_000;

/// The kinds of message, each drawn in its own style. Faults (a dropped message, say) would
/// be new variants with a style of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A customer's request to its branch.
    Request,
    /// An origin branch propagating a deposit or withdraw to another branch.
    Propagation,
    /// A branch acknowledging a propagation to the origin.
    PropagationReply,
    /// An origin branch answering its customer.
    Reply,
}

impl MessageKind {
    /// Every kind, in the order the legend lists them.
    pub const ALL: [MessageKind; 4] = [
        MessageKind::Request,
        MessageKind::Propagation,
        MessageKind::PropagationReply,
        MessageKind::Reply,
    ];

    /// What a message is, from the event that received it.
    pub fn of(receiver: EventKind) -> Self {
        match receiver {
            EventKind::Receive(_) => MessageKind::Reply,
            EventKind::Branch(sub_event) => match sub_event.step {
                Step::PropagateRequest => MessageKind::Propagation,
                Step::PropagateResponse => MessageKind::PropagationReply,
                _ => MessageKind::Request,
            },
            EventKind::Query
            | EventKind::Send(_)
            | EventKind::Forward(_)
            | EventKind::Timeout(_)
            | EventKind::Wait(_) => MessageKind::Request,
        }
    }

    /// The CSS class (and marker id suffix) of this kind.
    pub fn class(self) -> &'static str {
        match self {
            MessageKind::Request => "request",
            MessageKind::Propagation => "propagation",
            MessageKind::PropagationReply => "propagation-reply",
            MessageKind::Reply => "reply",
        }
    }

    /// How the legend names this kind.
    pub fn label(self) -> &'static str {
        match self {
            MessageKind::Request => "request",
            MessageKind::Propagation => "propagation",
            MessageKind::PropagationReply => "propagation reply",
            MessageKind::Reply => "reply to the customer",
        }
    }

    /// The colour of this kind's arrows.
    pub fn color(self) -> &'static str {
        match self {
            MessageKind::Request => "#2563eb",
            MessageKind::Propagation => "#ea580c",
            MessageKind::PropagationReply => "#059669",
            MessageKind::Reply => "#9333ea",
        }
    }
}

/// How an event's dot is drawn: what it did with messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    /// Neither received nor sent (a square).
    Local,
    /// Sent at least one message (a filled circle).
    Send,
    /// Received a message (a hollow circle).
    Receive,
    /// Received a message and sent one (a circle, hollow on the left, filled on the right).
    ReceiveSend,
}

impl Mark {
    /// Every mark, in the order the legend lists them.
    pub const ALL: [Mark; 4] = [Mark::Receive, Mark::Send, Mark::ReceiveSend, Mark::Local];

    /// How the dot of `event` is drawn.
    pub fn of(event: &TraceEvent) -> Self {
        match (event.receives.is_some(), !event.sends.is_empty()) {
            (false, false) => Mark::Local,
            (false, true) => Mark::Send,
            (true, false) => Mark::Receive,
            (true, true) => Mark::ReceiveSend,
        }
    }

    /// The CSS class of this mark.
    pub fn class(self) -> &'static str {
        match self {
            Mark::Local => "local",
            Mark::Send => "send",
            Mark::Receive => "receive",
            Mark::ReceiveSend => "receive-send",
        }
    }

    /// How the legend names this mark.
    pub fn label(self) -> &'static str {
        match self {
            Mark::Local => "local",
            Mark::Send => "send",
            Mark::Receive => "receive",
            Mark::ReceiveSend => "receive, then send",
        }
    }
}

/// One process's lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    /// The process.
    pub process: Process,
    /// Its short name, `B2` or `C2`.
    pub name: String,
    /// The lane's vertical position.
    pub y: i64,
}

/// A band behind a group of lanes (the customers, the branches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// `customers` or `branches`.
    pub name: &'static str,
    /// The band's top edge.
    pub top: i64,
    /// The band's bottom edge.
    pub bottom: i64,
}

/// A short text under a dot: a balance, a customer's result, a rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The text.
    pub text: String,
    /// Whether it reports a failure (drawn in red).
    pub alert: bool,
}

/// Where a label's text sits: its anchor point on its baseline (see [`Anchor`]), relative to
/// the thing it labels.
pub type Offset = (i64, i64);

/// Which end of a label's text its anchor point is (SVG's `text-anchor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The text starts at the point.
    Start,
    /// The text is centred on the point.
    Middle,
    /// The text ends at the point.
    End,
}

/// The box a label of `chars` characters in `font` px takes when its baseline's anchor is at
/// `(x, y)`: `(left, top, right, bottom)`, [`LABEL_CHAR_WIDTH`] per character, from a font
/// size above the baseline to a quarter of it below (the descenders).
pub fn label_box(x: f64, y: f64, chars: usize, font: i64, anchor: Anchor) -> (f64, f64, f64, f64) {
    let width = (chars as i64 * LABEL_CHAR_WIDTH) as f64;
    let left = match anchor {
        Anchor::Start => x,
        Anchor::Middle => x - width / 2.0,
        Anchor::End => x - width,
    };
    let font = font as f64;
    (left, y - font, left + width, y + font / 4.0)
}

/// Whether the segment from `a` to `b` touches the box `(left, top, right, bottom)`
/// (Liang–Barsky clipping).
pub fn segment_hits_box(a: (f64, f64), b: (f64, f64), area: (f64, f64, f64, f64)) -> bool {
    let (left, top, right, bottom) = area;
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut low, mut high) = (0.0_f64, 1.0_f64);
    for (p, q) in [
        (-dx, a.0 - left),
        (dx, right - a.0),
        (-dy, a.1 - top),
        (dy, bottom - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                low = low.max(t);
            } else {
                high = high.min(t);
            }
        }
    }
    low <= high
}

/// A line from one dot to another that stops at the dots' edges, leaving room for the
/// arrowhead. The HTML page's script does the same when it moves the dots.
pub fn endpoints(x1: i64, y1: i64, x2: i64, y2: i64) -> (f64, f64, f64, f64) {
    let (x1, y1, x2, y2) = (x1 as f64, y1 as f64, x2 as f64, y2 as f64);
    let (dx, dy) = (x2 - x1, y2 - y1);
    let length = (dx * dx + dy * dy).sqrt();
    let (start, end) = (DOT_RADIUS as f64 + 1.0, DOT_RADIUS as f64 + 2.0);
    if length <= start + end {
        return (x1, y1, x2, y2);
    }
    let (ux, uy) = (dx / length, dy / length);
    (
        x1 + ux * start,
        y1 + uy * start,
        x2 - ux * end,
        y2 - uy * end,
    )
}

/// One event's dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dot {
    /// `B2-3`: the process and the event's number there; unique.
    pub label: String,
    /// The lane (the process's index in the table).
    pub lane: usize,
    /// The process's short name.
    pub process: String,
    /// The event's number on its process, from 1.
    pub seq: u64,
    /// The event's name, e.g. `deposit_execute`.
    pub name: String,
    /// The customer event (query, deposit or withdraw) it belongs to.
    pub event_id: u64,
    /// Its Lamport clock.
    pub lamport: u64,
    /// Its vector clock, indexed by lane.
    pub vector: Vec<u64>,
    /// Its position by Lamport clock.
    pub x: i64,
    /// Its position by order of recording.
    pub x_seq: i64,
    /// Its lane's vertical position.
    pub y: i64,
    /// What it did with messages.
    pub mark: Mark,
    /// Whether it is the execute step of a rejected withdraw.
    pub rejected: bool,
    /// The message it received, e.g. `C2:1`.
    pub received: Option<String>,
    /// The messages it sent.
    pub sent: Vec<String>,
    /// The text under the dot, if any.
    pub note: Option<Note>,
    /// Where the Lamport clock's text sits, from the dot: above it unless an arrow crosses
    /// there (see [`super::labels`]).
    pub clock_at: Offset,
    /// Where the note's text sits, from the dot: below it unless an arrow crosses there.
    pub note_at: Offset,
    /// The hover text: name, ids, clocks, messages, balance or result.
    pub title: String,
}

/// One message's arrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrow {
    /// The message id, e.g. `B2:1`.
    pub message: String,
    /// What the message is.
    pub kind: MessageKind,
    /// Whether the receive merged the message's clocks; a query's does not.
    pub merges: bool,
    /// The sending event (index into [`Layout::dots`]).
    pub from: usize,
    /// The receiving event (index into [`Layout::dots`]).
    pub to: usize,
}

/// A label on a horizontal axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tick {
    /// Where it sits.
    pub x: i64,
    /// What it says.
    pub label: String,
}

/// A message whose delivery failed at least once before it went through (or never did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostMessage {
    /// The message, e.g. `B2:1`.
    pub message: String,
    /// Where the dashed arrow starts: the sending event's position.
    pub from: (i64, i64),
    /// Where it stops, with its cross.
    pub to: (i64, i64),
    /// How many attempts were lost.
    pub attempts: u32,
    /// Where its `×3` starts (`text-anchor="start"`), from the cross.
    pub label_at: Offset,
}

impl LostMessage {
    /// What its cross says: `×3` for three lost attempts, nothing for one.
    pub fn times(&self) -> String {
        if self.attempts > 1 {
            format!("×{}", self.attempts)
        } else {
            String::new()
        }
    }
}

/// A stretch of the diagram during which some lanes were cut off from each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    /// `partition`, `hold` or `pause`.
    pub kind: &'static str,
    /// What the band says, e.g. `partition B2 ⇄ B3 (42–774 ms)`.
    pub label: String,
    /// Where its text ends (`text-anchor="end"`): inside its bottom right corner unless an
    /// arrow crosses there.
    pub label_at: (i64, i64),
    /// Its left and right edges.
    pub x: (i64, i64),
    /// Its top and bottom edges.
    pub y: (i64, i64),
}

/// Where a branch crashed, on its lane: between its last event kept by its store and its first
/// event after the restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashMark {
    /// The crashed branch, e.g. `B2`.
    pub branch: String,
    /// What the mark says, e.g. `crash B2 at 120 ms (9 events, 7 kept), restart at 480 ms
    /// (clock 11)`.
    pub label: String,
    /// Where it crosses the lane.
    pub x: i64,
    /// The lane's vertical position.
    pub y: i64,
    /// Where its word `crash` sits, from `(x, y)`: above the zigzag unless an arrow crosses
    /// there.
    pub label_at: Offset,
}

/// The faults of a run, placed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultOverlay {
    /// Lost deliveries, one per retried message.
    pub lost: Vec<LostMessage>,
    /// Partitions, holds and pauses that held up messages.
    pub bands: Vec<Band>,
    /// Crashes of branches, with their restarts.
    pub crashes: Vec<CrashMark>,
}

/// Where a message was sent and received, by dot index.
pub type Deliveries = BTreeMap<MessageId, (usize, Option<usize>)>;
