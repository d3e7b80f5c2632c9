//! One self-contained HTML page for a run: the space-time diagram (inline SVG), a panel that
//! lists the causal past, future and concurrent events of the event clicked, a switch between
//! placing events by Lamport clock and by order of recording, and the table of every event,
//! filterable by event id. Inline CSS and a little plain JavaScript; the page loads nothing, so
//! it works offline and from a file.
//!
//! The script decides causality from the vector clocks embedded in the page: `a` happened
//! before `b` exactly when `b`'s entry for `a`'s process has reached `a`'s number there. Two
//! hooks serve tests: `#click=B2-3` in the URL clicks that event once the page has loaded, and
//! a script error is written into the page as `<p id="script-error">` (`#position=seq` starts in
//! the order-of-recording view; hooks combine with `&`). The panel carries the
//! result as `data-past`, `data-future` and `data-concurrent` (event labels, space-separated).

use serde_json::json;

use super::PictureError;
use super::geometry::DOT_RADIUS;
use super::layout::{Layout, format_vector};
use super::svg::{self, Flavor, escape};
use crate::trace::History;

/// The interactive page of `history`.
pub fn render(history: &History) -> Result<String, PictureError> {
    let layout = Layout::of(history)?;
    let names: Vec<String> = history.table.names();
    let mut out = String::with_capacity(2048 * (layout.dots.len() + 16));
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
         (document.body || document.documentElement).appendChild(p); };</script>\n",
    );
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(CONTROLS);
    out.push_str("<main>\n<div class=\"diagram\">\n");
    out.push_str(&svg::draw(&layout, Flavor::Inline));
    out.push_str("</div>\n");
    out.push_str(PANEL);
    out.push_str("</main>\n");
    draw_table(&mut out, &layout, &names);
    let data = json!({
        "radius": DOT_RADIUS,
        "processes": names,
        "events": layout.dots.iter().map(|dot| json!({
            "label": dot.label,
            "lane": dot.lane,
            "seq": dot.seq,
            "name": dot.name,
            "lamport": dot.lamport,
            "vector": dot.vector,
        })).collect::<Vec<_>>(),
    });
    // `</` would end the script element early; JSON allows `<\/` for it.
    let data = data.to_string().replace("</", "<\\/");
    out.push_str(&format!(
        "<script id=\"history-data\" type=\"application/json\">{data}</script>\n"
    ));
    out.push_str(&format!("<script>{SCRIPT}</script>\n</body>\n</html>\n"));
    Ok(out)
}

fn draw_table(out: &mut String, layout: &Layout, names: &[String]) {
    out.push_str(
        "<section class=\"events\">\n<h2>Events</h2>\n<p class=\"filter\"><label>Filter by event \
         id <input id=\"filter\" type=\"search\" placeholder=\"e.g. 2 or 2, 4\" \
         autocomplete=\"off\"></label> <span id=\"shown\"></span></p>\n\
         <table id=\"events\">\n<thead><tr><th>event</th><th>name</th><th>event id</th>\
         <th>Lamport</th><th>vector clock</th><th>received</th><th>sent</th>\
         <th>balance / result</th></tr></thead>\n<tbody>\n",
    );
    for dot in &layout.dots {
        let note = dot.note.as_ref().map_or("", |note| note.text.as_str());
        out.push_str(&format!(
            "<tr id=\"row-{label}\" data-label=\"{label}\" data-eid=\"{}\"><td>{label}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            dot.event_id,
            escape(&dot.name),
            dot.event_id,
            dot.lamport,
            escape(&format_vector(&dot.vector, names)),
            dot.received.as_deref().unwrap_or(""),
            dot.sent.join(", "),
            escape(note),
            label = dot.label,
        ));
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

const CONTROLS: &str = "<header>\n<form class=\"controls\" onsubmit=\"return false\">\
<span class=\"label\">Place events</span>\
<label><input type=\"radio\" name=\"position\" value=\"lamport\" checked> by Lamport clock</label>\
<label><input type=\"radio\" name=\"position\" value=\"seq\"> by order of recording</label>\
<button type=\"button\" id=\"clear\">Clear selection</button></form>\n\
<p class=\"hint\">Click an event: its causal past turns <span class=\"swatch past\">red</span>, \
its causal future <span class=\"swatch future\">blue</span>, and the events concurrent with it \
fade. Hover an event for its clocks.</p>\n</header>\n";

const PANEL: &str = "<aside id=\"panel\" data-selected=\"\" data-past=\"\" data-future=\"\" \
data-concurrent=\"\">\n<h2 id=\"panel-title\">No event selected</h2>\n\
<p id=\"panel-detail\">Click an event in the diagram or a row of the table.</p>\n\
<div id=\"panel-lists\"></div>\n</aside>\n";

const STYLE: &str = "
body{margin:0;font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#111827;background:#f8fafc}
header{padding:12px 20px 0}
.controls{display:flex;flex-wrap:wrap;gap:14px;align-items:center;font-size:14px}
.controls .label{font-weight:700}
.controls button{font:inherit;padding:3px 10px}
.hint{font-size:13px;color:#4b5563;margin:6px 0 10px}
.swatch{font-weight:700}
.swatch.past{color:#e11d48}
.swatch.future{color:#0284c7}
main{display:flex;gap:16px;padding:0 20px;align-items:flex-start}
.diagram{flex:1;min-width:0;overflow:auto;max-height:82vh;background:#fff;border:1px solid #e5e7eb;border-radius:8px}
.diagram svg{display:block}
#panel{width:300px;flex:none;max-height:82vh;overflow:auto;background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;font-size:13px}
#panel h2{font-size:16px;margin:4px 0}
#panel h3{font-size:13px;margin:12px 0 4px}
#panel ul{list-style:none;margin:0;padding:0}
#panel li{margin:1px 0}
#panel button{font:inherit;border:none;background:none;padding:0;cursor:pointer;text-align:left;color:inherit}
#panel button:hover{text-decoration:underline}
#panel .past h3{color:#e11d48}
#panel .future h3{color:#0284c7}
#panel .concurrent h3{color:#6b7280}
.event{cursor:pointer}
.event.selected .dot{stroke:#f59e0b;stroke-width:4}
.event.past .dot{stroke:#e11d48;stroke-width:3}
.event.past .dot.filled,.event.past .half{fill:#e11d48}
.event.future .dot{stroke:#0284c7;stroke-width:3}
.event.future .dot.filled,.event.future .half{fill:#0284c7}
.event.concurrent{opacity:.22}
svg.focus .message.other{opacity:.12}
.events{padding:8px 20px 24px}
.events h2{font-size:16px;margin:8px 0}
.filter{font-size:14px}
table{border-collapse:collapse;font-size:12px;background:#fff}
th,td{border:1px solid #e5e7eb;padding:2px 8px;text-align:left;white-space:nowrap}
th{background:#f1f5f9}
tr.selected td{background:#fef3c7}
tr.past td{background:#ffe4e6}
tr.future td{background:#e0f2fe}
tr.concurrent td{color:#9ca3af}
tbody tr{cursor:pointer}
#script-error{color:#dc2626;font-weight:700;padding:0 20px}
";

const SCRIPT: &str = r#"
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('history-data').textContent);
  var svg = document.getElementById('diagram');
  var panel = document.getElementById('panel');
  var events = data.events;
  var byLabel = {};
  events.forEach(function (e) {
    e.node = document.getElementById('ev-' + e.label);
    e.row = document.getElementById('row-' + e.label);
    e.x = Number(e.node.getAttribute('data-x'));
    e.xs = Number(e.node.getAttribute('data-xs'));
    e.y = Number(e.node.getAttribute('data-y'));
    byLabel[e.label] = e;
  });
  var arrows = Array.prototype.map.call(svg.querySelectorAll('line.message'), function (line) {
    return {
      line: line,
      from: byLabel[line.getAttribute('data-from').slice(3)],
      to: byLabel[line.getAttribute('data-to').slice(3)]
    };
  });
  var RELATIONS = ['selected', 'past', 'future', 'concurrent'];

  // a happened before b: b's clock has seen a's process reach a's number.
  function before(a, b) { return a !== b && b.vector[a.lane] >= a.seq; }
  function relation(selected, e) {
    if (e === selected) { return 'selected'; }
    if (before(e, selected)) { return 'past'; }
    if (before(selected, e)) { return 'future'; }
    return 'concurrent';
  }

  function item(e) {
    var li = document.createElement('li');
    var button = document.createElement('button');
    button.type = 'button';
    button.textContent = e.label + '  ' + e.name + '  (L ' + e.lamport + ')';
    button.addEventListener('click', function () { select(e.label); });
    li.appendChild(button);
    return li;
  }

  function select(label) {
    var selected = byLabel[label];
    if (!selected) { return; }
    var groups = { past: [], future: [], concurrent: [] };
    events.forEach(function (e) {
      var r = relation(selected, e);
      e.relation = r;
      RELATIONS.forEach(function (c) { e.node.classList.remove(c); });
      e.node.classList.add(r);
      e.row.className = r;
      if (r !== 'selected') { groups[r].push(e); }
    });
    arrows.forEach(function (a) {
      var ends = [a.from.relation, a.to.relation];
      var kind = 'other';
      if (ends.every(function (r) { return r === 'past' || r === 'selected'; })) { kind = 'past'; }
      if (ends.every(function (r) { return r === 'future' || r === 'selected'; })) { kind = 'future'; }
      ['past', 'future', 'other'].forEach(function (c) { a.line.classList.remove(c); });
      a.line.classList.add(kind);
    });
    svg.classList.add('focus');
    panel.setAttribute('data-selected', label);
    document.getElementById('panel-title').textContent = label + ' ' + selected.name;
    document.getElementById('panel-detail').textContent = 'Lamport clock ' + selected.lamport +
      ', vector clock {' + data.processes.map(function (p, i) {
        return selected.vector[i] ? p + ':' + selected.vector[i] : null;
      }).filter(function (s) { return s; }).join(', ') + '}';
    var lists = document.getElementById('panel-lists');
    lists.textContent = '';
    [['past', 'Causal past (happened before)'], ['future', 'Causal future (happened after)'],
     ['concurrent', 'Concurrent']].forEach(function (pair) {
      var members = groups[pair[0]];
      panel.setAttribute('data-' + pair[0], members.map(function (e) { return e.label; }).join(' '));
      var section = document.createElement('div');
      section.className = pair[0];
      var heading = document.createElement('h3');
      heading.textContent = pair[1] + ': ' + members.length;
      section.appendChild(heading);
      var list = document.createElement('ul');
      members.forEach(function (e) { list.appendChild(item(e)); });
      section.appendChild(list);
      lists.appendChild(section);
    });
  }

  function clear() {
    events.forEach(function (e) {
      RELATIONS.forEach(function (c) { e.node.classList.remove(c); });
      e.row.className = '';
      e.relation = null;
    });
    arrows.forEach(function (a) { ['past', 'future', 'other'].forEach(function (c) { a.line.classList.remove(c); }); });
    svg.classList.remove('focus');
    ['selected', 'past', 'future', 'concurrent'].forEach(function (k) { panel.setAttribute('data-' + k, ''); });
    document.getElementById('panel-title').textContent = 'No event selected';
    document.getElementById('panel-detail').textContent = 'Click an event in the diagram or a row of the table.';
    document.getElementById('panel-lists').textContent = '';
  }

  // The same geometry as the SVG writer: lines stop at the dots' edges.
  function place(mode) {
    var seq = mode === 'seq';
    events.forEach(function (e) {
      e.node.setAttribute('transform', 'translate(' + (seq ? e.xs : e.x) + ',' + e.y + ')');
    });
    arrows.forEach(function (a) {
      var x1 = seq ? a.from.xs : a.from.x, y1 = a.from.y;
      var x2 = seq ? a.to.xs : a.to.x, y2 = a.to.y;
      var dx = x2 - x1, dy = y2 - y1, length = Math.sqrt(dx * dx + dy * dy);
      var start = data.radius + 1, end = data.radius + 2;
      if (length > start + end) {
        x1 += dx / length * start; y1 += dy / length * start;
        x2 -= dx / length * end; y2 -= dy / length * end;
      }
      a.line.setAttribute('x1', x1.toFixed(1)); a.line.setAttribute('y1', y1.toFixed(1));
      a.line.setAttribute('x2', x2.toFixed(1)); a.line.setAttribute('y2', y2.toFixed(1));
    });
    var width = svg.getAttribute(seq ? 'data-width-seq' : 'data-width');
    svg.setAttribute('width', width);
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + svg.getAttribute('height'));
    svg.querySelector('.axis-lamport').setAttribute('display', seq ? 'none' : 'inline');
    svg.querySelector('.axis-seq').setAttribute('display', seq ? 'inline' : 'none');
    // Faults are placed by Lamport clock only.
    var faults = svg.querySelector('.faults');
    if (faults) { faults.setAttribute('display', seq ? 'none' : 'inline'); }
  }

  function filter(text) {
    var wanted = text.split(/[\s,]+/).filter(function (s) { return s.length > 0; });
    var shown = 0;
    events.forEach(function (e) {
      var visible = wanted.length === 0 || wanted.indexOf(e.row.getAttribute('data-eid')) >= 0;
      e.row.hidden = !visible;
      if (visible) { shown += 1; }
    });
    document.getElementById('shown').textContent = shown + ' of ' + events.length + ' events';
  }

  events.forEach(function (e) {
    e.node.addEventListener('click', function () { select(e.label); });
    e.row.addEventListener('click', function () { select(e.label); });
  });
  document.getElementById('clear').addEventListener('click', clear);
  Array.prototype.forEach.call(document.querySelectorAll('input[name=position]'), function (input) {
    input.addEventListener('change', function () { place(input.value); });
  });
  var box = document.getElementById('filter');
  box.addEventListener('input', function () { filter(box.value); });
  filter('');

  // Hooks for tests and links: #click=B2-3, #position=seq, or both joined by '&'.
  window.location.hash.replace(/^#/, '').split('&').forEach(function (pair) {
    var parts = pair.split('=');
    var value = decodeURIComponent(parts[1] || '');
    if (parts[0] === 'position' && (value === 'seq' || value === 'lamport')) {
      document.querySelector('input[name=position][value=' + value + ']').checked = true;
      place(value);
    }
    if (parts[0] === 'click') { select(value); }
  });
  document.body.setAttribute('data-ready', 'yes');
})();
"#;
