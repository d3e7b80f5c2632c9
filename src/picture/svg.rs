//! The space-time diagram as SVG: lanes, dots, arrows, a legend and a title, drawn from a
//! [`Layout`]. Elements carry stable classes and `data-` attributes (`class="lane"`,
//! `class="event"` with `data-process` and `data-seq`, `class="message …"` with `data-from`
//! and `data-to`) so tests and the HTML page's script can find them. The text depends only on
//! the history, so a saved trace draws byte for byte the picture of the run that wrote it.

use super::PictureError;
use super::geometry::{
    Arrow, Band, CLOCK_FONT, CrashMark, DOT_RADIUS, LEFT, LostMessage, Mark, MessageKind,
    NOTE_FONT, TEXT_LEFT, Tick, endpoints,
};
use super::labels;
use super::layout::Layout;
use crate::trace::History;

/// Where the SVG goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// A file of its own: with the SVG namespace, Lamport axis only.
    Standalone,
    /// Inside an HTML page: no namespace needed (nothing in the page names a URL), and a
    /// hidden order-of-recording axis that the page's switch shows.
    Inline,
}

/// The space-time diagram of `history` as a standalone SVG file.
pub fn render(history: &History) -> Result<String, PictureError> {
    let mut layout = Layout::of(history)?;
    labels::place(&mut layout);
    Ok(draw(&layout, Flavor::Standalone))
}

/// Fonts the viewer already has: the picture loads nothing.
const FONTS: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";

const STYLE: &str = "
.title{font-size:18px;font-weight:700;fill:#111827}
.subtitle{font-size:13px;fill:#374151}
.legend text{font-size:12px;fill:#374151}
.legend .heading{font-weight:700}
.group rect{stroke:none}
.group.customers rect{fill:#eef4ff}
.group.branches rect{fill:#fdf6e7}
.group text{font-size:11px;font-weight:700;letter-spacing:.08em;text-transform:uppercase;fill:#6b7280}
.lane line{stroke:#94a3b8;stroke-width:1.5}
.lane text{font-size:14px;font-weight:700;fill:#1f2937}
.axis text{font-size:10px;fill:#6b7280}
.axis .caption{font-size:11px;font-weight:700;fill:#4b5563}
.axis line{stroke:#e2e8f0;stroke-width:1}
.message{stroke-width:1.6;fill:none}
.message.unmerged,.legend .unmerged{stroke-dasharray:1.5 4;stroke-linecap:round}
.legend line{stroke-width:1.6}
.dot{stroke:#1f2937;stroke-width:2}
.dot.hollow{fill:#fff}
.dot.filled,.half{fill:#1f2937}
.cross{stroke:#dc2626;stroke-width:3;stroke-linecap:round}
.clock,.note,.band text,.crash text,.lost text{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.clock{font-weight:700;fill:#111827}
.note{fill:#6b7280}
.note.alert{fill:#dc2626;font-weight:700}
.band rect{stroke-width:1;stroke-dasharray:4 3}
.band.partition rect{fill:#fee2e2;stroke:#f87171}
.band.hold rect{fill:#fef3c7;stroke:#f59e0b}
.band.pause rect{fill:#e5e7eb;stroke:#9ca3af}
.band text{fill:#7f1d1d}
.crash path{fill:none;stroke:#dc2626;stroke-width:2.5;stroke-linejoin:bevel}
.crash text{font-weight:700;fill:#dc2626}
.lost line{stroke:#dc2626;stroke-width:1.6;stroke-dasharray:6 4}
.lost path{stroke:#dc2626;stroke-width:2.5;stroke-linecap:round}
.lost text{font-weight:700;fill:#dc2626}
";

/// Draws `layout` as SVG text.
pub fn draw(layout: &Layout, flavor: Flavor) -> String {
    let mut out = String::with_capacity(512 * (layout.dots.len() + layout.arrows.len()) + 8192);
    let (width, height) = (layout.width, layout.height);
    let namespace = match flavor {
        Flavor::Standalone => " xmlns=\"http://www.w3.org/2000/svg\"",
        Flavor::Inline => " id=\"diagram\"",
    };
    out.push_str(&format!(
        "<svg{namespace} class=\"spacetime\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" data-width=\"{width}\" data-width-seq=\"{}\" \
         font-family=\"{FONTS}\" role=\"img\">\n",
        layout.seq_width
    ));
    out.push_str(&format!(
        "<title>Space-time diagram of {}: {}</title>\n",
        escape(&layout.title),
        escape(&layout.subtitle)
    ));
    out.push_str(&format!("<style>{STYLE}</style>\n"));
    draw_markers(&mut out);
    // A white background keeps the picture readable on dark pages.
    let full = layout.width.max(layout.seq_width);
    out.push_str(&format!(
        "<rect class=\"background\" width=\"{full}\" height=\"{height}\" fill=\"#ffffff\"/>\n"
    ));
    out.push_str(&format!(
        "<text class=\"title\" x=\"{TEXT_LEFT}\" y=\"32\">Space-time diagram of {}</text>\n",
        escape(&layout.title)
    ));
    out.push_str(&format!(
        "<text class=\"subtitle\" x=\"{TEXT_LEFT}\" y=\"54\">{}</text>\n",
        escape(&layout.subtitle)
    ));
    draw_legend(&mut out, layout);
    for group in &layout.groups {
        let middle = (group.top + group.bottom) / 2;
        out.push_str(&format!(
            "<g class=\"group {name}\"><rect x=\"8\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\"/>\
             <text transform=\"translate(26,{middle}) rotate(-90)\" text-anchor=\"middle\">{name}</text></g>\n",
            group.top,
            full - 16,
            group.bottom - group.top,
            name = group.name,
        ));
    }
    draw_axis(
        &mut out,
        "axis-lamport",
        "Lamport clock",
        &layout.lamport_ticks,
        layout,
        true,
    );
    if flavor == Flavor::Inline {
        draw_axis(
            &mut out,
            "axis-seq",
            "order of recording",
            &layout.seq_ticks,
            layout,
            false,
        );
    }
    // Faults sit behind the lanes; the order-of-recording view hides them (see html.rs).
    let faults = &layout.faults;
    if !faults.bands.is_empty() || !faults.lost.is_empty() || !faults.crashes.is_empty() {
        out.push_str("<g class=\"faults\">\n");
        for band in &faults.bands {
            draw_band(&mut out, band);
        }
        for lost in &faults.lost {
            draw_lost(&mut out, lost);
        }
        for crash in &faults.crashes {
            draw_crash(&mut out, crash);
        }
        out.push_str("</g>\n");
    }
    out.push_str("<g class=\"lanes\">\n");
    for lane in &layout.lanes {
        out.push_str(&format!(
            "<g class=\"lane\" id=\"lane-{name}\" data-process=\"{name}\">\
             <line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{name}</text></g>\n",
            LEFT - 26,
            full - 24,
            LEFT - 34,
            lane.y + 5,
            name = lane.name,
            y = lane.y,
        ));
    }
    out.push_str("</g>\n<g class=\"messages\">\n");
    for arrow in &layout.arrows {
        draw_arrow(&mut out, layout, arrow);
    }
    out.push_str("</g>\n<g class=\"events\">\n");
    for dot in &layout.dots {
        out.push_str(&format!(
            "<g class=\"event\" id=\"ev-{label}\" data-process=\"{}\" data-seq=\"{}\" \
             data-lamport=\"{}\" data-eid=\"{}\" data-mark=\"{}\" data-x=\"{}\" data-xs=\"{}\" \
             data-y=\"{}\" transform=\"translate({},{})\">",
            dot.process,
            dot.seq,
            dot.lamport,
            dot.event_id,
            dot.mark.class(),
            dot.x,
            dot.x_seq,
            dot.y,
            dot.x,
            dot.y,
            label = dot.label,
        ));
        out.push_str(&format!("<title>{}</title>", escape(&dot.title)));
        draw_mark(&mut out, dot.mark, dot.rejected);
        out.push_str(&label(
            "clock",
            dot.clock_at,
            CLOCK_FONT,
            "middle",
            &dot.lamport.to_string(),
        ));
        if let Some(note) = &dot.note {
            let class = if note.alert { "note alert" } else { "note" };
            out.push_str(&label(class, dot.note_at, NOTE_FONT, "middle", &note.text));
        }
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n</svg>\n");
    out
}

/// A label's text: a `class="label …"` element with its position, anchor and font size as
/// attributes, so that its box can be told from the SVG alone.
fn label(class: &str, (x, y): (i64, i64), font: i64, anchor: &str, text: &str) -> String {
    format!(
        "<text class=\"{}\" x=\"{x}\" y=\"{y}\" text-anchor=\"{anchor}\" \
         font-size=\"{font}\">{}</text>",
        format!("label {class}").trim_end(),
        escape(text)
    )
}

/// One arrowhead per message kind, in its colour.
fn draw_markers(out: &mut String) {
    out.push_str("<defs>");
    for kind in MessageKind::ALL {
        out.push_str(&format!(
            "<marker id=\"arrow-{}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" \
             markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\">\
             <path d=\"M0,0L10,5L0,10z\" fill=\"{}\"/></marker>",
            kind.class(),
            kind.color()
        ));
    }
    out.push_str("</defs>\n");
}

fn draw_mark(out: &mut String, mark: Mark, rejected: bool) {
    let r = DOT_RADIUS;
    match mark {
        Mark::Receive => out.push_str(&format!("<circle class=\"dot hollow\" r=\"{r}\"/>")),
        Mark::Send => out.push_str(&format!("<circle class=\"dot filled\" r=\"{r}\"/>")),
        Mark::ReceiveSend => out.push_str(&format!(
            "<circle class=\"dot hollow\" r=\"{r}\"/><path class=\"half\" d=\"M0,-{r}A{r},{r} 0 0 1 0,{r}Z\"/>"
        )),
        Mark::Local => out.push_str(&format!(
            "<rect class=\"dot filled\" x=\"-{s}\" y=\"-{s}\" width=\"{w}\" height=\"{w}\"/>",
            s = r - 1,
            w = 2 * (r - 1)
        )),
    }
    if rejected {
        let c = r + 2;
        out.push_str(&format!(
            "<path class=\"cross\" d=\"M-{c},-{c}L{c},{c}M-{c},{c}L{c},-{c}\"/>"
        ));
    }
}

fn draw_arrow(out: &mut String, layout: &Layout, arrow: &Arrow) {
    let (Some(from), Some(to)) = (layout.dots.get(arrow.from), layout.dots.get(arrow.to)) else {
        return;
    };
    let (x1, y1, x2, y2) = endpoints(from.x, from.y, to.x, to.y);
    let unmerged = if arrow.merges { "" } else { " unmerged" };
    let class = arrow.kind.class();
    out.push_str(&format!(
        "<line class=\"message {class}{unmerged}\" data-kind=\"{class}\" data-message=\"{}\" \
         data-from=\"ev-{}\" data-to=\"ev-{}\" x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" \
         y2=\"{y2:.1}\" stroke=\"{}\" marker-end=\"url(#arrow-{class})\">",
        arrow.message,
        from.label,
        to.label,
        arrow.kind.color(),
    ));
    let merge_note = if arrow.merges {
        ""
    } else {
        " (received without merging its clocks)"
    };
    out.push_str(&format!(
        "<title>{} {}: {} {} → {} {}{merge_note}</title></line>\n",
        arrow.kind.label(),
        arrow.message,
        from.label,
        from.name,
        to.label,
        to.name
    ));
}

fn draw_band(out: &mut String, band: &Band) {
    let ((left, right), (top, bottom)) = (band.x, band.y);
    out.push_str(&format!(
        "<g class=\"band {}\"><title>{}</title><rect x=\"{left}\" y=\"{top}\" width=\"{}\" \
         height=\"{}\" rx=\"4\"/>{}</g>\n",
        band.kind,
        escape(&band.label),
        right - left,
        bottom - top,
        label("", band.label_at, NOTE_FONT, "end", &band.label),
    ));
}

fn draw_crash(out: &mut String, crash: &CrashMark) {
    let (x, y) = (crash.x, crash.y);
    out.push_str(&format!(
        "<g class=\"crash\" data-branch=\"{}\"><title>{}</title>\
         <path d=\"M{},{}L{},{}L{},{}L{},{}\"/>{}</g>\n",
        crash.branch,
        escape(&crash.label),
        x + 3,
        y - 16,
        x - 4,
        y - 2,
        x + 4,
        y + 2,
        x - 3,
        y + 16,
        label(
            "",
            (x + crash.label_at.0, y + crash.label_at.1),
            NOTE_FONT,
            "middle",
            "crash"
        ),
    ));
}

fn draw_lost(out: &mut String, lost: &LostMessage) {
    let ((x1, y1), (x2, y2)) = (lost.from, lost.to);
    out.push_str(&format!(
        "<g class=\"lost\" data-message=\"{}\"><title>{} lost {} time(s), then sent again</title>\
         <line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\"/>\
         <path d=\"M{},{}L{},{}M{},{}L{},{}\"/>{}</g>\n",
        lost.message,
        lost.message,
        lost.attempts,
        x2 - 5,
        y2 - 5,
        x2 + 5,
        y2 + 5,
        x2 - 5,
        y2 + 5,
        x2 + 5,
        y2 - 5,
        label(
            "",
            (x2 + lost.label_at.0, y2 + lost.label_at.1),
            NOTE_FONT,
            "start",
            &lost.times()
        ),
    ));
}

fn draw_axis(
    out: &mut String,
    class: &str,
    caption: &str,
    ticks: &[Tick],
    layout: &Layout,
    shown: bool,
) {
    let display = if shown { "" } else { " display=\"none\"" };
    let label_y = layout.lanes_top - 8;
    out.push_str(&format!(
        "<g class=\"axis {class}\"{display}><text class=\"caption\" x=\"{}\" y=\"{}\">\
         {caption} →</text>",
        LEFT - 6,
        label_y - 16
    ));
    for tick in ticks {
        out.push_str(&format!(
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>\
             <text x=\"{x}\" y=\"{label_y}\" text-anchor=\"middle\">{}</text>",
            layout.lanes_top,
            layout.lanes_bottom,
            escape(&tick.label),
            x = tick.x,
        ));
    }
    out.push_str("</g>\n");
}

/// What the legend lists: every symbol `layout` draws, and only those, each once, by the name
/// of its class (`receive`, `request`, `unmerged`, `partition`, …), in the legend's order.
pub fn symbols(layout: &Layout) -> Vec<&'static str> {
    let mut used = Vec::new();
    for mark in Mark::ALL {
        if layout.dots.iter().any(|dot| dot.mark == mark) {
            used.push(mark.class());
        }
    }
    if layout.dots.iter().any(|dot| dot.rejected) {
        used.push("rejected");
    }
    for kind in MessageKind::ALL {
        if layout.arrows.iter().any(|arrow| arrow.kind == kind) {
            used.push(kind.class());
        }
    }
    if layout.arrows.iter().any(|arrow| !arrow.merges) {
        used.push("unmerged");
    }
    let faults = &layout.faults;
    for kind in ["partition", "hold", "pause"] {
        if faults.bands.iter().any(|band| band.kind == kind) {
            used.push(kind);
        }
    }
    if !faults.crashes.is_empty() {
        used.push("crash");
    }
    if !faults.lost.is_empty() {
        used.push("lost");
    }
    used
}

/// Up to three rows, of the symbols the diagram uses (see [`symbols`]): the event marks, the
/// message kinds, and the faults of a simulated run. Each item is a `class="legend-<symbol>"`
/// group. Its fault symbols are drawn with attributes, not the diagram's classes, so that
/// counting the diagram's bands or crashes does not count the legend's.
fn draw_legend(out: &mut String, layout: &Layout) {
    let used = symbols(layout);
    out.push_str("<g class=\"legend\">");
    let rows: [(&str, i64, &[&str]); 3] = [
        (
            "events",
            86,
            &["receive", "send", "receive-send", "local", "rejected"],
        ),
        (
            "messages",
            112,
            &[
                "request",
                "propagation",
                "propagation-reply",
                "reply",
                "unmerged",
            ],
        ),
        (
            "faults",
            138,
            &["partition", "hold", "pause", "crash", "lost"],
        ),
    ];
    for (heading, y, members) in rows {
        let shown: Vec<&str> = members
            .iter()
            .copied()
            .filter(|symbol| used.contains(symbol))
            .collect();
        if shown.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "<text class=\"heading\" x=\"20\" y=\"{}\">{heading}</text>",
            y + 4
        ));
        let mut x = 100;
        for symbol in shown {
            let (drawing, label, room) = legend_symbol(symbol);
            out.push_str(&format!(
                "<g class=\"legend-{symbol}\" transform=\"translate({x},{y})\">{drawing}\
                 <text x=\"{room}\" y=\"4\">{}</text></g>",
                escape(label)
            ));
            x += room + 22 + 7 * label.chars().count() as i64;
        }
    }
    out.push_str("</g>\n");
}

/// A legend item's drawing, its words, and where the words start.
fn legend_symbol(symbol: &str) -> (String, &'static str, i64) {
    let mut drawing = String::new();
    if let Some(mark) = Mark::ALL.into_iter().find(|mark| mark.class() == symbol) {
        draw_mark(&mut drawing, mark, false);
        return (drawing, mark.label(), 14);
    }
    if let Some(kind) = MessageKind::ALL
        .into_iter()
        .find(|kind| kind.class() == symbol)
    {
        let drawing = format!(
            "<line x1=\"-8\" y1=\"0\" x2=\"22\" y2=\"0\" stroke=\"{}\" \
             marker-end=\"url(#arrow-{symbol})\"/>",
            kind.color()
        );
        return (drawing, kind.label(), 30);
    }
    let band = |fill: &str, stroke: &str| {
        format!(
            "<rect x=\"-8\" y=\"-7\" width=\"26\" height=\"14\" rx=\"3\" fill=\"{fill}\" \
             stroke=\"{stroke}\" stroke-dasharray=\"4 3\"/>"
        )
    };
    match symbol {
        "rejected" => {
            draw_mark(&mut drawing, Mark::Local, true);
            (drawing, "rejected withdraw", 14)
        }
        "unmerged" => (
            "<line class=\"unmerged\" x1=\"-8\" y1=\"0\" x2=\"22\" y2=\"0\" stroke=\"#6b7280\"/>"
                .to_string(),
            "dotted: received without merging its clocks",
            30,
        ),
        "partition" => (
            band("#fee2e2", "#f87171"),
            "partition (messages held up)",
            26,
        ),
        "hold" => (band("#fef3c7", "#f59e0b"), "hold (messages held back)", 26),
        "pause" => (band("#e5e7eb", "#9ca3af"), "pause of a branch", 26),
        "crash" => (
            "<path d=\"M3,-9L-3,-1L3,1L-3,9\" fill=\"none\" stroke=\"#dc2626\" \
             stroke-width=\"2.5\"/>"
                .to_string(),
            "crash and restart of a branch",
            14,
        ),
        _ => (
            "<line x1=\"-8\" y1=\"0\" x2=\"16\" y2=\"0\" stroke=\"#dc2626\" \
             stroke-dasharray=\"6 4\" stroke-width=\"1.6\"/><path d=\"M13,-4L21,4M13,4L21,-4\" \
             stroke=\"#dc2626\" stroke-width=\"2.5\"/>"
                .to_string(),
            "lost delivery, sent again (×attempts)",
            30,
        ),
    }
}

/// Escapes text for XML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            _ => escaped.push(c),
        }
    }
    escaped
}
