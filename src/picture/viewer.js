// The space-time viewer of lamport-bank's HTML page (see src/picture/html.rs): draws on a
// canvas only what is in view, from the flat arrays of the embedded data.
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('history-data').textContent);
  var EF = 8, MF = 4;
  var N = D.events.length / EF, M = D.messages.length / MF, P = D.processes.length;
  var STEP = D.step, LABEL_W = 58, AXIS_H = 22, COMPACT = 0.5;
  var MARKS = ['receive', 'send', 'receive-send', 'local', 'rejected'];

  // ---- the run, as typed arrays ------------------------------------------------------------
  var lane = new Int32Array(N), seq = new Int32Array(N), lam = new Float64Array(N);
  var ex = new Float64Array(N), nm = new Int32Array(N), eid = new Float64Array(N);
  var note = new Int32Array(N), mark = new Int8Array(N);
  for (var i = 0; i < N; i++) {
    var o = i * EF, ev = D.events;
    lane[i] = ev[o]; seq[i] = ev[o + 1]; lam[i] = ev[o + 2]; ex[i] = ev[o + 3];
    nm[i] = ev[o + 4]; eid[i] = ev[o + 5]; note[i] = ev[o + 6]; mark[i] = ev[o + 7];
  }
  var mf = new Int32Array(M), mt = new Int32Array(M), mk = new Int8Array(M), mm = new Int8Array(M);
  for (var m = 0; m < M; m++) {
    var q = m * MF, ms = D.messages;
    mf[m] = ms[q]; mt[m] = ms[q + 1]; mk[m] = ms[q + 2]; mm[m] = ms[q + 3];
  }
  // Each lane's events by their number there (which is also the order of their x).
  var laneEvents = [];
  for (var p = 0; p < P; p++) { laneEvents.push([]); }
  for (i = 0; i < N; i++) { laneEvents[lane[i]].push(i); }
  laneEvents = laneEvents.map(function (list) {
    list.sort(function (a, b) { return seq[a] - seq[b]; });
    return Int32Array.from(list);
  });
  // The merging message each event received (its sender), and each event's sent messages.
  var mergedFrom = new Int32Array(N).fill(-1);
  var outStart = new Int32Array(N + 1), outList = new Int32Array(M);
  for (m = 0; m < M; m++) {
    if (mm[m]) { mergedFrom[mt[m]] = mf[m]; }
    outStart[mf[m] + 1]++;
  }
  for (i = 0; i < N; i++) { outStart[i + 1] += outStart[i]; }
  var filled = outStart.slice(0, N);
  for (m = 0; m < M; m++) { outList[filled[mf[m]]++] = m; }
  function label(e) { return D.processes[lane[e]] + '-' + seq[e]; }
  var byLabel = {};
  for (i = 0; i < N; i++) { byLabel[label(i)] = i; }
  var alert = {};
  D.alerts.forEach(function (n) { alert[n] = true; });
  var counts = laneEvents.map(function (list) { return list.length; });
  var mean = N / Math.max(1, P);

  // ---- what is shown: lanes, view, selection -----------------------------------------------
  var order = [];        // lanes shown, top to bottom
  var hidden = new Uint8Array(P);
  D.order.forEach(function (p) { order.push(p); });
  var weight = new Float64Array(P);   // a lane with little to show takes half the room
  function compact() {
    for (var p = 0; p < P; p++) { weight[p] = D.customers[p] && counts[p] < mean / 4 ? COMPACT : 1; }
  }
  compact();
  var view = { x: 0, y: 0, scale: 1, laneH: 52 };
  var selected = -1, reach = null, fut = null;
  var journey = false;
  var scene = null;      // { lanes: [Int32Array per lane], x: Float64Array, messages: Int32Array, width }
  var canvas = document.getElementById('diagram'), ctx = canvas.getContext('2d');
  var overview = document.getElementById('overview'), octx = overview.getContext('2d');
  var overviewImage = null;
  var W = 0, H = 0, OW = 0, OH = 48, dpr = 1;

  function laneTops() {
    var tops = new Float64Array(P).fill(NaN), y = 0;
    order.forEach(function (p) {
      if (hidden[p]) { return; }
      tops[p] = y; y += weight[p] * view.laneH;
    });
    return { tops: tops, total: y };
  }
  var layout = laneTops();
  function laneY(p) { return AXIS_H + layout.tops[p] + weight[p] * view.laneH / 2 - view.y; }
  function sx(x) { return LABEL_W + (x - view.x) * view.scale; }
  function worldX(screen) { return view.x + (screen - LABEL_W) / view.scale; }

  // ---- scenes: the whole run by Lamport clock, or one event's journey ----------------------
  function lamportScene() {
    var all = new Int32Array(M);
    for (var k = 0; k < M; k++) { all[k] = k; }
    return { lanes: laneEvents, x: ex, messages: all, width: D.width, buckets: buckets(ex, all) };
  }
  function journeyScene(e) {
    var x = new Float64Array(N).fill(NaN), lists = [], k = 0;
    for (var p = 0; p < P; p++) { lists.push([]); }
    // Events are in causal order: their rank is a place where every arrow goes forward.
    for (var i = 0; i < N; i++) {
      if (eid[i] === eid[e]) { x[i] = LABEL_W + 40 + k * STEP; lists[lane[i]].push(i); k++; }
    }
    var messages = [];
    for (var m = 0; m < M; m++) { if (!isNaN(x[mf[m]]) && !isNaN(x[mt[m]])) { messages.push(m); } }
    messages = Int32Array.from(messages);
    return { lanes: lists.map(function (l) { return Int32Array.from(l); }), x: x,
      messages: messages, width: LABEL_W + 80 + k * STEP, buckets: buckets(x, messages), journey: e };
  }
  // Messages by the stretches of x they span, so that a view finds its arrows quickly.
  var BUCKET = 1024;
  function buckets(x, messages) {
    var index = new Map(), long = [];
    for (var k = 0; k < messages.length; k++) {
      var m = messages[k], a = x[mf[m]], b = x[mt[m]];
      var b0 = Math.floor(Math.min(a, b) / BUCKET), b1 = Math.floor(Math.max(a, b) / BUCKET);
      if (b1 - b0 > 32) { long.push(m); continue; }
      for (var j = b0; j <= b1; j++) {
        var list = index.get(j);
        if (!list) { list = []; index.set(j, list); }
        list.push(m);
      }
    }
    return { index: index, long: long };
  }
  var stamp = new Int32Array(M), frame = 0;
  function visibleMessages(x0, x1) {
    var s = scene, found = [];
    frame++;
    var b0 = Math.floor(x0 / BUCKET), b1 = Math.floor(x1 / BUCKET);
    if (b1 - b0 > s.buckets.index.size) {
      return Array.from(s.messages);
    }
    for (var j = b0; j <= b1; j++) {
      var list = s.buckets.index.get(j);
      if (!list) { continue; }
      for (var k = 0; k < list.length; k++) {
        var m = list[k];
        if (stamp[m] !== frame) { stamp[m] = frame; found.push(m); }
      }
    }
    s.buckets.long.forEach(function (m) { if (stamp[m] !== frame) { stamp[m] = frame; found.push(m); } });
    return found;
  }

  // ---- causality: the chains of merging messages from the selected event ------------------
  function select(e) {
    selected = e;
    reach = new Int32Array(P); fut = new Int32Array(P);
    for (var p = 0; p < P; p++) { fut[p] = 2147483647; }
    var work = [];
    function raise(p, upTo) { if (upTo > reach[p]) { work.push(p, reach[p], upTo); reach[p] = upTo; } }
    raise(lane[e], seq[e] - 1);
    if (mergedFrom[e] >= 0) { raise(lane[mergedFrom[e]], seq[mergedFrom[e]]); }
    while (work.length) {
      var to = work.pop(), from = work.pop(), l = work.pop(), list = laneEvents[l];
      for (var k = from; k < to; k++) {
        var s = mergedFrom[list[k]];
        if (s >= 0) { raise(lane[s], seq[s]); }
      }
    }
    function lower(p, fromSeq) {
      if (fromSeq < fut[p]) {
        work.push(p, fromSeq, Math.min(fut[p], laneEvents[p].length + 1)); fut[p] = fromSeq;
      }
    }
    function sent(x) {
      for (var j = outStart[x]; j < outStart[x + 1]; j++) {
        var m = outList[j];
        if (mm[m]) { lower(lane[mt[m]], seq[mt[m]]); }
      }
    }
    lower(lane[e], seq[e] + 1);
    sent(e);
    while (work.length) {
      var end = work.pop(), start = work.pop(), q = work.pop(), events = laneEvents[q];
      for (var n = start; n < end; n++) { sent(events[n - 1]); }
    }
    showPanel();
  }
  // 0 selected, 1 past, 2 future, 3 concurrent; -1 when nothing is selected.
  function relation(e) {
    if (selected < 0) { return -1; }
    if (e === selected) { return 0; }
    if (seq[e] <= reach[lane[e]]) { return 1; }
    if (seq[e] >= fut[lane[e]]) { return 2; }
    return 3;
  }
  function clear() {
    selected = -1; reach = null; fut = null;
    if (journey) { setView('lamport'); }
    var panel = document.getElementById('panel');
    ['selected', 'past', 'future', 'concurrent'].forEach(function (k) { panel.setAttribute('data-' + k, ''); });
    document.getElementById('panel-title').textContent = 'No event selected';
    document.getElementById('panel-detail').textContent = 'Click an event in the diagram, or find one.';
    document.getElementById('panel-lists').textContent = '';
    draw();
  }

  // ---- the panel ---------------------------------------------------------------------------
  var LISTED = 200;
  function describe(e) {
    var text = label(e) + '  ' + D.names[nm[e]] + '  (event ' + eid[e] + ', L ' + lam[e] + ')';
    return note[e] >= 0 ? text + '  ' + D.notes[note[e]] : text;
  }
  function showPanel() {
    var e = selected, panel = document.getElementById('panel');
    var groups = [[], [], [], []];
    for (var i = 0; i < N; i++) { groups[relation(i)].push(i); }
    panel.setAttribute('data-selected', label(e));
    document.getElementById('panel-title').textContent = label(e) + ' ' + D.names[nm[e]];
    var vector = [];
    for (var p = 0; p < P; p++) {
      var v = p === lane[e] ? seq[e] : reach[p];
      if (v > 0) { vector.push(D.processes[p] + ':' + v); }
    }
    document.getElementById('panel-detail').textContent = 'event ' + eid[e] + ', Lamport clock ' +
      lam[e] + ', vector clock {' + vector.join(', ') + '}' +
      (note[e] >= 0 ? ', ' + D.notes[note[e]] : '');
    var lists = document.getElementById('panel-lists');
    lists.textContent = '';
    [[1, 'past', 'Causal past (happened before)'], [2, 'future', 'Causal future (happened after)'],
     [3, 'concurrent', 'Concurrent']].forEach(function (spec) {
      var members = groups[spec[0]];
      panel.setAttribute('data-' + spec[1], members.map(label).join(' '));
      var section = document.createElement('div');
      section.className = spec[1];
      var heading = document.createElement('h3');
      heading.textContent = spec[2] + ': ' + members.length;
      section.appendChild(heading);
      var list = document.createElement('ul');
      members.slice(0, LISTED).forEach(function (m) {
        var li = document.createElement('li'), button = document.createElement('button');
        button.type = 'button';
        button.textContent = describe(m);
        button.addEventListener('click', function () { select(m); reveal(m); });
        li.appendChild(button);
        list.appendChild(li);
      });
      if (members.length > LISTED) {
        var more = document.createElement('li');
        more.className = 'more';
        more.textContent = '… and ' + (members.length - LISTED) + ' more';
        list.appendChild(more);
      }
      section.appendChild(list);
      lists.appendChild(section);
    });
  }

  // ---- drawing -------------------------------------------------------------------------------
  var COLORS = { past: '#e11d48', future: '#0284c7', selected: '#f59e0b', ink: '#1f2937' };
  function size() {
    dpr = window.devicePixelRatio || 1;
    W = canvas.clientWidth; H = canvas.clientHeight; OW = overview.clientWidth;
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    overview.width = Math.round(OW * dpr); overview.height = Math.round(OH * dpr);
    overviewImage = null;
  }
  function lanesOnScreen() {
    return order.filter(function (p) {
      if (hidden[p]) { return false; }
      var y = laneY(p), h = weight[p] * view.laneH;
      return y + h / 2 >= AXIS_H && y - h / 2 <= H;
    });
  }
  function radius() { return Math.max(1.5, Math.min(D.radius, view.scale * STEP / 6, view.laneH / 3)); }
  function tickStep() {
    var want = 44 / (view.scale * STEP), nice = [1, 2, 5];
    for (var power = 1; ; power *= 10) {
      for (var k = 0; k < 3; k++) { if (nice[k] * power >= want) { return nice[k] * power; } }
    }
  }
  function draw() {
    if (!scene) { return; }
    layout = laneTops();
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    var x0 = worldX(LABEL_W), x1 = worldX(W), shown = lanesOnScreen(), r = radius();
    // Lane bands: customers and branches.
    shown.forEach(function (p) {
      var h = weight[p] * view.laneH;
      ctx.fillStyle = D.customers[p] ? '#eff6ff' : '#fff7ed';
      ctx.fillRect(LABEL_W, laneY(p) - h / 2, W - LABEL_W, h);
    });
    drawFaults(x0, x1);
    // The axis and the lanes.
    ctx.strokeStyle = '#e5e7eb'; ctx.fillStyle = '#6b7280'; ctx.font = '11px sans-serif';
    ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
    if (!journey) {
      var step = tickStep(), first = Math.max(0, Math.ceil(lamportAt(x0) / step) * step);
      for (var t = first; t < D.ticks.length; t += step) {
        var tx = sx(D.ticks[t]);
        if (tx > W) { break; }
        ctx.beginPath(); ctx.moveTo(tx, AXIS_H); ctx.lineTo(tx, H); ctx.stroke();
        ctx.fillText(String(t), tx, AXIS_H / 2);
      }
    } else {
      ctx.textAlign = 'left';
      ctx.fillText('the journey of event ' + eid[scene.journey] + ', in causal order', LABEL_W + 8, AXIS_H / 2);
    }
    ctx.strokeStyle = '#9ca3af'; ctx.lineWidth = 1;
    shown.forEach(function (p) {
      var y = laneY(p);
      ctx.beginPath(); ctx.moveTo(LABEL_W, y); ctx.lineTo(W, y); ctx.stroke();
    });
    drawMessages(x0, x1, r);
    var drawn = drawEvents(x0, x1, shown, r);
    // Lane names stay in view.
    ctx.fillStyle = '#ffffff'; ctx.fillRect(0, 0, LABEL_W, H);
    ctx.strokeStyle = '#e5e7eb'; ctx.beginPath(); ctx.moveTo(LABEL_W, 0); ctx.lineTo(LABEL_W, H); ctx.stroke();
    ctx.textAlign = 'right'; ctx.fillStyle = '#111827';
    ctx.font = (view.laneH * 0.5 < 11 ? Math.max(8, Math.floor(view.laneH * 0.7)) : 12) + 'px sans-serif';
    ctx.font = 'bold ' + ctx.font;
    shown.forEach(function (p) {
      if (weight[p] * view.laneH >= 7) { ctx.fillText(D.processes[p], LABEL_W - 8, laneY(p)); }
    });
    canvas.setAttribute('data-view', Math.round(x0) + ' ' + Math.round(x1));
    canvas.setAttribute('data-lanes', shown.map(function (p) { return D.processes[p]; }).join(' '));
    canvas.setAttribute('data-drawn', drawn);
    drawOverview();
  }
  function lamportAt(x) {
    // The Lamport value whose tick is at or before world x.
    var lo = 0, hi = D.ticks.length - 1;
    if (hi < 0 || x <= D.ticks[0]) { return 0; }
    while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (D.ticks[mid] <= x) { lo = mid; } else { hi = mid - 1; } }
    return lo;
  }
  function firstAtOrAfter(list, x, value) {
    var lo = 0, hi = list.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (x[list[mid]] < value) { lo = mid + 1; } else { hi = mid; } }
    return lo;
  }
  function drawEvents(x0, x1, shown, r) {
    var x = scene.x, drawn = 0, pad = r + 2;
    var labels = r >= 4 && view.laneH >= 24;
    ctx.font = '10px sans-serif'; ctx.textAlign = 'center'; ctx.textBaseline = 'alphabetic';
    shown.forEach(function (p) {
      var list = scene.lanes[p], y = laneY(p), lastLabel = -Infinity, lastNote = -Infinity;
      for (var k = firstAtOrAfter(list, x, x0 - pad / view.scale); k < list.length; k++) {
        var e = list[k], px = sx(x[e]);
        if (px > W + pad) { break; }
        var rel = relation(e);
        ctx.globalAlpha = rel === 3 ? 0.22 : 1;
        drawMark(e, px, y, r, rel);
        drawn++;
        if (labels && px - lastLabel > 22) {
          ctx.fillStyle = '#111827';
          ctx.fillText(String(lam[e]), px, y - r - 4);
          lastLabel = px;
        }
        if (labels && note[e] >= 0 && view.laneH * weight[p] >= 34) {
          var text = D.notes[note[e]], width = text.length * 6 + 8;
          if (px - lastNote > width) {
            ctx.fillStyle = alert[note[e]] ? '#dc2626' : '#4b5563';
            ctx.fillText(text, px, y + r + 12);
            lastNote = px;
          }
        }
      }
    });
    ctx.globalAlpha = 1;
    return drawn;
  }
  function drawMark(e, x, y, r, rel) {
    var ring = rel === 0 ? COLORS.selected : rel === 1 ? COLORS.past : rel === 2 ? COLORS.future : COLORS.ink;
    var inkColor = rel === 1 ? COLORS.past : rel === 2 ? COLORS.future : COLORS.ink;
    ctx.lineWidth = rel === 0 ? 4 : rel === 1 || rel === 2 ? 2.5 : 1.6;
    ctx.strokeStyle = ring;
    if (r < 2.5) {
      ctx.fillStyle = ring; ctx.fillRect(x - r, y - r, 2 * r, 2 * r); return;
    }
    var kind = mark[e];
    if (kind >= 3) {
      ctx.fillStyle = inkColor; ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
      ctx.strokeRect(x - r, y - r, 2 * r, 2 * r);
      if (kind === 4) {
        ctx.strokeStyle = '#dc2626'; ctx.lineWidth = 2; ctx.beginPath();
        ctx.moveTo(x - r - 2, y - r - 2); ctx.lineTo(x + r + 2, y + r + 2);
        ctx.moveTo(x + r + 2, y - r - 2); ctx.lineTo(x - r - 2, y + r + 2); ctx.stroke();
      }
      return;
    }
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = kind === 1 ? inkColor : '#ffffff'; ctx.fill();
    if (kind === 2) {
      ctx.beginPath(); ctx.moveTo(x, y - r); ctx.arc(x, y, r, -Math.PI / 2, Math.PI / 2); ctx.closePath();
      ctx.fillStyle = inkColor; ctx.fill();
      ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
    }
    ctx.stroke();
  }
  var DENSE = 2500;
  function drawMessages(x0, x1, r) {
    var x = scene.x, list = visibleMessages(x0, x1), top = AXIS_H, bottom = H;
    var onScreen = list.filter(function (m) {
      var a = mf[m], b = mt[m];
      if (hidden[lane[a]] || hidden[lane[b]]) { return false; }
      var ya = laneY(lane[a]), yb = laneY(lane[b]);
      return Math.max(ya, yb) >= top && Math.min(ya, yb) <= bottom &&
        Math.max(x[a], x[b]) >= x0 && Math.min(x[a], x[b]) <= x1;
    });
    var dense = !journey && (onScreen.length > DENSE || view.scale * STEP < 8);
    var single = onScreen;
    if (dense) {
      // A sender's fan-out, and the replies gathered into one lane for one event, as bundles;
      // the selected event's own messages stay drawn one by one.
      var fans = new Map(), gathered = new Map();
      onScreen.forEach(function (m) {
        if (selected >= 0 && eid[mf[m]] === eid[selected]) { return; }
        var key = mf[m], list = fans.get(key);
        if (!list) { list = []; fans.set(key, list); }
        list.push(m);
      });
      single = [];
      var rest = [];
      onScreen.forEach(function (m) {
        if (selected >= 0 && eid[mf[m]] === eid[selected]) { single.push(m); return; }
        if (fans.get(mf[m]).length >= 3) { return; }
        var key = lane[mt[m]] + ':' + eid[mt[m]] + ':' + mk[m], list = gathered.get(key);
        if (!list) { list = []; gathered.set(key, list); }
        list.push(m); rest.push(m);
      });
      fans.forEach(function (list, sender) {
        if (list.length < 3) { return; }
        var ys = list.map(function (m) { return laneY(lane[mt[m]]); });
        var xs = list.map(function (m) { return sx(x[mt[m]]); });
        bundle(mk[list[0]], [[sx(x[sender]), laneY(lane[sender])]],
          [[Math.min.apply(null, xs), Math.min.apply(null, ys)], [Math.max.apply(null, xs), Math.max.apply(null, ys)]]);
      });
      gathered.forEach(function (list) {
        if (list.length < 3) { list.forEach(function (m) { single.push(m); }); return; }
        var ys = list.map(function (m) { return laneY(lane[mf[m]]); });
        var xs = list.map(function (m) { return sx(x[mf[m]]); });
        var rx = list.map(function (m) { return sx(x[mt[m]]); });
        var ry = laneY(lane[mt[list[0]]]);
        bundle(mk[list[0]], [[Math.min.apply(null, xs), Math.min.apply(null, ys)], [Math.max.apply(null, xs), Math.max.apply(null, ys)]],
          [[Math.min.apply(null, rx), ry], [Math.max.apply(null, rx), ry]]);
      });
    }
    ctx.lineWidth = dense ? 0.8 : 1.4;
    single.forEach(function (m) {
      var a = mf[m], b = mt[m];
      var ra = relation(a), rb = relation(b);
      var color = D.kinds[mk[m]].color, alpha = 1;
      if (selected >= 0) {
        var back = (ra === 0 || ra === 1) && (rb === 0 || rb === 1);
        var ahead = (ra === 0 || ra === 2) && (rb === 0 || rb === 2);
        if (back) { color = COLORS.past; } else if (ahead) { color = COLORS.future; } else { alpha = 0.12; }
      } else if (dense) {
        alpha = 0.35;
      }
      arrow(sx(x[a]), laneY(lane[a]), sx(x[b]), laneY(lane[b]), color, alpha, !mm[m], r);
    });
  }
  function bundle(kind, from, to) {
    ctx.globalAlpha = selected >= 0 ? 0.06 : 0.14;
    ctx.fillStyle = D.kinds[kind].color;
    ctx.beginPath();
    ctx.moveTo(from[0][0], from[0][1]);
    if (from.length > 1) { ctx.lineTo(from[1][0], from[1][1]); }
    ctx.lineTo(to[1][0], to[1][1]); ctx.lineTo(to[0][0], to[0][1]);
    ctx.closePath(); ctx.fill();
    ctx.globalAlpha = 1;
  }
  function arrow(x1, y1, x2, y2, color, alpha, dotted, r) {
    var dx = x2 - x1, dy = y2 - y1, length = Math.sqrt(dx * dx + dy * dy);
    if (length < 1) { return; }
    var ux = dx / length, uy = dy / length;
    x1 += ux * (r + 1); y1 += uy * (r + 1); x2 -= ux * (r + 2); y2 -= uy * (r + 2);
    ctx.globalAlpha = alpha; ctx.strokeStyle = color; ctx.fillStyle = color;
    ctx.setLineDash(dotted ? [3, 3] : []);
    ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x2, y2); ctx.stroke();
    ctx.setLineDash([]);
    if (length > 4 * r) {
      var head = Math.min(8, 0.3 * length);
      ctx.beginPath(); ctx.moveTo(x2, y2);
      ctx.lineTo(x2 - ux * head - uy * head * 0.45, y2 - uy * head + ux * head * 0.45);
      ctx.lineTo(x2 - ux * head + uy * head * 0.45, y2 - uy * head - ux * head * 0.45);
      ctx.closePath(); ctx.fill();
    }
    ctx.globalAlpha = 1;
  }
  function drawFaults(x0, x1) {
    if (journey) { return; }
    D.bands.forEach(function (band) {
      if (band.x[1] < x0 || band.x[0] > x1) { return; }
      ctx.fillStyle = band.kind === 'pause' ? 'rgba(156,163,175,.25)' : band.kind === 'hold' ? 'rgba(252,211,77,.3)' : 'rgba(252,165,165,.3)';
      band.lanes.forEach(function (p) {
        if (hidden[p]) { return; }
        var h = weight[p] * view.laneH;
        ctx.fillRect(sx(band.x[0]), laneY(p) - h / 2, Math.max(2, (band.x[1] - band.x[0]) * view.scale), h);
      });
    });
    ctx.strokeStyle = '#dc2626'; ctx.fillStyle = '#dc2626'; ctx.lineWidth = 2.5;
    D.crashes.forEach(function (crash) {
      if (crash.lane < 0 || hidden[crash.lane] || crash.x < x0 || crash.x > x1) { return; }
      var x = sx(crash.x), y = laneY(crash.lane), h = Math.min(14, view.laneH * 0.4);
      ctx.beginPath(); ctx.moveTo(x - 3, y - h); ctx.lineTo(x + 3, y - h / 3); ctx.lineTo(x - 3, y + h / 3); ctx.lineTo(x + 3, y + h); ctx.stroke();
    });
    ctx.lineWidth = 1.6;
    D.lost.forEach(function (lost) {
      var a = lost.from, b = lost.to;
      if (a[1] < 0 || b[1] < 0 || hidden[a[1]] || hidden[b[1]] || Math.max(a[0], b[0]) < x0 || Math.min(a[0], b[0]) > x1) { return; }
      var xa = sx(a[0]), ya = laneY(a[1]), xb = sx(b[0]), yb = laneY(b[1]);
      ctx.setLineDash([6, 4]); ctx.beginPath(); ctx.moveTo(xa, ya); ctx.lineTo(xb, yb); ctx.stroke(); ctx.setLineDash([]);
      ctx.beginPath(); ctx.moveTo(xb - 4, yb - 4); ctx.lineTo(xb + 4, yb + 4); ctx.moveTo(xb + 4, yb - 4); ctx.lineTo(xb - 4, yb + 4); ctx.stroke();
      if (lost.attempts > 1) { ctx.font = 'bold 10px sans-serif'; ctx.fillText('×' + lost.attempts, xb + 10, yb - 6); }
    });
  }
  // The whole run in one strip: a point per event, the view as a frame.
  function drawOverview() {
    var width = Math.max(1, scene.width), rows = order.filter(function (p) { return !hidden[p]; });
    if (!overviewImage) {
      var image = document.createElement('canvas');
      image.width = overview.width; image.height = overview.height;
      var g = image.getContext('2d'), row = {};
      rows.forEach(function (p, k) { row[p] = k; });
      var rowH = image.height / Math.max(1, rows.length);
      g.fillStyle = '#ffffff'; g.fillRect(0, 0, image.width, image.height);
      for (var p = 0; p < P; p++) {
        if (hidden[p]) { continue; }
        g.fillStyle = D.customers[p] ? '#2563eb' : '#ea580c';
        var list = scene.lanes[p], y = Math.floor(row[p] * rowH), h = Math.max(1, Math.floor(rowH));
        for (var k = 0; k < list.length; k++) {
          g.fillRect(Math.floor(scene.x[list[k]] / width * image.width), y, 1, h);
        }
      }
      overviewImage = image;
    }
    octx.setTransform(1, 0, 0, 1, 0, 0);
    octx.drawImage(overviewImage, 0, 0);
    octx.setTransform(dpr, 0, 0, dpr, 0, 0);
    var a = worldX(LABEL_W) / width * OW, b = worldX(W) / width * OW;
    var total = Math.max(1, layout.total), top = view.y / total * OH, bottom = (view.y + H - AXIS_H) / total * OH;
    octx.strokeStyle = '#111827'; octx.lineWidth = 2;
    octx.strokeRect(Math.max(1, a), Math.max(1, top), Math.max(3, Math.min(OW - 2, b) - Math.max(1, a)), Math.max(3, Math.min(OH - 2, bottom) - Math.max(1, top)));
  }
  var pending = false;
  function schedule() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; draw(); });
  }

  // ---- moving about --------------------------------------------------------------------------
  function clampView() {
    var plot = Math.max(1, W - LABEL_W), span = plot / view.scale;
    var maxX = Math.max(0, scene.width - span * 0.5);
    view.x = Math.min(Math.max(view.x, -span * 0.5), maxX);
    var total = laneTops().total;
    view.y = Math.min(Math.max(view.y, 0), Math.max(0, total - (H - AXIS_H) * 0.5));
  }
  function fit() {
    var visible = order.filter(function (p) { return !hidden[p]; });
    var weights = visible.reduce(function (sum, p) { return sum + weight[p]; }, 0);
    view.laneH = Math.max(6, Math.min(52, (H - AXIS_H - 6) / Math.max(1, weights)));
    view.scale = Math.max(1e-4, (W - LABEL_W - 20) / Math.max(1, scene.width));
    view.x = 0; view.y = 0;
    overviewImage = null;
    draw();
  }
  function zoom(factor, atScreenX) {
    var anchor = worldX(atScreenX);
    view.scale = Math.max(1e-4, Math.min(8, view.scale * factor));
    view.x = anchor - (atScreenX - LABEL_W) / view.scale;
    clampView(); schedule();
  }
  // Brings event e into the middle of the view, zoomed in enough to read it.
  function reveal(e) {
    if (isNaN(scene.x[e])) { return; }
    if (view.scale * STEP < 24) { view.scale = 24 / STEP; }
    if (view.laneH < 24) { view.laneH = 24; overviewImage = null; }
    if (hidden[lane[e]]) { hidden[lane[e]] = 0; overviewImage = null; laneList(); }
    layout = laneTops();
    view.x = scene.x[e] - (W - LABEL_W) / view.scale / 2;
    view.y = layout.tops[lane[e]] - (H - AXIS_H) / 2;
    clampView(); draw();
  }
  function hit(mx, my) {
    var best = -1, bestD = Math.max(radius() + 4, 7);
    lanesOnScreen().forEach(function (p) {
      var y = laneY(p);
      if (Math.abs(my - y) > bestD) { return; }
      var list = scene.lanes[p], wx = worldX(mx), k = firstAtOrAfter(list, scene.x, wx);
      [k - 1, k].forEach(function (j) {
        if (j < 0 || j >= list.length) { return; }
        var d = Math.hypot(sx(scene.x[list[j]]) - mx, y - my);
        if (d < bestD) { best = list[j]; bestD = d; }
      });
    });
    return best;
  }
  var drag = null;
  canvas.addEventListener('mousedown', function (event) {
    drag = { x: event.clientX, y: event.clientY, vx: view.x, vy: view.y, moved: false };
    canvas.classList.add('dragging');
  });
  window.addEventListener('mousemove', function (event) {
    var box = canvas.getBoundingClientRect(), tip = document.getElementById('tip');
    if (drag) {
      var dx = event.clientX - drag.x, dy = event.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; }
      view.x = drag.vx - dx / view.scale; view.y = drag.vy - dy;
      clampView(); schedule(); tip.hidden = true; return;
    }
    var mx = event.clientX - box.left, my = event.clientY - box.top;
    var e = mx >= 0 && my >= 0 && mx <= W && my <= H ? hit(mx, my) : -1;
    if (e < 0) { tip.hidden = true; return; }
    tip.textContent = describe(e);
    tip.style.left = (mx + 14) + 'px'; tip.style.top = (my + 60) + 'px'; tip.hidden = false;
  });
  window.addEventListener('mouseup', function (event) {
    if (!drag) { return; }
    var moved = drag.moved;
    drag = null; canvas.classList.remove('dragging');
    if (moved) { return; }
    var box = canvas.getBoundingClientRect(), e = hit(event.clientX - box.left, event.clientY - box.top);
    if (e >= 0) { select(e); if (journey) { setView('journey'); } draw(); }
  });
  canvas.addEventListener('wheel', function (event) {
    event.preventDefault();
    if (event.shiftKey) { view.y += event.deltaY; clampView(); schedule(); return; }
    var box = canvas.getBoundingClientRect();
    zoom(Math.exp(-event.deltaY * 0.0015), event.clientX - box.left);
  }, { passive: false });
  window.addEventListener('keydown', function (event) {
    if (event.target && event.target.tagName === 'INPUT') { return; }
    var panX = (W - LABEL_W) / view.scale / 5;
    var keys = {
      '+': function () { zoom(1.5, (W + LABEL_W) / 2); }, '=': function () { zoom(1.5, (W + LABEL_W) / 2); },
      '-': function () { zoom(1 / 1.5, (W + LABEL_W) / 2); }, 'f': fit,
      'ArrowLeft': function () { view.x -= panX; clampView(); schedule(); },
      'ArrowRight': function () { view.x += panX; clampView(); schedule(); },
      'ArrowUp': function () { view.y -= view.laneH * 2; clampView(); schedule(); },
      'ArrowDown': function () { view.y += view.laneH * 2; clampView(); schedule(); },
      'Escape': clear
    };
    if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
  });
  function jump(event) {
    var box = overview.getBoundingClientRect();
    var fx = (event.clientX - box.left) / OW, fy = (event.clientY - box.top) / OH;
    view.x = fx * scene.width - (W - LABEL_W) / view.scale / 2;
    view.y = fy * layout.total - (H - AXIS_H) / 2;
    clampView(); schedule();
  }
  overview.addEventListener('click', jump);
  window.addEventListener('resize', function () { size(); clampView(); draw(); });

  // ---- views, find, lanes --------------------------------------------------------------------
  function setView(name) {
    var wanted = name === 'journey' && selected >= 0;
    document.querySelector('input[name=view][value=' + (wanted ? 'journey' : 'lamport') + ']').checked = true;
    if (wanted === journey && (!wanted || scene.journey === selected)) { return; }
    journey = wanted;
    scene = journey ? journeyScene(selected) : lamportScene();
    overviewImage = null;
    if (journey) {
      // A journey has few events on each lane: each gets its full room.
      weight.fill(1);
      view.scale = 1; view.x = 0;
      order.forEach(function (p) { hidden[p] = scene.lanes[p].length ? 0 : 1; });
      laneList(); fit();
      if (view.scale > 1) { view.scale = 1; }
      draw();
    } else {
      compact();
      for (var p = 0; p < P; p++) { hidden[p] = 0; }
      laneList(); fit();
      if (selected >= 0) { reveal(selected); }
    }
  }
  function find(text) {
    var query = text.trim(), found = document.getElementById('found'), e = -1, match;
    if (!query) { found.textContent = ''; return -1; }
    if ((match = /^([BC]\d+)\s*[-#\s]\s*#?(\d+)$/i.exec(query))) {
      var named = byLabel[match[1].toUpperCase() + '-' + Number(match[2])];
      e = named === undefined ? -1 : named;
    } else if ((match = /^(?:l|lamport)\s*=?\s*(\d+)$/i.exec(query))) {
      var value = Number(match[1]);
      for (var i = 0; i < N; i++) { if (lam[i] >= value && (e < 0 || lam[i] < lam[e])) { e = i; } }
    } else if ((match = /^(?:e|event|id)?\s*#?\s*(\d+)$/i.exec(query))) {
      var id = Number(match[1]);
      for (var j = 0; j < N; j++) { if (eid[j] === id) { e = j; break; } }
    }
    if (e < 0) { found.textContent = 'no such event'; return -1; }
    found.textContent = 'found ' + label(e);
    select(e);
    if (journey) { setView('journey'); } else { reveal(e); }
    return e;
  }
  function laneList() {
    var list = document.getElementById('lane-list');
    list.textContent = '';
    order.forEach(function (p, k) {
      var li = document.createElement('li'), box = document.createElement('input');
      box.type = 'checkbox'; box.checked = !hidden[p];
      box.addEventListener('change', function () { hidden[p] = box.checked ? 0 : 1; overviewImage = null; clampView(); draw(); });
      var name = document.createElement('label');
      name.appendChild(box); name.appendChild(document.createTextNode(' ' + D.processes[p] + ' (' + counts[p] + ') '));
      li.appendChild(name);
      [['▲', -1], ['▼', 1]].forEach(function (move) {
        var button = document.createElement('button');
        button.type = 'button'; button.textContent = move[0];
        button.addEventListener('click', function () {
          var to = k + move[1];
          if (to < 0 || to >= order.length) { return; }
          order[k] = order[to]; order[to] = p; overviewImage = null; laneList(); draw();
        });
        li.appendChild(button);
      });
      list.appendChild(li);
    });
  }
  function only(which) {
    var names = which.split(/[\s,]+/).filter(function (s) { return s; }).map(function (s) { return s.toUpperCase(); });
    for (var p = 0; p < P; p++) {
      var show = which === 'all' || (which === 'branches' && !D.customers[p]) ||
        (which === 'customers' && D.customers[p]) || names.indexOf(D.processes[p]) >= 0;
      hidden[p] = show ? 0 : 1;
    }
    overviewImage = null; laneList(); fit();
  }
  document.getElementById('fit').addEventListener('click', fit);
  document.getElementById('zoom-in').addEventListener('click', function () { zoom(1.5, (W + LABEL_W) / 2); });
  document.getElementById('zoom-out').addEventListener('click', function () { zoom(1 / 1.5, (W + LABEL_W) / 2); });
  document.getElementById('clear').addEventListener('click', clear);
  var findBox = document.getElementById('find');
  findBox.addEventListener('keydown', function (event) { if (event.key === 'Enter') { find(findBox.value); } });
  findBox.addEventListener('search', function () { find(findBox.value); });
  Array.prototype.forEach.call(document.querySelectorAll('input[name=view]'), function (input) {
    input.addEventListener('change', function () { setView(input.value); });
  });
  var lanesButton = document.getElementById('lanes-button'), lanesPanel = document.getElementById('lanes-panel');
  lanesButton.addEventListener('click', function () {
    lanesPanel.hidden = !lanesPanel.hidden;
    lanesButton.setAttribute('aria-expanded', String(!lanesPanel.hidden));
    size(); draw();
  });
  Array.prototype.forEach.call(document.querySelectorAll('[data-only]'), function (button) {
    button.addEventListener('click', function () { only(button.getAttribute('data-only')); });
  });
  var onlyBox = document.getElementById('only');
  onlyBox.addEventListener('change', function () { only(onlyBox.value); });

  // ---- start ---------------------------------------------------------------------------------
  size();
  scene = lamportScene();
  laneList();
  fit();
  // A small run opens at its natural size; a large one fitted, to see it all.
  if (view.scale > 1) { view.scale = 1; view.laneH = Math.min(view.laneH, 52); draw(); }
  // Hooks for tests and links: #lanes=branches, #click=B2-3, #find=event 7, #view=journey.
  var hooks = {};
  window.location.hash.replace(/^#/, '').split('&').forEach(function (pair) {
    var parts = pair.split('=');
    if (parts[0]) { hooks[parts[0]] = decodeURIComponent(parts[1] || ''); }
  });
  if (hooks.lanes) { only(hooks.lanes); }
  if (hooks.click && byLabel[hooks.click] !== undefined) { select(byLabel[hooks.click]); draw(); }
  if (hooks.find) { findBox.value = hooks.find; find(hooks.find); }
  if (hooks.view) { setView(hooks.view); }
  document.body.setAttribute('data-ready-ms', String(Date.now() - window.pageStart));
  document.body.setAttribute('data-ready', 'yes');
})();
