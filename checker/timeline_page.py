"""The history timeline's page: styles and script inline, no network. `{{TITLE}}` is replaced
by the HTML-escaped title, `{{DATA}}` by the history as script-safe JSON (`checker.timeline`,
filled by `checker.viewer.fill`)."""

from checker.viewer_page import BASE_STYLE

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}} — deepdives history timeline</title>
""" + BASE_STYLE + r""".verdict-violated{color:#b71c1c;font-weight:600}
.verdict-ok{color:#2e7d32;font-weight:600}
.verdict-unknown{color:#8a6d00;font-weight:600}
details pre{white-space:pre-wrap;word-break:break-word;margin:4px 0 0;font-size:12.5px;
 max-height:30vh;overflow:auto}
.controls{display:flex;gap:10px;align-items:center;padding:6px 14px;background:#fff;
 border-bottom:1px solid #d8dce3;flex-wrap:wrap}
button{font:inherit;padding:2px 10px;border:1px solid #aab;border-radius:4px;background:#fff;
 cursor:pointer}
button:hover{background:#eef}
#where{font-variant-numeric:tabular-nums;color:#445}
main{flex:1;display:flex;min-height:0}
#chart{flex:3;display:grid;grid-template-columns:130px 1fr;grid-template-rows:24px 1fr;
 min-width:0;border-right:1px solid #d8dce3;background:#fff}
#corner{font-size:11px;color:#667;padding:5px 6px;border-bottom:1px solid #d8dce3;
 border-right:1px solid #d8dce3}
#axis{position:relative;overflow:hidden;border-bottom:1px solid #d8dce3}
.tick{position:absolute;top:0;height:24px;border-left:1px solid #c9ced8;padding-left:3px;
 font-size:11px;color:#667;white-space:nowrap}
#names{position:relative;overflow:hidden;border-right:1px solid #d8dce3}
.name{position:absolute;left:0;right:0;padding:0 6px;font-size:12px;font-weight:600;
 white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
#scroll{overflow:auto;position:relative}
#spacer{position:relative}
.stripe{position:absolute;left:0;right:0;background:#f7f8fb}
.bar{position:absolute;z-index:1;height:20px;border:1px solid #3a5fcd;border-radius:3px;
 background:#dfe7fb;font-size:11.5px;line-height:18px;padding:0 3px;white-space:nowrap;
 overflow:hidden;text-overflow:ellipsis;cursor:pointer;color:#1d2330}
.bar:hover{box-shadow:0 0 0 2px #9fb4ef}
.bar.fail{border-color:#999;color:#666;
 background:repeating-linear-gradient(45deg,#eee,#eee 4px,#fff 4px,#fff 8px)}
.bar.info{z-index:0;border-style:dashed;border-right:none;border-radius:3px 0 0 3px;
 background:linear-gradient(90deg,#fff1d6 60%,rgba(255,241,214,0))}
.tail{position:absolute;height:0;border-top:2px dotted #d9a23b;pointer-events:none}
.bar.nostart{border-left-style:dashed}
.bar.linearized{background:#d6f0dc;border-color:#2e7d32}
.bar.info.linearized{background:linear-gradient(90deg,#d6f0dc,rgba(214,240,220,0))}
.bar.pending{opacity:.6}
.bar.stuck{z-index:2;background:#ffd6d6;border:2px solid #c62828;font-weight:600}
.bar.named{border:2px solid #c62828}
.bar.in-anomaly{background:#ffe7c2;border:2px solid #e07b00;font-weight:600}
.bar.sel{z-index:2;box-shadow:0 0 0 3px #1d2330}
.lp{position:absolute;height:20px;min-width:16px;margin-left:-8px;padding:0 3px;
 border-radius:10px;background:#2e7d32;color:#fff;font-size:10px;line-height:20px;
 text-align:center;pointer-events:none;z-index:3}
.lp{opacity:.5}
.lp.focus{opacity:1;background:#1b5e20;box-shadow:0 0 0 2px #fff}
#links{position:absolute;left:0;top:0;pointer-events:none;z-index:4;overflow:visible}
#inspector{flex:1;overflow:auto;padding:10px 14px;min-width:300px;max-width:520px}
h2{font-size:14px;margin:14px 0 6px;color:#334}
.box{font-family:ui-monospace,monospace;font-size:12.5px;white-space:pre-wrap;
 word-break:break-word;background:#fff;border:1px solid #d8dce3;padding:6px 8px;
 border-radius:4px}
.none{color:#889;font-style:italic;font-family:system-ui,sans-serif}
.anomaly{display:block;width:100%;text-align:left;margin:0 0 6px;padding:4px 8px}
.anomaly.sel{background:#ffe7c2;border-color:#e07b00}
.anomaly small{display:block;color:#556;white-space:normal}
#tip{position:fixed;display:none;max-width:440px;background:#1d2330;color:#fff;
 font-size:12px;padding:6px 8px;border-radius:4px;pointer-events:none;z-index:10;
 white-space:pre-wrap;word-break:break-word}
.legend{font-size:12px;color:#556}
.legend span{display:inline-block;margin-right:8px}
.legend .bar{position:static;display:inline-block;width:18px;height:10px;padding:0;
 vertical-align:middle;margin-right:3px;cursor:default}
kbd{border:1px solid #aab;border-radius:3px;padding:0 4px;font-size:12px;background:#fff}
</style></head>
<body>
<header><h1 id="title"></h1><div class="sub" id="subtitle"></div>
<details id="explanation"><summary>The checker's explanation</summary><pre></pre></details>
</header>
<div class="controls">
 <button id="zoom-out" title="zoom out (-)">&minus;</button>
 <button id="zoom-in" title="zoom in (+)">+</button>
 <button id="fit" title="the whole history in view">fit</button>
 <button id="prev" title="previous op in the order (Left arrow)">&larr;</button>
 <button id="next" title="next op in the order (Right arrow)">&rarr;</button>
 <button id="to-problem">go to the violation</button>
 <span id="where"></span>
 <span class="legend" id="legend"></span>
</div>
<main>
 <section id="chart">
  <div id="corner">process \ event #</div><div id="axis"></div>
  <div id="names"></div>
  <div id="scroll"><div id="spacer"><svg id="links"></svg></div></div>
 </section>
 <section id="inspector">
  <h2>Operation</h2><div class="box" id="op-text"><span class="none">hover or click a
  bar</span></div>
  <h2 id="state-head">Model state after it</h2><div class="box" id="op-state"></div>
  <h2 id="anomalies-head">Anomalies</h2><div id="anomalies"></div>
 </section>
</main>
<div id="tip"></div>
<script type="application/json" id="history-data">{{DATA}}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("history-data").textContent);
const V = D.verdict;
const LANE = 30, PAD = 24, TOP = 40, MIN_TEXT = 12, MIN_MARK = 2, SVGNS = "http://www.w3.org/2000/svg";
const EDGE_COLORS = {ww: "#6a1b9a", wr: "#1565c0", rw: "#c62828", process: "#455a64",
  realtime: "#00838f"};
const $ = id => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
// ops: [id, lane, call, ret, status, label, call time, return time]
const ops = D.ops.map(r => ({id: r[0], lane: r[1], call: r[2], ret: r[3], status: r[4],
  label: r[5], callTime: r[6], retTime: r[7]}));
const byId = new Map(ops.map(op => [op.id, op]));
const start = op => op.call === null ? op.ret - 1 : op.call;  // completion-only: a short bar
const finish = op => op.ret === null ? D.end : op.ret;
const named = new Set(D.named);

// the orders found: each op's partition, place and the point where it takes effect
const placed = new Map(), stuck = new Map(), partOf = new Map();
D.partitions.forEach((part, p) => {
  let t = -Infinity;
  part.order.forEach((id, k) => {
    const op = byId.get(id);
    t = Math.max(t, start(op) + 0.5);
    placed.set(id, {p, k, t, state: part.states[k]});
    partOf.set(id, p);
  });
  part.points = part.order.map(id => placed.get(id).t);
  for (const [id, why] of part.stuck) { stuck.set(id, why); partOf.set(id, p); }
});
const violatedPart = D.partitions.findIndex(part => part.status === "violated");
let focusPart = violatedPart >= 0 ? violatedPart : (D.partitions.length ? 0 : -1);
let anomaly = D.anomalies.length ? 0 : -1, inAnomaly = new Set();

// lanes: each lane's closed ops by start, its open-ended (info) ops apart
const lanes = D.processes.map(() => ({closed: [], open: [], span: 1}));
for (const op of ops) {
  const lane = lanes[op.lane];
  if (op.ret === null) lane.open.push(op);
  else { lane.closed.push(op); lane.span = Math.max(lane.span, finish(op) - start(op)); }
}
for (const lane of lanes) lane.closed.sort((a, b) => start(a) - start(b));

let scale = 1, selected = null, drawn = new Map();
const x = pos => PAD + pos * scale;
const laneY = lane => TOP + lane * LANE;
function fitScale() { return Math.max(1e-4, ($("scroll").clientWidth - 2 * PAD) / D.end); }
function setScale(s, keepPos) {
  const scroll = $("scroll");
  const at = keepPos !== undefined ? keepPos
    : (scroll.scrollLeft + scroll.clientWidth / 2 - PAD) / scale;
  scale = Math.min(200, Math.max(fitScale(), s));
  $("links").style.left = $("links").style.top = "0px";  // not to hold the old width open
  $("spacer").style.width = Math.ceil(x(D.end) + PAD) + "px";
  $("spacer").style.height = laneY(D.processes.length) + TOP + "px";
  scroll.scrollLeft = x(at) - scroll.clientWidth / 2;
  redraw(true);
}
function visibleOps(left, right, top, bottom) {  // positions and lanes in view, with margins
  const found = [];
  for (let l = Math.max(0, top); l <= Math.min(lanes.length - 1, bottom); l++) {
    const lane = lanes[l], closed = lane.closed;
    for (let i = firstFrom(closed, left - lane.span);
         i < closed.length && start(closed[i]) <= right; i++)
      if (finish(closed[i]) >= left) found.push(closed[i]);
    for (const op of lane.open) if (start(op) <= right) found.push(op);
  }
  return found;
}
function firstFrom(closed, pos) {  // the index of the first op starting at pos or later
  let lo = 0, hi = closed.length;
  while (lo < hi) { const mid = (lo + hi) >> 1;
    if (start(closed[mid]) < pos) lo = mid + 1; else hi = mid; }
  return lo;
}
function view() {  // read once per drawing: reading geometry after a change forces layout
  const scroll = $("scroll"), w = scroll.clientWidth, h = scroll.clientHeight;
  const sl = scroll.scrollLeft, st = scroll.scrollTop;
  return {sl, st, w, h, axis: $("axis").clientWidth,
    left: (sl - w / 2 - PAD) / scale, right: (sl + 1.5 * w) / scale,  // in positions and
    top: Math.floor((st - TOP - h / 2) / LANE), bottom: Math.ceil((st + 1.5 * h) / LANE)};
}
function redraw(all) {
  const spacer = $("spacer");
  if (all) { for (const parts of drawn.values()) for (const e of parts) e.remove();
    drawn = new Map();
    for (const s of spacer.querySelectorAll(".stripe")) s.remove(); }
  const v = view(), want = new Set();
  for (const op of visibleOps(v.left, v.right, v.top, v.bottom)) {
    want.add(op.id);
    if (!drawn.has(op.id)) { const parts = drawBar(op); spacer.append(...parts);
      drawn.set(op.id, parts); }
  }
  for (const [id, parts] of drawn) if (!want.has(id)) {
    for (const e of parts) e.remove();
    drawn.delete(id);
  }
  drawStripes(v);
  drawAxis(v);
  drawNames(v);
  drawLinks(v);
  $("where").textContent = drawn.size + " of " + ops.length + " bars drawn (those in view)"
    + (D.partitions.length && scale < MIN_MARK ? "; zoom in to see the order found" : "");
  $("where").dataset.drawn = drawn.size;
}
function drawStripes(v) {
  const spacer = $("spacer");
  for (const s of spacer.querySelectorAll(".stripe")) s.remove();
  for (let l = Math.max(0, v.top); l <= Math.min(lanes.length - 1, v.bottom); l++) {
    if (l % 2) continue;
    const s = el("div", "stripe");
    s.style.top = laneY(l) + "px";
    s.style.height = LANE + "px";
    spacer.prepend(s);
  }
}
function barClasses(op) {
  const cls = ["bar", op.status];
  if (op.call === null) cls.push("nostart");
  if (placed.has(op.id)) cls.push("linearized");
  else if (stuck.has(op.id)) cls.push("stuck");
  else if (D.partitions.length && V.status !== "ok" && op.status === "ok") cls.push("pending");
  if (named.has(op.id) && !D.partitions.length) cls.push("named");
  if (inAnomaly.has(op.id)) cls.push("in-anomaly");
  if (selected === op.id) cls.push("sel");
  return cls.join(" ");
}
function drawBar(op) {  // the bar, an open end's tail, where the op took effect
  const bar = el("div", barClasses(op));
  bar.dataset.id = op.id;
  const left = x(start(op)), right = op.ret === null ? openEnd(op) : x(finish(op));
  bar.style.left = left + "px";
  bar.style.width = Math.max(4, right - left) + "px";
  if (right - left >= MIN_TEXT) bar.textContent = op.label;  // zoomed out: layout is costly
  bar.style.top = laneY(op.lane) + 5 + "px";
  const parts = [bar];
  if (op.ret === null) {  // it may take effect any time later: a dotted line to the end
    const tail = el("div", "tail");
    tail.style.left = right + "px";
    tail.style.width = Math.max(0, x(D.end) + PAD - right) + "px";
    tail.style.top = laneY(op.lane) + 15 + "px";
    parts.push(tail);
  }
  const at = placed.get(op.id);
  if (!at || scale < MIN_MARK) return parts;  // zoomed out, the line alone shows the order
  const lp = el("span", "lp" + (at.p === focusPart ? " focus" : ""), at.k + 1);
  lp.dataset.id = op.id;
  lp.style.left = x(at.t) + "px";
  lp.style.top = laneY(op.lane) + 5 + "px";
  return [...parts, lp];
}
function openEnd(op) {  // an open-ended bar: as long as its label, up to its lane's next op
  const closed = lanes[op.lane].closed, next = closed[firstFrom(closed, start(op) + 0.5)];
  const room = next ? x(start(next)) - x(start(op)) : Infinity;
  return x(start(op)) + Math.max(4, Math.min(room, 220, x(D.end) + PAD - x(start(op))));
}
function drawAxis(v) {
  const axis = $("axis");
  axis.replaceChildren();
  const steps = [1, 2, 5];
  let step = 1;
  for (let k = 0; step * scale < 70; k++) step = steps[k % 3] * 10 ** Math.floor(k / 3);
  const from = Math.max(0, Math.floor((v.sl - PAD) / scale / step) * step);
  for (let p = from; x(p) - v.sl < v.axis && p <= D.end; p += step) {
    const tick = el("div", "tick", p);
    tick.style.left = x(p) - v.sl + "px";
    axis.append(tick);
  }
}
function drawNames(v) {
  const names = $("names");
  names.replaceChildren();
  const first = Math.max(0, Math.floor((v.st - TOP) / LANE));
  const last = Math.min(lanes.length - 1, Math.ceil((v.st + v.h) / LANE));
  for (let l = first; l <= last; l++) {
    const name = el("div", "name", D.processes[l]);
    name.title = D.processes[l];
    name.style.top = laneY(l) - v.st + 5 + "px";
    name.style.lineHeight = "20px";
    names.append(name);
  }
}
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
function drawLinks(v) {  // the focused order's line, the stuck ops, the anomaly's edges
  const links = $("links");
  links.replaceChildren(arrowHeads());
  links.setAttribute("width", v.w);
  links.setAttribute("height", v.h);
  links.style.left = v.sl + "px";
  links.style.top = v.st + "px";
  if (focusPart >= 0 && scale >= MIN_MARK) drawOrder(links, D.partitions[focusPart], v);
  if (anomaly >= 0) drawEdges(links, D.anomalies[anomaly], v.sl, v.st);
}
function arrowHeads() {
  const defs = svg("defs", {});
  for (const kind in EDGE_COLORS) {
    const marker = svg("marker", {id: "head-" + kind, viewBox: "0 0 10 10", refX: 9,
      refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"});
    marker.append(svg("path", {d: "M0,0 L10,5 L0,10 z", fill: EDGE_COLORS[kind]}));
    defs.append(marker);
  }
  return defs;
}
function drawOrder(links, part, v) {
  const pts = part.points, ox = v.sl, oy = v.st;
  let lo = 0, hi = pts.length;  // the first point at or after the left edge, less one
  while (lo < hi) { const mid = (lo + hi) >> 1; if (pts[mid] < v.left) lo = mid + 1;
    else hi = mid; }
  const coords = [];
  for (let k = Math.max(0, lo - 1); k < pts.length && (k === 0 || pts[k - 1] <= v.right);
       k++) {
    const op = byId.get(part.order[k]);
    coords.push((x(pts[k]) - ox) + "," + (laneY(op.lane) + 15 - oy));
  }
  if (coords.length > 1)
    links.append(svg("polyline", {points: coords.join(" "), fill: "none",
      stroke: "#2e7d32", "stroke-width": 1.5, "stroke-opacity": 0.7}));
  if (!part.stuck.length) return;
  const last = pts.length ? pts[pts.length - 1] : 0;
  const from = part.order.length ? byId.get(part.order[part.order.length - 1]) : null;
  for (const [id] of part.stuck) {
    const op = byId.get(id);
    const tx = Math.min(Math.max(last, start(op)), finish(op));
    links.append(svg("line", {x1: x(from ? last : start(op)) - ox,
      y1: laneY(from ? from.lane : op.lane) + 15 - oy, x2: x(tx) - ox,
      y2: laneY(op.lane) + 15 - oy, stroke: "#c62828", "stroke-width": 2,
      "stroke-dasharray": "5,3"}));
  }
}
function barCenter(op, ox, oy) {
  return [(x(start(op)) + Math.min(x(finish(op)), x(start(op)) + 400)) / 2 - ox,
    laneY(op.lane) + 15 - oy];
}
function drawEdges(links, a, ox, oy) {
  for (const edge of a.edges) {
    const from = byId.get(edge.from), to = byId.get(edge.to);
    if (!from || !to) continue;
    const [x1, y1] = barCenter(from, ox, oy), [x2, y2] = barCenter(to, ox, oy);
    // bent to the left of its direction, so that a -> b and b -> a are two arcs
    const dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy) || 1;
    const bend = Math.max(28, len / 4);
    const mx = (x1 + x2) / 2 + dy / len * bend, my = (y1 + y2) / 2 - dx / len * bend;
    const color = EDGE_COLORS[edge.type] || "#333";
    const path = svg("path", {d: `M${x1},${y1} Q${mx},${my} ${x2},${y2}`, fill: "none",
      stroke: color, "stroke-width": 2, "marker-end": "url(#head-" + edge.type + ")"});
    path.classList.add("edge");
    path.dataset.kind = edge.type;
    links.append(path);
    const label = svg("text", {x: (x1 + x2) / 4 + mx / 2, y: (y1 + y2) / 4 + my / 2 + 4,
      fill: color, stroke: "#fff", "stroke-width": 3, "paint-order": "stroke",
      "font-size": 12, "font-weight": 600, "text-anchor": "middle"});
    label.textContent = edge.type + " " + edge.key;
    links.append(label);
  }
}
function describe(op) {
  const lines = ["#" + op.id + "  process " + D.processes[op.lane], op.label];
  const when = op.call === null ? "began: unknown (a completion-only op)"
    : "called at t=" + op.callTime + " (event " + op.call + ")";
  lines.push(when + ", " + (op.ret === null ? "never returned"
    : "returned at t=" + op.retTime + " (event " + op.ret + ")"));
  const at = placed.get(op.id);
  if (at) {
    const part = D.partitions[at.p];
    lines.push("took effect " + ordinal(at.k + 1) + " of " + part.order.length
      + (part.status === "ok" ? "" : " linearized before the search " + (part.status
        === "violated" ? "got stuck" : "gave up")) + partitionName(at.p));
  } else if (stuck.has(op.id)) {
    lines.push("CANNOT BE PLACED next" + partitionName(partOf.get(op.id)) + ": "
      + (stuck.get(op.id) || "see the explanation"));
  } else if (op.status === "fail") lines.push("failed: it never happened");
  else if (D.partitions.length && op.status === "info")
    lines.push("unknown outcome: in this order it never took effect");
  else if (D.partitions.length && V.status !== "ok")
    lines.push("not placed: the search stopped before it, or never searched its partition");
  if (named.has(op.id)) lines.push("named by the witness");
  return lines.join("\n");
}
function partitionName(p) {
  return D.partitions.length > 1 ? " in partition " + p : "";
}
function ordinal(n) {
  const s = ["th", "st", "nd", "rd"], v = n % 100;
  return n + (s[(v - 20) % 10] || s[v] || s[0]);
}
function stateText(op) {
  const at = placed.get(op.id);
  if (!at) return null;
  const i = at.state;
  return i >= 0 ? D.states[i] : "(not described: "
    + (D.states.length ? "the page describes states only up to a budget"
      : "the witness describes only the state after the last op") + ")";
}
function showOp(op, box, stateBox) {
  box.textContent = describe(op);
  const state = stateText(op);
  stateBox.replaceChildren(state === null ? el("span", "none",
    D.partitions.length ? "it took no effect in the order found" : "no model") : state);
}
function select(id, scrollTo) {
  const before = selected;
  selected = id;
  for (const i of [before, id]) { const parts = drawn.get(i);
    if (parts) parts[0].className = barClasses(byId.get(i)); }
  const op = byId.get(id);
  if (placed.has(id) && placed.get(id).p !== focusPart) {
    focusPart = placed.get(id).p;
    redraw(true);
  }
  showOp(op, $("op-text"), $("op-state"));
  if (scrollTo) scrollToOp(op);
}
function scrollToOp(op) {
  const scroll = $("scroll");
  const left = x(start(op)), right = op.ret === null ? left + 200 : x(finish(op));
  if (left < scroll.scrollLeft || right > scroll.scrollLeft + scroll.clientWidth)
    scroll.scrollLeft = left - scroll.clientWidth / 3;
  const top = laneY(op.lane);
  if (top < scroll.scrollTop || top > scroll.scrollTop + scroll.clientHeight - LANE)
    scroll.scrollTop = top - scroll.clientHeight / 2;
  redraw(false);
}
function stepOrder(delta) {
  if (focusPart < 0) return;
  const order = D.partitions[focusPart].order;
  if (!order.length) return;
  const at = placed.get(selected);
  const k = at && at.p === focusPart ? at.k + delta : (delta > 0 ? 0 : order.length - 1);
  select(order[Math.max(0, Math.min(order.length - 1, k))], true);
}
function problemOp() {
  if (violatedPart >= 0) {
    const part = D.partitions[violatedPart];
    if (part.stuck.length) return part.stuck[0][0];
  }
  if (anomaly >= 0 && D.anomalies[anomaly].txns.length) return D.anomalies[anomaly].txns[0];
  return D.named.length ? D.named[0] : null;
}
function chooseAnomaly(n) {
  anomaly = n;
  inAnomaly = new Set(D.anomalies[n].txns);
  for (const b of document.querySelectorAll(".anomaly"))
    b.classList.toggle("sel", Number(b.dataset.n) === n);
  redraw(true);
  const first = byId.get(D.anomalies[n].txns[0]);
  if (first) select(first.id, true);
}
function listAnomalies() {
  const box = $("anomalies");
  if (!D.anomalies.length) { $("anomalies-head").style.display = "none"; return; }
  D.anomalies.forEach((a, n) => {
    const b = el("button", "anomaly", a.type + ": " + a.txns.map(t => "T" + t).join(
      a.edges.length ? " \u2192 " : ", ") + (a.edges.length ? " \u2192 T" + a.txns[0] : ""));
    b.dataset.n = n;
    b.append(el("small", "", a.why));
    b.addEventListener("click", () => chooseAnomaly(n));
    box.append(b);
  });
}
function legend() {
  const box = $("legend");
  const items = D.partitions.length ? [["linearized", "took effect (numbered in order)"],
    ["stuck", "cannot be placed"], ["info", "unknown outcome (open-ended)"],
    ["fail", "failed"]] : D.anomalies.length ? [["in-anomaly", "in the anomaly"],
    ["info", "unknown outcome"], ["fail", "failed"]]
    : [["named", "named by the witness"], ["info", "unknown outcome"], ["fail", "failed"]];
  for (const [cls, words] of items) {
    const item = el("span");
    item.append(el("span", "bar " + cls), words);
    box.append(item);
  }
  if (D.anomalies.length) for (const kind in EDGE_COLORS) {
    const item = el("span", "", "\u2192 " + kind);
    item.style.color = EDGE_COLORS[kind];
    box.append(item);
  }
}
function tipAt(e, op) {
  const tip = $("tip");
  const state = stateText(op);
  tip.textContent = describe(op) + (state === null ? "" : "\nstate after: " + state);
  tip.style.display = "block";
  const w = tip.offsetWidth, h = tip.offsetHeight;
  tip.style.left = Math.min(e.clientX + 14, innerWidth - w - 4) + "px";
  tip.style.top = (e.clientY + 16 + h > innerHeight ? e.clientY - h - 8 : e.clientY + 16)
    + "px";
}
$("title").textContent = D.title + " \u2014 " + V.invariant + " ";
$("title").append(el("span", "verdict-" + V.status, V.status));
$("subtitle").textContent = ops.length + " operations by " + D.processes.length
  + (D.processes.length === 1 ? " process" : " processes")
  + "; the x axis is the history's order (event positions: real time for the checkers), "
  + "times are in each operation's details."
  + (D.partitions.length ? " " + D.partitions.length + " partition(s) searched." : "");
$("explanation").querySelector("pre").textContent = V.explanation;
if (V.status !== "ok") $("explanation").open = true;
if (!D.partitions.length) { $("state-head").style.display = "none";
  $("op-state").style.display = "none"; $("prev").style.display = "none";
  $("next").style.display = "none"; }
if (problemOp() === null) $("to-problem").style.display = "none";
else if (D.anomalies.length) $("to-problem").textContent = "go to the anomaly";
listAnomalies();
legend();
const spacer = $("spacer");
spacer.addEventListener("mouseover", e => {
  const bar = e.target.closest(".bar");
  if (bar) tipAt(e, byId.get(Number(bar.dataset.id)));
});
spacer.addEventListener("mousemove", e => {
  const bar = e.target.closest(".bar");
  if (bar) tipAt(e, byId.get(Number(bar.dataset.id))); else $("tip").style.display = "none";
});
spacer.addEventListener("mouseleave", () => { $("tip").style.display = "none"; });
spacer.addEventListener("click", e => {
  const bar = e.target.closest(".bar");
  if (bar) select(Number(bar.dataset.id), false);
});
let pending = false;
$("scroll").addEventListener("scroll", () => {
  $("tip").style.display = "none";
  if (!pending) { pending = true;
    requestAnimationFrame(() => { pending = false; redraw(false); }); }
});
$("zoom-in").addEventListener("click", () => setScale(scale * 2));
$("zoom-out").addEventListener("click", () => setScale(scale / 2));
$("fit").addEventListener("click", () => setScale(fitScale()));
$("prev").addEventListener("click", () => stepOrder(-1));
$("next").addEventListener("click", () => stepOrder(1));
$("to-problem").addEventListener("click", () => {
  const id = problemOp();
  if (id !== null) select(id, true);
});
document.addEventListener("keydown", e => {
  const moves = {ArrowLeft: () => stepOrder(-1), ArrowRight: () => stepOrder(1),
    "+": () => setScale(scale * 2), "=": () => setScale(scale * 2),
    "-": () => setScale(scale / 2)};
  if (e.key in moves) { e.preventDefault(); moves[e.key](); }
});
window.addEventListener("resize", () => setScale(scale));
setScale(Math.max(fitScale(), 32), 0);  // the whole history if its labels can show
if (anomaly >= 0) chooseAnomaly(0);
else if (problemOp() !== null) select(problemOp(), true);
$("scroll").dataset.ready = "1";
</script>
</body></html>
"""
