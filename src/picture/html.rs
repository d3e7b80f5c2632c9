//! One self-contained HTML page for a run: a viewer that draws the space-time diagram on a
//! canvas, only what is on screen, from the run's events embedded compactly (one record of a few
//! numbers per event and per message), so that the page grows with the events and not with the
//! picture's pixels. Zoom and pan (wheel, drag, keys), an overview strip of the whole run that
//! shows the view and jumps on click, lane names that stay in view, lanes that can be hidden,
//! reordered and filtered, a find box (process and number, event id, Lamport value), the
//! causal past, future and concurrent set of the event clicked, a second view that lays out one
//! event's journey alone, and a level of detail that bundles dense fan-outs. Inline CSS and
//! plain JavaScript ([`VIEWER_SCRIPT`]); the page loads nothing, so it works offline and from a
//! file.
//!
//! The script decides causality as the vector clocks do: `a` happened before `b` exactly when a
//! chain of events on one process and of messages whose receive merged leads from `a` to `b`
//! (a query's receive, which merges no clock, links nothing). It walks that chain from the
//! event clicked, in time linear in the events. Hooks for tests and links, joined by `&` in the
//! URL's fragment: `#click=B2-3` selects that event, `#find=...` finds as the find box does,
//! `#view=journey` opens the journey of the selected event, `#lanes=branches` shows only the
//! branches; a script error is written into the page as `<p id="script-error">`. The panel
//! carries the selection as `data-selected`, `data-past`, `data-future` and `data-concurrent`
//! (event labels, space-separated), the canvas the part of the run in view as `data-view`, and
//! the body `data-ready="yes"` with the time the page took to get ready, in `data-ready-ms`.

use serde_json::{Value, json};

use super::PictureError;
use super::geometry::{DOT_RADIUS, LAMPORT_STEP, Mark, MessageKind};
use super::layout::Layout;
use super::svg::escape;
use crate::trace::History;

/// The viewer's script.
const VIEWER_SCRIPT: &str = include_str!("viewer.js");
/// The viewer's style sheet.
const VIEWER_STYLE: &str = include_str!("viewer.css");

/// How many numbers each event's record has in the embedded data: lane, number on its process,
/// Lamport clock, x by Lamport clock, name (an index into `names`), event id, note (an index
/// into `notes`, or -1), mark (see [`mark_code`]).
const EVENT_FIELDS: usize = 8;
/// How many numbers each message's record has: sending event, receiving event (indices into
/// the events), kind (an index into [`MessageKind::ALL`]), and whether the receive merged.
const MESSAGE_FIELDS: usize = 4;

/// The interactive page of `history`.
pub fn render(history: &History) -> Result<String, PictureError> {
    let layout = Layout::of(history)?;
    let data = data(history, &layout).to_string();
    // `</` would end the script element early; JSON allows `<\/` for it.
    let data = data.replace("</", "<\\/");
    let mut out = String::with_capacity(data.len() + VIEWER_SCRIPT.len() + 8192);
    out.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Space-time diagram of {}</title>\n",
        escape(&layout.title)
    ));
    // First, so that an error anywhere later is reported in the page.
    out.push_str(
        "<script>window.onerror = function (message) { var p = document.createElement('p'); \
         p.id = 'script-error'; p.textContent = 'script error: ' + message; \
         (document.body || document.documentElement).appendChild(p); };\
         window.pageStart = Date.now();</script>\n",
    );
    out.push_str(&format!("<style>{VIEWER_STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(&format!(
        "<header>\n<h1>Space-time diagram of {}</h1>\n<p class=\"subtitle\" title=\"{subtitle}\">\
         {subtitle}</p>\n",
        escape(&layout.title),
        subtitle = escape(&layout.subtitle)
    ));
    out.push_str(CONTROLS);
    out.push_str(&legend(&layout));
    out.push_str("</header>\n");
    out.push_str(BODY);
    out.push_str(&format!(
        "<script id=\"history-data\" type=\"application/json\">{data}</script>\n"
    ));
    out.push_str(&format!(
        "<script>{VIEWER_SCRIPT}</script>\n</body>\n</html>\n"
    ));
    Ok(out)
}

/// The number the page draws a mark by.
fn mark_code(mark: Mark, rejected: bool) -> i64 {
    if rejected {
        return 4;
    }
    match mark {
        Mark::Receive => 0,
        Mark::Send => 1,
        Mark::ReceiveSend => 2,
        Mark::Local => 3,
    }
}

/// Indices of the distinct strings of a table, in order of first use.
#[derive(Default)]
struct Strings {
    list: Vec<String>,
    index: std::collections::HashMap<String, usize>,
}

impl Strings {
    fn of(&mut self, text: &str) -> i64 {
        let next = self.list.len();
        let index = *self.index.entry(text.to_string()).or_insert(next);
        if index == next {
            self.list.push(text.to_string());
        }
        i64::try_from(index).unwrap_or(i64::MAX)
    }
}

/// What the page embeds: the run's processes, events, messages and faults, in flat arrays.
fn data(history: &History, layout: &Layout) -> Value {
    let lane_of_y = |y: i64| {
        layout
            .lanes
            .iter()
            .position(|lane| lane.y == y)
            .map_or(-1, |lane| lane as i64)
    };
    let lanes_within = |(top, bottom): (i64, i64)| -> Vec<usize> {
        (0..layout.lanes.len())
            .filter(|&lane| (top..=bottom).contains(&layout.lanes[lane].y))
            .collect()
    };
    let (mut names, mut notes) = (Strings::default(), Strings::default());
    let mut events = Vec::with_capacity(layout.dots.len() * EVENT_FIELDS);
    let mut alerts = Vec::new();
    for dot in &layout.dots {
        let note = dot.note.as_ref().map_or(-1, |note| {
            let index = notes.of(&note.text);
            if note.alert && !alerts.contains(&index) {
                alerts.push(index);
            }
            index
        });
        events.extend([
            dot.lane as i64,
            i64::try_from(dot.seq).unwrap_or(i64::MAX),
            i64::try_from(dot.lamport).unwrap_or(i64::MAX),
            dot.x,
            names.of(&dot.name),
            i64::try_from(dot.event_id).unwrap_or(i64::MAX),
            note,
            mark_code(dot.mark, dot.rejected),
        ]);
    }
    let mut messages = Vec::with_capacity(layout.arrows.len() * MESSAGE_FIELDS);
    for arrow in &layout.arrows {
        let kind = MessageKind::ALL
            .iter()
            .position(|kind| *kind == arrow.kind)
            .unwrap_or(0);
        messages.extend([
            arrow.from as i64,
            arrow.to as i64,
            kind as i64,
            i64::from(arrow.merges),
        ]);
    }
    let faults = &layout.faults;
    // Lanes are indexed as the process table is; they are shown top to bottom as the SVG has them.
    let mut order: Vec<usize> = (0..layout.lanes.len()).collect();
    order.sort_by_key(|&lane| layout.lanes[lane].y);
    json!({
        "order": order,
        "radius": DOT_RADIUS,
        "step": LAMPORT_STEP,
        "width": layout.width,
        "model": history.model.name(),
        "processes": layout.lanes.iter().map(|lane| lane.name.clone()).collect::<Vec<_>>(),
        "customers": layout.lanes.iter().map(|lane| {
            matches!(lane.process, crate::model::Process::Customer(_))
        }).collect::<Vec<_>>(),
        "names": names.list,
        "notes": notes.list,
        "alerts": alerts,
        "kinds": MessageKind::ALL.iter().map(|kind| json!({
            "name": kind.label(), "color": kind.color(),
        })).collect::<Vec<_>>(),
        "events": events,
        "messages": messages,
        "ticks": layout.lamport_ticks.iter().map(|tick| tick.x).collect::<Vec<_>>(),
        "bands": faults.bands.iter().map(|band| json!({
            "kind": band.kind, "label": band.label, "x": [band.x.0, band.x.1],
            "lanes": lanes_within(band.y),
        })).collect::<Vec<_>>(),
        "crashes": faults.crashes.iter().map(|crash| json!({
            "label": crash.label, "x": crash.x, "lane": lane_of_y(crash.y),
        })).collect::<Vec<_>>(),
        "lost": faults.lost.iter().map(|lost| json!({
            "message": lost.message, "attempts": lost.attempts,
            "from": [lost.from.0, lane_of_y(lost.from.1)], "to": [lost.to.0, lane_of_y(lost.to.1)],
        })).collect::<Vec<_>>(),
    })
}

/// The legend: every mark and kind of message, and the fault symbols this run has.
fn legend(layout: &Layout) -> String {
    let mut items: Vec<String> = [
        ("receive", "receive"),
        ("send", "send"),
        ("receive-send", "receive, then send"),
        ("local", "local"),
        ("rejected", "rejected withdraw"),
    ]
    .iter()
    .map(|(class, label)| {
        format!("<span class=\"item\"><i class=\"mark {class}\"></i>{label}</span>")
    })
    .collect();
    for kind in MessageKind::ALL {
        items.push(format!(
            "<span class=\"item\"><i class=\"arrow\" style=\"background:{}\"></i>{}</span>",
            kind.color(),
            kind.label()
        ));
    }
    items.push(
        "<span class=\"item\"><i class=\"arrow unmerged\"></i>dotted: received without merging \
         its clocks</span>"
            .to_string(),
    );
    items.push(
        "<span class=\"item\"><i class=\"bundle\"></i>bundle: a fan-out (or the replies \
         gathered), when too dense to draw one by one</span>"
            .to_string(),
    );
    let faults = &layout.faults;
    let mut kinds: Vec<&str> = faults.bands.iter().map(|band| band.kind).collect();
    kinds.dedup();
    for kind in ["partition", "hold", "pause"] {
        if kinds.contains(&kind) {
            items.push(format!(
                "<span class=\"item\"><i class=\"band {kind}\"></i>{kind}</span>"
            ));
        }
    }
    if !faults.crashes.is_empty() {
        items.push(
            "<span class=\"item\"><i class=\"crash\">⚡</i>crash and restart</span>".to_string(),
        );
    }
    if !faults.lost.is_empty() {
        items.push(
            "<span class=\"item\"><i class=\"lost\">×</i>lost delivery, sent again</span>"
                .to_string(),
        );
    }
    format!("<p class=\"legend\">{}</p>\n", items.join(""))
}

const CONTROLS: &str = "<form class=\"controls\" onsubmit=\"return false\">\
<span class=\"group\"><button type=\"button\" id=\"fit\" title=\"See the whole run (f)\">Fit</button>\
<button type=\"button\" id=\"zoom-in\" title=\"Zoom in (+)\">+</button>\
<button type=\"button\" id=\"zoom-out\" title=\"Zoom out (-)\">−</button></span>\
<span class=\"group\"><label><input type=\"radio\" name=\"view\" value=\"lamport\" checked> by Lamport clock</label>\
<label><input type=\"radio\" name=\"view\" value=\"journey\"> journey of the selected event</label></span>\
<span class=\"group\"><label>Find <input id=\"find\" type=\"search\" placeholder=\"B2-3, event 7, L 42\" \
autocomplete=\"off\"></label><span id=\"found\"></span></span>\
<span class=\"group\"><button type=\"button\" id=\"lanes-button\" aria-expanded=\"false\">Lanes…</button>\
<button type=\"button\" id=\"clear\">Clear selection</button></span></form>\n\
<p class=\"hint\">Wheel: zoom · drag or arrow keys: move · click an event: its causal past turns \
<b class=\"past\">red</b>, its future <b class=\"future\">blue</b>, the concurrent events fade · \
click the strip above the diagram to jump there.</p>\n";

const BODY: &str = "<div id=\"lanes-panel\" hidden>\n<p><button type=\"button\" data-only=\"all\">all</button> \
<button type=\"button\" data-only=\"branches\">only branches</button> \
<button type=\"button\" data-only=\"customers\">only customers</button> \
<label>only these <input id=\"only\" type=\"text\" placeholder=\"B1 B3 C2\"></label></p>\n\
<ol id=\"lane-list\"></ol>\n</div>\n\
<main>\n<div class=\"view\">\n<canvas id=\"overview\" height=\"48\"></canvas>\n\
<canvas id=\"diagram\" tabindex=\"0\" data-view=\"\"></canvas>\n<div id=\"tip\" hidden></div>\n</div>\n\
<aside id=\"panel\" data-selected=\"\" data-past=\"\" data-future=\"\" data-concurrent=\"\">\n\
<h2 id=\"panel-title\">No event selected</h2>\n\
<p id=\"panel-detail\">Click an event in the diagram, or find one.</p>\n\
<div id=\"panel-lists\"></div>\n</aside>\n</main>\n";
